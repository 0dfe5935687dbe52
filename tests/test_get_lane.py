"""The lane (commands/fastlane.py, native parse_multibulk with a lane): GETs and MGETs
answered by the C parser must be indistinguishable from those run through `execute`.

The reference is the same server with the lane switched off; random pipelines of
reads and writes (TTLs, other types, MULTI, wrong arity, mixed case) must give the same
reply bytes, the same keyspace and the same statistics. Then the cases the lane must
leave to the ordinary path, one by one, on a real server process.
"""

from __future__ import annotations

import random
import select
import socket
import tempfile
import time
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hypercache.server.connection as connection_module
from hypercache.keyspace.coldtier import ColdTier
from hypercache.storage import Storage
from hypercache.commands.context import ServerState
from hypercache.commands.fastlane import count_lane_calls, lane_open
from hypercache.config import Config
from hypercache.native import CuckooFilter, HotTier, key_slot, lane_round, parse_multibulk, recv_lane, send_lane_replies
from hypercache.server.connection import RECV_SENT, Connection

from .support import ServerProcess


def multibulk(*args: bytes) -> bytes:
    out = b"*%d\r\n" % len(args)
    for arg in args:
        out += b"$%d\r\n%b\r\n" % (len(arg), arg)
    return out


KEYS = [b"a", b"b", b"{a}c", b"k" * 40, b"L" * 300, b"never-set"]  # (300: past the lane's stack buffer for an internal key)
TICK = (b"<tick>",)  # not sent: moves both servers' clocks past every TTL given
key = st.sampled_from(KEYS)
# Values that look like requests too: a read that splits one from its header must not
# make the lane take it for requests.
value = st.one_of(st.binary(max_size=20), st.sampled_from([multibulk(b"GET", b"a"), multibulk(b"MGET", b"b", b"a")]))
request = st.one_of(
    st.tuples(st.sampled_from([b"GET", b"get", b"gEt"]), st.one_of(key, st.just(b"never-set"))),
    st.lists(key, min_size=0, max_size=4).map(lambda keys: (b"MGET", *keys)),
    st.tuples(st.just(b"SET"), key, value),
    st.lists(st.tuples(key, value), min_size=1, max_size=3).map(
        lambda pairs: (b"MSET", *[part for pair in pairs for part in pair])),  # a key may repeat
    st.tuples(st.just(b"mset"), key),  # wrong arity
    st.tuples(st.sampled_from([b"INCR", b"decr"]), key),
    st.tuples(st.just(b"SET"), key, st.sampled_from([b"0", b"-1", b"9223372036854775807", b"-9223372036854775808",
                                                      b"007", b"-0", b"12a", b"99999999999999999999"])),
    st.tuples(st.just(b"DEL"), key),
    st.tuples(st.just(b"PEXPIRE"), key, st.sampled_from([b"100000", b"-5"])),
    st.tuples(st.just(b"PERSIST"), key),
    st.tuples(st.just(b"APPEND"), key, value),
    st.tuples(st.just(b"CF.ADD"), key, value),  # another type: GET answers WRONGTYPE
    st.tuples(st.just(b"GET")),  # wrong arity
    st.tuples(st.just(b"GET"), key, key),
    st.just((b"MULTI",)),
    st.just((b"EXEC",)),
    st.just(TICK),
)


