"""The native cuckoo filter: no false negatives (through growth, deletes, compaction and
serialisation), RedisBloom's semantics, its false-positive rate and its size per item."""

from __future__ import annotations

import math
import pickle
from collections import Counter

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from hypercache.native import (
    CuckooFilter,
    FilterFullError,
    fingerprint_bits_for,
    keyspace_fingerprints,
)

POOL = [b"", b"a", b"b", b"key", b"key:1", b"key:2", b"\x00", b"\xff" * 3, b"{tag}x", b"x" * 40]
keys = st.one_of(st.sampled_from(POOL), st.binary(max_size=12))

# (bucket_size, max_iterations, expansion, fingerprint_bits, fingerprint_growth): tiny
# fingerprints make collisions (and so the delete/relocation corner cases) common.
SHAPES = [
    (4, 500, 2, 10, 3),  # the keyspace filter
    (2, 20, 1, 8, 0),  # RedisBloom's defaults
    (4, 500, 2, 4, 1),
    (1, 5, 2, 3, 2),
    (3, 10, 4, 5, 0),
    (4, 10, 0, 6, 0),  # never grows: inserts may fail
    (2, 1, 1, 2, 0),
]


class CuckooModel(RuleBasedStateMachine):
    """A CuckooFilter against a Counter of what was inserted and not deleted."""

    def __init__(self) -> None:
        super().__init__()
        self.model: Counter[bytes] = Counter()

    @initialize(capacity=st.integers(1, 40), shape=st.sampled_from(SHAPES))
    def make(self, capacity: int, shape: tuple[int, int, int, int, int]) -> None:
        b, iters, exp, f, g = shape
        self.cf = CuckooFilter(
            capacity, bucket_size=b, max_iterations=iters, expansion=exp, fingerprint_bits=f, fingerprint_growth=g
        )

    @rule(key=keys)
    def insert(self, key: bytes) -> None:
        try:
            self.cf.insert(key)
        except FilterFullError:
            assert self.cf.expansion == 0
            event("insert: filter full")
            return
        self.model[key] += 1

    @rule(key=keys)
    def insert_unique(self, key: bytes) -> None:
        try:
            added = self.cf.insert_unique(key)
        except FilterFullError:
            assert self.cf.expansion == 0
            return
        if self.model[key]:
            assert not added
        if added:
            self.model[key] += 1

    @rule(batch=st.lists(keys, max_size=20), unique=st.booleans())
    def insert_many(self, batch: list[bytes], unique: bool) -> None:
        results = self.cf.insert_many(batch, unique=unique)
        assert len(results) == len(batch)
        for key, r in zip(batch, results):
            assert r in (1, 0, -1)
            if r == -1:
                assert self.cf.expansion == 0
            if r == 0:
                assert unique
            if r == 1:
                self.model[key] += 1

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        assert self.cf.delete(key)
        self.model[key] -= 1
        if not self.model[key]:
            del self.model[key]

    @precondition(lambda self: sum(self.model.values()) > 4)
    @rule(keep=st.integers(0, 4))
    def delete_most(self, keep: int) -> None:
        """Delete all but `keep` items: deletes pass 10% of the items, so the filter
        compacts itself and may drop emptied sub-filters (RedisBloom's CF.DEL)."""
        filters = self.cf.num_filters
        while sum(self.model.values()) > keep:
            key = next(iter(self.model))
            assert self.cf.delete(key)
            self.model[key] -= 1
            if not self.model[key]:
                del self.model[key]
        if self.cf.num_filters < filters:
            event("delete: compaction dropped a sub-filter")

    @rule()
    def roundtrip_bytes(self) -> None:
        blob = self.cf.to_bytes()
        copy = CuckooFilter.from_bytes(blob)
        assert copy.to_bytes() == blob
        self.cf = copy

    @rule(max_chunk=st.integers(1, 64))
    def roundtrip_chunks(self, max_chunk: int) -> None:
        chunks = list(self.cf.scan(max_chunk))
        copy = CuckooFilter.load_chunks(chunks)
        assert copy.to_bytes() == self.cf.to_bytes()
        self.cf = copy

    @rule(cont=st.booleans())
    def compact(self, cont: bool) -> None:
        before, filters = self.cf.items, self.cf.num_filters
        self.cf.compact(cont)
        if self.cf.num_filters < filters:
            event("compact: dropped a sub-filter")
        assert self.cf.items == before
        assert self.cf.deletes == 0

    @invariant()
    def no_false_negatives(self) -> None:
        if not hasattr(self, "cf"):
            return
        assert self.cf.items == len(self.cf) == sum(self.model.values())
        for key, n in self.model.items():
            assert key in self.cf
            assert self.cf.count(key) >= n
        assert all(self.cf.contains_many(list(self.model)))
        assert sum(f["items"] for f in self.cf.filters) == self.cf.items
        if self.cf.num_filters > 1:
            event("grown")


