/* `ballot trace`: the merged history, generation by generation (docs/design.md "Debugging
 * across generations"). A generation is everything that happened under one ballot; they
 * are shown in ballot order, which is the order in which each one superseded the last.
 * This file groups events, applies the filters and works out how each generation ended;
 * trace_view_lines.c prints the lines. */
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "trace/trace_view_internal.h"

typedef struct generation_key {
    ballot_t ballot;
    size_t index;
} generation_key_t;

void trace_view_options_init(trace_view_options_t *opts)
{
    assert(opts != NULL);
    memset(opts, 0, sizeof *opts);
}

static bool parse_u64_exact(const char *text, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 20) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        uint64_t d = (uint64_t)(text[i] - '0');
        if (v > (UINT64_MAX - d) / 10u) {
            return false;
        }
        v = v * 10u + d;
    }
    *out = v;
    return true;
}

/* One "CLIENT" or "CLIENT:SEQ" of a --key list. */
static bool parse_key_item(const char *text, size_t len, uint64_t *client, uint64_t *sequence)
{
    const char *colon = memchr(text, ':', len);
    *sequence = 0;
    if (colon == NULL) {
        return parse_u64_exact(text, len, client);
    }
    size_t client_len = (size_t)(colon - text);
    return parse_u64_exact(text, client_len, client) &&
           parse_u64_exact(colon + 1, len - client_len - 1u, sequence) && *sequence != 0;
}

int trace_filter_parse_key(trace_filter_t *filter, const char *text, char *msg, size_t msg_bytes)
{
    assert(filter != NULL);
    assert(text != NULL);
    size_t len = strlen(text);
    size_t start = 0;
    while (start <= len) {
        const char *comma = memchr(text + start, ',', len - start);
        size_t end = comma != NULL ? (size_t)(comma - text) : len;
        uint64_t client = 0;
        uint64_t sequence = 0;
        if (!parse_key_item(text + start, end - start, &client, &sequence)) {
            snprintf(msg, msg_bytes, "--key wants CLIENT or CLIENT:SEQ[,...], not \"%s\"", text);
            return BALLOT_EINVAL;
        }
        if (filter->key_count >= TRACE_KEY_COMMANDS_MAX) {
            snprintf(msg, msg_bytes, "--key names more than %u commands", TRACE_KEY_COMMANDS_MAX);
            return BALLOT_EINVAL;
        }
        filter->key_clients[filter->key_count] = client;
        filter->key_sequences[filter->key_count] = sequence;
        filter->key_count++;
        start = end + 1u;
    }
    return BALLOT_OK;
}

bool view_is_slot_event(event_kind_t kind)
{
    switch (kind) {
    case EVENT_PROPOSED:
    case EVENT_ACCEPT_SENT:
    case EVENT_ACCEPTED:
    case EVENT_CHOSEN:
    case EVENT_LEARNED:
    case EVENT_CARRIED_FORWARD:
    case EVENT_NOOP_FILLED:
    case EVENT_APPLIED:
        return true;
    default:
        return false;
    }
}

static uint64_t last_slot(const event_t *e)
{
    return e->slot_last > e->slot_first ? e->slot_last : e->slot_first;
}

static bool names_key(const trace_filter_t *f, const event_t *e)
{
    uint32_t inline_count =
        e->command_count < EVENT_COMMANDS_MAX ? e->command_count : EVENT_COMMANDS_MAX;
    for (uint32_t i = 0; i < inline_count; i++) {
        for (uint32_t k = 0; k < f->key_count; k++) {
            if (e->client_ids[i] == f->key_clients[k] &&
                (f->key_sequences[k] == 0 || e->sequences[i] == f->key_sequences[k])) {
                return true;
            }
        }
    }
    return false;
}

static bool passes_window(const trace_filter_t *f, const event_t *e)
{
    if (f->node_set && e->node != f->node) {
        return false;
    }
    if (f->from_set && e->time_ms < f->from_ms) {
        return false;
    }
    return !(f->to_set && e->time_ms > f->to_ms);
}

/* --slot and --key narrow slot events only; the rest is the context they happened in. */
static bool passes_slots(const view_t *v, const event_t *e)
{
    const trace_filter_t *f = &v->opts->filter;
    if (!v->slot_filtered || !view_is_slot_event(e->kind)) {
        return true;
    }
    if (f->slot_set && (e->slot_first > f->slot || last_slot(e) < f->slot)) {
        return false;
    }
    if (f->key_count > 0 && !names_key(f, e) &&
        !(e->slot_first != 0 && trace_range_overlaps(&v->key_slots, e->slot_first, last_slot(e)))) {
        return false;
    }
    return true;
}

