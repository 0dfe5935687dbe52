/* hc_digits.h - decimal integers written without printf: the lane writes one per GET
 * reply ("$<len>\r\n") and two per INCR, where vfprintf's format parsing cost more than
 * the rest of the reply. */
#ifndef HC_DIGITS_H
#define HC_DIGITS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Write v's decimal digits at dst (at most 20 bytes, no terminator); their count. */
static inline size_t hc_write_u64(char *dst, uint64_t v) {
    char tmp[20];
    size_t n = 0;
    do {
        tmp[sizeof tmp - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(dst, tmp + sizeof tmp - n, n);
    return n;
}

/* Write v in decimal, a '-' first if negative (at most 20 bytes); their count. */
static inline size_t hc_write_i64(char *dst, int64_t v) {
    if (v >= 0) return hc_write_u64(dst, (uint64_t)v);
    *dst = '-';
    return 1 + hc_write_u64(dst + 1, 0 - (uint64_t)v); /* 0 - u: INT64_MIN too */
}

/* Write <prefix><v>\r\n (e.g. "$12\r\n", ":-3\r\n"); the bytes written (at most 23). */
static inline size_t hc_write_resp_int(char *dst, char prefix, int64_t v) {
    dst[0] = prefix;
    size_t n = 1 + hc_write_i64(dst + 1, v);
    dst[n] = '\r';
    dst[n + 1] = '\n';
    return n + 2;
}

#endif
