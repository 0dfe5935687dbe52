"""SLOWLOG, LATENCY, MONITOR and INFO latencystats, compared with a real Redis where the
reply's shape matters (timestamps, durations and ports differ, so they are normalised)."""

from __future__ import annotations

import random
import re
import socket
import time

import pytest
import redis

from hypercache.commands import latency
from tests.support import RedisReference, ServerProcess, raw_reply, read_until_quiet


@pytest.fixture(scope="module")
def hc_port():
    srv = ServerProcess("--appendonly", "no").start()
    yield srv.port
    srv.cleanup()


@pytest.fixture(scope="module")
def ref_port():
    if not RedisReference.available():
        pytest.skip("redis-server is not installed")
    ref = RedisReference("--enable-debug-command", "yes").start()
    yield ref.port
    ref.stop()


@pytest.fixture
def pair(hc_port, ref_port):
    """(hypercache, redis) RESP2 clients with the slow log and latency monitor reset."""
    clients = [redis.Redis(port=p, protocol=2, socket_timeout=10) for p in (hc_port, ref_port)]
    for c in clients:
        c.flushall()  # first: it may itself be slow enough for the slow log
        c.config_set("slowlog-log-slower-than", 10000)
        c.config_set("slowlog-max-len", 128)
        c.config_set("latency-monitor-threshold", 0)
        c.execute_command("SLOWLOG", "RESET")
        c.execute_command("LATENCY", "RESET")
    yield clients
    for c in clients:
        c.close()


def both(pair, *args):
    """The same command on both servers: (hypercache's reply or error, redis's)."""
    out = []
    for client in pair:
        try:
            out.append(client.execute_command(*args))
        except redis.ResponseError as err:
            out.append(f"error: {err}")
    return out


def pairs(flat: list) -> dict:
    return dict(zip(flat[::2], flat[1::2]))


def entry_shape(entry: list) -> tuple:
    """A slow log entry without what differs between servers (time, µs, the port)."""
    ident, when, usec, args, addr, name = entry
    assert isinstance(ident, int) and isinstance(when, int) and isinstance(usec, int)
    assert abs(when - time.time()) < 60 and usec >= 0
    assert re.fullmatch(rb"127\.0\.0\.1:\d+", addr), addr
    return tuple(args), name


# ---- histograms (the arithmetic dispatch inlines) --------------------------------------


