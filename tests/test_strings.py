"""The string command family: SETNX ... INCRBYFLOAT (and GET/SET's options).

Three kinds of test:
- behaviour through redis-py, RESP2 and RESP3 (fixture `r`);
- differential: the same command sequences on HyperCache and a real Redis (fixture
  `both`), replies (or error texts) and the final state of every key compared;
- in-process: the command table against Redis's COMMAND INFO/DOCS, and what a
  running server cannot easily show (proto-max-bulk-len, WRONGTYPE, hit counters,
  the long double arithmetic of INCRBYFLOAT).
"""

from __future__ import annotations

import random
import time

import pytest
import redis

from hypercache.commands.strings import ld_add, ld_format, ld_parse

# ---- behaviour through redis-py ---------------------------------------------------------


def test_setnx(r):
    assert r.setnx("k", "v1")
    assert not r.setnx("k", "v2")
    assert r.get("k") == b"v1"


def test_setex_and_psetex(r):
    assert r.execute_command("SETEX", "k", 100, "v") is True
    assert r.get("k") == b"v"
    assert 99 <= r.ttl("k") <= 100
    assert r.psetex("p", 50_000, "w") is True
    assert 49_000 < r.pttl("p") <= 50_000
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'setex' command"):
        r.execute_command("SETEX", "k", 0, "v")
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'psetex' command"):
        r.psetex("k", -1, "v")
    with pytest.raises(redis.ResponseError, match="value is not an integer or out of range"):
        r.execute_command("SETEX", "k", "1.5", "v")


def test_setex_expires(r):
    r.psetex("k", 30, "v")
    time.sleep(0.06)
    assert r.get("k") is None
    assert r.exists("k") == 0


def test_getset_drops_ttl(r):
    assert r.getset("k", "a") is None
    r.expire("k", 100)
    assert r.getset("k", "b") == b"a"
    assert r.get("k") == b"b"
    assert r.ttl("k") == -1


def test_getdel(r):
    r.set("k", "v")
    assert r.getdel("k") == b"v"
    assert r.exists("k") == 0
    assert r.getdel("k") is None


def test_getex(r):
    assert r.getex("missing", ex=10) is None
    r.set("k", "v")
    assert r.getex("k") == b"v"
    assert r.ttl("k") == -1
    assert r.getex("k", ex=100) == b"v"
    assert 99 <= r.ttl("k") <= 100
    assert r.getex("k", px=200_000) == b"v"
    assert 199 <= r.ttl("k") <= 200
    at = int(time.time()) + 1000
    assert r.getex("k", exat=at) == b"v"
    assert r.expiretime("k") == at
    assert r.getex("k", pxat=at * 1000 + 500) == b"v"
    assert r.pexpiretime("k") == at * 1000 + 500
    assert r.getex("k", persist=True) == b"v"
    assert r.ttl("k") == -1
    assert r.getex("k", exat=1) == b"v"  # a time in the past deletes the key
    assert r.exists("k") == 0
    r.set("k", "v")
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'getex' command"):
        r.execute_command("GETEX", "k", "EX", "0")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("GETEX", "k", "EX", "10", "PERSIST")


def test_mget_mset_msetnx(r):
    assert r.mset({"a": "1", "b": "2"}) is True
    assert r.mget("a", "nope", "b") == [b"1", None, b"2"]
    assert r.msetnx({"b": "x", "c": "3"}) is False  # b exists: nothing is set
    assert r.exists("c") == 0
    assert r.get("b") == b"2"
    assert r.msetnx({"c": "3", "d": "4"}) is True
    assert r.mget(["c", "d"]) == [b"3", b"4"]
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'mset' command"):
        r.execute_command("MSET", "a", "1", "b")


def test_mset_drops_ttl(r):
    r.set("a", "1", ex=100)
    r.mset({"a": "2"})
    assert r.ttl("a") == -1


def test_append_and_strlen(r):
    assert r.strlen("k") == 0
    assert r.append("k", "Hello") == 5
    r.expire("k", 100)
    assert r.append("k", b" \x00World") == 12
    assert r.get("k") == b"Hello \x00World"
    assert r.strlen("k") == 12
    assert 99 <= r.ttl("k") <= 100  # APPEND keeps the TTL


