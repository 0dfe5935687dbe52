"""SSTables and their filter: build, read, iterate, and detect every damaged byte."""

from __future__ import annotations

import math
import os
import random
import struct

import mmh3
import pytest

from hypercache.native import BloomFilter, hash64
from hypercache.storage import bloom
from hypercache.storage.block import Block, BlockBuilder, verify
from hypercache.storage.errors import CorruptionError
from hypercache.storage.records import Record, internal_key
from hypercache.storage.sstable import FOOTER_SIZE, ReadStats, TableBuilder, TableReader, meta_from_reader


def build(path, n=500, block_size=256, start=0):
    b = TableBuilder(str(path), 7, block_size=block_size)
    keys = sorted(internal_key(b"key:%05d" % i) for i in range(start, start + n))
    for i, k in enumerate(keys):
        if i % 10 == 3:
            b.add(k, Record(0, b"", None, i + 1))
        else:
            b.add(k, Record(1, b"val-%d" % i, 1_900_000_000_000 if i % 7 == 0 else None, i + 1))
    return b.finish(), keys


def test_block_round_trip():
    bb = BlockBuilder()
    for i in range(50):
        bb.add(b"k%03d" % i, b"v" * i)
    block = Block(verify(bb.finish(), "test"))
    assert len(block) == 50
    assert block.seek(b"k010") == 10 and block.seek(b"k0105") == 11 and block.seek(b"zzz") == 50
    key, vs, ve = block.entry(7)
    assert key == b"k007" and block.data[vs:ve] == b"v" * 7


def test_build_and_read(tmp_path):
    meta, keys = build(tmp_path / "t.sst")
    assert meta.entries == 500 and meta.tombstones == 50 and meta.smallest == keys[0] and meta.largest == keys[-1]
    assert meta.min_seq == 1 and meta.max_seq == 500 and meta.size == os.path.getsize(tmp_path / "t.sst")
    assert meta.expiring > 0 and meta.min_expire == meta.max_expire == 1_900_000_000_000
    stats = ReadStats()
    r = TableReader(str(tmp_path / "t.sst"), 7, stats)
    assert meta_from_reader(r, 7) == meta
    assert r.get(keys[3]).kind == 0
    rec = r.get(keys[14])
    assert rec.value == b"val-14" and rec.expire_at == 1_900_000_000_000 and rec.seq == 15
    assert r.get(keys[5]).expire_at is None
    assert r.get(internal_key(b"absent")) is None
    assert stats.block_reads >= 2
    got = [k for k, _ in r.iter_range()]
    assert got == keys
    assert [k for k, _ in r.iter_range(keys[100], keys[200])] == keys[100:200]
    assert [k for k, _ in r.iter_range(keys[100] + b"\x00", None)] == keys[101:]
    r.close()


def test_no_temp_file_left(tmp_path):
    build(tmp_path / "t.sst")
    assert os.listdir(tmp_path) == ["t.sst"]


def test_every_flipped_byte_is_detected(tmp_path):
    """Flip one byte anywhere: opening fails, or reading fails, or the byte was in
    bytes no reader looks at — but damaged data is never returned."""
    path = tmp_path / "t.sst"
    build(path, n=60, block_size=128)
    good = open(path, "rb").read()
    r = TableReader(str(path))
    expected = list(r.iter_range())
    r.close()
    rng = random.Random(1)
    offsets = sorted(set(rng.sample(range(len(good)), 150)) | set(range(len(good) - FOOTER_SIZE, len(good))))
    for off in offsets:
        bad = bytearray(good)
        bad[off] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(bad))
        try:
            r = TableReader(str(path))
            got = list(r.iter_range())
            r.close()
        except CorruptionError:
            continue
        assert got == expected, off


def test_flipped_byte_in_data_block_raises_on_get(tmp_path):
    path = tmp_path / "t.sst"
    meta, keys = build(path, n=200)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF  # inside the first data block
    path.write_bytes(bytes(data))
    r = TableReader(str(path))
    with pytest.raises(CorruptionError, match="data block 0 checksum"):
        r.get(keys[0])
    assert r.get(keys[-1]) is not None  # other blocks still read
    r.close()


def test_truncated_table(tmp_path):
    path = tmp_path / "t.sst"
    build(path)
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(CorruptionError):
        TableReader(str(path))
    path.write_bytes(b"")
    with pytest.raises(CorruptionError, match="too short"):
        TableReader(str(path))


