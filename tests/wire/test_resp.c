/* RESP2: multibulk and inline requests, pipelining, every split of the byte stream,
 * limits and malformed input, and the reply encoders' exact bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire/resp.h"

#define MAX_WORDS 8

typedef struct words {
    uint32_t argc;
    char argv[MAX_WORDS][64];
    uint32_t len[MAX_WORDS];
} words_t;

/* Parses everything in `input` (fed in pieces of `step`), collecting requests. Returns
 * the parser's final return code. */
static int parse_all(const void *input, size_t size, size_t step, words_t *out, int max, int *count,
                     const resp_limits_t *limits)
{
    resp_parser_t p;
    resp_parser_init(&p, limits);
    *count = 0;
    int rc = BALLOT_OK;
    for (size_t at = 0; at < size && rc == BALLOT_OK; at += step) {
        size_t n = size - at < step ? size - at : step;
        rc = resp_parser_feed(&p, (const uint8_t *)input + at, n);
        resp_request_t req;
        while (rc == BALLOT_OK && (rc = resp_parser_next(&p, &req)) == BALLOT_OK && req.argc > 0) {
            assert_true(*count < max);
            words_t *w = &out[(*count)++];
            w->argc = req.argc;
            for (uint32_t i = 0; i < req.argc && i < MAX_WORDS; i++) {
                /* Long arguments keep only their length. */
                size_t keep = req.argv_len[i] < sizeof(w->argv[i]) ? req.argv_len[i] : 0;
                memcpy(w->argv[i], req.argv[i], keep);
                w->argv[i][keep] = '\0';
                w->len[i] = req.argv_len[i];
            }
        }
    }
    if (rc != BALLOT_OK) {
        assert_true(strncmp(resp_parser_error(&p), "Protocol error", 14) == 0 ||
                    rc == BALLOT_ENOMEM);
    } else {
        assert_int_equal(resp_parser_pending(&p), 0);
    }
    resp_parser_free(&p);
    return rc;
}

static void multibulk_and_inline_pipelined(void **state)
{
    (void)state;
    static const char input[] = "*3\r\n$3\r\nSET\r\n$5\r\nkey:1\r\n$6\r\nh\0l\r\no\r\n"
                                "PING\r\n"
                                "*0\r\n"
                                "\r\n"
                                "*-1\r\n"
                                "set  a\t\"b c\\x41\\n\" 'it\\'s'\n"
                                "*1\r\n$0\r\n\r\n"
                                "*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n";
    size_t size = sizeof(input) - 1;
    for (size_t step = 1; step <= size; step++) {
        words_t w[6];
        int count = 0;
        assert_int_equal(parse_all(input, size, step, w, 6, &count, NULL), BALLOT_OK);
        assert_int_equal(count, 5);
        assert_int_equal(w[0].argc, 3);
        assert_string_equal(w[0].argv[0], "SET");
        assert_int_equal(w[0].len[2], 6);
        assert_memory_equal(w[0].argv[2], "h\0l\r\no", 6);
        assert_int_equal(w[1].argc, 1);
        assert_string_equal(w[1].argv[0], "PING");
        assert_int_equal(w[2].argc, 4);
        assert_string_equal(w[2].argv[0], "set");
        assert_string_equal(w[2].argv[1], "a");
        assert_string_equal(w[2].argv[2], "b cA\n");
        assert_string_equal(w[2].argv[3], "it's");
        assert_int_equal(w[3].argc, 1);
        assert_int_equal(w[3].len[0], 0);
        assert_int_equal(w[4].argc, 2);
        assert_string_equal(w[4].argv[1], "key:1");
    }
}

/* Inline words with both kinds of quotes, then an empty multibulk argument. */
static void inline_words_and_empty_bulk(void **state)
{
    (void)state;
    static const char input[] = "set  a\t\"b c\\x41\\n\" 'it\\'s'\n*1\r\n$0\r\n\r\n";
    words_t w[3];
    int count = 0;
    assert_int_equal(parse_all(input, sizeof(input) - 1, 1000, w, 3, &count, NULL), BALLOT_OK);
    assert_int_equal(count, 2);
    assert_int_equal(w[0].argc, 4);
    assert_string_equal(w[0].argv[3], "it's");
    assert_int_equal(w[1].argc, 1);
    assert_int_equal(w[1].len[0], 0);
}

