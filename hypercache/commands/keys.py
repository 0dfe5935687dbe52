"""Generic key commands (Redis's db.c and expire.c): DEL, EXISTS, TYPE, the EXPIRE and
TTL families, PERSIST, RENAME, COPY, KEYS, SCAN, DBSIZE, RANDOMKEY, TOUCH, FLUSHDB/ALL.

Replies, errors and the order in which arguments are checked follow Redis 7.0, and
the registrations (arity, flags, key positions, group, summary, since, ACL categories)
are what its `COMMAND INFO` / `COMMAND DOCS` report. Reads that Redis counts as
keyspace hits or misses use `Keyspace.lookup`; lookups made for a write use `peek`.
"""

from __future__ import annotations

import re

from hypercache.commands.args import int_arg, option
from hypercache.commands.context import Context
from hypercache.commands.table import command
from hypercache.errors import INVALID_EXPIRE, NO_SUCH_KEY, SYNTAX, CommandError
from hypercache.keyspace.keyspace import type_name
from hypercache.numbers import INT64_MAX
from hypercache.resp.types import OK, Status

INVALID_CURSOR = "ERR invalid cursor"
DB_OUT_OF_RANGE = "ERR DB index is out of range"
SAME_OBJECT = "ERR source and destination objects are the same"
EXPIRE_NX_CONFLICT = "ERR NX and XX, GT or LT options at the same time are not compatible"
EXPIRE_GT_LT_CONFLICT = "ERR GT and LT options at the same time are not compatible"


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


# ---- DEL, UNLINK, EXISTS, TOUCH, TYPE -----------------------------------------------


@command("del", -2, "write", (1, -1, 1), summary="Delete a key", complexity="O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).", acl="keyspace write slow")
def del_(ctx: Context, args: list[bytes]) -> object:
    delete = ctx.keyspace.delete
    return sum(1 for key in args[1:] if delete(key))


@command("unlink", -2, "write fast", (1, -1, 1), summary="Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.", since="4.0.0", complexity="O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.", acl="keyspace write fast")
def unlink(ctx: Context, args: list[bytes]) -> object:
    # Values are freed by Python's reference counting as the keys go: there is no
    # separate reclaiming to push to another thread, so UNLINK is DEL.
    delete = ctx.keyspace.delete
    return sum(1 for key in args[1:] if delete(key))


@command("exists", -2, "readonly fast", (1, -1, 1), summary="Determine if a key exists", complexity="O(N) where N is the number of keys to check.", acl="keyspace read fast")
def exists(ctx: Context, args: list[bytes]) -> object:
    lookup = ctx.keyspace.lookup
    return sum(1 for key in args[1:] if lookup(key) is not None)  # repeats count again


@command("touch", -2, "readonly fast", (1, -1, 1), summary="Alters the last access time of a key(s). Returns the number of existing keys specified.", since="3.2.1", complexity="O(N) where N is the number of keys that will be touched.", acl="keyspace read fast")
def touch(ctx: Context, args: list[bytes]) -> object:
    lookup = ctx.keyspace.lookup  # the access is the touch (hot tier / LRU)
    return sum(1 for key in args[1:] if lookup(key) is not None)


@command("type", 2, "readonly fast", (1, 1, 1), summary="Determine the type stored at key", acl="keyspace read fast")
def type_(ctx: Context, args: list[bytes]) -> object:
    value = ctx.keyspace.lookup(args[1])
    return Status("none" if value is None else type_name(value))


# ---- EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT -------------------------------------------

