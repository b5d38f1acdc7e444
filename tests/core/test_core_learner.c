/* Learner rules (docs/design.md step 4 and 8): chosen by a majority at one ballot, the chosen
 * prefix spread on Accept and Heartbeat, catch-up with Learn or a snapshot, applies
 * strictly in slot order, recovery of the chosen prefix. */
#include "test_util.h"

#define LEAD 1u

static void cluster(harness_t *h)
{
    quiet_harness(h, 3);
    elect(h, LEAD);
    harness_deliver_all(h);
}

/* Delivers the Accepted for slot from `from` to the leader. */
static bool deliver_accepted(harness_t *h, uint32_t from, uint64_t slot)
{
    for (size_t i = 0; i < h->net_count; i++) {
        msg_t *m = &h->net[i].msg;
        if (m->type == MSG_ACCEPTED && m->from == from && m->u.accepted.slot == slot) {
            msg_t copy;
            msg_copy(&copy, m);
            msg_free(m);
            memmove(&h->net[i], &h->net[i + 1], (h->net_count - i - 1) * sizeof(*h->net));
            h->net_count--;
            recv_msg(h, &copy);
            return true;
        }
    }
    return false;
}

static void test_applies_strictly_in_slot_order(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h);
    size_t before = h.nodes[LEAD].apply_count;
    harness_submit(&h, LEAD, 1, 1, "A"); /* slot 2 */
    harness_submit(&h, LEAD, 1, 2, "B"); /* slot 3 */
    harness_deliver(&h, LEAD, 2, MSG_ACCEPT);
    harness_deliver(&h, LEAD, 2, MSG_ACCEPT);
    assert_true(deliver_accepted(&h, 2, 3));
    /* Slot 3 is chosen, slot 2 is not: nothing may be applied yet. */
    assert_non_null(node_chosen_value(h.nodes[LEAD].node, 3));
    assert_null(node_chosen_value(h.nodes[LEAD].node, 2));
    assert_int_equal(h.nodes[LEAD].apply_count, before);
    assert_int_equal(status_of(&h, LEAD).chosen_upto, 1);
    assert_true(deliver_accepted(&h, 2, 2));
    assert_int_equal(h.nodes[LEAD].apply_count, before + 2);
    assert_int_equal(h.nodes[LEAD].applies[before].slot, 2);
    assert_int_equal(h.nodes[LEAD].applies[before + 1].slot, 3);
    harness_free(&h);
}

static void test_not_chosen_without_a_majority(void **state)
{
    (void)state;
    harness_t h;
    quiet_harness(&h, 5);
    elect(&h, LEAD);
    harness_deliver_all(&h);
    harness_submit(&h, LEAD, 1, 1, "A");
    harness_deliver(&h, LEAD, 2, MSG_ACCEPT);
    assert_true(deliver_accepted(&h, 2, 2));
    /* Leader and node 2 accepted: 2 of 5 is not a majority. */
    assert_null(node_chosen_value(h.nodes[LEAD].node, 2));
    harness_deliver(&h, LEAD, 3, MSG_ACCEPT);
    assert_true(deliver_accepted(&h, 3, 2));
    assert_non_null(node_chosen_value(h.nodes[LEAD].node, 2));
    harness_free(&h);
}

/* A write is applied on the followers as soon as a majority accepted it: the leader
 * tells them the commit at once (a heartbeat), not a heartbeat period later. */
static void test_followers_learn_the_commit_at_once(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h);
    uint64_t start = h.now_ms;
    harness_submit(&h, LEAD, 1, 1, "A");
    while (harness_deliver(&h, LEAD, HARNESS_ANY, MSG_ACCEPT)) {
    }
    assert_false(harness_applied_command(&h, 2, 1, 1));
    assert_true(deliver_accepted(&h, 2, 2));
    /* Chosen: the notice leaves in the same step, carrying the new commit. */
    assert_int_equal(status_of(&h, LEAD).chosen_upto, 2);
    const msg_t *notice = harness_peek(&h, LEAD, 2, MSG_HEARTBEAT);
    assert_non_null(notice);
    assert_int_equal(notice->u.heartbeat.commit, 2);
    harness_deliver_all(&h);
    assert_int_equal(h.now_ms, start); /* no timer fired */
    assert_true(harness_applied_command(&h, 2, 1, 1));
    assert_true(harness_applied_command(&h, 3, 1, 1));
    assert_non_null(last_event(&h, 2, EVENT_LEARNED));
    harness_free(&h);
}

