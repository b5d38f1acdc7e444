/* ballotd's figures and the Prometheus endpoint (docs/metrics.md).
 *
 * Threads. ballotd's state belongs to the libuv loop thread and nothing else may read it.
 * The HTTP server is libmicrohttpd with its own polling thread (MHD_USE_INTERNAL_POLLING_
 * THREAD): that thread never touches the node. A request for /metrics or /health asks the
 * loop for a fresh rendering (a generation number under a mutex, then net_wakeup_send,
 * which is uv_async_send and safe from any thread) and waits on a condition variable, at
 * most METRICS_RENDER_WAIT_MS, for the loop to publish the text and the health verdict
 * under the same mutex. The loop renders only when asked, so an unscraped node pays
 * nothing, and a scrape always sees the node as it is, never a stale copy. A loop that
 * does not answer in time gets a 503 (it is stuck or stopping: not healthy either way).
 * Driving libmicrohttpd from the loop instead (MHD_USE_NO_THREAD_SAFETY with its sockets
 * in libuv) would save the thread but tie libmicrohttpd's timeouts and buffers to libuv's
 * callbacks; with its own thread, a slow or hostile HTTP client can never delay the
 * protocol (libmicrohttpd bounds its connections, memory and time per connection below).
 *
 * The storage thread's figures (fdatasync times, WAL bytes) go through a wrapper of the
 * POSIX storage backend and are atomics. */
#include <errno.h>
#include <malloc.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "server/log.h"
#include "server/metrics.h"
#include "server/server_internal.h"

/* Distinct command names counted; commands past it (never: the table is smaller) and
 * unknown names count as "unknown", so no client input adds an entry. */
#define METRICS_COMMANDS_MAX 256u
#define METRICS_LINE_BYTES   512u
/* How long an HTTP request waits for the loop to render. */
#define METRICS_RENDER_WAIT_MS 1000u
/* libmicrohttpd's bounds: connections at once, seconds idle, bytes per connection. */
#define METRICS_HTTP_CONNECTIONS_MAX 16u
#define METRICS_HTTP_TIMEOUT_S       10u
#define METRICS_HTTP_MEMORY_BYTES    (32u * 1024u)
#define METRICS_REASON_BYTES         256u

