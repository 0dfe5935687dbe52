"""The server over its store: restarts, SIGKILL, snapshots, misses that read no disk.

Every test starts the real hypercache-server on a temporary data directory and talks
to it with redis-py, as a user would.
"""

from __future__ import annotations

import os
import shutil
import signal
import time

import pytest
import redis

from tests import crash_torture
from tests.support import ServerProcess


def info_int(client: redis.Redis, section: str, field: str) -> int:
    return int(client.info(section)[field])


def test_values_and_ttls_survive_a_restart(tmp_path) -> None:
    data = str(tmp_path / "data")
    with ServerProcess(data_dir=data) as srv:
        client = crash_torture.wait_ready(srv.port)
        client.set("plain", "v1")
        client.set("ttl", "v2", ex=500)
        client.set("pttl", "v3", px=400_000)
        client.incr("counter", 41)
        client.set("gone", "x")
        client.delete("gone")
        client.set("short", "x", px=50)
        client.mset({f"bulk:{i}": f"value-{i}" for i in range(500)})
        ttl_before = client.pttl("ttl")
        assert srv.stop() == 0  # SIGTERM: a clean exit
    time.sleep(0.1)
    with ServerProcess(data_dir=data) as srv:
        client = crash_torture.wait_ready(srv.port)
        assert client.get("plain") == b"v1"
        assert client.get("ttl") == b"v2"
        assert 0 < client.pttl("ttl") <= ttl_before
        assert 390_000 < client.pttl("pttl") <= 400_000
        assert client.get("counter") == b"41"
        assert client.get("gone") is None and client.get("short") is None
        assert client.dbsize() == 504
        assert client.mget([f"bulk:{i}" for i in range(500)]) == [f"value-{i}".encode() for i in range(500)]
        assert sorted(client.keys("bulk:1*")) == sorted(f"bulk:{i}".encode() for i in range(500) if str(i).startswith("1"))
        assert len(set(client.scan_iter(count=50))) == 504
        assert client.randomkey() is not None
        assert client.ttl("plain") == -1 and client.exists("plain", "gone", "ttl") == 2


def test_sigkill_loses_no_acknowledged_write() -> None:
    """The short version of tests/crash_torture.py (scripts/crash-torture runs 20 cycles)."""
    checked, problems = crash_torture.run(cycles=3, policy="always", writers=3, seed=7,
                                          extra=("--memtable-size", "1mb"))
    assert checked > 0
    assert problems == []


def test_sigkill_under_the_interval_policy_loses_at_most_the_interval() -> None:
    checked, problems = crash_torture.run(cycles=2, policy="interval", writers=3, seed=11)
    assert checked > 0
    assert problems == []


def test_misses_read_no_sstable_after_restart(tmp_path) -> None:
    """200k keys flushed to SSTables, a restart, then absent keys: the keyspace filter answers
    them, so SSTable data-block reads grow by at most its false positives."""
    data = str(tmp_path / "data")
    args = ("--memtable-size", "1mb")
    with ServerProcess(*args, data_dir=data) as srv:
        client = crash_torture.wait_ready(srv.port)
        value = b"v" * 40
        for start in range(0, 200_000, 2000):
            client.mset({f"present:{i}": value for i in range(start, start + 2000)})
        deadline = time.monotonic() + 30
        while info_int(client, "storage", "storage_tables") == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert info_int(client, "storage", "storage_tables") > 0
    with ServerProcess(*args, data_dir=data) as srv:
        client = crash_torture.wait_ready(srv.port)
        assert client.dbsize() == 200_000
        reads = info_int(client, "storage", "storage_sstable_reads")
        negatives = info_int(client, "filter", "filter_negative_lookups")
        positives = info_int(client, "filter", "filter_false_positives")
        pipe = client.pipeline(transaction=False)
        for i in range(10_000):
            pipe.get(f"absent:{i}")
        assert pipe.execute() == [None] * 10_000
        reads = info_int(client, "storage", "storage_sstable_reads") - reads
        negatives = info_int(client, "filter", "filter_negative_lookups") - negatives
        positives = info_int(client, "filter", "filter_false_positives") - positives
        assert negatives + positives == 10_000
        assert positives <= 10_000 * 0.02  # the default fpp is 1%
        assert reads <= positives
        # and the present keys come back from the tables
        assert client.get("present:12345") == value


def test_save_makes_a_snapshot_that_restores(tmp_path) -> None:
    data = str(tmp_path / "data")
    with ServerProcess(data_dir=data) as srv:
        client = crash_torture.wait_ready(srv.port)
        client.set("before", "1")
        before = client.lastsave()
        time.sleep(1.1)
        assert client.save() is True
        assert client.lastsave() > before
        client.set("after", "2")
        assert client.bgsave()
        snapshots = sorted(os.listdir(os.path.join(data, "snapshots")))
        assert len(snapshots) == 2
        assert client.info("persistence")["rdb_saves"] == 2
    # Restore the first snapshot: it holds "before" but not "after".
    store = os.path.join(data, "store")
    shutil.rmtree(store)
    shutil.copytree(os.path.join(data, "snapshots", snapshots[0]), store)
    with ServerProcess(data_dir=data) as srv:
        client = crash_torture.wait_ready(srv.port)
        assert client.get("before") == b"1" and client.get("after") is None