def test_getrange(r):
    r.set("k", "This is a string")
    assert r.getrange("k", 0, 3) == b"This"
    assert r.getrange("k", -3, -1) == b"ing"
    assert r.getrange("k", 0, -1) == b"This is a string"
    assert r.getrange("k", 10, 100) == b"string"
    assert r.getrange("k", -1, -5) == b""
    assert r.getrange("k", 5, 3) == b""
    assert r.getrange("k", 0, -100) == b"T"  # Redis 7.0: a too-negative end becomes 0
    assert r.getrange("missing", 0, 10) == b""


def test_setrange(r):
    assert r.setrange("k", 5, "x") == 6
    assert r.get("k") == b"\x00\x00\x00\x00\x00x"
    r.set("k", "Hello World")
    r.expire("k", 100)
    assert r.setrange("k", 6, "Redis") == 11
    assert r.get("k") == b"Hello Redis"
    assert r.setrange("k", 11, "!!") == 13
    assert r.get("k") == b"Hello Redis!!"
    assert 99 <= r.ttl("k") <= 100  # SETRANGE keeps the TTL
    assert r.setrange("missing", 3, "") == 0
    assert r.exists("missing") == 0
    with pytest.raises(redis.ResponseError, match="offset is out of range"):
        r.setrange("k", -1, "x")
    with pytest.raises(redis.ResponseError, match=r"string exceeds maximum allowed size \(proto-max-bulk-len\)"):
        r.setrange("k", 512 * 1024 * 1024, "x")


def test_incr_decr(r):
    assert r.execute_command("INCR", "n") == 1
    assert r.execute_command("DECR", "n") == 0
    assert r.incrby("n", 10) == 10
    assert r.decrby("n", 3) == 7
    assert r.decrby("n", -3) == 10
    assert r.get("n") == b"10"
    r.expire("n", 100)
    r.incr("n")
    assert 99 <= r.ttl("n") <= 100  # INCR keeps the TTL
    r.set("n", 2**63 - 1)
    with pytest.raises(redis.ResponseError, match="increment or decrement would overflow"):
        r.incr("n")
    assert r.get("n") == b"9223372036854775807"
    for bad in ("01", " 1", "+1", "1.0", "", "abc", "9223372036854775808"):
        r.set("n", bad)
        with pytest.raises(redis.ResponseError, match="value is not an integer or out of range"):
            r.incr("n")
    with pytest.raises(redis.ResponseError, match="decrement would overflow"):
        r.decrby("n", -(2**63))


def test_incrbyfloat(r):
    for _ in range(3):
        r.incrbyfloat("f", 0.1)
    assert r.get("f") == b"0.3"
    r.set("f", "10.50")
    assert r.incrbyfloat("f", 0.1) == pytest.approx(10.6)
    assert r.get("f") == b"10.6"
    r.set("f", "5.0e3")
    r.incrbyfloat("f", "2.0e2")
    assert r.get("f") == b"5200"
    r.expire("f", 100)
    r.incrbyfloat("f", 1)
    assert 99 <= r.ttl("f") <= 100
    with pytest.raises(redis.ResponseError, match="increment would produce NaN or Infinity"):
        r.incrbyfloat("f", "inf")
    with pytest.raises(redis.ResponseError, match="value is not a valid float"):
        r.incrbyfloat("f", "nan")
    r.set("f", "abc")
    with pytest.raises(redis.ResponseError, match="value is not a valid float"):
        r.incrbyfloat("f", 1)


def test_set_options(r):
    assert r.set("k", "v", ex=100, get=True) is None
    assert r.set("k", "w", keepttl=True, get=True) == b"v"
    assert 99 <= r.ttl("k") <= 100
    assert r.set("k", "x", nx=True) is None
    assert r.set("k", "x", xx=True) is True
    assert r.ttl("k") == -1
    assert r.set("other", "x", xx=True) is None
    assert r.exists("other") == 0


# ---- differential: HyperCache and a real Redis side by side -------------------------------

NOW = int(time.time())
FAR_S = str(NOW + 100_000)
FAR_MS = str(NOW * 1000 + 100_000_000)
BIG = "9223372036854775807"
SMALL = "-9223372036854775808"

