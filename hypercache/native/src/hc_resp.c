/* hc_resp.c - the fast path of the RESP request reader: complete, ordinary multibulk
 * requests parsed in C (see hc_resp.h for exactly what it leaves to Python). */
#include "hc_resp.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include "hc_crc16.h"
#include "hc_digits.h"
#include "hc_lane.h"

#define MAX_COUNT (1024 * 1024) /* more arguments than this: the Python reader decides */

/* The non-negative decimal in [p, end) as string2ll reads it: no sign, no leading
 * zero (except "0" itself), at most 10 digits. -1 if it is not one. */
static long long read_decimal(const char *p, const char *end) {
    Py_ssize_t n = end - p;
    if (n <= 0 || n > 10 || (p[0] == '0' && n > 1)) return -1;
    long long v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

/* The value of the "<prefix><digits>\r" line at buf[pos], and the position after its
 * "\r\n" in *next; -1 if the line is incomplete or not an ordinary one. */
static long long read_header(const char *buf, Py_ssize_t pos, Py_ssize_t end, char prefix,
                             Py_ssize_t *next) {
    if (pos >= end || buf[pos] != prefix) return -1;
    const char *start = buf + pos + 1;
    Py_ssize_t span = end - pos - 1;
    if (span > 12) span = 12; /* prefix + 10 digits + CR: longer is not ordinary */
    const char *cr = memchr(start, '\r', (size_t)span);
    if (cr == NULL || cr + 1 >= buf + end) return -1; /* Redis wants CR and one more byte */
    long long v = read_decimal(start, cr);
    *next = (cr - buf) + 2;
    return v;
}

#define LANE_MAX_KEYS 64 /* an MGET of more keys takes the ordinary path */

/* How the lane may answer one key: with its value, or with a null (certainly absent). */
enum { KEY_ORDINARY = 0, KEY_VALUE = 1, KEY_ABSENT = 2 };

/* What the lane may answer for the key whose bulk header is at buf[*p] (*p moves past
 * it): KEY_VALUE with its hot-tier entry in *entry_out when the tier holds a string
 * for it and the key has no TTL; KEY_ABSENT when the tier does not hold it, it has no
 * TTL entry and the keyspace filter (Py_None for a pure cache, where memory is
 * everything) rules it out; else KEY_ORDINARY. -1 on error. */
static int hot_value(const char *buf, Py_ssize_t *p, Py_ssize_t end, const lane_t *lane, hc_hot_entry **entry_out) {
    long long len = read_header(buf, *p, end, '$', p);
    const char *at = buf + *p;
    *p += len + 2;
    hc_hot_entry *e = hc_hot_find(lane->hot, hc_key_slot((const uint8_t *)at, (size_t)len), at, (size_t)len);
    if (e != NULL) {
        if (e->flags & (HC_HOT_OBJECT | HC_HOT_TTL)) return KEY_ORDINARY;
        *entry_out = e;
        return KEY_VALUE;
    }
    int has_ttl = hc_lane_has_ttl_entry(lane, at, (Py_ssize_t)len);
    if (has_ttl != 0) return has_ttl < 0 ? -1 : KEY_ORDINARY;
    int maybe = lane->filter == Py_None ? 0 : hc_lane_filter_contains(lane->filter, at, (Py_ssize_t)len);
    return maybe == 0 ? KEY_ABSENT : KEY_ORDINARY;
}

int hc_lane_has_ttl_entry(const lane_t *lane, const char *key, Py_ssize_t len) {
    if (PyDict_GET_SIZE(lane->expires) == 0) return 0;
    PyObject *k = PyBytes_FromStringAndSize(key, len);
    if (k == NULL) return -1;
    int has = PyDict_Contains(lane->expires, k);
    Py_DECREF(k);
    return has;
}

/* The lane (see hc_resp.h): answer GET key (mget 0) or MGET key... (mget 1) with `nkeys`
 * keys, the first key's header at buf[p], if the lane may answer for every key.
 * 1 if answered (the reply appended to `reply`, the nulls given counted in *absent),
 * 0 if the ordinary path must, -1 on error. With `probe` nothing is written or moved:
 * 1 says it would be answered now. */
static int serve_keys(const char *buf, Py_ssize_t p, Py_ssize_t end, Py_ssize_t nkeys, int mget,
                      const lane_t *lane, int probe, Py_ssize_t *absent) {
    /* per key, in request order: its hot-tier entry, NULL for a key answered with a
     * null (nothing changes the tier until the reply is written) */
    hc_hot_entry *entries[LANE_MAX_KEYS];
    Py_ssize_t size = 0, nulls = 0;
    int rc = 1;
    if (nkeys > LANE_MAX_KEYS) return 0;
    for (Py_ssize_t i = 0; i < nkeys; i++) {
        int how = hot_value(buf, &p, end, lane, &entries[i]);
        if (how == KEY_VALUE) {
            size += 16 + entries[i]->vlen; /* "$<len>\r\n" + value + "\r\n" */
        } else if (how == KEY_ABSENT) {
            entries[i] = NULL;
            size += 5;
            nulls++;
        } else {
            rc = how < 0 ? -1 : 0;
            break;
        }
    }
    if (rc == 1 && !probe) {
        const char *null = lane->resp3 ? "_\r\n" : "$-1\r\n";
        size_t null_len = lane->resp3 ? 3 : 5;
        PyObject *reply = lane->reply;
        Py_ssize_t at = PyByteArray_GET_SIZE(reply);
        if (PyByteArray_Resize(reply, at + size + (mget ? 24 : 0)) < 0) {
            rc = -1;
        } else {
            char *dst = PyByteArray_AS_STRING(reply) + at;
            if (mget) dst += hc_write_resp_int(dst, '*', nkeys);
            for (Py_ssize_t i = 0; i < nkeys; i++) {
                hc_hot_entry *e = entries[i];
                if (e == NULL) {
                    memcpy(dst, null, null_len);
                    dst += null_len;
                    continue;
                }
                dst += hc_write_resp_int(dst, '$', e->vlen);
                memcpy(dst, hc_hot_value(e), e->vlen);
                memcpy(dst + e->vlen, "\r\n", 2);
                dst += e->vlen + 2;
                hc_hot_touch(lane->hot, e); /* a read is a use, as Keyspace._fetch's */
            }
            /* the size was an upper bound: give back the rest */
            if (PyByteArray_Resize(reply, dst - PyByteArray_AS_STRING(reply)) < 0) rc = -1;
        }
    }
    *absent = nulls;
    return rc;
}

/* The command code (hc_lane.h) of the request's first bulk (header at buf[p]) if it is
 * a command the lane knows (any case), else 0;
 * *after is then where its next bulk's header starts. */
static int lane_command(const char *buf, Py_ssize_t p, Py_ssize_t end, Py_ssize_t *after) {
    Py_ssize_t q;
    long long len = read_header(buf, p, end, '$', &q);
    *after = q + len + 2;
    if (len == 3 && (buf[q + 1] | 0x20) == 'e' && (buf[q + 2] | 0x20) == 't') {
        if ((buf[q] | 0x20) == 'g') return LANE_GET;
        if ((buf[q] | 0x20) == 's') return LANE_SET;
        return 0;
    }
    if (len == 4 && (buf[q] | 0x20) == 'm' && (buf[q + 2] | 0x20) == 'e' && (buf[q + 3] | 0x20) == 't') {
        if ((buf[q + 1] | 0x20) == 'g') return LANE_MGET;
        if ((buf[q + 1] | 0x20) == 's') return LANE_MSET;
    }
    if (len == 4 && (buf[q + 1] | 0x20) == 'n' && (buf[q + 2] | 0x20) == 'c' && (buf[q + 3] | 0x20) == 'r' &&
        (buf[q] | 0x20) == 'i')
        return LANE_INCR;
    if (len == 4 && (buf[q + 1] | 0x20) == 'e' && (buf[q + 2] | 0x20) == 'c' && (buf[q + 3] | 0x20) == 'r' &&
        (buf[q] | 0x20) == 'd')
        return LANE_DECR;
    return 0;
}

static int add_to_list(PyObject *totals, const long long *add, Py_ssize_t n);

/* lane_writes_t from a `writes` tuple (see hc_resp.h, lane_round); 0, or -1 with an error. */
static int unpack_writes(PyObject *t, lane_writes_t *w) {
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 6 || !PyList_Check(PyTuple_GET_ITEM(t, 2)) ||
        PyList_GET_SIZE(PyTuple_GET_ITEM(t, 2)) != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "writes: (memtable: MemtableEntries, wal: bytearray, deltas: list of 5 ints, base_seq, "
                        "hot_overhead, contains)");
        return -1;
    }
    memset(w, 0, sizeof(*w));
    PyObject *memtable = PyTuple_GET_ITEM(t, 0);
    if (memtable != Py_None) { /* over a store */
        if (!PyObject_TypeCheck(memtable, &MemtableEntriesType) || !PyByteArray_Check(PyTuple_GET_ITEM(t, 1)) ||
            !PyCallable_Check(PyTuple_GET_ITEM(t, 5))) {
            PyErr_SetString(PyExc_TypeError,
                            "writes: a MemtableEntries memtable, a bytearray WAL buffer, a callable contains");
            return -1;
        }
        w->memtable = (MemtableEntriesObject *)memtable;
        w->wal = PyTuple_GET_ITEM(t, 1);
        w->contains = PyTuple_GET_ITEM(t, 5);
    }
    w->deltas = PyTuple_GET_ITEM(t, 2);
    w->base_seq = PyLong_AsLongLong(PyTuple_GET_ITEM(t, 3));
    w->hot_overhead = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 4));
    return PyErr_Occurred() ? -1 : 0;
}

