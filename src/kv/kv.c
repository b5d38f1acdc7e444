/* The state machine: configuration, commands against the table, the client table rule
 * (kv.h), and local reads. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/endian.h"
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
    kv->random_state = 0x2545f4914f6cdd1dull;
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
    kv_out_free(&kv->out);
    kv_out_free(&kv->scratch);
    kv_out_free(&kv->exec_out);
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
    case KV_ERR_NOT_FLOAT:
        return "ERR value is not a valid float";
    case KV_ERR_NAN:
        return "ERR increment would produce NaN or Infinity";
    case KV_ERR_NO_KEY:
        return "ERR no such key";
    case KV_ERR_STRING_MAX:
        return "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    case KV_ERR_REPLY_MAX:
        return "ERR reply exceeds 67108864 bytes";
    case KV_ERR_UNKEPT:
        return "ERR this command was applied before (retried after a lost reply); its reply "
               "was not kept";
    case KV_ERR_KEYS_MAX:
        return "ERR KEYS matches more than 100000 keys; use SCAN";
    case KV_ERR_SAME:
        return "ERR source and destination objects are the same";
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

static void result_bulk(kv_result_t *r, const uint8_t *bytes, uint32_t size)
{
    *r = (kv_result_t){.type = KV_RESULT_BULK, .bytes = bytes, .size = size};
}

/* The reply built in o, or an error when it did not fit. */
static void result_out(kv_result_t *r, const kv_out_t *o)
{
    if (o->over) {
        result_error(r, KV_ERR_REPLY_MAX);
    } else {
        *r = (kv_result_t){.type = KV_RESULT_RESP, .bytes = o->bytes, .size = o->size};
    }
}

static void result_status(kv_t *kv, kv_result_t *r, const char *text)
{
    kv_out_reset(&kv->out);
    kv_out_simple(&kv->out, text);
    result_out(r, &kv->out);
}

/* A copy of bytes that stays valid while the store changes (the old value of GETSET). */
static void result_copy(kv_t *kv, kv_result_t *r, const kv_entry_t *e)
{
    if (e == NULL) {
        result_set(r, KV_RESULT_NIL, 0);
        return;
    }
    kv_out_reset(&kv->scratch);
    kv_out_raw(&kv->scratch, kv_entry_value(e), e->value_size);
    if (kv->scratch.over) {
        result_error(r, KV_ERR_REPLY_MAX);
    } else {
        result_bulk(r, e->value_size > 0 ? kv->scratch.bytes : (const uint8_t *)"", e->value_size);
    }
}

uint32_t kv_watch_bucket(const uint8_t *key, uint32_t key_size)
{
    static const uint64_t fixed[2] = {0x7761746368626b74ull, 0x62616c6c6f74776bull};
    return (uint32_t)(kv_siphash(fixed, key, key_size, 1, 3) % KV_WATCH_BUCKETS);
}

static bool entry_live(const kv_entry_t *e, uint64_t now)
{
    return e != NULL && (e->expire_ms == 0 || e->expire_ms > now);
}

/* The key's entry unless missing or expired at `now`. */
static kv_entry_t *lookup(const kv_t *kv, kv_slice_t key, uint64_t now)
{
    kv_entry_t *e = kv_table_find(&kv->table, key.bytes, key.size, NULL);
    return entry_live(e, now) ? e : NULL;
}

static void entry_set_expire(kv_t *kv, kv_entry_t *e, uint64_t expire_ms)
{
    kv->volatile_count -= e->expire_ms != 0 ? 1u : 0u;
    kv->volatile_count += expire_ms != 0 ? 1u : 0u;
    e->expire_ms = expire_ms;
}

/* Removes key (live or expired); true when it was there. */
static bool delete_key(kv_t *kv, kv_slice_t key)
{
    kv_entry_t *e = kv_table_find(&kv->table, key.bytes, key.size, NULL);
    if (e == NULL) {
        return false;
    }
    kv->volatile_count -= e->expire_ms != 0 ? 1u : 0u;
    kv->deleted_mod[kv_watch_bucket(key.bytes, key.size)] = kv->mod;
    return kv_table_delete(&kv->table, key.bytes, key.size);
}

/* The live entry for a write: an expired one is deleted first (it is gone for every
 * replica at this time). */
static kv_entry_t *lookup_write(kv_t *kv, kv_slice_t key)
{
    kv_entry_t *e = kv_table_find(&kv->table, key.bytes, key.size, NULL);
    if (e != NULL && !entry_live(e, kv->time_ms)) {
        delete_key(kv, key);
        return NULL;
    }
    return e;
}

/* Room for `fresh` new keys, or KV_ERR_FULL in result (false, nothing changed). */
static int reserve_keys(kv_t *kv, uint64_t fresh, kv_result_t *result, bool *full)
{
    *full = false;
    if (fresh == 0) {
        return BALLOT_OK;
    }
    if (kv->table.count + fresh > kv->config.keys_max) {
        result_error(result, KV_ERR_FULL);
        *full = true;
        return BALLOT_OK;
    }
    return kv_table_reserve(&kv->table, fresh);
}

/* Stores key = a then b. keep_ttl keeps an existing key's deadline; else expire_ms is the
 * new one (0: none). *full when the key is new and the table is at keys_max. */
