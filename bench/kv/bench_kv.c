/* Loads the memory target (1,000,000 keys of 16 bytes with 100-byte values) into
 * the state machine through batches as the log delivers them, then prints resident memory
 * (from /proc/self/statm) and throughput of apply, local reads, snapshot and restore.
 * Prints figures only; asserts nothing about time. Usage: ballot-bench-kv [keys] */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kv/kv.h"

#define BENCH_KEY_BYTES   16u
#define BENCH_VALUE_BYTES 100u
#define BENCH_CLIENTS     64u
#define BENCH_BATCH       BATCH_COMMANDS_MAX
#define BENCH_COMMAND_MAX 256u

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0;
    unsigned long resident = 0;
    if (f == NULL || fscanf(f, "%lu %lu", &size, &resident) != 2) {
        if (f != NULL) {
            fclose(f);
        }
        return -1.0;
    }
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static void make_key(uint8_t *key, uint64_t i)
{
    /* "key:" and 12 decimal digits, the low ones of i. */
    memcpy(key, "key:", 4);
    for (int d = (int)BENCH_KEY_BYTES - 1; d >= 4; d--) {
        key[d] = (uint8_t)('0' + (int)(i % 10u));
        i /= 10u;
    }
}

/* Encodes SET key(i) value into out; returns its size. */
static uint32_t encode_set(uint8_t *out, uint64_t i)
{
    uint8_t key[BENCH_KEY_BYTES];
    uint8_t value[BENCH_VALUE_BYTES];
    make_key(key, i);
    memset(value, 'a' + (int)(i % 26), sizeof(value));
    kv_command_t cmd = {.op = KV_SET, .arg_count = 2};
    cmd.args[0] = (kv_slice_t){key, sizeof(key)};
    cmd.args[1] = (kv_slice_t){value, sizeof(value)};
    size_t written = 0;
    if (kv_command_encode(&cmd, NULL, out, BENCH_COMMAND_MAX, &written) != BALLOT_OK) {
        fprintf(stderr, "encode failed\n");
        exit(1);
    }
    return (uint32_t)written;
}

/* Applies SETs of keys [0, keys) in batches of BENCH_BATCH; returns seconds spent in
 * kv_apply_batch (encoding excluded). */
static double load(kv_t *kv, uint64_t keys)
{
    static uint8_t bytes[BENCH_BATCH][BENCH_COMMAND_MAX];
    command_t commands[BENCH_BATCH];
    /* Sequences go on across calls, so a second load overwrites instead of retrying. */
    static uint64_t sequence[BENCH_CLIENTS];
    double spent = 0;
    for (uint64_t first = 0; first < keys; first += BENCH_BATCH) {
        uint32_t count = (uint32_t)(keys - first < BENCH_BATCH ? keys - first : BENCH_BATCH);
        for (uint32_t j = 0; j < count; j++) {
            uint64_t i = first + j;
            uint32_t client = (uint32_t)(i % BENCH_CLIENTS);
            commands[j] =
                (command_t){client + 1u, ++sequence[client], encode_set(bytes[j], i), bytes[j]};
        }
        value_t batch;
        if (!batch_encode(&batch, commands, count)) {
            fprintf(stderr, "batch_encode failed\n");
            exit(1);
        }
        double t0 = now_s();
        int rc = kv_apply_batch(kv, &batch, NULL, NULL, NULL);
        spent += now_s() - t0;
        value_free(&batch);
        if (rc != BALLOT_OK) {
            fprintf(stderr, "apply failed: %s\n", ballot_strerror(rc));
            exit(1);
        }
    }
    return spent;
}

static int count_bytes(void *ctx, const void *bytes, size_t size)
{
    (void)bytes;
    *(uint64_t *)ctx += size;
    return BALLOT_OK;
}

typedef struct grow {
    uint8_t *bytes;
    size_t size;
} grow_t;

static int copy_bytes(void *ctx, const void *bytes, size_t size)
{
    grow_t *g = ctx;
    memcpy(g->bytes + g->size, bytes, size);
    g->size += size;
    return BALLOT_OK;
}

static void bench_snapshot(kv_t *kv)
{
    uint64_t total = 0;
    double t0 = now_s();
    kv_snapshot_write(kv, count_bytes, &total);
    double write_s = now_s() - t0;
    grow_t g = {malloc((size_t)kv_snapshot_bytes(kv)), 0};
    if (g.bytes == NULL) {
        return;
    }
    kv_snapshot_write(kv, copy_bytes, &g);
    kv_t *copy = NULL;
    char err[KV_ERROR_BYTES];
    kv_create(&copy, NULL, err, sizeof(err));
    t0 = now_s();
    int rc = kv_snapshot_restore(copy, g.bytes, g.size, err, sizeof(err));
    double restore_s = now_s() - t0;
    printf("snapshot: %.1f MB, write %.2f s (%.0f MB/s), restore %.2f s (%s)\n",
           (double)total / 1e6, write_s, (double)total / 1e6 / write_s, restore_s,
           rc == BALLOT_OK ? "ok" : err);
    kv_free(copy);
    free(g.bytes);
}

int main(int argc, char **argv)
{
    uint64_t keys = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000u;
    double rss_start = rss_mb();
    kv_t *kv = NULL;
    char err[KV_ERROR_BYTES];
    if (kv_create(&kv, NULL, err, sizeof(err)) != BALLOT_OK) {
        fprintf(stderr, "kv_create: %s\n", err);
        return 1;
    }
    double spent = load(kv, keys);
    double rss_loaded = rss_mb();
    printf("keys: %" PRIu64 " of %u-byte keys and %u-byte values, %u clients\n", kv_key_count(kv),
           BENCH_KEY_BYTES, BENCH_VALUE_BYTES, kv_client_count(kv));
    printf("rss: %.1f MB loaded (%.1f MB at start; kv's own estimate %.1f MB, %.1f B/key)\n",
           rss_loaded, rss_start, (double)kv_memory_bytes(kv) / (1024.0 * 1024.0),
           (double)kv_memory_bytes(kv) / (double)keys);
    printf("apply (SET, new keys, batches of %u): %.0f commands/s\n", BENCH_BATCH,
           (double)keys / spent);
    spent = load(kv, keys); /* the same keys again: overwrites */
    printf("apply (SET, overwrite): %.0f commands/s\n", (double)keys / spent);
    uint8_t key[BENCH_KEY_BYTES];
    double t0 = now_s();
    uint64_t found = 0;
    for (uint64_t i = 0; i < keys; i++) {
        make_key(key, (i * 7919u) % keys);
        kv_result_t r;
        kv_read(kv, KV_GET, key, sizeof(key), &r);
        found += r.type == KV_RESULT_BULK ? 1u : 0u;
    }
    printf("kv_read (GET, random order): %.0f reads/s (%" PRIu64 " found)\n",
           (double)keys / (now_s() - t0), found);
    bench_snapshot(kv);
    printf("rss at end: %.1f MB (after the snapshot test; freed memory stays with malloc)\n",
           rss_mb());
    kv_free(kv);
    return 0;
}
