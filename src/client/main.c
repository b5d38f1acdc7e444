/* ballot: the operator's tool for a Ballot cluster (docs/cli.md).
 *
 *   ballot [GLOBAL OPTIONS] COMMAND [ARGS...] [GLOBAL OPTIONS]
 *
 * Every subcommand is one entry of cli_commands below; its code lives in the file named
 * there and is declared in cli.h. Global options may come before or after the command
 * (except for the commands that parse their own: trace, keygen, snapshot, passwd). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "client/cli.h"
#include "client/keygen.h"
#include "client/member_cmd.h"
#include "client/snapshot_cmd.h"
#include "server/acl.h"
#include "trace/trace.h"

/* The same release as ballotd's INFO ballot_version. */
#define CLI_VERSION "0.1.0"

static int cli_passwd(cli_t *cli, int argc, char **argv);
static int cli_trace(cli_t *cli, int argc, char **argv);
static int cli_keygen(cli_t *cli, int argc, char **argv);
static int cli_snapshot(cli_t *cli, int argc, char **argv);
static int cli_member(cli_t *cli, int argc, char **argv);

static const cli_command_t cli_commands[] = {
    {"get", "get KEY", "print the value (linearizable read); exit 1 if there is none",
     "Prints the value and a newline (simple), a KEY/VALUE table, or {\"key\",\"value\"}\n"
     "(json; \"value_base64\" when the value is not UTF-8). A missing key prints nothing\n"
     "and exits 1.\n",
     1, 1, false, cli_get},
    {"set", "set KEY VALUE|-", "store a value; '-' reads it from stdin",
     "VALUE '-' reads the value from standard input, every byte of it (no newline is\n"
     "stripped), so values of any size up to the server's --value-bytes-max work.\n",
     2, 2, false, cli_set},
    {"del", "del KEY...", "remove keys; prints how many existed", "", 1, -1, false, cli_del},
    {"exists", "exists KEY...", "how many of the keys exist", "", 1, -1, false, cli_exists},
    {"incr", "incr KEY", "add one to an integer value; prints the result", "", 1, 1, false,
     cli_incr},
    {"cas", "cas KEY EXPECTED NEW|-", "set NEW if the value is EXPECTED; prints 1 or 0",
     "NEW '-' reads the new value from standard input.\n", 3, 3, false, cli_cas},
    {"status", "status", "every node: role, ballot, leader, commit/applied, lag, lease",
     "One row per node of --cluster, from its INFO: ROLE is INFO's role (leader, follower,\n"
     "candidate), BALLOT the leader's ballot it follows ('-' when it knows no leader),\n"
     "PROMISED the highest ballot it promised. Exit 3 when a node did not answer.\n",
     0, 0, false, cli_status},
    {"endpoint", "endpoint status|health", "per endpoint: status, or health (a read)",
     "status: one row per endpoint of --cluster (id, version, role, ballots, indexes,\n"
     "peers up, lease), like etcdctl endpoint status.\n"
     "health: each endpoint must answer a linearizable read itself within --timeout (it\n"
     "needs a leader and a majority). Exit 3 when an endpoint is down or unhealthy.\n",
     1, 1, false, cli_endpoint},
    {"transfer-leader", "transfer-leader N", "ask the leader to hand leadership to node N",
     "Finds the leader (a node of --cluster, or the one their leader hints name), sends\n"
     "BALLOT.TRANSFER N, and waits up to 5 s until node N leads. N is 2 or n2.\n",
     1, 1, false, cli_transfer},
    {"trace", "trace [OPTIONS] FILE...", "merge ballotd --trace files (ballot trace --help)", "", 0,
     -1, true, cli_trace},
    {"snapshot", "snapshot save|status|restore ...", "backups (ballot snapshot --help)", "", 0, -1,
     true, cli_snapshot},
    {"member", "member list|add|promote|remove ...",
     "membership: list, add a learner, promote, remove (ballot member --help)", "", 0, -1, true,
     cli_member},
    {"keygen", "keygen --nodes N --out DIR", "write peer key files DIR/node1.key..nodeN.key", "", 0,
     -1, true, cli_keygen},
    {"passwd", "passwd", "read a password on stdin, print the users file's '#<sha256>' rule", "", 0,
     0, true, cli_passwd},
};

