#include "sim/clients.h"

#include "core/check.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

static void client_timer(sim_t *sim, sim_client_t *c, uint64_t delay_ms)
{
    c->timer_gen++;
    sim_schedule(sim, delay_ms, SIM_EV_CLIENT, c->id, c->timer_gen, 0);
}

void clients_init(sim_t *sim, uint32_t count, uint32_t keys)
{
    clients_t *cl = &sim->clients;
    memset(cl, 0, sizeof(*cl));
    assert(count <= SM_CLIENTS_MAX);
    assert(keys >= 1 && keys <= SM_KEYS_MAX);
    cl->count = count;
    cl->keys = keys;
    cl->issuing = true;
    for (uint32_t id = 1; id <= count; id++) {
        cl->client[id].id = id;
        client_timer(sim, &cl->client[id], prng_below(&sim->rng, CLIENT_THINK_MS_MAX + 1));
    }
}

void clients_destroy(clients_t *clients)
{
    for (uint32_t id = 0; id <= SM_CLIENTS_MAX; id++) {
        free(clients->submitted[id].payloads);
    }
    free(clients->ops);
    memset(clients, 0, sizeof(*clients));
}

static history_op_t *history_add(sim_t *sim)
{
    clients_t *cl = &sim->clients;
    if (cl->op_count == cl->op_capacity) {
        size_t capacity = cl->op_capacity == 0 ? 256 : cl->op_capacity * 2;
        history_op_t *ops = NULL;
        if (capacity <= HISTORY_OPS_MAX) {
            ops = realloc(cl->ops, capacity * sizeof(*ops));
        }
        if (ops == NULL) {
            sim_fail(sim, "simulator", "history full (%u operations)", HISTORY_OPS_MAX);
            return NULL;
        }
        cl->ops = ops;
        cl->op_capacity = capacity;
    }
    history_op_t *op = &cl->ops[cl->op_count++];
    memset(op, 0, sizeof(*op));
    op->invoked = cl->stamp++;
    op->completed = HISTORY_NEVER;
    op->invoke_ms = sim->now_ms;
    return op;
}

static bool submitted_add(client_submitted_t *s, uint64_t sequence, const uint8_t *payload,
                          uint32_t size)
{
    assert(sequence == s->count + 1);
    assert(size <= SM_COMMAND_BYTES_MAX);
    if (s->count == s->capacity) {
        size_t capacity = s->capacity == 0 ? 64 : s->capacity * 2;
        client_payload_t *p = realloc(s->payloads, capacity * sizeof(*p));
        if (p == NULL) {
            return false;
        }
        s->payloads = p;
        s->capacity = capacity;
    }
    client_payload_t *entry = &s->payloads[s->count++];
    entry->size = size;
    memcpy(entry->bytes, payload, size);
    return true;
}

bool clients_submitted(const clients_t *clients, uint64_t client_id, uint64_t sequence,
                       const uint8_t *bytes, uint32_t size)
{
    if (client_id == 0 || client_id > clients->count) {
        return false;
    }
    const client_submitted_t *s = &clients->submitted[client_id];
    if (sequence == 0 || sequence > s->count) {
        return false;
    }
    const client_payload_t *p = &s->payloads[sequence - 1];
    return p->size == size && memcmp(p->bytes, bytes, size) == 0;
}

/* The node for the next attempt: the leader hint when it is up, else any live node. */
static uint32_t client_pick_node(sim_t *sim, sim_client_t *c)
{
    if (c->leader_hint != NODE_NONE && sim_node_up(sim, c->leader_hint) &&
        membership_is_member(sim, c->leader_hint) && prng_chance(&sim->rng, 0.8)) {
        return c->leader_hint;
    }
    if (!sim->opt.membership) {
        return (uint32_t)prng_range(&sim->rng, 1, sim->node_count);
    }
    /* Clients know the members (as `ballot member list` shows them), up or not. */
    uint32_t ids[NODES_MAX];
    uint32_t n = 0;
    for (uint32_t id = 1; id <= sim->node_count; id++) {
        if (membership_is_member(sim, id)) {
            ids[n++] = id;
        }
    }
    return ids[prng_below(&sim->rng, n)];
}

static void client_complete(sim_t *sim, sim_client_t *c, bool ok, uint64_t value, uint64_t slot);

