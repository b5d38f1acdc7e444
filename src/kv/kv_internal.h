/* Private to src/kv: the store's data structures, shared by its files. */
#ifndef BALLOT_KV_KV_INTERNAL_H
#define BALLOT_KV_KV_INTERNAL_H

#include "kv/kv.h"

/* One key and its value in a single allocation (key bytes, then value bytes), so an entry
 * costs its bytes plus this 32-byte header, the allocator's rounding and one table slot.
 * The hash is kept to skip most key comparisons and to rehash without rereading keys.
 * expire_ms is the deadline in state-machine time (0: none); version is the modification
 * counter when the key last changed (WATCH). */
typedef struct kv_entry {
    uint64_t expire_ms;
    uint64_t version;
    uint32_t hash;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t reserved;
    uint8_t data[];
} kv_entry_t;

static inline const uint8_t *kv_entry_key(const kv_entry_t *e)
{
    return e->data;
}

static inline const uint8_t *kv_entry_value(const kv_entry_t *e)
{
    return e->data + e->key_size;
}

/* The keys: open addressing with linear probing over a power-of-two array of entry
 * pointers, at most 3/4 full, deletion by backward shift (no tombstones). Knuth, TAOCP
 * vol. 3, §6.4, Algorithm R is the deletion rule. */
typedef struct kv_table {
    kv_entry_t **slots;
    uint64_t capacity; /* 0 or a power of two */
    uint64_t count;
    uint64_t key_bytes; /* sums, for the snapshot size and memory estimate */
    uint64_t value_bytes;
    uint64_t alloc_bytes; /* entries as the allocator rounds them */
    uint64_t seed[2];
} kv_table_t;

/* SipHash-1-3 of bytes under a 128-bit key (Aumasson and Bernstein, "SipHash: a fast
 * short-input PRF", 2012): chosen keys cannot force collisions without the seed. */
uint64_t kv_siphash(const uint64_t key[2], const uint8_t *bytes, size_t size,
                    unsigned compression_rounds, unsigned finalization_rounds);

void kv_table_init(kv_table_t *t, uint64_t seed);
void kv_table_free(kv_table_t *t);
uint64_t kv_table_hash(const kv_table_t *t, const uint8_t *key, uint32_t key_size);
/* The entry of key, or NULL; *slot_out (may be NULL) is its slot index. */
kv_entry_t *kv_table_find(const kv_table_t *t, const uint8_t *key, uint32_t key_size,
                          uint64_t *slot_out);
/* Room for `more` new keys without growing; BALLOT_ENOMEM when it cannot grow. */
int kv_table_reserve(kv_table_t *t, uint64_t more);
/* Sets key to value (insert or replace; a replaced entry keeps its deadline and version,
 * a new one has neither). The table must have room (kv_table_reserve) for a new key.
 * BALLOT_ENOMEM leaves the table as it was. *out (may be NULL) is the entry. */
int kv_table_set(kv_table_t *t, const uint8_t *key, uint32_t key_size, const uint8_t *value,
                 uint32_t value_size, kv_entry_t **out);
/* Same with the value made of two parts (APPEND, SETRANGE): a then b. */
int kv_table_set2(kv_table_t *t, const uint8_t *key, uint32_t key_size, const uint8_t *a,
                  uint32_t a_size, const uint8_t *b, uint32_t b_size, kv_entry_t **out);
/* Removes key; true when it was there. */
bool kv_table_delete(kv_table_t *t, const uint8_t *key, uint32_t key_size);
/* The allocator's footprint of an entry of this size (glibc: 8-byte header, 16-byte
 * granules, 32-byte minimum). */
uint64_t kv_entry_alloc_bytes(uint32_t key_size, uint32_t value_size);

/* A remembered result (kv.h "Client table"). */
typedef struct kv_client {
    uint64_t client_id;
    uint64_t sequence;
    int64_t integer;
    uint32_t older; /* apply-order list: index + 1 of the neighbour, 0 for none */
    uint32_t newer;
    uint8_t type; /* kv_result_type_t, or KV_CACHED_REREAD */
    uint8_t error;
    uint8_t watching;    /* a WATCH was applied for this client ... */
    uint64_t watch_mod;  /* ... when the modification counter was this */
    uint64_t watch_time; /* ... and state-machine time this */
} kv_client_t;

/* A read (GET) is not kept: a duplicate reads again. */
#define KV_CACHED_REREAD 0u

