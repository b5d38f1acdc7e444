#include "harness.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define GROW_MIN        16u
#define DELIVER_ALL_MAX 1000000u

static void *grow(void *items, size_t *capacity, size_t count, size_t elem)
{
    if (count < *capacity) {
        return items;
    }
    size_t next = *capacity == 0 ? GROW_MIN : *capacity * 2;
    void *bigger = realloc(items, next * elem);
    assert(bigger != NULL);
    *capacity = next;
    return bigger;
}

void harness_init(harness_t *h, uint32_t n, uint64_t seed)
{
    assert(n >= 1 && n <= HARNESS_NODES_MAX);
    memset(h, 0, sizeof(*h));
    h->n = n;
    h->now_ms = 1000;
    rng_seed(&h->rng, seed);
    h->latency_max_ms = 5;
    for (uint32_t id = 1; id <= n; id++) {
        harness_node_t *hn = &h->nodes[id];
        node_config_default(&hn->cfg, id, n);
        hn->cfg.seed = seed * 31u + id;
        hn->auto_persist = true;
    }
}

static void start_node(harness_t *h, uint32_t id, bool rejoin)
{
    harness_node_t *hn = &h->nodes[id];
    int rc = node_create(&hn->node, &hn->cfg);
    assert(rc == BALLOT_OK);
    if (hn->snapshot_slot > 0) {
        node_recover_snapshot(hn->node, hn->snapshot_slot, NULL);
    }
    for (size_t i = 0; i < hn->durable_count; i++) {
        rc = node_recover(hn->node, &hn->durable[i]);
        assert(rc == BALLOT_OK);
    }
    hn->up = true;
    hn->last_seq = 0;
    node_start(hn->node, h->now_ms, rejoin);
    harness_collect(h, id);
}

void harness_start(harness_t *h)
{
    for (uint32_t id = 1; id <= h->n; id++) {
        start_node(h, id, false);
    }
}

void harness_preload(harness_t *h, uint32_t id, persist_kind_t kind, ballot_t ballot)
{
    harness_node_t *hn = &h->nodes[id];
    assert(!hn->up);
    hn->durable =
        grow(hn->durable, &hn->durable_capacity, hn->durable_count, sizeof(persist_record_t));
    persist_record_t *r = &hn->durable[hn->durable_count++];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->seq = hn->durable_count;
    r->ballot = ballot;
    r->value = value_noop();
}

static void records_free(persist_record_t *records, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        value_free(&records[i].value);
    }
    free(records);
}

static harness_free_hook_t free_hook;
static void *free_hook_ctx;

void harness_set_free_hook(harness_free_hook_t hook, void *ctx)
{
    free_hook = hook;
    free_hook_ctx = ctx;
}

void harness_free(harness_t *h)
{
    if (free_hook != NULL) {
        free_hook(h, free_hook_ctx);
    }
    for (uint32_t id = 1; id <= h->n; id++) {
        harness_node_t *hn = &h->nodes[id];
        node_destroy(hn->node);
        records_free(hn->durable, hn->durable_count);
        records_free(hn->pending, hn->pending_count);
        for (size_t i = 0; i < hn->apply_count; i++) {
            value_free(&hn->applies[i].value);
        }
        free(hn->applies);
        free(hn->replies);
        free(hn->reads);
        free(hn->events);
    }
    for (size_t i = 0; i < h->net_count; i++) {
        msg_free(&h->net[i].msg);
    }
    free(h->net);
    memset(h, 0, sizeof(*h));
}

static void net_push(harness_t *h, const msg_t *m)
{
    assert(h->net_count < HARNESS_NET_MAX);
    bool cut = h->cut[m->from][m->to];
    if (h->narrate != NULL) {
        char line[320];
        fprintf(h->narrate, "      n%u %s n%u  %s\n", m->from, cut ? "-x>" : "-->", m->to,
                harness_describe(m, line, sizeof(line)));
    }
    if (cut) {
        return; /* the link is cut: lost on the way */
    }
    h->net = grow(h->net, &h->net_capacity, h->net_count, sizeof(harness_msg_t));
    harness_msg_t *slot = &h->net[h->net_count++];
    bool ok = msg_copy(&slot->msg, m);
    assert(ok);
    slot->deliver_ms = h->now_ms + rng_range(&h->rng, 0, (uint64_t)h->latency_max_ms + 1);
}

