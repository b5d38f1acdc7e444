/* The fault scheduler: partitions (random split, one node isolated, the leader isolated,
 * one-way links, swizzle), crashes at any instant, bit flips, leadership transfers and
 * clock rate changes, drawn every SIM_FAULT_TICK_MS of the fault phase. Disk faults at
 * sync time (fsync failure) and crash time (torn tail) are drawn in sim.c. */
#include <inttypes.h>

#include "sim/node_driver.h"
#include "sim/sim.h"

#define PARTITION_MS_MIN   100u
#define PARTITION_MS_MAX   2500u
#define SWIZZLE_GAP_MS_MAX 300u
#define CRASH_DOWN_MS_MAX  3000u

typedef enum fault_action {
    FAULT_HEAL = 1,    /* arg: episode */
    FAULT_SWIZZLE_CUT, /* arg: episode << 8 | node */
    FAULT_SWIZZLE_RESTORE,
    FAULT_CRASH, /* arg: node */
} fault_action_t;

#define ACTION_ARG(episode, node) (((episode) << 8) | (uint64_t)(node))

/* The ids faults pick from: every node, or with --membership those that run or may run
 * again (members and nodes on their way in), in increasing order. */
static uint32_t fault_ids(const sim_t *sim, uint32_t ids[NODES_MAX])
{
    if (sim->opt.membership) {
        return membership_live_ids(sim, ids);
    }
    for (uint32_t id = 1; id <= sim->node_count; id++) {
        ids[id - 1] = id;
    }
    return sim->node_count;
}

/* NODE_NONE when there is none. */
static uint32_t random_node(sim_t *sim)
{
    uint32_t ids[NODES_MAX];
    uint32_t n = fault_ids(sim, ids);
    return n == 0 ? NODE_NONE : ids[prng_range(&sim->rng, 1, n) - 1];
}

static void partition_split(sim_t *sim)
{
    bool side[NODES_MAX + 1];
    uint32_t ids[NODES_MAX];
    uint32_t n = fault_ids(sim, ids);
    uint32_t ai = (uint32_t)prng_range(&sim->rng, 1, n) - 1;
    uint32_t a = ids[ai];
    uint32_t b = ids[(ai + 1) % n];
    for (uint32_t i = 0; i < n; i++) {
        side[ids[i]] = prng_chance(&sim->rng, 0.5);
    }
    side[a] = true; /* both sides non-empty */
    side[b] = false;
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t j = 0; j < n; j++) {
            if (side[ids[i]] != side[ids[j]]) {
                network_cut(&sim->net, ids[i], ids[j]);
            }
        }
    }
    sim_note(sim, NODE_NONE, "partition: random split");
}

static void partition_one_way(sim_t *sim)
{
    uint32_t k = random_node(sim);
    bool outgoing = prng_chance(&sim->rng, 0.5);
    for (uint32_t o = 1; o <= sim->node_count; o++) {
        if (o != k) {
            network_cut(&sim->net, outgoing ? k : o, outgoing ? o : k);
        }
    }
    sim_note(sim, k, "partition: one-way, %s links cut", outgoing ? "outgoing" : "incoming");
}

