#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "net/net_internal.h"
#include "net/tls.h"

#define LISTEN_BACKLOG 511

struct net_listener {
    net_kind_t kind;
    uv_tcp_t tcp;
    net_loop_t *loop;
    net_conn_limits_t limits;
    net_accept_fn fn;
    void *user;
    net_tls_t *tls;
    net_pending_t *pending;
};

static void listener_connection_cb(uv_stream_t *server, int status)
{
    net_listener_t *listener = server->data;
    if (status < 0) {
        return;
    }
    net_conn_t *conn = net_conn_new(listener->loop, &listener->limits);
    if (conn == NULL) {
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&conn->tcp) != 0) {
        net_conn_close_reason(conn, NET_CLOSE_ERROR, 0);
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    net_conn_keepalive(conn);
    net_conn_fill_peer_text(conn);
    net_pending_t *pending = listener->pending;
    if (pending != NULL && pending->count >= pending->max) {
        /* Too many connections have not proved themselves yet: this one is closed before
         * a byte of it is read. */
        pending->refused++;
        net_conn_close_reason(conn, NET_CLOSE_DEADLINE, 0);
        return;
    }
    net_pending_join(conn, pending);
    if (listener->tls != NULL && net_tls_conn_start(conn, listener->tls, true, 0) != BALLOT_OK) {
        net_conn_close_reason(conn, NET_CLOSE_ERROR, UV_ENOMEM);
        return;
    }
    listener->fn(listener, conn, listener->user);
    if (conn->ops == NULL && !conn->closing) {
        net_conn_close(conn);
    }
}

int net_listen(net_loop_t *loop, const net_addr_t *addr, const net_conn_limits_t *limits,
               net_accept_fn fn, void *user, net_listener_t **out, char *msg, size_t msg_bytes)
{
    net_listener_t *listener = calloc(1, sizeof(*listener));
    if (listener == NULL) {
        snprintf(msg, msg_bytes, "out of memory");
        return BALLOT_ENOMEM;
    }
    listener->kind = NET_KIND_LISTENER;
    listener->loop = loop;
    listener->limits = *limits;
    listener->fn = fn;
    listener->user = user;
    uv_tcp_init(&loop->uv, &listener->tcp);
    listener->tcp.data = listener;
    int rc = uv_tcp_bind(&listener->tcp, (const struct sockaddr *)&addr->sockaddr, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&listener->tcp, LISTEN_BACKLOG, listener_connection_cb);
    }
    if (rc != 0) {
        char text[NET_HOST_BYTES_MAX + 8];
        snprintf(msg, msg_bytes, "cannot listen on %s: %s",
                 net_addr_format(addr, text, sizeof(text)), uv_strerror(rc));
        uv_close((uv_handle_t *)&listener->tcp, net_listener_on_handle_closed);
        return BALLOT_EINVAL;
    }
    *out = listener;
    return BALLOT_OK;
}

void net_listener_set_tls(net_listener_t *listener, net_tls_t *tls)
{
    listener->tls = tls;
}

void net_listener_set_pending(net_listener_t *listener, net_pending_t *pending)
{
    listener->pending = pending;
}

void net_listener_on_handle_closed(uv_handle_t *handle)
{
    free(handle->data);
}

void net_listener_close(net_listener_t *listener)
{
    if (listener != NULL) {
        uv_close((uv_handle_t *)&listener->tcp, net_listener_on_handle_closed);
    }
}
