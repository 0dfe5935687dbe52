/* _native.c - the CPython face of the native core: the CuckooFilter and BloomFilter types,
 * and key_slot / key_slots / crc16 / hash64.
 *
 * Keys are bytes-like objects (bytes fast, anything with the buffer protocol otherwise;
 * str is refused).  The C structures live in hc_cuckoo.c, hc_bloom.c and hc_crc16.c and
 * know nothing of Python; this file converts arguments, maps status codes to exceptions
 * (HC_INVALID -> ValueError, HC_FULL -> FilterFullError, HC_NOMEM -> MemoryError) and
 * releases the GIL around bulk work (batches, serialisation, loading).
 *
 * While the GIL is released a filter is marked busy: a concurrent mutation from another
 * thread raises RuntimeError instead of racing (reads stay allowed during a GIL-free read).
 *
 * The two types share one object head (FilterObject) and every method whose logic is the
 * same for both, written once against a per-type table of adapters (filter_kind).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>

#include "hc_bloom.h"
#include "hc_crc16.h"
#include "hc_crc32.h"
#include "hc_resp.h"
#include "hc_wal.h"
#include "hc_flush.h"
#include "hc_compact.h"
#include "hc_table_get.h"
#include "hc_cuckoo.h"
#include "hc_hot.h"
#include "hc_memtable.h"
#include "hc_hash.h"

#define GIL_FREE_BYTES (64 * 1024) /* release the GIL for copies/scans above this size */
#define GIL_FREE_KEYS 512          /* ... and for batches of at least this many keys */
#define DEFAULT_MAX_CHUNK (16 * 1024 * 1024)

static PyObject *FilterFullError;

/* ---- arguments ----------------------------------------------------------------------- */

