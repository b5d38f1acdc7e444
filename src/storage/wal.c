/* The WAL's write path: append into a buffer, then one write and one fdatasync per sync
 * round (group commit); segment roll-over with the promise carried forward; compaction. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "base/crc32c.h"
#include "base/endian.h"
#include "storage/internal.h"
#include "storage/wal_internal.h"

#define CARRY_FRAME_BYTES    (WAL_FRAME_HEADER_BYTES + WAL_PAYLOAD_FIXED_BYTES)
#define BUFFER_INITIAL_BYTES ((size_t)64u * 1024u)

void wal_options_default(wal_options_t *options)
{
    options->segment_bytes = WAL_SEGMENT_BYTES_DEFAULT;
    options->buffer_bytes_max = WAL_BUFFER_BYTES_DEFAULT;
    options->create_if_missing = true;
}

int wal_fail(wal_t *wal, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int n = vsnprintf(wal->error, sizeof(wal->error), format, args);
    va_end(args);
    if (n < 0) {
        wal->error[0] = '\0';
    }
    wal->failed = true;
    return BALLOT_EIO;
}

static void segment_name(char *out, uint64_t first_lsn)
{
    storage_name_format(out, WAL_SEGMENT_PREFIX, first_lsn, WAL_SEGMENT_SUFFIX);
}

static void segment_label(uint8_t *out, uint64_t first_lsn, uint32_t version)
{
    memset(out, 0, WAL_SEGMENT_LABEL_BYTES);
    memcpy(out, WAL_SEGMENT_MAGIC, 8);
    put_u32(out + 8, version);
    put_u64(out + 16, first_lsn);
    put_u32(out + 28, crc32c(out, 28));
}

void wal_segment_header(uint8_t *out, uint64_t first_lsn, uint64_t round_end)
{
    assert(round_end >= WAL_SEGMENT_HEADER_BYTES);
    memset(out, 0, WAL_SEGMENT_HEADER_BYTES);
    segment_label(out, first_lsn, WAL_FORMAT_VERSION);
    wal_synced_end_t first = {
        .seq = 1, .synced_end = WAL_SEGMENT_HEADER_BYTES, .round_end = round_end};
    wal_synced_end_encode(out + wal_synced_end_offset(1), first_lsn, &first);
}

static bool label_is(const uint8_t *bytes, uint64_t size, uint64_t first_lsn, uint32_t version)
{
    if (size < WAL_SEGMENT_LABEL_BYTES) {
        return false;
    }
    uint8_t expected[WAL_SEGMENT_LABEL_BYTES];
    segment_label(expected, first_lsn, version);
    return memcmp(bytes, expected, WAL_SEGMENT_LABEL_BYTES) == 0;
}

bool wal_segment_header_valid(const uint8_t *bytes, uint64_t size, uint64_t first_lsn)
{
    return label_is(bytes, size, first_lsn, WAL_FORMAT_VERSION);
}

bool wal_segment_header_v1(const uint8_t *bytes, uint64_t size, uint64_t first_lsn)
{
    return label_is(bytes, size, first_lsn, 1u);
}

void wal_synced_end_encode(uint8_t *out, uint64_t first_lsn, const wal_synced_end_t *end)
{
    assert(end->seq > 0);
    assert(end->synced_end <= end->round_end);
    memset(out, 0, WAL_SYNCED_END_BYTES);
    memcpy(out, WAL_SYNCED_END_MAGIC, 8);
    put_u32(out + 8, WAL_FORMAT_VERSION);
    put_u64(out + 16, first_lsn);
    put_u64(out + 24, end->seq);
    put_u64(out + 32, end->synced_end);
    put_u64(out + 40, end->round_end);
    put_u32(out + 60, crc32c(out, 60));
}

bool wal_synced_end_decode(const uint8_t *bytes, uint64_t first_lsn, wal_synced_end_t *out)
{
    if (crc32c(bytes, 60) != get_u32(bytes + 60) || memcmp(bytes, WAL_SYNCED_END_MAGIC, 8) != 0 ||
        get_u32(bytes + 8) != WAL_FORMAT_VERSION || get_u64(bytes + 16) != first_lsn) {
        return false;
    }
    out->seq = get_u64(bytes + 24);
    out->synced_end = get_u64(bytes + 32);
    out->round_end = get_u64(bytes + 40);
    return out->seq > 0 && out->synced_end >= WAL_SEGMENT_HEADER_BYTES &&
           out->synced_end <= out->round_end && out->round_end <= WAL_SEGMENT_FILE_BYTES_MAX;
}

uint64_t wal_synced_end_offset(uint64_t seq)
{
    return WAL_SECTOR_BYTES * (1u + (seq & 1u));
}

bool wal_synced_end_newest(const uint8_t *bytes, uint64_t size, uint64_t first_lsn,
                           wal_synced_end_t *out)
{
    bool found = false;
    for (uint64_t copy = 0; copy < WAL_SYNCED_END_COPIES; copy++) {
        uint64_t at = wal_synced_end_offset(copy);
        wal_synced_end_t end;
        if (at + WAL_SYNCED_END_BYTES <= size &&
            wal_synced_end_decode(bytes + at, first_lsn, &end) && (!found || end.seq > out->seq)) {
            *out = end;
            found = true;
        }
    }
    return found;
}

uint64_t wal_segment_unprotected_from(const uint8_t *bytes, uint64_t size)
{
    if (size < WAL_SEGMENT_HEADER_BYTES) {
        return size;
    }
    wal_synced_end_t end;
    if (!wal_synced_end_newest(bytes, size, get_u64(bytes + 16), &end)) {
        return size;
    }
    /* Bytes past the newer copy's round mean that round completed (wal_open). */
    uint64_t protected_end = size > end.round_end ? end.round_end : end.synced_end;
    return protected_end < size ? protected_end : size;
}