static void partition_swizzle(sim_t *sim)
{
    uint32_t order[NODES_MAX];
    uint32_t n = fault_ids(sim, order);
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t j = (uint32_t)prng_below(&sim->rng, i + 1);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    uint32_t members = (uint32_t)prng_range(&sim->rng, 1, n);
    uint64_t at = 0;
    for (uint32_t i = 0; i < members; i++) {
        sim_schedule(sim, at, SIM_EV_ACTION, NODE_NONE, FAULT_SWIZZLE_CUT,
                     ACTION_ARG(sim->faults.episode, order[i]));
        at += prng_range(&sim->rng, 10, SWIZZLE_GAP_MS_MAX);
    }
    at += prng_range(&sim->rng, 0, PARTITION_MS_MAX);
    /* Restore in another random order. */
    for (uint32_t i = members - 1; i > 0; i--) {
        uint32_t j = (uint32_t)prng_below(&sim->rng, i + 1);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (uint32_t i = 0; i < members; i++) {
        sim_schedule(sim, at, SIM_EV_ACTION, NODE_NONE, FAULT_SWIZZLE_RESTORE,
                     ACTION_ARG(sim->faults.episode, order[i]));
        at += prng_range(&sim->rng, 10, SWIZZLE_GAP_MS_MAX);
    }
    sim_schedule(sim, at, SIM_EV_ACTION, NODE_NONE, FAULT_HEAL, sim->faults.episode);
    sim_note(sim, NODE_NONE, "partition: swizzle of %u nodes", members);
}

static void faults_partition(sim_t *sim)
{
    uint32_t ids[NODES_MAX];
    if (sim->faults.partition_active || fault_ids(sim, ids) <= 1) {
        return;
    }
    sim->faults.partition_active = true;
    sim->stats.partitions++;
    uint64_t kind = sim->opt.lease_stress ? 2 : prng_below(&sim->rng, 5);
    if (kind == 4) {
        partition_swizzle(sim);
        return;
    }
    if (kind == 0) {
        partition_split(sim);
    } else if (kind == 1 || kind == 2) {
        uint32_t k = kind == 2 ? sim_leader(sim) : NODE_NONE;
        if (k == NODE_NONE) {
            k = random_node(sim);
        }
        network_isolate(&sim->net, k, sim->node_count, true);
        sim_note(sim, k, "partition: isolated%s", kind == 2 ? " (leader)" : "");
    } else {
        partition_one_way(sim);
    }
    sim_schedule(sim, prng_range(&sim->rng, PARTITION_MS_MIN, PARTITION_MS_MAX), SIM_EV_ACTION,
                 NODE_NONE, FAULT_HEAL, sim->faults.episode);
}

bool faults_may_damage_disk(const sim_t *sim, uint32_t node)
{
    if (sim->opt.membership) {
        return membership_may_damage_disk(sim, node);
    }
    uint32_t f = (sim->node_count - 1) / 2;
    uint32_t damaged = 0;
    for (uint32_t id = 1; id <= sim->node_count; id++) {
        if (sim->faults.corrupt_pending[id] || sim->nodes[id].disk.needs_rejoin || id == node) {
            damaged++;
        }
    }
    return damaged <= f;
}

static void faults_bitflip(sim_t *sim)
{
    uint32_t k = random_node(sim);
    if (k == NODE_NONE || !faults_may_damage_disk(sim, k)) {
        return;
    }
    driver_disk_settle(sim, k);
    uint64_t offset = 0;
    char file[SIMIO_PATH_BYTES];
    if (disk_bitflip(&sim->nodes[k].disk, &sim->rng, sim->opt.bitflip_anywhere, file, sizeof(file),
                     &offset)) {
        sim->faults.corrupt_pending[k] = true;
        sim->stats.bitflips++;
        sim_note(sim, k, "disk: bit flipped in %s at offset %" PRIu64, file, offset);
    }
}

static void faults_transfer(sim_t *sim)
{
    uint32_t leader = sim_leader(sim);
    if (leader == NODE_NONE || sim->node_count == 1) {
        return;
    }
    uint32_t to = NODE_NONE;
    if (sim->opt.membership) {
        /* To another voter of the configuration in effect and of the newest one. */
        const membership_t *now = checker_config_now(&sim->checker);
        const membership_t *latest = checker_config_latest(&sim->checker);
        uint32_t mask = membership_voter_mask(now) & membership_voter_mask(latest);
        mask &= ~(1u << leader);
        if (mask == 0) {
            return;
        }
        uint32_t nth = (uint32_t)prng_below(&sim->rng, (uint32_t)__builtin_popcount(mask));
        for (to = 1; to <= NODES_MAX; to++) {
            if ((mask & (1u << to)) != 0 && nth-- == 0) {
                break;
            }
        }
    } else {
        to = (uint32_t)prng_range(&sim->rng, 1, sim->node_count - 1);
        to = to >= leader ? to + 1 : to;
    }
    sim_note(sim, leader, "transfer leadership to n%u", to);
    sim->stats.transfers++;
    int err = node_transfer_leadership(sim->nodes[leader].core, to, sim_node_local(sim, leader));
    if (err != BALLOT_OK && err != BALLOT_ENOTLEADER) {
        sim_fail(sim, "simulator", "n%u refused to transfer leadership: %s", leader,
                 ballot_strerror(err));
    }
    sim_after_input(sim, leader);
}

static void faults_drift(sim_t *sim)
{
    uint32_t k = random_node(sim);
    if (k == NODE_NONE) {
        return;
    }
    int64_t rate = clock_draw_rate(&sim->rng, sim->drift_ppm, sim->opt.lease_stress);
    clock_set_rate(&sim->nodes[k].clock, sim->now_ms, rate);
    if (sim->opt.verbose) {
        sim_note(sim, k, "clock rate now %+" PRId64 " ppm", rate);
    }
}

void faults_tick(sim_t *sim)
{
    const sim_options_t *o = &sim->opt;
    if (prng_chance(&sim->rng, o->partition_rate)) {
        faults_partition(sim);
    }
    if (prng_chance(&sim->rng, o->crash_rate)) {
        sim_schedule(sim, prng_below(&sim->rng, SIM_FAULT_TICK_MS), SIM_EV_ACTION, NODE_NONE,
                     FAULT_CRASH, random_node(sim));
    }
    uint32_t ids[NODES_MAX];
    if (fault_ids(sim, ids) > 1 && prng_chance(&sim->rng, o->bitflip)) {
        faults_bitflip(sim);
    }
    if (prng_chance(&sim->rng, o->transfer_rate)) {
        faults_transfer(sim);
    }
    if (sim->drift_ppm > 0 && prng_chance(&sim->rng, o->drift_change)) {
        faults_drift(sim);
    }
}

static void swizzle_restore(sim_t *sim, uint32_t k)
{
    sim->faults.swizzle_cut[k] = false;
    for (uint32_t o = 1; o <= sim->node_count; o++) {
        if (o != k && !sim->faults.swizzle_cut[o]) {
            network_restore(&sim->net, k, o);
            network_restore(&sim->net, o, k);
        }
    }
}

void faults_action(sim_t *sim, uint64_t action, uint64_t arg)
{
    uint64_t episode = action == FAULT_HEAL ? arg : arg >> 8;
    uint32_t k = (uint32_t)(arg & 0xff);
    switch ((fault_action_t)action) {
    case FAULT_CRASH:
        if (sim->phase == SIM_PHASE_FAULTS && sim_node_up(sim, (uint32_t)arg)) {
            sim_crash_node(sim, (uint32_t)arg, "crash");
        }
        return;
    case FAULT_HEAL:
        if (episode == sim->faults.episode && sim->faults.partition_active) {
            network_heal(&sim->net);
            sim->faults.partition_active = false;
            sim->faults.episode++;
            for (uint32_t id = 0; id <= NODES_MAX; id++) {
                sim->faults.swizzle_cut[id] = false;
            }
            sim_note(sim, NODE_NONE, "partition healed");
        }
        return;
    case FAULT_SWIZZLE_CUT:
        if (episode == sim->faults.episode && sim->faults.partition_active) {
            sim->faults.swizzle_cut[k] = true;
            network_isolate(&sim->net, k, sim->node_count, true);
            sim_note(sim, k, "swizzle: links cut");
        }
        return;
    case FAULT_SWIZZLE_RESTORE:
        if (episode == sim->faults.episode && sim->faults.partition_active) {
            swizzle_restore(sim, k);
            sim_note(sim, k, "swizzle: links restored");
        }
        return;
    }
    sim_fail(sim, "simulator", "unknown fault action %" PRIu64, action);
}

void faults_heal_all(sim_t *sim)
{
    network_heal(&sim->net);
#ifdef BALLOT_SIM_PLANT_NO_HEAL
    /* Planted bug: node 1 stays cut off after the faults stop. */
    network_isolate(&sim->net, 1, sim->node_count, true);
#endif
    sim->net.loss = 0;
    sim->net.dup = 0;
    sim->net.reorder = 0;
    sim->faults.partition_active = false;
    sim->faults.episode++;
    for (uint32_t id = 0; id <= NODES_MAX; id++) {
        sim->faults.swizzle_cut[id] = false;
    }
    for (uint32_t id = 1; id <= sim->node_count; id++) {
        if (!sim_node_up(sim, id) && sim->nodes[id].life == NODE_LIVE) {
            sim_restart_node(sim, id);
        }
    }
    sim_note(sim, NODE_NONE, "faults stop: network healed, every node up");
}
