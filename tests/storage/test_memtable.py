"""The memtable (native entries in an arena): sorted records, tombstones, its size in
bytes against the process's own memory, freezing, freeing in steps."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hypercache.keyslot import SLOT_COUNT
from hypercache.storage.memtable import FrozenError, Memtable
from hypercache.storage.records import SLOT_PREFIX, Record


def rec(value: bytes, seq: int, kind: int = 1) -> Record:
    return Record(kind, value, None, seq)


def test_sorted_with_tombstones():
    m = Memtable(1)
    for i, k in enumerate([b"c", b"a", b"b"]):
        m.put(k, rec(k * 3, i + 1))
    m.put(b"b", rec(b"", 4, kind=0))
    assert [k for k, _ in m.items()] == [b"a", b"b", b"c"]
    assert m.get(b"b").kind == 0 and m.get(b"zz") is None
    assert m.last_seq == 4 and len(m) == 3


def test_records_round_trip():
    """Every field of a record comes back as it went in; an overwrite is the newest."""
    m = Memtable(1)
    m.put(b"k", Record(1, b"old", 1_700_000_000_000, 5))
    m.put(b"k", Record(3, b"new" * 1000, None, 9))
    m.put(b"t", Record(0, b"", None, 10))
    m.put(b"", Record(1, b"empty key", 2**62, 11))
    assert m.get(b"k") == Record(3, b"new" * 1000, None, 9)
    assert m.get(b"t") == Record(0, b"", None, 10) and m.get(b"t").is_tombstone
    assert m.get(b"") == Record(1, b"empty key", 2**62, 11)
    assert sorted(m.entries()) == sorted(m.items()) == [
        (b"", Record(1, b"empty key", 2**62, 11)), (b"k", Record(3, b"new" * 1000, None, 9)),
        (b"t", Record(0, b"", None, 10))]
    assert len(m) == 3 and m.last_seq == 11
    for n in range(1, 12):  # an expiry after a key and value of every alignment
        m.put(b"x" * n, Record(1, b"y" * (n * 3), 1_700_000_000_000 + n, 20 + n))
    assert all(m.get(b"x" * n) == Record(1, b"y" * (n * 3), 1_700_000_000_000 + n, 20 + n) for n in range(1, 12))


def test_a_value_larger_than_a_chunk():
    """A value over the arena's 1 MiB chunk gets a chunk of its own; the others go on."""
    m = Memtable(1)
    big = bytes(range(256)) * 20_000  # ~5 MiB
    m.put(b"a", rec(b"1", 1))
    m.put(b"big", rec(big, 2))
    m.put(b"c", rec(b"3", 3))
    assert m.get(b"big").value == big and m.get(b"a").value == b"1" and m.get(b"c").value == b"3"
    assert m.approximate_bytes >= len(big)


def test_overwrites_count_every_version():
    """The arena keeps an overwritten version until the memtable is freed: its size
    grows with every write, as the memory it holds does."""
    m = Memtable(1)
    m.put(b"k", rec(b"x" * 100, 1))
    first = m.approximate_bytes
    m.put(b"k", rec(b"x" * 100, 2))
    second = m.approximate_bytes
    assert second - first >= 100 and len(m) == 1


