#!/usr/bin/env python3
"""Larger than RAM: a dataset many times --maxmemory, loaded and read back (issue 3).

    .venv/bin/python bench/larger_than_ram.py                       # 2M keys x 1 KB (~2 GB), < 20 min
    .venv/bin/python bench/larger_than_ram.py --keys 200000         # a short run (~1-2 min)
    .venv/bin/python bench/larger_than_ram.py --keys 3000000 --value-size 100 --clients 24 \
        --no-redis --name small_keys_rss                             # small keys, many writers

Starts hypercache-server on a free port of 127.0.0.1 (`--appendonly yes --appendfsync
everysec --maxmemory 64mb`, a fresh temporary directory removed afterwards), loads
--keys keys of --value-size bytes with pipelined MSETs (100 keys each, 8 in flight on each
of --clients connections, which take turns by batch of 100 keys),
waits for flushes and compactions to settle, then reads back: cold keys (uniform over
every key loaded), hot keys (a small set read once before), and absent keys, one GET at
a time, each answer checked against the value the key must hold. Meanwhile it samples
the RSS of the server and, separately, of its child processes (flush/compaction
workers), the data directory's size and INFO storage.

Writes bench/results/larger_than_ram.md and .json (--out to change the directory).
The load stops at --load-deadline seconds (what got loaded is then what is read back,
and the report says so).
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import lsm_common as L  # noqa: E402
from lsm_common import MIB, mib  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=2_000_000)
    ap.add_argument("--value-size", type=int, default=1024)
    ap.add_argument("--maxmemory", default="64mb")
    ap.add_argument("--keys-per-mset", type=int, default=100)
    ap.add_argument("--window", type=int, default=8, help="MSETs in flight (per client)")
    ap.add_argument("--clients", type=int, default=1, help="connections loading at once")
    ap.add_argument("--load-deadline", type=float, default=900.0, help="stop loading after this many seconds")
    ap.add_argument("--settle", type=float, default=240.0, help="longest wait for compactions after the load")
    ap.add_argument("--gets", type=int, default=20_000, help="timed GETs of each kind (cold, hot)")
    ap.add_argument("--hot-keys", type=int, default=1000)
    ap.add_argument("--no-redis", action="store_true",
                    help="skip the Redis reference (GETs of a real Redis between HyperCache's, same client)")
    ap.add_argument("--server-arg", action="append", default=[], help="extra hypercache-server flag (repeatable)")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--name", default="larger_than_ram")
    opts = ap.parse_args()

    maxmemory = L.parse_size(opts.maxmemory)
    results: dict = {"meta": L.run_meta(sys.argv), "params": vars(opts).copy()}
    results["params"]["maxmemory_bytes"] = maxmemory
    extra = ["--maxmemory", opts.maxmemory, *opts.server_arg]
    srv = L.Server("hypercache", *extra)
    results["meta"]["server_argv"] = srv.argv
    srv.start()
    sampler = None
    ref = None
    try:
        time.sleep(1.0)
        results["empty_rss"] = srv.rss()
        sampler = L.Sampler(srv, interval=0.1, info_every=1.0)
        sampler.start()

        # ---- load ------------------------------------------------------------------------
        sampler.mark("load")
        n, size, per = opts.keys, opts.value_size, opts.keys_per_mset
        last = [0.0]
        marks: list[tuple[float, int]] = []

        def progress(acked: int, elapsed: float) -> None:
            if elapsed - last[0] >= 10:
                last[0] = elapsed
                marks.append((round(elapsed, 1), acked))
                print(f"  load: {acked:,} keys in {elapsed:.0f} s ({acked / elapsed:,.0f} keys/s), "
                      f"server RSS {mib(srv.rss())}, children {mib(srv.children_rss())}", flush=True)

        print(f"loading {n:,} keys x {size} B ({n * size / 2**30:.2f} GiB of values) "
              f"into hypercache-server {' '.join(extra)} over {opts.clients} connection(s)", flush=True)
        results["load_started_t"] = round(time.time() - sampler.t0, 2)  # on the samples' clock
        load = load_keys(srv.port, n, size, per, opts, progress)
        loaded = load["keys_acked"]
        load["keys_per_s"] = round(loaded / load["seconds"]) if load["seconds"] else 0
        load["mb_per_s"] = round(loaded * size / MIB / load["seconds"], 2) if load["seconds"] else 0
        load["value_bytes"] = loaded * size
        load["progress"] = marks
        results["load"] = load
        print(f"loaded {loaded:,} keys in {load['seconds']} s: {load['keys_per_s']:,} keys/s, "
              f"{load['mb_per_s']} MiB/s; errors {load['errors']}", flush=True)
        if not srv.alive():
            raise RuntimeError(srv.exit_status())

        sampler.mark("settle")
        # quiet for 12 s: past the store's 10 s idle rule, which may merge L0 once more
        results["settle_seconds"] = L.wait_quiet(srv.port, opts.settle, quiet_for=12.0)
        print(f"compactions settled after {results['settle_seconds']} s", flush=True)

        # ---- reads -----------------------------------------------------------------------
        sampler.mark("gets")
        rng = random.Random(42)
        pool = range(loaded) if not load["errors"] else range(0)
        reads: dict = {}
        if loaded and not load["errors"]:
            ref = L.RedisReference(size) if not opts.no_redis else None
            if ref is not None:
                ref.start()
            hot = rng.sample(pool, min(opts.hot_keys, loaded))
            L.timed_gets(srv.port, ((L.key_of(i), L.value_for(i, size)) for i in hot))  # warm the hot set
            conn = L.Conn(srv.port)
            lat = {"cold": [], "hot": [], "miss": []}
            wrong = {"cold": 0, "hot": 0, "miss": 0}
            first_wrong = None
            block_reads = {"cold": 0, "hot": 0, "miss": 0}
            block = 1000
            done = 0
            while done < opts.gets:
                step = min(block, opts.gets - done)
                kinds = {
                    "cold": [rng.randrange(loaded) for _ in range(step)],
                    "hot": [rng.choice(hot) for _ in range(step)],
                }
                for kind in ("cold", "hot"):
                    before = int(conn.info("storage").get("storage_sstable_reads", 0))
                    res = L.timed_gets(srv.port, ((L.key_of(i), L.value_for(i, size)) for i in kinds[kind]))
                    block_reads[kind] += int(conn.info("storage").get("storage_sstable_reads", 0)) - before
                    lat[kind] += res["lat"]
                    wrong[kind] += res["wrong"]
                    first_wrong = first_wrong or res["first_wrong"]
                if ref is not None:
                    ref.gets(step // 2, rng)
                done += step
            misses = [(b"absent:%d" % rng.randrange(10**9), None) for _ in range(min(5000, opts.gets))]
            before = int(conn.info("storage").get("storage_sstable_reads", 0))
            res = L.timed_gets(srv.port, misses)
            block_reads["miss"] = int(conn.info("storage").get("storage_sstable_reads", 0)) - before
            lat["miss"], wrong["miss"] = res["lat"], res["wrong"]
            conn.close()
            if ref is not None:
                results["redis_reference"] = ref.summary()
                ref.stop()
            for kind in lat:
                reads[kind] = {**L.percentiles(lat[kind]), "wrong": wrong[kind],
                               "block_reads_per_get": round(block_reads[kind] / max(1, len(lat[kind])), 3)}
            reads["first_wrong"] = first_wrong
            print("GET " + "; ".join(f"{k}: p50 {v['p50_ms']} ms p99 {v['p99_ms']} ms wrong {v['wrong']}"
                                     for k, v in reads.items() if isinstance(v, dict)), flush=True)
        results["gets"] = reads

        # ---- final state -----------------------------------------------------------------
        conn = L.Conn(srv.port)
        storage = conn.info("storage")
        memory = conn.info("memory")
        filt = conn.info("filter")
        keyspace = conn.info("keyspace")
        conn.close()
        results["final"] = {"rss": srv.rss(), "children_rss": srv.children_rss(),
                            "disk_bytes": L.dir_bytes(sampler.store_dir),
                            "info_storage": storage, "info_memory": memory, "info_filter": filt,
                            "info_keyspace": keyspace}
    except KeyboardInterrupt:
        results["interrupted"] = True
    except Exception as err:  # reported, with whatever was measured
        results["error"] = f"{type(err).__name__}: {err}"
        print("error:", results["error"], file=sys.stderr)
    finally:
        if sampler is not None:
            sampler.stop()
            results["rss"] = {"max_server": sampler.max_rss, "max_child": sampler.max_child_rss,
                              "max_children_sum": sampler.max_children_rss,
                              "child_processes_seen": len(sampler.child_pids), "max_disk": sampler.max_disk}
            results["samples"] = sampler.samples
        results["server_log_tail"] = srv.log_tail(5)
        srv.stop()
        if ref is not None:
            ref.stop()
    results["meta"]["load_end"] = " ".join(f"{x:.2f}" for x in __import__("os").getloadavg())
    out = Path(opts.out)
    L.write_json(out / f"{opts.name}.json", results)
    (out / f"{opts.name}.md").write_text(report(results, maxmemory))
    print(f"wrote {out / (opts.name + '.md')} and .json")
    return 0 if "error" not in results else 1


def load_keys(port: int, n: int, size: int, per: int, opts: argparse.Namespace, progress) -> dict:
    """Keys 0..n-1 in MSETs of `per`, over opts.clients connections at once (batch b goes
    to client b % clients); what L.load returns, summed."""
    clients = max(1, opts.clients)
    if clients == 1:
        commands = (L.mset_command(range(s, min(n, s + per)), size) for s in range(0, n, per))
        return L.load(port, commands, window=opts.window, deadline_s=opts.load_deadline, progress=progress)
    acked = [0] * clients
    results: list[dict | None] = [None] * clients
    lock = threading.Lock()

    def one(j: int) -> None:
        def mine(done: int, elapsed: float) -> None:
            with lock:
                acked[j] = done
                progress(sum(acked), elapsed)

        commands = (L.mset_command(range(s, min(n, s + per)), size) for s in range(j * per, n, clients * per))
        try:
            results[j] = L.load(port, commands, window=opts.window, deadline_s=opts.load_deadline, progress=mine)
        except OSError as err:
            results[j] = {"keys_acked": acked[j], "seconds": 0.0, "errors": 1, "first_error": str(err)}

    threads = [threading.Thread(target=one, args=(j,), daemon=True) for j in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [x for x in results if x is not None]
    out = {"keys_acked": sum(x["keys_acked"] for x in done), "seconds": round(time.monotonic() - started, 2),
           "errors": sum(x["errors"] for x in done)}
    for key in ("first_error", "stopped"):
        found = next((x[key] for x in done if x.get(key)), None)
        if found:
            out[key] = found
    return out


def rss_by_keys(r: dict) -> list[list[object]]:
    """Rows of RSS against keys loaded: the load's progress marks (every 10 s), each with
    the sample nearest in time, and the state after the load."""
    samples = r.get("samples", [])
    start = r.get("load_started_t")
    p = r["params"]
    maxmemory = p["maxmemory_bytes"]
    rows = []
    points = [(start + t, keys) for t, keys in r.get("load", {}).get("progress", [])] if start is not None else []
    done = r.get("load", {}).get("keys_acked")
    settled = [x for x in samples if x["phase"] != "load"]
    if settled and done:
        points.append((settled[0]["t"], done))
    for t, keys in points:
        s = min(samples, key=lambda x: abs(x["t"] - t), default=None)
        if s is None:
            continue
        rows.append([f"{keys:,}", f"{keys * p['value_size'] / 2**30:.2f}", mib(s["rss"]), mib(s["rss"] - maxmemory),
                     mib(s.get("hot_bytes")), mib(s.get("storage_memtable_bytes")),
                     mib(s.get("storage_frozen_memtable_bytes")), mib(s.get("storage_graveyard_bytes")),
                     mib(s.get("storage_table_memory_bytes")), s["t"]])
    return rows


def per_key_growth(r: dict) -> str:
    """How much the server's RSS grew per key loaded from a third of the load to its end
    (past the start-up allocations), in words."""
    rows = [(t, keys) for t, keys in r.get("load", {}).get("progress", [])]
    samples, start = r.get("samples", []), r.get("load_started_t")
    if len(rows) < 3 or not samples or start is None:
        return "Too few progress marks to measure the growth per key."

    def rss_at(t: float) -> int:
        return min(samples, key=lambda x: abs(x["t"] - start - t))["rss"]

    (t1, k1), (t2, k2) = rows[len(rows) // 3], rows[-1]
    grown = rss_at(t2) - rss_at(t1)
    return (f"From {k1:,} to {k2:,} keys the server's RSS grew by {mib(grown)}: "
            f"**{grown / max(1, k2 - k1):.1f} bytes per key loaded**.")


def report(r: dict, maxmemory: int) -> str:
    p = r["params"]
    load = r.get("load", {})
    fin = r.get("final", {})
    st = fin.get("info_storage", {})
    rss = r.get("rss", {})
    loaded = load.get("keys_acked", 0)
    lines = L.report_head("Larger than RAM: HyperCache with --maxmemory " + p["maxmemory"], r, "bench/larger_than_ram.py")
    if load.get("stopped"):
        lines += [f"**The load was cut short:** {load['stopped']} — {loaded:,} of {p['keys']:,} keys loaded.", ""]
    data = loaded * p["value_size"]
    lines += [
        "## Load",
        "",
        L.md_table(["", "value"], [
            ["keys loaded", f"{loaded:,} x {p['value_size']} B values = {data / 2**30:.2f} GiB "
                            f"({data / maxmemory:.0f}x maxmemory)"],
            ["load time", f"{load.get('seconds')} s (pipelined MSET, {p['keys_per_mset']} keys each, {p['window']} in flight"
                          f" on each of {p.get('clients', 1)} connection(s))"],
            ["load rate", f"{load.get('keys_per_s', 0):,} keys/s = {load.get('mb_per_s')} MiB/s of values"],
            ["errors", f"{load.get('errors')} {load.get('first_error', '')}"],
            ["flushes / compactions / trivial moves", f"{st.get('storage_flushes')} / {st.get('storage_compactions')} / {st.get('storage_trivial_moves')}"],
            *L.job_rows(st, r.get("samples", [])),
            ["after the load: background jobs done, then none for 12 s", f"after {r.get('settle_seconds')} s"],
        ]),
        "",
        "## Memory (RSS, sampled every 0.1 s)",
        "",
        L.md_table(["", "bytes", "vs maxmemory"], [
            ["maxmemory", mib(maxmemory), "1.00x"],
            ["server RSS, empty (before the load)", mib(r.get("empty_rss")), f"{(r.get('empty_rss') or 0) / maxmemory:.2f}x"],
            ["**server RSS, max over the run**", mib(rss.get("max_server")), f"{(rss.get('max_server') or 0) / maxmemory:.2f}x"],
            ["server RSS at the end", mib(fin.get("rss")), f"{(fin.get('rss') or 0) / maxmemory:.2f}x"],
            ["**fixed overhead = max RSS - maxmemory**", mib((rss.get("max_server") or 0) - maxmemory), ""],
            ["child processes (flush/compaction): largest peak RSS of one", mib(rss.get("max_child")), ""],
            ["child processes: largest sum at one time", mib(rss.get("max_children_sum")),
             f"{rss.get('child_processes_seen')} processes seen"],
            ["accounted against maxmemory at the end (used_memory_dataset)", mib(L.as_int(fin.get("info_memory", {}).get("used_memory_dataset"))), ""],
            ["hot tier at the end", f"{st.get('hot_keys')} keys, {mib(L.as_int(st.get('hot_bytes')))}", ""],
            ["memtables at the end", mib(L.as_int(st.get("storage_memtable_bytes"))), ""],
            ["flushed memtables not yet freed (graveyard)", mib(L.as_int(st.get("storage_graveyard_bytes"))), "counted against maxmemory"],
            ["table readers (index + bloom blocks in memory)", mib(L.as_int(st.get("storage_table_memory_bytes"))), "counted against maxmemory"],
            ["keyspace cuckoo filter", f"{fin.get('info_filter', {}).get('filter_capacity')} slots, "
                                       f"{fin.get('info_filter', {}).get('filter_bits_per_item')} bits/item", "counted against maxmemory"],
        ]),
        "",
        "## Server RSS against keys loaded (the load's progress every 10 s, and after it)",
        "",
        L.md_table(["keys", "GiB of values", "server RSS", "RSS - maxmemory", "hot tier", "memtable",
                    "frozen memtables", "graveyard", "table blocks", "t s"], rss_by_keys(r)),
        "",
        per_key_growth(r),
        "",
    ]
    g = r.get("gets", {})
    ref = r.get("redis_reference", {})
    rows = []
    for kind, label in (("hot", f"hot keys ({p['hot_keys']} keys read before)"),
                        ("cold", f"cold keys (uniform over all {loaded:,})"), ("miss", "absent keys")):
        v = g.get(kind)
        if v:
            rows.append([label, v["n"], v["p50_ms"], v["p99_ms"], v["p99.9_ms"], v["max_ms"], v["block_reads_per_get"], v["wrong"]])
    if ref.get("p50_ms") is not None:
        rows.append([f"reference: Redis, same client, same minutes, {ref['keys']:,} keys in RAM", ref["n"], ref["p50_ms"], ref["p99_ms"],
                     ref["p99.9_ms"], ref["max_ms"], "-", ref["wrong"]])
    lines += [
        "## GET latency (one GET at a time, value checked; after compactions settled)",
        "",
        L.md_table(["keys", "GETs", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "SSTable block reads / GET", "wrong answers"], rows),
        "",
        "Latency includes the Python client's own cost; the Redis line, through the same client, shows it.",
        "",
        "## Disk",
        "",
        L.md_table(["", "value"], [
            ["data directory at the end", mib(fin.get("disk_bytes"))],
            ["data directory, max during the run", mib(rss.get("max_disk"))],
            ["user data (keys + values)", mib(loaded * (p["value_size"] + 16))],
            ["disk / user data", f"{(fin.get('disk_bytes') or 0) / max(1, loaded * (p['value_size'] + 16)):.2f}x"],
            ["storage_table_bytes", mib(L.as_int(st.get("storage_table_bytes")))],
            ["storage_space_amplification (table bytes / bytes of the deepest level)", st.get("storage_space_amplification")],
            ["storage_write_amplification ((WAL + flush + compaction bytes) / user bytes)", st.get("storage_write_amplification")],
            ["tables per level", " / ".join(f"L{i} {st.get(f'storage_level{i}_tables')}" for i in range(7) if st.get(f"storage_level{i}_tables") not in (None, "0"))],
        ]),
        "",
        "## Over time",
        "",
    ]
    rows = []
    for s in L.thin(r.get("samples", []), 24):
        rows.append([s["t"], s["phase"], mib(s["rss"]), mib(s["children_rss"]), mib(s["disk"]),
                     s.get("storage_level0_tables"), s.get("storage_frozen_memtables"), s.get("storage_compactions"),
                     s.get("storage_write_amplification"), s.get("storage_space_amplification")])
    lines += [L.md_table(["t s", "phase", "server RSS", "children RSS", "disk", "L0 tables", "frozen memtables",
                          "compactions", "write amp", "space amp"], rows), ""]
    if r.get("server_log_tail"):
        lines += ["Server log tail: `" + r["server_log_tail"].replace("`", "'") + "`", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
