/* Leader leases and read barriers (docs/design.md step 6; Chubby §2.9). The leader counts a
 * lease from the send time of a heartbeat a majority answered, minus the drift bound, and
 * reads alone only while it holds one and its own no-op is chosen and applied. Otherwise a
 * read waits for a majority to answer a heartbeat sent after the read arrived. */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#define READS_CAPACITY_MIN 16u

bool lease_noop_applied(const node_t *node)
{
    return node->noop_slot != 0 && node->chosen_upto >= node->noop_slot &&
           node->applied_upto >= node->noop_slot;
}

bool node_serves_lease_reads(const node_t *node, uint64_t now_ms)
{
    return node->role == ROLE_LEADER && node->lease_active && now_ms < node->lease_until_ms &&
           lease_noop_applied(node);
}

static void heartbeat_quorum(node_t *node, heartbeat_sent_t *hs)
{
    assert(!hs->quorum);
    assert(node_window_quorum(node, hs->ack_mask));
    hs->quorum = true;
    if (hs->id > node->heartbeat_quorum_id) {
        node->heartbeat_quorum_id = hs->id;
    }
    if (hs->send_ms > node->quorum_heard_ms) {
        node->quorum_heard_ms = hs->send_ms;
    }
    /* Every acceptor that answered received the heartbeat after it was sent, so its grant
     * runs past send + lease on its clock; the drift bound covers clocks that disagree. */
    uint64_t until = hs->send_ms + node->cfg.lease_ms - node->cfg.clock_drift_ms;
#ifdef BALLOT_PLANT_LEASE_NO_DRIFT_MARGIN /* see tests/sim/CMakeLists.txt */
    until = hs->send_ms + node->cfg.lease_ms;
#endif
    if (until > node->lease_until_ms) {
        node->lease_until_ms = until;
    }
    if (!node->lease_active && node->now_ms < node->lease_until_ms) {
        node->lease_active = true;
        event_t ev = node_event(node, EVENT_LEASE_ACQUIRED, node->own_ballot);
        ev.until_ms = node->lease_until_ms;
        node_emit(node, &ev);
    }
}

void lease_send_heartbeat(node_t *node)
{
    assert(node->role == ROLE_LEADER);
    uint64_t id = ++node->heartbeat_next_id;
    heartbeat_sent_t *hs = &node->heartbeats[id % HEARTBEAT_HISTORY];
    memset(hs, 0, sizeof(*hs));
    hs->id = id;
    hs->send_ms = node->now_ms;
    node->heartbeat_due_ms = node->now_ms + node->cfg.heartbeat_ms;
    node->heartbeat_wanted = false;
    /* The leader's own acceptor answers at send time, if its promise is still ours. */
    if (ballot_equal(node->promised, node->own_ballot)) {
        hs->ack_mask = node_bit(node->cfg.id);
        node->heard_leader_ballot = node->own_ballot;
        node->leader_heard_ms = node->now_ms;
        node->lease_grant_ballot = node->own_ballot;
        node->lease_grant_until_ms = node->now_ms + node->cfg.lease_ms;
    }
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_HEARTBEAT;
    m.u.heartbeat.ballot = node->own_ballot;
    m.u.heartbeat.commit = node->chosen_upto;
    node->commit_announced = node->chosen_upto;
    m.u.heartbeat.heartbeat_id = id;
    outbox_broadcast(node, &m, false, OUTBOX_NOW);
    if (node_window_quorum(node, hs->ack_mask)) {
        heartbeat_quorum(node, hs);
    }
}

/* A heartbeat sent for a commit is an ordinary heartbeat: counted from its own send time
 * once a majority answers it, so it can renew the lease only as any heartbeat does. */
bool lease_commit_notice_due(const node_t *node)
{
    return node->role == ROLE_LEADER && !node_alone(node) &&
           node->chosen_upto > node->commit_announced &&
           node->heartbeat_next_id - node->heartbeat_quorum_id < COMMIT_HEARTBEATS_AHEAD_MAX;
}

