/* The node: configuration, life cycle, dispatch of inputs to the acceptor, proposer,
 * learner and lease code, and the status the drivers read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#define SETTLE_ROUNDS_MAX 64u

uint32_t node_popcount(uint32_t mask)
{
    uint32_t n = 0;
    for (; mask != 0; mask &= mask - 1) {
        n++;
    }
    return n;
}

uint32_t node_bit(uint32_t id)
{
    assert(id >= 1 && id <= NODES_MAX);
    return 1u << id;
}

void node_config_default(node_config_t *cfg, uint32_t id, uint32_t node_count)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->id = id;
    cfg->node_count = node_count;
    cfg->seed = 0x62616c6c6f74ull ^ id;
    cfg->heartbeat_ms = 50;
    cfg->election_timeout_min_ms = 300;
    cfg->election_timeout_max_ms = 600;
    cfg->lease_ms = 250;
    cfg->clock_drift_ms = 25;
    cfg->backoff_min_ms = 20;
    cfg->backoff_max_ms = 1000;
    cfg->retransmit_ms = 100;
    cfg->window_slots = 256;
    cfg->batch_commands = 256;
    cfg->batch_bytes = 1024u * 1024u;
    cfg->pending_commands_max = 16384;
    cfg->forward_to_leader = true;
    cfg->trace = true;
}

static int config_fail(char *msg, size_t msg_bytes, const char *why)
{
    if (msg != NULL && msg_bytes > 0) {
        snprintf(msg, msg_bytes, "%s", why);
    }
    return BALLOT_EINVAL;
}

/* Timing bounds: they keep leases renewed before they lapse and elections slower than
 * heartbeats. */
static int config_check_times(const node_config_t *c, char *msg, size_t msg_bytes)
{
    if (c->heartbeat_ms == 0 || c->heartbeat_ms >= c->election_timeout_min_ms) {
        return config_fail(msg, msg_bytes, "need 0 < heartbeat_ms < election_timeout_min_ms");
    }
    if (c->election_timeout_min_ms >= c->election_timeout_max_ms) {
        return config_fail(msg, msg_bytes,
                           "need election_timeout_min_ms < election_timeout_max_ms");
    }
    if (c->lease_ms <= c->heartbeat_ms || c->clock_drift_ms >= c->lease_ms) {
        return config_fail(msg, msg_bytes,
                           "need heartbeat_ms < lease_ms, clock_drift_ms < lease_ms");
    }
    if (c->backoff_min_ms == 0 || c->backoff_min_ms > c->backoff_max_ms) {
        return config_fail(msg, msg_bytes, "need 0 < backoff_min_ms <= backoff_max_ms");
    }
    if (c->retransmit_ms == 0) {
        return config_fail(msg, msg_bytes, "retransmit_ms must be positive");
    }
    return BALLOT_OK;
}

int node_config_check(const node_config_t *c, char *msg, size_t msg_bytes)
{
    if (c == NULL) {
        return config_fail(msg, msg_bytes, "no configuration");
    }
    uint32_t n = c->node_count;
    if (n != 0 && n != 1 && n != 3 && n != 5 && n != 7) {
        return config_fail(msg, msg_bytes, "node_count must be 0 (joining), 1, 3, 5 or 7");
    }
    if (c->id < 1 || c->id > (n == 0 ? NODES_MAX : n)) {
        return config_fail(msg, msg_bytes, "id must be in 1..node_count (1..15 when joining)");
    }
    if ((c->peer_mask & ~(uint32_t)(((1u << (NODES_MAX + 1u)) - 1u) & ~1u)) != 0) {
        return config_fail(msg, msg_bytes, "peer_mask names ids outside 1..NODES_MAX");
    }
    if (c->window_slots == 0 || c->window_slots > WINDOW_SLOTS_MAX) {
        return config_fail(msg, msg_bytes, "window_slots must be in 1..WINDOW_SLOTS_MAX");
    }
    if (c->batch_commands == 0 || c->batch_commands > BATCH_COMMANDS_MAX) {
        return config_fail(msg, msg_bytes, "batch_commands must be in 1..BATCH_COMMANDS_MAX");
    }
    if (c->batch_bytes < BATCH_HEADER_BYTES + BATCH_COMMAND_HEADER_BYTES ||
        c->batch_bytes > BATCH_BYTES_MAX) {
        return config_fail(msg, msg_bytes, "batch_bytes out of range (BATCH_BYTES_MAX)");
    }
    if (c->pending_commands_max == 0 || c->pending_commands_max > PENDING_COMMANDS_MAX) {
        return config_fail(msg, msg_bytes,
                           "pending_commands_max must be in 1..PENDING_COMMANDS_MAX");
    }
    return config_check_times(c, msg, msg_bytes);
}

