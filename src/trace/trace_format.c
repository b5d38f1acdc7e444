/* Writing trace lines: the hot path of tracing. Hand-rolled (no printf per field) because
 * ballotd formats several events per client write. */
#include <string.h>

#include "core/check.h"
#include "core/msg.h"
#include "trace/trace.h"
#include "trace/trace_internal.h"

/* Longer kind names than this are not ours; they are written as numbers. */
#define KIND_NAME_BYTES_MAX 48u

static const char *const reject_reason_names[] = {
    [REJECT_PROMISED] = "promised",
    [REJECT_LEASE] = "lease",
    [REJECT_LEADER_ALIVE] = "leader_alive",
    [REJECT_RECOVERING] = "recovering",
};

static const char *const step_down_reason_names[] = {
    [STEP_DOWN_SUPERSEDED] = "superseded",
    [STEP_DOWN_NO_QUORUM] = "no_quorum",
    [STEP_DOWN_TRANSFER] = "transfer",
    [STEP_DOWN_REMOVED] = "removed",
};

const char *trace_reason_name(event_kind_t kind, uint32_t reason)
{
    switch (kind) {
    case EVENT_REJECT_SENT:
    case EVENT_REJECT_RECEIVED:
    case EVENT_LEASE_REFUSED:
        if (reason >= 1 && reason <= REJECT_REASON_MAX) {
            return reject_reason_names[reason];
        }
        return NULL;
    case EVENT_STEPPED_DOWN:
        if (reason >= STEP_DOWN_SUPERSEDED && reason <= STEP_DOWN_REASON_MAX) {
            return step_down_reason_names[reason];
        }
        return NULL;
    default:
        return NULL;
    }
}

char *trace_put_u64(char *p, uint64_t v)
{
    char digits[20];
    unsigned n = 0;
    do {
        digits[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0 && n < sizeof digits);
    while (n > 0) {
        *p++ = digits[--n];
    }
    return p;
}

static char *put_bytes(char *p, const char *s, size_t len)
{
    memcpy(p, s, len);
    return p + len;
}

/* A string literal without its NUL. */
#define PUT_LITERAL(p, lit) put_bytes((p), (lit), sizeof(lit) - 1u)

char *trace_put_ballot(char *p, ballot_t b)
{
    *p++ = 'r';
    p = trace_put_u64(p, b.round);
    *p++ = '.';
    *p++ = 'n';
    return trace_put_u64(p, b.node);
}

static char *put_kind(char *p, event_kind_t kind)
{
    const char *name = NULL;
    if ((int)kind >= EVENT_PREPARE_SENT && (int)kind <= EVENT_KIND_MAX) {
        name = event_kind_name(kind);
    }
    size_t len = name != NULL ? strnlen(name, KIND_NAME_BYTES_MAX) : KIND_NAME_BYTES_MAX;
    if (len >= KIND_NAME_BYTES_MAX) {
        /* Not a kind this build knows: keep the number so the reader reports it. */
        return trace_put_u64(p, (uint64_t)(uint32_t)kind);
    }
    return put_bytes(p, name, len);
}

static char *put_slots(char *p, uint64_t first, uint64_t last)
{
    p = PUT_LITERAL(p, ",\"slots\":\"");
    p = trace_put_u64(p, first);
    if (last != 0 && last != first) {
        *p++ = '-';
        p = trace_put_u64(p, last);
    }
    *p++ = '"';
    return p;
}

static char *put_reason(char *p, event_kind_t kind, uint32_t reason)
{
    p = PUT_LITERAL(p, ",\"reason\":\"");
    const char *name = trace_reason_name(kind, reason);
    if (name != NULL) {
        p = put_bytes(p, name, strlen(name));
    } else {
        p = trace_put_u64(p, reason);
    }
    *p++ = '"';
    return p;
}

/* "cmds" lists the first command ids; it is left out when the event names none (a Promise
 * counts the entries it reports in command_count but names no commands). */
static char *put_commands(char *p, const event_t *e)
{
    uint32_t inline_count = e->command_count;
    if (inline_count > EVENT_COMMANDS_MAX) {
        inline_count = EVENT_COMMANDS_MAX;
    }
    bool named = false;
    for (uint32_t i = 0; i < inline_count; i++) {
        named = named || e->client_ids[i] != 0 || e->sequences[i] != 0;
    }
    if (named) {
        p = PUT_LITERAL(p, ",\"cmds\":[");
        for (uint32_t i = 0; i < inline_count; i++) {
            if (i > 0) {
                *p++ = ',';
            }
            *p++ = '"';
            p = trace_put_u64(p, e->client_ids[i]);
            *p++ = ':';
            p = trace_put_u64(p, e->sequences[i]);
            *p++ = '"';
        }
        *p++ = ']';
    }
    p = PUT_LITERAL(p, ",\"n\":");
    return trace_put_u64(p, e->command_count);
}

/* Every optional field: written only when it is set, so lines stay short. */
static char *put_optional_fields(char *p, const event_t *e)
{
    if (!ballot_is_none(e->ballot)) {
        p = PUT_LITERAL(p, ",\"b\":\"");
        p = trace_put_ballot(p, e->ballot);
        *p++ = '"';
    }
    if (e->slot_first != 0 || e->slot_last != 0) {
        p = put_slots(p, e->slot_first, e->slot_last);
    }
    if (e->peer != 0) {
        p = PUT_LITERAL(p, ",\"peer\":");
        p = trace_put_u64(p, e->peer);
    }
    if (!ballot_is_none(e->other_ballot)) {
        p = PUT_LITERAL(p, ",\"ob\":\"");
        p = trace_put_ballot(p, e->other_ballot);
        *p++ = '"';
    }
    if (e->until_ms != 0) {
        p = PUT_LITERAL(p, ",\"until\":");
        p = trace_put_u64(p, e->until_ms);
    }
    if (e->duration_ms != 0) {
        p = PUT_LITERAL(p, ",\"dur\":");
        p = trace_put_u64(p, e->duration_ms);
    }
    if (e->reason != 0) {
        p = put_reason(p, e->kind, e->reason);
    }
    if (e->command_count != 0) {
        p = put_commands(p, e);
    }
    return p;
}

size_t trace_format_event(const event_t *event, char *buf, size_t buf_bytes)
{
    assert(event != NULL);
    assert(buf != NULL);
    if (buf_bytes < TRACE_LINE_BYTES_MAX) {
        return 0;
    }
    char *p = buf;
    p = PUT_LITERAL(p, "{\"t\":");
    p = trace_put_u64(p, event->time_ms);
    p = PUT_LITERAL(p, ",\"node\":");
    p = trace_put_u64(p, event->node);
    p = PUT_LITERAL(p, ",\"ev\":\"");
    p = put_kind(p, event->kind);
    *p++ = '"';
    p = put_optional_fields(p, event);
    *p++ = '}';
    *p++ = '\n';
    size_t len = (size_t)(p - buf);
    assert(len <= TRACE_LINE_BYTES_MAX);
    return len;
}

size_t trace_format_header(uint32_t node_count, char *buf, size_t buf_bytes)
{
    assert(buf != NULL);
    if (buf_bytes < TRACE_LINE_BYTES_MAX) {
        return 0;
    }
    char *p = buf;
    p = PUT_LITERAL(p, "{\"trace\":\"ballot\",\"version\":");
    p = trace_put_u64(p, TRACE_FORMAT_VERSION);
    p = PUT_LITERAL(p, ",\"nodes\":");
    p = trace_put_u64(p, node_count);
    *p++ = '}';
    *p++ = '\n';
    return (size_t)(p - buf);
}
