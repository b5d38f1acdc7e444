/* The acceptor (docs/design.md steps 1 and 3; Paxos Made Simple §2.2): it promises, accepts,
 * and rejects with the ballot that beat the sender. Its promise never decreases and it
 * never accepts below it; what it promises or accepts is written to a persist record
 * before the answer may leave (outbox.c). */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

void acceptor_raise_promise(node_t *node, ballot_t b, bool persist)
{
    assert(ballot_less(node->promised, b));
    node->promised = b;
    election_observe(node, b);
    if (persist) {
        outbox_persist(node, PERSIST_PROMISE, b, 0, NULL);
        assert(!node->promise_unrecorded);
    } else {
        node->promise_unrecorded = true; /* until accept_store writes the ACCEPT record */
    }
    assert(ballot_equal(node->promised, b));
}

uint64_t acceptor_record_promise(node_t *node)
{
    if (node->promise_unrecorded) {
        /* The Accept that raised it wrote no record (out of memory): record it now. */
        outbox_persist(node, PERSIST_PROMISE, node->promised, 0, NULL);
    }
    assert(!node->promise_unrecorded);
    assert(node->promise_seq <= node->outbox.persist_seq);
    return node->promise_seq;
}

static void send_reject(node_t *node, const msg_t *m, ballot_t refused, uint64_t slot,
                        reject_reason_t reason)
{
    ballot_t winner = node->promised;
    if (reason != REJECT_PROMISED && ballot_less(winner, node->leader_ballot)) {
        winner = node->leader_ballot;
    }
    event_t ev = node_event(node, EVENT_REJECT_SENT, refused);
    ev.peer = m->from;
    ev.other_ballot = winner;
    ev.reason = reason;
    ev.slot_first = slot;
    ev.slot_last = slot;
    node_emit(node, &ev);
    msg_t r;
    memset(&r, 0, sizeof(r));
    r.type = MSG_REJECT;
    r.to = m->from;
    r.u.reject.rejected_type = m->type;
    r.u.reject.ballot = refused;
    r.u.reject.promised = winner;
    r.u.reject.slot = slot;
    r.u.reject.reason = reason;
    outbox_post(node, &r, OUTBOX_NOW);
}

bool acceptor_report(const node_t *node, msg_promise_t *p, uint64_t from_slot)
{
    const log_t *log = &node->log;
    p->from_slot = from_slot;
    p->next_slot = 0;
    p->chosen_upto = node->chosen_upto;
    p->log_first_slot = log->first_slot;
    p->entry_count = 0;
    p->entries = NULL;
    uint64_t start = from_slot > log->first_slot ? from_slot : log->first_slot;
    uint64_t end = node->highest_accepted_slot + 1;
    end = end < log->end_slot ? end : log->end_slot;
    if (start >= end) {
        return true;
    }
    uint64_t span = end - start;
    size_t room = span < MSG_ENTRIES_MAX ? (size_t)span : MSG_ENTRIES_MAX;
    p->entries = calloc(room, sizeof(msg_entry_t));
    if (p->entries == NULL) {
        return false;
    }
    uint64_t bytes = 0;
    for (uint64_t slot = start; slot < end; slot++) {
        const log_entry_t *e = log_get(log, slot);
        if (ballot_is_none(e->accepted_ballot)) {
            continue;
        }
        /* Bounded parts: the proposer asks again from next_slot (docs/core.md). */
        if (p->entry_count == room ||
            (p->entry_count > 0 && bytes + e->value.size > PART_BYTES_MAX)) {
            p->next_slot = slot;
            break;
        }
        msg_entry_t *out = &p->entries[p->entry_count];
        if (!value_copy(&out->value, &e->value)) {
            return false;
        }
        out->slot = slot;
        out->ballot = e->accepted_ballot;
        bytes += e->value.size;
        p->entry_count++;
    }
    assert(p->entry_count <= MSG_ENTRIES_MAX);
    return true;
}

static void send_promise(node_t *node, uint32_t to, ballot_t b, uint64_t from_slot)
{
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_PROMISE;
    m.to = to;
    m.u.promise.ballot = b;
    if (!acceptor_report(node, &m.u.promise, from_slot)) {
        msg_free(&m); /* out of memory: staying silent is always safe */
        return;
    }
    event_t ev = node_event(node, EVENT_PROMISE_SENT, b);
    ev.peer = to;
    ev.slot_first = from_slot;
    ev.slot_last = m.u.promise.next_slot;
    ev.command_count = m.u.promise.entry_count;
    node_emit(node, &ev);
    /* The Promise leaves only after the record of the promise and those of every entry it
     * reports are durable: the newest acceptor record covers them all. */
    uint64_t after = acceptor_record_promise(node);
    if (node->outbox.acceptor_seq > after) {
        after = node->outbox.acceptor_seq;
    }
    outbox_post(node, &m, after);
}

/* Why a Prepare above the promise is refused, or 0. A leader that handed over (TIMEOUT_NOW)
 * names its ballot in waived_ballot, which sets aside the lease and liveness held for it. */
