/* Tracing cost: events formatted and written per second to a file in /tmp, the way ballotd
 * writes them (one writer, 64 KiB buffer, no fsync), plus formatting alone and the ring.
 * Prints figures; asserts nothing about time (docs/performance.md). Not part of ctest.
 *
 *   bench_trace [EVENTS]        default 2000000 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/check.h"
#include "trace/trace.h"

#define BENCH_EVENTS_DEFAULT 2000000u
#define BENCH_EVENTS_MAX     100000000u
/* The events one client write causes at the leader of a 3-node cluster. */
#define EVENTS_PER_WRITE 7u

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The i-th event of a steady write load: proposed, accept_sent, 3 accepted, chosen, applied
 * for each slot, one command of a few bytes per slot. */
static void make_event(uint64_t i, event_t *e)
{
    static const event_kind_t kinds[EVENTS_PER_WRITE] = {
        EVENT_PROPOSED, EVENT_ACCEPT_SENT, EVENT_ACCEPTED, EVENT_ACCEPTED,
        EVENT_ACCEPTED, EVENT_CHOSEN,      EVENT_APPLIED,
    };
    uint64_t slot = 1000000u + i / EVENTS_PER_WRITE;
    uint32_t k = (uint32_t)(i % EVENTS_PER_WRITE);
    memset(e, 0, sizeof *e);
    e->kind = kinds[k];
    e->time_ms = 1700000000000u + i / 200u;
    e->node = 1;
    e->ballot = (ballot_t){.round = 42, .node = 1};
    e->slot_first = slot;
    e->slot_last = slot;
    e->peer = e->kind == EVENT_ACCEPTED ? (uint32_t)(k - 1u) : 0u;
    if (e->kind == EVENT_PROPOSED || e->kind == EVENT_ACCEPT_SENT) {
        e->command_count = 1;
        e->client_ids[0] = 9000u + slot % 50u;
        e->sequences[0] = slot;
    }
}

int main(int argc, char **argv)
{
    uint64_t count = argc > 1 ? strtoull(argv[1], NULL, 10) : BENCH_EVENTS_DEFAULT;
    if (count == 0 || count > BENCH_EVENTS_MAX) {
        fprintf(stderr, "usage: bench_trace [EVENTS <= %u]\n", BENCH_EVENTS_MAX);
        return 2;
    }
    event_t *events = malloc(EVENTS_PER_WRITE * 1024u * sizeof *events);
    assert(events != NULL);
    for (uint64_t i = 0; i < EVENTS_PER_WRITE * 1024u; i++) {
        make_event(i, &events[i]);
    }
    const uint64_t pool = EVENTS_PER_WRITE * 1024u;

    char line[TRACE_LINE_BYTES_MAX];
    uint64_t bytes = 0;
    double start = now_s();
    for (uint64_t i = 0; i < count; i++) {
        bytes += trace_format_event(&events[i % pool], line, sizeof line);
    }
    double format_s = now_s() - start;

    char path[64];
    snprintf(path, sizeof path, "/tmp/ballot-bench-%d.trace", (int)getpid());
    trace_writer_t *w = NULL;
    char msg[256];
    if (trace_writer_open(&w, path, 3, msg, sizeof msg) != BALLOT_OK) {
        fprintf(stderr, "bench_trace: %s\n", msg);
        return 1;
    }
    start = now_s();
    for (uint64_t i = 0; i < count; i++) {
        trace_writer_write(w, &events[i % pool]);
    }
    int rc = trace_writer_close(w);
    double write_s = now_s() - start;
    unlink(path);

    trace_ring_t *ring = NULL;
    rc |= trace_ring_create(&ring, TRACE_RING_EVENTS_DEFAULT);
    start = now_s();
    for (uint64_t i = 0; i < count; i++) {
        trace_ring_push(ring, &events[i % pool]);
    }
    double ring_s = now_s() - start;
    trace_ring_destroy(ring);
    free(events);

    printf("events %llu, %.1f bytes/event, %u events per client write\n", (unsigned long long)count,
           (double)bytes / (double)count, EVENTS_PER_WRITE);
    printf("format only      %8.2f M events/s  %6.1f ns/event\n", (double)count / format_s / 1e6,
           format_s * 1e9 / (double)count);
    printf("format+write     %8.2f M events/s  %6.1f ns/event  %7.1f MB/s  (%s)\n",
           (double)count / write_s / 1e6, write_s * 1e9 / (double)count,
           (double)bytes / write_s / 1e6, rc == BALLOT_OK ? "ok" : "write failed");
    printf("ring push        %8.2f M events/s  %6.1f ns/event\n", (double)count / ring_s / 1e6,
           ring_s * 1e9 / (double)count);
    printf("at 25000 writes/s: %.2f%% of one core for format+write\n",
           25000.0 * EVENTS_PER_WRITE * write_s / (double)count * 100.0);
    return rc == BALLOT_OK ? 0 : 1;
}
