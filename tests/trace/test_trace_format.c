/* The trace line format: every event kind survives a write and a read; every malformed line
 * is refused with a reason, never a crash; the writer's buffering and the ring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/msg.h"
#include "trace_test_util.h"

#define MSG_BYTES 256u

static void assert_events_equal(const event_t *a, const event_t *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->time_ms, b->time_ms);
    assert_int_equal(a->node, b->node);
    assert_true(ballot_equal(a->ballot, b->ballot));
    assert_int_equal(a->slot_first, b->slot_first);
    assert_int_equal(a->slot_last, b->slot_last);
    assert_int_equal(a->peer, b->peer);
    assert_true(ballot_equal(a->other_ballot, b->other_ballot));
    assert_int_equal(a->until_ms, b->until_ms);
    assert_int_equal(a->duration_ms, b->duration_ms);
    assert_int_equal(a->reason, b->reason);
    assert_int_equal(a->command_count, b->command_count);
    uint32_t inline_count =
        a->command_count < EVENT_COMMANDS_MAX ? a->command_count : EVENT_COMMANDS_MAX;
    for (uint32_t i = 0; i < inline_count; i++) {
        assert_int_equal(a->client_ids[i], b->client_ids[i]);
        assert_int_equal(a->sequences[i], b->sequences[i]);
    }
}

static void round_trip(const event_t *e)
{
    char line[TRACE_LINE_BYTES_MAX];
    size_t len = trace_format_event(e, line, sizeof line);
    assert_true(len > 0 && len <= TRACE_LINE_BYTES_MAX);
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1));
    trace_line_kind_t kind = TRACE_LINE_BLANK;
    event_t back;
    memset(&back, 0, sizeof back);
    uint32_t nodes = 0;
    char msg[MSG_BYTES];
    int rc = trace_parse_line(line, len - 1, &kind, &back, &nodes, msg, sizeof msg);
    if (rc != BALLOT_OK) {
        fail_msg("%.*s: %s", (int)len - 1, line, msg);
    }
    assert_int_equal(kind, TRACE_LINE_EVENT);
    /* A single slot is written as "12" and reads back as 12-12 (the core leaves slot_last 0
     * where only one slot is meant, e.g. a Prepare's from-slot). */
    event_t want = *e;
    if (want.slot_last == 0) {
        want.slot_last = want.slot_first;
    }
    assert_events_equal(&want, &back);
}

/* A reason every kind can carry: its named ones where it has a table, else a number. */
static uint32_t reason_for(event_kind_t kind, uint32_t variant)
{
    if (kind == EVENT_STEPPED_DOWN) {
        return 1u + variant % STEP_DOWN_TRANSFER;
    }
    if (kind == EVENT_REJECT_SENT || kind == EVENT_REJECT_RECEIVED || kind == EVENT_LEASE_REFUSED) {
        return 1u + variant % REJECT_REASON_MAX;
    }
    return variant % 2u == 0 ? 0u : 17u;
}

static void test_round_trip_every_kind(void **state)
{
    (void)state;
    for (int k = EVENT_PREPARE_SENT; k <= EVENT_KIND_MAX; k++) {
        for (uint32_t variant = 0; variant < 6; variant++) {
            event_t e;
            memset(&e, 0, sizeof e);
            e.kind = (event_kind_t)k;
            e.time_ms = 1000u * (uint64_t)k + variant;
            e.node = 1u + variant % NODES_MAX;
            e.ballot = (ballot_t){.round = 7u + variant, .node = 2};
            e.slot_first = variant == 0 ? 0u : 12u;
            e.slot_last = variant == 0 ? 0u : 12u + variant % 3u;
            e.peer = variant % (NODES_MAX + 1u);
            e.other_ballot = variant % 2u ? (ballot_t){.round = 5, .node = 1} : BALLOT_NONE;
            e.until_ms = variant * 300u;
            e.duration_ms = variant * 7u;
            e.reason = reason_for(e.kind, variant);
            e.command_count = variant;
            for (uint32_t i = 0; i < EVENT_COMMANDS_MAX && i < variant; i++) {
                e.client_ids[i] = 40u + i;
                e.sequences[i] = 1u + i * variant;
            }
            round_trip(&e);
        }
    }
}

