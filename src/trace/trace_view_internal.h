/* The generation view's working state, shared by trace_view.c (grouping, filters, how a
 * generation ended, the summary) and trace_view_lines.c (the detailed lines). */
#ifndef BALLOT_TRACE_TRACE_VIEW_INTERNAL_H
#define BALLOT_TRACE_TRACE_VIEW_INTERNAL_H

#include "core/msg.h"
#include "trace/trace.h"
#include "trace/trace_internal.h"

/* Node ids index these arrays directly (ids are 1..NODES_MAX, checked on input). */
#define VIEW_NODE_SLOTS (NODES_MAX + 1u)

/* What is known of one generation before it is printed: enough to say how every
 * generation ended, which needs to look at later ones. */
typedef struct view_generation {
    ballot_t ballot;
    uint32_t proposer; /* ballot.node when it is a valid node id, else 0 */
    size_t first;      /* its events: view.by_generation[first .. first + count) */
    size_t count;
    bool shown;
    bool has_visible;   /* holds an event the filters kept */
    bool matches_slots; /* holds a slot event that --slot/--key kept */
    uint64_t first_ms;
    uint64_t last_ms;
    bool proposer_seen;
    bool elected; /* leader_elected seen, or inferred (below) */
    uint64_t elected_ms;
    /* Only a leader sends Accepts and heartbeats at its ballot, so any accept, chosen,
     * lease or learned event under it shows it was elected, even when the election itself
     * is not in the trace (a ring dump, --from, a missing file). */
    bool led;
    uint64_t led_ms;
    uint32_t promise_mask; /* bit per node that promised (sent or counted) */
    uint32_t reject_mask;  /* bit per node that rejected */
    ballot_t beaten_by;    /* highest ballot named by a rejection */
    bool stepped_down;
    uint64_t stepped_down_ms;
    uint32_t step_down_reason;
    ballot_t step_down_ballot;
    uint32_t step_down_peer;
    bool backed_off;
    uint64_t backoff_ms;
    uint64_t carried_slots;
    const event_t *trigger; /* what made the proposer start: timeout, backoff, transfer */
} view_generation_t;

typedef struct view_node_times {
    bool seen;
    uint64_t last_ms;
    size_t recovered_count;
    uint64_t *recovered_ms; /* RECOVERED times, in order */
} view_node_times_t;

typedef struct view {
    const trace_set_t *set;
    const trace_view_options_t *opts;
    FILE *out;
    uint32_t node_count;
    bool slot_filtered; /* --slot or --key given */
    /* Per record of the set: the filters keep it. Only kept events are printed, but every
     * event counts towards how a generation went and ended, so that a filtered view still
     * tells the truth about it. */
    bool *visible;
    size_t visible_count;
    size_t *by_generation; /* events of generations (indices into set->records), by (ballot,
                              time order) */
    size_t by_generation_count;
    view_generation_t *generations;
    size_t generation_count;
    uint64_t first_ms;
    uint64_t last_ms;
    view_node_times_t nodes[VIEW_NODE_SLOTS];
    trace_range_set_t key_slots; /* slots holding a --key command */
} view_t;

static inline const event_t *view_event(const view_t *v, size_t record_index)
{
    return &v->set->records[record_index].event;
}

/* Builds the view of v->set under v->opts (v zeroed but for set, opts, out): groups,
 * filters, how each generation went. BALLOT_ENOMEM or BALLOT_OK; view_free either way. */
int view_build(view_t *v);
void view_free(view_t *v);

/* Events that act on slots (shown aggregated, and narrowed by --slot/--key). */
bool view_is_slot_event(event_kind_t kind);
/* The next generation above g that elected a leader; NULL if none. */
const view_generation_t *view_next_elected(const view_t *v, const view_generation_t *g);
/* Writes "how and why it ended" for g into buf. */
void view_end_reason(const view_t *v, const view_generation_t *g, char *buf, size_t buf_bytes);
/* Writes "n1 n2 n3" for the bits of mask. */
void view_format_nodes(uint32_t mask, char *buf, size_t buf_bytes);
uint32_t view_majority(const view_t *v);
/* Sets paired[i] (i < g->count, the generation's i-th event) for each Promise or Reject
 * sent whose receipt the trace holds, and for that receipt (trace_view_pairs.c).
 * BALLOT_ENOMEM or BALLOT_OK. */
int view_pair_messages(const view_t *v, const view_generation_t *g, bool *paired);
/* The detailed lines of one generation. BALLOT_ENOMEM or BALLOT_OK. */
int view_print_generation(const view_t *v, const view_generation_t *g);
/* The one-line summary of one generation. */
int view_print_summary_line(const view_t *v, const view_generation_t *g);
/* Events that belong to no generation (restarts, timeouts with no ballot). */
int view_print_outside(const view_t *v);

#endif
