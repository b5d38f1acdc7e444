/* The generation views of real core runs (the seeds' scenarios and the worked example of
 * docs/debugging.md), compared with golden files a person can read beside the seeds.
 * Events come from scenarios.c (the runs); this file only writes them as per-node trace
 * files, reads them back, merges and renders. The runs are seeded, so the goldens are the
 * same bytes on every run.
 *
 * BALLOT_UPDATE_GOLDEN=1 rewrites the golden files instead of comparing; BALLOT_TRACE_KEEP=DIR
 * keeps the per-node trace files of each scenario in DIR/<scenario>/. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/msg.h"
#include "scenarios.h"
#include "trace_test_util.h"

typedef struct golden_view {
    const char *scenario;
    const char *suffix; /* golden/<scenario><suffix>.txt */
    const char *args;   /* the `ballot trace` options it stands for (documentation) */
    void (*setup)(trace_view_options_t *opts);
} golden_view_t;

static void setup_full(trace_view_options_t *opts)
{
    (void)opts;
}

static void setup_summary(trace_view_options_t *opts)
{
    opts->summary = true;
}

/* Seed 000's step 3 starts at t=4202 (A back from its restart). */
static void setup_step3(trace_view_options_t *opts)
{
    opts->filter.from_set = true;
    opts->filter.from_ms = 4200;
}

static void setup_key(trace_view_options_t *opts, const char *key)
{
    char msg[128];
    int rc = trace_filter_parse_key(&opts->filter, key, msg, sizeof msg);
    assert_int_equal(rc, BALLOT_OK);
}

/* Seed 000's X is client 1's first command. */
static void setup_key_x(trace_view_options_t *opts)
{
    setup_key(opts, "1:1");
}

/* The worked example's 5:2 reached no acceptor before its leader crashed. */
static void setup_key_lost(trace_view_options_t *opts)
{
    setup_key(opts, "5:2");
}

static void setup_node3(trace_view_options_t *opts)
{
    opts->filter.node_set = true;
    opts->filter.node = 3;
}

static void setup_last1(trace_view_options_t *opts)
{
    opts->last_generations = 1;
}

static const golden_view_t golden_views[] = {
    {"seed000_example", "", "", setup_full},
    {"seed000_example", ".summary", "--summary", setup_summary},
    {"seed000_example", ".from4200", "--from 4200", setup_step3},
    {"seed000_example", ".key", "--key 1:1", setup_key_x},
    {"seed001_concurrent", "", "", setup_full},
    {"seed001_concurrent", ".summary", "--summary", setup_summary},
    {"seed001_concurrent", ".node3", "--node 3", setup_node3},
    {"seed001_concurrent", ".last1", "--last 1", setup_last1},
    {"worked_example", "", "", setup_full},
    {"worked_example", ".summary", "--summary", setup_summary},
    {"worked_example", ".key", "--key 5:2", setup_key_lost},
};

static const scenario_t *find_scenario(const char *name)
{
    const scenario_t *sc = scenario_find(name);
    if (sc == NULL) {
        fail_msg("no scenario %s", name);
    }
    return sc;
}

/* The directory for a scenario's trace files: a fresh one under /tmp, removed after use, or
 * with BALLOT_TRACE_KEEP=DIR, DIR/<scenario>, kept so that `ballot trace` can read them
 * (docs/debugging.md). Returns whether the files are kept. */
static bool scenario_dir(const scenario_t *sc, char *dir, size_t dir_bytes)
{
    const char *keep = getenv("BALLOT_TRACE_KEEP");
    if (keep == NULL || keep[0] == '\0') {
        test_dir_make(dir, dir_bytes);
        return false;
    }
    int w = snprintf(dir, dir_bytes, "%s/%s", keep, sc->name);
    assert_true(w > 0 && (size_t)w < dir_bytes);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fail_msg("cannot make %s: %s", dir, strerror(errno));
    }
    return true;
}

/* Produces the scenario, writes one trace file per node, reads them back (in the given
 * file order) and merges them. */
