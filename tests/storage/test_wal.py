"""The WAL: framing, replay, torn and corrupt tails, group commit, policies, errors."""

from __future__ import annotations

import logging
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hypercache.native import flush_entries

from hypercache.storage import wal as walmod
from hypercache.storage.logfile import LogReader, encode_record
from hypercache.storage.records import KIND_STRING, Record


def read_all(path):
    out = []
    info = walmod.replay(path, lambda t, s, k, r: out.append((t, s, k, r)), repair=False)
    return out, info


def write_wal(directory, n=5, number=1):
    w = walmod.Wal(directory, number)
    for seq in range(1, n + 1):
        w.append_put(seq, b"\x00\x01key%d" % seq, KIND_STRING, b"value-%d" % seq, 0 if seq % 2 else 1_800_000_000_000)
    w.append_delete(n + 1, b"\x00\x01key1")
    w.write_pending()
    w.close()
    return os.path.join(directory, walmod.wal_name(number))


def test_round_trip(tmp_path):
    path = write_wal(str(tmp_path))
    recs, info = read_all(path)
    assert info.records == 6 and info.problem is None and info.last_seq == 6
    t, s, k, r = recs[1]
    assert (t, s, k) == (walmod.REC_PUT, 2, b"\x00\x01key2")
    assert r == Record(KIND_STRING, b"value-2", 1_800_000_000_000, 2)
    assert recs[0][3].expire_at is None
    assert recs[-1][0] == walmod.REC_DELETE and recs[-1][3].kind == 0


def test_flushall_record(tmp_path):
    w = walmod.Wal(str(tmp_path), 3)
    w.append_put(1, b"\x00\x00a", 1, b"x", 0)
    w.append_flushall(2)
    w.close()
    recs, _ = read_all(os.path.join(str(tmp_path), "000003.wal"))
    assert [r[0] for r in recs] == [walmod.REC_PUT, walmod.REC_FLUSHALL]
    assert recs[1][1] == 2


def test_torn_tail_at_every_offset_keeps_complete_records(tmp_path, caplog):
    path = write_wal(str(tmp_path), n=4)
    full = open(path, "rb").read()
    recs, _ = read_all(path)
    last_start = len(full) - (9 + 8 + 6)  # the DELETE record: header + seq + key
    assert LogReader  # framing is exercised through replay
    for cut in range(last_start, len(full)):
        with open(path, "wb") as fh:
            fh.write(full[:cut])
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="hypercache.storage"):
            got = []
            info = walmod.replay(path, lambda t, s, k, r: got.append(s), repair=True)
        assert got == [1, 2, 3, 4], cut
        assert os.path.getsize(path) == last_start
        if cut > last_start:
            assert "truncating" in caplog.text
        else:
            assert info.problem is None


def test_corrupt_byte_in_last_record_is_a_tail(tmp_path):
    path = write_wal(str(tmp_path), n=3)
    data = bytearray(open(path, "rb").read())
    data[-2] ^= 0x40
    open(path, "wb").write(bytes(data))
    got = []
    info = walmod.replay(path, lambda t, s, k, r: got.append(s))
    assert got == [1, 2, 3] and "checksum" in info.problem


def test_garbage_length_is_caught(tmp_path):
    path = str(tmp_path / "x.wal")
    with open(path, "wb") as fh:
        fh.write(encode_record(walmod.REC_FLUSHALL, (7).to_bytes(8, "little")))
        fh.write(b"\xff" * 20)
    got = []
    info = walmod.replay(path, lambda t, s, k, r: got.append(s))
    assert got == [7] and info.valid_length == 9 + 8


def test_group_commit_seqs(tmp_path):
    w = walmod.Wal(str(tmp_path), 1)
    w.append_put(1, b"\x00\x00a", 1, b"x", 0)
    w.append_put(2, b"\x00\x00b", 1, b"y", 0)
    assert (w.written_seq, w.synced_seq) == (0, 0)
    assert w.write_pending() > 0
    assert (w.written_seq, w.synced_seq) == (2, 0)
    w.append_put(3, b"\x00\x00c", 1, b"z", 0)  # buffered only: the sync does not cover it
    assert w.needs_sync()
    assert w.sync() == 2 and w.fsyncs == 1
    assert w.sync() == 2 and w.fsyncs == 1  # nothing new: no fsync
    w.write_pending()
    assert w.sync() == 3
    w.close()


def test_rotation_and_retire(tmp_path):
    d = str(tmp_path)
    w = walmod.Wal(d, 1)
    w.append_put(1, b"\x00\x00a", 1, b"x", 0)
    assert w.rotate(2) == 1
    w.append_put(2, b"\x00\x00b", 1, b"y", 0)
    w.write_pending()
    assert w.sealed_numbers() == [1]
    w.sync()  # covers both files; the sealed one is closed after it
    assert w.sealed_numbers() == []
    w.retire(1)
    assert sorted(os.listdir(d)) == ["000002.wal"]
    w.close()