/* Latency buckets, in microseconds (rendered in seconds). */
static const uint64_t metrics_time_bounds_us[] = {
    100,   250,    500,    1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
#define METRICS_TIME_BUCKETS (sizeof(metrics_time_bounds_us) / sizeof(metrics_time_bounds_us[0]))
/* Size buckets: commands per slot, records per sync round. */
static const uint64_t metrics_size_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
#define METRICS_SIZE_BUCKETS (sizeof(metrics_size_bounds) / sizeof(metrics_size_bounds[0]))
#define METRICS_BUCKETS_MAX  METRICS_TIME_BUCKETS

typedef struct histo {
    uint64_t bucket[METRICS_BUCKETS_MAX]; /* not cumulative; the rest goes to +Inf */
    uint64_t count;
    uint64_t sum;
} histo_t;

/* Written by the storage thread, read by the loop. */
typedef struct atomic_histo {
    _Atomic uint64_t bucket[METRICS_TIME_BUCKETS];
    _Atomic uint64_t count;
    _Atomic uint64_t sum;
} atomic_histo_t;

typedef struct cmdstat {
    const char *name;
    uint64_t calls;
    uint64_t usec;
    uint64_t failed;
    bool no_slowlog; /* AUTH and HELLO (passwords), SLOWLOG itself */
} cmdstat_t;

typedef struct slow_entry {
    uint64_t id;
    int64_t unix_s;
    uint64_t duration_us;
    uint32_t argc;
    uint8_t argc_kept;
    uint32_t arg_size[METRICS_SLOW_ARGS]; /* as sent */
    char args[METRICS_SLOW_ARGS][METRICS_SLOW_ARG_BYTES];
    char addr[NET_HOST_BYTES_MAX + 8];
    char name[CLIENT_NAME_BYTES_MAX];
} slow_entry_t;

typedef struct metrics {
    server_t *srv;
    storage_io_t io;
    const storage_io_t *base;
    _Atomic uint64_t wal_bytes;
    _Atomic uint64_t wal_fsync_errors;
    atomic_histo_t fsync;

    cmdstat_t cmds[METRICS_COMMANDS_MAX];
    uint32_t cmd_count;
    uint16_t unknown_cmd;
    histo_t latency[METRICS_LAT_KINDS];
    histo_t batch;        /* commands per proposed slot */
    histo_t group_commit; /* records per sync round */
    histo_t snapshot_duration;

    uint64_t proposals;
    uint64_t proposed_commands;
    uint64_t noops;
    uint64_t chosen;
    uint64_t learned;
    uint64_t carried_forward;
    uint64_t elections_started;
    uint64_t elections_won;
    uint64_t elections_lost;
    uint64_t election_timeouts;
    uint64_t leader_changes;
    uint64_t step_downs[4];
    uint64_t rejects_sent[REJECT_REASON_MAX + 1];
    uint64_t rejects_received[REJECT_REASON_MAX + 1];
    uint64_t leases_acquired;
    uint64_t leases_expired;
    uint64_t snapshots[2][2]; /* [received][ok] */
    uint64_t snapshot_last_bytes;
    uint64_t snapshot_last_ms;
    uint64_t peer_chosen[NODES_MAX + 1]; /* from heartbeat acks (leader) */
    uint64_t leader_commit_seen;         /* from the leader's heartbeats and accepts */

    slow_entry_t *slow;
    uint32_t slow_cap;
    uint32_t slow_count;
    uint32_t slow_next; /* where the next entry goes */
    uint64_t slow_id;

    /* HTTP */
    struct MHD_Daemon *daemon;
    net_wakeup_t *wakeup;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool sync_ready;
    uint64_t wanted;   /* renderings asked for */
    uint64_t rendered; /* renderings published */
    bool closing;
    wire_buf_t published;
    int health_code;
    char health_reason[METRICS_REASON_BYTES + 2];
    wire_buf_t scratch;
    uint64_t scrapes;
} metrics_t;

static uint64_t metrics_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void histo_observe(histo_t *h, const uint64_t *bounds, size_t n, uint64_t value)
{
    for (size_t i = 0; i < n; i++) {
        if (value <= bounds[i]) {
            h->bucket[i]++;
            break;
        }
    }
    h->count++;
    h->sum += value;
}

/* ---- the storage backend wrapper (storage thread) ---- */

static int mio_open(void *ctx, const char *path, unsigned flags, int *fd_out)
{
    metrics_t *m = ctx;
    return m->base->open(m->base->ctx, path, flags, fd_out);
}

static int mio_close(void *ctx, int fd)
{
    metrics_t *m = ctx;
    return m->base->close(m->base->ctx, fd);
}

static int mio_pwrite(void *ctx, int fd, const void *buf, size_t size, uint64_t offset)
{
    metrics_t *m = ctx;
    int rc = m->base->pwrite(m->base->ctx, fd, buf, size, offset);
    if (rc == 0) {
        atomic_fetch_add(&m->wal_bytes, (uint64_t)size);
    }
    return rc;
}

static int mio_pread(void *ctx, int fd, void *buf, size_t size, uint64_t offset, size_t *read_bytes)
{
    metrics_t *m = ctx;
    return m->base->pread(m->base->ctx, fd, buf, size, offset, read_bytes);
}

static int mio_fdatasync(void *ctx, int fd)
{
    metrics_t *m = ctx;
    uint64_t start = metrics_now_us();
    int rc = m->base->fdatasync(m->base->ctx, fd);
    uint64_t us = metrics_now_us() - start;
    if (rc != 0) {
        atomic_fetch_add(&m->wal_fsync_errors, 1);
        return rc;
    }
    for (size_t i = 0; i < METRICS_TIME_BUCKETS; i++) {
        if (us <= metrics_time_bounds_us[i]) {
            atomic_fetch_add(&m->fsync.bucket[i], 1);
            break;
        }
    }
    atomic_fetch_add(&m->fsync.count, 1);
    atomic_fetch_add(&m->fsync.sum, us);
    return rc;
}

static int mio_ftruncate(void *ctx, int fd, uint64_t size)
{
    metrics_t *m = ctx;
    return m->base->ftruncate(m->base->ctx, fd, size);
}

static int mio_file_size(void *ctx, int fd, uint64_t *size_out)
{
    metrics_t *m = ctx;
    return m->base->file_size(m->base->ctx, fd, size_out);
}

static int mio_unlink(void *ctx, const char *path)
{
    metrics_t *m = ctx;
    return m->base->unlink(m->base->ctx, path);
}

static int mio_rename(void *ctx, const char *from, const char *to)
{
    metrics_t *m = ctx;
    return m->base->rename(m->base->ctx, from, to);
}

static int mio_list_dir(void *ctx, const char *dir, storage_list_fn fn, void *fn_ctx)
{
    metrics_t *m = ctx;
    return m->base->list_dir(m->base->ctx, dir, fn, fn_ctx);
}

static int mio_fsync_dir(void *ctx, const char *dir)
{
    metrics_t *m = ctx;
    return m->base->fsync_dir(m->base->ctx, dir);
}

static int mio_mkdir(void *ctx, const char *dir)
{
    metrics_t *m = ctx;
    return m->base->mkdir(m->base->ctx, dir);
}

const storage_io_t *metrics_storage_io(server_t *srv)
{
    return srv->metrics != NULL ? &srv->metrics->io : storage_io_posix();
}

/* ---- per-command figures and the slow log ---- */

static uint16_t metrics_command_index(metrics_t *m, const char *name)
{
    /* Bounded by METRICS_COMMANDS_MAX; names are the command table's own strings. */
    for (uint32_t i = 0; i < m->cmd_count; i++) {
        if (m->cmds[i].name == name) {
            return (uint16_t)(i + 1);
        }
    }
    if (m->cmd_count == METRICS_COMMANDS_MAX) {
        return m->unknown_cmd;
    }
    m->cmds[m->cmd_count].name = name;
    m->cmds[m->cmd_count].no_slowlog =
        strcmp(name, "auth") == 0 || strcmp(name, "hello") == 0 || strcmp(name, "slowlog") == 0;
    m->cmd_count++;
    return (uint16_t)m->cmd_count;
}

metrics_mark_t metrics_request_begin(client_t *client, const uint8_t *name, uint32_t len)
{
    metrics_mark_t mark = {0};
    metrics_t *m = client->srv->metrics;
    if (m == NULL) {
        return mark;
    }
    const char *canonical = commands_canonical_name(name, len);
    mark.command = canonical != NULL ? metrics_command_index(m, canonical) : m->unknown_cmd;
    mark.started_us = metrics_now_us();
    mark.count = client->count;
    mark.errors = client->srv->stat_errors;
    return mark;
}

static void metrics_keep_args(request_metric_t *rm, uint32_t argc, const uint8_t *const *argv,
                              const uint32_t *argv_len)
{
    rm->argc = argc;
    rm->argc_kept = (uint8_t)(argc < METRICS_SLOW_ARGS ? argc : METRICS_SLOW_ARGS);
    for (uint32_t i = 0; i < rm->argc_kept; i++) {
        uint32_t n = argv_len[i] < METRICS_SLOW_ARG_BYTES ? argv_len[i] : METRICS_SLOW_ARG_BYTES;
        memcpy(rm->args[i], argv[i], n);
        rm->arg_len[i] = (uint8_t)n;
        rm->arg_size[i] = argv_len[i];
    }
}

static void metrics_slow_add(metrics_t *m, client_t *client, const request_metric_t *rm,
                             uint64_t duration_us)
{
    if (m->slow_cap == 0) {
        return;
    }
    slow_entry_t *e = &m->slow[m->slow_next];
    m->slow_next = (m->slow_next + 1) % m->slow_cap;
    if (m->slow_count < m->slow_cap) {
        m->slow_count++;
    }
    e->id = m->slow_id++;
    e->unix_s = (int64_t)time(NULL);
    e->duration_us = duration_us;
    e->argc = rm->argc;
    e->argc_kept = rm->argc_kept;
    for (uint32_t i = 0; i < rm->argc_kept; i++) {
        e->arg_size[i] = rm->arg_size[i];
        memcpy(e->args[i], rm->args[i], rm->arg_len[i]);
        if (rm->arg_len[i] < METRICS_SLOW_ARG_BYTES) {
            e->args[i][rm->arg_len[i]] = '\0';
        }
    }
    snprintf(e->addr, sizeof(e->addr), "%s", net_conn_peer_text(client->conn));
    snprintf(e->name, sizeof(e->name), "%s", client->name);
}

static void metrics_record(metrics_t *m, uint16_t command, metrics_latency_kind_t kind,
                           uint64_t duration_us, bool error)
{
    if (command >= 1 && command <= m->cmd_count) {
        cmdstat_t *c = &m->cmds[command - 1];
        c->calls++;
        c->usec += duration_us;
        c->failed += error ? 1u : 0u;
    }
    if ((unsigned)kind < METRICS_LAT_KINDS) {
        histo_observe(&m->latency[kind], metrics_time_bounds_us, METRICS_TIME_BUCKETS, duration_us);
    }
}

static bool metrics_is_slow(const metrics_t *m, uint16_t command, uint64_t duration_us)
{
    return m->slow_cap > 0 && duration_us >= m->srv->cfg->slowlog_slower_than_us && command >= 1 &&
           command <= m->cmd_count && !m->cmds[command - 1].no_slowlog;
}

void metrics_request_end(client_t *client, const metrics_mark_t *mark, uint32_t argc,
                         const uint8_t *const *argv, const uint32_t *argv_len)
{
    server_t *srv = client->srv;
    metrics_t *m = srv->metrics;
    if (m == NULL || mark->command == 0) {
        return;
    }
    metrics_latency_kind_t kind = METRICS_LAT_OTHER;
    if (client->count == mark->count + 1 && client->ring_cap > 0) {
        request_t *r = &client->ring[(client->head + client->count - 1) % client->ring_cap];
        if (r->state == REQUEST_WAITING && (r->kind == REQUEST_WRITE || r->kind == REQUEST_READ)) {
            request_metric_t *rm = &r->metric;
            rm->command = mark->command;
            rm->started_us = mark->started_us;
            if (r->kind == REQUEST_WRITE) {
                rm->kind = METRICS_LAT_WRITE;
            } else if (r->backup) {
                rm->kind = METRICS_LAT_OTHER;
            } else {
                rm->kind = node_serves_lease_reads(srv->node, server_now_ms())
                               ? METRICS_LAT_LEASE_READ
                               : METRICS_LAT_INDEX_READ;
            }
            metrics_keep_args(rm, argc, argv, argv_len);
            return;
        }
        if (r->kind == REQUEST_READ && r->stale) {
            kind = METRICS_LAT_STALE_READ;
        }
    }
    uint64_t duration = metrics_now_us() - mark->started_us;
    metrics_record(m, mark->command, kind, duration, srv->stat_errors != mark->errors);
    if (metrics_is_slow(m, mark->command, duration)) {
        request_metric_t rm;
        metrics_keep_args(&rm, argc, argv, argv_len);
        metrics_slow_add(m, client, &rm, duration);
    }
}

void metrics_request_done(server_t *srv, client_t *client, request_t *request)
{
    metrics_t *m = srv->metrics;
    request_metric_t *rm = &request->metric;
    if (m == NULL || rm->command == 0) {
        return;
    }
    /* client_finish_error turns a failed read or write into a ready reply. */
    bool error = request->kind == REQUEST_REPLY ||
                 (request->kind == REQUEST_WRITE && request->result_type == KV_RESULT_ERROR);
    uint64_t duration = metrics_now_us() - rm->started_us;
    metrics_record(m, rm->command, (metrics_latency_kind_t)rm->kind, duration, error);
    if (metrics_is_slow(m, rm->command, duration)) {
        metrics_slow_add(m, client, rm, duration);
    }
    rm->command = 0;
}

void metrics_info_commandstats(server_t *srv, wire_buf_t *out)
{
    metrics_t *m = srv->metrics;
    if (m == NULL) {
        return;
    }
    char line[METRICS_LINE_BYTES];
    int n = snprintf(line, sizeof(line), "\r\n# Commandstats\r\n");
    wire_buf_append(out, line, (size_t)n);
    for (uint32_t i = 0; i < m->cmd_count; i++) {
        const cmdstat_t *c = &m->cmds[i];
        if (c->calls == 0) {
            continue;
        }
        n = snprintf(line, sizeof(line),
                     "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=0,"
                     "failed_calls=%llu\r\n",
                     c->name, (unsigned long long)c->calls, (unsigned long long)c->usec,
                     (double)c->usec / (double)c->calls, (unsigned long long)c->failed);
        if (n > 0 && (size_t)n < sizeof(line)) {
            wire_buf_append(out, line, (size_t)n);
        }
    }
}

static bool slowlog_arg_is(const uint8_t *arg, uint32_t len, const char *word)
{
    return len == strlen(word) && strncasecmp((const char *)arg, word, len) == 0;
}

static void slowlog_entry(wire_buf_t *out, const slow_entry_t *e)
{
    resp_reply_array_header(out, 6);
    resp_reply_integer(out, (int64_t)e->id);
    resp_reply_integer(out, e->unix_s);
    resp_reply_integer(out, (int64_t)e->duration_us);
    bool more = e->argc > e->argc_kept;
    resp_reply_array_header(out, (int64_t)e->argc_kept + (more ? 1 : 0));
    for (uint32_t i = 0; i < e->argc_kept; i++) {
        uint32_t kept =
            e->arg_size[i] < METRICS_SLOW_ARG_BYTES ? e->arg_size[i] : METRICS_SLOW_ARG_BYTES;
        if (kept == e->arg_size[i]) {
            resp_reply_bulk(out, e->args[i], kept);
        } else {
            char text[METRICS_SLOW_ARG_BYTES + 48];
            memcpy(text, e->args[i], kept);
            int n = snprintf(text + kept, sizeof(text) - kept, "... (%u more bytes)",
                             e->arg_size[i] - kept);
            resp_reply_bulk(out, text, kept + (size_t)(n > 0 ? n : 0));
        }
    }
    if (more) {
        char text[48];
        int n = snprintf(text, sizeof(text), "... (%u more arguments)", e->argc - e->argc_kept);
        resp_reply_bulk(out, text, (size_t)(n > 0 ? n : 0));
    }
    resp_reply_bulk(out, e->addr, strlen(e->addr));
    resp_reply_bulk(out, e->name, strlen(e->name));
}

void metrics_slowlog_command(client_t *client, uint32_t argc, const uint8_t *const *argv,
                             const uint32_t *len)
{
    metrics_t *m = client->srv->metrics;
    wire_buf_t *out = server_scratch(client->srv);
    if (argc >= 2 && slowlog_arg_is(argv[1], len[1], "GET") && argc <= 3 && m != NULL) {
        int64_t want = 10;
        if (argc == 3) {
            char text[24];
            char *end = NULL;
            if (len[2] == 0 || len[2] >= sizeof(text)) {
                client_reply_error(client, "ERR count should be greater than or equal to -1");
                return;
            }
            memcpy(text, argv[2], len[2]);
            text[len[2]] = '\0';
            long long v = strtoll(text, &end, 10);
            if (*end != '\0' || v < -1) {
                client_reply_error(client, "ERR count should be greater than or equal to -1");
                return;
            }
            want = v;
        }
        uint32_t count = m->slow_count;
        if (want >= 0 && (uint64_t)want < count) {
            count = (uint32_t)want;
        }
        resp_reply_array_header(out, count);
        for (uint32_t i = 0; i < count; i++) {
            uint32_t at = (m->slow_next + m->slow_cap - 1 - i) % m->slow_cap;
            slowlog_entry(out, &m->slow[at]);
        }
        client_reply_now(client, out);
    } else if (argc == 2 && slowlog_arg_is(argv[1], len[1], "LEN") && m != NULL) {
        resp_reply_integer(out, m->slow_count);
        client_reply_now(client, out);
    } else if (argc == 2 && slowlog_arg_is(argv[1], len[1], "RESET") && m != NULL) {
        m->slow_count = 0;
        m->slow_next = 0;
        resp_reply_simple(out, "OK");
        client_reply_now(client, out);
    } else if (argc == 2 && slowlog_arg_is(argv[1], len[1], "HELP")) {
        static const char *const help[] = {
            "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
            "HELP",
            "    Print this help.",
        };
        resp_reply_array_header(out, (int64_t)(sizeof(help) / sizeof(help[0])));
        for (size_t i = 0; i < sizeof(help) / sizeof(help[0]); i++) {
            resp_reply_simple(out, help[i]);
        }
        client_reply_now(client, out);
    } else if (argc < 2) {
        client_reply_error(client, "ERR wrong number of arguments for 'slowlog' command");
    } else {
        client_reply_error(client,
                           "ERR unknown subcommand or wrong number of arguments for "
                           "'%.*s'. Try SLOWLOG HELP.",
                           (int)(len[1] < 32u ? len[1] : 32u), (const char *)argv[1]);
    }
}

/* ---- the protocol's figures ---- */

void metrics_on_events(server_t *srv, const event_t *events, size_t count)
{
    metrics_t *m = srv->metrics;
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < count; i++) {
        const event_t *e = &events[i];
        switch (e->kind) {
        case EVENT_PROPOSED:
            m->proposals++;
            m->proposed_commands += e->command_count;
            if (e->command_count == 0) {
                m->noops++;
            } else {
                histo_observe(&m->batch, metrics_size_bounds, METRICS_SIZE_BUCKETS,
                              e->command_count);
            }
            break;
        case EVENT_CHOSEN:
            m->chosen++;
            break;
        case EVENT_LEARNED:
            m->learned++;
            break;
        case EVENT_CARRIED_FORWARD:
            m->carried_forward++;
            break;
        case EVENT_PREPARE_SENT:
            m->elections_started++;
            break;
        case EVENT_LEADER_ELECTED:
            m->elections_won++;
            break;
        case EVENT_BACKOFF:
            m->elections_lost++;
            break;
        case EVENT_ELECTION_TIMEOUT:
            m->election_timeouts++;
            break;
        case EVENT_STEPPED_DOWN:
            m->step_downs[e->reason <= STEP_DOWN_TRANSFER ? e->reason : 0]++;
            break;
        case EVENT_REJECT_SENT:
            m->rejects_sent[e->reason <= REJECT_REASON_MAX ? e->reason : 0]++;
            break;
        case EVENT_REJECT_RECEIVED:
            m->rejects_received[e->reason <= REJECT_REASON_MAX ? e->reason : 0]++;
            break;
        case EVENT_LEASE_ACQUIRED:
            m->leases_acquired++;
            break;
        case EVENT_LEASE_EXPIRED:
            m->leases_expired++;
            break;
        default:
            break;
        }
    }
}

