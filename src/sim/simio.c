#include "sim/simio.h"

#include "base/crc32c.h"

#include "core/check.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int buf_reserve(simio_buf_t *b, size_t size)
{
    if (size > SIMIO_FILE_BYTES_MAX) {
        return ENOSPC;
    }
    if (size <= b->capacity) {
        return 0;
    }
    size_t capacity = b->capacity == 0 ? 4096 : b->capacity;
    while (capacity < size) {
        capacity *= 2;
    }
    uint8_t *bytes = realloc(b->bytes, capacity);
    if (bytes == NULL) {
        return ENOMEM;
    }
    b->bytes = bytes;
    b->capacity = capacity;
    return 0;
}

/* Sets b's size, zero-filling any growth. */
static int buf_resize(simio_buf_t *b, size_t size)
{
    int rc = buf_reserve(b, size);
    if (rc != 0) {
        return rc;
    }
    if (size > b->size) {
        memset(b->bytes + b->size, 0, size - b->size);
    }
    b->size = size;
    return 0;
}

static void file_free(simio_file_t *f)
{
    free(f->data.bytes);
    free(f->synced.bytes);
    memset(f, 0, sizeof(*f));
}

static simio_file_t *file_of(simio_t *s, int fd)
{
    if (fd < 0 || (unsigned)fd >= SIMIO_HANDLES_MAX || s->handles[fd] < 0) {
        return NULL;
    }
    return &s->files[s->handles[fd]];
}

static bool file_open(const simio_t *s, uint32_t index)
{
    for (uint32_t h = 0; h < SIMIO_HANDLES_MAX; h++) {
        if (s->handles[h] == (int32_t)index) {
            return true;
        }
    }
    return false;
}

static int32_t find_live(const simio_t *s, const char *path)
{
    for (uint32_t i = 0; i < SIMIO_FILES_MAX; i++) {
        if (s->files[i].live && strcmp(s->files[i].name, path) == 0) {
            return (int32_t)i;
        }
    }
    return -1;
}

static bool in_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && path[n] == '/' && strchr(path + n + 1, '/') == NULL;
}

static int io_open(void *ctx, const char *path, unsigned flags, int *fd_out)
{
    simio_t *s = ctx;
    if (strlen(path) >= SIMIO_PATH_BYTES) {
        return ENAMETOOLONG;
    }
    int32_t index = find_live(s, path);
    if (index < 0) {
        if (!(flags & STORAGE_OPEN_CREATE)) {
            return ENOENT;
        }
        for (uint32_t i = 0; i < SIMIO_FILES_MAX && index < 0; i++) {
            if (!s->files[i].live && !s->files[i].durable && !file_open(s, i)) {
                index = (int32_t)i;
            }
        }
        if (index < 0) {
            return ENOSPC;
        }
        simio_file_t *f = &s->files[index];
        file_free(f);
        f->live = true;
        snprintf(f->name, sizeof(f->name), "%s", path);
    }
    simio_file_t *f = &s->files[index];
    if (flags & STORAGE_OPEN_TRUNCATE) {
        f->data.size = 0;
        f->dirty_from = 0;
    }
    for (uint32_t h = 0; h < SIMIO_HANDLES_MAX; h++) {
        if (s->handles[h] < 0) {
            s->handles[h] = index;
            *fd_out = (int)h;
            return 0;
        }
    }
    return EMFILE;
}

static int io_close(void *ctx, int fd)
{
    simio_t *s = ctx;
    if (file_of(s, fd) == NULL) {
        return EBADF;
    }
    s->handles[fd] = -1;
    return 0;
}

static void mark_dirty(simio_file_t *f, size_t from)
{
    if (from < f->dirty_from) {
        f->dirty_from = from;
    }
}

static int io_pwrite(void *ctx, int fd, const void *buf, size_t size, uint64_t offset)
{
    simio_file_t *f = file_of(ctx, fd);
    if (f == NULL) {
        return EBADF;
    }
    if (offset > SIMIO_FILE_BYTES_MAX || size > SIMIO_FILE_BYTES_MAX - offset) {
        return ENOSPC;
    }
    size_t end = (size_t)offset + size;
    if (end > f->data.size) {
        mark_dirty(f, f->data.size);
        int rc = buf_resize(&f->data, end);
        if (rc != 0) {
            return rc;
        }
    }
    if (size > 0) {
        memcpy(f->data.bytes + offset, buf, size);
    }
    mark_dirty(f, (size_t)offset);
    return 0;
}

