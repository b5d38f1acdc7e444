/* Snapshot file layout constants and helpers shared by snapshot.c and snapshot_store.c. */
#ifndef BALLOT_STORAGE_SNAPSHOT_INTERNAL_H
#define BALLOT_STORAGE_SNAPSHOT_INTERNAL_H

#include <stdint.h>

#include "storage/snapshot.h"

#define SNAPSHOT_MAGIC       "BALLOTSN"
#define SNAPSHOT_PREFIX      "snap-"
#define SNAPSHOT_SUFFIX      ".snap"
#define SNAPSHOT_TEMP_SUFFIX ".tmp"
#define SNAPSHOT_BLOCK_BYTES ((uint32_t)64u * 1024u)
#define SNAPSHOT_BLOCKS_MAX  (SNAPSHOT_BYTES_MAX / SNAPSHOT_BLOCK_BYTES + 1u)
#define SNAPSHOT_FILE_BYTES_MAX                                                                    \
    (SNAPSHOT_HEADER_BYTES + SNAPSHOT_BYTES_MAX + 4u * SNAPSHOT_BLOCKS_MAX)

uint64_t snapshot_block_count(uint64_t size);
/* One u32 crc32c per block of data into table (4 * snapshot_block_count(size) bytes). */
void snapshot_block_table(const uint8_t *data, uint64_t size, uint8_t *table);
void snapshot_encode_header(uint8_t *out, uint64_t slot, uint64_t size, uint32_t table_crc);

#endif
