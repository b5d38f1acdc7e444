/* The key-value state machine: every operation (binary-safe), limits, INCR overflow, CAS,
 * retried commands applied once, client table eviction, snapshots (round trip,
 * determinism, corrupt bytes refused with the state unchanged). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/crc32c.h"
#include "base/endian.h"
#include "kv/kv.h"
#include "kv/kv_internal.h"

#define ARGS_MAX      8
#define CMD_BYTES_MAX (3u * 1024u * 1024u)

static uint8_t cmd_buf[CMD_BYTES_MAX];

/* Encodes "OP a b c" given as (pointer, length) pairs; returns the encoded size. */
static size_t encode_argv(const kv_config_t *config, uint32_t argc, const uint8_t **argv,
                          const uint32_t *len)
{
    kv_command_t cmd;
    char err[KV_ERROR_BYTES];
    assert_int_equal(kv_command_from_argv(argc, argv, len, config, &cmd, err, sizeof(err)),
                     BALLOT_OK);
    size_t written = 0;
    assert_int_equal(kv_command_encode(&cmd, config, cmd_buf, sizeof(cmd_buf), &written),
                     BALLOT_OK);
    return written;
}

/* Encodes a command written as space-separated words (no binary). */
static size_t encode_words(const char *text)
{
    static char copy[256];
    const uint8_t *argv[ARGS_MAX];
    uint32_t len[ARGS_MAX];
    uint32_t argc = 0;
    snprintf(copy, sizeof(copy), "%s", text);
    for (char *save = NULL, *w = strtok_r(copy, " ", &save); w != NULL;
         w = strtok_r(NULL, " ", &save)) {
        assert_true(argc < ARGS_MAX);
        argv[argc] = (const uint8_t *)w;
        len[argc++] = (uint32_t)strlen(w);
    }
    return encode_argv(NULL, argc, argv, len);
}

static kv_result_t run(kv_t *kv, uint64_t client, uint64_t seq, const char *text)
{
    size_t size = encode_words(text);
    kv_result_t r;
    assert_int_equal(kv_apply(kv, client, seq, cmd_buf, (uint32_t)size, &r), BALLOT_OK);
    return r;
}

static void expect_int(kv_result_t r, int64_t v)
{
    assert_int_equal(r.type, KV_RESULT_INTEGER);
    assert_true(r.integer == v);
}

static void expect_bulk(kv_result_t r, const char *v)
{
    assert_int_equal(r.type, KV_RESULT_BULK);
    assert_int_equal(r.size, strlen(v));
    assert_memory_equal(r.bytes, v, r.size);
}

static void expect_error(kv_result_t r, kv_error_t e)
{
    assert_int_equal(r.type, KV_RESULT_ERROR);
    assert_int_equal(r.error, e);
}

static kv_t *new_kv(const kv_config_t *config)
{
    kv_t *kv = NULL;
    char err[KV_ERROR_BYTES];
    assert_int_equal(kv_create(&kv, config, err, sizeof(err)), BALLOT_OK);
    return kv;
}

static void basic_operations(void **state)
{
    (void)state;
    kv_t *kv = new_kv(NULL);
    assert_int_equal(run(kv, 0, 0, "GET a").type, KV_RESULT_NIL);
    assert_int_equal(run(kv, 0, 0, "SET a 1").type, KV_RESULT_OK);
    assert_int_equal(run(kv, 0, 0, "set b 22").type, KV_RESULT_OK);
    expect_bulk(run(kv, 0, 0, "GET a"), "1");
    assert_int_equal(run(kv, 0, 0, "SET a 333").type, KV_RESULT_OK);
    expect_bulk(run(kv, 0, 0, "GeT a"), "333");
    expect_int(run(kv, 0, 0, "EXISTS a b c a"), 3);
    expect_int(run(kv, 0, 0, "DEL a c a"), 1);
    expect_int(run(kv, 0, 0, "EXISTS a"), 0);
    assert_int_equal(run(kv, 0, 0, "GET a").type, KV_RESULT_NIL);
    assert_true(kv_key_count(kv) == 1);
    kv_result_t r;
    assert_int_equal(kv_read(kv, KV_GET, (const uint8_t *)"b", 1, &r), BALLOT_OK);
    expect_bulk(r, "22");
    assert_int_equal(kv_read(kv, KV_EXISTS, (const uint8_t *)"b", 1, &r), BALLOT_OK);
    expect_int(r, 1);
    assert_int_equal(kv_read(kv, KV_SET, (const uint8_t *)"b", 1, &r), BALLOT_EINVAL);
    kv_free(kv);
}

