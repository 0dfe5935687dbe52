"""Run redis-benchmark (redis-tools 7) against one server and parse what it prints.

CSV (`--csv`): one header row, then one row per test:
    "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
It has no p99.9 and no distribution, so the latency case runs without --csv, with
`--precision 3`, and reads the text report instead: the HdrHistogram "Latency by
percentile distribution" (lines `99.902% <= 0.879 milliseconds (cumulative count N)`), the
"throughput summary" line and the "latency summary" row.  A percentile that is not printed
exactly is taken at the first printed percentile at or above it (p99.9 -> the 99.902% line):
an upper bound, never an interpolation.  The "Cumulative distribution of latencies" section
(the share of requests under fixed latency steps) is kept too: it fills in the body of the CDF.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess

PERCENTILE_LINE = re.compile(r"^\s*([\d.]+)% <= ([\d.]+) milliseconds \(cumulative count (\d+)\)")
THROUGHPUT = re.compile(r"throughput summary: ([\d.]+) requests per second")
CSV_FIELDS = {"rps": "rps", "avg_latency_ms": "avg_ms", "min_latency_ms": "min_ms", "p50_latency_ms": "p50_ms",
              "p95_latency_ms": "p95_ms", "p99_latency_ms": "p99_ms", "max_latency_ms": "max_ms"}
SUMMARY_COLUMNS = ("avg_ms", "min_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")


class BenchError(RuntimeError):
    """redis-benchmark failed, timed out or printed nothing we could read."""


def run(port: int, options: list[str], command: list[str], *, text: bool = False, timeout: float = 120.0) -> dict:
    """Run one test; returns {"rps", "p50_ms", "p99_ms", ...} (+ "distribution" in text mode)."""
    output = ["--precision", "3"] if text else ["--csv"]
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), *options, *output, *command]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BenchError(f"redis-benchmark timed out after {timeout:.0f} s") from None
    out = proc.stdout.replace("\r", "\n")
    errors = [line.strip() for line in (out + "\n" + proc.stderr).splitlines()
              if re.search(r"\berror\b|\bERR\b|WRONGTYPE|OOM", line, re.IGNORECASE)]
    if proc.returncode != 0 or errors:
        detail = "; ".join(errors[:2]) or (proc.stderr.strip() or out.strip())[-200:]
        raise BenchError(f"redis-benchmark exited {proc.returncode}: {detail}")
    result = parse_text(out) if text else parse_csv(out)
    warnings = [line.strip() for line in proc.stderr.splitlines() if "WARN" in line.upper()]
    if warnings:
        result["warnings"] = warnings
    return result


def parse_csv(out: str) -> dict:
    rows = list(csv.DictReader(io.StringIO(out[out.find('"test"'):]))) if '"test"' in out else []
    if not rows:
        raise BenchError(f"no CSV row in redis-benchmark output: {out.strip()[-200:]!r}")
    row = rows[0]
    try:
        return {name: float(row[field]) for field, name in CSV_FIELDS.items()}
    except (KeyError, TypeError, ValueError) as err:
        raise BenchError(f"unreadable CSV row {row!r}: {err}") from None


def parse_text(out: str) -> dict:
    """The text report: throughput, the latency summary row and the percentile distribution."""
    lines = out.splitlines()
    sections: dict[str, list[tuple[float, float]]] = {"percentile": [], "cumulative": []}  # (percentile, ms)
    section = ""
    result: dict = {}
    for i, line in enumerate(lines):
        if line.startswith("Latency by percentile distribution"):
            section = "percentile"
        elif line.startswith("Cumulative distribution of latencies"):
            section = "cumulative"
        elif (match := PERCENTILE_LINE.match(line)) and section:
            sections[section].append((float(match.group(1)), float(match.group(2))))
        elif match := THROUGHPUT.search(line):
            result["rps"] = float(match.group(1))
        elif line.split() == ["avg", "min", "p50", "p95", "p99", "max"] and i + 1 < len(lines):
            values = lines[i + 1].split()
            if len(values) == len(SUMMARY_COLUMNS):
                result.update({name: float(v) for name, v in zip(SUMMARY_COLUMNS, values)})
    distribution = sections["percentile"]
    if "rps" not in result or not distribution:
        raise BenchError(f"no throughput or latency distribution in redis-benchmark output: {out.strip()[-200:]!r}")
    result["p99.9_ms"] = percentile(distribution, 99.9)
    result.setdefault("p50_ms", percentile(distribution, 50.0))
    result.setdefault("p99_ms", percentile(distribution, 99.0))
    result["distribution"] = distribution
    result["cumulative"] = sections["cumulative"]
    return result


def percentile(distribution: list[tuple[float, float]], q: float) -> float:
    """Latency at the first printed percentile >= q (an upper bound of the true value)."""
    for pct, latency in distribution:
        if pct >= q:
            return latency
    return distribution[-1][1]