static int parse_error(const char *input, const resp_limits_t *limits, char *message)
{
    resp_parser_t p;
    resp_parser_init(&p, limits);
    int rc = resp_parser_feed(&p, input, strlen(input));
    resp_request_t req;
    while (rc == BALLOT_OK && (rc = resp_parser_next(&p, &req)) == BALLOT_OK && req.argc > 0) {
    }
    strcpy(message, resp_parser_error(&p));
    if (rc != BALLOT_OK) {
        /* Sticky. */
        assert_int_equal(resp_parser_next(&p, &req), rc);
        assert_int_equal(resp_parser_feed(&p, "PING\r\n", 6), rc);
    }
    resp_parser_free(&p);
    return rc;
}

static void malformed_refused(void **state)
{
    (void)state;
    char m[RESP_ERROR_BYTES];
    assert_int_equal(parse_error("*2\r\n$3\r\nGET\r\n:5\r\n", NULL, m), BALLOT_EINVAL);
    assert_string_equal(m, "Protocol error: expected '$', got ':'");
    assert_int_equal(parse_error("*x\r\n", NULL, m), BALLOT_EINVAL);
    assert_non_null(strstr(m, "invalid multibulk length"));
    assert_int_equal(parse_error("*1\r\n$-5\r\n", NULL, m), BALLOT_EINVAL);
    assert_non_null(strstr(m, "invalid bulk length"));
    assert_int_equal(parse_error("*1\r\n$3\r\nGETXX", NULL, m), BALLOT_EINVAL);
    assert_non_null(strstr(m, "CRLF"));
    assert_int_equal(parse_error("*1\r\n$3\rx", NULL, m), BALLOT_EINVAL);
    assert_int_equal(parse_error("*99999999999999999999999\r\n", NULL, m), BALLOT_EINVAL);
    assert_int_equal(parse_error("*1\r\n$1234567890123456789012345678901234567890", NULL, m),
                     BALLOT_EINVAL);
    assert_non_null(strstr(m, "too big bulk count"));
    assert_int_equal(parse_error("SET \"abc\n", NULL, m), BALLOT_EINVAL);
    assert_non_null(strstr(m, "unbalanced quotes"));
    assert_int_equal(parse_error("SET \"abc\"def\n", NULL, m), BALLOT_EINVAL);
    assert_int_equal(parse_error("*1\r\n\r\n", NULL, m), BALLOT_EINVAL);
}

