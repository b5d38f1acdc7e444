/* Command encoding and checks (kv.h "Commands"; docs/commands.md). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/fail.h"
#include "base/endian.h"
#include "core/check.h"
#include "kv/kv_internal.h"

#define COMMAND_HEADER_BYTES     4u /* u8 format, u8 op, u16 arg_count */
#define COMMAND_ARG_HEADER_BYTES 4u
/* Command names quoted in error messages are cut to this many bytes. */
#define COMMAND_NAME_QUOTE_BYTES 48u
/* Relative and absolute deadlines are refused past this many ms, so that adding the
 * state machine's time can never overflow. */
#define EXPIRE_MS_MAX ((int64_t)1 << 62)

typedef struct op_info {
    const char *name; /* lower case, as errors quote it */
    int arity;        /* Redis's: N exact, -N at least N, the name counted */
    int first_key;    /* argv positions (the name is 0); 0: no keys */
    int last_key;     /* -1: the last argument */
    int step;
    bool read;
    bool client; /* a name clients may send */
} op_info_t;

static const op_info_t op_table[KV_OP_MAX + 1] = {
    [KV_GET] = {"get", 2, 1, 1, 1, true, true},
    [KV_SET] = {"set", -3, 1, 1, 1, false, true},
    [KV_DEL] = {"del", -2, 1, -1, 1, false, true},
    [KV_EXISTS] = {"exists", -2, 1, -1, 1, true, true},
    [KV_INCR] = {"incr", 2, 1, 1, 1, false, true},
    [KV_CAS] = {"cas", 4, 1, 1, 1, false, true},
    [KV_EXEC] = {"exec", -2, 0, 0, 0, false, false},
    [KV_WATCH] = {"watch", 1, 0, 0, 0, false, false},
    [KV_EXPIRED] = {"expired", -2, 1, -1, 1, false, false},
    [KV_INCRBY] = {"incrby", 3, 1, 1, 1, false, true},
    [KV_DECR] = {"decr", 2, 1, 1, 1, false, true},
    [KV_DECRBY] = {"decrby", 3, 1, 1, 1, false, true},
    [KV_INCRBYFLOAT] = {"incrbyfloat", 3, 1, 1, 1, false, true},
    [KV_MGET] = {"mget", -2, 1, -1, 1, true, true},
    [KV_MSET] = {"mset", -3, 1, -1, 2, false, true},
    [KV_MSETNX] = {"msetnx", -3, 1, -1, 2, false, true},
    [KV_APPEND] = {"append", 3, 1, 1, 1, false, true},
    [KV_STRLEN] = {"strlen", 2, 1, 1, 1, true, true},
    [KV_GETRANGE] = {"getrange", 4, 1, 1, 1, true, true},
    [KV_SETRANGE] = {"setrange", 4, 1, 1, 1, false, true},
    [KV_SETNX] = {"setnx", 3, 1, 1, 1, false, true},
    [KV_GETSET] = {"getset", 3, 1, 1, 1, false, true},
    [KV_GETDEL] = {"getdel", 2, 1, 1, 1, false, true},
    [KV_UNLINK] = {"unlink", -2, 1, -1, 1, false, true},
    [KV_TYPE] = {"type", 2, 1, 1, 1, true, true},
    [KV_RENAME] = {"rename", 3, 1, 2, 1, false, true},
    [KV_RENAMENX] = {"renamenx", 3, 1, 2, 1, false, true},
    [KV_COPY] = {"copy", -3, 1, 2, 1, false, true},
    [KV_KEYS] = {"keys", 2, 0, 0, 0, true, true},
    [KV_SCAN] = {"scan", -2, 0, 0, 0, true, true},
    [KV_RANDOMKEY] = {"randomkey", 1, 0, 0, 0, true, true},
    [KV_DBSIZE] = {"dbsize", 1, 0, 0, 0, true, true},
    [KV_FLUSHDB] = {"flushdb", -1, 0, 0, 0, false, true},
    [KV_FLUSHALL] = {"flushall", -1, 0, 0, 0, false, true},
    [KV_TOUCH] = {"touch", -2, 1, -1, 1, true, true},
    [KV_SETEX] = {"setex", 4, 1, 1, 1, false, true},
    [KV_PSETEX] = {"psetex", 4, 1, 1, 1, false, true},
    [KV_GETEX] = {"getex", -2, 1, 1, 1, false, true},
    [KV_EXPIRE] = {"expire", -3, 1, 1, 1, false, true},
    [KV_PEXPIRE] = {"pexpire", -3, 1, 1, 1, false, true},
    [KV_EXPIREAT] = {"expireat", -3, 1, 1, 1, false, true},
    [KV_PEXPIREAT] = {"pexpireat", -3, 1, 1, 1, false, true},
    [KV_TTL] = {"ttl", 2, 1, 1, 1, true, true},
    [KV_PTTL] = {"pttl", 2, 1, 1, 1, true, true},
    [KV_EXPIRETIME] = {"expiretime", 2, 1, 1, 1, true, true},
    [KV_PEXPIRETIME] = {"pexpiretime", 2, 1, 1, 1, true, true},
    [KV_PERSIST] = {"persist", 2, 1, 1, 1, false, true},
    [KV_SUBSTR] = {"substr", 4, 1, 1, 1, true, true},
    [KV_DELIFEQ] = {"delifeq", 3, 1, 1, 1, false, false},
    [KV_PEXPIREIFEQ] = {"pexpireifeq", 4, 1, 1, 1, false, false},
    [KV_PEXTENDIFEQ] = {"pextendifeq", 5, 1, 1, 1, false, false},
};

