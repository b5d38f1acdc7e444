#include "core/check.h"
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "net/net_internal.h"
#include "net/tls.h"

/* Input buffers keep at least this much free room for the next read. */
#define CONN_READ_ROOM_MIN_BYTES (4u * 1024u)
/* Buffers larger than this are given back when they empty, so that a burst does not pin
 * memory on an idle connection. */
#define CONN_BUFFER_KEEP_BYTES (256u * 1024u)

net_conn_t *net_conn_new(net_loop_t *loop, const net_conn_limits_t *limits)
{
    net_conn_t *conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        return NULL;
    }
    conn->kind = NET_KIND_CONN;
    conn->loop = loop;
    conn->limits = *limits;
    uv_tcp_init(&loop->uv, &conn->tcp);
    conn->tcp.data = conn;
    conn->write_req.data = conn;
    conn->connect_req.data = conn;
    conn->last_read_ms = net_now_ms();
    conn->all_next = loop->all;
    if (loop->all != NULL) {
        loop->all->all_prev = conn;
    }
    loop->all = conn;
    return conn;
}

void net_conn_keepalive(net_conn_t *conn)
{
    /* A link whose other end vanished without a FIN (a machine lost, a cable pulled) is
     * found in about NET_KEEPALIVE_IDLE_S + NET_KEEPALIVE_PROBES * NET_KEEPALIVE_INTERVAL_S. */
    if (uv_tcp_keepalive(&conn->tcp, 1, NET_KEEPALIVE_IDLE_S) != 0) {
        return;
    }
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&conn->tcp, &fd) == 0) {
        int interval = NET_KEEPALIVE_INTERVAL_S;
        int probes = NET_KEEPALIVE_PROBES;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
        (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
    }
}

void net_conn_recharge(net_conn_t *conn)
{
    if (conn->closing) {
        return; /* discharged when it started closing */
    }
    size_t charge = 0;
    if (conn->limits.budget_input) {
        charge += conn->read_cap + conn->held;
    }
    if (conn->limits.budget_output) {
        charge += conn->write_cap + conn->flight_cap;
    }
    conn->loop->buffered = conn->loop->buffered - conn->charged + charge;
    conn->charged = charge;
}

size_t net_conn_budget_bytes(const net_conn_t *conn)
{
    return conn->charged;
}

uint64_t net_conn_last_read_ms(const net_conn_t *conn)
{
    return conn->last_read_ms;
}

void net_conn_hold_input(net_conn_t *conn, size_t held_bytes, bool partial, bool progressed)
{
    conn->held = held_bytes;
    if (!partial) {
        conn->partial_since_ms = 0;
    } else if (progressed || conn->partial_since_ms == 0) {
        conn->partial_since_ms = net_now_ms();
    }
    net_conn_recharge(conn);
    net_loop_enforce_budget(conn->loop);
}

void net_conn_fill_peer_text(net_conn_t *conn)
{
    struct sockaddr_storage ss;
    int len = (int)sizeof(ss);
    snprintf(conn->peer_text, sizeof(conn->peer_text), "?");
    if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&ss, &len) != 0) {
        return;
    }
    char host[NET_HOST_BYTES_MAX];
    int port = 0;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        uv_ip4_name(in, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        uv_ip6_name(in6, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    } else {
        return;
    }
    snprintf(conn->peer_text, sizeof(conn->peer_text), "%s:%d", host, port);
}

const char *net_conn_peer_text(const net_conn_t *conn)
{
    return conn->peer_text;
}

static void conn_unlist(net_conn_t *conn)
{
    if (!conn->dirty_listed) {
        return;
    }
    net_loop_t *loop = conn->loop;
    if (conn->dirty_prev != NULL) {
        conn->dirty_prev->dirty_next = conn->dirty_next;
    } else {
        loop->dirty = conn->dirty_next;
    }
    if (conn->dirty_next != NULL) {
        conn->dirty_next->dirty_prev = conn->dirty_prev;
    }
    conn->dirty_prev = NULL;
    conn->dirty_next = NULL;
    conn->dirty_listed = false;
}

void net_conn_mark_dirty(net_conn_t *conn)
{
    if (conn->dirty_listed || conn->closing) {
        return;
    }
    net_loop_t *loop = conn->loop;
    conn->dirty_prev = NULL;
    conn->dirty_next = loop->dirty;
    if (loop->dirty != NULL) {
        loop->dirty->dirty_prev = conn;
    }
    loop->dirty = conn;
    conn->dirty_listed = true;
}

/* ---- pending handshakes ---- */

