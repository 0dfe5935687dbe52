/* hc_crc32.h - CRC-32 (ISO-HDLC, zlib's crc32) for the WAL's records, written by the
 * write lane (hc_lane_set.c) and read back by the flush (hc_wal.c). */
#ifndef HC_CRC32_H
#define HC_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* zlib.crc32(data, crc): continue `crc` (0 to start) over n bytes. */
uint32_t hc_crc32(uint32_t crc, const unsigned char *p, size_t n);

#endif
