/* IDENTITY and PEERS files (identity.h). Both are short text files an operator can read,
 * ending in a `crc <hex>` line: the CRC-32C of every byte before that line. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "core/error.h"
#include "server/config.h"
#include "server/identity.h"
#include "storage/io.h"

#define IDENTITY_MAGIC_LINE "ballot identity 1\n"
#define PEERS_MAGIC_LINE    "ballot peers 1\n"

const char *identity_origin_name(identity_origin_t origin)
{
    return origin == IDENTITY_FOUNDER ? "founder" : origin == IDENTITY_JOINED ? "joined" : "rejoin";
}

int identity_new(identity_t *out, uint64_t cluster_id, uint32_t node_id, identity_origin_t origin)
{
    memset(out, 0, sizeof(*out));
    out->cluster_id = cluster_id;
    out->node_id = node_id;
    out->origin = origin;
    for (int tries = 0; tries < 4 && out->incarnation == 0; tries++) {
        if (getrandom(&out->incarnation, sizeof(out->incarnation), 0) !=
            (ssize_t)sizeof(out->incarnation)) {
            return BALLOT_EIO;
        }
    }
    return out->incarnation != 0 ? BALLOT_OK : BALLOT_EIO;
}

/* Reads a whole small file: BALLOT_OK, BALLOT_ESTATE when it does not exist. */
static int read_small(const char *path, char *buf, size_t buf_bytes, size_t *size, char *msg,
                      size_t msg_bytes)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return BALLOT_ESTATE;
        }
        snprintf(msg, msg_bytes, "cannot open %s: %s", path, strerror(errno));
        return BALLOT_EIO;
    }
    size_t got = 0;
    for (;;) {
        if (got == buf_bytes - 1) {
            close(fd);
            snprintf(msg, msg_bytes, "%s: longer than %u bytes: not a Ballot file", path,
                     IDENTITY_FILE_BYTES_MAX);
            return BALLOT_ECORRUPT;
        }
        ssize_t n = read(fd, buf + got, buf_bytes - 1 - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            snprintf(msg, msg_bytes, "cannot read %s: %s", path, strerror(errno));
            close(fd);
            return BALLOT_EIO;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *size = got;
    return BALLOT_OK;
}

/* Checks the trailing `crc` line; on success *body_end is where that line starts. */
static bool check_crc(const char *buf, size_t size, size_t *body_end)
{
    if (size < 2 || buf[size - 1] != '\n' || strlen(buf) != size) {
        return false;
    }
    const char *last = buf + size - 1;
    while (last > buf && last[-1] != '\n') {
        last--;
    }
    unsigned int crc = 0;
    char tail = 0;
    if (sscanf(last, "crc %8x%c", &crc, &tail) != 2 || tail != '\n') {
        return false;
    }
    *body_end = (size_t)(last - buf);
    return crc32c(buf, *body_end) == (uint32_t)crc;
}

/* Writes text (with its crc line appended) to dir/name atomically and durably. */
static int write_atomic(const char *dir, const char *name, const char *text, char *msg,
                        size_t msg_bytes)
{
    char path[CONFIG_PATH_BYTES_MAX + 32];
    char tmp[CONFIG_PATH_BYTES_MAX + 40];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    char buf[IDENTITY_FILE_BYTES_MAX];
    int len =
        snprintf(buf, sizeof(buf), "%scrc %08x\n", text, (unsigned int)crc32c(text, strlen(text)));
    if (len < 0 || (size_t)len >= sizeof(buf)) {
        snprintf(msg, msg_bytes, "%s: contents over %u bytes", path, IDENTITY_FILE_BYTES_MAX);
        return BALLOT_ETOOLARGE;
    }
    /* Through the storage layer's I/O backend: the same durability rules as the WAL's. */
    const storage_io_t *io = storage_io_posix();
    const char *step = "create";
    int fd = -1;
    int err = io->open(io->ctx, tmp, STORAGE_OPEN_CREATE | STORAGE_OPEN_TRUNCATE, &fd);
    if (err == 0) {
        step = "write";
        err = io->pwrite(io->ctx, fd, buf, (size_t)len, 0);
        if (err == 0) {
            step = "sync";
            err = io->fdatasync(io->ctx, fd);
        }
        int close_err = io->close(io->ctx, fd);
        err = err != 0 ? err : close_err;
    }
    if (err == 0) {
        step = "rename";
        err = io->rename(io->ctx, tmp, path);
    }
    if (err != 0) {
        snprintf(msg, msg_bytes, "cannot %s %s: %s", step, tmp, strerror(err));
        return BALLOT_EIO;
    }
    err = io->fsync_dir(io->ctx, dir);
    if (err != 0) {
        snprintf(msg, msg_bytes, "cannot sync directory %s: %s", dir, strerror(err));
        return BALLOT_EIO;
    }
    return BALLOT_OK;
}

/* Reads dir/name into buf (IDENTITY_FILE_BYTES_MAX + 1 bytes) and checks that it starts
 * with magic and ends in a good crc line, which is cut off: buf then holds the body as a
 * string. BALLOT_ESTATE when the file does not exist; path names it for messages. */
static int read_checked(const char *dir, const char *name, const char *magic, char *buf, char *path,
                        size_t path_bytes, char *msg, size_t msg_bytes)
{
    snprintf(path, path_bytes, "%s/%s", dir, name);
    size_t size = 0;
    int rc = read_small(path, buf, IDENTITY_FILE_BYTES_MAX + 1, &size, msg, msg_bytes);
    if (rc != BALLOT_OK) {
        return rc;
    }
    size_t body = 0;
    if (!check_crc(buf, size, &body) || strncmp(buf, magic, strlen(magic)) != 0) {
        snprintf(msg, msg_bytes, "%s is damaged (checksum or format)", path);
        return BALLOT_ECORRUPT;
    }
    buf[body] = '\0';
    return BALLOT_OK;
}

int identity_read(const char *dir, identity_t *out, bool *found, char *msg, size_t msg_bytes)
{
    memset(out, 0, sizeof(*out));
    *found = false;
    char path[CONFIG_PATH_BYTES_MAX + 32];
    char buf[IDENTITY_FILE_BYTES_MAX + 1];
    int rc = read_checked(dir, IDENTITY_FILE, IDENTITY_MAGIC_LINE, buf, path, sizeof(path), msg,
                          msg_bytes);
    if (rc != BALLOT_OK) {
        return rc == BALLOT_ESTATE ? BALLOT_OK : rc;
    }
    size_t body = strlen(buf);
    unsigned long long cluster = 0;
    unsigned int node = 0;
    unsigned long long incarnation = 0;
    char origin[16] = {0};
    int end = 0;
    int fields = sscanf(buf,
                        IDENTITY_MAGIC_LINE "cluster %llu\nnode %u\nincarnation %16llx\norigin "
                                            "%15[a-z]\n%n",
                        &cluster, &node, &incarnation, origin, &end);
    identity_origin_t o = strcmp(origin, "founder") == 0  ? IDENTITY_FOUNDER
                          : strcmp(origin, "rejoin") == 0 ? IDENTITY_REJOIN
                          : strcmp(origin, "joined") == 0 ? IDENTITY_JOINED
                                                          : 0;
    if (fields != 4 || (size_t)end != body || node == 0 || node > NODES_MAX || incarnation == 0 ||
        o == 0) {
        snprintf(msg, msg_bytes, "%s is damaged (unreadable fields)", path);
        return BALLOT_ECORRUPT;
    }
    out->cluster_id = cluster;
    out->node_id = node;
    out->incarnation = incarnation;
    out->origin = o;
    *found = true;
    return BALLOT_OK;
}

int identity_write(const char *dir, const identity_t *id, char *msg, size_t msg_bytes)
{
    char text[256];
    snprintf(text, sizeof(text),
             IDENTITY_MAGIC_LINE "cluster %llu\nnode %u\nincarnation %016llx\norigin %s\n",
             (unsigned long long)id->cluster_id, id->node_id, (unsigned long long)id->incarnation,
             identity_origin_name(id->origin));
    return write_atomic(dir, IDENTITY_FILE, text, msg, msg_bytes);
}

int identity_peers_read(const char *dir, uint64_t known[NODES_MAX + 1], char *msg, size_t msg_bytes)
{
    memset(known, 0, sizeof(uint64_t) * (NODES_MAX + 1));
    char path[CONFIG_PATH_BYTES_MAX + 32];
    char buf[IDENTITY_FILE_BYTES_MAX + 1];
    int rc = read_checked(dir, IDENTITY_PEERS_FILE, PEERS_MAGIC_LINE, buf, path, sizeof(path), msg,
                          msg_bytes);
    if (rc != BALLOT_OK) {
        return rc == BALLOT_ESTATE ? BALLOT_OK : rc;
    }
    char *line = buf + strlen(PEERS_MAGIC_LINE);
    while (*line != '\0') {
        unsigned int node = 0;
        unsigned long long incarnation = 0;
        int end = 0;
        if (sscanf(line, "node %u incarnation %16llx\n%n", &node, &incarnation, &end) != 2 ||
            end == 0 || line[end - 1] != '\n' || node == 0 || node > NODES_MAX) {
            snprintf(msg, msg_bytes, "%s is damaged (unreadable line)", path);
            return BALLOT_ECORRUPT;
        }
        known[node] = incarnation;
        line += end;
    }
    return BALLOT_OK;
}

int identity_peers_write(const char *dir, const uint64_t known[NODES_MAX + 1], char *msg,
                         size_t msg_bytes)
{
    char text[IDENTITY_FILE_BYTES_MAX - 32];
    size_t used = (size_t)snprintf(text, sizeof(text), "%s", PEERS_MAGIC_LINE);
    for (uint32_t id = 1; id <= NODES_MAX; id++) {
        if (known[id] != 0) {
            used +=
                (size_t)snprintf(text + used, sizeof(text) - used, "node %u incarnation %016llx\n",
                                 id, (unsigned long long)known[id]);
        }
    }
    return write_atomic(dir, IDENTITY_PEERS_FILE, text, msg, msg_bytes);
}
