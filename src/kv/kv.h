/* The replicated key-value state machine (docs/design.md "Layers": kv/).
 *
 * Every node applies the same chosen commands in the same order and so holds the same
 * state: kv_apply() is deterministic (no clock reads: time comes from the batches' stamps,
 * docs/design.md "Expiry and time"; no randomness that shows in the state or snapshots).
 * Keys and values are binary-safe byte strings.
 *
 * Commands. The bytes inside a command_t (core/value.h) are, little-endian:
 *
 *   u8 format (KV_COMMAND_FORMAT), u8 op (kv_op_t), u16 arg_count,
 *   then arg_count times: u32 length, length bytes
 *
 * The arguments are the Redis command's (kv_op_t says which ops ballotd makes itself);
 * docs/commands.md gives every command's reply and errors. CAS key expected new is
 * Ballot's own: integer 1 when the current value equals `expected` byte for byte (the
 * value becomes `new`), 0 otherwise; a missing key never matches.
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
/* Arguments of one command (DEL, MSET, EXEC... take several). */
#define KV_COMMAND_ARGS_MAX 1024u
#define KV_ERROR_BYTES      160u

/* Operation codes are part of the log's format: never renumber one. Arguments are the
 * Redis command's arguments as the client sent them (docs/commands.md), except EXEC, WATCH
 * and EXPIRED, which ballotd makes:
 *   EXEC     u32 watched-key count W (4 bytes), W watched keys, then each queued command
 *            as its own encoding (this format). Applied as one command: no other command
 *            runs between its parts, on any node.
 *   WATCH    no arguments: remembers the modification counter of this moment for the
 *            client (its next EXEC with watched keys checks against it).
 *   EXPIRED  keys: deletes each key whose deadline has passed in state-machine time (the
 *            leader's active expiry).
 * and the lock recipes ballotd recognises in place of their Lua scripts (docs/commands.md
 * "Scripts"), each integer 1 when the key holds `token`, else 0 and nothing changes:
 *   DELIFEQ key token              deletes the key
 *   PEXPIREIFEQ key token ms       sets its time to live to ms
 *   PEXTENDIFEQ key token ms r     r "1": as PEXPIREIFEQ; r "0": adds ms to the time to
 *                                  live (0 when the key has none) */
typedef enum kv_op {
    KV_GET = 1,
    KV_SET = 2,
    KV_DEL = 3,
    KV_EXISTS = 4,
    KV_INCR = 5,
    KV_CAS = 6,
    KV_EXEC = 7,
    KV_WATCH = 8,
    KV_EXPIRED = 9,
    KV_INCRBY = 10,
    KV_DECR = 11,
    KV_DECRBY = 12,
    KV_INCRBYFLOAT = 13,
    KV_MGET = 14,
    KV_MSET = 15,
    KV_MSETNX = 16,
    KV_APPEND = 17,
    KV_STRLEN = 18,
    KV_GETRANGE = 19,
    KV_SETRANGE = 20,
    KV_SETNX = 21,
    KV_GETSET = 22,
    KV_GETDEL = 23,
    KV_UNLINK = 24,
    KV_TYPE = 25,
    KV_RENAME = 26,
    KV_RENAMENX = 27,
    KV_COPY = 28,
    KV_KEYS = 29,
    KV_SCAN = 30,
    KV_RANDOMKEY = 31,
    KV_DBSIZE = 32,
    KV_FLUSHDB = 33,
    KV_FLUSHALL = 34,
    KV_TOUCH = 35,
    KV_SETEX = 36,
    KV_PSETEX = 37,
    KV_GETEX = 38,
    KV_EXPIRE = 39,
    KV_PEXPIRE = 40,
    KV_EXPIREAT = 41,
    KV_PEXPIREAT = 42,
    KV_TTL = 43,
    KV_PTTL = 44,
    KV_EXPIRETIME = 45,
    KV_PEXPIRETIME = 46,
    KV_PERSIST = 47,
    KV_SUBSTR = 48,
    KV_DELIFEQ = 49,
    KV_PEXPIREIFEQ = 50,
    KV_PEXTENDIFEQ = 51,
} kv_op_t;
#define KV_OP_MAX KV_PEXTENDIFEQ

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
/* True for the ops that change nothing (GET, EXISTS, MGET, STRLEN, GETRANGE, SUBSTR, TYPE,
 * KEYS, SCAN, RANDOMKEY, DBSIZE, TOUCH, TTL, PTTL, EXPIRETIME, PEXPIRETIME): they may run
 * through kv_read_now() without the log. */
bool kv_op_is_read(kv_op_t op);
/* The op of a Redis command name (any case), or 0. UNLINK is an op of its own, with DEL's
 * meaning; FLUSHDB and FLUSHALL likewise. EXEC, WATCH and EXPIRED are not names clients
 * may send: 0. */
