/* Links between nodes. Every node dials every other member that has an address (src/net
 * reconnects with backoff; the membership decides who, members.c) and accepts their dials, so each
 * pair has up to two TCP connections; a message goes out on our own dial when its handshake is
 * done, else on the peer's. Each connection is TLS 1.3, mutually authenticated with pairwise keys
 * or X.509 certificates that name the node (src/net/tls.h, docs/security.md), unless
 * --peer-insecure; nothing is parsed before the TLS handshake passed. Then both sides send a HELLO
 * (wire.h): a wrong cluster id, node id or version, a node id other than the one the credential
 * proved, a duplicate of a live link, or any malformed frame, closes that connection with a log
 * line, and the node carries on serving. */
#include <stdlib.h>
#include <string.h>

#include "net/tls.h"
#include "server/log.h"
#include "server/server_internal.h"

static const char *peers_close_reason(net_close_reason_t reason)
{
    switch (reason) {
    case NET_CLOSE_LOCAL:
        return "closed here";
    case NET_CLOSE_EOF:
        return "closed by the peer";
    case NET_CLOSE_ERROR:
        return "socket error";
    case NET_CLOSE_READ_BOUND:
        return "frame over the read bound";
    case NET_CLOSE_WRITE_BOUND:
        return "peer not reading (output bound reached)";
    case NET_CLOSE_TLS:
        return "TLS failed";
    case NET_CLOSE_DEADLINE:
        return "handshake not finished in time";
    case NET_CLOSE_BUDGET:
        return "the node's buffer budget (--buffer-bytes-max) is spent and it held the most";
    case NET_CLOSE_IDLE:
        return "idle";
    case NET_CLOSE_PARTIAL:
        return "frame left incomplete (--input-timeout-ms)";
    }
    return "?";
}

static bool peer_link_usable(const peer_link_t *link)
{
    return link != NULL && link->ready && !net_conn_closing(link->conn);
}

static bool peer_is_up(const peer_t *peer)
{
    return peer_link_usable(peer->out_link) || peer_link_usable(peer->in_link);
}

uint32_t peers_up_count(const server_t *srv)
{
    uint32_t up = 0;
    for (uint32_t id = 1; id <= NODES_MAX; id++) {
        if (id != srv->cfg->id && peer_is_up(&srv->peers[id])) {
            up++;
        }
    }
    return up;
}

bool peers_is_up(const server_t *srv, uint32_t id)
{
    return id != NODE_NONE && id <= NODES_MAX && peer_is_up(&srv->peers[id]);
}

static void peer_update_up(server_t *srv, peer_t *peer, const char *why)
{
    bool up = peer_is_up(peer);
    if (up == peer->up) {
        return;
    }
    peer->up = up;
    if (up) {
        log_info("peer n%u up (%s)", peer->id, peer->addr_text);
    } else {
        log_info("peer n%u down: %s", peer->id, why);
    }
    (void)srv;
}

/* At most PEER_REFUSAL_LOGS_PER_SECOND lines a second about connections refused before
 * they authenticated, so that a flood of them cannot flood the log. */
static bool peer_may_log(server_t *srv)
{
    uint64_t second = server_now_ms() / 1000u;
    if (second != srv->peer_log_second) {
        if (srv->peer_log_suppressed > 0) {
            log_warn("%llu more refused peer connection(s) not logged",
                     (unsigned long long)srv->peer_log_suppressed);
        }
        srv->peer_log_second = second;
        srv->peer_log_count = 0;
        srv->peer_log_suppressed = 0;
    }
    if (srv->peer_log_count >= PEER_REFUSAL_LOGS_PER_SECOND) {
        srv->peer_log_suppressed++;
        return false;
    }
    srv->peer_log_count++;
    return true;
}

