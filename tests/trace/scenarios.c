/* Runs of the real core whose events the golden views show.
 *
 * The seeds' stories are the core's own scenarios (tests/core/scenarios.c: scenario_seed000
 * and scenario_seed001, the ones ballot-demo narrates), run unchanged. Each builds its
 * harness, runs it and frees it before returning, so the events are taken at that last
 * moment: this test links with --wrap=harness_free (tests/trace/CMakeLists.txt), which sends
 * the scenario's call to harness_free through scenario_capture_free below. The harness
 * keeps every node's events across crashes and restarts (harness_node_t.events), so what
 * is captured is everything each node emitted, in its own order.
 *
 * The worked example is driven here, through the same harness, so that it shows two
 * leader changes (a crash, then a hand-over) and values carried forward. */
#include "scenarios.h"

#include <stdlib.h>
#include <string.h>

#include "../core/harness.h"
#include "../core/scenarios.h"
#include "core/check.h"

/* The core's scenario for seed 001 takes a seed for its random delays; ballot-demo uses 1. */
#define SEED001_RUN_SEED 1u

/* Where harness_free copies the events of the harness it frees (NULL: not capturing). */
static scenario_events_t *capture_into;

void __real_harness_free(harness_t *h);
void __wrap_harness_free(harness_t *h);

static void capture_events(const harness_t *h, scenario_events_t *out)
{
    out->node_count = h->n;
    for (uint32_t id = 1; id <= h->n; id++) {
        const harness_node_t *hn = &h->nodes[id];
        for (size_t i = 0; i < hn->event_count; i++) {
            assert(out->count < SCENARIO_EVENTS_MAX);
            assert(hn->events[i].node == id);
            out->events[out->count++] = hn->events[i];
        }
    }
}

/* Every harness_free of this executable lands here (the linker's --wrap). */
void __wrap_harness_free(harness_t *h)
{
    if (capture_into != NULL) {
        capture_events(h, capture_into);
        capture_into = NULL; /* one harness per scenario */
    }
    __real_harness_free(h);
}

/* Seed 000, the Example: DB1..DB3 are n1..n3, Server A is n4 (T=5 is r5.n4), Server B is
 * n5 (T=8 is r8.n5). Step 1: A prepares r5.n4, the DBs promise, X (command 1:1) is chosen.
 * Step 2: A goes quiet; B prepares r8.n5, every DB reports (X, r5.n4) and B carries X
 * forward; B's own Y (2:1) goes to a fresh slot. Step 3: A restarts remembering only round
 * 4, tries r5.n4 again and every DB rejects it naming r8.n5; A backs off and prepares r9.n4
 * (the scenario ends as that Prepare leaves: it drops everything in flight). */
static void produce_seed000(scenario_events_t *out)
{
    seed000_result_t result;
    capture_into = out;
    scenario_seed000(NULL, &result);
    assert(capture_into == NULL);
    assert(result.x_chosen && result.b_wrote_x && result.a_rejects == 3);
}

/* Seed 001, concurrent coordinators on three nodes, n1-n2 link cut: n1 prepares b1 = r1.n1,
 * n2 prepares b2 = r1.n2; n3 promises b1, then b2; each coordinator counts itself (once its
 * promise is durable) and n3... but their own promises never become durable in the first
 * round, so each counts one promise: no majority. Both back off and retry over a whole,
 * randomly delayed network until one leader has both clients' values chosen. */
static void produce_seed001(scenario_events_t *out)
{
    seed001_result_t result;
    capture_into = out;
    scenario_seed001(SEED001_RUN_SEED, NULL, &result);
    assert(capture_into == NULL);
    assert(result.n1_counted == 1 && result.n2_counted == 1 && result.values_chosen);
}

/* ---- the worked example: two leader changes and values carried forward ---- */

#define WORKED_NODES      3u
#define WORKED_SEED       7u
#define WORKED_STEP_MS    5u
#define WORKED_WAIT_MS    3000u /* bound on waiting for a leader */
#define WORKED_SETTLE_MS  200u
#define CLIENT_EARLY      1u /* writes through n1 while it leads */
#define CLIENT_LOST       5u /* the three writes n1 sends just before it crashes */
#define CLIENT_AFTER      2u /* writes through n2 */
#define CLIENT_LAST       3u /* writes through n3 */
#define WRITES_PER_CLIENT 3u

