#!/usr/bin/env python3
"""redis-cli against a running server: argument form, stdin form, --no-raw, -3 (RESP3), errors.

Each case runs the real `redis-cli` binary and compares what it prints, line for line, with
the text Redis 7.0 makes it print (checked against Debian's redis-server 7.0).

    HC_PORT=7000 python compat-tests/redis_cli.py        # or: --port 7000 [--host 127.0.0.1]

It runs FLUSHALL first: point it at a throwaway server. Exit status 0 = every case passed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field


@dataclass
class Case:
    """One redis-cli invocation and the output expected from it.

    `expected` lines are compared exactly, except a line given as re.Pattern, which must
    fullmatch. With `unordered_from=i`, lines from index i on are compared as sorted lists
    (KEYS and SCAN return keys in no particular order).
    """

    name: str
    argv: list[str]
    expected: list[str | re.Pattern]
    stdin: str | None = None
    unordered_from: int | None = None
    status: int = 0  # redis-cli's expected exit status
    env: dict[str, str] = field(default_factory=dict)


def R(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def unknown(cmd: str, args: str) -> str:
    return f"ERR unknown command '{cmd}', with args beginning with: {args}"


CASES: list[Case] = [
    # --- argument form; stdout is a pipe, so redis-cli uses its raw output format -------
    Case("ping", ["ping"], ["PONG"]),
    Case("echo", ["echo", "hello world"], ["hello world"]),
    Case("set", ["set", "k", "v"], ["OK"]),
    Case("get", ["get", "k"], ["v"]),
    Case("get missing (raw nil is an empty line)", ["get", "nosuch"], [""]),
    Case("set with spaces and binary-ish value", ["set", "sp", "a b\tc"], ["OK"]),
    Case("get value with spaces", ["get", "sp"], ["a b\tc"]),
    Case("incr new key", ["incr", "n"], ["1"]),
    Case("incr again", ["incr", "n"], ["2"]),
    Case("incrby", ["incrby", "n", "40"], ["42"]),
    Case("decr", ["decr", "n"], ["41"]),
    Case("mset", ["mset", "a", "1", "b", "2"], ["OK"]),
    Case("mget with a missing key", ["mget", "a", "b", "nosuch"], ["1", "2", ""]),
    Case("append", ["append", "a", "23"], ["3"]),
    Case("strlen", ["strlen", "a"], ["3"]),
    Case("setnx existing", ["setnx", "a", "x"], ["0"]),
    Case("set nx on existing key -> nil", ["set", "a", "x", "nx"], [""]),
    Case("set get returns old value", ["set", "b", "20", "get"], ["2"]),
    Case("expire", ["expire", "a", "100"], ["1"]),
    Case("ttl", ["ttl", "a"], [R("100|99")]),
    Case("pttl", ["pttl", "a"], [R(r"(99\d\d\d|100000)")]),
    Case("ttl without expiry", ["ttl", "b"], ["-1"]),
    Case("ttl missing key", ["ttl", "nosuch"], ["-2"]),
    Case("persist", ["persist", "a"], ["1"]),
    Case("ttl after persist", ["ttl", "a"], ["-1"]),
    Case("set ex", ["set", "e", "v", "ex", "50"], ["OK"]),
    Case("ttl after set ex", ["ttl", "e"], [R("50|49")]),
    Case("exists (counts repeats)", ["exists", "a", "b", "a", "nosuch"], ["3"]),
    Case("type string", ["type", "a"], ["string"]),
    Case("type none", ["type", "nosuch"], ["none"]),
    Case("del", ["del", "k", "nosuch", "e"], ["2"]),
    Case("exists after del", ["exists", "k"], ["0"]),
    Case("keys *", ["keys", "*"], ["a", "b", "n", "sp"], unordered_from=0),
    Case("keys pattern", ["keys", "?"], ["a", "b", "n"], unordered_from=0),
    Case("keys no match (raw: an empty line)", ["keys", "zz*"], [""]),
    Case("scan with match", ["scan", "0", "match", "[ab]", "count", "1000"], ["0", "a", "b"],
         unordered_from=1),
    Case("dbsize", ["dbsize"], ["4"]),
    Case("mset more keys", ["mset", "u:1", "x", "u:2", "y", "u:3", "z"], ["OK"]),
    # errors in raw mode: the message, then an empty line; exit status stays 0 in 7.0
    Case("unknown command (raw)", ["nosuchcmd", "x"], [unknown("nosuchcmd", "'x' "), ""]),
    Case("incr on non-integer (raw)", ["incr", "sp"], ["ERR value is not an integer or out of range", ""]),
    # --- --no-raw: the human format, even though stdout is not a terminal -------------------
    Case("no-raw get", ["--no-raw", "get", "a"], ['"123"']),
    Case("no-raw get missing", ["--no-raw", "get", "nosuch"], ["(nil)"]),
    Case("no-raw incr", ["--no-raw", "incr", "n"], ["(integer) 42"]),
    Case("no-raw set", ["--no-raw", "set", "k", "v"], ["OK"]),
    Case("no-raw mget", ["--no-raw", "mget", "a", "b", "nosuch"], ['1) "123"', '2) "20"', "3) (nil)"]),
    Case("no-raw ttl", ["--no-raw", "ttl", "b"], ["(integer) -1"]),
    Case("no-raw type", ["--no-raw", "type", "a"], ["string"]),
    Case("no-raw keys empty", ["--no-raw", "keys", "zz*"], ["(empty array)"]),
    Case("no-raw scan", ["--no-raw", "scan", "0", "match", "a", "count", "1000"], ['1) "0"', '2) 1) "a"']),
    Case("no-raw incrbyfloat", ["--no-raw", "incrbyfloat", "f", "1.5"], ['"1.5"']),
    Case("no-raw unknown command", ["--no-raw", "nosuchcmd", "x", "y"],
         ["(error) " + unknown("nosuchcmd", "'x' 'y' ")]),
    Case("no-raw wrong arity", ["--no-raw", "get"],
         ["(error) ERR wrong number of arguments for 'get' command"]),
    Case("no-raw not an integer", ["--no-raw", "incr", "sp"],
         ["(error) ERR value is not an integer or out of range"]),
    Case("no-raw syntax error", ["--no-raw", "set", "k", "v", "bogus"], ["(error) ERR syntax error"]),
    # --- -3: redis-cli sends HELLO 3 first and prints RESP3 types -------------------------
    Case("resp3 ping", ["-3", "ping"], ["PONG"]),
    Case("resp3 get", ["-3", "--no-raw", "get", "a"], ['"123"']),
    Case("resp3 null", ["-3", "--no-raw", "get", "nosuch"], ["(nil)"]),
    Case("resp3 mget", ["-3", "--no-raw", "mget", "a", "nosuch"], ['1) "123"', "2) (nil)"]),
    Case("resp3 integer", ["-3", "--no-raw", "exists", "a"], ["(integer) 1"]),
    Case("resp3 hello map", ["-3", "--no-raw", "hello", "3"],
         [R(r'1# "server" => ".+"'), R(r'2# "version" => ".+"'), '3# "proto" => (integer) 3',
          R(r'4# "id" => \(integer\) \d+'), '5# "mode" => "standalone"', '6# "role" => "master"',
          R(r'7# "modules" => .*')]),
    Case("resp3 config get (map)", ["-3", "--no-raw", "config", "get", "maxmemory"],
         [R(r'1# "maxmemory" => "\d+"')]),
    Case("resp3 error", ["-3", "--no-raw", "incr", "sp"],
         ["(error) ERR value is not an integer or out of range"]),
    # --- operator habits: --scan, -x, -r, -n, --pipe (mass insertion) ----------------------
    Case("--scan --pattern", ["--scan", "--pattern", "u:*"], ["u:1", "u:2", "u:3"],
         unordered_from=0),
    Case("-x: last argument from stdin", ["-x", "set", "xv"], ["OK"], stdin="from\nstdin"),
    Case("get the -x value", ["get", "xv"], ["from", "stdin"]),
    Case("-r 3: repeat a command", ["-r", "3", "incr", "rr"], ["1", "2", "3"]),
    Case("-n 0: select db 0", ["-n", "0", "get", "a"], ["123"]),
    Case("--pipe with RESP input", ["--pipe"],
         ["All data transferred. Waiting for the last reply...", "Last reply received from server.",
          "errors: 0, replies: 3"],
         stdin="*3\r\n$3\r\nSET\r\n$2\r\np1\r\n$1\r\n1\r\n*2\r\n$4\r\nINCR\r\n$2\r\np1\r\n"
               "*3\r\n$6\r\nINCRBY\r\n$2\r\np1\r\n$2\r\n10\r\n"),
    Case("value written by --pipe", ["get", "p1"], ["12"]),
    Case("--pipe with inline commands (sent to the server as they are)", ["--pipe"],
         ["All data transferred. Waiting for the last reply...", "Last reply received from server.",
          "errors: 0, replies: 2"],
         stdin="SET p2 5\r\nINCR p2\r\n"),
    Case("value written by inline --pipe", ["get", "p2"], ["6"]),
    Case("--pipe counts error replies (exit status 1)", ["--pipe"],
         ["All data transferred. Waiting for the last reply...", "Last reply received from server.",
          "errors: 1, replies: 2"],
         stdin="*2\r\n$4\r\nINCR\r\n$2\r\nsp\r\n*2\r\n$4\r\nINCR\r\n$2\r\np2\r\n", status=1),
    # --- stdin: one command a line, replies in order --------------------------------------
    Case("stdin basic", [], ["OK", "1"], stdin="SET a 1\nGET a\n"),
    Case("stdin mixed raw", [],
         ["OK", "2", "ERR value is not an integer or out of range", "", "", "2", "", "string"],
         stdin="SET a 1\nINCR a\nINCR sp\nGET nosuch\nMGET a nosuch\nTYPE a\n"),
    Case("stdin quoted args", [], ["OK", "hello world", "11"],
         stdin='SET q "hello world"\nGET q\nSTRLEN q\n'),
    Case("stdin no-raw", ["--no-raw"],
         ["OK", '"1"', "(integer) 2", "(error) ERR value is not an integer or out of range",
          "(nil)", '1) "2"', "2) (nil)", "(integer) 1", "(integer) 0"],
         stdin="SET a 1\nGET a\nINCR a\nINCR sp\nGET nosuch\nMGET a nosuch\nDEL a\nEXISTS a\n"),
    Case("stdin resp3", ["-3", "--no-raw"], ["OK", '"v3"', "(nil)"],
         stdin="SET r3 v3\nGET r3\nGET nosuch\n"),
]


def matches(expected: list[str | re.Pattern], got: list[str], unordered_from: int | None) -> bool:
    if unordered_from is not None:
        i = unordered_from
        return (matches(expected[:i], got[:i], None)
                and sorted(map(str, expected[i:])) == sorted(got[i:]))
    if len(expected) != len(got):
        return False
    for exp, line in zip(expected, got):
        if isinstance(exp, re.Pattern):
            if not exp.fullmatch(line):
                return False
        elif exp != line:
            return False
    return True


def run_case(cli: str, host: str, port: int, case: Case) -> tuple[bool, str]:
    argv = [cli, "-h", host, "-p", str(port), *case.argv]
    try:
        proc = subprocess.run(argv, input=case.stdin if case.stdin is not None else "",
                              capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return False, "timed out after 10 s"
    # Drop the one newline after the last reply; an empty line left over is a real reply
    # (raw mode prints a nil as an empty line).
    out = proc.stdout
    got = out.removesuffix("\n").split("\n") if out else []
    if proc.returncode != case.status:
        return False, (f"exit status {proc.returncode} (expected {case.status}); stdout={got!r} "
                       f"stderr={proc.stderr.strip()!r}")
    if not matches(case.expected, got, case.unordered_from):
        exp = [e.pattern if isinstance(e, re.Pattern) else e for e in case.expected]
        detail = f"expected {exp!r}\n       got      {got!r}"
        if proc.stderr.strip():
            detail += f"\n       stderr   {proc.stderr.strip()!r}"
        return False, detail
    return True, ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HC_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("HC_PORT", "6379")))
    opts = parser.parse_args()

    cli = shutil.which("redis-cli")
    if cli is None:
        print("redis-cli not found (Debian: apt-get install redis-tools)")
        return 2
    subprocess.run([cli, "-h", opts.host, "-p", str(opts.port), "flushall"],
                   capture_output=True, timeout=10)

    failed = 0
    start = time.monotonic()
    for case in CASES:
        ok, detail = run_case(cli, opts.host, opts.port, case)
        if not ok:
            failed += 1
            shown = " ".join(case.argv) + (f"  <<< {case.stdin!r}" if case.stdin is not None else "")
            print(f"  FAIL {case.name}: redis-cli {shown}\n       {detail}")
    elapsed = time.monotonic() - start
    print(f"redis-cli: {len(CASES) - failed}/{len(CASES)} cases passed ({elapsed:.1f}s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
