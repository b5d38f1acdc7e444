/* A client's pipeline: requests are answered strictly in the order they arrived (RESP
 * pipelining), whatever order the log, the read barriers and the timeouts finish them in. */
#include "core/check.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"
#include "server/server_internal.h"

wire_buf_t *server_scratch(server_t *srv)
{
    wire_buf_clear(&srv->scratch);
    return &srv->scratch;
}

static bool request_reserve(uint8_t **buf, uint32_t *cap, size_t size)
{
    if (size <= *cap) {
        return true;
    }
    if (size > UINT32_MAX) {
        return false;
    }
    size_t grown = *cap == 0 ? 64u : *cap;
    while (grown < size) {
        grown *= 2;
    }
    uint8_t *bytes = realloc(*buf, grown);
    if (bytes == NULL) {
        return false;
    }
    *buf = bytes;
    *cap = (uint32_t)(grown > UINT32_MAX ? UINT32_MAX : grown);
    return true;
}

static bool client_grow_ring(client_t *client)
{
    uint32_t cap = client->ring_cap == 0 ? CLIENT_RING_INITIAL : client->ring_cap * 2;
    if (cap > client->srv->cfg->pipeline_max) {
        cap = client->srv->cfg->pipeline_max;
    }
    if (cap <= client->ring_cap) {
        return false;
    }
    request_t *ring = calloc(cap, sizeof(*ring));
    if (ring == NULL) {
        return false;
    }
    for (uint32_t i = 0; i < client->ring_cap; i++) {
        ring[i] = client->ring[(client->head + i) % client->ring_cap];
    }
    free(client->ring);
    client->ring = ring;
    client->ring_cap = cap;
    client->head = 0;
    return true;
}

request_t *client_push_request(client_t *client, request_kind_t kind)
{
    if (client->count == client->ring_cap && !client_grow_ring(client)) {
        return NULL;
    }
    request_t *r = &client->ring[(client->head + client->count) % client->ring_cap];
    client->count++;
    r->kind = kind;
    r->state = REQUEST_WAITING;
    r->sequence = 0;
    r->read_id = 0;
    r->read_index = 0;
    r->deadline_ms = 0;
    r->retry_at_ms = 0;
    r->submitted_ms = 0;
    r->handed = 0;
    r->refused = 0;
    r->stale = false;
    r->backup = false;
    r->member_epoch = 0;
    r->member_crc = 0;
    r->cmd_size = 0;
    r->reply_size = 0;
    r->result_type = KV_RESULT_OK;
    r->integer = 0;
    r->error = KV_ERR_NONE;
    r->metric.command = 0;
    client->waiting++;
    return r;
}

void client_list_ready(client_t *client)
{
    if (client->ready_listed) {
        return;
    }
    client->ready_listed = true;
    client->ready_next = client->srv->ready;
    client->srv->ready = client;
}

void client_mark_ready(client_t *client, request_t *request)
{
    assert(request->state == REQUEST_WAITING);
    assert(client->waiting > 0);
    request->state = REQUEST_READY;
    client->waiting--;
    metrics_request_done(client->srv, client, request);
    if (request->read_id != 0) {
        idmap_remove(&client->srv->read_map, request->read_id);
        request->read_id = 0;
    }
    client_list_ready(client);
}

/* The bytes go out now when nothing is ahead of them, else they wait their turn. */
void client_reply_now(client_t *client, const wire_buf_t *bytes)
{
    if (client->count == 0) {
        net_conn_write(client->conn, bytes->bytes, bytes->size);
        return;
    }
    request_t *r = client_push_request(client, REQUEST_REPLY);
    if (r == NULL || !request_reserve(&r->reply, &r->reply_cap, bytes->size)) {
        if (r != NULL) {
            client->count--;
            client->waiting--;
        }
        net_conn_close(client->conn);
        return;
    }
    memcpy(r->reply, bytes->bytes, bytes->size);
    r->reply_size = (uint32_t)bytes->size;
    client_mark_ready(client, r);
}

void client_reply_error(client_t *client, const char *format, ...)
{
    char text[RESP_ERROR_BYTES * 2];
    va_list ap;
    va_start(ap, format);
    vsnprintf(text, sizeof(text), format, ap);
    va_end(ap);
    client->srv->stat_errors++;
    wire_buf_t *out = server_scratch(client->srv);
    resp_reply_error(out, text);
    client_reply_now(client, out);
}

