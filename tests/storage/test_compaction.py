"""Compaction: newest version wins, tombstones and expired entries go when safe, disk
use stays bounded under overwrites, and the picker's leveled policy."""

from __future__ import annotations

import os

import pytest

from hypercache.storage import CompactionJob, Storage, StorageOptions, run_job
from hypercache.storage.compaction import job_from_json, job_to_json, merge_newest
from hypercache.storage.manifest import Version
from hypercache.storage.picker import Busy, pick
from hypercache.storage.records import Record
from hypercache.storage.sstable import TableBuilder, TableMeta, TableReader

from .conftest import assert_levels_sound, run_jobs, small_options


def table(directory, number, items):
    b = TableBuilder(os.path.join(directory, "%06d.sst" % number), number, block_size=128)
    for k, r in sorted(items):
        b.add(k, r)
    return b.finish()


def R(value, seq, expire=None, kind=1):
    return Record(kind, value, expire, seq)


def compact(d, inputs, drop, now=1000, target=1 << 20):
    job = CompactionJob(1, d, 0, 1, inputs, list(range(100, 120)), target, drop, now, 128, 10)
    job = job_from_json(job_to_json(job))  # what a child process would get
    result = run_job(job)
    out = []
    for m in result.outputs:
        r = TableReader(os.path.join(d, "%06d.sst" % m.number))
        out += list(r.iter_range())
        r.close()
    return result, dict(out)


def test_merge_newest():
    a = iter([(b"a", R(b"1", 1)), (b"c", R(b"1", 3))])
    b = iter([(b"a", R(b"2", 5)), (b"b", R(b"2", 2))])
    assert [(k, r.value) for k, r in merge_newest([a, b])] == [(b"a", b"2"), (b"b", b"2"), (b"c", b"1")]


def test_shadowed_versions_dropped_tombstones_kept_above_bottom(tmp_path):
    d = str(tmp_path)
    table(d, 1, [(b"a", R(b"old", 1)), (b"b", R(b"old", 2)), (b"c", R(b"x", 3, expire=500))])
    table(d, 2, [(b"a", R(b"new", 10)), (b"b", R(b"", 11, kind=0))])
    result, out = compact(d, [(0, 2), (1, 1)], drop=False)
    assert out[b"a"].value == b"new"
    assert out[b"b"].kind == 0  # a tombstone must stay: a deeper level may hold b
    assert out[b"c"].kind == 0 and out[b"c"].value == b""  # expired -> tombstone
    assert result.entries_in == 5 and result.entries_out == 3


def test_bottom_level_drops_tombstones_and_expired(tmp_path):
    d = str(tmp_path)
    table(d, 1, [(b"a", R(b"old", 1)), (b"b", R(b"old", 2)), (b"c", R(b"x", 3, expire=500)),
                 (b"d", R(b"y", 4, expire=5000))])
    table(d, 2, [(b"a", R(b"new", 10)), (b"b", R(b"", 11, kind=0))])
    result, out = compact(d, [(0, 2), (1, 1)], drop=True)
    assert set(out) == {b"a", b"d"} and out[b"d"].expire_at == 5000


def test_everything_dropped_gives_no_table(tmp_path):
    d = str(tmp_path)
    table(d, 1, [(b"a", R(b"", 3, kind=0))])
    result, out = compact(d, [(1, 1)], drop=True)
    assert result.outputs == [] and out == {}


def test_outputs_split_at_target_size(tmp_path):
    d = str(tmp_path)
    table(d, 1, [(b"k%04d" % i, R(b"v" * 50, i + 1)) for i in range(400)])
    result, out = compact(d, [(1, 1)], drop=True, target=8000)
    assert len(result.outputs) >= 2 and len(out) == 400
    metas = result.outputs
    assert all(a.largest < b.smallest for a, b in zip(metas, metas[1:]))


def meta(n, lo, hi, size=100, **kw):
    base = dict(entries=10, tombstones=0, min_seq=n, max_seq=n)
    base.update(kw)
    return TableMeta(n, size, lo, hi, **base)


def test_picker_l0_trigger_and_busy():
    opts = small_options()
    v = Version([[meta(1, b"a", b"k"), meta(2, b"c", b"z")], [meta(3, b"a", b"b"), meta(4, b"x", b"y")]])
    plan = pick(v, opts, Busy(set(), []), 0, {})
    assert plan.level == 0 and {t.number for _, t in plan.inputs} == {1, 2, 3, 4}
    assert plan.drop_tombstones  # nothing below L1
    assert pick(v, opts, Busy({3}, []), 0, {}) is None


