/* Snapshots: atomic write, pruning, checksum verification and fallback to an older one. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "test_util.h"

#define DIR "/data"

static int setup(void **state)
{
    memio_t *m = memio_create();
    assert_int_equal(memio_io(m)->mkdir(memio_io(m)->ctx, DIR), 0);
    *state = m;
    return 0;
}

static int teardown(void **state)
{
    memio_t *m = *state;
    assert_int_equal(memio_open_handles(m), 0);
    memio_destroy(m);
    return 0;
}

static uint8_t *image(uint64_t slot, size_t size)
{
    uint8_t *bytes = malloc(size > 0 ? size : 1u);
    for (size_t i = 0; i < size; i++) {
        bytes[i] = (uint8_t)(slot * 13u + i * 7u);
    }
    return bytes;
}

static void write_image(memio_t *m, uint64_t slot, size_t size, uint64_t *compact_slot)
{
    uint8_t *bytes = image(slot, size);
    char msg[256];
    int rc = snapshot_write(DIR, memio_io(m), slot, bytes, size, compact_slot, msg, sizeof(msg));
    if (rc != BALLOT_OK) {
        fail_msg("snapshot_write: %s", msg);
    }
    free(bytes);
}

static void expect_latest(memio_t *m, uint64_t slot, size_t size, uint32_t skipped)
{
    snapshot_t s;
    snapshot_report_t report;
    assert_int_equal(snapshot_read_latest(DIR, memio_io(m), &s, &report), BALLOT_OK);
    assert_true(report.found);
    assert_int_equal(report.skipped, skipped);
    assert_int_equal(s.slot, slot);
    assert_int_equal(s.size, size);
    uint8_t *want = image(slot, size);
    assert_true(size == 0 || memcmp(s.bytes, want, size) == 0);
    free(want);
    snapshot_free(&s);
}

static void round_trip_and_pruning(void **state)
{
    memio_t *m = *state;
    snapshot_t s;
    snapshot_report_t report;
    assert_int_equal(snapshot_read_latest(DIR, memio_io(m), &s, &report), BALLOT_OK);
    assert_false(report.found);
    assert_int_equal(snapshot_read_latest("/nowhere", memio_io(m), &s, &report), BALLOT_OK);
    assert_false(report.found);
    uint64_t compact_slot = 99;
    write_image(m, 10, 0, &compact_slot);
    assert_int_equal(compact_slot, 10);
    expect_latest(m, 10, 0, 0);
    write_image(m, 20, 200000, &compact_slot); /* several checksum blocks */
    assert_int_equal(compact_slot, 10);
    expect_latest(m, 20, 200000, 0);
    write_image(m, 30, 1000, &compact_slot);
    assert_int_equal(compact_slot, 20);
    expect_latest(m, 30, 1000, 0);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(memio_get(m, DIR "/snap-00000000000000000010.snap", &bytes, &size), ENOENT);
    char msg[128];
    assert_int_equal(snapshot_write(DIR, memio_io(m), 0, NULL, 0, NULL, msg, sizeof(msg)),
                     BALLOT_EINVAL);
}

static void corrupt_newest_falls_back(void **state)
{
    memio_t *m = *state;
    write_image(m, 5, 150000, NULL);
    write_image(m, 9, 140000, NULL);
    const char *newest = DIR "/snap-00000000000000000009.snap";
    uint8_t *clean = NULL;
    size_t size = 0;
    assert_int_equal(memio_get(m, newest, &clean, &size), 0);
    uint64_t rng = 7;
    int flips = test_sanitized() ? 60 : 400;
    for (int i = 0; i < flips; i++) {
        uint64_t bit = test_rng(&rng) % (size * 8u);
        assert_true(memio_flip_bit(m, newest, bit));
        snapshot_t s;
        snapshot_report_t report;
        assert_int_equal(snapshot_read_latest(DIR, memio_io(m), &s, &report), BALLOT_OK);
        assert_int_equal(s.slot, 5);
        assert_int_equal(report.skipped, 1);
        assert_non_null(strstr(report.message, "snap-00000000000000000009.snap"));
        snapshot_free(&s);
        assert_int_equal(memio_put(m, newest, clean, size), 0);
    }
    /* Cut at random lengths: also skipped. */
    for (int i = 0; i < 50; i++) {
        assert_int_equal(memio_put(m, newest, clean, test_rng(&rng) % size), 0);
        expect_latest(m, 5, 150000, 1);
    }
    assert_int_equal(memio_put(m, newest, clean, size), 0);
    expect_latest(m, 9, 140000, 0);
    free(clean);
}

