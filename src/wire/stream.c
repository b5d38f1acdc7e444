/* The incremental stream decoder and the handshake check. */
#include "base/fail.h"
#include "core/check.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "wire/encode.h"

/* The buffer grows to at least this, so small reads do not reallocate. */
#define DECODER_CAPACITY_MIN ((size_t)64 * 1024)
/* ... and shrinks back to it from above this. */
#define DECODER_SHRINK_ABOVE (4u * DECODER_CAPACITY_MIN)

__attribute__((format(printf, 3, 4))) static int decoder_fail(wire_decoder_t *dec, int code,
                                                              const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(dec->message, sizeof(dec->message), format, ap);
    va_end(ap);
    dec->error = code;
    return code;
}

void wire_decoder_init(wire_decoder_t *dec, bool expect_hello, uint32_t payload_bytes_max)
{
    memset(dec, 0, sizeof(*dec));
    if (payload_bytes_max == 0 || payload_bytes_max > WIRE_PAYLOAD_BYTES_MAX) {
        payload_bytes_max = WIRE_PAYLOAD_BYTES_MAX;
    }
    dec->payload_bytes_max = payload_bytes_max;
    dec->expect_hello = expect_hello;
}

void wire_decoder_free(wire_decoder_t *dec)
{
    free(dec->buf);
    dec->buf = NULL;
    dec->start = 0;
    dec->end = 0;
    dec->capacity = 0;
}

/* Room for `extra` bytes after `end`: slides the undecoded bytes to the front first, and
 * grows only when that is not enough. */
static int decoder_reserve(wire_decoder_t *dec, size_t extra)
{
    if (dec->start > 0) {
        size_t pending = dec->end - dec->start;
        memmove(dec->buf, dec->buf + dec->start, pending);
        dec->start = 0;
        dec->end = pending;
    }
    /* A buffer that once held a large frame goes back to the minimum once it is (nearly)
     * empty again, so one 8 MiB frame does not keep a link charged for 16 MiB against the
     * buffer budget for the rest of its life. */
    if (dec->capacity > DECODER_SHRINK_ABOVE && dec->end + extra <= DECODER_CAPACITY_MIN) {
        uint8_t *small = realloc(dec->buf, DECODER_CAPACITY_MIN);
        if (small != NULL) {
            dec->buf = small;
            dec->capacity = DECODER_CAPACITY_MIN;
        }
    }
    if (dec->capacity - dec->end >= extra) {
        return BALLOT_OK;
    }
    if (extra > SIZE_MAX / 4 - dec->end) {
        return decoder_fail(dec, BALLOT_ENOMEM, "wire: buffer of %zu bytes cannot grow", dec->end);
    }
    size_t need = dec->end + extra;
    size_t capacity = dec->capacity < DECODER_CAPACITY_MIN ? DECODER_CAPACITY_MIN : dec->capacity;
    while (capacity < need) {
        capacity *= 2;
    }
    uint8_t *buf = realloc(dec->buf, capacity);
    if (buf == NULL) {
        return decoder_fail(dec, BALLOT_ENOMEM, "wire: out of memory for %zu bytes", capacity);
    }
    dec->buf = buf;
    dec->capacity = capacity;
    return BALLOT_OK;
}

int wire_decoder_feed(wire_decoder_t *dec, const void *bytes, size_t size)
{
    if (dec->error != BALLOT_OK) {
        return dec->error;
    }
    int rc = decoder_reserve(dec, size);
    if (rc != BALLOT_OK) {
        return rc;
    }
    if (size > 0) {
        memcpy(dec->buf + dec->end, bytes, size);
    }
    dec->end += size;
    return BALLOT_OK;
}

int wire_decoder_space(wire_decoder_t *dec, size_t min_bytes, uint8_t **space, size_t *space_bytes)
{
    *space = NULL;
    *space_bytes = 0;
    if (dec->error != BALLOT_OK) {
        return dec->error;
    }
    int rc = decoder_reserve(dec, min_bytes > 0 ? min_bytes : 1);
    if (rc != BALLOT_OK) {
        return rc;
    }
    *space = dec->buf + dec->end;
    *space_bytes = dec->capacity - dec->end;
    return BALLOT_OK;
}

void wire_decoder_commit(wire_decoder_t *dec, size_t size)
{
    assert(size <= dec->capacity - dec->end);
    dec->end += size;
}

