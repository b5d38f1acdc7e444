/* src/net on loopback: echo through a listener and a dialer, reconnect after the server
 * drops the link, a reader that stops reading is cut off at the write bound, a wakeup from
 * another thread, pause/resume re-delivery. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/net.h"

#define TEST_PORT_TRIES  50
#define TEST_DEADLINE_MS 10000u

typedef struct fixture {
    net_loop_t *loop;
    net_listener_t *listener;
    net_dialer_t *dialer;
    net_timer_t *deadline;
    net_conn_t *server_conn;
    bool server_pauses;
    int dials;
    int echoes;
    int closes_write_bound;
    int wakeups;
    bool done;
    char received[64];
} fixture_t;

static const net_conn_limits_t small_limits = {.read_bytes_max = 64 * 1024,
                                               .write_bytes_max = 64 * 1024};

static void server_on_data(net_conn_t *conn, void *user)
{
    fixture_t *f = user;
    if (f->server_pauses) {
        net_conn_pause(conn);
        return;
    }
    size_t size = 0;
    const uint8_t *bytes = net_conn_data(conn, &size);
    net_conn_write(conn, bytes, size);
    net_conn_consume(conn, size);
}

static void server_on_close(net_conn_t *conn, void *user, net_close_reason_t reason, int err)
{
    (void)reason;
    (void)err;
    fixture_t *f = user;
    if (f->server_conn == conn) {
        f->server_conn = NULL;
    }
}

static const net_conn_ops_t server_ops = {.on_data = server_on_data, .on_close = server_on_close};

static void on_accept(net_listener_t *l, net_conn_t *conn, void *user)
{
    (void)l;
    fixture_t *f = user;
    f->server_conn = conn;
    net_conn_set_ops(conn, &server_ops, f);
}

static void client_on_data(net_conn_t *conn, void *user)
{
    fixture_t *f = user;
    size_t size = 0;
    const uint8_t *bytes = net_conn_data(conn, &size);
    if (size < 5) {
        return;
    }
    memcpy(f->received, bytes, 5);
    net_conn_consume(conn, size);
    f->echoes++;
    if (f->echoes == 1) {
        net_conn_close(f->server_conn); /* the dialer must reconnect */
    } else {
        f->done = true;
        net_loop_stop(f->loop);
    }
    (void)conn;
}

static void client_on_close(net_conn_t *conn, void *user, net_close_reason_t reason, int err)
{
    (void)conn;
    (void)err;
    fixture_t *f = user;
    if (reason == NET_CLOSE_WRITE_BOUND) {
        f->closes_write_bound++;
        f->done = true;
        net_loop_stop(f->loop);
    }
}

static const net_conn_ops_t client_ops = {.on_data = client_on_data, .on_close = client_on_close};

static void on_dial_echo(net_dialer_t *d, net_conn_t *conn, void *user)
{
    (void)d;
    fixture_t *f = user;
    f->dials++;
    net_conn_set_ops(conn, &client_ops, f);
    net_conn_write(conn, "hello", 5);
}

static void on_dial_flood(net_dialer_t *d, net_conn_t *conn, void *user)
{
    (void)d;
    fixture_t *f = user;
    f->dials++;
    net_conn_set_ops(conn, &client_ops, f);
    static uint8_t chunk[16 * 1024];
    /* Bounded: the write bound (64 KiB) stops this after a few chunks. */
    for (int i = 0; i < 1024 && net_conn_write(conn, chunk, sizeof(chunk)); i++) {
    }
}

static void on_deadline(net_timer_t *t, void *user)
{
    (void)t;
    fixture_t *f = user;
    net_loop_stop(f->loop);
}

