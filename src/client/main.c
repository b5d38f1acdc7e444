/* ballot: the operator's tool for a Ballot cluster.
 *
 *   ballot [--cluster HOST:PORT,...] [--timeout MS] [--user NAME] [--pass PASSWORD]
 *          COMMAND [ARGS...]
 *     get KEY | set KEY VALUE | del KEY... | exists KEY... | incr KEY
 *     cas KEY EXPECTED NEW       1 when swapped, 0 when the value differs
 *     status                     every node: role, ballot, leader, commit/applied, lag, lease
 *     transfer-leader N          the leader hands over to node N
 *     trace [OPTIONS] FILES...   merge node traces, generation by generation
 *     snapshot save FILE | status FILE | restore FILE --data-dir DIR
 *                                backup and restore (snapshot_cmd.h)
 *     keygen --nodes N --out DIR  peer key files for a new cluster (keygen.c)
 *     passwd                     a password (stdin) as the users file's #<sha256>
 *
 * Key-value commands go to the first node of --cluster that answers; any node works, since
 * followers forward to the leader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "client/ballot_client.h"
#include "client/snapshot_cmd.h"
#include "client/keygen.h"
#include "client/member_cmd.h"
#include "core/msg.h"
#include "server/acl.h"
#include "trace/trace.h"

#define CLI_DEFAULT_CLUSTER    "127.0.0.1:6381,127.0.0.1:6382,127.0.0.1:6383"
#define CLI_NODES_MAX          16u
#define CLI_ADDRESS_BYTES      280u
#define CLI_TIMEOUT_MS_DEFAULT 5000u
#define CLI_INFO_VALUE_BYTES   128u
#define CLI_TRANSFER_WAIT_MS   5000u
#define CLI_TRANSFER_POLL_MS   20u

#define CLI_EXIT_OK    0
#define CLI_EXIT_ERROR 1
#define CLI_EXIT_USAGE 2

typedef struct cli {
    char nodes[CLI_NODES_MAX][CLI_ADDRESS_BYTES];
    uint32_t node_count;
    uint32_t timeout_ms;
    const char *user;     /* --user or $BALLOT_USER; NULL: `default` */
    const char *password; /* --pass or $BALLOT_PASSWORD; NULL: no AUTH */
} cli_t;

static void cli_usage(FILE *out)
{
    fprintf(
        out,
        "usage: ballot [--cluster HOST:PORT,...] [--timeout MS] [--user NAME] [--pass PASSWORD]\n"
        "              COMMAND [ARGS...]\n"
        "\n"
        "  get KEY                  print the value (linearizable read)\n"
        "  set KEY VALUE            store a value\n"
        "  del KEY...               remove keys; prints how many existed\n"
        "  exists KEY...            how many of the keys exist\n"
        "  incr KEY                 add one to an integer value\n"
        "  cas KEY EXPECTED NEW     set NEW if the value is EXPECTED; prints 1 or 0\n"
        "  status                   role, ballot, leader, commit/applied index, lag and\n"
        "                           lease of every node\n"
        "  transfer-leader N        ask the leader to hand leadership to node N\n"
        "  trace [OPTIONS] FILES... merge ballotd --trace files (ballot trace --help)\n"
        "  keygen --nodes N --out DIR  write peer key files DIR/node1.key..nodeN.key\n"
        "  passwd                   read a password on stdin, print the '#<sha256>' rule\n"
        "                           for the users file (docs/security.md)\n"
        "  snapshot save FILE [--cluster HOST:PORT,...]\n"
        "                           save a consistent snapshot of the cluster's state\n"
        "  snapshot status FILE     check a saved file: slot, size, keys, checksums\n"
        "  snapshot restore FILE --data-dir DIR\n"
        "                           seed a fresh data directory from a saved file\n"
        "  member list|add ID HOST:PORT|promote ID|remove ID [-w table|json]\n"
        "                           the membership, and changes to it (ballot member --help)\n"
        "\n"
        "--cluster defaults to $BALLOT_CLUSTER, else %s\n"
        "--user and --pass default to $BALLOT_USER and $BALLOT_PASSWORD; with a password\n"
        "every connection starts with AUTH. `status` needs INFO (+info or +@admin).\n",
        CLI_DEFAULT_CLUSTER);
}

