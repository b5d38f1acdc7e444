/* The state machine's transactions, expiry and string/keyspace commands: EXEC applies its
 * commands together and reports each result; WATCH aborts on any change (write, deletion,
 * deadline passed) after the watch point; deadlines follow batch stamps only, so replicas
 * and snapshots agree byte for byte; format-1 snapshots still restore; SCAN misses no key
 * present for the whole scan while the table grows; replies as Redis 7 gives them. */
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

#define WORDS_MAX 16

static uint8_t cmd_buf[2u * 1024u * 1024u];

/* Splits text at spaces into argv; returns argc. */
static uint32_t split(const char *text, char *copy, size_t copy_bytes, const uint8_t **argv,
                      uint32_t *len)
{
    uint32_t argc = 0;
    snprintf(copy, copy_bytes, "%s", text);
    for (char *save = NULL, *w = strtok_r(copy, " ", &save); w != NULL;
         w = strtok_r(NULL, " ", &save)) {
        assert_true(argc < WORDS_MAX);
        argv[argc] = (const uint8_t *)w;
        len[argc++] = (uint32_t)strlen(w);
    }
    return argc;
}

/* Encodes a command (checked like a queued one when `queued`) into out. */
static size_t encode_into(const char *text, bool queued, uint8_t *out, size_t out_bytes)
{
    char copy[512];
    const uint8_t *argv[WORDS_MAX];
    uint32_t len[WORDS_MAX];
    uint32_t argc = split(text, copy, sizeof(copy), argv, len);
    kv_command_t cmd;
    char err[KV_ERROR_BYTES];
    assert_int_equal(
        kv_command_from_argv_ex(argc, argv, len, NULL, !queued, &cmd, err, sizeof(err)), BALLOT_OK);
    size_t written = 0;
    int rc = queued ? kv_command_encode_queued(&cmd, NULL, out, out_bytes, &written)
                    : kv_command_encode(&cmd, NULL, out, out_bytes, &written);
    assert_int_equal(rc, BALLOT_OK);
    return written;
}

static kv_result_t run(kv_t *kv, uint64_t client, uint64_t seq, const char *text)
{
    size_t size = encode_into(text, false, cmd_buf, sizeof(cmd_buf));
    kv_result_t r;
    assert_int_equal(kv_apply(kv, client, seq, cmd_buf, (uint32_t)size, &r), BALLOT_OK);
    return r;
}

