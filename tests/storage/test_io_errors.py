"""A full disk: writes are refused with a specific error, reads keep working, nothing
acknowledged is lost, and writes resume when space returns.

The disk fills for real: a child process lowers its RLIMIT_FSIZE so that writes past
the limit fail with EFBIG, exactly where ENOSPC would, then raises it again."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap

import pytest

from hypercache.storage import Storage, StorageOptions, WriteRefusedError

SCRIPT = textwrap.dedent(
    r"""
    import json, os, resource, signal, sys
    from hypercache.storage import JobFailedError, Storage, StorageOptions, WriteRefusedError, run_job

    d = sys.argv[1]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    out = {}
    s = Storage.open(d, StorageOptions(memtable_size=1 << 30))
    for i in range(100):
        s.put(b"ok%d" % i, 1, b"v" * 100)
    s.write_pending()
    s.sync()
    resource.setrlimit(resource.RLIMIT_FSIZE, (s._wal.file_offset + 1000, hard))  # the disk is full
    for i in range(100):
        s.put(b"more%d" % i, 1, b"w" * 100)  # acknowledged under everysec: must survive
    try:
        s.write_pending()
        out["write_pending"] = "ok"
    except WriteRefusedError as err:
        out["write_pending"] = str(err)
    try:
        s.put(b"refused", 1, b"x")
        out["put"] = "ok"
    except WriteRefusedError as err:
        out["put"] = "refused"
    out["reads"] = [s.get(b"ok5").value.decode(), s.get(b"more5").value.decode()[:3]]
    out["retry_while_full"] = s.retry_writes()
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space returns
    out["retry"] = s.retry_writes()
    s.put(b"after", 1, b"x")
    s.write_pending()
    s.freeze()
    # a flush cannot write its table on a full disk: the job fails cleanly, is retried
    resource.setrlimit(resource.RLIMIT_FSIZE, (2000, hard))
    job = s.next_job()
    try:
        s.install(run_job(job))
        out["flush"] = "ok"
    except JobFailedError as err:
        s.abandon(job, err)
        out["flush"] = "failed"
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    # the table gets written, but the manifest edit that would make it live cannot be
    job = s.next_job()
    result = run_job(job)
    resource.setrlimit(resource.RLIMIT_FSIZE, (s._manifest.offset, hard))
    try:
        s.install(result)
        out["install"] = "ok"
    except WriteRefusedError as err:
        out["install"] = "refused"
    out["get_after_failed_install"] = s.get(b"more7") is not None
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    job = s.next_job()  # the flush is handed out again
    s.install(run_job(job))
    s.delete_obsolete_files()
    out["files"] = sorted(os.listdir(d))
    s.sync()
    s.close()
    s = Storage.open(d)
    out["after_reopen"] = [s.count_keys(), s.get(b"more99") is not None, s.get(b"after") is not None,
                           s.recovery_problems]
    s.close()
    print(json.dumps(out))
    """
)


def test_full_disk_refuses_writes_then_resumes(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "store")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["write_pending"].startswith("MISCONF Errors writing the WAL: File too large")
    assert out["put"] == "refused"
    assert out["reads"] == ["v" * 100, "www"]
    assert out["retry_while_full"] is False
    assert out["retry"] is True
    assert out["flush"] == "failed"
    assert out["install"] == "refused" and out["get_after_failed_install"]
    assert out["after_reopen"] == [201, True, True, []]
    assert not [n for n in out["files"] if n.endswith(".tmp")]
    assert len([n for n in out["files"] if n.endswith(".sst")]) == 1


@pytest.fixture
def small_fs(tmp_path):
    """A 2 MB tmpfs, where a real ENOSPC can happen (needs root; skipped otherwise)."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_enospc_refuses_then_resumes(small_fs):
    d = os.path.join(small_fs, "store")
    s = Storage.open(d, StorageOptions(memtable_size=1 << 30))
    for i in range(100):
        s.put(b"ok%d" % i, 1, b"v" * 100)
    s.write_pending()
    s.sync()
    ballast = os.path.join(small_fs, "ballast")
    with open(ballast, "wb") as fh:  # fill the disk
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC
    for i in range(200):
        s.put(b"more%d" % i, 1, b"w" * 500)
    with pytest.raises(WriteRefusedError, match="No space left on device"):
        s.write_pending()
    with pytest.raises(WriteRefusedError):
        s.put(b"refused", 1, b"x")
    with pytest.raises(WriteRefusedError):
        s.flush_all()
    assert s.get(b"ok1").value == b"v" * 100 and s.get(b"more1").value == b"w" * 500
    assert not s.retry_writes()
    os.unlink(ballast)  # space returns
    assert s.retry_writes()
    s.put(b"after", 1, b"x")
    s.write_pending()
    s.sync()
    s.close()
    s = Storage.open(d)
    assert s.count_keys() == 301 and s.recovery_problems == []
    s.close()


def test_after_a_failed_fsync_the_memtable_is_relogged(tmp_path):
    """An fsync error means the WAL's unsynced pages may be gone even if a later fsync
    succeeds: retry_writes() writes the memtable to a fresh WAL file instead."""
    d = str(tmp_path / "store")
    s = Storage.open(d, StorageOptions(memtable_size=1 << 30))
    for i in range(50):
        s.put(b"k%d" % i, 1, b"v%d" % i)
    s.delete(b"k3")
    s.write_pending()
    old = s._mem.wal_number
    # What sync() does when fsync raises EIO (the kernel cannot be made to fail here):
    s._fsync_failed = True
    s._refuse(OSError(errno.EIO, os.strerror(errno.EIO)), "fsync of the WAL")
    with pytest.raises(WriteRefusedError, match="Input/output error"):
        s.put(b"x", 1, b"y")
    assert s.retry_writes()
    assert s._mem.wal_number != old and s.synced_seq == s.last_seq
    assert sorted(n for n in os.listdir(d) if n.endswith(".wal")) == ["%06d.wal" % s._mem.wal_number]
    s.put(b"after", 1, b"z")
    s.close()
    s = Storage.open(d)
    assert s.count_keys() == 50 and s.get(b"k3") is None and s.get(b"after").value == b"z"
    s.close()
