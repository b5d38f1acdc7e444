/* Building blocks: ballots, batches, messages, events, the PRNG, the configuration, and
 * malformed input refused with BALLOT_EINVAL and no state change. */
#include "test_util.h"

#include "core/error.h"
#include "base/endian.h"

static void test_ballot_order_and_text(void **state)
{
    (void)state;
    assert_true(ballot_less(B(1, 3), B(2, 1)));
    assert_true(ballot_less(B(2, 1), B(2, 2)));
    assert_int_equal(ballot_compare(B(5, 4), B(5, 4)), 0);
    assert_true(ballot_is_none(BALLOT_NONE));
    assert_true(ballot_equal(ballot_next(B(7, 3), 2), B(8, 2)));
    assert_true(ballot_less(B(7, 3), ballot_next(B(7, 3), 1)));
    char buf[BALLOT_TEXT_BYTES];
    assert_string_equal(ballot_format(B(7, 2), buf, sizeof(buf)), "r7.n2");
    ballot_t max = {UINT64_MAX, UINT32_MAX};
    ballot_format(max, buf, sizeof(buf));
    ballot_t parsed;
    assert_true(ballot_parse(buf, &parsed));
    assert_true(ballot_equal(parsed, max));
    assert_true(ballot_parse("r7.n2", &parsed));
    assert_true(ballot_equal(parsed, B(7, 2)));
    const char *bad[] = {"",
                         "r",
                         "7.n2",
                         "r7n2",
                         "r7.2",
                         "r7.n",
                         "rx.n2",
                         "r7.n2x",
                         "r18446744073709551616.n1",
                         "r1.n4294967296",
                         "r-1.n2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(ballot_parse(bad[i], &parsed));
    }
}

static void test_batch_encode_iterate_validate(void **state)
{
    (void)state;
    command_t in[3] = {
        {1, 10, 3, (const uint8_t *)"abc"}, {2, 20, 0, NULL}, {3, 30, 5, (const uint8_t *)"hello"}};
    value_t v;
    assert_true(batch_encode(&v, in, 3));
    assert_int_equal(v.kind, VALUE_BATCH);
    assert_int_equal(v.size, batch_encoded_bytes(in, 3));
    assert_true(batch_validate(v.bytes, v.size));
    assert_int_equal(batch_count(&v), 3);
    batch_iter_t it;
    command_t c;
    batch_iter_init(&it, &v);
    for (int i = 0; i < 3; i++) {
        assert_true(batch_iter_next(&it, &c));
        assert_int_equal(c.client_id, in[i].client_id);
        assert_int_equal(c.sequence, in[i].sequence);
        assert_int_equal(c.size, in[i].size);
        assert_memory_equal(c.bytes, in[i].bytes ? in[i].bytes : (const uint8_t *)"", c.size);
    }
    assert_false(batch_iter_next(&it, &c));
    value_t copy;
    assert_true(value_copy(&copy, &v));
    assert_true(value_equal(&copy, &v));
    /* Malformed batches: truncated, trailing bytes, count 0, count over the bound, a
     * command length past the end. */
    assert_false(batch_validate(v.bytes, v.size - 1));
    uint8_t *longer = malloc(v.size + 1);
    memcpy(longer, v.bytes, v.size);
    assert_false(batch_validate(longer, v.size + 1));
    put_u32(copy.bytes, 0);
    assert_false(batch_validate(copy.bytes, copy.size));
    put_u32(copy.bytes, BATCH_COMMANDS_MAX + 1);
    assert_false(batch_validate(copy.bytes, copy.size));
    put_u32(copy.bytes, 3);
    put_u32(copy.bytes + BATCH_HEADER_BYTES + 16, 1000);
    assert_false(batch_validate(copy.bytes, copy.size));
    assert_false(batch_validate(NULL, 0));
    free(longer);
    value_free(&copy);
    value_free(&v);
}