void client_finish_error(client_t *client, request_t *request, const char *format, ...)
{
    char text[RESP_ERROR_BYTES * 2];
    va_list ap;
    va_start(ap, format);
    vsnprintf(text, sizeof(text), format, ap);
    va_end(ap);
    client->srv->stat_errors++;
    wire_buf_t *out = server_scratch(client->srv);
    resp_reply_error(out, text);
    request->kind = REQUEST_REPLY;
    if (request_reserve(&request->reply, &request->reply_cap, out->size)) {
        memcpy(request->reply, out->bytes, out->size);
        request->reply_size = (uint32_t)out->size;
    } else {
        request->reply_size = 0;
    }
    client_mark_ready(client, request);
}

bool client_write_retry_pending(const client_t *client)
{
    for (uint32_t i = 0; client->waiting > 0 && i < client->count; i++) {
        const request_t *r = &client->ring[(client->head + i) % client->ring_cap];
        if (r->kind == REQUEST_WRITE && r->state == REQUEST_WAITING && r->retry_at_ms != 0) {
            return true;
        }
    }
    return false;
}

request_t *client_find_write(client_t *client, uint64_t sequence)
{
    for (uint32_t i = 0; i < client->count; i++) {
        request_t *r = &client->ring[(client->head + i) % client->ring_cap];
        if (r->kind == REQUEST_WRITE && r->sequence == sequence) {
            return r->state == REQUEST_WAITING ? r : NULL;
        }
    }
    return NULL;
}

request_t *client_find_read(client_t *client, uint64_t read_id)
{
    for (uint32_t i = 0; i < client->count; i++) {
        request_t *r = &client->ring[(client->head + i) % client->ring_cap];
        if (r->kind == REQUEST_READ && r->read_id == read_id) {
            return r->state == REQUEST_WAITING ? r : NULL;
        }
    }
    return NULL;
}

void client_submit_write(client_t *client, request_t *request, uint64_t now_ms)
{
    server_t *srv = client->srv;
    command_t command = {.client_id = client->client_id,
                         .sequence = request->sequence,
                         .size = request->cmd_size,
                         .bytes = request->cmd};
    request->submitted_ms = now_ms;
    request->retry_at_ms = 0;
    int rc = node_submit(srv->node, &command, now_ms);
    if (rc == BALLOT_OK) {
        request->handed++; /* a refusal, if any, comes back as a client reply */
    } else if (rc == BALLOT_ETOOLARGE) {
        client_write_refused(client, request, "TOOLARGE command exceeds %u bytes",
                             (unsigned)COMMAND_BYTES_MAX);
    } else if (rc == BALLOT_EBUSY) {
        client_write_refused(client, request,
                             "BUSY too many commands queued; not applied; retry later");
    } else {
        client_write_refused(client, request, "ERR command refused: %s", ballot_strerror(rc));
    }
}

void client_write_refused(client_t *client, request_t *request, const char *format, ...)
{
    if (request->handed > request->refused) {
        /* An earlier copy was handed to a leader and not refused: it may still be chosen.
         * Send again (the kv client table applies the write once) until it is applied or
         * the deadline answers -TIMEOUT. */
        request->retry_at_ms = server_now_ms() + REQUEST_BUSY_RETRY_MS;
        return;
    }
    char text[RESP_ERROR_BYTES * 2];
    va_list ap;
    va_start(ap, format);
    vsnprintf(text, sizeof(text), format, ap);
    va_end(ap);
    client_finish_error(client, request, "%s", text);
}

void client_submit_read(client_t *client, request_t *request, uint64_t now_ms)
{
    server_t *srv = client->srv;
    if (request->read_id != 0) {
        idmap_remove(&srv->read_map, request->read_id);
    }
    uint64_t read_id = ++srv->next_read_id;
    request->retry_at_ms = 0;
    request->submitted_ms = now_ms;
    if (!idmap_put(&srv->read_map, read_id, client->client_id)) {
        request->read_id = 0;
        client_finish_error(client, request, "BUSY too many reads in flight");
        return;
    }
    request->read_id = read_id;
    int rc = node_read(srv->node, read_id, now_ms);
    if (rc == BALLOT_EBUSY) {
        client_finish_error(client, request, "BUSY too many reads in flight; retry later");
    } else if (rc != BALLOT_OK) {
        client_finish_error(client, request, "ERR read refused: %s", ballot_strerror(rc));
    }
}