def test_picker_level_score_and_trivial_move():
    opts = small_options(level_base_bytes=1000)
    v = Version([[], [meta(5, b"a", b"c", size=900), meta(6, b"d", b"f", size=900)], [meta(7, b"e", b"e")]])
    plan = pick(v, opts, Busy(set(), []), 0, {})
    assert plan.level == 1 and plan.output_level == 2 and plan.is_trivial_move  # 5 overlaps nothing in L2
    plan2 = pick(v, opts, Busy({5}, [(frozenset({1, 2}), b"a", b"c")]), 0, {})
    assert [t.number for _, t in plan2.inputs] == [6, 7] and plan2.drop_tombstones


def test_picker_cleans_mostly_dead_tables():
    opts = small_options()
    v = Version([[], [], [meta(8, b"a", b"z", tombstones=8)]])
    plan = pick(v, opts, Busy(set(), []), 0, {})
    assert plan.reason == "cleanup (bottom)" and plan.output_level == 2 and plan.drop_tombstones
    v = Version([[], [], [meta(9, b"a", b"z", expiring=10, min_expire=5, mid_expire=6, max_expire=7)]])
    assert pick(v, opts, Busy(set(), []), 6, {}) is not None
    assert pick(v, opts, Busy(set(), []), 4, {}) is None


def test_compaction_drops_deleted_and_expired_data_from_disk(store_dir, clock):
    s = Storage.open(store_dir, small_options(clock))
    for i in range(1500):
        s.put(b"key%d" % i, 1, b"x" * 40, expire_at=clock.now + 1000 if i % 2 else None)
        if i % 25 == 0:
            s.write_pending()
            run_jobs(s)
    s.write_pending()
    s.freeze()
    run_jobs(s)
    full = s.stats()["table_bytes"]
    for i in range(0, 1500, 2):
        s.delete(b"key%d" % i)
        if i % 50 == 0:
            s.write_pending()
            run_jobs(s)
    clock.now += 2000  # every other key expires
    s.write_pending()
    s.freeze()
    for _ in range(5):
        run_jobs(s)
    st = s.stats()
    assert s.count_keys() == 0
    assert st["table_bytes"] < full * 0.15, (st["table_bytes"], full)
    s.close()


def test_space_bounded_under_overwrites(store_dir, clock):
    s = Storage.open(store_dir, small_options(clock))
    live = 0
    peak = 0
    for rnd in range(12):
        for i in range(300):
            s.put(b"key%d" % i, 1, b"%02d" % rnd + b"x" * 50)
            if i % 25 == 0:
                s.write_pending()
                run_jobs(s)
                peak = max(peak, s.stats()["table_bytes"])
        live = sum(len(b"key%d" % i) + 52 for i in range(300))
    s.write_pending()
    run_jobs(s)
    st = s.stats()
    # 12 full overwrites went through; the disk holds a small multiple of one copy
    assert peak < 6 * live * 1.6, (peak, live)
    assert st["space_amplification"] < 3.5, st
    assert all(s.get(b"key%d" % i).value.startswith(b"11") for i in range(300))
    s.close()


def test_concurrent_compactions_install_in_any_order(store_dir, clock):
    import random

    rng = random.Random(3)
    opts = small_options(clock, level_base_bytes=4096, level_multiplier=2, target_file_size=2048, max_compactions=8)
    s = Storage.open(store_dir, opts)
    model = {}
    most_at_once = 0
    for rnd in range(30):
        for _ in range(120):
            k = b"k%04d" % rng.randrange(1500)
            if rng.random() < 0.15:
                s.delete(k)
                model.pop(k, None)
            else:
                v = b"%d:" % rnd + b"x" * rng.randrange(40)
                s.put(k, 1, v)
                model[k] = v
        s.write_pending()
        s.freeze()
        jobs = []
        while (job := s.next_job()) is not None:
            jobs.append(job)
        most_at_once = max(most_at_once, sum(isinstance(j, CompactionJob) for j in jobs))
        inputs = [n for j in jobs if isinstance(j, CompactionJob) for _, n in j.inputs]
        assert len(inputs) == len(set(inputs))  # no table in two jobs
        results = [run_job(j) for j in jobs]
        rng.shuffle(results)
        for r in results:
            s.install(r)
        assert_levels_sound(s)
    run_jobs(s)
    assert_levels_sound(s)
    assert most_at_once >= 2
    assert {k[2:]: r.value for k, r in s.iter_range()} == model
    s.close()


def test_l0_trigger_scales_with_small_memtables():
    MB = 1 << 20
    assert StorageOptions().l0_trigger() == 4  # 64 MiB memtables: the classic 4
    assert StorageOptions(memtable_size=16 * MB).l0_trigger() == 16  # L0 ~ L1's 256 MiB
    assert StorageOptions(memtable_size=1 * MB).l0_trigger() == 16  # at most l0_max_tables
    assert StorageOptions(memtable_size=1 << 30).l0_trigger() == 4  # at least the trigger
    assert StorageOptions(memtable_size=16 * MB).l0_stall() == 24  # stall well past it


