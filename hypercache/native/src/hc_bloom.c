/* hc_bloom.c - bloom filters and RedisBloom's scalable chain (see hc_bloom.h and
 * ../formats.md). */
#include "hc_bloom.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hc_hash.h"

static const uint8_t BF_MAGIC[4] = {'H', 'C', 'B', 'F'};
#define LN2 0.693147180559945309417

/* ---- one link ------------------------------------------------------------------------ */

static int link_size(hc_bloom_link *l, uint64_t entries, double error, const char **err) {
    if (entries < 1) return *err = "capacity must be at least 1", HC_INVALID;
    if (!(error > 0.0 && error < 1.0)) return *err = "error rate must be between 0 and 1 (exclusive)", HC_INVALID;
    double bpe = -log(error) / (LN2 * LN2);
    double hashes = ceil(LN2 * bpe);
    if (hashes > HC_BLOOM_MAX_HASHES) return *err = "error rate too small", HC_INVALID;
    double dbits = (double)entries * bpe;
    if (!(dbits < (double)HC_MAX_TABLE_BYTES * 8.0)) return *err = "capacity too large", HC_INVALID;
    uint64_t bits = (uint64_t)dbits;
    if (bits == 0) bits = 1;
    l->entries = entries;
    l->items = 0;
    l->error = error;
    l->bytes = ((bits + 63) / 64) * 8;
    l->bits = l->bytes * 8;
    l->hashes = hashes < 1 ? 1 : (uint32_t)hashes;
    l->data = NULL;
    return HC_OK;
}

static inline int link_check(const hc_bloom_link *l, uint64_t h) {
    uint64_t x = h, y = hc_mix64(h);
    for (uint32_t i = 0; i < l->hashes; i++) {
        uint64_t bit = hc_range64(x, l->bits);
        if (!(l->data[bit >> 3] & (1u << (bit & 7)))) return 0;
        x += y;
        y += i;
    }
    return 1;
}

/* Set the item's bits; returns how many were clear. */
static inline unsigned link_add(hc_bloom_link *l, uint64_t h) {
    uint64_t x = h, y = hc_mix64(h);
    unsigned fresh = 0;
    for (uint32_t i = 0; i < l->hashes; i++) {
        uint64_t bit = hc_range64(x, l->bits);
        uint8_t m = (uint8_t)(1u << (bit & 7));
        fresh += !(l->data[bit >> 3] & m);
        l->data[bit >> 3] |= m;
        x += y;
        y += i;
    }
    return fresh;
}

static int add_link(hc_bloom *bf, uint64_t entries, double error, const char **err) {
    hc_bloom_link l;
    int rc = link_size(&l, entries, error, err);
    if (rc != HC_OK) return rc;
    if (bf->num_links >= HC_BLOOM_MAX_LINKS || hc_bloom_table_bytes(bf) + l.bytes > HC_MAX_TABLE_BYTES)
        return *err = "filter too large", HC_FULL;
    l.data = calloc(1, (size_t)l.bytes);
    if (!l.data) return *err = "out of memory", HC_NOMEM;
    hc_bloom_link *arr = realloc(bf->links, sizeof(hc_bloom_link) * ((size_t)bf->num_links + 1));
    if (!arr) {
        free(l.data);
        return *err = "out of memory", HC_NOMEM;
    }
    arr[bf->num_links++] = l;
    bf->links = arr;
    return HC_OK;
}

/* ---- the chain ----------------------------------------------------------------------- */

int hc_bloom_init(hc_bloom *bf, uint64_t capacity, double error, unsigned expansion, unsigned flags,
                  const char **err) {
    memset(bf, 0, sizeof(*bf));
    if (flags & ~HC_BLOOM_NONSCALING) return *err = "unknown flags", HC_INVALID;
    if (!(flags & HC_BLOOM_NONSCALING) && expansion < 1)
        return *err = "expansion must be at least 1", HC_INVALID;
    if (expansion > HC_BLOOM_MAX_EXPANSION) return *err = "expansion must be at most 32768", HC_INVALID;
    bf->expansion = expansion;
    bf->flags = flags;
    double first = (flags & HC_BLOOM_NONSCALING) ? error : error * 0.5;
    if (!(error > 0.0 && error < 1.0)) return *err = "error rate must be between 0 and 1 (exclusive)", HC_INVALID;
    int rc = add_link(bf, capacity, first, err);
    if (rc != HC_OK) {
        hc_bloom_free(bf);
        return rc == HC_FULL ? HC_INVALID : rc;
    }
    return HC_OK;
}

