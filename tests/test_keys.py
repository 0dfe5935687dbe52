"""Generic key commands through redis-py (RESP2 and RESP3), and side by side with a real
Redis: the same request sequence on both, compared reply by reply, byte for byte where
the reply is deterministic (errors included)."""

from __future__ import annotations

import socket
import time

import hiredis
import pytest
import redis

from hypercache.commands.table import TABLE

# ---- helpers ---------------------------------------------------------------------------


def encode(args: tuple) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, int):
            arg = str(arg)
        if isinstance(arg, str):
            arg = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class Raw:
    """A bare RESP2 connection: `call` returns the reply's exact bytes, `value` parses it."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def call(self, *args) -> bytes:
        self.sock.sendall(encode(args))
        reader = hiredis.Reader()
        raw = b""
        while True:
            data = self.sock.recv(65536)
            assert data, "connection closed"
            raw += data
            reader.feed(data)
            if reader.gets() is not False:
                return raw

    def value(self, *args):
        reader = hiredis.Reader()
        reader.feed(self.call(*args))
        return reader.gets()

    def close(self) -> None:
        self.sock.close()


class Pair:
    """The same commands on HyperCache and on Redis."""

    def __init__(self, hc_port: int, ref_port: int) -> None:
        self.hc, self.ref = Raw(hc_port), Raw(ref_port)

    def same(self, *args) -> bytes:
        """Run on both; the replies must be the same bytes. Returns them."""
        mine, theirs = self.hc.call(*args), self.ref.call(*args)
        assert mine == theirs, f"{args!r}: hypercache {mine!r} != redis {theirs!r}"
        return mine

    def both(self, *args) -> tuple:
        """Run on both and return the two parsed replies (for nondeterministic ones)."""
        return self.hc.value(*args), self.ref.value(*args)

    def close(self) -> None:
        self.hc.close()
        self.ref.close()


@pytest.fixture
def pair(both):
    hc, ref = both
    p = Pair(hc.connection_pool.connection_kwargs["port"], ref.connection_pool.connection_kwargs["port"])
    yield p
    p.close()


def close_enough(a: int, b: int, slack: int) -> bool:
    return (a < 0 and a == b) or (a >= 0 and b >= 0 and abs(a - b) <= slack)


# ---- through redis-py, RESP2 and RESP3 -------------------------------------------------


def test_del_unlink_exists_touch(r):
    r.mset({"a": 1, "b": 2, "c": 3})
    assert r.exists("a", "a", "b", "nope") == 3  # repeats count
    assert r.touch("a", "a", "nope") == 2
    assert r.delete("a", "a", "nope") == 1
    assert r.unlink("b", "c", "c") == 2
    assert r.exists("a", "b", "c") == 0
    assert r.dbsize() == 0


def test_type(r):
    r.set("s", "v")
    assert r.type("s") in (b"string", "string")
    assert r.type("nope") in (b"none", "none")


def test_expire_and_ttls(r):
    r.set("k", "v")
    assert r.ttl("k") == -1 and r.pttl("k") == -1
    assert r.expiretime("k") == -1 and r.pexpiretime("k") == -1
    assert r.ttl("nope") == -2 and r.pttl("nope") == -2
    assert r.expiretime("nope") == -2 and r.pexpiretime("nope") == -2
    assert r.expire("k", 100) is True
    assert 99 <= r.ttl("k") <= 100
    assert 99_000 < r.pttl("k") <= 100_000
    assert abs(r.expiretime("k") - (time.time() + 100)) < 2
    assert r.pexpire("k", 5000) is True
    assert 4000 < r.pttl("k") <= 5000
    at = int(time.time()) + 1000
    assert r.expireat("k", at) is True
    assert r.expiretime("k") == at and r.pexpiretime("k") == at * 1000
    assert r.pexpireat("k", at * 1000 + 123) is True
    assert r.pexpiretime("k") == at * 1000 + 123
    assert r.expiretime("k") == at  # rounded to the nearest second
    assert r.expire("nope", 100) is False
    assert r.persist("k") is True
    assert r.persist("k") is False
    assert r.ttl("k") == -1


def test_expire_options(r):
    r.set("k", "v")
    assert r.expire("k", 100, xx=True) is False  # no TTL yet
    assert r.expire("k", 100, gt=True) is False  # no TTL counts as infinite
    assert r.expire("k", 100, nx=True) is True
    assert r.expire("k", 200, nx=True) is False
    assert r.expire("k", 50, gt=True) is False
    assert r.expire("k", 200, gt=True) is True
    assert r.expire("k", 300, lt=True) is False
    assert r.expire("k", 150, lt=True) is True
    assert r.expire("k", 120, xx=True) is True
    assert 119 <= r.ttl("k") <= 120
    r.set("p", "v")
    assert r.expire("p", 10, lt=True) is True  # LT on a key without TTL sets it
    with pytest.raises(redis.ResponseError, match="NX and XX, GT or LT options at the same time are not compatible"):
        r.execute_command("EXPIRE", "k", 10, "NX", "LT")
    with pytest.raises(redis.ResponseError, match="GT and LT options at the same time are not compatible"):
        r.execute_command("EXPIRE", "k", 10, "GT", "LT")
    with pytest.raises(redis.ResponseError, match="Unsupported option foo"):
        r.execute_command("EXPIRE", "k", 10, "foo")


def test_expire_in_the_past_deletes(r):
    r.set("a", "v")
    r.set("b", "v")
    r.set("c", "v")
    assert r.expire("a", -1) is True
    assert r.pexpire("b", 0) is True
    assert r.expireat("c", 1) is True
    assert r.exists("a", "b", "c") == 0 and r.dbsize() == 0


def test_invalid_expire_time(r):
    r.set("k", "v")
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'expire' command"):
        r.expire("k", 2**62)
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'pexpire' command"):
        r.pexpire("k", 2**63 - 1)
    with pytest.raises(redis.ResponseError, match="value is not an integer or out of range"):
        r.execute_command("EXPIRE", "k", "1.5")
    assert r.ttl("k") == -1


def test_lazy_expiry(r):
    r.set("k", "v", px=30)
    assert r.get("k") == b"v"
    time.sleep(0.06)
    assert r.get("k") is None
    assert r.exists("k") == 0 and r.ttl("k") == -2


def test_rename(r):
    r.set("a", "1", ex=100)
    assert r.rename("a", "b") is True
    assert r.get("a") is None and r.get("b") == b"1"
    assert 99 <= r.ttl("b") <= 100  # the TTL moves with the key
    r.set("c", "x", ex=500)
    r.set("d", "y")
    r.rename("d", "c")  # replaces the value and its TTL
    assert r.get("c") == b"y" and r.ttl("c") == -1
    assert r.rename("c", "c") is True
    with pytest.raises(redis.ResponseError, match="^no such key$"):
        r.rename("nope", "x")
    assert r.renamenx("b", "c") is False
    assert r.renamenx("b", "e") is True
    assert r.get("e") == b"1" and 98 <= r.ttl("e") <= 100
    with pytest.raises(redis.ResponseError, match="no such key"):
        r.renamenx("nope", "x")


def test_copy(r):
    r.set("src", "v", ex=100)
    assert r.copy("src", "dst") is True
    assert r.get("dst") == b"v" and 99 <= r.ttl("dst") <= 100
    r.set("src", "w")
    assert r.copy("src", "dst") is False
    assert r.get("dst") == b"v"
    assert r.copy("src", "dst", replace=True) is True
    assert r.get("dst") == b"w" and r.ttl("dst") == -1
    assert r.copy("nope", "dst", replace=True) is False
    assert r.copy("src", "dst", destination_db=0, replace=True) is True
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        r.copy("src", "x", destination_db=1)
    with pytest.raises(redis.ResponseError, match="source and destination objects are the same"):
        r.copy("src", "src")


def test_keys_and_dbsize(r):
    r.mset({"user:1": 1, "user:2": 2, "user:10": 3, "item:1": 4})
    assert sorted(r.keys("user:?")) == [b"user:1", b"user:2"]
    assert sorted(r.keys("user:*")) == [b"user:1", b"user:10", b"user:2"]
    assert sorted(r.keys()) == [b"item:1", b"user:1", b"user:10", b"user:2"]
    assert r.keys("nothing*") == []
    assert r.dbsize() == 4


def test_randomkey(r):
    assert r.randomkey() is None
    r.mset({"a": 1, "b": 2, "c": 3})
    seen = {r.randomkey() for _ in range(100)}
    assert seen == {b"a", b"b", b"c"}


def test_scan_iter_returns_every_key(r):
    keys = {f"key:{i}".encode() for i in range(3000)}
    pipe = r.pipeline(transaction=False)
    for key in keys:
        pipe.set(key, "v")
    pipe.execute()
    found = list(r.scan_iter(count=100))
    assert len(found) == len(keys) and set(found) == keys
    assert set(r.scan_iter(match="key:1??")) == {f"key:{i}".encode() for i in range(100, 200)}
    assert len(list(r.scan_iter(_type="string", count=500))) == 3000
    assert list(r.scan_iter(_type="hash")) == []


def test_scan_steps(r):
    for i in range(500):
        r.set(f"k{i}", i)
    cursor, keys = r.scan(0, count=10)
    assert cursor != 0 and 0 < len(keys) < 100
    assert r.scan(0, match="nothing*", count=10)[1] == []
    with pytest.raises(redis.ResponseError, match="invalid cursor"):
        r.execute_command("SCAN", "abc")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("SCAN", 0, "COUNT", 0)


def test_active_expiry_removes_unread_keys(r):
    pipe = r.pipeline(transaction=False)
    for i in range(500):
        pipe.set(f"t:{i}", "v", px=400)  # long enough to count them all on a busy machine
    pipe.set("stays", "v")
    pipe.execute()
    assert r.dbsize() == 501
    deadline = time.monotonic() + 4
    while r.dbsize() > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.dbsize() == 1  # nobody read them: the expiry cycle deleted them
    assert r.get("stays") == b"v"


def test_watch_sees_rename_and_expire(r, server):
    other = redis.Redis(port=server.port)
    r.set("a", "1")
    with r.pipeline() as pipe:
        pipe.watch("b")
        other.rename("a", "b")
        pipe.multi()
        pipe.get("b")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    with r.pipeline() as pipe:
        pipe.watch("b")
        other.expire("b", 100)
        pipe.multi()
        pipe.get("b")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    other.close()


# ---- the command table against Redis's COMMAND INFO / COMMAND DOCS ---------------------

KEY_COMMANDS = (
    "del unlink exists type expire pexpire expireat pexpireat ttl pttl expiretime pexpiretime "
    "persist rename renamenx copy keys scan dbsize randomkey touch flushdb flushall"
).split()


def test_registrations_match_redis(redis_ref):
    ref = Raw(redis_ref.port)
    try:
        for name in KEY_COMMANDS:
            spec = TABLE.lookup(name.encode())
            assert spec is not None, name
            info = ref.value("COMMAND", "INFO", name)[0]
            assert spec.arity == info[1], name
            assert list(spec.flags) == [f.decode() for f in info[2]], name
            assert (spec.first_key, spec.last_key, spec.step) == tuple(info[3:6]), name
            assert list(spec.acl_categories) == [c.decode() for c in info[6]], name
            docs = ref.value("COMMAND", "DOCS", name)[1]
            docs = dict(zip(docs[::2], docs[1::2]))
            assert spec.group == docs[b"group"].decode(), name
            assert spec.since == docs[b"since"].decode(), name
            assert spec.summary == docs[b"summary"].decode(), name
            assert spec.complexity == docs[b"complexity"].decode(), name
    finally:
        ref.close()


# ---- differential: HyperCache and Redis side by side -----------------------------------


def test_same_basic_replies(pair):
    for cmd in [
        ("SET", "a", "1"),
        ("SET", "b", "2"),
        ("EXISTS", "a", "a", "b", "nope"),
        ("TOUCH", "a", "nope", "a"),
        ("TYPE", "a"),
        ("TYPE", "nope"),
        ("DBSIZE",),
        ("DEL", "a", "a", "nope"),
        ("UNLINK", "b", "nope"),
        ("DEL", "nope"),
        ("DBSIZE",),
        ("RANDOMKEY",),
        ("KEYS", "*"),
        ("SET", "only", "1"),
        ("RANDOMKEY",),
        ("KEYS", "*"),
        ("SCAN", "0"),
        ("PERSIST", "only"),
        ("PERSIST", "nope"),
        ("TTL", "only"),
        ("PTTL", "nope"),
        ("EXPIRETIME", "only"),
        ("PEXPIRETIME", "nope"),
        ("FLUSHDB",),
        ("SCAN", "0"),
        ("SCAN", "0", "MATCH", "*", "COUNT", "5", "TYPE", "string"),
    ]:
        pair.same(*cmd)


def test_same_arity_errors(pair):
    for cmd in [
        ("DEL",), ("UNLINK",), ("EXISTS",), ("TOUCH",), ("TYPE",), ("TYPE", "a", "b"),
        ("EXPIRE", "k"), ("PEXPIRE", "k"), ("EXPIREAT", "k"), ("PEXPIREAT", "k"),
        ("TTL",), ("TTL", "a", "b"), ("PTTL",), ("EXPIRETIME",), ("PEXPIRETIME", "a", "b"),
        ("PERSIST",), ("RENAME", "a"), ("RENAME", "a", "b", "c"), ("RENAMENX", "a"),
        ("COPY", "a"), ("KEYS",), ("KEYS", "a", "b"), ("SCAN",), ("DBSIZE", "x"),
        ("RANDOMKEY", "x"),
    ]:
        pair.same(*cmd)


EXPIRE_OPTIONS = [
    (), ("NX",), ("XX",), ("GT",), ("LT",), ("nx",), ("Gt",), ("XX", "GT"), ("XX", "LT"),
    ("GT", "XX"), ("GT", "GT"), ("NX", "NX"), ("NX", "XX"), ("XX", "NX"), ("NX", "GT"),
    ("LT", "NX"), ("GT", "LT"), ("LT", "GT"), ("XX", "GT", "LT"), ("foo",), ("NX", "foo"),
    ("foo", "NX", "XX"), ("NX", "XX", "foo"), ("",),
]


@pytest.mark.parametrize("name", ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"])
def test_same_expire_option_matrix(pair, name):
    """Every option combination, on a key without TTL, with a TTL of 100 s, and absent,
    with a new time below and above that TTL: same reply, same TTL afterwards."""
    now = int(time.time())
    scale = 1000 if name.startswith("P") else 1

    def when(seconds_from_now: int) -> int:
        return (seconds_from_now + (now if name.endswith("AT") else 0)) * scale

    for options in EXPIRE_OPTIONS:
        for state in ("plain", "ttl", "absent"):
            for seconds in (50, 200):
                pair.same("DEL", "k")
                if state == "plain":
                    pair.same("SET", "k", "v")
                elif state == "ttl":
                    pair.same("SET", "k", "v", "EXAT", now + 100)
                pair.same(name, "k", when(seconds), *options)
                mine, theirs = pair.both("PTTL", "k")
                assert close_enough(mine, theirs, 1500), (options, state, seconds, mine, theirs)


@pytest.mark.parametrize("name", ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"])
def test_same_expire_time_edges(pair, name):
    values = [
        "abc", "1.5", "", " 1", "+1", "01", "-0", "0", "-1", "-100",
        "9223372036854775807", "-9223372036854775808", "9223372036854775808",
        "9223372036854775", "9223372036854774", "9223372036853", "-9223372036854775",
        "-9223372036854776", "9223372036854775000", "9223370000000000000",
    ]
    for value in values:
        for present in (True, False):
            pair.same("DEL", "k")
            if present:
                pair.same("SET", "k", "v")
            pair.same(name, "k", value)
            mine, theirs = pair.both("PTTL", "k")
            assert close_enough(mine, theirs, 1500), (value, present, mine, theirs)
    pair.same(name, "k", "abc", "foo")  # an unknown option is reported before a bad time
    pair.same(name, "k", "abc", "NX", "XX")
    pair.same(name, "nope", "abc")


def test_same_absolute_expiry_readback(pair):
    at = int(time.time()) + 5000
    pair.same("SET", "k", "v")
    pair.same("EXPIREAT", "k", at)
    pair.same("EXPIRETIME", "k")
    pair.same("PEXPIRETIME", "k")
    pair.same("PEXPIREAT", "k", at * 1000 + 499)
    pair.same("EXPIRETIME", "k")  # rounds down
    pair.same("PEXPIREAT", "k", at * 1000 + 500)
    pair.same("EXPIRETIME", "k")  # rounds up
    pair.same("PEXPIRETIME", "k")
    pair.same("PERSIST", "k")
    pair.same("PEXPIRETIME", "k")


def test_same_rename_renamenx(pair):
    at = int(time.time()) + 3000
    for cmd in [
        ("RENAME", "nope", "x"), ("RENAME", "nope", "nope"), ("RENAMENX", "nope", "x"),
        ("RENAMENX", "nope", "nope"),
        ("SET", "a", "1", "EXAT", at), ("RENAME", "a", "a"), ("RENAMENX", "a", "a"),
        ("RENAME", "a", "b"), ("EXISTS", "a"), ("GET", "b"), ("EXPIRETIME", "b"),
        ("SET", "c", "3"), ("RENAMENX", "b", "c"), ("GET", "c"), ("EXPIRETIME", "c"),
        ("RENAME", "c", "b"), ("GET", "b"), ("EXPIRETIME", "b"),
        ("SET", "d", "4", "EXAT", at + 7), ("RENAMENX", "d", "e"), ("EXPIRETIME", "e"),
        ("RENAME", "b", "e"), ("GET", "e"), ("EXPIRETIME", "e"), ("DBSIZE",),
    ]:
        pair.same(*cmd)


def test_same_copy(pair):
    at = int(time.time()) + 3000
    for cmd in [
        ("COPY", "nope", "x"), ("COPY", "a", "a"), ("COPY", "nope", "nope"),
        ("SET", "a", "1", "EXAT", at), ("COPY", "a", "a"), ("COPY", "a", "a", "DB", "0"),
        ("COPY", "a", "b"), ("GET", "b"), ("EXPIRETIME", "b"), ("COPY", "a", "b"),
        ("SET", "a", "2"), ("COPY", "a", "b", "REPLACE"), ("GET", "b"), ("EXPIRETIME", "b"),
        ("COPY", "a", "b", "replace", "REPLACE"), ("COPY", "a", "b", "DB", "0", "REPLACE"),
        ("COPY", "a", "c", "DB"), ("COPY", "a", "c", "foo"), ("COPY", "a", "c", "DB", "x"),
        ("COPY", "a", "c", "DB", "16"), ("COPY", "a", "c", "DB", "-1"),
        ("COPY", "a", "c", "DB", "99", "foo"), ("COPY", "a", "c", "foo", "DB", "99"),
        ("COPY", "a", "a", "DB", "x"), ("COPY", "nope", "c", "DB", "16"),
        ("COPY", "a", "c", "REPLACE", "DB"), ("DBSIZE",),
    ]:
        pair.same(*cmd)


def test_same_scan_arguments(pair):
    for cmd in [
        ("SCAN", "x"), ("SCAN", "1x"), ("SCAN", " 1"), ("SCAN", "-"), ("SCAN", "+"),
        ("SCAN", "18446744073709551616"), ("SCAN", "99999999999999999999999"),
        ("SCAN", "0", "COUNT"), ("SCAN", "0", "COUNT", "0"), ("SCAN", "0", "COUNT", "-1"),
        ("SCAN", "0", "COUNT", "x"), ("SCAN", "0", "MATCH"), ("SCAN", "0", "TYPE"),
        ("SCAN", "0", "foo"), ("SCAN", "0", "foo", "bar"), ("SCAN", "x", "COUNT", "0"),
        ("SCAN", "0", "COUNT", "0", "MATCH"), ("SCAN", "0", "MATCH", "a", "COUNT", "0"),
        ("SCAN", "0", "COUNT", "x", "foo"), ("SCAN", "0", "TYPE", "nosuchtype"),
    ]:
        pair.same(*cmd)
    # Valid cursors in forms strtoul accepts; on an empty keyspace every one ends at once.
    for cursor in ["", "0", "00", "+0", "-0", "-1", "18446744073709551615", "12345"]:
        pair.same("SCAN", cursor)


def test_same_scan_results(pair):
    for i in range(300):
        pair.same("SET", f"user:{i}", "v")
        if i % 3 == 0:
            pair.same("SET", f"item:{i}", "v")

    def full(*options):
        found = []
        for client in (pair.hc, pair.ref):
            cursor, keys = b"0", []
            while True:
                cursor, batch = client.value("SCAN", cursor, *options)
                keys += batch
                if cursor == b"0":
                    break
            found.append(sorted(keys))
        return found

    for options in [(), ("COUNT", "7"), ("MATCH", "user:1*"), ("MATCH", "item:[0-4]?"),
                    ("TYPE", "string"), ("TYPE", "STRING"), ("TYPE", "list"),
                    ("MATCH", "*:2?", "COUNT", "1000", "TYPE", "string")]:
        mine, theirs = full(*options)
        assert mine == theirs, options
        assert len(mine) == len(set(mine))


GLOB_KEYS = [
    "hello", "hallo", "hxllo", "hllo", "heeeello", "h[a]llo", "h*llo", "h?llo", "h\\llo",
    "a-b", "a]b", "]", "^", "-", "\\", "", "abc", "ABC", "a.c", "a\nb", "x\x80y", "x\xffy",
]
GLOB_PATTERNS = [
    "*", "**", "", "h?llo", "h*llo", "h[ae]llo", "h[^e]llo", "h[a-b]llo", "h[b-a]llo",
    "h\\[a\\]llo", "h\\*llo", "h\\?llo", "h\\\\llo", "h[\\\\]llo", "[]", "[]]", "[^]",
    "[a-]", "[a-]b", "[]a]", "a[-]b", "a[\\]]b", "[\\^]", "[^^]", "\\", "[", "h[",
    "*\\", "a*", "*c", "?", "??", "???", "a?c", "a.c", "[a-c]*", "[A-C]*", "*[^a-z]*",
    "x[\x80-\xff]y", "x[a-\xff]y", "x[\x00-\x7f]y", "*[\n]*", "?*?", "[!a]*", "h*l*o",
    "*a*b*", "[[]", "[-a]", "[a-a]", "[^-]", "hello*", "*hello", "*llo*",
]


def test_same_keys_glob(pair):
    """KEYS with tricky glob patterns (classes, ranges, escapes, high bytes) on a fixed
    key set: the same keys as Redis's stringmatchlen selects."""
    for key in GLOB_KEYS:
        pair.same("SET", key.encode("latin-1"), "v")
    for pattern in GLOB_PATTERNS:
        mine, theirs = pair.both("KEYS", pattern.encode("latin-1"))
        assert sorted(mine) == sorted(theirs), pattern


def test_same_after_expiry(pair):
    for cmd in [("SET", "a", "1", "PX", "20"), ("SET", "b", "2", "PX", "20"), ("SET", "c", "3")]:
        pair.same(*cmd)
    time.sleep(0.05)
    for cmd in [("EXISTS", "a"), ("TYPE", "b"), ("TTL", "a"), ("PERSIST", "b"), ("EXPIRE", "a", "10"),
                ("RENAME", "a", "x"), ("COPY", "b", "y"), ("KEYS", "*"), ("RANDOMKEY",),
                ("DEL", "a", "b", "c"), ("DBSIZE",)]:
        pair.same(*cmd)
