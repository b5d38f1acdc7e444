/* Frame encoders. The layout of each message's payload (all little-endian; a ballot is
 * u64 round, u32 node; a value is u8 kind, u32 size, size bytes; an entry is u64 slot,
 * ballot, value):
 *
 *   every message   u8 type, u32 from, u32 to, then by type:
 *   PREPARE         ballot, u64 from_slot, ballot waived_ballot
 *   PROMISE         ballot, u64 from_slot, u64 next_slot, u64 chosen_upto,
 *                   u64 log_first_slot,
 *   REJOIN_REPLY    u32 entry_count, entry_count entries
 *   ACCEPT          ballot, u64 slot, u64 commit, value
 *   ACCEPTED        ballot, u64 slot
 *   REJECT          u8 rejected_type, ballot, ballot promised, u64 slot, u8 reason
 *   HEARTBEAT       ballot, u64 commit, u64 heartbeat_id
 *   HEARTBEAT_ACK   ballot, u64 heartbeat_id, u64 chosen_upto
 *   LEARN_REQUEST   u64 from_slot
 *   LEARN           ballot, u64 snapshot_slot, u32 entry_count, entry_count entries
 *   FORWARD         u64 client_id, u64 sequence, value
 *   FORWARD_REPLY   u64 client_id, u64 sequence, u8 status, u32 leader
 *   READ_INDEX      u64 read_id
 *   READ_INDEX_REPLY u64 read_id, u8 ok, u64 index, u32 leader
 *   TIMEOUT_NOW     ballot
 *   REJOIN          u64 from_slot
 *
 * A HELLO payload is u32 version, u64 cluster_id, u32 node_id, u32 peer_id; a snapshot
 * request u64 slot, u64 offset; a snapshot chunk u64 slot, u64 total_bytes, u64 offset,
 * u32 size, size bytes. */
#include "wire/encode.h"

#include "base/crc32c.h"
#include "wire/codec.h"

static uint64_t value_bytes(const value_t *v)
{
    return WIRE_VALUE_HEADER_BYTES + (uint64_t)v->size;
}

static uint64_t entries_bytes(const msg_entry_t *entries, uint32_t count)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        total += 8u + CODEC_BALLOT_BYTES + value_bytes(&entries[i].value);
    }
    return total;
}

static uint64_t promise_bytes(const msg_promise_t *p)
{
    if (p->entry_count > 0 && p->entries == NULL) {
        return 0;
    }
    return CODEC_BALLOT_BYTES + 8u * 4u + 4u + entries_bytes(p->entries, p->entry_count);
}

/* Payload bytes of a message, or 0 when it cannot be encoded (unknown type, entries
 * missing). Every payload has at least the 9-byte common part, so 0 is never valid. */
uint64_t wire_msg_payload_bytes(const msg_t *m)
{
    uint64_t body;
    switch (m->type) {
    case MSG_PREPARE:
        body = 2u * CODEC_BALLOT_BYTES + 8u;
        break;
    case MSG_PROMISE:
        body = promise_bytes(&m->u.promise);
        break;
    case MSG_REJOIN_REPLY:
        body = promise_bytes(&m->u.rejoin_reply);
        break;
    case MSG_ACCEPT:
        body = CODEC_BALLOT_BYTES + 16u + value_bytes(&m->u.accept.value);
        break;
    case MSG_ACCEPTED:
        body = CODEC_BALLOT_BYTES + 8u;
        break;
    case MSG_REJECT:
        body = 2u + 2u * CODEC_BALLOT_BYTES + 8u;
        break;
    case MSG_HEARTBEAT:
    case MSG_HEARTBEAT_ACK:
        body = CODEC_BALLOT_BYTES + 16u;
        break;
    case MSG_LEARN_REQUEST:
    case MSG_READ_INDEX:
    case MSG_REJOIN:
        body = 8u;
        break;
    case MSG_LEARN:
        if (m->u.learn.entry_count > 0 && m->u.learn.entries == NULL) {
            return 0;
        }
        body = CODEC_BALLOT_BYTES + 8u + 4u +
               entries_bytes(m->u.learn.entries, m->u.learn.entry_count);
        break;
    case MSG_FORWARD:
        body = 16u + value_bytes(&m->u.forward.payload);
        break;
    case MSG_FORWARD_REPLY:
        body = 16u + 1u + 4u;
        break;
    case MSG_READ_INDEX_REPLY:
        body = 8u + 1u + 8u + 4u;
        break;
    case MSG_TIMEOUT_NOW:
        body = CODEC_BALLOT_BYTES;
        break;
    default:
        return 0;
    }
    return body == 0 ? 0 : WIRE_MSG_COMMON_BYTES + body;
}

static void put_value(codec_writer_t *w, const value_t *v)
{
    codec_put_u8(w, (uint8_t)v->kind);
    codec_put_u32(w, v->size);
    codec_put_bytes(w, v->bytes, v->size);
}

