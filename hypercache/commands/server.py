"""Server commands: INFO, TIME, LASTSAVE, SHUTDOWN.

INFO writes Redis's text format byte for byte: a '# Section' line, 'field:value'
lines, CRLF line ends, a blank line between sections (redis-py's info() parses it,
and so do monitoring tools). Field names are Redis's; the numbers are this server's
own, measured where Redis measures (RSS from /proc, CPU from getrusage) and zero only
where the thing counted does not exist here (replicas, forks, pub/sub channels).
A RESP3 client gets INFO as a verbatim string, as Redis sends it.
"""

from __future__ import annotations

import logging
import os
import platform
import resource
import sys
import time
import weakref
from collections import deque

from hypercache import REDIS_COMPAT_VERSION, __version__
from hypercache.commands.args import option
from hypercache.commands.context import Context, ServerState
from hypercache.commands.latency import latencystats_section
from hypercache.commands.persistence import filter_section, snapshot, storage_section
from hypercache.commands.table import command
from hypercache.errors import SYNTAX, CommandError
from hypercache.resp.types import OK, Verbatim

log = logging.getLogger("hypercache.server")

# ---------------------------------------------------------------------------------------
# Measurements


def _page_size() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4096


_PAGE_SIZE = _page_size()


def rss_bytes() -> int:
    """The process's resident set size now (Redis's used_memory_rss)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """The largest RSS the process has had (getrusage's ru_maxrss)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def total_system_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * _PAGE_SIZE
    except (ValueError, OSError, AttributeError):
        return 0


def bytes_to_human(n: int) -> str:
    """Redis's bytesToHuman: 1023B, 1.16M, 23.54G."""
    if n < 1024:
        return f"{n}B"
    for unit, scale in (("K", 1024), ("M", 1024**2), ("G", 1024**3), ("T", 1024**4), ("P", 1024**5)):
        if n < scale * 1024:
            return f"{n / scale:.2f}{unit}"
    return f"{n}B"


class _Rates:
    """The instantaneous_* fields. Redis samples 16 times in 1.6 s from its cron; with
    no cron of our own the samples are taken when INFO runs, and the rate is measured
    over the newest sample at least a second old (or since the start)."""

    def __init__(self, state: ServerState) -> None:
        self.samples: deque[tuple[float, int, int, int]] = deque(maxlen=16)
        self.samples.append((state.started_monotonic, 0, 0, 0))

    def measure(self, state: ServerState) -> tuple[int, float, float]:
        stats = state.stats
        now = time.monotonic()
        current = (now, stats.total_commands_processed, stats.net_input_bytes, stats.net_output_bytes)
        base = self.samples[0]
        for sample in reversed(self.samples):
            if now - sample[0] >= 1.0:
                base = sample
                break
        self.samples.append(current)
        elapsed = now - base[0]
        if elapsed <= 0:
            return 0, 0.0, 0.0
        ops = max(0, current[1] - base[1]) / elapsed
        kbps_in = max(0, current[2] - base[2]) / elapsed / 1024
        kbps_out = max(0, current[3] - base[3]) / elapsed / 1024
        return int(ops), kbps_in, kbps_out


_RATES: "weakref.WeakKeyDictionary[ServerState, _Rates]" = weakref.WeakKeyDictionary()


def _rates(state: ServerState) -> _Rates:
    rates = _RATES.get(state)
    if rates is None:
        rates = _RATES[state] = _Rates(state)
    return rates


_MULTIPLEXING_API = {"linux": "epoll", "darwin": "kqueue", "win32": "iocp"}


# ---------------------------------------------------------------------------------------
# INFO sections: each returns its lines ("field:value"), without the header


def _server(state: ServerState) -> list[str]:
    config = state.config
    uptime = int(time.monotonic() - state.started_monotonic)
    uname = platform.uname()
    return [
        f"redis_version:{REDIS_COMPAT_VERSION}",
        f"hypercache_version:{__version__}",
        "redis_git_sha1:00000000",
        "redis_git_dirty:0",
        f"redis_mode:{'cluster' if config.cluster_enabled else 'standalone'}",
        f"os:{uname.system} {uname.release} {uname.machine}",
        f"arch_bits:{64 if sys.maxsize > 2**32 else 32}",
        "monotonic_clock:POSIX clock_gettime",
        f"multiplexing_api:{_MULTIPLEXING_API.get(sys.platform, 'select')}",
        f"python_version:{platform.python_version()}",
        f"process_id:{os.getpid()}",
        "process_supervised:no",
        f"run_id:{state.run_id}",
        f"tcp_port:{state.tcp_port}",
        f"server_time_usec:{time.time_ns() // 1000}",
        f"uptime_in_seconds:{uptime}",
        f"uptime_in_days:{uptime // 86400}",
        f"hz:{config.hz}",
        f"configured_hz:{config.hz}",
        f"lru_clock:{int(time.time()) & (2**24 - 1)}",
        f"executable:{os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else sys.executable}",
        f"config_file:{config.config_file or ''}",
        "io_threads_active:0",
    ]


def _clients(state: ServerState) -> list[str]:
    clients = state.clients.values()
    return [
        f"connected_clients:{len(state.clients)}",
        "cluster_connections:0",
        f"maxclients:{state.config.maxclients}",
        f"client_recent_max_input_buffer:{max((c.query_buffer_bytes for c in clients), default=0)}",
        "client_recent_max_output_buffer:0",
        "blocked_clients:0",
        "tracking_clients:0",
        "clients_in_timeout_table:0",
    ]


def _memory(state: ServerState) -> list[str]:
    # used_memory is the resident set size: a Python process has no cheap exact count
    # of the bytes it has allocated (tracemalloc would cost every allocation).
    rss = rss_bytes()
    peak = max(peak_rss_bytes(), rss)
    system = total_system_memory()
    maxmemory = state.config.maxmemory
    return [
        f"used_memory:{rss}",
        f"used_memory_human:{bytes_to_human(rss)}",
        f"used_memory_rss:{rss}",
        f"used_memory_rss_human:{bytes_to_human(rss)}",
        f"used_memory_peak:{peak}",
        f"used_memory_peak_human:{bytes_to_human(peak)}",
        f"used_memory_peak_perc:{100 * rss / peak if peak else 0:.2f}%",
        f"total_system_memory:{system}",
        f"total_system_memory_human:{bytes_to_human(system)}",
        f"used_memory_dataset:{state.keyspace.memory_used()}",
        f"maxmemory:{maxmemory}",
        f"maxmemory_human:{bytes_to_human(maxmemory)}",
        f"maxmemory_policy:{state.config.maxmemory_policy}",
        "mem_fragmentation_ratio:1.00",
        "mem_allocator:pymalloc",
    ]


def _persistence(state: ServerState) -> list[str]:
    # The store's WAL is the AOF's counterpart; SAVE/BGSAVE snapshots are the RDB's.
    keyspace = state.keyspace
    aof_enabled = int(keyspace.cold is not None)
    write_status = "ok" if keyspace.writes_refused is None else "err"
    return [
        f"loading:{int(state.loading)}",
        "async_loading:0",
        "current_cow_peak:0",
        "current_cow_size:0",
        "current_cow_size_age:0",
        "current_fork_perc:0.00",
        "current_save_keys_processed:0",
        "current_save_keys_total:0",
        f"rdb_changes_since_last_save:{keyspace.version - state.keyspace_version_at_save}",
        "rdb_bgsave_in_progress:0",
        f"rdb_last_save_time:{state.lastsave}",
        f"rdb_last_bgsave_status:{state.save_status}",
        f"rdb_last_bgsave_time_sec:{round(state.last_save_seconds)}",
        "rdb_current_bgsave_time_sec:-1",
        f"rdb_saves:{state.saves}",
        "rdb_last_cow_size:0",
        "rdb_last_load_keys_expired:0",
        "rdb_last_load_keys_loaded:0",
        f"aof_enabled:{aof_enabled}",
        "aof_rewrite_in_progress:0",
        "aof_rewrite_scheduled:0",
        "aof_last_rewrite_time_sec:-1",
        "aof_current_rewrite_time_sec:-1",
        "aof_last_bgrewrite_status:ok",
        "aof_rewrites:0",
        "aof_rewrites_consecutive_failures:0",
        f"aof_last_write_status:{write_status}",
        "aof_last_cow_size:0",
        "module_fork_in_progress:0",
        "module_fork_last_cow_size:0",
    ]


def _stats(state: ServerState) -> list[str]:
    stats = state.stats
    keyspace = state.keyspace
    ops, kbps_in, kbps_out = _rates(state).measure(state)
    return [
        f"total_connections_received:{stats.total_connections_received}",
        f"total_commands_processed:{stats.total_commands_processed}",
        f"instantaneous_ops_per_sec:{ops}",
        f"total_net_input_bytes:{stats.net_input_bytes}",
        f"total_net_output_bytes:{stats.net_output_bytes}",
        "total_net_repl_input_bytes:0",
        "total_net_repl_output_bytes:0",
        f"instantaneous_input_kbps:{kbps_in:.2f}",
        f"instantaneous_output_kbps:{kbps_out:.2f}",
        "instantaneous_input_repl_kbps:0.00",
        "instantaneous_output_repl_kbps:0.00",
        f"rejected_connections:{stats.rejected_connections}",
        "sync_full:0",
        "sync_partial_ok:0",
        "sync_partial_err:0",
        f"expired_keys:{keyspace.expired_keys}",
        f"evicted_keys:{getattr(keyspace, 'evicted_keys', 0)}",
        "evicted_clients:0",
        f"keyspace_hits:{keyspace.hits}",
        f"keyspace_misses:{keyspace.misses}",
        "pubsub_channels:0",
        "pubsub_patterns:0",
        "pubsubshard_channels:0",
        f"unexpected_error_replies:{stats.unexpected_error_replies}",
        f"total_error_replies:{stats.total_error_replies}",
    ]


def _replication(state: ServerState) -> list[str]:
    return [
        "role:master",
        "connected_slaves:0",
        "master_failover_state:no-failover",
        f"master_replid:{state.replid}",
        "master_replid2:0000000000000000000000000000000000000000",
        "master_repl_offset:0",
        "second_repl_offset:-1",
        "repl_backlog_active:0",
        "repl_backlog_size:0",
        "repl_backlog_first_byte_offset:0",
        "repl_backlog_histlen:0",
    ]


def _cpu(state: ServerState) -> list[str]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Commands run on the main thread, so the thread running INFO is the main thread.
    thread = resource.getrusage(getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF))
    return [
        f"used_cpu_sys:{me.ru_stime:.6f}",
        f"used_cpu_user:{me.ru_utime:.6f}",
        f"used_cpu_sys_children:{children.ru_stime:.6f}",
        f"used_cpu_user_children:{children.ru_utime:.6f}",
        f"used_cpu_sys_main_thread:{thread.ru_stime:.6f}",
        f"used_cpu_user_main_thread:{thread.ru_utime:.6f}",
    ]


