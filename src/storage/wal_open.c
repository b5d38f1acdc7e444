/* WAL recovery: list the segments, replay every record in order, repair a torn tail, and
 * refuse (BALLOT_ECORRUPT, naming file and offset) anything else that fails a check. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "base/endian.h"
#include "storage/internal.h"
#include "storage/wal_internal.h"

typedef struct segment_list {
    uint64_t *lsns;
    uint32_t count;
    uint32_t capacity;
    int error; /* errno when collecting stopped */
} segment_list_t;

typedef struct replay {
    wal_t *wal;
    wal_recover_fn recover;
    void *ctx;
    wal_report_t *report;
    record_summary_t summary; /* over every record replayed */
} replay_t;

#define LIST_STOPPED 1

static int collect_segment(void *fn_ctx, const char *name)
{
    segment_list_t *list = fn_ctx;
    uint64_t lsn = 0;
    if (!storage_name_parse(name, WAL_SEGMENT_PREFIX, WAL_SEGMENT_SUFFIX, &lsn)) {
        return 0;
    }
    if (list->count == list->capacity) {
        if (list->capacity >= WAL_SEGMENTS_MAX) {
            list->error = EFBIG;
            return LIST_STOPPED;
        }
        uint32_t capacity = list->capacity == 0 ? 16u : list->capacity * 2u;
        uint64_t *grown = realloc(list->lsns, capacity * sizeof(*grown));
        if (grown == NULL) {
            list->error = ENOMEM;
            return LIST_STOPPED;
        }
        list->lsns = grown;
        list->capacity = capacity;
    }
    list->lsns[list->count++] = lsn;
    return 0;
}

