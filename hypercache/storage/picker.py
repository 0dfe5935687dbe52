"""Which compaction to run next: leveled, as LevelDB/RocksDB (docs/formats.md says why).

- L0 (overlapping tables, straight from flushes) is merged into L1 once it holds
  `options.l0_trigger()` tables (4 for 64 MiB memtables, more for smaller ones: see
  StorageOptions.l0_trigger); all of L0 goes at once, with every L1 table it overlaps.
- Level n >= 1 (non-overlapping tables) is over target when its bytes exceed
  level_base_bytes x multiplier^(n-1); one table of it (round robin by key) is merged
  with the tables of n+1 it overlaps.
- With nothing over target, a table that is mostly tombstones or expired entries is
  cleaned: pushed into the next level, or rewritten in place at the bottom.
- A table that overlaps nothing in the next level just moves there (a manifest edit).

Running jobs are respected: a table can be in one job only, and two jobs whose levels
meet may not have overlapping key ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypercache.storage.manifest import NUM_LEVELS, Version
from hypercache.storage.options import StorageOptions
from hypercache.storage.sstable import TableMeta


@dataclass
class Plan:
    """A compaction decided on: inputs by level, where the output goes, and why."""

    level: int
    output_level: int
    inputs: list[tuple[int, TableMeta]]
    drop_tombstones: bool
    reason: str

    @property
    def key_range(self) -> tuple[bytes, bytes]:
        return min(t.smallest for _, t in self.inputs), max(t.largest for _, t in self.inputs)

    @property
    def is_trivial_move(self) -> bool:
        """One table into the next level with nothing to merge: move it, do not rewrite."""
        if len(self.inputs) != 1 or self.output_level != self.level + 1:
            return False
        return not self.drop_tombstones or self.inputs[0][1].tombstones == 0


@dataclass
class Busy:
    """What running jobs hold: table numbers, and (levels, key range) per job."""

    tables: set[int]
    ranges: list[tuple[frozenset[int], bytes, bytes]]

    def conflicts(self, plan: Plan) -> bool:
        if any(t.number in self.tables for _, t in plan.inputs):
            return True
        lo, hi = plan.key_range
        levels = {plan.level, plan.output_level}
        return any(levels & lv and lo <= r_hi and hi >= r_lo for lv, r_lo, r_hi in self.ranges)


def level_scores(version: Version, opts: StorageOptions) -> list[float]:
    """How far over target each level is (>= 1 means compaction is due)."""
    scores = [len(version.levels[0]) / opts.l0_trigger()]
    for lv in range(1, NUM_LEVELS):
        scores.append(version.level_bytes(lv) / opts.level_target(lv))
    scores[-1] = 0.0  # the last level has nowhere to go
    return scores


def pick(version: Version, opts: StorageOptions, busy: Busy, now_ms: int, pointers: dict[int, bytes],
         writes_idle: bool = False) -> Plan | None:
    """The most urgent compaction that does not conflict with running ones, or None.

    `pointers` holds, per level, the largest key of the last table compacted there
    (round robin); it is updated when a plan is chosen. With `writes_idle` (no flush
    for a while) L0 is merged as soon as it holds `l0_compaction_trigger` tables: the
    larger trigger for small memtables saves rewrites while writes flow, and this
    gives back the disk space of overwritten versions once they stop."""
    scores = level_scores(version, opts)
    for lv in sorted(range(NUM_LEVELS - 1), key=lambda x: -scores[x]):
        if scores[lv] < 1.0:
            break
        plan = _l0_plan(version) if lv == 0 else _level_plan(version, lv, busy, pointers)
        if plan is not None and not busy.conflicts(plan):
            _finish(plan, version)
            if lv:
                pointers[lv] = plan.inputs[0][1].largest
            return plan
    if writes_idle and len(version.levels[0]) >= max(1, opts.l0_compaction_trigger):
        plan = _l0_plan(version)
        if plan is not None and not busy.conflicts(plan):
            _finish(plan, version)
            plan.reason = "l0 (writes idle)"
            return plan
    return _cleanup_plan(version, opts, busy, now_ms)


def _l0_plan(version: Version) -> Plan | None:
    l0 = list(version.levels[0])
    lo, hi = min(t.smallest for t in l0), max(t.largest for t in l0)
    inputs = [(0, t) for t in l0] + [(1, t) for t in version.overlapping(1, lo, hi)]
    return Plan(0, 1, inputs, False, "l0")


def _level_plan(version: Version, lv: int, busy: Busy, pointers: dict[int, bytes]) -> Plan | None:
    tables = version.levels[lv]
    after = pointers.get(lv, b"")
    order = [t for t in tables if t.smallest > after] + [t for t in tables if t.smallest <= after]
    for t in order:
        if t.number in busy.tables:
            continue
        inputs = [(lv, t)] + [(lv + 1, o) for o in version.overlapping(lv + 1, t.smallest, t.largest)]
        plan = Plan(lv, lv + 1, inputs, False, f"level {lv} over target")
        if not busy.conflicts(plan):
            return plan
    return None


def _cleanup_plan(version: Version, opts: StorageOptions, busy: Busy, now_ms: int) -> Plan | None:
    best: tuple[float, int, TableMeta] | None = None
    for lv in range(1, NUM_LEVELS):
        for t in version.levels[lv]:
            if t.number in busy.tables or not t.entries:
                continue
            garbage = (t.tombstones + t.expired_estimate(now_ms)) / t.entries
            if garbage >= opts.cleanup_ratio and (best is None or garbage > best[0]):
                best = (garbage, lv, t)
    if best is None:
        return None
    _, lv, t = best
    if lv < NUM_LEVELS - 1 and _deeper_overlap(version, lv, t.smallest, t.largest):
        inputs = [(lv, t)] + [(lv + 1, o) for o in version.overlapping(lv + 1, t.smallest, t.largest)]
        plan = Plan(lv, lv + 1, inputs, False, "cleanup (push down)")
    else:
        plan = Plan(lv, lv, [(lv, t)], True, "cleanup (bottom)")
    if busy.conflicts(plan):
        return None
    _finish(plan, version)
    return plan


def _deeper_overlap(version: Version, level: int, lo: bytes, hi: bytes) -> bool:
    return any(version.overlapping(d, lo, hi) for d in range(level + 1, NUM_LEVELS))


def _finish(plan: Plan, version: Version) -> None:
    """Tombstones may go when no level below the output can hold an older version."""
    lo, hi = plan.key_range
    plan.drop_tombstones = not _deeper_overlap(version, plan.output_level, lo, hi)
