/* Reading trace lines. A trace comes from a disk that may have been cut mid-write, or from
 * a user's editor, so every byte is checked (docs/design.md "Rules of the code"): a line is one
 * flat JSON object with known keys, each at most once, of the right type and range. Anything else
 * is BALLOT_ECORRUPT with a reason; nothing here asserts on the input. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/check.h"
#include "core/msg.h"
#include "trace/trace.h"

/* No key or string value of the format is longer; longer ones are refused. */
#define KEY_BYTES_MAX    16u
#define STRING_BYTES_MAX 64u
/* Bounds the number of keys a line may hold (every key at most once). */
#define FIELDS_MAX 15u

typedef enum field {
    FIELD_T,
    FIELD_NODE,
    FIELD_EV,
    FIELD_B,
    FIELD_SLOTS,
    FIELD_PEER,
    FIELD_OB,
    FIELD_UNTIL,
    FIELD_DUR,
    FIELD_REASON,
    FIELD_CMDS,
    FIELD_N,
    FIELD_TRACE,
    FIELD_VERSION,
    FIELD_NODES,
    FIELD_COUNT,
} field_t;

static const char *const field_names[FIELD_COUNT] = {
    [FIELD_T] = "t",           [FIELD_NODE] = "node",       [FIELD_EV] = "ev",
    [FIELD_B] = "b",           [FIELD_SLOTS] = "slots",     [FIELD_PEER] = "peer",
    [FIELD_OB] = "ob",         [FIELD_UNTIL] = "until",     [FIELD_DUR] = "dur",
    [FIELD_REASON] = "reason", [FIELD_CMDS] = "cmds",       [FIELD_N] = "n",
    [FIELD_TRACE] = "trace",   [FIELD_VERSION] = "version", [FIELD_NODES] = "nodes",
};

#define EVENT_FIELDS  ((1u << FIELD_TRACE) - 1u)
#define HEADER_FIELDS ((1u << FIELD_TRACE) | (1u << FIELD_VERSION) | (1u << FIELD_NODES))

typedef struct parser {
    const char *start;
    const char *p;
    const char *end;
    char *msg;
    size_t msg_bytes;
} parser_t;

typedef struct parsed {
    uint32_t seen; /* bit per field_t */
    event_t event;
    char reason[STRING_BYTES_MAX];
    uint32_t inline_commands;
    uint64_t version;
    uint64_t nodes;
} parsed_t;

static int fail(parser_t *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(parser_t *ps, const char *fmt, ...)
{
    if (ps->msg != NULL && ps->msg_bytes > 0) {
        int n = snprintf(ps->msg, ps->msg_bytes, "byte %zu: ", (size_t)(ps->p - ps->start) + 1u);
        size_t used = n > 0 && (size_t)n < ps->msg_bytes ? (size_t)n : 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->msg + used, ps->msg_bytes - used, fmt, ap);
        va_end(ap);
    }
    return BALLOT_ECORRUPT;
}

static void skip_space(parser_t *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r')) {
        ps->p++;
    }
}

static int expect(parser_t *ps, char c)
{
    skip_space(ps);
    if (ps->p >= ps->end) {
        return fail(ps, "line ends where '%c' was expected", c);
    }
    if (*ps->p != c) {
        return fail(ps, "expected '%c'", c);
    }
    ps->p++;
    return BALLOT_OK;
}

/* A JSON string of printable ASCII without escapes (the format never needs them). */
static int parse_string(parser_t *ps, char *out, size_t out_bytes)
{
    int rc = expect(ps, '"');
    if (rc != BALLOT_OK) {
        return rc;
    }
    size_t len = 0;
    while (ps->p < ps->end && *ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p;
        if (c < 0x20u || c > 0x7eu || c == '\\') {
            return fail(ps, "unexpected byte 0x%02x in a string", c);
        }
        if (len + 1u >= out_bytes) {
            return fail(ps, "string longer than %zu bytes", out_bytes - 1u);
        }
        out[len++] = (char)c;
        ps->p++;
    }
    if (ps->p >= ps->end) {
        return fail(ps, "unterminated string");
    }
    ps->p++;
    out[len] = '\0';
    return BALLOT_OK;
}

