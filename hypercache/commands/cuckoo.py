"""Cuckoo filter commands (RedisBloom's CF.*), over keyspace values of type MBbloomCF.

CF.RESERVE, CF.ADD, CF.ADDNX, CF.INSERT, CF.INSERTNX, CF.EXISTS, CF.MEXISTS, CF.DEL,
CF.COUNT, CF.INFO, CF.SCANDUMP and CF.LOADCHUNK reply and fail as RedisBloom 8 does
(its src/rebloom.c): the same checks in the same order, the same error texts (several
without an "ERR" code), booleans in RESP3 where RedisBloom sends them (CF.INSERTNX and
CF.COUNT stay integers), and 0 rather than WRONGTYPE from the existence queries.

One addition: `CF.EXISTS key` with no item asks the server's keyspace filter whether
`key` might exist (the design's MIGHT_CONTAIN): 0 means certainly absent.

The filters are the native CuckooFilter (hypercache.native) with RedisBloom's
parameters; their dumps (SCANDUMP chunks) are HyperCache's own format, so they load
into HyperCache, not into a RedisBloom server.
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
    peek_filter,
    save_filter,
    scan_insert_options,
)
from hypercache.commands.table import command
from hypercache.errors import CommandError
from hypercache.keyspace.filters import CuckooValue
from hypercache.native import FilterFullError, _native
from hypercache.numbers import parse_int
from hypercache.resp.types import OK, Status

# RedisBloom 8's defaults and limits (its config.c): what CF.ADD creates, and the
# ranges CF.RESERVE and CF.INSERT accept.
DEFAULT_CAPACITY = 1024
DEFAULT_BUCKET_SIZE = 2
DEFAULT_MAX_ITERATIONS = 20
DEFAULT_EXPANSION = 1
MAX_EXPANSIONS = 32  # cf-max-expansions: no insert into a filter with this many sub-filters
BUCKET_SIZE_RANGE = (1, 255)
MAX_ITERATIONS_RANGE = (1, 65535)
EXPANSION_RANGE = (0, 32768)
MIN_INSERT_CAPACITY = 2 * DEFAULT_BUCKET_SIZE

FILTER_FULL = "Filter is full"
MAX_EXPANSIONS_REACHED = "Maximum expansions reached"
INVALID_POSITION = "Invalid position"

_GROUP = "module"
_WRITE = "write denyoom"
_READ = "readonly fast"


# ---- CF.RESERVE ---------------------------------------------------------------------------


def _reserve_option(args: list[bytes], name: bytes, default: int, bounds: tuple[int, int]) -> int:
    """A CF.RESERVE option's value (RedisBloom finds each option wherever it stands)."""
    for pos in range(3, len(args)):
        if args[pos].upper() == name:
            label = name.decode()
            value = parse_int(args[pos + 1]) if pos + 1 < len(args) else None
            if value is None:
                raise CommandError(f"Couldn't parse {label}")
            if not bounds[0] <= value <= bounds[1]:
                raise CommandError(f"{label}: value must be in the range [{bounds[0]}, {bounds[1]}]")
            return value
    return default


@command("cf.reserve", -3, _WRITE, (1, 1, 1), group=_GROUP, summary="Creates a new Cuckoo Filter", complexity="O(1)", acl="cuckoo write fast")
def cf_reserve(ctx: Context, args: list[bytes]) -> object:
    """CF.RESERVE key capacity [BUCKETSIZE n] [MAXITERATIONS n] [EXPANSION n]."""
    if len(args) % 2 == 0:
        raise arity_error("cf.reserve")
    capacity = parse_int(args[2])
    if capacity is None:
        raise CommandError("Bad capacity")
    max_iterations = _reserve_option(args, b"MAXITERATIONS", DEFAULT_MAX_ITERATIONS, MAX_ITERATIONS_RANGE)
    bucket_size = _reserve_option(args, b"BUCKETSIZE", DEFAULT_BUCKET_SIZE, BUCKET_SIZE_RANGE)
    expansion = _reserve_option(args, b"EXPANSION", DEFAULT_EXPANSION, EXPANSION_RANGE)
    if bucket_size * 2 > capacity or capacity > MAX_CAPACITY:
        raise CommandError(f"Capacity must be in the range [2 * BUCKETSIZE, {MAX_CAPACITY}]")
    if find_filter(ctx, args[1], CuckooValue, for_write=True) is not None:
        raise CommandError(ITEM_EXISTS)
    cf = _new_filter(capacity, bucket_size, max_iterations, expansion)
    save_filter(ctx, args[1], cf)
    return OK