def test_one_compaction_at_a_time_leaves_room_for_flushes(store_dir, clock):
    s = Storage.open(store_dir, small_options(clock))
    for i in range(400):
        s.put(b"k%03d" % i, 1, b"v" * 40)
        s.write_pending()
    while (job := s.next_job(compaction=False)) is not None:
        s.install(run_job(job))
    compaction = s.next_job()
    assert compaction is not None and compaction.kind == "compaction"
    assert s.next_job() is None  # a second compaction waits for the first
    for i in range(200):
        s.put(b"n%03d" % i, 1, b"v" * 40)
        s.write_pending()
    flush = s.next_job()
    assert flush is not None and flush.kind == "flush"  # ... but a flush does not
    s.install(run_job(flush))
    s.install(run_job(compaction))
    s.close()


def test_l0_merged_from_the_classic_trigger_once_writes_pause(store_dir, clock):
    # memtables an eighth of L1's target: L0 waits for 8 tables while writes flow
    s = Storage.open(store_dir, small_options(clock, l0_compaction_trigger=4, l0_idle_compaction_ms=10_000))
    s.options.level_base_bytes = 8 * s.options.memtable_size
    assert s.options.l0_trigger() == 8
    for t in range(5):
        for i in range(60):
            s.put(b"k%03d" % i, 1, b"%d" % t * 30)
        s.write_pending()
        s.freeze()
        s.install(run_job(s.next_job()))
    assert s.stats()["level0_tables"] == 5
    assert s.next_job() is None  # 5 < 8 and a flush just happened
    clock.now += 10_000
    job = s.next_job()
    assert job is not None and job.kind == "compaction" and job.reason == "l0 (writes idle)"
    s.install(run_job(job))
    assert s.stats()["level0_tables"] == 0 and s.get(b"k001").value == b"4" * 30
    s.close()


def test_merge_batches_is_a_sorted_merge_of_the_streams():
    import random

    from hypercache.storage.compaction import merge_batches

    rng = random.Random(7)
    for _ in range(200):
        streams, everything = [], []
        for s in range(rng.randrange(1, 6)):
            keys = sorted(rng.sample(range(300), rng.randrange(0, 60)))
            entries = [(b"k%03d" % k, -(1000 * s + k), 1, 0, b"") for k in keys]  # distinct seqs
            everything += entries
            cuts = sorted(rng.sample(range(len(entries) + 1), min(len(entries) + 1, rng.randrange(0, 5))))
            batches = [entries[a:b] for a, b in zip([0] + cuts, cuts + [len(entries)])]
            streams.append(iter(batches))
        merged = [e for batch in merge_batches(streams) for e in batch]
        assert merged == sorted(everything)


# ---- the merge in C (native compact_table) against the Python merge ----

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_keys = st.one_of(st.sampled_from([b"", b"a", b"ab", b"b", b"ba", b"k\x00", b"k"]), st.binary(min_size=1, max_size=3))
_version = st.tuples(st.sampled_from([0, 1, 1, 2, 255]), st.binary(max_size=30),
                     st.sampled_from([None, None, 999, 1000, 1001, 2**64 - 1]))


def _job_outcome(run, directory, job):
    """A compaction's result (timings aside), its tables' bytes and entries, or its error."""
    try:
        result = run(job)
    except Exception as err:  # noqa: BLE001 - the error is the outcome compared
        return ("raised", type(err).__name__, sorted(os.listdir(directory)))
    tables, entries, closed_at = [], [], []
    for m in result.outputs:
        path = os.path.join(directory, "%06d.sst" % m.number)
        reader = TableReader(path)
        table_entries = list(reader.iter_range())
        entries += table_entries
        offset, size = reader.data_handles()[-1]
        key, record = table_entries[-1]
        # (the table's estimated size when it was closed is its data's end, + 8 when its
        # last entry filled a block; before that entry it was this end - entry - 4)
        closed_at.append((offset + size, offset + size - (8 + len(key) + 17 + len(record.value)) - 4,
                          len(table_entries)))
        reader.close()
        with open(path, "rb") as fh:
            tables.append(fh.read())
        os.unlink(path)
    result.seconds = result.cpu_seconds = 0.0
    return result, tables, entries, closed_at


@settings(max_examples=250, deadline=None)
@given(st.lists(st.dictionaries(_keys, _version, max_size=25), min_size=1, max_size=5), st.booleans(),
       st.integers(9, 300), st.one_of(st.none(), st.integers(1, 3000)), st.lists(st.integers(40, 400), min_size=5, max_size=5))
