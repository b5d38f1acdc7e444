/* The invariants of docs/design.md, checked while the run goes (and, where only the end can
 * decide, at the end).
 *
 * Agreement is judged by a global observer that does not trust any node's opinion of what
 * is chosen: it records every acceptor's durable votes (ACCEPT records as they become
 * synced on the simulated disk, and what a restarted node recovers) and calls a value
 * chosen when a majority of distinct nodes voted for it at one ballot. A vote that was
 * never durable is not counted: it was never sent, and a crash legitimately unmakes it.
 * Nor is an ACCEPT record a rejoining node writes for an entry it adopted from another
 * node's report: it is a copy, and while the rejoin reads its majority it may hold, for
 * a moment, an older entry that a later reply overrides (rejoin.c adopts reply by reply),
 * which is not a vote anyone counted. Once the node answers Accepted for such a copy (a
 * leader's retransmit), the copy becomes its vote. Records a restarted node replays are
 * not counted either (those synced before were counted then; the others are held as
 * copies like adopted ones).
 *
 * The majority is that of the voters of the configuration governing the slot, which the
 * observer computes itself from the values it saw chosen: config_state_apply over slots
 * 1, 2, 3... of its own chosen prefix (a CONFIG value chosen in slot j governs slots from
 * j + CONFIG_ALPHA on, so slots up to prefix + CONFIG_ALPHA have a known configuration;
 * votes for slots beyond wait until the prefix reaches them).
 *
 *   agreement      at most one value chosen per slot, ever; one value per (slot, ballot);
 *                  a node that says a slot is chosen (EVENT_CHOSEN/LEARNED, applies,
 *                  node_chosen_value) names the observer's chosen value
 *   quorum         a leader that declares slot s chosen at ballot b (EVENT_CHOSEN) holds
 *                  durable votes for its value at b from a majority of the voters of the
 *                  configuration governing s: no configuration decides a slot another one
 *                  governs (docs/design.md "Membership change")
 *   voter          a node campaigns (Prepare) or leads only while a voter of the
 *                  configuration of its next slot (the observer's and its own status)
 *   validity       a chosen value is a no-op, a batch of commands clients submitted, or a
 *                  membership the simulator proposed
 *   prefix         every node applies slots 1, 2, 3... in order, each the chosen value
 *   promise        status.promised never decreases within a run of a node; after a
 *                  restart it is >= every durable promise; an ACCEPT record is never below
 *                  the promise held before the step; a Promise, Accepted or heartbeat ack
 *                  leaves a node only once the record it depends on is durable
 *   lease          after every step: at most one node serves lease reads at its own clock
 *   durability     (end) every acknowledged write is applied on every member
 *   configuration  (end) every member's state machine, its core and the observer hold the
 *                  same configuration state
 *   linearizable   (end) per key, see linearizability.h
 *   liveness       (sim.c) once faults stop, the cluster settles within liveness_ms */
#ifndef BALLOT_SIM_CHECKER_H
#define BALLOT_SIM_CHECKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/node.h"

#define CHECKER_SLOTS_MAX        (1u << 22)
#define CHECKER_BALLOTS_PER_SLOT 4096u

typedef struct sim sim_t;

typedef struct vote {
    ballot_t ballot;
    value_t value;     /* owned */
    uint32_t voters;   /* bit i: node i durably accepted (slot, ballot, value) */
    uint32_t adopters; /* bit i: node i durably holds it as an adopted copy */
} vote_t;

typedef struct slot_votes {
    vote_t *votes;
    uint32_t count;
    uint32_t capacity;
    int32_t chosen; /* index into votes of the chosen one, -1 while none */
} slot_votes_t;

/* Seqs (in the node's current run, increasing) of ACCEPT records a rejoining node wrote
 * for entries it adopted from others' reports: copies, not votes (above). */
typedef struct adopted_seqs {
    uint64_t *seqs;
    size_t count;
    size_t capacity;
} adopted_seqs_t;