static void pending_unlink(net_conn_t *conn)
{
    net_pending_t *p = conn->pending;
    if (p == NULL) {
        return;
    }
    if (conn->pending_prev != NULL) {
        conn->pending_prev->pending_next = conn->pending_next;
    } else {
        p->head = conn->pending_next;
    }
    if (conn->pending_next != NULL) {
        conn->pending_next->pending_prev = conn->pending_prev;
    } else {
        p->tail = conn->pending_prev;
    }
    conn->pending_prev = NULL;
    conn->pending_next = NULL;
    conn->pending = NULL;
    p->count--;
}

void net_pending_join(net_conn_t *conn, net_pending_t *pending)
{
    if (pending == NULL || conn->pending != NULL) {
        return;
    }
    conn->pending = pending;
    conn->pending_deadline_ms = net_now_ms() + pending->deadline_ms;
    conn->pending_prev = pending->tail;
    conn->pending_next = NULL;
    if (pending->tail != NULL) {
        pending->tail->pending_next = conn;
    } else {
        pending->head = conn;
    }
    pending->tail = conn;
    pending->count++;
}

void net_conn_established(net_conn_t *conn)
{
    pending_unlink(conn);
}

bool net_conn_pending(const net_conn_t *conn)
{
    return conn->pending != NULL;
}

void net_pending_expire(net_pending_t *pending, uint64_t now_ms)
{
    /* Oldest first, all with the same timeout: stop at the first one still in time. Each
     * expired one is unlinked before it is closed, so this ends. */
    while (pending->head != NULL && pending->head->pending_deadline_ms <= now_ms) {
        net_conn_t *conn = pending->head;
        pending_unlink(conn);
        pending->expired++;
        net_conn_close_reason(conn, NET_CLOSE_DEADLINE, 0);
    }
}

void net_conn_on_handle_closed(uv_handle_t *handle)
{
    net_conn_t *conn = handle->data;
    conn_unlist(conn);
    pending_unlink(conn);
    net_loop_t *loop = conn->loop;
    if (conn->all_prev != NULL) {
        conn->all_prev->all_next = conn->all_next;
    } else if (loop->all == conn) {
        loop->all = conn->all_next;
    }
    if (conn->all_next != NULL) {
        conn->all_next->all_prev = conn->all_prev;
    }
    loop->buffered -= conn->charged; /* 0 unless closed by net_loop_destroy's sweep */
    conn->charged = 0;
    if (conn->ops != NULL && conn->ops->on_close != NULL && !conn->loop->destroying) {
        conn->ops->on_close(conn, conn->user, conn->close_reason, conn->close_err);
    }
    if (conn->dialer != NULL && !conn->loop->destroying) {
        net_dialer_conn_closed(conn->dialer);
    }
    net_tls_conn_free(conn);
    free(conn->read_buf);
    free(conn->write_buf);
    free(conn->flight_buf);
    free(conn);
}

void net_conn_close_reason(net_conn_t *conn, net_close_reason_t reason, int uv_err)
{
    if (conn->closing) {
        return;
    }
    conn->loop->buffered -= conn->charged;
    conn->charged = 0;
    /* Unsent output is dropped now, not when the close completes: the budget already
     * stopped counting it. (The buffer of a write in progress stays until its callback.) */
    free(conn->write_buf);
    conn->write_buf = NULL;
    conn->write_cap = 0;
    conn->write_len = 0;
    conn->closing = true;
    conn->close_reason = reason;
    conn->close_err = uv_err;
    conn_unlist(conn);
    uv_close((uv_handle_t *)&conn->tcp, net_conn_on_handle_closed);
}

void net_conn_close(net_conn_t *conn)
{
    net_conn_close_reason(conn, NET_CLOSE_LOCAL, 0);
}

bool net_conn_closing(const net_conn_t *conn)
{
    return conn->closing;
}

void net_conn_close_after_flush(net_conn_t *conn)
{
    conn->close_after_flush = true;
    net_conn_mark_dirty(conn);
    net_loop_kick(conn->loop);
}

/* ---- input ---- */

bool net_conn_make_read_room(net_conn_t *conn)
{
    if (conn->read_cap - conn->read_end >= CONN_READ_ROOM_MIN_BYTES) {
        return true;
    }
    if (conn->read_start > 0) {
        size_t held = conn->read_end - conn->read_start;
        memmove(conn->read_buf, conn->read_buf + conn->read_start, held);
        conn->read_start = 0;
        conn->read_end = held;
        if (conn->read_cap - conn->read_end >= CONN_READ_ROOM_MIN_BYTES) {
            return true;
        }
    }
    if (conn->read_cap >= conn->limits.read_bytes_max) {
        return conn->read_end < conn->read_cap;
    }
    size_t cap = conn->read_cap == 0 ? NET_BUFFER_INITIAL_BYTES : conn->read_cap * 2;
    if (cap > conn->limits.read_bytes_max) {
        cap = conn->limits.read_bytes_max;
    }
    uint8_t *grown = realloc(conn->read_buf, cap);
    if (grown == NULL) {
        return conn->read_end < conn->read_cap;
    }
    conn->read_buf = grown;
    conn->read_cap = cap;
    net_conn_recharge(conn);
    return true;
}

