/* The group committer: several submitting threads, one fdatasync per round, durable seqs
 * reported in order; fatal EIO, retried ENOSPC, a full queue, compaction. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "test_util.h"

#define DIR       "/data"
#define VALUE_MAX 300u
#define THREADS   4u

typedef struct harness {
    memio_t *memio;
    wal_t *wal;
    wal_committer_t *committer;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    uint64_t next_seq; /* guarded by lock: seqs are taken and submitted in one step */
    uint64_t durable;
    uint64_t rounds;
    int error;
    uint32_t enospc_reports;
    char message[WAL_MESSAGE_BYTES];
    /* Fault controls, read on the storage thread. */
    atomic_bool disk_full;
    atomic_bool fail_sync;
    atomic_bool hold_sync;
    atomic_bool sync_entered;
} harness_t;

static int harness_fault(void *ctx, memio_op_t op, const char *path, uint64_t offset, size_t size,
                         size_t *torn)
{
    (void)path;
    (void)offset;
    (void)size;
    (void)torn;
    harness_t *h = ctx;
    if (op == MEMIO_OP_PWRITE && atomic_load(&h->disk_full)) {
        return ENOSPC;
    }
    if (op == MEMIO_OP_FDATASYNC) {
        atomic_store(&h->sync_entered, true);
        while (atomic_load(&h->hold_sync)) {
            struct timespec t = {.tv_nsec = 1000000};
            nanosleep(&t, NULL);
        }
        if (atomic_load(&h->fail_sync)) {
            return EIO;
        }
    }
    return 0;
}

static void on_durable(void *ctx, uint64_t durable_seq)
{
    harness_t *h = ctx;
    pthread_mutex_lock(&h->lock);
    assert_true(durable_seq > h->durable); /* strictly increasing */
    h->durable = durable_seq;
    h->rounds++;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
}

static void on_error(void *ctx, int err, const char *message)
{
    harness_t *h = ctx;
    pthread_mutex_lock(&h->lock);
    h->error = err;
    h->enospc_reports += err == BALLOT_ENOSPC ? 1u : 0u;
    snprintf(h->message, sizeof(h->message), "%s", message);
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
}

static void start(harness_t *h, size_t buffer_bytes_max)
{
    memset(h, 0, sizeof(*h));
    h->memio = memio_create();
    memio_set_fault(h->memio, harness_fault, h);
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->changed, NULL);
    wal_options_t options;
    wal_options_default(&options);
    options.segment_bytes = WAL_SEGMENT_BYTES_MIN;
    options.buffer_bytes_max = buffer_bytes_max;
    wal_report_t report;
    assert_int_equal(wal_open(DIR, memio_io(h->memio), &options, &h->wal, NULL, NULL, &report),
                     BALLOT_OK);
    wal_committer_callbacks_t callbacks = {.ctx = h, .durable = on_durable, .error = on_error};
    assert_int_equal(wal_committer_start(&h->committer, h->wal, &callbacks), BALLOT_OK);
}

/* After a simulated power loss, the log must hold exactly seqs 1..last. */
static void check_log(harness_t *h, uint64_t last)
{
    wal_close(h->wal);
    memio_set_fault(h->memio, NULL, NULL);
    memio_crash(h->memio, 0);
    wal_options_t options;
    wal_options_default(&options);
    collected_t c = {0};
    wal_report_t report;
    wal_t *wal = NULL;
    assert_int_equal(wal_open(DIR, memio_io(h->memio), &options, &wal, test_collect, &c, &report),
                     BALLOT_OK);
    assert_int_equal(test_check_sequence(&c, 1, last, VALUE_MAX), (long)last);
    wal_close(wal);
    test_collected_free(&c);
    memio_destroy(h->memio);
    pthread_cond_destroy(&h->changed);
    pthread_mutex_destroy(&h->lock);
}

static void stop_and_check(harness_t *h, uint64_t last)
{
    wal_committer_stop(h->committer);
    check_log(h, last);
}

