/* The parts of ballotd, shared between the files of src/server. */
#ifndef BALLOT_SERVER_SERVER_INTERNAL_H
#define BALLOT_SERVER_SERVER_INTERNAL_H

#include <stdatomic.h>
#include <sys/types.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/node.h"
#include "kv/kv.h"
#include "net/net.h"
#include "server/config.h"
#include "server/identity.h"
#include "server/idmap.h"
#include "server/metrics.h"
#include "server/server.h"
#include "storage/storage.h"
#include "trace/trace.h"
#include "wire/resp.h"
#include "wire/wire.h"

/* Client ids: node id in the top 4 bits, the boot number in the next 32, a per-boot
 * connection counter in the low 28, so that ids never repeat across restarts and retried
 * writes dedupe in the kv client table (kv.h). */
#define CLIENT_ID_NODE_SHIFT   60u
#define CLIENT_ID_BOOT_SHIFT   28u
#define CLIENT_ID_COUNTER_MASK ((UINT64_C(1) << 28) - 1)
#define CLIENT_NAME_BYTES_MAX  128u
#define CLIENT_RING_INITIAL    16u
/* Per-request buffers above this are given back after the request. */
#define REQUEST_BUFFER_KEEP_BYTES (64u * 1024u)
/* Replies made for one client while this much of its output is still unsent wait: a
 * client that does not read cannot make the loop copy its whole pipeline at once. */
#define CLIENT_DRAIN_PENDING_MAX (4u * 1024u * 1024u)
/* How soon a write refused for want of a leader, or a read nobody vouched for, is retried. */
#define REQUEST_RETRY_MS 20u
/* How soon a write refused by a full queue is sent again while an earlier copy of it may
 * still be chosen (it cannot be answered -BUSY: that says "not applied"). */
#define REQUEST_BUSY_RETRY_MS 100u
/* Active expiry per tick: table slots looked at, keys proposed for deletion at most. */
#define CLIENTS_EXPIRE_SLOTS     4096u
#define CLIENTS_EXPIRE_KEYS_MAX  64u
#define CLIENTS_EXPIRE_BYTES_MAX (256u * 1024u)
/* A transaction holds at most this many queued commands plus watched keys. */
#define CLIENT_MULTI_ARGS_MAX (KV_COMMAND_ARGS_MAX - 1u)
/* Housekeeping: timeouts, retries, snapshot transfer, trace flush. */
#define SERVER_TICK_MS 10u
/* Rounds of the output pump per loop iteration (each drains everything; more rounds only
 * happen when answering released more work). */
#define SERVER_PUMP_ROUNDS_MAX     8u
#define SERVER_RESP_READ_BYTES_MAX (256u * 1024u)
#define PEER_READ_BYTES_MAX        (256u * 1024u)
/* Persist records parked while the committer's queue is full. */
#define SERVER_BACKLOG_RECORDS_MAX  (1u << 20)
#define SNAPSHOT_REQUEST_TIMEOUT_MS 2000u
#define SERVER_TRACE_FLUSH_MS       1000u
/* A stopping leader waits at most this long for its successor to take over. */
#define SERVER_HANDOVER_MS 500u
/* A node id whose inbound link is replaced more often than this per second is refused for
 * the rest of that second (a flapping or hostile dialler cannot churn the links). */
#define PEER_HELLO_PER_SECOND_MAX 10u
/* Log lines about refused peer connections, per second; the rest are counted. */
#define PEER_REFUSAL_LOGS_PER_SECOND 10u
/* Refused peer messages are logged at most once per this interval (conflicts always). */
#define SERVER_REFUSAL_LOG_MS 1000u

typedef struct server server_t;
typedef struct client client_t;
typedef struct peer_link peer_link_t;
typedef struct backup_state backup_state_t;
typedef struct cluster_map cluster_map_t;

typedef enum request_kind {
    REQUEST_WRITE = 1, /* through the log: SET, DEL, INCR, CAS */
    REQUEST_READ = 2,  /* GET, EXISTS: a read barrier, then the local kv */
    REQUEST_REPLY = 3, /* a reply already made (admin commands, errors) */
} request_kind_t;