def _exists_each(client: redis.Redis, keys: list[str]) -> list[int]:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.exists(key)
    return pipe.execute()


def test_pure_cache_evicts_and_noeviction_refuses(tmp_path) -> None:
    with ServerProcess("--appendonly", "no", "--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru",
                       data_dir=str(tmp_path / "a")) as srv:
        client = crash_torture.wait_ready(srv.port)
        for start in range(0, 20_000, 500):
            client.mset({f"k:{i}": b"x" * 200 for i in range(start, start + 500)})
        assert client.dbsize() < 20_000
        assert client.info("stats")["evicted_keys"] > 0
        # LRU is approximated per slot (a random slot gives up its oldest key); with
        # ~0.4 keys per slot left here that is near random, so no single key is certain
        # to stay, but the newest writes outlive the oldest by far.
        alive = [bool(n) for n in _exists_each(client, [f"k:{i}" for i in range(20_000)])]
        assert sum(alive[-500:]) >= 400 and sum(alive[:500]) <= 200, (sum(alive[-500:]), sum(alive[:500]))
        assert not os.path.exists(os.path.join(str(tmp_path / "a"), "store"))
    with ServerProcess("--appendonly", "no", "--maxmemory", "1mb", data_dir=str(tmp_path / "b")) as srv:
        client = crash_torture.wait_ready(srv.port)
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            for i in range(20_000):
                client.set(f"k:{i}", b"x" * 200)
        assert client.get("k:0") == b"x" * 200  # nothing was evicted
        client.delete("k:0")  # deletes still work


def test_over_a_store_values_leave_memory_only(tmp_path) -> None:
    data = str(tmp_path / "data")
    with ServerProcess("--maxmemory", "8mb", data_dir=data) as srv:
        client = crash_torture.wait_ready(srv.port)
        value = b"y" * 1000
        for start in range(0, 20_000, 500):
            client.mset({f"k:{i}": value for i in range(start, start + 500)})
        assert client.dbsize() == 20_000
        storage = client.info("storage")
        assert storage["hot_unloaded_keys"] > 0 and storage["hot_keys"] < 20_000
        assert client.info("memory")["used_memory_dataset"] <= 8 * 1024 * 1024 + 200_000
        assert client.info("stats")["evicted_keys"] == 0
        for i in range(0, 20_000, 97):
            assert client.get(f"k:{i}") == value
        assert client.info("storage")["hot_loaded_keys"] > 0


def test_sigterm_exits_cleanly_and_shutdown_keeps_data(tmp_path) -> None:
    data = str(tmp_path / "data")
    srv = ServerProcess(data_dir=data).start()
    client = crash_torture.wait_ready(srv.port)
    client.set("k", "v")
    try:
        client.shutdown()
    except redis.ConnectionError:
        pass
    assert srv.proc is not None and srv.proc.wait(10) == 0
    srv.stop()
    with ServerProcess(data_dir=data) as srv2:
        assert crash_torture.wait_ready(srv2.port).get("k") == b"v"
    srv3 = ServerProcess(data_dir=data).start()
    crash_torture.wait_ready(srv3.port)
    assert srv3.stop(signal.SIGINT) == 0


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs of our own (needs root; skipped elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or os.system(f"mount -t tmpfs -o size=16m tmpfs {mount} 2>/dev/null") != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield str(mount)
    finally:
        os.system(f"umount -l {mount}")


def test_full_disk_refuses_writes_keeps_reads_and_recovers(small_disk) -> None:
    data = os.path.join(small_disk, "data")
    ballast = os.path.join(small_disk, "ballast")
    srv = ServerProcess("--memtable-size", "1mb", data_dir=data).start()
    try:
        client = crash_torture.wait_ready(srv.port)
        client.set("kept", "1")
        with open(ballast, "wb") as fh:  # leave ~2 MB free
            free = shutil.disk_usage(small_disk).free
            fh.write(b"\0" * max(0, free - 2 * 1024 * 1024))
        acked = {}
        refused = None
        for i in range(5000):
            try:
                client.set(f"k:{i}", b"z" * 2000)
                acked[f"k:{i}"] = True
            except redis.ResponseError as err:
                refused = str(err)
                break
        assert refused is not None and refused.startswith("MISCONF"), refused
        assert client.info("persistence")["aof_last_write_status"] == "err"
        assert client.get("kept") == b"1"  # reads keep working
        with pytest.raises(redis.ResponseError, match="^MISCONF"):
            client.set("more", "x")
        os.unlink(ballast)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.set("more", "x")
                break
            except redis.ResponseError:
                assert time.monotonic() < deadline, "writes did not resume once space returned"
                time.sleep(0.2)
        assert client.info("persistence")["aof_last_write_status"] == "ok"
    finally:
        srv.stop()
    with ServerProcess(data_dir=data) as srv:
        client = crash_torture.wait_ready(srv.port)
        assert client.get("kept") == b"1" and client.get("more") == b"x"
        keys = list(acked)
        assert all(v == b"z" * 2000 for v in client.mget(keys))
