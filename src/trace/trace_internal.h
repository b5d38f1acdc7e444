/* Helpers shared by the trace sources; not part of the trace API. */
#ifndef BALLOT_TRACE_TRACE_INTERNAL_H
#define BALLOT_TRACE_TRACE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/ballot.h"

/* Writes v in decimal (at most 20 bytes) at p; returns the end. */
char *trace_put_u64(char *p, uint64_t v);
/* Writes "r7.n2" (at most BALLOT_TEXT_BYTES - 1 bytes) at p; returns the end. */
char *trace_put_ballot(char *p, ballot_t b);

/* A set of slot ranges, printed compressed ("3-97, 99"). */
typedef struct trace_range {
    uint64_t first;
    uint64_t last;
} trace_range_t;

typedef struct trace_range_set {
    trace_range_t *items;
    size_t count;
    size_t capacity;
    bool normalized; /* sorted, merged, no adjacent ranges */
} trace_range_set_t;

/* A printed range list names at most this many ranges, then "(+N more)". */
#define TRACE_RANGES_PRINTED_MAX 8u

void trace_range_init(trace_range_set_t *set);
void trace_range_free(trace_range_set_t *set);
/* BALLOT_ENOMEM or BALLOT_ETOOLARGE (more than TRACE_EVENTS_MAX ranges). */
int trace_range_add(trace_range_set_t *set, uint64_t first, uint64_t last);
/* Sorts and merges overlapping and adjacent ranges. */
void trace_range_normalize(trace_range_set_t *set);
/* Slots covered (after normalize). */
uint64_t trace_range_total(const trace_range_set_t *set);
/* True when some slot in first..last is in the set (after normalize). */
bool trace_range_overlaps(const trace_range_set_t *set, uint64_t first, uint64_t last);
/* "slot 3", "slots 3-97, 99" (after normalize); "no slots" when empty. */
void trace_range_print(FILE *out, const trace_range_set_t *set);

#endif
