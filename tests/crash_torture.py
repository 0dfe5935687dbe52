"""Crash torture: writers under load, the server killed with SIGKILL at random moments.

Each cycle starts hypercache-server on the same data directory, runs writer threads that
overwrite a small set of keys with increasing numbers (recording what was acknowledged
and when), kills the server with SIGKILL at a random moment, restarts it and checks
every key:

- `always`: the value read is at least the last acknowledged one (a write sent but not
  acknowledged may or may not be there) and never more than the last one sent;
- `interval` / `everysec`: the same, except that writes acknowledged within the last
  sync period (plus a scheduling margin) before the kill may be lost.

Run it:  .venv/bin/python -m tests.crash_torture --cycles 20 [--policy always]
(tests/test_persistence.py runs a short version of it.)
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

import redis

from tests.support import ServerProcess

KEYS_PER_WRITER = 40
MARGIN_S = 0.25  # scheduling slack on top of the sync period on a loaded 2-core machine


@dataclass
class WriterLog:
    """What one writer sent and what the server acknowledged (per key)."""

    sent: dict[str, int] = field(default_factory=dict)
    acked: dict[str, tuple[int, float]] = field(default_factory=dict)  # key -> (value, when)


def writer(port: int, name: str, start: int, stop: threading.Event, out: WriterLog) -> None:
    client = redis.Redis(port=port, socket_timeout=5, protocol=2)
    n = start
    try:
        while not stop.is_set():
            n += 1
            key = f"{name}:{n % KEYS_PER_WRITER}"
            out.sent[key] = n
            if n % 3 == 0:
                # a pipelined batch: several writes covered by one group commit
                pipe = client.pipeline(transaction=False)
                keys = [f"{name}:{(n + j) % KEYS_PER_WRITER}" for j in range(4)]
                for j, k in enumerate(keys):
                    out.sent[k] = n + j
                    pipe.set(k, n + j)
                pipe.execute()
                now = time.monotonic()
                for j, k in enumerate(keys):
                    out.acked[k] = (n + j, now)
                n += 3
            else:
                client.set(key, n)
                out.acked[key] = (n, time.monotonic())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return  # the server was killed


def one_cycle(data_dir: str, policy: str, writers: int, rnd: random.Random, base: int,
              extra: tuple[str, ...] = ()) -> tuple[int, list[str]]:
    """Run, kill, restart, check. Returns (acknowledged writes checked, problems)."""
    args = ("--appendfsync", policy, *extra)
    srv = ServerProcess(*args, data_dir=data_dir).start()
    wait_ready(srv.port)
    stop = threading.Event()
    logs = [WriterLog() for _ in range(writers)]
    threads = [threading.Thread(target=writer, args=(srv.port, f"w{i}", base, stop, logs[i]), daemon=True)
               for i in range(writers)]
    for t in threads:
        t.start()
    time.sleep(rnd.uniform(0.2, 1.2))
    killed_at = time.monotonic()
    srv.stop(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(10)
    srv = ServerProcess(*args, data_dir=data_dir).start()
    problems: list[str] = []
    checked = 0
    try:
        client = wait_ready(srv.port)
        period = {"always": 0.0, "everysec": 1.0, "interval": 0.01}.get(policy, 0.0)
        for log in logs:
            keys = list(log.sent)
            values = client.mget(keys) if keys else []
            for key, raw in zip(keys, values):
                got = int(raw) if raw is not None else -1
                acked = log.acked.get(key)
                if got > log.sent[key]:
                    problems.append(f"{key}: read {got}, never sent more than {log.sent[key]}")
                if acked is None:
                    continue
                value, when = acked
                checked += 1
                may_lose = period > 0 and when > killed_at - period - MARGIN_S
                if got < value and not may_lose:
                    problems.append(f"{key}: acknowledged {value} at -{killed_at - when:.3f}s, read {got}")
    finally:
        srv.stop()
    return checked, problems


def wait_ready(port: int, timeout: float = 30.0) -> redis.Redis:
    """A client once the server answers commands (not -LOADING)."""
    client = redis.Redis(port=port, socket_timeout=10, protocol=2)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            client.get("__probe__")
            return client
        except redis.BusyLoadingError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def run(cycles: int, policy: str, writers: int = 4, seed: int | None = None,
        extra: tuple[str, ...] = ()) -> tuple[int, list[str]]:
    """`cycles` kill/restart cycles on one data directory; (writes checked, problems)."""
    rnd = random.Random(seed)
    data_dir = tempfile.mkdtemp(prefix="hypercache-torture-")
    total, problems = 0, []
    try:
        for cycle in range(cycles):
            checked, found = one_cycle(data_dir, policy, writers, rnd, base=cycle * 10_000_000, extra=extra)
            total += checked
            problems += [f"cycle {cycle}: {p}" for p in found]
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return total, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--policy", default="always", choices=["always", "interval", "everysec"])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seed", type=int)
    ns = parser.parse_args()
    started = time.monotonic()
    checked, problems = run(ns.cycles, ns.policy, ns.writers, ns.seed,
                            extra=("--memtable-size", "1mb"))
    for p in problems:
        print("LOST", p)
    print(f"{ns.cycles} SIGKILL cycles under appendfsync {ns.policy}: {checked} acknowledged keys checked, "
          f"{len(problems)} problems ({time.monotonic() - started:.1f}s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