static void put_entries(codec_writer_t *w, const msg_entry_t *entries, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        codec_put_u64(w, entries[i].slot);
        codec_put_ballot(w, entries[i].ballot);
        put_value(w, &entries[i].value);
    }
}

static void put_promise(codec_writer_t *w, const msg_promise_t *p)
{
    codec_put_ballot(w, p->ballot);
    codec_put_u64(w, p->from_slot);
    codec_put_u64(w, p->next_slot);
    codec_put_u64(w, p->chosen_upto);
    codec_put_u64(w, p->log_first_slot);
    codec_put_u32(w, p->entry_count);
    put_entries(w, p->entries, p->entry_count);
}

static void put_reject(codec_writer_t *w, const msg_reject_t *r)
{
    codec_put_u8(w, (uint8_t)r->rejected_type);
    codec_put_ballot(w, r->ballot);
    codec_put_ballot(w, r->promised);
    codec_put_u64(w, r->slot);
    codec_put_u8(w, (uint8_t)r->reason);
}

/* The types whose payload is one ballot and two u64s, or a lone u64. */
static void put_simple(codec_writer_t *w, const msg_t *m)
{
    switch (m->type) {
    case MSG_PREPARE:
        codec_put_ballot(w, m->u.prepare.ballot);
        codec_put_u64(w, m->u.prepare.from_slot);
        codec_put_ballot(w, m->u.prepare.waived_ballot);
        break;
    case MSG_ACCEPTED:
        codec_put_ballot(w, m->u.accepted.ballot);
        codec_put_u64(w, m->u.accepted.slot);
        break;
    case MSG_HEARTBEAT:
        codec_put_ballot(w, m->u.heartbeat.ballot);
        codec_put_u64(w, m->u.heartbeat.commit);
        codec_put_u64(w, m->u.heartbeat.heartbeat_id);
        break;
    case MSG_HEARTBEAT_ACK:
        codec_put_ballot(w, m->u.heartbeat_ack.ballot);
        codec_put_u64(w, m->u.heartbeat_ack.heartbeat_id);
        codec_put_u64(w, m->u.heartbeat_ack.chosen_upto);
        break;
    case MSG_LEARN_REQUEST:
        codec_put_u64(w, m->u.learn_request.from_slot);
        break;
    case MSG_READ_INDEX:
        codec_put_u64(w, m->u.read_index.read_id);
        break;
    case MSG_REJOIN:
        codec_put_u64(w, m->u.rejoin.from_slot);
        break;
    case MSG_TIMEOUT_NOW:
        codec_put_ballot(w, m->u.timeout_now.ballot);
        break;
    default:
        assert(false);
    }
}

static void put_msg_body(codec_writer_t *w, const msg_t *m)
{
    switch (m->type) {
    case MSG_PROMISE:
        put_promise(w, &m->u.promise);
        break;
    case MSG_REJOIN_REPLY:
        put_promise(w, &m->u.rejoin_reply);
        break;
    case MSG_ACCEPT:
        codec_put_ballot(w, m->u.accept.ballot);
        codec_put_u64(w, m->u.accept.slot);
        codec_put_u64(w, m->u.accept.commit);
        put_value(w, &m->u.accept.value);
        break;
    case MSG_REJECT:
        put_reject(w, &m->u.reject);
        break;
    case MSG_LEARN:
        codec_put_ballot(w, m->u.learn.ballot);
        codec_put_u64(w, m->u.learn.snapshot_slot);
        codec_put_u32(w, m->u.learn.entry_count);
        put_entries(w, m->u.learn.entries, m->u.learn.entry_count);
        break;
    case MSG_FORWARD:
        codec_put_u64(w, m->u.forward.client_id);
        codec_put_u64(w, m->u.forward.sequence);
        put_value(w, &m->u.forward.payload);
        break;
    case MSG_FORWARD_REPLY:
        codec_put_u64(w, m->u.forward_reply.client_id);
        codec_put_u64(w, m->u.forward_reply.sequence);
        codec_put_u8(w, (uint8_t)m->u.forward_reply.status);
        codec_put_u32(w, m->u.forward_reply.leader);
        break;
    case MSG_READ_INDEX_REPLY:
        codec_put_u64(w, m->u.read_index_reply.read_id);
        codec_put_u8(w, m->u.read_index_reply.ok ? 1u : 0u);
        codec_put_u64(w, m->u.read_index_reply.index);
        codec_put_u32(w, m->u.read_index_reply.leader);
        break;
    default:
        put_simple(w, m);
    }
}

/* Reserves header + payload in out and returns a writer positioned at the payload. */
static int frame_begin(wire_buf_t *out, uint64_t payload_bytes, codec_writer_t *w)
{
    if (payload_bytes > WIRE_PAYLOAD_BYTES_MAX) {
        return BALLOT_ETOOLARGE;
    }
    int rc = wire_buf_reserve(out, WIRE_HEADER_BYTES + (size_t)payload_bytes);
    if (rc != BALLOT_OK) {
        return rc;
    }
    w->p = out->bytes + out->size + WIRE_HEADER_BYTES;
    w->end = w->p + payload_bytes;
    return BALLOT_OK;
}

