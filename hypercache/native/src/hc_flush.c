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

#include "hc_table.h"
#include "hc_wal.h"

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
    int c = hc_key_cmp(a->key, a->klen, b->key, b->klen);
    return c ? c : a->order > b->order ? -1 : (a->order < b->order);
}

/* Keep the newest record of each key; an expired one becomes a tombstone (_write_tables). */
static Py_ssize_t keep_newest(flush_rec *recs, Py_ssize_t n, uint64_t now_ms) {
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        flush_rec r = recs[i];
        if (kept && hc_key_cmp(r.key, r.klen, recs[kept - 1].key, recs[kept - 1].klen) == 0)
            continue; /* an older version */
        if (r.kind != HC_KIND_TOMBSTONE && r.expire_at && r.expire_at <= now_ms) {
            r.kind = HC_KIND_TOMBSTONE, r.expire_at = 0, r.vlen = 0;
        }
        recs[kept++] = r;
    }
    return kept;
}

static PyObject *table_parts(flush_rec *recs, Py_ssize_t n, Py_ssize_t block_size, uint64_t now_ms, double error) {
    if (n > 1) qsort(recs, (size_t)n, sizeof *recs, by_key_newest_first); /* recs is NULL when n == 0 */
    n = keep_newest(recs, n, now_ms);
    Py_ssize_t bytes = 0;
    for (Py_ssize_t i = 0; i < n; i++) bytes += HC_ENTRY_HEAD + recs[i].klen + HC_VALUE_HEAD + recs[i].vlen + 4;
    hc_table_writer tw;
    if (hc_table_init(&tw, block_size, bytes + bytes / 64 + HC_BLOCK_TRAILER) < 0) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        const flush_rec *r = &recs[i];
        if (hc_table_add(&tw, r->key, r->klen, r->kind, r->seq, r->expire_at, r->value, r->vlen) < 0) {
            hc_table_free(&tw);
            return NULL;
        }
    }
    return hc_table_finish(&tw, error);
}

PyObject *hc_flush_table(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer view;
    Py_ssize_t block_size;
    unsigned long long now_ms;
    double error;
    if (!PyArg_ParseTuple(args, "y*nKd:flush_table", &view, &block_size, &now_ms, &error)) return NULL;
    if (block_size <= HC_BLOCK_TRAILER) {
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
