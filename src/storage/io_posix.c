/* The storage backend on the real file system. Each call maps to one POSIX call (or a loop
 * of them for short transfers), and returns errno on failure, as io.h requires. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/io.h"

#define POSIX_FILE_MODE 0644
#define POSIX_DIR_MODE  0755
/* Bytes one pwrite/pread syscall moves at most (Linux moves at most ~2 GiB per call). */
#define POSIX_CHUNK_BYTES ((size_t)1u << 30)
/* Directory entries list_dir visits before giving up (a bound on a runaway directory). */
#define POSIX_DIR_ENTRIES_MAX 10000000u

static int errno_or_eio(void)
{
    return errno != 0 ? errno : EIO;
}

static int posix_open(void *ctx, const char *path, unsigned flags, int *fd_out)
{
    (void)ctx;
    int oflags = O_RDWR | O_CLOEXEC;
    if (flags & STORAGE_OPEN_CREATE) {
        oflags |= O_CREAT;
    }
    if (flags & STORAGE_OPEN_TRUNCATE) {
        oflags |= O_TRUNC;
    }
    int fd;
    do {
        fd = open(path, oflags, POSIX_FILE_MODE);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        return errno_or_eio();
    }
    *fd_out = fd;
    return 0;
}

static int posix_close(void *ctx, int fd)
{
    (void)ctx;
    /* Linux releases the descriptor even when close reports EINTR: never retry. */
    return close(fd) == 0 ? 0 : errno_or_eio();
}

static int posix_pwrite(void *ctx, int fd, const void *buf, size_t size, uint64_t offset)
{
    (void)ctx;
    const char *p = buf;
    while (size > 0) {
        size_t chunk = size < POSIX_CHUNK_BYTES ? size : POSIX_CHUNK_BYTES;
        ssize_t n = pwrite(fd, p, chunk, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno_or_eio();
        }
        if (n == 0) {
            return EIO; /* pwrite never returns 0 for size > 0 on a regular file */
        }
        p += n;
        size -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

static int posix_pread(void *ctx, int fd, void *buf, size_t size, uint64_t offset,
                       size_t *read_bytes)
{
    (void)ctx;
    char *p = buf;
    size_t done = 0;
    while (done < size) {
        size_t want = size - done < POSIX_CHUNK_BYTES ? size - done : POSIX_CHUNK_BYTES;
        ssize_t n = pread(fd, p + done, want, (off_t)(offset + done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno_or_eio();
        }
        if (n == 0) {
            break;
        }
        done += (size_t)n;
    }
    *read_bytes = done;
    return 0;
}

static int posix_fdatasync(void *ctx, int fd)
{
    (void)ctx;
    /* No retry on EINTR either: after any failure the dirty pages may be gone. */
    return fdatasync(fd) == 0 ? 0 : errno_or_eio();
}

static int posix_ftruncate(void *ctx, int fd, uint64_t size)
{
    (void)ctx;
    if (size > (uint64_t)LLONG_MAX) {
        return EINVAL;
    }
    return ftruncate(fd, (off_t)size) == 0 ? 0 : errno_or_eio();
}

static int posix_file_size(void *ctx, int fd, uint64_t *size_out)
{
    (void)ctx;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return errno_or_eio();
    }
    *size_out = (uint64_t)st.st_size;
    return 0;
}

static int posix_unlink(void *ctx, const char *path)
{
    (void)ctx;
    return unlink(path) == 0 ? 0 : errno_or_eio();
}

static int posix_rename(void *ctx, const char *from, const char *to)
{
    (void)ctx;
    return rename(from, to) == 0 ? 0 : errno_or_eio();
}

static int posix_list_dir(void *ctx, const char *dir, storage_list_fn fn, void *fn_ctx)
{
    (void)ctx;
    DIR *d = opendir(dir);
    if (d == NULL) {
        return errno_or_eio();
    }
    int rc = 0;
    for (uint32_t i = 0; i < POSIX_DIR_ENTRIES_MAX; i++) {
        errno = 0;
        struct dirent *entry = readdir(d);
        if (entry == NULL) {
            rc = errno; /* 0 at the end of the directory */
            break;
        }
        const char *name = entry->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) {
            continue;
        }
        rc = fn(fn_ctx, name);
        if (rc != 0) {
            break;
        }
    }
    closedir(d);
    return rc;
}

static int posix_fsync_dir(void *ctx, const char *dir)
{
    (void)ctx;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return errno_or_eio();
    }
    int rc = fsync(fd) == 0 ? 0 : errno_or_eio();
    close(fd);
    return rc;
}

static int posix_mkdir(void *ctx, const char *dir)
{
    (void)ctx;
    if (mkdir(dir, POSIX_DIR_MODE) == 0) {
        return 0;
    }
    if (errno != EEXIST) {
        return errno_or_eio();
    }
    struct stat st;
    if (stat(dir, &st) != 0) {
        return errno_or_eio();
    }
    return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

static const storage_io_t posix_io = {
    .ctx = NULL,
    .open = posix_open,
    .close = posix_close,
    .pwrite = posix_pwrite,
    .pread = posix_pread,
    .fdatasync = posix_fdatasync,
    .ftruncate = posix_ftruncate,
    .file_size = posix_file_size,
    .unlink = posix_unlink,
    .rename = posix_rename,
    .list_dir = posix_list_dir,
    .fsync_dir = posix_fsync_dir,
    .mkdir = posix_mkdir,
};

const storage_io_t *storage_io_posix(void)
{
    return &posix_io;
}
