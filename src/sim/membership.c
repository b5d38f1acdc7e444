/* Membership changes as a fault kind (--membership): a simulated operator that changes
 * the cluster through the log while every other fault goes on.
 *
 * The cluster starts with `founders` voters (ids 1..founders); every other id up to
 * NODES_MAX is a spare that has never run. Every fault tick, with probability
 * membership_rate, the operator takes one step towards the voter count its plan wants
 * (1 founder: 1 -> 3 -> 5 -> 3, then further targets drawn per seed):
 *
 *   add       start a spare (node_count = 0: it learns the membership from the log or a
 *             snapshot) and propose it as a learner
 *   promote   a learner becomes a voter (the core refuses until it caught up)
 *   remove    a voter or learner leaves (sometimes the leader); demote first, sometimes
 *   replace   a crashed voter is declared dead for good (never restarted); a fresh id is
 *             added and promoted and the dead one removed, in either order
 *
 * Each step is proposed to the leader with node_propose_config, one change at a time, and
 * only once the observer's chosen log has every earlier change in effect. What the log
 * chose is read from the observer (checker.h), never from a node: the observer applies
 * its chosen prefix with config_state_apply. A node removed from the membership is stopped
 * once its removal governs the slot after the observer's chosen prefix, and its id is
 * never reused.
 *
 * Disk loss stays within the fault model of every configuration in play: a lost or
 * damaged disk (or a dead node) counts against each configuration whose voter it is, and
 * a change is not proposed if the new configuration would have a majority of them. */
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "sim/node_driver.h"
#include "sim/sim.h"

#define MEMBERSHIP_DEAD_CHANCE   0.05 /* per fault tick, when a voter is down */
#define MEMBERSHIP_DEMOTE_CHANCE 0.3
#define MEMBERSHIP_RETRY_MS      200u

static membership_ctl_t *ctl(sim_t *sim)
{
    return &sim->members;
}

static const membership_t *latest_config(const sim_t *sim)
{
    return checker_config_latest(&sim->checker);
}

static void path_append(sim_t *sim, uint32_t voters, uint32_t learners)
{
    membership_ctl_t *c = ctl(sim);
    if (c->path_count < MEMBERSHIP_PATH_MAX) {
        c->path[c->path_count++] = (uint8_t)((learners << 4) | voters);
    }
    if (voters < sim->stats.voters_min) {
        sim->stats.voters_min = voters;
    }
    if (voters > sim->stats.voters_max) {
        sim->stats.voters_max = voters;
    }
}

void membership_init(sim_t *sim)
{
    membership_ctl_t *c = ctl(sim);
    memset(c, 0, sizeof(*c));
    sim->stats.voters_min = sim->founders;
    sim->stats.voters_max = sim->founders;
    path_append(sim, sim->founders, 0);
    for (uint32_t id = 1; id <= sim->founders; id++) {
        sim->nodes[id].member_once = true;
    }
    if (!sim->opt.membership) {
        return;
    }
    prng_t *r = &sim->rng;
    switch (sim->founders) {
    case 1:
        c->plan[c->plan_count++] = 3;
        c->plan[c->plan_count++] = 5;
        c->plan[c->plan_count++] = 3;
        break;
    case 3:
        c->plan[c->plan_count++] = prng_chance(r, 0.5) ? 5 : 1;
        c->plan[c->plan_count++] = 3;
        break;
    case 5:
        c->plan[c->plan_count++] = prng_chance(r, 0.5) ? 3 : 7;
        c->plan[c->plan_count++] = 5;
        break;
    default:
        c->plan[c->plan_count++] = 5;
        c->plan[c->plan_count++] = sim->founders;
        break;
    }
    c->target = c->plan[0];
    c->plan_next = 1;
    c->seen_epoch_in_effect = 0;
}

