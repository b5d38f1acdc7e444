/* The event loop and TCP transport of ballotd, on libuv.
 *
 * One thread runs the loop. Everything here is bounded: a connection's read buffer grows
 * only up to its read bound, and its write queue only up to its write bound; a peer that
 * sends a frame larger than the read bound, or that does not read what it is sent, is
 * disconnected instead of being buffered forever.
 *
 * The loop calls the owner's iteration hook once per loop iteration, after every read
 * callback of that iteration ran, and then flushes every connection written to in that
 * iteration with one write call each (write coalescing: many replies, one syscall). */
#ifndef BALLOT_NET_NET_H
#define BALLOT_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* Bounds. */
#define NET_HOST_BYTES_MAX       256u /* host text of an address, NUL included */
#define NET_READ_CHUNK_BYTES     (64u * 1024u)
#define NET_BUFFER_INITIAL_BYTES (16u * 1024u)
#define NET_BACKOFF_SHIFT_MAX    16u
#define NET_ERROR_TEXT_BYTES     160u
#define NET_GUARD_PERIOD_MS      100u

typedef struct net_addr {
    char host[NET_HOST_BYTES_MAX];
    uint16_t port;
    struct sockaddr_storage sockaddr;
} net_addr_t;

/* Parses "host:port" or "[v6]:port" and resolves host (numeric or a name). BALLOT_OK or
 * BALLOT_EINVAL with a reason in msg. */
int net_addr_parse(const char *text, net_addr_t *out, char *msg, size_t msg_bytes);
/* "host:port" into buf. */
const char *net_addr_format(const net_addr_t *addr, char *buf, size_t buf_bytes);

typedef struct net_loop net_loop_t;
typedef struct net_conn net_conn_t;
typedef struct net_listener net_listener_t;
typedef struct net_dialer net_dialer_t;
typedef struct net_timer net_timer_t;
typedef struct net_wakeup net_wakeup_t;

/* ---- loop ---- */

typedef void (*net_hook_fn)(net_loop_t *loop, void *user);
typedef void (*net_signal_fn)(net_loop_t *loop, int signum, void *user);

int net_loop_create(net_loop_t **out);
/* Closes every handle still open, runs the loop until they are gone, frees it. */
void net_loop_destroy(net_loop_t *loop);
/* Runs one non-blocking pass (twice), so that connections closed since run their owners'
 * on_close before net_loop_destroy(), which calls no owner callbacks. */
void net_loop_settle(net_loop_t *loop);
/* Runs until net_loop_stop(). */
int net_loop_run(net_loop_t *loop);
void net_loop_stop(net_loop_t *loop);
/* Called once per loop iteration after I/O callbacks and before the flush of writes. */
void net_loop_set_hook(net_loop_t *loop, net_hook_fn hook, void *user);
/* Calls fn on SIGINT and SIGTERM. */
int net_loop_on_signals(net_loop_t *loop, net_signal_fn fn, void *user);
/* Monotonic milliseconds (a fresh clock read, not the loop's cached time). */
uint64_t net_now_ms(void);
uv_loop_t *net_loop_uv(net_loop_t *loop);

/* ---- timers ---- */

typedef void (*net_timer_fn)(net_timer_t *timer, void *user);
int net_timer_create(net_loop_t *loop, net_timer_fn fn, void *user, net_timer_t **out);
/* Fires once after delay_ms (replacing any earlier arming). */
void net_timer_arm(net_timer_t *timer, uint64_t delay_ms);
void net_timer_disarm(net_timer_t *timer);
void net_timer_destroy(net_timer_t *timer);

/* ---- wakeups from other threads ---- */

typedef void (*net_wakeup_fn)(net_wakeup_t *wakeup, void *user);
int net_wakeup_create(net_loop_t *loop, net_wakeup_fn fn, void *user, net_wakeup_t **out);
/* Thread-safe; many calls before the loop runs fn coalesce into one. */
void net_wakeup_send(net_wakeup_t *wakeup);
void net_wakeup_destroy(net_wakeup_t *wakeup);

/* ---- connections ---- */

