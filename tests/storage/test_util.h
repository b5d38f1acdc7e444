/* Helpers for the storage tests: deterministic records, a recovery collector that keeps
 * deep copies, and a small PRNG. */
#ifndef BALLOT_TESTS_STORAGE_TEST_UTIL_H
#define BALLOT_TESTS_STORAGE_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"

#define COLLECT_RECORDS_MAX 200000u

typedef struct collected {
    persist_record_t *records;
    size_t count;
    ballot_t promise_max;
} collected_t;

static inline uint64_t test_rng(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline bool test_sanitized(void)
{
    const char *v = getenv("BALLOT_SANITIZED");
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

/* A record of every kind in turn, its contents derived from seq (slot = seq). */
static inline persist_record_t test_record(uint64_t seq, uint32_t value_bytes_max)
{
    persist_record_t r;
    memset(&r, 0, sizeof(r));
    r.seq = seq;
    r.kind = (persist_kind_t)(seq % 7u == 0 ? PERSIST_PROMISE : 2u + seq % 3u);
    if (r.kind != PERSIST_PROMISE) {
        r.slot = seq;
    }
    if (r.kind == PERSIST_PROMISE || r.kind == PERSIST_ACCEPT) {
        r.ballot = (ballot_t){.round = seq, .node = (uint32_t)(seq % 5u) + 1u};
    }
    uint32_t size = value_bytes_max > 0 ? (uint32_t)((seq * 37u) % (value_bytes_max + 1u)) : 0;
    if ((r.kind == PERSIST_ACCEPT || r.kind == PERSIST_LEARN) && size > 0) {
        r.value.kind = VALUE_BATCH;
        r.value.size = size;
        r.value.bytes = malloc(size);
        for (uint32_t i = 0; i < size; i++) {
            r.value.bytes[i] = (uint8_t)(seq + i);
        }
    }
    return r;
}

static inline void test_record_free(persist_record_t *r)
{
    free(r->value.bytes);
    r->value.bytes = NULL;
}

static inline bool test_record_equal(const persist_record_t *a, const persist_record_t *b)
{
    return a->kind == b->kind && a->seq == b->seq && a->slot == b->slot &&
           a->ballot.round == b->ballot.round && a->ballot.node == b->ballot.node &&
           a->value.kind == b->value.kind && a->value.size == b->value.size &&
           (a->value.size == 0 || memcmp(a->value.bytes, b->value.bytes, a->value.size) == 0);
}

static inline int test_collect(void *ctx, const persist_record_t *record)
{
    collected_t *c = ctx;
    if (c->count >= COLLECT_RECORDS_MAX) {
        return BALLOT_ETOOLARGE;
    }
    if (c->count % 1024u == 0) {
        c->records = realloc(c->records, (c->count + 1024u) * sizeof(*c->records));
    }
    persist_record_t copy = *record;
    if (record->value.size > 0) {
        copy.value.bytes = malloc(record->value.size);
        memcpy(copy.value.bytes, record->value.bytes, record->value.size);
    }
    c->records[c->count++] = copy;
    bool carries = record->kind == PERSIST_PROMISE || record->kind == PERSIST_ACCEPT;
    if (carries && (record->ballot.round > c->promise_max.round ||
                    (record->ballot.round == c->promise_max.round &&
                     record->ballot.node > c->promise_max.node))) {
        c->promise_max = record->ballot;
    }
    return 0;
}

static inline void test_collected_free(collected_t *c)
{
    for (size_t i = 0; i < c->count; i++) {
        test_record_free(&c->records[i]);
    }
    free(c->records);
    memset(c, 0, sizeof(*c));
}

/* The user records (seq != 0) of a collection must be seqs first..last, each matching
 * test_record(seq). Returns the count checked, or -1. */
static inline long test_check_sequence(const collected_t *c, uint64_t first, uint64_t last,
                                       uint32_t value_bytes_max)
{
    uint64_t expect = first;
    for (size_t i = 0; i < c->count; i++) {
        if (c->records[i].seq == 0) {
            continue;
        }
        persist_record_t want = test_record(expect, value_bytes_max);
        bool same = test_record_equal(&c->records[i], &want);
        test_record_free(&want);
        if (!same) {
            return -1;
        }
        expect++;
    }
    return expect == last + 1u ? (long)(last + 1u - first) : -1;
}

#endif
