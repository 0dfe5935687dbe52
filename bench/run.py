#!/usr/bin/env python3
"""HyperCache against a real Redis on this machine, case by case, in alternation.

    .venv/bin/python bench/run.py                      # everything, 3 rounds (~15-20 min)
    .venv/bin/python bench/run.py --quick              # few requests, 1 round, no 10M case (< 3 min)
    .venv/bin/python bench/run.py --cases get,set-P16 --rounds 5
    .venv/bin/python bench/run.py --cases memory-10m --big-keys 2000000

Starts redis-server (`--appendonly yes --appendfsync everysec --save ""`) and
hypercache-server (`--appendonly yes --appendfsync everysec`) on free ports of 127.0.0.1 in
temporary directories, loads the same 1M keys into both (the memory-1m case), then runs
every selected redis-benchmark case on Redis, then on HyperCache, round after round.  The
memory-10m case restarts both with 10M keys, HyperCache's maxmemory at a tenth of Redis's
RSS.  Writes bench/results/latest.md, latest.json, latency.png and dated copies.
A failing case or server is reported as such; it does not stop the run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import cases as C  # noqa: E402
from harness import loader, redisbench, report  # noqa: E402
from harness.servers import HYPERCACHE, NAMES, REDIS, REPO, Server, argv, dir_bytes  # noqa: E402

MIB = 2**20


def mem_available() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 4 * 2**30


def command_output(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=REPO).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Run:
    def __init__(self, opts: argparse.Namespace, selected: list[str]) -> None:
        self.opts = opts
        self.quick = opts.quick
        self.rounds = opts.rounds or (1 if opts.quick else 3)
        self.selected = selected
        self.servers: dict[str, Server] = {}
        self.t0 = time.monotonic()
        dirty = command_output("git", "status", "--porcelain", "--", "hypercache")
        self.results: dict = {
            "meta": {
                "started": datetime.datetime.now().isoformat(timespec="seconds"),
                "quick": self.quick, "rounds": self.rounds, "cases": selected,
                "host": {"cpus": os.cpu_count(), "kernel": " ".join(os.uname()[::2]), "load_start": load_average()},
                "versions": {
                    "redis": command_output("redis-server", "--version"),
                    "redis-benchmark": command_output("redis-benchmark", "--version"),
                    "hypercache": command_output(str(Path(sys.executable).parent / "hypercache-server"), "--version"),
                    "commit": command_output("git", "rev-parse", "--short", "HEAD")
                              + (" + uncommitted changes in hypercache/" if dirty not in ("", "?") else ""),
                },
                "argv": {name: argv(name) for name in NAMES},
                "notes": [],
            },
            "cases": {name: {"title": C.BY_NAME[name].title.format(keys=opts.big_keys), "group": C.BY_NAME[name].group,
                             "requests": C.BY_NAME[name].requests(self.quick),
                             "rounds": {REDIS: [], HYPERCACHE: []}, "errors": [], "notes": []}
                      for name in selected},
        }

    # --- bookkeeping -------------------------------------------------------------------
    def log(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.0f}s] {text}", flush=True)

    def record(self, case: str, server: str, values: dict) -> None:
        """One round's result of one server (values, or {"error": ...}); errors also listed."""
        entry = self.results["cases"][case]
        entry["rounds"][server].append(values)
        if "error" in values:
            entry["errors"].append(f"{server}, round {len(entry['rounds'][server])}: {values['error']}")
        shown = {k: (f"{v:,.3f}" if isinstance(v, float) else v) for k, v in values.items()
                 if k in ("rps", "p99_ms", "bytes_per_key", "rss_mib", "hot_get_p99_ms", "cold_get_p99_ms", "error")}
        self.log(f"{case:12s} {server:10s} {shown}")

    def note(self, case: str | None, text: str) -> None:
        (self.results["cases"][case]["notes"] if case else self.results["meta"]["notes"]).append(text)
        self.log(f"note: {text}")

    # --- servers -----------------------------------------------------------------------
    def stop_all(self) -> None:
        for name in list(self.servers):
            self.servers.pop(name).stop()

    def start_loaded(self, name: str, keys: int, *extra: str, rss_cap: int | None = None,
                     deadline_s: float = 120.0, settle_s: float = 120.0) -> tuple[Server | None, dict]:
        """A fresh server with keys 0..keys-1 loaded; (server or None, memory figures or error)."""
        old = self.servers.pop(name, None)
        if old is not None:
            old.stop()
        server = Server(name, *extra)
        try:
            server.start()
        except Exception as err:  # a refused flag, a crash at start
            return None, {"error": f"did not start: {str(err).strip()[:300]}"}
        self.servers[name] = server
        time.sleep(0.5)
        empty = server.rss() or 0
        self.log(f"loading {keys:,} keys into {name}")
        load = loader.load(server.port, keys, rss=server.rss, rss_cap=rss_cap, deadline_s=deadline_s)
        if "aborted" in load:
            detail = (server.exit_status() if not server.alive() else
                      f"{load['sent']:,} keys sent, RSS then {(server.rss() or 0) / MIB:,.0f} MiB")
            return server, {"error": f"load aborted after {load['seconds']:.0f} s: {load['aborted']} ({detail})",
                            "load": load}
        quiet_start = time.monotonic()
        still_busy = server.wait_quiet(settle_s)
        after = server.rss() or 0
        values = {"rss_empty_mib": empty / MIB, "rss_mib": after / MIB, "bytes_per_key": (after - empty) / keys,
                  "children_rss_mib": server.children_rss() / MIB, "dbsize": server.dbsize(),
                  "load_seconds": load["seconds"], "settle_seconds": round(time.monotonic() - quiet_start, 1),
                  "data_dir_mib": dir_bytes(server.data_dir) / MIB}
        if still_busy:
            values["busy_at_measurement"] = still_busy
            self.note(None, f"{name} was still busy ({', '.join(still_busy)}) {settle_s:.0f} s after loading {keys:,} keys, "
                            "when its RSS was read")
        if values["dbsize"] != keys:
            values["error"] = f"DBSIZE is {values['dbsize']} after loading {keys:,} keys"
        return server, values

    def bench(self, name: str, options: list[str], command: list[str], n: int, text: bool = False) -> dict:
        """One redis-benchmark run on one server: its figures, or {"error": ...}."""
        server = self.servers.get(name)
        if server is None or not server.alive():
            return {"error": "server not running" + (f" ({server.exit_status()})" if server else "")}
        try:
            return redisbench.run(server.port, [*options, "-n", str(n)], command, text=text,
                                  timeout=60.0 if self.quick else 240.0)
        except redisbench.BenchError as err:
            return {"error": str(err) + ("" if server.alive() else f" ({server.exit_status()})")}

    # --- phases ------------------------------------------------------------------------
    def dataset_1m(self) -> None:
        """Load 1M keys into fresh servers (--memory-rounds times if memory-1m is selected, else once)."""
        measured = "memory-1m" in self.selected
        cap = int(mem_available() * 0.6)
        for rnd in range(self.opts.memory_rounds if measured else 1):
            for name in NAMES:
                server, values = self.start_loaded(name, C.KEYSPACE, rss_cap=cap)
                if measured:
                    self.record("memory-1m", name, values)
                elif "error" in values:
                    self.note(None, f"{name}: loading the 1M-key dataset failed: {values['error']}")
        dirs = {name: dir_bytes(s.data_dir) for name, s in self.servers.items()}
        if len(dirs) == 2:
            self.note(None, f"data directories after the 1M-key load: Redis {dirs[REDIS] / MIB:.1f} MiB, "
                            f"HyperCache {dirs[HYPERCACHE] / MIB:.1f} MiB")
            if dirs[HYPERCACHE] < 0.01 * dirs[REDIS]:
                self.note(None, "HyperCache wrote (almost) nothing to its data directory: its writes are not "
                                "persisted yet, so the comparison with Redis's AOF is not like for like")

    def bench_cases(self) -> None:
        names = [n for n in self.selected if C.BY_NAME[n].group != "memory"]
        for rnd in range(self.rounds):
            self.log(f"round {rnd + 1}/{self.rounds}")
            for case_name in names:
                case = C.BY_NAME[case_name]
                for name in NAMES:
                    values = self.bench(name, case.options, case.command, case.requests(self.quick), case.text)
                    self.record(case_name, name, values)

    def memory_10m(self) -> None:
        case = "memory-10m"
        keys = self.opts.big_keys
        self.stop_all()
        redis, rvalues = self.start_loaded(REDIS, keys, rss_cap=int(mem_available() * 0.6), deadline_s=300)
        if "error" in rvalues:
            self.record(case, REDIS, rvalues)
            self.record(case, HYPERCACHE, {"error": "not run: Redis's RSS sets its maxmemory"})
            return
        maxmemory = int(rvalues["rss_mib"] * MIB / 10)
        cap = min(max(3 * int(rvalues["rss_mib"] * MIB), 2 * 2**30), int(mem_available() * 0.6))
        self.note(case, f"{keys:,} keys; HyperCache --maxmemory {maxmemory:,} ({maxmemory / MIB:.0f} MiB, a tenth "
                        f"of Redis's RSS) --maxmemory-policy allkeys-lru; its load is stopped past an RSS of "
                        f"{cap / MIB:,.0f} MiB or {self.opts.big_deadline:.0f} s")
        hc, hvalues = self.start_loaded(HYPERCACHE, keys, "--maxmemory", str(maxmemory), "--maxmemory-policy",
                                        "allkeys-lru", rss_cap=cap, deadline_s=self.opts.big_deadline,
                                        settle_s=300.0)  # compacting 10M keys outlasts 120 s
        warm, hot, cold = (C.BIG_COUNTS[k][1 if self.quick else 0] for k in ("warm", "hot", "cold"))
        for name in NAMES:
            if "error" not in (rvalues if name == REDIS else hvalues):
                warmed = self.bench(name, C.big_get(C.hot_keys(keys), 16), [], warm)
                if "error" in warmed:
                    self.note(case, f"{name}: warming the hot keys failed: {warmed['error']}")
        for rnd in range(self.rounds):
            for name, memory in ((REDIS, rvalues), (HYPERCACHE, hvalues)):
                if "error" in memory:
                    self.record(case, name, memory if rnd == 0 else {"error": "not run (load failed)"})
                    continue
                values = dict(memory) if rnd == 0 else {}
                for label, options, n in (("hot", C.big_get(C.hot_keys(keys)), hot), ("cold", C.big_get(keys), cold)):
                    got = self.bench(name, options, [], n)
                    if "error" in got:
                        values["error"] = f"{label}-key GET: {got['error']}"
                    else:
                        values.update({f"{label}_get_p99_ms": got["p99_ms"], f"{label}_get_rps": got["rps"]})
                self.record(case, name, values)
        for name, server in self.servers.items():
            if server.alive():
                self.note(case, f"{name}: RSS after the GET runs {(server.rss() or 0) / MIB:,.0f} MiB, data directory "
                                f"{dir_bytes(server.data_dir) / MIB:,.0f} MiB")
        self.stop_all()

    def run(self) -> None:
        phases = []
        if any(n != "memory-10m" for n in self.selected):
            phases += [self.dataset_1m, self.bench_cases]
        if "memory-10m" in self.selected:
            phases.append(self.memory_10m)
        try:
            for phase in phases:
                try:
                    phase()
                except Exception as err:  # a harness bug must not lose the rest of the run
                    where = traceback.extract_tb(err.__traceback__)[-1]
                    self.note(None, f"phase {phase.__name__} failed: {type(err).__name__}: {err} "
                                    f"(at {Path(where.filename).name}:{where.lineno})")
                    traceback.print_exc()
        except KeyboardInterrupt:
            self.note(None, "interrupted: the results are partial")
        finally:
            self.stop_all()
        meta = self.results["meta"]
        meta["seconds"] = round(time.monotonic() - self.t0, 1)
        meta["host"]["load_end"] = load_average()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--quick", action="store_true", help="few requests, 1 round, skip memory-10m")
    parser.add_argument("--rounds", type=int, help="rounds of alternation (default 3; quick 1)")
    parser.add_argument("--cases", nargs="*", default=[],
                        help=f"case names or groups (all, {', '.join(C.GROUPS)}); names: {', '.join(C.BY_NAME)}")
    parser.add_argument("--memory-rounds", type=int, default=1,
                        help="loads of the 1M-key dataset measured by memory-1m (default 1: RSS is not noisy)")
    parser.add_argument("--big-keys", type=int, default=C.BIG_KEYSPACE, help="keys of the memory-10m case")
    parser.add_argument("--big-deadline", type=float, default=420.0, help="seconds allowed for HyperCache's 10M load")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results directory")
    opts = parser.parse_args()
    selected = C.select(opts.cases, opts.quick)

    def terminate(signum, frame):  # SIGTERM: stop the servers and write what we have
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    run = Run(opts, selected)
    run.log(f"cases: {', '.join(selected)}; {run.rounds} round(s){' (quick)' if opts.quick else ''}")
    run.run()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + ("-quick" if opts.quick else "")
    for path in report.write(run.results, opts.out, stamp):
        print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    print()
    print((opts.out / "latest.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
