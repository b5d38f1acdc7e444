#include "core/msg.h"

#include <stdlib.h>
#include <string.h>

#include "core/check.h"

/* Framing allowance per entry when estimating a message's encoded size. */
#define MSG_ENTRY_OVERHEAD_BYTES  64u
#define MSG_HEADER_OVERHEAD_BYTES 256u

static void entries_free(msg_entry_t *entries, uint32_t count)
{
    if (entries == NULL) {
        return;
    }
    for (uint32_t i = 0; i < count; i++) {
        value_free(&entries[i].value);
    }
    free(entries);
}

void msg_free(msg_t *m)
{
    if (m == NULL) {
        return;
    }
    switch (m->type) {
    case MSG_PROMISE:
    case MSG_REJOIN_REPLY:
        entries_free(m->u.promise.entries, m->u.promise.entry_count);
        break;
    case MSG_LEARN:
        entries_free(m->u.learn.entries, m->u.learn.entry_count);
        break;
    case MSG_ACCEPT:
        value_free(&m->u.accept.value);
        break;
    case MSG_FORWARD:
        value_free(&m->u.forward.payload);
        break;
    default:
        break;
    }
    memset(m, 0, sizeof(*m));
}

static bool entries_copy(msg_entry_t **out, const msg_entry_t *in, uint32_t count)
{
    *out = NULL;
    if (count == 0) {
        return true;
    }
    msg_entry_t *copy = calloc(count, sizeof(*copy));
    if (copy == NULL) {
        return false;
    }
    for (uint32_t i = 0; i < count; i++) {
        copy[i].slot = in[i].slot;
        copy[i].ballot = in[i].ballot;
        if (!value_copy(&copy[i].value, &in[i].value)) {
            entries_free(copy, i);
            return false;
        }
    }
    *out = copy;
    return true;
}

bool msg_copy(msg_t *out, const msg_t *in)
{
    assert(out != NULL);
    assert(in != NULL);
    *out = *in;
    bool ok = true;
    switch (in->type) {
    case MSG_PROMISE:
    case MSG_REJOIN_REPLY:
        ok =
            entries_copy(&out->u.promise.entries, in->u.promise.entries, in->u.promise.entry_count);
        break;
    case MSG_LEARN:
        ok = entries_copy(&out->u.learn.entries, in->u.learn.entries, in->u.learn.entry_count);
        break;
    case MSG_ACCEPT:
        ok = value_copy(&out->u.accept.value, &in->u.accept.value);
        break;
    case MSG_FORWARD:
        ok = value_copy(&out->u.forward.payload, &in->u.forward.payload);
        break;
    default:
        break;
    }
    if (!ok) {
        memset(out, 0, sizeof(*out));
    }
    return ok;
}

const char *msg_type_name(msg_type_t type)
{
    static const char *const names[] = {
        [MSG_PREPARE] = "Prepare",
        [MSG_PROMISE] = "Promise",
        [MSG_ACCEPT] = "Accept",
        [MSG_ACCEPTED] = "Accepted",
        [MSG_REJECT] = "Reject",
        [MSG_HEARTBEAT] = "Heartbeat",
        [MSG_HEARTBEAT_ACK] = "HeartbeatAck",
        [MSG_LEARN_REQUEST] = "LearnRequest",
        [MSG_LEARN] = "Learn",
        [MSG_FORWARD] = "Forward",
        [MSG_FORWARD_REPLY] = "ForwardReply",
        [MSG_READ_INDEX] = "ReadIndex",
        [MSG_READ_INDEX_REPLY] = "ReadIndexReply",
        [MSG_TIMEOUT_NOW] = "TimeoutNow",
        [MSG_REJOIN] = "Rejoin",
        [MSG_REJOIN_REPLY] = "RejoinReply",
    };
    if ((int)type < MSG_TYPE_MIN || (int)type > MSG_TYPE_MAX) {
        return "Unknown";
    }
    return names[type];
}

/* A ballot names a real node, or is BALLOT_NONE. */
static bool ballot_valid(ballot_t b)
{
    if (ballot_is_none(b)) {
        return true;
    }
    return b.round > 0 && b.round <= BALLOT_ROUND_MAX && b.node >= 1 && b.node <= NODES_MAX;
}

/* A real ballot: what a proposer sends. */
static bool ballot_real(ballot_t b)
{
    return !ballot_is_none(b) && ballot_valid(b);
}

/* A slot a message may name: 1..SLOT_MAX. */
static bool slot_valid(uint64_t slot)
{
    return slot > 0 && slot <= SLOT_MAX;
}

/* Entries: within the count bound, values valid, slots increasing (consecutive when
 * `consecutive`); accumulates their encoded size. */
static bool entries_valid(const msg_entry_t *entries, uint32_t count, bool consecutive,
                          bool need_ballot, uint64_t *bytes)
{
    if (count > MSG_ENTRIES_MAX || (count > 0 && entries == NULL)) {
        return false;
    }
    for (uint32_t i = 0; i < count; i++) {
        const msg_entry_t *e = &entries[i];
        if (e->slot == 0 || e->slot > SLOT_MAX || !value_valid(&e->value) ||
            !ballot_valid(e->ballot)) {
            return false;
        }
        if (need_ballot && ballot_is_none(e->ballot)) {
            return false;
        }
        if (i > 0 && consecutive && e->slot != entries[i - 1].slot + 1) {
            return false;
        }
        if (i > 0 && e->slot <= entries[i - 1].slot) {
            return false;
        }
        *bytes += MSG_ENTRY_OVERHEAD_BYTES + e->value.size;
    }
    return true;
}

