/* TLS under net_conn (OpenSSL with memory BIOs): the owner of a connection still reads and
 * writes plaintext through net_conn_data()/net_conn_write(); the bytes on the socket are
 * TLS records. Nothing is delivered to on_data before the handshake has passed, so a peer
 * that cannot prove who it is never gets a byte parsed. docs/security.md explains the
 * schemes; docs/operations.md the flags.
 *
 * Peer links are TLS 1.3 and mutually authenticated, with the authenticated node id bound
 * to the credential:
 *   - pairwise pre-shared keys (external PSK): node i's key file holds K(i,j) for every
 *     other node j, and the PSK identity names both ends, so a handshake proves which node
 *     is on the other side (net_peer_keys_* below);
 *   - X.509: both sides present a certificate from the cluster CA that names the node as
 *     "ballot-node-N" (a DNS subject alternative name, or the common name).
 * Client connections are TLS 1.2 or 1.3 with a server certificate, and client certificates
 * when a CA is given. */
#ifndef BALLOT_NET_TLS_H
#define BALLOT_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"

#define NET_PEER_KEY_BYTES      32u
#define NET_PEER_KEY_NODES_MAX  15u /* NODES_MAX of the core */
#define NET_PEER_KEY_FILE_MAGIC "ballot-peer-keys 1"
/* A key file is a few short lines; anything longer is not one. */
#define NET_PEER_KEY_FILE_BYTES_MAX 4096u
#define NET_TLS_ERROR_BYTES         200u
#define NET_TLS_NODE_NAME_PREFIX    "ballot-node-"

typedef struct net_tls net_tls_t;

/* ---- peer key files ---- */

typedef struct net_peer_keys {
    uint32_t node_id;
    uint32_t node_count;
    bool have[NET_PEER_KEY_NODES_MAX + 1];
    uint8_t key[NET_PEER_KEY_NODES_MAX + 1][NET_PEER_KEY_BYTES]; /* K(node_id, j) by j */
} net_peer_keys_t;

/* K(i,j) = HMAC-SHA256(master, "ballot peer" || u32be(min(i,j)) || u32be(max(i,j))). */
int net_peer_key_derive(const uint8_t *master, size_t master_bytes, uint32_t i, uint32_t j,
                        uint8_t out[NET_PEER_KEY_BYTES]);
/* Writes node `id`'s key file (mode 0600, created new: an existing file is an error). */
int net_peer_keys_write(const char *path, const uint8_t *master, size_t master_bytes, uint32_t id,
                        uint32_t node_count, char *msg, size_t msg_bytes);
/* Reads and checks a key file: the format, mode 0600 or stricter, and that it is node
 * `id`'s file with a key for every other node of its `nodes` line, which must be at least
 * node_count (the founding nodes; 0 for a node that joins). Files of `ballot keygen` hold
 * keys for every id 1..NET_PEER_KEY_NODES_MAX, so that members can be added later. */
int net_peer_keys_read(const char *path, uint32_t id, uint32_t node_count, net_peer_keys_t *out,
                       char *msg, size_t msg_bytes);

/* ---- contexts ---- */

int net_tls_peer_psk(const net_peer_keys_t *keys, net_tls_t **out, char *msg, size_t msg_bytes);
int net_tls_peer_x509(uint32_t self_id, uint32_t node_count, const char *cert_file,
                      const char *key_file, const char *ca_file, net_tls_t **out, char *msg,
                      size_t msg_bytes);
/* ca_file NULL or "": client certificates are not asked for. */
int net_tls_server(const char *cert_file, const char *key_file, const char *ca_file,
                   net_tls_t **out, char *msg, size_t msg_bytes);
void net_tls_free(net_tls_t *tls);

/* ---- connections ---- */

/* Accepted connections of this listener speak TLS from their first byte. */
void net_listener_set_tls(net_listener_t *listener, net_tls_t *tls);
/* True once the handshake passed (always true on a connection without TLS). */
bool net_conn_tls_ready(const net_conn_t *conn);
bool net_conn_is_tls(const net_conn_t *conn);
/* The node id the peer proved with its credential (peer contexts), else 0. */
uint32_t net_conn_tls_peer_id(const net_conn_t *conn);
/* Why the handshake or a record failed ("" when it did not). */
const char *net_conn_tls_error(const net_conn_t *conn);

#endif
