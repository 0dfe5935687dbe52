"""Configuration: the YAML file, the flags of hypercache-server, and CONFIG GET/SET/
RESETSTAT/REWRITE/HELP, compared with a real Redis where both have the parameter."""

from __future__ import annotations

import json
import logging
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from hypercache.config import Config, ConfigError, load_config, parse_size, render_yaml
from hypercache.configtable import PARAMS, lookup
from tests.support import REPO, free_port, server_command

# The seed design's §8.1, word for word.
SEED_YAML = """\
# hypercache.yaml
node:
  id: "node-1"
  bind_addr: "0.0.0.0:7000"
  data_dir: "/var/lib/hypercache"

cluster:
  seeds: ["node-1:7000", "node-2:7000"]
  replication_factor: 3
  consistency_level: "eventual"

storage:
  wal_sync_interval: "10ms"
  memtable_size: "64MB"
  compaction_threads: 4

cache:
  max_memory: "8GB"
  eviction_policy: "lru"
  cuckoo_filter_fpp: 0.01  # 1% false positive rate
"""

GB = 1024**3
MB = 1024**2


def write(tmp_path: Path, text: str, name: str = "hypercache.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def check_seed_values(config: Config) -> None:
    assert config.node_id == "node-1"
    assert (config.bind, config.port) == ("0.0.0.0", 7000)
    assert config.dir == "/var/lib/hypercache"
    assert config.cluster_seeds == ["node-1:7000", "node-2:7000"]
    assert config.replication_factor == 3
    assert config.consistency_level == "eventual"
    assert config.wal_sync_interval_ms == 10
    assert config.appendfsync == "interval"  # the seed's "sync the WAL every 10ms"
    assert config.memtable_size == 64 * MB
    assert config.compaction_threads == 4
    assert config.maxmemory == 8 * GB
    assert config.maxmemory_policy == "allkeys-lru"
    assert config.cuckoo_filter_fpp == 0.01


# ---------------------------------------------------------------------------------------
# Loading the file


def test_seed_yaml_loads_as_written(tmp_path):
    path = write(tmp_path, SEED_YAML)
    config = load_config(str(path))
    check_seed_values(config)
    assert config.config_file == str(path)
    # everything the seed does not mention keeps its default
    assert (config.requirepass, config.maxclients, config.loglevel) == (None, 10000, "notice")


def test_example_file_at_repo_root_is_the_seed_plus_admin():
    config = load_config(str(REPO / "hypercache.yaml"))
    check_seed_values(config)
    assert config.admin_bind_addr == "127.0.0.1:7080"
    assert (config.admin_host, config.admin_port) == ("127.0.0.1", 7080)


def test_our_sections_load(tmp_path):
    path = write(tmp_path, """
server: {requirepass: s3cret, maxclients: 50, timeout: 30, appendonly: no, appendfsync: always,
         proto_max_bulk_len: 1mb, client_query_buffer_limit: 2mb, hz: 1000, databases: 16, save: "900 1"}
storage: {wal_sync_interval: 1s}
admin: {bind_addr: "[::1]:9090"}
logging: {level: warning, format: json, file: /tmp/x.log}
slowlog: {log_slower_than: -1, max_len: 10}
cluster: {enabled: true}
""")
    c = load_config(str(path))
    assert (c.requirepass, c.maxclients, c.timeout, c.appendonly) == ("s3cret", 50, 30, False)
    assert c.appendfsync == "always"  # an explicit policy wins over wal_sync_interval
    assert (c.wal_sync_interval_ms, c.proto_max_bulk_len, c.client_query_buffer_limit) == (1000, MB, 2 * MB)
    assert (c.hz, c.databases, c.save) == (500, 16, "900 1")  # hz is clamped as Redis does
    assert (c.admin_host, c.admin_port) == ("::1", 9090)
    assert (c.loglevel, c.logformat, c.logfile) == ("warning", "json", "/tmp/x.log")
    assert (c.slowlog_log_slower_than, c.slowlog_max_len, c.cluster_enabled) == (-1, 10, True)


@pytest.mark.parametrize("text, value", [
    ("1048576", 1048576), ("100k", 100_000), ("100kb", 102_400), ("64mb", 64 * MB), ("64MB", 64 * MB),
    ("1gb", GB), ("8GB", 8 * GB), ("1g", 10**9), ("5b", 5), ("0", 0),
])
def test_sizes_take_redis_units(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "1.5gb", "-1", "+5", " 10", "10 mb", "0x10", "8XB", "gb"])
def test_bad_sizes_are_refused(text):
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize("policy, expected", [
    ("lru", "allkeys-lru"), ("lfu", "allkeys-lfu"), ("noeviction", "noeviction"),
    ("volatile-ttl", "volatile-ttl"), ("allkeys-random", "allkeys-random"), ("ALLKEYS-LFU", "allkeys-lfu"),
])
def test_eviction_policy_names(tmp_path, policy, expected):
    path = write(tmp_path, f"cache:\n  eviction_policy: {policy}\n")
    assert load_config(str(path)).maxmemory_policy == expected