def _modules(state: ServerState) -> list[str]:
    return []  # CF.* and BF.* are built in, not modules


def _commandstats(state: ServerState) -> list[str]:
    lines = []
    for name, cs in state.stats.commands.items():
        if not (cs.calls or cs.failed_calls or cs.rejected_calls):
            continue
        per_call = cs.usec / cs.calls if cs.calls else 0.0
        lines.append(
            f"cmdstat_{name}:calls={cs.calls},usec={cs.usec},usec_per_call={per_call:.2f},"
            f"rejected_calls={cs.rejected_calls},failed_calls={cs.failed_calls}"
        )
    return lines


def _errorstats(state: ServerState) -> list[str]:
    # Counts per error code (errorstat_ERR:count=N) need the dispatcher to count them.
    counts = getattr(state.stats, "error_codes", None) or {}
    return [f"errorstat_{code}:count={n}" for code, n in counts.items()]


def _cluster(state: ServerState) -> list[str]:
    return [f"cluster_enabled:{int(state.config.cluster_enabled)}"]


def _keyspace(state: ServerState) -> list[str]:
    keys = len(state.keyspace)
    if not keys:
        return []
    return [f"db0:keys={keys},expires={state.keyspace.expires_count},avg_ttl=0"]


# Every section in Redis's order: name -> (header, lines function).
SECTIONS = {
    "server": ("Server", _server),
    "clients": ("Clients", _clients),
    "memory": ("Memory", _memory),
    "persistence": ("Persistence", _persistence),
    "stats": ("Stats", _stats),
    "replication": ("Replication", _replication),
    "cpu": ("CPU", _cpu),
    "modules": ("Modules", _modules),
    "commandstats": ("Commandstats", _commandstats),
    "errorstats": ("Errorstats", _errorstats),
    "latencystats": ("Latencystats", latencystats_section),
    "cluster": ("Cluster", _cluster),
    "keyspace": ("Keyspace", _keyspace),
    "storage": ("Storage", storage_section),
    "filter": ("Filter", filter_section),
}
# Our own sections come only when named or with "everything", as a module's do in Redis,
# so "INFO" and "INFO all" list exactly Redis's sections.
OWN_SECTIONS = frozenset({"storage", "filter"})
ALL_SECTIONS = frozenset(SECTIONS) - OWN_SECTIONS
DEFAULT_SECTIONS = ALL_SECTIONS - {"commandstats", "latencystats"}


