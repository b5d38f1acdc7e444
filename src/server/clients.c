/* RESP client connections: accept, parse, dispatch, and route what the node produces
 * (applied results, read barriers, refusals) back to the request that asked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/tls.h"
#include "server/log.h"
#include "server/server_internal.h"

static client_t *clients_lookup(server_t *srv, uint64_t client_id)
{
    uint64_t value = 0;
    if (!idmap_get(&srv->client_map, client_id, &value)) {
        return NULL;
    }
    return (client_t *)(uintptr_t)value;
}

static const char *clients_close_reason(net_close_reason_t reason)
{
    switch (reason) {
    case NET_CLOSE_LOCAL:
        return "closed by the server";
    case NET_CLOSE_EOF:
        return "closed by the client";
    case NET_CLOSE_ERROR:
        return "socket error";
    case NET_CLOSE_READ_BOUND:
        return "request over the read bound";
    case NET_CLOSE_WRITE_BOUND:
        return "replies not read (output bound reached)";
    case NET_CLOSE_TLS:
        return "TLS failed";
    case NET_CLOSE_DEADLINE:
        return "TLS handshake not finished in time";
    case NET_CLOSE_BUDGET:
        return "the node's buffer budget (--buffer-bytes-max) is spent and it held the most";
    case NET_CLOSE_IDLE:
        return "idle (--client-idle-timeout-ms)";
    case NET_CLOSE_PARTIAL:
        return "request left incomplete (--input-timeout-ms)";
    }
    return "?";
}

static void clients_unlist_ready(server_t *srv, client_t *client)
{
    client_t **at = &srv->ready;
    /* Bounded by the number of clients. */
    while (*at != NULL) {
        if (*at == client) {
            *at = client->ready_next;
            break;
        }
        at = &(*at)->ready_next;
    }
    client->ready_listed = false;
}

static void clients_on_close(net_conn_t *conn, void *user, net_close_reason_t reason, int uv_err)
{
    (void)conn;
    client_t *client = user;
    server_t *srv = client->srv;
    if (reason == NET_CLOSE_WRITE_BOUND || reason == NET_CLOSE_BUDGET ||
        reason == NET_CLOSE_PARTIAL) {
        log_warn("client %s disconnected: %s", net_conn_peer_text(conn),
                 clients_close_reason(reason));
    } else {
        log_debug("client %s gone: %s%s%s", net_conn_peer_text(conn), clients_close_reason(reason),
                  uv_err != 0 ? ": " : "", uv_err != 0 ? uv_strerror(uv_err) : "");
    }
    for (uint32_t i = 0; i < client->count; i++) {
        request_t *r = &client->ring[(client->head + i) % client->ring_cap];
        if (r->read_id != 0) {
            idmap_remove(&srv->read_map, r->read_id);
        }
    }
    for (uint32_t i = 0; i < client->ring_cap; i++) {
        free(client->ring[i].cmd);
        free(client->ring[i].reply);
    }
    free(client->ring);
    free(client->multi_buf);
    free(client->watch_buf);
    idmap_remove(&srv->client_map, client->client_id);
    if (client->ready_listed) {
        clients_unlist_ready(srv, client);
    }
    if (client->prev != NULL) {
        client->prev->next = client->next;
    } else {
        srv->clients = client->next;
    }
    if (client->next != NULL) {
        client->next->prev = client->prev;
    }
    srv->client_count--;
    if (client->evicted) {
        srv->clients_closing--;
    }
    resp_parser_free(&client->parser);
    free(client);
}

/* Parses and dispatches whole requests while the pipeline has room. */
static void client_process(client_t *client)
{
    server_t *srv = client->srv;
    /* Bounded by pipeline_max: every dispatched request takes a pipeline entry or is
     * answered at once (then nothing is ahead of it and it takes none). */
    uint32_t budget = srv->cfg->pipeline_max * 2u + 1u;
    bool progressed = false;
    while (!client->quitting && client->count < srv->cfg->pipeline_max && budget-- > 0 &&
           !net_conn_closing(client->conn)) {
        resp_request_t req;
        int rc = resp_parser_next(&client->parser, &req);
        if (rc != BALLOT_OK) {
            srv->stat_resp_refused++;
            log_info("client %s: refusing request: %s", net_conn_peer_text(client->conn),
                     resp_parser_error(&client->parser));
            client_reply_error(client, "ERR %s", resp_parser_error(&client->parser));
            client->quitting = true;
            client_drain(client);
            return;
        }
        if (req.argc == 0) {
            break;
        }
        progressed = true;
        metrics_mark_t mark = metrics_request_begin(client, req.argv[0], req.argv_len[0]);
        commands_dispatch(client, req.argc, req.argv, req.argv_len);
        metrics_request_end(client, &mark, req.argc, req.argv, req.argv_len);
    }
    if (client->count >= srv->cfg->pipeline_max) {
        net_conn_pause(client->conn);
        progressed = true; /* the pipeline is full: the wait is ours, not the client's */
    }
    if (!net_conn_closing(client->conn)) {
        net_conn_hold_input(client->conn, client->parser.capacity,
                            resp_parser_pending(&client->parser) > 0, progressed);
    }
}