static int store(kv_t *kv, kv_slice_t key, const uint8_t *a, uint32_t a_size, const uint8_t *b,
                 uint32_t b_size, bool keep_ttl, uint64_t expire_ms, kv_result_t *result,
                 bool *full)
{
    kv_entry_t *e = lookup_write(kv, key);
    int rc = reserve_keys(kv, e == NULL ? 1u : 0u, result, full);
    if (rc != BALLOT_OK || *full) {
        return rc;
    }
    bool existed = e != NULL;
    rc = kv_table_set2(&kv->table, key.bytes, key.size, a, a_size, b, b_size, &e);
    if (rc != BALLOT_OK) {
        return rc;
    }
    if (!keep_ttl || !existed) {
        entry_set_expire(kv, e, expire_ms);
    }
    e->version = kv->mod;
    return BALLOT_OK;
}

static bool slice_is(kv_slice_t a, const char *word)
{
    size_t n = strlen(word);
    return a.size == n && strncasecmp((const char *)a.bytes, word, n) == 0;
}

/* a + b, saturated: deadlines never wrap whatever a snapshot or a stamp held. */
static int64_t add_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b) {
        return INT64_MAX;
    }
    if (b < 0 && a < INT64_MIN - b) {
        return INT64_MIN;
    }
    return a + b;
}

static int64_t slice_i64(kv_slice_t a)
{
    int64_t v = 0;
    bool ok = kv_parse_i64(a.bytes, a.size, &v);
    assert(ok); /* checked by kv_command_check */
    (void)ok;
    return v;
}

/* A deadline from an EX/PX/EXAT/PXAT argument (checked: no overflow possible). */
static uint64_t deadline_of(const kv_t *kv, kv_slice_t unit, kv_slice_t value)
{
    int64_t v = slice_i64(value);
    bool seconds = slice_is(unit, "EX") || slice_is(unit, "EXAT");
    bool absolute = slice_is(unit, "EXAT") || slice_is(unit, "PXAT");
    int64_t ms = seconds ? v * 1000 : v;
    int64_t at = absolute ? ms : add_sat((int64_t)kv->time_ms, ms);
    return at < 1 ? 1u : (uint64_t)at;
}

/* SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT t|KEEPTTL]. */
static int execute_set(kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    kv_slice_t key = cmd->args[0];
    kv_slice_t value = cmd->args[1];
    bool nx = false;
    bool xx = false;
    bool get = false;
    bool keep = false;
    uint64_t expire = 0;
    for (uint32_t i = 2; i < cmd->arg_count; i++) {
        kv_slice_t a = cmd->args[i];
        if (slice_is(a, "NX")) {
            nx = true;
        } else if (slice_is(a, "XX")) {
            xx = true;
        } else if (slice_is(a, "GET")) {
            get = true;
        } else if (slice_is(a, "KEEPTTL")) {
            keep = true;
        } else {
            expire = deadline_of(kv, a, cmd->args[i + 1]);
            i++;
        }
    }
    kv_entry_t *e = lookup_write(kv, key);
    if (get) {
        result_copy(kv, result, e);
    }
    if ((nx && e != NULL) || (xx && e == NULL)) {
        if (!get) {
            result_set(result, KV_RESULT_NIL, 0);
        }
        return BALLOT_OK;
    }
    if (expire != 0 && expire <= kv->time_ms) {
        /* A deadline already past: the key is gone at once, as in Redis. */
        delete_key(kv, key);
    } else {
        kv_result_t full_result;
        bool full = false;
        int rc =
            store(kv, key, value.bytes, value.size, NULL, 0, keep, expire, &full_result, &full);
        if (rc != BALLOT_OK) {
            return rc;
        }
        if (full) {
            *result = full_result;
            return BALLOT_OK;
        }
    }
    if (!get) {
        result_set(result, KV_RESULT_OK, 0);
    }
    return BALLOT_OK;
}

static int execute_incrby(kv_t *kv, kv_slice_t key, int64_t delta, kv_result_t *result)
{
    const kv_entry_t *e = lookup_write(kv, key);
    int64_t current = 0;
    if (e != NULL && !kv_parse_i64(kv_entry_value(e), e->value_size, &current)) {
        result_error(result, KV_ERR_NOT_INTEGER);
        return BALLOT_OK;
    }
    if ((delta > 0 && current > INT64_MAX - delta) || (delta < 0 && current < INT64_MIN - delta)) {
        result_error(result, KV_ERR_OVERFLOW);
        return BALLOT_OK;
    }
    char text[KV_INTEGER_TEXT_BYTES];
    int n = snprintf(text, sizeof(text), "%lld", (long long)(current + delta));
    assert(n > 0 && (size_t)n < sizeof(text));
    bool full = false;
    int rc = store(kv, key, (const uint8_t *)text, (uint32_t)n, NULL, 0, true, 0, result, &full);
    if (rc == BALLOT_OK && !full) {
        result_set(result, KV_RESULT_INTEGER, current + delta);
    }
    return rc;
}

/* Redis's human form of a long double: "%.17Lf" without trailing zeros or point. */
static int format_ld(long double v, char *text, size_t text_bytes)
{
    int n = snprintf(text, text_bytes, "%.17Lf", v);
    if (n <= 0 || (size_t)n >= text_bytes) {
        return -1;
    }
    if (strchr(text, '.') != NULL) {
        while (n > 0 && text[n - 1] == '0') {
            n--;
        }
        if (n > 0 && text[n - 1] == '.') {
            n--;
        }
    }
    text[n] = '\0';
    if (strcmp(text, "-0") == 0) {
        text[0] = '0';
        text[1] = '\0';
        n = 1;
    }
    return n;
}

