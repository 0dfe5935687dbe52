"""Unit tests of the Keyspace class and the glob matcher alone (no server, no sockets).

The clock is injected, so expiry is tested by moving time rather than by sleeping.
"""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hypercache.keyslot import SLOT_COUNT, key_slot
from hypercache.keyspace import Keyspace
from hypercache.keyspace.glob import compile_glob


class Clock:
    """A settable millisecond clock."""

    def __init__(self, ms: int = 1_700_000_000_000) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms


class Watcher:
    def __init__(self) -> None:
        self.watch_dirty = False


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ks(clock: Clock) -> Keyspace:
    return Keyspace(clock=clock)


# ---- lazy expiry ----------------------------------------------------------------------


def test_lazy_expiry_on_read(ks: Keyspace, clock: Clock) -> None:
    ks.set(b"k", b"v", expire_at=clock.ms + 100)
    ks.set(b"forever", b"v")
    assert ks.lookup(b"k") == b"v"
    assert ks.expire_at(b"k") == clock.ms + 100
    assert len(ks) == 2 and ks.expires_count == 1
    clock.advance(99)
    assert ks.get_string(b"k") == b"v"
    clock.advance(1)  # the expiry time itself is already past (Redis: when <= now)
    assert ks.lookup(b"k") is None
    assert len(ks) == 1 and ks.expires_count == 0
    assert ks.expired_keys == 1
    assert ks.lookup(b"forever") == b"v"


def test_lazy_expiry_through_every_reader(ks: Keyspace, clock: Clock) -> None:
    readers = [
        lambda k: ks.peek(k),
        lambda k: ks.get_string_for_write(k),
        lambda k: ks.exists(k) or None,
        lambda k: ks.expire_at(k),
    ]
    for i, read in enumerate(readers):
        key = b"k%d" % i
        ks.set(key, b"v", expire_at=clock.ms + 10)
        clock.advance(10)
        assert read(key) is None
        assert len(ks) == 0
    assert ks.expired_keys == len(readers)


def test_expired_key_is_not_listed(ks: Keyspace, clock: Clock) -> None:
    ks.set(b"a", b"1", expire_at=clock.ms + 5)
    ks.set(b"b", b"2")
    clock.advance(5)
    assert ks.keys() == [b"b"]
    assert ks.scan(0, 1000) == (0, [b"b"])
    assert list(ks.iter_keys()) == [b"b"]
    assert ks.random_key() == b"b"


def test_hits_and_misses(ks: Keyspace) -> None:
    ks.set(b"k", b"v")
    ks.lookup(b"k")
    ks.lookup(b"nope")
    ks.peek(b"k")
    assert (ks.hits, ks.misses) == (1, 1)


def test_set_expire_into_the_past_deletes(ks: Keyspace, clock: Clock) -> None:
    ks.set(b"k", b"v")
    assert ks.set_expire(b"k", clock.ms) is True
    assert ks.peek(b"k") is None and len(ks) == 0
    assert ks.set_expire(b"k", clock.ms + 1000) is False


def test_persist_and_keep_ttl(ks: Keyspace, clock: Clock) -> None:
    ks.set(b"k", b"v", expire_at=clock.ms + 100)
    ks.set(b"k", b"v2", keep_ttl=True)
    assert ks.expire_at(b"k") == clock.ms + 100
    ks.set(b"k", b"v3")  # a plain SET drops the TTL
    assert ks.expire_at(b"k") is None
    ks.set_expire(b"k", clock.ms + 100)
    assert ks.persist(b"k") is True
    assert ks.persist(b"k") is False
    clock.advance(1000)
    assert ks.peek(b"k") == b"v3"
    assert ks.expire_cycle() == 0


def test_keep_ttl_over_an_expired_key_keeps_none(ks: Keyspace, clock: Clock) -> None:
    """KEEPTTL (and INCR, APPEND, SETRANGE) over a key whose TTL has passed but which
    no read has reaped yet: the old key expires first, the new value has no TTL."""
    ks.set(b"k", b"1", expire_at=clock.ms + 100)
    clock.advance(200)
    ks.set(b"k", b"2", keep_ttl=True)
    assert ks.peek(b"k") == b"2" and ks.expire_at(b"k") is None
    assert ks.expired_keys == 1 and len(ks) == 1
    clock.advance(10**6)
    assert ks.peek(b"k") == b"2"


