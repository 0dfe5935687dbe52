"""The two servers under test, each a subprocess on a free port of 127.0.0.1.

Redis is Debian's redis-server with `--appendonly yes --appendfsync everysec --save ""`;
HyperCache is `hypercache-server --appendonly yes --appendfsync everysec`, the matching
durability.  Both start in fresh temporary directories (tests/support.py does the starting
and stopping, as it does for the tests and compat-tests).  Memory is VmRSS of the server
process from /proc/<pid>/status, read when no background work runs (Redis: AOF rewrite;
HyperCache: memtable flush, compaction, which run in child processes); the RSS of child
processes is read separately.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support import RedisReference, ServerProcess  # noqa: E402

REDIS = "redis"
HYPERCACHE = "hypercache"
NAMES = (REDIS, HYPERCACHE)  # the order of every alternation: A = Redis, B = HyperCache

REDIS_ARGS = ("--appendonly", "yes", "--appendfsync", "everysec", "--save", "")
HYPERCACHE_ARGS = ("--appendonly", "yes", "--appendfsync", "everysec")


def cli(port: int, *args: str, timeout: float = 30.0) -> str:
    """One command through redis-cli; its reply as text ("" if the server does not answer in time)."""
    try:
        proc = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return ""
    return proc.stdout.strip()


def info_fields(port: int, section: str = "") -> dict[str, str]:
    fields = {}
    for line in cli(port, "INFO", *([section] if section else [])).splitlines():
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def vmrss(pid: int) -> int | None:
    """VmRSS of a process in bytes (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    """Every descendant process of pid."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as kids:
                for child in kids.read().split():
                    found.append(int(child))
                    found += children(int(child))
        except OSError:
            pass
    return found


def cpu_ticks(pid: int) -> int:
    """CPU time (user + system, in clock ticks) a process has used; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def dir_bytes(path: str, skip: tuple[str, ...] = ("server.log",)) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            if name in skip:
                continue
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def argv(name: str, *extra_args: str) -> list[str]:
    """The command line of a server, as shown in the report (port and directory left out)."""
    base = ["redis-server", *REDIS_ARGS] if name == REDIS else ["hypercache-server", *HYPERCACHE_ARGS]
    return base + list(extra_args)


class Server:
    """One server under test: `Server(REDIS).start()`, `.port`, `.rss()`, `.stop()`."""

    def __init__(self, name: str, *extra_args: str) -> None:
        self.name = name
        self.extra_args = list(extra_args)
        if name == REDIS:
            self._impl: RedisReference | ServerProcess = RedisReference(*REDIS_ARGS, *extra_args)
            self.data_dir = self._impl.dir
        else:
            self._impl = ServerProcess(*HYPERCACHE_ARGS, *extra_args)
            self.data_dir = self._impl.data_dir
        self.port = self._impl.port

    @property
    def argv(self) -> list[str]:
        return argv(self.name, *self.extra_args)

    def start(self) -> "Server":
        try:
            self._impl.start()
        except Exception:
            self.stop()
            raise
        return self

    @property
    def pid(self) -> int:
        assert self._impl.proc is not None
        return self._impl.proc.pid

    def alive(self) -> bool:
        return self._impl.proc is not None and self._impl.proc.poll() is None

    def exit_status(self) -> str:
        code = self._impl.proc.returncode if self._impl.proc is not None else None
        return f"{self.name} exited with status {code}" + (f"; log tail: {self.log_tail()!r}" if self.log_tail() else "")

    def log_tail(self, lines: int = 3) -> str:
        if isinstance(self._impl, ServerProcess):
            return " | ".join(self._impl.log().strip().splitlines()[-lines:])
        return ""

    def rss(self) -> int | None:
        return vmrss(self.pid)

    def children_rss(self) -> int:
        return sum(vmrss(child) or 0 for child in children(self.pid))

    def dbsize(self) -> int | None:
        reply = cli(self.port, "DBSIZE")
        return int(reply) if reply.isdigit() else None

    def busy(self, interval: float = 0.5) -> list[str]:
        """What background work is running: Redis's AOF rewrite or save (INFO persistence),
        HyperCache's flushes and compactions (INFO storage), and any child process that
        used CPU during `interval` seconds (HyperCache's flush and compaction workers
        live as long as the server, so only their work counts, not their existence)."""
        before = sum(cpu_ticks(child) for child in children(self.pid))
        time.sleep(interval)
        fields = info_fields(self.port, "persistence") | info_fields(self.port, "storage")
        busy = [key for key in ("aof_rewrite_in_progress", "aof_rewrite_scheduled", "rdb_bgsave_in_progress")
                if fields.get(key) == "1"]
        busy += [f"{key}={fields[key]}" for key in ("storage_jobs_running", "storage_frozen_memtables")
                 if fields.get(key, "0") not in ("0", "")]
        # More than 1 tick (10 ms) in `interval`: a child is working.
        if sum(cpu_ticks(child) for child in children(self.pid)) - before > 1:
            busy.append("child process using CPU")
        return busy

    def wait_quiet(self, timeout: float = 120.0) -> list[str]:
        """Wait until busy() is empty, then one second more; what was still busy at the timeout."""
        deadline = time.monotonic() + timeout
        while (busy := self.busy()) and time.monotonic() < deadline:
            pass
        time.sleep(1.0)
        return busy

    def stop(self) -> None:
        try:
            if isinstance(self._impl, RedisReference):
                self._impl.stop()
            else:
                self._impl.cleanup()
        except subprocess.TimeoutExpired:
            proc = self._impl.proc
            if proc is not None:
                proc.kill()
                proc.wait()
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)
