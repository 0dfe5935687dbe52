"""A hypothesis state machine: the keyspace filter has no false negative, ever.

The keyspace runs over a real store in a temporary directory (hot tier, cold tier,
keyspace cuckoo filter); a plain dict is the model. Rules: SET (new key and overwrite),
DEL, EXPIRE (future and past), time passing with the active expiry cycle, eviction of
values from memory, memtable flush and compaction, and a restart (close the store,
reopen it, rebuild the filter). After every step: every live key of the model is
"maybe" in the filter and reads back with its value, and once every key has been read
(lazy expiry) the live-key count is exact.
"""

from __future__ import annotations

import shutil
import tempfile

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.test_tiered_keyspace import Clock, Tiered

KEYS = st.sampled_from([b"k%d" % i for i in range(12)] + [b"{tag}%d" % i for i in range(4)])
VALUES = st.binary(min_size=0, max_size=300)


class KeyspaceFilterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="hc-filter-machine-")
        self.clock = Clock()
        self.t = Tiered(self.dir + "/store", self.clock, maxmemory=150_000)
        self.model: dict[bytes, tuple[bytes, int | None]] = {}

    def _live(self) -> dict[bytes, tuple[bytes, int | None]]:
        now = self.clock()
        return {k: v for k, v in self.model.items() if v[1] is None or v[1] > now}

    @rule(key=KEYS, value=VALUES, ttl=st.one_of(st.none(), st.integers(1, 50)))
    def set(self, key: bytes, value: bytes, ttl: int | None) -> None:
        at = None if ttl is None else self.clock() + ttl
        self.t.ks.set(key, value, expire_at=at)
        self.model[key] = (value, at)

    @rule(key=KEYS)
    def delete(self, key: bytes) -> None:
        assert self.t.ks.delete(key) == (key in self._live())
        self.model.pop(key, None)

    @rule(key=KEYS, delta=st.integers(-5, 60))
    def expire(self, key: bytes, delta: int) -> None:
        live = self._live()
        at = self.clock() + delta
        assert self.t.ks.set_expire(key, at) == (key in live)
        if key in live:
            if delta <= 0:
                del self.model[key]
            else:
                self.model[key] = (live[key][0], at)

    @rule(ms=st.integers(0, 30), budget=st.integers(1, 10))
    def time_passes(self, ms: int, budget: int) -> None:
        self.clock.ms += ms
        self.t.ks.expire_cycle(max_keys=budget)

    @rule()
    def evict_from_memory(self) -> None:
        self.t.ks.set_memory_limit(1, "allkeys-lru")  # everything leaves memory ...
        self.t.ks.enforce_memory_limit()
        self.t.ks.set_memory_limit(150_000, "allkeys-lru")  # ... and may come back

    @rule()
    def flush_and_compact(self) -> None:
        self.t.storage.freeze()
        self.t.run_background_jobs()

    @rule()
    def restart(self) -> None:
        self.t.restart()

    @invariant()
    def no_false_negative_and_exact_count(self) -> None:
        live = self._live()
        for key, (value, at) in live.items():
            assert self.t.ks.cold.might_exist(key), f"false negative for {key!r}"
            assert self.t.ks.peek(key) == value
            assert self.t.ks.expire_at(key) == at
        # DBSIZE counts expired keys nobody has reaped yet, as Redis's does: read every
        # model key (which reaps the expired ones), then the count must be exact.
        for key in self.model:
            self.t.ks.peek(key)
        assert len(self.t.ks) == len(live)

    def teardown(self) -> None:
        self.t.close()
        shutil.rmtree(self.dir, ignore_errors=True)


KeyspaceFilterMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_keyspace_filter_machine = KeyspaceFilterMachine.TestCase