/* Add what the writes changed to their deltas list (on every way out of lane_round:
 * the seqs are taken and the WAL buffer holds the records, error or not). */
static int settle_writes(const lane_writes_t *w) {
    long long add[5] = {w->writes, w->user_bytes, w->live, w->used, w->negatives};
    return add_to_list(w->deltas, add, 5);
}

/* lane_t from the Python lane tuple (see hc_resp.h); 0, or -1 with TypeError. */
static int unpack_lane(PyObject *t, lane_t *lane, lane_writes_t *writes) {
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) < 6 || PyTuple_GET_SIZE(t) > 7 ||
        !PyObject_TypeCheck(PyTuple_GET_ITEM(t, 0), &HotTierType) || !PyDict_Check(PyTuple_GET_ITEM(t, 1)) ||
        !PyByteArray_Check(PyTuple_GET_ITEM(t, 2)) || !PyList_Check(PyTuple_GET_ITEM(t, 5)) ||
        PyList_GET_SIZE(PyTuple_GET_ITEM(t, 5)) != LANE_TOTALS) {
        PyErr_SetString(PyExc_TypeError,
                        "lane: (hot: HotTier, expires: dict, reply: bytearray, "
                        "filter: CuckooFilter | None, resp3: bool, totals: list of 14 ints[, writes])");
        return -1;
    }
    lane->writes = NULL;
    if (PyTuple_GET_SIZE(t) == 7 && PyTuple_GET_ITEM(t, 6) != Py_None) { /* the write lane open */
        if (unpack_writes(PyTuple_GET_ITEM(t, 6), writes) < 0) return -1;
        lane->writes = writes;
    }
    lane->hot = (HotTierObject *)PyTuple_GET_ITEM(t, 0);
    lane->expires = PyTuple_GET_ITEM(t, 1);
    lane->reply = PyTuple_GET_ITEM(t, 2);
    lane->filter = PyTuple_GET_ITEM(t, 3);
    lane->resp3 = PyObject_IsTrue(PyTuple_GET_ITEM(t, 4));
    lane->totals = PyTuple_GET_ITEM(t, 5);
    return lane->resp3 < 0 ? -1 : 0;
}

