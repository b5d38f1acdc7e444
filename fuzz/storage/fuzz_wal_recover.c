/* libFuzzer: arbitrary bytes as WAL segment files, recovered through the in-memory backend.
 *
 * The first input byte picks a layout: the bytes as one segment, the bytes behind a valid
 * segment header (so the fuzzer reaches the records quickly), or split into two segments.
 * Recovery must never crash and must answer BALLOT_OK or BALLOT_ECORRUPT; after BALLOT_OK
 * the log must be clean: one more record appended, it reopens without any repair and
 * replays exactly the same records plus the new one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "base/endian.h"
#include "storage/storage.h"
#include "storage/wal_internal.h"

#define DIR       "/fuzz"
#define SEGMENT_1 DIR "/wal-00000000000000000001.log"

typedef struct replayed {
    size_t count;
    uint32_t crc; /* over every record's fields and value, in order */
} replayed_t;

static int note(void *ctx, const persist_record_t *r)
{
    replayed_t *rep = ctx;
    if (r->seq == 0) {
        return 0; /* a promise the WAL carried into a new segment: there when the sync rolled */
    }
    uint8_t fields[48];
    put_u64(fields, r->seq);
    put_u64(fields + 8, r->slot);
    put_u64(fields + 16, r->ballot.round);
    put_u32(fields + 24, r->ballot.node);
    put_u32(fields + 28, (uint32_t)r->kind);
    put_u32(fields + 32, (uint32_t)r->value.kind);
    put_u32(fields + 36, r->value.size);
    rep->crc = crc32c_extend(rep->crc, fields, 40);
    if (r->value.size > 0) {
        rep->crc = crc32c_extend(rep->crc, r->value.bytes, r->value.size);
    }
    rep->count++;
    return 0;
}

static void place(memio_t *m, const uint8_t *data, size_t size)
{
    uint8_t mode = size > 0 ? data[0] % 3u : 0;
    data += size > 0 ? 1 : 0;
    size -= size > 0 ? 1 : 0;
    if (mode == 0) {
        memio_put(m, SEGMENT_1, data, size);
        return;
    }
    if (mode == 1) {
        uint8_t *file = malloc(WAL_SEGMENT_HEADER_BYTES + size);
        wal_segment_header(file, 1, WAL_SEGMENT_HEADER_BYTES);
        if (size > 0) {
            memcpy(file + WAL_SEGMENT_HEADER_BYTES, data, size);
        }
        memio_put(m, SEGMENT_1, file, WAL_SEGMENT_HEADER_BYTES + size);
        free(file);
        return;
    }
    size_t cut = size > 0 ? data[0] % (size + 1u) : 0;
    memio_put(m, SEGMENT_1, data, cut);
    memio_put(m, DIR "/wal-00000000000000000002.log", data + cut, size - cut);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memio_t *m = memio_create();
    place(m, data, size);
    wal_options_t options;
    wal_options_default(&options);
    options.segment_bytes = WAL_SEGMENT_BYTES_MIN;
    wal_t *wal = NULL;
    wal_report_t report;
    replayed_t first = {0};
    int rc = wal_open(DIR, memio_io(m), &options, &wal, note, &first, &report);
    if (rc != BALLOT_OK) {
        if (rc != BALLOT_ECORRUPT || report.message[0] == '\0' || wal != NULL) {
            abort();
        }
        memio_destroy(m);
        return 0;
    }
    persist_record_t extra = {.kind = PERSIST_CHOSEN, .seq = 1, .slot = 1};
    if (wal_append(wal, &extra) != BALLOT_OK || wal_sync(wal) != BALLOT_OK) {
        abort();
    }
    note(&first, &extra);
    wal_close(wal);
    replayed_t second = {0};
    rc = wal_open(DIR, memio_io(m), &options, &wal, note, &second, &report);
    if (rc != BALLOT_OK || report.truncated || second.count != first.count ||
        second.crc != first.crc) {
        abort();
    }
    wal_close(wal);
    if (memio_open_handles(m) != 0) {
        abort();
    }
    memio_destroy(m);
    return 0;
}