static void clients_on_data(net_conn_t *conn, void *user)
{
    client_t *client = user;
    size_t size = 0;
    const uint8_t *bytes = net_conn_data(conn, &size);
    if (client->quitting) {
        net_conn_consume(conn, size);
        return;
    }
    int rc = resp_parser_feed(&client->parser, bytes, size);
    net_conn_consume(conn, size);
    if (rc == BALLOT_ENOMEM) {
        net_conn_close(conn);
        return;
    }
    client_process(client);
}

void client_after_drain(client_t *client)
{
    if (!net_conn_paused(client->conn) || net_conn_closing(client->conn)) {
        return;
    }
    if (client->count < client->srv->cfg->pipeline_max) {
        client_process(client);
    }
    if (client->count < client->srv->cfg->pipeline_max && !client->quitting) {
        net_conn_resume(client->conn);
    }
}

static const net_conn_ops_t clients_ops = {
    .on_data = clients_on_data,
    .on_close = clients_on_close,
};

static void clients_reject_on_data(net_conn_t *conn, void *user)
{
    (void)user;
    size_t size = 0;
    net_conn_data(conn, &size);
    net_conn_consume(conn, size);
}

static const net_conn_ops_t clients_reject_ops = {
    .on_data = clients_reject_on_data,
    .on_close = NULL,
};

/* Redis's protected-mode refusal (docs/security.md), with ballotd's remedies. */
static const char clients_denied[] =
    "-DENIED ballotd is running in protected mode because protected mode is enabled and no "
    "password is set for the default user (no --users-file). In this mode connections are "
    "only accepted from the loopback interface. If you want to connect from external "
    "computers you may adopt one of the following solutions: 1) Give ballotd a users file "
    "(--users-file FILE, see docs/security.md) so that clients must authenticate, and "
    "restart it. 2) If you started the server manually just for testing, restart it with "
    "the '--protected-mode no' option; MAKE SURE it is not publicly accessible from the "
    "internet if you do so. NOTE: You only need to do one of the above things in order for "
    "the server to start accepting connections from the outside.\r\n";

static bool clients_protected_refuse(server_t *srv, net_conn_t *conn)
{
    if (!srv->cfg->protected_mode || !acl_default_is_open(srv->cfg->acl) ||
        acl_addr_is_loopback(net_conn_peer_text(conn))) {
        return false;
    }
    srv->stat_rejected_connections++;
    log_debug("client %s refused: protected mode accepts only loopback clients",
              net_conn_peer_text(conn));
    net_conn_set_ops(conn, &clients_reject_ops, srv);
    net_conn_write(conn, clients_denied, sizeof(clients_denied) - 1);
    net_conn_close_after_flush(conn);
    return true;
}

static uint64_t clients_next_id(server_t *srv)
{
    srv->client_counter = (srv->client_counter + 1) & CLIENT_ID_COUNTER_MASK;
    if (srv->client_counter == 0) {
        srv->client_counter = 1;
    }
    return ((uint64_t)srv->cfg->id << CLIENT_ID_NODE_SHIFT) |
           ((srv->boot_id & 0xffffffffu) << CLIENT_ID_BOOT_SHIFT) | srv->client_counter;
}

/* With --max-clients reached, the client idle the longest (nothing received for at least
 * CONFIG_EVICT_IDLE_MS_MIN, nothing in flight, nothing unsent) is closed to make room,
 * so idle sockets cannot lock clients out. True when one was closed. */