/* The shared part of lane_t from lane_round's (hot, expires, filter, totals); 0, or
 * -1 with TypeError. The per-client reply and protocol are filled in per client. */
static int unpack_shared(PyObject *t, lane_t *lane) {
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 4 || !PyObject_TypeCheck(PyTuple_GET_ITEM(t, 0), &HotTierType) ||
        !PyDict_Check(PyTuple_GET_ITEM(t, 1)) || !PyList_Check(PyTuple_GET_ITEM(t, 3)) ||
        PyList_GET_SIZE(PyTuple_GET_ITEM(t, 3)) != LANE_TOTALS) {
        PyErr_SetString(PyExc_TypeError,
                        "shared: (hot: HotTier, expires: dict, filter: CuckooFilter | None, totals: list of 14 ints)");
        return -1;
    }
    lane->hot = (HotTierObject *)PyTuple_GET_ITEM(t, 0);
    lane->expires = PyTuple_GET_ITEM(t, 1);
    lane->filter = PyTuple_GET_ITEM(t, 2);
    lane->totals = PyTuple_GET_ITEM(t, 3);
    lane->reply = NULL;
    lane->resp3 = 0;
    lane->writes = NULL;
    return 0;
}

/* The parser proper (see hc_resp.h) over buf[pos..end): returns the position after the
 * last request it took, or -1 on error. `lane` NULL: no lane. */
