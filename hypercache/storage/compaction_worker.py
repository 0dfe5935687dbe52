"""Run flush and compaction jobs in child processes.

    python -m hypercache.storage.compaction_worker JOBFILE
    python -m hypercache.storage.compaction_worker --serve [NICE]

The first form runs one job: it reads the job (JSON, `compaction.job_to_json`) from
JOBFILE, runs it at a lower CPU priority (so the server's event loop keeps the CPU when
they compete), writes the result to JOBFILE + ".result" and exits 0; on failure it
writes {"error": ...} there and exits 1. The parent side: `prepare(job)` -> start argv
yourself (cancellable) -> `collect(jobfile, ...)`.

The second form is a long-lived worker: it reads job file paths from stdin, one a
line, runs each job as above and answers a line on stdout when the result file is
written. `run_in_child(job)` (blocking, for a worker thread) hands jobs to such workers,
one job at a time per worker, starting one when none is idle: a fresh Python process
per job cost ~0.2-0.3 s of interpreter start-up and imports (more where bytecode is not
cached), a large share of a 16 MB flush. A worker exits by itself after IDLE_EXIT_S
without a job, when its stdin closes, or when its parent dies (checked every second,
also in the middle of a job).
"""

from __future__ import annotations

import gc
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time

from hypercache.storage.compaction import (
    Job, JobResult, job_from_json, job_to_json, result_from_json, result_to_json, run_job,
)
from hypercache.storage.errors import JobFailedError

JOBS_DIR = "jobs"
IDLE_EXIT_S = 30.0  # a long-lived worker with no job for this long exits


def prepare(job: Job, nice: int = 5) -> tuple[list[str], str]:
    """Write the job file; returns (argv of a one-job worker process, job file path).

    For a server that starts the process itself (e.g. `trio.run_process(argv)`, which
    can be cancelled); then call `collect(jobfile, returncode, stderr)`."""
    jobs = os.path.join(job.directory, JOBS_DIR)
    os.makedirs(jobs, exist_ok=True)
    jobfile = os.path.join(jobs, f"job-{job.job_id}.json")
    with open(jobfile, "w") as fh:
        json.dump({"job": job_to_json(job), "nice": nice}, fh)
    return [sys.executable, "-m", "hypercache.storage.compaction_worker", jobfile], jobfile


def collect(jobfile: str, returncode: int | None = None, stderr: bytes = b"") -> JobResult:
    """The result the worker left for `jobfile` (JobFailedError if none or an error);
    removes the job's files."""
    resultfile = jobfile + ".result"
    try:
        try:
            with open(resultfile) as fh:
                answer = json.load(fh)
        except (OSError, ValueError):
            tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise JobFailedError(f"{os.path.basename(jobfile)}: worker exited {returncode}: {' | '.join(tail)}") from None
        if "error" in answer:
            raise JobFailedError(answer["error"])
        return result_from_json(answer["result"])
    finally:
        for path in (jobfile, resultfile):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def collect_quietly(jobfile: str) -> None:
    """Remove a job's files without reading them (the job was cancelled)."""
    try:
        collect(jobfile)
    except JobFailedError:
        pass


# ---- the parent side of long-lived workers --------------------------------------------------

