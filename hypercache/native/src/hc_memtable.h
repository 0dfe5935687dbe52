/* hc_memtable.h - the memtable's entries, outside Python objects.
 *
 * Each write is one entry appended to an arena of 1 MiB chunks taken with mmap: an
 * 18-byte header, the internal key, the value, and an expiry only if it has one. A memtable is freed whole once flushed, so the
 * arena needs no per-entry free, and its memory goes back to the OS with its chunks:
 * the Python memtable (a SortedDict of Record tuples, ~350 bytes per 100-byte write)
 * left freed memtables' objects scattered over pymalloc arenas that stayed resident
 * (~80 MB of RSS after a 1M-key load). An overwrite appends a new entry and leaves the
 * old one in the arena, as RocksDB's memtable keeps every version; `bytes` counts both.
 *
 * A key has an id (its place in `entries`, which points at its newest entry); an
 * open-addressing table of ids answers point reads. The key order is kept per bucket
 * of the key's first two bytes (its cluster slot for an internal key), and only once a
 * range read comes: it deals the ids written since into their buckets, and a bucket's
 * new ids wait at its end until a read of that bucket sorts and merges them in. So a
 * write pays no ordering and no bucket memory, and a SCAN pays for what it reads.
 */
#ifndef HC_MEMTABLE_H
#define HC_MEMTABLE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t seq;
    uint32_t klen, vlen;
    uint8_t kind;
    uint8_t has_ttl; /* 1: an expiry follows the value */
    char data[];     /* internal key, value, then (has_ttl) expire_at, ms since the epoch (unaligned: memcpy) */
} hc_mem_entry;

typedef struct {
    uint32_t *ids;   /* cap ids: [0, sorted) in key order, then the ones not placed yet */
    uint32_t count, cap, sorted;
} hc_mem_bucket;

typedef struct hc_mem_chunk hc_mem_chunk;

typedef struct {
    PyObject_HEAD
    PyObject *record_type; /* storage.records.Record: what get and the range reads return */
    hc_mem_entry **entries; /* by id: the newest entry of each key */
    uint32_t count, entries_cap;
    uint32_t *table;      /* table_cap slots of id + 1 and hash bits (hc_memtable.c; 0 = empty), linear probing */
    uint32_t table_cap;   /* a power of two, or 0 */
    hc_mem_bucket *buckets; /* HC_MEM_BUCKETS of them, made by the first range read */
    uint32_t dealt;       /* ids [0, dealt) are in their buckets */
    uint32_t max_bucket;  /* the highest bucket that holds an id */
    hc_mem_chunk *chunks; /* the arena, newest chunk first */
    size_t bytes;         /* arena bytes used and the arrays' bytes */
    size_t entry_bytes;   /* while draining: the arena's bytes per key, for the budget */
} MemtableEntriesObject;

#define HC_MEM_BUCKETS 65536

extern PyTypeObject MemtableEntriesType;

/* Put (or replace) the entry of the internal key slot + key (the write lane's); 1 if the
 * key is new, 0 if replaced, -1 with MemoryError. */
int hc_mem_put_slot_key(MemtableEntriesObject *m, uint16_t slot, const char *key, size_t klen, int kind,
                        const char *value, size_t vlen, int64_t expire_at, int64_t seq);

#endif
