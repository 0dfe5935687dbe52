/* hc_compact.c - a compaction's merge in C: the data blocks of its input tables
 * (mapped files) merged into one output table's body at a time, keeping the newest
 * version of each key, as compaction.py's merge_batches + _write_tables do in Python
 * (the reference the tests compare with). Each block's CRC-32 and layout are checked
 * as decode_blocks checks them before any of its entries is used. */
#include "hc_compact.h"

#include <stdlib.h>
#include <string.h>

#include "hc_crc32.h"
#include "hc_table.h"

typedef struct {
    const unsigned char *data; /* the table file */
    Py_ssize_t size;
    uint64_t *handles; /* offset, size of each data block */
    Py_ssize_t nblocks, block, entry; /* the cursor: entry `entry` of block `block` */
    hc_block cur;               /* the current block ... */
    Py_ssize_t bstart, bcount;  /* ... its file offset and entries (0: not read yet) */
    /* the current entry */
    const unsigned char *key, *value;
    Py_ssize_t klen, vlen;
    uint64_t seq, expire_at;
    int kind, done;
} source;

static int corrupt(Py_ssize_t input, const char *fmt, Py_ssize_t at) {
    PyObject *msg = PyUnicode_FromFormat(fmt, at);
    if (msg != NULL) {
        PyObject *arg = Py_BuildValue("(nN)", input, msg);
        if (arg != NULL) PyErr_SetObject(PyExc_ValueError, arg);
        Py_XDECREF(arg);
    }
    return -1;
}

/* Check block `src->block` and point at its entry `src->entry` (past its end: the next block). */
static int load_entry(source *src, Py_ssize_t input) {
    while (src->block < src->nblocks) {
        if (src->entry == 0 || src->bcount == 0) {
            uint64_t off = src->handles[2 * src->block], size = src->handles[2 * src->block + 1];
            if (size < HC_BLOCK_TRAILER || off > (uint64_t)src->size || size > (uint64_t)src->size - off)
                return corrupt(input, "data block %zd handle out of range", src->block);
            const unsigned char *b = src->data + off;
            if (hc_crc32(0, b, size - 4) != (uint32_t)hc_get_le(b + size - 4, 4))
                return corrupt(input, "data block at offset %zd checksum mismatch", (Py_ssize_t)off);
            int rc = hc_block_open(&src->cur, b, (Py_ssize_t)size);
            if (rc == HC_BLOCK_BAD_COUNT)
                return corrupt(input, "data block at offset %zd: entry count does not fit", (Py_ssize_t)off);
            if (rc) return corrupt(input, "data block at offset %zd: entry offset out of range", (Py_ssize_t)off);
            src->bstart = (Py_ssize_t)off, src->bcount = src->cur.n;
        }
        if (src->entry < src->bcount) {
            const unsigned char *v;
            Py_ssize_t vlen;
            int rc = hc_block_entry(&src->cur, src->entry, &src->key, &src->klen, &v, &vlen);
            if (rc == HC_BLOCK_BAD_OFFSET)
                return corrupt(input, "data block at offset %zd: entry offset out of range", src->bstart);
            if (rc || vlen < HC_VALUE_HEAD)
                return corrupt(input, "data block at offset %zd: entry out of range", src->bstart);
            src->kind = v[0], src->seq = hc_get_le(v + 1, 8), src->expire_at = hc_get_le(v + 9, 8);
            src->value = v + HC_VALUE_HEAD, src->vlen = vlen - HC_VALUE_HEAD;
            return 0;
        }
        src->block++, src->entry = 0, src->bcount = 0;
    }
    src->done = 1;
    return 0;
}

/* The source with the smallest key, newest first within a key (the earlier input on a
 * tie of seqs, which distinct tables never have); -1 when all are done. */
static Py_ssize_t next_source(const source *srcs, Py_ssize_t k) {
    Py_ssize_t best = -1;
    for (Py_ssize_t i = 0; i < k; i++) {
        if (srcs[i].done) continue;
        if (best < 0) {
            best = i;
            continue;
        }
        int c = hc_key_cmp(srcs[i].key, srcs[i].klen, srcs[best].key, srcs[best].klen);
        if (c < 0 || (c == 0 && srcs[i].seq > srcs[best].seq)) best = i;
    }
    return best;
}

static int parse_inputs(PyObject *inputs, PyObject *cursors, source *srcs, Py_buffer *views, Py_ssize_t k) {
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *in = PyList_GET_ITEM(inputs, i), *cur = PyList_GET_ITEM(cursors, i), *handles;
        Py_ssize_t block, entry;
        if (!PyTuple_Check(in) || PyTuple_GET_SIZE(in) != 2 || !PyList_Check(handles = PyTuple_GET_ITEM(in, 1)) ||
            !PyList_Check(cur) || PyList_GET_SIZE(cur) != 2) {
            PyErr_SetString(PyExc_TypeError, "compact_table: inputs are (buffer, [(offset, size)]), cursors [block, entry]");
            return -1;
        }
        block = PyLong_AsSsize_t(PyList_GET_ITEM(cur, 0));
        entry = PyLong_AsSsize_t(PyList_GET_ITEM(cur, 1));
        if (PyErr_Occurred()) return -1;
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(in, 0), &views[i], PyBUF_SIMPLE) < 0) return -1;
        source *s = &srcs[i];
        s->data = views[i].buf, s->size = views[i].len;
        s->nblocks = PyList_GET_SIZE(handles);
        if ((s->handles = malloc((size_t)(s->nblocks ? s->nblocks : 1) * 2 * sizeof(uint64_t))) == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t j = 0; j < s->nblocks; j++) {
            unsigned long long off, size;
            if (!PyArg_ParseTuple(PyList_GET_ITEM(handles, j), "KK", &off, &size)) return -1;
            s->handles[2 * j] = off, s->handles[2 * j + 1] = size;
        }
        s->block = block, s->entry = entry;
        if (block < 0 || entry < 0) {
            PyErr_SetString(PyExc_ValueError, "compact_table: negative cursor");
            return -1;
        }
        if (load_entry(s, i) < 0) return -1;
    }
    return 0;
}

