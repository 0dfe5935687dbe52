"""The pieces of the benchmark harness that bench/run.py puts together.

servers.py      start Redis and HyperCache on free ports, read their RSS and INFO
redisbench.py   run redis-benchmark and parse its CSV or text (latency distribution) output
loader.py       load N deterministic keys through `redis-cli --pipe`, with an RSS and time guard
cases.py        the case table: what each case sends and how many requests
report.py       medians and ratios, the goals, the Markdown table, the JSON and the plot
"""