# ---- active expiry --------------------------------------------------------------------


def test_expire_cycle_removes_unread_keys(ks: Keyspace, clock: Clock) -> None:
    for i in range(500):
        ks.set(b"t%d" % i, b"v", expire_at=clock.ms + 50 + i % 7)
    for i in range(100):
        ks.set(b"p%d" % i, b"v")
    assert ks.expire_cycle() == 0
    assert len(ks) == 600
    clock.advance(53)
    partial = ks.expire_cycle()
    assert 0 < partial < 500
    clock.advance(10)
    assert ks.expire_cycle() == 500 - partial
    assert len(ks) == 100 and ks.expires_count == 0
    assert ks.expired_keys == 500
    assert all(key.startswith(b"p") for key in ks.keys())


def test_expire_cycle_respects_its_budget(ks: Keyspace, clock: Clock) -> None:
    for i in range(250):
        ks.set(b"k%d" % i, b"v", expire_at=clock.ms + 1)
    clock.advance(1)
    assert ks.expire_cycle(max_keys=100) == 100
    assert ks.expire_cycle(max_keys=100) == 100
    assert ks.expire_cycle(max_keys=100) == 50
    assert len(ks) == 0


def test_expire_cycle_ignores_stale_heap_entries(ks: Keyspace, clock: Clock) -> None:
    ks.set(b"extended", b"v", expire_at=clock.ms + 10)
    ks.set_expire(b"extended", clock.ms + 1000)
    ks.set(b"persisted", b"v", expire_at=clock.ms + 10)
    ks.persist(b"persisted")
    ks.set(b"overwritten", b"v", expire_at=clock.ms + 10)
    ks.set(b"overwritten", b"new")
    ks.set(b"readded", b"v", expire_at=clock.ms + 10)
    ks.delete(b"readded")
    ks.set(b"readded", b"v2", expire_at=clock.ms + 2000)
    clock.advance(500)
    assert ks.expire_cycle() == 0
    assert sorted(ks.keys()) == [b"extended", b"overwritten", b"persisted", b"readded"]
    clock.advance(500)
    assert ks.expire_cycle() == 1
    assert ks.peek(b"extended") is None
    clock.advance(1000)
    assert ks.expire_cycle() == 1
    assert sorted(ks.keys()) == [b"overwritten", b"persisted"]


def test_expire_heap_is_compacted(ks: Keyspace, clock: Clock) -> None:
    """TTLs rewritten over and over leave stale heap entries; the cycle trims them."""
    for round_ in range(20):
        for i in range(200):
            ks.set(b"k%d" % i, b"v", expire_at=clock.ms + 10_000 + round_)
    assert len(ks._expiry_heap) == 4000
    ks.expire_cycle()
    assert len(ks._expiry_heap) == 200
    clock.advance(20_000)
    assert ks.expire_cycle() == 200


# ---- writes: signals and the write listener --------------------------------------------


def test_every_mutation_signals_watchers_and_listener(ks: Keyspace, clock: Clock) -> None:
    seen: list[tuple[bytes, object, int | None]] = []
    ks.write_listener = lambda key, value, at: seen.append((key, value, at))
    ks.set(b"a", b"1", expire_at=clock.ms + 100)
    watchers = {k: Watcher() for k in (b"a", b"b", b"c")}
    for key, watcher in watchers.items():
        ks.watch(key, watcher)
    assert ks.rename(b"a", b"b") is True
    assert watchers[b"a"].watch_dirty and watchers[b"b"].watch_dirty
    assert not watchers[b"c"].watch_dirty
    assert ks.copy(b"b", b"c") is True
    assert watchers[b"c"].watch_dirty
    assert seen == [
        (b"a", b"1", clock.ms + 100),
        (b"b", b"1", clock.ms + 100),
        (b"a", None, None),
        (b"c", b"1", clock.ms + 100),
    ]