void membership_destroy(sim_t *sim)
{
    membership_ctl_t *c = ctl(sim);
    for (uint32_t i = 0; i < c->proposed_count; i++) {
        value_free(&c->proposed[i]);
    }
    c->proposed_count = 0;
}

bool membership_proposed(const sim_t *sim, const value_t *v)
{
    const membership_ctl_t *c = &sim->members;
    for (uint32_t i = 0; i < c->proposed_count; i++) {
        if (value_equal(&c->proposed[i], v)) {
            return true;
        }
    }
    return false;
}

bool membership_is_member(const sim_t *sim, uint32_t id)
{
    if (!sim->opt.membership) {
        return id >= 1 && id <= sim->node_count;
    }
    return membership_find(checker_config_now(&sim->checker), id) != NULL ||
           membership_find(latest_config(sim), id) != NULL;
}

uint32_t membership_live_ids(const sim_t *sim, uint32_t ids[NODES_MAX])
{
    uint32_t n = 0;
    for (uint32_t id = 1; id <= sim->node_count; id++) {
        if (sim->nodes[id].life == NODE_LIVE) {
            ids[n++] = id;
        }
    }
    return n;
}

/* A disk that lost (or may have lost) what it promised: a flipped bit or torn garbage not
 * yet read, a rejoin not finished, or a node dead for good. */
static bool disk_damaged(const sim_t *sim, uint32_t id)
{
    return sim->faults.corrupt_pending[id] || sim->nodes[id].disk.needs_rejoin ||
           sim->nodes[id].life == NODE_DEAD;
}

/* At most a minority of m's voters damaged, counting `extra` as damaged too. */
static bool config_within_fault_model(const sim_t *sim, const membership_t *m, uint32_t extra)
{
    uint32_t voters = membership_voter_mask(m);
    uint32_t total = (uint32_t)__builtin_popcount(voters);
    uint32_t damaged = 0;
    for (uint32_t id = 1; id <= NODES_MAX; id++) {
        if ((voters & (1u << id)) != 0 && (id == extra || disk_damaged(sim, id))) {
            damaged++;
        }
    }
    return damaged <= (total - 1) / 2;
}

bool membership_may_damage_disk(const sim_t *sim, uint32_t node)
{
    return config_within_fault_model(sim, checker_config_now(&sim->checker), node) &&
           config_within_fault_model(sim, latest_config(sim), node);
}

/* A change took effect in the observer's chosen log (as `next`). */
void membership_on_chosen(sim_t *sim, uint64_t slot, const membership_t *config)
{
    const membership_t *before = checker_config_now(&sim->checker);
    sim->stats.config_chosen++;
    for (uint32_t id = 1; id <= NODES_MAX; id++) {
        const member_t *was = membership_find(before, id);
        const member_t *now = membership_find(config, id);
        if (now != NULL) {
            sim->nodes[id].member_once = true;
        }
        if (was == NULL && now != NULL) {
            sim->stats.config_adds++;
        } else if (was != NULL && now == NULL) {
            sim->stats.config_removals++;
        } else if (was != NULL && was->role == MEMBER_LEARNER && now->role == MEMBER_VOTER) {
            sim->stats.config_promotions++;
        } else if (was != NULL && was->role == MEMBER_VOTER && now->role == MEMBER_LEARNER) {
            sim->stats.config_demotions++;
        }
    }
    path_append(sim, membership_voters(config), config->count - membership_voters(config));
    membership_ctl_t *c = ctl(sim);
    if (sim->opt.membership && !c->target_hit && membership_voters(config) == c->target &&
        config->count == c->target) {
        c->target_hit = true; /* the plan's voter counts, reached in order */
        c->targets_reached++;
    }
    sim_note(sim, NODE_NONE,
             "membership: epoch %" PRIu64 " chosen in slot %" PRIu64
             " (voters 0x%x, members 0x%x), governs slots from %" PRIu64,
             config->epoch, slot, membership_voter_mask(config), membership_member_mask(config),
             slot + CONFIG_ALPHA);
}