static void binary_keys_and_values(void **state)
{
    (void)state;
    kv_t *kv = new_kv(NULL);
    const uint8_t key1[] = {0, 1, 0xff, 0, '\r', '\n'};
    const uint8_t key2[] = {0, 1, 0xff, 0, '\r'}; /* a prefix of key1 */
    const uint8_t value[] = {0xff, 0, 0, 7};
    const uint8_t *argv[3] = {(const uint8_t *)"SET", key1, value};
    uint32_t len[3] = {3, sizeof(key1), sizeof(value)};
    kv_result_t r;
    size_t n = encode_argv(NULL, 3, argv, len);
    assert_int_equal(kv_apply(kv, 0, 0, cmd_buf, (uint32_t)n, &r), BALLOT_OK);
    argv[1] = key2;
    len[1] = sizeof(key2);
    len[2] = 0; /* an empty value */
    n = encode_argv(NULL, 3, argv, len);
    assert_int_equal(kv_apply(kv, 0, 0, cmd_buf, (uint32_t)n, &r), BALLOT_OK);
    argv[1] = (const uint8_t *)"";
    len[1] = 0; /* the empty key */
    n = encode_argv(NULL, 3, argv, len);
    assert_int_equal(kv_apply(kv, 0, 0, cmd_buf, (uint32_t)n, &r), BALLOT_OK);
    assert_true(kv_key_count(kv) == 3);
    assert_int_equal(kv_read(kv, KV_GET, key1, sizeof(key1), &r), BALLOT_OK);
    assert_int_equal(r.type, KV_RESULT_BULK);
    assert_int_equal(r.size, sizeof(value));
    assert_memory_equal(r.bytes, value, sizeof(value));
    assert_int_equal(kv_read(kv, KV_GET, key2, sizeof(key2), &r), BALLOT_OK);
    assert_int_equal(r.type, KV_RESULT_BULK);
    assert_int_equal(r.size, 0);
    assert_int_equal(kv_read(kv, KV_EXISTS, (const uint8_t *)"", 0, &r), BALLOT_OK);
    expect_int(r, 1);
    kv_free(kv);
}

static void incr_rules(void **state)
{
    (void)state;
    kv_t *kv = new_kv(NULL);
    expect_int(run(kv, 0, 0, "INCR n"), 1);
    expect_int(run(kv, 0, 0, "INCR n"), 2);
    expect_bulk(run(kv, 0, 0, "GET n"), "2");
    run(kv, 0, 0, "SET n -5");
    expect_int(run(kv, 0, 0, "INCR n"), -4);
    run(kv, 0, 0, "SET n -1");
    expect_int(run(kv, 0, 0, "INCR n"), 0);
    expect_bulk(run(kv, 0, 0, "GET n"), "0");
    const char *bad[] = {"abc", "01", "+1", "-0", "1.5", "99999999999999999999", "-", "1x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[64];
        snprintf(text, sizeof(text), "SET s %s", bad[i]);
        run(kv, 0, 0, text);
        expect_error(run(kv, 0, 0, "INCR s"), KV_ERR_NOT_INTEGER);
        expect_bulk(run(kv, 0, 0, "GET s"), bad[i]);
    }
    run(kv, 0, 0, "SET m 9223372036854775806");
    expect_int(run(kv, 0, 0, "INCR m"), INT64_MAX);
    expect_error(run(kv, 0, 0, "INCR m"), KV_ERR_OVERFLOW);
    expect_bulk(run(kv, 0, 0, "GET m"), "9223372036854775807");
    run(kv, 0, 0, "SET m -9223372036854775808");
    expect_int(run(kv, 0, 0, "INCR m"), INT64_MIN + 1);
    run(kv, 0, 0, "SET m 9223372036854775808");
    expect_error(run(kv, 0, 0, "INCR m"), KV_ERR_NOT_INTEGER);
    assert_string_equal(kv_error_text(KV_ERR_NOT_INTEGER),
                        "ERR value is not an integer or out of range");
    kv_free(kv);
}

