/* The incremental RESP2 request parser. A request is parsed where it lies in the buffer;
 * a multibulk request that arrives in pieces resumes where it stopped (cursor, argc_done,
 * bulk_len), so a large value is scanned once, not once per read. Error texts follow
 * Redis's ("Protocol error: ...") so clients show familiar messages. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "wire/resp.h"
#include "wire/resp_internal.h"

/* A "*<n>" or "$<n>" line is at most this long (sign, 20 digits, CR, slack). */
#define RESP_NUMBER_LINE_BYTES_MAX 32u
#define RESP_ARG_CAPACITY_MIN      16u
#define RESP_CAPACITY_MIN          ((size_t)16 * 1024)

void resp_limits_default(resp_limits_t *limits)
{
    limits->args_max = RESP_ARGS_MAX_DEFAULT;
    limits->bulk_bytes_max = RESP_BULK_BYTES_MAX_DEFAULT;
    limits->inline_bytes_max = RESP_INLINE_BYTES_MAX_DEFAULT;
    limits->request_bytes_max = RESP_REQUEST_BYTES_MAX_DEFAULT;
}

static uint32_t clamp_limit(uint32_t value, uint32_t fallback, uint32_t ceiling)
{
    if (value == 0) {
        return fallback;
    }
    return value > ceiling ? ceiling : value;
}

static void parser_reset_request(resp_parser_t *p)
{
    p->cursor = 0;
    p->argc_total = -1;
    p->argc_done = 0;
    p->bulk_len = -1;
}

void resp_parser_init(resp_parser_t *parser, const resp_limits_t *limits)
{
    memset(parser, 0, sizeof(*parser));
    resp_limits_t given;
    resp_limits_default(&given);
    if (limits != NULL) {
        given = *limits;
    }
    parser->limits.args_max = clamp_limit(given.args_max, RESP_ARGS_MAX_DEFAULT, RESP_ARGS_MAX);
    parser->limits.request_bytes_max = clamp_limit(
        given.request_bytes_max, RESP_REQUEST_BYTES_MAX_DEFAULT, RESP_REQUEST_BYTES_MAX);
    parser->limits.bulk_bytes_max = clamp_limit(given.bulk_bytes_max, RESP_BULK_BYTES_MAX_DEFAULT,
                                                parser->limits.request_bytes_max);
    parser->limits.inline_bytes_max = clamp_limit(
        given.inline_bytes_max, RESP_INLINE_BYTES_MAX_DEFAULT, parser->limits.request_bytes_max);
    parser_reset_request(parser);
}

void resp_parser_free(resp_parser_t *parser)
{
    free(parser->buf);
    free(parser->arg_offset);
    free(parser->arg_len);
    free((void *)parser->argv);
    memset(parser, 0, sizeof(*parser));
    parser_reset_request(parser);
}

int resp_parser_fail(resp_parser_t *p, int code, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(p->message, sizeof(p->message), format, ap);
    va_end(ap);
    p->error = code;
    return code;
}

/* Drops the bytes of the request handed out last: its views die here. */
static void parser_release(resp_parser_t *p)
{
    if (p->returned) {
        assert(p->returned_bytes <= p->end - p->start);
        p->start += p->returned_bytes;
        p->returned = false;
        p->returned_bytes = 0;
    }
    if (p->start == p->end) {
        p->start = 0;
        p->end = 0;
    }
}

/* Room for `extra` bytes after `end`, sliding the unparsed bytes to the front first (the
 * resumable state is relative to `start`, so it survives the move). */
static int parser_reserve(resp_parser_t *p, size_t extra)
{
    parser_release(p);
    if (p->start > 0) {
        size_t pending = p->end - p->start;
        memmove(p->buf, p->buf + p->start, pending);
        p->start = 0;
        p->end = pending;
    }
    if (p->capacity - p->end >= extra) {
        return BALLOT_OK;
    }
    if (extra > SIZE_MAX / 4 - p->end) {
        return resp_parser_fail(p, BALLOT_ENOMEM, "ERR out of memory");
    }
    size_t capacity = p->capacity < RESP_CAPACITY_MIN ? RESP_CAPACITY_MIN : p->capacity;
    while (capacity < p->end + extra) {
        capacity *= 2;
    }
    uint8_t *buf = realloc(p->buf, capacity);
    if (buf == NULL) {
        return resp_parser_fail(p, BALLOT_ENOMEM, "ERR out of memory");
    }
    p->buf = buf;
    p->capacity = capacity;
    return BALLOT_OK;
}

