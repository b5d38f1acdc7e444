/* The scenarios behind the golden generation views: runs of the real core (src/core) through
 * the core's test harness (tests/core/harness.c), whose events are collected as every node
 * emitted them. Two are the seeds' stories exactly as tests/core/scenarios.c tells them
 * (and ballot-demo prints them); the third is a longer 3-node run written here. */
#ifndef BALLOT_TESTS_TRACE_SCENARIOS_H
#define BALLOT_TESTS_TRACE_SCENARIOS_H

#include <stddef.h>
#include <stdint.h>

#include "core/event.h"

/* Bounds a scenario's length (the longest run emits about a thousand events). */
#define SCENARIO_EVENTS_MAX 16384u

typedef struct scenario_events {
    uint32_t node_count;
    size_t count;
    event_t events[SCENARIO_EVENTS_MAX]; /* each node's events in the order it emitted them */
} scenario_events_t;

typedef struct scenario {
    const char *name; /* golden files: golden/<name>.txt, golden/<name>.summary.txt, ... */
    void (*produce)(scenario_events_t *out);
} scenario_t;

extern const scenario_t scenarios[];
extern const size_t scenario_count;

/* The scenario called name; NULL when there is none. */
const scenario_t *scenario_find(const char *name);

#endif
