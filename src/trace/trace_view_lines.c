/* The lines of the generation view. Phase 1 and leadership changes are few and are listed
 * one per line in time order; phase 2 (proposals, accepts, chosen and learned slots, lease
 * renewals) happens per slot and is shown as compressed slot ranges. A fact both ends
 * recorded (n3 sent a Promise, n1 counted it) is shown once, from the sender's side, with
 * a note when the receiver never recorded it. */
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "trace/trace_view_internal.h"

typedef enum merge_kind {
    MERGE_NONE = 0,
    MERGE_CARRIED,
    MERGE_NOOP,
    MERGE_REJECT_SENT,
    MERGE_REJECT_RECEIVED,
} merge_kind_t;

/* A line that may still grow: consecutive slots of the same fact become one line. */
typedef struct pending_line {
    merge_kind_t kind;
    const event_t *event; /* the first one */
    uint64_t slot_first;
    uint64_t slot_last;
    uint64_t commands;
} pending_line_t;

typedef struct line_state {
    const view_t *v;
    const view_generation_t *g; /* NULL outside any generation */
    bool matched;               /* the current event's other end is in the trace */
    uint32_t prepares_sent[VIEW_NODE_SLOTS];
    uint32_t counted_mask; /* promises the proposer recorded so far */
    uint32_t sent_mask;    /* promises acceptors recorded sending so far */
    bool rejected_by[VIEW_NODE_SLOTS];
    uint32_t ordinal; /* of the current Prepare among its sender's */
    pending_line_t pending;
} line_state_t;

typedef struct aggregate {
    trace_range_set_t proposed;
    trace_range_set_t accept_sent;
    trace_range_set_t chosen;
    trace_range_set_t accepted[VIEW_NODE_SLOTS];
    trace_range_set_t learned[VIEW_NODE_SLOTS];
    trace_range_set_t applied[VIEW_NODE_SLOTS];
    uint64_t proposed_commands;
    uint64_t accept_sends;
    uint64_t chosen_first_ms;
    uint64_t chosen_last_ms;
    uint32_t chosen_by_mask;
    uint32_t lease_grants[VIEW_NODE_SLOTS];
    uint64_t lease_until_ms[VIEW_NODE_SLOTS];
} aggregate_t;

static void aggregate_init(aggregate_t *a)
{
    memset(a, 0, sizeof *a);
    trace_range_init(&a->proposed);
    trace_range_init(&a->accept_sent);
    trace_range_init(&a->chosen);
    for (uint32_t n = 0; n < VIEW_NODE_SLOTS; n++) {
        trace_range_init(&a->accepted[n]);
        trace_range_init(&a->learned[n]);
        trace_range_init(&a->applied[n]);
    }
}

static void aggregate_free(aggregate_t *a)
{
    trace_range_free(&a->proposed);
    trace_range_free(&a->accept_sent);
    trace_range_free(&a->chosen);
    for (uint32_t n = 0; n < VIEW_NODE_SLOTS; n++) {
        trace_range_free(&a->accepted[n]);
        trace_range_free(&a->learned[n]);
        trace_range_free(&a->applied[n]);
    }
}

static uint64_t last_slot(const event_t *e)
{
    return e->slot_last > e->slot_first ? e->slot_last : e->slot_first;
}

static trace_range_set_t *aggregate_target(aggregate_t *a, const event_t *e)
{
    switch (e->kind) {
    case EVENT_PROPOSED:
        a->proposed_commands += e->command_count;
        return &a->proposed;
    case EVENT_ACCEPT_SENT:
        a->accept_sends++;
        return &a->accept_sent;
    case EVENT_CHOSEN:
        a->chosen_first_ms = a->chosen_by_mask == 0 ? e->time_ms : a->chosen_first_ms;
        a->chosen_last_ms = e->time_ms;
        a->chosen_by_mask |= 1u << e->node;
        return &a->chosen;
    case EVENT_ACCEPTED:
        return &a->accepted[e->node];
    case EVENT_LEARNED:
        return &a->learned[e->node];
    case EVENT_APPLIED:
        return &a->applied[e->node];
    default:
        return NULL;
    }
}

