/* `ballot trace --html OUT FILES...`: the generation timeline as one self-contained page
 * (trace.h, docs/debugging.md "The timeline page"). Everything is drawn here as inline SVG
 * with data attributes; the page's small script only highlights (a slot's or a command's
 * path) and shows details, so the picture is complete without it. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/check.h"
#include "trace/trace_html_assets.h"
#include "trace/trace_view_internal.h"

#define HTML_LEFT       64.0 /* lane labels */
#define HTML_RIGHT      40.0
#define HTML_LANE_H     64.0
#define HTML_GEN_ROW_H  20.0
#define HTML_GEN_ROWS   8u
#define HTML_GAP_LINEAR 4.0 /* ms: gaps up to this are drawn at HTML_PX_PER_MS */
#define HTML_PX_PER_MS  9.0
#define HTML_GAP_PX_MAX 150.0
#define HTML_GAP_BREAK  40u /* ms: longer gaps get a break mark on the axis */
#define HTML_WIDTH_MIN  900.0
#define HTML_WIDTH_MAX  16000.0
#define HTML_LABEL_CHAR 6.6 /* px per character of a generation label */

typedef struct html {
    view_t v;
    FILE *out;
    uint64_t t0;
    uint64_t t1;
    /* The time axis is compressed: each gap between consecutive event times gets a width
     * that grows with the gap but slower (a burst of 1 ms steps stays readable next to a
     * second of heartbeats). knot_t[i] is drawn at knot_x[i]; between knots it is linear. */
    uint64_t *knot_t;
    double *knot_x;
    size_t knots;
    double width;
    double lanes_top;
    uint32_t lanes;
    size_t elements;
    size_t omitted;
    bool *used; /* per record: the receipt already paired with a send */
    uint32_t *gen_row;
} html_t;

/* ---- small writers ---- */

static void put_escaped(FILE *out, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        switch (*p) {
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '&':
            fputs("&amp;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        default:
            fputc(*p, out);
            break;
        }
    }
}

static void put_lines(FILE *out, const char *const *lines)
{
    for (size_t i = 0; lines[i] != NULL; i++) {
        fputs(lines[i], out);
    }
}

static const char *btext(ballot_t b, char *buf)
{
    return ballot_format(b, buf, BALLOT_TEXT_BYTES);
}