/* Stops every node whose removal governs the slot after the observer's chosen prefix. */
static void membership_retire(sim_t *sim)
{
    const membership_t *now = checker_config_now(&sim->checker);
    if (now->epoch == ctl(sim)->seen_epoch_in_effect) {
        return;
    }
    ctl(sim)->seen_epoch_in_effect = now->epoch;
    for (uint32_t id = 1; id <= sim->node_count; id++) {
        sim_node_t *n = &sim->nodes[id];
        if ((n->life != NODE_LIVE && n->life != NODE_DEAD) || !n->member_once ||
            membership_is_member(sim, id)) {
            continue;
        }
        sim_note(sim, id, "removed from the membership (epoch %" PRIu64 "): stopped for good",
                 now->epoch);
        driver_stop(sim, id);
        n->life = NODE_RETIRED;
        sim->stats.retired++;
    }
}

void membership_after_step(sim_t *sim)
{
    if (sim->opt.membership) {
        membership_retire(sim);
    }
}

void membership_heal(sim_t *sim)
{
    if (!sim->opt.membership) {
        return;
    }
    for (uint32_t id = 1; id <= sim->node_count; id++) {
        if (sim->nodes[id].life == NODE_DEAD) {
            sim->nodes[id].life = NODE_LIVE; /* restarted from its disk by faults_heal_all */
            sim_note(sim, id, "declared dead but still a member: brought back");
        }
    }
}

/* A voter that is down may be declared dead for good (replace it). */
static void membership_maybe_kill(sim_t *sim)
{
    const membership_t *latest = latest_config(sim);
    uint32_t voters = membership_voters(latest);
    if (voters < 2 || !prng_chance(&sim->rng, MEMBERSHIP_DEAD_CHANCE)) {
        return;
    }
    uint32_t down[NODES_MAX];
    uint32_t count = 0;
    for (uint32_t i = 0; i < latest->count; i++) {
        uint32_t id = latest->members[i].id;
        if (sim->nodes[id].life == NODE_DEAD) {
            return; /* one replacement at a time */
        }
        if (latest->members[i].role == MEMBER_VOTER && sim->nodes[id].life == NODE_LIVE &&
            !sim_node_up(sim, id) && membership_may_damage_disk(sim, id)) {
            down[count++] = id;
        }
    }
    if (count == 0) {
        return;
    }
    uint32_t id = down[prng_below(&sim->rng, count)];
    sim->nodes[id].life = NODE_DEAD;
    sim->stats.replacements++;
    sim_note(sim, id, "dead for good: the operator will replace it");
}

/* A fresh id for a new member: a started node whose addition was never chosen, else the
 * lowest spare. NODE_NONE when every id was used. */
static uint32_t fresh_id(const sim_t *sim, const membership_t *latest)
{
    for (uint32_t id = 1; id <= sim->node_count; id++) {
        const sim_node_t *n = &sim->nodes[id];
        if (n->life == NODE_LIVE && !n->member_once && membership_find(latest, id) == NULL) {
            return id;
        }
    }
    for (uint32_t id = 1; id <= sim->node_count; id++) {
        if (sim->nodes[id].life == NODE_SPARE) {
            return id;
        }
    }
    return NODE_NONE;
}

static void member_set(membership_t *m, uint32_t id, member_role_t role)
{
    char addr[16];
    snprintf(addr, sizeof(addr), "sim:n%u", id);
    bool ok = membership_set(m, id, role, membership_find(m, id) != NULL ? NULL : addr);
    assert(ok);
}

/* Members of m with this role (and life, when `life_live`: running or restarting). */
static uint32_t members_with(const sim_t *sim, const membership_t *m, member_role_t role,
                             bool live_only, uint32_t ids[NODES_MAX])
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->count; i++) {
        uint32_t id = m->members[i].id;
        if (m->members[i].role == role && (!live_only || sim->nodes[id].life == NODE_LIVE)) {
            ids[n++] = id;
        }
    }
    return n;
}