static void client_write_result(client_t *client, kv_result_type_t type, int64_t integer,
                                kv_error_t error, const uint8_t *bytes, uint32_t size)
{
    static const char ok[] = "+OK\r\n";
    static const char nil[] = "$-1\r\n";
    wire_buf_t *out = NULL;
    switch (type) {
    case KV_RESULT_OK:
        net_conn_write(client->conn, ok, sizeof(ok) - 1);
        return;
    case KV_RESULT_NIL:
        net_conn_write(client->conn, nil, sizeof(nil) - 1);
        return;
    case KV_RESULT_INTEGER:
        out = server_scratch(client->srv);
        resp_reply_integer(out, integer);
        break;
    case KV_RESULT_BULK:
        out = server_scratch(client->srv);
        resp_reply_bulk(out, bytes, size);
        break;
    case KV_RESULT_ERROR:
        client->srv->stat_errors++;
        out = server_scratch(client->srv);
        resp_reply_error(out, kv_error_text(error));
        break;
    case KV_RESULT_RESP:
        net_conn_write(client->conn, bytes, size);
        return;
    }
    if (out != NULL) {
        net_conn_write(client->conn, out->bytes, out->size);
    }
}

/* A read is evaluated when its turn comes, so it also sees every write this connection
 * made before it (those were answered first). A key whose deadline passed on this node's
 * clock reads as missing, even before the leader's deletion is applied (docs/design.md
 * "Expiry"). */
static void client_answer_read(client_t *client, const request_t *request)
{
    server_t *srv = client->srv;
    char err[KV_ERROR_BYTES];
    kv_result_t result;
    int rc = kv_command_decode(request->cmd, request->cmd_size, &srv->kv_config, &srv->scratch_cmd,
                               err, sizeof(err));
    if (rc == BALLOT_OK) {
        rc = kv_read_now(srv->kv, &srv->scratch_cmd, server_wall_ms(), &result);
    }
    if (rc != BALLOT_OK) {
        wire_buf_t *out = server_scratch(srv);
        resp_reply_errorf(out, "ERR read failed: %s", ballot_strerror(rc));
        net_conn_write(client->conn, out->bytes, out->size);
        return;
    }
    client_write_result(client, result.type, result.integer, result.error, result.bytes,
                        result.size);
}

static void client_answer(client_t *client, request_t *request)
{
    switch (request->kind) {
    case REQUEST_WRITE:
        client_write_result(client, request->result_type, request->integer, request->error,
                            request->reply, request->reply_size);
        break;
    case REQUEST_READ:
        if (request->backup) {
            backup_answer_begin(client, request);
        } else {
            client_answer_read(client, request);
        }
        break;
    case REQUEST_REPLY:
        net_conn_write(client->conn, request->reply, request->reply_size);
        break;
    }
    if (request->cmd_cap > REQUEST_BUFFER_KEEP_BYTES) {
        free(request->cmd);
        request->cmd = NULL;
        request->cmd_cap = 0;
    }
    if (request->reply_cap > REQUEST_BUFFER_KEEP_BYTES) {
        free(request->reply);
        request->reply = NULL;
        request->reply_cap = 0;
    }
}

bool client_reserve_cmd(request_t *request, size_t size)
{
    return request_reserve(&request->cmd, &request->cmd_cap, size);
}

bool client_store_reply(request_t *request, const uint8_t *bytes, uint32_t size)
{
    if (!request_reserve(&request->reply, &request->reply_cap, size)) {
        return false;
    }
    memcpy(request->reply, bytes, size);
    request->reply_size = size;
    return true;
}

/* Answers the requests at the head of the pipeline that are ready. */
void client_drain(client_t *client)
{
    /* A client that does not read its replies gets no more made for it than
     * CLIENT_DRAIN_PENDING_MAX at a time: clients_tick() drains it again once the output
     * went out (docs/operations.md "Bounds"). */
    while (client->count > 0 && !net_conn_closing(client->conn) &&
           net_conn_pending_bytes(client->conn) < CLIENT_DRAIN_PENDING_MAX) {
        request_t *r = &client->ring[client->head];
        if (r->state != REQUEST_READY) {
            break;
        }
        client_answer(client, r);
        client->head = (client->head + 1) % client->ring_cap;
        client->count--;
    }
    if (client->count == 0 && client->quitting) {
        net_conn_close_after_flush(client->conn);
    }
}

void clients_drain_ready(server_t *srv)
{
    /* Bounded by the number of clients: each is unlisted before it is drained; draining
     * may resume reading, which can list clients again for the next round. */
    while (srv->ready != NULL) {
        client_t *client = srv->ready;
        srv->ready = client->ready_next;
        client->ready_next = NULL;
        client->ready_listed = false;
        client_drain(client);
        client_after_drain(client);
    }
}
