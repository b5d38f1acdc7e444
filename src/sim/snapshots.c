/* Snapshots, the way ballotd takes them (src/server/snapshots.c): every snapshot_every
 * applied slots a node writes its kv's image with snapshot_write on its simulated disk,
 * compacts its WAL to the oldest snapshot kept (wal_compact) and its core's log to the
 * new one (node_compact). A node the core says lacks compacted slots
 * (outputs.snapshot_wanted_*) receives the sender's newest snapshot from that node's disk
 * after a network delay (or loses it, like a message), restores its kv, keeps a copy on
 * its own disk and calls node_snapshot_installed. A restart restores the newest snapshot
 * before the WAL is replayed (node_recover_snapshot).
 *
 * A snapshot's bytes are the state machine's configuration state followed by the kv's image
 * (sm_snapshot_image): the configurations travel with the data they govern, and go to the
 * core with it (node_recover_snapshot, node_snapshot_installed).
 *
 * The whole write happens inside one step (the simulated disk is synchronous), so a
 * crash never interrupts it; snapshot_write's atomicity on a crash is the storage tests'
 * business. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim/node_driver.h"
#include "sim/sim.h"

#define SNAPSHOT_EVERY_MIN     20u
#define SNAPSHOT_EVERY_MAX     200u
#define SNAPSHOT_DELAY_MS_MIN  2u
#define SNAPSHOT_DELAY_MS_MAX  40u
#define SNAPSHOT_OFF_ONE_IN    4u /* share of seeds without snapshots when drawn */
#define SNAPSHOT_DRAW_CONSTANT 0x9e3779b97f4a7c15ull

uint32_t snapshots_every_for_seed(const sim_options_t *opt)
{
    if (!opt->snapshots_drawn) {
        return opt->snapshot_every;
    }
    /* Drawn from the seed alone, not from the run's generator, so that the draw changes
     * nothing else the seed decides. */
    prng_t rng;
    prng_seed(&rng, opt->seed ^ SNAPSHOT_DRAW_CONSTANT);
    if (prng_below(&rng, SNAPSHOT_OFF_ONE_IN) == 0) {
        return 0;
    }
    return (uint32_t)prng_range(&rng, SNAPSHOT_EVERY_MIN, SNAPSHOT_EVERY_MAX);
}

static sim_sidecar_t *snapshots_sidecar(sim_node_t *n, uint64_t slot)
{
    for (uint32_t i = 0; i < SIM_SIDECARS_MAX; i++) {
        if (n->sidecars[i].slot == slot && slot != 0) {
            return &n->sidecars[i];
        }
    }
    return NULL;
}

/* Keeps seqs as the record beside the snapshot at slot, replacing the oldest one. */
static int snapshots_keep_sidecar(sim_node_t *n, uint64_t slot,
                                  const sm_seqs_t seqs[SM_CLIENTS_MAX + 1])
{
    sim_sidecar_t *s = snapshots_sidecar(n, slot);
    if (s == NULL) {
        s = &n->sidecars[0];
        for (uint32_t i = 1; i < SIM_SIDECARS_MAX; i++) {
            if (n->sidecars[i].slot < s->slot) {
                s = &n->sidecars[i];
            }
        }
    }
    if (s->applied == seqs) {
        return BALLOT_OK;
    }
    s->slot = slot;
    return sm_seqs_copy(s->applied, seqs);
}

void snapshots_destroy_node(sim_node_t *n)
{
    for (uint32_t i = 0; i < SIM_SIDECARS_MAX; i++) {
        sm_seqs_free(n->sidecars[i].applied);
        n->sidecars[i].slot = 0;
    }
}

/* Writes image (of every slot <= slot) to node id's disk; *compact_slot as snapshot_write. */
static int snapshots_write(sim_t *sim, uint32_t id, uint64_t slot, const uint8_t *bytes,
                           uint64_t size, uint64_t *compact_slot)
{
    sim_disk_t *d = &sim->nodes[id].disk;
    char msg[SNAPSHOT_MESSAGE_BYTES];
    int rc =
        snapshot_write(d->dir, &d->medium.io, slot, bytes, size, compact_slot, msg, sizeof(msg));
    if (rc != BALLOT_OK) {
        sim_fail(sim, "simulator", "n%u: snapshot at slot %" PRIu64 " not written: %s", id, slot,
                 msg);
    }
    return rc;
}

