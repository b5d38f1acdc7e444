#include "storage/record.h"

#include <string.h>

#include "core/check.h"
#include "base/crc32c.h"
#include "base/endian.h"
#include "storage/wal.h"

#define HEADER_CRC_COVERED_BYTES 8u

/* Values are opaque here (the core checks their contents on recovery): a kind, a size within
 * bounds, and bytes when there is a size. */
static bool record_value_ok(const value_t *value)
{
    if (value->kind == VALUE_NOOP) {
        return value->size == 0;
    }
    if (value->kind > VALUE_KIND_MAX || value->size > BATCH_BYTES_MAX) {
        return false;
    }
    return value->size == 0 || value->bytes != NULL;
}

bool record_valid(const persist_record_t *record)
{
    if (record->kind < PERSIST_PROMISE || record->kind > PERSIST_KIND_MAX) {
        return false;
    }
    return record_value_ok(&record->value);
}

size_t record_frame_bytes(const persist_record_t *record)
{
    return WAL_FRAME_HEADER_BYTES + WAL_PAYLOAD_FIXED_BYTES + record->value.size;
}

void record_encode(const persist_record_t *record, uint8_t *out)
{
    assert(record_valid(record));
    uint32_t payload_bytes = WAL_PAYLOAD_FIXED_BYTES + record->value.size;
    uint8_t *payload = out + WAL_FRAME_HEADER_BYTES;
    put_u64(payload, record->seq);
    put_u64(payload + 8, record->slot);
    put_u64(payload + 16, record->ballot.round);
    put_u32(payload + 24, record->ballot.node);
    payload[28] = (uint8_t)record->value.kind;
    payload[29] = 0;
    payload[30] = 0;
    payload[31] = 0;
    put_u32(payload + 32, record->value.size);
    if (record->value.size > 0) {
        memcpy(payload + WAL_PAYLOAD_FIXED_BYTES, record->value.bytes, record->value.size);
    }
    put_u32(out, payload_bytes);
    out[4] = (uint8_t)WAL_RECORD_VERSION;
    out[5] = (uint8_t)record->kind;
    put_u16(out + 6, 0);
    put_u32(out + 8, crc32c(out, HEADER_CRC_COVERED_BYTES));
    put_u32(out + 12, crc32c(payload, payload_bytes));
}

/* Fields behind valid checksums: anything out of range means a writer of another format
 * or a bug, never a torn write. */
static record_status_t decode_payload(const uint8_t *header, const uint8_t *payload,
                                      uint32_t payload_bytes, persist_record_t *record)
{
    uint8_t kind = header[5];
    if (get_u16(header + 6) != 0 || kind < PERSIST_PROMISE || kind > PERSIST_KIND_MAX) {
        return RECORD_BAD_CONTENT;
    }
    if (payload[29] != 0 || payload[30] != 0 || payload[31] != 0) {
        return RECORD_BAD_CONTENT;
    }
    uint32_t value_size = get_u32(payload + 32);
    if (value_size != payload_bytes - WAL_PAYLOAD_FIXED_BYTES) {
        return RECORD_BAD_CONTENT;
    }
    memset(record, 0, sizeof(*record));
    record->kind = (persist_kind_t)kind;
    record->seq = get_u64(payload);
    record->slot = get_u64(payload + 8);
    record->ballot.round = get_u64(payload + 16);
    record->ballot.node = get_u32(payload + 24);
    record->value.kind = payload[28] <= VALUE_KIND_MAX ? (value_kind_t)payload[28] : VALUE_NOOP;
    record->value.size = value_size;
    record->value.bytes = value_size > 0 ? (uint8_t *)(payload + WAL_PAYLOAD_FIXED_BYTES) : NULL;
    if (payload[28] > VALUE_KIND_MAX || !record_valid(record)) {
        return RECORD_BAD_CONTENT;
    }
    return RECORD_OK;
}

record_status_t record_decode(const uint8_t *bytes, size_t avail, persist_record_t *record,
                              size_t *frame_bytes)
{
    if (avail < WAL_FRAME_HEADER_BYTES) {
        return RECORD_SHORT;
    }
    if (crc32c(bytes, HEADER_CRC_COVERED_BYTES) != get_u32(bytes + 8)) {
        return RECORD_BAD_HEADER;
    }
    uint32_t payload_bytes = get_u32(bytes);
    if (bytes[4] != WAL_RECORD_VERSION) {
        return RECORD_BAD_VERSION;
    }
    if (payload_bytes < WAL_PAYLOAD_FIXED_BYTES ||
        payload_bytes > WAL_PAYLOAD_FIXED_BYTES + BATCH_BYTES_MAX) {
        return RECORD_BAD_CONTENT;
    }
    if (avail - WAL_FRAME_HEADER_BYTES < payload_bytes) {
        return RECORD_SHORT;
    }
    const uint8_t *payload = bytes + WAL_FRAME_HEADER_BYTES;
    if (crc32c(payload, payload_bytes) != get_u32(bytes + 12)) {
        return RECORD_BAD_PAYLOAD;
    }
    record_status_t status = decode_payload(bytes, payload, payload_bytes, record);
    if (status == RECORD_OK) {
        *frame_bytes = WAL_FRAME_HEADER_BYTES + (size_t)payload_bytes;
        assert(*frame_bytes <= avail);
    }
    return status;
}

const char *record_status_text(record_status_t status)
{
    switch (status) {
    case RECORD_OK:
        return "ok";
    case RECORD_SHORT:
        return "record cut short";
    case RECORD_BAD_HEADER:
        return "record header checksum mismatch";
    case RECORD_BAD_PAYLOAD:
        return "record payload checksum mismatch";
    case RECORD_BAD_VERSION:
        return "unsupported record format version";
    case RECORD_BAD_CONTENT:
        return "record fields out of range";
    }
    return "unknown record status";
}

bool record_scan_valid(const uint8_t *bytes, size_t size, size_t from)
{
    for (size_t offset = from; offset + WAL_FRAME_HEADER_BYTES <= size; offset++) {
        /* The header checksum is a cheap filter; only its matches are decoded fully. */
        if (crc32c(bytes + offset, HEADER_CRC_COVERED_BYTES) != get_u32(bytes + offset + 8)) {
            continue;
        }
        persist_record_t record;
        size_t frame_bytes = 0;
        if (record_decode(bytes + offset, size - offset, &record, &frame_bytes) == RECORD_OK) {
            return true;
        }
    }
    return false;
}

void record_summary_add(record_summary_t *summary, const persist_record_t *record)
{
    summary->records++;
    if (record->seq != 0) { /* seq 0: a promise the WAL carried into a new segment */
        summary->last_seq = record->seq;
    }
    if (record->kind != PERSIST_PROMISE && record->slot > summary->max_slot) {
        summary->max_slot = record->slot;
    }
    bool carries_promise = record->kind == PERSIST_PROMISE || record->kind == PERSIST_ACCEPT;
    if (carries_promise && ballot_less(summary->promise_max, record->ballot)) {
        summary->promise_max = record->ballot;
    }
}

void record_summary_merge(record_summary_t *into, const record_summary_t *from)
{
    if (from->records == 0) {
        return;
    }
    into->records += from->records;
    if (from->last_seq != 0) {
        into->last_seq = from->last_seq;
    }
    if (from->max_slot > into->max_slot) {
        into->max_slot = from->max_slot;
    }
    if (ballot_less(into->promise_max, from->promise_max)) {
        into->promise_max = from->promise_max;
    }
}