static void cas_rules(void **state)
{
    (void)state;
    kv_t *kv = new_kv(NULL);
    expect_int(run(kv, 0, 0, "CAS k a b"), 0); /* missing key: 0, nothing created */
    expect_int(run(kv, 0, 0, "EXISTS k"), 0);
    run(kv, 0, 0, "SET k a");
    expect_int(run(kv, 0, 0, "CAS k x b"), 0);
    expect_bulk(run(kv, 0, 0, "GET k"), "a");
    expect_int(run(kv, 0, 0, "CAS k a bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"), 1);
    expect_bulk(run(kv, 0, 0, "GET k"), "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    expect_int(run(kv, 0, 0, "CAS k bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb c"), 1);
    expect_int(run(kv, 0, 0, "CAS k c c"), 1);
    expect_bulk(run(kv, 0, 0, "GET k"), "c");
    expect_int(run(kv, 0, 0, "CAS k cc d"), 0);
    kv_free(kv);
}

static void argv_errors(void **state)
{
    (void)state;
    kv_command_t cmd;
    char err[KV_ERROR_BYTES];
    const uint8_t *argv[4] = {(const uint8_t *)"get", (const uint8_t *)"a", (const uint8_t *)"b",
                              (const uint8_t *)"c"};
    uint32_t len[4] = {3, 1, 1, 1};
    assert_int_equal(kv_command_from_argv(3, argv, len, NULL, &cmd, err, sizeof(err)),
                     BALLOT_EINVAL);
    assert_string_equal(err, "ERR wrong number of arguments for 'get' command");
    argv[0] = (const uint8_t *)"NOSUCHCMD";
    len[0] = 9;
    assert_int_equal(kv_command_from_argv(3, argv, len, NULL, &cmd, err, sizeof(err)),
                     BALLOT_EINVAL);
    assert_string_equal(err, "ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' ");
    argv[0] = (const uint8_t *)"SET";
    len[0] = 3;
    assert_int_equal(kv_command_from_argv(4, argv, len, NULL, &cmd, err, sizeof(err)),
                     BALLOT_EINVAL);
    assert_string_equal(err, "ERR syntax error");
    argv[0] = (const uint8_t *)"CAS";
    assert_int_equal(kv_command_from_argv(3, argv, len, NULL, &cmd, err, sizeof(err)),
                     BALLOT_EINVAL);
    assert_int_equal(kv_command_from_argv(4, argv, len, NULL, &cmd, err, sizeof(err)), BALLOT_OK);
    assert_int_equal(cmd.op, KV_CAS);
    assert_int_equal(cmd.arg_count, 3);
}

static void limits_checked(void **state)
{
    (void)state;
    kv_config_t config;
    kv_config_default(&config);
    config.key_bytes_max = 4;
    config.value_bytes_max = 40;
    config.keys_max = 2;
    kv_t *kv = new_kv(&config);
    kv_command_t cmd;
    char err[KV_ERROR_BYTES];
    const uint8_t *argv[3] = {(const uint8_t *)"SET", (const uint8_t *)"12345",
                              (const uint8_t *)"v"};
    uint32_t len[3] = {3, 5, 1};
    assert_int_equal(kv_command_from_argv(3, argv, len, &config, &cmd, err, sizeof(err)),
                     BALLOT_ETOOLARGE);
    assert_string_equal(err, "TOOLARGE key exceeds 4 bytes");
    len[1] = 4;
    len[2] = 41;
    uint8_t big[41];
    memset(big, 'v', sizeof(big));
    argv[2] = big;
    assert_int_equal(kv_command_from_argv(3, argv, len, &config, &cmd, err, sizeof(err)),
                     BALLOT_ETOOLARGE);
    assert_string_equal(err, "TOOLARGE value exceeds 40 bytes");
    /* Encoded under the default limits, applied under the small ones: a result error. */
    size_t n = encode_argv(NULL, 3, argv, len);
    kv_result_t r;
    assert_int_equal(kv_apply(kv, 0, 0, cmd_buf, (uint32_t)n, &r), BALLOT_OK);
    expect_error(r, KV_ERR_TOOLARGE);
    assert_true(kv_key_count(kv) == 0);
    /* keys_max. */
    assert_int_equal(run(kv, 0, 0, "SET a 1").type, KV_RESULT_OK);
    assert_int_equal(run(kv, 0, 0, "SET b 1").type, KV_RESULT_OK);
    expect_error(run(kv, 0, 0, "SET c 1"), KV_ERR_FULL);
    expect_error(run(kv, 0, 0, "INCR c"), KV_ERR_FULL);
    assert_int_equal(run(kv, 0, 0, "SET a 2").type, KV_RESULT_OK);
    /* Malformed bytes: a result, never a failure. */
    uint8_t junk[5] = {1, KV_SET, 9, 0, 0};
    assert_int_equal(kv_apply(kv, 0, 0, junk, sizeof(junk), &r), BALLOT_OK);
    expect_error(r, KV_ERR_MALFORMED);
    assert_int_equal(kv_apply(kv, 0, 0, NULL, 0, &r), BALLOT_OK);
    expect_error(r, KV_ERR_MALFORMED);
    kv_free(kv);
    /* The defaults: a 64 KiB key and a 1 MiB value pass; one byte more does not. CAS with
     * two maximal values exceeds COMMAND_BYTES_MAX. */
    static uint8_t huge[(1u << 20) + 1];
    const uint8_t *cas[4] = {(const uint8_t *)"CAS", huge, huge, huge};
    uint32_t cas_len[4] = {3, 1u << 16, 1u << 20, 1u << 20};
    assert_int_equal(kv_command_from_argv(4, cas, cas_len, NULL, &cmd, err, sizeof(err)),
                     BALLOT_ETOOLARGE);
    cas_len[2] = 16;
    assert_int_equal(kv_command_from_argv(4, cas, cas_len, NULL, &cmd, err, sizeof(err)),
                     BALLOT_OK);
    cas_len[1] = (1u << 16) + 1;
    assert_int_equal(kv_command_from_argv(4, cas, cas_len, NULL, &cmd, err, sizeof(err)),
                     BALLOT_ETOOLARGE);
    cas_len[1] = 1;
    cas_len[3] = (1u << 20) + 1;
    assert_int_equal(kv_command_from_argv(4, cas, cas_len, NULL, &cmd, err, sizeof(err)),
                     BALLOT_ETOOLARGE);
    /* Bad configurations. */
    config.value_bytes_max = 8;
    assert_int_equal(kv_config_check(&config, err, sizeof(err)), BALLOT_EINVAL);
    kv_config_default(&config);
    config.clients_max = 0;
    kv_t *none = NULL;
    assert_int_equal(kv_create(&none, &config, err, sizeof(err)), BALLOT_EINVAL);
    assert_null(none);
}

static void retried_commands_apply_once(void **state)
{
    (void)state;
    kv_t *kv = new_kv(NULL);
    assert_int_equal(run(kv, 7, 1, "SET x 10").type, KV_RESULT_OK);
    expect_int(run(kv, 7, 2, "INCR x"), 11);
    kv_result_t again = run(kv, 7, 2, "INCR x");
    expect_int(again, 11);
    assert_true(again.duplicate);
    expect_bulk(run(kv, 0, 0, "GET x"), "11");
    /* An older sequence is refused, not applied. */
    expect_error(run(kv, 7, 1, "SET x 10"), KV_ERR_STALE);
    expect_bulk(run(kv, 0, 0, "GET x"), "11");
    /* Errors are remembered too. */
    run(kv, 0, 0, "SET s abc");
    expect_error(run(kv, 7, 3, "INCR s"), KV_ERR_NOT_INTEGER);
    run(kv, 0, 0, "SET s 5");
    expect_error(run(kv, 7, 3, "INCR s"), KV_ERR_NOT_INTEGER);
    /* A retried GET reads again (its value is not kept). */
    expect_bulk(run(kv, 7, 4, "GET x"), "11");
    run(kv, 0, 0, "SET x 12");
    kv_result_t read = run(kv, 7, 4, "GET x");
    expect_bulk(read, "12");
    assert_true(read.duplicate);
    /* Other clients are independent; client 0 is never deduplicated. */
    expect_int(run(kv, 8, 2, "INCR x"), 13);
    expect_int(run(kv, 0, 5, "INCR x"), 14);
    expect_int(run(kv, 0, 5, "INCR x"), 15);
    assert_int_equal(kv_client_count(kv), 2);
    kv_free(kv);
}

static void client_table_bounded(void **state)
{
    (void)state;
    kv_config_t config;
    kv_config_default(&config);
    config.clients_max = 4;
    kv_t *kv = new_kv(&config);
    for (uint64_t c = 1; c <= 4; c++) {
        expect_int(run(kv, c, 1, "INCR n"), (int64_t)c);
    }
    expect_int(run(kv, 1, 2, "INCR n"), 5); /* client 1 is now the most recent */
    expect_int(run(kv, 5, 1, "INCR n"), 6); /* evicts client 2, the least recent */
    assert_int_equal(kv_client_count(kv), 4);
    expect_int(run(kv, 1, 2, "INCR n"), 5); /* still remembered */
    expect_int(run(kv, 3, 1, "INCR n"), 3);
    /* Client 2 was evicted: its retry counts as new (kv.h documents this). */
    kv_result_t r = run(kv, 2, 1, "INCR n");
    expect_int(r, 7);
    assert_false(r.duplicate);
    for (uint64_t c = 100; c < 1100; c++) {
        run(kv, c, 1, "INCR m");
    }
    assert_int_equal(kv_client_count(kv), 4);
    for (uint64_t c = 1096; c < 1100; c++) {
        assert_true(run(kv, c, 1, "INCR m").duplicate);
    }
    kv_free(kv);
}

typedef struct batch_seen {
    uint32_t count;
    int64_t last;
} batch_seen_t;

static void on_result(void *ctx, const command_t *command, const kv_result_t *result)
{
    batch_seen_t *seen = ctx;
    assert_true(command->client_id == 9);
    seen->count++;
    seen->last = result->integer;
}

static void batches_apply_in_order(void **state)
{
    (void)state;
    kv_t *kv = new_kv(NULL);
    static uint8_t bytes[3][64];
    command_t commands[3];
    const char *texts[3] = {"INCR a", "INCR a", "INCR a"};
    for (int i = 0; i < 3; i++) {
        size_t n = encode_words(texts[i]);
        memcpy(bytes[i], cmd_buf, n);
        commands[i] = (command_t){9, (uint64_t)i + 1, (uint32_t)n, bytes[i]};
    }
    commands[2].sequence = 2; /* a retry inside the same batch */
    value_t batch;
    assert_true(batch_encode(&batch, commands, 3));
    batch_seen_t seen = {0, 0};
    uint32_t applied = 0;
    assert_int_equal(kv_apply_batch(kv, &batch, on_result, &seen, &applied), BALLOT_OK);
    assert_int_equal(applied, 3);
    assert_int_equal(seen.count, 3);
    assert_true(seen.last == 2);
    expect_bulk(run(kv, 0, 0, "GET a"), "2");
    value_t noop = value_noop();
    assert_int_equal(kv_apply_batch(kv, &noop, NULL, NULL, &applied), BALLOT_OK);
    assert_int_equal(applied, 0);
    batch.size--;
    assert_int_equal(kv_apply_batch(kv, &batch, NULL, NULL, &applied), BALLOT_EINVAL);
    batch.size++;
    value_free(&batch);
    kv_free(kv);
}

typedef struct snap_buf {
    uint8_t *bytes;
    size_t size;
    size_t capacity;
} snap_buf_t;

static int snap_write(void *ctx, const void *bytes, size_t size)
{
    snap_buf_t *b = ctx;
    if (b->size + size > b->capacity) {
        b->capacity = (b->size + size) * 2;
        b->bytes = realloc(b->bytes, b->capacity);
        assert_non_null(b->bytes);
    }
    memcpy(b->bytes + b->size, bytes, size);
    b->size += size;
    return BALLOT_OK;
}

static snap_buf_t snapshot_of(const kv_t *kv)
{
    snap_buf_t b = {NULL, 0, 0};
    assert_int_equal(kv_snapshot_write(kv, snap_write, &b), BALLOT_OK);
    assert_true(b.size == kv_snapshot_bytes(kv));
    return b;
}

/* A mixed workload: keys inserted, overwritten, deleted, counted, by several clients. */
static void workload(kv_t *kv, uint64_t order_salt)
{
    char text[96];
    for (uint64_t i = 0; i < 3000; i++) {
        uint64_t k = (i * 7919u + order_salt) % 1000u;
        switch (i % 5) {
        case 0:
        case 1:
            snprintf(text, sizeof(text), "SET key%llu value-%llu", (unsigned long long)k,
                     (unsigned long long)(k * 3));
            break;
        case 2:
            snprintf(text, sizeof(text), "INCR n%llu", (unsigned long long)(k % 50));
            break;
        case 3:
            snprintf(text, sizeof(text), "DEL key%llu", (unsigned long long)((k * 13) % 1000));
            break;
        default:
            /* Reads through the log are in the client table too (as re-reads). */
            snprintf(text, sizeof(text),
                     i % 2 == 0 ? "CAS key%llu value-%llu v2" : "EXISTS key%llu key%llu",
                     (unsigned long long)k, (unsigned long long)(k * 3));
        }
        run(kv, 1 + i % 17, 1 + i / 17, text);
    }
}

static void snapshot_round_trip(void **state)
{
    (void)state;
    kv_t *kv = new_kv(NULL);
    workload(kv, 0);
    run(kv, 40, 1, "SET a 1");
    expect_int(run(kv, 40, 2, "EXISTS a a"), 2); /* a read is remembered as "read again" */
    snap_buf_t first = snapshot_of(kv);
    kv_config_t config;
    kv_config_default(&config);
    config.hash_seed = 12345; /* another layout, same state */
    kv_t *copy = new_kv(&config);
    run(copy, 0, 0, "SET junk 1"); /* replaced wholesale by the restore */
    char err[KV_ERROR_BYTES];
    assert_int_equal(kv_snapshot_restore(copy, first.bytes, first.size, err, sizeof(err)),
                     BALLOT_OK);
    assert_true(kv_key_count(copy) == kv_key_count(kv));
    assert_int_equal(kv_client_count(copy), kv_client_count(kv));
    expect_int(run(copy, 0, 0, "EXISTS junk"), 0);
    snap_buf_t second = snapshot_of(copy);
    assert_true(first.size == second.size);
    assert_memory_equal(first.bytes, second.bytes, first.size);
    /* Both answer every key alike, and both remember the same retries. */
    for (int k = 0; k < 1000; k++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "key%d", k);
        kv_result_t a, c;
        assert_int_equal(kv_read(kv, KV_GET, (const uint8_t *)key, (uint32_t)n, &a), BALLOT_OK);
        assert_int_equal(kv_read(copy, KV_GET, (const uint8_t *)key, (uint32_t)n, &c), BALLOT_OK);
        assert_int_equal(a.type, c.type);
        assert_int_equal(a.size, c.size);
        if (a.size > 0) {
            assert_memory_equal(a.bytes, c.bytes, a.size);
        }
    }
    kv_result_t a = run(kv, 5, 2999 / 17 + 1, "INCR n1");
    kv_result_t c = run(copy, 5, 2999 / 17 + 1, "INCR n1");
    assert_int_equal(a.type, c.type);
    assert_true(a.integer == c.integer);
    assert_int_equal(a.duplicate, c.duplicate);
    free(first.bytes);
    free(second.bytes);
    kv_free(kv);
    kv_free(copy);
}