static int build_key_slots(view_t *v)
{
    trace_range_init(&v->key_slots);
    if (v->opts->filter.key_count == 0) {
        return BALLOT_OK;
    }
    for (size_t i = 0; i < v->set->count; i++) {
        const event_t *e = &v->set->records[i].event;
        if (e->slot_first != 0 && names_key(&v->opts->filter, e)) {
            int rc = trace_range_add(&v->key_slots, e->slot_first, last_slot(e));
            if (rc != BALLOT_OK) {
                return rc;
            }
        }
    }
    trace_range_normalize(&v->key_slots);
    return BALLOT_OK;
}

static int note_node(view_node_times_t *n, const event_t *e)
{
    n->seen = true;
    n->last_ms = e->time_ms;
    if (e->kind != EVENT_RECOVERED) {
        return BALLOT_OK;
    }
    uint64_t *grown = realloc(n->recovered_ms, (n->recovered_count + 1u) * sizeof *grown);
    if (grown == NULL) {
        return BALLOT_ENOMEM;
    }
    n->recovered_ms = grown;
    n->recovered_ms[n->recovered_count++] = e->time_ms;
    return BALLOT_OK;
}

static int build_visible(view_t *v)
{
    v->visible = calloc(v->set->count + 1u, sizeof *v->visible);
    if (v->visible == NULL) {
        return BALLOT_ENOMEM;
    }
    for (size_t i = 0; i < v->set->count; i++) {
        const event_t *e = &v->set->records[i].event;
        if (i == 0) {
            v->first_ms = e->time_ms;
        }
        v->last_ms = e->time_ms;
        assert(e->node < VIEW_NODE_SLOTS);
        int rc = note_node(&v->nodes[e->node], e);
        if (rc != BALLOT_OK) {
            return rc;
        }
        v->visible[i] = passes_window(&v->opts->filter, e) && passes_slots(v, e);
        v->visible_count += v->visible[i] ? 1u : 0u;
    }
    return BALLOT_OK;
}

static bool in_generation(const event_t *e)
{
    return !ballot_is_none(e->ballot) && e->kind != EVENT_RECOVERED;
}

static int compare_generation_keys(const void *pa, const void *pb)
{
    const generation_key_t *a = pa;
    const generation_key_t *b = pb;
    int c = ballot_compare(a->ballot, b->ballot);
    if (c != 0) {
        return c;
    }
    return a->index < b->index ? -1 : (a->index > b->index ? 1 : 0);
}

static int sort_by_generation(view_t *v)
{
    generation_key_t *keys = malloc((v->set->count + 1u) * sizeof *keys);
    v->by_generation = malloc((v->set->count + 1u) * sizeof *v->by_generation);
    if (keys == NULL || v->by_generation == NULL) {
        free(keys);
        return BALLOT_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < v->set->count; i++) {
        const event_t *e = view_event(v, i);
        if (in_generation(e)) {
            keys[n++] = (generation_key_t){.ballot = e->ballot, .index = i};
        }
    }
    qsort(keys, n, sizeof keys[0], compare_generation_keys);
    for (size_t i = 0; i < n; i++) {
        v->by_generation[i] = keys[i].index;
    }
    v->by_generation_count = n;
    free(keys);
    return BALLOT_OK;
}

static int build_generations(view_t *v)
{
    int rc = sort_by_generation(v);
    if (rc != BALLOT_OK) {
        return rc;
    }
    v->generations = calloc(v->by_generation_count + 1u, sizeof *v->generations);
    if (v->generations == NULL) {
        return BALLOT_ENOMEM;
    }
    for (size_t i = 0; i < v->by_generation_count; i++) {
        ballot_t b = view_event(v, v->by_generation[i])->ballot;
        view_generation_t *g = &v->generations[v->generation_count];
        if (i == 0 || !ballot_equal(b, g[-1].ballot)) {
            g->ballot = b;
            g->first = i;
            v->generation_count++;
        }
        v->generations[v->generation_count - 1u].count++;
    }
    return BALLOT_OK;
}