/* Writes the header (checksum included) in front of the payload and commits the frame. */
static void frame_end(wire_buf_t *out, wire_frame_type_t type, const codec_writer_t *w)
{
    assert(w->p == w->end);
    uint8_t *header = out->bytes + out->size;
    uint32_t payload_bytes = (uint32_t)(w->end - (header + WIRE_HEADER_BYTES));
    put_u32(header, WIRE_MAGIC);
    header[4] = (uint8_t)WIRE_VERSION;
    header[5] = (uint8_t)type;
    put_u16(header + 6, 0);
    put_u32(header + 8, payload_bytes);
    uint32_t crc = crc32c(header, WIRE_HEADER_CRC_OFFSET);
    crc = crc32c_extend(crc, header + WIRE_HEADER_BYTES, payload_bytes);
    put_u32(header + WIRE_HEADER_CRC_OFFSET, crc);
    out->size += WIRE_HEADER_BYTES + payload_bytes;
}

size_t wire_msg_frame_bytes(const msg_t *msg)
{
    uint64_t payload = wire_msg_payload_bytes(msg);
    if (payload == 0 || payload > WIRE_PAYLOAD_BYTES_MAX) {
        return 0;
    }
    return WIRE_HEADER_BYTES + (size_t)payload;
}

int wire_encode_msg(wire_buf_t *out, const msg_t *msg)
{
    uint64_t payload = wire_msg_payload_bytes(msg);
    if (payload == 0) {
        return BALLOT_EINVAL;
    }
    codec_writer_t w;
    int rc = frame_begin(out, payload, &w);
    if (rc != BALLOT_OK) {
        return rc;
    }
    codec_put_u8(&w, (uint8_t)msg->type);
    codec_put_u32(&w, msg->from);
    codec_put_u32(&w, msg->to);
    put_msg_body(&w, msg);
    frame_end(out, WIRE_FRAME_MSG, &w);
    return BALLOT_OK;
}

int wire_encode_hello(wire_buf_t *out, const wire_hello_t *hello)
{
    if (hello->node_id == NODE_NONE || hello->node_id > NODES_MAX || hello->peer_id > NODES_MAX ||
        (hello->flags & ~WIRE_HELLO_FLAGS_ALL) != 0) {
        return BALLOT_EINVAL;
    }
    codec_writer_t w;
    int rc = frame_begin(out, WIRE_HELLO_BYTES, &w);
    if (rc != BALLOT_OK) {
        return rc;
    }
    codec_put_u32(&w, hello->version);
    codec_put_u64(&w, hello->cluster_id);
    codec_put_u32(&w, hello->node_id);
    codec_put_u32(&w, hello->peer_id);
    codec_put_u64(&w, hello->incarnation);
    codec_put_u32(&w, hello->flags);
    codec_put_u32(&w, hello->timing.heartbeat_ms);
    codec_put_u32(&w, hello->timing.election_timeout_min_ms);
    codec_put_u32(&w, hello->timing.election_timeout_max_ms);
    codec_put_u32(&w, hello->timing.lease_ms);
    codec_put_u32(&w, hello->timing.clock_drift_ms);
    frame_end(out, WIRE_FRAME_HELLO, &w);
    return BALLOT_OK;
}

int wire_encode_snapshot_request(wire_buf_t *out, const wire_snapshot_request_t *request)
{
    codec_writer_t w;
    int rc = frame_begin(out, WIRE_SNAPSHOT_REQUEST_BYTES, &w);
    if (rc != BALLOT_OK) {
        return rc;
    }
    codec_put_u64(&w, request->slot);
    codec_put_u64(&w, request->offset);
    frame_end(out, WIRE_FRAME_SNAPSHOT_REQUEST, &w);
    return BALLOT_OK;
}

int wire_encode_snapshot_chunk(wire_buf_t *out, const wire_snapshot_chunk_t *chunk)
{
    if (!wire_snapshot_chunk_consistent(chunk)) {
        return BALLOT_EINVAL;
    }
    codec_writer_t w;
    int rc = frame_begin(out, WIRE_SNAPSHOT_CHUNK_HEADER_BYTES + (uint64_t)chunk->size, &w);
    if (rc != BALLOT_OK) {
        return rc;
    }
    codec_put_u64(&w, chunk->slot);
    codec_put_u64(&w, chunk->total_bytes);
    codec_put_u64(&w, chunk->offset);
    codec_put_u32(&w, chunk->size);
    codec_put_bytes(&w, chunk->bytes, chunk->size);
    frame_end(out, WIRE_FRAME_SNAPSHOT_CHUNK, &w);
    return BALLOT_OK;
}