static int hash_key(PyObject *key, uint64_t *h) {
    if (PyBytes_Check(key)) {
        *h = hc_hash64(PyBytes_AS_STRING(key), (size_t)PyBytes_GET_SIZE(key));
        return 0;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(key, &view, PyBUF_SIMPLE) < 0) return -1;
    *h = hc_hash64(view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    return 0;
}

/* A batch of keys pinned for GIL-free work: a tuple holding the references and, for keys
 * that are not bytes, their buffer exports (which also stop a bytearray from resizing). */
typedef struct {
    PyObject *tuple;
    Py_ssize_t n;
    const uint8_t **ptr;
    size_t *len;
    Py_buffer *views;
} keybatch;

static void batch_close(keybatch *kb) {
    if (kb->views) {
        for (Py_ssize_t i = 0; i < kb->n; i++)
            if (kb->views[i].obj) PyBuffer_Release(&kb->views[i]);
        PyMem_Free(kb->views);
    }
    PyMem_Free(kb->ptr);
    PyMem_Free(kb->len);
    Py_XDECREF(kb->tuple);
    memset(kb, 0, sizeof(*kb));
}

static int batch_open(keybatch *kb, PyObject *keys) {
    memset(kb, 0, sizeof(*kb));
    if (PyBytes_Check(keys) || PyByteArray_Check(keys) || PyUnicode_Check(keys)) {
        PyErr_SetString(PyExc_TypeError, "expected an iterable of keys, not a single bytes or str object");
        return -1;
    }
    kb->tuple = PySequence_Tuple(keys);
    if (!kb->tuple) return -1;
    kb->n = PyTuple_GET_SIZE(kb->tuple);
    size_t alloc = kb->n ? (size_t)kb->n : 1;
    kb->ptr = PyMem_Calloc(alloc, sizeof(*kb->ptr));
    kb->len = PyMem_Calloc(alloc, sizeof(*kb->len));
    if (!kb->ptr || !kb->len) {
        batch_close(kb);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < kb->n; i++) {
        PyObject *item = PyTuple_GET_ITEM(kb->tuple, i);
        if (PyBytes_Check(item)) {
            kb->ptr[i] = (const uint8_t *)PyBytes_AS_STRING(item);
            kb->len[i] = (size_t)PyBytes_GET_SIZE(item);
            continue;
        }
        if (!kb->views) {
            kb->views = PyMem_Calloc(alloc, sizeof(Py_buffer));
            if (!kb->views) {
                batch_close(kb);
                PyErr_NoMemory();
                return -1;
            }
        }
        if (PyObject_GetBuffer(item, &kb->views[i], PyBUF_SIMPLE) < 0) {
            kb->views[i].obj = NULL;
            batch_close(kb);
            return -1;
        }
        kb->ptr[i] = kb->views[i].buf;
        kb->len[i] = (size_t)kb->views[i].len;
    }
    return 0;
}

static int get_u64(PyObject *o, const char *what, uint64_t *out) {
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (v < 0) {
        PyErr_Format(PyExc_ValueError, "%s must not be negative", what);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static PyObject *raise_status(int rc, const char *err) {
    if (rc == HC_NOMEM) return PyErr_NoMemory();
    if (rc == HC_FULL) PyErr_SetString(FilterFullError, err ? err : "filter is full");
    else PyErr_SetString(PyExc_ValueError, err ? err : "invalid argument");
    return NULL;
}

static PyObject *int_list(const signed char *res, Py_ssize_t n, int as_bool) {
    PyObject *list = PyList_New(n);
    if (!list) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = as_bool ? PyBool_FromLong(res[i]) : PyLong_FromLong(res[i]);
        if (!v) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

static PyObject *chunk_reply(uint64_t next, const uint8_t *p, size_t n) {
    if (!p) return Py_BuildValue("(iO)", 0, Py_None);
    return Py_BuildValue("(Ky#)", (unsigned long long)next, (const char *)p, (Py_ssize_t)n);
}

static int parse_iter(PyObject *o, uint64_t *out) {
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (v < 0) {
        PyErr_SetString(PyExc_ValueError, "iterator must not be negative");
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* =======================================================================================
 * What both filter types share
 *
 * A CuckooObject and a BloomObject both begin with a FilterObject, whose `kind` is a table
 * of what differs between them: thin adapters over the hc_cf_* / hc_bloom_* call that does
 * the same job.  Every method whose logic is the same for both (serialisation, chunked
 * dumps, batches, busy marks, sizes, `filters`) is written once below against that table.
 * The per-key methods (insert/add, contains) stay direct calls in each type: they are the
 * hot path (a GET asks an SSTable's bloom filter once per table it might be in).
 * ======================================================================================= */

typedef struct filter_kind filter_kind;

/* ready and busy_write share one 8-byte word, so the head, `kind` included, is as big as
 * the padded ready + busy fields it replaced: the objects (and __sizeof__) kept their sizes. */
typedef struct {
    PyObject_HEAD
    const filter_kind *kind;
    int ready;            /* the C structure is initialised */
    int busy_write;       /* a GIL-free mutation runs */
    Py_ssize_t busy_read; /* GIL-free reads run */
} FilterObject;

/* Every entry takes the FilterObject head of an object of its own type.  The batch, dump,
 * load and chunk entries may run without the GIL: they make no Python calls. */
struct filter_kind {
    const char *name; /* the Python class, for messages */
    /* a read-only view of a buffer (writes raise TypeError); NULL: never */
    int (*readonly)(const FilterObject *o);
    /* derived counts are out of date and sync() must run before they are reported or
     * written; NULL: never */
    int (*stale)(const FilterObject *o);
    void (*sync)(FilterObject *o);
    void (*clear)(FilterObject *o); /* release what the object holds (dealloc) */
    uint64_t (*items)(const FilterObject *o);
    uint64_t (*heap_bytes)(const FilterObject *o); /* memory beside the object (__sizeof__) */
    uint32_t (*parts)(const FilterObject *o);      /* sub-filters or links */
    PyObject *(*part_info)(const FilterObject *o, uint32_t i); /* one dict of `filters` */
    /* results per key: 1 added, 0 (maybe) present (`unique` asks for the check), -1 full;
     * stops at the first allocation failure (*nomem) */
    void (*add_batch)(FilterObject *o, const keybatch *kb, int unique, signed char *res, int *nomem);
    void (*contains_batch)(const FilterObject *o, const keybatch *kb, signed char *res);
    uint64_t (*dump_size)(const FilterObject *o);
    void (*dump)(const FilterObject *o, uint8_t *out);
    int (*load)(FilterObject *o, const uint8_t *buf, size_t len, const char **err);
    uint64_t (*header_size)(const FilterObject *o);
    void (*write_header)(const FilterObject *o, uint8_t *out);
    int (*from_header)(FilterObject *o, const uint8_t *buf, size_t len, const char **err);
    int (*chunk)(const FilterObject *o, uint64_t iter, size_t max_chunk, const uint8_t **out, size_t *outlen,
                 uint64_t *next);
    int (*load_chunk)(FilterObject *o, uint64_t iter, const uint8_t *data, size_t len, const char **err);
};

/* ---- life cycle ----------------------------------------------------------------------- */

static FilterObject *filter_alloc(PyTypeObject *type, const filter_kind *kind) {
    FilterObject *self = (FilterObject *)type->tp_alloc(type, 0);
    if (self) self->kind = kind; /* before anything can fail: dealloc needs it */
    return self;
}

/* The end of every constructor: the new filter, or the error that stopped it (the C
 * structure is then empty, and dealloc frees nothing of it). */
static PyObject *filter_made(FilterObject *self, int rc, const char *err) {
    if (rc != HC_OK) {
        Py_DECREF(self);
        return raise_status(rc, err);
    }
    self->ready = 1;
    return (PyObject *)self;
}

static void Filter_dealloc(FilterObject *self) {
    self->kind->clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ---- checks and busy marks ------------------------------------------------------------ */

static int filter_busy(const FilterObject *self, int writing) {
    if (self->busy_write || (writing && self->busy_read)) {
        PyErr_SetString(PyExc_RuntimeError, "filter is in use by another thread");
        return -1;
    }
    return 0;
}

/* Before any use: initialised, writable when writing, and not in another thread's way. */
static int filter_usable(const FilterObject *self, int writing) {
    if (!self->ready) {
        PyErr_Format(PyExc_ValueError, "uninitialised %s", self->kind->name);
        return -1;
    }
    if (writing && self->kind->readonly && self->kind->readonly(self)) {
        PyErr_Format(PyExc_TypeError, "read-only %s (a view of a buffer)", self->kind->name);
        return -1;
    }
    return filter_busy(self, writing);
}

/* filter_usable for reading, and the derived counts brought up to date (a cuckoo filter's
 * after a chunked load): under the GIL, before anything reports or writes them.  No
 * GIL-free writer can be running then, but a GIL-free reader must not see them change. */
static int filter_synced(FilterObject *self) {
    if (filter_usable(self, 0) < 0) return -1;
    if (self->kind->stale && self->kind->stale(self)) {
        if (self->busy_read) {
            PyErr_SetString(PyExc_RuntimeError, "filter is in use by another thread");
            return -1;
        }
        self->kind->sync(self);
    }
    return 0;
}

/* Release the GIL (when `big`) around work on a filter other threads can see: it is marked
 * busy meanwhile, as the writer or as one more reader, so that their mutations raise
 * RuntimeError instead of racing.  NULL when the GIL was kept; end with busy_restore. */
static PyThreadState *busy_release(FilterObject *self, int writing, int big) {
    if (!big) return NULL;
    if (writing) self->busy_write = 1;
    else self->busy_read++;
    return PyEval_SaveThread();
}

static void busy_restore(FilterObject *self, int writing, PyThreadState *ts) {
    if (!ts) return;
    PyEval_RestoreThread(ts);
    if (writing) self->busy_write = 0;
    else self->busy_read--;
}

/* The same for a filter still being built: no other thread can see it, so no busy mark. */
static PyThreadState *gil_release_if(int big) { return big ? PyEval_SaveThread() : NULL; }

static void gil_restore(PyThreadState *ts) {
    if (ts) PyEval_RestoreThread(ts);
}

/* ---- shared methods ------------------------------------------------------------------- */

static Py_ssize_t Filter_len(FilterObject *self) {
    if (filter_synced(self) < 0) return -1;
    return (Py_ssize_t)self->kind->items(self);
}

static void run_batch(FilterObject *self, const keybatch *kb, int writing, int unique, signed char *res,
                      int *nomem) {
    if (writing) self->kind->add_batch(self, kb, unique, res, nomem);
    else self->kind->contains_batch(self, kb, res);
}

/* insert_many / add_many (writing: 1/0/-1 per key) and contains_many (bools); without
 * the GIL from GIL_FREE_KEYS keys on. */
static PyObject *filter_batch(FilterObject *self, PyObject *keys, int writing, int unique) {
    if (filter_usable(self, writing) < 0) return NULL;
    keybatch kb;
    if (batch_open(&kb, keys) < 0) return NULL;
    if (filter_usable(self, writing) < 0) { /* iterating the keys ran Python code */
        batch_close(&kb);
        return NULL;
    }
    signed char *res = PyMem_Calloc(kb.n ? (size_t)kb.n : 1, 1);
    if (!res) {
        batch_close(&kb);
        return PyErr_NoMemory();
    }
    int nomem = 0;
    PyThreadState *ts = busy_release(self, writing, kb.n >= GIL_FREE_KEYS);
    run_batch(self, &kb, writing, unique, res, &nomem);
    busy_restore(self, writing, ts);
    Py_ssize_t n = kb.n;
    batch_close(&kb);
    PyObject *out = nomem ? PyErr_NoMemory() : int_list(res, n, !writing);
    PyMem_Free(res);
    return out;
}

static PyObject *Filter_contains_many(FilterObject *self, PyObject *keys) { return filter_batch(self, keys, 0, 0); }

static PyObject *Filter_to_bytes(FilterObject *self, PyObject *Py_UNUSED(ignored)) {
    if (filter_synced(self) < 0) return NULL;
    uint64_t size = self->kind->dump_size(self);
    if (size > PY_SSIZE_T_MAX) return PyErr_NoMemory();
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (!out) return NULL;
    uint8_t *p = (uint8_t *)PyBytes_AS_STRING(out);
    PyThreadState *ts = busy_release(self, 0, size >= GIL_FREE_BYTES);
    self->kind->dump(self, p);
    busy_restore(self, 0, ts);
    return out;
}

/* A new filter from bytes: a whole dump (from_bytes, `whole`) or a scandump header
 * (from_header, which allocates empty tables for the chunks to come). */
static PyObject *filter_parse(PyTypeObject *type, PyObject *data, const filter_kind *kind, int whole) {
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return NULL;
    FilterObject *self = filter_alloc(type, kind);
    if (!self) {
        PyBuffer_Release(&view);
        return NULL;
    }
    const char *err = NULL;
    int rc;
    if (whole) {
        PyThreadState *ts = gil_release_if(view.len >= GIL_FREE_BYTES);
        rc = kind->load(self, view.buf, (size_t)view.len, &err);
        gil_restore(ts);
        if (rc == HC_FULL) rc = HC_INVALID; /* a dump past the size limits is bad data, not a full filter */
    } else {
        rc = kind->from_header(self, view.buf, (size_t)view.len, &err);
    }
    PyBuffer_Release(&view);
    return filter_made(self, rc, err);
}

static PyObject *Filter_header(FilterObject *self, PyObject *Py_UNUSED(ignored)) {
    if (filter_synced(self) < 0) return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)self->kind->header_size(self));
    if (out) self->kind->write_header(self, (uint8_t *)PyBytes_AS_STRING(out));
    return out;
}

static PyObject *Filter_scandump(FilterObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"iterator", "max_chunk", NULL};
    PyObject *itobj;
    Py_ssize_t max_chunk = DEFAULT_MAX_CHUNK;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|n:scandump", kwlist, &itobj, &max_chunk)) return NULL;
    uint64_t iter;
    if (parse_iter(itobj, &iter) < 0 || filter_usable(self, 0) < 0) return NULL;
    if (max_chunk < 1) {
        PyErr_SetString(PyExc_ValueError, "max_chunk must be at least 1");
        return NULL;
    }
    if (iter == 0) {
        PyObject *hdr = Filter_header(self, NULL);
        return hdr ? Py_BuildValue("(iN)", 1, hdr) : NULL;
    }
    const uint8_t *p = NULL;
    size_t n = 0;
    uint64_t next = 0;
    if (!self->kind->chunk(self, iter, (size_t)max_chunk, &p, &n, &next)) p = NULL;
    return chunk_reply(next, p, n);
}

static PyObject *Filter_loadchunk(FilterObject *self, PyObject *args) {
    PyObject *itobj;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "Oy*:loadchunk", &itobj, &view)) return NULL;
    uint64_t iter;
    if (parse_iter(itobj, &iter) < 0 || filter_usable(self, 1) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    const char *err = NULL;
    int rc = self->kind->load_chunk(self, iter, view.buf, (size_t)view.len, &err);
    PyBuffer_Release(&view);
    if (rc != HC_OK) return raise_status(rc, err);
    Py_RETURN_NONE;
}

/* Pickling: (type(self).from_bytes, (self.to_bytes(),)), so subclasses come back as such. */
static PyObject *Filter_reduce(FilterObject *self, PyObject *Py_UNUSED(ignored)) {
    PyObject *data = Filter_to_bytes(self, NULL);
    if (!data) return NULL;
    PyObject *ctor = PyObject_GetAttrString((PyObject *)Py_TYPE(self), "from_bytes");
    if (!ctor) {
        Py_DECREF(data);
        return NULL;
    }
    return Py_BuildValue("(N(N))", ctor, data);
}

static PyObject *Filter_sizeof(FilterObject *self, PyObject *Py_UNUSED(ignored)) {
    uint64_t n = (uint64_t)Py_TYPE(self)->tp_basicsize;
    if (self->ready && filter_busy(self, 0) < 0) return NULL;
    if (self->ready) n += self->kind->heap_bytes(self);
    return PyLong_FromUnsignedLongLong(n);
}

static PyObject *Filter_filters(FilterObject *self, void *Py_UNUSED(closure)) {
    if (filter_synced(self) < 0) return NULL;
    uint32_t n = self->kind->parts(self);
    PyObject *list = PyList_New(n);
    if (!list) return NULL;
    for (uint32_t i = 0; i < n; i++) {
        PyObject *d = self->kind->part_info(self, i);
        if (!d) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, d);
    }
    return list;
}

/* A figure of a filter, as a property: the filter usable and its counts current first. */
#define FILTER_GETTER(cls, obj_t, name, expr)                                                                     \
    static PyObject *cls##_get_##name(obj_t *self, void *Py_UNUSED(closure)) {                                    \
        if (filter_synced(&self->base) < 0) return NULL;                                                          \
        return expr;                                                                                              \
    }

#define GETSET(cls, name, doc) {#name, (getter)cls##_get_##name, NULL, doc, NULL}

/* =======================================================================================
 * CuckooFilter
 * ======================================================================================= */

typedef struct {
    FilterObject base;
    hc_cf cf;
} CuckooObject;

static PyTypeObject CuckooType;

/* The hc_cf of a FilterObject that is a CuckooObject's head. */
#define CF(o) (&((CuckooObject *)(o))->cf)

/* ---- cuckoo_kind ---------------------------------------------------------------------- */

static int cf_stale(const FilterObject *o) { return CF(o)->counts_dirty; }
static void cf_sync(FilterObject *o) { hc_cf_recount(CF(o)); }
static uint64_t cf_items(const FilterObject *o) { return CF(o)->num_items; }
static uint32_t cf_parts(const FilterObject *o) { return CF(o)->num_filters; }
static uint64_t cf_dump_size(const FilterObject *o) { return hc_cf_dump_size(CF(o)); }
static void cf_dump(const FilterObject *o, uint8_t *out) { hc_cf_dump(CF(o), out); }
static uint64_t cf_header_size(const FilterObject *Py_UNUSED(o)) { return HC_CF_HEADER_SIZE; }
static void cf_write_header(const FilterObject *o, uint8_t *out) { hc_cf_write_header(CF(o), out); }

static void cf_clear(FilterObject *o) {
    if (o->ready) hc_cf_free(CF(o));
}

static uint64_t cf_heap_bytes(const FilterObject *o) {
    const hc_cf *cf = CF(o);
    /* the sub-filter records, their tables, and the 8 zero bytes after each table */
    return sizeof(hc_subcf) * cf->num_filters + hc_cf_table_bytes(cf) + 8ULL * cf->num_filters;
}

static PyObject *cf_part_info(const FilterObject *o, uint32_t k) {
    const hc_subcf *f = &CF(o)->filters[k];
    return Py_BuildValue("{sKsisKsK}", "num_buckets", (unsigned long long)f->num_buckets, "fingerprint_bits",
                         (int)f->fp_bits, "items", (unsigned long long)f->items, "table_bytes",
                         (unsigned long long)f->nbytes);
}

static void cf_add_batch(FilterObject *o, const keybatch *kb, int unique, signed char *res, int *nomem) {
    hc_cf *cf = CF(o);
    for (Py_ssize_t i = 0; i < kb->n; i++) {
        uint64_t h = hc_hash64(kb->ptr[i], kb->len[i]);
        int rc = unique ? hc_cf_insert_unique(cf, h) : hc_cf_insert(cf, h);
        if (rc == HC_NOMEM) {
            *nomem = 1;
            return;
        }
        res[i] = rc == HC_OK ? 1 : rc == HC_EXISTS ? 0 : -1;
    }
}

static void cf_contains_batch(const FilterObject *o, const keybatch *kb, signed char *res) {
    for (Py_ssize_t i = 0; i < kb->n; i++)
        res[i] = (signed char)hc_cf_contains(CF(o), hc_hash64(kb->ptr[i], kb->len[i]));
}

static int cf_load(FilterObject *o, const uint8_t *buf, size_t len, const char **err) {
    return hc_cf_load(CF(o), buf, len, err);
}

static int cf_from_header(FilterObject *o, const uint8_t *buf, size_t len, const char **err) {
    return hc_cf_from_header(CF(o), buf, len, err);
}

static int cf_chunk(const FilterObject *o, uint64_t iter, size_t max_chunk, const uint8_t **out, size_t *outlen,
                    uint64_t *next) {
    return hc_cf_chunk(CF(o), iter, max_chunk, out, outlen, next);
}

static int cf_load_chunk(FilterObject *o, uint64_t iter, const uint8_t *data, size_t len, const char **err) {
    return hc_cf_load_chunk(CF(o), iter, data, len, err);
}

static const filter_kind cuckoo_kind = {
    .name = "CuckooFilter",
    .readonly = NULL,
    .stale = cf_stale,
    .sync = cf_sync,
    .clear = cf_clear,
    .items = cf_items,
    .heap_bytes = cf_heap_bytes,
    .parts = cf_parts,
    .part_info = cf_part_info,
    .add_batch = cf_add_batch,
    .contains_batch = cf_contains_batch,
    .dump_size = cf_dump_size,
    .dump = cf_dump,
    .load = cf_load,
    .header_size = cf_header_size,
    .write_header = cf_write_header,
    .from_header = cf_from_header,
    .chunk = cf_chunk,
    .load_chunk = cf_load_chunk,
};

/* ---- CuckooFilter's own methods ------------------------------------------------------- */

static PyObject *Cuckoo_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"capacity", "bucket_size", "max_iterations", "expansion", "fingerprint_bits",
                             "fingerprint_growth", NULL};
    PyObject *capobj;
    int bucket_size = 2, max_iterations = 20, expansion = 1, fp_bits = 8, fp_growth = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|iiiii:CuckooFilter", kwlist, &capobj, &bucket_size,
                                     &max_iterations, &expansion, &fp_bits, &fp_growth))
        return NULL;
    uint64_t capacity;
    if (get_u64(capobj, "capacity", &capacity) < 0) return NULL;
    if (bucket_size < 0 || max_iterations < 0 || expansion < 0 || fp_bits < 0 || fp_growth < 0) {
        PyErr_SetString(PyExc_ValueError, "CuckooFilter parameters must not be negative");
        return NULL;
    }
    FilterObject *self = filter_alloc(type, &cuckoo_kind);
    if (!self) return NULL;
    const char *err = NULL;
    int rc = hc_cf_init(CF(self), capacity, (unsigned)bucket_size, (unsigned)max_iterations, (unsigned)expansion,
                        (unsigned)fp_bits, (unsigned)fp_growth, &err);
    return filter_made(self, rc, err);
}