/* Planted bugs that answer clients too early (tests/sim); false in the real build. */
static bool client_planted_answer(sim_t *sim, sim_client_t *c)
{
    const sim_node_t *n = &sim->nodes[c->node];
    const history_op_t *op = &sim->clients.ops[c->op];
    (void)n;
    (void)op;
#ifdef BALLOT_SIM_PLANT_STALE_READS
    /* A GET answered from whatever the contacted node has applied, with no barrier. */
    uint64_t value = 0;
    if (c->state == CLIENT_READING && sm_get(&n->sm, op->command.key, &value) == BALLOT_OK) {
        client_complete(sim, c, true, value, 0);
        return true;
    }
#endif
    return false;
}

static void client_attempt(sim_t *sim, sim_client_t *c)
{
    c->node = client_pick_node(sim, c);
    client_timer(sim, c, CLIENT_ATTEMPT_TIMEOUT_MS);
    if (!sim_node_up(sim, c->node)) {
        return; /* connection refused: the timeout moves on */
    }
    sim_node_t *n = &sim->nodes[c->node];
    int err;
    if (c->state == CLIENT_READING && client_planted_answer(sim, c)) {
        return;
    }
    if (c->state == CLIENT_WRITING) {
        command_t cmd = {.client_id = c->id,
                         .sequence = c->sequence,
                         .size = c->payload_size,
                         .bytes = c->payload};
        err = node_submit(n->core, &cmd, sim_node_local(sim, c->node));
    } else {
        c->read_id = ++sim->clients.next_read_id;
        err = node_read(n->core, c->read_id, sim_node_local(sim, c->node));
    }
    if (err == BALLOT_EBUSY) {
        client_timer(sim, c, prng_range(&sim->rng, 1, CLIENT_RETRY_MS_MAX));
    } else if (err != BALLOT_OK) {
        sim_fail(sim, "simulator", "n%u refused client %u's request: %s", c->node, c->id,
                 ballot_strerror(err));
    } else if (c->state == CLIENT_WRITING) {
        (void)client_planted_answer(sim, c);
    }
    sim_after_input(sim, c->node);
}

static void client_choose(sim_t *sim, sim_client_t *c, sim_command_t *cmd)
{
    clients_t *cl = &sim->clients;
    memset(cmd, 0, sizeof(*cmd));
    cmd->key = (uint8_t)prng_below(&sim->rng, cl->keys);
    uint64_t roll = prng_below(&sim->rng, 100);
    /* Values are unique per write, so the linearizability search has little to guess. */
    uint64_t fresh = ((uint64_t)c->id << 40) | ++cl->next_value;
    const uint32_t *mix = sim->opt.mix;
    if (roll < mix[0]) {
        cmd->op = KV_GET;
    } else if (roll < mix[0] + mix[1]) {
        cmd->op = KV_SET;
        cmd->arg1 = fresh;
    } else if (roll < mix[0] + mix[1] + mix[2]) {
        cmd->op = KV_CAS;
        cmd->arg1 = prng_chance(&sim->rng, 0.8) ? cl->last_seen[cmd->key] : fresh - 1;
        cmd->arg2 = fresh;
    } else {
        cmd->op = KV_DEL;
    }
}

static void client_start(sim_t *sim, sim_client_t *c)
{
    sim_command_t cmd;
    client_choose(sim, c, &cmd);
    history_op_t *op = history_add(sim);
    if (op == NULL) {
        return;
    }
    op->client = c->id;
    op->command = cmd;
    c->op = (size_t)(op - sim->clients.ops);
    if (cmd.op == KV_GET) {
        c->state = CLIENT_READING;
    } else {
        c->state = CLIENT_WRITING;
        c->sequence++;
        op->sequence = c->sequence;
        if (sm_encode(&cmd, c->payload, &c->payload_size) != BALLOT_OK) {
            sim_fail(sim, "simulator", "cannot encode a client command");
            return;
        }
        if (!submitted_add(&sim->clients.submitted[c->id], c->sequence, c->payload,
                           c->payload_size)) {
            sim_fail(sim, "simulator", "out of memory recording a command");
            return;
        }
    }
    client_attempt(sim, c);
}

static void client_done(sim_t *sim, sim_client_t *c)
{
    c->state = CLIENT_IDLE;
    c->read_id = 0;
    client_timer(sim, c, prng_below(&sim->rng, CLIENT_THINK_MS_MAX + 1));
}

static void client_complete(sim_t *sim, sim_client_t *c, bool ok, uint64_t value, uint64_t slot)
{
    history_op_t *op = &sim->clients.ops[c->op];
    op->completed = sim->clients.stamp++;
    op->complete_ms = sim->now_ms;
    op->ok = ok;
    op->value = value;
    op->slot = slot;
    sim_command_t *cmd = &op->command;
    if (cmd->op == KV_GET) {
        sim->clients.last_seen[cmd->key] = value;
    } else if (cmd->op == KV_SET || (cmd->op == KV_CAS && ok)) {
        sim->clients.last_seen[cmd->key] = cmd->op == KV_SET ? cmd->arg1 : cmd->arg2;
    }
    sim->stats.ops_completed++;
    client_done(sim, c);
}

