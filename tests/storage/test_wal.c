/* WAL: round trips, torn tails, corruption anywhere else, truncation at every length,
 * injected faults (memio), compaction and the promise carried across it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <errno.h>

#include <cmocka.h>

#include "test_util.h"
#include "base/crc32c.h"

#define DIR       "/data"
#define VALUE_MAX 300u

typedef struct fixture {
    memio_t *memio;
    const storage_io_t *io;
    wal_options_t options;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->memio = memio_create();
    f->io = memio_io(f->memio);
    wal_options_default(&f->options);
    f->options.segment_bytes = WAL_SEGMENT_BYTES_MIN;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(memio_open_handles(f->memio), 0);
    memio_destroy(f->memio);
    free(f);
    return 0;
}

static wal_t *open_ok(fixture_t *f, collected_t *c, wal_report_t *report)
{
    wal_t *wal = NULL;
    int rc = wal_open(DIR, f->io, &f->options, &wal, test_collect, c, report);
    if (rc != BALLOT_OK) {
        fail_msg("wal_open: %d %s", rc, report->message);
    }
    return wal;
}

/* Appends seqs first..last (synced every `per_sync`). */
static void write_range(wal_t *wal, uint64_t first, uint64_t last, uint64_t per_sync)
{
    for (uint64_t seq = first; seq <= last; seq++) {
        persist_record_t r = test_record(seq, VALUE_MAX);
        assert_int_equal(wal_append(wal, &r), BALLOT_OK);
        test_record_free(&r);
        if ((seq - first + 1u) % per_sync == 0 || seq == last) {
            assert_int_equal(wal_sync(wal), BALLOT_OK);
            assert_int_equal(wal_durable_seq(wal), seq);
        }
    }
}

static void segment_path(char *out, uint64_t lsn)
{
    snprintf(out, 128, DIR "/wal-%020llu.log", (unsigned long long)lsn);
}

static void round_trip_every_kind(void **state)
{
    fixture_t *f = *state;
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = open_ok(f, &c, &report);
    assert_true(report.created);
    uint8_t *big = malloc(BATCH_BYTES_MAX);
    for (uint32_t i = 0; i < BATCH_BYTES_MAX; i++) {
        big[i] = (uint8_t)(i * 7u);
    }
    uint8_t small[5] = {1, 2, 3, 4, 5};
    persist_record_t records[] = {
        {.kind = PERSIST_PROMISE, .seq = 1, .ballot = {.round = 7, .node = 2}},
        {.kind = PERSIST_ACCEPT,
         .seq = 2,
         .slot = 1,
         .ballot = {.round = 7, .node = 2},
         .value = {.kind = VALUE_BATCH, .size = 5, .bytes = small}},
        {.kind = PERSIST_ACCEPT,
         .seq = 3,
         .slot = 2,
         .ballot = {.round = 7, .node = 2},
         .value = {.kind = VALUE_NOOP}},
        {.kind = PERSIST_LEARN,
         .seq = 4,
         .slot = 3,
         .value = {.kind = VALUE_BATCH, .size = BATCH_BYTES_MAX, .bytes = big}},
        {.kind = PERSIST_CHOSEN, .seq = 5, .slot = 3},
        {.kind = PERSIST_ACCEPT,
         .seq = UINT64_MAX,
         .slot = UINT64_MAX,
         .ballot = {.round = UINT64_MAX, .node = UINT32_MAX}},
    };
    size_t n = sizeof(records) / sizeof(records[0]);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(wal_append(wal, &records[i]), BALLOT_OK);
    }
    assert_int_equal(wal_durable_seq(wal), 0);
    assert_int_equal(wal_sync(wal), BALLOT_OK);
    assert_int_equal(wal_durable_seq(wal), UINT64_MAX);
    wal_close(wal);
    memio_crash(f->memio, 0);
    wal = open_ok(f, &c, &report);
    assert_false(report.created);
    assert_false(report.truncated);
    assert_int_equal(c.count, n);
    for (size_t i = 0; i < n; i++) {
        assert_true(test_record_equal(&c.records[i], &records[i]));
    }
    wal_close(wal);
    free(big);
    test_collected_free(&c);
}

static void append_refuses_bad_records(void **state)
{
    fixture_t *f = *state;
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = open_ok(f, &c, &report);
    persist_record_t r = {.kind = PERSIST_CHOSEN, .seq = 5, .slot = 1};
    assert_int_equal(wal_append(wal, &r), BALLOT_OK);
    r.seq = 5;
    assert_int_equal(wal_append(wal, &r), BALLOT_EINVAL); /* seq must grow */
    r.seq = 0;
    assert_int_equal(wal_append(wal, &r), BALLOT_EINVAL); /* 0 is the WAL's own */
    r = (persist_record_t){.kind = (persist_kind_t)9, .seq = 6};
    assert_int_equal(wal_append(wal, &r), BALLOT_EINVAL);
    r = (persist_record_t){
        .kind = PERSIST_LEARN, .seq = 6, .value = {.kind = VALUE_NOOP, .size = 3}};
    assert_int_equal(wal_append(wal, &r), BALLOT_EINVAL);
    r.value = (value_t){.kind = VALUE_BATCH, .size = BATCH_BYTES_MAX + 1u, .bytes = (uint8_t *)"x"};
    assert_int_equal(wal_append(wal, &r), BALLOT_EINVAL);
    assert_int_equal(wal_sync(wal), BALLOT_OK);
    wal_close(wal);
    test_collected_free(&c);
}

