"""What the CF.* (cuckoo.py) and BF.* (bloom.py) command modules share.

RedisBloom's status errors (statusStrerror in its rebloom.c), looking a filter up with
the type check, storing it back after a change, its integer and range checks, and the
scan of CF.INSERT / BF.INSERT options: RedisBloom reads those by their first letter only
(and the third for BF.INSERT's NOCREATE / NONSCALING), up to ITEMS, and so does this.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from hypercache.commands.context import Context
from hypercache.errors import CommandError, WrongTypeError
from hypercache.numbers import parse_int

# Errors RedisBloom sends as written: some carry no "ERR" code.
NOT_FOUND = "ERR not found"
ITEM_EXISTS = "ERR item exists"
UNKNOWN_ARGUMENT = "Unknown argument received"

# RedisBloom 8's limit on capacities (its cf-initial-size / bf-initial-size maximum).
MAX_CAPACITY = 1 << 30

F = TypeVar("F")


def arity_error(name: str) -> CommandError:
    """Redis's arity error, for the checks the table's arity cannot express."""
    return CommandError(f"ERR wrong number of arguments for '{name}' command")


def find_filter(ctx: Context, key: bytes, kind: type[F], for_write: bool) -> F | None:
    """The filter at `key`, None if absent; WRONGTYPE if it holds another type.

    Writes look the key up without counting a keyspace hit or miss, as Redis does."""
    value = ctx.keyspace.peek(key) if for_write else ctx.keyspace.lookup(key)
    if value is None or isinstance(value, kind):
        return value
    raise WrongTypeError()


def peek_filter(ctx: Context, key: bytes, kind: type[F]) -> F | None:
    """The filter at `key` for a query that answers 0 for a missing key *or* a key of
    another type (RedisBloom's CF.EXISTS, CF.COUNT, BF.EXISTS, ...: never WRONGTYPE)."""
    value = ctx.keyspace.lookup(key)
    return value if isinstance(value, kind) else None


def filter_contains(ctx: Context, key: bytes, kind: type, items: list[bytes]) -> list[bool]:
    """Might each item be in the filter at `key`? All false for a missing key or a key
    of another type (RedisBloom's CF.EXISTS / CF.MEXISTS / BF.EXISTS / BF.MEXISTS)."""
    flt = peek_filter(ctx, key, kind)
    if flt is None:
        return [False] * len(items)
    return flt.contains_many(items)  # type: ignore[attr-defined]


def save_filter(ctx: Context, key: bytes, value: object) -> None:
    """Store a filter created or changed in place, keeping the key's TTL.

    Setting the key again is what tells WATCHing clients and the store about the
    change. The store serialises the whole filter on every write: accepted for now
    (a filter-aware record that logs only the changed buckets would avoid it)."""
    ctx.keyspace.set(key, value, keep_ttl=True)


def int_in_range(raw: bytes, low: int, high: int) -> int | None:
    """The integer spelled by `raw` if it lies in [low, high], else None."""
    value = parse_int(raw)
    if value is None or not low <= value <= high:
        return None
    return value


def scan_insert_options(
    args: list[bytes],
    name: str,
    valued: str,
    flags: str,
    apply: Callable[[bytes, bytes | None], None],
) -> int:
    """Read `KEY [options] ITEMS item ...` RedisBloom's way; the index of the first item.

    An option is known by its first letter (any case): `valued` letters take the next
    word as their value, `flags` letters stand alone, and 'i' (ITEMS) ends the options.
    `apply(word, value)` checks and records each one (value None for a flag). A valued
    option or ITEMS without what follows, or no item at all, is an arity error; any
    other letter is "Unknown argument received"."""
    argc = len(args)
    pos = 2
    while pos < argc:
        word = args[pos]
        letter = chr(word[0]).lower() if word else ""
        if letter == "i":
            if pos + 1 == argc:
                break
            return pos + 1
        if letter and letter in valued:
            if pos + 1 == argc:
                break
            apply(word, args[pos + 1])
            pos += 2
        elif letter and letter in flags:
            apply(word, None)
            pos += 1
        else:
            raise CommandError(UNKNOWN_ARGUMENT)
    raise arity_error(name)
