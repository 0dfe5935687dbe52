"""The manifest: which tables are live, at which level, and which WAL files still count.

As LevelDB's version set: a `Version` is an immutable picture of the store's files;
a `VersionEdit` changes one picture into the next (tables added and deleted, the oldest
WAL still needed, the next file number, the last sequence number). Edits are appended
to a MANIFEST-nnnnnn log (the `logfile` framing, one JSON edit per record) and fsynced
before anything relies on them, so a change of the live set is atomic: an edit that was
torn by a crash fails its checksum and never happened. The CURRENT file names the
manifest in use; it is replaced by write-temp + fsync + rename.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Iterable

from hypercache.storage.errors import CorruptionError
from hypercache.storage.logfile import LogReader, encode_record
from hypercache.storage.sstable import TableMeta, fsync_dir

log = logging.getLogger("hypercache.storage")

NUM_LEVELS = 7
REC_EDIT = 1
CURRENT = "CURRENT"


def manifest_name(number: int) -> str:
    return f"MANIFEST-{number:06d}"


@dataclass
class VersionEdit:
    """A change to the live set. None fields are unchanged."""

    added: list[tuple[int, TableMeta]] = field(default_factory=list)
    deleted: list[tuple[int, int]] = field(default_factory=list)  # (level, table number)
    log_number: int | None = None  # WAL files numbered below this are obsolete
    next_file: int | None = None
    last_seq: int | None = None

    def encode(self) -> bytes:
        d: dict = {}
        if self.added:
            d["add"] = [{"level": lv, "table": t.to_json()} for lv, t in self.added]
        if self.deleted:
            d["delete"] = [{"level": lv, "number": n} for lv, n in self.deleted]
        for name in ("log_number", "next_file", "last_seq"):
            if getattr(self, name) is not None:
                d[name] = getattr(self, name)
        return json.dumps(d, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, payload: bytes) -> VersionEdit:
        d = json.loads(payload)
        return cls(
            added=[(a["level"], TableMeta.from_json(a["table"])) for a in d.get("add", ())],
            deleted=[(x["level"], x["number"]) for x in d.get("delete", ())],
            log_number=d.get("log_number"),
            next_file=d.get("next_file"),
            last_seq=d.get("last_seq"),
        )


class Version:
    """The live tables by level (L0 newest first, deeper levels by key) and counters."""

    def __init__(
        self,
        levels: Iterable[Iterable[TableMeta]] | None = None,
        log_number: int = 0,
        next_file: int = 2,
        last_seq: int = 0,
    ) -> None:
        lv = [list(x) for x in (levels or ())]
        lv += [[] for _ in range(NUM_LEVELS - len(lv))]
        lv[0].sort(key=lambda t: (t.max_seq, t.number), reverse=True)
        for tables in lv[1:]:
            tables.sort(key=lambda t: t.smallest)
        self.levels: tuple[tuple[TableMeta, ...], ...] = tuple(tuple(x) for x in lv)
        self._largest = [[t.largest for t in x] for x in self.levels]
        self.log_number = log_number
        self.next_file = next_file
        self.last_seq = last_seq

    def apply(self, edit: VersionEdit) -> Version:
        """The version after `edit` (self is unchanged)."""
        gone = {(lv, n) for lv, n in edit.deleted}
        levels = [[t for t in tables if (lv, t.number) not in gone] for lv, tables in enumerate(self.levels)]
        for lv, meta in edit.added:
            levels[lv].append(meta)
        return Version(
            levels,
            self.log_number if edit.log_number is None else edit.log_number,
            max(self.next_file, edit.next_file or 0),
            max(self.last_seq, edit.last_seq or 0),
        )

    def snapshot_edit(self) -> VersionEdit:
        """One edit that builds this version from nothing (a new manifest's first record)."""
        return VersionEdit(
            added=[(lv, t) for lv, tables in enumerate(self.levels) for t in tables],
            log_number=self.log_number,
            next_file=self.next_file,
            last_seq=self.last_seq,
        )

    def tables(self) -> Iterable[tuple[int, TableMeta]]:
        for lv, tables in enumerate(self.levels):
            for t in tables:
                yield lv, t

    def level_bytes(self, level: int) -> int:
        return sum(t.size for t in self.levels[level])

    def max_table_seq(self) -> int:
        return max((t.max_seq for _, t in self.tables()), default=0)

    def overlapping(self, level: int, lo: bytes, hi: bytes) -> list[TableMeta]:
        """Tables of `level` whose key range meets [lo, hi] (both inclusive)."""
        return [t for t in self.levels[level] if t.smallest <= hi and t.largest >= lo]

    def tables_for_key(self, ikey: bytes) -> list[TableMeta]:
        """Tables that may hold `ikey`, in the order a read must try them (newest first)."""
        out = [t for t in self.levels[0] if t.smallest <= ikey <= t.largest]
        for lv in range(1, NUM_LEVELS):
            tables = self.levels[lv]
            if tables:
                i = bisect.bisect_left(self._largest[lv], ikey)
                if i < len(tables) and tables[i].smallest <= ikey:
                    out.append(tables[i])
        return out


def read_current(directory: str) -> str | None:
    """The manifest file name CURRENT points at, or None if there is no CURRENT."""
    try:
        with open(os.path.join(directory, CURRENT), encoding="ascii") as fh:
            name = fh.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise CorruptionError(f"cannot read CURRENT: {err}", directory) from None
    if not name.endswith("\n") or not name.startswith("MANIFEST-"):
        raise CorruptionError(f"CURRENT is damaged: {name[:60]!r}", directory)
    return name[:-1]


def load_version(directory: str) -> tuple[Version, str] | None:
    """Replay the current manifest: (version, manifest name), or None for a new store.

    A torn or damaged last edit is ignored with a warning (it never took effect:
    nothing was allowed to rely on it before its fsync returned)."""
    name = read_current(directory)
    if name is None:
        return None
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        raise CorruptionError(f"CURRENT names {name}, which does not exist", directory)
    version = Version()
    reader = LogReader(path)
    count = 0
    for rtype, payload, end in reader:
        if rtype != REC_EDIT:
            raise CorruptionError(f"unknown manifest record type {rtype} ending at offset {end}", path)
        try:
            edit = VersionEdit.decode(payload)
        except (ValueError, KeyError, TypeError) as err:
            raise CorruptionError(f"undecodable edit ending at offset {end}: {err}", path) from None
        version = version.apply(edit)
        count += 1
    if count == 0:
        raise CorruptionError("manifest holds no complete edit", path)
    if reader.problem:
        log.warning("manifest %s: %s; ignoring the %d bytes after the last complete edit",
                    path, reader.problem, reader.file_size - reader.valid_length)
    return version, name


class ManifestWriter:
    """Appends edits to one manifest file; each append is fsynced before it returns."""

    def __init__(self, directory: str, number: int, fd: int, offset: int) -> None:
        self.directory = directory
        self.number = number
        self.name = manifest_name(number)
        self._fd = fd
        self.offset = offset

    @classmethod
    def create(cls, directory: str, number: int, version: Version) -> ManifestWriter:
        """Start manifest `number` holding `version` and make CURRENT point at it."""
        path = os.path.join(directory, manifest_name(number))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            writer = cls(directory, number, fd, 0)
            writer.append(version.snapshot_edit())
            set_current(directory, writer.name)
        except BaseException:
            os.close(fd)
            raise
        return writer

    def append(self, edit: VersionEdit) -> None:
        """Write `edit` and fsync. On OSError the logical end does not move, so a later
        append overwrites whatever part of this one reached the disk."""
        data = encode_record(REC_EDIT, edit.encode())
        done = 0
        while done < len(data):
            done += os.pwrite(self._fd, data[done:], self.offset + done)
        os.fsync(self._fd)
        self.offset += len(data)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def set_current(directory: str, manifest: str) -> None:
    """Point CURRENT at `manifest` atomically (temp file, fsync, rename, fsync dir)."""
    tmp = os.path.join(directory, CURRENT + ".tmp")
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(manifest + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, os.path.join(directory, CURRENT))
    fsync_dir(directory)

