/* Peer key files: pairwise keys derived from a cluster master secret (tls.h; the format is
 * in docs/security.md "Peer keys"). A file holds only the keys of the pairs its node is
 * part of, so it cannot prove any other node's identity. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/fail.h"
#include "core/error.h"
#include "net/tls.h"

#define PEERKEYS_LABEL      "ballot peer"
#define PEERKEYS_LINE_BYTES 160u

int net_peer_key_derive(const uint8_t *master, size_t master_bytes, uint32_t i, uint32_t j,
                        uint8_t out[NET_PEER_KEY_BYTES])
{
    uint32_t lo = i < j ? i : j;
    uint32_t hi = i < j ? j : i;
    uint8_t data[sizeof(PEERKEYS_LABEL) - 1 + 8];
    memcpy(data, PEERKEYS_LABEL, sizeof(PEERKEYS_LABEL) - 1);
    uint8_t *p = data + sizeof(PEERKEYS_LABEL) - 1;
    for (int k = 0; k < 4; k++) {
        p[k] = (uint8_t)(lo >> (24 - 8 * k));
        p[4 + k] = (uint8_t)(hi >> (24 - 8 * k));
    }
    unsigned int len = 0;
    if (master_bytes > INT32_MAX ||
        HMAC(EVP_sha256(), master, (int)master_bytes, data, sizeof(data), out, &len) == NULL ||
        len != NET_PEER_KEY_BYTES) {
        return BALLOT_EINVAL;
    }
    return BALLOT_OK;
}

int net_peer_keys_write(const char *path, const uint8_t *master, size_t master_bytes, uint32_t id,
                        uint32_t node_count, char *msg, size_t msg_bytes)
{
    char text[NET_PEER_KEY_FILE_BYTES_MAX];
    int used = snprintf(text, sizeof(text),
                        "# Ballot peer keys of node %u (docs/security.md). Secret: keep it mode "
                        "0600.\n%s\nnode %u\nnodes %u\n",
                        id, NET_PEER_KEY_FILE_MAGIC, id, node_count);
    for (uint32_t j = 1; j <= node_count; j++) {
        if (j == id) {
            continue;
        }
        uint8_t key[NET_PEER_KEY_BYTES];
        if (net_peer_key_derive(master, master_bytes, id, j, key) != BALLOT_OK) {
            return ballot_fail(BALLOT_EINVAL, msg, msg_bytes, "cannot derive a key");
        }
        used += snprintf(text + used, sizeof(text) - (size_t)used, "pair %u ", j);
        for (size_t k = 0; k < sizeof(key); k++) {
            used += snprintf(text + used, sizeof(text) - (size_t)used, "%02x", key[k]);
        }
        used += snprintf(text + used, sizeof(text) - (size_t)used, "\n");
        OPENSSL_cleanse(key, sizeof(key));
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        OPENSSL_cleanse(text, sizeof(text));
        return ballot_fail(BALLOT_EIO, msg, msg_bytes, "cannot create %s: %s", path,
                           strerror(errno));
    }
    ssize_t n = write(fd, text, (size_t)used);
    OPENSSL_cleanse(text, sizeof(text));
    if (n != used || fsync(fd) != 0) {
        int saved = errno;
        close(fd);
        return ballot_fail(BALLOT_EIO, msg, msg_bytes, "cannot write %s: %s", path,
                           strerror(saved));
    }
    close(fd);
    return BALLOT_OK;
}

static bool peerkeys_hex(const char *hex, uint8_t out[NET_PEER_KEY_BYTES])
{
    if (strlen(hex) != 2u * NET_PEER_KEY_BYTES) {
        return false;
    }
    for (size_t k = 0; k < NET_PEER_KEY_BYTES; k++) {
        unsigned v = 0;
        for (size_t h = 0; h < 2; h++) {
            char c = hex[2 * k + h];
            unsigned d;
            if (c >= '0' && c <= '9') {
                d = (unsigned)(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                d = (unsigned)(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                d = (unsigned)(c - 'A' + 10);
            } else {
                return false;
            }
            v = v * 16u + d;
        }
        out[k] = (uint8_t)v;
    }
    return true;
}

static int peerkeys_parse(char *text, const char *path, uint32_t id, uint32_t node_count,
                          net_peer_keys_t *out, char *msg, size_t msg_bytes)
{
    bool magic = false;
    uint32_t number = 0;
    char *save = NULL;
    /* Bounded by the file's size (NET_PEER_KEY_FILE_BYTES_MAX). */
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        number++;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\r') {
            line[--len] = '\0';
        }
        if (len == 0 || line[0] == '#') {
            continue;
        }
        unsigned a = 0;
        char hex[2 * NET_PEER_KEY_BYTES + 2];
        char tail = 0;
        if (!magic) {
            if (strcmp(line, NET_PEER_KEY_FILE_MAGIC) != 0) {
                return ballot_fail(BALLOT_EINVAL, msg, msg_bytes,
                                   "%s:%u: not a Ballot peer key file (expected '%s')", path,
                                   number, NET_PEER_KEY_FILE_MAGIC);
            }
            magic = true;
        } else if (sscanf(line, "node %u%c", &a, &tail) == 1) {
            if (a != id) {
                return ballot_fail(BALLOT_EINVAL, msg, msg_bytes,
                                   "%s is node %u's key file, this is node %u", path, a, id);
            }
            out->node_id = a;
        } else if (sscanf(line, "nodes %u%c", &a, &tail) == 1) {
            uint32_t need = node_count > id ? node_count : id;
            if (a < need || a > NET_PEER_KEY_NODES_MAX || out->node_count != 0) {
                return ballot_fail(BALLOT_EINVAL, msg, msg_bytes,
                                   "%s is for a %u-node cluster (keys for ids 1..%u); this node "
                                   "needs keys for ids 1..%u at least",
                                   path, a, a, need);
            }
            out->node_count = a;
        } else if (sscanf(line, "pair %u %65s%c", &a, hex, &tail) == 2) {
            if (a == 0 || a > NET_PEER_KEY_NODES_MAX || a == id || out->have[a]) {
                return ballot_fail(BALLOT_EINVAL, msg, msg_bytes,
                                   "%s:%u: pair %u is not another node, or named twice", path,
                                   number, a);
            }
            if (!peerkeys_hex(hex, out->key[a])) {
                return ballot_fail(BALLOT_EINVAL, msg, msg_bytes,
                                   "%s:%u: a key is %u hexadecimal digits", path, number,
                                   2u * NET_PEER_KEY_BYTES);
            }
            out->have[a] = true;
        } else {
            return ballot_fail(BALLOT_EINVAL, msg, msg_bytes, "%s:%u: unexpected line", path,
                               number);
        }
    }
    if (!magic || out->node_id == 0 || out->node_count == 0) {
        return ballot_fail(BALLOT_EINVAL, msg, msg_bytes,
                           "%s: incomplete (needs '%s', 'node N' and 'nodes N' lines)", path,
                           NET_PEER_KEY_FILE_MAGIC);
    }
    for (uint32_t j = out->node_count + 1; j <= NET_PEER_KEY_NODES_MAX; j++) {
        if (out->have[j]) {
            return ballot_fail(BALLOT_EINVAL, msg, msg_bytes,
                               "%s: pair %u is beyond its 'nodes %u' line", path, j,
                               out->node_count);
        }
    }
    for (uint32_t j = 1; j <= out->node_count; j++) {
        if (j != id && !out->have[j]) {
            return ballot_fail(BALLOT_EINVAL, msg, msg_bytes,
                               "%s: no key for the pair with node %u", path, j);
        }
    }
    return BALLOT_OK;
}

