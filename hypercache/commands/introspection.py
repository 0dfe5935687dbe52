"""COMMAND and its subcommands: the command table as clients read it.

COMMAND (INFO) answers each command in Redis 7's ten-element form: name, arity, flags,
first key, last key, step, ACL categories, tips, key specs, subcommands. Cluster-aware
clients route by it (redis-py's RedisCluster reads the key positions, the
`request_policy` tips and, for containers, the subcommands), so it is built from the
command table and nothing else, plus two tables of Redis 7.0 data that CommandSpec
has no field for yet: the key specs (what a command does with each key) and the tips.

Key specs, for a command Redis has, are Redis 7.0's (`_REDIS_KEY_SPECS`, read from
`COMMAND` of a real 7.0.15); for a command of our own they are derived from the
first/last/step of the table and the command's flags (RO+access for readonly,
RW+update for write, as Redis 8's cuckoo and bloom commands declare).

COMMAND with no argument must work (RedisCluster sends it), which the dispatcher
does not allow for a container, so COMMAND is an ordinary command that dispatches to
its subcommands itself; they are listed as its subcommands all the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypercache.commands.context import Context
from hypercache.commands.table import CommandSpec, CommandTable, command
from hypercache.errors import SYNTAX, CommandError
from hypercache.keyspace.glob import compile_glob
from hypercache.numbers import parse_int
from hypercache.resp.types import Status

# ---------------------------------------------------------------------------------------
# Flags and ACL categories as COMMAND shows them

# Redis's order of command flags in the reply; flags it hides are left out, and so are
# flags of our own that no client would know.
_FLAG_ORDER = (
    "write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript", "blocking",
    "loading", "stale", "skip_monitor", "skip_slowlog", "asking", "fast", "no_auth",
    "no_mandatory_keys", "no_async_loading", "no_multi", "movablekeys", "allow_busy",
)
_FLAG_RANK = {name: i for i, name in enumerate(_FLAG_ORDER)}

# Redis's ACL categories, in its order (the order COMMAND lists them in).
_ACL_ORDER = (
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
    "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking",
    "dangerous", "connection", "transaction", "scripting",
)
_ACL_RANK = {name: i for i, name in enumerate(_ACL_ORDER)}


def _flag_words(spec: CommandSpec) -> set[str]:
    return {flag.lower().replace("-", "_") for flag in spec.flags}


def command_flags(spec: CommandSpec) -> list[str]:
    """The flags COMMAND shows, in Redis's order (movablekeys computed as Redis does)."""
    words = _flag_words(spec)
    if any(ks.movable for ks in key_specs(spec)):
        words.add("movablekeys")
    return sorted((w for w in words if w in _FLAG_RANK), key=_FLAG_RANK.__getitem__)


def acl_categories(spec: CommandSpec) -> list[str]:
    """Declared categories plus the ones Redis implies from the flags (setImplicitACLCategories)."""
    cats = {c.lstrip("@").lower() for c in spec.acl_categories}
    words = _flag_words(spec)
    if "write" in words:
        cats.add("write")
    if "readonly" in words and "scripting" not in cats:
        cats.add("read")
    if "admin" in words:
        cats.update(("admin", "dangerous"))
    if "pubsub" in words:
        cats.add("pubsub")
    if "fast" in words:
        cats.add("fast")
    if "blocking" in words:
        cats.add("blocking")
    if "fast" not in cats:
        cats.add("slow")
    return sorted(cats, key=lambda c: (_ACL_RANK.get(c, len(_ACL_RANK)), c))


# ---------------------------------------------------------------------------------------
# Key specs

