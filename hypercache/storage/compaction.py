"""Background jobs as pure functions over file paths: flush a WAL, merge tables.

A job is plain data (it round-trips through JSON), so it can run in this process, in a
worker thread, or in a child process (`compaction_worker`), none of which touches the
engine: a job only reads its input files and writes new tables. The engine installs
the result (a manifest edit) on its own thread afterwards, or discards it if the store
changed meanwhile (a FLUSHALL, say).

- FlushJob: turn a frozen memtable into an L0 table. The input is the memtable's WAL
  file, which holds exactly its writes, so nothing is copied out of the server's
  memory and the work happens entirely outside the event loop's process.
- CompactionJob: merge tables of level L (and the overlapping ones of L+1) into new
  tables of the output level, keeping only the newest version of each key, turning
  expired entries into tombstones, and dropping tombstones (and expired entries) when
  no deeper level can hold an older version of the key.

Both build their tables in C (native flush_table and compact_table, over the mapped
input files); the Python versions (_run_flush_py, _run_compaction_py) stay as the
references the tests compare them with, and the flush falls back to its Python version
for a WAL file that does not read cleanly to its end.
"""

from __future__ import annotations

import heapq
import mmap
import os
from bisect import bisect_right
import time
from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator, Union

from hypercache.native import compact_table, flush_entries, flush_table
from hypercache.storage import bloom, wal as walmod
from hypercache.storage.errors import CorruptionError, JobFailedError
from hypercache.storage.records import KIND_TOMBSTONE, Record
from hypercache.storage.block import ENTRY_HEAD
from hypercache.storage.sstable import (
    VALUE_HEAD, VALUE_HEAD_SIZE, RawEntry, TableBuilder, TableMeta, TableReader, table_name,
)


@dataclass
class FlushJob:
    """Build an L0 table from one WAL file (a frozen memtable)."""

    job_id: int
    directory: str
    wal_number: int
    number: int  # the output table's file number
    expect_last_seq: int  # the memtable's last seq: the WAL must end exactly there
    now_ms: int
    block_size: int = 4096
    bloom_bits: int = 10
    kind: str = "flush"

    @property
    def output_numbers(self) -> list[int]:
        return [self.number]


@dataclass
class CompactionJob:
    """Merge `inputs` ((level, number) pairs) into tables at `output_level`."""

    job_id: int
    directory: str
    level: int
    output_level: int
    inputs: list[tuple[int, int]]
    numbers: list[int]  # file numbers reserved for outputs, used in order
    target_file_size: int
    drop_tombstones: bool
    now_ms: int
    block_size: int = 4096
    bloom_bits: int = 10
    reason: str = ""
    kind: str = "compaction"

    @property
    def output_numbers(self) -> list[int]:
        return self.numbers


Job = Union[FlushJob, CompactionJob]


@dataclass
class JobResult:
    """What a job produced (the tables are complete and fsynced)."""

    job_id: int
    kind: str
    outputs: list[TableMeta] = field(default_factory=list)
    bytes_read: int = 0
    bytes_written: int = 0
    entries_in: int = 0
    entries_out: int = 0
    seconds: float = 0.0  # wall time of the job in its worker
    cpu_seconds: float = 0.0  # ... and the CPU time it used (less: waiting for the disk or a core)


def job_to_json(job: Job) -> dict:
    """A job as JSON-ready data (what a worker process reads)."""
    return asdict(job)


def job_from_json(d: dict) -> Job:
    """The job `job_to_json` described."""
    d = dict(d)
    if d["kind"] == "flush":
        return FlushJob(**d)
    d["inputs"] = [tuple(x) for x in d["inputs"]]
    return CompactionJob(**d)


def result_to_json(r: JobResult) -> dict:
    """A result as JSON-ready data (what a worker process writes back)."""
    d = asdict(r)
    d["outputs"] = [m.to_json() for m in r.outputs]
    return d


def result_from_json(d: dict) -> JobResult:
    """The result `result_to_json` described."""
    d = dict(d)
    d["outputs"] = [TableMeta.from_json(m) for m in d["outputs"]]
    return JobResult(**d)


def run_job(job: Job) -> JobResult:
    """Run a job to completion in the calling process (blocking, CPU-bound).

    On failure every output written so far is deleted and JobFailedError is raised."""
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        result = _run_flush(job) if isinstance(job, FlushJob) else _run_compaction(job)
    except JobFailedError:
        raise
    except Exception as err:  # OSError (disk full ...), CorruptionError in an input
        raise JobFailedError(f"{job.kind} job {job.job_id}: {type(err).__name__}: {err}") from err
    result.seconds = time.perf_counter() - start
    result.cpu_seconds = time.process_time() - cpu_start
    return result


