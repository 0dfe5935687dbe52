/* bench_driver.c - the native filters timed from C (no Python): compiled and run by
 * bench/native_filters.py.  Usage: bench_driver N.  Prints one JSON object a line:
 * {"structure": ..., "op": ..., "ops_per_s": ...}.  Each timed loop hashes the key (as a
 * Python call does) and then inserts or looks up, over N distinct keys "key:<i>". */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hc_bloom.h"
#include "hc_cuckoo.h"
#include "hc_hash.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    char *buf;
    size_t *off;
    size_t *len;
    size_t n;
} keyset;

static void make_keys(keyset *ks, const char *prefix, size_t n) {
    ks->buf = malloc(n * 32);
    ks->off = malloc(n * sizeof(size_t));
    ks->len = malloc(n * sizeof(size_t));
    ks->n = n;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(ks->buf + pos, 32, "%s%zu", prefix, i);
        ks->off[i] = pos;
        ks->len[i] = (size_t)w;
        pos += (size_t)w;
    }
}

static void free_keys(keyset *ks) {
    free(ks->buf);
    free(ks->off);
    free(ks->len);
}

static void report(const char *structure, const char *op, size_t n, double secs, unsigned long long check) {
    printf("{\"structure\": \"%s\", \"op\": \"%s\", \"ops_per_s\": %.0f, \"check\": %llu}\n", structure, op,
           (double)n / secs, check);
}

static volatile unsigned long long sink;

static void bench_cuckoo(const char *name, const keyset *pos, const keyset *neg, unsigned b, unsigned iters,
                         unsigned exp, unsigned f, unsigned growth) {
    hc_cf cf;
    const char *err;
    if (hc_cf_init(&cf, pos->n, b, iters, exp, f, growth, &err) != HC_OK) {
        fprintf(stderr, "init: %s\n", err);
        exit(1);
    }
    double t = now();
    unsigned long long ok = 0;
    for (size_t i = 0; i < pos->n; i++) ok += hc_cf_insert(&cf, hc_hash64(pos->buf + pos->off[i], pos->len[i])) == HC_OK;
    report(name, "insert", pos->n, now() - t, ok);
    t = now();
    ok = 0;
    for (size_t i = 0; i < pos->n; i++) ok += (unsigned long long)hc_cf_contains(&cf, hc_hash64(pos->buf + pos->off[i], pos->len[i]));
    report(name, "lookup (present)", pos->n, now() - t, ok);
    t = now();
    ok = 0;
    for (size_t i = 0; i < neg->n; i++) ok += (unsigned long long)hc_cf_contains(&cf, hc_hash64(neg->buf + neg->off[i], neg->len[i]));
    report(name, "lookup (absent)", neg->n, now() - t, ok);
    sink = ok;
    hc_cf_free(&cf);
}

static void bench_bloom(const char *name, const keyset *pos, const keyset *neg, double error) {
    hc_bloom bf;
    const char *err;
    if (hc_bloom_init(&bf, pos->n, error, 2, HC_BLOOM_NONSCALING, &err) != HC_OK) {
        fprintf(stderr, "init: %s\n", err);
        exit(1);
    }
    double t = now();
    unsigned long long ok = 0;
    for (size_t i = 0; i < pos->n; i++) ok += hc_bloom_add(&bf, hc_hash64(pos->buf + pos->off[i], pos->len[i])) == 1;
    report(name, "insert", pos->n, now() - t, ok);
    t = now();
    ok = 0;
    for (size_t i = 0; i < pos->n; i++) ok += (unsigned long long)hc_bloom_contains(&bf, hc_hash64(pos->buf + pos->off[i], pos->len[i]));
    report(name, "lookup (present)", pos->n, now() - t, ok);
    t = now();
    ok = 0;
    for (size_t i = 0; i < neg->n; i++) ok += (unsigned long long)hc_bloom_contains(&bf, hc_hash64(neg->buf + neg->off[i], neg->len[i]));
    report(name, "lookup (absent)", neg->n, now() - t, ok);
    sink = ok;
    hc_bloom_free(&bf);
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 1000000;
    keyset pos, neg;
    make_keys(&pos, "key:", n);
    make_keys(&neg, "absent:", n);
    bench_cuckoo("cuckoo keyspace (b=4, f=10)", &pos, &neg, 4, 500, 2, 10, 1);
    bench_cuckoo("cuckoo RedisBloom defaults (b=2, f=8)", &pos, &neg, 2, 20, 1, 8, 0);
    bench_bloom("bloom (1% error)", &pos, &neg, 0.01);
    free_keys(&pos);
    free_keys(&neg);
    return 0;
}
