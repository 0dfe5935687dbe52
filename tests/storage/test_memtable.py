"""The memtable: sorted records, tombstones, size estimate, freezing."""

from __future__ import annotations

import tracemalloc

import pytest

from hypercache.storage.memtable import ENTRY_OVERHEAD, FrozenError, Memtable
from hypercache.storage.records import Record, internal_key


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


def test_size_estimate_tracks_overwrites():
    m = Memtable(1)
    m.put(b"k", rec(b"x" * 100, 1))
    first = m.approximate_bytes
    assert first == 1 + 100 + ENTRY_OVERHEAD
    m.put(b"k", rec(b"x" * 10, 2))
    assert m.approximate_bytes == first - 90


def test_irange_bounds_and_interleaved_writes():
    m = Memtable(1)
    for i in range(1000):
        m.put(b"%04d" % i, rec(b"v", i + 1))
    it = m.irange(b"0100", b"0600", chunk=16)
    seen = [next(it)[0] for _ in range(20)]
    for i in range(0, 1000, 2):  # delete half the keys while the iteration is open
        m._data.pop(b"%04d" % i, None)
    seen += [k for k, _ in it]
    assert seen[0] == b"0100" and seen[-1] == b"0599"
    assert seen == sorted(set(seen))


def test_frozen_refuses_writes():
    m = Memtable(1)
    m.put(b"a", rec(b"1", 1))
    m.freeze()
    with pytest.raises(FrozenError):
        m.put(b"b", rec(b"2", 2))
    assert m.get(b"a").value == b"1"


def test_size_estimate_is_honest():
    """approximate_bytes is within 25% of what CPython really allocates for the entries."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    m = Memtable(1)
    for i in range(20000):
        m.put(internal_key(b"key:%08d" % i), Record(1, b"v" * (i % 100), None, 10**6 + i))
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert 0.75 < m.approximate_bytes / used < 1.25, (m.approximate_bytes, used)
