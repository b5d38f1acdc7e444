#include "core/check.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim/node_driver.h"
#include "sim/sim.h"

static void driver_schedule_tick(sim_t *sim, uint32_t id)
{
    sim_node_t *n = &sim->nodes[id];
    uint64_t deadline = node_next_deadline(n->core);
    if (deadline == UINT64_MAX) {
        n->tick_gen++;
        n->tick_at_ms = UINT64_MAX;
        return;
    }
    uint64_t at = clock_true_at(&n->clock, sim->now_ms, deadline);
    if (at <= sim->now_ms) {
        at = sim->now_ms + 1;
    }
    if (at != n->tick_at_ms) {
        n->tick_gen++;
        n->tick_at_ms = at;
        sim_schedule(sim, at - sim->now_ms, SIM_EV_TICK, id, n->tick_gen, 0);
    }
}

static void driver_start_sync(sim_t *sim, uint32_t id)
{
    sim_node_t *n = &sim->nodes[id];
    if (!disk_sync_start(&n->disk)) {
        return;
    }
    uint64_t latency = prng_chance(&sim->rng, 0.9)
                           ? prng_below(&sim->rng, SIM_SYNC_MS_MAX + 1)
                           : prng_range(&sim->rng, SIM_SYNC_MS_MAX, SIM_SLOW_SYNC_MS_MAX);
    sim_schedule(sim, latency, SIM_EV_SYNC_DONE, id, n->incarnation, n->disk.sync_id);
}

static void driver_apply(sim_t *sim, uint32_t id, const apply_t *a)
{
    sm_t *sm = &sim->nodes[id].sm;
    if (a->slot != sm->cs.applied_slot + 1) {
        sim_fail(sim, "prefix consistency",
                 "n%u applies slot %" PRIu64 " but its configuration state is at slot %" PRIu64, id,
                 a->slot, sm->cs.applied_slot);
        return;
    }
    (void)config_state_apply(&sm->cs, a->slot, &a->value);
    if (a->value.kind == VALUE_BATCH) {
        batch_iter_t it;
        command_t cmd;
        /* State-machine time follows the leader's stamps, as in ballotd (kv_apply_batch):
         * the digests the agreement checker compares include it. */
        kv_advance_time(sm->kv, batch_stamp(&a->value));
        batch_iter_init(&it, &a->value);
        while (batch_iter_next(&it, &cmd) && !sim->failed) {
#ifdef BALLOT_SIM_PLANT_KV_DROPS_WRITE
            /* Planted bug: node 2's state machine loses client 1's third command. */
            if (id == 2 && cmd.client_id == 1 && cmd.sequence == 3) {
                continue;
            }
#endif
            sm_result_t result;
            int err = sm_apply(sm, &cmd, &result);
            if (err != BALLOT_OK) {
                sim_fail(sim, "validity",
                         "n%u's state machine refused command %" PRIu64 ":%" PRIu64
                         " of slot %" PRIu64 ": %s",
                         id, cmd.client_id, cmd.sequence, a->slot, ballot_strerror(err));
                return;
            }
            clients_on_result(sim, id, a->slot, cmd.client_id, cmd.sequence, &result);
        }
    }
    sm->applied_slot = a->slot;
    checker_on_apply(sim, id, a->slot, &a->value);
}

/* Empties the node's state machine (a process that starts again starts empty). */
static void driver_reset_sm(sim_t *sim, uint32_t id)
{
    sm_t *sm = &sim->nodes[id].sm;
    char err[128];
    sm_destroy(sm);
    if (sm_init(sm, prng_next(&sim->rng), &sim->founding, err, sizeof(err)) != BALLOT_OK) {
        sim_fail(sim, "simulator", "n%u: cannot create its state machine: %s", id, err);
    }
}