/* Every field at its widest still fits a line, and reads back. */
static void test_round_trip_extremes(void **state)
{
    (void)state;
    event_t e;
    memset(&e, 0, sizeof e);
    e.kind = EVENT_CARRIED_FORWARD;
    e.time_ms = UINT64_MAX;
    e.node = NODES_MAX;
    e.ballot = (ballot_t){.round = UINT64_MAX, .node = UINT32_MAX};
    e.slot_first = UINT64_MAX - 1u;
    e.slot_last = UINT64_MAX;
    e.peer = NODES_MAX;
    e.other_ballot = (ballot_t){.round = UINT64_MAX, .node = UINT32_MAX};
    e.until_ms = UINT64_MAX;
    e.duration_ms = UINT64_MAX;
    e.reason = UINT32_MAX;
    e.command_count = UINT32_MAX;
    for (uint32_t i = 0; i < EVENT_COMMANDS_MAX; i++) {
        e.client_ids[i] = UINT64_MAX;
        e.sequences[i] = UINT64_MAX;
    }
    round_trip(&e);
    /* A Promise counts entries but names no commands: no "cmds" at all. */
    memset(&e, 0, sizeof e);
    e.kind = EVENT_PROMISE_SENT;
    e.time_ms = 5;
    e.node = 3;
    e.ballot = (ballot_t){.round = 8, .node = 2};
    e.slot_first = 2;
    e.command_count = 3;
    char line[TRACE_LINE_BYTES_MAX];
    size_t len = trace_format_event(&e, line, sizeof line);
    line[len] = '\0';
    assert_string_equal(line, "{\"t\":5,\"node\":3,\"ev\":\"promise_sent\",\"b\":\"r8.n2\","
                              "\"slots\":\"2\",\"n\":3}\n");
    round_trip(&e);
}

/* The hand-rolled ballot text is the core's. */
static void test_ballot_text_matches_core(void **state)
{
    (void)state;
    const ballot_t ballots[] = {{1, 1}, {7, 2}, {UINT64_MAX, UINT32_MAX}, {10, 0}};
    for (size_t i = 0; i < sizeof ballots / sizeof ballots[0]; i++) {
        event_t e;
        memset(&e, 0, sizeof e);
        e.kind = EVENT_LEADER_ELECTED;
        e.node = 1;
        e.ballot = ballots[i];
        char line[TRACE_LINE_BYTES_MAX];
        char want[BALLOT_TEXT_BYTES + 8];
        char text[BALLOT_TEXT_BYTES];
        size_t len = trace_format_event(&e, line, sizeof line);
        line[len] = '\0';
        snprintf(want, sizeof want, "\"b\":\"%s\"", ballot_format(ballots[i], text, sizeof text));
        assert_non_null(strstr(line, want));
    }
}

static void test_header_and_blank(void **state)
{
    (void)state;
    char line[TRACE_LINE_BYTES_MAX];
    size_t len = trace_format_header(5, line, sizeof line);
    trace_line_kind_t kind = TRACE_LINE_BLANK;
    event_t e;
    uint32_t nodes = 0;
    char msg[MSG_BYTES];
    assert_int_equal(trace_parse_line(line, len - 1, &kind, &e, &nodes, msg, sizeof msg),
                     BALLOT_OK);
    assert_int_equal(kind, TRACE_LINE_HEADER);
    assert_int_equal(nodes, 5);
    assert_int_equal(trace_parse_line(" \t\r", 3, &kind, &e, &nodes, msg, sizeof msg), BALLOT_OK);
    assert_int_equal(kind, TRACE_LINE_BLANK);
    assert_int_equal(trace_format_event(&e, line, TRACE_LINE_BYTES_MAX - 1u), 0);
}

