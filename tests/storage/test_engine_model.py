"""The engine against a dict model: random puts, deletes, TTLs, FLUSHALLs, flushes,
compactions, clean reopens and crashes; every read and scan must agree with the model."""

from __future__ import annotations

import shutil
import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hypercache.keyslot import key_slot
from hypercache.storage import Storage, run_job
from hypercache.storage.records import internal_key, user_key

from .conftest import Clock, assert_levels_sound, crash, run_jobs, small_options

KEYS = [b"", b"a", b"b", b"c", b"\xff\x00", b"long" * 20] + [b"key:%d" % i for i in range(12)] + [
    b"{t}x", b"{t}y", b"{t}z"]
TAG_SLOT = key_slot(b"t")


class StoreModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="hc-model-")
        self.clock = Clock()
        # tiny sizes, so that a few dozen writes reach L3 and split outputs; several
        # compactions may be out at once (concurrent_jobs)
        self.opts = small_options(self.clock, memtable_size=1500, block_size=128, target_file_size=400,
                                  level_base_bytes=400, level_multiplier=2, max_compactions=4)
        self.store = Storage.open(self.dir, self.opts)
        self.model: dict[bytes, tuple[bytes, int | None]] = {}
        self.durable: dict[bytes, tuple[bytes, int | None]] = {}  # as of the last write_pending

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def live(self) -> dict[bytes, bytes]:
        now = self.clock.now
        return {k: v for k, (v, exp) in self.model.items() if exp is None or exp > now}

    @rule(key=st.sampled_from(KEYS), value=st.binary(max_size=120), ttl=st.none() | st.integers(1, 50))
    def put(self, key, value, ttl):
        expire_at = None if ttl is None else self.clock.now + ttl
        self.store.put(key, 1, value, expire_at)
        self.model[key] = (value, expire_at)

    @rule(start=st.integers(0, len(KEYS) - 1), n=st.integers(5, 40), size=st.integers(0, 60))
    def put_many(self, start, n, size):
        for i in range(n):
            key = KEYS[(start + i) % len(KEYS)]
            self.put(key, b"%d:" % i + b"m" * size, None)
        self.batch_end()

    @rule(key=st.sampled_from(KEYS))
    def delete(self, key):
        self.store.delete(key)
        self.model.pop(key, None)

    @rule()
    def batch_end(self):
        self.store.write_pending()
        self.durable = dict(self.model)

    @rule()
    def flush_all(self):
        self.store.flush_all()
        self.model.clear()
        self.durable = {}

    @rule(ms=st.integers(1, 30))
    def tick(self, ms):
        self.clock.now += ms

    @rule()
    def freeze_and_flush(self):
        self.store.freeze()
        self.durable = dict(self.model)
        job = self.store.next_job(compaction=False)
        if job is not None:
            self.store.install(run_job(job))

    @rule()
    def background(self):
        run_jobs(self.store)

    @rule(order=st.permutations(range(4)), fail=st.integers(0, 4))
    def concurrent_jobs(self, order, fail):
        """Several jobs out at once (as with compaction_threads > 1), finished in any
        order, one of them maybe failing."""
        jobs = []
        while len(jobs) < 4 and (job := self.store.next_job()) is not None:
            jobs.append(job)
        results = [run_job(j) for j in jobs]
        for i in order:
            if i < len(jobs):
                if i == fail:
                    self.store.abandon(jobs[i])
                else:
                    self.store.install(results[i])

    @rule(abandon=st.booleans())
    def job_raced_by_flushall(self, abandon):
        self.store.freeze()
        job = self.store.next_job()
        if job is None:
            return
        result = run_job(job)
        self.flush_all()
        if abandon:
            self.store.abandon(job)
        else:
            self.store.install(result)

    @rule()
    def reopen(self):
        self.store.close()
        self.store = Storage.open(self.dir, self.opts)
        self.durable = dict(self.model)

    @rule()
    def snapshot(self):
        dest = tempfile.mkdtemp(prefix="hc-snap-")
        shutil.rmtree(dest)
        self.store.snapshot(dest)
        self.durable = dict(self.model)  # the snapshot wrote the WAL buffer out
        snap = Storage.open(dest, self.opts)
        try:
            live = self.live()
            assert {user_key(k): r.value for k, r in snap.iter_range()} == live
        finally:
            snap.close()
            shutil.rmtree(dest, ignore_errors=True)

    @rule()
    def crash_and_recover(self):
        crash(self.store)
        self.store = Storage.open(self.dir, self.opts)
        self.model = dict(self.durable)

    @invariant()
    def reads_agree(self):
        live = self.live()
        for key in KEYS:
            rec = self.store.get(key)
            assert (rec.value if rec else None) == live.get(key), key
        got = [k for k, _ in self.store.iter_range()]
        assert got == sorted(internal_key(k) for k in live)
        tagged = sorted(k for k in live if key_slot(k) == TAG_SLOT)
        assert [k for k, _ in self.store.iter_slot(TAG_SLOT)] == tagged
        assert_levels_sound(self.store)


StoreModel.TestCase.settings = settings(
    max_examples=70, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestStoreModel = StoreModel.TestCase
