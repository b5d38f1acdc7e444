/* The in-memory storage backend with a crash model and fault hooks (memio.h). */
#include "storage/memio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"

typedef struct memio_inode {
    bool used;
    uint8_t *data; /* current bytes */
    uint64_t size;
    uint8_t *durable; /* bytes as of the last successful fdatasync */
    uint64_t durable_size;
} memio_inode_t;

typedef struct memio_name {
    char *path; /* NULL: free entry */
    uint32_t inode;
} memio_name_t;

typedef struct memio_handle {
    bool used;
    uint32_t inode;
    char *path;
} memio_handle_t;

struct memio {
    storage_io_t io;
    memio_inode_t inodes[MEMIO_FILES_MAX];
    memio_name_t names[MEMIO_FILES_MAX];   /* the directory as it is now */
    memio_name_t durable[MEMIO_FILES_MAX]; /* the directory as a crash would leave it */
    memio_handle_t handles[MEMIO_HANDLES_MAX];
    char *dirs[MEMIO_FILES_MAX];
    uint64_t capacity_bytes;
    memio_fault_fn fault;
    void *fault_ctx;
};

static int fault(memio_t *m, memio_op_t op, const char *path, uint64_t offset, size_t size,
                 size_t *torn)
{
    *torn = 0;
    return m->fault != NULL ? m->fault(m->fault_ctx, op, path, offset, size, torn) : 0;
}

static memio_name_t *name_find(memio_name_t *names, const char *path)
{
    for (uint32_t i = 0; i < MEMIO_FILES_MAX; i++) {
        if (names[i].path != NULL && strcmp(names[i].path, path) == 0) {
            return &names[i];
        }
    }
    return NULL;
}

static int name_set(memio_name_t *names, const char *path, uint32_t inode)
{
    memio_name_t *found = name_find(names, path);
    if (found != NULL) {
        found->inode = inode;
        return 0;
    }
    for (uint32_t i = 0; i < MEMIO_FILES_MAX; i++) {
        if (names[i].path == NULL) {
            names[i].path = strdup(path);
            names[i].inode = inode;
            return names[i].path != NULL ? 0 : ENOMEM;
        }
    }
    return ENOSPC;
}

static void name_clear(memio_name_t *name)
{
    free(name->path);
    name->path = NULL;
}

/* Frees inodes no name (current or durable) and no handle refers to. */
static void collect_garbage(memio_t *m)
{
    bool live[MEMIO_FILES_MAX] = {false};
    for (uint32_t i = 0; i < MEMIO_FILES_MAX; i++) {
        if (m->names[i].path != NULL) {
            live[m->names[i].inode] = true;
        }
        if (m->durable[i].path != NULL) {
            live[m->durable[i].inode] = true;
        }
    }
    for (uint32_t i = 0; i < MEMIO_HANDLES_MAX; i++) {
        if (m->handles[i].used) {
            live[m->handles[i].inode] = true;
        }
    }
    for (uint32_t i = 0; i < MEMIO_FILES_MAX; i++) {
        if (m->inodes[i].used && !live[i]) {
            free(m->inodes[i].data);
            free(m->inodes[i].durable);
            memset(&m->inodes[i], 0, sizeof(m->inodes[i]));
        }
    }
}

static int inode_new(memio_t *m, uint32_t *out)
{
    for (uint32_t i = 0; i < MEMIO_FILES_MAX; i++) {
        if (!m->inodes[i].used) {
            m->inodes[i].used = true;
            *out = i;
            return 0;
        }
    }
    return ENOSPC;
}

/* Resizes a byte array to size, zero-filling growth. */
static int bytes_resize(uint8_t **bytes, uint64_t old_size, uint64_t size)
{
    if (size > MEMIO_FILE_BYTES_MAX) {
        return EFBIG;
    }
    uint8_t *grown = realloc(*bytes, size > 0 ? (size_t)size : 1u);
    if (grown == NULL) {
        return ENOMEM;
    }
    if (size > old_size) {
        memset(grown + old_size, 0, (size_t)(size - old_size));
    }
    *bytes = grown;
    return 0;
}

