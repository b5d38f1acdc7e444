/* An LD_PRELOAD shim for whole ballotd processes under the nemesis suite
 * (docs/reliability.md): the fault is read from a control file that the test rewrites while
 * the node runs, so disk faults can start and stop from outside. tests/storage/fault_shim.c
 * is the in-process variant (armed through a function call by a unit test).
 *
 * BALLOT_DISK_SHIM_CTL names the control file. Its first line:
 *   (empty, missing, or "none")   every call goes straight to libc
 *   "eio fdatasync"               fdatasync and fsync fail with EIO
 *   "eio pwrite"                  pwrite fails with EIO
 *   "enospc pwrite"               pwrite fails with ENOSPC (a full disk)
 *   "slow fdatasync MS"           fdatasync and fsync take MS ms longer (at most 10000)
 * Only files whose descriptor names a path under BALLOT_DISK_SHIM_DIR (when set) are
 * affected. The file is read again at most every 20 ms. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define SHIM_REREAD_NS   20000000LL
#define SHIM_SLOW_MAX_MS 10000L

enum shim_kind { SHIM_NONE, SHIM_EIO_SYNC, SHIM_EIO_WRITE, SHIM_ENOSPC_WRITE, SHIM_SLOW_SYNC };

static pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;
static enum shim_kind shim_kind_now = SHIM_NONE;
static long shim_slow_ms = 0;
static long long shim_read_at = -1;

/* The real monotonic clock (a raw syscall, so libfaketime in the same process does not
 * change how often the file is read). */
static long long shim_now_ns(void)
{
    struct timespec ts;
    if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0) {
        return 0;
    }
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void shim_reload(void)
{
    long long now = shim_now_ns();
    if (shim_read_at >= 0 && now - shim_read_at < SHIM_REREAD_NS) {
        return;
    }
    shim_read_at = now;
    shim_kind_now = SHIM_NONE;
    const char *path = getenv("BALLOT_DISK_SHIM_CTL");
    if (path == NULL) {
        return;
    }
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return;
    }
    char line[128] = {0};
    if (fgets(line, (int)sizeof(line), f) != NULL) {
        long ms = 0;
        if (strncmp(line, "eio fdatasync", 13) == 0) {
            shim_kind_now = SHIM_EIO_SYNC;
        } else if (strncmp(line, "eio pwrite", 10) == 0) {
            shim_kind_now = SHIM_EIO_WRITE;
        } else if (strncmp(line, "enospc pwrite", 13) == 0) {
            shim_kind_now = SHIM_ENOSPC_WRITE;
        } else if (sscanf(line, "slow fdatasync %ld", &ms) == 1 && ms > 0) {
            shim_kind_now = SHIM_SLOW_SYNC;
            shim_slow_ms = ms < SHIM_SLOW_MAX_MS ? ms : SHIM_SLOW_MAX_MS;
        }
    }
    fclose(f);
}

/* True when fd is a file under BALLOT_DISK_SHIM_DIR (or that variable is unset). */
static bool shim_fd_in_scope(int fd)
{
    const char *dir = getenv("BALLOT_DISK_SHIM_DIR");
    if (dir == NULL || dir[0] == '\0') {
        return true;
    }
    char link[64];
    char target[4096];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0) {
        return false;
    }
    target[n] = '\0';
    return strncmp(target, dir, strlen(dir)) == 0;
}

static enum shim_kind shim_current(long *slow_ms)
{
    pthread_mutex_lock(&shim_lock);
    shim_reload();
    enum shim_kind k = shim_kind_now;
    *slow_ms = shim_slow_ms;
    pthread_mutex_unlock(&shim_lock);
    return k;
}

static void *shim_real(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

typedef ssize_t (*shim_pwrite_fn)(int, const void *, size_t, off_t);
typedef int (*shim_sync_fn)(int);

static ssize_t shim_pwrite(const char *name, int fd, const void *buf, size_t n, off_t offset)
{
    long slow_ms = 0;
    enum shim_kind k = shim_current(&slow_ms);
    if ((k == SHIM_EIO_WRITE || k == SHIM_ENOSPC_WRITE) && shim_fd_in_scope(fd)) {
        errno = k == SHIM_EIO_WRITE ? EIO : ENOSPC;
        return -1;
    }
    shim_pwrite_fn fn;
    void *sym = shim_real(name);
    memcpy(&fn, &sym, sizeof(fn));
    return fn(fd, buf, n, offset);
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
    long slow_ms = 0;
    enum shim_kind k = shim_current(&slow_ms);
    if (k == SHIM_EIO_SYNC && shim_fd_in_scope(fd)) {
        errno = EIO;
        return -1;
    }
    if (k == SHIM_SLOW_SYNC && shim_fd_in_scope(fd)) {
        struct timespec ts = {.tv_sec = slow_ms / 1000, .tv_nsec = (slow_ms % 1000) * 1000000L};
        /* The raw syscall: libfaketime would scale a libc nanosleep. */
        while (syscall(SYS_nanosleep, &ts, &ts) != 0 && errno == EINTR) {
        }
    }
    shim_sync_fn fn;
    void *sym = shim_real(name);
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