#define CHECKER_ADOPTED_MAX (1u << 22)

/* Memberships the observer saw take effect, and the first slot each governs. */
#define CHECKER_CONFIGS_MAX 256u

typedef struct checker_config {
    uint64_t from;
    membership_t membership;
} checker_config_t;

typedef struct checker {
    slot_votes_t *slots; /* by slot */
    adopted_seqs_t adopted[NODES_MAX + 1];
    size_t slot_capacity;
    uint64_t chosen_count;
    /* Per node (by id). */
    ballot_t durable_promise[NODES_MAX + 1]; /* max durable PROMISE/ACCEPT ballot */
    /* status.promised and .rejoining after the node's last input, which is its state
     * before the next one. */
    ballot_t seen_promise[NODES_MAX + 1];
    bool seen_rejoining[NODES_MAX + 1];
    uint64_t next_apply[NODES_MAX + 1];
    uint64_t lease_steps; /* steps after which some node served lease reads */
    /* The observer's configurations: its chosen prefix 1..prefix applied to cs, and every
     * membership it defined (configs[0] the founding one, from slot 1). */
    config_state_t cs;
    uint64_t prefix;
    checker_config_t configs[CHECKER_CONFIGS_MAX];
    uint32_t config_count;
    uint64_t configs_taken; /* CONFIG values that took effect (config_state_apply) */
    bool advancing;
} checker_t;

/* founding: the cluster's first membership (voters 1..founders). */
void checker_init(checker_t *ch, const membership_t *founding);
/* The configuration governing slot as the observer knows it, or NULL while the chosen
 * prefix is too short to tell. */
const membership_t *checker_config_for_slot(const checker_t *ch, uint64_t slot);
/* The configuration of the slot after the observer's chosen prefix. */
const membership_t *checker_config_now(const checker_t *ch);
/* The newest membership the chosen log defines (in effect or waiting to be). */
const membership_t *checker_config_latest(const checker_t *ch);
void checker_destroy(checker_t *ch);

/* checker_agreement.c */
void checker_on_durable(sim_t *sim, uint32_t node, const persist_record_t *record);
void checker_on_apply(sim_t *sim, uint32_t node, uint64_t slot, const value_t *value);
void checker_on_event(sim_t *sim, uint32_t node, const event_t *ev);
/* After every input of a node: it leads or campaigns only as a voter. */
void checker_voter(sim_t *sim, uint32_t node, const node_status_t *st);
/* A rejoining node wrote this ACCEPT record for an entry it adopted (not a vote). */
void checker_on_adopted(sim_t *sim, uint32_t node, const persist_record_t *record);
/* The node's core was replaced (crash): its record seqs start over. */
void checker_on_restart(checker_t *ch, uint32_t node);
/* The chosen value of slot as the observer sees it, or NULL. */
const value_t *checker_chosen(const checker_t *ch, uint64_t slot);
/* Node sends Accepted(ballot, slot): true when its durable state holds that vote (an
 * adopted copy it answers for becomes a vote here). */
bool checker_accepted_sent(sim_t *sim, uint32_t node, uint64_t slot, ballot_t ballot);
/* The node's disk was wiped: its adopted copies are gone. */
void checker_forget_adopted(checker_t *ch, uint32_t node);

/* checker_promise.c */
void checker_on_written(sim_t *sim, uint32_t node, const persist_record_t *record);
void checker_on_sent(sim_t *sim, uint32_t node, const msg_t *m);
void checker_after_input(sim_t *sim, uint32_t node);
void checker_on_start(sim_t *sim, uint32_t node, bool rejoin);
/* A record a restarted node recovered from its disk: durable now. */
void checker_on_recovered(sim_t *sim, uint32_t node, const persist_record_t *record);
void checker_on_wipe(sim_t *sim, uint32_t node);

/* checker_lease.c */
void checker_lease(sim_t *sim);

/* checker_final.c: durability and convergence once the cluster settled. */
void checker_final(sim_t *sim);

#endif
