/* Lease safety (checker.h): at no true instant do two nodes both serve reads alone.
 *
 * Checking after every step is enough: a node starts serving only inside a step (an input
 * gave it the lease or chose its no-op), so if two serving intervals overlap, the later
 * one starts at a step during which the earlier one is still running. */
#include <inttypes.h>

#include "sim/sim.h"

void checker_lease(sim_t *sim)
{
    uint32_t holder = NODE_NONE;
    for (uint32_t id = 1; id <= sim->node_count; id++) {
        if (!sim_node_up(sim, id)) {
            continue;
        }
        if (!node_serves_lease_reads(sim->nodes[id].core, sim_node_local(sim, id))) {
            continue;
        }
        if (holder != NODE_NONE) {
            node_status_t a, b;
            node_get_status(sim->nodes[holder].core, sim_node_local(sim, holder), &a);
            node_get_status(sim->nodes[id].core, sim_node_local(sim, id), &b);
            char ba[BALLOT_TEXT_BYTES], bb[BALLOT_TEXT_BYTES];
            sim_fail(sim, "lease safety",
                     "at t=%" PRIu64 " both n%u (%s, lease until local %" PRIu64 ", clock %" PRIu64
                     ") and n%u (%s, lease until local %" PRIu64 ", clock %" PRIu64
                     ") serve lease reads",
                     sim->now_ms, holder, ballot_format(a.leader_ballot, ba, sizeof(ba)),
                     a.lease_until_ms, sim_node_local(sim, holder), id,
                     ballot_format(b.leader_ballot, bb, sizeof(bb)), b.lease_until_ms,
                     sim_node_local(sim, id));
            return;
        }
        holder = id;
    }
    if (holder != NODE_NONE) {
        sim->checker.lease_steps++;
    }
}
