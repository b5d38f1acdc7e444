/* The garbage sender (--garbage P): on each fault tick, with probability P, a malformed or
 * out-of-range message is handed to a random live node, which must refuse it and change
 * nothing (docs/security.md "Bounds on input and memory").
 *
 * What it sends is what an authenticated link still lets through from a broken or
 * misconfigured sender: messages with a defect a node can see. Each starts from a
 * plausible message of a random type and gets one defect: a sender or addressee that is
 * not a member, a round above BALLOT_ROUND_MAX, a slot above SLOT_MAX, a broken batch, an
 * unknown type, too many entries, a ballot naming a node outside the cluster, a Forward
 * past COMMAND_SEQUENCE_MAX. Well-formed messages forged in a real member's name are out
 * of the model: Paxos tolerates crashes, not lies, and such messages can break agreement
 * by design (peer authentication keeps them out; docs/security.md).
 *
 * Its draws come from a stream of its own, and a refused message changes nothing, so a
 * seed runs the same with and without it: only the refusals differ. An accepted garbage
 * message is a violation ("garbage refused"). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

typedef enum defect {
    DEFECT_SENDER = 0,
    DEFECT_ADDRESSEE,
    DEFECT_ROUND,
    DEFECT_SLOT,
    DEFECT_VALUE,
    DEFECT_TYPE,
    DEFECT_ENTRIES,
    DEFECT_BALLOT_NODE,
    DEFECT_SEQUENCE,
    DEFECT_COUNT,
} defect_t;

static uint64_t small(prng_t *r)
{
    return prng_range(r, 1, 64);
}

static ballot_t some_ballot(prng_t *r, uint32_t n)
{
    return (ballot_t){.round = small(r), .node = (uint32_t)prng_range(r, 1, n)};
}

/* A one-command batch of a few random bytes. */
static value_t some_value(prng_t *r)
{
    uint8_t bytes[8];
    for (size_t i = 0; i < sizeof(bytes); i++) {
        bytes[i] = (uint8_t)prng_below(r, 256);
    }
    command_t c = {.client_id = prng_range(r, 1, 4), .sequence = small(r), .size = 8};
    c.bytes = bytes;
    value_t v = value_noop();
    if (!batch_encode(&v, &c, 1)) {
        return value_noop();
    }
    return v;
}

static msg_entry_t *some_entries(prng_t *r, uint32_t n, uint32_t count, bool ballots)
{
    msg_entry_t *e = calloc(count, sizeof(*e));
    if (e == NULL) {
        return NULL;
    }
    uint64_t slot = small(r);
    for (uint32_t i = 0; i < count; i++) {
        e[i].slot = slot + i;
        e[i].ballot = ballots ? some_ballot(r, n) : BALLOT_NONE;
        e[i].value = some_value(r);
    }
    return e;
}