def test_rename_to_itself_changes_nothing(ks: Keyspace) -> None:
    ks.set(b"a", b"1")
    watcher = Watcher()
    ks.watch(b"a", watcher)
    version = ks.version
    assert ks.rename(b"a", b"a") is True
    assert ks.version == version and not watcher.watch_dirty
    assert ks.rename(b"missing", b"missing") is False


# ---- rename and copy -----------------------------------------------------------------


def test_rename_moves_the_ttl(ks: Keyspace, clock: Clock) -> None:
    ks.set(b"src", b"v", expire_at=clock.ms + 100)
    ks.set(b"dst", b"old", expire_at=clock.ms + 5000)
    assert ks.rename(b"src", b"dst") is True
    assert ks.peek(b"src") is None
    assert ks.peek(b"dst") == b"v"
    assert ks.expire_at(b"dst") == clock.ms + 100
    assert len(ks) == 1 and ks.expires_count == 1
    clock.advance(100)
    assert ks.expire_cycle() == 1  # the heap entry under the new name is live
    assert len(ks) == 0


def test_rename_drops_the_destination_ttl(ks: Keyspace, clock: Clock) -> None:
    ks.set(b"src", b"v")
    ks.set(b"dst", b"old", expire_at=clock.ms + 100)
    ks.rename(b"src", b"dst")
    assert ks.expire_at(b"dst") is None
    clock.advance(200)
    assert ks.expire_cycle() == 0
    assert ks.peek(b"dst") == b"v"


def test_rename_of_an_expired_key_fails(ks: Keyspace, clock: Clock) -> None:
    ks.set(b"src", b"v", expire_at=clock.ms + 10)
    clock.advance(10)
    assert ks.rename(b"src", b"dst") is False
    assert len(ks) == 0


class Box:
    """A stand-in for a future mutable value type."""

    type_name = "list"

    def __init__(self, items: list[bytes]) -> None:
        self.items = items

    def copy(self) -> "Box":
        return Box(list(self.items))


def test_copy(ks: Keyspace, clock: Clock) -> None:
    ks.set(b"s", b"v", expire_at=clock.ms + 100)
    assert ks.copy(b"s", b"d") is True
    assert ks.peek(b"d") == b"v" and ks.expire_at(b"d") == clock.ms + 100
    ks.set(b"s", b"v2")
    assert ks.copy(b"s", b"d") is False  # destination exists
    assert ks.peek(b"d") == b"v"
    assert ks.copy(b"s", b"d", replace=True) is True
    assert ks.peek(b"d") == b"v2" and ks.expire_at(b"d") is None
    assert ks.copy(b"missing", b"d", replace=True) is False
    assert ks.peek(b"d") == b"v2"
    box = Box([b"x"])
    ks.set(b"box", box)
    ks.copy(b"box", b"box2")
    copied = ks.peek(b"box2")
    assert isinstance(copied, Box) and copied is not box and copied.items == [b"x"]
    copied.items.append(b"y")
    assert box.items == [b"x"]
    with pytest.raises(ValueError):
        ks.copy(b"s", b"s")


def test_copy_over_an_expired_destination(ks: Keyspace, clock: Clock) -> None:
    ks.set(b"s", b"v")
    ks.set(b"d", b"old", expire_at=clock.ms + 1)
    clock.advance(1)
    assert ks.copy(b"s", b"d") is True
    assert ks.peek(b"d") == b"v" and ks.expire_at(b"d") is None


# ---- iteration -----------------------------------------------------------------------


def full_scan(ks: Keyspace, count: int = 10, **kw) -> list[bytes]:
    cursor, out = 0, []
    while True:
        cursor, keys = ks.scan(cursor, count, **kw)
        out += keys
        if cursor == 0:
            return out


def test_scan_returns_every_key_once(ks: Keyspace) -> None:
    keys = {b"key:%d" % i for i in range(3000)}
    for key in keys:
        ks.set(key, b"v")
    found = full_scan(ks)
    assert len(found) == len(keys) and set(found) == keys
    assert ks.scan(0, 10) != (0, [])  # a step, not the whole keyspace
    assert len(ks.scan(0, 10)[1]) < 100


