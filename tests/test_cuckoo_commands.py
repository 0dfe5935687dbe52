"""CF.* through redis-py's r.cf() (RESP2 and RESP3), with RedisBloom 8's replies and errors.

Expected values come from RedisBloom itself: its tests/flow/test_resp3.py sequence (the
reply types and CF.INFO figures), its src/rebloom.c error texts (compared here byte for
byte on a bare connection, since redis-py strips an "ERR " code), and its documented
CF.SCANDUMP / CF.LOADCHUNK protocol.
"""

from __future__ import annotations

import pytest
import redis

from hypercache.keyspace import values
from hypercache.keyspace.filters import CuckooValue
from tests.support import raw_reply
from tests.test_keys import Raw
from tests.test_server_commands import raw_command_info

CF_COMMANDS = (
    "cf.reserve", "cf.add", "cf.addnx", "cf.insert", "cf.insertnx", "cf.exists",
    "cf.mexists", "cf.del", "cf.count", "cf.info", "cf.scandump", "cf.loadchunk",
)


@pytest.fixture
def raw(server, r2):
    """A bare RESP2 connection to the shared server, flushed (by `r2`)."""
    conn = Raw(server.port)
    yield conn
    conn.close()


def resp3(r: redis.Redis) -> bool:
    return r.get_connection_kwargs().get("protocol") == 3


def flag(r: redis.Redis, value: int) -> object:
    """What redis-py returns for a RedisBloom 0/1 reply: a bool in RESP3, an int in RESP2."""
    return bool(value) if resp3(r) else value


def reply(r: redis.Redis, *args) -> object:
    """A command's reply as redis-py parses it, without the r.cf()/r.bf() callbacks."""
    return raw_reply(r, *args)


def info(r: redis.Redis, command: str, key: str) -> dict[str, object]:
    """CF.INFO / BF.INFO as {name: value}, from a RESP3 map or a RESP2 flat array."""
    got = reply(r, command, key)
    pairs = got.items() if isinstance(got, dict) else zip(got[0::2], got[1::2])
    return {name.decode(): value for name, value in pairs}


def assert_flags(r: redis.Redis, got, expected) -> None:
    """Equal values *and* types: RESP3 booleans, RESP2 integers."""
    want = [flag(r, v) for v in expected] if isinstance(expected, list) else flag(r, expected)
    assert got == want
    for g, w in zip(got if isinstance(got, list) else [got], want if isinstance(want, list) else [want]):
        assert type(g) is type(w), (got, want)


# ---- RedisBloom's own RESP3 test sequence -------------------------------------------------


def test_redisbloom_reply_sequence(r):
    """RedisBloom's test_resp3: the same commands give the same values and reply types."""
    cf = r.cf()
    assert cf.reserve("a", 9, expansion=0) is True
    assert_flags(r, cf.add("a", 3), 1)
    assert_flags(r, cf.add("a", 4), 1)
    assert_flags(r, cf.addnx("a", 4), 0)
    assert_flags(r, cf.addnx("a", 9), 1)
    assert_flags(r, cf.insert("a", [4, 5]), [1, 1])
    got = cf.insertnx("a", [4, 6])
    assert got == [0, 1] and all(type(v) is int for v in got)  # integers in RESP3 too
    assert_flags(r, cf.delete("a", 3), 1)
    assert_flags(r, cf.delete("a", 3), 0)
    assert_flags(r, cf.exists("a", 3), 0)
    assert_flags(r, cf.exists("a", 4), 1)
    assert_flags(r, cf.mexists("a", 4, 3), [1, 0])
    assert cf.count("a", 3) == 0 and type(cf.count("a", 3)) is int
    assert cf.count("a", 4) == 2
    assert info(r, "CF.INFO", "a") == {
        "Size": 80, "Number of buckets": 4, "Number of filters": 1, "Number of items inserted": 5,
        "Number of items deleted": 1, "Bucket size": 2, "Expansion rate": 0, "Max iterations": 20,
    }


