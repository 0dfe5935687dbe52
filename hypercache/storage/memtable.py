"""The memtable: the newest writes, sorted by internal key, in memory.

A `sortedcontainers.SortedDict` maps internal key -> Record (tombstones included: a
delete must shadow older versions in the tables). When the active memtable passes
`memtable_size` the engine freezes it (no more writes), starts a new one with a new WAL
file, and a flush job turns the frozen one into an L0 table.

A new key's place in the SortedDict's order is found only when a range read needs it.
Placing it costs ~4 us per write on a 200k-entry memtable (cache misses over scattered
keys, half of what a SET costs in the write lane), while most memtables are never read
in order: the flush rebuilds the table from the WAL file. So a new key goes into the
dict at once (point reads see it) and into its cluster slot's list of unsorted keys;
`irange` places a slot's unsorted keys before it reads that slot, a window of slots at
a time, so a SCAN or a slot's key count pays for the keys it reads past, not the whole
memtable at once.
"""

from __future__ import annotations

from itertools import islice
from typing import Iterator

from sortedcontainers import SortedDict

from hypercache.keyslot import SLOT_COUNT
from hypercache.native import dict_drain
from hypercache.storage.records import SLOT_PREFIX, Record

# Bytes of Python objects per entry beyond the key and value bytes themselves: the
# dict slot and sorted-list (or slot-list) slot, the Record tuple, two bytes objects' headers and the
# seq int (~175 measured with tracemalloc on CPython 3.11; tests/storage/test_memtable.py
# keeps the estimate honest).
ENTRY_OVERHEAD = 180
# Bytes of a slot's list of unsorted keys when it is made (list object, first 4 items).
BUCKET_OVERHEAD = 88
SETTLE_WINDOW = 64  # slots whose unsorted keys irange places before reading them


class FrozenError(RuntimeError):
    """A write to a frozen memtable (a bug in the caller)."""


