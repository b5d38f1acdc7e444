/* Peer key files (src/net/peerkeys.c): derivation, a written file reads back, and every
 * kind of bad file is refused with a message naming the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "net/tls.h"

static const uint8_t master[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/ballot-peerkeys-XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void derive_is_symmetric_and_pairwise(void **state)
{
    (void)state;
    uint8_t a[NET_PEER_KEY_BYTES];
    uint8_t b[NET_PEER_KEY_BYTES];
    uint8_t c[NET_PEER_KEY_BYTES];
    assert_int_equal(net_peer_key_derive(master, sizeof(master), 1, 2, a), BALLOT_OK);
    assert_int_equal(net_peer_key_derive(master, sizeof(master), 2, 1, b), BALLOT_OK);
    assert_memory_equal(a, b, sizeof(a));
    assert_int_equal(net_peer_key_derive(master, sizeof(master), 1, 3, c), BALLOT_OK);
    assert_memory_not_equal(a, c, sizeof(a));
}

static void write_then_read(void **state)
{
    (void)state;
    char path[128];
    char msg[256];
    snprintf(path, sizeof(path), "%s/node2.key", dir);
    assert_int_equal(net_peer_keys_write(path, master, sizeof(master), 2, 3, msg, sizeof(msg)),
                     BALLOT_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Never overwritten. */
    assert_int_not_equal(net_peer_keys_write(path, master, sizeof(master), 2, 3, msg, sizeof(msg)),
                         BALLOT_OK);
    net_peer_keys_t keys;
    assert_int_equal(net_peer_keys_read(path, 2, 3, &keys, msg, sizeof(msg)), BALLOT_OK);
    assert_int_equal(keys.node_id, 2);
    assert_true(keys.have[1] && keys.have[3] && !keys.have[2]);
    uint8_t k12[NET_PEER_KEY_BYTES];
    net_peer_key_derive(master, sizeof(master), 1, 2, k12);
    assert_memory_equal(keys.key[1], k12, sizeof(k12));
    /* Node 2's file is not node 3's, nor a 5-node cluster's. */
    assert_int_not_equal(net_peer_keys_read(path, 3, 3, &keys, msg, sizeof(msg)), BALLOT_OK);
    assert_non_null(strstr(msg, "node 2's key file"));
    assert_int_not_equal(net_peer_keys_read(path, 2, 5, &keys, msg, sizeof(msg)), BALLOT_OK);
    assert_non_null(strstr(msg, "3-node cluster"));
}

static void expect_refused(const char *text, mode_t mode, const char *needle)
{
    char path[128];
    char msg[256];
    snprintf(path, sizeof(path), "%s/bad.key", dir);
    unlink(path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
    net_peer_keys_t keys;
    assert_int_not_equal(net_peer_keys_read(path, 1, 3, &keys, msg, sizeof(msg)), BALLOT_OK);
    if (strstr(msg, needle) == NULL) {
        fail_msg("'%s' not in '%s'", needle, msg);
    }
}

#define HEX64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void bad_files_refused(void **state)
{
    (void)state;
    const char *good = "ballot-peer-keys 1\nnode 1\nnodes 3\npair 2 " HEX64 "\npair 3 " HEX64 "\n";
    expect_refused(good, 0644, "chmod 600");
    expect_refused("", 0600, "empty");
    expect_refused("hello\n", 0600, "not a Ballot peer key file");
    expect_refused("ballot-peer-keys 1\nnode 1\nnodes 3\npair 2 " HEX64 "\n", 0600,
                   "no key for the pair with node 3");
    expect_refused("ballot-peer-keys 1\nnode 1\nnodes 3\npair 2 " HEX64 "\npair 2 " HEX64 "\n",
                   0600, "named twice");
    expect_refused("ballot-peer-keys 1\nnode 1\nnodes 3\npair 1 " HEX64 "\n", 0600,
                   "not another node");
    expect_refused("ballot-peer-keys 1\nnode 1\nnodes 3\npair 2 0011\npair 3 " HEX64 "\n", 0600,
                   "hexadecimal");
    expect_refused("ballot-peer-keys 1\nnode 1\nnodes 3\npair 2 " HEX64 "x\n", 0600, "hexadecimal");
    expect_refused("ballot-peer-keys 1\nnode 1\npair 2 " HEX64 "\npair 3 " HEX64 "\n", 0600,
                   "incomplete");
    expect_refused("ballot-peer-keys 1\nnode 1\nnodes 3\nextra\n", 0600, "unexpected line");
    char big[NET_PEER_KEY_FILE_BYTES_MAX + 16];
    memset(big, '#', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    expect_refused(big, 0600, "larger than");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(derive_is_symmetric_and_pairwise),
        cmocka_unit_test(write_then_read),
        cmocka_unit_test(bad_files_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
