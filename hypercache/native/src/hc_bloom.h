/* hc_bloom.h - a bloom filter, and RedisBloom's scalable chain of them (BF.*).
 *
 * One link is sized as RedisBloom sizes it: bits-per-entry bpe = -ln(error) / ln(2)^2,
 * bits = capacity * bpe rounded up to whole 64-bit words, k = ceil(ln(2) * bpe) probes.
 * The k probe positions come from ONE 64-bit hash h of the item by enhanced double
 * hashing: x = h, y = mix64(h); probe i is bit floor(x * bits / 2^64), then x += y, y += i.
 * Bits are numbered least significant first within each byte.
 *
 * A chain (BF.RESERVE ... EXPANSION e) adds a link of capacity * e and half the error
 * when the newest link holds `capacity` items; its first link is built with half the
 * requested error, as RedisBloom does.  A NONSCALING filter is one link at the requested
 * error and refuses items past its capacity.  An SSTable filter block is a NONSCALING
 * filter built from the table's keys, read back in place from the file's bytes
 * (hc_bloom_view: no copy, never written).
 */
#ifndef HC_BLOOM_H
#define HC_BLOOM_H

#include <stddef.h>
#include <stdint.h>

#include "hc_status.h"

#define HC_BLOOM_NONSCALING 1u
#define HC_BLOOM_MAX_LINKS 65535
#define HC_BLOOM_MAX_HASHES 1024
#define HC_BLOOM_MAX_EXPANSION 32768
#define HC_BLOOM_VERSION 1
#define HC_BLOOM_FIXED_HEADER 24
#define HC_BLOOM_LINK_HEADER 40
#define HC_BLOOM_TRAILER_SIZE 8

typedef struct {
    uint64_t entries; /* capacity of the link */
    uint64_t items;   /* items added to it */
    double error;
    uint64_t bits; /* bytes * 8 */
    uint64_t bytes;
    uint32_t hashes;
    uint8_t *data;
} hc_bloom_link;

typedef struct {
    uint64_t items; /* items added (BF.CARD) */
    uint32_t expansion;
    uint32_t flags;
    uint32_t num_links;
    int borrowed; /* links' data point into a caller's buffer: read-only, not freed */
    hc_bloom_link *links;
} hc_bloom;

int hc_bloom_init(hc_bloom *bf, uint64_t capacity, double error, unsigned expansion, unsigned flags,
                  const char **err);
void hc_bloom_free(hc_bloom *bf);

/* 1 added, 0 (maybe) present already, HC_FULL, HC_NOMEM, HC_INVALID (a read-only view) */
int hc_bloom_add(hc_bloom *bf, uint64_t h);
int hc_bloom_contains(const hc_bloom *bf, uint64_t h);
/* Swamidass & Baldi's estimate of the distinct items from the bits set, summed over links. */
double hc_bloom_estimate(const hc_bloom *bf);
uint64_t hc_bloom_capacity(const hc_bloom *bf);
uint64_t hc_bloom_table_bytes(const hc_bloom *bf);

/* Serialisation (../formats.md): header | tables | checksum, the header listing every
 * link.  Chunked dumps as hc_cuckoo.h describes (a chunk never spans two links). */
uint64_t hc_bloom_header_size(const hc_bloom *bf);
uint64_t hc_bloom_dump_size(const hc_bloom *bf);
void hc_bloom_write_header(const hc_bloom *bf, uint8_t *out);
void hc_bloom_dump(const hc_bloom *bf, uint8_t *out);
/* Parse and validate a header at the start of buf (len bytes available); sets *hlen. */
int hc_bloom_from_header(hc_bloom *bf, const uint8_t *buf, size_t len, size_t *hlen, const char **err);
int hc_bloom_load(hc_bloom *bf, const uint8_t *buf, size_t len, const char **err);
/* As hc_bloom_load, but the links read buf in place (buf must outlive bf); verify = 0 skips
 * the checksum (the sizes are always checked). */
int hc_bloom_view(hc_bloom *bf, const uint8_t *buf, size_t len, int verify, const char **err);
int hc_bloom_chunk(const hc_bloom *bf, uint64_t iter, size_t max_chunk, const uint8_t **out,
                   size_t *outlen, uint64_t *next);
int hc_bloom_load_chunk(hc_bloom *bf, uint64_t iter, const uint8_t *data, size_t len, const char **err);

#endif
