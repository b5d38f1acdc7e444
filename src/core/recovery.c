/* Start, recovery from durable records, compaction and snapshots (docs/design.md step 8). */
#include <string.h>

#include "core/internal.h"

static bool record_value_valid(const persist_record_t *r)
{
    return value_valid(&r->value);
}

static int recover_accept(node_t *node, const persist_record_t *r)
{
    if (r->slot == 0 || ballot_is_none(r->ballot) || !record_value_valid(r)) {
        return BALLOT_ECORRUPT;
    }
    /* An accept implies the promise of its ballot, also when its slot is inside the
     * snapshot: a leader may have written no PROMISE record of its own ballot, only
     * ACCEPTs (ballot-sim --seed 87 --snapshots). */
    if (ballot_less(node->promised, r->ballot)) {
        node->promised = r->ballot;
    }
    if (r->slot < node->log.first_slot) {
        return BALLOT_OK; /* inside the snapshot */
    }
    if (!log_reserve(&node->log, r->slot)) {
        return BALLOT_ENOMEM;
    }
    log_entry_t *e = log_get(&node->log, r->slot);
    value_t copy;
    if (!value_copy(&copy, &r->value)) {
        return BALLOT_ENOMEM;
    }
    value_free(&e->value);
    e->value = copy;
    e->accepted_ballot = r->ballot;
    if (r->slot > node->highest_accepted_slot) {
        node->highest_accepted_slot = r->slot;
    }
    return BALLOT_OK;
}

static int recover_learn(node_t *node, const persist_record_t *r)
{
    if (r->slot == 0 || !record_value_valid(r)) {
        return BALLOT_ECORRUPT;
    }
    if (r->slot < node->log.first_slot) {
        return BALLOT_OK;
    }
    if (!log_reserve(&node->log, r->slot)) {
        return BALLOT_ENOMEM;
    }
    log_entry_t *e = log_get(&node->log, r->slot);
    value_t copy;
    if (!value_copy(&copy, &r->value)) {
        return BALLOT_ENOMEM;
    }
    value_free(&e->learned);
    e->learned = copy;
    e->has_learned = true;
    e->chosen = true;
    return BALLOT_OK;
}

int node_recover(node_t *node, const persist_record_t *r)
{
    if (node == NULL || r == NULL) {
        return BALLOT_EINVAL;
    }
    if (node->started) {
        return BALLOT_ESTATE;
    }
    if (r->ballot.node > NODES_MAX || (r->ballot.node == 0) != (r->ballot.round == 0)) {
        return BALLOT_ECORRUPT;
    }
    /* No node writes a round or slot above these bounds (docs/security.md "Bounds on input
     * and memory"): such a record is damage, not state to act on. */
    if (r->ballot.round > BALLOT_ROUND_MAX || r->slot > SLOT_MAX) {
        return BALLOT_ECORRUPT;
    }
    int rc = BALLOT_OK;
    switch (r->kind) {
    case PERSIST_PROMISE:
        if (ballot_is_none(r->ballot)) {
            return BALLOT_ECORRUPT;
        }
#ifndef BALLOT_PLANT_FORGET_PROMISE /* see tests/sim/CMakeLists.txt */
        if (ballot_less(node->promised, r->ballot)) {
            node->promised = r->ballot; /* the promise never decreases, across restarts too */
        }
#endif
        break;
    case PERSIST_ACCEPT:
        rc = recover_accept(node, r);
        break;
    case PERSIST_LEARN:
        rc = recover_learn(node, r);
        break;
    case PERSIST_CHOSEN:
        if (r->slot > node->recovered_chosen) {
            node->recovered_chosen = r->slot;
        }
        break;
    default:
        return BALLOT_ECORRUPT;
    }
    election_observe(node, node->promised);
    return rc;
}

/* The configuration state at a snapshot's slot: the one stored with it, else the one this
 * node started with (a snapshot written before membership change existed). */
static void adopt_config_state(node_t *node, uint64_t slot, const config_state_t *cs)
{
    if (cs != NULL && cs->applied_slot <= slot) {
        node->cs = *cs; /* a driver may feed it only CONFIG values: it settles lazily */
        node->cs.applied_slot = slot;
    } else {
        node->cs.applied_slot = slot;
    }
}

void node_recover_snapshot(node_t *node, uint64_t slot, const config_state_t *cs)
{
    if (node == NULL || node->started || slot <= node->chosen_upto) {
        return;
    }
    adopt_config_state(node, slot, cs);
    log_truncate_prefix(&node->log, slot);
    node->chosen_upto = node->applied_upto = node->chosen_recorded = slot;
    if (node->recovered_chosen < slot) {
        node->recovered_chosen = slot;
    }
}

/* Every slot up to the last CHOSEN record is chosen with the value stored for it. */
static void mark_recovered_chosen(node_t *node)
{
    for (uint64_t slot = node->chosen_upto + 1; slot <= node->recovered_chosen; slot++) {
        log_entry_t *e = log_get(&node->log, slot);
        if (e == NULL || (!e->has_learned && ballot_is_none(e->accepted_ballot))) {
            break; /* a record is missing: relearn from here */
        }
        e->chosen = true;
    }
    learner_advance(node);
    node->chosen_recorded = node->chosen_upto;
}

void node_start(node_t *node, uint64_t now_ms, bool rejoin)
{
    assert(node != NULL);
    assert(!node->started);
    node->started = true;
    node->now_ms = now_ms;
    node->highest_seen = node->promised;
    /* Election timeouts measure silence from the start, not from clock zero; no leader is
     * named, so this refuses no Prepare (acceptor.c prepare_refusal). */
    node->leader_heard_ms = now_ms;
    mark_recovered_chosen(node);
    if (rejoin) {
        rejoin_begin(node);
    } else if (!ballot_is_none(node->promised) && !node_alone(node)) {
        /* It may have granted a lease before the restart and forgotten it (Chubby §2.9). */
        node->refuse_prepare_until_ms = now_ms + node->cfg.lease_ms;
    }
    if (rejoin || !ballot_is_none(node->promised)) {
        event_t ev = node_event(node, EVENT_RECOVERED, node->promised);
        ev.slot_first = node->chosen_upto;
        ev.slot_last = node->highest_accepted_slot;
        node_emit(node, &ev);
    }
    election_reset_timer(node);
    if (node_alone(node) && !rejoin) {
        proposer_start_phase1(node, BALLOT_NONE);
    }
    node_settle(node);
}

void node_compact(node_t *node, uint64_t slot)
{
    if (node == NULL) {
        return;
    }
    if (slot > node->applied_upto) {
        slot = node->applied_upto;
    }
    log_truncate_prefix(&node->log, slot);
    assert(node->log.first_slot > slot);
}

void node_snapshot_installed(node_t *node, uint64_t slot, const config_state_t *cs, uint64_t now_ms)
{
    if (node == NULL || slot <= node->chosen_upto) {
        return;
    }
    adopt_config_state(node, slot, cs);
    node->now_ms = now_ms > node->now_ms ? now_ms : node->now_ms;
    log_truncate_prefix(&node->log, slot);
    node->chosen_upto = node->applied_upto = node->chosen_recorded = slot;
    if (node->role == ROLE_LEADER && node->next_slot <= slot) {
        node->next_slot = slot + 1;
    }
    learner_advance(node);
    node_settle(node);
}