int wal_synced_end_write(wal_t *wal, uint64_t synced_end, uint64_t round_end)
{
    const wal_segment_t *segment = &wal->segments[wal->segment_count - 1];
    wal_synced_end_t end = {
        .seq = wal->end_seq + 1u, .synced_end = synced_end, .round_end = round_end};
    uint8_t copy[WAL_SYNCED_END_BYTES];
    wal_synced_end_encode(copy, segment->first_lsn, &end);
    return storage_write_all(wal->io, wal->fd, copy, sizeof(copy), wal_synced_end_offset(end.seq));
}

/* Writes a copy recording wal->file_bytes as synced and fdatasyncs it (the bytes below it
 * must be durable already). Returns an errno. */
static int record_end(wal_t *wal)
{
    int rc = wal_synced_end_write(wal, wal->file_bytes, wal->file_bytes);
    if (rc == 0) {
        rc = wal->io->fdatasync(wal->io->ctx, wal->fd);
    }
    if (rc == 0) {
        wal->end_seq++;
        wal->end_recorded = wal->file_bytes;
    }
    return rc;
}

int wal_seal(wal_t *wal)
{
    assert(wal->fd >= 0);
    int rc = wal->io->fdatasync(wal->io->ctx, wal->fd);
    return rc == 0 ? record_end(wal) : rc;
}

bool wal_synced_end_behind(const wal_t *wal)
{
    return !wal->failed && wal->end_recorded < wal->file_bytes;
}

int wal_record_synced_end(wal_t *wal)
{
    if (wal->failed) {
        return BALLOT_EIO;
    }
    if (!wal_synced_end_behind(wal)) {
        return BALLOT_OK;
    }
    int rc = record_end(wal);
    if (rc == 0) {
        assert(!wal_synced_end_behind(wal));
        return BALLOT_OK;
    }
    if (storage_errno_to_err(rc) == BALLOT_ENOSPC) {
        storage_message(wal->error, sizeof(wal->error),
                        "wal: recording the synced end in %s: disk full; retry later", wal->dir);
        return BALLOT_ENOSPC;
    }
    /* A failed fdatasync is never retried (wal_sync). */
    return wal_fail(wal, "wal: recording the synced end in %s failed: %s; the wal is stopped",
                    wal->dir, strerror(rc));
}

int wal_segments_push(wal_t *wal, uint64_t first_lsn)
{
    if (wal->segment_count == wal->segment_capacity) {
        if (wal->segment_capacity >= WAL_SEGMENTS_MAX) {
            return BALLOT_ENOSPC;
        }
        uint32_t capacity = wal->segment_capacity == 0 ? 16u : wal->segment_capacity * 2u;
        if (capacity > WAL_SEGMENTS_MAX) {
            capacity = WAL_SEGMENTS_MAX;
        }
        wal_segment_t *grown = realloc(wal->segments, capacity * sizeof(*grown));
        if (grown == NULL) {
            return BALLOT_ENOMEM;
        }
        wal->segments = grown;
        wal->segment_capacity = capacity;
    }
    wal->segments[wal->segment_count++] = (wal_segment_t){.first_lsn = first_lsn};
    return BALLOT_OK;
}

