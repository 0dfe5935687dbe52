"""Server and introspection commands: INFO, COMMAND, CLIENT, TIME, LASTSAVE, SHUTDOWN.

Real clients against a real server process: redis-py's parsers (info(), client_list(),
RedisCluster's CommandsParser), redis-cli (one-shot and interactive, on a pty), and a
real Redis to compare replies and the COMMAND table with.
"""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import time

import pytest
import redis
from redis._parsers.commands import CommandsParser
from redis.backoff import NoBackoff
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry

import hypercache.commands  # noqa: F401  (fills the table, as the server does)
from hypercache import REDIS_COMPAT_VERSION
from hypercache.commands.table import TABLE
from tests.support import raw_exchange

# ---------------------------------------------------------------------------------------
# helpers


def as_text(value):
    """bytes -> str, recursively (RESP2 and RESP3 replies, decoded or not)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, (list, tuple)):
        return [as_text(v) for v in value]
    if isinstance(value, dict):
        return {as_text(k): as_text(v) for k, v in value.items()}
    return value


def as_map(value):
    """A RESP2 flattened map (list) or a RESP3 map (dict) -> dict, recursively for maps."""
    if isinstance(value, dict):
        return value
    return dict(zip(value[0::2], value[1::2]))


def raw_command_info(client: redis.Redis, *names: str) -> list:
    """COMMAND INFO without redis-py's response callback (the raw ten-element entries)."""
    conn = client.connection_pool.get_connection()
    try:
        conn.send_command("COMMAND", "INFO", *names)
        return as_text(conn.read_response())
    finally:
        client.connection_pool.release(conn)


def key_specs(entry: list) -> list[dict]:
    """An entry's key specs as plain dicts, 'notes' (free text) left out."""
    specs = []
    for spec in entry[8]:
        spec = as_map(spec)
        spec.pop("notes", None)
        spec["begin_search"] = {k: as_map(v) if k == "spec" else v for k, v in as_map(spec["begin_search"]).items()}
        spec["find_keys"] = {k: as_map(v) if k == "spec" else v for k, v in as_map(spec["find_keys"]).items()}
        specs.append(spec)
    return specs


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    return sock