class Memtable:
    """Sorted map of internal key -> newest Record, with a size estimate."""

    __slots__ = ("_data", "_unsorted", "approximate_bytes", "frozen", "wal_number", "last_seq", "_drain_pos")

    def __init__(self, wal_number: int) -> None:
        self._data: SortedDict = SortedDict()
        # by slot: keys in the dict whose place in the order is not found yet
        self._unsorted: list[list[bytes] | None] = [None] * SLOT_COUNT
        self.approximate_bytes = 0  # estimated memory held, for the flush threshold
        self.frozen = False
        self.wal_number = wal_number  # the WAL file holding exactly these writes
        self.last_seq = 0
        self._drain_pos = 0  # where drain() goes on in the dead dict's entries

    def put(self, ikey: bytes, record: Record) -> None:
        """Insert or replace the record of `ikey` (a tombstone is a record too)."""
        if self.frozen:
            raise FrozenError("memtable is frozen")
        data = self._data
        old = data.get(ikey)
        if old is not None:
            self.approximate_bytes += len(record.value) - len(old.value)
            dict.__setitem__(data, ikey, record)  # its place in the order is taken already
        else:
            self.approximate_bytes += len(ikey) + len(record.value) + ENTRY_OVERHEAD
            slot = int.from_bytes(ikey[:2], "big")
            if len(ikey) < 2 or slot >= SLOT_COUNT:  # not an internal key (tests): placed now
                data[ikey] = record
            else:
                dict.__setitem__(data, ikey, record)
                bucket = self._unsorted[slot]
                if bucket is None:
                    bucket = self._unsorted[slot] = []
                    self.approximate_bytes += BUCKET_OVERHEAD
                bucket.append(ikey)
        if record.seq > self.last_seq:
            self.last_seq = record.seq

    def lane_view(self) -> tuple[SortedDict, list[list[bytes] | None]]:
        """The SortedDict and the unsorted keys by slot, for the native write lane
        (hc_lane_set.c), which does what `put` does for an internal key: the dict's
        own store, and a new key appended to its slot's list (made with
        BUCKET_OVERHEAD). It adds to approximate_bytes and last_seq through
        Storage.apply_lane_writes."""
        if self.frozen:
            raise FrozenError("memtable is frozen")
        return self._data, self._unsorted

    def _settle(self, first_slot: int, last_slot: int) -> None:
        """Place the unsorted keys of slots first_slot..last_slot in the order."""
        unsorted = self._unsorted
        for slot in range(first_slot, min(last_slot + 1, len(unsorted))):  # (shorter while drained)
            keys = unsorted[slot]
            if keys is not None:
                unsorted[slot] = None
                self._data._list.update(keys)

    def get(self, ikey: bytes) -> Record | None:
        """The record of `ikey` (possibly a tombstone), or None if this memtable has none."""
        return self._data.get(ikey)

    def irange(self, start: bytes, end: bytes | None, chunk: int = 256) -> Iterator[tuple[bytes, Record]]:
        """(ikey, record) for start <= ikey < end (end None = no upper bound), in order.

        Reads `chunk` keys at a time and seeks again after each chunk, so writes made
        between two steps of the iteration are safe (they may or may not be seen).
        Unsorted keys are placed SETTLE_WINDOW slots ahead of what it reads."""
        slot = int.from_bytes(start[:2].ljust(2, b"\0"), "big")  # a key >= start is in a slot >= this
        last = SLOT_COUNT - 1 if end is None else min(SLOT_COUNT - 1, int.from_bytes(end[:2].ljust(2, b"\0"), "big"))
        while slot <= last:
            window_end = min(last, slot + SETTLE_WINDOW - 1)
            self._settle(slot, window_end)
            if window_end == SLOT_COUNT - 1:
                yield from self._irange_placed(start, end, chunk)
                return
            bound = SLOT_PREFIX[window_end + 1]
            if end is not None and end <= bound:
                yield from self._irange_placed(start, end, chunk)
                return
            yield from self._irange_placed(start, bound, chunk)
            start, slot = max(start, bound), window_end + 1
        yield from self._irange_placed(start, end, chunk)  # keys past the last slot (tests' keys)

    def _irange_placed(self, start: bytes, end: bytes | None, chunk: int) -> Iterator[tuple[bytes, Record]]:
        """irange over the keys placed in the order."""
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
        """Every (ikey, record) in key order (placing every unsorted key first)."""
        self._settle(0, SLOT_COUNT - 1)
        return iter(self._data.items())

    def entries(self) -> Iterator[tuple[bytes, Record]]:
        """Every (ikey, record) in no particular order (nothing placed in the order)."""
        return iter(dict.items(self._data))

    def freeze(self) -> None:
        """Make the memtable immutable (it is about to be flushed)."""
        self.frozen = True

    def clear(self) -> None:
        """Drop every entry (FLUSHALL on the active memtable)."""
        if self.frozen:
            raise FrozenError("memtable is frozen")
        self._data.clear()
        self._unsorted = [None] * SLOT_COUNT
        self.approximate_bytes = 0

    def drain(self, budget: int) -> bool:
        """Free up to ~`budget` entries of a dead memtable; True once it is empty.

        Dropping a 64 MB memtable at once costs ~25 ms of deallocation on the caller's
        thread; draining it in bounded steps spreads that over many event-loop turns.
        Only for a memtable nothing reads any more (its sorted order is not kept)."""
        data = self._data
        # C-level, as a plain dict (the sorted key list goes below): ~5x the speed of a
        # Python loop of dict.popitem
        self._drain_pos = dict_drain(data, self._drain_pos, budget)
        if dict.__len__(data):
            return False
        lists = getattr(getattr(data, "_list", None), "_lists", None)  # the key lists
        if lists:
            for _ in range(max(1, budget // 1000)):
                if lists:
                    lists.pop()
            if lists:
                return False
        unsorted = self._unsorted  # the last references to the unsorted keys
        freed = 0
        while unsorted and freed < budget:  # (popping the 16384 slots costs ~0.5 ms in all)
            keys = unsorted.pop()
            if keys:
                freed += len(keys)
        if unsorted:
            return False
        self._data = SortedDict()
        self._unsorted = [None] * SLOT_COUNT
        self._drain_pos = 0
        self.approximate_bytes = 0
        return True

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)