static void take_records(harness_t *h, uint32_t id, node_outputs_t *out)
{
    harness_node_t *hn = &h->nodes[id];
    for (size_t i = 0; i < out->record_count; i++) {
        hn->pending =
            grow(hn->pending, &hn->pending_capacity, hn->pending_count, sizeof(persist_record_t));
        persist_record_t *r = &hn->pending[hn->pending_count++];
        *r = out->records[i];
        bool ok = value_copy(&r->value, &out->records[i].value);
        assert(ok);
        assert(r->seq > hn->last_seq);
        hn->last_seq = r->seq;
    }
}

static void take_results(harness_node_t *hn, node_outputs_t *out)
{
    for (size_t i = 0; i < out->apply_count; i++) {
        hn->applies =
            grow(hn->applies, &hn->apply_capacity, hn->apply_count, sizeof(harness_apply_t));
        harness_apply_t *a = &hn->applies[hn->apply_count++];
        a->slot = out->applies[i].slot;
        bool ok = value_copy(&a->value, &out->applies[i].value);
        assert(ok);
    }
    for (size_t i = 0; i < out->reply_count; i++) {
        hn->replies =
            grow(hn->replies, &hn->reply_capacity, hn->reply_count, sizeof(client_reply_t));
        hn->replies[hn->reply_count++] = out->replies[i];
    }
    for (size_t i = 0; i < out->read_count; i++) {
        hn->reads = grow(hn->reads, &hn->read_capacity, hn->read_count, sizeof(read_result_t));
        hn->reads[hn->read_count++] = out->reads[i];
    }
    for (size_t i = 0; i < out->event_count; i++) {
        hn->events = grow(hn->events, &hn->event_capacity, hn->event_count, sizeof(event_t));
        hn->events[hn->event_count++] = out->events[i];
    }
    if (out->snapshot_wanted_slot != 0) {
        hn->snapshot_wanted_slot = out->snapshot_wanted_slot;
        hn->snapshot_wanted_from = out->snapshot_wanted_from;
    }
}

static void applies_truncate(harness_node_t *hn, size_t keep)
{
    for (size_t i = keep; i < hn->apply_count; i++) {
        value_free(&hn->applies[i].value);
    }
    if (hn->apply_count > keep) {
        hn->apply_count = keep;
    }
}

/* Copies the snapshot of node `from` (its first `slot` applies) into node id, checking the
 * part both already had, then tells the core. */
static void install_snapshot(harness_t *h, uint32_t id)
{
    harness_node_t *hn = &h->nodes[id];
    const harness_node_t *src = &h->nodes[hn->snapshot_wanted_from];
    uint64_t slot = hn->snapshot_wanted_slot;
    hn->snapshot_wanted_slot = 0;
    if (src->apply_count < slot || slot <= hn->apply_count) {
        return; /* the holder cannot provide it (crashed), or it is no longer needed */
    }
    for (size_t i = 0; i < hn->apply_count; i++) {
        assert(value_equal(&hn->applies[i].value, &src->applies[i].value));
    }
    for (size_t i = hn->apply_count; i < slot; i++) {
        hn->applies =
            grow(hn->applies, &hn->apply_capacity, hn->apply_count, sizeof(harness_apply_t));
        harness_apply_t *a = &hn->applies[hn->apply_count++];
        a->slot = src->applies[i].slot;
        bool ok = value_copy(&a->value, &src->applies[i].value);
        assert(ok);
    }
    hn->snapshot_slot = slot;
    h->snapshots_installed++;
    node_snapshot_installed(hn->node, slot, NULL, h->now_ms);
}

void harness_compact(harness_t *h, uint32_t id)
{
    harness_node_t *hn = &h->nodes[id];
    if (!hn->up) {
        return;
    }
    hn->snapshot_slot = hn->apply_count;
    node_compact(hn->node, hn->snapshot_slot);
}

