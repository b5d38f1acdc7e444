/* Membership change through the log (docs/design.md "Membership change"): a CONFIG value
 * chosen in slot j governs slots from j + CONFIG_ALPHA; quorums follow the configuration
 * of each slot; a removed leader steps down; bad changes are refused and change nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

/* Founders 1..founders; the other ids up to n start empty, as joining nodes do. */
static void start_cluster(harness_t *h, uint32_t n, uint32_t founders, uint64_t seed)
{
    harness_init(h, n, seed);
    for (uint32_t id = 1; id <= n; id++) {
        h->nodes[id].cfg.node_count = id <= founders ? founders : 0;
    }
    harness_start(h);
    harness_run(h, 3000, 5);
    assert_int_not_equal(harness_leader(h), 0);
}

static membership_t latest(const harness_t *h, uint32_t id)
{
    return *config_state_latest(node_config_state(h->nodes[id].node));
}

static void set_member(membership_t *m, uint32_t id, member_role_t role)
{
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", 7000 + id);
    assert_true(membership_set(m, id, role, membership_find(m, id) != NULL ? NULL : addr));
}

static void drop_member(membership_t *m, uint32_t id)
{
    assert_true(membership_remove(m, id));
}

/* Proposes a change at the leader and runs until it is in effect everywhere it matters. */
static int change(harness_t *h, membership_t next)
{
    uint32_t leader = harness_leader(h);
    assert_int_not_equal(leader, 0);
    next.epoch = latest(h, leader).epoch + 1;
    char why[160];
    int rc = node_propose_config(h->nodes[leader].node, &next, h->now_ms, why, sizeof(why));
    harness_collect(h, leader);
    if (rc == BALLOT_OK) {
        harness_run(h, 1500, 2);
    }
    return rc;
}

static bool in_effect(const harness_t *h, uint32_t id, uint64_t epoch)
{
    node_status_t st;
    node_get_status(h->nodes[id].node, h->now_ms, &st);
    const config_state_t *cs = node_config_state(h->nodes[id].node);
    return config_state_for_slot(cs, st.chosen_upto + 1)->epoch == epoch;
}

static uint64_t seq_next = 1;

static void write_and_check(harness_t *h, uint32_t via, uint32_t upto_id)
{
    uint64_t seq = seq_next++;
    char text[32];
    snprintf(text, sizeof(text), "w%llu", (unsigned long long)seq);
    assert_int_equal(harness_submit(h, via, 77, seq, text), BALLOT_OK);
    harness_run(h, 300, 2);
    for (uint32_t id = 1; id <= upto_id; id++) {
        if (h->nodes[id].up) {
            assert_true(harness_applied_command(h, id, 77, seq));
        }
    }
}