/* Decimal digits at *text (no sign, no leading zero); advances *text. */
static bool read_decimal(const char **text, const char *end, uint64_t *out)
{
    const char *p = *text;
    uint64_t v = 0;
    if (p >= end || *p < '0' || *p > '9') {
        return false;
    }
    if (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9') {
        return false;
    }
    while (p < end && *p >= '0' && *p <= '9') {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10u) {
            return false;
        }
        v = v * 10u + d;
        p++;
    }
    *text = p;
    *out = v;
    return true;
}

static int parse_number(parser_t *ps, uint64_t max, uint64_t *out)
{
    skip_space(ps);
    if (!read_decimal(&ps->p, ps->end, out)) {
        return fail(ps, "expected an unsigned integer");
    }
    if (ps->p < ps->end && (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E')) {
        return fail(ps, "expected an unsigned integer");
    }
    if (*out > max) {
        return fail(ps, "number above %llu", (unsigned long long)max);
    }
    return BALLOT_OK;
}

static int parse_ballot(parser_t *ps, ballot_t *out)
{
    char text[STRING_BYTES_MAX];
    int rc = parse_string(ps, text, sizeof text);
    if (rc != BALLOT_OK) {
        return rc;
    }
    if (!ballot_parse(text, out) || ballot_is_none(*out)) {
        return fail(ps, "bad ballot \"%s\"", text);
    }
    return BALLOT_OK;
}

/* "12" or "12-15". */
static int parse_slots(parser_t *ps, event_t *e)
{
    char text[STRING_BYTES_MAX];
    int rc = parse_string(ps, text, sizeof text);
    if (rc != BALLOT_OK) {
        return rc;
    }
    const char *p = text;
    const char *end = text + strlen(text);
    if (!read_decimal(&p, end, &e->slot_first)) {
        return fail(ps, "bad slots \"%s\"", text);
    }
    e->slot_last = e->slot_first;
    if (p < end && *p == '-') {
        p++;
        if (!read_decimal(&p, end, &e->slot_last)) {
            return fail(ps, "bad slots \"%s\"", text);
        }
    }
    if (p != end) {
        return fail(ps, "bad slots \"%s\"", text);
    }
    return BALLOT_OK;
}

/* One "client:seq". */
static int parse_command(parser_t *ps, parsed_t *out)
{
    char text[STRING_BYTES_MAX];
    int rc = parse_string(ps, text, sizeof text);
    if (rc != BALLOT_OK) {
        return rc;
    }
    if (out->inline_commands >= EVENT_COMMANDS_MAX) {
        return fail(ps, "more than %u commands in cmds", EVENT_COMMANDS_MAX);
    }
    const char *p = text;
    const char *end = text + strlen(text);
    uint32_t i = out->inline_commands;
    if (!read_decimal(&p, end, &out->event.client_ids[i]) || p >= end || *p != ':') {
        return fail(ps, "bad command id \"%s\" (want client:seq)", text);
    }
    p++;
    if (!read_decimal(&p, end, &out->event.sequences[i]) || p != end) {
        return fail(ps, "bad command id \"%s\" (want client:seq)", text);
    }
    out->inline_commands++;
    return BALLOT_OK;
}

static int parse_commands(parser_t *ps, parsed_t *out)
{
    int rc = expect(ps, '[');
    if (rc != BALLOT_OK) {
        return rc;
    }
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return BALLOT_OK;
    }
    for (uint32_t i = 0; i <= EVENT_COMMANDS_MAX; i++) {
        rc = parse_command(ps, out);
        if (rc != BALLOT_OK) {
            return rc;
        }
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return BALLOT_OK;
        }
        rc = expect(ps, ',');
        if (rc != BALLOT_OK) {
            return rc;
        }
    }
    return fail(ps, "more than %u commands in cmds", EVENT_COMMANDS_MAX);
}

