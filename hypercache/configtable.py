"""The table of parameters under Redis's names: one row per setting, read by the
command-line flags (`--maxmemory 1gb`), CONFIG GET/SET and the YAML file's keys.

A row says which `Config` field it sets, how a value is parsed and shown (sizes are
shown as plain bytes, as Redis does), whether CONFIG SET may change it while the
server runs, and what to do once it has changed (`apply`). Parse errors carry Redis's
texts ("argument must be a memory value", "argument must be between 0 and 65535
inclusive", ...), which CONFIG SET wraps as Redis does.

`YAML_KEYS` maps the file's dotted keys (`cache.max_memory`) to loaders and dumpers,
mostly built from the same rows, so a value means the same thing wherever it is given.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from typing import Any, Callable

from hypercache.config import (
    DURATION_HINT,
    MAX_UINT64,
    Config,
    ValueProblem,
    format_duration_ms,
    format_size,
    join_host_port,
    parse_duration_ms,
    parse_size,
    split_host_port,
)
from hypercache.numbers import INT64_MAX, parse_float, parse_int

INT_MAX = 2**31 - 1
UINT_MAX = 2**32 - 1
MIN_HZ, MAX_HZ = 1, 500  # Redis's CONFIG_MIN_HZ / CONFIG_MAX_HZ

# Redis's log levels, as Python logging levels ("verbose" sits between debug and info).
VERBOSE = 15
LOG_LEVELS = {"debug": logging.DEBUG, "verbose": VERBOSE, "notice": logging.INFO, "warning": logging.WARNING}
logging.addLevelName(VERBOSE, "VERBOSE")

EVICTION_POLICIES = (
    "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
    "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction",
)


# ---------------------------------------------------------------------------------------
# Kinds of value: a parser (text -> value, or ValueProblem) and a formatter (value -> text)


@dataclass(frozen=True)
class Kind:
    parse: Callable[[str], Any]
    format: Callable[[Any], str]
    yaml_dump: Callable[[Any], Any] = lambda value: value  # the value as the file writes it


def integer(lo: int, hi: int, clamp: tuple[int, int] | None = None) -> Kind:
    def parse(text: str) -> int:
        value = parse_int(text.encode())
        if value is None:
            raise ValueProblem("argument couldn't be parsed into an integer")
        if not lo <= value <= hi:
            raise ValueProblem(f"argument must be between {lo} and {hi} inclusive")
        if clamp is not None:
            value = min(max(value, clamp[0]), clamp[1])
        return value

    return Kind(parse, str)


def memory(lo: int, hi: int) -> Kind:
    def parse(text: str) -> int:
        value = parse_size(text)
        if not lo <= value <= hi:
            raise ValueProblem(f"argument must be between {lo} and {hi} inclusive")
        return value

    return Kind(parse, str, format_size)


def duration_ms(lo: int, hi: int) -> Kind:
    def parse(text: str) -> int:
        value = parse_duration_ms(text)
        if not lo <= value <= hi:
            raise ValueProblem(
                f"argument must be between {lo} and {hi} milliseconds inclusive", DURATION_HINT
            )
        return value

    return Kind(parse, str, format_duration_ms)


def enum(*values: str, aliases: dict[str, str] | None = None) -> Kind:
    """One of `values`, in any case. `aliases` are extra spellings (the seed's "lru")."""
    accepted = {v: v for v in values} | dict(aliases or {})

    def parse(text: str) -> str:
        value = accepted.get(text.lower())
        if value is None:
            raise ValueProblem(f"argument(s) must be one of the following: {', '.join(values)}")
        return value

    return Kind(parse, str)


def _parse_bool(text: str) -> bool:
    word = text.lower()
    if word == "yes":
        return True
    if word == "no":
        return False
    raise ValueProblem("argument must be 'yes' or 'no'")


BOOL = Kind(_parse_bool, lambda value: "yes" if value else "no")


def decimal(lo: float, hi: float) -> Kind:
    def parse(text: str) -> float:
        value = parse_float(text.encode())
        if value is None:
            raise ValueProblem("argument couldn't be parsed into a number")
        if not lo <= value <= hi:
            raise ValueProblem(f"argument must be between {lo:g} and {hi:g} inclusive")
        return value

    return Kind(parse, lambda value: f"{value:g}")


def text(validate: Callable[[str], str] | None = None) -> Kind:
    return Kind(validate or (lambda value: value), str)


_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")


def valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(host)) and len(host) <= 253


_REDIS_BIND = {"*": "0.0.0.0", "::*": "::"}


