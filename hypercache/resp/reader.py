"""Request reader: bytes from a client in, complete requests (lists of bytes) out.

Follows Redis's networking.c: a request starting with '*' is a multibulk of bulk
strings, anything else is an inline command (what telnet sends). The reader keeps
its place inside a partial multibulk, so a request arriving in many pieces is parsed
once, not re-scanned on every read. Limits and error texts are Redis's:

    *<n>   n > INT_MAX or not a number       -> "invalid multibulk length"
    $<n>   n < 0 or n > proto-max-bulk-len   -> "invalid bulk length"
    not '$' where a bulk header belongs      -> "expected '$', got 'x'"
    over 64 KiB buffered with no line end    -> "too big mbulk count string" /
                                                "too big bulk count string" /
                                                "too big inline request"
    inline quotes left open                  -> "unbalanced quotes in request"
    before AUTH: *<n> n > 10, $<n> n > 16384 -> "unauthenticated multibulk length" /
                                                "unauthenticated bulk length"

Numbers follow string2ll (no '+', no leading zeros, 64-bit). Redis finds line ends
with strchr() on a NUL-terminated buffer, so a NUL byte before the CR (LF for
inline) hides the line end: Redis then waits for more bytes, and errors only once
over 64 KiB are buffered. The reader does the same, so garbage with NUL bytes gets
the same answer (none, then "too big ...") as from Redis.
"""

from __future__ import annotations

from hypercache.native import parse_multibulk
from hypercache.numbers import parse_int
from hypercache.resp.errors import ProtocolError, QueryBufferLimit

INLINE_MAX_SIZE = 64 * 1024
DEFAULT_MAX_BULK_LEN = 512 * 1024 * 1024
DEFAULT_QUERY_BUFFER_LIMIT = 1024 * 1024 * 1024
MAX_MULTIBULK_LEN = 2**31 - 1  # Redis: ll > INT_MAX is invalid
UNAUTHENTICATED_MAX_MULTIBULK = 10  # Redis refuses bigger requests before AUTH
UNAUTHENTICATED_MAX_BULK = 16384
BIG_ARG = 32 * 1024  # Redis's PROTO_MBULK_BIG_ARG: such a bulk is gathered, not re-copied
REWIND_MAX = 256 * 1024  # a request cut short up to this size is parsed again whole (_rewind)

# Header lines already validated, with their values: b"$3" -> 3, b"*3" -> 3.
# A hit skips the '$' check, string2ll and the limits, so only values that pass
# every limit of every reader are kept: bulk lengths up to the unauthenticated
# limit (far below any proto-max-bulk-len) and counts from -1 to 1024 (a count
# over 10 is still checked against the unauthenticated limit on a hit).
_BULK_HEADERS: dict[bytes, int] = {}
_COUNT_HEADERS: dict[bytes, int] = {}
_CACHED_MAX_COUNT = 1024
_NO_HEADERS: dict[bytes, int] = {}