def test_relog_replaces_file(tmp_path):
    d = str(tmp_path)
    w = walmod.Wal(d, 1)
    w.append_put(1, b"\x00\x00a", 1, b"old", 0)
    w.write_pending()
    w.append_put(2, b"\x00\x00a", 1, b"new", 0)  # buffered: superseded by the relog
    w.relog(5, [(b"\x00\x00a", Record(1, b"new", None, 2))], 2)
    assert sorted(os.listdir(d)) == ["000005.wal"] and w.synced_seq == 2
    w.close()
    recs, _ = read_all(os.path.join(d, "000005.wal"))
    assert [(r[1], r[3].value) for r in recs] == [(2, b"new")]


def test_policies():
    assert walmod.SyncPolicy.from_config("always").reply_waits_for_sync
    assert walmod.SyncPolicy.from_config("always").sync_period_s == 0.0
    assert walmod.SyncPolicy.from_config("everysec").sync_period_s == 1.0
    assert walmod.SyncPolicy.from_config("no").sync_period_s is None
    assert walmod.SyncPolicy.from_config("interval", 10).sync_period_s == 0.01
    assert not walmod.SyncPolicy.from_config("EVERYSEC").reply_waits_for_sync
    with pytest.raises(ValueError):
        walmod.SyncPolicy("sometimes")


# ---- the flush's C reading (native wal_newest, flush_entries) against the Python one ----

_put_fields = struct.Struct("<QBQI")
_record = st.one_of(
    st.tuples(st.just(walmod.REC_PUT), st.integers(1, 2**64 - 1), st.integers(0, 255), st.integers(0, 2**64 - 1),
              st.binary(max_size=6), st.binary(max_size=12), st.integers(-3, 3)),  # last: key_len lies by this much
    st.tuples(st.just(walmod.REC_DELETE), st.integers(1, 2**64 - 1), st.binary(max_size=6)),
    st.tuples(st.just(walmod.REC_FLUSHALL), st.integers(1, 2**64 - 1)),
    st.tuples(st.sampled_from([0, 4, 9, 255]), st.binary(max_size=20)),  # an unknown type
    st.tuples(st.sampled_from([walmod.REC_PUT, walmod.REC_DELETE]), st.binary(max_size=12), st.just("short")),
)


def _encode(rec: tuple) -> bytes:
    rtype = rec[0]
    if len(rec) == 3 and rec[2] == "short":  # too short for its type's fields
        return encode_record(rtype, rec[1])
    if rtype == walmod.REC_PUT:
        _, seq, kind, expire_at, key, value, lie = rec
        return encode_record(rtype, _put_fields.pack(seq, kind, expire_at, max(0, len(key) + lie)) + key + value)
    if rtype in (walmod.REC_DELETE, walmod.REC_FLUSHALL):
        return encode_record(rtype, struct.pack("<Q", rec[1]) + (rec[2] if len(rec) > 2 else b""))
    return encode_record(rtype, rec[1])


def _outcome(read, path: str) -> tuple:
    try:
        latest, info = read(path)
    except (walmod.CorruptionError, struct.error) as err:
        return ("raised", type(err).__name__, str(err))
    return (latest, info.records, info.last_seq, info.valid_length, info.file_size, info.problem)


@settings(max_examples=400, deadline=None)
@given(st.lists(_record, max_size=12), st.one_of(st.none(), st.integers(0, 400)), st.one_of(st.none(), st.integers(0, 400)),
       st.binary(max_size=12))
def test_native_flush_reading_matches_the_python_one(tmp_path_factory, records, cut, flip, tail):
    """wal_newest reads any WAL file, damaged or not, exactly as LogReader and the
    Python newest_records do: the same newest records, counts, valid length and
    problem text, or the same error; flush_entries encodes what the Python flush did."""
    data = bytearray(b"".join(_encode(r) for r in records) + tail)
    if flip is not None and data:
        data[flip % len(data)] ^= 0x5A
    if cut is not None:
        del data[cut:]
    path = str(tmp_path_factory.mktemp("wal") / "000001.log")
    with open(path, "wb") as fh:
        fh.write(data)
    native, python = _outcome(walmod.newest_records, path), _outcome(walmod._newest_records_py, path)
    assert native == python
    if native[0] != "raised":
        latest = dict(native[0])
        keys = sorted(latest)
        expected = []
        for ikey in keys:
            seq, kind, expire_at, body, start = latest[ikey]
            value = body[start:]
            expected.append((ikey, -seq, kind, expire_at, struct.pack("<II", len(ikey), 17 + len(value)) + ikey
                             + struct.pack("<BQQ", kind, seq, expire_at) + value))
        assert flush_entries(keys, latest) == expected and latest == {}


# ---- the flush in C (native flush_table) against the Python flush ----

_live_record = st.one_of(  # well-formed records over few keys: duplicates, expiries, deletes
    st.tuples(st.just(walmod.REC_PUT), st.integers(1, 2**64 - 1), st.sampled_from([0, 1, 2, 255]),
              st.sampled_from([0, 0, 1, 999, 1000, 1001, 2**64 - 1]), st.sampled_from([b"", b"a", b"ab", b"b", b"ba\x00"]),
              st.binary(max_size=40), st.just(0)),
    st.tuples(st.just(walmod.REC_DELETE), st.integers(1, 2**64 - 1), st.sampled_from([b"a", b"ab", b"b"])),
    st.tuples(st.just(walmod.REC_FLUSHALL), st.integers(1, 2**64 - 1)),
)