static void test_batch_bounds(void **state)
{
    (void)state;
    value_t v;
    command_t many[BATCH_COMMANDS_MAX + 1];
    for (uint32_t i = 0; i <= BATCH_COMMANDS_MAX; i++) {
        many[i] = (command_t){i, i, 1, (const uint8_t *)"x"};
    }
    assert_false(batch_encode(&v, many, BATCH_COMMANDS_MAX + 1));
    assert_false(batch_encode(&v, many, 0));
    assert_true(batch_encode(&v, many, BATCH_COMMANDS_MAX));
    value_free(&v);
    uint8_t *big = calloc(COMMAND_BYTES_MAX + 1, 1);
    command_t huge = {1, 1, COMMAND_BYTES_MAX + 1, big};
    assert_false(batch_encode(&v, &huge, 1));
    huge.size = COMMAND_BYTES_MAX;
    assert_true(batch_encode(&v, &huge, 1));
    assert_true(batch_validate(v.bytes, v.size));
    value_free(&v);
    free(big);
}

static void test_msg_copy_free_and_names(void **state)
{
    (void)state;
    report_t r[2] = {{1, B(2, 1), "A"}, {3, B(2, 1), NULL}};
    msg_t p = make_promise(2, 1, B(3, 1), 1, r, 2, 0);
    assert_true(msg_validate(&p));
    msg_t c;
    assert_true(msg_copy(&c, &p));
    assert_true(msg_validate(&c));
    assert_true(value_equal(&c.u.promise.entries[0].value, &p.u.promise.entries[0].value));
    assert_ptr_not_equal(c.u.promise.entries, p.u.promise.entries);
    msg_free(&p);
    msg_free(&c);
    assert_int_equal(c.type, 0);
    for (int t = MSG_TYPE_MIN; t <= MSG_TYPE_MAX; t++) {
        assert_string_not_equal(msg_type_name((msg_type_t)t), "Unknown");
    }
    assert_string_equal(msg_type_name((msg_type_t)99), "Unknown");
}

static void test_msg_validate_rejects_malformed(void **state)
{
    (void)state;
    msg_t m = make_prepare(1, 2, B(3, 1), 1);
    assert_true(msg_validate(&m));
    m.type = (msg_type_t)0;
    assert_false(msg_validate(&m));
    m = make_prepare(0, 2, B(3, 1), 1);
    assert_false(msg_validate(&m));
    m = make_prepare(1, NODES_MAX + 1, B(3, 1), 1);
    assert_false(msg_validate(&m));
    m = make_prepare(1, 2, BALLOT_NONE, 1);
    assert_false(msg_validate(&m));
    m = make_prepare(1, 2, B(3, NODES_MAX + 1), 1);
    assert_false(msg_validate(&m));
    m = make_prepare(1, 2, B(3, 1), 0);
    assert_false(msg_validate(&m));
    /* Entries out of order, past the bound, or with a broken batch. */
    report_t r[2] = {{3, B(2, 1), "A"}, {2, B(2, 1), "B"}};
    msg_t p = make_promise(2, 1, B(3, 1), 1, r, 2, 0);
    assert_false(msg_validate(&p));
    msg_free(&p);
    p = make_promise(2, 1, B(3, 1), 1, r, 1, 0);
    p.u.promise.entry_count = MSG_ENTRIES_MAX + 1;
    assert_false(msg_validate(&p));
    p.u.promise.entry_count = 1;
    p.u.promise.entries[0].value.bytes[0] ^= 0xff;
    assert_false(msg_validate(&p));
    msg_free(&p);
    msg_t a = make_accept(1, 2, B(3, 1), 1, NULL, 0);
    a.u.accept.value.size = 4; /* a no-op with bytes */
    assert_false(msg_validate(&a));
    a.u.accept.value = value_noop();
    a.u.accept.value.kind = (value_kind_t)7;
    assert_false(msg_validate(&a));
    msg_t rej;
    memset(&rej, 0, sizeof(rej));
    rej.type = MSG_REJECT;
    rej.from = 2;
    rej.to = 1;
    rej.u.reject.rejected_type = MSG_PREPARE;
    rej.u.reject.ballot = B(3, 1);
    rej.u.reject.reason = (reject_reason_t)(REJECT_REASON_MAX + 1);
    assert_false(msg_validate(&rej));
    msg_t f;
    memset(&f, 0, sizeof(f));
    f.type = MSG_FORWARD;
    f.from = 2;
    f.to = 1;
    f.u.forward.payload = (value_t){VALUE_BATCH, COMMAND_BYTES_MAX + 1, (uint8_t *)"x"};
    assert_false(msg_validate(&f));
    assert_false(msg_validate(NULL));
}

