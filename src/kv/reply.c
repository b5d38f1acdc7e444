/* RESP replies built by the state machine (arrays: MGET, KEYS, SCAN, EXEC), bounded by
 * KV_REPLY_BYTES_MAX. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"

void kv_out_reset(kv_out_t *o)
{
    o->size = 0;
    o->over = false;
}

void kv_out_free(kv_out_t *o)
{
    free(o->bytes);
    *o = (kv_out_t){0};
}

void kv_out_raw(kv_out_t *o, const void *bytes, size_t size)
{
    if (o->over || size == 0) {
        return;
    }
    if (size > KV_REPLY_BYTES_MAX - o->size) {
        o->over = true;
        return;
    }
    uint32_t need = o->size + (uint32_t)size;
    if (need > o->cap) {
        uint32_t cap = o->cap < 256u ? 256u : o->cap;
        while (cap < need) {
            cap = cap > KV_REPLY_BYTES_MAX / 2u ? KV_REPLY_BYTES_MAX : cap * 2u;
        }
        uint8_t *grown = realloc(o->bytes, cap);
        if (grown == NULL) {
            o->over = true;
            return;
        }
        o->bytes = grown;
        o->cap = cap;
    }
    memcpy(o->bytes + o->size, bytes, size);
    o->size = need;
}

static void out_prefixed(kv_out_t *o, char prefix, int64_t value)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%c%lld\r\n", prefix, (long long)value);
    kv_out_raw(o, text, (size_t)n);
}

void kv_out_array(kv_out_t *o, int64_t count)
{
    out_prefixed(o, '*', count);
}

void kv_out_bulk(kv_out_t *o, const uint8_t *bytes, uint32_t size)
{
    out_prefixed(o, '$', size);
    kv_out_raw(o, bytes, size);
    kv_out_raw(o, "\r\n", 2);
}

void kv_out_nil(kv_out_t *o)
{
    kv_out_raw(o, "$-1\r\n", 5);
}

void kv_out_integer(kv_out_t *o, int64_t value)
{
    out_prefixed(o, ':', value);
}

void kv_out_simple(kv_out_t *o, const char *text)
{
    kv_out_raw(o, "+", 1);
    kv_out_raw(o, text, strlen(text));
    kv_out_raw(o, "\r\n", 2);
}

void kv_out_error(kv_out_t *o, const char *text)
{
    /* An error line holds no CR or LF: they are replaced. */
    kv_out_raw(o, "-", 1);
    for (const char *p = text; *p != '\0'; p++) {
        char c = *p == '\r' || *p == '\n' ? ' ' : *p;
        kv_out_raw(o, &c, 1);
    }
    kv_out_raw(o, "\r\n", 2);
}

void kv_out_result(kv_out_t *o, const kv_result_t *r)
{
    switch (r->type) {
    case KV_RESULT_OK:
        kv_out_simple(o, "OK");
        break;
    case KV_RESULT_INTEGER:
        kv_out_integer(o, r->integer);
        break;
    case KV_RESULT_BULK:
        kv_out_bulk(o, r->bytes, r->size);
        break;
    case KV_RESULT_NIL:
        kv_out_nil(o);
        break;
    case KV_RESULT_ERROR:
        kv_out_error(o, kv_error_text(r->error));
        break;
    case KV_RESULT_RESP:
        kv_out_raw(o, r->bytes, r->size);
        break;
    }
}
