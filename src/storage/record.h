/* WAL record framing (internal to src/storage; docs/storage.md has the layout).
 *
 *   frame header (16 bytes)          payload (36 bytes + value)
 *   u32 payload_bytes                u64 seq
 *   u8  version (WAL_RECORD_VERSION) u64 slot
 *   u8  kind (persist_kind_t)        u64 ballot.round
 *   u16 reserved, 0                  u32 ballot.node
 *   u32 header_crc = crc32c(0..8)    u8 value kind, 3 bytes 0
 *   u32 payload_crc = crc32c(payload) u32 value size, then the value's bytes
 *
 * The header has its own checksum so a damaged length is never trusted: a bad length
 * could otherwise make a record in the middle of the log look like a torn tail. */
#ifndef BALLOT_STORAGE_RECORD_H
#define BALLOT_STORAGE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/node.h"

typedef enum record_status {
    RECORD_OK = 0,
    RECORD_SHORT = 1,       /* the bytes end inside the header or payload */
    RECORD_BAD_HEADER = 2,  /* header checksum mismatch */
    RECORD_BAD_PAYLOAD = 3, /* payload checksum mismatch */
    RECORD_BAD_VERSION = 4, /* checksums fine, unknown format version */
    RECORD_BAD_CONTENT = 5, /* checksums fine, fields out of range */
} record_status_t;

/* What a batch of frames changes in a segment's bookkeeping. */
typedef struct record_summary {
    uint64_t records;
    uint64_t last_seq;    /* seq of the last record (0 if none) */
    uint64_t max_slot;    /* over ACCEPT, LEARN, CHOSEN */
    ballot_t promise_max; /* over PROMISE and ACCEPT ballots */
} record_summary_t;

/* Checks the fields wal_append accepts. */
bool record_valid(const persist_record_t *record);
/* Encoded size of a valid record. */
size_t record_frame_bytes(const persist_record_t *record);
/* Writes the frame into out (record_frame_bytes of room). */
void record_encode(const persist_record_t *record, uint8_t *out);
/* Parses the frame at bytes (avail bytes available). RECORD_OK fills *record, with the
 * value's bytes pointing into `bytes`, and *frame_bytes. */
record_status_t record_decode(const uint8_t *bytes, size_t avail, persist_record_t *record,
                              size_t *frame_bytes);
const char *record_status_text(record_status_t status);

/* True when some offset in [from, size) starts a frame that decodes RECORD_OK. */
bool record_scan_valid(const uint8_t *bytes, size_t size, size_t from);

void record_summary_add(record_summary_t *summary, const persist_record_t *record);
void record_summary_merge(record_summary_t *into, const record_summary_t *from);

#endif
