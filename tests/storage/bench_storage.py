"""Storage engine micro-benchmarks (not part of the test suite; run by hand):

    .venv/bin/python -m tests.storage.bench_storage [--mb 64] [--value 100]

Prints puts/s, gets/s (memtable, tables, misses), the flush of a full memtable in a
child process and how long the event loop's thread is blocked around it, recovery
time, compaction throughput, and GET latency while a compaction runs.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import threading
import time

from hypercache.storage import Storage, StorageOptions, run_in_child

MB = 1024 * 1024


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=64, help="memtable size in MB")
    ap.add_argument("--value", type=int, default=100, help="value size in bytes")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    base = args.dir or tempfile.mkdtemp(prefix="hc-bench-")
    d = os.path.join(base, "store")
    opts = StorageOptions(memtable_size=args.mb * MB)
    s = Storage.open(d, opts)
    value = os.urandom(args.value)

    # ---- puts: until the memtable is full (one write_pending per 100 puts) ----------
    n = 0
    t = time.perf_counter()
    while s._mem.approximate_bytes < opts.memtable_size - 4096:
        s.put(b"key:%012d" % n, 1, value)
        n += 1
        if n % 100 == 0:
            s.write_pending()
    s.write_pending()
    put_s = time.perf_counter() - t
    print(f"puts: {n} keys x {args.value} B in {put_s:.2f}s = {n / put_s:,.0f}/s "
          f"(WAL {s.stats()['wal_bytes_written'] / MB:.1f} MB)")

    keys = [b"key:%012d" % random.randrange(n) for _ in range(100_000)]
    _, g = timed(lambda: [s.get(k) for k in keys])
    print(f"gets from the memtable: {len(keys) / g:,.0f}/s")

    # ---- flush of the full memtable in a child process ------------------------------
    _, t_freeze = timed(s.freeze)
    job, t_job = timed(s.next_job)
    result, t_child = timed(run_in_child, job)
    _, t_install = timed(s.install, result)
    print(f"flush of a {args.mb} MB memtable ({n} entries, table {result.bytes_written / MB:.1f} MB): "
          f"{t_child:.2f}s in a child process; loop blocked: freeze {t_freeze * 1e3:.2f} ms, "
          f"job {t_job * 1e3:.2f} ms, install {t_install * 1e3:.2f} ms")

    # ---- gets from tables -----------------------------------------------------------
    reads0 = s.stats()["sstable_reads"]
    _, g = timed(lambda: [s.get(k) for k in keys])
    print(f"gets from an SSTable: {len(keys) / g:,.0f}/s "
          f"({(s.stats()['sstable_reads'] - reads0) / len(keys):.2f} block reads per get)")
    misses = [b"nokey:%d" % i for i in range(100_000)]
    _, g = timed(lambda: [s.get(k) for k in misses])
    print(f"gets of absent keys: {len(misses) / g:,.0f}/s (bloom false positives "
          f"{s.stats()['bloom_false_positives']})")

    # ---- recovery: replay a full memtable's WAL ---------------------------------------
    for i in range(n):
        s.put(b"key:%012d" % i, 1, value)
        if i % 100 == 0:
            s.write_pending()
    s.write_pending()
    s._mem.frozen = False
    s.close()
    s, t_open = timed(Storage.open, d, opts)
    print(f"recovery: replayed {s.recovered_records} WAL records in {t_open:.2f}s")

    # ---- compaction: 4 L0 tables of overwrites -> L1, GET latency meanwhile -------------
    jobs = []
    while (j := s.next_job()) is not None:
        s.install(run_in_child(j))
        jobs.append(j)
    for rnd in range(2):
        for i in range(n):
            s.put(b"key:%012d" % i, 1, value)
            if i % 100 == 0:
                s.write_pending()
        s.write_pending()
        s.freeze()
        s.install(run_in_child(s.next_job()))
    st = s.stats()
    print(f"levels before compaction: L0 {st['level0_tables']} tables {st['level0_bytes'] / MB:.0f} MB, "
          f"L1 {st['level1_tables']} tables")
    s.options.l0_compaction_trigger = s.options.l0_max_tables = 2
    job = s.next_job()
    done = threading.Event()
    box = {}

    def work():
        box["r"], box["t"] = timed(run_in_child, job)
        done.set()

    lat = []
    th = threading.Thread(target=work)
    th.start()
    while not done.is_set():
        k = keys[len(lat) % len(keys)]
        t = time.perf_counter()
        s.get(k)
        lat.append(time.perf_counter() - t)
        if len(lat) % 100 == 0:
            time.sleep(0.001)  # leave the GIL to the waiting thread now and then, as trio would
    th.join()
    _, t_install = timed(s.install, box["r"])
    r = box["r"]
    lat.sort()
    print(f"compaction of {len(job.inputs)} tables: {r.bytes_read / MB:.0f} MB read, "
          f"{r.bytes_written / MB:.0f} MB written in {box['t']:.2f}s "
          f"({r.bytes_read / MB / box['t']:.1f} MB/s); install {t_install * 1e3:.2f} ms")
    print(f"GET latency during it (tables): p50 {statistics.median(lat) * 1e6:.0f} us, "
          f"p99 {lat[int(len(lat) * 0.99)] * 1e6:.0f} us, max {lat[-1] * 1e6:.0f} us over {len(lat)} gets")
    st = s.stats()
    print(f"write amplification {st['write_amplification']}, space amplification {st['space_amplification']}")
    s.close()
    if args.dir is None:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
