/* Proposer rules (docs/design.md step 2, docs/design.md "Where the idea comes from"): carry forward
 * only the highest-ballot value, fill holes with no-ops, never re-propose what is known chosen,
 * bounded parts, window and batches, busy and too-large clients. */
#include "test_util.h"

#define PROP 1u

/* Node 1 becomes a candidate for r6.n1 (it saw r5.n3 first); its own promise stays
 * undurable so that it needs promises from both 2 and 3. */
static void candidate(harness_t *h)
{
    quiet_harness(h, 3);
    h->nodes[PROP].auto_persist = false;
    msg_t seen = make_prepare(3, PROP, B(5, 3), 1);
    recv_msg(h, &seen);
    harness_drop_all(h, HARNESS_ANY, HARNESS_ANY, 0);
    h->now_ms += 1000;
    node_tick(h->nodes[PROP].node, h->now_ms);
    harness_collect(h, PROP);
    assert_int_equal(status_of(h, PROP).role, ROLE_CANDIDATE);
    assert_non_null(harness_peek(h, PROP, 2, MSG_PREPARE));
    harness_drop_all(h, HARNESS_ANY, HARNESS_ANY, 0);
}

static const msg_t *accept_at(const harness_t *h, uint32_t to, uint64_t slot)
{
    for (size_t i = 0; i < h->net_count; i++) {
        const msg_t *m = &h->net[i].msg;
        if (m->type == MSG_ACCEPT && m->from == PROP && m->to == to && m->u.accept.slot == slot) {
            return m;
        }
    }
    return NULL;
}

static void carry_forward_case(bool high_first)
{
    harness_t h;
    candidate(&h);
    report_t low = {1, B(3, 2), "LOW"};
    report_t high = {1, B(4, 3), "HIGH"};
    msg_t from2 = make_promise(2, PROP, B(6, 1), 1, high_first ? &high : &low, 1, 0);
    msg_t from3 = make_promise(3, PROP, B(6, 1), 1, high_first ? &low : &high, 1, 0);
    recv_msg(&h, &from2);
    assert_int_equal(status_of(&h, PROP).role, ROLE_CANDIDATE);
    recv_msg(&h, &from3);
    assert_int_equal(status_of(&h, PROP).role, ROLE_LEADER);
    const msg_t *a = accept_at(&h, 2, 1);
    assert_non_null(a);
    assert_true(value_is_text(&a->u.accept.value, "HIGH"));
    const event_t *ev = last_event(&h, PROP, EVENT_CARRIED_FORWARD);
    assert_non_null(ev);
    assert_true(ballot_equal(ev->other_ballot, B(4, 3)));
    harness_free(&h);
}

/* Safety rule: carry forward the value of the highest ballot, whatever order. */
static void test_carry_forward_highest_ballot_value(void **state)
{
    (void)state;
    carry_forward_case(false);
    carry_forward_case(true);
}

/* The leader's own value never replaces a carried one: it goes to a fresh slot. */
static void test_own_value_never_replaces_carried_value(void **state)
{
    (void)state;
    harness_t h;
    candidate(&h);
    report_t x = {1, B(3, 2), "X"};
    msg_t from2 = make_promise(2, PROP, B(6, 1), 1, &x, 1, 0);
    msg_t from3 = make_promise(3, PROP, B(6, 1), 1, NULL, 0, 0);
    recv_msg(&h, &from2);
    recv_msg(&h, &from3);
    harness_submit(&h, PROP, 9, 1, "Y");
    assert_true(value_is_text(&accept_at(&h, 2, 1)->u.accept.value, "X"));
    assert_int_equal(accept_at(&h, 2, 2)->u.accept.value.kind, VALUE_NOOP); /* own no-op */
    assert_true(value_is_text(&accept_at(&h, 2, 3)->u.accept.value, "Y"));
    harness_free(&h);
}

