/* Frame and message decoding over untrusted bytes (layout in encode.c). Every length is
 * checked against the bytes present before it is used, every count against its bound
 * before anything is allocated, and a payload must be consumed exactly. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fail.h"
#include "base/crc32c.h"
#include "wire/codec.h"
#include "wire/encode.h"

#define fail(err, err_bytes, ...) ballot_fail(BALLOT_EINVAL, err, err_bytes, __VA_ARGS__)

static bool get_value(codec_reader_t *r, value_t *out)
{
    uint8_t kind = codec_get_u8(r);
    uint32_t size = codec_get_u32(r);
    out->kind = VALUE_NOOP;
    out->size = 0;
    out->bytes = NULL;
    if (r->failed || kind > VALUE_KIND_MAX) {
        r->failed = true;
        return false;
    }
    if (kind == VALUE_NOOP && size != 0) {
        r->failed = true;
        return false;
    }
    const uint8_t *bytes = codec_get_bytes(r, size);
    if (bytes == NULL) {
        return false;
    }
    out->kind = (value_kind_t)kind;
    if (size > 0) {
        out->bytes = malloc(size);
        if (out->bytes == NULL) {
            return false;
        }
        memcpy(out->bytes, bytes, size);
        out->size = size;
    }
    return true;
}

/* Decodes count entries into a new array. *oom is set when allocation (not the input)
 * failed. On failure everything allocated is freed. */
static bool get_entries(codec_reader_t *r, uint32_t count, msg_entry_t **out, bool *oom)
{
    *out = NULL;
    if (count == 0) {
        return !r->failed;
    }
    /* Bounded before allocating: no more entries than MSG_ENTRIES_MAX or than the bytes
     * left could hold. */
    if (count > MSG_ENTRIES_MAX || r->left / WIRE_ENTRY_MIN_BYTES < count) {
        r->failed = true;
        return false;
    }
    msg_entry_t *entries = calloc(count, sizeof(*entries));
    if (entries == NULL) {
        *oom = true;
        return false;
    }
    for (uint32_t i = 0; i < count; i++) {
        entries[i].slot = codec_get_u64(r);
        entries[i].ballot = codec_get_ballot(r);
        if (!get_value(r, &entries[i].value)) {
            *oom = !r->failed;
            for (uint32_t j = 0; j <= i; j++) {
                free(entries[j].value.bytes);
            }
            free(entries);
            return false;
        }
    }
    *out = entries;
    return true;
}

static bool get_promise(codec_reader_t *r, msg_promise_t *p, bool *oom)
{
    p->ballot = codec_get_ballot(r);
    p->from_slot = codec_get_u64(r);
    p->next_slot = codec_get_u64(r);
    p->chosen_upto = codec_get_u64(r);
    p->log_first_slot = codec_get_u64(r);
    p->entry_count = codec_get_u32(r);
    if (!get_entries(r, p->entry_count, &p->entries, oom)) {
        p->entry_count = 0;
        return false;
    }
    return true;
}

static bool get_learn(codec_reader_t *r, msg_learn_t *l, bool *oom)
{
    l->ballot = codec_get_ballot(r);
    l->snapshot_slot = codec_get_u64(r);
    l->entry_count = codec_get_u32(r);
    if (!get_entries(r, l->entry_count, &l->entries, oom)) {
        l->entry_count = 0;
        return false;
    }
    return true;
}

static bool get_reject(codec_reader_t *r, msg_reject_t *j)
{
    uint8_t type = codec_get_u8(r);
    j->ballot = codec_get_ballot(r);
    j->promised = codec_get_ballot(r);
    j->slot = codec_get_u64(r);
    uint8_t reason = codec_get_u8(r);
    /* Enumerations are range-checked here so no out-of-range value reaches an enum. */
    if (type < MSG_TYPE_MIN || type > MSG_TYPE_MAX || reason < 1 || reason > REJECT_REASON_MAX) {
        r->failed = true;
    }
    j->rejected_type = r->failed ? MSG_PREPARE : (msg_type_t)type;
    j->reason = r->failed ? REJECT_PROMISED : (reject_reason_t)reason;
    return !r->failed;
}