static int execute_incrbyfloat(kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    kv_slice_t key = cmd->args[0];
    const kv_entry_t *e = lookup_write(kv, key);
    long double current = 0;
    long double delta = 0;
    if (e != NULL && !kv_parse_ld(kv_entry_value(e), e->value_size, &current)) {
        result_error(result, KV_ERR_NOT_FLOAT);
        return BALLOT_OK;
    }
    bool ok = kv_parse_ld(cmd->args[1].bytes, cmd->args[1].size, &delta);
    assert(ok);
    (void)ok;
    long double sum = current + delta;
    if (isnan(sum) || isinf(sum)) {
        result_error(result, KV_ERR_NAN);
        return BALLOT_OK;
    }
    char text[KV_FLOAT_TEXT_BYTES];
    int n = format_ld(sum, text, sizeof(text));
    if (n < 0 || (uint32_t)n > kv->config.value_bytes_max) {
        result_error(result, KV_ERR_NOT_FLOAT);
        return BALLOT_OK;
    }
    bool full = false;
    int rc = store(kv, key, (const uint8_t *)text, (uint32_t)n, NULL, 0, true, 0, result, &full);
    if (rc == BALLOT_OK && !full) {
        kv_out_reset(&kv->scratch);
        kv_out_raw(&kv->scratch, text, (size_t)n);
        result_bulk(result, kv->scratch.bytes, (uint32_t)n);
    }
    return rc;
}

static int execute_cas(kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    kv_slice_t key = cmd->args[0];
    kv_slice_t expected = cmd->args[1];
    const kv_entry_t *e = lookup_write(kv, key);
    /* A missing key never matches, not even an empty `expected` (kv.h). */
    if (e == NULL || e->value_size != expected.size ||
        (expected.size > 0 && memcmp(kv_entry_value(e), expected.bytes, expected.size) != 0)) {
        result_set(result, KV_RESULT_INTEGER, 0);
        return BALLOT_OK;
    }
    bool full = false;
    int rc =
        store(kv, key, cmd->args[2].bytes, cmd->args[2].size, NULL, 0, false, 0, result, &full);
    if (rc == BALLOT_OK) {
        result_set(result, KV_RESULT_INTEGER, 1);
    }
    return rc;
}

/* MSET (nx false) and MSETNX: all keys or none. */
static int execute_mset(kv_t *kv, const kv_command_t *cmd, bool nx, kv_result_t *result)
{
    uint64_t fresh = 0;
    for (uint32_t i = 0; i < cmd->arg_count; i += 2) {
        if (lookup_write(kv, cmd->args[i]) == NULL) {
            fresh++;
        } else if (nx) {
            result_set(result, KV_RESULT_INTEGER, 0);
            return BALLOT_OK;
        }
    }
    bool full = false;
    int rc = reserve_keys(kv, fresh, result, &full);
    if (rc != BALLOT_OK || full) {
        return rc;
    }
    for (uint32_t i = 0; i < cmd->arg_count; i += 2) {
        rc = store(kv, cmd->args[i], cmd->args[i + 1].bytes, cmd->args[i + 1].size, NULL, 0, false,
                   0, result, &full);
        if (rc != BALLOT_OK) {
            return rc;
        }
        assert(!full);
    }
    result_set(result, nx ? KV_RESULT_INTEGER : KV_RESULT_OK, nx ? 1 : 0);
    return BALLOT_OK;
}

static int execute_append(kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    kv_slice_t key = cmd->args[0];
    kv_slice_t tail = cmd->args[1];
    const kv_entry_t *e = lookup_write(kv, key);
    uint32_t old = e != NULL ? e->value_size : 0;
    if ((uint64_t)old + tail.size > kv->config.value_bytes_max) {
        result_error(result, KV_ERR_STRING_MAX);
        return BALLOT_OK;
    }
    bool full = false;
    int rc = store(kv, key, e != NULL ? kv_entry_value(e) : NULL, old, tail.bytes, tail.size, true,
                   0, result, &full);
    if (rc == BALLOT_OK && !full) {
        result_set(result, KV_RESULT_INTEGER, (int64_t)old + tail.size);
    }
    return rc;
}

static int execute_setrange(kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    kv_slice_t key = cmd->args[0];
    uint64_t offset = (uint64_t)slice_i64(cmd->args[1]);
    kv_slice_t part = cmd->args[2];
    const kv_entry_t *e = lookup_write(kv, key);
    uint32_t old = e != NULL ? e->value_size : 0;
    if (part.size == 0) {
        result_set(result, KV_RESULT_INTEGER, old);
        return BALLOT_OK;
    }
    /* Checked: offset + part.size <= value_bytes_max. */
    uint32_t size = (uint32_t)(offset + part.size > old ? offset + part.size : old);
    kv_out_reset(&kv->scratch);
    kv_out_raw(&kv->scratch, e != NULL ? kv_entry_value(e) : NULL, old);
    static const uint8_t zeros[256];
    while (kv->scratch.size < size && !kv->scratch.over) {
        uint32_t n = size - kv->scratch.size;
        kv_out_raw(&kv->scratch, zeros, n < sizeof(zeros) ? n : sizeof(zeros));
    }
    if (kv->scratch.over) {
        return BALLOT_ENOMEM;
    }
    memcpy(kv->scratch.bytes + offset, part.bytes, part.size);
    bool full = false;
    int rc = store(kv, key, kv->scratch.bytes, size, NULL, 0, true, 0, result, &full);
    if (rc == BALLOT_OK && !full) {
        result_set(result, KV_RESULT_INTEGER, size);
    }
    return rc;
}

