/* The learner (docs/design.md step 4): marks slots chosen, spreads and fetches the chosen
 * prefix, and hands chosen slots to the state machine strictly in slot order. */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

void learner_mark_chosen(node_t *node, uint64_t slot, event_kind_t why, ballot_t ballot)
{
    log_entry_t *e = log_get(&node->log, slot);
    assert(e != NULL);
    assert(!e->chosen);
    assert(e->has_learned || !ballot_is_none(e->accepted_ballot));
    e->chosen = true;
    event_t ev = node_event(node, why, ballot);
    ev.slot_first = ev.slot_last = slot;
    node_emit(node, &ev);
}

void learner_choose(node_t *node, uint64_t slot, value_t *value, event_kind_t why, ballot_t ballot)
{
    log_entry_t *e = log_get(&node->log, slot);
    assert(e != NULL);
    if (e->chosen) {
        /* Agreement: a slot never has two chosen values. */
        assert(value_equal(log_chosen_value(e), value));
        value_free(value);
        return;
    }
    bool held = !ballot_is_none(e->accepted_ballot) &&
                ((!ballot_is_none(ballot) && ballot_equal(e->accepted_ballot, ballot)) ||
                 value_equal(&e->value, value));
    if (held) {
        value_free(value); /* the ACCEPT record already holds it for recovery */
    } else {
        value_free(&e->learned);
        e->learned = *value;
        e->has_learned = true;
        *value = value_noop();
        /* Recovery needs the value: this node never accepted it. */
        outbox_persist(node, PERSIST_LEARN, BALLOT_NONE, slot, &e->learned);
    }
    learner_mark_chosen(node, slot, why, ballot);
}

void learner_advance(node_t *node)
{
    uint64_t before = node->chosen_upto;
    for (uint64_t steps = 0;; steps++) {
        assert(steps <= LOG_SLOTS_MAX);
        log_entry_t *e = log_get(&node->log, node->chosen_upto + 1);
        if (e == NULL || !e->chosen) {
            break;
        }
        node->chosen_upto++;
        if (config_state_apply(&node->cs, node->chosen_upto, log_chosen_value(e))) {
            node_config_advanced(node);
        }
        if (node->applied_upto < node->chosen_upto) {
            assert(node->applied_upto + 1 == node->chosen_upto);
            outbox_apply(node, node->chosen_upto, log_chosen_value(e));
            node->applied_upto = node->chosen_upto;
            /* A value learned from elsewhere was chosen at a ballot this node never saw. */
            ballot_t chosen_at = e->has_learned ? BALLOT_NONE : e->accepted_ballot;
            event_t ev = node_event(node, EVENT_APPLIED, chosen_at);
            ev.slot_first = ev.slot_last = node->chosen_upto;
            node_emit(node, &ev);
        }
    }
    if (node->chosen_upto > before) {
        node->learn_attempts = 0;
    }
    if (node->config_slot != 0 && node->config_slot <= node->chosen_upto) {
        node->config_slot = 0; /* chosen (and in effect or refused alike everywhere) */
    }
    assert(node->applied_upto == node->chosen_upto);
}

void learner_note_commit(node_t *node, uint64_t commit, uint32_t holder)
{
    if (commit > node->commit_seen) {
        node->commit_seen = commit;
        node->commit_source = holder;
    }
}

void learner_on_commit(node_t *node, ballot_t b, uint64_t commit, uint32_t from)
{
    if (from == node->cfg.id) {
        return;
    }
    learner_note_commit(node, commit, from);
    if (commit <= node->chosen_upto) {
        return;
    }
    uint64_t limit = commit;
    if (limit > node->chosen_upto + LEARN_SCAN_SLOTS_MAX) {
        limit = node->chosen_upto + LEARN_SCAN_SLOTS_MAX;
    }
    if (limit >= node->log.end_slot) {
        limit = node->log.end_slot - 1;
    }
    /* The leader of b proposes one value per slot, so what we accepted at b in a slot it
     * reports chosen is the chosen value. */
    for (uint64_t slot = node->chosen_upto + 1; slot <= limit; slot++) {
        log_entry_t *e = log_get(&node->log, slot);
        if (e != NULL && !e->chosen && ballot_equal(e->accepted_ballot, b)) {
            learner_mark_chosen(node, slot, EVENT_LEARNED, b);
        }
    }
    learner_advance(node);
    if (node->chosen_upto < commit) {
        learner_request(node, from, false);
    }
}

void learner_request(node_t *node, uint32_t to, bool force)
{
    if (to == NODE_NONE || to == node->cfg.id) {
        return;
    }
    if (!force && node->learn_requested &&
        node->now_ms < node->learn_request_ms + node->cfg.retransmit_ms) {
        return; /* at most one request per retransmit interval */
    }
    node->learn_requested = true;
    node->learn_request_ms = node->now_ms;
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_LEARN_REQUEST;
    m.to = to;
    m.u.learn_request.from_slot = node->chosen_upto + 1;
    outbox_post(node, &m, OUTBOX_NOW);
}