static const char *const bad_lines[] = {
    "{",
    "{}",
    "[]",
    "not json",
    "{\"t\":1,\"node\":1}",
    "{\"t\":1,\"ev\":\"chosen\"}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"x\":1}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"t\":2}",
    "{\"t\":-1,\"node\":1,\"ev\":\"chosen\"}",
    "{\"t\":01,\"node\":1,\"ev\":\"chosen\"}",
    "{\"t\":1.5,\"node\":1,\"ev\":\"chosen\"}",
    "{\"t\":1e3,\"node\":1,\"ev\":\"chosen\"}",
    "{\"t\":18446744073709551616,\"node\":1,\"ev\":\"chosen\"}",
    "{\"t\":\"1\",\"node\":1,\"ev\":\"chosen\"}",
    "{\"t\":1,\"node\":0,\"ev\":\"chosen\"}",
    "{\"t\":1,\"node\":16,\"ev\":\"chosen\"}",
    "{\"t\":1,\"node\":4294967296,\"ev\":\"chosen\"}",
    "{\"t\":1,\"node\":1,\"ev\":\"elected\"}",
    "{\"t\":1,\"node\":1,\"ev\":\"unknown\"}",
    "{\"t\":1,\"node\":1,\"ev\":\"cho\\u0073en\"}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\"} x",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\"}}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\" \"b\":\"r1.n1\"}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"b\":\"r1\"}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"b\":\"r0.n0\"}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"b\":\"7.n2\"}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"b\":{\"r\":1}}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"slots\":\"1-\"}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"slots\":\"-1\"}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"slots\":\"1-2-3\"}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"slots\":12}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"peer\":16}",
    "{\"t\":1,\"node\":1,\"ev\":\"stepped_down\",\"reason\":\"promised\"}",
    "{\"t\":1,\"node\":1,\"ev\":\"reject_sent\",\"reason\":\"\"}",
    "{\"t\":1,\"node\":1,\"ev\":\"reject_sent\",\"reason\":\"0\"}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"cmds\":[\"1:2\"]}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"cmds\":[\"1:2\"],\"n\":2}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"cmds\":[\"1:2\",\"1:3\"],\"n\":1}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"cmds\":[\"1\"],\"n\":1}",
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"cmds\":[\"1:2\",],\"n\":1}",
    ("{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"cmds\":[\"1:1\",\"1:2\",\"1:3\",\"1:4\",\"1:5\"],"
     "\"n\":5}"),
    "{\"t\":1,\"node\":1,\"ev\":\"chosen\",\"cmds\":\"1:2\",\"n\":1}",
    "{\"trace\":\"ballot\",\"version\":2,\"nodes\":3}",
    "{\"trace\":\"ballot\",\"version\":1,\"nodes\":0}",
    "{\"trace\":\"ballot\",\"version\":1,\"nodes\":16}",
    "{\"trace\":\"other\",\"version\":1,\"nodes\":3}",
    "{\"trace\":\"ballot\",\"version\":1}",
    "{\"trace\":\"ballot\",\"version\":1,\"nodes\":3,\"t\":1}",
};

static void test_bad_lines_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_lines / sizeof bad_lines[0]; i++) {
        trace_line_kind_t kind = TRACE_LINE_BLANK;
        event_t e;
        uint32_t nodes = 0;
        char msg[MSG_BYTES] = "";
        int rc = trace_parse_line(bad_lines[i], strlen(bad_lines[i]), &kind, &e, &nodes, msg,
                                  sizeof msg);
        if (rc != BALLOT_ECORRUPT) {
            fail_msg("accepted: %s", bad_lines[i]);
        }
        assert_true(strlen(msg) > 0);
    }
    /* A NUL inside a line is corrupt too. */
    const char with_nul[] = "{\"t\":1,\"node\":1,\"ev\":\"cho\0sen\"}";
    trace_line_kind_t kind;
    event_t e;
    uint32_t nodes;
    char msg[MSG_BYTES];
    assert_int_equal(
        trace_parse_line(with_nul, sizeof with_nul - 1u, &kind, &e, &nodes, msg, sizeof msg),
        BALLOT_ECORRUPT);
}

/* Every proper prefix of a valid line (a torn write) is refused; flipped bytes never crash. */
static void test_prefixes_and_flips(void **state)
{
    (void)state;
    event_t e;
    memset(&e, 0, sizeof e);
    e.kind = EVENT_REJECT_SENT;
    e.time_ms = 1234;
    e.node = 3;
    e.ballot = (ballot_t){.round = 5, .node = 1};
    e.other_ballot = (ballot_t){.round = 8, .node = 2};
    e.reason = REJECT_PROMISED;
    e.slot_first = 3;
    e.slot_last = 3;
    e.peer = 1;
    e.command_count = 2;
    e.client_ids[0] = 7;
    e.sequences[0] = 1;
    e.client_ids[1] = 7;
    e.sequences[1] = 2;
    char line[TRACE_LINE_BYTES_MAX];
    size_t len = trace_format_event(&e, line, sizeof line) - 1u;
    trace_line_kind_t kind;
    event_t back;
    uint32_t nodes;
    char msg[MSG_BYTES];
    for (size_t cut = 1; cut < len; cut++) {
        int rc = trace_parse_line(line, cut, &kind, &back, &nodes, msg, sizeof msg);
        if (rc != BALLOT_ECORRUPT) {
            fail_msg("prefix of %zu bytes accepted", cut);
        }
    }
    uint64_t x = 88172645463325252ull;
    for (int round = 0; round < 20000; round++) {
        char copy[TRACE_LINE_BYTES_MAX];
        memcpy(copy, line, len);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        copy[x % len] = (char)(x >> 32);
        (void)trace_parse_line(copy, len, &kind, &back, &nodes, msg, sizeof msg);
    }
}

