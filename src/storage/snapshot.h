/* Snapshots: the key-value state machine's bytes at a chosen slot, in a checksummed file
 * "snap-<slot, 20 digits>.snap" in the storage directory (docs/storage.md has the layout).
 *
 * snapshot_write is atomic: it writes "snap-<slot>.tmp", fdatasyncs it, renames it into
 * place and fsyncs the directory, so a crash leaves either the old set of snapshots or the
 * new one, never a half-written snapshot under a real name. It keeps the SNAPSHOT_KEEP
 * newest snapshots and removes older ones, so a corrupt newest snapshot can fall back to
 * the one before it.
 *
 * The functions may run on any thread (they touch only snap-* files; see io.h on backends
 * used from two threads). */
#ifndef BALLOT_STORAGE_SNAPSHOT_H
#define BALLOT_STORAGE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "storage/io.h"

#define SNAPSHOT_FORMAT_VERSION 1u
#define SNAPSHOT_HEADER_BYTES   40u
/* Largest state-machine image a snapshot holds (it is read into memory whole). */
#define SNAPSHOT_BYTES_MAX ((uint64_t)2u * 1024u * 1024u * 1024u)
/* Snapshots kept on disk (the newest and its fallbacks). */
#define SNAPSHOT_KEEP 2u
/* Snapshot files considered when reading (more are ignored, oldest first). */
#define SNAPSHOT_FILES_MAX     64u
#define SNAPSHOT_MESSAGE_BYTES 1024u

typedef struct snapshot {
    uint64_t slot;  /* the image covers every slot <= slot */
    uint8_t *bytes; /* heap; NULL when size is 0 */
    uint64_t size;
} snapshot_t;

typedef struct snapshot_report {
    bool found;       /* a valid snapshot was read */
    uint32_t skipped; /* newer snapshot files that failed verification */
    /* Each skipped file with the reason and the offset of the first bad byte range, or
     * the reason none was found. */
    char message[SNAPSHOT_MESSAGE_BYTES];
} snapshot_report_t;

/* Writes the image of every slot <= slot (slot >= 1) atomically, then removes all but the
 * SNAPSHOT_KEEP newest snapshots and any leftover temp files. *compact_slot (may be NULL)
 * gets the slot of the oldest snapshot kept: pass it to wal_compact. Returns BALLOT_OK,
 * BALLOT_EINVAL (slot 0, size over SNAPSHOT_BYTES_MAX, dir too long), BALLOT_ENOSPC (disk
 * full; the temp file is removed and the older snapshots are untouched) or BALLOT_EIO.
 * msg (may be NULL) gets the reason, naming the file. */
int snapshot_write(const char *dir, const storage_io_t *io, uint64_t slot, const void *bytes,
                   uint64_t size, uint64_t *compact_slot, char *msg, size_t msg_bytes);

/* Reads the newest snapshot that verifies. Files that fail (bad header or checksum, short,
 * name/slot mismatch) are skipped and listed in report->message, falling back to older
 * ones. Returns BALLOT_OK with report->found false when dir holds no snapshot, BALLOT_OK
 * with found true and *out filled (free it with snapshot_free), BALLOT_ECORRUPT when
 * snapshot files exist but none verifies, BALLOT_EIO on a read error, BALLOT_ENOMEM. */
int snapshot_read_latest(const char *dir, const storage_io_t *io, snapshot_t *out,
                         snapshot_report_t *report);

void snapshot_free(snapshot_t *snapshot);

/* Checks one snapshot image held in memory (the whole file's bytes), e.g. one received
 * from a leader. BALLOT_OK with *out's slot/size set and bytes pointing INTO file_bytes
 * (not to be freed), or BALLOT_ECORRUPT with the reason and offset in msg. */
int snapshot_parse(const uint8_t *file_bytes, uint64_t file_size, snapshot_t *out, char *msg,
                   size_t msg_bytes);

/* A snapshot file laid out in memory (backups stream one to a client; docs/operations.md
 * "Backup and restore"): snapshot_file_bytes(size) bytes, the image at offset
 * SNAPSHOT_HEADER_BYTES. snapshot_seal fills in the header and the block checksum table
 * around the image, making bytes snapshot_parse accepts. size <= SNAPSHOT_BYTES_MAX,
 * slot >= 1. */
uint64_t snapshot_file_bytes(uint64_t size);
void snapshot_seal(uint8_t *file, uint64_t slot, uint64_t size);

#endif