def test_empty_table_refused(tmp_path):
    b = TableBuilder(str(tmp_path / "t.sst"), 1)
    with pytest.raises(ValueError):
        b.finish()
    b.abandon()
    assert os.listdir(tmp_path) == []


def filter_block(keys, bits_per_key=10):
    """The filter block bytes a TableBuilder would write for `keys`."""
    b = bloom.new_filter_builder(bits_per_key)
    for k in keys:
        b.add(k)
    return b.finish()


def test_bloom_has_no_false_negatives_and_few_positives():
    keys = [b"key:%d" % i for i in range(20000)]
    f = bloom.load_filter(filter_block(keys))
    assert all(f.may_contain(k) for k in keys)
    fp = sum(f.may_contain(b"other:%d" % i) for i in range(20000)) / 20000
    assert fp < 0.02, fp


def test_unknown_filter_type_says_maybe():
    assert bloom.load_filter(b"\x09whatever").may_contain(b"x")
    assert bloom.load_filter(b"").may_contain(b"x")


def test_filter_block_is_native_and_read_in_place():
    keys = [internal_key(b"key:%d" % i) for i in range(1000)]
    block = filter_block(keys)
    assert block[0] == bloom.BLOOM_NATIVE
    native = BloomFilter.from_bytes(block[1:])  # the rest is to_bytes() output, checksum and all
    assert not native.scaling and native.items == len(keys) and native.hashes == 7
    assert native.bits_per_item == pytest.approx(10, abs=0.1)
    f = bloom.load_filter(memoryview(block))
    assert isinstance(f, BloomFilter) and f.readonly
    assert type(f).may_contain is BloomFilter.contains  # the C method, no Python frame per call
    assert all(f.may_contain(k) for k in keys)


def docs_reader(block: bytes, key: bytes) -> bool:
    """may_contain written from docs/formats.md 4.3 alone (type 2)."""
    nat = block[1:]
    assert nat[:4] == b"HCBF" and nat[4] == 1 and nat[5] == 1 and struct.unpack_from("<I", nat, 12)[0] == 1
    nbytes, k = struct.unpack_from("<QI", nat, 48)
    assert len(nat) == 80 + nbytes and struct.unpack_from("<Q", nat, 64)[0] == hash64(nat[:64])
    assert struct.unpack_from("<Q", nat, 72 + nbytes)[0] == hash64(nat[: 72 + nbytes])
    bits, m, mask = nat[72 : 72 + nbytes], 8 * nbytes, 2**64 - 1

    def fmix64(h):
        h ^= h >> 33
        h = h * 0xFF51AFD7ED558CCD & mask
        h ^= h >> 33
        h = h * 0xC4CEB9FE1A85EC53 & mask
        return h ^ h >> 33

    x = hash64(key)
    y = fmix64(x)
    for i in range(k):
        j = x * m >> 64
        if not bits[j >> 3] >> (j & 7) & 1:
            return False
        x, y = (x + y) & mask, (y + i) & mask
    return True


def test_native_filter_block_is_as_documented():
    keys = [internal_key(b"key:%d" % i) for i in range(3000)]
    block = filter_block(keys)
    assert struct.unpack_from("<Q", block, 1 + 24)[0] == len(keys)  # capacity = keys
    f = bloom.load_filter(block)
    for key in keys[:500] + [b"other:%d" % i for i in range(3000)]:
        assert docs_reader(block, key) == f.may_contain(key), key


def test_damaged_native_filter_block_is_refused():
    block = filter_block([b"k"])
    for bad in (block[:-1], block + b"\0", block[:5] + b"\xff" + block[6:], b"\x02"):
        with pytest.raises(ValueError):
            bloom.load_filter(bad)


