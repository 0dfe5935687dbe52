"""Fixtures: one real server process per test session, and clients flushed per test."""

from __future__ import annotations

import os

import pytest
import redis

from tests.support import ServerProcess


@pytest.fixture(scope="session")
def server():
    """A shared hypercache-server process for tests that only need a clean keyspace."""
    srv = ServerProcess()
    srv.start()
    yield srv
    srv.cleanup()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def r(server, request):
    """A redis-py client (RESP2 and RESP3 in turn) on an empty keyspace."""
    client = redis.Redis(port=server.port, protocol=request.param, socket_timeout=10)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def r2(server):
    """A RESP2 redis-py client on an empty keyspace (for tests that need only one)."""
    client = redis.Redis(port=server.port, protocol=2, socket_timeout=10)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def start_server(tmp_path):
    """Start extra servers with their own flags: `srv = start_server('--requirepass', 'x')`."""
    started: list[ServerProcess] = []

    def start(*args: str, data_dir: str | None = None) -> ServerProcess:
        srv = ServerProcess(*args, data_dir=data_dir or str(tmp_path / f"srv{len(started)}"))
        os.makedirs(srv.data_dir, exist_ok=True)
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        srv.cleanup()


@pytest.fixture(scope="session")
def redis_ref():
    """A real Redis to compare replies with; tests using it skip where none is installed
    (CI installs Debian's redis-server, so there they always run)."""
    from tests.support import RedisReference

    if not RedisReference.available():
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing: .ci/run must install it")
        pytest.skip("redis-server is not installed")
    ref = RedisReference().start()
    yield ref
    ref.stop()


@pytest.fixture
def both(server, redis_ref):
    """(hypercache, redis) RESP2 clients, both flushed: run a command on each and compare."""
    hc = redis.Redis(port=server.port, protocol=2, socket_timeout=10)
    ref = redis.Redis(port=redis_ref.port, protocol=2, socket_timeout=10)
    hc.flushall()
    ref.flushall()
    yield hc, ref
    hc.close()
    ref.close()
