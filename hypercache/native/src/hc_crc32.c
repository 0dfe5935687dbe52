/* hc_crc32.c - CRC-32 (ISO-HDLC, zlib's crc32).
 *
 * Two ways, one result:
 *   - carry-less multiplication (x86-64 PCLMULQDQ, when the CPU has it): 64 bytes a step
 *     folded into four 128-bit lanes, then folded to one and reduced (Barrett), after
 *     Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ" (2009), the
 *     method of the Linux kernel's and zlib-ng's CRC-32. A point read checks a whole
 *     16 KiB SSTable block: slicing by 8 took ~7 us of it, this ~1 us;
 *   - slicing by 8 (any CPU, and the head and tail of a buffer): eight bytes a step
 *     through eight tables built on first use (a byte at a time was ~8% of a SET's CPU).
 */
#include "hc_crc32.h"

static uint32_t crc_table[8][256];
static int crc_ready = 0;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HC_CRC_CLMUL 1
#include <immintrin.h>
static int have_clmul = 0;
#endif

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
#ifdef HC_CRC_CLMUL
    __builtin_cpu_init();
    have_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
    crc_ready = 1; /* callers hold the GIL (or are a single-threaded worker): no race on first use */
}

/* Slicing by 8 over n bytes, on the inverted register (no inversion here). */
static uint32_t crc_tables(uint32_t crc, const unsigned char *p, size_t n) {
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        crc = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^ crc_table[5][(lo >> 16) & 0xFF] ^
              crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
              crc_table[0][p[7]];
    }
    while (n--) crc = crc_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#ifdef HC_CRC_CLMUL
/* The folding constants of the bit-reflected polynomial 0x104C11DB7: x^(k) mod P for
 * the fold distances (512 and 576 bits: four lanes; 128 and 192: one lane; 64), and
 * P' with mu = floor(x^64 / P) for the Barrett reduction. */
#define K1 0x154442bd4ULL /* fold by 4 lanes, low  */
#define K2 0x1c6e41596ULL /* fold by 4 lanes, high */
#define K3 0x1751997d0ULL /* fold by 1 lane, low   */
#define K4 0x0ccaa009eULL /* fold by 1 lane, high  */
#define K5 0x163cd6124ULL /* 64 -> 32 bits          */
#define P_X 0x1db710641ULL
#define MU 0x1f7011641ULL

/* x folded over 128 bits forward with (low, high) constants k, xor'ed with `next`. */
__attribute__((target("pclmul,sse4.1"))) static inline __m128i fold(__m128i x, __m128i k, __m128i next) {
    __m128i lo = _mm_clmulepi64_si128(x, k, 0x00);
    __m128i hi = _mm_clmulepi64_si128(x, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

/* The inverted register carried over n bytes (n >= 64, a multiple of 16). */
__attribute__((target("pclmul,sse4.1"))) static uint32_t crc_clmul(uint32_t crc, const unsigned char *p, size_t n) {
    const __m128i k12 = _mm_set_epi64x((long long)K2, (long long)K1);
    const __m128i k34 = _mm_set_epi64x((long long)K4, (long long)K3);
    __m128i x0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)crc));
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    p += 64;
    n -= 64;
    for (; n >= 64; n -= 64, p += 64) {
        x0 = fold(x0, k12, _mm_loadu_si128((const __m128i *)p));
        x1 = fold(x1, k12, _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = fold(x2, k12, _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = fold(x3, k12, _mm_loadu_si128((const __m128i *)(p + 48)));
    }
    x0 = fold(fold(fold(x0, k34, x1), k34, x2), k34, x3);
    for (; n >= 16; n -= 16, p += 16) x0 = fold(x0, k34, _mm_loadu_si128((const __m128i *)p));
    /* 128 -> 64 bits: the low half times x^128-ish constant K4, plus the high half */
    const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);
    __m128i x = _mm_xor_si128(_mm_clmulepi64_si128(x0, k34, 0x10), _mm_srli_si128(x0, 8));
    /* 64 -> 32 bits */
    x = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x, mask32), _mm_set_epi64x(0, (long long)K5), 0x00),
                      _mm_srli_si128(x, 4));
    /* Barrett reduction to the 32-bit remainder */
    const __m128i pmu = _mm_set_epi64x((long long)MU, (long long)P_X);
    __m128i t = _mm_and_si128(_mm_clmulepi64_si128(_mm_and_si128(x, mask32), pmu, 0x10), mask32);
    t = _mm_clmulepi64_si128(t, pmu, 0x00);
    return (uint32_t)_mm_extract_epi32(_mm_xor_si128(x, t), 1);
}
#endif

uint32_t hc_crc32(uint32_t crc, const unsigned char *p, size_t n) {
    if (!crc_ready) crc_init();
    crc = ~crc;
#ifdef HC_CRC_CLMUL
    if (have_clmul && n >= 128) { /* below that the tables are as fast */
        size_t bulk = n & ~(size_t)15;
        crc = crc_clmul(crc, p, bulk);
        p += bulk;
        n -= bulk;
    }
#endif
    return ~crc_tables(crc, p, n);
}

uint32_t hc_crc32_tables(uint32_t crc, const unsigned char *p, size_t n) {
    if (!crc_ready) crc_init();
    return ~crc_tables(~crc, p, n);
}

int hc_crc32_accelerated(void) {
    if (!crc_ready) crc_init();
#ifdef HC_CRC_CLMUL
    return have_clmul;
#else
    return 0;
#endif
}