static void conn_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    net_conn_t *conn = handle->data;
    if (conn->tls != NULL) {
        /* Ciphertext goes straight into the connection's TLS input on the same turn. */
        if (conn->loop->tls_raw == NULL) {
            conn->loop->tls_raw = malloc(NET_TLS_RAW_BYTES);
        }
        *buf = uv_buf_init((char *)conn->loop->tls_raw,
                           conn->loop->tls_raw != NULL ? NET_TLS_RAW_BYTES : 0);
        return;
    }
    if (!net_conn_make_read_room(conn)) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init((char *)conn->read_buf + conn->read_end,
                       (unsigned)(conn->read_cap - conn->read_end));
}

void net_conn_deliver(net_conn_t *conn)
{
    if (conn->closing || conn->paused || conn->read_end == conn->read_start) {
        return;
    }
    if (conn->ops != NULL && conn->ops->on_data != NULL) {
        conn->ops->on_data(conn, conn->user);
    }
}

static void conn_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    net_conn_t *conn = stream->data;
    if (nread == 0 || conn->closing) {
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF) {
            net_conn_close_reason(conn, NET_CLOSE_EOF, 0);
        } else if (nread == UV_ENOBUFS) {
            net_conn_close_reason(conn, NET_CLOSE_READ_BOUND, 0);
        } else {
            net_conn_close_reason(conn, NET_CLOSE_ERROR, (int)nread);
        }
        return;
    }
    if (conn->tls != NULL) {
        net_tls_on_ciphertext(conn, (const uint8_t *)buf->base, (size_t)nread);
        return;
    }
    conn->read_end += (size_t)nread;
    conn->last_read_ms = net_now_ms();
    assert(conn->read_end <= conn->read_cap);
    net_conn_deliver(conn);
}

static void conn_start_reading(net_conn_t *conn)
{
    if (conn->reading || conn->closing || conn->paused) {
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&conn->tcp, conn_alloc_cb, conn_read_cb);
    if (rc != 0) {
        net_conn_close_reason(conn, NET_CLOSE_ERROR, rc);
        return;
    }
    conn->reading = true;
}

void net_conn_set_ops(net_conn_t *conn, const net_conn_ops_t *ops, void *user)
{
    conn->ops = ops;
    conn->user = user;
    conn_start_reading(conn);
}

const uint8_t *net_conn_data(const net_conn_t *conn, size_t *size)
{
    *size = conn->read_end - conn->read_start;
    return conn->read_buf + conn->read_start;
}

void net_conn_consume(net_conn_t *conn, size_t bytes)
{
    assert(bytes <= conn->read_end - conn->read_start);
    conn->read_start += bytes;
    if (conn->read_start == conn->read_end) {
        conn->read_start = 0;
        conn->read_end = 0;
        if (conn->read_cap > CONN_BUFFER_KEEP_BYTES) {
            free(conn->read_buf);
            conn->read_buf = NULL;
            conn->read_cap = 0;
            net_conn_recharge(conn);
        }
    }
}

void net_conn_pause(net_conn_t *conn)
{
    if (conn->paused || conn->closing) {
        return;
    }
    conn->paused = true;
    if (conn->reading) {
        uv_read_stop((uv_stream_t *)&conn->tcp);
        conn->reading = false;
    }
}

void net_conn_resume(net_conn_t *conn)
{
    if (!conn->paused || conn->closing) {
        return;
    }
    conn->paused = false;
    if (conn->ops != NULL) {
        conn_start_reading(conn);
    }
    if (conn->read_end > conn->read_start || conn->tls != NULL) {
        conn->redeliver = true;
        net_conn_mark_dirty(conn);
        net_loop_kick(conn->loop);
    }
}

bool net_conn_paused(const net_conn_t *conn)
{
    return conn->paused;
}

/* ---- output ---- */

size_t net_conn_pending_bytes(const net_conn_t *conn)
{
    return conn->write_len + conn->flight_len;
}

