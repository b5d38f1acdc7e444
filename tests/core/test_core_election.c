/* Election rules (docs/design.md step 5): timeouts, stepping down, leadership transfer,
 * forwarding and not-leader replies, a partitioned node coming back, rejoin after a lost
 * disk. */
#include "test_util.h"

#define LEAD 1u

static void cluster(harness_t *h, uint32_t n)
{
    quiet_harness(h, n);
    elect(h, LEAD);
    harness_deliver_all(h);
}

static void test_follower_times_out_and_campaigns(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h, 3);
    /* Heartbeats keep node 2 quiet ... */
    for (int i = 0; i < 20; i++) {
        heartbeat_round(&h, LEAD);
        node_tick(h.nodes[2].node, h.now_ms);
        harness_collect(&h, 2);
        assert_int_equal(status_of(&h, 2).role, ROLE_FOLLOWER);
    }
    /* ... silence makes it campaign after its election timeout. */
    h.now_ms += h.nodes[2].cfg.election_timeout_max_ms;
    node_tick(h.nodes[2].node, h.now_ms);
    harness_collect(&h, 2);
    assert_int_equal(status_of(&h, 2).role, ROLE_CANDIDATE);
    assert_non_null(last_event(&h, 2, EVENT_ELECTION_TIMEOUT));
    harness_free(&h);
}

static void test_leader_steps_down_without_quorum(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h, 3);
    assert_true(node_serves_lease_reads(h.nodes[LEAD].node, h.now_ms));
    h.cut[2][LEAD] = h.cut[3][LEAD] = true;
    uint64_t limit = h.now_ms + h.nodes[LEAD].cfg.election_timeout_min_ms;
    while (status_of(&h, LEAD).role == ROLE_LEADER && h.now_ms <= limit + 100) {
        heartbeat_round(&h, LEAD);
    }
    assert_int_equal(status_of(&h, LEAD).role, ROLE_FOLLOWER);
    assert_true(h.now_ms >= limit);
    const event_t *ev = last_event(&h, LEAD, EVENT_STEPPED_DOWN);
    assert_non_null(ev);
    assert_int_equal(ev->reason, STEP_DOWN_NO_QUORUM);
    assert_false(node_serves_lease_reads(h.nodes[LEAD].node, h.now_ms));
    harness_free(&h);
}

static void test_pending_commands_get_not_leader_on_step_down(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, 3, 1);
    for (uint32_t id = 1; id <= 3; id++) {
        h.nodes[id].no_ticks = true;
        h.nodes[id].cfg.window_slots = 1;
    }
    harness_start(&h);
    elect(&h, LEAD);
    harness_deliver_all(&h);
    harness_submit(&h, LEAD, 1, 1, "A");
    harness_submit(&h, LEAD, 1, 2, "B");
    msg_t higher = make_heartbeat(3, LEAD, B(50, 3), 0, 1);
    recv_msg(&h, &higher);
    assert_int_equal(status_of(&h, LEAD).role, ROLE_FOLLOWER);
    assert_int_equal(h.nodes[LEAD].reply_count, 1);
    assert_int_equal(h.nodes[LEAD].replies[0].status, CLIENT_NOT_LEADER);
    assert_int_equal(h.nodes[LEAD].replies[0].sequence, 2);
    assert_int_equal(h.nodes[LEAD].replies[0].leader, 3);
    harness_free(&h);
}

static void test_leader_steps_down_when_superseded(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h, 3);
    ballot_t own = status_of(&h, LEAD).leader_ballot;
    msg_t r;
    memset(&r, 0, sizeof(r));
    r.type = MSG_REJECT;
    r.from = 2;
    r.to = LEAD;
    r.u.reject.rejected_type = MSG_ACCEPT;
    r.u.reject.ballot = own;
    r.u.reject.promised = B(own.round + 5, 3);
    r.u.reject.reason = REJECT_PROMISED;
    r.u.reject.slot = 1;
    recv_msg(&h, &r);
    assert_int_equal(status_of(&h, LEAD).role, ROLE_FOLLOWER);
    const event_t *ev = last_event(&h, LEAD, EVENT_STEPPED_DOWN);
    assert_non_null(ev);
    assert_int_equal(ev->reason, STEP_DOWN_SUPERSEDED);
    assert_true(ballot_equal(ev->other_ballot, B(own.round + 5, 3)));
    /* A reject naming a lower or equal ballot changes nothing for a leader. */
    harness_free(&h);
}