void metrics_on_durable(server_t *srv, uint64_t records)
{
    metrics_t *m = srv->metrics;
    if (m != NULL) {
        histo_observe(&m->group_commit, metrics_size_bounds, METRICS_SIZE_BUCKETS, records);
    }
}

void metrics_on_peer_message(server_t *srv, const msg_t *msg)
{
    metrics_t *m = srv->metrics;
    if (m == NULL || msg->from == 0 || msg->from > NODES_MAX) {
        return;
    }
    switch (msg->type) {
    case MSG_HEARTBEAT_ACK:
        m->peer_chosen[msg->from] = msg->u.heartbeat_ack.chosen_upto;
        break;
    case MSG_HEARTBEAT:
        m->leader_commit_seen = msg->u.heartbeat.commit;
        break;
    case MSG_ACCEPT:
        m->leader_commit_seen = msg->u.accept.commit;
        break;
    default:
        break;
    }
}

void metrics_on_leader_change(server_t *srv)
{
    if (srv->metrics != NULL) {
        srv->metrics->leader_changes++;
    }
}

void metrics_on_snapshot(server_t *srv, bool ok, bool received, uint64_t bytes,
                         uint64_t duration_ms)
{
    metrics_t *m = srv->metrics;
    if (m == NULL) {
        return;
    }
    m->snapshots[received ? 1 : 0][ok ? 1 : 0]++;
    if (ok) {
        m->snapshot_last_bytes = bytes;
        m->snapshot_last_ms = duration_ms;
        histo_observe(&m->snapshot_duration, metrics_time_bounds_us, METRICS_TIME_BUCKETS,
                      duration_ms * 1000u);
    }
}