def test_info_is_a_map_in_resp3_and_a_flat_array_in_resp2(r):
    r.cf().reserve("a", 9, expansion=0)
    got = reply(r, "CF.INFO", "a")
    names = [b"Size", b"Number of buckets", b"Number of filters", b"Number of items inserted",
             b"Number of items deleted", b"Bucket size", b"Expansion rate", b"Max iterations"]
    figures = [80, 4, 1, 0, 0, 2, 0, 20]
    if resp3(r):
        assert got == dict(zip(names, figures))
    else:
        assert got == [x for pair in zip(names, figures) for x in pair]


def test_default_redis_py_client(server):
    """redis-py's default client speaks RESP3 and turns CF.INFO into its CFInfo object."""
    client = redis.Redis(port=server.port)
    try:
        client.delete("d")
        assert client.cf().add("d", "x") is True
        assert client.cf().mexists("d", "x", "y") == [True, False]
        got = client.cf().info("d")
        assert (got.bucketNum, got.insertedNum, got.bucketSize, got.maxIteration) == (512, 1, 2, 20)
    finally:
        client.close()


def test_add_creates_a_filter_with_redisbloom_defaults(r):
    assert_flags(r, r.cf().add("k", "x"), 1)
    assert_flags(r, r.cf().add("k", "x"), 1)  # cuckoo filters store duplicates
    got = info(r, "CF.INFO", "k")
    # capacity 1024 in buckets of 2 -> 512 buckets, 20 kicks, expansion 1
    assert got["Number of buckets"] == 512 and got["Bucket size"] == 2
    assert got["Max iterations"] == 20 and got["Expansion rate"] == 1
    assert got["Number of items inserted"] == 2
    assert r.cf().count("k", "x") == 2


def test_reserve_options(r):
    assert r.cf().reserve("k", 1000, expansion=2, bucket_size=4, max_iterations=10)
    got = info(r, "CF.INFO", "k")
    assert got["Number of buckets"] == 256 and got["Bucket size"] == 4
    assert got["Max iterations"] == 10 and got["Expansion rate"] == 2
    # options in any order and any case, as RedisBloom finds them
    assert r.execute_command("CF.RESERVE", "k2", 100, "maxiterations", 5, "bucketsize", 1)
    got = info(r, "CF.INFO", "k2")
    assert (got["Bucket size"], got["Max iterations"], got["Number of buckets"]) == (1, 5, 128)


