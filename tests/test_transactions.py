"""MULTI/EXEC/DISCARD/WATCH/UNWATCH through redis-py, and against a real Redis."""

from __future__ import annotations

import pytest
import redis

from tests.support import raw_exchange


def test_multi_exec_runs_queued_commands_in_order(r):
    pipe = r.pipeline(transaction=True)
    pipe.set("a", "1").incr("a").get("a")
    assert pipe.execute() == [True, 2, b"2"]


def test_pipeline_without_transaction(r):
    pipe = r.pipeline(transaction=False)
    for i in range(100):
        pipe.set(f"k{i}", i)
    pipe.get("k99")
    assert pipe.execute()[-1] == b"99"


def test_watch_aborts_exec_when_key_changes(r, server):
    other = redis.Redis(port=server.port)
    r.set("balance", 10)
    with r.pipeline() as pipe:
        pipe.watch("balance")
        other.set("balance", 20)  # a concurrent change between WATCH and EXEC
        pipe.multi()
        pipe.set("balance", 0)
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert r.get("balance") == b"20"


def test_watch_unchanged_key_lets_exec_through(r):
    r.set("balance", 10)
    with r.pipeline() as pipe:
        pipe.watch("balance")
        current = int(pipe.get("balance"))
        pipe.multi()
        pipe.set("balance", current + 5)
        assert pipe.execute() == [True]
    assert r.get("balance") == b"15"


def test_watch_sees_delete_expiry_and_flush(r, server):
    other = redis.Redis(port=server.port)
    for change in (lambda: other.delete("w"), lambda: other.flushall(), lambda: other.pexpire("w", 1)):
        r.set("w", 1)
        with r.pipeline() as pipe:
            pipe.watch("w")
            change()
            import time

            time.sleep(0.01)
            pipe.multi()
            pipe.set("w", 2)
            with pytest.raises(redis.WatchError):
                pipe.execute()


def test_unwatch_forgets_keys(r, server):
    other = redis.Redis(port=server.port)
    r.set("u", 1)
    r.watch("u")
    r.unwatch()
    other.set("u", 2)
    with r.pipeline() as pipe:
        pipe.multi()
        pipe.get("u")
        assert pipe.execute() == [b"2"]


def test_transaction_helper_retries_on_conflict(r, server):
    other = redis.Redis(port=server.port)
    r.set("counter", 0)
    conflicts = []

    def bump(pipe):
        value = int(pipe.get("counter"))
        if not conflicts:
            conflicts.append(1)
            other.incr("counter")  # forces exactly one retry
        pipe.multi()
        pipe.set("counter", value + 1)

    r.transaction(bump, "counter")
    assert r.get("counter") == b"2"


def test_queue_errors_abort_exec_like_redis(both):
    for client in both:
        conn = client.connection_pool.get_connection()
        conn.send_command("MULTI")
        assert conn.read_response() == b"OK"
        conn.send_command("SET", "x", "1")
        assert conn.read_response() == b"QUEUED"
        conn.send_command("NOSUCHCOMMAND")
        with pytest.raises(redis.ResponseError) as unknown:
            conn.read_response()
        conn.send_command("GET")
        with pytest.raises(redis.ResponseError) as arity:
            conn.read_response()
        conn.send_command("EXEC")
        with pytest.raises(redis.ResponseError) as aborted:
            conn.read_response()
        client.connection_pool.release(conn)
        assert str(aborted.value).startswith("Transaction discarded because of previous errors")
        assert "wrong number of arguments for 'get' command" in str(arity.value)
        assert str(unknown.value).startswith("unknown command 'NOSUCHCOMMAND'")
        assert client.get("x") is None


def test_runtime_errors_inside_exec_do_not_stop_the_others(both):
    replies = []
    for client in both:
        client.set("s", "text")
        pipe = client.pipeline()
        pipe.incr("s").set("t", 1).get("t")
        replies.append(pipe.execute(raise_on_error=False))
    hc, ref = replies
    assert type(hc[0]) is type(ref[0]) is redis.ResponseError
    assert str(hc[0]) == str(ref[0])
    assert hc[1:] == ref[1:] == [True, b"1"]


@pytest.mark.parametrize(
    "payload",
    [
        b"EXEC\r\n",
        b"DISCARD\r\n",
        b"MULTI\r\nMULTI\r\nDISCARD\r\n",
        b"MULTI\r\nWATCH a\r\nDISCARD\r\n",
        b"MULTI\r\nSET a 1\r\nDISCARD\r\nGET a\r\n",
        b"WATCH a\r\nMULTI\r\nGET a\r\nEXEC\r\n",
        b"MULTI\r\nEXEC\r\n",
        b"MULTI\r\nPING\r\nQUIT\r\n",
    ],
)
def test_raw_transaction_replies_match_redis(server, redis_ref, payload):
    for port in (server.port, redis_ref.port):
        raw_exchange(port, b"FLUSHALL\r\nQUIT\r\n")
    ours = raw_exchange(server.port, payload + b"QUIT\r\n", timeout=1)
    theirs = raw_exchange(redis_ref.port, payload + b"QUIT\r\n", timeout=1)
    assert ours == theirs
