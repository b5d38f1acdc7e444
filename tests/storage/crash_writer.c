/* Helper for test_crash: recovers the WAL in argv[1], then appends and syncs records under
 * load until killed, announcing on stdout
 *   "w N"  before a sync round whose last record is seq N (nothing above N is written yet)
 *   "d N"  after wal_sync returned: every seq <= N is durable (acknowledged)
 *   "c S"  before compacting at slot S
 * Records are test_record(seq), so the checker can tell a real one from garbage. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_util.h"

#define WRITER_ROUNDS_MAX    10000000u
#define WRITER_VALUE_MAX     2000u
#define WRITER_COMPACT_EVERY 50u
#define WRITER_KEEP_RECORDS  500u

static int note_seq(void *ctx, const persist_record_t *record)
{
    uint64_t *last = ctx;
    *last = record->seq > *last ? record->seq : *last;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DIR SEED\n", argv[0]);
        return 2;
    }
    uint64_t rng = strtoull(argv[2], NULL, 10);
    wal_options_t options;
    wal_options_default(&options);
    options.segment_bytes = 64u * 1024u;
    wal_t *wal = NULL;
    wal_report_t report;
    uint64_t last = 0;
    int rc = wal_open(argv[1], storage_io_posix(), &options, &wal, note_seq, &last, &report);
    if (rc != BALLOT_OK) {
        fprintf(stderr, "%s\n", report.message);
        return 3;
    }
    for (uint32_t round = 1; round < WRITER_ROUNDS_MAX; round++) {
        uint64_t count = 1u + test_rng(&rng) % 20u;
        for (uint64_t i = 0; i < count; i++) {
            persist_record_t r = test_record(++last, WRITER_VALUE_MAX);
            rc = wal_append(wal, &r);
            test_record_free(&r);
            if (rc != BALLOT_OK) {
                fprintf(stderr, "append: %s\n", wal_error(wal));
                return 4;
            }
        }
        printf("w %" PRIu64 "\n", last);
        fflush(stdout);
        rc = wal_sync(wal);
        if (rc != BALLOT_OK) {
            fprintf(stderr, "sync: %s\n", wal_error(wal));
            return 5;
        }
        printf("d %" PRIu64 "\n", last);
        fflush(stdout);
        if (round % WRITER_COMPACT_EVERY == 0 && last > WRITER_KEEP_RECORDS) {
            printf("c %" PRIu64 "\n", last - WRITER_KEEP_RECORDS);
            fflush(stdout);
            if (wal_compact(wal, last - WRITER_KEEP_RECORDS) != BALLOT_OK) {
                fprintf(stderr, "compact: %s\n", wal_error(wal));
                return 6;
            }
        }
    }
    wal_close(wal);
    return 0;
}
