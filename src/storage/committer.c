/* The storage thread: group commit for ballotd (committer.h).
 *
 * The event-loop thread encodes records into `queue` under the lock; the storage thread
 * swaps the queue with its spare buffer, appends the frames to the WAL and syncs once. The
 * queue never holds more than the WAL's buffer bound, so one round always fits the WAL. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/check.h"
#include "storage/committer.h"
#include "storage/wal_internal.h"

#define QUEUE_INITIAL_BYTES ((size_t)64u * 1024u)

typedef struct frame_buffer {
    uint8_t *bytes;
    size_t size;
    size_t capacity;
    record_summary_t summary;
} frame_buffer_t;

struct wal_committer {
    wal_t *wal;
    wal_committer_callbacks_t callbacks;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    /* Guarded by lock. */
    frame_buffer_t queue;
    uint64_t submitted_seq;
    bool stopping;
    bool failed;
    bool compact_pending;
    uint64_t compact_slot;
    /* Storage thread only. */
    frame_buffer_t spare;
};

static int buffer_reserve(frame_buffer_t *buffer, size_t more, size_t bound)
{
    if (more > bound - buffer->size) {
        return BALLOT_EBUSY;
    }
    size_t need = buffer->size + more;
    if (need <= buffer->capacity) {
        return BALLOT_OK;
    }
    size_t capacity = buffer->capacity == 0 ? QUEUE_INITIAL_BYTES : buffer->capacity;
    while (capacity < need) {
        capacity *= 2u;
    }
    capacity = capacity > bound ? bound : capacity;
    uint8_t *grown = realloc(buffer->bytes, capacity);
    if (grown == NULL) {
        return BALLOT_ENOMEM;
    }
    buffer->bytes = grown;
    buffer->capacity = capacity;
    return BALLOT_OK;
}

/* Checks a whole submission before queuing any of it, so a refusal changes nothing. */
static int submission_check(const wal_committer_t *c, const persist_record_t *records, size_t count,
                            size_t *bytes)
{
    uint64_t seq = c->submitted_seq;
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (!record_valid(&records[i]) || records[i].seq == 0 || records[i].seq <= seq) {
            return BALLOT_EINVAL;
        }
        seq = records[i].seq;
        size_t frame_bytes = record_frame_bytes(&records[i]);
        if (frame_bytes > c->wal->options.buffer_bytes_max - total) {
            return BALLOT_EBUSY;
        }
        total += frame_bytes;
    }
    *bytes = total;
    return BALLOT_OK;
}