static void execute_getrange(const kv_t *kv, const kv_command_t *cmd, uint64_t now,
                             kv_result_t *result)
{
    const kv_entry_t *e = lookup(kv, cmd->args[0], now);
    int64_t start = slice_i64(cmd->args[1]);
    int64_t end = slice_i64(cmd->args[2]);
    int64_t len = e != NULL ? e->value_size : 0;
    result_bulk(result, (const uint8_t *)"", 0);
    if (start < 0 && end < 0 && start > end) {
        return;
    }
    start = start < 0 ? len + start : start;
    end = end < 0 ? len + end : end;
    start = start < 0 ? 0 : start;
    end = end < 0 ? 0 : end;
    end = end >= len ? len - 1 : end;
    if (len == 0 || start > end) {
        return;
    }
    result_bulk(result, kv_entry_value(e) + start, (uint32_t)(end - start + 1));
}

/* RENAME (nx false) and RENAMENX. */
static int execute_rename(kv_t *kv, const kv_command_t *cmd, bool nx, kv_result_t *result)
{
    kv_slice_t from = cmd->args[0];
    kv_slice_t to = cmd->args[1];
    kv_entry_t *src = lookup_write(kv, from);
    if (src == NULL) {
        result_error(result, KV_ERR_NO_KEY);
        return BALLOT_OK;
    }
    if (from.size == to.size && (from.size == 0 || memcmp(from.bytes, to.bytes, to.size) == 0)) {
        result_set(result, nx ? KV_RESULT_INTEGER : KV_RESULT_OK, 0);
        return BALLOT_OK;
    }
    kv_entry_t *dst = lookup_write(kv, to);
    if (nx && dst != NULL) {
        result_set(result, KV_RESULT_INTEGER, 0);
        return BALLOT_OK;
    }
    /* The table's slots may move when it grows, the entries never: src stays valid. */
    int rc = dst == NULL ? kv_table_reserve(&kv->table, 1) : BALLOT_OK;
    if (rc == BALLOT_OK) {
        rc =
            kv_table_set(&kv->table, to.bytes, to.size, kv_entry_value(src), src->value_size, &dst);
    }
    if (rc != BALLOT_OK) {
        return rc;
    }
    entry_set_expire(kv, dst, src->expire_ms);
    dst->version = kv->mod;
    delete_key(kv, from);
    result_set(result, nx ? KV_RESULT_INTEGER : KV_RESULT_OK, nx ? 1 : 0);
    return BALLOT_OK;
}

static int execute_copy(kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    kv_slice_t from = cmd->args[0];
    kv_slice_t to = cmd->args[1];
    bool replace = false;
    for (uint32_t i = 2; i < cmd->arg_count; i++) {
        replace = replace || slice_is(cmd->args[i], "REPLACE");
    }
    if (from.size == to.size && (from.size == 0 || memcmp(from.bytes, to.bytes, to.size) == 0)) {
        result_error(result, KV_ERR_SAME);
        return BALLOT_OK;
    }
    kv_entry_t *src = lookup_write(kv, from);
    kv_entry_t *dst = lookup_write(kv, to);
    if (src == NULL || (dst != NULL && !replace)) {
        result_set(result, KV_RESULT_INTEGER, 0);
        return BALLOT_OK;
    }
    bool full = false;
    int rc = store(kv, to, kv_entry_value(src), src->value_size, NULL, 0, false, src->expire_ms,
                   result, &full);
    if (rc == BALLOT_OK && !full) {
        result_set(result, KV_RESULT_INTEGER, 1);
    }
    return rc;
}

static int execute_getex(kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    kv_slice_t key = cmd->args[0];
    kv_entry_t *e = lookup_write(kv, key);
    result_copy(kv, result, e);
    if (e == NULL || cmd->arg_count < 2) {
        return BALLOT_OK;
    }
    if (slice_is(cmd->args[1], "PERSIST")) {
        entry_set_expire(kv, e, 0);
        e->version = kv->mod;
        return BALLOT_OK;
    }
    uint64_t at = deadline_of(kv, cmd->args[1], cmd->args[2]);
    if (at <= kv->time_ms) {
        delete_key(kv, key);
    } else {
        entry_set_expire(kv, e, at);
        e->version = kv->mod;
    }
    return BALLOT_OK;
}

/* EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT key t [NX|XX|GT|LT]. */
static int execute_expire(kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    kv_slice_t key = cmd->args[0];
    kv_entry_t *e = lookup_write(kv, key);
    result_set(result, KV_RESULT_INTEGER, 0);
    if (e == NULL) {
        return BALLOT_OK;
    }
    int64_t v = slice_i64(cmd->args[1]);
    bool seconds = cmd->op == KV_EXPIRE || cmd->op == KV_EXPIREAT;
    bool absolute = cmd->op == KV_EXPIREAT || cmd->op == KV_PEXPIREAT;
    int64_t ms = seconds ? v * 1000 : v;
    int64_t at = absolute ? ms : add_sat((int64_t)kv->time_ms, ms);
    bool nx = false;
    bool xx = false;
    bool gt = false;
    bool lt = false;
    for (uint32_t i = 2; i < cmd->arg_count; i++) {
        nx = nx || slice_is(cmd->args[i], "NX");
        xx = xx || slice_is(cmd->args[i], "XX");
        gt = gt || slice_is(cmd->args[i], "GT");
        lt = lt || slice_is(cmd->args[i], "LT");
    }
    bool has = e->expire_ms != 0;
    /* No deadline counts as an infinite one for GT and LT, as in Redis. */
    if ((nx && has) || (xx && !has) || (gt && (!has || at <= (int64_t)e->expire_ms)) ||
        (lt && has && at >= (int64_t)e->expire_ms)) {
        return BALLOT_OK;
    }
    if (at <= (int64_t)kv->time_ms) {
        delete_key(kv, key);
    } else {
        entry_set_expire(kv, e, (uint64_t)at);
        e->version = kv->mod;
    }
    result_set(result, KV_RESULT_INTEGER, 1);
    return BALLOT_OK;
}