static uint64_t cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int cli_set_cluster(cli_t *cli, const char *list)
{
    cli->node_count = 0;
    const char *at = list;
    while (*at != '\0') {
        size_t n = strcspn(at, ",");
        if (n == 0 || n >= CLI_ADDRESS_BYTES || cli->node_count >= CLI_NODES_MAX) {
            fprintf(stderr, "ballot: bad --cluster list '%s'\n", list);
            return -1;
        }
        memcpy(cli->nodes[cli->node_count], at, n);
        cli->nodes[cli->node_count][n] = '\0';
        cli->node_count++;
        at += n;
        if (*at == ',') {
            at++;
        }
    }
    if (cli->node_count == 0) {
        fprintf(stderr, "ballot: --cluster names no node\n");
        return -1;
    }
    return 0;
}

/* One command to one node; 0 with a reply, -1 (reason in err) when the node is unreachable. */
static int cli_ask(const cli_t *cli, const char *address, uint32_t argc, const char *const *argv,
                   ballot_reply_t *reply, char *err, size_t err_bytes)
{
    ballot_client_t *client = NULL;
    if (ballot_client_connect(address, cli->timeout_ms, &client, err, err_bytes) != 0) {
        return -1;
    }
    if (cli->password != NULL) {
        const char *auth[] = {"AUTH", cli->user != NULL ? cli->user : "default", cli->password};
        int rc = ballot_client_command(client, 3, auth, NULL, reply, err, err_bytes);
        if (rc == 0 && reply->type != BALLOT_REPLY_STATUS) {
            /* The AUTH refusal is the answer (WRONGPASS). */
            ballot_client_close(client);
            return 0;
        }
        if (rc == 0) {
            ballot_reply_free(reply);
        }
        if (rc != 0) {
            ballot_client_close(client);
            return rc;
        }
    }
    int rc = ballot_client_command(client, argc, argv, NULL, reply, err, err_bytes);
    ballot_client_close(client);
    return rc;
}

static void cli_print_reply(const ballot_reply_t *reply)
{
    switch (reply->type) {
    case BALLOT_REPLY_STATUS:
        printf("%s\n", reply->text);
        break;
    case BALLOT_REPLY_INTEGER:
        printf("%lld\n", (long long)reply->integer);
        break;
    case BALLOT_REPLY_BULK:
        fwrite(reply->text, 1, reply->size, stdout);
        printf("\n");
        break;
    case BALLOT_REPLY_NIL:
        printf("(nil)\n");
        break;
    case BALLOT_REPLY_ARRAY:
        for (size_t i = 0; i < reply->element_count; i++) {
            cli_print_reply(&reply->elements[i]);
        }
        break;
    case BALLOT_REPLY_ERROR:
        fprintf(stderr, "error: %s\n", reply->text);
        break;
    }
}

/* A key-value command: the first node that answers takes it. */
static int cli_kv(const cli_t *cli, uint32_t argc, const char *const *argv)
{
    char err[BALLOT_CLIENT_ERROR_BYTES];
    for (uint32_t i = 0; i < cli->node_count; i++) {
        ballot_reply_t reply;
        if (cli_ask(cli, cli->nodes[i], argc, argv, &reply, err, sizeof(err)) != 0) {
            fprintf(stderr, "ballot: %s; trying the next node\n", err);
            continue;
        }
        cli_print_reply(&reply);
        int status = reply.type == BALLOT_REPLY_ERROR ? CLI_EXIT_ERROR : CLI_EXIT_OK;
        ballot_reply_free(&reply);
        return status;
    }
    fprintf(stderr, "ballot: no node of the cluster answered\n");
    return CLI_EXIT_ERROR;
}

