/* The client table (kv.h "Client table"; the Raft dissertation, Ongaro 2014, §6.3,
 * describes the same session rule). Records live in a pool; an open-addressing index maps
 * client ids to records; a list in apply order picks the client to evict. Eviction order
 * depends only on the order of applies, which every replica shares. */
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "kv/kv_internal.h"

#define CLIENTS_INDEX_MIN 16u

void kv_clients_init(kv_clients_t *c, uint32_t max, uint64_t seed)
{
    memset(c, 0, sizeof(*c));
    c->max = max;
    c->seed = seed;
}

void kv_clients_free(kv_clients_t *c)
{
    free(c->records);
    free(c->index);
    memset(c, 0, sizeof(*c));
}

/* A 64-bit finalizer (the one of MurmurHash3) over the seeded id. */
static uint32_t client_home(const kv_clients_t *c, uint64_t client_id)
{
    uint64_t x = client_id ^ c->seed;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (uint32_t)x & (c->index_capacity - 1u);
}

/* The index slot holding client_id, or the empty slot where it would go. */
static uint32_t index_probe(const kv_clients_t *c, uint64_t client_id)
{
    uint32_t mask = c->index_capacity - 1u;
    uint32_t i = client_home(c, client_id);
    /* The index is at most half full, so an empty slot ends the probe. */
    for (uint32_t n = 0; n < c->index_capacity; n++, i = (i + 1u) & mask) {
        uint32_t r = c->index[i];
        if (r == 0 || c->records[r - 1u].client_id == client_id) {
            return i;
        }
    }
    assert(false);
    return 0;
}

kv_client_t *kv_clients_find(const kv_clients_t *c, uint64_t client_id)
{
    if (c->count == 0) {
        return NULL;
    }
    uint32_t r = c->index[index_probe(c, client_id)];
    return r == 0 ? NULL : &c->records[r - 1u];
}

static int index_resize(kv_clients_t *c, uint32_t capacity)
{
    uint32_t *index = calloc(capacity, sizeof(*index));
    if (index == NULL) {
        return BALLOT_ENOMEM;
    }
    free(c->index);
    c->index = index;
    c->index_capacity = capacity;
    for (uint32_t r = 0; r < c->count; r++) {
        c->index[index_probe(c, c->records[r].client_id)] = r + 1u;
    }
    return BALLOT_OK;
}

int kv_clients_reserve(kv_clients_t *c)
{
    if (c->count >= c->max) {
        return BALLOT_OK; /* a new client reuses the evicted one's record */
    }
    if (c->count == c->record_capacity) {
        uint32_t capacity = c->record_capacity < 16u ? 16u : c->record_capacity * 2u;
        capacity = capacity > c->max ? c->max : capacity;
        kv_client_t *records = realloc(c->records, (size_t)capacity * sizeof(*records));
        if (records == NULL) {
            return BALLOT_ENOMEM;
        }
        c->records = records;
        c->record_capacity = capacity;
    }
    if ((uint64_t)(c->count + 1u) * 2u > c->index_capacity) {
        uint32_t capacity =
            c->index_capacity < CLIENTS_INDEX_MIN ? CLIENTS_INDEX_MIN : c->index_capacity * 2u;
        return index_resize(c, capacity);
    }
    return BALLOT_OK;
}

static void list_unlink(kv_clients_t *c, uint32_t r)
{
    kv_client_t *x = &c->records[r - 1u];
    if (x->older != 0) {
        c->records[x->older - 1u].newer = x->newer;
    } else {
        c->oldest = x->newer;
    }
    if (x->newer != 0) {
        c->records[x->newer - 1u].older = x->older;
    } else {
        c->newest = x->older;
    }
    x->older = 0;
    x->newer = 0;
}

static void list_push_newest(kv_clients_t *c, uint32_t r)
{
    kv_client_t *x = &c->records[r - 1u];
    x->older = c->newest;
    x->newer = 0;
    if (c->newest != 0) {
        c->records[c->newest - 1u].newer = r;
    } else {
        c->oldest = r;
    }
    c->newest = r;
}

/* Empties index slot `hole` and shifts back the probe run after it (as the key table). */
static void index_remove_at(kv_clients_t *c, uint32_t hole)
{
    uint32_t mask = c->index_capacity - 1u;
    c->index[hole] = 0;
    uint32_t j = hole;
    for (uint32_t n = 0; n < c->index_capacity; n++) {
        j = (j + 1u) & mask;
        uint32_t r = c->index[j];
        if (r == 0) {
            return;
        }
        uint32_t home = client_home(c, c->records[r - 1u].client_id);
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            c->index[hole] = r;
            c->index[j] = 0;
            hole = j;
        }
    }
}

/* Frees a record for a new client: a fresh one, or the oldest client's. */
static uint32_t record_take(kv_clients_t *c, uint64_t client_id)
{
    uint32_t r;
    if (c->count < c->max) {
        assert(c->count < c->record_capacity);
        r = ++c->count;
    } else {
        r = c->oldest;
        assert(r != 0);
        list_unlink(c, r);
        index_remove_at(c, index_probe(c, c->records[r - 1u].client_id));
    }
    uint32_t slot = index_probe(c, client_id);
    assert(c->index[slot] == 0);
    c->index[slot] = r;
    c->records[r - 1u] = (kv_client_t){.client_id = client_id};
    list_push_newest(c, r);
    return r;
}

void kv_clients_record(kv_clients_t *c, uint64_t client_id, uint64_t sequence,
                       const kv_result_t *result, bool reread)
{
    assert(client_id != 0);
    kv_client_t *x = kv_clients_find(c, client_id);
    uint32_t r;
    if (x != NULL) {
        r = (uint32_t)(x - c->records) + 1u;
        list_unlink(c, r);
        list_push_newest(c, r);
    } else {
        r = record_take(c, client_id);
        x = &c->records[r - 1u];
    }
    assert(sequence > x->sequence || x->sequence == 0);
    x->sequence = sequence;
    /* Only what a duplicate needs, in one canonical form (snapshots compare bytes). A bulk
     * or array reply is not kept (it may be large): a duplicate says so (kv.h). */
    kv_result_type_t type = result->type;
    kv_error_t error = result->error;
    if (!reread && (type == KV_RESULT_BULK || type == KV_RESULT_RESP)) {
        type = KV_RESULT_ERROR;
        error = KV_ERR_UNKEPT;
    }
    x->type = reread ? (uint8_t)KV_CACHED_REREAD : (uint8_t)type;
    x->error = reread || type != KV_RESULT_ERROR ? (uint8_t)KV_ERR_NONE : (uint8_t)error;
    x->integer = !reread && type == KV_RESULT_INTEGER ? result->integer : 0;
}

int kv_clients_restore_one(kv_clients_t *c, const kv_client_t *client)
{
    if (c->count >= c->max || kv_clients_find(c, client->client_id) != NULL) {
        return BALLOT_EINVAL;
    }
    int rc = kv_clients_reserve(c);
    if (rc != BALLOT_OK) {
        return rc;
    }
    uint32_t r = record_take(c, client->client_id);
    kv_client_t *x = &c->records[r - 1u];
    x->sequence = client->sequence;
    x->type = client->type;
    x->error = client->error;
    x->integer = client->integer;
    x->watching = client->watching;
    x->watch_mod = client->watch_mod;
    x->watch_time = client->watch_time;
    return BALLOT_OK;
}
