"""What the engine stores: internal keys and records.

An internal key is the 2-byte big-endian cluster slot of the user key followed by the
user key, so all keys of one slot are one contiguous key range (DESIGN.md, Storage).
A record is the newest known state of a key: its value type ("kind"), value bytes,
expiry and the sequence number of the write that produced it. Kind 0 is a tombstone.
"""

from __future__ import annotations

from typing import NamedTuple

from hypercache.keyslot import SLOT_COUNT
from hypercache.native import key_slot  # the C one (same slots as hypercache.keyslot's, ~4x faster)

KIND_TOMBSTONE = 0  # a delete (or an expired entry compaction could not drop yet)
KIND_STRING = 1  # a plain string value; further types take further small ints
MAX_KIND = 255

# Precomputed 2-byte prefixes: one slice-free concatenation per key.
SLOT_PREFIX: tuple[bytes, ...] = tuple(s.to_bytes(2, "big") for s in range(SLOT_COUNT + 1))


class Record(NamedTuple):
    """One version of a key. `expire_at` is ms since the epoch, or None (no TTL)."""

    kind: int
    value: bytes
    expire_at: int | None
    seq: int

    @property
    def is_tombstone(self) -> bool:
        return self.kind == KIND_TOMBSTONE

    def expired(self, now_ms: int) -> bool:
        """True if the record has a TTL that has passed at `now_ms`."""
        return self.expire_at is not None and self.expire_at <= now_ms


def internal_key(key: bytes) -> bytes:
    """The internal key of a user key: slot (2 bytes, big-endian) + key."""
    return SLOT_PREFIX[key_slot(key)] + key


def user_key(ikey: bytes) -> bytes:
    """The user key inside an internal key."""
    return ikey[2:]


def slot_of(ikey: bytes) -> int:
    """The cluster slot an internal key belongs to."""
    return (ikey[0] << 8) | ikey[1]


def slot_range(slot: int) -> tuple[bytes, bytes]:
    """[start, end) internal-key bounds of one slot."""
    if not 0 <= slot < SLOT_COUNT:
        raise ValueError(f"slot {slot} out of range")
    return SLOT_PREFIX[slot], SLOT_PREFIX[slot + 1]