static bool get_forward_reply(codec_reader_t *r, msg_forward_reply_t *f)
{
    f->client_id = codec_get_u64(r);
    f->sequence = codec_get_u64(r);
    uint8_t status = codec_get_u8(r);
    f->leader = codec_get_u32(r);
    if (status != FORWARD_NOT_LEADER && status != FORWARD_BUSY) {
        r->failed = true;
    }
    f->status = r->failed ? FORWARD_NOT_LEADER : (forward_status_t)status;
    return !r->failed;
}

static bool get_read_index_reply(codec_reader_t *r, msg_read_index_reply_t *x)
{
    x->read_id = codec_get_u64(r);
    uint8_t ok = codec_get_u8(r);
    x->index = codec_get_u64(r);
    x->leader = codec_get_u32(r);
    if (ok > 1) {
        r->failed = true;
    }
    x->ok = ok == 1;
    return !r->failed;
}

/* The types with no heap part. */
static bool get_simple(codec_reader_t *r, msg_t *m)
{
    switch (m->type) {
    case MSG_PREPARE:
        m->u.prepare.ballot = codec_get_ballot(r);
        m->u.prepare.from_slot = codec_get_u64(r);
        m->u.prepare.waived_ballot = codec_get_ballot(r);
        break;
    case MSG_ACCEPTED:
        m->u.accepted.ballot = codec_get_ballot(r);
        m->u.accepted.slot = codec_get_u64(r);
        break;
    case MSG_HEARTBEAT:
        m->u.heartbeat.ballot = codec_get_ballot(r);
        m->u.heartbeat.commit = codec_get_u64(r);
        m->u.heartbeat.heartbeat_id = codec_get_u64(r);
        break;
    case MSG_HEARTBEAT_ACK:
        m->u.heartbeat_ack.ballot = codec_get_ballot(r);
        m->u.heartbeat_ack.heartbeat_id = codec_get_u64(r);
        m->u.heartbeat_ack.chosen_upto = codec_get_u64(r);
        break;
    case MSG_LEARN_REQUEST:
        m->u.learn_request.from_slot = codec_get_u64(r);
        break;
    case MSG_READ_INDEX:
        m->u.read_index.read_id = codec_get_u64(r);
        break;
    case MSG_REJOIN:
        m->u.rejoin.from_slot = codec_get_u64(r);
        break;
    case MSG_TIMEOUT_NOW:
        m->u.timeout_now.ballot = codec_get_ballot(r);
        break;
    case MSG_REJECT:
        return get_reject(r, &m->u.reject);
    case MSG_FORWARD_REPLY:
        return get_forward_reply(r, &m->u.forward_reply);
    case MSG_READ_INDEX_REPLY:
        return get_read_index_reply(r, &m->u.read_index_reply);
    default:
        r->failed = true;
    }
    return !r->failed;
}

static bool get_msg_body(codec_reader_t *r, msg_t *m, bool *oom)
{
    switch (m->type) {
    case MSG_PROMISE:
        return get_promise(r, &m->u.promise, oom);
    case MSG_REJOIN_REPLY:
        return get_promise(r, &m->u.rejoin_reply, oom);
    case MSG_ACCEPT:
        m->u.accept.ballot = codec_get_ballot(r);
        m->u.accept.slot = codec_get_u64(r);
        m->u.accept.commit = codec_get_u64(r);
        if (!get_value(r, &m->u.accept.value)) {
            *oom = !r->failed;
            return false;
        }
        return true;
    case MSG_LEARN:
        return get_learn(r, &m->u.learn, oom);
    case MSG_FORWARD:
        m->u.forward.client_id = codec_get_u64(r);
        m->u.forward.sequence = codec_get_u64(r);
        if (!get_value(r, &m->u.forward.payload)) {
            *oom = !r->failed;
            return false;
        }
        return true;
    default:
        return get_simple(r, m);
    }
}

