/* ballot-sim: a whole Ballot cluster of the real core in one process, driven by one seed.
 *
 * The loop takes the earliest entry of the agenda (queue.h), advances true time to it,
 * and hands it to the node, disk, client or fault scheduler it concerns. After every step
 * the node's outputs are drained (records to its disk, messages to the network, applies
 * to its key-value state, answers to clients, events to the trace) and the checkers run.
 * A run has two phases: `steps` steps with faults, then a healed cluster that must settle
 * (liveness) before the end-of-run checks (durability, linearizability). */
#ifndef BALLOT_SIM_SIM_H
#define BALLOT_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/node.h"
#include "sim/checker.h"
#include "sim/clients.h"
#include "sim/clock.h"
#include "sim/disk.h"
#include "sim/statemachine.h"
#include "sim/network.h"
#include "sim/queue.h"
#include "sim/prng.h"
#include "sim/tracelog.h"
#include "storage/snapshot.h"

#define SIM_FAULT_TICK_MS       100u
#define SIM_LIVENESS_MS_DEFAULT 10000u
/* With --membership, settling may also take CONFIG_ALPHA / window_slots rounds of no-ops
 * at up to this long each (sim.c sim_liveness_budget_ms). */
#define SIM_FILL_ROUND_MS    25u
#define SIM_INVARIANT_BYTES  48u
#define SIM_DETAIL_BYTES     768u
#define SIM_SYNC_MS_MAX      3u  /* usual disk sync latency: 0..3 ms */
#define SIM_SLOW_SYNC_MS_MAX 40u /* the occasional slow one */
/* Idle time before a disk records its synced end (ballotd: WAL_COMMITTER_SEAL_DELAY_MS). */
#define SIM_SEAL_DELAY_MS 5u

typedef struct sim_options {
    uint64_t seed;
    uint32_t nodes; /* 0: drawn per seed from {1,3,5,7}, mostly 3 and 5 */
    uint64_t steps;
    uint32_t clients;
    uint32_t keys;
    uint32_t mix[4]; /* percent of GET, SET, CAS, DEL (sums to 100) */
    double loss;
    double dup;
    double reorder;        /* share of messages that take a long, reordering delay */
    double partition_rate; /* per fault tick */
    double crash_rate;     /* per fault tick */
    double torn;           /* per crash: the unsynced tail is torn instead of lost */
    double bitflip;        /* per fault tick: a bit of some node's synced log flips */
    bool bitflip_anywhere; /* also in the newest segment's last record (disk.h) */
    double fsync_fail;     /* per sync */
    double transfer_rate;  /* per fault tick: the leader hands over */
    double garbage;        /* per fault tick: a malformed message to a node (garbage.c) */
    double drift_change;   /* per fault tick: one clock changes rate */
    int64_t drift_ppm;     /* max |clock rate|; < 0: the bound the config allows */
    bool drift_exceeds_bound;
    bool core_defaults; /* the core's default timings instead of drawn ones */
    /* Aim at the lease: lease = election timeout (min..min+10 ms), clocks at the extremes
     * of the bound, partitions that isolate the leader. */
    bool lease_stress;
    uint32_t liveness_ms;
    const char *trace_path;
    bool verbose;
    bool notes; /* simulator happenings to stderr as they happen */
    /* Each node snapshots every snapshot_every applied slots (0: never), unless
     * snapshots_drawn, which draws it per seed (snapshots.c). */
    uint32_t snapshot_every;
    bool snapshots_drawn;
    /* Membership changes as a fault kind (membership.c): the cluster starts with `nodes`
     * founders (drawn when 0) and spare ids join, are promoted, removed and replaced
     * through the log while everything else goes on. */
    bool membership;
    double membership_rate; /* per fault tick: the operator's next step, when one is due */
} sim_options_t;

/* The simulator's record of what a node's state machine applied with effect, kept beside
 * each snapshot on that node's disk (survives crashes, like the disk): a state machine
 * restored from the snapshot gets it back, so the durability checker still sees every
 * write the snapshot holds. One more than the snapshots kept on disk. */
#define SIM_SIDECARS_MAX (SNAPSHOT_KEEP + 1u)

typedef struct sim_sidecar {
    uint64_t slot; /* 0: unused */
    sm_seqs_t applied[SM_CLIENTS_MAX + 1];
} sim_sidecar_t;

