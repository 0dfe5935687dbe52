"""Storage: the LSM store the keyspace sits on (the only class the server needs).

Writes: `put`/`delete`/`flush_all` append to the WAL buffer and the memtable and return
a sequence number; no I/O happens in them. The server then calls `write_pending()` once
per batch (one write syscall), and runs `sync()` in a worker thread as its policy says
(`options.sync_policy`); under `appendfsync always` a reply waits for `synced_seq >= seq`.

Reads: `get` looks in the memtable, the frozen memtables, then the tables newest first
(bloom-filtered); `iter_range`/`iter_slot`/`scan` merge every source in internal-key order.

Background work: `next_job()` hands out flush and compaction jobs (plain data) that the
server runs outside the event loop (`compaction_worker.run_in_child` in a thread);
`install(result)` applies a finished job (a manifest edit) on the loop's thread, or
`abandon(job)` forgets a failed one. Nothing here blocks on a job.

Every method except `sync()` must be called from one thread (the event loop's).
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
from dataclasses import dataclass
from itertools import chain
from typing import Callable, Iterator

from hypercache.keyslot import SLOT_COUNT
from hypercache.storage.background import BackgroundWork
from hypercache.storage.compaction import merge_newest
from hypercache.storage.errors import StoreLockedError, WriteRefusedError
from hypercache.storage.manifest import NUM_LEVELS, ManifestWriter, Version, VersionEdit
from hypercache.storage.memtable import Memtable
from hypercache.storage.options import StorageOptions
from hypercache.storage.records import (
    KIND_TOMBSTONE, MAX_KIND, SLOT_PREFIX, Record, internal_key, slot_range, user_key,
)
from hypercache.storage.recovery import recover
from hypercache.storage.snapshot import SnapshotInfo, write_snapshot
from hypercache.storage.sstable import ReadStats, TableMeta, TableReader

log = logging.getLogger("hypercache.storage")


@dataclass
class Counters:
    """Event counts since open (for stats())."""

    flushes: int = 0
    flush_bytes_written: int = 0
    compactions: int = 0
    trivial_moves: int = 0
    compaction_bytes_read: int = 0
    compaction_bytes_written: int = 0
    jobs_failed: int = 0
    jobs_discarded: int = 0
    user_bytes_written: int = 0
    bloom_negatives: int = 0
    bloom_false_positives: int = 0
    flush_seconds: float = 0.0  # time jobs took in their worker
    job_cpu_seconds: float = 0.0  # ... and the CPU time they used
    compaction_seconds: float = 0.0
    longest_compaction_seconds: float = 0.0


class Storage(BackgroundWork):
    """One open store directory. Use `Storage.open(path, options)`."""

    def __init__(self, directory: str, options: StorageOptions, lock_fd: int, read_stats: ReadStats,
                 progress: Callable[[int, int], None] | None) -> None:
        self.directory = directory
        self.options = options
        self._clock = options.clock
        self._lock_fd = lock_fd
        self._read_stats = read_stats
        rec = recover(directory, read_stats, progress)
        self._version: Version = rec.version
        self._manifest: ManifestWriter = rec.manifest
        self._readers: dict[int, TableReader] = rec.readers
        self._mem: Memtable = rec.active
        self._frozen: list[Memtable] = rec.frozen  # oldest first
        self._wal = rec.wal
        self._last_seq = rec.last_seq
        self._next_file = rec.next_file
        self.recovery_problems = rec.problems
        self.recovered_records = rec.wal_records
        self._write_error: WriteRefusedError | None = None
        self._fsync_failed = False
        self._closed = False
        self.counters = Counters()
        self._init_background()

    @classmethod
    def open(cls, directory: str, options: StorageOptions | None = None,
             progress: Callable[[int, int], None] | None = None) -> Storage:
        """Open (or create) the store in `directory`, recovering from its manifest and
        WAL. `progress(done, total)` reports bytes of WAL replayed (for LOADING).
        Raises StoreLockedError if another process has it open, CorruptionError if a
        live table is missing or damaged."""
        directory = os.path.abspath(directory)
        os.makedirs(directory, exist_ok=True)
        lock_fd = os.open(os.path.join(directory, "LOCK"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise StoreLockedError(f"{directory} is in use by another process") from None
        try:
            return cls(directory, options or StorageOptions(), lock_fd, ReadStats(), progress)
        except BaseException:
            os.close(lock_fd)
            raise

    # ---- writes ------------------------------------------------------------------------

    def put(self, key: bytes, kind: int, value: bytes, expire_at: int | None = None) -> int:
        """Store `value` (of value type `kind`, 1..255) at `key`; returns the write's seq.
        `expire_at` is ms since the epoch, or None. Raises WriteRefusedError while the
        store cannot write."""
        if self._write_error is not None:
            raise self._refused()
        if not 0 < kind <= MAX_KIND:
            raise ValueError(f"value kind {kind} out of range 1..{MAX_KIND}")
        if expire_at is not None and expire_at <= 0:
            raise ValueError("expire_at must be a positive ms timestamp")
        ikey = internal_key(key)
        seq = self._last_seq = self._last_seq + 1
        self._wal.append_put(seq, ikey, kind, value, expire_at or 0)
        self._mem.write(ikey, kind, value, expire_at, seq)
        self.counters.user_bytes_written += len(key) + len(value)
        return seq

    def lane_write_view(self) -> tuple | None:
        """(memtable entries, WAL buffer, last_seq): what the native write lane
        (hc_lane_set.c) writes PUTs of strings through, as `put` does;
        apply_lane_writes then takes in what it did. None while writes are refused."""
        if self._write_error is not None:
            return None
        return (self._mem.lane_view(), self._wal.buffer, self._last_seq)

    def apply_lane_writes(self, writes: int, user_bytes: int) -> None:
        """Take in `writes` PUTs the native write lane made (seqs last_seq+1 ..): their
        records are in the WAL buffer and the memtable already."""
        if writes:
            seq = self._last_seq = self._last_seq + writes
            self._mem.last_seq = seq
            self._wal.appended(seq)
        self.counters.user_bytes_written += user_bytes

    def delete(self, key: bytes) -> int:
        """Delete `key` (a tombstone; written whether or not the key exists); returns seq."""
        if self._write_error is not None:
            raise self._refused()
        ikey = internal_key(key)
        seq = self._last_seq = self._last_seq + 1
        self._wal.append_delete(seq, ikey)
        self._mem.write(ikey, KIND_TOMBSTONE, b"", None, seq)
        self.counters.user_bytes_written += len(key)
        return seq

    def flush_all(self) -> int:
        """Delete every key (FLUSHALL); returns its seq.

        Atomic through one manifest edit (every table deleted, every WAL so far
        obsolete) that is fsynced here: a crash leaves either all or none of it. The
        edit's fsync blocks for ~1 ms; FLUSHALL is rare."""
        if self._write_error is not None:
            raise self._refused()
        seq = self._last_seq + 1
        number = self._alloc()
        try:
            new_file = self._wal.create_file(number)
        except OSError as err:
            raise WriteRefusedError(f"FLUSHALL: cannot create a WAL file: {err}", err) from err
        dropped = [(lv, t.number) for lv, t in self._version.tables()]
        edit = VersionEdit(deleted=dropped, log_number=number, next_file=self._next_file, last_seq=seq)
        try:
            self._log_and_apply(edit)
        except OSError as err:
            new_file.close()
            os.unlink(new_file.path)
            raise WriteRefusedError(f"FLUSHALL: cannot write the manifest: {err}", err) from err
        self._last_seq = seq
        old_wals = [m.wal_number for m in self._frozen] + [self._mem.wal_number]
        self._wal.switch(new_file, discard_buffer=True)
        self._doom([self._wal.retire(n, unlink=False) for n in old_wals])
        self._wal.append_flushall(seq)
        self._to_graveyard(self._frozen + [self._mem])
        self._mem = Memtable(number)
        self._mem.last_seq = seq
        self._frozen = []
        for _, n in dropped:
            self._drop_table(n)
        return seq

    def write_pending(self) -> int:
        """Hand buffered WAL records to the OS (once per batch, on the loop's thread);
        returns bytes written. Freezes the memtable when it is full. Raises
        WriteRefusedError on an I/O error (then writes are refused until
        `retry_writes()` succeeds; nothing buffered is dropped)."""
        try:
            n = self._wal.write_pending()
        except OSError as err:
            raise self._refuse(err, "writing the WAL") from err
        if self._write_error is not None and not self._fsync_failed:
            self._resume()
        if self._mem.approximate_bytes >= self.options.memtable_size:
            self._freeze_quietly()
        if self._graveyard:
            self.housekeeping()
        return n

    def sync(self) -> int:
        """fsync the WAL (blocking: run it in a worker thread); returns `synced_seq`.

        One call covers every record written before it began. Raises WriteRefusedError
        if the fsync fails; writes are then refused until `retry_writes()` succeeds."""
        try:
            return self._wal.sync()
        except OSError as err:
            self._fsync_failed = True
            raise self._refuse(err, "fsync of the WAL") from err

    def retry_writes(self) -> bool:
        """Try to leave the write-refused state (loop thread); True if writes work again.

        After a failed write the same bytes are written again at the same offset. After
        a failed fsync the file's contents cannot be trusted (the kernel may have
        dropped the dirty pages), so the active memtable is written to a fresh WAL file,
        fsynced, and the old file deleted (this blocks the loop for that write)."""
        if self._write_error is None:
            return True
        try:
            if self._fsync_failed:
                records = sorted(self._mem.entries(), key=lambda kv: kv[1].seq)
                old = self._mem.wal_number
                self._mem.wal_number = self._alloc()
                try:
                    self._wal.relog(self._mem.wal_number, records, self._last_seq)
                except OSError:
                    self._mem.wal_number = old
                    raise
                self._fsync_failed = False
            self._wal.write_pending()
        except OSError as err:
            self._refuse(err, "retrying writes")
            return False
        self._resume()
        if self._mem.approximate_bytes >= self.options.memtable_size:
            self._freeze_quietly()
        return self._write_error is None

    @property
    def writable(self) -> bool:
        """False while writes are refused after an I/O error."""
        return self._write_error is None

    @property
    def write_error(self) -> WriteRefusedError | None:
        return self._write_error

    @property
    def last_seq(self) -> int:
        """The seq of the newest write accepted."""
        return self._last_seq

    @property
    def written_seq(self) -> int:
        """Every write up to this seq has been handed to the OS."""
        return self._wal.written_seq

    @property
    def synced_seq(self) -> int:
        """Every write up to this seq is on stable storage."""
        return self._wal.synced_seq

    def needs_sync(self) -> bool:
        """True if an fsync would make more writes durable."""
        return self._wal.needs_sync()

    @property
    def write_stall(self) -> bool:
        """Advice: flushes or L0 compactions are behind; the server should slow writers."""
        return (len(self._frozen) >= self.options.max_frozen_memtables
                or len(self._version.levels[0]) >= self.options.l0_stall())

    def _refuse(self, err: OSError, doing: str) -> WriteRefusedError:
        """Enter the write-refused state; returns an exception to raise."""
        if self._write_error is None:
            log.error("storage: %s failed (%s); refusing writes until it succeeds", doing, err)
        refused = WriteRefusedError(f"MISCONF Errors {doing}: {os.strerror(err.errno) if err.errno else err}", err)
        self._write_error = refused
        return WriteRefusedError(str(refused), err)

    def _refused(self) -> WriteRefusedError:
        # a fresh exception each time: re-raising one instance would grow its traceback
        err = self._write_error
        return WriteRefusedError(str(err), err.cause if err is not None else None)

    def _resume(self) -> None:
        log.warning("storage: writes work again; accepting writes")
        self._write_error = None

    # ---- memtable rotation -------------------------------------------------------------

    def freeze(self) -> bool:
        """Freeze the active memtable now if it holds anything (its flush job follows);
        True if it did. Raises WriteRefusedError if the WAL cannot be written."""
        if not self._mem:
            return False
        try:
            number = self._alloc()
            self._wal.rotate(number)
        except OSError as err:
            raise self._refuse(err, "rotating the WAL") from err
        self._mem.freeze()
        self._frozen.append(self._mem)
        self._mem = Memtable(number)
        return True

    def _freeze_quietly(self) -> None:
        try:
            self.freeze()
        except WriteRefusedError:
            pass  # logged; writes are refused until retry_writes() rotates

    # ---- reads -------------------------------------------------------------------------

    def get(self, key: bytes) -> Record | None:
        """The live record of `key` (not deleted, not expired), or None.
        Raises CorruptionError if a table block it needs is damaged."""
        ikey = internal_key(key)
        rec = self._mem.get(ikey)
        if rec is None:
            for mem in reversed(self._frozen):
                rec = mem.get(ikey)
                if rec is not None:
                    break
            else:
                rec = self._table_get(ikey)
        if rec is None or rec.kind == KIND_TOMBSTONE:
            return None
        if rec.expire_at is not None and rec.expire_at <= self._clock():
            return None
        return rec

    def _table_get(self, ikey: bytes) -> Record | None:
        for meta in self._version.tables_for_key(ikey):
            reader = self._readers[meta.number]
            if not reader.filter.may_contain(ikey):
                self.counters.bloom_negatives += 1
                continue
            rec = reader.get(ikey)
            if rec is not None:
                return rec
            self.counters.bloom_false_positives += 1
        return None

    def iter_range(self, start: bytes = b"", end: bytes | None = None) -> Iterator[tuple[bytes, Record]]:
        """(internal key, record) of every live key with start <= ikey < end, in order.

        Merges the memtables and every table overlapping the range. Safe to interleave
        with writes (they may or may not be seen); tables compacted away meanwhile stay
        readable until the iterator is dropped."""
        sources: list[Iterator[tuple[bytes, Record]]] = [self._mem.irange(start, end)]
        sources += [m.irange(start, end) for m in reversed(self._frozen)]
        version, readers = self._version, self._readers

        def hits(t: TableMeta) -> bool:
            return t.largest >= start and (end is None or t.smallest < end)

        for t in version.levels[0]:
            if hits(t):
                sources.append(readers[t.number].iter_range(start, end))
        for lv in range(1, NUM_LEVELS):
            tables = [readers[t.number] for t in version.levels[lv] if hits(t)]
            if tables:
                sources.append(chain.from_iterable(r.iter_range(start, end) for r in tables))
        return self._live(merge_newest(sources))

    def _live(self, merged: Iterator[tuple[bytes, Record]]) -> Iterator[tuple[bytes, Record]]:
        now = self._clock()
        for ikey, rec in merged:
            if rec.kind != KIND_TOMBSTONE and (rec.expire_at is None or rec.expire_at > now):
                yield ikey, rec

    def iter_slot(self, slot: int) -> Iterator[tuple[bytes, Record]]:
        """(user key, record) of every live key in cluster slot `slot`, in key order."""
        start, end = slot_range(slot)
        for ikey, rec in self.iter_range(start, end):
            yield ikey[2:], rec

    def count_slot(self, slot: int) -> int:
        """How many live keys slot `slot` holds (CLUSTER COUNTKEYSINSLOT); reads them all."""
        return sum(1 for _ in self.iter_slot(slot))

    def keys_in_slot(self, slot: int, count: int) -> list[bytes]:
        """Up to `count` keys of slot `slot` in order (CLUSTER GETKEYSINSLOT)."""
        out = []
        for key, _ in self.iter_slot(slot):
            if len(out) >= count:
                break
            out.append(key)
        return out

    def scan(self, cursor: bytes = b"", count: int = 10, end: bytes | None = None
             ) -> tuple[bytes | None, list[tuple[bytes, Record]]]:
        """One page of a scan in internal-key order: up to `count` live (user key,
        record) pairs from internal key `cursor` on, and the cursor of the next page
        (None when done). Cursors are internal keys, so a slot's page ends at its end."""
        out = []
        for ikey, rec in self.iter_range(cursor, end):
            if len(out) >= count:
                return ikey, out
            out.append((user_key(ikey), rec))
        return None, out

    def random_key(self, rng: random.Random | None = None) -> bytes | None:
        """Some live user key (RANDOMKEY): the first at or after a random slot, wrapping
        round; None if the store is empty. Not uniform: keys after empty slots weigh more."""
        start = SLOT_PREFIX[(rng or random).randrange(SLOT_COUNT)]
        for ikey, _ in chain(self.iter_range(start), self.iter_range(b"", start)):
            return ikey[2:]
        return None

    def count_keys(self) -> int:
        """Exact count of live keys (DBSIZE); reads the whole store."""
        return sum(1 for _ in self.iter_range())

    def memtable_memory(self) -> int:
        """Estimated bytes held by the active and the frozen memtables, and by flushed
        ones not yet freed (housekeeping() frees them in steps)."""
        n = self._mem.approximate_bytes + sum(m.approximate_bytes for m in self._frozen)
        return n + self.graveyard_memory() if self._graveyard else n

    def table_memory(self) -> int:
        """Estimated bytes the open tables keep in memory (index, filter and properties
        blocks): ~4 MB per GB of 1 KB values with 16 KiB blocks, ~1.7 bytes per key of
        100-byte values; grows with the data. Kept up to date as tables come and go."""
        return self._table_memory_bytes

    def memory_bytes(self) -> int:
        """What the store holds in memory, as far as it is counted: memtables (active,
        frozen, flushed and not yet freed) and the open tables' index and filter blocks."""
        return self.memtable_memory() + self._table_memory_bytes

    def estimated_keys(self) -> int:
        """A cheap upper estimate of the live keys (overwritten versions count twice)."""
        n = len(self._mem) + sum(len(m) for m in self._frozen)
        return n + sum(t.entries - t.tombstones for _, t in self._version.tables())

    # ---- snapshots, stats, closing -----------------------------------------------------

    def snapshot(self, dest: str, durable: bool = True) -> SnapshotInfo:
        """Make `dest` (absent or empty) a point-in-time copy of the store, openable
        with `Storage.open` (SAVE / BGSAVE): the memtable is frozen, live tables and the
        sealed WAL files are hard-linked, and a manifest is written and fsynced there.

        With `durable` the linked WAL files are fsynced here too (blocking: SAVE). For
        BGSAVE pass durable=False and then run `sync()` in a worker thread: it fsyncs
        the same sealed WAL files (hard links share them), after which the snapshot is
        durable. Cost on the calling thread: a few link() calls and 3 small fsyncs."""
        self.freeze()
        wal_numbers = [m.wal_number for m in self._frozen]
        return write_snapshot(self.directory, os.path.abspath(dest), self._version, wal_numbers,
                              self._last_seq, durable)

    def stats(self) -> dict[str, int | float | str]:
        """Counters for INFO storage / persistence (since open, where counted)."""
        c, v, wal = self.counters, self._version, self._wal
        out: dict[str, int | float | str] = {
            "wal_bytes_written": wal.bytes_written,
            "wal_fsyncs": wal.fsyncs,
            "wal_sync_errors": wal.sync_errors,
            "wal_pending_bytes": wal.pending_bytes,
            "wal_files": 1 + len(self._frozen),
            "last_seq": self._last_seq,
            "synced_seq": wal.synced_seq,
            "memtable_bytes": self._mem.approximate_bytes,
            "memtable_entries": len(self._mem),
            "frozen_memtables": len(self._frozen),
            "frozen_memtable_bytes": sum(m.approximate_bytes for m in self._frozen),
            "graveyard_memtables": len(self._graveyard),
            "graveyard_bytes": self.graveyard_memory(),
            "obsolete_files": len(self._doomed),
        }
        total = 0
        for lv in range(NUM_LEVELS):
            size = v.level_bytes(lv)
            total += size
            out[f"level{lv}_tables"] = len(v.levels[lv])
            out[f"level{lv}_bytes"] = size
        deepest = next((lv for lv in range(NUM_LEVELS - 1, -1, -1) if v.levels[lv]), 0)
        live = v.level_bytes(deepest) if deepest else max((t.size for t in v.levels[0]), default=0)
        written = wal.bytes_written + c.flush_bytes_written + c.compaction_bytes_written
        out.update(
            tables=sum(len(x) for x in v.levels),
            table_bytes=total,
            flushes=c.flushes,
            flush_bytes_written=c.flush_bytes_written,
            compactions=c.compactions,
            trivial_moves=c.trivial_moves,
            compaction_bytes_read=c.compaction_bytes_read,
            compaction_bytes_written=c.compaction_bytes_written,
            jobs_running=len(self._jobs),
            compactions_running=self.compactions_running,
            flush_seconds=round(c.flush_seconds, 2),
            compaction_seconds=round(c.compaction_seconds, 2),
            longest_compaction_seconds=round(c.longest_compaction_seconds, 2),
            job_cpu_seconds=round(c.job_cpu_seconds, 2),
            table_memory_bytes=self.table_memory(),
            jobs_failed=c.jobs_failed,
            user_bytes_written=c.user_bytes_written,
            bytes_written=written,
            bytes_read=self._read_stats.bytes_read + c.compaction_bytes_read,
            write_amplification=round(written / c.user_bytes_written, 3) if c.user_bytes_written else 0.0,
            space_amplification=round(total / live, 3) if live else 0.0,
            sstable_reads=self._read_stats.block_reads,
            sstable_bytes_read=self._read_stats.bytes_read,
            bloom_negatives=c.bloom_negatives,
            bloom_false_positives=c.bloom_false_positives,
            write_stall=int(self.write_stall),
            write_error=str(self._write_error or ""),
        )
        return out

    def close(self) -> None:
        """Write and fsync what is buffered, then close every file and the LOCK.
        (The memtables are not flushed: the next open replays their WAL files.)"""
        if self._closed:
            return
        self._closed = True
        try:
            self._wal.write_pending()
            self._wal.sync()
        except OSError as err:
            log.error("storage: closing %s: %s (unsynced writes may be lost)", self.directory, err)
        finally:
            try:
                self._wal.close()
            except OSError:
                pass
            self._manifest.close()
            for r in self._readers.values():
                r.close()
            self._readers.clear()
            self._table_memory_bytes = 0
            self._graveyard.clear()
            self.delete_obsolete_files()
            os.close(self._lock_fd)

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
