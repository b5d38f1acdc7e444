/* The simulator's agenda: every future happening (a message arriving, a timer, a disk
 * sync finishing, a client acting, a fault) is one entry, taken in order of simulated
 * time and, at equal times, of insertion. That total order is what makes a run a pure
 * function of its seed. */
#ifndef BALLOT_SIM_QUEUE_H
#define BALLOT_SIM_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

/* Entries waiting at once; a run that needs more is reported as a simulator failure. */
#define QUEUE_ENTRIES_MAX (1u << 20)

typedef enum sim_event_kind {
    SIM_EV_DELIVER = 1, /* msg arrives at node */
    SIM_EV_TICK,        /* node's timer (a = timer generation) */
    SIM_EV_SYNC_DONE,   /* node's disk finished a sync (a = incarnation, b = sync id) */
    SIM_EV_CLIENT,      /* client `node` acts (a = client timer generation) */
    SIM_EV_FAULT,       /* the fault scheduler draws its next faults */
    SIM_EV_RESTART,     /* node comes back (a = incarnation it replaces) */
    SIM_EV_ACTION,      /* a scheduled fault action (a = action, b = argument) */
    SIM_EV_SNAPSHOT,    /* a snapshot reaches node (a = its incarnation, b = sender) */
} sim_event_kind_t;

typedef struct sim_event {
    uint64_t time_ms;
    uint64_t seq;
    sim_event_kind_t kind;
    uint32_t node;
    uint64_t a;
    uint64_t b;
    msg_t *msg; /* owned, for SIM_EV_DELIVER */
} sim_event_t;

typedef struct queue {
    sim_event_t *heap;
    size_t count;
    size_t capacity;
    uint64_t next_seq;
} queue_t;

void queue_init(queue_t *q);
/* Frees the entries and their messages. */
void queue_destroy(queue_t *q);
/* Adds ev (its seq is assigned here); false when the queue is full or out of memory,
 * in which case ev->msg is still the caller's. */
bool queue_push(queue_t *q, sim_event_t *ev);
bool queue_pop(queue_t *q, sim_event_t *out);

#endif
