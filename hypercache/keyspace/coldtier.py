"""The keyspace's view of the LSM store: every live key on disk, behind a cuckoo filter.

The keyspace keeps recently used values in memory (the hot tier); this is the rest. Every
write goes through here to the store's WAL and memtable, so the store always holds the
whole dataset and the hot tier is only a cache of it.

The keyspace filter answers "definitely absent" before the store is asked, so a miss costs
no disk read. Its invariant is no false negatives: a key is inserted exactly once when it
becomes live and deleted exactly once when it stops being live, as the keyspace decides
(it knows, because it counts live keys); overwrites never touch the filter.
"""

from __future__ import annotations

import logging
import time
from typing import Iterator

from hypercache.errors import CommandError
from hypercache.keyslot import SLOT_COUNT
from hypercache.keyspace.values import KIND_STRING, decode_value, encode_value, type_name_of_kind
from hypercache.native import CuckooFilter
from hypercache.storage import CorruptionError, Storage, WriteRefusedError
from hypercache.storage.records import SLOT_PREFIX, slot_of

log = logging.getLogger("hypercache.keyspace")

MIN_FILTER_CAPACITY = 1 << 16
# Bits added to the fingerprints of each grown sub-filter (native keyspace_fingerprints):
# 1, not the narrowest first width's 3. A store that starts empty grows its filter from
# 64k slots, doubling each time: with 3 (fpp 0.01: 10, 13, 16, ... bits) the newest,
# largest sub-filters carry the widest fingerprints, 46 bits per item at 2M keys and 26-47
# from 3M to 10M; with 1 (11, 12, 13, ...) 31 and 17-29, at a false-positive rate still
# bounded by fpp however far it grows (measured 0.8% at 10M keys for fpp 0.01).
FILTER_MAX_GROWTH = 1
_BATCH = 4096  # keys per insert_many while rebuilding (runs without the GIL)

DAMAGED = "ERR the stored value of this key is damaged (checksum mismatch); see the server log"


