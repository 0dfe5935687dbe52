#!/usr/bin/env python3
"""redis-benchmark against a running server: SET/GET/INCR/MSET, plain and pipelined (-P 16).

    HC_PORT=7000 python compat-tests/redis_benchmark.py   # or: --port 7000 [--host h] [-n 20000]

redis-benchmark first pipelines `CONFIG GET save` / `CONFIG GET appendonly` (a failure there
prints a WARNING), and exits 1 on any unexpected error reply during a test. A run passes
when redis-benchmark exits 0, its output mentions no error or warning, and every test
printed its "requests per second" line. The rps lines are reported (absolute numbers on a
noisy machine: a smoke check, not a benchmark; bench/ does the comparisons with Redis).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

TESTS = "set,get,incr,mset"
EXPECTED_TESTS = ["SET", "GET", "INCR", "MSET (10 keys)"]
BAD = re.compile(r"ERR|error|warning", re.IGNORECASE)


def run(bench: str, host: str, port: int, n: int, pipeline: int) -> tuple[bool, list[str]]:
    argv = [bench, "-h", host, "-p", str(port), "-t", TESTS, "-n", str(n), "-c", "20",
            "-r", "100000", "-d", "100", "-q"]
    if pipeline > 1:
        argv += ["-P", str(pipeline)]
    label = f"-P {pipeline}" if pipeline > 1 else "no pipelining"
    lines: list[str] = []
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired as err:
        out = (err.stdout or b"").decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
        tail = [l.strip() for l in out.replace("\r", "\n").splitlines() if l.strip()][-3:]
        return False, [f"  FAIL ({label}): redis-benchmark timed out after 90 s; last output: {tail!r}"]
    # -q rewrites a progress line with \r; the final figure of each test ends with \n.
    text = proc.stdout.replace("\r", "\n") + "\n" + proc.stderr
    finals = [l.strip() for l in text.splitlines() if "requests per second" in l]
    bad = sorted({l.strip() for l in text.splitlines() if BAD.search(l)})
    ok = True
    if proc.returncode != 0:
        ok = False
        lines.append(f"  FAIL ({label}): redis-benchmark exited {proc.returncode}")
    for line in bad:
        ok = False
        lines.append(f"  FAIL ({label}): {line}")
    seen = [l.split(":")[0] for l in finals]
    missing = [t for t in EXPECTED_TESTS if t not in seen]
    if missing:
        ok = False
        lines.append(f"  FAIL ({label}): no result line for {missing}")
    lines += [f"  [{label}] {l}" for l in finals]
    return ok, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HC_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("HC_PORT", "6379")))
    parser.add_argument("-n", type=int, default=20000, help="requests per test (default 20000)")
    opts = parser.parse_args()

    bench = shutil.which("redis-benchmark")
    if bench is None:
        print("redis-benchmark not found (Debian: apt-get install redis-tools)")
        return 2
    start = time.monotonic()
    all_ok = True
    for pipeline in (1, 16):
        ok, lines = run(bench, opts.host, opts.port, opts.n, pipeline)
        all_ok &= ok
        print("\n".join(lines))
    verdict = "no errors" if all_ok else "FAILED"
    print(f"redis-benchmark: {verdict} ({time.monotonic() - start:.1f}s)")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
