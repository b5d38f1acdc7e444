/* Unit tests of the simulator's parts that a whole run cannot pin down: the
 * linearizability search on hand-made histories (each verdict known), the clock model,
 * the simulated disk's torn-tail and corruption detection, and the agenda's order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim/clock.h"
#include "sim/disk.h"
#include "sim/linearizability.h"
#include "sim/queue.h"
#include "sim/prng.h"

#define NEVER HISTORY_NEVER

static history_op_t op(uint32_t client, kv_op_t kind, uint64_t a1, uint64_t a2, uint64_t inv,
                       uint64_t done, bool ok, uint64_t value)
{
    history_op_t h;
    memset(&h, 0, sizeof(h));
    h.client = client;
    h.command.op = kind;
    h.command.key = 0;
    h.command.arg1 = a1;
    h.command.arg2 = a2;
    h.invoked = inv;
    h.completed = done;
    h.ok = ok;
    h.value = value;
    return h;
}

static lin_result_t check(const history_op_t *ops, size_t n)
{
    char why[2048];
    return lin_check_key(ops, n, 0, why, sizeof(why));
}

static void test_lin_sequential(void **state)
{
    (void)state;
    history_op_t ok[] = {
        op(1, KV_SET, 5, 0, 0, 1, true, 0), op(2, KV_GET, 0, 0, 2, 3, true, 5),
        op(1, KV_CAS, 5, 6, 4, 5, true, 0), op(2, KV_CAS, 5, 7, 6, 7, false, 0),
        op(1, KV_DEL, 0, 0, 8, 9, true, 0), op(2, KV_GET, 0, 0, 10, 11, true, 0),
    };
    assert_int_equal(check(ok, 6), LIN_OK);
    /* A read after the write completed that misses it. */
    history_op_t stale[] = {
        op(1, KV_SET, 5, 0, 0, 1, true, 0),
        op(2, KV_GET, 0, 0, 2, 3, true, 0),
    };
    assert_int_equal(check(stale, 2), LIN_VIOLATION);
}

static void test_lin_concurrent(void **state)
{
    (void)state;
    /* Overlapping SETs: a read may see either, but two later reads must agree. */
    history_op_t either[] = {
        op(1, KV_SET, 1, 0, 0, 3, true, 0),
        op(2, KV_SET, 2, 0, 1, 4, true, 0),
        op(3, KV_GET, 0, 0, 5, 6, true, 1),
        op(3, KV_GET, 0, 0, 7, 8, true, 1),
    };
    assert_int_equal(check(either, 4), LIN_OK);
    history_op_t flip[] = {
        op(1, KV_SET, 1, 0, 0, 3, true, 0),
        op(2, KV_SET, 2, 0, 1, 4, true, 0),
        op(3, KV_GET, 0, 0, 5, 6, true, 1),
        op(3, KV_GET, 0, 0, 7, 8, true, 2),
    };
    assert_int_equal(check(flip, 4), LIN_VIOLATION);
}

static void test_lin_indeterminate(void **state)
{
    (void)state;
    /* An indeterminate write may take effect late ... */
    history_op_t late[] = {
        op(1, KV_SET, 9, 0, 0, NEVER, false, 0),
        op(2, KV_GET, 0, 0, 1, 2, true, 0),
        op(2, KV_GET, 0, 0, 3, 4, true, 9),
    };
    assert_int_equal(check(late, 3), LIN_OK);
    /* ... or never, but not before it was invoked, and not undone. */
    history_op_t early[] = {
        op(2, KV_GET, 0, 0, 0, 1, true, 9),
        op(1, KV_SET, 9, 0, 2, NEVER, false, 0),
    };
    assert_int_equal(check(early, 2), LIN_VIOLATION);
    history_op_t undone[] = {
        op(1, KV_SET, 9, 0, 0, NEVER, false, 0),
        op(2, KV_GET, 0, 0, 1, 2, true, 9),
        op(2, KV_GET, 0, 0, 3, 4, true, 0),
    };
    assert_int_equal(check(undone, 3), LIN_VIOLATION);
    /* A GET without an answer is left out. */
    history_op_t unanswered[] = {
        op(2, KV_GET, 0, 0, 0, NEVER, false, 77),
    };
    assert_int_equal(check(unanswered, 1), LIN_OK);
}