static bool op_valid(kv_op_t op)
{
    return (int)op >= 1 && (int)op <= (int)KV_OP_MAX && op_table[op].name != NULL;
}

const char *kv_op_name(kv_op_t op)
{
    static const char *const upper[KV_OP_MAX + 1] = {
        [KV_GET] = "GET",       [KV_SET] = "SET",   [KV_DEL] = "DEL",
        [KV_EXISTS] = "EXISTS", [KV_INCR] = "INCR", [KV_CAS] = "CAS",
    };
    if (!op_valid(op)) {
        return "UNKNOWN";
    }
    return upper[op] != NULL ? upper[op] : op_table[op].name;
}

bool kv_op_is_read(kv_op_t op)
{
    return op_valid(op) && op_table[op].read;
}

void kv_op_describe(kv_op_t op, int *arity, int *first_key, int *last_key, int *step)
{
    *arity = 0;
    *first_key = 0;
    *last_key = 0;
    *step = 0;
    if (op_valid(op)) {
        *arity = op_table[op].arity;
        *first_key = op_table[op].first_key;
        *last_key = op_table[op].last_key;
        *step = op_table[op].step;
    }
}

/* Arity over the arguments (n excludes the name). */
static bool arity_ok(kv_op_t op, uint32_t n)
{
    int arity = op_table[op].arity;
    if (n > KV_COMMAND_ARGS_MAX) {
        return false;
    }
    if (op == KV_MSET || op == KV_MSETNX) {
        return n >= 2 && n % 2 == 0;
    }
    return arity >= 0 ? n + 1 == (uint32_t)arity : n + 1 >= (uint32_t)-arity;
}

/* True when argument i (0-based, after the name) of cmd is a key (else a value). */
static bool arg_is_key(const kv_command_t *cmd, uint32_t i)
{
    const op_info_t *info = &op_table[cmd->op];
    if (cmd->op == KV_EXEC) {
        uint32_t watched = cmd->arg_count > 0 && cmd->args[0].size == 4 && cmd->args[0].bytes
                               ? get_u32(cmd->args[0].bytes)
                               : 0;
        return i >= 1 && i <= watched;
    }
    if (info->first_key == 0) {
        return false;
    }
    uint32_t pos = i + 1;
    uint32_t last = info->last_key < 0 ? cmd->arg_count : (uint32_t)info->last_key;
    return pos >= (uint32_t)info->first_key && pos <= last &&
           (pos - (uint32_t)info->first_key) % (uint32_t)info->step == 0;
}

static bool arg_is(const kv_slice_t *a, const char *word)
{
    size_t n = strlen(word);
    return a->size == n && strncasecmp((const char *)a->bytes, word, n) == 0;
}