int node_create(node_t **out, const node_config_t *cfg)
{
    if (out == NULL || node_config_check(cfg, NULL, 0) != BALLOT_OK) {
        return BALLOT_EINVAL;
    }
    node_t *node = calloc(1, sizeof(*node));
    if (node == NULL) {
        return BALLOT_ENOMEM;
    }
    node->cfg = *cfg;
    if (cfg->node_count > 0) {
        membership_t founding;
        membership_founding(&founding, cfg->node_count);
        config_state_init(&node->cs, &founding);
    } else {
        config_state_init(&node->cs, NULL); /* learned from the log or a snapshot */
    }
    /* Mix the id in, so nodes handed one seed still draw different timeouts. */
    rng_seed(&node->rng, cfg->seed * 0x9e3779b97f4a7c15ull + cfg->id);
    node->role = ROLE_FOLLOWER;
    node->next_slot = 1;
    node->retransmit_due_ms = FOREVER_MS;
    node->election_deadline_ms = FOREVER_MS;
    if (!log_init(&node->log) || !outbox_init(&node->outbox)) {
        log_free(&node->log);
        free(node);
        return BALLOT_ENOMEM;
    }
    *out = node;
    return BALLOT_OK;
}

void node_destroy(node_t *node)
{
    if (node == NULL) {
        return;
    }
    node_outputs_clear(node);
    outbox_free(&node->outbox);
    client_free(node);
    free(node->reads);
    log_free(&node->log);
    free(node);
}

/* Checks what msg_validate cannot know: the cluster's size and who may send which ballot
 * (a proposer only ever sends its own ballot; answers carry ours). */
static bool msg_fits_cluster(const node_t *node, const msg_t *m)
{
    uint32_t n = NODES_MAX;
    uint32_t self = node->cfg.id;
    if (m->to != self || m->from == self || m->from > n) {
        return false;
    }
    switch (m->type) {
    case MSG_PREPARE:
        return m->u.prepare.ballot.node == m->from && m->u.prepare.waived_ballot.node <= n;
    case MSG_ACCEPT:
        return m->u.accept.ballot.node == m->from;
    case MSG_HEARTBEAT:
        return m->u.heartbeat.ballot.node == m->from;
    case MSG_TIMEOUT_NOW:
        return m->u.timeout_now.ballot.node == m->from;
    case MSG_PROMISE:
        return m->u.promise.ballot.node == self;
    case MSG_ACCEPTED:
        return m->u.accepted.ballot.node == self;
    case MSG_HEARTBEAT_ACK:
        return m->u.heartbeat_ack.ballot.node == self;
    case MSG_REJECT:
        return m->u.reject.ballot.node == self && m->u.reject.promised.node <= n;
    case MSG_LEARN:
        return m->u.learn.ballot.node <= n;
    case MSG_REJOIN_REPLY:
        for (uint32_t i = 0; i < m->u.rejoin_reply.entry_count; i++) {
            if (m->u.rejoin_reply.entries[i].ballot.node > n) {
                return false;
            }
        }
        return m->u.rejoin_reply.ballot.node <= n;
    case MSG_FORWARD_REPLY:
        return m->u.forward_reply.leader <= n;
    case MSG_READ_INDEX_REPLY:
        return m->u.read_index_reply.leader <= n;
    default:
        return true;
    }
}

void node_dispatch(node_t *node, const msg_t *m)
{
    switch (m->type) {
    case MSG_PREPARE:
        acceptor_on_prepare(node, m);
        break;
    case MSG_PROMISE:
        proposer_on_promise(node, m);
        break;
    case MSG_ACCEPT:
        acceptor_on_accept(node, m);
        break;
    case MSG_ACCEPTED:
        proposer_on_accepted(node, m);
        break;
    case MSG_REJECT:
        proposer_on_reject(node, m);
        break;
    case MSG_HEARTBEAT:
        acceptor_on_heartbeat(node, m);
        break;
    case MSG_HEARTBEAT_ACK:
        lease_on_heartbeat_ack(node, m);
        break;
    case MSG_LEARN_REQUEST:
        learner_on_learn_request(node, m);
        break;
    case MSG_LEARN:
        learner_on_learn(node, m);
        break;
    case MSG_FORWARD:
        client_on_forward(node, m);
        break;
    case MSG_FORWARD_REPLY:
        client_on_forward_reply(node, m);
        break;
    case MSG_READ_INDEX:
        lease_on_read_index(node, m);
        break;
    case MSG_READ_INDEX_REPLY:
        lease_on_read_index_reply(node, m);
        break;
    case MSG_TIMEOUT_NOW:
        election_on_timeout_now(node, m);
        break;
    case MSG_REJOIN:
        acceptor_on_rejoin(node, m);
        break;
    case MSG_REJOIN_REPLY:
        rejoin_on_reply(node, m);
        break;
    }
}