/* ---- health ---- */

static uint64_t m_leader_commit(const server_t *srv)
{
    return srv->metrics != NULL ? srv->metrics->leader_commit_seen : 0;
}

int metrics_health(server_t *srv, char *reason, size_t reason_bytes)
{
    if (srv->node == NULL) {
        snprintf(reason, reason_bytes, "starting");
        return 503;
    }
    node_status_t st;
    node_get_status(srv->node, server_now_ms(), &st);
    uint32_t self = srv->cfg->id;
    uint64_t commit = st.chosen_upto;
    if (st.leader != self && m_leader_commit(srv) > commit) {
        commit = m_leader_commit(srv);
    }
    if (srv->stopping) {
        snprintf(reason, reason_bytes, "stopping");
    } else if (st.rejoining || srv->rejoin_marker) {
        snprintf(reason, reason_bytes, "rejoining: not voting until it has read a majority");
    } else if (srv->disk_full) {
        snprintf(reason, reason_bytes, "disk full: writes are refused");
    } else if (st.leader == NODE_NONE) {
        snprintf(reason, reason_bytes, "no leader known (role %s)", node_role_name(st.role));
    } else if (st.leader != self && (st.leader > NODES_MAX || !srv->peers[st.leader].up)) {
        snprintf(reason, reason_bytes, "leader n%u is not reachable from n%u", st.leader, self);
    } else if (st.leader == self && st.role == ROLE_LEADER && !st.lease_held &&
               srv->cfg->node_count > 1 && peers_up_count(srv) + 1 <= srv->cfg->node_count / 2) {
        snprintf(reason, reason_bytes, "leading without a majority reachable (%u of %u up)",
                 peers_up_count(srv) + 1, srv->cfg->node_count);
    } else if (commit > srv->applied_slot &&
               commit - srv->applied_slot > srv->cfg->health_lag_slots) {
        snprintf(reason, reason_bytes, "applied index %llu lags commit %llu by more than %llu",
                 (unsigned long long)srv->applied_slot, (unsigned long long)commit,
                 (unsigned long long)srv->cfg->health_lag_slots);
    } else {
        snprintf(reason, reason_bytes, "ok: leader n%u, applied %llu of %llu", st.leader,
                 (unsigned long long)srv->applied_slot, (unsigned long long)commit);
        return 200;
    }
    return 503;
}

