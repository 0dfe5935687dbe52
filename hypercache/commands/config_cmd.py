"""CONFIG GET/SET/RESETSTAT/REWRITE/HELP over the typed configuration.

The parameters, their parsers and whether they may change at run time are rows of
`hypercache.configtable`, shared with the command-line flags. Replies and errors are
Redis 7.0's (config.c): GET takes several glob patterns and answers a map; SET takes
several pairs and changes all of them or none.
"""

from __future__ import annotations

from hypercache.commands.context import Context
from hypercache.commands.observe import refresh_thresholds
from hypercache.commands.table import command, container
from hypercache.config import ConfigError, ValueProblem, rewrite_config
from hypercache.configtable import PARAMS_LIST, Param, lookup
from hypercache.errors import SYNTAX, CommandError
from hypercache.keyspace.glob import compile_glob
from hypercache.resp.types import OK, Status

_HELP = (
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
)
_ADMIN = "admin noscript loading stale"
_ACL = "admin slow dangerous"
_ON_N = "O(N) when N is the number of configuration parameters provided"

container("config", "server", "A container for server configuration commands", since="2.0.0")


@command("config|rewrite", 2, _ADMIN, group="server",
         summary="Rewrite the configuration file with the in memory configuration", since="2.8.0", acl=_ACL)
def config_rewrite(ctx: Context, args: list[bytes]) -> object:
    try:
        rewrite_config(ctx.server.config)
    except ConfigError as err:
        raise CommandError(f"ERR {err}") from None
    return OK


@command("config|help", 2, "loading stale", group="server",
         summary="Show helpful text about the different subcommands", since="5.0.0", acl="slow")
def config_help(ctx: Context, args: list[bytes]) -> object:
    return [Status(line) for line in _HELP]


@command("config|resetstat", 2, _ADMIN, group="server", summary="Reset the stats returned by INFO",
         since="2.0.0", acl=_ACL)
def config_resetstat(ctx: Context, args: list[bytes]) -> object:
    ctx.server.stats.reset()
    return OK


@command("config|get", -3, _ADMIN, group="server", summary="Get the values of configuration parameters",
         since="2.0.0", complexity=_ON_N, acl=_ACL)
def config_get(ctx: Context, args: list[bytes]) -> object:
    config = ctx.server.config
    matches: dict[str, tuple[bytes, Param]] = {}  # name -> (name as shown, param)
    for pattern in args[2:]:
        if not any(c in pattern for c in b"[*?"):
            # An exact name is answered under the spelling the client used (as Redis does).
            param = lookup(pattern.decode("utf-8", "replace"))
            if param is not None and param.name not in matches:
                matches[param.name] = (pattern, param)
            continue
        match = compile_glob(pattern, True)
        for param in PARAMS_LIST:
            if param.name not in matches and match(param.name.encode()):
                matches[param.name] = (param.name.encode(), param)
    return {shown: param.show(config).encode() for shown, param in matches.values()}


@command("config|set", -4, _ADMIN, group="server", summary="Set configuration parameters to the given values",
         since="2.0.0", complexity=_ON_N, acl=_ACL)
def config_set(ctx: Context, args: list[bytes]) -> object:
    if len(args) % 2:
        raise CommandError(SYNTAX)
    # First pass, as Redis: every name known, changeable, not given twice.
    chosen: list[tuple[Param, bytes]] = []
    for i in range(2, len(args), 2):
        raw_name = args[i]
        param = lookup(raw_name.decode("utf-8", "replace"))
        if param is None:
            raise CommandError(
                f"ERR Unknown option or number of arguments for CONFIG SET - '{_text(raw_name)}'"
            )
        if not param.mutable or param.protected:
            # Redis reports the first problem it meets, unknown name or not.
            reason = "can't set protected config" if param.mutable else "can't set immutable config"
            raise CommandError(_failed(_text(raw_name), reason))
        if any(param is seen for seen, _value in chosen):
            raise CommandError(_failed(_text(raw_name), "duplicate parameter"))
        chosen.append((param, args[i + 1]))
    # Second pass: parse every value before changing anything (all or nothing).
    parsed = []
    for param, raw_value in chosen:
        try:
            value = param.parse(raw_value.decode("utf-8"))
        except UnicodeDecodeError:
            raise CommandError(_failed(param.name, "argument must be UTF-8 text")) from None
        except ValueProblem as err:
            raise CommandError(_failed(param.name, str(err))) from None
        parsed.append((param, value))
    config = ctx.server.config
    old = [(param, param.get(config)) for param, _value in parsed]
    for param, value in parsed:
        param.set(config, value)
    for param, _value in parsed:
        if param.apply is None:
            continue
        try:
            param.apply(config)
        except Exception as err:  # noqa: BLE001  (restore, then report as Redis does)
            for old_param, old_value in old:
                old_param.set(config, old_value)
            for old_param, _old_value in old:
                if old_param.apply is not None:
                    try:
                        old_param.apply(config)
                    except Exception:  # noqa: BLE001
                        pass
            raise CommandError(_failed(param.name, str(err) or type(err).__name__)) from None
    refresh_thresholds(ctx.server)  # the slow log's and latency monitor's, read by dispatch
    # Layers that copied a setting when they started (the keyspace's memory limit, the
    # storage engine's sync policy and memtable size, connections' reader limits) learn
    # of the change through the server layer's hook.
    ctx.server.config_changed({param.name for param, _value in parsed})
    return OK


def _failed(name: str, reason: str) -> str:
    return f"ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