/* What the proposer (the ballot's node) itself did. */
static void note_proposer_event(view_generation_t *g, const event_t *e)
{
    g->proposer_seen = true;
    switch (e->kind) {
    case EVENT_LEADER_ELECTED:
        if (!g->elected) {
            g->elected = true;
            g->elected_ms = e->time_ms;
        }
        break;
    case EVENT_STEPPED_DOWN:
        g->stepped_down = true;
        g->stepped_down_ms = e->time_ms;
        g->step_down_reason = e->reason;
        g->step_down_ballot = e->other_ballot;
        g->step_down_peer = e->peer;
        break;
    case EVENT_BACKOFF:
        g->backed_off = true;
        g->backoff_ms = e->duration_ms;
        break;
    case EVENT_CARRIED_FORWARD:
        g->carried_slots += last_slot(e) - e->slot_first + 1u;
        break;
    default:
        break;
    }
}

static void note_rejection(view_generation_t *g, uint32_t rejecter, ballot_t winner)
{
    if (rejecter != 0) {
        g->reject_mask |= 1u << rejecter;
    }
    if (ballot_less(g->beaten_by, winner)) {
        g->beaten_by = winner;
    }
}

static bool shows_a_leader(event_kind_t kind)
{
    switch (kind) {
    case EVENT_ACCEPT_SENT:
    case EVENT_ACCEPTED:
    case EVENT_CHOSEN:
    case EVENT_LEARNED:
    case EVENT_APPLIED:
    case EVENT_CARRIED_FORWARD:
    case EVENT_NOOP_FILLED:
    case EVENT_PROPOSED:
    case EVENT_LEASE_GRANTED:
    case EVENT_LEASE_ACQUIRED:
        return true;
    default:
        return false;
    }
}

static void analyze_event(view_generation_t *g, const event_t *e, bool visible)
{
    if (!g->led && shows_a_leader(e->kind)) {
        g->led = true;
        g->led_ms = e->time_ms;
    }
    if (e->node == g->ballot.node) {
        note_proposer_event(g, e);
    }
    g->has_visible = g->has_visible || visible;
    if (visible && view_is_slot_event(e->kind)) {
        g->matches_slots = true;
    }
    switch (e->kind) {
    case EVENT_PROMISE_SENT:
        /* A proposer's own promise counts once it comes back through the internal path,
         * after its record is durable: its promise_received says so. */
        g->promise_mask |= e->peer != e->node ? 1u << e->node : 0u;
        break;
    case EVENT_PROMISE_RECEIVED:
        g->promise_mask |= e->peer != 0 ? 1u << e->peer : 0u;
        break;
    case EVENT_REJECT_SENT:
    case EVENT_LEASE_REFUSED:
        note_rejection(g, e->node, e->other_ballot);
        break;
    case EVENT_REJECT_RECEIVED:
        note_rejection(g, e->peer, e->other_ballot);
        break;
    default:
        break;
    }
}

static void analyze_generations(view_t *v)
{
    for (size_t gi = 0; gi < v->generation_count; gi++) {
        view_generation_t *g = &v->generations[gi];
        g->proposer = g->ballot.node < VIEW_NODE_SLOTS ? g->ballot.node : 0;
        for (size_t i = g->first; i < g->first + g->count; i++) {
            size_t record = v->by_generation[i];
            const event_t *e = view_event(v, record);
            if (i == g->first) {
                g->first_ms = e->time_ms;
            }
            g->first_ms = e->time_ms < g->first_ms ? e->time_ms : g->first_ms;
            g->last_ms = e->time_ms > g->last_ms ? e->time_ms : g->last_ms;
            analyze_event(g, e, v->visible[record]);
        }
        if (!g->elected && g->led) {
            g->elected = true;
            g->elected_ms = g->led_ms;
        }
    }
}

