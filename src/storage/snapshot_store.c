/* Snapshot files in a directory: atomic write with pruning, newest-valid read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "storage/internal.h"
#include "storage/snapshot.h"
#include "storage/snapshot_internal.h"

/* The newest SNAPSHOT_FILES_MAX snapshot slots and temp files in a directory. */
typedef struct snapshot_list {
    uint64_t slots[SNAPSHOT_FILES_MAX];
    uint32_t count;
    uint64_t temps[SNAPSHOT_FILES_MAX];
    uint32_t temp_count;
} snapshot_list_t;

static void keep_newest(uint64_t *slots, uint32_t *count, uint64_t slot)
{
    if (*count < SNAPSHOT_FILES_MAX) {
        slots[(*count)++] = slot;
        return;
    }
    uint32_t lowest = 0;
    for (uint32_t i = 1; i < *count; i++) {
        if (slots[i] < slots[lowest]) {
            lowest = i;
        }
    }
    if (slot > slots[lowest]) {
        slots[lowest] = slot;
    }
}

static int collect_snapshot(void *fn_ctx, const char *name)
{
    snapshot_list_t *list = fn_ctx;
    uint64_t slot = 0;
    if (storage_name_parse(name, SNAPSHOT_PREFIX, SNAPSHOT_SUFFIX, &slot)) {
        keep_newest(list->slots, &list->count, slot);
    } else if (storage_name_parse(name, SNAPSHOT_PREFIX, SNAPSHOT_TEMP_SUFFIX, &slot)) {
        keep_newest(list->temps, &list->temp_count, slot);
    }
    return 0;
}

static int compare_descending(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x > y ? -1 : (x < y ? 1 : 0);
}

static int list_snapshots(const storage_io_t *io, const char *dir, snapshot_list_t *list)
{
    memset(list, 0, sizeof(*list));
    int rc = io->list_dir(io->ctx, dir, collect_snapshot, list);
    qsort(list->slots, list->count, sizeof(list->slots[0]), compare_descending);
    return rc;
}

static int snapshot_file_path(char *path, const char *dir, uint64_t slot, const char *suffix)
{
    char name[STORAGE_NAME_BYTES_MAX];
    storage_name_format(name, SNAPSHOT_PREFIX, slot, suffix);
    return storage_path(path, dir, name) ? 0 : ENAMETOOLONG;
}

/* Writes header, data and block table to an open temp file and syncs it. */
static int write_contents(const storage_io_t *io, int fd, uint64_t slot, const uint8_t *bytes,
                          uint64_t size)
{
    size_t table_bytes = (size_t)(4u * snapshot_block_count(size));
    uint8_t *table = malloc(table_bytes > 0 ? table_bytes : 1u);
    if (table == NULL) {
        return ENOMEM;
    }
    snapshot_block_table(bytes, size, table);
    uint8_t header[SNAPSHOT_HEADER_BYTES];
    snapshot_encode_header(header, slot, size, crc32c(table, table_bytes));
    int rc = storage_write_all(io, fd, header, sizeof(header), 0);
    if (rc == 0) {
        rc = storage_write_all(io, fd, bytes, (size_t)size, SNAPSHOT_HEADER_BYTES);
    }
    if (rc == 0) {
        rc = storage_write_all(io, fd, table, table_bytes, SNAPSHOT_HEADER_BYTES + size);
    }
    free(table);
    if (rc == 0) {
        rc = io->fdatasync(io->ctx, fd);
    }
    return rc;
}

static int write_failed(const storage_io_t *io, const char *temp, int fd, int rc, char *msg,
                        size_t msg_bytes)
{
    if (fd >= 0) {
        (void)io->close(io->ctx, fd);
    }
    (void)io->unlink(io->ctx, temp); /* best effort; the next write removes leftovers */
    storage_message(msg, msg_bytes, "snapshot: writing %s failed: %s", temp, strerror(rc));
    int err = storage_errno_to_err(rc);
    return err == BALLOT_ENOSPC || err == BALLOT_ENOMEM ? err : BALLOT_EIO;
}

/* Removes all but the SNAPSHOT_KEEP newest snapshots and every leftover temp file. */
static int prune(const char *dir, const storage_io_t *io, uint64_t *compact_slot, char *msg,
                 size_t msg_bytes)
{
    snapshot_list_t list;
    int rc = list_snapshots(io, dir, &list);
    uint32_t kept = list.count < SNAPSHOT_KEEP ? list.count : SNAPSHOT_KEEP;
    for (uint32_t i = kept; i < list.count && rc == 0; i++) {
        char path[STORAGE_PATH_BYTES_MAX];
        rc = snapshot_file_path(path, dir, list.slots[i], SNAPSHOT_SUFFIX);
        rc = rc == 0 ? io->unlink(io->ctx, path) : rc;
    }
    for (uint32_t i = 0; i < list.temp_count && rc == 0; i++) {
        char path[STORAGE_PATH_BYTES_MAX];
        rc = snapshot_file_path(path, dir, list.temps[i], SNAPSHOT_TEMP_SUFFIX);
        rc = rc == 0 ? io->unlink(io->ctx, path) : rc;
    }
    if (rc == 0 && (list.count > kept || list.temp_count > 0)) {
        rc = io->fsync_dir(io->ctx, dir);
    }
    if (compact_slot != NULL) {
        *compact_slot = kept > 0 ? list.slots[kept - 1u] : 0;
    }
    if (rc != 0) {
        storage_message(msg, msg_bytes, "snapshot: removing old snapshots in %s failed: %s", dir,
                        strerror(rc));
        return BALLOT_EIO;
    }
    return BALLOT_OK;
}

