"""One typed configuration: defaults <- YAML file <- command-line flags <- CONFIG SET.

The YAML layout is the seed design's `hypercache.yaml` (node/cluster/storage/cache,
plus server/admin/logging/slowlog sections of our own). Field names are Python's; the
Redis names that CONFIG GET/SET and the flags use are mapped in `hypercache.configtable`,
which also holds the parsers every source shares. This module loads and writes the file.

Loading is strict: an unknown key, a value of the wrong kind or out of range, a missing
or unreadable file and invalid YAML all raise `ConfigError`, whose text is one line that
names the file, the key (as a dotted path: `cache.max_memory`) and the problem.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field, fields
from typing import Any

import yaml

MB = 1024 * 1024


@dataclass
class Config:
    """Every setting of a HyperCache node, with its default."""

    # node
    node_id: str = ""
    bind: str = "127.0.0.1"  # a space-separated list, as redis-server's `bind`
    port: int = 7000
    dir: str = "./data"
    # server and clients
    requirepass: str | None = None
    maxclients: int = 10000
    timeout: int = 0  # idle seconds before a client is closed; 0 = never
    proto_max_bulk_len: int = 512 * MB
    client_query_buffer_limit: int = 1024 * MB
    databases: int = 1
    hz: int = 10
    # cache
    maxmemory: int = 0  # bytes; 0 = no limit
    maxmemory_policy: str = "noeviction"
    maxmemory_samples: int = 8  # keys an LRU eviction compares (Redis: 5, with an eviction pool besides)
    cuckoo_filter_fpp: float = 0.01
    # persistence and storage
    appendonly: bool = True
    appendfsync: str = "everysec"  # always | everysec | no | interval
    wal_sync_interval_ms: int = 10
    memtable_size: int = 64 * MB
    compaction_threads: int = 2  # a flush never waits behind a long compaction
    save: str = ""
    # cluster
    cluster_enabled: bool = False
    cluster_seeds: list[str] = field(default_factory=list)
    replication_factor: int = 1
    consistency_level: str = "eventual"
    # observability
    loglevel: str = "notice"
    logformat: str = "text"  # text | json
    logfile: str = ""
    slowlog_log_slower_than: int = 10000  # microseconds
    slowlog_max_len: int = 128
    latency_monitor_threshold: int = 0  # milliseconds; 0 = the latency monitor is off
    latency_tracking: bool = True  # per-command histograms (INFO latencystats)
    latency_tracking_info_percentiles: str = "50 99 99.9"
    admin_bind_addr: str = "127.0.0.1:7080"
    # where the config came from (CONFIG REWRITE writes back there)
    config_file: str | None = None

    @property
    def admin_host(self) -> str:
        return split_host_port(self.admin_bind_addr)[0]

    @property
    def admin_port(self) -> int:
        """The admin HTTP port; 0 means the admin endpoint is off."""
        return split_host_port(self.admin_bind_addr)[1]


class ConfigError(Exception):
    """A configuration problem; `str(err)` is one line naming the key or file."""


# ---------------------------------------------------------------------------------------
# Value syntax shared by the YAML file, the flags and CONFIG SET


class ValueProblem(ValueError):
    """A value refused. `str()` is Redis's text for CONFIG SET ('argument must be ...');
    `hint` adds an example for people writing a file or a flag."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    def explain(self) -> str:
        return f"{self} {self.hint}".strip()


# Redis's memtoull units: k/m/g are powers of 1000, kb/mb/gb powers of 1024.
_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1024,
    "m": 1000**2, "mb": 1024**2,
    "g": 1000**3, "gb": 1024**3,
}
SIZE_HINT = "(bytes, or a number with a unit: 100k, 100kb, 64mb, 8gb)"
MAX_UINT64 = 2**64 - 1


def parse_size(text: str) -> int:
    """A memory amount as Redis reads one: '1048576', '100k', '64mb', '8GB' (case-insensitive)."""
    digits = len(text) - len(text.lstrip("0123456789"))
    number, unit = text[:digits], text[digits:].lower()
    if not number or not number.isascii() or unit not in _SIZE_UNITS:
        raise ValueProblem("argument must be a memory value", SIZE_HINT)
    value = int(number) * _SIZE_UNITS[unit]
    if value > MAX_UINT64:
        raise ValueProblem("argument must be a memory value", SIZE_HINT)
    return value


def format_size(value: int) -> str:
    """A size as the YAML file shows it: '64MB', '8GB', or plain bytes."""
    for unit, mul in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if value and value % mul == 0:
            return f"{value // mul}{unit}"
    return str(value)


_DURATION_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
DURATION_HINT = "(milliseconds, or a number with a unit: 10ms, 1s)"


def parse_duration_ms(text: str) -> int:
    """A duration in whole milliseconds: '10ms', '1s', '2m', or a plain number of ms."""
    digits = len(text) - len(text.lstrip("0123456789"))
    number, unit = text[:digits], text[digits:].lower()
    if not number or not number.isascii() or (unit and unit not in _DURATION_UNITS):
        raise ValueProblem("argument must be a duration", DURATION_HINT)
    return int(number) * _DURATION_UNITS.get(unit, 1)


def format_duration_ms(value: int) -> str:
    if value and value % 1000 == 0:
        return f"{value // 1000}s"
    return f"{value}ms"


def split_host_port(text: str) -> tuple[str, int]:
    """'0.0.0.0:7000' / '[::1]:7000' / 'node-1:7000' -> (host, port)."""
    problem = ValueProblem("argument must be host:port", "(e.g. 0.0.0.0:7000 or [::1]:7000)")
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
        if ":" in host:  # a bare IPv6 address needs brackets
            raise problem
    if not sep or not host or not port.isdigit() or not port.isascii():
        raise problem
    if int(port) > 65535:
        raise ValueProblem("port must be between 0 and 65535 inclusive")
    return host, int(port)


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ---------------------------------------------------------------------------------------
# Loading