static void limits_enforced(void **state)
{
    (void)state;
    char m[RESP_ERROR_BYTES];
    resp_limits_t limits;
    resp_limits_default(&limits);
    limits.args_max = 3;
    limits.bulk_bytes_max = 10;
    limits.inline_bytes_max = 16;
    limits.request_bytes_max = 30;
    assert_int_equal(parse_error("*4\r\n", &limits, m), BALLOT_ETOOLARGE);
    assert_int_equal(parse_error("*1\r\n$11\r\n", &limits, m), BALLOT_ETOOLARGE);
    assert_int_equal(parse_error("*1\r\n$10\r\n0123456789\r\n", &limits, m), BALLOT_OK);
    assert_int_equal(parse_error("a b c d\r\n", &limits, m), BALLOT_ETOOLARGE);
    assert_int_equal(parse_error("0123456789abcdefg", &limits, m), BALLOT_ETOOLARGE);
    assert_non_null(strstr(m, "too big inline"));
    assert_int_equal(parse_error("*3\r\n$10\r\n0123456789\r\n$10\r\n0123456789\r\n", &limits, m),
                     BALLOT_ETOOLARGE);
    assert_non_null(strstr(m, "exceeds 30 bytes"));
    /* Defaults: a 1 MiB value passes. */
    size_t big = 1024u * 1024u;
    char *input = malloc(big + 64);
    assert_non_null(input);
    int n = sprintf(input, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%zu\r\n", big);
    memset(input + n, 'v', big);
    memcpy(input + n + big, "\r\n", 3);
    words_t w[1];
    int count = 0;
    assert_int_equal(parse_all(input, (size_t)n + big + 2, 4096, w, 1, &count, NULL), BALLOT_OK);
    assert_int_equal(count, 1);
    assert_int_equal(w[0].len[2], big);
    free(input);
}

/* A big bulk arriving through the zero-copy path; the views stay valid until next(). */
static void space_commit_path(void **state)
{
    (void)state;
    static const char input[] = "*2\r\n$4\r\nECHO\r\n$6\r\nhello!\r\n*1\r\n$4\r\nPING\r\n";
    resp_parser_t p;
    resp_parser_init(&p, NULL);
    size_t size = sizeof(input) - 1;
    int seen = 0;
    for (size_t at = 0; at < size; at += 3) {
        uint8_t *space;
        size_t room;
        assert_int_equal(resp_parser_space(&p, 3, &space, &room), BALLOT_OK);
        size_t n = size - at < 3 ? size - at : 3;
        memcpy(space, input + at, n);
        resp_parser_commit(&p, n);
        resp_request_t req;
        while (resp_parser_next(&p, &req) == BALLOT_OK && req.argc > 0) {
            if (seen == 0) {
                assert_int_equal(req.argc, 2);
                assert_memory_equal(req.argv[1], "hello!", 6);
            } else {
                assert_memory_equal(req.argv[0], "PING", 4);
            }
            seen++;
        }
    }
    assert_int_equal(seen, 2);
    resp_parser_free(&p);
}

static void assert_buf(wire_buf_t *out, const char *expect, size_t size)
{
    assert_int_equal(out->size, size);
    assert_memory_equal(out->bytes, expect, size);
    wire_buf_clear(out);
}

static void reply_encoders(void **state)
{
    (void)state;
    wire_buf_t out;
    wire_buf_init(&out);
    assert_int_equal(resp_reply_simple(&out, "OK"), BALLOT_OK);
    assert_buf(&out, "+OK\r\n", 5);
    assert_int_equal(resp_reply_simple(&out, "a\r\nb"), BALLOT_OK);
    assert_buf(&out, "+a  b\r\n", 7);
    assert_int_equal(resp_reply_error(&out, "ERR unknown command 'x'"), BALLOT_OK);
    assert_buf(&out, "-ERR unknown command 'x'\r\n", 26);
    assert_int_equal(resp_reply_errorf(&out, "NOTLEADER %d %s", 2, "127.0.0.1:6382"), BALLOT_OK);
    assert_buf(&out, "-NOTLEADER 2 127.0.0.1:6382\r\n", 29);
    assert_int_equal(resp_reply_integer(&out, 0), BALLOT_OK);
    assert_buf(&out, ":0\r\n", 4);
    assert_int_equal(resp_reply_integer(&out, INT64_MIN), BALLOT_OK);
    assert_buf(&out, ":-9223372036854775808\r\n", 23);
    assert_int_equal(resp_reply_integer(&out, INT64_MAX), BALLOT_OK);
    assert_buf(&out, ":9223372036854775807\r\n", 22);
    assert_int_equal(resp_reply_bulk(&out, "a\0b", 3), BALLOT_OK);
    assert_buf(&out, "$3\r\na\0b\r\n", 9);
    assert_int_equal(resp_reply_bulk(&out, "", 0), BALLOT_OK);
    assert_buf(&out, "$0\r\n\r\n", 6);
    assert_int_equal(resp_reply_null_bulk(&out), BALLOT_OK);
    assert_buf(&out, "$-1\r\n", 5);
    assert_int_equal(resp_reply_array_header(&out, 2), BALLOT_OK);
    assert_buf(&out, "*2\r\n", 4);
    assert_int_equal(resp_reply_array_header(&out, -1), BALLOT_OK);
    assert_buf(&out, "*-1\r\n", 5);
    const uint8_t *argv[2] = {(const uint8_t *)"GET", (const uint8_t *)"k"};
    uint32_t len[2] = {3, 1};
    assert_int_equal(resp_request_encode(&out, 2, argv, len), BALLOT_OK);
    assert_buf(&out, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 20);
    wire_buf_free(&out);
}

/* Random mutations of a valid pipeline never crash the parser. */
static void random_garbage_survives(void **state)
{
    (void)state;
    static const char input[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\nPING x \"y\"\r\n"
                                "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    uint64_t x = 0x2545F4914F6CDD1Dull;
    char copy[sizeof(input)];
    for (int round = 0; round < 5000; round++) {
        memcpy(copy, input, sizeof(input));
        for (int k = 0; k < 3; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            copy[x % (sizeof(input) - 1)] = (char)(x >> 40);
        }
        resp_parser_t p;
        resp_parser_init(&p, NULL);
        int rc = resp_parser_feed(&p, copy, sizeof(input) - 1);
        resp_request_t req;
        int guard = 0;
        while (rc == BALLOT_OK && (rc = resp_parser_next(&p, &req)) == BALLOT_OK && req.argc > 0) {
            assert_true(++guard < 100);
        }
        resp_parser_free(&p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(multibulk_and_inline_pipelined),
        cmocka_unit_test(inline_words_and_empty_bulk),
        cmocka_unit_test(malformed_refused),
        cmocka_unit_test(limits_enforced),
        cmocka_unit_test(space_commit_path),
        cmocka_unit_test(reply_encoders),
        cmocka_unit_test(random_garbage_survives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