static void test_holes_below_highest_reported_get_noops(void **state)
{
    (void)state;
    harness_t h;
    candidate(&h);
    report_t z = {3, B(3, 2), "Z"};
    msg_t from2 = make_promise(2, PROP, B(6, 1), 1, &z, 1, 0);
    msg_t from3 = make_promise(3, PROP, B(6, 1), 1, NULL, 0, 0);
    recv_msg(&h, &from2);
    recv_msg(&h, &from3);
    assert_int_equal(accept_at(&h, 3, 1)->u.accept.value.kind, VALUE_NOOP);
    assert_int_equal(accept_at(&h, 3, 2)->u.accept.value.kind, VALUE_NOOP);
    assert_true(value_is_text(&accept_at(&h, 3, 3)->u.accept.value, "Z"));
    assert_int_equal(accept_at(&h, 3, 4)->u.accept.value.kind, VALUE_NOOP);
    assert_null(accept_at(&h, 3, 5));
    assert_int_equal(harness_events(&h, PROP, EVENT_NOOP_FILLED), 2);
    harness_free(&h);
}

/* Slots an acceptor knows chosen but still holds are carried forward like any other: the
 * highest-ballot report of a chosen slot is its chosen value, and nobody else may be left
 * to serve a Learn for them (ballot-sim --seed 6513: the node that knew them chosen lost
 * its disk). */
static void test_slots_reported_chosen_are_carried_forward(void **state)
{
    (void)state;
    harness_t h;
    candidate(&h);
    report_t r[3] = {{1, B(3, 2), "A"}, {2, B(3, 2), "B"}, {3, B(3, 2), "C"}};
    msg_t from2 = make_promise(2, PROP, B(6, 1), 1, r, 3, 2);
    msg_t from3 = make_promise(3, PROP, B(6, 1), 1, NULL, 0, 0);
    recv_msg(&h, &from2);
    recv_msg(&h, &from3);
    assert_int_equal(status_of(&h, PROP).role, ROLE_LEADER);
    assert_true(value_is_text(&accept_at(&h, 2, 1)->u.accept.value, "A"));
    assert_true(value_is_text(&accept_at(&h, 2, 2)->u.accept.value, "B"));
    assert_true(value_is_text(&accept_at(&h, 2, 3)->u.accept.value, "C"));
    assert_null(harness_peek(&h, PROP, 2, MSG_LEARN_REQUEST));
    harness_free(&h);
}

/* Slots an acceptor compacted into a snapshot are fetched with LEARN_REQUEST, never
 * proposed: it reports nothing for them, so its silence is not a hole to fill. */
static void test_compacted_slots_are_learned_not_proposed(void **state)
{
    (void)state;
    harness_t h;
    candidate(&h);
    report_t r[1] = {{3, B(3, 2), "C"}};
    msg_t from2 = make_promise(2, PROP, B(6, 1), 1, r, 1, 2);
    from2.u.promise.log_first_slot = 3; /* slots 1 and 2 live in its snapshot */
    msg_t from3 = make_promise(3, PROP, B(6, 1), 1, NULL, 0, 0);
    recv_msg(&h, &from2);
    recv_msg(&h, &from3);
    assert_int_equal(status_of(&h, PROP).role, ROLE_LEADER);
    assert_null(accept_at(&h, 2, 1));
    assert_null(accept_at(&h, 2, 2));
    assert_true(value_is_text(&accept_at(&h, 2, 3)->u.accept.value, "C"));
    const msg_t *lr = harness_peek(&h, PROP, 2, MSG_LEARN_REQUEST);
    assert_non_null(lr);
    assert_int_equal(lr->u.learn_request.from_slot, 1);
    harness_free(&h);
}

