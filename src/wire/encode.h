/* Private to src/wire: the layout constants shared by the encoders and the decoder. */
#ifndef BALLOT_WIRE_ENCODE_H
#define BALLOT_WIRE_ENCODE_H

#include "wire/wire.h"

#define WIRE_HEADER_CRC_OFFSET           12u
#define WIRE_MSG_COMMON_BYTES            9u  /* u8 type, u32 from, u32 to */
#define WIRE_VALUE_HEADER_BYTES          5u  /* u8 kind, u32 size */
#define WIRE_ENTRY_MIN_BYTES             25u /* u64 slot, ballot, empty value */
#define WIRE_HELLO_BYTES                 52u
#define WIRE_SNAPSHOT_REQUEST_BYTES      16u
#define WIRE_SNAPSHOT_CHUNK_HEADER_BYTES 28u

uint64_t wire_msg_payload_bytes(const msg_t *m);

/* offset + size within total, size within the chunk bound, bytes present when size > 0. */
static inline bool wire_snapshot_chunk_consistent(const wire_snapshot_chunk_t *c)
{
    if (c->size > WIRE_SNAPSHOT_CHUNK_BYTES_MAX || c->offset > c->total_bytes) {
        return false;
    }
    if (c->size > c->total_bytes - c->offset) {
        return false;
    }
    return c->size == 0 || c->bytes != NULL;
}

#endif
