#include "sim/statemachine.h"

#include "core/check.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"

#define SM_KEY_BYTES   8u
#define SM_VALUE_BYTES 16u

int sm_init(sm_t *sm, uint64_t hash_seed, const membership_t *founding, char *err, size_t err_bytes)
{
    memset(sm, 0, sizeof(*sm));
    config_state_init(&sm->cs, founding);
    kv_config_t config;
    kv_config_default(&config);
    config.hash_seed = hash_seed;
    return kv_create(&sm->kv, &config, err, err_bytes);
}

void sm_destroy(sm_t *sm)
{
    kv_free(sm->kv);
    for (uint32_t i = 0; i <= SM_CLIENTS_MAX; i++) {
        free(sm->applied[i].bits);
    }
    memset(sm, 0, sizeof(*sm));
}

static uint32_t sm_key_text(uint8_t key, char out[SM_KEY_BYTES + 1])
{
    assert(key < SM_KEYS_MAX);
    return (uint32_t)snprintf(out, SM_KEY_BYTES + 1, "key%02u", key);
}

static void sm_value_text(uint64_t value, char out[SM_VALUE_BYTES + 1])
{
    snprintf(out, SM_VALUE_BYTES + 1, "%016" PRIx64, value);
}

int sm_encode(const sim_command_t *cmd, uint8_t out[SM_COMMAND_BYTES_MAX], uint32_t *size)
{
    char key[SM_KEY_BYTES + 1], a1[SM_VALUE_BYTES + 1], a2[SM_VALUE_BYTES + 1];
    kv_command_t kc;
    memset(&kc, 0, sizeof(kc));
    kc.op = cmd->op;
    kc.args[0] = (kv_slice_t){.bytes = (const uint8_t *)key, .size = sm_key_text(cmd->key, key)};
    kc.arg_count = 1;
    sm_value_text(cmd->arg1, a1);
    sm_value_text(cmd->arg2, a2);
    if (cmd->op == KV_SET || cmd->op == KV_CAS) {
        kc.args[kc.arg_count++] =
            (kv_slice_t){.bytes = (const uint8_t *)a1, .size = SM_VALUE_BYTES};
    }
    if (cmd->op == KV_CAS) {
        kc.args[kc.arg_count++] =
            (kv_slice_t){.bytes = (const uint8_t *)a2, .size = SM_VALUE_BYTES};
    }
    size_t written = 0;
    int err = kv_command_encode(&kc, NULL, out, SM_COMMAND_BYTES_MAX, &written);
    *size = (uint32_t)written;
    return err;
}

static int sm_mark(sm_t *sm, uint64_t client_id, uint64_t sequence)
{
    if (client_id == 0 || client_id > SM_CLIENTS_MAX || sequence >= SM_SEQUENCES_MAX) {
        return BALLOT_EINVAL;
    }
    sm_seqs_t *s = &sm->applied[client_id];
    size_t word = (size_t)(sequence / 64);
    if (word >= s->words) {
        size_t words = s->words == 0 ? 16 : s->words;
        while (words <= word) {
            words *= 2;
        }
        uint64_t *bits = realloc(s->bits, words * sizeof(uint64_t));
        if (bits == NULL) {
            return BALLOT_ENOMEM;
        }
        memset(bits + s->words, 0, (words - s->words) * sizeof(uint64_t));
        s->bits = bits;
        s->words = words;
    }
    s->bits[word] |= 1ull << (sequence % 64);
    return BALLOT_OK;
}

bool sm_has_applied(const sm_t *sm, uint64_t client_id, uint64_t sequence)
{
    if (client_id == 0 || client_id > SM_CLIENTS_MAX) {
        return false;
    }
    const sm_seqs_t *s = &sm->applied[client_id];
    size_t word = (size_t)(sequence / 64);
    return word < s->words && (s->bits[word] & (1ull << (sequence % 64))) != 0;
}

int sm_apply(sm_t *sm, const command_t *cmd, sm_result_t *out)
{
    kv_result_t r;
    memset(out, 0, sizeof(*out));
    int err = kv_apply(sm->kv, cmd->client_id, cmd->sequence, cmd->bytes, cmd->size, &r);
    if (err != BALLOT_OK) {
        return err;
    }
    out->duplicate = r.duplicate;
    if (r.type == KV_RESULT_ERROR) {
        if (r.error != KV_ERR_STALE) {
            return BALLOT_EINVAL;
        }
        out->stale = true;
        return BALLOT_OK;
    }
    out->ok = r.type != KV_RESULT_INTEGER || r.integer != 0;
    if (!r.duplicate) {
        return sm_mark(sm, cmd->client_id, cmd->sequence);
    }
    return BALLOT_OK;
}