static void peer_link_on_close(net_conn_t *conn, void *user, net_close_reason_t reason, int uv_err)
{
    peer_link_t *link = user;
    server_t *srv = link->srv;
    if ((reason == NET_CLOSE_TLS || reason == NET_CLOSE_DEADLINE) && !link->refused &&
        !srv->stopping) {
        srv->stat_peer_auth_refused++;
        if (peer_may_log(srv)) {
            log_warn("peer connection %s (%s%u): refused before any frame: %s%s%s",
                     net_conn_peer_text(conn), link->outbound ? "to n" : "from n", link->peer_id,
                     peers_close_reason(reason), reason == NET_CLOSE_TLS ? ": " : "",
                     reason == NET_CLOSE_TLS ? net_conn_tls_error(conn) : "");
        }
    } else if (reason == NET_CLOSE_BUDGET || reason == NET_CLOSE_PARTIAL) {
        log_warn("peer connection %s (%s%u) closed: %s", net_conn_peer_text(conn),
                 link->outbound ? "to n" : "from n", link->peer_id, peers_close_reason(reason));
    }
    if (link->peer_id != NODE_NONE && link->peer_id <= NODES_MAX) {
        peer_t *peer = &srv->peers[link->peer_id];
        if (peer->out_link == link) {
            peer->out_link = NULL;
        }
        if (peer->in_link == link) {
            peer->in_link = NULL;
        }
        char why[128];
        snprintf(why, sizeof(why), "%s%s%s", peers_close_reason(reason), uv_err ? ": " : "",
                 uv_err ? uv_strerror(uv_err) : "");
        if (!srv->stopping) {
            peer_update_up(srv, peer, why);
        }
    }
    wire_decoder_free(&link->decoder);
    free(link);
}

static void peer_link_refuse(peer_link_t *link, const char *why)
{
    link->srv->stat_peer_frames_refused++;
    link->refused = true;
    log_warn("peer connection %s (%s%u): refused: %s; closing it", net_conn_peer_text(link->conn),
             link->outbound ? "to n" : "from n", link->peer_id, why);
    net_conn_close(link->conn);
}

static wire_timing_t peers_timing(const server_t *srv)
{
    const node_config_t *n = &srv->cfg->node;
    return (wire_timing_t){.heartbeat_ms = n->heartbeat_ms,
                           .election_timeout_min_ms = n->election_timeout_min_ms,
                           .election_timeout_max_ms = n->election_timeout_max_ms,
                           .lease_ms = n->lease_ms,
                           .clock_drift_ms = n->clock_drift_ms};
}

/* A member seen with a new incarnation: a rejoin is fine (it votes only after reading a
 * majority's state), a founder is not: it was bootstrapped again on an empty data directory,
 * or its directory was replaced by another copy, and it may have forgotten promises
 * (docs/operations.md "Bootstrap and node identity"). */
static bool peer_check_incarnation(peer_link_t *link, const wire_hello_t *hello)
{
    server_t *srv = link->srv;
    uint64_t *known = &srv->peer_incarnations[hello->node_id];
    if (*known == hello->incarnation) {
        return true;
    }
    char err[WIRE_ERROR_BYTES * 3];
    if (*known != 0 && (hello->flags & WIRE_HELLO_FOUNDER) != 0) {
        srv->stat_amnesia_refused++;
        snprintf(err, sizeof(err),
                 "n%u presents a founder's incarnation %016llx, but this node last heard "
                 "%016llx from it: its data directory was bootstrapped (or joined) again or "
                 "replaced by another copy, so it may have forgotten promises and may not vote. "
                 "Empty its data directory and start it without --bootstrap (a founder: it then "
                 "rejoins), or replace it by a new node under a new id (docs/operations.md)",
                 hello->node_id, (unsigned long long)hello->incarnation,
                 (unsigned long long)*known);
        log_error("peer connection %s: refused: %s", net_conn_peer_text(link->conn), err);
        link->srv->stat_peer_frames_refused++;
        net_conn_close(link->conn);
        return false;
    }
    uint64_t before = *known;
    *known = hello->incarnation;
    if (identity_peers_write(srv->cfg->data_dir, srv->peer_incarnations, err, sizeof(err)) !=
        BALLOT_OK) {
        *known = before;
        peer_link_refuse(link, err);
        return false;
    }
    log_info("peer n%u: incarnation %016llx%s", hello->node_id,
             (unsigned long long)hello->incarnation,
             before != 0 ? " (it rejoined with a new one)" : "");
    return true;
}