static int submit_next(harness_t *h, uint64_t *seq_out)
{
    pthread_mutex_lock(&h->lock);
    uint64_t seq = h->next_seq + 1u;
    persist_record_t r = test_record(seq, VALUE_MAX);
    int rc = wal_committer_submit(h->committer, &r, 1);
    test_record_free(&r);
    h->next_seq = rc == BALLOT_OK ? seq : h->next_seq;
    pthread_mutex_unlock(&h->lock);
    *seq_out = seq;
    return rc;
}

static void wait_durable(harness_t *h, uint64_t seq)
{
    pthread_mutex_lock(&h->lock);
    while (h->durable < seq) {
        pthread_cond_wait(&h->changed, &h->lock);
    }
    pthread_mutex_unlock(&h->lock);
}

static uint32_t records_per_thread(void)
{
    return test_sanitized() ? 100u : 400u;
}

static void *appender(void *arg)
{
    harness_t *h = arg;
    for (uint32_t i = 0; i < records_per_thread(); i++) {
        uint64_t seq = 0;
        assert_int_equal(submit_next(h, &seq), BALLOT_OK);
        wait_durable(h, seq); /* an acceptor waits for its record before replying */
    }
    return NULL;
}

static void threads_share_fdatasyncs(void **state)
{
    (void)state;
    harness_t h;
    start(&h, WAL_BUFFER_BYTES_DEFAULT);
    pthread_t threads[THREADS];
    for (uint32_t i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, appender, &h), 0);
    }
    for (uint32_t i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    uint64_t total = (uint64_t)THREADS * records_per_thread();
    assert_int_equal(h.durable, total);
    assert_true(h.rounds <= total);
    print_message("%llu records in %llu sync rounds\n", (unsigned long long)total,
                  (unsigned long long)h.rounds);
    /* Seqs must grow across submits. */
    persist_record_t stale = test_record(3, VALUE_MAX);
    assert_int_equal(wal_committer_submit(h.committer, &stale, 1), BALLOT_EINVAL);
    test_record_free(&stale);
    stop_and_check(&h, total);
}

static void fdatasync_failure_is_reported_and_fatal(void **state)
{
    (void)state;
    harness_t h;
    start(&h, WAL_BUFFER_BYTES_DEFAULT);
    uint64_t seq = 0;
    assert_int_equal(submit_next(&h, &seq), BALLOT_OK);
    wait_durable(&h, 1);
    atomic_store(&h.fail_sync, true);
    assert_int_equal(submit_next(&h, &seq), BALLOT_OK);
    pthread_mutex_lock(&h.lock);
    while (h.error == 0) {
        pthread_cond_wait(&h.changed, &h.lock);
    }
    pthread_mutex_unlock(&h.lock);
    assert_int_equal(h.error, BALLOT_EIO);
    assert_non_null(strstr(h.message, "fdatasync"));
    assert_int_equal(h.durable, 1);
    assert_int_equal(submit_next(&h, &seq), BALLOT_EIO);
    assert_int_equal(wal_committer_compact(h.committer, 1), BALLOT_EIO);
    wal_committer_stop(h.committer);
    assert_true(wal_failed(h.wal));
    check_log(&h, 1);
}

static void disk_full_is_retried(void **state)
{
    (void)state;
    harness_t h;
    start(&h, WAL_BUFFER_BYTES_DEFAULT);
    atomic_store(&h.disk_full, true);
    uint64_t seq = 0;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(submit_next(&h, &seq), BALLOT_OK);
    }
    pthread_mutex_lock(&h.lock);
    while (h.error == 0) {
        pthread_cond_wait(&h.changed, &h.lock);
    }
    assert_int_equal(h.error, BALLOT_ENOSPC);
    assert_int_equal(h.durable, 0);
    pthread_mutex_unlock(&h.lock);
    assert_int_equal(submit_next(&h, &seq), BALLOT_OK); /* queued behind the full disk */
    atomic_store(&h.disk_full, false);
    wait_durable(&h, 6);
    assert_int_equal(h.enospc_reports, 1);
    stop_and_check(&h, 6);
}

