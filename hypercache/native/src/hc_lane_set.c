/* hc_lane_set.c - SET, MSET, INCR and DECR through the lane: what Keyspace.set does for
 * a plain string over a key that has no TTL and no value of another type, done in C.
 *
 * Per write, mirroring keyspace.py (_store), coldtier.py (write, became_live), engine.py
 * (put), wal.py (append_put) and memtable.py (put):
 *   - a PUT record appended to the WAL's buffer:
 *       crc32 | len, type=1 | seq, kind=1, expire_at=0, key_len | ikey | value
 *     (little-endian; crc32 as zlib's over everything after it; len counts the bytes
 *     after the type byte; ikey = 2-byte big-endian slot + key);
 *   - the memtable entry ikey -> (1, value, no TTL, seq) (hc_memtable.h);
 *   - the hot tier: the key and value copied into its entry (hc_hot.h), a new live key
 *     inserted in the filter;
 *   - the counters the caller then applies (lane_writes_t).
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "hc_crc32.h"
#include "hc_digits.h"
#include "hc_lane.h"

#define KIND_STRING 1
#define REC_PUT 1
#define PUT_FIXED 21 /* seq, kind, expire_at, key_len: the payload before the key */
#define PUT_HEAD 26  /* len, type + PUT_FIXED */

/* Append the PUT record of (ikey = slot + key, value, seq) to the WAL buffer; 0, or -1
 * on error. */
static int append_put(PyObject *wal, uint16_t slot, const char *key, Py_ssize_t keylen, const char *value,
                      Py_ssize_t vlen, long long seq) {
    Py_ssize_t klen = keylen + 2;
    Py_ssize_t at = PyByteArray_GET_SIZE(wal);
    if (PyByteArray_Resize(wal, at + 4 + PUT_HEAD + klen + vlen) < 0) return -1;
    unsigned char *rec = (unsigned char *)PyByteArray_AS_STRING(wal) + at;
    unsigned char *head = rec + 4;
    hc_put_le(head, (uint64_t)(PUT_FIXED + klen + vlen), 4);
    head[4] = REC_PUT;
    hc_put_le(head + 5, (uint64_t)seq, 8);
    head[13] = KIND_STRING;
    hc_put_le(head + 14, 0, 8); /* expire_at: none */
    hc_put_le(head + 22, (uint64_t)klen, 4);
    head[PUT_HEAD] = (unsigned char)(slot >> 8);
    head[PUT_HEAD + 1] = (unsigned char)(slot & 0xFF);
    memcpy(head + PUT_HEAD + 2, key, (size_t)keylen);
    memcpy(head + PUT_HEAD + klen, value, (size_t)vlen);
    hc_put_le(rec, hc_crc32(0, head, (size_t)(PUT_HEAD + klen + vlen)), 4);
    return 0;
}

/* The length in a bulk header the parser has checked ("$<digits>\r\n" at buf[*p]);
 * *p moves to the bulk's first byte. */
static long long bulk_at(const char *buf, Py_ssize_t *p) {
    const char *h = buf + *p + 1;
    long long len = 0;
    while (*h != '\r') len = len * 10 + (*h++ - '0');
    *p = (h + 2) - buf;
    return len;
}

/* The integer string2ll reads in s[0..n) (numbers.parse_int's rules: an optional '-',
 * no leading zero, no "-0", at most 20 bytes, within 64 bits) into *v; 0 if none. */
static int read_int64(const char *s, Py_ssize_t n, long long *v) {
    if (n == 0 || n > 20) return 0;
    int negative = s[0] == '-';
    Py_ssize_t i = negative;
    if (i == n || (s[i] == '0' && (n > 1))) return 0; /* a lone '-', a leading zero, "-0" */
    unsigned long long u = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (u > (ULLONG_MAX - d) / 10) return 0;
        u = u * 10 + d;
    }
    if (negative ? u > (unsigned long long)LLONG_MAX + 1 : u > (unsigned long long)LLONG_MAX) return 0;
    *v = negative ? (long long)(0 - u) : (long long)u;
    return 1;
}

/* Write the key at[0..klen) as Keyspace.set would: value vat[0..vlen), or with `by`
 * non-zero (INCR/DECR) its integer plus `by` (into *number; an absent key counts as
 * 0). 1 if written (with `probe`: if it could be now), 0 if the ordinary path must
 * (a TTL entry, another type, a key the store may hold, not an integer, an overflow),
 * -1 on error. */
