/* `ballot snapshot`: save a consistent snapshot of a live cluster to a file, show a saved
 * file, and restore one into fresh data directories (docs/operations.md "Backup and
 * restore"). */
#ifndef BALLOT_CLIENT_SNAPSHOT_CMD_H
#define BALLOT_CLIENT_SNAPSHOT_CMD_H

#include <stdint.h>

#include "client/ballot_client.h"

typedef struct snapshot_cli_options {
    const char *cluster; /* HOST:PORT,... given before the command (--cluster after it wins) */
    uint32_t timeout_ms;
    const char *user;               /* NULL: `default` */
    const char *password;           /* NULL: no AUTH */
    const ballot_client_tls_t *tls; /* NULL: plain TCP */
    int format;                     /* status: cli_format_t (-w), 0 simple */
} snapshot_cli_options_t;

/*   save FILE [--cluster ADDRS]         from the first node of the list that answers
 *   status FILE [-w simple|table|json]  slot, size, keys, checksum ok
 *   restore FILE --data-dir DIR         seed a fresh (absent or empty) data directory
 * argv[0] is "save", "status" or "restore". Returns the process exit status (0 ok, 1 an
 * error, 2 a usage error). */
int snapshot_cli_main(const snapshot_cli_options_t *options, int argc, char **argv);

#endif
