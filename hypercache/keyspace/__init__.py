"""The cache engine: keys, typed values, TTLs, lazy and active expiry, WATCH signals."""

from hypercache.keyspace.keyspace import Keyspace, now_ms

__all__ = ["Keyspace", "now_ms"]
