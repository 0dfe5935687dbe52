"""Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH (Redis's multi.c).

MULTI queues requests (dispatch does the queueing); EXEC runs them back to back with
no await in between, so nothing else interleaves. WATCH registers the client with
the keyspace, which flags it when a watched key is written, deleted or expires.
"""

from __future__ import annotations

from hypercache.commands.context import Context
from hypercache.commands.dispatch import call, resolve
from hypercache.commands.table import command
from hypercache.errors import CommandError
from hypercache.resp.types import NULL_ARRAY, OK, ErrorReply


@command("multi", 1, "noscript loading stale fast allow-busy", group="transactions", summary="Starts a transaction.", since="1.2.0", acl="fast transaction")
def multi(ctx: Context, args: list[bytes]) -> object:
    if ctx.multi is not None:
        raise CommandError("ERR MULTI calls can not be nested")
    ctx.multi = []
    ctx.multi_error = False
    return OK


@command("exec", 1, "noscript loading stale skip_slowlog", group="transactions", summary="Executes all commands in a transaction.", since="1.2.0", acl="slow transaction")
def exec_(ctx: Context, args: list[bytes]) -> object:
    if ctx.multi is None:
        raise CommandError("ERR EXEC without MULTI")
    queued, aborted, dirty = ctx.multi, ctx.multi_error, ctx.watch_dirty or _watched_expired(ctx)
    ctx.reset_multi()
    if aborted:
        raise CommandError("EXECABORT Transaction discarded because of previous errors.")
    if dirty:
        return NULL_ARRAY
    replies = []
    for request in queued:
        spec = resolve(ctx, request)
        replies.append(spec if type(spec) is ErrorReply else call(ctx, spec, request))  # type: ignore[arg-type]
    return replies


def _watched_expired(ctx: Context) -> bool:
    """Redis 7 aborts EXEC when a watched key has expired since WATCH."""
    return any(ctx.keyspace.peek(key) is None and key in ctx.watched_present for key in ctx.watched)


@command("discard", 1, "noscript loading stale fast allow-busy", group="transactions", summary="Discards a transaction.", since="2.0.0", acl="fast transaction")
def discard(ctx: Context, args: list[bytes]) -> object:
    if ctx.multi is None:
        raise CommandError("ERR DISCARD without MULTI")
    ctx.reset_multi()
    return OK


@command("watch", -2, "noscript loading stale fast allow-busy", (1, -1, 1), group="transactions", summary="Monitors changes to keys to determine the execution of a transaction.", since="2.2.0", acl="fast transaction")
def watch(ctx: Context, args: list[bytes]) -> object:
    if ctx.multi is not None:
        raise CommandError("ERR WATCH inside MULTI is not allowed")
    for key in args[1:]:
        if key not in ctx.watched:
            ctx.watched.append(key)
            ctx.keyspace.watch(key, ctx)
            if ctx.keyspace.peek(key) is not None:
                ctx.watched_present.add(key)
    return OK


@command("unwatch", 1, "noscript loading stale fast allow-busy", group="transactions", summary="Forgets about watched keys of a transaction.", since="2.2.0", acl="fast transaction")
def unwatch(ctx: Context, args: list[bytes]) -> object:
    ctx.unwatch_all()
    return OK
