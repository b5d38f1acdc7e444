/* End of run, after the cluster settled: durability, convergence and linearizability. */
#include <inttypes.h>
#include <string.h>

#include "sim/linearizability.h"
#include "sim/sim.h"

#define LIN_WHY_BYTES 4096u

/* Durability: every acknowledged write is applied, with effect, on every member. */
static void checker_durability(sim_t *sim)
{
    const clients_t *cl = &sim->clients;
    for (size_t i = 0; i < cl->op_count && !sim->failed; i++) {
        const history_op_t *op = &cl->ops[i];
        if (op->command.op == KV_GET || op->completed == HISTORY_NEVER) {
            continue;
        }
        for (uint32_t id = 1; id <= sim->node_count; id++) {
            if (!membership_is_member(sim, id)) {
                continue;
            }
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

/* Every member applied the same sequence to the same state. */
static void checker_convergence(sim_t *sim)
{
    uint32_t ref = 1;
    while (ref < sim->node_count && !membership_is_member(sim, ref)) {
        ref++;
    }
    uint32_t first = 0;
    if (sm_digest(&sim->nodes[ref].sm, &first) != BALLOT_OK) {
        sim_fail(sim, "simulator", "cannot digest n%u's state", ref);
        return;
    }
    for (uint32_t id = ref + 1; id <= sim->node_count; id++) {
        if (!membership_is_member(sim, id)) {
            continue;
        }
        const sm_t *a = &sim->nodes[ref].sm;
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

static void describe_config_state(const config_state_t *cs, char *buf, size_t buf_bytes)
{
    int n =
        snprintf(buf, buf_bytes, "epoch %" PRIu64 " (voters 0x%x, members 0x%x) from slot %" PRIu64,
                 cs->current.epoch, membership_voter_mask(&cs->current),
                 membership_member_mask(&cs->current), cs->current_from);
    if (cs->has_next && n > 0 && (size_t)n < buf_bytes) {
        n += snprintf(buf + n, buf_bytes - (size_t)n,
                      ", then epoch %" PRIu64 " (voters 0x%x) from slot %" PRIu64, cs->next.epoch,
                      membership_voter_mask(&cs->next), cs->next_from);
    }
    if (n > 0 && (size_t)n < buf_bytes) {
        snprintf(buf + n, buf_bytes - (size_t)n, ", at slot %" PRIu64, cs->applied_slot);
    }
}

/* Every member's state machine, its core and the observer hold the same configurations:
 * the ones the chosen log defines. */
static void checker_configuration(sim_t *sim)
{
    const checker_t *ch = &sim->checker;
    uint8_t want[CONFIG_STATE_BYTES_MAX], sm_bytes[CONFIG_STATE_BYTES_MAX],
        core_bytes[CONFIG_STATE_BYTES_MAX];
    size_t want_size = config_state_encode(&ch->cs, want, sizeof(want));
    for (uint32_t id = 1; id <= sim->node_count; id++) {
        if (!membership_is_member(sim, id)) {
            continue;
        }
        const sm_t *sm = &sim->nodes[id].sm;
        size_t sm_size = config_state_encode(&sm->cs, sm_bytes, sizeof(sm_bytes));
        size_t core_size = config_state_encode(node_config_state(sim->nodes[id].core), core_bytes,
                                               sizeof(core_bytes));
        const char *differs = NULL;
        if (sm_size == 0 || core_size == 0 || sm_size != core_size ||
            memcmp(sm_bytes, core_bytes, sm_size) != 0) {
            differs = "its core's";
        } else if (sm->applied_slot == ch->prefix &&
                   (sm_size != want_size || memcmp(sm_bytes, want, sm_size) != 0)) {
            differs = "the chosen log's";
        }
        if (differs != NULL) {
            const config_state_t *other =
                differs[0] == 'i' ? node_config_state(sim->nodes[id].core) : &ch->cs;
            char a[160], b[160];
            describe_config_state(&sm->cs, a, sizeof(a));
            describe_config_state(other, b, sizeof(b));
            sim_fail(sim, "configuration",
                     "after settling n%u's state machine holds %s, which differs from %s: %s", id,
                     a, differs, b);
            return;
        }
    }
}

void checker_final(sim_t *sim)
{
    checker_durability(sim);
    if (!sim->failed) {
        checker_configuration(sim);
    }
    if (!sim->failed) {
        checker_convergence(sim);
    }
    if (!sim->failed) {
        checker_linearizable(sim);
    }
}
