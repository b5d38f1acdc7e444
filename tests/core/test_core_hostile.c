/* Hostile messages (docs/security.md "Bounds on input and memory"): each is fed to a node
 * of a live cluster, which must refuse it, stay alive, keep its state, and keep agreeing
 * with the others afterwards. */
#include "test_util.h"

#define LEAD 1u

static void cluster_with(harness_t *h, uint32_t origin_shift)
{
    harness_init(h, 3, 1);
    for (uint32_t id = 1; id <= 3; id++) {
        h->nodes[id].no_ticks = true;
        h->nodes[id].cfg.client_origin_shift = origin_shift;
    }
    harness_start(h);
    elect(h, LEAD);
    harness_deliver_all(h);
}

/* Writes one command through the leader and checks every node applied it. */
static void write_through(harness_t *h, uint64_t client, uint64_t seq, const char *text)
{
    assert_int_equal(harness_submit(h, LEAD, client, seq, text), BALLOT_OK);
    harness_deliver_all(h);
    heartbeat_round(h, LEAD);
    for (uint32_t id = 1; id <= 3; id++) {
        assert_true(harness_applied_command(h, id, client, seq));
    }
    char why[256];
    assert_true(harness_check_agreement(h, why, sizeof(why)));
}

/* Feeds m to node `to` and checks it is refused with rc and changes nothing. */
static void refused_unchanged(harness_t *h, msg_t *m, int rc)
{
    uint32_t to = m->to;
    node_status_t before = status_of(h, to);
    size_t records = h->nodes[to].durable_count + h->nodes[to].pending_count;
    uint64_t refused = node_refused_count(h->nodes[to].node);
    assert_int_equal(recv_msg(h, m), rc);
    node_status_t after = status_of(h, to);
    assert_memory_equal(&before, &after, sizeof(before));
    assert_int_equal(h->nodes[to].durable_count + h->nodes[to].pending_count, records);
    assert_int_equal(node_refused_count(h->nodes[to].node), refused + 1);
    assert_true(strlen(node_refusal(h->nodes[to].node)) > 0);
}

/* True when v is a batch whose first command's bytes are text. */
static bool holds_text(const value_t *v, const char *text)
{
    if (v == NULL || v->kind != VALUE_BATCH) {
        return false;
    }
    batch_iter_t it;
    command_t c;
    batch_iter_init(&it, v);
    if (!batch_iter_next(&it, &c)) {
        return false;
    }
    return c.size == strlen(text) && memcmp(c.bytes, text, c.size) == 0;
}

static msg_t make_learn(uint32_t from, uint32_t to, ballot_t b, uint64_t slot, const char *text)
{
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_LEARN;
    m.from = from;
    m.to = to;
    m.u.learn.ballot = b;
    m.u.learn.entry_count = 1;
    m.u.learn.entries = calloc(1, sizeof(msg_entry_t));
    m.u.learn.entries[0].slot = slot;
    m.u.learn.entries[0].value = text_value(text);
    return m;
}

/* The attack that aborted every node: an Accept at round 2^64-1 (and anything above the
 * round ceiling) is malformed. */
static void test_huge_rounds_are_refused(void **state)
{
    (void)state;
    harness_t h;
    cluster_with(&h, 0);
    ballot_t own = status_of(&h, 2).promised;
    uint64_t rounds[] = {UINT64_MAX, UINT64_MAX - 1, BALLOT_ROUND_MAX + 1};
    for (size_t i = 0; i < sizeof(rounds) / sizeof(rounds[0]); i++) {
        msg_t m = make_accept(3, 2, B(rounds[i], 3), 9, "X", 0);
        refused_unchanged(&h, &m, BALLOT_EINVAL);
        m = make_prepare(3, 2, B(rounds[i], 3), 1);
        refused_unchanged(&h, &m, BALLOT_EINVAL);
        m = make_heartbeat(3, 2, B(rounds[i], 3), 0, 1);
        refused_unchanged(&h, &m, BALLOT_EINVAL);
        m = make_learn(3, 2, B(rounds[i], 3), 2, "X");
        refused_unchanged(&h, &m, BALLOT_EINVAL);
    }
    assert_true(ballot_equal(status_of(&h, 2).promised, own));
    write_through(&h, 1, 1, "after");
    harness_free(&h);
}