TestCuckooModel = CuckooModel.TestCase
TestCuckooModel.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# ---- RedisBloom's semantics --------------------------------------------------------------


def test_defaults_are_redisbloom_s() -> None:
    cf = CuckooFilter(1000)
    assert (cf.bucket_size, cf.max_iterations, cf.expansion, cf.fingerprint_bits) == (2, 20, 1, 8)
    assert cf.num_buckets == 512  # next power of two >= 1000 / 2
    assert cf.capacity == 1024 and cf.num_filters == 1 and cf.items == 0


def test_duplicates_are_counted_and_deleted_one_at_a_time() -> None:
    cf = CuckooFilter(100, bucket_size=4)
    for _ in range(3):
        cf.insert(b"dup")
    assert cf.count(b"dup") == 3 and cf.items == 3
    assert cf.insert_unique(b"dup") is False
    assert cf.delete(b"dup") and cf.count(b"dup") == 2
    assert cf.delete(b"dup") and cf.delete(b"dup")
    assert not cf.delete(b"dup") and b"dup" not in cf and cf.items == 0


def test_insert_unique_and_delete() -> None:
    cf = CuckooFilter(100)
    assert cf.insert_unique(b"x") is True
    assert cf.insert_unique(b"x") is False
    assert cf.contains(b"x") and cf.count(b"x") == 1
    assert cf.delete(b"x") is True and cf.deletes == 1
    assert cf.contains(b"x") is False and cf.delete(b"x") is False


def test_grows_by_expansion_and_rounds_it_to_a_power_of_two() -> None:
    cf = CuckooFilter(8, bucket_size=2, max_iterations=20, expansion=3)
    assert cf.expansion == 4
    cf.insert_many([b"k%d" % i for i in range(200)])
    sizes = [f["num_buckets"] for f in cf.filters]
    assert sizes == [4 * 4**k for k in range(len(sizes))] and len(sizes) > 1
    assert all(b"k%d" % i in cf for i in range(200))


def test_expansion_zero_is_full_and_a_failed_insert_changes_nothing() -> None:
    cf = CuckooFilter(16, bucket_size=2, max_iterations=20, expansion=0)
    inserted = []
    with pytest.raises(FilterFullError, match="Filter is full"):
        for i in range(1000):
            cf.insert(b"k%d" % i)
            inserted.append(b"k%d" % i)
    before = cf.to_bytes()
    with pytest.raises(FilterFullError):
        for i in range(1000, 1100):
            cf.insert(b"k%d" % i)
    assert cf.num_filters == 1 and cf.items == len(inserted) <= cf.capacity
    assert all(k in cf for k in inserted)
    assert cf.insert_many([b"k%d" % i for i in range(2000, 2100)]).count(-1) > 0
    assert cf.to_bytes() != before or cf.items == len(inserted)


def test_deletes_compact_the_chain_as_redisbloom_does() -> None:
    cf = CuckooFilter(64, bucket_size=2, max_iterations=20, expansion=2)
    ks = [b"k%d" % i for i in range(600)]
    cf.insert_many(ks)
    grown = cf.num_filters
    assert grown > 1
    for k in ks[:560]:
        assert cf.delete(k)
    assert cf.num_filters < grown  # emptied newest sub-filters are dropped
    assert all(k in cf for k in ks[560:])
    assert cf.items == 40


