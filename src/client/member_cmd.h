/* `ballot member`: list and change a cluster's membership (docs/operations.md
 * "Membership"), in etcdctl's style. */
#ifndef BALLOT_CLIENT_MEMBER_CMD_H
#define BALLOT_CLIENT_MEMBER_CMD_H

#include <stdint.h>

/*   list [-w table|json]
 *   add ID HOST:PORT | promote ID | remove ID [-w table|json]
 * argv[0] is the subcommand. cluster is the HOST:PORT,... list of client addresses to ask
 * (changes go to whichever is leader); user/password NULL for none. Returns the process
 * exit status (0 ok, 1 an error, 2 a usage error). */
int member_cli_main(const char *cluster, uint32_t timeout_ms, const char *user,
                    const char *password, int argc, char **argv);

#endif