@dataclass(frozen=True, slots=True)
class KeySpec:
    """One Redis 7 key spec: where the keys start (begin_search), how many (find_keys)."""

    flags: tuple[str, ...]
    begin: tuple  # ("index", pos) | ("keyword", word, startfrom) | ("unknown",)
    find: tuple  # ("range", lastkey, keystep, limit) | ("keynum", idx, firstkey, step) | ("unknown",)

    @property
    def movable(self) -> bool:
        return self.begin[0] != "index" or self.find[0] != "range"

    def reply(self) -> dict:
        begin, find = self.begin, self.find
        if begin[0] == "index":
            begin_spec: dict = {"index": begin[1]}
        elif begin[0] == "keyword":
            begin_spec = {"keyword": begin[1], "startfrom": begin[2]}
        else:
            begin_spec = {}
        if find[0] == "range":
            find_spec: dict = {"lastkey": find[1], "keystep": find[2], "limit": find[3]}
        elif find[0] == "keynum":
            find_spec = {"keynumidx": find[1], "firstkey": find[2], "keystep": find[3]}
        else:
            find_spec = {}
        return {
            "flags": [Status(f) for f in self.flags],
            "begin_search": {"type": begin[0], "spec": begin_spec},
            "find_keys": {"type": find[0], "spec": find_spec},
        }


