/* Merging the traces of three nodes whose files are out of order (hand-written lines, and the
 * events of a real 3-node run of the core), and reading files with a corrupt line, a
 * truncated last line and an overlong line: reported as file:line, never fatal. Also the
 * exit codes of `ballot trace`. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "scenarios.h"
#include "trace_test_util.h"

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Lines of three nodes, out of time order inside each file and across files. Node 2's events
 * at t=20 are split over two files (a restarted node writing a new file) to show the file
 * order tie-break. */
static const char n1_text[] =
    "{\"trace\":\"ballot\",\"version\":1,\"nodes\":3}\n"
    "{\"t\":30,\"node\":1,\"ev\":\"chosen\",\"b\":\"r1.n1\",\"slots\":\"1\"}\n"
    "{\"t\":10,\"node\":1,\"ev\":\"prepare_sent\",\"b\":\"r1.n1\",\"slots\":\"1\"}\n"
    "{\"t\":20,\"node\":1,\"ev\":\"leader_elected\",\"b\":\"r1.n1\"}\n";
static const char n2_text[] =
    "{\"t\":20,\"node\":2,\"ev\":\"accepted\",\"b\":\"r1.n1\",\"slots\":\"1\",\"peer\":1}\n"
    "{\"t\":11,\"node\":2,\"ev\":\"promise_sent\",\"b\":\"r1.n1\",\"slots\":\"1\",\"peer\":1}\n"
    "{\"t\":20,\"node\":2,\"ev\":\"learned\",\"b\":\"r1.n1\",\"slots\":\"1\"}\n";
static const char n2b_text[] =
    "{\"t\":20,\"node\":2,\"ev\":\"lease_granted\",\"b\":\"r1.n1\",\"peer\":1,\"until\":320}\n";
static const char n3_text[] =
    "{\"t\":12,\"node\":3,\"ev\":\"promise_sent\",\"b\":\"r1.n1\",\"slots\":\"1\",\"peer\":1}\n"
    "{\"t\":5,\"node\":3,\"ev\":\"election_timeout\",\"dur\":150}\n"
    "{\"t\":20,\"node\":3,\"ev\":\"accepted\",\"b\":\"r1.n1\",\"slots\":\"1\",\"peer\":1}\n";

static void test_merge_three_nodes(void **state)
{
    (void)state;
    char dir[TEST_DIR_BYTES];
    test_dir_make(dir, sizeof dir);
    const char *texts[] = {n3_text, n2b_text, n1_text, n2_text};
    const char *names[] = {"n3.trace", "n2b.trace", "n1.trace", "n2.trace"};
    trace_set_t set;
    trace_set_init(&set);
    for (size_t i = 0; i < 4; i++) {
        char path[TEST_PATH_BYTES];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        write_text(path, texts[i]);
        assert_int_equal(trace_set_read_file(&set, path, stderr), BALLOT_OK);
    }
    trace_set_sort(&set);
    assert_int_equal(set.count, 10);
    assert_int_equal(set.bad_lines, 0);
    assert_int_equal(set.node_count, 3);
    /* (t, node, file, line): file indices follow the order the files were read in. */
    const uint64_t want[][4] = {
        {5, 3, 0, 2},  {10, 1, 2, 3}, {11, 2, 3, 2}, {12, 3, 0, 1}, {20, 1, 2, 4},
        {20, 2, 1, 1}, {20, 2, 3, 1}, {20, 2, 3, 3}, {20, 3, 0, 3}, {30, 1, 2, 2},
    };
    for (size_t i = 0; i < set.count; i++) {
        const trace_record_t *r = &set.records[i];
        assert_int_equal(r->event.time_ms, want[i][0]);
        assert_int_equal(r->event.node, want[i][1]);
        assert_int_equal(r->file_index, want[i][2]);
        assert_int_equal(r->line, want[i][3]);
    }
    trace_set_free(&set);
    test_dir_remove(dir);
}

/* Bounds the events of one node kept for the out-of-order file of the test below. */
#define NODE_EVENTS_MAX SCENARIO_EVENTS_MAX

/* Writes node's events to dir/n<node>.trace out of time order: cut into runs of one
 * millisecond, the runs written newest first. Inside a run the node's own order is kept,
 * which is the one order the merge takes from a file (same node, same millisecond). */
