/* The run's protocol trace, and what a violation report shows of it.
 *
 * --trace FILE writes every core event (event.h) of the run with src/trace's writer, as
 * JSON lines (docs/debugging.md), one event a line, with one change: "t" is the
 * simulator's true time in ms rather than the node's own clock (which the simulator skews
 * on purpose), so `ballot trace FILE` merges the nodes of a run on one time line.
 * Simulator happenings (crash, restart, partition, disk faults) are not protocol events
 * and are not in the file; they are in the listing below.
 *
 * On a violation the report shows the last TRACELOG_RING happenings as text lines,
 *
 *   t=<true ms> n<node> <event> [b=<ballot>] [s=<first>[..<last>]] [peer=n<id>]
 *       [other=<ballot>] [until=<ms>] [dur=<ms>] [reason=<name>]
 *       [cmds=<count>[<client>:<seq>,...]] local=<node's clock ms>
 *   # t=<true ms> n<node> <simulator happening>
 *
 * (applied events are left out of the listing: one per slot per node would crowd out the
 * rest), and then the `ballot trace` generation view of the last TRACELOG_VIEW_GENERATIONS
 * ballots, from a ring of the last TRACELOG_VIEW_EVENTS events. */
#ifndef BALLOT_SIM_TRACELOG_H
#define BALLOT_SIM_TRACELOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/event.h"
#include "trace/trace.h"

#define TRACELOG_RING             30u
#define TRACELOG_NOTE_BYTES       160u
#define TRACELOG_LINE_BYTES       512u
#define TRACELOG_VIEW_EVENTS      4096u
#define TRACELOG_VIEW_GENERATIONS 3u
/* Simulator notes kept for the timeline page's marks (crashes, restarts, partitions). */
#define TRACELOG_NOTES 256u

typedef struct tracelog_entry {
    uint64_t true_ms;
    bool is_note;
    event_t event;
    uint32_t node;
    char note[TRACELOG_NOTE_BYTES];
} tracelog_entry_t;

typedef struct tracelog {
    tracelog_entry_t ring[TRACELOG_RING];
    uint64_t count;
    tracelog_entry_t notes[TRACELOG_NOTES]; /* the last notes alone */
    uint64_t note_count;
    trace_ring_t *events;   /* for the generation view; NULL when it could not be made */
    trace_writer_t *writer; /* --trace; NULL when not tracing */
    bool writer_failed;
} tracelog_t;

/* BALLOT_OK, or an error with a reason in msg (the trace file could not be opened). */
int tracelog_init(tracelog_t *log, const char *path, uint32_t node_count, char *msg,
                  size_t msg_bytes);
/* Flushes and closes the trace file; false when writing it failed. */
bool tracelog_close(tracelog_t *log);
void tracelog_event(tracelog_t *log, uint64_t true_ms, const event_t *ev);
void tracelog_note(tracelog_t *log, uint64_t true_ms, uint32_t node, const char *text);
/* Writes the ring, oldest first, then the generation view. */
void tracelog_dump(const tracelog_t *log, uint32_t node_count, FILE *out);
/* The timeline page (docs/debugging.md) of the events held in memory, with the notes of the
 * ring as marks; false with a reason in msg. */
bool tracelog_write_html(const tracelog_t *log, uint32_t node_count, const char *path,
                         const char *title, char *msg, size_t msg_bytes);
void tracelog_format_event(const event_t *ev, uint64_t true_ms, char *buf, size_t buf_bytes);

#endif