typedef enum request_state {
    REQUEST_WAITING = 1, /* for an apply (write) or a read barrier (read) */
    REQUEST_READY = 2,   /* can be answered when it reaches the head of the pipeline */
} request_state_t;

/* One request in a connection's pipeline. Ring entries keep their buffers between
 * requests: no allocation per request in the steady state. */
typedef struct request {
    request_kind_t kind;
    request_state_t state;
    uint64_t sequence; /* writes */
    uint64_t read_id;  /* reads waiting for a barrier; 0 otherwise */
    uint64_t read_index;
    uint64_t deadline_ms;
    uint64_t retry_at_ms;  /* 0: none scheduled */
    uint64_t submitted_ms; /* last node_submit, for periodic resubmission */
    /* Writes: copies handed to the core (proposed here or forwarded to a leader) and
     * refusals that came back (not leader, busy). While handed > refused a copy may still
     * be chosen, so the write's error reply must say its outcome is unknown
     * (docs/operations.md "Errors: definite and indeterminate"). */
    uint32_t handed;
    uint32_t refused;
    bool stale;  /* answer from the local state without a barrier */
    bool backup; /* a read barrier for BALLOT.SNAPSHOT BEGIN (backup.c) */
    /* BALLOT.MEMBER ADD/PROMOTE/REMOVE waiting for its change to be applied (member.c):
     * the epoch of the proposed membership (0: not one) and its encoding's CRC-32C. */
    uint64_t member_epoch;
    uint32_t member_crc;
    uint8_t *cmd; /* the encoded kv command */
    uint32_t cmd_size;
    uint32_t cmd_cap;
    kv_result_type_t result_type; /* writes, once applied */
    int64_t integer;
    kv_error_t error;
    uint8_t *reply; /* REQUEST_REPLY: the RESP bytes */
    uint32_t reply_size;
    uint32_t reply_cap;
    request_metric_t metric; /* metrics.c */
} request_t;

struct client {
    server_t *srv;
    net_conn_t *conn;
    resp_parser_t parser;
    uint64_t client_id;
    uint64_t next_sequence;
    bool stale_reads; /* READONLY */
    bool quitting;
    char name[CLIENT_NAME_BYTES_MAX];
    request_t *ring;
    uint32_t ring_cap;
    uint32_t head;
    uint32_t count;
    uint32_t waiting; /* requests in REQUEST_WAITING */
    client_t *prev;
    client_t *next;
    client_t *ready_next;
    bool ready_listed;
    uint64_t connected_ms;
    const acl_user_t *user; /* NULL until AUTH (users never change while running) */
    bool evicted;           /* closed to make room for a new client (--max-clients) */
    /* Transactions (docs/design.md "Transactions"): after MULTI, commands are checked and
     * kept here (each as u32 length + its kv encoding) until EXEC sends them as one. */
    bool multi;
    bool multi_failed; /* a queued command was refused: EXEC answers EXECABORT */
    uint8_t *multi_buf;
    uint32_t multi_size;
    uint32_t multi_cap;
    uint32_t multi_count;
    /* WATCH: the keys (u32 length + bytes each); the point they are watched from is in
     * the replicated client table (a WATCH command through the log). */
    bool watching;
    uint8_t *watch_buf;
    uint32_t watch_size;
    uint32_t watch_cap;
    uint32_t watch_count;
    /* SELECT n>0 failed: every command but SELECT 0, RESET, QUIT, AUTH, HELLO is refused,
     * so a client configured for another database never writes to database 0. */
    uint32_t db_refused;
};

struct peer_link {
    server_t *srv;
    net_conn_t *conn;
    wire_decoder_t decoder;
    bool outbound;
    uint32_t peer_id; /* outbound: the target; inbound: from its HELLO */
    bool ready;       /* HELLOs exchanged */
    bool refused;     /* closed here with a logged reason */
};