SIZE_PROBE = """
from hypercache.storage.memtable import Memtable
from hypercache.storage.records import Record, internal_key


def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


before = rss()
m = Memtable(1)
for i in range(200_000):
    m.put(internal_key(b"key:%08d" % i), Record(1, b"v" * (i % 200), None, 10**6 + i))
grown = rss() - before
held = m.approximate_bytes
m.freeze()
steps = 1
while not m.drain(2000):
    steps += 1
print(held, grown, steps, len(m), m.approximate_bytes, rss() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer's shadow memory and quarantine make RSS another measure")
def test_size_is_the_memory_held():
    """approximate_bytes is within 20% of what a fresh process's RSS grows by, and a
    drained memtable gives the memory back (a process of its own: one that ran other
    tests has freed heap to reuse, and its RSS would not grow)."""
    out = subprocess.run([sys.executable, "-c", SIZE_PROBE], capture_output=True, text=True, check=True).stdout
    held, grown, steps, left, left_bytes, after = map(int, out.split())
    assert 0.8 < held / grown < 1.2, (held, grown)
    assert left == 0 and left_bytes == 0 and steps > 5
    assert after < grown / 4, (after, grown)


def test_irange_bounds_and_interleaved_writes():
    m = Memtable(1)
    for i in range(1000):
        m.put(b"%04d" % i, rec(b"v", i + 1))
    it = m.irange(b"0100", b"0600", chunk=16)
    seen = [next(it)[0] for _ in range(20)]
    for i in range(1000):  # new keys beside the ones read, while the iteration is open
        m.put(b"%04d+" % i, rec(b"w", 2000 + i))
    seen += [k for k, _ in it]
    assert seen[0] == b"0100" and seen[-1] in (b"0599", b"0599+")
    assert seen == sorted(set(seen)) and {b"%04d" % i for i in range(100, 600)} <= set(seen)


def test_frozen_refuses_writes():
    m = Memtable(1)
    m.put(b"a", rec(b"1", 1))
    m.freeze()
    with pytest.raises(FrozenError):
        m.put(b"b", rec(b"2", 2))
    assert m.get(b"a").value == b"1"


# Slots next to each other and at the edges of the slot range (the key order is kept per slot).
EDGE_SLOTS = [0, 1, 2, 255, 256, 5000, SLOT_COUNT - 2, SLOT_COUNT - 1]
ikeys = st.builds(lambda slot, tail: SLOT_PREFIX[slot] + tail, st.sampled_from(EDGE_SLOTS),
                  st.binary(min_size=0, max_size=3))
bounds = st.one_of(st.none(), ikeys, st.binary(max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.lists(ikeys | st.binary(min_size=0, max_size=3), max_size=60), st.lists(st.tuples(bounds, bounds), max_size=6),
       st.lists(ikeys, max_size=10))
def test_irange_places_unsorted_keys(keys, ranges, during):
    """New keys wait unsorted in their slot's bucket; irange and items still give exactly
    the keys of the range in order (a plain dict as the model), also with writes while
    it runs; keys that are not internal keys (shorter than 2 bytes, a first byte past
    the slots) sort as bytes do."""
    m = Memtable(1)
    model: dict[bytes, Record] = {}
    for i, k in enumerate(keys):
        model[k] = rec(b"v%d" % i, i + 1)
        m.put(k, model[k])
    for start, end in ranges:
        start = start or b""
        want = sorted(k for k in model if k >= start and (end is None or k < end))
        assert [k for k, _ in m.irange(start, end, chunk=4)] == want
    it = m.irange(b"", None, chunk=3)
    first = [kv[0] for _, kv in zip(range(5), it)]
    for k in during:  # written while the iteration is open: may be seen or not, order kept
        model.setdefault(k, rec(b"new", 10**6))
        m.put(k, model[k])
    seen = first + [k for k, _ in it]
    assert seen == sorted(set(seen)) and set(seen) >= set(keys) and set(seen) <= set(model)
    assert [k for k, _ in m.items()] == sorted(model)
    assert all(m.get(k) == model[k] for k in model) and len(m) == len(model)


def test_native_entries_refuse_bad_arguments():
    """MemtableEntries checks what it is given (a TypeError or ValueError, never a crash)."""
    from hypercache.native import MemtableEntries

    with pytest.raises(TypeError):
        MemtableEntries(dict)  # not a tuple type
    entries = MemtableEntries(Record)
    with pytest.raises(TypeError):
        entries.put("text", 1, b"v", None, 1)
    with pytest.raises(TypeError):
        entries.put(b"k", 1, bytearray(b"v"), None, 1)
    with pytest.raises(ValueError):
        entries.put(b"k", 256, b"v", None, 1)
    with pytest.raises(ValueError):
        entries.put(b"k", 1, b"v", -5, 1)
    with pytest.raises(TypeError):
        entries.put(b"k", 1, b"v", None)
    with pytest.raises(TypeError):
        entries.get(7)
    with pytest.raises(TypeError):
        entries.range_chunk(b"", 5, False, 10)
    assert len(entries) == 0 and entries.range_chunk(b"", None, False, 10) == []
    assert entries.put(b"k", 1, b"v", None, 1) is True and entries.put(b"k", 1, b"w", None, 2) is False
    assert entries.range_chunk(b"k", None, True, 10) == [] and entries.range_chunk(b"k", b"k", False, 10) == []
    assert entries.range_chunk(b"", None, False, 0) == [] and entries.get(b"k") == Record(1, b"w", None, 2)


def test_keys_whose_table_tags_collide():
    """Keys whose table slots carry the same hash bits and share a home slot: a probe
    that matches the bits still compares the key (30,000 keys: a 65,536-slot table, so
    16 hash bits of the high word in each slot and the low word's 16 bits as its home)."""
    from hypercache.native import MemtableEntries, hash64

    seen: dict[int, bytes] = {}
    twins: list[bytes] = []
    for n in range(2_000_000):
        key = b"twin%d" % n
        h = hash64(key)
        signature = ((h >> 48) << 16) | (h & 0xFFFF)
        if signature in seen:
            twins = [seen[signature], key]
            break
        seen[signature] = key
    assert twins, "no two keys with one signature"
    entries = MemtableEntries(Record)
    for n in range(30_000 - 2):
        entries.put(b"fill%d" % n, 1, b"f", None, n + 1)
    assert entries.put(twins[0], 1, b"first", None, 40_000) is True
    assert entries.put(twins[1], 1, b"second", None, 40_001) is True
    assert entries.get(twins[0]).value == b"first" and entries.get(twins[1]).value == b"second"
    assert entries.put(twins[0], 1, b"again", None, 40_002) is False
    assert entries.get(twins[0]) == Record(1, b"again", None, 40_002)
    assert entries.get(twins[1]) == Record(1, b"second", None, 40_001)
    assert len(entries) == 30_000 and entries.get(b"fill0").value == b"f"
