"""From the raw rounds to what a reader sees: medians, ratios, goals, Markdown, JSON, plot.

A case's raw data is `rounds[server]`, a list with one dict per round: the metrics of that
run, or {"error": "..."}.  A metric's summary is the median per server over the rounds
that have it, the ratio HyperCache median / Redis median, and the spread of the per-round
ratios (round i of HyperCache over round i of Redis, the pairs run back to back).
"""

from __future__ import annotations

import json
import shlex
import statistics
from pathlib import Path

from .servers import HYPERCACHE, NAMES, REDIS

UNITS = {"rps": "ops/s", "p50_ms": "p50 ms", "p99_ms": "p99 ms", "p99.9_ms": "p99.9 ms",
         "bytes_per_key": "bytes/key", "rss_mib": "RSS MiB", "hot_get_p99_ms": "hot-key GET p99 ms",
         "cold_get_p99_ms": "cold-key GET p99 ms", "hot_get_rps": "hot-key GET ops/s",
         "cold_get_rps": "cold-key GET ops/s", "load_seconds": "load time s (MSETs of 100 keys)"}


def summary(case: dict, metric: str) -> dict | None:
    """{"redis", "hypercache", "ratio", "round_ratios"} of one metric, or None if a side has no value."""
    values = {name: [r[metric] for r in case["rounds"].get(name, []) if r.get(metric) is not None]
              for name in NAMES}
    if not values[REDIS] or not values[HYPERCACHE]:
        return None
    medians = {name: statistics.median(v) for name, v in values.items()}
    if not medians[REDIS]:
        return None
    pairs = zip(case["rounds"][REDIS], case["rounds"][HYPERCACHE])
    round_ratios = [h[metric] / r[metric] for r, h in pairs if r.get(metric) and h.get(metric) is not None]
    return {**medians, "ratio": medians[HYPERCACHE] / medians[REDIS], "round_ratios": round_ratios}


def summarize(results: dict) -> None:
    """Add the "summary" of every metric of every case, and the goals, to results (in place)."""
    from .cases import BY_NAME

    for name, case in results["cases"].items():
        case["summary"] = {m: s for m in BY_NAME[name].metrics if (s := summary(case, m)) is not None}
    results["goals"] = goals(results["cases"])


def _get(cases: dict, case: str, metric: str) -> dict | None:
    return cases.get(case, {}).get("summary", {}).get(metric)


def _why_missing(cases: dict, *names: str) -> str:
    for name in names:
        if name not in cases:
            return f"not measured ({name} not run)"
        errors = cases[name].get("errors")
        if errors:
            return f"not measured ({name}: {errors[0]})"
    return "not measured"


