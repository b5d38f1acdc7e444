/* The WAL's state, shared by wal.c (writing), wal_open.c (recovery) and committer.c. */
#ifndef BALLOT_STORAGE_WAL_INTERNAL_H
#define BALLOT_STORAGE_WAL_INTERNAL_H

#include "storage/record.h"
#include "storage/wal.h"

#define WAL_SEGMENT_PREFIX   "wal-"
#define WAL_SEGMENT_SUFFIX   ".log"
#define WAL_DISCARD_SUFFIX   ".log.discarded"
#define WAL_SEGMENT_MAGIC    "BALLOTWL"
#define WAL_SYNCED_END_MAGIC "BALLOTSE"
/* A segment file larger than this is refused as corrupt (recovery reads one whole). */
#define WAL_SEGMENT_FILE_BYTES_MAX (WAL_SEGMENT_BYTES_MAX + WAL_BUFFER_BYTES_MAX)

typedef struct wal_segment {
    uint64_t first_lsn;
    uint64_t records;
    uint64_t max_slot; /* highest slot of its ACCEPT, LEARN and CHOSEN records */
} wal_segment_t;

struct wal {
    const storage_io_t *io;
    char dir[STORAGE_PATH_BYTES_MAX];
    wal_options_t options;

    wal_segment_t *segments; /* oldest first; the last one is being written */
    uint32_t segment_count;
    uint32_t segment_capacity;
    int fd;                /* the last segment's handle */
    uint64_t file_bytes;   /* the last segment's durable length */
    uint64_t end_seq;      /* the last segment's newest synced-end copy (0: none yet) */
    uint64_t end_recorded; /* the synced end that copy (durably) records */

    uint8_t *buffer; /* frames appended, not yet durable */
    size_t buffer_bytes;
    size_t buffer_capacity;
    record_summary_t buffered;

    uint64_t next_lsn;     /* lsn of the next record written */
    uint64_t appended_seq; /* seq of the last record appended (this session) */
    uint64_t durable_seq;
    ballot_t promise_max; /* highest PROMISE/ACCEPT ballot durable in the log */
    bool failed;
    char error[WAL_MESSAGE_BYTES];
};

/* One copy of a segment's synced-end record (docs/storage.md "Synced end"): every byte of
 * the segment below synced_end was made durable by a sync that completed; round_end is where
 * the sync that wrote this copy ends (durable too once anything lies beyond it, since a sync
 * starts only after the previous one completed). The copy with the higher seq is newer. */
typedef struct wal_synced_end {
    uint64_t seq;
    uint64_t synced_end;
    uint64_t round_end;
} wal_synced_end_t;

/* Writes a segment's header block for first_lsn into out (WAL_SEGMENT_HEADER_BYTES): the
 * label, and synced-end copy seq 1 saying nothing past the block is synced yet, ending at
 * round_end (the header block plus what the creating write puts after it). */
void wal_segment_header(uint8_t *out, uint64_t first_lsn, uint64_t round_end);
/* Checks a segment's label (its first WAL_SEGMENT_LABEL_BYTES); true when it is intact,
 * of this format and names first_lsn. */
bool wal_segment_header_valid(const uint8_t *bytes, uint64_t size, uint64_t first_lsn);
/* True when the label is intact and names first_lsn but is of format 1. */
bool wal_segment_header_v1(const uint8_t *bytes, uint64_t size, uint64_t first_lsn);
/* Encodes a synced-end copy (WAL_SYNCED_END_BYTES) for segment first_lsn. */
void wal_synced_end_encode(uint8_t *out, uint64_t first_lsn, const wal_synced_end_t *end);
/* Decodes the copy at bytes (WAL_SYNCED_END_BYTES); false when damaged or not for first_lsn
 * or out of order (synced_end < header block or > round_end). */
bool wal_synced_end_decode(const uint8_t *bytes, uint64_t first_lsn, wal_synced_end_t *out);
/* Offset of the copy with sequence number seq (they alternate). */
uint64_t wal_synced_end_offset(uint64_t seq);
/* The newest valid copy of a segment's header block; false when neither is valid. */
bool wal_synced_end_newest(const uint8_t *bytes, uint64_t size, uint64_t first_lsn,
                           wal_synced_end_t *out);
/* Writes copy wal->end_seq + 1 of the last segment saying synced_end and round_end (no
 * sync; the caller's next fdatasync carries it). Returns an errno. */
int wal_synced_end_write(wal_t *wal, uint64_t synced_end, uint64_t round_end);
/* Makes the last segment durable up to wal->file_bytes and records that end as synced: two
 * fdatasyncs (the data first, so the record never claims bytes still in flight). Returns an
 * errno. */
int wal_seal(wal_t *wal);

/* Adds a segment entry (the array grows within WAL_SEGMENTS_MAX). */
int wal_segments_push(wal_t *wal, uint64_t first_lsn);
/* Creates segment first_lsn holding its header and, when the log has one, the carried
 * promise; syncs it and the directory. On success *fd_out is its handle. */
int wal_segment_create(wal_t *wal, uint64_t first_lsn, int *fd_out, uint64_t *bytes_out,
                       bool *carried);

/* Appends already-encoded frames (committer.c). summary describes them. */
int wal_append_frames(wal_t *wal, const uint8_t *frames, size_t size,
                      const record_summary_t *summary);

/* Stops the WAL for good with a message. Returns BALLOT_EIO. */
int wal_fail(wal_t *wal, const char *format, ...) __attribute__((format(printf, 2, 3)));

#endif