static void test_transfer_hands_over_despite_the_lease(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h, 3);
    assert_true(node_serves_lease_reads(h.nodes[LEAD].node, h.now_ms));
    assert_int_equal(node_transfer_leadership(h.nodes[2].node, 3, h.now_ms), BALLOT_ENOTLEADER);
    assert_int_equal(node_transfer_leadership(h.nodes[LEAD].node, LEAD, h.now_ms), BALLOT_EINVAL);
    assert_int_equal(node_transfer_leadership(h.nodes[LEAD].node, 2, h.now_ms), BALLOT_OK);
    harness_collect(&h, LEAD);
    assert_false(node_serves_lease_reads(h.nodes[LEAD].node, h.now_ms));
    assert_non_null(harness_peek(&h, LEAD, 2, MSG_TIMEOUT_NOW));
    const event_t *ev = last_event(&h, LEAD, EVENT_STEPPED_DOWN);
    assert_non_null(ev);
    assert_int_equal(ev->reason, STEP_DOWN_TRANSFER);
    harness_deliver_all(&h);
    assert_int_equal(status_of(&h, 2).role, ROLE_LEADER);
    assert_int_equal(status_of(&h, LEAD).leader, 2);
    harness_submit(&h, 2, 1, 1, "after transfer");
    harness_deliver_all(&h);
    heartbeat_round(&h, 2);
    assert_true(harness_applied_command(&h, LEAD, 1, 1));
    harness_free(&h);
}

static void test_follower_forwards_to_the_leader(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h, 3);
    heartbeat_round(&h, LEAD);
    harness_submit(&h, 3, 4, 1, "forwarded");
    assert_non_null(harness_peek(&h, 3, LEAD, MSG_FORWARD));
    harness_deliver_all(&h);
    heartbeat_round(&h, LEAD);
    assert_true(harness_applied_command(&h, 3, 4, 1));
    assert_int_equal(h.nodes[3].reply_count, 0);
    harness_free(&h);
}

static void test_not_leader_reply_names_the_leader(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, 3, 1);
    for (uint32_t id = 1; id <= 3; id++) {
        h.nodes[id].no_ticks = true;
        h.nodes[id].cfg.forward_to_leader = false;
    }
    harness_start(&h);
    /* Nobody leads yet: the reply names nobody. */
    harness_submit(&h, 2, 4, 1, "early");
    assert_int_equal(h.nodes[2].reply_count, 1);
    assert_int_equal(h.nodes[2].replies[0].status, CLIENT_NOT_LEADER);
    assert_int_equal(h.nodes[2].replies[0].leader, NODE_NONE);
    elect(&h, LEAD);
    harness_deliver_all(&h);
    harness_submit(&h, 2, 4, 2, "later");
    assert_int_equal(h.nodes[2].reply_count, 2);
    assert_int_equal(h.nodes[2].replies[1].leader, LEAD);
    assert_int_equal(harness_count(&h, 2, LEAD, MSG_FORWARD), 0);
    harness_free(&h);
}

static void test_forward_to_a_former_leader_comes_back(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h, 3);
    msg_t f;
    memset(&f, 0, sizeof(f));
    f.type = MSG_FORWARD;
    f.from = LEAD;
    f.to = 2;
    f.u.forward.client_id = 4;
    f.u.forward.sequence = 7;
    f.u.forward.payload = (value_t){.kind = VALUE_BATCH, .size = 1, .bytes = malloc(1)};
    f.u.forward.payload.bytes[0] = 'x';
    recv_msg(&h, &f);
    const msg_t *back = harness_peek(&h, 2, LEAD, MSG_FORWARD_REPLY);
    assert_non_null(back);
    assert_int_equal(back->u.forward_reply.status, FORWARD_NOT_LEADER);
    harness_deliver(&h, 2, LEAD, MSG_FORWARD_REPLY);
    assert_int_equal(h.nodes[LEAD].reply_count, 1);
    assert_int_equal(h.nodes[LEAD].replies[0].sequence, 7);
    harness_free(&h);
}

/* A node partitioned away campaigns with ever higher ballots; when it comes back it must
 * not depose the healthy leader (the others heard it recently and refuse). */
static void test_partitioned_node_does_not_depose_the_leader(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, 3, 5);
    harness_start(&h);
    harness_run(&h, 2000, 5);
    uint32_t leader = harness_leader(&h);
    assert_int_not_equal(leader, 0);
    uint32_t away = leader == 3 ? 2 : 3;
    for (uint32_t id = 1; id <= 3; id++) {
        h.cut[away][id] = h.cut[id][away] = true;
    }
    harness_run(&h, 3000, 5);
    assert_true(status_of(&h, away).promised.round > status_of(&h, leader).leader_ballot.round);
    memset(h.cut, 0, sizeof(h.cut));
    harness_run(&h, 3000, 5);
    assert_int_equal(harness_leader(&h), leader);
    assert_int_equal(status_of(&h, away).leader, leader);
    harness_free(&h);
}

