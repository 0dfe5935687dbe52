/* hc_table.h - an SSTable's body built in C: data blocks, their index entries, the
 * filter block and the properties (storage/sstable.py's TableBuilder, docs/formats.md),
 * for the flush (hc_flush.c) and the compaction (hc_compact.c). Python's TableBuilder
 * writes the result with add_built() and finish(). */
#ifndef HC_TABLE_H
#define HC_TABLE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define HC_ENTRY_HEAD 8    /* block.ENTRY_HEAD: key_len u32, value_len u32 */
#define HC_VALUE_HEAD 17   /* sstable.VALUE_HEAD: kind u8, seq u64, expire_at u64 */
#define HC_BLOCK_TRAILER 8 /* block.TRAILER_SIZE: count u32, crc32 u32 */
#define HC_KIND_TOMBSTONE 0

typedef struct {
    PyObject *blob;     /* bytes: the closed blocks, then the open one's entries ... */
    unsigned char *buf; /* ... its buffer (moves as it grows) */
    Py_ssize_t len, cap, block_start, limit;
    uint32_t *offsets; /* the open block's entries, from its start */
    Py_ssize_t count, offsets_cap;
    uint64_t *hashes; /* every key's filter hash */
    Py_ssize_t entries, hashes_cap, tombstones;
    uint64_t min_seq, max_seq;
    PyObject *index, *expires, *smallest;
    Py_ssize_t last_key_at, last_klen; /* the last key added, in buf (which moves as it grows) */
} hc_table_writer;

/* Keys compared as Python compares bytes (memcmp, then the shorter first). */
static inline int hc_key_cmp(const unsigned char *a, Py_ssize_t alen, const unsigned char *b, Py_ssize_t blen) {
    size_t n = (size_t)(alen < blen ? alen : blen);
    int c = n ? memcmp(a, b, n) : 0;
    return c ? c : (alen > blen) - (alen < blen);
}

/* A stored block (data or index, docs/formats.md "Blocks") read in place: entries, then
 * their offsets from the block's start, count u32, crc32 u32. */
typedef struct {
    const unsigned char *data; /* the block's first byte */
    Py_ssize_t n, base;        /* entries; where the offsets array starts */
} hc_block;

#define HC_BLOCK_BAD_COUNT 1  /* the entry count does not fit in the block */
#define HC_BLOCK_BAD_OFFSET 2 /* an entry starts past the entries */
#define HC_BLOCK_BAD_ENTRY 3  /* an entry runs past the entries */

/* The block data[0..len), len >= 8, its CRC-32 checked by the caller: 0, or
 * HC_BLOCK_BAD_COUNT / HC_BLOCK_BAD_OFFSET (its last entry's offset) as Block.__init__. */
int hc_block_open(hc_block *b, const unsigned char *data, Py_ssize_t len);
/* Entry j's key and value, inside the block: 0, HC_BLOCK_BAD_OFFSET or HC_BLOCK_BAD_ENTRY. */
int hc_block_entry(const hc_block *b, Py_ssize_t j, const unsigned char **key, Py_ssize_t *klen,
                   const unsigned char **value, Py_ssize_t *vlen);

/* 0, or -1 with MemoryError set. `size_hint`: bytes the blocks will about take. */
int hc_table_init(hc_table_writer *tw, Py_ssize_t block_size, Py_ssize_t size_hint);
/* Append an entry (keys strictly increasing; key and value are copied). 0 or -1. */
int hc_table_add(hc_table_writer *tw, const unsigned char *key, Py_ssize_t klen, int kind, uint64_t seq,
                 uint64_t expire_at, const unsigned char *value, Py_ssize_t vlen);
/* What TableBuilder.estimated_size() would say now. */
Py_ssize_t hc_table_estimated_size(const hc_table_writer *tw);
/* Close the open block and return (blocks, index, filter_block, properties) as
 * TableBuilder.add_built takes them (None if nothing was added); the writer is freed. */
PyObject *hc_table_finish(hc_table_writer *tw, double error_rate);
void hc_table_free(hc_table_writer *tw);

#endif
