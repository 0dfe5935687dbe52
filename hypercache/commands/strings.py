"""String commands (Redis's t_string.c): GET, SET and the rest of the string family.

The handlers are small functions over a few shared helpers, as in Redis:
`_parse_extended` reads SET/GETEX options (Redis's parseExtendedStringArgumentsOrReply),
`_set_generic` is SET/SETNX/SETEX/PSETEX (setGenericCommand), `_incr_decr` is
INCR/DECR/INCRBY/DECRBY (incrDecrCommand), and `_check_string_length` is the
proto-max-bulk-len guard of APPEND and SETRANGE (checkStringLength).

INCRBYFLOAT computes as Redis does on x86-64: in the x87 80-bit `long double`
(64-bit significand), parsing with strtold's rules and printing with `%.17Lf`
stripped of trailing zeros. The `_ld_*` helpers reproduce that arithmetic exactly
with Python integers, so every reply matches Redis's digit for digit.

Reads that Redis does with lookupKeyRead (GET, MGET, GETRANGE, ...) count keyspace
hits and misses (`keyspace.lookup`/`get_string`); reads before a write (INCR, APPEND,
SETNX, ...) do not (`keyspace.peek`/`get_string_for_write`).
"""

from __future__ import annotations

import re

from hypercache.commands.args import expire_at_ms, int_arg
from hypercache.commands.context import Context
from hypercache.commands.table import command
from hypercache.errors import (
    NOT_FLOAT,
    NOT_INTEGER,
    OVERFLOW,
    STRING_TOO_LONG,
    SYNTAX,
    CommandError,
)
from hypercache.numbers import INT64_MAX, INT64_MIN, parse_int
from hypercache.resp.types import OK

OFFSET_OUT_OF_RANGE = "ERR offset is out of range"
DECREMENT_OVERFLOW = "ERR decrement would overflow"
NAN_OR_INFINITY = "ERR increment would produce NaN or Infinity"


def _arity_error(name: str) -> CommandError:
    return CommandError(f"ERR wrong number of arguments for '{name}' command")


def _check_string_length(ctx: Context, size: int, append: int) -> None:
    """Refuse a string that would grow past proto-max-bulk-len (Redis's checkStringLength)."""
    if size + append > ctx.server.config.proto_max_bulk_len:
        raise CommandError(STRING_TOO_LONG)


# ---- SET / GETEX options ------------------------------------------------------------------

_EXPIRY_UNITS = (b"EX", b"PX", b"EXAT", b"PXAT")


class _Options:
    """The options of SET (from the 4th word) or GETEX (from the 3rd)."""

    __slots__ = ("condition", "unit", "expire", "keep_ttl", "get", "persist")

    def __init__(self) -> None:
        self.condition: bytes | None = None  # b"NX" / b"XX"
        self.unit: bytes | None = None  # one of _EXPIRY_UNITS
        self.expire: bytes | None = None  # the raw expiry argument, validated later
        self.keep_ttl = False
        self.get = False
        self.persist = False

    def expire_at(self, name: str) -> int | None:
        """The absolute expiry in ms, or None; Redis's errors for a bad value."""
        if self.unit is None:
            return None
        return expire_at_ms(self.expire, self.unit, name)  # type: ignore[arg-type]


def _parse_extended(args: list[bytes], for_set: bool) -> _Options:
    """Read SET or GETEX options with Redis's rules (parseExtendedStringArgumentsOrReply).

    NX/XX exclude each other, one expiry unit excludes the others, KEEPTTL (SET) and
    PERSIST (GETEX) exclude any expiry; repeating the same option is allowed and, for
    an expiry, the last value wins. Anything else is a syntax error. The expiry value
    itself is checked afterwards, as Redis does.
    """
    opts = _Options()
    argc = len(args)
    i = 3 if for_set else 2
    while i < argc:
        # Redis compares options as C strings: a NUL ends the word.
        word = args[i].split(b"\0", 1)[0].upper()
        has_next = i + 1 < argc
        if for_set and word == b"NX" and opts.condition != b"XX":
            opts.condition = word
        elif for_set and word == b"XX" and opts.condition != b"NX":
            opts.condition = word
        elif for_set and word == b"GET":
            opts.get = True
        elif for_set and word == b"KEEPTTL" and opts.unit is None:
            opts.keep_ttl = True
        elif not for_set and word == b"PERSIST" and opts.unit is None:
            opts.persist = True
        elif (
            word in _EXPIRY_UNITS
            and opts.unit in (None, word)
            and not opts.keep_ttl
            and not opts.persist
            and has_next
        ):
            opts.unit = word
            i += 1
            opts.expire = args[i]
        else:
            raise CommandError(SYNTAX)
        i += 1
    return opts


