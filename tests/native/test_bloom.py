"""The native bloom filter: RedisBloom's BF.* semantics (scaling, NONSCALING), no false
negatives through scaling and serialisation, SSTable filter blocks read in place."""

from __future__ import annotations

import math
import mmap
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hypercache.native import BloomFilter, FilterFullError

keys = st.one_of(st.sampled_from([b"", b"a", b"b", b"key", b"\x00" * 5]), st.binary(max_size=12))


class BloomModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model: set[bytes] = set()
        self.added = 0

    @initialize(
        capacity=st.integers(1, 30),
        error=st.sampled_from([0.5, 0.1, 0.01, 0.001]),
        expansion=st.integers(1, 4),
        scaling=st.booleans(),
    )
    def make(self, capacity: int, error: float, expansion: int, scaling: bool) -> None:
        self.bf = BloomFilter(capacity, error, expansion, scaling)

    @rule(key=keys)
    def add(self, key: bytes) -> None:
        try:
            new = self.bf.add(key)
        except FilterFullError:
            assert not self.bf.scaling and self.bf.items >= self.bf.capacity
            return
        if key in self.model:
            assert new is False
        self.added += new
        self.model.add(key)

    @rule(batch=st.lists(keys, max_size=20))
    def add_many(self, batch: list[bytes]) -> None:
        for key, r in zip(batch, self.bf.add_many(batch)):
            if r == -1:
                assert not self.bf.scaling
                continue
            self.added += r
            self.model.add(key)

    @rule()
    def roundtrip(self) -> None:
        blob = self.bf.to_bytes()
        self.bf = BloomFilter.from_bytes(blob)
        assert self.bf.to_bytes() == blob
        view = BloomFilter.frombuffer(blob)
        assert view.readonly and all(view.contains_many(list(self.model)))

    @rule(max_chunk=st.integers(1, 50))
    def roundtrip_chunks(self, max_chunk: int) -> None:
        copy = BloomFilter.load_chunks(self.bf.scan(max_chunk))
        assert copy.to_bytes() == self.bf.to_bytes()
        self.bf = copy

    @invariant()
    def no_false_negatives(self) -> None:
        if not hasattr(self, "bf"):
            return
        assert self.bf.items == len(self.bf) == self.added
        assert all(k in self.bf for k in self.model)