static Py_ssize_t parse_requests(const char *buf, Py_ssize_t pos, Py_ssize_t end, PyObject *out, long long max_bulk,
                                 const lane_t *lane, lane_counts_t *counts) {
    while (pos < end) {
        Py_ssize_t p;
        long long count = read_header(buf, pos, end, '*', &p);
        if (count <= 0 || count > MAX_COUNT) break;
        /* Check that the whole request is here before building anything. */
        Py_ssize_t q = p;
        long long i;
        for (i = 0; i < count; i++) {
            long long len = read_header(buf, q, end, '$', &q);
            if (len < 0 || len > max_bulk || q + len + 2 > end) break;
            q += len + 2; /* Redis skips the CRLF after a bulk without checking it */
        }
        if (i < count) break;
        Py_ssize_t keys_at;
        int which = lane != NULL && count >= 2 ? lane_command(buf, p, end, &keys_at) : 0;
        /* arity errors, SET's options and a closed write lane: the ordinary path */
        if (which == LANE_GET && count != 2) which = 0;
        if (which >= LANE_SET && lane->writes == NULL) which = 0;
        if (which == LANE_SET && count != 3) which = 0;
        if (which == LANE_MSET && count % 2 == 0) which = 0;
        if ((which == LANE_INCR || which == LANE_DECR) && count != 2) which = 0;
        if (which) {
            /* Replies go out in request order: a request the lane would answer that
             * follows requests still to be run waits for the next call, made once the
             * caller has run them (it is looked up again then). Others join them. */
            int pending = PyList_GET_SIZE(out) > 0;
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            Py_ssize_t nulls = 0;
            int rc;
            if (which == LANE_GET || which == LANE_MGET)
                rc = serve_keys(buf, keys_at, end, (Py_ssize_t)count - 1, which == LANE_MGET, lane, pending, &nulls);
            else if (which == LANE_SET || which == LANE_MSET)
                rc = hc_lane_set(buf, keys_at, (Py_ssize_t)(count - 1) / 2, lane, pending);
            else
                rc = hc_lane_incr(buf, keys_at, which == LANE_INCR ? 1 : -1, lane, pending);
            if (rc < 0) return -1;
            if (rc == 1 && pending) break;
            if (rc == 1) {
                clock_gettime(CLOCK_MONOTONIC, &t1);
                long long ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
                counts->totals[2 * which]++;
                counts->totals[2 * which + 1] += ns;
                if (which == LANE_GET || which == LANE_MGET) {
                    counts->totals[0] += count - 1;
                    counts->totals[1] += nulls;
                }
                counts->last = which;
                pos = q;
                continue;
            }
        }
        PyObject *request = PyList_New((Py_ssize_t)count);
        if (request == NULL) return -1;
        for (i = 0; i < count; i++) {
            long long len = read_header(buf, p, end, '$', &p);
            PyObject *arg = PyBytes_FromStringAndSize(buf + p, (Py_ssize_t)len);
            if (arg == NULL) {
                Py_DECREF(request);
                return -1;
            }
            PyList_SET_ITEM(request, (Py_ssize_t)i, arg);
            p += len + 2;
        }
        int rc = PyList_Append(out, request);
        Py_DECREF(request);
        if (rc < 0) return -1;
        pos = q;
    }
    return pos;
}