static void buffer_bound_gives_ebusy(void **state)
{
    fixture_t *f = *state;
    f->options.buffer_bytes_max = WAL_BUFFER_BYTES_MIN;
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = open_ok(f, &c, &report);
    uint8_t *bytes = calloc(1, BATCH_BYTES_MAX);
    persist_record_t r = {.kind = PERSIST_LEARN,
                          .seq = 1,
                          .slot = 1,
                          .value = {.kind = VALUE_BATCH, .size = BATCH_BYTES_MAX, .bytes = bytes}};
    assert_int_equal(wal_append(wal, &r), BALLOT_OK);
    r.seq = 2;
    assert_int_equal(wal_append(wal, &r), BALLOT_EBUSY);
    assert_int_equal(wal_sync(wal), BALLOT_OK);
    assert_int_equal(wal_append(wal, &r), BALLOT_OK);
    assert_int_equal(wal_sync(wal), BALLOT_OK);
    wal_close(wal);
    free(bytes);
    test_collected_free(&c);
}

static void missing_log_is_estate_and_discard_allows_fresh_start(void **state)
{
    fixture_t *f = *state;
    f->options.create_if_missing = false;
    wal_t *wal = NULL;
    wal_report_t report;
    assert_int_equal(wal_open(DIR, f->io, &f->options, &wal, NULL, NULL, &report), BALLOT_ESTATE);
    assert_null(wal);
    assert_non_null(strstr(report.message, "acceptor state is missing"));
    f->options.create_if_missing = true;
    collected_t c = {0};
    wal = open_ok(f, &c, &report);
    write_range(wal, 1, 50, 10);
    wal_close(wal);
    char msg[256];
    assert_int_equal(wal_discard(DIR, f->io, msg, sizeof(msg)), BALLOT_OK);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(
        memio_get(f->memio, DIR "/wal-00000000000000000001.log.discarded", &bytes, &size), 0);
    free(bytes);
    f->options.create_if_missing = false;
    assert_int_equal(wal_open(DIR, f->io, &f->options, &wal, NULL, NULL, &report), BALLOT_ESTATE);
    f->options.create_if_missing = true;
    wal = open_ok(f, &c, &report);
    assert_true(report.created);
    assert_int_equal(c.count, 0);
    wal_close(wal);
    test_collected_free(&c);
}

static void recover_callback_error_stops_open(void **state)
{
    fixture_t *f = *state;
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = open_ok(f, &c, &report);
    write_range(wal, 1, 20, 5);
    wal_close(wal);
    test_collected_free(&c);
    c.count = COLLECT_RECORDS_MAX; /* the collector now refuses */
    assert_int_equal(wal_open(DIR, f->io, &f->options, &wal, test_collect, &c, &report),
                     BALLOT_ETOOLARGE);
    assert_null(wal);
}

/* Start offsets of the records in a segment's bytes (all assumed intact). */
static size_t record_starts(const uint8_t *bytes, size_t size, uint64_t *starts, size_t max)
{
    size_t n = 0;
    uint64_t offset = WAL_SEGMENT_HEADER_BYTES;
    while (offset + WAL_FRAME_HEADER_BYTES <= size && n < max) {
        starts[n++] = offset;
        uint32_t payload = (uint32_t)bytes[offset] | (uint32_t)bytes[offset + 1] << 8 |
                           (uint32_t)bytes[offset + 2] << 16 | (uint32_t)bytes[offset + 3] << 24;
        offset += WAL_FRAME_HEADER_BYTES + payload;
    }
    assert_int_equal(offset, size);
    return n;
}

static void torn_tail_is_cut_with_report(void **state)
{
    fixture_t *f = *state;
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = open_ok(f, &c, &report);
    write_range(wal, 1, 10, 1);
    wal_close(wal);
    char path[128];
    segment_path(path, 1);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(memio_get(f->memio, path, &bytes, &size), 0);
    uint64_t starts[16];
    assert_int_equal(record_starts(bytes, size, starts, 16), 10);
    assert_true(memio_set_length(f->memio, path, size - 3u));
    wal = open_ok(f, &c, &report);
    assert_true(report.truncated);
    assert_string_equal(report.file, "wal-00000000000000000001.log");
    assert_int_equal(report.offset, starts[9]);
    assert_int_equal(report.truncated_bytes, size - 3u - starts[9]);
    assert_non_null(strstr(report.message, "torn tail"));
    assert_int_equal(test_check_sequence(&c, 1, 9, VALUE_MAX), 9);
    /* The log goes on from the cut: seq 10 again, then more. */
    write_range(wal, 10, 12, 1);
    wal_close(wal);
    test_collected_free(&c);
    wal = open_ok(f, &c, &report);
    assert_false(report.truncated);
    assert_int_equal(test_check_sequence(&c, 1, 12, VALUE_MAX), 12);
    wal_close(wal);
    free(bytes);
    test_collected_free(&c);
}

