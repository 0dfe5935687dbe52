"""Bloom filter commands (RedisBloom's BF.*), over keyspace values of type MBbloom--.

BF.RESERVE, BF.ADD, BF.MADD, BF.INSERT, BF.EXISTS, BF.MEXISTS, BF.INFO (whole, or one
of CAPACITY / SIZE / FILTERS / ITEMS / EXPANSION), BF.CARD, BF.SCANDUMP and BF.LOADCHUNK
reply and fail as RedisBloom 8 does (its src/rebloom.c): booleans in RESP3 for the adds
and the queries, the same checks in the same order and the same error texts.

The filters are the native scalable BloomFilter (hypercache.native) with RedisBloom's
sizing (half the error for the first link, each new link `expansion` times larger with
half the error again); their dumps are HyperCache's own format.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypercache.commands.context import Context
from hypercache.commands.filter_common import (
    ITEM_EXISTS,
    MAX_CAPACITY,
    NOT_FOUND,
    arity_error,
    filter_contains,
    find_filter,
    int_in_range,
    save_filter,
    scan_insert_options,
)
from hypercache.commands.table import command
from hypercache.errors import CommandError
from hypercache.keyspace.filters import BloomValue
from hypercache.native import FilterFullError
from hypercache.numbers import parse_float, parse_int
from hypercache.resp.types import OK, ErrorReply, Status

# RedisBloom 8's defaults and limits (its config.c / config.h).
DEFAULT_CAPACITY = 100
DEFAULT_ERROR_RATE = 0.01
DEFAULT_EXPANSION = 2
MAX_EXPANSION = 32768
ERROR_RATE_CAP = 0.25  # a larger error rate is accepted and treated as 0.25

NONSCALING_FULL = "ERR non scaling filter is full"
BAD_DATA = "ERR received bad data"

_GROUP = "module"
_WRITE = "write denyoom"
_READ = "readonly fast"


@dataclass(slots=True)
class _Options:
    """How BF.ADD / BF.MADD / BF.INSERT create a missing filter."""

    capacity: int = DEFAULT_CAPACITY
    error_rate: float = DEFAULT_ERROR_RATE
    expansion: int = DEFAULT_EXPANSION
    scaling: bool = True
    create: bool = True


def _new_filter(options: _Options) -> BloomValue:
    # A non-scaling filter never grows: its expansion is only a placeholder then.
    expansion = options.expansion if options.scaling else max(options.expansion, 1)
    try:
        return BloomValue(options.capacity, options.error_rate, expansion, options.scaling)
    except MemoryError:
        raise CommandError("ERR Insufficient memory to create filter") from None
    except ValueError:
        raise CommandError("ERR could not create filter") from None


def _valid_error_rate(raw: bytes) -> float | None:
    """An error rate in (0, 1), capped at 0.25 as RedisBloom does; None if invalid."""
    rate = parse_float(raw)
    if rate is None or not 0.0 < rate < 1.0:
        return None
    return min(rate, ERROR_RATE_CAP)


# ---- BF.RESERVE ---------------------------------------------------------------------------


def _find_word(args: list[bytes], word: bytes) -> int:
    """Where an option word stands after the fixed arguments (-1 if absent)."""
    for pos in range(4, len(args)):
        if args[pos].upper() == word:
            return pos
    return -1


@command("bf.reserve", -4, _WRITE, (1, 1, 1), group=_GROUP, summary="Creates a new Bloom Filter", complexity="O(1)", acl="bloom write fast")
def bf_reserve(ctx: Context, args: list[bytes]) -> object:
    """BF.RESERVE key error_rate capacity [EXPANSION n] [NONSCALING]."""
    if len(args) > 7:
        raise arity_error("bf.reserve")
    if parse_float(args[2]) is None:
        raise CommandError("ERR bad error rate")
    error_rate = _valid_error_rate(args[2])
    if error_rate is None:
        raise CommandError("ERR error rate must be in the range (0.000000, 1.000000)")
    capacity = parse_int(args[3])
    if capacity is None:
        raise CommandError("ERR bad capacity")
    if not 1 <= capacity <= MAX_CAPACITY:
        raise CommandError(f"ERR capacity must be in the range [1, {MAX_CAPACITY}]")
    options = _Options(capacity=capacity, error_rate=error_rate)
    options.scaling = _find_word(args, b"NONSCALING") < 0
    at = _find_word(args, b"EXPANSION")
    if at + 1 == len(args):
        raise CommandError("ERR no expansion")
    if at >= 0:
        expansion = parse_int(args[at + 1])
        if expansion is None:
            raise CommandError("ERR bad expansion")
        if expansion == 0:
            options.scaling = False
        elif not options.scaling:
            raise CommandError("Nonscaling filters cannot expand")
        if not 0 <= expansion <= MAX_EXPANSION:
            raise CommandError(f"ERR expansion must be in the range [0, {MAX_EXPANSION}]")
        options.expansion = expansion
    if find_filter(ctx, args[1], BloomValue, for_write=True) is not None:
        raise CommandError(ITEM_EXISTS)
    save_filter(ctx, args[1], _new_filter(options))
    return OK


# ---- BF.ADD, BF.MADD, BF.INSERT -----------------------------------------------------------


def _add(ctx: Context, key: bytes, items: list[bytes], multi: bool, options: _Options) -> object:
    """RedisBloom's bfInsertCommon: add items, creating the filter if allowed."""
    bf = find_filter(ctx, key, BloomValue, for_write=True)
    created = bf is None
    if bf is None:
        if not options.create:
            raise CommandError(NOT_FOUND)
        bf = _new_filter(options)
    if not multi:
        try:
            added = bf.add(items[0])
        except FilterFullError:  # (never a filter just created: its capacity is >= 1)
            raise CommandError(NONSCALING_FULL) from None
        if added or created:
            save_filter(ctx, key, bf)
        return added
    results = bf.add_many(items)
    if created or 1 in results:
        save_filter(ctx, key, bf)
    replies: list[object] = []
    for result in results:
        if result < 0:  # a full non-scaling filter ends the reply with the error
            replies.append(ErrorReply(NONSCALING_FULL))
            break
        replies.append(result == 1)
    return replies