kv_op_t kv_op_from_name(const uint8_t *name, uint32_t size);
/* Redis's arity of op as COMMAND reports it (N exact, -N at least N, the name counted) and
 * its key positions (first, last: -1 the last argument, step); 0 0 0 for no keys. */
void kv_op_describe(kv_op_t op, int *arity, int *first_key, int *last_key, int *step);

/* Checks arity, syntax and the limits of `config` (NULL: defaults); errors as Redis words
 * them:
 *   BALLOT_EINVAL     unknown op, wrong number of arguments ("ERR wrong number of
 *                     arguments for 'get' command"), "ERR syntax error", a bad number
 *                     ("ERR value is not an integer or out of range"), ...
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
/* From a Redis-style argv (argv[0] the command name, any case): every command of
 * docs/commands.md that the state machine runs. Errors as kv_command_check, plus
 * "ERR unknown command 'x', with args beginning with: ". */
int kv_command_from_argv(uint32_t argc, const uint8_t *const *argv, const uint32_t *argv_len,
                         const kv_config_t *config, kv_command_t *out, char *err, size_t err_bytes);

/* Same; with syntax false only the shape is checked (known command, arity, sizes), as
 * Redis checks a command queued after MULTI: the rest is checked when EXEC applies it. */
int kv_command_from_argv_ex(uint32_t argc, const uint8_t *const *argv, const uint32_t *argv_len,
                            const kv_config_t *config, bool syntax, kv_command_t *out, char *err,
                            size_t err_bytes);
/* Encodes a command checked for its shape only (a queued command of a transaction). */
int kv_command_encode_queued(const kv_command_t *cmd, const kv_config_t *config, uint8_t *out,
                             size_t out_bytes, size_t *written);

/* Parses a Redis-style decimal int64 (no spaces, no '+', no leading zeros, "-0" refused). */
bool kv_parse_i64(const uint8_t *text, uint32_t size, int64_t *out);

typedef enum kv_result_type {
    KV_RESULT_OK = 1,      /* status "OK" */
    KV_RESULT_INTEGER = 2, /* integer */
    KV_RESULT_BULK = 3,    /* bytes/size */
    KV_RESULT_NIL = 4,     /* missing key */
    KV_RESULT_ERROR = 5,   /* error; kv_error_text(error) is the RESP error text */
    KV_RESULT_RESP = 6,    /* bytes/size are a whole RESP reply (arrays: MGET, EXEC, ...) */
} kv_result_type_t;

typedef enum kv_error {
    KV_ERR_NONE = 0,
    KV_ERR_NOT_INTEGER = 1, /* "ERR value is not an integer or out of range" */
    KV_ERR_OVERFLOW = 2,    /* "ERR increment or decrement would overflow" */
    KV_ERR_TOOLARGE = 3,    /* "TOOLARGE key or value over the limit" */
    KV_ERR_MALFORMED = 4,   /* "ERR malformed command" (bytes that do not decode) */
    KV_ERR_STALE = 5,       /* "ERR stale request: a later sequence was already applied" */
    KV_ERR_FULL = 6,        /* "ERR key limit reached" */
    KV_ERR_NOT_FLOAT = 7,   /* "ERR value is not a valid float" */
    KV_ERR_NAN = 8,         /* "ERR increment would produce NaN or Infinity" */
    KV_ERR_NO_KEY = 9,      /* "ERR no such key" */
    KV_ERR_STRING_MAX = 10, /* "ERR string exceeds maximum allowed size (proto-max-bulk-len)" */
    KV_ERR_REPLY_MAX = 11,  /* the reply would exceed KV_REPLY_BYTES_MAX */
    KV_ERR_UNKEPT = 12,     /* a retried command whose array or bulk reply was not kept */
    KV_ERR_KEYS_MAX = 13,   /* KEYS past KV_KEYS_REPLY_MAX keys */
    KV_ERR_SAME = 14,       /* "ERR source and destination objects are the same" */
} kv_error_t;
#define KV_ERR_MAX KV_ERR_SAME

/* A reply (MGET, KEYS, EXEC ...) is at most this large; KEYS returns at most this many
 * keys (SCAN walks any number). */
#define KV_REPLY_BYTES_MAX ((uint32_t)(64u * 1024u * 1024u))
#define KV_KEYS_REPLY_MAX  100000u
/* The watch counters of missing keys (deleted after a WATCH): buckets by key hash. */
#define KV_WATCH_BUCKETS 1024u