/* A read at `now` through kv_read_now. */
static kv_result_t read_at(kv_t *kv, uint64_t now, const char *text)
{
    char copy[512];
    const uint8_t *argv[WORDS_MAX];
    uint32_t len[WORDS_MAX];
    uint32_t argc = split(text, copy, sizeof(copy), argv, len);
    static kv_command_t cmd;
    char err[KV_ERROR_BYTES];
    assert_int_equal(kv_command_from_argv(argc, argv, len, NULL, &cmd, err, sizeof(err)),
                     BALLOT_OK);
    kv_result_t r;
    assert_int_equal(kv_read_now(kv, &cmd, now, &r), BALLOT_OK);
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

static void expect_resp(kv_result_t r, const char *v)
{
    assert_int_equal(r.type, KV_RESULT_RESP);
    if (r.size != strlen(v) || memcmp(r.bytes, v, r.size) != 0) {
        print_error("reply %.*s, expected %s\n", (int)r.size, (const char *)r.bytes, v);
        fail();
    }
}

static void expect_error_text(kv_result_t r, const char *text)
{
    assert_int_equal(r.type, KV_RESULT_ERROR);
    assert_string_equal(kv_error_text(r.error), text);
}

static kv_t *new_kv(uint64_t seed)
{
    kv_config_t config;
    kv_config_default(&config);
    config.hash_seed = seed;
    kv_t *kv = NULL;
    char err[KV_ERROR_BYTES];
    assert_int_equal(kv_create(&kv, &config, err, sizeof(err)), BALLOT_OK);
    return kv;
}

/* EXEC of `count` queued commands with `watched` keys (space-separated, "" for none). */
static kv_result_t exec(kv_t *kv, uint64_t client, uint64_t seq, const char *watched,
                        const char *const *queued, uint32_t count)
{
    static uint8_t parts[64][1024];
    static kv_command_t cmd;
    uint8_t header[4];
    char copy[512];
    const uint8_t *argv[WORDS_MAX];
    uint32_t len[WORDS_MAX];
    uint32_t w = watched[0] != '\0' ? split(watched, copy, sizeof(copy), argv, len) : 0;
    put_u32(header, w);
    cmd.op = KV_EXEC;
    cmd.args[0] = (kv_slice_t){header, 4};
    for (uint32_t i = 0; i < w; i++) {
        cmd.args[1 + i] = (kv_slice_t){argv[i], len[i]};
    }
    for (uint32_t i = 0; i < count; i++) {
        size_t n = encode_into(queued[i], true, parts[i], sizeof(parts[i]));
        cmd.args[1 + w + i] = (kv_slice_t){parts[i], (uint32_t)n};
    }
    cmd.arg_count = 1 + w + count;
    size_t written = 0;
    assert_int_equal(kv_command_encode(&cmd, NULL, cmd_buf, sizeof(cmd_buf), &written), BALLOT_OK);
    kv_result_t r;
    assert_int_equal(kv_apply(kv, client, seq, cmd_buf, (uint32_t)written, &r), BALLOT_OK);
    return r;
}

static void exec_applies_together(void **state)
{
    (void)state;
    kv_t *kv = new_kv(0);
    run(kv, 0, 0, "SET text hello");
    const char *q[] = {"SET a 1",           "INCR a",         "INCR text", "GET a",
                       "SET b 2 BADOPTION", "MGET a b nosuch"};
    expect_resp(exec(kv, 0, 0, "", q, 6),
                "*6\r\n+OK\r\n:2\r\n-ERR value is not an integer or out of range\r\n$1\r\n2\r\n"
                "-ERR syntax error\r\n*3\r\n$1\r\n2\r\n$-1\r\n$-1\r\n");
    expect_resp(exec(kv, 0, 0, "", q, 0), "*0\r\n");
    /* Retried (same client and sequence): applied once; the array reply was not kept. */
    const char *incr[] = {"INCR n"};
    expect_resp(exec(kv, 7, 1, "", incr, 1), "*1\r\n:1\r\n");
    kv_result_t again = exec(kv, 7, 1, "", incr, 1);
    assert_true(again.duplicate);
    assert_int_equal(again.error, KV_ERR_UNKEPT);
    expect_bulk(run(kv, 0, 0, "GET n"), "1");
    kv_free(kv);
}

/* A WATCH (the command ballotd sends for a connection's first WATCH). */
static void watch(kv_t *kv, uint64_t client, uint64_t seq)
{
    kv_command_t cmd = {.op = KV_WATCH, .arg_count = 0};
    size_t written = 0;
    assert_int_equal(kv_command_encode(&cmd, NULL, cmd_buf, sizeof(cmd_buf), &written), BALLOT_OK);
    kv_result_t r;
    assert_int_equal(kv_apply(kv, client, seq, cmd_buf, (uint32_t)written, &r), BALLOT_OK);
    assert_int_equal(r.type, KV_RESULT_OK);
}

static void watch_aborts_on_any_change(void **state)
{
    (void)state;
    kv_t *kv = new_kv(0);
    kv_advance_time(kv, 1000);
    const char *q[] = {"INCR counter"};
    run(kv, 0, 0, "SET w 1");
    /* Unchanged: applied. */
    watch(kv, 5, 1);
    run(kv, 0, 0, "SET other 1");
    expect_resp(exec(kv, 5, 2, "w", q, 1), "*1\r\n:1\r\n");
    /* Written after the WATCH (even to the same value): nil array. */
    watch(kv, 5, 3);
    run(kv, 0, 0, "SET w 1");
    expect_resp(exec(kv, 5, 4, "w", q, 1), "*-1\r\n");
    /* The watch is consumed by EXEC: an EXEC with watched keys but no WATCH aborts. */
    expect_resp(exec(kv, 5, 5, "w", q, 1), "*-1\r\n");
    /* Deleted after the WATCH. */
    watch(kv, 5, 6);
    run(kv, 0, 0, "DEL w");
    expect_resp(exec(kv, 5, 7, "w", q, 1), "*-1\r\n");
    /* Missing at WATCH, created and deleted again: still a change. */
    watch(kv, 5, 8);
    run(kv, 0, 0, "SET w 2");
    run(kv, 0, 0, "DEL w");
    expect_resp(exec(kv, 5, 9, "w", q, 1), "*-1\r\n");
    /* Missing and untouched: applied. */
    watch(kv, 5, 10);
    expect_resp(exec(kv, 5, 11, "w", q, 1), "*1\r\n:2\r\n");
    /* Its deadline passed after the WATCH. */
    run(kv, 0, 0, "SET t x PX 100");
    watch(kv, 5, 12);
    kv_advance_time(kv, 1200);
    expect_resp(exec(kv, 5, 13, "t", q, 1), "*-1\r\n");
    /* A FLUSHALL touches every key. */
    run(kv, 0, 0, "SET f 1");
    watch(kv, 5, 14);
    run(kv, 0, 0, "FLUSHALL");
    expect_resp(exec(kv, 5, 15, "f", q, 1), "*-1\r\n");
    /* The watch point survives a snapshot. */
    run(kv, 0, 0, "SET s 1");
    watch(kv, 5, 16);
    uint8_t *image = NULL;
    uint64_t size = 0;
    assert_int_equal(kv_snapshot_image(kv, UINT64_MAX, &image, &size), BALLOT_OK);
    kv_t *copy = new_kv(3);
    char err[KV_ERROR_BYTES];
    assert_int_equal(kv_snapshot_restore(copy, image, (size_t)size, err, sizeof(err)), BALLOT_OK);
    run(copy, 0, 0, "SET s 2");
    expect_resp(exec(copy, 5, 17, "s", q, 1), "*-1\r\n");
    expect_resp(exec(kv, 5, 17, "s", q, 1), "*1\r\n:1\r\n");
    free(image);
    kv_free(copy);
    kv_free(kv);
}

static void expiry_follows_state_machine_time(void **state)
{
    (void)state;
    kv_t *kv = new_kv(0);
    kv_advance_time(kv, 10000);
    assert_int_equal(run(kv, 0, 0, "SET lock me NX PX 500").type, KV_RESULT_OK);
    assert_int_equal(run(kv, 0, 0, "SET lock you NX PX 500").type, KV_RESULT_NIL);
    expect_int(run(kv, 0, 0, "PTTL lock"), 500);
    expect_int(run(kv, 0, 0, "TTL lock"), 1);
    expect_int(run(kv, 0, 0, "PEXPIRETIME lock"), 10500);
    expect_int(run(kv, 0, 0, "EXPIRETIME lock"), 10);
    /* A read with a later clock sees it gone; the state machine's time has not moved. */
    assert_int_equal(read_at(kv, 10499, "GET lock").type, KV_RESULT_BULK);
    assert_int_equal(read_at(kv, 10500, "GET lock").type, KV_RESULT_NIL);
    expect_int(read_at(kv, 10500, "TTL lock"), -2);
    expect_int(read_at(kv, 5, "PTTL lock"), 500); /* never before state-machine time */
    assert_true(kv_key_count(kv) == 1);
    /* Writes use the state machine's time: at 10500 the lock can be taken again. */
    kv_advance_time(kv, 10500);
    assert_int_equal(run(kv, 0, 0, "SET lock you NX PX 500 GET").type, KV_RESULT_NIL);
    expect_bulk(run(kv, 0, 0, "GET lock"), "you");
    /* EXPIRE options, as Redis 7. */
    run(kv, 0, 0, "SET k v");
    expect_int(run(kv, 0, 0, "TTL k"), -1);
    expect_int(run(kv, 0, 0, "EXPIRE k 100 XX"), 0);
    expect_int(run(kv, 0, 0, "EXPIRE k 100 GT"), 0);
    expect_int(run(kv, 0, 0, "EXPIRE k 100 NX"), 1);
    expect_int(run(kv, 0, 0, "EXPIRE k 50 GT"), 0);
    expect_int(run(kv, 0, 0, "EXPIRE k 50 LT"), 1);
    expect_int(run(kv, 0, 0, "TTL k"), 50);
    expect_int(run(kv, 0, 0, "PERSIST k"), 1);
    expect_int(run(kv, 0, 0, "PERSIST k"), 0);
    expect_int(run(kv, 0, 0, "EXPIRE nosuch 10"), 0);
    /* SET drops the deadline unless KEEPTTL; INCR and APPEND keep it. */
    run(kv, 0, 0, "SET c 1 EX 10");
    expect_int(run(kv, 0, 0, "INCR c"), 2);
    expect_int(run(kv, 0, 0, "APPEND c 0"), 2);
    expect_int(run(kv, 0, 0, "TTL c"), 10);
    run(kv, 0, 0, "SET c 5 KEEPTTL");
    expect_int(run(kv, 0, 0, "TTL c"), 10);
    run(kv, 0, 0, "SET c 5");
    expect_int(run(kv, 0, 0, "TTL c"), -1);
    /* GETEX, SETEX, PSETEX; a deadline already past deletes at once. */
    run(kv, 0, 0, "SETEX s 5 v");
    expect_int(run(kv, 0, 0, "PTTL s"), 5000);
    expect_bulk(run(kv, 0, 0, "GETEX s PERSIST"), "v");
    expect_int(run(kv, 0, 0, "TTL s"), -1);
    expect_bulk(run(kv, 0, 0, "GETEX s PXAT 1"), "v");
    expect_int(run(kv, 0, 0, "EXISTS s"), 0);
    run(kv, 0, 0, "PSETEX p 100 v");
    expect_int(run(kv, 0, 0, "PEXPIREAT p 1"), 1);
    expect_int(run(kv, 0, 0, "EXISTS p"), 0);
    /* EXPIRED deletes only keys expired in state-machine time. */
    run(kv, 0, 0, "SET x 1 PX 10");
    run(kv, 0, 0, "SET y 1 PX 1000");
    uint64_t before = kv_key_count(kv);
    kv_advance_time(kv, 10600);
    kv_command_t cmd = {.op = KV_EXPIRED, .arg_count = 3};
    cmd.args[0] = (kv_slice_t){(const uint8_t *)"x", 1};
    cmd.args[1] = (kv_slice_t){(const uint8_t *)"y", 1};
    cmd.args[2] = (kv_slice_t){(const uint8_t *)"k", 1};
    size_t written = 0;
    assert_int_equal(kv_command_encode(&cmd, NULL, cmd_buf, sizeof(cmd_buf), &written), BALLOT_OK);
    kv_result_t r;
    assert_int_equal(kv_apply(kv, 0, 0, cmd_buf, (uint32_t)written, &r), BALLOT_OK);
    expect_int(r, 1);
    assert_true(kv_key_count(kv) == before - 1);
    kv_free(kv);
}

typedef struct found_keys {
    int count;
} found_keys_t;

static void count_key(void *ctx, const uint8_t *key, uint32_t key_size)
{
    (void)key;
    (void)key_size;
    ((found_keys_t *)ctx)->count++;
}

/* Replicas apply the same stamped batches: same time, same deletions, same bytes, whatever
 * their hash seeds; active expiry finds expired keys in bounded walks. */
static void stamped_batches_agree(void **state)
{
    (void)state;
    kv_t *a = new_kv(1);
    kv_t *b = new_kv(2);
    uint8_t bytes[64][64];
    command_t commands[64];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 64; i++) {
            char text[64];
            snprintf(text, sizeof(text), "SET k%d v%d PX %d", (round * 64 + i) % 300, round,
                     50 + (i * 37) % 400);
            size_t n = encode_into(text, false, bytes[i], sizeof(bytes[i]));
            commands[i] = (command_t){.client_id = 0, .size = (uint32_t)n, .bytes = bytes[i]};
        }
        value_t v;
        /* Stamps go back and forth: time never does. */
        uint64_t stamp = 1000000u + (uint64_t)round * 100u - (round % 3 == 0 ? 250u : 0u);
        assert_true(batch_encode_stamped(&v, commands, 64, stamp));
        assert_true(batch_validate(v.bytes, v.size));
        assert_true(batch_stamp(&v) == stamp);
        assert_int_equal(batch_count(&v), 64);
        assert_int_equal(kv_apply_batch(a, &v, NULL, NULL, NULL), BALLOT_OK);
        assert_int_equal(kv_apply_batch(b, &v, NULL, NULL, NULL), BALLOT_OK);
        value_free(&v);
    }
    assert_true(kv_time_ms(a) == 1000000u + 19u * 100u);
    uint8_t *ia = NULL;
    uint8_t *ib = NULL;
    uint64_t sa = 0;
    uint64_t sb = 0;
    assert_int_equal(kv_snapshot_image(a, UINT64_MAX, &ia, &sa), BALLOT_OK);
    assert_int_equal(kv_snapshot_image(b, UINT64_MAX, &ib, &sb), BALLOT_OK);
    assert_true(sa == sb);
    assert_memory_equal(ia, ib, sa);
    /* An unstamped batch leaves time where it is. */
    uint8_t one[64];
    size_t n = encode_into("SET z 1", false, one, sizeof(one));
    command_t c = {.size = (uint32_t)n, .bytes = one};
    value_t v;
    assert_true(batch_encode(&v, &c, 1));
    assert_true(batch_stamp(&v) == 0);
    assert_int_equal(kv_apply_batch(a, &v, NULL, NULL, NULL), BALLOT_OK);
    assert_true(kv_time_ms(a) == 1000000u + 19u * 100u);
    value_free(&v);
    /* Active expiry: a walk of the whole table at a late time finds every volatile key. */
    uint64_t cursor = 0;
    found_keys_t found = {0};
    uint64_t walked = 0;
    while (walked < 1u << 20 && found.count < (int)kv_volatile_count(a)) {
        kv_expiry_scan(a, 2000000u, &cursor, 64, 1000, count_key, &found);
        walked += 64;
    }
    assert_int_equal(found.count, (int)kv_volatile_count(a));
    free(ia);
    free(ib);
    kv_free(a);
    kv_free(b);
}