/* The node's state machine is at slot: snapshot it, then compact the WAL and the core. */
static void snapshots_take(sim_t *sim, uint32_t id)
{
    sim_node_t *n = &sim->nodes[id];
    uint64_t slot = n->sm.applied_slot;
    uint8_t *image = NULL;
    uint64_t size = 0;
    if (n->sm.cs.applied_slot != slot) {
        sim_fail(sim, "simulator",
                 "n%u's configuration state is at slot %" PRIu64 ", its state machine at %" PRIu64,
                 id, n->sm.cs.applied_slot, slot);
        return;
    }
    if (sm_snapshot_image(&n->sm, &image, &size) != BALLOT_OK) {
        sim_fail(sim, "simulator", "n%u: cannot image its state machine", id);
        return;
    }
    uint64_t compact_slot = 0;
    int rc = snapshots_write(sim, id, slot, image, size, &compact_slot);
    free(image);
    if (rc != BALLOT_OK || snapshots_keep_sidecar(n, slot, n->sm.applied) != BALLOT_OK) {
        return;
    }
    n->snapshot_slot = slot;
    sim->stats.snapshots_taken++;
    if (compact_slot > 0 && wal_compact(n->disk.wal, compact_slot) != BALLOT_OK) {
        sim_crash_node(sim, id, "wal_compact failed: node stops");
        return;
    }
    node_compact(n->core, slot);
}

void snapshots_after_input(sim_t *sim, uint32_t id)
{
    sim_node_t *n = &sim->nodes[id];
    if (sim->snapshot_every == 0 || n->core == NULL || sim->failed ||
        n->sm.applied_slot < n->snapshot_slot + sim->snapshot_every) {
        return;
    }
    snapshots_take(sim, id);
}

void snapshots_on_wanted(sim_t *sim, uint32_t id, uint64_t slot, uint32_t from)
{
    if (from == 0 || from > sim->node_count || from == id) {
        sim_fail(sim, "simulator", "n%u wants a snapshot up to %" PRIu64 " from n%u", id, slot,
                 from);
        return;
    }
    /* A transfer is lost like a message (the core asks again on its next Learn); a node
     * that left the membership or died for good sends nothing. */
    if (sim->nodes[from].life != NODE_LIVE) {
        return;
    }
    if (sim->net.cut[from][id] || prng_chance(&sim->rng, sim->net.loss)) {
        return;
    }
    uint64_t delay = prng_range(&sim->rng, SNAPSHOT_DELAY_MS_MIN, SNAPSHOT_DELAY_MS_MAX);
    sim_schedule(sim, delay, SIM_EV_SNAPSHOT, id, sim->nodes[id].incarnation, from);
}

/* Reads node id's newest snapshot. BALLOT_OK with *found; fails the run otherwise (the
 * simulator never damages snapshot files). */
static int snapshots_read(sim_t *sim, uint32_t id, snapshot_t *snap, bool *found)
{
    sim_disk_t *d = &sim->nodes[id].disk;
    snapshot_report_t report;
    memset(snap, 0, sizeof(*snap));
    int rc = snapshot_read_latest(d->dir, &d->medium.io, snap, &report);
    *found = rc == BALLOT_OK && report.found;
    if (rc != BALLOT_OK || report.skipped > 0) {
        sim_fail(sim, "simulator", "n%u: snapshot_read_latest: %s (%s)", id, ballot_strerror(rc),
                 report.message);
        if (*found) {
            snapshot_free(snap);
        }
        *found = false;
        return rc == BALLOT_OK ? BALLOT_ECORRUPT : rc;
    }
    return BALLOT_OK;
}

/* Puts node id's state machine at snap (taken by node `owner`, whose record of applied
 * writes comes along). The slot must be chosen. */
