"""RequestReader and split_args alone: bytes in, requests (or a ProtocolError) out.

No server here. The expected texts and limits are Redis 7.0's (networking.c,
sds.c sdssplitargs); the cases marked "as Redis" were checked against a real
redis-server, and the inline splitting is also compared with one directly
(the `redis_ref` fixture) when it is installed.
"""

from __future__ import annotations

import socket

import hiredis
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hypercache.resp.errors import ProtocolError, QueryBufferLimit
from hypercache.resp.reader import (
    BIG_ARG,
    DEFAULT_MAX_BULK_LEN,
    INLINE_MAX_SIZE,
    RequestReader,
    split_args,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- helpers


def multibulk(args: list[bytes]) -> bytes:
    """A request as redis-cli and every client library encode it."""
    out = b"*%d\r\n" % len(args)
    for arg in args:
        out += b"$%d\r\n%b\r\n" % (len(arg), arg)
    return out


def parse_all(data: bytes, **kwargs) -> tuple[list[list[bytes]], RequestReader]:
    reader = RequestReader(**kwargs)
    reader.feed(data)
    return reader.read_requests(), reader


def parse_chunks(chunks: list[bytes], **kwargs) -> tuple[list[list[bytes]], RequestReader]:
    reader = RequestReader(**kwargs)
    out: list[list[bytes]] = []
    for chunk in chunks:
        reader.feed(chunk)
        out.extend(reader.read_requests())
    return out, reader


def error_of(data: bytes, **kwargs) -> str | None:
    _, reader = parse_all(data, **kwargs)
    return None if reader.error is None else str(reader.error)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


args_st = st.lists(st.binary(max_size=40), min_size=1, max_size=6)
requests_st = st.lists(args_st, max_size=12)


# --------------------------------------------------------------- multibulk round trips


@FAST
@given(requests=requests_st, cuts=st.lists(st.integers(min_value=0), max_size=30))
def test_multibulk_requests_parse_back_in_any_chunking(requests, cuts):
    data = b"".join(multibulk(r) for r in requests)
    got, reader = parse_chunks(split_at(data, cuts))
    assert got == requests
    assert reader.error is None
    assert reader.pending_bytes() == 0


@settings(max_examples=40, deadline=None)
@given(requests=requests_st)
def test_multibulk_requests_parse_back_byte_by_byte(requests):
    data = b"".join(multibulk(r) for r in requests)
    got, reader = parse_chunks([data[i : i + 1] for i in range(len(data))])
    assert got == requests
    assert reader.error is None and reader.pending_bytes() == 0


@FAST
@given(requests=requests_st, cut=st.integers(min_value=0))
def test_a_truncated_stream_gives_the_complete_requests_and_waits(requests, cut):
    data = b"".join(multibulk(r) for r in requests)
    cut %= len(data) + 1
    got, reader = parse_all(data[:cut])
    assert reader.error is None
    assert got == requests[: len(got)]
    # Exactly the requests whose last byte arrived are out.
    ends, pos = [], 0
    for r in requests:
        pos += len(multibulk(r))
        ends.append(pos)
    assert len(got) == sum(1 for e in ends if e <= cut)
    # ... and the rest follows once the remaining bytes come.
    reader.feed(data[cut:])
    assert got + reader.read_requests() == requests


big_arg_st = st.integers(min_value=BIG_ARG - 2, max_value=BIG_ARG + 5000).map(lambda n: bytes([n % 256]) * n)
big_requests_st = st.lists(
    st.lists(st.one_of(st.binary(max_size=10), big_arg_st), min_size=1, max_size=4), min_size=1, max_size=4
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(requests=big_requests_st, cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_big_bulks_are_gathered_in_any_chunking(requests, cuts):
    # Bulks of BIG_ARG and more are collected piece by piece and joined once.
    data = b"".join(multibulk(r) for r in requests) + b"PING\r\n"
    got, reader = parse_chunks(split_at(data, cuts))
    assert got == requests + [[b"PING"]]
    assert reader.error is None and reader.pending_bytes() == 0


def test_pending_bytes_and_limit_while_a_big_bulk_arrives():
    reader = RequestReader(query_buffer_limit=100_000)
    reader.feed(b"*2\r\n$3\r\nSET\r\n$200000\r\n" + b"x" * 50_000)
    assert reader.read_requests() == []
    assert reader.pending_bytes() == 50_000
    reader.feed(b"x" * 50_000)
    assert reader.read_requests() == [] and reader.error is None
    assert reader.pending_bytes() == 100_000
    reader.feed(b"x")
    assert reader.read_requests() == []
    assert isinstance(reader.error, QueryBufferLimit)


def test_empty_multibulks_are_skipped_as_redis_does():
    # '*0' and negative counts ('*-1', '*-5') are no request at all (as Redis: '*-5' then PING -> +PONG).
    got, reader = parse_all(b"*0\r\n*-1\r\n*-5\r\n*1\r\n$4\r\nPING\r\n")
    assert got == [[b"PING"]] and reader.error is None


def test_empty_and_binary_arguments():
    args = [b"SET", b"", b"\r\n\0\xff*$"]
    assert parse_all(multibulk(args))[0] == [args]


def test_crlf_after_a_bulk_is_skipped_unchecked_as_redis():
    # Redis skips two bytes after a bulk without looking at them.
    got, reader = parse_all(b"*1\r\n$4\r\nPINGxxPING\r\n")
    assert got == [[b"PING"], [b"PING"]] and reader.error is None


def test_a_big_bulk_in_small_pieces_is_not_rescanned():
    # 8 MB in 4 KB reads: quadratic re-scanning would take minutes, not milliseconds.
    value = bytes(range(256)) * (8 * 4096)
    data = multibulk([b"SET", b"k", value])
    got, reader = parse_chunks([data[i : i + 4096] for i in range(0, len(data), 4096)])
    assert got == [[b"SET", b"k", value]]
    assert reader.pending_bytes() == 0


def test_pending_bytes_counts_what_is_not_yet_a_request():
    reader = RequestReader()
    reader.feed(b"*2\r\n$3\r\nGET\r\n$1\r")
    assert reader.read_requests() == []
    assert reader.pending_bytes() == len(b"$1\r")
    reader.feed(b"\nk\r\n")
    assert reader.read_requests() == [[b"GET", b"k"]]
    assert reader.pending_bytes() == 0


# ---------------------------------------------------------------- never raises


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(min_value=0), max_size=10))
def test_random_bytes_never_raise(data, cuts):
    check_robust(split_at(data, cuts))


protocolish = st.lists(
    st.sampled_from(
        [b"*", b"$", b"\r\n", b"\r", b"\n", b"1", b"2", b"3", b"0", b"-", b"+", b"\0", b"x", b" ",
         b'"', b"'", b"\\", b"\\x41", b"\t", b"\xff", b"PING", b"*1\r\n", b"$4\r\n", b"*2\r\n"]
    ),
    max_size=60,
).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(data=protocolish, cuts=st.lists(st.integers(min_value=0), max_size=10))
def test_protocol_like_garbage_never_raises_and_does_not_depend_on_chunking(data, cuts):
    whole = check_robust([data])
    pieces = check_robust(split_at(data, cuts))
    # Below the 64 KB limits the outcome must not depend on how the bytes arrived.
    assert pieces == whole


@settings(max_examples=200, deadline=None)
@given(
    requests=st.lists(args_st, min_size=1, max_size=5),
    edits=st.lists(st.tuples(st.integers(min_value=0), st.binary(max_size=3), st.integers(0, 3)), max_size=4),
)
def test_mutated_valid_streams_never_raise(requests, edits):
    data = bytearray(b"".join(multibulk(r) for r in requests))
    for where, insert, drop in edits:
        where %= len(data) + 1
        data[where : where + drop] = insert
    check_robust([bytes(data)])
    check_robust([bytes(data[i : i + 1]) for i in range(len(data))])


def check_robust(chunks: list[bytes]) -> tuple[list[list[bytes]], str | None]:
    """Feed the chunks; read_requests() must never raise, only set `error`."""
    reader = RequestReader()
    out: list[list[bytes]] = []
    for chunk in chunks:
        reader.feed(chunk)
        got = reader.read_requests()  # must not raise
        if reader.error is not None:
            assert isinstance(reader.error, ProtocolError)
        for request in got:
            assert request and all(type(a) is bytes for a in request)
        out.extend(got)
    if reader.error is not None:
        reader.feed(b"*1\r\n$4\r\nPING\r\n")
        assert reader.read_requests() == [], "nothing is parsed after a protocol error"
    return out, None if reader.error is None else str(reader.error)


# ------------------------------------------------------ limits and their exact texts


@pytest.mark.parametrize(
    "data",
    [b"*x\r\n", b"*+1\r\n", b"*01\r\n", b"*-0\r\n", b"* 1\r\n", b"*1 \r\n", b"*\r\n", b"*1x\r\n",
     b"*2147483648\r\n", b"*99999999999999999999\r\n", b"*1.0\r\n"],
)
def test_invalid_multibulk_length(data):
    assert error_of(data) == "invalid multibulk length"


def test_multibulk_length_up_to_int_max_is_accepted():
    # As Redis: '*2147483647' waits for the bulks, '*2147483648' is an error.
    got, reader = parse_all(b"*2147483647\r\n")
    assert got == [] and reader.error is None


@pytest.mark.parametrize(
    "header",
    [b"$-1", b"$-0", b"$x", b"$", b"$+1", b"$01", b"$ 1", b"$1 ", b"$%d" % (DEFAULT_MAX_BULK_LEN + 1),
     b"$9223372036854775808"],
)
def test_invalid_bulk_length(header):
    assert error_of(b"*1\r\n" + header + b"\r\n") == "invalid bulk length"


def test_bulk_length_limit_is_proto_max_bulk_len():
    # 512 MB exactly is allowed (the reader waits for it); one byte more is not.
    assert error_of(b"*1\r\n$%d\r\n" % DEFAULT_MAX_BULK_LEN) is None
    assert error_of(b"*1\r\n$101\r\n") is None  # (a reader with the default limit first)
    assert error_of(b"*1\r\n$101\r\n", max_bulk_len=100) == "invalid bulk length"
    assert error_of(b"*1\r\n$100\r\n", max_bulk_len=100) is None


@pytest.mark.parametrize(
    ("after", "got"), [(b"x\r\n", "x"), (b"GET\r\n", "G"), (b"*1\r\n", "*"), (b":1\r\n", ":"), (b"\r\r\n", "\r")]
)
def test_expected_dollar(after, got):
    assert error_of(b"*2\r\n$3\r\nGET\r\n" + after) == f"expected '$', got '{got}'"


def test_expected_dollar_waits_for_the_whole_line_as_redis():
    # Redis checks the '$' only once the header line (up to CR + 1 byte) is in.
    reader = RequestReader()
    reader.feed(b"*1\r\nx")
    assert reader.read_requests() == [] and reader.error is None
    reader.feed(b"yz\r")
    assert reader.read_requests() == [] and reader.error is None
    reader.feed(b"\n")
    reader.read_requests()
    assert str(reader.error) == "expected '$', got 'x'"


def test_expected_dollar_keeps_a_non_ascii_byte_raw():
    # Redis writes the byte itself (%c): the text carries it as a surrogate escape.
    err = error_of(b"*1\r\n\xff\r\n")
    assert err == "expected '$', got '\udcff'"
    assert err.encode("utf-8", "surrogateescape") == b"expected '$', got '\xff'"


def test_too_big_mbulk_count_string():
    limit = INLINE_MAX_SIZE
    assert error_of(b"*" + b"1" * limit) == "too big mbulk count string"  # limit + 1 bytes
    assert error_of(b"*" + b"1" * (limit - 1)) is None  # exactly the limit: still waiting


def test_too_big_bulk_count_string():
    limit = INLINE_MAX_SIZE
    assert error_of(b"*1\r\n$" + b"1" * limit) == "too big bulk count string"
    assert error_of(b"*1\r\n" + b"x" * (limit + 1)) == "too big bulk count string"  # as Redis
    assert error_of(b"*1\r\n$" + b"1" * (limit - 1)) is None


def test_too_big_inline_request():
    limit = INLINE_MAX_SIZE
    assert error_of(b"a" * (limit + 1)) == "too big inline request"
    assert error_of(b"a" * limit) is None


def test_too_big_inline_request_counts_the_buffer_not_the_line():
    # As Redis: a long line that arrives whole (its newline included) is accepted;
    # the limit is on what is buffered without a newline.
    line = b"ECHO " + b"a" * 70000
    got, reader = parse_all(line + b"\r\n")
    assert got == [[b"ECHO", b"a" * 70000]] and reader.error is None
    got, reader = parse_chunks([line[:40000], line[40000:] + b"\r\n"])
    assert got == [[b"ECHO", b"a" * 70000]] and reader.error is None
    got, reader = parse_chunks([line, b"\r\n"])  # over 64 KB buffered, no newline yet
    assert got == [] and str(reader.error) == "too big inline request"


def test_unauthenticated_limits():
    def unauth(data: bytes) -> str | None:
        reader = RequestReader()
        reader.authenticated = False
        reader.feed(data)
        reader.read_requests()
        return None if reader.error is None else str(reader.error)

    assert unauth(b"*11\r\n") == "unauthenticated multibulk length"
    assert unauth(b"*10\r\n") is None
    assert unauth(b"*-20\r\n") is None
    assert unauth(b"*1\r\n$16385\r\n") == "unauthenticated bulk length"
    assert unauth(b"*1\r\n$16384\r\n") is None
    # Once authenticated, the normal limits apply.
    assert error_of(b"*11\r\n") is None and error_of(b"*1\r\n$16385\r\n") is None


def test_query_buffer_limit():
    reader = RequestReader(query_buffer_limit=1000)
    reader.feed(b"*1\r\n$5000\r\n" + b"x" * 1000)
    assert reader.read_requests() == [] and reader.error is None  # at the limit: fine
    reader.feed(b"x")
    assert reader.read_requests() == []
    assert isinstance(reader.error, QueryBufferLimit)


def test_requests_before_an_error_are_returned_first():
    data = b"*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$-1\r\nPING\r\n"
    got, reader = parse_all(data)
    assert got == [[b"PING"], [b"PING"], [b"GET", b"k"]]
    assert str(reader.error) == "invalid bulk length"
    assert reader.error.reply_line() == "ERR Protocol error: invalid bulk length"


# -------------------------------------------------------------- NUL bytes (strchr)


@pytest.mark.parametrize("data", [b"*1\0\r\n", b"*1\r\n$3\0\r\n", b"*1\r\n\0\r\n", b"*1\r\nx\0\r\n",
                                  b"PING\0\r\nPING\r\n", b"\0\n"])
def test_a_nul_hides_the_line_end_as_redis(data):
    # Redis looks for line ends with strchr(): a NUL before the CR/LF means "not yet".
    got, reader = parse_all(data)
    assert got == [] and reader.error is None
    reader.feed(b"z" * INLINE_MAX_SIZE)
    reader.read_requests()
    assert str(reader.error).startswith("too big ")


def test_nul_inside_bulks_is_just_data():
    assert parse_all(multibulk([b"\0", b"a\0b"]))[0] == [[b"\0", b"a\0b"]]


# ------------------------------------------------------------------ inline commands


def test_inline_commands():
    got, reader = parse_all(b"PING\r\nSET a 1\nGET  a \r\n\r\n\n   \r\nECHO \"x y\"\r\n")
    assert got == [[b"PING"], [b"SET", b"a", b"1"], [b"GET", b"a"], [b"ECHO", b"x y"]]
    assert reader.error is None


def test_inline_and_multibulk_mixed():
    data = b"PING\r\n" + multibulk([b"SET", b"a b", b"1"]) + b"GET a\n" + multibulk([b"GET", b"a"])
    for chunks in ([data], [data[i : i + 1] for i in range(len(data))]):
        got, reader = parse_chunks(chunks)
        assert got == [[b"PING"], [b"SET", b"a b", b"1"], [b"GET", b"a"], [b"GET", b"a"]]
        assert reader.error is None


def test_unbalanced_quotes():
    assert error_of(b'ECHO "abc\r\n') == "unbalanced quotes in request"
    assert error_of(b"ECHO 'abc\r\n") == "unbalanced quotes in request"
    assert error_of(b'ECHO "a"b\r\n') == "unbalanced quotes in request"


# What Redis 7.0's sdssplitargs gives (checked against redis-server); None: unbalanced.
SPLIT_CASES = [
    (b"", []),
    (b"   ", []),
    (b"a b  c", [b"a", b"b", b"c"]),
    (b"\t a\tb ", [b"a", b"b"]),
    (b"a\vb \fc\f", [b"a\vb", b"c\f"]),  # \v and \f end no word (but are skipped between words)
    (b"\va \f", [b"a"]),
    (b'"a b"', [b"a b"]),
    (b'""', [b""]),
    (b"''", [b""]),
    (b'"" x', [b"", b"x"]),
    (b'"\\x41\\x4a\\x4A"', [b"AJJ"]),
    (b'"\\x4"', [b"x4"]),  # not two hex digits: '\x' is just 'x'
    (b'"\\xZZ"', [b"xZZ"]),
    (b'"\\x0"', [b"x0"]),
    (b'"\\n\\r\\t\\b\\a\\\\\\"\\z"', [b"\n\r\t\b\a\\\"z"]),
    (b"'a\\'b'", [b"a'b"]),
    (b"'a\\nb'", [b"a\\nb"]),  # no escapes in single quotes but \'
    (b"'a\"b'", [b'a"b']),
    (b"\"a'b\"", [b"a'b"]),
    (b'ab"cd ef"', [b"abcd ef"]),  # a quote opens mid-word
    (b"ab'cd'", [b"abcd"]),
    (b'"a"\tb', [b"a", b"b"]),
    (b'"a"\vb', [b"a", b"b"]),  # after a closing quote isspace() counts
    (b'"a"b', None),
    (b"'a'b", None),
    (b'"abc', None),
    (b"'abc", None),
    (b'"abc\\"', None),
    (b'"abc\\', None),
    (b"a\0b c", [b"a"]),  # a C string: it ends at the NUL
    (b'"a\0" c', None),
]


@pytest.mark.parametrize(("line", "expected"), SPLIT_CASES)
def test_split_args(line, expected):
    assert split_args(line) == expected


def sdscatrepr(arg: bytes) -> bytes:
    """How redis-cli quotes an argument (sds.c sdscatrepr)."""
    out = bytearray(b'"')
    for c in arg:
        if c in b'\\"':
            out += b"\\" + bytes([c])
        elif c in b"\n\r\t\a\b":
            out += {10: b"\\n", 13: b"\\r", 9: b"\\t", 7: b"\\a", 8: b"\\b"}[c]
        elif 32 <= c < 127:
            out.append(c)
        else:
            out += b"\\x%02x" % c
    return bytes(out + b'"')


@FAST
@given(args=st.lists(st.binary(max_size=20), max_size=6), sep=st.sampled_from([b" ", b"\t", b"  \t "]))
def test_quoted_arguments_split_back(args, sep):
    assert split_args(sep.join(sdscatrepr(a) for a in args)) == args


inline_tail = st.lists(
    st.sampled_from([b"a", b"b", b" ", b"  ", b"\t", b"\v", b"\f", b"\r", b'"', b"'", b"\\", b"x", b"4",
                     b"f", b"n", b"\\x41", b"\xe9"]),
    max_size=14,
).map(b"".join)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tail=inline_tail)
def test_split_args_matches_real_redis(redis_ref, tail):
    """Send `RPUSH k <tail>` inline to a real Redis and read the list back."""
    line = b"RPUSH k " + tail
    ours = split_args(line)
    with socket.create_connection(("127.0.0.1", redis_ref.port), timeout=5) as sock:
        sock.sendall(b"DEL k\r\n" + line + b"\r\nLRANGE k 0 -1\r\n")
        reader = hiredis.Reader()
        replies: list[object] = []
        while len(replies) < 3:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reader.feed(chunk)
            while (reply := reader.gets()) is not False:
                replies.append(reply)
    if ours is None:
        assert len(replies) == 2 and isinstance(replies[1], hiredis.ReplyError)
        assert str(replies[1]) == "ERR Protocol error: unbalanced quotes in request"
    elif len(ours) == 2:
        assert isinstance(replies[1], hiredis.ReplyError)
        assert "wrong number of arguments" in str(replies[1])
    else:
        assert replies[2] == ours[2:]


