"""Run one request: look the command up, check it, queue it (MULTI) or call its handler.

Everything here is synchronous: a batch of pipelined requests runs to completion
without yielding to the event loop, which is what makes MULTI/EXEC atomic and keeps
the per-request cost low.
"""

from __future__ import annotations

import logging
import time

from hypercache.commands.context import Context, Stats
from hypercache.commands.latency import FAST_BUCKET, FAST_LIMIT_NS, bucket_of
from hypercache.commands.monitor import feed_monitors
from hypercache.commands.observe import after_slow_call
from hypercache.commands.table import CommandSpec
from hypercache.errors import NOAUTH, CommandError
from hypercache.resp.types import QUEUED, ErrorReply

log = logging.getLogger("hypercache.commands")
_clock_ns = time.perf_counter_ns  # bound once: read twice per request

# Commands that run at once even inside MULTI (the rest are queued).
_MULTI_IMMEDIATE = frozenset({b"exec", b"discard", b"multi", b"watch", b"quit", b"reset"})
_LOADING_ERROR = ErrorReply("LOADING HyperCache is loading the dataset in memory")
_OOM_ERROR = ErrorReply("OOM command not allowed when used memory > 'maxmemory'.")


def unknown_command_error(args: list[bytes]) -> ErrorReply:
    """Redis's text: ERR unknown command 'x', with args beginning with: 'a' 'b' """
    shown = ""
    for arg in args[1:]:
        if len(shown) >= 128:
            break
        shown += "'%s' " % _text(arg)[: 128 - len(shown)]
    return ErrorReply(
        "ERR unknown command '%s', with args beginning with: %s" % (_text(args[0])[:128], shown)
    )


def arity_error(name: str) -> ErrorReply:
    return ErrorReply(f"ERR wrong number of arguments for '{name}' command")


def resolve(ctx: Context, args: list[bytes]) -> CommandSpec | ErrorReply:
    """The spec that will run `args` (the subcommand's for a container), or the error."""
    spec = ctx.server.table.lookup(args[0])
    if spec is None:
        return unknown_command_error(args)
    if spec.subcommands:
        if len(args) < 2:
            # A container runs bare only if it has a handler of its own (COMMAND does).
            return spec if spec.handler is not None else arity_error(spec.name)
        sub = spec.subcommands.get(args[1].lower())
        if sub is None:
            return ErrorReply(
                "ERR unknown subcommand '%s'. Try %s HELP."
                % (_text(args[1])[:128], spec.name.upper())
            )
        spec = sub
    arity = spec.arity  # spec.arity_ok, inline: this runs for every request
    if (len(args) != arity) if arity > 0 else (len(args) < -arity):
        return arity_error(spec.name)
    return spec


# An HTTP request sent to the port (a cross-protocol attack): Redis closes the
# connection at once and sends nothing, not even replies already queued.
_HTTP_WORDS = frozenset({b"post", b"host:"})


def execute(ctx: Context, args: list[bytes]) -> object:
    """Execute one request for client `ctx` and return its reply value."""
    spec = resolve(ctx, args)
    if type(spec) is ErrorReply:
        if args[0].lower() in _HTTP_WORDS:
            log.warning("Possible SECURITY ATTACK detected from %s: HTTP request on the RESP port", ctx.addr)
            ctx.close_after_reply = ctx.drop_output = True
            return None
        if ctx.multi is not None:
            ctx.multi_error = True
        count_error(ctx, spec)
        _count_rejected(ctx, args)
        return spec
    assert isinstance(spec, CommandSpec)
    if not ctx.authenticated and "no-auth" not in spec.flags:
        if ctx.multi is not None:
            ctx.multi_error = True
        error = ErrorReply(NOAUTH)
        count_error(ctx, error)
        return error
    if ctx.multi is not None and args[0].lower() not in _MULTI_IMMEDIATE:
        ctx.multi.append(args)
        return QUEUED
    if ctx.server.loading and "loading" not in spec.flags:
        return _LOADING_ERROR
    return call(ctx, spec, args)


def call(ctx: Context, spec: CommandSpec, args: list[bytes]) -> object:
    """Call the handler, time it, and turn failures into error replies."""
    stats = ctx.server.stats
    cmd_stats = stats.commands.get(spec.name) or stats.for_command(spec.name)
    if spec.is_write:
        refused = _write_refusal(ctx, spec)
        if refused is not None:
            cmd_stats.rejected_calls += 1
            count_error(ctx, refused)
            return refused
    started = _clock_ns()
    try:
        reply = spec.handler(ctx, args)  # type: ignore[misc]
    except CommandError as err:
        reply = ErrorReply(str(err))
    except Exception:  # a bug must not kill the connection or leak a traceback
        log.exception("internal error running %s", spec.name)
        stats.unexpected_error_replies += 1
        reply = ErrorReply(f"ERR internal error while running '{spec.name}'")
    ns = _clock_ns() - started
    usec = ns // 1000
    cmd_stats.calls += 1
    cmd_stats.usec += usec
    if ns < FAST_LIMIT_NS:  # the latency histogram: a table look-up for the common case
        cmd_stats.histogram[FAST_BUCKET[ns >> 4]] += 1
    else:
        cmd_stats.histogram[bucket_of(ns)] += 1
    stats.total_commands_processed += 1
    ctx.last_command = spec.name
    server = ctx.server
    if usec >= server.slow_usec:  # the slow log and the latency monitor (commands/observe.py)
        after_slow_call(ctx, spec, args, usec)
    if server.monitors:
        feed_monitors(ctx, spec, args)
    if type(reply) is ErrorReply:
        cmd_stats.failed_calls += 1
        count_error(ctx, reply)
    return reply


def record_calls(stats: Stats, spec: CommandSpec, count: int, ns: int) -> None:
    """Count `count` calls of `spec` that took `ns` nanoseconds in all and were answered
    outside `call` (the lane, fastlane.py): each is put in the histogram bucket of
    their mean duration."""
    cmd_stats = stats.commands.get(spec.name) or stats.for_command(spec.name)
    cmd_stats.calls += count
    cmd_stats.usec += ns // 1000
    each = ns // count
    cmd_stats.histogram[FAST_BUCKET[each >> 4] if each < FAST_LIMIT_NS else bucket_of(each)] += count
    stats.total_commands_processed += count


def _write_refusal(ctx: Context, spec: CommandSpec) -> ErrorReply | None:
    """-MISCONF while the store cannot write, -OOM over maxmemory with nothing to evict."""
    keyspace = ctx.keyspace
    refused = keyspace.writes_refused
    if refused is not None:
        return ErrorReply(refused)
    if spec.denyoom and keyspace.maxmemory and keyspace.refuses_writes_for_memory():
        return _OOM_ERROR
    return None


def count_error(ctx: Context, reply: ErrorReply) -> None:
    """Count an error reply in INFO stats and errorstats (by its code, e.g. 'ERR')."""
    stats = ctx.server.stats
    stats.total_error_replies += 1
    code = reply.split(" ", 1)[0]
    stats.error_codes[code] = stats.error_codes.get(code, 0) + 1


def _count_rejected(ctx: Context, args: list[bytes]) -> None:
    spec = ctx.server.table.lookup(args[0])
    if spec is not None:
        ctx.server.stats.for_command(spec.name).rejected_calls += 1


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape").replace("\r", " ").replace("\n", " ")