static int parse_kind(parser_t *ps, event_t *e)
{
    char text[STRING_BYTES_MAX];
    int rc = parse_string(ps, text, sizeof text);
    if (rc != BALLOT_OK) {
        return rc;
    }
    e->kind = event_kind_from_name(text);
    if ((int)e->kind < EVENT_PREPARE_SENT || (int)e->kind > EVENT_KIND_MAX) {
        return fail(ps, "unknown event kind \"%s\"", text);
    }
    return BALLOT_OK;
}

static int parse_u32(parser_t *ps, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    int rc = parse_number(ps, max, &v);
    *out = (uint32_t)v;
    return rc;
}

static int parse_header_name(parser_t *ps)
{
    char text[STRING_BYTES_MAX];
    int rc = parse_string(ps, text, sizeof text);
    if (rc == BALLOT_OK && strcmp(text, "ballot") != 0) {
        return fail(ps, "not a ballot trace header (\"trace\":\"%s\")", text);
    }
    return rc;
}

static int parse_value(parser_t *ps, field_t field, parsed_t *out)
{
    event_t *e = &out->event;
    switch (field) {
    case FIELD_T:
        return parse_number(ps, UINT64_MAX, &e->time_ms);
    case FIELD_NODE:
        return parse_u32(ps, UINT32_MAX, &e->node);
    case FIELD_EV:
        return parse_kind(ps, e);
    case FIELD_B:
        return parse_ballot(ps, &e->ballot);
    case FIELD_SLOTS:
        return parse_slots(ps, e);
    case FIELD_PEER:
        return parse_u32(ps, UINT32_MAX, &e->peer);
    case FIELD_OB:
        return parse_ballot(ps, &e->other_ballot);
    case FIELD_UNTIL:
        return parse_number(ps, UINT64_MAX, &e->until_ms);
    case FIELD_DUR:
        return parse_number(ps, UINT64_MAX, &e->duration_ms);
    case FIELD_REASON:
        return parse_string(ps, out->reason, sizeof out->reason);
    case FIELD_CMDS:
        return parse_commands(ps, out);
    case FIELD_N:
        return parse_u32(ps, UINT32_MAX, &e->command_count);
    case FIELD_TRACE:
        return parse_header_name(ps);
    case FIELD_VERSION:
        return parse_number(ps, UINT64_MAX, &out->version);
    case FIELD_NODES:
        return parse_number(ps, UINT64_MAX, &out->nodes);
    default:
        return fail(ps, "internal: field %d", (int)field);
    }
}

static int parse_field(parser_t *ps, parsed_t *out)
{
    char key[KEY_BYTES_MAX];
    int rc = parse_string(ps, key, sizeof key);
    if (rc != BALLOT_OK) {
        return rc;
    }
    field_t field = FIELD_COUNT;
    for (int f = 0; f < FIELD_COUNT; f++) {
        if (strcmp(key, field_names[f]) == 0) {
            field = (field_t)f;
        }
    }
    if (field == FIELD_COUNT) {
        return fail(ps, "unknown key \"%s\"", key);
    }
    if (out->seen & (1u << field)) {
        return fail(ps, "key \"%s\" twice", key);
    }
    out->seen |= 1u << field;
    rc = expect(ps, ':');
    if (rc != BALLOT_OK) {
        return rc;
    }
    skip_space(ps);
    return parse_value(ps, field, out);
}

static int parse_object(parser_t *ps, parsed_t *out)
{
    int rc = expect(ps, '{');
    if (rc != BALLOT_OK) {
        return rc;
    }
    for (uint32_t i = 0; i < FIELDS_MAX; i++) {
        rc = parse_field(ps, out);
        if (rc != BALLOT_OK) {
            return rc;
        }
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            skip_space(ps);
            if (ps->p != ps->end) {
                return fail(ps, "bytes after the object");
            }
            return BALLOT_OK;
        }
        rc = expect(ps, ',');
        if (rc != BALLOT_OK) {
            return rc;
        }
    }
    return fail(ps, "more than %u keys", FIELDS_MAX);
}

