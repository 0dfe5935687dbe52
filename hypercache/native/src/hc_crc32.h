/* hc_crc32.h - CRC-32 (ISO-HDLC, zlib's crc32) and little-endian fields for the WAL's records, written by the
 * write lane (hc_lane_set.c) and read back by the flush (hc_wal.c). */
#ifndef HC_CRC32_H
#define HC_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* zlib.crc32(data, crc): continue `crc` (0 to start) over n bytes. */
uint32_t hc_crc32(uint32_t crc, const unsigned char *p, size_t n);

/* The same by the tables alone (what a CPU without carry-less multiply runs), and
 * whether hc_crc32 multiplies: for the tests that hold the two to zlib's result. */
uint32_t hc_crc32_tables(uint32_t crc, const unsigned char *p, size_t n);
int hc_crc32_accelerated(void);

/* The records' little-endian integers: write / read `bytes` bytes of v at p. */
static inline void hc_put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t hc_get_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

#endif
