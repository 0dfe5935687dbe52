"""The case table: each case is data (what redis-benchmark sends, how many requests).

Every redis-benchmark case runs against the 1M-key dataset (keys `key:000000000000` ..
`key:000000999999`, 100-byte values) that the memory-1m phase loads, so GET and MGET hit.
Request counts are chosen so that one run of HyperCache takes seconds: a full run stays
under ~20 minutes, a quick run (`--quick`) under 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KEYSPACE = 1_000_000
BIG_KEYSPACE = 10_000_000
HOT_KEYS = 100_000  # the hot set of memory-10m (at most a tenth of its keys)
COMMON = ["-c", "50", "-r", str(KEYSPACE), "-d", "100"]
MGET_10 = ["MGET"] + ["key:__rand_int__"] * 10


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    group: str  # throughput | latency | misses | memory
    options: list[str] = field(default_factory=list)  # redis-benchmark options but -n
    command: list[str] = field(default_factory=list)  # a command line (MGET ...), or empty for -t
    n: int = 0  # requests in a full run
    n_quick: int = 0  # requests in a quick run
    text: bool = False  # read the text report (percentile distribution) instead of CSV
    metrics: tuple[str, ...] = ("rps", "p50_ms", "p99_ms")

    def requests(self, quick: bool) -> int:
        return self.n_quick if quick else self.n


# (requests in a full run, in a quick run) by (10-key command?, pipelined?)
# A case of ~2 s or more: at 50k requests (<1 s) one stray process on these 2 cores moved a
# round's ratio by 0.2.
COUNTS = {(False, False): (150_000, 10_000), (False, True): (400_000, 30_000),
          (True, False): (30_000, 3_000), (True, True): (60_000, 10_000)}


def _throughput_cases() -> list[Case]:
    """GET, SET, INCR, MSET (-t) and MGET (a command line) of 10 keys, plain and -P 16."""
    kinds = [("get", "GET", []), ("set", "SET", []), ("incr", "INCR", []),
             ("mset", "MSET (10 keys)", []), ("mget", "MGET (10 keys)", MGET_10)]
    cases = []
    for pipelined in (False, True):
        suffix, label = ("-P16", ", -P 16") if pipelined else ("", ", no pipelining")
        extra = ["-P", "16"] if pipelined else []
        for name, title, command in kinds:
            n, n_quick = COUNTS[(name in ("mset", "mget"), pipelined)]
            test = [] if command else ["-t", name]
            cases.append(Case(name + suffix, title + label, "throughput", COMMON + test + extra, command, n, n_quick))
    return cases


CASES: list[Case] = _throughput_cases() + [
    Case("get-latency", "GET latency, 50 clients (text report, --precision 3)", "latency", COMMON + ["-t", "get"],
         n=100_000, n_quick=20_000, text=True, metrics=("rps", "p50_ms", "p99_ms", "p99.9_ms")),
    Case("get-1client", "GET, 1 client", "latency", ["-c", "1", "-r", str(KEYSPACE), "-d", "100", "-t", "get"],
         n=20_000, n_quick=3_000),
    Case("get-miss", "GET of absent keys (miss:<n>, never written), 50 clients", "misses", COMMON,
         ["GET", "miss:__rand_int__"], n=50_000, n_quick=10_000),
    Case("memory-1m", f"RSS after loading {KEYSPACE:,} keys of 100 bytes", "memory",
         metrics=("bytes_per_key", "rss_mib", "load_seconds")),
    Case("memory-10m", "{keys:,} keys, HyperCache maxmemory = Redis RSS / 10", "memory",
         metrics=("rss_mib", "bytes_per_key", "load_seconds", "hot_get_p99_ms", "cold_get_p99_ms", "hot_get_rps",
                  "cold_get_rps")),
]
BY_NAME = {case.name: case for case in CASES}
GROUPS = {group: [c.name for c in CASES if c.group == group] for group in ("throughput", "latency", "misses", "memory")}

# memory-10m's GET runs: the hot set (key:0 .. key:hot-1) warmed with -P 16 first, then
# hot-key and cold-key (random over the whole dataset) runs alternate.


def big_get(keyspace: int, pipeline: int = 1) -> list[str]:
    return ["-c", "50", "-r", str(keyspace), "-t", "get"] + (["-P", str(pipeline)] if pipeline > 1 else [])


def hot_keys(keys: int) -> int:
    return min(HOT_KEYS, keys // 10)


# (full, quick). The warm-up reads each of the 100,000 hot keys with near certainty
# (1M random reads leave e^-10 of them unread; 200k left 13.5%, which the hot runs
# then read from disk).
BIG_COUNTS = {"warm": (1_000_000, 20_000), "hot": (50_000, 10_000), "cold": (20_000, 5_000)}


def select(spec: list[str], quick: bool) -> list[str]:
    """Case names from --cases words (names, group names, `all`); default all (quick: not memory-10m)."""
    words = [w for item in spec for w in item.replace(",", " ").split()] or ["all"]
    chosen: list[str] = []
    for word in words:
        if word == "all":
            names = [c.name for c in CASES if not (quick and c.name == "memory-10m")]
        elif word in GROUPS:
            names = GROUPS[word]
        elif word in BY_NAME:
            names = [word]
        else:
            raise SystemExit(f"unknown case {word!r}; cases: {', '.join(BY_NAME)}; groups: all, {', '.join(GROUPS)}")
        chosen += [n for n in names if n not in chosen]
    return [c.name for c in CASES if c.name in chosen]