static uint32_t pick(sim_t *sim, const uint32_t *ids, uint32_t count)
{
    return ids[prng_below(&sim->rng, count)];
}

static bool remember_proposal(sim_t *sim, const membership_t *next, value_t *out)
{
    membership_ctl_t *c = ctl(sim);
    if (!membership_encode(out, next)) {
        sim_fail(sim, "simulator", "cannot encode membership epoch %" PRIu64, next->epoch);
        return false;
    }
    if (membership_proposed(sim, out)) {
        return true;
    }
    if (c->proposed_count == MEMBERSHIP_PROPOSED_MAX) {
        sim_fail(sim, "simulator", "more than %u distinct memberships proposed",
                 MEMBERSHIP_PROPOSED_MAX);
        value_free(out);
        return false;
    }
    if (!value_copy(&c->proposed[c->proposed_count], out)) {
        sim_fail(sim, "simulator", "out of memory recording a membership");
        value_free(out);
        return false;
    }
    c->proposed_count++;
    return true;
}

/* Proposes next at the leader. */
static void propose(sim_t *sim, uint32_t leader, const membership_t *next, const char *what,
                    uint32_t id)
{
    const membership_t *latest = latest_config(sim);
    char why[160];
    if (!membership_change_allowed(latest, next, why, sizeof(why))) {
        sim_fail(sim, "simulator", "the operator built a change the rules refuse (%s): %s", what,
                 why);
        return;
    }
    if (!config_within_fault_model(sim, next, NODE_NONE)) {
        return; /* a majority of the new voters would have lost disks: not now */
    }
    value_t encoded;
    if (!remember_proposal(sim, next, &encoded)) {
        return;
    }
    value_free(&encoded);
    node_t *core = sim->nodes[leader].core;
    int rc = node_propose_config(core, next, sim_node_local(sim, leader), why, sizeof(why));
    if (rc == BALLOT_OK) {
        sim->stats.config_proposed++;
        sim_note(sim, leader, "membership: proposed epoch %" PRIu64 ": %s n%u", next->epoch, what,
                 id);
    } else if (rc == BALLOT_ENOTLEADER || rc == BALLOT_EBUSY || rc == BALLOT_EAGAIN) {
        sim->stats.config_refused++;
        ctl(sim)->retry_at_ms = sim->now_ms + MEMBERSHIP_RETRY_MS;
    } else {
        sim_fail(sim, "simulator", "n%u refused membership epoch %" PRIu64 " (%s n%u): %s (%s)",
                 leader, next->epoch, what, id, ballot_strerror(rc), why);
        return;
    }
    sim_after_input(sim, leader);
}

/* Starts a spare id as a node that joins. */
static bool start_joiner(sim_t *sim, uint32_t id)
{
    sim_node_t *n = &sim->nodes[id];
    if (n->life == NODE_SPARE) {
        n->life = NODE_LIVE;
        sim_note(sim, id, "new node started (joins: no founding membership)");
        driver_start(sim, id, true);
    }
    return !sim->failed;
}

/* Draws the voter count to aim at once the plan is done. */
static uint32_t next_target(sim_t *sim)
{
    membership_ctl_t *c = ctl(sim);
    if (c->plan_next < c->plan_count) {
        return c->plan[c->plan_next++];
    }
    static const uint32_t targets[] = {1, 3, 3, 5, 5, 7};
    return targets[prng_below(&sim->rng, sizeof(targets) / sizeof(targets[0]))];
}