class RequestReader:
    """Incremental RESP request parser (sans-I/O).

    feed() appends bytes; read_requests() returns every complete request so far.
    On malformed input read_requests() returns the requests parsed before the fault
    and sets `error`; the caller answers those, then sends the error and closes.
    """

    __slots__ = (
        "_buf",
        "_pos",
        "_parts",
        "_parts_len",
        "_args",
        "_remaining",
        "_bulklen",
        "_rewinds",
        "_parsed_ahead",
        "max_bulk_len",
        "query_buffer_limit",
        "authenticated",
        "error",
        "lane_last",
        "fast_max_bulk",
    )

    def __init__(
        self,
        max_bulk_len: int = DEFAULT_MAX_BULK_LEN,
        query_buffer_limit: int = DEFAULT_QUERY_BUFFER_LIMIT,
    ) -> None:
        # Unparsed bytes. An immutable bytes object: slicing it gives the argument
        # bytes in one copy, and a header slice can be looked up in a dict.
        self._buf = b""
        self._pos = 0  # parse position inside _buf (0 between calls)
        # While a big bulk (>= BIG_ARG) arrives, reads are only collected here and
        # joined once it is complete, so a 20 MB value costs no quadratic copying.
        self._parts: list[bytes] | None = None
        self._parts_len = 0
        self._args: list[bytes] | None = None  # args of a multibulk in progress
        self._remaining = 0  # args still expected in that multibulk
        self._bulklen = -1  # length of the bulk whose header was read, -1 if none
        self._rewinds = 0  # times the request now arriving was parsed again whole (_rewind)
        self._parsed_ahead = 0  # bytes of it parsed before the rewind (not pending, for Redis)
        self.set_limits(max_bulk_len, query_buffer_limit)
        self.authenticated = True  # the server sets False while AUTH is required
        self.error: ProtocolError | None = None
        # The last request the C parser answered itself (the lane, see read_requests):
        # 1 GET, 2 MGET, 0 none since the caller last zeroed it.
        self.lane_last = 0

    def set_limits(self, max_bulk_len: int, query_buffer_limit: int) -> None:
        """New limits for what arrives from now on (CONFIG SET proto-max-bulk-len,
        client-query-buffer-limit apply to connected clients too, as in Redis)."""
        self.max_bulk_len = max_bulk_len
        # The longest bulk the C parser takes: longer ones are gathered by this reader.
        self.fast_max_bulk = min(max_bulk_len, BIG_ARG - 1)
        self.query_buffer_limit = query_buffer_limit

    def feed(self, data: bytes) -> None:
        """Append bytes received from the client."""
        if type(data) is not bytes:
            data = bytes(data)
        if self._parts is not None:
            self._parts.append(data)
            self._parts_len += len(data)
        elif self._buf:
            self._buf += data
        else:
            self._buf = data

    @property
    def drained(self) -> bool:
        """Nothing received is left to parse and no request is half read: the next
        bytes start a new request (a read that ended just after a bulk's header leaves no
        bytes, but the value still to come is not a request)."""
        return not self._buf and self._parts is None and self._args is None

    def pending_bytes(self) -> int:
        """Bytes received but not yet returned as part of a request (Redis's qbuf)."""
        if self._parts is not None:
            return self._parts_len
        return len(self._buf) - self._pos - self._parsed_ahead

    def read_requests(self, lane: tuple | None = None) -> list[list[bytes]]:
        """Parse every complete request in the buffer.

        Empty requests (a blank inline line, '*0') are skipped as Redis does.
        After a protocol error `self.error` is set and nothing more is parsed.

        With a `lane` (native parse_multibulk's lane: the keyspace's hot tier and the
        client's reply buffer), GETs and MGETs of strings in memory (or of keys the
        keyspace filter rules out) are answered while parsing (counted in the lane's
        totals, the last one's kind in `lane_last`); the requests returned are the rest, up to
        the next such request after them. Call again after running them, until nothing
        is left.
        """
        out: list[list[bytes]] = []
        if self.error is not None:
            return out
        if self._parts is not None:
            if self._parts_len < self._bulklen + 2:  # the big bulk is still arriving
                self._check_query_buffer()
                return out
            self._buf = b"".join(self._parts)
            self._parts = None
            self._parts_len = 0
        stopped = False
        try:
            stopped = self._parse_into(out, lane)
        except ProtocolError as err:
            self.error = err
        if stopped:  # the caller comes back for the rest at once
            return out
        # Drop consumed bytes once, after the whole batch, not per request.
        pos = self._pos
        if pos:
            self._buf = b"" if pos == len(self._buf) else self._buf[pos:]
            self._pos = 0
        if self._buf:  # _check_query_buffer, skipped when nothing is left (the common case)
            self._check_query_buffer()
        return out

    def _check_query_buffer(self) -> None:
        if self.error is None and self.pending_bytes() > self.query_buffer_limit:
            self.error = QueryBufferLimit("query buffer limit exceeded")

    def _parse_into(self, out: list[list[bytes]], lane: tuple | None = None) -> bool:
        """Parse from _pos on into `out`; True if the GET lane stopped it early."""
        # The hot loop: everything for well-formed multibulk requests is inline,
        # with the state in locals; anything unusual goes to the methods below.
        buf = self._buf
        end = len(buf)
        pos = self._pos
        find = buf.find
        # The cached lengths are all <= UNAUTHENTICATED_MAX_BULK; a reader with a
        # smaller limit (tests only: Redis's minimum is 1 MB) validates every one.
        bulk_headers = _BULK_HEADERS if self.max_bulk_len >= UNAUTHENTICATED_MAX_BULK else _NO_HEADERS
        count_headers = _COUNT_HEADERS
        self._parsed_ahead = 0
        while True:
            if self._args is None and self.authenticated and pos < end:
                # Complete ordinary requests in C (5x faster); it stops at anything else,
                # which this loop then reads with every check and error text of Redis's,
                # one request at a time before C takes over again.
                began = pos
                if lane is None:
                    pos = parse_multibulk(buf, pos, out, self.fast_max_bulk)
                else:
                    pos, last = parse_multibulk(buf, pos, out, self.fast_max_bulk, lane)
                    if last:
                        self.lane_last = last
                if pos > began:
                    self._rewinds = 0
                if lane is not None and out and pos < end:  # stopped before a GET: the caller runs `out` first
                    self._pos = pos
                    return True
            if pos >= end:
                break
            args = self._args
            start = -1  # where the request began, if it began in this buffer
            if args is None:
                start = pos
                if buf[pos] != 42:  # not '*': an inline command
                    self._pos = pos
                    request = self._read_inline()
                    pos = self._pos
                    if request is None:
                        return False
                    if request:
                        out.append(request)
                    continue
                cr = find(b"\r", pos)
                if cr < 0 or cr + 1 >= end:  # Redis wants CR and one more byte
                    self._pos = pos
                    self._check_line_size("too big mbulk count string")
                    return False
                count = count_headers.get(buf[pos:cr])
                if count is None:
                    self._pos = pos
                    count = self._multibulk_count(cr)
                    if count is None:  # a NUL hides the line end: wait, as Redis
                        return False
                elif count > UNAUTHENTICATED_MAX_MULTIBULK and not self.authenticated:
                    raise ProtocolError("unauthenticated multibulk length")
                pos = cr + 2
                if count <= 0:  # '*0', '*-1': nothing to run
                    continue
                args = []
                remaining = count
                bulklen = -1
            else:
                remaining = self._remaining
                bulklen = self._bulklen
            while remaining:
                if bulklen < 0:
                    cr = find(b"\r", pos)
                    if cr < 0 or cr + 1 >= end:
                        self._save(args, remaining, -1, pos)
                        self._check_line_size("too big bulk count string")
                        self._rewind(start, end)
                        return False
                    bulklen = bulk_headers.get(buf[pos:cr], -1)
                    if bulklen < 0:
                        self._pos = pos
                        bulklen = self._bulk_length(cr)
                        if bulklen < 0:  # a NUL hides the line end: wait, as Redis
                            self._save(args, remaining, -1, pos)
                            return False
                    pos = cr + 2
                stop = pos + bulklen
                if stop + 2 > end:
                    self._save(args, remaining, bulklen, pos)
                    if bulklen >= BIG_ARG:
                        self._gather_big_bulk()
                    else:
                        self._rewind(start, stop)
                    return False
                args.append(buf[pos:stop])
                pos = stop + 2  # Redis skips the CRLF without checking it
                bulklen = -1
                remaining -= 1
            out.append(args)
            self._args = None
            self._rewinds = 0
        self._pos = pos
        return False

    def _rewind(self, start: int, stop: int) -> None:
        """A request that began at `start` (-1: in an earlier buffer) and is cut before
        `stop`: if it is small, forget what was parsed of it and wait for it whole, so
        the C parser and the lane take it (redis-cli --pipe streams MSETs that straddle
        every read; resumed here, each would run the slow path). Twice at most for one
        request: one sent a byte at a time is then resumed, not parsed again per byte."""
        if 0 <= start and stop - start <= REWIND_MAX and self._rewinds < 2:
            self._rewinds += 1
            self._parsed_ahead = self._pos - start  # _save left _pos where the parse stopped
            self._args = None
            self._pos = start

    def _save(self, args: list[bytes], remaining: int, bulklen: int, pos: int) -> None:
        self._args = args
        self._remaining = remaining
        self._bulklen = bulklen
        self._pos = pos

    def _gather_big_bulk(self) -> None:
        """Keep the pending bytes (from the big bulk on) as the first of the parts."""
        head = self._buf[self._pos :]
        self._buf = b""
        self._pos = 0
        self._parts = [head]
        self._parts_len = len(head)

    def _check_line_size(self, too_big: str) -> None:
        """Redis's limit on bytes buffered while no line end is in sight."""
        if len(self._buf) - self._pos > INLINE_MAX_SIZE:
            raise ProtocolError(too_big)

    def _hidden_by_nul(self, cr: int, too_big: str) -> bool:
        """True if a NUL byte before `cr` hides the line end from Redis's strchr():
        the line then counts as incomplete. Asked only on the error path, so valid
        requests pay nothing for it."""
        if self._buf.find(b"\0", self._pos, cr) < 0:
            return False
        self._check_line_size(too_big)
        return True

    def _multibulk_count(self, cr: int) -> int | None:
        """Validate the '*<count>' line at _pos ending at `cr` (the slow path)."""
        header = self._buf[self._pos : cr]
        count = parse_int(header[1:])
        if count is None or count > MAX_MULTIBULK_LEN:
            if self._hidden_by_nul(cr, "too big mbulk count string"):
                return None
            raise ProtocolError("invalid multibulk length")
        if count > UNAUTHENTICATED_MAX_MULTIBULK and not self.authenticated:
            raise ProtocolError("unauthenticated multibulk length")
        if -1 <= count <= _CACHED_MAX_COUNT:
            _COUNT_HEADERS[header] = count
        return count

    def _bulk_length(self, cr: int) -> int:
        """Validate the '$<length>' line at _pos ending at `cr` (the slow path);
        -1 if a NUL byte means the line has not ended yet for Redis."""
        buf = self._buf
        pos = self._pos
        too_big = "too big bulk count string"
        if buf[pos] != 36:  # '$'
            if self._hidden_by_nul(cr, too_big):
                return -1
            # Redis prints the byte as it is (%c): keep a non-ASCII byte raw
            # through the str error text (the writer encodes surrogateescape).
            got = buf[pos : pos + 1].decode("utf-8", "surrogateescape")
            raise ProtocolError(f"expected '$', got '{got}'")
        header = buf[pos:cr]
        length = parse_int(header[1:])
        if length is None or length < 0 or length > self.max_bulk_len:
            if self._hidden_by_nul(cr, too_big):
                return -1
            raise ProtocolError("invalid bulk length")
        if length > UNAUTHENTICATED_MAX_BULK:
            if not self.authenticated:
                raise ProtocolError("unauthenticated bulk length")
        else:
            _BULK_HEADERS[header] = length
        return length

    def _read_inline(self) -> list[bytes] | None:
        buf = self._buf
        nl = buf.find(b"\n", self._pos)
        if nl >= 0 and buf.find(b"\0", self._pos, nl) >= 0:
            nl = -1  # a NUL hides the line end from Redis's strchr()
        if nl < 0:
            if len(buf) - self._pos > INLINE_MAX_SIZE:
                raise ProtocolError("too big inline request")
            return None
        line = buf[self._pos : nl]
        self._pos = nl + 1
        if line.endswith(b"\r"):
            line = line[:-1]
        args = split_args(line)
        if args is None:
            raise ProtocolError("unbalanced quotes in request")
        return args


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = b"0123456789abcdefABCDEF"
_SPACE = b" \t\n\r\v\f"  # isspace(): blanks skipped between words, allowed after a quote
_WORD_END = b" \t\n\r"  # what ends an unquoted word (\v and \f do not: they are kept)


def split_args(line: bytes) -> list[bytes] | None:
    """Split an inline command line as Redis's sdssplitargs: spaces separate words,
    "double quotes" take \\xHH and \\n-style escapes, 'single quotes' take \\'.
    Returns None for unbalanced quotes or a closing quote not followed by a space.
    Like the C original it stops at a NUL byte: the line is a C string to it."""
    nul = line.find(b"\0")
    if nul >= 0:
        line = line[:nul]
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
                if c in _WORD_END:
                    break
                if c == 34:
                    in_double = True
                elif c == 39:
                    in_single = True
                else:
                    word.append(c)
            i += 1
        args.append(bytes(word))
