/* The protocol trace: what every node did under each ballot (docs/design.md "Debugging across
 * generations"; docs/debugging.md documents the format and how to read the view).
 *
 * A trace is JSON lines, one object per event_t the core emitted, e.g.
 *
 *   {"trace":"ballot","version":1,"nodes":3}
 *   {"t":457,"node":3,"ev":"promise_sent","b":"r8.n2","slots":"2","peer":2,"n":1}
 *   {"t":458,"node":2,"ev":"carried_forward","b":"r8.n2","slots":"2","ob":"r5.n1","n":1}
 *
 * The first kind of line is an optional header naming the cluster size (so the view can
 * tell a majority); the rest are events. Four pieces live here:
 *
 *   writer   buffered (TRACE_BUFFER_BYTES, one fwrite per full buffer, no fsync): the
 *            hot path of ballotd and ballot-sim
 *   ring     the last K events, kept always, dumped to the log when a node stops on an
 *            error
 *   reader   strict parsing; a corrupt or truncated line is reported as file:line and
 *            skipped, never fatal
 *   view     merge every node's trace and print it generation by generation (ballot by
 *            ballot): `ballot trace FILES...` is trace_cli_main()
 *
 * Nothing here is thread-safe: one writer and one ring per node, used by its own thread. */
#ifndef BALLOT_TRACE_TRACE_H
#define BALLOT_TRACE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/ballot.h"
#include "core/error.h"
#include "core/event.h"

#define TRACE_FORMAT_VERSION 1u
/* The writer's buffer; it is written with one fwrite when the next line would not fit. */
#define TRACE_BUFFER_BYTES (64u * 1024u)
/* The longest line the writer makes is far below this (every field at its widest); the
 * reader refuses longer lines as corrupt. */
#define TRACE_LINE_BYTES_MAX 1024u
/* Ring capacities (events). */
#define TRACE_RING_EVENTS_DEFAULT 1024u
#define TRACE_RING_EVENTS_MAX     65536u
/* `ballot trace` bounds: files on the command line, events held in memory in total. */
#define TRACE_FILES_MAX  64u
#define TRACE_EVENTS_MAX (64u * 1024u * 1024u)
/* A --key filter names at most this many commands. */
#define TRACE_KEY_COMMANDS_MAX 64u

/* ---- line format ---- */

/* Formats one event as a JSON line ending in '\n' (no NUL). Returns its length, or 0 when
 * buf_bytes is below TRACE_LINE_BYTES_MAX (every event fits in that). */
size_t trace_format_event(const event_t *event, char *buf, size_t buf_bytes);
/* The header line for a cluster of node_count nodes; length as above. */
size_t trace_format_header(uint32_t node_count, char *buf, size_t buf_bytes);

typedef enum trace_line_kind {
    TRACE_LINE_EVENT = 1,
    TRACE_LINE_HEADER = 2,
    TRACE_LINE_BLANK = 3, /* empty or whitespace only: ignored */
} trace_line_kind_t;

/* Parses one line (without its '\n'; len bytes, need not be NUL-terminated). On success
 * sets *kind and fills *event (TRACE_LINE_EVENT) or *node_count (TRACE_LINE_HEADER).
 * On anything malformed returns BALLOT_ECORRUPT with the reason in msg. Never asserts on
 * input. Slots written as "12" read back as slot_first = slot_last = 12. */
int trace_parse_line(const char *line, size_t len, trace_line_kind_t *kind, event_t *event,
                     uint32_t *node_count, char *msg, size_t msg_bytes);

/* Names used in the "reason" field: reject_reason_t for reject_sent, reject_received and
 * lease_refused; step_down_reason_t for stepped_down. NULL when the kind has no reason
 * table or the value is unknown (the writer then writes the number as a string). */
const char *trace_reason_name(event_kind_t kind, uint32_t reason);

/* ---- writer ---- */

typedef struct trace_writer trace_writer_t;

typedef struct trace_writer_stats {
    uint64_t events;
    uint64_t bytes;
    uint64_t writes; /* fwrite calls */
} trace_writer_stats_t;

/* Opens (truncates) path for writing; "-" is standard output. When node_count > 0 a
 * header line is written first. BALLOT_EINVAL, BALLOT_ENOMEM or BALLOT_EIO with a
 * reason in msg. */
int trace_writer_open(trace_writer_t **out, const char *path, uint32_t node_count, char *msg,
                      size_t msg_bytes);
/* Appends one event. BALLOT_EIO when a buffer could not be written; the writer then
 * drops every later event and keeps returning BALLOT_EIO (tracing must never stop a
 * node, so the caller may log once and carry on). */
int trace_writer_write(trace_writer_t *w, const event_t *event);
int trace_writer_write_all(trace_writer_t *w, const event_t *events, size_t count);
/* Hands the buffer to the OS (fwrite + fflush; no fsync). */
int trace_writer_flush(trace_writer_t *w);
/* Flushes, closes and frees; the result of the final flush/close. NULL is a no-op. */
int trace_writer_close(trace_writer_t *w);
void trace_writer_get_stats(const trace_writer_t *w, trace_writer_stats_t *out);

/* ---- ring of the last events ---- */

typedef struct trace_ring trace_ring_t;

