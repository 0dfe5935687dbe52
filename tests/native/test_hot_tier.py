"""The native hot tier (src/hc_hot.c) against a model: one OrderedDict per cluster slot,
in least-recently-used order, as the keyspace's slot dicts were kept."""

from __future__ import annotations

import sys
from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hypercache.native import SLOT_COUNT, HotTier, hash64, key_slot

# Keys crowd into a few slots (hash tags), so the tables grow, shrink and probe past
# each other; a few plain keys land anywhere.
KEYS = st.one_of(
    st.builds(lambda tag, n: b"{%d}k%d" % (tag, n), st.integers(0, 2), st.integers(0, 60)),
    st.binary(max_size=6),
)


class Filter:
    """A value of another type: held by reference."""


OBJECTS = [Filter() for _ in range(3)]
VALUES = st.one_of(st.binary(max_size=40), st.sampled_from(OBJECTS))

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), KEYS, VALUES, st.booleans()),
        st.tuples(st.just("get"), KEYS),
        st.tuples(st.just("pop"), KEYS),
        st.tuples(st.just("clear")),
    ),
    max_size=300,
)


def check_slot(hot: HotTier, model: dict[int, OrderedDict], slot: int) -> None:
    expected = model.get(slot, OrderedDict())
    assert hot.slot_len(slot) == len(expected)
    assert sorted(hot.slot_keys(slot)) == sorted(expected)
    assert hot.slot_keys_by_age(slot) == list(expected)
    assert dict(hot.slot_items(slot)) == {k: v for k, (v, _) in expected.items()}
    if expected:
        assert hot.slot_keys(slot, 1)[0] in expected


def check_samples(hot: HotTier, model: dict[int, OrderedDict]) -> None:
    """Keys drawn from the whole tier are live keys; the oldest of many draws over a
    single key is that key."""
    live = {k for slot in model.values() for k in slot}
    for pick in (0, 7, 2**64 - 1):
        assert hot.sample_key(pick) in live if live else hot.sample_key(pick) is None
        assert hot.sample_oldest(pick, 8) in live if live else hot.sample_oldest(pick, 8) is None
    if len(live) == 1:
        assert hot.sample_oldest(12345, 8) == next(iter(live))


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_hot_tier_matches_a_model(ops):
    hot = HotTier()
    model: dict[int, OrderedDict] = {}
    for op in ops:
        if op[0] == "set":
            _, key, value, ttl = op
            slot = model.setdefault(key_slot(key), OrderedDict())
            assert hot.set(key, value, ttl) is (key not in slot)
            slot[key] = (value, ttl)
            slot.move_to_end(key)
        elif op[0] == "get":
            key = op[1]
            slot = model.get(key_slot(key), {})
            got = hot.get(key)
            if key in slot:
                value = slot[key][0]
                assert got == value and (type(value) is bytes or got is value)
                slot.move_to_end(key)
            else:
                assert got is None
        elif op[0] == "pop":
            key = op[1]
            slot = model.get(key_slot(key), {})
            got = hot.pop(key)
            if key in slot:
                assert got == slot.pop(key)[0]
            else:
                assert got is None
        else:
            hot.clear()
            model.clear()
        key = op[1] if len(op) > 1 else b""
        check_slot(hot, model, key_slot(key))
        check_samples(hot, model)
    live = {k: v for slot in model.values() for k, v in slot.items()}
    assert len(hot) == len(live)
    for key, (value, ttl) in live.items():
        assert key in hot and hot.has_ttl(key) is ttl
    occupied = sorted(s for s, d in model.items() if d)
    walked, at = [], hot.next_occupied(0)
    while at >= 0:
        walked.append(at)
        at = hot.next_occupied(at + 1)
    assert walked == occupied
    for key in list(live):
        hot.pop(key)
    assert len(hot) == 0 and hot.bytes == 0 and hot.next_occupied(0) == -1


def test_bytes_counts_entries_and_tables():
    hot = HotTier()
    for n in range(1000):  # one slot (a hash tag): its table of 2048 buckets
        hot.set(b"{t}key:%012d" % n, b"v" * 100)
    # a 19-byte key and a 100-byte value: one 144-byte malloc chunk, and 16 bytes of table
    assert hot.bytes == 1000 * 144 + 2048 * 8 + 16
    hot.clear()
    assert hot.bytes == 0 and len(hot) == 0


