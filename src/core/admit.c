/* Admission of a received message against what this node already knows (docs/security.md
 * "Bounds on input and memory"). msg_validate() has bounded every field and node.c checked
 * the ids against the cluster; what is left needs the node's state:
 *
 *   - a Learn naming a slot this node holds chosen, with another value, is impossible from
 *     a correct member (a slot has one chosen value): refused as a conflict, never
 *     applied, so the driver can drop the link and say so loudly. (An Accept may differ
 *     from a chosen value when its ballot is older than the one that chose; the acceptor
 *     already ignores it.)
 *   - a leader takes no Learn that contradicts its own proposals or runs past them while
 *     the sender's ballot is not above its own: a correct member only reports such slots
 *     after a higher ballot, and not learning is always safe;
 *   - a Promise reports no slot more than REPORT_SPAN_SLOTS past this node's chosen
 *     prefix;
 *   - a Forward must name a client of the node that forwards it (when the driver's client
 *     ids say so).
 *
 * Nothing here changes protocol state: a refused message leaves the node as it was. */
#include <stdarg.h>
#include <stdio.h>

#include "core/internal.h"

__attribute__((format(printf, 3, 4))) static int refuse(node_t *node, int rc, const char *format,
                                                        ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(node->refusal, sizeof(node->refusal), format, ap);
    va_end(ap);
    node->refused_count++;
    return rc;
}

/* A slot this node holds chosen (still in its log): its chosen value, else NULL. */
static const value_t *chosen_here(const node_t *node, uint64_t slot)
{
    const log_entry_t *e = log_get(&node->log, slot);
    if (e == NULL || !e->chosen) {
        return NULL;
    }
    return log_chosen_value(e);
}

static int admit_learn(node_t *node, const msg_t *m)
{
    const msg_learn_t *l = &m->u.learn;
    bool leading = node->role == ROLE_LEADER && !ballot_less(node->own_ballot, l->ballot);
    for (uint32_t i = 0; i < l->entry_count; i++) {
        const msg_entry_t *entry = &l->entries[i];
        const value_t *chosen = chosen_here(node, entry->slot);
        if (chosen != NULL) {
            if (!value_equal(chosen, &entry->value)) {
                return refuse(node, BALLOT_ECONFLICT,
                              "Learn for slot %llu from n%u carries a value other than the "
                              "chosen one",
                              (unsigned long long)entry->slot, m->from);
            }
            continue;
        }
        if (!leading || entry->slot <= node->chosen_upto) {
            continue;
        }
        if (entry->slot >= node->next_slot) {
            return refuse(node, BALLOT_EINVAL,
                          "Learn for slot %llu from n%u is past this leader's proposals "
                          "(next slot %llu)",
                          (unsigned long long)entry->slot, m->from,
                          (unsigned long long)node->next_slot);
        }
        const log_entry_t *e = log_get(&node->log, entry->slot);
        if (e != NULL && e->proposing && !value_equal(&e->proposal, &entry->value)) {
            return refuse(node, BALLOT_EINVAL,
                          "Learn for slot %llu from n%u contradicts this leader's proposal",
                          (unsigned long long)entry->slot, m->from);
        }
    }
    return BALLOT_OK;
}

/* A Promise reports accepted slots at most this far past the chosen prefix
 * of the node it answers: a new leader proposes every reported slot at once (carry forward
 * or a no-op), so a report far ahead would have it send an Accept for each slot up to
 * there in one step. A candidate that far behind is refused the report; one of the nodes
 * that accepted those slots is nearer and wins instead (docs/security.md). */
#define REPORT_SPAN_SLOTS ((uint64_t)64 * WINDOW_SLOTS_MAX)

static int admit_report(node_t *node, const msg_t *m)
{
    const msg_promise_t *p = &m->u.promise;
    /* Slots below log_first_slot are fetched, and the new leader proposes from there on. */
    if (p->log_first_slot > node->chosen_upto + REPORT_SPAN_SLOTS) {
        return refuse(node, BALLOT_EINVAL,
                      "Promise from n%u starts its log at slot %llu, over %llu past the chosen "
                      "prefix %llu",
                      m->from, (unsigned long long)p->log_first_slot,
                      (unsigned long long)REPORT_SPAN_SLOTS, (unsigned long long)node->chosen_upto);
    }
    for (uint32_t i = 0; i < p->entry_count; i++) {
        if (p->entries[i].slot > node->chosen_upto + REPORT_SPAN_SLOTS) {
            return refuse(node, BALLOT_EINVAL,
                          "%s from n%u reports slot %llu, over %llu past the chosen prefix %llu",
                          msg_type_name(m->type), m->from, (unsigned long long)p->entries[i].slot,
                          (unsigned long long)REPORT_SPAN_SLOTS,
                          (unsigned long long)node->chosen_upto);
        }
    }
    return BALLOT_OK;
}

static int admit_forward(node_t *node, const msg_t *m)
{
    uint32_t shift = node->cfg.client_origin_shift;
    if (shift == 0 || shift >= 64) {
        return BALLOT_OK;
    }
    uint64_t origin = m->u.forward.client_id >> shift;
    if (origin != m->from) {
        return refuse(node, BALLOT_EINVAL, "Forward from n%u names client %llu of node %llu",
                      m->from, (unsigned long long)m->u.forward.client_id,
                      (unsigned long long)origin);
    }
    return BALLOT_OK;
}

int node_admit(node_t *node, const msg_t *m)
{
    switch (m->type) {
    case MSG_LEARN:
        return admit_learn(node, m);
    case MSG_FORWARD:
        return admit_forward(node, m);
    case MSG_PROMISE:
        return admit_report(node, m);
    default:
        return BALLOT_OK;
    }
}

const char *node_refusal(const node_t *node)
{
    return node == NULL ? "" : node->refusal;
}

uint64_t node_refused_count(const node_t *node)
{
    return node == NULL ? 0 : node->refused_count;
}
