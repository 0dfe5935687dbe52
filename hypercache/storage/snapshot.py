"""Point-in-time snapshots: a directory that is itself a complete store.

The engine first freezes the memtable (so every write so far is in a sealed, immutable
WAL file or a table), then this module hard-links the live tables and the sealed WAL
files into the destination and writes a manifest that lists them. No data is copied
(unless the destination is on another filesystem), so a snapshot of any size takes
milliseconds. Opening the snapshot with `Storage.open` replays its WAL files like any
store; restoring a backup is copying the directory into place while the server is down.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from dataclasses import dataclass

from hypercache.storage import wal as walmod
from hypercache.storage.manifest import ManifestWriter, Version
from hypercache.storage.sstable import fsync_dir, table_name

log = logging.getLogger("hypercache.storage")


@dataclass
class SnapshotInfo:
    """What a snapshot holds."""

    path: str
    tables: int
    wal_files: int
    bytes: int
    last_seq: int


def write_snapshot(
    src: str, dest: str, version: Version, wal_numbers: list[int], last_seq: int, durable: bool = True
) -> SnapshotInfo:
    """Make `dest` a store holding `version`'s tables and the WAL files `wal_numbers`.

    `dest` must not exist or be empty. With `durable`, the linked WAL files, the new
    manifest and the directory are fsynced before returning (tables always are)."""
    os.makedirs(dest, exist_ok=True)
    if os.listdir(dest):
        raise FileExistsError(f"snapshot destination {dest} is not empty")
    size = 0
    names = [table_name(t.number) for _, t in version.tables()] + [walmod.wal_name(n) for n in wal_numbers]
    for name in names:
        size += _link(os.path.join(src, name), os.path.join(dest, name))
    numbers = [t.number for _, t in version.tables()] + list(wal_numbers)
    manifest_number = max(numbers + [version.next_file]) + 1
    log_number = min(wal_numbers) if wal_numbers else manifest_number + 1
    snap = Version(version.levels, log_number, manifest_number + 2, last_seq)
    ManifestWriter.create(dest, manifest_number, snap).close()
    if durable:
        for n in wal_numbers:
            fd = os.open(os.path.join(dest, walmod.wal_name(n)), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(dest)
    log.info("storage: snapshot %s: %d tables, %d WAL files, %d bytes, seq %d",
             dest, len(names) - len(wal_numbers), len(wal_numbers), size, last_seq)
    return SnapshotInfo(dest, len(names) - len(wal_numbers), len(wal_numbers), size, last_seq)


def _link(src: str, dst: str) -> int:
    try:
        os.link(src, dst)
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP):  # else copy instead
            raise
        shutil.copyfile(src, dst)
    return os.path.getsize(dst)