class _Worker:
    """One long-lived worker process and its pipes (used by one thread at a time)."""

    def __init__(self, nice: int) -> None:
        self.nice = nice
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hypercache.storage.compaction_worker", "--serve", str(nice)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, close_fds=True,
        )
        self.idle_since = time.monotonic()
        self.jobs_done = 0

    def run(self, jobfile: str) -> bool:
        """Hand the worker one job and wait for it; False if the worker is gone."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(jobfile.encode() + b"\n")
            self.proc.stdin.flush()
            answer = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            return False
        if not answer:
            return False
        self.jobs_done += 1
        return True

    def stderr_tail(self) -> bytes:
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - 4096))
            return self._stderr.read()
        except (OSError, ValueError):
            return b""

    def close(self, kill: bool = False) -> int | None:
        """Stop the worker (closing its stdin makes it exit); its exit status."""
        try:
            if kill:
                self.proc.kill()
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        for pipe in (self.proc.stdout,):
            if pipe is not None:
                pipe.close()
        return code

    def finish(self) -> None:
        self._stderr.close()


_lock = threading.Lock()
_idle: list[_Worker] = []


def _take(nice: int) -> tuple[_Worker, bool]:
    """An idle worker of that niceness, or a new one; (worker, reused)."""
    now = time.monotonic()
    found = None
    with _lock:
        # one that is about to exit for idleness, or is gone, is not worth the race
        stale = [w for w in _idle if w.proc.poll() is not None or now - w.idle_since > IDLE_EXIT_S - 5]
        for w in stale:
            _idle.remove(w)
        for w in reversed(_idle):
            if w.nice == nice:
                _idle.remove(w)
                found = w
                break
    for w in stale:
        _retire(w)
    return (found, True) if found is not None else (_Worker(nice), False)


def _give_back(worker: _Worker) -> None:
    worker.idle_since = time.monotonic()
    with _lock:
        _idle.append(worker)


def _retire(worker: _Worker, kill: bool = False) -> int | None:
    code = worker.close(kill)
    worker.finish()
    return code


def shutdown_workers() -> None:
    """Stop every idle worker (at exit; running ones stop when their job ends)."""
    with _lock:
        workers, _idle[:] = list(_idle), []
    for w in workers:
        _retire(w)


def run_in_child(job: Job, nice: int = 5) -> JobResult:
    """Run `job` in a child process and return its result (blocking: call it from a
    worker thread, which waits on a pipe without the GIL). Raises JobFailedError if
    the job fails or its process dies."""
    _, jobfile = prepare(job, nice)
    for attempt in range(2):
        worker, reused = _take(nice)
        try:
            ok = worker.run(jobfile)
        except BaseException:
            _retire(worker, kill=True)
            collect_quietly(jobfile)
            raise
        if ok:
            _give_back(worker)
            return collect(jobfile)
        code = _retire(worker)
        if reused and attempt == 0 and not os.path.exists(jobfile + ".result"):
            continue  # an idle worker went away as the job arrived: once more, in a fresh one
        stderr = worker.stderr_tail()
        return collect(jobfile, code, stderr)
    raise AssertionError("unreachable")


# ---- the child side ------------------------------------------------------------------------

def run_jobfile(jobfile: str, set_nice: bool = True) -> int:
    """Run the job in `jobfile`, leave its result beside it; 0 on success, 1 on failure."""
    with open(jobfile) as fh:
        spec = json.load(fh)
    if set_nice:
        _lower_priority(int(spec.get("nice", 0)))
    try:
        answer = {"result": result_to_json(run_job(job_from_json(spec["job"])))}
        code = 0
    except Exception as err:  # reported to the parent, which raises JobFailedError
        answer = {"error": f"{type(err).__name__}: {err}"}
        code = 1
    tmp = jobfile + ".result.tmp"
    with open(tmp, "w") as fh:
        json.dump(answer, fh)
    os.replace(tmp, jobfile + ".result")
    return code


def _lower_priority(nice: int) -> None:
    """nice(2) by `nice`, and SCHED_BATCH: the scheduler then treats this process as
    CPU-bound and lets it preempt the server's event loop less on wake-up."""
    if nice:
        try:
            os.nice(nice)
        except OSError:
            pass
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_BATCH"):
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError:
            pass


def _release_memory() -> None:
    """Give freed memory back to the OS between jobs (an idle worker stays small)."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(3)  # the server is gone: nobody will install this job's result


def serve(nice: int) -> int:
    """The long-lived worker's loop (see the module docstring)."""
    _lower_priority(nice)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    fd = sys.stdin.fileno()
    answers = os.dup(sys.stdout.fileno())  # the pipe to the parent; stray prints go to stderr
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    buffered = b""
    while True:
        if b"\n" not in buffered:
            ready, _, _ = select.select([fd], [], [], IDLE_EXIT_S)
            if not ready:
                return 0  # idle too long
            chunk = os.read(fd, 65536)
            if not chunk:
                return 0  # the parent closed our stdin
            buffered += chunk
            continue
        line, _, buffered = buffered.partition(b"\n")
        jobfile = line.decode().strip()
        if not jobfile:
            continue
        try:
            run_jobfile(jobfile, set_nice=False)
        except Exception as err:  # no job file to read: say so in a result the parent reads
            try:
                with open(jobfile + ".result", "w") as fh:
                    json.dump({"error": f"{type(err).__name__}: {err}"}, fh)
            except OSError:
                pass
        os.write(answers, b"done\n")
        _release_memory()


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--serve":
        return serve(int(argv[1]) if len(argv) > 1 else 0)
    if len(argv) != 1:
        print("usage: python -m hypercache.storage.compaction_worker JOBFILE | --serve [NICE]", file=sys.stderr)
        return 2
    return run_jobfile(argv[0])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
