/* hc_cuckoo.c - the cuckoo filter: lookups, kicks with roll-back, growth by a chain of
 * sub-filters, compaction, and serialisation (see hc_cuckoo.h and ../formats.md). */
#include "hc_cuckoo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hc_hash.h"

static const uint8_t CF_MAGIC[4] = {'H', 'C', 'C', 'F'};

/* ---- slots --------------------------------------------------------------------------- */

static inline uint32_t slot_get(const hc_subcf *f, uint64_t slot) {
    uint64_t bit = slot * f->fp_bits;
    return (uint32_t)(hc_load64le(f->data + (bit >> 3)) >> (bit & 7)) & f->fp_mask;
}

static inline void slot_set(hc_subcf *f, uint64_t slot, uint32_t v) {
    uint64_t bit = slot * f->fp_bits;
    uint8_t *p = f->data + (bit >> 3);
    unsigned sh = (unsigned)(bit & 7);
    uint64_t w = hc_load64le(p);
    w = (w & ~((uint64_t)f->fp_mask << sh)) | ((uint64_t)v << sh);
    hc_store64le(p, w);
}

/* Index of the first slot of `bucket` holding `tag`, or -1. */
static inline int bucket_find(const hc_subcf *f, unsigned b, uint64_t bucket, uint32_t tag) {
    uint64_t s = bucket * b;
    for (unsigned j = 0; j < b; j++)
        if (slot_get(f, s + j) == tag) return (int)j;
    return -1;
}

static inline unsigned bucket_count(const hc_subcf *f, unsigned b, uint64_t bucket, uint32_t tag) {
    uint64_t s = bucket * b;
    unsigned n = 0;
    for (unsigned j = 0; j < b; j++) n += slot_get(f, s + j) == tag;
    return n;
}

/* ---- hashing ------------------------------------------------------------------------- */

typedef struct {
    uint64_t i1, i2;
    uint32_t tag;
} cf_pos;

/* The fingerprint cut to the first sub-filter's width (never 0): what the alternate
 * bucket is derived from, identical in every sub-filter. */
static inline uint32_t base_tag(const hc_cf *cf, const hc_subcf *f, uint32_t tag) {
    uint32_t t = tag >> (f->fp_bits - cf->fp_bits);
    return t ? t : 1;
}

static inline uint64_t alt_offset(uint32_t base) {
    return (uint64_t)(((uint64_t)base * 0x9E3779B97F4A7C15ULL) >> 32);
}

static inline uint64_t alt_index(const hc_cf *cf, const hc_subcf *f, uint64_t i, uint32_t tag) {
    return (i ^ alt_offset(base_tag(cf, f, tag))) & f->mask;
}

static inline void positions(const hc_cf *cf, const hc_subcf *f, uint64_t h, cf_pos *p) {
    uint32_t tag = (uint32_t)h >> (32 - f->fp_bits);
    p->tag = tag ? tag : 1;
    p->i1 = (h >> 32) & f->mask;
    p->i2 = alt_index(cf, f, p->i1, p->tag);
}

/* ---- sizes ------------------------------------------------------------------------- */

static uint64_t next_pow2(uint64_t n) {
    if (n <= 1) return 1;
    n--;
    n |= n >> 1;
    n |= n >> 2;
    n |= n >> 4;
    n |= n >> 8;
    n |= n >> 16;
    n |= n >> 32;
    return n + 1;
}

static uint64_t table_bytes_for(uint64_t buckets, unsigned b, unsigned f) {
    /* buckets <= 2^32, b <= 255, f <= 32: the product fits in 64 bits */
    return (buckets * b * f + 7) / 8;
}

uint64_t hc_cf_filter_buckets(const hc_cf *cf, uint32_t k) {
    uint64_t n = cf->base_buckets;
    for (uint32_t i = 0; i < k; i++) {
        if (cf->expansion == 0) return 0;
        if (n > HC_CF_MAX_BUCKETS / cf->expansion) return 0;
        n *= cf->expansion;
    }
    return n <= HC_CF_MAX_BUCKETS ? n : 0;
}

unsigned hc_cf_filter_fp_bits(const hc_cf *cf, uint32_t k) {
    uint64_t f = (uint64_t)cf->fp_bits + (uint64_t)k * cf->fp_growth;
    return f > HC_CF_MAX_FP_BITS ? HC_CF_MAX_FP_BITS : (unsigned)f;
}

