/* End of run, after the cluster settled: durability, convergence and linearizability. */
#include <inttypes.h>

#include "sim/linearizability.h"
#include "sim/sim.h"

#define LIN_WHY_BYTES 4096u

/* Durability: every acknowledged write is applied, with effect, on every node. */
static void checker_durability(sim_t *sim)
{
    const clients_t *cl = &sim->clients;
    for (size_t i = 0; i < cl->op_count && !sim->failed; i++) {
        const history_op_t *op = &cl->ops[i];
        if (op->command.op == KV_GET || op->completed == HISTORY_NEVER) {
            continue;
        }
        for (uint32_t id = 1; id <= sim->node_count; id++) {
            const sm_t *sm = &sim->nodes[id].sm;
            if (!sm_has_applied(sm, op->client, op->sequence)) {
                sim_fail(sim, "durability",
                         "client %u's write seq %" PRIu64 " (acknowledged at t=%" PRIu64
                         ", slot %" PRIu64 ") is missing on n%u (applied up to %" PRIu64 ")",
                         op->client, op->sequence, op->complete_ms, op->slot, id, sm->applied_slot);
                return;
            }
        }
    }
}

/* Every node applied the same sequence to the same state. */
static void checker_convergence(sim_t *sim)
{
    uint32_t first = 0;
    if (sm_digest(&sim->nodes[1].sm, &first) != BALLOT_OK) {
        sim_fail(sim, "simulator", "cannot digest n1's state");
        return;
    }
    for (uint32_t id = 2; id <= sim->node_count; id++) {
        const sm_t *a = &sim->nodes[1].sm;
        const sm_t *b = &sim->nodes[id].sm;
        uint32_t digest = 0;
        if (sm_digest(b, &digest) != BALLOT_OK) {
            sim_fail(sim, "simulator", "cannot digest n%u's state", id);
            return;
        }
        if (a->applied_slot != b->applied_slot || digest != first) {
            sim_fail(sim, "prefix consistency",
                     "after settling n1 applied %" PRIu64 " slots (state %08" PRIx32
                     ") but n%u applied %" PRIu64 " (state %08" PRIx32 ")",
                     a->applied_slot, first, id, b->applied_slot, digest);
            return;
        }
    }
}

static void checker_linearizable(sim_t *sim)
{
    char why[LIN_WHY_BYTES];
    for (uint32_t key = 0; key < sim->clients.keys && !sim->failed; key++) {
        lin_result_t r =
            lin_check_key(sim->clients.ops, sim->clients.op_count, (uint8_t)key, why, sizeof(why));
        if (r == LIN_UNKNOWN) {
            sim->stats.lin_unknown++;
        } else if (r == LIN_VIOLATION) {
            sim_fail(sim, "linearizability", "%s", why);
        }
    }
}

void checker_final(sim_t *sim)
{
    checker_durability(sim);
    if (!sim->failed) {
        checker_convergence(sim);
    }
    if (!sim->failed) {
        checker_linearizable(sim);
    }
}