static void execute_ttl(const kv_t *kv, const kv_command_t *cmd, uint64_t now, kv_result_t *result)
{
    const kv_entry_t *e = lookup(kv, cmd->args[0], now);
    if (e == NULL) {
        result_set(result, KV_RESULT_INTEGER, -2);
        return;
    }
    if (e->expire_ms == 0) {
        result_set(result, KV_RESULT_INTEGER, -1);
        return;
    }
    int64_t left = (int64_t)(e->expire_ms - now);
    int64_t at = (int64_t)e->expire_ms;
    switch (cmd->op) {
    case KV_TTL:
        result_set(result, KV_RESULT_INTEGER, (left + 500) / 1000);
        break;
    case KV_PTTL:
        result_set(result, KV_RESULT_INTEGER, left);
        break;
    case KV_EXPIRETIME:
        result_set(result, KV_RESULT_INTEGER, at / 1000);
        break;
    default:
        result_set(result, KV_RESULT_INTEGER, at);
        break;
    }
}

static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

static void execute_keys(kv_t *kv, kv_slice_t pattern, uint64_t now, kv_result_t *result)
{
    const kv_table_t *t = &kv->table;
    bool all = pattern.size == 1 && pattern.bytes[0] == '*';
    int64_t count = 0;
    for (uint64_t i = 0; i < t->capacity; i++) {
        const kv_entry_t *e = t->slots[i];
        if (entry_live(e, now) &&
            (all || kv_glob_match(pattern.bytes, pattern.size, kv_entry_key(e), e->key_size))) {
            count++;
        }
    }
    if (count > (int64_t)KV_KEYS_REPLY_MAX) {
        result_error(result, KV_ERR_KEYS_MAX);
        return;
    }
    kv_out_reset(&kv->out);
    kv_out_array(&kv->out, count);
    for (uint64_t i = 0; i < t->capacity; i++) {
        const kv_entry_t *e = t->slots[i];
        if (entry_live(e, now) &&
            (all || kv_glob_match(pattern.bytes, pattern.size, kv_entry_key(e), e->key_size))) {
            kv_out_bulk(&kv->out, kv_entry_key(e), e->key_size);
        }
    }
    result_out(result, &kv->out);
}

static uint64_t reverse_bits(uint64_t v)
{
    uint64_t r = 0;
    for (int i = 0; i < 64; i++) {
        r = (r << 1) | (v & 1u);
        v >>= 1;
    }
    return r;
}

/* SCAN: the cursor walks home buckets (hash & mask) in reverse-binary order, as Redis's
 * dictScan does; a bucket's keys are the run of slots from the bucket up to an empty
 * slot, so a key present for the whole scan is returned at least once even when the
 * table doubles meanwhile (docs/commands.md). */
static void execute_scan(kv_t *kv, const kv_command_t *cmd, uint64_t now, kv_result_t *result)
{
    const kv_table_t *t = &kv->table;
    uint64_t cursor = 0;
    bool ok = kv_parse_u64(cmd->args[0].bytes, cmd->args[0].size, &cursor);
    assert(ok);
    (void)ok;
    int64_t count = 10;
    kv_slice_t match = {0};
    bool have_match = false;
    bool type_string = true;
    for (uint32_t i = 1; i + 1 < cmd->arg_count; i += 2) {
        if (slice_is(cmd->args[i], "COUNT")) {
            count = slice_i64(cmd->args[i + 1]);
        } else if (slice_is(cmd->args[i], "MATCH")) {
            match = cmd->args[i + 1];
            have_match = !(match.size == 1 && match.bytes[0] == '*');
        } else {
            type_string = slice_is(cmd->args[i + 1], "string");
        }
    }
    count = count > 100000 ? 100000 : count;
    kv_out_reset(&kv->scratch);
    int64_t found = 0;
    if (t->capacity == 0 || t->count == 0) {
        cursor = 0;
    } else {
        uint64_t mask = t->capacity - 1;
        int64_t iterations = count * 10;
        do {
            uint64_t bucket = cursor & mask;
            for (uint64_t i = bucket, n = 0; n < t->capacity; i = (i + 1) & mask, n++) {
                const kv_entry_t *e = t->slots[i];
                if (e == NULL) {
                    break;
                }
                if ((e->hash & mask) != bucket || !entry_live(e, now) || !type_string ||
                    (have_match &&
                     !kv_glob_match(match.bytes, match.size, kv_entry_key(e), e->key_size))) {
                    continue;
                }
                kv_out_bulk(&kv->scratch, kv_entry_key(e), e->key_size);
                found++;
            }
            cursor |= ~mask;
            cursor = reverse_bits(cursor);
            cursor++;
            cursor = reverse_bits(cursor);
        } while (cursor != 0 && iterations-- > 0 && found < count);
    }
    char text[24];
    int n = snprintf(text, sizeof(text), "%llu", (unsigned long long)cursor);
    kv_out_reset(&kv->out);
    kv_out_array(&kv->out, 2);
    kv_out_bulk(&kv->out, (const uint8_t *)text, (uint32_t)n);
    kv_out_array(&kv->out, found);
    kv_out_raw(&kv->out, kv->scratch.bytes, kv->scratch.size);
    kv->out.over = kv->out.over || kv->scratch.over;
    result_out(result, &kv->out);
}

