/* libFuzzer target for the RESP request parser. Input: one byte giving the piece size,
 * then the byte stream. Checked: no crash or out-of-bounds access; feeding the stream in
 * pieces gives the same requests as feeding it whole, and fails when the whole does; every
 * request re-encoded as multibulk parses back to itself. Small limits so the fuzzer meets
 * them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "core/check.h"
#include "wire/resp.h"

#define FUZZ_REQUESTS_MAX 4096

static const resp_limits_t fuzz_limits = {
    .args_max = 16,
    .bulk_bytes_max = 64,
    .inline_bytes_max = 128,
    .request_bytes_max = 512,
};

/* A fingerprint of a request: its argument count and a checksum of its arguments. */
static uint64_t fingerprint(const resp_request_t *req)
{
    uint32_t crc = 0;
    for (uint32_t i = 0; i < req->argc; i++) {
        assert(req->argv_len[i] <= fuzz_limits.request_bytes_max);
        crc = crc32c_extend(crc, &req->argv_len[i], sizeof(req->argv_len[i]));
        crc = crc32c_extend(crc, req->argv[i], req->argv_len[i]);
    }
    return (uint64_t)req->argc << 32 | crc;
}

/* A request, re-encoded as multibulk, parses back to the same request. */
static void check_reencode(const resp_request_t *req)
{
    wire_buf_t out;
    wire_buf_init(&out);
    assert(resp_request_encode(&out, req->argc, req->argv, req->argv_len) == BALLOT_OK);
    resp_parser_t p;
    resp_parser_init(&p, NULL);
    assert(resp_parser_feed(&p, out.bytes, out.size) == BALLOT_OK);
    resp_request_t back;
    assert(resp_parser_next(&p, &back) == BALLOT_OK);
    assert(fingerprint(&back) == fingerprint(req));
    resp_parser_free(&p);
    wire_buf_free(&out);
}

/* Parses bytes fed in pieces; fills fingerprints, returns the final code. */
static int parse(const uint8_t *bytes, size_t size, size_t piece, uint64_t *prints, int *count,
                 bool reencode)
{
    resp_parser_t p;
    resp_parser_init(&p, &fuzz_limits);
    *count = 0;
    int rc = BALLOT_OK;
    for (size_t at = 0; at < size && rc == BALLOT_OK; at += piece) {
        size_t n = size - at < piece ? size - at : piece;
        rc = resp_parser_feed(&p, bytes + at, n);
        resp_request_t req;
        while (rc == BALLOT_OK && *count < FUZZ_REQUESTS_MAX &&
               (rc = resp_parser_next(&p, &req)) == BALLOT_OK && req.argc > 0) {
            prints[(*count)++] = fingerprint(&req);
            if (reencode) {
                check_reencode(&req);
            }
        }
    }
    resp_parser_free(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t piece = (size_t)data[0] % 17u + 1u;
    static uint64_t whole[FUZZ_REQUESTS_MAX];
    static uint64_t pieces[FUZZ_REQUESTS_MAX];
    int whole_count = 0;
    int pieces_count = 0;
    int whole_rc = parse(data + 1, size - 1, size, whole, &whole_count, true);
    int pieces_rc = parse(data + 1, size - 1, piece, pieces, &pieces_count, false);
    if (whole_count < FUZZ_REQUESTS_MAX && pieces_count < FUZZ_REQUESTS_MAX) {
        assert(whole_count == pieces_count);
        assert((whole_rc == BALLOT_OK) == (pieces_rc == BALLOT_OK));
    }
    int common = whole_count < pieces_count ? whole_count : pieces_count;
    for (int i = 0; i < common; i++) {
        assert(whole[i] == pieces[i]);
    }
    return 0;
}
