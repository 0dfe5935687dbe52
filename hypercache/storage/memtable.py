"""The memtable: the newest writes, sorted by internal key, in memory.

A `sortedcontainers.SortedDict` maps internal key -> Record (tombstones included: a
delete must shadow older versions in the tables). When the active memtable passes
`memtable_size` the engine freezes it (no more writes), starts a new one with a new WAL
file, and a flush job turns the frozen one into an L0 table.
"""

from __future__ import annotations

from itertools import islice
from typing import Iterator

from sortedcontainers import SortedDict

from hypercache.storage.records import Record

# Bytes of Python objects per entry beyond the key and value bytes themselves: the
# dict slot and sorted-list slot, the Record tuple, two bytes objects' headers and the
# seq int (~175 measured with tracemalloc on CPython 3.11; tests/storage/test_memtable.py
# keeps the estimate honest).
ENTRY_OVERHEAD = 180


class FrozenError(RuntimeError):
    """A write to a frozen memtable (a bug in the caller)."""


class Memtable:
    """Sorted map of internal key -> newest Record, with a size estimate."""

    __slots__ = ("_data", "approximate_bytes", "frozen", "wal_number", "last_seq")

    def __init__(self, wal_number: int) -> None:
        self._data: SortedDict = SortedDict()
        self.approximate_bytes = 0  # estimated memory held, for the flush threshold
        self.frozen = False
        self.wal_number = wal_number  # the WAL file holding exactly these writes
        self.last_seq = 0

    def put(self, ikey: bytes, record: Record) -> None:
        """Insert or replace the record of `ikey` (a tombstone is a record too)."""
        if self.frozen:
            raise FrozenError("memtable is frozen")
        data = self._data
        old = data.get(ikey)
        if old is None:
            self.approximate_bytes += len(ikey) + len(record.value) + ENTRY_OVERHEAD
        else:
            self.approximate_bytes += len(record.value) - len(old.value)
        data[ikey] = record
        if record.seq > self.last_seq:
            self.last_seq = record.seq

    def lane_view(self) -> tuple[SortedDict, object]:
        """The SortedDict and its _list_add, for the native write lane (hc_lane_set.c),
        which does what `put` does: a new key placed by _list_add, then the dict's own
        store, as SortedDict.__setitem__ does. It adds to approximate_bytes and last_seq
        through Storage.apply_lane_writes."""
        if self.frozen:
            raise FrozenError("memtable is frozen")
        return self._data, self._data._list_add

    def get(self, ikey: bytes) -> Record | None:
        """The record of `ikey` (possibly a tombstone), or None if this memtable has none."""
        return self._data.get(ikey)

    def irange(self, start: bytes, end: bytes | None, chunk: int = 256) -> Iterator[tuple[bytes, Record]]:
        """(ikey, record) for start <= ikey < end (end None = no upper bound), in order.

        Reads `chunk` keys at a time and seeks again after each chunk, so writes made
        between two steps of the iteration are safe (they may or may not be seen)."""
        data = self._data
        inclusive = (True, False)
        while True:
            keys = list(islice(data.irange(start, end, inclusive=inclusive), chunk))
            for ikey in keys:
                record = data.get(ikey)
                if record is not None:
                    yield ikey, record
            if len(keys) < chunk:
                return
            start, inclusive = keys[-1], (False, False)

    def items(self) -> Iterator[tuple[bytes, Record]]:
        """Every (ikey, record) in key order."""
        return iter(self._data.items())

    def freeze(self) -> None:
        """Make the memtable immutable (it is about to be flushed)."""
        self.frozen = True

    def clear(self) -> None:
        """Drop every entry (FLUSHALL on the active memtable)."""
        if self.frozen:
            raise FrozenError("memtable is frozen")
        self._data.clear()
        self.approximate_bytes = 0

    def drain(self, budget: int) -> bool:
        """Free up to ~`budget` entries of a dead memtable; True once it is empty.

        Dropping a 64 MB memtable at once costs ~25 ms of deallocation on the caller's
        thread; draining it in bounded steps spreads that over many event-loop turns.
        Only for a memtable nothing reads any more (its sorted order is not kept)."""
        data = self._data
        pop = dict.popitem  # C-level: frees a record per call, skips the key list upkeep
        for _ in range(budget):
            if not dict.__len__(data):
                break
            pop(data)
        else:
            return False
        lists = getattr(getattr(data, "_list", None), "_lists", None)  # the key lists
        if lists:
            for _ in range(max(1, budget // 1000)):
                if lists:
                    lists.pop()
            if lists:
                return False
        self._data = SortedDict()
        self.approximate_bytes = 0
        return True

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)