/* The shape: op known, arity, sizes against the limits. */
static int check_shape(const kv_command_t *cmd, const kv_config_t *config, char *err,
                       size_t err_bytes)
{
    if (!op_valid(cmd->op)) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR unknown operation %d", (int)cmd->op);
    }
    if (!arity_ok(cmd->op, cmd->arg_count)) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes,
                           "ERR wrong number of arguments for '%s' command",
                           op_table[cmd->op].name);
    }
    for (uint32_t i = 0; i < cmd->arg_count; i++) {
        if (cmd->args[i].size > 0 && cmd->args[i].bytes == NULL) {
            return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR argument %u missing", i);
        }
        if (cmd->op == KV_EXEC && i > 0 && !arg_is_key(cmd, i)) {
            continue; /* a queued command: bounded by COMMAND_BYTES_MAX as a whole */
        }
        bool key = arg_is_key(cmd, i);
        uint32_t max = key ? config->key_bytes_max : config->value_bytes_max;
        if (cmd->args[i].size > max) {
            return ballot_fail(BALLOT_ETOOLARGE, err, err_bytes, "TOOLARGE %s exceeds %u bytes",
                               key ? "key" : "value", max);
        }
    }
    return BALLOT_OK;
}

static int fail_integer(char *err, size_t err_bytes)
{
    return ballot_fail(BALLOT_EINVAL, err, err_bytes,
                       "ERR value is not an integer or out of range");
}

static int fail_syntax(char *err, size_t err_bytes)
{
    return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR syntax error");
}

static int fail_expire(const kv_command_t *cmd, char *err, size_t err_bytes)
{
    return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR invalid expire time in '%s' command",
                       op_table[cmd->op].name);
}

/* A TTL or deadline argument: integer, and (positive when `positive`) within bounds once
 * made milliseconds. */
static int check_expire_arg(const kv_command_t *cmd, const kv_slice_t *a, bool seconds,
                            bool positive, char *err, size_t err_bytes)
{
    int64_t v = 0;
    if (!kv_parse_i64(a->bytes, a->size, &v)) {
        return fail_integer(err, err_bytes);
    }
    if (positive && v <= 0) {
        return fail_expire(cmd, err, err_bytes);
    }
    int64_t bound = seconds ? EXPIRE_MS_MAX / 1000 : EXPIRE_MS_MAX;
    if (v > bound || v < -bound) {
        return fail_expire(cmd, err, err_bytes);
    }
    return BALLOT_OK;
}

/* SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]: Redis 7's rules. */
static int check_set(const kv_command_t *cmd, char *err, size_t err_bytes)
{
    bool nx = false;
    bool xx = false;
    bool get = false;
    bool ttl = false;
    for (uint32_t i = 2; i < cmd->arg_count; i++) {
        const kv_slice_t *a = &cmd->args[i];
        bool has_next = i + 1 < cmd->arg_count;
        if (arg_is(a, "NX") && !xx) {
            nx = true;
        } else if (arg_is(a, "XX") && !nx) {
            xx = true;
        } else if (arg_is(a, "GET")) {
            get = true;
        } else if (arg_is(a, "KEEPTTL") && !ttl) {
            ttl = true;
        } else if ((arg_is(a, "EX") || arg_is(a, "PX") || arg_is(a, "EXAT") || arg_is(a, "PXAT")) &&
                   !ttl && has_next) {
            ttl = true;
            bool seconds = arg_is(a, "EX") || arg_is(a, "EXAT");
            int rc = check_expire_arg(cmd, &cmd->args[++i], seconds, true, err, err_bytes);
            if (rc != BALLOT_OK) {
                return rc;
            }
        } else {
            return fail_syntax(err, err_bytes);
        }
    }
    (void)get;
    return BALLOT_OK;
}