int resp_parser_feed(resp_parser_t *parser, const void *bytes, size_t size)
{
    if (parser->error != BALLOT_OK) {
        return parser->error;
    }
    int rc = parser_reserve(parser, size);
    if (rc != BALLOT_OK) {
        return rc;
    }
    if (size > 0) {
        memcpy(parser->buf + parser->end, bytes, size);
    }
    parser->end += size;
    return BALLOT_OK;
}

int resp_parser_space(resp_parser_t *parser, size_t min_bytes, uint8_t **space, size_t *space_bytes)
{
    *space = NULL;
    *space_bytes = 0;
    if (parser->error != BALLOT_OK) {
        return parser->error;
    }
    int rc = parser_reserve(parser, min_bytes > 0 ? min_bytes : 1);
    if (rc != BALLOT_OK) {
        return rc;
    }
    *space = parser->buf + parser->end;
    *space_bytes = parser->capacity - parser->end;
    return BALLOT_OK;
}

void resp_parser_commit(resp_parser_t *parser, size_t size)
{
    assert(size <= parser->capacity - parser->end);
    parser->end += size;
}

/* Room for argument `index` in the argument arrays, growing them by doubling up to
 * args_max. */
int resp_parser_arg_room(resp_parser_t *p, uint32_t index)
{
    assert(index < p->limits.args_max);
    if (index < p->arg_capacity) {
        return BALLOT_OK;
    }
    uint32_t capacity =
        p->arg_capacity < RESP_ARG_CAPACITY_MIN ? RESP_ARG_CAPACITY_MIN : p->arg_capacity * 2u;
    if (capacity > p->limits.args_max) {
        capacity = p->limits.args_max;
    }
    uint32_t *offset = realloc(p->arg_offset, capacity * sizeof(*offset));
    if (offset != NULL) {
        p->arg_offset = offset;
    }
    uint32_t *len = realloc(p->arg_len, capacity * sizeof(*len));
    if (len != NULL) {
        p->arg_len = len;
    }
    const uint8_t **argv = realloc((void *)p->argv, capacity * sizeof(*argv));
    if (argv != NULL) {
        p->argv = argv;
    }
    if (offset == NULL || len == NULL || argv == NULL) {
        return resp_parser_fail(p, BALLOT_ENOMEM, "ERR out of memory");
    }
    p->arg_capacity = capacity;
    return BALLOT_OK;
}

/* Parses a decimal integer that fills text[0..size) exactly: optional '-', then digits.
 * False on anything else or overflow. */
static bool parse_i64(const uint8_t *text, size_t size, int64_t *out)
{
    size_t i = 0;
    bool negative = size > 0 && text[0] == '-';
    if (negative) {
        i = 1;
    }
    if (i == size || size - i > 19u) {
        return false;
    }
    int64_t v = 0;
    for (; i < size; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        v = v * 10 + (text[i] - '0'); /* 19 digits cannot overflow an int64_t */
    }
    *out = negative ? -v : v;
    return true;
}

/* Finds the "\r\n" ending the line that starts at the cursor. Returns the line's length
 * (without CR LF) or -1 when the line is not complete yet. */
static int64_t find_line(const resp_parser_t *p)
{
    const uint8_t *line = p->buf + p->start + p->cursor;
    size_t left = p->end - p->start - p->cursor;
    const uint8_t *cr = memchr(line, '\r', left);
    if (cr == NULL || (size_t)(cr - line) + 1 >= left) {
        return -1;
    }
    return (int64_t)(cr - line);
}