SEQUENCES: dict[str, list[tuple[str, ...]]] = {
    "set-options": [
        ("SET", "k", "v", "EX", "100", "EX", "200"),
        ("TTL", "k"),
        ("SET", "k", "v", "NX", "NX"),
        ("SET", "k", "v", "XX", "XX"),
        ("SET", "k", "v", "EX", "abc", "BADOPT"),
        ("SET", "k", "v", "EX", "abc"),
        ("SET", "k", "v", "GET", "GET"),
        ("SET", "k", "v", "PX", "10", "EX", "10"),
        ("SET", "k", "v", "KEEPTTL", "KEEPTTL"),
        ("SET", "k", "v", "XX", "NX"),
        ("SET", "k", "v", "NX", "XX"),
        ("SET", "k", "v", "EX", "10", "KEEPTTL"),
        ("SET", "k", "v", "KEEPTTL", "EX", "10"),
        ("SET", "k", "v", "EX"),
        ("SET", "k", "v", "PERSIST"),
        ("SET", "k", "v", "EX", "0"),
        ("SET", "k", "v", "EX", "-1"),
        ("SET", "k", "v", "EX", BIG),
        ("SET", "k", "v", "PX", BIG),
        ("SET", "k", "v", "EXAT", BIG),
        ("SET", "k", "v", "ex", "100"),
        ("TTL", "k"),
        ("SET", "k", "w", "nx", "get"),
        ("SET", "new", "w", "xx", "get"),
        ("SET", "k", "x", "xx", "get", "keepttl"),
        ("TTL", "k"),
        ("SET", "k", "y", "PXAT", FAR_MS),
        ("PEXPIRETIME", "k"),
        ("SET", "k", "z", "EXAT", FAR_S),
        ("EXPIRETIME", "k"),
        ("SET", "gone", "v", "PXAT", "1"),
        ("GET", "gone"),
        ("SET", "k", "v", "EX\x00junk", "300"),  # Redis reads options as C strings
        ("TTL", "k"),
        ("SET", "k", "v", "NX\x00junk"),
        ("GETEX", "k", "PERSIST\x00junk"),
        ("TTL", "k"),
        ("SET", "k"),
    ],
    "setnx-setex-psetex": [
        ("SETNX", "k", "1"),
        ("SETNX", "k", "2"),
        ("GET", "k"),
        ("SETEX", "k", "100", "v"),
        ("TTL", "k"),
        ("SETNX", "k", "3"),
        ("TTL", "k"),
        ("SETEX", "k", "0", "v"),
        ("SETEX", "k", "-5", "v"),
        ("SETEX", "k", "abc", "v"),
        ("SETEX", "k", "01", "v"),
        ("SETEX", "k", BIG, "v"),
        ("SETEX", "k", "10"),
        ("PSETEX", "p", "100000", "w"),
        ("TTL", "p"),
        ("PSETEX", "p", "0", "w"),
        ("PSETEX", "p", BIG, "w"),
        ("PSETEX", "p", "1.5", "w"),
        ("GET", "p"),
        ("SETNX", "k"),
    ],
    "getset-getdel": [
        ("GETSET", "k", "a"),
        ("GETSET", "k", "b"),
        ("EXPIRE", "k", "100"),
        ("GETSET", "k", "c"),
        ("TTL", "k"),
        ("GETDEL", "k"),
        ("GETDEL", "k"),
        ("EXISTS", "k"),
        ("GETSET", "k"),
        ("GETDEL", "k", "x"),
    ],
    "getex": [
        ("GETEX", "k"),
        ("GETEX", "k", "EX", "0"),
        ("GETEX", "k", "EX", "abc"),
        ("GETEX", "k", "BAD"),
        ("SET", "k", "v"),
        ("GETEX", "k"),
        ("TTL", "k"),
        ("GETEX", "k", "EX", "100"),
        ("TTL", "k"),
        ("GETEX", "k", "px", "200000"),
        ("TTL", "k"),
        ("GETEX", "k", "EXAT", FAR_S),
        ("EXPIRETIME", "k"),
        ("GETEX", "k", "PXAT", FAR_MS),
        ("PEXPIRETIME", "k"),
        ("GETEX", "k", "PERSIST"),
        ("TTL", "k"),
        ("GETEX", "k", "PERSIST", "PERSIST"),
        ("GETEX", "k", "EX", "10", "EX", "300"),
        ("TTL", "k"),
        ("GETEX", "k", "EX", "0"),
        ("GETEX", "k", "EX", "-1"),
        ("GETEX", "k", "EX", "abc"),
        ("GETEX", "k", "EX", BIG),
        ("GETEX", "k", "EX", "10", "PX", "10"),
        ("GETEX", "k", "PERSIST", "EX", "10"),
        ("GETEX", "k", "EX", "10", "PERSIST"),
        ("GETEX", "k", "EX"),
        ("GETEX", "k", "KEEPTTL"),
        ("GETEX", "k", "NX"),
        ("GETEX", "k", "GET"),
        ("TTL", "k"),
        ("GETEX", "k", "EXAT", "1"),
        ("EXISTS", "k"),
        ("SET", "k", "v"),
        ("GETEX", "k", "PXAT", "1"),
        ("EXISTS", "k"),
        ("GETEX",),
    ],
    "mget-mset-msetnx": [
        ("MSET", "a", "1", "b", "2"),
        ("MGET", "a", "b", "c"),
        ("MSETNX", "b", "x", "c", "3"),
        ("MGET", "a", "b", "c"),
        ("MSETNX", "c", "3", "d", "4"),
        ("MGET", "c", "d", "a"),
        ("MSETNX", "x", "1", "x", "2"),
        ("GET", "x"),
        ("EXPIRE", "a", "100"),
        ("MSET", "a", "new"),
        ("TTL", "a"),
        ("MSETNX", "a", "zzz"),
        ("MSET", "a"),
        ("MSET", "a", "1", "b"),
        ("MSETNX", "a", "1", "b"),
        ("MSETNX", "q"),
        ("MGET",),
        ("MGET", "nothing"),
    ],
    "append-strlen": [
        ("STRLEN", "k"),
        ("APPEND", "k", "Hello"),
        ("APPEND", "k", " World"),
        ("STRLEN", "k"),
        ("EXPIRE", "k", "100"),
        ("APPEND", "k", "\x00\r\n"),
        ("TTL", "k"),
        ("APPEND", "k", ""),
        ("APPEND", "e", ""),
        ("EXISTS", "e"),
        ("STRLEN", "e"),
        ("SET", "n", "12345"),
        ("APPEND", "n", "6"),
        ("INCR", "n"),
        ("STRLEN", "n"),
        ("APPEND", "k"),
        ("STRLEN", "k", "x"),
    ],
    "getrange": [
        ("SET", "k", "Hello World"),
        *[
            ("GETRANGE", "k", start, end)
            for start, end in [
                ("0", "4"), ("-5", "-1"), ("-1", "-5"), ("5", "3"), ("0", "-100"),
                ("-100", "-50"), ("-100", "2"), ("100", "200"), ("3", "100"), ("0", "0"),
                ("-1", "-1"), ("0", "-1"), ("10", "10"), ("11", "11"), ("-11", "-11"),
                ("-12", "-12"), ("-50", "-100"), ("-5", "-100"), ("0", BIG), (SMALL, "2"), (SMALL, SMALL), ("x", "1"),
                ("1", "x"), ("01", "2"), ("1", "2.0"), ("9223372036854775808", "1"),
            ]
        ],
        ("GETRANGE", "missing", "0", "-1"),
        ("GETRANGE", "missing", "x", "1"),
        ("SET", "e", ""),
        ("GETRANGE", "e", "0", "-1"),
        ("GETRANGE", "e", "-1", "0"),
        ("SET", "n", "12345"),
        ("GETRANGE", "n", "1", "-2"),
        ("GETRANGE", "k", "0"),
    ],
    "setrange": [
        ("SETRANGE", "k", "5", "x"),
        ("GET", "k"),
        ("SETRANGE", "e", "3", ""),
        ("EXISTS", "e"),
        ("SETRANGE", "e", "0", ""),
        ("SET", "k", "Hello World"),
        ("EXPIRE", "k", "100"),
        ("SETRANGE", "k", "6", "Redis"),
        ("GET", "k"),
        ("TTL", "k"),
        ("SETRANGE", "k", "15", "!!"),
        ("GET", "k"),
        ("SETRANGE", "k", "0", ""),
        ("SETRANGE", "k", "999999999999", ""),
        ("SETRANGE", "k", "-1", "x"),
        ("SETRANGE", "k", "-1", ""),
        ("SETRANGE", "missing", "-1", "x"),
        ("SETRANGE", "k", "1.5", "x"),
        ("SETRANGE", "k", "x", "x"),
        ("SETRANGE", "k", "536870912", "x"),
        ("SETRANGE", "k", "536870911", "xy"),
        ("SETRANGE", "missing", "536870912", "x"),
        ("SETRANGE", "missing", "536870911", ""),
        ("SETRANGE", "k", BIG, "x"),
        ("GET", "k"),
        ("SET", "n", "100"),
        ("SETRANGE", "n", "1", "5"),
        ("INCR", "n"),
        ("SETRANGE", "k", "0"),
    ],
    "incr-decr": [
        ("INCR", "n"),
        ("INCR", "n"),
        ("DECR", "n"),
        ("INCRBY", "n", "100"),
        ("DECRBY", "n", "-50"),
        ("DECRBY", "n", "1000"),
        ("GET", "n"),
        ("EXPIRE", "n", "100"),
        ("INCR", "n"),
        ("DECRBY", "n", "2"),
        ("TTL", "n"),
        ("SET", "n", BIG),
        ("INCR", "n"),
        ("INCRBY", "n", "1"),
        ("INCRBY", "n", "0"),
        ("DECR", "n"),
        ("INCRBY", "n", "1"),
        ("INCRBY", "n", "1"),
        ("INCRBY", "n", SMALL),
        ("GET", "n"),
        ("SET", "n", SMALL),
        ("DECR", "n"),
        ("DECRBY", "n", "1"),
        ("INCRBY", "n", "-1"),
        ("INCRBY", "n", BIG),
        ("DECRBY", "n", SMALL),
        ("DECRBY", "x", SMALL),
        ("DECRBY", "n", BIG),
        ("INCRBY", "n", "9223372036854775808"),
        ("INCRBY", "n", "-9223372036854775809"),
        ("INCRBY", "n", "1.0"),
        ("INCRBY", "n", "+1"),
        ("INCRBY", "n", " 1"),
        ("INCRBY", "n", "01"),
        ("INCRBY", "n", "-0"),
        ("INCRBY", "n", ""),
        ("DECRBY", "n", "abc"),
        *[
            cmd
            for value in ["01", " 1", "1 ", "+1", "1.0", "", "-0", "0", "-1",
                          "9223372036854775808", "-9223372036854775809", "abc", "1e3", "0x10"]
            for cmd in [("SET", "v", value), ("INCR", "v"), ("GET", "v"), ("DECRBY", "v", "5")]
        ],
        ("INCR",),
        ("INCR", "a", "b"),
        ("INCRBY", "n"),
        ("DECRBY", "n", "1", "2"),
    ],
    "incrbyfloat": [
        ("INCRBYFLOAT", "f", "0.1"),
        ("INCRBYFLOAT", "f", "0.1"),
        ("INCRBYFLOAT", "f", "0.1"),
        ("SET", "f", "10.50"),
        ("INCRBYFLOAT", "f", "0.1"),
        ("INCRBYFLOAT", "f", "-5027"),
        ("INCRBYFLOAT", "f", "5.0e3"),
        ("INCRBYFLOAT", "f", "2.0e2"),
        ("EXPIRE", "f", "100"),
        ("INCRBYFLOAT", "f", "1"),
        ("TTL", "f"),
        ("SET", "n", "10"),
        ("INCRBYFLOAT", "n", "0.5"),
        ("INCR", "n"),
        ("INCRBYFLOAT", "n", "-10.5"),
        ("INCR", "n"),
        *[
            cmd
            for amount in ["1e-20", "-1e-20", "1.5e17", "1e400", "0x10", "0x1p-3", "+5", "inf",
                           "-inf", "infinity", "nan", "NaN", ".5", "5.", "1e", "1e+", "0x", "1e-5000",
                           "1e5000", "1_0", " 1", "1 ", "-0", "3.0e3", "1.23456789012345678901234567890",
                           "0.1", "1e4932", "1.2e4932", "4.9999999999999999e-18", "5e-18", "1.5e-17",
                           "123456789012345678901234567890.5", "-3.5", "1e17", "99999999999999999.9",
                           "0x1p-18", "0x3p-18", "-0x5p-18", "0x1p-60", "0x1.8p-57"]
            for cmd in [("DEL", "g"), ("INCRBYFLOAT", "g", amount), ("GET", "g")]
        ],
        ("SET", "g", "1e4932"),
        ("INCRBYFLOAT", "g", "1e4932"),
        ("INCRBYFLOAT", "g", "-1e4932"),
        ("SET", "g", "inf"),
        ("INCRBYFLOAT", "g", "1"),
        ("SET", "g", "abc"),
        ("INCRBYFLOAT", "g", "1"),
        ("SET", "g", " 1"),
        ("INCRBYFLOAT", "g", "1"),
        ("SET", "g", "1.5 "),
        ("INCRBYFLOAT", "g", "1"),
        ("SET", "g", "0x1p3"),
        ("INCRBYFLOAT", "g", "1"),
        ("INCRBYFLOAT", "g", "abc"),
        ("GET", "g"),
        ("INCRBYFLOAT", "g"),
    ],
}


