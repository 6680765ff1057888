/* crc32c.h - CRC-32C (Castagnoli), the checksum of every log record, meta slot
 * and snapshot file. Chosen over zlib's CRC-32 because it detects more error
 * patterns at the lengths we write and needs no extra library.
 */
#ifndef RAFTKV_STORAGE_CRC32C_H
#define RAFTKV_STORAGE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend `crc` (0 to start) over len bytes; crc32c("123456789") == 0xE3069283. */
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t len);
/* The same, always with the tables (tests compare both paths). */
uint32_t crc32c_extend_table(uint32_t crc, const void *data, size_t len);

static inline uint32_t crc32c(const void *data, size_t len) { return crc32c_extend(0, data, len); }

#endif