static int io_pread(void *ctx, int fd, void *buf, size_t size, uint64_t offset, size_t *read_bytes)
{
    simio_file_t *f = file_of(ctx, fd);
    if (f == NULL) {
        return EBADF;
    }
    size_t n = 0;
    if (offset < f->data.size) {
        n = f->data.size - (size_t)offset;
        n = n < size ? n : size;
        if (n > 0) {
            memcpy(buf, f->data.bytes + offset, n);
        }
    }
    *read_bytes = n;
    return 0;
}

static int io_fdatasync(void *ctx, int fd)
{
    simio_t *s = ctx;
    simio_file_t *f = file_of(s, fd);
    if (f == NULL) {
        return EBADF;
    }
    if (s->fail_next_fdatasync) {
        s->fail_next_fdatasync = false;
        return EIO;
    }
    size_t from = f->dirty_from < f->synced.size ? f->dirty_from : f->synced.size;
    int rc = buf_resize(&f->synced, f->data.size);
    if (rc != 0) {
        return rc;
    }
    if (from < f->data.size) {
        memcpy(f->synced.bytes + from, f->data.bytes + from, f->data.size - from);
    }
    f->dirty_from = f->data.size;
    return 0;
}

static int io_ftruncate(void *ctx, int fd, uint64_t size)
{
    simio_file_t *f = file_of(ctx, fd);
    if (f == NULL) {
        return EBADF;
    }
    if (size > SIMIO_FILE_BYTES_MAX) {
        return ENOSPC;
    }
    mark_dirty(f, (size_t)size < f->data.size ? (size_t)size : f->data.size);
    return buf_resize(&f->data, (size_t)size);
}

static int io_file_size(void *ctx, int fd, uint64_t *size_out)
{
    simio_file_t *f = file_of(ctx, fd);
    if (f == NULL) {
        return EBADF;
    }
    *size_out = f->data.size;
    return 0;
}

static int io_unlink(void *ctx, const char *path)
{
    simio_t *s = ctx;
    int32_t index = find_live(s, path);
    if (index < 0) {
        return ENOENT;
    }
    s->files[index].live = false;
    return 0;
}

static int io_rename(void *ctx, const char *from, const char *to)
{
    simio_t *s = ctx;
    if (strlen(to) >= SIMIO_PATH_BYTES) {
        return ENAMETOOLONG;
    }
    int32_t index = find_live(s, from);
    if (index < 0) {
        return ENOENT;
    }
    int32_t replaced = find_live(s, to);
    if (replaced >= 0 && replaced != index) {
        s->files[replaced].live = false;
    }
    snprintf(s->files[index].name, sizeof(s->files[index].name), "%s", to);
    return 0;
}