def _reply(client: redis.Redis, args: tuple[str, ...]) -> object:
    """The raw reply (no redis-py callbacks), or the error as (class name, text)."""
    try:
        return client.execute_command(*args)
    except redis.ResponseError as err:
        return (type(err).__name__, str(err))


def _state(client: redis.Redis, keys: set[str]) -> dict[str, tuple[object, ...]]:
    """What each key holds afterwards: value and TTL in seconds."""
    return {key: (_reply(client, ("GET", key)), _reply(client, ("TTL", key))) for key in sorted(keys)}


def _raw(clients: tuple[redis.Redis, redis.Redis]) -> tuple[redis.Redis, redis.Redis]:
    for client in clients:
        client.response_callbacks.clear()  # compare replies as they came over the wire
    return clients


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_sequences_match_redis(both, name):
    hc, ref = _raw(both)
    keys: set[str] = set()
    for args in SEQUENCES[name]:
        ours, theirs = _reply(hc, args), _reply(ref, args)
        assert ours == theirs, f"{args!r}: hypercache {ours!r} != redis {theirs!r}"
        if len(args) > 1:
            keys.add(args[1])
    assert _state(hc, keys) == _state(ref, keys)


def test_incrbyfloat_random_matches_redis(both):
    """Random increments, chained on one key and on fresh keys, agree digit for digit."""
    hc, ref = _raw(both)
    rng = random.Random(20240607)

    def amount() -> str:
        kind = rng.randrange(6)
        if kind == 0:
            return repr(rng.uniform(-1e3, 1e3))
        if kind == 1:
            return "%.*f" % (rng.randrange(0, 25), rng.uniform(-10, 10))
        if kind == 2:
            return "%de%d" % (rng.randrange(-999, 999), rng.randrange(-40, 40))
        if kind == 3:
            return "%.*e" % (rng.randrange(0, 25), rng.uniform(-1, 1) * 10 ** rng.randrange(-25, 25))
        if kind == 4:
            return rng.choice(["0.1", "-0.3", "1.7e-5", "3.3333333333", "1e15", "7e-13", "9e-18"])
        return str(rng.randrange(-(10**6), 10**6))

    pipes = [client.pipeline(transaction=False) for client in (hc, ref)]
    for i in range(400):
        key = "acc" if i % 2 else f"fresh{i}"
        inc = amount()
        for pipe in pipes:
            pipe.execute_command("INCRBYFLOAT", key, inc)
    ours, theirs = (pipe.execute(raise_on_error=False) for pipe in pipes)
    ours = [str(x) if isinstance(x, Exception) else x for x in ours]
    theirs = [str(x) if isinstance(x, Exception) else x for x in theirs]
    assert ours == theirs