/* Sum what two parses answered (for one update of the totals). */
static void add_to(lane_counts_t *sum, const lane_counts_t *c) {
    for (int i = 0; i < LANE_TOTALS; i++) sum->totals[i] += c->totals[i];
    if (c->last) sum->last = c->last;
}

/* Add `add[0..n)` to the ints of the list `totals`. */
static int add_to_list(PyObject *totals, const long long *add, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        if (add[i] == 0) continue;
        long long old = PyLong_AsLongLong(PyList_GET_ITEM(totals, i));
        if (old == -1 && PyErr_Occurred()) return -1;
        PyObject *sum = PyLong_FromLongLong(old + add[i]);
        if (sum == NULL) return -1;
        PyList_SetItem(totals, i, sum); /* steals sum, drops the old item */
    }
    return 0;
}

/* Add the counts to the running `totals` (hc_lane.h's LANE_TOTALS layout). */
static int add_counts(PyObject *totals, const lane_counts_t *c) {
    return c->last ? add_to_list(totals, c->totals, LANE_TOTALS) : 0; /* `last`: anything answered */
}

/* What was answered and written is counted whatever happened after it: the counts into
 * the totals, the writes' sums into their deltas (an error raised before waits while
 * they go in). Returns `result`, or NULL with the error. */
static PyObject *account(const lane_t *lane, const lane_counts_t *c, PyObject *result) {
    PyObject *type, *value, *trace;
    PyErr_Fetch(&type, &value, &trace);
    if (add_counts(lane->totals, c) < 0) Py_CLEAR(result);
    if (lane->writes != NULL && settle_writes(lane->writes) < 0) Py_CLEAR(result);
    if (type != NULL) {
        Py_CLEAR(result);
        PyErr_Restore(type, value, trace);
    }
    return result;
}

PyObject *hc_parse_multibulk(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if ((nargs != 4 && nargs != 5) || !PyBytes_Check(args[0]) || !PyList_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "parse_multibulk(buf: bytes, pos: int, out: list, max_bulk: int[, lane: tuple])");
        return NULL;
    }
    lane_t lane;
    lane_writes_t writes;
    int with_lane = nargs == 5 && args[4] != Py_None;
    if (with_lane && unpack_lane(args[4], &lane, &writes) < 0) return NULL;
    const char *buf = PyBytes_AS_STRING(args[0]);
    Py_ssize_t end = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    long long max_bulk = PyLong_AsLongLong(args[3]);
    if (PyErr_Occurred()) return NULL;
    if (pos < 0 || pos > end) {
        PyErr_SetString(PyExc_ValueError, "pos out of range");
        return NULL;
    }
    lane_counts_t c = {0};
    pos = parse_requests(buf, pos, end, args[2], max_bulk, with_lane ? &lane : NULL, &c);
    if (!with_lane) return pos < 0 ? NULL : PyLong_FromSsize_t(pos);
    return account(&lane, &c, pos < 0 ? NULL : Py_BuildValue("(ni)", pos, c.last));
}