# Redis 7.0.15's key specs, one command (or container|subcommand) a line, one spec a
# word: FLAGS@BEGIN/FIND with BEGIN = iPOS (index) | kWORD,STARTFROM (keyword) | u, and
# FIND = rLASTKEY,STEP,LIMIT (range) | nKEYNUMIDX,FIRSTKEY,STEP (keynum) | u.
_REDIS_KEY_SPECS = """
append                 RW,insert@i1/r0,1,0
bitcount               RO,access@i1/r0,1,0
bitfield               RW,access,update,variable_flags@i1/r0,1,0
bitfield_ro            RO,access@i1/r0,1,0
bitop                  OW,update@i2/r0,1,0 RO,access@i3/r-1,1,0
bitpos                 RO,access@i1/r0,1,0
blmove                 RW,access,delete@i1/r0,1,0 RW,insert@i2/r0,1,0
blmpop                 RW,access,delete@i2/n0,1,1
blpop                  RW,access,delete@i1/r-2,1,0
brpop                  RW,access,delete@i1/r-2,1,0
brpoplpush             RW,access,delete@i1/r0,1,0 RW,insert@i2/r0,1,0
bzmpop                 RW,access,delete@i2/n0,1,1
bzpopmax               RW,access,delete@i1/r-2,1,0
bzpopmin               RW,access,delete@i1/r-2,1,0
copy                   RO,access@i1/r0,1,0 OW,update@i2/r0,1,0
decr                   RW,access,update@i1/r0,1,0
decrby                 RW,access,update@i1/r0,1,0
del                    RM,delete@i1/r-1,1,0
dump                   RO,access@i1/r0,1,0
eval                   RW,access,update@i2/n0,1,1
eval_ro                RO,access@i2/n0,1,1
evalsha                RW,access,update@i2/n0,1,1
evalsha_ro             RO,access@i2/n0,1,1
exists                 RO@i1/r-1,1,0
expire                 RW,update@i1/r0,1,0
expireat               RW,update@i1/r0,1,0
expiretime             RO,access@i1/r0,1,0
fcall                  RW,access,update@i2/n0,1,1
fcall_ro               RO,access@i2/n0,1,1
geoadd                 RW,update@i1/r0,1,0
geodist                RO,access@i1/r0,1,0
geohash                RO,access@i1/r0,1,0
geopos                 RO,access@i1/r0,1,0
georadius              RO,access@i1/r0,1,0 OW,update@kSTORE,6/r0,1,0 OW,update@kSTOREDIST,6/r0,1,0
georadius_ro           RO,access@i1/r0,1,0
georadiusbymember      RO,access@i1/r0,1,0 OW,update@kSTORE,5/r0,1,0 OW,update@kSTOREDIST,5/r0,1,0
georadiusbymember_ro   RO,access@i1/r0,1,0
geosearch              RO,access@i1/r0,1,0
geosearchstore         OW,update@i1/r0,1,0 RO,access@i2/r0,1,0
get                    RO,access@i1/r0,1,0
getbit                 RO,access@i1/r0,1,0
getdel                 RW,access,delete@i1/r0,1,0
getex                  RW,access,update@i1/r0,1,0
getrange               RO,access@i1/r0,1,0
getset                 RW,access,update@i1/r0,1,0
hdel                   RW,delete@i1/r0,1,0
hexists                RO@i1/r0,1,0
hget                   RO,access@i1/r0,1,0
hgetall                RO,access@i1/r0,1,0
hincrby                RW,access,update@i1/r0,1,0
hincrbyfloat           RW,access,update@i1/r0,1,0
hkeys                  RO,access@i1/r0,1,0
hlen                   RO@i1/r0,1,0
hmget                  RO,access@i1/r0,1,0
hmset                  RW,update@i1/r0,1,0
hrandfield             RO,access@i1/r0,1,0
hscan                  RO,access@i1/r0,1,0
hset                   RW,update@i1/r0,1,0
hsetnx                 RW,insert@i1/r0,1,0
hstrlen                RO@i1/r0,1,0
hvals                  RO,access@i1/r0,1,0
incr                   RW,access,update@i1/r0,1,0
incrby                 RW,access,update@i1/r0,1,0
incrbyfloat            RW,access,update@i1/r0,1,0
lcs                    RO,access@i1/r1,1,0
lindex                 RO,access@i1/r0,1,0
linsert                RW,insert@i1/r0,1,0
llen                   RO@i1/r0,1,0
lmove                  RW,access,delete@i1/r0,1,0 RW,insert@i2/r0,1,0
lmpop                  RW,access,delete@i1/n0,1,1
lpop                   RW,access,delete@i1/r0,1,0
lpos                   RO,access@i1/r0,1,0
lpush                  RW,insert@i1/r0,1,0
lpushx                 RW,insert@i1/r0,1,0
lrange                 RO,access@i1/r0,1,0
lrem                   RW,delete@i1/r0,1,0
lset                   RW,update@i1/r0,1,0
ltrim                  RW,delete@i1/r0,1,0
memory|usage           RO@i2/r0,1,0
mget                   RO,access@i1/r-1,1,0
migrate                RW,access,delete@i3/r0,1,0 RW,access,delete,incomplete@kKEYS,-2/r-1,1,0
move                   RW,access,update@i1/r0,1,0
mset                   OW,update@i1/r-1,2,0
msetnx                 OW,insert@i1/r-1,2,0
object|encoding        RO@i2/r0,1,0
object|freq            RO@i2/r0,1,0
object|idletime        RO@i2/r0,1,0
object|refcount        RO@i2/r0,1,0
persist                RW,update@i1/r0,1,0
pexpire                RW,update@i1/r0,1,0
pexpireat              RW,update@i1/r0,1,0
pexpiretime            RO,access@i1/r0,1,0
pfadd                  RW,insert@i1/r0,1,0
pfcount                RW,access@i1/r-1,1,0
pfdebug                RW,access@i2/r0,1,0
pfmerge                RW,access,insert@i1/r0,1,0 RO,access@i2/r-1,1,0
psetex                 OW,update@i1/r0,1,0
pttl                   RO,access@i1/r0,1,0
rename                 RW,access,delete@i1/r0,1,0 OW,update@i2/r0,1,0
renamenx               RW,access,delete@i1/r0,1,0 OW,insert@i2/r0,1,0
restore                OW,update@i1/r0,1,0
restore-asking         OW,update@i1/r0,1,0
rpop                   RW,access,delete@i1/r0,1,0
rpoplpush              RW,access,delete@i1/r0,1,0 RW,insert@i2/r0,1,0
rpush                  RW,insert@i1/r0,1,0
rpushx                 RW,insert@i1/r0,1,0
sadd                   RW,insert@i1/r0,1,0
scard                  RO@i1/r0,1,0
sdiff                  RO,access@i1/r-1,1,0
sdiffstore             OW,update@i1/r0,1,0 RO,access@i2/r-1,1,0
set                    RW,access,update,variable_flags@i1/r0,1,0
setbit                 RW,access,update@i1/r0,1,0
setex                  OW,update@i1/r0,1,0
setnx                  OW,insert@i1/r0,1,0
setrange               RW,update@i1/r0,1,0
sinter                 RO,access@i1/r-1,1,0
sintercard             RO,access@i1/n0,1,1
sinterstore            RW,update@i1/r0,1,0 RO,access@i2/r-1,1,0
sismember              RO@i1/r0,1,0
smembers               RO,access@i1/r0,1,0
smismember             RO,access@i1/r0,1,0
smove                  RW,access,delete@i1/r0,1,0 RW,insert@i2/r0,1,0
sort                   RO,access@i1/r0,1,0 RO,access@u/u OW,update@u/u
sort_ro                RO,access@i1/r0,1,0 RO,access@u/u
spop                   RW,access,delete@i1/r0,1,0
spublish               not_key@i1/r0,1,0
srandmember            RO,access@i1/r0,1,0
srem                   RW,delete@i1/r0,1,0
sscan                  RO,access@i1/r0,1,0
ssubscribe             not_key@i1/r-1,1,0
strlen                 RO@i1/r0,1,0
substr                 RO,access@i1/r0,1,0
sunion                 RO,access@i1/r-1,1,0
sunionstore            OW,update@i1/r0,1,0 RO,access@i2/r-1,1,0
sunsubscribe           not_key@i1/r-1,1,0
touch                  RO@i1/r-1,1,0
ttl                    RO,access@i1/r0,1,0
type                   RO@i1/r0,1,0
unlink                 RM,delete@i1/r-1,1,0
watch                  RO@i1/r-1,1,0
xack                   RW,update@i1/r0,1,0
xadd                   RW,update@i1/r0,1,0
xautoclaim             RW,delete@i1/r0,1,0
xclaim                 RW,update@i1/r0,1,0
xdel                   RW,delete@i1/r0,1,0
xgroup|create          RW,insert@i2/r0,1,0
xgroup|createconsumer  RW,insert@i2/r0,1,0
xgroup|delconsumer     RW,delete@i2/r0,1,0
xgroup|destroy         RW,delete@i2/r0,1,0
xgroup|setid           RW,update@i2/r0,1,0
xinfo|consumers        RO,access@i2/r0,1,0
xinfo|groups           RO,access@i2/r0,1,0
xinfo|stream           RO,access@i2/r0,1,0
xlen                   RO@i1/r0,1,0
xpending               RO,access@i1/r0,1,0
xrange                 RO,access@i1/r0,1,0
xread                  RO,access@kSTREAMS,1/r-1,1,2
xreadgroup             RO,access@kSTREAMS,4/r-1,1,2
xrevrange              RO,access@i1/r0,1,0
xsetid                 RW,update@i1/r0,1,0
xtrim                  RW,delete@i1/r0,1,0
zadd                   RW,update@i1/r0,1,0
zcard                  RO@i1/r0,1,0
zcount                 RO,access@i1/r0,1,0
zdiff                  RO,access@i1/n0,1,1
zdiffstore             OW,update@i1/r0,1,0 RO,access@i2/n0,1,1
zincrby                RW,access,update@i1/r0,1,0
zinter                 RO,access@i1/n0,1,1
zintercard             RO,access@i1/n0,1,1
zinterstore            OW,update@i1/r0,1,0 RO,access@i2/n0,1,1
zlexcount              RO,access@i1/r0,1,0
zmpop                  RW,access,delete@i1/n0,1,1
zmscore                RO,access@i1/r0,1,0
zpopmax                RW,access,delete@i1/r0,1,0
zpopmin                RW,access,delete@i1/r0,1,0
zrandmember            RO,access@i1/r0,1,0
zrange                 RO,access@i1/r0,1,0
zrangebylex            RO,access@i1/r0,1,0
zrangebyscore          RO,access@i1/r0,1,0
zrangestore            OW,update@i1/r0,1,0 RO,access@i2/r0,1,0
zrank                  RO,access@i1/r0,1,0
zrem                   RW,delete@i1/r0,1,0
zremrangebylex         RW,delete@i1/r0,1,0
zremrangebyrank        RW,delete@i1/r0,1,0
zremrangebyscore       RW,delete@i1/r0,1,0
zrevrange              RO,access@i1/r0,1,0
zrevrangebylex         RO,access@i1/r0,1,0
zrevrangebyscore       RO,access@i1/r0,1,0
zrevrank               RO,access@i1/r0,1,0
zscan                  RO,access@i1/r0,1,0
zscore                 RO,access@i1/r0,1,0
zunion                 RO,access@i1/n0,1,1
zunionstore            OW,update@i1/r0,1,0 RO,access@i2/n0,1,1
"""