static uint64_t used_bytes(const memio_t *m)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < MEMIO_FILES_MAX; i++) {
        total += m->inodes[i].used ? m->inodes[i].size : 0;
    }
    return total;
}

static memio_handle_t *handle_get(memio_t *m, int fd)
{
    if (fd < 0 || (uint32_t)fd >= MEMIO_HANDLES_MAX || !m->handles[fd].used) {
        return NULL;
    }
    return &m->handles[fd];
}

static bool in_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && path[n] == '/' && strchr(path + n + 1, '/') == NULL;
}

static bool dir_known(const memio_t *m, const char *dir)
{
    for (uint32_t i = 0; i < MEMIO_FILES_MAX; i++) {
        if (m->dirs[i] != NULL && strcmp(m->dirs[i], dir) == 0) {
            return true;
        }
    }
    return false;
}

static int dir_add(memio_t *m, const char *dir)
{
    if (dir_known(m, dir)) {
        return 0;
    }
    for (uint32_t i = 0; i < MEMIO_FILES_MAX; i++) {
        if (m->dirs[i] == NULL) {
            m->dirs[i] = strdup(dir);
            return m->dirs[i] != NULL ? 0 : ENOMEM;
        }
    }
    return ENOSPC;
}

static int mem_open(void *ctx, const char *path, unsigned flags, int *fd_out)
{
    memio_t *m = ctx;
    size_t torn;
    int rc = fault(m, MEMIO_OP_OPEN, path, 0, 0, &torn);
    if (rc != 0) {
        return rc;
    }
    uint32_t fd = 0;
    while (fd < MEMIO_HANDLES_MAX && m->handles[fd].used) {
        fd++;
    }
    if (fd == MEMIO_HANDLES_MAX) {
        return EMFILE;
    }
    memio_name_t *name = name_find(m->names, path);
    uint32_t inode = 0;
    if (name != NULL) {
        inode = name->inode;
    } else if (!(flags & STORAGE_OPEN_CREATE)) {
        return ENOENT;
    } else if ((rc = inode_new(m, &inode)) != 0 || (rc = name_set(m->names, path, inode)) != 0) {
        collect_garbage(m);
        return rc;
    }
    char *copy = strdup(path);
    if (copy == NULL) {
        collect_garbage(m);
        return ENOMEM;
    }
    if (flags & STORAGE_OPEN_TRUNCATE) {
        m->inodes[inode].size = 0;
    }
    m->handles[fd] = (memio_handle_t){.used = true, .inode = inode, .path = copy};
    *fd_out = (int)fd;
    return 0;
}

static int mem_close(void *ctx, int fd)
{
    memio_t *m = ctx;
    memio_handle_t *h = handle_get(m, fd);
    if (h == NULL) {
        return EBADF;
    }
    free(h->path);
    memset(h, 0, sizeof(*h));
    collect_garbage(m);
    return 0;
}

static int mem_pwrite(void *ctx, int fd, const void *buf, size_t size, uint64_t offset)
{
    memio_t *m = ctx;
    memio_handle_t *h = handle_get(m, fd);
    if (h == NULL) {
        return EBADF;
    }
    memio_inode_t *inode = &m->inodes[h->inode];
    size_t torn = 0;
    int failure = fault(m, MEMIO_OP_PWRITE, h->path, offset, size, &torn);
    size_t count = failure != 0 ? (torn < size ? torn : size) : size;
    uint64_t end = offset + count;
    if (end > inode->size) {
        if (m->capacity_bytes != 0 && used_bytes(m) + (end - inode->size) > m->capacity_bytes) {
            return ENOSPC;
        }
        int rc = bytes_resize(&inode->data, inode->size, end);
        if (rc != 0) {
            return rc;
        }
        inode->size = end;
    }
    if (count > 0) {
        memcpy(inode->data + offset, buf, count);
    }
    return failure;
}