static int subcf_alloc(hc_subcf *f, uint64_t buckets, unsigned b, unsigned fp_bits) {
    f->num_buckets = buckets;
    f->mask = buckets - 1;
    f->items = 0;
    f->fp_bits = (uint8_t)fp_bits;
    f->fp_mask = fp_bits >= 32 ? 0xFFFFFFFFu : ((1u << fp_bits) - 1);
    f->nbytes = table_bytes_for(buckets, b, fp_bits);
    f->data = calloc(1, (size_t)f->nbytes + 8);
    return f->data ? HC_OK : HC_NOMEM;
}

/* Add sub-filter number cf->num_filters. */
static int cf_grow(hc_cf *cf) {
    uint32_t k = cf->num_filters;
    if (k >= HC_CF_MAX_FILTERS) return HC_FULL;
    uint64_t n = hc_cf_filter_buckets(cf, k);
    if (n == 0) return HC_FULL;
    unsigned f = hc_cf_filter_fp_bits(cf, k);
    if (hc_cf_table_bytes(cf) + table_bytes_for(n, cf->bucket_size, f) > HC_MAX_TABLE_BYTES) return HC_FULL;
    hc_subcf *arr = realloc(cf->filters, sizeof(hc_subcf) * ((size_t)k + 1));
    if (!arr) return HC_NOMEM;
    cf->filters = arr;
    if (subcf_alloc(&arr[k], n, cf->bucket_size, f) != HC_OK) return HC_NOMEM;
    cf->num_filters = k + 1;
    return HC_OK;
}

static int check_params(uint64_t capacity, unsigned bucket_size, unsigned max_iterations,
                        unsigned expansion, unsigned fp_bits, unsigned fp_growth, const char **err) {
    if (capacity == 0) return *err = "capacity must be at least 1", HC_INVALID;
    if (bucket_size < 1 || bucket_size > HC_CF_MAX_BUCKET_SIZE)
        return *err = "bucket size must be between 1 and 255", HC_INVALID;
    if (max_iterations < 1 || max_iterations > HC_CF_MAX_ITERATIONS)
        return *err = "max iterations must be between 1 and 65535", HC_INVALID;
    if (expansion > HC_CF_MAX_EXPANSION) return *err = "expansion must be between 0 and 32768", HC_INVALID;
    if (fp_bits < 1 || fp_bits > HC_CF_MAX_FP_BITS)
        return *err = "fingerprint bits must be between 1 and 32", HC_INVALID;
    if (fp_growth > HC_CF_MAX_FP_BITS) return *err = "fingerprint growth must be between 0 and 32", HC_INVALID;
    return HC_OK;
}

int hc_cf_init(hc_cf *cf, uint64_t capacity, unsigned bucket_size, unsigned max_iterations,
               unsigned expansion, unsigned fp_bits, unsigned fp_growth, const char **err) {
    memset(cf, 0, sizeof(*cf));
    int rc = check_params(capacity, bucket_size, max_iterations, expansion, fp_bits, fp_growth, err);
    if (rc != HC_OK) return rc;
    uint64_t n = next_pow2(capacity / bucket_size);
    if (n > HC_CF_MAX_BUCKETS || table_bytes_for(n, bucket_size, fp_bits) > HC_MAX_TABLE_BYTES)
        return *err = "capacity too large", HC_INVALID;
    cf->bucket_size = (uint16_t)bucket_size;
    cf->max_iterations = (uint16_t)max_iterations;
    cf->expansion = (uint16_t)(expansion ? next_pow2(expansion) : 0);
    cf->fp_bits = (uint8_t)fp_bits;
    cf->fp_growth = (uint8_t)fp_growth;
    cf->base_buckets = n;
    rc = cf_grow(cf);
    if (rc != HC_OK) {
        hc_cf_free(cf);
        return *err = "out of memory", HC_NOMEM;
    }
    return HC_OK;
}

void hc_cf_free(hc_cf *cf) {
    for (uint32_t k = 0; k < cf->num_filters; k++) free(cf->filters[k].data);
    free(cf->filters);
    cf->filters = NULL;
    cf->num_filters = 0;
}

/* ---- queries ------------------------------------------------------------------------- */

