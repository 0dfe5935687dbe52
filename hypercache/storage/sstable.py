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
import zlib
from bisect import bisect_left
from dataclasses import asdict, dataclass
from typing import Iterator

from hypercache.storage import bloom
from hypercache.storage.block import Block, BlockBuilder, verify
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
INDEX_SAMPLE = 16


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
    """Writes one table; records must be added in strictly increasing key order."""

    def __init__(self, path: str, number: int, block_size: int = 4096, bloom_bits: int = 10) -> None:
        self.path = path
        self.number = number
        self._tmp = path + ".tmp"
        self._fh = open(self._tmp, "wb", buffering=1 << 20)
        self._block_size = block_size
        self._block = BlockBuilder()
        self._filter = bloom.new_filter_builder(bloom_bits)
        self._index = BlockBuilder()
        self._offset = 0
        self._last_key = b""
        self._first_key: bytes | None = None
        self.entries = self.tombstones = self.expiring = 0
        self.min_seq, self.max_seq = 1 << 64, 0
        self._expires: list[int] = []

    def add(self, ikey: bytes, record: Record) -> None:
        """Append a record (a tombstone included)."""
        expire_at = record.expire_at or 0
        head = VALUE_HEAD.pack(record.kind, record.seq, expire_at)
        self.add_encoded(ikey, record.kind, record.seq, expire_at, head, record.value)

    def add_encoded(self, ikey: bytes, kind: int, seq: int, expire_at: int, head: bytes, tail: bytes = b"") -> None:
        """Append a record whose stored value (kind | seq | expire_at | value) is
        head + tail, e.g. copied as is from another table; the other arguments must
        agree with it (they feed the filter and the properties)."""
        if self._first_key is None:
            self._first_key = ikey
        elif ikey <= self._last_key:
            raise ValueError("keys must be added in increasing order")
        self._block.add_parts(ikey, head, tail)
        self._filter.add(ikey)
        self._last_key = ikey
        self.entries += 1
        if seq < self.min_seq:
            self.min_seq = seq
        if seq > self.max_seq:
            self.max_seq = seq
        if kind == KIND_TOMBSTONE:
            self.tombstones += 1
        elif expire_at:
            self._expires.append(expire_at)
        if self._block.size() >= self._block_size:
            self._flush_block()

    def estimated_size(self) -> int:
        """Bytes written so far plus the open block."""
        return self._offset + self._block.size()

    def _write(self, data: bytes) -> tuple[int, int]:
        offset = self._offset
        self._fh.write(data)
        self._offset += len(data)
        return offset, len(data)

    def _flush_block(self) -> None:
        if len(self._block):
            offset, size = self._write(self._block.finish())
            self._index.add(self._last_key, _HANDLE.pack(offset, size))

    def finish(self) -> TableMeta:
        """Write filter, properties, index and footer; fsync; rename into place."""
        if self._first_key is None:
            raise ValueError("an SSTable needs at least one record")
        self._flush_block()
        data_blocks = len(self._index)
        ex = sorted(self._expires)
        self.expiring = len(ex)
        min_e, mid_e, max_e = (ex[0], ex[len(ex) // 2], ex[-1]) if ex else (0, 0, 0)
        fblock = self._filter.finish()
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
        """The table's record of `ikey` (maybe a tombstone) or None; no filter check."""
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

    def iter_raw(self) -> Iterator[tuple[bytes, int, int, int, bytes]]:
        """Every entry as (ikey, -seq, kind, expire_at, stored value bytes), in order:
        tuples that sort newest-first within a key, without building Records (the
        compaction's merge loop)."""
        unpack = VALUE_HEAD.unpack_from
        for i in range(len(self.index)):
            block = self._data_block(i)
            data = block.data
            for key, vs, ve in block.items():
                kind, seq, expire_at = unpack(data, vs)
                yield key, -seq, kind, expire_at, data[vs:ve]

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

