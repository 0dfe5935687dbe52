"""GET /metrics: Prometheus text, built at scrape time from INFO's figures.

The server's counters are plain integers on the hot path; this collector reads them
(through INFO's sections, so /metrics and INFO never disagree) only when Prometheus
scrapes. Names are redis_exporter's where it has one (redis_connected_clients,
redis_commands_processed_total, redis_commands_total{cmd="get"}, redis_db_keys{db="db0"},
...), so its dashboards and alerts work unchanged; the LSM store's and the keyspace
filter's figures (INFO storage, INFO filter) are hypercache_*.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterator

from prometheus_client import ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from hypercache.admin.info import info_dict

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from hypercache.commands.context import ServerState

# INFO field -> (redis_exporter's name, help). Names ending in _total are counters.
REDIS_FIELDS: dict[str, tuple[str, str]] = {
    "uptime_in_seconds": ("redis_uptime_in_seconds", "Seconds since the server started"),
    "connected_clients": ("redis_connected_clients", "Client connections"),
    "blocked_clients": ("redis_blocked_clients", "Clients blocked in a command"),
    "maxclients": ("redis_config_maxclients", "The maxclients setting"),
    "used_memory": ("redis_memory_used_bytes", "Memory in use (the process's RSS)"),
    "used_memory_rss": ("redis_memory_used_rss_bytes", "Resident set size"),
    "used_memory_peak": ("redis_memory_used_peak_bytes", "Largest resident set size"),
    "used_memory_dataset": ("redis_memory_used_dataset_bytes", "Bytes of values held in memory"),
    "maxmemory": ("redis_memory_max_bytes", "The maxmemory setting"),
    "total_system_memory": ("redis_total_system_memory_bytes", "Memory of the machine"),
    "loading": ("redis_loading_dump_file", "1 while the store is being recovered"),
    "rdb_changes_since_last_save": ("redis_rdb_changes_since_last_save", "Writes since the last snapshot"),
    "rdb_last_save_time": ("redis_rdb_last_save_timestamp_seconds", "Unix time of the last snapshot"),
    "rdb_saves": ("redis_rdb_saves_total", "Snapshots taken"),
    "aof_enabled": ("redis_aof_enabled", "1 when the write-ahead log is on"),
    "instantaneous_ops_per_sec": ("redis_instantaneous_ops_per_sec", "Commands a second, recently"),
    "total_connections_received": ("redis_connections_received_total", "Connections accepted"),
    "total_commands_processed": ("redis_commands_processed_total", "Commands executed"),
    "total_net_input_bytes": ("redis_net_input_bytes_total", "Bytes read from clients"),
    "total_net_output_bytes": ("redis_net_output_bytes_total", "Bytes sent to clients"),
    "rejected_connections": ("redis_rejected_connections_total", "Connections refused (maxclients)"),
    "expired_keys": ("redis_expired_keys_total", "Keys deleted because their TTL passed"),
    "evicted_keys": ("redis_evicted_keys_total", "Keys evicted past maxmemory"),
    "keyspace_hits": ("redis_keyspace_hits_total", "Reads that found their key"),
    "keyspace_misses": ("redis_keyspace_misses_total", "Reads that did not find their key"),
    "connected_slaves": ("redis_connected_slaves", "Connected replicas"),
    "used_cpu_sys": ("redis_cpu_sys_seconds_total", "System CPU time"),
    "used_cpu_user": ("redis_cpu_user_seconds_total", "User CPU time"),
    "used_cpu_sys_children": ("redis_cpu_sys_children_seconds_total", "System CPU time of child processes"),
    "used_cpu_user_children": ("redis_cpu_user_children_seconds_total", "User CPU time of child processes"),
    "cluster_enabled": ("redis_cluster_enabled", "1 in cluster mode"),
}
INSTANCE_LABELS = ("redis_version", "hypercache_version", "redis_mode", "os", "process_id", "tcp_port", "run_id")

# INFO storage / filter fields that only grow (the rest are levels, sizes, ratios).
STORE_COUNTERS = frozenset({
    "wal_bytes_written", "wal_fsyncs", "wal_sync_errors", "flushes", "flush_bytes_written",
    "compactions", "trivial_moves", "compaction_bytes_read", "compaction_bytes_written",
    "jobs_failed", "user_bytes_written", "bytes_written", "bytes_read",
    "filter_negative_lookups", "filter_false_positives",
})
_LEVEL_FIELD = re.compile(r"^storage_level(\d+)_(\w+)$")


def _counter_or_gauge(name: str, help_text: str, value: float) -> "Metric":
    if name.endswith("_total"):
        family: Metric = CounterMetricFamily(name[: -len("_total")], help_text)
    else:
        family = GaugeMetricFamily(name, help_text)
    family.add_metric([], value)
    return family


class HyperCacheCollector(Collector):
    """Reads the server's figures when collected; holds no metric state of its own."""

    def __init__(self, state: "ServerState") -> None:
        self.state = state

    def collect(self) -> Iterator["Metric"]:
        info = info_dict(self.state)
        flat: dict[str, object] = {}
        for name in ("server", "clients", "memory", "persistence", "stats", "replication", "cpu", "cluster"):
            flat.update(info.get(name, {}))
        yield _counter_or_gauge("redis_up", "1: the server answers", 1)
        labels = {key: str(flat.get(key, "")) for key in INSTANCE_LABELS}
        labels["role"] = str(flat.get("role", "master"))
        instance = GaugeMetricFamily("redis_instance_info", "Information about the server", labels=list(labels))
        instance.add_metric(list(labels.values()), 1)
        yield instance
        for field, (metric, help_text) in REDIS_FIELDS.items():
            value = flat.get(field)
            if isinstance(value, (int, float)):
                yield _counter_or_gauge(metric, help_text, value)
        yield from self._commands(info.get("commandstats", {}))
        yield from self._latency(info.get("latencystats", {}))
        yield from self._errors(info.get("errorstats", {}))
        yield from self._keyspace(info.get("keyspace", {}))
        yield from self._slowlog_and_events()
        yield from self._store(info.get("storage", {}), "INFO storage: ")
        yield from self._store(info.get("filter", {}), "INFO filter: ")

    @staticmethod
    def _commands(section: dict) -> Iterator["Metric"]:
        calls = CounterMetricFamily("redis_commands", "Calls per command", labels=["cmd"])
        seconds = CounterMetricFamily("redis_commands_duration_seconds", "Time spent per command", labels=["cmd"])
        rejected = CounterMetricFamily("redis_commands_rejected_calls", "Calls refused before running", labels=["cmd"])
        failed = CounterMetricFamily("redis_commands_failed_calls", "Calls that answered an error", labels=["cmd"])
        for key, stats in section.items():
            if not isinstance(stats, dict):
                continue
            cmd = [key.removeprefix("cmdstat_")]
            calls.add_metric(cmd, stats.get("calls", 0))
            seconds.add_metric(cmd, stats.get("usec", 0) / 1e6)
            rejected.add_metric(cmd, stats.get("rejected_calls", 0))
            failed.add_metric(cmd, stats.get("failed_calls", 0))
        yield from (calls, seconds, rejected, failed)

    def _latency(self, section: dict) -> Iterator["Metric"]:
        summary = SummaryMetricFamily("redis_latency_percentiles_usec", "Latency percentiles per command (µs)",
                                      labels=["cmd"])
        commands = self.state.stats.commands
        for key, percentiles in section.items():
            if not isinstance(percentiles, dict):
                continue
            cmd = key.removeprefix("latency_percentiles_usec_")
            stats = commands.get(cmd)
            if stats is None:
                continue
            quantiles = [(f"{float(p[1:]) / 100:g}", float(v)) for p, v in percentiles.items()]
            summary.add_sample("redis_latency_percentiles_usec_count", {"cmd": cmd}, stats.calls)
            summary.add_sample("redis_latency_percentiles_usec_sum", {"cmd": cmd}, stats.usec)
            for quantile, value in quantiles:
                summary.add_sample("redis_latency_percentiles_usec", {"cmd": cmd, "quantile": quantile}, value)
        yield summary

    @staticmethod
    def _errors(section: dict) -> Iterator["Metric"]:
        errors = CounterMetricFamily("redis_errors", "Error replies per error code", labels=["err"])
        for key, value in section.items():
            if isinstance(value, dict):
                errors.add_metric([key.removeprefix("errorstat_")], value.get("count", 0))
        yield errors

    @staticmethod
    def _keyspace(section: dict) -> Iterator["Metric"]:
        keys = GaugeMetricFamily("redis_db_keys", "Keys per database", labels=["db"])
        expiring = GaugeMetricFamily("redis_db_keys_expiring", "Keys with a TTL per database", labels=["db"])
        if not section:
            section = {"db0": {"keys": 0, "expires": 0}}  # redis_exporter shows db0 even when empty
        for db, figures in section.items():
            if isinstance(figures, dict):
                keys.add_metric([db], figures.get("keys", 0))
                expiring.add_metric([db], figures.get("expires", 0))
        yield from (keys, expiring)

    def _slowlog_and_events(self) -> Iterator["Metric"]:
        slowlog = self.state.slowlog
        yield _counter_or_gauge("redis_slowlog_length", "Entries in the slow log", len(slowlog.entries))
        yield _counter_or_gauge("redis_slowlog_last_id", "Id of the newest slow log entry",
                                slowlog.entries[0].id if slowlog.entries else 0)
        events = self.state.latency_events
        last = GaugeMetricFamily("redis_latency_spike_last", "When the event last passed the threshold",
                                 labels=["event_name"])
        duration = GaugeMetricFamily("redis_latency_spike_duration_seconds", "Length of the event's last spike",
                                     labels=["event_name"])
        for name, samples in events.series.items():
            if samples:
                last.add_metric([name], samples[-1][0])
                duration.add_metric([name], samples[-1][1] / 1000)
        yield from (last, duration)

    @staticmethod
    def _store(section: dict, help_prefix: str) -> Iterator["Metric"]:
        """INFO storage / filter fields (storage_*, hot_*, filter_*) as hypercache_<field>;
        the per-level figures as one family each with a `level` label."""
        levels: dict[str, GaugeMetricFamily] = {}
        for field, value in section.items():
            if not isinstance(value, (int, float)):
                continue
            level = _LEVEL_FIELD.match(field)
            if level is not None:
                what = level.group(2)
                family = levels.get(what)
                if family is None:
                    family = levels[what] = GaugeMetricFamily(
                        f"hypercache_storage_level_{what}", f"{help_prefix}{what} per LSM level", labels=["level"])
                family.add_metric([level.group(1)], value)
                continue
            counter = field.removeprefix("storage_") in STORE_COUNTERS
            yield _counter_or_gauge(f"hypercache_{field}" + ("_total" if counter else ""), help_prefix + field, value)
        yield from levels.values()


def registry_for(state: "ServerState") -> CollectorRegistry:
    """A registry with the server's collector (and the process's own figures)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HyperCacheCollector(state))
    ProcessCollector(registry=registry)
    return registry
