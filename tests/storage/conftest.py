"""Helpers for the storage engine's tests: small stores on real files under tmp_path."""

from __future__ import annotations

import pytest

from hypercache.storage import Storage, StorageOptions, run_job


class Clock:
    """A settable ms clock, so expiry is deterministic."""

    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def small_options(clock: Clock | None = None, **kw) -> StorageOptions:
    """Options that make a few hundred writes exercise flushes and every level."""
    base = dict(
        memtable_size=8 * 1024,
        block_size=256,
        l0_compaction_trigger=2,
        level_base_bytes=16 * 1024,
        level_multiplier=4,
        target_file_size=8 * 1024,
        manifest_max_bytes=16 * 1024,
    )
    base.update(kw)
    opts = StorageOptions(**base)
    if clock is not None:
        opts.clock = clock
    return opts


def run_jobs(store: Storage, limit: int = 1000) -> int:
    """Run every due flush and compaction in this process; returns how many ran."""
    ran = 0
    while ran < limit:
        job = store.next_job()
        if job is None:
            return ran
        store.install(run_job(job))
        ran += 1
    raise AssertionError("background work does not converge")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store_dir(tmp_path):
    return str(tmp_path / "store")


def crash(store: Storage) -> None:
    """Drop a store as a SIGKILL would: buffered WAL records are lost, nothing else is
    written, file descriptors and the LOCK are released."""
    store._wal._buf = bytearray()
    store._wal.close()
    store._manifest.close()
    for reader in store._readers.values():
        reader.close()
    import os

    os.close(store._lock_fd)
    store._closed = True


def assert_levels_sound(store: Storage) -> None:
    """Levels >= 1 hold disjoint key ranges in order; every live table has a reader."""
    v = store._version
    for lv in range(1, len(v.levels)):
        tables = v.levels[lv]
        assert all(a.largest < b.smallest for a, b in zip(tables, tables[1:])), lv
    assert {t.number for _, t in v.tables()} == set(store._readers)