static void full_queue_refuses_with_ebusy(void **state)
{
    (void)state;
    harness_t h;
    start(&h, WAL_BUFFER_BYTES_MIN);
    atomic_store(&h.hold_sync, true);
    uint64_t seq = 0;
    assert_int_equal(submit_next(&h, &seq), BALLOT_OK);
    while (!atomic_load(&h.sync_entered)) {
        struct timespec t = {.tv_nsec = 1000000};
        nanosleep(&t, NULL);
    }
    /* The storage thread is inside fdatasync; fill the queue behind it. */
    uint8_t *bytes = calloc(1, 1u << 20);
    int rc = BALLOT_OK;
    uint64_t queued = 1;
    for (int i = 0; i < 100 && rc == BALLOT_OK; i++) {
        pthread_mutex_lock(&h.lock);
        persist_record_t r = {.kind = PERSIST_LEARN,
                              .seq = h.next_seq + 1u,
                              .slot = 1,
                              .value = {.kind = VALUE_BATCH, .size = 1u << 20, .bytes = bytes}};
        rc = wal_committer_submit(h.committer, &r, 1);
        h.next_seq += rc == BALLOT_OK ? 1u : 0u;
        queued = h.next_seq;
        pthread_mutex_unlock(&h.lock);
    }
    assert_int_equal(rc, BALLOT_EBUSY);
    assert_true(queued > 2);
    atomic_store(&h.hold_sync, false);
    wait_durable(&h, queued);
    free(bytes);
    wal_committer_stop(h.committer);
    wal_close(h.wal);
    memio_destroy(h.memio);
    pthread_cond_destroy(&h.changed);
    pthread_mutex_destroy(&h.lock);
}

static void compaction_runs_on_the_storage_thread(void **state)
{
    (void)state;
    harness_t h;
    start(&h, WAL_BUFFER_BYTES_DEFAULT);
    uint64_t seq = 0;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(submit_next(&h, &seq), BALLOT_OK);
        wait_durable(&h, seq);
    }
    assert_int_equal(wal_committer_compact(h.committer, 150), BALLOT_OK);
    wal_committer_stop(h.committer);
    wal_close(h.wal);
    wal_options_t options;
    wal_options_default(&options);
    collected_t c = {0};
    wal_report_t report;
    assert_int_equal(wal_open(DIR, memio_io(h.memio), &options, &h.wal, test_collect, &c, &report),
                     BALLOT_OK);
    assert_true(report.first_lsn > 1);
    assert_int_equal(c.records[c.count - 1].seq, 200);
    wal_close(h.wal);
    test_collected_free(&c);
    memio_destroy(h.memio);
    pthread_cond_destroy(&h.changed);
    pthread_mutex_destroy(&h.lock);
}

/* Once the log goes idle, the storage thread records the last round's end as synced
 * (WAL_COMMITTER_SEAL_DELAY_MS later), so damage to that round is found as corruption. */
static void idle_log_records_its_synced_end(void **state)
{
    (void)state;
    harness_t h;
    start(&h, WAL_BUFFER_BYTES_DEFAULT);
    uint64_t seq = 0;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(submit_next(&h, &seq), BALLOT_OK);
        wait_durable(&h, seq);
    }
    struct timespec idle = {.tv_nsec = (long)WAL_COMMITTER_SEAL_DELAY_MS * 10L * 1000000L};
    nanosleep(&idle, NULL);
    wal_committer_stop(h.committer);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert_int_equal(memio_get(h.memio, DIR "/wal-00000000000000000001.log", &bytes, &size), 0);
    assert_int_equal(wal_segment_unprotected_from(bytes, size), size);
    free(bytes);
    check_log(&h, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(threads_share_fdatasyncs),
        cmocka_unit_test(fdatasync_failure_is_reported_and_fatal),
        cmocka_unit_test(disk_full_is_retried),
        cmocka_unit_test(full_queue_refuses_with_ebusy),
        cmocka_unit_test(compaction_runs_on_the_storage_thread),
        cmocka_unit_test(idle_log_records_its_synced_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