/* One step of the operator towards its target. */
static void membership_step(sim_t *sim)
{
    checker_t *ch = &sim->checker;
    const membership_t *latest = latest_config(sim);
    if (checker_config_now(ch)->epoch != latest->epoch) {
        return; /* the last change does not govern yet */
    }
    if (sim->now_ms < ctl(sim)->retry_at_ms) {
        return;
    }
    uint32_t leader = sim_leader(sim);
    if (leader == NODE_NONE) {
        return;
    }
    const config_state_t *lcs = node_config_state(sim->nodes[leader].core);
    if (config_state_latest(lcs)->epoch != latest->epoch) {
        return; /* the leader has not learned the last change yet */
    }
    membership_t next = *latest;
    next.epoch = latest->epoch + 1;
    uint32_t voters[NODES_MAX], learners[NODES_MAX], live_voters[NODES_MAX];
    uint32_t nv = members_with(sim, latest, MEMBER_VOTER, false, voters);
    uint32_t nl = members_with(sim, latest, MEMBER_LEARNER, true, learners);
    uint32_t nlv = members_with(sim, latest, MEMBER_VOTER, true, live_voters);
    uint32_t dead = NODE_NONE, dead_learner = NODE_NONE;
    for (uint32_t i = 0; i < latest->count; i++) {
        uint32_t id = latest->members[i].id;
        if (sim->nodes[id].life == NODE_DEAD) {
            if (latest->members[i].role == MEMBER_VOTER) {
                dead = id;
            } else {
                dead_learner = id;
            }
        }
    }
    membership_ctl_t *c = ctl(sim);
    if (dead_learner != NODE_NONE) {
        membership_remove(&next, dead_learner);
        propose(sim, leader, &next, "remove dead learner", dead_learner);
        return;
    }
    if (dead != NODE_NONE) {
        if (nl > 0 && prng_chance(&sim->rng, 0.5)) {
            uint32_t id = pick(sim, learners, nl);
            member_set(&next, id, MEMBER_VOTER);
            propose(sim, leader, &next, "promote (replacing a dead voter)", id);
            return;
        }
        uint32_t id = nl == 0 ? fresh_id(sim, latest) : NODE_NONE;
        if (id != NODE_NONE && nv <= c->target && prng_chance(&sim->rng, 0.5)) {
            if (start_joiner(sim, id)) {
                member_set(&next, id, MEMBER_LEARNER);
                propose(sim, leader, &next, "add learner (replacing a dead voter)", id);
            }
            return;
        }
        membership_remove(&next, dead);
        propose(sim, leader, &next, "remove dead voter", dead);
        return;
    }
    if (nl > 0) {
        uint32_t id = pick(sim, learners, nl);
        if (nv < c->target) {
            member_set(&next, id, MEMBER_VOTER);
            propose(sim, leader, &next, "promote", id);
        } else {
            membership_remove(&next, id);
            propose(sim, leader, &next, "remove learner", id);
        }
        return;
    }
    if (nv < c->target) {
        uint32_t id = fresh_id(sim, latest);
        if (id == NODE_NONE) {
            c->target = nv; /* every id was used: stay */
            return;
        }
        if (start_joiner(sim, id)) {
            member_set(&next, id, MEMBER_LEARNER);
            propose(sim, leader, &next, "add learner", id);
        }
        return;
    }
    if (nv > c->target) {
        uint32_t id = nlv > 0 ? pick(sim, live_voters, nlv) : pick(sim, voters, nv);
        if (prng_chance(&sim->rng, MEMBERSHIP_DEMOTE_CHANCE)) {
            member_set(&next, id, MEMBER_LEARNER);
            propose(sim, leader, &next, id == leader ? "demote the leader" : "demote", id);
        } else {
            membership_remove(&next, id);
            propose(sim, leader, &next, id == leader ? "remove the leader" : "remove voter", id);
        }
        return;
    }
    c->target = next_target(sim);
    c->target_hit = false;
}

void membership_tick(sim_t *sim)
{
    if (!sim->opt.membership) {
        return;
    }
    membership_retire(sim);
    membership_maybe_kill(sim);
    if (!sim->failed && prng_chance(&sim->rng, sim->opt.membership_rate)) {
        membership_step(sim);
    }
}