void hc_bloom_free(hc_bloom *bf) {
    if (!bf->borrowed)
        for (uint32_t i = 0; i < bf->num_links; i++) free(bf->links[i].data);
    free(bf->links);
    bf->links = NULL;
    bf->num_links = 0;
}

int hc_bloom_contains(const hc_bloom *bf, uint64_t h) {
    for (uint32_t i = bf->num_links; i > 0; i--)
        if (link_check(&bf->links[i - 1], h)) return 1;
    return 0;
}

int hc_bloom_add(hc_bloom *bf, uint64_t h) {
    if (bf->borrowed) return HC_INVALID; /* a view of someone else's bytes */
    if (hc_bloom_contains(bf, h)) return 0;
    hc_bloom_link *cur = &bf->links[bf->num_links - 1];
    if (cur->items >= cur->entries) {
        if (bf->flags & HC_BLOOM_NONSCALING) return HC_FULL;
        const char *err;
        if (cur->entries > UINT64_MAX / bf->expansion) return HC_FULL;
        int rc = add_link(bf, cur->entries * bf->expansion, cur->error * 0.5, &err);
        if (rc != HC_OK) return rc == HC_NOMEM ? HC_NOMEM : HC_FULL;
        cur = &bf->links[bf->num_links - 1];
    }
    if (link_add(cur, h)) {
        cur->items++;
        bf->items++;
        return 1;
    }
    return 0;
}

uint64_t hc_bloom_capacity(const hc_bloom *bf) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < bf->num_links; i++) n += bf->links[i].entries;
    return n;
}

uint64_t hc_bloom_table_bytes(const hc_bloom *bf) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < bf->num_links; i++) n += bf->links[i].bytes;
    return n;
}

double hc_bloom_estimate(const hc_bloom *bf) {
    double total = 0.0;
    for (uint32_t i = 0; i < bf->num_links; i++) {
        const hc_bloom_link *l = &bf->links[i];
        uint64_t set = 0;
        for (uint64_t w = 0; w < l->bytes; w += 8) set += (uint64_t)__builtin_popcountll(hc_load64le(l->data + w));
        double m = (double)l->bits;
        if (set >= l->bits) {
            total += (double)l->entries; /* saturated: no information left */
            continue;
        }
        total += -(m / l->hashes) * log1p(-(double)set / m);
    }
    return total;
}

/* ---- serialisation ------------------------------------------------------------------- */

uint64_t hc_bloom_header_size(const hc_bloom *bf) {
    return HC_BLOOM_FIXED_HEADER + (uint64_t)HC_BLOOM_LINK_HEADER * bf->num_links + 8;
}

uint64_t hc_bloom_dump_size(const hc_bloom *bf) {
    return hc_bloom_header_size(bf) + hc_bloom_table_bytes(bf) + HC_BLOOM_TRAILER_SIZE;
}

static uint64_t double_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static double bits_double(uint64_t u) {
    double d;
    memcpy(&d, &u, 8);
    return d;
}

void hc_bloom_write_header(const hc_bloom *bf, uint8_t *out) {
    size_t n = (size_t)hc_bloom_header_size(bf);
    memset(out, 0, n);
    memcpy(out, BF_MAGIC, 4);
    out[4] = HC_BLOOM_VERSION;
    out[5] = (uint8_t)bf->flags;
    hc_store32le(out + 8, bf->expansion);
    hc_store32le(out + 12, bf->num_links);
    hc_store64le(out + 16, bf->items);
    uint8_t *p = out + HC_BLOOM_FIXED_HEADER;
    for (uint32_t i = 0; i < bf->num_links; i++, p += HC_BLOOM_LINK_HEADER) {
        const hc_bloom_link *l = &bf->links[i];
        hc_store64le(p, l->entries);
        hc_store64le(p + 8, l->items);
        hc_store64le(p + 16, double_bits(l->error));
        hc_store64le(p + 24, l->bytes);
        hc_store32le(p + 32, l->hashes);
    }
    hc_store64le(p, hc_hash64(out, n - 8));
}