def _new_filter(capacity: int, bucket_size: int, max_iterations: int, expansion: int) -> CuckooValue:
    try:
        return CuckooValue(
            capacity, bucket_size=bucket_size, max_iterations=max_iterations, expansion=expansion
        )
    except MemoryError:
        raise CommandError("ERR Insufficient memory to create filter") from None
    except ValueError:
        raise CommandError("ERR Could not create filter") from None


# ---- CF.ADD, CF.ADDNX, CF.INSERT, CF.INSERTNX ---------------------------------------------


def _insert(
    ctx: Context,
    key: bytes,
    items: list[bytes],
    *,
    nx: bool,
    multi: bool,
    capacity: int = DEFAULT_CAPACITY,
    create: bool = True,
) -> object:
    """RedisBloom's cfInsertCommon: add items, creating the filter if allowed."""
    cf = find_filter(ctx, key, CuckooValue, for_write=True)
    created = cf is None
    if cf is None:
        if not create:
            raise CommandError(NOT_FOUND)
        cf = _new_filter(capacity, DEFAULT_BUCKET_SIZE, DEFAULT_MAX_ITERATIONS, DEFAULT_EXPANSION)
    if cf.num_filters >= MAX_EXPANSIONS:
        raise CommandError(MAX_EXPANSIONS_REACHED)  # (never for a filter just created)
    if not multi:
        return _insert_one(ctx, key, cf, items[0], nx, created)
    results = cf.insert_many(items, unique=nx)
    if created or 1 in results:
        save_filter(ctx, key, cf)
    if nx:
        return results  # CF.INSERTNX: 1 / 0 / -1, integers in RESP3 too
    if ctx.proto == 3:
        return [result == 1 for result in results]  # a full filter is false in RESP3
    return results


def _insert_one(ctx: Context, key: bytes, cf: CuckooValue, item: bytes, nx: bool, created: bool) -> bool:
    """CF.ADD / CF.ADDNX of one item; a full filter is an error here, not -1."""
    try:
        if nx:
            added = cf.insert_unique(item)
        else:
            cf.insert(item)
            added = True
    except FilterFullError:  # (never a filter just created: it has room for 4 items)
        raise CommandError(FILTER_FULL) from None
    if added or created:
        save_filter(ctx, key, cf)
    return bool(added)


@command("cf.add", 3, _WRITE, (1, 1, 1), group=_GROUP, summary="Adds an item to a Cuckoo Filter", complexity="O(k + i), where k is the number of sub-filters and i is maxIterations", acl="cuckoo write slow")
def cf_add(ctx: Context, args: list[bytes]) -> object:
    """CF.ADD key item: true (1) once added; duplicates are added again."""
    return _insert(ctx, args[1], args[2:3], nx=False, multi=False)


@command("cf.addnx", 3, _WRITE, (1, 1, 1), group=_GROUP, summary="Adds an item to a Cuckoo Filter if the item did not exist previously.", complexity="O(k + i), where k is the number of sub-filters and i is maxIterations", acl="cuckoo write slow")
def cf_addnx(ctx: Context, args: list[bytes]) -> object:
    """CF.ADDNX key item: false (0) when the item may already be there."""
    return _insert(ctx, args[1], args[2:3], nx=True, multi=False)


