#include "core/value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "core/check.h"

value_t value_noop(void)
{
    return (value_t){.kind = VALUE_NOOP, .size = 0, .bytes = NULL};
}

bool value_copy(value_t *out, const value_t *in)
{
    assert(out != NULL);
    assert(in != NULL);
    *out = (value_t){.kind = in->kind, .size = in->size, .bytes = NULL};
    if (in->size == 0) {
        return true;
    }
    assert(in->bytes != NULL);
    out->bytes = malloc(in->size);
    if (out->bytes == NULL) {
        out->size = 0;
        return false;
    }
    memcpy(out->bytes, in->bytes, in->size);
    return true;
}

void value_free(value_t *v)
{
    if (v == NULL) {
        return;
    }
    free(v->bytes);
    *v = value_noop();
}

bool value_equal(const value_t *a, const value_t *b)
{
    if (a->kind != b->kind || a->size != b->size) {
        return false;
    }
    return a->size == 0 || memcmp(a->bytes, b->bytes, a->size) == 0;
}

bool batch_validate(const uint8_t *bytes, uint32_t size)
{
    if (bytes == NULL || size < BATCH_HEADER_BYTES || size > BATCH_BYTES_MAX) {
        return false;
    }
    uint32_t header = get_u32(bytes);
    uint32_t count = header & ~BATCH_STAMPED;
    if (count == 0 || count > BATCH_COMMANDS_MAX) {
        return false;
    }
    uint32_t offset = BATCH_HEADER_BYTES;
    if ((header & BATCH_STAMPED) != 0) {
        if (size - offset < BATCH_STAMP_BYTES) {
            return false;
        }
        offset += BATCH_STAMP_BYTES;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (size - offset < BATCH_COMMAND_HEADER_BYTES) {
            return false;
        }
        uint32_t length = get_u32(bytes + offset + 16);
        offset += BATCH_COMMAND_HEADER_BYTES;
        if (length > COMMAND_BYTES_MAX || length > size - offset) {
            return false;
        }
        offset += length;
    }
    /* Trailing bytes would be silently ignored by the iterator: refuse them. */
    return offset == size;
}

uint64_t batch_encoded_bytes(const command_t *commands, uint32_t count)
{
    uint64_t total = BATCH_HEADER_BYTES;
    for (uint32_t i = 0; i < count && i < BATCH_COMMANDS_MAX; i++) {
        total += BATCH_COMMAND_HEADER_BYTES + (uint64_t)commands[i].size;
    }
    return total;
}

bool batch_encode(value_t *out, const command_t *commands, uint32_t count)
{
    return batch_encode_stamped(out, commands, count, 0);
}

bool batch_encode_stamped(value_t *out, const command_t *commands, uint32_t count,
                          uint64_t stamp_ms)
{
    assert(out != NULL);
    *out = value_noop();
    if (count == 0 || count > BATCH_COMMANDS_MAX) {
        return false;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (commands[i].size > COMMAND_BYTES_MAX ||
            (commands[i].size > 0 && commands[i].bytes == NULL)) {
            return false;
        }
    }
    uint64_t total = batch_encoded_bytes(commands, count) + (stamp_ms != 0 ? BATCH_STAMP_BYTES : 0);
    if (total > BATCH_BYTES_MAX) {
        return false;
    }
    uint8_t *bytes = malloc((size_t)total);
    if (bytes == NULL) {
        return false;
    }
    put_u32(bytes, count | (stamp_ms != 0 ? BATCH_STAMPED : 0u));
    size_t offset = BATCH_HEADER_BYTES;
    if (stamp_ms != 0) {
        put_u64(bytes + offset, stamp_ms);
        offset += BATCH_STAMP_BYTES;
    }
    for (uint32_t i = 0; i < count; i++) {
        put_u64(bytes + offset, commands[i].client_id);
        put_u64(bytes + offset + 8, commands[i].sequence);
        put_u32(bytes + offset + 16, commands[i].size);
        offset += BATCH_COMMAND_HEADER_BYTES;
        if (commands[i].size > 0) {
            memcpy(bytes + offset, commands[i].bytes, commands[i].size);
        }
        offset += commands[i].size;
    }
    assert(offset == total);
    *out = (value_t){.kind = VALUE_BATCH, .size = (uint32_t)total, .bytes = bytes};
    assert(batch_validate(out->bytes, out->size));
    return true;
}