void hc_bloom_dump(const hc_bloom *bf, uint8_t *out) {
    hc_bloom_write_header(bf, out);
    uint8_t *p = out + hc_bloom_header_size(bf);
    for (uint32_t i = 0; i < bf->num_links; i++) {
        memcpy(p, bf->links[i].data, (size_t)bf->links[i].bytes);
        p += bf->links[i].bytes;
    }
    hc_store64le(p, hc_hash64(out, (size_t)(p - out)));
}

/* Parse the header; links get their sizes but no data. */
static int parse_header(hc_bloom *bf, const uint8_t *buf, size_t len, size_t *hlen, const char **err) {
    memset(bf, 0, sizeof(*bf));
    if (len < HC_BLOOM_FIXED_HEADER + 8) return *err = "truncated bloom filter header", HC_INVALID;
    if (memcmp(buf, BF_MAGIC, 4) != 0) return *err = "not a bloom filter (bad magic)", HC_INVALID;
    if (buf[4] != HC_BLOOM_VERSION) return *err = "unsupported bloom filter format version", HC_INVALID;
    uint32_t flags = buf[5], expansion = hc_load32le(buf + 8), nlinks = hc_load32le(buf + 12);
    if (nlinks < 1 || nlinks > HC_BLOOM_MAX_LINKS) return *err = "bad bloom filter header: link count", HC_INVALID;
    size_t need = HC_BLOOM_FIXED_HEADER + (size_t)HC_BLOOM_LINK_HEADER * nlinks + 8;
    if (len < need) return *err = "truncated bloom filter header", HC_INVALID;
    if (hc_load64le(buf + need - 8) != hc_hash64(buf, need - 8))
        return *err = "bad bloom filter header: checksum mismatch", HC_INVALID;
    if (buf[6] || buf[7]) return *err = "bad bloom filter header: reserved bytes set", HC_INVALID;
    if (flags & ~HC_BLOOM_NONSCALING) return *err = "bad bloom filter header: flags", HC_INVALID;
    if ((flags & HC_BLOOM_NONSCALING) ? nlinks != 1 : (expansion < 1 || expansion > HC_BLOOM_MAX_EXPANSION))
        return *err = "bad bloom filter header: expansion", HC_INVALID;
    bf->flags = flags;
    bf->expansion = expansion;
    bf->items = hc_load64le(buf + 16);
    bf->links = calloc(nlinks, sizeof(hc_bloom_link));
    if (!bf->links) return *err = "out of memory", HC_NOMEM;
    bf->num_links = nlinks;
    bf->borrowed = 1; /* no data yet: nothing to free */
    uint64_t total_bytes = 0, total_items = 0;
    const uint8_t *p = buf + HC_BLOOM_FIXED_HEADER;
    for (uint32_t i = 0; i < nlinks; i++, p += HC_BLOOM_LINK_HEADER) {
        hc_bloom_link *l = &bf->links[i];
        l->entries = hc_load64le(p);
        l->items = hc_load64le(p + 8);
        l->error = bits_double(hc_load64le(p + 16));
        l->bytes = hc_load64le(p + 24);
        l->hashes = hc_load32le(p + 32);
        if (l->entries < 1 || l->items > l->entries || !(l->error > 0.0 && l->error < 1.0) || l->bytes == 0 ||
            l->bytes % 8 || l->bytes > HC_MAX_TABLE_BYTES || l->hashes < 1 || l->hashes > HC_BLOOM_MAX_HASHES ||
            hc_load32le(p + 36)) {
            hc_bloom_free(bf);
            return *err = "bad bloom filter header: link parameters", HC_INVALID;
        }
        l->bits = l->bytes * 8;
        total_bytes += l->bytes;
        total_items += l->items;
        if (total_bytes > HC_MAX_TABLE_BYTES) {
            hc_bloom_free(bf);
            return *err = "bad bloom filter header: filter too large", HC_INVALID;
        }
    }
    if (total_items != bf->items) {
        hc_bloom_free(bf);
        return *err = "bad bloom filter header: item counts disagree", HC_INVALID;
    }
    *hlen = need;
    return HC_OK;
}

