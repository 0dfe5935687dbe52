#!/usr/bin/env python3
"""Microbenchmark of the request hot path, in process: parse + execute + encode.

    .venv/bin/python bench/hot_path.py                # SET / GET hit / GET miss / INCR, with a store
    .venv/bin/python bench/hot_path.py --no-store     # the pure cache (appendonly no)
    .venv/bin/python bench/hot_path.py --profile set  # cProfile of one case
    .venv/bin/python bench/hot_path.py --lane-round   # through the reactor's native lane_round

No sockets and no event loop: batches of RESP requests are fed to
`Connection.handle_input` as the reactor does after a recv (16 requests a batch, as
redis-benchmark -P 16 sends them), and after each batch the store's WAL buffer is
handed to the OS as the reactor's round does. What it prints is the CPU cost per
request of everything between the two syscalls, the part this process can make
cheaper; bench/run.py measures the whole server against Redis. With --lane-round each
batch is sent over a socketpair and read by native lane_round as the reactor reads a
quiet client (so its recv and, for reads, its send are counted too).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import select
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypercache.commands.context import ServerState  # noqa: E402
from hypercache.commands.fastlane import count_lane_calls  # noqa: E402
from hypercache.config import Config  # noqa: E402
from hypercache.keyspace.coldtier import ColdTier  # noqa: E402
from hypercache.native import lane_round  # noqa: E402
from hypercache.server.connection import RECV_SIZE, Connection  # noqa: E402
from hypercache.server.persistence import storage_options  # noqa: E402
from hypercache.storage import Storage  # noqa: E402

KEYS = 100_000
BATCH = 16  # requests per read (--batch): 16 as redis-benchmark -P 16, 1 as without -P
VALUE = b"x" * 100


def request(*args: bytes) -> bytes:
    out = b"*%d\r\n" % len(args)
    for arg in args:
        out += b"$%d\r\n%b\r\n" % (len(arg), arg)
    return out


def batches(command: bytes, prefix: bytes, count: int) -> list[bytes]:
    """`count` requests in batches of BATCH, keys spread over KEYS."""
    out = []
    for start in range(0, count, BATCH):
        chunk = b""
        for i in range(start, start + BATCH):
            key = b"%b:%012d" % (prefix, (i * 7919) % KEYS)
            chunk += request(command, key, VALUE) if command == b"SET" else request(command, key)
        out.append(chunk)
    return out


def run_case(conn: Connection, storage: Storage | None, payload: list[bytes]) -> float:
    """Seconds of CPU per request for feeding `payload` through the connection."""
    started = time.process_time()
    for data in payload:
        conn.handle_input(data)
        conn.out.clear()
        if storage is not None:
            storage.write_pending()
    return (time.process_time() - started) / (len(payload) * BATCH)


def run_lane_round(conn: Connection, peer: socket.socket, storage: Storage | None, payload: list[bytes]) -> float:
    """Seconds of CPU per request for `payload` sent over the socketpair and read by
    native lane_round (what it hands back runs as the reactor would run it)."""
    state = conn.ctx.server
    keyspace = state.keyspace
    touched: list[int] = []
    pending: list[int] = []
    deltas = [0] * 7
    started = time.process_time()
    for data in payload:
        peer.sendall(data)
        entry = conn.lane_entry()
        result = lane_round([(conn.fd, select.EPOLLIN)], 0, {conn.fd: entry} if entry else {},
                            keyspace.hot_tier_shared_view(state.lane_totals), RECV_SIZE, touched, True,
                            keyspace.hot_tier_write_view(deltas), pending)
        if deltas[0]:
            keyspace.apply_lane_writes(deltas)
        if result[1] >= 0:
            conn.lane_read(*result[1:6])
        elif result[0] == 0:
            conn.receive()
        count_lane_calls(state, state.lane_totals)
        if storage is not None:
            storage.write_pending()
        conn.out.clear()
        touched.clear()
        pending.clear()
        while True:  # what was sent
            try:
                peer.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
    return (time.process_time() - started) / (len(payload) * BATCH)


def main() -> None:
    global BATCH
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-store", action="store_true", help="pure cache (appendonly no)")
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--profile", choices=["get", "miss", "set", "incr"], help="cProfile one case")
    parser.add_argument("--batch", type=int, default=16, help="requests per read")
    parser.add_argument("--keys", type=int, default=KEYS, help="distinct keys the requests spread over")
    parser.add_argument("--lane-round", action="store_true", help="read through native lane_round")
    args = parser.parse_args()
    BATCH = args.batch
    globals()["KEYS"] = args.keys

    with tempfile.TemporaryDirectory(prefix="hc-hotpath-") as tmp:
        config = Config(dir=tmp, appendonly=not args.no_store, appendfsync="no")
        state = ServerState(config)
        storage = None
        if not args.no_store:
            storage = Storage.open(os.path.join(tmp, "store"), storage_options(config))
            cold = ColdTier(storage, config.cuckoo_filter_fpp)
            count, expires = cold.rebuild()
            state.keyspace.attach_cold_tier(cold, count, expires)
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        conn = Connection(state, ours)
        def runner(payload: list[bytes]) -> float:
            if args.lane_round:
                return run_lane_round(conn, theirs, storage, payload)
            return run_case(conn, storage, payload)
        cases = {
            "set": batches(b"SET", b"key", args.requests),
            "get": batches(b"GET", b"key", args.requests),
            "miss": batches(b"GET", b"absent", args.requests),
            "incr": batches(b"INCR", b"counter", args.requests),  # new keys, as redis-benchmark's INCR
        }
        runner(cases["set"])  # load the keys first
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            runner(cases[args.profile])
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        else:
            print(f"{'store' if storage else 'pure cache'}: CPU per request, batches of {BATCH}")
            for name, payload in cases.items():
                print(f"  {name:5} {runner(payload) * 1e6:6.2f} us")
        ours.close()
        theirs.close()
        if storage is not None:
            storage.close()


if __name__ == "__main__":
    main()
