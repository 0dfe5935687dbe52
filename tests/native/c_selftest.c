/* c_selftest.c - the native core tested from C, without Python: built and run by
 * tests/native/test_c_core.py and, under AddressSanitizer + UBSan + LeakSanitizer, by
 * scripts/asan-native.  Prints "N passed, N failed" and exits non-zero on a failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_bloom.h"
#include "hc_crc16.h"
#include "hc_cuckoo.h"
#include "hc_hash.h"

static int passed, failed;

#define CHECK(cond)                                                                                                  \
    do {                                                                                                             \
        if (cond) passed++;                                                                                          \
        else {                                                                                                       \
            failed++;                                                                                                \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                                         \
        }                                                                                                            \
    } while (0)

static uint64_t key_hash(const char *prefix, uint64_t i) {
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%s%llu", prefix, (unsigned long long)i);
    return hc_hash64(buf, (size_t)n);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_hash(void) {
    CHECK(hc_hash64("", 0) == 0xEF46DB3751D8E999ULL);
    CHECK(hc_hash64("a", 1) == 0xD24EC4F1A98C6E5BULL);
    CHECK(hc_hash64("abc", 3) == 0x44BC2CF5AD770999ULL);
    const char *s = "Nobody inspects the spammish repetition";
    CHECK(hc_hash64(s, strlen(s)) == 0xFBCEA83C8A378BF1ULL);
}

static void test_crc16(void) {
    CHECK(hc_crc16((const uint8_t *)"123456789", 9) == 0x31C3);
    CHECK(hc_key_slot((const uint8_t *)"foo", 3) == 12182);
    CHECK(hc_key_slot((const uint8_t *)"{user1000}.following", 20) == hc_key_slot((const uint8_t *)"user1000", 8));
    CHECK(hc_key_slot((const uint8_t *)"foo{}{bar}", 10) == hc_key_slot((const uint8_t *)"foo{}{bar}", 10));
    CHECK(hc_key_slot((const uint8_t *)"", 0) == 0);
}

/* insert/lookup/delete through growth, for several shapes */
static void test_cuckoo_shape(unsigned b, unsigned iters, unsigned exp, unsigned f, unsigned growth) {
    hc_cf cf;
    const char *err = NULL;
    CHECK(hc_cf_init(&cf, 64, b, iters, exp, f, growth, &err) == HC_OK);
    uint64_t n = 3000, inserted = 0;
    for (uint64_t i = 0; i < n; i++) {
        int rc = hc_cf_insert(&cf, key_hash("k", i));
        if (rc != HC_OK) break;
        inserted++;
    }
    CHECK(exp == 0 ? inserted < n : inserted == n);
    int fn = 0;
    for (uint64_t i = 0; i < inserted; i++) fn += !hc_cf_contains(&cf, key_hash("k", i));
    CHECK(fn == 0);
    CHECK(cf.num_items == inserted);

    /* round trip, whole */
    uint64_t size = hc_cf_dump_size(&cf);
    uint8_t *buf = malloc(size);
    hc_cf_dump(&cf, buf);
    hc_cf copy;
    CHECK(hc_cf_load(&copy, buf, size, &err) == HC_OK);
    fn = 0;
    for (uint64_t i = 0; i < inserted; i++) fn += !hc_cf_contains(&copy, key_hash("k", i));
    CHECK(fn == 0);
    hc_cf_free(&copy);

    /* every truncation and many single-byte corruptions are refused, never a crash */
    for (uint64_t cut = 0; cut < size; cut += 1 + cut / 4) CHECK(hc_cf_load(&copy, buf, cut, &err) == HC_INVALID);
    for (int t = 0; t < 200; t++) {
        uint64_t pos = rng() % size;
        uint8_t old = buf[pos];
        buf[pos] ^= (uint8_t)(1 + rng() % 255);
        int rc = hc_cf_load(&copy, buf, size, &err);
        CHECK(rc == HC_INVALID);
        if (rc == HC_OK) hc_cf_free(&copy);
        buf[pos] = old;
    }

    /* round trip, chunked (small chunks) */
    uint8_t hdr[HC_CF_HEADER_SIZE];
    hc_cf_write_header(&cf, hdr);
    CHECK(hc_cf_from_header(&copy, hdr, sizeof hdr, &err) == HC_OK);
    const uint8_t *p;
    size_t len;
    uint64_t it = 1, next;
    while (hc_cf_chunk(&cf, it, 77, &p, &len, &next)) {
        CHECK(hc_cf_load_chunk(&copy, next, p, len, &err) == HC_OK);
        it = next;
    }
    CHECK(hc_cf_load_chunk(&copy, 1, p, 0, &err) == HC_INVALID);
    CHECK(hc_cf_load_chunk(&copy, it + 1000000, buf, 8, &err) == HC_INVALID);
    fn = 0;
    for (uint64_t i = 0; i < inserted; i++) fn += !hc_cf_contains(&copy, key_hash("k", i));
    CHECK(fn == 0);
    hc_cf_free(&copy);
    free(buf);

    /* delete everything: no false negatives for the rest along the way, empty at the end */
    for (uint64_t i = 0; i < inserted; i++) {
        CHECK(hc_cf_delete(&cf, key_hash("k", i)) == 1);
        if (i % 500 == 0) {
            fn = 0;
            for (uint64_t j = i + 1; j < inserted; j++) fn += !hc_cf_contains(&cf, key_hash("k", j));
            CHECK(fn == 0);
        }
    }
    CHECK(cf.num_items == 0);
    hc_cf_free(&cf);
}