static void test_grow_three_to_five_and_back(void **state)
{
    (void)state;
    harness_t h;
    start_cluster(&h, 5, 3, 11);
    write_and_check(&h, harness_leader(&h), 3);

    /* Add 4 as a learner: it receives the log but does not vote. */
    membership_t m = latest(&h, harness_leader(&h));
    set_member(&m, 4, MEMBER_LEARNER);
    assert_int_equal(change(&h, m), BALLOT_OK);
    assert_true(in_effect(&h, 1, 1));
    assert_true(in_effect(&h, 4, 1));
    write_and_check(&h, harness_leader(&h), 4);
    node_status_t st;
    node_get_status(h.nodes[4].node, h.now_ms, &st);
    assert_false(st.voter);

    /* Promote it, then add and promote 5. */
    set_member(&m, 4, MEMBER_VOTER);
    assert_int_equal(change(&h, m), BALLOT_OK);
    assert_true(in_effect(&h, 4, 2));
    node_get_status(h.nodes[4].node, h.now_ms, &st);
    assert_true(st.voter);
    set_member(&m, 5, MEMBER_LEARNER);
    assert_int_equal(change(&h, m), BALLOT_OK);
    set_member(&m, 5, MEMBER_VOTER);
    assert_int_equal(change(&h, m), BALLOT_OK);
    assert_true(in_effect(&h, 5, 4));
    write_and_check(&h, 5, 5);

    /* Remove the leader: it steps down once the change is in effect; another leads. */
    uint32_t old = harness_leader(&h);
    drop_member(&m, old);
    assert_int_equal(change(&h, m), BALLOT_OK);
    harness_run(&h, 3000, 5);
    uint32_t leader = harness_leader(&h);
    assert_int_not_equal(leader, 0);
    assert_int_not_equal(leader, old);
    assert_true(harness_events(&h, old, EVENT_STEPPED_DOWN) > 0);
    write_and_check(&h, leader, 0);
    /* And one more: down to three voters. */
    uint32_t gone = leader == 5 ? 4 : 5;
    drop_member(&m, gone);
    assert_int_equal(change(&h, m), BALLOT_OK);
    harness_run(&h, 2000, 5);
    leader = harness_leader(&h);
    assert_int_not_equal(leader, 0);
    membership_t now = latest(&h, leader);
    assert_int_equal(membership_voters(&now), 3);
    write_and_check(&h, leader, 0);
    char why[200];
    assert_true(harness_check_agreement(&h, why, sizeof(why)));
    harness_free(&h);
}

/* With voters {1,2,3,4} a slot needs three acceptances: two are not enough. */
static void test_quorum_follows_configuration(void **state)
{
    (void)state;
    harness_t h;
    start_cluster(&h, 4, 3, 12);
    uint32_t leader = harness_leader(&h);
    membership_t m = latest(&h, leader);
    set_member(&m, 4, MEMBER_LEARNER);
    assert_int_equal(change(&h, m), BALLOT_OK);
    set_member(&m, 4, MEMBER_VOTER);
    assert_int_equal(change(&h, m), BALLOT_OK);
    leader = harness_leader(&h);
    assert_true(in_effect(&h, leader, 2));
    /* Cut the leader off from all but one other voter. */
    uint32_t keep = leader == 1 ? 2 : 1;
    for (uint32_t id = 1; id <= 4; id++) {
        if (id != leader && id != keep) {
            h.cut[leader][id] = h.cut[id][leader] = true;
        }
    }
    assert_int_equal(harness_submit(&h, leader, 88, 1, "held"), BALLOT_OK);
    harness_run(&h, 200, 2);
    assert_false(harness_applied_command(&h, leader, 88, 1));
    memset(h.cut, 0, sizeof(h.cut));
    harness_run(&h, 3000, 5);
    for (uint32_t id = 1; id <= 4; id++) {
        assert_true(harness_applied_command(&h, id, 88, 1));
    }
    char why[200];
    assert_true(harness_check_agreement(&h, why, sizeof(why)));
    harness_free(&h);
}