static void truncated_at_every_length_of_last_record(void **state)
{
    fixture_t *f = *state;
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = open_ok(f, &c, &report);
    write_range(wal, 1, 6, 2); /* seq 6: an ACCEPT with a value */
    wal_close(wal);
    char path[128];
    segment_path(path, 1);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(memio_get(f->memio, path, &bytes, &size), 0);
    uint64_t starts[8];
    assert_int_equal(record_starts(bytes, size, starts, 8), 6);
    for (uint64_t cut = starts[5]; cut < size; cut++) {
        assert_int_equal(memio_put(f->memio, path, bytes, cut), 0);
        test_collected_free(&c);
        wal = open_ok(f, &c, &report);
        assert_int_equal(report.truncated, cut > starts[5]);
        if (cut > starts[5]) {
            assert_int_equal(report.offset, starts[5]);
        }
        assert_int_equal(test_check_sequence(&c, 1, 5, VALUE_MAX), 5);
        wal_close(wal);
    }
    /* Every cut inside the segment header block of a segment in which no sync completed
     * (a crash while creating it) is repaired too. */
    wal_t *fresh = NULL;
    assert_int_equal(wal_open("/fresh", f->io, &f->options, &fresh, NULL, NULL, &report),
                     BALLOT_OK);
    wal_close(fresh);
    uint8_t *created = NULL;
    size_t created_size = 0;
    assert_int_equal(
        memio_get(f->memio, "/fresh/wal-00000000000000000001.log", &created, &created_size), 0);
    assert_int_equal(created_size, WAL_SEGMENT_HEADER_BYTES);
    for (uint64_t cut = 0; cut < WAL_SEGMENT_HEADER_BYTES; cut++) {
        assert_int_equal(memio_put(f->memio, path, created, cut), 0);
        test_collected_free(&c);
        wal = open_ok(f, &c, &report);
        assert_int_equal(c.count, 0);
        write_range(wal, 1, 2, 1);
        wal_close(wal);
    }
    free(created);
    free(bytes);
    test_collected_free(&c);
}

/* The synced end of a segment image: where the newest synced-end copy says completed syncs
 * reached (recovery's rule, docs/storage.md). */
static uint64_t image_synced_end(const uint8_t *bytes, size_t size)
{
    return wal_segment_unprotected_from(bytes, size);
}

/* The operator's finding: a WAL cut short lost synced records silently ("torn tail"). Every
 * cut at a record boundary, inside a record header, inside a payload or inside the header
 * block, anywhere before the synced end, is refused as corruption naming file and offset;
 * a cut past it is a torn tail, cut and recovered. */
static void cut_before_the_synced_end_is_corruption(void **state)
{
    fixture_t *f = *state;
    f->options.segment_bytes = (uint64_t)1u << 20;
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = open_ok(f, &c, &report);
    write_range(wal, 1, 40, 4);
    wal_close(wal);
    char path[128];
    segment_path(path, 1);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(memio_get(f->memio, path, &bytes, &size), 0);
    uint64_t starts[64];
    assert_int_equal(record_starts(bytes, size, starts, 64), 40);
    uint64_t synced_end = image_synced_end(bytes, size);
    assert_int_equal(synced_end, starts[36]); /* the last round (37..40) is not yet covered */
    uint64_t cuts[200];
    size_t n = 0;
    cuts[n++] = WAL_SECTOR_BYTES + WAL_SYNCED_END_BYTES; /* inside the header block */
    cuts[n++] = WAL_SEGMENT_HEADER_BYTES - 1u;
    for (size_t i = 0; i < 40 && starts[i] < synced_end; i++) {
        cuts[n++] = starts[i];                               /* a record boundary */
        cuts[n++] = starts[i] + 7u;                          /* inside the frame header */
        cuts[n++] = starts[i] + WAL_FRAME_HEADER_BYTES + 5u; /* inside the payload */
    }
    cuts[n++] = synced_end - 1u;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(memio_put(f->memio, path, bytes, cuts[i]), 0);
        test_collected_free(&c);
        assert_int_equal(wal_open(DIR, f->io, &f->options, &wal, test_collect, &c, &report),
                         BALLOT_ECORRUPT);
        assert_null(wal);
        assert_string_equal(report.file, "wal-00000000000000000001.log");
        assert_non_null(strstr(report.message, report.file));
        if (cuts[i] >= WAL_SEGMENT_HEADER_BYTES) {
            assert_int_equal(report.offset, cuts[i]);
            assert_non_null(strstr(report.message, "synced records are missing"));
        }
    }
    /* At or past the synced end: a torn tail of the last round, cut and recovered. */
    for (uint64_t cut = synced_end; cut < size; cut += 13u) {
        assert_int_equal(memio_put(f->memio, path, bytes, cut), 0);
        test_collected_free(&c);
        wal = open_ok(f, &c, &report);
        size_t whole = 36;
        while (whole < 40 && starts[whole] + (whole + 1 < 40 ? starts[whole + 1] - starts[whole]
                                                             : size - starts[whole]) <=
                                 cut) {
            whole++;
        }
        assert_int_equal(test_check_sequence(&c, 1, whole, VALUE_MAX), (long)whole);
        assert_int_equal(report.synced_end, synced_end);
        wal_close(wal);
    }
    /* Once a node has recovered, all it replayed counts as synced: cutting the last record
     * is corruption now. */
    assert_int_equal(memio_put(f->memio, path, bytes, size), 0);
    test_collected_free(&c);
    wal = open_ok(f, &c, &report);
    assert_int_equal(test_check_sequence(&c, 1, 40, VALUE_MAX), 40);
    wal_close(wal);
    uint8_t *sealed = NULL;
    size_t sealed_size = 0;
    assert_int_equal(memio_get(f->memio, path, &sealed, &sealed_size), 0);
    assert_int_equal(image_synced_end(sealed, sealed_size), size);
    assert_true(memio_set_length(f->memio, path, starts[39] + 3u));
    assert_int_equal(wal_open(DIR, f->io, &f->options, &wal, NULL, NULL, &report), BALLOT_ECORRUPT);
    free(sealed);
    free(bytes);
    test_collected_free(&c);
}

