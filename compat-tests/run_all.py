#!/usr/bin/env python3
"""Run every real-client compatibility runner, each against its own fresh hypercache-server.

    .venv/bin/python compat-tests/run_all.py                  # all runners
    .venv/bin/python compat-tests/run_all.py jedis redis-py   # some of them
    .venv/bin/python compat-tests/run_all.py --against-redis  # check the suite itself on redis-server
    HYPERCACHE_COMPAT_SKIP=jedis,redis-benchmark .venv/bin/python compat-tests/run_all.py

Prints one PASS/FAIL/SKIP line per runner (with the runner's own report indented under
it), then a last line `compat: N passed, M failed`; exits 1 if any runner failed. A runner
whose tool is missing fails, unless HYPERCACHE_COMPAT_SKIP (comma or space separated
runner names) lists it. Every runner has a time limit; on expiry its process group is
killed and it fails.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from tests.support import RedisReference, ServerProcess  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Maven's closing boilerplate after a failure says nothing about the failure itself.
NOISE = re.compile(r"^\[ERROR\] *($|-> \[Help 1\]|To see the full stack trace|Re-run Maven using|"
                   r"For more information about the errors|\[Help 1\] http|Please refer to )")


@dataclass
class Runner:
    name: str
    summary: str
    argv: Callable[[int], list[str]]
    tools: list[str]  # executables on PATH, or "python:<module>"
    timeout: float
    cwd: Path = HERE
    after: Callable[[], list[str]] | None = None  # extra report lines (read from files)
    before: Callable[[], None] | None = None


def jedis_before() -> None:
    shutil.rmtree(HERE / "jedis" / "target" / "surefire-reports", ignore_errors=True)


def jedis_after() -> list[str]:
    """Totals from surefire's XML reports (mvn -q prints nothing when all pass)."""
    reports = sorted((HERE / "jedis" / "target" / "surefire-reports").glob("TEST-*.xml"))
    if not reports:
        return []
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for path in reports:
        try:
            suite = ET.parse(path).getroot()
        except ET.ParseError:
            continue
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    passed = totals["tests"] - totals["failures"] - totals["errors"] - totals["skipped"]
    return [f"jedis: {passed}/{totals['tests']} tests passed in {len(reports)} classes "
            f"({totals['failures']} failures, {totals['errors']} errors, {totals['skipped']} skipped)"]


RUNNERS = [
    Runner("redis-cli", "redis-cli: argument form, stdin, --no-raw, -3, error display",
           lambda port: [sys.executable, str(HERE / "redis_cli.py"), "--port", str(port)],
           ["redis-cli"], timeout=60),
    Runner("redis-py", "redis-py as an application: RESP2/RESP3, pipelines, WATCH, threads",
           lambda port: [sys.executable, str(HERE / "redis_py_client.py"), "--port", str(port)],
           ["python:redis"], timeout=90),
    Runner("jedis", "Jedis 5 JUnit suite over RESP2 and RESP3 (Maven)",
           lambda port: ["mvn", "-q", "-B", "-ntp", "-Dstyle.color=never", "test", f"-DHC_PORT={port}",
                         "-DHC_HOST=127.0.0.1"],
           ["mvn", "java"], timeout=200, cwd=HERE / "jedis", before=jedis_before, after=jedis_after),
    Runner("redis-benchmark", "redis-benchmark SET/GET/INCR/MSET, plain and -P 16",
           lambda port: [sys.executable, str(HERE / "redis_benchmark.py"), "--port", str(port)],
           ["redis-benchmark"], timeout=150),
]


def missing_tools(runner: Runner) -> list[str]:
    missing = []
    for tool in runner.tools:
        if tool.startswith("python:"):
            if importlib.util.find_spec(tool.split(":", 1)[1]) is None:
                missing.append(f"Python module {tool.split(':', 1)[1]}")
        elif shutil.which(tool) is None:
            missing.append(tool)
    return missing


def indent(lines: list[str]) -> str:
    return "\n".join("    " + line if line else "" for line in lines)


def run_process(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int | None, str]:
    """Run in its own process group; on timeout kill that group. Returns (status, output)."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            status: int | None = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            status = None
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(5)
                    break
                except subprocess.TimeoutExpired:
                    continue
        out.seek(0)
        text = out.read().decode(errors="replace")
    return status, ANSI.sub("", text)


def server_answers(port: int) -> bool:
    """PING over a new connection, as a health check after a runner."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(100).startswith(b"+PONG")
    except OSError:
        return False


