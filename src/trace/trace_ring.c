/* The last K events, kept in memory whether or not a trace file is written, so a node that
 * stops on an error can say what led there. */
#include <stdlib.h>

#include "core/check.h"
#include "trace/trace.h"

struct trace_ring {
    uint32_t capacity;
    uint64_t total; /* pushed ever; the next slot is total % capacity */
    event_t events[];
};

int trace_ring_create(trace_ring_t **out, uint32_t capacity)
{
    assert(out != NULL);
    *out = NULL;
    if (capacity == 0 || capacity > TRACE_RING_EVENTS_MAX) {
        return BALLOT_EINVAL;
    }
    trace_ring_t *ring = calloc(1, sizeof *ring + (size_t)capacity * sizeof(event_t));
    if (ring == NULL) {
        return BALLOT_ENOMEM;
    }
    ring->capacity = capacity;
    *out = ring;
    return BALLOT_OK;
}

void trace_ring_destroy(trace_ring_t *ring)
{
    free(ring);
}

void trace_ring_push(trace_ring_t *ring, const event_t *event)
{
    assert(ring != NULL);
    assert(event != NULL);
    ring->events[ring->total % ring->capacity] = *event;
    ring->total++;
}

void trace_ring_push_all(trace_ring_t *ring, const event_t *events, size_t count)
{
    assert(events != NULL || count == 0);
    for (size_t i = 0; i < count; i++) {
        trace_ring_push(ring, &events[i]);
    }
}

size_t trace_ring_count(const trace_ring_t *ring)
{
    assert(ring != NULL);
    return ring->total < ring->capacity ? (size_t)ring->total : ring->capacity;
}

uint64_t trace_ring_total(const trace_ring_t *ring)
{
    assert(ring != NULL);
    return ring->total;
}

const event_t *trace_ring_get(const trace_ring_t *ring, size_t i)
{
    size_t count = trace_ring_count(ring);
    assert(i < count);
    uint64_t oldest = ring->total - count;
    return &ring->events[(oldest + i) % ring->capacity];
}

int trace_ring_dump(const trace_ring_t *ring, FILE *out)
{
    assert(out != NULL);
    char line[TRACE_LINE_BYTES_MAX];
    size_t count = trace_ring_count(ring);
    for (size_t i = 0; i < count; i++) {
        size_t len = trace_format_event(trace_ring_get(ring, i), line, sizeof line);
        assert(len > 0);
        if (fwrite(line, 1, len, out) != len) {
            return BALLOT_EIO;
        }
    }
    return fflush(out) == 0 ? BALLOT_OK : BALLOT_EIO;
}
