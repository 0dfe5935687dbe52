"""Latency figures: per-command histograms (INFO latencystats, LATENCY HISTOGRAM) and the
latency monitor's event series (LATENCY LATEST / HISTORY / RESET), as Redis's latency.c.

The dispatcher records every call's duration in nanoseconds into its command's histogram:
a list of integer counts over log-linear buckets (16 per power of two, so a bucket is at
most 1/16 = 6.25% wide), which costs a table look-up and a list increment (~0.1 µs);
nothing is computed until INFO or LATENCY asks. Percentiles are read as HdrHistogram (Redis's)
reads them: the highest value of the bucket that holds the percentile's count.

The latency monitor is Redis's: off while `latency-monitor-threshold` is 0; otherwise a
command that takes at least that many milliseconds adds a sample to the "command" (or,
for a fast command, "fast-command") event: one sample per second (the largest), the last
160 kept, and the all-time maximum.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Iterable

from hypercache.commands.table import command, container
from hypercache.resp.types import Status

if TYPE_CHECKING:
    from hypercache.commands.context import Context, ServerState

# ---------------------------------------------------------------------------------------
# Histograms

SUB_BITS = 4  # 16 buckets per power of two
_SUB = 1 << SUB_BITS
HISTOGRAM_SIZE = 64 * _SUB  # covers any 64-bit nanosecond count


def new_histogram() -> list[int]:
    """An empty histogram (what CommandStats holds per command)."""
    return [0] * HISTOGRAM_SIZE


def bucket_of(ns: int) -> int:
    """The bucket index of a duration in nanoseconds."""
    shift = ns.bit_length() - SUB_BITS - 1
    return ns if shift <= 0 else (shift << SUB_BITS) + (ns >> shift)


# dispatch.call looks most durations up in this table (ns >> 4 -> bucket) instead of
# calling bucket_of: half the cost. From 256 ns up buckets are at least 16 ns wide and
# aligned, so the table is exact there; below, no call lasts that little anyway.
FAST_LIMIT_NS = 65536
FAST_BUCKET: list[int] = [bucket_of(i << 4) for i in range(FAST_LIMIT_NS >> 4)]


def bucket_high(index: int) -> int:
    """The largest duration (ns) that falls in bucket `index`."""
    if index < 2 * _SUB:
        return index
    shift = (index >> SUB_BITS) - 1
    mantissa = index - (shift << SUB_BITS)
    return ((mantissa + 1) << shift) - 1


def percentile_ns(histogram: list[int], percentile: float, total: int | None = None) -> int:
    """HdrHistogram's value_at_percentile over our buckets (0 for an empty histogram)."""
    total = sum(histogram) if total is None else total
    if not total:
        return 0
    wanted = max(1, int(percentile / 100 * total + 0.5))
    seen = 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= wanted:
            return bucket_high(index)
    return bucket_high(len(histogram) - 1)


def parse_percentiles(text: str) -> list[float]:
    """`latency-tracking-info-percentiles` as numbers (configtable has validated it)."""
    return [float(word) for word in text.split()]


def _percentile_label(value: float) -> str:
    """Redis prints percentiles with %f trimmed: 50 -> 'p50', 99.9 -> 'p99.9'."""
    return "p" + (f"{value:f}".rstrip("0").rstrip("."))


def latencystats_section(state: "ServerState") -> list[str]:
    """INFO latencystats: `latency_percentiles_usec_<cmd>:p50=1.003,p99=...` per command."""
    config = state.config
    if not config.latency_tracking:
        return []
    percentiles = parse_percentiles(config.latency_tracking_info_percentiles)
    lines = []
    for name, cs in state.stats.commands.items():
        total = sum(cs.histogram)
        if not total:
            continue
        shown = ",".join(
            f"{_percentile_label(p)}={percentile_ns(cs.histogram, p, total) / 1000:.3f}" for p in percentiles
        )
        lines.append(f"latency_percentiles_usec_{name}:{shown}")
    return lines