@pytest.mark.parametrize(
    "kwargs",
    [
        {"capacity": 0},
        {"capacity": -1},
        {"capacity": 10, "bucket_size": 0},
        {"capacity": 10, "bucket_size": 256},
        {"capacity": 10, "max_iterations": 0},
        {"capacity": 10, "max_iterations": 65536},
        {"capacity": 10, "expansion": 32769},
        {"capacity": 10, "fingerprint_bits": 0},
        {"capacity": 10, "fingerprint_bits": 33},
        {"capacity": 1 << 60},
    ],
)
def test_bad_parameters_raise_value_error(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        CuckooFilter(**kwargs)


def test_keys_must_be_bytes_like() -> None:
    cf = CuckooFilter(10)
    with pytest.raises(TypeError):
        cf.insert("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cf.insert_many(b"not a list of keys")
    cf.insert(bytearray(b"ba"))
    cf.insert(memoryview(b"mv"))
    assert b"ba" in cf and b"mv" in cf and cf.contains_many([bytearray(b"ba"), b"mv"]) == [True, True]


def test_pickle_and_subclass_round_trip() -> None:
    cf = CuckooFilter.for_fpp(1000, 0.01)
    cf.insert_many([b"a", b"b"])
    copy = pickle.loads(pickle.dumps(cf))
    assert type(copy) is CuckooFilter and copy.to_bytes() == cf.to_bytes()


def test_fingerprint_sizing() -> None:
    assert fingerprint_bits_for(0.01) == 10  # log2(8 / 0.01) = 9.64
    assert fingerprint_bits_for(0.001) == 13  # log2(8000) = 12.97
    assert fingerprint_bits_for(0.01, bucket_size=2) == 9
    for fpp in (0.05, 0.02, 0.01, 0.005, 0.001):
        f0, g = keyspace_fingerprints(fpp)
        assert f0 >= fingerprint_bits_for(fpp)
        worst = sum(8 * (2.0 ** -min(32, f0 + k * g)) * (1 + 2.0 ** (1 - min(32, f0 + k * g))) for k in range(64))
        assert worst <= fpp
    with pytest.raises(ValueError):
        fingerprint_bits_for(0.0)


# ---- serialised input is never trusted ---------------------------------------------------


def _sample_filter(n: int, shape: tuple[int, int, int, int, int]) -> CuckooFilter:
    b, iters, exp, f, g = shape
    cf = CuckooFilter(8, bucket_size=b, max_iterations=iters, expansion=exp, fingerprint_bits=f, fingerprint_growth=g)
    cf.insert_many([b"k%d" % i for i in range(n)])
    return cf


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 200),
    shape=st.sampled_from(SHAPES),
    data=st.data(),
)
def test_corrupt_dumps_raise_value_error(n: int, shape, data: st.DataObject) -> None:
    blob = _sample_filter(n, shape).to_bytes()
    kind = data.draw(st.sampled_from(["truncate", "flip", "extend", "random"]))
    if kind == "truncate":
        bad = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif kind == "flip":
        pos = data.draw(st.integers(0, len(blob) - 1))
        bad = blob[:pos] + bytes([blob[pos] ^ data.draw(st.integers(1, 255))]) + blob[pos + 1 :]
    elif kind == "extend":
        bad = blob + data.draw(st.binary(min_size=1, max_size=16))
    else:
        bad = data.draw(st.binary(max_size=200))
    with pytest.raises(ValueError):
        CuckooFilter.from_bytes(bad)


def _header(fields: dict) -> bytes:
    import struct

    from hypercache.native import hash64

    body = struct.pack(
        "<4sBBBBHHHHIIQQQ",
        b"HCCF",
        fields.get("version", 1),
        fields["fp_bits"],
        fields["fp_growth"],
        fields.get("r7", 0),
        fields["bucket_size"],
        fields["max_iter"],
        fields["expansion"],
        fields.get("r14", 0),
        fields["num_filters"],
        fields.get("r20", 0),
        fields["items"],
        fields.get("deletes", 0),
        fields["base"],
    )
    return body + struct.pack("<Q", hash64(body))


