/* ballot-bench-tls PORT [ROUND_TRIPS]: what TLS adds to one peer round trip. One process,
 * one libuv loop, src/net's own connections on 127.0.0.1:PORT: a dialler sends a 200-byte
 * message (about an Accept's size), the acceptor echoes it, ROUND_TRIPS times, first over
 * plain TCP, then over TLS 1.3 with pairwise keys (the peer links' setup), alternating in
 * blocks so that other load falls on both. Prints the median and 99th percentile round
 * trip of each, and the CPU time per round trip (docs/performance.md "Peer TLS"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/error.h"
#include "net/net.h"
#include "net/tls.h"

#define RTT_MESSAGE_BYTES 200u
#define RTT_BLOCKS        10u

typedef struct rtt {
    net_loop_t *loop;
    uint32_t want;
    uint32_t done;
    uint64_t sent_ns;
    uint64_t *samples;
    uint8_t message[RTT_MESSAGE_BYTES];
} rtt_t;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

static void echo_on_data(net_conn_t *conn, void *user)
{
    (void)user;
    size_t size = 0;
    const uint8_t *bytes = net_conn_data(conn, &size);
    net_conn_write(conn, bytes, size);
    net_conn_consume(conn, size);
}

static const net_conn_ops_t echo_ops = {.on_data = echo_on_data};

static void on_accept(net_listener_t *listener, net_conn_t *conn, void *user)
{
    (void)listener;
    (void)user;
    net_conn_set_ops(conn, &echo_ops, NULL);
}

static void dial_on_data(net_conn_t *conn, void *user)
{
    rtt_t *r = user;
    size_t size = 0;
    net_conn_data(conn, &size);
    if (size < RTT_MESSAGE_BYTES) {
        return;
    }
    net_conn_consume(conn, RTT_MESSAGE_BYTES);
    uint64_t t = now_ns();
    if (r->sent_ns != 0) {
        r->samples[r->done++] = t - r->sent_ns;
    }
    if (r->done >= r->want) {
        net_loop_stop(r->loop);
        return;
    }
    r->sent_ns = now_ns();
    net_conn_write(conn, r->message, sizeof(r->message));
}

static const net_conn_ops_t dial_ops = {.on_data = dial_on_data};

static void on_dial(net_dialer_t *dialer, net_conn_t *conn, void *user)
{
    (void)dialer;
    rtt_t *r = user;
    net_conn_set_ops(conn, &dial_ops, r);
    r->sent_ns = 0; /* the first echo (after any handshake) starts the clock */
    net_conn_write(conn, r->message, sizeof(r->message));
}

/* One block: a fresh connection (plain or TLS), `count` timed round trips. */
static int rtt_block(const net_addr_t *addr, net_tls_t *server, net_tls_t *client, uint32_t count,
                     uint64_t *samples, uint64_t *cpu)
{
    net_loop_t *loop = NULL;
    if (net_loop_create(&loop) != BALLOT_OK) {
        return 1;
    }
    net_conn_limits_t limits = {.read_bytes_max = 1u << 20, .write_bytes_max = 1u << 20};
    net_listener_t *listener = NULL;
    char msg[256];
    if (net_listen(loop, addr, &limits, on_accept, NULL, &listener, msg, sizeof(msg)) !=
        BALLOT_OK) {
        fprintf(stderr, "ballot-bench-tls: %s\n", msg);
        net_loop_destroy(loop);
        return 1;
    }
    net_listener_set_tls(listener, server);
    rtt_t r = {.loop = loop, .want = count, .samples = samples};
    memset(r.message, 'm', sizeof(r.message));
    net_dialer_config_t dc = {.addr = *addr,
                              .backoff_min_ms = 10,
                              .backoff_max_ms = 100,
                              .limits = limits,
                              .seed = 1,
                              .tls = client,
                              .tls_peer_id = 1};
    net_dialer_t *dialer = NULL;
    net_dialer_create(loop, &dc, on_dial, &r, &dialer);
    uint64_t c0 = cpu_ns();
    net_loop_run(loop);
    *cpu += cpu_ns() - c0;
    net_dialer_destroy(dialer);
    net_listener_close(listener);
    net_loop_settle(loop);
    net_loop_destroy(loop);
    return r.done == count ? 0 : 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *samples, uint32_t n, uint64_t cpu)
{
    qsort(samples, n, sizeof(samples[0]), cmp_u64);
    printf("%-6s round trip p50 %6.1f us   p99 %6.1f us   CPU %5.1f us per round trip (%u "
           "round trips of %u bytes)\n",
           what, (double)samples[n / 2] / 1000.0, (double)samples[n * 99 / 100] / 1000.0,
           (double)cpu / 1000.0 / n, n, RTT_MESSAGE_BYTES);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ballot-bench-tls PORT [ROUND_TRIPS]\n");
        return 2;
    }
    uint32_t total = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 20000u;
    uint32_t per_block = total / RTT_BLOCKS;
    if (per_block == 0) {
        per_block = 1;
    }
    net_addr_t addr;
    char text[64];
    char msg[256];
    snprintf(text, sizeof(text), "127.0.0.1:%s", argv[1]);
    if (net_addr_parse(text, &addr, msg, sizeof(msg)) != BALLOT_OK) {
        fprintf(stderr, "ballot-bench-tls: %s\n", msg);
        return 2;
    }
    uint8_t master[32];
    for (size_t i = 0; i < sizeof(master); i++) {
        master[i] = (uint8_t)(i * 7u + 1u);
    }
    net_peer_keys_t k1 = {.node_id = 1, .node_count = 3};
    net_peer_keys_t k2 = {.node_id = 2, .node_count = 3};
    k1.have[2] = true;
    k2.have[1] = true;
    net_peer_key_derive(master, sizeof(master), 1, 2, k1.key[2]);
    net_peer_key_derive(master, sizeof(master), 1, 2, k2.key[1]);
    net_tls_t *server = NULL;
    net_tls_t *client = NULL;
    if (net_tls_peer_psk(&k1, &server, msg, sizeof(msg)) != BALLOT_OK ||
        net_tls_peer_psk(&k2, &client, msg, sizeof(msg)) != BALLOT_OK) {
        fprintf(stderr, "ballot-bench-tls: %s\n", msg);
        return 1;
    }
    uint64_t *plain = calloc((size_t)per_block * RTT_BLOCKS, sizeof(uint64_t));
    uint64_t *tls = calloc((size_t)per_block * RTT_BLOCKS, sizeof(uint64_t));
    uint64_t cpu_plain = 0;
    uint64_t cpu_tls = 0;
    int rc = plain == NULL || tls == NULL;
    for (uint32_t b = 0; b < RTT_BLOCKS && rc == 0; b++) {
        rc |= rtt_block(&addr, NULL, NULL, per_block, plain + (size_t)b * per_block, &cpu_plain);
        rc |= rtt_block(&addr, server, client, per_block, tls + (size_t)b * per_block, &cpu_tls);
    }
    if (rc == 0) {
        report("plain", plain, per_block * RTT_BLOCKS, cpu_plain);
        report("TLS", tls, per_block * RTT_BLOCKS, cpu_tls);
    } else {
        fprintf(stderr, "ballot-bench-tls: a block did not finish\n");
    }
    free(plain);
    free(tls);
    net_tls_free(server);
    net_tls_free(client);
    return rc;
}