int hc_cf_contains(const hc_cf *cf, uint64_t h) {
    unsigned b = cf->bucket_size;
    for (uint32_t k = 0; k < cf->num_filters; k++) {
        const hc_subcf *f = &cf->filters[k];
        cf_pos p;
        positions(cf, f, h, &p);
        if (bucket_find(f, b, p.i1, p.tag) >= 0 || bucket_find(f, b, p.i2, p.tag) >= 0) return 1;
    }
    return 0;
}

uint64_t hc_cf_count(const hc_cf *cf, uint64_t h) {
    unsigned b = cf->bucket_size;
    uint64_t n = 0;
    for (uint32_t k = 0; k < cf->num_filters; k++) {
        const hc_subcf *f = &cf->filters[k];
        cf_pos p;
        positions(cf, f, h, &p);
        n += bucket_count(f, b, p.i1, p.tag);
        if (p.i2 != p.i1) n += bucket_count(f, b, p.i2, p.tag);
    }
    return n;
}

/* ---- insertion ----------------------------------------------------------------------- */

/* Kick fingerprints around sub-filter f until one lands in an empty slot; on failure undo
 * every swap, so the table is exactly as before.  RedisBloom's victim order (the slot
 * after the previous victim's), which makes the undo a replay backwards. */
static int ko_insert(const hc_cf *cf, hc_subcf *f, const cf_pos *p) {
    unsigned b = cf->bucket_size;
    uint32_t fp = p->tag;
    uint64_t ii = p->i1;
    unsigned victim = 0;
    for (unsigned n = 0; n < cf->max_iterations; n++) {
        uint64_t s = ii * b + victim;
        uint32_t old = slot_get(f, s);
        slot_set(f, s, fp);
        fp = old;
        ii = alt_index(cf, f, ii, fp);
        int e = bucket_find(f, b, ii, 0);
        if (e >= 0) {
            slot_set(f, ii * b + (unsigned)e, fp);
            return 1;
        }
        victim = (victim + 1) % b;
    }
    for (unsigned n = 0; n < cf->max_iterations; n++) {
        victim = (victim + b - 1) % b;
        ii = alt_index(cf, f, ii, fp);
        uint64_t s = ii * b + victim;
        uint32_t old = slot_get(f, s);
        slot_set(f, s, fp);
        fp = old;
    }
    return 0;
}

static int insert_hash(hc_cf *cf, uint64_t h) {
    unsigned b = cf->bucket_size;
    for (;;) {
        for (uint32_t k = cf->num_filters; k > 0; k--) {
            hc_subcf *f = &cf->filters[k - 1];
            cf_pos p;
            positions(cf, f, h, &p);
            int e = bucket_find(f, b, p.i1, 0);
            uint64_t bucket = p.i1;
            if (e < 0) {
                e = bucket_find(f, b, p.i2, 0);
                bucket = p.i2;
            }
            if (e >= 0) {
                slot_set(f, bucket * b + (unsigned)e, p.tag);
                f->items++;
                cf->num_items++;
                return HC_OK;
            }
        }
        hc_subcf *last = &cf->filters[cf->num_filters - 1];
        cf_pos p;
        positions(cf, last, h, &p);
        if (ko_insert(cf, last, &p)) {
            last->items++;
            cf->num_items++;
            return HC_OK;
        }
        if (cf->expansion == 0) return HC_FULL;
        int rc = cf_grow(cf);
        if (rc != HC_OK) return rc;
        /* the new sub-filter is empty: the next pass finds a slot in it */
    }
}

int hc_cf_insert(hc_cf *cf, uint64_t h) { return insert_hash(cf, h); }

int hc_cf_insert_unique(hc_cf *cf, uint64_t h) {
    if (hc_cf_contains(cf, h)) return HC_EXISTS;
    return insert_hash(cf, h);
}

/* ---- deletion and compaction --------------------------------------------------------- */

int hc_cf_delete(hc_cf *cf, uint64_t h) {
    unsigned b = cf->bucket_size;
    for (uint32_t k = cf->num_filters; k > 0; k--) {
        hc_subcf *f = &cf->filters[k - 1];
        cf_pos p;
        positions(cf, f, h, &p);
        uint64_t bucket = p.i1;
        int j = bucket_find(f, b, p.i1, p.tag);
        if (j < 0) {
            bucket = p.i2;
            j = bucket_find(f, b, p.i2, p.tag);
        }
        if (j >= 0) {
            slot_set(f, bucket * b + (unsigned)j, 0);
            if (f->items) f->items--;
            if (cf->num_items) cf->num_items--;
            cf->num_deletes++;
            if (cf->num_filters > 1 && (double)cf->num_deletes > (double)cf->num_items * 0.10)
                hc_cf_compact(cf, 0);
            return 1;
        }
    }
    return 0;
}

