/* A node that lost its disk (docs/core.md "Recovery"; Paxos Made
 * Live §5.1). It may have promised or accepted before the loss, so it must not vote again
 * until (1) every phase 1 that could have counted its lost promise has finished or been
 * abandoned, and (2) it has read the acceptor state of a majority of the other nodes: any
 * quorum that counted its lost vote has floor(n/2) other members, and a majority of the
 * other n-1 intersects them, so it learns a promise at least as high as any it made to a
 * phase 1 that completed and, per slot, a highest-ballot value equal to any chosen one. */
#include <string.h>

#include "core/internal.h"

void rejoin_begin(node_t *node)
{
    node->rejoining = true;
    memset(&node->rejoin, 0, sizeof(node->rejoin));
    uint64_t wait = 2u * (uint64_t)node->cfg.election_timeout_max_ms +
                    (uint64_t)PHASE1_RETRANSMITS * node->cfg.retransmit_ms;
    node->rejoin.wait_until_ms = node->now_ms + wait;
}

/* A majority of the others among the voters of `m` (a lone voter has nobody to ask). */
static bool others_quorum(const node_t *node, const membership_t *m, uint32_t mask)
{
    uint32_t others = membership_voter_mask(m) & ~node_bit(node->cfg.id);
    return others == 0 || node_popcount(mask & others) >= node_popcount(others) / 2u + 1u;
}

/* For every configuration of the window (docs/design.md "Membership change"). The window
 * is that of the chosen prefix this node has learned, which rejoin_progress first brings up
 * to the highest any replier knows: a newer configuration then asks more nodes. */
static bool rejoin_quorum(const node_t *node, uint32_t mask)
{
    /* Never alone: a node that lost its disk cannot tell a lone voter's cluster from one
     * that grew since it was founded (ballot-sim --seed 27 --membership); with nobody to
     * ask, its data is gone and it stays out of every quorum. */
    if ((mask & ~node_bit(node->cfg.id)) == 0) {
        return false;
    }
    return others_quorum(node, config_state_for_slot(&node->cs, node->chosen_upto + 1), mask) &&
           (!node->cs.has_next || others_quorum(node, &node->cs.next, mask));
}

static void send_rejoin(node_t *node, uint32_t to, uint64_t from_slot)
{
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_REJOIN;
    m.to = to;
    m.u.rejoin.from_slot = from_slot;
    outbox_post(node, &m, OUTBOX_NOW);
}

void rejoin_progress(node_t *node)
{
    rejoin_t *rj = &node->rejoin;
    if (!node->rejoining || !rj->asking || !rejoin_quorum(node, rj->complete_mask)) {
        return;
    }
    if (node->chosen_upto < rj->max_chosen_upto) {
        /* Slots a replier knows chosen (and may have compacted) are learned first, so this
         * node never reports them open. */
        learner_note_commit(node, rj->max_chosen_upto, rj->chosen_holder);
        learner_request(node, rj->chosen_holder, false);
        return;
    }
    if (!ballot_is_none(node->promised)) {
        outbox_persist(node, PERSIST_PROMISE, node->promised, 0, NULL);
    }
    node->rejoining = false;
    event_t ev = node_event(node, EVENT_RECOVERED, node->promised);
    ev.slot_first = node->chosen_upto;
    node_emit(node, &ev);
    election_reset_timer(node);
}

/* Adopts a reported accepted entry when its ballot beats what this node holds. */
static void adopt_entry(node_t *node, const msg_entry_t *entry)
{
    if (!log_reserve(&node->log, entry->slot)) {
        return;
    }
    log_entry_t *e = log_get(&node->log, entry->slot);
    if (!ballot_less(e->accepted_ballot, entry->ballot)) {
        return;
    }
    if (e->chosen && !value_equal(log_chosen_value(e), &entry->value)) {
        return; /* below the ballot that chose it (as in acceptor_on_accept) */
    }
    value_t copy;
    if (!value_copy(&copy, &entry->value)) {
        return;
    }
    value_free(&e->value);
    e->value = copy;
    e->accepted_ballot = entry->ballot;
    if (entry->slot > node->highest_accepted_slot) {
        node->highest_accepted_slot = entry->slot;
    }
    if (ballot_less(node->promised, entry->ballot)) {
        node->promised = entry->ballot;
    }
    e->accept_seq = outbox_persist(node, PERSIST_ACCEPT, entry->ballot, entry->slot, &e->value);
}

void rejoin_on_reply(node_t *node, const msg_t *m)
{
    const msg_promise_t *p = &m->u.rejoin_reply;
    rejoin_t *rj = &node->rejoin;
    uint32_t bit = node_bit(m->from);
    if (!node->rejoining || !rj->asking || (rj->complete_mask & bit) != 0 ||
        p->from_slot != rj->part_from[m->from]) {
        return;
    }
    election_observe(node, p->ballot);
    if (ballot_less(node->promised, p->ballot)) {
        node->promised = p->ballot; /* persisted when the rejoin completes */
    }
    for (uint32_t i = 0; i < p->entry_count; i++) {
        adopt_entry(node, &p->entries[i]);
    }
    if (p->chosen_upto > rj->max_chosen_upto) {
        rj->max_chosen_upto = p->chosen_upto;
        rj->chosen_holder = m->from;
    }
    if (p->next_slot != 0) {
        rj->part_from[m->from] = p->next_slot;
        send_rejoin(node, m->from, p->next_slot);
        return;
    }
    rj->complete_mask |= bit;
    rejoin_progress(node);
}

void rejoin_tick(node_t *node)
{
    rejoin_t *rj = &node->rejoin;
    if (!node->rejoining || node->now_ms < rj->wait_until_ms) {
        return;
    }
    if (!rj->asking) {
        rj->asking = true;
        for (uint32_t id = 1; id <= NODES_MAX; id++) {
            rj->part_from[id] = node->log.first_slot;
        }
        rj->resend_ms = node->now_ms; /* ask at once below */
    }
    if (node->now_ms >= rj->resend_ms) {
        rj->resend_ms = node->now_ms + node->cfg.retransmit_ms;
        uint32_t members = node_member_mask(node) | (node->cfg.peer_mask & ~1u);
        for (uint32_t id = 1; id <= NODES_MAX; id++) {
            if (id != node->cfg.id && (members & node_bit(id)) != 0 &&
                (rj->complete_mask & node_bit(id)) == 0) {
                send_rejoin(node, id, rj->part_from[id]);
            }
        }
    }
    rejoin_progress(node);
}

uint64_t rejoin_deadline(const node_t *node)
{
    if (!node->rejoining) {
        return FOREVER_MS;
    }
    return node->rejoin.asking ? node->rejoin.resend_ms : node->rejoin.wait_until_ms;
}