def _set_generic(
    ctx: Context,
    key: bytes,
    value: bytes,
    opts: _Options,
    name: str,
    ok_reply: object = OK,
    abort_reply: object = None,
) -> object:
    """SET and its relatives (Redis's setGenericCommand): the expiry is validated first,
    then GET's old value is read (WRONGTYPE stops everything), then NX/XX decide."""
    keyspace = ctx.keyspace
    expire_at = opts.expire_at(name)
    old = keyspace.get_string(key) if opts.get else None  # WRONGTYPE before any change
    if opts.condition is not None:
        found = keyspace.peek(key) is not None
        if found == (opts.condition == b"NX"):
            return old if opts.get else abort_reply
    keyspace.set(key, value, expire_at, keep_ttl=opts.keep_ttl)
    return old if opts.get else ok_reply


@command("get", 2, "readonly fast", (1, 1, 1), group="string", summary="Get the value of a key", acl="read string fast")
def get(ctx: Context, args: list[bytes]) -> object:
    return ctx.keyspace.get_string(args[1])


@command("set", -3, "write denyoom", (1, 1, 1), group="string", summary="Set the string value of a key", acl="write string slow")
def set_(ctx: Context, args: list[bytes]) -> object:
    if len(args) == 3:  # the common case: no options
        ctx.keyspace.set(args[1], args[2])
        return OK
    return _set_generic(ctx, args[1], args[2], _parse_extended(args, for_set=True), "set")


@command("setnx", 3, "write denyoom fast", (1, 1, 1), group="string", summary="Set the value of a key, only if the key does not exist", acl="write string fast")
def setnx(ctx: Context, args: list[bytes]) -> object:
    opts = _Options()
    opts.condition = b"NX"
    return _set_generic(ctx, args[1], args[2], opts, "setnx", ok_reply=1, abort_reply=0)


def _set_with_expiry(ctx: Context, args: list[bytes], unit: bytes, name: str) -> object:
    """SETEX / PSETEX key time value."""
    opts = _Options()
    opts.unit, opts.expire = unit, args[2]
    return _set_generic(ctx, args[1], args[3], opts, name)


@command("setex", 4, "write denyoom", (1, 1, 1), group="string", summary="Set the value and expiration of a key", since="2.0.0", acl="write string slow")
def setex(ctx: Context, args: list[bytes]) -> object:
    return _set_with_expiry(ctx, args, b"EX", "setex")


@command("psetex", 4, "write denyoom", (1, 1, 1), group="string", summary="Set the value and expiration in milliseconds of a key", since="2.6.0", acl="write string slow")
def psetex(ctx: Context, args: list[bytes]) -> object:
    return _set_with_expiry(ctx, args, b"PX", "psetex")


# ---- reads that may also write -----------------------------------------------------------


@command("getset", 3, "write denyoom fast", (1, 1, 1), group="string", summary="Set the string value of a key and return its old value", acl="write string fast")
def getset(ctx: Context, args: list[bytes]) -> object:
    old = ctx.keyspace.get_string(args[1])
    ctx.keyspace.set(args[1], args[2])  # drops the TTL, as SET does
    return old


@command("getdel", 2, "write fast", (1, 1, 1), group="string", summary="Get the value of a key and delete the key", since="6.2.0", acl="write string fast")
def getdel(ctx: Context, args: list[bytes]) -> object:
    value = ctx.keyspace.get_string(args[1])
    if value is not None:
        ctx.keyspace.delete(args[1])
    return value


@command("getex", -2, "write fast", (1, 1, 1), group="string", summary="Get the value of a key and optionally set its expiration", since="6.2.0", acl="write string fast")
def getex(ctx: Context, args: list[bytes]) -> object:
    opts = _parse_extended(args, for_set=False)
    key = args[1]
    keyspace = ctx.keyspace
    value = keyspace.get_string(key)
    if value is None:
        return None  # a missing key answers nil before the expiry is even checked
    expire_at = opts.expire_at("getex")
    if expire_at is not None:
        keyspace.set_expire(key, expire_at)  # EXAT/PXAT in the past deletes the key
    elif opts.persist:
        keyspace.persist(key)
    return value


@command("mget", -2, "readonly fast", (1, -1, 1), group="string", summary="Get the values of all the given keys", complexity="O(N) where N is the number of keys to retrieve.", acl="read string fast")
def mget(ctx: Context, args: list[bytes]) -> object:
    lookup = ctx.keyspace.lookup
    out: list[bytes | None] = []
    for key in args[1:]:
        value = lookup(key)
        out.append(value if type(value) is bytes else None)
    return out