void lease_on_heartbeat_ack(node_t *node, const msg_t *m)
{
    const msg_heartbeat_ack_t *a = &m->u.heartbeat_ack;
    if (node->role != ROLE_LEADER || !ballot_equal(a->ballot, node->own_ballot)) {
        return;
    }
    /* A follower may know more chosen than its leader (learned from an earlier leader, or
     * installed a snapshot): the leader fetches it rather than wait for slots it can no
     * longer get accepted (docs/core.md "Compaction"). */
    learner_note_commit(node, a->chosen_upto, m->from);
    node->member_heard |= node_bit(m->from);
    if (a->chosen_upto > node->member_chosen[m->from]) {
        node->member_chosen[m->from] = a->chosen_upto;
    }
    heartbeat_sent_t *hs = &node->heartbeats[a->heartbeat_id % HEARTBEAT_HISTORY];
    if (hs->id != a->heartbeat_id || a->heartbeat_id == 0) {
        return; /* too old to count */
    }
    hs->ack_mask |= node_bit(m->from);
    if (!hs->quorum && node_window_quorum(node, hs->ack_mask)) {
        heartbeat_quorum(node, hs);
    }
}

void lease_void(node_t *node)
{
    if (node->lease_active) {
        event_t ev = node_event(node, EVENT_LEASE_EXPIRED, node->own_ballot);
        ev.until_ms = node->lease_until_ms;
        node_emit(node, &ev);
    }
    node->lease_active = false;
    node->lease_until_ms = 0;
    if (ballot_equal(node->lease_grant_ballot, node->own_ballot)) {
        node->lease_grant_until_ms = 0;
    }
    assert(!node_serves_lease_reads(node, node->now_ms));
}

static bool reads_add(node_t *node, const pending_read_t *r)
{
    if (node->read_count >= PENDING_READS_MAX) {
        return false;
    }
    if (node->read_count == node->read_capacity) {
        uint32_t next = node->read_capacity == 0 ? READS_CAPACITY_MIN : node->read_capacity * 2;
        pending_read_t *bigger = realloc(node->reads, next * sizeof(*bigger));
        if (bigger == NULL) {
            return false;
        }
        node->reads = bigger;
        node->read_capacity = next;
    }
    node->reads[node->read_count++] = *r;
    return true;
}

static void reads_remove(node_t *node, uint32_t i)
{
    assert(i < node->read_count);
    node->reads[i] = node->reads[--node->read_count];
}

/* Answers a read that waited on this node as leader: locally or to the follower asking. */
static void leader_answer(node_t *node, const pending_read_t *r, bool ok)
{
    uint32_t leader = node->role == ROLE_LEADER ? node->cfg.id : node->leader;
    if (r->origin == node->cfg.id) {
        read_result_t res = {.read_id = r->read_id, .ok = ok, .leader = leader};
        res.index = ok ? node->chosen_upto : 0;
        outbox_read(node, &res);
        return;
    }
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_READ_INDEX_REPLY;
    m.to = r->origin;
    m.u.read_index_reply.read_id = r->read_id;
    m.u.read_index_reply.ok = ok;
    m.u.read_index_reply.index = ok ? node->chosen_upto : 0;
    m.u.read_index_reply.leader = leader;
    outbox_post(node, &m, OUTBOX_NOW);
}

/* A read arriving at the leader: at once under a lease, else after a fresh quorum. */
static int leader_read(node_t *node, uint64_t read_id, uint32_t origin)
{
    pending_read_t r = {.read_id = read_id, .origin = origin, .state = READ_WAIT_QUORUM};
    if (node_serves_lease_reads(node, node->now_ms)) {
        leader_answer(node, &r, true);
        return BALLOT_OK;
    }
    r.heartbeat_id = node->heartbeat_next_id + 1;
    r.deadline_ms = node->now_ms + node->cfg.election_timeout_max_ms;
    if (!reads_add(node, &r)) {
        return BALLOT_EBUSY;
    }
    node->heartbeat_wanted = true; /* one heartbeat serves every read of this step */
    return BALLOT_OK;
}

int node_read(node_t *node, uint64_t read_id, uint64_t now_ms)
{
    if (node == NULL) {
        return BALLOT_EINVAL;
    }
    if (!node->started) {
        return BALLOT_ESTATE;
    }
    node->now_ms = now_ms > node->now_ms ? now_ms : node->now_ms;
    int rc = BALLOT_OK;
    if (node->role == ROLE_LEADER) {
        rc = leader_read(node, read_id, node->cfg.id);
    } else if (node->leader != NODE_NONE && node->leader != node->cfg.id) {
        pending_read_t r = {.read_id = read_id, .origin = node->cfg.id};
        r.state = READ_WAIT_LEADER;
        r.deadline_ms = node->now_ms + node->cfg.election_timeout_max_ms;
        if (!reads_add(node, &r)) {
            return BALLOT_EBUSY;
        }
        msg_t m;
        memset(&m, 0, sizeof(m));
        m.type = MSG_READ_INDEX;
        m.to = node->leader;
        m.u.read_index.read_id = read_id;
        outbox_post(node, &m, OUTBOX_NOW);
    } else {
        read_result_t res = {.read_id = read_id, .ok = false, .leader = NODE_NONE};
        outbox_read(node, &res);
    }
    node_settle(node);
    return rc;
}