@pytest.mark.parametrize(
    "args, error",
    [
        (("CF.RESERVE", "k"), b"-ERR wrong number of arguments for 'cf.reserve' command\r\n"),
        (("CF.RESERVE", "k", 100, "BUCKETSIZE"), b"-ERR wrong number of arguments for 'cf.reserve' command\r\n"),
        (("CF.RESERVE", "k", "abc"), b"-Bad capacity\r\n"),
        (("CF.RESERVE", "k", 100, "MAXITERATIONS", "x"), b"-Couldn't parse MAXITERATIONS\r\n"),
        (("CF.RESERVE", "k", 100, "MAXITERATIONS", 0), b"-MAXITERATIONS: value must be in the range [1, 65535]\r\n"),
        (("CF.RESERVE", "k", 100, "BUCKETSIZE", "x"), b"-Couldn't parse BUCKETSIZE\r\n"),
        (("CF.RESERVE", "k", 100, "BUCKETSIZE", 256), b"-BUCKETSIZE: value must be in the range [1, 255]\r\n"),
        (("CF.RESERVE", "k", 100, "EXPANSION", "x"), b"-Couldn't parse EXPANSION\r\n"),
        (("CF.RESERVE", "k", 100, "EXPANSION", -1), b"-EXPANSION: value must be in the range [0, 32768]\r\n"),
        (("CF.RESERVE", "k", 3), b"-Capacity must be in the range [2 * BUCKETSIZE, 1073741824]\r\n"),
        (("CF.RESERVE", "k", 100, "BUCKETSIZE", 60), b"-Capacity must be in the range [2 * BUCKETSIZE, 1073741824]\r\n"),
        (("CF.RESERVE", "k", 2**30 + 1), b"-Capacity must be in the range [2 * BUCKETSIZE, 1073741824]\r\n"),
        (("CF.ADD", "k"), b"-ERR wrong number of arguments for 'cf.add' command\r\n"),
        (("CF.EXISTS",), b"-ERR wrong number of arguments for 'cf.exists' command\r\n"),
        (("CF.EXISTS", "k", "a", "b"), b"-ERR wrong number of arguments for 'cf.exists' command\r\n"),
        (("CF.MEXISTS", "k"), b"-ERR wrong number of arguments for 'cf.mexists' command\r\n"),
        (("CF.INSERT", "k", "ITEMS"), b"-ERR wrong number of arguments for 'cf.insert' command\r\n"),
        (("CF.INSERT", "k", "CAPACITY", 100), b"-ERR wrong number of arguments for 'cf.insert' command\r\n"),
        (("CF.INSERT", "k", "NOCREATE", "ITEMS"), b"-ERR wrong number of arguments for 'cf.insert' command\r\n"),
        (("CF.INSERT", "k", "CAPACITY", "x", "ITEMS", "a"), b"-Bad capacity\r\n"),
        (("CF.INSERT", "k", "CAPACITY", 3, "ITEMS", "a"),
         b"-Capacity must be in the range [cf-bucket-size * 2, 1073741824]\r\n"),
        (("CF.INSERT", "k", "BOGUS", "ITEMS", "a"), b"-Unknown argument received\r\n"),
        (("CF.INSERTNX", "k", "NOCREATE", "ITEMS", "a"), b"-ERR not found\r\n"),
        (("CF.INFO", "k"), b"-ERR not found\r\n"),
        (("CF.DEL", "k", "a"), b"-Not found\r\n"),
        (("CF.SCANDUMP", "k", 0), b"-ERR not found\r\n"),
        (("CF.SCANDUMP", "k", "x"), b"-Invalid position\r\n"),
        (("CF.SCANDUMP", "k", -1), b"-Invalid position\r\n"),
        (("CF.LOADCHUNK", "k", 0, "data"), b"-Invalid position\r\n"),
        (("CF.LOADCHUNK", "k", "x", "data"), b"-Invalid position\r\n"),
        (("CF.LOADCHUNK", "k", 9, "data"), b"-ERR not found\r\n"),
        (("CF.LOADCHUNK", "k", 1, "short"), b"-Invalid header\r\n"),
        (("CF.LOADCHUNK", "k", 1, "x" * 56), b"-Couldn't create filter!\r\n"),
    ],
)
def test_errors_are_redisblooms_byte_for_byte(raw, args, error):
    assert raw.call(*args) == error
    assert raw.call("EXISTS", "k") == b":0\r\n"  # a failed command creates nothing


def test_existing_key_errors(raw):
    assert raw.call("CF.RESERVE", "k", 100) == b"+OK\r\n"
    assert raw.call("CF.RESERVE", "k", 100) == b"-ERR item exists\r\n"
    assert raw.call("CF.LOADCHUNK", "k", 1, "x" * 56) == b"-ERR item exists\r\n"
    assert raw.call("CF.LOADCHUNK", "k", 10**9, "xx") == b"-Couldn't load chunk!\r\n"


# ---- types: WRONGTYPE both ways, and RedisBloom's quiet existence queries ----------------

WRONGTYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"