static int write_key(const lane_t *lane, const char *at, long long klen, const char *vat, long long vlen,
                     long long by, long long *number, int probe) {
    lane_writes_t *w = lane->writes;
    char digits[24];
    uint16_t slot = hc_key_slot((const uint8_t *)at, (size_t)klen);
    int rc = 0;
    PyObject *key = NULL; /* made only where a Python object must hold it */
    hc_hot_entry *old = hc_hot_find(lane->hot, slot, at, (size_t)klen);
    /* another type (its memory counts differ) or a TTL: the ordinary path */
    if (old != NULL && (old->flags & (HC_HOT_OBJECT | HC_HOT_TTL))) return 0;
    if (old == NULL) {
        int has_ttl = hc_lane_has_ttl_entry(lane, at, (Py_ssize_t)klen);
        if (has_ttl != 0) return has_ttl < 0 ? -1 : 0;
    }
    int is_new = old == NULL; /* not in memory */
    int ask_store = 0;        /* the filter cannot rule it out: the store says if it is live */
    if (is_new && lane->filter != Py_None) {
        int maybe = hc_lane_filter_contains(lane->filter, at, (Py_ssize_t)klen);
        if (maybe < 0) return 0;
        /* an INCR needs the stored value itself: the ordinary path loads it */
        if (maybe && (by != 0 || w->contains == NULL)) return 0;
        ask_store = maybe;
    }
    if (by != 0) {
        long long v = 0;
        if (old != NULL && !read_int64(hc_hot_value(old), old->vlen, &v)) return 0;
        if ((by > 0 && v > LLONG_MAX - by) || (by < 0 && v < LLONG_MIN - by)) return 0; /* overflow */
        *number = v + by;
        vlen = (long long)hc_write_i64(digits, *number);
        vat = digits;
    }
    if (probe) return 1;
    long long old_vlen = old != NULL ? old->vlen : 0; /* `old` may move once the tier changes */
    if (w->memtable != NULL) { /* the store first: the WAL record, then the memtable */
        int live_before = !is_new;
        if (ask_store) { /* before this write is in the memtable, as Keyspace._store asks */
            key = PyBytes_FromStringAndSize(at, (Py_ssize_t)klen);
            if (key == NULL) goto fail;
            PyObject *answer = PyObject_CallOneArg(w->contains, key);
            if (answer == NULL) {
                /* a damaged store (ColdTier has logged it): write the key as new, so the
                 * filter holds it whatever it was (never a false negative) */
                PyErr_Clear();
                live_before = 0;
            } else {
                live_before = PyObject_IsTrue(answer);
                Py_DECREF(answer);
                if (live_before < 0) goto fail;
            }
        }
        long long seq = w->base_seq + w->writes + 1;
        if (append_put(w->wal, slot, at, (Py_ssize_t)klen, vat, (Py_ssize_t)vlen, seq) < 0) goto fail;
        w->writes++; /* the record is in the WAL buffer: the seq is taken */
        if (hc_mem_put_slot_key(w->memtable, slot, at, (size_t)klen, KIND_STRING, vat, (size_t)vlen, 0, seq) < 0)
            goto fail;
        w->user_bytes += klen + vlen;
        w->live += !live_before;
        /* as many filter negatives as the Python path counts: a SET's check; for an
         * INCR also its read (ColdTier counts what `contains` asked itself) */
        w->negatives += is_new && !ask_store ? (by != 0 ? 2 : 1) : 0;
        if (!live_before && hc_lane_filter_insert(lane->filter, at, (Py_ssize_t)klen) < 0)
            goto fail; /* cold.became_live: into the keyspace filter */
    } else {
        w->writes++;
        w->live += is_new;
    }
    /* the hot tier (a write is a use: the key moves to the young end of the LRU order) */
    if (hc_hot_put(lane->hot, slot, at, (size_t)klen, vat, (size_t)vlen, NULL, 0) < 0) goto fail;
    if (!is_new) w->used -= klen + old_vlen + w->hot_overhead;
    w->used += klen + vlen + w->hot_overhead;
    rc = 1;
    goto out;
fail:
    rc = -1;
out:
    Py_XDECREF(key);
    return rc;
}

/* One key-value pair (the key's bulk header at buf[*p]; *p moves past the value). */
static int set_one(const char *buf, Py_ssize_t *p, const lane_t *lane, int probe) {
    long long klen = bulk_at(buf, p);
    const char *at = buf + *p;
    *p += klen + 2;
    long long vlen = bulk_at(buf, p);
    const char *vat = buf + *p;
    *p += vlen + 2;
    return write_key(lane, at, klen, vat, vlen, 0, NULL, probe);
}

int hc_lane_incr(const char *buf, Py_ssize_t p, long long by, const lane_t *lane, int probe) {
    long long klen = bulk_at(buf, &p);
    long long number = 0;
    int rc = write_key(lane, buf + p, klen, NULL, 0, by, &number, probe);
    if (rc != 1 || probe) return rc;
    char line[32];
    size_t n = hc_write_resp_int(line, ':', number);
    Py_ssize_t at = PyByteArray_GET_SIZE(lane->reply);
    if (PyByteArray_Resize(lane->reply, at + n) < 0) return -1;
    memcpy(PyByteArray_AS_STRING(lane->reply) + at, line, (size_t)n);
    return 1;
}

int hc_lane_set(const char *buf, Py_ssize_t p, Py_ssize_t npairs, const lane_t *lane, int probe) {
    Py_ssize_t q = p;
    int rc = 1;
    /* MSET is all or nothing: every pair must be one the lane can set before any is.
     * (A key given twice stays settable: its first write leaves a string in memory.) */
    if (npairs > 1 || probe) {
        for (Py_ssize_t i = 0; i < npairs && rc == 1; i++) rc = set_one(buf, &q, lane, 1);
        if (rc != 1 || probe) return rc;
        q = p;
    }
    for (Py_ssize_t i = 0; i < npairs; i++) {
        rc = set_one(buf, &q, lane, 0);
        if (rc < 0) return -1;
        if (rc == 0 && i > 0) { /* cannot happen (see above); never leave an MSET half done silently */
            PyErr_SetString(PyExc_RuntimeError, "lane: MSET pair refused after the others were set");
            return -1;
        }
        if (rc == 0) return 0;
    }
    if (PyByteArray_Resize(lane->reply, PyByteArray_GET_SIZE(lane->reply) + 5) < 0) return -1;
    memcpy(PyByteArray_AS_STRING(lane->reply) + PyByteArray_GET_SIZE(lane->reply) - 5, "+OK\r\n", 5);
    return 1;
}
