/* ballotd's figures: per-command counts and latencies (INFO commandstats, SLOWLOG), the
 * protocol's counters (from the core's events), storage timings, and the Prometheus
 * endpoint (--metrics-addr: /metrics and /health over HTTP, served by libmicrohttpd).
 * docs/metrics.md lists every metric; docs/operations.md says how to scrape it.
 *
 * Everything here runs on the event-loop thread except the HTTP handler (libmicrohttpd's
 * own thread, which only copies text the loop published) and the storage backend wrapper
 * (the storage thread, which only updates atomics). */
#ifndef BALLOT_SERVER_METRICS_H
#define BALLOT_SERVER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "core/msg.h"
#include "storage/io.h"

/* A slow-log entry keeps this many arguments of its request, each cut to this many bytes
 * (Redis keeps 32 of 128: ballotd copies what it keeps for every request that waits for
 * the log, so it keeps less). */
#define METRICS_SLOW_ARGS      4u
#define METRICS_SLOW_ARG_BYTES 40u

struct server;
struct client;
struct request;

typedef enum metrics_latency_kind {
    METRICS_LAT_NONE = 0,
    METRICS_LAT_WRITE = 1,      /* through the log */
    METRICS_LAT_LEASE_READ = 2, /* answered by a leader holding its lease */
    METRICS_LAT_INDEX_READ = 3, /* a read index from the leader, then the local state */
    METRICS_LAT_STALE_READ = 4, /* READONLY: the local state, no barrier */
    METRICS_LAT_OTHER = 5,      /* answered at once (admin commands, errors) */
} metrics_latency_kind_t;
#define METRICS_LAT_KINDS 6u

/* What a request that waits (for the log or a read barrier) carries for its figures. */
typedef struct request_metric {
    uint16_t command; /* index + 1 in the command registry; 0: not measured */
    uint8_t kind;     /* metrics_latency_kind_t */
    uint8_t argc_kept;
    uint32_t argc;
    uint64_t started_us;
    uint8_t arg_len[METRICS_SLOW_ARGS];   /* kept */
    uint32_t arg_size[METRICS_SLOW_ARGS]; /* as sent */
    char args[METRICS_SLOW_ARGS][METRICS_SLOW_ARG_BYTES];
} request_metric_t;

/* Taken before a request is dispatched and handed back after. */
typedef struct metrics_mark {
    uint64_t started_us;
    uint16_t command;
    uint32_t count; /* the client's pipeline length before dispatch */
    uint64_t errors;
} metrics_mark_t;

/* Creates the figures and, with --metrics-addr, starts the HTTP server (a port in use is a
 * configuration error). BALLOT_OK or an error with msg. */
int metrics_start(struct server *srv, char *msg, size_t msg_bytes);
/* Stops the HTTP server (joins its thread); call before the loop is destroyed. */
void metrics_stop(struct server *srv);
void metrics_free(struct server *srv);

/* The storage backend for the WAL: the POSIX one, timing fdatasync and counting bytes. */
const storage_io_t *metrics_storage_io(struct server *srv);

/* Around commands_dispatch (clients.c). */
metrics_mark_t metrics_request_begin(struct client *client, const uint8_t *name, uint32_t len);
void metrics_request_end(struct client *client, const metrics_mark_t *mark, uint32_t argc,
                         const uint8_t *const *argv, const uint32_t *argv_len);
/* A measured request's answer is ready (client_mark_ready). */
void metrics_request_done(struct server *srv, struct client *client, struct request *request);

/* The driver's hooks. */
void metrics_on_events(struct server *srv, const event_t *events, size_t count);
void metrics_on_durable(struct server *srv, uint64_t records);
void metrics_on_peer_message(struct server *srv, const msg_t *m);
void metrics_on_leader_change(struct server *srv);
void metrics_on_snapshot(struct server *srv, bool ok, bool received, uint64_t bytes,
                         uint64_t duration_ms);

/* INFO commandstats and INFO latencystats lines. */
struct wire_buf;
void metrics_info_commandstats(struct server *srv, struct wire_buf *out);
/* SLOWLOG GET [n] | LEN | RESET | HELP. */
void metrics_slowlog_command(struct client *client, uint32_t argc, const uint8_t *const *argv,
                             const uint32_t *len);
/* The Prometheus text and the health verdict, as the HTTP server serves them (tests). */
void metrics_render(struct server *srv, struct wire_buf *out);
/* 200 or 503, with the reason in reason. */
int metrics_health(struct server *srv, char *reason, size_t reason_bytes);

#endif
