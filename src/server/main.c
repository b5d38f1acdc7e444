/* ballotd: one node of a Ballot cluster. */
#include <stdio.h>

#include "server/config.h"
#include "server/server.h"

int main(int argc, char **argv)
{
    static server_config_t cfg;
    char err[CONFIG_ERROR_BYTES];
    switch (config_parse(&cfg, argc, argv, err, sizeof(err))) {
    case CONFIG_OK: {
        int status = server_run(&cfg);
        config_release(&cfg);
        return status;
    }
    case CONFIG_HELP:
        config_print_usage(argv[0]);
        return SERVER_EXIT_OK;
    case CONFIG_VERSION:
        printf("ballotd 0.1.0\n");
        return SERVER_EXIT_OK;
    case CONFIG_ERROR:
        break;
    }
    fprintf(stderr, "ballotd: %s\nrun 'ballotd --help' for the flags\n", err);
    return SERVER_EXIT_CONFIG;
}