int net_peer_keys_read(const char *path, uint32_t id, uint32_t node_count, net_peer_keys_t *out,
                       char *msg, size_t msg_bytes)
{
    memset(out, 0, sizeof(*out));
    if (node_count > NET_PEER_KEY_NODES_MAX) {
        return ballot_fail(BALLOT_EINVAL, msg, msg_bytes, "too many nodes");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return ballot_fail(BALLOT_EIO, msg, msg_bytes, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ballot_fail(BALLOT_EINVAL, msg, msg_bytes, "%s is not a regular file", path);
    }
    if ((st.st_mode & 077) != 0) {
        close(fd);
        return ballot_fail(BALLOT_EINVAL, msg, msg_bytes,
                           "%s is readable by others (mode %03o): it is a secret; chmod 600 it",
                           path, (unsigned)(st.st_mode & 0777));
    }
    if (st.st_size <= 0 || (uint64_t)st.st_size >= NET_PEER_KEY_FILE_BYTES_MAX) {
        close(fd);
        return ballot_fail(BALLOT_EINVAL, msg, msg_bytes, "%s: empty or larger than %u bytes", path,
                           NET_PEER_KEY_FILE_BYTES_MAX);
    }
    char text[NET_PEER_KEY_FILE_BYTES_MAX];
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n != (ssize_t)st.st_size) {
        return ballot_fail(BALLOT_EIO, msg, msg_bytes, "cannot read %s", path);
    }
    text[n] = '\0';
    if (memchr(text, '\0', (size_t)n) != NULL) {
        OPENSSL_cleanse(text, sizeof(text));
        return ballot_fail(BALLOT_EINVAL, msg, msg_bytes, "%s: not a text file", path);
    }
    int rc = peerkeys_parse(text, path, id, node_count, out, msg, msg_bytes);
    OPENSSL_cleanse(text, sizeof(text));
    if (rc != BALLOT_OK) {
        OPENSSL_cleanse(out, sizeof(*out));
        memset(out, 0, sizeof(*out));
    }
    return rc;
}