int snapshot_write(const char *dir, const storage_io_t *io, uint64_t slot, const void *bytes,
                   uint64_t size, uint64_t *compact_slot, char *msg, size_t msg_bytes)
{
    char temp[STORAGE_PATH_BYTES_MAX];
    char final[STORAGE_PATH_BYTES_MAX];
    if (slot == 0 || size > SNAPSHOT_BYTES_MAX || (size > 0 && bytes == NULL) ||
        snapshot_file_path(temp, dir, slot, SNAPSHOT_TEMP_SUFFIX) != 0 ||
        snapshot_file_path(final, dir, slot, SNAPSHOT_SUFFIX) != 0) {
        storage_message(msg, msg_bytes, "snapshot: invalid slot, size or dir");
        return BALLOT_EINVAL;
    }
    int fd = -1;
    int rc = io->open(io->ctx, temp, STORAGE_OPEN_CREATE | STORAGE_OPEN_TRUNCATE, &fd);
    if (rc != 0) {
        return write_failed(io, temp, -1, rc, msg, msg_bytes);
    }
    rc = write_contents(io, fd, slot, bytes, size);
    if (rc != 0) {
        return write_failed(io, temp, fd, rc, msg, msg_bytes);
    }
    (void)io->close(io->ctx, fd); /* synced above: a close error loses nothing */
    /* rename + directory fsync make the new name durable, pointing at synced bytes. */
    rc = io->rename(io->ctx, temp, final);
    if (rc == 0) {
        rc = io->fsync_dir(io->ctx, dir);
    }
    if (rc != 0) {
        return write_failed(io, temp, -1, rc, msg, msg_bytes);
    }
    return prune(dir, io, compact_slot, msg, msg_bytes);
}

/* Reads and verifies one snapshot file. BALLOT_ECORRUPT appends the reason to report. */
static int read_one(const char *dir, const storage_io_t *io, uint64_t slot, snapshot_t *out,
                    snapshot_report_t *report)
{
    char path[STORAGE_PATH_BYTES_MAX];
    if (snapshot_file_path(path, dir, slot, SNAPSHOT_SUFFIX) != 0) {
        return BALLOT_EINVAL;
    }
    int fd = -1;
    int rc = io->open(io->ctx, path, 0, &fd);
    uint8_t *file = NULL;
    uint64_t file_size = 0;
    if (rc == 0) {
        rc = storage_read_file(io, fd, SNAPSHOT_FILE_BYTES_MAX, &file, &file_size);
        (void)io->close(io->ctx, fd);
    }
    char why[256] = "file over the size bound";
    int err = rc == 0 ? BALLOT_OK : (rc == EFBIG ? BALLOT_ECORRUPT : storage_errno_to_err(rc));
    if (err == BALLOT_OK) {
        err = snapshot_parse(file, file_size, out, why, sizeof(why));
    }
    if (err == BALLOT_OK && out->slot != slot) {
        storage_message(why, sizeof(why), "header names slot %llu at offset 16",
                        (unsigned long long)out->slot);
        err = BALLOT_ECORRUPT;
    }
    if (err == BALLOT_OK) {
        memmove(file, file + SNAPSHOT_HEADER_BYTES, (size_t)out->size);
        out->bytes = out->size > 0 ? file : NULL;
        if (out->size == 0) {
            free(file);
        }
        return BALLOT_OK;
    }
    free(file);
    memset(out, 0, sizeof(*out));
    if (err == BALLOT_ECORRUPT) {
        size_t used = strlen(report->message);
        storage_message(report->message + used, sizeof(report->message) - used, "%s%s: %s",
                        used > 0 ? "; " : "skipped ", path, why);
    } else {
        storage_message(report->message, sizeof(report->message), "snapshot: reading %s failed: %s",
                        path, strerror(rc));
    }
    return err;
}

int snapshot_read_latest(const char *dir, const storage_io_t *io, snapshot_t *out,
                         snapshot_report_t *report)
{
    memset(out, 0, sizeof(*out));
    memset(report, 0, sizeof(*report));
    snapshot_list_t list;
    int rc = list_snapshots(io, dir, &list);
    if (rc == ENOENT || (rc == 0 && list.count == 0)) {
        storage_message(report->message, sizeof(report->message), "snapshot: none in %s", dir);
        return BALLOT_OK;
    }
    if (rc != 0) {
        storage_message(report->message, sizeof(report->message), "snapshot: cannot list %s: %s",
                        dir, strerror(rc));
        return BALLOT_EIO;
    }
    for (uint32_t i = 0; i < list.count; i++) {
        int err = read_one(dir, io, list.slots[i], out, report);
        if (err == BALLOT_OK) {
            report->found = true;
            return BALLOT_OK;
        }
        if (err != BALLOT_ECORRUPT) {
            return err;
        }
        report->skipped++;
    }
    size_t used = strlen(report->message);
    storage_message(report->message + used, sizeof(report->message) - used,
                    "; no snapshot in %s verifies", dir);
    return BALLOT_ECORRUPT;
}