static void peer_send_hello(peer_link_t *link, uint32_t to)
{
    server_t *srv = link->srv;
    wire_hello_t hello = {
        .version = WIRE_VERSION,
        .cluster_id = srv->cfg->cluster_id,
        .node_id = srv->cfg->id,
        .peer_id = to,
        .incarnation = srv->identity.incarnation,
        /* A joined node, like a founder, votes with the acceptor state it has kept since
         * its first start: a new incarnation of it means that state was lost. */
        .flags = srv->identity.origin != IDENTITY_REJOIN ? WIRE_HELLO_FOUNDER : 0u,
        .timing = peers_timing(srv),
    };
    wire_buf_t *out = server_scratch(srv);
    if (wire_encode_hello(out, &hello) == BALLOT_OK) {
        net_conn_write(link->conn, out->bytes, out->size);
    }
}

static void peer_on_hello(peer_link_t *link, const wire_hello_t *hello)
{
    server_t *srv = link->srv;
    char err[WIRE_ERROR_BYTES];
    uint32_t expected = link->outbound ? link->peer_id : NODE_NONE;
    if (wire_hello_check(hello, srv->cfg->cluster_id, srv->cfg->id, expected, err, sizeof(err)) !=
        BALLOT_OK) {
        peer_link_refuse(link, err);
        return;
    }
    /* Members of the configurations governing now and next; a node that joined and has not
     * learned the membership yet takes any authenticated node (members add it first). */
    bool member = srv->members_known ? (members_link_mask(srv) & (1u << hello->node_id)) != 0
                                     : hello->node_id <= NODES_MAX;
    if (!member || hello->node_id == srv->cfg->id) {
        snprintf(err, sizeof(err),
                 "node id %u is not another member of this cluster (BALLOT.MEMBER LIST)",
                 hello->node_id);
        peer_link_refuse(link, err);
        return;
    }
    uint32_t proven = net_conn_tls_peer_id(link->conn);
    if (srv->peer_tls != NULL && proven != hello->node_id) {
        srv->stat_peer_auth_refused++;
        snprintf(err, sizeof(err), "its credential proves node %u, its HELLO claims node %u",
                 proven, hello->node_id);
        peer_link_refuse(link, err);
        return;
    }
    wire_timing_t timing = peers_timing(srv);
    char timing_err[WIRE_TIMING_ERROR_BYTES];
    if (wire_hello_check_timing(hello, &timing, timing_err, sizeof(timing_err)) != BALLOT_OK) {
        peer_link_refuse(link, timing_err);
        return;
    }
    if (!peer_check_incarnation(link, hello)) {
        return;
    }
    peer_t *peer = &srv->peers[hello->node_id];
    if (link->outbound) {
        peer->out_link = link;
        net_dialer_healthy(peer->dialer);
    } else {
        /* A live link is never displaced by another HELLO for the same node: the node
         * redials only after its end of the old link closed, which closes ours too (TCP
         * keepalive finds links whose other end vanished without a word). */
        if (peer_link_usable(peer->in_link) && peer->in_link != link) {
            srv->stat_peer_auth_refused++;
            snprintf(err, sizeof(err), "node %u already has a live link to this node",
                     hello->node_id);
            peer_link_refuse(link, err);
            return;
        }
        uint64_t second = server_now_ms() / 1000u;
        if (second != peer->hello_second) {
            peer->hello_second = second;
            peer->hello_count = 0;
        }
        if (++peer->hello_count > PEER_HELLO_PER_SECOND_MAX) {
            srv->stat_peer_auth_refused++;
            snprintf(err, sizeof(err), "node %u's link was replaced over %u times this second",
                     hello->node_id, PEER_HELLO_PER_SECOND_MAX);
            peer_link_refuse(link, err);
            return;
        }
        link->peer_id = hello->node_id;
        peer_send_hello(link, hello->node_id);
        peer->in_link = link;
    }
    net_conn_established(link->conn);
    link->ready = true;
    peer_update_up(srv, peer, "");
}

