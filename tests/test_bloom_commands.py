"""BF.* through redis-py's r.bf() (RESP2 and RESP3), with RedisBloom 8's replies and errors.

Expected values come from RedisBloom itself: its tests/flow/test_resp3.py sequence (reply
types, BF.INFO figures), its src/rebloom.c error texts (byte for byte on a bare
connection) and its documented BF.SCANDUMP / BF.LOADCHUNK protocol.
"""

from __future__ import annotations

import pytest
import redis

from hypercache.keyspace.filters import BloomValue
from tests.test_cuckoo_commands import (  # noqa: F401  (raw is a fixture)
    WRONGTYPE,
    assert_flags,
    command_entries,
    flag,
    info,
    raw,
    reply,
    resp3,
    round_trip,
)

BF_COMMANDS = (
    "bf.reserve", "bf.add", "bf.madd", "bf.insert", "bf.exists", "bf.mexists", "bf.info",
    "bf.card", "bf.scandump", "bf.loadchunk",
)


def test_redisbloom_reply_sequence(r):
    """RedisBloom's test_resp3: the same commands give the same values and reply types."""
    bf = r.bf()
    assert_flags(r, bf.add("test", "item"), 1)
    assert bf.card("test") == 1
    assert_flags(r, bf.exists("test", "item"), 1)
    assert info(r, "BF.INFO", "test") == {
        "Capacity": 100, "Size": 256, "Number of filters": 1,
        "Number of items inserted": 1, "Expansion rate": 2,
    }
    assert_flags(r, bf.insert("test", ["item2", "item3", "item2"]), [1, 1, 0])
    assert_flags(r, bf.madd("test", "item4", "item5", "item2"), [1, 1, 0])
    assert_flags(r, bf.mexists("test", "item4", "item5", "item6"), [1, 1, 0])
    assert bf.card("test") == 5


def test_info_fields_one_at_a_time(r):
    """BF.INFO key FIELD: [value] in RESP2, {name: value} in RESP3 (RedisBloom's shapes)."""
    r.bf().reserve("b", 0.001, 100)
    fields = {"CAPACITY": ("Capacity", 100), "size": ("Size", 312), "Filters": ("Number of filters", 1),
              "items": ("Number of items inserted", 0), "EXPANSION": ("Expansion rate", 2)}
    for word, (name, value) in fields.items():
        got = reply(r, "BF.INFO", "b", word)
        assert got == ({name.encode(): value} if resp3(r) else [value]), word
    full = reply(r, "BF.INFO", "b")
    assert isinstance(full, dict if resp3(r) else list)


def test_default_redis_py_client_parses_bf_info(server):
    client = redis.Redis(port=server.port)  # RESP3, redis-py's default
    try:
        client.delete("d")
        assert client.bf().madd("d", "a", "b", "a") == [True, True, False]
        got = client.bf().info("d")
        assert (got.capacity, got.size, got.filterNum, got.insertedNum, got.expansionRate) == (100, 256, 1, 2, 2)
    finally:
        client.close()


# ---- BF.RESERVE ---------------------------------------------------------------------------


def test_reserve_sizes_links_as_redisbloom(r):
    assert r.bf().reserve("b", 0.01, 10) is True
    for i in range(100):
        r.bf().add("b", i)
    got = info(r, "BF.INFO", "b")
    # links of 10, 20, 40, 80 items: RedisBloom's BF.DEBUG shows 16 + 32 + 72 + 160 bytes
    assert got["Capacity"] == 150 and got["Number of filters"] == 4
    assert got["Size"] == 48 + 4 * 64 + 16 + 32 + 72 + 160
    assert got["Number of items inserted"] == r.bf().card("b") > 90


def test_reserve_expansion_and_nonscaling(r):
    assert r.bf().reserve("x4", 0.01, 10, expansion=4)
    assert info(r, "BF.INFO", "x4")["Expansion rate"] == 4
    assert r.bf().reserve("ns", 0.01, 10, noScale=True)
    assert info(r, "BF.INFO", "ns")["Expansion rate"] is None
    assert r.execute_command("BF.RESERVE", "x0", "0.01", 10, "EXPANSION", 0)  # 0 means non-scaling
    assert info(r, "BF.INFO", "x0")["Expansion rate"] is None