def ask(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    return sock.recv(65536)


def closed_by_server(sock: socket.socket, timeout: float = 2.0) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


# ---------------------------------------------------------------------------------------
# INFO


def test_info_parses_with_the_fields(r, server):
    r.set("a", "1")
    r.set("b", "2", ex=100)
    info = r.info()
    assert info["redis_version"] == REDIS_COMPAT_VERSION
    assert "hypercache_version" in info
    assert info["role"] == "master"
    assert info["tcp_port"] == server.port
    assert info["process_id"] == server.proc.pid
    assert info["redis_mode"] == "standalone"
    assert isinstance(info["uptime_in_seconds"], int)
    assert info["connected_clients"] >= 1
    assert info["used_memory"] > 1024 * 1024  # a Python process: megabytes, not zero
    assert info["used_memory_rss"] > 1024 * 1024
    assert info["used_memory_human"].endswith(("K", "M", "G"))
    assert info["maxmemory"] == 0 and info["maxmemory_policy"] == "noeviction"
    assert info["loading"] == 0
    assert info["aof_enabled"] in (0, 1)
    assert isinstance(info["rdb_last_save_time"], int)
    assert info["total_commands_processed"] > 0
    assert info["total_connections_received"] >= 1
    assert isinstance(info["used_cpu_user"], float)
    assert info["cluster_enabled"] == 0
    assert info["db0"] == {"keys": 2, "expires": 1, "avg_ttl": 0}
    assert "cmdstat_get" not in info  # commandstats is not a default section


def test_keyspace_hits_misses_and_commands_processed(r):
    r.set("present", "1")
    before = r.info("stats")
    r.get("present")
    r.get("present")
    r.get("absent")
    after = r.info("stats")
    assert after["keyspace_hits"] - before["keyspace_hits"] == 2
    assert after["keyspace_misses"] - before["keyspace_misses"] == 1
    # three GETs and the INFO before them
    assert after["total_commands_processed"] - before["total_commands_processed"] == 4


def test_info_text_format(server, redis_ref):
    def headers(port, payload):
        reply = raw_exchange(port, payload + b"QUIT\r\n", timeout=1)
        return [line for line in reply.split(b"\r\n") if line.startswith(b"# ")]

    # The default and "all" sections, in Redis's order.
    assert headers(server.port, b"INFO\r\n") == headers(redis_ref.port, b"INFO\r\n")
    ours_all = headers(server.port, b"INFO all\r\n")
    assert ours_all == headers(redis_ref.port, b"INFO all\r\n")
    assert headers(server.port, b"INFO everything\r\n") == ours_all + [b"# Storage", b"# Filter"]
    assert headers(server.port, b"INFO default\r\n") == headers(server.port, b"INFO\r\n")
    assert headers(server.port, b"INFO CLIENTS server\r\n") == [b"# Server", b"# Clients"]

    reply = raw_exchange(server.port, b"INFO clients cluster\r\nQUIT\r\n", timeout=1)
    body = reply[reply.index(b"\r\n") + 2 : -len(b"\r\n+OK\r\n")]
    assert reply.startswith(b"$%d\r\n" % len(body))
    assert body.startswith(b"# Clients\r\nconnected_clients:")
    assert body.endswith(b"\r\n\r\n# Cluster\r\ncluster_enabled:0\r\n")
    for line in body.split(b"\r\n"):
        assert line == b"" or line.startswith(b"# ") or b":" in line

    assert raw_exchange(server.port, b"INFO nosuchsection\r\nQUIT\r\n", timeout=1) == b"$0\r\n\r\n+OK\r\n"
    assert raw_exchange(server.port, b"FLUSHALL\r\nINFO keyspace\r\nQUIT\r\n", timeout=1) == (
        b"+OK\r\n$12\r\n# Keyspace\r\n\r\n+OK\r\n"
    )
    # RESP3: a verbatim string
    reply = raw_exchange(server.port, b"HELLO 3\r\nINFO cluster\r\nQUIT\r\n", timeout=1)
    assert b"\r\n=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n+OK\r\n" in reply


def test_commandstats_counts_calls(r):
    r.set("k", "v")
    before = r.info("commandstats")
    for _ in range(3):
        r.get("k")
    with pytest.raises(redis.ResponseError):
        r.execute_command("SET", "k", "v", "EX", "0")  # fails: invalid expire time
    with pytest.raises(redis.ResponseError):
        r.execute_command("GET", "k", "extra")  # rejected: wrong number of arguments
    r.client_id()
    after = r.info("commandstats")
    get_before = before.get("cmdstat_get", {"calls": 0, "rejected_calls": 0})
    assert after["cmdstat_get"]["calls"] == get_before["calls"] + 3
    assert after["cmdstat_get"]["rejected_calls"] == get_before["rejected_calls"] + 1
    assert after["cmdstat_set"]["failed_calls"] == before["cmdstat_set"]["failed_calls"] + 1
    assert isinstance(after["cmdstat_get"]["usec_per_call"], float)
    assert after["cmdstat_client|id"]["calls"] >= 1
    assert set(after["cmdstat_get"]) == {"calls", "usec", "usec_per_call", "rejected_calls", "failed_calls"}


def test_time_and_lastsave(r):
    seconds, micros = r.time()
    assert abs(seconds + micros / 1e6 - time.time()) < 5
    assert 0 <= micros < 1_000_000
    assert r.lastsave().timestamp() <= time.time()


# ---------------------------------------------------------------------------------------
# CLIENT


def test_client_id_name_info_list(r, redis_ref):
    client_id = r.client_id()
    assert isinstance(client_id, int) and client_id > 0
    assert r.client_getname() is None
    assert r.client_setname("worker-1") is True
    assert as_text(r.client_getname()) == "worker-1"
    info = r.client_info()
    assert info["id"] == client_id
    assert info["name"] == "worker-1"
    assert info["cmd"] == "client|info"
    assert info["lib-name"] == "redis-py" and info["lib-ver"] == redis.__version__
    assert info["resp"] == str(r.connection_pool.connection_kwargs["protocol"])
    assert info["db"] == 0 and info["flags"] == "N" and info["multi"] == -1

    mine = [c for c in r.client_list() if c["id"] == str(client_id)]
    assert len(mine) == 1 and mine[0]["name"] == "worker-1" and mine[0]["cmd"] == "client|list"
    assert [c["id"] for c in r.client_list(client_id=[client_id])] == [str(client_id)]
    assert r.client_list(_type="pubsub") == []
    assert str(client_id) in [c["id"] for c in r.client_list(_type="normal")]

    # The fields are Redis 7.0's, in its order, then 7.2's lib-name and lib-ver.
    reference = redis.Redis(port=redis_ref.port, protocol=2)
    expected = list(reference.client_info()) + ["lib-name", "lib-ver"]
    reference.close()
    assert list(info) == expected

    assert r.client_setname("") is True  # an empty name removes the name
    assert r.client_getname() is None
    with pytest.raises(redis.ResponseError, match="^Client names cannot contain spaces, newlines or special characters.$"):
        r.client_setname("bad name")


def test_client_setinfo(r2):
    assert r2.client_setinfo("LIB-NAME", "my-lib") is True
    assert r2.client_setinfo("lib-ver", "1.2.3") is True
    info = r2.client_info()
    assert (info["lib-name"], info["lib-ver"]) == ("my-lib", "1.2.3")
    with pytest.raises(redis.ResponseError, match="^Unrecognized option 'foo'$"):
        r2.client_setinfo("foo", "x")
    with pytest.raises(redis.ResponseError, match="^LIB-NAME cannot contain spaces, newlines or special characters.$"):
        r2.client_setinfo("LIB-NAME", "a b")


def test_client_flags_no_evict_no_touch_multi(server):
    with connect(server.port) as sock:
        assert ask(sock, b"CLIENT NO-EVICT on\r\n") == b"+OK\r\n"
        assert ask(sock, b"CLIENT NO-TOUCH ON\r\n") == b"+OK\r\n"
        assert ask(sock, b"CLIENT NO-TOUCH maybe\r\n") == b"-ERR syntax error\r\n"
        assert ask(sock, b"MULTI\r\n") == b"+OK\r\n"
        assert ask(sock, b"PING\r\n") == b"+QUEUED\r\n"
        with redis.Redis(port=server.port, protocol=2) as other:
            lines = [c for c in other.client_list() if c["flags"] != "N"]
        assert len(lines) == 1
        assert lines[0]["flags"] == "xeT" and lines[0]["multi"] == "1" and lines[0]["multi-mem"] == "4"
        assert ask(sock, b"DISCARD\r\nCLIENT NO-EVICT off\r\nCLIENT NO-TOUCH off\r\n").endswith(b"+OK\r\n")


def test_client_kill_closes_another_connection(server, r2):
    with connect(server.port) as victim:
        victim_id = int(ask(victim, b"CLIENT ID\r\n")[1:])
        assert r2.client_kill_filter(_id=victim_id) == 1
        assert closed_by_server(victim)
        # gone from the list at once, as in Redis
        assert r2.client_list(client_id=[victim_id]) == []
    assert r2.client_kill_filter(_id=victim_id) == 0

    # The old form, by address: replies OK, or an error when nobody matched.
    with connect(server.port) as victim:
        ask(victim, b"PING\r\n")
        local = "%s:%d" % victim.getsockname()[:2]
        addresses = [c["addr"] for c in r2.client_list()]
        assert local in addresses
        assert r2.client_kill(local) is True
        assert closed_by_server(victim)
    with pytest.raises(redis.ResponseError, match="^No such client$"):
        r2.client_kill("1.2.3.4:5")



def test_client_kill_by_type_spares_the_caller(start_server):
    srv = start_server()  # its own server: this kills every other client
    with redis.Redis(port=srv.port, protocol=2) as client:
        with connect(srv.port) as one, connect(srv.port) as two:
            assert ask(one, b"PING\r\n") == b"+PONG\r\n"
            # a client that has not run a command yet shows cmd=NULL, as in Redis
            assert [c["cmd"] for c in client.client_list() if c["id"] != str(client.client_id())] == ["ping", "NULL"]
            assert client.client_kill_filter(_type="normal") == 2  # SKIPME yes by default
            assert closed_by_server(one) and closed_by_server(two)
        assert client.info("clients")["connected_clients"] == 1
        assert client.ping() is True


def test_client_kill_self(server):
    with connect(server.port) as sock:
        my_id = int(ask(sock, b"CLIENT ID\r\n")[1:])
        # the reply goes out, then the connection closes (the PING is never answered)
        sock.sendall(b"CLIENT KILL ID %d SKIPME no\r\nPING\r\n" % my_id)
        data = b""
        while True:
            chunk = sock.recv(100)
            if not chunk:
                break
            data += chunk
        assert data == b":1\r\n"
        # SKIPME yes (the default) spares the caller
    with connect(server.port) as sock:
        my_id = int(ask(sock, b"CLIENT ID\r\n")[1:])
        assert ask(sock, b"CLIENT KILL ID %d\r\n" % my_id) == b":0\r\n"


def test_maint_notifications_handshake(server):
    # redis-py 8 sends CLIENT MAINT_NOTIFICATIONS ON ... on every RESP3 connection; with
    # enabled=True an error would refuse the connection.
    strict = MaintNotificationsConfig(enabled=True)
    with redis.Redis(port=server.port, protocol=3, maint_notifications_config=strict) as client:
        assert client.ping() is True
    with redis.Redis(port=server.port, protocol=3) as client:  # the default ("auto")
        assert client.set("mn", "1") and client.get("mn") == b"1"


@pytest.mark.parametrize(
    "payload",
    [
        b"CLIENT KILL 1.2.3.4:5\r\n",
        b"CLIENT KILL id\r\n",
        b"CLIENT KILL ID abc\r\n",
        b"CLIENT KILL ID 0\r\n",
        b"CLIENT KILL ID 99999\r\n",
        b"CLIENT KILL TYPE foo\r\n",
        b"CLIENT KILL TYPE master\r\n",
        b"CLIENT KILL TYPE normal SKIPME maybe\r\n",
        b"CLIENT KILL USER nobody\r\n",
        b"CLIENT KILL ADDR 1.2.3.4:5\r\n",
        b"CLIENT KILL LADDR 1.2.3.4:5 ID 99999\r\n",
        b"CLIENT KILL foo bar\r\n",
        b"CLIENT KILL TYPE normal ID\r\n",
        b"CLIENT LIST TYPE foo\r\n",
        b"CLIENT LIST TYPE pubsub\r\n",
        b"CLIENT LIST ID abc\r\n",
        b"CLIENT LIST ID 99999 99998\r\n",
        b"CLIENT LIST TYPE normal ID 5\r\n",
        b"CLIENT LIST foo\r\n",
        b"CLIENT NO-EVICT foo\r\n",
        b"CLIENT NO-EVICT on\r\n",
        b"CLIENT GETNAME\r\nCLIENT SETNAME x\r\nCLIENT GETNAME\r\nCLIENT SETNAME \"\"\r\nCLIENT GETNAME\r\n",
        b"CLIENT SETNAME\r\n",
        b"CLIENT SETNAME \"a b\"\r\n",
        b"CLIENT ID x\r\n",
        b"CLIENT foo\r\n",
        b"CLIENT\r\n",
        b"COMMAND foo\r\n",
        b"COMMAND COUNT x\r\n",
        b"COMMAND GETKEYS\r\n",
        b"COMMAND GETKEYS get\r\n",
        b"COMMAND GETKEYS foo bar\r\n",
        b"COMMAND GETKEYS get a b\r\n",
        b"COMMAND GETKEYS set a\r\n",
        b"COMMAND GETKEYS mset a b c d\r\n",
        b"COMMAND GETKEYS mset a\r\n",
        b"COMMAND GETKEYS client list\r\n",
        b"COMMAND GETKEYS client nosuch\r\n",
        b"COMMAND GETKEYSANDFLAGS mset a b c d\r\n",
        b"COMMAND GETKEYSANDFLAGS del a b\r\n",
        b"COMMAND LIST FILTERBY\r\n",
        b"COMMAND LIST FILTERBY pattern\r\n",
        b"COMMAND LIST FILTERBY foo x\r\n",
        b"COMMAND LIST foo\r\n",
        b"COMMAND LIST FILTERBY aclcat nosuch\r\n",
        b"COMMAND LIST FILTERBY module x\r\n",
        b"COMMAND LIST FILTERBY pattern c?ient|l*\r\n",
        b"COMMAND INFO nosuch\r\n",
        b"COMMAND INFO get|x\r\n",
        b"COMMAND DOCS nosuch\r\n",
        b"INFO nosuchsection\r\n",
        b"TIME x\r\n",
        b"LASTSAVE x\r\n",
        b"SHUTDOWN ABORT\r\n",
        b"SHUTDOWN SAVE NOSAVE\r\n",
        b"SHUTDOWN NOW ABORT\r\n",
        b"SHUTDOWN maybe\r\n",
    ],
)
def test_replies_match_redis(server, redis_ref, payload):
    ours = raw_exchange(server.port, payload + b"QUIT\r\n", timeout=1)
    theirs = raw_exchange(redis_ref.port, payload + b"QUIT\r\n", timeout=1)
    assert ours == theirs


# ---------------------------------------------------------------------------------------
# COMMAND


def test_command_count_is_the_table(r):
    assert r.command_count() == len(TABLE)
    assert len(r.command()) == len(TABLE)
    names = as_text(r.execute_command("COMMAND LIST"))
    assert len([n for n in names if "|" not in n]) == len(TABLE)
    assert {"get", "client", "client|list", "command", "command|docs", "info"} <= set(names)


def test_command_table_matches_redis(r2, redis_ref):
    """Every command we have that Redis 7.0 has too: same arity, key positions and key
    specs exactly; flags and ACL categories a subset of Redis's, with the ones that
    decide routing and key access (write, readonly, movablekeys) equal."""
    reference = redis.Redis(port=redis_ref.port, protocol=2)
    names = as_text(r2.execute_command("COMMAND LIST"))
    ours = dict(zip(names, raw_command_info(r2, *names)))
    theirs = dict(zip(names, raw_command_info(reference, *names)))
    reference.close()
    compared = 0
    for name, mine in ours.items():
        redis_entry = theirs[name]
        if redis_entry is None:  # ours only (CLIENT SETINFO is Redis 7.2's, CF.* are modules)
            continue
        compared += 1
        assert mine[0] == name
        assert mine[1] == redis_entry[1], f"{name}: arity"
        assert mine[3:6] == redis_entry[3:6], f"{name}: first/last/step"
        assert set(mine[2]) <= set(redis_entry[2]), f"{name}: flags"
        routing = {"write", "readonly", "movablekeys"}
        assert set(mine[2]) & routing == set(redis_entry[2]) & routing, f"{name}: key flags"
        assert set(mine[6]) <= set(redis_entry[6]), f"{name}: acl categories"
        assert mine[7] == redis_entry[7], f"{name}: tips"
        assert key_specs(mine) == key_specs(redis_entry), f"{name}: key specs"
        assert [s[0] for s in mine[9]] == [n for n in names if n.startswith(name + "|")]
    assert compared >= 20


def test_command_reply_parses_in_both_protocols(r):
    commands = r.command()
    assert commands["get"]["arity"] == 2
    assert commands["get"]["first_key_pos"] == 1 and commands["get"]["step_count"] == 1
    assert set(commands["get"]["flags"]) == {"readonly", "fast"}
    assert commands["mset"]["last_key_pos"] == -1 and commands["mset"]["step_count"] == 2
    subcommands = [as_text(s[0]) for s in commands["client"]["subcommands"]]
    assert "client|list" in subcommands and "client|kill" in subcommands
    assert "command|docs" in [as_text(s[0]) for s in commands["command"]["subcommands"]]
    entry = raw_command_info(r, "client|list", "nosuch")
    assert entry[0][0] == "client|list" and entry[1] is None


def test_cluster_client_command_parser(r):
    """RedisCluster routes by what CommandsParser makes of COMMAND."""
    parser = CommandsParser(r)
    assert as_text(parser.get_keys(r, "MSET", "a", "1", "b", "2")) == ["a", "b"]
    assert as_text(parser.get_keys(r, "GET", "k")) == ["k"]
    assert as_text(parser.get_keys(r, "DEL", "x", "y", "z")) == ["x", "y", "z"]
    assert parser.get_keys(r, "CLIENT", "LIST") is None
    assert parser.get_keys(r, "COMMAND", "INFO", "get") is None
    policies = parser.get_command_policies()
    assert policies["core"]["mset"].request_policy.value == "multi_shard"
    assert policies["core"]["info"].response_policy.value == "special"


def test_command_docs_parse(r):
    docs = as_text(r.execute_command("COMMAND DOCS", "get", "client", "nosuch"))
    docs = {name: as_map(doc) for name, doc in as_map(docs).items()}
    assert set(docs) == {"get", "client"}
    assert docs["get"]["group"] == "string" and docs["get"]["since"]
    assert docs["get"]["summary"] and docs["get"]["complexity"]
    subcommands = {name: as_map(doc) for name, doc in as_map(docs["client"]["subcommands"]).items()}
    assert subcommands["client|list"]["group"] == "connection"
    assert subcommands["client|kill"]["summary"] == "Kill the connection of a client"
    everything = as_map(as_text(r.execute_command("COMMAND DOCS")))
    assert set(everything) == {spec.name for spec in TABLE}


def test_command_list_filters(r2):
    def listed(*args):
        return set(as_text(r2.execute_command("COMMAND LIST", *args)))

    connection = listed("FILTERBY", "ACLCAT", "connection")
    assert {"ping", "client|id", "command"} <= connection and "get" not in connection
    assert "client" not in connection  # the container itself is just @slow
    assert listed("FILTERBY", "PATTERN", "CLIENT|*") >= {"client|list", "client|kill"}
    assert listed("FILTERBY", "MODULE", "bf") == set()


# ---------------------------------------------------------------------------------------
# redis-cli


def test_redis_cli_one_shot(server):
    docs = subprocess.run(["redis-cli", "-p", str(server.port), "command", "docs", "get"],
                          capture_output=True, text=True, timeout=10)
    assert docs.returncode == 0
    lines = docs.stdout.splitlines()
    assert lines[:3] == ["get", "summary", "Get the value of a key"]
    assert "group" in lines and "string" in lines
    info = subprocess.run(["redis-cli", "-p", str(server.port), "info", "server"],
                          capture_output=True, text=True, timeout=10)
    assert info.returncode == 0
    assert info.stdout.startswith("# Server\nredis_version:")  # (text mode: CRLF read as \n)
    assert f"\ntcp_port:{server.port}\n" in info.stdout


def test_redis_cli_interactive(server):
    """On a terminal redis-cli asks COMMAND DOCS for its help and hints before the first
    prompt (it aborts on a reply it cannot parse); `help client` shows what it read."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "dumb", "HOME": os.environ.get("TMPDIR", "/tmp")}
    proc = subprocess.Popen(["redis-cli", "-p", str(server.port)], stdin=slave, stdout=slave,
                            stderr=slave, env=env)
    os.close(slave)
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 5
        while marker not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    return
        assert marker in seen, seen.decode(errors="replace")

    try:
        read_until(b"> ")
        os.write(master, b"ping\r")
        read_until(b"PONG")
        os.write(master, b"help client\r")
        read_until(b"Kill the connection of a client")
        read_until(b"Get the list of client connections")
        assert b"CLIENT LIST" in seen
        os.write(master, b"quit\r")
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


# ---------------------------------------------------------------------------------------
# SHUTDOWN


def test_shutdown_stops_the_server(start_server):
    srv = start_server()
    client = redis.Redis(port=srv.port, retry=Retry(NoBackoff(), 0), socket_timeout=5)
    with pytest.raises(redis.ResponseError, match="No shutdown in progress"):
        client.shutdown(abort=True)
    client.shutdown(nosave=True)  # redis-py expects the connection to close, not a reply
    assert srv.proc.wait(10) == 0, srv.log()