def test_quit_mid_stream_leaves_the_rest_unparsed_for_the_caller():
    # The reader hands over every complete request; stopping early is the caller's choice.
    got, _ = parse_all(b"PING\r\nQUIT\r\nPING\r\n")
    assert got == [[b"PING"], [b"QUIT"], [b"PING"]]


@FAST
@given(words=st.lists(st.binary(min_size=1, max_size=10).filter(lambda w: not any(c in w for c in b" \t\r\n\v\f\0\"'")),
                      min_size=1, max_size=5),
       requests=requests_st, cuts=st.lists(st.integers(min_value=0), max_size=10))
def test_mixed_streams_in_any_chunking(words, requests, cuts):
    assume(words[0][:1] != b"*")
    inline = b" ".join(words) + b"\r\n"
    data = b"".join(inline + multibulk(r) for r in requests) + inline
    got, reader = parse_chunks(split_at(data, cuts))
    expected = []
    for r in requests:
        expected += [words, r]
    assert got == expected + [words]
    assert reader.error is None


def _parse_without_c(data: bytes, monkeypatch) -> tuple[list[list[bytes]], str | None]:
    import hypercache.resp.reader as reader_module

    with monkeypatch.context() as patch:
        patch.setattr(reader_module, "parse_multibulk", lambda buf, pos, out, max_bulk: pos)
        return check_robust([data])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    requests=st.lists(args_st, min_size=1, max_size=6),
    edits=st.lists(st.tuples(st.integers(min_value=0), st.binary(max_size=3), st.integers(0, 3)), max_size=3),
    garbage=protocolish,
)
def test_the_c_fast_path_reads_exactly_as_the_python_reader(requests, edits, garbage, monkeypatch):
    """native.parse_multibulk must give the same requests and the same error as the
    pure-Python reader on valid, mutated and protocol-like streams."""
    data = bytearray(b"".join(multibulk(r) for r in requests) + garbage)
    for where, insert, drop in edits:
        where %= len(data) + 1
        data[where : where + drop] = insert
    assert check_robust([bytes(data)]) == _parse_without_c(bytes(data), monkeypatch)