static void test_promise_in_parts_counts_when_complete(void **state)
{
    (void)state;
    harness_t h;
    candidate(&h);
    report_t a = {1, B(3, 2), "A"};
    msg_t part1 = make_promise(2, PROP, B(6, 1), 1, &a, 1, 0);
    part1.u.promise.next_slot = 7;
    recv_msg(&h, &part1);
    const msg_t *again = harness_peek(&h, PROP, 2, MSG_PREPARE);
    assert_non_null(again);
    assert_int_equal(again->u.prepare.from_slot, 7);
    msg_t from3 = make_promise(3, PROP, B(6, 1), 1, NULL, 0, 0);
    recv_msg(&h, &from3);
    assert_int_equal(status_of(&h, PROP).role, ROLE_CANDIDATE);
    /* A part that does not start where we asked is ignored. */
    msg_t wrong = make_promise(2, PROP, B(6, 1), 1, NULL, 0, 0);
    recv_msg(&h, &wrong);
    assert_int_equal(status_of(&h, PROP).role, ROLE_CANDIDATE);
    report_t b = {8, B(3, 2), "B"};
    msg_t part2 = make_promise(2, PROP, B(6, 1), 7, &b, 1, 0);
    recv_msg(&h, &part2);
    assert_int_equal(status_of(&h, PROP).role, ROLE_LEADER);
    assert_true(value_is_text(&accept_at(&h, 2, 1)->u.accept.value, "A"));
    assert_true(value_is_text(&accept_at(&h, 2, 8)->u.accept.value, "B"));
    harness_free(&h);
}

static msg_t make_reject(uint32_t from, uint32_t to, ballot_t refused, ballot_t promised)
{
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_REJECT;
    m.from = from;
    m.to = to;
    m.u.reject.rejected_type = MSG_PREPARE;
    m.u.reject.ballot = refused;
    m.u.reject.promised = promised;
    m.u.reject.reason = REJECT_PROMISED;
    return m;
}

static void test_rejected_round_backs_off_and_retries_higher(void **state)
{
    (void)state;
    harness_t h;
    candidate(&h);
    msg_t r2 = make_reject(2, PROP, B(6, 1), B(9, 3));
    recv_msg(&h, &r2);
    assert_int_equal(status_of(&h, PROP).role, ROLE_CANDIDATE); /* a majority may remain */
    msg_t r3 = make_reject(3, PROP, B(6, 1), B(9, 3));
    recv_msg(&h, &r3);
    assert_int_equal(status_of(&h, PROP).role, ROLE_FOLLOWER);
    const event_t *bo = last_event(&h, PROP, EVENT_BACKOFF);
    assert_non_null(bo);
    assert_true(bo->duration_ms >= h.nodes[PROP].cfg.backoff_min_ms);
    assert_true(bo->duration_ms < 2u * h.nodes[PROP].cfg.backoff_min_ms);
    h.now_ms += bo->duration_ms;
    node_tick(h.nodes[PROP].node, h.now_ms);
    harness_collect(&h, PROP);
    const msg_t *p = harness_peek(&h, PROP, 2, MSG_PREPARE);
    assert_non_null(p);
    assert_true(ballot_equal(p->u.prepare.ballot, B(10, 1)));
    harness_free(&h);
}

static void test_silent_round_retransmits_then_backs_off(void **state)
{
    (void)state;
    harness_t h;
    candidate(&h);
    uint32_t retransmit = h.nodes[PROP].cfg.retransmit_ms;
    h.now_ms += retransmit;
    node_tick(h.nodes[PROP].node, h.now_ms);
    harness_collect(&h, PROP);
    assert_non_null(harness_peek(&h, PROP, 2, MSG_PREPARE));
    assert_non_null(harness_peek(&h, PROP, 3, MSG_PREPARE));
    h.now_ms += 2u * retransmit;
    node_tick(h.nodes[PROP].node, h.now_ms);
    harness_collect(&h, PROP);
    assert_int_equal(status_of(&h, PROP).role, ROLE_FOLLOWER);
    assert_non_null(last_event(&h, PROP, EVENT_BACKOFF));
    /* Backoff grows: the second failure waits longer on average; bounded by the max. */
    harness_free(&h);
}

/* A leader in a harness where nothing is delivered unless the test says so. */
static void leader_with(harness_t *h, uint32_t window, uint32_t batch_commands,
                        uint32_t pending_max)
{
    harness_init(h, 3, 1);
    for (uint32_t id = 1; id <= 3; id++) {
        h->nodes[id].no_ticks = true;
        h->nodes[id].cfg.window_slots = window;
        h->nodes[id].cfg.batch_commands = batch_commands;
        h->nodes[id].cfg.pending_commands_max = pending_max;
    }
    harness_start(h);
    elect(h, PROP);
    harness_deliver_all(h);
}