static void snapshot_deterministic(void **state)
{
    (void)state;
    /* The same commands, different hash seeds: identical bytes. */
    kv_config_t config;
    kv_config_default(&config);
    kv_t *a = new_kv(&config);
    config.hash_seed = 99;
    kv_t *b = new_kv(&config);
    workload(a, 0);
    workload(b, 0);
    snap_buf_t sa = snapshot_of(a);
    snap_buf_t sb = snapshot_of(b);
    assert_true(sa.size == sb.size);
    assert_memory_equal(sa.bytes, sb.bytes, sa.size);
    free(sa.bytes);
    free(sb.bytes);
    kv_free(a);
    kv_free(b);
    /* The same keys and deadlines under other table layouts (seeds), no clients: identical
     * bytes. (Insertion order is history the state keeps: each key's version.) */
    config.hash_seed = 1;
    a = new_kv(&config);
    config.hash_seed = 2;
    b = new_kv(&config);
    kv_advance_time(a, 1000);
    kv_advance_time(b, 1000);
    char text[64];
    for (int i = 0; i < 500; i++) {
        snprintf(text, sizeof(text), "SET k%d v%d PX %d", i, i, 1000 + i);
        run(a, 0, 0, text);
        run(b, 0, 0, text);
    }
    sa = snapshot_of(a);
    sb = snapshot_of(b);
    assert_true(sa.size == sb.size);
    assert_memory_equal(sa.bytes, sb.bytes, sa.size);
    free(sa.bytes);
    free(sb.bytes);
    kv_free(a);
    kv_free(b);
}

