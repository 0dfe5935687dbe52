"""Request reader: bytes from a client in, complete requests (lists of bytes) out.

Follows Redis's networking.c: a request starting with '*' is a multibulk of bulk
strings, anything else is an inline command (what telnet sends). The reader keeps
its place inside a partial multibulk, so a request arriving in many pieces is parsed
once, not re-scanned on every read. Limits and error texts are Redis's:

    *<n>   n > 1048576*1024 or not a number  -> "invalid multibulk length"
    $<n>   n < 0 or n > proto-max-bulk-len   -> "invalid bulk length"
    not '$' where a bulk header belongs      -> "expected '$', got 'x'"
    a header or inline line over 64 KiB      -> "too big ... string" / "too big inline request"
    inline quotes left open                  -> "unbalanced quotes in request"
"""

from __future__ import annotations

from hypercache.numbers import parse_int
from hypercache.resp.errors import ProtocolError, QueryBufferLimit

INLINE_MAX_SIZE = 64 * 1024
DEFAULT_MAX_BULK_LEN = 512 * 1024 * 1024
DEFAULT_QUERY_BUFFER_LIMIT = 1024 * 1024 * 1024
MAX_MULTIBULK_LEN = 2**31 - 1  # Redis: ll > INT_MAX is invalid
UNAUTHENTICATED_MAX_MULTIBULK = 10  # Redis refuses bigger requests before AUTH
UNAUTHENTICATED_MAX_BULK = 16384


