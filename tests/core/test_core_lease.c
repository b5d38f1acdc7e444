/* Lease and read rules (docs/design.md step 6): a lease counted from the send time of a
 * heartbeat a majority answered, minus the drift bound; lease reads only with a lease and
 * the leader's own no-op chosen; otherwise a quorum round (read-index). */
#include "test_util.h"

#define LEAD 1u

static uint64_t send_time_of_heartbeat;

/* Node 1 elected; the heartbeat of the election is held in the network. */
static void elected_without_acks(harness_t *h)
{
    quiet_harness(h, 3);
    h->now_ms += 1000;
    node_tick(h->nodes[LEAD].node, h->now_ms);
    harness_collect(h, LEAD);
    harness_deliver(h, LEAD, 2, MSG_PREPARE);
    harness_deliver(h, LEAD, 3, MSG_PREPARE);
    harness_deliver(h, 2, LEAD, MSG_PROMISE);
    harness_deliver(h, 3, LEAD, MSG_PROMISE);
    assert_int_equal(status_of(h, LEAD).role, ROLE_LEADER);
    send_time_of_heartbeat = h->now_ms;
}

static void deliver_heartbeats(harness_t *h)
{
    while (harness_deliver(h, LEAD, HARNESS_ANY, MSG_HEARTBEAT)) {
    }
    while (harness_deliver(h, HARNESS_ANY, LEAD, MSG_HEARTBEAT_ACK)) {
    }
}

/* Safety rule: no lease read without a lease. */
static void test_no_lease_read_before_a_majority_answered(void **state)
{
    (void)state;
    harness_t h;
    elected_without_acks(&h);
    /* The no-op is chosen; the heartbeats stay unanswered for now. */
    while (harness_deliver(&h, LEAD, HARNESS_ANY, MSG_ACCEPT)) {
    }
    while (harness_deliver(&h, HARNESS_ANY, LEAD, MSG_ACCEPTED)) {
    }
    assert_true(status_of(&h, LEAD).chosen_upto >= 1); /* own no-op chosen */
    assert_false(node_serves_lease_reads(h.nodes[LEAD].node, h.now_ms));
    assert_false(status_of(&h, LEAD).lease_held);
    node_read(h.nodes[LEAD].node, 7, h.now_ms);
    harness_collect(&h, LEAD);
    assert_int_equal(h.nodes[LEAD].read_count, 0); /* waits for a quorum round */
    deliver_heartbeats(&h);
    assert_int_equal(h.nodes[LEAD].read_count, 1);
    assert_true(h.nodes[LEAD].reads[0].ok);
    assert_int_equal(h.nodes[LEAD].reads[0].read_id, 7);
    harness_free(&h);
}

/* Lease reads wait for the leader's own no-op to be chosen (and applied). */
static void test_no_lease_read_before_own_noop_chosen(void **state)
{
    (void)state;
    harness_t h;
    elected_without_acks(&h);
    deliver_heartbeats(&h);
    node_status_t st = status_of(&h, LEAD);
    assert_true(st.lease_until_ms > h.now_ms);
    assert_false(node_serves_lease_reads(h.nodes[LEAD].node, h.now_ms));
    node_read(h.nodes[LEAD].node, 8, h.now_ms);
    harness_collect(&h, LEAD);
    assert_int_equal(h.nodes[LEAD].read_count, 0);
    harness_deliver_all(&h);
    assert_true(node_serves_lease_reads(h.nodes[LEAD].node, h.now_ms));
    assert_int_equal(h.nodes[LEAD].read_count, 1);
    assert_true(h.nodes[LEAD].reads[0].ok);
    harness_free(&h);
}

