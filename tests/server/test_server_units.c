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
#include "net/tls.h"
#include "server/server_internal.h"

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

static void config_join(void **state)
{
    (void)state;
    static server_config_t cfg;
    char err[CONFIG_ERROR_BYTES];
    config_result_t rc =
        parse(&cfg, err, "--id", "9", "--data-dir", "/tmp/x", "--client", "127.0.0.1:6389",
              "--peer", "127.0.0.1:7389", "--join", "127.0.0.1:7381", "--peer-insecure", NULL);
    assert_int_equal(rc, CONFIG_OK);
    assert_true(cfg.join);
    assert_int_equal(cfg.node_count, 0);
    assert_int_equal(cfg.node.node_count, 0);
    assert_int_equal(cfg.join_addr.port, 7381);
    assert_true(cfg.peer_listen);
    /* --join excludes --peers, --bootstrap and --rejoin, and needs --peer and auth. */
    assert_int_equal(parse(&cfg, err, "--id", "4", "--data-dir", "/tmp/x", "--client",
                           "127.0.0.1:1", "--peer", "127.0.0.1:2", "--join", "127.0.0.1:3",
                           "--peers", "1=127.0.0.1:3", "--peer-insecure", NULL),
                     CONFIG_ERROR);
    assert_non_null(strstr(err, "--peers"));
    assert_int_equal(parse(&cfg, err, "--id", "4", "--data-dir", "/tmp/x", "--client",
                           "127.0.0.1:1", "--join", "127.0.0.1:3", "--peer-insecure", NULL),
                     CONFIG_ERROR);
    assert_non_null(strstr(err, "--peer HOST:PORT"));
    assert_int_equal(parse(&cfg, err, "--id", "4", "--data-dir", "/tmp/x", "--client",
                           "127.0.0.1:1", "--peer", "127.0.0.1:2", "--join", "127.0.0.1:3",
                           "--bootstrap", "--peer-insecure", NULL),
                     CONFIG_ERROR);
    assert_non_null(strstr(err, "--bootstrap"));
    assert_int_equal(parse(&cfg, err, "--id", "4", "--data-dir", "/tmp/x", "--client",
                           "127.0.0.1:1", "--peer", "127.0.0.1:2", "--join", "127.0.0.1:3", NULL),
                     CONFIG_ERROR);
    assert_non_null(strstr(err, "authenticate"));
    /* One founding node listens for peers only with --peer and peer authentication. */
    assert_int_equal(parse(&cfg, err, "--id", "1", "--data-dir", "/tmp/x", "--client",
                           "127.0.0.1:1", "--peer", "127.0.0.1:2", "--peer-insecure", NULL),
                     CONFIG_OK);
    assert_true(cfg.peer_listen);
    assert_int_equal(
        parse(&cfg, err, "--id", "1", "--data-dir", "/tmp/x", "--client", "127.0.0.1:1", NULL),
        CONFIG_OK);
    assert_false(cfg.peer_listen);
}

static void snapshot_header_roundtrip(void **state)
{
    (void)state;
    static config_state_t cs;
    static config_state_t back;
    membership_t m;
    membership_founding(&m, 3);
    snprintf(m.members[1].addr, sizeof(m.members[1].addr), "127.0.0.1:7382");
    config_state_init(&cs, &m);
    cs.applied_slot = 77;
    static uint8_t image[MEMBERS_SNAPSHOT_HEADER_MAX + 8];
    size_t n = members_snapshot_header(&cs, image, sizeof(image));
    assert_true(n > 16 && n <= MEMBERS_SNAPSHOT_HEADER_MAX);
    memcpy(image + n, "BKVSkv!!", 8);
    bool has = false;
    const uint8_t *kv = NULL;
    size_t kv_size = 0;
    char msg[128];
    assert_int_equal(
        members_snapshot_split(image, n + 8, &back, &has, &kv, &kv_size, msg, sizeof(msg)),
        BALLOT_OK);
    assert_true(has);
    assert_int_equal(kv_size, 8);
    assert_memory_equal(kv, "BKVSkv!!", 8);
    assert_int_equal(back.applied_slot, 77);
    assert_int_equal(back.current.count, 3);
    assert_string_equal(back.current.members[1].addr, "127.0.0.1:7382");
    /* A kv image alone passes through untouched: the founding membership. */
    static const uint8_t kv_only[] = {0x42, 0x4b, 0x56, 0x53, 1, 0, 0, 0};
    assert_int_equal(members_snapshot_split(kv_only, sizeof(kv_only), &back, &has, &kv, &kv_size,
                                            msg, sizeof(msg)),
                     BALLOT_OK);
    assert_false(has);
    assert_ptr_equal(kv, kv_only);
    /* Any damaged byte of the header, or a cut, is refused. */
    for (size_t i = 4; i < n; i++) {
        image[i] ^= 0x20;
        assert_int_equal(
            members_snapshot_split(image, n + 8, &back, &has, &kv, &kv_size, msg, sizeof(msg)),
            BALLOT_ECORRUPT);
        image[i] ^= 0x20;
    }
    for (size_t cut = 4; cut < n; cut++) {
        assert_int_equal(
            members_snapshot_split(image, cut, &back, &has, &kv, &kv_size, msg, sizeof(msg)),
            BALLOT_ECORRUPT);
    }
}

/* Key files of `ballot keygen` hold keys for every id, so nodes can be added; an older file
 * for a 3-node cluster still serves its founders but names no key for id 4. */
static void peer_keys_for_every_id(void **state)
{
    (void)state;
    char dir[] = "/tmp/ballot-keys-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    char old[64];
    snprintf(path, sizeof(path), "%s/node4.key", dir);
    snprintf(old, sizeof(old), "%s/node2.key", dir);
    uint8_t master[32] = {7};
    char msg[256];
    assert_int_equal(net_peer_keys_write(path, master, sizeof(master), 4, NET_PEER_KEY_NODES_MAX,
                                         msg, sizeof(msg)),
                     BALLOT_OK);
    assert_int_equal(net_peer_keys_write(old, master, sizeof(master), 2, 3, msg, sizeof(msg)),
                     BALLOT_OK);
    static net_peer_keys_t keys;
    /* A joining node (no founding count) and a founder of 3 both read the new file. */
    assert_int_equal(net_peer_keys_read(path, 4, 0, &keys, msg, sizeof(msg)), BALLOT_OK);
    assert_true(keys.have[1] && keys.have[15] && !keys.have[4]);
    uint8_t k415[NET_PEER_KEY_BYTES];
    net_peer_key_derive(master, sizeof(master), 15, 4, k415);
    assert_memory_equal(keys.key[15], k415, sizeof(k415));
    assert_int_equal(net_peer_keys_read(path, 4, 3, &keys, msg, sizeof(msg)), BALLOT_OK);
    assert_int_equal(net_peer_keys_read(old, 2, 3, &keys, msg, sizeof(msg)), BALLOT_OK);
    assert_false(keys.have[4]);
    assert_int_not_equal(net_peer_keys_read(old, 2, 5, &keys, msg, sizeof(msg)), BALLOT_OK);
    assert_non_null(strstr(msg, "3-node cluster"));
    unlink(path);
    unlink(old);
    rmdir(dir);
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
        cmocka_unit_test(config_three_nodes),
        cmocka_unit_test(config_own_peer_outside_list),
        cmocka_unit_test(config_errors),
        cmocka_unit_test(config_file_then_flags),
        cmocka_unit_test(config_join),
        cmocka_unit_test(snapshot_header_roundtrip),
        cmocka_unit_test(peer_keys_for_every_id),
        cmocka_unit_test(idmap_put_get_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