static PyObject *Cuckoo_from_bytes(PyTypeObject *type, PyObject *data) {
    return filter_parse(type, data, &cuckoo_kind, 1);
}

static PyObject *Cuckoo_from_header(PyTypeObject *type, PyObject *data) {
    return filter_parse(type, data, &cuckoo_kind, 0);
}

/* The per-key methods call hc_cf_* directly (see the top of the shared part). */

/* Insert the key of hash h, as CF.ADD does: 0, or -1 with the exception. */
static int add_hash(CuckooObject *self, uint64_t h) {
    if (filter_usable(&self->base, 1) < 0) return -1;
    int rc = hc_cf_insert(&self->cf, h);
    if (rc != HC_OK) {
        (void)raise_status(rc, "Filter is full"); /* sets the exception, returns NULL */
        return -1;
    }
    return 0;
}

static PyObject *Cuckoo_insert(CuckooObject *self, PyObject *key) {
    uint64_t h;
    if (hash_key(key, &h) < 0 || add_hash(self, h) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Cuckoo_insert_unique(CuckooObject *self, PyObject *key) {
    uint64_t h;
    if (filter_usable(&self->base, 1) < 0 || hash_key(key, &h) < 0) return NULL;
    int rc = hc_cf_insert_unique(&self->cf, h);
    if (rc == HC_EXISTS) Py_RETURN_FALSE;
    if (rc != HC_OK) return raise_status(rc, "Filter is full");
    Py_RETURN_TRUE;
}

/* For the request parser's lane (hc_resp.h): 0 if `filter` (a CuckooFilter) certainly
 * holds no `key`, 1 if it might, -1 if it is not a usable cuckoo filter (no exception). */
int hc_lane_filter_contains(PyObject *filter, const char *key, Py_ssize_t len) {
    if (!PyObject_TypeCheck(filter, &CuckooType)) return -1;
    CuckooObject *self = (CuckooObject *)filter;
    if (filter_usable(&self->base, 0) < 0) {
        PyErr_Clear();
        return -1;
    }
    return hc_cf_contains(&self->cf, hc_hash64(key, (size_t)len));
}

int hc_lane_filter_insert(PyObject *filter, const char *key, Py_ssize_t len) {
    if (!PyObject_TypeCheck(filter, &CuckooType)) {
        PyErr_SetString(PyExc_TypeError, "lane: the keyspace filter is not a cuckoo filter");
        return -1;
    }
    return add_hash((CuckooObject *)filter, hc_hash64(key, (size_t)len));
}

static PyObject *Cuckoo_contains(CuckooObject *self, PyObject *key) {
    uint64_t h;
    if (filter_usable(&self->base, 0) < 0 || hash_key(key, &h) < 0) return NULL;
    return PyBool_FromLong(hc_cf_contains(&self->cf, h));
}

static int Cuckoo_sq_contains(CuckooObject *self, PyObject *key) {
    uint64_t h;
    if (filter_usable(&self->base, 0) < 0 || hash_key(key, &h) < 0) return -1;
    return hc_cf_contains(&self->cf, h);
}

static PyObject *Cuckoo_count(CuckooObject *self, PyObject *key) {
    uint64_t h;
    if (filter_usable(&self->base, 0) < 0 || hash_key(key, &h) < 0) return NULL;
    return PyLong_FromUnsignedLongLong(hc_cf_count(&self->cf, h));
}

static PyObject *Cuckoo_delete(CuckooObject *self, PyObject *key) {
    uint64_t h;
    if (filter_usable(&self->base, 1) < 0 || hash_key(key, &h) < 0) return NULL;
    return PyBool_FromLong(hc_cf_delete(&self->cf, h));
}

static PyObject *Cuckoo_insert_many(CuckooObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"keys", "unique", NULL};
    PyObject *keys;
    int unique = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|p:insert_many", kwlist, &keys, &unique)) return NULL;
    return filter_batch(&self->base, keys, 1, unique);
}

static PyObject *Cuckoo_compact(CuckooObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"cont", NULL};
    int cont = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|p:compact", kwlist, &cont)) return NULL;
    if (filter_usable(&self->base, 1) < 0) return NULL;
    PyThreadState *ts = busy_release(&self->base, 1, 1);
    hc_cf_compact(&self->cf, cont);
    busy_restore(&self->base, 1, ts);
    Py_RETURN_NONE;
}

