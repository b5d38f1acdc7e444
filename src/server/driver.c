/* The core's driver loop (docs/core.md "Outputs and persist-then-reply"):
 *   records  -> the storage thread (one fdatasync per round); node_persisted() when durable
 *   messages -> peers (the core released only what is safe to send)
 *   applies  -> the kv, in slot order; results to the clients that asked; CONFIG values
 *               to the membership (members.c), which the peer table follows
 *   reads    -> answered after the applies before them
 *   replies  -> refusals to clients
 *   events   -> the trace ring (always) and the trace file (--trace) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"
#include "server/server_internal.h"

static bool driver_backlog_push(server_t *srv, persist_record_t *records, size_t count)
{
    if (srv->backlog_count + count > SERVER_BACKLOG_RECORDS_MAX) {
        return false;
    }
    if (srv->backlog_count + count > srv->backlog_cap) {
        size_t cap = srv->backlog_cap == 0 ? 64u : srv->backlog_cap;
        while (cap < srv->backlog_count + count) {
            cap *= 2;
        }
        persist_record_t *grown = realloc(srv->backlog, cap * sizeof(*grown));
        if (grown == NULL) {
            return false;
        }
        srv->backlog = grown;
        srv->backlog_cap = cap;
    }
    /* Take ownership of the values: the outputs must not free them. */
    for (size_t i = 0; i < count; i++) {
        srv->backlog[srv->backlog_count++] = records[i];
        records[i].value = value_noop();
    }
    return true;
}

static void driver_backlog_flush(server_t *srv)
{
    if (srv->backlog_count == 0) {
        return;
    }
    int rc = wal_committer_submit(srv->committer, srv->backlog, srv->backlog_count);
    if (rc == BALLOT_EBUSY) {
        return;
    }
    if (rc != BALLOT_OK) {
        server_fatal(srv, "the WAL refused records: %s", ballot_strerror(rc));
        return;
    }
    for (size_t i = 0; i < srv->backlog_count; i++) {
        value_free(&srv->backlog[i].value);
    }
    srv->backlog_count = 0;
}

static void driver_persist(server_t *srv, node_outputs_t *out)
{
    if (srv->backlog_count == 0) {
        int rc = wal_committer_submit(srv->committer, out->records, out->record_count);
        if (rc == BALLOT_OK) {
            return;
        }
        if (rc != BALLOT_EBUSY) {
            server_fatal(srv, "the WAL refused records: %s", ballot_strerror(rc));
            return;
        }
    }
    /* The committer's queue is full: park the records, in order, until it drains. */
    if (!driver_backlog_push(srv, out->records, out->record_count)) {
        server_fatal(srv, "persist backlog over its bound (%u records)",
                     SERVER_BACKLOG_RECORDS_MAX);
    }
}

void driver_on_durable(server_t *srv)
{
    int err = atomic_load(&srv->storage_error);
    if (err == BALLOT_EIO) {
        server_fatal(srv, "the disk failed: %s", srv->storage_message);
        return;
    }
    if (err == BALLOT_ENOSPC && !srv->disk_full) {
        srv->disk_full = true;
        log_error("disk full: %s; refusing writes until space is freed", srv->storage_message);
    }
    uint64_t seq = atomic_load(&srv->durable_seq);
    if (seq > srv->persisted_reported) {
        metrics_on_durable(srv, seq - srv->persisted_reported);
        srv->persisted_reported = seq;
        srv->stat_fsync_rounds++;
        if (srv->disk_full) {
            srv->disk_full = false;
            atomic_store(&srv->storage_error, BALLOT_OK);
            log_info("the disk has room again; accepting writes");
        }
        node_persisted(srv->node, seq, server_now_ms());
    }
    driver_backlog_flush(srv);
    server_rejoin_progress(srv);
}

static void driver_on_result(void *ctx, const command_t *command, const kv_result_t *result)
{
    clients_on_apply_result(ctx, command, result);
}