def cumulative_usec(histogram: list[int]) -> dict[int, int]:
    """LATENCY HISTOGRAM's histogram_usec: cumulative counts at Redis's log buckets
    (1024 ns doubling, keyed by whole microseconds: 1, 2, 4, 8, 16, 32, 65, 131, ...),
    only where the count grows. Our bucket edges fall on powers of two, so a bucket is
    wholly below or above each of Redis's edges and the counts are exact."""
    out: dict[int, int] = {}
    total = sum(histogram)
    seen = previous = index = 0
    edge = 1024
    while seen < total:
        while index < len(histogram) and bucket_high(index) < edge:
            seen += histogram[index]
            index += 1
        if seen > previous:
            out[edge // 1000] = seen
            previous = seen
        edge *= 2
    return out


# ---------------------------------------------------------------------------------------
# The latency monitor (events)

HISTORY_LEN = 160  # LATENCY_TS_LEN


class LatencyEvents:
    """Redis's latency time series, one per event name."""

    def __init__(self) -> None:
        self.series: dict[str, list[tuple[int, int]]] = {}  # name -> [(unix time, ms)]
        self.maximum: dict[str, int] = {}

    def add(self, event: str, latency_ms: int, now: int | None = None) -> None:
        """latencyAddSample: keep the largest sample per second, the last 160 seconds."""
        now = int(time.time()) if now is None else now
        samples = self.series.setdefault(event, [])
        if latency_ms > self.maximum.get(event, 0):
            self.maximum[event] = latency_ms
        if samples and samples[-1][0] == now:
            if latency_ms > samples[-1][1]:
                samples[-1] = (now, latency_ms)
            return
        samples.append((now, latency_ms))
        if len(samples) > HISTORY_LEN:
            del samples[0]

    def reset(self, events: Iterable[str] | None = None) -> int:
        """Forget the named events (all if None); the number of series dropped."""
        names = list(self.series) if events is None else [e for e in dict.fromkeys(events) if e in self.series]
        for name in names:
            del self.series[name]
            self.maximum.pop(name, None)
        return len(names)


def record_latency_event(state: "ServerState", fast: bool, usec: int) -> None:
    """Called from the dispatcher's slow path: a sample if past the monitor's threshold."""
    threshold = state.config.latency_monitor_threshold
    if threshold and usec // 1000 >= threshold:
        state.latency_events.add("fast-command" if fast else "command", usec // 1000)


# ---------------------------------------------------------------------------------------
# LATENCY

container("latency", "server", "A container for latency diagnostics commands", since="2.8.13")

_HELP = (
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
)
_FLAGS = "admin noscript loading stale"


@command("latency|latest", 2, _FLAGS, group="server", summary="Returns the latest latency samples for all events.", since="2.8.13", acl="admin slow dangerous")
def latency_latest(ctx: "Context", args: list[bytes]) -> object:
    events = ctx.server.latency_events
    return [
        [name.encode(), samples[-1][0], samples[-1][1], events.maximum.get(name, 0)]
        for name, samples in events.series.items()
        if samples
    ]


@command("latency|history", 3, _FLAGS, group="server", summary="Returns timestamp-latency samples for an event.", since="2.8.13", acl="admin slow dangerous")
def latency_history(ctx: "Context", args: list[bytes]) -> object:
    samples = ctx.server.latency_events.series.get(args[2].decode("utf-8", "replace"), [])
    return [[when, latency] for when, latency in samples]


@command("latency|reset", -2, _FLAGS, group="server", summary="Resets the latency data for one or more events.", since="2.8.13", acl="admin slow dangerous")
def latency_reset(ctx: "Context", args: list[bytes]) -> object:
    events = ctx.server.latency_events
    if len(args) == 2:
        return events.reset()
    return events.reset(raw.decode("utf-8", "replace") for raw in args[2:])


@command("latency|histogram", -2, "loading stale", group="server", summary="Returns the cumulative distribution of latencies of a subset or all commands.", since="7.0.0", acl="admin slow dangerous")
def latency_histogram(ctx: "Context", args: list[bytes]) -> object:
    commands = ctx.server.stats.commands
    if len(args) == 2:
        names = list(commands)
    else:
        names = [n for n in dict.fromkeys(raw.decode("utf-8", "replace").lower() for raw in args[2:]) if n in commands]
    reply = {}
    for name in names:
        histogram = commands[name].histogram
        calls = sum(histogram)
        if calls:
            reply[name.encode()] = {b"calls": calls, b"histogram_usec": cumulative_usec(histogram)}
    return reply


@command("latency|help", 2, "loading stale", group="server", summary="Returns helpful text about the different subcommands.", since="2.8.13", acl="slow")
def latency_help(ctx: "Context", args: list[bytes]) -> object:
    return [Status(line) for line in _HELP]