/* The client table: records in a pool, an open-addressing index (u32: record index + 1,
 * 0 empty) over client ids, and a doubly linked list in apply order for eviction. */
typedef struct kv_clients {
    kv_client_t *records;
    uint32_t record_capacity;
    uint32_t count;
    uint32_t *index;
    uint32_t index_capacity; /* 0 or a power of two, at least twice count */
    uint32_t oldest;         /* index + 1, 0 when empty */
    uint32_t newest;
    uint32_t max;
    uint64_t seed;
} kv_clients_t;

void kv_clients_init(kv_clients_t *c, uint32_t max, uint64_t seed);
void kv_clients_free(kv_clients_t *c);
kv_client_t *kv_clients_find(const kv_clients_t *c, uint64_t client_id);
/* Makes sure kv_clients_record() of a new client cannot fail. BALLOT_ENOMEM. */
int kv_clients_reserve(kv_clients_t *c);
/* Remembers (client_id, sequence, result) as the newest, evicting the oldest client when
 * the table is full. Needs kv_clients_reserve() first for a new client. */
void kv_clients_record(kv_clients_t *c, uint64_t client_id, uint64_t sequence,
                       const kv_result_t *result, bool reread);
/* Appends a restored client as the newest (snapshot order is oldest first). */
int kv_clients_restore_one(kv_clients_t *c, const kv_client_t *client);

/* A growing reply buffer (RESP), bounded by KV_REPLY_BYTES_MAX. */
typedef struct kv_out {
    uint8_t *bytes;
    uint32_t size;
    uint32_t cap;
    bool over; /* something did not fit the bound or memory */
} kv_out_t;

struct kv {
    kv_config_t config;
    kv_table_t table;
    kv_clients_t clients;
    /* Replicated: state-machine time, the modification counter (one per applied write,
     * the version of what it changed) and, for keys that are gone, the counter of their
     * last deletion by hash bucket (kv_watch_bucket). */
    uint64_t time_ms;
    uint64_t mod;
    uint64_t deleted_mod[KV_WATCH_BUCKETS];
    uint64_t volatile_count; /* keys with a deadline */
    /* Not replicated: the reply being built, the client whose command runs. */
    kv_out_t out;      /* RESP replies (MGET, SCAN ...) */
    kv_out_t scratch;  /* values copied out before a change (GETSET, SET GET ...) */
    kv_out_t exec_out; /* the reply of the EXEC being applied */
    kv_client_t *current;
    uint64_t random_state;
};

/* The bucket of a key for deleted_mod: a fixed hash (every replica agrees on it, whatever
 * its table seed). */
uint32_t kv_watch_bucket(const uint8_t *key, uint32_t key_size);

/* RESP output into kv->out (reply.c). */
void kv_out_reset(kv_out_t *o);
void kv_out_free(kv_out_t *o);
void kv_out_array(kv_out_t *o, int64_t count);
void kv_out_bulk(kv_out_t *o, const uint8_t *bytes, uint32_t size);
void kv_out_nil(kv_out_t *o);
void kv_out_integer(kv_out_t *o, int64_t value);
void kv_out_simple(kv_out_t *o, const char *text);
void kv_out_error(kv_out_t *o, const char *text);
/* A result as a RESP element (for EXEC). */
void kv_out_result(kv_out_t *o, const kv_result_t *r);
/* Raw bytes. */
void kv_out_raw(kv_out_t *o, const void *bytes, size_t size);

/* Redis's glob (glob.c): '*', '?', '[...]' with ranges and '^', '\' escapes. */
bool kv_glob_match(const uint8_t *pattern, uint32_t pattern_size, const uint8_t *text,
                   uint32_t text_size);

/* Runs a decoded command (no client table) at kv->time_ms. BALLOT_ENOMEM: the node
 * must stop (kv.h). */
int kv_execute(kv_t *kv, const kv_command_t *cmd, kv_result_t *result);
/* A float's text, as parsed and as INCRBYFLOAT writes it (Redis's bound). */
#define KV_FLOAT_TEXT_BYTES 5120u
bool kv_parse_u64(const uint8_t *text, uint32_t size, uint64_t *out);
/* Parses a Redis-style float (strtold, no spaces, no NaN). */
bool kv_parse_ld(const uint8_t *text, uint32_t size, long double *out);

#endif
