/* Helpers shared by the core's unit tests: message builders and one-node probes. */
#ifndef BALLOT_TESTS_CORE_TEST_UTIL_H
#define BALLOT_TESTS_CORE_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static inline ballot_t B(uint64_t round, uint32_t node)
{
    return (ballot_t){.round = round, .node = node};
}

/* A one-command batch holding text (owned). */
static inline value_t text_value(const char *text)
{
    command_t c = {.client_id = 9, .sequence = 1, .size = (uint32_t)strlen(text)};
    c.bytes = (const uint8_t *)text;
    value_t v;
    bool ok = batch_encode(&v, &c, 1);
    assert_true(ok);
    return v;
}

/* True when v is a one-command batch holding text (a leader's batch also carries its
 * stamp, which does not count here). */
static inline bool value_is_text(const value_t *v, const char *text)
{
    if (v->kind != VALUE_BATCH || batch_count(v) != 1) {
        return false;
    }
    batch_iter_t it;
    command_t c;
    batch_iter_init(&it, v);
    return batch_iter_next(&it, &c) && c.size == strlen(text) && memcmp(c.bytes, text, c.size) == 0;
}

static inline msg_t make_prepare(uint32_t from, uint32_t to, ballot_t b, uint64_t from_slot)
{
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_PREPARE;
    m.from = from;
    m.to = to;
    m.u.prepare.ballot = b;
    m.u.prepare.from_slot = from_slot;
    return m;
}

/* Accept of text (NULL: no-op); the message owns its value. */
static inline msg_t make_accept(uint32_t from, uint32_t to, ballot_t b, uint64_t slot,
                                const char *text, uint64_t commit)
{
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_ACCEPT;
    m.from = from;
    m.to = to;
    m.u.accept.ballot = b;
    m.u.accept.slot = slot;
    m.u.accept.value = text != NULL ? text_value(text) : value_noop();
    m.u.accept.commit = commit;
    return m;
}

static inline msg_t make_heartbeat(uint32_t from, uint32_t to, ballot_t b, uint64_t commit,
                                   uint64_t id)
{
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_HEARTBEAT;
    m.from = from;
    m.to = to;
    m.u.heartbeat.ballot = b;
    m.u.heartbeat.commit = commit;
    m.u.heartbeat.heartbeat_id = id;
    return m;
}

/* A Promise of b from `from` reporting count entries (slot, ballot, text). */
typedef struct report {
    uint64_t slot;
    ballot_t ballot;
    const char *text; /* NULL: no-op */
} report_t;

static inline msg_t make_promise(uint32_t from, uint32_t to, ballot_t b, uint64_t from_slot,
                                 const report_t *reports, uint32_t count, uint64_t chosen_upto)
{
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_PROMISE;
    m.from = from;
    m.to = to;
    m.u.promise.ballot = b;
    m.u.promise.from_slot = from_slot;
    m.u.promise.chosen_upto = chosen_upto;
    m.u.promise.log_first_slot = 1; /* nothing compacted */
    m.u.promise.entry_count = count;
    m.u.promise.entries = count ? calloc(count, sizeof(msg_entry_t)) : NULL;
    for (uint32_t i = 0; i < count; i++) {
        m.u.promise.entries[i].slot = reports[i].slot;
        m.u.promise.entries[i].ballot = reports[i].ballot;
        m.u.promise.entries[i].value = reports[i].text ? text_value(reports[i].text) : value_noop();
    }
    return m;
}

/* Delivers a crafted message to its node, collects the outputs, frees the message. */
static inline int recv_msg(harness_t *h, msg_t *m)
{
    int rc = node_receive(h->nodes[m->to].node, m, h->now_ms);
    harness_collect(h, m->to);
    msg_free(m);
    return rc;
}

static inline node_status_t status_of(const harness_t *h, uint32_t id)
{
    node_status_t st;
    node_get_status(h->nodes[id].node, h->now_ms, &st);
    return st;
}

/* A harness of n nodes whose timers never fire on their own (tests drive every step). */
static inline void quiet_harness(harness_t *h, uint32_t n)
{
    harness_init(h, n, 1);
    for (uint32_t id = 1; id <= n; id++) {
        h->nodes[id].no_ticks = true;
    }
    harness_start(h);
}

/* Elects node id in a fresh harness by a TIMEOUT_NOW-free election: its timer is ticked
 * by hand and everything is delivered. */
static inline void elect(harness_t *h, uint32_t id)
{
    h->now_ms += 1000;
    node_tick(h->nodes[id].node, h->now_ms);
    harness_collect(h, id);
    harness_deliver_all(h);
    assert_int_equal(status_of(h, id).role, ROLE_LEADER);
}

/* The leader's next heartbeat carries its commit to the followers. */
static inline void heartbeat_round(harness_t *h, uint32_t leader)
{
    h->now_ms += h->nodes[leader].cfg.heartbeat_ms;
    node_tick(h->nodes[leader].node, h->now_ms);
    harness_collect(h, leader);
    harness_deliver_all(h);
}

static inline size_t count_records(const harness_t *h, uint32_t id, persist_kind_t kind)
{
    size_t n = 0;
    const harness_node_t *hn = &h->nodes[id];
    for (size_t i = 0; i < hn->durable_count; i++) {
        n += hn->durable[i].kind == kind;
    }
    for (size_t i = 0; i < hn->pending_count; i++) {
        n += hn->pending[i].kind == kind;
    }
    return n;
}

static inline const event_t *last_event(const harness_t *h, uint32_t id, event_kind_t kind)
{
    const harness_node_t *hn = &h->nodes[id];
    for (size_t i = hn->event_count; i-- > 0;) {
        if (hn->events[i].kind == kind) {
            return &hn->events[i];
        }
    }
    return NULL;
}

#endif
