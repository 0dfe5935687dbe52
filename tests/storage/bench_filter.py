"""SSTable filter block micro-benchmark (not part of the test suite; run by hand):

    .venv/bin/python -m tests.storage.bench_filter [--keys 100000] [--lookups 1000000]

Times, through bloom.py's interface as TableBuilder and the GET path use it: building the
filter block of `--keys` internal keys (add each key, then finish), loading it, and
`--lookups` calls of `filter.may_contain(ikey)` (half present keys, half absent ones).
Each figure is the best of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import time

from hypercache.storage import bloom
from hypercache.storage.records import internal_key


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def build(keys: list[bytes]) -> bytes:
    b = bloom.new_filter_builder(10)
    for k in keys:
        b.add(k)
    return b.finish()


def lookups(flt: bloom.Filter, probes: list[bytes]) -> int:
    hits = 0
    for k in probes:
        # the attribute lookup is part of the cost: engine.py does the same per table
        if flt.may_contain(k):
            hits += 1
    return hits


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--lookups", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    keys = [internal_key(b"user:%d" % i) for i in range(args.keys)]
    absent = [internal_key(b"none:%d" % i) for i in range(args.keys)]
    probes = [(keys if i & 1 else absent)[(i >> 1) % args.keys] for i in range(args.lookups)]

    block = build(keys)
    t_build = best(lambda: build(keys), args.repeat)
    t_load = best(lambda: bloom.load_filter(block), args.repeat)
    flt = bloom.load_filter(block)
    t_look = best(lambda: lookups(flt, probes), args.repeat)
    fp = sum(map(flt.may_contain, absent)) / len(absent)

    print(f"filter type {block[0]}, {len(block):,} bytes for {args.keys:,} keys, false positives {fp:.4%}")
    print(f"build ({args.keys:,} keys):      {t_build * 1e3:8.1f} ms")
    print(f"load_filter:               {t_load * 1e6:8.1f} us")
    print(f"may_contain x {args.lookups:,}: {t_look * 1e3:8.1f} ms ({t_look / args.lookups * 1e9:.0f} ns/call)")


if __name__ == "__main__":
    main()
