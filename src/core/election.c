/* Who leads (docs/design.md step 5): randomized election timeouts, randomized exponential
 * backoff after a failed round, stepping down, leadership transfer. Together with the
 * acceptors' refusal to promise while a live leader is heard, these end the duelling
 * proposers of the concurrent scenario in docs/design.md step 5. */
#include <string.h>

#include "core/internal.h"

void election_observe(node_t *node, ballot_t b)
{
    if (ballot_less(node->highest_seen, b)) {
        node->highest_seen = b;
    }
}

void election_reset_timer(node_t *node)
{
    uint64_t timeout =
        rng_range(&node->rng, node->cfg.election_timeout_min_ms, node->cfg.election_timeout_max_ms);
    node->election_deadline_ms = node->now_ms + timeout;
}

void election_follow(node_t *node, ballot_t b)
{
    if (node->role != ROLE_FOLLOWER) {
        if (!ballot_less(node->own_ballot, b)) {
            return; /* our own round is newer; the acceptor state is separate */
        }
        election_step_down(node, STEP_DOWN_SUPERSEDED, b, b.node);
    }
    assert(node->role == ROLE_FOLLOWER);
    node->leader_ballot = b;
    node->leader = b.node;
    node->heard_leader_ballot = b;
    node->leader_heard_ms = node->now_ms;
    node->backoff_attempt = 0;
    election_reset_timer(node);
}

void election_step_down(node_t *node, step_down_reason_t reason, ballot_t other, uint32_t peer)
{
    if (node->role == ROLE_FOLLOWER) {
        return;
    }
    bool was_leader = node->role == ROLE_LEADER;
    event_t ev = node_event(node, EVENT_STEPPED_DOWN, node->own_ballot);
    ev.other_ballot = other;
    ev.reason = reason;
    ev.peer = peer;
    node_emit(node, &ev);
    if (was_leader) {
        lease_void(node);
    }
    proposer_abandon(node);
    node->role = ROLE_FOLLOWER;
    node->leader = reason == STEP_DOWN_NO_QUORUM ? NODE_NONE : peer;
    node->leader_ballot = reason == STEP_DOWN_SUPERSEDED ? other : BALLOT_NONE;
    /* The acceptor keeps having heard this node as leader until the liveness window ends:
     * a node that comes back from a partition with a high ballot and makes us step down
     * must not win our vote before we retry (docs/design.md step 5). */
    if (was_leader) {
        client_fail_pending(node);
        lease_reads_fail_all(node, true);
    }
    election_reset_timer(node);
    assert(!node_serves_lease_reads(node, node->now_ms));
}

void election_backoff(node_t *node, ballot_t winner)
{
    assert(node->role != ROLE_LEADER);
    node->role = ROLE_FOLLOWER;
    if (!ballot_is_none(winner) && winner.node != node->cfg.id) {
        node->leader = winner.node;
        node->leader_ballot = winner;
    } else {
        node->leader = NODE_NONE;
        node->leader_ballot = BALLOT_NONE;
    }
    uint32_t doublings = node->backoff_attempt;
    if (doublings > BACKOFF_DOUBLINGS_MAX) {
        doublings = BACKOFF_DOUBLINGS_MAX;
    }
    uint64_t span = (uint64_t)node->cfg.backoff_min_ms << doublings;
    if (span > node->cfg.backoff_max_ms) {
        span = node->cfg.backoff_max_ms;
    }
    uint64_t duration = node->cfg.backoff_min_ms + rng_range(&node->rng, 0, span);
    if (node->backoff_attempt < UINT32_MAX) {
        node->backoff_attempt++;
    }
    node->election_deadline_ms = node->now_ms + duration;
    event_t ev = node_event(node, EVENT_BACKOFF, node->own_ballot);
    ev.other_ballot = winner;
    ev.duration_ms = duration;
    node_emit(node, &ev);
}

void election_on_timeout_now(node_t *node, const msg_t *m)
{
    ballot_t b = m->u.timeout_now.ballot;
    if (node->rejoining || node->role == ROLE_LEADER || ballot_less(b, node->promised) ||
        !node_is_voter(node)) {
        return; /* a stale hand-over, or not ours to take */
    }
    if (node->role == ROLE_CANDIDATE) {
        proposer_abandon(node);
        node->role = ROLE_FOLLOWER;
    }
    proposer_start_phase1(node, b);
}

int node_transfer_leadership(node_t *node, uint32_t to, uint64_t now_ms)
{
    if (node == NULL) {
        return BALLOT_EINVAL;
    }
    if (node->role != ROLE_LEADER) {
        return BALLOT_ENOTLEADER;
    }
    if (to < 1 || to > NODES_MAX || to == node->cfg.id ||
        (membership_voter_mask(config_state_for_slot(&node->cs, node->next_slot)) & node_bit(to)) ==
            0) {
        return BALLOT_EINVAL;
    }
    node->now_ms = now_ms > node->now_ms ? now_ms : node->now_ms;
    /* Void the lease first: `to` will ask acceptors to set it aside. */
    lease_void(node);
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_TIMEOUT_NOW;
    m.to = to;
    m.u.timeout_now.ballot = node->own_ballot;
    outbox_post(node, &m, OUTBOX_NOW);
    election_step_down(node, STEP_DOWN_TRANSFER, BALLOT_NONE, to);
    node_settle(node);
    return BALLOT_OK;
}

void election_tick(node_t *node)
{
    uint64_t now = node->now_ms;
    if (node->role == ROLE_LEADER) {
        if (!node_alone(node) && now >= node->quorum_heard_ms + node->cfg.election_timeout_min_ms) {
            election_step_down(node, STEP_DOWN_NO_QUORUM, BALLOT_NONE, NODE_NONE);
        }
        return;
    }
    if (node->role != ROLE_FOLLOWER || node->rejoining || now < node->election_deadline_ms) {
        return;
    }
#ifndef BALLOT_PLANT_LEARNER_CAMPAIGNS /* see tests/sim/CMakeLists.txt */
    if (!node_is_voter(node)) {
        election_reset_timer(node); /* a learner or a removed node never campaigns */
        return;
    }
#endif
    event_t ev = node_event(node, EVENT_ELECTION_TIMEOUT, node->leader_ballot);
    ev.duration_ms = now - node->leader_heard_ms;
    node_emit(node, &ev);
    proposer_start_phase1(node, BALLOT_NONE);
}

uint64_t election_deadline(const node_t *node)
{
    if (node->role == ROLE_LEADER) {
        if (node_alone(node)) {
            return FOREVER_MS;
        }
        return node->quorum_heard_ms + node->cfg.election_timeout_min_ms;
    }
    if (node->role == ROLE_FOLLOWER && !node->rejoining) {
        return node->election_deadline_ms;
    }
    return FOREVER_MS;
}