static void driver_events(sim_t *sim, uint32_t id, const node_outputs_t *out)
{
    for (size_t i = 0; i < out->event_count; i++) {
        const event_t *ev = &out->events[i];
        tracelog_event(&sim->log, sim->now_ms, ev);
        if (ev->kind == EVENT_LEADER_ELECTED) {
            sim->stats.elections++;
        }
        checker_on_event(sim, id, ev);
    }
}

/* Handles one batch of outputs; returns the seq of the last record written (0: none). */
static uint64_t driver_drain(sim_t *sim, uint32_t id, node_outputs_t *out)
{
    sim_node_t *n = &sim->nodes[id];
    uint64_t last_seq = 0;
    for (size_t i = 0; i < out->record_count; i++) {
        checker_on_written(sim, id, &out->records[i]);
        int err = disk_append(&n->disk, &out->records[i]);
        if (err != BALLOT_OK) {
            sim_fail(sim, "simulator", "n%u's disk refused a record: %s", id, ballot_strerror(err));
            return 0;
        }
        last_seq = out->records[i].seq;
    }
    for (size_t i = 0; i < out->message_count; i++) {
        checker_on_sent(sim, id, &out->messages[i]);
        network_send(sim, &out->messages[i]);
    }
    for (size_t i = 0; i < out->apply_count && !sim->failed; i++) {
#ifdef BALLOT_SIM_PLANT_SKIP_APPLY
        /* Planted bug: node 2 applies slot 5 as if it were a no-op. */
        if (id == 2 && out->applies[i].slot == 5) {
            apply_t skipped = {.slot = 5, .value = value_noop()};
            driver_apply(sim, id, &skipped);
            continue;
        }
#endif
        driver_apply(sim, id, &out->applies[i]);
    }
    for (size_t i = 0; i < out->reply_count; i++) {
        clients_on_reply(sim, id, &out->replies[i]);
    }
    for (size_t i = 0; i < out->read_count; i++) {
        clients_on_read(sim, id, &out->reads[i]);
    }
    driver_events(sim, id, out);
    if (out->snapshot_wanted_slot != 0) {
        if (sim->snapshot_every == 0) {
            sim_fail(sim, "simulator",
                     "n%u wants a snapshot up to %" PRIu64 " but nothing was compacted", id,
                     out->snapshot_wanted_slot);
        } else {
            snapshots_on_wanted(sim, id, out->snapshot_wanted_slot, out->snapshot_wanted_from);
        }
    }
    return last_seq;
}

/* The rejoin is over once the core votes again and what it adopted is synced. */
static void driver_rejoin_progress(sim_t *sim, uint32_t id)
{
    sim_disk_t *d = &sim->nodes[id].disk;
    if (d->needs_rejoin && !sim->checker.seen_rejoining[id] && disk_idle(d)) {
        d->needs_rejoin = false;
        sim_note(sim, id, "rejoined: acceptor again");
    }
}

void sim_after_input(sim_t *sim, uint32_t id)
{
    sim_node_t *n = &sim->nodes[id];
    if (n->core == NULL) {
        return;
    }
    for (unsigned round = 0; round < DRIVER_DRAIN_ROUNDS_MAX; round++) {
        node_outputs_t *out = node_outputs(n->core);
        if (out->failed) {
            node_outputs_clear(n->core);
            sim_crash_node(sim, id, "core could not queue a record: node stops");
            return;
        }
        uint64_t last_seq = driver_drain(sim, id, out);
        node_outputs_clear(n->core);
        if (sim->failed) {
            return;
        }
#ifdef BALLOT_SIM_PLANT_PERSIST_BEFORE_SYNC
        /* Planted bug: the driver reports records durable as soon as they are written. */
        if (last_seq != 0) {
            node_persisted(n->core, last_seq, sim_node_local(sim, id));
            continue;
        }
#else
        (void)last_seq;
#endif
        break;
    }
    snapshots_after_input(sim, id);
    if (n->core == NULL || sim->failed) {
        return;
    }
    driver_start_sync(sim, id);
    checker_after_input(sim, id);
    driver_rejoin_progress(sim, id);
    driver_schedule_tick(sim, id);
}

