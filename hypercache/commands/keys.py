"""Generic key commands (Redis's db.c / expire.c): DEL, EXISTS, EXPIRE, SCAN, FLUSHALL, ..."""

from __future__ import annotations

from hypercache.commands.args import option
from hypercache.commands.context import Context
from hypercache.commands.table import command
from hypercache.errors import SYNTAX, CommandError
from hypercache.resp.types import OK


def _flush_mode(args: list[bytes]) -> None:
    """FLUSHDB/FLUSHALL take an optional SYNC or ASYNC; both flush at once here."""
    if len(args) > 2 or (len(args) == 2 and option(args[1]) not in (b"SYNC", b"ASYNC")):
        raise CommandError(SYNTAX)


@command("flushdb", -1, "write", group="server", summary="Removes all keys from the current database.", acl="keyspace write slow dangerous")
def flushdb(ctx: Context, args: list[bytes]) -> object:
    _flush_mode(args)
    ctx.keyspace.flush()
    return OK


@command("flushall", -1, "write", group="server", summary="Removes all keys from all databases.", acl="keyspace write slow dangerous")
def flushall(ctx: Context, args: list[bytes]) -> object:
    _flush_mode(args)
    ctx.keyspace.flush()
    return OK