/* Phase-2 events into slot ranges; lease grants into counts. */
static int aggregate_event(aggregate_t *a, const event_t *e)
{
    if (e->kind == EVENT_LEASE_GRANTED) {
        a->lease_grants[e->node]++;
        a->lease_until_ms[e->node] = e->until_ms;
        return BALLOT_OK;
    }
    trace_range_set_t *target = aggregate_target(a, e);
    if (target == NULL || e->slot_first == 0) {
        return BALLOT_OK;
    }
    return trace_range_add(target, e->slot_first, last_slot(e));
}

static void aggregate_normalize(aggregate_t *a)
{
    trace_range_normalize(&a->proposed);
    trace_range_normalize(&a->accept_sent);
    trace_range_normalize(&a->chosen);
    for (uint32_t n = 0; n < VIEW_NODE_SLOTS; n++) {
        trace_range_normalize(&a->accepted[n]);
        trace_range_normalize(&a->learned[n]);
        trace_range_normalize(&a->applied[n]);
    }
}

static const char *ballot_text(ballot_t b, char *buf)
{
    return ballot_format(b, buf, BALLOT_TEXT_BYTES);
}

static void line_start(const line_state_t *ls, uint64_t t, uint32_t node)
{
    fprintf(ls->v->out, "  t=%-7llu n%u  ", (unsigned long long)t, node);
}

static void print_slots(FILE *out, uint64_t first, uint64_t last)
{
    if (last > first) {
        fprintf(out, "slots %llu-%llu", (unsigned long long)first, (unsigned long long)last);
    } else {
        fprintf(out, "slot %llu", (unsigned long long)first);
    }
}

static void print_commands(FILE *out, const event_t *e)
{
    uint32_t inline_count =
        e->command_count < EVENT_COMMANDS_MAX ? e->command_count : EVENT_COMMANDS_MAX;
    fputs(e->command_count == 1 ? "command " : "commands ", out);
    for (uint32_t i = 0; i < inline_count; i++) {
        fprintf(out, i == 0 ? "%llu:%llu" : ", %llu:%llu", (unsigned long long)e->client_ids[i],
                (unsigned long long)e->sequences[i]);
    }
    if (e->command_count > inline_count) {
        fprintf(out, " (+%u more)", e->command_count - inline_count);
    }
}

/* Why an acceptor refused, in words; `ob` is the ballot it holds to. */
static void print_reject_reason(FILE *out, uint32_t reason, ballot_t ob)
{
    char b[BALLOT_TEXT_BYTES];
    switch (reason) {
    case REJECT_PROMISED:
        fprintf(out, "already promised %s", ballot_text(ob, b));
        break;
    case REJECT_LEASE:
        fprintf(out, "holds a lease for %s", ballot_text(ob, b));
        break;
    case REJECT_LEADER_ALIVE:
        fprintf(out, "hears a live leader at %s", ballot_text(ob, b));
        break;
    case REJECT_RECOVERING:
        fprintf(out, "recovering from a restart (promised %s)", ballot_text(ob, b));
        break;
    default:
        fprintf(out, "reason %u (promised %s)", reason, ballot_text(ob, b));
        break;
    }
}

static void print_pending(line_state_t *ls)
{
    pending_line_t *pl = &ls->pending;
    const event_t *e = pl->event;
    FILE *out = ls->v->out;
    char b[BALLOT_TEXT_BYTES];
    bool many = pl->slot_last > pl->slot_first;
    if (pl->kind == MERGE_REJECT_RECEIVED) {
        line_start(ls, e->time_ms, e->node);
        fprintf(out, "is rejected by n%u at ", e->peer);
        print_slots(out, pl->slot_first, pl->slot_last);
        fputs(": ", out);
        print_reject_reason(out, e->reason, e->other_ballot);
        fputs("\n", out);
        return;
    }
    line_start(ls, e->time_ms, e->node);
    if (pl->kind == MERGE_REJECT_SENT) {
        fprintf(out, "rejects %s at ", ballot_text(e->ballot, b));
        print_slots(out, pl->slot_first, pl->slot_last);
        fputs(": ", out);
        print_reject_reason(out, e->reason, e->other_ballot);
        fputs("\n", out);
        return;
    }
    print_slots(out, pl->slot_first, pl->slot_last);
    if (pl->kind == MERGE_NOOP) {
        fputs(many ? ": filled with no-ops (nobody reported a value)\n"
                   : ": filled with a no-op (nobody reported a value)\n",
              out);
    } else {
        assert(pl->kind == MERGE_CARRIED);
        fprintf(out,
                many ? ": carries forward the values accepted at %s (proposed by n%u)"
                     : ": carries forward the value accepted at %s (proposed by n%u)",
                ballot_text(e->other_ballot, b), e->other_ballot.node);
        if (e->peer != 0 && !many) {
            fprintf(out, ", reported by n%u", e->peer);
        }
        if (e->command_count != 0 && !many) {
            fputs(": ", out);
            print_commands(out, e);
        }
        fputs("\n", out);
    }
}

