/* `ballot keygen [--nodes N] --out DIR`: a fresh random cluster master secret, and from it
 * one key file per possible member id (DIR/node1.key .. node15.key, mode 0600), each holding
 * only the pairwise keys of that node with every other id (src/net/tls.h; docs/security.md
 * "Peer keys"). The founding nodes take node1..nodeN.key; the others wait for nodes added
 * later (`ballot member add`), which then hold keys their peers already have. The master
 * secret itself is not kept: no file can speak for more than one node. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "client/keygen.h"
#include "core/error.h"
#include "net/tls.h"

#define KEYGEN_MASTER_BYTES 32u
#define KEYGEN_PATH_BYTES   1100u
#define KEYGEN_IDS          NET_PEER_KEY_NODES_MAX

static int keygen_usage(FILE *out, int status)
{
    fprintf(out,
            "usage: ballot keygen [--nodes N] --out DIR\n"
            "  writes DIR/node1.key .. DIR/node%u.key (mode 0600) for ballotd "
            "--peer-key-file:\n"
            "  one per possible member id, each with its keys for every other id, so that\n"
            "  nodes added later (ballot member add) have theirs; N (1..%u) is the founding\n"
            "  count it reports. DIR is created if missing; existing key files are kept\n"
            "  (the command fails instead of overwriting them)\n",
            KEYGEN_IDS, KEYGEN_IDS);
    return status;
}

int keygen_main(int argc, char **argv)
{
    unsigned long nodes = 3;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            return keygen_usage(stdout, 0);
        } else if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc) {
            char *end = NULL;
            nodes = strtoul(argv[++i], &end, 10);
            if (*end != '\0') {
                nodes = 0;
            }
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else {
            fprintf(stderr, "ballot keygen: unexpected argument '%s'\n", argv[i]);
            return keygen_usage(stderr, 2);
        }
    }
    if (nodes < 1 || nodes > KEYGEN_IDS || dir == NULL || dir[0] == '\0' ||
        strlen(dir) > KEYGEN_PATH_BYTES - 32) {
        fprintf(stderr, "ballot keygen: --nodes must be 1..%u and --out a directory\n", KEYGEN_IDS);
        return keygen_usage(stderr, 2);
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "ballot keygen: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    for (unsigned long id = 1; id <= KEYGEN_IDS; id++) {
        char path[KEYGEN_PATH_BYTES];
        snprintf(path, sizeof(path), "%s/node%lu.key", dir, id);
        struct stat st;
        if (stat(path, &st) == 0) {
            fprintf(stderr, "ballot keygen: %s exists; remove the old key files first\n", path);
            return 1;
        }
    }
    uint8_t master[KEYGEN_MASTER_BYTES];
    if (RAND_priv_bytes(master, sizeof(master)) != 1) {
        fprintf(stderr, "ballot keygen: no randomness available\n");
        return 1;
    }
    int status = 0;
    for (unsigned long id = 1; id <= KEYGEN_IDS && status == 0; id++) {
        char path[KEYGEN_PATH_BYTES];
        char msg[KEYGEN_PATH_BYTES + 128];
        snprintf(path, sizeof(path), "%s/node%lu.key", dir, id);
        if (net_peer_keys_write(path, master, sizeof(master), (uint32_t)id, KEYGEN_IDS, msg,
                                sizeof(msg)) != BALLOT_OK) {
            fprintf(stderr, "ballot keygen: %s\n", msg);
            status = 1;
        }
    }
    OPENSSL_cleanse(master, sizeof(master));
    if (status == 0) {
        printf("wrote %s/node1.key .. node%u.key: give node N --peer-key-file %s/nodeN.key "
               "(nodes 1..%lu found the cluster; the other files are for nodes added later)\n",
               dir, KEYGEN_IDS, dir, nodes);
    }
    return status;
}