def test_filter_commands_on_a_string_key(raw):
    raw.call("SET", "s", "v")
    for args in (("CF.ADD", "s", "a"), ("CF.ADDNX", "s", "a"), ("CF.INSERT", "s", "ITEMS", "a"),
                 ("CF.RESERVE", "s", 100), ("CF.INFO", "s"), ("CF.SCANDUMP", "s", 0),
                 ("CF.LOADCHUNK", "s", 1, "x" * 56), ("CF.LOADCHUNK", "s", 9, "x")):
        assert raw.call(*args) == WRONGTYPE, args
    # RedisBloom answers the existence queries with 0 for a key of another type
    assert raw.call("CF.EXISTS", "s", "a") == b":0\r\n"
    assert raw.call("CF.COUNT", "s", "a") == b":0\r\n"
    assert raw.call("CF.MEXISTS", "s", "a", "b") == b"*2\r\n:0\r\n:0\r\n"
    assert raw.call("CF.DEL", "s", "a") == b"-Not found\r\n"
    assert raw.call("GET", "s") == b"$1\r\nv\r\n"


def test_string_commands_on_a_filter_key(r):
    r.cf().add("f", "a")
    assert r.type("f") == b"MBbloomCF"
    for call in (lambda: r.get("f"), lambda: r.incr("f"), lambda: r.append("f", "x"),
                 lambda: r.bf().add("f", "a")):
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            call()


def test_missing_key_queries_answer_zero(r):
    assert_flags(r, r.cf().exists("nope", "a"), 0)
    assert_flags(r, r.cf().mexists("nope", "a", "b"), [0, 0])
    assert r.cf().count("nope", "a") == 0
    assert r.exists("nope") == 0


# ---- a full filter, and the cap on sub-filters --------------------------------------------


def test_full_filter_without_expansion(r, raw):
    """EXPANSION 0: no growth; CF.INSERT says -1 (RESP2) / false (RESP3), CF.ADD errs."""
    assert r.cf().reserve("f", 2, expansion=0, bucket_size=1)
    got = r.cf().insert("f", [f"item{i}" for i in range(12)])
    ones = got.count(flag(r, 1))
    assert 1 <= ones <= 2  # two slots at most
    assert got.count(False if resp3(r) else -1) == 12 - ones
    assert all(type(v) is (bool if resp3(r) else int) for v in got)
    nx = r.cf().insertnx("f", ["other1", "other2"])
    assert nx == [-1, -1]  # CF.INSERTNX stays an integer reply in RESP3
    assert raw.call("CF.ADD", "f", "one-more") == b"-Filter is full\r\n"
    assert raw.call("CF.ADDNX", "f", "one-more") == b"-Filter is full\r\n"
    assert info(r, "CF.INFO", "f")["Number of filters"] == 1


def test_growth_stops_at_32_sub_filters(r, raw):
    r.cf().reserve("f", 2, expansion=1, bucket_size=1, max_iterations=1)
    replies = [raw.call("CF.ADD", "f", f"x{i}") for i in range(400)]
    assert b"-Maximum expansions reached\r\n" in replies
    first_error = replies.index(b"-Maximum expansions reached\r\n")
    assert set(replies[:first_error]) == {b":1\r\n"}
    assert set(replies[first_error:]) == {b"-Maximum expansions reached\r\n"}
    assert info(r, "CF.INFO", "f")["Number of filters"] == 32
    assert raw.call("CF.INSERT", "f", "ITEMS", "y") == b"-Maximum expansions reached\r\n"


# ---- CF.INSERT options ----------------------------------------------------------------------


def test_insert_capacity_and_nocreate(r):
    assert_flags(r, r.cf().insert("f", ["a", "b"], capacity=1000), [1, 1])
    assert info(r, "CF.INFO", "f")["Number of buckets"] == 512
    assert_flags(r, r.cf().insert("f", ["c"], nocreate=True), [1])
    with pytest.raises(redis.ResponseError, match="not found"):
        r.cf().insert("missing", ["a"], nocreate=True)
    assert r.exists("missing") == 0


