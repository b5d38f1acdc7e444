/* `ballot snapshot save|status|restore` (docs/operations.md "Backup and restore").
 *
 * A backup file is a snapshot file (storage/snapshot.h: magic, format version, slot, image
 * size, a CRC-32C per 64 KiB block and one over the block table) holding the key-value
 * image, itself ending in a CRC-32C (kv/kv.h). save streams it from a node with
 * BALLOT.SNAPSHOT (server/backup.c), checks the CRC-32C of the whole file the node
 * announced (a transfer check), writes FILE.part, fsyncs it, reads it back and verifies it
 * as status does, then renames it to FILE and fsyncs the directory. status and restore
 * check every checksum and decode the whole image before they trust it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "base/endian.h"
#include "client/ballot_client.h"
#include "client/cli.h"
#include "client/snapshot_cmd.h"
#include "kv/kv.h"
#include "storage/storage.h"

#define SNAP_EXIT_OK    0
#define SNAP_EXIT_ERROR 1
#define SNAP_EXIT_USAGE 2

#define SNAP_NODES_MAX       16u
#define SNAP_ADDRESS_BYTES   280u
#define SNAP_PATH_BYTES      4096u
#define SNAP_MSG_BYTES       (SNAPSHOT_MESSAGE_BYTES + SNAP_PATH_BYTES)
#define SNAP_SAVE_TIMEOUT_MS 30000u
/* BALLOT.SNAPSHOT BEGIN replies with id, slot; READY with file bytes, crc32c, keys. */
#define SNAP_BEGIN_FIELDS 2u
#define SNAP_READY_FIELDS 3u
/* How long save waits for a node to write the image, and how often it asks. */
#define SNAP_READY_WAIT_MS (10u * 60u * 1000u)
#define SNAP_READY_POLL_MS 10u

typedef struct snap_nodes {
    char addr[SNAP_NODES_MAX][SNAP_ADDRESS_BYTES];
    uint32_t count;
} snap_nodes_t;

/* A verified backup file held in memory. */
typedef struct snap_file {
    uint8_t *bytes;
    uint64_t file_size;
    snapshot_t snap; /* points into bytes */
    uint64_t keys;
    uint32_t clients;
} snap_file_t;

static uint64_t snap_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int snap_parse_nodes(const char *list, snap_nodes_t *nodes)
{
    nodes->count = 0;
    const char *at = list;
    while (*at != '\0') {
        size_t n = strcspn(at, ",");
        if (n == 0 || n >= SNAP_ADDRESS_BYTES || nodes->count >= SNAP_NODES_MAX) {
            fprintf(stderr, "ballot: bad --cluster list '%s'\n", list);
            return -1;
        }
        memcpy(nodes->addr[nodes->count], at, n);
        nodes->addr[nodes->count][n] = '\0';
        nodes->count++;
        at += n;
        if (*at == ',') {
            at++;
        }
    }
    if (nodes->count == 0) {
        fprintf(stderr, "ballot: --cluster names no node\n");
        return -1;
    }
    return 0;
}

/* The directory part of path ("." when it has none), for the fsync after the rename. */
static void snap_dir_of(const char *path, char *dir, size_t dir_bytes)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        snprintf(dir, dir_bytes, ".");
    } else if (slash == path) {
        snprintf(dir, dir_bytes, "/");
    } else {
        snprintf(dir, dir_bytes, "%.*s", (int)(slash - path), path);
    }
}

static int snap_fsync_dir(const char *dir)
{
    const storage_io_t *io = storage_io_posix();
    return io->fsync_dir(io->ctx, dir) == 0 ? 0 : -1;
}

static bool snap_write_all(int fd, const void *bytes, size_t size)
{
    const uint8_t *at = bytes;
    while (size > 0) {
        ssize_t n = write(fd, at, size);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        at += n;
        size -= (size_t)n;
    }
    return true;
}

/* ---- save ---- */

typedef struct snap_save {
    ballot_client_t *client;
    const char *address;
    uint64_t id;
    uint64_t slot;
    uint64_t size;
    uint32_t crc;
    uint64_t keys;
} snap_save_t;