static void execute_randomkey(kv_t *kv, uint64_t now, kv_result_t *result)
{
    const kv_table_t *t = &kv->table;
    result_set(result, KV_RESULT_NIL, 0);
    if (t->count == 0) {
        return;
    }
    uint64_t mask = t->capacity - 1;
    uint64_t start = next_random(&kv->random_state) & mask;
    for (uint64_t n = 0; n < t->capacity; n++) {
        const kv_entry_t *e = t->slots[(start + n) & mask];
        if (entry_live(e, now)) {
            kv_out_reset(&kv->out);
            kv_out_bulk(&kv->out, kv_entry_key(e), e->key_size);
            result_out(result, &kv->out);
            return;
        }
    }
}

/* The read ops, at `now`. kv is changed only in its reply buffers and RANDOMKEY's state. */
static void execute_read(kv_t *kv, const kv_command_t *cmd, uint64_t now, kv_result_t *result)
{
    int64_t count = 0;
    const kv_entry_t *e = NULL;
    switch (cmd->op) {
    case KV_GET:
        e = lookup(kv, cmd->args[0], now);
        if (e == NULL) {
            result_set(result, KV_RESULT_NIL, 0);
        } else {
            result_bulk(result, kv_entry_value(e), e->value_size);
        }
        return;
    case KV_EXISTS:
    case KV_TOUCH:
        for (uint32_t i = 0; i < cmd->arg_count; i++) {
            count += lookup(kv, cmd->args[i], now) != NULL ? 1 : 0;
        }
        result_set(result, KV_RESULT_INTEGER, count);
        return;
    case KV_MGET:
        kv_out_reset(&kv->out);
        kv_out_array(&kv->out, cmd->arg_count);
        for (uint32_t i = 0; i < cmd->arg_count; i++) {
            e = lookup(kv, cmd->args[i], now);
            if (e == NULL) {
                kv_out_nil(&kv->out);
            } else {
                kv_out_bulk(&kv->out, kv_entry_value(e), e->value_size);
            }
        }
        result_out(result, &kv->out);
        return;
    case KV_STRLEN:
        e = lookup(kv, cmd->args[0], now);
        result_set(result, KV_RESULT_INTEGER, e != NULL ? e->value_size : 0);
        return;
    case KV_GETRANGE:
    case KV_SUBSTR:
        execute_getrange(kv, cmd, now, result);
        return;
    case KV_TYPE:
        result_status(kv, result, lookup(kv, cmd->args[0], now) != NULL ? "string" : "none");
        return;
    case KV_KEYS:
        execute_keys(kv, cmd->args[0], now, result);
        return;
    case KV_SCAN:
        execute_scan(kv, cmd, now, result);
        return;
    case KV_RANDOMKEY:
        execute_randomkey(kv, now, result);
        return;
    case KV_DBSIZE:
        result_set(result, KV_RESULT_INTEGER, (int64_t)kv->table.count);
        return;
    case KV_TTL:
    case KV_PTTL:
    case KV_EXPIRETIME:
    case KV_PEXPIRETIME:
        execute_ttl(kv, cmd, now, result);
        return;
    default:
        assert(false);
        result_error(result, KV_ERR_MALFORMED);
        return;
    }
}

static void execute_flush(kv_t *kv)
{
    kv_table_free(&kv->table);
    kv_table_init(&kv->table, kv->config.hash_seed);
    kv->volatile_count = 0;
    for (uint32_t i = 0; i < KV_WATCH_BUCKETS; i++) {
        kv->deleted_mod[i] = kv->mod;
    }
}

static int execute_expired(kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    int64_t count = 0;
    for (uint32_t i = 0; i < cmd->arg_count; i++) {
        const kv_entry_t *e =
            kv_table_find(&kv->table, cmd->args[i].bytes, cmd->args[i].size, NULL);
        if (e != NULL && !entry_live(e, kv->time_ms)) {
            count += delete_key(kv, cmd->args[i]) ? 1 : 0;
        }
    }
    result_set(result, KV_RESULT_INTEGER, count);
    return BALLOT_OK;
}

/* The lock recipes (kv.h): act only while the key holds the token. */
static int execute_ifeq(kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    kv_slice_t key = cmd->args[0];
    kv_slice_t token = cmd->args[1];
    kv_entry_t *e = lookup_write(kv, key);
    result_set(result, KV_RESULT_INTEGER, 0);
    if (e == NULL || e->value_size != token.size ||
        (token.size > 0 && memcmp(kv_entry_value(e), token.bytes, token.size) != 0)) {
        return BALLOT_OK;
    }
    if (cmd->op == KV_DELIFEQ) {
        delete_key(kv, key);
        result_set(result, KV_RESULT_INTEGER, 1);
        return BALLOT_OK;
    }
    int64_t ms = slice_i64(cmd->args[2]);
    if (cmd->op == KV_PEXTENDIFEQ && slice_is(cmd->args[3], "0")) {
        if (e->expire_ms == 0) {
            return BALLOT_OK; /* no time to live to extend: 0, as the recipe answers */
        }
        ms = add_sat(ms, (int64_t)(e->expire_ms - kv->time_ms));
    }
    int64_t at = add_sat((int64_t)kv->time_ms, ms);
    if (at <= (int64_t)kv->time_ms) {
        delete_key(kv, key);
    } else {
        entry_set_expire(kv, e, (uint64_t)at);
        e->version = kv->mod;
    }
    result_set(result, KV_RESULT_INTEGER, 1);
    return BALLOT_OK;
}

/* True when a watched key changed after the client's WATCH: a newer version, a deletion
 * since (by bucket), or a deadline passed since. */
static bool watched_changed(const kv_t *kv, const kv_client_t *c, kv_slice_t key)
{
    const kv_entry_t *e = kv_table_find(&kv->table, key.bytes, key.size, NULL);
    if (e == NULL) {
        return kv->deleted_mod[kv_watch_bucket(key.bytes, key.size)] > c->watch_mod;
    }
    if (e->version > c->watch_mod) {
        return true;
    }
    return e->expire_ms != 0 && e->expire_ms <= kv->time_ms && e->expire_ms > c->watch_time;
}

