"""CLIENT and its subcommands: ID, SETNAME, GETNAME, SETINFO, LIST, INFO, KILL, ...

CLIENT LIST / CLIENT INFO write Redis 7.2's line (the 7.0 fields plus lib-name and
lib-ver), which redis-py's client_list() and client_info() split on spaces and '='.
Numbers that have no meaning here are reported as what they are for this server: no
output buffer (replies go out with one send per batch), no read buffer kept between
reads, no pub/sub yet, every client a "normal" one of the "default" user.
"""

from __future__ import annotations

import sys
import time

from hypercache.commands.args import int_arg, option
from hypercache.commands.connection import validate_client_name
from hypercache.commands.context import Context
from hypercache.commands.table import command, container
from hypercache.errors import SYNTAX, CommandError
from hypercache.resp.types import OK, Status, Verbatim

container("client", "connection", "A container for client connection commands", since="2.4.0")

# The client types of CLIENT LIST TYPE and CLIENT KILL TYPE (Redis's getClientTypeByName).
_CLIENT_TYPES = {b"normal": "normal", b"slave": "replica", b"replica": "replica",
                 b"pubsub": "pubsub", b"master": "master"}


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def client_type(ctx: Context) -> str:
    """What CLIENT LIST TYPE filters on; there are no replicas or subscribers yet."""
    return "normal"


def client_flags(ctx: Context) -> str:
    """The flags field, in the order of Redis's catClientInfoString ('N' for none)."""
    flags = ""
    if ctx.multi is not None:
        flags += "x"
    if ctx.watch_dirty:
        flags += "d"
    if ctx.close_after_reply:
        flags += "c"
    if ctx.no_evict:
        flags += "e"
    if ctx.no_touch:
        flags += "T"
    return flags or "N"


def client_line(ctx: Context, current: Context | None = None, running: str = "", argv: list[bytes] | None = None) -> str:
    """One client as CLIENT LIST shows it (no trailing newline).

    `current` is the client asking, whose `running` command (and its `argv`) is
    reported as Redis does: the command being executed, not the previous one."""
    me = ctx is current
    cmd = running if me and running else ctx.last_command
    argv_mem = sum(len(a) for a in argv) if me and argv else 0
    multi_mem = sum(len(a) for request in ctx.multi for a in request) if ctx.multi else 0
    qbuf = ctx.query_buffer_bytes
    tot_mem = sys.getsizeof(ctx) + sys.getsizeof(vars(ctx)) + qbuf + argv_mem + multi_mem
    fields = (
        ("id", ctx.id),
        ("addr", ctx.addr),
        ("laddr", ctx.laddr),
        ("fd", ctx.fd),
        ("name", _text(ctx.name)),
        ("age", int(time.time() - ctx.created)),
        ("idle", int(time.monotonic() - ctx.last_interaction)),
        ("flags", client_flags(ctx)),
        ("db", ctx.db),
        ("sub", 0),
        ("psub", 0),
        ("ssub", 0),
        ("multi", -1 if ctx.multi is None else len(ctx.multi)),
        ("qbuf", qbuf),
        ("qbuf-free", 0),
        ("argv-mem", argv_mem),
        ("multi-mem", multi_mem),
        ("rbs", 0),
        ("rbp", 0),
        ("obl", 0),
        ("oll", 0),
        ("omem", 0),
        ("tot-mem", tot_mem),
        ("events", "r"),
        ("cmd", cmd),  # "NULL" before the first command, as Redis
        ("user", "default"),
        ("redir", -1),
        ("resp", ctx.proto),
        ("lib-name", _text(ctx.lib_name)),
        ("lib-ver", _text(ctx.lib_ver)),
    )
    return " ".join(f"{key}={value}" for key, value in fields)


def _parse_client_type(raw: bytes) -> str:
    kind = _CLIENT_TYPES.get(raw.lower())
    if kind is None:
        raise CommandError(f"ERR Unknown client type '{_text(raw)}'")
    return kind


@command("client|id", 2, "noscript loading stale", group="connection", summary="Returns the client ID for the current connection", since="5.0.0", acl="connection")
def client_id(ctx: Context, args: list[bytes]) -> object:
    return ctx.id


@command("client|setname", 3, "noscript loading stale", group="connection", summary="Set the current connection name", since="2.6.9", acl="connection")
def client_setname(ctx: Context, args: list[bytes]) -> object:
    name = args[2]
    if name:
        validate_client_name(name)
    ctx.name = name  # an empty name removes the name
    return OK


@command("client|getname", 2, "noscript loading stale", group="connection", summary="Get the current connection name", since="2.6.9", acl="connection")
def client_getname(ctx: Context, args: list[bytes]) -> object:
    return ctx.name or None


@command("client|setinfo", 4, "noscript loading stale sentinel", group="connection", summary="Sets information specific to the client or connection.", since="7.2.0", acl="connection")
def client_setinfo(ctx: Context, args: list[bytes]) -> object:
    attr, value = args[2], args[3]
    which = attr.lower()
    if which not in (b"lib-name", b"lib-ver"):
        raise CommandError(f"ERR Unrecognized option '{_text(attr)}'")
    if any(c < 33 or c > 126 for c in value):
        raise CommandError(f"ERR {_text(attr)} cannot contain spaces, newlines or special characters.")
    if which == b"lib-name":
        ctx.lib_name = value
    else:
        ctx.lib_ver = value
    return OK


