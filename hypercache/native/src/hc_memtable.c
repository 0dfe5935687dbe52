/* hc_memtable.c - MemtableEntries: the memtable's entries in an arena (see hc_memtable.h). */
#include "hc_memtable.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hc_hash.h"

#define CHUNK_SIZE (1u << 20)
#define ENTRY_HEAD offsetof(hc_mem_entry, data)
#define MAX_IDS 0x7FFFFFFFu /* ids and table slots are uint32 (id + 1 must fit) */

struct hc_mem_chunk {
    hc_mem_chunk *next;
    size_t size; /* bytes mapped, this header included */
    size_t used;
};

/* ---- the arena --------------------------------------------------------------------- */

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Room for `size` bytes (a multiple of 8) in the newest chunk, or a new chunk (larger
 * than CHUNK_SIZE for a large entry); NULL with MemoryError. */
static void *arena_take(MemtableEntriesObject *m, size_t size) {
    hc_mem_chunk *c = m->chunks;
    if (c == NULL || c->size - c->used < size) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t want = align8(sizeof(hc_mem_chunk)) + size;
        size_t map = want <= CHUNK_SIZE ? CHUNK_SIZE : (want + page - 1) / page * page;
        void *at = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (at == MAP_FAILED) {
            PyErr_NoMemory();
            return NULL;
        }
        c = at;
        c->next = m->chunks;
        c->size = map;
        c->used = align8(sizeof(hc_mem_chunk));
        m->chunks = c;
        m->bytes += c->used;
    }
    void *p = (char *)c + c->used;
    c->used += size;
    m->bytes += size;
    return p;
}

/* Unmap chunks until about `budget` bytes are freed (all of them for budget 0). */
static void arena_free(MemtableEntriesObject *m, size_t budget) {
    size_t freed = 0;
    while (m->chunks != NULL && (budget == 0 || freed < budget)) {
        hc_mem_chunk *c = m->chunks;
        m->chunks = c->next;
        freed += c->size;
        m->bytes -= c->used; /* bytes counts every chunk's used bytes */
        munmap(c, c->size);
    }
}

/* ---- keys -------------------------------------------------------------------------- */

/* The bucket of a key: its first two bytes, zero-padded (so bucket order is key order). */
static uint32_t bucket_of(const char *key, size_t klen) {
    const uint8_t *k = (const uint8_t *)key;
    return klen >= 2 ? ((uint32_t)k[0] << 8) | k[1] : klen == 1 ? (uint32_t)k[0] << 8 : 0;
}

