"""Number parsing and formatting exactly as Redis does it (string2ll, ld2string).

Redis accepts only canonical integers: no sign '+', no spaces, no leading zeros,
within a signed 64-bit range. Python's int() accepts much more, so the protocol
and the commands both go through these helpers.
"""

from __future__ import annotations

import math

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def parse_int(raw: bytes | bytearray | memoryview) -> int | None:
    """Return the canonical signed 64-bit integer spelled by `raw`, or None."""
    raw = bytes(raw)
    if not raw or len(raw) > 20:
        return None
    digits = raw[1:] if raw[0] == 45 else raw  # 45 == '-'
    if not digits or not digits.isdigit():
        return None
    if digits[0] == 48 and (len(digits) > 1 or raw[0] == 45):  # leading zero, or "-0"
        return None
    value = int(raw)
    if value < INT64_MIN or value > INT64_MAX:
        return None
    return value


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


def format_float(value: float) -> bytes:
    """Format a double as Redis shows it in bulk replies: the shortest text that
    reads back to the same value, without an exponent where Redis would have none."""
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    if value == int(value) and abs(value) < 1e17:
        return str(int(value)).encode()
    text = repr(value)
    if "e" in text:
        text = f"{value:.17f}".rstrip("0").rstrip(".")
    return text.encode()