/* The last round's end is recorded by the next round, or by wal_record_synced_end when the
 * log goes idle: after it, cutting the last record is corruption, not a torn tail. */
static void idle_log_records_its_synced_end(void **state)
{
    fixture_t *f = *state;
    f->options.segment_bytes = (uint64_t)1u << 20;
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = open_ok(f, &c, &report);
    write_range(wal, 1, 8, 4);
    assert_true(wal_synced_end_behind(wal));
    assert_int_equal(wal_record_synced_end(wal), BALLOT_OK);
    assert_false(wal_synced_end_behind(wal));
    assert_int_equal(wal_record_synced_end(wal), BALLOT_OK); /* nothing behind: no-op */
    wal_close(wal);
    char path[128];
    segment_path(path, 1);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(memio_get(f->memio, path, &bytes, &size), 0);
    assert_int_equal(image_synced_end(bytes, size), size);
    assert_true(memio_set_length(f->memio, path, size - 3u));
    assert_int_equal(wal_open(DIR, f->io, &f->options, &wal, NULL, NULL, &report), BALLOT_ECORRUPT);
    assert_int_equal(report.offset, size - 3u);
    free(bytes);
    test_collected_free(&c);
}

/* A WAL written by format 1 is refused with a message that says so. */
static void format_1_is_refused(void **state)
{
    fixture_t *f = *state;
    uint8_t old[WAL_SEGMENT_LABEL_BYTES] = {0};
    memcpy(old, "BALLOTWL", 8);
    old[8] = 1;
    old[16] = 1;
    uint32_t crc = crc32c(old, 28);
    for (int i = 0; i < 4; i++) {
        old[28 + i] = (uint8_t)(crc >> (8 * i));
    }
    assert_int_equal(memio_put(f->memio, DIR "/wal-00000000000000000001.log", old, sizeof(old)), 0);
    wal_t *wal = NULL;
    wal_report_t report;
    assert_int_equal(wal_open(DIR, f->io, &f->options, &wal, NULL, NULL, &report), BALLOT_ECORRUPT);
    assert_null(wal);
    assert_non_null(strstr(report.message, "WAL format 1"));
    assert_non_null(strstr(report.message, "--rejoin"));
}

typedef struct segment_image {
    char path[128];
    uint8_t *bytes;
    size_t size;
    uint64_t starts[512];
    size_t count;
} segment_image_t;

/* Locates the record holding byte `byte` of a segment: its start (0 for the header). */
static uint64_t containing_record(const segment_image_t *s, uint64_t byte)
{
    uint64_t start = 0;
    for (size_t i = 0; i < s->count && s->starts[i] <= byte; i++) {
        start = s->starts[i];
    }
    return start;
}

/* Writes records over several segments and snapshots each segment's bytes. */
static size_t build_segments(fixture_t *f, segment_image_t *images, size_t max)
{
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = open_ok(f, &c, &report);
    write_range(wal, 1, 120, 4);
    wal_close(wal);
    wal = open_ok(f, &c, &report);
    assert_true(report.segments >= 3);
    size_t n = 0;
    uint64_t lsn = 1;
    for (uint32_t i = 0; i < report.segments && n < max; i++, n++) {
        segment_image_t *s = &images[n];
        segment_path(s->path, lsn);
        assert_int_equal(memio_get(f->memio, s->path, &s->bytes, &s->size), 0);
        s->count = record_starts(s->bytes, s->size, s->starts, 512);
        lsn += s->count;
    }
    wal_close(wal);
    test_collected_free(&c);
    return n;
}

/* Where a byte of a segment lies: a synced-end copy or header padding (damage there is
 * survivable: the other copy still bounds the log), else the label or a record. */
static bool in_spare_header_bytes(uint64_t byte)
{
    if (byte < WAL_SEGMENT_LABEL_BYTES || byte >= WAL_SEGMENT_HEADER_BYTES) {
        return false;
    }
    return true;
}

static void bit_flips_anywhere_are_corruption(void **state)
{
    fixture_t *f = *state;
    segment_image_t images[8];
    size_t segments = build_segments(f, images, 8);
    uint64_t rng = 42;
    int flips = test_sanitized() ? 150 : 1500;
    int corrupt = 0;
    int survived = 0;
    for (int i = 0; i < flips; i++) {
        segment_image_t *s = &images[test_rng(&rng) % segments];
        uint64_t bit = test_rng(&rng) % (s->size * 8u);
        uint64_t byte = bit / 8u;
        assert_true(memio_flip_bit(f->memio, s->path, bit));
        collected_t c = {0};
        wal_report_t report;
        wal_t *wal = NULL;
        int rc = wal_open(DIR, f->io, &f->options, &wal, test_collect, &c, &report);
        if (in_spare_header_bytes(byte)) {
            /* One copy of the synced end (or padding): the other copy still holds. */
            assert_int_equal(rc, BALLOT_OK);
            assert_int_equal(test_check_sequence(&c, 1, 120, VALUE_MAX), 120);
            wal_close(wal);
            survived++;
        } else {
            /* The log was recovered once (build_segments), so even its last record is
             * covered by the synced end: no flip is a torn tail. */
            assert_int_equal(rc, BALLOT_ECORRUPT);
            assert_null(wal);
            assert_string_equal(report.file, strrchr(s->path, '/') + 1);
            assert_int_equal(report.offset, containing_record(s, byte));
            assert_non_null(strstr(report.message, report.file));
            corrupt++;
        }
        test_collected_free(&c);
        assert_int_equal(memio_put(f->memio, s->path, s->bytes, s->size), 0);
    }
    assert_true(corrupt > 0 && survived > 0);
    for (size_t i = 0; i < segments; i++) {
        free(images[i].bytes);
    }
}