/* A format-1 snapshot (before deadlines and watch counters) still restores. */
static void snapshot_format_1_restores(void **state)
{
    (void)state;
    uint8_t s[256];
    size_t at = 0;
    put_u32(s, KV_SNAPSHOT_MAGIC);
    put_u32(s + 4, 1);
    put_u32(s + 8, KV_KEY_BYTES_MAX_DEFAULT);
    put_u32(s + 12, KV_VALUE_BYTES_MAX_DEFAULT);
    put_u64(s + 16, 2);
    put_u32(s + 24, 1);
    at = 28;
    const char *keys[2][2] = {{"a", "1"}, {"bb", "22"}};
    for (int i = 0; i < 2; i++) {
        put_u32(s + at, (uint32_t)strlen(keys[i][0]));
        put_u32(s + at + 4, (uint32_t)strlen(keys[i][1]));
        at += 8;
        memcpy(s + at, keys[i][0], strlen(keys[i][0]));
        at += strlen(keys[i][0]);
        memcpy(s + at, keys[i][1], strlen(keys[i][1]));
        at += strlen(keys[i][1]);
    }
    put_u64(s + at, 42);
    put_u64(s + at + 8, 3);
    s[at + 16] = KV_RESULT_INTEGER;
    s[at + 17] = 0;
    put_u64(s + at + 18, 7);
    at += 26;
    put_u32(s + at, crc32c(s, at));
    at += 4;
    kv_t *kv = new_kv(0);
    char err[KV_ERROR_BYTES];
    assert_int_equal(kv_snapshot_restore(kv, s, at, err, sizeof(err)), BALLOT_OK);
    expect_bulk(run(kv, 0, 0, "GET bb"), "22");
    expect_int(run(kv, 0, 0, "TTL a"), -1);
    kv_result_t r;
    size_t n = encode_into("INCR a", false, cmd_buf, sizeof(cmd_buf));
    assert_int_equal(kv_apply(kv, 42, 3, cmd_buf, (uint32_t)n, &r), BALLOT_OK);
    assert_true(r.duplicate);
    expect_int(r, 7);
    kv_free(kv);
}

