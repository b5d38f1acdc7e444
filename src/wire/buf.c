#include "core/check.h"
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

/* Growth starts here and doubles, so appending n bytes costs O(n) amortised. */
#define WIRE_BUF_CAPACITY_MIN ((size_t)4096)

void wire_buf_init(wire_buf_t *buf)
{
    buf->bytes = NULL;
    buf->size = 0;
    buf->capacity = 0;
}

void wire_buf_free(wire_buf_t *buf)
{
    free(buf->bytes);
    wire_buf_init(buf);
}

int wire_buf_reserve(wire_buf_t *buf, size_t extra)
{
    assert(buf->size <= buf->capacity);
    if (buf->capacity - buf->size >= extra) {
        return BALLOT_OK;
    }
    if (extra > SIZE_MAX / 2 - buf->size) {
        return BALLOT_ENOMEM;
    }
    size_t need = buf->size + extra;
    size_t capacity = buf->capacity < WIRE_BUF_CAPACITY_MIN ? WIRE_BUF_CAPACITY_MIN : buf->capacity;
    while (capacity < need) {
        capacity *= 2;
    }
    uint8_t *bytes = realloc(buf->bytes, capacity);
    if (bytes == NULL) {
        return BALLOT_ENOMEM;
    }
    buf->bytes = bytes;
    buf->capacity = capacity;
    return BALLOT_OK;
}

int wire_buf_append(wire_buf_t *buf, const void *bytes, size_t size)
{
    int rc = wire_buf_reserve(buf, size);
    if (rc != BALLOT_OK) {
        return rc;
    }
    if (size > 0) {
        memcpy(buf->bytes + buf->size, bytes, size);
    }
    buf->size += size;
    return BALLOT_OK;
}

void wire_buf_consume(wire_buf_t *buf, size_t size)
{
    assert(size <= buf->size);
    if (size < buf->size) {
        memmove(buf->bytes, buf->bytes + size, buf->size - size);
    }
    buf->size -= size;
}

void wire_buf_clear(wire_buf_t *buf)
{
    buf->size = 0;
}