def _pairs(args: list[bytes], name: str) -> list[tuple[bytes, bytes]]:
    """The key/value pairs of MSET/MSETNX; an odd count is an arity error."""
    if len(args) % 2 == 0:
        raise _arity_error(name)
    return list(zip(args[1::2], args[2::2]))


@command("mset", -3, "write denyoom", (1, -1, 2), group="string", summary="Set multiple keys to multiple values", since="1.0.1", complexity="O(N) where N is the number of keys to set.", acl="write string slow")
def mset(ctx: Context, args: list[bytes]) -> object:
    store = ctx.keyspace.set
    for key, value in _pairs(args, "mset"):
        store(key, value)
    return OK


@command("msetnx", -3, "write denyoom", (1, -1, 2), group="string", summary="Set multiple keys to multiple values, only if none of the keys exist", since="1.0.1", complexity="O(N) where N is the number of keys to set.", acl="write string slow")
def msetnx(ctx: Context, args: list[bytes]) -> object:
    pairs = _pairs(args, "msetnx")
    keyspace = ctx.keyspace
    if any(keyspace.peek(key) is not None for key, _ in pairs):
        return 0
    for key, value in pairs:
        keyspace.set(key, value)
    return 1


# ---- editing a string in place -----------------------------------------------------------


@command("append", 3, "write denyoom fast", (1, 1, 1), group="string", summary="Append a value to a key", since="2.0.0", complexity="O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation.", acl="write string fast")
def append(ctx: Context, args: list[bytes]) -> object:
    key, tail = args[1], args[2]
    keyspace = ctx.keyspace
    old = keyspace.get_string_for_write(key)
    if old is None:
        keyspace.set(key, tail)
        return len(tail)
    _check_string_length(ctx, len(old), len(tail))
    new = old + tail
    keyspace.set(key, new, keep_ttl=True)
    return len(new)


@command("strlen", 2, "readonly fast", (1, 1, 1), group="string", summary="Get the length of the value stored in a key", since="2.2.0", acl="read string fast")
def strlen(ctx: Context, args: list[bytes]) -> object:
    value = ctx.keyspace.get_string(args[1])
    return 0 if value is None else len(value)


@command("getrange", 4, "readonly", (1, 1, 1), group="string", summary="Get a substring of the string stored at a key", since="2.4.0", complexity="O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.", acl="read string slow")
def getrange(ctx: Context, args: list[bytes]) -> object:
    start = int_arg(args[2])
    end = int_arg(args[3])
    value = ctx.keyspace.get_string(args[1])
    if value is None:
        return b""
    return _substring(value, start, end)


def _substring(value: bytes, start: int, end: int) -> bytes:
    """GETRANGE's inclusive range with Redis 7.0's index rules (quirks included:
    an end that is still negative after adding the length becomes 0, not empty)."""
    size = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = max(size + start, 0)
    if end < 0:
        end = max(size + end, 0)
    if end >= size:
        end = size - 1
    if start > end or size == 0:
        return b""
    return value[start : end + 1]


@command("setrange", 4, "write denyoom", (1, 1, 1), group="string", summary="Overwrite part of a string at key starting at the specified offset", since="2.2.0", complexity="O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.", acl="write string slow")
def setrange(ctx: Context, args: list[bytes]) -> object:
    key, patch = args[1], args[3]
    offset = int_arg(args[2])
    if offset < 0:
        raise CommandError(OFFSET_OUT_OF_RANGE)
    keyspace = ctx.keyspace
    old = keyspace.get_string_for_write(key)
    if not patch:  # setting nothing: the current length, and no key is created
        return 0 if old is None else len(old)
    _check_string_length(ctx, offset, len(patch))
    if old is None:
        old = b""
    if len(old) < offset:
        old += bytes(offset - len(old))  # pad with zero bytes, as Redis does
    new = old[:offset] + patch + old[offset + len(patch) :]
    keyspace.set(key, new, keep_ttl=True)
    return len(new)


# ---- counters ----------------------------------------------------------------------------


def _incr_decr(ctx: Context, key: bytes, incr: int) -> int:
    """Add `incr` to the integer at `key` (missing = 0), keeping its TTL (incrDecrCommand)."""
    keyspace = ctx.keyspace
    current = keyspace.get_string_for_write(key)
    if current is None:
        value = 0
    else:
        parsed = parse_int(current)
        if parsed is None:
            raise CommandError(NOT_INTEGER)
        value = parsed
    value += incr
    if value > INT64_MAX or value < INT64_MIN:
        raise CommandError(OVERFLOW)
    keyspace.set(key, b"%d" % value, keep_ttl=True)
    return value