static void test_window_bounds_slots_in_flight_and_batches_the_rest(void **state)
{
    (void)state;
    harness_t h;
    leader_with(&h, 4, BATCH_COMMANDS_MAX, 1000);
    for (uint64_t seq = 1; seq <= 10; seq++) {
        harness_submit(&h, PROP, 1, seq, "cmd");
    }
    node_status_t st = status_of(&h, PROP);
    assert_int_equal(st.in_flight_slots, 4);
    assert_int_equal(st.pending_commands, 6);
    harness_deliver_all(&h);
    heartbeat_round(&h, PROP);
    st = status_of(&h, PROP);
    assert_int_equal(st.pending_commands, 0);
    const harness_node_t *hn = &h.nodes[PROP];
    assert_int_equal(batch_count(&hn->applies[hn->apply_count - 1].value), 6);
    for (uint64_t seq = 1; seq <= 10; seq++) {
        assert_true(harness_applied_command(&h, 3, 1, seq));
    }
    harness_free(&h);
}

static void test_batch_holds_at_most_batch_commands(void **state)
{
    (void)state;
    harness_t h;
    leader_with(&h, 1, 3, 1000);
    for (uint64_t seq = 1; seq <= 10; seq++) {
        harness_submit(&h, PROP, 1, seq, "cmd");
    }
    harness_deliver_all(&h);
    heartbeat_round(&h, PROP);
    const harness_node_t *hn = &h.nodes[PROP];
    for (size_t i = 0; i < hn->apply_count; i++) {
        assert_true(batch_count(&hn->applies[i].value) <= 3);
    }
    for (uint64_t seq = 1; seq <= 10; seq++) {
        assert_true(harness_applied_command(&h, 2, 1, seq));
    }
    harness_free(&h);
}

static void test_batch_bytes_bound_and_large_command_alone(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, 3, 1);
    for (uint32_t id = 1; id <= 3; id++) {
        h.nodes[id].no_ticks = true;
        h.nodes[id].cfg.window_slots = 1;
        h.nodes[id].cfg.batch_bytes = 100;
    }
    harness_start(&h);
    elect(&h, PROP);
    harness_deliver_all(&h);
    char big[200];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    harness_submit(&h, PROP, 1, 1, "first");
    harness_submit(&h, PROP, 1, 2, "0123456789012345678901234567890123456789");
    harness_submit(&h, PROP, 1, 3, "0123456789012345678901234567890123456789");
    harness_submit(&h, PROP, 1, 4, big);
    harness_deliver_all(&h);
    heartbeat_round(&h, PROP);
    const harness_node_t *hn = &h.nodes[PROP];
    for (size_t i = 0; i < hn->apply_count; i++) {
        const value_t *v = &hn->applies[i].value;
        assert_true(v->size <= 100 || batch_count(v) == 1);
    }
    for (uint64_t seq = 1; seq <= 4; seq++) {
        assert_true(harness_applied_command(&h, 3, 1, seq));
    }
    harness_free(&h);
}

static void test_client_busy_when_pending_is_full(void **state)
{
    (void)state;
    harness_t h;
    leader_with(&h, 1, BATCH_COMMANDS_MAX, 2);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        harness_submit(&h, PROP, 1, seq, "cmd");
    }
    assert_int_equal(h.nodes[PROP].reply_count, 0);
    assert_int_equal(harness_submit(&h, PROP, 1, 4, "cmd"), BALLOT_OK);
    assert_int_equal(h.nodes[PROP].reply_count, 1);
    assert_int_equal(h.nodes[PROP].replies[0].status, CLIENT_BUSY);
    assert_int_equal(h.nodes[PROP].replies[0].sequence, 4);
    harness_free(&h);
}