/* ---- the Prometheus text format ---- */

static void out_line(wire_buf_t *out, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void out_line(wire_buf_t *out, const char *format, ...)
{
    char line[METRICS_LINE_BYTES];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(line, sizeof(line) - 1, format, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    size_t len = (size_t)n < sizeof(line) - 1 ? (size_t)n : sizeof(line) - 2;
    line[len++] = '\n';
    wire_buf_append(out, line, len);
}

static void out_family(wire_buf_t *out, const char *name, const char *type, const char *help)
{
    out_line(out, "# HELP %s %s", name, help);
    out_line(out, "# TYPE %s %s", name, type);
}

static void out_counter(wire_buf_t *out, const char *name, const char *help, uint64_t value)
{
    out_family(out, name, "counter", help);
    out_line(out, "%s %llu", name, (unsigned long long)value);
}

static void out_gauge(wire_buf_t *out, const char *name, const char *help, double value)
{
    out_family(out, name, "gauge", help);
    out_line(out, "%s %.17g", name, value);
}

/* One histogram series; labels is "" or `kind="write",` (with the trailing comma). scale
 * divides bounds and sum (1e6: microseconds rendered as seconds). */
static void out_histo(wire_buf_t *out, const char *name, const char *labels, const histo_t *h,
                      const uint64_t *bounds, size_t n, double scale)
{
    uint64_t cumulative = 0;
    for (size_t i = 0; i < n; i++) {
        cumulative += h->bucket[i];
        out_line(out, "%s_bucket{%sle=\"%.17g\"} %llu", name, labels, (double)bounds[i] / scale,
                 (unsigned long long)cumulative);
    }
    out_line(out, "%s_bucket{%sle=\"+Inf\"} %llu", name, labels, (unsigned long long)h->count);
    size_t len = strlen(labels);
    char bare[METRICS_LINE_BYTES];
    /* {kind="write",} -> {kind="write"} for _sum and _count */
    snprintf(bare, sizeof(bare), "%.*s", (int)(len > 0 ? len - 1 : 0), labels);
    out_line(out, "%s_sum%s%s%s %.17g", name, len > 0 ? "{" : "", bare, len > 0 ? "}" : "",
             (double)h->sum / scale);
    out_line(out, "%s_count%s%s%s %llu", name, len > 0 ? "{" : "", bare, len > 0 ? "}" : "",
             (unsigned long long)h->count);
}

static const char *const metrics_kind_names[METRICS_LAT_KINDS] = {
    "none", "write", "lease_read", "read_index_read", "stale_read", "other",
};
static const char *const metrics_reject_names[REJECT_REASON_MAX + 1] = {
    "other", "promised_higher", "lease", "leader_alive", "recovering",
};
static const char *const metrics_step_down_names[4] = {
    "other",
    "superseded",
    "no_quorum",
    "transfer",
};

static uint64_t metrics_resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0;
    unsigned long long resident = 0;
    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%llu %llu", &size, &resident) != 2) {
        resident = 0;
    }
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return (uint64_t)resident * (uint64_t)(page > 0 ? page : 4096);
}