def test_error_rate_above_a_quarter_is_capped(r):
    r.bf().reserve("half", 0.5, 1000)
    r.bf().reserve("quarter", 0.25, 1000)
    assert info(r, "BF.INFO", "half")["Size"] == info(r, "BF.INFO", "quarter")["Size"]


BAD_RATE = b"-ERR error rate must be in the range (0.000000, 1.000000)\r\n"


@pytest.mark.parametrize(
    "args, error",
    [
        (("BF.RESERVE", "k", "0.01"), b"-ERR wrong number of arguments for 'bf.reserve' command\r\n"),
        (("BF.RESERVE", "k", "0.01", 100, "EXPANSION", 2, "NONSCALING", "x"),
         b"-ERR wrong number of arguments for 'bf.reserve' command\r\n"),
        (("BF.RESERVE", "k", "x", 100), b"-ERR bad error rate\r\n"),
        (("BF.RESERVE", "k", 0, 100), BAD_RATE),
        (("BF.RESERVE", "k", 1, 100), BAD_RATE),
        (("BF.RESERVE", "k", "7.7", 100), BAD_RATE),
        (("BF.RESERVE", "k", "0.01", "x"), b"-ERR bad capacity\r\n"),
        (("BF.RESERVE", "k", "0.01", 0), b"-ERR capacity must be in the range [1, 1073741824]\r\n"),
        (("BF.RESERVE", "k", "0.01", 2**30 + 1), b"-ERR capacity must be in the range [1, 1073741824]\r\n"),
        (("BF.RESERVE", "k", "0.01", 100, "EXPANSION"), b"-ERR no expansion\r\n"),
        (("BF.RESERVE", "k", "0.01", 100, "EXPANSION", "x"), b"-ERR bad expansion\r\n"),
        (("BF.RESERVE", "k", "0.01", 100, "NONSCALING", "EXPANSION", 2), b"-Nonscaling filters cannot expand\r\n"),
        (("BF.RESERVE", "k", "0.01", 100, "EXPANSION", -1), b"-ERR expansion must be in the range [0, 32768]\r\n"),
        (("BF.RESERVE", "k", "0.01", 100, "EXPANSION", 32769), b"-ERR expansion must be in the range [0, 32768]\r\n"),
        (("BF.ADD", "k"), b"-ERR wrong number of arguments for 'bf.add' command\r\n"),
        (("BF.ADD", "k", "a", "b"), b"-ERR wrong number of arguments for 'bf.add' command\r\n"),
        (("BF.EXISTS", "k", "a", "b"), b"-ERR wrong number of arguments for 'bf.exists' command\r\n"),
        (("BF.MADD", "k"), b"-ERR wrong number of arguments for 'bf.madd' command\r\n"),
        (("BF.INSERT", "k", "ITEMS"), b"-ERR wrong number of arguments for 'bf.insert' command\r\n"),
        (("BF.INSERT", "k", "NOCREATE", "CAPACITY"), b"-ERR wrong number of arguments for 'bf.insert' command\r\n"),
        (("BF.INSERT", "k", "ERROR", "x", "ITEMS", "a"), b"-Bad error rate\r\n"),
        (("BF.INSERT", "k", "ERROR", 0, "ITEMS", "a"), b"-Bad error rate\r\n"),
        (("BF.INSERT", "k", "CAPACITY", "0.3", "ITEMS", "a"), b"-Bad capacity\r\n"),
        (("BF.INSERT", "k", "CAPACITY", 0, "ITEMS", "a"), b"-Bad capacity\r\n"),
        (("BF.INSERT", "k", "EXPANSION", "big", "ITEMS", "a"), b"-Bad expansion\r\n"),
        (("BF.INSERT", "k", "DONTEXIST", "ITEMS", "a"), b"-Unknown argument received\r\n"),
        (("BF.INSERT", "k", "NOCREATE", "ITEMS", "a"), b"-ERR not found\r\n"),
        (("BF.INFO", "k"), b"-ERR not found\r\n"),
        (("BF.INFO", "k", "capacity", "size"), b"-ERR wrong number of arguments for 'bf.info' command\r\n"),
        (("BF.SCANDUMP", "k", 0), b"-ERR not found\r\n"),
        (("BF.LOADCHUNK", "k", "x", "data"), b"-ERR Second argument must be numeric\r\n"),
        (("BF.LOADCHUNK", "k", 9, "data"), b"-ERR not found\r\n"),
        (("BF.LOADCHUNK", "k", 1, "garbage"), b"-ERR received bad data\r\n"),
    ],
)
def test_errors_are_redisblooms_byte_for_byte(raw, args, error):
    assert raw.call(*args) == error
    assert raw.call("EXISTS", "k") == b":0\r\n"  # a failed command creates nothing


