/* Backups: BALLOT.SNAPSHOT hands a client a consistent image of the key-value state, in
 * the snapshot file format (storage/snapshot.h), so that `ballot snapshot save` can store
 * it and `ballot snapshot restore` can seed new data directories from it
 * (docs/operations.md "Backup and restore").
 *
 *   BALLOT.SNAPSHOT BEGIN            -> [id, slot, file bytes, crc32c of the file, keys]
 *   BALLOT.SNAPSHOT CHUNK id offset  -> up to BACKUP_CHUNK_BYTES_MAX bytes of the file
 *   BALLOT.SNAPSHOT END id           -> OK (the image is freed)
 *
 * BEGIN takes a linearizable read barrier when it arrives (the path GET takes) and is
 * answered once the kv has applied at least the barrier's index: the image is made then, at
 * the applied slot, so it holds every write acknowledged before BEGIN arrived. The image
 * lives in memory until END, or until it has been idle BACKUP_IDLE_MS; at most
 * BACKUP_SAVES_MAX images exist at once (each at most SNAPSHOT_BYTES_MAX plus the header
 * and checksum table). The copy is made on the loop thread: it pauses the node for the
 * time a memcpy of the state takes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "server/log.h"
#include "server/server_internal.h"

#define BACKUP_SAVES_MAX       2u
#define BACKUP_IDLE_MS         30000u
#define BACKUP_CHUNK_BYTES_MAX ((uint64_t)1024u * 1024u)
#define BACKUP_NUMBER_BYTES    20u

typedef struct backup_save {
    uint64_t id; /* 0: a free entry */
    uint64_t slot;
    uint8_t *file;
    uint64_t size;
    uint32_t crc;
    uint64_t keys;
    uint64_t used_ms;
} backup_save_t;

struct backup_state {
    backup_save_t saves[BACKUP_SAVES_MAX];
    uint64_t next_id;
};

static backup_state_t *backup_state(server_t *srv)
{
    if (srv->backup == NULL) {
        srv->backup = calloc(1, sizeof(*srv->backup));
    }
    return srv->backup;
}

static void backup_drop(backup_save_t *save)
{
    free(save->file);
    memset(save, 0, sizeof(*save));
}

