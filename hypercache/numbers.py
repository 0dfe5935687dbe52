"""Number parsing and formatting exactly as Redis does it (string2ll, d2string).

Redis accepts only canonical integers: no sign '+', no spaces, no leading zeros,
within a signed 64-bit range. Python's int() accepts much more, so the protocol
and the commands both go through these helpers.
"""

from __future__ import annotations

import math

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def parse_int(raw: bytes | bytearray | memoryview) -> int | None:
    """Return the canonical signed 64-bit integer spelled by `raw`, or None.

    string2ll's rules: optional '-', then '0' alone or a digit 1-9 followed by
    digits; nothing else (no '+', spaces, '_' or leading zeros), at most 20 bytes,
    within [-2**63, 2**63-1]."""
    if type(raw) is memoryview:
        raw = bytes(raw)
    n = len(raw)
    if n == 0 or n > 20:
        return None
    if raw.isdigit():  # ASCII digits only, for bytes and bytearray
        if raw[0] == 48 and n > 1:  # leading zero
            return None
        value = int(raw)
        return value if value <= INT64_MAX else None
    if raw[0] != 45 or n == 1 or raw[1] == 48:  # not '-', a lone '-', or "-0..."
        return None
    digits = raw[1:]
    if not digits.isdigit():
        return None
    value = -int(digits)
    return value if value >= INT64_MIN else None


def parse_float(raw: bytes) -> float | None:
    """Parse a float argument as Redis's string2ld: no spaces, no NaN; 'inf' allowed."""
    if not raw or len(raw) > 5000 or raw[:1].isspace() or raw[-1:].isspace():
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    if math.isnan(value) or b"_" in raw:
        return None
    return value


# double2ll's range: integral doubles within it print as integers.
_LL_SAFE = float(INT64_MAX // 2)
_INF = float("inf")
_NEG_INF = float("-inf")


def format_float(value: float) -> bytes:
    """Format a double as Redis 7.2+ does in replies (util.c d2string):

    nan, inf, -inf, 0 and -0 by name; an integral value within +/-2**62 as an
    integer; anything else as fpconv_dtoa writes the shortest digits that read
    back to the same double -- plain while the exponent is small, otherwise
    scientific with an unpadded exponent ('1e+20', '1.5e-7').
    (Redis 7.0 printed '%.17g' instead: '0.10000000000000001'.)
    """
    if value != value:
        return b"nan"
    if value in (_INF, _NEG_INF):
        return b"inf" if value > 0 else b"-inf"
    if value == 0:
        return b"-0" if math.copysign(1.0, value) < 0 else b"0"
    if -_LL_SAFE <= value <= _LL_SAFE and value == int(value):
        return b"%d" % value
    neg = value < 0
    # repr() gives the shortest round-tripping digits. Redis's Grisu2 (fpconv) does
    # too for ~99.9% of doubles; for the rest it writes one digit more or another
    # last digit -- text that reads back to the same double either way.
    mantissa, _, exp_text = repr(-value if neg else value).partition("e")
    whole, _, frac = mantissa.partition(".")
    raw = (whole + frac).lstrip("0")
    digits = raw.rstrip("0")
    k = (int(exp_text) if exp_text else 0) - len(frac) + len(raw) - len(digits)
    n = len(digits)
    exp = abs(k + n - 1)
    if k >= 0 and exp < n + 7:
        text = digits + "0" * k
    elif k < 0 and (k > -7 or exp < 4):
        point = n + k
        text = "0." + "0" * -point + digits if point <= 0 else digits[:point] + "." + digits[point:]
    else:
        text = digits[0] + ("." + digits[1:] if n > 1 else "")
        text += ("e-" if k + n - 1 < 0 else "e+") + str(exp)
    return ("-" + text if neg else text).encode()