TestBloomModel = BloomModel.TestCase
TestBloomModel.settings = settings(
    max_examples=100, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def test_sizing_is_redisbloom_s() -> None:
    bf = BloomFilter(1000, 0.01, scaling=False)
    bpe = -math.log(0.01) / math.log(2) ** 2
    assert bf.hashes == math.ceil(math.log(2) * bpe) == 7
    assert bf.table_bytes == math.ceil(int(1000 * bpe) / 64) * 8
    scaling = BloomFilter(1000, 0.01)
    assert scaling.error_rate == 0.005  # the first link gets half the error when scaling
    assert scaling.expansion == 2 and scaling.scaling and not bf.scaling


def test_scales_by_expansion_with_tightening_error() -> None:
    bf = BloomFilter(100, 0.01, expansion=3)
    bf.add_many([b"k%d" % i for i in range(2000)])
    links = bf.filters
    assert [link["capacity"] for link in links] == [100 * 3**i for i in range(len(links))]
    assert all(abs(b["error_rate"] - a["error_rate"] / 2) < 1e-15 for a, b in zip(links, links[1:]))
    assert bf.capacity == sum(link["capacity"] for link in links)
    assert all(b"k%d" % i in bf for i in range(2000))


def test_nonscaling_filter_fills_up() -> None:
    bf = BloomFilter(10, 0.01, scaling=False)
    added = [bf.add(b"k%d" % i) for i in range(10)]
    assert bf.items == sum(added) <= 10
    with pytest.raises(FilterFullError, match="non scaling filter is full"):
        for i in range(10, 30):
            bf.add(b"k%d" % i)
    assert bf.add(b"k0") is False  # present already: no error
    assert bf.add_many([b"new1", b"k1"]) == [-1, 0]


@pytest.mark.parametrize(
    "args", [(0, 0.01), (-5, 0.01), (10, 0.0), (10, 1.0), (10, -0.1), (10, 1e-320), (1 << 62, 0.01)]
)
def test_bad_parameters_raise_value_error(args) -> None:
    with pytest.raises(ValueError):
        BloomFilter(*args)


def test_sstable_filter_block_is_read_in_place() -> None:
    ks = [b"user:%d" % i for i in range(10_000)]
    bf = BloomFilter.from_keys(ks, 0.01)
    assert not bf.scaling and bf.items <= len(ks) and bf.capacity == len(ks)
    block = bf.to_bytes()
    for buf in (block, memoryview(block), bytearray(block)):
        view = BloomFilter.frombuffer(buf)
        assert view.readonly and all(view.contains_many(ks)) and all(k in view for k in ks[:100])
        with pytest.raises(TypeError):
            view.add(b"x")
    # a block inside a bigger file, through mmap and a memoryview slice: no copy
    with mmap.mmap(-1, len(block) + 100) as mm:
        mm[50 : 50 + len(block)] = block
        view = BloomFilter.frombuffer(memoryview(mm)[50 : 50 + len(block)])
        assert all(view.contains_many(ks))
        del view
    ba = bytearray(block)
    view = BloomFilter.frombuffer(ba)
    with pytest.raises(BufferError):
        ba.extend(b"x")  # the view pins the buffer
    del view
    ba.extend(b"x")
    assert BloomFilter.from_keys([], 0.01).contains(b"x") is False


def test_estimate_cardinality() -> None:
    bf = BloomFilter(50_000, 0.01, scaling=False)
    bf.add_many([b"k%d" % i for i in range(40_000)])
    assert abs(bf.estimate_cardinality() - 40_000) < 0.03 * 40_000


def test_pickle_round_trip() -> None:
    bf = BloomFilter(100, 0.01)
    bf.add(b"a")
    assert pickle.loads(pickle.dumps(bf)).to_bytes() == bf.to_bytes()


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 300), scaling=st.booleans(), data=st.data())
def test_corrupt_input_raises_value_error(n: int, scaling: bool, data: st.DataObject) -> None:
    bf = BloomFilter(20, 0.05, 2, scaling)
    bf.add_many([b"k%d" % i for i in range(n)])
    blob = bf.to_bytes()
    kind = data.draw(st.sampled_from(["truncate", "flip", "extend", "random"]))
    if kind == "truncate":
        bad = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif kind == "flip":
        pos = data.draw(st.integers(0, len(blob) - 1))
        bad = blob[:pos] + bytes([blob[pos] ^ data.draw(st.integers(1, 255))]) + blob[pos + 1 :]
    elif kind == "extend":
        bad = blob + data.draw(st.binary(min_size=1, max_size=16))
    else:
        bad = data.draw(st.binary(max_size=300))
    with pytest.raises(ValueError):
        BloomFilter.from_bytes(bad)
    with pytest.raises(ValueError):
        BloomFilter.frombuffer(bad)
    if kind != "flip":  # without the checksum only the sizes are checked
        with pytest.raises(ValueError):
            BloomFilter.frombuffer(bad, verify=False)
    header = bf.header()
    with pytest.raises(ValueError):
        BloomFilter.from_header(header[: data.draw(st.integers(0, len(header) - 1))])


@settings(max_examples=200, deadline=None)
@given(iterator=st.integers(0, 3000), chunk=st.binary(max_size=200))
def test_loadchunk_refuses_what_does_not_fit(iterator: int, chunk: bytes) -> None:
    bf = BloomFilter(20, 0.05)
    bf.add_many([b"k%d" % i for i in range(100)])
    empty = BloomFilter.from_header(bf.header())
    start, spans = 0, []
    for link in empty.filters:
        spans.append((start, start + link["bits"] // 8))
        start += link["bits"] // 8
    off = iterator - len(chunk) - 1
    fits = len(chunk) > 0 and off >= 0 and any(a <= off and off + len(chunk) <= b for a, b in spans)
    if fits:
        empty.loadchunk(iterator, chunk)
    else:
        with pytest.raises(ValueError):
            empty.loadchunk(iterator, chunk)


@pytest.mark.parametrize("error", [0.01, 0.001])
def test_false_positive_rate_at_1m_keys(error: float) -> None:
    """RedisBloom's sizing puts a full NONSCALING filter at its target rate (k rounded up:
    (1 - e^(-k/bpe))^k = 0.01004 for 1%), so allow 10% for that and sampling noise; a
    scaling filter (half the error per link) stays below it."""
    n = 1_000_000
    present = [b"key:%d" % i for i in range(n)]
    absent = [b"absent:%d" % i for i in range(n)]
    bf = BloomFilter.from_keys(present, error)
    assert all(bf.contains_many(present))
    measured = sum(bf.contains_many(absent)) / n
    bpe = -math.log(error) / math.log(2) ** 2
    theory = (1 - math.exp(-bf.hashes / bpe)) ** bf.hashes
    print(f"\nbloom {error}: measured fpr={measured:.6f} theory={theory:.6f} bits/item={bf.bits_per_item:.2f}")
    assert measured <= 1.1 * error
    grown = BloomFilter(10_000, error)
    grown.add_many(present)
    measured = sum(grown.contains_many(absent[:300_000])) / 300_000
    print(f"bloom {error} scaled x{grown.num_filters}: measured fpr={measured:.6f}")
    assert measured <= error