static void test_cuckoo_headers(void) {
    hc_cf cf;
    const char *err = NULL;
    CHECK(hc_cf_init(&cf, 0, 4, 20, 1, 8, 0, &err) == HC_INVALID);
    CHECK(hc_cf_init(&cf, 100, 0, 20, 1, 8, 0, &err) == HC_INVALID);
    CHECK(hc_cf_init(&cf, 100, 256, 20, 1, 8, 0, &err) == HC_INVALID);
    CHECK(hc_cf_init(&cf, 100, 4, 0, 1, 8, 0, &err) == HC_INVALID);
    CHECK(hc_cf_init(&cf, 100, 4, 20, 1, 33, 0, &err) == HC_INVALID);
    /* random headers with a valid checksum: refused or a sane filter, never a crash */
    for (int t = 0; t < 2000; t++) {
        uint8_t h[HC_CF_HEADER_SIZE];
        for (int i = 0; i < HC_CF_HEADER_SIZE; i++) h[i] = (uint8_t)rng();
        memcpy(h, "HCCF\x01", 5);
        if (t % 2) memset(h + 14, 0, 2), memset(h + 20, 0, 4), h[7] = 0;
        if (t % 4 == 1) h[5] = (uint8_t)(1 + rng() % 16), h[6] = (uint8_t)(rng() % 3), h[9] = 0, h[13] = 0,
                        hc_store64le(h + 40, 1ULL << (rng() % 12)), hc_store32le(h + 16, 1 + (uint32_t)(rng() % 3)),
                        hc_store64le(h + 24, 0);
        hc_store64le(h + 48, hc_hash64(h, 48));
        if (hc_cf_from_header(&cf, h, sizeof h, &err) == HC_OK) {
            for (uint64_t i = 0; i < 200; i++) hc_cf_insert(&cf, key_hash("x", i));
            for (uint64_t i = 0; i < 200; i++) CHECK(hc_cf_contains(&cf, key_hash("x", i)) || cf.expansion == 0);
            hc_cf_free(&cf);
        }
    }
}