/* The handshake rules of an expect_hello decoder. The caller releases the frame on error. */
static int decoder_check_handshake(wire_decoder_t *dec, wire_frame_t *frame)
{
    if (frame->type == WIRE_FRAME_HELLO) {
        if (dec->hello_seen) {
            return decoder_fail(dec, BALLOT_EINVAL, "wire: second HELLO on a connection");
        }
        dec->hello_seen = true;
        dec->hello = frame->u.hello;
        return BALLOT_OK;
    }
    if (!dec->hello_seen) {
        return decoder_fail(dec, BALLOT_EINVAL, "wire: %s frame before HELLO",
                            wire_frame_type_name(frame->type));
    }
    if (frame->type != WIRE_FRAME_MSG) {
        return BALLOT_OK;
    }
    const msg_t *m = &frame->u.msg;
    uint32_t from = m->from;
    uint32_t to = m->to;
    if (from != dec->hello.node_id ||
        (dec->hello.peer_id != NODE_NONE && to != dec->hello.peer_id)) {
        return decoder_fail(dec, BALLOT_EINVAL,
                            "wire: message from %u to %u on a connection from %u to %u", from, to,
                            dec->hello.node_id, dec->hello.peer_id);
    }
    return BALLOT_OK;
}

int wire_decoder_next(wire_decoder_t *dec, wire_frame_t *out)
{
    memset(out, 0, sizeof(*out));
    out->type = WIRE_FRAME_NONE;
    if (dec->error != BALLOT_OK) {
        return dec->error;
    }
    size_t consumed = 0;
    char message[WIRE_ERROR_BYTES];
    message[0] = '\0';
    int rc = wire_decode_frame(dec->buf + dec->start, dec->end - dec->start, dec->payload_bytes_max,
                               out, &consumed, message, sizeof(message));
    if (rc != BALLOT_OK) {
        return decoder_fail(dec, rc, "%s", message);
    }
    if (out->type == WIRE_FRAME_NONE) {
        return BALLOT_OK;
    }
    assert(consumed >= WIRE_HEADER_BYTES);
    assert(consumed <= dec->end - dec->start);
    dec->start += consumed;
    if (dec->expect_hello) {
        rc = decoder_check_handshake(dec, out);
        if (rc != BALLOT_OK) {
            if (out->type == WIRE_FRAME_MSG) {
                msg_free(&out->u.msg);
            }
            memset(out, 0, sizeof(*out));
            return rc;
        }
    }
    return BALLOT_OK;
}

const char *wire_decoder_error(const wire_decoder_t *dec)
{
    return dec->error != BALLOT_OK ? dec->message : "";
}

size_t wire_decoder_pending(const wire_decoder_t *dec)
{
    return dec->end - dec->start;
}

int wire_hello_check(const wire_hello_t *hello, uint64_t cluster_id, uint32_t self_id,
                     uint32_t expected_node_id, char *err, size_t err_bytes)
{
    if (hello->version != WIRE_VERSION) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes,
                           "peer speaks protocol version %u, this node %u", hello->version,
                           WIRE_VERSION);
    }
    if (hello->cluster_id != cluster_id) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes,
                           "peer belongs to cluster %016llx, this node to %016llx",
                           (unsigned long long)hello->cluster_id, (unsigned long long)cluster_id);
    }
    if (hello->node_id == NODE_NONE || hello->node_id > NODES_MAX) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "peer claims node id %u", hello->node_id);
    }
    if (expected_node_id != NODE_NONE && hello->node_id != expected_node_id) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "peer is node %u, expected node %u",
                           hello->node_id, expected_node_id);
    }
    if (hello->node_id == self_id) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "peer claims this node's own id %u",
                           self_id);
    }
    if (hello->peer_id != NODE_NONE && hello->peer_id != self_id) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes,
                           "peer meant to reach node %u, this is node %u", hello->peer_id, self_id);
    }
    return BALLOT_OK;
}

int wire_hello_check_timing(const wire_hello_t *hello, const wire_timing_t *mine, char *err,
                            size_t err_bytes)
{
    static const struct {
        const char *flag;
        size_t offset;
    } fields[] = {
        {"--heartbeat-ms", offsetof(wire_timing_t, heartbeat_ms)},
        {"--election-timeout-min-ms", offsetof(wire_timing_t, election_timeout_min_ms)},
        {"--election-timeout-max-ms", offsetof(wire_timing_t, election_timeout_max_ms)},
        {"--lease-ms", offsetof(wire_timing_t, lease_ms)},
        {"--drift-ms", offsetof(wire_timing_t, clock_drift_ms)},
    };
    char diff[WIRE_TIMING_ERROR_BYTES];
    size_t used = 0;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        uint32_t theirs;
        uint32_t ours;
        memcpy(&theirs, (const uint8_t *)&hello->timing + fields[i].offset, sizeof(theirs));
        memcpy(&ours, (const uint8_t *)mine + fields[i].offset, sizeof(ours));
        if (theirs != ours && used < sizeof(diff)) {
            int n = snprintf(diff + used, sizeof(diff) - used, "%s%s %u (here %u)",
                             used > 0 ? ", " : "", fields[i].flag, theirs, ours);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    if (used > 0) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes,
                           "timing settings must be the same on every node; node %u has %s",
                           hello->node_id, diff);
    }
    return BALLOT_OK;
}