/* A round at the ceiling is valid; a node that has seen it stays a follower instead of
 * using a round nobody accepts, and nothing aborts. */
static void test_round_ceiling_stops_elections_not_the_node(void **state)
{
    (void)state;
    harness_t h;
    cluster_with(&h, 0);
    msg_t m = make_prepare(3, 2, B(BALLOT_ROUND_MAX, 3), 1);
    assert_int_equal(recv_msg(&h, &m), BALLOT_OK);
    h.now_ms += 5000;
    node_tick(h.nodes[2].node, h.now_ms);
    harness_collect(&h, 2);
    assert_int_not_equal(status_of(&h, 2).role, ROLE_CANDIDATE);
    assert_int_not_equal(status_of(&h, 2).role, ROLE_LEADER);
    harness_free(&h);
}

/* Slots, commits and chosen prefixes above SLOT_MAX are malformed in every message. */
static void test_huge_slots_are_refused(void **state)
{
    (void)state;
    harness_t h;
    cluster_with(&h, 0);
    ballot_t lead = status_of(&h, LEAD).leader_ballot;
    msg_t m = make_accept(LEAD, 2, lead, SLOT_MAX + 1, "X", 0);
    refused_unchanged(&h, &m, BALLOT_EINVAL);
    m = make_accept(LEAD, 2, lead, 5, "X", UINT64_MAX);
    refused_unchanged(&h, &m, BALLOT_EINVAL);
    m = make_heartbeat(LEAD, 2, lead, UINT64_MAX, 1);
    refused_unchanged(&h, &m, BALLOT_EINVAL);
    m = make_learn(3, 2, BALLOT_NONE, UINT64_MAX, "X");
    refused_unchanged(&h, &m, BALLOT_EINVAL);
    m = make_prepare(3, 2, B(lead.round + 1, 3), UINT64_MAX);
    refused_unchanged(&h, &m, BALLOT_EINVAL);
    memset(&m, 0, sizeof(m));
    m.type = MSG_LEARN_REQUEST;
    m.from = 3;
    m.to = 2;
    m.u.learn_request.from_slot = UINT64_MAX;
    refused_unchanged(&h, &m, BALLOT_EINVAL);
    memset(&m, 0, sizeof(m));
    m.type = MSG_HEARTBEAT_ACK;
    m.from = 2;
    m.to = LEAD;
    m.u.heartbeat_ack.ballot = lead;
    m.u.heartbeat_ack.heartbeat_id = 1;
    m.u.heartbeat_ack.chosen_upto = UINT64_MAX;
    refused_unchanged(&h, &m, BALLOT_EINVAL);
    write_through(&h, 1, 1, "after");
    harness_free(&h);
}

/* A Learn for a slot the node holds chosen, with another value: a conflict, never applied,
 * at a follower and at the leader. */
static void test_conflicting_learn_is_refused(void **state)
{
    (void)state;
    harness_t h;
    cluster_with(&h, 0);
    write_through(&h, 1, 1, "real");
    uint64_t slot = status_of(&h, 2).chosen_upto;
    for (uint32_t to = 1; to <= 2; to++) {
        uint32_t from = to == 1 ? 3 : 1;
        msg_t m = make_learn(from, to, BALLOT_NONE, slot, "forged");
        refused_unchanged(&h, &m, BALLOT_ECONFLICT);
        assert_true(holds_text(node_chosen_value(h.nodes[to].node, slot), "real"));
    }
    /* The same value again is harmless. */
    msg_t same = make_learn(3, 2, BALLOT_NONE, slot, "real");
    value_free(&same.u.learn.entries[0].value);
    assert_true(
        value_copy(&same.u.learn.entries[0].value, node_chosen_value(h.nodes[2].node, slot)));
    assert_int_equal(recv_msg(&h, &same), BALLOT_OK);
    write_through(&h, 1, 2, "after");
    harness_free(&h);
}

