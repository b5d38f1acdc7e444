/* Client commands: queued at the leader (bounded), cut into batches, forwarded by
 * followers to the leader they know, refused with a reason otherwise. */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#define PENDING_CAPACITY_MIN 64u

static pending_command_t *pending_at(const node_t *node, uint32_t i)
{
    assert(i < node->pending_count);
    return &node->pending[(node->pending_head + i) % node->pending_capacity];
}

static bool pending_grow(node_t *node)
{
    uint32_t next = node->pending_capacity == 0 ? PENDING_CAPACITY_MIN : node->pending_capacity * 2;
    pending_command_t *items = malloc(next * sizeof(*items));
    if (items == NULL) {
        return false;
    }
    for (uint32_t i = 0; i < node->pending_count; i++) {
        items[i] = *pending_at(node, i);
    }
    free(node->pending);
    node->pending = items;
    node->pending_head = 0;
    node->pending_capacity = next;
    return true;
}

/* Queues a command at the leader; false when a bound is reached (the caller says busy). */
static bool pending_push(node_t *node, uint64_t client_id, uint64_t sequence, uint32_t size,
                         const uint8_t *bytes, uint32_t origin)
{
    if (node->pending_count >= node->cfg.pending_commands_max ||
        node->pending_bytes + size > PENDING_BYTES_MAX) {
        return false;
    }
    if (node->pending_count == node->pending_capacity && !pending_grow(node)) {
        return false;
    }
    pending_command_t c = {.client_id = client_id, .sequence = sequence, .size = size};
    c.origin = origin;
    if (size > 0) {
        c.bytes = malloc(size);
        if (c.bytes == NULL) {
            return false;
        }
        memcpy(c.bytes, bytes, size);
    }
    node->pending_count++;
    *pending_at(node, node->pending_count - 1) = c;
    node->pending_bytes += size;
    return true;
}

static void pending_pop(node_t *node)
{
    pending_command_t *c = pending_at(node, 0);
    node->pending_bytes -= c->size;
    free(c->bytes);
    node->pending_head = (node->pending_head + 1) % node->pending_capacity;
    node->pending_count--;
}

bool client_take_batch(node_t *node, value_t *out, event_t *ev)
{
    command_t commands[BATCH_COMMANDS_MAX];
    uint32_t count = 0;
    uint64_t bytes = BATCH_HEADER_BYTES + BATCH_STAMP_BYTES;
    uint32_t limit = node->cfg.batch_commands;
    assert(limit <= BATCH_COMMANDS_MAX);
    while (count < node->pending_count && count < limit) {
        const pending_command_t *c = pending_at(node, count);
        uint64_t add = BATCH_COMMAND_HEADER_BYTES + (uint64_t)c->size;
        /* A command larger than the whole budget still travels, alone. */
        if (count > 0 && bytes + add > node->cfg.batch_bytes) {
            break;
        }
        commands[count] = (command_t){c->client_id, c->sequence, c->size, c->bytes};
        bytes += add;
        count++;
    }
    /* Stamped with the leader's clock: the state machine's time (docs/design.md "Expiry and
     * time"). A node configured without a stamp offset makes unstamped batches. */
    uint64_t stamp = node->cfg.stamp_offset_ms != 0 ? node->now_ms + node->cfg.stamp_offset_ms : 0;
    if (count == 0 || !batch_encode_stamped(out, commands, count, stamp)) {
        return false;
    }
    ev->command_count = count;
    for (uint32_t i = 0; i < count && i < EVENT_COMMANDS_MAX; i++) {
        ev->client_ids[i] = commands[i].client_id;
        ev->sequences[i] = commands[i].sequence;
    }
    for (uint32_t i = 0; i < count; i++) {
        pending_pop(node);
    }
    return true;
}

