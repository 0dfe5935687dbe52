"""The memtable: the newest writes, by internal key, in memory.

Its entries are native (hypercache.native.MemtableEntries, src/hc_memtable.h): one
arena of mmap'd chunks per memtable, an index for point reads, and the key order found
per cluster slot only when a range read needs it (most memtables are never read in
order: the flush rebuilds the table from the WAL file). Tombstones are entries too: a
delete must shadow older versions in the tables. When the active memtable passes
`memtable_size` the engine freezes it (no more writes), starts a new one with a new WAL
file, and a flush job turns the frozen one into an L0 table; then the arena is unmapped
in steps (drain), so its memory leaves the process.
"""

from __future__ import annotations

from typing import Iterator

from hypercache.native import MemtableEntries
from hypercache.storage.records import Record

RANGE_CHUNK = 256  # entries a range read takes at a time (it seeks again after each)


class FrozenError(RuntimeError):
    """A write to a frozen memtable (a bug in the caller)."""


class Memtable:
    """Map of internal key -> newest Record, with its size in bytes."""

    __slots__ = ("_entries", "frozen", "wal_number", "last_seq")

    def __init__(self, wal_number: int) -> None:
        self._entries = MemtableEntries(Record)
        self.frozen = False
        self.wal_number = wal_number  # the WAL file holding exactly these writes
        self.last_seq = 0

    @property
    def approximate_bytes(self) -> int:
        """Memory held (the arena's bytes in use and the index), for the flush threshold."""
        return self._entries.bytes

    def put(self, ikey: bytes, record: Record) -> None:
        """Insert or replace the record of `ikey` (a tombstone is a record too)."""
        self.write(ikey, record.kind, record.value, record.expire_at, record.seq)

    def write(self, ikey: bytes, kind: int, value: bytes, expire_at: int | None, seq: int) -> None:
        """`put` of a record given by its fields (the store's writes: no tuple made)."""
        if self.frozen:
            raise FrozenError("memtable is frozen")
        self._entries.put(ikey, kind, value, expire_at, seq)
        if seq > self.last_seq:
            self.last_seq = seq

    def lane_view(self) -> MemtableEntries:
        """The entries, for the native write lane (hc_lane_set.c), which puts a string's
        record as `put` does; Storage.apply_lane_writes then moves last_seq on."""
        if self.frozen:
            raise FrozenError("memtable is frozen")
        return self._entries

    def get(self, ikey: bytes) -> Record | None:
        """The record of `ikey` (possibly a tombstone), or None if this memtable has none."""
        return self._entries.get(ikey)

    def irange(self, start: bytes, end: bytes | None, chunk: int = RANGE_CHUNK) -> Iterator[tuple[bytes, Record]]:
        """(ikey, record) for start <= ikey < end (end None = no upper bound), in order.

        Reads `chunk` keys at a time and seeks again after each chunk, so writes made
        between two steps of the iteration are safe (they may or may not be seen)."""
        entries = self._entries
        after = False
        while True:
            items = entries.range_chunk(start, end, after, chunk)
            yield from items
            if len(items) < chunk:
                return
            start, after = items[-1][0], True

    def items(self) -> Iterator[tuple[bytes, Record]]:
        """Every (ikey, record) in key order."""
        return self.irange(b"", None)

    def entries(self) -> Iterator[tuple[bytes, Record]]:
        """Every (ikey, record) in no particular order (nothing placed in the order)."""
        return iter(self._entries.entries())

    def freeze(self) -> None:
        """Make the memtable immutable (it is about to be flushed)."""
        self.frozen = True

    def clear(self) -> None:
        """Drop every entry (FLUSHALL on the active memtable)."""
        if self.frozen:
            raise FrozenError("memtable is frozen")
        self._entries.clear()

    def drain(self, budget: int) -> bool:
        """Free a dead memtable in steps of ~`budget` entries' memory; True once empty.

        Unmapping a 64 MB arena at once costs a few ms on the caller's thread; in bounded
        steps it spreads over event-loop turns. Only for a memtable nothing reads any
        more (its index goes at the first step)."""
        return self._entries.drain(budget)

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return len(self._entries) > 0