static void fixed_timeout(harness_t *h, uint32_t id, uint32_t min_ms)
{
    h->nodes[id].cfg.election_timeout_min_ms = min_ms;
    h->nodes[id].cfg.election_timeout_max_ms = min_ms + 1u;
}

static void run_until_leader(harness_t *h, uint32_t id)
{
    for (uint64_t waited = 0; harness_leader(h) != id; waited += WORKED_STEP_MS) {
        assert(waited < WORKED_WAIT_MS);
        harness_run(h, WORKED_STEP_MS, WORKED_STEP_MS);
    }
}

static void write_through(harness_t *h, uint32_t id, uint64_t client)
{
    for (uint64_t seq = 1; seq <= WRITES_PER_CLIENT; seq++) {
        int rc = harness_submit(h, id, client, seq, "w");
        assert(rc == BALLOT_OK);
        harness_run(h, WORKED_STEP_MS, WORKED_STEP_MS);
    }
    harness_run(h, WORKED_SETTLE_MS, WORKED_STEP_MS);
}

/* n1 sends L1, L2, L3 (5:1..5:3) to three new slots and crashes at once: L1's Accept
 * reaches n2 only, L3's reaches n3 only, L2's nobody. */
static void crash_with_writes_in_flight(harness_t *h)
{
    for (uint64_t seq = 1; seq <= WRITES_PER_CLIENT; seq++) {
        int rc = harness_submit(h, 1, CLIENT_LOST, seq, "lost?");
        assert(rc == BALLOT_OK);
    }
    harness_deliver(h, 1, 2, MSG_ACCEPT);
    harness_drop(h, 1, 3, MSG_ACCEPT);
    harness_drop(h, 1, 3, MSG_ACCEPT);
    harness_deliver(h, 1, 3, MSG_ACCEPT);
    harness_crash(h, 1);
    harness_drop_all(h, HARNESS_ANY, HARNESS_ANY, 0);
}

/* Three nodes with staggered election timeouts so that n1 leads first and n2 notices
 * n1's silence before n3 does. n1 leads r1.n1 and writes 1:1..1:3, then crashes with
 * three writes in flight. n2 times out and leads r2.n2: it carries 5:1 (reported by itself)
 * and 5:3 (reported by n3) forward from r1.n1 and fills 5:2's slot with a no-op. n2 writes
 * 2:1..2:3; n1 restarts and catches up; n2 hands leadership to n3, which leads r3.n3 and
 * writes 3:1..3:3. */
static void produce_worked_example(scenario_events_t *out)
{
    harness_t h;
    harness_init(&h, WORKED_NODES, WORKED_SEED);
    fixed_timeout(&h, 1, 150);
    fixed_timeout(&h, 2, 300);
    fixed_timeout(&h, 3, 500);
    harness_start(&h);
    run_until_leader(&h, 1);
    write_through(&h, 1, CLIENT_EARLY);
    crash_with_writes_in_flight(&h);
    run_until_leader(&h, 2);
    write_through(&h, 2, CLIENT_AFTER);
    harness_restart(&h, 1, false);
    harness_run(&h, WORKED_SETTLE_MS, WORKED_STEP_MS);
    int rc = node_transfer_leadership(h.nodes[2].node, 3, h.now_ms);
    assert(rc == BALLOT_OK);
    harness_collect(&h, 2);
    run_until_leader(&h, 3);
    write_through(&h, 3, CLIENT_LAST);
    char why[128];
    bool agree = harness_check_agreement(&h, why, sizeof why);
    assert(agree);
    capture_into = out;
    harness_free(&h);
    assert(capture_into == NULL);
}

const scenario_t scenarios[] = {
    {.name = "seed000_example", .produce = produce_seed000},
    {.name = "seed001_concurrent", .produce = produce_seed001},
    {.name = "worked_example", .produce = produce_worked_example},
};
const size_t scenario_count = sizeof scenarios / sizeof scenarios[0];

const scenario_t *scenario_find(const char *name)
{
    for (size_t i = 0; i < scenario_count; i++) {
        if (strcmp(scenarios[i].name, name) == 0) {
            return &scenarios[i];
        }
    }
    return NULL;
}