static void flush_pending(line_state_t *ls)
{
    if (ls->pending.kind != MERGE_NONE) {
        print_pending(ls);
        ls->pending.kind = MERGE_NONE;
    }
}

static bool extends_pending(const pending_line_t *pl, merge_kind_t kind, const event_t *e)
{
    const event_t *f = pl->event;
    return pl->kind == kind && f->node == e->node && f->peer == e->peer && f->reason == e->reason &&
           ballot_equal(f->other_ballot, e->other_ballot) && e->slot_first != 0 &&
           e->slot_first == pl->slot_last + 1u;
}

static void add_mergeable(line_state_t *ls, merge_kind_t kind, const event_t *e)
{
    pending_line_t *pl = &ls->pending;
    if (pl->kind != MERGE_NONE && extends_pending(pl, kind, e)) {
        pl->slot_last = last_slot(e);
        pl->commands += e->command_count;
        return;
    }
    flush_pending(ls);
    pl->kind = kind;
    pl->event = e;
    pl->slot_first = e->slot_first;
    pl->slot_last = last_slot(e);
    pl->commands = e->command_count;
}

static void print_trigger(FILE *out, const event_t *t, uint32_t node)
{
    if (t == NULL) {
        return;
    }
    if (t->kind == EVENT_ELECTION_TIMEOUT && t->duration_ms != 0) {
        fprintf(out, " (after an election timeout: no leader heard for %llu ms)",
                (unsigned long long)t->duration_ms);
    } else if (t->kind == EVENT_ELECTION_TIMEOUT) {
        fputs(" (after an election timeout)", out);
    } else if (t->kind == EVENT_BACKOFF) {
        fprintf(out, " (after backing off %llu ms)", (unsigned long long)t->duration_ms);
    } else if (t->kind == EVENT_STEPPED_DOWN && t->peer == node) {
        fprintf(out, " (n%u handed leadership over to it)", t->node);
    }
}

static void print_prepare(line_state_t *ls, const event_t *e)
{
    FILE *out = ls->v->out;
    uint32_t sent = ls->ordinal;
    line_start(ls, e->time_ms, e->node);
    if (e->peer != 0) {
        fprintf(out, "asks n%u again (Prepare from slot %llu)\n", e->peer,
                (unsigned long long)e->slot_first);
        return;
    }
    fprintf(out, "%s Prepare from slot %llu", sent == 0 ? "sends" : "resends",
            (unsigned long long)e->slot_first);
    if (!ballot_is_none(e->other_ballot)) {
        /* A hand-over: the old leader voided its lease and sent TIMEOUT_NOW. */
        char b[BALLOT_TEXT_BYTES];
        fprintf(out, " (leadership handed over by %s, which waived its lease)",
                ballot_text(e->other_ballot, b));
    } else if (sent == 0 && ls->g != NULL && e->node == ls->g->ballot.node) {
        print_trigger(out, ls->g->trigger, e->node);
    }
    fputs("\n", out);
}

/* What a Promise reported. The acceptor traces the slot it reports from, the count of
 * accepted entries, and (slot_last) where its next part starts when the report did not fit
 * one message; the proposer traces the slot of the last entry it received instead. */
