"""The Python binding: no leaks on success or error paths, and GIL-free batches that other
threads cannot corrupt."""

from __future__ import annotations

import os
import pickle
import sys
import threading

import pytest

from hypercache.native import BloomFilter, CuckooFilter, hash64, key_slots


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _workload(keys: list[bytes]) -> None:
    cf = CuckooFilter(20_000, 4, 500, 2, 12)
    cf.insert_many(keys)
    cf.contains_many(keys)
    blob = cf.to_bytes()
    CuckooFilter.from_bytes(blob)
    pickle.loads(pickle.dumps(cf))
    for bad in (blob[:-1], blob[:100], b"HCCF" + blob[4:60]):
        with pytest.raises(ValueError):
            CuckooFilter.from_bytes(bad)
    copy = CuckooFilter.load_chunks(cf.scan(4096))
    with pytest.raises(ValueError):
        copy.loadchunk(10**9, b"x" * 10)
    with pytest.raises(TypeError):
        cf.insert_many([b"a", bytearray(b"b"), "not bytes", b"d"])
    with pytest.raises(TypeError):
        cf.contains_many([memoryview(b"a"), 5])
    bf = BloomFilter.from_keys(keys, 0.01)
    block = bytearray(bf.to_bytes())
    view = BloomFilter.frombuffer(block)
    view.contains_many(keys)
    del view
    for bad in (bytes(block[:-3]), bytes(block[:30])):
        with pytest.raises(ValueError):
            BloomFilter.frombuffer(bad)
        with pytest.raises(ValueError):
            BloomFilter.from_bytes(bad)
    scaling = BloomFilter(100, 0.01)
    scaling.add_many(keys)
    BloomFilter.load_chunks(scaling.scan(1000))
    scaling.estimate_cardinality()
    key_slots(keys)
    hash64(b"x" * 100, seed=7)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
@pytest.mark.skipif(
    "asan" in os.environ.get("LD_PRELOAD", ""),
    reason="AddressSanitizer's quarantine keeps freed memory resident (LSan checks the C core instead)",
)
def test_no_leaks() -> None:
    keys = [b"k%d" % i for i in range(600)]
    for _ in range(30):
        _workload(keys)
    before = _rss()
    for _ in range(200):
        _workload(keys)
    grown = _rss() - before
    # one leaked cuckoo table per round would be 200 * 49 KiB = 10 MB
    assert grown < 4 << 20, f"RSS grew by {grown} bytes"


def test_gil_free_batches_and_concurrent_mutation() -> None:
    cf = CuckooFilter(1_000, 4, 500, 2, 12)
    bf = BloomFilter(1_000, 0.01)
    batch = [b"t%d" % i for i in range(200_000)]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            assert cf.insert_many(batch) == [1] * len(batch)
            assert bf.add_many(batch).count(-1) == 0
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=work)
    t.start()
    inserted = busy = 0
    while t.is_alive():
        try:
            cf.insert(b"main%d" % inserted)  # distinct: copies of one key force growth
            inserted += 1
        except RuntimeError as exc:
            assert "in use by another thread" in str(exc)
            busy += 1
        for op in (lambda: bf.add(b"main%d" % busy), lambda: cf.contains(b"t1"), lambda: len(cf), lambda: cf.filters):
            try:
                op()
            except RuntimeError as exc:
                assert "in use by another thread" in str(exc)
                busy += 1
        repr(cf)
    t.join()
    assert not errors
    assert all(cf.contains_many(batch)) and all(bf.contains_many(batch))
    assert cf.items == len(batch) + inserted
    to_bytes_done = threading.Event()

    def dump() -> None:
        for _ in range(20):
            cf.to_bytes()
        to_bytes_done.set()

    t = threading.Thread(target=dump)
    t.start()
    n = 0
    while not to_bytes_done.is_set():
        assert cf.contains(b"t5")  # reads are fine during a GIL-free read
        try:
            cf.insert(b"during dump %d" % n)
            n += 1
        except RuntimeError:
            busy += 1
    t.join()
