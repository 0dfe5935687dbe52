"""The keyspace: bytes keys to typed values, with expiry and change signals.

Layout (chosen for the storage engine and the cluster that come after it):
- the values in memory are in the native HotTier (native/src/hc_hot.h): keys and
  string values in one allocation each, outside Python objects, in one table per
  cluster slot. A slot is then a unit that SCAN walks with a stateless cursor, that
  CLUSTER COUNTKEYSINSLOT counts and that migration moves, and it maps one to one onto
  the slot-prefixed key ranges of the LSM store; SCAN and RANDOMKEY jump over empty
  slots at memchr speed (HotTier.next_occupied). Each entry carries a recency tick for
  LRU eviction and a flag for "has a TTL", which the native lane reads;
- expiry times (ms since the epoch) in their own dict, as Redis does, so keys
  without a TTL pay nothing for it, plus a heap that the active expiry cycle pops;
- a string value is plain `bytes`; other types are objects with a `type_name`.

Every mutation goes through `_store` or `_remove`, which bump the version, and tell
WATCHing clients and the write listener about it.

With a cold tier (coldtier.py: the LSM store plus the keyspace cuckoo filter) the hot
tier is only: a cache of recently used values. Every write goes to the
store first; a read that misses memory asks the filter, then the store, and keeps what
it found. Past the memory limit the least recently used values leave memory only. The
live-key count and the expiry map then cover the whole store (the expiry map stays in
memory for every key with a TTL, so the active expiry cycle reaches cold keys too).
Without a cold tier (a pure cache) eviction deletes, as Redis's policies do.
"""

from __future__ import annotations

import copy as _copy
import heapq
import random
import time
from typing import TYPE_CHECKING, Callable, Iterator, Protocol

from hypercache.errors import CommandError, WrongTypeError
from hypercache.keyslot import SLOT_COUNT
from hypercache.native import HotTier
from hypercache.keyspace.glob import compile_glob
from hypercache.keyspace.values import ENTRY_OVERHEAD, memory_of