static void render_node(server_t *srv, metrics_t *m, wire_buf_t *out, uint64_t now)
{
    node_status_t st;
    node_get_status(srv->node, now, &st);
    const server_config_t *cfg = srv->cfg;
    out_family(out, "ballot_info", "gauge", "This node: its id, cluster and version (always 1).");
    out_line(out, "ballot_info{node_id=\"%u\",cluster_id=\"%llu\",node_count=\"%u\"} 1", cfg->id,
             (unsigned long long)cfg->cluster_id, cfg->node_count);
    out_family(out, "ballot_role", "gauge",
               "1 for this node's role (the role INFO and ballot status show), 0 for the others.");
    static const node_role_t roles[] = {ROLE_FOLLOWER, ROLE_CANDIDATE, ROLE_LEADER};
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        out_line(out, "ballot_role{role=\"%s\"} %d", node_role_name(roles[i]),
                 st.role == roles[i] ? 1 : 0);
    }
    out_gauge(out, "ballot_leader_id", "The leader this node follows or is (0: none known).",
              st.leader);
    out_gauge(out, "ballot_ballot_round", "Round of the ballot of the current leader.",
              (double)st.leader_ballot.round);
    out_gauge(out, "ballot_promised_round", "Round of the ballot this acceptor promised.",
              (double)st.promised.round);
    out_gauge(out, "ballot_commit_index", "Contiguous chosen prefix of the log.",
              (double)st.chosen_upto);
    out_gauge(out, "ballot_applied_index", "Last slot applied to the key-value state.",
              (double)srv->applied_slot);
    out_gauge(out, "ballot_log_first_slot", "Slots below this live only in a snapshot.",
              (double)st.log_first_slot);
    out_gauge(
        out, "ballot_apply_lag_slots", "Commit index minus applied index on this node.",
        (double)(st.chosen_upto > srv->applied_slot ? st.chosen_upto - srv->applied_slot : 0));
    uint64_t seen = m->leader_commit_seen;
    out_gauge(
        out, "ballot_commit_lag_slots",
        "Follower: the leader's commit index (as last heard) minus this node's.",
        (double)(st.role != ROLE_LEADER && seen > st.chosen_upto ? seen - st.chosen_upto : 0));
    out_family(out, "ballot_peer_commit_lag_slots", "gauge",
               "Leader: its commit index minus each peer's, as the peer last acknowledged.");
    if (st.role == ROLE_LEADER) {
        for (uint32_t id = 1; id <= cfg->node_count; id++) {
            if (id != cfg->id) {
                uint64_t p = m->peer_chosen[id];
                out_line(out, "ballot_peer_commit_lag_slots{peer=\"%u\"} %llu", id,
                         (unsigned long long)(st.chosen_upto > p ? st.chosen_upto - p : 0));
            }
        }
    }
    out_family(out, "ballot_peer_up", "gauge", "1 when the link to the peer is up.");
    for (uint32_t id = 1; id <= cfg->node_count; id++) {
        if (id != cfg->id) {
            out_line(out, "ballot_peer_up{peer=\"%u\"} %d", id, srv->peers[id].up ? 1 : 0);
        }
    }
    out_gauge(out, "ballot_peers_up", "Peers whose link is up.", peers_up_count(srv));
    out_gauge(out, "ballot_lease_held", "1 when this leader holds a read lease.",
              st.lease_held ? 1 : 0);
    out_gauge(out, "ballot_lease_remaining_seconds", "Time left on the leader's lease.",
              st.lease_held && st.lease_until_ms > now ? (double)(st.lease_until_ms - now) / 1000.0
                                                       : 0.0);
    out_gauge(out, "ballot_pending_commands", "Commands queued at the leader for a slot.",
              st.pending_commands);
    out_gauge(out, "ballot_in_flight_slots", "Slots proposed and not yet chosen.",
              st.in_flight_slots);
    out_gauge(out, "ballot_rejoining", "1 while the node rejoins (lost its disk).",
              st.rejoining ? 1 : 0);
}

static void render_requests(server_t *srv, metrics_t *m, wire_buf_t *out)
{
    out_family(out, "ballot_requests_total", "counter", "Requests answered, by command.");
    for (uint32_t i = 0; i < m->cmd_count; i++) {
        out_line(out, "ballot_requests_total{command=\"%s\"} %llu", m->cmds[i].name,
                 (unsigned long long)m->cmds[i].calls);
    }
    out_family(out, "ballot_request_errors_total", "counter",
               "Requests answered with an error, by command.");
    for (uint32_t i = 0; i < m->cmd_count; i++) {
        out_line(out, "ballot_request_errors_total{command=\"%s\"} %llu", m->cmds[i].name,
                 (unsigned long long)m->cmds[i].failed);
    }
    out_family(out, "ballot_request_duration_seconds", "histogram",
               "From a request's arrival to its answer being ready, by how it was served.");
    for (uint32_t k = 1; k < METRICS_LAT_KINDS; k++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "kind=\"%s\",", metrics_kind_names[k]);
        out_histo(out, "ballot_request_duration_seconds", labels, &m->latency[k],
                  metrics_time_bounds_us, METRICS_TIME_BUCKETS, 1e6);
    }
    out_counter(out, "ballot_commands_processed_total", "Requests received (INFO's count).",
                srv->stat_commands);
    out_counter(out, "ballot_errors_replied_total", "Error replies sent.", srv->stat_errors);
    out_gauge(out, "ballot_client_connections", "Client connections open.", srv->client_count);
    out_counter(out, "ballot_client_connections_total", "Client connections accepted.",
                srv->stat_connections);
    out_counter(out, "ballot_client_connections_rejected_total",
                "Client connections refused (--max-clients, protected mode).",
                srv->stat_rejected_connections);
}

static void render_protocol(metrics_t *m, wire_buf_t *out)
{
    out_counter(out, "ballot_proposals_total", "Slots this node proposed as leader.", m->proposals);
    out_counter(out, "ballot_proposed_commands_total", "Client commands put into slots.",
                m->proposed_commands);
    out_counter(out, "ballot_noop_proposals_total", "No-op slots proposed (a new leader's).",
                m->noops);
    out_family(out, "ballot_batch_commands", "histogram", "Client commands per proposed slot.");
    out_histo(out, "ballot_batch_commands", "", &m->batch, metrics_size_bounds,
              METRICS_SIZE_BUCKETS, 1.0);
    out_family(out, "ballot_slots_chosen_total", "counter",
               "Slots this node knows chosen: by a majority of its own Accepts (quorum) or "
               "from the leader (learned).");
    out_line(out, "ballot_slots_chosen_total{how=\"quorum\"} %llu", (unsigned long long)m->chosen);
    out_line(out, "ballot_slots_chosen_total{how=\"learned\"} %llu",
             (unsigned long long)m->learned);
    out_counter(out, "ballot_carried_forward_total",
                "Slots a new leader re-proposed with a value accepted under an older ballot.",
                m->carried_forward);
    out_counter(out, "ballot_elections_started_total", "Phase 1 rounds (Prepare) started.",
                m->elections_started);
    out_counter(out, "ballot_elections_won_total", "Phase 1 rounds this node won.",
                m->elections_won);
    out_counter(out, "ballot_elections_lost_total",
                "Phase 1 rounds this node lost (then backed off).", m->elections_lost);
    out_counter(out, "ballot_election_timeouts_total", "Times no live leader was heard.",
                m->election_timeouts);
    out_counter(out, "ballot_leader_changes_total", "Times the leader this node follows changed.",
                m->leader_changes);
    out_family(out, "ballot_step_downs_total", "counter", "Times this node stopped leading.");
    for (uint32_t r = 1; r < 4; r++) {
        out_line(out, "ballot_step_downs_total{reason=\"%s\"} %llu", metrics_step_down_names[r],
                 (unsigned long long)m->step_downs[r]);
    }
    out_family(out, "ballot_promise_refusals_total", "counter",
               "Prepares and Accepts this acceptor refused, by reason.");
    for (uint32_t r = 1; r <= REJECT_REASON_MAX; r++) {
        out_line(out, "ballot_promise_refusals_total{reason=\"%s\"} %llu", metrics_reject_names[r],
                 (unsigned long long)m->rejects_sent[r]);
    }
    out_family(out, "ballot_refusals_received_total", "counter",
               "Refusals this node's Prepares and Accepts received, by reason.");
    for (uint32_t r = 1; r <= REJECT_REASON_MAX; r++) {
        out_line(out, "ballot_refusals_received_total{reason=\"%s\"} %llu", metrics_reject_names[r],
                 (unsigned long long)m->rejects_received[r]);
    }
    out_counter(out, "ballot_leases_acquired_total", "Times this leader gained its lease.",
                m->leases_acquired);
    out_counter(out, "ballot_leases_expired_total", "Times this leader's lease ran out.",
                m->leases_expired);
}