/* kv_snapshot_image is the streamed snapshot in one buffer, within its bound. */
static void snapshot_image_matches_stream(void **state)
{
    (void)state;
    kv_t *kv = new_kv(NULL);
    workload(kv, 0);
    snap_buf_t streamed = snapshot_of(kv);
    uint8_t *image = NULL;
    uint64_t size = 0;
    assert_int_equal(kv_snapshot_image(kv, UINT64_MAX, &image, &size), BALLOT_OK);
    assert_true(size == streamed.size);
    assert_memory_equal(image, streamed.bytes, streamed.size);
    free(image);
    image = NULL;
    assert_int_equal(kv_snapshot_image(kv, size - 1, &image, &size), BALLOT_ETOOLARGE);
    assert_null(image);
    free(streamed.bytes);
    kv_free(kv);
}

/* Restores bytes after resealing the trailer checksum. */
static int restore_resealed(kv_t *kv, uint8_t *bytes, size_t size, char *err)
{
    put_u32(bytes + size - 4, crc32c(bytes, size - 4));
    return kv_snapshot_restore(kv, bytes, size, err, KV_ERROR_BYTES);
}

static void snapshot_corruption_refused(void **state)
{
    (void)state;
    kv_t *kv = new_kv(NULL);
    run(kv, 0, 0, "SET a 1");
    run(kv, 0, 0, "SET b 2");
    run(kv, 3, 1, "INCR c");
    run(kv, 4, 1, "GET c");
    snap_buf_t s = snapshot_of(kv);
    kv_t *target = new_kv(NULL);
    run(target, 0, 0, "SET keep me");
    char err[KV_ERROR_BYTES];
    /* Every bit flip and every truncation: refused, target unchanged. */
    for (size_t i = 0; i < s.size; i++) {
        for (int bit = 0; bit < 8; bit++) {
            s.bytes[i] ^= (uint8_t)(1u << bit);
            assert_int_equal(kv_snapshot_restore(target, s.bytes, s.size, err, sizeof(err)),
                             BALLOT_ECORRUPT);
            s.bytes[i] ^= (uint8_t)(1u << bit);
        }
        assert_int_not_equal(kv_snapshot_restore(target, s.bytes, i, err, sizeof(err)), BALLOT_OK);
    }
    expect_bulk(run(target, 0, 0, "GET keep"), "me");
    assert_true(kv_key_count(target) == 1);
    /* Well-sealed but inconsistent contents. Layout: 28-byte header, 8208-byte state (time,
     * counter, 1024 buckets), then "a" (24+1+1), "b" (24+1+1), "c" (24+1+1), then two
     * 43-byte clients. */
    uint8_t *copy = malloc(s.size);
    assert_non_null(copy);
    const size_t keys = 28 + 8208;
    const size_t clients = keys + 3 * 26;
    struct {
        size_t offset;
        uint8_t value;
        int rc;
    } edits[] = {
        {keys + 24, 'b', BALLOT_ECORRUPT},      /* "a" becomes "b": repeated key */
        {keys + 26 + 24, 'a', BALLOT_ECORRUPT}, /* "b" becomes "a": out of order */
        {16, 200, BALLOT_ECORRUPT},             /* key count larger than the bytes */
        {16, 2, BALLOT_ECORRUPT},               /* key count smaller: bytes left over */
        {24, 1, BALLOT_ECORRUPT},               /* client count */
        {clients + 16, 9, BALLOT_ECORRUPT},     /* client result type */
        {clients + 26, 7, BALLOT_ECORRUPT},     /* client watching flag */
        {clients + 43, 3, BALLOT_ECORRUPT},     /* second client id = first: repeated */
        {28 + 16 + 7, 1, BALLOT_ECORRUPT},      /* a bucket past the counter */
        {4, 3, BALLOT_ECORRUPT},                /* format */
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        memcpy(copy, s.bytes, s.size);
        copy[edits[i].offset] = edits[i].value;
        assert_int_equal(restore_resealed(target, copy, s.size, err), edits[i].rc);
        assert_true(strlen(err) > 0);
    }
    expect_bulk(run(target, 0, 0, "GET keep"), "me");
    /* A node with smaller limits refuses, as a configuration mismatch. */
    kv_config_t small;
    kv_config_default(&small);
    small.clients_max = 1;
    kv_t *tiny = new_kv(&small);
    assert_int_equal(kv_snapshot_restore(tiny, s.bytes, s.size, err, sizeof(err)), BALLOT_EINVAL);
    free(copy);
    free(s.bytes);
    kv_free(tiny);
    kv_free(target);
    kv_free(kv);
}

