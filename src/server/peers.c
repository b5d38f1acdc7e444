/* Links between nodes. Every node dials every other node (src/net reconnects with
 * backoff) and accepts their dials, so each pair has up to two TCP connections; a message
 * goes out on our own dial when its handshake is done, else on the peer's. Each
 * connection starts with a HELLO from both sides (wire.h): a wrong cluster id, node id or
 * version, or any malformed frame, closes that connection with a log line, and the node
 * carries on serving. */
#include <stdlib.h>
#include <string.h>

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
    for (uint32_t id = 1; id <= srv->cfg->node_count; id++) {
        if (id != srv->cfg->id && peer_is_up(&srv->peers[id])) {
            up++;
        }
    }
    return up;
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

static void peer_link_on_close(net_conn_t *conn, void *user, net_close_reason_t reason, int uv_err)
{
    peer_link_t *link = user;
    server_t *srv = link->srv;
    if (reason == NET_CLOSE_BUDGET || reason == NET_CLOSE_PARTIAL) {
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
    log_warn("peer connection %s (%s%u): refused: %s; closing it", net_conn_peer_text(link->conn),
             link->outbound ? "to n" : "from n", link->peer_id, why);
    net_conn_close(link->conn);
}

static void peer_send_hello(peer_link_t *link, uint32_t to)
{
    server_t *srv = link->srv;
    wire_hello_t hello = {.version = WIRE_VERSION,
                          .cluster_id = srv->cfg->cluster_id,
                          .node_id = srv->cfg->id,
                          .peer_id = to};
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
    if (hello->node_id > srv->cfg->node_count || hello->node_id == srv->cfg->id) {
        snprintf(err, sizeof(err), "node id %u is not another member of this %u-node cluster",
                 hello->node_id, srv->cfg->node_count);
        peer_link_refuse(link, err);
        return;
    }
    peer_t *peer = &srv->peers[hello->node_id];
    if (link->outbound) {
        peer->out_link = link;
        net_dialer_healthy(peer->dialer);
    } else {
        link->peer_id = hello->node_id;
        peer_send_hello(link, hello->node_id);
        if (peer->in_link != NULL && peer->in_link != link) {
            net_conn_close(peer->in_link->conn); /* the peer redialled; the old one is stale */
        }
        peer->in_link = link;
    }
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

int peers_start(server_t *srv, char *msg, size_t msg_bytes)
{
    const server_config_t *cfg = srv->cfg;
    if (cfg->node_count == 1) {
        return BALLOT_OK;
    }
    net_conn_limits_t limits = {.read_bytes_max = PEER_READ_BYTES_MAX,
                                .write_bytes_max = cfg->peer_output_bytes_max,
                                .partial_timeout_ms = cfg->input_timeout_ms,
                                .budget_input = true};
    int rc = net_listen(srv->loop, &cfg->peer_addr, &limits, peers_on_accept, srv,
                        &srv->peer_listener, msg, msg_bytes);
    if (rc != BALLOT_OK) {
        return rc;
    }
    for (uint32_t id = 1; id <= cfg->node_count; id++) {
        peer_t *peer = &srv->peers[id];
        peer->id = id;
        peer->srv = srv;
        net_addr_format(&cfg->peers[id], peer->addr_text, sizeof(peer->addr_text));
        if (id == cfg->id) {
            continue;
        }
        net_dialer_config_t dc = {.addr = cfg->peers[id],
                                  .backoff_min_ms = cfg->reconnect_min_ms,
                                  .backoff_max_ms = cfg->reconnect_max_ms,
                                  .limits = limits,
                                  .seed = cfg->node.seed ^ id};
        rc = net_dialer_create(srv->loop, &dc, peers_on_dial, peer, &peer->dialer);
        if (rc != BALLOT_OK) {
            snprintf(msg, msg_bytes, "cannot dial n%u: %s", id, ballot_strerror(rc));
            return rc;
        }
    }
    return BALLOT_OK;
}

void peers_stop(server_t *srv)
{
    if (srv->peer_listener != NULL) {
        net_listener_close(srv->peer_listener);
        srv->peer_listener = NULL;
    }
    for (uint32_t id = 1; id <= srv->cfg->node_count; id++) {
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
    if (to == NODE_NONE || to > srv->cfg->node_count || to == srv->cfg->id) {
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