static int snap_command(snap_save_t *s, uint32_t argc, const char *const *argv,
                        ballot_reply_t *reply, char *err, size_t err_bytes)
{
    char why[BALLOT_CLIENT_ERROR_BYTES];
    if (ballot_client_command(s->client, argc, argv, NULL, reply, why, sizeof(why)) != 0) {
        snprintf(err, err_bytes, "%s: %s", s->address, why);
        return -1;
    }
    if (reply->type == BALLOT_REPLY_ERROR) {
        /* Names the BALLOT.SNAPSHOT step, or AUTH (never its arguments). */
        snprintf(err, err_bytes, "%s refused %s: %s", s->address,
                 strcmp(argv[0], "AUTH") == 0 ? "AUTH" : argv[1], reply->text);
        ballot_reply_free(reply);
        return -1;
    }
    return 0;
}

static bool snap_reply_integers(const ballot_reply_t *reply, size_t count)
{
    bool ok = reply->type == BALLOT_REPLY_ARRAY && reply->element_count == count;
    for (size_t i = 0; ok && i < count; i++) {
        ok = reply->elements[i].type == BALLOT_REPLY_INTEGER && reply->elements[i].integer >= 0;
    }
    return ok;
}

/* BEGIN (the node takes a read barrier, then starts writing the image), then READY until
 * the image is written. */
static int snap_begin(snap_save_t *s, uint32_t wait_ms, char *err, size_t err_bytes)
{
    static const char *const begin[] = {"BALLOT.SNAPSHOT", "BEGIN"};
    ballot_reply_t reply;
    if (snap_command(s, 2, begin, &reply, err, err_bytes) != 0) {
        return -1;
    }
    bool ok = snap_reply_integers(&reply, SNAP_BEGIN_FIELDS);
    if (ok) {
        s->id = (uint64_t)reply.elements[0].integer;
        s->slot = (uint64_t)reply.elements[1].integer;
    }
    ballot_reply_free(&reply);
    if (!ok || s->slot == 0) {
        snprintf(err, err_bytes, "%s: unexpected answer to BALLOT.SNAPSHOT BEGIN", s->address);
        return -1;
    }
    char id[24];
    snprintf(id, sizeof(id), "%" PRIu64, s->id);
    const char *ready[] = {"BALLOT.SNAPSHOT", "READY", id};
    uint64_t deadline = snap_now_ms() + wait_ms;
    /* Bounded by wait_ms. */
    for (;;) {
        char why[BALLOT_CLIENT_ERROR_BYTES];
        if (ballot_client_command(s->client, 3, ready, NULL, &reply, why, sizeof(why)) != 0) {
            snprintf(err, err_bytes, "%s: %s", s->address, why);
            return -1;
        }
        if (reply.type != BALLOT_REPLY_ERROR || strncmp(reply.text, "TRYAGAIN", 8) != 0) {
            break;
        }
        ballot_reply_free(&reply);
        if (snap_now_ms() >= deadline) {
            snprintf(err, err_bytes, "%s: the image was not written within %u ms", s->address,
                     wait_ms);
            return -1;
        }
        usleep(SNAP_READY_POLL_MS * 1000u);
    }
    if (reply.type == BALLOT_REPLY_ERROR) {
        snprintf(err, err_bytes, "%s refused READY: %s", s->address, reply.text);
        ballot_reply_free(&reply);
        return -1;
    }
    ok = snap_reply_integers(&reply, SNAP_READY_FIELDS);
    if (ok) {
        s->size = (uint64_t)reply.elements[0].integer;
        ok = reply.elements[1].integer <= (int64_t)UINT32_MAX;
        s->crc = (uint32_t)reply.elements[1].integer;
        s->keys = (uint64_t)reply.elements[2].integer;
    }
    ballot_reply_free(&reply);
    if (!ok || s->size < SNAPSHOT_HEADER_BYTES ||
        s->size > snapshot_file_bytes(SNAPSHOT_BYTES_MAX)) {
        snprintf(err, err_bytes, "%s: unexpected answer to BALLOT.SNAPSHOT READY", s->address);
        return -1;
    }
    return 0;
}

static void snap_end(snap_save_t *s)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRIu64, s->id);
    const char *argv[] = {"BALLOT.SNAPSHOT", "END", id};
    ballot_reply_t reply;
    char err[BALLOT_CLIENT_ERROR_BYTES];
    if (snap_command(s, 3, argv, &reply, err, sizeof(err)) == 0) {
        ballot_reply_free(&reply);
    }
}

