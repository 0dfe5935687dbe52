/* hc_wal.c - the flush's read of a WAL file: storage/wal.py's newest_records over
 * logfile.py's LogReader, record for record, without a Python step per record (the
 * Python loop was ~40% of a flush, and flushes that trail the writers stall them). */
#include "hc_wal.h"

#include <stdint.h>
#include <string.h>

#include "hc_crc32.h"

#define HEADER_SIZE 9         /* crc32 u32, length u32, type u8 */
#define MAX_PAYLOAD (1u << 30) /* logfile.MAX_PAYLOAD */
#define PUT_KEY_AT 26 /* in a body (length, type, payload): seq u64, kind u8, expire_at u64, key_len u32 */

int hc_wal_scan(const unsigned char *buf, Py_ssize_t size, hc_wal_visit visit, void *ctx, hc_wal_scan_result *out) {
    Py_ssize_t pos = 0;
    memset(out, 0, sizeof *out);
    while (pos < size) {
        if (size - pos < HEADER_SIZE) {
            out->stop = 1, out->a = size - pos;
            break;
        }
        uint32_t crc = (uint32_t)hc_get_le(buf + pos, 4);
        uint32_t length = (uint32_t)hc_get_le(buf + pos + 4, 4);
        if (length > MAX_PAYLOAD) {
            out->stop = 2, out->a = length;
            break;
        }
        Py_ssize_t end = pos + HEADER_SIZE + (Py_ssize_t)length;
        if (end > size) {
            out->stop = 3, out->a = size - pos, out->b = end - pos;
            break;
        }
        const unsigned char *body = buf + pos + 4;
        Py_ssize_t blen = end - pos - 4;
        if (hc_crc32(0, body, (size_t)blen) != crc) {
            out->stop = 4;
            break;
        }
        int rtype = body[4];
        if (rtype != HC_WAL_PUT && rtype != HC_WAL_DELETE && rtype != HC_WAL_FLUSHALL) {
            out->stop = 5, out->a = rtype, pos = end; /* the caller raises: where it ends is the message's */
            break;
        }
        if (blen < (rtype == HC_WAL_PUT ? PUT_KEY_AT : 13)) {
            out->stop = 6;
            break;
        }
        hc_wal_record rec = {.type = rtype, .seq = hc_get_le(body + 5, 8)};
        if (rtype == HC_WAL_DELETE) {
            rec.key = body + 13, rec.klen = blen - 13;
        } else if (rtype == HC_WAL_PUT) {
            rec.kind = body[13];
            rec.expire_at = hc_get_le(body + 14, 8);
            Py_ssize_t klen = (Py_ssize_t)hc_get_le(body + 22, 4);
            /* body[ks:ks + klen] and body[ks + klen:] as Python slices them: cut at the body's end */
            Py_ssize_t kend = PUT_KEY_AT + klen < blen ? PUT_KEY_AT + klen : blen;
            rec.key = body + PUT_KEY_AT, rec.klen = kend - PUT_KEY_AT;
            rec.value = body + kend, rec.vlen = blen - kend;
            rec.body = body, rec.blen = blen, rec.value_start = PUT_KEY_AT + klen;
        }
        if (visit(ctx, &rec) < 0) return -1;
        out->records++;
        if (rec.seq > out->last_seq) out->last_seq = rec.seq;
        pos = out->valid = end;
    }
    out->pos = pos;
    return 0;
}

typedef struct {
    PyObject *latest, *empty;
} newest_ctx;

/* latest[key] = (seq, kind, expire_at, body, start); a FLUSHALL clears it. */
static int keep_newest(void *ctx_, const hc_wal_record *rec) {
    newest_ctx *ctx = ctx_;
    if (rec->type == HC_WAL_FLUSHALL) {
        PyDict_Clear(ctx->latest);
        return 0;
    }
    PyObject *key = PyBytes_FromStringAndSize((const char *)rec->key, rec->klen);
    if (key == NULL) return -1;
    PyObject *body = rec->type == HC_WAL_DELETE ? Py_NewRef(ctx->empty)
                                                : PyBytes_FromStringAndSize((const char *)rec->body, rec->blen);
    PyObject *entry = body == NULL ? NULL
                                   : Py_BuildValue("(KiKNn)", rec->seq, rec->kind, rec->expire_at, body, rec->value_start);
    int rc = entry == NULL ? -1 : PyDict_SetItem(ctx->latest, key, entry);
    Py_DECREF(key);
    Py_XDECREF(entry);
    return rc;
}

PyObject *hc_wal_newest(PyObject *Py_UNUSED(module), PyObject *data) {
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return NULL;
    newest_ctx ctx = {PyDict_New(), PyBytes_FromStringAndSize(NULL, 0)};
    hc_wal_scan_result r;
    PyObject *result = NULL;
    if (ctx.latest != NULL && ctx.empty != NULL && hc_wal_scan(view.buf, view.len, keep_newest, &ctx, &r) == 0)
        result = Py_BuildValue("(OLKniLLL)", ctx.latest, r.records, r.last_seq, r.valid, r.stop, (long long)r.pos,
                               r.a, r.b);
    PyBuffer_Release(&view);
    Py_XDECREF(ctx.latest);
    Py_XDECREF(ctx.empty);
    return result;
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
