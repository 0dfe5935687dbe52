"""The lane: the commonest requests answered by the C request parser itself.

A GET that hits the hot tier is the server's most common request and its cheapest
work: a dict look-up and a bulk reply. Through `execute` it costs ~5 µs of Python
(resolve, checks, timing, the keyspace's layers, the reply writer); answered where it
is parsed (native parse_multibulk, hc_resp.h) it costs a fraction of one. The lane
answers only what `Keyspace._fetch` would answer without reading the store and without
side effects beyond its LRU touch: for a key with no expiry entry, the bytes value in
its slot's dict, or a null when no dict holds it and the keyspace filter rules it out
(an MGET of up to 64 keys only when every key is answered so). Everything else (TTLs,
other types, keys the filter may hold) takes the ordinary path.

The write lane (hc_lane_set.c) does the same for
SET key value, MSET, INCR and DECR: what Keyspace.set does for a key with no expiry
entry whose value in memory is a string or that is not in memory (the WAL record, the
memtable entry with its key in its slot's unsorted list, the hot tier, the filter). For
a SET or MSET of a key not in memory that the filter cannot rule out it asks
ColdTier.contains whether the store holds it live, as Keyspace._store does; an INCR of
such a key needs the stored value and takes the ordinary path.
Keyspace.hot_tier_write_view says when it is open; apply_lane_writes takes in its
counters after each call.

How requests get there: while a client is quiet (nothing pending), the reactor hands
its read events to native lane_round, which reads, answers and sends without Python
per client (replies that depend on a write wait for the round's WAL write, then go out
through native send_lane_replies); otherwise reads go through native recv_lane or the
Python reader with the lane. What the lane answered is counted into the statistics
once a round and before any other command runs (count_lane_calls).

The lane is open to a client only while nothing else would have to see its commands:
authenticated, not inside MULTI, no MONITOR client, not loading, and no slow-log or
latency-monitor threshold under LANE_MIN_SLOW_USEC (a dict look-up never takes that
long, so no call the lane answers would have been logged); the write lane also not
while a WATCH or a write listener must see each write.

Whatever later changes what a command must see (cluster routing: MOVED/ASK for a slot
this node does not serve; CLIENT PAUSE; ACL key patterns; keyspace notifications) must
close the lane for it here, or teach hc_resp.c and hc_lane_set.c the same rule.
"""

from __future__ import annotations

from hypercache.commands.context import Context, ServerState
from hypercache.commands.dispatch import record_calls

LANE_MIN_SLOW_USEC = 1000


def lane_open(server: ServerState) -> bool:
    """Is the lane open at all (the conditions that concern every client)?"""
    return not (server.loading or server.monitors or server.slow_usec < LANE_MIN_SLOW_USEC)


def lane_for(ctx: Context, reply: bytearray) -> tuple | None:
    """The lane argument for the reader, or None while the client must take the
    ordinary path for every request."""
    server = ctx.server
    if ctx.multi is not None or not ctx.authenticated or not lane_open(server):
        return None
    return ctx.keyspace.hot_tier_view(reply, ctx.proto == 3, server.lane_totals, server.lane_deltas)


# By the command codes the native lane reports (hc_lane.h: LANE_GET ...).
LANE_COMMANDS = (None, "get", "mget", "set", "mset", "incr", "decr")


def count_lane_calls(state: ServerState, counts: list[int]) -> None:
    """Count what the lane answered as `call` counts a call (INFO commandstats,
    latencystats, keyspace hits and misses: one per key read), then zero `counts`
    (the server's lane_totals, which the native lane adds to: keys read, the nulls
    among them, then calls and their ns per command of LANE_COMMANDS, code c at 2c and
    2c + 1). Called once a round and before any other command runs, so INFO never
    shows them late."""
    commands = state.table.commands
    stats = state.stats
    for code in range(1, len(LANE_COMMANDS)):
        calls = counts[2 * code]
        if calls:
            record_calls(stats, commands[LANE_COMMANDS[code].encode()], calls, counts[2 * code + 1])
    if counts[0]:
        state.keyspace.count_lane_reads(counts[0], counts[1])
    counts[:] = (0,) * len(counts)


def lane_answered(counts: list[int]) -> bool:
    """Has the lane answered anything not yet counted (count_lane_calls)?"""
    return any(counts[2::2])