static void print_report(FILE *out, const event_t *e)
{
    if (e->command_count == 0) {
        fprintf(out, " (nothing accepted at slot >= %llu)", (unsigned long long)e->slot_first);
        return;
    }
    fprintf(out, " (reports %u accepted at slot >= %llu", e->command_count,
            (unsigned long long)e->slot_first);
    if (e->kind == EVENT_PROMISE_SENT && e->slot_last > e->slot_first) {
        fprintf(out, "; more from slot %llu", (unsigned long long)e->slot_last);
    } else if (e->kind == EVENT_PROMISE_RECEIVED && e->slot_last >= e->slot_first) {
        fprintf(out, ", the last at slot %llu", (unsigned long long)e->slot_last);
    }
    fputs(")", out);
}

/* Sender and receiver recorded the same message (trace_view_pairs.c): it is shown once.
 * When the receiver has a trace but did not record it, the message (or the receiver) was
 * lost. */
static bool receiver_missed(const line_state_t *ls, uint32_t receiver)
{
    return !ls->matched && receiver < VIEW_NODE_SLOTS && ls->v->nodes[receiver].seen;
}

static void print_promise_sent(line_state_t *ls, const event_t *e)
{
    FILE *out = ls->v->out;
    line_start(ls, e->time_ms, e->node);
    fputs("promises", out);
    print_report(out, e);
    /* A proposer stops recording Promises once it has its majority, so a missing one
     * only tells something when the generation never elected a leader. */
    if (ls->g != NULL && !ls->g->elected && receiver_missed(ls, e->peer)) {
        fprintf(out, "; n%u never recorded it", e->peer);
    }
    fputs("\n", out);
}

static void print_promise_received(line_state_t *ls, const event_t *e)
{
    if (ls->matched) {
        return; /* shown from the sender's side */
    }
    line_start(ls, e->time_ms, e->node);
    fprintf(ls->v->out, "counts a promise from n%u", e->peer);
    print_report(ls->v->out, e);
    fputs("\n", ls->v->out);
}

static void print_reject_sent(line_state_t *ls, const event_t *e)
{
    bool missed = receiver_missed(ls, e->peer);
    if (e->slot_first != 0 && !missed) {
        add_mergeable(ls, MERGE_REJECT_SENT, e);
        return;
    }
    FILE *out = ls->v->out;
    char b[BALLOT_TEXT_BYTES];
    line_start(ls, e->time_ms, e->node);
    fprintf(out, "rejects %s", ballot_text(e->ballot, b));
    if (e->slot_first != 0) {
        fputs(" at ", out);
        print_slots(out, e->slot_first, last_slot(e));
    }
    fputs(": ", out);
    print_reject_reason(out, e->reason, e->other_ballot);
    if (missed) {
        fprintf(out, "; n%u never recorded it", e->peer);
    }
    fputs("\n", out);
}

static void print_reject_received(line_state_t *ls, const event_t *e)
{
    if (ls->matched) {
        return; /* shown from the sender's side */
    }
    if (e->slot_first != 0) {
        add_mergeable(ls, MERGE_REJECT_RECEIVED, e);
        return;
    }
    line_start(ls, e->time_ms, e->node);
    fprintf(ls->v->out, "is rejected by n%u: ", e->peer);
    print_reject_reason(ls->v->out, e->reason, e->other_ballot);
    fputs("\n", ls->v->out);
}

static void print_elected(line_state_t *ls, const event_t *e)
{
    char nodes[64];
    uint32_t mask = ls->counted_mask != 0 ? ls->counted_mask : ls->sent_mask;
    uint32_t count = 0;
    for (uint32_t m = mask; m != 0; m &= m - 1u) {
        count++;
    }
    view_format_nodes(mask, nodes, sizeof nodes);
    line_start(ls, e->time_ms, e->node);
    fprintf(ls->v->out, "elected leader: promises from %s (%u of %u; majority %u)\n", nodes, count,
            ls->v->node_count, view_majority(ls->v));
}

static void print_stepped_down(line_state_t *ls, const event_t *e)
{
    FILE *out = ls->v->out;
    char b[BALLOT_TEXT_BYTES];
    line_start(ls, e->time_ms, e->node);
    switch (e->reason) {
    case STEP_DOWN_SUPERSEDED:
        fprintf(out, "steps down: superseded by %s\n", ballot_text(e->other_ballot, b));
        break;
    case STEP_DOWN_NO_QUORUM:
        fputs("steps down: no majority answered in time (lease lost)\n", out);
        break;
    case STEP_DOWN_TRANSFER:
        fprintf(out, "steps down: hands leadership to n%u\n", e->peer);
        break;
    default:
        fprintf(out, "steps down (reason %u)\n", e->reason);
        break;
    }
}

