/* Slot range sets: how `ballot trace` says "slots 3-97 chosen" instead of 95 lines. */
#include <stdlib.h>

#include "core/check.h"
#include "core/error.h"
#include "trace/trace.h"
#include "trace/trace_internal.h"

#define RANGE_CAPACITY_FIRST 16u

void trace_range_init(trace_range_set_t *set)
{
    assert(set != NULL);
    set->items = NULL;
    set->count = 0;
    set->capacity = 0;
    set->normalized = true;
}

void trace_range_free(trace_range_set_t *set)
{
    if (set != NULL) {
        free(set->items);
        trace_range_init(set);
    }
}

int trace_range_add(trace_range_set_t *set, uint64_t first, uint64_t last)
{
    assert(set != NULL);
    if (last < first) {
        uint64_t swap = first;
        first = last;
        last = swap;
    }
    if (set->count > 0) {
        /* Slots mostly arrive in order: extend the newest range instead of adding one. */
        trace_range_t *tail = &set->items[set->count - 1];
        if (first >= tail->first && (first <= tail->last || first - 1u == tail->last)) {
            tail->last = last > tail->last ? last : tail->last;
            return BALLOT_OK;
        }
    }
    if (set->count == set->capacity) {
        if (set->capacity >= TRACE_EVENTS_MAX) {
            return BALLOT_ETOOLARGE;
        }
        size_t capacity = set->capacity == 0 ? RANGE_CAPACITY_FIRST : set->capacity * 2u;
        trace_range_t *items = realloc(set->items, capacity * sizeof *items);
        if (items == NULL) {
            return BALLOT_ENOMEM;
        }
        set->items = items;
        set->capacity = capacity;
    }
    if (set->count > 0 && first < set->items[set->count - 1].first) {
        set->normalized = false;
    }
    set->items[set->count++] = (trace_range_t){.first = first, .last = last};
    return BALLOT_OK;
}

static int compare_ranges(const void *pa, const void *pb)
{
    const trace_range_t *a = pa;
    const trace_range_t *b = pb;
    if (a->first != b->first) {
        return a->first < b->first ? -1 : 1;
    }
    if (a->last != b->last) {
        return a->last < b->last ? -1 : 1;
    }
    return 0;
}

void trace_range_normalize(trace_range_set_t *set)
{
    assert(set != NULL);
    if (!set->normalized) {
        qsort(set->items, set->count, sizeof set->items[0], compare_ranges);
    }
    size_t kept = 0;
    for (size_t i = 0; i < set->count; i++) {
        trace_range_t r = set->items[i];
        if (kept > 0) {
            trace_range_t *tail = &set->items[kept - 1];
            if (r.first <= tail->last || r.first - 1u == tail->last) {
                tail->last = r.last > tail->last ? r.last : tail->last;
                continue;
            }
        }
        set->items[kept++] = r;
    }
    set->count = kept;
    set->normalized = true;
}

uint64_t trace_range_total(const trace_range_set_t *set)
{
    assert(set->normalized);
    uint64_t total = 0;
    for (size_t i = 0; i < set->count; i++) {
        total += set->items[i].last - set->items[i].first + 1u;
    }
    return total;
}

bool trace_range_overlaps(const trace_range_set_t *set, uint64_t first, uint64_t last)
{
    assert(set->normalized);
    size_t lo = 0;
    size_t hi = set->count;
    /* The first range whose end is at or after `first`. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2u;
        if (set->items[mid].last < first) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo < set->count && set->items[lo].first <= last;
}

void trace_range_print(FILE *out, const trace_range_set_t *set)
{
    assert(set->normalized);
    if (set->count == 0) {
        fputs("no slots", out);
        return;
    }
    bool single = set->count == 1 && set->items[0].first == set->items[0].last;
    fputs(single ? "slot " : "slots ", out);
    size_t shown = set->count < TRACE_RANGES_PRINTED_MAX ? set->count : TRACE_RANGES_PRINTED_MAX;
    for (size_t i = 0; i < shown; i++) {
        const trace_range_t *r = &set->items[i];
        fprintf(out, i == 0 ? "%llu" : ", %llu", (unsigned long long)r->first);
        if (r->last != r->first) {
            fprintf(out, "-%llu", (unsigned long long)r->last);
        }
    }
    if (shown < set->count) {
        fprintf(out, " (+%zu more ranges)", set->count - shown);
    }
}