static void test_event_names_round_trip(void **state)
{
    (void)state;
    for (int k = EVENT_PREPARE_SENT; k <= EVENT_KIND_MAX; k++) {
        const char *name = event_kind_name((event_kind_t)k);
        assert_string_not_equal(name, "unknown");
        assert_int_equal(event_kind_from_name(name), k);
    }
    assert_int_equal(event_kind_from_name("nonsense"), 0);
    assert_string_equal(event_kind_name((event_kind_t)0), "unknown");
}

static void test_rng_is_seeded_and_in_range(void **state)
{
    (void)state;
    rng_t a;
    rng_t b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_range(&a, 300, 600);
        assert_int_equal(x, rng_range(&b, 300, 600));
        assert_true(x >= 300 && x < 600);
    }
    rng_seed(&b, 43);
    assert_int_not_equal(rng_next(&a), rng_next(&b));
    assert_int_equal(rng_range(&a, 5, 5), 5);
}

static void test_config_defaults_and_bounds(void **state)
{
    (void)state;
    node_config_t c;
    node_config_default(&c, 2, 3);
    assert_int_equal(c.heartbeat_ms, 50);
    assert_int_equal(c.election_timeout_min_ms, 300);
    assert_int_equal(c.election_timeout_max_ms, 600);
    assert_int_equal(c.lease_ms, 250);
    assert_int_equal(c.clock_drift_ms, 25);
    assert_int_equal(c.backoff_min_ms, 20);
    assert_int_equal(c.backoff_max_ms, 1000);
    assert_int_equal(c.retransmit_ms, 100);
    assert_int_equal(c.window_slots, 256);
    assert_int_equal(c.batch_commands, 256);
    assert_int_equal(c.batch_bytes, 1024 * 1024);
    assert_int_equal(c.pending_commands_max, 16384);
    assert_true(c.forward_to_leader);
    assert_true(c.trace);
    char why[128];
    assert_int_equal(node_config_check(&c, why, sizeof(why)), BALLOT_OK);
    node_config_t bad = c;
    bad.node_count = 2;
    assert_int_equal(node_config_check(&bad, why, sizeof(why)), BALLOT_EINVAL);
    bad = c;
    bad.id = 4;
    assert_int_equal(node_config_check(&bad, why, sizeof(why)), BALLOT_EINVAL);
    bad = c;
    bad.window_slots = WINDOW_SLOTS_MAX + 1;
    assert_int_equal(node_config_check(&bad, why, sizeof(why)), BALLOT_EINVAL);
    bad = c;
    bad.batch_commands = BATCH_COMMANDS_MAX + 1;
    assert_int_equal(node_config_check(&bad, why, sizeof(why)), BALLOT_EINVAL);
    bad = c;
    bad.batch_bytes = BATCH_BYTES_MAX + 1;
    assert_int_equal(node_config_check(&bad, why, sizeof(why)), BALLOT_EINVAL);
    bad = c;
    bad.pending_commands_max = PENDING_COMMANDS_MAX + 1;
    assert_int_equal(node_config_check(&bad, why, sizeof(why)), BALLOT_EINVAL);
    bad = c;
    bad.election_timeout_max_ms = bad.election_timeout_min_ms;
    assert_int_equal(node_config_check(&bad, why, sizeof(why)), BALLOT_EINVAL);
    bad = c;
    bad.clock_drift_ms = bad.lease_ms;
    assert_int_equal(node_config_check(&bad, why, sizeof(why)), BALLOT_EINVAL);
    bad = c;
    bad.heartbeat_ms = 0;
    assert_int_equal(node_config_check(&bad, why, sizeof(why)), BALLOT_EINVAL);
    assert_true(strlen(why) > 0);
    node_t *node = NULL;
    assert_int_equal(node_create(&node, &bad), BALLOT_EINVAL);
    assert_null(node);
    for (uint32_t n = 1; n <= 7; n += 2) {
        node_config_default(&c, n, n);
        assert_int_equal(node_config_check(&c, NULL, 0), BALLOT_OK);
    }
}

