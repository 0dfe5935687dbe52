/* hc_hash.h - the hashes every native structure is built on.
 *
 * hc_hash64() is XXH64 (seed 0 unless told otherwise), written out here so the extension
 * has no dependency.  Every filter derives all it needs from ONE 64-bit hash of the key:
 *   cuckoo filter: bucket index from the high 32 bits, fingerprint from the low 32 bits;
 *   bloom filter:  k probe positions by enhanced double hashing from (h, hc_mix64(h)).
 * The hash is part of the on-disk/over-the-wire format of the filters: it must never
 * change (a serialised filter is only meaningful with the same hash).
 *
 * Also: little-endian loads/stores that are independent of the host's byte order and
 * alignment (compilers turn them into single moves on x86-64 and arm64).
 */
#ifndef HC_HASH_H
#define HC_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t hc_load64le(const uint8_t *p) {
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) | ((uint64_t)p[3] << 24) |
           ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) | ((uint64_t)p[6] << 48) |
           ((uint64_t)p[7] << 56);
}

static inline uint32_t hc_load32le(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint16_t hc_load16le(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static inline void hc_store64le(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline void hc_store32le(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline void hc_store16le(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline uint64_t hc_rotl64(uint64_t x, unsigned r) { return (x << r) | (x >> (64 - r)); }

#define HC_XXP1 0x9E3779B185EBCA87ULL
#define HC_XXP2 0xC2B2AE3D27D4EB4FULL
#define HC_XXP3 0x165667B19E3779F9ULL
#define HC_XXP4 0x85EBCA77C2B2AE63ULL
#define HC_XXP5 0x27D4EB2F165667C5ULL

static inline uint64_t hc_xx_round(uint64_t acc, uint64_t input) {
    acc += input * HC_XXP2;
    acc = hc_rotl64(acc, 31);
    return acc * HC_XXP1;
}

static inline uint64_t hc_xx_merge(uint64_t acc, uint64_t val) {
    acc ^= hc_xx_round(0, val);
    return acc * HC_XXP1 + HC_XXP4;
}

/* XXH64 of len bytes at data. */
static inline uint64_t hc_hash64_seed(const void *data, size_t len, uint64_t seed) {
    const uint8_t *p = (const uint8_t *)data;
    const uint8_t *end = p + len;
    uint64_t h;
    if (len >= 32) {
        const uint8_t *limit = end - 32;
        uint64_t v1 = seed + HC_XXP1 + HC_XXP2, v2 = seed + HC_XXP2, v3 = seed, v4 = seed - HC_XXP1;
        do {
            v1 = hc_xx_round(v1, hc_load64le(p));
            v2 = hc_xx_round(v2, hc_load64le(p + 8));
            v3 = hc_xx_round(v3, hc_load64le(p + 16));
            v4 = hc_xx_round(v4, hc_load64le(p + 24));
            p += 32;
        } while (p <= limit);
        h = hc_rotl64(v1, 1) + hc_rotl64(v2, 7) + hc_rotl64(v3, 12) + hc_rotl64(v4, 18);
        h = hc_xx_merge(h, v1);
        h = hc_xx_merge(h, v2);
        h = hc_xx_merge(h, v3);
        h = hc_xx_merge(h, v4);
    } else {
        h = seed + HC_XXP5;
    }
    h += (uint64_t)len;
    while (end - p >= 8) {
        h ^= hc_xx_round(0, hc_load64le(p));
        h = hc_rotl64(h, 27) * HC_XXP1 + HC_XXP4;
        p += 8;
    }
    if (end - p >= 4) {
        h ^= (uint64_t)hc_load32le(p) * HC_XXP1;
        h = hc_rotl64(h, 23) * HC_XXP2 + HC_XXP3;
        p += 4;
    }
    while (p < end) {
        h ^= (uint64_t)(*p) * HC_XXP5;
        h = hc_rotl64(h, 11) * HC_XXP1;
        p++;
    }
    h ^= h >> 33;
    h *= HC_XXP2;
    h ^= h >> 29;
    h *= HC_XXP3;
    h ^= h >> 32;
    return h;
}

static inline uint64_t hc_hash64(const void *data, size_t len) { return hc_hash64_seed(data, len, 0); }

/* A bijective 64-bit finaliser (MurmurHash3's fmix64): a second, independent-looking
 * hash derived from the first. */
static inline uint64_t hc_mix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDULL;
    k ^= k >> 33;
    k *= 0xC4CEB9FE1A85EC53ULL;
    k ^= k >> 33;
    return k;
}

/* floor(x * n / 2^64): maps a uniform 64-bit x onto [0, n) without a division. */
static inline uint64_t hc_range64(uint64_t x, uint64_t n) {
    return (uint64_t)(((unsigned __int128)x * n) >> 64);
}

#endif
