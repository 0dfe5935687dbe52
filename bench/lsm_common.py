"""What bench/larger_than_ram.py and bench/overwrite_heavy.py share: deterministic values,
a pipelined RESP client, a loader with a deadline, timed GETs and a sampler of RSS, disk and
INFO storage.

Everything talks to 127.0.0.1 only. Servers are started with bench/harness/servers.py's
`Server` (hypercache-server `--appendonly yes --appendfsync everysec` plus the extra flags
given, in a fresh temporary directory that `stop()` removes).

Values are a pure function of (key index, version): `value_for(i, size, version)` starts
with "i:version:" and continues with bytes of a pool drawn from a fixed seed, so a GET can
be checked against the value it must return without keeping 2 GB of expectations around.
Latency is measured by a client that sends one GET and waits for its reply (no
pipelining): it includes this Python client's own cost (~30-60 us), which is why the
scripts also measure a real Redis through the same client (the reference line).
"""

from __future__ import annotations

import datetime
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import hiredis

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from harness.servers import REPO, Server, children, dir_bytes, vmrss  # noqa: E402

MIB = 2**20
POOL = random.Random(20261201).randbytes(1 << 20)
SPAN = len(POOL) - 65536


def key_of(i: int) -> bytes:
    return b"key:%012d" % i


def value_for(i: int, size: int, version: int = 0) -> bytes:
    """The value key i holds after its `version`-th write (deterministic)."""
    head = b"%d:%d:" % (i, version)
    off = (i * 7919 + version * 104729) % SPAN
    return head + POOL[off : off + max(0, size - len(head))]


def resp(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def mset_command(indices: Iterable[int], size: int, version: int = 0) -> tuple[int, bytes]:
    """(keys, one MSET of those keys at `version`)."""
    parts = []
    n = 0
    for i in indices:
        k = key_of(i)
        v = value_for(i, size, version)
        parts.append(b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
        n += 1
    return n, b"*%d\r\n$4\r\nMSET\r\n" % (1 + 2 * n) + b"".join(parts)


class Conn:
    """One RESP connection: pipelined sends, replies parsed by hiredis."""

    def __init__(self, port: int, timeout: float = 120.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> object:
        while True:
            r = self.reader.gets()
            if r is not False:
                return r
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("server closed the connection")
            self.reader.feed(data)

    def call(self, *args: bytes) -> object:
        self.send(resp(*args))
        return self.reply()

    def info(self, section: str = "") -> dict[str, str]:
        text = self.call(b"INFO", *([section.encode()] if section else []))
        out = {}
        if isinstance(text, bytes):
            for line in text.decode(errors="replace").splitlines():
                if ":" in line and not line.startswith("#"):
                    k, _, v = line.partition(":")
                    out[k] = v.strip()
        return out

    def close(self) -> None:
        self.sock.close()


def load(port: int, commands: Iterator[tuple[int, bytes]], *, window: int = 8, deadline_s: float = 1e9,
         progress: Callable[[int, float], None] | None = None) -> dict:
    """Send (keys, command) pairs with up to `window` commands in flight; stop sending once
    `deadline_s` has passed. Returns keys acknowledged, seconds, errors (first one kept)."""
    conn = Conn(port)
    start = time.monotonic()
    in_flight: list[int] = []
    acked = errors = 0
    first_error = None
    stopped = None

    def take_one() -> None:
        nonlocal acked, errors, first_error
        r = conn.reply()
        n = in_flight.pop(0)
        if isinstance(r, hiredis.ReplyError):
            errors += 1
            first_error = first_error or str(r)
        else:
            acked += n
        if progress is not None:
            progress(acked, time.monotonic() - start)

    try:
        for n, cmd in commands:
            if time.monotonic() - start > deadline_s:
                stopped = f"deadline of {deadline_s:.0f} s reached"
                break
            conn.send(cmd)
            in_flight.append(n)
            while len(in_flight) > window:
                take_one()
        while in_flight:
            take_one()
    finally:
        conn.close()
    out = {"keys_acked": acked, "seconds": round(time.monotonic() - start, 2), "errors": errors}
    if first_error:
        out["first_error"] = first_error
    if stopped:
        out["stopped"] = stopped
    return out


def timed_gets(port: int, keys: Iterable[tuple[bytes, bytes | None]]) -> dict:
    """GET each key, one at a time; (key, expected value or None for "must be absent").
    Returns latencies (seconds, with their start times) and how many answers were wrong."""
    conn = Conn(port)
    lat: list[float] = []
    starts: list[float] = []
    wrong = 0
    first_wrong = None
    send, reply = conn.send, conn.reply
    clock = time.perf_counter
    wall0, perf0 = time.time(), clock()
    try:
        for k, expected in keys:
            cmd = b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k)
            t = clock()
            send(cmd)
            r = reply()
            lat.append(clock() - t)
            starts.append(wall0 + (t - perf0))
            if r != expected:
                wrong += 1
                if first_wrong is None:
                    first_wrong = f"{k!r}: got {r!r:.60} expected {expected!r:.60}"
    finally:
        conn.close()
    return {"lat": lat, "starts": starts, "wrong": wrong, "first_wrong": first_wrong}


def percentiles(lat: list[float]) -> dict:
    """p50/p90/p99/p99.9/max in ms of a list of seconds."""
    if not lat:
        return {}
    s = sorted(lat)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))] * 1e3  # noqa: E731
    return {"n": len(s), "p50_ms": round(pick(0.50), 3), "p90_ms": round(pick(0.90), 3),
            "p99_ms": round(pick(0.99), 3), "p99.9_ms": round(pick(0.999), 3),
            "max_ms": round(s[-1] * 1e3, 3), "mean_ms": round(statistics.fmean(s) * 1e3, 3)}