int wal_committer_submit(wal_committer_t *c, const persist_record_t *records, size_t count)
{
    pthread_mutex_lock(&c->lock);
    size_t bytes = 0;
    int rc = c->failed ? BALLOT_EIO : submission_check(c, records, count, &bytes);
    if (rc == BALLOT_OK) {
        rc = buffer_reserve(&c->queue, bytes, c->wal->options.buffer_bytes_max);
    }
    if (rc == BALLOT_OK && count > 0) {
        for (size_t i = 0; i < count; i++) {
            record_encode(&records[i], c->queue.bytes + c->queue.size);
            c->queue.size += record_frame_bytes(&records[i]);
            record_summary_add(&c->queue.summary, &records[i]);
        }
        c->submitted_seq = records[count - 1].seq;
        pthread_cond_signal(&c->wake);
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int wal_committer_compact(wal_committer_t *c, uint64_t slot)
{
    pthread_mutex_lock(&c->lock);
    int rc = c->failed ? BALLOT_EIO : BALLOT_OK;
    if (rc == BALLOT_OK) {
        c->compact_pending = true;
        c->compact_slot = slot > c->compact_slot ? slot : c->compact_slot;
        pthread_cond_signal(&c->wake);
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static void report_error(wal_committer_t *c, int err)
{
    if (c->callbacks.error != NULL) {
        c->callbacks.error(c->callbacks.ctx, err, wal_error(c->wal));
    }
}

static void sleep_ms(uint32_t ms)
{
    struct timespec delay = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&delay, &delay) != 0 && errno == EINTR) {
    }
}

/* Syncs the WAL, retrying a full disk until it clears or the committer stops. */
static int sync_round(wal_committer_t *c)
{
    bool reported = false;
    for (;;) {
        int rc = wal_sync(c->wal);
        if (rc != BALLOT_ENOSPC) {
            return rc;
        }
        if (!reported) {
            report_error(c, rc);
            reported = true;
        }
        pthread_mutex_lock(&c->lock);
        bool stopping = c->stopping;
        pthread_mutex_unlock(&c->lock);
        if (stopping) {
            return rc;
        }
        sleep_ms(WAL_COMMITTER_RETRY_MS);
    }
}

/* One round outside the lock: append what was taken, sync once, report, compact. */
static int run_round(wal_committer_t *c, bool compact, uint64_t compact_slot)
{
    frame_buffer_t *taken = &c->spare;
    bool had_records = taken->size > 0;
    int rc = BALLOT_OK;
    if (had_records) {
        rc = wal_append_frames(c->wal, taken->bytes, taken->size, &taken->summary);
        assert(rc != BALLOT_EBUSY); /* the queue bound equals the WAL's buffer bound */
        taken->size = 0;
        taken->summary = (record_summary_t){0};
    }
    if (rc == BALLOT_OK) {
        rc = sync_round(c);
    }
    if (rc == BALLOT_OK && had_records && c->callbacks.durable != NULL) {
        c->callbacks.durable(c->callbacks.ctx, wal_durable_seq(c->wal));
    }
    if (rc == BALLOT_OK && compact) {
        rc = wal_compact(c->wal, compact_slot);
    }
    return rc;
}

static bool idle(const wal_committer_t *c)
{
    return c->queue.size == 0 && !c->compact_pending && !c->stopping;
}

/* Waits (lock held) for work. When the log has gone idle for WAL_COMMITTER_SEAL_DELAY_MS with
 * the last round's end unrecorded, records it (wal.h wal_record_synced_end): one fdatasync
 * after a burst, none while rounds follow each other (each records the one before). Returns
 * BALLOT_EIO when that failed (the WAL stopped). */
static int wait_for_work(wal_committer_t *c)
{
    while (idle(c)) {
        if (!wal_synced_end_behind(c->wal)) {
            pthread_cond_wait(&c->wake, &c->lock);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long nsec = until.tv_nsec + (long)WAL_COMMITTER_SEAL_DELAY_MS * 1000000L;
        until.tv_sec += nsec / 1000000000L;
        until.tv_nsec = nsec % 1000000000L;
        int waited = 0;
        while (idle(c) && waited != ETIMEDOUT) {
            waited = pthread_cond_timedwait(&c->wake, &c->lock, &until);
        }
        if (!idle(c)) {
            break;
        }
        pthread_mutex_unlock(&c->lock);
        int rc = wal_record_synced_end(c->wal);
        pthread_mutex_lock(&c->lock);
        if (rc == BALLOT_EIO) {
            return rc;
        }
        if (rc == BALLOT_ENOSPC) {
            break; /* the next round records it; no busy loop on a full disk */
        }
    }
    return BALLOT_OK;
}

static void *committer_main(void *arg)
{
    wal_committer_t *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        if (wait_for_work(c) != BALLOT_OK) {
            c->failed = true;
            pthread_mutex_unlock(&c->lock);
            report_error(c, BALLOT_EIO);
            pthread_mutex_lock(&c->lock);
            break;
        }
        while (idle(c)) {
            pthread_cond_wait(&c->wake, &c->lock);
        }
        if (c->queue.size == 0 && !c->compact_pending) {
            break; /* stopping with nothing left */
        }
        frame_buffer_t swap = c->spare;
        c->spare = c->queue;
        c->queue = swap;
        bool compact = c->compact_pending;
        uint64_t compact_slot = c->compact_slot;
        c->compact_pending = false;
        pthread_mutex_unlock(&c->lock);
        int rc = run_round(c, compact, compact_slot);
        pthread_mutex_lock(&c->lock);
        if (rc != BALLOT_OK) {
            /* BALLOT_ENOSPC comes back only when stopping (sync_round reported it). */
            if (rc != BALLOT_ENOSPC) {
                c->failed = true;
                pthread_mutex_unlock(&c->lock);
                report_error(c, BALLOT_EIO);
                pthread_mutex_lock(&c->lock);
            }
            break;
        }
    }
    c->failed = true; /* no thread takes records any more */
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int wal_committer_start(wal_committer_t **out, wal_t *wal,
                        const wal_committer_callbacks_t *callbacks)
{
    *out = NULL;
    wal_committer_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return BALLOT_ENOMEM;
    }
    c->wal = wal;
    c->callbacks = *callbacks;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return BALLOT_ENOMEM;
    }
    if (pthread_cond_init(&c->wake, NULL) != 0) {
        pthread_mutex_destroy(&c->lock);
        free(c);
        return BALLOT_ENOMEM;
    }
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return BALLOT_EIO;
    }
    *out = c;
    return BALLOT_OK;
}

void wal_committer_stop(wal_committer_t *c)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c->queue.bytes);
    free(c->spare.bytes);
    free(c);
}