def _run_flush(job: FlushJob) -> JobResult:
    """The flush in C (native flush_table) when the WAL reads cleanly to its end;
    the Python path otherwise, which says what is wrong with it as it always has."""
    path = os.path.join(job.directory, walmod.wal_name(job.wal_number))
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return _run_flush_py(job)
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            records, last_seq, valid, stop, *_, table = flush_table(
                data, job.block_size, job.now_ms, bloom.table_error_rate(job.bloom_bits))
    if stop:
        return _run_flush_py(job)
    if records and last_seq != job.expect_last_seq:
        raise JobFailedError(
            f"flush of WAL {job.wal_number}: the file does not match its memtable "
            f"(ends at seq {last_seq}, expected {job.expect_last_seq}; no damage)"
        )
    result = JobResult(job.job_id, job.kind, bytes_read=valid, entries_in=records)
    if table is None:  # nothing left to write (a FLUSHALL last)
        return result
    _write_built(job, job.number, table, result)
    return result


def _write_built(job: Job, number: int, table: tuple, result: JobResult) -> None:
    """Write a table body built in C (flush_table, compact_table) as table `number`
    and count it in `result`; a failed write leaves no file behind."""
    builder = TableBuilder(os.path.join(job.directory, table_name(number)), number, job.block_size, job.bloom_bits)
    try:
        builder.add_built(*table)
        meta = builder.finish()
    except BaseException:
        builder.abandon()
        raise
    result.outputs.append(meta)
    result.entries_out += meta.entries
    result.bytes_written += meta.size


def _run_flush_py(job: FlushJob) -> JobResult:
    """The flush through newest_records and _write_tables (the reference for flush_table)."""
    path = os.path.join(job.directory, walmod.wal_name(job.wal_number))
    latest, info = walmod.newest_records(path)
    if info.problem is not None or (info.records and info.last_seq != job.expect_last_seq):
        raise JobFailedError(
            f"flush of WAL {job.wal_number}: the file does not match its memtable "
            f"(ends at seq {info.last_seq}, expected {job.expect_last_seq}; {info.problem or 'no damage'})"
        )
    result = JobResult(job.job_id, job.kind, bytes_read=info.valid_length, entries_in=info.records)
    keys = sorted(latest)

    def batches() -> Iterator[list[RawEntry]]:  # encoded in C, popped from `latest` as they go
        for lo in range(0, len(keys), _FLUSH_BATCH):
            yield flush_entries(keys[lo : lo + _FLUSH_BATCH], latest)

    _write_tables(job, batches(), [job.number], 1 << 62, False, job.now_ms, result)
    return result


_FLUSH_BATCH = 4096  # keys encoded at a time by a flush


def merge_newest(sources: Iterable[Iterator[tuple[bytes, Record]]]) -> Iterator[tuple[bytes, Record]]:
    """Merge sorted (ikey, record) streams, keeping only the newest record of each key."""
    last = None
    for ikey, record in heapq.merge(*sources, key=lambda kv: (kv[0], -kv[1].seq)):
        if ikey != last:
            last = ikey
            yield ikey, record


def merge_batches(sources: list[Iterator[list[RawEntry]]]) -> Iterator[list[RawEntry]]:
    """Merge sorted streams of RawEntry batches into sorted batches (every version of
    a key kept, newest first). Each round takes, from every stream, the entries up to
    the smallest last key among the streams' current batches (no stream can hold a
    smaller key later) and sorts them in C: timsort merges the runs it is given."""
    current: list[list] = []  # [batch, position, stream]
    for src in sources:
        batch = _next_batch(src)
        if batch is not None:
            current.append([batch, 0, src])
    while current:
        if len(current) == 1:
            batch, pos, src = current[0]
            yield batch[pos:] if pos else batch
            for batch in src:
                if batch:
                    yield batch
            return
        bound = (min(c[0][-1][0] for c in current), 1)  # sorts after every entry of that key
        window: list[RawEntry] = []
        for c in current:
            batch, pos = c[0], c[1]
            j = bisect_right(batch, bound, pos)
            if j > pos:
                window += batch[pos:j] if pos or j < len(batch) else batch
                c[1] = j
        window.sort()
        yield window
        refilled = []
        for c in current:
            if c[1] < len(c[0]):
                refilled.append(c)
                continue
            batch = _next_batch(c[2])
            if batch is not None:
                c[0], c[1] = batch, 0
                refilled.append(c)
        current = refilled


def _next_batch(src: Iterator[list[RawEntry]]) -> list[RawEntry] | None:
    """The stream's next non-empty batch, or None at its end."""
    for batch in src:
        if batch:
            return batch
    return None