class Pair:
    """One in-process server with the lane and one without, fed the same bytes; each over
    its own store in `store_dir` (a cold tier with its keyspace filter) if given."""

    def __init__(self, store_dir: Path | None = None, chunk: int = 1 << 20, via_round: bool = False,
                 **config: object) -> None:
        self.chunk = chunk  # bytes per read: requests split across reads at any byte
        self.via_round = via_round  # read as the reactor's round does (native lane_round)
        self.states = [ServerState(Config(**config)) for _ in range(2)]
        self.stores: list[Storage] = []
        for i, state in enumerate(self.states if store_dir is not None else []):
            storage = Storage.open(str(store_dir / f"store{i}"))
            cold = ColdTier(storage, 0.01)
            state.keyspace.attach_cold_tier(cold, *cold.rebuild())
            self.stores.append(storage)
        self.now = 1_700_000_000_000
        self.feeds = 0
        for state in self.states:  # one clock for both, so TTLs compare equal
            state.keyspace._clock = lambda: self.now
        self.socks = [socket.socketpair() for _ in range(2)]
        for pair in self.socks:
            pair[0].setblocking(False)
        self.conns = [Connection(state, pair[0]) for state, pair in zip(self.states, self.socks)]

    def feed(self, monkeypatch: pytest.MonkeyPatch, data: bytes) -> list[bytes]:
        replies = []
        self.feeds += 1
        for i, conn in enumerate(self.conns):
            with monkeypatch.context() as patch:
                chunks = [data[at:at + self.chunk] for at in range(0, len(data), self.chunk)]
                if i == 1:  # the reference: every request through execute()
                    patch.setattr(connection_module, "lane_for", lambda ctx, reply: None)
                    for chunk in chunks:
                        conn.handle_input(chunk)
                else:  # through the socket, as the reactor reads (recv_lane), in the same pieces
                    stats = self.states[0].stats
                    for chunk in chunks:
                        self.socks[0][1].sendall(chunk)
                        until = stats.net_input_bytes + len(chunk)
                        while stats.net_input_bytes < until:
                            assert self._read(conn)
                    count_lane_calls(self.states[0], self.states[0].lane_totals)  # as the round ends
                    sent = b""  # what lane_round sent itself comes before the rest
                    while True:
                        try:
                            sent += self.socks[0][1].recv(1 << 16, socket.MSG_DONTWAIT)
                        except BlockingIOError:
                            break
                    conn.out[:0] = sent
            keyspace = self.states[i].keyspace
            if keyspace.maxmemory:  # as the reactor does after each round
                random.seed(self.feeds)  # both sides pick the same random slots to evict from
                keyspace.enforce_memory_limit()
            replies.append(bytes(conn.out))
            conn.out.clear()
        return replies

    def _read(self, conn: Connection) -> int:
        """One read of the lane side: through lane_round while the reactor would serve the
        client there (via_round), else as the reactor's ordinary path does."""
        entry = conn.lane_entry() if self.via_round and lane_open(conn.ctx.server) else None
        if entry is None:
            return conn.receive()
        state = conn.ctx.server
        keyspace = state.keyspace
        touched: list[int] = []
        pending: list[int] = []
        deltas = [0] * 5
        try:
            index, nread, rest, requests, last, sent, bytes_in, _, wrote = lane_round(
                [(conn.fd, select.EPOLLIN)], 0, {conn.fd: entry}, keyspace.hot_tier_shared_view(state.lane_totals),
                connection_module.RECV_SIZE, touched, True, keyspace.hot_tier_write_view(deltas), pending)
        finally:
            if deltas[0]:
                keyspace.apply_lane_writes(deltas)
        state.stats.net_input_bytes += bytes_in
        if index == 1:  # served whole: sent, or left in `out` (pending) after a write
            assert touched and touched[0] >> 3 == conn.fd
            assert bool(pending) == bool(conn.out)
            return RECV_SENT
        assert nread >= 0 and not touched
        return conn.lane_read(nread, rest, requests, last, sent)

    def close(self) -> None:
        for storage in self.stores:
            storage.close()
        for pair in self.socks:
            for sock in pair:
                sock.close()


def comparable(value: object) -> object:
    """A stored value as something == compares (a filter value by its serialised form)."""
    if value is None or type(value) is bytes:
        return value
    return type(value).__name__, value.to_bytes()  # type: ignore[attr-defined]


def keyspace_snapshot(state: ServerState) -> dict:
    ks = state.keyspace
    stats = state.stats
    get_stats = stats.commands.get("get")
    return {
        "keys": {k: comparable(ks.peek(k)) for k in KEYS},
        "ttls": {k: ks.expire_at(k) for k in KEYS},
        "hits": ks.hits,
        "misses": ks.misses,
        "processed": stats.total_commands_processed,
        "get_calls": get_stats.calls if get_stats else 0,
        "get_histogram_total": sum(get_stats.histogram) if get_stats else 0,
        "mget_calls": stats.commands["mget"].calls if "mget" in stats.commands else 0,
        "negative_lookups": ks.cold.negative_lookups if ks.cold is not None else None,
        "false_positives": ks.cold.false_positives if ks.cold is not None else None,
        "set_calls": stats.commands["set"].calls if "set" in stats.commands else 0,
        # what the write lane must leave exactly as Keyspace.set does
        "counters": (ks.version, ks._size, ks.hot_keys, ks.used_bytes, len(ks._tier), ks._tier.bytes),
        "store": store_snapshot(ks.cold.storage) if ks.cold is not None else None,
        "filter": [k in ks.cold.filter for k in KEYS] if ks.cold is not None else None,
    }