/* Input from the network is validated, never asserted on: a bad message changes nothing. */
static void test_malformed_messages_change_nothing(void **state)
{
    (void)state;
    harness_t h;
    quiet_harness(&h, 3);
    elect(&h, 1);
    harness_deliver_all(&h);
    node_status_t before = status_of(&h, 2);
    size_t records = count_records(&h, 2, PERSIST_PROMISE) + count_records(&h, 2, PERSIST_ACCEPT);
    msg_t bad[8];
    bad[0] = make_prepare(3, 2, B(90, 1), 1);        /* ballot not the sender's */
    bad[1] = make_prepare(2, 2, B(90, 2), 1);        /* from itself */
    bad[2] = make_prepare(3, 1, B(90, 3), 1);        /* not addressed to node 2 */
    bad[3] = make_prepare(16, 2, B(90, 16), 1);      /* no such node id */
    bad[4] = make_accept(3, 2, B(90, 3), 0, "X", 0); /* slot 0 */
    bad[5] = make_accept(3, 2, B(90, 3), 5, "X", 0);
    bad[5].u.accept.value.bytes[1] ^= 0x7f; /* broken batch */
    bad[6] = make_heartbeat(3, 2, BALLOT_NONE, 0, 1);
    bad[7] = make_promise(3, 2, B(90, 3), 1, NULL, 0, 0); /* a promise for a ballot of 3 */
    for (int i = 0; i < 8; i++) {
        assert_int_equal(node_receive(h.nodes[2].node, &bad[i], h.now_ms), BALLOT_EINVAL);
        msg_free(&bad[i]);
    }
    harness_collect(&h, 2);
    node_status_t after = status_of(&h, 2);
    assert_memory_equal(&before, &after, sizeof(before));
    assert_int_equal(count_records(&h, 2, PERSIST_PROMISE) + count_records(&h, 2, PERSIST_ACCEPT),
                     records);
    assert_int_equal(harness_count(&h, 2, HARNESS_ANY, 0), 0);
    assert_int_equal(node_receive(h.nodes[2].node, NULL, h.now_ms), BALLOT_EINVAL);
    harness_free(&h);
}

static void test_recover_refuses_corrupt_records(void **state)
{
    (void)state;
    node_config_t c;
    node_config_default(&c, 1, 3);
    node_t *node;
    assert_int_equal(node_create(&node, &c), BALLOT_OK);
    persist_record_t r = {.kind = (persist_kind_t)9, .ballot = B(1, 1)};
    assert_int_equal(node_recover(node, &r), BALLOT_ECORRUPT);
    r.kind = PERSIST_PROMISE;
    r.ballot = B(1, NODES_MAX + 1);
    assert_int_equal(node_recover(node, &r), BALLOT_ECORRUPT);
    r.kind = PERSIST_ACCEPT;
    r.ballot = B(1, 1);
    r.slot = 1;
    r.value = (value_t){VALUE_BATCH, 3, (uint8_t *)"bad"};
    assert_int_equal(node_recover(node, &r), BALLOT_ECORRUPT);
    r.value = value_noop();
    r.slot = 0;
    assert_int_equal(node_recover(node, &r), BALLOT_ECORRUPT);
    r.slot = 1;
    assert_int_equal(node_recover(node, &r), BALLOT_OK);
    node_start(node, 0, false);
    assert_int_equal(node_recover(node, &r), BALLOT_ESTATE);
    node_destroy(node);
    assert_string_equal(ballot_strerror(BALLOT_EINVAL), "invalid input");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ballot_order_and_text),
        cmocka_unit_test(test_batch_encode_iterate_validate),
        cmocka_unit_test(test_batch_bounds),
        cmocka_unit_test(test_msg_copy_free_and_names),
        cmocka_unit_test(test_msg_validate_rejects_malformed),
        cmocka_unit_test(test_event_names_round_trip),
        cmocka_unit_test(test_rng_is_seeded_and_in_range),
        cmocka_unit_test(test_config_defaults_and_bounds),
        cmocka_unit_test(test_malformed_messages_change_nothing),
        cmocka_unit_test(test_recover_refuses_corrupt_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