static void test_bloom(unsigned flags) {
    hc_bloom bf;
    const char *err = NULL;
    CHECK(hc_bloom_init(&bf, 100, 0.01, 2, flags, &err) == HC_OK);
    uint64_t n = 5000, added = 0;
    for (uint64_t i = 0; i < n; i++) {
        int rc = hc_bloom_add(&bf, key_hash("b", i));
        if (rc == HC_FULL) break;
        CHECK(rc == 0 || rc == 1);
        added++;
    }
    CHECK(flags ? added < n : added == n);
    int fn = 0;
    for (uint64_t i = 0; i < added; i++) fn += !hc_bloom_contains(&bf, key_hash("b", i));
    CHECK(fn == 0);

    uint64_t size = hc_bloom_dump_size(&bf);
    uint8_t *buf = malloc(size);
    hc_bloom_dump(&bf, buf);
    hc_bloom copy;
    CHECK(hc_bloom_load(&copy, buf, size, &err) == HC_OK);
    CHECK(copy.items == bf.items);
    hc_bloom_free(&copy);
    CHECK(hc_bloom_view(&copy, buf, size, 1, &err) == HC_OK);
    fn = 0;
    for (uint64_t i = 0; i < added; i++) fn += !hc_bloom_contains(&copy, key_hash("b", i));
    CHECK(fn == 0);
    CHECK(hc_bloom_add(&copy, key_hash("new", 1)) == HC_INVALID);
    hc_bloom_free(&copy);
    for (uint64_t cut = 0; cut < size; cut += 1 + cut / 4) {
        CHECK(hc_bloom_load(&copy, buf, cut, &err) == HC_INVALID);
        CHECK(hc_bloom_view(&copy, buf, cut, 0, &err) == HC_INVALID);
    }
    for (int t = 0; t < 200; t++) {
        uint64_t pos = rng() % size;
        uint8_t old = buf[pos];
        buf[pos] ^= (uint8_t)(1 + rng() % 255);
        int rc = hc_bloom_load(&copy, buf, size, &err);
        CHECK(rc == HC_INVALID);
        if (rc == HC_OK) hc_bloom_free(&copy);
        buf[pos] = old;
    }
    /* chunked */
    size_t hlen = 0;
    CHECK(hc_bloom_from_header(&copy, buf, (size_t)hc_bloom_header_size(&bf), &hlen, &err) == HC_OK);
    const uint8_t *p;
    size_t len;
    uint64_t it = 1, next;
    while (hc_bloom_chunk(&bf, it, 100, &p, &len, &next)) {
        CHECK(hc_bloom_load_chunk(&copy, next, p, len, &err) == HC_OK);
        it = next;
    }
    fn = 0;
    for (uint64_t i = 0; i < added; i++) fn += !hc_bloom_contains(&copy, key_hash("b", i));
    CHECK(fn == 0);
    hc_bloom_free(&copy);
    free(buf);
    double est = hc_bloom_estimate(&bf);
    CHECK(est > 0.8 * (double)added && est < 1.2 * (double)added);
    hc_bloom_free(&bf);

    CHECK(hc_bloom_init(&bf, 0, 0.01, 2, flags, &err) == HC_INVALID);
    CHECK(hc_bloom_init(&bf, 10, 0.0, 2, flags, &err) == HC_INVALID);
    CHECK(hc_bloom_init(&bf, 10, 1.0, 2, flags, &err) == HC_INVALID);
}

int main(void) {
    test_hash();
    test_crc16();
    test_cuckoo_shape(4, 500, 2, 10, 1);
    test_cuckoo_shape(2, 20, 1, 8, 0);
    test_cuckoo_shape(1, 20, 4, 8, 0);
    test_cuckoo_shape(4, 500, 0, 12, 0);
    test_cuckoo_shape(7, 50, 2, 5, 3);
    test_cuckoo_shape(255, 20, 1, 32, 0);
    test_cuckoo_headers();
    test_bloom(0);
    test_bloom(HC_BLOOM_NONSCALING);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
