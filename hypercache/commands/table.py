"""The command table: every command as data (name, arity, flags, key positions, docs).

COMMAND / COMMAND INFO / COMMAND DOCS, arity checks, the MULTI queue and cluster
routing all read this one table. Handlers register with the `command` decorator next
to their code; the decorator only records data, it does not wrap the function.

Arity follows Redis: N means exactly N words (name included), -N means at least N.
Key positions are (first, last, step) as in Redis's COMMAND reply; last < 0 counts
from the end (-1 = the last argument).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from hypercache.commands.context import Context

Handler = Callable[["Context", list[bytes]], object]


@dataclass(slots=True)
class CommandSpec:
    """One command's metadata and its handler."""

    name: str  # lower case; a subcommand is 'parent|sub'
    arity: int
    flags: tuple[str, ...]
    first_key: int = 0
    last_key: int = 0
    step: int = 0
    group: str = "generic"
    summary: str = ""
    since: str = "1.0.0"
    complexity: str = ""
    acl_categories: tuple[str, ...] = ()
    handler: Handler | None = None
    subcommands: dict[bytes, "CommandSpec"] = field(default_factory=dict)
    # Read per call by dispatch: plain booleans, not set lookups.
    is_write: bool = field(init=False, default=False)
    denyoom: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.is_write = "write" in self.flags
        self.denyoom = "denyoom" in self.flags

    def key_positions(self, argc: int) -> range:
        """Indexes of the key arguments in a request of `argc` words."""
        if self.first_key <= 0:
            return range(0)
        last = self.last_key if self.last_key >= 0 else argc + self.last_key
        return range(self.first_key, min(last, argc - 1) + 1, self.step or 1)

    def arity_ok(self, argc: int) -> bool:
        return argc == self.arity if self.arity > 0 else argc >= -self.arity


AS_SENT_LIMIT = 4096  # spellings of command names remembered (GET, get, Get, ...)


class CommandTable:
    """Lookup from lower-case command name (bytes) to CommandSpec."""

    def __init__(self) -> None:
        self.commands: dict[bytes, CommandSpec] = {}
        # Names as clients send them (redis-cli and most libraries: upper case) -> spec,
        # so the common look-up is one dict get without lower(). Bounded: only names
        # that turned out to be commands are kept.
        self._as_sent: dict[bytes, CommandSpec] = {}

    def add(self, spec: CommandSpec) -> None:
        parent, _, sub = spec.name.partition("|")
        if sub:
            container = self.commands.get(parent.encode())
            if container is None:
                raise KeyError(f"subcommand {spec.name} registered before its container")
            container.subcommands[sub.encode()] = spec
        else:
            if spec.name.encode() in self.commands:
                raise KeyError(f"command {spec.name} registered twice")
            self.commands[spec.name.encode()] = spec

    def lookup(self, name: bytes) -> CommandSpec | None:
        """The spec for a command name as the client sent it (any case)."""
        spec = self._as_sent.get(name)
        if spec is None:
            spec = self.commands.get(name.lower())
            if spec is not None and len(self._as_sent) < AS_SENT_LIMIT:
                self._as_sent[name] = spec
        return spec

    def __iter__(self):
        return iter(self.commands.values())

    def __len__(self) -> int:
        return len(self.commands)


TABLE = CommandTable()


def command(
    name: str,
    arity: int,
    flags: str = "",
    keys: tuple[int, int, int] = (0, 0, 0),
    group: str = "generic",
    summary: str = "",
    since: str = "1.0.0",
    complexity: str = "O(1)",
    acl: str = "",
    table: CommandTable = TABLE,
) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of `name` in the table."""

    def register(handler: Handler) -> Handler:
        first, last, step = keys
        table.add(
            CommandSpec(
                name=name,
                arity=arity,
                flags=tuple(flags.split()),
                first_key=first,
                last_key=last,
                step=step,
                group=group,
                summary=summary,
                since=since,
                complexity=complexity,
                acl_categories=tuple(f"@{c}" for c in acl.split()),
                handler=handler,
            )
        )
        return handler

    return register


def container(
    name: str,
    group: str,
    summary: str,
    since: str = "1.0.0",
    flags: str = "",
    table: CommandTable = TABLE,
) -> None:
    """Register a command whose work is done by its subcommands (CONFIG, CLIENT, ...)."""
    table.add(
        CommandSpec(
            name=name,
            arity=-2,
            flags=tuple(flags.split()),
            group=group,
            summary=summary,
            since=since,
            complexity="Depends on subcommand.",
        )
    )