uint8_t *net_conn_reserve(net_conn_t *conn, size_t bytes)
{
    if (conn->closing) {
        return NULL;
    }
    if (conn->write_len + conn->flight_len + bytes > conn->limits.write_bytes_max) {
        net_conn_close_reason(conn, NET_CLOSE_WRITE_BOUND, 0);
        return NULL;
    }
    size_t need = conn->write_len + bytes;
    if (need > conn->write_cap) {
        size_t cap = conn->write_cap == 0 ? NET_BUFFER_INITIAL_BYTES : conn->write_cap;
        while (cap < need) {
            cap *= 2;
        }
        uint8_t *grown = realloc(conn->write_buf, cap);
        if (grown == NULL) {
            net_conn_close_reason(conn, NET_CLOSE_ERROR, UV_ENOMEM);
            return NULL;
        }
        conn->write_buf = grown;
        conn->write_cap = cap;
        net_conn_recharge(conn);
        /* Output can grow by a lot within one loop iteration: enforce the budget now, which
         * may close this connection. */
        net_loop_enforce_budget(conn->loop);
        if (conn->closing) {
            return NULL;
        }
    }
    return conn->write_buf + conn->write_len;
}

void net_conn_commit(net_conn_t *conn, size_t bytes)
{
    if (conn->closing) {
        return;
    }
    assert(conn->write_len + bytes <= conn->write_cap);
    conn->write_len += bytes;
    net_conn_mark_dirty(conn);
}

bool net_conn_write(net_conn_t *conn, const void *bytes, size_t size)
{
    uint8_t *dst = net_conn_reserve(conn, size);
    if (dst == NULL) {
        return false;
    }
    memcpy(dst, bytes, size);
    net_conn_commit(conn, size);
    return true;
}

static void conn_flush(net_conn_t *conn);

static void conn_write_cb(uv_write_t *req, int status)
{
    net_conn_t *conn = req->data;
    conn->writing = false;
    conn->flight_len = 0;
    if (conn->flight_cap > CONN_BUFFER_KEEP_BYTES) {
        free(conn->flight_buf);
        conn->flight_buf = NULL;
        conn->flight_cap = 0;
        net_conn_recharge(conn);
    }
    if (conn->closing) {
        return;
    }
    if (status < 0) {
        net_conn_close_reason(conn, NET_CLOSE_ERROR, status);
        return;
    }
    conn_flush(conn);
}

static void conn_written_all(net_conn_t *conn)
{
    conn->write_len = 0;
    if (conn->write_cap > CONN_BUFFER_KEEP_BYTES) {
        free(conn->write_buf);
        conn->write_buf = NULL;
        conn->write_cap = 0;
        net_conn_recharge(conn);
    }
    if (conn->close_after_flush) {
        net_conn_close(conn);
    }
}

/* One write syscall for everything gathered; what the kernel does not take now goes to
 * uv_write, and the next gathering goes to the other buffer meanwhile. */
static void conn_flush_tls(net_conn_t *conn);

