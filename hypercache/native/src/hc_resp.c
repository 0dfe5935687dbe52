/* hc_resp.c - the fast path of the RESP request reader: complete, ordinary multibulk
 * requests parsed in C (see hc_resp.h for exactly what it leaves to Python). */
#include "hc_resp.h"

#include <string.h>

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

PyObject *hc_parse_multibulk(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyBytes_Check(args[0]) || !PyList_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "parse_multibulk(buf: bytes, pos: int, out: list, max_bulk: int)");
        return NULL;
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
    return PyLong_FromSsize_t(pos);
}