static int compare_lsn(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

/* Lists "wal-<lsn>.log" names in dir, sorted. Returns an errno (ENOENT: no dir). */
static int list_segments(const storage_io_t *io, const char *dir, segment_list_t *list)
{
    memset(list, 0, sizeof(*list));
    int rc = io->list_dir(io->ctx, dir, collect_segment, list);
    if (rc == LIST_STOPPED) {
        rc = list->error;
    }
    if (rc != 0) {
        free(list->lsns);
        list->lsns = NULL;
        return rc;
    }
    if (list->count > 1) {
        qsort(list->lsns, list->count, sizeof(*list->lsns), compare_lsn);
    }
    return 0;
}

static int corrupt(replay_t *st, const char *name, uint64_t offset, const char *why)
{
    wal_report_t *report = st->report;
    storage_message(report->file, sizeof(report->file), "%s", name);
    report->offset = offset;
    storage_message(report->message, sizeof(report->message),
                    "wal: corrupt %s/%s at offset %llu: %s; the acceptor state cannot be trusted "
                    "(the node may only rejoin)",
                    st->wal->dir, name, (unsigned long long)offset, why);
    return BALLOT_ECORRUPT;
}

static int io_error(replay_t *st, const char *what, const char *name, int rc)
{
    storage_message(st->report->file, sizeof(st->report->file), "%s", name);
    storage_message(st->report->message, sizeof(st->report->message), "wal: %s %s/%s failed: %s",
                    what, st->wal->dir, name, strerror(rc));
    return storage_errno_to_err(rc) == BALLOT_ENOMEM ? BALLOT_ENOMEM : BALLOT_EIO;
}

/* Cuts the last segment at offset (a torn tail) and makes the cut durable (wal_open seals
 * the new end afterwards). When the segment's header block itself is torn, it is written
 * again. */
static int cut_tail(replay_t *st, int fd, const char *name, uint64_t offset, uint64_t size,
                    const char *why)
{
    const storage_io_t *io = st->wal->io;
    int rc = 0;
    if (offset < WAL_SEGMENT_HEADER_BYTES) {
        uint8_t header[WAL_SEGMENT_HEADER_BYTES];
        wal_segment_header(header, st->wal->segments[st->wal->segment_count - 1].first_lsn,
                           WAL_SEGMENT_HEADER_BYTES);
        rc = storage_write_all(io, fd, header, sizeof(header), 0);
        offset = WAL_SEGMENT_HEADER_BYTES;
        st->wal->end_seq = 1;
        st->wal->end_recorded = WAL_SEGMENT_HEADER_BYTES;
    }
    if (rc == 0) {
        rc = io->ftruncate(io->ctx, fd, offset);
    }
    if (rc == 0) {
        rc = io->fdatasync(io->ctx, fd);
    }
    if (rc != 0) {
        return io_error(st, "repairing the torn tail of", name, rc);
    }
    wal_report_t *report = st->report;
    report->truncated = true;
    report->truncated_bytes = size > offset ? size - offset : 0;
    storage_message(report->file, sizeof(report->file), "%s", name);
    report->offset = offset;
    storage_message(report->message, sizeof(report->message),
                    "wal: torn tail in %s/%s at offset %llu, past the synced end %llu (%s): cut "
                    "%llu bytes that no completed sync covered",
                    st->wal->dir, name, (unsigned long long)offset,
                    (unsigned long long)report->synced_end, why,
                    (unsigned long long)report->truncated_bytes);
    return BALLOT_OK;
}

/* What follows a bad record decides: a valid record after it means acknowledged data would
 * be lost, so only a bad record with nothing valid behind it in the last segment is a torn
 * tail. A record whose (checksummed) length runs past the end is torn by construction. */
static bool is_torn_tail(record_status_t status, const uint8_t *bytes, uint64_t size,
                         uint64_t offset, bool last)
{
    if (!last) {
        return false;
    }
    switch (status) {
    case RECORD_SHORT:
        return true;
    case RECORD_BAD_HEADER:
        return !record_scan_valid(bytes, (size_t)size, (size_t)offset + 1u);
    case RECORD_BAD_PAYLOAD: {
        uint64_t frame_end = offset + WAL_FRAME_HEADER_BYTES + get_u32(bytes + offset);
        return frame_end >= size || !record_scan_valid(bytes, (size_t)size, (size_t)frame_end);
    }
    default:
        return false; /* intact checksums over bad fields: never a torn write */
    }
}

/* A bad record: corruption before the synced end or when it cannot be a torn write, else a
 * torn tail to cut. */
static int bad_record(replay_t *st, int fd, const char *name, const uint8_t *bytes, uint64_t size,
                      uint64_t offset, uint64_t synced_end, bool last, record_status_t status)
{
    if (offset < synced_end) {
        char why[160];
        storage_message(why, sizeof(why),
                        "%s before the synced end %llu (bytes a completed sync made durable)",
                        record_status_text(status), (unsigned long long)synced_end);
        return corrupt(st, name, offset, why);
    }
    if (!is_torn_tail(status, bytes, size, offset, last)) {
        return corrupt(st, name, offset, record_status_text(status));
    }
    return cut_tail(st, fd, name, offset, size, record_status_text(status));
}

static int replay_records(replay_t *st, int fd, const char *name, const uint8_t *bytes,
                          uint64_t size, uint64_t synced_end, bool last, uint64_t *end)
{
    wal_segment_t *segment = &st->wal->segments[st->wal->segment_count - 1];
    uint64_t offset = WAL_SEGMENT_HEADER_BYTES;
    while (offset < size) {
        persist_record_t record;
        size_t frame_bytes = 0;
        record_status_t status =
            record_decode(bytes + offset, (size_t)(size - offset), &record, &frame_bytes);
        if (status != RECORD_OK) {
            *end = offset;
            return bad_record(st, fd, name, bytes, size, offset, synced_end, last, status);
        }
        if (offset < synced_end && offset + frame_bytes > synced_end) {
            /* Syncs end between records: this one cannot have been written like this. */
            return corrupt(st, name, offset, "a record runs across the synced end");
        }
        if (st->recover != NULL) {
            int rc = st->recover(st->ctx, &record);
            if (rc != 0) {
                storage_message(st->report->file, sizeof(st->report->file), "%s", name);
                st->report->offset = offset;
                storage_message(st->report->message, sizeof(st->report->message),
                                "wal: recovery refused the record at %s/%s offset %llu (error %d)",
                                st->wal->dir, name, (unsigned long long)offset, rc);
                return rc;
            }
        }
        record_summary_t one = {0};
        record_summary_add(&one, &record);
        record_summary_merge(&st->summary, &one);
        segment->records++;
        if (one.max_slot > segment->max_slot) {
            segment->max_slot = one.max_slot;
        }
        st->report->records++;
        offset += frame_bytes;
    }
    *end = offset;
    return BALLOT_OK;
}

/* The header block: label and synced end. A segment whose creation was cut short by a crash
 * (the last one, its header block incomplete, no record behind it) is written again. */
static int check_header(replay_t *st, int fd, const char *name, const uint8_t *bytes, uint64_t size,
                        uint64_t first_lsn, bool last, uint64_t *synced_end)
{
    if (wal_segment_header_v1(bytes, size, first_lsn)) {
        return corrupt(st, name, 0,
                       "the log is in WAL format 1, which this ballotd no longer reads "
                       "(docs/storage.md, \"Format versions\"): start the node with --rejoin");
    }
    bool label_ok = wal_segment_header_valid(bytes, size, first_lsn);
    wal_synced_end_t end;
    bool have_end = wal_synced_end_newest(bytes, size, first_lsn, &end);
    if (!label_ok || size < WAL_SEGMENT_HEADER_BYTES) {
        /* A copy past the creating one means syncs completed in this segment: it was cut. */
        bool used = have_end && (end.seq > 1u || end.synced_end > WAL_SEGMENT_HEADER_BYTES);
        if (last && !used && !record_scan_valid(bytes, (size_t)size, 0)) {
            *synced_end = WAL_SEGMENT_HEADER_BYTES;
            st->report->synced_end = WAL_SEGMENT_HEADER_BYTES;
            return cut_tail(st, fd, name, 0, size, "segment header cut short");
        }
        return corrupt(
            st, name, 0,
            label_ok ? "the file was cut inside its header block, after syncs had completed in it"
                     : "bad segment header");
    }
    if (!have_end) {
        return corrupt(st, name, WAL_SECTOR_BYTES, "both copies of the synced end are damaged");
    }
    st->wal->end_seq = end.seq;
    /* A sync starts only after the previous one completed: bytes past the newest copy's
     * round prove that round completed too. */
    *synced_end = size > end.round_end ? end.round_end : end.synced_end;
    if (size < *synced_end) {
        char why[200];
        storage_message(why, sizeof(why),
                        "the file ends at byte %llu but a completed sync made it durable up to "
                        "byte %llu: %llu bytes of synced records are missing",
                        (unsigned long long)size, (unsigned long long)*synced_end,
                        (unsigned long long)(*synced_end - size));
        return corrupt(st, name, size, why);
    }
    return BALLOT_OK;
}

/* Replays one segment. The last one stays open (its handle and length go into the WAL). */
static int replay_segment(replay_t *st, uint64_t first_lsn, bool last)
{
    wal_t *wal = st->wal;
    char name[STORAGE_NAME_BYTES_MAX];
    char path[STORAGE_PATH_BYTES_MAX];
    storage_name_format(name, WAL_SEGMENT_PREFIX, first_lsn, WAL_SEGMENT_SUFFIX);
    bool fits = storage_path(path, wal->dir, name);
    assert(fits);
    if (wal->segment_count > 0) {
        const wal_segment_t *previous = &wal->segments[wal->segment_count - 1];
        if (previous->first_lsn + previous->records != first_lsn) {
            return corrupt(st, name, 0,
                           "records missing between this segment and the one "
                           "before it");
        }
    }
    int rc = wal_segments_push(wal, first_lsn);
    if (rc != BALLOT_OK) {
        return corrupt(st, name, 0, "too many segments");
    }
    int fd = -1;
    rc = wal->io->open(wal->io->ctx, path, 0, &fd);
    if (rc != 0) {
        return io_error(st, "opening", name, rc);
    }
    uint8_t *bytes = NULL;
    uint64_t size = 0;
    rc = storage_read_file(wal->io, fd, WAL_SEGMENT_FILE_BYTES_MAX, &bytes, &size);
    if (rc != 0) {
        (void)wal->io->close(wal->io->ctx, fd);
        return rc == EFBIG ? corrupt(st, name, 0, "segment file over the size bound")
                           : io_error(st, "reading", name, rc);
    }
    uint64_t end = WAL_SEGMENT_HEADER_BYTES;
    uint64_t synced_end = WAL_SEGMENT_HEADER_BYTES;
    rc = check_header(st, fd, name, bytes, size, first_lsn, last, &synced_end);
    if (last) {
        st->report->synced_end = synced_end;
    }
    if (rc == BALLOT_OK && !st->report->truncated) {
        rc = replay_records(st, fd, name, bytes, size, synced_end, last, &end);
    }
    free(bytes);
    if (rc != BALLOT_OK || !last) {
        (void)wal->io->close(wal->io->ctx, fd);
        return rc;
    }
    wal->fd = fd;
    wal->file_bytes = end;
    return BALLOT_OK;
}

static int create_first_segment(replay_t *st)
{
    wal_t *wal = st->wal;
    int rc = wal_segments_push(wal, 1);
    if (rc != BALLOT_OK) {
        return rc;
    }
    bool carried = false;
    rc = wal_segment_create(wal, 1, &wal->fd, &wal->file_bytes, &carried);
    assert(!carried);
    wal->end_seq = 1; /* written by wal_segment_header */
    wal->end_recorded = WAL_SEGMENT_HEADER_BYTES;
    if (rc != BALLOT_OK) {
        storage_message(st->report->message, sizeof(st->report->message), "%s", wal->error);
        return rc;
    }
    st->report->created = true;
    storage_message(st->report->message, sizeof(st->report->message),
                    "wal: created a new log in %s", wal->dir);
    return BALLOT_OK;
}

static bool options_valid(const wal_options_t *options)
{
    return options->segment_bytes >= WAL_SEGMENT_BYTES_MIN &&
           options->segment_bytes <= WAL_SEGMENT_BYTES_MAX &&
           options->buffer_bytes_max >= WAL_BUFFER_BYTES_MIN &&
           options->buffer_bytes_max <= WAL_BUFFER_BYTES_MAX;
}

static int open_segments(replay_t *st)
{
    wal_t *wal = st->wal;
    wal_report_t *report = st->report;
    if (wal->options.create_if_missing) {
        int rc = wal->io->mkdir(wal->io->ctx, wal->dir);
        if (rc != 0) {
            storage_message(report->message, sizeof(report->message), "wal: cannot create %s: %s",
                            wal->dir, strerror(rc));
            return BALLOT_EIO;
        }
    }
    segment_list_t list;
    int rc = list_segments(wal->io, wal->dir, &list);
    if (rc != 0 && !(rc == ENOENT && !wal->options.create_if_missing)) {
        storage_message(report->message, sizeof(report->message), "wal: cannot list %s: %s",
                        wal->dir, strerror(rc));
        return rc == EFBIG ? BALLOT_ECORRUPT : BALLOT_EIO;
    }
    if (rc != 0 || list.count == 0) {
        free(list.lsns);
        if (wal->options.create_if_missing) {
            return create_first_segment(st);
        }
        storage_message(
            report->message, sizeof(report->message),
            "wal: no log in %s: the acceptor state is missing (the node may only rejoin)",
            wal->dir);
        return BALLOT_ESTATE;
    }
    for (uint32_t i = 0; i < list.count && rc == BALLOT_OK; i++) {
        rc = replay_segment(st, list.lsns[i], i + 1u == list.count);
    }
    report->segments = list.count;
    free(list.lsns);
    return rc;
}

int wal_open(const char *dir, const storage_io_t *io, const wal_options_t *options, wal_t **out,
             wal_recover_fn recover, void *ctx, wal_report_t *report)
{
    *out = NULL;
    memset(report, 0, sizeof(*report));
    if (!options_valid(options) ||
        strlen(dir) + STORAGE_NAME_BYTES_MAX + 2u > STORAGE_PATH_BYTES_MAX) {
        storage_message(report->message, sizeof(report->message), "wal: invalid options or dir");
        return BALLOT_EINVAL;
    }
    wal_t *wal = calloc(1, sizeof(*wal));
    if (wal == NULL) {
        storage_message(report->message, sizeof(report->message), "wal: out of memory");
        return BALLOT_ENOMEM;
    }
    wal->io = io;
    wal->options = *options;
    wal->fd = -1;
    storage_message(wal->dir, sizeof(wal->dir), "%s", dir);
    replay_t st = {.wal = wal, .recover = recover, .ctx = ctx, .report = report};
    int rc = open_segments(&st);
    if (rc != BALLOT_OK) {
        wal_close(wal);
        return rc;
    }
    if (!report->created) {
        /* From here on everything replayed counts as synced: a later cut of it is
         * corruption, not a torn tail. */
        int seal = wal_seal(wal);
        if (seal != 0) {
            storage_message(report->message, sizeof(report->message),
                            "wal: sealing %s after recovery failed: %s", dir, strerror(seal));
            wal_close(wal);
            return storage_errno_to_err(seal) == BALLOT_ENOMEM ? BALLOT_ENOMEM : BALLOT_EIO;
        }
    }
    const wal_segment_t *last = &wal->segments[wal->segment_count - 1];
    wal->next_lsn = last->first_lsn + last->records;
    wal->promise_max = st.summary.promise_max;
    report->first_lsn = wal->segments[0].first_lsn;
    report->next_lsn = wal->next_lsn;
    if (report->message[0] == '\0') {
        storage_message(report->message, sizeof(report->message),
                        "wal: replayed %llu records from %u segments in %s",
                        (unsigned long long)report->records, report->segments, dir);
    }
    *out = wal;
    return BALLOT_OK;
}

static int rename_aside(const storage_io_t *io, const char *dir, uint64_t lsn, char *msg,
                        size_t msg_bytes)
{
    char name[STORAGE_NAME_BYTES_MAX];
    char aside[STORAGE_NAME_BYTES_MAX];
    char from[STORAGE_PATH_BYTES_MAX];
    char to[STORAGE_PATH_BYTES_MAX];
    storage_name_format(name, WAL_SEGMENT_PREFIX, lsn, WAL_SEGMENT_SUFFIX);
    storage_name_format(aside, WAL_SEGMENT_PREFIX, lsn, WAL_DISCARD_SUFFIX);
    if (!storage_path(from, dir, name) || !storage_path(to, dir, aside)) {
        storage_message(msg, msg_bytes, "wal: dir name too long");
        return BALLOT_EINVAL;
    }
    int rc = io->rename(io->ctx, from, to);
    if (rc != 0) {
        storage_message(msg, msg_bytes, "wal: renaming %s failed: %s", from, strerror(rc));
        return BALLOT_EIO;
    }
    return BALLOT_OK;
}

int wal_discard(const char *dir, const storage_io_t *io, char *msg, size_t msg_bytes)
{
    segment_list_t list;
    int rc = list_segments(io, dir, &list);
    if (rc == ENOENT) {
        return BALLOT_OK;
    }
    if (rc != 0) {
        storage_message(msg, msg_bytes, "wal: cannot list %s: %s", dir, strerror(rc));
        return BALLOT_EIO;
    }
    int err = BALLOT_OK;
    for (uint32_t i = 0; i < list.count && err == BALLOT_OK; i++) {
        err = rename_aside(io, dir, list.lsns[i], msg, msg_bytes);
    }
    free(list.lsns);
    if (err != BALLOT_OK) {
        return err;
    }
    rc = io->fsync_dir(io->ctx, dir);
    if (rc != 0) {
        storage_message(msg, msg_bytes, "wal: fsync of %s failed: %s", dir, strerror(rc));
        return BALLOT_EIO;
    }
    return BALLOT_OK;
}