static void render_storage(server_t *srv, metrics_t *m, wire_buf_t *out)
{
    out_counter(out, "ballot_wal_written_bytes_total", "Bytes written to the WAL.",
                atomic_load(&m->wal_bytes));
    histo_t fsync;
    memset(&fsync, 0, sizeof(fsync));
    for (size_t i = 0; i < METRICS_TIME_BUCKETS; i++) {
        fsync.bucket[i] = atomic_load(&m->fsync.bucket[i]);
    }
    fsync.sum = atomic_load(&m->fsync.sum);
    fsync.count = atomic_load(&m->fsync.count);
    uint64_t in_buckets = 0;
    for (size_t i = 0; i < METRICS_TIME_BUCKETS; i++) {
        in_buckets += fsync.bucket[i];
    }
    /* The storage thread adds the bucket before the count: never show fewer in +Inf. */
    fsync.count = fsync.count > in_buckets ? fsync.count : in_buckets;
    out_family(out, "ballot_wal_fsync_seconds", "histogram", "fdatasync calls on the WAL.");
    out_histo(out, "ballot_wal_fsync_seconds", "", &fsync, metrics_time_bounds_us,
              METRICS_TIME_BUCKETS, 1e6);
    out_counter(out, "ballot_wal_fsync_errors_total", "fdatasync calls that failed.",
                atomic_load(&m->wal_fsync_errors));
    out_counter(out, "ballot_wal_sync_rounds_total", "Group commits reported durable.",
                srv->stat_fsync_rounds);
    out_family(out, "ballot_wal_group_commit_records", "histogram",
               "Records made durable per group commit.");
    out_histo(out, "ballot_wal_group_commit_records", "", &m->group_commit, metrics_size_bounds,
              METRICS_SIZE_BUCKETS, 1.0);
    out_family(out, "ballot_snapshots_total", "counter",
               "Snapshots written: made here or received from a peer; ok or failed.");
    for (int r = 0; r < 2; r++) {
        for (int ok = 1; ok >= 0; ok--) {
            out_line(out, "ballot_snapshots_total{origin=\"%s\",result=\"%s\"} %llu",
                     r ? "received" : "made", ok ? "ok" : "failed",
                     (unsigned long long)m->snapshots[r][ok]);
        }
    }
    out_gauge(out, "ballot_snapshot_last_bytes", "Size of the last snapshot written.",
              (double)m->snapshot_last_bytes);
    out_gauge(out, "ballot_snapshot_last_duration_seconds", "Time the last snapshot took.",
              (double)m->snapshot_last_ms / 1000.0);
    out_family(out, "ballot_snapshot_duration_seconds", "histogram",
               "Time to write a snapshot, from its start to its file synced.");
    out_histo(out, "ballot_snapshot_duration_seconds", "", &m->snapshot_duration,
              metrics_time_bounds_us, METRICS_TIME_BUCKETS, 1e6);
    out_gauge(out, "ballot_snapshot_slot", "Slot of the newest snapshot on disk.",
              (double)srv->snapshot_slot);
}

static void render_memory(server_t *srv, wire_buf_t *out)
{
    struct mallinfo2 mi = mallinfo2();
    out_family(out, "ballot_memory_bytes", "gauge",
               "Memory by part: the key-value state, connection buffers, records waiting for "
               "the storage thread, a snapshot being fetched, the heap in use, the process's "
               "resident set.");
    out_line(out, "ballot_memory_bytes{part=\"kv\"} %llu",
             (unsigned long long)kv_memory_bytes(srv->kv));
    out_line(out, "ballot_memory_bytes{part=\"buffers\"} %llu",
             (unsigned long long)net_loop_buffered_bytes(srv->loop));
    out_line(out, "ballot_memory_bytes{part=\"persist_backlog\"} %llu",
             (unsigned long long)(srv->backlog_cap * sizeof(persist_record_t)));
    out_line(out, "ballot_memory_bytes{part=\"snapshot_fetch\"} %llu",
             (unsigned long long)(srv->fetch.active ? srv->fetch.total : 0));
    out_line(out, "ballot_memory_bytes{part=\"heap_in_use\"} %llu",
             (unsigned long long)(mi.uordblks + mi.hblkhd));
    out_line(out, "ballot_memory_bytes{part=\"resident\"} %llu",
             (unsigned long long)metrics_resident_bytes());
    out_gauge(out, "ballot_buffer_bytes_max", "The buffer budget (--buffer-bytes-max).",
              (double)srv->cfg->buffer_bytes_max);
    out_gauge(out, "ballot_keys", "Keys in the key-value state.", (double)kv_key_count(srv->kv));
}

void metrics_render(server_t *srv, wire_buf_t *out)
{
    metrics_t *m = srv->metrics;
    if (m == NULL || srv->node == NULL) {
        return;
    }
    uint64_t now = server_now_ms();
    render_node(srv, m, out, now);
    render_requests(srv, m, out);
    render_protocol(m, out);
    render_storage(srv, m, out);
    render_memory(srv, out);
    out_counter(out, "ballot_peer_messages_refused_total", "Peer messages the core refused.",
                node_refused_count(srv->node));
    out_counter(out, "ballot_peer_conflicts_total",
                "Peer messages contradicting a chosen value (links dropped).",
                srv->stat_peer_conflicts);
    char reason[METRICS_REASON_BYTES];
    out_gauge(out, "ballot_healthy", "1 when /health answers 200.",
              metrics_health(srv, reason, sizeof(reason)) == 200 ? 1 : 0);
    out_gauge(out, "ballot_uptime_seconds", "Time since the node started.",
              (double)(now - srv->started_ms) / 1000.0);
    out_counter(out, "ballot_metrics_scrapes_total", "HTTP requests for /metrics or /health.",
                m->scrapes);
}

/* ---- the HTTP server ---- */