/* Where a node id is in its life (membership.c); without --membership every node is
 * NODE_LIVE from the start. */
typedef enum node_life {
    NODE_SPARE = 0,   /* never started: an id the cluster may add */
    NODE_LIVE = 1,    /* running or restarting after a crash */
    NODE_DEAD = 2,    /* crashed for good: never restarted, waiting to be replaced */
    NODE_RETIRED = 3, /* removed from the membership and stopped; its id is never reused */
} node_life_t;

typedef struct sim_node {
    uint32_t id;
    node_life_t life;
    bool member_once; /* was in a chosen membership (founders: from the start) */
    node_t *core;     /* NULL while down */
    uint64_t incarnation;
    sim_clock_t clock;
    sim_disk_t disk;
    sm_t sm; /* empty while down; rebuilt from the applies after a restart */
    uint64_t tick_gen;
    uint64_t tick_at_ms; /* true time of the pending tick, UINT64_MAX for none */
    uint64_t starts;
    uint64_t rejoins;
    uint64_t snapshot_slot; /* of the state machine's last snapshot taken or restored */
    sim_sidecar_t sidecars[SIM_SIDECARS_MAX];
} sim_node_t;

typedef enum sim_phase {
    SIM_PHASE_FAULTS = 1,
    SIM_PHASE_HEAL = 2,
    SIM_PHASE_DONE = 3,
} sim_phase_t;

typedef struct sim_stats {
    uint64_t messages_sent;
    uint64_t messages_delivered;
    uint64_t messages_dropped;
    uint64_t messages_duplicated;
    uint64_t crashes;
    uint64_t torn_crashes;
    uint64_t bitflips;
    uint64_t corrupt_detected;
    uint64_t fsync_failures;
    uint64_t partitions;
    uint64_t transfers;
    uint64_t elections;
    uint64_t ops_completed;
    uint64_t ops_indeterminate;
    uint64_t chosen_slots;
    uint64_t heal_settle_ms;
    uint64_t lin_unknown; /* per-key histories whose search hit its bound */
    uint64_t snapshots_taken;
    uint64_t snapshots_installed; /* received from a peer */
    uint64_t snapshots_recovered; /* read back at a restart */
    uint64_t garbage_sent;        /* garbage.c */
    uint64_t garbage_refused;
    /* membership.c */
    uint64_t config_proposed; /* node_propose_config accepted the proposal */
    uint64_t config_refused;  /* ... answered busy, not leader, not caught up */
    uint64_t config_chosen;   /* CONFIG values that took effect in the chosen log */
    uint64_t config_adds;     /* of those: learners added */
    uint64_t config_promotions;
    uint64_t config_removals; /* voters or learners removed */
    uint64_t config_demotions;
    uint64_t replacements; /* voters declared dead for good and replaced */
    uint64_t retired;      /* removed nodes stopped */
    uint32_t voters_min;
    uint32_t voters_max;
} sim_stats_t;

/* The simulated operator of membership changes (membership.c). */
#define MEMBERSHIP_PLAN_MAX     8u
#define MEMBERSHIP_PATH_MAX     64u
#define MEMBERSHIP_PROPOSED_MAX 256u

typedef struct membership_ctl {
    uint32_t plan[MEMBERSHIP_PLAN_MAX]; /* voter counts to reach, in order */
    uint32_t plan_count;
    uint32_t plan_next;
    uint32_t target;          /* voters wanted now */
    uint32_t targets_reached; /* of the plan's, in order */
    bool target_hit;          /* the current target was reached */
    /* Every membership proposed (validity: a CONFIG value chosen is one of them). */
    value_t proposed[MEMBERSHIP_PROPOSED_MAX];
    uint32_t proposed_count;
    uint64_t retry_at_ms;
    uint64_t seen_epoch_in_effect;
    /* Voters | learners << 4 of each configuration chosen, in order (for the report). */
    uint8_t path[MEMBERSHIP_PATH_MAX];
    uint32_t path_count;
} membership_ctl_t;

typedef struct faults {
    uint64_t episode; /* partition episode; a scheduled action of an older one is void */
    bool partition_active;
    bool swizzle_cut[NODES_MAX + 1];
    /* A flipped bit or a garbage tail that no restart has read yet. (A disk whose loss is
     * known carries needs_rejoin until the rejoin is done.) */
    bool corrupt_pending[NODES_MAX + 1];
} faults_t;

