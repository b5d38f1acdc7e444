#include "core/check.h"
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "net/net_internal.h"
#include "net/tls.h"

struct net_dialer {
    net_kind_t kind;
    uv_timer_t timer; /* the backoff before the next attempt */
    net_loop_t *loop;
    net_dialer_config_t cfg;
    net_dial_fn fn;
    void *user;
    net_conn_t *conn; /* connecting or connected */
    uint32_t attempt;
    uint64_t rng;
    bool destroyed;
};

static uint64_t dialer_random(net_dialer_t *dialer)
{
    /* xorshift64*: jitter only, not security. */
    uint64_t x = dialer->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    dialer->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Exponential backoff with jitter: the delay doubles per failed attempt up to the cap, and
 * is drawn from its upper half so that nodes restarted together do not dial in lockstep. */
static uint64_t dialer_backoff_ms(net_dialer_t *dialer)
{
    uint32_t shift =
        dialer->attempt < NET_BACKOFF_SHIFT_MAX ? dialer->attempt : NET_BACKOFF_SHIFT_MAX;
    uint64_t delay = (uint64_t)dialer->cfg.backoff_min_ms << shift;
    if (delay > dialer->cfg.backoff_max_ms) {
        delay = dialer->cfg.backoff_max_ms;
    }
    uint64_t half = delay / 2;
    uint64_t jitter = half > 0 ? dialer_random(dialer) % (half + 1) : 0;
    if (dialer->attempt < NET_BACKOFF_SHIFT_MAX) {
        dialer->attempt++;
    }
    return half + jitter;
}

static void dialer_connect_cb(uv_connect_t *req, int status)
{
    net_conn_t *conn = req->data;
    net_dialer_t *dialer = conn->dialer;
    if (status < 0 || dialer == NULL) {
        net_conn_close_reason(conn, NET_CLOSE_ERROR, status);
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    net_conn_keepalive(conn);
    net_conn_fill_peer_text(conn);
    net_pending_join(conn, dialer->cfg.pending);
    if (dialer->cfg.tls != NULL &&
        net_tls_conn_start(conn, dialer->cfg.tls, false, dialer->cfg.tls_peer_id) != BALLOT_OK) {
        net_conn_close_reason(conn, NET_CLOSE_ERROR, UV_ENOMEM);
        return;
    }
    dialer->fn(dialer, conn, dialer->user);
    if (conn->ops == NULL && !conn->closing) {
        net_conn_close(conn);
    }
}

static void dialer_timer_cb(uv_timer_t *timer);

static void dialer_dial(net_dialer_t *dialer)
{
    assert(dialer->conn == NULL);
    net_conn_t *conn = net_conn_new(dialer->loop, &dialer->cfg.limits);
    if (conn == NULL) {
        uv_timer_start(&dialer->timer, dialer_timer_cb, dialer_backoff_ms(dialer), 0);
        return;
    }
    conn->dialer = dialer;
    dialer->conn = conn;
    int rc = uv_tcp_connect(&conn->connect_req, &conn->tcp,
                            (const struct sockaddr *)&dialer->cfg.addr.sockaddr, dialer_connect_cb);
    if (rc != 0) {
        net_conn_close_reason(conn, NET_CLOSE_ERROR, rc);
    }
}

static void dialer_timer_cb(uv_timer_t *timer)
{
    net_dialer_t *dialer = timer->data;
    if (!dialer->destroyed && dialer->conn == NULL) {
        dialer_dial(dialer);
    }
}

void net_dialer_conn_closed(net_dialer_t *dialer)
{
    dialer->conn = NULL;
    if (dialer->destroyed) {
        return;
    }
    uv_timer_start(&dialer->timer, dialer_timer_cb, dialer_backoff_ms(dialer), 0);
}

int net_dialer_create(net_loop_t *loop, const net_dialer_config_t *cfg, net_dial_fn fn, void *user,
                      net_dialer_t **out)
{
    net_dialer_t *dialer = calloc(1, sizeof(*dialer));
    if (dialer == NULL) {
        return BALLOT_ENOMEM;
    }
    dialer->kind = NET_KIND_DIALER;
    dialer->loop = loop;
    dialer->cfg = *cfg;
    dialer->fn = fn;
    dialer->user = user;
    dialer->rng = cfg->seed | 1u;
    uv_timer_init(&loop->uv, &dialer->timer);
    dialer->timer.data = dialer;
    dialer_dial(dialer);
    *out = dialer;
    return BALLOT_OK;
}

void net_dialer_healthy(net_dialer_t *dialer)
{
    dialer->attempt = 0;
}

void net_dialer_on_handle_closed(uv_handle_t *handle)
{
    free(handle->data);
}

void net_dialer_destroy(net_dialer_t *dialer)
{
    if (dialer == NULL) {
        return;
    }
    dialer->destroyed = true;
    if (dialer->conn != NULL) {
        dialer->conn->dialer = NULL;
        net_conn_close(dialer->conn);
        dialer->conn = NULL;
    }
    uv_close((uv_handle_t *)&dialer->timer, net_dialer_on_handle_closed);
}
