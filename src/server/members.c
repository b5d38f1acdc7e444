/* The membership as ballotd keeps it (docs/operations.md "Membership"): a config_state_t
 * next to the kv, changed only by CONFIG values applied in slot order (the kv never sees
 * them), stored with the kv in every snapshot, handed to the core on restore and install,
 * and followed by the peer table: members with an address are dialled, removed members are
 * dropped and forgotten (their incarnation leaves the PEERS file, so that the id may be
 * used again by a new node).
 *
 * The founding membership of a cluster is voters 1..N with the addresses of --peers; the
 * first change copies them into the log, so that a node that joins later learns every
 * address from the log or a snapshot. */
#include <stdio.h>
#include <string.h>

#include "base/crc32c.h"
#include "base/endian.h"
#include "server/log.h"
#include "server/server_internal.h"

void members_init(server_t *srv)
{
    const server_config_t *cfg = srv->cfg;
    if (cfg->node_count == 0) {
        config_state_init(&srv->members, NULL);
        srv->members_known = false;
        return;
    }
    membership_t founding;
    membership_founding(&founding, cfg->node_count);
    for (uint32_t i = 0; i < founding.count; i++) {
        member_t *m = &founding.members[i];
        if (cfg->node_count > 1 || cfg->peer_addr_set) {
            net_addr_format(&cfg->peers[m->id], m->addr, sizeof(m->addr));
        }
    }
    config_state_init(&srv->members, &founding);
    srv->members_known = true;
}

bool members_next_in_effect(const server_t *srv)
{
    const config_state_t *cs = &srv->members;
    return cs->has_next && cs->applied_slot + 1 >= cs->next_from;
}

uint32_t members_link_mask(const server_t *srv)
{
    if (!srv->members_known) {
        return 0;
    }
    const config_state_t *cs = &srv->members;
    if (members_next_in_effect(srv)) {
        return membership_member_mask(&cs->next);
    }
    uint32_t mask = membership_member_mask(&cs->current);
    if (cs->has_next) {
        mask |= membership_member_mask(&cs->next);
    }
    return mask;
}

bool members_is_voter(const server_t *srv, uint32_t id)
{
    if (!srv->members_known || id == NODE_NONE || id > NODES_MAX) {
        return false;
    }
    const member_t *m = membership_find(config_state_latest(&srv->members), id);
    return m != NULL && m->role == MEMBER_VOTER;
}

static void members_log(const server_t *srv, const char *what)
{
    const membership_t *m = config_state_latest(&srv->members);
    char text[NODE_IDS_MAX * 24];
    size_t used = 0;
    text[0] = '\0';
    for (uint32_t i = 0; i < m->count && used < sizeof(text); i++) {
        int n = snprintf(text + used, sizeof(text) - used, "%sn%u%s", i > 0 ? " " : "",
                         m->members[i].id, m->members[i].role == MEMBER_VOTER ? "" : " (learner)");
        used += n > 0 ? (size_t)n : 0u;
    }
    char from[48] = "";
    if (srv->members.has_next) {
        snprintf(from, sizeof(from), " (in effect from slot %llu)",
                 (unsigned long long)srv->members.next_from);
    }
    log_info("membership %s: epoch %llu: %s%s", what, (unsigned long long)m->epoch, text, from);
}

static void members_record_outcome(server_t *srv, const value_t *value, bool accepted)
{
    membership_t m;
    if (!membership_decode(&m, value->bytes, value->size)) {
        return;
    }
    member_outcome_t *o = &srv->member_outcomes[srv->member_outcome_next % MEMBER_OUTCOMES];
    srv->member_outcome_next++;
    o->epoch = m.epoch;
    o->crc = crc32c(value->bytes, value->size);
    o->accepted = accepted;
}

bool members_on_apply(server_t *srv, const apply_t *apply)
{
    bool config = apply->value.kind == VALUE_CONFIG;
    bool known = srv->members_known;
    bool took = config_state_apply(&srv->members, apply->slot, &apply->value);
    if (config) {
        members_record_outcome(srv, &apply->value, took);
        if (took) {
            srv->members_known = true;
            members_log(srv, known ? "changed" : "learned");
        } else {
            log_warn("slot %llu: a membership change was chosen but not applied: not an "
                     "allowed change after the current membership (epoch %llu)",
                     (unsigned long long)apply->slot,
                     (unsigned long long)config_state_latest(&srv->members)->epoch);
        }
    }
    return config;
}

void members_restore(server_t *srv, const config_state_t *cs)
{
    if (cs == NULL) {
        /* An image without a configuration state: the founding membership (a snapshot
         * written before memberships changed, or a restored backup). */
        config_state_t kept = srv->members;
        members_init(srv);
        srv->members.applied_slot = kept.applied_slot;
        return;
    }
    srv->members = *cs;
    srv->members_known = true;
}