void harness_collect(harness_t *h, uint32_t id)
{
    harness_node_t *hn = &h->nodes[id];
    for (unsigned round = 0; hn->up && round < 1000; round++) {
        node_outputs_t *out = node_outputs(hn->node);
        assert(!out->failed);
        bool any = out->record_count + out->message_count + out->apply_count + out->reply_count +
                       out->read_count + out->event_count >
                   0;
        take_records(h, id, out);
        for (size_t i = 0; i < out->message_count; i++) {
            net_push(h, &out->messages[i]);
        }
        take_results(hn, out);
        node_outputs_clear(hn->node);
        if (hn->install_snapshots && hn->snapshot_wanted_slot != 0) {
            install_snapshot(h, id);
            any = true;
        }
        if (hn->needs_rejoin) {
            node_status_t st;
            node_get_status(hn->node, h->now_ms, &st);
            hn->needs_rejoin = st.rejoining;
        }
        if (hn->auto_persist && hn->pending_count > 0) {
            harness_persist(h, id);
            return; /* harness_persist collects again */
        }
        if (!any) {
            return;
        }
    }
}

void harness_collect_all(harness_t *h)
{
    for (uint32_t id = 1; id <= h->n; id++) {
        harness_collect(h, id);
    }
}

void harness_persist(harness_t *h, uint32_t id)
{
    harness_node_t *hn = &h->nodes[id];
    if (!hn->up || hn->pending_count == 0) {
        return;
    }
    for (size_t i = 0; i < hn->pending_count; i++) {
        hn->durable =
            grow(hn->durable, &hn->durable_capacity, hn->durable_count, sizeof(persist_record_t));
        hn->durable[hn->durable_count++] = hn->pending[i];
    }
    hn->pending_count = 0;
    node_persisted(hn->node, hn->last_seq, h->now_ms);
    harness_collect(h, id);
}

void harness_persist_upto(harness_t *h, uint32_t id, uint64_t seq)
{
    harness_node_t *hn = &h->nodes[id];
    if (!hn->up) {
        return;
    }
    size_t done = 0;
    while (done < hn->pending_count && hn->pending[done].seq <= seq) {
        hn->durable =
            grow(hn->durable, &hn->durable_capacity, hn->durable_count, sizeof(persist_record_t));
        hn->durable[hn->durable_count++] = hn->pending[done++];
    }
    memmove(hn->pending, hn->pending + done, (hn->pending_count - done) * sizeof(*hn->pending));
    hn->pending_count -= done;
    node_persisted(hn->node, seq, h->now_ms);
    harness_collect(h, id);
}

static bool matches(const msg_t *m, uint32_t from, uint32_t to, msg_type_t type)
{
    return (from == HARNESS_ANY || m->from == from) && (to == HARNESS_ANY || m->to == to) &&
           (type == 0 || m->type == type);
}

long harness_find(const harness_t *h, uint32_t from, uint32_t to, msg_type_t type)
{
    for (size_t i = 0; i < h->net_count; i++) {
        if (matches(&h->net[i].msg, from, to, type)) {
            return (long)i;
        }
    }
    return -1;
}

size_t harness_count(const harness_t *h, uint32_t from, uint32_t to, msg_type_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < h->net_count; i++) {
        n += matches(&h->net[i].msg, from, to, type);
    }
    return n;
}

const msg_t *harness_peek(const harness_t *h, uint32_t from, uint32_t to, msg_type_t type)
{
    long i = harness_find(h, from, to, type);
    return i < 0 ? NULL : &h->net[i].msg;
}

/* Removes message i from the network and returns it (owned by the caller). */
static msg_t net_take(harness_t *h, size_t i)
{
    assert(i < h->net_count);
    msg_t m = h->net[i].msg;
    memmove(&h->net[i], &h->net[i + 1], (h->net_count - i - 1) * sizeof(harness_msg_t));
    h->net_count--;
    return m;
}

static void deliver_msg(harness_t *h, msg_t *m)
{
    harness_node_t *hn = &h->nodes[m->to];
    if (hn->up && !h->cut[m->from][m->to]) {
        int rc = node_receive(hn->node, m, h->now_ms);
        assert(rc == BALLOT_OK);
        h->delivered++;
        harness_collect(h, m->to);
    }
    msg_free(m);
}

void harness_inject(harness_t *h, const msg_t *m)
{
    net_push(h, m);
}

bool harness_deliver(harness_t *h, uint32_t from, uint32_t to, msg_type_t type)
{
    long i = harness_find(h, from, to, type);
    if (i < 0) {
        return false;
    }
    msg_t m = net_take(h, (size_t)i);
    deliver_msg(h, &m);
    return true;
}