static void missing_segment_is_corruption(void **state)
{
    fixture_t *f = *state;
    segment_image_t images[8];
    size_t segments = build_segments(f, images, 8);
    wal_t *wal = NULL;
    wal_report_t report;
    uint8_t *bytes = images[1].bytes;
    assert_int_equal(f->io->unlink(f->io->ctx, images[1].path), 0);
    assert_int_equal(wal_open(DIR, f->io, &f->options, &wal, NULL, NULL, &report), BALLOT_ECORRUPT);
    assert_string_equal(report.file, strrchr(images[2].path, '/') + 1);
    assert_non_null(strstr(report.message, "missing"));
    /* A truncated (not torn-tail) middle segment is corruption too. */
    assert_int_equal(memio_put(f->memio, images[1].path, bytes, images[1].size - 1u), 0);
    assert_int_equal(wal_open(DIR, f->io, &f->options, &wal, NULL, NULL, &report), BALLOT_ECORRUPT);
    assert_string_equal(report.file, strrchr(images[1].path, '/') + 1);
    for (size_t i = 0; i < segments; i++) {
        free(images[i].bytes);
    }
}

/* A fault program: fail the n-th call (1-based) of op with err, optionally tearing. */
typedef struct fault_plan {
    memio_op_t op;
    int err;
    uint32_t at; /* 0: never */
    bool repeat; /* keep failing after the first */
    size_t torn; /* for PWRITE: bytes written before failing */
    uint32_t calls[16];
} fault_plan_t;

static int planned_fault(void *ctx, memio_op_t op, const char *path, uint64_t offset, size_t size,
                         size_t *torn)
{
    (void)path;
    (void)offset;
    fault_plan_t *plan = ctx;
    uint32_t n = ++plan->calls[op];
    if (op != plan->op || plan->at == 0 || n < plan->at || (!plan->repeat && n > plan->at)) {
        return 0;
    }
    *torn = plan->torn < size ? plan->torn : size;
    return plan->err;
}

static void fdatasync_failure_stops_the_wal(int err)
{
    fixture_t f0;
    fixture_t *f = &f0;
    setup((void **)&f);
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = open_ok(f, &c, &report);
    write_range(wal, 1, 10, 5);
    fault_plan_t plan = {.op = MEMIO_OP_FDATASYNC, .err = err, .at = 1};
    memio_set_fault(f->memio, planned_fault, &plan);
    persist_record_t r = test_record(11, VALUE_MAX);
    assert_int_equal(wal_append(wal, &r), BALLOT_OK);
    assert_int_equal(wal_sync(wal), BALLOT_EIO);
    assert_true(wal_failed(wal));
    assert_non_null(strstr(wal_error(wal), "fdatasync"));
    assert_int_equal(wal_durable_seq(wal), 10);
    /* No retry: later calls refuse without touching the disk. */
    test_record_free(&r);
    r = test_record(12, VALUE_MAX);
    assert_int_equal(wal_append(wal, &r), BALLOT_EIO);
    assert_int_equal(wal_sync(wal), BALLOT_EIO);
    assert_int_equal(wal_compact(wal, 100), BALLOT_EIO);
    assert_int_equal(plan.calls[MEMIO_OP_FDATASYNC], 1);
    test_record_free(&r);
    wal_close(wal);
    memio_set_fault(f->memio, NULL, NULL);
    memio_crash(f->memio, 0);
    test_collected_free(&c);
    wal = open_ok(f, &c, &report);
    assert_int_equal(test_check_sequence(&c, 1, 10, VALUE_MAX), 10);
    wal_close(wal);
    test_collected_free(&c);
    teardown((void **)&f);
}

static void fdatasync_eio_is_fatal(void **state)
{
    (void)state;
    fdatasync_failure_stops_the_wal(EIO);
}

static void fdatasync_enospc_is_fatal(void **state)
{
    (void)state;
    fdatasync_failure_stops_the_wal(ENOSPC);
}

static void write_eio_is_fatal(void **state)
{
    fixture_t *f = *state;
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = open_ok(f, &c, &report);
    write_range(wal, 1, 10, 5);
    fault_plan_t plan = {.op = MEMIO_OP_PWRITE, .err = EIO, .at = 1, .torn = 20};
    memio_set_fault(f->memio, planned_fault, &plan);
    persist_record_t r = test_record(11, VALUE_MAX);
    assert_int_equal(wal_append(wal, &r), BALLOT_OK);
    test_record_free(&r);
    assert_int_equal(wal_sync(wal), BALLOT_EIO);
    assert_true(wal_failed(wal));
    assert_non_null(strstr(wal_error(wal), "offset"));
    wal_close(wal);
    memio_set_fault(f->memio, NULL, NULL);
    memio_crash(f->memio, 7);
    wal = open_ok(f, &c, &report);
    assert_int_equal(test_check_sequence(&c, 1, 10, VALUE_MAX), 10);
    wal_close(wal);
    test_collected_free(&c);
}