/* Reads the "<prefix><n>\r\n" line at the cursor. BALLOT_OK with *have false when it is
 * not complete, else *value and the cursor moved past it. */
static int read_number_line(resp_parser_t *p, char prefix, int64_t *value, bool *have)
{
    *have = false;
    int64_t len = find_line(p);
    size_t left = p->end - p->start - p->cursor;
    if (len < 0) {
        if (left > RESP_NUMBER_LINE_BYTES_MAX) {
            return resp_parser_fail(p, BALLOT_EINVAL, "Protocol error: too big %s count string",
                                    prefix == '*' ? "mbulk" : "bulk");
        }
        return BALLOT_OK;
    }
    const uint8_t *line = p->buf + p->start + p->cursor;
    if (line[0] != (uint8_t)prefix) {
        return resp_parser_fail(p, BALLOT_EINVAL, "Protocol error: expected '%c', got '%c'", prefix,
                                line[0] >= 32 && line[0] < 127 ? line[0] : '?');
    }
    if (line[len + 1] != '\n' || !parse_i64(line + 1, (size_t)len - 1, value)) {
        return resp_parser_fail(p, BALLOT_EINVAL, "Protocol error: invalid %s length",
                                prefix == '*' ? "multibulk" : "bulk");
    }
    p->cursor += (size_t)len + 2;
    *have = true;
    return BALLOT_OK;
}

/* Hands out the request whose arguments are recorded: argv views into the buffer. */
static void finish_request(resp_parser_t *p, resp_request_t *req, uint32_t argc)
{
    for (uint32_t i = 0; i < argc; i++) {
        p->argv[i] = p->buf + p->start + p->arg_offset[i];
    }
    req->argc = argc;
    req->argv = p->argv;
    req->argv_len = p->arg_len;
    p->returned = true;
    p->returned_bytes = p->cursor;
    parser_reset_request(p);
}

/* The "*<n>\r\n" header. *skip is set for *0 and negative counts (an empty request). */
static int multibulk_header(resp_parser_t *p, bool *have, bool *skip)
{
    int64_t count = 0;
    *skip = false;
    int rc = read_number_line(p, '*', &count, have);
    if (rc != BALLOT_OK || !*have) {
        return rc;
    }
    if (count <= 0) {
        *skip = true;
        return BALLOT_OK;
    }
    if (count > (int64_t)p->limits.args_max) {
        return resp_parser_fail(p, BALLOT_ETOOLARGE,
                                "Protocol error: invalid multibulk length (%lld arguments, "
                                "limit %u)",
                                (long long)count, p->limits.args_max);
    }
    p->argc_total = count;
    return BALLOT_OK;
}

/* One "$<len>\r\n<bytes>\r\n" argument; *have false when it is not all here yet. */
static int multibulk_arg(resp_parser_t *p, bool *have)
{
    *have = false;
    if (p->bulk_len < 0) {
        int64_t len = 0;
        bool have_len = false;
        int rc = read_number_line(p, '$', &len, &have_len);
        if (rc != BALLOT_OK || !have_len) {
            return rc;
        }
        if (len < 0 || len > (int64_t)p->limits.bulk_bytes_max) {
            return resp_parser_fail(p, len < 0 ? BALLOT_EINVAL : BALLOT_ETOOLARGE,
                                    "Protocol error: invalid bulk length (%lld, limit %u)",
                                    (long long)len, p->limits.bulk_bytes_max);
        }
        p->bulk_len = len;
    }
    size_t need = p->cursor + (size_t)p->bulk_len + 2;
    if (need > p->limits.request_bytes_max) {
        return resp_parser_fail(p, BALLOT_ETOOLARGE, "Protocol error: request exceeds %u bytes",
                                p->limits.request_bytes_max);
    }
    if (p->end - p->start < need) {
        return BALLOT_OK;
    }
    const uint8_t *tail = p->buf + p->start + need - 2;
    if (tail[0] != '\r' || tail[1] != '\n') {
        return resp_parser_fail(p, BALLOT_EINVAL, "Protocol error: bulk not ended by CRLF");
    }
    int rc = resp_parser_arg_room(p, p->argc_done);
    if (rc != BALLOT_OK) {
        return rc;
    }
    p->arg_offset[p->argc_done] = (uint32_t)p->cursor;
    p->arg_len[p->argc_done] = (uint32_t)p->bulk_len;
    p->argc_done++;
    p->cursor = need;
    p->bulk_len = -1;
    *have = true;
    return BALLOT_OK;
}