static void conn_flush(net_conn_t *conn)
{
    if (conn->closing || conn->writing) {
        return;
    }
    if (conn->tls != NULL) {
        conn_flush_tls(conn);
        return;
    }
    if (conn->write_len == 0) {
        if (conn->close_after_flush) {
            net_conn_close(conn);
        }
        return;
    }
    uv_buf_t buf = uv_buf_init((char *)conn->write_buf, (unsigned)conn->write_len);
    int n = uv_try_write((uv_stream_t *)&conn->tcp, &buf, 1);
    if (n < 0 && n != UV_EAGAIN) {
        net_conn_close_reason(conn, NET_CLOSE_ERROR, n);
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    if (done == conn->write_len) {
        conn_written_all(conn);
        return;
    }
    uint8_t *swap_buf = conn->flight_buf;
    size_t swap_cap = conn->flight_cap;
    conn->flight_buf = conn->write_buf;
    conn->flight_cap = conn->write_cap;
    conn->flight_len = conn->write_len - done;
    conn->write_buf = swap_buf;
    conn->write_cap = swap_cap;
    conn->write_len = 0;
    uv_buf_t rest = uv_buf_init((char *)conn->flight_buf + done, (unsigned)conn->flight_len);
    int rc = uv_write(&conn->write_req, (uv_stream_t *)&conn->tcp, &rest, 1, conn_write_cb);
    if (rc != 0) {
        net_conn_close_reason(conn, NET_CLOSE_ERROR, rc);
        return;
    }
    conn->writing = true;
}

void net_conn_service_dirty(net_loop_t *loop)
{
    /* Bounded by the number of connections: each is unlisted before it is serviced, and
     * servicing may only list it again through a new write by its owner. */
    while (loop->dirty != NULL) {
        net_conn_t *conn = loop->dirty;
        conn_unlist(conn);
        if (conn->redeliver) {
            conn->redeliver = false;
            net_conn_deliver(conn);
            if (conn->tls != NULL) {
                net_tls_pump(conn);
            }
            conn_unlist(conn);
        }
        conn_flush(conn);
    }
}

/* TLS: everything gathered this iteration goes through one SSL_write (records of up to
 * 16 KiB each), then the ciphertext is sent like plaintext would be. */
static void conn_flush_tls(net_conn_t *conn)
{
    size_t size = net_tls_encrypt(conn);
    if (conn->closing) {
        return;
    }
    if (size == 0) {
        if (conn->close_after_flush && conn->write_len == 0 && net_conn_tls_ready(conn)) {
            net_conn_close(conn);
        }
        return;
    }
    if (size > conn->flight_cap) {
        uint8_t *grown = realloc(conn->flight_buf, size);
        if (grown == NULL) {
            net_conn_close_reason(conn, NET_CLOSE_ERROR, UV_ENOMEM);
            return;
        }
        conn->flight_buf = grown;
        conn->flight_cap = size;
        net_conn_recharge(conn);
        net_loop_enforce_budget(conn->loop);
        if (conn->closing) {
            return;
        }
    }
    net_tls_take(conn, conn->flight_buf, size);
    uv_buf_t buf = uv_buf_init((char *)conn->flight_buf, (unsigned)size);
    int n = uv_try_write((uv_stream_t *)&conn->tcp, &buf, 1);
    if (n < 0 && n != UV_EAGAIN) {
        net_conn_close_reason(conn, NET_CLOSE_ERROR, n);
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    if (done == size) {
        if (conn->flight_cap > CONN_BUFFER_KEEP_BYTES) {
            free(conn->flight_buf);
            conn->flight_buf = NULL;
            conn->flight_cap = 0;
        }
        if (conn->write_cap > CONN_BUFFER_KEEP_BYTES) {
            free(conn->write_buf);
            conn->write_buf = NULL;
            conn->write_cap = 0;
        }
        net_conn_recharge(conn);
        if (conn->close_after_flush && net_conn_tls_ready(conn)) {
            net_conn_close(conn);
        }
        return;
    }
    conn->flight_len = size - done;
    uv_buf_t rest = uv_buf_init((char *)conn->flight_buf + done, (unsigned)conn->flight_len);
    int rc = uv_write(&conn->write_req, (uv_stream_t *)&conn->tcp, &rest, 1, conn_write_cb);
    if (rc != 0) {
        net_conn_close_reason(conn, NET_CLOSE_ERROR, rc);
        return;
    }
    conn->writing = true;
}

/* ---- the buffer budget and time limits ---- */

void net_loop_set_buffer_max(net_loop_t *loop, uint64_t bytes)
{
    loop->buffer_max = bytes;
}

uint64_t net_loop_buffered_bytes(const net_loop_t *loop)
{
    return loop->buffered;
}

uint64_t net_loop_budget_closes(const net_loop_t *loop)
{
    return loop->budget_closes;
}

void net_loop_enforce_budget(net_loop_t *loop)
{
    /* Bounded: each round closes one connection, which takes its whole charge out. */
    while (loop->buffer_max != 0 && loop->buffered > loop->buffer_max) {
        net_conn_t *largest = NULL;
        for (net_conn_t *c = loop->all; c != NULL; c = c->all_next) {
            if (!c->closing && (largest == NULL || c->charged > largest->charged)) {
                largest = c;
            }
        }
        if (largest == NULL || largest->charged == 0) {
            return;
        }
        loop->budget_closes++;
        net_conn_close_reason(largest, NET_CLOSE_BUDGET, 0);
    }
}

void net_loop_guard(net_loop_t *loop, uint64_t now_ms)
{
    if (now_ms < loop->guard_ms + NET_GUARD_PERIOD_MS) {
        return;
    }
    loop->guard_ms = now_ms;
    for (net_conn_t *c = loop->all; c != NULL; c = c->all_next) {
        if (c->closing) {
            continue;
        }
        const net_conn_limits_t *l = &c->limits;
        if (l->partial_timeout_ms != 0 && c->partial_since_ms != 0 &&
            now_ms >= c->partial_since_ms + l->partial_timeout_ms) {
            net_conn_close_reason(c, NET_CLOSE_PARTIAL, 0);
        } else if (l->idle_timeout_ms != 0 && net_conn_pending_bytes(c) == 0 &&
                   now_ms >= c->last_read_ms + l->idle_timeout_ms) {
            net_conn_close_reason(c, NET_CLOSE_IDLE, 0);
        }
    }
}
