/* Private to src/wire: bounds-checked cursors over little-endian bytes. */
#ifndef BALLOT_WIRE_CODEC_H
#define BALLOT_WIRE_CODEC_H

#include "core/check.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/endian.h"
#include "core/ballot.h"

#define CODEC_BALLOT_BYTES 12u /* u64 round, u32 node */

/* A writer into memory whose size was computed beforehand: overrunning it is a bug in
 * the size computation, so it is asserted. */
typedef struct codec_writer {
    uint8_t *p;
    uint8_t *end;
} codec_writer_t;

static inline void codec_put_u8(codec_writer_t *w, uint8_t v)
{
    assert(w->end - w->p >= 1);
    *w->p++ = v;
}

static inline void codec_put_u32(codec_writer_t *w, uint32_t v)
{
    assert(w->end - w->p >= 4);
    put_u32(w->p, v);
    w->p += 4;
}

static inline void codec_put_u64(codec_writer_t *w, uint64_t v)
{
    assert(w->end - w->p >= 8);
    put_u64(w->p, v);
    w->p += 8;
}

static inline void codec_put_bytes(codec_writer_t *w, const void *bytes, size_t size)
{
    assert((size_t)(w->end - w->p) >= size);
    if (size > 0) {
        memcpy(w->p, bytes, size);
    }
    w->p += size;
}

static inline void codec_put_ballot(codec_writer_t *w, ballot_t b)
{
    codec_put_u64(w, b.round);
    codec_put_u32(w, b.node);
}

/* A reader over untrusted bytes: a read past the end sets `failed` and yields zeros, so
 * a decoder checks `failed` once per structure instead of after every field. */
typedef struct codec_reader {
    const uint8_t *p;
    size_t left;
    bool failed;
} codec_reader_t;

static inline bool codec_take(codec_reader_t *r, size_t size)
{
    if (r->failed || r->left < size) {
        r->failed = true;
        return false;
    }
    return true;
}

static inline uint8_t codec_get_u8(codec_reader_t *r)
{
    if (!codec_take(r, 1)) {
        return 0;
    }
    uint8_t v = r->p[0];
    r->p++;
    r->left--;
    return v;
}

static inline uint32_t codec_get_u32(codec_reader_t *r)
{
    if (!codec_take(r, 4)) {
        return 0;
    }
    uint32_t v = get_u32(r->p);
    r->p += 4;
    r->left -= 4;
    return v;
}

static inline uint64_t codec_get_u64(codec_reader_t *r)
{
    if (!codec_take(r, 8)) {
        return 0;
    }
    uint64_t v = get_u64(r->p);
    r->p += 8;
    r->left -= 8;
    return v;
}

/* A view of the next `size` bytes, or NULL (and failed) when fewer remain. */
static inline const uint8_t *codec_get_bytes(codec_reader_t *r, size_t size)
{
    if (!codec_take(r, size)) {
        return NULL;
    }
    const uint8_t *v = r->p;
    r->p += size;
    r->left -= size;
    return v;
}

static inline ballot_t codec_get_ballot(codec_reader_t *r)
{
    ballot_t b;
    b.round = codec_get_u64(r);
    b.node = codec_get_u32(r);
    return b;
}

#endif