def type1_block(keys, bits_per_key=10):
    """A type-1 filter block as docs/formats.md describes it (the first tables' format,
    no longer written): an independent writer for the reader kept in bloom.py."""
    k = round(bits_per_key * math.log(2))
    nbits = max(64, len(keys) * bits_per_key + 7) // 8 * 8
    bits = bytearray(nbits // 8)
    for key in keys:
        h1, h2 = mmh3.hash64(key, 0, True, False)
        for i in range(k):
            b = (h1 + i * h2) % 2**64 % nbits
            bits[b >> 3] |= 1 << (b & 7)
    return struct.pack("<BBHI", 1, k, 0, nbits) + bytes(bits)


def test_type1_filter_blocks_stay_readable():
    keys = [internal_key(b"key:%d" % i) for i in range(5000)]
    f = bloom.load_filter(type1_block(keys))
    assert all(f.may_contain(k) for k in keys)
    assert sum(f.may_contain(b"other:%d" % i) for i in range(5000)) < 100
    with pytest.raises(ValueError):
        bloom.load_filter(type1_block(keys)[:100])


class _Type1Builder:
    def __init__(self, bits_per_key):
        self.keys = []
        self.add = self.keys.append

    def finish(self):
        return type1_block(self.keys)


def test_table_with_type1_filter_opens(tmp_path, monkeypatch):
    monkeypatch.setattr(bloom, "new_filter_builder", _Type1Builder)
    meta, keys = build(tmp_path / "t.sst")
    monkeypatch.undo()
    r = TableReader(str(tmp_path / "t.sst"))
    assert isinstance(r.filter, bloom.Bloom)
    assert all(r.may_contain(k) for k in keys)
    assert r.get(keys[14]).value == b"val-14"
    r.close()


# ---- the point lookup in C (native table_get) against the Python one ----

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _lookup(reader, get, key, damaged):
    try:
        found = get(key)
    except CorruptionError as err:
        return ("raised", str(err))
    # (the Python lookup also counts the reads that failed their check)
    return (found,) if damaged else (found, reader.stats.block_reads, reader.stats.bytes_read)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.binary(max_size=6), st.tuples(st.sampled_from([0, 1, 2, 255]), st.binary(max_size=50),
                                                       st.sampled_from([None, 1, 2**64 - 1])), min_size=1, max_size=80),
       st.integers(9, 400), st.lists(st.binary(max_size=7), max_size=20), st.one_of(st.none(), st.integers(0, 10_000)))
def test_native_point_lookup_matches_the_python_one(tmp_path_factory, items, block_size, probes, flip):
    """table_get finds what TableReader's Python lookup finds (present, absent, before the
    first key, past the last) with the same read counts, and a flipped byte in a data
    block fails both with the same CorruptionError text."""
    path = tmp_path_factory.mktemp("get") / "000001.sst"
    b = TableBuilder(str(path), 1, block_size=block_size)
    for seq, (k, (kind, value, expire)) in enumerate(sorted(items.items()), start=1):
        b.add(k, Record(kind, value, expire, seq))
    meta = b.finish()
    readers = [TableReader(str(path)), TableReader(str(path))]
    if flip is not None:  # damage a data block only (the reader checked the rest at open)
        data_end = readers[0].data_handles()[-1][0] + readers[0].data_handles()[-1][1]
        with open(path, "r+b") as fh:
            fh.seek(flip % data_end)
            byte = fh.read(1)
            fh.seek(flip % data_end)
            fh.write(bytes([byte[0] ^ 0x21]))
    for key in [*items, *probes, b"", meta.largest + b"\x00"]:
        damaged = flip is not None
        assert _lookup(readers[0], readers[0].get, key, damaged) == _lookup(readers[1], readers[1]._get_py, key, damaged)
    for r in readers:
        r.close()


def _rewrite_first_block(path, mend):
    """Change table `path`'s first data block with `mend(block bytes) -> bytes` (same
    length) and give it a good CRC-32 again: damage only the layout checks can see."""
    import zlib

    reader = TableReader(str(path))
    offset, size = reader.data_handles()[0]
    reader.close()
    with open(path, "r+b") as fh:
        fh.seek(offset)
        block = bytearray(mend(bytearray(fh.read(size))))
        block[-4:] = struct.pack("<I", zlib.crc32(bytes(block[:-4])))
        fh.seek(offset)
        fh.write(block)


@pytest.mark.parametrize("damage, text", [
    (lambda b: b[:-8] + struct.pack("<I", 10**6) + b[-4:], "data block 0 entry count 1000000 does not fit"),
    (lambda b: b[:-12] + struct.pack("<I", len(b)) + b[-8:], "data block 0 entry offset out of range"),
])
def test_native_point_lookup_checks_a_block_layout_like_python(tmp_path, damage, text):
    """A data block whose CRC-32 is good but whose count or offsets lie fails the C and
    the Python lookup with the same CorruptionError."""
    path = tmp_path / "000001.sst"
    _, keys = build(path, n=50)
    _rewrite_first_block(path, damage)
    reader = TableReader(str(path))
    for get in (reader.get, reader._get_py):
        with pytest.raises(CorruptionError, match=text):
            get(keys[0])
    reader.close()