void node_settle(node_t *node)
{
    if (node->settling) {
        return; /* an inner call: the outer settle finishes the work */
    }
    node->settling = true;
    for (uint32_t round = 0; round < SETTLE_ROUNDS_MAX; round++) {
        outbox_deliver_self(node);
        proposer_fill_window(node);
        /* A commit that no Accept of this step carried goes out on a heartbeat at once,
         * so followers apply (and answer their clients) without waiting a heartbeat. */
        if (node->role == ROLE_LEADER &&
            (node->heartbeat_wanted || lease_commit_notice_due(node))) {
            lease_send_heartbeat(node);
        }
        lease_reads_progress(node);
        rejoin_progress(node);
        if (node->outbox.self.count == 0) {
            break;
        }
    }
    assert(node->outbox.self.count == 0);
    learner_record_chosen(node);
    node->settling = false;
}

int node_receive(node_t *node, const msg_t *m, uint64_t now_ms)
{
    if (node == NULL) {
        return BALLOT_EINVAL;
    }
    if (!msg_validate(m) || !msg_fits_cluster(node, m)) {
        node->refused_count++;
        snprintf(node->refusal, sizeof(node->refusal), "%s from n%u: malformed or out of range",
                 m == NULL ? "nothing" : msg_type_name(m->type), m == NULL ? 0u : m->from);
        return BALLOT_EINVAL;
    }
    if (!node->started) {
        return BALLOT_ESTATE;
    }
    int rc = node_admit(node, m);
    if (rc != BALLOT_OK) {
        return rc;
    }
    node->now_ms = now_ms > node->now_ms ? now_ms : node->now_ms;
    node_dispatch(node, m);
    node_settle(node);
    return BALLOT_OK;
}

void node_tick(node_t *node, uint64_t now_ms)
{
    if (node == NULL || !node->started) {
        return;
    }
    node->now_ms = now_ms > node->now_ms ? now_ms : node->now_ms;
    rejoin_tick(node);
    election_tick(node);
    proposer_tick(node);
    lease_tick(node);
    learner_tick(node);
    node_settle(node);
}

void node_persisted(node_t *node, uint64_t persisted_seq, uint64_t now_ms)
{
    if (node == NULL) {
        return;
    }
    node->now_ms = now_ms > node->now_ms ? now_ms : node->now_ms;
    outbox_t *ob = &node->outbox;
    if (persisted_seq > ob->persist_seq) {
        persisted_seq = ob->persist_seq; /* nothing beyond what was written can be durable */
    }
    if (persisted_seq > ob->persisted_seq) {
        ob->persisted_seq = persisted_seq;
    }
    outbox_release(node);
    if (node->started) {
        node_settle(node);
    }
}

void node_get_status(const node_t *node, uint64_t now_ms, node_status_t *out)
{
    memset(out, 0, sizeof(*out));
    out->id = node->cfg.id;
    out->role = node->role;
    out->promised = node->promised;
    out->leader_ballot = node->leader_ballot;
    out->leader = node->leader;
    out->chosen_upto = node->chosen_upto;
    out->applied_upto = node->applied_upto;
    out->highest_accepted_slot = node->highest_accepted_slot;
    out->log_first_slot = node->log.first_slot;
    out->lease_held = node_serves_lease_reads(node, now_ms);
    out->lease_until_ms = node->role == ROLE_LEADER ? node->lease_until_ms : 0;
    out->pending_commands = node->pending_count;
    out->in_flight_slots = proposer_in_flight(node);
    out->voter = node_is_voter(node);
    out->config_epoch = config_state_latest(&node->cs)->epoch;
    if (node->role == ROLE_LEADER) {
        memcpy(out->member_chosen_upto, node->member_chosen, sizeof(out->member_chosen_upto));
        out->member_chosen_upto[node->cfg.id] = node->chosen_upto;
    }
    out->rejoining = node->rejoining;
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

uint64_t node_next_deadline(const node_t *node)
{
    if (node == NULL || !node->started) {
        return FOREVER_MS;
    }
    uint64_t due = election_deadline(node);
    due = earliest(due, proposer_deadline(node));
    due = earliest(due, lease_deadline(node));
    due = earliest(due, rejoin_deadline(node));
    if (node->commit_seen > node->chosen_upto && node->commit_source != NODE_NONE &&
        !node_alone(node)) {
        due = earliest(due, node->learn_request_ms + node->cfg.retransmit_ms);
    }
    return due;
}

const value_t *node_chosen_value(const node_t *node, uint64_t slot)
{
    const log_entry_t *e = log_get(&node->log, slot);
    if (e == NULL || !e->chosen) {
        return NULL;
    }
    return log_chosen_value(e);
}

bool node_accepted(const node_t *node, uint64_t slot, ballot_t *ballot, const value_t **value)
{
    const log_entry_t *e = log_get(&node->log, slot);
    if (e == NULL || ballot_is_none(e->accepted_ballot)) {
        return false;
    }
    if (ballot != NULL) {
        *ballot = e->accepted_ballot;
    }
    if (value != NULL) {
        *value = &e->value;
    }
    return true;
}

const char *node_role_name(node_role_t role)
{
    switch (role) {
    case ROLE_FOLLOWER:
        return "follower";
    case ROLE_CANDIDATE:
        return "candidate";
    case ROLE_LEADER:
        return "leader";
    }
    return "unknown";
}