static void load_scenario(const scenario_t *sc, trace_set_t *set, bool reverse_files)
{
    scenario_events_t *events = calloc(1, sizeof *events);
    assert_non_null(events);
    sc->produce(events);
    char dir[TEST_PATH_BYTES];
    char paths[NODES_MAX + 1u][TEST_PATH_BYTES];
    bool traced[NODES_MAX + 1u] = {false};
    for (size_t i = 0; i < events->count; i++) {
        traced[events->events[i].node] = true;
    }
    /* A node that never ran (down in the scenario) leaves no trace file. */
    bool keep = scenario_dir(sc, dir, sizeof dir);
    for (uint32_t n = 1; n <= events->node_count; n++) {
        if (traced[n]) {
            test_write_node_file(dir, n, events->node_count, events->events, events->count,
                                 paths[n], sizeof paths[n]);
        }
    }
    trace_set_init(set);
    for (uint32_t k = 1; k <= events->node_count; k++) {
        uint32_t n = reverse_files ? events->node_count + 1u - k : k;
        if (traced[n]) {
            assert_int_equal(trace_set_read_file(set, paths[n], stderr), BALLOT_OK);
        }
    }
    assert_int_equal(set->bad_lines, 0);
    assert_int_equal(set->count, events->count);
    trace_set_sort(set);
    if (!keep) {
        test_dir_remove(dir);
    }
    free(events);
}

static void write_golden(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void check_golden(const golden_view_t *gv, const char *text)
{
    char path[TEST_PATH_BYTES];
    snprintf(path, sizeof path, "%s/%s%s.txt", TRACE_GOLDEN_DIR, gv->scenario, gv->suffix);
    const char *update = getenv("BALLOT_UPDATE_GOLDEN");
    if (update != NULL && strcmp(update, "1") == 0) {
        write_golden(path, text);
        return;
    }
    char *want = test_read_text(path);
    if (want == NULL) {
        fail_msg("missing golden %s (run with BALLOT_UPDATE_GOLDEN=1 to create it)", path);
    }
    if (strcmp(want, text) != 0) {
        fprintf(stderr, "--- %s (want)\n%s--- got (ballot trace %s)\n%s", path, want, gv->args,
                text);
        free(want);
        fail_msg("view differs from %s (BALLOT_UPDATE_GOLDEN=1 rewrites it)", path);
    }
    free(want);
}

static void test_golden_views(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof golden_views / sizeof golden_views[0]; i++) {
        const golden_view_t *gv = &golden_views[i];
        trace_set_t set;
        load_scenario(find_scenario(gv->scenario), &set, false);
        trace_view_options_t opts;
        trace_view_options_init(&opts);
        gv->setup(&opts);
        char *text = test_render(&set, &opts);
        check_golden(gv, text);
        free(text);
        trace_set_free(&set);
    }
}

/* The same traces read in another file order, rendered twice: the same bytes. */
static void test_view_is_deterministic(void **state)
{
    (void)state;
    for (size_t i = 0; i < scenario_count; i++) {
        trace_set_t forward;
        trace_set_t backward;
        load_scenario(&scenarios[i], &forward, false);
        load_scenario(&scenarios[i], &backward, true);
        trace_view_options_t opts;
        trace_view_options_init(&opts);
        char *a = test_render(&forward, &opts);
        char *b = test_render(&backward, &opts);
        char *c = test_render(&forward, &opts);
        assert_string_equal(a, b);
        assert_string_equal(a, c);
        free(a);
        free(b);
        free(c);
        trace_set_free(&forward);
        trace_set_free(&backward);
    }
}

/* --ballot shows one generation; an empty set still prints a header. */
static void test_ballot_filter_and_empty(void **state)
{
    (void)state;
    trace_set_t set;
    load_scenario(find_scenario("seed000_example"), &set, false);
    trace_view_options_t opts;
    trace_view_options_init(&opts);
    opts.filter.ballot_set = true;
    opts.filter.ballot = (ballot_t){.round = 8, .node = 5};
    char *text = test_render(&set, &opts);
    assert_non_null(strstr(text, "== generation r8.n5"));
    assert_null(strstr(text, "== generation r5.n4"));
    assert_non_null(strstr(text, "3 generations, 1 shown"));
    free(text);
    trace_set_free(&set);

    trace_set_init(&set);
    trace_view_options_init(&opts);
    text = test_render(&set, &opts);
    assert_non_null(strstr(text, "0 events"));
    free(text);
    trace_set_free(&set);
}

/* A ring dump or a late file holds no election: accepts under a ballot still show who led,
 * and a crash without a restart in sight is told as a trace that ends. */