static void test_client_too_large_is_refused(void **state)
{
    (void)state;
    harness_t h;
    leader_with(&h, 4, BATCH_COMMANDS_MAX, 100);
    uint32_t size = COMMAND_BYTES_MAX + 1;
    uint8_t *bytes = calloc(size, 1);
    command_t c = {.client_id = 1, .sequence = 1, .size = size, .bytes = bytes};
    assert_int_equal(node_submit(h.nodes[PROP].node, &c, h.now_ms), BALLOT_ETOOLARGE);
    harness_collect(&h, PROP);
    assert_int_equal(h.nodes[PROP].reply_count, 1);
    assert_int_equal(h.nodes[PROP].replies[0].status, CLIENT_TOO_LARGE);
    assert_int_equal(status_of(&h, PROP).pending_commands, 0);
    /* The largest allowed command still commits, alone in its batch. */
    c.size = COMMAND_BYTES_MAX;
    c.sequence = 2;
    assert_int_equal(node_submit(h.nodes[PROP].node, &c, h.now_ms), BALLOT_OK);
    harness_collect(&h, PROP);
    harness_deliver_all(&h);
    heartbeat_round(&h, PROP);
    assert_true(harness_applied_command(&h, 2, 1, 2));
    free(bytes);
    command_t bad = {.client_id = 1, .sequence = 3, .size = 5, .bytes = NULL};
    assert_int_equal(node_submit(h.nodes[PROP].node, &bad, h.now_ms), BALLOT_EINVAL);
    harness_free(&h);
}

static void test_unanswered_accept_is_retransmitted(void **state)
{
    (void)state;
    harness_t h;
    leader_with(&h, 4, BATCH_COMMANDS_MAX, 100);
    harness_submit(&h, PROP, 1, 1, "X");
    harness_drop_all(&h, PROP, HARNESS_ANY, MSG_ACCEPT);
    h.now_ms += h.nodes[PROP].cfg.retransmit_ms;
    node_tick(h.nodes[PROP].node, h.now_ms);
    harness_collect(&h, PROP);
    assert_int_equal(harness_count(&h, PROP, HARNESS_ANY, MSG_ACCEPT), 2);
    harness_deliver_all(&h);
    heartbeat_round(&h, PROP);
    assert_true(harness_applied_command(&h, 3, 1, 1));
    harness_free(&h);
}

/* Persist before reply, at the leader too: its own Accepted counts once durable. */
static void test_single_node_chooses_only_after_persist(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, 1, 1);
    h.nodes[1].auto_persist = false;
    harness_start(&h);
    assert_int_equal(status_of(&h, 1).role, ROLE_CANDIDATE);
    harness_persist(&h, 1);
    assert_int_equal(status_of(&h, 1).role, ROLE_LEADER);
    harness_persist(&h, 1);
    harness_submit(&h, 1, 1, 1, "X");
    assert_false(harness_applied_command(&h, 1, 1, 1));
    harness_persist(&h, 1);
    assert_true(harness_applied_command(&h, 1, 1, 1));
    harness_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_carry_forward_highest_ballot_value),
        cmocka_unit_test(test_own_value_never_replaces_carried_value),
        cmocka_unit_test(test_holes_below_highest_reported_get_noops),
        cmocka_unit_test(test_slots_reported_chosen_are_carried_forward),
        cmocka_unit_test(test_compacted_slots_are_learned_not_proposed),
        cmocka_unit_test(test_promise_in_parts_counts_when_complete),
        cmocka_unit_test(test_rejected_round_backs_off_and_retries_higher),
        cmocka_unit_test(test_silent_round_retransmits_then_backs_off),
        cmocka_unit_test(test_window_bounds_slots_in_flight_and_batches_the_rest),
        cmocka_unit_test(test_batch_holds_at_most_batch_commands),
        cmocka_unit_test(test_batch_bytes_bound_and_large_command_alone),
        cmocka_unit_test(test_client_busy_when_pending_is_full),
        cmocka_unit_test(test_client_too_large_is_refused),
        cmocka_unit_test(test_unanswered_accept_is_retransmitted),
        cmocka_unit_test(test_single_node_chooses_only_after_persist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