/* Forgets the incarnation of ids that are no longer members: a new node may take the id
 * later, with an incarnation of its own. */
static void members_forget_removed(server_t *srv, uint32_t mask)
{
    bool changed = false;
    for (uint32_t id = 1; id <= NODES_MAX; id++) {
        if ((mask & (1u << id)) == 0 && srv->peer_incarnations[id] != 0) {
            srv->peer_incarnations[id] = 0;
            changed = true;
        }
    }
    char err[CONFIG_PATH_BYTES_MAX + 128];
    if (changed && identity_peers_write(srv->cfg->data_dir, srv->peer_incarnations, err,
                                        sizeof(err)) != BALLOT_OK) {
        log_warn("cannot update the record of peers' incarnations: %s", err);
    }
}

void members_sync(server_t *srv)
{
    if (!srv->members_known) {
        return;
    }
    uint32_t mask = members_link_mask(srv);
    uint64_t epoch = config_state_latest(&srv->members)->epoch;
    if (mask == srv->members_synced_mask && epoch == srv->members_synced_epoch) {
        return;
    }
    srv->members_synced_mask = mask;
    srv->members_synced_epoch = epoch;
    if ((mask & (1u << srv->cfg->id)) == 0 && srv->was_member && !srv->removed_logged) {
        srv->removed_logged = true;
        log_warn("this node (n%u) is no longer a member of the cluster: it takes no part any "
                 "more and may be stopped (docs/operations.md \"Removing a node\")",
                 srv->cfg->id);
    }
    peers_follow_members(srv);
    members_forget_removed(srv, mask);
}

/* ---- snapshot images ---- */

/*   u32 MEMBERS_SNAPSHOT_MAGIC, u32 MEMBERS_SNAPSHOT_FORMAT, u32 length of the state,
 *   the state (config_state_encode), u32 CRC-32C of everything before, then the kv image. */
size_t members_snapshot_header(const config_state_t *cs, uint8_t *out, size_t cap)
{
    if (cap < MEMBERS_SNAPSHOT_HEADER_MAX) {
        return 0;
    }
    size_t n = config_state_encode(cs, out + 12, cap - 16);
    if (n == 0) {
        return 0;
    }
    put_u32(out, MEMBERS_SNAPSHOT_MAGIC);
    put_u32(out + 4, MEMBERS_SNAPSHOT_FORMAT);
    put_u32(out + 8, (uint32_t)n);
    put_u32(out + 12 + n, crc32c(out, 12 + n));
    return 16 + n;
}

int members_snapshot_split(const uint8_t *bytes, size_t size, config_state_t *cs, bool *has_cs,
                           const uint8_t **kv_bytes, size_t *kv_size, char *msg, size_t msg_bytes)
{
    *has_cs = false;
    *kv_bytes = bytes;
    *kv_size = size;
    if (size < 4 || get_u32(bytes) != MEMBERS_SNAPSHOT_MAGIC) {
        return BALLOT_OK; /* a kv image alone: the kv checks it */
    }
    if (size < 16 || get_u32(bytes + 4) != MEMBERS_SNAPSHOT_FORMAT) {
        snprintf(msg, msg_bytes, "snapshot membership header: truncated or unknown format");
        return BALLOT_ECORRUPT;
    }
    uint32_t n = get_u32(bytes + 8);
    if (n > CONFIG_STATE_BYTES_MAX || n > size - 16) {
        snprintf(msg, msg_bytes, "snapshot membership header: %u bytes of state", n);
        return BALLOT_ECORRUPT;
    }
    if (get_u32(bytes + 12 + n) != crc32c(bytes, 12u + n)) {
        snprintf(msg, msg_bytes, "snapshot membership header: checksum mismatch");
        return BALLOT_ECORRUPT;
    }
    if (!config_state_decode(cs, bytes + 12, n)) {
        snprintf(msg, msg_bytes, "snapshot membership header: malformed configuration state");
        return BALLOT_ECORRUPT;
    }
    *has_cs = true;
    *kv_bytes = bytes + 16 + n;
    *kv_size = size - 16 - n;
    return BALLOT_OK;
}

void members_tick(server_t *srv, uint64_t now_ms)
{
    const server_config_t *cfg = srv->cfg;
    if (!cfg->join || srv->was_member || now_ms < srv->join_hint_ms) {
        return;
    }
    srv->join_hint_ms = now_ms + MEMBERS_JOIN_HINT_MS;
    char join[NET_HOST_BYTES_MAX + 8];
    log_info("n%u is not a member yet: the members dial it once one of them adds it "
             "(`ballot member add %u %s:%u`, against the cluster of %s)",
             cfg->id, cfg->id, cfg->peer_addr.host, (unsigned)cfg->peer_addr.port,
             net_addr_format(&cfg->join_addr, join, sizeof(join)));
}