static void print_lease_refused(line_state_t *ls, const event_t *e)
{
    if (ls->rejected_by[e->node]) {
        return; /* its Reject says the same */
    }
    line_start(ls, e->time_ms, e->node);
    fputs("refuses to promise: ", ls->v->out);
    print_reject_reason(ls->v->out, e->reason, e->other_ballot);
    if (e->until_ms != 0) {
        fprintf(ls->v->out, " until t=%llu", (unsigned long long)e->until_ms);
    }
    fputs("\n", ls->v->out);
}

static void print_simple(line_state_t *ls, const event_t *e)
{
    FILE *out = ls->v->out;
    char b[BALLOT_TEXT_BYTES];
    line_start(ls, e->time_ms, e->node);
    switch (e->kind) {
    case EVENT_BACKOFF:
        fprintf(out, "backs off %llu ms", (unsigned long long)e->duration_ms);
        if (!ballot_is_none(e->other_ballot)) {
            fprintf(out, " (lost to %s)", ballot_text(e->other_ballot, b));
        }
        fputs("\n", out);
        break;
    case EVENT_ELECTION_TIMEOUT:
        fprintf(out, "election timeout: no leader heard for %llu ms\n",
                (unsigned long long)e->duration_ms);
        break;
    case EVENT_LEASE_ACQUIRED:
        fprintf(out, "holds the lease until t=%llu\n", (unsigned long long)e->until_ms);
        break;
    case EVENT_LEASE_EXPIRED:
        fputs("its lease expired\n", out);
        break;
    case EVENT_RECOVERED:
        fprintf(out, "restarts from its durable state (promised %s)\n",
                ballot_is_none(e->ballot) ? "nothing" : ballot_text(e->ballot, b));
        break;
    default:
        fprintf(out, "%s\n", event_kind_name(e->kind));
        break;
    }
}

/* One event of the time-ordered part; phase-2 kinds are left to the aggregate. */
static void print_event_line(line_state_t *ls, const event_t *e)
{
    if (e->kind == EVENT_CARRIED_FORWARD) {
        add_mergeable(ls, MERGE_CARRIED, e);
        return;
    }
    if (e->kind == EVENT_NOOP_FILLED) {
        add_mergeable(ls, MERGE_NOOP, e);
        return;
    }
    bool merges =
        (e->kind == EVENT_REJECT_SENT || e->kind == EVENT_REJECT_RECEIVED) && e->slot_first != 0;
    if (!merges) {
        flush_pending(ls);
    }
    switch (e->kind) {
    case EVENT_PREPARE_SENT:
        print_prepare(ls, e);
        break;
    case EVENT_PROMISE_SENT:
        print_promise_sent(ls, e);
        break;
    case EVENT_PROMISE_RECEIVED:
        print_promise_received(ls, e);
        break;
    case EVENT_REJECT_SENT:
        print_reject_sent(ls, e);
        break;
    case EVENT_REJECT_RECEIVED:
        print_reject_received(ls, e);
        break;
    case EVENT_LEADER_ELECTED:
        print_elected(ls, e);
        break;
    case EVENT_STEPPED_DOWN:
        print_stepped_down(ls, e);
        break;
    case EVENT_LEASE_REFUSED:
        print_lease_refused(ls, e);
        break;
    case EVENT_BACKOFF:
    case EVENT_ELECTION_TIMEOUT:
    case EVENT_LEASE_ACQUIRED:
    case EVENT_LEASE_EXPIRED:
    case EVENT_RECOVERED:
        print_simple(ls, e);
        break;
    default:
        break; /* prepare_received: its answer says more; phase 2: aggregated */
    }
}

/* Advances the per-node counters for every event, printed or filtered out, so that the
 * Prepare and promise counts stay right under any filter. Sets ls->ordinal. */
