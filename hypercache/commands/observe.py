"""The dispatcher's slow path: what happens after a call that took long enough to matter.

`call` in dispatch.py compares each call's microseconds with `state.slow_usec`, the
smallest threshold in force (the slow log's, the latency monitor's), so the common
case costs one comparison. `refresh_thresholds` recomputes it after CONFIG SET.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hypercache.commands.latency import record_latency_event
from hypercache.commands.redaction import redacted
from hypercache.config import Config

if TYPE_CHECKING:
    from hypercache.commands.context import Context, ServerState
    from hypercache.commands.table import CommandSpec

NEVER = 2**63  # no threshold in force: no call reaches the slow path


def slow_threshold_usec(config: Config) -> int:
    """The smallest duration (µs) that the slow log or the latency monitor wants to see."""
    thresholds = []
    if config.slowlog_log_slower_than >= 0 and config.slowlog_max_len > 0:
        thresholds.append(config.slowlog_log_slower_than)
    if config.latency_monitor_threshold > 0:
        thresholds.append(config.latency_monitor_threshold * 1000)
    return min(thresholds, default=NEVER)


def refresh_thresholds(state: "ServerState") -> None:
    state.slow_usec = slow_threshold_usec(state.config)


def after_slow_call(ctx: "Context", spec: "CommandSpec", args: list[bytes], usec: int) -> None:
    """Log the call in the slow log and the latency monitor, each if past its threshold."""
    state = ctx.server
    config = state.config
    if (0 <= config.slowlog_log_slower_than <= usec and config.slowlog_max_len > 0
            and "skip_slowlog" not in spec.flags):
        state.slowlog.add(redacted(spec.name, args), usec, ctx.addr, ctx.name, config.slowlog_max_len)
    record_latency_event(state, "fast" in spec.flags, usec)