static bool clients_evict_idle(server_t *srv)
{
    uint64_t now = server_now_ms();
    client_t *oldest = NULL;
    for (client_t *c = srv->clients; c != NULL; c = c->next) {
        if (c->count != 0 || net_conn_closing(c->conn) || net_conn_pending_bytes(c->conn) != 0) {
            continue;
        }
        if (oldest == NULL ||
            net_conn_last_read_ms(c->conn) < net_conn_last_read_ms(oldest->conn)) {
            oldest = c;
        }
    }
    if (oldest == NULL || now < net_conn_last_read_ms(oldest->conn) + CONFIG_EVICT_IDLE_MS_MIN) {
        return false;
    }
    log_info("client %s closed after %llu ms idle to make room (--max-clients %u reached)",
             net_conn_peer_text(oldest->conn),
             (unsigned long long)(now - net_conn_last_read_ms(oldest->conn)),
             srv->cfg->max_clients);
    oldest->evicted = true;
    srv->clients_closing++;
    srv->stat_idle_evicted++;
    net_conn_close(oldest->conn);
    return true;
}

static void clients_on_accept(net_listener_t *listener, net_conn_t *conn, void *user)
{
    (void)listener;
    server_t *srv = user;
    static const char full[] = "-ERR max number of clients reached\r\n";
    if (clients_protected_refuse(srv, conn)) {
        return;
    }
    client_t *client = NULL;
    /* A closed client leaves the count when its close completes: count those closing. */
    if (!srv->stopping && srv->client_count - srv->clients_closing >= srv->cfg->max_clients) {
        clients_evict_idle(srv);
    }
    if (!srv->stopping && srv->client_count - srv->clients_closing < srv->cfg->max_clients) {
        client = calloc(1, sizeof(*client));
    }
    if (client == NULL) {
        srv->stat_rejected_connections++;
        net_conn_set_ops(conn, &clients_reject_ops, srv);
        net_conn_write(conn, full, sizeof(full) - 1);
        net_conn_close_after_flush(conn);
        return;
    }
    client->srv = srv;
    client->conn = conn;
    client->client_id = clients_next_id(srv);
    client->connected_ms = server_now_ms();
    client->user = acl_initial_user(srv->cfg->acl);
    resp_parser_init(&client->parser, NULL);
    if (!idmap_put(&srv->client_map, client->client_id, (uint64_t)(uintptr_t)client)) {
        resp_parser_free(&client->parser);
        free(client);
        net_conn_close(conn);
        return;
    }
    client->next = srv->clients;
    if (srv->clients != NULL) {
        srv->clients->prev = client;
    }
    srv->clients = client;
    srv->client_count++;
    srv->stat_connections++;
    net_conn_set_ops(conn, &clients_ops, client);
}

int clients_listen(server_t *srv, char *msg, size_t msg_bytes)
{
    const server_config_t *cfg = srv->cfg;
    if (cfg->users_file[0] != '\0') {
        log_info("%u client user(s) from %s; %s", acl_user_count(cfg->acl), cfg->users_file,
                 acl_default_is_open(cfg->acl) ? "`default` needs no password"
                                               : "clients must AUTH");
    }
    if (!cfg->protected_mode && acl_default_is_open(cfg->acl)) {
        log_warn("protected mode is off and the default user needs no password: any client "
                 "that reaches the RESP port may run every command it allows");
    }
    net_conn_limits_t limits = {.read_bytes_max = SERVER_RESP_READ_BYTES_MAX,
                                .write_bytes_max = srv->cfg->client_output_bytes_max,
                                .idle_timeout_ms = srv->cfg->client_idle_timeout_ms,
                                .partial_timeout_ms = srv->cfg->input_timeout_ms,
                                .budget_input = true,
                                .budget_output = true};
    if (cfg->client_tls_cert[0] != '\0') {
        int rc = net_tls_server(cfg->client_tls_cert, cfg->client_tls_key, cfg->client_tls_ca,
                                &srv->client_tls, msg, msg_bytes);
        if (rc != BALLOT_OK) {
            return rc;
        }
    }
    int rc = net_listen(srv->loop, &cfg->client_addr, &limits, clients_on_accept, srv,
                        &srv->client_listener, msg, msg_bytes);
    if (rc == BALLOT_OK && srv->client_tls != NULL) {
        /* TLS clients: bounded while they handshake (docs/operations.md). */
        srv->client_pending.max = cfg->handshake_max;
        srv->client_pending.deadline_ms = cfg->handshake_timeout_ms;
        srv->client_pending.until_tls = true;
        net_listener_set_tls(srv->client_listener, srv->client_tls);
        net_listener_set_pending(srv->client_listener, &srv->client_pending);
    }
    return rc;
}

void clients_close_all(server_t *srv)
{
    for (client_t *c = srv->clients; c != NULL; c = c->next) {
        net_conn_close(c->conn);
    }
}

static bool clients_is_mine(const server_t *srv, uint64_t client_id)
{
    return (client_id >> CLIENT_ID_NODE_SHIFT) == srv->cfg->id;
}

