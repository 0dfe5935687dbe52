"""Redis Cluster key slot: CRC16-XMODEM of the key (or of its {hash tag}) mod 16384.

binascii.crc_hqx is CRC16-XMODEM (poly 0x1021, init 0), the same function redis-py
uses to route, so client and server always agree on a key's slot.
"""

from __future__ import annotations

from binascii import crc_hqx

SLOT_COUNT = 16384


def hash_tag(key: bytes) -> bytes:
    """The part of the key that is hashed: the text of the first non-empty {...}."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def key_slot(key: bytes) -> int:
    """The cluster slot (0..16383) that owns `key`."""
    if b"{" in key:
        key = hash_tag(key)
    return crc_hqx(key, 0) & 0x3FFF
