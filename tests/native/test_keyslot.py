"""The native key slot equals binascii.crc_hqx (what redis-py routes by) and keyslot.py."""

from __future__ import annotations

import binascii

from hypothesis import given, settings
from hypothesis import strategies as st

from hypercache import keyslot
from hypercache.native import SLOT_COUNT, crc16, key_slot, key_slots

TAGGY = st.lists(st.sampled_from([b"{", b"}", b"a", b"b", b"{}", b"\x00", b"\xff", b"user1000"]), max_size=8).map(
    b"".join
)


@settings(max_examples=700, deadline=None)
@given(data=st.one_of(st.binary(max_size=64), TAGGY))
def test_crc16_is_crc_hqx(data: bytes) -> None:
    assert crc16(data) == binascii.crc_hqx(data, 0)


@settings(max_examples=700, deadline=None)
@given(key=st.one_of(st.binary(max_size=40), TAGGY))
def test_key_slot_matches_python_and_redis_py(key: bytes) -> None:
    slot = key_slot(key)
    assert slot == keyslot.key_slot(key)
    assert 0 <= slot < SLOT_COUNT
    # what redis-py computes: crc_hqx of the hash tag
    start = key.find(b"{")
    if start > -1:
        end = key.find(b"}", start + 1)
        if end > -1 and end != start + 1:
            key = key[start + 1 : end]
    assert slot == binascii.crc_hqx(key, 0) % 16384


def test_known_slots_and_hash_tags() -> None:
    assert crc16(b"123456789") == 0x31C3
    assert key_slot(b"foo") == 12182
    assert key_slot(b"{user1000}.following") == key_slot(b"{user1000}.followers") == key_slot(b"user1000")
    assert key_slot(b"foo{}{bar}") == binascii.crc_hqx(b"foo{}{bar}", 0) % 16384  # empty tag: whole key
    assert key_slot(b"foo{{bar}}zap") == key_slot(b"{bar")  # the tag ends at the first }
    assert key_slot(b"foo{bar}{zap}") == key_slot(b"bar")
    assert key_slot(b"") == 0
    assert key_slot(bytearray(b"foo")) == key_slot(memoryview(b"foo")) == 12182


@given(st.lists(st.one_of(st.binary(max_size=20), TAGGY), max_size=50))
def test_key_slots_batch(keys: list[bytes]) -> None:
    assert key_slots(keys) == [keyslot.key_slot(k) for k in keys]
