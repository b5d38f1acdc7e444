/* Whole clusters of real nodes: sizes 1, 3, 5 and 7 elect one leader and commit; random
 * delays and losses keep agreement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static void elect_and_commit(uint32_t n)
{
    harness_t h;
    harness_init(&h, n, 7 + n);
    harness_start(&h);
    harness_run(&h, 2000, 5);
    uint32_t leader = harness_leader(&h);
    assert_int_not_equal(leader, 0);
    for (uint64_t seq = 1; seq <= 20; seq++) {
        char text[32];
        snprintf(text, sizeof(text), "SET k%llu", (unsigned long long)seq);
        assert_int_equal(harness_submit(&h, leader, 42, seq, text), BALLOT_OK);
    }
    harness_run(&h, 500, 5);
    char why[128];
    assert_true(harness_check_agreement(&h, why, sizeof(why)));
    for (uint32_t id = 1; id <= n; id++) {
        for (uint64_t seq = 1; seq <= 20; seq++) {
            assert_true(harness_applied_command(&h, id, 42, seq));
        }
        node_status_t st;
        node_get_status(h.nodes[id].node, h.now_ms, &st);
        assert_int_equal(st.leader, leader);
        assert_int_equal(st.chosen_upto, h.nodes[leader].apply_count);
    }
    harness_free(&h);
}

static void test_cluster_of_1(void **state)
{
    (void)state;
    elect_and_commit(1);
}

static void test_cluster_of_3(void **state)
{
    (void)state;
    elect_and_commit(3);
}

static void test_cluster_of_5(void **state)
{
    (void)state;
    elect_and_commit(5);
}

static void test_cluster_of_7(void **state)
{
    (void)state;
    elect_and_commit(7);
}

/* One seeded run: random latency and loss, partitions, crashes and restarts, client
 * commands at random nodes; after healing, every node must agree and the commands of the
 * final quiet period must commit. */
typedef struct run_totals {
    uint64_t runs;
    uint64_t elections;
    uint64_t slots;
    uint64_t lease_reads;
    uint64_t snapshots;
    uint64_t rejoins;
} run_totals_t;

static run_totals_t totals;

static void count_run(const harness_t *h)
{
    totals.runs++;
    totals.snapshots += h->snapshots_installed;
    for (uint32_t id = 1; id <= h->n; id++) {
        const harness_node_t *hn = &h->nodes[id];
        totals.elections += harness_events(h, id, EVENT_LEADER_ELECTED);
        totals.rejoins += harness_events(h, id, EVENT_RECOVERED);
        for (size_t i = 0; i < hn->read_count; i++) {
            totals.lease_reads += hn->reads[i].ok;
        }
    }
    totals.slots += h->nodes[1].apply_count;
}

static void print_totals(const char *what)
{
    print_message("%s: %llu runs, %llu elections, %llu slots applied at n1, %llu reads "
                  "answered, %llu snapshots installed, %llu recoveries\n",
                  what, (unsigned long long)totals.runs, (unsigned long long)totals.elections,
                  (unsigned long long)totals.slots, (unsigned long long)totals.lease_reads,
                  (unsigned long long)totals.snapshots, (unsigned long long)totals.rejoins);
    memset(&totals, 0, sizeof(totals));
}

/* One random step of a run: a command, a crash or restart (maybe with a lost disk), a cut
 * or healed link, a read, a compaction, or a leadership transfer. */
