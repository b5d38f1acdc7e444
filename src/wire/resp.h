/* The Redis protocol, RESP2 (https://redis.io/docs/reference/protocol-spec/), as far as
 * redis-cli, redis-benchmark and common client libraries need it.
 *
 * Requests come in two forms, both accepted:
 *   multibulk  *<argc>\r\n then argc times $<len>\r\n<len bytes>\r\n   (binary safe)
 *   inline     words separated by spaces or tabs, ending in \n or \r\n, e.g. PING\r\n;
 *              "double" and 'single' quoted words as redis-cli's inline mode sends them
 * Empty requests (*0, *-1, an empty inline line) are skipped, as Redis does. Pipelined
 * requests come out one after another in arrival order.
 *
 * Every size has a limit (resp_limits_t); past one, or on malformed input, the parser
 * fails with a "Protocol error: ..." message like Redis's; the server replies with it as a
 * RESP error and closes the connection. */
#ifndef BALLOT_WIRE_RESP_H
#define BALLOT_WIRE_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

/* Defaults. A value of 1 MiB plus room for CAS's expected value and a 64 KiB key. */
#define RESP_ARGS_MAX_DEFAULT          4096u
#define RESP_BULK_BYTES_MAX_DEFAULT    ((uint32_t)(1024u * 1024u + 64u * 1024u))
#define RESP_INLINE_BYTES_MAX_DEFAULT  ((uint32_t)(64u * 1024u))
#define RESP_REQUEST_BYTES_MAX_DEFAULT ((uint32_t)(4u * 1024u * 1024u))
/* Hard ceilings for the configurable limits. */
#define RESP_ARGS_MAX          ((uint32_t)(1024u * 1024u))
#define RESP_REQUEST_BYTES_MAX ((uint32_t)(512u * 1024u * 1024u))
#define RESP_ERROR_BYTES       160u

typedef struct resp_limits {
    uint32_t args_max;          /* arguments in one request (multibulk count, inline words) */
    uint32_t bulk_bytes_max;    /* one multibulk argument */
    uint32_t inline_bytes_max;  /* one inline line, end of line included */
    uint32_t request_bytes_max; /* one whole request as received */
} resp_limits_t;

void resp_limits_default(resp_limits_t *limits);

/* One parsed request: argv[i] points at argv_len[i] bytes (not NUL-terminated, may hold
 * any byte). The views point into the parser's buffer and stay valid until the next call
 * to resp_parser_feed/space/commit/next/free; copy what must live longer. */
typedef struct resp_request {
    uint32_t argc; /* 0: no whole request buffered yet */
    const uint8_t *const *argv;
    const uint32_t *argv_len;
} resp_request_t;

/* Fields are private. */
typedef struct resp_parser {
    resp_limits_t limits;
    uint8_t *buf;
    size_t start;    /* first byte of the request being parsed */
    size_t end;      /* one past the last byte received */
    size_t capacity; /* bytes allocated */
    /* Resumable multibulk state, offsets relative to `start`. */
    size_t cursor;      /* next byte to parse */
    int64_t argc_total; /* -1: header not parsed yet */
    uint32_t argc_done; /* arguments parsed so far */
    int64_t bulk_len;   /* -1: next $<len> line not parsed yet */
    uint32_t *arg_offset;
    uint32_t *arg_len;
    const uint8_t **argv;
    uint32_t arg_capacity;
    bool returned; /* a request was handed out and its bytes are still buffered */
    size_t returned_bytes;
    int error;
    char message[RESP_ERROR_BYTES];
} resp_parser_t;

/* limits NULL means defaults; limits over the hard ceilings are clamped to them. */
void resp_parser_init(resp_parser_t *parser, const resp_limits_t *limits);
void resp_parser_free(resp_parser_t *parser);
/* Copies bytes in: BALLOT_ENOMEM, or the parser's sticky error. */
int resp_parser_feed(resp_parser_t *parser, const void *bytes, size_t size);
/* Zero-copy alternative to feed: room for at least min_bytes (> 0) at *space (capacity
 * *space_bytes) to read() into, then resp_parser_commit() what was read. */
int resp_parser_space(resp_parser_t *parser, size_t min_bytes, uint8_t **space,
                      size_t *space_bytes);
void resp_parser_commit(resp_parser_t *parser, size_t size);
/* The next whole request: BALLOT_OK with req->argc > 0, or BALLOT_OK with argc == 0 when
 * more bytes are needed. Errors (sticky; the caller replies and closes):
 *   BALLOT_EINVAL     malformed request ("Protocol error: ...")
 *   BALLOT_ETOOLARGE  over a limit ("Protocol error: invalid bulk length" and the like)
 *   BALLOT_ENOMEM     no memory */
int resp_parser_next(resp_parser_t *parser, resp_request_t *req);
/* The sticky error's message, "" when none. */
const char *resp_parser_error(const resp_parser_t *parser);
/* Bytes buffered beyond the requests returned so far. */
size_t resp_parser_pending(const resp_parser_t *parser);

/* Reply encoders: each appends one RESP2 value to `out`, or nothing and BALLOT_ENOMEM. */
/* "+text\r\n"; CR and LF in text are written as spaces (a simple string cannot hold them). */
int resp_reply_simple(wire_buf_t *out, const char *text);
/* "-text\r\n"; text starts with the error kind, e.g. "ERR unknown command 'foo'",
 * "NOTLEADER 2 127.0.0.1:6382", "TOOLARGE value exceeds 1048576 bytes". CR/LF -> spaces. */
int resp_reply_error(wire_buf_t *out, const char *text);
/* printf-style resp_reply_error; the text is cut at RESP_ERROR_BYTES * 4 bytes. */
int resp_reply_errorf(wire_buf_t *out, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
/* ":<value>\r\n" */
int resp_reply_integer(wire_buf_t *out, int64_t value);
/* "$<size>\r\n<bytes>\r\n" */
int resp_reply_bulk(wire_buf_t *out, const void *bytes, size_t size);
/* "$-1\r\n" */
int resp_reply_null_bulk(wire_buf_t *out);
/* "*<count>\r\n" (count elements follow); count -1 writes the null array "*-1\r\n". */
int resp_reply_array_header(wire_buf_t *out, int64_t count);

/* Client side: appends argv as one multibulk request. BALLOT_ENOMEM. */
int resp_request_encode(wire_buf_t *out, uint32_t argc, const uint8_t *const *argv,
                        const uint32_t *argv_len);

#endif