@command("client|info", 2, "noscript loading stale", group="connection", summary="Returns information about the current client connection.", since="6.2.0", acl="connection")
def client_info(ctx: Context, args: list[bytes]) -> object:
    return Verbatim(client_line(ctx, ctx, "client|info", args) + "\n")


@command("client|list", -2, "admin noscript loading stale", group="connection", summary="Get the list of client connections", since="2.4.0", complexity="O(N) where N is the number of client connections", acl="connection")
def client_list(ctx: Context, args: list[bytes]) -> object:
    clients = ctx.server.clients
    if len(args) == 4 and args[2].upper() == b"TYPE":
        kind = _parse_client_type(args[3])
        chosen = [c for c in clients.values() if client_type(c) == kind]
    elif len(args) > 3 and args[2].upper() == b"ID":
        chosen = []
        for raw in args[3:]:
            client = clients.get(int_arg(raw, "ERR Invalid client ID"))
            if client is not None:
                chosen.append(client)
    elif len(args) != 2:
        raise CommandError(SYNTAX)
    else:
        chosen = list(clients.values())
    return Verbatim("".join(client_line(c, ctx, "client|list", args) + "\n" for c in chosen))


@command("client|kill", -3, "admin noscript loading stale", group="connection", summary="Kill the connection of a client", since="2.4.0", complexity="O(N) where N is the number of client connections", acl="connection")
def client_kill(ctx: Context, args: list[bytes]) -> object:
    addr = laddr = kind = None
    client_id = 0
    skipme = True
    if len(args) == 3:  # the old form, CLIENT KILL addr: may kill the caller itself
        addr = _text(args[2])
        skipme = False
    else:
        for i in range(2, len(args), 2):
            if i + 1 == len(args):  # an option without its value
                raise CommandError(SYNTAX)
            word, value = option(args[i]), args[i + 1]
            if word == b"ID":
                client_id = int_arg(value, "ERR client-id should be greater than 0")
                if client_id < 1:
                    raise CommandError("ERR client-id should be greater than 0")
            elif word == b"TYPE":
                kind = _parse_client_type(value)
            elif word == b"ADDR":
                addr = _text(value)
            elif word == b"LADDR":
                laddr = _text(value)
            elif word == b"USER":
                if value != b"default":  # the only user there is
                    raise CommandError(f"ERR No such user '{_text(value)}'")
            elif word == b"SKIPME":
                skip = value.lower()
                if skip not in (b"yes", b"no"):
                    raise CommandError(SYNTAX)
                skipme = skip == b"yes"
            else:
                raise CommandError(SYNTAX)
    state = ctx.server
    killed = 0
    for client in list(state.clients.values()):
        if addr is not None and client.addr != addr:
            continue
        if laddr is not None and client.laddr != laddr:
            continue
        if kind is not None and client_type(client) != kind:
            continue
        if client_id and client.id != client_id:
            continue
        if client is ctx:
            if skipme:
                continue
            ctx.close_after_reply = True  # after this reply, as Redis
        else:
            state.clients.pop(client.id, None)  # gone from CLIENT LIST at once
            client.kill()
        killed += 1
    if len(args) == 3:
        if not killed:
            raise CommandError("ERR No such client")
        return OK
    return killed


def _on_off(raw: bytes) -> bool:
    word = raw.lower()
    if word == b"on":
        return True
    if word == b"off":
        return False
    raise CommandError(SYNTAX)


@command("client|no-evict", 3, "admin noscript loading stale", group="connection", summary="Set client eviction mode for the current connection", since="7.0.0", acl="connection")
def client_no_evict(ctx: Context, args: list[bytes]) -> object:
    ctx.no_evict = _on_off(args[2])
    return OK


@command("client|no-touch", 3, "noscript loading stale", group="connection", summary="Controls whether commands sent by the client affect the LRU/LFU of accessed keys.", since="7.2.0", acl="connection")
def client_no_touch(ctx: Context, args: list[bytes]) -> object:
    ctx.no_touch = _on_off(args[2])
    return OK


@command("client|maint_notifications", -3, "noscript loading stale", group="connection", summary="Enables or disables maintenance notifications for the connection.", since="8.2.0", acl="connection")
def client_maint_notifications(ctx: Context, args: list[bytes]) -> object:
    """redis-py 8 sends `CLIENT MAINT_NOTIFICATIONS ON moving-endpoint-type <type>` on
    every RESP3 connection. This server never moves slots for maintenance, so there is
    nothing to notify: accept the request (ON or OFF, with option/value pairs) and send
    nothing, which also suits clients configured to require it."""
    _on_off(args[2])
    if len(args) % 2 == 0:  # options come in name/value pairs
        raise CommandError(SYNTAX)
    return OK


_CLIENT_HELP = [
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "    * ID <client-id> [<client-id> ...]",
    "      Return clients of specified IDs only.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
    "HELP",
    "    Prints this help.",
]


@command("client|help", 2, "loading stale", group="connection", summary="Show helpful text about the different subcommands", since="5.0.0", acl="connection")
def client_help(ctx: Context, args: list[bytes]) -> object:
    return [Status(line) for line in _CLIENT_HELP]