/* Bad changes are refused with the rule they break, and change nothing. */
static void test_bad_changes_refused(void **state)
{
    (void)state;
    harness_t h;
    start_cluster(&h, 5, 3, 13);
    uint32_t leader = harness_leader(&h);
    node_t *node = h.nodes[leader].node;
    membership_t m = latest(&h, leader);
    membership_t two = m;
    set_member(&two, 4, MEMBER_VOTER);
    set_member(&two, 5, MEMBER_VOTER);
    two.epoch = m.epoch + 1;
    char why[200];
    assert_int_equal(node_propose_config(node, &two, h.now_ms, why, sizeof(why)), BALLOT_EINVAL);
    assert_non_null(strstr(why, "one voter"));
    membership_t stale = m;
    set_member(&stale, 4, MEMBER_LEARNER);
    stale.epoch = m.epoch + 5;
    assert_int_equal(node_propose_config(node, &stale, h.now_ms, why, sizeof(why)), BALLOT_EINVAL);
    /* Promoting a node that is no learner yet: it holds none of the log. */
    membership_t promote = m;
    set_member(&promote, 4, MEMBER_VOTER);
    promote.epoch = m.epoch + 1;
    assert_int_equal(node_propose_config(node, &promote, h.now_ms, why, sizeof(why)),
                     BALLOT_EAGAIN);
    /* A learner that never answered (it is down) is not promoted either, even while the
     * leader's log is short. */
    membership_t learner = m;
    set_member(&learner, 5, MEMBER_LEARNER);
    harness_crash(&h, 5);
    assert_int_equal(change(&h, learner), BALLOT_OK);
    node = h.nodes[harness_leader(&h)].node;
    set_member(&learner, 5, MEMBER_VOTER);
    learner.epoch = latest(&h, harness_leader(&h)).epoch + 1;
    assert_int_equal(node_propose_config(node, &learner, h.now_ms, why, sizeof(why)),
                     BALLOT_EAGAIN);
    assert_non_null(strstr(why, "n5"));
    leader = harness_leader(&h);
    m = latest(&h, leader);
    membership_t empty = m;
    empty.count = 0;
    empty.epoch = m.epoch + 1;
    assert_int_equal(node_propose_config(node, &empty, h.now_ms, why, sizeof(why)), BALLOT_EINVAL);
    /* A follower cannot propose. */
    uint32_t follower = leader == 1 ? 2 : 1;
    membership_t add = m;
    set_member(&add, 4, MEMBER_LEARNER);
    add.epoch = m.epoch + 1;
    assert_int_equal(node_propose_config(h.nodes[follower].node, &add, h.now_ms, why, sizeof(why)),
                     BALLOT_ENOTLEADER);
    /* One change at a time: a second one waits until the first is in effect. */
    assert_int_equal(node_propose_config(node, &add, h.now_ms, why, sizeof(why)), BALLOT_OK);
    membership_t next = add;
    drop_member(&next, 5);
    next.epoch = add.epoch + 1;
    assert_int_equal(node_propose_config(node, &next, h.now_ms, why, sizeof(why)), BALLOT_EBUSY);
    harness_collect(&h, leader);
    harness_run(&h, 1500, 2);
    assert_int_equal(latest(&h, leader).epoch, m.epoch + 1);
    assert_int_equal(node_propose_config(node, &next, h.now_ms, why, sizeof(why)), BALLOT_OK);
    harness_collect(&h, leader);
    harness_run(&h, 1500, 2);
    assert_int_equal(latest(&h, leader).epoch, m.epoch + 2);
    /* On an idle cluster the change settles: nothing waits to take effect any more. */
    assert_false(node_config_state(node)->has_next);
    harness_free(&h);
}

/* A learner or a removed node never campaigns. */
static void test_learner_never_campaigns(void **state)
{
    (void)state;
    harness_t h;
    start_cluster(&h, 4, 3, 14);
    membership_t m = latest(&h, harness_leader(&h));
    set_member(&m, 4, MEMBER_LEARNER);
    assert_int_equal(change(&h, m), BALLOT_OK);
    /* Every voter down: the learner alone must not lead. */
    for (uint32_t id = 1; id <= 3; id++) {
        harness_crash(&h, id);
    }
    harness_run(&h, 5000, 10);
    assert_int_equal(harness_events(&h, 4, EVENT_PREPARE_SENT), 0);
    assert_int_equal(harness_leader(&h), 0);
    harness_free(&h);
}