static void write_node_out_of_order(const char *dir, uint32_t node, const scenario_events_t *run,
                                    char *path, size_t path_bytes)
{
    event_t *mine = calloc(NODE_EVENTS_MAX, sizeof *mine);
    event_t *shuffled = calloc(NODE_EVENTS_MAX, sizeof *shuffled);
    assert_non_null(mine);
    assert_non_null(shuffled);
    size_t count = 0;
    for (size_t i = 0; i < run->count; i++) {
        if (run->events[i].node == node) {
            assert_true(count < NODE_EVENTS_MAX);
            mine[count++] = run->events[i];
        }
    }
    size_t out = 0;
    for (size_t end = count; end > 0;) {
        size_t start = end - 1u;
        while (start > 0 && mine[start - 1u].time_ms == mine[end - 1u].time_ms) {
            start--;
        }
        memcpy(&shuffled[out], &mine[start], (end - start) * sizeof *mine);
        out += end - start;
        end = start;
    }
    assert_int_equal(out, count);
    /* Out of order indeed: the first line is the node's last millisecond. */
    assert_true(count < 2 || shuffled[0].time_ms > shuffled[count - 1u].time_ms);
    test_write_node_file(dir, node, run->node_count, shuffled, count, path, path_bytes);
    free(mine);
    free(shuffled);
}

static char *format_records(const trace_set_t *set)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    char line[TRACE_LINE_BYTES_MAX];
    for (size_t i = 0; i < set->count; i++) {
        size_t n = trace_format_event(&set->records[i].event, line, sizeof line);
        assert_true(n > 0);
        fwrite(line, 1, n, out);
    }
    fclose(out);
    return text;
}

/* The worked example's real run (three nodes, two leader changes): its events split into
 * one file per node, each written out of time order, the files written n3, n1, n2 and
 * read n2, n3, n1. The merge gives the same events in the same order, and the same view
 * and summary, as the events handed over in memory in the order the nodes emitted them. */
static void test_merge_real_run_out_of_order(void **state)
{
    (void)state;
    scenario_events_t *run = calloc(1, sizeof *run);
    assert_non_null(run);
    scenario_find("worked_example")->produce(run);
    assert_int_equal(run->node_count, 3);
    trace_set_t memory;
    trace_set_init(&memory);
    for (size_t i = 0; i < run->count; i++) {
        assert_int_equal(trace_set_add(&memory, &run->events[i], 0, i + 1u), BALLOT_OK);
    }
    memory.node_count = run->node_count;
    trace_set_sort(&memory);

    char dir[TEST_DIR_BYTES];
    char paths[4][TEST_PATH_BYTES];
    test_dir_make(dir, sizeof dir);
    const uint32_t write_order[] = {3, 1, 2};
    const uint32_t read_order[] = {2, 3, 1};
    for (size_t i = 0; i < 3; i++) {
        uint32_t n = write_order[i];
        write_node_out_of_order(dir, n, run, paths[n], sizeof paths[n]);
    }
    trace_set_t merged;
    trace_set_init(&merged);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(trace_set_read_file(&merged, paths[read_order[i]], stderr), BALLOT_OK);
    }
    trace_set_sort(&merged);
    assert_int_equal(merged.bad_lines, 0);
    assert_int_equal(merged.count, run->count);
    assert_int_equal(merged.node_count, 3);

    char *want = format_records(&memory);
    char *got = format_records(&merged);
    assert_string_equal(got, want);
    free(want);
    free(got);
    for (int summary = 0; summary <= 1; summary++) {
        trace_view_options_t opts;
        trace_view_options_init(&opts);
        opts.summary = summary != 0;
        want = test_render(&memory, &opts);
        got = test_render(&merged, &opts);
        /* The header names the file count; everything after it must match. */
        assert_string_equal(strchr(got, '\n'), strchr(want, '\n'));
        assert_non_null(strstr(want, summary != 0 ? "carried 2" : "carries forward"));
        free(want);
        free(got);
    }
    trace_set_free(&memory);
    trace_set_free(&merged);
    test_dir_remove(dir);
    free(run);
}

/* Events added in memory name their file themselves: file order beats insertion order. */
static void test_file_order_breaks_ties(void **state)
{
    (void)state;
    trace_set_t set;
    trace_set_init(&set);
    for (uint32_t i = 0; i < 4; i++) {
        event_t e;
        memset(&e, 0, sizeof e);
        e.kind = EVENT_BACKOFF;
        e.time_ms = 50;
        e.node = 2;
        e.duration_ms = i;
        assert_int_equal(trace_set_add(&set, &e, 3u - i / 2u, i), BALLOT_OK);
    }
    trace_set_sort(&set);
    const uint64_t want_duration[] = {2, 3, 0, 1};
    for (size_t i = 0; i < set.count; i++) {
        assert_int_equal(set.records[i].event.duration_ms, want_duration[i]);
    }
    trace_set_free(&set);
}

static char *read_with_report(const char *text, size_t len, trace_set_t *set)
{
    char *report = NULL;
    size_t report_len = 0;
    FILE *diag = open_memstream(&report, &report_len);
    FILE *in = fmemopen((void *)text, len, "r");
    assert_non_null(in);
    assert_int_equal(trace_set_read_stream(set, in, "n2.trace", diag), BALLOT_OK);
    fclose(in);
    fclose(diag);
    return report;
}

