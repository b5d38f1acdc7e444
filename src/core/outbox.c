/* Outputs, persist gating and delivery to self (docs/core.md "Outputs and
 * persist-then-reply"). A Promise, Accepted, HeartbeatAck or RejoinReply is queued with
 * the seq of the newest record it depends on (acceptor.c names it) and leaves only once
 * node_persisted() reports that seq durable: no driver can send an answer before what it
 * depends on is on disk (docs/design.md "Every state change that an answer depends on is on
 * disk"). Records become durable in write order, so seq S durable means every record up
 * to S is; an answer does not wait for later records it does not depend on (a CHOSEN or
 * LEARN record, another slot's ACCEPT). */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#define FIFO_CAPACITY_MIN   16u
#define OUTPUT_CAPACITY_MIN 16u

/* Grows *items to hold count + 1 elements; false when over the bound or out of memory. */
static bool grow(void **items, size_t *capacity, size_t count, size_t elem_bytes)
{
    if (count < *capacity) {
        return true;
    }
    assert(count < OUTPUT_MESSAGES_MAX);
    size_t next = *capacity == 0 ? OUTPUT_CAPACITY_MIN : *capacity * 2;
    void *bigger = realloc(*items, next * elem_bytes);
    if (bigger == NULL) {
        return false;
    }
    *items = bigger;
    *capacity = next;
    return true;
}

static bool fifo_push(msg_fifo_t *q, uint64_t seq, msg_t *m)
{
    if (q->count == q->capacity) {
        size_t next = q->capacity == 0 ? FIFO_CAPACITY_MIN : q->capacity * 2;
        assert(next <= OUTPUT_MESSAGES_MAX);
        gated_msg_t *items = malloc(next * sizeof(*items));
        if (items == NULL) {
            return false;
        }
        for (size_t i = 0; i < q->count; i++) {
            items[i] = q->items[(q->head + i) % q->capacity];
        }
        free(q->items);
        q->items = items;
        q->head = 0;
        q->capacity = next;
    }
    gated_msg_t *slot = &q->items[(q->head + q->count) % q->capacity];
    slot->seq = seq;
    slot->msg = *m;
    q->count++;
    return true;
}

static gated_msg_t *fifo_front(msg_fifo_t *q)
{
    return q->count == 0 ? NULL : &q->items[q->head];
}

static void fifo_pop(msg_fifo_t *q)
{
    assert(q->count > 0);
    q->head = (q->head + 1) % q->capacity;
    q->count--;
}

static void fifo_free(msg_fifo_t *q)
{
    while (q->count > 0) {
        msg_free(&fifo_front(q)->msg);
        fifo_pop(q);
    }
    free(q->items);
    memset(q, 0, sizeof(*q));
}

bool outbox_init(outbox_t *ob)
{
    memset(ob, 0, sizeof(*ob));
    return true;
}

void outbox_free(outbox_t *ob)
{
    fifo_free(&ob->gated);
    fifo_free(&ob->self);
    free(ob->out.records);
    free(ob->out.messages);
    free(ob->out.applies);
    free(ob->out.replies);
    free(ob->out.reads);
    free(ob->out.events);
    memset(ob, 0, sizeof(*ob));
}

event_t node_event(const node_t *node, event_kind_t kind, ballot_t ballot)
{
    event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.time_ms = node->now_ms;
    ev.node = node->cfg.id;
    ev.ballot = ballot;
    return ev;
}

void node_emit(node_t *node, const event_t *ev)
{
    if (!node->cfg.trace) {
        return;
    }
    node_outputs_t *out = &node->outbox.out;
    if (!grow((void **)&out->events, &node->outbox.event_capacity, out->event_count,
              sizeof(event_t))) {
        return; /* a lost trace line is not a protocol failure */
    }
    out->events[out->event_count++] = *ev;
}

/* Puts a ready message where it goes: the self queue or the outputs. */
static void route(node_t *node, msg_t *m)
{
    outbox_t *ob = &node->outbox;
    if (m->to == node->cfg.id) {
        if (!fifo_push(&ob->self, 0, m)) {
            msg_free(m);
        }
        return;
    }
    node_outputs_t *out = &ob->out;
    if (!grow((void **)&out->messages, &ob->message_capacity, out->message_count, sizeof(msg_t))) {
        msg_free(m); /* a lost message is a lost packet: the protocol retries */
        return;
    }
    out->messages[out->message_count++] = *m;
}

void outbox_post(node_t *node, msg_t *m, uint64_t after_seq)
{
    assert(m->to >= 1 && m->to <= NODES_MAX);
    outbox_t *ob = &node->outbox;
    /* A dependency is a record already written. */
    assert(after_seq <= ob->persist_seq);
#ifdef BALLOT_PLANT_REPLY_BEFORE_PERSIST /* see tests/sim/CMakeLists.txt */
    after_seq = 0;
#endif
    m->from = node->cfg.id;
    if (after_seq > ob->persisted_seq) {
        if (!fifo_push(&ob->gated, after_seq, m)) {
            msg_free(m);
        }
    } else {
        route(node, m);
    }
    memset(m, 0, sizeof(*m));
}