/* The lease runs from the send time of the answered heartbeat, minus the drift bound. */
static void test_lease_ends_at_send_plus_lease_minus_drift(void **state)
{
    (void)state;
    harness_t h;
    elected_without_acks(&h);
    uint64_t sent = send_time_of_heartbeat;
    h.now_ms += 30; /* the acks arrive later; the lease still counts from the send */
    deliver_heartbeats(&h);
    const node_config_t *cfg = &h.nodes[LEAD].cfg;
    uint64_t end = sent + cfg->lease_ms - cfg->clock_drift_ms;
    assert_int_equal(status_of(&h, LEAD).lease_until_ms, end);
    assert_non_null(last_event(&h, LEAD, EVENT_LEASE_ACQUIRED));
    /* The own no-op is chosen now; the commit notice (a heartbeat sent now) is lost, so
     * it does not move the lease: only an answered heartbeat counts. */
    while (harness_deliver(&h, LEAD, HARNESS_ANY, MSG_ACCEPT)) {
    }
    while (harness_deliver(&h, HARNESS_ANY, LEAD, MSG_ACCEPTED)) {
    }
    assert_true(harness_count(&h, LEAD, HARNESS_ANY, MSG_HEARTBEAT) > 0);
    harness_drop_all(&h, LEAD, HARNESS_ANY, MSG_HEARTBEAT);
    harness_deliver_all(&h);
    assert_int_equal(status_of(&h, LEAD).lease_until_ms, end);
    assert_true(node_serves_lease_reads(h.nodes[LEAD].node, end - 1));
    assert_false(node_serves_lease_reads(h.nodes[LEAD].node, end));
    /* A read at the lease's end goes through a quorum round instead. */
    h.now_ms = end;
    node_read(h.nodes[LEAD].node, 9, h.now_ms);
    harness_collect(&h, LEAD);
    size_t reads = h.nodes[LEAD].read_count;
    assert_non_null(harness_peek(&h, LEAD, 2, MSG_HEARTBEAT));
    harness_deliver_all(&h);
    assert_int_equal(h.nodes[LEAD].read_count, reads + 1);
    harness_free(&h);
}

static void test_lease_read_is_immediate_with_a_lease(void **state)
{
    (void)state;
    harness_t h;
    elected_without_acks(&h);
    harness_deliver_all(&h);
    harness_submit(&h, LEAD, 1, 1, "X");
    harness_deliver_all(&h);
    node_read(h.nodes[LEAD].node, 10, h.now_ms);
    harness_collect(&h, LEAD);
    assert_int_equal(h.nodes[LEAD].read_count, 1);
    assert_true(h.nodes[LEAD].reads[0].ok);
    assert_int_equal(h.nodes[LEAD].reads[0].index, 2);
    assert_int_equal(harness_count(&h, LEAD, HARNESS_ANY, MSG_HEARTBEAT), 0);
    harness_free(&h);
}

static void test_lease_expires_without_renewal(void **state)
{
    (void)state;
    harness_t h;
    elected_without_acks(&h);
    harness_deliver_all(&h);
    assert_true(node_serves_lease_reads(h.nodes[LEAD].node, h.now_ms));
    h.cut[2][LEAD] = h.cut[3][LEAD] = true;
    for (int i = 0; i < 5; i++) {
        heartbeat_round(&h, LEAD);
    }
    assert_false(node_serves_lease_reads(h.nodes[LEAD].node, h.now_ms));
    assert_non_null(last_event(&h, LEAD, EVENT_LEASE_EXPIRED));
    harness_free(&h);
}

static void test_follower_read_goes_through_the_leader(void **state)
{
    (void)state;
    harness_t h;
    elected_without_acks(&h);
    harness_deliver_all(&h);
    harness_submit(&h, LEAD, 1, 1, "X");
    /* Slot 2 is chosen; the commit notice to node 2 is still on its way. */
    while (harness_deliver(&h, LEAD, HARNESS_ANY, MSG_ACCEPT)) {
    }
    while (harness_deliver(&h, HARNESS_ANY, LEAD, MSG_ACCEPTED)) {
    }
    assert_int_equal(status_of(&h, LEAD).chosen_upto, 2);
    assert_int_equal(status_of(&h, 2).applied_upto, 1);
    const msg_t *notice = harness_peek(&h, LEAD, 2, MSG_HEARTBEAT);
    assert_non_null(notice);
    assert_int_equal(notice->u.heartbeat.commit, 2);
    node_read(h.nodes[2].node, 11, h.now_ms);
    harness_collect(&h, 2);
    assert_non_null(harness_peek(&h, 2, LEAD, MSG_READ_INDEX));
    harness_deliver(&h, 2, LEAD, MSG_READ_INDEX);
    const msg_t *reply = harness_peek(&h, LEAD, 2, MSG_READ_INDEX_REPLY);
    assert_non_null(reply);
    assert_true(reply->u.read_index_reply.ok);
    assert_int_equal(reply->u.read_index_reply.index, 2);
    /* Node 2 has not applied slot 2 yet: the result waits for it. */
    harness_deliver(&h, LEAD, 2, MSG_READ_INDEX_REPLY);
    assert_int_equal(h.nodes[2].read_count, 0);
    harness_deliver(&h, LEAD, 2, MSG_HEARTBEAT);
    assert_int_equal(h.nodes[2].read_count, 1);
    assert_true(h.nodes[2].reads[0].ok);
    assert_int_equal(h.nodes[2].reads[0].index, 2);
    harness_free(&h);
}