@pytest.mark.parametrize("text, expected", [
    ("cache:\n  max_memroy: 8GB\n", "unknown key 'cache.max_memroy' (did you mean 'cache.max_memory'?)"),
    ("caches:\n  x: 1\n", "unknown section 'caches'"),
    ("cache:\n  max_memory: 8XB\n", "cache.max_memory: bad value '8XB': argument must be a memory value"),
    ("cache:\n  eviction_policy: lr\n", "cache.eviction_policy: bad value 'lr'"),
    ("cache:\n  cuckoo_filter_fpp: 0.5\n", "cache.cuckoo_filter_fpp: bad value 0.5: argument must be between 0.001 and 0.05"),
    ("cache:\n  cuckoo_filter_fpp: 0.0005\n", "cache.cuckoo_filter_fpp"),
    ("node:\n  bind_addr: 0.0.0.0\n", "node.bind_addr: bad value '0.0.0.0': argument must be host:port"),
    ("storage:\n  wal_sync_interval: 10us\n", "storage.wal_sync_interval: bad value '10us'"),
    ("server:\n  maxclients: {a: 1}\n", "server.maxclients"),
    ("cluster:\n  seeds: [a, b]\n", "cluster.seeds: bad value [a, b]: 'a' is not host:port"),
    ("cache:\n  max_memory: 1GB\n  max_memory: 2GB\n", "duplicate key 'max_memory'"),
    ("cache: [1\n", "invalid YAML at line 2"),
    ("- a\n", "the top level must be a mapping"),
])
def test_bad_files_raise_one_line_naming_the_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    message = str(err.value)
    assert expected in message and str(path) in message
    assert "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file '.*nope.yaml' not found"):
        load_config(str(tmp_path / "nope.yaml"))


def test_render_round_trip(tmp_path):
    config = load_config(str(write(tmp_path, SEED_YAML)))
    config.maxmemory, config.requirepass, config.appendfsync = 3 * GB, "pw", "everysec"
    config.bind = "127.0.0.1 ::1"  # not sayable as one bind_addr: written as bind + port
    config.admin_bind_addr = "0.0.0.0:9999"
    out = write(tmp_path, render_yaml(config, {"node.id"}), "out.yaml")
    again = load_config(str(out))
    again.config_file = config.config_file
    assert again == config


# ---------------------------------------------------------------------------------------
# hypercache-server's command line