#define CF_GETTER(name, expr) FILTER_GETTER(Cuckoo, CuckooObject, name, expr)

CF_GETTER(items, PyLong_FromUnsignedLongLong(self->cf.num_items))
CF_GETTER(deletes, PyLong_FromUnsignedLongLong(self->cf.num_deletes))
CF_GETTER(capacity, PyLong_FromUnsignedLongLong(hc_cf_capacity(&self->cf)))
CF_GETTER(num_buckets, PyLong_FromUnsignedLongLong(self->cf.base_buckets))
CF_GETTER(num_filters, PyLong_FromUnsignedLong(self->cf.num_filters))
CF_GETTER(bucket_size, PyLong_FromLong(self->cf.bucket_size))
CF_GETTER(max_iterations, PyLong_FromLong(self->cf.max_iterations))
CF_GETTER(expansion, PyLong_FromLong(self->cf.expansion))
CF_GETTER(fingerprint_bits, PyLong_FromLong(self->cf.fp_bits))
CF_GETTER(fingerprint_growth, PyLong_FromLong(self->cf.fp_growth))
CF_GETTER(table_bytes, PyLong_FromUnsignedLongLong(hc_cf_table_bytes(&self->cf)))
CF_GETTER(load_factor, PyFloat_FromDouble((double)self->cf.num_items / (double)hc_cf_capacity(&self->cf)))
CF_GETTER(bits_per_item, PyFloat_FromDouble(self->cf.num_items ? (double)hc_cf_table_bits(&self->cf) /
                                                                       (double)self->cf.num_items
                                                                 : 0.0))