/* Streams the file into fd, checking the announced size and CRC-32C. */
static int snap_stream(snap_save_t *s, int fd, char *err, size_t err_bytes)
{
    char id[24];
    char offset_text[24];
    snprintf(id, sizeof(id), "%" PRIu64, s->id);
    const char *argv[] = {"BALLOT.SNAPSHOT", "CHUNK", id, offset_text};
    uint64_t offset = 0;
    uint32_t crc = 0;
    uint8_t header[SNAPSHOT_HEADER_BYTES];
    /* Bounded: every round moves offset on by at least one byte, up to s->size. */
    while (offset < s->size) {
        snprintf(offset_text, sizeof(offset_text), "%" PRIu64, offset);
        ballot_reply_t reply;
        if (snap_command(s, 4, argv, &reply, err, err_bytes) != 0) {
            return -1;
        }
        if (reply.type != BALLOT_REPLY_BULK || reply.size == 0 || reply.size > s->size - offset) {
            snprintf(err, err_bytes, "%s: bad chunk at offset %" PRIu64, s->address, offset);
            ballot_reply_free(&reply);
            return -1;
        }
        for (size_t i = 0; i < reply.size && offset + i < SNAPSHOT_HEADER_BYTES; i++) {
            header[offset + i] = (uint8_t)reply.text[i];
        }
        crc = crc32c_extend(crc, reply.text, reply.size);
        bool written = snap_write_all(fd, reply.text, reply.size);
        offset += reply.size;
        ballot_reply_free(&reply);
        if (!written) {
            snprintf(err, err_bytes, "writing: %s", strerror(errno));
            return -1;
        }
    }
    if (crc != s->crc) {
        snprintf(err, err_bytes,
                 "%s: the received file's CRC-32C is %08x, the node announced %08x: damaged "
                 "in transit",
                 s->address, crc, s->crc);
        return -1;
    }
    if (get_u64(header + 16) != s->slot) {
        snprintf(err, err_bytes, "%s: the file's header does not name slot %" PRIu64, s->address,
                 s->slot);
        return -1;
    }
    return 0;
}

/* Saves from one node into part; 0 ok, -1 with the reason in err. */
static int snap_save_from(snap_save_t *s, const snapshot_cli_options_t *options, const char *part,
                          uint32_t timeout_ms, char *err, size_t err_bytes)
{
    char why[BALLOT_CLIENT_ERROR_BYTES];
    if (ballot_client_connect_tls(s->address, timeout_ms, options->tls, &s->client, why,
                                  sizeof(why)) != 0) {
        snprintf(err, err_bytes, "%s", why);
        return -1;
    }
    int rc = 0;
    if (options->password != NULL) {
        const char *auth[] = {"AUTH", options->user != NULL ? options->user : "default",
                              options->password};
        ballot_reply_t reply;
        rc = snap_command(s, 3, auth, &reply, err, err_bytes);
        if (rc == 0) {
            ballot_reply_free(&reply);
        }
    }
    if (rc == 0) {
        rc = snap_begin(s, SNAP_READY_WAIT_MS, err, err_bytes);
    }
    if (rc == 0) {
        int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            snprintf(err, err_bytes, "cannot create %s: %s", part, strerror(errno));
            rc = -1;
        } else {
            rc = snap_stream(s, fd, err, err_bytes);
            if (rc == 0 && fsync(fd) != 0) {
                snprintf(err, err_bytes, "cannot sync %s: %s", part, strerror(errno));
                rc = -1;
            }
            if (close(fd) != 0 && rc == 0) {
                snprintf(err, err_bytes, "cannot close %s: %s", part, strerror(errno));
                rc = -1;
            }
            if (rc != 0) {
                unlink(part);
            }
        }
    }
    if (s->id != 0) {
        snap_end(s); /* best effort: the node drops an idle save anyway */
    }
    ballot_client_close(s->client);
    s->client = NULL;
    return rc;
}

static void snap_file_free(snap_file_t *f);
static int snap_verify(const char *path, snap_file_t *f, char *err, size_t err_bytes);

