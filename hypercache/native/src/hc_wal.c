/* hc_wal.c - the flush's read of a WAL file: storage/wal.py's newest_records over
 * logfile.py's LogReader, record for record, without a Python step per record (the
 * Python loop was ~40% of a flush, and flushes that trail the writers stall them). */
#include "hc_wal.h"

#include <stdint.h>
#include <string.h>

#include "hc_crc32.h"

#define HEADER_SIZE 9         /* crc32 u32, length u32, type u8 */
#define MAX_PAYLOAD (1u << 30) /* logfile.MAX_PAYLOAD */
#define REC_PUT 1
#define REC_DELETE 2
#define REC_FLUSHALL 3
#define PUT_KEY_AT 26 /* in a body (length, type, payload): seq u64, kind u8, expire_at u64, key_len u32 */

/* latest[key] = (seq, kind, expire_at, body, start); 0, or -1. */
static int keep(PyObject *latest, PyObject *key, unsigned long long seq, int kind, unsigned long long expire_at,
                PyObject *body, Py_ssize_t start) {
    PyObject *entry = Py_BuildValue("(KiKOn)", seq, kind, expire_at, body, start);
    if (entry == NULL) return -1;
    int rc = PyDict_SetItem(latest, key, entry);
    Py_DECREF(entry);
    return rc;
}

PyObject *hc_wal_newest(PyObject *Py_UNUSED(module), PyObject *data) {
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return NULL;
    const unsigned char *buf = view.buf;
    Py_ssize_t size = view.len, pos = 0, valid = 0;
    long long records = 0, a = 0, b = 0;
    unsigned long long last_seq = 0, seq = 0;
    int stop = 0;
    PyObject *latest = PyDict_New(), *empty = PyBytes_FromStringAndSize(NULL, 0);
    if (latest == NULL || empty == NULL) goto fail;
    while (pos < size) {
        if (size - pos < HEADER_SIZE) {
            stop = 1, a = size - pos;
            break;
        }
        uint32_t crc = (uint32_t)hc_get_le(buf + pos, 4);
        uint32_t length = (uint32_t)hc_get_le(buf + pos + 4, 4);
        if (length > MAX_PAYLOAD) {
            stop = 2, a = length;
            break;
        }
        Py_ssize_t end = pos + HEADER_SIZE + (Py_ssize_t)length;
        if (end > size) {
            stop = 3, a = size - pos, b = end - pos;
            break;
        }
        const unsigned char *body = buf + pos + 4;
        Py_ssize_t blen = end - pos - 4;
        if (hc_crc32(0, body, (size_t)blen) != crc) {
            stop = 4;
            break;
        }
        int rtype = body[4];
        if (rtype != REC_PUT && rtype != REC_DELETE && rtype != REC_FLUSHALL) {
            stop = 5, a = rtype, pos = end; /* the caller raises: where it ends is the message's */
            break;
        }
        if (blen < (rtype == REC_PUT ? PUT_KEY_AT : 13)) {
            stop = 6;
            break;
        }
        seq = hc_get_le(body + 5, 8);
        if (rtype == REC_FLUSHALL) {
            PyDict_Clear(latest);
        } else if (rtype == REC_DELETE) {
            PyObject *key = PyBytes_FromStringAndSize((const char *)body + 13, blen - 13);
            int rc = key == NULL ? -1 : keep(latest, key, seq, 0, 0, empty, 0);
            Py_XDECREF(key);
            if (rc < 0) goto fail;
        } else {
            int kind = body[13];
            unsigned long long expire_at = hc_get_le(body + 14, 8);
            Py_ssize_t klen = (Py_ssize_t)hc_get_le(body + 22, 4);
            /* body[ks:ks + klen] as Python slices it: cut at the body's end */
            Py_ssize_t kend = PUT_KEY_AT + klen < blen ? PUT_KEY_AT + klen : blen;
            PyObject *key = PyBytes_FromStringAndSize((const char *)body + PUT_KEY_AT, kend - PUT_KEY_AT);
            PyObject *whole = key == NULL ? NULL : PyBytes_FromStringAndSize((const char *)body, blen);
            int rc = whole == NULL ? -1 : keep(latest, key, seq, kind, expire_at, whole, PUT_KEY_AT + klen);
            Py_XDECREF(key);
            Py_XDECREF(whole);
            if (rc < 0) goto fail;
        }
        records++;
        if (seq > last_seq) last_seq = seq;
        pos = valid = end;
    }
    PyBuffer_Release(&view);
    Py_DECREF(empty);
    PyObject *result = Py_BuildValue("(NLKniLLL)", latest, records, last_seq, valid, stop, (long long)pos, a, b);
    return result;
fail:
    PyBuffer_Release(&view);
    Py_XDECREF(latest);
    Py_XDECREF(empty);
    return NULL;
}

