"""Reply value types that are not plain Python values.

Handlers return ordinary values and the writer picks the RESP type:
bytes/str -> bulk string, int -> integer, None -> null, bool -> boolean,
float -> double, list/tuple -> array, dict -> map, set/frozenset -> set.
The classes here cover the rest: status lines, errors, verbatim text, pushes.
"""

from __future__ import annotations


class Status(str):
    """A simple-string reply such as +OK."""

    __slots__ = ()


class ErrorReply(str):
    """An error reply; the text includes its code ('ERR ...', 'WRONGTYPE ...')."""

    __slots__ = ()


class Verbatim(str):
    """Verbatim text (RESP3 '=' with a 3-letter format; a bulk string in RESP2)."""

    __slots__ = ("fmt",)

    def __new__(cls, text: str, fmt: str = "txt") -> "Verbatim":
        obj = super().__new__(cls, text)
        obj.fmt = fmt
        return obj


class NullArray:
    """The null array: '*-1' in RESP2 (EXEC aborted by WATCH), '_' in RESP3."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"


class Push(list):
    """An out-of-band push message (RESP3 '>'; a plain array in RESP2)."""

    __slots__ = ()


NULL_ARRAY = NullArray()
OK = Status("OK")
QUEUED = Status("QUEUED")
PONG = Status("PONG")