static int snap_save(const snap_nodes_t *nodes, const snapshot_cli_options_t *options,
                     uint32_t timeout_ms, const char *file)
{
    char part[SNAP_PATH_BYTES];
    char dir[SNAP_PATH_BYTES];
    if (strlen(file) + sizeof(".part") > sizeof(part)) {
        fprintf(stderr, "ballot: file name too long\n");
        return SNAP_EXIT_USAGE;
    }
    snprintf(part, sizeof(part), "%s.part", file);
    snap_dir_of(file, dir, sizeof(dir));
    uint64_t started = snap_now_ms();
    for (uint32_t i = 0; i < nodes->count; i++) {
        snap_save_t s = {.address = nodes->addr[i]};
        char err[SNAP_MSG_BYTES];
        if (snap_save_from(&s, options, part, timeout_ms, err, sizeof(err)) != 0) {
            fprintf(stderr, "ballot: %s; trying the next node\n", err);
            continue;
        }
        /* Read back and check like `status`: what is on disk decodes, or FILE is not
         * touched. */
        snap_file_t check;
        if (snap_verify(part, &check, err, sizeof(err)) != 0 || check.snap.slot != s.slot ||
            check.keys != s.keys) {
            fprintf(stderr, "ballot: the saved copy does not verify: %s\n",
                    check.bytes == NULL ? err : "slot or key count differ from the node's");
            snap_file_free(&check);
            unlink(part);
            return SNAP_EXIT_ERROR;
        }
        snap_file_free(&check);
        if (rename(part, file) != 0 || snap_fsync_dir(dir) != 0) {
            fprintf(stderr, "ballot: cannot rename %s to %s: %s\n", part, file, strerror(errno));
            unlink(part);
            return SNAP_EXIT_ERROR;
        }
        printf("saved %s: slot %" PRIu64 ", %" PRIu64 " bytes, %" PRIu64
               " keys, verified, from %s in %" PRIu64 " ms\n",
               file, s.slot, s.size, s.keys, s.address, snap_now_ms() - started);
        return SNAP_EXIT_OK;
    }
    fprintf(stderr, "ballot: no node of the cluster saved a snapshot\n");
    return SNAP_EXIT_ERROR;
}

/* ---- status and restore: read and verify a file ---- */

static void snap_file_free(snap_file_t *f)
{
    free(f->bytes);
    memset(f, 0, sizeof(*f));
}

static int snap_read_file(const char *path, snap_file_t *f, char *err, size_t err_bytes)
{
    memset(f, 0, sizeof(*f));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, err_bytes, "cannot open %s: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (!S_ISREG(st.st_mode) || size > snapshot_file_bytes(SNAPSHOT_BYTES_MAX)) {
        snprintf(err, err_bytes, "%s is not a snapshot file (%" PRIu64 " bytes)", path, size);
        close(fd);
        return -1;
    }
    f->bytes = malloc(size > 0 ? (size_t)size : 1u);
    if (f->bytes == NULL) {
        snprintf(err, err_bytes, "no memory to read %s (%" PRIu64 " bytes)", path, size);
        close(fd);
        return -1;
    }
    uint64_t got = 0;
    /* Bounded: every round reads at least one byte of size. */
    while (got < size) {
        ssize_t n = read(fd, f->bytes + got, (size_t)(size - got));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            snprintf(err, err_bytes, "cannot read %s: %s", path,
                     n == 0 ? "file shrank while read" : strerror(errno));
            close(fd);
            snap_file_free(f);
            return -1;
        }
        got += (uint64_t)n;
    }
    close(fd);
    f->file_size = size;
    return 0;
}

/* Checks every checksum and decodes the whole image (with the largest limits a node may
 * run with), so a file that passes restores on any node. */
static int snap_verify(const char *path, snap_file_t *f, char *err, size_t err_bytes)
{
    if (snap_read_file(path, f, err, err_bytes) != 0) {
        return -1;
    }
    char why[SNAPSHOT_MESSAGE_BYTES];
    if (snapshot_parse(f->bytes, f->file_size, &f->snap, why, sizeof(why)) != BALLOT_OK) {
        snprintf(err, err_bytes, "%s is damaged: %s", path, why);
        snap_file_free(f);
        return -1;
    }
    kv_config_t config;
    kv_config_default(&config);
    config.key_bytes_max = KV_KEY_BYTES_MAX;
    config.value_bytes_max = KV_VALUE_BYTES_MAX;
    config.clients_max = KV_CLIENTS_MAX;
    config.keys_max = KV_KEYS_MAX;
    if (getrandom(&config.hash_seed, sizeof(config.hash_seed), 0) < 0) {
        config.hash_seed = snap_now_ms();
    }
    kv_t *kv = NULL;
    char kv_err[KV_ERROR_BYTES];
    int rc = kv_create(&kv, &config, kv_err, sizeof(kv_err));
    if (rc == BALLOT_OK) {
        rc = kv_snapshot_restore(kv, f->snap.bytes, (size_t)f->snap.size, kv_err, sizeof(kv_err));
    }
    if (rc != BALLOT_OK) {
        snprintf(err, err_bytes, "%s is damaged: the key-value image does not decode: %s", path,
                 kv_err);
        kv_free(kv);
        snap_file_free(f);
        return -1;
    }
    f->keys = kv_key_count(kv);
    f->clients = kv_client_count(kv);
    kv_free(kv);
    return 0;
}