class RequestReader:
    """Incremental RESP request parser (sans-I/O).

    feed() appends bytes; read_requests() returns every complete request so far.
    On malformed input read_requests() returns the requests parsed before the fault
    and sets `error`; the caller answers those, then sends the error and closes.
    """

    __slots__ = (
        "_buf",
        "_pos",
        "_args",
        "_remaining",
        "_bulklen",
        "max_bulk_len",
        "query_buffer_limit",
        "authenticated",
        "error",
    )

    def __init__(
        self,
        max_bulk_len: int = DEFAULT_MAX_BULK_LEN,
        query_buffer_limit: int = DEFAULT_QUERY_BUFFER_LIMIT,
    ) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._args: list[bytes] | None = None  # args of a multibulk in progress
        self._remaining = 0  # args still expected in that multibulk
        self._bulklen = -1  # length of the bulk whose header was read, -1 if none
        self.max_bulk_len = max_bulk_len
        self.query_buffer_limit = query_buffer_limit
        self.authenticated = True  # the server sets False while AUTH is required
        self.error: ProtocolError | None = None

    def feed(self, data: bytes) -> None:
        """Append bytes received from the client."""
        self._buf += data

    def pending_bytes(self) -> int:
        """Bytes received but not yet returned as part of a request (Redis's qbuf)."""
        return len(self._buf) - self._pos

    def read_requests(self) -> list[list[bytes]]:
        """Parse every complete request in the buffer.

        Empty requests (a blank inline line, '*0') are skipped as Redis does.
        After a protocol error `self.error` is set and nothing more is parsed.
        """
        out: list[list[bytes]] = []
        if self.error is not None:
            return out
        try:
            self._parse_into(out)
        except ProtocolError as err:
            self.error = err
        # Drop consumed bytes once, after the whole batch, not per request.
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        if self.error is None and len(self._buf) > self.query_buffer_limit:
            self.error = QueryBufferLimit("query buffer limit exceeded")
        return out

    def _parse_into(self, out: list[list[bytes]]) -> None:
        buf = self._buf
        end = len(buf)
        while self._pos < end:
            if self._args is None:
                if buf[self._pos] == 42:  # '*'
                    if not self._read_multibulk_header():
                        return
                    if self._args is None:  # '*0' or '*-1': nothing to run
                        continue
                else:
                    request = self._read_inline()
                    if request is None:
                        return
                    if request:
                        out.append(request)
                    continue
            if not self._read_bulks():
                return
            out.append(self._args)  # type: ignore[arg-type]
            self._args = None

    def _header_line(self, too_big: str) -> bytes | None:
        """The text between the current position+1 and the next CR, or None if incomplete."""
        buf = self._buf
        cr = buf.find(b"\r", self._pos)
        if cr < 0 or cr + 1 >= len(buf):
            if len(buf) - self._pos > INLINE_MAX_SIZE:
                raise ProtocolError(too_big)
            return None
        line = bytes(buf[self._pos + 1 : cr])
        self._pos = cr + 2
        return line

    def _read_multibulk_header(self) -> bool:
        line = self._header_line("too big mbulk count string")
        if line is None:
            return False
        count = parse_int(line)
        if count is None or count > MAX_MULTIBULK_LEN:
            raise ProtocolError("invalid multibulk length")
        if count > UNAUTHENTICATED_MAX_MULTIBULK and not self.authenticated:
            raise ProtocolError("invalid multibulk length")
        if count > 0:
            self._args = []
            self._remaining = count
            self._bulklen = -1
        return True

    def _read_bulks(self) -> bool:
        """Read the bulks of the multibulk in progress; True once all have arrived."""
        buf = self._buf
        args = self._args
        assert args is not None
        while self._remaining:
            if self._bulklen < 0:
                if self._pos >= len(buf):
                    return False
                if buf[self._pos] != 36:  # '$'
                    got = chr(buf[self._pos])
                    raise ProtocolError(f"expected '$', got '{got}'")
                line = self._header_line("too big bulk count string")
                if line is None:
                    return False
                length = parse_int(line)
                if length is None or length < 0 or length > self.max_bulk_len:
                    raise ProtocolError("invalid bulk length")
                if length > UNAUTHENTICATED_MAX_BULK and not self.authenticated:
                    raise ProtocolError("invalid bulk length")
                self._bulklen = length
            start = self._pos
            stop = start + self._bulklen
            if stop + 2 > len(buf):
                return False
            args.append(bytes(buf[start:stop]))
            self._pos = stop + 2  # Redis skips the CRLF without checking it
            self._bulklen = -1
            self._remaining -= 1
        return True

    def _read_inline(self) -> list[bytes] | None:
        buf = self._buf
        nl = buf.find(b"\n", self._pos)
        if nl < 0:
            if len(buf) - self._pos > INLINE_MAX_SIZE:
                raise ProtocolError("too big inline request")
            return None
        line = bytes(buf[self._pos : nl])
        self._pos = nl + 1
        if line.endswith(b"\r"):
            line = line[:-1]
        args = split_args(line)
        if args is None:
            raise ProtocolError("unbalanced quotes in request")
        return args


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = b"0123456789abcdefABCDEF"
_SPACE = b" \t\n\r\v\f"


def split_args(line: bytes) -> list[bytes] | None:
    """Split an inline command line as Redis's sdssplitargs: spaces separate words,
    "double quotes" take \\xHH and \\n-style escapes, 'single quotes' take \\'.
    Returns None for unbalanced quotes or a closing quote not followed by a space."""
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return args
        word = bytearray()
        in_double = in_single = False
        while True:
            if in_double:
                if i >= n:
                    return None
                c = line[i]
                if (
                    c == 92
                    and i + 3 < n
                    and line[i + 1] == 120
                    and line[i + 2] in _HEX
                    and line[i + 3] in _HEX
                ):
                    word.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif c == 92 and i + 1 < n:
                    i += 1
                    word.append(_ESCAPES.get(line[i], line[i]))
                elif c == 34:  # closing "
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    in_double = False
                    i += 1
                    break
                else:
                    word.append(c)
            elif in_single:
                if i >= n:
                    return None
                c = line[i]
                if c == 92 and i + 1 < n and line[i + 1] == 39:
                    i += 1
                    word.append(39)
                elif c == 39:  # closing '
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    in_single = False
                    i += 1
                    break
                else:
                    word.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c in _SPACE:
                    break
                if c == 34:
                    in_double = True
                elif c == 39:
                    in_single = True
                else:
                    word.append(c)
            i += 1
        args.append(bytes(word))
