/* libFuzzer target for the state machine's untrusted inputs: command bytes (from the log)
 * and snapshots (from disk or a peer). Input: one mode byte, then bytes.
 *   mode 0: raw commands: records (u8 client, u8 sequence, u16 length, bytes);
 *   mode 1: structured commands: each 4 bytes pick an op, a key, a value, a client;
 *   mode 2: a snapshot as it is; mode 3: a snapshot with its checksum resealed.
 * Checked: no crash or out-of-bounds access; a command that decodes re-encodes to the same
 * bytes; two stores with different hash seeds given the same commands answer alike (but
 * for the order of KEYS, SCAN and RANDOMKEY, which follows each node's table) and write
 * identical snapshots; a snapshot restores to a state that writes the same snapshot again. Small
 * limits so the fuzzer meets them (eviction, key limit, sizes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "base/endian.h"
#include "core/check.h"
#include "kv/kv.h"

#define FUZZ_COMMANDS_MAX 2048u
#define FUZZ_SNAPSHOT_MAX ((size_t)1 << 22)

typedef struct grow {
    uint8_t *bytes;
    size_t size;
} grow_t;

static int collect(void *ctx, const void *bytes, size_t size)
{
    grow_t *g = ctx;
    uint8_t *more = realloc(g->bytes, g->size + size);
    if (more == NULL) {
        abort();
    }
    memcpy(more + g->size, bytes, size);
    g->bytes = more;
    g->size += size;
    return BALLOT_OK;
}

static grow_t snapshot_of(const kv_t *kv)
{
    grow_t g = {NULL, 0};
    assert(kv_snapshot_write(kv, collect, &g) == BALLOT_OK);
    assert(g.size == kv_snapshot_bytes(kv));
    return g;
}

static kv_t *new_kv(uint64_t seed)
{
    kv_config_t config;
    kv_config_default(&config);
    config.key_bytes_max = 8;
    config.value_bytes_max = 48;
    config.clients_max = 4;
    config.keys_max = 16;
    config.hash_seed = seed;
    kv_t *kv = NULL;
    assert(kv_create(&kv, &config, NULL, 0) == BALLOT_OK);
    return kv;
}

/* Applies to both stores and checks they answer alike. */
static void apply_both(kv_t *a, kv_t *b, uint64_t client, uint64_t seq, const uint8_t *bytes,
                       uint32_t size)
{
    kv_result_t ra;
    kv_result_t rb;
    assert(kv_apply(a, client, seq, bytes, size, &ra) == BALLOT_OK);
    assert(kv_apply(b, client, seq, bytes, size, &rb) == BALLOT_OK);
    static kv_command_t cmd;
    bool decoded = kv_command_decode(bytes, size, kv_get_config(a), &cmd, NULL, 0) == BALLOT_OK;
    bool layout = decoded && (cmd.op == KV_KEYS || cmd.op == KV_SCAN || cmd.op == KV_RANDOMKEY ||
                              cmd.op == KV_EXEC);
    assert(ra.type == rb.type && ra.integer == rb.integer && ra.error == rb.error);
    assert(layout ||
           (ra.size == rb.size && (ra.size == 0 || memcmp(ra.bytes, rb.bytes, ra.size) == 0)));
    if (decoded) {
        static uint8_t again[COMMAND_BYTES_MAX];
        size_t written = 0;
        assert(kv_command_encode(&cmd, kv_get_config(a), again, sizeof(again), &written) ==
               BALLOT_OK);
        assert(written == size && memcmp(again, bytes, size) == 0);
    }
}

static void raw_commands(kv_t *a, kv_t *b, const uint8_t *data, size_t size)
{
    size_t at = 0;
    for (uint32_t n = 0; n < FUZZ_COMMANDS_MAX && size - at >= 4; n++) {
        uint64_t client = data[at];
        uint64_t seq = data[at + 1];
        size_t len = get_u16(data + at + 2);
        at += 4;
        len = len < size - at ? len : size - at;
        apply_both(a, b, client, seq, data + at, (uint32_t)len);
        at += len;
    }
}

