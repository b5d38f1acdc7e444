/* Backups: BALLOT.SNAPSHOT hands a client a consistent image of the key-value state, in
 * the snapshot file format (storage/snapshot.h), so that `ballot snapshot save` can store
 * it and `ballot snapshot restore` can seed new data directories from it
 * (docs/operations.md "Backup and restore").
 *
 *   BALLOT.SNAPSHOT BEGIN            -> [id, slot]
 *   BALLOT.SNAPSHOT READY id         -> [file bytes, crc32c of the file, keys], or
 *                                       -TRYAGAIN while the image is being written
 *   BALLOT.SNAPSHOT CHUNK id offset  -> up to BACKUP_CHUNK_BYTES_MAX bytes of the file
 *   BALLOT.SNAPSHOT END id           -> OK (the image is dropped)
 *
 * BEGIN takes a linearizable read barrier when it arrives (the path GET takes) and is
 * answered once the kv has applied at least the barrier's index: the node then forks, at
 * the applied slot, so the image holds every write acknowledged before BEGIN arrived. The
 * child (like the snapshot child of snapshots.c: the loop never stops to copy the state)
 * serializes its copy-on-write view of the kv into a file in the data directory that is
 * unlinked as soon as it is created, so nothing is left behind by a crash; the node serves
 * chunks from it until END, or until the save has been idle BACKUP_IDLE_MS. At most
 * BACKUP_SAVES_MAX saves exist at once. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "server/log.h"
#include "server/server_internal.h"

#define BACKUP_SAVES_MAX       2u
#define BACKUP_IDLE_MS         30000u
#define BACKUP_CHUNK_BYTES_MAX ((uint64_t)1024u * 1024u)
#define BACKUP_NUMBER_BYTES    20u
#define BACKUP_MESSAGE_BYTES   256u
/* The child's report pipe and image file; every higher descriptor is closed there. */
#define BACKUP_CHILD_PIPE_FD 3
#define BACKUP_CHILD_FILE_FD 4

/* What the writer child reports through its pipe. */
typedef struct backup_report {
    int32_t result;
    uint32_t crc;
    uint64_t size;
    uint64_t keys;
    char message[BACKUP_MESSAGE_BYTES];
} backup_report_t;

typedef struct backup_save {
    uint64_t id; /* 0: a free entry */
    uint64_t slot;
    pid_t pid;   /* the writer child, until reaped */
    int pipe_fd; /* its report */
    int file_fd; /* the (unlinked) image file */
    bool done;   /* reaped: report holds the outcome */
    backup_report_t report;
    uint64_t started_ms;
    uint64_t used_ms; /* last asked for, once done */
} backup_save_t;

struct backup_state {
    backup_save_t saves[BACKUP_SAVES_MAX];
    uint64_t next_id;
    uint8_t *chunk; /* BACKUP_CHUNK_BYTES_MAX bytes, read from an image file */
};

static backup_state_t *backup_state(server_t *srv)
{
    if (srv->backup == NULL) {
        srv->backup = calloc(1, sizeof(*srv->backup));
        for (uint32_t i = 0; srv->backup != NULL && i < BACKUP_SAVES_MAX; i++) {
            srv->backup->saves[i].pipe_fd = -1;
            srv->backup->saves[i].file_fd = -1;
        }
    }
    return srv->backup;
}

/* Collects the child's report once it exited (or waits for it: wait). */
static void backup_reap(backup_save_t *save, bool wait)
{
    if (save->done || save->pid <= 0) {
        return;
    }
    int status = 0;
    pid_t got;
    do {
        got = waitpid(save->pid, &status, wait ? 0 : WNOHANG);
    } while (wait && got < 0 && errno == EINTR);
    if (got == 0 || (got < 0 && errno == EINTR)) {
        return;
    }
    backup_report_t report;
    memset(&report, 0, sizeof(report));
    ssize_t n = read(save->pipe_fd, &report, sizeof(report));
    close(save->pipe_fd);
    save->pipe_fd = -1;
    save->pid = 0;
    save->done = true;
    if (n != (ssize_t)sizeof(report)) {
        memset(&report, 0, sizeof(report));
        report.result = BALLOT_EIO;
        snprintf(report.message, sizeof(report.message), "the snapshot writer died");
    }
    report.message[sizeof(report.message) - 1] = '\0';
    save->report = report;
}

