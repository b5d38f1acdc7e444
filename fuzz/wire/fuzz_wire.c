/* libFuzzer target for the frame decoder. Input: one mode byte, then bytes.
 *   mode bit 0 clear: the bytes are a raw stream;
 *   mode bit 0 set:   the bytes are records (u8 frame type, u16 length, payload) that
 *                     this harness seals into frames with a correct checksum, so the
 *                     fuzzer reaches the payload decoders;
 *   mode bit 1:       the stream decoder enforces the handshake;
 *   mode bits 2..7:   the stream is fed in pieces of that many bytes + 1.
 * Checked: no crash or out-of-bounds access (ASan/UBSan); the stream decoder gives the
 * same frames as whole-buffer decoding; every decoded frame re-encodes to the same bytes
 * (the encoding is canonical). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "base/endian.h"
#include "core/check.h"
#include "wire/wire.h"

/* Frames the decoder is checked on, per input. */
#define FUZZ_FRAMES_MAX 4096

static void seal(wire_buf_t *out, const uint8_t *data, size_t size)
{
    size_t at = 0;
    while (size - at >= 3) {
        uint8_t type = data[at];
        size_t len = get_u16(data + at + 1);
        at += 3;
        len = len < size - at ? len : size - at;
        uint8_t header[WIRE_HEADER_BYTES];
        put_u32(header, WIRE_MAGIC);
        header[4] = (uint8_t)WIRE_VERSION;
        header[5] = type;
        put_u16(header + 6, 0);
        put_u32(header + 8, (uint32_t)len);
        uint32_t crc = crc32c_extend(crc32c(header, 12), data + at, len);
        put_u32(header + 12, crc);
        if (wire_buf_append(out, header, sizeof(header)) != BALLOT_OK ||
            wire_buf_append(out, data + at, len) != BALLOT_OK) {
            abort();
        }
        at += len;
    }
}

static int encode_frame(wire_buf_t *out, const wire_frame_t *f)
{
    switch (f->type) {
    case WIRE_FRAME_HELLO:
        return wire_encode_hello(out, &f->u.hello);
    case WIRE_FRAME_MSG:
        return wire_encode_msg(out, &f->u.msg);
    case WIRE_FRAME_SNAPSHOT_REQUEST:
        return wire_encode_snapshot_request(out, &f->u.snapshot_request);
    case WIRE_FRAME_SNAPSHOT_CHUNK:
        return wire_encode_snapshot_chunk(out, &f->u.snapshot_chunk);
    default:
        abort();
    }
}

static void release(wire_frame_t *f)
{
    if (f->type == WIRE_FRAME_MSG) {
        msg_free(&f->u.msg);
    }
}

/* Whole-buffer decoding: records the frame types and the final code; checks that each
 * frame re-encodes to its own bytes. */
static int decode_whole(const uint8_t *bytes, size_t size, uint8_t *types, int *count)
{
    size_t at = 0;
    *count = 0;
    wire_buf_t again;
    wire_buf_init(&again);
    int rc = BALLOT_OK;
    while (*count < FUZZ_FRAMES_MAX) {
        wire_frame_t f;
        size_t consumed = 0;
        char err[WIRE_ERROR_BYTES];
        rc = wire_decode_frame(bytes + at, size - at, 0, &f, &consumed, err, sizeof(err));
        if (rc != BALLOT_OK || f.type == WIRE_FRAME_NONE) {
            break;
        }
        wire_buf_clear(&again);
        assert(encode_frame(&again, &f) == BALLOT_OK);
        assert(again.size == consumed);
        assert(memcmp(again.bytes, bytes + at, consumed) == 0);
        types[(*count)++] = (uint8_t)f.type;
        release(&f);
        at += consumed;
    }
    wire_buf_free(&again);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    uint8_t mode = data[0];
    wire_buf_t stream;
    wire_buf_init(&stream);
    if (mode & 1u) {
        seal(&stream, data + 1, size - 1);
    } else if (wire_buf_append(&stream, data + 1, size - 1) != BALLOT_OK) {
        abort();
    }
    static uint8_t whole_types[FUZZ_FRAMES_MAX];
    int whole_count = 0;
    int whole_rc = decode_whole(stream.bytes, stream.size, whole_types, &whole_count);

    bool expect_hello = (mode & 2u) != 0;
    size_t piece = (size_t)(mode >> 2) + 1u;
    wire_decoder_t dec;
    wire_decoder_init(&dec, expect_hello, 0);
    int count = 0;
    int rc = BALLOT_OK;
    for (size_t at = 0; at < stream.size && rc == BALLOT_OK; at += piece) {
        size_t n = stream.size - at < piece ? stream.size - at : piece;
        rc = wire_decoder_feed(&dec, stream.bytes + at, n);
        wire_frame_t f;
        while (rc == BALLOT_OK && count < FUZZ_FRAMES_MAX &&
               (rc = wire_decoder_next(&dec, &f)) == BALLOT_OK && f.type != WIRE_FRAME_NONE) {
            /* Without the handshake rules both paths must agree frame for frame. */
            assert(expect_hello || whole_types[count] == (uint8_t)f.type);
            count++;
            release(&f);
        }
    }
    if (!expect_hello && count < FUZZ_FRAMES_MAX) {
        assert(count == whole_count);
        assert(rc == whole_rc);
    }
    wire_decoder_free(&dec);
    wire_buf_free(&stream);
    return 0;
}