typedef struct kv_result {
    kv_result_type_t type;
    int64_t integer;
    /* BULK, RESP: the bytes, pointing into the store; valid until the next call that
     * changes the kv (apply, read, restore, free). */
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

/* Applies one chosen command at the state machine's current time (kv_time_ms).
 * Malformed bytes or a command over the limits is a result (KV_RESULT_ERROR), never a
 * failure: every replica must reach the same state. Returns BALLOT_OK, or BALLOT_ENOMEM
 * when memory ran out: the state machine is then behind the log and the node must stop
 * (it must not serve, snapshot or apply again: an EXEC may be partly applied). */
int kv_apply(kv_t *kv, uint64_t client_id, uint64_t sequence, const uint8_t *bytes, uint32_t size,
             kv_result_t *result);

/* Called once per command of a batch, in order, with its result. */
typedef void (*kv_result_fn)(void *ctx, const command_t *command, const kv_result_t *result);
/* Applies every command of a chosen value (a no-op does nothing). The state machine's
 * time first becomes max(time, the batch's stamp) (docs/design.md "Expiry"). The batch
 * must have passed batch_validate() (core's msg_validate/WAL checks do); BALLOT_EINVAL
 * when not. BALLOT_ENOMEM as kv_apply (the commands before the failing one stay applied;
 * *applied says how many were). on_result may be NULL. */
int kv_apply_batch(kv_t *kv, const value_t *value, kv_result_fn on_result, void *ctx,
                   uint32_t *applied);
/* State-machine time in ms (Unix epoch as the leaders' clocks tell it): the largest batch
 * stamp applied, 0 before any. */
uint64_t kv_time_ms(const kv_t *kv);
/* Stamps above this are ignored (kv_advance_time). */
#define KV_TIME_MS_MAX ((uint64_t)1 << 61)
/* Moves state-machine time to max(time, ms) (tests, tools); ms above KV_TIME_MS_MAX is
 * ignored. */
void kv_advance_time(kv_t *kv, uint64_t ms);

/* Reads without the log (lease read or read index): GET or EXISTS of one key, at the
 * state machine's time. It touches no client table. BALLOT_EINVAL for another op;
 * BALLOT_ETOOLARGE for a key over the limit. */
int kv_read(const kv_t *kv, kv_op_t op, const uint8_t *key, uint32_t key_size, kv_result_t *result);
/* Same for a decoded GET or EXISTS. */
int kv_read_command(const kv_t *kv, const kv_command_t *cmd, kv_result_t *result);
/* Any read op (kv_op_is_read), with keys whose deadline is <= now_ms treated as missing
 * (now_ms below the state machine's time counts as that time). */
int kv_read_now(kv_t *kv, const kv_command_t *cmd, uint64_t now_ms, kv_result_t *result);

/* Active expiry: walks at most `slots` slots of the table from *cursor (a position of
 * this node's table, wrapping), handing to key_fn each key whose deadline is <= now_ms,
 * at most keys_max of them. The caller proposes EXPIRED with them. */
typedef void (*kv_key_fn)(void *ctx, const uint8_t *key, uint32_t key_size);
void kv_expiry_scan(const kv_t *kv, uint64_t now_ms, uint64_t *cursor, uint32_t slots,
                    uint32_t keys_max, kv_key_fn key_fn, void *ctx);
/* Keys with a deadline (expired or not). */
uint64_t kv_volatile_count(const kv_t *kv);

uint64_t kv_key_count(const kv_t *kv);
uint32_t kv_client_count(const kv_t *kv);
/* Bytes allocated for keys, values, the table and the client table (an estimate of the
 * allocator's share: entry sizes rounded as malloc does). */
uint64_t kv_memory_bytes(const kv_t *kv);

/* Snapshots. The byte stream, little-endian (format 2; format 1 is still read: it has no
 * state part, no per-key deadline and version, no watch fields):
 *   header  u32 magic KV_SNAPSHOT_MAGIC, u32 format KV_SNAPSHOT_FORMAT,
 *           u32 key_bytes_max, u32 value_bytes_max, u64 key_count, u32 client_count
 *   state   u64 time_ms, u64 modification counter, KV_WATCH_BUCKETS times u64 (format 2)
 *   keys    key_count times, in ascending byte order of key: u32 klen, u32 vlen,
 *           [u64 deadline_ms (0: none), u64 version (format 2)], key, value
 *   clients client_count times, least recently applied first:
 *           u64 client_id, u64 sequence, u8 result type, u8 error, i64 integer,
 *           [u8 watching, u64 watch counter, u64 watch time (format 2)]
 *   trailer u32 CRC-32C of everything before it
 * Chunks are handed to write_fn in order; it returns BALLOT_OK or an error that stops the
 * snapshot and is returned. */
#define KV_SNAPSHOT_MAGIC  0x53564B42u /* bytes 'B' 'K' 'V' 'S' */
#define KV_SNAPSHOT_FORMAT 2u
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