/* Fills l with chosen entries from `from`, within the part bounds. */
static bool learn_fill(const node_t *node, msg_learn_t *l, uint64_t from)
{
    uint64_t last = node->chosen_upto;
    if (last - from + 1 > MSG_ENTRIES_MAX) {
        last = from + MSG_ENTRIES_MAX - 1;
    }
    l->entries = calloc((size_t)(last - from + 1), sizeof(msg_entry_t));
    if (l->entries == NULL) {
        return false;
    }
    uint64_t bytes = 0;
    for (uint64_t slot = from; slot <= last; slot++) {
        const log_entry_t *e = log_get(&node->log, slot);
        assert(e != NULL && e->chosen);
        const value_t *v = log_chosen_value(e);
        if (l->entry_count > 0 && bytes + v->size > PART_BYTES_MAX) {
            break;
        }
        msg_entry_t *out = &l->entries[l->entry_count];
        if (!value_copy(&out->value, v)) {
            return false;
        }
        out->slot = slot;
        out->ballot = BALLOT_NONE;
        bytes += v->size;
        l->entry_count++;
    }
    return true;
}

void learner_send_snapshot_pointer(node_t *node, uint32_t to)
{
    assert(node->log.first_slot > 1);
    msg_t r;
    memset(&r, 0, sizeof(r));
    r.type = MSG_LEARN;
    r.to = to;
    r.u.learn.ballot = node->promised;
    r.u.learn.snapshot_slot = node->log.first_slot - 1;
    outbox_post(node, &r, OUTBOX_NOW);
}

void learner_on_learn_request(node_t *node, const msg_t *m)
{
    uint64_t from = m->u.learn_request.from_slot;
    if (from < node->log.first_slot) {
        /* Compacted: the asker needs our snapshot (docs/design.md step 8). */
        learner_send_snapshot_pointer(node, m->from);
        return;
    }
    msg_t r;
    memset(&r, 0, sizeof(r));
    r.type = MSG_LEARN;
    r.to = m->from;
    r.u.learn.ballot = node->promised;
    if (from > node->chosen_upto) {
        return;
    }
    if (!learn_fill(node, &r.u.learn, from)) {
        msg_free(&r);
        return;
    }
    outbox_post(node, &r, OUTBOX_NOW);
}

void learner_on_learn(node_t *node, const msg_t *m)
{
    const msg_learn_t *l = &m->u.learn;
    election_observe(node, l->ballot);
    if (l->entry_count == 0) {
        if (l->snapshot_slot > node->chosen_upto) {
            node->outbox.out.snapshot_wanted_slot = l->snapshot_slot;
            node->outbox.out.snapshot_wanted_from = m->from;
        }
        return;
    }
    uint64_t before = node->chosen_upto;
    for (uint32_t i = 0; i < l->entry_count; i++) {
        const msg_entry_t *entry = &l->entries[i];
        if (entry->slot <= node->chosen_upto || !log_reserve(&node->log, entry->slot)) {
            continue;
        }
        if (log_get(&node->log, entry->slot)->chosen) {
            continue;
        }
        value_t copy;
        if (!value_copy(&copy, &entry->value)) {
            break;
        }
        learner_choose(node, entry->slot, &copy, EVENT_LEARNED, BALLOT_NONE);
    }
    learner_advance(node);
    learner_note_commit(node, l->entries[l->entry_count - 1].slot, m->from);
    if (node->chosen_upto > before && node->commit_seen > node->chosen_upto) {
        learner_request(node, node->commit_source, true);
    }
}

/* Asks the node that told us of the commit first; if it stays silent (it may have
 * crashed), asks the others in turn: any node with the prefix can answer. */
void learner_tick(node_t *node)
{
    if (node->commit_seen <= node->chosen_upto || node->commit_source == NODE_NONE) {
        return;
    }
    if (node->learn_requested && node->now_ms < node->learn_request_ms + node->cfg.retransmit_ms) {
        return;
    }
    uint32_t members = node_member_mask(node) | node_bit(node->commit_source);
    uint32_t n = NODES_MAX;
    uint32_t to = node->commit_source;
    for (uint32_t step = 0; step < n; step++) {
        to = (node->commit_source - 1 + node->learn_attempts + step) % n + 1;
        if (to != node->cfg.id && (members & node_bit(to)) != 0) {
            break;
        }
    }
    node->learn_attempts = node->learn_attempts < n ? node->learn_attempts + 1 : 0;
    learner_request(node, to, false);
}

void learner_record_chosen(node_t *node)
{
    if (node->chosen_upto > node->chosen_recorded) {
        outbox_persist(node, PERSIST_CHOSEN, BALLOT_NONE, node->chosen_upto, NULL);
        node->chosen_recorded = node->chosen_upto;
    }
}