#define CLI_COMMAND_COUNT (sizeof(cli_commands) / sizeof(cli_commands[0]))

static const char global_help[] =
    "global options (before or after the command):\n"
    "  --cluster HOST:PORT,...   nodes to talk to (default $BALLOT_CLUSTER, else\n"
    "                            " CLI_DEFAULT_CLUSTER ")\n"
    "  --timeout MS              how long a command may take, redirects and retries\n"
    "                            included (default 5000)\n"
    "  -w, --write-out FORMAT    simple (default), table or json\n"
    "  --user NAME --pass PW     AUTH first (default $BALLOT_USER, $BALLOT_PASSWORD)\n"
    "  --cacert FILE             client TLS, checking the server against FILE's CAs\n"
    "  --cert FILE --key FILE    client TLS with a client certificate (mutual TLS)\n"
    "  --tls                     client TLS with the system's CAs\n"
    "  --insecure-skip-tls-verify  client TLS without checking the server\n"
    "  -h, --help                help (ballot COMMAND --help for one command)\n"
    "  --version                 the version\n"
    "\n"
    "exit codes: 0 ok (get: found), 1 not found, 2 usage error, 3 unavailable (no node\n"
    "answered, no leader within --timeout), 4 refused by the cluster (an error reply),\n"
    "5 a write whose outcome is unknown. Commands follow leader hints and -MOVED.\n"
    "See docs/cli.md.\n";

static void usage(FILE *out)
{
    fputs("usage: ballot [GLOBAL OPTIONS] COMMAND [ARGS...]\n\ncommands:\n", out);
    for (size_t i = 0; i < CLI_COMMAND_COUNT; i++) {
        fprintf(out, "  %-34s %s\n", cli_commands[i].synopsis, cli_commands[i].summary);
    }
    fputc('\n', out);
    fputs(global_help, out);
}

static void command_help(const cli_command_t *c)
{
    printf("usage: ballot %s\n\n%s.\n", c->synopsis, c->summary);
    if (c->help[0] != '\0') {
        printf("\n%s", c->help);
    }
    printf("\n%s", global_help);
}

static const cli_command_t *find_command(const char *name)
{
    for (size_t i = 0; i < CLI_COMMAND_COUNT; i++) {
        if (strcmp(cli_commands[i].name, name) == 0) {
            return &cli_commands[i];
        }
    }
    return NULL;
}

/* ---- commands that parse their own options ---- */

/* ballot passwd: one password on stdin (up to the first newline) as the users file's
 * '#<sha256>' rule; the plaintext is wiped from memory once hashed. */
static int cli_passwd(cli_t *cli, int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        command_help(find_command("passwd"));
        return CLI_EXIT_OK;
    }
    if (argc > 1) {
        return cli_fail(cli, CLI_EXIT_USAGE, "unexpected argument '%s'", argv[1]);
    }
    char line[1024];
    if (fgets(line, sizeof(line), stdin) == NULL) {
        return cli_fail(cli, CLI_EXIT_USAGE, "no password on stdin");
    }
    size_t n = strcspn(line, "\r\n");
    if (n == sizeof(line) - 1) {
        OPENSSL_cleanse(line, sizeof(line));
        return cli_fail(cli, CLI_EXIT_USAGE, "password longer than %zu bytes", sizeof(line) - 2);
    }
    char hex[2 * ACL_HASH_BYTES + 1];
    acl_hash_hex(line, n, hex);
    OPENSSL_cleanse(line, sizeof(line));
    if (n == 0) {
        return cli_fail(cli, CLI_EXIT_USAGE, "empty password");
    }
    printf("#%s\n", hex);
    return CLI_EXIT_OK;
}