/* Merge from the cursors into one table until its estimated size reaches `target`. */
static PyObject *merge(source *srcs, Py_ssize_t k, PyObject *cursors, PyObject *last, Py_ssize_t target,
                       Py_ssize_t block_size, uint64_t now_ms, int drop_tombstones, double error) {
    const unsigned char *last_key = last == Py_None ? NULL : (const unsigned char *)PyBytes_AS_STRING(last);
    Py_ssize_t last_klen = last == Py_None ? 0 : PyBytes_GET_SIZE(last);
    PyObject *last_copy = Py_NewRef(last); /* the last key taken keeps pointing into a source */
    hc_table_writer tw;
    if (hc_table_init(&tw, block_size, target < (1 << 26) ? target : (1 << 26)) < 0) {
        Py_DECREF(last_copy);
        return NULL;
    }
    Py_ssize_t i;
    while ((i = next_source(srcs, k)) >= 0) {
        source *s = &srcs[i];
        int newer = last_key == NULL || hc_key_cmp(s->key, s->klen, last_key, last_klen) != 0;
        if (newer) {
            last_key = s->key, last_klen = s->klen;
            int kind = s->kind;
            uint64_t expire_at = s->expire_at;
            Py_ssize_t vlen = s->vlen;
            if (kind != HC_KIND_TOMBSTONE && expire_at && expire_at <= now_ms) kind = HC_KIND_TOMBSTONE, expire_at = 0, vlen = 0;
            if ((kind != HC_KIND_TOMBSTONE || !drop_tombstones) &&
                hc_table_add(&tw, s->key, s->klen, kind, s->seq, expire_at, s->value, vlen) < 0)
                goto fail;
        }
        s->entry++;
        if (load_entry(s, i) < 0) goto fail;
        if (tw.entries && hc_table_estimated_size(&tw) >= target) break;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        PyObject *cur = PyList_GET_ITEM(cursors, j);
        PyObject *b = PyLong_FromSsize_t(srcs[j].block), *e = PyLong_FromSsize_t(srcs[j].entry);
        if (b == NULL || e == NULL) {
            Py_XDECREF(b);
            Py_XDECREF(e);
            goto fail;
        }
        PyList_SetItem(cur, 0, b);
        PyList_SetItem(cur, 1, e);
    }
    /* the key to skip older versions of when the next table starts */
    PyObject *key = last_key == NULL ? Py_NewRef(Py_None) : PyBytes_FromStringAndSize((const char *)last_key, last_klen);
    Py_DECREF(last_copy);
    PyObject *table = key == NULL ? NULL : hc_table_finish(&tw, error);
    if (table == NULL) {
        Py_XDECREF(key);
        return NULL;
    }
    return Py_BuildValue("(NN)", table, key);
fail:
    Py_DECREF(last_copy);
    hc_table_free(&tw);
    return NULL;
}

PyObject *hc_compact_table(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *inputs, *cursors, *last;
    Py_ssize_t target, block_size;
    unsigned long long now_ms;
    int drop_tombstones;
    double error;
    if (!PyArg_ParseTuple(args, "O!O!OnnKpd:compact_table", &PyList_Type, &inputs, &PyList_Type, &cursors, &last,
                          &target, &block_size, &now_ms, &drop_tombstones, &error))
        return NULL;
    Py_ssize_t k = PyList_GET_SIZE(inputs);
    if (PyList_GET_SIZE(cursors) != k || (last != Py_None && !PyBytes_Check(last)) || block_size <= HC_BLOCK_TRAILER) {
        PyErr_SetString(PyExc_ValueError, "compact_table: a cursor per input, last key bytes or None, block_size > 8");
        return NULL;
    }
    source *srcs = calloc((size_t)(k ? k : 1), sizeof *srcs);
    Py_buffer *views = calloc((size_t)(k ? k : 1), sizeof *views);
    PyObject *result = NULL;
    if (srcs == NULL || views == NULL) {
        PyErr_NoMemory();
    } else if (parse_inputs(inputs, cursors, srcs, views, k) == 0) {
        result = merge(srcs, k, cursors, last, target, block_size, now_ms, drop_tombstones, error);
    }
    for (Py_ssize_t i = 0; srcs != NULL && views != NULL && i < k; i++) {
        free(srcs[i].handles);
        if (views[i].obj != NULL) PyBuffer_Release(&views[i]);
    }
    free(srcs);
    free(views);
    return result;
}