typedef enum net_close_reason {
    NET_CLOSE_LOCAL = 1,       /* net_conn_close() */
    NET_CLOSE_EOF = 2,         /* the other side closed */
    NET_CLOSE_ERROR = 3,       /* a socket error */
    NET_CLOSE_READ_BOUND = 4,  /* the read buffer is full and the owner cannot consume */
    NET_CLOSE_WRITE_BOUND = 5, /* the other side does not read what it is sent */
    NET_CLOSE_TLS = 6,         /* TLS handshake or record failed (net_conn_tls_error) */
    NET_CLOSE_DEADLINE = 7,    /* the handshake did not finish in time (net_pending_t) */
    NET_CLOSE_BUDGET = 8,      /* the loop's buffer budget is spent; this one held the most */
    NET_CLOSE_IDLE = 9,        /* nothing received for idle_timeout_ms */
    NET_CLOSE_PARTIAL = 10,    /* a frame or request stayed incomplete for partial_timeout_ms */
} net_close_reason_t;

typedef struct net_conn_ops {
    /* New bytes arrived: parse from net_conn_data(), then net_conn_consume() what was used.
     * The connection may be closed inside. */
    void (*on_data)(net_conn_t *conn, void *user);
    /* The connection is gone; the pointer is invalid after this returns. */
    void (*on_close)(net_conn_t *conn, void *user, net_close_reason_t reason, int uv_err);
} net_conn_ops_t;

typedef struct net_conn_limits {
    size_t read_bytes_max;  /* largest unconsumed input held */
    size_t write_bytes_max; /* largest unsent output held */
    /* 0: off. Checked by net_loop_guard(); see docs/operations.md "Bounds". */
    uint32_t idle_timeout_ms;    /* close when nothing was received for this long */
    uint32_t partial_timeout_ms; /* close when input stays incomplete this long */
    /* What counts against the loop's buffer budget (net_loop_set_buffer_max). */
    bool budget_input;  /* unconsumed input and what the owner holds (net_conn_hold_input) */
    bool budget_output; /* unsent output */
} net_conn_limits_t;

void net_conn_set_ops(net_conn_t *conn, const net_conn_ops_t *ops, void *user);
const uint8_t *net_conn_data(const net_conn_t *conn, size_t *size);
void net_conn_consume(net_conn_t *conn, size_t bytes);
/* Stops reading from the socket (back pressure) until resumed; resuming re-delivers what
 * is still buffered through on_data in the next iteration. */
void net_conn_pause(net_conn_t *conn);
void net_conn_resume(net_conn_t *conn);
bool net_conn_paused(const net_conn_t *conn);
/* Room for `bytes` more output; NULL when over the write bound (the connection is then
 * closed with NET_CLOSE_WRITE_BOUND at the end of the iteration). Fill, then commit. */
uint8_t *net_conn_reserve(net_conn_t *conn, size_t bytes);
void net_conn_commit(net_conn_t *conn, size_t bytes);
/* Copies bytes into the output; false when over the write bound (as above). */
bool net_conn_write(net_conn_t *conn, const void *bytes, size_t size);
/* Output queued and not yet handed to the kernel. */
size_t net_conn_pending_bytes(const net_conn_t *conn);
/* Closes after what is queued has been written (bounded by the write bound). */
void net_conn_close_after_flush(net_conn_t *conn);
void net_conn_close(net_conn_t *conn);
bool net_conn_closing(const net_conn_t *conn);
/* The remote address as "host:port". */
const char *net_conn_peer_text(const net_conn_t *conn);
/* The owner holds held_bytes of memory for input it took from the connection (a decoder's
 * buffer); partial: part of a frame or request is among it; progressed: the owner
 * completed at least one frame or request since the last call, or stopped for its own
 * reasons (a full pipeline). Input that stays partial without progress for
 * partial_timeout_ms closes the connection. */
