/* The group committer: ballotd's storage thread.
 *
 * The event-loop thread submits the core's persist records (wal_committer_submit never
 * blocks on the disk: it encodes the records into a queue and signals the thread). The
 * storage thread takes everything queued, appends it to the WAL and issues ONE fdatasync
 * for all of it, then reports the highest durable seq through the `durable` callback. While
 * one fdatasync runs, new records pile up for the next, so the number of records per sync
 * grows with the load and throughput is not capped by the disk's sync rate. Once the queue
 * stays empty for WAL_COMMITTER_SEAL_DELAY_MS after a round, the thread records that round's
 * end as synced (one fdatasync), so damage to it is found as corruption on the next start.
 *
 * Callbacks run on the storage thread; keep them short (e.g. store the seq and wake the
 * event loop with uv_async_send, then call node_persisted() there).
 *
 * The WAL belongs to the committer between wal_committer_start and wal_committer_stop:
 * call no wal_* function on it meanwhile (use wal_committer_compact for compaction). */
#ifndef BALLOT_STORAGE_COMMITTER_H
#define BALLOT_STORAGE_COMMITTER_H

#include <stddef.h>
#include <stdint.h>

#include "core/node.h"
#include "storage/wal.h"

/* How long the storage thread waits before retrying a sync that found the disk full. */
#define WAL_COMMITTER_RETRY_MS 100u
/* How long the log must stay idle after a round before the storage thread records that
 * round's end as synced (one extra fdatasync after a burst; wal.h wal_record_synced_end). */
#define WAL_COMMITTER_SEAL_DELAY_MS 5u

typedef struct wal_committer wal_committer_t;

typedef struct wal_committer_callbacks {
    void *ctx;
    /* Every submitted record with seq <= durable_seq is durable. Called once per sync
     * round, with increasing values. */
    void (*durable)(void *ctx, uint64_t durable_seq);
    /* err = BALLOT_EIO: the WAL stopped (fatal; the node must stop; later submits fail).
     * err = BALLOT_ENOSPC: the disk is full; the records stay queued and the thread retries
     * every WAL_COMMITTER_RETRY_MS; called once when the condition starts. May be NULL. */
    void (*error)(void *ctx, int err, const char *message);
} wal_committer_callbacks_t;

/* Starts the storage thread on an open WAL. BALLOT_ENOMEM or BALLOT_EIO (thread creation
 * failed); nothing started then. */
int wal_committer_start(wal_committer_t **out, wal_t *wal,
                        const wal_committer_callbacks_t *callbacks);

/* Queues records (copied; the caller keeps ownership) for the next sync round, in order.
 * Seqs must increase across calls. Returns BALLOT_OK, BALLOT_EINVAL (a bad record; nothing
 * queued), BALLOT_EBUSY (the queue holds the WAL's buffer bound; nothing queued, retry
 * after the next durable callback), BALLOT_EIO (the WAL stopped) or BALLOT_ENOMEM. */
int wal_committer_submit(wal_committer_t *committer, const persist_record_t *records, size_t count);

/* Asks the storage thread to run wal_compact(slot) after the current round. A failure is
 * reported through the error callback. */
int wal_committer_compact(wal_committer_t *committer, uint64_t slot);

/* Writes and syncs everything queued (unless the WAL failed), stops and joins the thread.
 * The WAL is the caller's again (close it with wal_close). */
void wal_committer_stop(wal_committer_t *committer);

#endif