static int mem_pread(void *ctx, int fd, void *buf, size_t size, uint64_t offset, size_t *read_bytes)
{
    memio_t *m = ctx;
    memio_handle_t *h = handle_get(m, fd);
    if (h == NULL) {
        return EBADF;
    }
    size_t torn;
    int rc = fault(m, MEMIO_OP_PREAD, h->path, offset, size, &torn);
    if (rc != 0) {
        return rc;
    }
    const memio_inode_t *inode = &m->inodes[h->inode];
    uint64_t available = offset < inode->size ? inode->size - offset : 0;
    size_t count = available < size ? (size_t)available : size;
    if (count > 0) {
        memcpy(buf, inode->data + offset, count);
    }
    *read_bytes = count;
    return 0;
}

static int mem_fdatasync(void *ctx, int fd)
{
    memio_t *m = ctx;
    memio_handle_t *h = handle_get(m, fd);
    if (h == NULL) {
        return EBADF;
    }
    size_t torn;
    int rc = fault(m, MEMIO_OP_FDATASYNC, h->path, 0, 0, &torn);
    if (rc != 0) {
        return rc;
    }
    memio_inode_t *inode = &m->inodes[h->inode];
    rc = bytes_resize(&inode->durable, inode->durable_size, inode->size);
    if (rc != 0) {
        return rc;
    }
    if (inode->size > 0) {
        memcpy(inode->durable, inode->data, (size_t)inode->size);
    }
    inode->durable_size = inode->size;
    return 0;
}

static int mem_ftruncate(void *ctx, int fd, uint64_t size)
{
    memio_t *m = ctx;
    memio_handle_t *h = handle_get(m, fd);
    if (h == NULL) {
        return EBADF;
    }
    size_t torn;
    int rc = fault(m, MEMIO_OP_FTRUNCATE, h->path, size, 0, &torn);
    if (rc != 0) {
        return rc;
    }
    memio_inode_t *inode = &m->inodes[h->inode];
    rc = bytes_resize(&inode->data, inode->size, size);
    if (rc == 0) {
        inode->size = size;
    }
    return rc;
}

static int mem_file_size(void *ctx, int fd, uint64_t *size_out)
{
    memio_t *m = ctx;
    memio_handle_t *h = handle_get(m, fd);
    if (h == NULL) {
        return EBADF;
    }
    *size_out = m->inodes[h->inode].size;
    return 0;
}

static int mem_unlink(void *ctx, const char *path)
{
    memio_t *m = ctx;
    size_t torn;
    int rc = fault(m, MEMIO_OP_UNLINK, path, 0, 0, &torn);
    if (rc != 0) {
        return rc;
    }
    memio_name_t *name = name_find(m->names, path);
    if (name == NULL) {
        return ENOENT;
    }
    name_clear(name);
    collect_garbage(m);
    return 0;
}

static int mem_rename(void *ctx, const char *from, const char *to)
{
    memio_t *m = ctx;
    size_t torn;
    int rc = fault(m, MEMIO_OP_RENAME, from, 0, 0, &torn);
    if (rc != 0) {
        return rc;
    }
    memio_name_t *name = name_find(m->names, from);
    if (name == NULL) {
        return ENOENT;
    }
    uint32_t inode = name->inode;
    name_clear(name);
    rc = name_set(m->names, to, inode);
    collect_garbage(m);
    return rc;
}

static int mem_list_dir(void *ctx, const char *dir, storage_list_fn fn, void *fn_ctx)
{
    memio_t *m = ctx;
    size_t torn;
    int rc = fault(m, MEMIO_OP_LIST_DIR, dir, 0, 0, &torn);
    if (rc != 0) {
        return rc;
    }
    bool any = dir_known(m, dir);
    for (uint32_t i = 0; i < MEMIO_FILES_MAX && rc == 0; i++) {
        const char *path = m->names[i].path;
        if (path != NULL && in_dir(path, dir)) {
            any = true;
            rc = fn(fn_ctx, path + strlen(dir) + 1);
        }
    }
    return any ? rc : ENOENT;
}