def run_cli(*args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(server_command() + list(args), capture_output=True, text=True, timeout=timeout)


def assert_usage_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "usage:" not in result.stderr.lower()
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "HyperCache server v=0.1.0"


@pytest.mark.parametrize("flags, needles", [
    (["--nosuchflag", "1"], ["unknown option '--nosuchflag'"]),
    (["--maxmemry", "1gb"], ["'--maxmemry'", "did you mean --maxmemory"]),
    (["--maxmemory", "lots"], ["--maxmemory", "'lots'", "memory value"]),
    (["--appendfsync", "sometimes"], ["--appendfsync", "'sometimes'"]),
    (["--port", "70000"], ["--port", "between 0 and 65535"]),
    (["--port"], ["--port", "needs a value"]),
    (["--maxmemory-policy", "lfru"], ["--maxmemory-policy"]),
    (["--loglevel", "loud"], ["--loglevel"]),
    (["--cuckoo-filter-fpp", "0.2"], ["--cuckoo-filter-fpp"]),
    (["--config", "/nonexistent/hypercache.yaml"], ["/nonexistent/hypercache.yaml", "not found"]),
    (["/nonexistent/hypercache.yaml"], ["/nonexistent/hypercache.yaml", "not found"]),
])
def test_bad_flags_exit_2_with_one_line(flags, needles):
    assert_usage_error(run_cli(*flags), *needles)


@pytest.mark.parametrize("text, needle", [
    ("cache:\n  max_memroy: 8GB\n", "cache.max_memroy"),
    ("cache:\n  max_memory: lots\n", "cache.max_memory"),
    ("cache:\n  cuckoo_filter_fpp: 0.5\n", "cache.cuckoo_filter_fpp"),
    ("node: [\n", "invalid YAML"),
])
def test_bad_config_files_exit_2_with_one_line(tmp_path, text, needle):
    path = write(tmp_path, text)
    assert_usage_error(run_cli(str(path)), needle, str(path))  # positional, as redis-server
    assert_usage_error(run_cli("--config", str(path), "--port", "0"), needle)


def test_bind_failure_exits_1_with_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "in use" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_flags_override_yaml(start_server, tmp_path):
    path = write(tmp_path, SEED_YAML + "admin:\n  bind_addr: 127.0.0.1:0\n")
    data = tmp_path / "made" / "by" / "server"  # created if missing
    srv = start_server("--config", str(path), "--maxmemory", "1gb", "--dir", str(data),
                       "--bind", "127.0.0.1", "--appendfsync", "no")
    client = redis.Redis(port=srv.port, protocol=3)
    got = client.config_get("*")
    assert got["maxmemory"] == str(GB)  # flag over the file's 8GB
    assert got["maxmemory-policy"] == "allkeys-lru"  # the file's "lru"
    assert got["port"] == str(srv.port) and got["bind"] == "127.0.0.1"
    assert got["dir"] == str(data) and data.is_dir()
    assert got["appendfsync"] == "no"
    assert (got["cuckoo-filter-fpp"], got["memtable-size"], got["compaction-threads"]) == ("0.01", str(64 * MB), "4")
    assert (got["cluster-node-id"], got["cluster-seeds"]) == ("node-1", "node-1:7000 node-2:7000")
    client.close()


def test_positional_config_file_and_redis_style_multiword_flags(tmp_path):
    port = free_port()
    path = write(tmp_path, f"node:\n  bind_addr: 127.0.0.1:{port}\n  data_dir: {tmp_path / 'd'}\ncache:\n  max_memory: 2mb\n")
    proc = subprocess.Popen(server_command() + [str(path), "--save", "3600", "1", "300", "100"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client = redis.Redis(port=port, socket_timeout=5)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None:
                    pytest.fail(proc.stderr.read().decode())
                time.sleep(0.05)
        assert client.config_get("maxmemory") == {"maxmemory": str(2 * MB)}
        assert client.config_get("save") == {"save": "3600 1 300 100"}
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)


REDIS_LOG_LINE = re.compile(r"^\d+:M \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d\.\d{3} [.\-*#] \S")


def test_log_lines_look_like_redis(start_server):
    srv = start_server()
    lines = [line for line in srv.log().splitlines() if line.strip()]
    assert any("Ready to accept connections" in line for line in lines)
    for line in lines:
        assert REDIS_LOG_LINE.match(line), line


def test_json_log_lines_at_the_chosen_level(start_server, tmp_path):
    logfile = tmp_path / "hc.log"
    srv = start_server("--logformat", "json", "--logfile", str(logfile), "--loglevel", "warning")
    client = redis.Redis(port=srv.port)
    assert client.config_get("logformat") == {"logformat": "json"}
    client.close()
    entries = [json.loads(line) for line in logfile.read_text().splitlines()]
    assert entries and all(e["level"] == "warning" for e in entries)  # no notice lines
    assert {"time", "pid", "level", "logger", "message"} <= set(entries[0])
    assert any("HyperCache is starting" in e["message"] for e in entries)


# ---------------------------------------------------------------------------------------
# CONFIG GET / SET, compared with the real Redis


@pytest.fixture
def restore(both):
    """(hc, ref), and after the test both servers get back the values they had (the
    servers are shared with other tests)."""
    names = ["maxmemory", "maxmemory-policy", "hz", "timeout", "maxclients", "appendfsync",
             "slowlog-log-slower-than", "slowlog-max-len", "loglevel", "save", "proto-max-bulk-len",
             "maxmemory-samples"]
    saved = [client.config_get(*names) for client in both]
    yield both
    for client, values in zip(both, saved):
        client.execute_command("CONFIG", "SET", *[x for kv in values.items() for x in kv])


def reply(client: redis.Redis, *args: str):
    try:
        return client.execute_command(*args)
    except redis.ResponseError as err:
        return ("error", str(err))


def pairs(flat: list) -> dict:
    return dict(zip(flat[::2], flat[1::2]))


SHARED_NAMES = ["maxmemory", "maxmemory-policy", "hz", "timeout", "maxclients", "slowlog-max-len",
                "slowlog-log-slower-than", "proto-max-bulk-len", "client-query-buffer-limit", "loglevel",
                "appendfsync", "save", "requirepass", "logfile"]


def test_config_get_matches_redis(both):
    hc, ref = both
    for name in SHARED_NAMES:
        assert hc.config_get(name) == ref.config_get(name), name
    for args in (SHARED_NAMES[:5], ["HZ"], ["HZ", "hz", "h?"], ["slowlog-*"], ["maxmemory-polic[y]"],
                 ["no-such-thing"], ["slowlog-max-*", "timeout", "TIMEOUT"], ["appendfs?nc", "*policy"]):
        ours, theirs = (client.execute_command("CONFIG", "GET", *args) for client in (hc, ref))
        assert len(ours) == len(theirs) and pairs(ours) == pairs(theirs), args  # Redis's order is a hash's
    assert hc.config_get("save")["save"] == ""  # redis-benchmark's first two questions
    assert hc.config_get("appendonly")["appendonly"] in ("yes", "no")
    for args in (["CONFIG", "GET"], ["CONFIG"], ["CONFIG", "nope"]):
        assert reply(hc, *args) == reply(ref, *args)


def test_config_get_glob_covers_the_table(r):
    got = r.config_get("*")
    assert set(got) == set(PARAMS)
    assert set(r.config_get("max*")) == {"maxclients", "maxmemory", "maxmemory-policy", "maxmemory-samples"}
    assert set(r.config_get("port", "BIND")) == {"port", "BIND"}  # exact names as given


def test_config_set_matches_redis(restore):
    hc, ref = restore
    script = [
        ("maxmemory", "10mb"), ("maxmemory", "1G"), ("maxmemory", "10KB"), ("maxmemory", "5B"),
        ("maxmemory-policy", "ALLKEYS-LFU"), ("maxmemory-policy", "volatile-ttl"),
        ("hz", "1000"), ("hz", "0"), ("hz", "25"), ("timeout", "300"), ("maxclients", "500"),
        ("slowlog-log-slower-than", "-1"), ("slowlog-max-len", "0"), ("loglevel", "WARNING"),
        ("appendfsync", "always"), ("save", "3600 1 300 100"), ("save", "3600 01"), ("save", ""),
        ("proto-max-bulk-len", "1mb"), ("proto-max-bulk-len", "512mb"),
    ]
    for name, value in script:
        assert reply(hc, "CONFIG", "SET", name, value) == reply(ref, "CONFIG", "SET", name, value) == b"OK"
        assert hc.config_get(name) == ref.config_get(name), (name, value)


BAD_SETS = [
    ("x", "1"),
    ("maxmemory", "abc"), ("maxmemory", "-1"), ("maxmemory", "1.5gb"), ("maxmemory", "0x10"),
    ("maxmemory-policy", "lru"), ("maxmemory-policy", "sometimes"),
    ("appendonly", "maybe"), ("loglevel", "loud"), ("hz", "-1"), ("hz", "1.5"), ("timeout", "-1"),
    ("timeout", "10s"), ("timeout", "2147483648"), ("maxclients", "0"), ("maxclients", "abc"),
    ("slowlog-max-len", "-1"), ("slowlog-log-slower-than", "-5"), ("proto-max-bulk-len", "10"),
    ("client-query-buffer-limit", "10"), ("save", "abc"), ("save", "3600"), ("save", "0 1"),
    ("databases", "3"), ("cluster-enabled", "yes"), ("logfile", "/tmp/x"), ("dir", "/tmp"),
    ("maxmemory", "1", "maxmemory", "2"), ("maxmemory", "1", "MAXMEMORY", "2"),
    ("maxmemory", "100mb", "hz", "abc"), ("Hz", "abc"), ("x", "1", "databases", "3"),
    ("databases", "3", "x", "1"), ("maxmemory", "1", "maxmemory-policy"), ("maxmemory",),
]


@pytest.mark.parametrize("args", BAD_SETS, ids=lambda a: " ".join(a))
def test_config_set_errors_match_redis(restore, args):
    hc, ref = restore
    before = hc.config_get("maxmemory", "hz")
    ours, theirs = reply(hc, "CONFIG", "SET", *args), reply(ref, "CONFIG", "SET", *args)
    assert ours == theirs and ours[0] == "error"
    assert hc.config_get("maxmemory", "hz") == before  # all or nothing


def test_config_set_several_at_once(restore):
    hc, ref = restore
    for client in (hc, ref):
        assert client.execute_command("CONFIG", "SET", "maxmemory", "64mb", "maxmemory-policy", "allkeys-lru", "hz", "20")
    assert hc.config_get("maxmemory", "maxmemory-policy", "hz") == ref.config_get("maxmemory", "maxmemory-policy", "hz")
    assert hc.config_get("maxmemory")["maxmemory"] == str(64 * MB)


def test_config_help_rewrite_resetstat_match_redis(both):
    hc, ref = both
    assert reply(hc, "CONFIG", "HELP") == reply(ref, "CONFIG", "HELP")
    # neither was started from a file
    assert reply(hc, "CONFIG", "REWRITE") == reply(ref, "CONFIG", "REWRITE") == (
        "error", "The server is running without a config file")
    assert reply(hc, "CONFIG", "RESETSTAT") == reply(ref, "CONFIG", "RESETSTAT") == b"OK"
    for args in (["CONFIG", "RESETSTAT", "x"], ["CONFIG", "HELP", "x"]):
        assert reply(hc, *args) == reply(ref, *args)


def test_resetstat_clears_counters(start_server):
    srv = start_server()
    client = redis.Redis(port=srv.port)
    for _ in range(5):
        client.set("k", "v")
    assert client.info("commandstats")["cmdstat_set"]["calls"] == 5
    assert client.config_resetstat()
    info = client.info("commandstats")
    assert "cmdstat_set" not in info
    assert client.info("stats")["total_commands_processed"] <= 2
    client.close()


def test_config_command_metadata_is_redis_7():
    import hypercache.commands  # noqa: F401
    from hypercache.commands.table import TABLE

    config = TABLE.lookup(b"config")
    assert (config.arity, config.group, config.since) == (-2, "server", "2.0.0")
    expected = {  # from Redis 7.0's COMMAND INFO / COMMAND DOCS
        b"get": (-3, ("admin", "noscript", "loading", "stale"), ("@admin", "@slow", "@dangerous"), "2.0.0"),
        b"set": (-4, ("admin", "noscript", "loading", "stale"), ("@admin", "@slow", "@dangerous"), "2.0.0"),
        b"resetstat": (2, ("admin", "noscript", "loading", "stale"), ("@admin", "@slow", "@dangerous"), "2.0.0"),
        b"rewrite": (2, ("admin", "noscript", "loading", "stale"), ("@admin", "@slow", "@dangerous"), "2.8.0"),
        b"help": (2, ("loading", "stale"), ("@slow",), "5.0.0"),
    }
    assert set(config.subcommands) == set(expected)
    for sub, (arity, flags, acl, since) in expected.items():
        spec = config.subcommands[sub]
        assert (spec.arity, spec.flags, spec.acl_categories, spec.since) == (arity, flags, acl, since), sub


def test_loglevel_applies_at_run_time():
    """CONFIG SET loglevel changes the process's log level at once (in-process)."""
    from hypercache.commands.context import Context, ServerState
    from hypercache.commands.dispatch import execute

    root = logging.getLogger()
    old_level = root.level
    ctx = Context(ServerState(Config()))
    try:
        assert execute(ctx, [b"CONFIG", b"SET", b"loglevel", b"debug"]) == "OK"
        assert root.level == logging.DEBUG
        assert execute(ctx, [b"CONFIG", b"SET", b"loglevel", b"warning"]) == "OK"
        assert root.level == logging.WARNING
    finally:
        root.setLevel(old_level)


# ---------------------------------------------------------------------------------------
# CONFIG REWRITE and requirepass at run time


def test_config_rewrite_round_trip(start_server, tmp_path):
    path = write(tmp_path, SEED_YAML + "admin:\n  bind_addr: 127.0.0.1:0\n")
    srv = start_server("--config", str(path), "--bind", "127.0.0.1")
    client = redis.Redis(port=srv.port)
    assert client.execute_command("CONFIG", "SET", "maxmemory", "2gb", "maxmemory-policy", "allkeys-lfu",
                                  "requirepass", "", "timeout", "60", "slowlog-max-len", "7")
    assert client.config_rewrite()
    client.close()
    config = load_config(str(path))
    assert (config.maxmemory, config.maxmemory_policy, config.timeout, config.slowlog_max_len) == (
        2 * GB, "allkeys-lfu", 60, 7)
    # flags given at start are part of the running configuration, so they are written too
    assert (config.port, config.bind, config.dir) == (srv.port, "127.0.0.1", srv.data_dir)
    # what the file had and nobody changed is still there
    assert (config.node_id, config.cluster_seeds, config.compaction_threads) == (
        "node-1", ["node-1:7000", "node-2:7000"], 4)
    assert (config.appendfsync, config.wal_sync_interval_ms, config.cuckoo_filter_fpp) == ("interval", 10, 0.01)
    # and a server starts from the rewritten file with those values
    srv2 = start_server("--config", str(path))
    again = redis.Redis(port=srv2.port)
    assert again.config_get("maxmemory-policy", "timeout") == {"maxmemory-policy": "allkeys-lfu", "timeout": "60"}
    again.close()


def test_config_rewrite_reports_unwritable_file(start_server, tmp_path):
    path = write(tmp_path, "cache:\n  max_memory: 1mb\n")
    srv = start_server("--config", str(path))
    client = redis.Redis(port=srv.port)
    path.unlink()
    path.mkdir()  # the file is now a directory: rewriting it must fail, and say so
    with pytest.raises(redis.ResponseError, match="^Rewriting config file: "):
        client.config_rewrite()
    client.close()


def first_reply(port: int, payload: bytes) -> bytes:
    """Send `payload` and read until every line it asks for has come back (one per command)."""
    wanted = payload.count(b"\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        out = b""
        while out.count(b"\r\n") < wanted:
            chunk = sock.recv(4096)
            if not chunk:
                break
            out += chunk
    return out


def test_requirepass_set_at_run_time(start_server):
    srv = start_server()
    admin = redis.Redis(port=srv.port, protocol=2, single_connection_client=True)
    assert admin.config_set("requirepass", "s3cret")
    assert admin.ping()  # a client already in keeps its authentication, as in Redis
    # new connections must authenticate (raw sockets: redis-py would retry for seconds)
    assert first_reply(srv.port, b"GET k\r\n") == b"-NOAUTH Authentication required.\r\n"
    assert first_reply(srv.port, b"CONFIG GET requirepass\r\n") == b"-NOAUTH Authentication required.\r\n"
    assert first_reply(srv.port, b"AUTH wrong\r\n").startswith(b"-WRONGPASS")
    assert first_reply(srv.port, b"AUTH s3cret\r\nGET k\r\n") == b"+OK\r\n$-1\r\n"
    authed = redis.Redis(port=srv.port, protocol=3, password="s3cret")
    assert authed.config_get("requirepass") == {"requirepass": "s3cret"}
    assert authed.config_set("requirepass", "")
    authed.close()
    assert redis.Redis(port=srv.port, protocol=2).ping()  # no password any more
    admin.close()


def test_every_param_parses_its_own_output():
    config = load_config(str(REPO / "hypercache.yaml"))
    for name, param in PARAMS.items():
        shown = param.show(config)
        assert param.parse(shown) == param.get(config) or (name == "requirepass" and shown == ""), name
        assert lookup(name.upper()) is param


# ---- CONFIG SET takes effect ------------------------------------------------------------


def test_config_set_maxmemory_evicts_and_refuses_as_redis(start_server, redis_ref):
    """A lowered maxmemory applies at once: allkeys-lru evicts down to it (as Redis's
    CONFIG SET does), noeviction refuses writes with -OOM; raised again, writes go on."""
    srv = start_server("--appendonly", "no", "--maxmemory-policy", "allkeys-lru")
    ref_client = redis.Redis(port=redis_ref.port, socket_timeout=10)
    ref_client.flushall()
    try:
        for client in (redis.Redis(port=srv.port, socket_timeout=10), ref_client):
            client.mset({f"k{n}": "v" * 1000 for n in range(3000)})  # ~3 MB of values
            assert client.dbsize() == 3000
            assert client.config_set("maxmemory-policy", "allkeys-lru")
            assert client.config_set("maxmemory", "2mb")  # below the ~3 MB the values take
            client.ping()
            assert 0 < client.dbsize() < 3000 and int(client.info("stats")["evicted_keys"]) > 0
            assert client.config_set("maxmemory-policy", "noeviction")
            assert client.config_set("maxmemory", "1")  # below anything: nothing may be written
            with pytest.raises(redis.exceptions.ResponseError, match="command not allowed when used memory > 'maxmemory'"):
                client.set("more", "v")
            assert client.config_set("maxmemory", "0")
            assert client.set("more", "v")
            client.close()
    finally:
        ref_client.config_set("maxmemory", "0")
        ref_client.config_set("maxmemory-policy", "noeviction")
        ref_client.flushall()


def test_config_set_request_limits_apply_to_connected_clients(start_server):
    srv = start_server("--appendonly", "no")
    client = redis.Redis(port=srv.port, socket_timeout=10)
    assert client.set("big", "x" * (2 * 1024 * 1024))
    assert client.config_set("proto-max-bulk-len", "1mb")
    with pytest.raises(redis.exceptions.ResponseError, match="invalid bulk length"):  # then it closes the stream, as Redis
        client.set("big", "x" * (2 * 1024 * 1024))
    client = redis.Redis(port=srv.port, socket_timeout=10)
    assert client.config_set("proto-max-bulk-len", "512mb")
    assert client.set("big", "x" * (2 * 1024 * 1024)) and client.strlen("big") == 2 * 1024 * 1024


def test_config_set_appendfsync_and_memtable_size_reach_the_store(start_server):
    """appendfsync always: each write is fsynced before its reply (INFO storage's WAL
    fsync count grows with every SET); a smaller memtable-size: the next writes flush."""
    srv = start_server("--appendonly", "yes", "--appendfsync", "no")
    client = redis.Redis(port=srv.port, socket_timeout=10)

    def storage(field: str) -> int:
        return int(client.info("storage")[f"storage_{field}"])

    client.set("a", "1")
    assert storage("wal_fsyncs") == 0  # no: never fsynced unless asked
    assert client.config_set("appendfsync", "always")
    before = storage("wal_fsyncs")
    for n in range(5):
        client.set(f"k{n}", "v")
        assert storage("wal_fsyncs") >= before + n + 1
    assert client.config_set("appendfsync", "everysec", "memtable-size", "1mb")
    flushes = storage("flushes")
    client.mset({f"m{n}": "v" * 1000 for n in range(3000)})
    deadline = time.monotonic() + 20
    while storage("flushes") == flushes and time.monotonic() < deadline:
        time.sleep(0.1)
    assert storage("flushes") > flushes


def test_maxmemory_samples_is_redis_s_parameter(restore, start_server):
    """maxmemory-samples takes Redis's range (1-64) and errors; a flag and CONFIG SET
    both reach the eviction (1 sample: the evicted keys are drawn at random)."""
    hc, ref = restore
    for value in ("1", "10", "64"):
        assert hc.config_set("maxmemory-samples", value) and ref.config_set("maxmemory-samples", value)
        assert hc.config_get("maxmemory-samples") == ref.config_get("maxmemory-samples") == {"maxmemory-samples": value}
    for bad in ("0", "65", "x", "-1"):
        assert reply(hc, "CONFIG", "SET", "maxmemory-samples", bad) == reply(ref, "CONFIG", "SET", "maxmemory-samples", bad)
    srv = start_server("--appendonly", "no", "--maxmemory-samples", "1", "--maxmemory-policy", "allkeys-lru")
    client = redis.Redis(port=srv.port, socket_timeout=10)
    assert client.config_get("maxmemory-samples") == {"maxmemory-samples": "1"}
    hot = [f"hot{n}" for n in range(200)]

    def kept_through_churn() -> int:
        client.flushall()
        client.config_set("maxmemory", "0")
        client.mset({key: "h" * 1000 for key in hot})
        client.config_set("maxmemory", "2mb")  # room for ~1,900 values of 1 KB
        for n in range(40):  # 100 new keys a batch, the hot set read between batches
            client.mset({f"churn{n}:{i}": "c" * 1000 for i in range(100)})
            client.mget(hot)
        return sum(v is not None for v in client.mget(hot))

    at_random = kept_through_churn()
    assert client.config_set("maxmemory-samples", "16")
    sampled = kept_through_churn()
    assert sampled > at_random + 20