void net_conn_hold_input(net_conn_t *conn, size_t held_bytes, bool partial, bool progressed);
/* Milliseconds (net_now_ms) of the last bytes received; the connect time before any. */
uint64_t net_conn_last_read_ms(const net_conn_t *conn);
/* The bytes this connection counts against the loop's buffer budget. */
size_t net_conn_budget_bytes(const net_conn_t *conn);

/* ---- the buffer budget and time limits ---- */

/* Caps the bytes all connections together buffer (what their limits count): once over,
 * the connection holding the most is closed with NET_CLOSE_BUDGET, and again, until the
 * total is back under. 0: no cap. */
void net_loop_set_buffer_max(net_loop_t *loop, uint64_t bytes);
/* Bytes counted against the budget now, and connections closed for it so far. */
uint64_t net_loop_buffered_bytes(const net_loop_t *loop);
uint64_t net_loop_budget_closes(const net_loop_t *loop);
/* Closes connections past their idle or partial-input time limit; call it often (it does
 * the work at most every NET_GUARD_PERIOD_MS). */
void net_loop_guard(net_loop_t *loop, uint64_t now_ms);
/* Enforces the buffer budget now (the loop also does so once per iteration). */
void net_loop_enforce_budget(net_loop_t *loop);

/* ---- connections that have not finished their handshake ----
 *
 * A group of connections that have not yet proved anything (TLS handshake, then HELLO for
 * peer links): at most `max` accepted ones at a time (more are closed on accept, before
 * any byte is read), and each is closed with NET_CLOSE_DEADLINE when still pending after
 * deadline_ms. The owner keeps the struct alive as long as the loop. */
typedef struct net_pending {
    uint32_t max;
    uint32_t deadline_ms;
    bool until_tls; /* the TLS handshake ends pending; else only net_conn_established() */
    uint32_t count;
    uint64_t refused; /* closed on accept: the group was full */
    uint64_t expired; /* closed at the deadline */
    net_conn_t *head; /* oldest first */
    net_conn_t *tail;
} net_pending_t;

/* The connection finished its handshake: it leaves its pending group. */
void net_conn_established(net_conn_t *conn);
bool net_conn_pending(const net_conn_t *conn);
/* Closes the group's connections that are past their deadline; O(expired + 1). */
void net_pending_expire(net_pending_t *pending, uint64_t now_ms);

/* ---- listening ---- */

/* A new connection: set its ops (net_conn_set_ops) or close it. */
typedef void (*net_accept_fn)(net_listener_t *listener, net_conn_t *conn, void *user);
int net_listen(net_loop_t *loop, const net_addr_t *addr, const net_conn_limits_t *limits,
               net_accept_fn fn, void *user, net_listener_t **out, char *msg, size_t msg_bytes);
/* Accepted connections join this group (NULL: none). */
void net_listener_set_pending(net_listener_t *listener, net_pending_t *pending);
/* Stops accepting; connections already made live on. */
void net_listener_close(net_listener_t *listener);

/* ---- outbound connections with reconnect ---- */

typedef struct net_dialer_config {
    net_addr_t addr;
    uint32_t backoff_min_ms;
    uint32_t backoff_max_ms;
    net_conn_limits_t limits;
    uint64_t seed;          /* jitter */
    struct net_tls *tls;    /* speak TLS as the client (NULL: plain TCP) */
    uint32_t tls_peer_id;   /* the node id the other side must prove (peer contexts) */
    net_pending_t *pending; /* join this group until established (its max is not applied) */
} net_dialer_config_t;

/* Connected: set the connection's ops. When the connection later closes, the dialer
 * reconnects after a randomized exponential backoff (reset by net_dialer_healthy()). */
typedef void (*net_dial_fn)(net_dialer_t *dialer, net_conn_t *conn, void *user);
int net_dialer_create(net_loop_t *loop, const net_dialer_config_t *cfg, net_dial_fn fn, void *user,
                      net_dialer_t **out);
/* The connection proved useful (e.g. a handshake passed): the next reconnect starts from
 * the shortest backoff. */
void net_dialer_healthy(net_dialer_t *dialer);
/* Closes the current connection (if any) and stops reconnecting. */
void net_dialer_destroy(net_dialer_t *dialer);

#endif