static int snap_status(const char *file, int format)
{
    snap_file_t f;
    char err[SNAP_MSG_BYTES];
    bool ok = snap_verify(file, &f, err, sizeof(err)) == 0;
    if (!ok) {
        fprintf(stderr, "ballot: %s\n", err);
    }
    if (format == CLI_FORMAT_SIMPLE) {
        if (ok) {
            printf("file: %s\nslot: %" PRIu64 "\nsize: %" PRIu64 " bytes (state image %" PRIu64
                   " bytes)\nkeys: %" PRIu64 "\nclient sessions: %u\nchecksum: ok\n",
                   file, f.snap.slot, f.file_size, f.snap.size, f.keys, f.clients);
        } else {
            printf("checksum: FAILED\n");
        }
    } else {
        static const char *const headers[] = {
            "FILE", "SLOT", "SIZE", "IMAGE", "KEYS", "CLIENT SESSIONS", "CHECKSUM"};
        static const char *const keys[] = {
            "file", "slot", "size", "image_size", "keys", "client_sessions", "checksum"};
        cli_table_t t;
        cli_table_init(&t, 7);
        for (uint32_t c = 0; c < 7; c++) {
            t.headers[c] = headers[c];
            t.json_keys[c] = keys[c];
            t.json_raw[c] = c >= 1 && c <= 5;
        }
        char n[5][24] = {{0}};
        if (ok) {
            snprintf(n[0], sizeof(n[0]), "%" PRIu64, f.snap.slot);
            snprintf(n[1], sizeof(n[1]), "%" PRIu64, f.file_size);
            snprintf(n[2], sizeof(n[2]), "%" PRIu64, f.snap.size);
            snprintf(n[3], sizeof(n[3]), "%" PRIu64, f.keys);
            snprintf(n[4], sizeof(n[4]), "%u", f.clients);
        }
        const char *cells[7] = {file, n[0], n[1], n[2], n[3], n[4], ok ? "ok" : "FAILED"};
        cli_table_add(&t, cells);
        cli_table_print(&t, (cli_format_t)format, stdout);
        cli_table_free(&t);
    }
    if (ok) {
        snap_file_free(&f);
    }
    return ok ? SNAP_EXIT_OK : SNAP_EXIT_ERROR;
}

/* 0 when dir is absent (it is created) or empty; -1 with the reason otherwise. */
static int snap_prepare_dir(const char *dir, char *err, size_t err_bytes)
{
    char path[SNAP_PATH_BYTES];
    snprintf(path, sizeof(path), "%s", dir);
    size_t len = strlen(path);
    /* Bounded by the path's length: one mkdir per separator. */
    for (size_t i = 1; i <= len; i++) {
        if (path[i] == '/' || path[i] == '\0') {
            char saved = path[i];
            path[i] = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST) {
                snprintf(err, err_bytes, "cannot create %s: %s", path, strerror(errno));
                return -1;
            }
            path[i] = saved;
        }
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(err, err_bytes, "cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    const struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)) != NULL) {
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    }
    closedir(d);
    if (!empty) {
        snprintf(err, err_bytes,
                 "%s is not empty: restore only seeds a fresh data directory (move the old one "
                 "away first)",
                 dir);
        return -1;
    }
    return 0;
}

/* Seeds an empty data directory with a verified snapshot: everything a restore writes
 * goes through here. The directory then holds the snapshot alone (no WAL, no IDENTITY):
 * ballotd started on it once with --bootstrap founds a new cluster from that state, with no
 * promises or accepted values, and continues the log after the snapshot's slot; a cluster
 * whose nodes are all seeded from the same file starts in agreement (docs/operations.md
 * "Backup and restore"). Without --bootstrap ballotd refuses such a directory. */
static int snap_seed_data_dir(const char *dir, const snapshot_t *snap, char *err, size_t err_bytes)
{
    char why[SNAPSHOT_MESSAGE_BYTES];
    int rc = snapshot_write(dir, storage_io_posix(), snap->slot, snap->bytes, snap->size, NULL, why,
                            sizeof(why));
    if (rc != BALLOT_OK) {
        snprintf(err, err_bytes, "%s", why);
        return -1;
    }
    return 0;
}