static int check_getex(const kv_command_t *cmd, char *err, size_t err_bytes)
{
    bool seen = false;
    for (uint32_t i = 1; i < cmd->arg_count; i++) {
        const kv_slice_t *a = &cmd->args[i];
        if (arg_is(a, "PERSIST") && !seen) {
            seen = true;
        } else if ((arg_is(a, "EX") || arg_is(a, "PX") || arg_is(a, "EXAT") || arg_is(a, "PXAT")) &&
                   !seen && i + 1 < cmd->arg_count) {
            seen = true;
            bool seconds = arg_is(a, "EX") || arg_is(a, "EXAT");
            int rc = check_expire_arg(cmd, &cmd->args[++i], seconds, true, err, err_bytes);
            if (rc != BALLOT_OK) {
                return rc;
            }
        } else {
            return fail_syntax(err, err_bytes);
        }
    }
    return BALLOT_OK;
}

/* EXPIRE key t [NX|XX|GT|LT]. */
static int check_expire(const kv_command_t *cmd, char *err, size_t err_bytes)
{
    bool seconds = cmd->op == KV_EXPIRE || cmd->op == KV_EXPIREAT;
    int rc = check_expire_arg(cmd, &cmd->args[1], seconds, false, err, err_bytes);
    if (rc != BALLOT_OK) {
        return rc;
    }
    bool nx = false;
    bool xx = false;
    bool gt = false;
    bool lt = false;
    for (uint32_t i = 2; i < cmd->arg_count; i++) {
        const kv_slice_t *a = &cmd->args[i];
        if (arg_is(a, "NX")) {
            nx = true;
        } else if (arg_is(a, "XX")) {
            xx = true;
        } else if (arg_is(a, "GT")) {
            gt = true;
        } else if (arg_is(a, "LT")) {
            lt = true;
        } else {
            return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR Unsupported option %.*s",
                               (int)(a->size < 64u ? a->size : 64u), (const char *)a->bytes);
        }
    }
    if (nx && (xx || gt || lt)) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes,
                           "ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if (gt && lt) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes,
                           "ERR GT and LT options at the same time are not compatible");
    }
    return BALLOT_OK;
}

bool kv_parse_u64(const uint8_t *text, uint32_t size, uint64_t *out)
{
    if (size == 0 || size > 20u) {
        return false;
    }
    uint64_t v = 0;
    for (uint32_t i = 0; i < size; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        uint64_t digit = (uint64_t)(text[i] - '0');
        if (v > (UINT64_MAX - digit) / 10u) {
            return false;
        }
        v = v * 10u + digit;
    }
    *out = v;
    return true;
}

/* SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]. */
static int check_scan(const kv_command_t *cmd, char *err, size_t err_bytes)
{
    uint64_t cursor = 0;
    if (!kv_parse_u64(cmd->args[0].bytes, cmd->args[0].size, &cursor)) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR invalid cursor");
    }
    for (uint32_t i = 1; i < cmd->arg_count; i += 2) {
        const kv_slice_t *a = &cmd->args[i];
        if (i + 1 >= cmd->arg_count) {
            return fail_syntax(err, err_bytes);
        }
        if (arg_is(a, "COUNT")) {
            int64_t n = 0;
            if (!kv_parse_i64(cmd->args[i + 1].bytes, cmd->args[i + 1].size, &n)) {
                return fail_integer(err, err_bytes);
            }
            if (n < 1) {
                return fail_syntax(err, err_bytes);
            }
        } else if (!arg_is(a, "MATCH") && !arg_is(a, "TYPE")) {
            return fail_syntax(err, err_bytes);
        }
    }
    return BALLOT_OK;
}

static int check_exec(const kv_command_t *cmd, char *err, size_t err_bytes)
{
    if (cmd->args[0].size != 4) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR malformed command");
    }
    uint32_t watched = get_u32(cmd->args[0].bytes);
    if (watched > cmd->arg_count - 1) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR malformed command");
    }
    /* Queued commands are decoded and checked one by one when applied. */
    return BALLOT_OK;
}

