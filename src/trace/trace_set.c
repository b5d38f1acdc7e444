/* Reading trace files into one set and merging them into one history. A bad line costs a
 * report and that line only: a trace is most needed after a crash, when its tail may be
 * torn. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/msg.h"
#include "trace/trace.h"

#define READ_CHUNK_BYTES   (64u * 1024u)
#define SET_CAPACITY_FIRST 1024u
#define REASON_BYTES       160u

typedef struct line_reader {
    FILE *in;
    size_t chunk_pos;
    size_t chunk_len;
    size_t line_len;
    bool overlong; /* the current line passed TRACE_LINE_BYTES_MAX; the rest is skipped */
    char line[TRACE_LINE_BYTES_MAX + 1u];
    char chunk[READ_CHUNK_BYTES];
} line_reader_t;

void trace_set_init(trace_set_t *set)
{
    assert(set != NULL);
    memset(set, 0, sizeof *set);
}

void trace_set_free(trace_set_t *set)
{
    if (set == NULL) {
        return;
    }
    free(set->records);
    for (uint32_t i = 0; i < set->file_count; i++) {
        free(set->file_names[i]);
    }
    trace_set_init(set);
}

static int grow(trace_set_t *set)
{
    if (set->count >= TRACE_EVENTS_MAX) {
        return BALLOT_ETOOLARGE;
    }
    size_t capacity = set->capacity == 0 ? SET_CAPACITY_FIRST : set->capacity * 2u;
    if (capacity > TRACE_EVENTS_MAX) {
        capacity = TRACE_EVENTS_MAX;
    }
    trace_record_t *records = realloc(set->records, capacity * sizeof *records);
    if (records == NULL) {
        return BALLOT_ENOMEM;
    }
    set->records = records;
    set->capacity = capacity;
    return BALLOT_OK;
}

int trace_set_add(trace_set_t *set, const event_t *event, uint32_t file_index, uint64_t line)
{
    assert(set != NULL);
    assert(event != NULL);
    if (event->node == NODE_NONE || event->node > NODES_MAX || event->peer > NODES_MAX) {
        return BALLOT_EINVAL;
    }
    if ((int)event->kind < EVENT_PREPARE_SENT || (int)event->kind > EVENT_KIND_MAX) {
        return BALLOT_EINVAL;
    }
    if (set->count == set->capacity) {
        int rc = grow(set);
        if (rc != BALLOT_OK) {
            return rc;
        }
    }
    trace_record_t *r = &set->records[set->count];
    r->event = *event;
    r->file_index = file_index;
    r->line = line;
    r->order = set->count;
    set->count++;
    return BALLOT_OK;
}

/* One complete line (without '\n'): parse and keep, or report and skip. */
static int take_line(trace_set_t *set, line_reader_t *lr, const char *name, uint64_t line_no,
                     bool last_without_newline, FILE *diag)
{
    char reason[REASON_BYTES];
    trace_line_kind_t kind = TRACE_LINE_BLANK;
    event_t event;
    memset(&event, 0, sizeof event);
    uint32_t node_count = 0;
    int rc = BALLOT_ECORRUPT;
    if (lr->overlong) {
        snprintf(reason, sizeof reason, "line longer than %u bytes", TRACE_LINE_BYTES_MAX);
    } else {
        rc = trace_parse_line(lr->line, lr->line_len, &kind, &event, &node_count, reason,
                              sizeof reason);
    }
    lr->line_len = 0;
    lr->overlong = false;
    if (rc != BALLOT_OK) {
        set->bad_lines++;
        if (diag != NULL) {
            fprintf(diag, "%s:%llu: %s%s (line skipped)\n", name, (unsigned long long)line_no,
                    last_without_newline ? "truncated last line: " : "", reason);
        }
        return BALLOT_OK;
    }
    if (kind == TRACE_LINE_HEADER && node_count > set->node_count) {
        set->node_count = node_count;
    }
    if (kind != TRACE_LINE_EVENT) {
        return BALLOT_OK;
    }
    return trace_set_add(set, &event, set->file_count - 1u, line_no);
}

