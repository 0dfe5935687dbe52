"""Connection commands: PING, ECHO, QUIT, RESET, HELLO, AUTH, SELECT."""

from __future__ import annotations

import hmac

from hypercache import REDIS_COMPAT_VERSION
from hypercache.commands.args import int_arg, option
from hypercache.commands.context import Context
from hypercache.commands.monitor import stop_monitoring
from hypercache.commands.table import command
from hypercache.errors import NOT_INTEGER, SYNTAX, WRONGPASS, CommandError
from hypercache.resp.types import OK, PONG, Status

_AUTH_NOT_CONFIGURED = (
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)
_HELLO_NOAUTH = (
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
    "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
    "select the RESP protocol version at the same time"
)


@command("ping", -1, "fast sentinel", group="connection", summary="Returns the server's liveliness response.", acl="fast connection")
def ping(ctx: Context, args: list[bytes]) -> object:
    if len(args) > 2:
        raise CommandError("ERR wrong number of arguments for 'ping' command")
    return args[1] if len(args) == 2 else PONG


@command("echo", 2, "fast", group="connection", summary="Returns the given string.", acl="fast connection")
def echo(ctx: Context, args: list[bytes]) -> object:
    return args[1]


@command("quit", -1, "allow-busy noscript loading stale fast no-auth", group="connection", summary="Closes the connection.", acl="fast connection")
def quit_(ctx: Context, args: list[bytes]) -> object:
    ctx.close_after_reply = True
    return OK


@command("reset", 1, "noscript loading stale fast no-auth allow-busy", group="connection", summary="Resets the connection.", since="6.2.0", acl="fast connection")
def reset(ctx: Context, args: list[bytes]) -> object:
    ctx.reset_multi()
    stop_monitoring(ctx)
    ctx.proto = 2
    ctx.db = 0
    ctx.name = b""
    ctx.authenticated = not ctx.server.config.requirepass
    return Status("RESET")


def check_password(ctx: Context, username: bytes, password: bytes) -> bool:
    """The default user is the only user: its password is `requirepass` (none = any)."""
    if username != b"default":
        return False
    required = ctx.server.config.requirepass
    if not required:
        return True
    return hmac.compare_digest(password, required.encode())


@command("auth", -2, "noscript loading stale fast no-auth allow-busy", group="connection", summary="Authenticates the connection.", acl="fast connection")
def auth(ctx: Context, args: list[bytes]) -> object:
    if len(args) > 3:
        raise CommandError(SYNTAX)
    if len(args) == 2:
        if not ctx.server.config.requirepass:
            raise CommandError(_AUTH_NOT_CONFIGURED)
        username, password = b"default", args[1]
    else:
        username, password = args[1], args[2]
    if not check_password(ctx, username, password):
        raise CommandError(WRONGPASS)  # as Redis: a failed AUTH keeps the current state
    ctx.authenticated = True
    return OK


@command("hello", -1, "noscript loading stale fast no-auth allow-busy", group="connection", summary="Handshakes with the server.", since="6.0.0", acl="fast connection")
def hello(ctx: Context, args: list[bytes]) -> object:
    proto = ctx.proto
    if len(args) >= 2:
        proto = int_arg(args[1], "ERR Protocol version is not an integer or out of range")
        if proto < 2 or proto > 3:
            raise CommandError("NOPROTO unsupported protocol version")
    credentials = None
    name = None
    i = 2
    while i < len(args):
        word = option(args[i])
        remaining = len(args) - i - 1
        if word == b"AUTH" and remaining >= 2:
            credentials = (args[i + 1], args[i + 2])
            i += 3
        elif word == b"SETNAME" and remaining >= 1:
            name = args[i + 1]
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{args[i].decode('utf-8', 'replace')}'")
    if credentials is not None:
        if not check_password(ctx, *credentials):
            raise CommandError(WRONGPASS)
        ctx.authenticated = True
    elif not ctx.authenticated:
        raise CommandError(_HELLO_NOAUTH)
    if name is not None:
        validate_client_name(name)
        ctx.name = name
    ctx.proto = proto
    return {
        "server": "redis",
        "version": REDIS_COMPAT_VERSION,
        "proto": proto,
        "id": ctx.id,
        "mode": "cluster" if ctx.server.config.cluster_enabled else "standalone",
        "role": "master",
        "modules": [],
    }


def validate_client_name(name: bytes) -> None:
    """Redis refuses names with spaces, newlines and other special characters."""
    if any(c < 33 or c > 126 for c in name):
        raise CommandError(
            "ERR Client names cannot contain spaces, newlines or special characters."
        )


@command("select", 2, "loading stale fast", group="connection", summary="Changes the selected database.", acl="fast connection")
def select(ctx: Context, args: list[bytes]) -> object:
    index = int_arg(args[1], NOT_INTEGER)
    if ctx.server.config.cluster_enabled and index != 0:
        raise CommandError("ERR SELECT is not allowed in cluster mode")
    if index < 0 or index >= ctx.server.config.databases:
        raise CommandError("ERR DB index is out of range")
    ctx.db = index
    return OK
