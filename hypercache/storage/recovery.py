"""Opening a store: the manifest's tables plus a replay of the WAL files still live.

Order of work (docs/formats.md, "Recovery"):
1. CURRENT -> manifest -> Version (a torn last edit is ignored: it never took effect);
2. open every live table (a missing or damaged table is an error: refusing to start is
   better than serving a store with a hole in it);
3. replay, oldest first, every WAL numbered >= the version's log_number, one memtable per
   file; a torn or corrupt tail is truncated with a warning (never a reason to refuse);
   a FLUSHALL record drops everything older, tables included;
4. write a fresh manifest (the next file number and last sequence now cover everything
   found on disk), point CURRENT at it, and delete files nothing refers to.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Callable

from hypercache.storage import wal as walmod
from hypercache.storage.errors import CorruptionError
from hypercache.storage.manifest import ManifestWriter, Version, VersionEdit, load_version
from hypercache.storage.memtable import Memtable
from hypercache.storage.records import Record
from hypercache.storage.sstable import ReadStats, TableReader, table_name

log = logging.getLogger("hypercache.storage")

_NAME = re.compile(r"^(?:(\d+)\.(sst|wal)|MANIFEST-(\d+))$")

# progress(bytes of WAL replayed, bytes of WAL to replay)
Progress = Callable[[int, int], None]


@dataclass
class Recovered:
    """Everything the engine starts from."""

    version: Version
    manifest: ManifestWriter
    readers: dict[int, TableReader]
    frozen: list[Memtable]
    active: Memtable
    wal: walmod.Wal
    last_seq: int
    next_file: int
    wal_records: int = 0
    problems: list[str] = field(default_factory=list)


def parse_name(name: str) -> tuple[str, int] | None:
    """('sst' | 'wal' | 'manifest', number) for a store file name, else None."""
    m = _NAME.match(name)
    if m is None:
        return None
    if m.group(3) is not None:
        return "manifest", int(m.group(3))
    return m.group(2), int(m.group(1))


def recover(directory: str, stats: ReadStats, progress: Progress | None = None) -> Recovered:
    """Open the store in `directory` (created if empty). Caller holds the LOCK."""
    started = time.monotonic()
    names = os.listdir(directory)
    files = [p for p in (parse_name(n) for n in names) if p is not None]
    loaded = load_version(directory)
    if loaded is None:
        if any(kind != "manifest" for kind, _ in files):
            raise CorruptionError("data files but no CURRENT file: not opening a half-created store", directory)
        version = Version(next_file=1)
    else:
        version = loaded[0]
    next_file = max([version.next_file] + [n + 1 for _, n in files])

    readers: dict[int, TableReader] = {}
    try:
        for _level, meta in version.tables():
            path = os.path.join(directory, table_name(meta.number))
            if not os.path.exists(path):
                raise CorruptionError(f"live table {table_name(meta.number)} is missing", directory)
            readers[meta.number] = TableReader(path, meta.number, stats)
    except BaseException:
        for r in readers.values():
            r.close()
        raise

    wal_numbers = sorted(n for kind, n in files if kind == "wal" and n >= version.log_number)
    memtables, last_seq, flushed_at, records, problems, last_len = _replay_wals(directory, wal_numbers, progress)
    last_seq = max(last_seq, version.last_seq, version.max_table_seq())

    edit = VersionEdit(next_file=None, last_seq=last_seq)
    if flushed_at is not None:  # a FLUSHALL the manifest had not recorded yet
        edit.deleted = [(lv, t.number) for lv, t in version.tables()]
        edit.log_number = flushed_at
        for r in readers.values():
            r.close()
        readers.clear()

    if memtables:
        active = memtables.pop()
        for mem in memtables:
            mem.freeze()
        wal = walmod.Wal(directory, active.wal_number, last_len)
    else:
        active = Memtable(next_file)
        next_file += 1
        wal = walmod.Wal(directory, active.wal_number, 0)
    wal.set_seq(last_seq)
    edit.log_number = memtables[0].wal_number if memtables else active.wal_number
    version = version.apply(edit)
    number = next_file
    next_file += 1
    version = Version(version.levels, version.log_number, next_file, last_seq)
    try:
        manifest = ManifestWriter.create(directory, number, version)
    except BaseException:
        wal.close()
        raise
    _delete_obsolete(directory, version, manifest.name)
    log.info(
        "storage: opened %s: %d tables, %d WAL records replayed from %d files, last seq %d (%.2fs)",
        directory, len(readers), records, len(wal_numbers), last_seq, time.monotonic() - started,
    )
    return Recovered(version, manifest, readers, memtables, active, wal, last_seq, next_file, records, problems)


def _replay_wals(directory: str, numbers: list[int], progress: Progress | None):
    """One memtable per WAL file; returns (memtables, last seq, FLUSHALL file or None,
    record count, problems, valid length of the last file)."""
    paths = [os.path.join(directory, walmod.wal_name(n)) for n in numbers]
    total = sum(os.path.getsize(p) for p in paths)
    done_before = 0
    memtables: list[Memtable] = []
    last_seq = 0
    flushed_at: int | None = None
    records = 0
    problems: list[str] = []
    last_len = 0
    for number, path in zip(numbers, paths):
        mem = Memtable(number)

        def apply(rtype: int, seq: int, ikey: bytes | None, record: Record | None, mem: Memtable = mem,
                  number: int = number) -> None:
            nonlocal flushed_at
            if rtype == walmod.REC_FLUSHALL:
                memtables.clear()
                mem.clear()
                flushed_at = number
                mem.last_seq = max(mem.last_seq, seq)
            else:
                mem.put(ikey, record)  # type: ignore[arg-type]

        def report(done: int, base: int = done_before) -> None:
            if progress is not None:
                progress(base + done, total)

        info = walmod.replay(path, apply, repair=True, progress=report)
        if info.problem:
            problems.append(f"{path}: {info.problem}")
        with open(path, "rb+") as fh:  # what was replayed must survive an OS crash too
            os.fsync(fh.fileno())
        mem.last_seq = max(mem.last_seq, info.last_seq)
        last_seq = max(last_seq, info.last_seq)
        records += info.records
        done_before += info.file_size
        last_len = info.valid_length
        memtables.append(mem)
        if progress is not None:
            progress(done_before, total)
    if progress is not None and not paths:
        progress(0, 0)
    return memtables, last_seq, flushed_at, records, problems, last_len


def _delete_obsolete(directory: str, version: Version, manifest: str) -> None:
    """Remove files no live state refers to: old manifests, dead WALs, orphan tables."""
    live_tables = {t.number for _, t in version.tables()}
    for name in os.listdir(directory):
        parsed = parse_name(name)
        dead = False
        if name.endswith(".tmp"):
            dead = True
        elif parsed is not None:
            kind, number = parsed
            dead = (
                (kind == "sst" and number not in live_tables)
                or (kind == "wal" and number < version.log_number)
                or (kind == "manifest" and name != manifest)
            )
        if dead:
            try:
                os.unlink(os.path.join(directory, name))
            except FileNotFoundError:
                pass
    jobs = os.path.join(directory, "jobs")
    if os.path.isdir(jobs):
        for name in os.listdir(jobs):
            os.unlink(os.path.join(jobs, name))
