"""INFO's text as a dict, for /stats and /metrics (the same figures INFO shows)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from hypercache.commands.server import info_text

if TYPE_CHECKING:
    from hypercache.commands.context import ServerState

Value = Union[int, float, str, dict[str, Union[int, float, str]]]


def _number(text: str) -> int | float | str:
    """'12' -> 12, '0.25' -> 0.25, anything else stays text ('1.16M', 'ok')."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _value(text: str) -> Value:
    """A field's value; 'a=1,b=2' lists (cmdstat_*, db0, latency percentiles) as dicts."""
    if "=" in text and "," in text or text.count("=") == 1:
        pairs = [item.partition("=") for item in text.split(",")]
        if all(sep and key for key, sep, _ in pairs):
            return {key: _number(value) for key, _sep, value in pairs}
    return _number(text)


def parse_info(text: str) -> dict[str, dict[str, Value]]:
    """{'server': {'redis_version': '7.0.0', ...}, 'commandstats': {'cmdstat_get': {...}}}."""
    sections: dict[str, dict[str, Value]] = {}
    current: dict[str, Value] = {}
    for line in text.splitlines():
        if line.startswith("# "):
            current = sections.setdefault(line[2:].strip().lower(), {})
        elif ":" in line:
            key, _sep, value = line.partition(":")
            current[key] = _value(value)
    return sections


def info_dict(state: "ServerState", *sections: str) -> dict[str, dict[str, Value]]:
    """INFO <sections> (default: everything, our own sections included) as a dict."""
    names = [name.encode() for name in sections] or [b"everything"]
    return parse_info(info_text(state, names))
