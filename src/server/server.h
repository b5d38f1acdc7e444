/* ballotd: one node of a Ballot cluster. It drives src/core with real TCP (src/net,
 * src/wire) and a real disk (src/storage), applies chosen commands to src/kv and serves
 * clients over RESP2. docs/operations.md describes running it. */
#ifndef BALLOT_SERVER_SERVER_H
#define BALLOT_SERVER_SERVER_H

#include "server/config.h"

/* Exit statuses of ballotd. */
#define SERVER_EXIT_OK     0 /* stopped by SIGTERM/SIGINT */
#define SERVER_EXIT_FATAL  1 /* the disk failed, corrupt state, out of memory */
#define SERVER_EXIT_CONFIG 2 /* bad configuration; nothing started */

/* Starts the node and serves until a signal or a fatal error; returns the exit status. */
int server_run(const server_config_t *cfg);

#endif
