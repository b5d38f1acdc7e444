#include "sim/sim.h"

#include "core/check.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim/node_driver.h"

void sim_fail(sim_t *sim, const char *invariant, const char *fmt, ...)
{
    if (sim->failed) {
        return;
    }
    sim->failed = true;
    snprintf(sim->invariant, sizeof(sim->invariant), "%s", invariant);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sim->detail, sizeof(sim->detail), fmt, ap);
    va_end(ap);
}

void sim_note(sim_t *sim, uint32_t node, const char *fmt, ...)
{
    char text[TRACELOG_NOTE_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    tracelog_note(&sim->log, sim->now_ms, node, text);
    if (sim->opt.notes) {
        fprintf(stderr, "# t=%" PRIu64 " n%u %s\n", sim->now_ms, node, text);
    }
}

uint64_t sim_node_local(const sim_t *sim, uint32_t id)
{
    return clock_local(&sim->nodes[id].clock, sim->now_ms);
}

bool sim_node_up(const sim_t *sim, uint32_t id)
{
    return id >= 1 && id <= sim->node_count && sim->nodes[id].core != NULL;
}

void sim_schedule(sim_t *sim, uint64_t delay_ms, sim_event_kind_t kind, uint32_t node, uint64_t a,
                  uint64_t b)
{
    sim_event_t ev = {
        .time_ms = sim->now_ms + delay_ms, .kind = kind, .node = node, .a = a, .b = b};
    if (!queue_push(&sim->queue, &ev)) {
        sim_fail(sim, "simulator", "agenda full (%u entries)", QUEUE_ENTRIES_MAX);
    }
}

uint32_t sim_leader(const sim_t *sim)
{
    uint32_t leader = NODE_NONE;
    ballot_t best = BALLOT_NONE;
    for (uint32_t id = 1; id <= sim->node_count; id++) {
        if (!sim_node_up(sim, id)) {
            continue;
        }
        node_status_t st;
        node_get_status(sim->nodes[id].core, sim_node_local(sim, id), &st);
        if (st.role == ROLE_LEADER &&
            (leader == NODE_NONE || ballot_less(best, st.leader_ballot))) {
            leader = id;
            best = st.leader_ballot;
        }
    }
    return leader;
}

/* The first nodes' clocks: random offsets (absolute times mean nothing across nodes) and
 * rates within the drift the run allows. */
static void sim_init_clock(sim_t *sim, uint32_t id)
{
    int64_t rate = clock_draw_rate(&sim->rng, sim->drift_ppm, sim->opt.lease_stress);
    uint64_t offset = prng_below(&sim->rng, 1000000000ull);
    clock_init(&sim->nodes[id].clock, sim->now_ms, offset, rate);
}

/* With --membership: the founders, mostly one (the 1 -> 3 -> 5 -> 3 schedule) or three. */
static uint32_t sim_draw_founders(sim_t *sim)
{
    uint64_t roll = prng_below(&sim->rng, 100);
    if (roll < 45) {
        return 1;
    }
    if (roll < 80) {
        return 3;
    }
    return 5;
}

static uint32_t sim_draw_nodes(sim_t *sim)
{
    uint64_t roll = prng_below(&sim->rng, 100);
    if (roll < 5) {
        return 1;
    }
    if (roll < 55) {
        return 3;
    }
    if (roll < 90) {
        return 5;
    }
    return 7;
}

/* Timings drawn per seed around the core's defaults, within node_config_check's rules;
 * small windows and batches exercise flow control. */
static void sim_draw_config(sim_t *sim, node_config_t *c)
{
    prng_t *r = &sim->rng;
    c->heartbeat_ms = (uint32_t)prng_range(r, 20, 80);
    c->election_timeout_min_ms = c->heartbeat_ms * (uint32_t)prng_range(r, 3, 8);
    c->election_timeout_max_ms = c->election_timeout_min_ms + (uint32_t)prng_range(r, 50, 400);
    /* The leader-alive refusal (election_timeout_min_ms) and the leader's NO_QUORUM
     * step-down bound a lease as well; with the two equal, only the drift margin keeps a
     * slow leader's lease inside the grants of fast followers. */
    uint32_t lease_pct = prng_chance(r, 0.4) ? 100 : (uint32_t)prng_range(r, 50, 300);
    if (sim->opt.lease_stress) {
        lease_pct = 100;
        c->election_timeout_max_ms = c->election_timeout_min_ms + 10;
    }
    c->lease_ms = c->election_timeout_min_ms * lease_pct / 100;
    if (c->lease_ms <= c->heartbeat_ms) {
        c->lease_ms = c->heartbeat_ms + 1;
    }
    c->clock_drift_ms = c->lease_ms * (uint32_t)prng_range(r, 5, 20) / 100 + 5;
    c->retransmit_ms = (uint32_t)prng_range(r, 40, 150);
    c->backoff_min_ms = (uint32_t)prng_range(r, 10, 40);
    c->backoff_max_ms = c->backoff_min_ms + (uint32_t)prng_range(r, 200, 1200);
    c->window_slots = prng_chance(r, 0.3) ? (uint32_t)prng_range(r, 1, 8) : 256;
    c->batch_commands = prng_chance(r, 0.3) ? (uint32_t)prng_range(r, 1, 4) : 64;
}

static int sim_setup(sim_t *sim, const sim_options_t *opt)
{
    memset(sim, 0, sizeof(*sim));
    sim->opt = *opt;
    prng_seed(&sim->rng, opt->seed);
    prng_seed(&sim->garbage_rng, opt->seed ^ 0x67617262616765ull);
    queue_init(&sim->queue);
    sim->phase = SIM_PHASE_FAULTS;
    if (opt->membership) {
        sim->founders = opt->nodes != 0 ? opt->nodes : sim_draw_founders(sim);
        sim->node_count = NODES_MAX;
    } else {
        sim->node_count = opt->nodes != 0 ? opt->nodes : sim_draw_nodes(sim);
        sim->founders = sim->node_count;
    }
    membership_founding(&sim->founding, sim->founders);
    node_config_default(&sim->config, 1, sim->founders);
    if (!opt->core_defaults) {
        sim_draw_config(sim, &sim->config);
    }
    sim->config.trace = true;
    char msg[256];
    if (node_config_check(&sim->config, msg, sizeof(msg)) != BALLOT_OK) {
        sim_fail(sim, "simulator", "default config refused: %s", msg);
        return 1;
    }
    int64_t bound = clock_bound_ppm(sim->config.lease_ms, sim->config.clock_drift_ms);
    sim->drift_ppm = opt->drift_ppm >= 0 ? opt->drift_ppm : bound;
    if (opt->drift_exceeds_bound) {
        /* Far enough past the bound that a lease outlives the grants behind it. */
        int64_t beyond = (int64_t)sim->config.clock_drift_ms * 1000000 / sim->config.lease_ms * 8;
        sim->drift_ppm = beyond > sim->drift_ppm ? beyond : sim->drift_ppm;
    }
    if (sim->drift_ppm > CLOCK_RATE_PPM_MAX) {
        sim->drift_ppm = CLOCK_RATE_PPM_MAX;
    }
    sim->snapshot_every = snapshots_every_for_seed(opt);
    network_init(&sim->net, opt->loss, opt->dup, opt->reorder);
    checker_init(&sim->checker, &sim->founding);
    for (uint32_t id = 1; id <= sim->node_count; id++) {
        sim->nodes[id].id = id;
        sim->nodes[id].life = id <= sim->founders ? NODE_LIVE : NODE_SPARE;
        sim->nodes[id].tick_at_ms = UINT64_MAX;
        disk_init(&sim->nodes[id].disk, id);
        sim_init_clock(sim, id);
    }
    return 0;
}

void sim_destroy(sim_t *sim)
{
    (void)tracelog_close(&sim->log);
    for (uint32_t id = 1; id <= sim->node_count; id++) {
        if (sim->nodes[id].core != NULL) {
            node_destroy(sim->nodes[id].core);
            sim->nodes[id].core = NULL;
        }
        disk_destroy(&sim->nodes[id].disk);
        sm_destroy(&sim->nodes[id].sm);
        snapshots_destroy_node(&sim->nodes[id]);
    }
    queue_destroy(&sim->queue);
    checker_destroy(&sim->checker);
    membership_destroy(sim);
    clients_destroy(&sim->clients);
}

static void sim_on_sync_done(sim_t *sim, const sim_event_t *ev)
{
    uint32_t id = ev->node;
    sim_node_t *n = &sim->nodes[id];
    if (!sim_node_up(sim, id) || ev->a != n->incarnation || ev->b != n->disk.sync_id ||
        !n->disk.sync_in_flight) {
        return;
    }
    bool fail = sim->phase == SIM_PHASE_FAULTS && prng_chance(&sim->rng, sim->opt.fsync_fail);
    driver_sync_done(sim, id, fail);
}

static void sim_dispatch(sim_t *sim, sim_event_t *ev)
{
    switch (ev->kind) {
    case SIM_EV_DELIVER:
        network_deliver(sim, ev->msg);
        msg_free(ev->msg);
        free(ev->msg);
        ev->msg = NULL;
        return;
    case SIM_EV_TICK:
        driver_tick(sim, ev->node, ev->a);
        return;
    case SIM_EV_SYNC_DONE:
        sim_on_sync_done(sim, ev);
        return;
    case SIM_EV_CLIENT:
        clients_on_timer(sim, ev->node, ev->a);
        return;
    case SIM_EV_FAULT:
        if (sim->phase == SIM_PHASE_FAULTS) {
            faults_tick(sim);
            membership_tick(sim);
            if (sim->opt.garbage > 0) {
                garbage_tick(sim);
            }
            sim_schedule(sim, SIM_FAULT_TICK_MS, SIM_EV_FAULT, NODE_NONE, 0, 0);
        }
        return;
    case SIM_EV_RESTART:
        if (sim->phase == SIM_PHASE_FAULTS && !sim_node_up(sim, ev->node) &&
            ev->a == sim->nodes[ev->node].incarnation && sim->nodes[ev->node].life == NODE_LIVE) {
            sim_restart_node(sim, ev->node);
        }
        return;
    case SIM_EV_ACTION:
        faults_action(sim, ev->a, ev->b);
        return;
    case SIM_EV_SNAPSHOT:
        snapshots_deliver(sim, ev->node, ev->a, (uint32_t)ev->b);
        return;
    }
    sim_fail(sim, "simulator", "unknown agenda entry %d", (int)ev->kind);
}

/* Stale timer entries are skipped without counting as a step. */
static bool sim_event_stale(const sim_t *sim, const sim_event_t *ev)
{
    if (ev->kind == SIM_EV_TICK) {
        const sim_node_t *n = &sim->nodes[ev->node];
        return n->core == NULL || ev->a != n->tick_gen;
    }
    if (ev->kind == SIM_EV_CLIENT) {
        return ev->a != sim->clients.client[ev->node].timer_gen;
    }
    return false;
}

/* Settled: every member up and caught up with one leader, no client waiting. */
static bool sim_settled(const sim_t *sim)
{
    if (!clients_idle(&sim->clients)) {
        return false;
    }
    uint32_t leader = sim_leader(sim);
    if (leader == NODE_NONE) {
        return false;
    }
    node_status_t lst;
    node_get_status(sim->nodes[leader].core, sim_node_local(sim, leader), &lst);
    if (lst.pending_commands != 0 || lst.in_flight_slots != 0) {
        return false;
    }
    for (uint32_t id = 1; id <= sim->node_count; id++) {
        if (!membership_is_member(sim, id)) {
            continue;
        }
        if (!sim_node_up(sim, id)) {
            return false;
        }
        node_status_t st;
        node_get_status(sim->nodes[id].core, sim_node_local(sim, id), &st);
        if (st.rejoining || st.leader != leader || st.chosen_upto != lst.chosen_upto ||
            st.applied_upto != lst.chosen_upto ||
            sim->nodes[id].sm.applied_slot != lst.chosen_upto) {
            return false;
        }
    }
    return true;
}

/* What keeps the cluster from settling, for the liveness report. */
static void sim_unsettled_reason(const sim_t *sim, char *buf, size_t buf_bytes)
{
    size_t used = 0;
    uint32_t leader = sim_leader(sim);
    int n = snprintf(buf, buf_bytes, "leader %s%u;", leader == NODE_NONE ? "none" : "n", leader);
    used = n > 0 ? (size_t)n : 0;
    for (uint32_t id = 1; id <= sim->node_count && used < buf_bytes; id++) {
        node_status_t st;
        if (!membership_is_member(sim, id)) {
            continue;
        }
        if (!sim_node_up(sim, id)) {
            n = snprintf(buf + used, buf_bytes - used, " n%u down;", id);
        } else {
            node_get_status(sim->nodes[id].core, sim_node_local(sim, id), &st);
            char extra[96] = "";
            if (sim->opt.membership) {
                /* What else sim_settled looks at, and the node's own view of its role. */
                snprintf(extra, sizeof(extra),
                         " (follows n%u, epoch %" PRIu64 "%s, in flight %u, pending %u)", st.leader,
                         st.config_epoch, st.voter ? ", voter" : "", st.in_flight_slots,
                         st.pending_commands);
            }
            n = snprintf(buf + used, buf_bytes - used,
                         " n%u %s chosen %" PRIu64 " applied %" PRIu64 "%s%s;", id,
                         node_role_name(st.role), st.chosen_upto, st.applied_upto,
                         st.rejoining ? " rejoining" : "", extra);
        }
        used += n > 0 ? (size_t)n : 0;
    }
    for (uint32_t id = 1; id <= sim->clients.count && used < buf_bytes; id++) {
        const sim_client_t *c = &sim->clients.client[id];
        if (c->state == CLIENT_IDLE) {
            continue;
        }
        const history_op_t *op = &sim->clients.ops[c->op];
        n = snprintf(buf + used, buf_bytes - used,
                     " client %u waits since t=%" PRIu64 " for %s seq %" PRIu64 " at n%u;", id,
                     op->invoke_ms, kv_op_name(op->command.op), c->sequence, c->node);
        used += n > 0 ? (size_t)n : 0;
    }
}

static void sim_begin_heal(sim_t *sim)
{
    sim->phase = SIM_PHASE_HEAL;
    sim->heal_at_ms = sim->now_ms;
    sim->clients.issuing = false;
    membership_heal(sim);
    faults_heal_all(sim);
}

/* The settling budget. With --membership a change chosen just before the faults stop still
 * has its gap to fill (CONFIG_ALPHA slots, window_slots at a time) before its configuration
 * governs: that many more round trips are allowed. */
static uint64_t sim_liveness_budget_ms(const sim_t *sim)
{
    uint64_t budget = sim->opt.liveness_ms;
    if (sim->opt.membership) {
        budget += CONFIG_ALPHA / sim->config.window_slots * SIM_FILL_ROUND_MS;
    }
    return budget;
}

static void sim_check_heal(sim_t *sim)
{
    if (sim_settled(sim)) {
        sim->phase = SIM_PHASE_DONE;
        sim->stats.heal_settle_ms = sim->now_ms - sim->heal_at_ms;
        return;
    }
    uint64_t budget = sim_liveness_budget_ms(sim);
    if (sim->now_ms - sim->heal_at_ms > budget) {
        char why[SIM_DETAIL_BYTES / 2];
        sim_unsettled_reason(sim, why, sizeof(why));
        sim_fail(sim, "liveness",
                 "%" PRIu64 " ms after faults stopped the cluster has not settled: %s", budget,
                 why);
    }
}

static void sim_loop(sim_t *sim)
{
    sim_event_t ev;
    while (!sim->failed && sim->phase != SIM_PHASE_DONE) {
        if (!queue_pop(&sim->queue, &ev)) {
            sim_fail(sim, "simulator", "nothing left to happen");
            return;
        }
        if (sim_event_stale(sim, &ev)) {
            continue;
        }
        assert(ev.time_ms >= sim->now_ms);
        sim->now_ms = ev.time_ms;
        sim_dispatch(sim, &ev);
        sim->steps++;
        if (!sim->failed) {
            checker_lease(sim);
        }
        if (sim->phase == SIM_PHASE_FAULTS && sim->steps >= sim->opt.steps && !sim->failed) {
            sim_begin_heal(sim);
        }
        if (sim->phase == SIM_PHASE_HEAL && !sim->failed) {
            membership_after_step(sim);
            sim_check_heal(sim);
        }
    }
}

int sim_run(sim_t *sim, const sim_options_t *opt)
{
    if (sim_setup(sim, opt) == 0) {
        char msg[256];
        if (tracelog_init(&sim->log, opt->trace_path, sim->node_count, msg, sizeof(msg)) !=
            BALLOT_OK) {
            sim_fail(sim, "simulator", "trace file: %s", msg);
            return 1;
        }
        const node_config_t *c = &sim->config;
        sim_note(sim, NODE_NONE,
                 "seed %" PRIu64 ": %u %s, heartbeat %u, election %u..%u, lease %u, drift "
                 "bound %u ms, clocks within %" PRId64 " ppm",
                 opt->seed, sim->founders, opt->membership ? "founders" : "nodes", c->heartbeat_ms,
                 c->election_timeout_min_ms, c->election_timeout_max_ms, c->lease_ms,
                 c->clock_drift_ms, sim->drift_ppm);
        membership_init(sim);
        for (uint32_t id = 1; id <= sim->node_count; id++) {
            if (sim->nodes[id].life == NODE_LIVE) {
                driver_start(sim, id, true);
            }
        }
        clients_init(sim, opt->clients, opt->keys);
        sim_schedule(sim, SIM_FAULT_TICK_MS, SIM_EV_FAULT, NODE_NONE, 0, 0);
        sim_loop(sim);
        if (!sim->failed) {
            clients_finish(sim);
            checker_final(sim);
        }
    }
    return sim->failed ? 1 : 0;
}