@command("incr", 2, "write denyoom fast", (1, 1, 1), group="string", summary="Increment the integer value of a key by one", acl="write string fast")
def incr(ctx: Context, args: list[bytes]) -> object:
    return _incr_decr(ctx, args[1], 1)


@command("decr", 2, "write denyoom fast", (1, 1, 1), group="string", summary="Decrement the integer value of a key by one", acl="write string fast")
def decr(ctx: Context, args: list[bytes]) -> object:
    return _incr_decr(ctx, args[1], -1)


@command("incrby", 3, "write denyoom fast", (1, 1, 1), group="string", summary="Increment the integer value of a key by the given amount", acl="write string fast")
def incrby(ctx: Context, args: list[bytes]) -> object:
    return _incr_decr(ctx, args[1], int_arg(args[2]))


@command("decrby", 3, "write denyoom fast", (1, 1, 1), group="string", summary="Decrement the integer value of a key by the given number", acl="write string fast")
def decrby(ctx: Context, args: list[bytes]) -> object:
    amount = int_arg(args[2])
    if amount == INT64_MIN:  # its negation does not fit in 64 bits
        raise CommandError(DECREMENT_OVERFLOW)
    return _incr_decr(ctx, args[1], -amount)


@command("incrbyfloat", 3, "write denyoom fast", (1, 1, 1), group="string", summary="Increment the float value of a key by the given amount", since="2.6.0", acl="write string fast")
def incrbyfloat(ctx: Context, args: list[bytes]) -> object:
    key = args[1]
    keyspace = ctx.keyspace
    current = keyspace.get_string_for_write(key)  # WRONGTYPE first, then the two numbers
    value = _LD_ZERO if current is None else ld_parse(current)
    amount = ld_parse(args[2])
    if value is None or amount is None:
        raise CommandError(NOT_FLOAT)
    total = ld_add(value, amount)
    if total is None:
        raise CommandError(NAN_OR_INFINITY)
    text = ld_format(total)
    keyspace.set(key, text, keep_ttl=True)
    return text


# ---- x87 long double arithmetic for INCRBYFLOAT -------------------------------------------
#
# A finite long double is a pair (m, e) meaning m * 2**e, with |m| < 2**64: the x87
# extended format's 64-bit significand. Exponents run from the smallest subnormal,
# 2**-16445, to a largest finite value just below 2**16384. Infinity is INF (a float).

_LD_BITS = 64
_LD_EMIN = -16445
_LD_EMAX = 16384 - _LD_BITS
_LD_ZERO = (0, 0)
_LD_MAX_CHARS = 5 * 1024  # Redis's MAX_LONG_DOUBLE_CHARS: longer input is not a number
_INF = float("inf")

LongDouble = tuple[int, int]

_DECIMAL = re.compile(rb"([+-]?)(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))(?:[eE]([+-]?[0-9]+))?")
_HEX = re.compile(
    rb"([+-]?)0[xX](?:([0-9a-fA-F]+)(?:\.([0-9a-fA-F]*))?|\.([0-9a-fA-F]+))(?:[pP]([+-]?[0-9]+))?"
)
_INFINITY = re.compile(rb"[+-]?(?:inf|infinity)", re.IGNORECASE)

# Python refuses int <-> decimal str conversions past 4300 digits; go by chunks of this.
_CHUNK = 4000
_CHUNK_POW = 10**_CHUNK


def _decimal_int(digits: bytes) -> int:
    """int(digits) for any number of decimal digits."""
    if len(digits) <= _CHUNK:
        return int(digits) if digits else 0
    return _decimal_int(digits[:-_CHUNK]) * _CHUNK_POW + int(digits[-_CHUNK:])


def _decimal_str(n: int) -> str:
    """str(n) for any non-negative int."""
    if n < _CHUNK_POW:
        return str(n)
    high, low = divmod(n, _CHUNK_POW)
    return _decimal_str(high) + str(low).zfill(_CHUNK)


def _exponent(raw: bytes | None) -> int:
    """An exponent field, clamped far outside the range where it could matter."""
    if not raw:
        return 0
    negative = raw[:1] == b"-"
    digits = raw.lstrip(b"+-").lstrip(b"0")
    value = 10**9 if len(digits) > 9 else int(digits or b"0")
    return -value if negative else value