/* A non-fatal failure (disk full): the message is kept, the WAL goes on. */
static int wal_refuse(wal_t *wal, int err, const char *what, const char *name, uint64_t offset)
{
    storage_message(wal->error, sizeof(wal->error),
                    "wal: %s %s/%s at offset %llu: disk full; %zu bytes stay buffered, retry later",
                    what, wal->dir, name, (unsigned long long)offset, wal->buffer_bytes);
    return err;
}

static int create_failed(wal_t *wal, int fd, const char *path, const char *name, int rc,
                         const char *what)
{
    if (fd >= 0) {
        (void)wal->io->close(wal->io->ctx, fd);
    }
    if (storage_errno_to_err(rc) == BALLOT_ENOSPC) {
        /* Best effort: the next sync retries this same segment (O_TRUNC), and a crash
         * before that leaves a last segment with a torn header, which open repairs. */
        (void)wal->io->unlink(wal->io->ctx, path);
        return wal_refuse(wal, BALLOT_ENOSPC, what, name, 0);
    }
    return wal_fail(wal, "wal: %s %s failed: %s; the wal is stopped", what, path, strerror(rc));
}

int wal_segment_create(wal_t *wal, uint64_t first_lsn, int *fd_out, uint64_t *bytes_out,
                       bool *carried)
{
    char name[STORAGE_NAME_BYTES_MAX];
    char path[STORAGE_PATH_BYTES_MAX];
    segment_name(name, first_lsn);
    if (!storage_path(path, wal->dir, name)) {
        return wal_fail(wal, "wal: path too long in %s", wal->dir);
    }
    uint8_t block[WAL_SEGMENT_HEADER_BYTES + CARRY_FRAME_BYTES];
    size_t size = WAL_SEGMENT_HEADER_BYTES;
    /* The newest promise must outlive the segments compaction removes (wal.h). */
    *carried = !ballot_is_none(wal->promise_max);
    wal_segment_header(block, first_lsn, size + (*carried ? CARRY_FRAME_BYTES : 0u));
    if (*carried) {
        persist_record_t carry = {.kind = PERSIST_PROMISE, .ballot = wal->promise_max};
        assert(record_frame_bytes(&carry) == CARRY_FRAME_BYTES);
        record_encode(&carry, block + size);
        size += CARRY_FRAME_BYTES;
    }
    int fd = -1;
    int rc = wal->io->open(wal->io->ctx, path, STORAGE_OPEN_CREATE | STORAGE_OPEN_TRUNCATE, &fd);
    if (rc != 0) {
        return create_failed(wal, -1, path, name, rc, "creating");
    }
    rc = storage_write_all(wal->io, fd, block, size, 0);
    if (rc != 0) {
        return create_failed(wal, fd, path, name, rc, "writing");
    }
    rc = wal->io->fdatasync(wal->io->ctx, fd);
    if (rc == 0) {
        rc = wal->io->fsync_dir(wal->io->ctx, wal->dir);
    }
    if (rc != 0) {
        (void)wal->io->close(wal->io->ctx, fd);
        return wal_fail(wal, "wal: fdatasync of new segment %s failed: %s; the wal is stopped",
                        path, strerror(rc));
    }
    *fd_out = fd;
    *bytes_out = size;
    return BALLOT_OK;
}

static int wal_roll(wal_t *wal)
{
    uint64_t first_lsn = wal->next_lsn;
    int rc = wal_segments_push(wal, first_lsn);
    if (rc != BALLOT_OK) {
        storage_message(wal->error, sizeof(wal->error), "wal: cannot add segment %u in %s: %s",
                        wal->segment_count, wal->dir,
                        rc == BALLOT_ENOSPC ? "too many segments (compact)" : "out of memory");
        return rc;
    }
    int fd = -1;
    uint64_t bytes = 0;
    bool carried = false;
    rc = wal_segment_create(wal, first_lsn, &fd, &bytes, &carried);
    if (rc != BALLOT_OK) {
        wal->segment_count--;
        return rc;
    }
    /* The old segment is wholly durable (every sync round ends with its fdatasync), so a
     * close error cannot lose anything. */
    (void)wal->io->close(wal->io->ctx, wal->fd);
    wal->fd = fd;
    wal->file_bytes = bytes;
    wal->end_seq = 1; /* written by wal_segment_header */
    wal->end_recorded = WAL_SEGMENT_HEADER_BYTES;
    wal->segments[wal->segment_count - 1].records = carried ? 1u : 0u;
    wal->next_lsn += carried ? 1u : 0u;
    return BALLOT_OK;
}

