/* ballot-bench-wal: group commit throughput and latency of the WAL on this machine's disk.
 *
 *   ballot-bench-wal [--seconds S] [DIR]     (DIR defaults to ./bench-wal-data)
 *
 * Prints its method, then one line per configuration. Figures only; nothing is asserted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage.h"

#define RECORD_VALUE_BYTES 256u
#define APPENDERS_MAX      256u
#define SAMPLES_MAX        ((size_t)4u * 1024u * 1024u) /* latency samples kept per configuration */
#define DIR_BYTES          1024u

typedef struct bench {
    char dir[DIR_BYTES];
    double seconds;
    /* The POSIX backend, with fdatasync counted. */
    storage_io_t io;
    atomic_uint_fast64_t fdatasyncs;
    /* Per configuration. */
    wal_committer_t *committer;
    pthread_mutex_t lock;
    pthread_cond_t durable_changed;
    uint64_t next_seq;
    uint64_t durable;
    atomic_bool stop;
    uint64_t *samples_ns;
    atomic_size_t sample_count;
    uint8_t value[RECORD_VALUE_BYTES];
} bench_t;

static bench_t *the_bench;

static int counting_fdatasync(void *ctx, int fd)
{
    (void)ctx;
    atomic_fetch_add(&the_bench->fdatasyncs, 1);
    return storage_io_posix()->fdatasync(NULL, fd);
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Removes what the bench writes: wal-*.log files and raw.dat. */
static void clean_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (strncmp(e->d_name, "wal-", 4) == 0 || strcmp(e->d_name, "raw.dat") == 0) {
            unlinkat(dirfd(d), e->d_name, 0);
        }
    }
    closedir(d);
}

static void record_sample(bench_t *b, uint64_t ns)
{
    size_t i = atomic_fetch_add(&b->sample_count, 1);
    if (i < SAMPLES_MAX) {
        b->samples_ns[i] = ns;
    }
}

static int compare_u64(const void *a, const void *c)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)c;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static void report(bench_t *b, const char *name, uint64_t records, double elapsed, uint64_t syncs)
{
    size_t n = atomic_load(&b->sample_count);
    n = n < SAMPLES_MAX ? n : SAMPLES_MAX;
    qsort(b->samples_ns, n, sizeof(uint64_t), compare_u64);
    double p50 = n > 0 ? (double)b->samples_ns[n / 2u] / 1000.0 : 0;
    double p99 = n > 0 ? (double)b->samples_ns[(n * 99u) / 100u] / 1000.0 : 0;
    printf("%-34s %12.0f %12.0f %10.1f %10.0f %10.0f\n", name, (double)records / elapsed,
           (double)syncs / elapsed, syncs > 0 ? (double)records / (double)syncs : 0, p50, p99);
    fflush(stdout);
}

/* Raw disk: pwrite of one 308-byte record, then fdatasync, on a plain preallocated-by-
 * append file, no WAL code at all. */
