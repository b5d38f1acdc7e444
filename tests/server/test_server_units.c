/* Unit tests of ballotd's parts that need no cluster: configuration parsing, the id map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/config.h"
#include "server/idmap.h"

#define ARGV_MAX 32

static config_result_t parse(server_config_t *cfg, char *err, const char *first, ...)
{
    char *argv[ARGV_MAX];
    int argc = 0;
    argv[argc++] = "ballotd";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a != NULL && argc < ARGV_MAX; a = va_arg(ap, const char *)) {
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    return config_parse(cfg, argc, argv, err, CONFIG_ERROR_BYTES);
}

static void config_three_nodes(void **state)
{
    (void)state;
    static server_config_t cfg;
    char err[CONFIG_ERROR_BYTES];
    config_result_t rc =
        parse(&cfg, err, "--id", "2", "--data-dir", "/tmp/x", "--client", "127.0.0.1:6382",
              "--peers", "1=127.0.0.1:7381,2=127.0.0.1:7382,3=127.0.0.1:7383", "--lease-ms", "300",
              "--cluster-id", "0x10", "--rejoin", "--peer-insecure", NULL);
    assert_int_equal(rc, CONFIG_OK);
    assert_int_equal(cfg.id, 2);
    assert_int_equal(cfg.node_count, 3);
    assert_int_equal(cfg.peer_addr.port, 7382);
    assert_int_equal(cfg.node.lease_ms, 300);
    assert_int_equal(cfg.node.id, 2);
    assert_int_equal(cfg.cluster_id, 16);
    assert_true(cfg.rejoin);
    assert_true(cfg.node.heartbeat_ms > 0);
}

static void config_own_peer_outside_list(void **state)
{
    (void)state;
    static server_config_t cfg;
    char err[CONFIG_ERROR_BYTES];
    config_result_t rc = parse(&cfg, err, "--id", "3", "--data-dir", "/tmp/x", "--client",
                               "127.0.0.1:6383", "--peer", "127.0.0.1:7383", "--peers",
                               "1=127.0.0.1:7381,2=127.0.0.1:7382", "--peer-insecure", NULL);
    assert_int_equal(rc, CONFIG_OK);
    assert_int_equal(cfg.node_count, 3);
    assert_int_equal(cfg.peers[3].port, 7383);
}

static void config_errors(void **state)
{
    (void)state;
    static server_config_t cfg;
    char err[CONFIG_ERROR_BYTES];
    assert_int_equal(parse(&cfg, err, "--data-dir", "/tmp/x", NULL), CONFIG_ERROR);
    assert_non_null(strstr(err, "--id"));
    assert_int_equal(parse(&cfg, err, "--id", "1", "--data-dir", "/tmp/x", "--client",
                           "127.0.0.1:1", "--window-slots", "0", NULL),
                     CONFIG_ERROR);
    assert_non_null(strstr(err, "--window-slots"));
    assert_int_equal(parse(&cfg, err, "--id", "1", "--data-dir", "/tmp/x", "--client",
                           "127.0.0.1:1", "--peers", "1=127.0.0.1:2,2=127.0.0.1:3", NULL),
                     CONFIG_ERROR);
    assert_non_null(strstr(err, "1, 3, 5 or 7"));
    assert_int_equal(parse(&cfg, err, "--id", "1", "--data-dir", "/tmp/x", "--client",
                           "127.0.0.1:1", "--peer", "127.0.0.1:9", "--peers",
                           "1=127.0.0.1:2,2=127.0.0.1:3,3=127.0.0.1:4", NULL),
                     CONFIG_ERROR);
    assert_non_null(strstr(err, "differs"));
    assert_int_equal(parse(&cfg, err, "--help", NULL), CONFIG_HELP);
}

static void config_file_then_flags(void **state)
{
    (void)state;
    char path[] = "/tmp/ballot-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# a node\n id = 1 \ndata-dir = /tmp/from-file\nclient = 127.0.0.1:6390\n"
                       "lease-ms = 400\nrejoin = yes\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    static server_config_t cfg;
    char err[CONFIG_ERROR_BYTES];
    config_result_t rc = parse(&cfg, err, "--lease-ms", "350", "--config", path, NULL);
    unlink(path);
    assert_int_equal(rc, CONFIG_OK);
    assert_string_equal(cfg.data_dir, "/tmp/from-file");
    assert_int_equal(cfg.node.lease_ms, 350); /* the flag wins over the file */
    assert_true(cfg.rejoin);
}

static void idmap_put_get_remove(void **state)
{
    (void)state;
    idmap_t map;
    idmap_init(&map);
    const uint64_t count = 5000;
    for (uint64_t k = 1; k <= count; k++) {
        assert_true(idmap_put(&map, k * 7919u, k));
    }
    assert_int_equal(map.count, count);
    for (uint64_t k = 1; k <= count; k += 2) {
        assert_true(idmap_remove(&map, k * 7919u));
    }
    assert_false(idmap_remove(&map, 7919u));
    for (uint64_t k = 1; k <= count; k++) {
        uint64_t v = 0;
        bool found = idmap_get(&map, k * 7919u, &v);
        assert_int_equal(found, k % 2 == 0);
        if (found) {
            assert_int_equal(v, k);
        }
    }
    assert_true(idmap_put(&map, 2u * 7919u, 99));
    uint64_t v = 0;
    assert_true(idmap_get(&map, 2u * 7919u, &v));
    assert_int_equal(v, 99);
    idmap_free(&map);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_three_nodes),   cmocka_unit_test(config_own_peer_outside_list),
        cmocka_unit_test(config_errors),        cmocka_unit_test(config_file_then_flags),
        cmocka_unit_test(idmap_put_get_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