def test_object_values_are_held_by_reference():
    value = Filter()
    before = sys.getrefcount(value)
    hot = HotTier()
    hot.set(b"a", value)
    hot.set(b"b", value)
    assert sys.getrefcount(value) == before + 2
    hot.set(b"a", b"now a string")  # the replaced object is released
    assert sys.getrefcount(value) == before + 1
    assert hot.pop(b"b") is value
    assert sys.getrefcount(value) == before
    hot.set(b"c", value)
    del hot  # dealloc releases what it holds
    assert sys.getrefcount(value) == before


def test_bad_arguments():
    hot = HotTier()
    with pytest.raises(TypeError):
        hot.set("str key", b"v")
    with pytest.raises(ValueError):
        hot.slot_len(SLOT_COUNT)
    with pytest.raises(ValueError):
        hot.sample_oldest(0, 0)
    with pytest.raises(ValueError):
        hot.sample_oldest(0, 65)
    with pytest.raises(TypeError):
        hot.sample_key()
    with pytest.raises(TypeError):
        HotTier(1)
    assert hot.next_occupied(SLOT_COUNT) == -1


def same_bucket_and_tag(prefix: bytes, home_bits: int, want: int) -> list[bytes]:
    """`want` keys of one slot (a hash tag) whose hashes share the 16 top bits a bucket
    carries as its tag and the low `home_bits` bits (their home bucket)."""
    groups: dict[tuple[int, int], list[bytes]] = {}
    for n in range(1_000_000):
        key = prefix + b"%d" % n
        h = hash64(key)
        group = groups.setdefault((h >> 48, h & ((1 << home_bits) - 1)), [])
        group.append(key)
        if len(group) == want:
            return group
    raise AssertionError("no keys found")


def test_keys_whose_bucket_tags_collide():
    """Keys whose buckets carry the same tag and share a home: a probe that matches a tag
    still compares the key, and deletion and growth move the tagged buckets whole."""
    twins = same_bucket_and_tag(b"{t}k", 3, 3)  # a slot of <= 6 keys has 8 buckets
    slot = key_slot(twins[0])
    hot = HotTier()
    for i, key in enumerate(twins):
        assert hot.set(key, b"v%d" % i) is True
    assert [hot.get(k) for k in twins] == [b"v0", b"v1", b"v2"]
    assert hot.get(twins[0] + b"x") is None
    assert hot.pop(twins[1]) == b"v1"  # the middle of the chain: the last shifts back
    assert hot.get(twins[1]) is None and [hot.get(twins[0]), hot.get(twins[2])] == [b"v0", b"v2"]
    assert hot.set(twins[2], b"longer value") is False and hot.get(twins[2]) == b"longer value"
    for n in range(100):  # the slot's table grows several times over them
        hot.set(b"{t}fill%d" % n, b"f")
    assert hot.slot_len(slot) == 102
    assert [hot.get(twins[0]), hot.get(twins[1]), hot.get(twins[2])] == [b"v0", None, b"longer value"]
    for n in range(100):
        hot.pop(b"{t}fill%d" % n)
    assert sorted(hot.slot_keys(slot)) == sorted([twins[0], twins[2]])


def test_samples_are_drawn_by_key_not_by_slot():
    """A slot is drawn in proportion to its keys: a slot of 10 keys next to one of 1,000
    gives ~1% of the draws (drawing slots uniformly gave it half of them, and eviction
    then emptied small slots of their recent keys while large ones kept old ones)."""
    hot = HotTier()
    for n in range(1000):
        hot.set(b"{big}%d" % n, b"v")
    for n in range(10):
        hot.set(b"{small}%d" % n, b"v")
    draws = [hot.sample_key(pick * 0x9E3779B97F4A7C15 % 2**64) for pick in range(20_000)]
    small = sum(1 for k in draws if k.startswith(b"{small}"))
    assert 100 <= small <= 320  # 198 expected
    assert len(set(draws)) > 950  # nearly every key is drawn
    # the oldest of 8 draws is one of the 500 just used only when all 8 are: (500/1010)^8,
    # 0.4% of the time
    for n in range(500, 1000):
        hot.get(b"{big}%d" % n)
    oldest = [hot.sample_oldest(pick * 0x2545F4914F6CDD1D % 2**64, 8) for pick in range(2000)]
    assert sum(1 for k in oldest if k.startswith(b"{big}") and int(k[5:]) >= 500) <= 30