static int io_list_dir(void *ctx, const char *dir, storage_list_fn fn, void *fn_ctx)
{
    simio_t *s = ctx;
    size_t n = strlen(dir);
    for (uint32_t i = 0; i < SIMIO_FILES_MAX; i++) {
        const simio_file_t *f = &s->files[i];
        if (f->live && in_dir(f->name, dir)) {
            int rc = fn(fn_ctx, f->name + n + 1);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

static int io_fsync_dir(void *ctx, const char *dir)
{
    simio_t *s = ctx;
    for (uint32_t i = 0; i < SIMIO_FILES_MAX; i++) {
        simio_file_t *f = &s->files[i];
        bool named_here = f->live && in_dir(f->name, dir);
        bool was_here = f->durable && in_dir(f->durable_name, dir);
        if (named_here) {
            f->durable = true;
            memcpy(f->durable_name, f->name, sizeof(f->durable_name));
        } else if (was_here) {
            f->durable = false;
        }
        if (!f->live && !f->durable && !file_open(s, i)) {
            file_free(f);
        }
    }
    return 0;
}

static int io_mkdir(void *ctx, const char *dir)
{
    (void)ctx;
    (void)dir;
    return 0; /* directories are implicit in the names */
}

void simio_init(simio_t *s)
{
    memset(s, 0, sizeof(*s));
    for (uint32_t h = 0; h < SIMIO_HANDLES_MAX; h++) {
        s->handles[h] = -1;
    }
    s->io = (storage_io_t){.ctx = s,
                           .open = io_open,
                           .close = io_close,
                           .pwrite = io_pwrite,
                           .pread = io_pread,
                           .fdatasync = io_fdatasync,
                           .ftruncate = io_ftruncate,
                           .file_size = io_file_size,
                           .unlink = io_unlink,
                           .rename = io_rename,
                           .list_dir = io_list_dir,
                           .fsync_dir = io_fsync_dir,
                           .mkdir = io_mkdir};
}

void simio_destroy(simio_t *s)
{
    for (uint32_t i = 0; i < SIMIO_FILES_MAX; i++) {
        file_free(&s->files[i]);
    }
}

/* What survives of one durable file: its synced bytes and maybe a torn prefix of the
 * bytes appended after them. */
static simio_crash_result_t crash_file(simio_file_t *f, prng_t *rng, double torn_p,
                                       bool allow_garbage)
{
    size_t synced = f->synced.size;
    size_t kept = 0;
    simio_crash_result_t result = SIMIO_CRASH_CLEAN;
    if (f->data.size >= synced && f->dirty_from < synced && torn_p > 0.0) {
        /* Sectors overwritten in place (the WAL's synced-end copies): each write of a
         * sector is atomic, so each keeps its new bytes or its old ones. The choice is a
         * hash of the sector, not a draw, so the run's other draws stay as they were. */
        for (size_t at = f->dirty_from - f->dirty_from % SIMIO_SECTOR_BYTES; at < synced;
             at += SIMIO_SECTOR_BYTES) {
            size_t n = synced - at < SIMIO_SECTOR_BYTES ? synced - at : SIMIO_SECTOR_BYTES;
            if (memcmp(f->data.bytes + at, f->synced.bytes + at, n) != 0 &&
                (crc32c(f->data.bytes + at, n) & 1u) != 0) {
                memcpy(f->synced.bytes + at, f->data.bytes + at, n);
            }
        }
    }
    bool appended = f->data.size > synced;
    if (appended && prng_chance(rng, torn_p)) {
        kept = (size_t)prng_below(rng, f->data.size - synced);
        result = kept > 0 ? SIMIO_CRASH_TORN : SIMIO_CRASH_CLEAN;
        if (allow_garbage && kept > 0 && prng_chance(rng, 0.5)) {
            size_t garbage = (size_t)prng_range(rng, 1, kept < 64 ? kept : 64);
            for (size_t i = kept - garbage; i < kept; i++) {
                f->data.bytes[synced + i] = (uint8_t)prng_next(rng);
            }
            result = SIMIO_CRASH_GARBAGE;
        }
    }
    /* data = synced + the kept prefix of what followed it (shrinking never fails). */
    int rc = buf_resize(&f->data, synced + kept);
    assert(rc == 0);
    if (synced > 0) {
        memcpy(f->data.bytes, f->synced.bytes, synced);
    }
    rc = buf_resize(&f->synced, f->data.size);
    assert(rc == 0);
    (void)rc;
    if (f->data.size > 0) {
        memcpy(f->synced.bytes, f->data.bytes, f->data.size);
    }
    f->dirty_from = f->data.size;
    return result;
}

simio_crash_result_t simio_crash(simio_t *s, prng_t *rng, double torn_p, bool allow_garbage)
{
    simio_crash_result_t worst = SIMIO_CRASH_CLEAN;
    for (uint32_t h = 0; h < SIMIO_HANDLES_MAX; h++) {
        s->handles[h] = -1;
    }
    s->fail_next_fdatasync = false;
    for (uint32_t i = 0; i < SIMIO_FILES_MAX; i++) {
        simio_file_t *f = &s->files[i];
        if (!f->durable) {
            file_free(f);
            continue;
        }
        f->live = true;
        memcpy(f->name, f->durable_name, sizeof(f->name));
        simio_crash_result_t r = crash_file(f, rng, torn_p, allow_garbage);
        worst = r > worst ? r : worst;
    }
    return worst;
}

size_t simio_unsynced_bytes(const simio_t *s)
{
    size_t total = 0;
    for (uint32_t i = 0; i < SIMIO_FILES_MAX; i++) {
        const simio_file_t *f = &s->files[i];
        if (f->live && f->data.size > f->dirty_from) {
            total += f->data.size - f->dirty_from;
        }
    }
    return total;
}