# Redis 7.0.15's command tips (request/response policies and nondeterminism).
_REDIS_TIPS = """
client|info            nondeterministic_output
client|list            nondeterministic_output
cluster|bumpepoch      nondeterministic_output
cluster|count-failure-reports nondeterministic_output
cluster|getkeysinslot  nondeterministic_output
cluster|info           nondeterministic_output
cluster|links          nondeterministic_output
cluster|nodes          nondeterministic_output
cluster|replicas       nondeterministic_output
cluster|shards         nondeterministic_output
cluster|slaves         nondeterministic_output
cluster|slots          nondeterministic_output
command                nondeterministic_output_order
command|docs           nondeterministic_output_order
command|info           nondeterministic_output_order
command|list           nondeterministic_output_order
config|set             request_policy:all_nodes response_policy:all_succeeded
dbsize                 request_policy:all_shards response_policy:agg_sum
del                    request_policy:multi_shard response_policy:agg_sum
dump                   nondeterministic_output
exists                 request_policy:multi_shard response_policy:agg_sum
flushall               request_policy:all_shards response_policy:all_succeeded
flushdb                request_policy:all_shards response_policy:all_succeeded
function|delete        request_policy:all_shards response_policy:all_succeeded
function|flush         request_policy:all_shards response_policy:all_succeeded
function|kill          request_policy:all_shards response_policy:one_succeeded
function|list          nondeterministic_output_order
function|load          request_policy:all_shards response_policy:all_succeeded
function|restore       request_policy:all_shards response_policy:all_succeeded
function|stats         nondeterministic_output request_policy:all_shards response_policy:special
hgetall                nondeterministic_output_order
hkeys                  nondeterministic_output_order
hrandfield             nondeterministic_output
hscan                  nondeterministic_output
hvals                  nondeterministic_output_order
info                   nondeterministic_output request_policy:all_shards response_policy:special
keys                   request_policy:all_shards nondeterministic_output_order
lastsave               nondeterministic_output
latency|doctor         nondeterministic_output request_policy:all_nodes response_policy:special
latency|graph          nondeterministic_output request_policy:all_nodes response_policy:special
latency|histogram      nondeterministic_output request_policy:all_nodes response_policy:special
latency|history        nondeterministic_output request_policy:all_nodes response_policy:special
latency|latest         nondeterministic_output request_policy:all_nodes response_policy:special
latency|reset          request_policy:all_nodes response_policy:all_succeeded
memory|doctor          nondeterministic_output request_policy:all_shards response_policy:special
memory|malloc-stats    nondeterministic_output request_policy:all_shards response_policy:special
memory|purge           request_policy:all_shards response_policy:all_succeeded
memory|stats           nondeterministic_output request_policy:all_shards response_policy:special
mget                   request_policy:multi_shard
migrate                nondeterministic_output
module|list            nondeterministic_output_order
mset                   request_policy:multi_shard response_policy:all_succeeded
msetnx                 request_policy:multi_shard response_policy:agg_min
object|encoding        nondeterministic_output
object|freq            nondeterministic_output
object|idletime        nondeterministic_output
object|refcount        nondeterministic_output
ping                   request_policy:all_shards response_policy:all_succeeded
pttl                   nondeterministic_output
randomkey              request_policy:all_shards nondeterministic_output
scan                   nondeterministic_output request_policy:special
script|exists          request_policy:all_shards response_policy:agg_logical_and
script|flush           request_policy:all_nodes response_policy:all_succeeded
script|kill            request_policy:all_shards response_policy:one_succeeded
script|load            request_policy:all_nodes response_policy:all_succeeded
sdiff                  nondeterministic_output_order
sinter                 nondeterministic_output_order
slowlog|get            request_policy:all_nodes nondeterministic_output
slowlog|len            request_policy:all_nodes response_policy:agg_sum nondeterministic_output
slowlog|reset          request_policy:all_nodes response_policy:all_succeeded
smembers               nondeterministic_output_order
spop                   nondeterministic_output
srandmember            nondeterministic_output
sscan                  nondeterministic_output
sunion                 nondeterministic_output_order
time                   nondeterministic_output
touch                  request_policy:multi_shard response_policy:agg_sum
ttl                    nondeterministic_output
unlink                 request_policy:multi_shard response_policy:agg_sum
wait                   request_policy:all_shards response_policy:agg_min
xadd                   nondeterministic_output
xautoclaim             nondeterministic_output
xclaim                 nondeterministic_output
xinfo|consumers        nondeterministic_output
xpending               nondeterministic_output
xtrim                  nondeterministic_output
zrandmember            nondeterministic_output
zscan                  nondeterministic_output
"""