static void peer_on_frame(peer_link_t *link, wire_frame_t *frame)
{
    server_t *srv = link->srv;
    switch (frame->type) {
    case WIRE_FRAME_HELLO:
        peer_on_hello(link, &frame->u.hello);
        break;
    case WIRE_FRAME_MSG: {
        int rc = node_receive(srv->node, &frame->u.msg, server_now_ms());
        if (rc == BALLOT_OK) {
            metrics_on_peer_message(srv, &frame->u.msg);
        }
        if (rc != BALLOT_OK) {
            server_log_refusal(srv, net_conn_peer_text(link->conn), link->peer_id, rc);
        }
        msg_free(&frame->u.msg);
        if (rc == BALLOT_ECONFLICT) {
            net_conn_close(link->conn); /* a broken or forged sender: drop the link */
        }
        break;
    }
    case WIRE_FRAME_SNAPSHOT_REQUEST:
        snapshots_on_request(srv, link, &frame->u.snapshot_request);
        break;
    case WIRE_FRAME_SNAPSHOT_CHUNK:
        snapshots_on_chunk(srv, link->peer_id, &frame->u.snapshot_chunk);
        break;
    default:
        break;
    }
}

static void peer_link_on_data(net_conn_t *conn, void *user)
{
    peer_link_t *link = user;
    size_t size = 0;
    const uint8_t *bytes = net_conn_data(conn, &size);
    int rc = wire_decoder_feed(&link->decoder, bytes, size);
    net_conn_consume(conn, size);
    bool progressed = false;
    /* Bounded: each frame taken out consumes at least a header's worth of the bytes fed. */
    while (rc == BALLOT_OK && !net_conn_closing(conn)) {
        wire_frame_t frame;
        rc = wire_decoder_next(&link->decoder, &frame);
        if (rc != BALLOT_OK || frame.type == WIRE_FRAME_NONE) {
            break;
        }
        progressed = true;
        peer_on_frame(link, &frame);
    }
    if (!net_conn_closing(conn)) {
        /* A partial frame counts against the buffer budget and the input time limit. */
        net_conn_hold_input(conn, link->decoder.capacity, wire_decoder_pending(&link->decoder) > 0,
                            progressed);
    }
    if (rc != BALLOT_OK && !net_conn_closing(conn)) {
        peer_link_refuse(link, wire_decoder_error(&link->decoder)[0] != '\0'
                                   ? wire_decoder_error(&link->decoder)
                                   : ballot_strerror(rc));
    }
}

static const net_conn_ops_t peer_link_ops = {
    .on_data = peer_link_on_data,
    .on_close = peer_link_on_close,
};

static peer_link_t *peer_link_new(server_t *srv, net_conn_t *conn, bool outbound, uint32_t peer_id)
{
    peer_link_t *link = calloc(1, sizeof(*link));
    if (link == NULL) {
        net_conn_close(conn);
        return NULL;
    }
    link->srv = srv;
    link->conn = conn;
    link->outbound = outbound;
    link->peer_id = peer_id;
    wire_decoder_init(&link->decoder, true, 0);
    net_conn_set_ops(conn, &peer_link_ops, link);
    return link;
}

static void peers_on_accept(net_listener_t *listener, net_conn_t *conn, void *user)
{
    (void)listener;
    server_t *srv = user;
    if (srv->stopping) {
        net_conn_close(conn);
        return;
    }
    peer_link_new(srv, conn, false, NODE_NONE);
}

static void peers_on_dial(net_dialer_t *dialer, net_conn_t *conn, void *user)
{
    (void)dialer;
    peer_t *peer = user;
    peer_link_t *link = peer_link_new(peer->srv, conn, true, peer->id);
    if (link != NULL) {
        peer_send_hello(link, peer->id);
    }
}

static net_conn_limits_t peers_limits(const server_t *srv)
{
    const server_config_t *cfg = srv->cfg;
    return (net_conn_limits_t){.read_bytes_max = PEER_READ_BYTES_MAX,
                               .write_bytes_max = cfg->peer_output_bytes_max,
                               .partial_timeout_ms = cfg->input_timeout_ms,
                               .budget_input = true};
}