static void bump_counters(line_state_t *ls, const event_t *e)
{
    ls->ordinal = 0;
    switch (e->kind) {
    case EVENT_PREPARE_SENT:
        ls->ordinal = ls->prepares_sent[e->node]++;
        break;
    case EVENT_PROMISE_SENT:
        ls->sent_mask |= 1u << e->node;
        break;
    case EVENT_PROMISE_RECEIVED:
        ls->counted_mask |= e->peer != 0 ? 1u << e->peer : 0u;
        break;
    default:
        break;
    }
}

static void print_node_ranges(FILE *out, const char *label, const trace_range_set_t *sets)
{
    bool any = false;
    for (uint32_t n = 1; n < VIEW_NODE_SLOTS; n++) {
        any = any || sets[n].count > 0;
    }
    if (!any) {
        return;
    }
    fprintf(out, "    %-10s", label);
    bool first = true;
    for (uint32_t n = 1; n < VIEW_NODE_SLOTS; n++) {
        if (sets[n].count > 0) {
            fprintf(out, first ? "n%u " : "; n%u ", n);
            trace_range_print(out, &sets[n]);
            first = false;
        }
    }
    fputs("\n", out);
}

static void print_leases_granted(FILE *out, const aggregate_t *a)
{
    bool first = true;
    for (uint32_t n = 1; n < VIEW_NODE_SLOTS; n++) {
        if (a->lease_grants[n] == 0) {
            continue;
        }
        fprintf(out, first ? "    %-10s" : "; ", "lease");
        fprintf(out, "n%u granted it %u time%s (last until t=%llu)", n, a->lease_grants[n],
                a->lease_grants[n] == 1 ? "" : "s", (unsigned long long)a->lease_until_ms[n]);
        first = false;
    }
    if (!first) {
        fputs("\n", out);
    }
}

static void print_aggregate(const view_t *v, const aggregate_t *a)
{
    FILE *out = v->out;
    if (a->proposed.count > 0) {
        fprintf(out, "    %-10s", "proposed");
        trace_range_print(out, &a->proposed);
        if (a->proposed_commands == 0) {
            fputs(" (no-ops only)\n", out);
        } else {
            fprintf(out, " (%llu command%s)\n", (unsigned long long)a->proposed_commands,
                    a->proposed_commands == 1 ? "" : "s");
        }
    }
    if (a->accept_sent.count > 0) {
        fprintf(out, "    %-10s", "accepts");
        trace_range_print(out, &a->accept_sent);
        uint64_t slots = trace_range_total(&a->accept_sent);
        fprintf(out, " sent");
        if (a->accept_sends > slots) {
            fprintf(out, " (%llu resends)", (unsigned long long)(a->accept_sends - slots));
        }
        fputs("\n", out);
    }
    print_node_ranges(out, "accepted", a->accepted);
    if (a->chosen.count > 0) {
        char nodes[64];
        view_format_nodes(a->chosen_by_mask, nodes, sizeof nodes);
        fprintf(out, "    %-10s", "chosen");
        trace_range_print(out, &a->chosen);
        fprintf(out, " (seen by %s, t=%llu..%llu)\n", nodes, (unsigned long long)a->chosen_first_ms,
                (unsigned long long)a->chosen_last_ms);
    }
    print_node_ranges(out, "learned", a->learned);
    print_node_ranges(out, "applied", a->applied);
    print_leases_granted(out, a);
}

/* Prints the lines when given the pairing (view_pair_messages), and only aggregates for the
 * summary (NULL). The pairing covers every event of the generation, shown or filtered out,
 * so that a filtered view tells the same about a message as the whole one. */
static int walk_generation(line_state_t *ls, aggregate_t *a, const bool *paired)
{
    const view_t *v = ls->v;
    const view_generation_t *g = ls->g;
    for (size_t i = g->first; i < g->first + g->count; i++) {
        const event_t *e = view_event(v, v->by_generation[i]);
        ls->rejected_by[e->node] = ls->rejected_by[e->node] || e->kind == EVENT_REJECT_SENT;
    }
    for (size_t i = 0; i < g->count; i++) {
        size_t record = v->by_generation[g->first + i];
        const event_t *e = view_event(v, record);
        bump_counters(ls, e);
        ls->matched = paired != NULL && paired[i];
        if (!v->visible[record]) {
            continue;
        }
        int rc = aggregate_event(a, e);
        if (rc != BALLOT_OK) {
            return rc;
        }
        if (paired != NULL) {
            print_event_line(ls, e);
        }
    }
    flush_pending(ls);
    aggregate_normalize(a);
    return BALLOT_OK;
}