bool harness_drop(harness_t *h, uint32_t from, uint32_t to, msg_type_t type)
{
    long i = harness_find(h, from, to, type);
    if (i < 0) {
        return false;
    }
    msg_t m = net_take(h, (size_t)i);
    msg_free(&m);
    return true;
}

void harness_deliver_at(harness_t *h, size_t i)
{
    msg_t m = net_take(h, i);
    deliver_msg(h, &m);
}

void harness_drop_all(harness_t *h, uint32_t from, uint32_t to, msg_type_t type)
{
    while (harness_drop(h, from, to, type)) {
    }
}

size_t harness_deliver_all(harness_t *h)
{
    size_t n = 0;
    while (h->net_count > 0) {
        assert(n < DELIVER_ALL_MAX);
        msg_t m = net_take(h, 0);
        deliver_msg(h, &m);
        n++;
    }
    return n;
}

static void tick_all(harness_t *h)
{
    for (uint32_t id = 1; id <= h->n; id++) {
        harness_node_t *hn = &h->nodes[id];
        if (hn->up && !hn->no_ticks && node_next_deadline(hn->node) <= h->now_ms) {
            node_tick(hn->node, h->now_ms);
            harness_collect(h, id);
        }
    }
}

void harness_advance(harness_t *h, uint64_t ms)
{
    h->now_ms += ms;
    tick_all(h);
}

void harness_run(harness_t *h, uint64_t ms, uint64_t step_ms)
{
    assert(step_ms > 0);
    uint64_t end = h->now_ms + ms;
    while (h->now_ms < end) {
        harness_deliver_all(h);
        h->now_ms += step_ms;
        tick_all(h);
    }
    harness_deliver_all(h);
}

static uint64_t next_event_ms(const harness_t *h)
{
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < h->net_count; i++) {
        if (h->net[i].deliver_ms < next) {
            next = h->net[i].deliver_ms;
        }
    }
    for (uint32_t id = 1; id <= h->n; id++) {
        if (h->nodes[id].up && !h->nodes[id].no_ticks) {
            uint64_t d = node_next_deadline(h->nodes[id].node);
            next = d < next ? d : next;
        }
    }
    return next;
}

/* Delivers every message due by now, in an order drawn from the seed. */
static void deliver_due(harness_t *h)
{
    for (size_t k = 0; k < DELIVER_ALL_MAX; k++) {
        size_t due = 0;
        for (size_t j = 0; j < h->net_count; j++) {
            due += h->net[j].deliver_ms <= h->now_ms;
        }
        if (due == 0) {
            return;
        }
        size_t pick = (size_t)rng_range(&h->rng, 0, due);
        size_t i = 0;
        for (;; i++) {
            if (h->net[i].deliver_ms <= h->now_ms && pick-- == 0) {
                break;
            }
        }
        msg_t m = net_take(h, i);
        if (rng_range(&h->rng, 0, 100) < h->drop_percent) {
            msg_free(&m);
        } else {
            deliver_msg(h, &m);
        }
    }
}

/* Lease safety (docs/design.md "Invariants"): at no instant do two nodes read alone. */
static void check_leases(harness_t *h)
{
    uint32_t serving = 0;
    for (uint32_t id = 1; id <= h->n; id++) {
        if (h->nodes[id].up) {
            serving += node_serves_lease_reads(h->nodes[id].node, h->now_ms);
        }
    }
    h->lease_overlaps += serving > 1;
}

void harness_run_random(harness_t *h, uint64_t ms)
{
    uint64_t end = h->now_ms + ms;
    while (h->now_ms < end) {
        deliver_due(h);
        tick_all(h);
        check_leases(h);
        uint64_t next = next_event_ms(h);
        if (next <= h->now_ms) {
            next = h->now_ms + 1;
        }
        h->now_ms = next < end ? next : end;
    }
}

uint32_t harness_leader(const harness_t *h)
{
    uint32_t found = 0;
    for (uint32_t id = 1; id <= h->n; id++) {
        node_status_t st;
        if (!h->nodes[id].up) {
            continue;
        }
        node_get_status(h->nodes[id].node, h->now_ms, &st);
        if (st.role == ROLE_LEADER) {
            if (found != 0) {
                return 0;
            }
            found = id;
        }
    }
    return found;
}

size_t harness_leader_count(const harness_t *h)
{
    size_t n = 0;
    for (uint32_t id = 1; id <= h->n; id++) {
        node_status_t st;
        if (h->nodes[id].up) {
            node_get_status(h->nodes[id].node, h->now_ms, &st);
            n += st.role == ROLE_LEADER;
        }
    }
    return n;
}