static reject_reason_t prepare_refusal(const node_t *node, const msg_prepare_t *p, uint32_t from)
{
    uint64_t now = node->now_ms;
    if (now < node->refuse_prepare_until_ms) {
        return REJECT_RECOVERING;
    }
    bool waived = !ballot_is_none(p->waived_ballot);
    if (now < node->lease_grant_until_ms && node->lease_grant_ballot.node != from &&
        !(waived && ballot_equal(p->waived_ballot, node->lease_grant_ballot))) {
        return REJECT_LEASE; /* docs/design.md step 6: no promise while a lease we granted runs */
    }
    ballot_t heard = node->heard_leader_ballot;
    if (!ballot_is_none(heard) && heard.node != from &&
        now < node->leader_heard_ms + node->cfg.election_timeout_min_ms &&
        !(waived && ballot_equal(p->waived_ballot, heard))) {
        return REJECT_LEADER_ALIVE; /* docs/design.md step 5: a live leader keeps its followers */
    }
    return 0;
}

void acceptor_on_prepare(node_t *node, const msg_t *m)
{
    const msg_prepare_t *p = &m->u.prepare;
    election_observe(node, p->ballot);
    event_t ev = node_event(node, EVENT_PREPARE_RECEIVED, p->ballot);
    ev.peer = m->from;
    ev.slot_first = p->from_slot;
    node_emit(node, &ev);
    if (node->rejoining) {
        send_reject(node, m, p->ballot, 0, REJECT_RECOVERING);
        return;
    }
    /* A node that is a voter of no configuration this node knows (removed, or never one)
     * gets no promise: it cannot lead, and a promise to its ballot would only refuse the
     * real leader's Accepts. Silence is safe (a lost message); a voter this node does not
     * know of yet finds it again once this node has learned the newer configuration. */
    uint32_t voters = membership_voter_mask(&node->cs.current) |
                      (node->cs.has_next ? membership_voter_mask(&node->cs.next) : 0u);
    if (node->cs.current.count > 0 && (voters & node_bit(m->from)) == 0) {
        return;
    }
    int order = ballot_compare(p->ballot, node->promised);
    if (order < 0) {
        send_reject(node, m, p->ballot, 0, REJECT_PROMISED);
        return;
    }
    if (order > 0) {
        reject_reason_t reason = prepare_refusal(node, p, m->from);
        if (reason != 0) {
            if (reason != REJECT_RECOVERING) {
                ev.kind = EVENT_LEASE_REFUSED;
                /* The ballot that stands in the way: the lease's, or the live leader's. */
                ev.other_ballot = reason == REJECT_LEADER_ALIVE ? node->heard_leader_ballot
                                                                : node->lease_grant_ballot;
                ev.reason = reason;
                node_emit(node, &ev);
            }
            send_reject(node, m, p->ballot, 0, reason);
            return;
        }
        acceptor_raise_promise(node, p->ballot, true);
        if (node->role != ROLE_FOLLOWER && ballot_less(node->own_ballot, p->ballot)) {
            election_step_down(node, STEP_DOWN_SUPERSEDED, p->ballot, m->from);
        }
    }
    assert(ballot_equal(node->promised, p->ballot));
    send_promise(node, m->from, p->ballot, p->from_slot);
}

/* Stores (b, value) as accepted at slot and writes the ACCEPT record; false when out of
 * memory (then nothing changed). */
static bool accept_store(node_t *node, log_entry_t *e, uint64_t slot, ballot_t b,
                         const value_t *value)
{
    value_t copy;
    if (!value_copy(&copy, value)) {
        return false;
    }
    value_free(&e->value);
    e->value = copy;
    e->accepted_ballot = b;
    if (slot > node->highest_accepted_slot) {
        node->highest_accepted_slot = slot;
    }
    e->accept_seq = outbox_persist(node, PERSIST_ACCEPT, b, slot, &e->value);
    if (node->promise_unrecorded && ballot_equal(node->promised, b)) {
        /* This record implies the promise the Accept raised (docs/core.md). */
        node->promise_seq = e->accept_seq;
        node->promise_unrecorded = false;
    }
    return true;
}

static void send_accepted(node_t *node, uint32_t to, ballot_t b, uint64_t slot, uint64_t accept_seq)
{
    event_t ev = node_event(node, EVENT_ACCEPTED, b);
    ev.peer = to;
    ev.slot_first = slot;
    ev.slot_last = slot;
    node_emit(node, &ev);
    msg_t r;
    memset(&r, 0, sizeof(r));
    r.type = MSG_ACCEPTED;
    r.to = to;
    r.u.accepted.ballot = b;
    r.u.accepted.slot = slot;
    /* Accepted leaves only after the slot's ACCEPT record (and the promise, which precedes
     * or is implied by it) is durable. */
    uint64_t after = acceptor_record_promise(node);
    if (accept_seq > after) {
        after = accept_seq;
    }
    outbox_post(node, &r, after);
}