def test_scan_of_an_empty_keyspace_ends_at_once(ks: Keyspace) -> None:
    assert ks.scan(0, 10) == (0, [])


def test_scan_cursor_out_of_range_ends(ks: Keyspace) -> None:
    ks.set(b"k", b"v")
    assert ks.scan(SLOT_COUNT, 10) == (0, [])
    assert ks.scan(2**64 - 1, 10) == (0, [])


def test_scan_match_and_type(ks: Keyspace) -> None:
    for i in range(200):
        ks.set(b"user:%d" % i, b"v")
        ks.set(b"item:%d" % i, b"v")
    ks.set(b"boxed", Box([]))
    assert sorted(full_scan(ks, pattern=b"user:1?")) == sorted(b"user:1%d" % i for i in range(10))
    assert full_scan(ks, type_filter="list") == [b"boxed"]
    assert full_scan(ks, type_filter="LIST") == [b"boxed"]
    assert len(full_scan(ks, type_filter="string")) == 400
    assert full_scan(ks, type_filter="hash") == []


@pytest.mark.parametrize("seed", range(5))
def test_scan_guarantee_under_concurrent_changes(ks: Keyspace, seed: int) -> None:
    """A key present for the whole scan is returned (exactly once, since whole slots
    are returned), while other keys are added and removed between the calls."""
    rnd = random.Random(seed)
    stable = {b"stable:%d" % i for i in range(1500)}
    for key in stable:
        ks.set(key, b"v")
    churn: set[bytes] = set()
    serial = 0
    cursor, found = 0, []
    calls = 0
    while True:
        cursor, keys = ks.scan(cursor, rnd.choice((1, 5, 10, 50)))
        found += keys
        calls += 1
        for _ in range(rnd.randrange(30)):  # churn between calls
            if churn and rnd.random() < 0.5:
                ks.delete(churn.pop())
            else:
                serial += 1
                key = b"churn:%d" % serial
                ks.set(key, b"v")
                churn.add(key)
        if cursor == 0:
            break
    assert calls > 10
    returned_stable = [key for key in found if key in stable]
    assert len(returned_stable) == len(stable)
    assert set(returned_stable) == stable
    assert len(found) == len(set(found))  # nothing returned twice
    for key in found:  # nothing invented
        assert key in stable or key.startswith(b"churn:")


def test_keys_pattern(ks: Keyspace) -> None:
    for key in (b"hello", b"hallo", b"hxllo", b"hllo", b"heeeello", b"", b"h[a]llo"):
        ks.set(key, b"v")
    assert sorted(ks.keys(b"h?llo")) == [b"hallo", b"hello", b"hxllo"]
    assert sorted(ks.keys(b"h*llo")) == [b"h[a]llo", b"hallo", b"heeeello", b"hello", b"hllo", b"hxllo"]
    assert sorted(ks.keys(b"h[ae]llo")) == [b"hallo", b"hello"]
    assert sorted(ks.keys(b"h[^e]llo")) == [b"hallo", b"hxllo"]
    assert sorted(ks.keys(b"h[a-b]llo")) == [b"hallo"]
    assert ks.keys(b"h\\[a\\]llo") == [b"h[a]llo"]
    assert b"" in ks.keys(b"*") and b"" not in ks.keys(b"**")
    assert ks.keys(b"") == [b""]


def test_random_key(ks: Keyspace, clock: Clock) -> None:
    assert ks.random_key() is None
    for key in (b"a", b"b", b"c"):  # sparse: almost every slot is empty
        ks.set(key, b"v")
    seen = {ks.random_key() for _ in range(200)}
    assert seen == {b"a", b"b", b"c"}
    for key in (b"a", b"b", b"c"):
        ks.set_expire(key, clock.ms + 1)
    clock.advance(1)
    assert ks.random_key() is None
    assert len(ks) == 0  # the expired keys met on the way were deleted


def test_random_key_in_one_crowded_slot(ks: Keyspace) -> None:
    keys = [b"{tag}%d" % i for i in range(50)]
    for key in keys:
        ks.set(key, b"v")
    assert len({key_slot(k) for k in keys}) == 1
    assert len({ks.random_key() for _ in range(300)}) > 30