int hc_bloom_from_header(hc_bloom *bf, const uint8_t *buf, size_t len, size_t *hlen, const char **err) {
    int rc = parse_header(bf, buf, len, hlen, err);
    if (rc != HC_OK) return rc;
    for (uint32_t i = 0; i < bf->num_links; i++) {
        bf->links[i].data = calloc(1, (size_t)bf->links[i].bytes);
        if (!bf->links[i].data) {
            bf->borrowed = 0;
            hc_bloom_free(bf);
            return *err = "out of memory", HC_NOMEM;
        }
    }
    bf->borrowed = 0;
    return HC_OK;
}

static int check_whole(const hc_bloom *bf, const uint8_t *buf, size_t len, size_t hlen, int verify,
                       const char **err) {
    if (hc_bloom_dump_size(bf) != len) return *err = "truncated or oversized bloom filter", HC_INVALID;
    (void)hlen;
    if (verify && hc_load64le(buf + len - 8) != hc_hash64(buf, len - 8))
        return *err = "corrupt bloom filter: checksum mismatch", HC_INVALID;
    return HC_OK;
}

int hc_bloom_load(hc_bloom *bf, const uint8_t *buf, size_t len, const char **err) {
    size_t hlen;
    int rc = parse_header(bf, buf, len, &hlen, err);
    if (rc != HC_OK) return rc;
    if ((rc = check_whole(bf, buf, len, hlen, 1, err)) != HC_OK) {
        hc_bloom_free(bf);
        return rc;
    }
    bf->borrowed = 0;
    const uint8_t *p = buf + hlen;
    for (uint32_t i = 0; i < bf->num_links; i++) {
        bf->links[i].data = malloc((size_t)bf->links[i].bytes);
        if (!bf->links[i].data) {
            hc_bloom_free(bf);
            return *err = "out of memory", HC_NOMEM;
        }
        memcpy(bf->links[i].data, p, (size_t)bf->links[i].bytes);
        p += bf->links[i].bytes;
    }
    return HC_OK;
}

int hc_bloom_view(hc_bloom *bf, const uint8_t *buf, size_t len, int verify, const char **err) {
    size_t hlen;
    int rc = parse_header(bf, buf, len, &hlen, err);
    if (rc != HC_OK) return rc;
    if ((rc = check_whole(bf, buf, len, hlen, verify, err)) != HC_OK) {
        hc_bloom_free(bf);
        return rc;
    }
    const uint8_t *p = buf + hlen;
    for (uint32_t i = 0; i < bf->num_links; i++) {
        bf->links[i].data = (uint8_t *)p; /* never written: a borrowed filter refuses adds */
        p += bf->links[i].bytes;
    }
    return HC_OK;
}

int hc_bloom_chunk(const hc_bloom *bf, uint64_t iter, size_t max_chunk, const uint8_t **out, size_t *outlen,
                   uint64_t *next) {
    if (iter < 1 || max_chunk == 0) return 0;
    uint64_t off = iter - 1;
    for (uint32_t i = 0; i < bf->num_links; i++) {
        const hc_bloom_link *l = &bf->links[i];
        if (off < l->bytes) {
            uint64_t n = l->bytes - off;
            if (n > max_chunk) n = max_chunk;
            *out = l->data + off;
            *outlen = (size_t)n;
            *next = iter + n;
            return 1;
        }
        off -= l->bytes;
    }
    return 0;
}

int hc_bloom_load_chunk(hc_bloom *bf, uint64_t iter, const uint8_t *data, size_t len, const char **err) {
    if (bf->borrowed) return *err = "filter is read-only", HC_INVALID;
    if (len == 0 || iter < (uint64_t)len + 1) return *err = "invalid chunk: bad iterator or length", HC_INVALID;
    uint64_t off = iter - 1 - len;
    for (uint32_t i = 0; i < bf->num_links; i++) {
        hc_bloom_link *l = &bf->links[i];
        if (off < l->bytes) {
            if (len > l->bytes - off) return *err = "invalid chunk: too big for the filter", HC_INVALID;
            memcpy(l->data + off, data, len);
            return HC_OK;
        }
        off -= l->bytes;
    }
    return *err = "invalid chunk: offset past the end of the filter", HC_INVALID;
}