def test_existing_filter_errors(raw):
    assert raw.call("BF.RESERVE", "k", "0.01", 100) == b"+OK\r\n"
    assert raw.call("BF.RESERVE", "k", "0.01", 100) == b"-ERR item exists\r\n"
    assert raw.call("BF.INFO", "k", "bogus") == b"-Invalid information value\r\n"
    assert raw.call("BF.SCANDUMP", "k", "x") == b"-Second argument must be numeric\r\n"


# ---- BF.INSERT options, non-scaling filters -------------------------------------------------


def test_insert_creates_with_its_options(r):
    assert_flags(r, r.bf().insert("b", ["a"], capacity=1000, error=0.001, expansion=4), [1])
    got = info(r, "BF.INFO", "b")
    assert got["Capacity"] == 1000 and got["Expansion rate"] == 4
    # the options only apply to a filter being created
    assert_flags(r, r.bf().insert("b", ["a", "z"], capacity=5, expansion=8), [0, 1])
    assert info(r, "BF.INFO", "b")["Capacity"] == 1000
    r.bf().insert("ns", ["a"], noScale=True)
    assert info(r, "BF.INFO", "ns")["Expansion rate"] is None
    r.execute_command("BF.INSERT", "x0", "EXPANSION", 0, "ITEMS", "a")
    assert info(r, "BF.INFO", "x0")["Expansion rate"] is None
    with pytest.raises(redis.ResponseError, match="not found"):
        r.bf().insert("missing", ["a"], noCreate=True)


def test_insert_options_are_read_by_their_first_letters(r):
    """RedisBloom reads 'c...', 'er...', 'e...', 'noc...', 'n...' and 'i...'."""
    got = r.execute_command("BF.INSERT", "b", "cap", 500, "err", 0.1, "exp", 3, "i", "a")
    assert got == [flag(r, 1)]
    assert info(r, "BF.INFO", "b")["Capacity"] == 500
    assert info(r, "BF.INFO", "b")["Expansion rate"] == 3


def test_non_scaling_filter_is_full_at_its_capacity(r, raw):
    r.bf().reserve("ns", 0.01, 3, noScale=True)
    got = r.bf().madd("ns", "1", "2", "3", "4", "5")
    # RedisBloom ends the reply with the error at the first item that does not fit
    assert got[:3] == [flag(r, 1)] * 3 and len(got) == 4
    assert isinstance(got[3], redis.ResponseError) and "non scaling filter is full" in str(got[3])
    assert raw.call("BF.ADD", "ns", "6") == b"-ERR non scaling filter is full\r\n"
    assert_flags(r, r.bf().add("ns", "1"), 0)  # an item already in is still answered
    assert r.bf().card("ns") == 3


# ---- types ----------------------------------------------------------------------------------