static int peers_tls_start(server_t *srv, char *msg, size_t msg_bytes)
{
    const server_config_t *cfg = srv->cfg;
    if (cfg->peer_insecure) {
        log_warn("--peer-insecure: peer links are plain TCP without authentication; anyone who "
                 "can reach %s:%u can speak as any node (docs/security.md)",
                 cfg->peer_addr.host, (unsigned)cfg->peer_addr.port);
        return BALLOT_OK;
    }
    if (cfg->peer_key_file[0] != '\0') {
        net_peer_keys_t *keys = calloc(1, sizeof(*keys));
        if (keys == NULL) {
            snprintf(msg, msg_bytes, "out of memory");
            return BALLOT_ENOMEM;
        }
        int rc =
            net_peer_keys_read(cfg->peer_key_file, cfg->id, cfg->node_count, keys, msg, msg_bytes);
        if (rc == BALLOT_OK) {
            rc = net_tls_peer_psk(keys, &srv->peer_tls, msg, msg_bytes);
        }
        memset(keys, 0, sizeof(*keys));
        free(keys);
        if (rc == BALLOT_OK) {
            log_info("peer links: TLS 1.3 with pairwise keys from %s", cfg->peer_key_file);
        }
        return rc;
    }
    /* Any node id may become a member: the HELLO checks membership. */
    int rc = net_tls_peer_x509(cfg->id, NODES_MAX, cfg->peer_cert, cfg->peer_key, cfg->peer_ca,
                               &srv->peer_tls, msg, msg_bytes);
    if (rc == BALLOT_OK) {
        log_info("peer links: TLS 1.3 with X.509 certificates (CA %s)", cfg->peer_ca);
    }
    return rc;
}

int peers_start(server_t *srv, char *msg, size_t msg_bytes)
{
    const server_config_t *cfg = srv->cfg;
    for (uint32_t id = 1; id <= NODES_MAX; id++) {
        srv->peers[id].id = id;
        srv->peers[id].srv = srv;
    }
    net_addr_format(&cfg->peer_addr, srv->peers[cfg->id].addr_text,
                    sizeof(srv->peers[cfg->id].addr_text));
    if (!cfg->peer_listen) {
        return BALLOT_OK;
    }
    int rc = peers_tls_start(srv, msg, msg_bytes);
    if (rc != BALLOT_OK) {
        return rc;
    }
    srv->peer_pending.max = cfg->handshake_max;
    srv->peer_pending.deadline_ms = cfg->handshake_timeout_ms;
    srv->peer_pending.until_tls = false; /* until the HELLO */
    net_conn_limits_t limits = peers_limits(srv);
    rc = net_listen(srv->loop, &cfg->peer_addr, &limits, peers_on_accept, srv, &srv->peer_listener,
                    msg, msg_bytes);
    if (rc != BALLOT_OK) {
        return rc;
    }
    net_listener_set_tls(srv->peer_listener, srv->peer_tls);
    net_listener_set_pending(srv->peer_listener, &srv->peer_pending);
    return BALLOT_OK;
}

static void peer_drop_links(peer_t *peer)
{
    if (peer->out_link != NULL) {
        net_conn_close(peer->out_link->conn);
    }
    if (peer->in_link != NULL) {
        net_conn_close(peer->in_link->conn);
    }
}

/* Dials `addr` for this peer (a new dialer when the address changed; none when empty). */
static void peer_dial(server_t *srv, peer_t *peer, const char *addr)
{
    if (peer->dialer != NULL && strcmp(peer->dial_addr, addr) == 0) {
        return;
    }
    if (peer->dialer != NULL) {
        net_dialer_destroy(peer->dialer);
        peer->dialer = NULL;
    }
    snprintf(peer->dial_addr, sizeof(peer->dial_addr), "%s", addr);
    if (addr[0] == '\0' || srv->peer_listener == NULL) {
        return; /* it dials us, or this node has no peer links at all */
    }
    const server_config_t *cfg = srv->cfg;
    net_dialer_config_t dc = {.backoff_min_ms = cfg->reconnect_min_ms,
                              .backoff_max_ms = cfg->reconnect_max_ms,
                              .limits = peers_limits(srv),
                              .seed = cfg->node.seed ^ peer->id,
                              .tls = srv->peer_tls,
                              .tls_peer_id = peer->id,
                              .pending = &srv->peer_pending};
    char err[NET_ERROR_TEXT_BYTES + MEMBER_ADDR_BYTES_MAX];
    if (net_addr_parse(addr, &dc.addr, err, sizeof(err)) != BALLOT_OK) {
        log_warn("member n%u: cannot dial its address '%s': %s; it may still dial this node",
                 peer->id, addr, err);
        return;
    }
    net_addr_format(&dc.addr, peer->addr_text, sizeof(peer->addr_text));
    int rc = net_dialer_create(srv->loop, &dc, peers_on_dial, peer, &peer->dialer);
    if (rc != BALLOT_OK) {
        log_warn("member n%u: cannot dial %s: %s", peer->id, addr, ballot_strerror(rc));
        peer->dialer = NULL;
    }
}