def _make_other_type(client: redis.Redis) -> bool:
    """Put a non-string value at 'L'; False if the server has no other type yet."""
    for args in (("RPUSH", "L", "a"), ("SADD", "L", "a"), ("HSET", "L", "f", "v"), ("ZADD", "L", "1", "a")):
        try:
            client.execute_command(*args)
            return True
        except redis.ResponseError as err:
            if "unknown command" not in str(err):
                raise
    return False


WRONGTYPE_CASES = [
    ("GET", "L"), ("GETSET", "L", "x"), ("GETDEL", "L"), ("GETEX", "L"), ("GETEX", "L", "EX", "0"),
    ("GETEX", "L", "BAD"), ("STRLEN", "L"), ("APPEND", "L", "x"), ("GETRANGE", "L", "0", "1"),
    ("GETRANGE", "L", "x", "1"), ("SETRANGE", "L", "0", "x"), ("SETRANGE", "L", "0", ""),
    ("SETRANGE", "L", "-1", "x"), ("INCR", "L"), ("DECR", "L"), ("INCRBY", "L", "x"),
    ("INCRBY", "L", "1"), ("DECRBY", "L", "1"), ("INCRBYFLOAT", "L", "x"), ("INCRBYFLOAT", "L", "1"),
    ("MGET", "L", "nope"), ("SETNX", "L", "x"), ("MSETNX", "L", "x", "y", "z"), ("EXISTS", "y"),
    ("SET", "L", "x", "GET"), ("SET", "L", "x", "NX", "GET"), ("TYPE", "L"), ("SET", "L", "x"), ("GET", "L"),
]