#define RELOC_EMPTY 0
#define RELOC_OK 1
#define RELOC_FAIL (-1)

/* Move the fingerprint in (sub-filter j, bucket, slot) to any older sub-filter with room.
 * Older sub-filters are no larger and no wider, so the bucket index masked and the
 * fingerprint cut to their width are the item's own there. */
static int relocate(hc_cf *cf, uint32_t j, uint64_t bucket, unsigned slot) {
    unsigned b = cf->bucket_size;
    hc_subcf *f = &cf->filters[j];
    uint32_t tag = slot_get(f, bucket * b + slot);
    if (!tag) return RELOC_EMPTY;
    uint64_t off = alt_offset(base_tag(cf, f, tag));
    for (uint32_t i = 0; i < j; i++) {
        hc_subcf *g = &cf->filters[i];
        uint32_t t = tag >> (f->fp_bits - g->fp_bits);
        if (!t) t = 1;
        uint64_t b1 = bucket & g->mask, b2 = (bucket ^ off) & g->mask;
        int e = bucket_find(g, b, b1, 0);
        uint64_t target = b1;
        if (e < 0) {
            e = bucket_find(g, b, b2, 0);
            target = b2;
        }
        if (e >= 0) {
            slot_set(g, target * b + (unsigned)e, t);
            g->items++;
            slot_set(f, bucket * b + slot, 0);
            if (f->items) f->items--;
            return RELOC_OK;
        }
    }
    return RELOC_FAIL;
}

static int compact_single(hc_cf *cf, uint32_t j) {
    int rv = RELOC_OK;
    hc_subcf *f = &cf->filters[j];
    for (uint64_t bucket = 0; bucket < f->num_buckets; bucket++)
        for (unsigned s = 0; s < cf->bucket_size; s++)
            if (relocate(cf, j, bucket, s) == RELOC_FAIL) rv = RELOC_FAIL;
    if (rv == RELOC_OK && j == cf->num_filters - 1) {
        free(f->data);
        f->data = NULL;
        cf->num_filters--;
    }
    return rv;
}

void hc_cf_compact(hc_cf *cf, int cont) {
    if (cf->counts_dirty) hc_cf_recount(cf);
    for (uint32_t j = cf->num_filters; j > 1; j--)
        if (compact_single(cf, j - 1) == RELOC_FAIL && !cont) break;
    cf->num_deletes = 0;
}

/* ---- statistics ---------------------------------------------------------------------- */

uint64_t hc_cf_capacity(const hc_cf *cf) {
    uint64_t n = 0;
    for (uint32_t k = 0; k < cf->num_filters; k++) n += cf->filters[k].num_buckets * cf->bucket_size;
    return n;
}

uint64_t hc_cf_table_bits(const hc_cf *cf) {
    uint64_t n = 0;
    for (uint32_t k = 0; k < cf->num_filters; k++)
        n += cf->filters[k].num_buckets * cf->bucket_size * cf->filters[k].fp_bits;
    return n;
}

uint64_t hc_cf_table_bytes(const hc_cf *cf) {
    uint64_t n = 0;
    for (uint32_t k = 0; k < cf->num_filters; k++) n += cf->filters[k].nbytes;
    return n;
}

void hc_cf_recount(hc_cf *cf) {
    uint64_t total = 0;
    for (uint32_t k = 0; k < cf->num_filters; k++) {
        hc_subcf *f = &cf->filters[k];
        uint64_t slots = f->num_buckets * cf->bucket_size, n = 0;
        for (uint64_t s = 0; s < slots; s++) n += slot_get(f, s) != 0;
        f->items = n;
        total += n;
    }
    cf->num_items = total; /* the tables are the truth (a chunked load may disagree with its header) */
    cf->counts_dirty = 0;
}

/* A lookup of an absent item compares its fingerprint with the occupied slots of two
 * buckets in every sub-filter: ~2 * bucket_size * load slots, each matching with
 * probability ~1/(2^f - 1). */
