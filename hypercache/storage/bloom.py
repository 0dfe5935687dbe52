"""The SSTable filter block: a bloom filter over the table's internal keys.

A tiny interface so a native filter (hypercache/native) can replace this one:
`new_filter_builder(bits_per_key)` gives an object with `add(key)` and `finish() ->
bytes`; `load_filter(block)` gives an object with `may_contain(key) -> bool`. The first
byte of the block names the filter type, so tables written by either keep working.

Type 1 (this module), docs/formats.md "Filter block":

    type u8 = 1 | k u8 | reserved u16 = 0 | nbits u32 LE | bit array (nbits / 8 bytes)

For a key, (h1, h2) = mmh3.hash64(key, seed 0, x64, unsigned); probe i (0 <= i < k)
tests bit ((h1 + i * h2) mod 2**64) mod nbits, bit b being bit (b & 7), least
significant first, of byte b >> 3.
"""

from __future__ import annotations

import math
import struct
from typing import Protocol

import mmh3

BLOOM_MMH3 = 1
_HEADER = struct.Struct("<BBHI")
_MASK64 = (1 << 64) - 1


class FilterBuilder(Protocol):
    def add(self, key: bytes) -> None: ...
    def finish(self) -> bytes: ...


class Filter(Protocol):
    def may_contain(self, key: bytes) -> bool: ...


class BloomBuilder:
    """Collects key hashes; `finish()` lays out the bit array."""

    def __init__(self, bits_per_key: int = 10) -> None:
        self.bits_per_key = max(1, bits_per_key)
        self._hashes: list[tuple[int, int]] = []

    def add(self, key: bytes) -> None:
        self._hashes.append(mmh3.hash64(key, 0, True, False))

    def finish(self) -> bytes:
        """The filter block's bytes."""
        k = max(1, min(30, round(self.bits_per_key * math.log(2))))
        nbits = max(64, len(self._hashes) * self.bits_per_key)
        nbits = (nbits + 7) // 8 * 8
        bits = bytearray(nbits // 8)
        for h1, h2 in self._hashes:
            h = h1
            for _ in range(k):
                pos = (h & _MASK64) % nbits
                bits[pos >> 3] |= 1 << (pos & 7)
                h += h2
        return _HEADER.pack(BLOOM_MMH3, k, 0, nbits) + bytes(bits)


class Bloom:
    """A loaded type-1 filter."""

    __slots__ = ("_bits", "_k", "_nbits")

    def __init__(self, block: bytes) -> None:
        _, self._k, _, self._nbits = _HEADER.unpack_from(block)
        self._bits = block[_HEADER.size :]
        if self._nbits == 0 or len(self._bits) * 8 < self._nbits:
            raise ValueError("filter block too short for its nbits")

    def may_contain(self, key: bytes) -> bool:
        h, h2 = mmh3.hash64(key, 0, True, False)
        bits, nbits = self._bits, self._nbits
        for _ in range(self._k):
            pos = (h & _MASK64) % nbits
            if not (bits[pos >> 3] >> (pos & 7)) & 1:
                return False
            h += h2
        return True


class _AlwaysMaybe:
    """Stand-in for a filter type this build cannot read: never a false negative."""

    def may_contain(self, key: bytes) -> bool:
        return True


def new_filter_builder(bits_per_key: int = 10) -> FilterBuilder:
    """A builder for the default filter type."""
    return BloomBuilder(bits_per_key)


def load_filter(block: bytes) -> Filter:
    """A filter over a stored filter block (an unknown type answers 'maybe')."""
    if block and block[0] == BLOOM_MMH3:
        return Bloom(block)
    return _AlwaysMaybe()
