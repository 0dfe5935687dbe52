"""The state a command handler sees: its client (`Context`) and the server (`ServerState`).

Handlers never touch sockets: what they need from the network layer (close this
client, kill that one, shut the server down) is asked for through flags and callbacks
that the server layer fills in.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

from hypercache.commands.latency import LatencyEvents, new_histogram
from hypercache.commands.observe import slow_threshold_usec
from hypercache.commands.slowlog import SlowLog
from hypercache.commands.table import TABLE, CommandTable
from hypercache.config import Config
from hypercache.keyspace import Keyspace


@dataclass
class CommandStats:
    """Per-command counters for INFO commandstats."""

    calls: int = 0
    usec: int = 0
    rejected_calls: int = 0
    failed_calls: int = 0
    histogram: list[int] = field(default_factory=new_histogram)  # INFO latencystats (ns buckets)


@dataclass
class Stats:
    """Server-wide counters for INFO stats. Plain integers: they sit on the hot path."""

    total_connections_received: int = 0
    total_commands_processed: int = 0
    rejected_connections: int = 0
    net_input_bytes: int = 0
    net_output_bytes: int = 0
    total_error_replies: int = 0
    unexpected_error_replies: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)  # INFO errorstats
    commands: dict[str, CommandStats] = field(default_factory=dict)

    def for_command(self, name: str) -> CommandStats:
        stats = self.commands.get(name)
        if stats is None:
            stats = self.commands[name] = CommandStats()
        return stats

    def reset(self) -> None:
        """CONFIG RESETSTAT."""
        fresh = Stats()
        for name in vars(fresh):
            setattr(self, name, getattr(fresh, name))


class ServerState:
    """What is shared by all clients of one server process."""

    def __init__(self, config: Config, table: CommandTable = TABLE) -> None:
        self.config = config
        self.table = table
        self.keyspace = Keyspace()
        self.stats = Stats()
        self.clients: dict[int, Context] = {}
        self.started_at = time.time()
        self.started_monotonic = time.monotonic()
        self.next_client_id = 1
        self.lastsave = int(time.time())
        self.loading = False
        self.tcp_port = config.port
        # The store's tasks (server/persistence.py) when appendonly is on: the
        # connection loop commits each batch through it. Opaque to commands.
        self.persistence: object | None = None
        self.request_sync: Callable[[], None] = lambda: None  # ask for a WAL fsync now
        # SAVE / BGSAVE outcomes, for LASTSAVE and INFO persistence
        self.saves = 0
        self.save_status = "ok"
        self.last_save_seconds = -1.0
        self.keyspace_version_at_save = 0
        self.keyspace.set_memory_limit(config.maxmemory, config.maxmemory_policy, config.maxmemory_samples)
        # INFO: this process's random identity (run_id) and replication id, as Redis's
        self.run_id = os.urandom(20).hex()
        self.replid = os.urandom(20).hex()
        # The slow log, the latency monitor, MONITOR clients (by client id), and the
        # smallest threshold at which dispatch takes its slow path (commands/observe.py).
        self.slowlog = SlowLog()
        self.latency_events = LatencyEvents()
        self.monitors: dict[int, Context] = {}
        self.slow_usec = slow_threshold_usec(config)
        # What the lane answered in reads not yet counted into the statistics (see
        # commands/fastlane.py: count_lane_calls).
        self.lane_deltas = [0] * 5  # what the write lane changed: Keyspace.apply_lane_writes
        self.lane_totals = [0] * 14  # what the lane answered, not yet counted (fastlane.py)
        # Filled in by the server layer: ask it to stop (SHUTDOWN) with an exit code.
        self.request_shutdown: Callable[[], None] = lambda: None
        # Called by CONFIG SET with the names it changed; the server layer applies them
        # where a layer copied a setting when it started (server/listener.py).
        self.config_changed: Callable[[set[str]], None] = lambda names: None

    def new_client_id(self) -> int:
        client_id = self.next_client_id
        self.next_client_id += 1
        return client_id


class Context:
    """One client connection as the commands see it."""

    def __init__(self, server: ServerState, addr: str = "", laddr: str = "") -> None:
        self.server = server
        self.keyspace = server.keyspace
        self.id = server.new_client_id()
        self.addr = addr
        self.laddr = laddr
        self.name: bytes = b""
        self.lib_name: bytes = b""
        self.lib_ver: bytes = b""
        self.proto = 2
        self.db = 0
        self.authenticated = not server.config.requirepass
        self.created = time.time()
        self.last_interaction = time.monotonic()
        self.last_command = "NULL"
        # MULTI/EXEC: queued requests, and whether queueing hit an error
        self.multi: list[list[bytes]] | None = None
        self.multi_error = False
        # WATCH: keys watched, and whether one changed since
        self.watched: list[bytes] = []
        self.watched_present: set[bytes] = set()  # watched keys that existed at WATCH
        self.watch_dirty = False
        # asks of the network layer
        self.close_after_reply = False
        self.drop_output = False  # close without sending what the batch produced
        self.kill: Callable[[], None] = lambda: None
        # send bytes to this client outside a reply, in order with them (MONITOR)
        self.push: Callable[[bytes], None] = lambda data: None
        self.query_buffer_bytes = 0
        # CLIENT NO-EVICT / NO-TOUCH, and the socket's descriptor for CLIENT LIST
        # (-1 until the network layer sets it, as Redis shows for fake clients)
        self.no_evict = False
        self.no_touch = False
        self.fd = -1

    def unwatch_all(self) -> None:
        for key in self.watched:
            self.keyspace.unwatch(key, self)
        self.watched = []
        self.watched_present = set()
        self.watch_dirty = False

    def reset_multi(self) -> None:
        self.multi = None
        self.multi_error = False
        self.unwatch_all()
