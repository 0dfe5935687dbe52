"""Microbenchmark of the native filters: inserts and lookups per second, from C and Python.

    .venv/bin/python bench/native_filters.py [--keys 1000000] [--no-c]

From C: hypercache/native/src/bench_driver.c, compiled here with the system's C compiler
against the same sources as the extension (-O2), times hash + insert/lookup over the keys.
From Python: one method call per key (`cf.contains(key)` in a for loop, what a command
handler pays) and one batch call (`contains_many(keys)`).  These machines are noisy, so
each Python figure is also given as a ratio to the same loop over a Python `set` (`key in
s`, `s.add(key)`) measured in the same run.  Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypercache.native import BloomFilter, CuckooFilter  # noqa: E402

SRC = ROOT / "hypercache" / "native" / "src"

STRUCTURES = {
    "cuckoo keyspace (b=4, f=10)": lambda n: CuckooFilter.for_fpp(n, 0.01),
    "cuckoo RedisBloom defaults (b=2, f=8)": lambda n: CuckooFilter(n),
    "bloom (1% error)": lambda n: BloomFilter(n, 0.01, scaling=False),
}


def c_results(n: int) -> dict[tuple[str, str], float]:
    """Build and run the C driver; {(structure, op): ops per second}."""
    cc = os.environ.get("CC") or (sysconfig.get_config_var("CC") or "cc").split()[0]
    if not shutil.which(cc):
        cc = "gcc" if shutil.which("gcc") else "cc"
    with tempfile.TemporaryDirectory(prefix="hc-bench-") as tmp:
        exe = Path(tmp) / "bench_driver"
        sources = [SRC / "bench_driver.c", SRC / "hc_cuckoo.c", SRC / "hc_bloom.c"]
        subprocess.run(
            [cc, "-O2", "-Wall", "-Wextra", f"-I{SRC}", *map(str, sources), "-lm", "-o", str(exe)], check=True
        )
        out = subprocess.run([str(exe), str(n)], check=True, capture_output=True, text=True).stdout
    results = {}
    for line in out.splitlines():
        row = json.loads(line)
        results[(row["structure"], row["op"])] = row["ops_per_s"]
    return results


def rate(n: int, fn) -> float:
    """Operations per second of fn() doing n operations (best of 3 runs)."""
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def python_results(n: int) -> tuple[dict[tuple[str, str], tuple[float, float]], dict[str, float]]:
    """{(structure, op): (per-call ops/s, batch ops/s)} and the set baselines."""
    keys = [b"key:%d" % i for i in range(n)]
    absent = [b"absent:%d" % i for i in range(n)]

    def set_add() -> None:
        s: set[bytes] = set()
        add = s.add
        for k in keys:
            add(k)

    s = set(keys)

    def set_lookup(ks):
        def run() -> None:
            for k in ks:
                k in s  # noqa: B015

        return run

    baseline = {
        "insert": rate(n, set_add),
        "lookup (present)": rate(n, set_lookup(keys)),
        "lookup (absent)": rate(n, set_lookup(absent)),
    }

    results = {}
    for name, make in STRUCTURES.items():

        def insert_loop() -> None:
            f = make(n)
            add = f.insert if isinstance(f, CuckooFilter) else f.add
            for k in keys:
                add(k)

        def insert_batch() -> None:
            f = make(n)
            (f.insert_many if isinstance(f, CuckooFilter) else f.add_many)(keys)

        results[(name, "insert")] = (rate(n, insert_loop), rate(n, insert_batch))
        filt = make(n)
        (filt.insert_many if isinstance(filt, CuckooFilter) else filt.add_many)(keys)
        for op, ks in (("lookup (present)", keys), ("lookup (absent)", absent)):

            def lookup_loop(ks=ks) -> None:
                contains = filt.contains
                for k in ks:
                    contains(k)

            results[(name, op)] = (rate(n, lookup_loop), rate(n, lambda ks=ks: filt.contains_many(ks)))
    return results, baseline


def mops(x: float) -> str:
    return f"{x / 1e6:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000, help="distinct keys (default 1,000,000)")
    parser.add_argument("--no-c", action="store_true", help="skip the C driver")
    args = parser.parse_args()
    n = args.keys

    c = {} if args.no_c else c_results(n)
    py, base = python_results(n)
    print(f"Native filters, {n:,} keys, millions of operations per second (best of 3);")
    print("ratios are to the same Python loop over a `set` in this run.\n")
    print("| structure | operation | C | Python, per call | × set | Python, batch |")
    print("|---|---|---:|---:|---:|---:|")
    for (name, op), (per_call, batch) in py.items():
        c_rate = mops(c[(name, op)]) if (name, op) in c else "–"
        ratio = per_call / base[op]
        print(f"| {name} | {op} | {c_rate} | {mops(per_call)} | {ratio:.2f} | {mops(batch)} |")
    print(f"| Python `set` | insert / present / absent | – | "
          f"{mops(base['insert'])} / {mops(base['lookup (present)'])} / {mops(base['lookup (absent)'])} | 1.00 | – |")


if __name__ == "__main__":
    main()