/* As ballotd's storage thread: a disk idle for SIM_SEAL_DELAY_MS since its last sync records
 * that sync's end. Nothing else touches an idle disk, so the record is written when the
 * disk is next looked at (a timer tick, a crash, a bit flip) rather than at an agenda entry
 * of its own: same bytes, same draws. Returns the WAL's error (BALLOT_EIO: it stopped). */
static int driver_settle_disk(sim_t *sim, uint32_t id)
{
    sim_node_t *n = &sim->nodes[id];
    if (n->core == NULL || n->disk.wal == NULL || !disk_idle(&n->disk) ||
        !wal_synced_end_behind(n->disk.wal) ||
        sim->now_ms < n->disk.synced_at_ms + SIM_SEAL_DELAY_MS) {
        return BALLOT_OK;
    }
    int err = disk_record_synced_end(&n->disk);
    if (err != BALLOT_OK && err != BALLOT_EIO) {
        sim_fail(sim, "simulator", "n%u: wal_record_synced_end: %s (%s)", id, ballot_strerror(err),
                 wal_error(n->disk.wal));
    }
    return err;
}

void driver_disk_settle(sim_t *sim, uint32_t id)
{
    if (driver_settle_disk(sim, id) == BALLOT_EIO) {
        sim->stats.fsync_failures++;
        sim_crash_node(sim, id, "fsync failed: node stops");
    }
}

void driver_tick(sim_t *sim, uint32_t id, uint64_t gen)
{
    sim_node_t *n = &sim->nodes[id];
    if (n->core == NULL || gen != n->tick_gen) {
        return;
    }
    n->tick_at_ms = UINT64_MAX;
    driver_disk_settle(sim, id);
    if (n->core == NULL) {
        return; /* the seal's fdatasync failed: the node stopped */
    }
    node_tick(n->core, sim_node_local(sim, id));
    sim_after_input(sim, id);
}

typedef struct durable_ctx {
    sim_t *sim;
    uint32_t id;
} durable_ctx_t;

static void driver_observe_durable(void *user, const persist_record_t *record)
{
    durable_ctx_t *ctx = user;
    checker_on_durable(ctx->sim, ctx->id, record);
}

void driver_sync_done(sim_t *sim, uint32_t id, bool fail)
{
    sim_node_t *n = &sim->nodes[id];
    durable_ctx_t ctx = {.sim = sim, .id = id};
    uint64_t seq = 0;
    int err = disk_sync(&n->disk, fail, driver_observe_durable, &ctx, &seq);
    if (err == BALLOT_EIO) {
        /* The page cache cannot be trusted after a failed fsync: stop, never retry. */
        sim->stats.fsync_failures++;
        sim_crash_node(sim, id, "fsync failed: node stops");
        return;
    }
    if (err != BALLOT_OK) {
        sim_fail(sim, "simulator", "n%u: wal_sync: %s (%s)", id, ballot_strerror(err),
                 wal_error(n->disk.wal));
        return;
    }
    if (sim->failed) {
        return;
    }
    node_persisted(n->core, seq, sim_node_local(sim, id));
    n->disk.synced_at_ms = sim->now_ms;
    sim_after_input(sim, id);
}

typedef struct recover_ctx {
    sim_t *sim;
    uint32_t id;
    node_t *core;
} recover_ctx_t;

static int driver_replay(void *user, const persist_record_t *record)
{
    recover_ctx_t *ctx = user;
    /* What the WAL recovers is durable now, synced before the crash or not. */
    checker_on_recovered(ctx->sim, ctx->id, record);
#ifdef BALLOT_SIM_PLANT_DROP_PROMISE_RECORDS
    /* Planted bug: recovery forgets the promises. */
    if (record->kind == PERSIST_PROMISE) {
        return 0;
    }
#endif
#ifdef BALLOT_SIM_PLANT_FORGET_ACCEPTS
    /* Planted bug: recovery keeps the promise an ACCEPT implies but forgets the vote. */
    if (record->kind == PERSIST_ACCEPT) {
        persist_record_t promise = {
            .kind = PERSIST_PROMISE, .seq = record->seq, .ballot = record->ballot};
        return node_recover(ctx->core, &promise);
    }
#endif
    return node_recover(ctx->core, record);
}