def test_insert_options_are_read_by_their_first_letter(r):
    """RedisBloom looks at the first letter only: 'cap', 'nocreate' in lower case, 'I'."""
    assert r.execute_command("CF.INSERT", "f", "cap", 4000, "I", "a") == [flag(r, 1)]
    assert info(r, "CF.INFO", "f")["Number of buckets"] == 2048
    assert r.execute_command("CF.INSERT", "f", "nocreate", "items", "b") == [flag(r, 1)]


# ---- CF.EXISTS key: the keyspace filter -----------------------------------------------------


def test_exists_with_one_argument_asks_the_keyspace_filter(r):
    r.set("present", "v")
    r.cf().add("a-filter", "x")
    for key in ("present", "a-filter"):
        assert_flags(r, r.execute_command("CF.EXISTS", key), 1)  # never a false negative
    answers = [r.execute_command("CF.EXISTS", f"absent-{i}") for i in range(30)]
    assert flag(r, 0) in answers  # a miss is (almost always) answered "certainly absent"
    assert all(type(a) is (bool if resp3(r) else int) for a in answers)


# ---- SCANDUMP / LOADCHUNK -------------------------------------------------------------------


def dump(r: redis.Redis, key: str) -> list[tuple[int, bytes]]:
    """Every (iterator, chunk) of a CF.SCANDUMP, as RedisBloom's documentation loops."""
    chunks, it = [], 0
    while True:
        it, data = r.cf().scandump(key, it)
        if it == 0:
            return chunks
        chunks.append((it, data))


def test_scandump_and_loadchunk_rebuild_the_filter_in_a_new_key(r):
    r.cf().reserve("src", 2000, bucket_size=4, max_iterations=50, expansion=2)
    items = [f"item:{i}" for i in range(3000)]  # more than fits: a second sub-filter
    r.cf().insert("src", items)
    r.cf().delete("src", "item:0")
    chunks = dump(r, "src")
    assert chunks[0][0] == 1 and len(chunks) >= 2
    for it, data in chunks:
        assert r.cf().loadchunk("dst", it, data) in (True, b"OK")
    assert info(r, "CF.INFO", "dst") == info(r, "CF.INFO", "src")
    assert info(r, "CF.INFO", "dst")["Number of filters"] == 2
    got = r.cf().mexists("dst", *items[1:])
    assert all(got)
    assert r.type("dst") == b"MBbloomCF"
    # the copy is independent of its source
    r.cf().add("dst", "only-in-dst")
    assert info(r, "CF.INFO", "dst")["Number of items inserted"] == info(r, "CF.INFO", "src")["Number of items inserted"] + 1


def test_scandump_of_an_empty_filter_ends_at_once(r):
    r.cf().reserve("e", 100)
    assert r.cf().scandump("e", 0) == [0, None]


# ---- generic key commands on a filter -------------------------------------------------------


def test_del_expire_ttl_copy_and_rename(r):
    r.cf().add("f", "a")
    assert r.expire("f", 100)
    r.cf().add("f", "b")  # changing the filter keeps its TTL
    r.cf().insert("f", ["c"])
    r.cf().delete("f", "a")
    assert 0 < r.ttl("f") <= 100
    assert r.copy("f", "g")
    r.cf().add("g", "only-in-g")
    assert_flags(r, r.cf().exists("f", "only-in-g"), 0)
    assert_flags(r, r.cf().exists("g", "b"), 1)
    assert info(r, "CF.INFO", "f")["Number of items inserted"] == 2 and info(r, "CF.INFO", "g")["Number of items inserted"] == 3
    assert r.rename("g", "h")
    assert r.type("h") == b"MBbloomCF"
    assert r.delete("f", "h") == 2
    assert r.exists("f", "h") == 0
    assert_flags(r, r.cf().exists("f", "b"), 0)


def test_changes_in_place_are_seen_by_watch(r, server):
    r.cf().add("f", "a")
    other = redis.Redis(port=server.port, protocol=2)
    with r.pipeline() as pipe:
        pipe.watch("f")
        other.cf().add("f", "b")  # changes the filter object in place
        pipe.multi()
        pipe.cf().add("f", "c")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    other.close()
    assert_flags(r, r.cf().exists("f", "c"), 0)


