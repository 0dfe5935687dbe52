"""Crash torture at the storage level: a child process writes under appendfsync
always semantics (write, fsync, then acknowledge on stdout) while flushing and
compacting, and is killed with SIGKILL at random moments. After every kill the store
must open and hold every acknowledged write. (HC_CRASH_CYCLES=100 for a longer run.)"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

from hypercache.storage import Storage

from .conftest import run_jobs, small_options

WRITER = textwrap.dedent(
    r"""
    import sys
    from hypercache.storage import Storage, run_job
    from tests.storage.conftest import small_options, run_jobs
    from tests.storage.test_crash import write

    d, start = sys.argv[1], int(sys.argv[2])
    s = Storage.open(d, small_options())
    i = start
    while True:
        write(s, i)
        s.write_pending()
        s.sync()
        print(i, flush=True)  # acknowledged: it is durable
        if i % 10 == 0:
            run_jobs(s)
        i += 1
    """
)

KEYS = 300


def expected_after(last: int) -> dict[bytes, int | None]:
    """key -> the i of its newest acknowledged write (None = deleted / never written)."""
    state: dict[bytes, int | None] = {}
    for i in range(last + 1):
        state[b"key%d" % (i % KEYS)] = i
        if i % 7 == 0:
            state[b"key%d" % ((i * 13) % KEYS)] = None
    return state


def test_sigkill_never_loses_acknowledged_writes(tmp_path):
    d = str(tmp_path / "store")
    rng = random.Random(7)
    acked = -1
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    for cycle in range(int(os.environ.get("HC_CRASH_CYCLES", "6"))):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, d, str(acked + 1)],
                                stdout=subprocess.PIPE, env=env, text=True)
        deadline = time.monotonic() + 0.4 + rng.random() * 0.6
        last = acked
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            last = int(line)
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()  # lines printed before the kill are acknowledged too
        proc.wait()
        for line in rest.split():
            last = int(line)
        assert last > acked, f"cycle {cycle}: the writer made no progress"
        # Write `last + 1` may or may not have landed (it was not acknowledged): redo it
        # (idempotent), after which the store must match the model exactly.
        s = Storage.open(d, small_options())
        write(s, last + 1)
        state = expected_after(last + 1)
        for key, i in state.items():
            rec = s.get(key)
            assert (None if rec is None else int(rec.value.split(b"-")[1])) == i, (cycle, key)
        assert s.count_keys() == sum(1 for i in state.values() if i is not None)
        run_jobs(s)
        s.close()
        acked = last + 1


def write(s: Storage, i: int) -> None:
    """Write number i of the sequence the writer process runs."""
    s.put(b"key%d" % (i % KEYS), 1, b"value-%d-" % i + b"x" * (i % 50))
    if i % 7 == 0:
        s.delete(b"key%d" % ((i * 13) % KEYS))