/* Loop thread: renders what was asked for and publishes it. */
static void metrics_on_wakeup(net_wakeup_t *wakeup, void *user)
{
    (void)wakeup;
    server_t *srv = user;
    metrics_t *m = srv->metrics;
    pthread_mutex_lock(&m->lock);
    uint64_t wanted = m->wanted;
    pthread_mutex_unlock(&m->lock);
    if (wanted == m->rendered) {
        return;
    }
    wire_buf_clear(&m->scratch);
    m->scrapes += wanted - m->rendered;
    metrics_render(srv, &m->scratch);
    char reason[METRICS_REASON_BYTES];
    int code = metrics_health(srv, reason, sizeof(reason));
    pthread_mutex_lock(&m->lock);
    wire_buf_t swap = m->published;
    m->published = m->scratch;
    m->scratch = swap;
    m->health_code = code;
    snprintf(m->health_reason, sizeof(m->health_reason), "%s\n", reason);
    m->rendered = wanted;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

static enum MHD_Result metrics_respond(struct MHD_Connection *conn, unsigned int code,
                                       const char *type, const void *bytes, size_t size)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(size, (void *)(uintptr_t)bytes, MHD_RESPMEM_MUST_COPY);
    if (r == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result metrics_http(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)con_cls;
    metrics_t *m = cls;
    static const char text[] = "text/plain; charset=utf-8";
    static const char prom[] = "text/plain; version=0.0.4; charset=utf-8";
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* a body is not wanted: drop it */
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char msg[] = "only GET and HEAD\n";
        return metrics_respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, msg, sizeof(msg) - 1);
    }
    bool want_metrics = strcmp(url, "/metrics") == 0;
    if (!want_metrics && strcmp(url, "/health") != 0) {
        static const char msg[] = "not found: this server answers /metrics and /health\n";
        return metrics_respond(conn, MHD_HTTP_NOT_FOUND, text, msg, sizeof(msg) - 1);
    }
    pthread_mutex_lock(&m->lock);
    uint64_t generation = ++m->wanted;
    bool closing = m->closing;
    pthread_mutex_unlock(&m->lock);
    if (!closing) {
        net_wakeup_send(m->wakeup);
    }
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += METRICS_RENDER_WAIT_MS / 1000u;
    deadline.tv_nsec += (long)(METRICS_RENDER_WAIT_MS % 1000u) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->lock);
    /* Bounded by the deadline. */
    while (m->rendered < generation && !m->closing) {
        if (pthread_cond_timedwait(&m->cond, &m->lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    enum MHD_Result rc;
    if (m->rendered < generation) {
        static const char msg[] = "the node did not answer in time (stopping or stuck)\n";
        rc = metrics_respond(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text, msg, sizeof(msg) - 1);
    } else if (want_metrics) {
        rc = metrics_respond(conn, MHD_HTTP_OK, prom, m->published.bytes, m->published.size);
    } else {
        rc = metrics_respond(conn, (unsigned int)m->health_code, text, m->health_reason,
                             strlen(m->health_reason));
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int metrics_start(server_t *srv, char *msg, size_t msg_bytes)
{
    const server_config_t *cfg = srv->cfg;
    metrics_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        snprintf(msg, msg_bytes, "out of memory");
        return BALLOT_ENOMEM;
    }
    srv->metrics = m;
    m->srv = srv;
    m->base = storage_io_posix();
    m->io = (storage_io_t){.ctx = m,
                           .open = mio_open,
                           .close = mio_close,
                           .pwrite = mio_pwrite,
                           .pread = mio_pread,
                           .fdatasync = mio_fdatasync,
                           .ftruncate = mio_ftruncate,
                           .file_size = mio_file_size,
                           .unlink = mio_unlink,
                           .rename = mio_rename,
                           .list_dir = mio_list_dir,
                           .fsync_dir = mio_fsync_dir,
                           .mkdir = mio_mkdir};
    static const char unknown[] = "unknown";
    m->unknown_cmd = metrics_command_index(m, unknown);
    wire_buf_init(&m->published);
    wire_buf_init(&m->scratch);
    if (cfg->slowlog_max_len > 0) {
        m->slow = calloc(cfg->slowlog_max_len, sizeof(*m->slow));
        if (m->slow == NULL) {
            snprintf(msg, msg_bytes, "out of memory for the slow log");
            return BALLOT_ENOMEM;
        }
        m->slow_cap = cfg->slowlog_max_len;
    }
    if (!cfg->metrics_addr_set) {
        return BALLOT_OK;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, &attr);
    pthread_condattr_destroy(&attr);
    m->sync_ready = true;
    int rc = net_wakeup_create(srv->loop, metrics_on_wakeup, srv, &m->wakeup);
    if (rc != BALLOT_OK) {
        snprintf(msg, msg_bytes, "cannot set up the metrics wakeup: %s", ballot_strerror(rc));
        return rc;
    }
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (cfg->metrics_addr.sockaddr.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    m->daemon = MHD_start_daemon(
        flags, cfg->metrics_addr.port, NULL, NULL, metrics_http, m, MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)&cfg->metrics_addr.sockaddr, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)METRICS_HTTP_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)METRICS_HTTP_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)METRICS_HTTP_MEMORY_BYTES, MHD_OPTION_END);
    if (m->daemon == NULL) {
        char addr[NET_HOST_BYTES_MAX + 8];
        snprintf(msg, msg_bytes, "--metrics-addr %s: cannot listen (in use?)",
                 net_addr_format(&cfg->metrics_addr, addr, sizeof(addr)));
        return BALLOT_EINVAL;
    }
    return BALLOT_OK;
}

void metrics_stop(server_t *srv)
{
    metrics_t *m = srv->metrics;
    if (m == NULL || !m->sync_ready) {
        return;
    }
    pthread_mutex_lock(&m->lock);
    m->closing = true;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    if (m->daemon != NULL) {
        MHD_stop_daemon(m->daemon); /* joins its thread: no handler runs after this */
        m->daemon = NULL;
    }
    if (m->wakeup != NULL) {
        net_wakeup_destroy(m->wakeup);
        m->wakeup = NULL;
    }
}

void metrics_free(server_t *srv)
{
    metrics_t *m = srv->metrics;
    if (m == NULL) {
        return;
    }
    metrics_stop(srv);
    if (m->sync_ready) {
        pthread_mutex_destroy(&m->lock);
        pthread_cond_destroy(&m->cond);
    }
    wire_buf_free(&m->published);
    wire_buf_free(&m->scratch);
    free(m->slow);
    free(m);
    srv->metrics = NULL;
}