static void backup_drop(backup_save_t *save)
{
    if (save->pid > 0) {
        kill(save->pid, SIGKILL);
        backup_reap(save, true);
    }
    if (save->pipe_fd >= 0) {
        close(save->pipe_fd);
    }
    if (save->file_fd >= 0) {
        close(save->file_fd);
    }
    memset(save, 0, sizeof(*save));
    save->pipe_fd = -1;
    save->file_fd = -1;
}

void backup_tick(server_t *srv, uint64_t now_ms)
{
    if (srv->backup == NULL) {
        return;
    }
    for (uint32_t i = 0; i < BACKUP_SAVES_MAX; i++) {
        backup_save_t *save = &srv->backup->saves[i];
        if (save->id == 0) {
            continue;
        }
        bool was_done = save->done;
        backup_reap(save, false);
        if (save->done && !was_done) {
            save->used_ms = now_ms; /* idle from here */
            if (save->report.result == BALLOT_OK) {
                log_info("snapshot save %llu: image at slot %llu written (%llu bytes, %llu "
                         "keys, %llu ms)",
                         (unsigned long long)save->id, (unsigned long long)save->slot,
                         (unsigned long long)save->report.size,
                         (unsigned long long)save->report.keys,
                         (unsigned long long)(now_ms - save->started_ms));
            } else {
                log_error("snapshot save %llu failed: %s", (unsigned long long)save->id,
                          save->report.message);
            }
        }
        if (save->done && now_ms - save->used_ms >= BACKUP_IDLE_MS) {
            log_warn("snapshot save %llu dropped after %u ms idle", (unsigned long long)save->id,
                     BACKUP_IDLE_MS);
            backup_drop(save);
        }
    }
}

void backup_free(server_t *srv)
{
    if (srv->backup == NULL) {
        return;
    }
    for (uint32_t i = 0; i < BACKUP_SAVES_MAX; i++) {
        backup_drop(&srv->backup->saves[i]);
    }
    free(srv->backup->chunk);
    free(srv->backup);
    srv->backup = NULL;
}

static backup_save_t *backup_free_entry(backup_state_t *state)
{
    for (uint32_t i = 0; i < BACKUP_SAVES_MAX; i++) {
        if (state->saves[i].id == 0) {
            return &state->saves[i];
        }
    }
    return NULL;
}

static backup_save_t *backup_find(backup_state_t *state, uint64_t id)
{
    for (uint32_t i = 0; id != 0 && i < BACKUP_SAVES_MAX; i++) {
        if (state->saves[i].id == id) {
            return &state->saves[i];
        }
    }
    return NULL;
}

/* A decimal u64 argument: digits only, no sign, no leading spaces. */
static bool backup_parse_u64(const uint8_t *bytes, uint32_t size, uint64_t *out)
{
    if (size == 0 || size > BACKUP_NUMBER_BYTES) {
        return false;
    }
    char text[BACKUP_NUMBER_BYTES + 1];
    for (uint32_t i = 0; i < size; i++) {
        if (bytes[i] < '0' || bytes[i] > '9') {
            return false;
        }
        text[i] = (char)bytes[i];
    }
    text[size] = '\0';
    errno = 0;
    unsigned long long value = strtoull(text, NULL, 10);
    if (errno != 0) {
        return false;
    }
    *out = (uint64_t)value;
    return true;
}

static bool backup_is(const uint8_t *bytes, uint32_t size, const char *word)
{
    size_t n = strlen(word);
    if (size != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = (char)bytes[i];
        if (c >= 'a' && c <= 'z') {
            c = (char)(c - 'a' + 'A');
        }
        if (c != word[i]) {
            return false;
        }
    }
    return true;
}