def _parse_bind(value: str) -> str:
    """Addresses to listen on. Redis's spellings are read too: '*' (every IPv4 address),
    '::*' (every IPv6 address), and a leading '-' (the address may be missing)."""
    hosts = [_REDIS_BIND.get(host.lstrip("-"), host.lstrip("-")) for host in value.split()]
    if not hosts:
        raise ValueProblem("argument must be one or more addresses", "(e.g. 127.0.0.1 or '0.0.0.0 ::')")
    for host in hosts:
        if not valid_host(host):
            raise ValueProblem(
                f"'{host}' is not an IP address or host name", "(use 0.0.0.0 or :: for all addresses)"
            )
    return " ".join(hosts)


def _parse_save(value: str) -> str:
    """Redis's `save`: "" (no snapshots) or pairs "<seconds> <changes>"."""
    words = value.split()
    if len(words) % 2:
        raise ValueProblem("Invalid save parameters")
    numbers = []
    for i, word in enumerate(words):
        number = int(word) if re.fullmatch(r"-?[0-9]+", word) else None
        if number is None or (i % 2 == 0 and number < 1) or (i % 2 == 1 and number < 0):
            raise ValueProblem("Invalid save parameters")
        numbers.append(str(number))
    return " ".join(numbers)


def _parse_seeds(value: str) -> list[str]:
    seeds = []
    for word in value.replace(",", " ").split():
        try:
            host, port = split_host_port(word)
        except ValueProblem:
            raise ValueProblem(f"'{word}' is not host:port", "(e.g. node-2:7000)") from None
        if not valid_host(host):
            raise ValueProblem(f"'{host}' is not an IP address or host name")
        seeds.append(join_host_port(host, port))
    return seeds


def _parse_node_id(value: str) -> str:
    if value and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", value):
        raise ValueProblem("argument must be 1 to 64 letters, digits, '.', '_' or '-'")
    return value


def _parse_percentiles(value: str) -> str:
    """Redis's latency-tracking-info-percentiles: numbers from 0 to 100, as given."""
    words = value.split()
    for word in words:
        number = parse_float(word.encode())
        if number is None or not 0.0 <= number <= 100.0:
            raise ValueProblem("Invalid latency-tracking-info-percentiles parameters")
    return " ".join(words)


def _parse_host(value: str) -> str:
    if not valid_host(value):
        raise ValueProblem(f"'{value}' is not an IP address or host name")
    return value


SEEDS = Kind(_parse_seeds, " ".join, list)


# ---------------------------------------------------------------------------------------
# The parameters


def _set_loglevel(config: Config) -> None:
    logging.getLogger().setLevel(LOG_LEVELS[config.loglevel])


def _admin_bind_get(config: Config) -> str:
    return config.admin_host


def _admin_bind_set(config: Config, host: str) -> None:
    config.admin_bind_addr = join_host_port(host, config.admin_port)


def _admin_port_get(config: Config) -> int:
    return config.admin_port


def _admin_port_set(config: Config, port: int) -> None:
    config.admin_bind_addr = join_host_port(config.admin_host, port)


@dataclass(frozen=True)
class Param:
    """One setting under its Redis name."""

    name: str
    field: str  # the Config attribute (informative for derived rows)
    kind: Kind
    help: str
    mutable: bool = True  # CONFIG SET may change it while the server runs
    protected: bool = False  # refused by CONFIG SET as Redis's protected configs
    sensitive: bool = False
    lenient: Kind | None = None  # the parser for files and flags, if it accepts more
    apply: Callable[[Config], None] | None = None  # run after a CONFIG SET changed it
    getter: Callable[[Config], Any] | None = None
    setter: Callable[[Config, Any], None] | None = None
    metavar: str = "VALUE"

    def get(self, config: Config) -> Any:
        return self.getter(config) if self.getter else getattr(config, self.field)

    def set(self, config: Config, value: Any) -> None:
        if self.setter:
            self.setter(config, value)
        else:
            setattr(config, self.field, value)

    def show(self, config: Config) -> str:
        """The value as CONFIG GET answers it."""
        value = self.get(config)
        return "" if value is None else self.kind.format(value)

    def parse(self, value: str, lenient: bool = False) -> Any:
        """`value` parsed, or ValueProblem. `lenient` for files and flags (aliases)."""
        kind = self.lenient if lenient and self.lenient else self.kind
        return kind.parse(value)