void backup_tick(server_t *srv, uint64_t now_ms)
{
    if (srv->backup == NULL) {
        return;
    }
    for (uint32_t i = 0; i < BACKUP_SAVES_MAX; i++) {
        backup_save_t *save = &srv->backup->saves[i];
        if (save->id != 0 && now_ms - save->used_ms >= BACKUP_IDLE_MS) {
            log_warn("snapshot save %llu expired after %u ms idle", (unsigned long long)save->id,
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

static void backup_write_error(client_t *client, const char *text)
{
    client->srv->stat_errors++;
    wire_buf_t *out = server_scratch(client->srv);
    resp_reply_error(out, text);
    net_conn_write(client->conn, out->bytes, out->size);
}

/* Makes the image of the kv as it is now: `slot` is the applied slot. */
static int backup_image(server_t *srv, backup_save_t *save, char *err, size_t err_bytes)
{
    uint64_t slot = srv->applied_slot;
    if (slot == 0) {
        snprintf(err, err_bytes, "ERR nothing to save: no slot has been applied yet");
        return BALLOT_ESTATE;
    }
    uint64_t size = kv_snapshot_bytes(srv->kv);
    if (size > SNAPSHOT_BYTES_MAX) {
        snprintf(err, err_bytes, "ERR the state is %llu bytes, over the snapshot bound of %llu",
                 (unsigned long long)size, (unsigned long long)SNAPSHOT_BYTES_MAX);
        return BALLOT_ETOOLARGE;
    }
    uint64_t total = snapshot_file_bytes(size);
    uint8_t *file = malloc((size_t)total);
    if (file == NULL) {
        snprintf(err, err_bytes, "ERR no memory for a %llu-byte snapshot",
                 (unsigned long long)total);
        return BALLOT_ENOMEM;
    }
    backup_writer_t writer = {.at = file + SNAPSHOT_HEADER_BYTES, .left = size};
    int rc = kv_snapshot_write(srv->kv, backup_write_fn, &writer);
    if (rc != BALLOT_OK || writer.left != 0) {
        free(file);
        snprintf(err, err_bytes, "ERR cannot serialize the state: %s",
                 ballot_strerror(rc != BALLOT_OK ? rc : BALLOT_EINVAL));
        return rc != BALLOT_OK ? rc : BALLOT_EINVAL;
    }
    snapshot_seal(file, slot, size);
    save->slot = slot;
    save->file = file;
    save->size = total;
    save->crc = crc32c(file, (size_t)total);
    save->keys = kv_key_count(srv->kv);
    return BALLOT_OK;
}

void backup_answer_begin(client_t *client, const request_t *request)
{
    (void)request;
    server_t *srv = client->srv;
    uint64_t now = server_now_ms();
    backup_tick(srv, now);
    backup_state_t *state = backup_state(srv);
    backup_save_t *save = state != NULL ? backup_free_entry(state) : NULL;
    if (save == NULL) {
        backup_write_error(client, "BUSY snapshot saves are in flight on this node; retry "
                                   "once one ends");
        return;
    }
    char err[RESP_ERROR_BYTES];
    if (backup_image(srv, save, err, sizeof(err)) != BALLOT_OK) {
        backup_write_error(client, err);
        return;
    }
    save->id = ++state->next_id;
    save->used_ms = now;
    log_info("snapshot save %llu for client %s: slot %llu, %llu bytes, %llu keys, %llu ms",
             (unsigned long long)save->id, net_conn_peer_text(client->conn),
             (unsigned long long)save->slot, (unsigned long long)save->size,
             (unsigned long long)save->keys, (unsigned long long)(server_now_ms() - now));
    wire_buf_t *out = server_scratch(srv);
    resp_reply_array_header(out, 5);
    resp_reply_integer(out, (int64_t)save->id);
    resp_reply_integer(out, (int64_t)save->slot);
    resp_reply_integer(out, (int64_t)save->size);
    resp_reply_integer(out, (int64_t)save->crc);
    resp_reply_integer(out, (int64_t)save->keys);
    net_conn_write(client->conn, out->bytes, out->size);
}

static backup_save_t *backup_lookup(client_t *client, const uint8_t *arg, uint32_t size)
{
    uint64_t id = 0;
    backup_state_t *state = client->srv->backup;
    backup_save_t *save = NULL;
    if (backup_parse_u64(arg, size, &id) && state != NULL) {
        save = backup_find(state, id);
    }
    if (save == NULL) {
        client_reply_error(client,
                           "ERR no snapshot save with that id on this node (it ended, or "
                           "expired after %u ms idle)",
                           BACKUP_IDLE_MS);
    }
    return save;
}

static void backup_chunk(client_t *client, const uint8_t *const *argv, const uint32_t *len)
{
    server_t *srv = client->srv;
    backup_tick(srv, server_now_ms());
    backup_save_t *save = backup_lookup(client, argv[2], len[2]);
    if (save == NULL) {
        return;
    }
    uint64_t offset = 0;
    if (!backup_parse_u64(argv[3], len[3], &offset) || offset > save->size) {
        client_reply_error(client, "ERR offset must be 0..%llu", (unsigned long long)save->size);
        return;
    }
    /* A chunk stays well inside the connection's output bound. */
    uint64_t bound = srv->cfg->client_output_bytes_max / 4u;
    uint64_t n = save->size - offset;
    n = n < BACKUP_CHUNK_BYTES_MAX ? n : BACKUP_CHUNK_BYTES_MAX;
    n = n < bound ? n : bound;
    save->used_ms = server_now_ms();
    wire_buf_t *out = server_scratch(srv);
    resp_reply_bulk(out, save->file + offset, (size_t)n);
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
    } else if (argc == 4 && backup_is(argv[1], len[1], "CHUNK")) {
        backup_chunk(client, argv, len);
    } else if (argc == 3 && backup_is(argv[1], len[1], "END")) {
        backup_end(client, argv, len);
    } else {
        client_reply_error(client, "ERR usage: BALLOT.SNAPSHOT BEGIN | CHUNK id offset | END id");
    }
}