static void test_read_without_a_known_leader_fails(void **state)
{
    (void)state;
    harness_t h;
    quiet_harness(&h, 3);
    node_read(h.nodes[2].node, 12, h.now_ms);
    harness_collect(&h, 2);
    assert_int_equal(h.nodes[2].read_count, 1);
    assert_false(h.nodes[2].reads[0].ok);
    assert_int_equal(h.nodes[2].reads[0].leader, NODE_NONE);
    harness_free(&h);
}

static void test_read_times_out_without_a_quorum(void **state)
{
    (void)state;
    harness_t h;
    elected_without_acks(&h);
    harness_deliver_all(&h);
    h.cut[2][LEAD] = h.cut[3][LEAD] = true;
    h.now_ms += 1000;
    node_read(h.nodes[LEAD].node, 13, h.now_ms);
    harness_collect(&h, LEAD);
    harness_deliver_all(&h);
    assert_int_equal(h.nodes[LEAD].read_count, 0);
    h.now_ms += h.nodes[LEAD].cfg.election_timeout_max_ms;
    node_tick(h.nodes[LEAD].node, h.now_ms);
    harness_collect(&h, LEAD);
    assert_int_equal(h.nodes[LEAD].read_count, 1);
    assert_false(h.nodes[LEAD].reads[0].ok);
    harness_free(&h);
}

/* A heartbeat sent for a commit renews the lease like any heartbeat: from its own send
 * time, once a majority answered it. */
static void test_commit_notice_counts_from_its_send_time(void **state)
{
    (void)state;
    harness_t h;
    elected_without_acks(&h);
    harness_deliver_all(&h);
    const node_config_t *cfg = &h.nodes[LEAD].cfg;
    uint64_t first_end = send_time_of_heartbeat + cfg->lease_ms - cfg->clock_drift_ms;
    assert_int_equal(status_of(&h, LEAD).lease_until_ms, first_end);
    h.now_ms += 40;
    uint64_t notice_sent = h.now_ms;
    harness_submit(&h, LEAD, 1, 1, "X");
    while (harness_deliver(&h, LEAD, HARNESS_ANY, MSG_ACCEPT)) {
    }
    while (harness_deliver(&h, HARNESS_ANY, LEAD, MSG_ACCEPTED)) {
    }
    assert_non_null(harness_peek(&h, LEAD, 2, MSG_HEARTBEAT));
    /* One ack (with the leader's own) is a majority of 3; it arrives 20 ms later. */
    h.now_ms += 20;
    harness_deliver(&h, LEAD, 2, MSG_HEARTBEAT);
    assert_int_equal(status_of(&h, LEAD).lease_until_ms, first_end);
    harness_deliver(&h, 2, LEAD, MSG_HEARTBEAT_ACK);
    assert_int_equal(status_of(&h, LEAD).lease_until_ms,
                     notice_sent + cfg->lease_ms - cfg->clock_drift_ms);
    harness_free(&h);
}

/* Under a stream of writes whose heartbeat acks are slow, commit notices stop at
 * COMMIT_HEARTBEATS_AHEAD_MAX (src/core/internal.h) heartbeats past the newest answered
 * one, so the acks the leader waits for stay in its history of 64; the commit still
 * reaches the followers on the next Accept, or once an ack arrives. */
#define COMMIT_HEARTBEATS_AHEAD 8u