static void driver_apply(server_t *srv, const apply_t *apply)
{
    if (apply->slot <= srv->applied_slot) {
        return; /* covered by a snapshot installed meanwhile */
    }
    if (apply->slot != srv->applied_slot + 1) {
        server_fatal(srv, "applies out of order: slot %llu after %llu",
                     (unsigned long long)apply->slot, (unsigned long long)srv->applied_slot);
        return;
    }
    if (members_on_apply(srv, apply)) {
        /* A membership change: the membership's, never the kv's. */
        srv->applied_slot = apply->slot;
        return;
    }
    uint32_t applied = 0;
    int rc = kv_apply_batch(srv->kv, &apply->value, driver_on_result, srv, &applied);
    if (rc != BALLOT_OK) {
        server_fatal(srv, "cannot apply slot %llu: %s", (unsigned long long)apply->slot,
                     ballot_strerror(rc));
        return;
    }
    srv->applied_slot = apply->slot;
    srv->applied_bytes_since_snapshot += apply->value.size;
}

static void driver_log_event(const event_t *e)
{
    char b1[BALLOT_TEXT_BYTES];
    char b2[BALLOT_TEXT_BYTES];
    switch (e->kind) {
    case EVENT_LEADER_ELECTED:
        log_info("elected leader at %s", ballot_format(e->ballot, b1, sizeof(b1)));
        break;
    case EVENT_STEPPED_DOWN:
        if (e->reason == STEP_DOWN_SUPERSEDED) {
            log_info("stepped down from %s: superseded by %s",
                     ballot_format(e->ballot, b1, sizeof(b1)),
                     ballot_format(e->other_ballot, b2, sizeof(b2)));
        } else {
            log_info("stepped down from %s: %s", ballot_format(e->ballot, b1, sizeof(b1)),
                     e->reason == STEP_DOWN_NO_QUORUM  ? "no majority heard"
                     : e->reason == STEP_DOWN_TRANSFER ? "leadership handed over"
                                                       : "other reason");
        }
        break;
    case EVENT_ELECTION_TIMEOUT:
        log_info("no live leader heard within the election timeout; starting an election");
        break;
    case EVENT_RECOVERED:
        log_info("recovered from disk: promised %s", ballot_format(e->ballot, b1, sizeof(b1)));
        break;
    case EVENT_LEASE_ACQUIRED:
        log_debug("lease acquired at %s until %llu", ballot_format(e->ballot, b1, sizeof(b1)),
                  (unsigned long long)e->until_ms);
        break;
    case EVENT_LEASE_EXPIRED:
        log_debug("lease expired at %s", ballot_format(e->ballot, b1, sizeof(b1)));
        break;
    case EVENT_BACKOFF:
        log_debug("backing off %llu ms", (unsigned long long)e->duration_ms);
        break;
    default:
        break;
    }
}

static void driver_events(server_t *srv, node_outputs_t *out)
{
    /* The core runs on the monotonic clock; traces carry wall-clock milliseconds so that
     * `ballot trace` can merge the files of nodes on different machines. */
    for (size_t i = 0; i < out->event_count; i++) {
        out->events[i].time_ms += srv->trace_clock_offset_ms;
        if (out->events[i].until_ms != 0) {
            out->events[i].until_ms += srv->trace_clock_offset_ms;
        }
    }
    trace_ring_push_all(srv->ring, out->events, out->event_count);
    metrics_on_events(srv, out->events, out->event_count);
    for (size_t i = 0; i < out->event_count; i++) {
        driver_log_event(&out->events[i]);
    }
    if (srv->trace != NULL &&
        trace_writer_write_all(srv->trace, out->events, out->event_count) != BALLOT_OK) {
        log_error("trace file write failed; tracing stops (the node carries on)");
        trace_writer_close(srv->trace);
        srv->trace = NULL;
    }
}