void lease_on_read_index(node_t *node, const msg_t *m)
{
    pending_read_t r = {.read_id = m->u.read_index.read_id, .origin = m->from};
    if (node->role != ROLE_LEADER || leader_read(node, r.read_id, m->from) != BALLOT_OK) {
        leader_answer(node, &r, false);
    }
}

void lease_on_read_index_reply(node_t *node, const msg_t *m)
{
    const msg_read_index_reply_t *a = &m->u.read_index_reply;
    for (uint32_t i = 0; i < node->read_count; i++) {
        pending_read_t *r = &node->reads[i];
        if (r->origin != node->cfg.id || r->read_id != a->read_id || r->state != READ_WAIT_LEADER) {
            continue;
        }
        if (!a->ok) {
            read_result_t res = {.read_id = r->read_id, .ok = false, .leader = a->leader};
            outbox_read(node, &res);
            reads_remove(node, i);
            return;
        }
        r->state = READ_WAIT_APPLY;
        r->index = a->index;
        lease_reads_progress(node);
        return;
    }
}

void lease_reads_progress(node_t *node)
{
    bool ready_quorum = node->role == ROLE_LEADER && lease_noop_applied(node);
    for (uint32_t i = node->read_count; i-- > 0;) {
        pending_read_t *r = &node->reads[i];
        if (r->state == READ_WAIT_QUORUM && ready_quorum &&
            node->heartbeat_quorum_id >= r->heartbeat_id) {
            pending_read_t done = *r;
            reads_remove(node, i);
            leader_answer(node, &done, true);
        } else if (r->state == READ_WAIT_APPLY && node->applied_upto >= r->index) {
            read_result_t res = {.read_id = r->read_id, .ok = true, .index = r->index};
            res.leader = node->leader;
            reads_remove(node, i);
            outbox_read(node, &res);
        }
    }
}

/* Fails reads that wait on this node's leadership (leader_side_only) or every read. */
void lease_reads_fail_all(node_t *node, bool leader_side_only)
{
    for (uint32_t i = node->read_count; i-- > 0;) {
        pending_read_t done = node->reads[i];
        if (leader_side_only && done.state != READ_WAIT_QUORUM) {
            continue;
        }
        reads_remove(node, i);
        if (done.state == READ_WAIT_QUORUM) {
            leader_answer(node, &done, false);
        } else {
            read_result_t res = {.read_id = done.read_id, .ok = false, .leader = node->leader};
            outbox_read(node, &res);
        }
    }
}

void lease_tick(node_t *node)
{
    if (node->role == ROLE_LEADER) {
        if (node->lease_active && node->now_ms >= node->lease_until_ms) {
            node->lease_active = false;
            event_t ev = node_event(node, EVENT_LEASE_EXPIRED, node->own_ballot);
            ev.until_ms = node->lease_until_ms;
            node_emit(node, &ev);
        }
        if (node->now_ms >= node->heartbeat_due_ms) {
            lease_send_heartbeat(node);
        }
    }
    for (uint32_t i = node->read_count; i-- > 0;) {
        if (node->now_ms < node->reads[i].deadline_ms) {
            continue;
        }
        pending_read_t done = node->reads[i];
        reads_remove(node, i);
        if (done.state == READ_WAIT_QUORUM) {
            leader_answer(node, &done, false);
        } else {
            read_result_t res = {.read_id = done.read_id, .ok = false, .leader = node->leader};
            outbox_read(node, &res);
        }
    }
}

uint64_t lease_deadline(const node_t *node)
{
    uint64_t due = FOREVER_MS;
    if (node->role == ROLE_LEADER) {
        due = node->heartbeat_due_ms;
        if (node->lease_active && node->lease_until_ms < due) {
            due = node->lease_until_ms;
        }
    }
    for (uint32_t i = 0; i < node->read_count; i++) {
        if (node->reads[i].deadline_ms < due) {
            due = node->reads[i].deadline_ms;
        }
    }
    return due;
}
