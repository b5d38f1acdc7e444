#include "sim/linearizability.h"

#include "core/check.h"
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* One invocation or completion in the walk's doubly linked list. */
typedef struct lin_entry {
    uint64_t time;
    uint32_t op; /* index into lin_t.ops */
    bool is_call;
    struct lin_entry *match; /* call <-> return */
    struct lin_entry *prev;
    struct lin_entry *next;
} lin_entry_t;

typedef struct lin_op {
    const history_op_t *h;
    bool indeterminate;
} lin_op_t;

typedef struct lin_cache {
    uint64_t *slots; /* per slot: words of bitset, then the state; hash 0 = empty */
    uint64_t *hashes;
    size_t capacity;
    size_t count;
    size_t words;
} lin_cache_t;

typedef struct lin_frame {
    lin_entry_t *entry;
    uint64_t state;
} lin_frame_t;

static bool lin_step(const lin_op_t *op, uint64_t state, uint64_t *next)
{
    const sim_command_t *c = &op->h->command;
    switch (c->op) {
    case KV_SET:
        *next = c->arg1;
        return true;
    case KV_DEL:
        *next = 0;
        return true;
    case KV_CAS: {
        /* The kv's CAS: an absent key never matches (kv.h). */
        bool swaps = state != 0 && state == c->arg1;
        if (!op->indeterminate && swaps != op->h->ok) {
            return false;
        }
        *next = swaps ? c->arg2 : state;
        return true;
    }
    case KV_GET:
        *next = state;
        return state == op->h->value;
    default:
        return false;
    }
}

static uint64_t lin_hash(const uint64_t *bits, size_t words, uint64_t state)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ state;
    for (size_t i = 0; i < words; i++) {
        h = (h ^ bits[i]) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
    h = (h ^ state) * 0xc4ceb9fe1a85ec53ull;
    return h == 0 ? 1 : h;
}

static bool lin_cache_grow(lin_cache_t *c)
{
    size_t capacity = c->capacity == 0 ? 1024 : c->capacity * 2;
    size_t stride = c->words + 1;
    if (capacity * (stride + 1) * sizeof(uint64_t) > LIN_CACHE_BYTES_MAX) {
        return false;
    }
    uint64_t *slots = malloc(capacity * stride * sizeof(uint64_t));
    uint64_t *hashes = calloc(capacity, sizeof(uint64_t));
    if (slots == NULL || hashes == NULL) {
        free(slots);
        free(hashes);
        return false;
    }
    for (size_t i = 0; i < c->capacity; i++) {
        if (c->hashes[i] == 0) {
            continue;
        }
        size_t j = (size_t)(c->hashes[i] & (capacity - 1));
        while (hashes[j] != 0) {
            j = (j + 1) & (capacity - 1);
        }
        hashes[j] = c->hashes[i];
        memcpy(&slots[j * stride], &c->slots[i * stride], stride * sizeof(uint64_t));
    }
    free(c->slots);
    free(c->hashes);
    c->slots = slots;
    c->hashes = hashes;
    c->capacity = capacity;
    return true;
}

/* Adds (bits, state); 1 when new, 0 when already there, -1 when over the bound. */
static int lin_cache_add(lin_cache_t *c, const uint64_t *bits, uint64_t state)
{
    if ((c->count + 1) * 2 > c->capacity && !lin_cache_grow(c)) {
        return -1;
    }
    size_t stride = c->words + 1;
    uint64_t h = lin_hash(bits, c->words, state);
    size_t j = (size_t)(h & (c->capacity - 1));
    while (c->hashes[j] != 0) {
        const uint64_t *s = &c->slots[j * stride];
        if (c->hashes[j] == h && s[c->words] == state &&
            memcmp(s, bits, c->words * sizeof(uint64_t)) == 0) {
            return 0;
        }
        j = (j + 1) & (c->capacity - 1);
    }
    c->hashes[j] = h;
    memcpy(&c->slots[j * stride], bits, c->words * sizeof(uint64_t));
    c->slots[j * stride + c->words] = state;
    c->count++;
    return 1;
}

static void lin_lift(lin_entry_t *call)
{
    call->prev->next = call->next;
    if (call->next != NULL) {
        call->next->prev = call->prev;
    }
    lin_entry_t *ret = call->match;
    ret->prev->next = ret->next;
    if (ret->next != NULL) {
        ret->next->prev = ret->prev;
    }
}