void batch_iter_init(batch_iter_t *it, const value_t *batch)
{
    assert(it != NULL);
    assert(batch != NULL);
    *it = (batch_iter_t){.bytes = batch->bytes, .size = batch->size};
    if (batch->kind != VALUE_BATCH || batch->size < BATCH_HEADER_BYTES) {
        return;
    }
    uint32_t header = get_u32(batch->bytes);
    it->remaining = header & ~BATCH_STAMPED;
    it->offset = BATCH_HEADER_BYTES + ((header & BATCH_STAMPED) != 0 ? BATCH_STAMP_BYTES : 0u);
    assert(it->remaining <= BATCH_COMMANDS_MAX);
}

bool batch_iter_next(batch_iter_t *it, command_t *out)
{
    if (it->remaining == 0) {
        return false;
    }
    assert(it->size - it->offset >= BATCH_COMMAND_HEADER_BYTES);
    const uint8_t *p = it->bytes + it->offset;
    out->client_id = get_u64(p);
    out->sequence = get_u64(p + 8);
    out->size = get_u32(p + 16);
    it->offset += BATCH_COMMAND_HEADER_BYTES;
    assert(out->size <= it->size - it->offset);
    out->bytes = it->bytes + it->offset;
    it->offset += out->size;
    it->remaining--;
    return true;
}

uint32_t batch_count(const value_t *batch)
{
    if (batch->kind != VALUE_BATCH || batch->size < BATCH_HEADER_BYTES) {
        return 0;
    }
    return get_u32(batch->bytes) & ~BATCH_STAMPED;
}

uint64_t batch_stamp(const value_t *batch)
{
    if (batch->kind != VALUE_BATCH || batch->size < BATCH_HEADER_BYTES + BATCH_STAMP_BYTES ||
        (get_u32(batch->bytes) & BATCH_STAMPED) == 0) {
        return 0;
    }
    return get_u64(batch->bytes + BATCH_HEADER_BYTES);
}

/* Membership values (docs/design.md "Membership change"). */

void membership_founding(membership_t *out, uint32_t voters)
{
    assert(out != NULL);
    assert(voters >= 1 && voters <= NODE_IDS_MAX);
    memset(out, 0, sizeof(*out));
    out->count = voters;
    for (uint32_t i = 0; i < voters; i++) {
        out->members[i].id = i + 1;
        out->members[i].role = MEMBER_VOTER;
    }
}

uint32_t membership_voter_mask(const membership_t *m)
{
    uint32_t mask = 0;
    for (uint32_t i = 0; i < m->count && i < NODE_IDS_MAX; i++) {
        if (m->members[i].role == MEMBER_VOTER && m->members[i].id <= NODE_IDS_MAX) {
            mask |= 1u << m->members[i].id;
        }
    }
    return mask;
}

uint32_t membership_member_mask(const membership_t *m)
{
    uint32_t mask = 0;
    for (uint32_t i = 0; i < m->count && i < NODE_IDS_MAX; i++) {
        if (m->members[i].id <= NODE_IDS_MAX) {
            mask |= 1u << m->members[i].id;
        }
    }
    return mask;
}

uint32_t membership_voters(const membership_t *m)
{
    uint32_t n = 0;
    for (uint32_t mask = membership_voter_mask(m); mask != 0; mask &= mask - 1) {
        n++;
    }
    return n;
}

const member_t *membership_find(const membership_t *m, uint32_t id)
{
    for (uint32_t i = 0; i < m->count && i < NODE_IDS_MAX; i++) {
        if (m->members[i].id == id) {
            return &m->members[i];
        }
    }
    return NULL;
}

bool membership_set(membership_t *m, uint32_t id, member_role_t role, const char *addr)
{
    if (id == 0 || id > NODE_IDS_MAX || (addr != NULL && strlen(addr) > MEMBER_ADDR_BYTES_MAX)) {
        return false;
    }
    uint32_t at = 0;
    while (at < m->count && m->members[at].id < id) {
        at++;
    }
    if (at == m->count || m->members[at].id != id) {
        if (m->count >= NODE_IDS_MAX) {
            return false;
        }
        memmove(&m->members[at + 1], &m->members[at], (m->count - at) * sizeof(member_t));
        memset(&m->members[at], 0, sizeof(member_t));
        m->members[at].id = id;
        m->count++;
    }
    m->members[at].role = role;
    if (addr != NULL) {
        snprintf(m->members[at].addr, sizeof(m->members[at].addr), "%s", addr);
    }
    return true;
}

