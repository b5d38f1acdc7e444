/* BALLOT.MEMBER: membership change through the log (docs/operations.md "Membership").
 *
 *   BALLOT.MEMBER LIST             one line per member: id, role, address, link, lag
 *   BALLOT.MEMBER ADD id addr      adds a learner that peers dial at addr (HOST:PORT)
 *   BALLOT.MEMBER PROMOTE id       makes a caught-up learner a voter
 *   BALLOT.MEMBER REMOVE id        removes a member (the leader itself too: it steps down
 *                                  once the change takes effect)
 *
 * Changes go to the leader's core (node_propose_config), one at a time; the reply waits
 * until the new membership is chosen and applied here, and says so, or says why not. Bad
 * input is refused before anything is proposed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "core/check.h"
#include "server/log.h"
#include "server/server_internal.h"

#define MEMBER_WHY_BYTES 160u
#define MEMBER_ROW_BYTES (MEMBER_ADDR_BYTES_MAX + 160u)

static bool member_word(const uint8_t *bytes, uint32_t size, const char *word)
{
    size_t n = strlen(word);
    if (size != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = (char)bytes[i];
        if (c >= 'a' && c <= 'z') {
            c = (char)(c - 'a' + 'A');
        }
        if (c != word[i]) {
            return false;
        }
    }
    return true;
}

/* A member id: decimal 1..NODE_IDS_MAX. */
static bool member_parse_id(const uint8_t *bytes, uint32_t size, uint32_t *out)
{
    if (size == 0 || size > 2) {
        return false;
    }
    uint32_t v = 0;
    for (uint32_t i = 0; i < size; i++) {
        if (bytes[i] < '0' || bytes[i] > '9') {
            return false;
        }
        v = v * 10u + (uint32_t)(bytes[i] - '0');
    }
    if (v < 1 || v > NODE_IDS_MAX) {
        return false;
    }
    *out = v;
    return true;
}

static void member_reply_lines(client_t *client, char rows[][MEMBER_ROW_BYTES], uint32_t count)
{
    wire_buf_t *out = server_scratch(client->srv);
    resp_reply_array_header(out, count);
    for (uint32_t i = 0; i < count; i++) {
        resp_reply_bulk(out, rows[i], strlen(rows[i]));
    }
    client_reply_now(client, out);
}

static const char *member_link_text(const server_t *srv, uint32_t id)
{
    if (id == srv->cfg->id) {
        return "self";
    }
    return peers_is_up(srv, id) ? "up" : "down";
}

/* Whether a member's line (presence and role) is already in effect, or waits for the
 * change chosen last to take effect. */
static bool member_in_effect(const server_t *srv, const member_t *m)
{
    if (!srv->members.has_next || members_next_in_effect(srv)) {
        return true;
    }
    const member_t *now = membership_find(&srv->members.current, m->id);
    return now != NULL && now->role == m->role;
}

static void member_list(client_t *client)
{
    server_t *srv = client->srv;
    static char rows[NODE_IDS_MAX * 2][MEMBER_ROW_BYTES];
    uint32_t count = 0;
    if (!srv->members_known) {
        member_reply_lines(client, rows, 0);
        return;
    }
    node_status_t st;
    node_get_status(srv->node, server_now_ms(), &st);
    bool leading = st.role == ROLE_LEADER;
    const membership_t *latest = config_state_latest(&srv->members);
    for (uint32_t i = 0; i < latest->count; i++) {
        const member_t *m = &latest->members[i];
        uint64_t chosen = m->id == srv->cfg->id ? st.chosen_upto : st.member_chosen_upto[m->id];
        char lag[24] = "-1";
        char at[24] = "-1";
        if (leading || m->id == srv->cfg->id) {
            snprintf(at, sizeof(at), "%llu", (unsigned long long)chosen);
            snprintf(lag, sizeof(lag), "%llu",
                     (unsigned long long)(st.chosen_upto > chosen ? st.chosen_upto - chosen : 0));
            if (leading && chosen == 0 && m->id != srv->cfg->id) {
                snprintf(at, sizeof(at), "-1");
                snprintf(lag, sizeof(lag), "-1"); /* not heard from yet */
            }
        }
        snprintf(rows[count++], MEMBER_ROW_BYTES,
                 "id=%u role=%s addr=%s link=%s chosen=%s lag=%s epoch=%llu effective=%s "
                 "leader=%u",
                 m->id, m->role == MEMBER_VOTER ? "voter" : "learner",
                 m->addr[0] != '\0' ? m->addr : "-", member_link_text(srv, m->id), at, lag,
                 (unsigned long long)latest->epoch, member_in_effect(srv, m) ? "yes" : "no",
                 st.leader);
    }
    /* Members leaving: still governing until the change takes effect. */
    if (srv->members.has_next && !members_next_in_effect(srv)) {
        const membership_t *now = &srv->members.current;
        for (uint32_t i = 0; i < now->count; i++) {
            const member_t *m = &now->members[i];
            if (membership_find(latest, m->id) != NULL) {
                continue;
            }
            snprintf(rows[count++], MEMBER_ROW_BYTES,
                     "id=%u role=removed addr=%s link=%s chosen=-1 lag=-1 epoch=%llu "
                     "effective=no leader=%u",
                     m->id, m->addr[0] != '\0' ? m->addr : "-", member_link_text(srv, m->id),
                     (unsigned long long)latest->epoch, st.leader);
        }
    }
    member_reply_lines(client, rows, count);
}

