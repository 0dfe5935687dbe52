"""The native CRC-32 (src/hc_crc32.c) against zlib.crc32: the WAL's records and the
SSTables' blocks are checked with it, and files written by one path are read by the
other (a server moved to a CPU without carry-less multiply reads the same files)."""

from __future__ import annotations

import os
import random
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hypercache.native import _native

PATHS = [pytest.param(False, id="dispatched"), pytest.param(True, id="tables")]


@pytest.mark.parametrize("tables", PATHS)
def test_every_length_and_alignment_matches_zlib(tables):
    """Lengths around each of the multiply path's edges (64-byte steps, 16-byte lanes,
    the 128-byte threshold) at every alignment, started from 0 and from a running CRC."""
    rng = random.Random(7)
    data = os.urandom(20_000)
    lengths = list(range(0, 300)) + [1023, 1024, 1025, 4096, 16_383, 16_384, 16_399]
    for length in lengths:
        for offset in (0, 1, 3, 8, 15):
            chunk = data[offset:offset + length]
            seed = rng.getrandbits(32)
            assert _native.crc32(chunk, tables=tables) == zlib.crc32(chunk), (length, offset)
            assert _native.crc32(chunk, seed, tables=tables) == zlib.crc32(chunk, seed), (length, offset)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.integers(0, 2**32 - 1), st.integers(0, 2000))
def test_a_crc_continued_over_pieces_is_the_whole_one(data, seed, cut):
    cut = min(cut, len(data))
    whole = zlib.crc32(data, seed)
    assert _native.crc32(data, seed) == whole
    assert _native.crc32(data[cut:], _native.crc32(data[:cut], seed)) == whole


def test_special_patterns():
    for pattern in (b"\x00" * 5000, b"\xff" * 5000, bytes(range(256)) * 20):
        assert _native.crc32(pattern) == zlib.crc32(pattern) == _native.crc32(pattern, tables=True)


def test_reports_whether_it_multiplies():
    assert isinstance(_native.crc32_accelerated(), bool)
    with open("/proc/cpuinfo") as cpuinfo:
        flags = cpuinfo.read()
    if os.uname().machine == "x86_64" and " pclmulqdq" in flags and " sse4_1" in flags:
        assert _native.crc32_accelerated()  # this machine's CPU takes the fast path