def store_snapshot(storage: Storage) -> tuple:
    """The store's state a write changes: seq, memtable, WAL buffer, byte counts."""
    mem = storage._mem
    items = list(mem.items())
    return (storage.last_seq, mem.last_seq, items, [type(r) for _, r in items],
            mem.approximate_bytes, bytes(storage._wal.buffer), storage._wal._buf_seq,
            storage.counters.user_bytes_written)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(request, min_size=1, max_size=12), min_size=1, max_size=6),
       maxmemory=st.sampled_from([0, 300, 10_000_000]), store=st.booleans(), resp3=st.booleans(),
       chunk=st.one_of(st.just(1 << 20), st.integers(1, 48)), via_round=st.booleans())
def test_lane_answers_exactly_as_execute(monkeypatch: pytest.MonkeyPatch, batches, maxmemory, store, resp3,
                                         chunk, via_round) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pair = Pair(Path(tmp) if store else None, chunk, via_round, maxmemory=maxmemory,
                    maxmemory_policy="allkeys-lru")
        if resp3:
            pair.feed(monkeypatch, multibulk(b"HELLO", b"3"))
        run_pair(monkeypatch, pair, batches)


def run_pair(monkeypatch: pytest.MonkeyPatch, pair: Pair, batches) -> None:
    try:
        for batch in batches:
            pipeline = []
            for req in batch + [TICK]:  # a tick sends what came before it, then moves the clock
                if req != TICK:
                    pipeline.append(multibulk(*req))
                    continue
                with_lane, without = pair.feed(monkeypatch, b"".join(pipeline))
                assert with_lane == without, batch
                # The lane keeps each slot's keys in the same LRU order.
                for slot in {key_slot(k) for k in KEYS}:
                    orders = [state.keyspace._tier.slot_keys_by_age(slot) for state in pair.states]
                    assert orders[0] == orders[1]
                pipeline = []
                pair.now += 200_000
        assert keyspace_snapshot(pair.states[0]) == keyspace_snapshot(pair.states[1])
    finally:
        pair.close()


@pytest.mark.parametrize("store", [False, True])
def test_write_lane_leaves_a_whole_mset_to_python_when_one_pair_needs_it(monkeypatch: pytest.MonkeyPatch,
                                                                           store: bool) -> None:
    """MSET is all or nothing in the write lane: a later pair it cannot set (a key with a
    TTL, a key of another type) sends the whole MSET down the ordinary path, and plain
    SETs and MSETs it can set are its own (counted as such)."""
    with tempfile.TemporaryDirectory() as tmp:
        pair = Pair(Path(tmp) if store else None, via_round=True)
        try:
            pair.feed(monkeypatch, multibulk(b"SET", b"b", b"x") + multibulk(b"PEXPIRE", b"b", b"100000")
                      + multibulk(b"CF.ADD", b"k" * 40, b"item"))
            for later in (b"b", b"k" * 40):
                with_lane, without = pair.feed(monkeypatch, multibulk(b"MSET", b"a", b"1", b"a", b"2", later, b"3"))
                assert with_lane == without
            with_lane, without = pair.feed(monkeypatch, multibulk(b"SET", b"a", b"9") + multibulk(b"MSET", b"{a}c", b"1"))
            assert with_lane == without == b"+OK\r\n" * 2
            assert keyspace_snapshot(pair.states[0]) == keyspace_snapshot(pair.states[1])
            stats = pair.states[0].stats.commands
            assert (stats["set"].calls, stats["mset"].calls) == (2, 3)
        finally:
            pair.close()


