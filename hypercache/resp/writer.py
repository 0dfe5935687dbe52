"""Reply writer: Python reply values in, RESP2 or RESP3 bytes out.

The mapping (see types.py): bytes/str bulk, int integer, None null, bool boolean,
float double, list/tuple array, dict map, set/frozenset set, Status simple string,
ErrorReply error, Verbatim verbatim string, NullArray null array, Push push.
RESP2 has no map/set/double/boolean/null-of-its-own: maps flatten to arrays,
doubles become bulk strings, booleans integers, as Redis does for a RESP2 client.
An int outside the signed 64-bit range is a big number (RESP3 '(', RESP2 bulk), as
Redis's addReplyBigNum: a ':' line that large makes hiredis drop the connection.
Text (str and its subclasses) is encoded UTF-8 with surrogateescape, so bytes that
were decoded with surrogateescape go out unchanged.
"""

from __future__ import annotations

from hypercache.numbers import format_float
from hypercache.resp.types import ErrorReply, NullArray, Push, Status, Verbatim

# Replies that are sent millions of times: build their bytes once.
_SMALL_INTS = [b":%d\r\n" % i for i in range(-1, 1025)]
_NULL = {2: b"$-1\r\n", 3: b"_\r\n"}
_NULL_ARRAY = {2: b"*-1\r\n", 3: b"_\r\n"}
_STATUS_LINES: dict[str, bytes] = {}  # +OK, +QUEUED, ...: encoded once
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def encode_reply(value: object, proto: int = 2) -> bytes:
    """Encode one reply value as RESP`proto` bytes."""
    out = bytearray()
    write_reply(out, value, proto)
    return bytes(out)


def write_reply(out: bytearray, value: object, proto: int = 2) -> None:
    """Append the RESP encoding of `value` to `out`."""
    kind = type(value)
    # The common replies first, by exact type (cheaper than isinstance chains).
    if kind is bytes:
        out += b"$%d\r\n%b\r\n" % (len(value), value)  # type: ignore[arg-type]
    elif kind is Status:
        line = _STATUS_LINES.get(value)
        if line is None:
            line = b"+%b\r\n" % _one_line(value)  # type: ignore[arg-type]
            if len(_STATUS_LINES) < 256:
                _STATUS_LINES[value] = line  # type: ignore[index]
        out += line
    elif value is None:
        out += _NULL[proto]
    elif kind is int:
        if -1 <= value <= 1024:  # type: ignore[operator]
            out += _SMALL_INTS[value + 1]  # type: ignore[operator]
        elif _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]
            out += b":%d\r\n" % value  # type: ignore[str-format]
        else:
            text = b"%d" % value  # type: ignore[str-format]
            if proto == 3:
                out += b"(%b\r\n" % text
            else:
                out += b"$%d\r\n%b\r\n" % (len(text), text)
    elif kind is list or kind is tuple:
        out += b"*%d\r\n" % len(value)  # type: ignore[arg-type]
        for item in value:  # type: ignore[union-attr]
            write_reply(out, item, proto)
    elif kind is ErrorReply:
        out += b"-%b\r\n" % _one_line(value)  # type: ignore[arg-type]
    elif kind is str:
        data = value.encode("utf-8", "surrogateescape")  # type: ignore[union-attr]
        out += b"$%d\r\n%b\r\n" % (len(data), data)
    elif kind is bool:
        if proto == 3:
            out += b"#t\r\n" if value else b"#f\r\n"
        else:
            out += b":1\r\n" if value else b":0\r\n"
    elif kind is dict:
        _write_map(out, value, proto)  # type: ignore[arg-type]
    elif kind is float:
        text = format_float(value)  # type: ignore[arg-type]
        if proto == 3:
            out += b",%b\r\n" % text
        else:
            out += b"$%d\r\n%b\r\n" % (len(text), text)
    elif kind is set or kind is frozenset:
        out += (b"~%d\r\n" if proto == 3 else b"*%d\r\n") % len(value)  # type: ignore[arg-type]
        for item in value:  # type: ignore[union-attr]
            write_reply(out, item, proto)
    elif kind is NullArray:
        out += _NULL_ARRAY[proto]
    elif kind is Verbatim:
        data = value.encode("utf-8", "surrogateescape")  # type: ignore[union-attr]
        if proto == 3:
            body = value.fmt.encode() + b":" + data  # type: ignore[union-attr]
            out += b"=%d\r\n%b\r\n" % (len(body), body)
        else:
            out += b"$%d\r\n%b\r\n" % (len(data), data)
    elif kind is Push:
        out += (b">%d\r\n" if proto == 3 else b"*%d\r\n") % len(value)  # type: ignore[arg-type]
        for item in value:  # type: ignore[union-attr]
            write_reply(out, item, proto)
    elif kind is bytearray or kind is memoryview:
        write_reply(out, bytes(value), proto)  # type: ignore[arg-type]
    elif isinstance(value, int):  # int subclasses (IntEnum and the like)
        write_reply(out, int(value), proto)
    elif isinstance(value, str):  # other str subclasses (StrEnum and the like)
        write_reply(out, str(value), proto)
    else:
        raise TypeError(f"cannot encode {kind.__name__} as a RESP reply")


def _write_map(out: bytearray, value: dict, proto: int) -> None:
    if proto == 3:
        out += b"%%%d\r\n" % len(value)
    else:
        out += b"*%d\r\n" % (2 * len(value))
    for key, item in value.items():
        write_reply(out, key, proto)
        write_reply(out, item, proto)


def _one_line(text: str) -> bytes:
    """Error and status lines must not break the framing: CR and LF become spaces
    (Redis's sdsmapchars in addReplyErrorFormat)."""
    if "\r" in text or "\n" in text:
        text = text.replace("\r", " ").replace("\n", " ")
    return text.encode("utf-8", "surrogateescape")
