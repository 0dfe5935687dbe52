/* hc_hot.h - the hot tier: the keyspace's values in memory, outside Python objects.
 *
 * One allocation per key: a small header, the key's bytes, then a string value's bytes
 * (or, for a value of another type, a reference to its Python object). Per cluster slot
 * an open-addressing table (linear probing, backward-shift deletion) of pointers to the
 * entries, so a slot is still a unit that SCAN, COUNTKEYSINSLOT and eviction walk. Each
 * pointer carries 16 bits of its key's hash, so a probe reads only its own key's entry.
 * A 100-byte value under a 16-byte key costs one 144-byte malloc chunk and ~16 bytes of
 * table, where a slot dict held a key object (64), a value object (144) and a dict
 * entry (~36).
 *
 * Recency is a 32-bit tick per entry (the tier's clock, advanced by every access and
 * write): eviction takes the entry with the oldest tick among a few sampled from the
 * whole tier, as Redis samples maxmemory-samples keys. Each sample's slot is drawn in
 * proportion to its entries (per-group counts make that cheap): drawing slots
 * uniformly, as this did first, made churned slots' sizes a random walk, so the few
 * recent keys of a small slot went while large slots' old keys stayed (measured: half
 * of what a cold-read run evicted was the hot set).
 *
 * The entries hold strong references to object values, but the type is not tracked by
 * the cyclic collector: the values it holds (bloom and cuckoo filters) refer to nothing.
 */
#ifndef HC_HOT_H
#define HC_HOT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_crc16.h"

enum { HC_HOT_OBJECT = 1, HC_HOT_TTL = 2 };

/* Slots per group count: a key drawn uniformly from the whole tier (its rank among all
 * entries) finds its slot in 128 + 128 steps. */
#define HC_HOT_GROUP 128

typedef struct {
    uint32_t tick;  /* the tier's clock at the last access */
    uint32_t hash;  /* low 32 bits of hc_hash64(key): the home bucket, kept for resizes */
    uint32_t klen;  /* key bytes */
    uint32_t vlen;  /* value bytes (sizeof(PyObject *) for an object value) */
    uint8_t flags;  /* HC_HOT_OBJECT: data holds a PyObject *; HC_HOT_TTL: the key has a TTL entry */
    char data[];    /* key, then the value bytes or the object pointer (unaligned: memcpy) */
} hc_hot_entry;

typedef struct {
    uintptr_t *buckets; /* cap entry pointers tagged with hash bits (hc_hot.c), 0 = empty; NULL while cap is 0 */
    uint32_t cap;           /* 0 or a power of two */
    uint32_t count;
} hc_hot_slot;

typedef struct {
    PyObject_HEAD
    uint64_t count;      /* entries in all slots */
    uint64_t bytes;      /* estimated heap bytes: entries' malloc chunks and bucket arrays */
    uint32_t tick;       /* the clock */
    uint8_t occupied[HC_SLOT_COUNT]; /* 1 where a slot holds an entry (memchr-able) */
    uint32_t group_count[HC_SLOT_COUNT / HC_HOT_GROUP]; /* entries per run of HC_HOT_GROUP slots */
    hc_hot_slot slots[HC_SLOT_COUNT];
} HotTierObject;

extern PyTypeObject HotTierType;

/* The entry of key[0..klen) in `slot` (its key's cluster slot), or NULL. */
hc_hot_entry *hc_hot_find(HotTierObject *t, uint16_t slot, const char *key, size_t klen);

/* Insert or replace the value of key[0..klen) in `slot`: a string value[0..vlen) when
 * obj is NULL, else a new reference to obj; `ttl` sets HC_HOT_TTL. The entry's tick is
 * advanced. 1 if the key was new, 0 if replaced, -1 with MemoryError (nothing changed). */
int hc_hot_put(HotTierObject *t, uint16_t slot, const char *key, size_t klen, const char *value, size_t vlen,
               PyObject *obj, int ttl);

static inline void hc_hot_touch(HotTierObject *t, hc_hot_entry *e) { e->tick = ++t->tick; }

static inline const char *hc_hot_value(const hc_hot_entry *e) { return e->data + e->klen; }

#endif
