/* The replicated key-value state machine (docs/design.md "Layers": kv/).
 *
 * Every node applies the same chosen commands in the same order and so holds the same
 * state: kv_apply() is deterministic (no clocks, no randomness that shows in results or
 * snapshots). Keys and values are binary-safe byte strings.
 *
 * Commands. The bytes inside a command_t (core/value.h) are, little-endian:
 *
 *   u8 format (KV_COMMAND_FORMAT), u8 op (kv_op_t), u16 arg_count,
 *   then arg_count times: u32 length, length bytes
 *
 *   GET key            bulk value, or nil when the key is missing
 *   SET key value      status OK
 *   DEL key...         integer: how many of the keys existed (and were removed)
 *   EXISTS key...      integer: how many of the keys exist (a key named twice counts twice,
 *                      as in Redis)
 *   INCR key           integer: the new value. A missing key counts as 0. The value must be
 *                      a decimal signed 64-bit integer as Redis writes them (no spaces, no
 *                      '+', no leading zeros) or the result is KV_ERR_NOT_INTEGER; past
 *                      INT64_MAX it is KV_ERR_OVERFLOW. The key keeps its old value then.
 *   CAS key expected new
 *                      integer 1 when the current value equals `expected` byte for byte
 *                      (the value becomes `new`), 0 otherwise. A missing key never
 *                      matches: CAS on a missing key is 0 and creates nothing.
 *
 * Limits (kv_config_t) are part of the replicated state machine's definition: every node
 * of a cluster must run with the same limits, since they decide results.
 *
 * Client table (docs/design.md step 7). A command with client_id != 0 is applied at most once
 * per (client_id, sequence): the table keeps, per client, the last sequence applied and
 * its result.
 *   sequence >  last: applied; its result is remembered.
 *   sequence == last: not applied again; the remembered result is returned (a GET, whose
 *                     result is not kept, is read again, which is still linearizable:
 *                     the retry's read point lies within the retried request's lifetime).
 *   sequence <  last: not applied; result KV_ERR_STALE (the client must not have more than
 *                     one outstanding request per sequence, and must number them in the
 *                     order it wants them applied).
 * client_id 0 means "no session": applied every time, nothing remembered.
 * The table holds at most clients_max clients; when full, the client whose last command
 * was applied longest ago is evicted (an order every replica agrees on). A retry from an
 * evicted client is treated as new and may apply twice, so clients_max must exceed the
 * number of clients active within any retry window (the default is generous).
 *
 * Snapshots capture everything (keys and the client table, in eviction order) and are
 * byte-for-byte identical for identical states, whatever order the keys went in.
 *
 * A kv_t is not thread-safe: one thread applies and reads, or the caller locks. */
#ifndef BALLOT_KV_KV_H
#define BALLOT_KV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/value.h"

#define KV_COMMAND_FORMAT 1u
/* Default limits. */
#define KV_KEY_BYTES_MAX_DEFAULT   ((uint32_t)(64u * 1024u))
#define KV_VALUE_BYTES_MAX_DEFAULT ((uint32_t)(1024u * 1024u))
#define KV_CLIENTS_MAX_DEFAULT     65536u
#define KV_KEYS_MAX_DEFAULT        ((uint64_t)100000000u)
/* Hard ceilings: an encoded command fits COMMAND_BYTES_MAX. */
#define KV_KEY_BYTES_MAX   ((uint32_t)(64u * 1024u))
#define KV_VALUE_BYTES_MAX ((uint32_t)(1024u * 1024u))
#define KV_CLIENTS_MAX     ((uint32_t)(16u * 1024u * 1024u))
#define KV_KEYS_MAX        ((uint64_t)1 << 31)
/* Arguments of one command (DEL/EXISTS take several keys). */
#define KV_COMMAND_ARGS_MAX 256u
#define KV_ERROR_BYTES      160u

typedef enum kv_op {
    KV_GET = 1,
    KV_SET = 2,
    KV_DEL = 3,
    KV_EXISTS = 4,
    KV_INCR = 5,
    KV_CAS = 6,
} kv_op_t;
#define KV_OP_MAX KV_CAS

typedef struct kv_config {
    uint32_t key_bytes_max;   /* <= KV_KEY_BYTES_MAX */
    uint32_t value_bytes_max; /* <= KV_VALUE_BYTES_MAX */
    uint32_t clients_max;     /* 1..KV_CLIENTS_MAX */
    uint64_t keys_max;        /* 1..KV_KEYS_MAX; SET of a new key past it: KV_ERR_FULL */
    /* Seeds the hash table's hash (collision resistance against chosen keys). It changes
     * nothing observable: results and snapshots do not depend on it. */
    uint64_t hash_seed;
} kv_config_t;

