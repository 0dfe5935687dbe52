"""The record framing shared by the WAL and the manifest (docs/formats.md, "Log files").

A log file is a sequence of records, each

    crc32 u32 LE | length u32 LE | type u8 | payload (length bytes)

where crc32 is zlib's CRC-32 of the 5 + length bytes that follow it (length, type and
payload), so a damaged length is caught as surely as a damaged payload. There is no
file header and no padding: the first record starts at offset 0, the next right after.

Reading stops at the first record that is incomplete (a torn write at a crash) or whose
checksum does not match; `LogReader.valid_length` is then where the good records end,
the length the file should be truncated to.
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from typing import Iterator

HEADER = struct.Struct("<IIB")  # crc32, payload length, record type
HEADER_SIZE = HEADER.size  # 9
MAX_PAYLOAD = 1 << 30  # a longer length field is damage, not a record

_LEN_TYPE = struct.Struct("<IB")


def encode_record(rtype: int, payload: bytes) -> bytes:
    """One framed record."""
    rest = _LEN_TYPE.pack(len(payload), rtype) + payload
    return struct.pack("<I", zlib.crc32(rest)) + rest


# Why reading a log file stopped (also native wal_newest's codes, hc_wal.h).
STOP_END, STOP_TORN_HEADER, STOP_BAD_LENGTH, STOP_TORN_RECORD, STOP_CHECKSUM = range(5)


def log_problem(stop: int, pos: int, a: int = 0, b: int = 0) -> str | None:
    """The text of why reading stopped at offset `pos` (None: at the end, as it should)."""
    if stop == STOP_END:
        return None
    if stop == STOP_TORN_HEADER:
        return f"torn record header ({a} bytes) at offset {pos}"
    if stop == STOP_BAD_LENGTH:
        return f"impossible record length {a} at offset {pos}"
    if stop == STOP_TORN_RECORD:
        return f"torn record at offset {pos} ({a} of {b} bytes)"
    if stop == STOP_CHECKSUM:
        return f"checksum mismatch in record at offset {pos}"
    raise ValueError(f"unknown stop code {stop}")


class LogReader:
    """Iterate the good records of a log file: `for rtype, payload, end in reader`.

    After iteration, `valid_length` is the offset just past the last good record,
    `file_size` the file's length, and `problem` says why reading stopped early
    (None when the file ended exactly at a record boundary).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.valid_length = 0
        self.file_size = 0
        self.problem: str | None = None

    def __iter__(self) -> Iterator[tuple[int, bytes, int]]:
        for body, end in self.bodies():
            yield body[4], body[5:], end

    def bodies(self) -> Iterator[tuple[bytes, int]]:
        """(body, end) of every good record: body is `length u32 | type u8 | payload`
        (the bytes its CRC covers; the payload starts at body[5]), end the offset just
        past the record. Saves __iter__'s copy of the payload."""
        with open(self.path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            self.file_size = size
            if size == 0:
                return
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
                yield from self._records(data, size)

    def _records(self, data: mmap.mmap, size: int) -> Iterator[tuple[bytes, int]]:
        pos = 0
        unpack = HEADER.unpack_from
        crc32 = zlib.crc32
        while pos < size:
            if size - pos < HEADER_SIZE:
                self.problem = log_problem(STOP_TORN_HEADER, pos, size - pos)
                return
            crc, length, rtype = unpack(data, pos)
            if length > MAX_PAYLOAD:
                self.problem = log_problem(STOP_BAD_LENGTH, pos, length)
                return
            end = pos + HEADER_SIZE + length
            if end > size:
                self.problem = log_problem(STOP_TORN_RECORD, pos, size - pos, end - pos)
                return
            body = data[pos + 4 : end]
            if crc32(body) != crc:
                self.problem = log_problem(STOP_CHECKSUM, pos)
                return
            pos = end
            self.valid_length = pos
            yield body, pos