static view_generation_t *find_generation(view_t *v, ballot_t b)
{
    size_t lo = 0;
    size_t hi = v->generation_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2u;
        int c = ballot_compare(v->generations[mid].ballot, b);
        if (c == 0) {
            return &v->generations[mid];
        }
        if (c < 0) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* Each generation's first Prepare is tied to what its proposer did just before: an election
 * timeout, the end of a backoff, or a leadership transfer to it. */
static void find_triggers(view_t *v)
{
    const event_t *last_trigger[VIEW_NODE_SLOTS] = {0};
    for (size_t i = 0; i < v->set->count; i++) {
        const event_t *e = view_event(v, i);
        if (e->kind == EVENT_ELECTION_TIMEOUT && last_trigger[e->node] != NULL &&
            last_trigger[e->node]->kind == EVENT_BACKOFF) {
            continue; /* the core's election timer ends a backoff: the retry is the backoff's */
        }
        if (e->kind == EVENT_LEASE_GRANTED || e->kind == EVENT_ACCEPTED) {
            last_trigger[e->node] = NULL; /* it has followed a leader since */
        } else if (e->kind == EVENT_ELECTION_TIMEOUT || e->kind == EVENT_BACKOFF) {
            last_trigger[e->node] = e;
        } else if (e->kind == EVENT_STEPPED_DOWN && e->reason == STEP_DOWN_TRANSFER &&
                   e->peer != 0) {
            last_trigger[e->peer] = e;
        } else if (e->kind == EVENT_PREPARE_SENT && e->node == e->ballot.node) {
            view_generation_t *g = find_generation(v, e->ballot);
            if (g != NULL && g->trigger == NULL && last_trigger[e->node] != NULL) {
                g->trigger = last_trigger[e->node];
            }
            last_trigger[e->node] = NULL;
        }
    }
}

static void select_shown(view_t *v)
{
    const trace_filter_t *f = &v->opts->filter;
    size_t shown = 0;
    for (size_t gi = 0; gi < v->generation_count; gi++) {
        view_generation_t *g = &v->generations[gi];
        g->shown = g->has_visible && (!f->ballot_set || ballot_equal(f->ballot, g->ballot)) &&
                   (!v->slot_filtered || g->matches_slots);
        shown += g->shown ? 1u : 0u;
    }
    uint32_t last = v->opts->last_generations;
    for (size_t gi = 0; gi < v->generation_count && last != 0 && shown > last; gi++) {
        if (v->generations[gi].shown) {
            v->generations[gi].shown = false;
            shown--;
        }
    }
}

const view_generation_t *view_next_elected(const view_t *v, const view_generation_t *g)
{
    for (const view_generation_t *h = g + 1; h < v->generations + v->generation_count; h++) {
        if (h->elected) {
            return h;
        }
    }
    return NULL;
}

uint32_t view_majority(const view_t *v)
{
    return v->node_count / 2u + 1u;
}

void view_format_nodes(uint32_t mask, char *buf, size_t buf_bytes)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t n = 1; n < VIEW_NODE_SLOTS; n++) {
        if ((mask & (1u << n)) && used < buf_bytes) {
            int w = snprintf(buf + used, buf_bytes - used, used == 0 ? "n%u" : " n%u", n);
            used += w > 0 ? (size_t)w : 0u;
        }
    }
    if (used == 0) {
        snprintf(buf, buf_bytes, "nobody");
    }
}

static uint32_t count_nodes(uint32_t mask)
{
    uint32_t n = 0;
    for (; mask != 0; mask &= mask - 1u) {
        n++;
    }
    return n;
}

static uint32_t guess_node_count(const view_t *v)
{
    if (v->opts->node_count != 0) {
        return v->opts->node_count;
    }
    if (v->set->node_count != 0) {
        return v->set->node_count;
    }
    uint32_t highest = 1;
    for (size_t i = 0; i < v->set->count; i++) {
        const event_t *e = &v->set->records[i].event;
        highest = e->node > highest ? e->node : highest;
        highest = e->peer > highest ? e->peer : highest;
    }
    return highest;
}

#define END_TEXT(...) snprintf(buf + used, used < buf_bytes ? buf_bytes - used : 0, __VA_ARGS__)

static void end_of_stepped_down(const view_generation_t *g, char *buf, size_t buf_bytes)
{
    char other[BALLOT_TEXT_BYTES];
    ballot_format(g->step_down_ballot, other, sizeof other);
    unsigned long long at = (unsigned long long)g->stepped_down_ms;
    uint32_t p = g->ballot.node;
    switch (g->step_down_reason) {
    case STEP_DOWN_SUPERSEDED:
        snprintf(buf, buf_bytes, "superseded by %s (n%u stepped down at t=%llu)", other, p, at);
        break;
    case STEP_DOWN_NO_QUORUM:
        snprintf(buf, buf_bytes,
                 "lease lost / no quorum: n%u heard no majority and stepped down at t=%llu", p, at);
        break;
    case STEP_DOWN_TRANSFER:
        snprintf(buf, buf_bytes, "leadership transferred to n%u at t=%llu", g->step_down_peer, at);
        break;
    default:
        snprintf(buf, buf_bytes, "n%u stepped down at t=%llu (reason %u)", p, at,
                 g->step_down_reason);
        break;
    }
}