def run_one(runner: Runner, against_redis: bool) -> tuple[bool, list[str]]:
    """Start a fresh server, run the runner against it, stop the server."""
    missing = missing_tools(runner)
    if missing:
        return False, [f"{', '.join(missing)} not found: install it, or set "
                       f"HYPERCACHE_COMPAT_SKIP={runner.name} to skip this runner"]
    server: ServerProcess | RedisReference
    try:
        server = RedisReference().start() if against_redis else ServerProcess().start()
    except Exception as err:  # noqa: BLE001
        return False, [f"could not start the server: {err}"]
    lines: list[str] = []
    ok = True
    try:
        env = dict(os.environ, HC_HOST="127.0.0.1", HC_PORT=str(server.port), PYTHONUNBUFFERED="1")
        if runner.before:
            runner.before()
        status, output = run_process(runner.argv(server.port), runner.cwd, env, runner.timeout)
        lines += [l.rstrip() for l in output.strip("\n").splitlines() if not NOISE.match(l)]
        if runner.after:
            lines += runner.after()
        if status is None:
            ok = False
            lines.append(f"timed out after {runner.timeout:.0f}s (process group killed)")
        elif status != 0:
            ok = False
            lines.append(f"exit status {status}")
        alive = server_answers(server.port)
        if server.proc is not None and server.proc.poll() is not None:
            ok = False
            lines.append(f"the server died during the run (exit status {server.proc.returncode})")
        elif not alive:
            ok = False
            lines.append("the server no longer answers PING after the run")
    finally:
        if isinstance(server, ServerProcess):
            log_before_stop = server.log()
            status = server.stop()
            if not ok:
                log = [l for l in log_before_stop.splitlines() if l.strip()]
                if log:
                    lines.append("server log (last 25 lines before it was stopped):")
                    lines += ["  " + l for l in log[-25:]]
            if status not in (0, None, -signal.SIGTERM):
                # Not counted as a failure of the client runner, but worth seeing.
                last = [l for l in server.log()[len(log_before_stop):].splitlines() if l.strip()]
                lines.append(f"note: hypercache-server exited with status {status} on SIGTERM"
                             + (f": {last[-1].strip()}" if last else ""))
            server.cleanup()
        else:
            server.stop()
    return ok, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runners", nargs="*", help=f"runner names (default: all): "
                        f"{', '.join(r.name for r in RUNNERS)}")
    parser.add_argument("--against-redis", action="store_true",
                        help="run against Debian's redis-server instead (validates the expectations)")
    parser.add_argument("--list", action="store_true", help="list the runners and exit")
    opts = parser.parse_args()

    if opts.list:
        for r in RUNNERS:
            print(f"{r.name:16} {r.summary} (timeout {r.timeout:.0f}s)")
        return 0
    names = {r.name for r in RUNNERS}
    unknown = [n for n in opts.runners if n not in names]
    if unknown:
        parser.error(f"unknown runner(s) {unknown}; known: {sorted(names)}")
    skip = {s for s in re.split(r"[,\s]+", os.environ.get("HYPERCACHE_COMPAT_SKIP", "")) if s}
    for s in sorted(skip - names):
        print(f"warning: HYPERCACHE_COMPAT_SKIP names an unknown runner {s!r}")
    if opts.against_redis and not RedisReference.available():
        print("redis-server not found: --against-redis needs it")
        return 2

    selected = [r for r in RUNNERS if not opts.runners or r.name in opts.runners]
    target = "redis-server (reference)" if opts.against_redis else "hypercache-server"
    passed = failed = 0
    skipped: list[str] = []
    suite_start = time.monotonic()
    for runner in selected:
        if runner.name in skip:
            skipped.append(runner.name)
            print(f"SKIP {runner.name} (HYPERCACHE_COMPAT_SKIP)", flush=True)
            continue
        start = time.monotonic()
        ok, lines = run_one(runner, opts.against_redis)
        verdict = "PASS" if ok else "FAIL"
        print(f"{verdict} {runner.name} ({time.monotonic() - start:.1f}s) - {runner.summary}")
        if lines:
            print(indent(lines))
        sys.stdout.flush()
        passed += ok
        failed += not ok
    extra = f"; skipped: {', '.join(skipped)}" if skipped else ""
    print(f"compat suite against {target}: {time.monotonic() - suite_start:.1f}s{extra}")
    print(f"compat: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