static void bench_raw_disk(bench_t *b)
{
    char path[DIR_BYTES + 16];
    snprintf(path, sizeof(path), "%s/raw.dat", b->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    uint8_t frame[WAL_FRAME_HEADER_BYTES + WAL_PAYLOAD_FIXED_BYTES + RECORD_VALUE_BYTES] = {0};
    atomic_store(&b->sample_count, 0);
    uint64_t start = now_ns();
    uint64_t end = start + (uint64_t)(b->seconds * 1e9);
    uint64_t count = 0;
    for (uint64_t t = start; t < end; t = now_ns()) {
        if (pwrite(fd, frame, sizeof(frame), (off_t)(count * sizeof(frame))) < 0 ||
            fdatasync(fd) != 0) {
            perror("raw pwrite/fdatasync");
            exit(1);
        }
        record_sample(b, now_ns() - t);
        count++;
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    report(b, "raw pwrite+fdatasync (1 writer)", count, elapsed, count);
    close(fd);
    clean_dir(b->dir);
}

static wal_t *open_fresh(bench_t *b)
{
    clean_dir(b->dir);
    wal_options_t options;
    wal_options_default(&options);
    wal_t *wal = NULL;
    wal_report_t wal_report;
    if (wal_open(b->dir, &b->io, &options, &wal, NULL, NULL, &wal_report) != BALLOT_OK) {
        fprintf(stderr, "%s\n", wal_report.message);
        exit(1);
    }
    return wal;
}

static persist_record_t bench_record(bench_t *b, uint64_t seq)
{
    return (persist_record_t){
        .kind = PERSIST_ACCEPT,
        .seq = seq,
        .slot = seq,
        .ballot = {.round = 1, .node = 1},
        .value = {.kind = VALUE_BATCH, .size = RECORD_VALUE_BYTES, .bytes = b->value}};
}

/* The WAL alone, one record per wal_sync: the floor group commit starts from. */
static void bench_wal_direct(bench_t *b)
{
    wal_t *wal = open_fresh(b);
    atomic_store(&b->sample_count, 0);
    atomic_store(&b->fdatasyncs, 0);
    uint64_t start = now_ns();
    uint64_t end = start + (uint64_t)(b->seconds * 1e9);
    uint64_t seq = 0;
    for (uint64_t t = start; t < end; t = now_ns()) {
        persist_record_t r = bench_record(b, ++seq);
        if (wal_append(wal, &r) != BALLOT_OK || wal_sync(wal) != BALLOT_OK) {
            fprintf(stderr, "%s\n", wal_error(wal));
            exit(1);
        }
        record_sample(b, now_ns() - t);
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    report(b, "wal_append+wal_sync (1 writer)", seq, elapsed, atomic_load(&b->fdatasyncs));
    wal_close(wal);
}

static void on_durable(void *ctx, uint64_t durable_seq)
{
    bench_t *b = ctx;
    pthread_mutex_lock(&b->lock);
    b->durable = durable_seq;
    pthread_cond_broadcast(&b->durable_changed);
    pthread_mutex_unlock(&b->lock);
}

static void on_error(void *ctx, int err, const char *message)
{
    (void)ctx;
    fprintf(stderr, "storage error %d: %s\n", err, message);
    exit(1);
}

/* One appender: submit a record, wait until it is durable, repeat (an acceptor cannot
 * answer before its record is durable, so each appender has one record in flight). */
static void *appender(void *arg)
{
    bench_t *b = arg;
    while (!atomic_load(&b->stop)) {
        uint64_t t = now_ns();
        pthread_mutex_lock(&b->lock);
        uint64_t seq = ++b->next_seq;
        persist_record_t r = bench_record(b, seq);
        int rc = wal_committer_submit(b->committer, &r, 1);
        if (rc != BALLOT_OK) {
            fprintf(stderr, "submit: %d\n", rc);
            exit(1);
        }
        while (b->durable < seq) {
            pthread_cond_wait(&b->durable_changed, &b->lock);
        }
        pthread_mutex_unlock(&b->lock);
        record_sample(b, now_ns() - t);
    }
    return NULL;
}

static void bench_committer(bench_t *b, uint32_t appenders)
{
    wal_t *wal = open_fresh(b);
    b->next_seq = 0;
    b->durable = 0;
    atomic_store(&b->stop, false);
    atomic_store(&b->sample_count, 0);
    wal_committer_callbacks_t callbacks = {.ctx = b, .durable = on_durable, .error = on_error};
    if (wal_committer_start(&b->committer, wal, &callbacks) != BALLOT_OK) {
        fprintf(stderr, "committer start failed\n");
        exit(1);
    }
    atomic_store(&b->fdatasyncs, 0);
    pthread_t threads[APPENDERS_MAX];
    uint64_t start = now_ns();
    for (uint32_t i = 0; i < appenders; i++) {
        if (pthread_create(&threads[i], NULL, appender, b) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            exit(1);
        }
    }
    struct timespec sleep_for = {.tv_sec = (time_t)b->seconds,
                                 .tv_nsec =
                                     (long)((b->seconds - (double)(time_t)b->seconds) * 1e9)};
    nanosleep(&sleep_for, NULL);
    atomic_store(&b->stop, true);
    for (uint32_t i = 0; i < appenders; i++) {
        pthread_join(threads[i], NULL);
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    uint64_t syncs = atomic_load(&b->fdatasyncs);
    wal_committer_stop(b->committer);
    char name[64];
    snprintf(name, sizeof(name), "group commit, %u appender%s", appenders,
             appenders == 1 ? "" : "s");
    report(b, name, atomic_load(&b->sample_count), elapsed, syncs);
    wal_close(wal);
}

static void print_method(const bench_t *b)
{
    printf("ballot-bench-wal: WAL group commit on %s\n", b->dir);
    printf("method: each configuration runs %.1f s on a fresh WAL (POSIX backend, 64 MiB\n"
           "segments). A record is an ACCEPT with a %u-byte value (%u bytes framed). An\n"
           "appender thread submits one record to the group committer and waits until the\n"
           "durable callback covers it (one record in flight per appender, as an acceptor\n"
           "waits before replying); latency = submit to durable. fdatasync calls are counted\n"
           "in the I/O backend. The first lines measure the same disk with one writer and one\n"
           "record per fdatasync: raw pwrite+fdatasync (no WAL code), then the WAL itself.\n\n",
           b->seconds, RECORD_VALUE_BYTES,
           WAL_FRAME_HEADER_BYTES + WAL_PAYLOAD_FIXED_BYTES + RECORD_VALUE_BYTES);
    printf("%-34s %12s %12s %10s %10s %10s\n", "configuration", "records/s", "fdatasync/s",
           "rec/sync", "p50 us", "p99 us");
}

int main(int argc, char **argv)
{
    static bench_t bench;
    bench_t *b = &bench;
    the_bench = b;
    b->seconds = 3.0;
    snprintf(b->dir, sizeof(b->dir), "bench-wal-data");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            b->seconds = strtod(argv[++i], NULL);
        } else {
            snprintf(b->dir, sizeof(b->dir), "%s", argv[i]);
        }
    }
    if (b->seconds <= 0 || b->seconds > 3600) {
        fprintf(stderr, "usage: %s [--seconds S] [DIR]\n", argv[0]);
        return 2;
    }
    if (mkdir(b->dir, 0755) != 0 && errno != EEXIST) {
        perror(b->dir);
        return 1;
    }
    b->io = *storage_io_posix();
    b->io.fdatasync = counting_fdatasync;
    b->samples_ns = malloc(SAMPLES_MAX * sizeof(uint64_t));
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->durable_changed, NULL);
    memset(b->value, 0x5a, sizeof(b->value));
    print_method(b);
    bench_raw_disk(b);
    bench_wal_direct(b);
    const uint32_t appenders[] = {1, 16, 256};
    for (size_t i = 0; i < sizeof(appenders) / sizeof(appenders[0]); i++) {
        bench_committer(b, appenders[i]);
    }
    clean_dir(b->dir);
    free(b->samples_ns);
    return 0;
}