CF_GETTER(expected_fpp, PyFloat_FromDouble(hc_cf_expected_fpp(&self->cf)))

static PyObject *Cuckoo_repr(CuckooObject *self) {
    if (!self->base.ready) return PyUnicode_FromFormat("<%s (uninitialised)>", Py_TYPE(self)->tp_name);
    if (self->base.busy_write) return PyUnicode_FromFormat("<%s (busy)>", Py_TYPE(self)->tp_name);
    return PyUnicode_FromFormat("<%s items=%llu capacity=%llu filters=%u bucket_size=%u fingerprint_bits=%u>",
                                Py_TYPE(self)->tp_name, (unsigned long long)self->cf.num_items,
                                (unsigned long long)hc_cf_capacity(&self->cf), (unsigned)self->cf.num_filters,
                                (unsigned)self->cf.bucket_size, (unsigned)self->cf.fp_bits);
}

static PyMethodDef Cuckoo_methods[] = {
    {"insert", (PyCFunction)Cuckoo_insert, METH_O,
     "insert(key) -> None: add key (duplicates allowed); FilterFullError when it cannot."},
    {"insert_unique", (PyCFunction)Cuckoo_insert_unique, METH_O,
     "insert_unique(key) -> bool: add key unless it may be there already (CF.ADDNX)."},
    {"contains", (PyCFunction)Cuckoo_contains, METH_O,
     "contains(key) -> bool: False means certainly absent."},
    {"count", (PyCFunction)Cuckoo_count, METH_O,
     "count(key) -> int: copies of key's fingerprint (an upper bound on its inserts)."},
    {"delete", (PyCFunction)Cuckoo_delete, METH_O,
     "delete(key) -> bool: remove one copy; only ever delete keys that were inserted."},
    {"insert_many", (PyCFunction)(void (*)(void))Cuckoo_insert_many, METH_VARARGS | METH_KEYWORDS,
     "insert_many(keys, unique=False) -> list[int]: 1 inserted, 0 present (unique), -1 full."},
    {"contains_many", (PyCFunction)Filter_contains_many, METH_O, "contains_many(keys) -> list[bool]"},
    {"compact", (PyCFunction)(void (*)(void))Cuckoo_compact, METH_VARARGS | METH_KEYWORDS,
     "compact(cont=False): move fingerprints to older sub-filters and drop emptied ones."},
    {"to_bytes", (PyCFunction)Filter_to_bytes, METH_NOARGS, "to_bytes() -> bytes: the whole filter."},
    {"from_bytes", (PyCFunction)Cuckoo_from_bytes, METH_O | METH_CLASS,
     "from_bytes(data) -> CuckooFilter: load to_bytes() output; ValueError if it is not intact."},
    {"header", (PyCFunction)Filter_header, METH_NOARGS, "header() -> bytes: what scandump(0) returns."},
    {"from_header", (PyCFunction)Cuckoo_from_header, METH_O | METH_CLASS,
     "from_header(data) -> CuckooFilter: an empty filter shaped by a scandump header."},
    {"scandump", (PyCFunction)(void (*)(void))Filter_scandump, METH_VARARGS | METH_KEYWORDS,
     "scandump(iterator, max_chunk=16 MiB) -> (next_iterator, bytes | None): CF.SCANDUMP."},
    {"loadchunk", (PyCFunction)Filter_loadchunk, METH_VARARGS,
     "loadchunk(iterator, data) -> None: CF.LOADCHUNK of a table chunk (iterator > 1)."},
    {"__reduce__", (PyCFunction)Filter_reduce, METH_NOARGS, NULL},
    {"__sizeof__", (PyCFunction)Filter_sizeof, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Cuckoo_getset[] = {
    GETSET(Cuckoo, items, "occupied slots: inserts minus deletes (CF.INFO 'Number of items inserted')"),
    GETSET(Cuckoo, deletes, "deletes since the last compaction (CF.INFO 'Number of items deleted')"),
    GETSET(Cuckoo, capacity, "slots in all sub-filters"),
    GETSET(Cuckoo, num_buckets, "buckets of the first sub-filter (CF.INFO 'Number of buckets')"),
    GETSET(Cuckoo, num_filters, "sub-filters in the chain"),
    GETSET(Cuckoo, bucket_size, "slots per bucket"),
    GETSET(Cuckoo, max_iterations, "kicks tried before growing"),
    GETSET(Cuckoo, expansion, "growth factor of each new sub-filter (0: never grow)"),
    GETSET(Cuckoo, fingerprint_bits, "fingerprint width of the first sub-filter"),
    GETSET(Cuckoo, fingerprint_growth, "bits added to the fingerprint of each new sub-filter"),
    GETSET(Cuckoo, table_bytes, "bytes of all tables"),
    GETSET(Cuckoo, load_factor, "items / capacity"),
    GETSET(Cuckoo, bits_per_item, "table bits / items (0.0 when empty)"),
    GETSET(Cuckoo, expected_fpp, "estimated false-positive rate at the current loads"),
    {"filters", (getter)Filter_filters, NULL, "per sub-filter: num_buckets, fingerprint_bits, items, table_bytes",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods Cuckoo_as_sequence = {
    .sq_length = (lenfunc)Filter_len,
    .sq_contains = (objobjproc)Cuckoo_sq_contains,
};

static PyTypeObject CuckooType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "hypercache.native._native.CuckooFilter",
    .tp_basicsize = sizeof(CuckooObject),
    .tp_dealloc = (destructor)Filter_dealloc,
    .tp_repr = (reprfunc)Cuckoo_repr,
    .tp_as_sequence = &Cuckoo_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "CuckooFilter(capacity, bucket_size=2, max_iterations=20, expansion=1, fingerprint_bits=8, "
              "fingerprint_growth=0)\n\nA cuckoo filter that grows by a chain of sub-filters (RedisBloom's "
              "defaults).",
    .tp_methods = Cuckoo_methods,
    .tp_getset = Cuckoo_getset,
    .tp_new = Cuckoo_new,
};

/* =======================================================================================
 * BloomFilter
 * ======================================================================================= */

typedef struct {
    FilterObject base;
    hc_bloom bf;
    int has_view;
    Py_buffer view; /* the bytes a read-only filter reads in place */
} BloomObject;

/* The hc_bloom of a FilterObject that is a BloomObject's head. */
#define BF(o) (&((BloomObject *)(o))->bf)

/* ---- bloom_kind ----------------------------------------------------------------------- */

static int bf_readonly(const FilterObject *o) { return BF(o)->borrowed; }
static uint64_t bf_items(const FilterObject *o) { return BF(o)->items; }
static uint32_t bf_parts(const FilterObject *o) { return BF(o)->num_links; }
static uint64_t bf_dump_size(const FilterObject *o) { return hc_bloom_dump_size(BF(o)); }
static void bf_dump(const FilterObject *o, uint8_t *out) { hc_bloom_dump(BF(o), out); }
static uint64_t bf_header_size(const FilterObject *o) { return hc_bloom_header_size(BF(o)); }
static void bf_write_header(const FilterObject *o, uint8_t *out) { hc_bloom_write_header(BF(o), out); }

static void bf_clear(FilterObject *o) {
    BloomObject *self = (BloomObject *)o;
    if (o->ready) hc_bloom_free(&self->bf);
    if (self->has_view) PyBuffer_Release(&self->view);
}

static uint64_t bf_heap_bytes(const FilterObject *o) {
    const hc_bloom *bf = BF(o);
    /* a view's bit arrays are the buffer's memory, not this object's */
    return sizeof(hc_bloom_link) * bf->num_links + (bf->borrowed ? 0 : hc_bloom_table_bytes(bf));
}

static PyObject *bf_part_info(const FilterObject *o, uint32_t i) {
    const hc_bloom_link *l = &BF(o)->links[i];
    return Py_BuildValue("{sKsKsdsKsI}", "capacity", (unsigned long long)l->entries, "items",
                         (unsigned long long)l->items, "error_rate", l->error, "bits", (unsigned long long)l->bits,
                         "hashes", (unsigned int)l->hashes);
}

/* A bloom filter's add always checks for the key first: `unique` changes nothing. */
static void bf_add_batch(FilterObject *o, const keybatch *kb, int Py_UNUSED(unique), signed char *res,
                         int *nomem) {
    hc_bloom *bf = BF(o);
    for (Py_ssize_t i = 0; i < kb->n; i++) {
        int rc = hc_bloom_add(bf, hc_hash64(kb->ptr[i], kb->len[i]));
        if (rc == HC_NOMEM) {
            *nomem = 1;
            return;
        }
        res[i] = rc == 1 ? 1 : rc == 0 ? 0 : -1;
    }
}

static void bf_contains_batch(const FilterObject *o, const keybatch *kb, signed char *res) {
    for (Py_ssize_t i = 0; i < kb->n; i++)
        res[i] = (signed char)hc_bloom_contains(BF(o), hc_hash64(kb->ptr[i], kb->len[i]));
}

static int bf_load(FilterObject *o, const uint8_t *buf, size_t len, const char **err) {
    return hc_bloom_load(BF(o), buf, len, err);
}

/* The header must come alone, as scandump(0) gives it: its length is in the header. */
static int bf_from_header(FilterObject *o, const uint8_t *buf, size_t len, const char **err) {
    size_t hlen = 0;
    int rc = hc_bloom_from_header(BF(o), buf, len, &hlen, err);
    if (rc == HC_OK && hlen != len) {
        hc_bloom_free(BF(o));
        *err = "bad bloom filter header: trailing bytes";
        return HC_INVALID;
    }
    return rc;
}

static int bf_chunk(const FilterObject *o, uint64_t iter, size_t max_chunk, const uint8_t **out, size_t *outlen,
                    uint64_t *next) {
    return hc_bloom_chunk(BF(o), iter, max_chunk, out, outlen, next);
}

static int bf_load_chunk(FilterObject *o, uint64_t iter, const uint8_t *data, size_t len, const char **err) {
    return hc_bloom_load_chunk(BF(o), iter, data, len, err);
}

static const filter_kind bloom_kind = {
    .name = "BloomFilter",
    .readonly = bf_readonly,
    .stale = NULL,
    .sync = NULL,
    .clear = bf_clear,
    .items = bf_items,
    .heap_bytes = bf_heap_bytes,
    .parts = bf_parts,
    .part_info = bf_part_info,
    .add_batch = bf_add_batch,
    .contains_batch = bf_contains_batch,
    .dump_size = bf_dump_size,
    .dump = bf_dump,
    .load = bf_load,
    .header_size = bf_header_size,
    .write_header = bf_write_header,
    .from_header = bf_from_header,
    .chunk = bf_chunk,
    .load_chunk = bf_load_chunk,
};

/* ---- BloomFilter's own methods -------------------------------------------------------- */

static PyObject *Bloom_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"capacity", "error_rate", "expansion", "scaling", NULL};
    PyObject *capobj;
    double error = 0.01;
    int expansion = 2, scaling = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|dip:BloomFilter", kwlist, &capobj, &error, &expansion, &scaling))
        return NULL;
    uint64_t capacity;
    if (get_u64(capobj, "capacity", &capacity) < 0) return NULL;
    if (expansion < 0) {
        PyErr_SetString(PyExc_ValueError, "expansion must not be negative");
        return NULL;
    }
    FilterObject *self = filter_alloc(type, &bloom_kind);
    if (!self) return NULL;
    const char *err = NULL;
    int rc = hc_bloom_init(BF(self), capacity, error, (unsigned)expansion, scaling ? 0 : HC_BLOOM_NONSCALING, &err);
    return filter_made(self, rc, err);
}

static PyObject *Bloom_from_bytes(PyTypeObject *type, PyObject *data) {
    return filter_parse(type, data, &bloom_kind, 1);
}

static PyObject *Bloom_from_header(PyTypeObject *type, PyObject *data) {
    return filter_parse(type, data, &bloom_kind, 0);
}

static void bf_fill(hc_bloom *bf, const keybatch *kb) {
    for (Py_ssize_t i = 0; i < kb->n; i++) (void)hc_bloom_add(bf, hc_hash64(kb->ptr[i], kb->len[i]));
}

static PyObject *Bloom_from_keys(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"keys", "error_rate", NULL};
    PyObject *keys;
    double error = 0.01;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|d:from_keys", kwlist, &keys, &error)) return NULL;
    keybatch kb;
    if (batch_open(&kb, keys) < 0) return NULL;
    FilterObject *self = filter_alloc(type, &bloom_kind);
    if (!self) {
        batch_close(&kb);
        return NULL;
    }
    const char *err = NULL;
    int rc = hc_bloom_init(BF(self), kb.n ? (uint64_t)kb.n : 1, error, 1, HC_BLOOM_NONSCALING, &err);
    if (rc == HC_OK) {
        /* n keys into a filter sized for n: never full, and nothing is allocated, so the
         * results need no look (the filter is not yet visible to any other thread) */
        PyThreadState *ts = gil_release_if(kb.n >= GIL_FREE_KEYS);
        bf_fill(BF(self), &kb);
        gil_restore(ts);
    }
    batch_close(&kb);
    return filter_made(self, rc, err);
}

