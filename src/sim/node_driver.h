/* Driving one node's core: starting it (from its simulated disk), its timer, its disk
 * syncs, and draining its outputs after every input, the way ballotd does:
 * records to disk -> sync -> node_persisted -> released messages to the network; applies
 * to the node's state machine in order; answers to clients; events to the trace.
 *
 * A (re)started node's state machine starts empty: it is rebuilt from slot 1 by the
 * applies the core hands out, or, for slots the core already counts as applied after
 * recovery, from node_chosen_value; or, with snapshots on, from the newest snapshot on its
 * disk first (snapshots.c). */
#ifndef BALLOT_SIM_NODE_DRIVER_H
#define BALLOT_SIM_NODE_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/snapshot.h"

typedef struct sim sim_t;
typedef struct sim_node sim_node_t;
typedef struct sim_options sim_options_t;

#define DRIVER_DRAIN_ROUNDS_MAX 64u

/* Creates the node's core, replays its disk (detecting torn tails and corruption),
 * and starts it. A corrupt disk is wiped and the node rejoins. */
void driver_start(sim_t *sim, uint32_t id, bool first_boot);
void driver_tick(sim_t *sim, uint32_t id, uint64_t gen);
/* Stops the node for good (it left the membership): no restart, its disk kept as it is. */
void driver_stop(sim_t *sim, uint32_t id);
/* The disk's sync in flight completes (or its fdatasync fails, and the node stops). */
void driver_sync_done(sim_t *sim, uint32_t id, bool fail);
/* Brings an idle disk up to date: the synced-end record ballotd's storage thread writes
 * SIM_SEAL_DELAY_MS after the last sync (driver.c). Call before anything looks at it. */
void driver_disk_settle(sim_t *sim, uint32_t id);

/* snapshots.c. The seed's snapshot interval (0: none). */
uint32_t snapshots_every_for_seed(const sim_options_t *opt);
/* After a node's outputs are drained: takes a snapshot when one is due. */
void snapshots_after_input(sim_t *sim, uint32_t id);
/* The core wants the snapshot of `from` covering slot: sends it (or loses it). */
void snapshots_on_wanted(sim_t *sim, uint32_t id, uint64_t slot, uint32_t from);
/* A snapshot from `from` reaches node id (of that incarnation): installs it. */
void snapshots_deliver(sim_t *sim, uint32_t id, uint64_t incarnation, uint32_t from);
/* A restart: the newest snapshot on node id's disk (none when snapshots are off). */
int snapshots_recover_read(sim_t *sim, uint32_t id, snapshot_t *snap, bool *found);
/* ... restored into its fresh state machine (after node_recover_snapshot). */
void snapshots_recover_restore(sim_t *sim, uint32_t id, const snapshot_t *snap);
void snapshots_destroy_node(sim_node_t *n);

#endif
