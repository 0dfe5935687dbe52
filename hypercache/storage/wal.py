"""The write-ahead log: every write is appended here before it is acknowledged.

Records are framed by `logfile` (CRC-32 + length + type); their payloads are

    PUT       seq u64 | kind u8 | expire_at u64 (0 = none) | key_len u32 | key | value
    DELETE    seq u64 | key
    FLUSHALL  seq u64

(little-endian, keys are internal keys). docs/formats.md has the full layout.

Group commit: appends go to an in-memory buffer (cheap, on the event loop's thread);
`write_pending()` hands the buffer to the OS in one write (also on the loop's thread,
once per batch of commands); `sync()` is the blocking fsync the server runs in a
worker thread. One fsync covers every record written before it began, from every
connection: `synced_seq` says how far that is, so a reply under `appendfsync always`
waits until `synced_seq >= its seq`.

One WAL file covers one memtable: when the memtable is frozen the WAL is rotated, and
the old file is deleted (`retire`) once its memtable is safely in an SSTable.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from typing import Callable

from hypercache.storage.errors import CorruptionError
from hypercache.native import wal_newest
from hypercache.storage.logfile import LogReader, log_problem
from hypercache.storage.records import KIND_TOMBSTONE, Record

log = logging.getLogger("hypercache.storage")

REC_PUT = 1
REC_DELETE = 2
REC_FLUSHALL = 3

# crc | length, type | seq, kind, expire_at, key_len   (the payload follows type)
_CRC = struct.Struct("<I")
_PUT_HEAD = struct.Struct("<IBQBQI")
_DEL_HEAD = struct.Struct("<IBQ")
_PUT_FIELDS = struct.Struct("<QBQI")
_SEQ = struct.Struct("<Q")
_PUT_FIXED = _PUT_FIELDS.size  # 21 bytes of payload before the key

POLICIES = ("always", "everysec", "no", "interval")


def wal_name(number: int) -> str:
    return f"{number:06d}.wal"


@dataclass(frozen=True)
class SyncPolicy:
    """When the WAL is fsynced: Redis's appendfsync policies plus the seed's interval.

    This is data for the server layer, which owns the timer and the worker thread:
    - always:   a write's reply waits until `synced_seq` covers it (group commit);
    - everysec: sync once a second, replies do not wait;
    - interval: sync every `interval_ms` (storage.wal_sync_interval), replies do not wait;
    - no:       never fsync; the OS writes back when it likes.
    """

    mode: str = "everysec"
    interval_ms: int = 10

    def __post_init__(self) -> None:
        if self.mode not in POLICIES:
            raise ValueError(f"unknown appendfsync policy {self.mode!r}")
        if self.interval_ms <= 0:
            raise ValueError("interval_ms must be positive")

    @classmethod
    def from_config(cls, appendfsync: str, wal_sync_interval_ms: int = 10) -> SyncPolicy:
        """The policy named by the config's `appendfsync` and `wal_sync_interval_ms`."""
        return cls(appendfsync.lower(), wal_sync_interval_ms)

    @property
    def reply_waits_for_sync(self) -> bool:
        """True when a write's reply must wait for the fsync that covers it."""
        return self.mode == "always"

    @property
    def sync_period_s(self) -> float | None:
        """How often the syncer runs: 0 = as soon as there is something to sync,
        None = never."""
        return {"always": 0.0, "everysec": 1.0, "no": None}.get(self.mode, self.interval_ms / 1000)


@dataclass
class ReplayInfo:
    """What reading one WAL file found."""

    path: str
    records: int = 0
    last_seq: int = 0  # the largest seq seen
    valid_length: int = 0
    file_size: int = 0
    problem: str | None = None  # why reading stopped before the end of the file

    @property
    def dropped_bytes(self) -> int:
        return self.file_size - self.valid_length


# apply(record type, seq, internal key or None, record or None)
ApplyFn = Callable[[int, int, "bytes | None", "Record | None"], None]