typedef struct peer {
    server_t *srv;
    uint32_t id;
    bool member;          /* in the membership now governing or about to (members.c) */
    net_dialer_t *dialer; /* dialling its member address; NULL when none or not a member */
    char dial_addr[MEMBER_ADDR_BYTES_MAX + 1]; /* the address the dialer dials */
    peer_link_t *out_link;                     /* our connection to it */
    peer_link_t *in_link;                      /* its connection to us */
    bool up;                                   /* last logged state */
    uint64_t hello_second;                     /* the second the count is for (ms / 1000) */
    uint32_t hello_count;                      /* inbound links taken for this id in that second */
    char addr_text[NET_HOST_BYTES_MAX + 8];
} peer_t;

/* Outcomes of the last membership changes this node applied, for the BALLOT.MEMBER
 * requests that wait for them (member.c). */
#define MEMBER_OUTCOMES 16u
typedef struct member_outcome {
    uint64_t epoch;
    uint32_t crc;  /* of the chosen membership's encoding */
    bool accepted; /* config_state_apply took it */
} member_outcome_t;

/* A snapshot being fetched from a peer. */
typedef struct snapshot_fetch {
    bool active;
    uint32_t from;
    uint64_t wanted_slot;
    uint64_t slot;  /* of the image being received; 0 before the first chunk */
    uint64_t total; /* bytes */
    uint64_t received;
    uint8_t *bytes;
    uint64_t requested_ms;
    uint32_t attempts; /* requests that timed out in a row */
} snapshot_fetch_t;

/* What a snapshot child process reports through its pipe. */
typedef struct snapshot_child_report {
    int32_t result;
    uint64_t size;
    uint64_t compact_slot;
    char message[SNAPSHOT_MESSAGE_BYTES];
} snapshot_child_report_t;

/* The one snapshot being written: by a forked child (made here: the child holds a
 * copy-on-write image of the kv, so the loop never stops to copy it) or by a libuv worker
 * thread (received from a peer: the image is already in memory). */
typedef struct snapshot_job {
    uv_work_t work;
    server_t *srv;
    pid_t pid;   /* child process, or 0 */
    int pipe_fd; /* the child's report */
    uint64_t slot;
    uint8_t *image; /* the kv's bytes */
    uint8_t *alloc; /* what to free (image, or the received file holding it) */
    uint64_t size;
    uint64_t compact_slot;
    uint64_t started_ms;
    int result;
    bool received; /* installed from a peer rather than made here */
    char message[SNAPSHOT_MESSAGE_BYTES];
} snapshot_job_t;

struct server {
    const server_config_t *cfg;
    net_loop_t *loop;
    node_t *node;
    kv_t *kv;
    kv_config_t kv_config;
    wal_t *wal;
    wal_committer_t *committer;
    net_wakeup_t *wakeup;
    net_timer_t *node_timer;
    uint64_t node_timer_deadline;
    net_timer_t *tick_timer;
    net_listener_t *client_listener;
    net_listener_t *peer_listener;
    struct net_tls *peer_tls;     /* NULL: --peer-insecure */
    struct net_tls *client_tls;   /* NULL: plain TCP clients */
    net_pending_t peer_pending;   /* peer connections before TLS and HELLO */
    net_pending_t client_pending; /* client connections before TLS */
    uint64_t peer_log_second;
    uint32_t peer_log_count;
    uint64_t peer_log_suppressed;
    peer_t peers[NODES_MAX + 1];
    trace_writer_t *trace;
    trace_ring_t *ring;
    uint64_t trace_flushed_ms;
    uint64_t trace_clock_offset_ms; /* wall clock minus the monotonic clock, at start */

    /* durability, written by the storage thread */
    _Atomic uint64_t durable_seq;
    _Atomic int storage_error; /* BALLOT_EIO: fatal; BALLOT_ENOSPC: refusing writes */
    char storage_message[WAL_MESSAGE_BYTES];
    uint64_t persisted_reported;
    uint64_t last_record_seq; /* the newest record handed to the storage thread */
    bool disk_full;
    /* A rejoin (lost or corrupt disk) runs until the core votes again and the state it
     * adopted is durable; until then the REJOINING marker file makes a restart rejoin
     * again instead of voting from a partial acceptor state. */
    bool rejoin;
    bool rejoin_marker;
    /* This node's identity, and the incarnation last heard from each member (identity.h):
     * a member seen again as a founder with another incarnation lost its disk. */
    identity_t identity;
    uint64_t peer_incarnations[NODES_MAX + 1];
    persist_record_t *backlog;
    size_t backlog_count;
    size_t backlog_cap;