class _StrictLoader(yaml.SafeLoader):
    """safe_load, except that a key given twice in one mapping is an error."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: let the base class report it
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: str) -> dict[str, Any]:
    """The file's top-level mapping, or ConfigError (missing, unreadable, not YAML)."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' not found") from None
    except IsADirectoryError:
        raise ConfigError(f"config file '{path}' is a directory") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file '{path}' is not UTF-8 text") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file '{path}': {err.strerror}") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = err.problem or err.context or "syntax error"
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {_one_line(str(err))}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections (node, cache, ...)")
    return data


def load_config(path: str, base: Config | None = None) -> Config:
    """Read the YAML file at `path` over `base` (defaults if None) and return the result."""
    config = Config() if base is None else _copy(base)
    apply_yaml(config, read_yaml(path), source=path)
    config.config_file = os.path.abspath(path)
    return config


def apply_yaml(config: Config, data: dict[str, Any], source: str = "config") -> None:
    """Set the fields named in `data` (the file's sections) on `config`, validating each."""
    from hypercache.configtable import YAML_KEYS, YAML_SECTIONS

    for section, body in data.items():
        if not isinstance(section, str) or section not in YAML_SECTIONS:
            raise ConfigError(f"{source}: unknown section '{section}'{_suggest(section, YAML_SECTIONS)}")
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ConfigError(f"{source}: section '{section}' must be a mapping of settings")
    explicit: set[str] = set()
    for section, body in data.items():
        for key, value in (body or {}).items():
            path = f"{section}.{key}"
            entry = YAML_KEYS.get(path)
            if entry is None:
                raise ConfigError(f"{source}: unknown key '{path}'{_suggest(path, YAML_KEYS)}")
            try:
                entry.load(config, value)
            except ValueProblem as err:
                raise ConfigError(f"{source}: {path}: bad value {_show(value)}: {err.explain()}") from None
            explicit.add(path)
    if "node.bind_addr" in explicit and ({"node.bind", "node.port"} & explicit):
        raise ConfigError(f"{source}: node.bind_addr and node.bind/node.port cannot both be given")
    # The seed's storage.wal_sync_interval means "sync the WAL every interval" unless the
    # file also picks a Redis appendfsync policy.
    if "storage.wal_sync_interval" in explicit and "server.appendfsync" not in explicit:
        config.appendfsync = "interval"


def _copy(config: Config) -> Config:
    values = {f.name: getattr(config, f.name) for f in fields(config)}
    values["cluster_seeds"] = list(config.cluster_seeds)
    return Config(**values)


def _suggest(word: object, choices) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _show(value: object) -> str:
    """A YAML value as the file spelled it, roughly: 'text', 12, true, [a, b], {...}."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, list):
        text = "[" + ", ".join(str(item) for item in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    text = _one_line(text)
    return text if len(text) <= 80 else text[:77] + "..."


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------
# Writing (CONFIG REWRITE)


def render_yaml(config: Config, keep: set[str] | None = None) -> str:
    """The YAML text for `config`: the keys in `keep` (dotted paths, e.g. those the old
    file had) and every key whose value differs from the default."""
    from hypercache.configtable import YAML_KEYS

    keep = set(keep or ())
    defaults = Config()
    chosen: dict[str, Any] = {}
    for path, entry in YAML_KEYS.items():
        if entry.dump is None:
            continue
        value = entry.dump(config)
        if path in keep or value != entry.dump(defaults):
            chosen[path] = value
    # bind/port: the seed's single bind_addr when it can say it, else the two keys.
    multi = len(config.bind.split()) != 1
    for path in ("node.bind_addr", "node.bind", "node.port"):
        chosen.pop(path, None)
    if multi or {"node.bind", "node.port"} & keep:
        chosen["node.bind"] = config.bind
        chosen["node.port"] = config.port
    elif "node.bind_addr" in keep or (config.bind, config.port) != (defaults.bind, defaults.port):
        chosen["node.bind_addr"] = join_host_port(config.bind, config.port)
    # Reading storage.wal_sync_interval alone selects appendfsync "interval": say otherwise.
    if "storage.wal_sync_interval" in chosen and config.appendfsync != "interval":
        chosen["server.appendfsync"] = config.appendfsync
    sections: dict[str, dict[str, Any]] = {}
    for path in YAML_KEYS:  # the table's order: node, cluster, storage, cache, ...
        if path in chosen:
            section, key = path.split(".", 1)
            sections.setdefault(section, {})[key] = chosen[path]
    header = "# hypercache.yaml — written by CONFIG REWRITE\n"
    if not sections:
        return header
    blocks = [
        yaml.dump({name: body}, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
        for name, body in sections.items()
    ]
    return header + "\n".join(blocks)


class _Dumper(yaml.SafeDumper):
    """safe_dump, with lists in flow style as the seed writes them: ["a:1", "b:2"]."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_Dumper.add_representer(list, _represent_list)


def rewrite_config(config: Config, path: str | None = None) -> None:
    """Write `config` to `path` (default: the file it came from), atomically."""
    path = path or config.config_file
    if not path:
        raise ConfigError("The server is running without a config file")
    keep: set[str] = set()
    try:
        old = read_yaml(path)
    except ConfigError:
        old = {}
    for section, body in old.items():
        if isinstance(body, dict):
            keep.update(f"{section}.{key}" for key in body)
    text = render_yaml(config, keep)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ConfigError(f"Rewriting config file: {err.strerror}") from None
