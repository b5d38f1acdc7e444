/* The write-ahead log: the acceptor's durable memory (docs/design.md "Every state change that an
 * answer depends on is on disk before the answer leaves the node").
 *
 * A WAL is a directory of append-only segment files "wal-<first lsn, 20 digits>.log". Each
 * record is one persist_record_t (PROMISE, ACCEPT, LEARN, CHOSEN), length-prefixed and
 * checksummed with CRC-32C; docs/storage.md gives the byte layout. The lsn (log sequence
 * number) is the WAL's own count of records, 1, 2, 3, ... across restarts; the record's
 * `seq` is the core's persist seq, stored as written.
 *
 * Use (one thread at a time; see committer.h for the server's storage thread):
 *
 *   wal_open()    replays every record, in write order, through a callback (the driver
 *                 hands them to node_recover), repairing a torn tail past the synced end
 *                 (the end of the last sync that completed, recorded in each segment's
 *                 header block) and refusing anything missing or damaged before it;
 *   wal_append()  buffers a record (no I/O);
 *   wal_sync()    writes everything buffered and issues ONE fdatasync (group commit); when
 *                 it returns BALLOT_OK every appended record is durable and the driver may
 *                 call node_persisted(wal_durable_seq());
 *   wal_record_synced_end()  when the log goes idle, records the last sync's end;
 *   wal_compact() removes segments wholly covered by a snapshot.
 *
 * Errors:
 *   BALLOT_ECORRUPT  recovery found a bad record that is not a torn tail, bytes missing
 *                    before the synced end, a missing or damaged segment, or a format-1
 *                    log; the report names the file and byte offset. The
 *                    acceptor state cannot be trusted: the node must not start as an
 *                    acceptor unless the operator asks for a rejoin (wal_discard, then
 *                    wal_open on the empty dir and node_start(rejoin=true)).
 *   BALLOT_ESTATE    (wal_open without create_if_missing) there is no WAL in dir: the
 *                    acceptor state is missing, which a node that ran before must treat
 *                    like corruption (rejoin).
 *   BALLOT_EIO       the disk failed (a write or fdatasync error). The WAL is stopped: every
 *                    later call returns BALLOT_EIO. A failed fdatasync is never retried: the
 *                    page cache cannot be trusted after one, whatever errno it gave.
 *   BALLOT_ENOSPC    a write found the disk full. Nothing acknowledged is lost and the log
 *                    stays consistent: the unsynced tail is cut back to the last durable
 *                    byte and the records stay buffered, in order; a later wal_sync retries
 *                    them (and succeeds once space frees). wal_append keeps buffering up to
 *                    the buffer bound, then returns BALLOT_EBUSY. The driver should refuse
 *                    new client work while wal_sync reports BALLOT_ENOSPC.
 *   BALLOT_EBUSY     wal_append: the buffer bound would be exceeded; call wal_sync first.
 *
 * Every failing call leaves a message naming the file and offset in wal_error(). */
#ifndef BALLOT_STORAGE_WAL_H
#define BALLOT_STORAGE_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/node.h"
#include "storage/io.h"

/* The segment format (docs/storage.md): 2 added the synced-end copies. A directory written
 * by format 1 is refused with BALLOT_ECORRUPT and a message saying so (rejoin). */
#define WAL_FORMAT_VERSION 2u
/* The record frame's own version (unchanged since format 1). */
#define WAL_RECORD_VERSION 1u
/* Record framing: 16 header bytes, then a payload of 36 fixed bytes and the value. */
#define WAL_FRAME_HEADER_BYTES  16u
#define WAL_PAYLOAD_FIXED_BYTES 36u
#define WAL_RECORD_BYTES_MAX    (WAL_FRAME_HEADER_BYTES + WAL_PAYLOAD_FIXED_BYTES + BATCH_BYTES_MAX)
/* A segment starts with a header block: the 32-byte label in sector 0, then two copies of
 * the synced-end record, each alone in its own 512-byte sector; records follow it. */
#define WAL_SEGMENT_LABEL_BYTES  32u
#define WAL_SECTOR_BYTES         512u
#define WAL_SYNCED_END_BYTES     64u
#define WAL_SYNCED_END_COPIES    2u
#define WAL_SEGMENT_HEADER_BYTES (WAL_SECTOR_BYTES * (1u + WAL_SYNCED_END_COPIES))

/* A segment rolls over once it holds at least segment_bytes (a sync round is never split,
 * so a segment may exceed it by up to one round's buffer). */
#define WAL_SEGMENT_BYTES_DEFAULT ((uint64_t)64u * 1024u * 1024u)
#define WAL_SEGMENT_BYTES_MIN     ((uint64_t)4096u)
#define WAL_SEGMENT_BYTES_MAX     ((uint64_t)1024u * 1024u * 1024u)
/* Bytes appended but not yet written; at least one maximal record. */
#define WAL_BUFFER_BYTES_DEFAULT ((size_t)64u * 1024u * 1024u)
#define WAL_BUFFER_BYTES_MIN     ((size_t)WAL_RECORD_BYTES_MAX)
#define WAL_BUFFER_BYTES_MAX     ((size_t)1024u * 1024u * 1024u)
/* Segments a WAL directory may hold; more is refused as corruption (a bound on recovery). */
#define WAL_SEGMENTS_MAX 100000u

#define WAL_MESSAGE_BYTES 512u

typedef struct wal wal_t;

