/* libFuzzer target: any bytes as a trace line. A line that parses must format back into a
 * line that parses to the same event (the reader and the writer agree). */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "trace/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    trace_line_kind_t kind;
    event_t event;
    uint32_t node_count = 0;
    char msg[256];
    memset(&event, 0, sizeof(event));
    int rc =
        trace_parse_line((const char *)data, size, &kind, &event, &node_count, msg, sizeof(msg));
    if (rc != BALLOT_OK || kind != TRACE_LINE_EVENT) {
        return 0;
    }
    char line[TRACE_LINE_BYTES_MAX];
    size_t len = trace_format_event(&event, line, sizeof(line));
    assert(len > 0);
    event_t again;
    memset(&again, 0, sizeof(again));
    rc = trace_parse_line(line, len - 1, &kind, &again, &node_count, msg, sizeof(msg));
    assert(rc == BALLOT_OK);
    assert(kind == TRACE_LINE_EVENT);
    assert(again.kind == event.kind);
    assert(again.node == event.node);
    assert(again.slot_first == event.slot_first);
    assert(again.slot_last == event.slot_last);
    return 0;
}