static void lin_unlift(lin_entry_t *call)
{
    lin_entry_t *ret = call->match;
    ret->prev->next = ret;
    if (ret->next != NULL) {
        ret->next->prev = ret;
    }
    call->prev->next = call;
    if (call->next != NULL) {
        call->next->prev = call;
    }
}

static int entry_order(const void *a, const void *b)
{
    const lin_entry_t *x = a, *y = b;
    if (x->time != y->time) {
        return x->time < y->time ? -1 : 1;
    }
    return 0;
}

typedef struct lin {
    lin_op_t *ops;
    size_t count;
    lin_entry_t *entries; /* 2 * count, plus the head at index 2 * count */
    lin_entry_t *head;
    uint64_t *bits;
    lin_frame_t *stack;
    lin_cache_t cache;
    size_t deepest;
    uint32_t stuck_op; /* the completion the deepest attempt could not get past */
} lin_t;

static bool lin_build(lin_t *l, const history_op_t *ops, size_t op_count, uint8_t key)
{
    memset(l, 0, sizeof(*l));
    for (size_t i = 0; i < op_count; i++) {
        const history_op_t *h = &ops[i];
        bool answered = h->completed != HISTORY_NEVER;
        if (h->command.key == key && (answered || h->command.op != KV_GET)) {
            l->count++;
        }
    }
    if (l->count > LIN_OPS_MAX) {
        return false;
    }
    size_t words = (l->count + 63) / 64;
    l->ops = calloc(l->count + 1, sizeof(*l->ops));
    l->entries = calloc(2 * l->count + 1, sizeof(*l->entries));
    l->bits = calloc(words + 1, sizeof(uint64_t));
    l->stack = calloc(l->count + 1, sizeof(*l->stack));
    l->cache.words = words;
    if (l->ops == NULL || l->entries == NULL || l->bits == NULL || l->stack == NULL) {
        return false;
    }
    size_t n = 0;
    for (size_t i = 0; i < op_count; i++) {
        const history_op_t *h = &ops[i];
        bool answered = h->completed != HISTORY_NEVER;
        if (h->command.key != key || (!answered && h->command.op == KV_GET)) {
            continue;
        }
        l->ops[n] = (lin_op_t){.h = h, .indeterminate = !answered};
        l->entries[2 * n] = (lin_entry_t){.time = h->invoked, .op = (uint32_t)n, .is_call = true};
        l->entries[2 * n + 1] =
            (lin_entry_t){.time = h->completed, .op = (uint32_t)n, .is_call = false};
        n++;
    }
    return true;
}

/* Sorts the entries by time, links them, and pairs calls with returns. */
static void lin_link(lin_t *l)
{
    size_t total = 2 * l->count;
    qsort(l->entries, total, sizeof(*l->entries), entry_order);
    lin_entry_t **call_of = calloc(l->count + 1, sizeof(*call_of));
    assert(call_of != NULL || l->count == 0);
    l->head = &l->entries[total];
    *l->head = (lin_entry_t){.time = 0, .prev = NULL, .next = total > 0 ? &l->entries[0] : NULL};
    for (size_t i = 0; i < total; i++) {
        lin_entry_t *e = &l->entries[i];
        e->prev = i == 0 ? l->head : &l->entries[i - 1];
        e->next = i + 1 < total ? &l->entries[i + 1] : NULL;
        if (e->is_call) {
            call_of[e->op] = e;
        }
    }
    for (size_t i = 0; i < total; i++) {
        lin_entry_t *e = &l->entries[i];
        if (!e->is_call) {
            e->match = call_of[e->op];
            call_of[e->op]->match = e;
        }
    }
    free(call_of);
}

static void lin_free(lin_t *l)
{
    free(l->ops);
    free(l->entries);
    free(l->bits);
    free(l->stack);
    free(l->cache.slots);
    free(l->cache.hashes);
}

static lin_result_t lin_search(lin_t *l)
{
    size_t depth = 0;
    uint64_t state = 0;
    lin_entry_t *entry = l->head->next;
    while (l->head->next != NULL) {
        if (entry->is_call) {
            uint64_t next;
            uint32_t op = entry->op;
            if (lin_step(&l->ops[op], state, &next)) {
                l->bits[op / 64] |= 1ull << (op % 64);
                int added = lin_cache_add(&l->cache, l->bits, next);
                if (added < 0) {
                    return LIN_UNKNOWN;
                }
                if (added > 0) {
                    l->stack[depth++] = (lin_frame_t){.entry = entry, .state = state};
                    state = next;
                    lin_lift(entry);
                    entry = l->head->next;
                    continue;
                }
                l->bits[op / 64] &= ~(1ull << (op % 64));
            }
            entry = entry->next;
            continue;
        }
        if (depth >= l->deepest) {
            l->deepest = depth;
            l->stuck_op = entry->op;
        }
        if (depth == 0) {
            return LIN_VIOLATION;
        }
        lin_frame_t f = l->stack[--depth];
        state = f.state;
        lin_unlift(f.entry);
        l->bits[f.entry->op / 64] &= ~(1ull << (f.entry->op % 64));
        entry = f.entry->next;
    }
    return LIN_OK;
}