def test_wrongtype_matches_redis(both):
    hc, ref = _raw(both)
    assert _make_other_type(ref)
    if not _make_other_type(hc):
        pytest.skip("HyperCache has no non-string type yet (see test_wrongtype_in_process)")
    for args in WRONGTYPE_CASES:
        assert _reply(hc, args) == _reply(ref, args), args


# ---- in process: the command table, limits, types, statistics -----------------------------

STRING_COMMANDS = [
    "get", "set", "setnx", "setex", "psetex", "getset", "getdel", "getex", "mget", "mset",
    "msetnx", "append", "strlen", "getrange", "setrange", "incr", "decr", "incrby", "decrby",
    "incrbyfloat",
]


def _pairs(reply: list) -> dict:
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in zip(reply[::2], reply[1::2])}


def test_command_table_matches_redis(redis_ref):
    from hypercache.commands.table import TABLE

    ref = redis.Redis(port=redis_ref.port, protocol=2)
    ref.response_callbacks.clear()
    try:
        for name in STRING_COMMANDS:
            spec = TABLE.lookup(name.encode())
            assert spec is not None, name
            (info,) = ref.execute_command("COMMAND", "INFO", name)
            assert info[0].decode() == spec.name
            assert info[1] == spec.arity, name
            assert [f.decode() for f in info[2]] == list(spec.flags), name
            assert tuple(info[3:6]) == (spec.first_key, spec.last_key, spec.step), name
            assert [c.decode() for c in info[6]] == list(spec.acl_categories), name
            docs = _pairs(ref.execute_command("COMMAND", "DOCS", name)[1])
            assert docs["summary"].decode() == spec.summary, name
            assert docs["since"].decode() == spec.since, name
            assert docs["complexity"].decode() == spec.complexity, name
            assert docs["group"].decode() == spec.group, name
    finally:
        ref.close()


