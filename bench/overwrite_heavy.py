#!/usr/bin/env python3
"""Overwrite-heavy load: disk stays bounded, compaction keeps up, GET p99 during compaction (issue 3).

    .venv/bin/python bench/overwrite_heavy.py                         # 100k keys x 1 KB, 20 rounds (~5-8 min)
    .venv/bin/python bench/overwrite_heavy.py --keys 20000 --rounds 5 # a short run

Starts hypercache-server on a free port of 127.0.0.1 (`--appendonly yes --appendfsync
everysec --maxmemory 64mb`, fresh temporary directory), writes --keys keys once, then
overwrites every key --rounds more times (each round in a fresh random order, pipelined
MSETs of 100 keys) from a separate writer process. A prober process meanwhile sends one
GET at a time at --probe-rate per second and checks that each answer is a value the key
really had; INFO storage is polled every 50 ms to know whether a flush or a compaction
was running at each GET's moment. After the rounds, --bursts times: write random keys
until a compaction starts, stop writing and let it run (so that a compaction runs with no
writes beside it). The GETs are then grouped: idle (no writes, no job), compaction with
no writes, flush with no writes, and writes with no job / a flush / a compaction. The
data directory's size and INFO storage are sampled every 0.5 s: live data is fixed, so
disk usage must level off, and L0 must not pile up (compaction keeping up).

Writes bench/results/overwrite_heavy.md and .json.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import pickle
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import lsm_common as L  # noqa: E402
from lsm_common import MIB, mib  # noqa: E402


# ---- the two client processes ------------------------------------------------------------

def writer(port: int, keys: int, size: int, first_round: int, rounds: int, window: int,
           deadline_s: float, out: str) -> None:
    """Overwrite every key once per round (rounds first_round .. first_round+rounds-1)."""
    start = time.time()
    log = []
    for r in range(first_round, first_round + rounds):
        order = list(range(keys))
        random.Random(r).shuffle(order)
        cmds = (L.mset_command(order[s : s + 100], size, r) for s in range(0, keys, 100))
        t = time.time()
        res = L.load(port, cmds, window=window, deadline_s=max(1.0, deadline_s - (t - start)))
        log.append({"round": r, "start": t, "end": time.time(), **res})
        print(f"  round {r}: {res['keys_acked']:,} keys in {res['seconds']} s "
              f"({res['keys_acked'] / max(1e-9, res['seconds']):,.0f} keys/s)", flush=True)
        if res.get("stopped") or res["errors"]:
            break
    with open(out, "wb") as fh:
        pickle.dump(log, fh)


def prober(port: int, keys: int, size: int, max_version: int, rate: float, stop_file: str, out: str,
           seed: int) -> None:
    """GET random keys at `rate`/s until stop_file exists; check each value is one the key had."""
    rng = random.Random(seed)
    conn = L.Conn(port)
    period = 1.0 / rate
    starts, lats, bad = [], [], []
    clock = time.perf_counter
    wall0, perf0 = time.time(), clock()
    next_t = clock()
    n = 0
    while True:
        n += 1
        if n % 64 == 0 and os.path.exists(stop_file):
            break
        i = rng.randrange(keys)
        k = L.key_of(i)
        cmd = b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k)
        t = clock()
        conn.send(cmd)
        r = conn.reply()
        lats.append(clock() - t)
        starts.append(wall0 + (t - perf0))
        if not _valid(r, i, size, max_version):
            bad.append((i, repr(r)[:80]))
        next_t += period
        delay = next_t - clock()
        if delay > 0:
            time.sleep(delay)
        else:
            next_t = clock()
    conn.close()
    with open(out, "wb") as fh:
        pickle.dump({"starts": starts, "lat": lats, "bad": bad}, fh)


def burst_commands(watcher: L.JobWatcher, keys: int, size: int, version: int, rng: random.Random,
                   expected: dict[int, int]):
    """MSETs of random keys at `version` until the watcher sees a compaction (at most
    4 x keys writes: L0 may take 16 memtables before it is merged)."""
    start = len(watcher.points)
    for _ in range(0, 4 * keys, 100):
        if len(watcher.points) > start and watcher.points[-1][2] > 0:
            return
        batch = [rng.randrange(keys) for _ in range(100)]
        batch = list(dict.fromkeys(batch))
        for i in batch:
            expected[i] = version
        yield L.mset_command(batch, size, version)


def _valid(r: object, i: int, size: int, max_version: int) -> bool:
    if not isinstance(r, bytes):
        return False
    head = r.split(b":", 2)
    try:
        ki, v = int(head[0]), int(head[1])
    except (ValueError, IndexError):
        return False
    return ki == i and 0 <= v <= max_version and r == L.value_for(i, size, v)


# ---- the run ---------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--value-size", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=20, help="overwrites of every key after the first write")
    ap.add_argument("--maxmemory", default="64mb")
    ap.add_argument("--window", type=int, default=8, help="MSETs in flight")
    ap.add_argument("--probe-rate", type=float, default=500.0, help="GETs per second of the prober")
    ap.add_argument("--idle-seconds", type=float, default=15.0,
                    help="probing with no writes, before and after (the store merges L0 once writes pause 10 s)")
    ap.add_argument("--deadline", type=float, default=900.0, help="stop overwriting after this many seconds")
    ap.add_argument("--drain", type=float, default=180.0, help="longest wait for compactions after the writes")
    ap.add_argument("--bursts", type=int, default=6,
                    help="after the rounds: this many times, write until a compaction starts, then stop and let it run")
    ap.add_argument("--redis-rounds", type=int, default=3,
                    help="then the same writer and prober against a real Redis for this many rounds (0: no reference)")
    ap.add_argument("--server-arg", action="append", default=[], help="extra hypercache-server flag (repeatable)")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--name", default="overwrite_heavy")
    opts = ap.parse_args()

    n, size = opts.keys, opts.value_size
    results: dict = {"meta": L.run_meta(sys.argv), "params": vars(opts).copy()}
    extra = ["--maxmemory", opts.maxmemory, *opts.server_arg]
    srv = L.Server("hypercache", *extra)
    results["meta"]["server_argv"] = srv.argv
    tmp = tempfile.mkdtemp(prefix="overwrite-bench-")
    stop_file = os.path.join(tmp, "stop")
    ctx = mp.get_context("spawn")
    srv.start()
    sampler = watcher = None
    probe = None
    try:
        sampler = L.Sampler(srv, interval=0.1, info_every=0.5)
        sampler.start()
        sampler.mark("first write")
        print(f"writing {n:,} keys x {size} B, then {opts.rounds} rounds of overwrites "
              f"(hypercache-server {' '.join(extra)})", flush=True)
        first = L.load(srv.port, (L.mset_command(range(s, min(n, s + 100)), size, 0) for s in range(0, n, 100)),
                       window=opts.window)
        results["first_write"] = first
        results["settle_after_first_write"] = L.wait_quiet(srv.port, opts.drain)
        watcher = L.JobWatcher(srv.port, 0.05)
        watcher.start()

        probe_out = os.path.join(tmp, "probe.pickle")
        probe = ctx.Process(target=prober, args=(srv.port, n, size, opts.rounds + opts.bursts, opts.probe_rate,
                                                 stop_file, probe_out, 1))
        sampler.mark("idle before")
        probe.start()
        time.sleep(opts.idle_seconds)

        sampler.mark("overwrite")
        writer_out = os.path.join(tmp, "writer.pickle")
        w = ctx.Process(target=writer, args=(srv.port, n, size, 1, opts.rounds, opts.window, opts.deadline, writer_out))
        w_start = time.time()
        w.start()
        w.join()
        w_end = time.time()
        with open(writer_out, "rb") as fh:
            rounds = pickle.load(fh)
        results["rounds"] = rounds
        results["overwrite_seconds"] = round(w_end - w_start, 1)

        sampler.mark("drain")
        results["drain_seconds"] = L.wait_quiet(srv.port, opts.drain, poll=0.25)
        last_round_end = rounds[-1]["end"] if rounds else w_end
        write_spans = [(w_start, last_round_end)]

        # ---- compactions with no writes: write until one starts, stop, let it run -----
        sampler.mark("bursts")
        expected: dict[int, int] = {}  # key -> version, for the keys the bursts rewrote
        rng = random.Random(99)
        bursts = []
        for b in range(opts.bursts):
            version = opts.rounds + 1 + b
            t0 = time.time()
            res = L.load(srv.port, burst_commands(watcher, n, size, version, rng, expected), window=opts.window)
            t1 = time.time()
            write_spans.append((t0, t1))
            quiet = L.wait_quiet(srv.port, opts.drain, poll=0.25)
            bursts.append({"version": version, "keys": res["keys_acked"], "write_seconds": round(t1 - t0, 2),
                           "then_quiet_after": quiet, "errors": res["errors"]})
            print(f"  burst {b + 1}: {res['keys_acked']:,} keys in {t1 - t0:.1f} s, then compactions for {quiet} s",
                  flush=True)
        results["bursts"] = bursts
        sampler.mark("idle after")
        time.sleep(opts.idle_seconds)
        open(stop_file, "w").close()
        probe.join(60)
        with open(probe_out, "rb") as fh:
            probed = pickle.load(fh)
        watcher.stop()

        # ---- group the GETs by what the server was doing ---------------------------------
        groups: dict[str, list[float]] = {k: [] for k in GROUPS}
        unknown = 0
        for t, lat in zip(probed["starts"], probed["lat"]):
            state = watcher.state_at(t)
            if state is None:
                unknown += 1
                continue
            jobs, compactions = state
            writing = any(a <= t <= b for a, b in write_spans)
            if compactions > 0:
                g = "writes + compaction" if writing else "compaction, no writes"
            elif jobs > 0:
                g = "writes + flush" if writing else "flush, no writes"
            else:
                g = "writes, no job" if writing else "idle"
            groups[g].append(lat)
        results["get_groups"] = {g: L.percentiles(v) for g, v in groups.items() if v}
        results["gets_unclassified"] = unknown
        results["gets_bad"] = len(probed["bad"])
        results["gets_bad_examples"] = probed["bad"][:5]
        results["gets_total"] = len(probed["lat"])

        # ---- the final check: every key at its last version ----------------------------
        last_version = rounds[-1]["round"] if rounds and not rounds[-1].get("stopped") else None
        if last_version is not None:
            rng = random.Random(5)
            picks = [rng.randrange(n) for _ in range(5000)]
            res = L.timed_gets(srv.port, ((L.key_of(i), L.value_for(i, size, expected.get(i, last_version)))
                                          for i in picks))
            results["final_check"] = {"gets": len(picks), "wrong": res["wrong"], "first_wrong": res["first_wrong"]}
        conn = L.Conn(srv.port)
        results["final"] = {"rss": srv.rss(), "disk_bytes": L.dir_bytes(sampler.store_dir),
                            "info_storage": conn.info("storage")}
        conn.close()
    except KeyboardInterrupt:
        results["interrupted"] = True
    except Exception as err:
        results["error"] = f"{type(err).__name__}: {err}"
        print("error:", results["error"], file=sys.stderr)
    finally:
        open(stop_file, "w").close()
        if probe is not None and probe.is_alive():
            probe.join(30)
        for th in (watcher, sampler):
            if th is not None:
                th.stop()
        if sampler is not None:
            results["samples"] = sampler.samples
            results["rss"] = {"max_server": sampler.max_rss, "max_child": sampler.max_child_rss,
                              "max_disk": sampler.max_disk}
        if watcher is not None:
            pts = watcher.points
            results["job_polls"] = len(pts)
            results["polls_with_compaction"] = sum(1 for p in pts if p[2] > 0)
            results["polls_with_write_stall"] = sum(1 for p in pts if p[3] > 0)
        results["server_log_tail"] = srv.log_tail(5)
        srv.stop()
    if opts.redis_rounds:
        try:
            results["redis_reference"] = redis_under_writes(opts, ctx, tmp)
        except Exception as err:
            results["redis_reference"] = {"error": f"{type(err).__name__}: {err}"}
    shutil.rmtree(tmp, ignore_errors=True)
    results["meta"]["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    out = Path(opts.out)
    L.write_json(out / f"{opts.name}.json", results)
    (out / f"{opts.name}.md").write_text(report(results))
    print(f"wrote {out / (opts.name + '.md')} and .json")
    return 0 if "error" not in results else 1


def redis_under_writes(opts: argparse.Namespace, ctx, tmp: str) -> dict:
    """The reference: a real Redis (AOF everysec), the same first write, writer process
    and prober; GET latency with and without the writes."""
    from tests.support import RedisReference

    if not RedisReference.available():
        return {"error": "redis-server not on PATH"}
    n, size = opts.keys, opts.value_size
    ref = RedisReference("--appendonly", "yes", "--appendfsync", "everysec")
    ref.start()
    try:
        L.load(ref.port, (L.mset_command(range(s, min(n, s + 100)), size, 0) for s in range(0, n, 100)),
               window=opts.window)
        stop_file, probe_out = os.path.join(tmp, "redis-stop"), os.path.join(tmp, "redis-probe.pickle")
        probe = ctx.Process(target=prober, args=(ref.port, n, size, opts.redis_rounds, opts.probe_rate, stop_file,
                                                 probe_out, 2))
        probe.start()
        idle = min(opts.idle_seconds, 5.0)
        time.sleep(idle)
        writer_out = os.path.join(tmp, "redis-writer.pickle")
        w = ctx.Process(target=writer, args=(ref.port, n, size, 1, opts.redis_rounds, opts.window, opts.deadline,
                                             writer_out))
        w_start = time.time()
        w.start()
        w.join()
        w_end = time.time()
        time.sleep(idle)
        open(stop_file, "w").close()
        probe.join(60)
        with open(probe_out, "rb") as fh:
            probed = pickle.load(fh)
        with open(writer_out, "rb") as fh:
            rounds = pickle.load(fh)
    finally:
        ref.stop()
    groups: dict[str, list[float]] = {"idle": [], "writes": []}
    for t, lat in zip(probed["starts"], probed["lat"]):
        groups["writes" if w_start <= t <= w_end else "idle"].append(lat)
    acked = sum(x["keys_acked"] for x in rounds)
    return {"rounds": opts.redis_rounds, "keys_per_s": round(acked / max(1e-9, w_end - w_start)),
            "gets_bad": len(probed["bad"]), **{g: L.percentiles(v) for g, v in groups.items()}}


GROUPS = ("idle", "compaction, no writes", "flush, no writes", "writes, no job", "writes + flush",
          "writes + compaction")


def report(r: dict) -> str:
    p = r["params"]
    n, size = p["keys"], p["value_size"]
    live = n * (size + 16)
    fin = r.get("final", {})
    st = fin.get("info_storage", {})
    samples = r.get("samples", [])
    over = [s for s in samples if s["phase"] in ("overwrite", "drain", "idle after")]
    lines = L.report_head(f"Overwrite-heavy load: {n:,} keys x {size} B, written {p['rounds'] + 1} times", r,
                          "bench/overwrite_heavy.py")
    rounds = r.get("rounds", [])
    total = sum(x["keys_acked"] for x in rounds)
    secs = r.get("overwrite_seconds") or 0
    rates = [x["keys_acked"] / x["seconds"] for x in rounds if x["seconds"]]
    third = max(1, len(rates) // 3)
    lines += [
        "## Does compaction keep up?",
        "",
        L.md_table(["", "value"], [
            ["overwrites acknowledged", f"{total:,} in {secs} s = {total / max(1e-9, secs):,.0f} keys/s "
                                        f"({total * size / MIB / max(1e-9, secs):.1f} MiB/s)"],
            ["write rate, first third of the rounds vs last third",
             f"{sum(rates[:third]) / third:,.0f} vs {sum(rates[-third:]) / third:,.0f} keys/s" if rates else "?"],
            ["compactions still running when the writes stopped", f"drained in {r.get('drain_seconds')} s"],
            ["L0 tables, max during the overwrites", max((s.get("storage_level0_tables") or 0) for s in over) if over else "?"],
            ["frozen memtables, max", max((s.get("storage_frozen_memtables") or 0) for s in over) if over else "?"],
            ["INFO polls with a write stall (writers held back)", f"{r.get('polls_with_write_stall')} of {r.get('job_polls')}"],
            ["INFO polls with a compaction running", f"{r.get('polls_with_compaction')} of {r.get('job_polls')}"],
            ["flushes / compactions / trivial moves", f"{st.get('storage_flushes')} / {st.get('storage_compactions')} / {st.get('storage_trivial_moves')}"],
            *L.job_rows(st, samples),
            ["write amplification ((WAL + flush + compaction bytes) / user bytes)", st.get("storage_write_amplification")],
            ["errors", ", ".join(f"round {x['round']}: {x.get('first_error')}" for x in rounds if x["errors"]) or "none"],
        ]),
        "",
        "## Is disk usage bounded?",
        "",
        L.md_table(["", "value"], [
            ["live data (keys + values)", mib(live)],
            ["data directory, max during the run", f"{mib(r.get('rss', {}).get('max_disk'))} = {(r.get('rss', {}).get('max_disk') or 0) / live:.2f}x live"],
            ["data directory at the end", f"{mib(fin.get('disk_bytes'))} = {(fin.get('disk_bytes') or 0) / live:.2f}x live"],
            ["storage_table_bytes at the end", mib(L.as_int(st.get("storage_table_bytes")))],
            ["storage_space_amplification at the end", st.get("storage_space_amplification")],
            ["storage_space_amplification, max during the overwrites", max((s.get("storage_space_amplification") or 0) for s in over) if over else "?"],
            ["total bytes written by the clients", mib(L.as_int(st.get("storage_user_bytes_written")))],
        ]),
        "",
        "## GET latency by what the server was doing (one GET at a time, "
        f"{p['probe_rate']:.0f}/s, every answer checked)",
        "",
    ]
    rows = []
    for g in GROUPS:
        v = r.get("get_groups", {}).get(g)
        if v:
            rows.append([g, v["n"], v["p50_ms"], v["p90_ms"], v["p99_ms"], v["p99.9_ms"], v["max_ms"]])
    ref = r.get("redis_reference", {})
    for g in ("idle", "writes"):
        v = ref.get(g)
        if v:
            rows.append([f"reference: Redis, {g} ({ref['rounds']} rounds at {ref['keys_per_s']:,} keys/s)",
                         v["n"], v["p50_ms"], v["p90_ms"], v["p99_ms"], v["p99.9_ms"], v["max_ms"]])
    if ref.get("error"):
        rows.append([f"reference: Redis: {ref['error']}", "", "", "", "", "", ""])
    lines += [
        L.md_table(["server state", "GETs", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"], rows),
        "",
        f"{r.get('gets_total')} GETs, {r.get('gets_unclassified')} left out (the state changed between two "
        f"polls around them), {r.get('gets_bad')} wrong answers. "
        + (f"Final check: {r['final_check']['gets']} GETs of the last version, {r['final_check']['wrong']} wrong."
           if r.get("final_check") else ""),
        "",
        "## Over time",
        "",
    ]
    rows = []
    for s in L.thin(samples, 30):
        rows.append([s["t"], s["phase"], mib(s["disk"]), mib(L.as_int(s.get("storage_table_bytes"))),
                     s.get("storage_space_amplification"), s.get("storage_level0_tables"),
                     mib(L.as_int(s.get("storage_level1_bytes"))), mib(L.as_int(s.get("storage_level2_bytes"))),
                     s.get("storage_compactions"), s.get("storage_write_stall"), mib(s["rss"]), mib(s["children_rss"])])
    lines += [L.md_table(["t s", "phase", "disk", "table bytes", "space amp", "L0 tables", "L1", "L2",
                          "compactions", "stall", "server RSS", "children RSS"], rows), ""]
    rows = [[b["version"], f"{b['keys']:,}", b["write_seconds"], b["then_quiet_after"]] for b in r.get("bursts", [])]
    if rows:
        lines += ["Bursts (write until a compaction starts, then no writes until it is done):", "",
                  L.md_table(["version", "keys written", "seconds writing", "seconds until quiet"], rows), ""]
    rows = [[x["round"], f"{x['keys_acked']:,}", x["seconds"], f"{x['keys_acked'] / max(1e-9, x['seconds']):,.0f}"] for x in rounds]
    lines += ["Rounds:", "", L.md_table(["round", "keys", "seconds", "keys/s"], rows), ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