/* The reason a leader's core gave, as a client error. */
static void member_refused(client_t *client, int rc, const char *why, uint32_t id,
                           const node_status_t *st)
{
    server_t *srv = client->srv;
    char hint[NET_HOST_BYTES_MAX + 32];
    switch (rc) {
    case BALLOT_ENOTLEADER:
        client_reply_error(client, "NOTLEADER membership changes go to the leader; leader is %s",
                           server_leader_hint(srv, hint, sizeof(hint)));
        return;
    case BALLOT_EBUSY:
        client_reply_error(client, "BUSY an earlier membership change has not taken effect yet; "
                                   "retry in a moment");
        return;
    case BALLOT_EAGAIN: {
        uint64_t at = st->member_chosen_upto[id];
        client_reply_error(client,
                           "TRYAGAIN n%u is behind: it has %llu of %llu chosen slots; promote it "
                           "once it has caught up (BALLOT.MEMBER LIST shows its lag)",
                           id, (unsigned long long)at, (unsigned long long)st->chosen_upto);
        return;
    }
    default:
        client_reply_error(client, "ERR membership change refused: %s",
                           why[0] != '\0' ? why : ballot_strerror(rc));
        return;
    }
}

/* Proposes `next` (the latest membership with one change) and parks the request until it
 * is applied. */
static void member_propose(client_t *client, membership_t *next, uint32_t id, const char *what)
{
    server_t *srv = client->srv;
    uint64_t now = server_now_ms();
    node_status_t st;
    node_get_status(srv->node, now, &st);
    if (st.role != ROLE_LEADER) {
        member_refused(client, BALLOT_ENOTLEADER, "", id, &st);
        return;
    }
    if (config_state_latest(node_config_state(srv->node))->epoch !=
        config_state_latest(&srv->members)->epoch) {
        member_refused(client, BALLOT_EBUSY, "", id, &st);
        return; /* a change is chosen but not applied here yet */
    }
    next->epoch = config_state_latest(&srv->members)->epoch + 1;
    char why[MEMBER_WHY_BYTES] = "";
    if (!membership_change_allowed(config_state_latest(&srv->members), next, why, sizeof(why))) {
        member_refused(client, BALLOT_EINVAL, why, id, &st);
        return;
    }
    value_t encoded;
    if (!membership_encode(&encoded, next)) {
        client_reply_error(client, "ERR out of memory");
        return;
    }
    uint32_t crc = crc32c(encoded.bytes, encoded.size);
    value_free(&encoded);
    int rc = node_propose_config(srv->node, next, now, why, sizeof(why));
    if (rc != BALLOT_OK) {
        member_refused(client, rc, why, id, &st);
        return;
    }
    request_t *r = client_push_request(client, REQUEST_REPLY);
    if (r == NULL) {
        net_conn_close(client->conn);
        return;
    }
    r->member_epoch = next->epoch;
    r->member_crc = crc;
    r->deadline_ms = now + srv->cfg->request_timeout_ms;
    log_info("membership change proposed by client %s: %s n%u (epoch %llu)",
             net_conn_peer_text(client->conn), what, id, (unsigned long long)next->epoch);
}