/* Decodes a MSG payload into out (zeroed first); on error out owns nothing. */
static int decode_msg(const uint8_t *payload, uint32_t size, msg_t *out, char *err,
                      size_t err_bytes)
{
    memset(out, 0, sizeof(*out));
    codec_reader_t r = {.p = payload, .left = size, .failed = false};
    uint8_t type = codec_get_u8(&r);
    uint32_t from = codec_get_u32(&r);
    uint32_t to = codec_get_u32(&r);
    if (r.failed || type < MSG_TYPE_MIN || type > MSG_TYPE_MAX) {
        return fail(err, err_bytes, "wire: unknown message type %u", type);
    }
    out->type = (msg_type_t)type;
    out->from = from;
    out->to = to;
    bool oom = false;
    bool ok = get_msg_body(&r, out, &oom);
    if (ok && r.left != 0) {
        ok = false;
    }
    if (!ok) {
        msg_free(out);
        if (oom) {
            return ballot_fail(BALLOT_ENOMEM, err, err_bytes, "wire: out of memory decoding %s",
                               msg_type_name((msg_type_t)type));
        }
        return fail(err, err_bytes, "wire: malformed %s payload (%u bytes)",
                    msg_type_name((msg_type_t)type), size);
    }
    if (!msg_validate(out)) {
        msg_free(out);
        return fail(err, err_bytes, "wire: %s from %u to %u fails validation",
                    msg_type_name((msg_type_t)type), from, to);
    }
    return BALLOT_OK;
}

static int decode_hello(const uint8_t *payload, uint32_t size, wire_hello_t *out, char *err,
                        size_t err_bytes)
{
    codec_reader_t r = {.p = payload, .left = size, .failed = false};
    out->version = codec_get_u32(&r);
    out->cluster_id = codec_get_u64(&r);
    out->node_id = codec_get_u32(&r);
    out->peer_id = codec_get_u32(&r);
    if (out->version != WIRE_VERSION && !r.failed) {
        /* Another version's HELLO may have another length: name the version, not the size. */
        return fail(err, err_bytes, "wire: HELLO with unknown protocol version %u (mine %u)",
                    out->version, WIRE_VERSION);
    }
    out->incarnation = codec_get_u64(&r);
    out->flags = codec_get_u32(&r);
    out->timing.heartbeat_ms = codec_get_u32(&r);
    out->timing.election_timeout_min_ms = codec_get_u32(&r);
    out->timing.election_timeout_max_ms = codec_get_u32(&r);
    out->timing.lease_ms = codec_get_u32(&r);
    out->timing.clock_drift_ms = codec_get_u32(&r);
    if (r.failed || r.left != 0) {
        return fail(err, err_bytes, "wire: malformed HELLO (%u bytes)", size);
    }
    if ((out->flags & ~WIRE_HELLO_FLAGS_ALL) != 0) {
        return fail(err, err_bytes, "wire: HELLO with unknown flags %#x", out->flags);
    }
    if (out->version != WIRE_VERSION) {
        return fail(err, err_bytes, "wire: HELLO with unknown protocol version %u (mine %u)",
                    out->version, WIRE_VERSION);
    }
    if (out->node_id == NODE_NONE || out->node_id > NODES_MAX || out->peer_id > NODES_MAX) {
        return fail(err, err_bytes, "wire: HELLO with node id %u, peer id %u out of range",
                    out->node_id, out->peer_id);
    }
    return BALLOT_OK;
}

static int decode_snapshot_request(const uint8_t *payload, uint32_t size,
                                   wire_snapshot_request_t *out, char *err, size_t err_bytes)
{
    codec_reader_t r = {.p = payload, .left = size, .failed = false};
    out->slot = codec_get_u64(&r);
    out->offset = codec_get_u64(&r);
    if (r.failed || r.left != 0) {
        return fail(err, err_bytes, "wire: malformed SNAPSHOT_REQUEST (%u bytes)", size);
    }
    return BALLOT_OK;
}

static int decode_snapshot_chunk(const uint8_t *payload, uint32_t size, wire_snapshot_chunk_t *out,
                                 char *err, size_t err_bytes)
{
    codec_reader_t r = {.p = payload, .left = size, .failed = false};
    out->slot = codec_get_u64(&r);
    out->total_bytes = codec_get_u64(&r);
    out->offset = codec_get_u64(&r);
    out->size = codec_get_u32(&r);
    out->bytes = codec_get_bytes(&r, out->size);
    if (r.failed || r.left != 0 || !wire_snapshot_chunk_consistent(out)) {
        return fail(err, err_bytes, "wire: malformed SNAPSHOT_CHUNK (%u bytes)", size);
    }
    return BALLOT_OK;
}