static void lin_describe_op(const lin_op_t *op, char *buf, size_t buf_bytes)
{
    const history_op_t *h = op->h;
    const sim_command_t *c = &h->command;
    char done[48];
    if (op->indeterminate) {
        snprintf(done, sizeof(done), "?");
    } else {
        snprintf(done, sizeof(done), "%" PRIu64, h->complete_ms);
    }
    switch (c->op) {
    case KV_GET:
        snprintf(buf, buf_bytes, "[%" PRIu64 "..%s ms] c%u GET -> %" PRIx64, h->invoke_ms, done,
                 h->client, h->value);
        break;
    case KV_SET:
        snprintf(buf, buf_bytes,
                 "[%" PRIu64 "..%s ms] c%u SET %" PRIx64 " (seq %" PRIu64 ", slot %" PRIu64 ")",
                 h->invoke_ms, done, h->client, c->arg1, h->sequence, h->slot);
        break;
    case KV_DEL:
        snprintf(buf, buf_bytes, "[%" PRIu64 "..%s ms] c%u DEL (seq %" PRIu64 ", slot %" PRIu64 ")",
                 h->invoke_ms, done, h->client, h->sequence, h->slot);
        break;
    default:
        snprintf(buf, buf_bytes,
                 "[%" PRIu64 "..%s ms] c%u CAS %" PRIx64 "->%" PRIx64 " = %s (seq %" PRIu64
                 ", slot %" PRIu64 ")",
                 h->invoke_ms, done, h->client, c->arg1, c->arg2,
                 op->indeterminate ? "?" : (h->ok ? "ok" : "fail"), h->sequence, h->slot);
        break;
    }
}

#define LIN_EXPLAIN_BEFORE 6u
#define LIN_EXPLAIN_MAX    20u

/* True when op i is worth showing next to the stuck one: concurrent with it, or among the
 * last few that completed before it was invoked. */
static bool lin_relevant(const lin_t *l, size_t i)
{
    const history_op_t *stuck = l->ops[l->stuck_op].h;
    const history_op_t *h = l->ops[i].h;
    if (h->invoked <= stuck->completed && h->completed >= stuck->invoked) {
        return true;
    }
    if (h->completed >= stuck->invoked) {
        return false;
    }
    unsigned later = 0;
    for (size_t j = 0; j < l->count; j++) {
        const history_op_t *o = l->ops[j].h;
        if (o->completed < stuck->invoked && o->completed > h->completed) {
            later++;
        }
    }
    return later < LIN_EXPLAIN_BEFORE;
}

static void lin_explain(const lin_t *l, uint8_t key, char *why, size_t why_bytes)
{
    size_t used = 0;
    int n = snprintf(why, why_bytes,
                     "key %u: no order of its %zu operations explains the results "
                     "(=> marks where every order got stuck):",
                     key, l->count);
    used = n > 0 ? (size_t)n : 0;
    unsigned shown = 0;
    for (size_t i = 0; i < l->count && shown < LIN_EXPLAIN_MAX && used < why_bytes; i++) {
        if (!lin_relevant(l, i)) {
            continue;
        }
        char line[160];
        lin_describe_op(&l->ops[i], line, sizeof(line));
        n = snprintf(why + used, why_bytes - used, "\n    %s %s", i == l->stuck_op ? "=>" : "  ",
                     line);
        used += n > 0 ? (size_t)n : 0;
        shown++;
    }
}

lin_result_t lin_check_key(const history_op_t *ops, size_t op_count, uint8_t key, char *why,
                           size_t why_bytes)
{
    lin_t l;
    why[0] = '\0';
    if (!lin_build(&l, ops, op_count, key)) {
        lin_free(&l);
        return LIN_UNKNOWN;
    }
    lin_link(&l);
    lin_result_t result = lin_search(&l);
    if (result == LIN_VIOLATION) {
        lin_explain(&l, key, why, why_bytes);
    }
    lin_free(&l);
    return result;
}