def _parse_key_spec(word: str) -> KeySpec:
    flags, _, where = word.partition("@")
    begin_text, _, find_text = where.partition("/")
    if begin_text.startswith("i"):
        begin: tuple = ("index", int(begin_text[1:]))
    elif begin_text.startswith("k"):
        keyword, _, start = begin_text[1:].rpartition(",")
        begin = ("keyword", keyword, int(start))
    else:
        begin = ("unknown",)
    if find_text[:1] in ("r", "n"):
        a, b, c = (int(n) for n in find_text[1:].split(","))
        find: tuple = ("range" if find_text[0] == "r" else "keynum", a, b, c)
    else:
        find = ("unknown",)
    return KeySpec(tuple(flags.split(",")), begin, find)


def _parse_table(text: str, parse) -> dict[str, tuple]:
    table = {}
    for line in text.strip().splitlines():
        name, *words = line.split()
        table[name] = tuple(parse(word) for word in words)
    return table


KNOWN_KEY_SPECS: dict[str, tuple[KeySpec, ...]] = _parse_table(_REDIS_KEY_SPECS, _parse_key_spec)
KNOWN_TIPS: dict[str, tuple[str, ...]] = _parse_table(_REDIS_TIPS, str)


def key_specs(spec: CommandSpec) -> tuple[KeySpec, ...]:
    """Redis's key specs for a Redis command; derived from first/last/step otherwise."""
    known = KNOWN_KEY_SPECS.get(spec.name)
    if known is not None:
        return known
    derived: list[KeySpec] = []
    words = _flag_words(spec)
    if spec.first_key > 0:
        if "readonly" in words:
            flags: tuple[str, ...] = ("RO", "access")
        elif "write" in words:
            flags = ("RW", "update")
        else:
            flags = ("RO",)
        last = spec.last_key if spec.last_key < 0 else spec.last_key - spec.first_key
        derived.append(KeySpec(flags, ("index", spec.first_key), ("range", last, spec.step or 1, 0)))
    if "movablekeys" in words:  # keys we cannot locate from the table alone
        derived.append(KeySpec(("RW", "access", "update", "incomplete"), ("unknown",), ("unknown",)))
    return tuple(derived)


