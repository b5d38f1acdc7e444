/* A simulated node's durable storage: the real write-ahead log (src/storage) on a
 * simulated medium (simio.h). The driver appends the core's persist records, and when the
 * simulated sync latency has passed, syncs them with one wal_sync (group commit) and
 * reports them durable to the core (node_persisted) and to the observer.
 *
 * Faults:
 *   crash       the WAL's buffer is lost with the process; what reached the medium but was
 *               not synced may survive in part. A crash while a sync is under way (the
 *               records written, the fdatasync not finished) is how a torn tail happens.
 *   fsync       the medium's fdatasync fails: the WAL stops and so must the node.
 *   bit flip    one bit of a synced WAL segment inverts (by default not past the newest
 *               segment's synced end, where the WAL cannot tell a flipped bit from a torn
 *               write).
 * On restart the WAL's own recovery replays the records (node_recover), cutting a torn
 * tail; if it reports corruption the node discards the WAL (wal_discard) and rejoins.
 *
 * needs_rejoin is a durable marker beside the log (think: a file written before the WAL
 * is discarded and removed once the rejoin's state is synced): a node that crashes
 * mid-rejoin must rejoin again rather than trust a half-rebuilt log. */
#ifndef BALLOT_SIM_DISK_H
#define BALLOT_SIM_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/node.h"
#include "sim/prng.h"
#include "sim/simio.h"
#include "storage/wal.h"

#define DISK_DIR_BYTES        16u
#define DISK_PENDING_MAX      (1u << 20) /* records appended and not yet synced */
#define DISK_SEGMENT_BYTES    ((uint64_t)256u * 1024u)
#define DISK_BUFFER_BYTES_MAX ((size_t)WAL_BUFFER_BYTES_MIN)

typedef struct sim_disk {
    simio_t medium; /* survives crashes */
    wal_t *wal;     /* open while the node runs */
    char dir[DISK_DIR_BYTES];
    persist_record_t *pending; /* copies of records appended since the last sync */
    size_t pending_count;
    size_t pending_capacity;
    bool sync_in_flight;
    uint64_t sync_id;
    bool needs_rejoin;
    uint64_t synced_at_ms; /* when the last sync completed */
} sim_disk_t;

typedef enum disk_open_result {
    DISK_OPEN_OK = 0,
    DISK_OPEN_TORN = 1,    /* ok after the WAL cut a torn tail */
    DISK_OPEN_CORRUPT = 2, /* corruption found: the WAL was discarded, rejoin */
    DISK_OPEN_REJOIN = 3,  /* an earlier rejoin did not finish: discarded, rejoin */
} disk_open_result_t;

/* Called per recovered record, in order (borrowed for the call). */
typedef int (*disk_recover_fn)(void *ctx, const persist_record_t *record);
/* Called per record that became durable, in order. */
typedef void (*disk_durable_fn)(void *ctx, const persist_record_t *record);

void disk_init(sim_disk_t *d, uint32_t id);
void disk_destroy(sim_disk_t *d);
/* Opens the WAL, replaying it through fn. On corruption (or needs_rejoin) the WAL is
 * discarded and an empty one opened; records fn saw by then must be forgotten (the caller
 * starts a fresh core). BALLOT_OK with *result, or an error with a message. */
int disk_open(sim_disk_t *d, disk_recover_fn fn, void *ctx, disk_open_result_t *result, char *msg,
              size_t msg_bytes);
int disk_append(sim_disk_t *d, const persist_record_t *record);
/* True when records wait and no sync is under way; marks one under way. */
bool disk_sync_start(sim_disk_t *d);
/* The sync under way completes: wal_sync, then fn on each record now durable.
 * BALLOT_OK with *durable_seq, or BALLOT_EIO when the fdatasync failed (node must stop). */
int disk_sync(sim_disk_t *d, bool fail, disk_durable_fn fn, void *ctx, uint64_t *durable_seq);
/* The process dies. With probability torn_p a sync under way was interrupted after its
 * writes: part of them may survive. */
simio_crash_result_t disk_crash(sim_disk_t *d, prng_t *rng, double torn_p, bool allow_garbage);
/* Flips one bit of a synced WAL segment; unless `anywhere`, never past the newest segment's
 * synced end (wal_segment_unprotected_from). False when there is nothing to flip. */
bool disk_bitflip(sim_disk_t *d, prng_t *rng, bool anywhere, char *file, size_t file_bytes,
                  uint64_t *offset);
/* Records the last sync's end as synced (wal_record_synced_end), when idle. */
int disk_record_synced_end(sim_disk_t *d);
/* Nothing appended is waiting for a sync. */
bool disk_idle(const sim_disk_t *d);

#endif