@command("bf.add", 3, _WRITE, (1, 1, 1), group=_GROUP, summary="Adds an item to a Bloom Filter", complexity="O(k), where k is the number of hash functions used by the last sub-filter", acl="bloom write fast")
def bf_add(ctx: Context, args: list[bytes]) -> object:
    """BF.ADD key item: true (1) if the item is new."""
    return _add(ctx, args[1], args[2:3], multi=False, options=_Options())


@command("bf.madd", -3, _WRITE, (1, 1, 1), group=_GROUP, summary="Adds one or more items to a Bloom Filter. A filter will be created if it does not exist", complexity="O(k * n), where k is the number of hash functions and n is the number of items", acl="bloom write fast")
def bf_madd(ctx: Context, args: list[bytes]) -> object:
    return _add(ctx, args[1], args[2:], multi=True, options=_Options())


@command("bf.insert", -4, _WRITE, (1, 1, 1), group=_GROUP, summary="Adds one or more items to a Bloom Filter. A filter will be created if it does not exist", complexity="O(k * n), where k is the number of hash functions and n is the number of items", acl="bloom write fast")
def bf_insert(ctx: Context, args: list[bytes]) -> object:
    """BF.INSERT key [CAPACITY n] [ERROR e] [EXPANSION n] [NOCREATE] [NONSCALING] ITEMS item ..."""
    options = _Options()

    def apply(word: bytes, value: bytes | None) -> None:
        letter = word[:1].lower()
        if value is None:  # N...: NOCREATE (third letter C) or NONSCALING
            if word[2:3].lower() == b"c":
                options.create = False
            else:
                options.scaling = False
        elif letter == b"c":
            capacity = int_in_range(value, 1, MAX_CAPACITY)
            if capacity is None:
                raise CommandError("Bad capacity")
            options.capacity = capacity
        elif word[1:2].lower() == b"r":  # ERROR
            rate = _valid_error_rate(value)
            if rate is None:
                raise CommandError("Bad error rate")
            options.error_rate = rate
        else:  # EXPANSION
            expansion = int_in_range(value, 0, MAX_EXPANSION)
            if expansion is None:
                raise CommandError("Bad expansion")
            options.expansion = expansion

    first = scan_insert_options(args, "bf.insert", valued="ce", flags="n", apply=apply)
    if options.expansion == 0:
        options.scaling = False
    return _add(ctx, args[1], args[first:], multi=True, options=options)


# ---- BF.EXISTS, BF.MEXISTS, BF.CARD -------------------------------------------------------