/* capacity in 1..TRACE_RING_EVENTS_MAX; BALLOT_EINVAL or BALLOT_ENOMEM. */
int trace_ring_create(trace_ring_t **out, uint32_t capacity);
void trace_ring_destroy(trace_ring_t *ring);
/* Keeps the event, forgetting the oldest when full. Cheap: one struct copy. */
void trace_ring_push(trace_ring_t *ring, const event_t *event);
void trace_ring_push_all(trace_ring_t *ring, const event_t *events, size_t count);
size_t trace_ring_count(const trace_ring_t *ring);
/* Events ever pushed (so a dump can say how many were forgotten). */
uint64_t trace_ring_total(const trace_ring_t *ring);
/* The i-th kept event, oldest first (i < trace_ring_count). */
const event_t *trace_ring_get(const trace_ring_t *ring, size_t i);
/* Writes the kept events, oldest first, as trace lines (the same format as a trace file,
 * so `ballot trace` reads a dump cut out of a log). BALLOT_EIO on a write error. */
int trace_ring_dump(const trace_ring_t *ring, FILE *out);

/* ---- reader and merger ---- */

typedef struct trace_record {
    event_t event;
    uint32_t file_index; /* position of its file on the command line */
    uint64_t line;       /* 1-based line in that file; 0 for events added in memory */
    uint64_t order;      /* insertion order: the last tie-break, so sorting is stable */
} trace_record_t;

typedef struct trace_set {
    trace_record_t *records;
    size_t count;
    size_t capacity;
    uint32_t node_count; /* largest header seen, 0 if none */
    uint64_t bad_lines;  /* reported and skipped */
    uint32_t file_count;
    char *file_names[TRACE_FILES_MAX]; /* owned copies */
} trace_set_t;

void trace_set_init(trace_set_t *set);
void trace_set_free(trace_set_t *set);
/* Adds one event as if read from file file_index (for drivers that hold events in memory,
 * e.g. the simulator, and for tests). BALLOT_ENOMEM or BALLOT_ETOOLARGE. */
int trace_set_add(trace_set_t *set, const event_t *event, uint32_t file_index, uint64_t line);
/* Reads every line of a stream named `name` (as the next file). A malformed line is
 * reported to diag as "name:line: reason" and skipped. Returns BALLOT_OK even when lines
 * were skipped; BALLOT_EIO on a read error, BALLOT_ENOMEM/ETOOLARGE/EINVAL (too many files)
 * otherwise. */
int trace_set_read_stream(trace_set_t *set, FILE *in, const char *name, FILE *diag);
/* Same for a path ("-" is standard input); BALLOT_EIO when it cannot be opened. */
int trace_set_read_file(trace_set_t *set, const char *path, FILE *diag);
/* Merges: sorts by time, then node, then file order, then line order (stable). */
void trace_set_sort(trace_set_t *set);

/* ---- view ---- */

typedef struct trace_filter {
    bool slot_set;
    uint64_t slot; /* --slot N: events touching slot N */
    bool node_set;
    uint32_t node; /* --node N: events recorded by node N */
    bool from_set;
    uint64_t from_ms; /* --from MS: events at t >= MS */
    bool to_set;
    uint64_t to_ms; /* --to MS: events at t <= MS */
    bool ballot_set;
    ballot_t ballot; /* --ballot r7.n2: that generation only */
    /* --key CLIENT[:SEQ][,...]: events naming one of these commands, and every event on
     * the slots those commands were proposed in (sequence 0 means any of the client's). */
    uint32_t key_count;
    uint64_t key_clients[TRACE_KEY_COMMANDS_MAX];
    uint64_t key_sequences[TRACE_KEY_COMMANDS_MAX];
} trace_filter_t;

typedef struct trace_view_options {
    trace_filter_t filter;
    bool summary;              /* one line per generation */
    uint32_t node_count;       /* 0: from the headers, else the highest node id seen */
    uint32_t last_generations; /* 0: all; else only the last N generations */
} trace_view_options_t;

void trace_view_options_init(trace_view_options_t *opts);
/* Parses the --key argument into the filter; BALLOT_EINVAL with a reason in msg. */
int trace_filter_parse_key(trace_filter_t *filter, const char *text, char *msg, size_t msg_bytes);
/* Prints the generation view (or the summary) of a sorted set. Deterministic: the same
 * set and options always print the same bytes. BALLOT_EIO on a write error, BALLOT_ENOMEM. */
int trace_view_print(const trace_set_t *set, const trace_view_options_t *opts, FILE *out);

/* ---- the timeline page ---- */

/* Something a driver knows happened that is no protocol event: a crash, a restart, a
 * partition (ballot-sim's notes). node 0 is the whole cluster. */
typedef struct trace_mark {
    uint64_t time_ms;
    uint32_t node;
    const char *text;
} trace_mark_t;

/* The most elements one page draws; past it the page says what was left out. */
#define TRACE_HTML_ELEMENTS_MAX 200000u

/* Writes the generation timeline of a sorted set as one self-contained HTML page (inline
 * CSS, JavaScript and SVG; it fetches nothing): a lane per node, time left to right, each
 * generation a coloured band with its leader, promises and rejections as arrows,
 * carried-forward values linked to where they came from, chosen slots, leases, crashes,
 * restarts and the marks; clicking a slot or a command highlights its path. The filters of
 * opts apply as in the text view, which the page also holds. docs/debugging.md.
 * BALLOT_EIO on a write error, BALLOT_ENOMEM. */
int trace_html_write(const trace_set_t *set, const trace_view_options_t *opts,
                     const trace_mark_t *marks, size_t mark_count, const char *title, FILE *out);
/* The same into path (written to path.tmp.PID, then renamed); BALLOT_EIO with a reason in msg. */
int trace_html_write_file(const trace_set_t *set, const trace_view_options_t *opts,
                          const trace_mark_t *marks, size_t mark_count, const char *title,
                          const char *path, char *msg, size_t msg_bytes);

/* `ballot trace [OPTIONS] FILES...`; returns the process exit status (0 ok, 1 when a file
 * could not be read, 2 on a usage error). Output to stdout, reports to stderr. */
int trace_cli_main(int argc, char **argv);

#endif