static void test_writer_buffers_and_reads_back(void **state)
{
    (void)state;
    char dir[TEST_DIR_BYTES];
    char path[TEST_PATH_BYTES];
    test_dir_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/big.trace", dir);
    trace_writer_t *w = NULL;
    char msg[MSG_BYTES];
    assert_int_equal(trace_writer_open(&w, path, 3, msg, sizeof msg), BALLOT_OK);
    const uint32_t count = 5000; /* several 64 KiB buffers */
    for (uint32_t i = 0; i < count; i++) {
        event_t e;
        memset(&e, 0, sizeof e);
        e.kind = EVENT_ACCEPTED;
        e.time_ms = i;
        e.node = 1u + i % 3u;
        e.ballot = (ballot_t){.round = 3, .node = 1};
        e.slot_first = i + 1u;
        e.slot_last = i + 1u;
        e.peer = 1;
        assert_int_equal(trace_writer_write(w, &e), BALLOT_OK);
    }
    trace_writer_stats_t stats;
    trace_writer_get_stats(w, &stats);
    assert_int_equal(stats.events, count);
    assert_true(stats.writes >= stats.bytes / TRACE_BUFFER_BYTES);
    assert_true(stats.writes <= stats.bytes / (TRACE_BUFFER_BYTES - TRACE_LINE_BYTES_MAX) + 1u);
    assert_int_equal(trace_writer_close(w), BALLOT_OK);
    trace_set_t set;
    trace_set_init(&set);
    assert_int_equal(trace_set_read_file(&set, path, stderr), BALLOT_OK);
    assert_int_equal(set.count, count);
    assert_int_equal(set.node_count, 3);
    assert_int_equal(set.bad_lines, 0);
    assert_int_equal(set.records[count - 1u].event.slot_first, count);
    trace_set_free(&set);
    test_dir_remove(dir);

    assert_int_equal(trace_writer_open(&w, "/nonexistent-dir/x.trace", 3, msg, sizeof msg),
                     BALLOT_EIO);
    assert_null(w);
    assert_non_null(strstr(msg, "/nonexistent-dir/x.trace"));
    assert_int_equal(trace_writer_close(NULL), BALLOT_OK);
}

static void test_ring_keeps_the_last(void **state)
{
    (void)state;
    trace_ring_t *ring = NULL;
    assert_int_equal(trace_ring_create(&ring, 0), BALLOT_EINVAL);
    assert_int_equal(trace_ring_create(&ring, TRACE_RING_EVENTS_MAX + 1u), BALLOT_EINVAL);
    assert_int_equal(trace_ring_create(&ring, 4), BALLOT_OK);
    for (uint64_t i = 1; i <= 10; i++) {
        event_t e;
        memset(&e, 0, sizeof e);
        e.kind = EVENT_CHOSEN;
        e.time_ms = i;
        e.node = 2;
        e.slot_first = i;
        trace_ring_push(ring, &e);
    }
    assert_int_equal(trace_ring_count(ring), 4);
    assert_int_equal(trace_ring_total(ring), 10);
    assert_int_equal(trace_ring_get(ring, 0)->time_ms, 7);
    assert_int_equal(trace_ring_get(ring, 3)->time_ms, 10);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_int_equal(trace_ring_dump(ring, out), BALLOT_OK);
    fclose(out);
    FILE *in = fmemopen(text, len, "r");
    trace_set_t set;
    trace_set_init(&set);
    assert_int_equal(trace_set_read_stream(&set, in, "dump", stderr), BALLOT_OK);
    fclose(in);
    assert_int_equal(set.count, 4);
    assert_int_equal(set.records[0].event.slot_first, 7);
    trace_set_free(&set);
    free(text);
    trace_ring_destroy(ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_kind),
        cmocka_unit_test(test_round_trip_extremes),
        cmocka_unit_test(test_ballot_text_matches_core),
        cmocka_unit_test(test_header_and_blank),
        cmocka_unit_test(test_bad_lines_refused),
        cmocka_unit_test(test_prefixes_and_flips),
        cmocka_unit_test(test_writer_buffers_and_reads_back),
        cmocka_unit_test(test_ring_keeps_the_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
