/* hc_resp.h - the fast path of the RESP request reader (hypercache/resp/reader.py). */
#ifndef HC_RESP_H
#define HC_RESP_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "hc_lane.h"

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
 * The same, with the lane: lane = (hot, expires, reply, filter, resp3, totals
 * [, writes]) (writes: the write lane's tuple, see lane_round, or None):
 * the keyspace's HotTier (hc_hot.h), its expiry dict, the client's reply buffer,
 * the keyspace cuckoo filter (None for a
 * pure cache, whose memory holds every key), the client's protocol, and the server's
 * running sums of what the lane answered (hc_lane.h's LANE_TOTALS ints: keys read,
 * nulls, then calls and ns per command code), counted into its statistics by the
 * caller; the writes only through lane_round's write lane). For each key of a `GET key` or
 * an `MGET key...` (at most 64 keys) the lane knows the answer when the key has no
 * TTL and either the hot tier holds a string for it (its LRU tick then moves on) or the
 * tier does not hold it, it has no expiry entry and the filter rules it out (a
 * null). If it knows every key's answer, the reply is appended to `reply`, the request
 * is counted in `totals` and it is not added to `out`. Anything else (a TTL, another
 * type, a key the filter may hold) goes to `out` as usual, for the ordinary path to
 * answer. Replies keep request order: a request the lane would answer that follows
 * requests already in `out` stops the call, to be made again once the caller has run
 * them. `last` is the last request the lane answered: 1 GET, 2 MGET, 0 none. */
PyObject *hc_parse_multibulk(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* recv_lane(fd, size, out, max_bulk, lane, send) -> (nread, rest, last, sent)
 *
 * One recv(2) of at most `size` bytes from the non-blocking socket `fd`, parsed at once
 * as parse_multibulk with the lane parses: the reactor's read for a client whose reader
 * holds nothing, so a read of (M)GETs the lane answers costs no Python per request.
 * `rest` is what the parse did not take (b"" if it took everything; the whole read,
 * b"" at EOF when nread is 0), for the Python reader. A failed recv raises OSError
 * (BlockingIOError for EAGAIN), as socket.recv does.
 *
 * With `send` true, a read that the lane answered whole (nothing in `out`, no rest) has
 * its replies sent at once: `sent` bytes went out and were removed from the lane's reply
 * buffer. A full socket or a send error leaves the rest there for the caller's ordinary
 * send, which meets the same condition and handles it. */
PyObject *hc_recv_lane(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* lane_round(events, start, lanes, shared, size, touched, send, writes, pending)
 *     -> (index, nread, rest, requests, last, sent, bytes_in, bytes_out, wrote)
 *
 * The reactor's round for the clients the lane serves whole, in C: for each epoll
 * event from events[start] on ((fd, mask) pairs, as epoll.poll returns them) that is a
 * plain EPOLLIN of a socket in `lanes` (fd -> (reply, resp3, max_bulk): a client with
 * nothing pending), one recv of at most `size` bytes parsed with the lane. shared =
 * (hot, expires, filter, totals) is the keyspace's part of the lane (see
 * parse_multibulk). Each client whose read the lane answered whole is appended to
 * `touched` as fd << 3 | last (the last request answered: its command code, hc_lane.h) and
 * its bytes are summed in bytes_in and bytes_out; what the lane answered is added to
 * `totals`.
 *
 * `writes` (None: closed) opens the write lane: SET key value, MSET, INCR and DECR as
 * hc_lane.h says, over
 * (memtable, wal, deltas, base_seq, hot_overhead, contains): the active memtable's
 * entries (hc_memtable.h), the WAL's buffer, a list of 5 ints the call adds its changes
 * to ([writes, user bytes, live keys, hot-tier bytes, filter negatives]: the caller
 * applies them at once), the store's last_seq, the hot tier's entry overhead, and
 * ColdTier.contains (asked about a key not in memory that the filter cannot rule out).
 * memtable, wal and contains are None for a pure cache.
 *
 * Replies are sent at once only with `send` (the round has written nothing yet) and
 * while this call has written nothing to the store; otherwise a client answered whole
 * is appended to `pending` as fd << 1 | wrote, its replies left in its buffer for the
 * reactor to send after the round's WAL write.
 *
 * It stops at the first event it cannot finish: `index` is that event's position
 * (len(events) when every event was served). If it read that client's socket, `nread`
 * is the bytes read (0: EOF), `rest` what the parse left, `requests` the requests
 * parsed for the ordinary path, `last` and `sent` as recv_lane's (a full socket leaves
 * the unsent replies in its reply buffer), `wrote` whether this read wrote; if it did
 * not read it, nread is -1 and rest and requests None. */
PyObject *hc_lane_round(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* send_lane_replies(fds, lanes, blocked) -> bytes sent
 *
 * Send the replies lane_round left in the reply buffers of the clients `fds` (their
 * `lanes` entries; an fd no longer there is skipped), once the round's WAL write is
 * done, removing what went out. Each client whose replies did not all go out (a full
 * socket, an error) is appended to `blocked`, its buffer holding the rest, for the
 * caller's ordinary send to deal with. */
PyObject *hc_send_lane_replies(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