def info_text(state: ServerState, names: list[bytes]) -> str:
    """INFO's text for the sections asked for (none: the default ones)."""
    wanted: set[str] = set()
    for raw in names:
        name = raw.decode("utf-8", "replace").lower()
        if name == "everything":
            wanted.update(SECTIONS)
        elif name == "all":
            wanted.update(ALL_SECTIONS)
        elif name == "default":
            wanted.update(DEFAULT_SECTIONS)
        else:
            wanted.add(name)  # unknown names select nothing, as in Redis
    if not names:
        wanted = set(DEFAULT_SECTIONS)
    parts = []
    for name, (header, lines) in SECTIONS.items():
        if name in wanted:
            parts.append("".join(f"{line}\r\n" for line in [f"# {header}", *lines(state)]))
    return "\r\n".join(parts)


@command("info", -1, "loading stale", group="server", summary="Get information and statistics about the server", since="1.0.0", acl="dangerous")
def info(ctx: Context, args: list[bytes]) -> object:
    return Verbatim(info_text(ctx.server, args[1:]))


@command("time", 1, "loading stale fast", group="server", summary="Return the current server time", since="2.6.0", acl="fast")
def time_(ctx: Context, args: list[bytes]) -> object:
    now = time.time_ns() // 1000
    return [b"%d" % (now // 1_000_000), b"%d" % (now % 1_000_000)]


@command("lastsave", 1, "loading stale fast", group="server", summary="Get the UNIX time stamp of the last successful save to disk", since="1.0.0", acl="admin fast dangerous")
def lastsave(ctx: Context, args: list[bytes]) -> object:
    return ctx.server.lastsave


_SHUTDOWN_FLAGS = (b"NOSAVE", b"SAVE", b"NOW", b"FORCE")


@command("shutdown", -1, "admin noscript loading stale no-multi allow-busy", group="server", summary="Synchronously save the dataset to disk and then shut down the server", since="1.0.0", complexity="O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)")
def shutdown(ctx: Context, args: list[bytes]) -> object:
    flags: set[bytes] = set()
    abort = False
    for raw in args[1:]:
        word = option(raw)
        if word in _SHUTDOWN_FLAGS:
            flags.add(word)
        elif word == b"ABORT":
            abort = True
        else:
            raise CommandError(SYNTAX)
    if (abort and flags) or {b"NOSAVE", b"SAVE"} <= flags:
        raise CommandError(SYNTAX)
    if abort:
        raise CommandError("ERR No shutdown in progress.")  # shutting down is immediate here
    log.warning("User requested shutdown...")
    if b"SAVE" in flags and ctx.keyspace.cold is not None:
        # Redis saves a snapshot on SHUTDOWN SAVE; the WAL is synced at exit in any case.
        try:
            snapshot(ctx.server, durable=True)
        except CommandError:
            log.warning("Error trying to save the DB, can't exit.")
            raise CommandError("ERR Errors trying to SHUTDOWN. Check logs.") from None
    ctx.server.request_shutdown()
    # As Redis, the client gets no reply: its connection closes with the server. The
    # kill takes effect at the connection's next await, before the reply is sent.
    ctx.close_after_reply = True
    ctx.kill()
    return OK