static void test_clock(void **state)
{
    (void)state;
    sim_clock_t c;
    clock_init(&c, 0, 1000, -20000);
    uint64_t prev = clock_local(&c, 0);
    for (uint64_t t = 1; t < 5000; t++) {
        uint64_t now = clock_local(&c, t);
        assert_true(now >= prev);
        prev = now;
    }
    clock_set_rate(&c, 5000, 30000);
    assert_true(clock_local(&c, 5000) == prev || clock_local(&c, 5000) == prev + 1);
    uint64_t want = clock_local(&c, 5000) + 777;
    uint64_t at = clock_true_at(&c, 5000, want);
    assert_true(clock_local(&c, at) >= want);
    assert_true(clock_local(&c, at - 1) < want);
    /* The bound keeps two extreme clocks within the drift over one lease. */
    int64_t ppm = clock_bound_ppm(2000, 100);
    sim_clock_t fast, slow;
    clock_init(&fast, 0, 0, ppm);
    clock_init(&slow, 0, 0, -ppm);
    assert_true(clock_local(&fast, 2000) - clock_local(&slow, 2000) < 100);
}

static persist_record_t record(uint64_t seq)
{
    persist_record_t r;
    memset(&r, 0, sizeof(r));
    r.kind = PERSIST_ACCEPT;
    r.seq = seq;
    r.ballot = (ballot_t){.round = seq, .node = 1};
    r.slot = seq;
    r.value = value_noop();
    return r;
}

static int count_recovered(void *ctx, const persist_record_t *r)
{
    (void)r;
    (*(int *)ctx)++;
    return 0;
}

static void count_durable(void *ctx, const persist_record_t *r)
{
    (void)r;
    (*(int *)ctx)++;
}

/* The simulated disk runs the real WAL: an interrupted sync leaves a torn tail that
 * recovery cuts; a flipped bit in synced data is corruption and the log is discarded (a
 * flip in one synced-end copy or the header's padding is survived: the other copy holds).
 * Returns true when the flip was found as corruption. */
static bool disk_run(uint64_t seed)
{
    prng_t rng;
    prng_seed(&rng, seed);
    sim_disk_t d;
    disk_init(&d, 1);
    disk_open_result_t result;
    char msg[WAL_MESSAGE_BYTES];
    int n = 0;
    assert_int_equal(disk_open(&d, count_recovered, &n, &result, msg, sizeof(msg)), 0);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        persist_record_t r = record(seq);
        assert_int_equal(disk_append(&d, &r), 0);
    }
    assert_true(disk_sync_start(&d));
    uint64_t durable = 0;
    int synced = 0;
    assert_int_equal(disk_sync(&d, false, count_durable, &synced, &durable), 0);
    assert_int_equal(synced, 3);
    assert_int_equal(durable, 3);
    persist_record_t r4 = record(4);
    assert_int_equal(disk_append(&d, &r4), 0);
    assert_true(disk_sync_start(&d));
    disk_crash(&d, &rng, 1.0, false);
    n = 0;
    assert_int_equal(disk_open(&d, count_recovered, &n, &result, msg, sizeof(msg)), 0);
    assert_true(result == DISK_OPEN_OK || result == DISK_OPEN_TORN);
    assert_true(n == 3 || n == 4);
    char file[SIMIO_PATH_BYTES];
    uint64_t offset = 0;
    assert_true(disk_bitflip(&d, &rng, false, file, sizeof(file), &offset));
    disk_crash(&d, &rng, 0.0, false);
    n = 0;
    assert_int_equal(disk_open(&d, count_recovered, &n, &result, msg, sizeof(msg)), 0);
    bool spare = offset >= WAL_SEGMENT_LABEL_BYTES && offset < WAL_SEGMENT_HEADER_BYTES;
    if (spare) {
        assert_int_equal(result, DISK_OPEN_OK);
    } else {
        assert_int_equal(result, DISK_OPEN_CORRUPT);
        assert_true(d.needs_rejoin);
    }
    disk_destroy(&d);
    return !spare;
}

static void test_disk(void **state)
{
    (void)state;
    int corrupt = 0;
    for (uint64_t seed = 1; seed <= 64; seed++) {
        corrupt += disk_run(seed) ? 1 : 0;
    }
    assert_true(corrupt > 0);
}

static void test_queue(void **state)
{
    (void)state;
    queue_t q;
    queue_init(&q);
    uint64_t times[] = {5, 1, 5, 3, 1};
    for (unsigned i = 0; i < 5; i++) {
        sim_event_t ev = {.time_ms = times[i], .kind = SIM_EV_TICK, .a = i};
        assert_true(queue_push(&q, &ev));
    }
    uint64_t want[] = {1, 4, 3, 0, 2}; /* by time, then insertion */
    for (unsigned i = 0; i < 5; i++) {
        sim_event_t ev;
        assert_true(queue_pop(&q, &ev));
        assert_int_equal(ev.a, want[i]);
    }
    queue_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lin_sequential),
        cmocka_unit_test(test_lin_concurrent),
        cmocka_unit_test(test_lin_indeterminate),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_disk),
        cmocka_unit_test(test_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