static double x_of(const html_t *h, uint64_t t)
{
    if (h->knots == 0 || t <= h->knot_t[0]) {
        return HTML_LEFT;
    }
    if (t >= h->knot_t[h->knots - 1u]) {
        return h->knot_x[h->knots - 1u];
    }
    size_t lo = 0;
    size_t hi = h->knots - 1u;
    while (hi - lo > 1u) {
        size_t mid = lo + (hi - lo) / 2u;
        if (h->knot_t[mid] <= t) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    double f = (double)(t - h->knot_t[lo]) / (double)(h->knot_t[hi] - h->knot_t[lo]);
    return h->knot_x[lo] + (h->knot_x[hi] - h->knot_x[lo]) * f;
}

/* The width a gap of d ms is drawn with. */
static double gap_px(uint64_t d)
{
    double ms = (double)d;
    if (ms <= HTML_GAP_LINEAR) {
        return ms * HTML_PX_PER_MS;
    }
    double px = HTML_GAP_LINEAR * HTML_PX_PER_MS + 14.0 * log2(ms / HTML_GAP_LINEAR);
    return px > HTML_GAP_PX_MAX ? HTML_GAP_PX_MAX : px;
}

static double lane_y(const html_t *h, uint32_t node)
{
    return h->lanes_top + (double)(node - 1u) * HTML_LANE_H;
}

static double lane_mid(const html_t *h, uint32_t node)
{
    return lane_y(h, node) + HTML_LANE_H / 2.0;
}

static bool node_ok(const html_t *h, uint32_t node)
{
    return node >= 1u && node <= h->lanes;
}

/* Counts one more drawn element; false (and counted as left out) past the page's bound. */
static bool budget(html_t *h)
{
    if (h->elements >= TRACE_HTML_ELEMENTS_MAX) {
        h->omitted++;
        return false;
    }
    h->elements++;
    return true;
}

static uint64_t last_slot_of(const event_t *e)
{
    return e->slot_last > e->slot_first ? e->slot_last : e->slot_first;
}

/* data-s0/s1 (slots), data-cmds, data-gen and data-node of an element. */
static void put_data(FILE *out, const event_t *e)
{
    char b[BALLOT_TEXT_BYTES];
    fprintf(out, " data-node=\"%u\" data-t=\"%llu\"", e->node, (unsigned long long)e->time_ms);
    if (!ballot_is_none(e->ballot)) {
        fprintf(out, " data-gen=\"%s\"", btext(e->ballot, b));
    }
    if (e->slot_first != 0) {
        fprintf(out, " data-s0=\"%llu\" data-s1=\"%llu\"", (unsigned long long)e->slot_first,
                (unsigned long long)last_slot_of(e));
    }
    uint32_t named = e->command_count < EVENT_COMMANDS_MAX ? e->command_count : EVENT_COMMANDS_MAX;
    if (named > 0) {
        fputs(" data-cmds=\"", out);
        for (uint32_t i = 0; i < named; i++) {
            fprintf(out, "%s%llu:%llu", i == 0 ? "" : " ", (unsigned long long)e->client_ids[i],
                    (unsigned long long)e->sequences[i]);
        }
        fputc('"', out);
    }
}

static void put_slots(FILE *out, const event_t *e)
{
    if (e->slot_first == 0) {
        return;
    }
    if (last_slot_of(e) > e->slot_first) {
        fprintf(out, " slots %llu-%llu", (unsigned long long)e->slot_first,
                (unsigned long long)last_slot_of(e));
    } else {
        fprintf(out, " slot %llu", (unsigned long long)e->slot_first);
    }
}

static void put_commands(FILE *out, const event_t *e)
{
    uint32_t named = e->command_count < EVENT_COMMANDS_MAX ? e->command_count : EVENT_COMMANDS_MAX;
    if (e->command_count == 0) {
        return;
    }
    fprintf(out, " (%u command%s", e->command_count, e->command_count == 1 ? "" : "s");
    for (uint32_t i = 0; i < named; i++) {
        fprintf(out, "%s%llu:%llu", i == 0 ? ": " : ", ", (unsigned long long)e->client_ids[i],
                (unsigned long long)e->sequences[i]);
    }
    fputs(named < e->command_count ? ", ...)" : ")", out);
}

static const char *reason_text(const event_t *e)
{
    const char *name = trace_reason_name(e->kind, e->reason);
    return name != NULL ? name : "";
}

/* A <title>: one line saying what the element stands for. */
static void put_title(FILE *out, const event_t *e, const char *what)
{
    char b[BALLOT_TEXT_BYTES];
    char ob[BALLOT_TEXT_BYTES];
    fprintf(out, "<title>t=%llu n%u %s", (unsigned long long)e->time_ms, e->node, what);
    if (!ballot_is_none(e->ballot)) {
        fprintf(out, " %s", btext(e->ballot, b));
    }
    put_slots(out, e);
    if (e->peer != 0) {
        fprintf(out, " peer n%u", e->peer);
    }
    if (!ballot_is_none(e->other_ballot)) {
        fprintf(out, " (%s %s)", e->kind == EVENT_CARRIED_FORWARD ? "from" : "other",
                btext(e->other_ballot, ob));
    }
    if (e->reason != 0) {
        fprintf(out, " reason %s", reason_text(e));
    }
    if (e->until_ms != 0) {
        fprintf(out, " until t=%llu", (unsigned long long)e->until_ms);
    }
    if (e->duration_ms != 0) {
        fprintf(out, " for %llu ms", (unsigned long long)e->duration_ms);
    }
    put_commands(out, e);
    fputs("</title>", out);
}

/* ---- layout ---- */

static int layout(html_t *h)
{
    const view_t *v = &h->v;
    bool any = false;
    for (size_t i = 0; i < v->set->count; i++) {
        if (!v->visible[i]) {
            continue;
        }
        const event_t *e = view_event(v, i);
        if (!any || e->time_ms < h->t0) {
            h->t0 = e->time_ms;
        }
        if (!any || e->time_ms > h->t1) {
            h->t1 = e->time_ms;
        }
        any = true;
    }
    if (!any) {
        h->t0 = v->first_ms;
        h->t1 = v->last_ms;
    }
    /* The knots: every distinct visible event time (the set is sorted by time). */
    h->knot_t = malloc((v->set->count + 2u) * sizeof *h->knot_t);
    h->knot_x = malloc((v->set->count + 2u) * sizeof *h->knot_x);
    if (h->knot_t == NULL || h->knot_x == NULL) {
        return BALLOT_ENOMEM;
    }
    h->knot_t[h->knots++] = h->t0;
    for (size_t i = 0; i < v->set->count; i++) {
        uint64_t t = view_event(v, i)->time_ms;
        if (v->visible[i] && t > h->knot_t[h->knots - 1u]) {
            h->knot_t[h->knots++] = t;
        }
    }
    if (h->knots == 1u) {
        h->knot_t[h->knots++] = h->t0 + 1u;
    }
    double total = 0.0;
    for (size_t k = 1; k < h->knots; k++) {
        total += gap_px(h->knot_t[k] - h->knot_t[k - 1u]);
    }
    double fit = total < HTML_WIDTH_MIN ? HTML_WIDTH_MIN / total
                                        : (total > HTML_WIDTH_MAX ? HTML_WIDTH_MAX / total : 1.0);
    h->knot_x[0] = HTML_LEFT;
    for (size_t k = 1; k < h->knots; k++) {
        h->knot_x[k] = h->knot_x[k - 1u] + gap_px(h->knot_t[k] - h->knot_t[k - 1u]) * fit;
    }
    h->t1 = h->knot_t[h->knots - 1u];
    h->width = h->knot_x[h->knots - 1u] + HTML_RIGHT;
    h->lanes = v->node_count;
    for (size_t i = 0; i < v->set->count; i++) {
        const event_t *e = view_event(v, i);
        h->lanes = e->node > h->lanes ? e->node : h->lanes;
    }
    /* Generation bars in rows: the first row whose last bar ends before this one starts. */
    h->gen_row = calloc(v->generation_count + 1u, sizeof *h->gen_row);
    if (h->gen_row == NULL) {
        return BALLOT_ENOMEM;
    }
    double row_end[HTML_GEN_ROWS];
    for (uint32_t r = 0; r < HTML_GEN_ROWS; r++) {
        row_end[r] = -1.0;
    }
    uint32_t rows = 1;
    for (size_t gi = 0; gi < v->generation_count; gi++) {
        const view_generation_t *g = &v->generations[gi];
        if (!g->shown) {
            continue;
        }
        double x0 = x_of(h, g->first_ms);
        double x1 = x_of(h, g->last_ms);
        double label_end = x0 + 30.0 * HTML_LABEL_CHAR;
        double end = (x1 > label_end ? x1 : label_end) + 4.0;
        uint32_t row = (uint32_t)(gi % HTML_GEN_ROWS);
        for (uint32_t r = 0; r < HTML_GEN_ROWS; r++) {
            if (row_end[r] < x0) {
                row = r;
                break;
            }
        }
        row_end[row] = end;
        h->gen_row[gi] = row;
        rows = row + 1u > rows ? row + 1u : rows;
    }
    h->lanes_top = 28.0 + (double)rows * HTML_GEN_ROW_H + 8.0;
    return BALLOT_OK;
}

static const char *hue_of(size_t gi, char *buf, size_t buf_bytes)
{
    snprintf(buf, buf_bytes, "hsl(%u,65%%,50%%)", (unsigned)((gi * 137u + 200u) % 360u));
    return buf;
}

/* ---- drawing ---- */

static void draw_lanes(html_t *h)
{
    FILE *out = h->out;
    fputs("<g id=\"lanes\">", out);
    for (uint32_t n = 1; n <= h->lanes; n++) {
        double y = lane_y(h, n);
        fprintf(out,
                "<g class=\"lane\" data-node=\"%u\"><rect class=\"lane-bg\" x=\"%.1f\" y=\"%.1f\" "
                "width=\"%.1f\" height=\"%.1f\"/><line class=\"lane-line\" x1=\"%.1f\" "
                "y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/><text class=\"lane-label\" x=\"8\" "
                "y=\"%.1f\">n%u</text></g>",
                n, HTML_LEFT, y, h->width - HTML_LEFT - HTML_RIGHT / 2.0, HTML_LANE_H, HTML_LEFT,
                y + HTML_LANE_H / 2.0, h->width - HTML_RIGHT / 2.0, y + HTML_LANE_H / 2.0,
                y + HTML_LANE_H / 2.0 + 4.0, n);
    }
    fputs("</g>\n", out);
}

/* Ticks at event times at least 70 px apart, and a break mark where a long quiet gap was
 * drawn narrower than its length. */
static void draw_axis(html_t *h)
{
    FILE *out = h->out;
    double y = lane_y(h, h->lanes + 1u) + 4.0;
    fprintf(out,
            "<g id=\"axis\"><line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
            "y2=\"%.1f\"/>",
            HTML_LEFT, y, h->knot_x[h->knots - 1u], y);
    double last_label = -1000.0;
    for (size_t k = 0; k < h->knots; k++) {
        double x = h->knot_x[k];
        if (k > 0 && h->knot_t[k] - h->knot_t[k - 1u] > HTML_GAP_BREAK) {
            double mid = (x + h->knot_x[k - 1u]) / 2.0;
            fprintf(
                out,
                "<g class=\"gap\"><text x=\"%.1f\" y=\"%.1f\">\xe2\x89\x88</text><title>%llu ms "
                "without events, drawn narrower</title></g>",
                mid - 4.0, y + 4.0, (unsigned long long)(h->knot_t[k] - h->knot_t[k - 1u]));
        }
        if (x - last_label < 70.0) {
            continue;
        }
        last_label = x;
        fprintf(out,
                "<line class=\"tick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text class=\"tick-label\" x=\"%.1f\" y=\"%.1f\">%llu</text>",
                x, y, x, y + 5.0, x, h->lanes_top, x, y, x - 6.0, y + 17.0,
                (unsigned long long)h->knot_t[k]);
    }
    fprintf(out, "<text class=\"tick-label\" x=\"8\" y=\"%.1f\">t (ms)</text></g>\n", y + 17.0);
}

/* When the generation's proposer stopped leading it (for its band on the proposer's lane). */
static uint64_t leader_end(const html_t *h, const view_generation_t *g)
{
    if (g->stepped_down && g->stepped_down_ms >= g->elected_ms) {
        return g->stepped_down_ms;
    }
    const view_generation_t *next = view_next_elected(&h->v, g);
    if (next != NULL && next->elected_ms > g->elected_ms && next->elected_ms < g->last_ms) {
        return next->elected_ms;
    }
    return g->last_ms;
}

static void draw_generations(html_t *h)
{
    FILE *out = h->out;
    const view_t *v = &h->v;
    double top = h->lanes_top;
    double height = (double)h->lanes * HTML_LANE_H;
    fputs("<g id=\"generations\">", out);
    for (size_t gi = 0; gi < v->generation_count; gi++) {
        const view_generation_t *g = &v->generations[gi];
        if (!g->shown || !budget(h)) {
            continue;
        }
        char b[BALLOT_TEXT_BYTES];
        char color[32];
        char ended[512];
        hue_of(gi, color, sizeof color);
        view_end_reason(v, g, ended, sizeof ended);
        double x0 = x_of(h, g->first_ms);
        double x1 = x_of(h, g->last_ms);
        double w = x1 - x0 < 2.0 ? 2.0 : x1 - x0;
        double ry = 28.0 + (double)h->gen_row[gi] * HTML_GEN_ROW_H;
        fprintf(out,
                "<g class=\"gen\" data-gen=\"%s\" data-leader=\"%u\" data-first=\"%llu\" "
                "data-last=\"%llu\" style=\"--c:%s\">",
                btext(g->ballot, b), g->elected ? g->proposer : 0u, (unsigned long long)g->first_ms,
                (unsigned long long)g->last_ms, color);
        fprintf(out, "<title>generation %s: proposer n%u, %s; t=%llu..%llu; ended: ", b,
                g->proposer, g->elected ? "elected" : "not elected",
                (unsigned long long)g->first_ms, (unsigned long long)g->last_ms);
        put_escaped(out, ended);
        fputs("</title>", out);
        char label[BALLOT_TEXT_BYTES + 32];
        if (g->elected) {
            snprintf(label, sizeof label, "%s leader n%u", b, g->proposer);
        } else {
            snprintf(label, sizeof label, "%s no majority", b);
        }
        fprintf(out,
                "<rect class=\"band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>"
                "<rect class=\"gen-bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>"
                "<text class=\"gen-label\" x=\"%.1f\" y=\"%.1f\">%s</text>",
                x0, top, w, height, x0, ry, w, HTML_GEN_ROW_H - 6.0, x0 + 2.0, ry + 10.5, label);
        if (g->elected && node_ok(h, g->proposer)) {
            double lx0 = x_of(h, g->elected_ms);
            double lx1 = x_of(h, leader_end(h, g));
            fprintf(out,
                    "<rect class=\"leader-band\" data-node=\"%u\" x=\"%.1f\" y=\"%.1f\" "
                    "width=\"%.1f\" height=\"%.1f\"><title>n%u leads %s from t=%llu</title>"
                    "</rect><text class=\"leader-label\" x=\"%.1f\" y=\"%.1f\">leader n%u</text>",
                    g->proposer, lx0, lane_y(h, g->proposer) + 3.0,
                    lx1 - lx0 < 2.0 ? 2.0 : lx1 - lx0, HTML_LANE_H - 6.0, g->proposer, b,
                    (unsigned long long)g->elected_ms, lx0 + 12.0, lane_y(h, g->proposer) + 12.0,
                    g->proposer);
        }
        fputs("</g>", out);
    }
    fputs("</g>\n", out);
}

static bool same_message(const event_t *sent, const event_t *got)
{
    if (got->node != sent->peer || got->peer != sent->node ||
        !ballot_equal(got->ballot, sent->ballot) || got->slot_first != sent->slot_first) {
        return false;
    }
    if (sent->kind == EVENT_PROMISE_SENT) {
        return got->kind == EVENT_PROMISE_RECEIVED && got->command_count == sent->command_count;
    }
    return got->kind == EVENT_REJECT_RECEIVED && got->reason == sent->reason &&
           ballot_equal(got->other_ballot, sent->other_ballot);
}

/* How far around a send find_receipt looks (events of the generation, in time order), so
 * that pairing stays linear in the generation's size. */
#define HTML_PAIR_BEFORE 64u
#define HTML_PAIR_AFTER  4096u

/* The receipt of the Promise or Reject that is the generation's at-th event: the earliest
 * unused one at or after the send, else the earliest unused one before it (clocks differ
 * between nodes). */
static const event_t *find_receipt(html_t *h, const view_generation_t *g, size_t at,
                                   const event_t *sent)
{
    size_t best = SIZE_MAX;
    size_t from = at - g->first > HTML_PAIR_BEFORE ? at - HTML_PAIR_BEFORE : g->first;
    size_t to =
        g->first + g->count - at > HTML_PAIR_AFTER ? at + HTML_PAIR_AFTER : g->first + g->count;
    for (size_t i = from; i < to; i++) {
        size_t rec = h->v.by_generation[i];
        const event_t *e = view_event(&h->v, rec);
        if (h->used[rec] || !same_message(sent, e)) {
            continue;
        }
        if (e->time_ms >= sent->time_ms) {
            best = rec;
            break;
        }
        if (best == SIZE_MAX) {
            best = rec;
        }
    }
    if (best == SIZE_MAX) {
        return NULL;
    }
    h->used[best] = true;
    return view_event(&h->v, best);
}

static void draw_arrow(html_t *h, const event_t *e, const char *kind, uint32_t from, uint64_t t0,
                       uint32_t to, uint64_t t1, bool unmatched, const char *what)
{
    FILE *out = h->out;
    if (!node_ok(h, from) || !node_ok(h, to) || !budget(h)) {
        return;
    }
    double x0 = x_of(h, t0);
    double x1 = x_of(h, t1);
    if (x1 - x0 < 3.0) {
        x1 = x0 + 3.0; /* a message takes time: never a vertical line */
    }
    double y0 = lane_mid(h, from);
    double y1 = lane_mid(h, to) + (to > from ? -4.0 : 4.0);
    char b[BALLOT_TEXT_BYTES];
    fprintf(out, "<g class=\"arrow %s%s\" data-from=\"%u\" data-to=\"%u\" data-kind=\"%s\"", kind,
            unmatched ? " unmatched" : "", from, to, kind);
    put_data(out, e);
    if (e->kind == EVENT_REJECT_SENT || e->kind == EVENT_REJECT_RECEIVED) {
        fprintf(out, " data-beaten-by=\"%s\"", btext(e->other_ballot, b));
    }
    fprintf(out, "><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" marker-end=\"url(#%s)\"/>",
            x0, y0, x1, y1, strcmp(kind, "reject") == 0 ? "head-reject" : "head-promise");
    put_title(out, e, what);
    if (strcmp(kind, "reject") == 0) {
        fprintf(out, "<text class=\"beat\" x=\"%.1f\" y=\"%.1f\">%s</text>", (x0 + x1) / 2.0 + 2.0,
                (y0 + y1) / 2.0, btext(e->other_ballot, b));
    }
    fputs("</g>", out);
}

static void draw_messages(html_t *h, const view_generation_t *g)
{
    for (size_t i = g->first; i < g->first + g->count; i++) {
        size_t rec = h->v.by_generation[i];
        const event_t *e = view_event(&h->v, rec);
        if (!h->v.visible[rec]) {
            continue;
        }
        bool promise = e->kind == EVENT_PROMISE_SENT;
        if (promise || e->kind == EVENT_REJECT_SENT) {
            if (promise && e->peer == e->node) {
                continue; /* its own promise: no message */
            }
            const event_t *got = find_receipt(h, g, i, e);
            draw_arrow(h, e, promise ? "promise" : "reject", e->node, e->time_ms, e->peer,
                       got != NULL ? got->time_ms : e->time_ms, got == NULL,
                       promise ? "promises" : "rejects");
        }
    }
    /* Receipts whose send is not in the trace. */
    for (size_t i = g->first; i < g->first + g->count; i++) {
        size_t rec = h->v.by_generation[i];
        const event_t *e = view_event(&h->v, rec);
        if (!h->v.visible[rec] || h->used[rec] || e->peer == e->node) {
            continue;
        }
        if (e->kind == EVENT_PROMISE_RECEIVED || e->kind == EVENT_REJECT_RECEIVED) {
            bool promise = e->kind == EVENT_PROMISE_RECEIVED;
            draw_arrow(h, e, promise ? "promise" : "reject", e->peer, e->time_ms, e->node,
                       e->time_ms, true, promise ? "counts a promise" : "is rejected");
        }
    }
}

/* Where slot `slot`'s value under ballot `from` came from: its proposal in that generation
 * (the leader's proposed, accept or carried event), else an acceptor's vote. */
static const event_t *find_origin(const html_t *h, ballot_t from, uint64_t slot)
{
    const view_t *v = &h->v;
    size_t lo = 0;
    size_t hi = v->generation_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2u;
        int c = ballot_compare(v->generations[mid].ballot, from);
        if (c == 0) {
            lo = mid;
            break;
        }
        if (c < 0) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    if (lo >= v->generation_count || !ballot_equal(v->generations[lo].ballot, from)) {
        return NULL;
    }
    const view_generation_t *g = &v->generations[lo];
    const event_t *vote = NULL;
    for (size_t i = g->first; i < g->first + g->count; i++) {
        const event_t *e = view_event(v, v->by_generation[i]);
        if (e->slot_first > slot || last_slot_of(e) < slot || e->slot_first == 0) {
            continue;
        }
        if (e->kind == EVENT_PROPOSED || e->kind == EVENT_CARRIED_FORWARD ||
            e->kind == EVENT_ACCEPT_SENT) {
            return e;
        }
        if (e->kind == EVENT_ACCEPTED && vote == NULL) {
            vote = e;
        }
    }
    return vote;
}

static void draw_carry_link(html_t *h, const event_t *e)
{
    const event_t *origin = find_origin(h, e->other_ballot, e->slot_first);
    if (origin == NULL || !node_ok(h, origin->node) || !node_ok(h, e->node) || !budget(h)) {
        return;
    }
    FILE *out = h->out;
    char b[BALLOT_TEXT_BYTES];
    double x0 = x_of(h, origin->time_ms);
    double y0 = lane_mid(h, origin->node) - 14.0;
    double x1 = x_of(h, e->time_ms);
    double y1 = lane_mid(h, e->node) - 14.0;
    double lift = 24.0 + (x1 - x0) * 0.08;
    lift = lift > 60.0 ? 60.0 : lift;
    fprintf(out, "<g class=\"carry\" data-from-gen=\"%s\"", btext(e->other_ballot, b));
    put_data(out, e);
    fprintf(out,
            "><path d=\"M%.1f %.1f C%.1f %.1f %.1f %.1f %.1f %.1f\" "
            "marker-end=\"url(#head-carry)\"/>",
            x0, y0, x0 + (x1 - x0) * 0.3, (y0 < y1 ? y0 : y1) - lift, x1 - (x1 - x0) * 0.3,
            (y0 < y1 ? y0 : y1) - lift, x1, y1);
    put_title(out, e, "carries forward the value of");
    fputs("</g>", out);
}

/* A glyph for one slot event. */
static void draw_slot_event(html_t *h, const event_t *e)
{
    FILE *out = h->out;
    if (!node_ok(h, e->node) || !budget(h)) {
        return;
    }
    double x = x_of(h, e->time_ms);
    double y = lane_mid(h, e->node);
    const char *cls = "";
    const char *what = "";
    char shape[160];
    switch (e->kind) {
    case EVENT_PROPOSED:
        cls = "proposed";
        what = "proposes";
        snprintf(shape, sizeof shape, "<rect x=\"%.1f\" y=\"%.1f\" width=\"6\" height=\"6\"/>",
                 x - 3.0, y - 17.0);
        break;
    case EVENT_CARRIED_FORWARD:
        cls = "carried";
        what = "carries forward";
        snprintf(shape, sizeof shape, "<rect x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"7\"/>",
                 x - 3.5, y - 17.5);
        break;
    case EVENT_NOOP_FILLED:
        cls = "noop";
        what = "fills with a no-op";
        snprintf(shape, sizeof shape, "<rect x=\"%.1f\" y=\"%.1f\" width=\"6\" height=\"6\"/>",
                 x - 3.0, y - 17.0);
        break;
    case EVENT_ACCEPT_SENT:
        cls = "accept";
        what = "sends Accept";
        snprintf(shape, sizeof shape, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x,
                 y - 10.0, x, y - 4.0);
        break;
    case EVENT_ACCEPTED:
        cls = "accepted";
        what = "accepts";
        snprintf(shape, sizeof shape, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>", x, y);
        break;
    case EVENT_CHOSEN:
        cls = "chosen";
        what = "sees chosen";
        snprintf(shape, sizeof shape, "<path d=\"M%.1f %.1f l4 4 l-4 4 l-4 -4 z\"/>", x, y - 26.0);
        break;
    case EVENT_LEARNED:
        cls = "learned";
        what = "learns";
        snprintf(shape, sizeof shape, "<path d=\"M%.1f %.1f l3 5 l-6 0 z\"/>", x, y + 7.0);
        break;
    default:
        return;
    }
    fprintf(out, "<g class=\"slot-ev %s\"", cls);
    put_data(out, e);
    fprintf(out, ">%s", shape);
    put_title(out, e, what);
    fputs("</g>", out);
    if (e->kind == EVENT_CARRIED_FORWARD && !ballot_is_none(e->other_ballot)) {
        draw_carry_link(h, e);
    }
}

/* A point event on a lane: elections, step-downs, timeouts, restarts. */
static void draw_point(html_t *h, const event_t *e, const char *cls, const char *glyph,
                       const char *what)
{
    if (!node_ok(h, e->node) || !budget(h)) {
        return;
    }
    FILE *out = h->out;
    fprintf(out, "<g class=\"point %s\"", cls);
    put_data(out, e);
    fprintf(out, "><text x=\"%.1f\" y=\"%.1f\">%s</text>", x_of(h, e->time_ms) - 4.0,
            lane_mid(h, e->node) + 22.0, glyph);
    put_title(out, e, what);
    fputs("</g>", out);
}

static void draw_event(html_t *h, const event_t *e)
{
    switch (e->kind) {
    case EVENT_PROPOSED:
    case EVENT_CARRIED_FORWARD:
    case EVENT_NOOP_FILLED:
    case EVENT_ACCEPT_SENT:
    case EVENT_ACCEPTED:
    case EVENT_CHOSEN:
    case EVENT_LEARNED:
        draw_slot_event(h, e);
        break;
    case EVENT_PREPARE_SENT:
        if (e->node == e->ballot.node) {
            draw_point(h, e, "prepare", "P", "sends Prepare");
        }
        break;
    case EVENT_LEADER_ELECTED:
        draw_point(h, e, "elected", "\xe2\x98\x85", "is elected leader of");
        break;
    case EVENT_STEPPED_DOWN:
        draw_point(h, e, "stepdown", "\xe2\x86\x93", "steps down from");
        break;
    case EVENT_ELECTION_TIMEOUT:
        draw_point(h, e, "timeout", "\xe2\x97\x94", "election timeout");
        break;
    case EVENT_BACKOFF:
        draw_point(h, e, "backoff", "\xe2\x80\xa6", "backs off");
        break;
    case EVENT_RECOVERED:
        draw_point(h, e, "restart", "\xe2\x96\xb2", "restarts from its durable state");
        break;
    default:
        break;
    }
}

/* Crashes the trace implies: a node's last event before each of its restarts (before the
 * restart's own millisecond, and no apply: a restart replays its log). */
static void draw_crashes(html_t *h)
{
    const view_t *v = &h->v;
    const event_t *last[VIEW_NODE_SLOTS] = {0};
    size_t next[VIEW_NODE_SLOTS] = {0}; /* each node's next restart, in recovered_ms */
    for (size_t i = 0; i < v->set->count; i++) {
        const event_t *e = view_event(v, i);
        const view_node_times_t *n = &v->nodes[e->node];
        while (next[e->node] < n->recovered_count && n->recovered_ms[next[e->node]] < e->time_ms) {
            next[e->node]++;
        }
        if (e->kind == EVENT_RECOVERED && last[e->node] != NULL && v->visible[i] &&
            node_ok(h, e->node) && budget(h)) {
            const event_t *c = last[e->node];
            fprintf(h->out,
                    "<g class=\"point crash\" data-node=\"%u\" data-t=\"%llu\"><text x=\"%.1f\" "
                    "y=\"%.1f\">\xe2\x9c\x95</text><title>n%u crashed after t=%llu (its last "
                    "event); it restarted at t=%llu</title></g>",
                    c->node, (unsigned long long)c->time_ms, x_of(h, c->time_ms) - 4.0,
                    lane_mid(h, c->node) + 5.0, c->node, (unsigned long long)c->time_ms,
                    (unsigned long long)e->time_ms);
            double x0 = x_of(h, c->time_ms);
            double x1 = x_of(h, e->time_ms);
            fprintf(h->out,
                    "<rect class=\"down\" data-node=\"%u\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                    "height=\"%.1f\"><title>n%u down (no events) t=%llu..%llu</title></rect>",
                    c->node, x0, lane_y(h, c->node) + 2.0, x1 - x0, HTML_LANE_H - 4.0, c->node,
                    (unsigned long long)c->time_ms, (unsigned long long)e->time_ms);
        }
        bool at_restart =
            next[e->node] < n->recovered_count && n->recovered_ms[next[e->node]] == e->time_ms;
        if (e->kind == EVENT_RECOVERED) {
            last[e->node] = NULL;
        } else if (e->kind != EVENT_APPLIED && !at_restart) {
            /* Applies replayed at the restart are no sign of life before the crash. */
            last[e->node] = e;
        }
    }
}

/* Leases: each node's grants (as a follower) and holdings (as the leader), merged into bars
 * per node and generation. */
typedef struct lease_bar {
    bool open;
    bool leader;
    ballot_t ballot;
    uint64_t from;
    uint64_t until;
    uint32_t count;
} lease_bar_t;

static void flush_lease(html_t *h, uint32_t node, lease_bar_t *bar)
{
    if (!bar->open || !budget(h)) {
        bar->open = false;
        return;
    }
    char b[BALLOT_TEXT_BYTES];
    double x0 = x_of(h, bar->from);
    double x1 = x_of(h, bar->until);
    double y = lane_y(h, node) + HTML_LANE_H - (bar->leader ? 12.0 : 7.0);
    fprintf(h->out,
            "<rect class=\"lease %s\" data-node=\"%u\" data-gen=\"%s\" x=\"%.1f\" y=\"%.1f\" "
            "width=\"%.1f\" height=\"4\"><title>n%u %s %s's lease t=%llu..%llu (%u time%s)"
            "</title></rect>",
            bar->leader ? "held" : "granted", node, btext(bar->ballot, b), x0, y,
            x1 - x0 < 1.0 ? 1.0 : x1 - x0, node, bar->leader ? "holds" : "grants", b,
            (unsigned long long)bar->from, (unsigned long long)bar->until, bar->count,
            bar->count == 1 ? "" : "s");
    bar->open = false;
}

static void draw_leases(html_t *h)
{
    const view_t *v = &h->v;
    lease_bar_t bars[VIEW_NODE_SLOTS][2];
    memset(bars, 0, sizeof bars);
    for (size_t i = 0; i < v->set->count; i++) {
        const event_t *e = view_event(v, i);
        bool held = e->kind == EVENT_LEASE_ACQUIRED;
        if ((!held && e->kind != EVENT_LEASE_GRANTED) || !v->visible[i] || e->until_ms == 0 ||
            !node_ok(h, e->node)) {
            continue;
        }
        lease_bar_t *bar = &bars[e->node][held ? 1 : 0];
        if (bar->open && (!ballot_equal(bar->ballot, e->ballot) || e->time_ms > bar->until)) {
            flush_lease(h, e->node, bar);
        }
        if (!bar->open) {
            *bar = (lease_bar_t){.open = true,
                                 .leader = held,
                                 .ballot = e->ballot,
                                 .from = e->time_ms,
                                 .until = e->until_ms,
                                 .count = 0};
        }
        bar->until = e->until_ms > bar->until ? e->until_ms : bar->until;
        bar->count++;
    }
    for (uint32_t n = 0; n < VIEW_NODE_SLOTS; n++) {
        flush_lease(h, n, &bars[n][0]);
        flush_lease(h, n, &bars[n][1]);
    }
}

static const char *mark_class(const char *text)
{
    if (strstr(text, "crash") != NULL || strstr(text, "fsync failed") != NULL) {
        return "crash";
    }
    if (strncmp(text, "restart", 7) == 0 || strstr(text, "rejoin") != NULL) {
        return "restart";
    }
    if (strstr(text, "partition") != NULL || strstr(text, "swizzle") != NULL ||
        strstr(text, "heal") != NULL) {
        return "partition";
    }
    return "note";
}

static void draw_marks(html_t *h, const trace_mark_t *marks, size_t count)
{
    FILE *out = h->out;
    double top = h->lanes_top;
    double bottom = lane_y(h, h->lanes + 1u);
    for (size_t i = 0; i < count; i++) {
        const trace_mark_t *m = &marks[i];
        if (m->time_ms < h->t0 || m->time_ms > h->t1 || m->text == NULL || !budget(h)) {
            continue;
        }
        const char *cls = mark_class(m->text);
        double x = x_of(h, m->time_ms);
        bool whole = m->node == 0 || !node_ok(h, m->node);
        double y0 = whole ? top : lane_y(h, m->node);
        double y1 = whole ? bottom : lane_y(h, m->node) + HTML_LANE_H;
        fprintf(out,
                "<g class=\"mark %s\" data-node=\"%u\" data-t=\"%llu\"><line x1=\"%.1f\" "
                "y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/><text x=\"%.1f\" y=\"%.1f\">%s</text>"
                "<title>t=%llu ",
                cls, m->node, (unsigned long long)m->time_ms, x, y0, x, y1, x + 2.0, y0 + 9.0,
                strcmp(cls, "crash") == 0       ? "\xe2\x9c\x95"
                : strcmp(cls, "restart") == 0   ? "\xe2\x96\xb2"
                : strcmp(cls, "partition") == 0 ? "\xe2\x9c\x82"
                                                : "\xe2\x80\xa2",
                (unsigned long long)m->time_ms);
        if (whole) {
            fputs("cluster: ", out);
        } else {
            fprintf(out, "n%u ", m->node);
        }

        put_escaped(out, m->text);
        fputs("</title></g>", out);
    }
}

static void draw_defs(FILE *out)
{
    fputs("<defs>"
          "<marker id=\"head-promise\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
          "markerWidth=\"6\" markerHeight=\"6\" orient=\"auto-start-reverse\">"
          "<path d=\"M0 0 L10 5 L0 10 z\" class=\"head promise\"/></marker>"
          "<marker id=\"head-reject\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
          "markerWidth=\"6\" markerHeight=\"6\" orient=\"auto-start-reverse\">"
          "<path d=\"M0 0 L10 5 L0 10 z\" class=\"head reject\"/></marker>"
          "<marker id=\"head-carry\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
          "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">"
          "<path d=\"M0 0 L10 5 L0 10 z\" class=\"head carry\"/></marker>"
          "</defs>\n",
          out);
}

static int draw_svg(html_t *h, const trace_mark_t *marks, size_t mark_count)
{
    FILE *out = h->out;
    const view_t *v = &h->v;
    double height = lane_y(h, h->lanes + 1u) + 30.0;
    fprintf(out,
            "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
            "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" data-t0=\"%llu\" data-t1=\"%llu\" "
            "data-nodes=\"%u\">\n",
            h->width, height, h->width, height, (unsigned long long)h->t0,
            (unsigned long long)h->t1, h->lanes);
    draw_defs(out);
    fprintf(out, "<text class=\"gen-head\" x=\"8\" y=\"20\">generations</text>");
    draw_lanes(h);
    draw_generations(h);
    draw_axis(h);
    fputs("<g id=\"leases\">", out);
    draw_leases(h);
    fputs("</g>\n<g id=\"messages\">", out);
    h->used = calloc(v->set->count + 1u, sizeof *h->used);
    if (h->used == NULL) {
        return BALLOT_ENOMEM;
    }
    for (size_t gi = 0; gi < v->generation_count; gi++) {
        if (v->generations[gi].shown) {
            draw_messages(h, &v->generations[gi]);
        }
    }
    fputs("</g>\n<g id=\"events\">", out);
    for (size_t gi = 0; gi < v->generation_count; gi++) {
        const view_generation_t *g = &v->generations[gi];
        if (!g->shown) {
            continue;
        }
        for (size_t i = g->first; i < g->first + g->count; i++) {
            size_t rec = v->by_generation[i];
            if (v->visible[rec]) {
                draw_event(h, view_event(v, rec));
            }
        }
    }
    /* Events of no generation (restarts, slots learned from a Learn), unless one generation
     * was asked for. */
    for (size_t i = 0; i < v->set->count && !v->opts->filter.ballot_set; i++) {
        const event_t *e = view_event(v, i);
        if (v->visible[i] && (ballot_is_none(e->ballot) || e->kind == EVENT_RECOVERED)) {
            draw_event(h, e);
        }
    }
    draw_crashes(h);
    fputs("</g>\n<g id=\"marks\">", out);
    draw_marks(h, marks, mark_count);
    fputs("</g>\n<g id=\"path\"></g>\n</svg>\n", out);
    return BALLOT_OK;
}

/* The text view of the same set and filters, for the page's "text view" section. */
static int put_text_view(html_t *h)
{
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    if (mem == NULL) {
        return BALLOT_ENOMEM;
    }
    int rc = trace_view_print(h->v.set, h->v.opts, mem);
    if (fclose(mem) != 0 && rc == BALLOT_OK) {
        rc = BALLOT_ENOMEM;
    }
    if (rc == BALLOT_OK && text != NULL) {
        fputs("<details id=\"text-view\"><summary>the text view (ballot trace, same filters)"
              "</summary><pre>",
              h->out);
        put_escaped(h->out, text);
        fputs("</pre></details>\n", h->out);
    }
    free(text);
    return rc;
}

static void put_header(html_t *h, const char *title)
{
    FILE *out = h->out;
    const view_t *v = &h->v;
    size_t shown = 0;
    for (size_t gi = 0; gi < v->generation_count; gi++) {
        shown += v->generations[gi].shown ? 1u : 0u;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", out);
    put_escaped(out, title);
    fputs("</title>\n<style>", out);
    put_lines(out, trace_html_css);
    fputs("</style></head>\n<body>\n<header><h1>", out);
    put_escaped(out, title);
    fprintf(out,
            "</h1><p id=\"facts\" data-generations=\"%zu\" data-shown=\"%zu\" "
            "data-events=\"%zu\">%zu events, %u nodes (majority %u), t=%llu..%llu ms, "
            "%zu generation%s",
            v->generation_count, shown, v->set->count, v->set->count, v->node_count,
            view_majority(v), (unsigned long long)h->t0, (unsigned long long)h->t1,
            v->generation_count, v->generation_count == 1 ? "" : "s");
    if (shown != v->generation_count) {
        fprintf(out, " (%zu shown)", shown);
    }
    fputs("</p>\n", out);
    put_lines(out, trace_html_controls);
}

int trace_html_write(const trace_set_t *set, const trace_view_options_t *opts,
                     const trace_mark_t *marks, size_t mark_count, const char *title, FILE *out)
{
    assert(set != NULL && opts != NULL && out != NULL);
    html_t h;
    memset(&h, 0, sizeof h);
    h.v.set = set;
    h.v.opts = opts;
    h.v.out = out;
    h.out = out;
    int rc = view_build(&h.v);
    if (rc == BALLOT_OK) {
        rc = layout(&h);
    }
    if (rc == BALLOT_OK) {
        put_header(&h, title != NULL ? title : "ballot trace");
        fputs("<main id=\"scroll\">", out);
        rc = draw_svg(&h, marks, mark_count);
        fputs("</main>\n", out);
    }
    if (rc == BALLOT_OK) {
        if (h.omitted > 0) {
            fprintf(out,
                    "<p id=\"omitted\" class=\"warn\">%zu elements past the page's bound of %u "
                    "were not drawn: narrow the view with --from/--to, --last, --ballot, "
                    "--node, --slot or --key.</p>\n",
                    h.omitted, TRACE_HTML_ELEMENTS_MAX);
        }
        fputs("<aside id=\"details\"><p>Click a slot event, an arrow or a band for its "
              "details; a slot or a command to follow its path.</p></aside>\n",
              out);
        rc = put_text_view(&h);
        fputs("<script>", out);
        put_lines(out, trace_html_js);
        fputs("</script>\n</body></html>\n", out);
    }
    free(h.used);
    free(h.gen_row);
    free(h.knot_t);
    free(h.knot_x);
    view_free(&h.v);
    if (rc == BALLOT_OK && (fflush(out) != 0 || ferror(out))) {
        rc = BALLOT_EIO;
    }
    return rc;
}

int trace_html_write_file(const trace_set_t *set, const trace_view_options_t *opts,
                          const trace_mark_t *marks, size_t mark_count, const char *title,
                          const char *path, char *msg, size_t msg_bytes)
{
    char tmp[4096];
    /* A name of this process's own: two runs writing one path never share a file. */
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) {
        snprintf(msg, msg_bytes, "%s: path too long", path);
        return BALLOT_EINVAL;
    }
    FILE *out = fopen(tmp, "w");
    if (out == NULL) {
        snprintf(msg, msg_bytes, "%s: cannot write: %s", path, strerror(errno));
        return BALLOT_EIO;
    }
    int rc = trace_html_write(set, opts, marks, mark_count, title, out);
    int saved = errno;
    if (fclose(out) != 0 && rc == BALLOT_OK) {
        saved = errno;
        rc = BALLOT_EIO;
    }
    if (rc == BALLOT_OK && rename(tmp, path) != 0) {
        saved = errno;
        rc = BALLOT_EIO;
    }
    if (rc != BALLOT_OK) {
        unlink(tmp);
        snprintf(msg, msg_bytes, "%s: %s", path,
                 rc == BALLOT_EIO ? strerror(saved) : ballot_strerror(rc));
    }
    return rc;
}