/* An Accept sent in the same step carries the commit: no extra heartbeat then. */
static void test_an_accept_carries_the_commit_without_a_heartbeat(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, 3, 1);
    for (uint32_t id = 1; id <= 3; id++) {
        h.nodes[id].no_ticks = true;
    }
    h.nodes[LEAD].cfg.window_slots = 1; /* B waits at the leader while A is in flight */
    harness_start(&h);
    elect(&h, LEAD);
    harness_deliver_all(&h);
    harness_submit(&h, LEAD, 1, 1, "A"); /* slot 2 */
    harness_submit(&h, LEAD, 1, 2, "B");
    assert_int_equal(status_of(&h, LEAD).pending_commands, 1);
    while (harness_deliver(&h, LEAD, HARNESS_ANY, MSG_ACCEPT)) {
    }
    assert_true(deliver_accepted(&h, 2, 2));
    /* A is chosen and B goes out at once, its Accept carrying the commit. */
    const msg_t *accept = harness_peek(&h, LEAD, 2, MSG_ACCEPT);
    assert_non_null(accept);
    assert_int_equal(accept->u.accept.slot, 3);
    assert_int_equal(accept->u.accept.commit, 2);
    assert_int_equal(harness_count(&h, LEAD, HARNESS_ANY, MSG_HEARTBEAT), 0);
    harness_deliver(&h, LEAD, 2, MSG_ACCEPT);
    assert_true(harness_applied_command(&h, 2, 1, 1));
    harness_free(&h);
}

/* The commit notice may be lost: the periodic heartbeat carries the commit too. */
static void test_followers_learn_from_the_periodic_heartbeat(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h);
    harness_submit(&h, LEAD, 1, 1, "A");
    while (harness_deliver(&h, LEAD, HARNESS_ANY, MSG_ACCEPT)) {
    }
    while (harness_deliver(&h, HARNESS_ANY, LEAD, MSG_ACCEPTED)) {
    }
    assert_true(harness_count(&h, LEAD, HARNESS_ANY, MSG_HEARTBEAT) > 0);
    harness_drop_all(&h, LEAD, HARNESS_ANY, MSG_HEARTBEAT);
    harness_deliver_all(&h);
    assert_false(harness_applied_command(&h, 2, 1, 1));
    heartbeat_round(&h, LEAD);
    assert_true(harness_applied_command(&h, 2, 1, 1));
    assert_true(harness_applied_command(&h, 3, 1, 1));
    harness_free(&h);
}

static void test_lagging_follower_catches_up_with_learn(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h);
    /* Node 3 misses the Accepts and the commit notices: it really lags. */
    h.cut[LEAD][3] = true;
    for (uint64_t seq = 1; seq <= 5; seq++) {
        harness_submit(&h, LEAD, 1, seq, "A");
        harness_deliver_all(&h);
    }
    h.cut[LEAD][3] = false;
    assert_int_equal(status_of(&h, 3).chosen_upto, 1);
    assert_int_equal(status_of(&h, 2).chosen_upto, 6);
    h.now_ms += h.nodes[LEAD].cfg.heartbeat_ms;
    node_tick(h.nodes[LEAD].node, h.now_ms);
    harness_collect(&h, LEAD);
    harness_deliver(&h, LEAD, 3, MSG_HEARTBEAT);
    const msg_t *lr = harness_peek(&h, 3, LEAD, MSG_LEARN_REQUEST);
    assert_non_null(lr);
    assert_int_equal(lr->u.learn_request.from_slot, 2);
    /* Rate-limited: another heartbeat right away asks nothing new. */
    msg_t hb = make_heartbeat(LEAD, 3, status_of(&h, LEAD).leader_ballot, 6, 99);
    recv_msg(&h, &hb);
    assert_int_equal(harness_count(&h, 3, LEAD, MSG_LEARN_REQUEST), 1);
    harness_deliver_all(&h);
    for (uint64_t seq = 1; seq <= 5; seq++) {
        assert_true(harness_applied_command(&h, 3, 1, seq));
    }
    assert_int_equal(count_records(&h, 3, PERSIST_LEARN), 5);
    assert_int_equal(status_of(&h, 3).chosen_upto, 6);
    char why[128];
    assert_true(harness_check_agreement(&h, why, sizeof(why)));
    harness_free(&h);
}