void clients_on_timer(sim_t *sim, uint32_t client_id, uint64_t gen)
{
    sim_client_t *c = &sim->clients.client[client_id];
    if (gen != c->timer_gen) {
        return;
    }
    if (c->state == CLIENT_IDLE) {
        if (sim->clients.issuing) {
            client_start(sim, c);
        }
        return;
    }
    const history_op_t *op = &sim->clients.ops[c->op];
    if (sim->phase == SIM_PHASE_FAULTS && sim->now_ms - op->invoke_ms >= CLIENT_GIVE_UP_MS) {
        /* Given up: the write stays indeterminate; a read simply never happened. */
        if (op->command.op != KV_GET) {
            sim->stats.ops_indeterminate++;
        }
        client_done(sim, c);
        return;
    }
    client_attempt(sim, c);
}

void clients_on_result(sim_t *sim, uint32_t node, uint64_t slot, uint64_t client_id,
                       uint64_t sequence, const sm_result_t *result)
{
    if (client_id == 0 || client_id > sim->clients.count) {
        return; /* validity reports it */
    }
    sim_client_t *c = &sim->clients.client[client_id];
    if (c->state != CLIENT_WRITING || c->node != node || c->sequence != sequence) {
        return;
    }
    if (result->stale) {
        sim_fail(sim, "validity",
                 "n%u's state machine calls client %" PRIu64 "'s current "
                 "command %" PRIu64 " stale (slot %" PRIu64 ")",
                 node, client_id, sequence, slot);
        return;
    }
    client_complete(sim, c, result->ok, 0, slot);
}

void clients_on_reply(sim_t *sim, uint32_t node, const client_reply_t *reply)
{
    if (reply->client_id == 0 || reply->client_id > sim->clients.count) {
        sim_fail(sim, "simulator", "n%u replied to unknown client %lu", node,
                 (unsigned long)reply->client_id);
        return;
    }
    sim_client_t *c = &sim->clients.client[reply->client_id];
    if (c->state != CLIENT_WRITING || c->node != node || c->sequence != reply->sequence) {
        return; /* an answer to an attempt the client has moved on from */
    }
    if (reply->status == CLIENT_TOO_LARGE) {
        sim_fail(sim, "simulator", "n%u refused a %u-byte command as too large", node,
                 c->payload_size);
        return;
    }
    c->leader_hint = reply->leader;
    client_timer(sim, c, prng_range(&sim->rng, 1, CLIENT_RETRY_MS_MAX));
}

void clients_on_read(sim_t *sim, uint32_t node, const read_result_t *read)
{
    for (uint32_t id = 1; id <= sim->clients.count; id++) {
        sim_client_t *c = &sim->clients.client[id];
        if (c->state != CLIENT_READING || c->read_id != read->read_id || c->node != node) {
            continue;
        }
        c->leader_hint = read->leader;
        if (!read->ok) {
            client_timer(sim, c, prng_range(&sim->rng, 1, CLIENT_RETRY_MS_MAX));
            return;
        }
        const sm_t *sm = &sim->nodes[node].sm;
        if (sm->applied_slot < read->index) {
            sim_fail(sim, "linearizability",
                     "n%u answered read %" PRIu64 " at index %" PRIu64 " with only %" PRIu64
                     " applied",
                     node, read->read_id, read->index, sm->applied_slot);
            return;
        }
        uint64_t value = 0;
        if (sm_get(sm, sim->clients.ops[c->op].command.key, &value) != BALLOT_OK) {
            sim_fail(sim, "simulator", "n%u's state machine cannot answer a GET", node);
            return;
        }
        client_complete(sim, c, true, value, 0);
        return;
    }
}

bool clients_idle(const clients_t *clients)
{
    for (uint32_t id = 1; id <= clients->count; id++) {
        if (clients->client[id].state != CLIENT_IDLE) {
            return false;
        }
    }
    return true;
}

void clients_finish(sim_t *sim)
{
    for (uint32_t id = 1; id <= sim->clients.count; id++) {
        sim_client_t *c = &sim->clients.client[id];
        if (c->state == CLIENT_WRITING) {
            sim->stats.ops_indeterminate++;
        }
        c->state = CLIENT_IDLE;
        c->timer_gen++;
    }
}