static void write_enospc_keeps_records_for_a_retry(void **state)
{
    fixture_t *f = *state;
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = open_ok(f, &c, &report);
    write_range(wal, 1, 10, 5);
    fault_plan_t plan = {.op = MEMIO_OP_PWRITE, .err = ENOSPC, .at = 1, .torn = 30};
    memio_set_fault(f->memio, planned_fault, &plan);
    for (uint64_t seq = 11; seq <= 14; seq++) {
        persist_record_t r = test_record(seq, VALUE_MAX);
        assert_int_equal(wal_append(wal, &r), BALLOT_OK);
        test_record_free(&r);
    }
    assert_int_equal(wal_sync(wal), BALLOT_ENOSPC);
    assert_false(wal_failed(wal));
    assert_int_equal(wal_durable_seq(wal), 10);
    assert_true(wal_buffered_bytes(wal) > 0);
    assert_non_null(strstr(wal_error(wal), "disk full"));
    /* The torn bytes were cut: a crash now finds exactly the acknowledged records. */
    memio_set_fault(f->memio, NULL, NULL);
    persist_record_t r = test_record(15, VALUE_MAX);
    assert_int_equal(wal_append(wal, &r), BALLOT_OK);
    test_record_free(&r);
    assert_int_equal(wal_sync(wal), BALLOT_OK);
    assert_int_equal(wal_durable_seq(wal), 15);
    wal_close(wal);
    memio_crash(f->memio, 0);
    wal = open_ok(f, &c, &report);
    assert_false(report.truncated);
    assert_int_equal(test_check_sequence(&c, 1, 15, VALUE_MAX), 15);
    wal_close(wal);
    test_collected_free(&c);
}

static void full_disk_then_space_frees(void **state)
{
    fixture_t *f = *state;
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = open_ok(f, &c, &report);
    memio_set_capacity(f->memio, 20000);
    uint64_t seq = 1;
    int rc = BALLOT_OK;
    uint64_t durable = 0;
    for (; seq < 10000 && rc == BALLOT_OK; seq++) {
        persist_record_t r = test_record(seq, VALUE_MAX);
        assert_int_equal(wal_append(wal, &r), BALLOT_OK);
        test_record_free(&r);
        rc = wal_sync(wal);
        durable = rc == BALLOT_OK ? seq : durable;
    }
    assert_int_equal(rc, BALLOT_ENOSPC); /* at a roll or inside a segment */
    assert_int_equal(wal_durable_seq(wal), durable);
    assert_int_equal(wal_sync(wal), BALLOT_ENOSPC);
    memio_set_capacity(f->memio, 0);
    assert_int_equal(wal_sync(wal), BALLOT_OK);
    assert_int_equal(wal_durable_seq(wal), seq - 1u);
    wal_close(wal);
    memio_crash(f->memio, 0);
    wal = open_ok(f, &c, &report);
    assert_int_equal(test_check_sequence(&c, 1, seq - 1u, VALUE_MAX), (long)(seq - 1u));
    wal_close(wal);
    test_collected_free(&c);
}

static void enospc_while_rolling_a_segment(void **state)
{
    fixture_t *f = *state;
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = open_ok(f, &c, &report);
    write_range(wal, 1, 40, 40); /* one round: the segment is over its size now */
    fault_plan_t plan = {.op = MEMIO_OP_OPEN, .err = ENOSPC, .at = 1};
    memio_set_fault(f->memio, planned_fault, &plan);
    persist_record_t r = test_record(41, VALUE_MAX);
    assert_int_equal(wal_append(wal, &r), BALLOT_OK);
    test_record_free(&r);
    assert_int_equal(wal_sync(wal), BALLOT_ENOSPC);
    plan = (fault_plan_t){.op = MEMIO_OP_PWRITE, .err = ENOSPC, .at = 1, .torn = 10};
    assert_int_equal(wal_sync(wal), BALLOT_ENOSPC); /* the new segment's header write */
    memio_set_fault(f->memio, NULL, NULL);
    assert_int_equal(wal_sync(wal), BALLOT_OK);
    wal_close(wal);
    memio_crash(f->memio, 0);
    wal = open_ok(f, &c, &report);
    assert_int_equal(report.segments, 2);
    assert_int_equal(test_check_sequence(&c, 1, 41, VALUE_MAX), 41);
    wal_close(wal);
    test_collected_free(&c);
}

/* Random faults: every I/O call fails with probability 1/one_in, EIO or ENOSPC. */
typedef struct random_faults {
    uint64_t rng;
    uint32_t one_in; /* 0: off */
} random_faults_t;

static int random_fault(void *ctx, memio_op_t op, const char *path, uint64_t offset, size_t size,
                        size_t *torn)
{
    (void)path;
    (void)offset;
    random_faults_t *rf = ctx;
    if (rf->one_in == 0 || op == MEMIO_OP_LIST_DIR || test_rng(&rf->rng) % rf->one_in != 0) {
        return 0;
    }
    *torn = size > 0 ? (size_t)(test_rng(&rf->rng) % size) : 0;
    return test_rng(&rf->rng) % 2u == 0 ? EIO : ENOSPC;
}

