/* hc_resp.h - the fast path of the RESP request reader (hypercache/resp/reader.py). */
#ifndef HC_RESP_H
#define HC_RESP_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* parse_multibulk(buf: bytes, pos: int, out: list, max_bulk: int) -> int
 *
 * Appends to `out` every complete, ordinary multibulk request of `buf` from `pos` on
 * (a list of bytes per request) and returns the position after the last one. It stops,
 * leaving the rest to the Python reader, at the first byte that is not the start of
 * such a request: an inline command, '*0' or '*-1', anything string2ll would refuse
 * or read differently (signs, leading zeros, NULs), a count over 1M, a bulk longer than
 * `max_bulk`, or a request not complete in `buf`. So every error text, limit and
 * partial-request state stays in one place, the Python reader.
 *
 * parse_multibulk(buf, pos, out, max_bulk, lane) -> (pos, served, ns)
 *
 * The same, with the GET lane: lane = (slots, expires, reply, recency), the keyspace's
 * 16384 per-slot dicts, its expiry dict, the client's reply buffer and whether the
 * slot dicts are kept in LRU order. A `GET key` whose value is a bytes object in its
 * slot's dict and whose key has no expiry entry is answered here: its bulk reply is
 * appended to `reply` (and the key moved to its dict's end under `recency`), and it is
 * not added to `out`. Anything else (a miss, a TTL, another type) goes to `out` as
 * usual, for the ordinary path to answer. Replies keep request order: a GET that
 * follows requests already in `out` stops the call, to be made again once the caller
 * has run them. `served` counts the GETs answered and `ns` the time they took, for the
 * caller's statistics. */
PyObject *hc_parse_multibulk(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