def test_filter_commands_on_a_string_key(raw):
    raw.call("SET", "s", "v")
    for args in (("BF.ADD", "s", "a"), ("BF.MADD", "s", "a"), ("BF.INSERT", "s", "ITEMS", "a"),
                 ("BF.RESERVE", "s", "0.01", 100), ("BF.INFO", "s"), ("BF.CARD", "s"),
                 ("BF.SCANDUMP", "s", 0), ("BF.LOADCHUNK", "s", 1, "x"), ("CF.ADD", "s", "a")):
        assert raw.call(*args) == WRONGTYPE, args
    assert raw.call("BF.EXISTS", "s", "a") == b":0\r\n"  # RedisBloom: 0, not WRONGTYPE
    assert raw.call("BF.MEXISTS", "s", "a", "b") == b"*2\r\n:0\r\n:0\r\n"


def test_other_types_on_a_bloom_key(r):
    r.bf().add("b", "a")
    assert r.type("b") == b"MBbloom--"
    for call in (lambda: r.get("b"), lambda: r.cf().add("b", "x"), lambda: r.cf().info("b")):
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            call()


def test_missing_key_queries(r):
    assert r.bf().card("nope") == 0
    assert_flags(r, r.bf().exists("nope", "a"), 0)
    assert_flags(r, r.bf().mexists("nope", "a", "b"), [0, 0])
    assert r.exists("nope") == 0


# ---- BF.SCANDUMP / BF.LOADCHUNK -------------------------------------------------------------


def test_scandump_and_loadchunk_rebuild_the_filter_in_a_new_key(r):
    r.bf().reserve("src", 0.001, 1000, expansion=2)
    items = [f"item:{i}" for i in range(3500)]  # three links: 1000, 2000, 4000
    r.bf().madd("src", *items)
    chunks, it = [], 0
    while True:
        it, data = r.bf().scandump("src", it)
        if it == 0:
            assert data == b""  # RedisBloom's last reply is (0, "")
            break
        chunks.append((it, data))
    assert chunks[0][0] == 1 and len(chunks) >= 2
    for it, data in chunks:
        assert r.bf().loadchunk("dst", it, data) in (True, b"OK")
    assert info(r, "BF.INFO", "dst") == info(r, "BF.INFO", "src")
    assert info(r, "BF.INFO", "dst")["Number of filters"] == 3
    assert all(r.bf().mexists("dst", *items))
    assert r.type("dst") == b"MBbloom--"


# ---- generic key commands -------------------------------------------------------------------


def test_del_expire_ttl_and_copy(r):
    r.bf().add("b", "a")
    assert r.expire("b", 100)
    r.bf().madd("b", "b", "c")  # changing the filter keeps its TTL
    assert 0 < r.ttl("b") <= 100
    assert r.copy("b", "c")
    r.bf().add("c", "only-in-c")
    assert_flags(r, r.bf().exists("b", "only-in-c"), 0)
    assert (r.bf().card("b"), r.bf().card("c")) == (3, 4)
    assert 0 < r.ttl("c") <= 100
    assert r.delete("b", "c") == 2
    assert r.bf().card("b") == 0


def test_changes_in_place_are_seen_by_watch(r, server):
    r.bf().add("b", "a")
    other = redis.Redis(port=server.port, protocol=2)
    with r.pipeline() as pipe:
        pipe.watch("b")
        other.bf().add("b", "new")
        pipe.multi()
        pipe.bf().add("b", "c")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    other.close()
    assert r.bf().card("b") == 2


def test_command_info_lists_every_bf_command_with_its_key(r):
    entries = command_entries(r, BF_COMMANDS)
    arity = {name: e[1] for name, e in entries.items()}
    assert (arity["bf.add"], arity["bf.madd"], arity["bf.reserve"], arity["bf.info"]) == (3, -3, -4, -2)
    assert "write" in entries["bf.add"][2] and "readonly" in entries["bf.exists"][2]


def test_filters_round_trip_through_the_value_codec():
    bf = BloomValue(50, 0.01, 2, True)
    keys = [b"k%d" % i for i in range(300)]
    bf.add_many(keys)
    back = round_trip(bf, 3, "MBbloom--")
    assert (back.items, back.num_filters, back.capacity) == (bf.items, bf.num_filters, bf.capacity)
    assert all(back.contains_many(keys))