static void backup_begin(client_t *client)
{
    server_t *srv = client->srv;
    uint64_t now = server_now_ms();
    backup_tick(srv, now);
    backup_state_t *state = backup_state(srv);
    if (state == NULL || backup_free_entry(state) == NULL) {
        client_reply_error(client,
                           "BUSY %u snapshot saves are in flight on this node; retry once one "
                           "ends (an idle one expires after %u ms)",
                           BACKUP_SAVES_MAX, BACKUP_IDLE_MS);
        return;
    }
    request_t *r = client_push_request(client, REQUEST_READ);
    if (r == NULL) {
        net_conn_close(client->conn);
        return;
    }
    r->backup = true;
    r->deadline_ms = now + srv->cfg->request_timeout_ms;
    client_submit_read(client, r, now);
}

typedef struct backup_writer {
    uint8_t *at;
    uint64_t left;
} backup_writer_t;

static int backup_write_fn(void *ctx, const void *bytes, size_t size)
{
    backup_writer_t *w = ctx;
    if (size > w->left) {
        return BALLOT_EINVAL;
    }
    memcpy(w->at, bytes, size);
    w->at += size;
    w->left -= size;
    return BALLOT_OK;
}

static int backup_child_image(server_t *srv, uint64_t slot, backup_report_t *report)
{
    uint64_t size = kv_snapshot_bytes(srv->kv);
    if (size > SNAPSHOT_BYTES_MAX) {
        snprintf(report->message, sizeof(report->message),
                 "the state is %llu bytes, over the snapshot bound of %llu",
                 (unsigned long long)size, (unsigned long long)SNAPSHOT_BYTES_MAX);
        return BALLOT_ETOOLARGE;
    }
    uint64_t total = snapshot_file_bytes(size);
    uint8_t *file = malloc((size_t)total);
    if (file == NULL) {
        snprintf(report->message, sizeof(report->message), "no memory for %llu bytes",
                 (unsigned long long)total);
        return BALLOT_ENOMEM;
    }
    backup_writer_t writer = {.at = file + SNAPSHOT_HEADER_BYTES, .left = size};
    int rc = kv_snapshot_write(srv->kv, backup_write_fn, &writer);
    if (rc != BALLOT_OK || writer.left != 0) {
        snprintf(report->message, sizeof(report->message), "cannot serialize the state: %s",
                 ballot_strerror(rc != BALLOT_OK ? rc : BALLOT_EINVAL));
        free(file);
        return rc != BALLOT_OK ? rc : BALLOT_EINVAL;
    }
    snapshot_seal(file, slot, size);
    report->size = total;
    report->crc = crc32c(file, (size_t)total);
    report->keys = kv_key_count(srv->kv);
    /* Bounded: every round writes at least one byte of total. */
    for (uint64_t done = 0; done < total;) {
        ssize_t n = pwrite(BACKUP_CHILD_FILE_FD, file + done, (size_t)(total - done), (off_t)done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            snprintf(report->message, sizeof(report->message), "writing the image: %s",
                     n < 0 ? strerror(errno) : "no progress");
            free(file);
            return errno == ENOSPC ? BALLOT_ENOSPC : BALLOT_EIO;
        }
        done += (uint64_t)n;
    }
    free(file);
    return BALLOT_OK;
}

/* In the child: only async-signal-safe exits from here (_exit). */
static void backup_child(server_t *srv, uint64_t slot, int pipe_fd, int file_fd)
{
    /* Neither the node's sockets nor a life after the node (snapshots.c does the same). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Both are moved above the target numbers first, so neither dup2 clobbers the other. */
    pipe_fd = fcntl(pipe_fd, F_DUPFD, BACKUP_CHILD_FILE_FD + 1);
    file_fd = fcntl(file_fd, F_DUPFD, BACKUP_CHILD_FILE_FD + 1);
    if (pipe_fd < 0 || file_fd < 0 || dup2(pipe_fd, BACKUP_CHILD_PIPE_FD) < 0 ||
        dup2(file_fd, BACKUP_CHILD_FILE_FD) < 0) {
        _exit(1);
    }
    close_range(BACKUP_CHILD_FILE_FD + 1, ~0u, 0);
    backup_report_t report;
    memset(&report, 0, sizeof(report));
    report.result = backup_child_image(srv, slot, &report);
    ssize_t n = write(BACKUP_CHILD_PIPE_FD, &report, sizeof(report));
    _exit(n == (ssize_t)sizeof(report) && report.result == BALLOT_OK ? 0 : 1);
}

