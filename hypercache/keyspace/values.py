"""Typed values and how they travel to and from the store.

A string is plain `bytes` (the common case pays nothing). Every other type is an object
that implements `StoredValue`: it names its Redis TYPE, its storage kind (the small int
the LSM record carries) and how it is serialised. A module defining such a type calls
`register_value_type(kind, decode)` once at import, so records read back from disk
become the same objects again.
"""

from __future__ import annotations

import sys
from typing import Callable, Protocol, runtime_checkable

KIND_STRING = 1  # storage/records.py's KIND_STRING: kept equal by tests/test_values.py

# Bytes charged for one key in memory beyond its key and value bytes: the slot dict's
# entry, the bytes objects' headers and the hot tier's share of the filter (measured
# with tracemalloc on CPython 3.11: ~100 B for a small key and value).
ENTRY_OVERHEAD = 100


@runtime_checkable
class StoredValue(Protocol):
    """A non-string value: what the keyspace and the store need from it."""

    type_name: str  # Redis's TYPE reply ("MBbloomCF", "MBbloom--", ...)
    storage_kind: int  # 2..255, unique per type

    def to_bytes(self) -> bytes:
        """The value serialised (its decoder turns it back into an equal value)."""
        ...

    def memory_usage(self) -> int:
        """Approximate bytes this value holds in memory."""
        ...

    def copy(self) -> "StoredValue":
        """An independent copy (COPY)."""
        ...


_DECODERS: dict[int, Callable[[bytes], object]] = {KIND_STRING: bytes}
_TYPE_NAMES: dict[int, str] = {KIND_STRING: "string"}


def register_value_type(kind: int, decode: Callable[[bytes], object], type_name: str | None = None) -> None:
    """Make records of `kind` decode with `decode(data)`; each kind once.

    `type_name` (Redis's TYPE reply) defaults to the `type_name` of the class whose
    classmethod `decode` is, so SCAN TYPE can name a stored value without decoding it."""
    if not 1 < kind <= 255:
        raise ValueError(f"value kind {kind} out of range 2..255")
    known = _DECODERS.get(kind)
    if known is not None and known != decode:
        raise ValueError(f"value kind {kind} is already registered")
    _DECODERS[kind] = decode
    if type_name is None:
        type_name = getattr(getattr(decode, "__self__", None), "type_name", None)
    _TYPE_NAMES[kind] = type_name or "none"


def type_name_of_kind(kind: int) -> str:
    """Redis's TYPE name of values stored with `kind` ("none" if unknown)."""
    return _TYPE_NAMES.get(kind, "none")


def encode_value(value: object) -> tuple[int, bytes]:
    """(storage kind, bytes) of a value about to be written to the store."""
    if type(value) is bytes:
        return KIND_STRING, value
    return value.storage_kind, value.to_bytes()  # type: ignore[attr-defined]


def decode_value(kind: int, data: bytes) -> object:
    """The value a stored record holds; ValueError for a kind nobody registered."""
    decode = _DECODERS.get(kind)
    if decode is None:
        raise ValueError(f"unknown value kind {kind} in the store")
    return data if kind == KIND_STRING else decode(data)


def memory_of(key: bytes, value: object) -> int:
    """Bytes the hot tier charges for holding `key` with `value` in memory."""
    if type(value) is bytes:
        return len(key) + len(value) + ENTRY_OVERHEAD
    usage = getattr(value, "memory_usage", None)
    size = usage() if callable(usage) else sys.getsizeof(value)
    return len(key) + size + ENTRY_OVERHEAD