def status_field(pid: int, name: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process so far."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


INFO_FIELDS = (
    "storage_memtable_bytes", "storage_frozen_memtables", "storage_jobs_running", "storage_compactions_running",
    "storage_flushes", "storage_compactions", "storage_trivial_moves", "storage_tables", "storage_table_bytes",
    "storage_level0_tables", "storage_level1_bytes", "storage_level2_bytes", "storage_level3_bytes",
    "storage_write_amplification", "storage_space_amplification", "storage_write_stall",
    "storage_user_bytes_written", "storage_bytes_written", "storage_table_memory_bytes",
    "storage_flush_seconds", "storage_compaction_seconds", "storage_longest_compaction_seconds",
    "storage_job_cpu_seconds", "storage_frozen_memtable_bytes", "storage_graveyard_bytes",
    "hot_keys", "hot_bytes",
)


class Sampler(threading.Thread):
    """Samples the server every `interval` s: RSS of the server and of each child process
    (VmRSS now, VmHWM = the child's peak so far), CPU seconds, and every `info_every` s
    INFO storage and the data directory's size. `mark(name)` labels the phase."""

    def __init__(self, server: Server, interval: float = 0.1, info_every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.interval = interval
        self.info_every = info_every
        self.samples: list[dict] = []  # the INFO samples (every info_every)
        self.jobs: list[tuple[float, int, int]] = []  # (time, jobs_running, compactions_running)
        self.max_rss = 0
        self.max_child_rss = 0  # the largest peak of any one child process
        self.max_children_rss = 0  # the largest sum of the children's RSS at one time
        self.child_pids: set[int] = set()
        self.child_cpu: dict[int, float] = {}  # CPU seconds of each child process, last seen
        self.phase = "start"
        self._halt = threading.Event()
        self.t0 = time.time()
        self.store_dir = os.path.join(server.data_dir, "store")
        self.max_disk = 0

    def mark(self, phase: str) -> None:
        self.phase = phase

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    def run(self) -> None:
        pid = self.server.pid
        conn = None
        next_info = 0.0
        while not self._halt.is_set():
            now = time.time()
            rss = vmrss(pid)
            if rss is None:
                break
            self.max_rss = max(self.max_rss, rss)
            kids_rss = 0
            for child in children(pid):
                self.child_pids.add(child)
                hwm = status_field(child, "VmHWM") or 0
                kids_rss += vmrss(child) or 0
                self.max_child_rss = max(self.max_child_rss, hwm)
                cpu = cpu_seconds(child)
                if cpu is not None:
                    self.child_cpu[child] = cpu
            self.max_children_rss = max(self.max_children_rss, kids_rss)
            if now >= next_info:
                next_info = now + self.info_every
                try:
                    if conn is None:
                        conn = Conn(self.server.port, timeout=30)
                    info = conn.info("storage")
                except OSError:
                    conn = None
                    info = {}
                disk = dir_bytes(self.store_dir)
                self.max_disk = max(self.max_disk, disk)
                sample = {"t": round(now - self.t0, 2), "phase": self.phase, "rss": rss,
                          "children_rss": kids_rss, "disk": disk, "cpu": cpu_seconds(pid),
                          "children_cpu": round(sum(self.child_cpu.values()), 2)}
                for f in INFO_FIELDS:
                    if f in info:
                        v = info[f]
                        try:
                            sample[f] = float(v) if "." in v else int(v)
                        except ValueError:
                            sample[f] = v
                self.samples.append(sample)
                self.jobs.append((now, int(sample.get("storage_jobs_running", 0)),
                                  int(sample.get("storage_compactions_running", 0))))
            self._halt.wait(self.interval)
        if conn is not None:
            conn.close()


class JobWatcher(threading.Thread):
    """Polls INFO storage every `interval` s on its own connection and records when
    compactions and flushes ran: (time, jobs_running, compactions_running)."""

    def __init__(self, port: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.interval = interval
        self.points: list[tuple[float, int, int, int]] = []  # (t, jobs, compactions, write_stall)
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    def run(self) -> None:
        conn = Conn(self.port, timeout=30)
        try:
            while not self._halt.is_set():
                info = conn.info("storage")
                self.points.append((time.time(), int(info.get("storage_jobs_running", 0)),
                                    int(info.get("storage_compactions_running", -1)),
                                    int(info.get("storage_write_stall", 0))))
                self._halt.wait(self.interval)
        except OSError:
            pass
        finally:
            conn.close()

    def state_at(self, t: float) -> tuple[int, int] | None:
        """(jobs, compactions) running at time t if the polls on both sides agree, else None."""
        import bisect

        i = bisect.bisect_left(self.points, (t,))
        if i == 0 or i >= len(self.points):
            return None
        a, b = self.points[i - 1], self.points[i]
        if (a[1], a[2]) != (b[1], b[2]):
            return None
        return a[1], a[2]


def wait_quiet(port: int, timeout: float, poll: float = 0.5, quiet_for: float = 0.0) -> float:
    """Wait until no flush or compaction has run for `quiet_for` seconds (at least two
    polls in a row); returns seconds waited."""
    conn = Conn(port, timeout=30)
    start = time.monotonic()
    quiet = 0
    quiet_since = None
    try:
        while time.monotonic() - start < timeout:
            info = conn.info("storage")
            busy = int(info.get("storage_jobs_running", 0)) or int(info.get("storage_frozen_memtables", 0))
            now = time.monotonic()
            if busy:
                quiet, quiet_since = 0, None
            else:
                quiet += 1
                quiet_since = quiet_since or now
            if quiet >= 2 and now - quiet_since >= quiet_for:
                break
            time.sleep(poll)
    finally:
        conn.close()
    return round(time.monotonic() - start, 1)


class RedisReference:
    """A real Redis (AOF everysec) with `keys` keys of the same values, read through the
    same client: what the client and the machine cost, measured in the same minutes as
    HyperCache (blocks of its GETs alternate with HyperCache's)."""

    def __init__(self, value_size: int, keys: int = 10_000) -> None:
        from tests.support import RedisReference as Ref

        self.value_size, self.keys = value_size, keys
        self.lat: list[float] = []
        self.wrong = 0
        self.error = None if Ref.available() else "redis-server not on PATH"
        self._ref = None if self.error else Ref("--appendonly", "yes", "--appendfsync", "everysec")

    def start(self) -> RedisReference:
        if self._ref is not None:
            self._ref.start()
            n, size = self.keys, self.value_size
            load(self._ref.port, (mset_command(range(s, min(n, s + 100)), size) for s in range(0, n, 100)))
        return self

    def gets(self, count: int, rng: random.Random) -> None:
        if self._ref is None:
            return
        picks = [rng.randrange(self.keys) for _ in range(count)]
        res = timed_gets(self._ref.port, ((key_of(i), value_for(i, self.value_size)) for i in picks))
        self.lat += res["lat"]
        self.wrong += res["wrong"]

    def summary(self) -> dict:
        if self.error:
            return {"error": self.error}
        version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
        return {"version": version, "keys": self.keys, "wrong": self.wrong, **percentiles(self.lat)}

    def stop(self) -> None:
        if self._ref is not None:
            self._ref.stop()


def run_meta(argv: list[str]) -> dict:
    def out(*cmd: str, cwd: str | Path = REPO) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=cwd).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"

    dirty = out("git", "status", "--porcelain", "--", "hypercache")
    # from / as the server runs from its data directory: the repository is not on its path
    package = out(sys.executable, "-c", "import hypercache, os; print(os.path.dirname(hypercache.__file__))", cwd="/")
    return {
        "hypercache_package": package,  # what the server imports (PYTHONPATH may point at another tree)
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "argv": argv,
        "commit": out("git", "rev-parse", "--short", "HEAD") + (" + uncommitted changes in hypercache/" if dirty else ""),
        "cpus": os.cpu_count(),
        "load_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": sys.version.split()[0],
    }


def parse_size(text: str) -> int:
    """Bytes of a Redis-style size: 64mb, 1gb, 100kb (powers of 1024), or a number."""
    t = text.strip().lower()
    for suffix, mult in (("gb", 2**30), ("mb", 2**20), ("kb", 2**10), ("b", 1)):
        if t.endswith(suffix):
            return int(float(t[: -len(suffix)]) * mult)
    return int(t)


def as_int(v: object) -> int | None:
    try:
        return int(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def job_rows(st: dict, samples: list[dict]) -> list[list[object]]:
    """Report rows: where the background jobs' time went, CPU of server and workers,
    how often writers were held back."""
    cpu = [x for x in samples if x.get("cpu") is not None]
    stalls = sum(1 for x in samples if x.get("storage_write_stall"))
    return [
        ["background jobs, wall time in the worker",
         f"flushes {st.get('storage_flush_seconds')} s, compactions {st.get('storage_compaction_seconds')} s "
         f"(longest {st.get('storage_longest_compaction_seconds')} s); CPU they used {st.get('storage_job_cpu_seconds')} s"],
        ["CPU seconds over the run: server / worker processes",
         f"{cpu[-1]['cpu'] - cpu[0]['cpu']:.1f} / {cpu[-1].get('children_cpu', 0):.1f} over {cpu[-1]['t'] - cpu[0]['t']:.0f} s"
         if len(cpu) > 1 else "?"],
        ["samples with a write stall (replies to writers held back)", f"{stalls} of {len(samples)}"],
    ]


def report_head(title: str, r: dict, script: str) -> list[str]:
    """The first lines of a report: title, when, what ran, and a failure if any."""
    m = r["meta"]
    lines = [
        f"# {title}",
        "",
        f"Run {m['started']}, commit {m['commit']}, {m['cpus']} CPUs "
        f"(shared machine; load average {m['load_start']} at the start, {m.get('load_end')} at the end).",
        f"Server: `{' '.join(m['server_argv'])}` (package {m.get('hypercache_package')}). "
        f"Script: `{' '.join(m['argv'])}` ({script}; rerun it to reproduce).",
        "",
    ]
    if r.get("error"):
        lines += [f"**The run failed:** {r['error']}", ""]
    return lines


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")


def mib(n: float | int | None) -> str:
    return "?" if n is None else f"{n / MIB:,.1f} MiB"


def md_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def thin(samples: list[dict], n: int) -> list[dict]:
    """At most n samples, evenly spaced, the last one kept."""
    if len(samples) <= n:
        return samples
    step = len(samples) / n
    out = [samples[int(i * step)] for i in range(n)]
    if out[-1] is not samples[-1]:
        out.append(samples[-1])
    return out
