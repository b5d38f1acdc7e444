#include "sim/disk.h"

#include "core/check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISK_SEGMENT_PATTERN "wal-"

void disk_init(sim_disk_t *d, uint32_t id)
{
    memset(d, 0, sizeof(*d));
    simio_init(&d->medium);
    snprintf(d->dir, sizeof(d->dir), "n%u", id);
}

static void disk_clear_pending(sim_disk_t *d)
{
    for (size_t i = 0; i < d->pending_count; i++) {
        value_free(&d->pending[i].value);
    }
    d->pending_count = 0;
}

void disk_destroy(sim_disk_t *d)
{
    if (d->wal != NULL) {
        wal_close(d->wal);
    }
    disk_clear_pending(d);
    free(d->pending);
    simio_destroy(&d->medium);
    memset(d, 0, sizeof(*d));
}

static void disk_options(wal_options_t *options)
{
    wal_options_default(options);
    /* Small segments, so that runs cross segment boundaries (and their recovery rules). */
    options->segment_bytes = DISK_SEGMENT_BYTES;
    options->buffer_bytes_max = DISK_BUFFER_BYTES_MAX;
    options->create_if_missing = true;
}

/* Discards the WAL and opens an empty one. */
static int disk_start_over(sim_disk_t *d, char *msg, size_t msg_bytes)
{
    d->needs_rejoin = true;
    int rc = wal_discard(d->dir, &d->medium.io, msg, msg_bytes);
    if (rc != BALLOT_OK) {
        return rc;
    }
    wal_options_t options;
    disk_options(&options);
    wal_report_t report;
    rc = wal_open(d->dir, &d->medium.io, &options, &d->wal, NULL, NULL, &report);
    if (rc != BALLOT_OK) {
        snprintf(msg, msg_bytes, "%s", report.message);
    }
    return rc;
}

int disk_open(sim_disk_t *d, disk_recover_fn fn, void *ctx, disk_open_result_t *result, char *msg,
              size_t msg_bytes)
{
    assert(d->wal == NULL);
    msg[0] = '\0';
    d->sync_in_flight = false;
    disk_clear_pending(d);
    if (d->needs_rejoin) {
        *result = DISK_OPEN_REJOIN;
        return disk_start_over(d, msg, msg_bytes);
    }
    wal_options_t options;
    disk_options(&options);
    wal_report_t report;
    int rc = wal_open(d->dir, &d->medium.io, &options, &d->wal, fn, ctx, &report);
    snprintf(msg, msg_bytes, "%s", report.message);
    if (rc == BALLOT_ECORRUPT) {
        *result = DISK_OPEN_CORRUPT;
        char discard[WAL_MESSAGE_BYTES];
        rc = disk_start_over(d, discard, sizeof(discard));
        if (rc != BALLOT_OK) {
            snprintf(msg, msg_bytes, "%s", discard);
        }
        return rc;
    }
    *result = report.truncated ? DISK_OPEN_TORN : DISK_OPEN_OK;
    return rc;
}

int disk_append(sim_disk_t *d, const persist_record_t *record)
{
    assert(d->wal != NULL);
    if (d->pending_count == d->pending_capacity) {
        size_t capacity = d->pending_capacity == 0 ? 64 : d->pending_capacity * 2;
        persist_record_t *p = NULL;
        if (capacity <= DISK_PENDING_MAX) {
            p = realloc(d->pending, capacity * sizeof(*p));
        }
        if (p == NULL) {
            return BALLOT_ENOMEM;
        }
        d->pending = p;
        d->pending_capacity = capacity;
    }
    int rc = wal_append(d->wal, record);
    if (rc != BALLOT_OK) {
        return rc;
    }
    persist_record_t *copy = &d->pending[d->pending_count];
    *copy = *record;
    if (!value_copy(&copy->value, &record->value)) {
        return BALLOT_ENOMEM;
    }
    d->pending_count++;
    return BALLOT_OK;
}