@dataclass(slots=True)
class _InsertOptions:
    """CF.INSERT's options: how a missing filter is created, if at all."""

    capacity: int = DEFAULT_CAPACITY
    create: bool = True


def _insert_generic(ctx: Context, args: list[bytes], name: str, nx: bool) -> object:
    """CF.INSERT / CF.INSERTNX key [CAPACITY n] [NOCREATE] ITEMS item ..."""
    options = _InsertOptions()

    def apply(word: bytes, value: bytes | None) -> None:
        if value is None:  # N...: NOCREATE
            options.create = False
            return
        capacity = parse_int(value)
        if capacity is None:
            raise CommandError("Bad capacity")
        if not MIN_INSERT_CAPACITY <= capacity <= MAX_CAPACITY:
            raise CommandError(f"Capacity must be in the range [cf-bucket-size * 2, {MAX_CAPACITY}]")
        options.capacity = capacity

    first = scan_insert_options(args, name, valued="c", flags="n", apply=apply)
    return _insert(
        ctx, args[1], args[first:], nx=nx, multi=True, capacity=options.capacity, create=options.create
    )


@command("cf.insert", -4, _WRITE, (1, 1, 1), group=_GROUP, summary="Adds one or more items to a Cuckoo Filter. A filter will be created if it does not exist", complexity="O(n * (k + i)), where n is the number of items, k is the number of sub-filters and i is maxIterations", acl="cuckoo write slow")
def cf_insert(ctx: Context, args: list[bytes]) -> object:
    return _insert_generic(ctx, args, "cf.insert", nx=False)


@command("cf.insertnx", -4, _WRITE, (1, 1, 1), group=_GROUP, summary="Adds one or more items to a Cuckoo Filter if the items did not exist previously. A filter will be created if it does not exist", complexity="O(n * (k + i)), where n is the number of items, k is the number of sub-filters and i is maxIterations", acl="cuckoo write slow")
def cf_insertnx(ctx: Context, args: list[bytes]) -> object:
    return _insert_generic(ctx, args, "cf.insertnx", nx=True)


# ---- CF.EXISTS, CF.MEXISTS, CF.COUNT, CF.DEL ----------------------------------------------


def _might_exist(ctx: Context, key: bytes) -> bool:
    """The keyspace filter's answer for `key` (exact existence where there is none yet)."""
    might_exist = getattr(ctx.keyspace, "might_exist", None)
    if might_exist is None:
        return ctx.keyspace.exists(key)
    return bool(might_exist(key))


# Arity -2 (RedisBloom's is 3): the one-argument form is the keyspace filter's.
@command("cf.exists", -2, _READ, (1, 1, 1), group=_GROUP, summary="Checks whether one or more items exist in a Cuckoo Filter (with no item: whether the key might exist)", complexity="O(k), where k is the number of sub-filters", acl="cuckoo read fast")
def cf_exists(ctx: Context, args: list[bytes]) -> object:
    """CF.EXISTS key item (RedisBloom's), or CF.EXISTS key: might the key exist?"""
    if len(args) == 2:
        return _might_exist(ctx, args[1])
    if len(args) > 3:
        raise arity_error("cf.exists")
    return filter_contains(ctx, args[1], CuckooValue, args[2:3])[0]


@command("cf.mexists", -3, _READ, (1, 1, 1), group=_GROUP, summary="Checks whether one or more items exist in a Cuckoo Filter", complexity="O(k * n), where k is the number of sub-filters and n is the number of items", acl="cuckoo read fast")
def cf_mexists(ctx: Context, args: list[bytes]) -> object:
    return filter_contains(ctx, args[1], CuckooValue, args[2:])


@command("cf.count", 3, _READ, (1, 1, 1), group=_GROUP, summary="Return the number of times an item might be in a Cuckoo Filter", complexity="O(k), where k is the number of sub-filters", acl="cuckoo read fast")
def cf_count(ctx: Context, args: list[bytes]) -> object:
    cf = peek_filter(ctx, args[1], CuckooValue)
    return 0 if cf is None else cf.count(args[2])