_P = Param
PARAMS_LIST: list[Param] = [
    # network
    _P("port", "port", integer(0, 65535), "TCP port to listen on (0: any free port)", mutable=False, metavar="PORT"),
    _P("bind", "bind", text(_parse_bind), "addresses to listen on, space-separated", mutable=False, metavar="ADDR"),
    _P("dir", "dir", text(), "data directory (created if missing)", protected=True, metavar="DIR"),
    _P("requirepass", "requirepass", Kind(lambda v: v or None, lambda v: v or ""),
       "password of the default user (empty: none)", sensitive=True, metavar="PASSWORD"),
    _P("maxclients", "maxclients", integer(1, UINT_MAX), "maximum number of connected clients"),
    _P("timeout", "timeout", integer(0, INT_MAX), "close clients idle this many seconds (0: never)", metavar="SECONDS"),
    _P("proto-max-bulk-len", "proto_max_bulk_len", memory(1024 * 1024, INT64_MAX), "largest bulk string a client may send", metavar="SIZE"),
    _P("client-query-buffer-limit", "client_query_buffer_limit", memory(1024 * 1024, INT64_MAX), "largest query buffer of one client", metavar="SIZE"),
    _P("hz", "hz", integer(0, INT_MAX, clamp=(MIN_HZ, MAX_HZ)), "background task frequency (1-500)"),
    _P("databases", "databases", integer(1, INT_MAX), "number of databases", mutable=False),
    # cache
    _P("maxmemory", "maxmemory", memory(0, MAX_UINT64), "memory for values held in RAM (0: no limit)", metavar="SIZE"),
    _P("maxmemory-policy", "maxmemory_policy", enum(*EVICTION_POLICIES),
       "what to drop past maxmemory (allkeys-lru, ...; lru, lfu)", metavar="POLICY",
       lenient=enum(*EVICTION_POLICIES, aliases={"lru": "allkeys-lru", "lfu": "allkeys-lfu"})),
    _P("maxmemory-samples", "maxmemory_samples", integer(1, INT_MAX),
       "keys an LRU eviction compares, at most 64 taken: more is closer to exact LRU, and slower (Redis's default: 5)",
       metavar="N"),
    _P("cuckoo-filter-fpp", "cuckoo_filter_fpp", decimal(0.001, 0.05), "keyspace cuckoo filter false-positive rate", mutable=False, metavar="RATE"),
    # persistence
    _P("appendonly", "appendonly", BOOL, "write-ahead log on (yes) or pure cache (no)", metavar="yes|no"),
    _P("appendfsync", "appendfsync", enum("everysec", "always", "no", "interval"),
       "WAL fsync policy (interval: every wal-sync-interval)", metavar="always|everysec|no|interval"),
    _P("wal-sync-interval", "wal_sync_interval_ms", duration_ms(1, 3_600_000), "WAL fsync interval (10ms, 1s)", metavar="DURATION"),
    _P("memtable-size", "memtable_size", memory(1024 * 1024, 16 * 1024**3), "memtable size before a flush to disk", metavar="SIZE"),
    _P("compaction-threads", "compaction_threads", integer(1, 64), "background compaction workers", mutable=False),
    _P("save", "save", text(_parse_save), "Redis's snapshot points (accepted, shown; the WAL persists)", metavar="'SECONDS CHANGES ...'"),
    # cluster
    _P("cluster-enabled", "cluster_enabled", BOOL, "serve as a Redis Cluster node", mutable=False, metavar="yes|no"),
    _P("cluster-node-id", "node_id", text(_parse_node_id), "this node's name", mutable=False, metavar="ID"),
    _P("cluster-seeds", "cluster_seeds", SEEDS, "host:port of nodes to join", mutable=False, metavar="'HOST:PORT ...'"),
    _P("cluster-replication-factor", "replication_factor", integer(1, 16), "copies of each slot", mutable=False),
    _P("cluster-consistency-level", "consistency_level", enum("eventual", "quorum", "strong"),
       "replica acknowledgement before a write is answered", mutable=False, metavar="eventual|quorum|strong"),
    # observability
    _P("loglevel", "loglevel", enum("debug", "verbose", "notice", "warning"), "log verbosity", apply=_set_loglevel, metavar="debug|verbose|notice|warning"),
    _P("logformat", "logformat", enum("text", "json"), "log lines as Redis's text or JSON", mutable=False, metavar="text|json"),
    _P("logfile", "logfile", text(), "log file (empty: standard output)", mutable=False, metavar="FILE"),
    _P("slowlog-log-slower-than", "slowlog_log_slower_than", integer(-1, INT64_MAX), "slow log threshold in microseconds (-1: off)", metavar="USEC"),
    _P("slowlog-max-len", "slowlog_max_len", integer(0, INT64_MAX), "slow log length"),
    _P("latency-monitor-threshold", "latency_monitor_threshold", integer(0, INT64_MAX),
       "latency monitor threshold in milliseconds (0: off)", metavar="MS"),
    _P("latency-tracking", "latency_tracking", BOOL, "per-command latency percentiles in INFO latencystats", metavar="yes|no"),
    _P("latency-tracking-info-percentiles", "latency_tracking_info_percentiles", text(_parse_percentiles),
       "percentiles INFO latencystats shows", metavar="'50 99 99.9'"),
    _P("admin-bind", "admin_bind_addr", text(_parse_host), "address of the admin HTTP endpoint", mutable=False,
       getter=_admin_bind_get, setter=_admin_bind_set, metavar="ADDR"),
    _P("admin-port", "admin_bind_addr", integer(0, 65535), "port of the admin HTTP endpoint (0: off)", mutable=False,
       getter=_admin_port_get, setter=_admin_port_set, metavar="PORT"),
]
PARAMS: dict[str, Param] = {p.name: p for p in PARAMS_LIST}


