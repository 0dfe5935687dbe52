/* hc_table.c - an SSTable's body built in C (see hc_table.h). */
#include "hc_table.h"

#include <stdlib.h>
#include <string.h>

#include "hc_bloom.h"
#include "hc_crc32.h"
#include "hc_hash.h"

#define FILTER_TYPE_NATIVE 2 /* bloom.BLOOM_NATIVE */

static int grow(void **p, Py_ssize_t *cap, Py_ssize_t need, size_t item) {
    if (need <= *cap) return 0;
    Py_ssize_t cap2 = *cap ? *cap : 1024;
    while (cap2 < need) cap2 *= 2;
    void *q = realloc(*p, (size_t)cap2 * item);
    if (q == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *p = q, *cap = cap2;
    return 0;
}

/* Room for `need` bytes in the blob; it is the table body returned in the end, so the
 * blocks are never copied (a large realloc only remaps pages). */
static int grow_blob(hc_table_writer *tw, Py_ssize_t need) {
    if (need <= tw->cap) return 0;
    Py_ssize_t cap = tw->cap * 2 > need ? tw->cap * 2 : need;
    if (_PyBytes_Resize(&tw->blob, cap) < 0) return -1; /* (tw->blob is NULL then) */
    tw->buf = (unsigned char *)PyBytes_AS_STRING(tw->blob), tw->cap = cap;
    return 0;
}

int hc_table_init(hc_table_writer *tw, Py_ssize_t block_size, Py_ssize_t size_hint) {
    memset(tw, 0, sizeof *tw);
    tw->limit = block_size - HC_BLOCK_TRAILER;
    tw->min_seq = UINT64_MAX;
    tw->index = PyList_New(0);
    tw->expires = PyList_New(0);
    tw->cap = size_hint > 0 ? size_hint : 1;
    tw->blob = PyBytes_FromStringAndSize(NULL, tw->cap);
    if (tw->blob != NULL) tw->buf = (unsigned char *)PyBytes_AS_STRING(tw->blob);
    if (tw->index == NULL || tw->expires == NULL || tw->blob == NULL) {
        hc_table_free(tw);
        return -1;
    }
    return 0;
}

void hc_table_free(hc_table_writer *tw) {
    Py_CLEAR(tw->blob);
    free(tw->offsets);
    free(tw->hashes);
    Py_CLEAR(tw->index);
    Py_CLEAR(tw->expires);
    Py_CLEAR(tw->smallest);
    tw->buf = NULL, tw->offsets = NULL, tw->hashes = NULL;
}

/* Closes the open block: offsets, count, CRC-32; its index entry is (last key, offset, size). */
static int close_block(hc_table_writer *tw) {
    if (tw->count == 0) return 0;
    if (grow_blob(tw, tw->len + 4 * tw->count + HC_BLOCK_TRAILER) < 0) return -1;
    unsigned char *p = tw->buf + tw->len;
    for (Py_ssize_t i = 0; i < tw->count; i++, p += 4) hc_put_le(p, tw->offsets[i], 4);
    hc_put_le(p, (uint64_t)tw->count, 4);
    p += 4;
    hc_put_le(p, hc_crc32(0, tw->buf + tw->block_start, (size_t)(p - (tw->buf + tw->block_start))), 4);
    Py_ssize_t end = p + 4 - tw->buf, size = end - tw->block_start;
    PyObject *handle = Py_BuildValue("(y#nn)", (const char *)tw->buf + tw->last_key_at, tw->last_klen, tw->block_start, size);
    if (handle == NULL || PyList_Append(tw->index, handle) < 0) {
        Py_XDECREF(handle);
        return -1;
    }
    Py_DECREF(handle);
    tw->len = tw->block_start = end;
    tw->count = 0;
    return 0;
}

int hc_table_add(hc_table_writer *tw, const unsigned char *key, Py_ssize_t klen, int kind, uint64_t seq,
                 uint64_t expire_at, const unsigned char *value, Py_ssize_t vlen) {
    Py_ssize_t size = HC_ENTRY_HEAD + klen + HC_VALUE_HEAD + vlen;
    if (grow_blob(tw, tw->len + size) < 0 ||
        grow((void **)&tw->offsets, &tw->offsets_cap, tw->count + 1, sizeof *tw->offsets) < 0 ||
        grow((void **)&tw->hashes, &tw->hashes_cap, tw->entries + 1, sizeof *tw->hashes) < 0)
        return -1;
    if (tw->entries == 0 && (tw->smallest = PyBytes_FromStringAndSize((const char *)key, klen)) == NULL) return -1;
    if (kind == HC_KIND_TOMBSTONE) {
        tw->tombstones++;
    } else if (expire_at) {
        PyObject *at = PyLong_FromUnsignedLongLong(expire_at);
        int rc = at == NULL ? -1 : PyList_Append(tw->expires, at);
        Py_XDECREF(at);
        if (rc < 0) return -1;
    }
    tw->offsets[tw->count++] = (uint32_t)(tw->len - tw->block_start);
    unsigned char *e = tw->buf + tw->len;
    hc_put_le(e, (uint64_t)klen, 4);
    hc_put_le(e + 4, (uint64_t)(HC_VALUE_HEAD + vlen), 4);
    memcpy(e + HC_ENTRY_HEAD, key, (size_t)klen);
    tw->last_key_at = tw->len + HC_ENTRY_HEAD, tw->last_klen = klen;
    e += HC_ENTRY_HEAD + klen;
    e[0] = (unsigned char)kind;
    hc_put_le(e + 1, seq, 8);
    hc_put_le(e + 9, expire_at, 8);
    if (vlen) memcpy(e + HC_VALUE_HEAD, value, (size_t)vlen);
    tw->len += size;
    tw->hashes[tw->entries++] = hc_hash64(key, (size_t)klen);
    if (seq < tw->min_seq) tw->min_seq = seq;
    if (seq > tw->max_seq) tw->max_seq = seq;
    /* TableBuilder.add_entries: a block closes after the entry that brings its entries
     * and their offsets to block_size - 8 */
    return tw->len - tw->block_start + 4 * tw->count >= tw->limit ? close_block(tw) : 0;
}

Py_ssize_t hc_table_estimated_size(const hc_table_writer *tw) { return tw->len + 4 * tw->count + HC_BLOCK_TRAILER; }

/* The filter block: type 2 | a non-scaling native bloom filter over the keys
 * (bloom.NativeBloomBuilder.finish). */
static PyObject *filter_block(const hc_table_writer *tw, double error) {
    hc_bloom bf;
    const char *err = NULL;
    int rc = hc_bloom_init(&bf, tw->entries ? (uint64_t)tw->entries : 1, error, 1, HC_BLOOM_NONSCALING, &err);
    if (rc != HC_OK) {
        if (rc == HC_NOMEM) return PyErr_NoMemory();
        PyErr_SetString(PyExc_ValueError, err ? err : "bad filter parameters");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < tw->entries; i++) (void)hc_bloom_add(&bf, tw->hashes[i]);
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

PyObject *hc_table_finish(hc_table_writer *tw, double error_rate) {
    PyObject *result = NULL;
    if (tw->entries == 0) {
        result = Py_NewRef(Py_None);
    } else if (close_block(tw) == 0) {
        PyObject *largest = PyBytes_FromStringAndSize((const char *)tw->buf + tw->last_key_at, tw->last_klen);
        PyObject *blocks = NULL;
        if (largest != NULL && _PyBytes_Resize(&tw->blob, tw->len) == 0) { /* shrinks in place */
            blocks = tw->blob;
            tw->blob = NULL, tw->buf = NULL;
        }
        PyObject *filter = blocks == NULL ? NULL : filter_block(tw, error_rate);
        if (filter != NULL)
            result = Py_BuildValue("(OOO(nnKKOOO))", blocks, tw->index, filter, tw->entries, tw->tombstones,
                                   tw->min_seq, tw->max_seq, tw->smallest, largest, tw->expires);
        Py_XDECREF(largest);
        Py_XDECREF(blocks);
        Py_XDECREF(filter);
    }
    hc_table_free(tw);
    return result;
}

int hc_block_open(hc_block *b, const unsigned char *data, Py_ssize_t len) {
    Py_ssize_t n = (Py_ssize_t)hc_get_le(data + len - HC_BLOCK_TRAILER, 4);
    Py_ssize_t base = len - HC_BLOCK_TRAILER - 4 * n;
    if (base < 0) return HC_BLOCK_BAD_COUNT;
    if (n && (Py_ssize_t)hc_get_le(data + base + 4 * (n - 1), 4) >= base) return HC_BLOCK_BAD_OFFSET;
    b->data = data, b->n = n, b->base = base;
    return 0;
}

int hc_block_entry(const hc_block *b, Py_ssize_t j, const unsigned char **key, Py_ssize_t *klen,
                   const unsigned char **value, Py_ssize_t *vlen) {
    Py_ssize_t off = (Py_ssize_t)hc_get_le(b->data + b->base + 4 * j, 4);
    if (off + HC_ENTRY_HEAD > b->base) return HC_BLOCK_BAD_OFFSET;
    *klen = (Py_ssize_t)hc_get_le(b->data + off, 4);
    *vlen = (Py_ssize_t)hc_get_le(b->data + off + 4, 4);
    *key = b->data + off + HC_ENTRY_HEAD;
    *value = *key + *klen;
    return off + HC_ENTRY_HEAD + *klen + *vlen > b->base ? HC_BLOCK_BAD_ENTRY : 0;
}