if TYPE_CHECKING:
    from hypercache.keyspace.coldtier import ColdTier


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch (what EXPIREAT and PTTL speak)."""
    return time.time_ns() // 1_000_000


class Watcher(Protocol):
    """Something that wants to know when a watched key changes (a MULTI client)."""

    watch_dirty: bool


class OutOfMemoryError(Exception):
    """Over the memory limit and the policy allows no eviction (Redis's -OOM)."""


# Keys an LRU eviction compares by default (maxmemory-samples), drawn from the whole
# hot tier. Redis's default is 5, with a pool of good candidates kept between evictions;
# without the pool 5 kept 92% of a hot set through churn where 8 keep all of it
# (tests/test_keyspace.py).
EVICTION_SAMPLES = 8
MAX_EVICTION_SAMPLES = 64  # HotTier.sample_oldest's limit

EVICTION_POLICIES = (
    "noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
    "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
)


def type_name(value: object) -> str:
    """Redis's TYPE name of a stored value."""
    if type(value) is bytes:
        return "string"
    return getattr(value, "type_name", "none")


class Keyspace:
    """A database of keys (Redis's db 0): in memory, or a hot tier over a cold tier."""

    def __init__(self, clock: Callable[[], int] = now_ms) -> None:
        self._clock = clock
        self._tier = HotTier()  # the values in memory
        self._size = 0  # live keys (memory and store)
        self._expires: dict[bytes, int] = {}
        self._expiry_heap: list[tuple[int, bytes]] = []
        self._watchers: dict[bytes, list[Watcher]] = {}
        self._cold: ColdTier | None = None
        self.used_bytes = 0  # what the hot tier holds (values.memory_of per key)
        self.maxmemory = 0  # bytes; 0 = no limit
        self.policy = "noeviction"
        self.eviction_samples = EVICTION_SAMPLES
        self.version = 0  # bumped by every mutation
        self.hits = 0
        self.misses = 0
        self.expired_keys = 0
        self.evicted_keys = 0  # deleted by the eviction policy (pure cache)
        self.unloaded_keys = 0  # values dropped from memory, still in the store
        self.loaded_keys = 0  # values read back from the store into memory
        # Called with (key, value-or-None, expire_at-or-None) after each mutation.
        self.write_listener: Callable[[bytes, object, int | None], None] | None = None

    # ---- set-up ------------------------------------------------------------------------

    def attach_cold_tier(self, cold: ColdTier, live_keys: int, expires: dict[bytes, int]) -> None:
        """Put the keyspace over a store (at start-up, before any command runs):
        `live_keys` and `expires` are what `cold.rebuild()` found there."""
        self._tier.clear()
        self.used_bytes = 0
        self._cold = cold
        self._size = live_keys
        self._expires = expires
        self._rebuild_expiry_heap()

    @property
    def cold(self) -> ColdTier | None:
        return self._cold

    def set_memory_limit(self, maxmemory: int, policy: str, samples: int = EVICTION_SAMPLES) -> None:
        """The limit, Redis's policy name and the keys an LRU eviction compares
        (CONFIG SET maxmemory / maxmemory-policy / maxmemory-samples)."""
        if policy not in EVICTION_POLICIES:
            raise ValueError(f"unknown maxmemory policy {policy!r}")
        if samples < 1:
            raise ValueError(f"maxmemory samples {samples} below 1")
        self.maxmemory = maxmemory
        self.policy = policy
        # Redis takes up to INT_MAX; past 64 the oldest of a sample barely moves, while
        # every sample costs an eviction a cache miss
        self.eviction_samples = min(samples, MAX_EVICTION_SAMPLES)

    # ---- reads -------------------------------------------------------------------------

    def _fetch(self, key: bytes) -> object | None:
        """The live value of `key`: memory first, then the store (which it stays in)."""
        value = self._tier.get(key)  # (a use of the key: its LRU tick moves on)
        if value is None:
            if self._cold is None:
                return None
            if self._expires and self._expired(key):
                return None
            value = self._cold.load(key)
            if value is None:
                return None
            self._tier.set(key, value, key in self._expires)
            self.loaded_keys += 1
            self.used_bytes += memory_of(key, value)
            return value
        if self._expires and self._expired(key):
            return None
        return value

    def hot_tier_view(self, reply: bytearray, resp3: bool, totals: list[int], deltas: list[int]) -> tuple:
        """The native lane's view of the keyspace (commands/fastlane.py, hc_resp.h): the
        hot tier, the expiry map, the reply buffer, the keyspace filter (None without a
        store), the protocol, the running sums the lane adds what it answers to, and the
        write lane's view (hot_tier_write_view over `deltas`, None while closed). The
        lane answers a key only where `_fetch` would return a bytes value from memory,
        or None without reading the store (no TTL entry, and the filter rules the key
        out)."""
        cold = self._cold
        return (self._tier, self._expires, reply, None if cold is None else cold.filter, resp3, totals,
                self.hot_tier_write_view(deltas))

    def hot_tier_shared_view(self, totals: list[int]) -> tuple:
        """hot_tier_view without a client's part (its reply buffer and protocol): the
        keyspace's share of native lane_round's argument."""
        cold = self._cold
        return (self._tier, self._expires, None if cold is None else cold.filter, totals)

    def hot_tier_write_view(self, deltas: list[int]) -> tuple | None:
        """The native write lane's argument (lane_round's `writes`, hc_resp.h), or None
        while every write must take the ordinary path: a pure cache under a memory limit
        (-OOM is decided write by write; over a store nothing is refused and values
        leave memory after the round, as for the ordinary path), while a WATCH or a
        write listener must see each write, or while the store refuses writes. A key
        not in memory that the filter cannot rule out is asked about through
        ColdTier.contains, as `_store` asks. The lane adds what it changed to `deltas`;
        apply_lane_writes must take them in right after each call."""
        if (self.maxmemory and self._cold is None) or self._watchers or self.write_listener is not None:
            return None
        cold = self._cold
        if cold is None:
            return (None, None, deltas, 0, ENTRY_OVERHEAD, None)
        view = cold.lane_write_view()
        if view is None:
            return None
        memtable, wal, last_seq = view
        return (memtable, wal, deltas, last_seq, ENTRY_OVERHEAD, cold.contains)

    def apply_lane_writes(self, deltas: list[int]) -> None:
        """Take in what the native write lane did ([writes, user bytes, new live keys,
        hot-tier bytes, filter negatives]), then zero `deltas`."""
        writes, user_bytes, live, used, negatives = deltas
        self._size += live
        self.used_bytes += used
        self.version += writes
        cold = self._cold
        if cold is not None:
            cold.storage.apply_lane_writes(writes, user_bytes)
            cold.negative_lookups += negatives
        deltas[:] = (0,) * len(deltas)

    def count_lane_reads(self, keys: int, absent: int) -> None:
        """Count `keys` reads the lane answered, `absent` of them nulls, as `lookup`
        and the cold tier count theirs."""
        self.hits += keys - absent
        self.misses += absent
        if absent and self._cold is not None:
            self._cold.negative_lookups += absent

    def lookup(self, key: bytes) -> object | None:
        """The live value of `key`, or None; counts a keyspace hit or miss."""
        value = self._fetch(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def peek(self, key: bytes) -> object | None:
        """The live value of `key` without touching the hit/miss statistics."""
        return self._fetch(key)

    def get_string(self, key: bytes) -> bytes | None:
        """The string at `key`, None if absent; WRONGTYPE if it holds another type."""
        value = self.lookup(key)
        if value is None or type(value) is bytes:
            return value  # type: ignore[return-value]
        raise WrongTypeError()

    def get_string_for_write(self, key: bytes) -> bytes | None:
        """As get_string, for a read that precedes a write (no hit/miss counted)."""
        value = self.peek(key)
        if value is None or type(value) is bytes:
            return value  # type: ignore[return-value]
        raise WrongTypeError()

    def exists(self, key: bytes) -> bool:
        if self._cold is not None and key not in self._tier:
            if self._expires and self._expired(key):
                return False
            return self._cold.contains(key)  # no need to bring the value into memory
        return self.peek(key) is not None

    def might_exist(self, key: bytes) -> bool:
        """The keyspace filter's answer (CF.EXISTS key): False = certainly absent.
        Without a store the keyspace is exact, and answers exactly."""
        if self._cold is None:
            return self.exists(key)
        return key in self._tier or self._cold.might_exist(key)

    def expire_at(self, key: bytes) -> int | None:
        """The key's expiry in ms since the epoch, or None if it has none (or is absent)."""
        if not self.exists(key):
            return None
        return self._expires.get(key)

    def now(self) -> int:
        """The keyspace's clock, ms since the epoch (injected in tests): what TTLs are
        measured against, so commands computing a relative expiry should read it too."""
        return self._clock()

    def __len__(self) -> int:
        return self._size

    @property
    def expires_count(self) -> int:
        return len(self._expires)

    @property
    def hot_keys(self) -> int:
        """Keys whose value is in memory."""
        return len(self._tier)

    @property
    def writes_refused(self) -> str | None:
        """The store's MISCONF line while it cannot write, else None."""
        return None if self._cold is None else self._cold.writes_refused

    # ---- writes ------------------------------------------------------------------------

    def set(
        self, key: bytes, value: object, expire_at: int | None = None, keep_ttl: bool = False
    ) -> None:
        """Store `value` at `key`. Without keep_ttl the old TTL is replaced by `expire_at`."""
        if keep_ttl and expire_at is None:
            # Every TTL is in _expires, so a key it lacks keeps none, with no store read
            # (expire_at() would ask whether the key exists first); a past one is reaped.
            expire_at = self._expires.get(key)
            if expire_at is not None and self._expired(key):
                expire_at = None
        self._store(key, value, expire_at)

    def delete(self, key: bytes) -> bool:
        """Remove `key`; True if it existed (and had not expired)."""
        if not self.exists(key):
            return False
        self._remove(key)
        return True

    def set_expire(self, key: bytes, expire_at: int) -> bool:
        """Give an existing key a new expiry time; a time in the past deletes it."""
        value = self.peek(key)
        if value is None:
            return False
        if expire_at <= self._clock():
            self._remove(key)  # Redis turns an EXPIRE into the past into a DEL
        else:
            self._store(key, value, expire_at)
        return True

    def persist(self, key: bytes) -> bool:
        """Remove the key's TTL; True if it had one."""
        if key not in self._expires:
            return False
        value = self.peek(key)
        if value is None:
            return False
        self._store(key, value, None)
        return True

    def rename(self, src: bytes, dst: bytes) -> bool:
        """Move the value at `src` to `dst` with its TTL, replacing whatever `dst` held.

        False if `src` is absent. Renaming a key to itself changes nothing (and, as in
        Redis, signals nobody). `dst` is written before `src` is removed, so a write
        that fails half way has duplicated the key rather than lost it."""
        value = self.peek(src)
        if value is None:
            return False
        if src == dst:
            return True
        expire_at = self._expires.get(src)
        self._store(dst, value, expire_at)
        self._remove(src)
        return True

    def copy(self, src: bytes, dst: bytes, replace: bool = False) -> bool:
        """Copy the value at `src` (and its TTL) to `dst`; True if copied.

        False if `src` is absent, or if `dst` exists and not `replace`. The source is
        read as COPY reads it in Redis (a keyspace hit or miss). A string is immutable
        bytes and is shared; any other value is copied (its `copy()` if it has one)."""
        if src == dst:
            raise ValueError("copy onto itself")
        value = self.lookup(src)
        if value is None:
            return False
        if not replace and self.exists(dst):
            return False
        if type(value) is not bytes:
            duplicate = getattr(value, "copy", None)
            value = duplicate() if callable(duplicate) else _copy.deepcopy(value)
        self._store(dst, value, self._expires.get(src))
        return True

    def flush(self) -> None:
        """Delete every key (FLUSHDB / FLUSHALL)."""
        if self._cold is not None:
            self._cold.flush()  # first: if the store refuses, nothing changes
        for key in list(self._watchers):
            self._signal(key)
        self._tier.clear()
        self._size = 0
        self.used_bytes = 0
        self._expires.clear()
        self._expiry_heap.clear()
        self.version += 1
        if self.write_listener is not None:
            self.write_listener(b"", None, None)

    # ---- iteration ---------------------------------------------------------------------

    def keys(self, pattern: bytes = b"*") -> list[bytes]:
        """Every live key matching the glob pattern (KEYS)."""
        match = compile_glob(pattern)
        now = self._clock()
        expires = self._expires
        if self._cold is not None:
            return [k for k, _ in self._cold.iter_keys()
                    if match(k) and not (k in expires and expires[k] <= now)]
        out = []
        tier = self._tier
        slot_no = tier.next_occupied(0)
        while slot_no >= 0:
            for key in tier.slot_keys(slot_no):
                if match(key) and not (key in expires and expires[key] <= now):
                    out.append(key)
            slot_no = tier.next_occupied(slot_no + 1)
        return out

    def scan(
        self,
        cursor: int,
        count: int = 10,
        pattern: bytes | None = None,
        type_filter: str | None = None,
    ) -> tuple[int, list[bytes]]:
        """One SCAN step. The cursor is the next slot to visit (0 = start / done).

        Whole slots are returned at a time, so a key present for the whole scan is
        returned exactly once even when keys are added or removed between calls.
        """
        if not self._size:
            return 0, []
        match = compile_glob(pattern) if pattern is not None and pattern != b"*" else None
        if type_filter is not None:
            type_filter = type_filter.lower()  # Redis compares type names case-blind
        slot_no = cursor if 0 <= cursor < SLOT_COUNT else SLOT_COUNT
        if self._cold is not None:
            return self._scan_cold(slot_no, count, match, type_filter)
        out: list[bytes] = []
        visited = 0
        now = self._clock()
        expires = self._expires
        tier = self._tier
        while visited < count:
            slot_no = tier.next_occupied(slot_no)  # empty slots cost nothing to skip
            if slot_no < 0:
                slot_no = SLOT_COUNT
                break
            if type_filter is None:
                entries = [(key, None) for key in tier.slot_keys(slot_no)]
            else:
                entries = tier.slot_items(slot_no)
            slot_no += 1
            for key, value in entries:
                visited += 1
                if key in expires and expires[key] <= now:
                    continue
                if match is not None and not match(key):
                    continue
                if type_filter is not None and type_name(value) != type_filter:
                    continue
                out.append(key)
        if slot_no < SLOT_COUNT and tier.next_occupied(slot_no) < 0:
            slot_no = SLOT_COUNT  # only empty slots are left: this call ends the scan
        return (0 if slot_no >= SLOT_COUNT else slot_no), out

    def _scan_cold(self, slot_no: int, count: int, match: Callable[[bytes], bool] | None,
                   type_filter: str | None) -> tuple[int, list[bytes]]:
        from hypercache.keyspace.coldtier import kind_type_name

        assert self._cold is not None
        if slot_no >= SLOT_COUNT:
            return 0, []
        next_slot, found = self._cold.scan_slots(slot_no, count)
        now = self._clock()
        expires = self._expires
        out = [k for k, kind in found
               if not (k in expires and expires[k] <= now)
               and (match is None or match(k))
               and (type_filter is None or kind_type_name(kind) == type_filter)]
        return (0 if next_slot >= SLOT_COUNT else next_slot), out

    def random_key(self) -> bytes | None:
        """A random live key, or None when the keyspace is empty (RANDOMKEY)."""
        if not self._size:
            return None
        if self._cold is not None:
            for _ in range(100):
                key = self._cold.random_key()
                if key is None or self.exists(key):  # an expired key is deleted here
                    return key
            return None
        while self._size:
            key = self._tier.sample_key(random.getrandbits(64))
            if key is not None and self.peek(key) is not None:  # an expired key is deleted here
                return key
        return None

    def iter_keys(self) -> Iterator[bytes]:
        """Every live key, in slot order (a snapshot per slot, safe against mutation)."""
        if self._cold is not None:
            now, expires = self._clock(), self._expires
            for key, _ in self._cold.iter_keys():
                if not (key in expires and expires[key] <= now):
                    yield key
            return
        tier = self._tier
        slot_no = tier.next_occupied(0)
        while slot_no >= 0:
            for key in tier.slot_keys(slot_no):
                if self.peek(key) is not None:
                    yield key
            slot_no = tier.next_occupied(slot_no + 1)

    def slot_keys(self, slot: int, count: int | None = None) -> list[bytes]:
        """The keys of one slot (CLUSTER GETKEYSINSLOT, migration)."""
        if self._cold is not None:
            return self._cold.slot_keys(slot, count if count is not None else self._size)
        return self._tier.slot_keys(slot, -1 if count is None else count)

    def slot_size(self, slot: int) -> int:
        """How many keys one slot holds, expired ones not yet removed included
        (CLUSTER COUNTKEYSINSLOT)."""
        if self._cold is not None:
            return self._cold.slot_size(slot)
        return self._tier.slot_len(slot)

    # ---- memory limit ------------------------------------------------------------------

    def memory_used(self) -> int:
        """What counts against maxmemory: the hot tier, plus, when there is a store, its
        memtables, its tables' index and bloom blocks and the keyspace filter."""
        if self._cold is None:
            return self.used_bytes
        return self.used_bytes + self._cold.memory_bytes()

    def over_memory_limit(self) -> bool:
        return self.maxmemory > 0 and self.memory_used() > self.maxmemory

    def enforce_memory_limit(self, max_keys: int = 10_000) -> int:
        """Bring memory under maxmemory (the server calls this between batches, as Redis
        evicts before each command); returns how many values left memory. Over the limit
        with nothing evictable, writes get -OOM (see `refuses_writes_for_memory`)."""
        if not self.maxmemory:
            return 0
        done = 0
        while done < max_keys and self.memory_used() > self.maxmemory:
            key = self._eviction_candidate()
            if key is None:
                break
            if self._cold is not None:
                self._unload(key)
            else:
                self._remove(key)
                self.evicted_keys += 1
            done += 1
        return done

    def refuses_writes_for_memory(self) -> bool:
        """True when a denyoom command must get -OOM: a pure cache over the limit whose
        policy cannot evict (noeviction, or volatile-* with no key that has a TTL). Over
        a store, values leave memory instead, and nothing is refused."""
        if self._cold is not None or not self.over_memory_limit():
            return False
        return self.policy == "noeviction" or (self.policy.startswith("volatile") and not self._expires)

    def _eviction_candidate(self) -> bytes | None:
        """A key whose value may leave memory, by the policy (approximated as Redis
        does: the least recently used of a few keys sampled from the whole tier)."""
        if not len(self._tier):
            return None
        policy = self.policy
        if self._cold is None:
            if policy == "noeviction":
                return None
            if policy.startswith("volatile"):
                return self._volatile_candidate(policy)
        if policy.endswith("random"):
            return self._tier.sample_key(random.getrandbits(64))
        return self._tier.sample_oldest(random.getrandbits(64), self.eviction_samples)

    def _volatile_candidate(self, policy: str) -> bytes | None:
        """A key with a TTL: the soonest to expire (volatile-ttl) or a random one."""
        heap = self._expiry_heap
        expires = self._expires
        for _ in range(64):
            if not heap:
                return None
            at, key = heap[0] if policy == "volatile-ttl" else heap[random.randrange(len(heap))]
            if expires.get(key) == at:
                return key
            if policy == "volatile-ttl":
                heapq.heappop(heap)  # a stale entry: drop it and look again
        return None

    def _unload(self, key: bytes) -> None:
        """Drop a value from memory only; the store still holds it."""
        value = self._tier.pop(key)  # (its slot's table shrinks as keys leave)
        self.used_bytes -= memory_of(key, value)
        self.unloaded_keys += 1

    # ---- expiry ------------------------------------------------------------------------

    def expire_cycle(self, max_keys: int = 2000) -> int:
        """Delete up to `max_keys` keys whose time has passed; returns how many.

        The heap may hold stale entries (a TTL changed or removed since it was pushed):
        an entry counts only if it still matches the key's current expiry.
        """
        heap = self._expiry_heap
        expires = self._expires
        now = self._clock()
        removed = 0
        while heap and heap[0][0] <= now and removed < max_keys:
            at, key = heapq.heappop(heap)
            if expires.get(key) == at:
                self._remove(key)
                self.expired_keys += 1
                removed += 1
        if len(heap) > 2 * len(expires) + 1024:
            self._rebuild_expiry_heap()
        return removed

    def _rebuild_expiry_heap(self) -> None:
        self._expiry_heap = [(at, key) for key, at in self._expires.items()]
        heapq.heapify(self._expiry_heap)

    def _expired(self, key: bytes) -> bool:
        """Lazy expiry: delete `key` now if its time has passed."""
        at = self._expires.get(key)
        if at is not None and at <= self._clock():
            try:
                self._remove(key)
            except CommandError:
                return True  # the store refuses writes: expired all the same, reaped later
            self.expired_keys += 1
            return True
        return False

    # ---- WATCH -------------------------------------------------------------------------

    def watch(self, key: bytes, watcher: Watcher) -> None:
        self._watchers.setdefault(key, []).append(watcher)

    def unwatch(self, key: bytes, watcher: Watcher) -> None:
        watchers = self._watchers.get(key)
        if watchers is not None:
            try:
                watchers.remove(watcher)
            except ValueError:
                pass
            if not watchers:
                del self._watchers[key]

    def _signal(self, key: bytes) -> None:
        for watcher in self._watchers.get(key, ()):
            watcher.watch_dirty = True

    # ---- the two mutation primitives ---------------------------------------------------

    def _store(self, key: bytes, value: object, expire_at: int | None) -> None:
        tier = self._tier
        cold = self._cold
        old = tier.get(key)
        if cold is not None:
            # Reap an expired key first, so the count and the filter agree with the store.
            if self._expires and old is None and self._expired(key):
                pass
            live_before = old is not None or cold.contains(key)
            cold.write(key, value, expire_at)  # first: if the store refuses, nothing changes
            if not live_before:
                cold.became_live(key)
                self._size += 1
        elif old is None:
            self._size += 1
        if old is not None:
            self.used_bytes -= memory_of(key, old)
        # (a write is a use of the key, as Redis's writes update its LRU clock)
        tier.set(key, value, expire_at is not None)
        self.used_bytes += memory_of(key, value)
        if expire_at is None:
            if self._expires:
                self._expires.pop(key, None)
        else:
            self._expires[key] = expire_at
            heapq.heappush(self._expiry_heap, (expire_at, key))
        self.version += 1
        if self._watchers:
            self._signal(key)
        if self.write_listener is not None:
            self.write_listener(key, value, expire_at)

    def _remove(self, key: bytes) -> None:
        """Delete a live key (callers know it is counted as live)."""
        if self._cold is not None:
            self._cold.delete(key)  # first: if the store refuses, nothing changes
            self._cold.stopped_live(key)
        old = self._tier.pop(key)
        if old is not None:
            self.used_bytes -= memory_of(key, old)
        if old is not None or self._cold is not None:
            self._size -= 1
        self._expires.pop(key, None)
        self.version += 1
        if self._watchers:
            self._signal(key)
        if self.write_listener is not None:
            self.write_listener(key, None, None)

