"""Argument parsing shared by the command modules, with Redis's error texts."""

from __future__ import annotations

from hypercache.errors import INVALID_EXPIRE, NOT_FLOAT, NOT_INTEGER, CommandError
from hypercache.keyspace import now_ms
from hypercache.numbers import parse_float, parse_int

# Redis rejects expiry times whose milliseconds would overflow a signed 64-bit integer.
_MAX_MS = 2**63 - 1


def int_arg(raw: bytes, error: str = NOT_INTEGER) -> int:
    """A canonical 64-bit integer argument, or the command fails with `error`."""
    value = parse_int(raw)
    if value is None:
        raise CommandError(error)
    return value


def positive_int_arg(raw: bytes, error: str = NOT_INTEGER) -> int:
    value = int_arg(raw, error)
    if value < 0:
        raise CommandError(error)
    return value


def float_arg(raw: bytes, error: str = NOT_FLOAT) -> float:
    value = parse_float(raw)
    if value is None:
        raise CommandError(error)
    return value


def option(raw: bytes) -> bytes:
    """An option word in upper case, for comparison with b'EX', b'NX', ..."""
    return raw.upper()


def expire_at_ms(raw: bytes, unit: bytes, command: str, now: int | None = None) -> int:
    """Turn EX/PX/EXAT/PXAT (or EXPIRE-family) arguments into an absolute ms time.

    `unit` is one of b'EX', b'PX', b'EXAT', b'PXAT'. Non-positive relative times and
    overflowing values give Redis's "invalid expire time in '<command>' command".
    """
    value = int_arg(raw)
    invalid = CommandError(INVALID_EXPIRE.format(command))
    if value <= 0:
        raise invalid
    if unit in (b"EX", b"EXAT"):
        if value > _MAX_MS // 1000:
            raise invalid
        value *= 1000
    if unit in (b"EX", b"PX"):
        now = now_ms() if now is None else now
        if value > _MAX_MS - now:
            raise invalid
        value += now
    return value
