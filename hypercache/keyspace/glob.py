"""Redis's glob pattern matching (stringmatchlen) for KEYS, SCAN MATCH, CONFIG GET.

fnmatch is not the same: Redis has no special meaning for a leading dot, treats
'\\' as an escape everywhere, and supports [^...] negation and ranges on bytes.
Patterns compile once to a regular expression and are cached.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable


@lru_cache(maxsize=256)
def compile_glob(pattern: bytes, nocase: bool = False) -> Callable[[bytes], bool]:
    """A predicate that tells whether a byte string matches the glob `pattern`."""
    if pattern == b"*":
        return lambda _key: True
    out = bytearray()
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i : i + 1]
        if c == b"*":
            out += b".*"
        elif c == b"?":
            out += b"."
        elif c == b"\\" and i + 1 < n:
            i += 1
            out += re.escape(pattern[i : i + 1])
        elif c == b"[":
            i = _class(pattern, i + 1, out)
            continue
        else:
            out += re.escape(c)
        i += 1
    flags = re.DOTALL | (re.IGNORECASE if nocase else 0)
    regex = re.compile(bytes(out) + b"\\Z", flags)
    return lambda key: regex.match(key) is not None


def _class(pattern: bytes, i: int, out: bytearray) -> int:
    """Translate a [...] class starting after '['; returns the index after ']'."""
    n = len(pattern)
    negate = i < n and pattern[i : i + 1] == b"^"
    if negate:
        i += 1
    items = bytearray()
    while i < n and pattern[i : i + 1] != b"]":
        if pattern[i : i + 1] == b"\\" and i + 1 < n:
            i += 1
            items += b"\\x%02x" % pattern[i]
        elif i + 2 < n and pattern[i + 1 : i + 2] == b"-" and pattern[i + 2 : i + 3] != b"]":
            lo, hi = sorted((pattern[i], pattern[i + 2]))
            items += b"\\x%02x-\\x%02x" % (lo, hi)
            i += 2
        else:
            items += b"\\x%02x" % pattern[i]
        i += 1
    # Redis treats an unterminated class as ending at the pattern's end.
    if not items:
        out += b"(?!)" if not negate else b"."
    else:
        out += b"[" + (b"^" if negate else b"") + bytes(items) + b"]"
    return i + 1