static int mem_fsync_dir(void *ctx, const char *dir)
{
    memio_t *m = ctx;
    size_t torn;
    int rc = fault(m, MEMIO_OP_FSYNC_DIR, dir, 0, 0, &torn);
    if (rc != 0) {
        return rc;
    }
    for (uint32_t i = 0; i < MEMIO_FILES_MAX; i++) {
        if (m->durable[i].path != NULL && in_dir(m->durable[i].path, dir)) {
            name_clear(&m->durable[i]);
        }
    }
    for (uint32_t i = 0; i < MEMIO_FILES_MAX && rc == 0; i++) {
        if (m->names[i].path != NULL && in_dir(m->names[i].path, dir)) {
            rc = name_set(m->durable, m->names[i].path, m->names[i].inode);
        }
    }
    collect_garbage(m);
    return rc;
}

static int mem_mkdir(void *ctx, const char *dir)
{
    memio_t *m = ctx;
    size_t torn;
    int rc = fault(m, MEMIO_OP_MKDIR, dir, 0, 0, &torn);
    return rc != 0 ? rc : dir_add(m, dir);
}

memio_t *memio_create(void)
{
    memio_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    m->io = (storage_io_t){
        .ctx = m,
        .open = mem_open,
        .close = mem_close,
        .pwrite = mem_pwrite,
        .pread = mem_pread,
        .fdatasync = mem_fdatasync,
        .ftruncate = mem_ftruncate,
        .file_size = mem_file_size,
        .unlink = mem_unlink,
        .rename = mem_rename,
        .list_dir = mem_list_dir,
        .fsync_dir = mem_fsync_dir,
        .mkdir = mem_mkdir,
    };
    return m;
}

void memio_destroy(memio_t *m)
{
    if (m == NULL) {
        return;
    }
    for (uint32_t i = 0; i < MEMIO_FILES_MAX; i++) {
        free(m->inodes[i].data);
        free(m->inodes[i].durable);
        free(m->names[i].path);
        free(m->durable[i].path);
        free(m->dirs[i]);
    }
    for (uint32_t i = 0; i < MEMIO_HANDLES_MAX; i++) {
        free(m->handles[i].path);
    }
    free(m);
}

const storage_io_t *memio_io(memio_t *m)
{
    return &m->io;
}

void memio_set_fault(memio_t *m, memio_fault_fn fn, void *ctx)
{
    m->fault = fn;
    m->fault_ctx = ctx;
}

void memio_set_capacity(memio_t *m, uint64_t bytes)
{
    m->capacity_bytes = bytes;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

#define MEMIO_SECTOR_BYTES 512u

/* What survives of one file: its durable bytes, where each 512-byte sector overwritten in
 * place since the last sync may hold the new or the old bytes (sector writes are atomic),
 * plus (unless it shrank) a random prefix of its growth, as writeback may have reached the
 * disk. */
static void crash_inode(memio_inode_t *inode, uint64_t *rng, bool keep_some)
{
    uint64_t keep = inode->durable_size;
    bool grew = inode->size >= inode->durable_size;
    if (keep_some && grew) {
        for (uint64_t at = 0; at < inode->durable_size; at += MEMIO_SECTOR_BYTES) {
            uint64_t n = inode->durable_size - at;
            n = n < MEMIO_SECTOR_BYTES ? n : MEMIO_SECTOR_BYTES;
            if (memcmp(inode->data + at, inode->durable + at, (size_t)n) != 0 &&
                splitmix64(rng) % 2u == 0) {
                memcpy(inode->data + at, inode->durable + at, (size_t)n);
            }
        }
        keep += splitmix64(rng) % (inode->size - inode->durable_size + 1u);
        inode->size = keep;
    } else {
        int rc = bytes_resize(&inode->data, inode->size, keep);
        assert(rc == 0);
        if (keep > 0) {
            memcpy(inode->data, inode->durable, (size_t)keep);
        }
        inode->size = keep;
    }
    /* After the crash, what is on the disk is all there is. */
    int rc = bytes_resize(&inode->durable, inode->durable_size, inode->size);
    assert(rc == 0);
    if (inode->size > 0) {
        memcpy(inode->durable, inode->data, (size_t)inode->size);
    }
    inode->durable_size = inode->size;
}

void memio_crash(memio_t *m, uint64_t seed)
{
    for (uint32_t i = 0; i < MEMIO_HANDLES_MAX; i++) {
        free(m->handles[i].path);
        memset(&m->handles[i], 0, sizeof(m->handles[i]));
    }
    for (uint32_t i = 0; i < MEMIO_FILES_MAX; i++) {
        name_clear(&m->names[i]);
    }
    for (uint32_t i = 0; i < MEMIO_FILES_MAX; i++) {
        if (m->durable[i].path != NULL) {
            int rc = name_set(m->names, m->durable[i].path, m->durable[i].inode);
            assert(rc == 0);
        }
    }
    collect_garbage(m);
    uint64_t rng = seed;
    for (uint32_t i = 0; i < MEMIO_FILES_MAX; i++) {
        if (m->inodes[i].used) {
            crash_inode(&m->inodes[i], &rng, seed != 0);
        }
    }
}

static char *parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? strndup(path, (size_t)(slash - path)) : NULL;
}

