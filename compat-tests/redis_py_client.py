#!/usr/bin/env python3
"""redis-py used as an application uses it, against a running server.

Covers RESP2 and RESP3 clients (redis-py 8 speaks RESP3 by default), strings, keys, TTLs,
pipelines with and without MULTI/EXEC, a WATCH/MULTI/EXEC retry loop that loses a race
to a concurrent writer, scan_iter, info(), client names, one connection pool shared
by several threads, and RedisBloom's cuckoo and bloom filters through r.cf() / r.bf().

    HC_PORT=7000 python compat-tests/redis_py_client.py   # or: --port 7000 [--host h]

It runs FLUSHALL first: point it at a throwaway server. Every check runs even after
another failed; exit status 0 = all passed.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import traceback
import warnings
from typing import Callable

import redis

warnings.filterwarnings("ignore", category=DeprecationWarning)  # setex/psetex are still used in the wild

HOST = "127.0.0.1"
PORT = 6379
RESULTS: list[tuple[str, str | None]] = []


class Mismatch(AssertionError):
    pass


def eq(got, expected, what: str = "") -> None:
    if got != expected:
        raise Mismatch(f"{what}: expected {expected!r}, got {got!r}" if what else
                       f"expected {expected!r}, got {got!r}")


def true(cond: bool, what: str) -> None:
    if not cond:
        raise Mismatch(what)


def raises(fn: Callable, exc: type[Exception], contains: str, what: str) -> None:
    try:
        got = fn()
    except exc as err:
        if contains not in str(err):
            raise Mismatch(f"{what}: expected {exc.__name__} containing {contains!r}, got {err!r}")
        return
    except Exception as err:  # noqa: BLE001
        raise Mismatch(f"{what}: expected {exc.__name__} containing {contains!r}, got {err!r}")
    raise Mismatch(f"{what}: expected {exc.__name__} containing {contains!r}, got reply {got!r}")


def describe(err: BaseException) -> str:
    if isinstance(err, Mismatch):
        return str(err)
    tb = traceback.extract_tb(err.__traceback__)
    where = next((f"line {f.lineno}" for f in reversed(tb) if f.filename == __file__), "")
    return f"{type(err).__name__}: {err} ({where})"


class part:
    """`with part("counters"):` one independently reported piece of a check.

    A failure inside is recorded and swallowed, so the next part still runs (a missing
    command should not hide everything after it)."""

    current_check = ""

    def __init__(self, name: str) -> None:
        self.name = f"{part.current_check} / {name}"

    def __enter__(self) -> "part":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        RESULTS.append((self.name, describe(exc) if exc is not None else None))
        return exc is None or isinstance(exc, Exception)


def check(name: str):
    """Register and run a check; a failure is recorded and the next check still runs."""

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            part.current_check = name
            before = len(RESULTS)
            try:
                fn()
            except Exception as err:  # noqa: BLE001 - any client error is a failure to report
                RESULTS.append((name, describe(err)))
            else:
                if len(RESULTS) == before:  # a check without parts counts once
                    RESULTS.append((name, None))

        run.__name__ = fn.__name__
        CHECKS.append(run)
        return run

    return wrap


CHECKS: list[Callable[[], None]] = []


def client(protocol: int, **kw) -> redis.Redis:
    return redis.Redis(host=HOST, port=PORT, protocol=protocol, socket_timeout=10, **kw)


# --------------------------------------------------------------------------- connection

@check("connect RESP3 (HELLO 3) and RESP2")
def _connect() -> None:
    r3 = client(3)
    eq(r3.ping(), True, "RESP3 ping")
    r2 = client(2)
    eq(r2.ping(), True, "RESP2 ping")
    hello = r3.execute_command("HELLO", 3)
    true(isinstance(hello, dict), f"HELLO 3 reply should be a map, got {hello!r}")
    eq(hello.get(b"proto"), 3, "HELLO 3 proto")
    for field in (b"server", b"version", b"id", b"mode", b"role"):
        true(field in hello, f"HELLO 3 reply lacks {field!r}: {hello!r}")
    eq(r3.echo("hi"), b"hi", "echo")
    eq(client(3, decode_responses=True).echo("hi"), "hi", "echo decoded")


@check("client_setname / client_getname / client_name=")
def _names() -> None:
    for proto in (2, 3):
        r = client(proto)
        eq(r.client_setname(f"app-{proto}"), True, f"RESP{proto} client_setname")
        name = r.client_getname()  # redis-py decodes it under RESP2, not under RESP3
        eq(name.decode() if isinstance(name, bytes) else name, f"app-{proto}", f"RESP{proto} client_getname")
        named = client(proto, client_name=f"pool-{proto}", decode_responses=True)
        eq(named.client_getname(), f"pool-{proto}", f"RESP{proto} client_name= on connect")
        raises(lambda: r.client_setname("has space"), redis.ResponseError, "", "setname with a space")


@check("client_list / client_id / config_get")
def _introspection() -> None:
    for proto in (2, 3):
        r = client(proto, client_name=f"listed-{proto}", decode_responses=True)
        with part(f"RESP{proto} client_id / client_list"):
            my_id = r.client_id()
            true(isinstance(my_id, int) and my_id > 0, f"client_id should be a positive int, got {my_id!r}")
            mine = [c for c in r.client_list() if int(c.get("id", -1)) == my_id]
            eq(len(mine), 1, "client_list entries with my id")
            eq(mine[0].get("name"), f"listed-{proto}", "my name in client_list")
        with part(f"RESP{proto} config_get"):
            got = r.config_get("maxmemory")
            true(isinstance(got, dict) and "maxmemory" in got, f"config_get('maxmemory') -> {got!r}")
            many = r.config_get("*")
            true(isinstance(many, dict) and len(many) > 5, f"config_get('*') gave {len(many)} entries")


@check("info()")
def _info() -> None:
    for proto in (2, 3):
        r = client(proto)
        r.set(f"info:{proto}", "x")
        info = r.info()
        true(isinstance(info, dict), f"RESP{proto} info() should parse to a dict, got {type(info)}")
        true("redis_version" in info, f"RESP{proto} info() lacks redis_version: {sorted(info)[:20]}")
        server = r.info("server")
        true("tcp_port" in server, f"RESP{proto} info('server') lacks tcp_port: {sorted(server)}")
        eq(int(server["tcp_port"]), PORT, f"RESP{proto} info('server') tcp_port")
        keyspace = r.info("keyspace")
        true("db0" in keyspace and keyspace["db0"].get("keys", 0) >= 1,
             f"RESP{proto} info('keyspace') should show db0 keys, got {keyspace!r}")
        clients = r.info("clients")
        true(clients.get("connected_clients", 0) >= 1,
             f"RESP{proto} info('clients') connected_clients, got {clients!r}")


# --------------------------------------------------------------------------- strings

def strings(proto: int) -> None:
    r = client(proto)
    p = f"s{proto}:"
    with part("set/get"):
        eq(r.set(p + "k", "v"), True, "set")
        eq(r.get(p + "k"), b"v", "get")
        eq(r.get(p + "missing"), None, "get missing")
        eq(r.set(p + "bin", b"\x00\xff\r\n"), True, "set binary")
        eq(r.get(p + "bin"), b"\x00\xff\r\n", "get binary")
        big = os.urandom(256 * 1024)
        r.set(p + "big", big)
        eq(r.get(p + "big"), big, "get 256 KiB value")
    with part("set options nx/xx/get"):
        r.set(p + "k", "v")
        eq(r.set(p + "k", "w", nx=True), None, "set nx on existing")
        eq(r.set(p + "new", "1", xx=True), None, "set xx on missing")
        eq(r.set(p + "k", "w", xx=True), True, "set xx on existing")
        eq(r.set(p + "k", "x", get=True), b"w", "set get")
    with part("incr/incrby/decr/decrby"):
        eq(r.incr(p + "n"), 1, "incr")
        eq(r.incrby(p + "n", 41), 42, "incrby")
        eq(r.decr(p + "n"), 41, "decr")
        eq(r.decrby(p + "n", 1), 40, "decrby")
    with part("incrbyfloat"):
        eq(r.incrbyfloat(p + "f", 1.5), 1.5, "incrbyfloat")
        eq(r.incrbyfloat(p + "f", "2.25"), 3.75, "incrbyfloat again")
        eq(r.get(p + "f"), b"3.75", "get after incrbyfloat")
    with part("append/strlen/getrange/setrange"):
        r.set(p + "r", "x")
        eq(r.append(p + "r", "yz"), 3, "append")
        eq(r.strlen(p + "r"), 3, "strlen")
        eq(r.getrange(p + "r", 0, 1), b"xy", "getrange")
        eq(r.getrange(p + "r", -2, -1), b"yz", "getrange negative")
        eq(r.setrange(p + "r", 1, "Y"), 3, "setrange")
        eq(r.get(p + "r"), b"xYz", "get after setrange")
        eq(r.setrange(p + "pad", 3, "a"), 4, "setrange pads")
        eq(r.get(p + "pad"), b"\x00\x00\x00a", "padded value")
    with part("mset/mget/msetnx"):
        eq(r.mset({p + "a": "1", p + "b": "2"}), True, "mset")
        eq(r.mget(p + "a", p + "b", p + "missing"), [b"1", b"2", None], "mget")
        eq(r.msetnx({p + "a": "9", p + "c": "3"}), False, "msetnx with one existing")
        eq(r.exists(p + "c"), 0, "msetnx set nothing")
    with part("setnx/getset/getdel"):
        r.set(p + "a", "1")
        eq(r.setnx(p + "a", "9"), False, "setnx existing")
        eq(r.setnx(p + "d", "4"), True, "setnx new")
        eq(r.getset(p + "d", "5"), b"4", "getset")
        eq(r.getdel(p + "d"), b"5", "getdel")
        eq(r.exists(p + "d"), 0, "getdel deleted")
    with part("setex/psetex/getex"):
        eq(r.setex(p + "ex", 100, "v"), True, "setex")
        true(98 <= r.ttl(p + "ex") <= 100, "ttl after setex")
        eq(r.psetex(p + "px", 100000, "v"), True, "psetex")
        true(98000 <= r.pttl(p + "px") <= 100000, "pttl after psetex")
        r.set(p + "g", "1")
        eq(r.getex(p + "g", ex=100), b"1", "getex ex")
        true(98 <= r.ttl(p + "g") <= 100, "ttl after getex ex")
        eq(r.getex(p + "g", persist=True), b"1", "getex persist")
        eq(r.ttl(p + "g"), -1, "ttl after getex persist")
    with part("error replies"):
        r.set(p + "word", "abc")
        raises(lambda: r.incr(p + "word"), redis.ResponseError, "value is not an integer or out of range",
               "incr on a non-integer")
        raises(lambda: r.incrbyfloat(p + "word", 1), redis.ResponseError, "value is not a valid float",
               "incrbyfloat on a non-float")
        raises(lambda: r.execute_command("GET"), redis.ResponseError,
               "wrong number of arguments for 'get' command", "GET without a key")
        raises(lambda: r.execute_command("NOSUCHCMD", "x"), redis.ResponseError,
               "unknown command 'NOSUCHCMD'", "unknown command")
    with part("decode_responses=True"):
        d = client(proto, decode_responses=True)
        d.mset({p + "a": "1", p + "b": "2"})
        eq(d.get(p + "a"), "1", "decoded get")
        eq(d.mget([p + "a", p + "b"]), ["1", "2"], "decoded mget")


check("strings RESP2")(lambda: strings(2))
check("strings RESP3")(lambda: strings(3))


# --------------------------------------------------------------------------- keys

def keys(proto: int) -> None:
    r = client(proto)
    p = f"k{proto}:"
    r.mset({p + "a": "1", p + "b": "2", p + "c": "3"})
    with part("exists/type/keys"):
        eq(r.exists(p + "a", p + "b", p + "missing"), 2, "exists")
        eq(r.type(p + "a"), b"string", "type")
        eq(r.type(p + "missing"), b"none", "type missing")
        eq(sorted(r.keys(p + "*")), [(p + x).encode() for x in "abc"], "keys")
    with part("delete/unlink/touch"):
        eq(r.delete(p + "c", p + "missing"), 1, "delete")
        eq(r.unlink(p + "b"), 1, "unlink")
        r.set(p + "b", "2")
        eq(r.touch(p + "a", p + "b", p + "missing"), 2, "touch")
    with part("rename/renamenx"):
        r.set(p + "b", "2")
        eq(r.rename(p + "b", p + "b2"), True, "rename")
        eq(r.exists(p + "b"), 0, "rename removed the old name")
        raises(lambda: r.rename(p + "missing", p + "x"), redis.ResponseError, "no such key", "rename missing")
        eq(r.renamenx(p + "b2", p + "a"), False, "renamenx onto existing")
        eq(r.renamenx(p + "b2", p + "b"), True, "renamenx")
    with part("copy"):
        r.mset({p + "a": "1", p + "b": "2"})
        eq(r.copy(p + "a", p + "acopy"), True, "copy")
        eq(r.get(p + "acopy"), b"1", "copied value")
        eq(r.copy(p + "b", p + "acopy"), False, "copy onto existing")
        eq(r.copy(p + "b", p + "acopy", replace=True), True, "copy replace")
        eq(r.get(p + "acopy"), b"2", "copy replaced value")
    with part("randomkey/dbsize"):
        true(r.randomkey() is not None, "randomkey on a non-empty db")
        true(r.dbsize() >= 2, "dbsize")
    with part("expire with a non-integer"):
        raises(lambda: r.execute_command("EXPIRE", p + "a", "soon"), redis.ResponseError,
               "value is not an integer or out of range", "expire with a non-integer")


check("keys RESP3")(lambda: keys(3))


@check("TTL")
def _ttl() -> None:
    r = client(3)
    with part("ttl/pttl on keys without expiry or missing"):
        r.set("t:a", "v")
        eq(r.ttl("t:a"), -1, "ttl without expiry")
        eq(r.ttl("t:missing"), -2, "ttl missing")
        eq(r.pttl("t:missing"), -2, "pttl missing")
    with part("expire/persist"):
        eq(r.expire("t:a", 100), True, "expire")
        true(99 <= r.ttl("t:a") <= 100, "ttl after expire")
        eq(r.expire("t:missing", 100), False, "expire missing")
        eq(r.persist("t:a"), True, "persist")
        eq(r.persist("t:a"), False, "persist without ttl")
    with part("expireat"):
        eq(r.expireat("t:b", int(time.time()) + 100), False, "expireat missing")
        r.set("t:b", "v")
        eq(r.expireat("t:b", int(time.time()) + 100), True, "expireat")
        true(98 <= r.ttl("t:b") <= 100, "ttl after expireat")
    with part("set keepttl / plain set clears ttl"):
        r.set("t:keep", "v", ex=100)
        r.set("t:keep", "w", keepttl=True)
        true(98 <= r.ttl("t:keep") <= 100, "set keepttl kept the ttl")
        r.set("t:keep", "x")
        eq(r.ttl("t:keep"), -1, "plain set clears the ttl")
    with part("keys really expire (pexpire 250 ms, set px 200)"):
        r.set("t:a", "v")
        eq(r.pexpire("t:a", 250), True, "pexpire")
        true(0 < r.pttl("t:a") <= 250, "pttl after pexpire")
        r.set("t:c", "v", px=200)
        time.sleep(0.45)
        eq(r.get("t:a"), None, "get after pexpire elapsed")
        eq(r.exists("t:a", "t:c"), 0, "exists after expiry")
        eq(r.ttl("t:c"), -2, "ttl after expiry")
    with part("expire with a negative ttl deletes"):
        r.set("t:b", "v")
        eq(r.expire("t:b", -1), True, "expire with a negative ttl")
        eq(r.exists("t:b"), 0, "negative expire deletes")


# --------------------------------------------------------------------------- pipelines

@check("pipeline(transaction=False)")
def _pipeline_plain() -> None:
    for proto in (2, 3):
        r = client(proto)
        p = f"p{proto}:"
        pipe = r.pipeline(transaction=False)
        pipe.set(p + "a", "1").incr(p + "a").get(p + "a").mget(p + "a", p + "missing").delete(p + "a")
        pipe.incr(p + "x").expire(p + "x", 100).ttl(p + "x").exists(p + "x")
        eq(pipe.execute(), [True, 2, b"2", [b"2", None], 1, 1, True, 100, 1], f"RESP{proto} pipeline")
        pipe = r.pipeline(transaction=False)
        for i in range(500):
            pipe.set(f"{p}n{i}", i)
        for i in range(500):
            pipe.get(f"{p}n{i}")
        out = pipe.execute()
        eq(out[:500], [True] * 500, f"RESP{proto} 500 pipelined sets")
        eq(out[500:], [str(i).encode() for i in range(500)], f"RESP{proto} 500 pipelined gets")
        pipe = r.pipeline(transaction=False)
        pipe.set(p + "s", "abc").incr(p + "s").get(p + "s")
        out = pipe.execute(raise_on_error=False)
        eq(out[0], True, "set before a failing command")
        true(isinstance(out[1], redis.ResponseError), f"error kept in place, got {out[1]!r}")
        eq(out[2], b"abc", "command after the error still ran")


@check("pipeline() with MULTI/EXEC")
def _pipeline_tx() -> None:
    for proto in (2, 3):
        r = client(proto)
        p = f"tx{proto}:"
        with r.pipeline() as pipe:
            pipe.set(p + "a", "1").incr(p + "a").incrby(p + "a", 10).get(p + "a")
            eq(pipe.execute(), [True, 2, 12, b"12"], f"RESP{proto} multi/exec pipeline")
        with r.pipeline() as pipe:
            pipe.set(p + "s", "abc").incr(p + "s").set(p + "after", "1")
            try:
                pipe.execute()
            except redis.ResponseError as err:
                true("not an integer" in str(err), f"error from EXEC, got {err!r}")
            else:
                raise Mismatch("a failing command inside EXEC should raise from execute()")
        eq(r.get(p + "after"), b"1", "EXEC ran the commands after the failing one")
        with r.pipeline() as pipe:
            pipe.set(p + "q", "1")
            pipe.execute_command("GET")  # wrong arity: rejected while queuing -> EXECABORT
            try:
                pipe.execute()
            except redis.ResponseError as err:
                true("EXECABORT" in str(err) or "wrong number of arguments" in str(err),
                     f"queue-time error, got {err!r}")
            else:
                raise Mismatch("a queue-time error should make execute() raise")
        eq(r.exists(p + "q"), 0, "EXECABORT ran nothing")


@check("WATCH/MULTI/EXEC retry loop loses a race, then succeeds")
def _watch_retry() -> None:
    r = client(3)
    other = client(2)
    r.set("w:counter", 10)
    attempts = 0
    with r.pipeline() as pipe:
        while True:
            attempts += 1
            try:
                pipe.watch("w:counter")
                value = int(pipe.get("w:counter"))
                if attempts == 1:
                    other.incrby("w:counter", 100)  # a concurrent writer gets in between
                pipe.multi()
                pipe.set("w:counter", value + 1)
                pipe.execute()
                break
            except redis.WatchError:
                if attempts > 5:
                    raise
    eq(attempts, 2, "attempts (first EXEC must fail after the concurrent change)")
    eq(r.get("w:counter"), b"111", "final value")
    # unwatch / the transaction() helper
    def incr_twice(pipe: redis.client.Pipeline) -> None:
        v = int(pipe.get("w:counter"))
        pipe.multi()
        pipe.set("w:counter", v + 2)
    eq(r.transaction(incr_twice, "w:counter"), [True], "transaction() helper")
    eq(r.get("w:counter"), b"113", "after transaction()")
    # a watched key that expires / is deleted also aborts
    with r.pipeline() as pipe:
        pipe.watch("w:counter")
        other.delete("w:counter")
        pipe.multi()
        pipe.set("w:counter", 1)
        try:
            pipe.execute()
        except redis.WatchError:
            pass
        else:
            raise Mismatch("EXEC after a watched key was deleted should abort")
    eq(r.exists("w:counter"), 0, "aborted EXEC wrote nothing")


@check("threads: optimistic-locking increments from 6 threads")
def _watch_threads() -> None:
    pool = redis.ConnectionPool(host=HOST, port=PORT, max_connections=6, socket_timeout=10)
    r = redis.Redis(connection_pool=pool)
    r.set("w:shared", 0)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(30):
                def step(pipe):
                    v = int(pipe.get("w:shared"))
                    pipe.multi()
                    pipe.set("w:shared", v + 1)
                r.transaction(step, "w:shared")
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    true(not errors, f"worker errors: {errors[:3]!r}")
    eq(r.get("w:shared"), b"180", "no lost update")
    pool.disconnect()


# --------------------------------------------------------------------------- scan

@check("scan / scan_iter")
def _scan() -> None:
    for proto in (2, 3):
        r = client(proto)
        p = f"sc{proto}:"
        with r.pipeline(transaction=False) as pipe:
            for i in range(700):
                pipe.set(f"{p}{i}", i)
            pipe.execute()
        found = list(r.scan_iter(match=p + "*", count=50))
        eq(len(found), len(set(found)), f"RESP{proto} scan_iter returned duplicates")
        eq(sorted(found), sorted(f"{p}{i}".encode() for i in range(700)), f"RESP{proto} scan_iter keys")
        eq(len(list(r.scan_iter(match=p + "1?", count=1000))), 10, f"RESP{proto} scan_iter match 1?")
        eq(len(list(r.scan_iter(match=p + "*", _type="string"))), 700, f"RESP{proto} scan_iter _type")
        cursor, batch = r.scan(0, match=p + "*", count=10)
        true(isinstance(cursor, int), f"scan cursor should be an int, got {cursor!r}")
        true(len(batch) <= 700, "scan batch")


# --------------------------------------------------------------------------- filters

@check("r.cf() / r.bf(): RedisBloom's cuckoo and bloom filters")
def _filters() -> None:
    for proto in (None, 2, 3):  # None: redis-py's default (RESP3 with RESP2-shaped INFO)
        label = f"RESP{proto or '3 default'}"
        r = redis.Redis(host=HOST, port=PORT, socket_timeout=10, **({"protocol": proto} if proto else {}))
        one, zero = (1, 0) if proto == 2 else (True, False)
        cf, bf = f"cf:{proto}", f"bf:{proto}"
        with part(f"{label} cf"):
            eq(r.cf().reserve(cf, 1000), True, "cf.reserve")
            eq(r.cf().add(cf, "a"), one, "cf.add")
            eq(r.cf().addnx(cf, "a"), zero, "cf.addnx of a present item")
            eq(r.cf().insert(cf, ["b", "c"]), [one, one], "cf.insert")
            eq(r.cf().mexists(cf, "a", "zz"), [one, zero], "cf.mexists")
            eq(r.cf().delete(cf, "a"), one, "cf.delete")
            eq(r.cf().count(cf, "b"), 1, "cf.count")
            got = r.cf().info(cf)
            size = got[b"Bucket size"] if isinstance(got, dict) else got.bucketSize
            eq(size, 2, "cf.info bucket size")
            raises(lambda: r.cf().reserve(cf, 1000), redis.ResponseError, "item exists", "cf.reserve twice")
            eq(r.type(cf), b"MBbloomCF", "TYPE of a cuckoo filter")
        with part(f"{label} bf"):
            eq(r.bf().reserve(bf, 0.01, 1000), True, "bf.reserve")
            eq(r.bf().add(bf, "a"), one, "bf.add")
            eq(r.bf().madd(bf, "a", "b"), [zero, one], "bf.madd")
            eq(r.bf().exists(bf, "b"), one, "bf.exists")
            eq(r.bf().card(bf), 2, "bf.card")
            got = r.bf().info(bf)
            capacity = got[b"Capacity"] if isinstance(got, dict) else got.capacity
            eq(capacity, 1000, "bf.info capacity")
            eq(r.type(bf), b"MBbloom--", "TYPE of a bloom filter")
            raises(lambda: r.get(bf), redis.ResponseError, "WRONGTYPE", "GET on a filter")


# --------------------------------------------------------------------------- pool + threads

@check("one ConnectionPool shared by 8 threads")
def _pool_threads() -> None:
    for proto in (2, 3):
        pool = redis.ConnectionPool(host=HOST, port=PORT, max_connections=8, protocol=proto,
                                    socket_timeout=10)
        r = redis.Redis(connection_pool=pool)
        errors: list[BaseException] = []
        p = f"pool{proto}:"

        def worker(n: int) -> None:
            try:
                for i in range(150):
                    key = f"{p}{n}:{i}"
                    r.set(key, f"{n}-{i}")
                    if r.get(key) != f"{n}-{i}".encode():
                        raise Mismatch(f"thread {n} read back a wrong value for {key}")
                    r.incr(p + "total")
                    if i % 25 == 0:
                        pipe = r.pipeline()
                        pipe.incr(p + "tx").get(p + "tx")
                        pipe.execute()
            except BaseException as err:  # noqa: BLE001
                errors.append(err)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        true(not errors, f"RESP{proto} worker errors: {errors[:3]!r}")
        eq(r.get(p + "total"), b"1200", f"RESP{proto} total increments")
        eq(r.get(p + "tx"), b"48", f"RESP{proto} transactional increments")
        eq(len(r.keys(p + "*:*")), 1200, f"RESP{proto} keys written")
        true(len(pool._available_connections) + len(pool._in_use_connections) <= 8, "pool size")
        pool.disconnect()


def main() -> int:
    global HOST, PORT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HC_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("HC_PORT", "6379")))
    opts = parser.parse_args()
    HOST, PORT = opts.host, opts.port

    start = time.monotonic()
    try:
        client(2).flushall()
    except redis.RedisError as err:
        print(f"  FAIL flushall before the checks: {err!r}")
    for run in CHECKS:
        run()
    failed = [(name, err) for name, err in RESULTS if err is not None]
    for name, err in failed:
        print(f"  FAIL {name}: {err}")
    print(f"redis-py {redis.__version__}: {len(RESULTS) - len(failed)}/{len(RESULTS)} checks passed "
          f"({time.monotonic() - start:.1f}s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