/* Send the lane's replies in `reply` (a bytearray) on the non-blocking socket `fd` and
 * drop what was sent from it; returns the bytes sent. A full socket or an error sends
 * nothing more and leaves the rest where it is: the caller's ordinary send sees the same
 * condition again and handles it (waits for writability, or closes the client). */
static Py_ssize_t send_reply(int fd, PyObject *reply) {
    char *data = PyByteArray_AS_STRING(reply);
    Py_ssize_t len = PyByteArray_GET_SIZE(reply);
    ssize_t n;
    do {
        n = send(fd, data, (size_t)len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return 0;
    if (n < len) memmove(data, data + n, (size_t)(len - n));
    if (PyByteArray_Resize(reply, len - n) < 0) return -1;
    return n;
}

PyObject *hc_recv_lane(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6 || !PyList_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "recv_lane(fd: int, size: int, out: list, max_bulk: int, lane: tuple, send: bool)");
        return NULL;
    }
    int may_send = PyObject_IsTrue(args[5]);
    if (may_send < 0) return NULL;
    lane_t lane;
    lane_writes_t writes;
    if (unpack_lane(args[4], &lane, &writes) < 0) return NULL;
    int fd = (int)PyLong_AsLong(args[0]);
    Py_ssize_t size = PyLong_AsSsize_t(args[1]);
    long long max_bulk = PyLong_AsLongLong(args[3]);
    if (PyErr_Occurred()) return NULL;
    if (size <= 0) {
        PyErr_SetString(PyExc_ValueError, "size must be positive");
        return NULL;
    }
    PyObject *data = PyBytes_FromStringAndSize(NULL, size);
    if (data == NULL) return NULL;
    ssize_t n;
    do {
        n = recv(fd, PyBytes_AS_STRING(data), (size_t)size, 0); /* the socket is non-blocking */
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        Py_DECREF(data);
        return PyErr_SetFromErrno(PyExc_OSError); /* EAGAIN: BlockingIOError, as socket.recv */
    }
    lane_counts_t counts = {0};
    PyObject *result = NULL, *rest = NULL;
    Py_ssize_t pos = parse_requests(PyBytes_AS_STRING(data), 0, n, args[2], max_bulk, &lane, &counts);
    if (pos < 0) goto done;
    /* Everything read answered by the lane, and nothing else waits to go out first: the
     * replies are sent here if the caller says they may go out before the round's WAL
     * write (the round has written nothing yet) and this read wrote nothing either. */
    int wrote = lane.writes != NULL && lane.writes->memtable != NULL && lane.writes->writes > 0;
    Py_ssize_t sent = 0;
    if (may_send && !wrote && pos == n && n > 0 && PyList_GET_SIZE(args[2]) == 0 &&
        PyByteArray_GET_SIZE(lane.reply) > 0) {
        sent = send_reply(fd, lane.reply);
        if (sent < 0) goto done;
    }
    if (pos == 0) {
        rest = data; /* nothing taken: the whole read (EOF: b"") */
        data = NULL;
        if (_PyBytes_Resize(&rest, n) < 0) goto done; /* frees rest on failure */
    } else {
        rest = PyBytes_FromStringAndSize(PyBytes_AS_STRING(data) + pos, n - pos);
        if (rest == NULL) goto done;
    }
    result = Py_BuildValue("(nNin)", (Py_ssize_t)n, rest, counts.last, sent); /* steals rest */
done:
    Py_XDECREF(data);
    return account(&lane, &counts, result);
}

#define ROUND_READ_MAX (64 * 1024) /* lane_round's read buffer */

/* A Python int from a tuple item as a C long; -1 with an error set if it is not one. */
static long item_long(PyObject *t, Py_ssize_t i) {
    return PyLong_AsLong(PyTuple_GET_ITEM(t, i));
}

/* Append fd << 1 | wrote to `pending`: a client served whole whose replies wait for the
 * round's WAL write. 0, or -1. */
