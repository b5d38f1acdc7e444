/* The seeds (../shared/seeds/) as scenarios over real nodes. The tests assert on what they
 * observe; ballot-demo prints the story they tell. */
#ifndef BALLOT_TESTS_CORE_SCENARIOS_H
#define BALLOT_TESTS_CORE_SCENARIOS_H

#include <stdio.h>

#include "harness.h"

/* Seed 000, Example steps 1-3: servers A and B write through DB1..DB3. */
typedef struct seed000_result {
    ballot_t a_ballot;        /* A's Prepare in step 1 (r5) */
    uint32_t a_promises;      /* DBs that promised A */
    bool x_chosen;            /* A's X chosen in step 1 */
    ballot_t b_ballot;        /* B's Prepare in step 2 (r8) */
    uint32_t b_reports_of_x;  /* DBs whose Promise to B reported (X, r5) */
    bool b_wrote_x;           /* B's Accept for X's slot carries X ... */
    bool b_wrote_y_there;     /* ... and not its own Y */
    uint32_t dbs_hold_x_at_b; /* DBs that accepted (X, r8) */
    uint64_t x_slot;
    uint64_t y_slot;         /* where B's own Y went instead */
    ballot_t a_retry_ballot; /* A's later Prepare (r5 again, after a restart) */
    uint32_t a_rejects;      /* DBs that rejected it */
    ballot_t a_rejected_by;  /* the ballot the rejections named (r8) */
    ballot_t a_next_ballot;  /* A's next attempt: above r8 */
    bool agreement;
} seed000_result_t;

void scenario_seed000(FILE *story, seed000_result_t *out);

/* Seed 001: node 3 promises b1 then b2; each coordinator counts one promise; both retry;
 * with backoff one leader emerges and every slot gets one value. */
typedef struct seed001_result {
    ballot_t b1;
    ballot_t b2;
    bool n3_promised_b1;
    bool n3_promised_b2;
    uint32_t n1_counted; /* promises node 1 counted for b1 */
    uint32_t n2_counted; /* promises node 2 counted for b2 */
    bool leader_after_first_round;
    bool both_backed_off;
    uint32_t leader;    /* after the retries */
    uint64_t rounds;    /* highest round any coordinator reached */
    uint64_t settle_ms; /* from the first retry until one leader had its value chosen */
    bool values_chosen; /* both coordinators' values chosen, each once */
    bool agreement;
} seed001_result_t;

void scenario_seed001(uint64_t seed, FILE *story, seed001_result_t *out);

#endif
