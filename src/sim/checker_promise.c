/* Promise monotonicity, no accept below the promise, persist-before-reply (checker.h).
 * Paxos Made Simple §2.3: an acceptor "can always accept a prepare request" only if it
 * remembers its promise across failures, "even if it fails and then restarts". */
#include <inttypes.h>

#include "sim/sim.h"

static const char *fmt_ballot(ballot_t b, char *buf)
{
    return ballot_format(b, buf, BALLOT_TEXT_BYTES);
}

void checker_on_written(sim_t *sim, uint32_t node, const persist_record_t *r)
{
    checker_t *ch = &sim->checker;
    char a[BALLOT_TEXT_BYTES], b[BALLOT_TEXT_BYTES];
    if (r->kind == PERSIST_ACCEPT && ch->seen_rejoining[node]) {
        checker_on_adopted(sim, node, r);
    }
    if (r->kind == PERSIST_ACCEPT && !ch->seen_rejoining[node] &&
        ballot_less(r->ballot, ch->seen_promise[node])) {
        /* A rejoining node legitimately stores older ballots it adopted from a majority;
         * every other ACCEPT record is a vote, which must not be below the promise. */
        sim_fail(sim, "promise", "n%u accepted slot %" PRIu64 " at %s below its promise %s", node,
                 r->slot, fmt_ballot(r->ballot, a), fmt_ballot(ch->seen_promise[node], b));
    }
    if (r->kind == PERSIST_PROMISE && ballot_less(r->ballot, ch->seen_promise[node])) {
        sim_fail(sim, "promise", "n%u recorded promise %s below its promise %s", node,
                 fmt_ballot(r->ballot, a), fmt_ballot(ch->seen_promise[node], b));
    }
}

/* Persist-then-reply: the answer may only leave once what it vouches for is durable. */
void checker_on_sent(sim_t *sim, uint32_t node, const msg_t *m)
{
    checker_t *ch = &sim->checker;
    char a[BALLOT_TEXT_BYTES], b[BALLOT_TEXT_BYTES];
    ballot_t need = BALLOT_NONE;
    switch (m->type) {
    case MSG_PROMISE:
        need = m->u.promise.ballot;
        break;
    case MSG_HEARTBEAT_ACK:
        need = m->u.heartbeat_ack.ballot;
        break;
    case MSG_ACCEPTED:
        if (!checker_accepted_sent(sim, node, m->u.accepted.slot, m->u.accepted.ballot)) {
            sim_fail(sim, "promise",
                     "n%u sent Accepted(%s, slot %" PRIu64 ") before its ACCEPT record was "
                     "durable",
                     node, fmt_ballot(m->u.accepted.ballot, a), m->u.accepted.slot);
        }
        return;
    default:
        return;
    }
    if (ballot_less(ch->durable_promise[node], need)) {
        sim_fail(sim, "promise", "n%u sent %s for %s while its durable promise was %s", node,
                 msg_type_name(m->type), fmt_ballot(need, a),
                 fmt_ballot(ch->durable_promise[node], b));
    }
}

void checker_after_input(sim_t *sim, uint32_t node)
{
    checker_t *ch = &sim->checker;
    node_status_t st;
    node_get_status(sim->nodes[node].core, sim_node_local(sim, node), &st);
    if (ballot_less(st.promised, ch->seen_promise[node])) {
        char a[BALLOT_TEXT_BYTES], b[BALLOT_TEXT_BYTES];
        sim_fail(sim, "promise", "n%u's promise went down from %s to %s", node,
                 fmt_ballot(ch->seen_promise[node], a), fmt_ballot(st.promised, b));
    }
    ch->seen_promise[node] = st.promised;
    ch->seen_rejoining[node] = st.rejoining;
    checker_voter(sim, node, &st);
}

/* After node_start: a node that recovered its disk must promise at least what it durably
 * promised before (a rejoining node has no durable state; the rejoin protocol stands in). */
void checker_on_start(sim_t *sim, uint32_t node, bool rejoin)
{
    checker_t *ch = &sim->checker;
    node_status_t st;
    node_get_status(sim->nodes[node].core, sim_node_local(sim, node), &st);
    if (!rejoin && ballot_less(st.promised, ch->durable_promise[node])) {
        char a[BALLOT_TEXT_BYTES], b[BALLOT_TEXT_BYTES];
        sim_fail(sim, "promise", "n%u restarted promising %s below its durable promise %s", node,
                 fmt_ballot(st.promised, a), fmt_ballot(ch->durable_promise[node], b));
    }
    if (rejoin && !st.rejoining) {
        sim_fail(sim, "promise", "n%u lost its disk but did not start rejoining", node);
    }
    ch->seen_promise[node] = st.promised;
    ch->seen_rejoining[node] = st.rejoining;
    ch->next_apply[node] = 1; /* its state machine starts empty (node_driver.h) */
}

void checker_on_wipe(sim_t *sim, uint32_t node)
{
    sim->checker.durable_promise[node] = BALLOT_NONE;
    checker_forget_adopted(&sim->checker, node);
    sim->checker.seen_promise[node] = BALLOT_NONE;
}
