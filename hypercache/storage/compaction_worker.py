"""Run one flush or compaction job in a child process.

    python -m hypercache.storage.compaction_worker JOBFILE

reads the job (JSON, `compaction.job_to_json`) from JOBFILE, runs it at a lower CPU
priority (so the server's event loop keeps the CPU when they compete), writes the
result to JOBFILE + ".result" and exits 0; on failure it writes {"error": ...} there
and exits 1. The parent side: `run_in_child(job)` (blocking, for a worker thread), or
`prepare(job)` -> start argv yourself (cancellable) -> `collect(jobfile, ...)`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from hypercache.storage.compaction import (
    Job, JobResult, job_from_json, job_to_json, result_from_json, result_to_json, run_job,
)
from hypercache.storage.errors import JobFailedError

JOBS_DIR = "jobs"


def prepare(job: Job, nice: int = 5) -> tuple[list[str], str]:
    """Write the job file; returns (argv of the worker process, job file path).

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


def run_in_child(job: Job, nice: int = 5) -> JobResult:
    """Run `job` in a fresh Python process and return its result (blocking: call it
    from a worker thread, which waits in waitpid without the GIL)."""
    argv, jobfile = prepare(job, nice)
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except BaseException:
        collect_quietly(jobfile)
        raise
    return collect(jobfile, proc.returncode, proc.stderr)


def collect_quietly(jobfile: str) -> None:
    """Remove a job's files without reading them (the job was cancelled)."""
    try:
        collect(jobfile)
    except JobFailedError:
        pass


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m hypercache.storage.compaction_worker JOBFILE", file=sys.stderr)
        return 2
    jobfile = argv[0]
    with open(jobfile) as fh:
        spec = json.load(fh)
    try:
        os.nice(int(spec.get("nice", 0)))
    except OSError:
        pass
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
