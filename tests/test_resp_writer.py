"""The reply writer alone, and the number helpers it and the reader rest on.

What the writer emits is decoded with hiredis (the C parser redis-py uses; its
Reader speaks RESP3 too) and compared with the value written. hiredis folds some
types together (status/bulk -> bytes, set/push -> list, verbatim -> its text), so
those are also pinned byte for byte.
"""

from __future__ import annotations

import enum
import math
import struct

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hypercache.numbers import INT64_MAX, INT64_MIN, format_float, parse_int
from hypercache.resp.types import NULL_ARRAY, OK, ErrorReply, NullArray, Push, Status, Verbatim
from hypercache.resp.writer import encode_reply, write_reply

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# hiredis returns False for "no complete reply yet" unless told otherwise -- and
# False is also a RESP3 boolean, so give it a sentinel of its own.
MORE = object()


def new_reader() -> hiredis.Reader:
    return hiredis.Reader(notEnoughData=MORE)


def decode(data: bytes) -> object:
    """Exactly one reply, and nothing left over."""
    reader = new_reader()
    reader.feed(data)
    reply = reader.gets()
    assert reply is not MORE, f"incomplete reply: {data!r}"
    assert reader.gets() is MORE, f"trailing bytes after the reply: {data!r}"
    return reply


def expected(value: object, proto: int) -> object:
    """What hiredis must decode the writer's bytes of `value` to."""
    if isinstance(value, ErrorReply):
        return ("error", value.replace("\r", " ").replace("\n", " "))
    if isinstance(value, Status):  # one line: CR and LF become spaces
        return value.replace("\r", " ").replace("\n", " ").encode("utf-8", "surrogateescape")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):  # str, Status, Verbatim (RESP3 strips the format)
        return value.encode("utf-8", "surrogateescape")
    if value is None or isinstance(value, NullArray):
        return None
    if isinstance(value, bool):
        return value if proto == 3 else int(value)
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return int(value)
        return b"%d" % value  # big number (RESP3) or bulk (RESP2)
    if isinstance(value, float):
        return value if proto == 3 else format_float(value)
    if isinstance(value, dict):
        if proto == 3:
            return {expected(k, proto): expected(v, proto) for k, v in value.items()}
        flat: list[object] = []
        for k, v in value.items():
            flat += [expected(k, proto), expected(v, proto)]
        return flat
    if isinstance(value, (list, tuple, set, frozenset)):
        return [expected(item, proto) for item in value]
    raise AssertionError(f"no expectation for {value!r}")


def normal(reply: object) -> object:
    """hiredis's decoding with errors made comparable and nan made equal to itself."""
    if isinstance(reply, hiredis.ReplyError):
        return ("error", str(reply))
    if isinstance(reply, float) and math.isnan(reply):
        return "nan"
    if isinstance(reply, list):
        return [normal(item) for item in reply]
    if isinstance(reply, dict):
        return {k: normal(v) for k, v in reply.items()}
    return reply


def nan_safe(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, list):
        return [nan_safe(item) for item in value]
    if isinstance(value, dict):
        return {k: nan_safe(v) for k, v in value.items()}
    return value


def roundtrip_ok(value: object, proto: int) -> None:
    data = encode_reply(value, proto)
    assert normal(decode(data)) == nan_safe(expected(value, proto)), data


# ------------------------------------------------------------------ every reply type


class Color(enum.IntEnum):
    RED = 7


SCALARS = [
    b"", b"hello", b"\r\n\0\xff", "text", "h\u00e9", "\udcff raw",
    0, 1, -1, 1024, 1025, -2, INT64_MAX, INT64_MIN, INT64_MAX + 1, INT64_MIN - 1, 10**40, Color.RED,
    None, NULL_ARRAY, True, False,
    0.0, -0.0, 1.5, -2.25, 0.1, 1e20, 1e-7, 3.0, float("inf"), float("-inf"), float("nan"),
    OK, Status("QUEUED"), ErrorReply("ERR something"), ErrorReply("WRONGTYPE Operation"),
    Verbatim("some text"), Verbatim("md text", "mkd"),
    bytearray(b"ba"), memoryview(b"mv"),
]


@pytest.mark.parametrize("proto", [2, 3])
@pytest.mark.parametrize("value", SCALARS, ids=repr)
def test_each_scalar_decodes_back(value, proto):
    roundtrip_ok(value, proto)


@pytest.mark.parametrize("proto", [2, 3])
def test_containers_decode_back(proto):
    for value in ([], [b"a", 1, None], (b"t", 2), {b"k": b"v", b"n": 1}, {}, {b"a", b"b"},
                  frozenset({1}), Push([b"message", b"ch", b"hi"]), [[[]], [[b"x"]]],
                  {b"m": {b"inner": [1, 2.5, True]}}):
        roundtrip_ok(value, proto)