typedef struct sim {
    sim_options_t opt;
    prng_t rng;
    prng_t garbage_rng; /* garbage.c's own stream: the run is the same with it on */
    queue_t queue;
    uint64_t now_ms;
    uint64_t steps;
    uint64_t heal_at_ms;
    sim_phase_t phase;
    uint32_t node_count; /* node ids 1..node_count (with --membership, NODES_MAX) */
    uint32_t founders;   /* voters of the founding membership: ids 1..founders */
    membership_t founding;
    membership_ctl_t members;
    node_config_t config;
    int64_t drift_ppm;
    uint32_t snapshot_every;         /* this seed's (0: no snapshots) */
    sim_node_t nodes[NODES_MAX + 1]; /* by id 1..node_count */
    network_t net;
    faults_t faults;
    clients_t clients;
    checker_t checker;
    tracelog_t log;
    sim_stats_t stats;
    bool failed;
    char invariant[SIM_INVARIANT_BYTES];
    char detail[SIM_DETAIL_BYTES];
} sim_t;

/* A whole run. Returns 0 when every invariant held; otherwise 1 with sim->invariant and
 * sim->detail set (and the last events in sim->log). sim_destroy frees it all. */
int sim_run(sim_t *sim, const sim_options_t *opt);
void sim_destroy(sim_t *sim);

/* Records the first violation; the loop stops at the end of the step. */
void sim_fail(sim_t *sim, const char *invariant, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A simulator event worth seeing in the last-events listing (crash, partition, ...). */
void sim_note(sim_t *sim, uint32_t node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

uint64_t sim_node_local(const sim_t *sim, uint32_t id);
bool sim_node_up(const sim_t *sim, uint32_t id);
/* Schedules an agenda entry at now + delay_ms. */
void sim_schedule(sim_t *sim, uint64_t delay_ms, sim_event_kind_t kind, uint32_t node, uint64_t a,
                  uint64_t b);
/* Drains node `id`'s outputs and reschedules its timer; call after every core input. */
void sim_after_input(sim_t *sim, uint32_t id);
/* The node that leads the highest ballot among live leaders, or NODE_NONE. */
uint32_t sim_leader(const sim_t *sim);

void sim_crash_node(sim_t *sim, uint32_t id, const char *why);
void sim_restart_node(sim_t *sim, uint32_t id);

/* membership.c. */
void membership_init(sim_t *sim);
void membership_destroy(sim_t *sim);
/* Every fault tick: the operator's next step, and removed nodes stopped. */
void membership_tick(sim_t *sim);
/* After every step of the healed phase: removed nodes stopped. */
void membership_after_step(sim_t *sim);
/* Faults stop: a node declared dead but still a member comes back. */
void membership_heal(sim_t *sim);
/* The observer saw a CONFIG value take effect in slot (config: the newest membership). */
void membership_on_chosen(sim_t *sim, uint64_t slot, const membership_t *config);
/* Validity: v is a membership the simulator proposed. */
bool membership_proposed(const sim_t *sim, const value_t *v);
/* A member of the membership after the observer's chosen prefix (current or next). */
bool membership_is_member(const sim_t *sim, uint32_t id);
/* Ids that run or may run again (not spare, dead or retired), into ids; returns count. */
uint32_t membership_live_ids(const sim_t *sim, uint32_t ids[NODES_MAX]);
/* Disk loss stays within the fault model of every configuration in play. */
bool membership_may_damage_disk(const sim_t *sim, uint32_t node);

/* garbage.c: with probability opt.garbage, a malformed message to a random live node,
 * which must refuse it. */
void garbage_tick(sim_t *sim);

/* faults.c: the fault scheduler (every SIM_FAULT_TICK_MS during the fault phase). */
void faults_tick(sim_t *sim);
/* A scheduled fault action (SIM_EV_ACTION). */
void faults_action(sim_t *sim, uint64_t action, uint64_t arg);
/* End of the fault phase: every link back, every node up, no more loss. */
void faults_heal_all(sim_t *sim);
/* How many nodes may lose their durable state at once and stay within the fault model
 * (a minority: Paxos survives f of 2f+1 losing everything, not more). */
bool faults_may_damage_disk(const sim_t *sim, uint32_t node);

#endif