def _run_compaction(job: CompactionJob) -> JobResult:
    """The merge in C (native compact_table) over the input tables' mapped files, one
    output table per call."""
    result = JobResult(job.job_id, job.kind)
    readers: list[TableReader] = []
    maps: list[mmap.mmap] = []
    try:
        for _level, number in job.inputs:
            readers.append(TableReader(os.path.join(job.directory, table_name(number)), number))
            maps.append(mmap.mmap(readers[-1].fileno(), 0, access=mmap.ACCESS_READ))
        result.entries_in = sum(r.prop_int(b"entries") for r in readers)
        inputs = [(m, r.data_handles()) for m, r in zip(maps, readers)]
        result.bytes_read = sum(size for _, handles in inputs for _, size in handles)
        cursors = [[0, 0] for _ in inputs]
        last: bytes | None = None
        error_rate = bloom.table_error_rate(job.bloom_bits)
        try:
            while True:
                try:
                    table, last = compact_table(inputs, cursors, last, job.target_file_size, job.block_size,
                                                job.now_ms, job.drop_tombstones, error_rate)
                except ValueError as err:
                    if len(err.args) == 2 and isinstance(err.args[0], int):  # (input, what is wrong)
                        which, message = err.args
                        raise CorruptionError(message, readers[which].path) from None
                    raise
                if table is None:
                    break
                used = len(result.outputs)
                if used == len(job.numbers):
                    raise JobFailedError(f"job {job.job_id} ran out of reserved file numbers")
                _write_built(job, job.numbers[used], table, result)
        except BaseException:
            remove_outputs(job.directory, [m.number for m in result.outputs])
            result.outputs.clear()
            raise
    finally:
        for m in maps:
            m.close()
        for r in readers:
            r.close()
    return result


def _run_compaction_py(job: CompactionJob) -> JobResult:
    """The merge through merge_batches and _write_tables (the reference for compact_table)."""
    result = JobResult(job.job_id, job.kind)
    readers = []
    try:
        for _level, number in job.inputs:
            readers.append(TableReader(os.path.join(job.directory, table_name(number)), number))
        result.entries_in = sum(r.prop_int(b"entries") for r in readers)
        merged = merge_batches([r.iter_entries() for r in readers])
        _write_tables(job, merged, job.numbers, job.target_file_size, job.drop_tombstones, job.now_ms, result)
        result.bytes_read = sum(r.stats.bytes_read for r in readers)
    finally:
        for r in readers:
            r.close()
    return result


def _write_tables(
    job: Job,
    batches: Iterable[list[RawEntry]],
    numbers: list[int],
    target_size: int,
    drop_tombstones: bool,
    now_ms: int,
    result: JobResult,
) -> None:
    """Write the sorted `batches` into tables numbered from `numbers`, split near
    `target_size`, keeping only the first (newest) entry of each key. Expired entries
    become tombstones; tombstones go if `drop_tombstones`."""
    builder: TableBuilder | None = None
    used = 0
    last = None
    try:
        for batch in batches:
            keep: list[RawEntry] = []
            append = keep.append
            for e in batch:
                ikey = e[0]
                if ikey == last:
                    continue  # an older version
                last = ikey
                kind = e[2]
                if kind != KIND_TOMBSTONE:
                    expire_at = e[3]
                    if not expire_at or expire_at > now_ms:
                        append(e)
                        continue
                    e = _tombstone(ikey, -e[1])  # expired
                if not drop_tombstones:
                    append(e)
            i, n = 0, len(keep)
            while i < n:
                if builder is None:
                    if used == len(numbers):
                        raise JobFailedError(f"job {job.job_id} ran out of reserved file numbers")
                    builder = TableBuilder(os.path.join(job.directory, table_name(numbers[used])),
                                           numbers[used], job.block_size, job.bloom_bits)
                    used += 1
                j = builder.add_entries(keep, i, target_size)
                result.entries_out += j - i
                i = j
                if builder.estimated_size() >= target_size:
                    result.outputs.append(builder.finish())
                    builder = None
        if builder is not None:
            result.outputs.append(builder.finish())
            builder = None
    except BaseException:
        if builder is not None:
            builder.abandon()
        remove_outputs(job.directory, [m.number for m in result.outputs])
        result.outputs.clear()
        raise
    result.bytes_written = sum(m.size for m in result.outputs)


def _tombstone(ikey: bytes, seq: int) -> RawEntry:
    return (ikey, -seq, KIND_TOMBSTONE, 0,
            ENTRY_HEAD.pack(len(ikey), VALUE_HEAD_SIZE) + ikey + VALUE_HEAD.pack(KIND_TOMBSTONE, seq, 0))


def remove_outputs(directory: str, numbers: Iterable[int]) -> None:
    """Delete the tables (and temporary files) a job wrote or may have written."""
    for n in numbers:
        for name in (table_name(n), table_name(n) + ".tmp"):
            try:
                os.unlink(os.path.join(directory, name))
            except FileNotFoundError:
                pass
