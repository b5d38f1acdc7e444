#include "sim/queue.h"

#include "core/check.h"
#include <stdlib.h>

static bool event_before(const sim_event_t *a, const sim_event_t *b)
{
    if (a->time_ms != b->time_ms) {
        return a->time_ms < b->time_ms;
    }
    return a->seq < b->seq;
}

void queue_init(queue_t *q)
{
    q->heap = NULL;
    q->count = 0;
    q->capacity = 0;
    q->next_seq = 0;
}

void queue_destroy(queue_t *q)
{
    for (size_t i = 0; i < q->count; i++) {
        if (q->heap[i].msg != NULL) {
            msg_free(q->heap[i].msg);
            free(q->heap[i].msg);
        }
    }
    free(q->heap);
    queue_init(q);
}

static bool queue_grow(queue_t *q)
{
    if (q->capacity >= QUEUE_ENTRIES_MAX) {
        return false;
    }
    size_t capacity = q->capacity == 0 ? 1024 : q->capacity * 2;
    if (capacity > QUEUE_ENTRIES_MAX) {
        capacity = QUEUE_ENTRIES_MAX;
    }
    sim_event_t *heap = realloc(q->heap, capacity * sizeof(*heap));
    if (heap == NULL) {
        return false;
    }
    q->heap = heap;
    q->capacity = capacity;
    return true;
}

bool queue_push(queue_t *q, sim_event_t *ev)
{
    if (q->count == q->capacity && !queue_grow(q)) {
        return false;
    }
    ev->seq = q->next_seq++;
    size_t i = q->count++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!event_before(ev, &q->heap[parent])) {
            break;
        }
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = *ev;
    return true;
}

bool queue_pop(queue_t *q, sim_event_t *out)
{
    if (q->count == 0) {
        return false;
    }
    *out = q->heap[0];
    sim_event_t last = q->heap[--q->count];
    size_t i = 0;
    size_t n = q->count;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) {
            break;
        }
        if (child + 1 < n && event_before(&q->heap[child + 1], &q->heap[child])) {
            child++;
        }
        if (!event_before(&q->heap[child], &last)) {
            break;
        }
        q->heap[i] = q->heap[child];
        i = child;
    }
    if (n > 0) {
        q->heap[i] = last;
    }
    assert(q->count < q->capacity || q->count == 0);
    return true;
}