/* The syntax past the shape: options, numbers. */
static int check_syntax(const kv_command_t *cmd, const kv_config_t *config, char *err,
                        size_t err_bytes)
{
    const kv_slice_t *a = cmd->args;
    int64_t v = 0;
    long double d = 0;
    switch (cmd->op) {
    case KV_SET:
        return check_set(cmd, err, err_bytes);
    case KV_INCRBY:
    case KV_DECRBY:
        if (!kv_parse_i64(a[1].bytes, a[1].size, &v)) {
            return fail_integer(err, err_bytes);
        }
        if (cmd->op == KV_DECRBY && v == INT64_MIN) {
            return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR decrement would overflow");
        }
        return BALLOT_OK;
    case KV_INCRBYFLOAT:
        if (!kv_parse_ld(a[1].bytes, a[1].size, &d)) {
            return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR value is not a valid float");
        }
        return BALLOT_OK;
    case KV_GETRANGE:
    case KV_SUBSTR:
        if (!kv_parse_i64(a[1].bytes, a[1].size, &v) || !kv_parse_i64(a[2].bytes, a[2].size, &v)) {
            return fail_integer(err, err_bytes);
        }
        return BALLOT_OK;
    case KV_SETRANGE:
        if (!kv_parse_i64(a[1].bytes, a[1].size, &v)) {
            return fail_integer(err, err_bytes);
        }
        if (v < 0) {
            return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR offset is out of range");
        }
        if ((uint64_t)v + a[2].size > config->value_bytes_max) {
            return ballot_fail(BALLOT_EINVAL, err, err_bytes,
                               "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        }
        return BALLOT_OK;
    case KV_SETEX:
    case KV_PSETEX:
        return check_expire_arg(cmd, &a[1], cmd->op == KV_SETEX, true, err, err_bytes);
    case KV_GETEX:
        return check_getex(cmd, err, err_bytes);
    case KV_EXPIRE:
    case KV_PEXPIRE:
    case KV_EXPIREAT:
    case KV_PEXPIREAT:
        return check_expire(cmd, err, err_bytes);
    case KV_COPY:
        for (uint32_t i = 2; i < cmd->arg_count; i++) {
            if (arg_is(&a[i], "REPLACE")) {
                continue;
            }
            if (arg_is(&a[i], "DB") && i + 1 < cmd->arg_count) {
                i++;
                if (!kv_parse_i64(a[i].bytes, a[i].size, &v)) {
                    return fail_integer(err, err_bytes);
                }
                if (v != 0) {
                    return ballot_fail(BALLOT_EINVAL, err, err_bytes,
                                       "ERR DB index is out of range");
                }
                continue;
            }
            return fail_syntax(err, err_bytes);
        }
        return BALLOT_OK;
    case KV_SCAN:
        return check_scan(cmd, err, err_bytes);
    case KV_FLUSHDB:
    case KV_FLUSHALL:
        if (cmd->arg_count > 1 ||
            (cmd->arg_count == 1 && !arg_is(&a[0], "ASYNC") && !arg_is(&a[0], "SYNC"))) {
            return fail_syntax(err, err_bytes);
        }
        return BALLOT_OK;
    case KV_EXEC:
        return check_exec(cmd, err, err_bytes);
    case KV_PEXPIREIFEQ:
    case KV_PEXTENDIFEQ:
        if (cmd->op == KV_PEXTENDIFEQ && !arg_is(&a[3], "0") && !arg_is(&a[3], "1")) {
            return fail_syntax(err, err_bytes);
        }
        return check_expire_arg(cmd, &a[2], false, false, err, err_bytes);
    default:
        return BALLOT_OK;
    }
}

int kv_command_check(const kv_command_t *cmd, const kv_config_t *config, char *err,
                     size_t err_bytes)
{
    kv_config_t defaults;
    if (config == NULL) {
        kv_config_default(&defaults);
        config = &defaults;
    }
    int rc = check_shape(cmd, config, err, err_bytes);
    return rc != BALLOT_OK ? rc : check_syntax(cmd, config, err, err_bytes);
}

size_t kv_command_encoded_bytes(const kv_command_t *cmd)
{
    size_t total = COMMAND_HEADER_BYTES;
    for (uint32_t i = 0; i < cmd->arg_count && i < KV_COMMAND_ARGS_MAX; i++) {
        total += COMMAND_ARG_HEADER_BYTES + (size_t)cmd->args[i].size;
    }
    return total;
}

static int encode(const kv_command_t *cmd, uint8_t *out, size_t out_bytes, size_t *written)
{
    size_t total = kv_command_encoded_bytes(cmd);
    if (total > COMMAND_BYTES_MAX || total > out_bytes) {
        return BALLOT_ETOOLARGE;
    }
    out[0] = (uint8_t)KV_COMMAND_FORMAT;
    out[1] = (uint8_t)cmd->op;
    put_u16(out + 2, (uint16_t)cmd->arg_count);
    size_t offset = COMMAND_HEADER_BYTES;
    for (uint32_t i = 0; i < cmd->arg_count; i++) {
        put_u32(out + offset, cmd->args[i].size);
        offset += COMMAND_ARG_HEADER_BYTES;
        if (cmd->args[i].size > 0) {
            memcpy(out + offset, cmd->args[i].bytes, cmd->args[i].size);
        }
        offset += cmd->args[i].size;
    }
    assert(offset == total);
    *written = total;
    return BALLOT_OK;
}

int kv_command_encode(const kv_command_t *cmd, const kv_config_t *config, uint8_t *out,
                      size_t out_bytes, size_t *written)
{
    *written = 0;
    int rc = kv_command_check(cmd, config, NULL, 0);
    return rc != BALLOT_OK ? rc : encode(cmd, out, out_bytes, written);
}

int kv_command_encode_queued(const kv_command_t *cmd, const kv_config_t *config, uint8_t *out,
                             size_t out_bytes, size_t *written)
{
    kv_config_t defaults;
    if (config == NULL) {
        kv_config_default(&defaults);
        config = &defaults;
    }
    *written = 0;
    int rc = check_shape(cmd, config, NULL, 0);
    return rc != BALLOT_OK ? rc : encode(cmd, out, out_bytes, written);
}

static int decode_shape(const uint8_t *bytes, size_t size, kv_command_t *out, char *err,
                        size_t err_bytes)
{
    out->op = KV_GET;
    out->arg_count = 0;
    if (size < COMMAND_HEADER_BYTES || bytes[0] != KV_COMMAND_FORMAT) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR malformed command");
    }
    uint8_t op = bytes[1];
    uint16_t count = get_u16(bytes + 2);
    if (!op_valid((kv_op_t)op) || count > KV_COMMAND_ARGS_MAX) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR malformed command");
    }
    size_t offset = COMMAND_HEADER_BYTES;
    for (uint32_t i = 0; i < count; i++) {
        if (size - offset < COMMAND_ARG_HEADER_BYTES) {
            return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR malformed command");
        }
        uint32_t len = get_u32(bytes + offset);
        offset += COMMAND_ARG_HEADER_BYTES;
        if (len > size - offset) {
            return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR malformed command");
        }
        out->args[i] = (kv_slice_t){.bytes = bytes + offset, .size = len};
        offset += len;
    }
    if (offset != size) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR malformed command");
    }
    out->op = (kv_op_t)op;
    out->arg_count = count;
    return BALLOT_OK;
}

