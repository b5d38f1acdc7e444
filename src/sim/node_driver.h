/* Driving one node's core: starting it (from its simulated disk), its timer, its disk
 * syncs, and draining its outputs after every input, the way ballotd does:
 * records to disk -> sync -> node_persisted -> released messages to the network; applies
 * to the node's state machine in order; answers to clients; events to the trace.
 *
 * A (re)started node's state machine starts empty: it is rebuilt from slot 1 by the
 * applies the core hands out, or, for slots the core already counts as applied after
 * recovery, from node_chosen_value (the simulator keeps no snapshots). */
#ifndef BALLOT_SIM_NODE_DRIVER_H
#define BALLOT_SIM_NODE_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sim sim_t;

#define DRIVER_DRAIN_ROUNDS_MAX 64u

/* Creates the node's core, replays its disk (detecting torn tails and corruption),
 * and starts it. A corrupt disk is wiped and the node rejoins. */
void driver_start(sim_t *sim, uint32_t id, bool first_boot);
void driver_tick(sim_t *sim, uint32_t id, uint64_t gen);
/* The disk's sync in flight completes (or its fdatasync fails, and the node stops). */
void driver_sync_done(sim_t *sim, uint32_t id, bool fail);

#endif
