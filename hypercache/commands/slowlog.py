"""The slow log (Redis's slowlog.c) and SLOWLOG GET/LEN/RESET/HELP.

The dispatcher calls `observe.after_slow_call` for a call that took at least the
smallest threshold in force; that adds an entry here when the call took at least
`slowlog-log-slower-than` microseconds (-1: off). An entry is Redis's: id, unix time,
microseconds, the arguments (at most 32, each cut at 128 bytes, secrets redacted),
the client's address and name. The newest `slowlog-max-len` entries are kept.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hypercache.commands.args import int_arg
from hypercache.commands.table import command, container
from hypercache.errors import CommandError
from hypercache.resp.types import OK, Status

if TYPE_CHECKING:
    from hypercache.commands.context import Context

MAX_ARGC = 32  # SLOWLOG_ENTRY_MAX_ARGC
MAX_STRING = 128  # SLOWLOG_ENTRY_MAX_STRING
DEFAULT_COUNT = 10


@dataclass(frozen=True, slots=True)
class SlowLogEntry:
    id: int
    time: int
    usec: int
    args: list[bytes]
    addr: bytes
    name: bytes

    def reply(self) -> list[object]:
        return [self.id, self.time, self.usec, self.args, self.addr, self.name]


def shown_args(args: list[bytes]) -> list[bytes]:
    """The arguments as an entry keeps them: 32 at most, each at most 128 bytes."""
    count = min(len(args), MAX_ARGC)
    shown = []
    for j in range(count):
        if count != len(args) and j == count - 1:
            shown.append(b"... (%d more arguments)" % (len(args) - count + 1))
        elif len(args[j]) > MAX_STRING:
            shown.append(args[j][:MAX_STRING] + b"... (%d more bytes)" % (len(args[j]) - MAX_STRING))
        else:
            shown.append(args[j])
    return shown


class SlowLog:
    """The newest entries first; ids keep counting across SLOWLOG RESET, as Redis's."""

    def __init__(self) -> None:
        self.entries: deque[SlowLogEntry] = deque()
        self.next_id = 0

    def add(self, args: list[bytes], usec: int, addr: str, name: bytes, max_len: int) -> None:
        self.entries.appendleft(
            SlowLogEntry(self.next_id, int(time.time()), usec, shown_args(args), addr.encode(), name)
        )
        self.next_id += 1
        while len(self.entries) > max_len:
            self.entries.pop()

    def reset(self) -> None:
        self.entries.clear()


container("slowlog", "server", "A container for slow log commands", since="2.2.12")

_HELP = (
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
)
_FLAGS = "admin loading stale"
_COUNT_ERROR = "ERR count should be greater than or equal to -1"


@command("slowlog|get", -2, _FLAGS, group="server", summary="Returns the slow log's entries.", since="2.2.12", complexity="O(N) where N is the number of entries returned", acl="admin slow dangerous")
def slowlog_get(ctx: "Context", args: list[bytes]) -> object:
    if len(args) > 3:
        sub = args[1].decode("utf-8", "replace")  # Redis echoes the subcommand as sent
        raise CommandError(f"ERR unknown subcommand or wrong number of arguments for '{sub}'. Try SLOWLOG HELP.")
    count = DEFAULT_COUNT
    if len(args) == 3:
        count = int_arg(args[2], _COUNT_ERROR)
        if count < -1:
            raise CommandError(_COUNT_ERROR)
    entries = ctx.server.slowlog.entries
    if count == -1:
        count = len(entries)
    return [entry.reply() for entry, _ in zip(entries, range(count))]


@command("slowlog|len", 2, _FLAGS, group="server", summary="Returns the number of entries in the slow log.", since="2.2.12", acl="admin slow dangerous")
def slowlog_len(ctx: "Context", args: list[bytes]) -> object:
    return len(ctx.server.slowlog.entries)


@command("slowlog|reset", 2, _FLAGS, group="server", summary="Clears all entries from the slow log.", since="2.2.12", complexity="O(N) where N is the number of entries in the slowlog", acl="admin slow dangerous")
def slowlog_reset(ctx: "Context", args: list[bytes]) -> object:
    ctx.server.slowlog.reset()
    return OK


@command("slowlog|help", 2, "loading stale", group="server", summary="Show helpful text about the different subcommands", since="6.2.0", acl="slow")
def slowlog_help(ctx: "Context", args: list[bytes]) -> object:
    return [Status(line) for line in _HELP]