def _flush_outcome(run, directory: str, job) -> tuple:
    """What a flush produced: its result (timings aside) and the table's bytes, or its error."""
    try:
        result = run(job)
    except Exception as err:  # noqa: BLE001 - the error is the outcome compared
        return ("raised", type(err).__name__, str(err))
    tables = []
    for meta in result.outputs:
        path = os.path.join(directory, "%06d.sst" % meta.number)
        with open(path, "rb") as fh:
            tables.append(fh.read())
        os.unlink(path)
    result.seconds = result.cpu_seconds = 0.0
    return (result, tables, sorted(os.listdir(directory)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_live_record, _record), max_size=40), st.integers(0, 3), st.integers(9, 200),
       st.integers(1, 20), st.one_of(st.none(), st.integers(0, 2000)))
def test_native_flush_writes_the_python_flush_table(tmp_path_factory, records, mostly_live, block_size, bloom_bits, cut):
    """flush_table + TableBuilder.add_built write the very table _run_flush_py writes
    from any WAL file (blocks cut at the same entries, the same index, filter and
    properties; expired records as tombstones), and a damaged file fails the same way."""
    from hypercache.storage.compaction import FlushJob, _run_flush, _run_flush_py

    if mostly_live:  # most examples: a WAL the flush reads to its end
        records = [r for r in records if r[0] in (walmod.REC_PUT, walmod.REC_DELETE, walmod.REC_FLUSHALL)
                   and r[-1] != "short"]
        cut = None
    data = b"".join(_encode(r) for r in records)
    if cut is not None:
        data = data[:cut]
    directory = str(tmp_path_factory.mktemp("flush"))
    with open(os.path.join(directory, walmod.wal_name(1)), "wb") as fh:
        fh.write(data)
    outcome = _outcome(walmod._newest_records_py, os.path.join(directory, walmod.wal_name(1)))
    last_seq = outcome[2] if outcome[0] != "raised" else 0
    job = FlushJob(1, directory, 1, 7, last_seq, now_ms=1000, block_size=block_size, bloom_bits=bloom_bits)
    assert _flush_outcome(_run_flush, directory, job) == _flush_outcome(_run_flush_py, directory, job)


def test_native_flush_cuts_blocks_where_the_python_one_does(tmp_path):
    """A block closes after the entry that brings it to block_size exactly: entries of
    44 bytes with their offsets, blocks of 8 + 3 x 44 bytes hold 3 entries each."""
    from hypercache.storage.compaction import FlushJob, _run_flush, _run_flush_py
    from hypercache.storage.sstable import TableReader

    records = [(walmod.REC_PUT, seq, 1, 0, b"k%03d" % seq, b"v" * 11, 0) for seq in range(1, 31)]
    with open(os.path.join(tmp_path, walmod.wal_name(1)), "wb") as fh:
        fh.write(b"".join(_encode(r) for r in records))
    job = FlushJob(1, str(tmp_path), 1, 7, 30, now_ms=1000, block_size=8 + 3 * 44)
    native = _flush_outcome(_run_flush, str(tmp_path), job)
    assert native == _flush_outcome(_run_flush_py, str(tmp_path), job)
    with open(os.path.join(tmp_path, "000007.sst"), "wb") as fh:
        fh.write(native[1][0])
    reader = TableReader(os.path.join(tmp_path, "000007.sst"))
    assert len(reader.index) == 10 and [k for k, _ in reader.iter_range()][:4] == [b"k001", b"k002", b"k003", b"k004"]
    reader.close()


def test_native_flush_of_a_real_memtable_reads_back(tmp_path):
    """A store's own flush goes through flush_table (it is what runs) and its table
    reads back every key, the expired one as gone."""
    from hypercache.storage import Storage, StorageOptions, run_job

    clock = [1000]
    s = Storage.open(str(tmp_path), StorageOptions(block_size=256, clock=lambda: clock[0]))
    for i in range(300):
        s.put(b"k%04d" % i, KIND_STRING, b"v%d" % i * 5)
    s.put(b"k0001", KIND_STRING, b"newer")
    s.delete(b"k0002")
    s.put(b"k0003", KIND_STRING, b"short-lived", expire_at=1500)
    s.write_pending()
    s.freeze()
    clock[0] = 2000
    job = s.next_job()
    result = run_job(job)
    assert [m.entries for m in result.outputs] == [300] and result.outputs[0].tombstones == 2
    s.install(result)
    assert s.stats()["level0_tables"] == 1 and s.stats()["memtable_entries"] == 0
    assert s.get(b"k0001").value == b"newer" and s.get(b"k0299").value == b"v299" * 5
    assert s.get(b"k0002") is None and s.get(b"k0003") is None
    s.close()
