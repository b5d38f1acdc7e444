/* The trace writer: lines are formatted straight into a 64 KiB buffer that goes to the
 * file with one fwrite when the next line might not fit. The stream is unbuffered so that
 * fwrite is one write(2); nothing is ever fsynced (a trace is a debugging aid, and the hot
 * path must not wait on the disk). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/msg.h"
#include "trace/trace.h"

struct trace_writer {
    FILE *file;
    bool owns_file; /* false for standard output */
    int error;      /* sticky: after a failed write every event is dropped */
    size_t used;
    trace_writer_stats_t stats;
    char buffer[TRACE_BUFFER_BYTES];
};

static void set_msg(char *msg, size_t msg_bytes, const char *what, const char *path, int err)
{
    if (msg != NULL && msg_bytes > 0) {
        snprintf(msg, msg_bytes, "%s %s: %s", what, path, strerror(err));
    }
}

int trace_writer_open(trace_writer_t **out, const char *path, uint32_t node_count, char *msg,
                      size_t msg_bytes)
{
    assert(out != NULL);
    *out = NULL;
    if (path == NULL || path[0] == '\0' || node_count > NODES_MAX) {
        set_msg(msg, msg_bytes, "trace", path != NULL ? path : "(null)", EINVAL);
        return BALLOT_EINVAL;
    }
    trace_writer_t *w = calloc(1, sizeof *w);
    if (w == NULL) {
        set_msg(msg, msg_bytes, "trace", path, ENOMEM);
        return BALLOT_ENOMEM;
    }
    if (strcmp(path, "-") == 0) {
        w->file = stdout;
    } else {
        w->file = fopen(path, "w");
        w->owns_file = true;
        if (w->file == NULL) {
            set_msg(msg, msg_bytes, "cannot open trace", path, errno);
            free(w);
            return BALLOT_EIO;
        }
        /* Our buffer is the only one: each fwrite below is a single write(2). */
        setvbuf(w->file, NULL, _IONBF, 0);
    }
    if (node_count > 0) {
        w->used = trace_format_header(node_count, w->buffer, sizeof w->buffer);
        w->stats.bytes += w->used;
    }
    *out = w;
    return BALLOT_OK;
}

static int write_buffer(trace_writer_t *w)
{
    if (w->used == 0 || w->error != BALLOT_OK) {
        w->used = 0;
        return w->error;
    }
    size_t written = fwrite(w->buffer, 1, w->used, w->file);
    w->stats.writes++;
    if (written != w->used) {
        w->error = BALLOT_EIO;
    }
    w->used = 0;
    return w->error;
}

int trace_writer_write(trace_writer_t *w, const event_t *event)
{
    assert(w != NULL);
    assert(event != NULL);
    if (w->error != BALLOT_OK) {
        return w->error;
    }
    if (sizeof w->buffer - w->used < TRACE_LINE_BYTES_MAX) {
        int rc = write_buffer(w);
        if (rc != BALLOT_OK) {
            return rc;
        }
    }
    size_t len = trace_format_event(event, w->buffer + w->used, sizeof w->buffer - w->used);
    assert(len > 0);
    w->used += len;
    w->stats.events++;
    w->stats.bytes += len;
    return BALLOT_OK;
}

int trace_writer_write_all(trace_writer_t *w, const event_t *events, size_t count)
{
    assert(events != NULL || count == 0);
    for (size_t i = 0; i < count; i++) {
        int rc = trace_writer_write(w, &events[i]);
        if (rc != BALLOT_OK) {
            return rc;
        }
    }
    return BALLOT_OK;
}

int trace_writer_flush(trace_writer_t *w)
{
    assert(w != NULL);
    int rc = write_buffer(w);
    if (rc == BALLOT_OK && fflush(w->file) != 0) {
        w->error = BALLOT_EIO;
    }
    return w->error;
}

int trace_writer_close(trace_writer_t *w)
{
    if (w == NULL) {
        return BALLOT_OK;
    }
    int rc = trace_writer_flush(w);
    if (w->owns_file && fclose(w->file) != 0 && rc == BALLOT_OK) {
        rc = BALLOT_EIO;
    }
    free(w);
    return rc;
}

void trace_writer_get_stats(const trace_writer_t *w, trace_writer_stats_t *out)
{
    assert(w != NULL);
    assert(out != NULL);
    *out = w->stats;
}
