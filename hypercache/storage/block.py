"""Sorted key/value blocks: the unit an SSTable is made of (data, index, properties).

Layout (little-endian), docs/formats.md "Blocks":

    entry 0 .. entry n-1      each: key_len u32 | value_len u32 | key | value
    offsets                   n x u32: where each entry starts, from the block start
    n                         u32
    crc32                     u32: zlib CRC-32 of every byte before it in the block

Keys are strictly increasing. The offset array makes every entry a restart point, so a
lookup is a binary search over at most a block's entries without decoding the others.
"""

from __future__ import annotations

import struct
import sys
import zlib
from typing import Iterator

from hypercache.storage.errors import CorruptionError

ENTRY_HEAD = struct.Struct("<II")
_U32 = struct.Struct("<I")
TRAILER_SIZE = 8  # n u32 + crc u32 (the offsets array comes before them)
_NATIVE_LE = sys.byteorder == "little" and struct.calcsize("I") == 4


class BlockBuilder:
    """Accumulates sorted entries; `finish()` returns the block's bytes."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._offsets: list[int] = []

    def add(self, key: bytes, value: bytes) -> None:
        """Append an entry; keys must be added in increasing order."""
        self._offsets.append(len(self._buf))
        self._buf += ENTRY_HEAD.pack(len(key), len(value))
        self._buf += key
        self._buf += value

    def add_parts(self, key: bytes, head: bytes, value: bytes) -> None:
        """Append an entry whose value is head + value (saves a concatenation)."""
        self._offsets.append(len(self._buf))
        self._buf += ENTRY_HEAD.pack(len(key), len(head) + len(value))
        self._buf += key
        self._buf += head
        self._buf += value

    def __len__(self) -> int:
        return len(self._offsets)

    def size(self) -> int:
        """The size the block would have if finished now."""
        return len(self._buf) + 4 * len(self._offsets) + TRAILER_SIZE

    def finish(self) -> bytes:
        """The finished block (entries, offsets, count, checksum); the builder resets."""
        buf = self._buf
        n = len(self._offsets)
        buf += struct.pack(f"<{n}I", *self._offsets)
        buf += _U32.pack(n)
        buf += _U32.pack(zlib.crc32(buf))
        self._buf = bytearray()
        self._offsets = []
        return bytes(buf)


def verify(raw: bytes, what: str, path: str | None = None) -> bytes:
    """Check a stored block's checksum; returns it (trailer included) if it matches."""
    if len(raw) < TRAILER_SIZE:
        raise CorruptionError(f"{what} truncated ({len(raw)} bytes)", path)
    with memoryview(raw) as view:  # no copy of the block just to checksum it
        crc = zlib.crc32(view[:-4])
    if crc != _U32.unpack_from(raw, len(raw) - 4)[0]:
        raise CorruptionError(f"{what} checksum mismatch", path)
    return raw


class Block:
    """A verified block (with its trailer), searchable by key."""

    __slots__ = ("data", "offsets")

    def __init__(self, raw: bytes, what: str = "block", path: str | None = None) -> None:
        n = _U32.unpack_from(raw, len(raw) - TRAILER_SIZE)[0]
        base = len(raw) - TRAILER_SIZE - 4 * n
        if base < 0:
            raise CorruptionError(f"{what} entry count {n} does not fit", path)
        self.data = raw
        if _NATIVE_LE:  # a zero-copy view of the offsets array
            self.offsets = memoryview(raw)[base : base + 4 * n].cast("I")
        else:
            self.offsets = struct.unpack_from(f"<{n}I", raw, base)
        if n and self.offsets[-1] >= base:
            raise CorruptionError(f"{what} entry offset out of range", path)

    def __len__(self) -> int:
        return len(self.offsets)

    def key_at(self, i: int) -> bytes:
        off = self.offsets[i]
        klen = _U32.unpack_from(self.data, off)[0]
        return self.data[off + 8 : off + 8 + klen]

    def entry(self, i: int) -> tuple[bytes, int, int]:
        """(key, value start, value end) of entry i: the value is data[start:end]."""
        off = self.offsets[i]
        klen, vlen = ENTRY_HEAD.unpack_from(self.data, off)
        start = off + 8 + klen
        return self.data[off + 8 : start], start, start + vlen

    def seek(self, key: bytes, lo: int = 0, hi: int | None = None) -> int:
        """Index of the first entry in [lo, hi) whose key is >= key (hi if none)."""
        offsets, data, unpack = self.offsets, self.data, _U32.unpack_from
        if hi is None:
            hi = len(offsets)
        while lo < hi:  # inlined key_at: this loop is most of a table lookup
            mid = (lo + hi) >> 1
            off = offsets[mid]
            if data[off + 8 : off + 8 + unpack(data, off)[0]] < key:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def items(self, start: int = 0) -> Iterator[tuple[bytes, int, int]]:
        """(key, value start, value end) from entry `start` to the end."""
        data = self.data
        unpack = ENTRY_HEAD.unpack_from
        for off in self.offsets[start:]:
            klen, vlen = unpack(data, off)
            vstart = off + 8 + klen
            yield data[off + 8 : vstart], vstart, vstart + vlen