static int cli_trace(cli_t *cli, int argc, char **argv)
{
    (void)cli;
    return trace_cli_main(argc, argv);
}

static int cli_keygen(cli_t *cli, int argc, char **argv)
{
    (void)cli;
    return keygen_main(argc, argv);
}

static int cli_snapshot(cli_t *cli, int argc, char **argv)
{
    snapshot_cli_options_t options = {
        .cluster = cli->cluster_text,
        .timeout_ms = cli->timeout_ms,
        .user = cli->user,
        .password = cli->password,
        .tls = &cli->tls,
        .format = (int)cli->format,
    };
    return snapshot_cli_main(&options, argc - 1, argv + 1);
}

static int cli_member(cli_t *cli, int argc, char **argv)
{
    return member_cli_main(cli->cluster_text, cli->timeout_ms, cli->user, cli->password, argc - 1,
                           argv + 1);
}

/* ---- global options ---- */

typedef struct parsed {
    const char *cluster;
    bool timeout_set;
    int positional_count;
    char **positional;
    bool help;
    bool version;
} parsed_t;

/* "--name VALUE" or "--name=VALUE" at argv[*i]; NULL when it is not that option. *missing
 * is set when the option has no value. */
static const char *option_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    const char *arg = argv[*i];
    if (strncmp(arg, name, n) != 0) {
        return NULL;
    }
    if (arg[n] == '=') {
        return arg + n + 1;
    }
    if (arg[n] != '\0') {
        return NULL;
    }
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    *i += 1;
    return argv[*i];
}

static int set_format(cli_t *cli, const char *value)
{
    if (strcmp(value, "simple") == 0) {
        cli->format = CLI_FORMAT_SIMPLE;
    } else if (strcmp(value, "table") == 0) {
        cli->format = CLI_FORMAT_TABLE;
    } else if (strcmp(value, "json") == 0) {
        cli->format = CLI_FORMAT_JSON;
    } else {
        return cli_fail(cli, CLI_EXIT_USAGE, "-w '%s': want simple, table or json", value);
    }
    return CLI_EXIT_OK;
}

static int set_timeout(cli_t *cli, const char *value)
{
    char *end = NULL;
    unsigned long ms = strtoul(value, &end, 10);
    if (value[0] < '0' || value[0] > '9' || *end != '\0' || ms == 0 || ms > 600000) {
        return cli_fail(cli, CLI_EXIT_USAGE, "--timeout '%s': want 1..600000 (ms)", value);
    }
    cli->timeout_ms = (uint32_t)ms;
    return CLI_EXIT_OK;
}