static void random_action(harness_t *h, rng_t *rng, int round, uint64_t *seq, bool lose_disks)
{
    uint32_t n = h->n;
    uint32_t id = (uint32_t)rng_range(rng, 1, n + 1);
    uint64_t action = rng_range(rng, 0, 12);
    if (action < 5 && h->nodes[id].up) {
        char text[32];
        snprintf(text, sizeof(text), "SET r%d", round);
        harness_submit(h, id, 7, ++*seq, text);
    } else if (action == 5 && h->nodes[id].up) {
        harness_crash(h, id);
    } else if (action == 6 && !h->nodes[id].up) {
        /* One lost disk at a time: the design tolerates a lost acceptor state only
         * while the others are whole. */
        bool lose = lose_disks && rng_range(rng, 0, 2) == 0 && !harness_other_rejoining(h, id);
        harness_restart(h, id, lose);
    } else if (action == 7) {
        uint32_t other = (uint32_t)rng_range(rng, 1, n + 1);
        h->cut[id][other] = h->cut[other][id] = !h->cut[id][other];
    } else if (action == 8 && h->nodes[id].up) {
        node_read(h->nodes[id].node, (uint64_t)round, h->now_ms);
        harness_collect(h, id);
    } else if (action == 9 && h->nodes[id].up) {
        harness_compact(h, id);
    } else if (action == 10 && harness_leader(h) != 0) {
        uint32_t from = harness_leader(h);
        uint32_t to = (uint32_t)rng_range(rng, 1, n + 1);
        if (to != from) {
            node_transfer_leadership(h->nodes[from].node, to, h->now_ms);
            harness_collect(h, from);
        }
    }
}

static void random_run(uint32_t n, uint64_t seed, bool lose_disks)
{
    harness_t h;
    harness_init(&h, n, seed);
    h.latency_max_ms = 20;
    h.drop_percent = 10;
    for (uint32_t id = 1; id <= n; id++) {
        h.nodes[id].install_snapshots = true;
    }
    harness_start(&h);
    rng_t rng;
    rng_seed(&rng, seed);
    uint64_t seq = 0;
    for (int round = 0; round < 80; round++) {
        random_action(&h, &rng, round, &seq, lose_disks);
        harness_run_random(&h, rng_range(&rng, 10, 400));
        char why[128];
        if (!harness_check_agreement(&h, why, sizeof(why))) {
            fail_msg("seed %llu: %s", (unsigned long long)seed, why);
        }
    }
    memset(h.cut, 0, sizeof(h.cut));
    h.drop_percent = 0;
    for (uint32_t id = 1; id <= n; id++) {
        if (!h.nodes[id].up) {
            harness_restart(&h, id, false);
        }
    }
    harness_run_random(&h, 5000);
    uint32_t leader = harness_leader(&h);
    if (leader == 0) {
        fail_msg("seed %llu: no single leader after healing", (unsigned long long)seed);
    }
    harness_submit(&h, leader, 8, 1, "SET final");
    harness_run_random(&h, 3000);
    char why[128];
    if (!harness_check_agreement(&h, why, sizeof(why))) {
        fail_msg("seed %llu: %s", (unsigned long long)seed, why);
    }
    for (uint32_t id = 1; id <= n; id++) {
        if (!harness_applied_command(&h, id, 8, 1)) {
            fail_msg("seed %llu: n%u did not apply the final command", (unsigned long long)seed,
                     id);
        }
    }
    if (h.lease_overlaps != 0) {
        fail_msg("seed %llu: two nodes served lease reads at once", (unsigned long long)seed);
    }
    count_run(&h);
    harness_free(&h);
}

static unsigned seeds_to_run(unsigned full)
{
    const char *sanitized = getenv("BALLOT_SANITIZED");
    return sanitized != NULL && sanitized[0] == '1' ? full / 5 : full;
}

static void test_random_runs_keep_agreement(void **state)
{
    (void)state;
    unsigned seeds = seeds_to_run(1000);
    for (unsigned s = 1; s <= seeds; s++) {
        random_run(s % 4 == 3 ? 7 : (s % 2 ? 3 : 5), s, false);
    }
    print_totals("random runs");
}

static void test_random_runs_with_lost_disks(void **state)
{
    (void)state;
    unsigned seeds = seeds_to_run(600);
    for (unsigned s = 1; s <= seeds; s++) {
        random_run(s % 2 ? 3 : 5, 1000 + s, true);
    }
    print_totals("random runs with lost disks");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_of_1),
        cmocka_unit_test(test_cluster_of_3),
        cmocka_unit_test(test_cluster_of_5),
        cmocka_unit_test(test_cluster_of_7),
        cmocka_unit_test(test_random_runs_keep_agreement),
        cmocka_unit_test(test_random_runs_with_lost_disks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