/* A file for the image in the data directory, unlinked at once: only the descriptor
 * (shared with the child) names it. */
static int backup_open_file(server_t *srv, uint64_t id, char *err, size_t err_bytes)
{
    char path[CONFIG_PATH_BYTES_MAX + 64];
    snprintf(path, sizeof(path), "%s/backup-%llu-%llu.tmp", srv->cfg->data_dir,
             (unsigned long long)srv->boot_id, (unsigned long long)id);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_error("snapshot save: cannot create %s: %s", path, strerror(errno));
        snprintf(err, err_bytes, "ERR cannot create the image file in the data directory: %s",
                 strerror(errno));
        return -1;
    }
    unlink(path);
    return fd;
}

static void backup_write_error(client_t *client, const char *text)
{
    client->srv->stat_errors++;
    wire_buf_t *out = server_scratch(client->srv);
    resp_reply_error(out, text);
    net_conn_write(client->conn, out->bytes, out->size);
}

/* Forks the writer child at the applied slot. */
static int backup_start(server_t *srv, backup_state_t *state, backup_save_t *save, char *err,
                        size_t err_bytes)
{
    uint64_t slot = srv->applied_slot;
    if (slot == 0) {
        snprintf(err, err_bytes, "ERR nothing to save: no slot has been applied yet");
        return -1;
    }
    uint64_t id = state->next_id + 1;
    int file_fd = backup_open_file(srv, id, err, err_bytes);
    int fds[2];
    if (file_fd < 0) {
        return -1;
    }
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(err, err_bytes, "ERR cannot start the snapshot writer: %s", strerror(errno));
        close(file_fd);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        backup_child(srv, slot, fds[1], file_fd);
    }
    close(fds[1]);
    if (pid < 0) {
        snprintf(err, err_bytes, "ERR cannot fork the snapshot writer: %s", strerror(errno));
        close(fds[0]);
        close(file_fd);
        return -1;
    }
    state->next_id = id;
    save->id = id;
    save->slot = slot;
    save->pid = pid;
    save->pipe_fd = fds[0];
    save->file_fd = file_fd;
    save->done = false;
    save->started_ms = save->used_ms = server_now_ms();
    return 0;
}

void backup_answer_begin(client_t *client, const request_t *request)
{
    (void)request;
    server_t *srv = client->srv;
    backup_tick(srv, server_now_ms());
    backup_state_t *state = backup_state(srv);
    backup_save_t *save = state != NULL ? backup_free_entry(state) : NULL;
    if (save == NULL) {
        backup_write_error(client, "BUSY snapshot saves are in flight on this node; retry "
                                   "once one ends");
        return;
    }
    char err[RESP_ERROR_BYTES];
    if (backup_start(srv, state, save, err, sizeof(err)) != 0) {
        backup_write_error(client, err);
        return;
    }
    log_info("snapshot save %llu for client %s: slot %llu", (unsigned long long)save->id,
             net_conn_peer_text(client->conn), (unsigned long long)save->slot);
    wire_buf_t *out = server_scratch(srv);
    resp_reply_array_header(out, 2);
    resp_reply_integer(out, (int64_t)save->id);
    resp_reply_integer(out, (int64_t)save->slot);
    net_conn_write(client->conn, out->bytes, out->size);
}

static backup_save_t *backup_lookup(client_t *client, const uint8_t *arg, uint32_t size)
{
    uint64_t id = 0;
    backup_state_t *state = client->srv->backup;
    backup_save_t *save = NULL;
    backup_tick(client->srv, server_now_ms());
    if (backup_parse_u64(arg, size, &id) && state != NULL) {
        save = backup_find(state, id);
    }
    if (save == NULL) {
        client_reply_error(client,
                           "ERR no snapshot save with that id on this node (it ended, or "
                           "was dropped after %u ms idle)",
                           BACKUP_IDLE_MS);
    }
    return save;
}