/* Checks the header's fixed fields; the checksum needs the payload and comes later. */
static int check_header(const uint8_t *h, uint32_t payload_bytes_max, char *err, size_t err_bytes)
{
    if (get_u32(h) != WIRE_MAGIC) {
        return fail(err, err_bytes, "wire: bad magic 0x%08x", get_u32(h));
    }
    if (h[4] != WIRE_VERSION) {
        return fail(err, err_bytes, "wire: unknown frame version %u (mine %u)", h[4], WIRE_VERSION);
    }
    if (h[5] == WIRE_FRAME_NONE || h[5] > WIRE_FRAME_TYPE_MAX) {
        return fail(err, err_bytes, "wire: unknown frame type %u", h[5]);
    }
    if (get_u16(h + 6) != 0) {
        return fail(err, err_bytes, "wire: unknown frame flags 0x%04x", get_u16(h + 6));
    }
    if (get_u32(h + 8) > payload_bytes_max) {
        return ballot_fail(BALLOT_ETOOLARGE, err, err_bytes,
                           "wire: frame payload of %u bytes exceeds %u", get_u32(h + 8),
                           payload_bytes_max);
    }
    return BALLOT_OK;
}

static int decode_payload(wire_frame_type_t type, const uint8_t *payload, uint32_t size,
                          wire_frame_t *out, char *err, size_t err_bytes)
{
    switch (type) {
    case WIRE_FRAME_HELLO:
        return decode_hello(payload, size, &out->u.hello, err, err_bytes);
    case WIRE_FRAME_MSG:
        return decode_msg(payload, size, &out->u.msg, err, err_bytes);
    case WIRE_FRAME_SNAPSHOT_REQUEST:
        return decode_snapshot_request(payload, size, &out->u.snapshot_request, err, err_bytes);
    case WIRE_FRAME_SNAPSHOT_CHUNK:
        return decode_snapshot_chunk(payload, size, &out->u.snapshot_chunk, err, err_bytes);
    default:
        return fail(err, err_bytes, "wire: unknown frame type %u", (unsigned)type);
    }
}

int wire_decode_frame(const uint8_t *bytes, size_t size, uint32_t payload_bytes_max,
                      wire_frame_t *out, size_t *consumed, char *err, size_t err_bytes)
{
    memset(out, 0, sizeof(*out));
    out->type = WIRE_FRAME_NONE;
    *consumed = 0;
    if (payload_bytes_max == 0 || payload_bytes_max > WIRE_PAYLOAD_BYTES_MAX) {
        payload_bytes_max = WIRE_PAYLOAD_BYTES_MAX;
    }
    if (size < WIRE_HEADER_BYTES) {
        return BALLOT_OK;
    }
    int rc = check_header(bytes, payload_bytes_max, err, err_bytes);
    if (rc != BALLOT_OK) {
        return rc;
    }
    uint32_t payload_bytes = get_u32(bytes + 8);
    if (size - WIRE_HEADER_BYTES < payload_bytes) {
        return BALLOT_OK;
    }
    const uint8_t *payload = bytes + WIRE_HEADER_BYTES;
    uint32_t crc = crc32c(bytes, WIRE_HEADER_CRC_OFFSET);
    crc = crc32c_extend(crc, payload, payload_bytes);
    if (crc != get_u32(bytes + WIRE_HEADER_CRC_OFFSET)) {
        return ballot_fail(BALLOT_ECORRUPT, err, err_bytes,
                           "wire: frame checksum 0x%08x, computed 0x%08x",
                           get_u32(bytes + WIRE_HEADER_CRC_OFFSET), crc);
    }
    wire_frame_type_t type = (wire_frame_type_t)bytes[5];
    rc = decode_payload(type, payload, payload_bytes, out, err, err_bytes);
    if (rc != BALLOT_OK) {
        memset(out, 0, sizeof(*out));
        return rc;
    }
    out->type = type;
    *consumed = WIRE_HEADER_BYTES + (size_t)payload_bytes;
    return BALLOT_OK;
}

const char *wire_frame_type_name(wire_frame_type_t type)
{
    switch (type) {
    case WIRE_FRAME_NONE:
        return "NONE";
    case WIRE_FRAME_HELLO:
        return "HELLO";
    case WIRE_FRAME_MSG:
        return "MSG";
    case WIRE_FRAME_SNAPSHOT_REQUEST:
        return "SNAPSHOT_REQUEST";
    case WIRE_FRAME_SNAPSHOT_CHUNK:
        return "SNAPSHOT_CHUNK";
    default:
        return "UNKNOWN";
    }
}