static bool driver_outputs_empty(const node_outputs_t *out)
{
    return out->record_count == 0 && out->message_count == 0 && out->apply_count == 0 &&
           out->reply_count == 0 && out->read_count == 0 && out->event_count == 0 &&
           out->snapshot_wanted_slot == 0 && !out->failed;
}

void driver_process_outputs(server_t *srv)
{
    node_outputs_t *out = node_outputs(srv->node);
    if (driver_outputs_empty(out)) {
        return;
    }
    if (out->failed) {
        server_fatal(srv, "the core could not queue a record (out of memory)");
        return;
    }
    if (out->record_count > 0) {
        srv->last_record_seq = out->records[out->record_count - 1].seq;
        driver_persist(srv, out);
    }
    for (size_t i = 0; i < out->message_count; i++) {
        peers_send(srv, &out->messages[i]);
    }
    for (size_t i = 0; i < out->apply_count && !srv->stopping; i++) {
        driver_apply(srv, &out->applies[i]);
    }
    if (out->apply_count > 0) {
        members_sync(srv);
    }
    for (size_t i = 0; i < out->read_count; i++) {
        clients_on_read_result(srv, &out->reads[i]);
    }
    for (size_t i = 0; i < out->reply_count; i++) {
        clients_on_client_reply(srv, &out->replies[i]);
    }
    driver_events(srv, out);
    if (out->snapshot_wanted_slot != 0) {
        snapshots_on_wanted(srv, out->snapshot_wanted_slot, out->snapshot_wanted_from);
    }
    node_outputs_clear(srv->node);
    server_rejoin_progress(srv);
}

bool driver_outputs_pending(server_t *srv)
{
    return !driver_outputs_empty(node_outputs(srv->node));
}

void driver_arm_node_timer(server_t *srv)
{
    uint64_t deadline = node_next_deadline(srv->node);
    if (deadline == srv->node_timer_deadline) {
        return;
    }
    srv->node_timer_deadline = deadline;
    if (deadline == UINT64_MAX) {
        net_timer_disarm(srv->node_timer);
        return;
    }
    uint64_t now = server_now_ms();
    net_timer_arm(srv->node_timer, deadline > now ? deadline - now : 0);
}

static void driver_leader_text(uint32_t leader, ballot_t ballot, char *buf, size_t buf_bytes)
{
    char b[BALLOT_TEXT_BYTES];
    if (leader == NODE_NONE) {
        snprintf(buf, buf_bytes, "unknown");
    } else if (ballot_is_none(ballot)) {
        snprintf(buf, buf_bytes, "n%u", leader);
    } else {
        snprintf(buf, buf_bytes, "n%u at %s", leader, ballot_format(ballot, b, sizeof(b)));
    }
}

void driver_log_status_changes(server_t *srv)
{
    uint64_t now = server_now_ms();
    node_status_t st;
    node_get_status(srv->node, now, &st);
    if (st.leader == srv->logged_leader && ballot_equal(st.leader_ballot, srv->logged_ballot) &&
        st.role == srv->logged_role) {
        return;
    }
    char now_text[BALLOT_TEXT_BYTES + 16];
    char was_text[BALLOT_TEXT_BYTES + 16];
    driver_leader_text(st.leader, st.leader_ballot, now_text, sizeof(now_text));
    driver_leader_text(srv->logged_leader, srv->logged_ballot, was_text, sizeof(was_text));
    if (st.leader != srv->logged_leader || !ballot_equal(st.leader_ballot, srv->logged_ballot)) {
        log_info("leader is %s (was %s); this node is %s", now_text, was_text,
                 node_role_name(st.role));
        if (st.leader != NODE_NONE) {
            /* Commands forwarded to a leader that is gone may be lost: send them again (the
             * kv client table applies each once). */
            clients_resubmit_all(srv, now);
        }
        srv->leader_changed_ms = now;
        metrics_on_leader_change(srv);
    } else {
        log_debug("this node is %s", node_role_name(st.role));
    }
    srv->logged_leader = st.leader;
    srv->logged_ballot = st.leader_ballot;
    srv->logged_role = st.role;
}