static int snapshots_restore(sim_t *sim, uint32_t id, uint32_t owner, const snapshot_t *snap)
{
    sim_node_t *n = &sim->nodes[id];
    if (checker_chosen(&sim->checker, snap->slot) == NULL) {
        sim_fail(sim, "prefix consistency",
                 "n%u restores a snapshot at slot %" PRIu64 " but that slot was never chosen", id,
                 snap->slot);
        return BALLOT_ESTATE;
    }
    sim_sidecar_t *side = snapshots_sidecar(&sim->nodes[owner], snap->slot);
    if (side == NULL) {
        sim_fail(sim, "simulator", "n%u's snapshot at slot %" PRIu64 " has no applied record",
                 owner, snap->slot);
        return BALLOT_ESTATE;
    }
    char err[KV_ERROR_BYTES];
    int rc = sm_snapshot_restore(&n->sm, snap->bytes, snap->size, err, sizeof(err));
    if (rc == BALLOT_OK && n->sm.cs.applied_slot != snap->slot) {
        snprintf(err, sizeof(err), "its configuration state is at slot %" PRIu64,
                 n->sm.cs.applied_slot);
        rc = BALLOT_ECORRUPT;
    }
    if (rc == BALLOT_OK) {
        rc = sm_seqs_copy(n->sm.applied, side->applied);
    }
    if (rc == BALLOT_OK && owner != id) {
        rc = snapshots_keep_sidecar(n, snap->slot, side->applied);
    }
    if (rc != BALLOT_OK) {
        sim_fail(sim, "simulator", "n%u: snapshot at slot %" PRIu64 " does not restore: %s", id,
                 snap->slot, rc == BALLOT_ENOMEM ? "out of memory" : err);
        return rc;
    }
    n->sm.applied_slot = snap->slot;
    n->snapshot_slot = snap->slot;
    return BALLOT_OK;
}

void snapshots_deliver(sim_t *sim, uint32_t id, uint64_t incarnation, uint32_t from)
{
    sim_node_t *n = &sim->nodes[id];
    if (n->core == NULL || n->incarnation != incarnation || sim->net.cut[from][id]) {
        return;
    }
    snapshot_t snap;
    bool found = false;
    if (snapshots_read(sim, from, &snap, &found) != BALLOT_OK || !found) {
        return;
    }
    node_status_t st;
    node_get_status(n->core, sim_node_local(sim, id), &st);
    if (snap.slot > st.chosen_upto && snap.slot > n->sm.applied_slot &&
        snapshots_restore(sim, id, from, &snap) == BALLOT_OK) {
        uint64_t compact_slot = 0;
        if (snapshots_write(sim, id, snap.slot, snap.bytes, snap.size, &compact_slot) ==
            BALLOT_OK) {
            sim->stats.snapshots_installed++;
            sim->checker.next_apply[id] = snap.slot + 1;
            sim_note(sim, id, "installed n%u's snapshot at slot %" PRIu64, from, snap.slot);
            node_snapshot_installed(n->core, snap.slot, &n->sm.cs, sim_node_local(sim, id));
            if (compact_slot > 0 && wal_compact(n->disk.wal, compact_slot) != BALLOT_OK) {
                snapshot_free(&snap);
                sim_crash_node(sim, id, "wal_compact failed: node stops");
                return;
            }
        }
    }
    snapshot_free(&snap);
    if (!sim->failed) {
        sim_after_input(sim, id);
    }
}

int snapshots_recover_read(sim_t *sim, uint32_t id, snapshot_t *snap, bool *found)
{
    *found = false;
    memset(snap, 0, sizeof(*snap));
    if (sim->snapshot_every == 0) {
        return BALLOT_OK;
    }
    return snapshots_read(sim, id, snap, found);
}

void snapshots_recover_restore(sim_t *sim, uint32_t id, const snapshot_t *snap)
{
    if (snapshots_restore(sim, id, id, snap) == BALLOT_OK) {
        sim->stats.snapshots_recovered++;
        sim->checker.next_apply[id] = snap->slot + 1;
    }
}
