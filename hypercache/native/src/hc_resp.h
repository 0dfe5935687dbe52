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
 * parse_multibulk(buf, pos, out, max_bulk, lane) -> (pos, last)
 *
 * The same, with the lane: lane = (slots, expires, reply, recency, filter, resp3, totals):
 * the keyspace's 16384 per-slot dicts, its expiry dict, the client's reply buffer,
 * whether the slot dicts are kept in LRU order, the keyspace cuckoo filter (None for a
 * pure cache, whose memory holds every key), the client's protocol, and the server's
 * running sums of what the lane answered ([gets, get_ns, mgets, mget_ns, keys_read,
 * absent], counted into its statistics by the caller). For each key of a `GET key` or
 * an `MGET key...` (at most 64 keys) the lane knows the answer when the key has no
 * expiry entry and either its slot's dict holds a bytes value (the key is then moved to
 * its dict's end under `recency`) or no dict holds it and the filter rules it out (a
 * null). If it knows every key's answer, the reply is appended to `reply`, the request
 * is counted in `totals` and it is not added to `out`. Anything else (a TTL, another
 * type, a key the filter may hold) goes to `out` as usual, for the ordinary path to
 * answer. Replies keep request order: a request the lane would answer that follows
 * requests already in `out` stops the call, to be made again once the caller has run
 * them. `last` is the last request the lane answered: 1 GET, 2 MGET, 0 none. */
int hc_lane_filter_contains(PyObject *filter, const char *key, Py_ssize_t len); /* _native.c */
PyObject *hc_parse_multibulk(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* recv_lane(fd, size, out, max_bulk, lane) -> (nread, rest, last)
 *
 * One recv(2) of at most `size` bytes from the non-blocking socket `fd`, parsed at once
 * as parse_multibulk with the lane parses: the reactor's read for a client whose reader
 * holds nothing, so a read of (M)GETs the lane answers costs no Python per request.
 * `rest` is what the parse did not take (b"" if it took everything; the whole read,
 * b"" at EOF when nread is 0), for the Python reader. A failed recv raises OSError
 * (BlockingIOError for EAGAIN), as socket.recv does. */
PyObject *hc_recv_lane(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
