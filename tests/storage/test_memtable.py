"""The memtable: sorted records, tombstones, size estimate, freezing."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hypercache.keyslot import SLOT_COUNT
from hypercache.storage.memtable import ENTRY_OVERHEAD, SETTLE_WINDOW, FrozenError, Memtable
from hypercache.storage.records import SLOT_PREFIX, Record, internal_key


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
    for i in range(0, 1000, 2):  # drop half the keys while the iteration is open, as drain() does
        dict.pop(m._data, b"%04d" % i, None)
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


# Slots at the edges of irange's settle windows (memtable.SETTLE_WINDOW) and of the slot range.
EDGE_SLOTS = [0, 1, SETTLE_WINDOW - 1, SETTLE_WINDOW, 2 * SETTLE_WINDOW + 3, 5000, SLOT_COUNT - 2, SLOT_COUNT - 1]
ikeys = st.builds(lambda slot, tail: SLOT_PREFIX[slot] + tail, st.sampled_from(EDGE_SLOTS),
                  st.binary(min_size=0, max_size=3))
bounds = st.one_of(st.none(), ikeys, st.binary(max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.lists(ikeys | st.binary(min_size=0, max_size=3), max_size=60), st.lists(st.tuples(bounds, bounds), max_size=6),
       st.lists(ikeys, max_size=10))
def test_irange_places_unsorted_keys(keys, ranges, during):
    """New keys wait unsorted by slot; irange and items still give exactly the keys of
    the range in order (a plain dict as the model), also with writes while it runs."""
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
    assert all(m.get(k) is model[k] for k in model) and len(m) == len(model)


def test_new_keys_wait_unsorted_until_a_range_read():
    """A write does not place its key in the order; a read of its slot's range does,
    and only that window of slots."""
    m = Memtable(1)
    for slot in (3, 3, 9000):
        m.put(SLOT_PREFIX[slot] + b"k%d" % slot, rec(b"v", 1))
    assert len(m._data._list) == 0 and len(m) == 2
    assert [k for k, _ in m.irange(SLOT_PREFIX[3], SLOT_PREFIX[4])] == [SLOT_PREFIX[3] + b"k3"]
    assert list(m._data._list) == [SLOT_PREFIX[3] + b"k3"] and m._unsorted[9000] is not None


def test_drain_frees_unsorted_keys_too():
    m = Memtable(1)
    for i in range(5000):
        m.put(internal_key(b"key:%d" % i), rec(b"v", i + 1))
    m.freeze()
    steps = 0
    while not m.drain(1000):
        steps += 1
    assert len(m) == 0 and 5 <= steps <= 12 and m._unsorted == [None] * SLOT_COUNT


def test_dict_drain_frees_a_dead_dict_in_steps():
    """native dict_drain deletes `budget` entries a call, going on where it stopped, and
    ends with the dict empty whatever position it is handed (a stale one starts over)."""
    import pytest

    from hypercache.native import dict_drain

    for budget in (1, 7, 1000, 5000):
        d = {b"k%d" % i: object() for i in range(3000)}
        pos, calls = 0, 0
        while d:
            before = len(d)
            pos = dict_drain(d, pos, budget)
            assert before - len(d) == min(budget, before)
            calls += 1
        assert calls == -(-3000 // budget)
    d = {i: i for i in range(10)}
    assert dict_drain(d, 10_000, 4) >= 0 and len(d) == 6  # past the end: from the start
    assert dict_drain(d, 0, 0) == 0 and len(d) == 6
    with pytest.raises(TypeError):
        dict_drain([], 0, 1)
