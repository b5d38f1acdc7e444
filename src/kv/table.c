/* The key table (kv_internal.h). */
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "kv/kv_internal.h"

#define TABLE_CAPACITY_MIN ((uint64_t)16)
/* Grow when count would pass capacity * LOAD_NUM / LOAD_DEN. */
#define TABLE_LOAD_NUM 3u
#define TABLE_LOAD_DEN 4u

void kv_table_init(kv_table_t *t, uint64_t seed)
{
    memset(t, 0, sizeof(*t));
    /* Two SipHash key words from one seed: the second is an odd-constant multiple, so the
     * seeds 0 and 1 give unrelated keys. */
    t->seed[0] = seed ^ 0x0123456789abcdefull;
    t->seed[1] = seed * 0x9e3779b97f4a7c15ull + 0xfedcba9876543210ull;
}

void kv_table_free(kv_table_t *t)
{
    for (uint64_t i = 0; i < t->capacity; i++) {
        free(t->slots[i]);
    }
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

uint64_t kv_table_hash(const kv_table_t *t, const uint8_t *key, uint32_t key_size)
{
    return kv_siphash(t->seed, key, key_size, 1, 3);
}

uint64_t kv_entry_alloc_bytes(uint32_t key_size, uint32_t value_size)
{
    uint64_t size = sizeof(kv_entry_t) + (uint64_t)key_size + value_size + 8u;
    size = (size + 15u) & ~(uint64_t)15u;
    return size < 32u ? 32u : size;
}

kv_entry_t *kv_table_find(const kv_table_t *t, const uint8_t *key, uint32_t key_size,
                          uint64_t *slot_out)
{
    if (t->count == 0) {
        return NULL;
    }
    uint64_t hash = kv_table_hash(t, key, key_size);
    uint64_t mask = t->capacity - 1;
    /* The table is never full, so an empty slot ends every probe within capacity steps. */
    for (uint64_t i = hash & mask, n = 0; n < t->capacity; i = (i + 1) & mask, n++) {
        kv_entry_t *e = t->slots[i];
        if (e == NULL) {
            return NULL;
        }
        if (e->hash == (uint32_t)hash && e->key_size == key_size &&
            (key_size == 0 || memcmp(e->data, key, key_size) == 0)) {
            if (slot_out != NULL) {
                *slot_out = i;
            }
            return e;
        }
    }
    return NULL;
}

/* Puts e in the first free slot of its probe sequence. The hash kept in the entry is only
 * 32 bits, so placement uses it too; the table is below 2^32 slots (KV_KEYS_MAX). */
static void table_place(kv_entry_t **slots, uint64_t capacity, kv_entry_t *e)
{
    uint64_t mask = capacity - 1;
    uint64_t i = e->hash & mask;
    while (slots[i] != NULL) {
        i = (i + 1) & mask;
    }
    slots[i] = e;
}

static int table_resize(kv_table_t *t, uint64_t capacity)
{
    assert(capacity >= TABLE_CAPACITY_MIN);
    assert((capacity & (capacity - 1)) == 0);
    kv_entry_t **slots = calloc((size_t)capacity, sizeof(*slots));
    if (slots == NULL) {
        return BALLOT_ENOMEM;
    }
    for (uint64_t i = 0; i < t->capacity; i++) {
        if (t->slots[i] != NULL) {
            table_place(slots, capacity, t->slots[i]);
        }
    }
    free(t->slots);
    t->slots = slots;
    t->capacity = capacity;
    return BALLOT_OK;
}

int kv_table_reserve(kv_table_t *t, uint64_t more)
{
    uint64_t need = t->count + more;
    uint64_t capacity = t->capacity < TABLE_CAPACITY_MIN ? TABLE_CAPACITY_MIN : t->capacity;
    while (need > capacity / TABLE_LOAD_DEN * TABLE_LOAD_NUM) {
        capacity *= 2;
    }
    /* Slots are placed by a 32-bit hash: stay within it. */
    if (capacity > ((uint64_t)1 << 32)) {
        return BALLOT_ENOMEM;
    }
    return capacity == t->capacity ? BALLOT_OK : table_resize(t, capacity);
}

static kv_entry_t *entry_new(uint32_t hash, const uint8_t *key, uint32_t key_size, const uint8_t *a,
                             uint32_t a_size, const uint8_t *b, uint32_t b_size)
{
    uint32_t value_size = a_size + b_size;
    kv_entry_t *e = malloc(sizeof(kv_entry_t) + (size_t)key_size + value_size);
    if (e == NULL) {
        return NULL;
    }
    e->expire_ms = 0;
    e->version = 0;
    e->hash = hash;
    e->key_size = key_size;
    e->value_size = value_size;
    e->reserved = 0;
    if (key_size > 0) {
        memcpy(e->data, key, key_size);
    }
    if (a_size > 0) {
        memcpy(e->data + key_size, a, a_size);
    }
    if (b_size > 0) {
        memcpy(e->data + key_size + a_size, b, b_size);
    }
    return e;
}

/* The new value is a then b. a may point into the entry's own value at its start (APPEND,
 * SETRANGE keep a prefix), or anywhere in it when b is empty (CAS k v v, SET from a view). */
static int table_replace(kv_table_t *t, uint64_t slot, const uint8_t *a, uint32_t a_size,
                         const uint8_t *b, uint32_t b_size)
{
    kv_entry_t *old = t->slots[slot];
    uint32_t old_size = old->value_size;
    uint32_t value_size = a_size + b_size;
    const uint8_t *old_value = old->data + old->key_size;
    bool a_inside = a_size > 0 && a >= old_value && a < old_value + old_size;
    size_t a_offset = a_inside ? (size_t)(a - old_value) : 0;
    if (old_size != value_size) {
        kv_entry_t *e = realloc(old, sizeof(kv_entry_t) + (size_t)old->key_size + value_size);
        if (e == NULL) {
            return BALLOT_ENOMEM;
        }
        t->slots[slot] = e;
        old = e;
        if (a_inside) {
            a = old->data + old->key_size + a_offset;
        }
    }
    /* memmove: a may point into the entry itself. */
    if (a_size > 0) {
        memmove(old->data + old->key_size, a, a_size);
    }
    if (b_size > 0) {
        memmove(old->data + old->key_size + a_size, b, b_size);
    }
    old->value_size = value_size;
    t->value_bytes = t->value_bytes - old_size + value_size;
    t->alloc_bytes = t->alloc_bytes - kv_entry_alloc_bytes(old->key_size, old_size) +
                     kv_entry_alloc_bytes(old->key_size, value_size);
    return BALLOT_OK;
}

int kv_table_set2(kv_table_t *t, const uint8_t *key, uint32_t key_size, const uint8_t *a,
                  uint32_t a_size, const uint8_t *b, uint32_t b_size, kv_entry_t **out)
{
    uint64_t slot = 0;
    if (kv_table_find(t, key, key_size, &slot) != NULL) {
        int rc = table_replace(t, slot, a, a_size, b, b_size);
        if (rc == BALLOT_OK && out != NULL) {
            *out = t->slots[slot];
        }
        return rc;
    }
    assert(t->capacity > 0);
    assert(t->count + 1 <= t->capacity / TABLE_LOAD_DEN * TABLE_LOAD_NUM);
    uint32_t hash = (uint32_t)kv_table_hash(t, key, key_size);
    kv_entry_t *e = entry_new(hash, key, key_size, a, a_size, b, b_size);
    if (e == NULL) {
        return BALLOT_ENOMEM;
    }
    table_place(t->slots, t->capacity, e);
    t->count++;
    t->key_bytes += key_size;
    t->value_bytes += e->value_size;
    t->alloc_bytes += kv_entry_alloc_bytes(key_size, e->value_size);
    if (out != NULL) {
        *out = e;
    }
    return BALLOT_OK;
}

int kv_table_set(kv_table_t *t, const uint8_t *key, uint32_t key_size, const uint8_t *value,
                 uint32_t value_size, kv_entry_t **out)
{
    return kv_table_set2(t, key, key_size, value, value_size, NULL, 0, out);
}

/* Backward-shift deletion: after emptying slot `hole`, moves later members of the probe
 * run back into it when their home slot does not lie cyclically in (hole, j]. */
static void table_shift_back(kv_table_t *t, uint64_t hole)
{
    uint64_t mask = t->capacity - 1;
    uint64_t j = hole;
    /* The run ends at an empty slot, which exists since the table is never full. */
    for (uint64_t n = 0; n < t->capacity; n++) {
        j = (j + 1) & mask;
        kv_entry_t *e = t->slots[j];
        if (e == NULL) {
            return;
        }
        uint64_t home = e->hash & mask;
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            t->slots[hole] = e;
            t->slots[j] = NULL;
            hole = j;
        }
    }
}

bool kv_table_delete(kv_table_t *t, const uint8_t *key, uint32_t key_size)
{
    uint64_t slot = 0;
    kv_entry_t *e = kv_table_find(t, key, key_size, &slot);
    if (e == NULL) {
        return false;
    }
    t->count--;
    t->key_bytes -= e->key_size;
    t->value_bytes -= e->value_size;
    t->alloc_bytes -= kv_entry_alloc_bytes(e->key_size, e->value_size);
    free(e);
    t->slots[slot] = NULL;
    table_shift_back(t, slot);
    return true;
}