static node_t *driver_create_core(sim_t *sim, uint32_t id)
{
    node_config_t cfg = sim->config;
    cfg.id = id;
    /* A node that did not found the cluster joins it: it learns the membership from the
     * log or a snapshot, like a ballotd started with --join. */
    cfg.node_count = id <= sim->founders ? sim->founders : 0;
    cfg.seed = prng_next(&sim->rng);
    node_t *core = NULL;
    int err = node_create(&core, &cfg);
    if (err != BALLOT_OK) {
        sim_fail(sim, "simulator", "node_create(n%u): %s", id, ballot_strerror(err));
        return NULL;
    }
    return core;
}

/* Opens the node's WAL, replaying it into *core. Returns true when the node must rejoin
 * (its WAL was corrupt, or an earlier rejoin did not finish): *core is then a fresh one. */
static bool driver_recover(sim_t *sim, uint32_t id, node_t **core, uint64_t snap_slot,
                           const config_state_t *snap_cs)
{
    sim_node_t *n = &sim->nodes[id];
    recover_ctx_t ctx = {.sim = sim, .id = id, .core = *core};
    disk_open_result_t result = DISK_OPEN_OK;
    char msg[WAL_MESSAGE_BYTES];
    int err = disk_open(&n->disk, driver_replay, &ctx, &result, msg, sizeof(msg));
    if (err != BALLOT_OK) {
        sim_fail(sim, "simulator", "n%u: recovery failed: %s (%s)", id, ballot_strerror(err), msg);
        return false;
    }
    if (result == DISK_OPEN_TORN) {
        sim_note(sim, id, "%s", msg);
    }
    if (result == DISK_OPEN_OK || result == DISK_OPEN_TORN) {
        sim->faults.corrupt_pending[id] = false;
        return false;
    }
    if (result == DISK_OPEN_CORRUPT) {
        sim->stats.corrupt_detected++;
        sim_note(sim, id, "%s: log discarded, node rejoins", msg);
    } else {
        sim_note(sim, id, "an earlier rejoin did not finish: log discarded, node rejoins");
    }
    checker_on_wipe(sim, id);
    sim->faults.corrupt_pending[id] = false;
    node_destroy(*core);
    *core = driver_create_core(sim, id);
    if (*core != NULL && snap_slot != 0) {
        /* Like ballotd: the snapshot holds only chosen state, so a rejoin keeps it. */
        node_recover_snapshot(*core, snap_slot, snap_cs);
    }
    return true;
}

/* Slots the core counts as applied right after recovery without handing them out again
 * are rebuilt from its log (above the restored snapshot, if any). */
static void driver_rebuild(sim_t *sim, uint32_t id)
{
    sim_node_t *n = &sim->nodes[id];
    node_status_t st;
    node_get_status(n->core, sim_node_local(sim, id), &st);
    for (uint64_t slot = n->sm.applied_slot + 1; slot <= st.applied_upto && !sim->failed; slot++) {
        const value_t *v = node_chosen_value(n->core, slot);
        if (v == NULL) {
            sim_fail(sim, "simulator",
                     "n%u counts slot %" PRIu64 " applied after recovery but holds no value", id,
                     slot);
            return;
        }
        apply_t a = {.slot = slot, .value = *v};
        driver_apply(sim, id, &a);
    }
}