typedef struct crash_model {
    uint64_t acked;     /* highest seq a wal_sync acknowledged */
    uint64_t written;   /* highest seq handed to a wal_sync attempt */
    uint64_t compacted; /* highest slot passed to wal_compact */
    uint64_t next;      /* next seq to append */
} crash_model_t;

/* Opens after a crash (retrying through injected faults) and checks the model. */
static wal_t *recover_and_check(fixture_t *f, random_faults_t *rf, crash_model_t *m, uint64_t *rng)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        rf->one_in = attempt < 40 ? rf->one_in : 0;
        collected_t c = {0};
        wal_report_t report;
        wal_t *wal = NULL;
        int rc = wal_open(DIR, f->io, &f->options, &wal, test_collect, &c, &report);
        if (rc == BALLOT_ECORRUPT || rc == BALLOT_ESTATE) {
            fail_msg("recovery refused a crashed log: %s", report.message);
        }
        if (rc != BALLOT_OK) {
            test_collected_free(&c);
            memio_crash(f->memio, test_rng(rng) | 1u);
            continue;
        }
        uint64_t first = 0;
        uint64_t last = 0;
        for (size_t i = 0; i < c.count; i++) {
            if (c.records[i].seq != 0) {
                first = first == 0 ? c.records[i].seq : first;
                last = c.records[i].seq;
            }
        }
        assert_true(last >= m->acked);
        assert_true(last <= m->written);
        if (last > 0) {
            assert_true(first <= (m->compacted == 0 ? 1u : m->compacted + 7u));
            assert_true(test_check_sequence(&c, first, last, VALUE_MAX) >= 0);
        }
        test_collected_free(&c);
        m->next = last + 1u;
        m->written = last;
        return wal;
    }
    fail_msg("recovery never succeeded");
    return NULL;
}

static void one_crash_run(uint64_t seed, int steps)
{
    fixture_t f0;
    fixture_t *f = &f0;
    setup((void **)&f);
    uint64_t rng = seed;
    random_faults_t rf = {.rng = seed * 31u + 1u, .one_in = 40};
    memio_set_fault(f->memio, random_fault, &rf);
    crash_model_t m = {.next = 1};
    wal_t *wal = NULL;
    for (int step = 0; step < steps; step++) {
        if (wal == NULL) {
            rf.one_in = 40;
            wal = recover_and_check(f, &rf, &m, &rng);
            rf.one_in = 40;
        }
        uint64_t action = test_rng(&rng) % 10u;
        if (action == 0 || wal_failed(wal)) {
            wal_close(wal);
            wal = NULL;
            memio_crash(f->memio, test_rng(&rng) % 2u == 0 ? 0 : test_rng(&rng) | 1u);
            continue;
        }
        if (action == 1 && m.acked > 10) {
            uint64_t slot = test_rng(&rng) % m.acked;
            m.compacted = slot > m.compacted ? slot : m.compacted;
            (void)wal_compact(wal, slot);
            continue;
        }
        uint64_t count = 1u + test_rng(&rng) % 12u;
        for (uint64_t i = 0; i < count; i++) {
            persist_record_t r = test_record(m.next, VALUE_MAX);
            int rc = wal_append(wal, &r);
            test_record_free(&r);
            if (rc != BALLOT_OK) {
                break;
            }
            m.next++;
        }
        m.written = m.next - 1u > m.written ? m.next - 1u : m.written;
        if (wal_sync(wal) == BALLOT_OK) {
            assert_int_equal(wal_durable_seq(wal), m.next - 1u);
            m.acked = m.next - 1u;
        }
    }
    wal_close(wal);
    teardown((void **)&f);
}

/* Random appends, syncs, compactions, injected EIO/ENOSPC (with torn writes) and power
 * losses: recovery never refuses, never loses an acknowledged record, never invents one. */
static void random_faults_and_crashes_keep_acknowledged_records(void **state)
{
    (void)state;
    int runs = test_sanitized() ? 40 : 300;
    for (int run = 1; run <= runs; run++) {
        one_crash_run((uint64_t)run, 120);
    }
}

static void compaction_keeps_the_newest_promise(void **state)
{
    fixture_t *f = *state;
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = open_ok(f, &c, &report);
    uint64_t seq = 1;
    persist_record_t promise = {
        .kind = PERSIST_PROMISE, .seq = seq++, .ballot = {.round = 7, .node = 1}};
    assert_int_equal(wal_append(wal, &promise), BALLOT_OK);
    /* An accept at a higher ballot raises the promise without a PROMISE record. */
    persist_record_t accept = {
        .kind = PERSIST_ACCEPT, .seq = seq++, .slot = 1, .ballot = {.round = 9, .node = 3}};
    assert_int_equal(wal_append(wal, &accept), BALLOT_OK);
    assert_int_equal(wal_sync(wal), BALLOT_OK);
    uint8_t value[200] = {0};
    for (uint64_t slot = 2; slot <= 300; slot++) {
        persist_record_t r = {
            .kind = PERSIST_LEARN,
            .seq = seq++,
            .slot = slot,
            .value = {.kind = VALUE_BATCH, .size = sizeof(value), .bytes = value}};
        assert_int_equal(wal_append(wal, &r), BALLOT_OK);
        if (slot % 10u == 0) {
            assert_int_equal(wal_sync(wal), BALLOT_OK);
        }
    }
    assert_int_equal(wal_sync(wal), BALLOT_OK);
    wal_close(wal);
    wal = open_ok(f, &c, &report);
    uint32_t segments_before = report.segments;
    assert_true(segments_before > 5);
    assert_int_equal(wal_compact(wal, 250), BALLOT_OK);
    wal_close(wal);
    test_collected_free(&c);
    memio_crash(f->memio, 0);
    wal = open_ok(f, &c, &report);
    assert_true(report.segments < segments_before);
    assert_true(report.first_lsn > 1);
    /* The first record kept is the carried promise; every slot above 250 is still there. */
    assert_int_equal(c.records[0].kind, PERSIST_PROMISE);
    assert_int_equal(c.records[0].seq, 0);
    assert_int_equal(c.promise_max.round, 9);
    assert_int_equal(c.promise_max.node, 3);
    assert_true(c.records[1].slot <= 251);
    assert_int_equal(c.records[c.count - 1].slot, 300);
    /* Compacting everything still keeps the segment being written. */
    assert_int_equal(wal_compact(wal, UINT64_MAX), BALLOT_OK);
    wal_close(wal);
    test_collected_free(&c);
    wal = open_ok(f, &c, &report);
    assert_int_equal(report.segments, 1);
    assert_int_equal(c.promise_max.round, 9);
    wal_close(wal);
    test_collected_free(&c);
}