static void test_leader_inferred_without_election(void **state)
{
    (void)state;
    trace_set_t set;
    trace_set_init(&set);
    for (uint64_t slot = 5; slot <= 9; slot++) {
        event_t e;
        memset(&e, 0, sizeof e);
        e.kind = EVENT_ACCEPTED;
        e.time_ms = 100 + slot;
        e.node = 2;
        e.peer = 4;
        e.ballot = (ballot_t){.round = 3, .node = 4};
        e.slot_first = e.slot_last = slot;
        assert_int_equal(trace_set_add(&set, &e, 0, 0), BALLOT_OK);
    }
    event_t timeout;
    memset(&timeout, 0, sizeof timeout);
    timeout.kind = EVENT_ELECTION_TIMEOUT;
    timeout.time_ms = 700;
    timeout.node = 2;
    assert_int_equal(trace_set_add(&set, &timeout, 0, 0), BALLOT_OK);
    trace_set_sort(&set);
    trace_view_options_t opts;
    trace_view_options_init(&opts);
    opts.summary = true;
    opts.node_count = 5;
    char *text = test_render(&set, &opts);
    assert_non_null(strstr(text, "r3.n4        leader n4"));
    assert_non_null(strstr(text, "no successor; its last event is at t=109"));
    free(text);
    trace_set_free(&set);
}

/* A Reject n1 sent n2 at `slot`, or (received) n2's record of it, under r1.n2 refused for
 * r2.n1. */
static void add_reject(trace_set_t *set, uint64_t time_ms, uint64_t slot, bool received)
{
    event_t e;
    memset(&e, 0, sizeof e);
    e.kind = received ? EVENT_REJECT_RECEIVED : EVENT_REJECT_SENT;
    e.time_ms = time_ms;
    e.node = received ? 2u : 1u;
    e.peer = received ? 1u : 2u;
    e.ballot = (ballot_t){.round = 1, .node = 2};
    e.other_ballot = (ballot_t){.round = 2, .node = 1};
    e.reason = REJECT_PROMISED;
    e.slot_first = e.slot_last = slot;
    assert_int_equal(trace_set_add(set, &e, 0, 0), BALLOT_OK);
}

static char *render_rejects(const trace_set_t *set, bool node1_only)
{
    trace_view_options_t opts;
    trace_view_options_init(&opts);
    opts.node_count = 3;
    opts.filter.node_set = node1_only;
    opts.filter.node = 1;
    return test_render(set, &opts);
}

/* n1 rejects slots 3 and 4; only the second Reject reaches n2. The note names the lost one,
 * matched by slot rather than by count, also when only n1's lines are shown. */
static void test_lost_reject_is_matched_by_slot(void **state)
{
    (void)state;
    trace_set_t set;
    trace_set_init(&set);
    add_reject(&set, 110, 3, false);
    add_reject(&set, 112, 4, false);
    add_reject(&set, 113, 4, true);
    trace_set_sort(&set);
    for (int filtered = 0; filtered < 2; filtered++) {
        char *text = render_rejects(&set, filtered != 0);
        assert_non_null(strstr(text, "n1  rejects r1.n2 at slot 3: already promised r2.n1; "
                                     "n2 never recorded it\n"));
        assert_non_null(strstr(text, "n1  rejects r1.n2 at slot 4: already promised r2.n1\n"));
        assert_null(strstr(text, "is rejected by"));
        free(text);
    }
    trace_set_free(&set);
}

/* A receipt is paired only with a send of the same message at or before it; a Reject whose
 * send and receipt are both in the trace is one line, whatever the clocks read. */
static void test_reject_pairing_in_time_order(void **state)
{
    (void)state;
    trace_set_t set;
    trace_set_init(&set);
    add_reject(&set, 100, 0, false); /* two Prepares refused: same fields, told by time */
    add_reject(&set, 101, 0, true);
    add_reject(&set, 105, 0, false);
    add_reject(&set, 120, 7, true); /* n2's clock reads behind n1's */
    add_reject(&set, 121, 7, false);
    trace_set_sort(&set);
    char *text = render_rejects(&set, false);
    assert_non_null(strstr(text, "t=100     n1  rejects r1.n2: already promised r2.n1\n"));
    assert_non_null(strstr(text, "t=105     n1  rejects r1.n2: already promised r2.n1; "
                                 "n2 never recorded it\n"));
    assert_non_null(strstr(text, "t=121     n1  rejects r1.n2 at slot 7: already promised "
                                 "r2.n1\n"));
    assert_null(strstr(text, "is rejected by"));
    free(text);
    trace_set_free(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_views),
        cmocka_unit_test(test_view_is_deterministic),
        cmocka_unit_test(test_ballot_filter_and_empty),
        cmocka_unit_test(test_leader_inferred_without_election),
        cmocka_unit_test(test_lost_reject_is_matched_by_slot),
        cmocka_unit_test(test_reject_pairing_in_time_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