def test_bucket_formula_brackets_every_value():
    rnd = random.Random(6)
    for ns in list(range(300)) + [rnd.randrange(1, 2**45) for _ in range(20000)] + [2**63 - 1]:
        index = latency.bucket_of(ns)
        assert index < latency.HISTOGRAM_SIZE
        assert latency.bucket_high(index) >= ns
        assert index == 0 or latency.bucket_high(index - 1) < ns
        # the bucket is at most 1/16 of its values wide
        assert latency.bucket_high(index) - ns <= max(1, ns // 16)


def test_dispatch_fast_table_agrees_with_bucket_of():
    for ns in range(256, latency.FAST_LIMIT_NS):
        assert latency.FAST_BUCKET[ns >> 4] == latency.bucket_of(ns)


def test_percentiles_and_cumulative_histogram():
    hist = latency.new_histogram()
    for ns in [1_000] * 50 + [10_000] * 49 + [1_000_000]:
        hist[latency.bucket_of(ns)] += 1
    assert latency.percentile_ns(hist, 50) == latency.bucket_high(latency.bucket_of(1_000))
    assert 10_000 <= latency.percentile_ns(hist, 99) < 10_700
    assert 1_000_000 <= latency.percentile_ns(hist, 99.9) < 1_070_000
    # Redis's buckets: 1024 ns doubling, keyed by whole µs
    assert latency.cumulative_usec(hist) == {1: 50, 16: 99, 1048: 100}


# ---- SLOWLOG ----------------------------------------------------------------------------


def test_slowlog_help_len_and_errors_match_redis(pair):
    hc, ref = both(pair, "SLOWLOG", "HELP")
    assert hc == ref
    for args in [("SLOWLOG", "GET", "-2"), ("SLOWLOG", "GET", "x"), ("SLOWLOG", "GET", "1", "2"),
                 ("SLOWLOG", "NOPE"), ("SLOWLOG", "LEN", "x"), ("SLOWLOG",)]:
        hc, ref = both(pair, *args)
        assert hc == ref, args
    assert both(pair, "SLOWLOG", "LEN") == [0, 0]


def test_slowlog_entries_match_redis(pair):
    for client in pair:
        client.config_set("slowlog-log-slower-than", 0)
        client.set("a", "b")
        port = client.connection_pool.connection_kwargs["port"]
        with socket.create_connection(("127.0.0.1", port)) as sock:  # redis-py would reconnect
            sock.sendall(_resp(b"AUTH", b"secret"))
            assert sock.recv(1000).startswith(b"-ERR AUTH")
        client.execute_command("CLIENT", "SETNAME", "worker")
        client.set("long", "x" * 200)
        client.execute_command("MSET", *[f"k{i}" for i in range(40)])
    hc, ref = both(pair, "SLOWLOG", "GET", "-1")
    assert [entry_shape(e) for e in hc] == [entry_shape(e) for e in ref]
    assert [e[0] for e in hc] == sorted((e[0] for e in hc), reverse=True)  # newest first
    assert hc[0][3][-1] == b"... (10 more arguments)" and len(hc[0][3]) == 32
    assert hc[1][3][2] == b"x" * 128 + b"... (72 more bytes)"
    assert (b"AUTH", b"(redacted)") in [tuple(e[3]) for e in hc]
    hc, ref = both(pair, "SLOWLOG", "GET", "2")
    assert len(hc) == len(ref) == 2
    hc, ref = both(pair, "SLOWLOG", "LEN")
    assert hc == ref


def test_slowlog_threshold_max_len_and_reset(pair):
    hc = pair[0]
    hc.set("x", "1")
    assert hc.execute_command("SLOWLOG", "LEN") == 0  # 10 ms default: nothing this fast
    hc.config_set("slowlog-log-slower-than", 0)
    hc.config_set("slowlog-max-len", 3)
    for i in range(10):
        hc.set("x", i)
    entries = hc.execute_command("SLOWLOG", "GET")
    assert len(entries) == 3
    last_id = entries[0][0]
    hc.config_set("slowlog-log-slower-than", -1)
    for i in range(5):
        hc.set("x", i)
    assert hc.execute_command("SLOWLOG", "GET")[0][0] == last_id + 1  # only CONFIG SET itself
    assert hc.execute_command("SLOWLOG", "RESET") == b"OK"
    assert hc.execute_command("SLOWLOG", "LEN") == 0
    hc.config_set("slowlog-log-slower-than", 0)
    hc.set("x", "y")
    assert hc.execute_command("SLOWLOG", "GET")[-1][0] > last_id  # ids go on after RESET


def test_exec_is_not_in_the_slowlog_but_its_commands_are(pair):
    for client in pair:
        client.config_set("slowlog-log-slower-than", 0)
        pipe = client.pipeline(transaction=True)
        pipe.set("t", "1").incr("t")
        pipe.execute()
    hc, ref = both(pair, "SLOWLOG", "GET", "4")
    assert [entry_shape(e) for e in hc] == [entry_shape(e) for e in ref]


# ---- LATENCY ------------------------------------------------------------------------------


def test_latency_errors_and_empty_replies_match_redis(pair):
    for args in [("LATENCY", "LATEST"), ("LATENCY", "HISTORY", "command"), ("LATENCY", "RESET"),
                 ("LATENCY", "RESET", "a", "b"), ("LATENCY", "LATEST", "x"), ("LATENCY", "HISTORY"),
                 ("LATENCY", "NOPE"), ("LATENCY",), ("LATENCY", "HISTOGRAM", "nosuchcommand")]:
        hc, ref = both(pair, *args)
        assert hc == ref, args


def test_latency_monitor_events_have_redis_shapes(pair):
    hc, ref = pair
    for client in pair:
        client.config_set("latency-monitor-threshold", 1)
    ref.execute_command("DEBUG", "SLEEP", "0.01")
    # A command that takes well over 1 ms here: MSET of many keys.
    hc.execute_command("MSET", *[b"k%d" % i for i in range(40000)])
    latest_hc, latest_ref = (c.execute_command("LATENCY", "LATEST") for c in pair)
    for latest in (latest_hc, latest_ref):
        assert len(latest) == 1
        event, when, last_ms, max_ms = latest[0]
        assert event == b"command" and abs(when - time.time()) < 60 and 1 <= last_ms <= max_ms
    history_hc, history_ref = (c.execute_command("LATENCY", "HISTORY", "command") for c in pair)
    for history in (history_hc, history_ref):
        assert len(history) == 1 and len(history[0]) == 2
        assert all(isinstance(v, int) for v in history[0])
    assert both(pair, "LATENCY", "RESET", "command", "command", "nope") == [1, 1]
    assert both(pair, "LATENCY", "LATEST") == [[], []]


def test_latency_histogram_shape_matches_redis(pair):
    for client in pair:
        client.set("h", "1")
        client.get("h")
        client.get("h")
    hc, ref = (pairs(r) for r in both(pair, "LATENCY", "HISTOGRAM", "get", "set", "nosuch"))
    assert set(hc) == set(ref) == {b"get", b"set"}
    for reply in (hc, ref):
        get = pairs(reply[b"get"])
        assert get[b"calls"] == 2
        buckets = get[b"histogram_usec"]
        counts = list(zip(buckets[::2], buckets[1::2]))
        assert counts[-1][1] == 2 and [c for _, c in counts] == sorted(c for _, c in counts)
        assert all(k in (1, 2, 4, 8, 16, 32, 65, 131, 262, 524, 1048, 2097, 4194, 8388) for k, _ in counts)


# ---- INFO latencystats --------------------------------------------------------------------


LATENCY_LINE = re.compile(r"latency_percentiles_usec_([a-z|.\-]+):p50=\d+\.\d{3},p99=\d+\.\d{3},p99\.9=\d+\.\d{3}")


def test_info_latencystats_matches_redis_format(pair):
    for client in pair:
        client.set("i", "1")
        client.get("i")
    hc_text, ref_text = (raw_reply(c, "INFO", "latencystats").decode() for c in pair)
    for text in (hc_text, ref_text):
        lines = text.split("\r\n")
        assert lines[0] == "# Latencystats"
        names = {LATENCY_LINE.fullmatch(line).group(1) for line in lines[1:] if line}
        assert {"get", "set", "config|set"} <= names
    hc, ref = pair
    assert "# Latencystats" not in raw_reply(hc, "INFO").decode()  # not a default section
    assert "# Latencystats" in raw_reply(hc, "INFO", "all").decode()
    assert [pairs(raw_reply(c, "CONFIG", "GET", "latency-tracking*")) for c in pair] == [
        {b"latency-tracking": b"yes", b"latency-tracking-info-percentiles": b"50 99 99.9"}] * 2
    for client in pair:
        client.config_set("latency-tracking-info-percentiles", "50 99.99")
    hc_text, ref_text = (raw_reply(c, "INFO", "latencystats").decode() for c in pair)
    shapes = [re.sub(r"\d+\.\d{3}", "N", text.split("\r\n")[1].split(":")[1]) for text in (hc_text, ref_text)]
    assert shapes[0] == shapes[1] == "p50=N,p99.99=N"
    for client in pair:
        client.config_set("latency-tracking-info-percentiles", "50 99 99.9")
    hc.config_set("latency-tracking", "no")
    assert raw_reply(hc, "INFO", "latencystats").decode().strip() == "# Latencystats"
    hc.config_set("latency-tracking", "yes")


# ---- MONITOR ------------------------------------------------------------------------------


def _resp(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


MONITORED = [
    (b"set", b"k", b'v\n"x\x01\xff\\'),
    (b"get", b"nokey"),
    (b"nosuch",),
    (b"get",),
    (b"auth", b"pw"),
    (b"hello", b"3", b"auth", b"default", b"pw"),
    (b"config", b"get", b"maxmemory"),
    (b"client", b"list"),
    (b"multi",),
    (b"set", b"a", b"1"),
    (b"incr", b"a"),
    (b"exec",),
    (b"select", b"0"),
    (b"incr", b"k"),
    (b"PING",),
]


def monitor_session(port: int) -> list[bytes]:
    """The lines a MONITOR client sees while another client runs MONITORED."""
    with socket.create_connection(("127.0.0.1", port)) as mon, socket.create_connection(("127.0.0.1", port)) as cli:
        mon.sendall(b"MONITOR\r\n")
        assert read_until_quiet(mon, 0.2) == b"+OK\r\n"
        for args in MONITORED:
            cli.sendall(_resp(*args))
            read_until_quiet(cli, 0.05)
        lines = read_until_quiet(mon, 0.3).split(b"\r\n")
        mon.sendall(b"RESET\r\n")
        assert read_until_quiet(mon, 0.2).startswith(b"+RESET\r\n")
        cli.sendall(_resp(b"ping"))
        read_until_quiet(cli, 0.05)
        mon.sendall(b"PING\r\n")
        assert read_until_quiet(mon, 0.2) == b"+PONG\r\n"  # monitor mode is over
    return [line for line in lines if line]


MONITOR_LINE = re.compile(rb'\+(\d{10})\.(\d{6}) \[0 127\.0\.0\.1:(\d+)\]((?: "(?:[^"\\]|\\.)*")+)')


def test_monitor_lines_match_redis(hc_port, ref_port):
    hc_lines, ref_lines = monitor_session(hc_port), monitor_session(ref_port)

    def normalise(lines: list[bytes]) -> list[bytes]:
        out = []
        for line in lines:
            match = MONITOR_LINE.fullmatch(line)
            assert match, line
            assert abs(int(match.group(1)) - time.time()) < 60
            out.append(match.group(4))
        return out

    assert normalise(hc_lines) == normalise(ref_lines)
    assert normalise(hc_lines)[0] == rb' "set" "k" "v\n\"x\x01\xff\\"'


def test_monitor_quote_escapes_as_sdscatrepr():
    from hypercache.commands.monitor import quote

    assert quote(b"plain text") == b'"plain text"'
    assert quote(b'a"b\\c') == b'"a\\"b\\\\c"'
    assert quote(b"\n\r\t\x07\x08\x00\x7f\xff") == b'"\\n\\r\\t\\a\\b\\x00\\x7f\\xff"'
