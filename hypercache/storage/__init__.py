"""HyperCache's storage engine: a log-structured merge store on local disk.

A standalone library (it knows nothing of RESP, commands, servers or trio):

    records.py      internal keys (slot prefix + key) and the Record tuple
    errors.py       the exceptions (CorruptionError, WriteRefusedError, ...)
    options.py      StorageOptions: sizes, level shape, sync policy, clock
    wal.py          write-ahead log: records, group commit, sync policies, replay
    logfile.py      the CRC-framed record format shared by the WAL and the manifest
    memtable.py     the sorted in-memory table of the newest writes
    block.py        sorted key/value blocks with checksums
    bloom.py        the filter block (the native bloom filter behind a tiny interface)
    sstable.py      immutable sorted tables: builder and reader
    manifest.py     versions and version edits: which tables are live, at what level
    picker.py       leveled compaction: what to compact next
    compaction.py   flush and compaction jobs as pure functions over files
    compaction_worker.py   child processes running jobs: long-lived workers (run_in_child) or one-shot
    recovery.py     opening a store: manifest + WAL replay
    snapshot.py     hard-link snapshots
    engine.py       Storage, the facade the keyspace uses (writes, reads, snapshots, stats)
    background.py   its background half: jobs out, results in, files and memory freed

docs/formats.md describes every on-disk format.
"""

from hypercache.storage.compaction import CompactionJob, FlushJob, Job, JobResult, run_job
from hypercache.storage.compaction_worker import run_in_child
from hypercache.storage.engine import Storage
from hypercache.storage.errors import (
    CorruptionError,
    JobFailedError,
    StorageError,
    StoreLockedError,
    WriteRefusedError,
)
from hypercache.storage.options import StorageOptions
from hypercache.storage.records import KIND_STRING, KIND_TOMBSTONE, Record, internal_key, slot_range
from hypercache.storage.snapshot import SnapshotInfo
from hypercache.storage.wal import SyncPolicy

__all__ = [
    "Storage", "StorageOptions", "SyncPolicy", "Record", "KIND_STRING", "KIND_TOMBSTONE",
    "internal_key", "slot_range", "Job", "FlushJob", "CompactionJob", "JobResult", "run_job",
    "run_in_child", "SnapshotInfo", "StorageError", "CorruptionError", "WriteRefusedError",
    "StoreLockedError", "JobFailedError",
]