static PyObject *Bloom_frombuffer(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"buffer", "verify", NULL};
    PyObject *data;
    int verify = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|p:frombuffer", kwlist, &data, &verify)) return NULL;
    BloomObject *self = (BloomObject *)filter_alloc(type, &bloom_kind);
    if (!self) return NULL;
    if (PyObject_GetBuffer(data, &self->view, PyBUF_SIMPLE) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->has_view = 1;
    const char *err = NULL;
    /* only the checksum of the whole buffer is worth releasing the GIL for */
    PyThreadState *ts = gil_release_if(verify && self->view.len >= GIL_FREE_BYTES);
    int rc = hc_bloom_view(&self->bf, self->view.buf, (size_t)self->view.len, verify, &err);
    gil_restore(ts);
    return filter_made(&self->base, rc == HC_FULL ? HC_INVALID : rc, err);
}

static PyObject *bloom_add_result(const hc_bloom *bf, int rc) {
    if (rc == 1) Py_RETURN_TRUE;
    if (rc == 0) Py_RETURN_FALSE;
    /* RedisBloom's words for NONSCALING; a scaling filter is full only at the size limits */
    return raise_status(rc, (bf->flags & HC_BLOOM_NONSCALING) ? "non scaling filter is full" : "filter is full");
}

/* The per-key methods call hc_bloom_* directly (see the top of the shared part). */