double hc_cf_expected_fpp(hc_cf *cf) {
    if (cf->counts_dirty) hc_cf_recount(cf);
    double miss = 1.0;
    for (uint32_t k = 0; k < cf->num_filters; k++) {
        const hc_subcf *f = &cf->filters[k];
        double load = (double)f->items / ((double)f->num_buckets * cf->bucket_size);
        double slots = 2.0 * cf->bucket_size * load;
        if (f->num_buckets == 1) slots /= 2.0; /* both buckets are the one bucket */
        double p = 1.0 / (ldexp(1.0, f->fp_bits) - 1.0);
        miss *= pow(1.0 - p, slots);
    }
    return 1.0 - miss;
}

/* ---- serialisation ------------------------------------------------------------------- */

void hc_cf_write_header(const hc_cf *cf, uint8_t *out) {
    memset(out, 0, HC_CF_HEADER_SIZE);
    memcpy(out, CF_MAGIC, 4);
    out[4] = HC_CF_VERSION;
    out[5] = cf->fp_bits;
    out[6] = cf->fp_growth;
    hc_store16le(out + 8, cf->bucket_size);
    hc_store16le(out + 10, cf->max_iterations);
    hc_store16le(out + 12, cf->expansion);
    hc_store32le(out + 16, cf->num_filters);
    hc_store64le(out + 24, cf->num_items);
    hc_store64le(out + 32, cf->num_deletes);
    hc_store64le(out + 40, cf->base_buckets);
    hc_store64le(out + 48, hc_hash64(out, 48));
}

uint64_t hc_cf_dump_size(const hc_cf *cf) {
    return HC_CF_HEADER_SIZE + hc_cf_table_bytes(cf) + HC_CF_TRAILER_SIZE;
}

void hc_cf_dump(const hc_cf *cf, uint8_t *out) {
    hc_cf_write_header(cf, out);
    uint8_t *p = out + HC_CF_HEADER_SIZE;
    for (uint32_t k = 0; k < cf->num_filters; k++) {
        memcpy(p, cf->filters[k].data, (size_t)cf->filters[k].nbytes);
        p += cf->filters[k].nbytes;
    }
    hc_store64le(p, hc_hash64(out, (size_t)(p - out)));
}

static int is_pow2(uint64_t n) { return n && !(n & (n - 1)); }

int hc_cf_from_header(hc_cf *cf, const uint8_t *buf, size_t len, const char **err) {
    memset(cf, 0, sizeof(*cf));
    if (len != HC_CF_HEADER_SIZE) return *err = "bad cuckoo filter header: wrong size", HC_INVALID;
    if (memcmp(buf, CF_MAGIC, 4) != 0) return *err = "not a cuckoo filter (bad magic)", HC_INVALID;
    if (buf[4] != HC_CF_VERSION) return *err = "unsupported cuckoo filter format version", HC_INVALID;
    if (hc_load64le(buf + 48) != hc_hash64(buf, 48))
        return *err = "bad cuckoo filter header: checksum mismatch", HC_INVALID;
    if (buf[7] || hc_load16le(buf + 14) || hc_load32le(buf + 20))
        return *err = "bad cuckoo filter header: reserved bytes set", HC_INVALID;
    unsigned fp_bits = buf[5], fp_growth = buf[6];
    unsigned bucket_size = hc_load16le(buf + 8), max_iter = hc_load16le(buf + 10);
    unsigned expansion = hc_load16le(buf + 12);
    uint32_t num_filters = hc_load32le(buf + 16);
    uint64_t num_items = hc_load64le(buf + 24), num_deletes = hc_load64le(buf + 32);
    uint64_t base = hc_load64le(buf + 40);
    if (check_params(1, bucket_size, max_iter, expansion, fp_bits, fp_growth, err) != HC_OK) return HC_INVALID;
    if (expansion && !is_pow2(expansion)) return *err = "bad cuckoo filter header: expansion", HC_INVALID;
    if (!is_pow2(base) || base > HC_CF_MAX_BUCKETS)
        return *err = "bad cuckoo filter header: bucket count", HC_INVALID;
    if (num_filters < 1 || num_filters > HC_CF_MAX_FILTERS || (expansion == 0 && num_filters != 1))
        return *err = "bad cuckoo filter header: filter count", HC_INVALID;
    cf->bucket_size = (uint16_t)bucket_size;
    cf->max_iterations = (uint16_t)max_iter;
    cf->expansion = (uint16_t)expansion;
    cf->fp_bits = (uint8_t)fp_bits;
    cf->fp_growth = (uint8_t)fp_growth;
    cf->base_buckets = base;
    uint64_t total = 0, slots = 0;
    for (uint32_t k = 0; k < num_filters; k++) {
        uint64_t n = hc_cf_filter_buckets(cf, k);
        if (n == 0) return *err = "bad cuckoo filter header: filter too large", HC_INVALID;
        total += table_bytes_for(n, bucket_size, hc_cf_filter_fp_bits(cf, k));
        slots += n * bucket_size;
        if (total > HC_MAX_TABLE_BYTES) return *err = "bad cuckoo filter header: filter too large", HC_INVALID;
    }
    if (num_items > slots) return *err = "bad cuckoo filter header: more items than slots", HC_INVALID;
    cf->filters = calloc(num_filters, sizeof(hc_subcf));
    if (!cf->filters) return *err = "out of memory", HC_NOMEM;
    for (uint32_t k = 0; k < num_filters; k++) {
        if (subcf_alloc(&cf->filters[k], hc_cf_filter_buckets(cf, k), bucket_size, hc_cf_filter_fp_bits(cf, k)) !=
            HC_OK) {
            hc_cf_free(cf);
            return *err = "out of memory", HC_NOMEM;
        }
        cf->num_filters = k + 1;
    }
    cf->num_items = num_items;
    cf->num_deletes = num_deletes;
    cf->counts_dirty = 1;
    return HC_OK;
}