/* memcmp order, a prefix first: Python's bytes order. */
static int key_cmp(const char *a, size_t alen, const char *b, size_t blen) {
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

static int entry_cmp_key(const hc_mem_entry *e, const char *key, size_t klen) {
    return key_cmp(e->data, e->klen, key, klen);
}

/* A table slot holds id + 1 in its low log2(table_cap) bits (ids stay below 3/4 of the
 * capacity) and, in the bits above, as many bits of the key's hash: a probe passes the
 * slots of other keys without reading their entries, and a new key (most writes of a
 * fresh memtable) usually reads none. */
static uint32_t slot_value(const MemtableEntriesObject *m, uint32_t id, uint64_t hash) {
    return (id + 1) | ((uint32_t)(hash >> 32) & ~(m->table_cap - 1));
}

static uint32_t slot_id(const MemtableEntriesObject *m, uint32_t v) { return (v & (m->table_cap - 1)) - 1; }

/* The table slot of key (hash: hc_hash64 of it): where its id is, or the empty slot it
 * would take. */
static uint32_t probe(const MemtableEntriesObject *m, const char *key, size_t klen, uint64_t hash) {
    uint32_t mask = m->table_cap - 1, i = (uint32_t)hash & mask;
    uint32_t tag = (uint32_t)(hash >> 32) & ~mask;
    for (;;) {
        uint32_t v = m->table[i];
        if (v == 0) return i;
        if ((v & ~mask) == tag) {
            const hc_mem_entry *e = m->entries[(v & mask) - 1];
            if (e->klen == klen && memcmp(e->data, key, klen) == 0) return i;
        }
        i = (i + 1) & mask;
    }
}

static int table_grow(MemtableEntriesObject *m) {
    uint32_t cap = m->table_cap ? m->table_cap * 2 : 16;
    if (cap == 0 || cap > MAX_IDS) {
        PyErr_SetString(PyExc_MemoryError, "memtable: too many keys");
        return -1;
    }
    uint32_t *fresh = PyMem_RawCalloc(cap, sizeof *fresh);
    if (fresh == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    PyMem_RawFree(m->table);
    m->bytes += (size_t)(cap - m->table_cap) * sizeof *fresh;
    m->table = fresh;
    m->table_cap = cap;
    for (uint32_t id = 0; id < m->count; id++) {
        const hc_mem_entry *e = m->entries[id];
        uint64_t hash = hc_hash64(e->data, e->klen);
        m->table[probe(m, e->data, e->klen, hash)] = slot_value(m, id, hash);
    }
    return 0;
}

/* Room for one more element in an array of *cap (doubling from `first`); 0 or -1. */
static int reserve(void **array, uint32_t *cap, uint32_t count, uint32_t first, size_t item, size_t *bytes) {
    if (count < *cap) return 0;
    uint32_t fresh = *cap ? *cap * 2 : first;
    if (fresh <= *cap || fresh > MAX_IDS) {
        PyErr_SetString(PyExc_MemoryError, "memtable: too many keys");
        return -1;
    }
    void *grown = PyMem_RawRealloc(*array, (size_t)fresh * item);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *bytes += (size_t)(fresh - *cap) * item;
    *array = grown;
    *cap = fresh;
    return 0;
}

/* ---- put and get ------------------------------------------------------------------- */

static int mem_put(MemtableEntriesObject *m, const char *ikey, size_t klen, int kind, const char *value,
                     size_t vlen, int64_t expire_at, int64_t seq) {
    if (klen > UINT32_MAX || vlen > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "memtable: a key or value over 4 GiB");
        return -1;
    }
    /* grow first (at 3/4 full), so the probe below finds the final slot */
    if (((uint64_t)m->count + 1) * 4 > (uint64_t)m->table_cap * 3 && table_grow(m) < 0) return -1;
    uint64_t hash = hc_hash64(ikey, klen);
    uint32_t at = probe(m, ikey, klen, hash);
    int is_new = m->table[at] == 0;
    if (is_new &&
        reserve((void **)&m->entries, &m->entries_cap, m->count, 16, sizeof *m->entries, &m->bytes) < 0)
        return -1;
    size_t ttl_bytes = expire_at ? sizeof expire_at : 0; /* most writes have no TTL: no room for one */
    hc_mem_entry *e = arena_take(m, align8(ENTRY_HEAD + klen + vlen + ttl_bytes));
    if (e == NULL) return -1;
    e->seq = seq;
    e->klen = (uint32_t)klen;
    e->vlen = (uint32_t)vlen;
    e->kind = (uint8_t)kind;
    e->has_ttl = ttl_bytes != 0;
    memcpy(e->data, ikey, klen);
    if (vlen) memcpy(e->data + klen, value, vlen);
    if (ttl_bytes) memcpy(e->data + klen + vlen, &expire_at, sizeof expire_at);
    if (is_new) {
        uint32_t id = m->count++;
        m->entries[id] = e;
        m->table[at] = slot_value(m, id, hash);
    } else {
        m->entries[slot_id(m, m->table[at])] = e;
    }
    return is_new;
}

int hc_mem_put_slot_key(MemtableEntriesObject *m, uint16_t slot, const char *key, size_t klen, int kind,
                        const char *value, size_t vlen, int64_t expire_at, int64_t seq) {
    char small[256];
    char *ikey = klen + 2 <= sizeof small ? small : PyMem_RawMalloc(klen + 2);
    if (ikey == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    ikey[0] = (char)(slot >> 8);
    ikey[1] = (char)(slot & 0xFF);
    memcpy(ikey + 2, key, klen);
    int rc = mem_put(m, ikey, klen + 2, kind, value, vlen, expire_at, seq);
    if (ikey != small) PyMem_RawFree(ikey);
    return rc;
}

static const hc_mem_entry *find(const MemtableEntriesObject *m, const char *key, size_t klen) {
    if (m->count == 0) return NULL;
    uint32_t v = m->table[probe(m, key, klen, hc_hash64(key, klen))];
    return v ? m->entries[slot_id(m, v)] : NULL;
}

/* Record(kind, value, expire_at or None, seq) of an entry: a new reference, or NULL. */
static PyObject *record_of(const MemtableEntriesObject *m, const hc_mem_entry *e) {
    PyTypeObject *type = (PyTypeObject *)m->record_type;
    PyObject *record = type->tp_alloc(type, 4);
    if (record == NULL) return NULL;
    int64_t expire_at = 0;
    if (e->has_ttl) memcpy(&expire_at, e->data + e->klen + e->vlen, sizeof expire_at);
    PyObject *items[4] = {PyLong_FromLong(e->kind), PyBytes_FromStringAndSize(e->data + e->klen, e->vlen),
                          expire_at ? PyLong_FromLongLong(expire_at) : Py_NewRef(Py_None),
                          PyLong_FromLongLong(e->seq)};
    int ok = 1;
    for (int i = 0; i < 4; i++) {
        if (items[i] == NULL) ok = 0;
        PyTuple_SET_ITEM(record, i, items[i]); /* NULL items are fine for the DECREF below */
    }
    if (!ok) {
        Py_DECREF(record);
        return NULL;
    }
    return record;
}

/* (ikey, Record) of an entry: a new reference, or NULL. */
static PyObject *item_of(const MemtableEntriesObject *m, const hc_mem_entry *e) {
    PyObject *record = record_of(m, e);
    if (record == NULL) return NULL;
    PyObject *ikey = PyBytes_FromStringAndSize(e->data, e->klen);
    if (ikey == NULL) {
        Py_DECREF(record);
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, ikey, record);
    Py_DECREF(ikey);
    Py_DECREF(record);
    return pair;
}

/* ---- key order --------------------------------------------------------------------- */

/* qsort has no context argument: the entries being sorted (the GIL is held throughout). */
static hc_mem_entry **sorting_entries;

static int id_cmp(const void *a, const void *b) {
    const hc_mem_entry *x = sorting_entries[*(const uint32_t *)a], *y = sorting_entries[*(const uint32_t *)b];
    return key_cmp(x->data, x->klen, y->data, y->klen);
}

/* Deal the ids written since the last range read into their buckets (made on first
 * use); 0, or -1 with MemoryError. */
static int deal(MemtableEntriesObject *m) {
    if (m->dealt == m->count) return 0;
    if (m->buckets == NULL) {
        m->buckets = PyMem_RawCalloc(HC_MEM_BUCKETS, sizeof *m->buckets);
        if (m->buckets == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        m->bytes += 16384 * sizeof *m->buckets; /* the pages the slots' buckets touch */
    }
    for (; m->dealt < m->count; m->dealt++) {
        const hc_mem_entry *e = m->entries[m->dealt];
        uint32_t bucket = bucket_of(e->data, e->klen);
        hc_mem_bucket *b = &m->buckets[bucket];
        if (reserve((void **)&b->ids, &b->cap, b->count, 4, sizeof *b->ids, &m->bytes) < 0) return -1;
        b->ids[b->count++] = m->dealt;
        if (bucket > m->max_bucket) m->max_bucket = bucket;
    }
    return 0;
}

/* Sort a bucket's new ids and merge them into its ordered ones; 0, or -1 with MemoryError. */
static int settle(MemtableEntriesObject *m, hc_mem_bucket *b) {
    if (b->sorted == b->count) return 0;
    uint32_t *ids = b->ids, fresh = b->count - b->sorted;
    sorting_entries = m->entries;
    qsort(ids + b->sorted, fresh, sizeof *ids, id_cmp);
    if (b->sorted > 0) {
        uint32_t *merged = PyMem_RawMalloc((size_t)b->count * sizeof *merged);
        if (merged == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        uint32_t i = 0, j = b->sorted, k = 0;
        while (i < b->sorted && j < b->count)
            merged[k++] = id_cmp(&ids[i], &ids[j]) <= 0 ? ids[i++] : ids[j++];
        while (i < b->sorted) merged[k++] = ids[i++];
        while (j < b->count) merged[k++] = ids[j++];
        memcpy(ids, merged, (size_t)b->count * sizeof *ids);
        PyMem_RawFree(merged);
    }
    b->sorted = b->count;
    return 0;
}

/* The first place in a settled bucket whose key is >= key (> key if `after`). */
static uint32_t lower_bound(const MemtableEntriesObject *m, const hc_mem_bucket *b, const char *key, size_t klen,
                            int after) {
    uint32_t lo = 0, hi = b->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = entry_cmp_key(m->entries[b->ids[mid]], key, klen);
        if (c < 0 || (after && c == 0)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* ---- Python type ------------------------------------------------------------------- */

/* Free the index (the table, the ids, the key order); the arena stays. */
static void free_index(MemtableEntriesObject *m) {
    if (m->buckets != NULL) {
        for (uint32_t i = 0; i <= m->max_bucket; i++) PyMem_RawFree(m->buckets[i].ids);
        PyMem_RawFree(m->buckets);
    }
    PyMem_RawFree(m->entries);
    PyMem_RawFree(m->table);
    m->buckets = NULL;
    m->entries = NULL;
    m->table = NULL;
    m->count = m->entries_cap = m->table_cap = m->max_bucket = m->dealt = 0;
    m->bytes = 0;
    for (hc_mem_chunk *c = m->chunks; c != NULL; c = c->next) m->bytes += c->used;
}

static void free_all(MemtableEntriesObject *m) {
    free_index(m);
    arena_free(m, 0);
    m->bytes = 0;
}

static PyObject *MemtableEntries_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"record_type", NULL};
    PyObject *record_type;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:MemtableEntries", kwlist, &record_type)) return NULL;
    if (!PyType_Check(record_type) || !PyType_IsSubtype((PyTypeObject *)record_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "MemtableEntries(record_type): a tuple type (Record)");
        return NULL;
    }
    MemtableEntriesObject *m = (MemtableEntriesObject *)type->tp_alloc(type, 0);
    if (m == NULL) return NULL;
    m->record_type = Py_NewRef(record_type);
    return (PyObject *)m;
}

static void MemtableEntries_dealloc(MemtableEntriesObject *m) {
    free_all(m);
    Py_XDECREF(m->record_type);
    Py_TYPE(m)->tp_free((PyObject *)m);
}

static int bytes_arg(PyObject *o, const char *what, const char **data, size_t *len) {
    if (!PyBytes_Check(o)) {
        PyErr_Format(PyExc_TypeError, "memtable: %s must be bytes, not %.100s", what, Py_TYPE(o)->tp_name);
        return -1;
    }
    *data = PyBytes_AS_STRING(o);
    *len = (size_t)PyBytes_GET_SIZE(o);
    return 0;
}

static PyObject *MemtableEntries_put(MemtableEntriesObject *m, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "put(ikey, kind, value, expire_at, seq)");
        return NULL;
    }
    const char *k, *v;
    size_t klen, vlen;
    if (bytes_arg(args[0], "ikey", &k, &klen) < 0 || bytes_arg(args[2], "value", &v, &vlen) < 0) return NULL;
    long kind = PyLong_AsLong(args[1]);
    long long expire_at = args[3] == Py_None ? 0 : PyLong_AsLongLong(args[3]);
    long long seq = PyLong_AsLongLong(args[4]);
    if (PyErr_Occurred()) return NULL;
    if (kind < 0 || kind > 255 || expire_at < 0) {
        PyErr_SetString(PyExc_ValueError, "put: kind is 0..255, expire_at a positive ms timestamp or None");
        return NULL;
    }
    int rc = mem_put(m, k, klen, (int)kind, v, vlen, expire_at, seq);
    if (rc < 0) return NULL;
    return PyBool_FromLong(rc);
}

static PyObject *MemtableEntries_get(MemtableEntriesObject *m, PyObject *key) {
    const char *k;
    size_t klen;
    if (bytes_arg(key, "ikey", &k, &klen) < 0) return NULL;
    const hc_mem_entry *e = find(m, k, klen);
    if (e == NULL) Py_RETURN_NONE;
    return record_of(m, e);
}

/* range_chunk(start, end, after, n): up to n (ikey, Record) in key order from start
 * (past it if `after`) to before end (None: no end). */
static PyObject *MemtableEntries_range_chunk(MemtableEntriesObject *m, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "range_chunk(start, end, after, n)");
        return NULL;
    }
    const char *s, *e_key = NULL;
    size_t slen, elen = 0;
    if (bytes_arg(args[0], "start", &s, &slen) < 0) return NULL;
    if (args[1] != Py_None && bytes_arg(args[1], "end", &e_key, &elen) < 0) return NULL;
    int after = PyObject_IsTrue(args[2]);
    Py_ssize_t n = PyLong_AsSsize_t(args[3]);
    if (after < 0 || (n == -1 && PyErr_Occurred())) return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL || m->count == 0 || n <= 0) return out;
    if (deal(m) < 0) goto fail;
    uint32_t first = bucket_of(s, slen), last = m->max_bucket;
    if (e_key != NULL && bucket_of(e_key, elen) < last) last = bucket_of(e_key, elen);
    for (uint32_t bi = first; bi <= last; bi++) {
        hc_mem_bucket *b = &m->buckets[bi];
        if (b->count == 0) continue;
        if (settle(m, b) < 0) goto fail;
        uint32_t i = bi == first ? lower_bound(m, b, s, slen, after) : 0;
        for (; i < b->count; i++) {
            const hc_mem_entry *e = m->entries[b->ids[i]];
            if (e_key != NULL && entry_cmp_key(e, e_key, elen) >= 0) return out;
            PyObject *item = item_of(m, e);
            if (item == NULL || PyList_Append(out, item) < 0) {
                Py_XDECREF(item);
                goto fail;
            }
            Py_DECREF(item);
            if (PyList_GET_SIZE(out) >= n) return out;
        }
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

static PyObject *MemtableEntries_entries(MemtableEntriesObject *m, PyObject *Py_UNUSED(ignored)) {
    PyObject *out = PyList_New(m->count);
    if (out == NULL) return NULL;
    for (uint32_t id = 0; id < m->count; id++) {
        PyObject *item = item_of(m, m->entries[id]);
        if (item == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, id, item);
    }
    return out;
}

static PyObject *MemtableEntries_clear(MemtableEntriesObject *m, PyObject *Py_UNUSED(ignored)) {
    free_all(m);
    Py_RETURN_NONE;
}

/* drain(budget) -> bool: free about budget keys' worth of the arena (its index first),
 * at least a chunk; True once everything is freed. For a memtable nothing reads any more. */
static PyObject *MemtableEntries_drain(MemtableEntriesObject *m, PyObject *arg) {
    Py_ssize_t budget = PyLong_AsSsize_t(arg);
    if (budget == -1 && PyErr_Occurred()) return NULL;
    if (m->table != NULL) { /* first: nothing may find an entry after this */
        uint32_t keys = m->count;
        free_index(m);
        m->entry_bytes = keys ? m->bytes / keys + 1 : m->bytes + 1;
    }
    arena_free(m, budget > 0 ? (size_t)budget * m->entry_bytes : 1);
    return PyBool_FromLong(m->chunks == NULL);
}

static Py_ssize_t MemtableEntries_len(MemtableEntriesObject *m) { return (Py_ssize_t)m->count; }

static PyObject *MemtableEntries_get_bytes(MemtableEntriesObject *m, void *Py_UNUSED(closure)) {
    return PyLong_FromSize_t(m->bytes);
}

static PyMethodDef MemtableEntries_methods[] = {
    {"put", (PyCFunction)(void (*)(void))MemtableEntries_put, METH_FASTCALL,
     "put(ikey, kind, value, expire_at, seq) -> True if the key was new: its entry, replacing any older one."},
    {"get", (PyCFunction)MemtableEntries_get, METH_O, "get(ikey) -> Record of its newest entry, or None."},
    {"range_chunk", (PyCFunction)(void (*)(void))MemtableEntries_range_chunk, METH_FASTCALL,
     "range_chunk(start, end, after, n) -> up to n [(ikey, Record)] in key order, start <= ikey "
     "(start < ikey if after) < end (end None: no bound)."},
    {"entries", (PyCFunction)MemtableEntries_entries, METH_NOARGS,
     "entries() -> every [(ikey, Record)], in the order the keys came."},
    {"clear", (PyCFunction)MemtableEntries_clear, METH_NOARGS, "clear(): drop every entry."},
    {"drain", (PyCFunction)MemtableEntries_drain, METH_O,
     "drain(budget) -> True once empty: the index at once, then the arena ~budget entries' worth a call."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef MemtableEntries_getset[] = {
    {"bytes", (getter)MemtableEntries_get_bytes, NULL, "bytes held: the arena used and the index arrays", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods MemtableEntries_as_sequence = {
    .sq_length = (lenfunc)MemtableEntries_len,
};

PyTypeObject MemtableEntriesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "hypercache.native._native.MemtableEntries",
    .tp_basicsize = sizeof(MemtableEntriesObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A memtable's entries: internal keys to their newest record, in an arena (see hc_memtable.h).",
    .tp_new = MemtableEntries_new,
    .tp_dealloc = (destructor)MemtableEntries_dealloc,
    .tp_methods = MemtableEntries_methods,
    .tp_getset = MemtableEntries_getset,
    .tp_as_sequence = &MemtableEntries_as_sequence,
};
