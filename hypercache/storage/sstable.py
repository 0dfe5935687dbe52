"""SSTables: immutable sorted files of records (docs/formats.md, "SSTable").

    data block 0 .. data block m-1     sorted records, ~block_size bytes each
    filter block                       bloom filter over every key, + crc32 u32
    properties block                   a block: counts, seq range, smallest/largest key
    index block                        a block: last key of data block i -> handle
    footer (52 bytes)

A data-block entry's key is the internal key; its value is

    kind u8 | seq u64 | expire_at u64 (0 = none) | value bytes

Every block carries a CRC-32 that the reader checks on each read: a damaged table
raises CorruptionError and is never returned as data. Tables are written to a
temporary name, fsynced and renamed, so a table file that exists is complete.
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from array import array
from bisect import bisect_left
from dataclasses import asdict, dataclass
from itertools import accumulate, repeat
from operator import add, itemgetter, lt
from typing import Iterator, Sequence

from hypercache.native import table_get
from hypercache.storage import bloom
from hypercache.storage.block import ENTRY_HEAD, TRAILER_SIZE, Block, BlockBuilder, verify
from hypercache.storage.errors import CorruptionError
from hypercache.storage.records import KIND_TOMBSTONE, Record

MAGIC = b"HyCaSST1"
FORMAT_VERSION = 1
FOOTER = struct.Struct("<QIQIQII")  # index, properties, filter handles; version
FOOTER_SIZE = FOOTER.size + 4 + len(MAGIC)  # + crc32 of the fields + magic = 52
VALUE_HEAD = struct.Struct("<BQQ")  # kind, seq, expire_at
VALUE_HEAD_SIZE = VALUE_HEAD.size  # 17
_HANDLE = struct.Struct("<QI")
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
INDEX_SAMPLE = 16
# (ikey, -seq, kind, expire_at, the whole data-block entry: key_len | value_len | ikey |
# kind | seq | expire_at | value): what flushes and compactions move, sorting newest first
RawEntry = tuple[bytes, int, int, int, bytes]
_KEY, _NEG_SEQ, _KIND, _EXPIRE, _ENTRY = (itemgetter(i) for i in range(5))


def _offsets_bytes(offsets: list[int]) -> bytes:
    """A block's offset array: u32 little-endian each."""
    if _NATIVE_U32:
        return array("I", offsets).tobytes()
    return struct.pack(f"<{len(offsets)}I", *offsets)


_NATIVE_U32 = sys.byteorder == "little" and array("I").itemsize == 4


def table_name(number: int) -> str:
    return f"{number:06d}.sst"


@dataclass(frozen=True)
class TableMeta:
    """What the manifest and the compaction picker know of a table."""

    number: int
    size: int  # bytes on disk
    smallest: bytes  # first internal key
    largest: bytes  # last internal key
    entries: int
    tombstones: int
    min_seq: int
    max_seq: int
    expiring: int = 0  # entries with a TTL
    min_expire: int = 0  # earliest expire_at among them (0 = none)
    mid_expire: int = 0  # median expire_at among them
    max_expire: int = 0  # latest expire_at among them

    def expired_estimate(self, now_ms: int) -> int:
        """Roughly how many entries have expired by `now_ms` (from three quantiles)."""
        if not self.expiring or self.min_expire > now_ms:
            return 0
        if self.max_expire <= now_ms:
            return self.expiring
        return self.expiring // 2 if self.mid_expire <= now_ms else 1

    def to_json(self) -> dict:
        d = asdict(self)
        d["smallest"], d["largest"] = self.smallest.hex(), self.largest.hex()
        return d

    @classmethod
    def from_json(cls, d: dict) -> TableMeta:
        d = dict(d)
        d["smallest"], d["largest"] = bytes.fromhex(d["smallest"]), bytes.fromhex(d["largest"])
        return cls(**d)


@dataclass
class ReadStats:
    """Counters shared by the readers of one store (INFO's storage_sstable_reads)."""

    block_reads: int = 0
    bytes_read: int = 0