bool disk_sync_start(sim_disk_t *d)
{
    if (d->sync_in_flight || d->pending_count == 0) {
        return false;
    }
    d->sync_in_flight = true;
    d->sync_id++;
    return true;
}

int disk_sync(sim_disk_t *d, bool fail, disk_durable_fn fn, void *ctx, uint64_t *durable_seq)
{
    assert(d->sync_in_flight);
    d->sync_in_flight = false;
    d->medium.fail_next_fdatasync = fail;
    int rc = wal_sync(d->wal);
    d->medium.fail_next_fdatasync = false;
    if (rc != BALLOT_OK) {
        return rc;
    }
    for (size_t i = 0; i < d->pending_count; i++) {
        fn(ctx, &d->pending[i]);
    }
    disk_clear_pending(d);
    *durable_seq = wal_durable_seq(d->wal);
    return BALLOT_OK;
}

simio_crash_result_t disk_crash(sim_disk_t *d, prng_t *rng, double torn_p, bool allow_garbage)
{
    bool interrupted = d->wal != NULL && d->sync_in_flight && prng_chance(rng, torn_p);
    if (interrupted) {
        /* The sync's writes went out; its fdatasync never finished. */
        d->medium.fail_next_fdatasync = true;
        (void)wal_sync(d->wal);
    }
    if (d->wal != NULL) {
        wal_close(d->wal);
        d->wal = NULL;
    }
    disk_clear_pending(d);
    d->sync_in_flight = false;
    /* Bytes written by an interrupted sync (or one whose fdatasync failed) may survive in
     * part. */
    double keep = 0.0;
    if (simio_unsynced_bytes(&d->medium) > 0) {
        keep = interrupted ? 1.0 : torn_p;
    }
    return simio_crash(&d->medium, rng, keep, allow_garbage);
}

static bool disk_is_segment(const simio_file_t *f)
{
    return f->live && f->durable && f->synced.size > 0 &&
           strstr(f->name, DISK_SEGMENT_PATTERN) != NULL && strstr(f->name, ".discarded") == NULL;
}

bool disk_bitflip(sim_disk_t *d, prng_t *rng, bool anywhere, char *file, size_t file_bytes,
                  uint64_t *offset)
{
    uint32_t candidates[SIMIO_FILES_MAX];
    uint32_t count = 0;
    simio_file_t *newest = NULL; /* names carry a zero-padded lsn: the greatest name */
    for (uint32_t i = 0; i < SIMIO_FILES_MAX; i++) {
        simio_file_t *f = &d->medium.files[i];
        if (disk_is_segment(f)) {
            candidates[count++] = i;
            if (newest == NULL || strcmp(f->name, newest->name) > 0) {
                newest = f;
            }
        }
    }
    if (count == 0) {
        return false;
    }
    simio_file_t *f = &d->medium.files[candidates[prng_below(rng, count)]];
    size_t limit = f->synced.size;
    if (f == newest && !anywhere) {
        /* Past the synced end the WAL cannot tell a flipped bit from a torn write (wal.h):
         * the default fault model spares that region. */
        limit = (size_t)wal_segment_unprotected_from(f->synced.bytes, f->synced.size);
    }
    if (limit == 0) {
        return false;
    }
    size_t at = (size_t)prng_below(rng, limit);
    uint8_t bit = (uint8_t)(1u << prng_below(rng, 8));
    f->synced.bytes[at] ^= bit;
    if (at < f->data.size) {
        f->data.bytes[at] ^= bit;
    }
    snprintf(file, file_bytes, "%s", f->name);
    *offset = at;
    return true;
}

int disk_record_synced_end(sim_disk_t *d)
{
    assert(d->wal != NULL);
    assert(disk_idle(d));
    return wal_record_synced_end(d->wal);
}

bool disk_idle(const sim_disk_t *d)
{
    return d->pending_count == 0 && !d->sync_in_flight;
}
