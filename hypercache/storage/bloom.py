"""The SSTable filter block: a bloom filter over the table's internal keys.

A tiny interface: `new_filter_builder(bits_per_key)` gives an object with `add(key)` and
`finish() -> bytes`; `load_filter(block)` gives an object with `may_contain(key) -> bool`.
The first byte of the block names the filter type (docs/formats.md, "Filter block"):

- type 2 (written): `type u8 = 2 | hypercache.native.BloomFilter.to_bytes()`, a
  non-scaling native filter (XXH64, hypercache/native/formats.md) built without the GIL
  and queried in place, one C call per lookup;
- type 1 (read only, the first tables' format): `type u8 = 1 | k u8 | reserved u16 = 0 |
  nbits u32 LE | bit array`; for a key, (h1, h2) = mmh3.hash64(key, seed 0, x64,
  unsigned); probe i (0 <= i < k) tests bit ((h1 + i * h2) mod 2**64) mod nbits, bit b
  being bit (b & 7), least significant first, of byte b >> 3;
- any other type: "maybe" for every key (never a false negative).
"""

from __future__ import annotations

import math
import struct
from typing import Protocol

import mmh3

from hypercache.native import BloomFilter

BLOOM_MMH3 = 1
BLOOM_NATIVE = 2
_TYPE_NATIVE = bytes([BLOOM_NATIVE])
_HEADER = struct.Struct("<BBHI")
_MASK64 = (1 << 64) - 1
# Past this the false-positive rate is ~1e-13 already; the bound keeps the native
# filter's probe count (ceil(bits_per_key * ln 2)) far below its limit.
_MAX_BITS_PER_KEY = 64


class FilterBuilder(Protocol):
    def add(self, key: bytes) -> None: ...
    def finish(self) -> bytes: ...


class Filter(Protocol):
    def may_contain(self, key: bytes) -> bool: ...


def error_rate_for(bits_per_key: int) -> float:
    """The error rate for which the native filter sizes `bits_per_key` bits per key.

    It sizes a filter as RedisBloom does, bits per key = -ln(error) / ln(2)^2, so this is
    the inverse (10 bits per key: 0.0082, with k = ceil(10 * ln 2) = 7 probes)."""
    return math.exp(-bits_per_key * math.log(2) ** 2)


def table_error_rate(bits_per_key: int) -> float:
    """The error rate a table's filter of `bits_per_key` is built for (clamped to 1..64)."""
    return error_rate_for(min(max(1, bits_per_key), _MAX_BITS_PER_KEY))


class NativeBloomBuilder:
    """Collects the table's keys; `finish()` builds the native filter in one C call."""

    __slots__ = ("add", "extend", "_keys", "_error")

    def __init__(self, bits_per_key: int = 10) -> None:
        self._keys: list[bytes] = []
        # list.append / list.extend themselves: the flush and compaction paths add
        # every key, so adding should cost no Python frame.
        self.add = self._keys.append
        self.extend = self._keys.extend
        self._error = table_error_rate(bits_per_key)

    def finish(self) -> bytes:
        """The filter block's bytes."""
        return _TYPE_NATIVE + BloomFilter.from_keys(self._keys, self._error).to_bytes()


class NativeBloom(BloomFilter):
    """A loaded type-2 filter: the native filter itself, read-only over the block's bytes.

    `may_contain` is the C method `contains`, not a Python wrapper around it: a GET asks
    every table it might find the key in, so this call is the one to keep cheap."""

    __slots__ = ()
    may_contain = BloomFilter.contains


class Bloom:
    """A loaded type-1 filter (tables written before the native filter; kept readable)."""

    __slots__ = ("_bits", "_k", "_nbits")

    def __init__(self, block: bytes) -> None:
        _, self._k, _, self._nbits = _HEADER.unpack_from(block)
        self._bits = bytes(block[_HEADER.size :])
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
    """A builder for the default filter type (2, native)."""
    return NativeBloomBuilder(bits_per_key)


def load_filter(block: bytes | memoryview) -> Filter:
    """A filter over a stored filter block (an unknown type answers 'maybe').

    `block` must already have passed the filter block's CRC-32 (TableReader checks it).
    A type-2 filter reads `block` in place and keeps it alive. Raises ValueError when
    the block is not a well-formed filter of its type."""
    if not block:
        return _AlwaysMaybe()
    if block[0] == BLOOM_NATIVE:
        # The table reader has checked the block's CRC-32 over these very bytes, so the
        # native filter skips its own whole-body checksum (its header's is still checked).
        return NativeBloom.frombuffer(memoryview(block)[1:], verify=False)
    if block[0] == BLOOM_MMH3:
        return Bloom(block)
    return _AlwaysMaybe()