int memio_put(memio_t *m, const char *path, const void *bytes, size_t size)
{
    char *dir = parent_dir(path);
    int rc = dir != NULL ? dir_add(m, dir) : 0;
    free(dir);
    memio_name_t *name = name_find(m->names, path);
    uint32_t inode = 0;
    if (rc == 0 && name == NULL) {
        rc = inode_new(m, &inode);
        rc = rc == 0 ? name_set(m->names, path, inode) : rc;
    } else if (rc == 0) {
        inode = name->inode;
    }
    rc = rc == 0 ? name_set(m->durable, path, inode) : rc;
    memio_inode_t *node = &m->inodes[inode];
    rc = rc == 0 ? bytes_resize(&node->data, node->size, size) : rc;
    rc = rc == 0 ? bytes_resize(&node->durable, node->durable_size, size) : rc;
    if (rc != 0) {
        collect_garbage(m);
        return rc;
    }
    if (size > 0) {
        memcpy(node->data, bytes, size);
        memcpy(node->durable, bytes, size);
    }
    node->size = size;
    node->durable_size = size;
    return 0;
}

int memio_get(memio_t *m, const char *path, uint8_t **bytes, size_t *size)
{
    memio_name_t *name = name_find(m->names, path);
    if (name == NULL) {
        return ENOENT;
    }
    const memio_inode_t *inode = &m->inodes[name->inode];
    uint8_t *copy = malloc(inode->size > 0 ? (size_t)inode->size : 1u);
    if (copy == NULL) {
        return ENOMEM;
    }
    if (inode->size > 0) {
        memcpy(copy, inode->data, (size_t)inode->size);
    }
    *bytes = copy;
    *size = (size_t)inode->size;
    return 0;
}

bool memio_flip_bit(memio_t *m, const char *path, uint64_t bit)
{
    memio_name_t *name = name_find(m->names, path);
    if (name == NULL) {
        return false;
    }
    memio_inode_t *inode = &m->inodes[name->inode];
    uint64_t byte = bit / 8u;
    if (byte >= inode->size) {
        return false;
    }
    uint8_t mask = (uint8_t)(1u << (bit % 8u));
    inode->data[byte] ^= mask;
    if (byte < inode->durable_size) {
        inode->durable[byte] ^= mask;
    }
    return true;
}

bool memio_set_length(memio_t *m, const char *path, uint64_t size)
{
    memio_name_t *name = name_find(m->names, path);
    if (name == NULL) {
        return false;
    }
    memio_inode_t *inode = &m->inodes[name->inode];
    if (bytes_resize(&inode->data, inode->size, size) != 0 ||
        bytes_resize(&inode->durable, inode->durable_size, size) != 0) {
        return false;
    }
    if (size > inode->durable_size && inode->size > inode->durable_size) {
        memcpy(inode->durable + inode->durable_size, inode->data + inode->durable_size,
               (size_t)((inode->size < size ? inode->size : size) - inode->durable_size));
    }
    inode->size = size;
    inode->durable_size = size;
    return true;
}

uint32_t memio_open_handles(const memio_t *m)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < MEMIO_HANDLES_MAX; i++) {
        count += m->handles[i].used ? 1u : 0u;
    }
    return count;
}
