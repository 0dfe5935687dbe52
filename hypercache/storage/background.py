"""Background work of a store: handing out flush and compaction jobs, installing
their results, and the clean-up that must not block the event loop.

A mixin of `Storage` (engine.py), kept apart because it is the part that changes the
set of live files: every change is one manifest edit (`_log_and_apply`), fsynced
before memory or the disk move on. Jobs themselves run elsewhere (compaction.py,
compaction_worker.py); this only decides, records and applies.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Callable, Iterable

from hypercache.storage import picker
from hypercache.storage.compaction import CompactionJob, FlushJob, Job, JobResult
from hypercache.storage.errors import StorageError, WriteRefusedError
from hypercache.storage.manifest import ManifestWriter, Version, VersionEdit
from hypercache.storage.memtable import Memtable
from hypercache.storage.options import StorageOptions
from hypercache.storage.sstable import ReadStats, TableReader, table_name
from hypercache.storage.wal import Wal

if TYPE_CHECKING:
    from hypercache.storage.engine import Counters

log = logging.getLogger("hypercache.storage")

MAX_HOUSEKEEPING_BUDGET = 100_000  # entries' worth freed by one housekeeping() call at most (~12 MB)


class BackgroundWork:
    """Jobs, installs, file deletion and memory reclaim for `Storage`."""

    # state owned by Storage.__init__
    directory: str
    options: StorageOptions
    _clock: Callable[[], int]
    _read_stats: ReadStats
    _version: Version
    _manifest: ManifestWriter
    _readers: dict[int, TableReader]
    _mem: Memtable
    _frozen: list[Memtable]
    _wal: Wal
    _last_seq: int
    _next_file: int
    counters: Counters

    def _init_background(self) -> None:
        self._jobs: dict[int, Job] = {}
        self._job_ranges: dict[int, tuple[frozenset[int], bytes, bytes]] = {}
        self._job_counter = 0
        self._flush_running = False
        self._pointers: dict[int, bytes] = {}  # round-robin compaction positions by level
        self._graveyard: list[Memtable] = []  # flushed memtables, freed in bounded steps
        self._housekept_seq = self._last_seq  # writes up to here paid for housekeeping
        # index + filter + properties blocks of the open tables, kept as tables come and
        # go (memory_used() asks per evicted key, a sum over the readers would be O(tables))
        self._table_memory_bytes = sum(r.memory_bytes() for r in self._readers.values())
        self._last_flush_ms = self._clock()  # when the last flush was installed (or the store opened)
        self._doomed: list[str] = []  # files to delete, off the loop's thread
        self._doomed_lock = threading.Lock()

    def next_job(self, flush: bool = True, compaction: bool = True) -> Job | None:
        """The most urgent background job, now marked running, or None.

        A flush (of the oldest frozen memtable; one at a time, so L0 stays in seq
        order) comes before compactions, and at most `options.max_compactions` run at
        once: a server with two job runners then always has one free for a flush, so
        a long compaction never holds a frozen memtable (and the writers) back. A compaction that only moves a table to the
        next level is applied here and then and not returned. Run the job with
        `compaction.run_job` (in-process) or `compaction_worker.run_in_child`, then
        call `install(result)` or `abandon(job)` on this thread."""
        opts = self.options
        if self._graveyard:
            self.housekeeping()
        if flush and self._frozen and not self._flush_running:
            mem = self._frozen[0]
            job = FlushJob(self._new_job_id(), self.directory, mem.wal_number, self._alloc(),
                           mem.last_seq, self._clock(), opts.block_size, opts.bloom_bits_per_key)
            self._flush_running = True
            self._jobs[job.job_id] = job
            return job
        if not compaction or self.compactions_running >= max(1, opts.max_compactions):
            return None
        while True:
            busy = picker.Busy(
                {n for j in self._jobs.values() if isinstance(j, CompactionJob) for _, n in j.inputs},
                list(self._job_ranges.values()),
            )
            now = self._clock()
            idle = (opts.l0_idle_compaction_ms > 0 and not self._frozen
                    and now - self._last_flush_ms >= opts.l0_idle_compaction_ms)
            plan = picker.pick(self._version, opts, busy, now, self._pointers, writes_idle=idle)
            if plan is None:
                return None
            if plan.is_trivial_move:
                if not self._trivial_move(plan):
                    return None
                continue
            total = sum(t.size for _, t in plan.inputs)
            numbers = [self._alloc() for _ in range(total // opts.target_file_size + len(plan.inputs) + 2)]
            job = CompactionJob(
                self._new_job_id(), self.directory, plan.level, plan.output_level,
                [(lv, t.number) for lv, t in plan.inputs], numbers, opts.target_file_size,
                plan.drop_tombstones, self._clock(), opts.block_size, opts.bloom_bits_per_key, plan.reason,
            )
            self._jobs[job.job_id] = job
            self._job_ranges[job.job_id] = (frozenset({plan.level, plan.output_level}), *plan.key_range)
            return job

    def install(self, result: JobResult) -> None:
        """Apply a finished job: one fsynced manifest edit, then the in-memory switch.
        A result the store no longer wants (a FLUSHALL came first) is deleted.
        Raises WriteRefusedError if the manifest cannot be written (the job is dropped
        and its outputs deleted; a flush will be handed out again)."""
        job = self._jobs.pop(result.job_id, None)
        if job is None:
            self._doom_outputs([m.number for m in result.outputs])
            return
        self._job_ranges.pop(job.job_id, None)
        if isinstance(job, FlushJob):
            self._flush_running = False
        try:
            if isinstance(job, FlushJob):
                self._install_flush(job, result)
            else:
                self._install_compaction(job, result)
        except OSError as err:
            self._doom_outputs([m.number for m in result.outputs])
            self.counters.jobs_failed += 1
            raise WriteRefusedError(f"installing job {job.job_id}: {err}", err) from err

    def abandon(self, job: Job, error: BaseException | None = None) -> None:
        """Forget a job that failed or was cancelled, deleting anything it wrote."""
        if self._jobs.pop(job.job_id, None) is None:
            return
        self._job_ranges.pop(job.job_id, None)
        if isinstance(job, FlushJob):
            self._flush_running = False
        self._doom_outputs(job.output_numbers)
        self.counters.jobs_failed += 1
        if error is not None:
            log.warning("storage: %s job %d failed: %s", job.kind, job.job_id, error)

    @property
    def jobs_running(self) -> int:
        return len(self._jobs)

    @property
    def compactions_running(self) -> int:
        return sum(1 for j in self._jobs.values() if isinstance(j, CompactionJob))

    def _install_flush(self, job: FlushJob, result: JobResult) -> None:
        if not self._frozen or self._frozen[0].wal_number != job.wal_number:
            self._discard(result)
            return
        readers = self._open_outputs(result)
        log_number = self._frozen[1].wal_number if len(self._frozen) > 1 else self._mem.wal_number
        edit = VersionEdit(added=[(0, m) for m in result.outputs], log_number=log_number,
                           next_file=self._next_file, last_seq=self._last_seq)
        self._log_and_apply(edit)
        self._add_readers(readers)
        self._to_graveyard([self._frozen.pop(0)])
        self._doom([self._wal.retire(job.wal_number, unlink=False)])
        self._last_flush_ms = self._clock()
        self.counters.flushes += 1
        self.counters.flush_bytes_written += result.bytes_written
        self.counters.flush_seconds += result.seconds
        self.counters.job_cpu_seconds += result.cpu_seconds

    def _install_compaction(self, job: CompactionJob, result: JobResult) -> None:
        live = {(lv, t.number) for lv, t in self._version.tables()}
        if any(tuple(x) not in live for x in job.inputs):
            self._discard(result)
            return
        readers = self._open_outputs(result)
        edit = VersionEdit(added=[(job.output_level, m) for m in result.outputs],
                           deleted=[tuple(x) for x in job.inputs], next_file=self._next_file)
        self._log_and_apply(edit)
        self._add_readers(readers)
        for _, number in job.inputs:
            self._drop_table(number)
        c = self.counters
        c.compactions += 1
        c.compaction_bytes_read += result.bytes_read
        c.compaction_bytes_written += result.bytes_written
        c.compaction_seconds += result.seconds
        c.job_cpu_seconds += result.cpu_seconds
        c.longest_compaction_seconds = max(c.longest_compaction_seconds, result.seconds)

    def _trivial_move(self, plan: picker.Plan) -> bool:
        lv, meta = plan.inputs[0]
        edit = VersionEdit(added=[(plan.output_level, meta)], deleted=[(lv, meta.number)], next_file=self._next_file)
        try:
            self._log_and_apply(edit)
        except OSError as err:
            log.warning("storage: moving table %d to L%d: %s", meta.number, plan.output_level, err)
            return False
        self.counters.trivial_moves += 1
        return True

    def _open_outputs(self, result: JobResult) -> dict[int, TableReader]:
        readers = {}
        try:
            for m in result.outputs:
                readers[m.number] = TableReader(os.path.join(self.directory, table_name(m.number)),
                                                m.number, self._read_stats)
        except (OSError, StorageError):
            for r in readers.values():
                r.close()
            raise
        return readers

    def _discard(self, result: JobResult) -> None:
        self._doom(os.path.join(self.directory, table_name(m.number)) for m in result.outputs)
        self.counters.jobs_discarded += 1

    def _add_readers(self, readers: dict[int, TableReader]) -> None:
        self._readers.update(readers)
        self._table_memory_bytes += sum(r.memory_bytes() for r in readers.values())

    def _drop_table(self, number: int) -> None:
        # The reader is closed when the last iterator using it lets go; the file is
        # deleted by delete_obsolete_files() (POSIX keeps an open file's data alive).
        reader = self._readers.pop(number, None)
        if reader is not None:
            self._table_memory_bytes -= reader.memory_bytes()
        self._doom([os.path.join(self.directory, table_name(number))])

    def _doom_outputs(self, numbers: list[int]) -> None:
        names = [table_name(n) + ext for n in numbers for ext in ("", ".tmp")]
        self._doom(os.path.join(self.directory, name) for name in names)

    def _doom(self, paths: Iterable[str]) -> None:
        with self._doomed_lock:
            self._doomed.extend(paths)

    def delete_obsolete_files(self) -> int:
        """Delete the tables and WAL files the store no longer uses; returns how many.

        Blocking and thread-safe: run it in a worker thread after `install()` and
        `flush_all()` (unlinking a 64 MB file took ~35 ms on the test machine's ext4
        with discard). Files left undeleted are harmless; `open` and `close` remove them."""
        with self._doomed_lock:
            paths, self._doomed = self._doomed, []
        for path in paths:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        return len(paths)

    def housekeeping(self, budget: int = 2000) -> None:
        """Bounded memory clean-up: one step of freeing the oldest flushed memtable no
        iterator reads, `budget` entries' worth of its arena and at least twice as many
        as were written since the last call (a 1 MiB chunk unmapped costs ~30 us).
        Called by write_pending() (once per batch) and next_job(); the server calls it
        when idle too (persistence.run_memtable_freeing).

        The floor in proportion to the writes keeps the memtables waiting here draining
        faster than writes fill the active one: with a fixed 2000 per call, rounds that
        wrote more than that (24 clients pipelining MSETs, 16 KiB read from each per
        round, or one client and 256 KiB reads) left the graveyard growing without bound,
        ~75-125 bytes of RSS per key written that nothing counted."""
        last_seq = self._last_seq
        budget = max(budget, min(2 * (last_seq - self._housekept_seq), MAX_HOUSEKEEPING_BUDGET))
        self._housekept_seq = last_seq
        for mem in list(self._graveyard):
            # references: the graveyard, the copy of it, `mem`, getrefcount's argument;
            # one more means an iterator still reads this memtable: leave it for later
            if sys.getrefcount(mem) > 4:
                continue
            if mem.drain(budget):  # (what memtable_memory() counts shrinks as it goes)
                self._graveyard.remove(mem)
            return

    def _to_graveyard(self, mems: list[Memtable]) -> None:
        """Flushed (or FLUSHALL's) memtables, to be freed by housekeeping()."""
        if not self._graveyard:  # writes made while there was nothing to free owe nothing
            self._housekept_seq = self._last_seq
        self._graveyard += mems

    @property
    def dead_memtables(self) -> int:
        """Flushed memtables housekeeping() has not freed yet."""
        return len(self._graveyard)

    def graveyard_memory(self) -> int:
        """Estimated bytes the flushed memtables not yet freed still hold."""
        return sum(m.approximate_bytes for m in self._graveyard)

    def _log_and_apply(self, edit: VersionEdit) -> None:
        self._manifest.append(edit)
        self._version = self._version.apply(edit)
        if self._manifest.offset > self.options.manifest_max_bytes:
            self._new_manifest()

    def _new_manifest(self) -> None:
        number = self._alloc()
        version = self._version.apply(VersionEdit(next_file=self._next_file, last_seq=self._last_seq))
        try:
            new = ManifestWriter.create(self.directory, number, version)
        except OSError as err:
            log.warning("storage: starting a new manifest: %s (keeping the old one)", err)
            return
        old, self._manifest = self._manifest, new
        old.close()
        try:
            os.unlink(os.path.join(self.directory, old.name))
        except FileNotFoundError:
            pass

    def _alloc(self) -> int:
        number = self._next_file
        self._next_file += 1
        return number

    def _new_job_id(self) -> int:
        self._job_counter += 1
        return self._job_counter

