/* A small deterministic harness for core tests and the demo: N real nodes, their outputs
 * captured, persist records made durable at once or on demand, and a network the test
 * drives by hand (deliver, drop, reorder specific messages) or lets run with seeded delays
 * and losses. Scenarios then read like the seeds: who sends what to whom, who answers. */
#ifndef BALLOT_TESTS_CORE_HARNESS_H
#define BALLOT_TESTS_CORE_HARNESS_H

#include <stdio.h>

#include "core/node.h"
#include "core/rng.h"

#define HARNESS_NODES_MAX 7u
#define HARNESS_NET_MAX   200000u
#define HARNESS_ANY       0u

typedef struct harness_msg {
    msg_t msg;
    uint64_t deliver_ms;
} harness_msg_t;

typedef struct harness_apply {
    uint64_t slot;
    value_t value;
} harness_apply_t;

typedef struct harness_node {
    node_config_t cfg;
    node_t *node;
    bool up;
    bool auto_persist;
    /* Lost its disk and has not finished rejoining: a restart must rejoin again. */
    bool needs_rejoin;
    /* The harness never ticks this node: a pure acceptor whose timers never fire, like
     * the DB servers of the seeds. */
    bool no_ticks;
    persist_record_t *durable;
    size_t durable_count;
    size_t durable_capacity;
    persist_record_t *pending;
    size_t pending_count;
    size_t pending_capacity;
    uint64_t last_seq; /* seq of the newest written record */
    harness_apply_t *applies;
    size_t apply_count;
    size_t apply_capacity;
    client_reply_t *replies;
    size_t reply_count;
    size_t reply_capacity;
    read_result_t *reads;
    size_t read_count;
    size_t read_capacity;
    event_t *events;
    size_t event_count;
    size_t event_capacity;
    uint64_t snapshot_wanted_slot;
    uint32_t snapshot_wanted_from;
    /* The state machine's snapshot: applies[0 .. snapshot_slot) survive a crash. */
    uint64_t snapshot_slot;
    bool install_snapshots; /* install wanted snapshots at once (random runs) */
} harness_node_t;

typedef struct harness {
    uint32_t n;
    uint64_t now_ms;
    harness_node_t nodes[HARNESS_NODES_MAX + 1]; /* by node id, 1..n */
    harness_msg_t *net;
    size_t net_count;
    size_t net_capacity;
    rng_t rng;
    /* Random runs: messages take [0, latency_max_ms] and are lost with drop_percent. */
    uint32_t latency_max_ms;
    uint32_t drop_percent;
    bool cut[HARNESS_NODES_MAX + 1][HARNESS_NODES_MAX + 1]; /* cut[a][b]: a's messages to b lost */
    FILE *narrate; /* when set, every send and delivery is told here */
    uint64_t delivered;
    /* Times two nodes both served lease reads at one instant (random runs check it). */
    uint64_t lease_overlaps;
    uint64_t snapshots_installed;
} harness_t;

/* n nodes with node_config_default and seeds derived from seed; tests may edit
 * h->nodes[i].cfg before harness_start. Records persist at once unless auto_persist is
 * cleared. */
void harness_init(harness_t *h, uint32_t n, uint64_t seed);
void harness_start(harness_t *h);
/* Before harness_start: a durable record node id wrote in an earlier life. */
void harness_preload(harness_t *h, uint32_t id, persist_kind_t kind, ballot_t ballot);
/* Puts a message crafted by the test into the network (as if `from` sent it). */
void harness_inject(harness_t *h, const msg_t *m);
void harness_free(harness_t *h);
/* Called by harness_free just before it frees, e.g. to keep the nodes' events of a
 * scenario that builds and frees its own harness (tests/trace). NULL: none. */
typedef void (*harness_free_hook_t)(const harness_t *h, void *ctx);
void harness_set_free_hook(harness_free_hook_t hook, void *ctx);

/* Drains a node's outputs into the harness (records, network, applies, replies, ...). */
void harness_collect(harness_t *h, uint32_t id);
void harness_collect_all(harness_t *h);
/* Makes node id's written records durable and tells the node. */
void harness_persist(harness_t *h, uint32_t id);
/* Makes node id's written records up to seq durable (a disk that synced part of its
 * queue, in write order) and tells the node. */
void harness_persist_upto(harness_t *h, uint32_t id, uint64_t seq);

/* Index of the first in-flight message matching (from, to, type; 0 = any), or -1. */
long harness_find(const harness_t *h, uint32_t from, uint32_t to, msg_type_t type);
size_t harness_count(const harness_t *h, uint32_t from, uint32_t to, msg_type_t type);
const msg_t *harness_peek(const harness_t *h, uint32_t from, uint32_t to, msg_type_t type);
/* Delivers (or drops) the first matching message; false when there is none. */
bool harness_deliver(harness_t *h, uint32_t from, uint32_t to, msg_type_t type);
bool harness_drop(harness_t *h, uint32_t from, uint32_t to, msg_type_t type);
/* Delivers the in-flight message at index i (as h->net[i]). */
void harness_deliver_at(harness_t *h, size_t i);
void harness_drop_all(harness_t *h, uint32_t from, uint32_t to, msg_type_t type);
/* Delivers everything in flight, oldest first, until the network is empty (bounded). */
size_t harness_deliver_all(harness_t *h);

/* Moves time on by ms, ticking every node (no deliveries). */
void harness_advance(harness_t *h, uint64_t ms);
/* Moves time in steps of step_ms up to now + ms, delivering everything at each step. */
void harness_run(harness_t *h, uint64_t ms, uint64_t step_ms);
/* Runs the network with random latency and loss until now + ms. */
void harness_run_random(harness_t *h, uint64_t ms);

uint32_t harness_leader(const harness_t *h); /* the one leader, or 0 */
size_t harness_leader_count(const harness_t *h);
/* Whether any node other than id has lost its disk and not finished rejoining. */
bool harness_other_rejoining(const harness_t *h, uint32_t id);
int harness_submit(harness_t *h, uint32_t id, uint64_t client, uint64_t seq, const char *text);
void harness_crash(harness_t *h, uint32_t id);
/* Snapshots node id's state machine at its applied slot and compacts its log. */
void harness_compact(harness_t *h, uint32_t id);
/* Restarts a crashed node from its durable records (or from nothing, with rejoin). A node
 * that crashes before its rejoin finished rejoins again: what it wrote while rejoining is
 * not a complete acceptor state. */
void harness_restart(harness_t *h, uint32_t id, bool lose_disk);

/* Agreement and prefix consistency over every node's applies; false with a reason. */
bool harness_check_agreement(const harness_t *h, char *why, size_t why_bytes);
size_t harness_events(const harness_t *h, uint32_t id, event_kind_t kind);
/* Whether a node applied a batch holding (client, seq). */
bool harness_applied_command(const harness_t *h, uint32_t id, uint64_t client, uint64_t seq);

/* One line describing a message, e.g. "Prepare(r5.n1 from slot 1)". */
char *harness_describe(const msg_t *m, char *buf, size_t buf_bytes);
char *harness_describe_value(const value_t *v, char *buf, size_t buf_bytes);

#endif
