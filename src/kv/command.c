/* Command encoding and checks (kv.h "Commands"). */
#include <stdarg.h>
#include <stdio.h>
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

const char *kv_op_name(kv_op_t op)
{
    switch (op) {
    case KV_GET:
        return "GET";
    case KV_SET:
        return "SET";
    case KV_DEL:
        return "DEL";
    case KV_EXISTS:
        return "EXISTS";
    case KV_INCR:
        return "INCR";
    case KV_CAS:
        return "CAS";
    default:
        return "UNKNOWN";
    }
}

static const char *op_lower_name(kv_op_t op)
{
    static const char *const names[] = {"", "get", "set", "del", "exists", "incr", "cas"};
    return (int)op >= 1 && (int)op <= (int)KV_OP_MAX ? names[op] : "unknown";
}

bool kv_op_is_read(kv_op_t op)
{
    return op == KV_GET || op == KV_EXISTS;
}

/* Arity: exact count, or at least `min` when `variadic`. */
static bool arity_ok(kv_op_t op, uint32_t n)
{
    switch (op) {
    case KV_GET:
    case KV_INCR:
        return n == 1;
    case KV_SET:
        return n == 2;
    case KV_CAS:
        return n == 3;
    case KV_DEL:
    case KV_EXISTS:
        return n >= 1 && n <= KV_COMMAND_ARGS_MAX;
    default:
        return false;
    }
}

/* True when argument i of op is a key (else a value). */
static bool arg_is_key(kv_op_t op, uint32_t i)
{
    return i == 0 || op == KV_DEL || op == KV_EXISTS;
}

int kv_command_check(const kv_command_t *cmd, const kv_config_t *config, char *err,
                     size_t err_bytes)
{
    kv_config_t defaults;
    if (config == NULL) {
        kv_config_default(&defaults);
        config = &defaults;
    }
    if ((int)cmd->op < 1 || (int)cmd->op > (int)KV_OP_MAX) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR unknown operation %d", (int)cmd->op);
    }
    if (!arity_ok(cmd->op, cmd->arg_count)) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes,
                           "ERR wrong number of arguments for '%s' command",
                           op_lower_name(cmd->op));
    }
    for (uint32_t i = 0; i < cmd->arg_count; i++) {
        bool key = arg_is_key(cmd->op, i);
        uint32_t max = key ? config->key_bytes_max : config->value_bytes_max;
        if (cmd->args[i].size > max) {
            return ballot_fail(BALLOT_ETOOLARGE, err, err_bytes, "TOOLARGE %s exceeds %u bytes",
                               key ? "key" : "value", max);
        }
        if (cmd->args[i].size > 0 && cmd->args[i].bytes == NULL) {
            return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR argument %u missing", i);
        }
    }
    return BALLOT_OK;
}

size_t kv_command_encoded_bytes(const kv_command_t *cmd)
{
    size_t total = COMMAND_HEADER_BYTES;
    for (uint32_t i = 0; i < cmd->arg_count && i < KV_COMMAND_ARGS_MAX; i++) {
        total += COMMAND_ARG_HEADER_BYTES + (size_t)cmd->args[i].size;
    }
    return total;
}

int kv_command_encode(const kv_command_t *cmd, const kv_config_t *config, uint8_t *out,
                      size_t out_bytes, size_t *written)
{
    *written = 0;
    int rc = kv_command_check(cmd, config, NULL, 0);
    if (rc != BALLOT_OK) {
        return rc;
    }
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

int kv_command_decode(const uint8_t *bytes, size_t size, const kv_config_t *config,
                      kv_command_t *out, char *err, size_t err_bytes)
{
    out->op = KV_GET;
    out->arg_count = 0;
    if (size < COMMAND_HEADER_BYTES || bytes[0] != KV_COMMAND_FORMAT) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR malformed command");
    }
    uint8_t op = bytes[1];
    uint16_t count = get_u16(bytes + 2);
    if (op < 1 || op > KV_OP_MAX || count > KV_COMMAND_ARGS_MAX) {
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
    return kv_command_check(out, config, err, err_bytes);
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

static kv_op_t op_from_name(const uint8_t *name, uint32_t size)
{
    char text[8];
    if (size == 0 || size >= sizeof(text)) {
        return (kv_op_t)0;
    }
    memcpy(text, name, size);
    text[size] = '\0';
    for (int op = 1; op <= (int)KV_OP_MAX; op++) {
        if (strcasecmp(text, op_lower_name((kv_op_t)op)) == 0) {
            return (kv_op_t)op;
        }
    }
    return (kv_op_t)0;
}

int kv_command_from_argv(uint32_t argc, const uint8_t *const *argv, const uint32_t *argv_len,
                         const kv_config_t *config, kv_command_t *out, char *err, size_t err_bytes)
{
    out->op = KV_GET;
    out->arg_count = 0;
    if (argc == 0) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR empty command");
    }
    kv_op_t op = op_from_name(argv[0], argv_len[0]);
    if (op == 0) {
        char name[COMMAND_NAME_QUOTE_BYTES + 1];
        quote_name(name, sizeof(name), argv[0], argv_len[0]);
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR unknown command '%s'", name);
    }
    if (op == KV_SET && argc > 3) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes, "ERR syntax error");
    }
    if (!arity_ok(op, argc - 1)) {
        return ballot_fail(BALLOT_EINVAL, err, err_bytes,
                           "ERR wrong number of arguments for '%s' command", op_lower_name(op));
    }
    out->op = op;
    out->arg_count = argc - 1;
    for (uint32_t i = 1; i < argc; i++) {
        out->args[i - 1] = (kv_slice_t){.bytes = argv[i], .size = argv_len[i]};
    }
    int rc = kv_command_check(out, config, err, err_bytes);
    if (rc == BALLOT_OK && kv_command_encoded_bytes(out) > COMMAND_BYTES_MAX) {
        rc = ballot_fail(BALLOT_ETOOLARGE, err, err_bytes, "TOOLARGE command exceeds %u bytes",
                         COMMAND_BYTES_MAX);
    }
    return rc;
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
