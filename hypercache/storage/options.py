"""Tuning knobs of one store, with defaults sized for a 64 MB memtable.

The level shape follows RocksDB's defaults for this memtable size: L0 is compacted into
L1 when it holds 4 tables (~256 MB), L1 holds ~256 MB and each deeper level 10x more.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from hypercache.storage.wal import SyncPolicy

MB = 1024 * 1024


def now_ms() -> int:
    """Wall-clock ms since the epoch: what expire_at is measured in."""
    return time.time_ns() // 1_000_000


@dataclass
class StorageOptions:
    """Everything `Storage.open` can be told. Sizes are bytes."""

    memtable_size: int = 64 * MB  # freeze and flush the memtable past this estimate
    # Target size of an SSTable data block. 16 KiB rather than LevelDB's 4 KiB: with
    # values of ~1 KB a 4 KiB block holds ~4 of them, so the index (kept in memory)
    # needs an entry per 4 values and flush/compaction pay their per-block cost per 4
    # values; a 16 KiB block costs a point lookup ~2 us more CPU (the pread's copy and
    # the CRC-32, which carry-less multiply makes ~1 us: src/hc_crc32.c).
    block_size: int = 16384
    bloom_bits_per_key: int = 10  # ~1% false positives
    l0_compaction_trigger: int = 4  # L0 tables that start an L0 -> L1 compaction, at least
    l0_max_tables: int = 16  # ... and at most (see l0_trigger)
    l0_stall_tables: int = 12  # advise the server to slow writes past this (at least)
    l0_idle_compaction_ms: int = 10_000  # no flush for this long: merge L0 from l0_compaction_trigger tables (0: never)
    max_frozen_memtables: int = 2  # ... or past this many memtables waiting to flush
    level_base_bytes: int = 256 * MB  # L1's target size
    level_multiplier: int = 10  # L(n+1) target = L(n) target x this
    target_file_size: int = 64 * MB  # compaction outputs are split at this size
    max_compactions: int = 1  # compaction jobs handed out at once (flushes come on top)
    cleanup_ratio: float = 0.5  # rewrite a table when this share of it is tombstones/expired
    manifest_max_bytes: int = 4 * MB  # start a new manifest past this
    sync_policy: SyncPolicy = field(default_factory=SyncPolicy)
    clock: Callable[[], int] = now_ms  # ms since the epoch, for expiry

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> StorageOptions:
        """Options from a hypercache Config (memtable_size, appendfsync, wal_sync_interval_ms)."""
        opts = cls(
            memtable_size=getattr(config, "memtable_size", 64 * MB),
            sync_policy=SyncPolicy.from_config(
                getattr(config, "appendfsync", "everysec"), getattr(config, "wal_sync_interval_ms", 10)
            ),
        )
        for name, value in overrides.items():
            setattr(opts, name, value)
        return opts

    def l0_trigger(self) -> int:
        """L0 tables that start an L0 -> L1 compaction: enough memtables to make about
        `level_base_bytes` (L1's target), between `l0_compaction_trigger` and
        `l0_max_tables`. An L0 -> L1 merge rewrites all of L1 that L0 overlaps (all of
        it when keys are spread over the key space), so merging 4 small memtables (a
        64 MB maxmemory clamps them to 16 MiB) into a full L1 writes ~5 bytes per byte
        flushed, against ~2 when L0 is as large as L1. With the default 64 MiB memtable
        this is the classic 4."""
        by_size = self.level_base_bytes // max(1, self.memtable_size)
        return max(1, self.l0_compaction_trigger, min(self.l0_max_tables, by_size))

    def l0_stall(self) -> int:
        """L0 tables past which the store advises a write stall: l0_stall_tables, and
        at least 8 more than the compaction trigger."""
        return max(self.l0_stall_tables, self.l0_trigger() + 8)

    def level_target(self, level: int) -> int:
        """Target bytes of level >= 1."""
        return self.level_base_bytes * self.level_multiplier ** (level - 1)