def test_write_lane_asks_the_store_about_keys_the_filter_cannot_rule_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SET or MSET over keys not in memory that the filter cannot rule out (a key whose
    value left memory, a false positive) stays in C: the lane asks ColdTier.contains as
    Keyspace._store does, and counts, the filter and the store end up the same."""
    with tempfile.TemporaryDirectory() as tmp:
        pair = Pair(Path(tmp), via_round=True, maxmemory=300, maxmemory_policy="allkeys-lru")
        try:
            pair.feed(monkeypatch, multibulk(b"SET", b"a", b"1") + multibulk(b"SET", b"b", b"x" * 200))
            assert all(state.keyspace.hot_keys == 0 for state in pair.states)  # both values left memory
            for state in pair.states:
                state.keyspace.cold.filter.insert(b"{a}c")  # a false positive
            lane_keyspace = pair.states[0].keyspace

            def not_here(*args: object, **kwargs: object) -> None:
                raise AssertionError("the write lane left a write to Keyspace.set")

            monkeypatch.setattr(lane_keyspace, "set", not_here)
            with_lane, without = pair.feed(monkeypatch, multibulk(b"MSET", b"a", b"2", b"{a}c", b"3", b"a", b"4")
                                           + multibulk(b"SET", b"b", b"y"))
            assert with_lane == without == b"+OK\r\n" * 2
            monkeypatch.undo()
            assert lane_keyspace.cold.false_positives == 1 and len(lane_keyspace) == 3
            assert keyspace_snapshot(pair.states[0]) == keyspace_snapshot(pair.states[1])
        finally:
            pair.close()


def test_requests_cut_between_reads_still_take_the_lane(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream of requests that straddle reads (redis-cli --pipe) keeps to the C parser
    and the lane: a request cut short is parsed again whole once the rest is in, not
    resumed by the Python reader (which left every later request to the slow path)."""
    with tempfile.TemporaryDirectory() as tmp:
        pair = Pair(Path(tmp), chunk=48)
        try:
            def not_here(*args: object, **kwargs: object) -> None:
                raise AssertionError("a SET went down the ordinary path")

            monkeypatch.setattr(pair.states[0].keyspace, "set", not_here)
            stream = b"".join(multibulk(b"SET", b"key:%d" % i, b"v%d" % i) for i in range(30))
            with_lane, without = pair.feed(monkeypatch, stream)
            assert with_lane == without == b"+OK\r\n" * 30
            monkeypatch.undo()
            assert keyspace_snapshot(pair.states[0]) == keyspace_snapshot(pair.states[1])
            assert pair.states[0].keyspace.peek(b"key:29") == b"v29"
        finally:
            pair.close()


@pytest.mark.parametrize("via_round", [False, True])
def test_write_lane_incr_moves_its_key_in_lru_order(monkeypatch: pytest.MonkeyPatch, via_round: bool) -> None:
    """Under a memory limit an INCR reads its key first, which moves it to the end of its
    slot's LRU order, in the lane as in Keyspace._fetch (found by the differential test)."""
    with tempfile.TemporaryDirectory() as tmp:
        run_pair(monkeypatch, Pair(Path(tmp), via_round=via_round, maxmemory=10_000_000,
                                   maxmemory_policy="allkeys-lru"),
                 [[(b"INCR", b"{a}c"), (b"SET", b"a", b""), (b"INCR", b"{a}c")]])


@pytest.mark.parametrize("via_round", [False, True])
def test_writes_move_their_key_in_lru_order(monkeypatch: pytest.MonkeyPatch, via_round: bool) -> None:
    """A SET, an MSET or an INCR of a key in memory makes it its slot's most recently
    used (Redis's writes touch the LRU clock), in the lane as in Keyspace._store, with
    or without a memory limit."""
    expected = [b"{a}c", b"{a}b", b"a", b"{a}d"]
    for limit in (10_000_000, 0):
        with tempfile.TemporaryDirectory() as tmp:
            pair = Pair(Path(tmp), via_round=via_round, maxmemory=limit, maxmemory_policy="allkeys-lru")
            try:
                for req in ((b"SET", b"a", b"1"), (b"SET", b"{a}b", b"2"), (b"SET", b"{a}c", b"3"),
                            (b"SET", b"{a}d", b"4")):
                    pair.feed(monkeypatch, multibulk(*req))
                for req in ((b"SET", b"{a}c", b"x"), (b"INCR", b"{a}b"), (b"MSET", b"a", b"y", b"{a}d", b"z")):
                    with_lane, without = pair.feed(monkeypatch, multibulk(*req))
                    assert with_lane == without
                for state in pair.states:
                    assert state.keyspace._tier.slot_keys_by_age(key_slot(b"a")) == expected
            finally:
                pair.close()