static int add_pending(PyObject *pending, int fd, int wrote) {
    PyObject *code = PyLong_FromLong(((long)fd << 1) | wrote);
    int rc = code == NULL ? -1 : PyList_Append(pending, code);
    Py_XDECREF(code);
    return rc;
}

PyObject *hc_lane_round(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 9 || !PyList_Check(args[0]) || !PyDict_Check(args[2]) || !PyList_Check(args[5]) ||
        !PyList_Check(args[8])) {
        PyErr_SetString(PyExc_TypeError,
                        "lane_round(events: list, start: int, lanes: dict, shared: tuple, size: int, touched: list, "
                        "send: bool, writes: tuple | None, pending: list)");
        return NULL;
    }
    static char buf[ROUND_READ_MAX]; /* the GIL is held throughout: one caller at a time */
    PyObject *events = args[0], *lanes = args[2], *touched = args[5], *pending = args[8];
    lane_t lane;
    lane_writes_t writes;
    if (unpack_shared(args[3], &lane) < 0) return NULL;
    if (args[7] != Py_None) {
        if (unpack_writes(args[7], &writes) < 0) return NULL;
        lane.writes = &writes;
    }
    int may_send = PyObject_IsTrue(args[6]);
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    Py_ssize_t size = PyLong_AsSsize_t(args[4]);
    if (may_send < 0 || PyErr_Occurred()) return NULL;
    if (size <= 0 || size > ROUND_READ_MAX || start < 0) {
        PyErr_SetString(PyExc_ValueError, "size must be in 1..65536 and start >= 0");
        return NULL;
    }
    /* Replies go out here only while the round's WAL buffer holds nothing they could
     * depend on: `send` says it held nothing at the start, and a write here ends that. */
    lane_writes_t *w = lane.writes != NULL && lane.writes->memtable != NULL ? lane.writes : NULL;
    lane_counts_t sum = {0};
    long long bytes_in = 0, bytes_out = 0;
    PyObject *result = NULL, *out = NULL;
    Py_ssize_t count = PyList_GET_SIZE(events), i;
    for (i = start; i < count; i++) {
        PyObject *event = PyList_GET_ITEM(events, i);
        if (!PyTuple_Check(event) || PyTuple_GET_SIZE(event) != 2) {
            PyErr_SetString(PyExc_TypeError, "events: (fd, mask) pairs");
            goto done;
        }
        long mask = item_long(event, 1);
        if (mask == -1 && PyErr_Occurred()) goto done;
        if (mask != EPOLLIN) break; /* writable, hung up, an error: the reactor's business */
        PyObject *entry = PyDict_GetItemWithError(lanes, PyTuple_GET_ITEM(event, 0)); /* borrowed */
        if (entry == NULL) {
            if (PyErr_Occurred()) goto done;
            break; /* not a client the lane serves now */
        }
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 3 || !PyByteArray_Check(PyTuple_GET_ITEM(entry, 0))) {
            PyErr_SetString(PyExc_TypeError, "lanes: fd -> (reply: bytearray, resp3: bool, max_bulk: int)");
            goto done;
        }
        int fd = (int)item_long(event, 0);
        long long max_bulk = PyLong_AsLongLong(PyTuple_GET_ITEM(entry, 2));
        lane.reply = PyTuple_GET_ITEM(entry, 0);
        lane.resp3 = PyObject_IsTrue(PyTuple_GET_ITEM(entry, 1));
        if (PyErr_Occurred() || lane.resp3 < 0) goto done;
        if (PyByteArray_GET_SIZE(lane.reply) > 0) break; /* replies still to go out come first */
        if (out == NULL && (out = PyList_New(0)) == NULL) goto done;
        ssize_t n;
        do {
            n = recv(fd, buf, (size_t)size, 0); /* the socket is non-blocking */
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) continue; /* a spurious wake-up */
            break; /* the reactor's own read meets the error and closes the client */
        }
        long long writes_before = w != NULL ? w->writes : 0;
        lane_counts_t c = {0};
        Py_ssize_t pos = n ? parse_requests(buf, 0, n, out, max_bulk, &lane, &c) : 0;
        add_to(&sum, &c);
        if (pos < 0) goto done;
        int wrote = w != NULL && w->writes > writes_before;
        Py_ssize_t sent = 0;
        if (pos == n && n > 0 && PyList_GET_SIZE(out) == 0) { /* answered whole */
            if (may_send && (w == NULL || w->writes == 0)) {
                sent = send_reply(fd, lane.reply);
                if (sent < 0) goto done;
            }
            if (PyByteArray_GET_SIZE(lane.reply) == 0 || !may_send || (w != NULL && w->writes)) {
                bytes_in += n;
                bytes_out += sent;
                PyObject *code = PyLong_FromLong(((long)fd << 3) | c.last);
                if (code == NULL || PyList_Append(touched, code) < 0) {
                    Py_XDECREF(code);
                    goto done;
                }
                Py_DECREF(code);
                /* not sent (or not all of it): the reactor sends it after the WAL write */
                if (PyByteArray_GET_SIZE(lane.reply) > 0 && add_pending(pending, fd, wrote) < 0) goto done;
                continue;
            }
        }
        /* The rest of this read (EOF, requests for Python, a full socket) is the caller's:
         * (index, nread, rest, requests, last, sent, bytes_in, bytes_out, wrote). */
        result = Py_BuildValue("(nny#Oinlli)", i, (Py_ssize_t)n, buf + pos, (Py_ssize_t)(n - pos), out, c.last, sent,
                               (long)bytes_in, (long)bytes_out, wrote);
        goto done;
    }
    result = Py_BuildValue("(nnOOiilli)", i, (Py_ssize_t)-1, Py_None, Py_None, 0, 0, (long)bytes_in, (long)bytes_out, 0);