/* Many inserts and deletes exercise growth and backward-shift deletion. */
static void table_churn(void **state)
{
    (void)state;
    kv_t *kv = new_kv(NULL);
    char text[64];
    const int n = getenv("BALLOT_SANITIZED") != NULL ? 5000 : 30000;
    for (int i = 0; i < n; i++) {
        snprintf(text, sizeof(text), "SET k%d %d", i, i);
        run(kv, 0, 0, text);
    }
    for (int i = 0; i < n; i += 3) {
        snprintf(text, sizeof(text), "DEL k%d", i);
        expect_int(run(kv, 0, 0, text), 1);
    }
    for (int i = 0; i < n; i++) {
        char key[16];
        int len = snprintf(key, sizeof(key), "k%d", i);
        kv_result_t r;
        assert_int_equal(kv_read(kv, KV_EXISTS, (const uint8_t *)key, (uint32_t)len, &r),
                         BALLOT_OK);
        assert_true(r.integer == (i % 3 == 0 ? 0 : 1));
    }
    assert_true(kv_key_count(kv) == (uint64_t)(n - (n + 2) / 3));
    assert_true(kv_memory_bytes(kv) > kv_key_count(kv) * 32u);
    kv_free(kv);
}

/* Random sets and deletes over a small key space, checked against a reference after every
 * step: probe runs often wrap around the table's end, where backward shift is subtle. */