static void append(line_reader_t *lr, const char *bytes, size_t len)
{
    if (lr->overlong || lr->line_len + len > TRACE_LINE_BYTES_MAX) {
        lr->overlong = true;
        return;
    }
    memcpy(lr->line + lr->line_len, bytes, len);
    lr->line_len += len;
}

static int read_lines(trace_set_t *set, line_reader_t *lr, const char *name, FILE *diag)
{
    uint64_t line_no = 0;
    for (;;) {
        lr->chunk_len = fread(lr->chunk, 1, sizeof lr->chunk, lr->in);
        if (lr->chunk_len == 0) {
            break;
        }
        lr->chunk_pos = 0;
        while (lr->chunk_pos < lr->chunk_len) {
            const char *start = lr->chunk + lr->chunk_pos;
            size_t left = lr->chunk_len - lr->chunk_pos;
            const char *nl = memchr(start, '\n', left);
            size_t take = nl != NULL ? (size_t)(nl - start) : left;
            append(lr, start, take);
            lr->chunk_pos += take + (nl != NULL ? 1u : 0u);
            if (nl != NULL) {
                int rc = take_line(set, lr, name, ++line_no, false, diag);
                if (rc != BALLOT_OK) {
                    return rc;
                }
            }
        }
    }
    if (ferror(lr->in)) {
        if (diag != NULL) {
            fprintf(diag, "%s: read error after line %llu: %s\n", name, (unsigned long long)line_no,
                    strerror(errno));
        }
        return BALLOT_EIO;
    }
    if (lr->line_len > 0 || lr->overlong) {
        return take_line(set, lr, name, ++line_no, true, diag);
    }
    return BALLOT_OK;
}

int trace_set_read_stream(trace_set_t *set, FILE *in, const char *name, FILE *diag)
{
    assert(set != NULL);
    assert(in != NULL);
    assert(name != NULL);
    if (set->file_count >= TRACE_FILES_MAX) {
        return BALLOT_EINVAL;
    }
    char *copy = strdup(name);
    line_reader_t *lr = calloc(1, sizeof *lr);
    if (copy == NULL || lr == NULL) {
        free(copy);
        free(lr);
        return BALLOT_ENOMEM;
    }
    set->file_names[set->file_count++] = copy;
    lr->in = in;
    int rc = read_lines(set, lr, name, diag);
    free(lr);
    return rc;
}

int trace_set_read_file(trace_set_t *set, const char *path, FILE *diag)
{
    assert(path != NULL);
    if (strcmp(path, "-") == 0) {
        return trace_set_read_stream(set, stdin, "(stdin)", diag);
    }
    FILE *in = fopen(path, "r");
    if (in == NULL) {
        if (diag != NULL) {
            fprintf(diag, "%s: cannot open: %s\n", path, strerror(errno));
        }
        return BALLOT_EIO;
    }
    int rc = trace_set_read_stream(set, in, path, diag);
    fclose(in);
    return rc;
}

static int compare_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : (a > b ? 1 : 0);
}

static int compare_records(const void *pa, const void *pb)
{
    const trace_record_t *a = pa;
    const trace_record_t *b = pb;
    int c = compare_u64(a->event.time_ms, b->event.time_ms);
    if (c == 0) {
        c = compare_u64(a->event.node, b->event.node);
    }
    if (c == 0) {
        c = compare_u64(a->file_index, b->file_index);
    }
    if (c == 0) {
        c = compare_u64(a->order, b->order);
    }
    return c;
}

void trace_set_sort(trace_set_t *set)
{
    assert(set != NULL);
    if (set->count > 1) {
        qsort(set->records, set->count, sizeof set->records[0], compare_records);
    }
    for (size_t i = 1; i < set->count; i++) {
        assert(set->records[i - 1].event.time_ms <= set->records[i].event.time_ms);
    }
}