done:
    Py_XDECREF(out);
    /* What was answered and written is counted whatever happened after it (an error
     * raised above waits while the sums go in). */
    PyObject *type, *value, *trace;
    PyErr_Fetch(&type, &value, &trace);
    if (add_counts(lane.totals, &sum) < 0) Py_CLEAR(result);
    if (lane.writes != NULL && settle_writes(lane.writes) < 0) Py_CLEAR(result);
    if (type != NULL) {
        Py_CLEAR(result);
        PyErr_Restore(type, value, trace);
    }
    return result;
}

PyObject *hc_send_lane_replies(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyList_Check(args[0]) || !PyDict_Check(args[1]) || !PyList_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "send_lane_replies(fds: list, lanes: dict, blocked: list)");
        return NULL;
    }
    PyObject *fds = args[0], *lanes = args[1], *blocked = args[2];
    long long total = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(fds); i++) {
        PyObject *fd_obj = PyList_GET_ITEM(fds, i);
        PyObject *entry = PyDict_GetItemWithError(lanes, fd_obj); /* borrowed */
        if (entry == NULL) {
            if (PyErr_Occurred()) return NULL;
            continue; /* closed since */
        }
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 3 || !PyByteArray_Check(PyTuple_GET_ITEM(entry, 0))) {
            PyErr_SetString(PyExc_TypeError, "lanes: fd -> (reply: bytearray, resp3: bool, max_bulk: int)");
            return NULL;
        }
        PyObject *reply = PyTuple_GET_ITEM(entry, 0);
        if (PyByteArray_GET_SIZE(reply) == 0) continue;
        int fd = (int)PyLong_AsLong(fd_obj);
        if (fd == -1 && PyErr_Occurred()) return NULL;
        Py_ssize_t sent = send_reply(fd, reply);
        if (sent < 0) return NULL;
        total += sent;
        if (PyByteArray_GET_SIZE(reply) > 0 && PyList_Append(blocked, fd_obj) < 0) return NULL;
    }
    return PyLong_FromLongLong(total);
}
