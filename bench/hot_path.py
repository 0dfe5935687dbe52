#!/usr/bin/env python3
"""Microbenchmark of the request hot path, in process: parse + execute + encode.

    .venv/bin/python bench/hot_path.py                # GET hit / GET miss / SET, with a store
    .venv/bin/python bench/hot_path.py --no-store     # the pure cache (appendonly no)
    .venv/bin/python bench/hot_path.py --profile set  # cProfile of one case

No sockets and no event loop: batches of RESP requests are fed to
`Connection.handle_input` as the reactor does after a recv (16 requests a batch, as
redis-benchmark -P 16 sends them), and after each batch the store's WAL buffer is
handed to the OS as the reactor's round does. What it prints is the CPU cost per
request of everything between the two syscalls, the part this process can make
cheaper; bench/run.py measures the whole server against Redis.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypercache.commands.context import ServerState  # noqa: E402
from hypercache.config import Config  # noqa: E402
from hypercache.keyspace.coldtier import ColdTier  # noqa: E402
from hypercache.server.connection import Connection  # noqa: E402
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


def main() -> None:
    global BATCH
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-store", action="store_true", help="pure cache (appendonly no)")
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--profile", choices=["get", "miss", "set"], help="cProfile one case")
    parser.add_argument("--batch", type=int, default=16, help="requests per read")
    args = parser.parse_args()
    BATCH = args.batch

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
        conn = Connection(state, ours)
        cases = {
            "set": batches(b"SET", b"key", args.requests),
            "get": batches(b"GET", b"key", args.requests),
            "miss": batches(b"GET", b"absent", args.requests),
        }
        run_case(conn, storage, cases["set"])  # load the keys first
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            run_case(conn, storage, cases[args.profile])
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        else:
            print(f"{'store' if storage else 'pure cache'}: CPU per request, batches of {BATCH}")
            for name, payload in cases.items():
                print(f"  {name:5} {run_case(conn, storage, payload) * 1e6:6.2f} us")
        ours.close()
        theirs.close()
        if storage is not None:
            storage.close()


if __name__ == "__main__":
    main()