static PyObject *Bloom_add(BloomObject *self, PyObject *key) {
    uint64_t h;
    if (filter_usable(&self->base, 1) < 0 || hash_key(key, &h) < 0) return NULL;
    return bloom_add_result(&self->bf, hc_bloom_add(&self->bf, h));
}

static PyObject *Bloom_contains(BloomObject *self, PyObject *key) {
    uint64_t h;
    if (filter_usable(&self->base, 0) < 0 || hash_key(key, &h) < 0) return NULL;
    return PyBool_FromLong(hc_bloom_contains(&self->bf, h));
}

static int Bloom_sq_contains(BloomObject *self, PyObject *key) {
    uint64_t h;
    if (filter_usable(&self->base, 0) < 0 || hash_key(key, &h) < 0) return -1;
    return hc_bloom_contains(&self->bf, h);
}

static PyObject *Bloom_add_many(BloomObject *self, PyObject *keys) { return filter_batch(&self->base, keys, 1, 0); }

static PyObject *Bloom_estimate(BloomObject *self, PyObject *Py_UNUSED(ignored)) {
    if (filter_usable(&self->base, 0) < 0) return NULL;
    PyThreadState *ts = busy_release(&self->base, 0, 1);
    double est = hc_bloom_estimate(&self->bf);
    busy_restore(&self->base, 0, ts);
    return PyFloat_FromDouble(est);
}

#define BF_GETTER(name, expr) FILTER_GETTER(Bloom, BloomObject, name, expr)

BF_GETTER(items, PyLong_FromUnsignedLongLong(self->bf.items))
BF_GETTER(capacity, PyLong_FromUnsignedLongLong(hc_bloom_capacity(&self->bf)))
BF_GETTER(num_filters, PyLong_FromUnsignedLong(self->bf.num_links))
BF_GETTER(expansion, PyLong_FromUnsignedLong(self->bf.expansion))
BF_GETTER(scaling, PyBool_FromLong(!(self->bf.flags & HC_BLOOM_NONSCALING)))
BF_GETTER(readonly, PyBool_FromLong(self->bf.borrowed))
BF_GETTER(error_rate, PyFloat_FromDouble(self->bf.links[0].error))
BF_GETTER(hashes, PyLong_FromUnsignedLong(self->bf.links[0].hashes))
BF_GETTER(table_bytes, PyLong_FromUnsignedLongLong(hc_bloom_table_bytes(&self->bf)))
BF_GETTER(bits_per_item, PyFloat_FromDouble(8.0 * (double)hc_bloom_table_bytes(&self->bf) /
                                            (double)hc_bloom_capacity(&self->bf)))

static PyObject *Bloom_repr(BloomObject *self) {
    if (!self->base.ready) return PyUnicode_FromFormat("<%s (uninitialised)>", Py_TYPE(self)->tp_name);
    if (self->base.busy_write) return PyUnicode_FromFormat("<%s (busy)>", Py_TYPE(self)->tp_name);
    return PyUnicode_FromFormat("<%s items=%llu capacity=%llu filters=%u%s>", Py_TYPE(self)->tp_name,
                                (unsigned long long)self->bf.items,
                                (unsigned long long)hc_bloom_capacity(&self->bf), (unsigned)self->bf.num_links,
                                self->bf.borrowed ? " read-only" : "");
}

