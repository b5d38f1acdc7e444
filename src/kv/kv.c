/* The state machine: configuration, commands against the table, the client table rule
 * (kv.h), and local reads. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fail.h"
#include "core/check.h"
#include "kv/kv_internal.h"

/* INCR results must always fit a value: "-9223372036854775808" is 20 bytes. */
#define KV_VALUE_BYTES_MIN    32u
#define KV_INTEGER_TEXT_BYTES 24u

void kv_config_default(kv_config_t *config)
{
    config->key_bytes_max = KV_KEY_BYTES_MAX_DEFAULT;
    config->value_bytes_max = KV_VALUE_BYTES_MAX_DEFAULT;
    config->clients_max = KV_CLIENTS_MAX_DEFAULT;
    config->keys_max = KV_KEYS_MAX_DEFAULT;
    config->hash_seed = 0;
}

int kv_config_check(const kv_config_t *config, char *err, size_t err_bytes)
{
    if (config->key_bytes_max < 1 || config->key_bytes_max > KV_KEY_BYTES_MAX) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "kv: key_bytes_max %u not in 1..%u",
                           config->key_bytes_max, KV_KEY_BYTES_MAX);
    }
    if (config->value_bytes_max < KV_VALUE_BYTES_MIN ||
        config->value_bytes_max > KV_VALUE_BYTES_MAX) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "kv: value_bytes_max %u not in %u..%u",
                           config->value_bytes_max, KV_VALUE_BYTES_MIN, KV_VALUE_BYTES_MAX);
    }
    if (config->clients_max < 1 || config->clients_max > KV_CLIENTS_MAX) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "kv: clients_max %u not in 1..%u",
                           config->clients_max, KV_CLIENTS_MAX);
    }
    if (config->keys_max < 1 || config->keys_max > KV_KEYS_MAX) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "kv: keys_max %llu not in 1..%llu",
                           (unsigned long long)config->keys_max, (unsigned long long)KV_KEYS_MAX);
    }
    return BALLOT_OK;
}

int kv_create(kv_t **out, const kv_config_t *config, char *err, size_t err_bytes)
{
    *out = NULL;
    kv_config_t defaults;
    if (config == NULL) {
        kv_config_default(&defaults);
        config = &defaults;
    }
    int rc = kv_config_check(config, err, err_bytes);
    if (rc != BALLOT_OK) {
        return rc;
    }
    kv_t *kv = calloc(1, sizeof(*kv));
    if (kv == NULL) {
        (void)ballot_fail(BALLOT_EINVAL, err, err_bytes, "kv: out of memory");
        return BALLOT_ENOMEM;
    }
    kv->config = *config;
    kv_table_init(&kv->table, config->hash_seed);
    kv_clients_init(&kv->clients, config->clients_max, config->hash_seed);
    *out = kv;
    return BALLOT_OK;
}

void kv_free(kv_t *kv)
{
    if (kv == NULL) {
        return;
    }
    kv_table_free(&kv->table);
    kv_clients_free(&kv->clients);
    free(kv);
}

const kv_config_t *kv_get_config(const kv_t *kv)
{
    return &kv->config;
}

const char *kv_error_text(kv_error_t error)
{
    switch (error) {
    case KV_ERR_NONE:
        return "";
    case KV_ERR_NOT_INTEGER:
        return "ERR value is not an integer or out of range";
    case KV_ERR_OVERFLOW:
        return "ERR increment or decrement would overflow";
    case KV_ERR_TOOLARGE:
        return "TOOLARGE key or value over the limit";
    case KV_ERR_MALFORMED:
        return "ERR malformed command";
    case KV_ERR_STALE:
        return "ERR stale request: a later sequence was already applied";
    case KV_ERR_FULL:
        return "ERR key limit reached";
    default:
        return "ERR unknown error";
    }
}

static void result_set(kv_result_t *r, kv_result_type_t type, int64_t integer)
{
    *r = (kv_result_t){.type = type, .integer = integer};
}

static void result_error(kv_result_t *r, kv_error_t error)
{
    *r = (kv_result_t){.type = KV_RESULT_ERROR, .error = error};
}

/* SET of key: insert or replace, refusing a new key past keys_max. */
static int execute_set(kv_t *kv, kv_slice_t key, kv_slice_t value, kv_result_t *result)
{
    if (kv_table_find(&kv->table, key.bytes, key.size, NULL) == NULL) {
        if (kv->table.count >= kv->config.keys_max) {
            result_error(result, KV_ERR_FULL);
            return BALLOT_OK;
        }
        int rc = kv_table_reserve(&kv->table, 1);
        if (rc != BALLOT_OK) {
            return rc;
        }
    }
    int rc = kv_table_set(&kv->table, key.bytes, key.size, value.bytes, value.size);
    if (rc == BALLOT_OK) {
        result_set(result, KV_RESULT_OK, 0);
    }
    return rc;
}

