"""Exceptions raised by the storage engine.

Every error the engine raises is a StorageError, so the server can catch one class.
The subclasses say what the caller can do about it:
- CorruptionError: a checksum or format check failed; the bytes are never returned as data.
- WriteRefusedError: a write hit an I/O error (disk full, EIO) or the store is in that
  state; reads keep working and writes resume once `Storage.retry_writes()` succeeds.
- StoreLockedError: another process has the data directory open.
- JobFailedError: a background flush or compaction failed (the store is unchanged).
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every storage engine error."""


class CorruptionError(StorageError):
    """Damaged on-disk data: a checksum mismatch, a bad magic number, a truncated block."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class WriteRefusedError(StorageError):
    """A write could not be made durable (ENOSPC, EIO, EFBIG ...) or writes are suspended
    because an earlier one could not. `cause` is the OSError that started it."""

    def __init__(self, message: str, cause: OSError | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class StoreLockedError(StorageError):
    """The data directory's LOCK is held by another process."""


class JobFailedError(StorageError):
    """A flush or compaction job failed; its partial outputs have been removed."""