/* The node that told us of the commit crashed: the catch-up request moves on to another
 * node that has the prefix. */
static void test_catch_up_asks_another_node_when_the_first_is_silent(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h);
    /* Node 3 misses the Accepts and the commit notices: it really lags. */
    h.cut[LEAD][3] = true;
    for (uint64_t seq = 1; seq <= 3; seq++) {
        harness_submit(&h, LEAD, 1, seq, "A");
        harness_deliver_all(&h);
    }
    h.cut[LEAD][3] = false;
    assert_int_equal(status_of(&h, 3).chosen_upto, 1);
    assert_int_equal(status_of(&h, 2).chosen_upto, 4);
    h.now_ms += h.nodes[LEAD].cfg.heartbeat_ms;
    node_tick(h.nodes[LEAD].node, h.now_ms);
    harness_collect(&h, LEAD);
    harness_deliver(&h, LEAD, 2, MSG_HEARTBEAT);
    harness_deliver(&h, LEAD, 3, MSG_HEARTBEAT);
    assert_non_null(harness_peek(&h, 3, LEAD, MSG_LEARN_REQUEST));
    harness_crash(&h, LEAD);
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    for (int i = 0; i < 3 && status_of(&h, 3).chosen_upto < 4; i++) {
        h.now_ms += h.nodes[3].cfg.retransmit_ms;
        node_tick(h.nodes[3].node, h.now_ms);
        harness_collect(&h, 3);
        harness_deliver_all(&h);
    }
    assert_int_equal(status_of(&h, 3).chosen_upto, 4);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        assert_true(harness_applied_command(&h, 3, 1, seq));
    }
    harness_free(&h);
}

static void test_compacted_leader_sends_a_snapshot_pointer(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h);
    /* Node 3 misses the Accepts and the commit notices: it really lags. */
    h.cut[LEAD][3] = true;
    for (uint64_t seq = 1; seq <= 4; seq++) {
        harness_submit(&h, LEAD, 1, seq, "A");
        harness_deliver_all(&h);
    }
    h.cut[LEAD][3] = false;
    assert_int_equal(status_of(&h, 3).chosen_upto, 1);
    assert_int_equal(status_of(&h, 2).chosen_upto, 5);
    node_compact(h.nodes[LEAD].node, 4);
    assert_int_equal(status_of(&h, LEAD).log_first_slot, 5);
    h.cut[LEAD][3] = true;
    heartbeat_round(&h, LEAD);
    h.cut[LEAD][3] = false;
    heartbeat_round(&h, LEAD);
    assert_int_equal(h.nodes[3].snapshot_wanted_slot, 4);
    /* The driver copies the snapshot over, installs it, and the log continues. */
    node_snapshot_installed(h.nodes[3].node, 4, NULL, h.now_ms);
    harness_collect(&h, 3);
    h.now_ms += h.nodes[3].cfg.retransmit_ms;
    heartbeat_round(&h, LEAD);
    assert_int_equal(status_of(&h, 3).chosen_upto, 5);
    assert_true(harness_applied_command(&h, 3, 1, 4));
    harness_free(&h);
}

/* An acceptor that compacted a slot answers an Accept for it with a pointer to its
 * snapshot: its silence would look like loss to a new leader that needs it for a majority
 * (ballot-sim --seed 605838 --snapshots). */
