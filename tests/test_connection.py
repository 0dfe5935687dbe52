"""Connection commands: PING, ECHO, HELLO, AUTH/requirepass, SELECT, RESET, QUIT."""

from __future__ import annotations

import subprocess

import pytest
import redis

from tests.support import raw_exchange


def test_ping_echo(r):
    assert r.ping() is True
    assert r.echo(b"\x00bin\r\n") == b"\x00bin\r\n"
    assert raw_exchange(r.connection_pool.connection_kwargs["port"], b"PING hi\r\nQUIT\r\n") == b"$2\r\nhi\r\n+OK\r\n"


@pytest.mark.parametrize(
    "payload",
    [
        b"PING\r\n",
        b"PING a b\r\n",
        b"ECHO\r\n",
        b"HELLO 4\r\n",
        b"HELLO x\r\n",
        b"HELLO 3 BOGUS\r\n",
        b"AUTH x\r\n",
        b"AUTH default anything\r\n",
        b"AUTH someone x\r\n",
        b"AUTH a b c\r\n",
        b"SELECT 0\r\n",
        b"SELECT x\r\n",
        b"SELECT -1\r\n",
        b"RESET\r\n",
        b"QUIT\r\nPING\r\n",
        b'HELLO 2 SETNAME "bad name"\r\n',
    ],
)
def test_replies_match_redis(server, redis_ref, payload):
    ours = raw_exchange(server.port, payload + b"QUIT\r\n", timeout=1)
    theirs = raw_exchange(redis_ref.port, payload + b"QUIT\r\n", timeout=1)
    assert ours == theirs


def test_hello_auth_without_requirepass_accepts_default_user(server):
    # As Redis: with no requirepass the default user is 'nopass', so any password works.
    reply = raw_exchange(server.port, b"HELLO 2 AUTH default whatever\r\nQUIT\r\n", timeout=1)
    assert reply.startswith(b"*14\r\n$6\r\nserver\r\n")


def test_select_out_of_range(r2):
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        r2.execute_command("SELECT", 1)


def test_hello_switches_protocol(server):
    hello3 = raw_exchange(server.port, b"HELLO 3\r\nQUIT\r\n", timeout=1)
    assert hello3.startswith(b"%7\r\n")
    for field in (b"server", b"version", b"proto", b":3", b"id", b"mode", b"role", b"modules"):
        assert field in hello3
    hello2 = raw_exchange(server.port, b"HELLO 2\r\nQUIT\r\n", timeout=1)
    assert hello2.startswith(b"*14\r\n")


def test_redis_py_resp3_handshake(server):
    client = redis.Redis(port=server.port, protocol=3, client_name="app1")
    assert client.ping()
    assert client.client_getname() == "app1" or client.client_getname() == b"app1"


def test_requirepass(start_server):
    srv = start_server("--requirepass", "s3cret")
    anon = redis.Redis(port=srv.port, protocol=2)
    with pytest.raises(redis.AuthenticationError):
        anon.get("x")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=srv.port, password="wrong", protocol=2).ping()
    for proto in (2, 3):
        good = redis.Redis(port=srv.port, password="s3cret", protocol=proto)
        assert good.set("x", "1") and good.get("x") == b"1"
        named = redis.Redis(port=srv.port, username="default", password="s3cret", protocol=proto)
        assert named.get("x") == b"1"
    raw = raw_exchange(srv.port, b"GET x\r\nAUTH wrong\r\nAUTH s3cret\r\nGET x\r\nRESET\r\nGET x\r\nQUIT\r\n")
    assert raw == (
        b"-NOAUTH Authentication required.\r\n"
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        b"+OK\r\n$1\r\n1\r\n+RESET\r\n-NOAUTH Authentication required.\r\n+OK\r\n"
    )
    # Before AUTH, Redis refuses big requests outright (a DoS guard): so do we.
    big = raw_exchange(srv.port, b"*20\r\n")
    assert big == b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    hello = raw_exchange(srv.port, b"HELLO 3\r\n", timeout=1)
    assert hello.startswith(b"-NOAUTH HELLO must be called with the client already authenticated")


def test_redis_cli_with_password(start_server):
    srv = start_server("--requirepass", "pw")
    out = subprocess.run(
        ["redis-cli", "-p", str(srv.port), "-a", "pw", "--no-auth-warning", "ping"],
        capture_output=True, text=True, timeout=10,
    )
    assert out.stdout.strip() == "PONG"
