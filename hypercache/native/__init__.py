"""HyperCache's native core: cuckoo and bloom filters, and Redis Cluster key slots, in C.

The C extension `hypercache.native._native` is compiled by `pip install -e .` (or
`pip install .`); there is no pure-Python fallback: importing this package without it
raises ImportError saying how to build it.

Everything takes keys as bytes (or any bytes-like object) and hashes them in C with one
64-bit XXH64 hash, from which each filter derives all it needs (see formats.md beside
this file for the hashing and the serialised formats).

- `CuckooFilter`: Fan et al.'s cuckoo filter growing by a chain of sub-filters as
  RedisBloom's does.  `CuckooFilter(capacity)` has RedisBloom's CF.RESERVE defaults
  (bucket size 2, 20 kicks, expansion 1, 8-bit fingerprints);
  `CuckooFilter.for_fpp(capacity, fpp)` is the keyspace filter (buckets of 4,
  fingerprints sized for `fpp`, grown sub-filters with wider fingerprints so the chain's
  rate stays <= fpp however far it grows).
- `BloomFilter`: RedisBloom's BF.* scalable bloom filter; `BloomFilter.from_keys(keys,
  error_rate)` plus `to_bytes()` / `BloomFilter.frombuffer(buf)` are an SSTable's filter
  block (read in place, no copy).
- `HotTier`: the keyspace's hot tier, keys and string values outside Python objects.
- `MemtableEntries`: a memtable's entries in an arena (storage/memtable.py wraps it).
- `key_slot(key)`: CRC16-XMODEM of the key or its {hash tag}, mod 16384.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

try:
    from hypercache.native import _native
except ImportError as exc:  # pragma: no cover - depends on the build
    raise ImportError("hypercache native extension not built: reinstall with pip install -e .") from exc

__all__ = [
    "BloomFilter",
    "CuckooFilter",
    "DEFAULT_MAX_CHUNK",
    "FilterFullError",
    "HotTier",
    "MemtableEntries",
    "SLOT_COUNT",
    "crc16",
    "fingerprint_bits_for",
    "hash64",
    "key_slot",
    "keyspace_fingerprints",
    "key_slots",
    "parse_multibulk",
    "recv_lane",
    "lane_round",
    "send_lane_replies",
    "wal_newest",
    "flush_entries",
    "flush_table",
    "table_get",
    "compact_table",
]

FilterFullError = _native.FilterFullError
HotTier = _native.HotTier  # the keyspace's values in memory (src/hc_hot.h)
MemtableEntries = _native.MemtableEntries  # a memtable's entries (src/hc_memtable.h)
SLOT_COUNT: int = _native.SLOT_COUNT
DEFAULT_MAX_CHUNK: int = _native.DEFAULT_MAX_CHUNK

key_slot = _native.key_slot
key_slots = _native.key_slots
crc16 = _native.crc16
hash64 = _native.hash64
parse_multibulk = _native.parse_multibulk  # the RESP reader's fast path (src/hc_resp.h)
recv_lane = _native.recv_lane  # a socket read parsed with the lane (src/hc_resp.h)
lane_round = _native.lane_round  # the reactor's round for clients the lane serves whole
send_lane_replies = _native.send_lane_replies  # ... and the replies it left for after the WAL write
wal_newest = _native.wal_newest  # a flush's read of a WAL file (src/hc_wal.h)
flush_entries = _native.flush_entries  # ... and its table entries
flush_table = _native.flush_table  # ... or the whole table body, WAL bytes to blocks (src/hc_flush.h)
table_get = _native.table_get  # a point lookup in one SSTable (src/hc_table_get.h)
compact_table = _native.compact_table  # a compaction's merge, one output table at a time (src/hc_compact.h)


def fingerprint_bits_for(fpp: float, bucket_size: int = 4) -> int:
    """Fingerprint width for a target false-positive rate: f >= log2(2 * bucket_size / fpp).

    A lookup of an absent key compares its fingerprint with at most 2 * bucket_size
    occupied slots, each equal with probability ~1 / 2^f (Fan et al., section 5.1).
    """
    if not 0.0 < fpp < 1.0:
        raise ValueError("fpp must be between 0 and 1 (exclusive)")
    if bucket_size < 1:
        raise ValueError("bucket_size must be at least 1")
    bits = math.ceil(math.log2(2 * bucket_size / fpp) - 1e-9)
    return max(1, min(32, bits))


def _full_rate(bits: int, bucket_size: int) -> float:
    """Worst-case false-positive rate of one full sub-filter of `bits`-bit fingerprints.

    Union bound over the 2b slots probed; the chance two fingerprints match is
    1/2^f + 2/4^f (fingerprint 0 is stored as 1, so 1 is twice as likely)."""
    return 2 * bucket_size * (2.0**-bits + 2.0 * 4.0**-bits)


def keyspace_fingerprints(fpp: float, bucket_size: int = 4, max_growth: int = 3) -> tuple[int, int]:
    """(first sub-filter's fingerprint bits, bits added per grown sub-filter) for `fpp`.

    Chosen so that the rate stays <= fpp however far the filter grows, even with every
    sub-filter full: sum over k of rate(f0 + k*g) <= fpp.  The narrowest f0 is tried
    first with the smallest g <= max_growth that fits; when none does, f0 gets one more
    bit (which leaves half the budget for the rest, so g = 1 fits).
    """
    f0 = fingerprint_bits_for(fpp, bucket_size)
    while f0 < 32:
        first = _full_rate(f0, bucket_size)
        for g in range(1, max_growth + 1):
            rest = sum(_full_rate(min(32, f0 + k * g), bucket_size) for k in range(1, 64))
            if first + rest <= fpp:
                return f0, g
        f0 += 1
    return 32, 0


class _ChunkedDump:
    """CF.SCANDUMP / CF.LOADCHUNK (and BF.*) as Python iteration, shared by both filters."""

    __slots__ = ()

    def scan(self, max_chunk: int = DEFAULT_MAX_CHUNK) -> Iterator[tuple[int, bytes]]:
        """Every (iterator, chunk) of a SCANDUMP, header first: feed them to load_chunks."""
        it = 0
        while True:
            it, data = self.scandump(it, max_chunk)  # type: ignore[attr-defined]
            if data is None:
                return
            yield it, data

    @classmethod
    def load_chunks(cls, chunks: Iterable[tuple[int, bytes]]):  # type: ignore[no-untyped-def]
        """Rebuild a filter from scan()'s (iterator, chunk) pairs (LOADCHUNK order)."""
        it = iter(chunks)
        first = next(it, None)
        if first is None or first[0] != 1:
            raise ValueError("a filter dump starts with its header (iterator 1)")
        flt = cls.from_header(first[1])  # type: ignore[attr-defined]
        for iterator, data in it:
            flt.loadchunk(iterator, data)
        return flt


class CuckooFilter(_ChunkedDump, _native.CuckooFilter):
    """A cuckoo filter: approximate membership with deletion, growing by a chain of filters.

    `CuckooFilter(capacity, bucket_size=2, max_iterations=20, expansion=1,
    fingerprint_bits=8, fingerprint_growth=0)` takes RedisBloom's CF.RESERVE parameters
    (the bucket count is the power of two >= capacity / bucket_size; expansion is rounded
    up to a power of two; 0 means never grow, inserts then raise FilterFullError).

    Items: `insert(key)` (duplicates are stored again, as CF.ADD), `insert_unique(key)`
    (CF.ADDNX: False when it may be present), `contains(key)` / `key in cf`, `count(key)`,
    `delete(key)` (only delete keys that were inserted: deleting a false positive removes
    another key's fingerprint), `insert_many(keys, unique=False)` -> 1/0/-1 per key,
    `contains_many(keys)`.  Batches of >= 512 keys run without the GIL; meanwhile other
    threads may read the filter, and a mutation from them raises RuntimeError.

    Keeping a filter exact over a changing key set (the keyspace filter): insert a key
    once when it becomes live and delete it once when it stops being live, as the store
    decides -- never `insert_unique` (a false positive would skip the insert, and the
    key would be lost when the other key is deleted), and never re-insert on overwrite
    (each copy takes a slot; one key inserted more than 2 * bucket_size times fills its
    two buckets and forces a new sub-filter every time).

    Serialising: `to_bytes()` / `CuckooFilter.from_bytes(data)` (checksummed; any damage
    raises ValueError); chunked as CF.SCANDUMP/CF.LOADCHUNK: `scandump(0)` gives
    `(1, header)`, `scandump(i)` the chunk at i and the next iterator, `(0, None)` at the
    end; `CuckooFilter.from_header(header)` then `loadchunk(it, data)` per chunk.

    Figures: `items`, `deletes`, `capacity` (slots), `num_buckets` (first sub-filter),
    `num_filters`, `load_factor`, `bits_per_item`, `table_bytes`, `expected_fpp`,
    `filters` (per sub-filter), plus the parameters.
    """

    __slots__ = ()

    @classmethod
    def for_fpp(
        cls,
        capacity: int,
        fpp: float,
        *,
        bucket_size: int = 4,
        max_iterations: int = 500,
        expansion: int = 2,
        max_growth: int = 3,
    ) -> "CuckooFilter":
        """The keyspace filter: Fan et al.'s parameters, fingerprints sized for `fpp`.

        Buckets of 4 take ~95% of their slots before an insert fails (500 kicks); the
        filter then grows by a sub-filter `expansion` times larger with wider
        fingerprints, chosen by keyspace_fingerprints() so that the rate stays <= fpp
        however far it grows (e.g. fpp 0.01: 10, 13, 16, ... bits; 0.001: 14, 15, 16, ...).
        `max_growth` caps the bits added per sub-filter: 1 suits a filter that will grow
        many times (fpp 0.01: 11, 12, 13, ... bits: a bit more while it has not grown,
        ~35% fewer bits per item once it has grown four times or more).
        """
        bits, growth = keyspace_fingerprints(fpp, bucket_size, max_growth) if expansion else (
            fingerprint_bits_for(fpp, bucket_size),
            0,
        )
        return cls(
            capacity,
            bucket_size=bucket_size,
            max_iterations=max_iterations,
            expansion=expansion,
            fingerprint_bits=bits,
            fingerprint_growth=growth,
        )


class BloomFilter(_ChunkedDump, _native.BloomFilter):
    """A bloom filter (RedisBloom's BF.* semantics) or a read-only SSTable filter block.

    `BloomFilter(capacity, error_rate=0.01, expansion=2, scaling=True)` is BF.RESERVE:
    bits = -capacity * ln(error) / ln(2)^2, k = ceil(ln(2) * bits / capacity); when
    scaling, the first link gets half the error and each new link (added when the newest
    holds `capacity` items) `expansion` times the capacity and half the error again;
    `scaling=False` is NONSCALING: `add` past capacity raises FilterFullError.

    Items: `add(key)` -> True if new (BF.ADD), `contains(key)` / `key in bf`,
    `add_many(keys)` -> 1/0/-1 per key (BF.MADD), `contains_many(keys)`, `items` (BF.CARD),
    `estimate_cardinality()` (from the bits set).

    SSTables: `BloomFilter.from_keys(keys, error_rate)` builds a non-scaling filter sized
    for the keys without the GIL; `to_bytes()` serialises it; `BloomFilter.frombuffer(buf)`
    queries a bytes/memoryview/mmap in place (read-only, keeps the buffer alive).
    `from_bytes`, `scandump`/`from_header`/`loadchunk` as on CuckooFilter.
    """

    __slots__ = ()