static PyMethodDef Bloom_methods[] = {
    {"add", (PyCFunction)Bloom_add, METH_O,
     "add(key) -> bool: True if key was new; FilterFullError past a non-scaling capacity."},
    {"contains", (PyCFunction)Bloom_contains, METH_O, "contains(key) -> bool: False means certainly absent."},
    {"add_many", (PyCFunction)Bloom_add_many, METH_O,
     "add_many(keys) -> list[int]: 1 added, 0 present, -1 full (BF.MADD / BF.INSERT)."},
    {"contains_many", (PyCFunction)Filter_contains_many, METH_O, "contains_many(keys) -> list[bool]"},
    {"from_keys", (PyCFunction)(void (*)(void))Bloom_from_keys, METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "from_keys(keys, error_rate=0.01) -> BloomFilter: a non-scaling filter sized for and holding keys."},
    {"to_bytes", (PyCFunction)Filter_to_bytes, METH_NOARGS, "to_bytes() -> bytes: the whole filter."},
    {"from_bytes", (PyCFunction)Bloom_from_bytes, METH_O | METH_CLASS,
     "from_bytes(data) -> BloomFilter: a mutable copy of to_bytes() output."},
    {"frombuffer", (PyCFunction)(void (*)(void))Bloom_frombuffer, METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "frombuffer(buffer, verify=True) -> BloomFilter: a read-only filter reading buffer in place."},
    {"header", (PyCFunction)Filter_header, METH_NOARGS, "header() -> bytes: what scandump(0) returns."},
    {"from_header", (PyCFunction)Bloom_from_header, METH_O | METH_CLASS,
     "from_header(data) -> BloomFilter: an empty filter shaped by a scandump header."},
    {"scandump", (PyCFunction)(void (*)(void))Filter_scandump, METH_VARARGS | METH_KEYWORDS,
     "scandump(iterator, max_chunk=16 MiB) -> (next_iterator, bytes | None): BF.SCANDUMP."},
    {"loadchunk", (PyCFunction)Filter_loadchunk, METH_VARARGS, "loadchunk(iterator, data) -> None: BF.LOADCHUNK."},
    {"estimate_cardinality", (PyCFunction)Bloom_estimate, METH_NOARGS,
     "estimate_cardinality() -> float: distinct items estimated from the bits set."},
    {"__reduce__", (PyCFunction)Filter_reduce, METH_NOARGS, NULL},
    {"__sizeof__", (PyCFunction)Filter_sizeof, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Bloom_getset[] = {
    GETSET(Bloom, items, "items added (BF.CARD)"),
    GETSET(Bloom, capacity, "sum of the links' capacities (BF.INFO Capacity)"),
    GETSET(Bloom, num_filters, "links in the chain"),
    GETSET(Bloom, expansion, "capacity factor of each new link"),
    GETSET(Bloom, scaling, "False for a NONSCALING filter"),
    GETSET(Bloom, readonly, "True for a view of a buffer (frombuffer)"),
    GETSET(Bloom, error_rate, "the first link's error rate (half the requested one when scaling)"),
    GETSET(Bloom, hashes, "probes per item in the first link"),
    GETSET(Bloom, table_bytes, "bytes of all bit arrays"),
    GETSET(Bloom, bits_per_item, "bits per item of capacity"),
    {"filters", (getter)Filter_filters, NULL, "per link: capacity, items, error_rate, bits, hashes", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods Bloom_as_sequence = {
    .sq_length = (lenfunc)Filter_len,
    .sq_contains = (objobjproc)Bloom_sq_contains,
};

static PyTypeObject BloomType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "hypercache.native._native.BloomFilter",
    .tp_basicsize = sizeof(BloomObject),
    .tp_dealloc = (destructor)Filter_dealloc,
    .tp_repr = (reprfunc)Bloom_repr,
    .tp_as_sequence = &Bloom_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "BloomFilter(capacity, error_rate=0.01, expansion=2, scaling=True)\n\nA bloom filter, scaling as "
              "RedisBloom's BF.RESERVE makes it.",
    .tp_methods = Bloom_methods,
    .tp_getset = Bloom_getset,
    .tp_new = Bloom_new,
};

/* =======================================================================================
 * module functions
 * ======================================================================================= */

static PyObject *mod_key_slot(PyObject *Py_UNUSED(module), PyObject *key) {
    if (PyBytes_Check(key))
        return PyLong_FromLong(hc_key_slot((const uint8_t *)PyBytes_AS_STRING(key), (size_t)PyBytes_GET_SIZE(key)));
    Py_buffer view;
    if (PyObject_GetBuffer(key, &view, PyBUF_SIMPLE) < 0) return NULL;
    long slot = hc_key_slot(view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    return PyLong_FromLong(slot);
}

static PyObject *mod_key_slots(PyObject *Py_UNUSED(module), PyObject *keys) {
    keybatch kb;
    if (batch_open(&kb, keys) < 0) return NULL;
    PyObject *list = PyList_New(kb.n);
    for (Py_ssize_t i = 0; list && i < kb.n; i++) {
        PyObject *v = PyLong_FromLong(hc_key_slot(kb.ptr[i], kb.len[i]));
        if (!v) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, v);
    }
    batch_close(&kb);
    return list;
}

static PyObject *mod_crc16(PyObject *Py_UNUSED(module), PyObject *data) {
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return NULL;
    long crc = hc_crc16(view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    return PyLong_FromLong(crc);
}

/* crc32(data, crc=0, tables=False): hc_crc32 (or its table-driven path), for the tests. */
static PyObject *mod_crc32(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"data", "crc", "tables", NULL};
    Py_buffer view;
    unsigned int crc = 0;
    int tables = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*|Ip:crc32", kwlist, &view, &crc, &tables)) return NULL;
    uint32_t out = tables ? hc_crc32_tables(crc, view.buf, (size_t)view.len) : hc_crc32(crc, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(out);
}

static PyObject *mod_crc32_accelerated(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored)) {
    return PyBool_FromLong(hc_crc32_accelerated());
}

static PyObject *mod_hash64(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"data", "seed", NULL};
    Py_buffer view;
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*|K:hash64", kwlist, &view, &seed)) return NULL;
    uint64_t h = hc_hash64_seed(view.buf, (size_t)view.len, seed);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLongLong(h);
}

static PyMethodDef module_methods[] = {
    {"key_slot", (PyCFunction)mod_key_slot, METH_O, "key_slot(key) -> int: the Redis Cluster slot of key."},
    {"parse_multibulk", (PyCFunction)(void (*)(void))hc_parse_multibulk, METH_FASTCALL,
     "parse_multibulk(buf, pos, out, max_bulk[, lane]) -> int (with a lane: (pos, last)): complete ordinary requests appended to out; with a lane, GET/MGET answered from the hot tier and the keyspace filter (see hc_resp.h)."},
    {"recv_lane", (PyCFunction)(void (*)(void))hc_recv_lane, METH_FASTCALL,
     "recv_lane(fd, size, out, max_bulk, lane, send) -> (nread, rest, last, sent): one recv parsed with the lane, its replies sent if it answered the whole read and send is true (see hc_resp.h)."},
    {"send_lane_replies", (PyCFunction)(void (*)(void))hc_send_lane_replies, METH_FASTCALL,
     "send_lane_replies(fds, lanes, blocked) -> bytes sent: the replies lane_round left for after the WAL write (see hc_resp.h)."},
    {"lane_round", (PyCFunction)(void (*)(void))hc_lane_round, METH_FASTCALL,
     "lane_round(events, start, lanes, shared, size, touched) -> (index, nread, rest, requests, last, sent, bytes_in, bytes_out): the reactor's round for the clients the lane serves whole (see hc_resp.h)."},
    {"wal_newest", (PyCFunction)hc_wal_newest, METH_O,
     "wal_newest(data) -> (latest, records, last_seq, valid_length, stop, pos, a, b): the newest record of each key in a WAL file's bytes, for a flush (see hc_wal.h)."},
    {"flush_entries", (PyCFunction)(void (*)(void))hc_flush_entries, METH_FASTCALL,
     "flush_entries(keys, latest) -> list of RawEntry: a flush's table entries, popped from wal_newest's dict (see hc_wal.h)."},
    {"flush_table", (PyCFunction)hc_flush_table, METH_VARARGS,
     "flush_table(data, block_size, now_ms, error_rate) -> (records, last_seq, valid_length, stop, pos, a, b, table): a flush's data blocks, index and filter from a WAL file's bytes (see hc_flush.h)."},
    {"table_get", (PyCFunction)hc_table_get, METH_VARARGS,
     "table_get(fd, index_block, ikey, file_size) -> (bytes_read, record | None): a point lookup in one SSTable (see hc_table_get.h)."},
    {"compact_table", (PyCFunction)hc_compact_table, METH_VARARGS,
     "compact_table(inputs, cursors, last_key, target_size, block_size, now_ms, drop_tombstones, error_rate) -> (table, last_key): a compaction's next output table body (see hc_compact.h)."},
    {"key_slots", (PyCFunction)mod_key_slots, METH_O, "key_slots(keys) -> list[int]"},
    {"crc16", (PyCFunction)mod_crc16, METH_O, "crc16(data) -> int: CRC16-XMODEM (binascii.crc_hqx(data, 0))."},
    {"crc32", (PyCFunction)(void (*)(void))mod_crc32, METH_VARARGS | METH_KEYWORDS,
     "crc32(data, crc=0, tables=False) -> int: zlib.crc32(data, crc) as the native code computes it (tables: "
     "by the table-driven path alone)."},
    {"crc32_accelerated", (PyCFunction)mod_crc32_accelerated, METH_NOARGS,
     "crc32_accelerated() -> bool: crc32 uses the CPU's carry-less multiply."},
    {"hash64", (PyCFunction)(void (*)(void))mod_hash64, METH_VARARGS | METH_KEYWORDS,
     "hash64(data, seed=0) -> int: XXH64, the hash every filter is built on."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "hypercache.native._native",
    .m_doc = "HyperCache's native core: cuckoo and bloom filters, CRC16 key slots.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__native(void) {
    if (PyType_Ready(&CuckooType) < 0 || PyType_Ready(&BloomType) < 0 || PyType_Ready(&HotTierType) < 0 ||
        PyType_Ready(&MemtableEntriesType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&native_module);
    if (!m) return NULL;
    FilterFullError = PyErr_NewExceptionWithDoc("hypercache.native._native.FilterFullError",
                                                 "A filter has no room and may not grow.", NULL, NULL);
    if (!FilterFullError || PyModule_AddObjectRef(m, "FilterFullError", FilterFullError) < 0 ||
        PyModule_AddObjectRef(m, "CuckooFilter", (PyObject *)&CuckooType) < 0 ||
        PyModule_AddObjectRef(m, "BloomFilter", (PyObject *)&BloomType) < 0 ||
        PyModule_AddObjectRef(m, "HotTier", (PyObject *)&HotTierType) < 0 ||
        PyModule_AddObjectRef(m, "MemtableEntries", (PyObject *)&MemtableEntriesType) < 0 ||
        PyModule_AddIntConstant(m, "SLOT_COUNT", HC_SLOT_COUNT) < 0 ||
        PyModule_AddIntConstant(m, "DEFAULT_MAX_CHUNK", DEFAULT_MAX_CHUNK) < 0 ||
        PyModule_AddIntConstant(m, "CF_HEADER_SIZE", HC_CF_HEADER_SIZE) < 0 ||
        PyModule_AddIntConstant(m, "CF_MAX_FILTERS", HC_CF_MAX_FILTERS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
