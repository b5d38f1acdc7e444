/* A node's identity, kept in its data directory (docs/operations.md "Bootstrap and node
 * identity"): the cluster it belongs to, its node id, and a random incarnation id that
 * changes whenever the node's acceptor state starts anew (a founding bootstrap or a
 * rejoin). Peers remember the last incarnation they heard from each member, so a member
 * that was founded again on an empty disk, having forgotten its promises, is refused
 * instead of voting. */
#ifndef BALLOT_SERVER_IDENTITY_H
#define BALLOT_SERVER_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

#define IDENTITY_FILE       "IDENTITY"
#define IDENTITY_PEERS_FILE "PEERS"
/* Both files are a few lines; anything longer is not ours. */
#define IDENTITY_FILE_BYTES_MAX 4096u

typedef enum identity_origin {
    IDENTITY_FOUNDER = 1, /* created by --bootstrap: votes from the start */
    IDENTITY_REJOIN = 2,  /* created by a rejoin: votes once it read a majority's state */
    IDENTITY_JOINED = 3,  /* created by --join: a new member; votes once it is a voter */
} identity_origin_t;

typedef struct identity {
    uint64_t cluster_id;
    uint32_t node_id;
    uint64_t incarnation; /* random, never 0 */
    identity_origin_t origin;
} identity_t;

/* A new identity with a random incarnation. BALLOT_OK or BALLOT_EIO (no randomness). */
int identity_new(identity_t *out, uint64_t cluster_id, uint32_t node_id, identity_origin_t origin);

/* Reads dir/IDENTITY. *found is false (and BALLOT_OK) when there is none; a damaged file is
 * BALLOT_ECORRUPT with a reason in msg. */
int identity_read(const char *dir, identity_t *out, bool *found, char *msg, size_t msg_bytes);

/* Writes dir/IDENTITY atomically and durably (temporary file, sync, rename, sync dir). */
int identity_write(const char *dir, const identity_t *id, char *msg, size_t msg_bytes);

/* The incarnations this node last heard from each member, by node id (0: none yet). A
 * missing file is all zeros. */
int identity_peers_read(const char *dir, uint64_t known[NODES_MAX + 1], char *msg,
                        size_t msg_bytes);
int identity_peers_write(const char *dir, const uint64_t known[NODES_MAX + 1], char *msg,
                         size_t msg_bytes);

const char *identity_origin_name(identity_origin_t origin);

#endif
