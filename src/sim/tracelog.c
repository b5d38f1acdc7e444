#include "sim/tracelog.h"

#include "core/check.h"
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "core/ballot.h"
#include "core/msg.h"

int tracelog_init(tracelog_t *log, const char *path, uint32_t node_count, char *msg,
                  size_t msg_bytes)
{
    memset(log, 0, sizeof(*log));
    if (trace_ring_create(&log->events, TRACELOG_VIEW_EVENTS) != BALLOT_OK) {
        log->events = NULL; /* the report then goes without the generation view */
    }
    if (path == NULL) {
        return BALLOT_OK;
    }
    return trace_writer_open(&log->writer, path, node_count, msg, msg_bytes);
}

bool tracelog_close(tracelog_t *log)
{
    if (log->events != NULL) {
        trace_ring_destroy(log->events);
        log->events = NULL;
    }
    bool ok = !log->writer_failed;
    if (log->writer != NULL) {
        ok = trace_writer_close(log->writer) == BALLOT_OK && ok;
        log->writer = NULL;
    }
    return ok;
}

static const char *reason_name(const event_t *ev)
{
    if (ev->kind == EVENT_STEPPED_DOWN) {
        switch (ev->reason) {
        case STEP_DOWN_SUPERSEDED:
            return "superseded";
        case STEP_DOWN_NO_QUORUM:
            return "no_quorum";
        case STEP_DOWN_TRANSFER:
            return "transfer";
        default:
            return "unknown";
        }
    }
    switch (ev->reason) {
    case REJECT_PROMISED:
        return "promised";
    case REJECT_LEASE:
        return "lease";
    case REJECT_LEADER_ALIVE:
        return "leader_alive";
    case REJECT_RECOVERING:
        return "recovering";
    default:
        return "unknown";
    }
}

/* Appends printf output at *used, never past buf_bytes. */
static void append(char *buf, size_t buf_bytes, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void append(char *buf, size_t buf_bytes, size_t *used, const char *fmt, ...)
{
    if (*used >= buf_bytes) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, buf_bytes - *used, fmt, ap);
    va_end(ap);
    if (n > 0) {
        *used += (size_t)n;
    }
    if (*used >= buf_bytes) {
        *used = buf_bytes - 1;
    }
}

static void format_commands(const event_t *ev, char *buf, size_t buf_bytes, size_t *used)
{
    append(buf, buf_bytes, used, " cmds=%" PRIu32, ev->command_count);
    uint32_t shown =
        ev->command_count < EVENT_COMMANDS_MAX ? ev->command_count : EVENT_COMMANDS_MAX;
    for (uint32_t i = 0; i < shown; i++) {
        append(buf, buf_bytes, used, "%s%" PRIu64 ":%" PRIu64, i == 0 ? "[" : ",",
               ev->client_ids[i], ev->sequences[i]);
    }
    if (shown > 0) {
        append(buf, buf_bytes, used, "%s", shown < ev->command_count ? ",...]" : "]");
    }
}

void tracelog_format_event(const event_t *ev, uint64_t true_ms, char *buf, size_t buf_bytes)
{
    assert(buf_bytes > 0);
    char text[BALLOT_TEXT_BYTES];
    size_t used = 0;
    buf[0] = '\0';
    const char *name = event_kind_name(ev->kind);
    append(buf, buf_bytes, &used, "t=%" PRIu64 " n%" PRIu32 " %s", true_ms, ev->node,
           name != NULL ? name : "?");
    if (!ballot_is_none(ev->ballot)) {
        append(buf, buf_bytes, &used, " b=%s", ballot_format(ev->ballot, text, sizeof(text)));
    }
    if (ev->slot_first != 0 || ev->slot_last != 0) {
        append(buf, buf_bytes, &used, " s=%" PRIu64, ev->slot_first);
        if (ev->slot_last > ev->slot_first) {
            append(buf, buf_bytes, &used, "..%" PRIu64, ev->slot_last);
        }
    }
    if (ev->peer != NODE_NONE) {
        append(buf, buf_bytes, &used, " peer=n%" PRIu32, ev->peer);
    }
    if (!ballot_is_none(ev->other_ballot)) {
        append(buf, buf_bytes, &used, " other=%s",
               ballot_format(ev->other_ballot, text, sizeof(text)));
    }
    if (ev->until_ms != 0) {
        append(buf, buf_bytes, &used, " until=%" PRIu64, ev->until_ms);
    }
    if (ev->duration_ms != 0) {
        append(buf, buf_bytes, &used, " dur=%" PRIu64, ev->duration_ms);
    }
    if (ev->reason != 0) {
        append(buf, buf_bytes, &used, " reason=%s", reason_name(ev));
    }
    if (ev->command_count != 0) {
        format_commands(ev, buf, buf_bytes, &used);
    }
    append(buf, buf_bytes, &used, " local=%" PRIu64, ev->time_ms);
}

