"""Long-lived job workers (compaction_worker.run_in_child): one process serves many jobs,
a worker that died is replaced, a failed job leaves the worker usable."""

from __future__ import annotations

import os
import signal

import pytest

from hypercache.storage import JobFailedError, Storage, compaction_worker, run_in_child  # noqa: F401
from tests.storage.conftest import small_options


def fill(s, n, start=0):
    for i in range(start, start + n):
        s.put(b"k%d" % i, 1, b"v%d" % i)
        if i % 50 == 0:
            s.write_pending()
    s.write_pending()


def flush_once(s, start):
    """Write 200 keys from `start`, freeze and run the flush in a worker."""
    fill(s, 200, start)
    s.freeze()
    s.install(run_in_child(s.next_job()))


def idle_pids():
    with compaction_worker._lock:
        return [w.proc.pid for w in compaction_worker._idle]


def test_one_worker_process_serves_many_jobs(store_dir, clock):
    compaction_worker.shutdown_workers()
    s = Storage.open(store_dir, small_options(clock))
    pids = set()
    for round_ in range(3):
        flush_once(s, round_ * 200)
        pids.update(idle_pids())
    assert len(pids) == 1 and s.stats()["flushes"] == 3
    assert s.get(b"k599").value == b"v599"
    assert not os.listdir(os.path.join(store_dir, "jobs"))
    s.close()


def test_a_dead_idle_worker_is_replaced(store_dir, clock):
    compaction_worker.shutdown_workers()
    s = Storage.open(store_dir, small_options(clock))
    flush_once(s, 0)
    (pid,) = idle_pids()
    os.kill(pid, signal.SIGKILL)
    flush_once(s, 200)
    assert idle_pids() and idle_pids()[0] != pid
    assert s.get(b"k399").value == b"v399"
    s.close()


def test_a_failed_job_keeps_the_worker(store_dir, clock):
    compaction_worker.shutdown_workers()
    s = Storage.open(store_dir, small_options(clock))
    fill(s, 200)
    s.freeze()
    job = s.next_job()
    os.unlink(os.path.join(store_dir, "%06d.wal" % job.wal_number))
    with pytest.raises(JobFailedError, match="FileNotFoundError"):
        run_in_child(job)
    s.abandon(job)
    assert len(idle_pids()) == 1
    assert not os.listdir(os.path.join(store_dir, "jobs"))
    s.close()


def test_a_worker_killed_during_a_job_fails_the_job(store_dir, clock, monkeypatch):
    compaction_worker.shutdown_workers()
    s = Storage.open(store_dir, small_options(clock))
    fill(s, 200)
    s.freeze()
    job = s.next_job()
    real_run = compaction_worker._Worker.run

    def run_and_die(self, jobfile):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        return real_run(self, jobfile)

    monkeypatch.setattr(compaction_worker._Worker, "run", run_and_die)
    with pytest.raises(JobFailedError, match="worker exited"):
        run_in_child(job)
    s.abandon(job)
    monkeypatch.setattr(compaction_worker._Worker, "run", real_run)
    job = s.next_job()  # handed out again, and this time it runs
    s.install(run_in_child(job))
    assert s.stats()["flushes"] == 1
    s.close()
