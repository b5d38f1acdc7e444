/* Shared between the files of src/net; not part of its public door (net.h). */
#ifndef BALLOT_NET_NET_INTERNAL_H
#define BALLOT_NET_NET_INTERNAL_H

#include "net/net.h"

/* Every libuv handle's data points at a wrapper that starts with one of these, so that
 * net_loop_destroy() can close whatever is left with the right callback. */
typedef enum net_kind {
    NET_KIND_CONN = 1,
    NET_KIND_LISTENER = 2,
    NET_KIND_DIALER = 3,
    NET_KIND_TIMER = 4,
    NET_KIND_WAKEUP = 5,
    NET_KIND_LOOP = 6,
} net_kind_t;

struct net_loop {
    net_kind_t kind;
    uv_loop_t uv;
    uv_check_t check; /* the per-iteration hook and write flush */
    uv_idle_t idle;   /* active while work waits for the hook: poll must not block */
    uv_signal_t sigint;
    uv_signal_t sigterm;
    bool signals_started;
    net_hook_fn hook;
    void *hook_user;
    net_signal_fn signal_fn;
    void *signal_user;
    net_conn_t *dirty; /* connections with output to flush or input to re-deliver */
    uint8_t *tls_raw;  /* one read's ciphertext, fed straight into its connection's TLS */
    bool destroying;
    /* Every open connection (for the time limits and the buffer budget). */
    net_conn_t *all;
    uint64_t buffered;   /* sum of every connection's `charged` */
    uint64_t buffer_max; /* 0: no budget */
    uint64_t budget_closes;
    uint64_t guard_ms; /* last net_loop_guard() pass */
};

struct net_conn {
    net_kind_t kind;
    uv_tcp_t tcp;
    net_loop_t *loop;
    const net_conn_ops_t *ops;
    void *user;
    net_conn_limits_t limits;
    /* input: bytes [read_start, read_end) are unconsumed */
    uint8_t *read_buf;
    size_t read_start;
    size_t read_end;
    size_t read_cap;
    /* output being gathered this iteration */
    uint8_t *write_buf;
    size_t write_len;
    size_t write_cap;
    /* output handed to uv_write and not yet completed */
    uint8_t *flight_buf;
    size_t flight_len;
    size_t flight_cap;
    uv_write_t write_req;
    uv_connect_t connect_req;
    bool writing;
    bool reading;
    bool paused;
    bool redeliver;
    bool closing;
    bool close_after_flush;
    net_close_reason_t close_reason;
    int close_err;
    /* dirty list links */
    net_conn_t *dirty_prev;
    net_conn_t *dirty_next;
    bool dirty_listed;
    net_dialer_t *dialer;     /* the dialer that made it, or NULL */
    struct net_tls_conn *tls; /* NULL: plain TCP */
    net_pending_t *pending;   /* the group it is pending in, or NULL */
    net_conn_t *pending_prev;
    net_conn_t *pending_next;
    uint64_t pending_deadline_ms;
    /* budget and time limits */
    net_conn_t *all_prev;
    net_conn_t *all_next;
    size_t charged;            /* counted in loop->buffered */
    size_t held;               /* input the owner holds (net_conn_hold_input) */
    uint64_t partial_since_ms; /* 0: no incomplete input held */
    uint64_t last_read_ms;
    char peer_text[NET_HOST_BYTES_MAX + 8];
};

#define NET_KEEPALIVE_IDLE_S     10
#define NET_KEEPALIVE_INTERVAL_S 2
#define NET_KEEPALIVE_PROBES     5

net_conn_t *net_conn_new(net_loop_t *loop, const net_conn_limits_t *limits);
void net_conn_keepalive(net_conn_t *conn);
/* Updates the connection's share of the loop's buffer budget after its buffers changed. */
void net_conn_recharge(net_conn_t *conn);
/* Closes with a reason (first reason wins). */
void net_conn_close_reason(net_conn_t *conn, net_close_reason_t reason, int uv_err);
void net_conn_fill_peer_text(net_conn_t *conn);
/* Flushes output and re-delivers input of every listed connection. */
void net_conn_service_dirty(net_loop_t *loop);
void net_conn_mark_dirty(net_conn_t *conn);
void net_loop_kick(net_loop_t *loop);
/* Called when a dialer's connection has closed (after the owner's on_close). */
void net_dialer_conn_closed(net_dialer_t *dialer);
/* Makes room at read_end for the next bytes (false: the read bound is reached). */
bool net_conn_make_read_room(net_conn_t *conn);
/* Calls the owner's on_data when input is buffered and the connection is not paused. */
void net_conn_deliver(net_conn_t *conn);
void net_pending_join(net_conn_t *conn, net_pending_t *pending);

/* tls.c */
#define NET_TLS_RAW_BYTES (64u * 1024u)
struct net_tls;
/* Starts TLS on a fresh connection (server side when peer_id_expected is 0 and accepting). */
int net_tls_conn_start(net_conn_t *conn, struct net_tls *tls, bool accepting,
                       uint32_t peer_id_expected);
void net_tls_conn_free(net_conn_t *conn);
/* Ciphertext arrived: feed it, advance the handshake, decrypt into the read buffer and
 * deliver. */
void net_tls_on_ciphertext(net_conn_t *conn, const uint8_t *bytes, size_t size);
/* Decrypts what is buffered and delivers (after a resume). */
void net_tls_pump(net_conn_t *conn);
/* Encrypts the gathered output (once the handshake is done) and returns how many
 * ciphertext bytes wait to be sent; net_tls_take() copies them out. */
size_t net_tls_encrypt(net_conn_t *conn);
void net_tls_take(net_conn_t *conn, uint8_t *dst, size_t size);

/* Close callbacks for net_loop_destroy's sweep. */
void net_conn_on_handle_closed(uv_handle_t *handle);
void net_listener_on_handle_closed(uv_handle_t *handle);
void net_dialer_on_handle_closed(uv_handle_t *handle);
void net_timer_on_handle_closed(uv_handle_t *handle);
void net_wakeup_on_handle_closed(uv_handle_t *handle);

#endif