void outbox_broadcast(node_t *node, msg_t *m, bool include_self, uint64_t after_seq)
{
    uint32_t members = node_member_mask(node);
    for (uint32_t to = 1; to <= NODES_MAX; to++) {
        if ((to == node->cfg.id && !include_self) ||
            (to != node->cfg.id && (members & node_bit(to)) == 0)) {
            continue;
        }
        msg_t copy;
        if (!msg_copy(&copy, m)) {
            continue;
        }
        copy.to = to;
        outbox_post(node, &copy, after_seq);
    }
    msg_free(m);
}

uint64_t outbox_persist(node_t *node, persist_kind_t kind, ballot_t ballot, uint64_t slot,
                        const value_t *value)
{
    outbox_t *ob = &node->outbox;
    node_outputs_t *out = &ob->out;
    uint64_t seq = ++ob->persist_seq;
    /* Answers name these seqs as their dependency, written or failed alike: after a
     * failure nothing that depends on the record may leave. */
    if (kind == PERSIST_PROMISE || kind == PERSIST_ACCEPT) {
        ob->acceptor_seq = seq;
    }
    if (kind == PERSIST_PROMISE && ballot_equal(ballot, node->promised)) {
        node->promise_seq = seq;
        node->promise_unrecorded = false;
    }
    persist_record_t r = {.kind = kind, .seq = seq, .ballot = ballot, .slot = slot};
    r.value = value_noop();
    if ((value != NULL && !value_copy(&r.value, value)) ||
        !grow((void **)&out->records, &ob->record_capacity, out->record_count,
              sizeof(persist_record_t))) {
        /* The record cannot be written, so nothing gated on it may ever leave. */
        value_free(&r.value);
        out->failed = true;
        return seq;
    }
    out->records[out->record_count++] = r;
    return seq;
}

void outbox_apply(node_t *node, uint64_t slot, const value_t *value)
{
    outbox_t *ob = &node->outbox;
    node_outputs_t *out = &ob->out;
    apply_t a = {.slot = slot};
    if (!value_copy(&a.value, value) ||
        !grow((void **)&out->applies, &ob->apply_capacity, out->apply_count, sizeof(apply_t))) {
        value_free(&a.value);
        out->failed = true; /* an apply cannot be skipped: the driver must stop */
        return;
    }
    assert(out->apply_count == 0 || out->applies[out->apply_count - 1].slot + 1 == slot);
    out->applies[out->apply_count++] = a;
}

void outbox_reply(node_t *node, const client_reply_t *reply)
{
    outbox_t *ob = &node->outbox;
    node_outputs_t *out = &ob->out;
    if (!grow((void **)&out->replies, &ob->reply_capacity, out->reply_count,
              sizeof(client_reply_t))) {
        return; /* the client times out and retries */
    }
    out->replies[out->reply_count++] = *reply;
}

void outbox_read(node_t *node, const read_result_t *result)
{
    outbox_t *ob = &node->outbox;
    node_outputs_t *out = &ob->out;
    if (!grow((void **)&out->reads, &ob->read_capacity, out->read_count, sizeof(read_result_t))) {
        return; /* the client times out and retries */
    }
    out->reads[out->read_count++] = *result;
}

/* Releases every gated message whose record is durable; the others keep their order.
 * Messages wait on different seqs, so a ready one may stand behind one still waiting. */
void outbox_release(node_t *node)
{
    outbox_t *ob = &node->outbox;
    size_t waiting = ob->gated.count;
    for (size_t i = 0; i < waiting; i++) {
        gated_msg_t g = *fifo_front(&ob->gated);
        fifo_pop(&ob->gated);
        if (g.seq <= ob->persisted_seq) {
            route(node, &g.msg);
        } else {
            bool ok = fifo_push(&ob->gated, g.seq, &g.msg);
            assert(ok); /* it fits: its place was just freed */
        }
    }
}

void outbox_deliver_self(node_t *node)
{
    outbox_t *ob = &node->outbox;
    for (uint32_t delivered = 0; ob->self.count > 0; delivered++) {
        assert(delivered < SELF_DELIVERIES_MAX);
        msg_t m = fifo_front(&ob->self)->msg;
        fifo_pop(&ob->self);
        node_dispatch(node, &m);
        msg_free(&m);
    }
}

node_outputs_t *node_outputs(node_t *node)
{
    return &node->outbox.out;
}

void node_outputs_clear(node_t *node)
{
    node_outputs_t *out = &node->outbox.out;
    for (size_t i = 0; i < out->record_count; i++) {
        value_free(&out->records[i].value);
    }
    for (size_t i = 0; i < out->message_count; i++) {
        msg_free(&out->messages[i]);
    }
    for (size_t i = 0; i < out->apply_count; i++) {
        value_free(&out->applies[i].value);
    }
    out->record_count = 0;
    out->message_count = 0;
    out->apply_count = 0;
    out->reply_count = 0;
    out->read_count = 0;
    out->event_count = 0;
    out->snapshot_wanted_slot = 0;
    out->snapshot_wanted_from = 0;
    out->failed = false;
}