typedef struct node_view {
    bool up;
    char error[BALLOT_CLIENT_ERROR_BYTES];
    char node_id[CLI_INFO_VALUE_BYTES];
    char role[CLI_INFO_VALUE_BYTES];
    char ballot[CLI_INFO_VALUE_BYTES];
    char leader_id[CLI_INFO_VALUE_BYTES];
    char lease_held[CLI_INFO_VALUE_BYTES];
    char lease_ms[CLI_INFO_VALUE_BYTES];
    char rejoining[CLI_INFO_VALUE_BYTES];
    uint64_t commit;
    uint64_t applied;
} node_view_t;

static void cli_view(const cli_t *cli, const char *address, node_view_t *v)
{
    static const char *const argv[] = {"INFO"};
    memset(v, 0, sizeof(*v));
    ballot_reply_t reply;
    if (cli_ask(cli, address, 1, argv, &reply, v->error, sizeof(v->error)) != 0) {
        return;
    }
    if (reply.type != BALLOT_REPLY_BULK) {
        snprintf(v->error, sizeof(v->error), "INFO failed: %s",
                 reply.text != NULL ? reply.text : "unexpected reply");
        ballot_reply_free(&reply);
        return;
    }
    char number[CLI_INFO_VALUE_BYTES];
    v->up = ballot_info_field(reply.text, "role", v->role, sizeof(v->role));
    ballot_info_field(reply.text, "node_id", v->node_id, sizeof(v->node_id));
    ballot_info_field(reply.text, "ballot", v->ballot, sizeof(v->ballot));
    ballot_info_field(reply.text, "leader_id", v->leader_id, sizeof(v->leader_id));
    ballot_info_field(reply.text, "lease_held", v->lease_held, sizeof(v->lease_held));
    ballot_info_field(reply.text, "lease_remaining_ms", v->lease_ms, sizeof(v->lease_ms));
    ballot_info_field(reply.text, "rejoining", v->rejoining, sizeof(v->rejoining));
    if (ballot_info_field(reply.text, "commit_index", number, sizeof(number))) {
        v->commit = strtoull(number, NULL, 10);
    }
    if (ballot_info_field(reply.text, "applied_index", number, sizeof(number))) {
        v->applied = strtoull(number, NULL, 10);
    }
    if (!v->up) {
        snprintf(v->error, sizeof(v->error), "not a ballotd (no role in INFO)");
    }
    ballot_reply_free(&reply);
}

static int cli_status(const cli_t *cli)
{
    node_view_t views[CLI_NODES_MAX];
    uint64_t commit_max = 0;
    uint32_t up = 0;
    for (uint32_t i = 0; i < cli->node_count; i++) {
        cli_view(cli, cli->nodes[i], &views[i]);
        if (views[i].up) {
            up++;
            commit_max = views[i].commit > commit_max ? views[i].commit : commit_max;
        }
    }
    printf("%-5s %-22s %-10s %-12s %-7s %-10s %-10s %-6s %s\n", "NODE", "ADDRESS", "ROLE", "BALLOT",
           "LEADER", "COMMIT", "APPLIED", "LAG", "LEASE");
    for (uint32_t i = 0; i < cli->node_count; i++) {
        const node_view_t *v = &views[i];
        if (!v->up) {
            printf("%-5s %-22s %-10s %s\n", "?", cli->nodes[i], "down", v->error);
            continue;
        }
        char node[CLI_INFO_VALUE_BYTES + 8];
        char leader[CLI_INFO_VALUE_BYTES + 8];
        char lease[CLI_INFO_VALUE_BYTES + 32];
        snprintf(node, sizeof(node), "n%s", v->node_id);
        snprintf(leader, sizeof(leader), "%s%s", strcmp(v->leader_id, "0") == 0 ? "" : "n",
                 strcmp(v->leader_id, "0") == 0 ? "-" : v->leader_id);
        if (strcmp(v->lease_held, "1") == 0) {
            snprintf(lease, sizeof(lease), "held, %s ms left", v->lease_ms);
        } else {
            snprintf(lease, sizeof(lease), "-");
        }
        printf("%-5s %-22s %-10s %-12s %-7s %-10llu %-10llu %-6llu %s%s\n", node, cli->nodes[i],
               v->role, v->ballot, leader, (unsigned long long)v->commit,
               (unsigned long long)v->applied, (unsigned long long)(commit_max - v->applied), lease,
               strcmp(v->rejoining, "1") == 0 ? " (rejoining)" : "");
    }
    return up == cli->node_count ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}

