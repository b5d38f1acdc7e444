/* Runs of the real core whose events the golden views show.
 *
 * The seeds' stories are the core's own scenarios (tests/core/scenarios.c: scenario_seed000
 * and scenario_seed001, the ones ballot-demo narrates), run unchanged. Each builds its
 * harness, runs it and frees it before returning, so the events are taken at that last
 * moment, through the harness's free hook (harness_set_free_hook). The harness
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

/* The free hook: takes the events of the harness a scenario frees. */
static void capture_on_free(const harness_t *h, void *ctx)
{
    (void)ctx;
    if (capture_into != NULL) {
        capture_events(h, capture_into);
        capture_into = NULL; /* one harness per scenario */
    }
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
    harness_set_free_hook(capture_on_free, NULL);
    scenario_seed000(NULL, &result);
    assert(capture_into == NULL);
    assert(result.x_chosen && result.b_wrote_x && result.a_rejects == 3);
}

/* Seed 001, concurrent coordinators, three nodes with the n1-n2 link cut: n1 prepares
 * b1 = r1.n1, n2 prepares b2 = r1.n2, and n3 promises b1, then b2. The coordinators' own
 * disks do not keep up in this round, so neither counts its own promise: each counts n3's
 * only, 1 of 3, and both back off. Then the link heals and the disks keep up; the retries
 * (r2.n1, r2.n2) run over a randomly delayed network until one leader has both clients'
 * values (1:1 through n1, 2:1 through n2) chosen. The random delays come from seed 1, the
 * one ballot-demo shows. */
static void produce_seed001(scenario_events_t *out)
{
    seed001_result_t result;
    capture_into = out;
    harness_set_free_hook(capture_on_free, NULL);
    scenario_seed001(SEED001_RUN_SEED, NULL, &result);
    assert(capture_into == NULL);
    assert(result.n1_counted == 1 && result.n2_counted == 1 && result.values_chosen);
}

/* ---- the worked example: two leader changes and values carried forward ---- */

#define WORKED_NODES      3u
#define WORKED_SEED       7u
#define WORKED_WAIT_MS    3000u /* bound on waiting for a leader */
#define WORKED_SETTLE_MS  200u
#define CLIENT_EARLY      1u /* writes through n1 while it leads */
#define CLIENT_LOST       5u /* the three writes n1 sends just before it crashes */
#define CLIENT_AFTER      2u /* writes through n2 */
#define CLIENT_LAST       3u /* writes through n3 */
#define WRITES_PER_CLIENT 3u
/* Election timeouts: n1 fires first. n3's range starts at n2's, because an acceptor refuses
 * a Prepare while it heard a leader within its own minimum; its draw (from the seed) falls
 * later than n2's. */
#define N1_TIMEOUT_MS     150u
#define N2_TIMEOUT_MS     300u
#define N3_TIMEOUT_MAX_MS 900u

/* Moves time on 1 ms at a time; every message sent in one millisecond is delivered in the
 * next, so each hop takes exactly 1 ms and the trace's time order is the causal order. */
static void run_hops(harness_t *h, uint64_t ms)
{
    for (uint64_t t = 0; t < ms; t++) {
        size_t in_flight = h->net_count;
        harness_advance(h, 1);
        for (size_t i = 0; i < in_flight; i++) {
            bool delivered = harness_deliver(h, HARNESS_ANY, HARNESS_ANY, 0);
            assert(delivered);
        }
    }
}

static void run_until_leader(harness_t *h, uint32_t id)
{
    for (uint64_t waited = 0; harness_leader(h) != id; waited++) {
        assert(waited < WORKED_WAIT_MS);
        run_hops(h, 1);
    }
}

/* One write a millisecond, then time for them to be chosen and learned everywhere. */
static void write_through(harness_t *h, uint32_t id, uint64_t client)
{
    for (uint64_t seq = 1; seq <= WRITES_PER_CLIENT; seq++) {
        int rc = harness_submit(h, id, client, seq, "w");
        assert(rc == BALLOT_OK);
        run_hops(h, 1);
    }
    run_hops(h, WORKED_SETTLE_MS);
}

/* n1 sends the writes 5:1, 5:2, 5:3 to three new slots and crashes at once: the Accept of
 * 5:1 reaches n2 only, that of 5:3 reaches n3 only, that of 5:2 nobody. */
static void crash_with_writes_in_flight(harness_t *h)
{
    for (uint64_t seq = 1; seq <= WRITES_PER_CLIENT; seq++) {
        int rc = harness_submit(h, 1, CLIENT_LOST, seq, "w");
        assert(rc == BALLOT_OK);
    }
    bool ok = harness_deliver(h, 1, 2, MSG_ACCEPT);
    ok = ok && harness_drop(h, 1, 3, MSG_ACCEPT) && harness_drop(h, 1, 3, MSG_ACCEPT);
    ok = ok && harness_deliver(h, 1, 3, MSG_ACCEPT);
    assert(ok);
    harness_crash(h, 1);
    harness_drop_all(h, HARNESS_ANY, HARNESS_ANY, 0);
}

/* Three nodes; the clock starts at 0. Election timeouts: n1 150 ms (so it leads first), n2
 * 300 ms, n3 somewhere in [300, 900) from the seed (later than n2). n1 leads r1.n1 and has
 * 1:1..1:3 chosen, then crashes with three writes in flight. n2 times out and leads r2.n2:
 * it carries 5:1 (from its own acceptor) and 5:3 (reported by n3) forward from r1.n1 and
 * fills the slot of 5:2, which only n1 ever had, with a no-op. n2 has 2:1..2:3 chosen and
 * hands leadership to n3, which leads r3.n3 and has 3:1..3:3 chosen. n1 stays down. */
static void produce_worked_example(scenario_events_t *out)
{
    harness_t h;
    harness_init(&h, WORKED_NODES, WORKED_SEED);
    h.now_ms = 0;
    h.nodes[1].cfg.election_timeout_min_ms = N1_TIMEOUT_MS;
    h.nodes[1].cfg.election_timeout_max_ms = N1_TIMEOUT_MS + 1u;
    h.nodes[2].cfg.election_timeout_min_ms = N2_TIMEOUT_MS;
    h.nodes[2].cfg.election_timeout_max_ms = N2_TIMEOUT_MS + 1u;
    h.nodes[3].cfg.election_timeout_min_ms = N2_TIMEOUT_MS;
    h.nodes[3].cfg.election_timeout_max_ms = N3_TIMEOUT_MAX_MS;
    harness_start(&h);
    run_until_leader(&h, 1);
    write_through(&h, 1, CLIENT_EARLY);
    crash_with_writes_in_flight(&h);
    run_until_leader(&h, 2);
    write_through(&h, 2, CLIENT_AFTER);
    int rc = node_transfer_leadership(h.nodes[2].node, 3, h.now_ms);
    assert(rc == BALLOT_OK);
    harness_collect(&h, 2);
    run_until_leader(&h, 3);
    write_through(&h, 3, CLIENT_LAST);
    char why[128];
    bool agree = harness_check_agreement(&h, why, sizeof why);
    assert(agree);
    capture_into = out;
    harness_set_free_hook(capture_on_free, NULL);
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
