/* The seeds as executable scenarios (../shared/seeds/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scenarios.h"

/* Seed 000, Example steps 1-3. */
static void test_seed000_example(void **state)
{
    (void)state;
    seed000_result_t r;
    scenario_seed000(NULL, &r);
    /* Step 1: A prepares 5, all DBs promise, A writes X. */
    assert_true(ballot_equal(r.a_ballot, (ballot_t){5, 4}));
    assert_int_equal(r.a_promises, 3);
    assert_true(r.x_chosen);
    /* Step 2: B prepares 8, learns (X, 5) from every DB and writes X, not Y. */
    assert_true(ballot_equal(r.b_ballot, (ballot_t){8, 5}));
    assert_int_equal(r.b_reports_of_x, 3);
    assert_true(r.b_wrote_x);
    assert_false(r.b_wrote_y_there);
    assert_int_equal(r.dbs_hold_x_at_b, 3);
    assert_true(r.y_slot > r.x_slot);
    /* Step 3: A's Prepare(5) is rejected by every DB, naming 8; A moves above 8. */
    assert_true(ballot_equal(r.a_retry_ballot, (ballot_t){5, 4}));
    assert_int_equal(r.a_rejects, 3);
    assert_true(ballot_equal(r.a_rejected_by, (ballot_t){8, 5}));
    assert_true(ballot_equal(r.a_next_ballot, (ballot_t){9, 4}));
    assert_true(r.agreement);
}

static unsigned duel_seeds(void)
{
    const char *sanitized = getenv("BALLOT_SANITIZED");
    return sanitized != NULL && sanitized[0] == '1' ? 100 : 500;
}

/* Seed 001: the concurrent b1/b2 scenario, then retries with backoff over many seeds. */
static void test_seed001_concurrent_prepares(void **state)
{
    (void)state;
    uint64_t worst_rounds = 0;
    uint64_t worst_ms = 0;
    for (uint64_t seed = 1; seed <= duel_seeds(); seed++) {
        seed001_result_t r;
        scenario_seed001(seed, NULL, &r);
        assert_true(ballot_less(r.b1, r.b2));
        assert_true(r.n3_promised_b1);
        assert_true(r.n3_promised_b2);
        assert_int_equal(r.n1_counted, 1);
        assert_int_equal(r.n2_counted, 1);
        assert_false(r.leader_after_first_round);
        assert_true(r.both_backed_off);
        if (!r.values_chosen || !r.agreement || r.leader == 0) {
            fail_msg("seed %llu: no single outcome (leader %u, chosen %d, agreement %d)",
                     (unsigned long long)seed, r.leader, r.values_chosen, r.agreement);
        }
        /* Bounded: backoff ends the duel within a few rounds. */
        if (r.rounds > 10) {
            fail_msg("seed %llu: %llu rounds", (unsigned long long)seed,
                     (unsigned long long)r.rounds);
        }
        worst_rounds = r.rounds > worst_rounds ? r.rounds : worst_rounds;
        worst_ms = r.settle_ms > worst_ms ? r.settle_ms : worst_ms;
    }
    print_message("seed 001 over %u seeds: at most %llu rounds, settled within %llu ms\n",
                  duel_seeds(), (unsigned long long)worst_rounds, (unsigned long long)worst_ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed000_example),
        cmocka_unit_test(test_seed001_concurrent_prepares),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