def test_commands_queue_in_multi(r):
    with r.pipeline(transaction=True) as pipe:
        pipe.cf().add("f", "a")
        pipe.cf().exists("f", "a")
        pipe.cf().count("f", "a")
        assert pipe.execute() == [flag(r, 1), flag(r, 1), 1]


# ---- COMMAND: cluster clients route by these key positions ------------------------------------


def command_entries(r: redis.Redis, names: tuple[str, ...]) -> dict[str, list]:
    """COMMAND INFO of every name, each checked to have its key at 1/1/1."""
    entries = raw_command_info(r, *names)
    assert [e[0] for e in entries] == list(names)
    for entry in entries:
        assert entry[3:6] == [1, 1, 1], entry
    return {e[0]: e for e in entries}


def test_command_info_lists_every_cf_command_with_its_key(r):
    entries = command_entries(r, CF_COMMANDS)
    arity = {name: e[1] for name, e in entries.items()}
    assert arity["cf.add"] == 3 and arity["cf.exists"] == -2 and arity["cf.insert"] == -4
    assert "write" in entries["cf.add"][2] and "readonly" in entries["cf.exists"][2]


# ---- persistence: the store writes filters and reads them back --------------------------------


def test_filters_survive_a_restart(start_server, tmp_path):
    """Both filter types, their TTLs, and a change made after a restart (CF and BF alike)."""
    data = str(tmp_path / "data")
    items = [f"i{i}" for i in range(2000)]
    srv = start_server(data_dir=data)
    c = redis.Redis(port=srv.port, protocol=2)
    c.cf().insert("cf", items)
    c.cf().delete("cf", "i0")
    c.bf().madd("bf", *items[:500])
    c.expire("bf", 1000)
    before = (info(c, "CF.INFO", "cf"), info(c, "BF.INFO", "bf"))
    c.close()
    assert srv.stop() == 0
    for _ in range(2):
        srv = start_server(data_dir=data)
        c = redis.Redis(port=srv.port, protocol=2)
        assert (c.type("cf"), c.type("bf")) == (b"MBbloomCF", b"MBbloom--")
        assert 0 < c.ttl("bf") <= 1000 and c.ttl("cf") == -1
        assert all(c.cf().mexists("cf", *items[1:])) and all(c.bf().mexists("bf", *items[:500]))
        if c.cf().exists("cf", "added-after-restart"):
            assert c.bf().card("bf") == before[1]["Number of items inserted"] + bf_added
            break
        assert (info(c, "CF.INFO", "cf"), info(c, "BF.INFO", "bf")) == before
        c.cf().add("cf", "added-after-restart")
        bf_added = c.bf().add("bf", "added-after-restart")
        c.close()
        assert srv.stop() == 0
    else:
        pytest.fail("the change made after the first restart was lost")
    c.close()


# ---- the value codec (what the store writes and reads back) ---------------------------------


def round_trip(value, kind: int, type_name: str):
    """The value as the store would read it back, checked equal to what was written."""
    stored_kind, data = values.encode_value(value)
    assert stored_kind == kind
    back = values.decode_value(stored_kind, data)
    assert type(back) is type(value) and back.type_name == type_name
    assert back.to_bytes() == value.to_bytes()
    assert back.memory_usage() == value.memory_usage() > value.table_bytes
    with pytest.raises(ValueError):
        values.decode_value(stored_kind, data[:-1])  # a damaged record is refused
    return back


def test_filters_round_trip_through_the_value_codec():
    cf = CuckooValue(500, bucket_size=4, max_iterations=30, expansion=2)
    cf.insert_many([b"k%d" % i for i in range(800)])
    cf.delete(b"k1")
    back = round_trip(cf, 2, "MBbloomCF")
    assert (back.items, back.deletes, back.num_filters) == (cf.items, cf.deletes, cf.num_filters)
    assert back.num_filters == 2
