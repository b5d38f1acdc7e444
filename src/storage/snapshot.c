/* Snapshots: one checksummed file per snapshot, written atomically (temp file, fdatasync,
 * rename, directory fsync), read back newest first with fallback past damaged ones.
 *
 * Layout (little-endian; docs/storage.md):
 *   0  "BALLOTSN"        16 u64 slot          32 u32 crc32c of the block table
 *   8  u32 version       24 u64 data bytes    36 u32 crc32c of bytes 0..36
 *   12 u32 block bytes
 *   40 data, then one u32 crc32c per block of data (the last block may be short), so a
 *   damaged snapshot is reported with the offset of the first bad block. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "base/crc32c.h"
#include "base/endian.h"
#include "storage/internal.h"
#include "storage/snapshot.h"
#include "storage/snapshot_internal.h"

uint64_t snapshot_block_count(uint64_t size)
{
    return (size + SNAPSHOT_BLOCK_BYTES - 1u) / SNAPSHOT_BLOCK_BYTES;
}

void snapshot_block_table(const uint8_t *data, uint64_t size, uint8_t *table)
{
    uint64_t blocks = snapshot_block_count(size);
    for (uint64_t i = 0; i < blocks; i++) {
        uint64_t start = i * SNAPSHOT_BLOCK_BYTES;
        uint64_t len = size - start < SNAPSHOT_BLOCK_BYTES ? size - start : SNAPSHOT_BLOCK_BYTES;
        put_u32(table + 4u * i, crc32c(data + start, (size_t)len));
    }
}

void snapshot_encode_header(uint8_t *out, uint64_t slot, uint64_t size, uint32_t table_crc)
{
    memcpy(out, SNAPSHOT_MAGIC, 8);
    put_u32(out + 8, SNAPSHOT_FORMAT_VERSION);
    put_u32(out + 12, SNAPSHOT_BLOCK_BYTES);
    put_u64(out + 16, slot);
    put_u64(out + 24, size);
    put_u32(out + 32, table_crc);
    put_u32(out + 36, crc32c(out, 36));
}

static int parse_header(const uint8_t *file, uint64_t file_size, uint64_t *slot, uint64_t *size,
                        char *msg, size_t msg_bytes)
{
    if (file_size < SNAPSHOT_HEADER_BYTES) {
        storage_message(msg, msg_bytes, "cut short at offset %llu inside the header",
                        (unsigned long long)file_size);
        return BALLOT_ECORRUPT;
    }
    if (memcmp(file, SNAPSHOT_MAGIC, 8) != 0 || crc32c(file, 36) != get_u32(file + 36)) {
        storage_message(msg, msg_bytes, "bad header at offset 0");
        return BALLOT_ECORRUPT;
    }
    if (get_u32(file + 8) != SNAPSHOT_FORMAT_VERSION ||
        get_u32(file + 12) != SNAPSHOT_BLOCK_BYTES) {
        storage_message(msg, msg_bytes, "unsupported format version %u at offset 8",
                        get_u32(file + 8));
        return BALLOT_ECORRUPT;
    }
    *slot = get_u64(file + 16);
    *size = get_u64(file + 24);
    if (*slot == 0 || *size > SNAPSHOT_BYTES_MAX) {
        storage_message(msg, msg_bytes, "header fields out of range at offset 16");
        return BALLOT_ECORRUPT;
    }
    uint64_t expected = SNAPSHOT_HEADER_BYTES + *size + 4u * snapshot_block_count(*size);
    if (file_size != expected) {
        storage_message(msg, msg_bytes, "file is %llu bytes, header implies %llu (cut at %llu)",
                        (unsigned long long)file_size, (unsigned long long)expected,
                        (unsigned long long)(file_size < expected ? file_size : expected));
        return BALLOT_ECORRUPT;
    }
    return BALLOT_OK;
}

int snapshot_parse(const uint8_t *file_bytes, uint64_t file_size, snapshot_t *out, char *msg,
                   size_t msg_bytes)
{
    uint64_t slot = 0;
    uint64_t size = 0;
    int rc = parse_header(file_bytes, file_size, &slot, &size, msg, msg_bytes);
    if (rc != BALLOT_OK) {
        return rc;
    }
    const uint8_t *data = file_bytes + SNAPSHOT_HEADER_BYTES;
    const uint8_t *table = data + size;
    uint64_t blocks = snapshot_block_count(size);
    if (crc32c(table, (size_t)(4u * blocks)) != get_u32(file_bytes + 32)) {
        storage_message(msg, msg_bytes, "block checksum table damaged at offset %llu",
                        (unsigned long long)(SNAPSHOT_HEADER_BYTES + size));
        return BALLOT_ECORRUPT;
    }
    for (uint64_t i = 0; i < blocks; i++) {
        uint64_t start = i * SNAPSHOT_BLOCK_BYTES;
        uint64_t len = size - start < SNAPSHOT_BLOCK_BYTES ? size - start : SNAPSHOT_BLOCK_BYTES;
        if (crc32c(data + start, (size_t)len) != get_u32(table + 4u * i)) {
            storage_message(msg, msg_bytes, "data checksum mismatch in bytes %llu..%llu",
                            (unsigned long long)(SNAPSHOT_HEADER_BYTES + start),
                            (unsigned long long)(SNAPSHOT_HEADER_BYTES + start + len));
            return BALLOT_ECORRUPT;
        }
    }
    out->slot = slot;
    out->size = size;
    out->bytes = size > 0 ? (uint8_t *)data : NULL;
    return BALLOT_OK;
}

uint64_t snapshot_file_bytes(uint64_t size)
{
    return SNAPSHOT_HEADER_BYTES + size + 4u * snapshot_block_count(size);
}

void snapshot_seal(uint8_t *file, uint64_t slot, uint64_t size)
{
    assert(slot >= 1 && size <= SNAPSHOT_BYTES_MAX);
    uint8_t *table = file + SNAPSHOT_HEADER_BYTES + size;
    snapshot_block_table(file + SNAPSHOT_HEADER_BYTES, size, table);
    snapshot_encode_header(file, slot, size,
                           crc32c(table, (size_t)(4u * snapshot_block_count(size))));
}

void snapshot_free(snapshot_t *snapshot)
{
    free(snapshot->bytes);
    snapshot->bytes = NULL;
    snapshot->size = 0;
}