static bool promise_valid(const msg_promise_t *p, bool need_ballot, uint64_t *bytes)
{
    if (!ballot_valid(p->ballot) || (need_ballot && ballot_is_none(p->ballot))) {
        return false;
    }
    if (p->from_slot == 0 || p->from_slot > SLOT_MAX || p->next_slot > SLOT_MAX ||
        p->chosen_upto > SLOT_MAX || p->log_first_slot > SLOT_MAX) {
        return false;
    }
    if (p->next_slot != 0 && p->next_slot <= p->from_slot) {
        return false;
    }
    if (!entries_valid(p->entries, p->entry_count, false, true, bytes)) {
        return false;
    }
    for (uint32_t i = 0; i < p->entry_count; i++) {
        uint64_t slot = p->entries[i].slot;
        if (slot < p->from_slot || (p->next_slot != 0 && slot >= p->next_slot)) {
            return false;
        }
    }
    return true;
}

static bool reject_valid(const msg_reject_t *r)
{
    if (r->rejected_type != MSG_PREPARE && r->rejected_type != MSG_ACCEPT &&
        r->rejected_type != MSG_HEARTBEAT) {
        return false;
    }
    if ((int)r->reason < REJECT_PROMISED || (int)r->reason > REJECT_REASON_MAX) {
        return false;
    }
    return ballot_real(r->ballot) && ballot_valid(r->promised) && r->slot <= SLOT_MAX;
}

static bool forward_valid(const msg_forward_t *f)
{
    const value_t *p = &f->payload;
    if (p->kind != VALUE_BATCH || p->size > COMMAND_BYTES_MAX) {
        return false;
    }
    if (f->client_id == 0 || f->sequence == 0 || f->sequence > COMMAND_SEQUENCE_MAX) {
        return false;
    }
    return p->size == 0 || p->bytes != NULL;
}

/* The per-type checks; *bytes accumulates the message's estimated encoded size. */
static bool body_valid(const msg_t *m, uint64_t *bytes)
{
    switch (m->type) {
    case MSG_PREPARE:
        return ballot_real(m->u.prepare.ballot) && slot_valid(m->u.prepare.from_slot) &&
               ballot_valid(m->u.prepare.waived_ballot);
    case MSG_PROMISE:
        return promise_valid(&m->u.promise, true, bytes);
    case MSG_REJOIN_REPLY:
        return promise_valid(&m->u.rejoin_reply, false, bytes);
    case MSG_ACCEPT:
        *bytes += m->u.accept.value.size;
        return ballot_real(m->u.accept.ballot) && slot_valid(m->u.accept.slot) &&
               m->u.accept.commit <= SLOT_MAX && value_valid(&m->u.accept.value);
    case MSG_ACCEPTED:
        return ballot_real(m->u.accepted.ballot) && slot_valid(m->u.accepted.slot);
    case MSG_REJECT:
        return reject_valid(&m->u.reject);
    case MSG_HEARTBEAT:
        return ballot_real(m->u.heartbeat.ballot) && m->u.heartbeat.commit <= SLOT_MAX;
    case MSG_HEARTBEAT_ACK:
        return ballot_real(m->u.heartbeat_ack.ballot) && m->u.heartbeat_ack.chosen_upto <= SLOT_MAX;
    case MSG_LEARN_REQUEST:
        return slot_valid(m->u.learn_request.from_slot);
    case MSG_LEARN:
        return ballot_valid(m->u.learn.ballot) && m->u.learn.snapshot_slot <= SLOT_MAX &&
               entries_valid(m->u.learn.entries, m->u.learn.entry_count, true, false, bytes);
    case MSG_FORWARD:
        *bytes += m->u.forward.payload.size;
        return forward_valid(&m->u.forward);
    case MSG_FORWARD_REPLY:
        return (m->u.forward_reply.status == FORWARD_NOT_LEADER ||
                m->u.forward_reply.status == FORWARD_BUSY) &&
               m->u.forward_reply.leader <= NODES_MAX;
    case MSG_READ_INDEX:
        return true;
    case MSG_READ_INDEX_REPLY:
        return m->u.read_index_reply.leader <= NODES_MAX && m->u.read_index_reply.index <= SLOT_MAX;
    case MSG_TIMEOUT_NOW:
        return ballot_real(m->u.timeout_now.ballot);
    case MSG_REJOIN:
        return slot_valid(m->u.rejoin.from_slot);
    }
    return false;
}

bool msg_validate(const msg_t *m)
{
    if (m == NULL) {
        return false;
    }
    if ((int)m->type < MSG_TYPE_MIN || (int)m->type > MSG_TYPE_MAX) {
        return false;
    }
    if (m->from < 1 || m->from > NODES_MAX || m->to < 1 || m->to > NODES_MAX) {
        return false;
    }
    uint64_t bytes = MSG_HEADER_OVERHEAD_BYTES;
    if (!body_valid(m, &bytes)) {
        return false;
    }
    return bytes <= MSG_BYTES_MAX;
}