def goals(cases: dict) -> list[dict]:
    out = []

    def goal(text: str, ok: bool | None, figure: str, missing: str = "") -> None:
        status = missing if ok is None else ("met" if ok else "not met")
        out.append({"goal": text, "status": status, "figure": figure})

    for op in ("get", "set"):
        s = _get(cases, op, "rps")
        goal(f"non-pipelined {op.upper()} throughput >= 0.8x Redis", s and s["ratio"] >= 0.8,
             f"{s['ratio']:.2f}x" if s else "", _why_missing(cases, op))
    for op in ("get", "set"):
        s = _get(cases, f"{op}-P16", "rps")
        figure = f"{s['ratio']:.2f}x, HyperCache {s[HYPERCACHE]:,.0f} ops/s" if s else ""
        goal(f"pipelined (-P 16) {op.upper()} >= 0.5x Redis and > 100,000 ops/s",
             s and s["ratio"] >= 0.5 and s[HYPERCACHE] > 100_000, figure, _why_missing(cases, f"{op}-P16"))
    source = "get-latency" if _get(cases, "get-latency", "p99_ms") else "get"
    s = _get(cases, source, "p99_ms")
    goal("GET p99 < 1 ms at 50 clients", s and s[HYPERCACHE] < 1.0,
         f"HyperCache {s[HYPERCACHE]:.3f} ms (Redis {s[REDIS]:.3f} ms; {source})" if s else "",
         _why_missing(cases, "get-latency"))
    s = _get(cases, "memory-1m", "bytes_per_key")
    goal("1M keys in memory: bytes per key <= Redis's", s and s["ratio"] <= 1.0,
         f"{s['ratio']:.2f}x (HyperCache {s[HYPERCACHE]:.0f} B/key, Redis {s[REDIS]:.0f} B/key)" if s else "",
         _why_missing(cases, "memory-1m"))
    rss, hot = _get(cases, "memory-10m", "rss_mib"), _get(cases, "memory-10m", "hot_get_p99_ms")
    figure = ", ".join(part for part in (
        f"RSS {rss['ratio']:.2f}x Redis" if rss else "",
        f"hot-key GET p99 {hot[HYPERCACHE]:.3f} ms" if hot else "") if part)
    goal("10M keys: RSS <= 0.25x Redis's with hot-key GET p99 < 1 ms",
         (rss["ratio"] <= 0.25 and hot[HYPERCACHE] < 1.0) if rss and hot else (False if rss else None),
         figure, _why_missing(cases, "memory-10m"))
    return out


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    if metric.endswith("rps"):
        return f"{value:,.0f}"
    if metric.endswith("_ms"):
        return f"{value:.3f}"
    if metric in ("rss_mib", "load_seconds"):
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def _ratio_cells(s: dict | None) -> list[str]:
    if s is None:
        return ["—", "—"]
    rr = s["round_ratios"]
    spread = f"{min(rr):.2f}–{max(rr):.2f}" if len(rr) > 1 else (f"{rr[0]:.2f}" if rr else "—")
    return [f"**{s['ratio']:.2f}**", spread]


def _cells(case: dict, metric: str) -> list[str]:
    s = case.get("summary", {}).get(metric)
    if s is None:
        return ["—", "—", "—", "—"]
    return [_fmt(metric, s[REDIS]), _fmt(metric, s[HYPERCACHE]), *_ratio_cells(s)]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def markdown(results: dict, plot_name: str | None) -> str:
    from .cases import BY_NAME

    meta, cases = results["meta"], results["cases"]
    lines = [f"# HyperCache vs Redis: benchmark of {meta['started']}", ""]
    if meta["quick"]:
        lines += ["**Quick run** (`--quick`: few requests, one round, no 10M case): a smoke test of the "
                  "harness, not figures to quote.", ""]
    lines += [
        f"- Machine: {meta['host']['cpus']} CPUs, {meta['host']['kernel']}; load average {meta['host']['load_start']} "
        f"at the start, {meta['host'].get('load_end', '?')} at the end; run took {meta.get('seconds', 0) / 60:.1f} min.",
        f"- Redis: {meta['versions']['redis']} as `{shlex.join(meta['argv'][REDIS])}`.",
        f"- HyperCache: {meta['versions']['hypercache']} (commit {meta['versions']['commit']}) as "
        f"`{shlex.join(meta['argv'][HYPERCACHE])}`.",
        f"- {meta['rounds']} round(s); in each round every case runs on Redis, then on HyperCache. "
        "Figures are medians over the rounds; **ratio = HyperCache median / Redis median** "
        "(throughput: higher is better; latency and memory: lower is better); "
        "\"per round\" is the range of the ratios of the back-to-back pairs.",
        "- Absolute numbers are this noisy shared machine's and only there to make the ratio readable.",
        "",
        "## Goals", "",
        *_table(["goal", "figure", "status"], [[g["goal"], g["figure"] or "—", g["status"]] for g in results["goals"]]),
        "",
    ]
    throughput = [n for n in cases if BY_NAME[n].group == "throughput"]
    if throughput:
        rows = [[cases[n].get("title", BY_NAME[n].title), f"{cases[n]['requests']:,}", *_cells(cases[n], "rps"),
                 *_cells(cases[n], "p99_ms")[:3]] for n in throughput]
        lines += ["## Throughput", "",
                  "redis-benchmark, 50 clients, 100-byte values, keys random over 1M (`-r 1000000`) on the "
                  "loaded 1M-key dataset. MSET/MGET: commands per second (10 keys each).", "",
                  *_table(["case", "requests", "Redis ops/s", "HyperCache ops/s", "ratio", "per round",
                           "Redis p99 ms", "HyperCache p99 ms", "p99 ratio"], rows), ""]
    detail = [n for n in cases if BY_NAME[n].group != "throughput"]
    if detail:
        rows = [[cases[n].get("title", BY_NAME[n].title), UNITS[m], *_cells(cases[n], m)] for n in detail for m in BY_NAME[n].metrics]
        lines += ["## Latency, misses and memory", "", *_table(["case", "metric", "Redis", "HyperCache", "ratio",
                                                                 "per round"], rows), ""]
    if plot_name:
        lines += [f"Latency distribution of GET at 50 clients (get-latency): ![latency CDF]({plot_name})", ""]
    notes = [f"- {n}: {text}" for n, case in cases.items() for text in case.get("notes", [])]
    errors = [f"- {n}: {text}" for n, case in cases.items() for text in case.get("errors", [])]
    notes += [f"- {text}" for text in meta.get("notes", [])]
    if notes:
        lines += ["## Notes", "", *notes, ""]
    if errors:
        lines += ["## Errors", "", *errors, ""]
    return "\n".join(lines)