int kv_command_decode(const uint8_t *bytes, size_t size, const kv_config_t *config,
                      kv_command_t *out, char *err, size_t err_bytes)
{
    int rc = decode_shape(bytes, size, out, err, err_bytes);
    return rc != BALLOT_OK ? rc : kv_command_check(out, config, err, err_bytes);
}

/* Copies a client-supplied name into text for an error message, printable bytes only. */
static void quote_name(char *text, size_t text_bytes, const uint8_t *name, uint32_t size)
{
    size_t n = size < COMMAND_NAME_QUOTE_BYTES ? size : COMMAND_NAME_QUOTE_BYTES;
    n = n < text_bytes - 1 ? n : text_bytes - 1;
    for (size_t i = 0; i < n; i++) {
        text[i] = name[i] >= 32 && name[i] < 127 && name[i] != '\'' ? (char)name[i] : '?';
    }
    text[n] = '\0';
}

kv_op_t kv_op_from_name(const uint8_t *name, uint32_t size)
{
    char text[16];
    if (size == 0 || size >= sizeof(text)) {
        return (kv_op_t)0;
    }
    memcpy(text, name, size);
    text[size] = '\0';
    for (int op = 1; op <= (int)KV_OP_MAX; op++) {
        if (op_table[op].name != NULL && op_table[op].client &&
            strcasecmp(text, op_table[op].name) == 0) {
            return (kv_op_t)op;
        }
    }
    return (kv_op_t)0;
}

