"""String commands (Redis's t_string.c): GET, SET and the rest of the string family."""

from __future__ import annotations

from hypercache.commands.args import expire_at_ms, option
from hypercache.commands.context import Context
from hypercache.commands.table import command
from hypercache.errors import SYNTAX, CommandError
from hypercache.resp.types import OK


@command("get", 2, "readonly fast", (1, 1, 1), group="string", summary="Returns the string value of a key.", acl="read string fast")
def get(ctx: Context, args: list[bytes]) -> object:
    return ctx.keyspace.get_string(args[1])


_SET_EXPIRY_UNITS = (b"EX", b"PX", b"EXAT", b"PXAT")


@command("set", -3, "write denyoom", (1, 1, 1), group="string", summary="Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", acl="write string slow")
def set_(ctx: Context, args: list[bytes]) -> object:
    key, value = args[1], args[2]
    keyspace = ctx.keyspace
    if len(args) == 3:  # the common case: no options
        keyspace.set(key, value)
        return OK
    condition = None  # b"NX" / b"XX"
    expire_at = None
    unit = None
    keep_ttl = want_old = False
    i = 3
    while i < len(args):
        word = option(args[i])
        if word in (b"NX", b"XX") and condition is None:
            condition = word
        elif word == b"KEEPTTL" and unit is None:
            keep_ttl = True
        elif word == b"GET":
            want_old = True
        elif word in _SET_EXPIRY_UNITS and unit is None and not keep_ttl and i + 1 < len(args):
            unit = word
            i += 1
            expire_at = expire_at_ms(args[i], word, "set")
        else:
            raise CommandError(SYNTAX)
        i += 1
    old = keyspace.get_string(key) if want_old else keyspace.peek(key)
    if (condition == b"NX" and old is not None) or (condition == b"XX" and old is None):
        return old if want_old else None
    keyspace.set(key, value, expire_at, keep_ttl=keep_ttl)
    return old if want_old else OK