/* The proposer's last event in g before `before_ms`. */
static uint64_t proposer_last_before(const view_t *v, const view_generation_t *g,
                                     uint64_t before_ms)
{
    uint64_t last = g->elected_ms;
    for (size_t i = g->first; i < g->first + g->count; i++) {
        const event_t *e = view_event(v, v->by_generation[i]);
        if (e->node == g->ballot.node && e->time_ms < before_ms && e->time_ms > last) {
            last = e->time_ms;
        }
    }
    return last;
}

/* A leader that restarted after its election lost leadership by crashing (its applies
 * after the restart still carry the ballot, so the restart is what tells). */
static bool end_of_crashed_leader(const view_t *v, const view_generation_t *g, char *buf,
                                  size_t buf_bytes)
{
    const view_node_times_t *n = &v->nodes[g->proposer];
    for (size_t i = 0; i < n->recovered_count; i++) {
        uint64_t restart_ms = n->recovered_ms[i];
        if (restart_ms <= g->elected_ms) {
            continue;
        }
        size_t used = 0;
        int w = END_TEXT("n%u crashed: its last event is at t=%llu; it restarted at t=%llu",
                         g->proposer, (unsigned long long)proposer_last_before(v, g, restart_ms),
                         (unsigned long long)restart_ms);
        used += w > 0 ? (size_t)w : 0u;
        const view_generation_t *next = view_next_elected(v, g);
        if (next != NULL) {
            char other[BALLOT_TEXT_BYTES];
            END_TEXT("; superseded by %s (elected at t=%llu)",
                     ballot_format(next->ballot, other, sizeof other),
                     (unsigned long long)next->elected_ms);
        }
        return true;
    }
    return false;
}

static void end_of_leader(const view_t *v, const view_generation_t *g, char *buf, size_t buf_bytes)
{
    uint32_t p = g->proposer;
    if (end_of_crashed_leader(v, g, buf, buf_bytes)) {
        return;
    }
    const view_generation_t *next = view_next_elected(v, g);
    if (next != NULL) {
        char other[BALLOT_TEXT_BYTES];
        snprintf(buf, buf_bytes,
                 "superseded by %s (elected at t=%llu); n%u never stepped down in its trace",
                 ballot_format(next->ballot, other, sizeof other),
                 (unsigned long long)next->elected_ms, p);
    } else if (g->last_ms >= v->last_ms) {
        snprintf(buf, buf_bytes, "still leading when the trace ends (t=%llu)",
                 (unsigned long long)v->last_ms);
    } else {
        /* An idle leader traces little, but its followers trace every lease they grant. */
        snprintf(buf, buf_bytes,
                 "no successor; its last event is at t=%llu and the trace ends at t=%llu "
                 "(n%u crashed, was cut off, or all were idle)",
                 (unsigned long long)g->last_ms, (unsigned long long)v->last_ms, p);
    }
}

static void end_of_candidate(const view_t *v, const view_generation_t *g, char *buf,
                             size_t buf_bytes)
{
    char nodes[64];
    size_t used = 0;
    view_format_nodes(g->promise_mask, nodes, sizeof nodes);
    int w = END_TEXT("no majority: promises from %s (%u of %u; majority %u)", nodes,
                     count_nodes(g->promise_mask), v->node_count, view_majority(v));
    used += w > 0 ? (size_t)w : 0u;
    if (g->reject_mask != 0) {
        char winner[BALLOT_TEXT_BYTES];
        view_format_nodes(g->reject_mask, nodes, sizeof nodes);
        w = END_TEXT("; rejected by %s for %s", nodes,
                     ballot_format(g->beaten_by, winner, sizeof winner));
        used += w > 0 ? (size_t)w : 0u;
    }
    if (g->backed_off) {
        END_TEXT("; n%u backed off %llu ms", g->ballot.node, (unsigned long long)g->backoff_ms);
    } else if (!g->proposer_seen) {
        END_TEXT("; n%u recorded nothing of it", g->ballot.node);
    }
}

void view_end_reason(const view_t *v, const view_generation_t *g, char *buf, size_t buf_bytes)
{
    assert(buf_bytes > 0);
    if (g->stepped_down) {
        end_of_stepped_down(g, buf, buf_bytes);
    } else if (g->elected) {
        end_of_leader(v, g, buf, buf_bytes);
    } else {
        end_of_candidate(v, g, buf, buf_bytes);
    }
}