int kv_command_from_argv_ex(uint32_t argc, const uint8_t *const *argv, const uint32_t *argv_len,
                            const kv_config_t *config, bool syntax, kv_command_t *out, char *err,
                            size_t err_bytes)
{
    kv_config_t defaults;
    if (config == NULL) {
        kv_config_default(&defaults);
        config = &defaults;
    }
    out->op = KV_GET;
    out->arg_count = 0;
    if (argc == 0) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR empty command");
    }
    kv_op_t op = kv_op_from_name(argv[0], argv_len[0]);
    if (op == 0) {
        /* Redis's text: the arguments quoted while under 128 bytes. */
        char name[COMMAND_NAME_QUOTE_BYTES + 1];
        char args[160];
        size_t used = 0;
        args[0] = '\0';
        for (uint32_t i = 1; i < argc && used < 128u; i++) {
            char word[COMMAND_NAME_QUOTE_BYTES + 1];
            quote_name(word, sizeof(word), argv[i], argv_len[i]);
            int n = snprintf(args + used, sizeof(args) - used, "'%.*s' ", (int)(128u - used), word);
            used += n > 0 ? (size_t)n : 0;
            used = used < sizeof(args) ? used : sizeof(args) - 1;
        }
        quote_name(name, sizeof(name), argv[0], argv_len[0]);
        return ballot_fail(BALLOT_EINVAL, err, err_bytes,
                           "ERR unknown command '%s', with args beginning with: %s", name, args);
    }
    if (!arity_ok(op, argc - 1)) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes,
                           "ERR wrong number of arguments for '%s' command", op_table[op].name);
    }
    out->op = op;
    out->arg_count = argc - 1;
    for (uint32_t i = 1; i < argc; i++) {
        out->args[i - 1] = (kv_slice_t){.bytes = argv[i], .size = argv_len[i]};
    }
    int rc = check_shape(out, config, err, err_bytes);
    if (rc == BALLOT_OK && kv_command_encoded_bytes(out) > COMMAND_BYTES_MAX) {
        rc = ballot_fail(BALLOT_ETOOLARGE, err, err_bytes, "TOOLARGE command exceeds %u bytes",
                         COMMAND_BYTES_MAX);
    }
    if (rc == BALLOT_OK && syntax) {
        rc = check_syntax(out, config, err, err_bytes);
    }
    return rc;
}

int kv_command_from_argv(uint32_t argc, const uint8_t *const *argv, const uint32_t *argv_len,
                         const kv_config_t *config, kv_command_t *out, char *err, size_t err_bytes)
{
    return kv_command_from_argv_ex(argc, argv, argv_len, config, true, out, err, err_bytes);
}

bool kv_parse_ld(const uint8_t *text, uint32_t size, long double *out)
{
    char buf[KV_FLOAT_TEXT_BYTES];
    if (size == 0 || size >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, text, size);
    buf[size] = '\0';
    if (buf[0] == ' ' || buf[0] == '\t' || buf[0] == '\n' || buf[0] == '\r' || buf[0] == '\v' ||
        buf[0] == '\f') {
        return false;
    }
    char *end = NULL;
    long double v = strtold(buf, &end);
    if (end != buf + size || v != v) {
        return false;
    }
    *out = v;
    return true;
}
bool kv_parse_i64(const uint8_t *text, uint32_t size, int64_t *out)
{
    /* "-9223372036854775808" is the longest valid text. */
    if (size == 0 || size > 20u) {
        return false;
    }
    if (size == 1 && text[0] == '0') {
        *out = 0;
        return true;
    }
    bool negative = text[0] == '-';
    uint32_t i = negative ? 1u : 0u;
    if (i == size || text[i] < '1' || text[i] > '9') {
        return false;
    }
    uint64_t magnitude = 0;
    for (; i < size; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        uint64_t digit = (uint64_t)(text[i] - '0');
        if (magnitude > (UINT64_MAX - digit) / 10u) {
            return false;
        }
        magnitude = magnitude * 10u + digit;
    }
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    if (magnitude > limit) {
        return false;
    }
    *out = negative ? -(int64_t)(magnitude - 1u) - 1 : (int64_t)magnitude;
    return true;
}