# The bytes themselves, where hiredis cannot tell the types apart.
GOLDEN = [
    (b"abc", b"$3\r\nabc\r\n", b"$3\r\nabc\r\n"),
    (OK, b"+OK\r\n", b"+OK\r\n"),
    (ErrorReply("ERR bad\r\nthing"), b"-ERR bad  thing\r\n", b"-ERR bad  thing\r\n"),
    (Status("a\nb"), b"+a b\r\n", b"+a b\r\n"),
    (5, b":5\r\n", b":5\r\n"),
    (-5, b":-5\r\n", b":-5\r\n"),
    (2**64, b"$20\r\n18446744073709551616\r\n", b"(18446744073709551616\r\n"),
    (None, b"$-1\r\n", b"_\r\n"),
    (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
    (True, b":1\r\n", b"#t\r\n"),
    (False, b":0\r\n", b"#f\r\n"),
    (1.5, b"$3\r\n1.5\r\n", b",1.5\r\n"),
    (float("inf"), b"$3\r\ninf\r\n", b",inf\r\n"),
    (float("-inf"), b"$4\r\n-inf\r\n", b",-inf\r\n"),
    ([b"a", 1], b"*2\r\n$1\r\na\r\n:1\r\n", b"*2\r\n$1\r\na\r\n:1\r\n"),
    ({b"a": 1}, b"*2\r\n$1\r\na\r\n:1\r\n", b"%1\r\n$1\r\na\r\n:1\r\n"),
    ({b"a"}, b"*1\r\n$1\r\na\r\n", b"~1\r\n$1\r\na\r\n"),
    (Verbatim("hi"), b"$2\r\nhi\r\n", b"=6\r\ntxt:hi\r\n"),
    (Verbatim("# x", "mkd"), b"$3\r\n# x\r\n", b"=7\r\nmkd:# x\r\n"),
    (Push([b"pong", b""]), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n", b">2\r\n$4\r\npong\r\n$0\r\n\r\n"),
    ([], b"*0\r\n", b"*0\r\n"),
    ({}, b"*0\r\n", b"%0\r\n"),
    ("\u00e9", b"$2\r\n\xc3\xa9\r\n", b"$2\r\n\xc3\xa9\r\n"),
    (ErrorReply("ERR Protocol error: expected '$', got '\udcff'"),
     b"-ERR Protocol error: expected '$', got '\xff'\r\n",
     b"-ERR Protocol error: expected '$', got '\xff'\r\n"),
]


@pytest.mark.parametrize(("value", "resp2", "resp3"), GOLDEN, ids=[repr(g[0]) for g in GOLDEN])
def test_exact_bytes(value, resp2, resp3):
    assert encode_reply(value, 2) == resp2
    assert encode_reply(value, 3) == resp3
    assert encode_reply(value) == resp2  # RESP2 unless told


def test_write_reply_appends():
    out = bytearray(b"+PONG\r\n")
    write_reply(out, [b"x"], 3)
    write_reply(out, 7, 3)
    assert out == b"+PONG\r\n*1\r\n$1\r\nx\r\n:7\r\n"


def test_unknown_types_are_refused():
    with pytest.raises(TypeError):
        encode_reply(object())
    with pytest.raises(TypeError):
        encode_reply([b"ok", object()], 3)


# ------------------------------------------------------------- nested, property-tested

scalar_st = st.one_of(
    st.binary(max_size=30),
    st.text(max_size=10),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10).map(Status),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10).map(lambda t: ErrorReply("ERR " + t)),
    st.text(max_size=10).map(Verbatim),
    st.just(NULL_ARRAY),
)
key_st = st.one_of(st.binary(max_size=8), st.integers(min_value=-1000, max_value=1000))
reply_st = st.recursive(
    scalar_st,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.lists(children, max_size=5).map(Push),
        st.dictionaries(key_st, children, max_size=4),
        st.frozensets(key_st, max_size=4),
    ),
    max_leaves=25,
)


@FAST
@given(value=reply_st, proto=st.sampled_from([2, 3]))
def test_nested_replies_decode_back(value, proto):
    roundtrip_ok(value, proto)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(reply_st, max_size=8), proto=st.sampled_from([2, 3]))
def test_a_batch_of_replies_is_a_clean_stream(values, proto):
    """Pipelined answers in one buffer: hiredis reads them back one by one, in order."""
    out = bytearray()
    for value in values:
        write_reply(out, value, proto)
    reader = new_reader()
    reader.feed(bytes(out))
    for value in values:
        assert normal(reader.gets()) == nan_safe(expected(value, proto))
    assert reader.gets() is MORE


