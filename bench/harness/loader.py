"""Load N keys deterministically: generated RESP `MSET` commands fed to `redis-cli --pipe`.

Keys are `key:%012d` for 0 <= i < N, the names redis-benchmark's `key:__rand_int__` expands
to with `-r N`, so the GET cases afterwards hit.  Values are `value_size` printable bytes
sliced at a varying offset from one random pool, so no two neighbouring values are equal
(nothing a server could share or compress away) at no cost per key.  Keys go 100 to an
MSET, the same commands for both servers: HyperCache pays per command enough that SETs
one by one would make the 10M-key load take many minutes.

The generator writes to redis-cli's stdin chunk by chunk; a watchdog thread kills redis-cli
when the deadline passes or when the server's RSS passes `rss_cap` (a server that does not
evict must not take the machine down), and the load is then reported as aborted.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from typing import Callable, Iterator

KEYS_PER_MSET = 100
CHUNK = 10_000  # keys per write to redis-cli
POOL = os.urandom(1 << 19).hex().encode()  # 1 MiB of printable bytes


def key(i: int, prefix: bytes = b"key:") -> bytes:
    return b"%s%012d" % (prefix, i)


def commands(n: int, value_size: int = 100, prefix: bytes = b"key:") -> Iterator[tuple[int, bytes]]:
    """(keys, RESP bytes) chunks of MSET commands for keys 0..n-1."""
    span = len(POOL) - value_size
    for start in range(0, n, CHUNK):
        parts = []
        for first in range(start, min(n, start + CHUNK), KEYS_PER_MSET):
            batch = range(first, min(n, first + KEYS_PER_MSET))
            parts.append(b"*%d\r\n$4\r\nMSET\r\n" % (1 + 2 * len(batch)))
            for i in batch:
                k = key(i, prefix)
                offset = (i * 7919) % span
                parts.append(b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, value_size, POOL[offset:offset + value_size]))
        yield min(n, start + CHUNK) - start, b"".join(parts)


def load(port: int, n: int, *, rss: Callable[[], int | None], rss_cap: int | None = None,
         deadline_s: float = 600.0, value_size: int = 100) -> dict:
    """Load n keys into the server on port; returns what happened (never raises for the server's faults)."""
    start = time.monotonic()
    proc = subprocess.Popen(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--pipe"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    abort: list[str] = []
    done = threading.Event()

    def watchdog() -> None:
        while not done.wait(0.5):
            used = rss()
            if time.monotonic() - start > deadline_s:
                abort.append(f"load did not finish in {deadline_s:.0f} s")
            elif used is None:
                abort.append("the server process is gone")
            elif rss_cap is not None and used > rss_cap:
                abort.append(f"server RSS {used / 2**20:.0f} MiB passed the guard of {rss_cap / 2**20:.0f} MiB")
            if abort:
                proc.kill()
                return

    guard = threading.Thread(target=watchdog, daemon=True)
    guard.start()
    sent = 0
    try:
        for count, chunk in commands(n, value_size):
            if abort:
                break
            proc.stdin.write(chunk)
            sent += count
    except (BrokenPipeError, OSError):
        pass
    try:
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass
    try:  # redis-cli prints a few lines only at the end: they fit in the pipe, so wait, then read
        proc.wait(timeout=max(30.0, deadline_s - (time.monotonic() - start)))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        abort.append(f"redis-cli --pipe did not finish in {deadline_s:.0f} s")
    done.set()
    guard.join()
    text = proc.stdout.read().decode(errors="replace")
    proc.stdout.close()
    match = re.search(r"errors: (\d+), replies: (\d+)", text)
    result = {"keys": n, "sent": sent, "seconds": round(time.monotonic() - start, 2),
              "errors": int(match.group(1)) if match else None,
              "replies": int(match.group(2)) if match else None}
    if abort:
        result["aborted"] = abort[0]
    elif match is None or proc.returncode != 0 or result["errors"]:
        result["aborted"] = f"redis-cli --pipe exited {proc.returncode}: {text.strip()[-200:]!r}"
    return result