def _ld_round(num: int, den: int) -> LongDouble | None:
    """num/den (num >= 0, den > 0) rounded to the nearest long double, ties to even.

    Returns None when the result overflows, (0, 0) when it underflows to zero.
    """
    if num == 0:
        return _LD_ZERO
    e = num.bit_length() - den.bit_length() - _LD_BITS
    for _ in range(2):  # the estimate is off by at most one
        if e >= 0:
            divisor = den << e
            q, r = divmod(num, divisor)
        else:
            divisor = den
            q, r = divmod(num << -e, den)
        if q >> _LD_BITS:
            e += 1
        else:
            break
    if e < _LD_EMIN:  # subnormal: fewer significant bits
        e = _LD_EMIN
        divisor = den
        q, r = divmod(num << -e, den)
    twice = r * 2
    if twice > divisor or (twice == divisor and q & 1):
        q += 1
        if q >> _LD_BITS:
            q >>= 1
            e += 1
    if e > _LD_EMAX:
        return None
    return (q, e) if q else _LD_ZERO


def _signed(result: LongDouble | None, negative: bool) -> LongDouble | None:
    if result is None or not negative:
        return result
    return (-result[0], result[1])


def ld_parse(raw: bytes) -> LongDouble | float | None:
    """Parse `raw` as Redis's string2ld: glibc strtold over the whole string, no leading
    space, no NaN, no overflow or underflow to zero. INF for an infinity; None if invalid."""
    if not raw or len(raw) >= _LD_MAX_CHARS:
        return None
    match = _DECIMAL.fullmatch(raw)
    if match is not None:
        sign, whole, frac, only_frac, exp = match.groups()
        digits = (whole or b"") + (frac or b"") + (only_frac or b"")
        exponent = _exponent(exp) - len(frac or only_frac or b"")
        digits = digits.lstrip(b"0")
        if not digits:
            return _LD_ZERO
        magnitude = len(digits) + exponent  # 10**(magnitude-1) <= value < 10**magnitude
        if magnitude - 1 > 4933 or magnitude < -4951:
            return None  # out of range: strtold reports ERANGE
        mantissa = _decimal_int(digits)
        if exponent >= 0:
            result = _ld_round(mantissa * 10**exponent, 1)
        else:
            result = _ld_round(mantissa, 10**-exponent)
        if result == _LD_ZERO:
            return None
        return _signed(result, sign == b"-")
    match = _HEX.fullmatch(raw)
    if match is not None:
        sign, whole, frac, only_frac, exp = match.groups()
        digits = (whole or b"") + (frac or b"") + (only_frac or b"")
        mantissa = int(digits, 16)
        if not mantissa:
            return _LD_ZERO
        exponent = _exponent(exp) - 4 * len(frac or only_frac or b"")
        magnitude = mantissa.bit_length() + exponent
        if magnitude > 16384 + 1 or magnitude < _LD_EMIN - 1:
            return None
        if exponent >= 0:
            result = _ld_round(mantissa << exponent, 1)
        else:
            result = _ld_round(mantissa, 1 << -exponent)
        if result == _LD_ZERO:
            return None
        return _signed(result, sign == b"-")
    if _INFINITY.fullmatch(raw):
        return -_INF if raw[:1] == b"-" else _INF
    return None


def ld_add(a: LongDouble | float, b: LongDouble | float) -> LongDouble | None:
    """a + b rounded to a long double; None if the sum is infinite or NaN."""
    if type(a) is float or type(b) is float:
        return None  # an infinite operand: the sum is an infinity or NaN
    (ma, ea), (mb, eb) = a, b  # type: ignore[misc]
    e = min(ea, eb)
    total = (ma << (ea - e)) + (mb << (eb - e))
    num = abs(total)
    if e >= 0:
        result = _ld_round(num << e, 1)
    else:
        result = _ld_round(num, 1 << -e)
    return _signed(result, total < 0)


def ld_format(value: LongDouble) -> bytes:
    """`value` as Redis prints a long double for humans: printf("%.17Lf") with the
    trailing zeros (and a bare '.') removed, and "-0" written as "0"."""
    m, e = value
    num = abs(m) * 10**17
    if e >= 0:
        scaled = num << e
    else:
        divisor = 1 << -e
        scaled, rest = divmod(num, divisor)
        twice = rest * 2
        if twice > divisor or (twice == divisor and scaled & 1):
            scaled += 1
    if not scaled:
        return b"0"
    text = _decimal_str(scaled).rjust(18, "0")
    whole, frac = text[:-17], text[-17:].rstrip("0")
    if frac:
        whole = f"{whole}.{frac}"
    return (("-" if m < 0 else "") + whole).encode()