def test_lane_serves_hits_and_counts_them(monkeypatch: pytest.MonkeyPatch) -> None:
    pair = Pair()
    try:
        pair.feed(monkeypatch, multibulk(b"SET", b"a", b"1"))
        data = multibulk(b"GET", b"a") * 5 + multibulk(b"GET", b"zz") + multibulk(b"GET", b"a")
        with_lane, without = pair.feed(monkeypatch, data)
        assert with_lane == without == b"$1\r\n1\r\n" * 5 + b"$-1\r\n" + b"$1\r\n1\r\n"
        state = pair.states[0]
        assert state.stats.commands["get"].calls == 7
        assert (state.keyspace.hits, state.keyspace.misses) == (6, 1)
    finally:
        pair.close()


def test_native_lane_keeps_request_order() -> None:
    """A GET after a request still to run is not answered ahead of it."""
    tier = HotTier()
    tier.set(b"a", b"old")
    reply = bytearray()
    out: list[list[bytes]] = []
    totals = [0] * 14  # keys read, nulls, then calls and ns per command code (GET at 2, MGET at 4, ...)
    buf = multibulk(b"GET", b"a") + multibulk(b"SET", b"a", b"new") + multibulk(b"GET", b"a")
    pos, last = parse_multibulk(buf, 0, out, 1 << 20, (tier, {}, reply, None, False, totals))
    assert (totals[2], last, out, bytes(reply)) == (1, 1, [[b"SET", b"a", b"new"]], b"$3\r\nold\r\n")
    assert pos == len(multibulk(b"GET", b"a") + multibulk(b"SET", b"a", b"new"))  # before the 2nd GET
    # A key with a TTL entry, a non-bytes value, a key the filter may hold: all left to
    # the ordinary path.
    tier.set(b"t", b"v", True)  # held with its TTL flag
    tier.set(b"o", object())
    keyspace_filter = CuckooFilter.for_fpp(1000, 0.01)
    keyspace_filter.insert(b"cold")
    out = []
    buf = multibulk(b"GET", b"t") + multibulk(b"GET", b"o") + multibulk(b"GET", b"cold")
    buf += multibulk(b"MGET", b"a", b"t") + multibulk(b"MGET", *[b"a"] * 65)
    totals = [0] * 14
    lane = (tier, {b"t": 1}, reply, keyspace_filter, False, totals)
    pos, last = parse_multibulk(buf, 0, out, 1 << 20, lane)
    assert (pos, last, totals) == (len(buf), 0, [0] * 14)
    assert out[:3] == [[b"GET", b"t"], [b"GET", b"o"], [b"GET", b"cold"]]
    assert out[3] == [b"MGET", b"a", b"t"] and len(out[4]) == 66  # a TTL; over 64 keys
    # An MGET of hits and a key the filter rules out: one array reply, counted by keys.
    for resp3, null in ((False, b"$-1\r\n"), (True, b"_\r\n")):
        reply.clear()
        totals = [0] * 14
        lane = (tier, {}, reply, keyspace_filter, resp3, totals)
        _, last = parse_multibulk(multibulk(b"mget", b"a", b"absent", b"a"), 0, [], 1 << 20, lane)
        assert last == 2 and totals[:3] + totals[4:5] + totals[6:] == [3, 1, 0, 1] + [0] * 8
        assert bytes(reply) == b"*3\r\n$3\r\nold\r\n" + null + b"$3\r\nold\r\n"
    # Without a filter (a pure cache) memory is everything: a miss is a null.
    reply.clear()
    totals = [0] * 14
    parse_multibulk(multibulk(b"GET", b"cold"), 0, [], 1 << 20, (tier, {}, reply, None, False, totals))
    assert (totals[2], totals[0], totals[1], bytes(reply)) == (1, 1, 1, b"$-1\r\n")
    with pytest.raises(TypeError):
        parse_multibulk(buf, 0, [], 100, ([{}] * 16384, {}, reply, None, False, totals))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("lane"), "--appendonly", "no") as proc:
        yield proc


