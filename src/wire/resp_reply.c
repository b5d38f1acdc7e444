/* RESP2 reply encoders (https://redis.io/docs/reference/protocol-spec/). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/check.h"
#include "wire/resp.h"

/* "-9223372036854775808" is 20 characters. */
#define RESP_INTEGER_TEXT_BYTES 24u
#define RESP_ERRORF_BYTES       (RESP_ERROR_BYTES * 4u)

/* Writes v in decimal at the end of a RESP_INTEGER_TEXT_BYTES buffer; returns the start. */
static char *format_i64(char *buf_end, int64_t v)
{
    char *p = buf_end;
    /* Through uint64_t so that INT64_MIN negates without overflow. */
    uint64_t magnitude = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + (int)(magnitude % 10u));
        magnitude /= 10u;
    } while (magnitude > 0);
    if (v < 0) {
        *--p = '-';
    }
    return p;
}

/* Appends <prefix><integer>\r\n. */
static int put_prefixed_integer(wire_buf_t *out, char prefix, int64_t v)
{
    char text[RESP_INTEGER_TEXT_BYTES + 3];
    char *end = text + RESP_INTEGER_TEXT_BYTES + 1;
    char *p = format_i64(end, v);
    *--p = prefix;
    end[0] = '\r';
    end[1] = '\n';
    return wire_buf_append(out, p, (size_t)(end + 2 - p));
}

/* Appends <prefix><text with CR/LF as spaces>\r\n. */
static int put_line(wire_buf_t *out, char prefix, const char *text)
{
    size_t size = strlen(text);
    int rc = wire_buf_reserve(out, size + 3);
    if (rc != BALLOT_OK) {
        return rc;
    }
    uint8_t *p = out->bytes + out->size;
    p[0] = (uint8_t)prefix;
    for (size_t i = 0; i < size; i++) {
        char c = text[i];
        p[1 + i] = (uint8_t)(c == '\r' || c == '\n' ? ' ' : c);
    }
    p[1 + size] = '\r';
    p[2 + size] = '\n';
    out->size += size + 3;
    return BALLOT_OK;
}

int resp_reply_simple(wire_buf_t *out, const char *text)
{
    return put_line(out, '+', text);
}

int resp_reply_error(wire_buf_t *out, const char *text)
{
    return put_line(out, '-', text);
}

int resp_reply_errorf(wire_buf_t *out, const char *format, ...)
{
    char text[RESP_ERRORF_BYTES];
    va_list ap;
    va_start(ap, format);
    vsnprintf(text, sizeof(text), format, ap);
    va_end(ap);
    return put_line(out, '-', text);
}

int resp_reply_integer(wire_buf_t *out, int64_t value)
{
    return put_prefixed_integer(out, ':', value);
}

int resp_reply_bulk(wire_buf_t *out, const void *bytes, size_t size)
{
    assert(size <= INT64_MAX);
    int rc = wire_buf_reserve(out, size + RESP_INTEGER_TEXT_BYTES + 5);
    if (rc != BALLOT_OK) {
        return rc;
    }
    rc = put_prefixed_integer(out, '$', (int64_t)size);
    assert(rc == BALLOT_OK);
    if (size > 0) {
        memcpy(out->bytes + out->size, bytes, size);
    }
    out->bytes[out->size + size] = '\r';
    out->bytes[out->size + size + 1] = '\n';
    out->size += size + 2;
    return BALLOT_OK;
}

int resp_reply_null_bulk(wire_buf_t *out)
{
    return wire_buf_append(out, "$-1\r\n", 5);
}

int resp_reply_array_header(wire_buf_t *out, int64_t count)
{
    assert(count >= -1);
    return put_prefixed_integer(out, '*', count);
}

int resp_request_encode(wire_buf_t *out, uint32_t argc, const uint8_t *const *argv,
                        const uint32_t *argv_len)
{
    size_t start = out->size;
    int rc = resp_reply_array_header(out, argc);
    for (uint32_t i = 0; i < argc && rc == BALLOT_OK; i++) {
        rc = resp_reply_bulk(out, argv[i], argv_len[i]);
    }
    if (rc != BALLOT_OK) {
        out->size = start;
    }
    return rc;
}