/* One global option at argv[*i]. CLI_EXIT_OK, CLI_EXIT_USAGE, or -1 when it is not one. */
static int global_option(cli_t *cli, parsed_t *p, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    bool missing = false;
    const char *v = NULL;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        p->help = true;
        return CLI_EXIT_OK;
    }
    if (strcmp(arg, "--version") == 0) {
        p->version = true;
        return CLI_EXIT_OK;
    }
    if (strcmp(arg, "--tls") == 0) {
        cli->tls.enabled = true;
        return CLI_EXIT_OK;
    }
    if (strcmp(arg, "--insecure-skip-tls-verify") == 0) {
        cli->tls.enabled = true;
        cli->tls.skip_verify = true;
        return CLI_EXIT_OK;
    }
    if ((v = option_value(argc, argv, i, "-w", &missing)) != NULL ||
        (v = option_value(argc, argv, i, "--write-out", &missing)) != NULL) {
        return set_format(cli, v);
    }
    if ((v = option_value(argc, argv, i, "--cluster", &missing)) != NULL ||
        (v = option_value(argc, argv, i, "--endpoints", &missing)) != NULL) {
        p->cluster = v;
        return CLI_EXIT_OK;
    }
    if ((v = option_value(argc, argv, i, "--timeout", &missing)) != NULL) {
        return set_timeout(cli, v);
    }
    if ((v = option_value(argc, argv, i, "--user", &missing)) != NULL) {
        cli->user = v;
        return CLI_EXIT_OK;
    }
    if ((v = option_value(argc, argv, i, "--pass", &missing)) != NULL) {
        cli->password = v;
        return CLI_EXIT_OK;
    }
    if ((v = option_value(argc, argv, i, "--cacert", &missing)) != NULL) {
        cli->tls.enabled = true;
        cli->tls.ca_file = v;
        return CLI_EXIT_OK;
    }
    if ((v = option_value(argc, argv, i, "--cert", &missing)) != NULL) {
        cli->tls.enabled = true;
        cli->tls.cert_file = v;
        return CLI_EXIT_OK;
    }
    if ((v = option_value(argc, argv, i, "--key", &missing)) != NULL) {
        cli->tls.enabled = true;
        cli->tls.key_file = v;
        return CLI_EXIT_OK;
    }
    if (missing) {
        return cli_fail(cli, CLI_EXIT_USAGE, "%s needs a value", arg);
    }
    return -1;
}

static int set_cluster(cli_t *cli, const char *list)
{
    cli->node_count = 0;
    cli->cluster_text = list;
    const char *at = list;
    while (*at != '\0') {
        size_t n = strcspn(at, ",");
        if (n == 0 || n >= CLI_ADDRESS_BYTES) {
            return cli_fail(cli, CLI_EXIT_USAGE, "--cluster '%s': an empty or too long address",
                            list);
        }
        if (cli->node_count >= CLI_NODES_MAX) {
            return cli_fail(cli, CLI_EXIT_USAGE, "--cluster '%s': more than %u addresses", list,
                            CLI_NODES_MAX);
        }
        memcpy(cli->nodes[cli->node_count], at, n);
        cli->nodes[cli->node_count][n] = '\0';
        if (strrchr(cli->nodes[cli->node_count], ':') == NULL) {
            return cli_fail(cli, CLI_EXIT_USAGE, "--cluster: '%s' is not HOST:PORT",
                            cli->nodes[cli->node_count]);
        }
        cli->node_count++;
        at += n;
        if (*at == ',') {
            at++;
        }
    }
    if (cli->node_count == 0) {
        return cli_fail(cli, CLI_EXIT_USAGE, "--cluster names no node");
    }
    return CLI_EXIT_OK;
}