/* A node that lost its disk answers as an acceptor only after the wait and after reading a
 * majority of the others (Paxos Made Live §5.1). */
static void test_rejoin_after_lost_disk(void **state)
{
    (void)state;
    harness_t h;
    cluster(&h, 3);
    harness_submit(&h, LEAD, 1, 1, "A");
    harness_deliver_all(&h);
    heartbeat_round(&h, LEAD);
    ballot_t leader_ballot = status_of(&h, LEAD).leader_ballot;
    harness_crash(&h, 3);
    harness_restart(&h, 3, true);
    assert_true(status_of(&h, 3).rejoining);
    msg_t a = make_accept(LEAD, 3, leader_ballot, 3, "B", 2);
    recv_msg(&h, &a);
    const msg_t *r = harness_peek(&h, 3, LEAD, MSG_REJECT);
    assert_non_null(r);
    assert_int_equal(r->u.reject.reason, REJECT_RECOVERING);
    assert_false(node_accepted(h.nodes[3].node, 3, NULL, NULL));
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    const node_config_t *cfg = &h.nodes[3].cfg;
    uint64_t wait = 2u * cfg->election_timeout_max_ms + 3u * cfg->retransmit_ms;
    h.now_ms += wait - 1;
    node_tick(h.nodes[3].node, h.now_ms);
    harness_collect(&h, 3);
    assert_int_equal(harness_count(&h, 3, HARNESS_ANY, MSG_REJOIN), 0);
    h.now_ms += 1;
    node_tick(h.nodes[3].node, h.now_ms);
    harness_collect(&h, 3);
    assert_int_equal(harness_count(&h, 3, HARNESS_ANY, MSG_REJOIN), 2);
    harness_deliver_all(&h);
    node_status_t st = status_of(&h, 3);
    assert_false(st.rejoining);
    assert_true(ballot_equal(st.promised, leader_ballot));
    assert_true(harness_applied_command(&h, 3, 1, 1));
    ballot_t b;
    assert_true(node_accepted(h.nodes[3].node, 2, &b, NULL));
    assert_true(ballot_equal(b, leader_ballot));
    harness_free(&h);
}

/* A candidate refused by a majority of rejoining nodes follows nobody: their refusals name
 * the promise they are rebuilding (here r9.n3, adopted from a reply), not a live leader. */
static void test_rejoining_refusals_name_no_leader(void **state)
{
    (void)state;
    harness_t h;
    quiet_harness(&h, 3);
    h.now_ms += 1000;
    node_tick(h.nodes[2].node, h.now_ms);
    harness_collect(&h, 2);
    assert_int_equal(status_of(&h, 2).role, ROLE_CANDIDATE);
    ballot_t mine = harness_peek(&h, 2, 1, MSG_PREPARE)->u.prepare.ballot;
    harness_drop_all(&h, HARNESS_ANY, HARNESS_ANY, 0);
    for (uint32_t from = 1; from <= 3; from += 2) {
        msg_t r;
        memset(&r, 0, sizeof(r));
        r.type = MSG_REJECT;
        r.from = from;
        r.to = 2;
        r.u.reject.ballot = mine;
        r.u.reject.promised = (ballot_t){.round = 9, .node = 3};
        r.u.reject.rejected_type = MSG_PREPARE;
        r.u.reject.reason = REJECT_RECOVERING;
        assert_int_equal(recv_msg(&h, &r), BALLOT_OK);
    }
    node_status_t st = status_of(&h, 2);
    assert_int_equal(st.role, ROLE_FOLLOWER);
    assert_int_equal(st.leader, NODE_NONE);
    harness_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follower_times_out_and_campaigns),
        cmocka_unit_test(test_leader_steps_down_without_quorum),
        cmocka_unit_test(test_pending_commands_get_not_leader_on_step_down),
        cmocka_unit_test(test_leader_steps_down_when_superseded),
        cmocka_unit_test(test_transfer_hands_over_despite_the_lease),
        cmocka_unit_test(test_follower_forwards_to_the_leader),
        cmocka_unit_test(test_not_leader_reply_names_the_leader),
        cmocka_unit_test(test_forward_to_a_former_leader_comes_back),
        cmocka_unit_test(test_partitioned_node_does_not_depose_the_leader),
        cmocka_unit_test(test_rejoin_after_lost_disk),
        cmocka_unit_test(test_rejoining_refusals_name_no_leader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
