/* ballot-demo: the seed scenarios replayed through the real core, told step by step.
 * Arrows show every message: "n4 --> n1  Prepare(r5.n4, ...)" is node 4 sending to node 1;
 * "-x>" is a message lost on a cut link. */
#include <stdio.h>
#include <stdlib.h>

#include "scenarios.h"

static int check(bool ok, const char *what)
{
    printf("  [%s] %s\n", ok ? "ok" : "FAILED", what);
    return ok ? 0 : 1;
}

static int demo_seed000(void)
{
    printf("=== Seed 000: carrying an accepted value forward (Example steps 1-3) ===\n");
    printf("DB1..DB3 are nodes 1..3; Server A is node 4, Server B is node 5.\n");
    seed000_result_t r;
    scenario_seed000(stdout, &r);
    printf("\nWhat happened:\n");
    int bad = 0;
    bad += check(r.x_chosen, "step 1: A (r5.n4) had X chosen");
    bad += check(r.b_wrote_x && !r.b_wrote_y_there, "step 2: B (r8.n5) wrote X, not Y");
    bad += check(r.dbs_hold_x_at_b == 3, "step 2: every DB now stores (X, r8.n5)");
    bad += check(r.a_rejects == 3, "step 3: every DB rejected A's Prepare(r5.n4)");
    bad += check(ballot_less((ballot_t){8, 5}, r.a_next_ballot), "step 3: A moved above r8");
    return bad;
}

static int demo_seed001(void)
{
    printf("\n=== Seed 001: concurrent coordinators b1 < b2 ===\n");
    seed001_result_t r;
    scenario_seed001(1, stdout, &r);
    char b1[BALLOT_TEXT_BYTES];
    char b2[BALLOT_TEXT_BYTES];
    printf("\nWhat happened (b1 = %s, b2 = %s):\n", ballot_format(r.b1, b1, sizeof(b1)),
           ballot_format(r.b2, b2, sizeof(b2)));
    int bad = 0;
    bad += check(r.n3_promised_b1 && r.n3_promised_b2, "node 3 promised b1, then b2");
    bad += check(r.n1_counted == 1 && r.n2_counted == 1, "each coordinator counted one promise");
    bad += check(!r.leader_after_first_round, "no majority, so no leader in the first round");
    bad += check(r.both_backed_off, "both backed off and retried");
    bad += check(r.leader != 0 && r.values_chosen && r.agreement,
                 "one leader emerged; each slot got one value on every node");
    return bad;
}

int main(void)
{
    int bad = demo_seed000() + demo_seed001();
    printf("\n%s\n", bad == 0 ? "All seed scenarios behaved as the notes say."
                              : "Some scenario did not behave as the notes say.");
    return bad == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