static int snap_restore(const char *file, const char *dir)
{
    snap_file_t f;
    char err[SNAP_MSG_BYTES];
    if (snap_verify(file, &f, err, sizeof(err)) != 0) {
        fprintf(stderr, "ballot: %s; nothing restored\n", err);
        return SNAP_EXIT_ERROR;
    }
    if (snap_prepare_dir(dir, err, sizeof(err)) != 0 ||
        snap_seed_data_dir(dir, &f.snap, err, sizeof(err)) != 0) {
        fprintf(stderr, "ballot: %s; nothing restored\n", err);
        snap_file_free(&f);
        return SNAP_EXIT_ERROR;
    }
    printf("restored %s into %s: slot %" PRIu64 ", %" PRIu64
           " keys; start ballotd on it once with --bootstrap (every node of the new cluster "
           "restored from this file)\n",
           file, dir, f.snap.slot, f.keys);
    snap_file_free(&f);
    return SNAP_EXIT_OK;
}

static void snap_usage(FILE *out)
{
    if (out == stderr) {
        fputs("(ballot snapshot --help for usage)\n", out);
        return;
    }
    fprintf(out, "usage: ballot snapshot save FILE [--cluster HOST:PORT,...]\n"
                 "       ballot snapshot status FILE [-w simple|table|json]\n"
                 "       ballot snapshot restore FILE --data-dir DIR\n");
}

int snapshot_cli_main(const snapshot_cli_options_t *options, int argc, char **argv)
{
    const char *cluster = options->cluster;
    uint32_t timeout_ms = options->timeout_ms;
    const char *file = NULL;
    const char *data_dir = NULL;
    int format = options->format;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            snap_usage(stdout);
            return SNAP_EXIT_OK;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cluster") == 0 && i + 1 < argc) {
            cluster = argv[++i];
        } else if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc) {
            data_dir = argv[++i];
        } else if ((strcmp(argv[i], "-w") == 0 || strcmp(argv[i], "--write-out") == 0) &&
                   i + 1 < argc) {
            const char *w = argv[++i];
            format = strcmp(w, "simple") == 0  ? CLI_FORMAT_SIMPLE
                     : strcmp(w, "table") == 0 ? CLI_FORMAT_TABLE
                     : strcmp(w, "json") == 0  ? CLI_FORMAT_JSON
                                               : -1;
            if (format < 0) {
                fprintf(stderr, "ballot snapshot: -w '%s': want simple, table or json\n", w);
                return SNAP_EXIT_USAGE;
            }
        } else if (strncmp(argv[i], "--", 2) != 0 && file == NULL) {
            file = argv[i];
        } else {
            fprintf(stderr, "ballot snapshot: unexpected argument '%s'\n", argv[i]);
            snap_usage(stderr);
            return SNAP_EXIT_USAGE;
        }
    }
    const char *verb = argc > 0 ? argv[0] : "";
    if (strcmp(verb, "save") != 0 && strcmp(verb, "status") != 0 && strcmp(verb, "restore") != 0) {
        fprintf(stderr, "ballot snapshot: %s%s%s (want save, status or restore)\n",
                argc > 0 ? "unknown command '" : "no command", verb, argc > 0 ? "'" : "");
        snap_usage(stderr);
        return SNAP_EXIT_USAGE;
    }
    if (file == NULL || file[0] == '\0') {
        fprintf(stderr, "ballot snapshot %s: missing FILE\n", verb);
        snap_usage(stderr);
        return SNAP_EXIT_USAGE;
    }
    if ((data_dir != NULL) != (strcmp(verb, "restore") == 0)) {
        fprintf(stderr, "ballot snapshot %s: %s\n", verb,
                data_dir != NULL ? "--data-dir is for restore only" : "missing --data-dir DIR");
        snap_usage(stderr);
        return SNAP_EXIT_USAGE;
    }
    if (strcmp(verb, "save") == 0) {
        snap_nodes_t nodes;
        if (snap_parse_nodes(cluster, &nodes) != 0) {
            return SNAP_EXIT_USAGE;
        }
        return snap_save(&nodes, options,
                         timeout_ms > SNAP_SAVE_TIMEOUT_MS ? timeout_ms : SNAP_SAVE_TIMEOUT_MS,
                         file);
    }
    if (strcmp(verb, "status") == 0) {
        return snap_status(file, format);
    }
    if (strcmp(verb, "restore") == 0) {
        if (data_dir[0] == '\0' || strlen(data_dir) >= SNAP_PATH_BYTES - 64u) {
            fprintf(stderr, "ballot snapshot: bad --data-dir\n");
            return SNAP_EXIT_USAGE;
        }
        return snap_restore(file, data_dir);
    }
    snap_usage(stderr);
    return SNAP_EXIT_USAGE;
}
