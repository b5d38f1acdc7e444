/* CRC-32C (Castagnoli), the checksum of WAL records, snapshots and wire frames. */
#ifndef BALLOT_BASE_CRC32C_H
#define BALLOT_BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (start with 0) over size bytes. */
uint32_t crc32c_extend(uint32_t crc, const void *bytes, size_t size);
uint32_t crc32c(const void *bytes, size_t size);

#endif
