/* hc_crc16.h - Redis Cluster key slots: CRC16-XMODEM (poly 0x1021, init 0, no reflection,
 * the function binascii.crc_hqx(data, 0) computes) of the key or of its {hash tag}, mod 16384. */
#ifndef HC_CRC16_H
#define HC_CRC16_H

#include <stddef.h>
#include <stdint.h>

#define HC_SLOT_COUNT 16384

uint16_t hc_crc16(const uint8_t *data, size_t len);

/* The part of the key Redis hashes: the bytes between the first '{' and the first '}'
 * after it, when that is non-empty; else the whole key.  Sets *outlen, returns the start. */
const uint8_t *hc_hash_tag(const uint8_t *key, size_t len, size_t *outlen);

/* The cluster slot (0..16383) of a key. */
uint16_t hc_key_slot(const uint8_t *key, size_t len);

#endif