static void member_add(client_t *client, membership_t *next, uint32_t id, const uint8_t *addr,
                       uint32_t addr_size)
{
    server_t *srv = client->srv;
    if (membership_find(next, id) != NULL) {
        client_reply_error(client, "ERR n%u is already a member (BALLOT.MEMBER LIST)", id);
        return;
    }
    if (next->count >= NODE_IDS_MAX) {
        client_reply_error(client, "ERR the membership is full (%u members)", NODE_IDS_MAX);
        return;
    }
    if (addr_size == 0 || addr_size > MEMBER_ADDR_BYTES_MAX ||
        memchr(addr, '\0', addr_size) != NULL) {
        client_reply_error(client, "ERR address must be HOST:PORT of 1..%u bytes",
                           MEMBER_ADDR_BYTES_MAX);
        return;
    }
    char text[MEMBER_ADDR_BYTES_MAX + 1];
    memcpy(text, addr, addr_size);
    text[addr_size] = '\0';
    net_addr_t parsed;
    char err[NET_ERROR_TEXT_BYTES + MEMBER_ADDR_BYTES_MAX];
    if (net_addr_parse(text, &parsed, err, sizeof(err)) != BALLOT_OK) {
        client_reply_error(client, "ERR address: %s", err);
        return;
    }
    for (uint32_t i = 0; i < next->count; i++) {
        if (strcmp(next->members[i].addr, text) == 0) {
            client_reply_error(client, "ERR n%u already has the address %s", next->members[i].id,
                               text);
            return;
        }
    }
    if (srv->peer_listener == NULL) {
        client_reply_error(client, "ERR this node has no peer listener (start it with --peer and "
                                   "a peer authentication flag) so it cannot have members");
        return;
    }
    bool added = membership_set(next, id, MEMBER_LEARNER, text);
    assert(added); /* id, room and address were checked above */
    member_propose(client, next, id, "add learner");
}

void member_command(client_t *client, uint32_t argc, const uint8_t *const *argv,
                    const uint32_t *len)
{
    server_t *srv = client->srv;
    bool list = argc == 2 && member_word(argv[1], len[1], "LIST");
    bool add = argc == 4 && member_word(argv[1], len[1], "ADD");
    bool promote = argc == 3 && member_word(argv[1], len[1], "PROMOTE");
    bool remove = argc == 3 && member_word(argv[1], len[1], "REMOVE");
    if (!list && !add && !promote && !remove) {
        client_reply_error(client, "ERR usage: BALLOT.MEMBER LIST | ADD id host:port | "
                                   "PROMOTE id | REMOVE id");
        return;
    }
    if (list) {
        member_list(client);
        return;
    }
    uint32_t id = 0;
    if (!member_parse_id(argv[2], len[2], &id)) {
        client_reply_error(client, "ERR member id must be 1..%u", NODE_IDS_MAX);
        return;
    }
    if (!srv->members_known) {
        client_reply_error(client, "ERR this node does not know the membership yet (it joined "
                                   "and has not been added); ask the leader");
        return;
    }
    static membership_t next;
    next = *config_state_latest(&srv->members);
    if (add) {
        member_add(client, &next, id, argv[3], len[3]);
        return;
    }
    member_t *m = NULL;
    for (uint32_t i = 0; i < next.count; i++) {
        m = next.members[i].id == id ? &next.members[i] : m;
    }
    if (m == NULL) {
        client_reply_error(client, "ERR n%u is not a member (BALLOT.MEMBER LIST)", id);
        return;
    }
    if (promote) {
        if (m->role != MEMBER_LEARNER) {
            client_reply_error(client, "ERR n%u is already a voter", id);
            return;
        }
        m->role = MEMBER_VOTER;
        member_propose(client, &next, id, "promote");
        return;
    }
    if (m->role == MEMBER_VOTER && membership_voters(&next) == 1) {
        client_reply_error(client, "ERR n%u is the only voter; add and promote another first", id);
        return;
    }
    membership_remove(&next, id);
    member_propose(client, &next, id, "remove");
}

void member_tick_request(server_t *srv, client_t *client, request_t *r, uint64_t now_ms)
{
    for (uint32_t i = 0; i < MEMBER_OUTCOMES; i++) {
        const member_outcome_t *o = &srv->member_outcomes[i];
        if (o->epoch != r->member_epoch || o->crc != r->member_crc) {
            continue;
        }
        r->member_epoch = 0;
        if (!o->accepted) {
            client_finish_error(client, r,
                                "ERR the change was chosen but not applied: it is not allowed "
                                "after the membership in effect");
            return;
        }
        static const char ok[] = "+OK\r\n";
        if (client_store_reply(r, (const uint8_t *)ok, sizeof(ok) - 1)) {
            r->kind = REQUEST_REPLY;
            client_mark_ready(client, r);
        } else {
            client_finish_error(client, r, "ERR out of memory");
        }
        return;
    }
    uint64_t epoch = config_state_latest(&srv->members)->epoch;
    uint64_t wanted = r->member_epoch;
    if (epoch >= wanted) {
        r->member_epoch = 0;
        client_finish_error(client, r,
                            "ERR another membership change took epoch %llu first (now %llu); "
                            "check BALLOT.MEMBER LIST and retry",
                            (unsigned long long)wanted, (unsigned long long)epoch);
        return;
    }
    if (now_ms >= r->deadline_ms) {
        r->member_epoch = 0;
        client_finish_error(client, r,
                            "TIMEOUT the membership change was not chosen within %u ms; it may "
                            "still take effect (BALLOT.MEMBER LIST)",
                            srv->cfg->request_timeout_ms);
    }
}