def plot(results: dict, path: Path) -> str | None:
    """CDF and percentile (tail) plot of get-latency, every round of both servers; None if not possible."""
    case = results["cases"].get("get-latency")
    runs = {name: [r for r in case["rounds"].get(name, []) if r.get("distribution")] for name in NAMES} if case else {}
    if not any(runs.values()):
        return "no get-latency distribution to plot"
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FixedLocator, FixedFormatter
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]'): no plot"
    import math

    colors = {REDIS: "tab:red", HYPERCACHE: "tab:blue"}
    fig, (cdf, tail) = plt.subplots(1, 2, figsize=(12, 4.5))
    nines = [50, 90, 99, 99.9, 99.99]
    for name, rounds in runs.items():
        for i, run in enumerate(rounds):
            label = name if i == 0 else None
            # CDF: both sections of the report, as points (latency, share at or below it)
            points = sorted({(v, p) for p, v in run["distribution"] + run.get("cumulative", [])})
            cdf.plot([v for v, _ in points], [p for _, p in points], color=colors[name], alpha=0.8, label=label)
            tail_points = [(p, v) for p, v in run["distribution"] if p < 100.0]
            tail.plot([-math.log10(1 - p / 100) for p, _ in tail_points], [v for _, v in tail_points],
                      color=colors[name], alpha=0.8, label=label, marker=".")
    cdf.set(xlabel="latency (ms, log scale)", ylabel="percentile", title="GET, 50 clients: latency CDF", xscale="log")
    tail.set(xlabel="percentile", ylabel="latency (ms)", title="GET, 50 clients: latency by percentile",
             yscale="log")
    tail.xaxis.set_major_locator(FixedLocator([-math.log10(1 - q / 100) for q in nines]))
    tail.xaxis.set_major_formatter(FixedFormatter([f"{q:g}%" for q in nines]))
    for ax in (cdf, tail):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"redis-benchmark HdrHistogram percentiles, {len(runs[REDIS]) or len(runs[HYPERCACHE])} round(s) "
                 f"each ({results['meta']['started']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def write(results: dict, out_dir: Path, stamp: str) -> list[Path]:
    """latest.md, latest.json, latency.png and their dated copies; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summarize(results)
    written = []
    problem = plot(results, out_dir / "latency.png")
    if problem is None:
        (out_dir / f"{stamp}-latency.png").write_bytes((out_dir / "latency.png").read_bytes())
        written += [out_dir / "latency.png", out_dir / f"{stamp}-latency.png"]
    else:
        results["meta"].setdefault("notes", []).append(problem)
    for name in ("latest", stamp):
        plot_name = ("latency.png" if name == "latest" else f"{stamp}-latency.png") if problem is None else None
        (out_dir / f"{name}.md").write_text(markdown(results, plot_name) + "\n")
        (out_dir / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
        written += [out_dir / f"{name}.md", out_dir / f"{name}.json"]
    return written