/* A plausible message of a random type from `from` to `to`. */
static void plausible(prng_t *r, msg_t *m, uint32_t n)
{
    m->type = (msg_type_t)prng_range(r, MSG_TYPE_MIN, MSG_TYPE_MAX);
    ballot_t b = some_ballot(r, n);
    switch (m->type) {
    case MSG_PREPARE:
        m->u.prepare = (msg_prepare_t){.ballot = b, .from_slot = small(r)};
        break;
    case MSG_PROMISE:
    case MSG_REJOIN_REPLY:
        m->u.promise.ballot = b;
        m->u.promise.from_slot = 1;
        m->u.promise.log_first_slot = 1;
        m->u.promise.entry_count = (uint32_t)prng_range(r, 1, 3);
        m->u.promise.entries = some_entries(r, n, m->u.promise.entry_count, true);
        if (m->u.promise.entries == NULL) {
            m->u.promise.entry_count = 0;
        }
        break;
    case MSG_ACCEPT:
        m->u.accept = (msg_accept_t){.ballot = b, .slot = small(r), .commit = small(r)};
        m->u.accept.value = some_value(r);
        break;
    case MSG_ACCEPTED:
        m->u.accepted = (msg_accepted_t){.ballot = b, .slot = small(r)};
        break;
    case MSG_REJECT:
        m->u.reject = (msg_reject_t){.rejected_type = MSG_ACCEPT,
                                     .ballot = b,
                                     .promised = some_ballot(r, n),
                                     .slot = small(r),
                                     .reason = REJECT_PROMISED};
        break;
    case MSG_HEARTBEAT:
        m->u.heartbeat = (msg_heartbeat_t){.ballot = b, .commit = small(r), .heartbeat_id = 1};
        break;
    case MSG_HEARTBEAT_ACK:
        m->u.heartbeat_ack = (msg_heartbeat_ack_t){.ballot = b, .heartbeat_id = small(r)};
        break;
    case MSG_LEARN_REQUEST:
        m->u.learn_request.from_slot = small(r);
        break;
    case MSG_LEARN:
        m->u.learn.ballot = b;
        m->u.learn.entry_count = (uint32_t)prng_range(r, 1, 3);
        m->u.learn.entries = some_entries(r, n, m->u.learn.entry_count, false);
        if (m->u.learn.entries == NULL) {
            m->u.learn.entry_count = 0;
        }
        break;
    case MSG_FORWARD:
        m->u.forward = (msg_forward_t){.client_id = prng_range(r, 1, 4), .sequence = small(r)};
        m->u.forward.payload = (value_t){.kind = VALUE_BATCH, .size = 0, .bytes = NULL};
        break;
    case MSG_FORWARD_REPLY:
        m->u.forward_reply = (msg_forward_reply_t){
            .client_id = 1, .sequence = small(r), .status = FORWARD_BUSY, .leader = NODE_NONE};
        break;
    case MSG_READ_INDEX:
        m->u.read_index.read_id = small(r);
        break;
    case MSG_READ_INDEX_REPLY:
        m->u.read_index_reply = (msg_read_index_reply_t){.read_id = small(r), .ok = false};
        break;
    case MSG_TIMEOUT_NOW:
        m->u.timeout_now.ballot = b;
        break;
    case MSG_REJOIN:
        m->u.rejoin.from_slot = small(r);
        break;
    }
}

/* The message's own ballot, or NULL for types without one. */
static ballot_t *main_ballot(msg_t *m)
{
    switch (m->type) {
    case MSG_PREPARE:
        return &m->u.prepare.ballot;
    case MSG_PROMISE:
    case MSG_REJOIN_REPLY:
        return &m->u.promise.ballot;
    case MSG_ACCEPT:
        return &m->u.accept.ballot;
    case MSG_ACCEPTED:
        return &m->u.accepted.ballot;
    case MSG_REJECT:
        return &m->u.reject.ballot;
    case MSG_HEARTBEAT:
        return &m->u.heartbeat.ballot;
    case MSG_HEARTBEAT_ACK:
        return &m->u.heartbeat_ack.ballot;
    case MSG_TIMEOUT_NOW:
        return &m->u.timeout_now.ballot;
    default:
        return NULL;
    }
}

/* The message's first slot-like field, or NULL. */
static uint64_t *main_slot(msg_t *m)
{
    switch (m->type) {
    case MSG_PREPARE:
        return &m->u.prepare.from_slot;
    case MSG_PROMISE:
    case MSG_REJOIN_REPLY:
        return &m->u.promise.chosen_upto;
    case MSG_ACCEPT:
        return &m->u.accept.slot;
    case MSG_ACCEPTED:
        return &m->u.accepted.slot;
    case MSG_REJECT:
        return &m->u.reject.slot;
    case MSG_HEARTBEAT:
        return &m->u.heartbeat.commit;
    case MSG_HEARTBEAT_ACK:
        return &m->u.heartbeat_ack.chosen_upto;
    case MSG_LEARN_REQUEST:
        return &m->u.learn_request.from_slot;
    case MSG_LEARN:
        return m->u.learn.entry_count > 0 ? &m->u.learn.entries[0].slot : NULL;
    case MSG_REJOIN:
        return &m->u.rejoin.from_slot;
    default:
        return NULL;
    }
}

static value_t *main_value(msg_t *m)
{
    switch (m->type) {
    case MSG_ACCEPT:
        return &m->u.accept.value;
    case MSG_LEARN:
        return m->u.learn.entry_count > 0 ? &m->u.learn.entries[0].value : NULL;
    case MSG_PROMISE:
    case MSG_REJOIN_REPLY:
        return m->u.promise.entry_count > 0 ? &m->u.promise.entries[0].value : NULL;
    default:
        return NULL;
    }
}

