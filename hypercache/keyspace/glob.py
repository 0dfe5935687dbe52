"""Redis's glob pattern matching (stringmatchlen) for KEYS, SCAN MATCH, CONFIG GET.

fnmatch is not the same: Redis has no special meaning for a leading dot, treats
'\\' as an escape everywhere, and supports [^...] negation and ranges on bytes.

The rules, as util.c's stringmatchlen applies them:
- `*` any run of bytes, `?` exactly one byte, `\\x` the byte x (a trailing `\\` is
  itself), anything else is itself;
- `[...]` one byte from a class. Inside it, at each position in this order: `\\x` is
  the byte x; `]` closes the class; `a-b` is a range whenever two more bytes follow
  the `a` (so `[a-]` is the range `a`..`]` and the class goes on), with bounds in
  either order compared as C's signed chars; anything else is itself. `^` first
  negates. A class left open ends with the pattern;
- an empty key matches only the empty pattern (KEYS and SCAN treat a lone `*` as
  "everything" before matching, so `*` still returns it; `**` does not).

A pattern compiles once (cached) to one regular expression. Each star-free segment
between two stars is found at its earliest position inside an atomic group, which
is always a correct choice for a glob (segments are fixed-length) and keeps the match
linear: `*a*a*a*a*b` cannot make the regex engine backtrack exponentially.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable

_STAR = None  # the token for '*'; every other token is the set of bytes it accepts


@lru_cache(maxsize=256)
def compile_glob(pattern: bytes, nocase: bool = False) -> Callable[[bytes], bool]:
    """A predicate that tells whether a byte string matches the glob `pattern`."""
    if pattern == b"*":
        return lambda _key: True
    tokens = _tokenize(pattern, nocase)
    regex = re.compile(_to_regex(tokens), re.DOTALL)
    empty_matches = pattern == b""

    def match(key: bytes) -> bool:
        if not key:
            return empty_matches
        return regex.match(key) is not None

    return match


def glob_match(pattern: bytes, key: bytes, nocase: bool = False) -> bool:
    """One-off match (compiles and caches the pattern)."""
    return compile_glob(pattern, nocase)(key)


def _tokenize(pattern: bytes, nocase: bool) -> list[frozenset[int] | None]:
    """The pattern as a list of tokens: _STAR, or the frozenset of bytes one position accepts."""
    tokens: list[frozenset[int] | None] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 0x2A:  # '*'
            if not tokens or tokens[-1] is not _STAR:
                tokens.append(_STAR)
        elif c == 0x3F:  # '?'
            tokens.append(frozenset(range(256)))
        elif c == 0x5B:  # '['
            accepted, i = _class(pattern, i + 1, nocase)
            tokens.append(accepted)
            continue
        else:
            if c == 0x5C and i + 1 < n:  # '\\' escapes the next byte
                i += 1
                c = pattern[i]
            tokens.append(_literal(c, nocase))
        i += 1
    return tokens


def _class(pattern: bytes, i: int, nocase: bool) -> tuple[frozenset[int], int]:
    """Parse a class starting just after '['; returns (bytes accepted, index after it)."""
    n = len(pattern)
    negate = i < n and pattern[i] == 0x5E  # '^'
    if negate:
        i += 1
    accepted: set[int] = set()
    while i < n:
        c = pattern[i]
        if c == 0x5C and n - i >= 2:  # '\\x': the byte x (exactly, even with nocase)
            i += 1
            accepted.add(pattern[i])
        elif c == 0x5D:  # ']'
            i += 1
            break
        elif n - i >= 3 and pattern[i + 1] == 0x2D:  # 'a-b'
            accepted |= _range(pattern[i], pattern[i + 2], nocase)
            i += 2
        else:
            accepted |= _literal(c, nocase)
        i += 1
    if negate:
        accepted = set(range(256)) - accepted
    return frozenset(accepted), i


def _signed(byte: int) -> int:
    """A byte as C's (signed) char, which is what stringmatchlen compares ranges in."""
    return byte - 256 if byte >= 128 else byte


def _lower(byte: int) -> int:
    return byte + 32 if 0x41 <= byte <= 0x5A else byte


def _literal(byte: int, nocase: bool) -> frozenset[int]:
    if nocase and _lower(byte) != byte:
        return frozenset((byte, _lower(byte)))
    if nocase and 0x61 <= byte <= 0x7A:
        return frozenset((byte, byte - 32))
    return frozenset((byte,))


def _range(start: int, end: int, nocase: bool) -> set[int]:
    lo, hi = _signed(start), _signed(end)
    if lo > hi:
        lo, hi = hi, lo
    if nocase:
        lo, hi = _signed(_lower(lo & 0xFF)), _signed(_lower(hi & 0xFF))
        return {b for b in range(256) if lo <= _signed(_lower(b)) <= hi}
    return {b for b in range(256) if lo <= _signed(b) <= hi}


def _to_regex(tokens: list[frozenset[int] | None]) -> bytes:
    """prefix (?>.*?middle)... .*suffix \\Z, or prefix \\Z when there is no star."""
    segments: list[list[frozenset[int]]] = [[]]
    for token in tokens:
        if token is _STAR:
            segments.append([])
        else:
            segments[-1].append(token)
    out = bytearray(b"".join(_byte_class(t) for t in segments[0]))
    if len(segments) > 1:
        for middle in segments[1:-1]:
            if middle:
                out += b"(?>.*?" + b"".join(_byte_class(t) for t in middle) + b")"
        out += b".*" + b"".join(_byte_class(t) for t in segments[-1])
    return bytes(out) + b"\\Z"


def _byte_class(accepted: frozenset[int]) -> bytes:
    if len(accepted) == 256:
        return b"."
    if not accepted:
        return b"(?!)"
    if len(accepted) == 1:
        (byte,) = accepted
        return b"\\x%02x" % byte
    if len(accepted) > 128:
        return b"[^" + _ranges(set(range(256)) - accepted) + b"]"
    return b"[" + _ranges(accepted) + b"]"


def _ranges(accepted: set[int] | frozenset[int]) -> bytes:
    """A regex class body for a set of bytes, runs written as ranges."""
    out = bytearray()
    ordered = sorted(accepted)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j > i:
            out += b"\\x%02x-\\x%02x" % (ordered[i], ordered[j])
        else:
            out += b"\\x%02x" % ordered[i]
        i = j + 1
    return bytes(out)