void driver_start(sim_t *sim, uint32_t id, bool first_boot)
{
    sim_node_t *n = &sim->nodes[id];
    assert(n->core == NULL);
    node_t *core = driver_create_core(sim, id);
    if (core == NULL) {
        return;
    }
    snapshot_t snap;
    bool snap_found = false;
    if (snapshots_recover_read(sim, id, &snap, &snap_found) != BALLOT_OK) {
        node_destroy(core);
        return;
    }
    /* The snapshot's slots come first, then the WAL's records (as ballotd recovers). */
    config_state_t snap_cs;
    memset(&snap_cs, 0, sizeof(snap_cs));
    if (snap_found && !sm_snapshot_config(snap.bytes, snap.size, &snap_cs)) {
        sim_fail(sim, "simulator", "n%u's snapshot at slot %" PRIu64 " has no configuration", id,
                 snap.slot);
        snapshot_free(&snap);
        node_destroy(core);
        return;
    }
    if (snap_found) {
        node_recover_snapshot(core, snap.slot, &snap_cs);
    }
    bool rejoin = driver_recover(sim, id, &core, snap_found ? snap.slot : 0, &snap_cs);
    if (sim->failed || core == NULL) {
        if (core != NULL) {
            node_destroy(core);
        }
        if (snap_found) {
            snapshot_free(&snap);
        }
        return;
    }
    n->core = core;
    n->starts++;
    n->rejoins += rejoin ? 1 : 0;
    driver_reset_sm(sim, id);
    n->snapshot_slot = 0;
    if (!first_boot) {
        sim_note(sim, id, "restart%s", rejoin ? " with rejoin (disk lost)" : " from disk");
    }
    node_start(core, sim_node_local(sim, id), rejoin);
    checker_on_start(sim, id, rejoin);
    if (snap_found) {
        snapshots_recover_restore(sim, id, &snap);
        snapshot_free(&snap);
        if (sim->failed) {
            return;
        }
    }
    sim_after_input(sim, id);
    if (n->core != NULL && !sim->failed) {
        driver_rebuild(sim, id);
    }
}

void sim_restart_node(sim_t *sim, uint32_t id)
{
    if (sim->nodes[id].core == NULL) {
        driver_start(sim, id, false);
    }
}

void driver_stop(sim_t *sim, uint32_t id)
{
    sim_node_t *n = &sim->nodes[id];
    if (n->core == NULL) {
        return;
    }
    node_destroy(n->core);
    n->core = NULL;
    n->incarnation++;
    checker_on_restart(&sim->checker, id);
    n->tick_gen++;
    n->tick_at_ms = UINT64_MAX;
    sm_destroy(&n->sm);
}

void sim_crash_node(sim_t *sim, uint32_t id, const char *why)
{
    sim_node_t *n = &sim->nodes[id];
    if (n->core == NULL) {
        return;
    }
    (void)driver_settle_disk(sim, id); /* a failure leaves the disk as it was */
    node_destroy(n->core);
    n->core = NULL;
    n->incarnation++;
    checker_on_restart(&sim->checker, id);
    n->tick_gen++;
    n->tick_at_ms = UINT64_MAX;
    bool may_damage = faults_may_damage_disk(sim, id);
    double torn = sim->phase == SIM_PHASE_FAULTS ? sim->opt.torn : 0.0;
    simio_crash_result_t r = disk_crash(&n->disk, &sim->rng, torn, may_damage);
    if (r == SIMIO_CRASH_GARBAGE) {
        sim->faults.corrupt_pending[id] = true;
    }
    if (r != SIMIO_CRASH_CLEAN) {
        sim->stats.torn_crashes++;
    }
    sm_destroy(&n->sm);
    sim->stats.crashes++;
    sim_note(sim, id, "%s%s", why,
             r == SIMIO_CRASH_GARBAGE ? " (torn tail with garbage)"
                                      : (r == SIMIO_CRASH_TORN ? " (torn tail)" : ""));
    sim_schedule(sim, prng_range(&sim->rng, 50, 3000), SIM_EV_RESTART, id, n->incarnation, 0);
}