int hc_cf_load(hc_cf *cf, const uint8_t *buf, size_t len, const char **err) {
    memset(cf, 0, sizeof(*cf));
    if (len < HC_CF_HEADER_SIZE + HC_CF_TRAILER_SIZE) return *err = "truncated cuckoo filter", HC_INVALID;
    /* Check the length the header implies before allocating anything. */
    int rc = hc_cf_from_header(cf, buf, HC_CF_HEADER_SIZE, err);
    if (rc != HC_OK) return rc;
    if (hc_cf_dump_size(cf) != len) {
        hc_cf_free(cf);
        return *err = "truncated or oversized cuckoo filter", HC_INVALID;
    }
    if (hc_load64le(buf + len - 8) != hc_hash64(buf, len - 8)) {
        hc_cf_free(cf);
        return *err = "corrupt cuckoo filter: checksum mismatch", HC_INVALID;
    }
    const uint8_t *p = buf + HC_CF_HEADER_SIZE;
    for (uint32_t k = 0; k < cf->num_filters; k++) {
        memcpy(cf->filters[k].data, p, (size_t)cf->filters[k].nbytes);
        p += cf->filters[k].nbytes;
    }
    uint64_t claimed = cf->num_items;
    hc_cf_recount(cf);
    if (cf->num_items != claimed) {
        hc_cf_free(cf);
        return *err = "corrupt cuckoo filter: item count does not match the table", HC_INVALID;
    }
    return HC_OK;
}

int hc_cf_chunk(const hc_cf *cf, uint64_t iter, size_t max_chunk, const uint8_t **out, size_t *outlen,
                uint64_t *next) {
    if (iter < 1 || max_chunk == 0) return 0;
    uint64_t off = iter - 1;
    for (uint32_t k = 0; k < cf->num_filters; k++) {
        const hc_subcf *f = &cf->filters[k];
        if (off < f->nbytes) {
            uint64_t n = f->nbytes - off;
            if (n > max_chunk) n = max_chunk;
            *out = f->data + off;
            *outlen = (size_t)n;
            *next = iter + n;
            return 1;
        }
        off -= f->nbytes;
    }
    return 0;
}

int hc_cf_load_chunk(hc_cf *cf, uint64_t iter, const uint8_t *data, size_t len, const char **err) {
    if (len == 0 || iter < (uint64_t)len + 1) return *err = "invalid chunk: bad iterator or length", HC_INVALID;
    uint64_t off = iter - 1 - len;
    for (uint32_t k = 0; k < cf->num_filters; k++) {
        hc_subcf *f = &cf->filters[k];
        if (off < f->nbytes) {
            if (len > f->nbytes - off) return *err = "invalid chunk: too big for the filter", HC_INVALID;
            memcpy(f->data + off, data, len);
            cf->counts_dirty = 1;
            return HC_OK;
        }
        off -= f->nbytes;
    }
    return *err = "invalid chunk: offset past the end of the filter", HC_INVALID;
}
