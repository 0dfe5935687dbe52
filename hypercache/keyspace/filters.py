"""Filter values: RedisBloom's cuckoo and bloom filter types as keyspace values.

`CuckooValue` (TYPE "MBbloomCF") and `BloomValue` (TYPE "MBbloom--") are the native
filters of hypercache.native with what the keyspace and the store need on top
(values.StoredValue): a type name, a storage kind, their serialised form (the native
checksummed `to_bytes`), a memory figure and an independent copy. Importing this module
registers both kinds, so records read back from disk become filters again.

The memory figures follow RedisBloom's CFMemUsage / BFMemUsage (what CF.INFO and BF.INFO
call "Size"): the table bytes plus the sizes of RedisBloom's C structs (RedisBloom 8 on
x86-64), so the numbers a client sees are RedisBloom's for the same parameters.
"""

from __future__ import annotations

from hypercache.keyspace.values import register_value_type
from hypercache.native import BloomFilter, CuckooFilter

CUCKOO_KIND = 2
BLOOM_KIND = 3

# sizeof(CuckooFilter) and sizeof(SubCF) in RedisBloom 8 (CF.INFO "Size" of a
# 4-bucket filter of bucket size 2 is 80 there: 56 + 16 + 8 table bytes).
_CF_HEADER_BYTES = 56
_CF_SUBFILTER_BYTES = 16
# sizeof(SBChain) and sizeof(SBLink) in RedisBloom 8 (BF.INFO "Size" of the default
# filter, 100 items at 1%, is 256 there: 48 + 64 + 144 bytes of bits).
_BF_CHAIN_BYTES = 48
_BF_LINK_BYTES = 64


class CuckooValue(CuckooFilter):
    """A cuckoo filter stored at a key (CF.*)."""

    __slots__ = ()
    type_name = "MBbloomCF"
    storage_kind = CUCKOO_KIND

    def memory_usage(self) -> int:
        """RedisBloom's CFMemUsage: structs plus every sub-filter's table."""
        return _CF_HEADER_BYTES + _CF_SUBFILTER_BYTES * self.num_filters + self.table_bytes

    def copy(self) -> "CuckooValue":
        """An independent copy (COPY)."""
        return type(self).from_bytes(self.to_bytes())

    @classmethod
    def decode(cls, data: bytes) -> "CuckooValue":
        """The filter a stored record holds (ValueError if the record is damaged)."""
        return cls.from_bytes(data)


class BloomValue(BloomFilter):
    """A scalable bloom filter stored at a key (BF.*)."""

    __slots__ = ()
    type_name = "MBbloom--"
    storage_kind = BLOOM_KIND

    def memory_usage(self) -> int:
        """RedisBloom's BFMemUsage: the chain, and each link with its bit array."""
        links = self.filters
        return _BF_CHAIN_BYTES + sum(_BF_LINK_BYTES + int(link["bits"]) // 8 for link in links)

    def copy(self) -> "BloomValue":
        """An independent copy (COPY)."""
        return type(self).from_bytes(self.to_bytes())

    @classmethod
    def decode(cls, data: bytes) -> "BloomValue":
        """The filter a stored record holds (ValueError if the record is damaged)."""
        return cls.from_bytes(data)


register_value_type(CUCKOO_KIND, CuckooValue.decode)
register_value_type(BLOOM_KIND, BloomValue.decode)