@command("cf.del", 3, _WRITE, (1, 1, 1), group=_GROUP, summary="Deletes an item from a Cuckoo Filter", complexity="O(k), where k is the number of sub-filters", acl="cuckoo write slow")
def cf_del(ctx: Context, args: list[bytes]) -> object:
    cf = ctx.keyspace.peek(args[1])
    if not isinstance(cf, CuckooValue):
        raise CommandError("Not found")  # RedisBloom's text, for a key of another type too
    deleted = cf.delete(args[2])
    if deleted:
        save_filter(ctx, args[1], cf)
    return deleted


# ---- CF.INFO ------------------------------------------------------------------------------


@command("cf.info", 2, _READ, (1, 1, 1), group=_GROUP, summary="Returns information about a Cuckoo Filter", complexity="O(1)", acl="cuckoo read fast")
def cf_info(ctx: Context, args: list[bytes]) -> object:
    """A map in RESP3, a flat array of names and values in RESP2 (the writer flattens)."""
    cf = find_filter(ctx, args[1], CuckooValue, for_write=False)
    if cf is None:
        raise CommandError(NOT_FOUND)
    return {
        Status("Size"): cf.memory_usage(),
        Status("Number of buckets"): cf.num_buckets,
        Status("Number of filters"): cf.num_filters,
        Status("Number of items inserted"): cf.items,
        Status("Number of items deleted"): cf.deletes,
        Status("Bucket size"): cf.bucket_size,
        Status("Expansion rate"): cf.expansion,
        Status("Max iterations"): cf.max_iterations,
    }


# ---- CF.SCANDUMP, CF.LOADCHUNK ------------------------------------------------------------


@command("cf.scandump", 3, "readonly", (1, 1, 1), group=_GROUP, summary="Begins an incremental save of the bloom filter", complexity="O(n), where n is the capacity", acl="cuckoo read slow")
def cf_scandump(ctx: Context, args: list[bytes]) -> object:
    """[iterator, data]: the header at 0, then chunks, then [0, nil] (as for an empty filter)."""
    position = parse_int(args[2])
    if position is None or position < 0:
        raise CommandError(INVALID_POSITION)
    cf = find_filter(ctx, args[1], CuckooValue, for_write=False)
    if cf is None:
        raise CommandError(NOT_FOUND)
    if not cf.items:
        return [0, None]
    if position == 0:
        return [1, cf.header()]
    try:
        following, chunk = cf.scandump(position)
    except ValueError:
        return [0, None]
    return [following, chunk] if chunk is not None else [0, None]


@command("cf.loadchunk", 4, _WRITE, (1, 1, 1), group=_GROUP, summary="Restores a filter previously saved using SCANDUMP", complexity="O(n), where n is the capacity", acl="cuckoo write slow")
def cf_loadchunk(ctx: Context, args: list[bytes]) -> object:
    """The header (iterator 1) creates the filter at a free key; chunks fill it."""
    key, data = args[1], args[3]
    position = parse_int(args[2])
    if position is None or position == 0:
        raise CommandError(INVALID_POSITION)
    cf = find_filter(ctx, key, CuckooValue, for_write=True)
    if position == 1:
        if cf is not None:
            raise CommandError(ITEM_EXISTS)
        if len(data) != _native.CF_HEADER_SIZE:
            raise CommandError("Invalid header")
        try:
            cf = CuckooValue.from_header(data)
        except (ValueError, MemoryError):
            raise CommandError("Couldn't create filter!") from None
    else:
        if cf is None:
            raise CommandError(NOT_FOUND)
        try:
            cf.loadchunk(position, data)
        except ValueError:
            raise CommandError("Couldn't load chunk!") from None
    save_filter(ctx, key, cf)
    return OK