    /* clients */
    client_t *clients;
    uint32_t client_count;
    uint32_t clients_closing; /* evicted, close not completed yet */
    uint64_t boot_id;
    uint64_t client_counter;
    idmap_t client_map; /* client id -> client_t* */
    idmap_t read_map;   /* read id -> client id */
    uint64_t next_read_id;
    client_t *ready;
    kv_command_t scratch_cmd;
    kv_command_t scratch_exec; /* EXEC being built */
    uint64_t expire_cursor;    /* active expiry: where the table walk goes on */
    uint64_t stat_expired_proposed;
    wire_buf_t scratch;
    uint8_t *frame_buf; /* snapshot chunks read from disk */

    /* The membership: the configuration state of the applied prefix, kept next to the kv
     * and stored with it in snapshots (members.c). members_known is false on a node that
     * joined with --join until it has learned the membership from the log or a snapshot. */
    config_state_t members;
    bool members_known;
    uint32_t members_synced_mask; /* the peer table was last set up for these members */
    uint64_t members_synced_epoch;
    member_outcome_t member_outcomes[MEMBER_OUTCOMES];
    uint32_t member_outcome_next;
    bool was_member; /* this run saw this node in the membership */
    uint64_t join_hint_ms;
    bool removed_logged;

    /* state machine progress */
    uint64_t applied_slot;
    uint64_t applied_bytes_since_snapshot;
    uint64_t snapshot_slot;  /* newest snapshot on disk */
    uint64_t snapshot_bytes; /* its size: the next one waits for a quarter of it applied */
    uint64_t compacted_slot; /* node_compact()ed up to */
    snapshot_job_t *job;
    snapshot_job_t *pending_job;
    snapshot_fetch_t fetch;
    backup_state_t *backup; /* snapshot saves streamed to clients (backup.c) */

    /* what was logged last, to log changes */
    uint32_t logged_leader;
    ballot_t logged_ballot;
    node_role_t logged_role;
    uint64_t leader_changed_ms;

    /* counters for INFO */
    uint64_t started_ms;
    uint64_t stat_commands;
    uint64_t stat_writes;
    uint64_t stat_reads;
    uint64_t stat_errors;
    uint64_t stat_connections;
    uint64_t stat_rejected_connections;
    uint64_t stat_peer_frames_refused;
    uint64_t stat_peer_auth_refused; /* TLS failures, deadline, wrong identity, duplicates */
    uint64_t stat_amnesia_refused;   /* HELLOs of members founded again on an empty disk */
    uint64_t stat_peer_conflicts;    /* messages contradicting a chosen value (links dropped) */
    uint64_t stat_idle_evicted;
    uint64_t refusal_logged_ms; /* rate limit of the refused-message log line */
    uint64_t refusals_unlogged;
    uint64_t stat_resp_refused;
    uint64_t stat_auth_failures;
    uint64_t stat_denied_commands;
    uint64_t stat_fsync_rounds;
    struct metrics *metrics; /* metrics.c: per-command figures, /metrics and /health */
    cluster_map_t *cluster;  /* cluster.c: the slot map */

    bool stopping;
    uint64_t handover_until_ms; /* stopping: handing leadership over until then */
    int exit_status;
};

/* server.c */
uint64_t server_now_ms(void);
/* The wall clock minus server_now_ms(), sampled once per process, and their sum: the
 * clock batches are stamped with and reads judge deadlines by (docs/design.md "Expiry"). */
