/* libFuzzer target for the peer path into the core: arbitrary bytes become peer frames,
 * whatever decodes is handed, in order, to a real node of a three-node cluster, between
 * timer ticks, the way ballotd's driver does it (docs/security.md "Bounds on input and
 * memory"). Input: one byte choosing the node (1..3) and whether it starts rejoining,
 * then records
 *
 *   u8 ms to advance the clock by (then a tick), u16 length, payload
 *
 * each sealed as a MSG frame with a correct checksum (so the fuzzer reaches the message
 * decoder and the core rather than the checksum). Checked: nothing aborts (every
 * assertion of the core is on), no sanitizer report, and the node applies slots strictly
 * one after another. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "base/endian.h"
#include "core/check.h"
#include "core/node.h"
#include "wire/wire.h"

/* Messages fed per input. */
#define FUZZ_MESSAGES_MAX 256

typedef struct fuzz_driver {
    node_t *node;
    uint64_t now_ms;
    uint64_t applied; /* last slot applied */
} fuzz_driver_t;

/* What a driver does with the outputs: everything persisted at once, messages dropped
 * (no other node is here), applies checked for order. */
static void drain(fuzz_driver_t *d)
{
    node_outputs_t *out = node_outputs(d->node);
    uint64_t last_seq = 0;
    for (size_t i = 0; i < out->record_count; i++) {
        last_seq = out->records[i].seq;
    }
    for (size_t i = 0; i < out->apply_count; i++) {
        assert(out->applies[i].slot == d->applied + 1);
        d->applied = out->applies[i].slot;
    }
    uint64_t wanted = out->snapshot_wanted_slot;
    node_outputs_clear(d->node);
    if (last_seq != 0) {
        node_persisted(d->node, last_seq, d->now_ms);
    }
    if (wanted > d->applied) {
        /* Install an (empty) snapshot at once, as a driver does after fetching it. */
        node_snapshot_installed(d->node, wanted, NULL, d->now_ms);
        d->applied = wanted;
        node_outputs_clear(d->node);
    }
}

static void seal(wire_buf_t *out, const uint8_t *payload, size_t size)
{
    uint8_t header[WIRE_HEADER_BYTES];
    put_u32(header, WIRE_MAGIC);
    header[4] = (uint8_t)WIRE_VERSION;
    header[5] = WIRE_FRAME_MSG;
    put_u16(header + 6, 0);
    put_u32(header + 8, (uint32_t)size);
    uint32_t crc = crc32c_extend(crc32c(header, 12), payload, size);
    put_u32(header + 12, crc);
    if (wire_buf_append(out, header, sizeof(header)) != BALLOT_OK ||
        wire_buf_append(out, payload, size) != BALLOT_OK) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    node_config_t cfg;
    uint32_t id = 1u + data[0] % 3u;
    node_config_default(&cfg, id, 3);
    cfg.seed = 7;
    cfg.client_origin_shift = (data[0] & 0x10) != 0 ? 60u : 0u;
    fuzz_driver_t d = {.now_ms = 1000};
    if (node_create(&d.node, &cfg) != BALLOT_OK) {
        abort();
    }
    node_start(d.node, d.now_ms, (data[0] & 0x80) != 0);
    drain(&d);
    size_t at = 1;
    wire_buf_t frame;
    wire_buf_init(&frame);
    for (uint32_t n = 0; n < FUZZ_MESSAGES_MAX && size - at >= 3; n++) {
        uint8_t advance = data[at];
        size_t len = get_u16(data + at + 1);
        at += 3;
        len = len < size - at ? len : size - at;
        frame.size = 0;
        seal(&frame, data + at, len);
        at += len;
        wire_frame_t f;
        size_t consumed = 0;
        char err[WIRE_ERROR_BYTES];
        if (wire_decode_frame(frame.bytes, frame.size, 0, &f, &consumed, err, sizeof(err)) ==
                BALLOT_OK &&
            f.type == WIRE_FRAME_MSG) {
            node_receive(d.node, &f.u.msg, d.now_ms);
            msg_free(&f.u.msg);
            drain(&d);
        }
        if (advance != 0) {
            d.now_ms += advance;
            node_tick(d.node, d.now_ms);
            drain(&d);
        }
    }
    wire_buf_free(&frame);
    node_destroy(d.node);
    return 0;
}
