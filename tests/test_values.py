"""The value codec between the keyspace and the store."""

import pytest

from hypercache.keyspace import values
from hypercache.storage import records


def test_string_kind_is_the_stores():
    assert values.KIND_STRING == records.KIND_STRING


def test_strings_round_trip_as_bytes():
    kind, data = values.encode_value(b"abc")
    assert (kind, data) == (values.KIND_STRING, b"abc")
    assert values.decode_value(kind, data) == b"abc"


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown value kind 200"):
        values.decode_value(200, b"x")


def test_a_kind_registers_once():
    def decode(data: bytes) -> object:
        return ("decoded", data)

    values.register_value_type(250, decode)
    values.register_value_type(250, decode)  # the same decoder again is harmless
    assert values.decode_value(250, b"q") == ("decoded", b"q")
    with pytest.raises(ValueError):
        values.register_value_type(250, bytes)
    with pytest.raises(ValueError):
        values.register_value_type(1, bytes)


def test_memory_of_counts_key_value_and_overhead():
    assert values.memory_of(b"k", b"vv") == 3 + values.ENTRY_OVERHEAD