void acceptor_on_accept(node_t *node, const msg_t *m)
{
    const msg_accept_t *a = &m->u.accept;
    election_observe(node, a->ballot);
    if (node->rejoining) {
        send_reject(node, m, a->ballot, a->slot, REJECT_RECOVERING);
        return;
    }
#ifndef BALLOT_PLANT_ACCEPT_BELOW_PROMISE /* see tests/sim/CMakeLists.txt */
    if (ballot_less(a->ballot, node->promised)) {
        send_reject(node, m, a->ballot, a->slot, REJECT_PROMISED);
        return;
    }
#endif
    if (a->slot < node->log.first_slot) {
        /* Compacted, so chosen: silence would look like loss, and a leader that needs this
         * node's answer for the slot would resend it forever (ballot-sim --seed 605838
         * --snapshots). Point it at the snapshot instead (docs/core.md "Compaction"). */
        learner_send_snapshot_pointer(node, m->from);
        return;
    }
    if (!log_reserve(&node->log, a->slot)) {
        return; /* beyond the log bound: the sender retransmits once we compacted */
    }
    log_entry_t *e = log_get(&node->log, a->slot);
    if (e->chosen && !value_equal(log_chosen_value(e), &a->value)) {
        /* Only a proposal from a ballot below the one that chose this slot can differ from
         * the chosen value (Paxos Made Simple §2.2, P2c); staying silent is safe. */
        return;
    }
    if (ballot_less(node->promised, a->ballot)) {
        /* The ACCEPT record implies this promise on recovery. */
        acceptor_raise_promise(node, a->ballot, false);
    }
    if (!ballot_equal(e->accepted_ballot, a->ballot) &&
        !accept_store(node, e, a->slot, a->ballot, &a->value)) {
        return;
    }
    assert(ballot_equal(e->accepted_ballot, a->ballot));
#ifndef BALLOT_PLANT_ACCEPT_BELOW_PROMISE
    assert(!ballot_less(node->promised, e->accepted_ballot));
#endif
    uint64_t accept_seq = e->accept_seq;
    if (m->from != node->cfg.id) {
        election_follow(node, a->ballot);
    }
    send_accepted(node, m->from, a->ballot, a->slot, accept_seq);
    learner_on_commit(node, a->ballot, a->commit, m->from);
}

static void send_heartbeat_ack(node_t *node, const msg_t *m)
{
    msg_t r;
    memset(&r, 0, sizeof(r));
    r.type = MSG_HEARTBEAT_ACK;
    r.to = m->from;
    r.u.heartbeat_ack.ballot = m->u.heartbeat.ballot;
    r.u.heartbeat_ack.heartbeat_id = m->u.heartbeat.heartbeat_id;
    r.u.heartbeat_ack.chosen_upto = node->chosen_upto;
    /* The ack stands for promised >= ballot, which must be durable; nothing else (a CHOSEN
     * or LEARN record, another slot's ACCEPT) holds it back. */
    outbox_post(node, &r, acceptor_record_promise(node));
}

void acceptor_on_heartbeat(node_t *node, const msg_t *m)
{
    const msg_heartbeat_t *h = &m->u.heartbeat;
    election_observe(node, h->ballot);
    if (node->rejoining) {
        /* Not an acceptor yet, but it still learns what is chosen and who leads. */
        node->leader = m->from;
        node->leader_ballot = h->ballot;
        learner_note_commit(node, h->commit, m->from);
        send_reject(node, m, h->ballot, 0, REJECT_RECOVERING);
        return;
    }
    if (ballot_less(h->ballot, node->promised)) {
        send_reject(node, m, h->ballot, 0, REJECT_PROMISED);
        return;
    }
    if (ballot_less(node->promised, h->ballot)) {
        acceptor_raise_promise(node, h->ballot, true);
    }
    /* docs/design.md step 6: answering the heartbeat grants a lease of lease_ms on our clock. */
    node->lease_grant_ballot = h->ballot;
    node->lease_grant_until_ms = node->now_ms + node->cfg.lease_ms;
    event_t ev = node_event(node, EVENT_LEASE_GRANTED, h->ballot);
    ev.peer = m->from;
    ev.until_ms = node->lease_grant_until_ms;
    node_emit(node, &ev);
    election_follow(node, h->ballot);
    learner_on_commit(node, h->ballot, h->commit, m->from);
    send_heartbeat_ack(node, m);
}

void acceptor_on_rejoin(node_t *node, const msg_t *m)
{
    if (node->rejoining) {
        return; /* it has no acceptor state worth reading */
    }
    msg_t r;
    memset(&r, 0, sizeof(r));
    r.type = MSG_REJOIN_REPLY;
    r.to = m->from;
    r.u.rejoin_reply.ballot = node->promised;
    if (!acceptor_report(node, &r.u.rejoin_reply, m->u.rejoin.from_slot)) {
        msg_free(&r);
        return;
    }
    /* Rare: it simply waits for every record written so far. */
    outbox_post(node, &r, node->outbox.persist_seq);
}