int view_print_generation(const view_t *v, const view_generation_t *g)
{
    line_state_t ls;
    memset(&ls, 0, sizeof ls);
    ls.v = v;
    ls.g = g;
    aggregate_t a;
    aggregate_init(&a);
    char b[BALLOT_TEXT_BYTES];
    fprintf(v->out, "\n== generation %s (proposer n%u) ==\n", ballot_text(g->ballot, b),
            g->ballot.node);
    bool *paired = malloc((g->count + 1u) * sizeof *paired);
    int rc = paired == NULL ? BALLOT_ENOMEM : view_pair_messages(v, g, paired);
    rc = rc == BALLOT_OK ? walk_generation(&ls, &a, paired) : rc;
    if (rc == BALLOT_OK) {
        print_aggregate(v, &a);
        char reason[256];
        view_end_reason(v, g, reason, sizeof reason);
        fprintf(v->out, "  ended: %s\n", reason);
    }
    free(paired);
    aggregate_free(&a);
    return rc;
}

int view_print_summary_line(const view_t *v, const view_generation_t *g)
{
    line_state_t ls;
    memset(&ls, 0, sizeof ls);
    ls.v = v;
    ls.g = g;
    aggregate_t a;
    aggregate_init(&a);
    int rc = walk_generation(&ls, &a, NULL); /* no lines: no pairing needed */
    if (rc == BALLOT_OK) {
        char b[BALLOT_TEXT_BYTES];
        char leader[16];
        char reason[256];
        snprintf(leader, sizeof leader, g->elected ? "n%u" : "-", g->ballot.node);
        view_end_reason(v, g, reason, sizeof reason);
        uint32_t promises = 0;
        uint32_t rejects = 0;
        for (uint32_t n = 1; n < VIEW_NODE_SLOTS; n++) {
            promises += (g->promise_mask >> n) & 1u;
            rejects += (g->reject_mask >> n) & 1u;
        }
        fprintf(v->out,
                "%-12s leader %-3s t=%llu-%llu  promises %u rejects %u  carried %llu  chosen ",
                ballot_text(g->ballot, b), leader, (unsigned long long)g->first_ms,
                (unsigned long long)g->last_ms, promises, rejects,
                (unsigned long long)g->carried_slots);
        if (a.chosen.count > 0) {
            trace_range_print(v->out, &a.chosen);
        } else {
            fputs("none", v->out);
        }
        fprintf(v->out, "  ended: %s\n", reason);
    }
    aggregate_free(&a);
    return rc;
}

/* Events that belong to no generation: restarts, timeouts before any ballot is known. With
 * --last N only those from the first shown generation on. */
int view_print_outside(const view_t *v)
{
    uint64_t since_ms = 0;
    if (v->opts->last_generations != 0) {
        for (size_t gi = 0; gi < v->generation_count; gi++) {
            if (v->generations[gi].shown) {
                since_ms = v->generations[gi].first_ms;
                break;
            }
        }
    }
    line_state_t ls;
    memset(&ls, 0, sizeof ls);
    ls.v = v;
    aggregate_t a;
    aggregate_init(&a);
    bool any = false;
    int rc = BALLOT_OK;
    for (size_t i = 0; i < v->set->count && rc == BALLOT_OK; i++) {
        const event_t *e = view_event(v, i);
        if (!v->visible[i] || (!ballot_is_none(e->ballot) && e->kind != EVENT_RECOVERED) ||
            e->time_ms < since_ms) {
            continue;
        }
        bump_counters(&ls, e);
        if (!any) {
            fputs("\n== outside any generation ==\n", v->out);
            any = true;
        }
        rc = aggregate_event(&a, e);
        print_event_line(&ls, e);
    }
    flush_pending(&ls);
    aggregate_normalize(&a);
    if (any) {
        print_aggregate(v, &a);
    }
    aggregate_free(&a);
    return rc;
}