static int check_reason(parser_t *ps, parsed_t *out)
{
    event_t *e = &out->event;
    if (!(out->seen & (1u << FIELD_REASON))) {
        return BALLOT_OK;
    }
    const uint32_t reject_max = (uint32_t)REJECT_REASON_MAX;
    const uint32_t step_down_max = (uint32_t)STEP_DOWN_REASON_MAX;
    const uint32_t named_max = reject_max > step_down_max ? reject_max : step_down_max;
    for (uint32_t r = 1; r <= named_max; r++) {
        const char *name = trace_reason_name(e->kind, r);
        if (name != NULL && strcmp(name, out->reason) == 0) {
            e->reason = r;
            return BALLOT_OK;
        }
    }
    const char *p = out->reason;
    uint64_t v = 0;
    if (!read_decimal(&p, p + strlen(p), &v) || *p != '\0' || v == 0 || v > UINT32_MAX) {
        return fail(ps, "unknown reason \"%s\" for %s", out->reason, event_kind_name(e->kind));
    }
    e->reason = (uint32_t)v;
    return BALLOT_OK;
}

static int check_event(parser_t *ps, parsed_t *out)
{
    event_t *e = &out->event;
    const uint32_t required = (1u << FIELD_T) | (1u << FIELD_NODE) | (1u << FIELD_EV);
    if ((out->seen & required) != required) {
        return fail(ps, "missing t, node or ev");
    }
    if (e->node == NODE_NONE || e->node > NODES_MAX) {
        return fail(ps, "node %u outside 1..%u", e->node, NODES_MAX);
    }
    if (e->peer > NODES_MAX) {
        return fail(ps, "peer %u outside 0..%u", e->peer, NODES_MAX);
    }
    bool has_cmds = (out->seen & (1u << FIELD_CMDS)) != 0;
    bool has_n = (out->seen & (1u << FIELD_N)) != 0;
    uint32_t want_inline =
        e->command_count < EVENT_COMMANDS_MAX ? e->command_count : EVENT_COMMANDS_MAX;
    if ((has_cmds && !has_n) || (has_cmds && out->inline_commands != want_inline)) {
        return fail(ps, "cmds lists %u commands but n is %u", out->inline_commands,
                    e->command_count);
    }
    return check_reason(ps, out);
}

static int check_header(parser_t *ps, const parsed_t *out, uint32_t *node_count)
{
    if (out->seen != HEADER_FIELDS) {
        return fail(ps, "a header holds exactly trace, version and nodes");
    }
    if (out->version != TRACE_FORMAT_VERSION) {
        return fail(ps, "trace format version %llu (this build reads %u)",
                    (unsigned long long)out->version, TRACE_FORMAT_VERSION);
    }
    if (out->nodes == 0 || out->nodes > NODES_MAX) {
        return fail(ps, "nodes %llu outside 1..%u", (unsigned long long)out->nodes, NODES_MAX);
    }
    *node_count = (uint32_t)out->nodes;
    return BALLOT_OK;
}

static bool is_blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
            return false;
        }
    }
    return true;
}

int trace_parse_line(const char *line, size_t len, trace_line_kind_t *kind, event_t *event,
                     uint32_t *node_count, char *msg, size_t msg_bytes)
{
    assert(line != NULL || len == 0);
    assert(kind != NULL && event != NULL && node_count != NULL);
    parser_t ps = {.start = line, .p = line, .end = line + len, .msg = msg, .msg_bytes = msg_bytes};
    if (msg != NULL && msg_bytes > 0) {
        msg[0] = '\0';
    }
    if (is_blank(line, len)) {
        *kind = TRACE_LINE_BLANK;
        return BALLOT_OK;
    }
    if (len > TRACE_LINE_BYTES_MAX) {
        return fail(&ps, "line longer than %u bytes", TRACE_LINE_BYTES_MAX);
    }
    parsed_t out;
    memset(&out, 0, sizeof out);
    int rc = parse_object(&ps, &out);
    if (rc != BALLOT_OK) {
        return rc;
    }
    if (out.seen & HEADER_FIELDS) {
        *kind = TRACE_LINE_HEADER;
        return check_header(&ps, &out, node_count);
    }
    assert((out.seen & ~EVENT_FIELDS) == 0);
    rc = check_event(&ps, &out);
    if (rc == BALLOT_OK) {
        *kind = TRACE_LINE_EVENT;
        *event = out.event;
    }
    return rc;
}