static void send_forward_reply(node_t *node, uint32_t to, uint64_t client_id, uint64_t sequence,
                               forward_status_t status)
{
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_FORWARD_REPLY;
    m.to = to;
    m.u.forward_reply.client_id = client_id;
    m.u.forward_reply.sequence = sequence;
    m.u.forward_reply.status = status;
    m.u.forward_reply.leader = node->leader == to ? NODE_NONE : node->leader;
    outbox_post(node, &m, OUTBOX_NOW);
}

static void reply(node_t *node, uint64_t client_id, uint64_t sequence, client_status_t status)
{
    client_reply_t r = {.client_id = client_id, .sequence = sequence, .status = status};
    r.leader = node->leader == node->cfg.id ? NODE_NONE : node->leader;
    outbox_reply(node, &r);
}

void client_fail_pending(node_t *node)
{
    while (node->pending_count > 0) {
        const pending_command_t *c = pending_at(node, 0);
        if (c->origin == node->cfg.id) {
            reply(node, c->client_id, c->sequence, CLIENT_NOT_LEADER);
        } else {
            send_forward_reply(node, c->origin, c->client_id, c->sequence, FORWARD_NOT_LEADER);
        }
        pending_pop(node);
    }
    assert(node->pending_bytes == 0);
}

void client_free(node_t *node)
{
    while (node->pending_count > 0) {
        pending_pop(node);
    }
    free(node->pending);
    node->pending = NULL;
    node->pending_capacity = 0;
}

static void forward(node_t *node, const command_t *command)
{
    msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_FORWARD;
    m.to = node->leader;
    m.u.forward.client_id = command->client_id;
    m.u.forward.sequence = command->sequence;
    value_t raw = {.kind = VALUE_BATCH, .size = command->size, .bytes = (uint8_t *)command->bytes};
    if (!value_copy(&m.u.forward.payload, &raw)) {
        reply(node, command->client_id, command->sequence, CLIENT_BUSY);
        return;
    }
    outbox_post(node, &m, OUTBOX_NOW);
}

int node_submit(node_t *node, const command_t *command, uint64_t now_ms)
{
    if (node == NULL || command == NULL || (command->size > 0 && command->bytes == NULL)) {
        return BALLOT_EINVAL;
    }
    if (!node->started) {
        return BALLOT_ESTATE;
    }
    node->now_ms = now_ms > node->now_ms ? now_ms : node->now_ms;
    if (command->size > COMMAND_BYTES_MAX) {
        reply(node, command->client_id, command->sequence, CLIENT_TOO_LARGE);
        return BALLOT_ETOOLARGE;
    }
    if (node->role == ROLE_LEADER) {
        if (!pending_push(node, command->client_id, command->sequence, command->size,
                          command->bytes, node->cfg.id)) {
            reply(node, command->client_id, command->sequence, CLIENT_BUSY);
        }
    } else if (node->cfg.forward_to_leader && node->leader != NODE_NONE &&
               node->leader != node->cfg.id) {
        forward(node, command);
    } else {
        reply(node, command->client_id, command->sequence, CLIENT_NOT_LEADER);
    }
    node_settle(node);
    return BALLOT_OK;
}

void client_on_forward(node_t *node, const msg_t *m)
{
    const msg_forward_t *f = &m->u.forward;
    if (node->role != ROLE_LEADER) {
        send_forward_reply(node, m->from, f->client_id, f->sequence, FORWARD_NOT_LEADER);
        return;
    }
    if (!pending_push(node, f->client_id, f->sequence, f->payload.size, f->payload.bytes,
                      m->from)) {
        send_forward_reply(node, m->from, f->client_id, f->sequence, FORWARD_BUSY);
    }
}

void client_on_forward_reply(node_t *node, const msg_t *m)
{
    const msg_forward_reply_t *r = &m->u.forward_reply;
    client_reply_t out = {.client_id = r->client_id, .sequence = r->sequence};
    out.status = r->status == FORWARD_BUSY ? CLIENT_BUSY : CLIENT_NOT_LEADER;
    out.leader = r->leader;
    outbox_reply(node, &out);
}
