/* hc_cuckoo.h - a cuckoo filter (Fan, Andersen, Kaminsky, Mitzenmacher, CoNEXT 2014) that
 * grows by a chain of sub-filters as RedisBloom's cuckoo filter does.
 *
 * Hashing (partial-key cuckoo hashing from ONE 64-bit hash h of the item):
 *   fingerprint  tag = the top f bits of the low 32 bits of h, 0 mapped to 1 (0 marks an
 *                empty slot);
 *   buckets      i1 = (h >> 32) mod n,  i2 = i1 XOR (hash(tag') mod n),
 *                hash(t) = (t * 0x9E3779B97F4A7C15) >> 32, n a power of two, so i1 = i2 XOR
 *                hash(tag') too and a fingerprint can move between its two buckets without h.
 *   tag' is the fingerprint cut to the first sub-filter's width, so the alternate bucket
 *   is the same function in every sub-filter even when later ones use wider fingerprints.
 *
 * Sub-filter k has n_k = n_0 * expansion^k buckets of bucket_size slots of f_k bits,
 * f_k = min(32, f_0 + k * fp_growth) (fp_growth 0: RedisBloom's fixed width; 1: each new
 * sub-filter halves its false-positive share, so the chain's rate stays bounded).
 * Slots are bit-packed: slot s (bucket i, position j, s = i*bucket_size + j) holds bits
 * [s*f, s*f + f) of the table, least significant bit first.
 *
 * Insertion follows RedisBloom: an empty slot in either bucket of any sub-filter (newest
 * first), else at most max_iterations kicks in the newest sub-filter; when that fails the
 * kicks are rolled back (no fingerprint is ever lost) and a new sub-filter is added, or
 * HC_FULL returned when expansion is 0.
 */
#ifndef HC_CUCKOO_H
#define HC_CUCKOO_H

#include <stddef.h>
#include <stdint.h>

#include "hc_status.h"

#define HC_CF_MAX_BUCKET_SIZE 255
#define HC_CF_MAX_ITERATIONS 65535
#define HC_CF_MAX_EXPANSION 32768
#define HC_CF_MAX_FILTERS 65535
#define HC_CF_MAX_FP_BITS 32
#define HC_CF_MAX_BUCKETS (1ULL << 32) /* per sub-filter: its index comes from 32 hash bits */
#define HC_CF_HEADER_SIZE 56
#define HC_CF_TRAILER_SIZE 8
#define HC_CF_VERSION 1

typedef struct {
    uint64_t num_buckets; /* a power of two */
    uint64_t mask;        /* num_buckets - 1 */
    uint64_t items;       /* occupied slots */
    uint64_t nbytes;      /* table bytes, without the padding */
    uint32_t fp_mask;
    uint8_t fp_bits;
    uint8_t *data; /* nbytes + 8 zero bytes, so any slot is read with one 64-bit load */
} hc_subcf;

typedef struct {
    uint64_t num_items;   /* occupied slots in all sub-filters (RedisBloom's numItems) */
    uint64_t num_deletes; /* deletes since the last compaction (RedisBloom's numDeletes) */
    uint64_t base_buckets;
    uint32_t num_filters;
    uint16_t bucket_size;
    uint16_t max_iterations;
    uint16_t expansion; /* 0 (never grow) or a power of two */
    uint8_t fp_bits;    /* f_0 */
    uint8_t fp_growth;
    int counts_dirty; /* per-sub-filter item counts need a recount (after a chunked load) */
    hc_subcf *filters;
} hc_cf;

/* Parameters as RedisBloom's CF.RESERVE takes them (expansion is rounded up to a power of
 * two, the bucket count n_0 = next power of two >= capacity / bucket_size).  On failure
 * *err says why (HC_INVALID) or HC_NOMEM is returned; cf is then empty and free to drop. */
int hc_cf_init(hc_cf *cf, uint64_t capacity, unsigned bucket_size, unsigned max_iterations,
               unsigned expansion, unsigned fp_bits, unsigned fp_growth, const char **err);
void hc_cf_free(hc_cf *cf);

int hc_cf_insert(hc_cf *cf, uint64_t h);        /* HC_OK, HC_FULL, HC_NOMEM */
int hc_cf_insert_unique(hc_cf *cf, uint64_t h); /* HC_OK, HC_EXISTS, HC_FULL, HC_NOMEM */
int hc_cf_contains(const hc_cf *cf, uint64_t h);
uint64_t hc_cf_count(const hc_cf *cf, uint64_t h);
int hc_cf_delete(hc_cf *cf, uint64_t h); /* 1 deleted, 0 not found */
/* Move fingerprints into older sub-filters, freeing emptied newest ones (RedisBloom's
 * CuckooFilter_Compact; delete calls it when deletes pass 10% of the items). */
void hc_cf_compact(hc_cf *cf, int cont);

uint64_t hc_cf_capacity(const hc_cf *cf);   /* slots in all sub-filters */
uint64_t hc_cf_table_bits(const hc_cf *cf); /* bits of all slots */
uint64_t hc_cf_table_bytes(const hc_cf *cf);
double hc_cf_expected_fpp(hc_cf *cf); /* estimated false-positive rate at the current loads */
/* Recount the occupied slots (per sub-filter and num_items) from the tables.  Chunked
 * loading only marks the counts dirty: call this (if counts_dirty) before reading
 * num_items or writing a header. */
void hc_cf_recount(hc_cf *cf);
uint64_t hc_cf_filter_buckets(const hc_cf *cf, uint32_t k); /* 0 past the limits */
unsigned hc_cf_filter_fp_bits(const hc_cf *cf, uint32_t k);

/* Serialisation (the format is written down in ../formats.md).
 * Whole:   header | tables | checksum.  hc_cf_dump writes hc_cf_dump_size bytes.
 * Chunked: the header alone (hc_cf_write_header / hc_cf_from_header, which allocates empty
 *          tables), then the tables in pieces as RedisBloom's SCANDUMP/LOADCHUNK iterate:
 *          iterator i >= 1 stands for table byte offset i - 1; a chunk never spans two
 *          sub-filters; the iterator after a chunk of len bytes at i is i + len. */
uint64_t hc_cf_dump_size(const hc_cf *cf);
void hc_cf_write_header(const hc_cf *cf, uint8_t *out);
void hc_cf_dump(const hc_cf *cf, uint8_t *out);
int hc_cf_from_header(hc_cf *cf, const uint8_t *buf, size_t len, const char **err);
int hc_cf_load(hc_cf *cf, const uint8_t *buf, size_t len, const char **err);
/* 1 and the chunk at iterator iter (iter >= 1), or 0 when iter is past the end. */
int hc_cf_chunk(const hc_cf *cf, uint64_t iter, size_t max_chunk, const uint8_t **out,
                size_t *outlen, uint64_t *next);
/* Copy a chunk dumped at iterator (iter - len) back in place; HC_INVALID unless it lies
 * wholly inside one sub-filter's table. */
int hc_cf_load_chunk(hc_cf *cf, uint64_t iter, const uint8_t *data, size_t len, const char **err);

#endif