static void test_corrupt_and_truncated_lines(void **state)
{
    (void)state;
    static const char text[] = "{\"t\":1,\"node\":2,\"ev\":\"backoff\",\"dur\":40}\n"
                               "\n"
                               "{\"t\":2,\"node\":2,\"ev\":\"backoff\",\"dur\":\"forty\"}\n"
                               "{\"t\":3,\"node\":2,\"ev\":\"backoff\",\"dur\":41}\n"
                               "garbage \x01\x02\xff\n"
                               "{\"t\":4,\"node\":2,\"ev\":\"backo";
    trace_set_t set;
    trace_set_init(&set);
    char *report = read_with_report(text, sizeof text - 1u, &set);
    assert_int_equal(set.count, 2);
    assert_int_equal(set.bad_lines, 3);
    assert_non_null(strstr(report, "n2.trace:3: "));
    assert_non_null(strstr(report, "n2.trace:5: "));
    assert_non_null(strstr(report, "n2.trace:6: truncated last line: "));
    assert_null(strstr(report, "n2.trace:1:"));
    assert_null(strstr(report, "n2.trace:4:"));
    free(report);

    /* A last line that lost only its newline is whole: kept, not reported. */
    static const char whole[] = "{\"t\":9,\"node\":2,\"ev\":\"backoff\",\"dur\":40}";
    report = read_with_report(whole, sizeof whole - 1u, &set);
    assert_int_equal(set.count, 3);
    assert_string_equal(report, "");
    free(report);
    trace_set_free(&set);
}

static void test_overlong_line_skipped(void **state)
{
    (void)state;
    size_t len = 3u * TRACE_LINE_BYTES_MAX;
    char *text = malloc(len + 200u);
    assert_non_null(text);
    memset(text, 'x', len);
    text[len] = '\n';
    strcpy(text + len + 1u, "{\"t\":9,\"node\":2,\"ev\":\"backoff\",\"dur\":40}\n");
    trace_set_t set;
    trace_set_init(&set);
    char *report = read_with_report(text, strlen(text), &set);
    assert_int_equal(set.count, 1);
    assert_int_equal(set.bad_lines, 1);
    assert_non_null(strstr(report, "n2.trace:1: line longer than"));
    free(report);
    free(text);
    trace_set_free(&set);
    trace_set_init(&set);
    assert_int_equal(trace_set_read_file(&set, "/nonexistent/n9.trace", stderr), BALLOT_EIO);
    trace_set_free(&set);
}

/* Runs `ballot trace ARGS` with stdout and stderr sent to /dev/null; the exit status. */
static int run_cli(int argc, char **argv)
{
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1);
    int saved_err = dup(2);
    int null_fd = open("/dev/null", O_WRONLY);
    assert_true(saved_out >= 0 && saved_err >= 0 && null_fd >= 0);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
    int status = trace_cli_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    close(null_fd);
    return status;
}

static void test_cli_exit_codes(void **state)
{
    (void)state;
    char dir[TEST_DIR_BYTES];
    char path[TEST_PATH_BYTES];
    test_dir_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/n1.trace", dir);
    write_text(path, n1_text);
    char missing[] = "/nonexistent/n1.trace";
    char *ok[] = {"trace", "--summary", "--slot", "1", "--node=1", path};
    char *ok_key[] = {"trace", "--key", "7:1,8", "--from", "0", "--to", "100", path};
    char *help[] = {"trace", "--help"};
    char *unknown[] = {"trace", "--frobnicate", path};
    char *no_files[] = {"trace", "--summary"};
    char *bad_ballot[] = {"trace", "--ballot", "7.2", path};
    char *bad_key[] = {"trace", "--key", "7:x", path};
    char *bad_node[] = {"trace", "--node", "16", path};
    char *unreadable[] = {"trace", path, missing};
    assert_int_equal(run_cli(6, ok), 0);
    assert_int_equal(run_cli(8, ok_key), 0);
    assert_int_equal(run_cli(2, help), 0);
    assert_int_equal(run_cli(3, unknown), 2);
    assert_int_equal(run_cli(2, no_files), 2);
    assert_int_equal(run_cli(4, bad_ballot), 2);
    assert_int_equal(run_cli(4, bad_key), 2);
    assert_int_equal(run_cli(4, bad_node), 2);
    assert_int_equal(run_cli(3, unreadable), 1);
    test_dir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_three_nodes),
        cmocka_unit_test(test_merge_real_run_out_of_order),
        cmocka_unit_test(test_file_order_breaks_ties),
        cmocka_unit_test(test_corrupt_and_truncated_lines),
        cmocka_unit_test(test_overlong_line_skipped),
        cmocka_unit_test(test_cli_exit_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