void kv_config_default(kv_config_t *config);
/* BALLOT_OK or BALLOT_EINVAL with a reason. */
int kv_config_check(const kv_config_t *config, char *err, size_t err_bytes);

/* A view of bytes owned by someone else. */
typedef struct kv_slice {
    const uint8_t *bytes;
    uint32_t size;
} kv_slice_t;

/* A decoded command; args are views into the encoded bytes (or the caller's argv). */
typedef struct kv_command {
    kv_op_t op;
    uint32_t arg_count;
    kv_slice_t args[KV_COMMAND_ARGS_MAX];
} kv_command_t;

const char *kv_op_name(kv_op_t op); /* "GET", "SET", ... */
/* True for GET and EXISTS: they may run through kv_read() without the log. */
bool kv_op_is_read(kv_op_t op);

/* Checks arity and the limits of `config` (NULL: defaults).
 *   BALLOT_EINVAL     unknown op, wrong number of arguments ("ERR wrong number of
 *                     arguments for 'get' command")
 *   BALLOT_ETOOLARGE  a key or value over its limit ("TOOLARGE key exceeds 65536 bytes") */
int kv_command_check(const kv_command_t *cmd, const kv_config_t *config, char *err,
                     size_t err_bytes);
/* Bytes the encoding of cmd takes. */
size_t kv_command_encoded_bytes(const kv_command_t *cmd);
/* Checks cmd (as kv_command_check) and writes its encoding into out[0..out_bytes);
 * *written = bytes written. BALLOT_ETOOLARGE also when out_bytes is too small or the
 * encoding exceeds COMMAND_BYTES_MAX. */
int kv_command_encode(const kv_command_t *cmd, const kv_config_t *config, uint8_t *out,
                      size_t out_bytes, size_t *written);
/* Decodes and checks (as kv_command_check) bytes; out's args point into bytes.
 * BALLOT_EINVAL (malformed) or BALLOT_ETOOLARGE with a reason. */
int kv_command_decode(const uint8_t *bytes, size_t size, const kv_config_t *config,
                      kv_command_t *out, char *err, size_t err_bytes);
/* From a Redis-style argv (argv[0] the command name, any case): GET, SET, DEL, EXISTS,
 * INCR, CAS. SET takes only the plain form (SET key value). Errors as Redis words them:
 *   BALLOT_EINVAL     "ERR unknown command 'x'", "ERR wrong number of arguments for 'set'
 *                     command", "ERR syntax error"
 *   BALLOT_ETOOLARGE  "TOOLARGE ..." */
int kv_command_from_argv(uint32_t argc, const uint8_t *const *argv, const uint32_t *argv_len,
                         const kv_config_t *config, kv_command_t *out, char *err, size_t err_bytes);

typedef enum kv_result_type {
    KV_RESULT_OK = 1,      /* status "OK" */
    KV_RESULT_INTEGER = 2, /* integer */
    KV_RESULT_BULK = 3,    /* bytes/size */
    KV_RESULT_NIL = 4,     /* missing key */
    KV_RESULT_ERROR = 5,   /* error; kv_error_text(error) is the RESP error text */
} kv_result_type_t;

typedef enum kv_error {
    KV_ERR_NONE = 0,
    KV_ERR_NOT_INTEGER = 1, /* "ERR value is not an integer or out of range" */
    KV_ERR_OVERFLOW = 2,    /* "ERR increment or decrement would overflow" */
    KV_ERR_TOOLARGE = 3,    /* "TOOLARGE key or value over the limit" */
    KV_ERR_MALFORMED = 4,   /* "ERR malformed command" (bytes that do not decode) */
    KV_ERR_STALE = 5,       /* "ERR stale request: a later sequence was already applied" */
    KV_ERR_FULL = 6,        /* "ERR key limit reached" */
} kv_error_t;
#define KV_ERR_MAX KV_ERR_FULL

typedef struct kv_result {
    kv_result_type_t type;
    int64_t integer;
    /* BULK: the value, pointing into the store; valid until the next call that changes
     * the kv (apply, restore, free). */
    const uint8_t *bytes;
    uint32_t size;
    kv_error_t error;
    bool duplicate; /* the remembered result of an earlier apply of this sequence */
} kv_result_t;

const char *kv_error_text(kv_error_t error);

