"""Secrets hidden from the slow log and MONITOR, as Redis's redactClientCommandArgument:
AUTH's arguments, HELLO's AUTH username and password, CONFIG SET's sensitive values."""

from __future__ import annotations

from hypercache.configtable import lookup

REDACTED = b"(redacted)"


def redacted(name: str, args: list[bytes]) -> list[bytes]:
    """`args` as the slow log and MONITOR may show them (`name` is the spec's name)."""
    if name == "auth":
        return [args[0], *(REDACTED for _ in args[1:])]
    if name == "hello":
        return _redact_hello(args)
    if name == "config|set":
        return _redact_config_set(args)
    return args


def _redact_hello(args: list[bytes]) -> list[bytes]:
    shown = list(args)
    j = 2
    while j < len(args):
        word = args[j].upper()
        more = len(args) - 1 - j
        if word == b"AUTH" and more >= 2:
            shown[j + 1] = shown[j + 2] = REDACTED
            j += 3
        elif word == b"SETNAME" and more:
            j += 2
        else:
            j += 1
    return shown


def _redact_config_set(args: list[bytes]) -> list[bytes]:
    shown = list(args)
    for i in range(2, len(args) - 1, 2):
        param = lookup(args[i].decode("utf-8", "replace"))
        if param is not None and param.sensitive:
            shown[i + 1] = REDACTED
    return shown
