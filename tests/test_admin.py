"""The HTTP admin endpoint (/health, /stats, /metrics) and graceful shutdown, on real
server processes: /metrics read with prometheus-client's own parser, /health across a
long WAL recovery, a SIGTERM under write load."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.crash_torture import WriterLog, wait_ready, writer
from tests.test_persistence import small_disk  # noqa: F401  (a fixture: a 16 MB tmpfs)
from tests.support import ServerProcess, free_port, raw_exchange


def http_get(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request to the admin endpoint."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A server with its admin endpoint on a free port: (server, admin port)."""
    admin = free_port()
    srv = ServerProcess("--admin-port", str(admin), data_dir=str(tmp_path_factory.mktemp("admin"))).start()
    deadline = time.monotonic() + 10
    while True:  # the endpoint may come up just after the RESP port
        try:
            http_get(admin, "/health")
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield srv, admin
    srv.cleanup()


def metrics(port: int) -> dict[str, object]:
    """/metrics parsed by prometheus-client: {family name: family}."""
    status, headers, body = http_get(port, "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


def sample(families: dict, name: str, default: float | None = None, **labels: str) -> float:
    for family in families.values():
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    if default is not None:
        return default
    raise KeyError(f"{name}{labels}")


def test_health_is_200_json_while_serving(node):
    _srv, admin = node
    status, headers, body = http_get(admin, "/health")
    assert status == 200 and headers["content-type"] == "application/json"
    health = json.loads(body)
    assert health["status"] == "ok" and health["loading"] is False and health["role"] == "master"
    status, _headers, body = http_get(admin, "/health", method="HEAD")
    assert status == 200 and body == b""


def test_unknown_path_and_method(node):
    _srv, admin = node
    status, _headers, body = http_get(admin, "/nope")
    assert status == 404 and "/metrics" in json.loads(body)["endpoints"]
    status, headers, _body = http_get(admin, "/health", method="POST")
    assert status == 405 and headers["allow"] == "GET, HEAD"


def test_stats_is_info_as_json(node):
    srv, admin = node
    client = redis.Redis(port=srv.port, protocol=2)
    client.flushall()
    client.set("a", "1")
    client.set("b", "2", ex=100)
    info = client.info("everything")
    status, _headers, body = http_get(admin, "/stats")
    stats = json.loads(body)
    assert status == 200
    assert {"server", "clients", "memory", "stats", "commandstats", "latencystats", "keyspace",
            "storage", "filter"} <= set(stats)
    assert stats["keyspace"]["db0"] == {"keys": 2, "expires": 1, "avg_ttl": 0}
    assert stats["server"]["tcp_port"] == srv.port == info["tcp_port"]
    assert stats["commandstats"]["cmdstat_set"]["calls"] >= 2
    assert set(stats["latencystats"]["latency_percentiles_usec_set"]) == {"p50", "p99", "p99.9"}
    _status, _headers, body = http_get(admin, "/stats?section=memory,keyspace")
    assert set(json.loads(body)) == {"memory", "keyspace"}


def test_metrics_parse_with_redis_exporter_names(node):
    srv, admin = node
    client = redis.Redis(port=srv.port, protocol=2)
    client.flushall()
    client.set("present", "1")
    before = metrics(admin)
    client.get("present")
    client.get("present")
    client.get("absent")
    families = metrics(admin)
    assert families["redis_keyspace_hits"].type == "counter"
    assert sample(families, "redis_keyspace_hits_total") - sample(before, "redis_keyspace_hits_total") == 2
    assert sample(families, "redis_keyspace_misses_total") - sample(before, "redis_keyspace_misses_total") == 1
    assert sample(families, "redis_commands_total", cmd="get") - sample(before, "redis_commands_total", 0, cmd="get") == 3
    assert sample(families, "redis_connected_clients") >= 1
    assert sample(families, "redis_db_keys", db="db0") == 1
    assert sample(families, "redis_memory_used_bytes") > 1_000_000
    assert sample(families, "redis_commands_processed_total") >= 4
    assert sample(families, "redis_up") == 1
    assert sample(families, "redis_instance_info", redis_mode="standalone", role="master") == 1
    assert families["redis_latency_percentiles_usec"].type == "summary"
    assert sample(families, "redis_latency_percentiles_usec", cmd="get", quantile="0.99") > 0
    assert sample(families, "redis_latency_percentiles_usec_count", cmd="get") >= 3
    # the store's and the filter's figures
    assert sample(families, "hypercache_storage_enabled") == 1
    assert families["hypercache_storage_wal_bytes_written"].type == "counter"
    assert sample(families, "hypercache_storage_level_tables", level="0") >= 0
    assert sample(families, "hypercache_filter_items") >= 1
    assert families["hypercache_filter_negative_lookups"].type == "counter"
    assert "process_cpu_seconds" in families


def test_admin_port_in_use_is_one_log_line_and_the_server_serves(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        srv = ServerProcess("--admin-port", str(port), data_dir=str(tmp_path)).start()
        try:
            assert redis.Redis(port=srv.port).ping()
            time.sleep(0.5)
            lines = [line for line in srv.log().splitlines() if "Admin HTTP" in line]
            assert len(lines) == 1, srv.log()
            assert f"could not bind 127.0.0.1:{port}: Address already in use" in lines[0]
            assert "Traceback" not in srv.log()
        finally:
            srv.cleanup()


def test_admin_port_0_turns_it_off(tmp_path):
    srv = ServerProcess("--admin-port", "0", data_dir=str(tmp_path)).start()
    try:
        assert redis.Redis(port=srv.port).ping()
        assert "Admin HTTP endpoint off" in srv.log()
    finally:
        srv.cleanup()


KEYS = 300_000  # a few seconds of WAL replay here


def test_health_503_while_loading_then_200(tmp_path):
    """A WAL large enough that replay takes seconds: /health says 503 (loading) during
    it, the RESP port answers -LOADING, then both serve."""
    data_dir = str(tmp_path)
    args = ("--memtable-size", "1gb")  # every write stays in the WAL: replayed at start
    srv = ServerProcess(*args, data_dir=data_dir).start()
    client = redis.Redis(port=srv.port, protocol=2)
    value = b"v" * 100
    for base in range(0, KEYS, 1_000):
        client.mset({b"key:%d" % i: value for i in range(base, base + 1_000)})
    client.close()
    srv.stop(signal.SIGKILL)

    admin = free_port()
    srv = ServerProcess(*args, "--admin-port", str(admin), port=srv.port, data_dir=data_dir).start(wait=False)
    try:
        seen: list[tuple[int, str]] = []
        resp_reply: list[bytes] = []  # what the RESP port said while /health said 503
        probe = threading.Thread(target=lambda: resp_reply.append(
            raw_exchange(srv.port, b"GET key:1\r\nQUIT\r\n", timeout=30)))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, _headers, body = http_get(admin, "/health")
            except OSError:
                time.sleep(0.02)
                continue
            seen.append((status, json.loads(body)["status"]))
            live_status, _headers, live_body = http_get(admin, "/health/live")
            assert live_status == 200 and json.loads(live_body)["status"] == "alive"
            if status == 200:
                break
            if not probe.is_alive() and not resp_reply:
                probe.start()
            time.sleep(0.05)
        probe.join(30)
        assert seen and seen[-1] == (200, "ok"), seen
        loading = [s for s in seen if s[0] == 503]
        assert loading and set(loading) == {(503, "loading")}, seen
        # How many 503s are seen depends on the machine's speed; one is the point.
        assert len(loading) >= 1, (seen, srv.log())
        assert seen[:-1] == loading  # 503 ... 503, then 200
        assert resp_reply and resp_reply[0].startswith(b"-LOADING"), resp_reply
        assert redis.Redis(port=srv.port).get(b"key:%d" % (KEYS - 1)) == value
    finally:
        srv.cleanup()


def test_sigterm_under_write_load_exits_0_in_time_and_keeps_acked_writes(tmp_path):
    """SIGTERM while writers run (appendfsync everysec, so the last second of writes is
    only in the OS's buffers): exit code 0 well within docker stop's 10 s, and every
    acknowledged write is there after a restart."""
    data_dir = str(tmp_path)
    srv = ServerProcess("--appendfsync", "everysec", data_dir=data_dir).start()
    stop = threading.Event()
    logs = [WriterLog() for _ in range(4)]
    threads = [threading.Thread(target=writer, args=(srv.port, f"w{i}", 0, stop, logs[i]), daemon=True)
               for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    started = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    code = srv.proc.wait(15)
    took = time.monotonic() - started
    stop.set()
    for t in threads:
        t.join(10)
    srv.stop()
    assert code == 0, srv.log()
    assert took < 10, f"shutdown took {took:.1f}s"
    assert "Received SIGTERM" in srv.log() and "WAL synced" in srv.log()
    acked = sum(len(log.acked) for log in logs)
    assert acked > 100, "the writers did not get going"

    srv = ServerProcess(data_dir=data_dir).start()
    try:
        client = wait_ready(srv.port)
        lost = []
        for log in logs:
            keys = list(log.acked)
            for key, raw in zip(keys, client.mget(keys)):
                got = int(raw) if raw is not None else -1
                value, _when = log.acked[key]
                if got < value or got > log.sent[key]:
                    lost.append((key, value, got))
        assert not lost, lost[:10]
    finally:
        srv.cleanup()


def test_shutdown_save_takes_a_snapshot_and_exits_0(tmp_path):
    srv = ServerProcess(data_dir=str(tmp_path)).start()
    client = redis.Redis(port=srv.port)
    client.set("k", "v")
    client.shutdown(save=True)  # redis-py expects the connection to close, as with Redis
    assert srv.proc.wait(10) == 0
    srv.stop()
    snapshots = list((tmp_path / "snapshots").iterdir())
    assert len(snapshots) == 1 and "DB saved on disk" in srv.log()


def test_health_503_failing_while_the_disk_refuses_writes(small_disk):  # noqa: F811
    import os
    import shutil

    admin = free_port()
    srv = ServerProcess("--memtable-size", "1mb", "--admin-port", str(admin),
                        data_dir=os.path.join(small_disk, "data")).start()
    ballast = os.path.join(small_disk, "ballast")
    try:
        client = wait_ready(srv.port)
        assert http_get(admin, "/health")[0] == 200
        with open(ballast, "wb") as fh:  # leave ~2 MB free
            fh.write(b"\0" * max(0, shutil.disk_usage(small_disk).free - 2 * 1024 * 1024))
        with pytest.raises(redis.ResponseError, match="^MISCONF"):
            for i in range(5000):
                client.set(f"k:{i}", b"z" * 2000)
        status, _headers, body = http_get(admin, "/health")
        health = json.loads(body)
        assert status == 503 and health["status"] == "failing" and health["error"].startswith("MISCONF")
        os.unlink(ballast)
        deadline = time.monotonic() + 15
        while http_get(admin, "/health")[0] != 200:
            assert time.monotonic() < deadline, "still failing once space returned"
            time.sleep(0.2)
    finally:
        srv.cleanup()