def lookup(name: str) -> Param | None:
    """The parameter called `name` (any case), or None."""
    return PARAMS.get(name.lower())


# ---------------------------------------------------------------------------------------
# The YAML file's keys


@dataclass(frozen=True)
class YamlKey:
    path: str
    load: Callable[[Config, Any], None]  # raises ValueProblem
    dump: Callable[[Config], Any] | None  # the value as written back; None: never written
    params: tuple[str, ...] = ()  # the parameters (flags, CONFIG names) it sets


def _scalar_text(value: Any, lists: bool = False) -> str:
    """A YAML value as the text a flag would give (bools as yes/no)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return ""
    if isinstance(value, (int, float, str)):
        return str(value)
    if lists and isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        raise ValueProblem("expected a single value, not a mapping")
    raise ValueProblem("expected a single value, not a list")


def _from_param(path: str, name: str, lists: bool = False) -> YamlKey:
    param = PARAMS[name]

    def load(config: Config, value: Any) -> None:
        param.set(config, param.parse(_scalar_text(value, lists), lenient=True))

    def dump(config: Config) -> Any:
        value = param.get(config)
        return None if value is None else param.kind.yaml_dump(value)

    return YamlKey(path, load, dump, (name,))


def _load_bind_addr(config: Config, value: Any) -> None:
    host, port = split_host_port(_scalar_text(value))
    config.bind, config.port = _parse_bind(host), port


def _load_admin_addr(config: Config, value: Any) -> None:
    host, port = split_host_port(_scalar_text(value))
    config.admin_bind_addr = join_host_port(_parse_host(host), port)


_YAML = [
    _from_param("node.id", "cluster-node-id"),
    YamlKey("node.bind_addr", _load_bind_addr, None, ("bind", "port")),  # written by render_yaml itself
    _from_param("node.bind", "bind", lists=True),
    _from_param("node.port", "port"),
    _from_param("node.data_dir", "dir"),
    _from_param("cluster.enabled", "cluster-enabled"),
    _from_param("cluster.seeds", "cluster-seeds", lists=True),
    _from_param("cluster.replication_factor", "cluster-replication-factor"),
    _from_param("cluster.consistency_level", "cluster-consistency-level"),
    _from_param("storage.wal_sync_interval", "wal-sync-interval"),
    _from_param("storage.memtable_size", "memtable-size"),
    _from_param("storage.compaction_threads", "compaction-threads"),
    _from_param("cache.max_memory", "maxmemory"),
    _from_param("cache.eviction_policy", "maxmemory-policy"),
    _from_param("cache.eviction_samples", "maxmemory-samples"),
    _from_param("cache.cuckoo_filter_fpp", "cuckoo-filter-fpp"),
    _from_param("server.requirepass", "requirepass"),
    _from_param("server.maxclients", "maxclients"),
    _from_param("server.timeout", "timeout"),
    _from_param("server.appendonly", "appendonly"),
    _from_param("server.appendfsync", "appendfsync"),
    _from_param("server.save", "save"),
    _from_param("server.proto_max_bulk_len", "proto-max-bulk-len"),
    _from_param("server.client_query_buffer_limit", "client-query-buffer-limit"),
    _from_param("server.hz", "hz"),
    _from_param("server.databases", "databases"),
    YamlKey("admin.bind_addr", _load_admin_addr, lambda config: config.admin_bind_addr, ("admin-bind", "admin-port")),
    _from_param("logging.level", "loglevel"),
    _from_param("logging.format", "logformat"),
    _from_param("logging.file", "logfile"),
    _from_param("slowlog.log_slower_than", "slowlog-log-slower-than"),
    _from_param("slowlog.max_len", "slowlog-max-len"),
    _from_param("latency.monitor_threshold", "latency-monitor-threshold"),
    _from_param("latency.tracking", "latency-tracking"),
    _from_param("latency.tracking_info_percentiles", "latency-tracking-info-percentiles", lists=True),
]
YAML_KEYS: dict[str, YamlKey] = {key.path: key for key in _YAML}
YAML_SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(path.split(".")[0] for path in YAML_KEYS))
