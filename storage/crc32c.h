/* crc32c.h: CRC-32C (Castagnoli), the checksum of Kafka's RecordBatch v2.
 * Reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF:
 * crc32c("123456789", 9) == 0xE3069283. */
#ifndef STORAGE_CRC32C_H
#define STORAGE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of 'len' bytes at 'data'. Uses the SSE4.2 instruction where the CPU has it
 * (decided once, at the first call), a table otherwise. */
uint32_t crc32c(const void *data, size_t len);
/* Continues a CRC: crc32c_extend(crc32c(a), b) == crc32c(a followed by b). */
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t len);

/* Each implementation on its own, so tests can check that they agree. */
uint32_t crc32c_extend_sw(uint32_t crc, const void *data, size_t len);
/* Returns 0 and leaves *out alone when the CPU lacks SSE4.2. */
int crc32c_extend_hw(uint32_t crc, const void *data, size_t len, uint32_t *out);
/* True when the hardware implementation is in use. */
int crc32c_have_hw(void);

#endif
