/* hc_resp.c - the fast path of the RESP request reader: complete, ordinary multibulk
 * requests parsed in C (see hc_resp.h for exactly what it leaves to Python). */
#include "hc_resp.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hc_crc16.h"

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

/* The GET lane (see hc_resp.h): serve `GET key` at buf[p..] (the key's bulk header at
 * p) from the hot tier if its value is a string in memory without a TTL entry. 1 if
 * served (the reply is in `reply`), 0 if it must take the ordinary path, -1 on error.
 * With `probe` nothing is written: 1 says it would be served now. */
static int serve_get(const char *buf, Py_ssize_t p, Py_ssize_t end, PyObject *slots,
                     PyObject *expires, PyObject *reply, int recency, int probe) {
    long long len = read_header(buf, p, end, '$', &p);
    uint16_t slot = hc_key_slot((const uint8_t *)buf + p, (size_t)len);
    PyObject *dict = PyList_GET_ITEM(slots, slot);
    if (!PyDict_CheckExact(dict)) return 0;
    PyObject *key = PyBytes_FromStringAndSize(buf + p, (Py_ssize_t)len);
    if (key == NULL) return -1;
    PyObject *value = PyDict_GetItemWithError(dict, key); /* borrowed */
    int served = 0;
    if (value != NULL && PyBytes_CheckExact(value)) {
        int has_ttl = PyDict_GET_SIZE(expires) ? PyDict_Contains(expires, key) : 0;
        if (has_ttl < 0) goto fail;
        if (!has_ttl && probe) {
            served = 1;
        } else if (!has_ttl) {
            char head[24];
            int n = snprintf(head, sizeof head, "$%zd\r\n", PyBytes_GET_SIZE(value));
            Py_ssize_t at = PyByteArray_GET_SIZE(reply);
            Py_ssize_t vlen = PyBytes_GET_SIZE(value);
            Py_INCREF(value);
            if (PyByteArray_Resize(reply, at + n + vlen + 2) < 0) {
                Py_DECREF(value);
                goto fail;
            }
            char *dst = PyByteArray_AS_STRING(reply) + at;
            memcpy(dst, head, (size_t)n);
            memcpy(dst + n, PyBytes_AS_STRING(value), (size_t)vlen);
            memcpy(dst + n + vlen, "\r\n", 2);
            /* Under a memory limit each slot dict is in LRU order: re-insert at the end,
             * as Keyspace._fetch does. */
            int rc = recency ? PyDict_DelItem(dict, key) : 0;
            if (rc == 0 && recency) rc = PyDict_SetItem(dict, key, value);
            Py_DECREF(value);
            if (rc < 0) goto fail;
            served = 1;
        }
    } else if (value == NULL && PyErr_Occurred()) {
        goto fail;
    }
    Py_DECREF(key);
    return served;
fail:
    Py_DECREF(key);
    return -1;
}

static int is_get(const char *buf, Py_ssize_t p, Py_ssize_t end) {
    Py_ssize_t q;
    if (read_header(buf, p, end, '$', &q) != 3) return 0;
    return (buf[q] | 0x20) == 'g' && (buf[q + 1] | 0x20) == 'e' && (buf[q + 2] | 0x20) == 't';
}

PyObject *hc_parse_multibulk(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if ((nargs != 4 && nargs != 5) || !PyBytes_Check(args[0]) || !PyList_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "parse_multibulk(buf: bytes, pos: int, out: list, max_bulk: int[, lane: tuple])");
        return NULL;
    }
    PyObject *slots = NULL, *expires = NULL, *reply = NULL;
    int recency = 0;
    if (nargs == 5 && args[4] != Py_None) {
        PyObject *lane = args[4];
        if (!PyTuple_Check(lane) || PyTuple_GET_SIZE(lane) != 4 ||
            !PyList_Check(PyTuple_GET_ITEM(lane, 0)) ||
            PyList_GET_SIZE(PyTuple_GET_ITEM(lane, 0)) != HC_SLOT_COUNT ||
            !PyDict_Check(PyTuple_GET_ITEM(lane, 1)) || !PyByteArray_Check(PyTuple_GET_ITEM(lane, 2))) {
            PyErr_SetString(PyExc_TypeError, "lane: (slots: list of 16384 dicts, expires: dict, reply: bytearray, recency: bool)");
            return NULL;
        }
        slots = PyTuple_GET_ITEM(lane, 0);
        expires = PyTuple_GET_ITEM(lane, 1);
        reply = PyTuple_GET_ITEM(lane, 2);
        recency = PyObject_IsTrue(PyTuple_GET_ITEM(lane, 3));
        if (recency < 0) return NULL;
    }
    const char *buf = PyBytes_AS_STRING(args[0]);
    Py_ssize_t end = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    long long max_bulk = PyLong_AsLongLong(args[3]);
    if (PyErr_Occurred()) return NULL;
    if (pos < 0 || pos > end) {
        PyErr_SetString(PyExc_ValueError, "pos out of range");
        return NULL;
    }
    PyObject *out = args[2];
    Py_ssize_t served = 0;
    long long lane_ns = 0;
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
        if (slots != NULL && count == 2 && is_get(buf, p, end)) {
            /* the key's header follows "$3\r\n" "GET" "\r\n" */
            Py_ssize_t key_at = p + 4 + 3 + 2;
            /* Replies go out in request order: a GET the lane would answer that follows
             * requests still to be run waits for the next call, made once the caller
             * has run them (it is looked up again then). A miss just joins them. */
            int pending = PyList_GET_SIZE(out) > 0;
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            int rc = serve_get(buf, key_at, end, slots, expires, reply, recency, pending);
            if (rc < 0) return NULL;
            if (rc == 1 && pending) break;
            if (rc == 1) {
                clock_gettime(CLOCK_MONOTONIC, &t1);
                lane_ns += (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
                served++;
                pos = q;
                continue;
            }
        }
        PyObject *request = PyList_New((Py_ssize_t)count);
        if (request == NULL) return NULL;
        for (i = 0; i < count; i++) {
            long long len = read_header(buf, p, end, '$', &p);
            PyObject *arg = PyBytes_FromStringAndSize(buf + p, (Py_ssize_t)len);
            if (arg == NULL) {
                Py_DECREF(request);
                return NULL;
            }
            PyList_SET_ITEM(request, (Py_ssize_t)i, arg);
            p += len + 2;
        }
        int rc = PyList_Append(out, request);
        Py_DECREF(request);
        if (rc < 0) return NULL;
        pos = q;
    }
    if (slots == NULL) return PyLong_FromSsize_t(pos);
    return Py_BuildValue("(nnL)", pos, served, lane_ns);
}
