"""The manifest: version edits, a torn last edit, and crash-safe replacement."""

from __future__ import annotations

import os

import pytest

from hypercache.storage import Storage
from hypercache.storage.errors import CorruptionError
from hypercache.storage.manifest import ManifestWriter, Version, VersionEdit, load_version, read_current
from hypercache.storage.sstable import TableMeta

from .conftest import run_jobs, small_options


def meta(n, lo, hi, seq=1):
    return TableMeta(n, 100, lo, hi, 10, 0, seq, seq)


def test_edits_replay(tmp_path):
    d = str(tmp_path)
    w = ManifestWriter.create(d, 1, Version(next_file=2))
    w.append(VersionEdit(added=[(0, meta(5, b"a", b"m", 1)), (0, meta(6, b"c", b"z", 2))], next_file=7, last_seq=9))
    w.append(VersionEdit(added=[(1, meta(8, b"a", b"z"))], deleted=[(0, 5), (0, 6)], log_number=4))
    w.close()
    v, name = load_version(d)
    assert name == "MANIFEST-000001" and read_current(d) == name
    assert [t.number for t in v.levels[1]] == [8] and not v.levels[0]
    assert (v.log_number, v.next_file, v.last_seq) == (4, 7, 9)


def test_l0_newest_first_and_lookup_order():
    v = Version([[meta(5, b"a", b"m", 1), meta(6, b"c", b"z", 2)], [meta(7, b"a", b"f"), meta(8, b"g", b"p")]])
    assert [t.number for t in v.levels[0]] == [6, 5]
    assert [t.number for t in v.tables_for_key(b"h")] == [6, 5, 8]
    assert [t.number for t in v.tables_for_key(b"b")] == [5, 7]
    assert [t.number for t in v.tables_for_key(b"zz")] == []


def test_torn_last_edit_at_every_offset(tmp_path):
    d = str(tmp_path)
    w = ManifestWriter.create(d, 1, Version(next_file=2))
    w.append(VersionEdit(added=[(0, meta(5, b"a", b"m"))], next_file=6))
    before = w.offset
    w.append(VersionEdit(added=[(1, meta(9, b"a", b"z"))], deleted=[(0, 5)], next_file=10))
    w.close()
    path = os.path.join(d, "MANIFEST-000001")
    full = open(path, "rb").read()
    for cut in range(before, len(full) + 1):
        with open(path, "wb") as fh:
            fh.write(full[:cut])
        v, _ = load_version(d)
        numbers = [t.number for _, t in v.tables()]
        assert numbers == ([9] if cut == len(full) else [5]), cut


def test_current_replacement_is_atomic(tmp_path):
    d = str(tmp_path)
    ManifestWriter.create(d, 1, Version(next_file=2)).close()
    # A crash after writing CURRENT.tmp but before the rename: the old CURRENT rules.
    with open(os.path.join(d, "CURRENT.tmp"), "w") as fh:
        fh.write("MANIFEST-0000")
    assert read_current(d) == "MANIFEST-000001"
    # A crash before the new manifest's first edit was complete never renames CURRENT,
    # so CURRENT cannot name a manifest without one; if it did, opening refuses.
    open(os.path.join(d, "MANIFEST-000003"), "wb").close()
    with open(os.path.join(d, "CURRENT"), "w") as fh:
        fh.write("MANIFEST-000003\n")
    with pytest.raises(CorruptionError, match="no complete edit"):
        load_version(d)
    with open(os.path.join(d, "CURRENT"), "w") as fh:
        fh.write("garbage")
    with pytest.raises(CorruptionError, match="CURRENT is damaged"):
        load_version(d)


def test_store_survives_torn_install(store_dir, clock):
    """Crash while the manifest edit of a flush is being written: the edit did not
    happen, the WAL it would have retired is still there, and no write is lost."""
    opts = small_options(clock, memtable_size=1 << 30)
    s = Storage.open(store_dir, opts)
    for i in range(300):
        s.put(b"k%d" % i, 1, b"v%d" % i)
    s.freeze()
    job = s.next_job()
    from hypercache.storage import run_job

    result = run_job(job)
    manifest = os.path.join(store_dir, read_current(store_dir))
    size_before = os.path.getsize(manifest)
    wal_before = sorted(n for n in os.listdir(store_dir) if n.endswith(".wal"))
    # Simulate the crash: keep the WAL files as they were, apply the edit, then cut it.
    saved = {n: open(os.path.join(store_dir, n), "rb").read() for n in wal_before}
    s.install(result)
    s.close()
    full = open(manifest, "rb").read()
    for cut in (size_before, size_before + 5, len(full) - 1):
        with open(manifest, "wb") as fh:
            fh.write(full[:cut])
        for n, data in saved.items():
            with open(os.path.join(store_dir, n), "wb") as fh:
                fh.write(data)
        s = Storage.open(store_dir, opts)
        assert [s.get(b"k%d" % i).value for i in range(300)] == [b"v%d" % i for i in range(300)]
        run_jobs(s)
        s.close()
        # the reopen wrote a new manifest: restore the scenario for the next cut
        cur = read_current(store_dir)
        os.rename(os.path.join(store_dir, cur), manifest)
        with open(os.path.join(store_dir, "CURRENT"), "w") as fh:
            fh.write(os.path.basename(manifest) + "\n")