uint64_t server_wall_offset_ms(void);
uint64_t server_wall_ms(void);
/* Stops the node on an unrecoverable error: logs why, dumps the trace ring. */
void server_fatal(server_t *srv, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* Logs a message the core refused (rc from node_receive), with its sender: a conflict
 * with a chosen value always, at error level; anything else at most once per
 * SERVER_REFUSAL_LOG_MS with the count of those not logged. */
void server_log_refusal(server_t *srv, const char *addr, uint32_t peer_id, int rc);
/* Removes the REJOINING marker once the rejoin is over and durable. */
void server_rejoin_progress(server_t *srv);
/* Runs the output pump and answers clients; called once per loop iteration. */
void server_pump(server_t *srv);

/* driver.c: the core's outputs */
void driver_process_outputs(server_t *srv);
bool driver_outputs_pending(server_t *srv);
void driver_on_durable(server_t *srv);
void driver_arm_node_timer(server_t *srv);
void driver_log_status_changes(server_t *srv);

/* clients.c */
int clients_listen(server_t *srv, char *msg, size_t msg_bytes);
void clients_close_all(server_t *srv);
void clients_on_apply_result(server_t *srv, const command_t *command, const kv_result_t *r);
void clients_on_client_reply(server_t *srv, const client_reply_t *reply);
void clients_on_read_result(server_t *srv, const read_result_t *result);
void clients_drain_ready(server_t *srv);
void clients_tick(server_t *srv, uint64_t now_ms);
void clients_resubmit_all(server_t *srv, uint64_t now_ms);
/* A leader proposes deletions of keys whose deadline passed (docs/design.md "Expiry"). */
void clients_expire_tick(server_t *srv, uint64_t now_ms);

/* commands.c */
void commands_dispatch(client_t *client, uint32_t argc, const uint8_t *const *argv,
                       const uint32_t *argv_len);
void commands_info(server_t *srv, wire_buf_t *out);
/* The command table's own name for a command ("get"), or NULL when unknown. */
const char *commands_canonical_name(const uint8_t *name, uint32_t size);

/* reply.c: a client's pipeline */
request_t *client_push_request(client_t *client, request_kind_t kind);
void client_reply_now(client_t *client, const wire_buf_t *bytes);
void client_reply_error(client_t *client, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void client_mark_ready(client_t *client, request_t *request);
/* Puts the client on the list of those with answers to send. */
void client_list_ready(client_t *client);
void client_finish_error(client_t *client, request_t *request, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
bool client_reserve_cmd(request_t *request, size_t size);
bool client_store_reply(request_t *request, const uint8_t *bytes, uint32_t size);
void client_drain(client_t *client);
/* clients.c: resumes reading when the pipeline has room again. */
void client_after_drain(client_t *client);
request_t *client_find_write(client_t *client, uint64_t sequence);
/* True when a write of this connection waits to be submitted again. */
bool client_write_retry_pending(const client_t *client);
request_t *client_find_read(client_t *client, uint64_t read_id);
void client_submit_write(client_t *client, request_t *request, uint64_t now_ms);
/* A copy of a write was refused (full queue, too large, ...): answers the definite error
 * when no other copy may be chosen, else tries again and lets the deadline decide. */
void client_write_refused(client_t *client, request_t *request, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
void client_submit_read(client_t *client, request_t *request, uint64_t now_ms);
wire_buf_t *server_scratch(server_t *srv);
const char *server_leader_hint(server_t *srv, char *buf, size_t buf_bytes);

/* peers.c */
int peers_start(server_t *srv, char *msg, size_t msg_bytes);
void peers_stop(server_t *srv);
void peers_send(server_t *srv, const msg_t *msg);
bool peers_send_frame(server_t *srv, uint32_t to, const wire_buf_t *frame);
void peers_reply_frame(peer_link_t *link, const wire_buf_t *frame);
uint32_t peers_up_count(const server_t *srv);
bool peers_is_up(const server_t *srv, uint32_t id);
/* Sets the dialers and links to the members (members.c decides who they are). */
void peers_follow_members(server_t *srv);

/* backup.c: BALLOT.SNAPSHOT (docs/operations.md "Backup and restore") */
void backup_command(client_t *client, uint32_t argc, const uint8_t *const *argv,
                    const uint32_t *len);
/* Answers a BEGIN whose read barrier is applied: images the kv now. */
void backup_answer_begin(client_t *client, const request_t *request);
/* Expires idle saves. */
void backup_tick(server_t *srv, uint64_t now_ms);
void backup_free(server_t *srv);

/* cluster.c: the Redis Cluster protocol for one shard (docs/operations.md) */
int cluster_start(server_t *srv);
void cluster_free(server_t *srv);
uint16_t cluster_key_slot(const uint8_t *key, uint32_t size);
void cluster_command(client_t *client, uint32_t argc, const uint8_t *const *argv,
                     const uint32_t *len);
/* --cluster-enabled: answers -MOVED or -CLUSTERDOWN for a key command this node must not
 * serve (a follower); true when it answered. */
bool cluster_redirect(client_t *client, bool read, const uint8_t *key, uint32_t key_size);

/* members.c: the membership next to the kv (docs/operations.md "Membership") */
/* The founding membership (voters 1..N with their --peers addresses), or unknown for a
 * node started with --join. */
void members_init(server_t *srv);
/* Every applied slot, before the kv sees it: CONFIG values change the membership (the kv
 * never sees them); returns true when the value was a CONFIG value. */
bool members_on_apply(server_t *srv, const apply_t *apply);
/* A restored or installed snapshot's configuration state (NULL: the founding one). */
void members_restore(server_t *srv, const config_state_t *cs);
/* A node started with --join says every MEMBERS_JOIN_HINT_MS that it waits to be added. */
#define MEMBERS_JOIN_HINT_MS 10000u
void members_tick(server_t *srv, uint64_t now_ms);
/* Follows the membership with the peer table after applies (cheap when unchanged). */
void members_sync(server_t *srv);
/* The members this node keeps links to: those of the configurations governing now and
 * next (a removed voter still votes until its removal takes effect). Bit id per member. */
uint32_t members_link_mask(const server_t *srv);
/* A change is waiting (has_next) but every slot before the one it governs from is applied
 * here: the old membership has nothing left to decide. */
bool members_next_in_effect(const server_t *srv);
bool members_is_voter(const server_t *srv, uint32_t id);
/* Snapshot images: a header holding the configuration state, then the kv's image.
 * Images without the header (older snapshots, backups) hold only the kv. */
#define MEMBERS_SNAPSHOT_MAGIC      0x4D424342u /* bytes 'B' 'C' 'B' 'M' */
#define MEMBERS_SNAPSHOT_FORMAT     1u
#define MEMBERS_SNAPSHOT_HEADER_MAX (16u + CONFIG_STATE_BYTES_MAX)
/* Writes the header into out (MEMBERS_SNAPSHOT_HEADER_MAX bytes); its length, 0 on error. */
size_t members_snapshot_header(const config_state_t *cs, uint8_t *out, size_t cap);
/* Splits an image: *has_cs says whether it held a configuration state. BALLOT_ECORRUPT
 * (reason in msg) when the header is malformed. */
int members_snapshot_split(const uint8_t *bytes, size_t size, config_state_t *cs, bool *has_cs,
                           const uint8_t **kv_bytes, size_t *kv_size, char *msg, size_t msg_bytes);

/* member.c: BALLOT.MEMBER */
void member_command(client_t *client, uint32_t argc, const uint8_t *const *argv,
                    const uint32_t *len);
/* A waiting BALLOT.MEMBER change: answers it once applied, or at its deadline. */
void member_tick_request(server_t *srv, client_t *client, request_t *request, uint64_t now_ms);

/* snapshots.c */
int snapshots_recover(server_t *srv, bool *found, char *msg, size_t msg_bytes);
void snapshots_maybe_take(server_t *srv);
void snapshots_on_wanted(server_t *srv, uint64_t slot, uint32_t from);
void snapshots_on_request(server_t *srv, peer_link_t *link, const wire_snapshot_request_t *r);
void snapshots_on_chunk(server_t *srv, uint32_t from, const wire_snapshot_chunk_t *chunk);
void snapshots_tick(server_t *srv, uint64_t now_ms);
/* Stops a snapshot child still writing (shutdown). */
void snapshots_stop(server_t *srv);

#endif