static void test_accept_for_a_compacted_slot_gets_a_snapshot_pointer(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        harness_submit(&h, LEAD, 1, seq, "A");
        harness_deliver_all(&h);
    }
    heartbeat_round(&h, LEAD);
    assert_int_equal(status_of(&h, 2).chosen_upto, 4);
    node_compact(h.nodes[2].node, 3);
    assert_int_equal(status_of(&h, 2).log_first_slot, 4);
    node_status_t before = status_of(&h, 2);
    msg_t a = make_accept(3, 2, B(before.promised.round + 1, 3), 2, "A", 0);
    recv_msg(&h, &a);
    const msg_t *l = harness_peek(&h, 2, 3, MSG_LEARN);
    assert_non_null(l);
    assert_int_equal(l->u.learn.entry_count, 0);
    assert_int_equal(l->u.learn.snapshot_slot, 3);
    assert_null(harness_peek(&h, 2, 3, MSG_ACCEPTED));
    /* Nothing else changed: the slot is not accepted again, the promise stays. */
    assert_true(ballot_equal(status_of(&h, 2).promised, before.promised));
    harness_free(&h);
}

/* A leader whose follower acknowledges a longer chosen prefix than its own fetches the
 * difference instead of waiting for slots it may never get accepted again. */
static void test_leader_fetches_a_longer_prefix_a_follower_acknowledges(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h);
    node_status_t lead = status_of(&h, LEAD);
    msg_t ack;
    memset(&ack, 0, sizeof(ack));
    ack.type = MSG_HEARTBEAT_ACK;
    ack.from = 2;
    ack.to = LEAD;
    ack.u.heartbeat_ack.ballot = lead.leader_ballot;
    ack.u.heartbeat_ack.heartbeat_id = 1;
    ack.u.heartbeat_ack.chosen_upto = lead.chosen_upto + 3;
    recv_msg(&h, &ack);
    h.now_ms += h.nodes[LEAD].cfg.retransmit_ms;
    node_tick(h.nodes[LEAD].node, h.now_ms);
    harness_collect(&h, LEAD);
    const msg_t *lr = harness_peek(&h, LEAD, 2, MSG_LEARN_REQUEST);
    assert_non_null(lr);
    assert_int_equal(lr->u.learn_request.from_slot, lead.chosen_upto + 1);
    harness_free(&h);
}

static void test_restart_reapplies_the_recorded_chosen_prefix(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        harness_submit(&h, LEAD, 1, seq, "A");
        harness_deliver_all(&h);
    }
    heartbeat_round(&h, LEAD);
    assert_true(count_records(&h, 2, PERSIST_CHOSEN) > 0);
    size_t applied = h.nodes[2].apply_count;
    assert_int_equal(applied, 4);
    harness_crash(&h, 2);
    harness_restart(&h, 2, false);
    assert_int_equal(h.nodes[2].apply_count, applied);
    char why[128];
    assert_true(harness_check_agreement(&h, why, sizeof(why)));
    harness_free(&h);
}

/* A chosen value learned from elsewhere (never accepted here) survives a restart. */
static void test_learned_value_survives_restart(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h);
    harness_submit(&h, LEAD, 1, 1, "A");
    harness_drop_all(&h, LEAD, 3, MSG_ACCEPT);
    harness_deliver_all(&h);
    heartbeat_round(&h, LEAD);
    assert_true(harness_applied_command(&h, 3, 1, 1));
    assert_false(node_accepted(h.nodes[3].node, 2, NULL, NULL));
    harness_crash(&h, 3);
    harness_restart(&h, 3, false);
    assert_true(harness_applied_command(&h, 3, 1, 1));
    harness_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_applies_strictly_in_slot_order),
        cmocka_unit_test(test_not_chosen_without_a_majority),
        cmocka_unit_test(test_followers_learn_the_commit_at_once),
        cmocka_unit_test(test_an_accept_carries_the_commit_without_a_heartbeat),
        cmocka_unit_test(test_followers_learn_from_the_periodic_heartbeat),
        cmocka_unit_test(test_lagging_follower_catches_up_with_learn),
        cmocka_unit_test(test_catch_up_asks_another_node_when_the_first_is_silent),
        cmocka_unit_test(test_compacted_leader_sends_a_snapshot_pointer),
        cmocka_unit_test(test_accept_for_a_compacted_slot_gets_a_snapshot_pointer),
        cmocka_unit_test(test_leader_fetches_a_longer_prefix_a_follower_acknowledges),
        cmocka_unit_test(test_restart_reapplies_the_recorded_chosen_prefix),
        cmocka_unit_test(test_learned_value_survives_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