/* One RawEntry of a flush from latest's (seq, kind, expire_at, body, start) of ikey. */
static PyObject *raw_entry(PyObject *ikey, PyObject *newest) {
    unsigned long long seq, expire_at;
    int kind;
    PyObject *body;
    Py_ssize_t start;
    if (!PyTuple_Check(newest) || !PyArg_ParseTuple(newest, "KiKSn", &seq, &kind, &expire_at, &body, &start)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "flush_entries: latest maps ikey -> (seq, kind, expire_at, body, start)");
        return NULL;
    }
    if (!PyBytes_Check(ikey)) {
        PyErr_SetString(PyExc_TypeError, "flush_entries: keys must be bytes");
        return NULL;
    }
    Py_ssize_t blen = PyBytes_GET_SIZE(body), klen = PyBytes_GET_SIZE(ikey);
    if (start < 0) start = 0;
    Py_ssize_t vlen = start < blen ? blen - start : 0; /* body[start:] */
    PyObject *entry = PyBytes_FromStringAndSize(NULL, 8 + klen + 17 + vlen);
    if (entry == NULL) return NULL;
    unsigned char *e = (unsigned char *)PyBytes_AS_STRING(entry);
    hc_put_le(e, (uint64_t)klen, 4); /* block.ENTRY_HEAD: key length, value length */
    hc_put_le(e + 4, (uint64_t)(17 + vlen), 4);
    memcpy(e + 8, PyBytes_AS_STRING(ikey), (size_t)klen);
    e += 8 + klen;
    e[0] = (unsigned char)kind; /* sstable.VALUE_HEAD: kind, seq, expire_at */
    hc_put_le(e + 1, seq, 8);
    hc_put_le(e + 9, expire_at, 8);
    if (vlen) memcpy(e + 17, PyBytes_AS_STRING(body) + start, (size_t)vlen);
    PyObject *seq_obj = PyLong_FromUnsignedLongLong(seq);
    PyObject *neg = seq_obj == NULL ? NULL : PyNumber_Negative(seq_obj); /* -seq, any u64 */
    Py_XDECREF(seq_obj);
    if (neg == NULL) {
        Py_DECREF(entry);
        return NULL;
    }
    return Py_BuildValue("(ONiKN)", ikey, neg, kind, expire_at, entry);
}

PyObject *hc_flush_entries(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "flush_entries(keys: list[bytes], latest: dict)");
        return NULL;
    }
    PyObject *keys = args[0], *latest = args[1];
    Py_ssize_t n = PyList_GET_SIZE(keys);
    PyObject *out = PyList_New(n);
    if (out == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ikey = PyList_GET_ITEM(keys, i);
        PyObject *newest = PyDict_GetItemWithError(latest, ikey); /* borrowed */
        if (newest == NULL) {
            if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, ikey);
            Py_DECREF(out);
            return NULL;
        }
        PyObject *raw = raw_entry(ikey, newest);
        if (raw == NULL || PyDict_DelItem(latest, ikey) < 0) { /* popped, as the flush frees as it goes */
            Py_XDECREF(raw);
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, raw);
    }
    return out;
}
