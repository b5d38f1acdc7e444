/* kill -9 at random moments: a helper (crash_writer.c) appends and syncs records on the
 * real file system and says which are acknowledged; after each kill the WAL is recovered
 * here and must hold every acknowledged record, nothing that was never written, and no
 * record that is not exactly what the writer made. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#define VALUE_MAX        2000u /* as crash_writer.c */
#define OUTPUT_BYTES_MAX (1u << 20)

static const char *writer_path;
static const char *base_dir;

typedef struct observed {
    uint64_t written;   /* no seq above this can be in the log */
    uint64_t acked;     /* every seq up to this must be in the log */
    uint64_t compacted; /* highest slot compaction may have removed */
} observed_t;

typedef struct checker {
    uint64_t first;
    uint64_t last;
    bool bad;
} checker_t;

static int check_record(void *ctx, const persist_record_t *record)
{
    checker_t *k = ctx;
    if (record->seq == 0) {
        return 0; /* a carried promise */
    }
    persist_record_t want = test_record(record->seq, VALUE_MAX);
    bool same = test_record_equal(record, &want);
    test_record_free(&want);
    if (!same || (k->last != 0 && record->seq != k->last + 1u)) {
        k->bad = true;
    }
    k->first = k->first == 0 ? record->seq : k->first;
    k->last = record->seq;
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static void parse_lines(char *text, observed_t *o)
{
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        uint64_t n = 0;
        char kind = 0;
        if (sscanf(line, "%c %" SCNu64, &kind, &n) != 2) {
            continue;
        }
        if (kind == 'w' && n > o->written) {
            o->written = n;
        } else if (kind == 'd' && n > o->acked) {
            o->acked = n;
        } else if (kind == 'c' && n > o->compacted) {
            o->compacted = n;
        }
    }
}

/* Runs the writer for delay_ms, kills it with SIGKILL, and parses what it said. */
static void run_and_kill(const char *dir, uint64_t seed, uint64_t delay_ms, observed_t *o)
{
    int pipe_fds[2];
    assert_int_equal(pipe(pipe_fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipe_fds[1], 1);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        char seed_text[32];
        snprintf(seed_text, sizeof(seed_text), "%" PRIu64, seed);
        execl(writer_path, writer_path, dir, seed_text, (char *)NULL);
        _exit(127);
    }
    close(pipe_fds[1]);
    char *text = malloc(OUTPUT_BYTES_MAX + 1u);
    size_t used = 0;
    uint64_t deadline = now_ms() + delay_ms;
    bool killed = false;
    for (;;) {
        uint64_t now = now_ms();
        if (!killed && now >= deadline) {
            kill(pid, SIGKILL);
            killed = true;
        }
        struct pollfd p = {.fd = pipe_fds[0], .events = POLLIN};
        int timeout = killed ? 1000 : (int)(deadline - now);
        if (poll(&p, 1, timeout) <= 0) {
            continue;
        }
        char chunk[4096];
        ssize_t n = read(pipe_fds[0], chunk, sizeof(chunk));
        if (n <= 0) {
            break; /* the writer is gone (killed or failed) */
        }
        if (used + (size_t)n > OUTPUT_BYTES_MAX) {
            used = 0; /* keep the newest lines only; maxima are kept in o */
        }
        memcpy(text + used, chunk, (size_t)n);
        used += (size_t)n;
        text[used] = '\0';
        char *cut = strrchr(text, '\n');
        if (cut != NULL && used > OUTPUT_BYTES_MAX / 2u) {
            *cut = '\0';
            parse_lines(text, o);
            used = 0;
        }
    }
    close(pipe_fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!killed || !WIFSIGNALED(status)) {
        fail_msg("writer exited by itself (status %d)", status);
    }
    text[used] = '\0';
    parse_lines(text, o);
    free(text);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        char path[1024];
        if (e->d_name[0] != '.' && snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) > 0) {
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

/* BALLOT_SEED=N reproduces a run's kill moments (the seed is printed). */
static void kill_minus_nine_at_random_moments(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/crash-XXXXXX", base_dir);
    assert_non_null(mkdtemp(dir));
    int rounds = test_sanitized() ? 8 : 30;
    const char *seed_text = getenv("BALLOT_SEED");
    uint64_t rng = seed_text != NULL ? strtoull(seed_text, NULL, 10) : (uint64_t)time(NULL);
    print_message("seed %" PRIu64 ", %d rounds in %s\n", rng, rounds, dir);
    observed_t o = {0};
    uint64_t torn = 0;
    for (int round = 0; round < rounds; round++) {
        run_and_kill(dir, test_rng(&rng), 5u + test_rng(&rng) % 60u, &o);
        checker_t k = {0};
        wal_options_t options;
        wal_options_default(&options);
        wal_t *wal = NULL;
        wal_report_t report;
        int rc = wal_open(dir, storage_io_posix(), &options, &wal, check_record, &k, &report);
        if (rc != BALLOT_OK) {
            fail_msg("round %d: recovery failed: %s", round, report.message);
        }
        torn += report.truncated ? 1u : 0u;
        assert_false(k.bad);
        assert_true(k.last >= o.acked);
        assert_true(k.last <= o.written || (k.last == 0 && o.written == 0));
        assert_true(k.first <= (o.compacted == 0 ? 1u : o.compacted + 7u));
        wal_close(wal);
        o.written = k.last; /* the next writer continues from what was recovered */
        o.acked = k.last;
    }
    print_message("last seq %" PRIu64 ", %" PRIu64 " torn tails cut\n", o.acked, torn);
    remove_dir(dir);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s WRITER BASE_DIR\n", argv[0]);
        return 2;
    }
    writer_path = argv[1];
    base_dir = argv[2];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kill_minus_nine_at_random_moments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
