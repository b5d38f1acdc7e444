#include "core/check.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "net/net_internal.h"

uint64_t net_now_ms(void)
{
    struct timespec ts;
    int rc = clock_gettime(CLOCK_MONOTONIC, &ts);
    assert(rc == 0);
    (void)rc;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void loop_idle_cb(uv_idle_t *idle)
{
    (void)idle;
}

void net_loop_kick(net_loop_t *loop)
{
    if (!uv_is_active((uv_handle_t *)&loop->idle)) {
        uv_idle_start(&loop->idle, loop_idle_cb);
    }
}

/* After the poll phase: every read callback of this iteration has run. */
static void loop_check_cb(uv_check_t *check)
{
    net_loop_t *loop = check->data;
    uv_idle_stop(&loop->idle);
    if (loop->hook != NULL) {
        loop->hook(loop, loop->hook_user);
    }
    net_loop_enforce_budget(loop);
    net_conn_service_dirty(loop);
}

int net_loop_create(net_loop_t **out)
{
    net_loop_t *loop = calloc(1, sizeof(*loop));
    if (loop == NULL) {
        return BALLOT_ENOMEM;
    }
    loop->kind = NET_KIND_LOOP;
    if (uv_loop_init(&loop->uv) != 0) {
        free(loop);
        return BALLOT_ENOMEM;
    }
    /* A peer that vanished mid-write must give EPIPE, not kill the node. */
    signal(SIGPIPE, SIG_IGN);
    uv_check_init(&loop->uv, &loop->check);
    loop->check.data = loop;
    uv_check_start(&loop->check, loop_check_cb);
    uv_idle_init(&loop->uv, &loop->idle);
    loop->idle.data = loop;
    *out = loop;
    return BALLOT_OK;
}

static void loop_close_any(uv_handle_t *handle, void *arg)
{
    net_loop_t *loop = arg;
    if (uv_is_closing(handle)) {
        return;
    }
    if (handle == (uv_handle_t *)&loop->check || handle == (uv_handle_t *)&loop->idle ||
        handle == (uv_handle_t *)&loop->sigint || handle == (uv_handle_t *)&loop->sigterm) {
        uv_close(handle, NULL);
        return;
    }
    const net_kind_t *kind = handle->data;
    switch (*kind) {
    case NET_KIND_CONN:
        uv_close(handle, net_conn_on_handle_closed);
        break;
    case NET_KIND_LISTENER:
        uv_close(handle, net_listener_on_handle_closed);
        break;
    case NET_KIND_DIALER:
        uv_close(handle, net_dialer_on_handle_closed);
        break;
    case NET_KIND_TIMER:
        uv_close(handle, net_timer_on_handle_closed);
        break;
    case NET_KIND_WAKEUP:
        uv_close(handle, net_wakeup_on_handle_closed);
        break;
    default:
        uv_close(handle, NULL);
        break;
    }
}

void net_loop_destroy(net_loop_t *loop)
{
    if (loop == NULL) {
        return;
    }
    loop->destroying = true;
    loop->hook = NULL;
    uv_walk(&loop->uv, loop_close_any, loop);
    /* Bounded: every handle is closing; each run completes a batch of close callbacks. */
    for (int round = 0; round < 64 && uv_loop_alive(&loop->uv); round++) {
        uv_run(&loop->uv, UV_RUN_NOWAIT);
    }
    int rc = uv_loop_close(&loop->uv);
    assert(rc == 0);
    (void)rc;
    free(loop->tls_raw);
    free(loop);
}

int net_loop_run(net_loop_t *loop)
{
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    return BALLOT_OK;
}

void net_loop_settle(net_loop_t *loop)
{
    /* uv_close callbacks run at the end of a pass; a second pass catches closes made by
     * those callbacks. */
    uv_run(&loop->uv, UV_RUN_NOWAIT);
    uv_run(&loop->uv, UV_RUN_NOWAIT);
}

void net_loop_stop(net_loop_t *loop)
{
    uv_stop(&loop->uv);
}

void net_loop_set_hook(net_loop_t *loop, net_hook_fn hook, void *user)
{
    loop->hook = hook;
    loop->hook_user = user;
}

uv_loop_t *net_loop_uv(net_loop_t *loop)
{
    return &loop->uv;
}

static void loop_signal_cb(uv_signal_t *sig, int signum)
{
    net_loop_t *loop = sig->data;
    if (loop->signal_fn != NULL) {
        loop->signal_fn(loop, signum, loop->signal_user);
    }
    net_loop_kick(loop);
}

int net_loop_on_signals(net_loop_t *loop, net_signal_fn fn, void *user)
{
    loop->signal_fn = fn;
    loop->signal_user = user;
    if (loop->signals_started) {
        return BALLOT_OK;
    }
    uv_signal_init(&loop->uv, &loop->sigint);
    uv_signal_init(&loop->uv, &loop->sigterm);
    loop->sigint.data = loop;
    loop->sigterm.data = loop;
    if (uv_signal_start(&loop->sigint, loop_signal_cb, SIGINT) != 0 ||
        uv_signal_start(&loop->sigterm, loop_signal_cb, SIGTERM) != 0) {
        return BALLOT_EINVAL;
    }
    /* Signal handles must not keep the loop alive on their own. */
    uv_unref((uv_handle_t *)&loop->sigint);
    uv_unref((uv_handle_t *)&loop->sigterm);
    loop->signals_started = true;
    return BALLOT_OK;
}

/* ---- timers ---- */

struct net_timer {
    net_kind_t kind;
    uv_timer_t timer;
    net_loop_t *loop;
    net_timer_fn fn;
    void *user;
};

static void timer_cb(uv_timer_t *t)
{
    net_timer_t *timer = t->data;
    timer->fn(timer, timer->user);
    net_loop_kick(timer->loop);
}

int net_timer_create(net_loop_t *loop, net_timer_fn fn, void *user, net_timer_t **out)
{
    net_timer_t *timer = calloc(1, sizeof(*timer));
    if (timer == NULL) {
        return BALLOT_ENOMEM;
    }
    timer->kind = NET_KIND_TIMER;
    timer->loop = loop;
    timer->fn = fn;
    timer->user = user;
    uv_timer_init(&loop->uv, &timer->timer);
    timer->timer.data = timer;
    *out = timer;
    return BALLOT_OK;
}

void net_timer_arm(net_timer_t *timer, uint64_t delay_ms)
{
    uv_timer_start(&timer->timer, timer_cb, delay_ms, 0);
}

void net_timer_disarm(net_timer_t *timer)
{
    uv_timer_stop(&timer->timer);
}

void net_timer_on_handle_closed(uv_handle_t *handle)
{
    free(handle->data);
}

void net_timer_destroy(net_timer_t *timer)
{
    if (timer != NULL) {
        uv_close((uv_handle_t *)&timer->timer, net_timer_on_handle_closed);
    }
}

/* ---- wakeups ---- */

struct net_wakeup {
    net_kind_t kind;
    uv_async_t async;
    net_loop_t *loop;
    net_wakeup_fn fn;
    void *user;
};

static void wakeup_cb(uv_async_t *async)
{
    net_wakeup_t *wakeup = async->data;
    wakeup->fn(wakeup, wakeup->user);
    net_loop_kick(wakeup->loop);
}

int net_wakeup_create(net_loop_t *loop, net_wakeup_fn fn, void *user, net_wakeup_t **out)
{
    net_wakeup_t *wakeup = calloc(1, sizeof(*wakeup));
    if (wakeup == NULL) {
        return BALLOT_ENOMEM;
    }
    wakeup->kind = NET_KIND_WAKEUP;
    wakeup->loop = loop;
    wakeup->fn = fn;
    wakeup->user = user;
    if (uv_async_init(&loop->uv, &wakeup->async, wakeup_cb) != 0) {
        free(wakeup);
        return BALLOT_ENOMEM;
    }
    wakeup->async.data = wakeup;
    *out = wakeup;
    return BALLOT_OK;
}

void net_wakeup_send(net_wakeup_t *wakeup)
{
    uv_async_send(&wakeup->async);
}

void net_wakeup_on_handle_closed(uv_handle_t *handle)
{
    free(handle->data);
}

void net_wakeup_destroy(net_wakeup_t *wakeup)
{
    if (wakeup != NULL) {
        uv_close((uv_handle_t *)&wakeup->async, net_wakeup_on_handle_closed);
    }
}
