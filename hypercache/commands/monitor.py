"""MONITOR: every command executed, streamed to the clients that asked, as Redis's lines:

    +1339518083.107412 [0 127.0.0.1:60866] "keys" "*"

The dispatcher calls `feed_monitors` after a command ran (only while someone monitors),
as Redis 7 does in call(): commands refused before running (unknown, wrong arity, NOAUTH,
-LOADING) and admin commands are not shown; secrets are redacted. A line goes out through
the monitor's `ctx.push`, which the network layer provides (the reactor queues it with
the client's replies and sends it). RESET leaves monitor mode.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from hypercache.commands.redaction import redacted
from hypercache.commands.table import command
from hypercache.resp.types import OK

if TYPE_CHECKING:
    from hypercache.commands.context import Context
    from hypercache.commands.table import CommandSpec

# sdscatrepr: printable ASCII as is, except backslash and double quote.
_NEEDS_ESCAPE = re.compile(rb'[^\x20\x21\x23-\x5b\x5d-\x7e]')
_ESCAPES = {ord("\\"): b"\\\\", ord('"'): b'\\"', ord("\n"): b"\\n", ord("\r"): b"\\r",
            ord("\t"): b"\\t", 7: b"\\a", 8: b"\\b"}


def _escape(match: re.Match[bytes]) -> bytes:
    byte = match.group()[0]
    return _ESCAPES.get(byte) or b"\\x%02x" % byte


def quote(arg: bytes) -> bytes:
    """An argument as Redis's sdscatrepr writes it: "v\\n\\"x\\x01"."""
    return b'"' + _NEEDS_ESCAPE.sub(_escape, arg) + b'"'


def monitor_line(ctx: "Context", args: list[bytes], now: float | None = None) -> bytes:
    """One MONITOR line, status-reply framed."""
    now = time.time() if now is None else now
    seconds = int(now)
    micros = int((now - seconds) * 1_000_000)
    head = b"+%d.%06d [%d %s]" % (seconds, micros, ctx.db, ctx.addr.encode())
    return head + b"".join(b" " + quote(arg) for arg in args) + b"\r\n"


def feed_monitors(ctx: "Context", spec: "CommandSpec", args: list[bytes]) -> None:
    """Give every monitor the line for this call (called by dispatch when any exist)."""
    if "admin" in spec.flags or "skip_monitor" in spec.flags:
        return
    state = ctx.server
    line = monitor_line(ctx, redacted(spec.name, args))
    for client_id, monitor in list(state.monitors.items()):
        if state.clients.get(client_id) is not monitor:  # disconnected since
            del state.monitors[client_id]
            continue
        monitor.push(line)


def stop_monitoring(ctx: "Context") -> None:
    """The client leaves monitor mode (RESET)."""
    ctx.server.monitors.pop(ctx.id, None)


@command("monitor", 1, "admin noscript loading stale", group="server", summary="Listens for all requests received by the server in real-time.", since="1.0.0", acl="admin slow dangerous")
def monitor(ctx: "Context", args: list[bytes]) -> object:
    ctx.server.monitors[ctx.id] = ctx
    return OK