@command("bf.exists", 3, _READ, (1, 1, 1), group=_GROUP, summary="Checks whether an item exists in a Bloom Filter", complexity="O(k), where k is the number of hash functions used by the last sub-filter", acl="bloom read fast")
def bf_exists(ctx: Context, args: list[bytes]) -> object:
    return filter_contains(ctx, args[1], BloomValue, args[2:3])[0]


@command("bf.mexists", -3, _READ, (1, 1, 1), group=_GROUP, summary="Checks whether one or more items exist in a Bloom Filter", complexity="O(k * n), where k is the number of hash functions and n is the number of items", acl="bloom read fast")
def bf_mexists(ctx: Context, args: list[bytes]) -> object:
    return filter_contains(ctx, args[1], BloomValue, args[2:])


@command("bf.card", 2, _READ, (1, 1, 1), group=_GROUP, summary="Returns the cardinality of a Bloom filter", complexity="O(1)", since="2.4.4", acl="bloom read fast")
def bf_card(ctx: Context, args: list[bytes]) -> object:
    """How many items were added and found new (0 for a missing key)."""
    bf = find_filter(ctx, args[1], BloomValue, for_write=False)
    return 0 if bf is None else bf.items


# ---- BF.INFO ------------------------------------------------------------------------------

# BF.INFO's fields: the option word, the name in the reply, and how to read it.
_INFO_FIELDS = {
    b"capacity": "Capacity",
    b"size": "Size",
    b"filters": "Number of filters",
    b"items": "Number of items inserted",
    b"expansion": "Expansion rate",
}


def _info_values(bf: BloomValue) -> dict[str, object]:
    return {
        "Capacity": bf.capacity,
        "Size": bf.memory_usage(),
        "Number of filters": bf.num_filters,
        "Number of items inserted": bf.items,
        "Expansion rate": bf.expansion if bf.scaling else None,
    }


@command("bf.info", -2, _READ, (1, 1, 1), group=_GROUP, summary="Returns information about a Bloom Filter", complexity="O(1)", acl="bloom read fast")
def bf_info(ctx: Context, args: list[bytes]) -> object:
    """All fields (a map in RESP3, a flat array in RESP2), or one: [value] / {name: value}."""
    if len(args) > 3:
        raise arity_error("bf.info")
    bf = find_filter(ctx, args[1], BloomValue, for_write=False)
    if bf is None:
        raise CommandError(NOT_FOUND)
    values = _info_values(bf)
    if len(args) == 2:
        return {Status(name): value for name, value in values.items()}
    name = _INFO_FIELDS.get(args[2].lower())
    if name is None:
        raise CommandError("Invalid information value")
    if ctx.proto == 3:
        return {Status(name): values[name]}
    return [values[name]]


# ---- BF.SCANDUMP, BF.LOADCHUNK ------------------------------------------------------------


@command("bf.scandump", 3, "readonly", (1, 1, 1), group=_GROUP, summary="Begins an incremental save of the bloom filter", complexity="O(n), where n is the capacity", acl="bloom read slow")
def bf_scandump(ctx: Context, args: list[bytes]) -> object:
    """[iterator, data]: the header at 0, then chunks, then [0, ""] (RedisBloom's end)."""
    bf = find_filter(ctx, args[1], BloomValue, for_write=False)
    if bf is None:
        raise CommandError(NOT_FOUND)
    iterator = parse_int(args[2])
    if iterator is None:
        raise CommandError("Second argument must be numeric")
    if iterator == 0:
        return [1, bf.header()]
    try:
        following, chunk = bf.scandump(iterator)
    except ValueError:
        return [0, b""]
    return [following, chunk] if chunk is not None else [0, b""]


@command("bf.loadchunk", 4, _WRITE, (1, 1, 1), group=_GROUP, summary="Restores a filter previously saved using SCANDUMP", complexity="O(n), where n is the capacity", acl="bloom write slow")
def bf_loadchunk(ctx: Context, args: list[bytes]) -> object:
    """The header (iterator 1) creates the filter at a free key; chunks fill it."""
    key, data = args[1], args[3]
    iterator = parse_int(args[2])
    if iterator is None:
        raise CommandError("ERR Second argument must be numeric")
    bf = find_filter(ctx, key, BloomValue, for_write=True)
    if bf is None and iterator != 1:
        raise CommandError(NOT_FOUND)
    try:
        if bf is None:
            bf = BloomValue.from_header(data)
        else:
            bf.loadchunk(iterator, data)
    except (ValueError, MemoryError):
        raise CommandError(BAD_DATA) from None
    save_filter(ctx, key, bf)
    return OK