# ------------------------------------------------------------------ parse_int (string2ll)


def string2ll_model(raw: bytes) -> int | None:
    """Accepted iff the bytes are the canonical decimal spelling of an int64."""
    try:
        value = int(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    if str(value).encode() != raw or not INT64_MIN <= value <= INT64_MAX:
        return None
    return value


@pytest.mark.parametrize(
    ("raw", "value"),
    [(b"0", 0), (b"1", 1), (b"-1", -1), (b"10", 10), (b"9223372036854775807", INT64_MAX),
     (b"-9223372036854775808", INT64_MIN), (b"9223372036854775808", None), (b"-9223372036854775809", None),
     (b"99999999999999999999", None), (b"-99999999999999999999", None), (b"", None), (b"-", None),
     (b"+1", None), (b"01", None), (b"00", None), (b"-0", None), (b"-01", None), (b" 1", None),
     (b"1 ", None), (b"1_000", None), (b"1.0", None), (b"1e3", None), (b"0x10", None), (b"--1", None),
     (b"\xd9\xa1", None), (b"\xef\xbc\x91", None), (b"1\0", None), (b"12a", None)],
)
def test_parse_int_table(raw, value):
    assert parse_int(raw) == value
    assert parse_int(bytearray(raw)) == value
    assert parse_int(memoryview(raw)) == value


@settings(max_examples=500, deadline=None)
@given(raw=st.one_of(
    st.binary(max_size=22),
    st.lists(st.sampled_from(list(b"0123456789-+ _")), max_size=22).map(bytes),
    st.integers(min_value=-(2**64), max_value=2**64).map(lambda n: b"%d" % n),
))
def test_parse_int_follows_string2ll(raw):
    assert parse_int(raw) == string2ll_model(raw)


@FAST
@given(n=st.integers(min_value=INT64_MIN, max_value=INT64_MAX))
def test_parse_int_reads_every_int64(n):
    assert parse_int(str(n).encode()) == n


# ------------------------------------------------------------ format_float (d2string)

# Redis 7.2+ d2string output (checked against Redis's own fpconv_dtoa, built apart).
FLOAT_CASES = [
    (0.0, b"0"), (-0.0, b"-0"), (1.0, b"1"), (-3.0, b"-3"), (1.5, b"1.5"), (-2.25, b"-2.25"),
    (0.1, b"0.1"), (0.3, b"0.3"), (1 / 3, b"0.3333333333333333"), (123456.789, b"123456.789"),
    (1e-5, b"0.00001"), (1e-6, b"0.000001"), (1e-7, b"1e-7"), (2.5e-10, b"2.5e-10"), (0.000123, b"0.000123"),
    (1e15, b"1000000000000000"), (1e17, b"100000000000000000"), (4.611686018427388e18, b"4611686018427387904"),
    (9.3e18, b"9.3e+18"), (1e19, b"1e+19"), (1e20, b"1e+20"), (1e21, b"1e+21"),
    (1.2345678901234567e19, b"12345678901234567000"), (1e100, b"1e+100"), (1e105, b"1e+105"), (1e-100, b"1e-100"),
    (-1e-300, b"-1e-300"), (1.5e300, b"1.5e+300"), (5e-324, b"5e-324"),
    (1.7976931348623157e308, b"1.7976931348623157e+308"), (123.456e5, b"12345600"),
    (float("inf"), b"inf"), (float("-inf"), b"-inf"), (float("nan"), b"nan"),
]


@pytest.mark.parametrize(("value", "text"), FLOAT_CASES, ids=[repr(c[0]) for c in FLOAT_CASES])
def test_format_float_table(value, text):
    assert format_float(value) == text


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=2**64 - 1).map(lambda b: struct.unpack("<d", b.to_bytes(8, "little"))[0])
      .filter(math.isfinite),
))
def test_format_float_reads_back_and_is_short(value):
    text = format_float(value)
    assert float(text) == value
    assert math.copysign(1.0, float(text)) == math.copysign(1.0, value)
    def significant(t: bytes) -> int:
        return len(t.lstrip(b"-").split(b"e")[0].replace(b".", b"").strip(b"0"))

    if value == int(value) and abs(value) <= 2**62 and value != 0:
        # Integral values within double2ll's range print as plain (exact) integers.
        assert text == b"%d" % int(value)
    else:
        # No more significant digits than the shortest round trip (Python's repr).
        assert significant(text) <= significant(repr(value).encode())