def _local(**config):
    """A Context on a fresh in-process server state, and a function to run commands."""
    import hypercache.commands  # noqa: F401  (registers the commands)
    from hypercache.commands.context import Context, ServerState
    from hypercache.commands.dispatch import execute
    from hypercache.config import Config

    ctx = Context(ServerState(Config(**config)))

    def run(*args: str | bytes) -> object:
        return execute(ctx, [a if isinstance(a, bytes) else a.encode() for a in args])

    return ctx, run


def test_string_length_limit_in_process():
    _, run = _local(proto_max_bulk_len=10)
    limit_error = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    assert run("APPEND", "k", "x" * 12) == 12  # creating the key is not checked
    assert run("APPEND", "k", "y") == limit_error
    assert run("SET", "k", "abcde") == "OK"
    assert run("APPEND", "k", "fghij") == 10
    assert run("APPEND", "k", "") == 10
    assert run("APPEND", "k", "z") == limit_error
    assert run("SETRANGE", "k", "9", "Z") == 10
    assert run("SETRANGE", "k", "9", "ZZ") == limit_error
    assert run("SETRANGE", "new", "10", "x") == limit_error
    assert run("SETRANGE", "new", "100", "") == 0
    assert run("SETRANGE", "new", "5", "abcde") == 10
    assert run("GET", "new") == b"\x00" * 5 + b"abcde"


class _FakeList:
    type_name = "list"


def test_wrongtype_in_process():
    ctx, run = _local()
    ctx.keyspace.set(b"L", _FakeList())
    wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value"
    for args in WRONGTYPE_CASES[:-3]:
        expected = {
            "MGET": [None, None],
            "SETNX": 0,
            "MSETNX": 0,
            "EXISTS": 0,
        }.get(args[0], wrongtype)
        if args[:2] == ("GETEX", "L") and args[2:] == ("BAD",):
            expected = "ERR syntax error"
        elif args[0] in ("GETRANGE", "INCRBY") and "x" in args[2:]:
            expected = "ERR value is not an integer or out of range"
        elif args[0] == "SETRANGE" and args[2] == "-1":
            expected = "ERR offset is out of range"
        assert run(*args) == expected, args
    assert run("SET", "L", "x") == "OK"
    assert run("GET", "L") == b"x"