class TableBuilder:
    """Writes one table; records must be added in strictly increasing key order.

    `add`/`add_encoded` append one record; `add_entries` appends many already encoded
    ones (the flush and compaction loops), with the data block kept inline here so that
    the per-record cost is a few appends."""

    def __init__(self, path: str, number: int, block_size: int = 4096, bloom_bits: int = 10) -> None:
        self.path = path
        self.number = number
        self._tmp = path + ".tmp"
        self._fh = open(self._tmp, "wb", buffering=1 << 20)
        self._block_size = block_size
        self._parts: list[bytes] = []  # the open data block's entries
        self._offsets: list[int] = []  # ... where each starts in it
        self._size = 0  # ... and their total length
        self._filter = bloom.new_filter_builder(bloom_bits)
        self._filter_extend = getattr(self._filter, "extend", None) or (lambda keys: [*map(self._filter.add, keys)])
        self._index = BlockBuilder()
        self._offset = 0
        self._last_key = b""
        self._first_key: bytes | None = None
        self.entries = self.tombstones = self.expiring = 0
        self.min_seq, self.max_seq = 1 << 64, 0
        self._expires: list[int] = []
        self._built_filter: bytes | None = None  # set by add_built: the table body came whole

    def add_built(self, blocks: bytes, index: Sequence[tuple[bytes, int, int]], filter_block: bytes,
                  properties: tuple[int, int, int, int, bytes, bytes, list[int]]) -> None:
        """Take a whole table body built elsewhere (native `flush_table`): its data
        blocks back to back, (last key, offset in `blocks`, size) per block, the filter
        block (without its CRC) and (entries, tombstones, min_seq, max_seq, smallest,
        largest, expire_ats). Only on an empty builder; `finish()` is all that may follow."""
        if self._first_key is not None or self._built_filter is not None:
            raise ValueError("add_built needs an empty builder")
        base = self._offset
        self._fh.write(blocks)
        self._offset += len(blocks)
        for last_key, offset, size in index:
            self._index.add(last_key, _HANDLE.pack(base + offset, size))
        (self.entries, self.tombstones, self.min_seq, self.max_seq,
         self._first_key, self._last_key, self._expires) = properties
        self._built_filter = filter_block

    def add(self, ikey: bytes, record: Record) -> None:
        """Append a record (a tombstone included)."""
        expire_at = record.expire_at or 0
        head = VALUE_HEAD.pack(record.kind, record.seq, expire_at)
        self.add_encoded(ikey, record.kind, record.seq, expire_at, head, record.value)

    def add_encoded(self, ikey: bytes, kind: int, seq: int, expire_at: int, head: bytes, tail: bytes = b"") -> None:
        """Append a record whose stored value (kind | seq | expire_at | value) is
        head + tail, e.g. copied as is from another table; the other arguments must
        agree with it (they feed the filter and the properties)."""
        entry = ENTRY_HEAD.pack(len(ikey), len(head) + len(tail)) + ikey + head + tail
        self.add_entries([(ikey, -seq, kind, expire_at, entry)])

    def add_entries(self, entries: Sequence[RawEntry], start: int = 0, size_limit: int = 1 << 62) -> int:
        """Append entries[start:] — (ikey, -seq, kind, expire_at, encoded block entry)
        tuples in increasing key order — until the table's estimated size reaches
        `size_limit`; returns the index after the last entry appended.

        Vectorised: the lengths' running sums say where blocks end (a bisect per
        block), and keys, lengths and properties are gathered by C-level passes, so
        the Python cost is per block rather than per entry."""
        n = len(entries)
        if start >= n:
            return start
        if self._built_filter is not None:
            raise ValueError("the table body was added whole (add_built)")
        batch = entries[start:] if start else entries
        m = len(batch)
        keys = list(map(_KEY, batch))
        if (self._first_key is not None and keys[0] <= self._last_key) or not all(map(lt, keys, keys[1:])):
            raise ValueError("keys must be added in increasing order")
        raws = list(map(_ENTRY, batch))
        cum = list(accumulate(map(len, raws), initial=0))  # bytes before entry k
        cum4 = list(map(add, cum, range(0, 4 * m + 4, 4)))  # ... plus 4 per offset
        limit = self._block_size - TRAILER_SIZE
        if self._first_key is None:
            self._first_key = keys[0]
        k = 0
        stop = False
        while k < m and not stop:
            open_bytes = self._size + 4 * len(self._offsets)
            base = cum4[k] - open_bytes  # cum4[e] - base = block bytes once entries k..e-1 are in
            e_cut = bisect_left(cum4, base + limit, k + 1)
            e_stop = bisect_left(cum4, base + size_limit - TRAILER_SIZE - self._offset, k + 1)
            e = min(e_cut, e_stop, m)
            stop = e_stop <= e_cut and e_stop <= m
            self._parts += raws[k:e]
            self._offsets += map(add, cum[k:e], repeat(self._size - cum[k]))
            self._size += cum[e] - cum[k]
            if e == e_cut:
                self._last_key = keys[e - 1]
                self._flush_block()
            k = e
        self._last_key = keys[k - 1]
        self._account(keys if k == m else keys[:k], batch if k == m else batch[:k])
        return start + k

    def _account(self, keys: list[bytes], added: Sequence[RawEntry]) -> None:
        """Filter keys and properties of entries just appended (C-level passes)."""
        self._filter_extend(keys)
        negs = list(map(_NEG_SEQ, added))
        self.max_seq = max(self.max_seq, -min(negs))
        self.min_seq = min(self.min_seq, -max(negs))
        kinds = list(map(_KIND, added))
        tombstones = kinds.count(KIND_TOMBSTONE)
        self.entries += len(kinds)
        self.tombstones += tombstones
        if any(map(_EXPIRE, added)):
            self._expires += [e[3] for e in added if e[3] and e[2] != KIND_TOMBSTONE]

    def estimated_size(self) -> int:
        """Bytes written so far plus the open block."""
        return self._offset + self._size + 4 * len(self._offsets) + TRAILER_SIZE

    def _write(self, data: bytes) -> tuple[int, int]:
        offset = self._offset
        self._fh.write(data)
        self._offset += len(data)
        return offset, len(data)

    def _flush_block(self) -> None:
        offsets = self._offsets
        if offsets:
            n = len(offsets)
            data = b"".join(self._parts)
            tail = _offsets_bytes(offsets) + _U32.pack(n)
            crc = _U32.pack(zlib.crc32(tail, zlib.crc32(data)))
            fh = self._fh
            fh.write(data)
            fh.write(tail)
            fh.write(crc)
            offset = self._offset
            size = len(data) + len(tail) + 4
            self._offset = offset + size
            self._index.add(self._last_key, _HANDLE.pack(offset, size))
            self._parts = []
            self._offsets = []
            self._size = 0

    def finish(self) -> TableMeta:
        """Write filter, properties, index and footer; fsync; rename into place."""
        if self._first_key is None:
            raise ValueError("an SSTable needs at least one record")
        self._flush_block()
        data_blocks = len(self._index)
        ex = sorted(self._expires)
        self.expiring = len(ex)
        min_e, mid_e, max_e = (ex[0], ex[len(ex) // 2], ex[-1]) if ex else (0, 0, 0)
        fblock = self._built_filter if self._built_filter is not None else self._filter.finish()
        filter_handle = self._write(fblock + struct.pack("<I", zlib.crc32(fblock)))
        props = BlockBuilder()
        for name, value in sorted(
            {
                b"data_blocks": _U64.pack(data_blocks),
                b"entries": _U64.pack(self.entries),
                b"expiring": _U64.pack(self.expiring),
                b"largest": self._last_key,
                b"max_expire": _U64.pack(max_e),
                b"max_seq": _U64.pack(self.max_seq),
                b"mid_expire": _U64.pack(mid_e),
                b"min_expire": _U64.pack(min_e),
                b"min_seq": _U64.pack(self.min_seq),
                b"smallest": self._first_key,
                b"tombstones": _U64.pack(self.tombstones),
            }.items()
        ):
            props.add(name, value)
        props_handle = self._write(props.finish())
        index_handle = self._write(self._index.finish())
        fields = FOOTER.pack(*index_handle, *props_handle, *filter_handle, FORMAT_VERSION)
        self._write(fields + struct.pack("<I", zlib.crc32(fields)) + MAGIC)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self._tmp, self.path)
        fsync_dir(os.path.dirname(self.path))
        return TableMeta(
            self.number, self._offset, self._first_key, self._last_key, self.entries,
            self.tombstones, self.min_seq, self.max_seq, self.expiring, min_e, mid_e, max_e,
        )

    def abandon(self) -> None:
        """Close and delete the partial file."""
        try:
            self._fh.close()  # may fail again flushing its buffer: the file goes anyway
        except OSError:
            pass
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass


def fsync_dir(path: str) -> None:
    """fsync a directory so that a rename or a new file in it is durable."""
    fd = os.open(path or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def decode_record(data: bytes, vstart: int, vend: int) -> Record:
    """The Record stored in a data-block value."""
    kind, seq, expire_at = VALUE_HEAD.unpack_from(data, vstart)
    return Record(kind, data[vstart + VALUE_HEAD_SIZE : vend], expire_at or None, seq)


def decode_blocks(chunk: bytes, spans: list[tuple[int, int]], path: str | None = None) -> list[RawEntry]:
    """The entries of the data blocks at (offset, size) spans of `chunk`, in order, each
    block's checksum verified first (CorruptionError if it fails)."""
    out: list[RawEntry] = []
    append = out.append
    eunpack, vunpack, u32 = ENTRY_HEAD.unpack_from, VALUE_HEAD.unpack_from, _U32.unpack_from
    crc32 = zlib.crc32
    with memoryview(chunk) as view:
        for start, size in spans:
            end = start + size
            if crc32(view[start : end - 4]) != u32(chunk, end - 4)[0]:
                raise CorruptionError(f"data block at offset {start} checksum mismatch", path)
            n = u32(chunk, end - TRAILER_SIZE)[0]
            base = end - TRAILER_SIZE - 4 * n
            if base < start:
                raise CorruptionError(f"data block at offset {start}: entry count {n} does not fit", path)
            for off in struct.unpack_from(f"<{n}I", chunk, base):
                p = start + off
                if p + 8 > base:
                    raise CorruptionError(f"data block at offset {start}: entry offset out of range", path)
                klen, vlen = eunpack(chunk, p)
                ks = p + 8
                vs = ks + klen
                ve = vs + vlen
                if ve > base or vlen < VALUE_HEAD_SIZE:
                    raise CorruptionError(f"data block at offset {start}: entry out of range", path)
                kind, seq, expire_at = vunpack(chunk, vs)
                append((chunk[ks:vs], -seq, kind, expire_at, chunk[p:ve]))
    return out


class TableReader:
    """Reads one table with pread; checks every block's checksum as it reads it."""

    def __init__(self, path: str, number: int = 0, stats: ReadStats | None = None) -> None:
        self.path = path
        self.number = number
        self.stats = stats if stats is not None else ReadStats()
        self._fd = os.open(path, os.O_RDONLY)
        try:
            self._open()
        except BaseException:
            os.close(self._fd)
            self._fd = -1
            raise

    def _open(self) -> None:
        self.file_size = os.fstat(self._fd).st_size
        if self.file_size < FOOTER_SIZE:
            raise CorruptionError(f"file too short for a table ({self.file_size} bytes)", self.path)
        footer = self._pread(self.file_size - FOOTER_SIZE, FOOTER_SIZE)
        if footer[-len(MAGIC) :] != MAGIC:
            raise CorruptionError("bad magic number (not an SSTable, or its end is damaged)", self.path)
        fields = footer[: FOOTER.size]
        if zlib.crc32(fields) != struct.unpack_from("<I", footer, FOOTER.size)[0]:
            raise CorruptionError("footer checksum mismatch", self.path)
        io, isz, po, psz, fo, fsz, version = FOOTER.unpack(fields)
        if version != FORMAT_VERSION:
            raise CorruptionError(f"unsupported table format version {version}", self.path)
        self.index = Block(self._read_checked(io, isz, "index block"), "index block", self.path)
        pblock = Block(self._read_checked(po, psz, "properties block"), "properties block", self.path)
        self.properties = {}
        for name, vs, ve in pblock.items():
            self.properties[name] = pblock.data[vs:ve]
        # A view, not a slice: the native filter then reads the block's bytes in place.
        fbody = memoryview(self._read_checked(fo, fsz, "filter block"))[:-4]
        self._fbody = fbody
        try:
            self.filter = bloom.load_filter(fbody)
        except ValueError as err:
            raise CorruptionError(f"filter block: {err}", self.path) from None
        self.smallest = self.properties[b"smallest"]
        self.largest = self.properties[b"largest"]
        # Every INDEX_SAMPLE-th index key, searched with C bisect before the last few
        # probes: a lookup costs ~log2(INDEX_SAMPLE) Python-level comparisons.
        self._sample = [self.index.key_at(i) for i in range(0, len(self.index), INDEX_SAMPLE)]

    def _pread(self, offset: int, size: int) -> bytes:
        data = os.pread(self._fd, size, offset)
        if len(data) != size:
            raise CorruptionError(f"short read at offset {offset} ({len(data)} of {size} bytes)", self.path)
        return data

    def _read_checked(self, offset: int, size: int, what: str) -> bytes:
        if offset + size > self.file_size or size < 8:
            raise CorruptionError(f"{what} handle out of range", self.path)
        return verify(self._pread(offset, size), what, self.path)

    def _data_block(self, i: int) -> Block:
        _, vs, _ = self.index.entry(i)
        offset, size = _HANDLE.unpack_from(self.index.data, vs)
        self.stats.block_reads += 1
        self.stats.bytes_read += size
        return Block(self._read_checked(offset, size, f"data block {i}"), f"data block {i}", self.path)

    def memory_bytes(self) -> int:
        """Roughly what this open table holds in memory: its index, filter and
        properties blocks and the sampled index keys (the data blocks are read per
        lookup and not kept)."""
        return (len(self.index.data) + len(self._fbody) + 64 * len(self.properties)
                + sum(len(k) + 33 for k in self._sample) + 8 * len(self._sample))

    def prop_int(self, name: bytes) -> int:
        return _U64.unpack(self.properties[name])[0]

    def may_contain(self, ikey: bytes) -> bool:
        """False only if the key is certainly not in the table (range and bloom filter)."""
        return self.smallest <= ikey <= self.largest and self.filter.may_contain(ikey)

    def _index_seek(self, ikey: bytes) -> int:
        """Index of the first data block whose last key is >= ikey."""
        j = bisect_left(self._sample, ikey)
        if j == 0:
            return 0
        hi = j * INDEX_SAMPLE if j < len(self._sample) else len(self.index)
        return self.index.seek(ikey, (j - 1) * INDEX_SAMPLE + 1, hi)

    def get(self, ikey: bytes) -> Record | None:
        """The table's record of `ikey` (maybe a tombstone) or None; no filter check.
        One C call (native table_get): index search, pread, CRC-32 check, block search."""
        try:
            size, found = table_get(self._fd, self.index.data, ikey, self.file_size)
        except ValueError as err:
            raise CorruptionError(str(err), self.path) from None
        if size:
            self.stats.block_reads += 1
            self.stats.bytes_read += size
        return None if found is None else Record(*found)

    def _get_py(self, ikey: bytes) -> Record | None:
        """get() in Python (the reference the native lookup is tested against)."""
        i = self._index_seek(ikey)
        if i == len(self.index):
            return None
        block = self._data_block(i)
        j = block.seek(ikey)
        if j == len(block):
            return None
        key, vs, ve = block.entry(j)
        if key != ikey:
            return None
        return decode_record(block.data, vs, ve)

    def iter_range(self, start: bytes = b"", end: bytes | None = None) -> Iterator[tuple[bytes, Record]]:
        """(ikey, record) for start <= ikey < end, in order, tombstones included."""
        i = self._index_seek(start) if start else 0
        n = len(self.index)
        first = True
        while i < n:
            block = self._data_block(i)
            j = block.seek(start) if first and start else 0
            first = False
            data = block.data
            for key, vs, ve in block.items(j):
                if end is not None and key >= end:
                    return
                yield key, decode_record(data, vs, ve)
            i += 1

    def fileno(self) -> int:
        """The table file's descriptor (open while the reader is)."""
        return self._fd

    def data_handles(self) -> list[tuple[int, int]]:
        """(offset, size) of every data block, in order (from the index block)."""
        index, hunpack = self.index, _HANDLE.unpack_from
        return [hunpack(index.data, index.entry(i)[1]) for i in range(len(index))]

    def iter_entries(self, chunk_bytes: int = 256 * 1024) -> Iterator[list[RawEntry]]:
        """Every entry in order, as lists of RawEntry tuples (they sort newest first
        within a key): the compaction's input. Consecutive data blocks are read with one
        pread of about `chunk_bytes`, then each block's checksum is verified."""
        handles = self.data_handles()
        i, n = 0, len(handles)
        while i < n:
            first = handles[i][0]
            j = i
            end = first
            while j < n and (j == i or end - first < chunk_bytes):
                offset, size = handles[j]
                if offset != end or size < TRAILER_SIZE:
                    if j == i:
                        raise CorruptionError(f"data block {j} handle out of place", self.path)
                    break  # not contiguous: the next chunk starts there
                end = offset + size
                j += 1
            if end > self.file_size:
                raise CorruptionError(f"data block {j - 1} handle out of range", self.path)
            chunk = self._pread(first, end - first)
            self.stats.block_reads += j - i
            self.stats.bytes_read += end - first
            yield decode_blocks(chunk, [(o - first, sz) for o, sz in handles[i:j]], self.path)
            i = j

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:  # readers are shared by iterators; the last owner closes
        try:
            self.close()
        except Exception:
            pass


def meta_from_reader(reader: TableReader, number: int) -> TableMeta:
    """The TableMeta of an existing table, from its properties block."""
    p = reader.prop_int
    return TableMeta(
        number, reader.file_size, reader.smallest, reader.largest, p(b"entries"), p(b"tombstones"),
        p(b"min_seq"), p(b"max_seq"), p(b"expiring"), p(b"min_expire"), p(b"mid_expire"),
        p(b"max_expire"),
    )

