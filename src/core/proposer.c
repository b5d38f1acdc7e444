/* The proposer and leader (docs/design.md steps 2-5): phase 1 over every open slot at once,
 * carry-forward of the highest-ballot value, no-op fill, then phase 2 for new slots with a
 * bounded window of batches in flight. */
#include <stdio.h>
#include <string.h>

#include "core/internal.h"

uint32_t proposer_in_flight(const node_t *node)
{
    if (node->role != ROLE_LEADER || node->next_slot <= node->chosen_upto + 1) {
        return 0;
    }
    uint64_t n = node->next_slot - 1 - node->chosen_upto;
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

static void event_commands(event_t *ev, const value_t *v)
{
    if (v->kind != VALUE_BATCH) {
        return;
    }
    batch_iter_t it;
    command_t c;
    batch_iter_init(&it, v);
    ev->command_count = batch_count(v);
    for (uint32_t i = 0; i < EVENT_COMMANDS_MAX && batch_iter_next(&it, &c); i++) {
        ev->client_ids[i] = c.client_id;
        ev->sequences[i] = c.sequence;
    }
}

static void send_prepare(node_t *node, uint32_t to, uint64_t from_slot)
{
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_PREPARE;
    m.to = to;
    m.u.prepare.ballot = node->p1.ballot;
    m.u.prepare.from_slot = from_slot;
    m.u.prepare.waived_ballot = node->p1.waived;
    outbox_post(node, &m, OUTBOX_NOW);
}

/* Drops the candidate's reports and the leader's proposals still in flight. */
void proposer_abandon(node_t *node)
{
    phase1_t *p1 = &node->p1;
    for (uint64_t slot = p1->report_first; slot < p1->report_end; slot++) {
        log_entry_t *e = log_get(&node->log, slot);
        if (e != NULL) {
            log_entry_clear_proposal(e);
        }
    }
    p1->report_first = p1->report_end = 0;
    uint64_t end = node->carry_end > node->next_slot ? node->carry_end : node->next_slot;
    for (uint64_t slot = node->chosen_upto + 1; slot < end; slot++) {
        log_entry_t *e = log_get(&node->log, slot);
        if (e != NULL) {
            log_entry_clear_proposal(e);
        }
    }
    node->carry_end = 0;
    node->config_slot = 0;
    node->promised_mask = 0;
    node->noop_slot = 0;
    node->retransmit_due_ms = FOREVER_MS;
}

void proposer_start_phase1(node_t *node, ballot_t waived)
{
    assert(node->role != ROLE_LEADER);
    assert(!node->rejoining);
    if (ballot_exhausted(node->highest_seen, node->cfg.id)) {
        /* Only a round at BALLOT_ROUND_MAX, which no election reaches, gets here: stay a
         * follower rather than use a round the others refuse. */
        election_reset_timer(node);
        return;
    }
    proposer_abandon(node);
    /* docs/design.md "ballot": one round above the highest round seen, so it beats them all. */
    ballot_t b = ballot_next(node->highest_seen, node->cfg.id);
    node->highest_seen = b;
    node->own_ballot = b;
    node->role = ROLE_CANDIDATE;
    node->leader = NODE_NONE;
    node->leader_ballot = BALLOT_NONE;
    phase1_t *p1 = &node->p1;
    memset(p1, 0, sizeof(*p1));
    p1->ballot = b;
    p1->waived = waived;
    p1->from_slot = node->chosen_upto + 1;
    uint32_t members = node_member_mask(node) | node_bit(node->cfg.id);
    for (uint32_t id = 1; id <= NODES_MAX; id++) {
        p1->part_from[id] = p1->from_slot;
    }
    p1->compacted_upto = node->chosen_upto;
    p1->compacted_holder = node->cfg.id;
    p1->report_first = p1->report_end = p1->from_slot;
    p1->started_ms = node->now_ms;
    p1->resend_ms = node->now_ms + node->cfg.retransmit_ms;
    event_t ev = node_event(node, EVENT_PREPARE_SENT, b);
    ev.slot_first = p1->from_slot;
    ev.other_ballot = waived;
    node_emit(node, &ev);
    for (uint32_t id = 1; id <= NODES_MAX; id++) {
        if ((members & node_bit(id)) != 0) {
            send_prepare(node, id, p1->from_slot); /* to self through the internal path */
        }
    }
    assert(node->role == ROLE_CANDIDATE);
}

static void send_accept(node_t *node, uint32_t to, uint64_t slot, const log_entry_t *e)
{
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_ACCEPT;
    m.to = to;
    m.u.accept.ballot = node->own_ballot;
    m.u.accept.slot = slot;
    m.u.accept.commit = node->chosen_upto;
    if (!value_copy(&m.u.accept.value, &e->proposal)) {
        return; /* retransmission tries again */
    }
    outbox_post(node, &m, OUTBOX_NOW);
}

/* Phase 2a for slot: Accept(own ballot, slot, proposal) to every node, self included. */
static void propose(node_t *node, uint64_t slot)
{
    log_entry_t *e = log_get(&node->log, slot);
    assert(e != NULL);
    assert(!e->chosen);
    assert(node->role == ROLE_LEADER);
    e->proposing = true;
    e->reported = false;
    e->ack_mask = 0;
    e->sent_ms = node->now_ms;
    event_t ev = node_event(node, EVENT_ACCEPT_SENT, node->own_ballot);
    ev.slot_first = ev.slot_last = slot;
    event_commands(&ev, &e->proposal);
    node_emit(node, &ev);
    uint32_t members = node_member_mask(node) | node_bit(node->cfg.id);
    for (uint32_t id = 1; id <= NODES_MAX; id++) {
        if ((members & node_bit(id)) != 0) {
            send_accept(node, id, slot, e);
        }
    }
    /* Every follower got the commit with this Accept (a retransmission reaches only some,
     * so it does not count). */
    node->commit_announced = node->chosen_upto;
    uint64_t due = node->now_ms + node->cfg.retransmit_ms;
    if (due < node->retransmit_due_ms) {
        node->retransmit_due_ms = due;
    }
}

/* docs/design.md step 2 and its example: re-propose the value accepted at the highest
 * reported ballot, never our own; a hole gets a no-op. */
static void carry_or_fill(node_t *node, uint64_t slot)
{
    bool ok = log_reserve(&node->log, slot);
    assert(ok);
    log_entry_t *e = log_get(&node->log, slot);
    if (e->chosen) {
        log_entry_clear_proposal(e);
        return;
    }
    event_t ev = node_event(node, EVENT_NOOP_FILLED, node->own_ballot);
    ev.slot_first = ev.slot_last = slot;
    if (e->reported) {
        ev.kind = EVENT_CARRIED_FORWARD;
        ev.other_ballot = e->report_ballot;
        event_commands(&ev, &e->proposal);
    } else {
        value_free(&e->proposal);
        e->proposal = value_noop();
    }
    node_emit(node, &ev);
    propose(node, slot);
}

static void propose_own_noop(node_t *node)
{
    uint64_t slot = node->next_slot;
    if (!log_reserve(&node->log, slot)) {
        return; /* the log is full until compaction; lease reads wait */
    }
    log_entry_t *e = log_get(&node->log, slot);
    assert(!e->chosen);
    log_entry_clear_proposal(e);
    e->proposal = value_noop();
    node->noop_slot = slot;
    node->next_slot = slot + 1;
    event_t ev = node_event(node, EVENT_PROPOSED, node->own_ballot);
    ev.slot_first = ev.slot_last = slot;
    node_emit(node, &ev);
    propose(node, slot);
}

static void become_leader(node_t *node)
{
    phase1_t *p1 = &node->p1;
    node->role = ROLE_LEADER;
    node->leader = node->cfg.id;
    node->leader_ballot = node->own_ballot;
    node->backoff_attempt = 0;
    node->retransmit_due_ms = FOREVER_MS;
    event_t ev = node_event(node, EVENT_LEADER_ELECTED, node->own_ballot);
    ev.slot_first = p1->from_slot;
    ev.slot_last = p1->report_end;
    node_emit(node, &ev);
    /* Slots a promiser compacted are fetched, never proposed anew: it reports nothing for
     * them, so its silence is not a hole. Above them every promiser reported faithfully,
     * so carry forward (or a no-op for a hole) is safe even for slots some promiser knew
     * chosen: the highest-ballot report of a chosen slot is its chosen value. Proposing
     * them, rather than waiting for a Learn, keeps the log moving when the only node that
     * knew them chosen has since lost its disk (ballot-sim --seed 6513). */
    uint64_t learn_upto = p1->compacted_upto;
    if (learn_upto > node->chosen_upto) {
        learner_note_commit(node, learn_upto, p1->compacted_holder);
        learner_request(node, p1->compacted_holder, true);
    }
    uint64_t first = (learn_upto > node->chosen_upto ? learn_upto : node->chosen_upto) + 1;
    for (uint64_t slot = p1->report_first; slot < first && slot < p1->report_end; slot++) {
        log_entry_t *e = log_get(&node->log, slot);
        if (e != NULL) {
            log_entry_clear_proposal(e);
        }
    }
    uint64_t end = p1->report_end > first ? p1->report_end : first;
    assert(end - first <= LOG_SLOTS_MAX);
    p1->report_first = p1->report_end = 0;
    node->promised_mask = p1->complete_mask;
    node->next_slot = first;
    node->carry_end = end;
    node->noop_slot = 0;
    memset(node->member_chosen, 0, sizeof(node->member_chosen));
    node->member_heard = 0;
    /* Carries forward every reported slot (a no-op for a hole) as far as the window
     * reaches, then proposes a fresh no-op in our own ballot: lease reads wait until it is
     * chosen, so that every write chosen under an earlier ballot is applied before we read
     * alone. Slots beyond the window follow as the chosen prefix grows. */
    memset(node->heartbeats, 0, sizeof(node->heartbeats));
    node->quorum_heard_ms = node->now_ms;
    node->lease_until_ms = 0;
    node->lease_active = false;
    proposer_fill_window(node);
    /* Filling may already have ended this leadership: a node no voter of the next slot's
     * configuration steps down, one whose promisers are no majority of it prepares again
     * (ballot-sim --seed 54 --membership --nodes 1). */
    if (node->role == ROLE_LEADER) {
        lease_send_heartbeat(node);
    }
}

/* Keeps the highest-ballot value reported for a slot (carry forward). */
static void record_report(node_t *node, const msg_entry_t *entry)
{
    if (entry->slot <= node->chosen_upto || !log_reserve(&node->log, entry->slot)) {
        return;
    }
    log_entry_t *e = log_get(&node->log, entry->slot);
    phase1_t *p1 = &node->p1;
    if (entry->slot < p1->report_first) {
        p1->report_first = entry->slot;
    }
    if (entry->slot >= p1->report_end) {
        p1->report_end = entry->slot + 1;
    }
#ifdef BALLOT_PLANT_CARRY_NEWEST /* see tests/sim/CMakeLists.txt: the last report wins */
    if (e->chosen) {
        return;
    }
#else
    if (e->chosen || (e->reported && !ballot_less(e->report_ballot, entry->ballot))) {
        return;
    }
#endif
    value_t copy;
    if (!value_copy(&copy, &entry->value)) {
        return;
    }
    value_free(&e->proposal);
    e->proposal = copy;
    e->report_ballot = entry->ballot;
    e->reported = true;
}

static bool promise_fits(const node_t *node, const msg_promise_t *p)
{
    for (uint32_t i = 0; i < p->entry_count; i++) {
        uint64_t slot = p->entries[i].slot;
        if (slot > node->chosen_upto && !log_can_hold(&node->log, slot)) {
            return false;
        }
    }
    return true;
}

void proposer_on_promise(node_t *node, const msg_t *m)
{
    const msg_promise_t *p = &m->u.promise;
    phase1_t *p1 = &node->p1;
    election_observe(node, p->ballot);
    uint32_t bit = node_bit(m->from);
    if (node->role != ROLE_CANDIDATE || !ballot_equal(p->ballot, p1->ballot) ||
        (p1->complete_mask & bit) != 0 || p->from_slot != p1->part_from[m->from]) {
        return; /* stale, duplicate or out-of-order part */
    }
    if (!promise_fits(node, p)) {
        return; /* a report we cannot hold: not counting the promise is safe */
    }
    event_t ev = node_event(node, EVENT_PROMISE_RECEIVED, p->ballot);
    ev.peer = m->from;
    ev.slot_first = p->from_slot;
    ev.slot_last = p->entry_count > 0 ? p->entries[p->entry_count - 1].slot : 0;
    ev.command_count = p->entry_count;
    node_emit(node, &ev);
    for (uint32_t i = 0; i < p->entry_count; i++) {
        record_report(node, &p->entries[i]);
    }
    uint64_t compacted = p->log_first_slot > 0 ? p->log_first_slot - 1 : 0;
    if (compacted > p1->compacted_upto) {
        p1->compacted_upto = compacted;
        p1->compacted_holder = m->from;
    }
    if (p->next_slot != 0) {
        p1->part_from[m->from] = p->next_slot;
        send_prepare(node, m->from, p->next_slot);
        return;
    }
    p1->complete_mask |= bit;
    /* A majority of every configuration that governs a slot of the window (docs/design.md
     * "Membership change"). */
    if (node_window_quorum(node, p1->complete_mask)) {
        become_leader(node);
    }
}

static void fail_phase1(node_t *node, ballot_t winner)
{
    assert(node->role == ROLE_CANDIDATE);
    proposer_abandon(node);
    election_backoff(node, winner);
    assert(node->role == ROLE_FOLLOWER);
}

void proposer_on_reject(node_t *node, const msg_t *m)
{
    const msg_reject_t *r = &m->u.reject;
    election_observe(node, r->promised);
    event_t ev = node_event(node, EVENT_REJECT_RECEIVED, r->ballot);
    ev.peer = m->from;
    ev.other_ballot = r->promised;
    ev.reason = r->reason;
    ev.slot_first = ev.slot_last = r->slot;
    node_emit(node, &ev);
    if (node->role == ROLE_CANDIDATE && r->rejected_type == MSG_PREPARE &&
        ballot_equal(r->ballot, node->p1.ballot)) {
        node->p1.reject_mask |= node_bit(m->from);
        if (!node_window_quorum(node, ~node->p1.reject_mask)) {
            /* No majority is left to promise. A rejoining node's refusal names only the
             * promise it is rebuilding, not a live leader: follow nobody then. */
            fail_phase1(node, r->reason == REJECT_RECOVERING ? BALLOT_NONE : r->promised);
        }
        return;
    }
    if (node->role == ROLE_LEADER && ballot_equal(r->ballot, node->own_ballot) &&
        ballot_less(node->own_ballot, r->promised)) {
        election_step_down(node, STEP_DOWN_SUPERSEDED, r->promised, m->from);
        election_backoff(node, r->promised);
    }
}

void proposer_on_accepted(node_t *node, const msg_t *m)
{
    const msg_accepted_t *a = &m->u.accepted;
    if (node->role != ROLE_LEADER || !ballot_equal(a->ballot, node->own_ballot)) {
        return;
    }
    log_entry_t *e = log_get(&node->log, a->slot);
    if (e == NULL || !e->proposing) {
        return;
    }
    e->ack_mask |= node_bit(m->from);
    /* docs/design.md step 4: accepted by a majority (of the voters of the configuration
     * that governs the slot) at one ballot, so chosen. */
#ifdef BALLOT_PLANT_CONFIG_NEWEST_QUORUM /* see src/sim/README.md, planted bugs */
    const membership_t *newest = config_state_latest(&node->cs);
    membership_t proposed;
    const log_entry_t *pe = node->config_slot != 0 ? log_get(&node->log, node->config_slot) : NULL;
    if (pe != NULL && pe->proposing && pe->proposal.kind == VALUE_CONFIG &&
        membership_decode(&proposed, pe->proposal.bytes, pe->proposal.size)) {
        newest = &proposed;
    }
    uint32_t newest_voters = membership_voter_mask(newest);
    if (node_popcount(e->ack_mask & newest_voters) < node_popcount(newest_voters) / 2 + 1) {
        return;
    }
#else
    if (!node_slot_quorum(node, a->slot, e->ack_mask)) {
        return;
    }
#endif
    e->proposing = false;
    value_t chosen = e->proposal;
    e->proposal = value_noop();
    learner_choose(node, a->slot, &chosen, EVENT_CHOSEN, node->own_ballot);
    learner_advance(node);
}

/* Whether the leader may propose its next slot now (docs/design.md "Membership change"):
 * the slot lies within CONFIG_ALPHA of the chosen prefix, so its configuration is known;
 * this node is a voter of it (else it steps down); and the acceptors that promised its
 * ballot hold a majority of it, so phase 1 saw every value that configuration may have
 * chosen (else it runs phase 1 again, with a fresh ballot, over the new window). */
static bool leader_may_propose(node_t *node)
{
    uint64_t slot = node->next_slot;
    if (slot > node->chosen_upto + CONFIG_ALPHA || !log_reserve(&node->log, slot)) {
        return false;
    }
    const membership_t *m = config_state_for_slot(&node->cs, slot);
    if ((membership_voter_mask(m) & node_bit(node->cfg.id)) == 0) {
        election_step_down(node, STEP_DOWN_REMOVED, BALLOT_NONE, NODE_NONE);
        return false;
    }
#ifndef BALLOT_PLANT_CONFIG_NO_REPREPARE /* see tests/sim/CMakeLists.txt */
    if (!node_slot_quorum(node, slot, node->promised_mask)) {
        lease_void(node);
        proposer_abandon(node);
        node->role = ROLE_FOLLOWER;
        proposer_start_phase1(node, BALLOT_NONE);
        return false;
    }
#endif
    return true;
}

static void propose_value(node_t *node, value_t *value, event_t *ev)
{
    uint64_t slot = node->next_slot++;
    log_entry_t *e = log_get(&node->log, slot);
    assert(!e->chosen);
    assert(!e->proposing);
    log_entry_clear_proposal(e);
    e->proposal = *value;
    *value = value_noop();
    ev->slot_first = ev->slot_last = slot;
    node_emit(node, ev);
    propose(node, slot);
}

void proposer_fill_window(node_t *node)
{
    uint32_t window = node->cfg.window_slots;
    for (uint64_t round = 0; round < 2u * CONFIG_ALPHA + 2u; round++) {
        if (node->role != ROLE_LEADER || !leader_may_propose(node)) {
            return;
        }
        if (node->next_slot < node->carry_end) {
            carry_or_fill(node, node->next_slot);
            node->next_slot++;
            continue;
        }
        if (node->noop_slot == 0) {
            propose_own_noop(node);
            continue;
        }
        if (proposer_in_flight(node) >= window) {
            return;
        }
        event_t ev = node_event(node, EVENT_PROPOSED, node->own_ballot);
        value_t value;
        if (node->pending_count > 0) {
            if (!client_take_batch(node, &value, &ev)) {
                return;
            }
        } else if (node->cs.has_next && node->next_slot <= node->cs.next_from) {
            /* Brings the next configuration into effect: up to and including its first
             * slot, whose apply settles it on every replica, even on an idle cluster. */
            value = value_noop();
        } else {
            return;
        }
        propose_value(node, &value, &ev);
    }
}

int node_propose_config(node_t *node, const membership_t *next, uint64_t now_ms, char *why,
                        size_t why_bytes)
{
    if (node == NULL || next == NULL) {
        return BALLOT_EINVAL;
    }
    if (why != NULL && why_bytes > 0) {
        why[0] = '\0';
    }
    if (!node->started || node->role != ROLE_LEADER) {
        return BALLOT_ENOTLEADER;
    }
    node->now_ms = now_ms > node->now_ms ? now_ms : node->now_ms;
    /* One change at a time: the slot it lands in must lie where the previous change is
     * in effect (config_state_apply refuses it otherwise). */
    if (node->config_slot != 0 || (node->cs.has_next && node->next_slot < node->cs.next_from)) {
        if (why != NULL && why_bytes > 0) {
            snprintf(why, why_bytes, "an earlier membership change is not in effect yet");
        }
        return BALLOT_EBUSY;
    }
    const membership_t *now = config_state_latest(&node->cs);
    if (!membership_change_allowed(now, next, why, why_bytes)) {
        return BALLOT_EINVAL;
    }
    uint32_t promoted = membership_voter_mask(next) & ~membership_voter_mask(now);
    for (uint32_t id = 1; id <= NODES_MAX; id++) {
        if ((promoted & node_bit(id)) == 0 || id == node->cfg.id) {
            continue;
        }
        /* A new voter must hold the log first, or the cluster waits on it (and a voter
         * that never caught up could make a quorum that cannot serve). */
        uint64_t have = node->member_chosen[id];
        if (membership_find(now, id) == NULL || (node->member_heard & node_bit(id)) == 0 ||
            have + CONFIG_CATCHUP_SLOTS < node->chosen_upto) {
            if (why != NULL && why_bytes > 0) {
                snprintf(why, why_bytes,
                         "n%u is not a caught-up learner (it reported slot %llu, the leader "
                         "has %llu)",
                         id, (unsigned long long)have, (unsigned long long)node->chosen_upto);
            }
            return BALLOT_EAGAIN;
        }
    }
    if (node->next_slot < node->carry_end || node->noop_slot == 0 ||
        proposer_in_flight(node) >= node->cfg.window_slots ||
        node->next_slot > node->chosen_upto + CONFIG_ALPHA ||
        !log_reserve(&node->log, node->next_slot)) {
        if (why != NULL && why_bytes > 0) {
            snprintf(why, why_bytes, "the leader's window is full; retry");
        }
        return BALLOT_EBUSY;
    }
    value_t value;
    if (!membership_encode(&value, next)) {
        return BALLOT_ENOMEM;
    }
    event_t ev = node_event(node, EVENT_PROPOSED, node->own_ballot);
    node->config_slot = node->next_slot;
    propose_value(node, &value, &ev);
    node_settle(node);
    return BALLOT_OK;
}

static void phase1_tick(node_t *node)
{
    phase1_t *p1 = &node->p1;
    uint64_t round_ms = (uint64_t)PHASE1_RETRANSMITS * node->cfg.retransmit_ms;
    if (round_ms > node->cfg.election_timeout_min_ms) {
        round_ms = node->cfg.election_timeout_min_ms;
    }
    if (node->now_ms >= p1->started_ms + round_ms) {
        fail_phase1(node, BALLOT_NONE);
        return;
    }
    if (node->now_ms < p1->resend_ms) {
        return;
    }
    p1->resend_ms = node->now_ms + node->cfg.retransmit_ms;
    uint32_t members = node_member_mask(node);
    for (uint32_t id = 1; id <= NODES_MAX; id++) {
        uint32_t answered = p1->complete_mask | p1->reject_mask;
        if (id != node->cfg.id && (members & node_bit(id)) != 0 && (answered & node_bit(id)) == 0) {
            send_prepare(node, id, p1->part_from[id]);
        }
    }
}

static void retransmit_accepts(node_t *node)
{
    uint64_t due = FOREVER_MS;
    uint64_t retransmit = node->cfg.retransmit_ms;
    uint32_t all = node_member_mask(node);
    for (uint64_t slot = node->chosen_upto + 1; slot < node->next_slot; slot++) {
        log_entry_t *e = log_get(&node->log, slot);
        if (e == NULL || !e->proposing) {
            continue;
        }
        if (node->now_ms >= e->sent_ms + retransmit) {
            uint32_t missing = all & ~e->ack_mask;
            for (uint32_t id = 1; id <= NODES_MAX; id++) {
                if (id != node->cfg.id && (missing & node_bit(id)) != 0) {
                    send_accept(node, id, slot, e);
                }
            }
            e->sent_ms = node->now_ms;
        }
        if (e->sent_ms + retransmit < due) {
            due = e->sent_ms + retransmit;
        }
    }
    node->retransmit_due_ms = due;
}

void proposer_tick(node_t *node)
{
    if (node->role == ROLE_CANDIDATE) {
        phase1_tick(node);
    } else if (node->role == ROLE_LEADER && node->now_ms >= node->retransmit_due_ms) {
        retransmit_accepts(node);
    }
}

uint64_t proposer_deadline(const node_t *node)
{
    if (node->role == ROLE_CANDIDATE) {
        uint64_t round_ms = (uint64_t)PHASE1_RETRANSMITS * node->cfg.retransmit_ms;
        if (round_ms > node->cfg.election_timeout_min_ms) {
            round_ms = node->cfg.election_timeout_min_ms;
        }
        uint64_t end = node->p1.started_ms + round_ms;
        return node->p1.resend_ms < end ? node->p1.resend_ms : end;
    }
    if (node->role == ROLE_LEADER) {
        return node->retransmit_due_ms;
    }
    return FOREVER_MS;
}