static void all_corrupt_is_ecorrupt(void **state)
{
    memio_t *m = *state;
    write_image(m, 5, 100, NULL);
    write_image(m, 9, 100, NULL);
    assert_true(memio_flip_bit(m, DIR "/snap-00000000000000000005.snap", 8 * 60));
    assert_true(memio_flip_bit(m, DIR "/snap-00000000000000000009.snap", 8 * 3));
    snapshot_t s;
    snapshot_report_t report;
    assert_int_equal(snapshot_read_latest(DIR, memio_io(m), &s, &report), BALLOT_ECORRUPT);
    assert_false(report.found);
    assert_int_equal(report.skipped, 2);
    assert_non_null(strstr(report.message, "bytes 40..140"));
    assert_non_null(strstr(report.message, "bad header at offset 0"));
    /* A file renamed to another slot does not pass for it. */
    uint8_t *bytes = image(5, 100);
    char msg[128];
    assert_int_equal(snapshot_write(DIR, memio_io(m), 5, bytes, 100, NULL, msg, sizeof(msg)), 0);
    free(bytes);
    assert_int_equal(memio_io(m)->rename(memio_io(m)->ctx, DIR "/snap-00000000000000000005.snap",
                                         DIR "/snap-00000000000000000009.snap"),
                     0);
    assert_int_equal(snapshot_read_latest(DIR, memio_io(m), &s, &report), BALLOT_ECORRUPT);
    assert_non_null(strstr(report.message, "names slot 5"));
}

typedef struct fault_once {
    memio_op_t op;
    int err;
    bool fired;
} fault_once_t;

static int fail_once(void *ctx, memio_op_t op, const char *path, uint64_t offset, size_t size,
                     size_t *torn)
{
    (void)path;
    (void)offset;
    fault_once_t *f = ctx;
    if (f->fired || op != f->op) {
        return 0;
    }
    f->fired = true;
    *torn = size / 2u;
    return f->err;
}

static void failed_write_leaves_older_snapshots(void **state)
{
    memio_t *m = *state;
    write_image(m, 5, 1000, NULL);
    const memio_op_t ops[] = {MEMIO_OP_OPEN, MEMIO_OP_PWRITE, MEMIO_OP_FDATASYNC, MEMIO_OP_RENAME,
                              MEMIO_OP_FSYNC_DIR};
    const int errs[] = {ENOSPC, EIO};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        for (size_t e = 0; e < 2; e++) {
            fault_once_t f = {.op = ops[i], .err = errs[e]};
            memio_set_fault(m, fail_once, &f);
            uint8_t *bytes = image(9, 1000);
            char msg[256];
            int rc = snapshot_write(DIR, memio_io(m), 9, bytes, 1000, NULL, msg, sizeof(msg));
            free(bytes);
            memio_set_fault(m, NULL, NULL);
            assert_true(f.fired);
            assert_int_equal(rc, errs[e] == ENOSPC ? BALLOT_ENOSPC : BALLOT_EIO);
            assert_non_null(strstr(msg, "snap-"));
            /* The new name was never made durable: a crash leaves the older snapshot. */
            memio_crash(m, 3);
            expect_latest(m, 5, 1000, 0);
            write_image(m, 5, 1000, NULL); /* back to one good snapshot */
            memio_io(m)->unlink(memio_io(m)->ctx, DIR "/snap-00000000000000000009.snap");
            memio_io(m)->fsync_dir(memio_io(m)->ctx, DIR);
        }
    }
}

static void parse_in_memory_image(void **state)
{
    memio_t *m = *state;
    write_image(m, 12, 5000, NULL);
    uint8_t *file = NULL;
    size_t size = 0;
    assert_int_equal(memio_get(m, DIR "/snap-00000000000000000012.snap", &file, &size), 0);
    snapshot_t s;
    char msg[256];
    assert_int_equal(snapshot_parse(file, size, &s, msg, sizeof(msg)), BALLOT_OK);
    assert_int_equal(s.slot, 12);
    assert_int_equal(s.size, 5000);
    assert_ptr_equal(s.bytes, file + SNAPSHOT_HEADER_BYTES);
    assert_int_equal(snapshot_parse(file, size - 1u, &s, msg, sizeof(msg)), BALLOT_ECORRUPT);
    assert_non_null(strstr(msg, "cut at"));
    assert_int_equal(snapshot_parse(file, 10, &s, msg, sizeof(msg)), BALLOT_ECORRUPT);
    free(file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip_and_pruning, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_newest_falls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(all_corrupt_is_ecorrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_write_leaves_older_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(parse_in_memory_image, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