int harness_submit(harness_t *h, uint32_t id, uint64_t client, uint64_t seq, const char *text)
{
    command_t c = {.client_id = client, .sequence = seq, .size = (uint32_t)strlen(text)};
    c.bytes = (const uint8_t *)text;
    int rc = node_submit(h->nodes[id].node, &c, h->now_ms);
    harness_collect(h, id);
    return rc;
}

void harness_crash(harness_t *h, uint32_t id)
{
    harness_node_t *hn = &h->nodes[id];
    assert(hn->up);
    node_destroy(hn->node);
    hn->node = NULL;
    hn->up = false;
    /* What was written but not durable is lost with the crash. */
    records_free(hn->pending, hn->pending_count);
    hn->pending = NULL;
    hn->pending_count = hn->pending_capacity = 0;
    /* The state machine restarts from its snapshot and the log. */
    applies_truncate(hn, (size_t)hn->snapshot_slot);
}

void harness_restart(harness_t *h, uint32_t id, bool lose_disk)
{
    harness_node_t *hn = &h->nodes[id];
    assert(!hn->up);
    if (lose_disk) {
        records_free(hn->durable, hn->durable_count);
        hn->durable = NULL;
        hn->durable_count = hn->durable_capacity = 0;
        hn->needs_rejoin = true;
        hn->snapshot_slot = 0;
        applies_truncate(hn, 0);
    }
    start_node(h, id, hn->needs_rejoin);
}

bool harness_other_rejoining(const harness_t *h, uint32_t id)
{
    for (uint32_t other = 1; other <= h->n; other++) {
        if (other != id && h->nodes[other].needs_rejoin) {
            return true;
        }
    }
    return false;
}

bool harness_check_agreement(const harness_t *h, char *why, size_t why_bytes)
{
    for (uint32_t a = 1; a <= h->n; a++) {
        const harness_node_t *na = &h->nodes[a];
        for (size_t i = 0; i < na->apply_count; i++) {
            if (na->applies[i].slot != i + 1) {
                snprintf(why, why_bytes, "n%u applied slot %llu at position %zu", a,
                         (unsigned long long)na->applies[i].slot, i);
                return false;
            }
        }
        for (uint32_t b = a + 1; b <= h->n; b++) {
            const harness_node_t *nb = &h->nodes[b];
            size_t common = na->apply_count < nb->apply_count ? na->apply_count : nb->apply_count;
            for (size_t i = 0; i < common; i++) {
                if (!value_equal(&na->applies[i].value, &nb->applies[i].value)) {
                    snprintf(why, why_bytes, "n%u and n%u differ at slot %zu", a, b, i + 1);
                    return false;
                }
            }
        }
    }
    return true;
}

size_t harness_events(const harness_t *h, uint32_t id, event_kind_t kind)
{
    size_t n = 0;
    const harness_node_t *hn = &h->nodes[id];
    for (size_t i = 0; i < hn->event_count; i++) {
        n += hn->events[i].kind == kind;
    }
    return n;
}

bool harness_applied_command(const harness_t *h, uint32_t id, uint64_t client, uint64_t seq)
{
    const harness_node_t *hn = &h->nodes[id];
    for (size_t i = 0; i < hn->apply_count; i++) {
        batch_iter_t it;
        command_t c;
        batch_iter_init(&it, &hn->applies[i].value);
        while (batch_iter_next(&it, &c)) {
            if (c.client_id == client && c.sequence == seq) {
                return true;
            }
        }
    }
    return false;
}

char *harness_describe_value(const value_t *v, char *buf, size_t buf_bytes)
{
    if (v->kind == VALUE_NOOP) {
        snprintf(buf, buf_bytes, "no-op");
        return buf;
    }
    batch_iter_t it;
    command_t c;
    batch_iter_init(&it, v);
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; batch_iter_next(&it, &c) && used + 24 < buf_bytes; i++) {
        int len = (int)(c.size < 16 ? c.size : 16);
        int w = snprintf(buf + used, buf_bytes - used, "%s%.*s", i ? "," : "", len,
                         (const char *)c.bytes);
        used += (size_t)(w > 0 ? w : 0);
        if (i == 3) {
            snprintf(buf + used, buf_bytes - used, ",...(%u)", batch_count(v));
            break;
        }
    }
    return buf;
}