/* Replies and error texts as Redis 7 gives them. */
static void strings_and_keyspace(void **state)
{
    (void)state;
    kv_t *kv = new_kv(0);
    expect_int(run(kv, 0, 0, "INCRBY n 10"), 10);
    expect_int(run(kv, 0, 0, "DECRBY n 3"), 7);
    expect_int(run(kv, 0, 0, "DECR n"), 6);
    run(kv, 0, 0, "SET big 9223372036854775807");
    expect_error_text(run(kv, 0, 0, "INCR big"), "ERR increment or decrement would overflow");
    expect_bulk(run(kv, 0, 0, "INCRBYFLOAT f 10.5"), "10.5");
    expect_bulk(run(kv, 0, 0, "INCRBYFLOAT f 0.1"), "10.6");
    expect_bulk(run(kv, 0, 0, "INCRBYFLOAT f -5.6"), "5");
    expect_bulk(run(kv, 0, 0, "INCRBYFLOAT f 5.0e3"), "5005");
    run(kv, 0, 0, "SET t text");
    expect_error_text(run(kv, 0, 0, "INCRBYFLOAT t 1"), "ERR value is not a valid float");
    assert_int_equal(run(kv, 0, 0, "MSET a 1 b 2").type, KV_RESULT_OK);
    expect_resp(run(kv, 0, 0, "MGET a nosuch b"), "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n");
    expect_int(run(kv, 0, 0, "MSETNX a 3 c 4"), 0);
    expect_int(run(kv, 0, 0, "EXISTS c"), 0);
    expect_int(run(kv, 0, 0, "MSETNX c 3 d 4"), 1);
    expect_int(run(kv, 0, 0, "APPEND s Hello"), 5);
    expect_int(run(kv, 0, 0, "APPEND s _World"), 11);
    expect_int(run(kv, 0, 0, "STRLEN s"), 11);
    expect_bulk(run(kv, 0, 0, "GETRANGE s 0 3"), "Hell");
    expect_bulk(run(kv, 0, 0, "GETRANGE s -3 -1"), "rld");
    expect_bulk(run(kv, 0, 0, "GETRANGE s 10 100"), "d");
    expect_bulk(run(kv, 0, 0, "GETRANGE s 5 3"), "");
    expect_int(run(kv, 0, 0, "SETRANGE s 6 Redis"), 11);
    expect_bulk(run(kv, 0, 0, "GET s"), "Hello_Redis");
    expect_int(run(kv, 0, 0, "SETRANGE pad 3 x"), 4);
    kv_result_t pad = run(kv, 0, 0, "GET pad");
    assert_int_equal(pad.size, 4);
    assert_memory_equal(pad.bytes, "\0\0\0x", 4);
    expect_int(run(kv, 0, 0, "SETNX s other"), 0);
    expect_int(run(kv, 0, 0, "SETNX new v"), 1);
    expect_bulk(run(kv, 0, 0, "GETSET new w"), "v");
    expect_bulk(run(kv, 0, 0, "GETDEL new"), "w");
    assert_int_equal(run(kv, 0, 0, "GETDEL new").type, KV_RESULT_NIL);
    expect_int(run(kv, 0, 0, "UNLINK a b nosuch"), 2);
    expect_resp(run(kv, 0, 0, "TYPE s"), "+string\r\n");
    expect_resp(run(kv, 0, 0, "TYPE nosuch"), "+none\r\n");
    expect_error_text(run(kv, 0, 0, "RENAME nosuch x"), "ERR no such key");
    assert_int_equal(run(kv, 0, 0, "RENAME s s2").type, KV_RESULT_OK);
    expect_int(run(kv, 0, 0, "EXISTS s"), 0);
    expect_int(run(kv, 0, 0, "RENAMENX s2 c"), 0);
    expect_int(run(kv, 0, 0, "RENAMENX s2 s3"), 1);
    expect_int(run(kv, 0, 0, "COPY s3 s4"), 1);
    expect_int(run(kv, 0, 0, "COPY s3 s4"), 0);
    expect_int(run(kv, 0, 0, "COPY c s4 REPLACE"), 1);
    expect_error_text(run(kv, 0, 0, "COPY c c"), "ERR source and destination objects are the same");
    expect_bulk(run(kv, 0, 0, "GET s4"), "3");
    expect_int(run(kv, 0, 0, "TOUCH s3 s4 nosuch"), 2);
    expect_int(run(kv, 0, 0, "DBSIZE"), (int64_t)kv_key_count(kv));
    expect_resp(run(kv, 0, 0, "KEYS s?"), "*2\r\n$2\r\ns3\r\n$2\r\ns4\r\n");
    assert_int_equal(run(kv, 0, 0, "RANDOMKEY").type, KV_RESULT_RESP);
    assert_int_equal(run(kv, 0, 0, "FLUSHDB").type, KV_RESULT_OK);
    expect_int(run(kv, 0, 0, "DBSIZE"), 0);
    assert_int_equal(run(kv, 0, 0, "RANDOMKEY").type, KV_RESULT_NIL);
    expect_resp(run(kv, 0, 0, "SCAN 0"), "*2\r\n$1\r\n0\r\n*0\r\n");
    /* Checks at the command's parse, with Redis's texts. */
    const char *bad[][2] = {
        {"SET k v EX 0", "ERR invalid expire time in 'set' command"},
        {"SET k v NX XX", "ERR syntax error"},
        {"SET k v EX 1 PX 1", "ERR syntax error"},
        {"SET k v EX x", "ERR value is not an integer or out of range"},
        {"EXPIRE k 10 NX XX",
         "ERR NX and XX, GT or LT options at the same time are not compatible"},
        {"EXPIRE k 10 GT LT", "ERR GT and LT options at the same time are not compatible"},
        {"EXPIRE k 10 FOO", "ERR Unsupported option FOO"},
        {"SETEX k -1 v", "ERR invalid expire time in 'setex' command"},
        {"INCRBY k x", "ERR value is not an integer or out of range"},
        {"INCRBYFLOAT k nan", "ERR value is not a valid float"},
        {"SETRANGE k -1 v", "ERR offset is out of range"},
        {"SCAN x", "ERR invalid cursor"},
        {"SCAN 0 COUNT 0", "ERR syntax error"},
        {"MSET a", "ERR wrong number of arguments for 'mset' command"},
        {"MSET a 1 b", "ERR wrong number of arguments for 'mset' command"},
        {"GETEX k EX 1 PERSIST", "ERR syntax error"},
        {"COPY a b DB 2", "ERR DB index is out of range"},
        {"FLUSHALL LATER", "ERR syntax error"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char copy[512];
        const uint8_t *argv[WORDS_MAX];
        uint32_t len[WORDS_MAX];
        uint32_t argc = split(bad[i][0], copy, sizeof(copy), argv, len);
        kv_command_t cmd;
        char err[KV_ERROR_BYTES];
        assert_int_equal(kv_command_from_argv(argc, argv, len, NULL, &cmd, err, sizeof(err)),
                         BALLOT_EINVAL);
        if (strcmp(err, bad[i][1]) != 0) {
            print_error("%s: %s\n", bad[i][0], err);
            fail();
        }
    }
    kv_free(kv);
}

/* SCAN: every key present for the whole scan is returned, while the table doubles. */
static void scan_misses_nothing_while_growing(void **state)
{
    (void)state;
    kv_t *kv = new_kv(5);
    char text[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(text, sizeof(text), "SET base%d v", i);
        run(kv, 0, 0, text);
    }
    static bool seen[1000];
    memset(seen, 0, sizeof(seen));
    char cursor[32] = "0";
    int added = 0;
    int calls = 0;
    do {
        snprintf(text, sizeof(text), "SCAN %s COUNT 20 MATCH base*", cursor);
        kv_result_t r = read_at(kv, 0, text);
        assert_int_equal(r.type, KV_RESULT_RESP);
        /* *2 $n cursor *m ($len key)... */
        const char *p = (const char *)r.bytes;
        const char *end = p + r.size;
        p = strchr(p, '\n') + 1; /* *2 */
        p = strchr(p, '\n') + 1; /* $n */
        const char *nl = strchr(p, '\r');
        snprintf(cursor, sizeof(cursor), "%.*s", (int)(nl - p), p);
        p = nl + 2;
        long m = strtol(p + 1, NULL, 10);
        p = strchr(p, '\n') + 1;
        for (long k = 0; k < m; k++) {
            long klen = strtol(p + 1, NULL, 10);
            p = strchr(p, '\n') + 1;
            int id = atoi(p + 4);
            assert_true(klen > 4 && id >= 0 && id < 1000);
            seen[id] = true;
            p += klen + 2;
        }
        assert_true(p == end);
        /* The table grows between calls. */
        for (int j = 0; j < 100; j++, added++) {
            snprintf(text, sizeof(text), "SET grow%d v", added);
            run(kv, 0, 0, text);
        }
        calls++;
    } while (strcmp(cursor, "0") != 0 && calls < 10000);
    for (int i = 0; i < 1000; i++) {
        assert_true(seen[i]);
    }
    kv_free(kv);
}

static void glob_patterns(void **state)
{
    (void)state;
    struct {
        const char *pattern;
        const char *text;
        bool match;
    } cases[] = {
        {"*", "", true},
        {"h?llo", "hello", true},
        {"h*llo", "heeeello", true},
        {"h[ae]llo", "hallo", true},
        {"h[ae]llo", "hillo", false},
        {"h[^e]llo", "hallo", true},
        {"h[^e]llo", "hello", false},
        {"h[a-b]llo", "hbllo", true},
        {"h\\*", "h*", true},
        {"h\\*", "hx", false},
        {"*a*b*c*", "xxaxxbxxc", true},
        {"a*", "b", false},
        {"[", "[", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool got =
            kv_glob_match((const uint8_t *)cases[i].pattern, (uint32_t)strlen(cases[i].pattern),
                          (const uint8_t *)cases[i].text, (uint32_t)strlen(cases[i].text));
        if (got != cases[i].match) {
            print_error("%s ~ %s: %d\n", cases[i].pattern, cases[i].text, got);
            fail();
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exec_applies_together),
        cmocka_unit_test(watch_aborts_on_any_change),
        cmocka_unit_test(expiry_follows_state_machine_time),
        cmocka_unit_test(stamped_batches_agree),
        cmocka_unit_test(snapshot_format_1_restores),
        cmocka_unit_test(strings_and_keyspace),
        cmocka_unit_test(scan_misses_nothing_while_growing),
        cmocka_unit_test(glob_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