void peers_follow_members(server_t *srv)
{
    uint32_t mask = members_link_mask(srv);
    /* A node that is not a member yet (it joined; the snapshot or log it has so far
     * predates its addition) waits for the members to dial it; one that was a member and
     * is not any more has no peers. */
    bool self = (mask & (1u << srv->cfg->id)) != 0;
    srv->was_member = srv->was_member || self;
    if (!self && srv->was_member) {
        mask = 0;
    }
    const membership_t *latest = config_state_latest(&srv->members);
    for (uint32_t id = 1; id <= NODES_MAX; id++) {
        peer_t *peer = &srv->peers[id];
        if (id == srv->cfg->id) {
            continue;
        }
        bool member = (mask & (1u << id)) != 0;
        if (!member) {
            if (peer->member) {
                log_info("n%u is no longer a member: links to it closed", id);
            }
            peer->member = false;
            if (peer->dialer != NULL) {
                net_dialer_destroy(peer->dialer);
                peer->dialer = NULL;
            }
            peer->dial_addr[0] = '\0';
            peer_drop_links(peer);
            continue;
        }
        const member_t *m = membership_find(latest, id);
        if (m == NULL) {
            m = membership_find(&srv->members.current, id); /* leaving, still governing */
        }
        if (!peer->member) {
            log_info("member n%u at %s", id, m != NULL && m->addr[0] != '\0' ? m->addr : "?");
        }
        peer->member = true;
        peer_dial(srv, peer, m != NULL && self ? m->addr : "");
    }
}

void peers_stop(server_t *srv)
{
    if (srv->peer_listener != NULL) {
        net_listener_close(srv->peer_listener);
        srv->peer_listener = NULL;
    }
    for (uint32_t id = 1; id <= NODES_MAX; id++) {
        peer_t *peer = &srv->peers[id];
        if (peer->dialer != NULL) {
            net_dialer_destroy(peer->dialer);
            peer->dialer = NULL;
        }
        if (peer->in_link != NULL) {
            net_conn_close(peer->in_link->conn);
        }
    }
}

static peer_link_t *peers_link_to(server_t *srv, uint32_t to)
{
    if (to == NODE_NONE || to > NODES_MAX || to == srv->cfg->id) {
        return NULL;
    }
    peer_t *peer = &srv->peers[to];
    if (peer_link_usable(peer->out_link)) {
        return peer->out_link;
    }
    return peer_link_usable(peer->in_link) ? peer->in_link : NULL;
}

void peers_send(server_t *srv, const msg_t *msg)
{
    peer_link_t *link = peers_link_to(srv, msg->to);
    if (link == NULL) {
        return; /* the core retransmits what matters */
    }
    wire_buf_t *out = server_scratch(srv);
    int rc = wire_encode_msg(out, msg);
    if (rc != BALLOT_OK) {
        log_error("cannot encode %s to n%u: %s", msg_type_name(msg->type), msg->to,
                  ballot_strerror(rc));
        return;
    }
    net_conn_write(link->conn, out->bytes, out->size);
}

bool peers_send_frame(server_t *srv, uint32_t to, const wire_buf_t *frame)
{
    peer_link_t *link = peers_link_to(srv, to);
    return link != NULL && net_conn_write(link->conn, frame->bytes, frame->size);
}

void peers_reply_frame(peer_link_t *link, const wire_buf_t *frame)
{
    net_conn_write(link->conn, frame->bytes, frame->size);
}