void tracelog_event(tracelog_t *log, uint64_t true_ms, const event_t *ev)
{
    /* On the simulator's time line, so that the nodes of a run merge (tracelog.h). */
    event_t on_true_time = *ev;
    on_true_time.time_ms = true_ms;
    /* A lease end is on the node's own clock too: carry its distance from the event over
     * to the simulator's time line (drift over one lease is below a millisecond or two). */
    if (ev->until_ms != 0) {
        on_true_time.until_ms =
            ev->until_ms >= ev->time_ms
                ? true_ms + (ev->until_ms - ev->time_ms)
                : true_ms -
                      (ev->time_ms - ev->until_ms < true_ms ? ev->time_ms - ev->until_ms : true_ms);
    }
    if (log->writer != NULL && !log->writer_failed &&
        trace_writer_write(log->writer, &on_true_time) != BALLOT_OK) {
        log->writer_failed = true;
    }
    if (log->events != NULL) {
        trace_ring_push(log->events, &on_true_time);
    }
    if (ev->kind == EVENT_APPLIED) {
        return; /* one per slot per node: it would crowd everything else out of the ring */
    }
    tracelog_entry_t *e = &log->ring[log->count % TRACELOG_RING];
    log->count++;
    e->true_ms = true_ms;
    e->is_note = false;
    e->event = *ev;
    e->node = ev->node;
}

void tracelog_note(tracelog_t *log, uint64_t true_ms, uint32_t node, const char *text)
{
    tracelog_entry_t *e = &log->ring[log->count % TRACELOG_RING];
    log->count++;
    e->true_ms = true_ms;
    e->is_note = true;
    e->node = node;
    snprintf(e->note, sizeof(e->note), "%s", text);
    log->notes[log->note_count++ % TRACELOG_NOTES] = *e;
}

/* The `ballot trace` view of the last generations held in the event ring. */
static void tracelog_view(const tracelog_t *log, uint32_t node_count, FILE *out)
{
    if (log->events == NULL || trace_ring_count(log->events) == 0) {
        return;
    }
    trace_set_t set;
    trace_set_init(&set);
    for (size_t i = 0; i < trace_ring_count(log->events); i++) {
        if (trace_set_add(&set, trace_ring_get(log->events, i), 0, i + 1) != BALLOT_OK) {
            trace_set_free(&set);
            return;
        }
    }
    trace_set_sort(&set);
    trace_view_options_t opts;
    trace_view_options_init(&opts);
    opts.node_count = node_count;
    opts.last_generations = TRACELOG_VIEW_GENERATIONS;
    fprintf(out, "the last %u generations (ballot trace view, t = simulator time):\n",
            TRACELOG_VIEW_GENERATIONS);
    (void)trace_view_print(&set, &opts, out);
    trace_set_free(&set);
}

void tracelog_dump(const tracelog_t *log, uint32_t node_count, FILE *out)
{
    uint64_t first = log->count > TRACELOG_RING ? log->count - TRACELOG_RING : 0;
    for (uint64_t i = first; i < log->count; i++) {
        const tracelog_entry_t *e = &log->ring[i % TRACELOG_RING];
        if (e->is_note) {
            fprintf(out, "  # t=%" PRIu64 " n%" PRIu32 " %s\n", e->true_ms, e->node, e->note);
        } else {
            char line[TRACELOG_LINE_BYTES];
            tracelog_format_event(&e->event, e->true_ms, line, sizeof(line));
            fprintf(out, "  %s\n", line);
        }
    }
    tracelog_view(log, node_count, out);
}

bool tracelog_write_html(const tracelog_t *log, uint32_t node_count, const char *path,
                         const char *title, char *msg, size_t msg_bytes)
{
    trace_set_t set;
    trace_set_init(&set);
    for (size_t i = 0; log->events != NULL && i < trace_ring_count(log->events); i++) {
        if (trace_set_add(&set, trace_ring_get(log->events, i), 0, i + 1) != BALLOT_OK) {
            trace_set_free(&set);
            snprintf(msg, msg_bytes, "out of memory");
            return false;
        }
    }
    trace_set_sort(&set);
    static trace_mark_t marks[TRACELOG_NOTES];
    size_t mark_count = 0;
    uint64_t first = log->note_count > TRACELOG_NOTES ? log->note_count - TRACELOG_NOTES : 0;
    for (uint64_t i = first; i < log->note_count; i++) {
        const tracelog_entry_t *e = &log->notes[i % TRACELOG_NOTES];
        marks[mark_count++] =
            (trace_mark_t){.time_ms = e->true_ms, .node = e->node, .text = e->note};
    }
    trace_view_options_t opts;
    trace_view_options_init(&opts);
    opts.node_count = node_count;
    int rc = trace_html_write_file(&set, &opts, marks, mark_count, title, path, msg, msg_bytes);
    trace_set_free(&set);
    return rc == BALLOT_OK;
}