static void test_commit_notices_stay_within_the_ack_history(void **state)
{
    (void)state;
    harness_t h;
    elected_without_acks(&h);
    harness_deliver_all(&h);
    size_t notices = 0;
    for (uint64_t seq = 1; seq <= 3 * COMMIT_HEARTBEATS_AHEAD; seq++) {
        harness_submit(&h, LEAD, 1, seq, "X");
        while (harness_deliver(&h, LEAD, 2, MSG_ACCEPT) ||
               harness_deliver(&h, LEAD, 3, MSG_ACCEPT)) {
        }
        while (harness_deliver(&h, HARNESS_ANY, LEAD, MSG_ACCEPTED)) {
        }
        notices += harness_count(&h, LEAD, 2, MSG_HEARTBEAT);
        while (harness_deliver(&h, LEAD, HARNESS_ANY, MSG_HEARTBEAT)) {
        }
        /* The acks stay on their way (slow). */
    }
    assert_int_equal(notices, COMMIT_HEARTBEATS_AHEAD);
    /* Every write but the last reached node 2 (on the next Accept or a notice). */
    uint64_t last = 3 * COMMIT_HEARTBEATS_AHEAD;
    assert_true(harness_applied_command(&h, 2, 1, last - 1));
    assert_false(harness_applied_command(&h, 2, 1, last));
    /* An ack arrives: the newest answered heartbeat moves on and the commit goes out. */
    assert_true(harness_deliver(&h, 2, LEAD, MSG_HEARTBEAT_ACK));
    const msg_t *notice = harness_peek(&h, LEAD, 2, MSG_HEARTBEAT);
    assert_non_null(notice);
    assert_int_equal(notice->u.heartbeat.commit, last + 1); /* slot 1 is the no-op */
    harness_deliver_all(&h);
    assert_true(harness_applied_command(&h, 2, 1, last));
    assert_int_equal(status_of(&h, LEAD).role, ROLE_LEADER);
    harness_free(&h);
}

/* Lease safety across leaders: while the old leader may still read alone, the others
 * refuse every challenger; once it is safe, a new leader may take over. */
static void test_no_new_leader_while_the_lease_runs(void **state)
{
    (void)state;
    harness_t h;
    elected_without_acks(&h);
    harness_deliver_all(&h);
    uint64_t lease_end = status_of(&h, LEAD).lease_until_ms;
    h.cut[LEAD][2] = h.cut[LEAD][3] = h.cut[2][LEAD] = h.cut[3][LEAD] = true;
    node_tick(h.nodes[2].node, h.now_ms + 1);
    harness_collect(&h, 2);
    harness_deliver_all(&h);
    assert_int_not_equal(status_of(&h, 2).role, ROLE_LEADER);
    for (uint64_t t = h.now_ms; t < lease_end + 1000; t += 10) {
        h.now_ms = t;
        node_tick(h.nodes[2].node, t);
        harness_collect(&h, 2);
        node_tick(h.nodes[3].node, t);
        harness_collect(&h, 3);
        harness_deliver_all(&h);
        bool old = node_serves_lease_reads(h.nodes[LEAD].node, t);
        bool other = status_of(&h, 2).role == ROLE_LEADER || status_of(&h, 3).role == ROLE_LEADER;
        assert_false(old && other);
    }
    assert_true(status_of(&h, 2).role == ROLE_LEADER || status_of(&h, 3).role == ROLE_LEADER);
    harness_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_lease_read_before_a_majority_answered),
        cmocka_unit_test(test_no_lease_read_before_own_noop_chosen),
        cmocka_unit_test(test_lease_ends_at_send_plus_lease_minus_drift),
        cmocka_unit_test(test_lease_read_is_immediate_with_a_lease),
        cmocka_unit_test(test_lease_expires_without_renewal),
        cmocka_unit_test(test_follower_read_goes_through_the_leader),
        cmocka_unit_test(test_read_without_a_known_leader_fails),
        cmocka_unit_test(test_read_times_out_without_a_quorum),
        cmocka_unit_test(test_commit_notice_counts_from_its_send_time),
        cmocka_unit_test(test_commit_notices_stay_within_the_ack_history),
        cmocka_unit_test(test_no_new_leader_while_the_lease_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
