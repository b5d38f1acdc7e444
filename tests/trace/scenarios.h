/* The scenarios behind the golden generation views: each one produces the events every node
 * would have traced. They are written by hand from the seeds for now; a scenario's
 * `produce` can be swapped for a run of the real core (or a simulator seed) without
 * touching the golden comparison in test_trace_view.c. */
#ifndef BALLOT_TESTS_TRACE_SCENARIOS_H
#define BALLOT_TESTS_TRACE_SCENARIOS_H

#include <stddef.h>
#include <stdint.h>

#include "core/event.h"

/* Bounds a scenario's length. */
#define SCENARIO_EVENTS_MAX 4096u

typedef struct scenario_events {
    uint32_t node_count;
    size_t count;
    event_t events[SCENARIO_EVENTS_MAX];
} scenario_events_t;

typedef struct scenario {
    const char *name; /* golden files: golden/<name>.txt and golden/<name>.summary.txt */
    void (*produce)(scenario_events_t *out);
} scenario_t;

extern const scenario_t scenarios[];
extern const size_t scenario_count;

/* Appends one event (asserting the bound). */
void scenario_add(scenario_events_t *out, event_t event);

#endif
