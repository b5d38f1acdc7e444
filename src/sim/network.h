/* The simulated network between nodes. A message sent at true time t arrives at
 * t + delay, where delay is drawn per message (usually NET_DELAY_MS_MIN..MAX, with a
 * share `reorder` drawn from a long tail, so later messages overtake earlier ones); each
 * message may be lost or duplicated (the copy has its own delay). A link a->b can be cut;
 * a message crossing a cut link when sent or when due is lost, and a message to a node
 * that is down when due is lost. Cuts are directed, so one-way links come for free. */
#ifndef BALLOT_SIM_NETWORK_H
#define BALLOT_SIM_NETWORK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/msg.h"

#define NET_DELAY_MS_MIN      1u
#define NET_DELAY_MS_MAX      8u
#define NET_LONG_DELAY_MS_MAX 250u

typedef struct sim sim_t;

typedef struct network {
    bool cut[NODES_MAX + 1][NODES_MAX + 1]; /* cut[from][to] */
    double loss;
    double dup;
    double reorder;
} network_t;

void network_init(network_t *net, double loss, double dup, double reorder);
/* Takes a copy of m and puts it (and maybe a duplicate) on the wire. */
void network_send(sim_t *sim, const msg_t *m);
/* A message is due: hands it to its node when the link and the node allow. Owns m. */
void network_deliver(sim_t *sim, msg_t *m);

void network_cut(network_t *net, uint32_t from, uint32_t to);
void network_restore(network_t *net, uint32_t from, uint32_t to);
/* Cuts (or restores) every link to and from node. */
void network_isolate(network_t *net, uint32_t node, uint32_t node_count, bool cut);
void network_heal(network_t *net);

#endif