static uint64_t huge(prng_t *r, uint64_t above)
{
    return prng_chance(r, 0.5) ? UINT64_MAX - prng_below(r, 4) : above + 1 + prng_below(r, 1000);
}

/* Gives m a defect a node must see. False when the defect does not apply to its type. */
static bool spoil(prng_t *r, msg_t *m, defect_t defect, uint32_t n)
{
    switch (defect) {
    case DEFECT_SENDER: {
        /* No node at all: 0, or an id past NODES_MAX. (An id above the cluster's size but
         * within NODES_MAX may be a member a membership change adds: well-formed.) */
        (void)n;
        uint64_t pick = prng_below(r, 4u);
        m->from = pick == 0 ? NODE_NONE : NODES_MAX + (uint32_t)pick;
        return true;
    }
    case DEFECT_ADDRESSEE:
        m->to = m->from; /* to the sender itself: never the node it reaches */
        return true;
    case DEFECT_ROUND: {
        ballot_t *b = main_ballot(m);
        if (b == NULL) {
            return false;
        }
        b->round = huge(r, BALLOT_ROUND_MAX);
        return true;
    }
    case DEFECT_SLOT: {
        uint64_t *s = main_slot(m);
        if (s == NULL) {
            return false;
        }
        *s = huge(r, SLOT_MAX);
        return true;
    }
    case DEFECT_VALUE: {
        value_t *v = main_value(m);
        if (v == NULL || v->kind != VALUE_BATCH || v->size < 4) {
            return false;
        }
        v->bytes[prng_below(r, 4)] ^= (uint8_t)prng_range(r, 1, 255); /* the count */
        return true;
    }
    case DEFECT_TYPE:
        msg_free(m);
        m->type = (msg_type_t)(prng_chance(r, 0.5) ? 0 : MSG_TYPE_MAX + 1 + prng_below(r, 200));
        return true;
    case DEFECT_ENTRIES:
        if (m->type == MSG_LEARN && m->u.learn.entry_count > 1) {
            m->u.learn.entries[m->u.learn.entry_count - 1].slot += 7; /* not consecutive */
            return true;
        }
        if ((m->type == MSG_PROMISE || m->type == MSG_REJOIN_REPLY) &&
            m->u.promise.entry_count > 0) {
            m->u.promise.entries[0].slot = 0;
            return true;
        }
        return false;
    case DEFECT_BALLOT_NODE: {
        ballot_t *b = main_ballot(m);
        if (b == NULL) {
            return false;
        }
        b->node = NODES_MAX + 1 + (uint32_t)prng_below(r, 100);
        return true;
    }
    case DEFECT_SEQUENCE:
        if (m->type != MSG_FORWARD) {
            return false;
        }
        m->u.forward.sequence = huge(r, COMMAND_SEQUENCE_MAX);
        return true;
    case DEFECT_COUNT:
        break;
    }
    return false;
}

void garbage_tick(sim_t *sim)
{
    prng_t *r = &sim->garbage_rng;
    if (!prng_chance(r, sim->opt.garbage)) {
        return;
    }
    uint32_t n = sim->node_count;
    uint32_t to = (uint32_t)prng_range(r, 1, n);
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.to = to;
    m.from = n == 1 ? to : (to % n) + 1;
    plausible(r, &m, n);
    defect_t defect = (defect_t)prng_below(r, DEFECT_COUNT);
    /* Bounded: DEFECT_SENDER applies to every message. */
    while (!spoil(r, &m, defect, n)) {
        defect = defect == DEFECT_SENDER ? DEFECT_SENDER : (defect_t)(defect - 1);
    }
    sim->stats.garbage_sent++;
    if (sim_node_up(sim, to)) {
        node_t *core = sim->nodes[to].core;
        int rc = node_receive(core, &m, sim_node_local(sim, to));
        if (rc == BALLOT_OK) {
            sim_fail(sim, "garbage refused",
                     "n%u took a %s from n%u with defect %d (%s) instead of refusing it", to,
                     msg_type_name(m.type), m.from, (int)defect, msg_type_name(m.type));
        } else {
            sim->stats.garbage_refused++;
        }
    }
    msg_free(&m);
}