class ColdTier:
    """The store under a keyspace, plus the keyspace filter over its live keys."""

    def __init__(self, storage: Storage, fpp: float = 0.01, capacity: int = MIN_FILTER_CAPACITY) -> None:
        self.storage = storage
        self.fpp = fpp
        self.filter = self._new_filter(capacity)
        self.negative_lookups = 0  # the filter said "absent": no store read
        self.false_positives = 0  # the filter said "maybe", the store said absent
        # The last false positive and the store's last_seq then: until the next write
        # the store's answer stands, so a write's check after its read (INCR, APPEND,
        # SET GET over a key the filter cannot rule out) reads nothing again.
        self._absent: tuple[bytes, int] | None = None
        self.rebuild_seconds = 0.0
        # Set by the server while flushes or compactions fail (a full disk): with the
        # store stalled behind them, writes are refused rather than left waiting.
        self.background_error: str | None = None

    def _new_filter(self, capacity: int) -> CuckooFilter:
        return CuckooFilter.for_fpp(max(capacity, MIN_FILTER_CAPACITY), self.fpp, max_growth=FILTER_MAX_GROWTH)

    # ---- start-up ----------------------------------------------------------------------

    def rebuild(self) -> tuple[int, dict[bytes, int]]:
        """Read every live key of the store once: fill the filter, and return the live
        key count and the expiry of every key that has one (the keyspace keeps those in
        memory). Runs before the server takes commands; may run in a worker thread."""
        started = time.monotonic()
        count = 0
        expires: dict[bytes, int] = {}
        batch: list[bytes] = []
        estimated = self.storage.estimated_keys()
        self.filter = self._new_filter(int(estimated * 1.1))
        for ikey, rec in self.storage.iter_range():
            key = ikey[2:]
            batch.append(key)
            if rec.expire_at is not None:
                expires[key] = rec.expire_at
            count += 1
            if len(batch) >= _BATCH:
                self.filter.insert_many(batch)
                batch = []
        if batch:
            self.filter.insert_many(batch)
        self.rebuild_seconds = time.monotonic() - started
        return count, expires

    # ---- reads -------------------------------------------------------------------------

    def might_exist(self, key: bytes) -> bool:
        """The filter's answer (CF.EXISTS key): False means certainly absent."""
        return self.filter.contains(key)

    def _read(self, key: bytes):  # -> Record | None
        """The store's live record of `key` behind the filter, counting its answers."""
        if not self.filter.contains(key):
            self.negative_lookups += 1
            return None
        if self._absent is not None and self._absent == (key, self.storage.last_seq):
            return None
        try:
            rec = self.storage.get(key)
        except CorruptionError as err:
            log.error("storage: reading key %r: %s", key[:64], err)
            raise CommandError(DAMAGED) from None
        if rec is None:
            self.false_positives += 1
            self._absent = (key, self.storage.last_seq)
        return rec

    def load(self, key: bytes) -> object | None:
        """The value the store holds for `key`, or None; a filter miss reads nothing."""
        rec = self._read(key)
        return None if rec is None else decode_value(rec.kind, rec.value)

    def contains(self, key: bytes) -> bool:
        """True if the store holds a live value for `key` (no value decoded)."""
        return self._read(key) is not None

    # ---- writes (called by the keyspace before it changes memory) -----------------------

    def write(self, key: bytes, value: object, expire_at: int | None) -> None:
        if type(value) is bytes:  # a string: encode_value's common case, inline
            kind, data = KIND_STRING, value
        else:
            kind, data = encode_value(value)
        try:
            self.storage.put(key, kind, data, expire_at)
        except WriteRefusedError as err:
            raise CommandError(str(err)) from None

    def delete(self, key: bytes) -> None:
        try:
            self.storage.delete(key)
        except WriteRefusedError as err:
            raise CommandError(str(err)) from None

    def became_live(self, key: bytes) -> None:
        self.filter.insert(key)

    def stopped_live(self, key: bytes) -> None:
        self.filter.delete(key)

    def flush(self) -> None:
        """Delete every key (FLUSHALL): one atomic store edit, and an empty filter."""
        try:
            self.storage.flush_all()
        except WriteRefusedError as err:
            raise CommandError(str(err)) from None
        self.filter = self._new_filter(MIN_FILTER_CAPACITY)

    def lane_write_view(self) -> tuple | None:
        """The store's part of the native write lane (Storage.lane_write_view), or None
        while it refuses writes."""
        if self.writes_refused is not None:
            return None
        return self.storage.lane_write_view()

    @property
    def writes_refused(self) -> str | None:
        """The store's MISCONF error line while it refuses writes, else None."""
        err = self.storage.write_error
        if err is not None:
            return str(err)
        if self.background_error is None:  # the common case, checked first: every write asks
            return None
        if self.storage.write_stall:
            return f"MISCONF Errors writing to disk in the background: {self.background_error}"
        return None

    # ---- iteration ---------------------------------------------------------------------

    def iter_keys(self) -> Iterator[tuple[bytes, int]]:
        """(key, kind) of every live key in slot order."""
        for ikey, rec in self.storage.iter_range():
            yield ikey[2:], rec.kind

    def scan_slots(self, first_slot: int, count: int) -> tuple[int, list[tuple[bytes, int]]]:
        """(next slot or SLOT_COUNT, [(key, kind)]) of whole slots from `first_slot` on,
        stopping at the first slot boundary after `count` keys."""
        out: list[tuple[bytes, int]] = []
        current = first_slot
        for ikey, rec in self.storage.iter_range(SLOT_PREFIX[first_slot]):
            slot = slot_of(ikey)
            if slot != current:
                if len(out) >= count:
                    return slot, out
                current = slot
            out.append((ikey[2:], rec.kind))
        return SLOT_COUNT, out

    def slot_keys(self, slot: int, count: int) -> list[bytes]:
        return self.storage.keys_in_slot(slot, count)

    def slot_size(self, slot: int) -> int:
        return self.storage.count_slot(slot)

    def random_key(self) -> bytes | None:
        return self.storage.random_key()

    def memory_bytes(self) -> int:
        """Memory the store and the filter hold outside the hot tier: memtables (flushed
        ones not yet freed included), the tables' index and bloom blocks, the filter.
        Cheap (the keyspace asks once per value it evicts)."""
        return self.storage.memory_bytes() + self.filter.table_bytes

    def info(self) -> dict[str, int | float]:
        """INFO filter figures."""
        flt = self.filter
        return {
            "filter_items": flt.items,
            "filter_capacity": flt.capacity,
            "filter_fpp": self.fpp,
            "filter_bits_per_item": round(flt.bits_per_item, 2),
            "filter_negative_lookups": self.negative_lookups,
            "filter_false_positives": self.false_positives,
            "filter_rebuild_seconds": round(self.rebuild_seconds, 3),
        }


def kind_type_name(kind: int) -> str:
    """Redis's TYPE name for a record kind (for SCAN TYPE over the store)."""
    return "string" if kind == KIND_STRING else type_name_of_kind(kind)