static int cli_find_role(const cli_t *cli, const char *role, const char *node_id)
{
    for (uint32_t i = 0; i < cli->node_count; i++) {
        node_view_t v;
        cli_view(cli, cli->nodes[i], &v);
        if (v.up && (role == NULL || strcmp(v.role, role) == 0) &&
            (node_id == NULL || strcmp(v.node_id, node_id) == 0)) {
            return (int)i;
        }
    }
    return -1;
}

static int cli_transfer(const cli_t *cli, const char *to)
{
    int leader = cli_find_role(cli, "leader", NULL);
    if (leader < 0) {
        fprintf(stderr, "ballot: no node reports itself leader; try again after the election\n");
        return CLI_EXIT_ERROR;
    }
    const char *argv[] = {"BALLOT.TRANSFER", to};
    char err[BALLOT_CLIENT_ERROR_BYTES];
    ballot_reply_t reply;
    uint64_t start = cli_now_ms();
    if (cli_ask(cli, cli->nodes[leader], 2, argv, &reply, err, sizeof(err)) != 0) {
        fprintf(stderr, "ballot: %s\n", err);
        return CLI_EXIT_ERROR;
    }
    if (reply.type == BALLOT_REPLY_ERROR) {
        fprintf(stderr, "ballot: %s refused: %s\n", cli->nodes[leader], reply.text);
        ballot_reply_free(&reply);
        return CLI_EXIT_ERROR;
    }
    ballot_reply_free(&reply);
    /* Bounded by CLI_TRANSFER_WAIT_MS. */
    while (cli_now_ms() - start < CLI_TRANSFER_WAIT_MS) {
        if (cli_find_role(cli, "leader", to) >= 0) {
            printf("n%s leads (handover took %llu ms)\n", to,
                   (unsigned long long)(cli_now_ms() - start));
            return CLI_EXIT_OK;
        }
        usleep(CLI_TRANSFER_POLL_MS * 1000u);
    }
    fprintf(stderr, "ballot: n%s did not become leader within %u ms (see ballot status)\n", to,
            CLI_TRANSFER_WAIT_MS);
    return CLI_EXIT_ERROR;
}

typedef struct kv_verb {
    const char *name;
    const char *redis;
    int min_args; /* after the verb */
    int max_args; /* -1: any */
} kv_verb_t;

static const kv_verb_t cli_verbs[] = {
    {"get", "GET", 1, 1},        {"set", "SET", 2, 2},   {"del", "DEL", 1, -1},
    {"exists", "EXISTS", 1, -1}, {"incr", "INCR", 1, 1}, {"cas", "CAS", 3, 3},
};

static int cli_run(cli_t *cli, int argc, char **argv)
{
    const char *verb = argv[0];
    if (strcmp(verb, "status") == 0 && argc == 1) {
        return cli_status(cli);
    }
    if (strcmp(verb, "transfer-leader") == 0 && argc == 2) {
        return cli_transfer(cli, argv[1]);
    }
    for (size_t i = 0; i < sizeof(cli_verbs) / sizeof(cli_verbs[0]); i++) {
        const kv_verb_t *v = &cli_verbs[i];
        int n = argc - 1;
        if (strcmp(verb, v->name) != 0) {
            continue;
        }
        if (n < v->min_args || (v->max_args >= 0 && n > v->max_args) ||
            argc > (int)BALLOT_CLIENT_ARGS_MAX) {
            break;
        }
        const char *args[BALLOT_CLIENT_ARGS_MAX];
        args[0] = v->redis;
        for (int a = 1; a < argc; a++) {
            args[a] = argv[a];
        }
        return cli_kv(cli, (uint32_t)argc, args);
    }
    fprintf(stderr, "ballot: unknown command or wrong arguments: %s\n", verb);
    cli_usage(stderr);
    return CLI_EXIT_USAGE;
}

