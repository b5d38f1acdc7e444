/* The WAL's state, shared by wal.c (writing), wal_open.c (recovery) and committer.c. */
#ifndef BALLOT_STORAGE_WAL_INTERNAL_H
#define BALLOT_STORAGE_WAL_INTERNAL_H

#include "storage/record.h"
#include "storage/wal.h"

#define WAL_SEGMENT_PREFIX "wal-"
#define WAL_SEGMENT_SUFFIX ".log"
#define WAL_DISCARD_SUFFIX ".log.discarded"
#define WAL_SEGMENT_MAGIC  "BALLOTWL"
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
    int fd;              /* the last segment's handle */
    uint64_t file_bytes; /* the last segment's durable length */

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

/* Writes a segment header for first_lsn into out (WAL_SEGMENT_HEADER_BYTES). */
void wal_segment_header(uint8_t *out, uint64_t first_lsn);
/* Checks a segment header; true when it is intact and names first_lsn. */
bool wal_segment_header_valid(const uint8_t *bytes, uint64_t size, uint64_t first_lsn);

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
