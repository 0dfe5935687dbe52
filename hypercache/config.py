"""One typed configuration: defaults <- YAML file <- command-line flags <- CONFIG SET.

The YAML layout is the seed design's `hypercache.yaml` (node/cluster/storage/cache,
plus server/admin/logging sections of our own). Field names are Python's; the Redis
names that CONFIG GET/SET and the flags use are mapped in `hypercache.configtable`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    cuckoo_filter_fpp: float = 0.01
    # persistence and storage
    appendonly: bool = True
    appendfsync: str = "everysec"  # always | everysec | no | interval
    wal_sync_interval_ms: int = 10
    memtable_size: int = 64 * MB
    compaction_threads: int = 1
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
    admin_bind_addr: str = "127.0.0.1:7080"
    # where the config came from (CONFIG REWRITE writes back there)
    config_file: str | None = None