static void table_matches_reference(void **state)
{
    (void)state;
    enum { KEYS = 90 };
    bool present[KEYS] = {false};
    kv_t *kv = new_kv(NULL);
    uint64_t x = 88172645463325252ull;
    const int steps = getenv("BALLOT_SANITIZED") != NULL ? 5000 : 40000;
    char text[32];
    for (int step = 0; step < steps; step++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int k = (int)(x % KEYS);
        bool set = (x >> 20) % 2 == 0;
        snprintf(text, sizeof(text), set ? "SET k%d v" : "DEL k%d", k);
        run(kv, 0, 0, text);
        present[k] = set;
        for (int j = 0; j < KEYS; j++) {
            char key[8];
            int len = snprintf(key, sizeof(key), "k%d", j);
            kv_result_t r;
            assert_int_equal(kv_read(kv, KV_EXISTS, (const uint8_t *)key, (uint32_t)len, &r),
                             BALLOT_OK);
            assert_true(r.integer == (present[j] ? 1 : 0));
        }
    }
    kv_free(kv);
}

static void siphash_reference_vectors(void **state)
{
    (void)state;
    /* SipHash-2-4 with key 00..0f (Aumasson and Bernstein, appendix A and the reference
     * vectors): the empty message, and the 15-byte message 00..0e. */
    uint64_t key[2] = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
    uint8_t msg[15];
    for (uint8_t i = 0; i < 15; i++) {
        msg[i] = i;
    }
    assert_true(kv_siphash(key, msg, 0, 2, 4) == 0x726fdb47dd0e0e31ull);
    assert_true(kv_siphash(key, msg, 15, 2, 4) == 0xa129ca6149be45e5ull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(basic_operations),
        cmocka_unit_test(binary_keys_and_values),
        cmocka_unit_test(incr_rules),
        cmocka_unit_test(cas_rules),
        cmocka_unit_test(argv_errors),
        cmocka_unit_test(limits_checked),
        cmocka_unit_test(retried_commands_apply_once),
        cmocka_unit_test(client_table_bounded),
        cmocka_unit_test(batches_apply_in_order),
        cmocka_unit_test(snapshot_round_trip),
        cmocka_unit_test(snapshot_deterministic),
        cmocka_unit_test(snapshot_image_matches_stream),
        cmocka_unit_test(snapshot_corruption_refused),
        cmocka_unit_test(table_churn),
        cmocka_unit_test(table_matches_reference),
        cmocka_unit_test(siphash_reference_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