header_fields = st.fixed_dictionaries(
    {
        "fp_bits": st.integers(0, 40),
        "fp_growth": st.integers(0, 40),
        "bucket_size": st.integers(0, 300),
        "max_iter": st.one_of(st.integers(0, 100), st.just(65535)),
        "expansion": st.one_of(st.integers(0, 65535), st.sampled_from([0, 1, 2, 4, 1024])),
        "num_filters": st.one_of(st.integers(0, 5), st.integers(0, 2**32 - 1)),
        "items": st.one_of(st.integers(0, 100), st.integers(0, 2**64 - 1)),
        "base": st.one_of(st.sampled_from([0, 1, 2, 3, 64, 1 << 12]), st.integers(0, 2**64 - 1)),
        "version": st.sampled_from([1, 1, 1, 2]),
        "r7": st.sampled_from([0, 0, 0, 1]),
    }
)


def _implied_table_bytes(fields: dict) -> int:
    """Table bytes a header asks for, by the format's rules (0 when a field is out of range)."""
    b, f0, g, e, nf, n = (fields[k] for k in ("bucket_size", "fp_bits", "fp_growth", "expansion", "num_filters", "base"))
    if not (1 <= b <= 255 and 1 <= f0 <= 32 and 1 <= nf <= 1000 and n >= 1):
        return 0
    return sum((n * max(e, 1) ** k * b * min(32, f0 + k * g) + 7) // 8 for k in range(nf))


def test_headers_past_the_size_limit_are_refused() -> None:
    fields = {"fp_bits": 32, "fp_growth": 0, "bucket_size": 255, "max_iter": 20, "expansion": 1,
              "num_filters": 100, "items": 0, "base": 1 << 20}  # 100 x 1 GiB > the 64 GiB limit
    with pytest.raises(ValueError, match="too large"):
        CuckooFilter.from_header(_header(fields))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(fields=header_fields)
def test_forged_headers_are_refused_or_sane(fields: dict) -> None:
    """A header with a valid checksum but arbitrary fields: ValueError, or a filter that works."""
    assume(_implied_table_bytes(fields) <= 64 << 20)  # huge valid ones: see the test below
    try:
        cf = CuckooFilter.from_header(_header(fields))
    except ValueError:
        return
    assert 1 <= cf.bucket_size <= 255 and 1 <= cf.fingerprint_bits <= 32
    assert cf.items <= cf.capacity
    if cf.table_bytes > 64 << 20:
        return  # valid but large: not worth filling here
    for i in range(20):
        try:
            cf.insert(b"x%d" % i)
        except FilterFullError:
            assert cf.expansion == 0
    cf.to_bytes()


@settings(max_examples=200, deadline=None)
@given(iterator=st.integers(0, 5000), chunk=st.binary(max_size=300))
def test_loadchunk_refuses_what_does_not_fit(iterator: int, chunk: bytes) -> None:
    cf = _sample_filter(100, SHAPES[0])
    empty = CuckooFilter.from_header(cf.header())
    start, spans = 0, []
    for f in empty.filters:
        spans.append((start, start + f["table_bytes"]))
        start += f["table_bytes"]
    off = iterator - len(chunk) - 1
    fits = len(chunk) > 0 and off >= 0 and any(a <= off and off + len(chunk) <= b for a, b in spans)
    if not fits:
        with pytest.raises(ValueError):
            empty.loadchunk(iterator, chunk)
        return
    empty.loadchunk(iterator, chunk)
    for i in range(20):
        empty.insert(b"still works %d" % i)
    assert all(b"still works %d" % i in empty for i in range(20))


def test_scandump_protocol() -> None:
    cf = _sample_filter(500, SHAPES[1])
    it, header = cf.scandump(0)
    assert it == 1 and header == cf.header()
    assert cf.scandump(10**12) == (0, None)
    chunks = list(cf.scan(max_chunk=100))
    assert chunks[0] == (1, header)
    assert max(len(c) for _, c in chunks[1:]) <= 100
    assert sum(len(c) for _, c in chunks[1:]) == cf.table_bytes
    copy = CuckooFilter.from_header(header)
    with pytest.raises(ValueError):
        copy.loadchunk(1, header)  # the header is not a table chunk
    for i, c in chunks[1:]:
        copy.loadchunk(i, c)
    assert copy.to_bytes() == cf.to_bytes()
    with pytest.raises(ValueError):
        CuckooFilter.from_header(header[:-1])


def test_a_chunked_load_counts_its_items_from_its_tables() -> None:
    """A header and chunks that disagree (a forged LOADCHUNK sequence) still give a filter
    whose own dump loads again: the tables are the truth."""
    cf = _sample_filter(300, SHAPES[0])
    chunks = list(cf.scan(64))
    half = CuckooFilter.from_header(chunks[0][1])
    for it, data in chunks[1 : len(chunks) // 2]:
        half.loadchunk(it, data)
    assert 0 < half.items < cf.items
    assert sum(f["items"] for f in half.filters) == half.items
    assert CuckooFilter.from_bytes(half.to_bytes()).items == half.items


# ---- accuracy and size at 1M keys --------------------------------------------------------


@pytest.fixture(scope="module")
def million() -> tuple[list[bytes], list[bytes]]:
    n = 1_000_000
    return [b"key:%d" % i for i in range(n)], [b"absent:%d" % i for i in range(n)]


@pytest.mark.parametrize("fpp", [0.01, 0.001])
@pytest.mark.parametrize("kind", ["fixed", "keyspace"])
def test_false_positive_rate_and_size_at_1m_keys(fpp: float, kind: str, million) -> None:
    """Fan et al. give f >= log2(2b/eps) bits at load a: (log2(1/eps) + 3) / a bits per item
    for b = 4.  'fixed' uses exactly that f; 'keyspace' (for_fpp) may add a bit so the rate
    stays below fpp however far the filter grows."""
    present, absent = million
    if kind == "fixed":
        cf = CuckooFilter(len(present), 4, 500, 0, fingerprint_bits_for(fpp))
    else:
        cf = CuckooFilter.for_fpp(len(present), fpp)
    assert cf.insert_many(present).count(1) == len(present)
    assert cf.num_filters == 1
    assert all(cf.contains_many(present))
    measured = sum(cf.contains_many(absent)) / len(absent)
    load = cf.load_factor
    paper = (math.log2(1 / fpp) + 3) / load
    print(
        f"\ncuckoo {kind} fpp={fpp}: f={cf.fingerprint_bits} load={load:.4f} measured fpr={measured:.6f} "
        f"expected={cf.expected_fpp:.6f} bits/item={cf.bits_per_item:.2f} paper bound={paper:.2f} "
        f"(information-theoretic minimum {math.log2(1 / fpp):.2f}, bloom {1.44 * math.log2(1 / fpp):.2f})"
    )
    assert measured <= fpp
    assert abs(measured - cf.expected_fpp) < 0.15 * cf.expected_fpp + 1e-4
    slack = 1 if kind == "fixed" else 2  # rounding f up; + the growth bit
    assert cf.bits_per_item <= paper + slack / load


@pytest.mark.parametrize("fpp", [0.01, 0.001])
def test_keyspace_filter_keeps_its_rate_through_growth(fpp: float, million) -> None:
    present, absent = million
    cf = CuckooFilter.for_fpp(20_000, fpp)
    assert cf.insert_many(present[:400_000]).count(1) == 400_000
    assert cf.num_filters >= 4
    assert all(cf.contains_many(present[:400_000]))
    measured = sum(cf.contains_many(absent[:400_000])) / 400_000
    print(f"\ncuckoo keyspace grown x{cf.num_filters} fpp={fpp}: measured fpr={measured:.6f} bits/item={cf.bits_per_item:.2f}")
    assert measured <= fpp