static int recover_into_node(void *ctx, const persist_record_t *record)
{
    return node_recover(ctx, record);
}

/* The records the WAL replays, carried promise included, are what node_recover takes. */
static void replays_into_the_core(void **state)
{
    fixture_t *f = *state;
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = open_ok(f, &c, &report);
    command_t command = {.client_id = 9, .sequence = 1, .size = 3, .bytes = (const uint8_t *)"set"};
    value_t batch;
    assert_true(batch_encode(&batch, &command, 1));
    ballot_t b3 = {.round = 3, .node = 2};
    ballot_t b5 = {.round = 5, .node = 3};
    persist_record_t records[] = {
        {.kind = PERSIST_PROMISE, .seq = 1, .ballot = b3},
        {.kind = PERSIST_ACCEPT, .seq = 2, .slot = 1, .ballot = b3, .value = batch},
        {.kind = PERSIST_LEARN, .seq = 3, .slot = 1, .value = batch},
        {.kind = PERSIST_CHOSEN, .seq = 4, .slot = 1},
        {.kind = PERSIST_ACCEPT, .seq = 5, .slot = 2, .ballot = b5, .value = value_noop()},
    };
    for (size_t i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
        assert_int_equal(wal_append(wal, &records[i]), BALLOT_OK);
    }
    assert_int_equal(wal_sync(wal), BALLOT_OK);
    /* Enough CHOSEN records to roll segments, then compact the first ones away. */
    for (uint64_t seq = 6; seq < 400; seq++) {
        persist_record_t chosen = {.kind = PERSIST_CHOSEN, .seq = seq, .slot = 1};
        assert_int_equal(wal_append(wal, &chosen), BALLOT_OK);
        assert_int_equal(wal_sync(wal), BALLOT_OK);
    }
    assert_int_equal(wal_compact(wal, 2), BALLOT_OK);
    wal_close(wal);
    value_free(&batch);
    node_config_t cfg;
    node_config_default(&cfg, 1, 3);
    node_t *node = NULL;
    assert_int_equal(node_create(&node, &cfg), BALLOT_OK);
    node_recover_snapshot(node, 2, NULL);
    wal = NULL;
    assert_int_equal(wal_open(DIR, f->io, &f->options, &wal, recover_into_node, node, &report),
                     BALLOT_OK);
    assert_true(report.first_lsn > 1); /* the promise now lives only in a carried record */
    node_start(node, 0, false);
    node_status_t status;
    node_get_status(node, 0, &status);
    assert_true(ballot_equal(status.promised, b5));
    wal_close(wal);
    node_destroy(node);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip_every_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(append_refuses_bad_records, setup, teardown),
        cmocka_unit_test_setup_teardown(buffer_bound_gives_ebusy, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_log_is_estate_and_discard_allows_fresh_start, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(recover_callback_error_stops_open, setup, teardown),
        cmocka_unit_test_setup_teardown(torn_tail_is_cut_with_report, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_at_every_length_of_last_record, setup, teardown),
        cmocka_unit_test_setup_teardown(bit_flips_anywhere_are_corruption, setup, teardown),
        cmocka_unit_test_setup_teardown(cut_before_the_synced_end_is_corruption, setup, teardown),
        cmocka_unit_test_setup_teardown(format_1_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(idle_log_records_its_synced_end, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_segment_is_corruption, setup, teardown),
        cmocka_unit_test(fdatasync_eio_is_fatal),
        cmocka_unit_test(fdatasync_enospc_is_fatal),
        cmocka_unit_test_setup_teardown(write_eio_is_fatal, setup, teardown),
        cmocka_unit_test_setup_teardown(write_enospc_keeps_records_for_a_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(full_disk_then_space_frees, setup, teardown),
        cmocka_unit_test_setup_teardown(enospc_while_rolling_a_segment, setup, teardown),
        cmocka_unit_test(random_faults_and_crashes_keep_acknowledged_records),
        cmocka_unit_test_setup_teardown(compaction_keeps_the_newest_promise, setup, teardown),
        cmocka_unit_test_setup_teardown(replays_into_the_core, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