# Bounds of a seconds value that can be turned into ms (C's LLONG_MAX/1000, LLONG_MIN/1000).
_MAX_SECONDS = INT64_MAX // 1000
_MIN_SECONDS = -(INT64_MAX // 1000)

_NX, _XX, _GT, _LT = 1, 2, 4, 8
_EXPIRE_OPTIONS = {b"NX": _NX, b"XX": _XX, b"GT": _GT, b"LT": _LT}


def _expire_flags(args: list[bytes]) -> int:
    """Parse NX/XX/GT/LT (checked before the time argument, as Redis does)."""
    flags = 0
    for raw in args[3:]:
        flag = _EXPIRE_OPTIONS.get(option(raw))
        if flag is None:
            raise CommandError(f"ERR Unsupported option {_text(raw)}")
        flags |= flag
    if flags & _NX and flags & (_XX | _GT | _LT):
        raise CommandError(EXPIRE_NX_CONFLICT)
    if flags & _GT and flags & _LT:
        raise CommandError(EXPIRE_GT_LT_CONFLICT)
    return flags


def _expire_generic(ctx: Context, args: list[bytes], name: str, seconds: bool, absolute: bool) -> int:
    """Redis's expireGenericCommand. A time that is already past deletes the key.

    Negative times are allowed (they delete); only a value whose ms would overflow a
    signed 64-bit integer is an "invalid expire time"."""
    flags = _expire_flags(args)
    when = int_arg(args[2])
    if seconds:
        if when > _MAX_SECONDS or when < _MIN_SECONDS:
            raise CommandError(INVALID_EXPIRE.format(name))
        when *= 1000
    keyspace = ctx.keyspace
    base = 0 if absolute else keyspace.now()
    if when > INT64_MAX - base:
        raise CommandError(INVALID_EXPIRE.format(name))
    when += base
    key = args[1]
    if keyspace.peek(key) is None:
        return 0
    if flags:
        current = keyspace.expire_at(key)  # None: no TTL, an infinite one for GT/LT
        if flags & _NX and current is not None:
            return 0
        if flags & _XX and current is None:
            return 0
        if flags & _GT and (current is None or when <= current):
            return 0
        if flags & _LT and current is not None and when >= current:
            return 0
    keyspace.set_expire(key, when)
    return 1


@command("expire", -3, "write fast", (1, 1, 1), summary="Set a key's time to live in seconds", acl="keyspace write fast")
def expire(ctx: Context, args: list[bytes]) -> object:
    return _expire_generic(ctx, args, "expire", seconds=True, absolute=False)


@command("pexpire", -3, "write fast", (1, 1, 1), summary="Set a key's time to live in milliseconds", since="2.6.0", acl="keyspace write fast")
def pexpire(ctx: Context, args: list[bytes]) -> object:
    return _expire_generic(ctx, args, "pexpire", seconds=False, absolute=False)


@command("expireat", -3, "write fast", (1, 1, 1), summary="Set the expiration for a key as a UNIX timestamp", since="1.2.0", acl="keyspace write fast")
def expireat(ctx: Context, args: list[bytes]) -> object:
    return _expire_generic(ctx, args, "expireat", seconds=True, absolute=True)


@command("pexpireat", -3, "write fast", (1, 1, 1), summary="Set the expiration for a key as a UNIX timestamp specified in milliseconds", since="2.6.0", acl="keyspace write fast")
def pexpireat(ctx: Context, args: list[bytes]) -> object:
    return _expire_generic(ctx, args, "pexpireat", seconds=False, absolute=True)


# ---- TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST ------------------------------------


def _ttl_generic(ctx: Context, key: bytes, ms: bool, absolute: bool) -> int:
    """-2 if the key is absent, -1 if it has no TTL; seconds are rounded to nearest."""
    keyspace = ctx.keyspace
    if keyspace.lookup(key) is None:
        return -2
    at = keyspace.expire_at(key)
    if at is None:
        return -1
    ttl = at if absolute else max(0, at - keyspace.now())
    return ttl if ms else (ttl + 500) // 1000


@command("ttl", 2, "readonly fast", (1, 1, 1), summary="Get the time to live for a key in seconds", acl="keyspace read fast")
def ttl(ctx: Context, args: list[bytes]) -> object:
    return _ttl_generic(ctx, args[1], ms=False, absolute=False)


@command("pttl", 2, "readonly fast", (1, 1, 1), summary="Get the time to live for a key in milliseconds", since="2.6.0", acl="keyspace read fast")
def pttl(ctx: Context, args: list[bytes]) -> object:
    return _ttl_generic(ctx, args[1], ms=True, absolute=False)


@command("expiretime", 2, "readonly fast", (1, 1, 1), summary="Get the expiration Unix timestamp for a key", since="7.0.0", acl="keyspace read fast")
def expiretime(ctx: Context, args: list[bytes]) -> object:
    return _ttl_generic(ctx, args[1], ms=False, absolute=True)


@command("pexpiretime", 2, "readonly fast", (1, 1, 1), summary="Get the expiration Unix timestamp for a key in milliseconds", since="7.0.0", acl="keyspace read fast")
def pexpiretime(ctx: Context, args: list[bytes]) -> object:
    return _ttl_generic(ctx, args[1], ms=True, absolute=True)


@command("persist", 2, "write fast", (1, 1, 1), summary="Remove the expiration from a key", since="2.2.0", acl="keyspace write fast")
def persist(ctx: Context, args: list[bytes]) -> object:
    return int(ctx.keyspace.persist(args[1]))


# ---- RENAME, RENAMENX, COPY ---------------------------------------------------------


@command("rename", 3, "write", (1, 2, 1), summary="Rename a key", acl="keyspace write slow")
def rename(ctx: Context, args: list[bytes]) -> object:
    if not ctx.keyspace.rename(args[1], args[2]):  # the TTL moves with the key
        raise CommandError(NO_SUCH_KEY)
    return OK


@command("renamenx", 3, "write fast", (1, 2, 1), summary="Rename a key, only if the new key does not exist", acl="keyspace write fast")
def renamenx(ctx: Context, args: list[bytes]) -> object:
    keyspace = ctx.keyspace
    src, dst = args[1], args[2]
    if keyspace.peek(src) is None:
        raise CommandError(NO_SUCH_KEY)
    if src == dst or keyspace.peek(dst) is not None:
        return 0
    keyspace.rename(src, dst)
    return 1


@command("copy", -3, "write denyoom", (1, 2, 1), summary="Copy a key", since="6.2.0", complexity="O(N) worst case for collections, where N is the number of nested items. O(1) for string values.", acl="keyspace write slow")
def copy(ctx: Context, args: list[bytes]) -> object:
    """COPY source destination [DB n] [REPLACE]. There is one database: a DB other
    than the current one is out of range, as an index past `databases` is in Redis."""
    replace = False
    i = 3
    while i < len(args):
        word = option(args[i])
        if word == b"REPLACE":
            replace = True
        elif word == b"DB" and i + 1 < len(args):
            i += 1
            db = int_arg(args[i])
            if not 0 <= db < ctx.server.config.databases or db != ctx.db:
                raise CommandError(DB_OUT_OF_RANGE)
        else:
            raise CommandError(SYNTAX)
        i += 1
    src, dst = args[1], args[2]
    if src == dst:
        raise CommandError(SAME_OBJECT)
    return int(ctx.keyspace.copy(src, dst, replace=replace))


# ---- KEYS, SCAN, DBSIZE, RANDOMKEY --------------------------------------------------


@command("keys", 2, "readonly", summary="Find all keys matching the given pattern", complexity="O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.", acl="keyspace read slow dangerous")
def keys(ctx: Context, args: list[bytes]) -> object:
    return ctx.keyspace.keys(args[1])


_CURSOR = re.compile(rb"([+-]?)([0-9]+)")
_ULONG_MAX = 2**64 - 1


def parse_cursor(raw: bytes) -> int:
    """A SCAN cursor as Redis reads it: C's strtoul in base 10, whole argument, no
    leading space. So "" is 0 and "-1" is 2**64-1 (both done at once here)."""
    if not raw:
        return 0
    match = _CURSOR.fullmatch(raw)
    if match is None:
        raise CommandError(INVALID_CURSOR)
    value = int(match.group(2))
    if value > _ULONG_MAX:
        raise CommandError(INVALID_CURSOR)
    return (-value) & _ULONG_MAX if match.group(1) == b"-" else value


@command("scan", -2, "readonly", summary="Incrementally iterate the keys space", since="2.8.0", complexity="O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.", acl="keyspace read slow")
def scan(ctx: Context, args: list[bytes]) -> object:
    """SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].

    The cursor is the next cluster slot to visit and whole slots are returned, so a
    key present for the whole iteration is returned exactly once; a reply may hold
    more than COUNT keys when a slot is large (Redis may exceed COUNT too)."""
    cursor = parse_cursor(args[1])
    count = 10
    pattern: bytes | None = None
    type_filter: str | None = None
    i = 2
    while i < len(args):
        word = option(args[i])
        if i + 1 >= len(args):
            raise CommandError(SYNTAX)
        if word == b"COUNT":
            count = int_arg(args[i + 1])
            if count < 1:
                raise CommandError(SYNTAX)
        elif word == b"MATCH":
            pattern = args[i + 1]
        elif word == b"TYPE":
            type_filter = _text(args[i + 1])
        else:
            raise CommandError(SYNTAX)
        i += 2
    next_cursor, found = ctx.keyspace.scan(cursor, count, pattern, type_filter)
    return [b"%d" % next_cursor, found]


@command("dbsize", 1, "readonly fast", group="server", summary="Return the number of keys in the selected database", acl="keyspace read fast")
def dbsize(ctx: Context, args: list[bytes]) -> object:
    return len(ctx.keyspace)


@command("randomkey", 1, "readonly", summary="Return a random key from the keyspace", acl="keyspace read slow")
def randomkey(ctx: Context, args: list[bytes]) -> object:
    return ctx.keyspace.random_key()


# ---- FLUSHDB, FLUSHALL --------------------------------------------------------------


def _flush_mode(args: list[bytes]) -> None:
    """FLUSHDB/FLUSHALL take an optional SYNC or ASYNC; both flush at once here."""
    if len(args) > 2 or (len(args) == 2 and option(args[1]) not in (b"SYNC", b"ASYNC")):
        raise CommandError(SYNTAX)


@command("flushdb", -1, "write", group="server", summary="Remove all keys from the current database", complexity="O(N) where N is the number of keys in the selected database", acl="keyspace write slow dangerous")
def flushdb(ctx: Context, args: list[bytes]) -> object:
    _flush_mode(args)
    ctx.keyspace.flush()
    return OK


@command("flushall", -1, "write", group="server", summary="Remove all keys from all databases", complexity="O(N) where N is the total number of keys in all databases", acl="keyspace write slow dangerous")
def flushall(ctx: Context, args: list[bytes]) -> object:
    _flush_mode(args)
    ctx.keyspace.flush()
    return OK
