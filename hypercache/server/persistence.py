"""The store's life on the event loop: opening it, group commit, background jobs.

The storage engine (hypercache/storage) does no I/O of its own accord: the server hands
its buffered WAL records to the OS once per batch, fsyncs in a worker thread as the
`appendfsync` policy says, and runs flush and compaction jobs in child processes
(through worker threads that wait without the GIL). Every one of those is a task in
the server's nursery, stopped by it; `close()` syncs what is left at shutdown.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Callable

import trio

from hypercache.config import Config
from hypercache.keyspace import Keyspace
from hypercache.keyspace.coldtier import ColdTier
from hypercache.storage import Storage, StorageOptions, WriteRefusedError, run_in_child

log = logging.getLogger("hypercache.storage")

STALL_HOLD_LIMIT_S = 10.0  # a write stall delays replies at most this long
JOB_POLL_S = 0.05  # how often an idle job runner asks the store for work
HOUSEKEEPING_S = 1.0  # obsolete-file deletion and write retries
MEMTABLE_FREEING_S = 0.01  # while flushed memtables wait to be freed: a step this often
LOADING_LOG_S = 2.0  # progress lines during a long WAL replay
LOADING_SWITCH_INTERVAL_S = 0.0005  # GIL hand-over while loading (CPython's default: 5 ms)


def storage_options(config: Config) -> StorageOptions:
    """StorageOptions from the config. Under a memory limit the memtables (one active,
    up to two frozen) count against it, so the memtable is at most a quarter of it."""
    opts = StorageOptions.from_config(config)
    if config.maxmemory and opts.memtable_size > config.maxmemory // 4:
        opts.memtable_size = max(1024 * 1024, config.maxmemory // 4)
        log.info("memtable size %d bytes: a quarter of maxmemory", opts.memtable_size)
    return opts


class Persistence:
    """The store under one server's keyspace, and the tasks that keep it moving."""

    def __init__(self, config: Config, keyspace: Keyspace) -> None:
        self.config = config
        self.keyspace = keyspace
        self.storage: Storage | None = None
        self.cold: ColdTier | None = None
        self.loading_progress = (0, 0)  # WAL bytes replayed, of total
        self._sync_wanted = trio.Event()
        # Called after each fsync and each installed job: the reactor re-checks the
        # replies it holds (set by the server).
        self.on_progress: Callable[[], None] = lambda: None
        self._policy = None
        self.last_sync_error: str | None = None
        self._handed_seq = -1  # the store's last_seq at the last write_pending()

    # ---- opening -----------------------------------------------------------------------

    async def open(self) -> None:
        """Recover the store and rebuild the keyspace filter (in a worker thread, while
        the server answers -LOADING), then put the keyspace over it."""
        directory = os.path.join(self.config.dir, "store")
        started = time.monotonic()

        last_log = [started]

        def progress(done: int, total: int) -> None:  # called from the loading thread
            self.loading_progress = (done, total)
            now = time.monotonic()
            if now - last_log[0] >= LOADING_LOG_S:
                last_log[0] = now
                log.info("Loading: %d of %d WAL bytes replayed (%.0f%%)", done, total,
                         100 * done / total if total else 100)

        def open_and_rebuild() -> tuple[Storage, ColdTier, int, dict[bytes, int]]:
            storage = Storage.open(directory, storage_options(self.config), progress)
            try:
                cold = ColdTier(storage, self.config.cuckoo_filter_fpp)
                count, expires = cold.rebuild()
            except BaseException:
                storage.close()
                raise
            return storage, cold, count, expires

        # The replay runs Python in a worker thread: hand the GIL back to the event loop
        # more often meanwhile, so -LOADING and /health answer promptly.
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(LOADING_SWITCH_INTERVAL_S)
        try:
            storage, cold, count, expires = await trio.to_thread.run_sync(open_and_rebuild, abandon_on_cancel=True)
        finally:
            sys.setswitchinterval(switch_interval)
        for problem in storage.recovery_problems:
            log.warning("storage recovery: %s", problem)
        self.storage, self.cold = storage, cold
        self._policy = storage.options.sync_policy
        self.keyspace.attach_cold_tier(cold, count, expires)
        log.info(
            "DB loaded from disk: %d keys (%d WAL records replayed) in %.3f seconds; "
            "keyspace filter rebuilt in %.3f seconds",
            count, storage.recovered_records, time.monotonic() - started, cold.rebuild_seconds,
        )

    # ---- the per-batch path --------------------------------------------------------------

    @property
    def handed_seq(self) -> int:
        """The store's last_seq when the WAL was last handed to the OS (after_batch):
        while it equals last_seq, no write is waiting in the process for a reply to
        depend on (-1 before the first batch)."""
        return self._handed_seq

    def after_batch(self) -> int:
        """Hand the batch's WAL records to the OS (one write); returns the newest seq
        the batch's replies depend on. Never raises: a failed write puts the store in
        its write-refused state (later writes get -MISCONF), nothing buffered is lost."""
        storage = self.storage
        assert storage is not None
        seq = storage.last_seq
        if seq != self._handed_seq:  # a read-only batch costs nothing here
            self._handed_seq = seq
            try:
                storage.write_pending()
            except WriteRefusedError:
                pass  # logged by the store; the housekeeper retries
        return seq

    def must_hold(self, seq: int, held_for: float = 0.0) -> bool:
        """Must replies that depend on write `seq` wait? Under appendfsync always until
        an fsync covers it (however long the disk fails: a reply means durable); and
        while the store stalls writes (flushes behind), up to STALL_HOLD_LIMIT_S, as
        back-pressure that keeps memory bounded. Never while writes are refused
        (those clients get -MISCONF instead)."""
        storage = self.storage
        assert storage is not None
        if self._policy is not None and self._policy.reply_waits_for_sync and storage.synced_seq < seq:
            return True
        if held_for < STALL_HOLD_LIMIT_S and storage.write_stall and storage.writable:
            return self.cold is None or self.cold.background_error is None
        return False

    def replies_may_wait(self) -> bool:
        """Could must_hold hold any reply now (appendfsync always, or a write stall)?
        While not, the reactor sends writers' replies without asking client by client."""
        storage = self.storage
        return (self._policy is not None and self._policy.reply_waits_for_sync) or (
            storage is not None and storage.write_stall)

    def request_sync(self) -> None:
        """Have the syncer fsync the WAL soon (held replies, BGSAVE's sealed files)."""
        self._sync_wanted.set()

    def reconfigure(self) -> None:
        """Take in a CONFIG SET of appendfsync, wal-sync-interval, memtable-size or
        maxmemory (which caps the memtable): the syncer's next wait follows the new
        policy, and the next write past the new size freezes the memtable."""
        storage = self.storage
        if storage is None:  # still loading: open() reads the config afresh
            return
        fresh = storage_options(self.config)
        storage.options.memtable_size = fresh.memtable_size
        if fresh.sync_policy != self._policy:
            storage.options.sync_policy = self._policy = fresh.sync_policy
            self._sync_wanted.set()  # out of a wait sized for the old policy

    # ---- background tasks (started in the server's nursery) ------------------------------

    async def run_syncer(self) -> None:
        """fsync the WAL as the policy says: on demand (always), or every period (the
        policy is read afresh each time round: CONFIG SET appendfsync)."""
        storage = self.storage
        assert storage is not None
        while True:
            assert self._policy is not None
            period = self._policy.sync_period_s
            if not period:  # always: each time one is asked for; no: only when asked (BGSAVE)
                await self._sync_wanted.wait()
            else:
                with trio.move_on_after(period):
                    await self._sync_wanted.wait()
            self._sync_wanted = trio.Event()
            if storage.writable and storage.needs_sync():
                try:
                    await trio.to_thread.run_sync(storage.sync)
                except WriteRefusedError as err:
                    self.last_sync_error = str(err)
                    await trio.sleep(0.1)  # the housekeeper retries; do not spin
            self.on_progress()

    async def run_jobs(self) -> None:
        """Run flush and compaction jobs, one at a time per runner, in child processes."""
        storage = self.storage
        assert storage is not None
        while True:
            job = storage.next_job()
            if job is None:
                await trio.sleep(JOB_POLL_S)
                continue
            try:
                result = await trio.to_thread.run_sync(run_in_child, job, abandon_on_cancel=True)
            except Exception as err:  # a failed job changes nothing; the store retries
                storage.abandon(job, err)  # logs it
                if self.cold is not None:
                    self.cold.background_error = str(err)
                await trio.sleep(1)
                continue
            storage.install(result)
            self.on_progress()
            if self.cold is not None and self.cold.background_error is not None:
                log.warning("storage: background jobs work again")
                self.cold.background_error = None

    async def run_housekeeping(self) -> None:
        """Delete obsolete files off the loop's thread; retry writes after an I/O error."""
        storage = self.storage
        assert storage is not None
        while True:
            await trio.sleep(HOUSEKEEPING_S)
            if not storage.writable and storage.retry_writes():
                self.last_sync_error = None
                self._sync_wanted.set()
            await trio.to_thread.run_sync(storage.delete_obsolete_files)

    async def run_memtable_freeing(self) -> None:
        """Free flushed memtables in bounded steps while no writes come: the writes'
        batches free them otherwise (Storage.write_pending), and a server that went
        quiet after a load would keep a dead memtable's ~70 MB for good. It looks once
        per HOUSEKEEPING_S while there is nothing to free."""
        storage = self.storage
        assert storage is not None
        while True:
            await trio.sleep(MEMTABLE_FREEING_S if storage.dead_memtables else HOUSEKEEPING_S)
            if storage.dead_memtables:
                storage.housekeeping()

    def start_services(self, nursery: trio.Nursery) -> None:
        nursery.start_soon(self.run_syncer)
        nursery.start_soon(self.run_housekeeping)
        nursery.start_soon(self.run_memtable_freeing)
        for _ in range(max(1, self.config.compaction_threads)):
            nursery.start_soon(self.run_jobs)

    def close(self) -> None:
        """Write and fsync what is buffered and close the store (at shutdown)."""
        if self.storage is not None:
            self.storage.close()
            log.info("storage: WAL synced and store closed")