/* EXEC: the watched keys, then every queued command in order, with nothing between. */
static int execute_exec(kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    uint32_t watched = get_u32(cmd->args[0].bytes);
    kv_client_t *client = kv->current;
    kv_out_t *o = &kv->exec_out;
    kv_out_reset(o);
    if (watched > 0) {
        bool changed = client == NULL || !client->watching;
        for (uint32_t i = 1; i <= watched && !changed; i++) {
            changed = watched_changed(kv, client, cmd->args[i]);
        }
        if (client != NULL) {
            client->watching = 0;
        }
        if (changed) {
            kv_out_raw(o, "*-1\r\n", 5);
            result_out(result, o);
            return BALLOT_OK;
        }
    }
    if (client != NULL) {
        client->watching = 0;
    }
    kv_out_array(o, (int64_t)(cmd->arg_count - 1u - watched));
    kv_command_t sub;
    for (uint32_t i = 1 + watched; i < cmd->arg_count; i++) {
        char err[KV_ERROR_BYTES];
        kv_result_t r;
        int rc = kv_command_decode(cmd->args[i].bytes, cmd->args[i].size, &kv->config, &sub, err,
                                   sizeof(err));
        if (rc == BALLOT_OK && (sub.op == KV_EXEC || sub.op == KV_WATCH || sub.op == KV_EXPIRED)) {
            rc = ballot_fail(BALLOT_EINVAL, err, sizeof(err), "ERR malformed command");
        }
        if (rc != BALLOT_OK) {
            kv_out_error(o, err);
            continue;
        }
        rc = kv_execute(kv, &sub, &r);
        if (rc != BALLOT_OK) {
            return rc;
        }
        kv_out_result(o, &r);
    }
    result_out(result, o);
    return BALLOT_OK;
}

int kv_execute(kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    if (kv_op_is_read(cmd->op)) {
        execute_read(kv, cmd, kv->time_ms, result);
        return BALLOT_OK;
    }
    kv->mod++;
    bool full = false;
    kv_entry_t *e = NULL;
    int64_t count = 0;
    switch (cmd->op) {
    case KV_SET:
        return execute_set(kv, cmd, result);
    case KV_DEL:
    case KV_UNLINK:
        for (uint32_t i = 0; i < cmd->arg_count; i++) {
            bool live = lookup_write(kv, cmd->args[i]) != NULL;
            count += live && delete_key(kv, cmd->args[i]) ? 1 : 0;
        }
        result_set(result, KV_RESULT_INTEGER, count);
        return BALLOT_OK;
    case KV_INCR:
        return execute_incrby(kv, cmd->args[0], 1, result);
    case KV_DECR:
        return execute_incrby(kv, cmd->args[0], -1, result);
    case KV_INCRBY:
        return execute_incrby(kv, cmd->args[0], slice_i64(cmd->args[1]), result);
    case KV_DECRBY:
        return execute_incrby(kv, cmd->args[0], -slice_i64(cmd->args[1]), result);
    case KV_INCRBYFLOAT:
        return execute_incrbyfloat(kv, cmd, result);
    case KV_CAS:
        return execute_cas(kv, cmd, result);
    case KV_MSET:
        return execute_mset(kv, cmd, false, result);
    case KV_MSETNX:
        return execute_mset(kv, cmd, true, result);
    case KV_APPEND:
        return execute_append(kv, cmd, result);
    case KV_SETRANGE:
        return execute_setrange(kv, cmd, result);
    case KV_SETNX:
        if (lookup_write(kv, cmd->args[0]) != NULL) {
            result_set(result, KV_RESULT_INTEGER, 0);
            return BALLOT_OK;
        }
        {
            int rc = store(kv, cmd->args[0], cmd->args[1].bytes, cmd->args[1].size, NULL, 0, false,
                           0, result, &full);
            if (rc == BALLOT_OK && !full) {
                result_set(result, KV_RESULT_INTEGER, 1);
            }
            return rc;
        }
    case KV_GETSET:
    case KV_GETDEL: {
        e = lookup_write(kv, cmd->args[0]);
        kv_result_t old;
        result_copy(kv, &old, e);
        int rc = BALLOT_OK;
        if (cmd->op == KV_GETDEL) {
            if (e != NULL) {
                delete_key(kv, cmd->args[0]);
            }
        } else {
            rc = store(kv, cmd->args[0], cmd->args[1].bytes, cmd->args[1].size, NULL, 0, false, 0,
                       result, &full);
            if (full) {
                return rc;
            }
        }
        *result = old;
        return rc;
    }
    case KV_RENAME:
    case KV_RENAMENX:
        return execute_rename(kv, cmd, cmd->op == KV_RENAMENX, result);
    case KV_COPY:
        return execute_copy(kv, cmd, result);
    case KV_FLUSHDB:
    case KV_FLUSHALL:
        execute_flush(kv);
        result_set(result, KV_RESULT_OK, 0);
        return BALLOT_OK;
    case KV_SETEX:
    case KV_PSETEX: {
        int64_t v = slice_i64(cmd->args[1]);
        uint64_t at = kv->time_ms + (uint64_t)(cmd->op == KV_SETEX ? v * 1000 : v);
        int rc = store(kv, cmd->args[0], cmd->args[2].bytes, cmd->args[2].size, NULL, 0, false, at,
                       result, &full);
        if (rc == BALLOT_OK && !full) {
            result_set(result, KV_RESULT_OK, 0);
        }
        return rc;
    }
    case KV_GETEX:
        return execute_getex(kv, cmd, result);
    case KV_EXPIRE:
    case KV_PEXPIRE:
    case KV_EXPIREAT:
    case KV_PEXPIREAT:
        return execute_expire(kv, cmd, result);
    case KV_PERSIST:
        e = lookup_write(kv, cmd->args[0]);
        if (e == NULL || e->expire_ms == 0) {
            result_set(result, KV_RESULT_INTEGER, 0);
            return BALLOT_OK;
        }
        entry_set_expire(kv, e, 0);
        e->version = kv->mod;
        result_set(result, KV_RESULT_INTEGER, 1);
        return BALLOT_OK;
    case KV_EXPIRED:
        return execute_expired(kv, cmd, result);
    case KV_WATCH:
        if (kv->current != NULL) {
            kv->current->watching = 1;
            kv->current->watch_mod = kv->mod;
            kv->current->watch_time = kv->time_ms;
        }
        result_set(result, KV_RESULT_OK, 0);
        return BALLOT_OK;
    case KV_EXEC:
        return execute_exec(kv, cmd, result);
    case KV_DELIFEQ:
    case KV_PEXPIREIFEQ:
    case KV_PEXTENDIFEQ:
        return execute_ifeq(kv, cmd, result);
    default:
        assert(false);
        return BALLOT_EINVAL;
    }
}