typedef struct wal_options {
    uint64_t segment_bytes;  /* WAL_SEGMENT_BYTES_MIN..MAX */
    size_t buffer_bytes_max; /* WAL_BUFFER_BYTES_MIN..MAX */
    bool create_if_missing;  /* false: an empty or missing dir is BALLOT_ESTATE */
} wal_options_t;

/* segment_bytes = DEFAULT, buffer_bytes_max = DEFAULT, create_if_missing = true. */
void wal_options_default(wal_options_t *options);

/* What wal_open found and did. On failure `message`, `file` and `offset` say where. */
typedef struct wal_report {
    bool created;        /* there was no WAL; an empty one was created */
    uint32_t segments;   /* segment files replayed */
    uint64_t records;    /* records handed to the callback */
    uint64_t first_lsn;  /* lsn of the oldest record kept (after compaction) */
    uint64_t next_lsn;   /* lsn the next appended record gets */
    uint64_t synced_end; /* last segment: every byte below it was made durable by a sync
                            that completed (found on disk, before any repair) */
    bool truncated;      /* a torn tail (past synced_end) was cut off */
    uint64_t truncated_bytes;
    char file[STORAGE_NAME_BYTES_MAX]; /* truncated or corrupt segment ("" if none) */
    uint64_t offset;                   /* where the torn or bad record starts */
    char message[WAL_MESSAGE_BYTES];   /* one line for the log, naming file and offset */
} wal_report_t;

/* Receives each durable record in write order. The record and its value bytes are
 * borrowed for the call only (copy what you keep). A nonzero return stops wal_open, which
 * then returns that value. Records the WAL writes itself (the promise carried into a new
 * segment, see wal_compact) come through as PERSIST_PROMISE with seq 0. */
typedef int (*wal_recover_fn)(void *ctx, const persist_record_t *record);

/* Opens (or creates) the WAL in dir, replaying it through recover (may be NULL). A torn
 * tail (a bad record past the synced end of the LAST segment, with no valid record after
 * it) is cut off and made durable, and reported; anything missing or damaged before the
 * synced end, and any other bad record, is BALLOT_ECORRUPT. On success the whole log is
 * fdatasync'ed and its end recorded as synced, and *out is a WAL ready to append; on
 * failure *out is NULL and report says why. */
int wal_open(const char *dir, const storage_io_t *io, const wal_options_t *options, wal_t **out,
             wal_recover_fn recover, void *ctx, wal_report_t *report);

/* Buffers a copy of the record (no I/O); every field is stored as given. BALLOT_EINVAL:
 * unknown kind, a malformed value (a no-op with bytes, a batch over BATCH_BYTES_MAX or
 * without bytes), or seq not above the previous append's (seq 0 is reserved).
 * BALLOT_EBUSY: buffer full. BALLOT_EIO: stopped. BALLOT_ENOMEM. */
int wal_append(wal_t *wal, const persist_record_t *record);

/* Writes every buffered record and issues one fdatasync. BALLOT_OK: all durable. See the
 * error list above for BALLOT_ENOSPC (retry later) and BALLOT_EIO (stopped). */
int wal_sync(wal_t *wal);

/* wal_sync records where each sync ended only in the NEXT round's write (one fdatasync per
 * round), so until then damage to the last round could not be told from a torn write. When
 * the log goes idle, call wal_record_synced_end: one more fdatasync that records the end of
 * everything synced so far (docs/storage.md, "Synced end"). BALLOT_OK (also when nothing is
 * behind), BALLOT_ENOSPC (retry later), BALLOT_EIO (stopped). */
int wal_record_synced_end(wal_t *wal);
/* True when the last sync's end is not recorded yet (wal_record_synced_end has work). */
bool wal_synced_end_behind(const wal_t *wal);

/* The seq of the last record known durable (0 before any). Every appended record with a
 * seq up to this is durable. */
uint64_t wal_durable_seq(const wal_t *wal);
/* Bytes appended and not yet durable. */
size_t wal_buffered_bytes(const wal_t *wal);
/* True once the WAL has stopped on a disk failure. */
bool wal_failed(const wal_t *wal);
/* The message of the last failure (or ""). */
const char *wal_error(const wal_t *wal);

/* A snapshot now covers every slot <= slot: removes the oldest segments whose ACCEPT,
 * LEARN and CHOSEN records all have slot <= slot, never the segment being written. The
 * promise survives: each segment starts with a PROMISE record carrying the highest ballot
 * promised or accepted in the segments before it, written and synced when the segment is
 * created. Call it with the slot of the OLDEST snapshot kept (snapshot_write tells you
 * which), so a fallback to that snapshot still finds the log above it. Returns BALLOT_OK
 * (also when nothing could be removed), or BALLOT_EIO when an unlink or the directory
 * fsync failed (the WAL stops: the directory may no longer match what it believes). */
int wal_compact(wal_t *wal, uint64_t slot);

/* For fault models (the simulator): the offset in a segment's bytes from which recovery
 * could not tell damage from a torn write (the synced end it would find; the file size
 * when the segment's header block is unreadable). */
uint64_t wal_segment_unprotected_from(const uint8_t *bytes, uint64_t size);

/* Closes the handles. It does not sync: buffered records are dropped (call wal_sync). */
void wal_close(wal_t *wal);

/* For a node that must rejoin (its acceptor state is corrupt or lost): renames every
 * "wal-*.log" in dir to "wal-*.log.discarded" (kept for the operator to inspect) and
 * fsyncs dir, so wal_open then creates a fresh WAL. msg (may be NULL) gets a reason on
 * failure. */
int wal_discard(const char *dir, const storage_io_t *io, char *msg, size_t msg_bytes);

#endif