int sm_get(const sm_t *sm, uint8_t key, uint64_t *value)
{
    char text[SM_KEY_BYTES + 1];
    uint32_t len = sm_key_text(key, text);
    kv_result_t r;
    int err = kv_read(sm->kv, KV_GET, (const uint8_t *)text, len, &r);
    if (err != BALLOT_OK) {
        return err;
    }
    if (r.type == KV_RESULT_NIL) {
        *value = 0;
        return BALLOT_OK;
    }
    if (r.type != KV_RESULT_BULK || r.size != SM_VALUE_BYTES) {
        return BALLOT_EINVAL;
    }
    char digits[SM_VALUE_BYTES + 1];
    memcpy(digits, r.bytes, SM_VALUE_BYTES);
    digits[SM_VALUE_BYTES] = '\0';
    char *end = NULL;
    *value = strtoull(digits, &end, 16);
    return end == digits + SM_VALUE_BYTES ? BALLOT_OK : BALLOT_EINVAL;
}

static int sm_digest_chunk(void *ctx, const void *bytes, size_t size)
{
    uint32_t *crc = ctx;
    *crc = crc32c_extend(*crc, bytes, size);
    return BALLOT_OK;
}

int sm_digest(const sm_t *sm, uint32_t *digest)
{
    *digest = 0;
    return kv_snapshot_write(sm->kv, sm_digest_chunk, digest);
}

void sm_seqs_free(sm_seqs_t seqs[SM_CLIENTS_MAX + 1])
{
    for (uint32_t i = 0; i <= SM_CLIENTS_MAX; i++) {
        free(seqs[i].bits);
        seqs[i] = (sm_seqs_t){.bits = NULL, .words = 0};
    }
}

int sm_seqs_copy(sm_seqs_t dst[SM_CLIENTS_MAX + 1], const sm_seqs_t src[SM_CLIENTS_MAX + 1])
{
    sm_seqs_free(dst);
    for (uint32_t i = 0; i <= SM_CLIENTS_MAX; i++) {
        if (src[i].words == 0) {
            continue;
        }
        dst[i].bits = malloc(src[i].words * sizeof(uint64_t));
        if (dst[i].bits == NULL) {
            sm_seqs_free(dst);
            return BALLOT_ENOMEM;
        }
        memcpy(dst[i].bits, src[i].bits, src[i].words * sizeof(uint64_t));
        dst[i].words = src[i].words;
    }
    return BALLOT_OK;
}

#define SM_CONFIG_LENGTH_BYTES 4u

int sm_snapshot_image(const sm_t *sm, uint8_t **out, uint64_t *size)
{
    uint8_t cs[CONFIG_STATE_BYTES_MAX];
    size_t cs_size = config_state_encode(&sm->cs, cs, sizeof(cs));
    uint8_t *image = NULL;
    uint64_t image_size = 0;
    *out = NULL;
    *size = 0;
    if (cs_size == 0) {
        return BALLOT_EINVAL;
    }
    int rc = kv_snapshot_image(sm->kv, UINT64_MAX, &image, &image_size);
    if (rc != BALLOT_OK) {
        return rc;
    }
    uint64_t total = SM_CONFIG_LENGTH_BYTES + cs_size + image_size;
    uint8_t *bytes = malloc(total);
    if (bytes == NULL) {
        free(image);
        return BALLOT_ENOMEM;
    }
    for (uint32_t i = 0; i < SM_CONFIG_LENGTH_BYTES; i++) {
        bytes[i] = (uint8_t)(cs_size >> (8 * i));
    }
    memcpy(bytes + SM_CONFIG_LENGTH_BYTES, cs, cs_size);
    if (image_size > 0) {
        memcpy(bytes + SM_CONFIG_LENGTH_BYTES + cs_size, image, (size_t)image_size);
    }
    free(image);
    *out = bytes;
    *size = total;
    return BALLOT_OK;
}

/* The configuration part's length, or 0 when the bytes cannot hold it. */
static size_t sm_snapshot_config_bytes(const uint8_t *bytes, uint64_t size)
{
    if (size < SM_CONFIG_LENGTH_BYTES) {
        return 0;
    }
    size_t n = 0;
    for (uint32_t i = 0; i < SM_CONFIG_LENGTH_BYTES; i++) {
        n |= (size_t)bytes[i] << (8 * i);
    }
    if (n == 0 || n > CONFIG_STATE_BYTES_MAX || n > size - SM_CONFIG_LENGTH_BYTES) {
        return 0;
    }
    return n;
}

bool sm_snapshot_config(const uint8_t *bytes, uint64_t size, config_state_t *out)
{
    size_t n = sm_snapshot_config_bytes(bytes, size);
    return n != 0 && config_state_decode(out, bytes + SM_CONFIG_LENGTH_BYTES, n);
}

int sm_snapshot_restore(sm_t *sm, const uint8_t *bytes, uint64_t size, char *err, size_t err_bytes)
{
    config_state_t cs;
    if (!sm_snapshot_config(bytes, size, &cs)) {
        snprintf(err, err_bytes, "malformed configuration state");
        return BALLOT_ECORRUPT;
    }
    size_t n = sm_snapshot_config_bytes(bytes, size);
    const uint8_t *image = bytes + SM_CONFIG_LENGTH_BYTES + n;
    int rc = kv_snapshot_restore(sm->kv, image, (size_t)(size - SM_CONFIG_LENGTH_BYTES - n), err,
                                 err_bytes);
    if (rc == BALLOT_OK) {
        sm->cs = cs;
    }
    return rc;
}