/* The configuration state travels in snapshots: encode, decode, refuse damage. */
static void test_config_state_codec(void **state)
{
    (void)state;
    membership_t founding;
    membership_founding(&founding, 3);
    config_state_t cs;
    config_state_init(&cs, &founding);
    membership_t next = founding;
    set_member(&next, 4, MEMBER_LEARNER);
    next.epoch = 1;
    value_t v;
    assert_true(membership_encode(&v, &next));
    assert_false(config_state_apply(&cs, 5, &(value_t){.kind = VALUE_NOOP}));
    assert_true(config_state_apply(&cs, 6, &v));
    assert_false(config_state_apply(&cs, 6, &v)); /* each slot once */
    assert_int_equal(config_state_for_slot(&cs, 6 + CONFIG_ALPHA - 1)->epoch, 0);
    assert_int_equal(config_state_for_slot(&cs, 6 + CONFIG_ALPHA)->epoch, 1);
    /* A second change before the first is in effect is refused on every replica. */
    membership_t again = next;
    again.epoch = 2;
    value_t v2;
    assert_true(membership_encode(&v2, &again));
    assert_false(config_state_apply(&cs, 7, &v2));
    uint8_t buf[CONFIG_STATE_BYTES_MAX];
    size_t n = config_state_encode(&cs, buf, sizeof(buf));
    assert_true(n > 0);
    config_state_t back;
    assert_true(config_state_decode(&back, buf, n));
    assert_int_equal(back.next_from, cs.next_from);
    assert_int_equal(back.next.count, 4);
    assert_string_equal(back.next.members[3].addr, "127.0.0.1:7004");
    for (size_t cut = 0; cut < n; cut++) {
        assert_false(config_state_decode(&back, buf, cut));
    }
    buf[0] ^= 0x40;
    assert_false(config_state_decode(&back, buf, n));
    /* Membership bytes: damage is refused. */
    v.bytes[10] = 0; /* id 0 */
    assert_false(value_valid(&v));
    value_free(&v);
    value_free(&v2);
}

/* A founder of a cluster that grew from one node loses its disk: restarted, it knows only
 * the founding membership (itself alone). It never rejoins alone; told who its peers are
 * (peer_mask), it learns the current configuration from them and rejoins safely. */
static void test_wiped_lone_founder_never_rejoins_alone(void **state)
{
    (void)state;
    harness_t h;
    start_cluster(&h, 3, 1, 15);
    membership_t m = latest(&h, 1);
    for (uint32_t id = 2; id <= 3; id++) {
        set_member(&m, id, MEMBER_LEARNER);
        assert_int_equal(change(&h, m), BALLOT_OK);
        harness_run(&h, 300, 5);
        set_member(&m, id, MEMBER_VOTER);
        assert_int_equal(change(&h, m), BALLOT_OK);
    }
    write_and_check(&h, harness_leader(&h), 3);
    harness_crash(&h, 1);
    size_t elected = harness_events(&h, 1, EVENT_LEADER_ELECTED);
    harness_restart(&h, 1, true);
    for (uint32_t id = 2; id <= 3; id++) {
        h.cut[1][id] = h.cut[id][1] = true;
    }
    harness_run(&h, 5000, 5);
    node_status_t st;
    node_get_status(h.nodes[1].node, h.now_ms, &st);
    assert_true(st.rejoining); /* nobody to ask: it stays out, and never leads alone */
    assert_int_equal(harness_events(&h, 1, EVENT_LEADER_ELECTED), elected);
    memset(h.cut, 0, sizeof(h.cut));
    harness_run(&h, 5000, 5);
    node_get_status(h.nodes[1].node, h.now_ms, &st);
    assert_false(st.rejoining); /* the leader's traffic taught it the membership */
    assert_int_equal(latest(&h, 1).epoch, 4);
    write_and_check(&h, harness_leader(&h), 3);
    char why[200];
    assert_true(harness_check_agreement(&h, why, sizeof(why)));
    harness_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grow_three_to_five_and_back),
        cmocka_unit_test(test_quorum_follows_configuration),
        cmocka_unit_test(test_bad_changes_refused),
        cmocka_unit_test(test_learner_never_campaigns),
        cmocka_unit_test(test_config_state_codec),
        cmocka_unit_test(test_wiped_lone_founder_never_rejoins_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