void clients_on_apply_result(server_t *srv, const command_t *command, const kv_result_t *r)
{
    if (!clients_is_mine(srv, command->client_id)) {
        return;
    }
    client_t *client = clients_lookup(srv, command->client_id);
    request_t *request = client != NULL ? client_find_write(client, command->sequence) : NULL;
    if (request == NULL) {
        return;
    }
    request->result_type = r->type;
    request->integer = r->integer;
    request->error = r->error;
    if ((r->type == KV_RESULT_BULK || r->type == KV_RESULT_RESP) &&
        !client_store_reply(request, r->bytes, r->size)) {
        /* Applied, but its reply cannot be held: no error may say "not applied", so the
         * connection closes, which promises nothing. */
        log_warn("client %s: out of memory for a reply of %u bytes; closing",
                 net_conn_peer_text(client->conn), r->size);
        net_conn_close(client->conn);
        return;
    }
    srv->stat_writes++;
    client_mark_ready(client, request);
}

void clients_on_client_reply(server_t *srv, const client_reply_t *reply)
{
    client_t *client = clients_lookup(srv, reply->client_id);
    request_t *request = client != NULL ? client_find_write(client, reply->sequence) : NULL;
    if (request == NULL) {
        return;
    }
    switch (reply->status) {
    case CLIENT_NOT_LEADER:
        /* This copy was not taken (no leader, or the node asked no longer leads and had not
         * proposed it): try again shortly, until the request's deadline. */
        request->refused++;
        request->retry_at_ms = server_now_ms() + REQUEST_RETRY_MS;
        break;
    case CLIENT_BUSY:
        request->refused++;
        client_write_refused(client, request,
                             "BUSY the leader's queue is full; not applied; retry later");
        break;
    case CLIENT_TOO_LARGE:
        client_write_refused(client, request, "TOOLARGE command exceeds %u bytes",
                             (unsigned)COMMAND_BYTES_MAX);
        break;
    }
}

void clients_on_read_result(server_t *srv, const read_result_t *result)
{
    uint64_t client_id = 0;
    if (!idmap_get(&srv->read_map, result->read_id, &client_id)) {
        return;
    }
    client_t *client = clients_lookup(srv, client_id);
    request_t *request = client != NULL ? client_find_read(client, result->read_id) : NULL;
    if (request == NULL) {
        idmap_remove(&srv->read_map, result->read_id);
        return;
    }
    if (!result->ok) {
        request->retry_at_ms = server_now_ms() + REQUEST_RETRY_MS;
        return;
    }
    srv->stat_reads++;
    request->read_index = result->index;
    if (srv->applied_slot >= result->index) {
        client_mark_ready(client, request);
        return;
    }
    /* Not applied that far yet: clients_tick() answers it once it is. */
    idmap_remove(&srv->read_map, request->read_id);
    request->read_id = 0;
}

static uint64_t clients_resubmit_ms(const server_t *srv)
{
    /* A forwarded command lost with a leader or a link is sent again after this; the kv
     * client table makes the copy take effect once (kv.h). */
    return 2u * (uint64_t)srv->cfg->node.election_timeout_max_ms;
}

/* The deadline's answer. -NOTLEADER is definite: no copy of the write was ever taken by a
 * leader (each was refused), so it was not applied and never will be. -TIMEOUT is
 * indeterminate: a copy was handed to a leader and may still be chosen, whatever this
 * node now knows of leaders (docs/operations.md "Errors: definite and indeterminate"). */
static void clients_timeout(server_t *srv, client_t *client, request_t *r)
{
    uint32_t ms = srv->cfg->request_timeout_ms;
    char hint[NET_HOST_BYTES_MAX + 32];
    server_leader_hint(srv, hint, sizeof(hint));
    if (r->kind == REQUEST_WRITE && r->handed > r->refused) {
        client_finish_error(client, r,
                            "TIMEOUT the write was handed to a leader but not committed within "
                            "%u ms; it may still take effect (leader now: %s)",
                            ms, hint);
    } else if (r->kind == REQUEST_WRITE) {
        client_finish_error(client, r,
                            "NOTLEADER no leader took the write within %u ms (leader now: %s); "
                            "not applied; retry later",
                            ms, hint);
    } else if (strcmp(hint, "unknown") == 0) {
        client_finish_error(client, r,
                            "NOTLEADER no leader confirmed the read within %u ms (an election "
                            "may be running); retry later",
                            ms);
    } else {
        client_finish_error(client, r,
                            "TIMEOUT the read was not confirmed within %u ms (leader: %s); "
                            "retry later",
                            ms, hint);
    }
}

