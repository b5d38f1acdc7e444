/* The configurations that govern slots (docs/design.md "Membership change"): a CONFIG
 * value chosen in slot j governs slots >= j + CONFIG_ALPHA, one change at a time. Pure
 * functions of the chosen log, so every replica and every snapshot agree. */
#include <string.h>

#include "base/endian.h"
#include "core/internal.h"

#define CONFIG_STATE_FORMAT 1u

void config_state_init(config_state_t *cs, const membership_t *founding)
{
    assert(cs != NULL);
    memset(cs, 0, sizeof(*cs));
    if (founding != NULL) {
        cs->current = *founding;
    }
    cs->current_from = 1;
}

/* Folds a change whose time has come into `current`. */
static void config_state_settle(config_state_t *cs, uint64_t slot)
{
    if (cs->has_next && slot >= cs->next_from) {
        cs->current = cs->next;
        cs->current_from = cs->next_from;
        cs->has_next = false;
        memset(&cs->next, 0, sizeof(cs->next));
        cs->next_from = 0;
    }
}

bool config_state_apply(config_state_t *cs, uint64_t slot, const value_t *value)
{
    assert(cs != NULL);
    if (slot <= cs->applied_slot) {
        return false;
    }
    cs->applied_slot = slot;
    config_state_settle(cs, slot);
    if (value == NULL || value->kind != VALUE_CONFIG) {
        return false;
    }
    membership_t next;
    if (cs->has_next || !membership_decode(&next, value->bytes, value->size)) {
        return false; /* refused alike on every replica */
    }
    /* A node that joined with no snapshot learns the log from slot 1 and meets the first
     * change before it knows the founding membership: it takes the change whole. Every
     * leader checked that change against the founding membership before proposing it, and
     * a first change is never refused for a pending one, so all replicas agree. */
    bool founding_unknown = cs->current.count == 0 && next.epoch == 1;
    if (!founding_unknown && !membership_change_allowed(&cs->current, &next, NULL, 0)) {
        return false;
    }
    cs->next = next;
    cs->next_from = slot + CONFIG_ALPHA;
    cs->has_next = true;
    return true;
}

const membership_t *config_state_for_slot(const config_state_t *cs, uint64_t slot)
{
    if (cs->has_next && slot >= cs->next_from) {
        return &cs->next;
    }
    return &cs->current;
}

const membership_t *config_state_latest(const config_state_t *cs)
{
    return cs->has_next ? &cs->next : &cs->current;
}

static size_t put_membership(const membership_t *m, uint8_t *out, size_t cap)
{
    value_t v;
    if (!membership_encode(&v, m)) {
        return 0;
    }
    size_t n = 0;
    if (4u + v.size <= cap) {
        put_u32(out, v.size);
        memcpy(out + 4, v.bytes, v.size);
        n = 4u + v.size;
    }
    value_free(&v);
    return n;
}

size_t config_state_encode(const config_state_t *cs, uint8_t *out, size_t cap)
{
    if (cs == NULL || out == NULL || cap < 26u) {
        return 0;
    }
    size_t n = 0;
    out[n++] = CONFIG_STATE_FORMAT;
    put_u64(out + n, cs->current_from);
    n += 8;
    put_u64(out + n, cs->applied_slot);
    n += 8;
    out[n++] = cs->has_next ? 1u : 0u;
    put_u64(out + n, cs->has_next ? cs->next_from : 0);
    n += 8;
    size_t k = put_membership(&cs->current, out + n, cap - n);
    if (k == 0) {
        return 0;
    }
    n += k;
    if (cs->has_next) {
        k = put_membership(&cs->next, out + n, cap - n);
        if (k == 0) {
            return 0;
        }
        n += k;
    }
    return n;
}

static bool get_membership(membership_t *m, const uint8_t *bytes, size_t size, size_t *offset)
{
    if (size - *offset < 4u) {
        return false;
    }
    uint32_t len = get_u32(bytes + *offset);
    *offset += 4;
    if (len > size - *offset || !membership_decode(m, bytes + *offset, len)) {
        return false;
    }
    *offset += len;
    return true;
}

bool config_state_decode(config_state_t *out, const uint8_t *bytes, size_t size)
{
    if (out == NULL || bytes == NULL || size < 26u || size > CONFIG_STATE_BYTES_MAX ||
        bytes[0] != CONFIG_STATE_FORMAT || bytes[17] > 1u) {
        return false;
    }
    config_state_t cs;
    memset(&cs, 0, sizeof(cs));
    cs.current_from = get_u64(bytes + 1);
    cs.applied_slot = get_u64(bytes + 9);
    cs.has_next = bytes[17] == 1u;
    cs.next_from = get_u64(bytes + 18);
    size_t offset = 26;
    if (!get_membership(&cs.current, bytes, size, &offset) ||
        (cs.has_next && !get_membership(&cs.next, bytes, size, &offset)) || offset != size) {
        return false;
    }
    if (cs.current_from == 0 || cs.current_from > SLOT_MAX ||
        (cs.has_next && (cs.next_from <= cs.current_from || cs.next_from > SLOT_MAX ||
                         cs.next.epoch != cs.current.epoch + 1))) {
        return false;
    }
    *out = cs;
    return true;
}

/* Quorums by configuration. */

static uint32_t majority_of(uint32_t voters)
{
    return voters / 2u + 1u;
}

static bool mask_quorum(const membership_t *m, uint32_t mask)
{
    uint32_t voters = membership_voter_mask(m);
    return voters != 0 && node_popcount(mask & voters) >= majority_of(node_popcount(voters));
}

uint32_t node_member_mask(const node_t *node)
{
    uint32_t mask = membership_member_mask(&node->cs.current);
    if (node->cs.has_next) {
        mask |= membership_member_mask(&node->cs.next);
    }
    return mask;
}

bool node_slot_quorum(const node_t *node, uint64_t slot, uint32_t mask)
{
    return mask_quorum(config_state_for_slot(&node->cs, slot), mask);
}

bool node_window_quorum(const node_t *node, uint32_t mask)
{
    /* config_state_apply only ever holds a `next` chosen at or below chosen_upto, so it
     * starts within the window. */
    return node_slot_quorum(node, node->chosen_upto + 1, mask) &&
           (!node->cs.has_next || mask_quorum(&node->cs.next, mask));
}

bool node_alone(const node_t *node)
{
    uint32_t self = node_bit(node->cfg.id);
    const membership_t *m = config_state_for_slot(&node->cs, node->chosen_upto + 1);
    return membership_voter_mask(m) == self &&
           (!node->cs.has_next || membership_voter_mask(&node->cs.next) == self);
}

bool node_is_voter(const node_t *node)
{
    const membership_t *m = config_state_for_slot(&node->cs, node->chosen_upto + 1);
    return (membership_voter_mask(m) & node_bit(node->cfg.id)) != 0;
}

void node_config_advanced(node_t *node)
{
    event_t ev = node_event(node, EVENT_CONFIG_CHOSEN, node->leader_ballot);
    ev.slot_first = node->cs.applied_slot;
    ev.slot_last = node->cs.next_from;
    ev.peer = (uint32_t)node->cs.next.epoch;
    node_emit(node, &ev);
    if (node->config_slot != 0 && node->config_slot <= node->chosen_upto) {
        node->config_slot = 0;
    }
    /* A lease never outlives the configuration that granted it: the next heartbeat a
     * quorum of every configuration of the window answers renews it. */
    if (node->role == ROLE_LEADER) {
        lease_void(node);
        node->heartbeat_wanted = true;
    }
}

const config_state_t *node_config_state(const node_t *node)
{
    return &node->cs;
}