static void structured_commands(kv_t *a, kv_t *b, const uint8_t *data, size_t size)
{
    static const char *const values[] = {"0",
                                         "1",
                                         "-1",
                                         "9223372036854775807",
                                         "abc",
                                         "",
                                         "0123456789012345678901234567890123456789abcdefghi"};
    uint64_t seq[8] = {0};
    for (size_t at = 0; at + 4 <= size && at / 4 < FUZZ_COMMANDS_MAX; at += 4) {
        kv_command_t cmd = {.op = (kv_op_t)(data[at] % KV_OP_MAX + 1u)};
        uint8_t key[2] = {'k', (uint8_t)('a' + data[at + 1] % 20u)};
        const char *v1 = values[data[at + 2] % 7u];
        const char *v2 = values[(data[at + 2] >> 4) % 7u];
        cmd.args[0] = (kv_slice_t){key, data[at + 1] >= 250 ? 0u : 2u};
        cmd.args[1] = (kv_slice_t){(const uint8_t *)v1, (uint32_t)strlen(v1)};
        cmd.args[2] = (kv_slice_t){(const uint8_t *)v2, (uint32_t)strlen(v2)};
        int arity = 0;
        int first = 0;
        int last = 0;
        int step = 0;
        kv_op_describe(cmd.op, &arity, &first, &last, &step);
        uint32_t want = (uint32_t)(arity > 0 ? arity - 1 : -arity - 1);
        cmd.arg_count = want > 3u ? 3u : want;
        uint8_t bytes[256];
        size_t written = 0;
        if (kv_command_encode(&cmd, NULL, bytes, sizeof(bytes), &written) != BALLOT_OK) {
            continue;
        }
        uint8_t client = data[at + 3] % 8u;
        /* Mostly new sequences, sometimes a retry or an old one. */
        seq[client] += (data[at + 3] >> 3) % 4u == 0 ? 0u : 1u;
        apply_both(a, b, client, seq[client], bytes, (uint32_t)written);
    }
}

static void check_snapshots(kv_t *a, kv_t *b)
{
    grow_t sa = snapshot_of(a);
    grow_t sb = snapshot_of(b);
    assert(sa.size == sb.size && memcmp(sa.bytes, sb.bytes, sa.size) == 0);
    kv_t *c = new_kv(7);
    assert(kv_snapshot_restore(c, sa.bytes, sa.size, NULL, 0) == BALLOT_OK);
    grow_t sc = snapshot_of(c);
    assert(sc.size == sa.size && memcmp(sc.bytes, sa.bytes, sa.size) == 0);
    free(sa.bytes);
    free(sb.bytes);
    free(sc.bytes);
    kv_free(c);
}

static void restore(const uint8_t *data, size_t size, bool reseal)
{
    if (size > FUZZ_SNAPSHOT_MAX) {
        return;
    }
    uint8_t *copy = malloc(size + 1);
    if (copy == NULL) {
        abort();
    }
    memcpy(copy, data, size);
    if (reseal && size >= 4) {
        put_u32(copy + size - 4, crc32c(copy, size - 4));
    }
    kv_t *kv = new_kv(1);
    char err[KV_ERROR_BYTES];
    if (kv_snapshot_restore(kv, copy, size, err, sizeof(err)) == BALLOT_OK) {
        grow_t once = snapshot_of(kv);
        kv_t *again = new_kv(2);
        assert(kv_snapshot_restore(again, once.bytes, once.size, err, sizeof(err)) == BALLOT_OK);
        grow_t twice = snapshot_of(again);
        assert(once.size == twice.size && memcmp(once.bytes, twice.bytes, once.size) == 0);
        free(once.bytes);
        free(twice.bytes);
        kv_free(again);
    } else {
        assert(kv_key_count(kv) == 0);
    }
    kv_free(kv);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    uint8_t mode = data[0] % 4u;
    if (mode >= 2) {
        restore(data + 1, size - 1, mode == 3);
        return 0;
    }
    kv_t *a = new_kv(1);
    kv_t *b = new_kv(0xfeedfacecafebeefull);
    if (mode == 0) {
        raw_commands(a, b, data + 1, size - 1);
    } else {
        structured_commands(a, b, data + 1, size - 1);
    }
    check_snapshots(a, b);
    kv_free(a);
    kv_free(b);
    return 0;
}