def replay(
    path: str,
    apply: ApplyFn,
    repair: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ReplayInfo:
    """Feed every complete record of the WAL at `path` to `apply`, in order.

    A torn or corrupt tail ends the replay; with `repair` the file is truncated to the
    last complete record and a warning is logged (it is never a reason to refuse to
    start). `progress(bytes_read)` is called every few MB.
    """
    info = ReplayInfo(path)
    reader = LogReader(path)
    next_report = 4 << 20
    put_fields, seq_of = _PUT_FIELDS.unpack_from, _SEQ.unpack_from
    for body, end in reader.bodies():
        rtype = body[4]
        if rtype == REC_PUT:
            seq, kind, expire_at, klen = put_fields(body, 5)
            ks = 5 + _PUT_FIXED
            apply(rtype, seq, body[ks : ks + klen], Record(kind, body[ks + klen :], expire_at or None, seq))
        elif rtype == REC_DELETE:
            seq = seq_of(body, 5)[0]
            apply(rtype, seq, body[13:], Record(KIND_TOMBSTONE, b"", None, seq))
        elif rtype == REC_FLUSHALL:
            seq = seq_of(body, 5)[0]
            apply(rtype, seq, None, None)
        else:
            raise CorruptionError(f"unknown WAL record type {rtype} ending at offset {end}", path)
        info.records += 1
        if seq > info.last_seq:
            info.last_seq = seq
        if progress is not None and end >= next_report:
            progress(end)
            next_report = end + (4 << 20)
    info.valid_length, info.file_size, info.problem = reader.valid_length, reader.file_size, reader.problem
    if info.problem is not None and repair:
        log.warning(
            "WAL %s: %s; truncating %d bytes after the last complete record (offset %d, %d records kept)",
            path, info.problem, info.dropped_bytes, info.valid_length, info.records,
        )
        with open(path, "r+b") as fh:
            fh.truncate(info.valid_length)
            fh.flush()
            os.fsync(fh.fileno())
    return info


def newest_records(path: str) -> tuple[dict[bytes, tuple[int, int, int, bytes, int]], ReplayInfo]:
    """For a flush: the newest record of every key in the WAL at `path`, as
    {ikey: (seq, kind, expire_at, body, value_start)} (value = body[value_start:];
    a DELETE is kind 0 with an empty value), FLUSHALL clearing what came before.
    Reads as `replay(repair=False)` does: stops at a torn or corrupt tail
    (`info.problem` says why) and never changes the file. The records are read in C
    (native wal_newest), with LogReader's problem texts; a record too short for its
    type's fields is left to the Python reading (_newest_records_py), which raises."""
    info = ReplayInfo(path)
    with open(path, "rb") as fh:
        size = info.file_size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return {}, info
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            latest, records, last_seq, valid, stop, pos, a, b = wal_newest(data)
    if stop == _STOP_SHORT_FIELDS:
        return _newest_records_py(path)
    info.records, info.last_seq, info.valid_length = records, last_seq, valid
    if stop == _STOP_UNKNOWN_TYPE:
        raise CorruptionError(f"unknown WAL record type {a} ending at offset {pos}", path)
    info.problem = log_problem(stop, pos, a, b)
    return latest, info


_STOP_UNKNOWN_TYPE, _STOP_SHORT_FIELDS = 5, 6  # wal_newest's `stop` (hc_wal.h)


def _newest_records_py(path: str) -> tuple[dict[bytes, tuple[int, int, int, bytes, int]], ReplayInfo]:
    """newest_records read by LogReader in Python (the reference for the C reading)."""
    info = ReplayInfo(path)
    reader = LogReader(path)
    latest: dict[bytes, tuple[int, int, int, bytes, int]] = {}
    put_fields, seq_of = _PUT_FIELDS.unpack_from, _SEQ.unpack_from
    ks = 5 + _PUT_FIXED
    seq = 0
    records = 0
    for body, end in reader.bodies():
        rtype = body[4]
        if rtype == REC_PUT:
            seq, kind, expire_at, klen = put_fields(body, 5)
            latest[body[ks : ks + klen]] = (seq, kind, expire_at, body, ks + klen)
        elif rtype == REC_DELETE:
            seq = seq_of(body, 5)[0]
            latest[body[13:]] = (seq, KIND_TOMBSTONE, 0, b"", 0)
        elif rtype == REC_FLUSHALL:
            seq = seq_of(body, 5)[0]
            latest.clear()
        else:
            raise CorruptionError(f"unknown WAL record type {rtype} ending at offset {end}", path)
        records += 1
        if seq > info.last_seq:
            info.last_seq = seq
    info.records = records
    info.valid_length, info.file_size, info.problem = reader.valid_length, reader.file_size, reader.problem
    return latest, info


class _WalFile:
    """One open WAL file: where the next write goes and what it holds."""

    def __init__(self, path: str, number: int, offset: int) -> None:
        self.path = path
        self.number = number
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        self.offset = offset  # length of the complete records written so far
        self.retired = False  # its memtable is in a table: the file is deleted

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Wal:
    """The WAL writer: a buffer, the current file, and files sealed but not yet synced.

    Threads: every method except `sync()` is called from one thread (the event loop's);
    `sync()` may run concurrently in a worker thread. A lock guards what both touch.
    """

    def __init__(self, directory: str, number: int, offset: int = 0) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._current = _WalFile(os.path.join(directory, wal_name(number)), number, offset)
        self._sealed: list[_WalFile] = []  # older files, open until a sync covers them
        self._buf = bytearray()
        self._buf_seq = 0  # seq of the last record in the buffer
        self._written_seq = 0  # every record up to here has been handed to the OS
        self._synced_seq = 0  # ... and up to here is on stable storage
        self._syncing = 0  # sync() calls in progress (they hold fds of sealed files)
        self.bytes_written = 0
        self.fsyncs = 0
        self.sync_errors = 0

    # ---- appends (loop thread) ----------------------------------------------------------

    def append_put(self, seq: int, ikey: bytes, kind: int, value: bytes, expire_at: int) -> None:
        """Buffer a PUT record (expire_at 0 = no TTL)."""
        head = _PUT_HEAD.pack(_PUT_FIXED + len(ikey) + len(value), REC_PUT, seq, kind, expire_at, len(ikey)) + ikey
        buf = self._buf
        buf += _CRC.pack(zlib.crc32(value, zlib.crc32(head)))  # no copy of value just to checksum it
        buf += head
        buf += value
        self._buf_seq = seq

    def append_delete(self, seq: int, ikey: bytes) -> None:
        """Buffer a DELETE record."""
        body = _DEL_HEAD.pack(8 + len(ikey), REC_DELETE, seq) + ikey
        self._buf += _CRC.pack(zlib.crc32(body))
        self._buf += body
        self._buf_seq = seq

    def append_flushall(self, seq: int) -> None:
        """Buffer a FLUSHALL record."""
        body = _DEL_HEAD.pack(8, REC_FLUSHALL, seq)
        self._buf += _CRC.pack(zlib.crc32(body)) + body
        self._buf_seq = seq

    @property
    def buffer(self) -> bytearray:
        """The buffer of records not yet handed to the OS (a new one after each
        write_pending): the native write lane appends PUT records to it as append_put
        would, then `appended` records their last seq."""
        return self._buf

    def appended(self, seq: int) -> None:
        """Records up to `seq` were appended to `buffer` by the native write lane."""
        self._buf_seq = seq

    @property
    def pending_bytes(self) -> int:
        """Bytes buffered and not yet handed to the OS."""
        return len(self._buf)

    def write_pending(self) -> int:
        """Hand the buffer to the OS; returns the bytes written.

        On an OSError (ENOSPC, EIO, EFBIG) the buffer is kept whole and the file's
        logical end does not move, so a later call rewrites the same bytes from the same
        offset: a partial write leaves no gap or duplicate behind it.
        """
        if not self._buf:
            return 0
        cur = self._current
        view = memoryview(self._buf)
        done = 0
        try:
            while done < len(view):
                done += os.pwrite(cur.fd, view[done:], cur.offset + done)
        finally:
            view.release()
        with self._lock:
            cur.offset += done
            self._written_seq = self._buf_seq
        self.bytes_written += done
        self._buf = bytearray()
        return done

    # ---- durability (any thread) ---------------------------------------------------------

    @property
    def written_seq(self) -> int:
        return self._written_seq

    @property
    def synced_seq(self) -> int:
        """Every record with seq <= this is on stable storage."""
        return self._synced_seq

    def needs_sync(self) -> bool:
        """True if some written record is not yet covered by an fsync."""
        return self._written_seq > self._synced_seq or any(f.fd >= 0 for f in self._sealed)

    def sync(self) -> int:
        """fsync every file holding written records; returns the new `synced_seq`.

        Blocking: meant for a worker thread. Raises OSError if an fsync fails, in which
        case `synced_seq` does not move.
        """
        with self._lock:
            files = [f for f in self._sealed if f.fd >= 0] + [self._current]
            upto = self._written_seq
            if upto <= self._synced_seq and len(files) == 1:
                return self._synced_seq
            self._syncing += 1
        try:
            for f in files:
                os.fsync(f.fd)
        except OSError:
            with self._lock:
                self._syncing -= 1
                self.sync_errors += 1
            raise
        with self._lock:
            self._syncing -= 1
            self.fsyncs += len(files)
            if upto > self._synced_seq:
                self._synced_seq = upto
            for f in files[:-1]:  # sealed files are complete: once synced, close them
                if f in self._sealed:
                    self._sealed.remove(f)
                    f.close()
            self._close_retired()
        return self._synced_seq

    # ---- files (loop thread) -------------------------------------------------------------

    @property
    def number(self) -> int:
        """The number of the file being appended to."""
        return self._current.number

    @property
    def file_offset(self) -> int:
        return self._current.offset

    def rotate(self, new_number: int) -> int:
        """Seal the current file (after writing the buffer out) and continue in a new
        one; returns the sealed file's number. Raises OSError if a write fails."""
        self.write_pending()
        return self.switch(self.create_file(new_number))

    def create_file(self, number: int) -> _WalFile:
        """Create (empty) the WAL file `number`, to `switch` to later."""
        path = os.path.join(self.directory, wal_name(number))
        f = _WalFile(path, number, 0)
        try:
            os.ftruncate(f.fd, 0)
        except OSError:
            f.close()
            raise
        return f

    def switch(self, new: _WalFile, discard_buffer: bool = False) -> int:
        """Continue in `new`; the current file is sealed. With `discard_buffer` the
        unwritten records are dropped (FLUSHALL: they are superseded). Returns the
        sealed file's number."""
        if discard_buffer:
            self._buf = bytearray()
        elif self._buf:
            raise RuntimeError("switch with unwritten records")
        with self._lock:
            old = self._current
            self._sealed.append(old)
            self._current = new
        return old.number

    def relog(self, new_number: int, records: list[tuple[bytes, Record]], last_seq: int) -> int:
        """Replace the current file by a new one holding `records` (the state of its
        memtable, in seq order), written and fsynced before the switch. For recovery
        from a failed fsync, after which the old file's contents cannot be trusted.
        Returns the old file's number (deleted here)."""
        saved = self._buf
        self._buf = bytearray()
        new = self.create_file(new_number)
        try:
            for ikey, r in records:
                if r.kind == KIND_TOMBSTONE:
                    self.append_delete(r.seq, ikey)
                else:
                    self.append_put(r.seq, ikey, r.kind, r.value, r.expire_at or 0)
            data, done = self._buf, 0
            while done < len(data):
                done += os.pwrite(new.fd, data[done:], done)
            os.fsync(new.fd)
            with self._lock:
                sealed = [f for f in self._sealed if f.fd >= 0 and not f.retired]
            for f in sealed:
                os.fsync(f.fd)
        except OSError:
            self._buf = saved
            new.close()
            os.unlink(new.path)
            raise
        self._buf = bytearray()
        new.offset = done
        with self._lock:
            old = self._current
            old.retired = True
            self._sealed.append(old)
            self._current = new
            self._written_seq = self._synced_seq = max(self._synced_seq, last_seq)
            for f in sealed:
                self._sealed.remove(f)
                f.close()
            self._close_retired()
        try:
            os.unlink(old.path)
        except FileNotFoundError:
            pass
        return old.number

    def set_seq(self, seq: int) -> None:
        """After recovery: every record up to `seq` is already in the files."""
        self._buf_seq = self._written_seq = self._synced_seq = seq

    def retire(self, number: int, unlink: bool = True) -> str:
        """The WAL file `number` is no longer needed: close it (after any sync using it)
        and, with `unlink`, delete it. Returns its path. (Deleting a big file can take
        tens of ms on some filesystems: the engine defers it to a worker thread.)"""
        path = os.path.join(self.directory, wal_name(number))
        with self._lock:
            for f in self._sealed:
                if f.number == number:
                    f.retired = True
            self._close_retired()
        if unlink:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        return path

    def _close_retired(self) -> None:
        if self._syncing:
            return
        for f in [f for f in self._sealed if f.retired]:
            self._sealed.remove(f)
            f.close()

    def sealed_numbers(self) -> list[int]:
        """Numbers of sealed files not yet retired."""
        with self._lock:
            return [f.number for f in self._sealed if not f.retired]

    def close(self) -> None:
        """Close every file (the buffer is written out first if possible)."""
        try:
            self.write_pending()
        finally:
            with self._lock:
                for f in self._sealed:
                    f.close()
                self._sealed.clear()
                self._current.close()