static void clients_tick_request(server_t *srv, client_t *client, request_t *r, uint64_t now_ms)
{
    if (r->member_epoch != 0) {
        member_tick_request(srv, client, r, now_ms);
    } else if (now_ms >= r->deadline_ms) {
        clients_timeout(srv, client, r);
    } else if (r->retry_at_ms != 0 && now_ms >= r->retry_at_ms) {
        if (r->kind == REQUEST_WRITE) {
            client_submit_write(client, r, now_ms);
        } else {
            client_submit_read(client, r, now_ms);
        }
    } else if (r->kind == REQUEST_WRITE && now_ms - r->submitted_ms >= clients_resubmit_ms(srv)) {
        client_submit_write(client, r, now_ms);
    } else if (r->kind == REQUEST_READ && r->read_id == 0 && r->retry_at_ms == 0 &&
               srv->applied_slot >= r->read_index) {
        client_mark_ready(client, r);
    }
}

void clients_tick(server_t *srv, uint64_t now_ms)
{
    clients_expire_tick(srv, now_ms);
    for (client_t *client = srv->clients; client != NULL; client = client->next) {
        /* Answers held back while the client's output was over CLIENT_DRAIN_PENDING_MAX. */
        if (client->count > client->waiting && !client->ready_listed &&
            net_conn_pending_bytes(client->conn) < CLIENT_DRAIN_PENDING_MAX &&
            client->ring[client->head].state == REQUEST_READY) {
            client_list_ready(client);
        }
        if (client->waiting == 0) {
            continue;
        }
        for (uint32_t i = 0; i < client->count; i++) {
            request_t *r = &client->ring[(client->head + i) % client->ring_cap];
            if (r->state == REQUEST_WAITING) {
                clients_tick_request(srv, client, r, now_ms);
            }
        }
    }
}

void clients_resubmit_all(server_t *srv, uint64_t now_ms)
{
    for (client_t *client = srv->clients; client != NULL; client = client->next) {
        for (uint32_t i = 0; client->waiting > 0 && i < client->count; i++) {
            request_t *r = &client->ring[(client->head + i) % client->ring_cap];
            if (r->state == REQUEST_WAITING && r->kind == REQUEST_WRITE) {
                r->retry_at_ms = now_ms;
            }
        }
    }
}

/* Collects expired keys into an EXPIRED command. */
typedef struct expire_batch {
    kv_command_t *cmd;
    uint64_t bytes;
} expire_batch_t;

static void clients_expire_key(void *ctx, const uint8_t *key, uint32_t key_size)
{
    expire_batch_t *b = ctx;
    if (b->cmd->arg_count < CLIENTS_EXPIRE_KEYS_MAX &&
        b->bytes + 4u + key_size <= CLIENTS_EXPIRE_BYTES_MAX) {
        b->cmd->args[b->cmd->arg_count++] = (kv_slice_t){.bytes = key, .size = key_size};
        b->bytes += 4u + key_size;
    }
}

void clients_expire_tick(server_t *srv, uint64_t now_ms)
{
    if (kv_volatile_count(srv->kv) == 0 || srv->disk_full ||
        !node_serves_lease_reads(srv->node, now_ms)) {
        return;
    }
    /* At most CLIENTS_EXPIRE_SLOTS slots of the table per tick and one command of at most
     * CLIENTS_EXPIRE_KEYS_MAX keys: bounded work, never a full scan per tick. The state
     * machine deletes only what is expired in its own time, so a key given a new
     * deadline meanwhile stays. */
    kv_command_t *cmd = &srv->scratch_exec;
    cmd->op = KV_EXPIRED;
    cmd->arg_count = 0;
    expire_batch_t batch = {.cmd = cmd, .bytes = 8};
    kv_expiry_scan(srv->kv, server_wall_ms(), &srv->expire_cursor, CLIENTS_EXPIRE_SLOTS,
                   CLIENTS_EXPIRE_KEYS_MAX, clients_expire_key, &batch);
    if (cmd->arg_count == 0) {
        return;
    }
    uint8_t *bytes = malloc((size_t)batch.bytes);
    size_t written = 0;
    if (bytes != NULL && kv_command_encode(cmd, &srv->kv_config, bytes, (size_t)batch.bytes,
                                           &written) == BALLOT_OK) {
        command_t command = {
            .client_id = 0, .sequence = 0, .size = (uint32_t)written, .bytes = bytes};
        if (node_submit(srv->node, &command, now_ms) == BALLOT_OK) {
            srv->stat_expired_proposed += cmd->arg_count;
        }
    }
    free(bytes);
}