static const char *reason_name(reject_reason_t r)
{
    switch (r) {
    case REJECT_PROMISED:
        return "promised higher";
    case REJECT_LEASE:
        return "lease running";
    case REJECT_LEADER_ALIVE:
        return "leader alive";
    case REJECT_RECOVERING:
        return "recovering";
    }
    return "?";
}

static void describe_entries(const msg_promise_t *p, char *buf, size_t buf_bytes)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < p->entry_count && used + 40 < buf_bytes; i++) {
        char b[BALLOT_TEXT_BYTES];
        char v[64];
        int w = snprintf(buf + used, buf_bytes - used, "%s%llu:(%s,%s)", i ? " " : "",
                         (unsigned long long)p->entries[i].slot,
                         harness_describe_value(&p->entries[i].value, v, sizeof(v)),
                         ballot_format(p->entries[i].ballot, b, sizeof(b)));
        used += (size_t)(w > 0 ? w : 0);
    }
}

char *harness_describe(const msg_t *m, char *buf, size_t buf_bytes)
{
    char b1[BALLOT_TEXT_BYTES];
    char b2[BALLOT_TEXT_BYTES];
    char v[96];
    const char *name = msg_type_name(m->type);
    switch (m->type) {
    case MSG_PREPARE:
        snprintf(buf, buf_bytes, "Prepare(%s, from slot %llu)",
                 ballot_format(m->u.prepare.ballot, b1, sizeof(b1)),
                 (unsigned long long)m->u.prepare.from_slot);
        break;
    case MSG_PROMISE:
    case MSG_REJOIN_REPLY:
        describe_entries(&m->u.promise, v, sizeof(v));
        snprintf(buf, buf_bytes, "%s(%s, accepted [%s], chosen up to %llu)", name,
                 ballot_format(m->u.promise.ballot, b1, sizeof(b1)), v,
                 (unsigned long long)m->u.promise.chosen_upto);
        break;
    case MSG_ACCEPT:
        snprintf(buf, buf_bytes, "Accept(%s, slot %llu, %s, commit %llu)",
                 ballot_format(m->u.accept.ballot, b1, sizeof(b1)),
                 (unsigned long long)m->u.accept.slot,
                 harness_describe_value(&m->u.accept.value, v, sizeof(v)),
                 (unsigned long long)m->u.accept.commit);
        break;
    case MSG_ACCEPTED:
        snprintf(buf, buf_bytes, "Accepted(%s, slot %llu)",
                 ballot_format(m->u.accepted.ballot, b1, sizeof(b1)),
                 (unsigned long long)m->u.accepted.slot);
        break;
    case MSG_REJECT:
        snprintf(buf, buf_bytes, "Reject(%s %s: %s, I promised %s)",
                 msg_type_name(m->u.reject.rejected_type),
                 ballot_format(m->u.reject.ballot, b1, sizeof(b1)), reason_name(m->u.reject.reason),
                 ballot_format(m->u.reject.promised, b2, sizeof(b2)));
        break;
    case MSG_HEARTBEAT:
        snprintf(buf, buf_bytes, "Heartbeat(%s, commit %llu, #%llu)",
                 ballot_format(m->u.heartbeat.ballot, b1, sizeof(b1)),
                 (unsigned long long)m->u.heartbeat.commit,
                 (unsigned long long)m->u.heartbeat.heartbeat_id);
        break;
    case MSG_HEARTBEAT_ACK:
        snprintf(buf, buf_bytes, "HeartbeatAck(%s, #%llu)",
                 ballot_format(m->u.heartbeat_ack.ballot, b1, sizeof(b1)),
                 (unsigned long long)m->u.heartbeat_ack.heartbeat_id);
        break;
    case MSG_LEARN:
        snprintf(buf, buf_bytes, "Learn(%u entries from slot %llu)", m->u.learn.entry_count,
                 (unsigned long long)(m->u.learn.entry_count ? m->u.learn.entries[0].slot : 0));
        break;
    case MSG_LEARN_REQUEST:
        snprintf(buf, buf_bytes, "LearnRequest(from slot %llu)",
                 (unsigned long long)m->u.learn_request.from_slot);
        break;
    default:
        snprintf(buf, buf_bytes, "%s", name);
        break;
    }
    return buf;
}
