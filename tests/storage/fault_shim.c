/* An LD_PRELOAD shim that makes real syscalls fail on demand, so the storage code's POSIX
 * backend meets true EIO/ENOSPC from pwrite, fdatasync and fsync. A test arms it through
 * ballot_shim_arm (found with dlsym); unarmed, every call goes straight to libc. */
#include <dlfcn.h>
#include <stdbool.h>
#include <errno.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define SHIM_CALL_BYTES 16

static struct {
    char call[SHIM_CALL_BYTES];
    int err;
    unsigned skip;  /* calls to let through first */
    unsigned count; /* calls to fail after that */
    bool short_write;
} armed;

/* Fails `count` calls of `call` ("pwrite", "fdatasync", "fsync") with err, after letting
 * `skip` through. A failing pwrite of 2+ bytes first writes half and reports that (a short
 * write, as a filling disk does); the caller's next pwrite gets the error. */
void ballot_shim_arm(const char *call, int err, unsigned skip, unsigned count)
{
    strncpy(armed.call, call, SHIM_CALL_BYTES - 1);
    armed.err = err;
    armed.skip = skip;
    armed.count = count;
    armed.short_write = false;
}

static int shim_fire(const char *call)
{
    if (armed.count == 0 || strcmp(armed.call, call) != 0) {
        return 0;
    }
    if (armed.skip > 0) {
        armed.skip--;
        return 0;
    }
    armed.count--;
    return armed.err;
}

static void *real(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef int (*sync_fn)(int);

static ssize_t shim_pwrite(const char *name, int fd, const void *buf, size_t n, off_t offset)
{
    pwrite_fn fn;
    void *sym = real(name);
    memcpy(&fn, &sym, sizeof(fn));
    if (armed.short_write) {
        armed.short_write = false;
        errno = armed.err;
        return -1;
    }
    int err = shim_fire("pwrite");
    if (err == 0) {
        return fn(fd, buf, n, offset);
    }
    if (n >= 2) {
        armed.short_write = true;
        return fn(fd, buf, n / 2u, offset);
    }
    errno = err;
    return -1;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t offset)
{
    return shim_pwrite("pwrite", fd, buf, n, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t offset)
{
    return shim_pwrite("pwrite64", fd, buf, n, offset);
}

static int shim_sync(const char *name, int fd)
{
    int err = shim_fire(name);
    if (err != 0) {
        errno = err;
        return -1;
    }
    sync_fn fn;
    void *sym = real(name);
    memcpy(&fn, &sym, sizeof(fn));
    return fn(fd);
}

int fdatasync(int fd)
{
    return shim_sync("fdatasync", fd);
}

int fsync(int fd)
{
    return shim_sync("fsync", fd);
}