def test_hits_and_misses_in_process():
    """Reads count keyspace hits/misses as Redis's lookupKeyRead; writes' lookups do not."""
    ctx, run = _local()
    ks = ctx.keyspace
    run("SET", "a", "1")
    base = (ks.hits, ks.misses)
    run("GET", "a"), run("GET", "zz"), run("MGET", "a", "zz", "a"), run("STRLEN", "a")
    run("GETRANGE", "zz", "0", "1"), run("GETEX", "a")
    assert (ks.hits - base[0], ks.misses - base[1]) == (5, 3)
    base = (ks.hits, ks.misses)
    run("INCR", "a"), run("APPEND", "b", "x"), run("SETRANGE", "c", "0", "x"), run("SETNX", "a", "2")
    run("MSETNX", "d", "1"), run("INCRBYFLOAT", "e", "1.5")
    assert (ks.hits, ks.misses) == base


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("0.1", "0.2", b"0.3"),
        ("0", "1e-20", b"0"),
        ("0", "-1e-20", b"0"),
        ("0", "1.5e17", b"150000000000000000"),
        ("0", "1.23456789012345678901234567890", b"1.23456789012345679"),
        ("0x10", "0x1p-3", b"16.125"),
        ("5.0e3", "2.0e2", b"5200"),
        ("-0", "-0", b"0"),
        ("0", "-1.5", b"-1.5"),
    ],
)
def test_long_double_arithmetic(a, b, expected):
    total = ld_add(ld_parse(a.encode()), ld_parse(b.encode()))
    assert total is not None and ld_format(total) == expected


@pytest.mark.parametrize("raw", [b"", b" 1", b"1 ", b"nan", b"1e", b".", b"0x", b"1_0", b"1e-5000", b"1e5000", b"1" * 5120])
def test_long_double_rejects(raw):
    assert ld_parse(raw) is None


def test_long_double_extremes():
    assert ld_add(ld_parse(b"1e4932"), ld_parse(b"1e4932")) is None  # overflow
    assert ld_add(ld_parse(b"inf"), ld_parse(b"1")) is None
    # 1e4000 is not exact in a long double: Redis prints the 4000 digits of the nearest one.
    big = ld_format(ld_parse(b"1e4000"))  # type: ignore[arg-type]
    assert len(big) == 4000 and big.startswith(b"99999999999999999999654638730996237849324925835")


def test_resp3_replies_match_redis(server, redis_ref):
    """The same replies over RESP3, where a double, a boolean or a null could slip in."""
    clients = [redis.Redis(port=port, protocol=3) for port in (server.port, redis_ref.port)]
    try:
        for client in clients:
            client.flushall()
            client.response_callbacks.clear()
        script = [
            ("SETNX", "k", "1"), ("SETNX", "k", "1"), ("MSETNX", "k", "2"), ("MSETNX", "m", "2"),
            ("INCRBYFLOAT", "f", "1.5"), ("INCRBYFLOAT", "k", "0.25"), ("INCR", "n"), ("GETEX", "k", "EX", "100"),
            ("GETEX", "nope"), ("GETDEL", "nope"), ("GETSET", "nope", "x"), ("MGET", "k", "nope", "m"),
            ("GETRANGE", "nope", "0", "-1"), ("STRLEN", "f"), ("APPEND", "f", "0"), ("SETRANGE", "f", "0", "9"),
            ("SET", "k", "v", "NX"), ("SET", "k", "v", "XX", "GET"), ("MSET", "a", "b"), ("SETEX", "e", "10", "v"),
        ]
        for args in script:
            ours, theirs = (_reply(client, args) for client in clients)
            assert ours == theirs and type(ours) is type(theirs), args
    finally:
        for client in clients:
            client.close()


def test_string_length_limit_matches_redis(both):
    """APPEND/SETRANGE against a lowered proto-max-bulk-len (1mb, Redis's minimum)."""
    hc, ref = _raw(both)
    try:
        hc.execute_command("CONFIG", "SET", "proto-max-bulk-len", "1mb")
    except redis.ResponseError as err:
        pytest.skip(f"CONFIG SET proto-max-bulk-len not available: {err}")
    ref.execute_command("CONFIG", "SET", "proto-max-bulk-len", "1mb")
    mb = 1024 * 1024
    try:
        script = [
            ("SETRANGE", "k", str(mb - 1), "x"), ("STRLEN", "k"), ("APPEND", "k", "y"),
            ("SETRANGE", "k", str(mb - 1), "xy"), ("SETRANGE", "k", str(mb), ""), ("SETRANGE", "new", str(mb), "x"),
            ("SET", "a", "x" * (mb - 2)), ("APPEND", "a", "yy"), ("APPEND", "a", "z"), ("STRLEN", "a"),
        ]
        for args in script:
            assert _reply(hc, args) == _reply(ref, args), args[:3]
    finally:
        for client in (hc, ref):
            client.execute_command("CONFIG", "SET", "proto-max-bulk-len", str(512 * mb))