static int execute_incr(kv_t *kv, kv_slice_t key, kv_result_t *result)
{
    const kv_entry_t *e = kv_table_find(&kv->table, key.bytes, key.size, NULL);
    int64_t current = 0;
    if (e != NULL && !kv_parse_i64(kv_entry_value(e), e->value_size, &current)) {
        result_error(result, KV_ERR_NOT_INTEGER);
        return BALLOT_OK;
    }
    if (current == INT64_MAX) {
        result_error(result, KV_ERR_OVERFLOW);
        return BALLOT_OK;
    }
    char text[KV_INTEGER_TEXT_BYTES];
    int n = snprintf(text, sizeof(text), "%lld", (long long)(current + 1));
    assert(n > 0 && (size_t)n < sizeof(text));
    kv_slice_t value = {.bytes = (const uint8_t *)text, .size = (uint32_t)n};
    int rc = execute_set(kv, key, value, result);
    if (rc == BALLOT_OK && result->type == KV_RESULT_OK) {
        result_set(result, KV_RESULT_INTEGER, current + 1);
    }
    return rc;
}

static int execute_cas(kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    kv_slice_t key = cmd->args[0];
    kv_slice_t expected = cmd->args[1];
    const kv_entry_t *e = kv_table_find(&kv->table, key.bytes, key.size, NULL);
    /* A missing key never matches, not even an empty `expected` (kv.h). */
    if (e == NULL || e->value_size != expected.size ||
        (expected.size > 0 && memcmp(kv_entry_value(e), expected.bytes, expected.size) != 0)) {
        result_set(result, KV_RESULT_INTEGER, 0);
        return BALLOT_OK;
    }
    int rc = kv_table_set(&kv->table, key.bytes, key.size, cmd->args[2].bytes, cmd->args[2].size);
    if (rc == BALLOT_OK) {
        result_set(result, KV_RESULT_INTEGER, 1);
    }
    return rc;
}

static void execute_read(const kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    if (cmd->op == KV_GET) {
        const kv_entry_t *e =
            kv_table_find(&kv->table, cmd->args[0].bytes, cmd->args[0].size, NULL);
        result_set(result, e == NULL ? KV_RESULT_NIL : KV_RESULT_BULK, 0);
        if (e != NULL) {
            result->bytes = kv_entry_value(e);
            result->size = e->value_size;
        }
        return;
    }
    assert(cmd->op == KV_EXISTS);
    int64_t count = 0;
    for (uint32_t i = 0; i < cmd->arg_count; i++) {
        if (kv_table_find(&kv->table, cmd->args[i].bytes, cmd->args[i].size, NULL) != NULL) {
            count++;
        }
    }
    result_set(result, KV_RESULT_INTEGER, count);
}

int kv_execute(kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    switch (cmd->op) {
    case KV_GET:
    case KV_EXISTS:
        execute_read(kv, cmd, result);
        return BALLOT_OK;
    case KV_SET:
        return execute_set(kv, cmd->args[0], cmd->args[1], result);
    case KV_DEL: {
        int64_t count = 0;
        for (uint32_t i = 0; i < cmd->arg_count; i++) {
            count += kv_table_delete(&kv->table, cmd->args[i].bytes, cmd->args[i].size) ? 1 : 0;
        }
        result_set(result, KV_RESULT_INTEGER, count);
        return BALLOT_OK;
    }
    case KV_INCR:
        return execute_incr(kv, cmd->args[0], result);
    case KV_CAS:
        return execute_cas(kv, cmd, result);
    default:
        assert(false);
        return BALLOT_EINVAL;
    }
}

/* The remembered result of a duplicate. A GET's is not kept: it reads again. */
static void cached_result(kv_t *kv, const kv_client_t *client, const uint8_t *bytes, uint32_t size,
                          kv_result_t *result)
{
    if (client->type == KV_CACHED_REREAD) {
        kv_command_t cmd;
        if (kv_command_decode(bytes, size, &kv->config, &cmd, NULL, 0) == BALLOT_OK &&
            kv_op_is_read(cmd.op)) {
            execute_read(kv, &cmd, result);
        } else {
            /* The retry carries different bytes than the original read: the sequence
             * was reused, which a client must not do. */
            result_error(result, KV_ERR_STALE);
        }
    } else {
        *result = (kv_result_t){.type = (kv_result_type_t)client->type,
                                .integer = client->integer,
                                .error = (kv_error_t)client->error};
    }
    result->duplicate = true;
}

