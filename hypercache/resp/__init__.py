"""Sans-I/O RESP: bytes in, requests out (reader); reply values in, bytes out (writer).

Nothing here knows of sockets, trio or commands, so every edge case is a unit test.
"""

from hypercache.resp.errors import ProtocolError
from hypercache.resp.reader import RequestReader
from hypercache.resp.types import (
    OK,
    QUEUED,
    PONG,
    NullArray,
    NULL_ARRAY,
    ErrorReply,
    Push,
    Status,
    Verbatim,
)
from hypercache.resp.writer import encode_reply, write_reply

__all__ = [
    "ProtocolError",
    "RequestReader",
    "OK",
    "QUEUED",
    "PONG",
    "NullArray",
    "NULL_ARRAY",
    "ErrorReply",
    "Push",
    "Status",
    "Verbatim",
    "encode_reply",
    "write_reply",
]