static int reserve(wal_t *wal, size_t bytes)
{
    if (bytes > wal->options.buffer_bytes_max - wal->buffer_bytes) {
        storage_message(wal->error, sizeof(wal->error),
                        "wal: %zu bytes buffered, %zu more would pass the bound of %zu: sync first",
                        wal->buffer_bytes, bytes, wal->options.buffer_bytes_max);
        return BALLOT_EBUSY;
    }
    size_t need = wal->buffer_bytes + bytes;
    if (need <= wal->buffer_capacity) {
        return BALLOT_OK;
    }
    size_t capacity = wal->buffer_capacity == 0 ? BUFFER_INITIAL_BYTES : wal->buffer_capacity;
    while (capacity < need) {
        capacity *= 2u;
    }
    if (capacity > wal->options.buffer_bytes_max) {
        capacity = wal->options.buffer_bytes_max;
    }
    uint8_t *grown = realloc(wal->buffer, capacity);
    if (grown == NULL) {
        return BALLOT_ENOMEM;
    }
    wal->buffer = grown;
    wal->buffer_capacity = capacity;
    return BALLOT_OK;
}

int wal_append(wal_t *wal, const persist_record_t *record)
{
    if (wal->failed) {
        return BALLOT_EIO;
    }
    if (!record_valid(record) || record->seq == 0 || record->seq <= wal->appended_seq) {
        storage_message(wal->error, sizeof(wal->error),
                        "wal: refused record kind %d seq %llu (previous seq %llu)",
                        (int)record->kind, (unsigned long long)record->seq,
                        (unsigned long long)wal->appended_seq);
        return BALLOT_EINVAL;
    }
    size_t frame_bytes = record_frame_bytes(record);
    int rc = reserve(wal, frame_bytes);
    if (rc != BALLOT_OK) {
        return rc;
    }
    record_encode(record, wal->buffer + wal->buffer_bytes);
    wal->buffer_bytes += frame_bytes;
    record_summary_add(&wal->buffered, record);
    wal->appended_seq = record->seq;
    return BALLOT_OK;
}

int wal_append_frames(wal_t *wal, const uint8_t *frames, size_t size,
                      const record_summary_t *summary)
{
    if (wal->failed) {
        return BALLOT_EIO;
    }
    assert(summary->records > 0);
    assert(summary->last_seq > wal->appended_seq);
    int rc = reserve(wal, size);
    if (rc != BALLOT_OK) {
        return rc;
    }
    memcpy(wal->buffer + wal->buffer_bytes, frames, size);
    wal->buffer_bytes += size;
    record_summary_merge(&wal->buffered, summary);
    wal->appended_seq = summary->last_seq;
    return BALLOT_OK;
}

static int write_failed(wal_t *wal, int rc)
{
    wal_segment_t *segment = &wal->segments[wal->segment_count - 1];
    char name[STORAGE_NAME_BYTES_MAX];
    segment_name(name, segment->first_lsn);
    if (storage_errno_to_err(rc) != BALLOT_ENOSPC) {
        return wal_fail(wal, "wal: write to %s/%s at offset %llu failed: %s; the wal is stopped",
                        wal->dir, name, (unsigned long long)wal->file_bytes, strerror(rc));
    }
    /* Cut what part of the round reached the file, so the log ends at its last durable
     * record whether the retry comes or a crash does. */
    int cut = wal->io->ftruncate(wal->io->ctx, wal->fd, wal->file_bytes);
    if (cut != 0) {
        return wal_fail(wal, "wal: cutting %s/%s back to %llu after a full disk failed: %s",
                        wal->dir, name, (unsigned long long)wal->file_bytes, strerror(cut));
    }
    return wal_refuse(wal, BALLOT_ENOSPC, "writing", name, wal->file_bytes);
}

