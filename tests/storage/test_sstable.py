"""SSTables and their filter: build, read, iterate, and detect every damaged byte."""

from __future__ import annotations

import os
import random

import pytest

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


def test_bloom_has_no_false_negatives_and_few_positives():
    b = bloom.new_filter_builder(10)
    keys = [b"key:%d" % i for i in range(20000)]
    for k in keys:
        b.add(k)
    f = bloom.load_filter(b.finish())
    assert all(f.may_contain(k) for k in keys)
    fp = sum(f.may_contain(b"other:%d" % i) for i in range(20000)) / 20000
    assert fp < 0.02, fp


def test_unknown_filter_type_says_maybe():
    assert bloom.load_filter(b"\x09whatever").may_contain(b"x")