bool membership_remove(membership_t *m, uint32_t id)
{
    for (uint32_t i = 0; i < m->count; i++) {
        if (m->members[i].id == id) {
            memmove(&m->members[i], &m->members[i + 1], (m->count - i - 1) * sizeof(member_t));
            m->count--;
            return true;
        }
    }
    return false;
}

bool membership_valid(const membership_t *m)
{
    if (m == NULL || m->count == 0 || m->count > NODE_IDS_MAX) {
        return false;
    }
    uint32_t previous = 0;
    bool voter = false;
    for (uint32_t i = 0; i < m->count; i++) {
        const member_t *x = &m->members[i];
        if (x->id <= previous || x->id > NODE_IDS_MAX ||
            (x->role != MEMBER_VOTER && x->role != MEMBER_LEARNER) ||
            memchr(x->addr, '\0', sizeof(x->addr)) == NULL) {
            return false;
        }
        voter = voter || x->role == MEMBER_VOTER;
        previous = x->id;
    }
    return voter;
}

bool membership_encode(value_t *out, const membership_t *m)
{
    assert(out != NULL);
    *out = value_noop();
    if (!membership_valid(m)) {
        return false;
    }
    uint8_t *bytes = malloc(MEMBERSHIP_BYTES_MAX);
    if (bytes == NULL) {
        return false;
    }
    size_t n = 0;
    bytes[n++] = MEMBERSHIP_FORMAT;
    put_u64(bytes + n, m->epoch);
    n += 8;
    bytes[n++] = (uint8_t)m->count;
    for (uint32_t i = 0; i < m->count; i++) {
        size_t len = strlen(m->members[i].addr);
        bytes[n++] = (uint8_t)m->members[i].id;
        bytes[n++] = (uint8_t)m->members[i].role;
        bytes[n++] = (uint8_t)len;
        memcpy(bytes + n, m->members[i].addr, len);
        n += len;
    }
    assert(n <= MEMBERSHIP_BYTES_MAX);
    *out = (value_t){.kind = VALUE_CONFIG, .size = (uint32_t)n, .bytes = bytes};
    return true;
}

bool membership_decode(membership_t *out, const uint8_t *bytes, uint32_t size)
{
    if (bytes == NULL || size < 10u || size > MEMBERSHIP_BYTES_MAX ||
        bytes[0] != MEMBERSHIP_FORMAT) {
        return false;
    }
    membership_t m;
    memset(&m, 0, sizeof(m));
    m.epoch = get_u64(bytes + 1);
    m.count = bytes[9];
    if (m.count == 0 || m.count > NODE_IDS_MAX) {
        return false;
    }
    uint32_t offset = 10;
    for (uint32_t i = 0; i < m.count; i++) {
        if (size - offset < 3u) {
            return false;
        }
        m.members[i].id = bytes[offset];
        m.members[i].role = (member_role_t)bytes[offset + 1];
        uint32_t len = bytes[offset + 2];
        offset += 3;
        if (len > size - offset || memchr(bytes + offset, '\0', len) != NULL) {
            return false;
        }
        memcpy(m.members[i].addr, bytes + offset, len);
        offset += len;
    }
    if (offset != size || !membership_valid(&m)) {
        return false;
    }
    *out = m;
    return true;
}

static bool why_fail(char *why, size_t why_bytes, const char *text)
{
    if (why != NULL && why_bytes > 0) {
        snprintf(why, why_bytes, "%s", text);
    }
    return false;
}

bool membership_change_allowed(const membership_t *prev, const membership_t *next, char *why,
                               size_t why_bytes)
{
    if (!membership_valid(next)) {
        return why_fail(why, why_bytes, "malformed membership");
    }
    if (next->epoch != prev->epoch + 1) {
        return why_fail(why, why_bytes, "epoch must be one above the current one");
    }
    uint32_t changed = membership_voter_mask(prev) ^ membership_voter_mask(next);
    if ((changed & (changed - 1)) != 0) {
        return why_fail(why, why_bytes, "only one voter may be added or removed per change");
    }
    return true;
}

bool value_valid(const value_t *v)
{
    if (v == NULL) {
        return false;
    }
    switch (v->kind) {
    case VALUE_NOOP:
        return v->size == 0;
    case VALUE_BATCH:
        return batch_validate(v->bytes, v->size);
    case VALUE_CONFIG: {
        membership_t m;
        return membership_decode(&m, v->bytes, v->size);
    }
    default:
        return false;
    }
}