/* The options that shaped this view, as they would be typed. */
static void print_filters(const view_t *v)
{
    const trace_view_options_t *o = v->opts;
    const trace_filter_t *f = &o->filter;
    if (!f->slot_set && f->key_count == 0 && !f->node_set && !f->from_set && !f->to_set &&
        !f->ballot_set && o->last_generations == 0) {
        return;
    }
    fputs("filter:", v->out);
    if (f->ballot_set) {
        char b[BALLOT_TEXT_BYTES];
        fprintf(v->out, " --ballot %s", ballot_format(f->ballot, b, sizeof b));
    }
    if (f->slot_set) {
        fprintf(v->out, " --slot %llu", (unsigned long long)f->slot);
    }
    for (uint32_t k = 0; k < f->key_count; k++) {
        fprintf(v->out, k == 0 ? " --key %llu" : ",%llu", (unsigned long long)f->key_clients[k]);
        if (f->key_sequences[k] != 0) {
            fprintf(v->out, ":%llu", (unsigned long long)f->key_sequences[k]);
        }
    }
    if (f->node_set) {
        fprintf(v->out, " --node %u", f->node);
    }
    if (f->from_set) {
        fprintf(v->out, " --from %llu", (unsigned long long)f->from_ms);
    }
    if (f->to_set) {
        fprintf(v->out, " --to %llu", (unsigned long long)f->to_ms);
    }
    if (o->last_generations != 0) {
        fprintf(v->out, " --last %u", o->last_generations);
    }
    fputs("\n", v->out);
}

static void print_header(const view_t *v)
{
    const trace_set_t *s = v->set;
    size_t shown = 0;
    for (size_t gi = 0; gi < v->generation_count; gi++) {
        shown += v->generations[gi].shown ? 1u : 0u;
    }
    fprintf(v->out, "ballot trace: %u file%s, %zu events", s->file_count,
            s->file_count == 1 ? "" : "s", s->count);
    if (s->bad_lines > 0) {
        fprintf(v->out, " (%llu bad lines skipped)", (unsigned long long)s->bad_lines);
    }
    fprintf(v->out, ", %u nodes (majority %u)", v->node_count, view_majority(v));
    if (s->count > 0) {
        fprintf(v->out, ", t=%llu..%llu", (unsigned long long)v->first_ms,
                (unsigned long long)v->last_ms);
    }
    fprintf(v->out, "\n%zu generation%s", v->generation_count, v->generation_count == 1 ? "" : "s");
    if (shown != v->generation_count) {
        fprintf(v->out, ", %zu shown", shown);
    }
    fputs("\n", v->out);
    print_filters(v);
}

void view_free(view_t *v)
{
    free(v->visible);
    free(v->by_generation);
    free(v->generations);
    for (uint32_t n = 0; n < VIEW_NODE_SLOTS; n++) {
        free(v->nodes[n].recovered_ms);
    }
    trace_range_free(&v->key_slots);
}

int view_build(view_t *v)
{
    const trace_filter_t *f = &v->opts->filter;
    v->slot_filtered = f->slot_set || f->key_count > 0;
    v->node_count = guess_node_count(v);
    int rc = build_key_slots(v);
    if (rc == BALLOT_OK) {
        rc = build_visible(v);
    }
    if (rc == BALLOT_OK) {
        rc = build_generations(v);
    }
    if (rc == BALLOT_OK) {
        analyze_generations(v);
        find_triggers(v);
        select_shown(v);
    }
    return rc;
}

int trace_view_print(const trace_set_t *set, const trace_view_options_t *opts, FILE *out)
{
    assert(set != NULL && opts != NULL && out != NULL);
    view_t v;
    memset(&v, 0, sizeof v);
    v.set = set;
    v.opts = opts;
    v.out = out;
    int rc = view_build(&v);
    if (rc == BALLOT_OK) {
        print_header(&v);
    }
    for (size_t gi = 0; gi < v.generation_count && rc == BALLOT_OK; gi++) {
        const view_generation_t *g = &v.generations[gi];
        if (g->shown) {
            rc = opts->summary ? view_print_summary_line(&v, g) : view_print_generation(&v, g);
        }
    }
    if (rc == BALLOT_OK && !opts->summary && !opts->filter.ballot_set) {
        rc = view_print_outside(&v);
    }
    view_free(&v);
    if (rc == BALLOT_OK && (fflush(out) != 0 || ferror(out))) {
        rc = BALLOT_EIO;
    }
    return rc;
}