def command_tips(spec: CommandSpec) -> list[str]:
    return list(KNOWN_TIPS.get(spec.name, ()))


def has_key_arguments(spec: CommandSpec) -> bool:
    """Redis's doesCommandHaveKeys: a key spec that is not a mere channel (not_key)."""
    return any("not_key" not in ks.flags for ks in key_specs(spec))


def find_keys(spec: CommandSpec, args: list[bytes]) -> list[tuple[int, KeySpec]] | None:
    """Positions of the keys in `args` with the spec each came from (getKeysUsingKeySpecs).

    None when the arguments do not fit a spec (Redis: "Invalid arguments")."""
    argc = len(args)
    found: list[tuple[int, KeySpec]] = []
    for ks in key_specs(spec):
        if "not_key" in ks.flags:
            continue
        begin, find = ks.begin, ks.find
        if begin[0] == "index":
            first = begin[1]
        elif begin[0] == "keyword":
            keyword, startfrom = begin[1].encode(), begin[2]
            start = startfrom if startfrom > 0 else argc + startfrom
            end = argc - 1 if startfrom > 0 else 1  # exclusive, as in Redis
            direction = 1 if start <= end else -1
            first = 0
            for i in range(start, end, direction):
                if i >= argc or i < 1:
                    break
                if args[i].upper() == keyword:
                    first = i + 1
                    break
            if not first:
                continue
        else:
            return None
        if find[0] == "range":
            lastkey, step, limit = find[1], find[2], find[3]
            if lastkey >= 0:
                last = first + lastkey
            elif not limit:
                last = argc + lastkey
            else:
                last = first + ((argc - first) // limit + lastkey)
        elif find[0] == "keynum":
            idx, firstkey, step = find[1], find[2], find[3]
            if idx >= argc - first:
                return None
            numkeys = parse_int(args[first + idx])
            if numkeys is None or numkeys < 0:
                return None
            if numkeys == 0:  # EVAL script 0: no keys from this spec
                continue
            first += firstkey
            last = first + numkeys - 1
        else:
            return None
        if last >= argc or last < first or first >= argc:
            return None
        found.extend((i, ks) for i in range(first, last + 1, step))
    return found


# ---------------------------------------------------------------------------------------
# Looking commands up by name, as COMMAND INFO/DOCS/GETKEYS do

def subcommands_of(spec: CommandSpec) -> list[CommandSpec]:
    return list(spec.subcommands.values())


def _subcommand(spec: CommandSpec, name: bytes) -> CommandSpec | None:
    return spec.subcommands.get(name.lower())


def find_command(table: CommandTable, fullname: bytes) -> CommandSpec | None:
    """'get' or 'client|list' (any case) -> the spec, or None."""
    parent, bar, sub = fullname.lower().partition(b"|")
    spec = table.lookup(parent)
    if spec is None or not bar:
        return spec
    if b"|" in sub:
        return None
    return _subcommand(spec, sub)


def command_for_args(table: CommandTable, args: list[bytes]) -> CommandSpec | None:
    """The spec a full request would run (Redis's lookupCommand), or None."""
    spec = table.lookup(args[0])
    if spec is None or len(args) == 1 or not subcommands_of(spec):
        return spec
    return _subcommand(spec, args[1])


def all_commands(table: CommandTable):
    """Every command, each followed by its subcommands (COMMAND LIST's order)."""
    for spec in table:
        yield spec
        yield from subcommands_of(spec)


# ---------------------------------------------------------------------------------------
# The replies

def command_info(spec: CommandSpec) -> list:
    """One command in COMMAND's ten-element form.

    Redis 7 sends the flags, categories, tips, key specs and subcommands as RESP3 sets;
    here they are arrays in both protocols, in Redis's order (a frozenset has no order
    and cannot hold the key-spec maps). Clients read both alike: redis-py turns every
    RESP3 set into a list, hiredis too."""
    return [
        spec.name,
        spec.arity,
        [Status(f) for f in command_flags(spec)],
        spec.first_key,
        spec.last_key,
        spec.step,
        [Status("@" + c) for c in acl_categories(spec)],
        command_tips(spec),
        [ks.reply() for ks in key_specs(spec)],
        [command_info(sub) for sub in subcommands_of(spec)],
    ]


def command_docs(spec: CommandSpec) -> dict:
    """One command's COMMAND DOCS map (summary, since, group, complexity, subcommands)."""
    docs: dict = {"summary": spec.summary, "since": spec.since, "group": spec.group}
    if spec.complexity:
        docs["complexity"] = spec.complexity
    subs = subcommands_of(spec)
    if subs:
        docs["subcommands"] = {sub.name: command_docs(sub) for sub in subs}
    return docs


@command("command", -1, "loading stale", group="server", summary="Get array of Redis command details", since="2.8.13", complexity="O(N) where N is the total number of Redis commands", acl="connection")
def command_(ctx: Context, args: list[bytes]) -> object:
    """Bare COMMAND (RedisCluster sends it once); the subcommands are registered below."""
    return [command_info(spec) for spec in ctx.server.table]


def _sub(name: str, arity: int, summary: str, since: str, complexity: str):
    """Register a COMMAND subcommand with COMMAND's metadata."""
    return command(f"command|{name}", arity, "loading stale", group="server", summary=summary,
                   since=since, complexity=complexity, acl="connection")


@_sub("count", 2, "Get total number of Redis commands", "2.8.13", "O(1)")
def command_count(ctx: Context, args: list[bytes]) -> object:
    return len(ctx.server.table)


@_sub("info", -2, "Get array of specific Redis command details, or all when no argument is given.", "2.8.13", "O(N) where N is the number of commands to look up")
def command_info_(ctx: Context, args: list[bytes]) -> object:
    table = ctx.server.table
    if len(args) == 2:
        return [command_info(spec) for spec in table]
    replies = []
    for name in args[2:]:
        spec = find_command(table, name)
        replies.append(None if spec is None else command_info(spec))
    return replies


@_sub("docs", -2, "Get array of specific Redis command documentation", "7.0.0", "O(N) where N is the number of commands to look up")
def command_docs_(ctx: Context, args: list[bytes]) -> object:
    table = ctx.server.table
    if len(args) == 2:
        return {spec.name: command_docs(spec) for spec in table}
    docs = {}
    for name in args[2:]:
        spec = find_command(table, name)
        if spec is not None:
            docs[spec.name] = command_docs(spec)
    return docs


@_sub("list", -2, "Get an array of Redis command names", "7.0.0", "O(N) where N is the total number of Redis commands")
def command_list(ctx: Context, args: list[bytes]) -> object:
    everything = all_commands(ctx.server.table)
    if len(args) == 2:
        return [spec.name for spec in everything]
    if len(args) != 5 or args[2].upper() != b"FILTERBY":
        raise CommandError(SYNTAX)
    kind, value = args[3].upper(), args[4]
    if kind == b"MODULE":
        return []  # no modules: CF.* and BF.* are built in
    if kind == b"ACLCAT":
        category = value.decode("utf-8", "replace").lower()
        return [spec.name for spec in everything if category in acl_categories(spec)]
    if kind == b"PATTERN":
        match = compile_glob(value, True)
        return [spec.name for spec in everything if match(spec.name.encode())]
    raise CommandError(SYNTAX)


def _keys_of(ctx: Context, args: list[bytes]) -> list[tuple[int, KeySpec]]:
    target = args[2:]
    spec = command_for_args(ctx.server.table, target)
    if spec is None:
        raise CommandError("ERR Invalid command specified")
    if not has_key_arguments(spec):
        raise CommandError("ERR The command has no key arguments")
    if not spec.arity_ok(len(target)):
        raise CommandError("ERR Invalid number of arguments specified for command")
    found = find_keys(spec, target)
    if not found:
        if found is not None and "no_mandatory_keys" in _flag_words(spec):
            return []
        raise CommandError("ERR Invalid arguments specified for command")
    return [(pos + 2, ks) for pos, ks in found]


@_sub("getkeys", -4, "Extract keys given a full Redis command", "2.8.13", "O(N) where N is the number of arguments to the command")
def command_getkeys(ctx: Context, args: list[bytes]) -> object:
    return [args[pos] for pos, _ks in _keys_of(ctx, args)]


@_sub("getkeysandflags", -4, "Extract keys and access flags given a full Redis command", "7.0.0", "O(N) where N is the number of arguments to the command")
def command_getkeysandflags(ctx: Context, args: list[bytes]) -> object:
    return [[args[pos], [Status(f) for f in ks.flags]] for pos, ks in _keys_of(ctx, args)]


_COMMAND_HELP = [
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
]


@_sub("help", 2, "Show helpful text about the different subcommands", "5.0.0", "O(1)")
def command_help(ctx: Context, args: list[bytes]) -> object:
    return [Status(line) for line in _COMMAND_HELP]