static void fixture_start(fixture_t *f, net_dial_fn dial)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(net_loop_create(&f->loop), 0);
    net_addr_t addr;
    char msg[256];
    int rc = -1;
    for (int i = 0; i < TEST_PORT_TRIES && rc != 0; i++) {
        char text[64];
        snprintf(text, sizeof(text), "127.0.0.1:%d", 33000 + rand() % 20000);
        assert_int_equal(net_addr_parse(text, &addr, msg, sizeof(msg)), 0);
        rc =
            net_listen(f->loop, &addr, &small_limits, on_accept, f, &f->listener, msg, sizeof(msg));
    }
    assert_int_equal(rc, 0);
    net_dialer_config_t dc = {
        .addr = addr, .backoff_min_ms = 10, .backoff_max_ms = 100, .limits = small_limits};
    assert_int_equal(net_dialer_create(f->loop, &dc, dial, f, &f->dialer), 0);
    assert_int_equal(net_timer_create(f->loop, on_deadline, f, &f->deadline), 0);
    net_timer_arm(f->deadline, TEST_DEADLINE_MS);
}

static void fixture_stop(fixture_t *f)
{
    net_dialer_destroy(f->dialer);
    net_listener_close(f->listener);
    net_timer_destroy(f->deadline);
    net_loop_destroy(f->loop);
}

static void echo_and_reconnect(void **state)
{
    (void)state;
    fixture_t f;
    fixture_start(&f, on_dial_echo);
    net_loop_run(f.loop);
    assert_true(f.done);
    assert_int_equal(f.echoes, 2);
    assert_int_equal(f.dials, 2);
    assert_memory_equal(f.received, "hello", 5);
    fixture_stop(&f);
}

static void slow_reader_is_cut_off(void **state)
{
    (void)state;
    fixture_t f;
    fixture_start(&f, on_dial_flood);
    f.server_pauses = true;
    net_loop_run(f.loop);
    assert_true(f.done);
    assert_int_equal(f.closes_write_bound, 1);
    fixture_stop(&f);
}

static void on_wakeup(net_wakeup_t *w, void *user)
{
    (void)w;
    fixture_t *f = user;
    f->wakeups++;
    net_loop_stop(f->loop);
}

static void *wake_thread(void *arg)
{
    usleep(20000);
    net_wakeup_send(arg);
    return NULL;
}

static void wakeup_from_thread(void **state)
{
    (void)state;
    fixture_t f;
    memset(&f, 0, sizeof(f));
    assert_int_equal(net_loop_create(&f.loop), 0);
    net_wakeup_t *w = NULL;
    assert_int_equal(net_wakeup_create(f.loop, on_wakeup, &f, &w), 0);
    assert_int_equal(net_timer_create(f.loop, on_deadline, &f, &f.deadline), 0);
    net_timer_arm(f.deadline, TEST_DEADLINE_MS);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wake_thread, w), 0);
    net_loop_run(f.loop);
    pthread_join(t, NULL);
    assert_int_equal(f.wakeups, 1);
    net_wakeup_destroy(w);
    net_timer_destroy(f.deadline);
    net_loop_destroy(f.loop);
}

static void addr_parsing(void **state)
{
    (void)state;
    net_addr_t a;
    char msg[256];
    assert_int_equal(net_addr_parse("127.0.0.1:6381", &a, msg, sizeof(msg)), 0);
    assert_int_equal(a.port, 6381);
    assert_int_equal(net_addr_parse("[::1]:7000", &a, msg, sizeof(msg)), 0);
    assert_string_equal(a.host, "::1");
    assert_int_not_equal(net_addr_parse("127.0.0.1", &a, msg, sizeof(msg)), 0);
    assert_int_not_equal(net_addr_parse("127.0.0.1:0", &a, msg, sizeof(msg)), 0);
    assert_int_not_equal(net_addr_parse("127.0.0.1:65536", &a, msg, sizeof(msg)), 0);
    assert_int_not_equal(net_addr_parse(":80", &a, msg, sizeof(msg)), 0);
}

int main(void)
{
    srand((unsigned)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addr_parsing),
        cmocka_unit_test(echo_and_reconnect),
        cmocka_unit_test(slow_reader_is_cut_off),
        cmocka_unit_test(wakeup_from_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
