/* Which Promise and Reject sends of a generation the receiver recorded. Both ends trace the
 * same fields of one message (src/core/acceptor.c sends, src/core/proposer.c records), so
 * a send is matched with a receipt that names the same sender, receiver, ballot, slot,
 * other ballot, reason and count of reported entries; among those, in time order: the
 * earliest unused receipt at or after the send. Only messages whose fields are all equal
 * (a Prepare refused twice, a duplicated Accept) are told apart by their order alone. */
#include <stdlib.h>

#include "core/check.h"
#include "trace/trace_view_internal.h"

typedef struct pair_entry {
    const event_t *event;
    size_t position; /* in the generation: v->by_generation[g->first + position] */
    uint32_t sender;
    uint32_t receiver;
    bool is_promise;
    bool received;
} pair_entry_t;

static bool pair_entry_fill(pair_entry_t *p, const event_t *e, size_t position)
{
    switch (e->kind) {
    case EVENT_PROMISE_SENT:
    case EVENT_REJECT_SENT:
        p->sender = e->node;
        p->receiver = e->peer;
        p->received = false;
        break;
    case EVENT_PROMISE_RECEIVED:
    case EVENT_REJECT_RECEIVED:
        p->sender = e->peer;
        p->receiver = e->node;
        p->received = true;
        break;
    default:
        return false;
    }
    p->event = e;
    p->position = position;
    p->is_promise = e->kind == EVENT_PROMISE_SENT || e->kind == EVENT_PROMISE_RECEIVED;
    return true;
}

static int compare_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : (a > b ? 1 : 0);
}

/* The fields both ends trace. A Promise's slot_last is not among them: the acceptor traces
 * where its next part starts, the proposer the slot of the last entry it received. */
static int compare_message(const pair_entry_t *a, const pair_entry_t *b)
{
    const event_t *x = a->event;
    const event_t *y = b->event;
    int c = compare_u64(a->is_promise, b->is_promise);
    c = c != 0 ? c : compare_u64(a->sender, b->sender);
    c = c != 0 ? c : compare_u64(a->receiver, b->receiver);
    c = c != 0 ? c : ballot_compare(x->ballot, y->ballot);
    c = c != 0 ? c : compare_u64(x->slot_first, y->slot_first);
    c = c != 0 ? c : ballot_compare(x->other_ballot, y->other_ballot);
    c = c != 0 ? c : compare_u64(x->reason, y->reason);
    return c != 0 ? c : compare_u64(x->command_count, y->command_count);
}

/* By message, then by position: events of one generation are in time order, so this is
 * time order within a message and a total order (deterministic output). */
static int compare_entries(const void *pa, const void *pb)
{
    const pair_entry_t *a = pa;
    const pair_entry_t *b = pb;
    int c = compare_message(a, b);
    return c != 0 ? c : compare_u64(a->position, b->position);
}

static void pair_up(const pair_entry_t *sent, const pair_entry_t *received, bool *paired)
{
    assert(!sent->received && received->received);
    assert(!paired[sent->position] && !paired[received->position]);
    paired[sent->position] = true;
    paired[received->position] = true;
}

/* One message's sends and receipts, group[0..count) in time order. Each send takes the
 * earliest unused receipt not before it; that pairs as many as any matching can. */
static void pair_in_time_order(const pair_entry_t *group, size_t count, bool *paired)
{
    size_t r = 0;
    for (size_t s = 0; s < count; s++) {
        if (group[s].received) {
            continue;
        }
        while (r < count &&
               (!group[r].received || group[r].event->time_ms < group[s].event->time_ms)) {
            r++;
        }
        if (r == count) {
            return;
        }
        pair_up(&group[s], &group[r], paired);
        r++;
    }
}

/* Left over after the time-ordered pass: receipts stamped before their send. The times come
 * from each node's own clock, so between nodes' files a receipt can read a few ms earlier
 * than its send; the fields still match, so they pair in order. */
static void pair_leftovers(const pair_entry_t *group, size_t count, bool *paired)
{
    size_t r = 0;
    for (size_t s = 0; s < count; s++) {
        if (group[s].received || paired[group[s].position]) {
            continue;
        }
        while (r < count && (!group[r].received || paired[group[r].position])) {
            r++;
        }
        if (r == count) {
            return;
        }
        pair_up(&group[s], &group[r], paired);
        r++;
    }
}

int view_pair_messages(const view_t *v, const view_generation_t *g, bool *paired)
{
    pair_entry_t *entries = malloc((g->count + 1u) * sizeof *entries);
    if (entries == NULL) {
        return BALLOT_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < g->count; i++) {
        paired[i] = false;
        n += pair_entry_fill(&entries[n], view_event(v, v->by_generation[g->first + i]), i);
    }
    assert(n <= g->count);
    qsort(entries, n, sizeof entries[0], compare_entries);
    size_t lo = 0;
    while (lo < n) {
        size_t hi = lo + 1u;
        while (hi < n && compare_message(&entries[lo], &entries[hi]) == 0) {
            hi++;
        }
        pair_in_time_order(&entries[lo], hi - lo, paired);
        pair_leftovers(&entries[lo], hi - lo, paired);
        lo = hi;
    }
    free(entries);
    return BALLOT_OK;
}