def test_lane_closed_to_multi_monitor_and_slowlog(server) -> None:
    r = redis.Redis(port=server.port)
    r.set("k", "v")
    # Inside MULTI a GET is queued, not answered.
    pipe = r.pipeline(transaction=True)
    pipe.get("k")
    pipe.set("k", "w")
    pipe.get("k")
    assert pipe.execute() == [b"v", True, b"w"]
    # A MONITOR client sees GETs.
    with r.monitor() as monitor:
        for _ in range(3):
            r.get("k")
        seen = [monitor.next_command()["command"] for _ in range(6)]  # after HELLO, CLIENT ...
    assert "GET k" in seen
    # With a slow-log threshold of 0 every GET is logged, so none is answered by the lane.
    r.config_set("slowlog-log-slower-than", 0)
    try:
        r.slowlog_reset()
        r.get("k")
        assert any(entry["command"] == b"GET k" for entry in r.slowlog_get())
    finally:
        r.config_set("slowlog-log-slower-than", 10000)
    # TTLs: a key past its time is a miss, reaped on read, as without the lane.
    r.set("t", "v", px=50)
    assert r.get("t") == b"v"
    time.sleep(0.1)
    assert r.get("t") is None
    assert r.exists("t") == 0
    info = r.info("commandstats")["cmdstat_get"]
    assert info["calls"] >= 6


