/* Private to src/kv: the store's data structures, shared by its files. */
#ifndef BALLOT_KV_KV_INTERNAL_H
#define BALLOT_KV_KV_INTERNAL_H

#include "kv/kv.h"

/* One key and its value in a single allocation (key bytes, then value bytes), so an entry
 * costs its bytes plus this 12-byte header, the allocator's rounding and one table slot.
 * The hash is kept to skip most key comparisons and to rehash without rereading keys. */
typedef struct kv_entry {
    uint32_t hash;
    uint32_t key_size;
    uint32_t value_size;
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
/* Sets key to value (insert or replace). The table must have room (kv_table_reserve) for a
 * new key. BALLOT_ENOMEM leaves the table as it was. */
int kv_table_set(kv_table_t *t, const uint8_t *key, uint32_t key_size, const uint8_t *value,
                 uint32_t value_size);
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

struct kv {
    kv_config_t config;
    kv_table_t table;
    kv_clients_t clients;
};

/* Runs a decoded command (no client table). BALLOT_ENOMEM leaves the state unchanged. */
int kv_execute(kv_t *kv, const kv_command_t *cmd, kv_result_t *result);
/* Parses a Redis-style decimal int64 (no spaces, no '+', no leading zeros, "-0" refused). */
bool kv_parse_i64(const uint8_t *text, uint32_t size, int64_t *out);

#endif