def test_native_compaction_writes_what_the_python_one_does(tmp_path_factory, tables, drop, block_size, target,
                                                           input_blocks):
    """compact_table merges any input tables as merge_batches + _write_tables do: one
    table (target None) is the very same file; split at a target, the outputs hold the
    same entries in order, each but the last closed by the entry that took it to the target."""
    from hypercache.storage.compaction import _run_compaction, _run_compaction_py

    d = str(tmp_path_factory.mktemp("compact"))
    seq = 0
    inputs = []
    for number, versions in enumerate(tables, start=1):
        if not versions:
            continue
        items = []
        for key, (kind, value, expire) in versions.items():
            seq += 1  # distinct seqs: later tables hold newer versions, as levels do
            items.append((key, R(b"" if kind == 0 else value, seq, None if kind == 0 else expire, kind)))
        b = TableBuilder(os.path.join(d, "%06d.sst" % number), number, block_size=input_blocks[number - 1])
        for k, r in sorted(items):
            b.add(k, r)
        b.finish()
        inputs.append((0, number))
    if not inputs:
        return
    # file numbers enough for a table per key (a target of 1 byte closes one per entry)
    numbers = list(range(100, 101 + sum(len(versions) for versions in tables)))
    job = CompactionJob(1, d, 0, 1, inputs[::-1], numbers, target or 1 << 40, drop, 1000, block_size, 10)
    native, python = _job_outcome(_run_compaction, d, job), _job_outcome(_run_compaction_py, d, job)
    if target is None or "raised" in (native[0], python[0]):
        assert native == python
    else:
        assert native[0].entries_out == python[0].entries_out and native[2] == python[2]
        # each table but the last was closed by the entry that brought it to the target
        assert all(size + 8 >= target and (target > before or n == 1) for size, before, n in native[3][:-1])
        assert all(m.entries for m in native[0].outputs)
        assert len(native[0].outputs) <= len(job.numbers)


def test_native_compaction_refuses_a_damaged_block(tmp_path):
    """A flipped byte in an input's data block fails the job (CorruptionError from the
    block's checksum, naming the file) and leaves no output behind, as in Python."""
    from hypercache.storage.compaction import _run_compaction, _run_compaction_py
    from hypercache.storage.errors import CorruptionError, JobFailedError

    d = str(tmp_path)
    table(d, 1, [(b"k%03d" % i, R(b"x" * 20, i + 1)) for i in range(200)])
    table(d, 2, [(b"k%03d" % i, R(b"y" * 20, 1000 + i)) for i in range(0, 200, 3)])
    path = os.path.join(d, "000001.sst")
    with open(path, "r+b") as fh:
        fh.seek(3000)
        byte = fh.read(1)
        fh.seek(3000)
        fh.write(bytes([byte[0] ^ 0x40]))
    job = CompactionJob(1, d, 0, 1, [(0, 2), (0, 1)], list(range(100, 120)), 1 << 20, False, 1000, 128, 10)
    for run in (_run_compaction, _run_compaction_py):
        with pytest.raises(CorruptionError, match="000001.sst: data block at offset 2839 checksum mismatch"):
            run(job)
        assert sorted(os.listdir(d)) == ["000001.sst", "000002.sst"]
    with pytest.raises(JobFailedError, match="checksum mismatch"):
        run_job(job)  # what the store sees


def test_native_compaction_checks_a_block_layout_like_python(tmp_path):
    """An input block whose CRC-32 is good but whose entry count or offsets lie fails
    the C merge and the Python one alike (CorruptionError naming the file), no output left."""
    import struct

    from hypercache.storage.compaction import _run_compaction, _run_compaction_py
    from hypercache.storage.errors import CorruptionError

    from .test_sstable import _rewrite_first_block

    damages = [(lambda b: b[:-8] + struct.pack("<I", 10**6) + b[-4:], "entry count"),
               (lambda b: b[:-12] + struct.pack("<I", len(b)) + b[-8:], "entry offset out of range")]
    for damage, text in damages:
        d = str(tmp_path / text.replace(" ", "_"))
        os.makedirs(d)
        table(d, 1, [(b"k%03d" % i, R(b"x" * 20, i + 1)) for i in range(50)])
        _rewrite_first_block(os.path.join(d, "000001.sst"), damage)
        job = CompactionJob(1, d, 0, 1, [(0, 1)], list(range(100, 120)), 1 << 20, False, 1000, 128, 10)
        for run in (_run_compaction, _run_compaction_py):
            with pytest.raises(CorruptionError, match=f"000001.sst: data block at offset 0: {text}"):
                run(job)
            assert os.listdir(d) == ["000001.sst"]