/* The remembered result of a duplicate. A read's is not kept: it reads again. */
static void cached_result(kv_t *kv, const kv_client_t *client, const uint8_t *bytes, uint32_t size,
                          kv_result_t *result)
{
    if (client->type == KV_CACHED_REREAD) {
        kv_command_t cmd;
        if (kv_command_decode(bytes, size, &kv->config, &cmd, NULL, 0) == BALLOT_OK &&
            kv_op_is_read(cmd.op)) {
            execute_read(kv, &cmd, kv->time_ms, result);
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
    kv->current = NULL;
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
        kv->current = kv_clients_find(&kv->clients, client_id);
    }
    kv_command_t cmd;
    int rc = kv_command_decode(bytes, size, &kv->config, &cmd, NULL, 0);
    bool watch = rc == BALLOT_OK && cmd.op == KV_WATCH;
    if (rc == BALLOT_ETOOLARGE) {
        result_error(result, KV_ERR_TOOLARGE);
    } else if (rc != BALLOT_OK) {
        result_error(result, KV_ERR_MALFORMED);
    } else {
        rc = kv_execute(kv, &cmd, result);
        if (rc != BALLOT_OK) {
            assert(rc == BALLOT_ENOMEM);
            kv->current = NULL;
            return rc;
        }
    }
    if (client_id != 0) {
        bool reread = rc == BALLOT_OK && kv_op_is_read(cmd.op);
        kv_clients_record(&kv->clients, client_id, sequence, result, reread);
        if (watch) {
            /* A new client's record exists only now. */
            kv_client_t *c = kv_clients_find(&kv->clients, client_id);
            c->watching = 1;
            c->watch_mod = kv->mod;
            c->watch_time = kv->time_ms;
        }
    }
    kv->current = NULL;
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
    kv_advance_time(kv, batch_stamp(value));
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

uint64_t kv_time_ms(const kv_t *kv)
{
    return kv->time_ms;
}

void kv_advance_time(kv_t *kv, uint64_t ms)
{
    /* A stamp past KV_TIME_MS_MAX (a clock billions of years off) is ignored, so that
     * time plus any accepted TTL stays far inside int64_t; every replica ignores it alike. */
    if (ms <= KV_TIME_MS_MAX && ms > kv->time_ms) {
        kv->time_ms = ms;
    }
}

int kv_read_command(const kv_t *kv, const kv_command_t *cmd, kv_result_t *result)
{
    *result = (kv_result_t){.type = KV_RESULT_ERROR, .error = KV_ERR_MALFORMED};
    if (cmd->op != KV_GET && cmd->op != KV_EXISTS) {
        return BALLOT_EINVAL;
    }
    int rc = kv_command_check(cmd, &kv->config, NULL, 0);
    if (rc != BALLOT_OK) {
        if (rc == BALLOT_ETOOLARGE) {
            result->error = KV_ERR_TOOLARGE;
        }
        return rc;
    }
    /* GET and EXISTS change nothing in kv, not even its buffers. */
    execute_read((kv_t *)(uintptr_t)kv, cmd, kv->time_ms, result);
    return BALLOT_OK;
}

int kv_read_now(kv_t *kv, const kv_command_t *cmd, uint64_t now_ms, kv_result_t *result)
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
    execute_read(kv, cmd, now_ms > kv->time_ms ? now_ms : kv->time_ms, result);
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

void kv_expiry_scan(const kv_t *kv, uint64_t now_ms, uint64_t *cursor, uint32_t slots,
                    uint32_t keys_max, kv_key_fn key_fn, void *ctx)
{
    const kv_table_t *t = &kv->table;
    if (t->capacity == 0 || kv->volatile_count == 0) {
        *cursor = 0;
        return;
    }
    uint64_t at = *cursor & (t->capacity - 1);
    uint32_t found = 0;
    for (uint32_t n = 0; n < slots && n < t->capacity && found < keys_max; n++) {
        const kv_entry_t *e = t->slots[at];
        if (e != NULL && e->expire_ms != 0 && e->expire_ms <= now_ms) {
            key_fn(ctx, kv_entry_key(e), e->key_size);
            found++;
        }
        at = (at + 1) & (t->capacity - 1);
    }
    *cursor = at;
}

uint64_t kv_volatile_count(const kv_t *kv)
{
    return kv->volatile_count;
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