static int check_arguments(cli_t *cli, const cli_command_t *c, int argc, char **argv)
{
    /* What each missing argument is called, by command and position. */
    static const char *const names[][4] = {
        {"get", "KEY", NULL, NULL},
        {"set", "KEY", "VALUE (or - for stdin)", NULL},
        {"incr", "KEY", NULL, NULL},
        {"cas", "KEY", "EXPECTED", "NEW (or - for stdin)"},
        {"endpoint", "status or health", NULL, NULL},
        {"transfer-leader", "the node id N", NULL, NULL},
    };
    int n = argc - 1;
    if (n < c->min_args) {
        const char *what = c->max_args < 0 ? "KEY" : "an argument";
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (strcmp(names[i][0], c->name) == 0 && n + 1 < 4 && names[i][n + 1] != NULL) {
                what = names[i][n + 1];
            }
        }
        return cli_fail(cli, CLI_EXIT_USAGE, "missing %s (usage: ballot %s)", what, c->synopsis);
    }
    if (c->max_args >= 0 && n > c->max_args) {
        return cli_fail(cli, CLI_EXIT_USAGE, "unexpected argument '%s' (usage: ballot %s)",
                        argv[c->max_args + 1], c->synopsis);
    }
    if (argc > (int)BALLOT_CLIENT_ARGS_MAX) {
        return cli_fail(cli, CLI_EXIT_USAGE, "more than %u arguments", BALLOT_CLIENT_ARGS_MAX - 1u);
    }
    return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    static cli_t cli;
    /* A node that closes the connection mid-request is an error to report, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    cli.timeout_ms = CLI_TIMEOUT_MS_DEFAULT;
    cli.user = getenv("BALLOT_USER");
    cli.password = getenv("BALLOT_PASSWORD");
    cli.prog = "ballot";
    parsed_t p = {.cluster = getenv("BALLOT_CLUSTER")};
    char **positional = calloc((size_t)argc + 1u, sizeof(*positional));
    if (positional == NULL) {
        return cli_fail(&cli, CLI_EXIT_USAGE, "out of memory");
    }
    const cli_command_t *command = NULL;
    int n = 0;
    int i = 1;
    bool options_done = false;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (command != NULL && command->own_options) {
            positional[n++] = argv[i]; /* trace, snapshot, keygen, passwd: theirs, as typed */
            continue;
        }
        if (!options_done && strcmp(arg, "--") == 0 && command != NULL) {
            options_done = true;
            continue;
        }
        if (!options_done && arg[0] == '-' && arg[1] != '\0') {
            int rc = global_option(&cli, &p, argc, argv, &i);
            if (rc == -1) {
                rc = cli_fail(&cli, CLI_EXIT_USAGE, "unknown option '%s' (ballot --help)", arg);
            }
            if (rc != CLI_EXIT_OK) {
                free(positional);
                return rc;
            }
            continue;
        }
        if (command == NULL && strcmp(arg, "help") == 0 && !p.help) {
            p.help = true; /* `ballot help [COMMAND]` */
            continue;
        }
        if (command == NULL) {
            command = find_command(arg);
            if (command == NULL) {
                free(positional);
                return cli_fail(&cli, CLI_EXIT_USAGE, "unknown command '%s' (ballot --help)", arg);
            }
        }
        positional[n++] = argv[i];
    }
    if (p.version) {
        printf("ballot %s\n", CLI_VERSION);
        free(positional);
        return CLI_EXIT_OK;
    }
    if (p.help && command != NULL && command->own_options && n == 1) {
        p.help = false; /* `ballot help trace`: its own help */
        positional[n++] = "--help";
    }
    if (p.help || command == NULL) {
        if (command != NULL) {
            command_help(command);
        } else {
            usage(p.help ? stdout : stderr);
        }
        free(positional);
        if (!p.help) {
            return cli_fail(&cli, CLI_EXIT_USAGE, "no command given");
        }
        return CLI_EXIT_OK;
    }
    char prog[64];
    snprintf(prog, sizeof(prog), "ballot %s", command->name);
    cli.prog = prog;
    int rc = CLI_EXIT_OK;
    if (cli.user != NULL && cli.password == NULL) {
        rc = cli_fail(&cli, CLI_EXIT_USAGE, "--user needs --pass (or $BALLOT_PASSWORD)");
    }
    if (rc == CLI_EXIT_OK && (cli.tls.cert_file != NULL) != (cli.tls.key_file != NULL)) {
        rc = cli_fail(&cli, CLI_EXIT_USAGE, "--cert and --key go together");
    }
    if (rc == CLI_EXIT_OK) {
        rc = set_cluster(&cli, p.cluster != NULL ? p.cluster : CLI_DEFAULT_CLUSTER);
    }
    /* positional[0] is the command's name. */
    if (rc == CLI_EXIT_OK && !command->own_options) {
        rc = check_arguments(&cli, command, n, positional);
    }
    if (rc == CLI_EXIT_OK) {
        rc = command->run(&cli, n, positional);
    }
    free(positional);
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
        rc = cli_fail(&cli, CLI_EXIT_UNAVAILABLE, "writing the output failed");
    }
    return rc;
}