/* A save whose image is written; otherwise answers why not (and drops a failed one). */
static backup_save_t *backup_lookup_done(client_t *client, const uint8_t *arg, uint32_t size)
{
    backup_save_t *save = backup_lookup(client, arg, size);
    if (save == NULL) {
        return NULL;
    }
    if (!save->done) {
        client_reply_error(client, "TRYAGAIN the snapshot image is still being written");
        return NULL;
    }
    if (save->report.result != BALLOT_OK) {
        client_reply_error(client, "ERR the snapshot image could not be written: %s",
                           save->report.message);
        backup_drop(save);
        return NULL;
    }
    save->used_ms = server_now_ms();
    return save;
}

static void backup_ready(client_t *client, const uint8_t *const *argv, const uint32_t *len)
{
    backup_save_t *save = backup_lookup_done(client, argv[2], len[2]);
    if (save == NULL) {
        return;
    }
    wire_buf_t *out = server_scratch(client->srv);
    resp_reply_array_header(out, 3);
    resp_reply_integer(out, (int64_t)save->report.size);
    resp_reply_integer(out, (int64_t)save->report.crc);
    resp_reply_integer(out, (int64_t)save->report.keys);
    client_reply_now(client, out);
}

static void backup_chunk(client_t *client, const uint8_t *const *argv, const uint32_t *len)
{
    server_t *srv = client->srv;
    backup_save_t *save = backup_lookup_done(client, argv[2], len[2]);
    if (save == NULL) {
        return;
    }
    uint64_t size = save->report.size;
    uint64_t offset = 0;
    if (!backup_parse_u64(argv[3], len[3], &offset) || offset > size) {
        client_reply_error(client, "ERR offset must be 0..%llu", (unsigned long long)size);
        return;
    }
    /* A chunk stays well inside the connection's output bound. */
    uint64_t bound = srv->cfg->client_output_bytes_max / 4u;
    uint64_t n = size - offset;
    n = n < BACKUP_CHUNK_BYTES_MAX ? n : BACKUP_CHUNK_BYTES_MAX;
    n = n < bound ? n : bound;
    backup_state_t *state = srv->backup;
    if (state->chunk == NULL) {
        state->chunk = malloc(BACKUP_CHUNK_BYTES_MAX);
    }
    ssize_t got = -1;
    if (state->chunk != NULL) {
        do {
            got = pread(save->file_fd, state->chunk, (size_t)n, (off_t)offset);
        } while (got < 0 && errno == EINTR);
    }
    if (got != (ssize_t)n) {
        log_error("snapshot save %llu: cannot read its image at offset %llu: %s",
                  (unsigned long long)save->id, (unsigned long long)offset,
                  got < 0 ? strerror(errno) : "short read");
        client_reply_error(client, "ERR cannot read the snapshot image");
        return;
    }
    wire_buf_t *out = server_scratch(srv);
    resp_reply_bulk(out, state->chunk, (size_t)n);
    client_reply_now(client, out);
}

static void backup_end(client_t *client, const uint8_t *const *argv, const uint32_t *len)
{
    backup_save_t *save = backup_lookup(client, argv[2], len[2]);
    if (save == NULL) {
        return;
    }
    log_info("snapshot save %llu ended", (unsigned long long)save->id);
    backup_drop(save);
    wire_buf_t *out = server_scratch(client->srv);
    resp_reply_simple(out, "OK");
    client_reply_now(client, out);
}

void backup_command(client_t *client, uint32_t argc, const uint8_t *const *argv,
                    const uint32_t *len)
{
    if (argc == 2 && backup_is(argv[1], len[1], "BEGIN")) {
        backup_begin(client);
    } else if (argc == 3 && backup_is(argv[1], len[1], "READY")) {
        backup_ready(client, argv, len);
    } else if (argc == 4 && backup_is(argv[1], len[1], "CHUNK")) {
        backup_chunk(client, argv, len);
    } else if (argc == 3 && backup_is(argv[1], len[1], "END")) {
        backup_end(client, argv, len);
    } else {
        client_reply_error(client, "ERR usage: BALLOT.SNAPSHOT BEGIN | READY id | CHUNK id "
                                   "offset | END id");
    }
}