/* Advances the multibulk request at `start`. *done when it is whole (or was empty and is
 * skipped: then *skip too). */
static int parse_multibulk(resp_parser_t *p, resp_request_t *req, bool *done)
{
    *done = false;
    bool have = false;
    if (p->argc_total < 0) {
        bool skip = false;
        int rc = multibulk_header(p, &have, &skip);
        if (rc != BALLOT_OK || !have) {
            return rc;
        }
        if (skip) {
            p->start += p->cursor;
            parser_reset_request(p);
            *done = true;
            return BALLOT_OK;
        }
    }
    /* Each pass consumes one whole argument; argc_total <= args_max bounds the loop. */
    while (p->argc_done < (uint64_t)p->argc_total) {
        int rc = multibulk_arg(p, &have);
        if (rc != BALLOT_OK || !have) {
            return rc;
        }
    }
    finish_request(p, req, p->argc_done);
    *done = true;
    return BALLOT_OK;
}

/* An inline request: one line, split into words. */
static int parse_inline(resp_parser_t *p, resp_request_t *req, bool *done)
{
    *done = false;
    uint8_t *line = p->buf + p->start;
    size_t left = p->end - p->start;
    /* The search resumes where the last one stopped: cursor counts bytes known to hold no
     * newline. */
    uint8_t *nl = memchr(line + p->cursor, '\n', left - p->cursor);
    if (nl == NULL) {
        p->cursor = left;
        if (left > p->limits.inline_bytes_max) {
            return resp_parser_fail(p, BALLOT_ETOOLARGE, "Protocol error: too big inline request");
        }
        return BALLOT_OK;
    }
    size_t line_bytes = (size_t)(nl - line) + 1;
    if (line_bytes > p->limits.inline_bytes_max) {
        return resp_parser_fail(p, BALLOT_ETOOLARGE, "Protocol error: too big inline request");
    }
    size_t text_bytes = line_bytes - 1;
    if (text_bytes > 0 && line[text_bytes - 1] == '\r') {
        text_bytes--;
    }
    uint32_t argc = 0;
    int rc = resp_inline_split(p, line, text_bytes, &argc);
    if (rc != BALLOT_OK) {
        return rc;
    }
    p->cursor = line_bytes;
    *done = true;
    if (argc == 0) {
        p->start += line_bytes;
        parser_reset_request(p);
        return BALLOT_OK;
    }
    finish_request(p, req, argc);
    return BALLOT_OK;
}

int resp_parser_next(resp_parser_t *parser, resp_request_t *req)
{
    req->argc = 0;
    req->argv = NULL;
    req->argv_len = NULL;
    if (parser->error != BALLOT_OK) {
        return parser->error;
    }
    parser_release(parser);
    /* Each pass either returns or skips one empty request, which consumed at least one
     * byte; the buffered bytes bound the loop. */
    while (parser->start < parser->end) {
        bool done = false;
        int rc = parser->buf[parser->start] == '*' ? parse_multibulk(parser, req, &done)
                                                   : parse_inline(parser, req, &done);
        if (rc != BALLOT_OK || !done || req->argc > 0) {
            return rc;
        }
    }
    parser->start = 0;
    parser->end = 0;
    return BALLOT_OK;
}

const char *resp_parser_error(const resp_parser_t *parser)
{
    return parser->error != BALLOT_OK ? parser->message : "";
}

size_t resp_parser_pending(const resp_parser_t *parser)
{
    size_t pending = parser->end - parser->start;
    return parser->returned ? pending - parser->returned_bytes : pending;
}