int wal_sync(wal_t *wal)
{
    if (wal->failed) {
        return BALLOT_EIO;
    }
    if (wal->buffer_bytes == 0) {
        return BALLOT_OK;
    }
    if (wal->file_bytes >= wal->options.segment_bytes) {
        int rc = wal_roll(wal);
        if (rc != BALLOT_OK) {
            return rc;
        }
    }
    int rc = storage_write_all(wal->io, wal->fd, wal->buffer, wal->buffer_bytes, wal->file_bytes);
    if (rc == 0) {
        /* The round also records where the previous one ended: that sync completed, so the
         * claim is true whether or not this one does. Recovery refuses anything missing or
         * damaged below it instead of cutting it as a torn tail (docs/storage.md). */
        rc = wal_synced_end_write(wal, wal->file_bytes, wal->file_bytes + wal->buffer_bytes);
    }
    if (rc != 0) {
        return write_failed(wal, rc);
    }
    rc = wal->io->fdatasync(wal->io->ctx, wal->fd);
    if (rc != 0) {
        /* Never retried: after a failed fdatasync the kernel may have dropped the dirty
         * pages and marked them clean, so a second call could "succeed" over lost data. */
        return wal_fail(wal, "wal: fdatasync of %s failed: %s; the wal is stopped", wal->dir,
                        strerror(rc));
    }
    wal_segment_t *segment = &wal->segments[wal->segment_count - 1];
    segment->records += wal->buffered.records;
    if (wal->buffered.max_slot > segment->max_slot) {
        segment->max_slot = wal->buffered.max_slot;
    }
    if (ballot_less(wal->promise_max, wal->buffered.promise_max)) {
        wal->promise_max = wal->buffered.promise_max;
    }
    wal->next_lsn += wal->buffered.records;
    wal->end_recorded = wal->file_bytes;
    wal->file_bytes += wal->buffer_bytes;
    wal->end_seq++;
    if (wal->buffered.last_seq != 0) {
        wal->durable_seq = wal->buffered.last_seq;
    }
    wal->buffer_bytes = 0;
    wal->buffered = (record_summary_t){0};
    return BALLOT_OK;
}

uint64_t wal_durable_seq(const wal_t *wal)
{
    return wal->durable_seq;
}

size_t wal_buffered_bytes(const wal_t *wal)
{
    return wal->buffer_bytes;
}

bool wal_failed(const wal_t *wal)
{
    return wal->failed;
}

const char *wal_error(const wal_t *wal)
{
    return wal->error;
}

int wal_compact(wal_t *wal, uint64_t slot)
{
    if (wal->failed) {
        return BALLOT_EIO;
    }
    uint32_t removable = 0;
    /* Oldest first, never the segment being written: each kept segment starts with the
     * carried promise, so removing a prefix never lowers the recovered promise. */
    while (removable + 1u < wal->segment_count && wal->segments[removable].max_slot <= slot) {
        removable++;
    }
    if (removable == 0) {
        return BALLOT_OK;
    }
    /* One directory fsync per removal, oldest first: whatever a crash undoes, the
     * segments left are always a contiguous run ending at the newest. */
    for (uint32_t i = 0; i < removable; i++) {
        char name[STORAGE_NAME_BYTES_MAX];
        char path[STORAGE_PATH_BYTES_MAX];
        segment_name(name, wal->segments[i].first_lsn);
        bool fits = storage_path(path, wal->dir, name);
        assert(fits);
        int rc = wal->io->unlink(wal->io->ctx, path);
        if (rc != 0 && rc != ENOENT) {
            return wal_fail(wal, "wal: removing %s failed: %s; the wal is stopped", path,
                            strerror(rc));
        }
        rc = wal->io->fsync_dir(wal->io->ctx, wal->dir);
        if (rc != 0) {
            return wal_fail(wal, "wal: fsync of directory %s failed: %s; the wal is stopped",
                            wal->dir, strerror(rc));
        }
    }
    memmove(wal->segments, wal->segments + removable,
            (wal->segment_count - removable) * sizeof(*wal->segments));
    wal->segment_count -= removable;
    return BALLOT_OK;
}

void wal_close(wal_t *wal)
{
    if (wal == NULL) {
        return;
    }
    if (wal->fd >= 0) {
        (void)wal->io->close(wal->io->ctx, wal->fd);
    }
    free(wal->segments);
    free(wal->buffer);
    free(wal);
}