def test_lane_moves_a_hit_to_the_lru_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a memory limit a GET makes its key the most recently used, as _fetch does."""
    pair = Pair(maxmemory=10_000_000, maxmemory_policy="allkeys-lru")
    try:
        pair.feed(monkeypatch, multibulk(b"SET", b"a", b"1") + multibulk(b"SET", b"{a}c", b"2"))
        pair.feed(monkeypatch, multibulk(b"GET", b"a"))
        for state in pair.states:
            assert state.keyspace._tier.slot_keys_by_age(key_slot(b"a")) == [b"{a}c", b"a"]
        assert pair.states[0].stats.commands["get"].calls == 1  # answered by the lane
    finally:
        pair.close()


def test_recv_lane_reads_parses_and_hands_back_the_rest() -> None:
    """native recv_lane: one recv, the lane's answers (added to the running totals), the
    requests it parsed and the bytes it did not take; EAGAIN and EOF as socket.recv."""
    tier = HotTier()
    tier.set(b"a", b"1")
    reply = bytearray()
    totals = [0] * 14
    lane = (tier, {}, reply, None, False, totals)
    ours, theirs = socket.socketpair()
    try:
        ours.setblocking(False)
        with pytest.raises(BlockingIOError):
            recv_lane(ours.fileno(), 1024, [], 1 << 20, lane, False)
        partial = multibulk(b"SET", b"a", b"2")[:7]
        theirs.sendall(multibulk(b"GET", b"a") + multibulk(b"DEL", b"a") + multibulk(b"GET", b"a") + partial)
        out: list[list[bytes]] = []
        nread, rest, last, sent = recv_lane(ours.fileno(), 1024, out, 1 << 20, lane, False)
        assert nread == len(multibulk(b"GET", b"a") * 2 + multibulk(b"DEL", b"a") + partial)
        assert out == [[b"DEL", b"a"]]  # it stopped before the second GET (after a request to run)
        assert rest == multibulk(b"GET", b"a") + partial
        assert bytes(reply) == b"$1\r\n1\r\n" and last == 1 and sent == 0
        assert (totals[0], totals[1], totals[2]) == (1, 0, 1) and totals[4:] == [0] * 10
        theirs.sendall(multibulk(b"MGET", b"a", b"b"))
        assert recv_lane(ours.fileno(), 1024, [], 1 << 20, lane, False)[2] == 2
        assert (totals[2], totals[4], totals[0], totals[1]) == (1, 1, 3, 1)
        theirs.close()
        assert recv_lane(ours.fileno(), 1024, [], 1 << 20, lane, False)[:2] == (0, b"")
    finally:
        ours.close()
        theirs.close()


def test_recv_lane_sends_a_read_it_answered_whole_and_only_that() -> None:
    """With send=True recv_lane sends the replies of a read the lane answered whole and
    removes them from the reply buffer; a read with a request left for Python sends
    nothing (its replies keep their order); a full socket keeps the unsent rest."""
    tier = HotTier()
    tier.set(b"a", b"v" * 1000)
    reply = bytearray()
    lane = (tier, {}, reply, None, False, [0] * 14)
    ours, theirs = socket.socketpair()
    try:
        ours.setblocking(False)
        theirs.sendall(multibulk(b"GET", b"a") * 2)
        nread, rest, last, sent = recv_lane(ours.fileno(), 1024, [], 1 << 20, lane, True)
        expected = b"$1000\r\n" + b"v" * 1000 + b"\r\n"
        assert (rest, last, sent, bytes(reply)) == (b"", 1, 2 * len(expected), b"")
        assert theirs.recv(4096) == expected * 2
        theirs.sendall(multibulk(b"GET", b"a") + multibulk(b"DEL", b"a"))
        out: list[list[bytes]] = []
        assert recv_lane(ours.fileno(), 1024, out, 1 << 20, lane, True)[3] == 0
        assert out == [[b"DEL", b"a"]] and bytes(reply) == expected
        reply.clear()
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        total = 0
        for _ in range(200):  # until the socket is full: the rest stays in `reply`
            theirs.sendall(multibulk(b"GET", b"a"))
            total += recv_lane(ours.fileno(), 1024, [], 1 << 20, lane, True)[3]
            if reply:
                break
        assert reply and total + len(reply) == len(expected) * (_ + 1)
        received = b""
        theirs.setblocking(False)
        while len(received) < total:
            received += theirs.recv(1 << 16)
        assert received == (expected * (_ + 1))[:total]
    finally:
        ours.close()
        theirs.close()


def test_lane_round_serves_quiet_clients_and_stops_at_the_first_it_cannot() -> None:
    """native lane_round: reads answered whole are sent and listed in `touched`; a client
    it has no entry for, an event that is not a plain EPOLLIN, pending replies, EOF and a
    read with requests for Python stop it there (with what it read, if it read)."""
    tier = HotTier()
    tier.set(b"a", b"1")
    totals = [0] * 14
    shared = (tier, {}, None, totals)
    pairs = [socket.socketpair() for _ in range(4)]
    try:
        for ours, _ in pairs:
            ours.setblocking(False)
        fds = [ours.fileno() for ours, _ in pairs]
        replies = [bytearray() for _ in pairs]
        lanes = {fd: (reply, False, 1 << 20) for fd, reply in zip(fds, replies)}
        touched: list[int] = []
        pairs[0][1].sendall(multibulk(b"GET", b"a"))
        pairs[1][1].sendall(multibulk(b"MGET", b"a", b"b") + multibulk(b"SET", b"b", b"2"))
        events = [(fds[0], select.EPOLLIN), (fds[2], select.EPOLLIN), (fds[1], select.EPOLLIN),
                  (fds[3], select.EPOLLIN | select.EPOLLHUP)]
        # fds[2] has nothing to read (a spurious wake-up): skipped; fds[1] has a SET to run
        index, nread, rest, requests, last, sent, bytes_in, bytes_out, wrote = lane_round(
            events, 0, lanes, shared, 16384, touched, True, None, [])  # the write lane closed
        assert (index, rest, requests, last, wrote) == (2, b"", [[b"SET", b"b", b"2"]], 2, 0)
        assert nread == len(multibulk(b"MGET", b"a", b"b") + multibulk(b"SET", b"b", b"2")) and sent == 0
        assert bytes(replies[1]) == b"*2\r\n$1\r\n1\r\n$-1\r\n"  # kept for after the SET
        assert touched == [fds[0] << 3 | 1] and pairs[0][1].recv(100) == b"$1\r\n1\r\n"
        assert (bytes_in, bytes_out) == (len(multibulk(b"GET", b"a")), 7)
        assert totals == [3, 1, 1, totals[3], 1, totals[5]] + [0] * 8
        # the next event is not a plain EPOLLIN: not read
        assert lane_round(events, 3, lanes, shared, 16384, [], True, None, [])[:4] == (3, -1, None, None)
        # a client without an entry, and one with replies pending: not read
        assert lane_round([(fds[3], select.EPOLLIN)], 0, {}, shared, 16384, [], True, None, [])[:2] == (0, -1)
        pairs[1][1].sendall(multibulk(b"GET", b"a"))
        assert lane_round([(fds[1], select.EPOLLIN)], 0, lanes, shared, 16384, [], True, None, [])[:2] == (0, -1)
        pairs[3][1].close()  # EOF: handed back as a read of 0 bytes
        assert lane_round([(fds[3], select.EPOLLIN)], 0, lanes, shared, 16384, [], True, None, [])[:3] == (0, 0, b"")
        assert lane_round([], 0, lanes, shared, 16384, [], True, None, [])[:2] == (0, -1)
    finally:
        for pair in pairs:
            for sock in pair:
                sock.close()


def test_send_lane_replies_sends_what_waited_and_reports_full_sockets() -> None:
    """native send_lane_replies: each listed lane client's waiting replies go out and
    leave its buffer; an fd without a lanes entry is skipped; a full socket keeps the
    rest and is reported in `blocked`."""
    pairs = [socket.socketpair() for _ in range(2)]
    try:
        for ours, _ in pairs:
            ours.setblocking(False)
        pairs[1][0].setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        fds = [ours.fileno() for ours, _ in pairs]
        replies = [bytearray(b"+OK\r\n"), bytearray(b"x" * (1 << 20))]
        lanes = {fd: (reply, False, 1 << 20) for fd, reply in zip(fds, replies)}
        blocked: list[int] = []
        sent = send_lane_replies([fds[0], fds[1], 9999], lanes, blocked)
        assert replies[0] == b"" and pairs[0][1].recv(100) == b"+OK\r\n"
        assert blocked == [fds[1]] and 0 < len(replies[1]) < 1 << 20
        assert sent == 5 + (1 << 20) - len(replies[1])
    finally:
        for pair in pairs:
            for sock in pair:
                sock.close()


def test_a_value_split_after_its_header_is_not_read_as_requests() -> None:
    """A read that ends right after a bulk's header leaves the reader holding a request
    in progress with no bytes: the next read is that value, even when it looks like a
    GET, and must not go to the lane as requests of their own."""
    state = ServerState(Config())
    ours, theirs = socket.socketpair()
    try:
        ours.setblocking(False)
        conn = Connection(state, ours)
        sneaky = multibulk(b"GET", b"k")  # the value of SET k: it looks like a request
        first = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % len(sneaky)
        theirs.sendall(first)
        assert conn.receive()
        second = sneaky + b"\r\n" + multibulk(b"GET", b"k")
        theirs.sendall(second)
        while state.stats.net_input_bytes < len(first) + len(second):
            assert conn.receive()
        assert bytes(conn.out) == b"+OK\r\n$%d\r\n%b\r\n" % (len(sneaky), sneaky)
        assert state.keyspace.peek(b"k") == sneaky
    finally:
        ours.close()
        theirs.close()


def test_a_failing_lane_closes_its_clients_and_the_server_carries_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """If native lane_round ever raises (a bug), the reactor logs it, closes the clients
    it may have read from and serves everyone on the ordinary path from then on."""
    import trio

    import hypercache.server.reactor as reactor_module
    from hypercache.server.reactor import Reactor

    def broken(*args: object) -> None:
        raise RuntimeError("a bug in the lane")

    listener = socket.create_server(("127.0.0.1", 0))

    def tcp_pair() -> tuple[socket.socket, socket.socket]:
        client = socket.create_connection(listener.getsockname())
        return client, listener.accept()[0]

    def closed(sock: socket.socket) -> bool:
        try:
            return sock.recv(100) == b""
        except ConnectionResetError:  # closed with the GET unread
            return True

    async def main() -> None:
        state = ServerState(Config())
        reactor = Reactor(state)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reactor.run)
            first, served_first = tcp_pair()
            reactor.add(trio.socket.from_stdlib_socket(served_first))
            first.sendall(multibulk(b"SET", b"a", b"1"))
            await trio.to_thread.run_sync(first.recv, 100)  # now a quiet lane client
            assert first.fileno() and reactor.lanes
            monkeypatch.setattr(reactor_module, "lane_round", broken)
            first.sendall(multibulk(b"GET", b"a"))
            assert await trio.to_thread.run_sync(closed, first)
            assert reactor.lane_failed
            second, served_second = tcp_pair()
            reactor.add(trio.socket.from_stdlib_socket(served_second))
            for _ in range(2):  # quiet again after the first: still the ordinary path
                second.sendall(multibulk(b"GET", b"a"))
                assert await trio.to_thread.run_sync(second.recv, 100) == b"$1\r\n1\r\n"
            first.close()
            second.close()
            nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        listener.close()