typedef struct kv kv_t;

/* config NULL means defaults. BALLOT_EINVAL (bad config, reason in err) or ENOMEM. */
int kv_create(kv_t **out, const kv_config_t *config, char *err, size_t err_bytes);
void kv_free(kv_t *kv);
const kv_config_t *kv_get_config(const kv_t *kv);

/* Applies one chosen command. Malformed bytes or a command over the limits is a result
 * (KV_RESULT_ERROR), never a failure: every replica must reach the same state. Returns
 * BALLOT_OK, or BALLOT_ENOMEM when memory ran out: the state machine is then behind the
 * log and the node must stop (its state is as before the command). */
int kv_apply(kv_t *kv, uint64_t client_id, uint64_t sequence, const uint8_t *bytes, uint32_t size,
             kv_result_t *result);

/* Called once per command of a batch, in order, with its result. */
typedef void (*kv_result_fn)(void *ctx, const command_t *command, const kv_result_t *result);
/* Applies every command of a chosen value (a no-op does nothing). The batch must have
 * passed batch_validate() (core's msg_validate/WAL checks do); BALLOT_EINVAL when not.
 * BALLOT_ENOMEM as kv_apply (the commands before the failing one stay applied; *applied
 * says how many were). on_result may be NULL. */
int kv_apply_batch(kv_t *kv, const value_t *value, kv_result_fn on_result, void *ctx,
                   uint32_t *applied);

/* Reads without the log (lease read or read index): GET or EXISTS of one key. It touches
 * no client table. BALLOT_EINVAL for another op; BALLOT_ETOOLARGE for a key over the
 * limit. */
int kv_read(const kv_t *kv, kv_op_t op, const uint8_t *key, uint32_t key_size, kv_result_t *result);
/* Same for a decoded read command (EXISTS with several keys). */
int kv_read_command(const kv_t *kv, const kv_command_t *cmd, kv_result_t *result);

uint64_t kv_key_count(const kv_t *kv);
uint32_t kv_client_count(const kv_t *kv);
/* Bytes allocated for keys, values, the table and the client table (an estimate of the
 * allocator's share: entry sizes rounded as malloc does). */
uint64_t kv_memory_bytes(const kv_t *kv);

/* Snapshots. The byte stream, little-endian:
 *   header  u32 magic KV_SNAPSHOT_MAGIC, u32 format KV_SNAPSHOT_FORMAT,
 *           u32 key_bytes_max, u32 value_bytes_max, u64 key_count, u32 client_count
 *   keys    key_count times, in ascending byte order of key: u32 klen, u32 vlen, key, value
 *   clients client_count times, least recently applied first:
 *           u64 client_id, u64 sequence, u8 result type, u8 error, i64 integer
 *   trailer u32 CRC-32C of everything before it
 * Chunks are handed to write_fn in order; it returns BALLOT_OK or an error that stops the
 * snapshot and is returned. */
#define KV_SNAPSHOT_MAGIC  0x53564B42u /* bytes 'B' 'K' 'V' 'S' */
#define KV_SNAPSHOT_FORMAT 1u
typedef int (*kv_write_fn)(void *ctx, const void *bytes, size_t size);
/* BALLOT_OK, BALLOT_ENOMEM, or write_fn's error. */
int kv_snapshot_write(const kv_t *kv, kv_write_fn write_fn, void *ctx);
/* Exact size kv_snapshot_write() will produce. */
uint64_t kv_snapshot_bytes(const kv_t *kv);
/* The whole snapshot in one new buffer (the caller frees *bytes): BALLOT_OK,
 * BALLOT_ETOOLARGE when it would exceed bytes_max, or BALLOT_ENOMEM. */
int kv_snapshot_image(const kv_t *kv, uint64_t bytes_max, uint8_t **bytes, uint64_t *size);
/* Replaces the whole state with the snapshot's. The bytes are checked completely before
 * the old state is dropped, so the two never take memory together. Errors, reason in err:
 *   BALLOT_ECORRUPT  checksum, truncation, bad magic/format, malformed, unsorted or
 *                    duplicate keys or clients (the kv is unchanged)
 *   BALLOT_EINVAL    a key, value, key count or client count over this kv's limits: the
 *                    nodes' limits differ (the kv is unchanged)
 *   BALLOT_ENOMEM    the kv is left empty; the node must stop (or restore again) */
int kv_snapshot_restore(kv_t *kv, const uint8_t *bytes, size_t size, char *err, size_t err_bytes);

#endif
