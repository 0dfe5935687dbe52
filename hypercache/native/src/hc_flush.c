/* hc_flush.c - a flush's whole table body in C: from a WAL file's bytes to the data
 * blocks, their index entries and the filter block, as compaction.py's _run_flush
 * builds them through newest_records, flush_entries, _write_tables and TableBuilder
 * (byte for byte: the Python path stays for damaged WAL files and is the test's
 * reference). A flush that trails the writers stalls them; in Python its per-entry
 * objects (a dict of tuples, then 5-tuples, then lists) were most of its second. */
#include "hc_flush.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hc_bloom.h"
#include "hc_crc32.h"
#include "hc_hash.h"
#include "hc_wal.h"

#define ENTRY_HEAD 8   /* block.ENTRY_HEAD: key_len u32, value_len u32 */
#define VALUE_HEAD 17  /* sstable.VALUE_HEAD: kind u8, seq u64, expire_at u64 */
#define BLOCK_TRAILER 8 /* block.TRAILER_SIZE: count u32, crc32 u32 */
#define KIND_TOMBSTONE 0
#define FILTER_TYPE_NATIVE 2 /* bloom.BLOOM_NATIVE */

typedef struct {
    const unsigned char *key, *value;
    Py_ssize_t klen, vlen;
    uint64_t seq, expire_at;
    Py_ssize_t order; /* position in the file: the later of two records of a key wins */
    int kind;
} flush_rec;

typedef struct {
    flush_rec *recs;
    Py_ssize_t n, cap;
} rec_array;

static int collect(void *ctx, const hc_wal_record *rec) {
    rec_array *arr = ctx;
    if (rec->type == HC_WAL_FLUSHALL) {
        arr->n = 0; /* what came before is gone */
        return 0;
    }
    if (arr->n == arr->cap) {
        Py_ssize_t cap = arr->cap ? 2 * arr->cap : 4096;
        flush_rec *grown = realloc(arr->recs, (size_t)cap * sizeof *grown);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        arr->recs = grown, arr->cap = cap;
    }
    flush_rec *r = &arr->recs[arr->n];
    r->key = rec->key, r->klen = rec->klen;
    r->value = rec->value, r->vlen = rec->vlen;
    r->seq = rec->seq, r->expire_at = rec->expire_at, r->kind = rec->kind;
    r->order = arr->n++;
    return 0;
}

/* Keys as Python orders bytes; newest (latest in the file) first within a key. */
static int by_key_newest_first(const void *pa, const void *pb) {
    const flush_rec *a = pa, *b = pb;
    size_t n = (size_t)(a->klen < b->klen ? a->klen : b->klen);
    int c = n ? memcmp(a->key, b->key, n) : 0;
    if (c) return c;
    if (a->klen != b->klen) return a->klen < b->klen ? -1 : 1;
    return a->order > b->order ? -1 : (a->order < b->order);
}

/* Keep the newest record of each key; an expired one becomes a tombstone (_write_tables). */
static Py_ssize_t keep_newest(flush_rec *recs, Py_ssize_t n, uint64_t now_ms) {
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        flush_rec r = recs[i];
        if (kept && r.klen == recs[kept - 1].klen && memcmp(r.key, recs[kept - 1].key, (size_t)r.klen) == 0)
            continue; /* an older version */
        if (r.kind != KIND_TOMBSTONE && r.expire_at && r.expire_at <= now_ms) {
            r.kind = KIND_TOMBSTONE, r.expire_at = 0, r.vlen = 0;
        }
        recs[kept++] = r;
    }
    return kept;
}

static inline Py_ssize_t entry_size(const flush_rec *r) { return ENTRY_HEAD + r->klen + VALUE_HEAD + r->vlen; }

/* Closes the block that starts at out + start with `count` entries whose offsets are
 * in `offsets`; returns its size. */
static Py_ssize_t close_block(unsigned char *out, Py_ssize_t start, Py_ssize_t end, const uint32_t *offsets,
                              Py_ssize_t count) {
    unsigned char *p = out + end;
    for (Py_ssize_t i = 0; i < count; i++, p += 4) hc_put_le(p, offsets[i], 4);
    hc_put_le(p, (uint64_t)count, 4);
    p += 4;
    hc_put_le(p, hc_crc32(0, out + start, (size_t)(p - (out + start))), 4);
    return p + 4 - (out + start);
}

/* The data blocks of recs[0:n] into a new bytes object, cut as TableBuilder.add_entries
 * cuts them (a block closes after the entry that brings its entries plus offsets to
 * block_size - 8 bytes); `index` gets (last key, offset, size) per block. */