def test_slot_keys_and_size(ks: Keyspace) -> None:
    keys = [b"{x}%d" % i for i in range(10)]
    for key in keys:
        ks.set(key, b"v")
    slot = key_slot(b"x")
    assert ks.slot_size(slot) == 10
    assert sorted(ks.slot_keys(slot)) == sorted(keys)
    assert ks.slot_size((slot + 1) % SLOT_COUNT) == 0


def test_flush(ks: Keyspace, clock: Clock) -> None:
    watcher = Watcher()
    ks.watch(b"k", watcher)
    ks.set(b"k", b"v", expire_at=clock.ms + 10)
    watcher.watch_dirty = False
    ks.flush()
    assert watcher.watch_dirty
    assert len(ks) == 0 and ks.expires_count == 0
    clock.advance(100)
    assert ks.expire_cycle() == 0


# ---- glob: Redis's stringmatchlen -----------------------------------------------------


def stringmatchlen(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """A line-by-line port of Redis 7.0's util.c stringmatchlen, the oracle for the
    compiled matcher. C's chars are signed, and reading past the end gives the NUL."""

    def at(i: int) -> int:
        return pattern[i] if i < len(pattern) else 0

    def signed(c: int) -> int:
        return c - 256 if c >= 128 else c

    def lower(c: int) -> int:
        return c + 32 if 65 <= c <= 90 else c

    skip_longer = [False]

    def impl(pi: int, si: int) -> bool:
        plen, slen = len(pattern) - pi, len(string) - si
        while plen and slen:
            c = pattern[pi]
            if c == ord("*"):
                while plen and at(pi + 1) == ord("*"):
                    pi += 1
                    plen -= 1
                if plen == 1:
                    return True
                while slen:
                    if impl(pi + 1, si):
                        return True
                    if skip_longer[0]:
                        return False
                    si += 1
                    slen -= 1
                skip_longer[0] = True
                return False
            elif c == ord("?"):
                si += 1
                slen -= 1
            elif c == ord("["):
                pi += 1
                plen -= 1
                negate = at(pi) == ord("^")
                if negate:
                    pi += 1
                    plen -= 1
                match = False
                while True:
                    pc = at(pi)
                    if pc == ord("\\") and plen >= 2:
                        pi += 1
                        plen -= 1
                        if pattern[pi] == string[si]:
                            match = True
                    elif pc == ord("]"):
                        break
                    elif plen == 0:
                        pi -= 1
                        plen += 1
                        break
                    elif plen >= 3 and pattern[pi + 1] == ord("-"):
                        start, end, ch = signed(pc), signed(pattern[pi + 2]), signed(string[si])
                        if start > end:
                            start, end = end, start
                        if nocase:
                            start, end, ch = lower(start), lower(end), lower(ch)
                        pi += 2
                        plen -= 2
                        if start <= ch <= end:
                            match = True
                    elif not nocase:
                        if pc == string[si]:
                            match = True
                    elif lower(signed(pc)) == lower(signed(string[si])):
                        match = True
                    pi += 1
                    plen -= 1
                if negate:
                    match = not match
                if not match:
                    return False
                si += 1
                slen -= 1
            else:
                if c == ord("\\") and plen >= 2:
                    pi += 1
                    plen -= 1
                pc = pattern[pi]
                if not nocase:
                    if pc != string[si]:
                        return False
                elif lower(signed(pc)) != lower(signed(string[si])):
                    return False
                si += 1
                slen -= 1
            pi += 1
            plen -= 1
            if slen == 0:
                while at(pi) == ord("*"):
                    pi += 1
                    plen -= 1
                break
        return plen == 0 and slen == 0

    return impl(0, 0)


def glob(pattern: bytes, key: bytes, nocase: bool = False) -> bool:
    return compile_glob(pattern, nocase)(key)


@pytest.mark.parametrize(
    "pattern, key, expected",
    [
        (b"*", b"anything", True),
        (b"*", b"", True),  # KEYS/SCAN's catch-all
        (b"**", b"", False),
        (b"", b"", True),
        (b"", b"a", False),
        (b"a*", b"a", True),
        (b"*a", b"ba", True),
        (b"*a", b"ab", False),
        (b"a?c", b"abc", True),
        (b"a?c", b"ac", False),
        (b"a?", b"a", False),
        (b".*", b".hidden", True),  # no special leading dot
        (b"[abc]", b"b", True),
        (b"[abc]", b"d", False),
        (b"[^a]", b"a", False),
        (b"[^a]", b"b", True),
        (b"[a-c]x", b"bx", True),
        (b"[a-c]x", b"dx", False),
        (b"[c-a]", b"b", True),  # reversed bounds
        (b"[^a-c]", b"d", True),
        (b"[^a-c]", b"b", False),
        (b"[\\]]", b"]", True),
        (b"[\\^a]", b"^", True),
        (b"[]a]", b"a", False),  # ']' first closes an empty class
        (b"[]a]", b"]a]", False),
        (b"[^]", b"x", True),  # negated empty class: any byte
        (b"[a-]", b"]", True),  # 'a-]' is the range ']'..'a': the class never closes
        (b"[a-]", b"b", False),
        (b"[a-]x", b"x", True),  # ...so 'x' is part of the class
        (b"[a-]x", b"ax", False),
        (b"[ab", b"a", True),  # an unterminated class ends with the pattern
        (b"[ab", b"ab", False),
        (b"a[", b"a", False),
        (b"\\*", b"*", True),
        (b"\\*", b"a", False),
        (b"\\?x", b"?x", True),
        (b"\\?x", b"ax", False),
        (b"a\\", b"a\\", True),  # a trailing backslash is itself
        (b"[\\", b"\\", True),
        (b"\\a", b"a", True),
        (b"a\nb", b"a\nb", True),
        (b"a?b", b"a\nb", True),  # '?' matches a newline too
        (b"a*b", b"a\n\nb", True),
        (b"[\x80-\xff]", b"\x90", True),
        (b"[a-\xff]", b"b", False),  # as signed chars: -1..97
        (b"[a-\xff]", b"0", True),
        (b"[a-\xff]", b"\xfe", False),
        (b"[a-\xff]", b"\xff", True),
        (b"x[\x00-\x7f]", b"x\x80", False),
        (b"(a|b).+$^", b"(a|b).+$^", True),  # regex syntax is literal
        (b"(a|b).+$^", b"a", False),
        (b"*a*b*c*", b"xxaxxbxxcxx", True),
        (b"*a*b*c*", b"xxcxxbxxaxx", False),
    ],
)
def test_glob_cases(pattern: bytes, key: bytes, expected: bool) -> None:
    assert glob(pattern, key) is expected
    if pattern != b"*":
        assert stringmatchlen(pattern, key) is expected  # the oracle agrees


def test_glob_nocase() -> None:
    assert glob(b"FOO*", b"foobar", nocase=True)
    assert not glob(b"FOO*", b"foobar")
    assert glob(b"[A-C]", b"b", nocase=True)
    assert glob(b"[\\A]", b"A", nocase=True) and not glob(b"[\\A]", b"a", nocase=True)


_PATTERN_BYTES = st.sampled_from(list(b"ab*?[]^-\\") + [0x80, 0xFF, 0x00])
_KEY_BYTES = st.sampled_from(list(b"ab-]^\\*?[") + [0x80, 0xFF, 0x00])


@settings(max_examples=600, deadline=None)
@given(
    pattern=st.lists(_PATTERN_BYTES, max_size=8).map(bytes),
    key=st.lists(_KEY_BYTES, max_size=8).map(bytes),
)
def test_glob_matches_stringmatchlen(pattern: bytes, key: bytes) -> None:
    if pattern == b"*":
        assert glob(pattern, key)
    else:
        assert glob(pattern, key) == stringmatchlen(pattern, key), (pattern, key)


@settings(max_examples=250, deadline=None)
@given(
    pattern=st.lists(st.sampled_from(list(b"aAbBzZ[]-^*?\\`_")), max_size=7).map(bytes),
    key=st.lists(st.sampled_from(list(b"aAbBzZ[]-^`_")), max_size=6).map(bytes),
)
def test_glob_nocase_matches_stringmatchlen(pattern: bytes, key: bytes) -> None:
    if pattern != b"*":
        assert glob(pattern, key, nocase=True) == stringmatchlen(pattern, key, nocase=True)


def test_glob_has_no_exponential_backtracking() -> None:
    started = time.perf_counter()
    assert not glob(b"*a*a*a*a*a*a*a*a*a*a*a*a*b", b"a" * 5000)
    assert glob(b"*a*a*a*a*a*a*a*a*a*a*a*a*b", b"a" * 5000 + b"b")
    assert time.perf_counter() - started < 1.0


def occupied_by_walk(ks: Keyspace) -> list[int]:
    """The slots HotTier.next_occupied walks (what SCAN and RANDOMKEY skip by)."""
    out, at = [], ks._tier.next_occupied(0)
    while at >= 0:
        out.append(at)
        at = ks._tier.next_occupied(at + 1)
    return out


def occupied_by_count(ks: Keyspace) -> list[int]:
    return [slot for slot in range(SLOT_COUNT) if ks._tier.slot_len(slot)]


@pytest.mark.parametrize("seed", range(3))
def test_slot_occupancy_map_stays_exact(clock: Clock, seed: int) -> None:
    """The per-slot 'holds keys' bytes that SCAN and RANDOMKEY skip by must follow every
    kind of write (a wrong 0 would hide keys from SCAN)."""
    ks = Keyspace(clock=clock)
    rnd = random.Random(seed)
    names = [b"k%d" % i for i in range(60)] + [b"{t}%d" % i for i in range(20)]
    for step in range(3000):
        key, other = rnd.choice(names), rnd.choice(names)
        op = rnd.randrange(10)
        if op < 3:
            ks.set(key, b"v", expire_at=clock.ms + rnd.randrange(1, 50) if rnd.random() < 0.3 else None)
        elif op < 5:
            ks.delete(key)
        elif op == 5:
            ks.rename(key, other)
        elif op == 6 and key != other:
            ks.copy(key, other, replace=rnd.random() < 0.5)
        elif op == 7:
            ks.set_expire(key, clock.ms + rnd.randrange(-5, 20))
        elif op == 8:
            clock.advance(rnd.randrange(10))
            ks.expire_cycle(max_keys=rnd.randrange(1, 5))
        elif step % 500 == 0:
            ks.flush()
        else:
            ks.random_key()
        if step % 100 == 0:
            assert occupied_by_walk(ks) == occupied_by_count(ks)
            assert len(ks) == sum(ks._tier.slot_len(slot) for slot in range(SLOT_COUNT))
            live = {k for k in names if ks.peek(k) is not None}
            assert set(full_scan(ks, count=3)) == live
    assert occupied_by_walk(ks) == occupied_by_count(ks)


def test_lru_eviction_keeps_the_keys_in_use_through_churn(ks: Keyspace) -> None:
    """allkeys-lru under churn: 100,000 new keys stream through room for ~10,000 while a
    hot set of 1,000 is read between them. Sampled LRU keeps the hot set: the samples
    are drawn from all keys in memory, so a slot that churn left small is not emptied of
    its recent keys while large slots keep old ones (drawing slots uniformly lost a large
    share of the hot set here). Keys fall in 64 slots, so every slot churns many times."""
    random.seed(7)
    hot = [b"{%d}hot%d" % (n % 64, n) for n in range(1000)]
    for key in hot:
        ks.set(key, b"h" * 100)
    ks.set_memory_limit(ks.memory_used() * 10, "allkeys-lru")
    for n in range(100_000):
        ks.set(b"{%d}churn%d" % (n % 64, n), b"c" * 100)
        if n % 100 == 99:
            ks.enforce_memory_limit()
        if n % 2000 == 1999:
            for key in hot:
                ks.lookup(key)
    ks.enforce_memory_limit()
    assert not ks.over_memory_limit() and 8_000 < len(ks) < 12_000
    kept = sum(1 for key in hot if key in ks._tier)
    assert kept >= 980, kept