/* ballot passwd: one password on stdin (up to the first newline) as the users file's
 * '#<sha256>' rule; the plaintext is wiped from memory once hashed. */
static int cli_passwd(void)
{
    char line[1024];
    if (fgets(line, sizeof(line), stdin) == NULL) {
        fprintf(stderr, "ballot passwd: no password on stdin\n");
        return CLI_EXIT_USAGE;
    }
    size_t n = strcspn(line, "\r\n");
    if (n == sizeof(line) - 1) {
        OPENSSL_cleanse(line, sizeof(line));
        fprintf(stderr, "ballot passwd: password longer than %zu bytes\n", sizeof(line) - 2);
        return CLI_EXIT_USAGE;
    }
    char hex[2 * ACL_HASH_BYTES + 1];
    acl_hash_hex(line, n, hex);
    OPENSSL_cleanse(line, sizeof(line));
    if (n == 0) {
        fprintf(stderr, "ballot passwd: empty password\n");
        return CLI_EXIT_USAGE;
    }
    printf("#%s\n", hex);
    return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    cli_t cli = {.timeout_ms = CLI_TIMEOUT_MS_DEFAULT,
                 .user = getenv("BALLOT_USER"),
                 .password = getenv("BALLOT_PASSWORD")};
    const char *cluster = getenv("BALLOT_CLUSTER");
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            cli_usage(stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) {
            cli.user = argv[++i];
        } else if (strcmp(argv[i], "--pass") == 0 && i + 1 < argc) {
            cli.password = argv[++i];
        } else if (strcmp(argv[i], "--cluster") == 0 && i + 1 < argc) {
            cluster = argv[++i];
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end = NULL;
            unsigned long ms = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || ms == 0 || ms > 600000) {
                fprintf(stderr, "ballot: --timeout must be 1..600000 ms\n");
                return CLI_EXIT_USAGE;
            }
            cli.timeout_ms = (uint32_t)ms;
        } else {
            fprintf(stderr, "ballot: unknown option %s\n", argv[i]);
            cli_usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        cli_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[i], "trace") == 0) {
        return trace_cli_main(argc - i, argv + i);
    }
    if (strcmp(argv[i], "keygen") == 0) {
        return keygen_main(argc - i, argv + i);
    }
    if (strcmp(argv[i], "passwd") == 0 && i + 1 == argc) {
        return cli_passwd();
    }
    if (cli.user != NULL && cli.password == NULL) {
        fprintf(stderr, "ballot: --user needs --pass (or $BALLOT_PASSWORD)\n");
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[i], "member") == 0) {
        return member_cli_main(cluster != NULL ? cluster : CLI_DEFAULT_CLUSTER, cli.timeout_ms,
                               cli.user, cli.password, argc - i - 1, argv + i + 1);
    }
    if (strcmp(argv[i], "snapshot") == 0) {
        snapshot_cli_options_t options = {
            .cluster = cluster != NULL ? cluster : CLI_DEFAULT_CLUSTER,
            .timeout_ms = cli.timeout_ms,
            .user = cli.user,
            .password = cli.password,
        };
        return snapshot_cli_main(&options, argc - i - 1, argv + i + 1);
    }
    if (cli_set_cluster(&cli, cluster != NULL ? cluster : CLI_DEFAULT_CLUSTER) != 0) {
        return CLI_EXIT_USAGE;
    }
    return cli_run(&cli, argc - i, argv + i);
}