/* The Learn that aborted the leader: slots past its proposals, or contradicting one in
 * flight, from a sender whose ballot is not above the leader's. */
static void test_learn_past_the_leaders_proposals_is_refused(void **state)
{
    (void)state;
    harness_t h;
    cluster_with(&h, 0);
    write_through(&h, 1, 1, "a");
    node_status_t st = status_of(&h, LEAD);
    uint64_t next = st.chosen_upto + 1;
    msg_t m = make_learn(3, LEAD, BALLOT_NONE, next, "forged");
    refused_unchanged(&h, &m, BALLOT_EINVAL);
    m = make_learn(3, LEAD, BALLOT_NONE, next + 5, "forged");
    refused_unchanged(&h, &m, BALLOT_EINVAL);
    /* In flight: the leader proposes "b" at `next`, a Learn says "forged". */
    assert_int_equal(harness_submit(&h, LEAD, 1, 2, "b"), BALLOT_OK);
    m = make_learn(3, LEAD, BALLOT_NONE, next, "forged");
    refused_unchanged(&h, &m, BALLOT_EINVAL);
    harness_deliver_all(&h);
    heartbeat_round(&h, LEAD);
    assert_true(holds_text(node_chosen_value(h.nodes[LEAD].node, next), "b"));
    write_through(&h, 1, 3, "c");
    harness_free(&h);
}

/* Forwarded commands: a client of another node, or a sequence past the ceiling, which
 * would make every later write of that client stale. */
static void test_forged_forward_is_refused(void **state)
{
    (void)state;
    harness_t h;
    cluster_with(&h, 60);
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_FORWARD;
    m.from = 3;
    m.to = LEAD;
    m.u.forward.client_id = ((uint64_t)2 << 60) | 7; /* a client of node 2 */
    m.u.forward.sequence = 5;
    m.u.forward.payload = (value_t){.kind = VALUE_BATCH, .size = 0, .bytes = NULL};
    refused_unchanged(&h, &m, BALLOT_EINVAL);
    memset(&m, 0, sizeof(m));
    m.type = MSG_FORWARD;
    m.from = 3;
    m.to = LEAD;
    m.u.forward.client_id = ((uint64_t)3 << 60) | 7;
    m.u.forward.sequence = COMMAND_SEQUENCE_MAX + 1;
    m.u.forward.payload = (value_t){.kind = VALUE_BATCH, .size = 0, .bytes = NULL};
    refused_unchanged(&h, &m, BALLOT_EINVAL);
    assert_int_equal(status_of(&h, LEAD).pending_commands, 0);
    harness_free(&h);
}

/* A WAL record above the ceilings is corruption, not an abort. */
static void test_recovery_refuses_huge_rounds(void **state)
{
    (void)state;
    node_config_t c;
    node_config_default(&c, 1, 3);
    node_t *node;
    assert_int_equal(node_create(&node, &c), BALLOT_OK);
    persist_record_t r = {.kind = PERSIST_PROMISE, .ballot = B(UINT64_MAX, 2)};
    assert_int_equal(node_recover(node, &r), BALLOT_ECORRUPT);
    r.ballot = B(BALLOT_ROUND_MAX + 1, 2);
    assert_int_equal(node_recover(node, &r), BALLOT_ECORRUPT);
    r = (persist_record_t){.kind = PERSIST_CHOSEN, .slot = UINT64_MAX};
    assert_int_equal(node_recover(node, &r), BALLOT_ECORRUPT);
    node_destroy(node);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_huge_rounds_are_refused),
        cmocka_unit_test(test_round_ceiling_stops_elections_not_the_node),
        cmocka_unit_test(test_huge_slots_are_refused),
        cmocka_unit_test(test_conflicting_learn_is_refused),
        cmocka_unit_test(test_learn_past_the_leaders_proposals_is_refused),
        cmocka_unit_test(test_forged_forward_is_refused),
        cmocka_unit_test(test_recovery_refuses_huge_rounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