int kv_apply(kv_t *kv, uint64_t client_id, uint64_t sequence, const uint8_t *bytes, uint32_t size,
             kv_result_t *result)
{
    *result = (kv_result_t){.type = KV_RESULT_ERROR};
    if (client_id != 0) {
        const kv_client_t *client = kv_clients_find(&kv->clients, client_id);
        if (client != NULL && sequence == client->sequence) {
            cached_result(kv, client, bytes, size, result);
            return BALLOT_OK;
        }
        if (client != NULL && sequence < client->sequence) {
            result_error(result, KV_ERR_STALE);
            return BALLOT_OK;
        }
        /* Reserved before the command runs, so that recording it cannot fail after. */
        int rc = kv_clients_reserve(&kv->clients);
        if (rc != BALLOT_OK) {
            return rc;
        }
    }
    kv_command_t cmd;
    int rc = kv_command_decode(bytes, size, &kv->config, &cmd, NULL, 0);
    if (rc == BALLOT_ETOOLARGE) {
        result_error(result, KV_ERR_TOOLARGE);
    } else if (rc != BALLOT_OK) {
        result_error(result, KV_ERR_MALFORMED);
    } else {
        rc = kv_execute(kv, &cmd, result);
        if (rc != BALLOT_OK) {
            assert(rc == BALLOT_ENOMEM);
            return rc;
        }
    }
    if (client_id != 0) {
        bool reread = rc == BALLOT_OK && kv_op_is_read(cmd.op);
        kv_clients_record(&kv->clients, client_id, sequence, result, reread);
    }
    return BALLOT_OK;
}

int kv_apply_batch(kv_t *kv, const value_t *value, kv_result_fn on_result, void *ctx,
                   uint32_t *applied)
{
    if (applied != NULL) {
        *applied = 0;
    }
    if (value->kind == VALUE_NOOP || value->kind == VALUE_CONFIG) {
        return BALLOT_OK; /* a membership change is the driver's (config_state_apply) */
    }
    if (value->kind != VALUE_BATCH || !batch_validate(value->bytes, value->size)) {
        return BALLOT_EINVAL;
    }
    batch_iter_t it;
    batch_iter_init(&it, value);
    command_t command;
    /* batch_validate bounded the count by BATCH_COMMANDS_MAX. */
    while (batch_iter_next(&it, &command)) {
        kv_result_t result;
        int rc =
            kv_apply(kv, command.client_id, command.sequence, command.bytes, command.size, &result);
        if (rc != BALLOT_OK) {
            return rc;
        }
        if (applied != NULL) {
            (*applied)++;
        }
        if (on_result != NULL) {
            on_result(ctx, &command, &result);
        }
    }
    return BALLOT_OK;
}

int kv_read_command(const kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    *result = (kv_result_t){.type = KV_RESULT_ERROR, .error = KV_ERR_MALFORMED};
    if (!kv_op_is_read(cmd->op)) {
        return BALLOT_EINVAL;
    }
    int rc = kv_command_check(cmd, &kv->config, NULL, 0);
    if (rc != BALLOT_OK) {
        if (rc == BALLOT_ETOOLARGE) {
            result->error = KV_ERR_TOOLARGE;
        }
        return rc;
    }
    execute_read(kv, cmd, result);
    return BALLOT_OK;
}

int kv_read(const kv_t *kv, kv_op_t op, const uint8_t *key, uint32_t key_size, kv_result_t *result)
{
    kv_command_t cmd;
    cmd.op = op;
    cmd.arg_count = 1;
    cmd.args[0] = (kv_slice_t){.bytes = key, .size = key_size};
    return kv_read_command(kv, &cmd, result);
}

uint64_t kv_key_count(const kv_t *kv)
{
    return kv->table.count;
}

uint32_t kv_client_count(const kv_t *kv)
{
    return kv->clients.count;
}

uint64_t kv_memory_bytes(const kv_t *kv)
{
    const kv_table_t *t = &kv->table;
    const kv_clients_t *c = &kv->clients;
    return sizeof(*kv) + t->alloc_bytes + t->capacity * sizeof(kv_entry_t *) +
           (uint64_t)c->record_capacity * sizeof(kv_client_t) +
           (uint64_t)c->index_capacity * sizeof(uint32_t);
}