static PyObject *build_blocks(const flush_rec *recs, Py_ssize_t n, Py_ssize_t block_size, PyObject *index) {
    Py_ssize_t bound = 0;
    for (Py_ssize_t i = 0; i < n; i++) bound += entry_size(&recs[i]) + 4 + BLOCK_TRAILER;
    PyObject *blob = PyBytes_FromStringAndSize(NULL, bound);
    uint32_t *offsets = malloc((size_t)(n ? n : 1) * sizeof *offsets);
    if (blob == NULL || offsets == NULL) {
        Py_XDECREF(blob);
        free(offsets);
        return PyErr_NoMemory();
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(blob);
    Py_ssize_t limit = block_size - BLOCK_TRAILER, start = 0, end = 0, count = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const flush_rec *r = &recs[i];
        offsets[count++] = (uint32_t)(end - start);
        unsigned char *e = out + end;
        hc_put_le(e, (uint64_t)r->klen, 4);
        hc_put_le(e + 4, (uint64_t)(VALUE_HEAD + r->vlen), 4);
        memcpy(e + ENTRY_HEAD, r->key, (size_t)r->klen);
        e += ENTRY_HEAD + r->klen;
        e[0] = (unsigned char)r->kind;
        hc_put_le(e + 1, r->seq, 8);
        hc_put_le(e + 9, r->expire_at, 8);
        if (r->vlen) memcpy(e + VALUE_HEAD, r->value, (size_t)r->vlen);
        end += entry_size(r);
        if (end - start + 4 * count >= limit || i == n - 1) {
            Py_ssize_t size = close_block(out, start, end, offsets, count);
            PyObject *handle = Py_BuildValue("(y#nn)", (const char *)r->key, r->klen, start, size);
            if (handle == NULL || PyList_Append(index, handle) < 0) {
                Py_XDECREF(handle);
                Py_DECREF(blob);
                free(offsets);
                return NULL;
            }
            Py_DECREF(handle);
            start = end = start + size;
            count = 0;
        }
    }
    free(offsets);
    if (_PyBytes_Resize(&blob, end) < 0) return NULL;
    return blob;
}

/* The filter block: type 2 | a non-scaling native bloom filter over the keys
 * (bloom.NativeBloomBuilder.finish). */
static PyObject *build_filter(const flush_rec *recs, Py_ssize_t n, double error) {
    hc_bloom bf;
    const char *err = NULL;
    int rc = hc_bloom_init(&bf, n ? (uint64_t)n : 1, error, 1, HC_BLOOM_NONSCALING, &err);
    if (rc != HC_OK) {
        if (rc == HC_NOMEM) return PyErr_NoMemory();
        PyErr_SetString(PyExc_ValueError, err ? err : "bad filter parameters");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) (void)hc_bloom_add(&bf, hc_hash64(recs[i].key, (size_t)recs[i].klen));
    uint64_t size = hc_bloom_dump_size(&bf);
    PyObject *block = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size + 1);
    if (block != NULL) {
        unsigned char *p = (unsigned char *)PyBytes_AS_STRING(block);
        p[0] = FILTER_TYPE_NATIVE;
        hc_bloom_dump(&bf, p + 1);
    }
    hc_bloom_free(&bf);
    return block;
}

/* (entries, tombstones, min_seq, max_seq, smallest, largest, expires) of recs[0:n], n > 0. */
static PyObject *properties(const flush_rec *recs, Py_ssize_t n) {
    Py_ssize_t tombstones = 0;
    uint64_t min_seq = UINT64_MAX, max_seq = 0;
    PyObject *expires = PyList_New(0);
    if (expires == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        const flush_rec *r = &recs[i];
        if (r->seq < min_seq) min_seq = r->seq;
        if (r->seq > max_seq) max_seq = r->seq;
        if (r->kind == KIND_TOMBSTONE) {
            tombstones++;
        } else if (r->expire_at) {
            PyObject *at = PyLong_FromUnsignedLongLong(r->expire_at);
            if (at == NULL || PyList_Append(expires, at) < 0) {
                Py_XDECREF(at);
                Py_DECREF(expires);
                return NULL;
            }
            Py_DECREF(at);
        }
    }
    return Py_BuildValue("(nnKKy#y#N)", n, tombstones, min_seq, max_seq, (const char *)recs[0].key, recs[0].klen,
                         (const char *)recs[n - 1].key, recs[n - 1].klen, expires);
}

static PyObject *table_parts(flush_rec *recs, Py_ssize_t n, Py_ssize_t block_size, uint64_t now_ms, double error) {
    qsort(recs, (size_t)n, sizeof *recs, by_key_newest_first);
    n = keep_newest(recs, n, now_ms);
    if (n == 0) Py_RETURN_NONE;
    PyObject *index = PyList_New(0);
    PyObject *blob = index == NULL ? NULL : build_blocks(recs, n, block_size, index);
    PyObject *filter = blob == NULL ? NULL : build_filter(recs, n, error);
    PyObject *props = filter == NULL ? NULL : properties(recs, n);
    if (props == NULL) {
        Py_XDECREF(index);
        Py_XDECREF(blob);
        Py_XDECREF(filter);
        return NULL;
    }
    return Py_BuildValue("(NNNN)", blob, index, filter, props);
}

PyObject *hc_flush_table(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer view;
    Py_ssize_t block_size;
    unsigned long long now_ms;
    double error;
    if (!PyArg_ParseTuple(args, "y*nKd:flush_table", &view, &block_size, &now_ms, &error)) return NULL;
    if (block_size <= BLOCK_TRAILER) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "flush_table: block_size too small");
        return NULL;
    }
    rec_array arr = {NULL, 0, 0};
    hc_wal_scan_result r;
    PyObject *table = NULL, *result = NULL;
    if (hc_wal_scan(view.buf, view.len, collect, &arr, &r) == 0) {
        table = r.stop ? Py_NewRef(Py_None) : table_parts(arr.recs, arr.n, block_size, now_ms, error);
        if (table != NULL)
            result = Py_BuildValue("(LKniLLLN)", r.records, r.last_seq, r.valid, r.stop, (long long)r.pos, r.a, r.b,
                                   table);
    }
    free(arr.recs);
    PyBuffer_Release(&view);
    return result;
}
