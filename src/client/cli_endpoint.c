/* `ballot status`, `ballot endpoint status|health` and `ballot transfer-leader` (cli.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli.h"

#define CLI_TRANSFER_WAIT_MS 5000u
#define CLI_TRANSFER_POLL_MS 20u
/* Addresses transfer-leader may learn from hints, beyond --cluster. */
#define CLI_KNOWN_MAX (CLI_NODES_MAX * 2u)

/* A ballot as status shows it: "-" for none (r0.n0), so that a node without a leader does
 * not look as if it had one. */
static const char *ballot_text(const char *ballot)
{
    return ballot[0] == '\0' || strcmp(ballot, "r0.n0") == 0 ? "-" : ballot;
}

static void leader_text(const cli_node_info_t *v, char *buf, size_t buf_bytes)
{
    if (v->leader_id[0] == '\0' || strcmp(v->leader_id, "0") == 0) {
        snprintf(buf, buf_bytes, "-");
    } else {
        snprintf(buf, buf_bytes, "n%s", v->leader_id);
    }
}

int cli_status(cli_t *cli, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_node_info_t views[CLI_NODES_MAX];
    uint64_t commit_max = 0;
    uint32_t up = 0;
    uint32_t refused = 0;
    for (uint32_t i = 0; i < cli->node_count; i++) {
        cli_node_info(cli, cli->nodes[i], &views[i]);
        refused += views[i].refused ? 1u : 0u;
        if (views[i].up) {
            up++;
            commit_max = views[i].commit > commit_max ? views[i].commit : commit_max;
        }
    }
    static const char *const headers[] = {"NODE",   "ADDRESS", "ROLE",    "BALLOT", "PROMISED",
                                          "LEADER", "COMMIT",  "APPLIED", "LAG",    "LEASE"};
    static const char *const keys[] = {"node",   "address", "role",    "ballot", "promised",
                                       "leader", "commit",  "applied", "lag",    "lease"};
    cli_table_t t;
    cli_table_init(&t, 10);
    for (uint32_t c = 0; c < 10; c++) {
        t.headers[c] = headers[c];
        t.json_keys[c] = keys[c];
    }
    t.json_raw[6] = t.json_raw[7] = t.json_raw[8] = true;
    for (uint32_t i = 0; i < cli->node_count; i++) {
        const cli_node_info_t *v = &views[i];
        char node[CLI_INFO_VALUE_BYTES + 8];
        char leader[CLI_INFO_VALUE_BYTES + 8];
        char lease[CLI_INFO_VALUE_BYTES + 48];
        char commit[24];
        char applied[24];
        char lag[24];
        if (!v->up) {
            const char *cells[10] = {
                "?", cli->nodes[i], v->refused ? "refused" : "down", "", "", "", "", "",
                "",  v->error};
            cli_table_add(&t, cells);
            continue;
        }
        snprintf(node, sizeof(node), "n%s", v->node_id);
        leader_text(v, leader, sizeof(leader));
        snprintf(commit, sizeof(commit), "%" PRIu64, v->commit);
        snprintf(applied, sizeof(applied), "%" PRIu64, v->applied);
        snprintf(lag, sizeof(lag), "%" PRIu64, commit_max - v->applied);
        if (strcmp(v->lease_held, "1") == 0) {
            snprintf(lease, sizeof(lease), "held, %s ms left", v->lease_ms);
        } else {
            snprintf(lease, sizeof(lease), "-");
        }
        if (strcmp(v->rejoining, "1") == 0) {
            strncat(lease, " (rejoining)", sizeof(lease) - strlen(lease) - 1u);
        }
        const char *cells[10] = {node,
                                 cli->nodes[i],
                                 v->role,
                                 ballot_text(v->ballot),
                                 ballot_text(v->promised),
                                 leader,
                                 commit,
                                 applied,
                                 lag,
                                 lease};
        cli_table_add(&t, cells);
    }
    cli_table_print(&t, cli->format, stdout);
    cli_table_free(&t);
    if (up + refused < cli->node_count) {
        return CLI_EXIT_UNAVAILABLE;
    }
    return refused > 0 ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
}

static int endpoint_status(cli_t *cli)
{
    static const char *const headers[] = {"ENDPOINT",  "ID",       "VERSION",  "ROLE",
                                          "IS LEADER", "BALLOT",   "PROMISED", "COMMIT",
                                          "APPLIED",   "PEERS UP", "LEASE MS", "ERRORS"};
    static const char *const keys[] = {"endpoint",  "id",       "version",  "role",
                                       "is_leader", "ballot",   "promised", "commit",
                                       "applied",   "peers_up", "lease_ms", "errors"};
    cli_table_t t;
    cli_table_init(&t, 12);
    for (uint32_t c = 0; c < 12; c++) {
        t.headers[c] = headers[c];
        t.json_keys[c] = keys[c];
    }
    t.json_raw[1] = t.json_raw[4] = t.json_raw[7] = t.json_raw[8] = t.json_raw[9] = true;
    t.json_raw[10] = true;
    uint32_t up = 0;
    for (uint32_t i = 0; i < cli->node_count; i++) {
        cli_node_info_t v;
        cli_node_info(cli, cli->nodes[i], &v);
        if (!v.up) {
            const char *cells[12] = {cli->nodes[i], "", "", "down", "", "", "", "", "", "", "",
                                     v.error};
            cli_table_add(&t, cells);
            continue;
        }
        up++;
        char commit[24];
        char applied[24];
        snprintf(commit, sizeof(commit), "%" PRIu64, v.commit);
        snprintf(applied, sizeof(applied), "%" PRIu64, v.applied);
        bool leads = strcmp(v.role, "leader") == 0;
        const char *errors = strcmp(v.rejoining, "1") == 0 ? "rejoining" : "";
        const char *cells[12] = {cli->nodes[i],
                                 v.node_id,
                                 v.version,
                                 v.role,
                                 leads ? "true" : "false",
                                 ballot_text(v.ballot),
                                 ballot_text(v.promised),
                                 commit,
                                 applied,
                                 v.peers_up,
                                 strcmp(v.lease_held, "1") == 0 ? v.lease_ms : "0",
                                 errors};
        cli_table_add(&t, cells);
    }
    cli_table_print(&t, cli->format, stdout);
    cli_table_free(&t);
    return up == cli->node_count ? CLI_EXIT_OK : CLI_EXIT_UNAVAILABLE;
}

/* Healthy: the endpoint answers a linearizable read itself (it needs a leader and a
 * majority) within --timeout. A permission error still proves that. */
static bool endpoint_healthy(const cli_t *cli, const char *address, char *err, size_t err_bytes)
{
    static const char *const argv[] = {"EXISTS", "health"};
    ballot_reply_t reply;
    bool sent = false;
    if (cli_ask(cli, address, 2, argv, NULL, &reply, &sent, err, err_bytes) != 0) {
        return false;
    }
    bool ok = reply.type == BALLOT_REPLY_INTEGER ||
              (reply.type == BALLOT_REPLY_ERROR && strncmp(reply.text, "NOPERM", 6) == 0);
    if (!ok) {
        snprintf(err, err_bytes, "%s", reply.text != NULL ? reply.text : "unexpected reply");
    }
    ballot_reply_free(&reply);
    return ok;
}

static int endpoint_health(cli_t *cli)
{
    static const char *const headers[] = {"ENDPOINT", "HEALTH", "TOOK", "ERROR"};
    static const char *const keys[] = {"endpoint", "health", "took", "error"};
    cli_table_t t;
    cli_table_init(&t, 4);
    for (uint32_t c = 0; c < 4; c++) {
        t.headers[c] = headers[c];
        t.json_keys[c] = keys[c];
    }
    t.json_raw[1] = true;
    uint32_t healthy = 0;
    for (uint32_t i = 0; i < cli->node_count; i++) {
        char err[BALLOT_CLIENT_ERROR_BYTES] = "";
        uint64_t start = cli_now_ms();
        bool ok = endpoint_healthy(cli, cli->nodes[i], err, sizeof(err));
        char took[32];
        snprintf(took, sizeof(took), "%" PRIu64 "ms", cli_now_ms() - start);
        healthy += ok ? 1u : 0u;
        const char *cells[4] = {cli->nodes[i], ok ? "true" : "false", took, err};
        cli_table_add(&t, cells);
    }
    if (cli->format == CLI_FORMAT_SIMPLE) {
        /* etcdctl's wording: "<endpoint> is healthy: ..." */
        for (uint32_t r = 0; r < t.rows; r++) {
            const char *const *row = (const char *const *)t.cells + (size_t)r * t.columns;
            if (strcmp(row[1], "true") == 0) {
                printf("%s is healthy: answered a linearizable read in %s\n", row[0], row[2]);
            } else {
                printf("%s is unhealthy: %s\n", row[0], row[3]);
            }
        }
    } else {
        cli_table_print(&t, cli->format, stdout);
    }
    cli_table_free(&t);
    return healthy == cli->node_count ? CLI_EXIT_OK : CLI_EXIT_UNAVAILABLE;
}

int cli_endpoint(cli_t *cli, int argc, char **argv)
{
    (void)argc;
    if (strcmp(argv[1], "status") == 0) {
        return endpoint_status(cli);
    }
    if (strcmp(argv[1], "health") == 0) {
        return endpoint_health(cli);
    }
    return cli_fail(cli, CLI_EXIT_USAGE, "unknown endpoint command '%s' (want status or health)",
                    argv[1]);
}

/* ---- transfer-leader ---- */

typedef struct known {
    char addr[CLI_KNOWN_MAX][CLI_ADDRESS_BYTES];
    uint32_t count;
} known_t;

static void known_add(known_t *k, const char *address)
{
    for (uint32_t i = 0; i < k->count; i++) {
        if (strcmp(k->addr[i], address) == 0) {
            return;
        }
    }
    if (k->count < CLI_KNOWN_MAX) {
        snprintf(k->addr[k->count++], CLI_ADDRESS_BYTES, "%s", address);
    }
}

/* The address in an INFO leader field, "n2 at 127.0.0.1:6382"; false when it names none. */
static bool hinted_address(const cli_node_info_t *v, char *address, size_t address_bytes)
{
    const char *at = strstr(v->leader, " at ");
    if (at == NULL || strlen(at + 4) == 0 || strlen(at + 4) >= address_bytes) {
        return false;
    }
    snprintf(address, address_bytes, "%s", at + 4);
    return true;
}

/* Finds the leader's address: a node of the list that leads, or the one their hints name. */
static bool find_leader(const cli_t *cli, known_t *k, char *leader, size_t leader_bytes, char *why,
                        size_t why_bytes)
{
    snprintf(why, why_bytes, "no node of --cluster answered");
    /* Bounded: the list grows by at most CLI_KNOWN_MAX addresses, each asked once. */
    for (uint32_t i = 0; i < k->count; i++) {
        cli_node_info_t v;
        cli_node_info(cli, k->addr[i], &v);
        if (!v.up) {
            continue;
        }
        if (strcmp(v.role, "leader") == 0) {
            snprintf(leader, leader_bytes, "%s", k->addr[i]);
            return true;
        }
        char hint[CLI_ADDRESS_BYTES];
        if (hinted_address(&v, hint, sizeof(hint))) {
            known_add(k, hint);
        } else {
            snprintf(why, why_bytes, "n%s at %s knows no leader (an election may be running)",
                     v.node_id, k->addr[i]);
        }
    }
    return false;
}

static bool parse_node_id(const char *text, unsigned long *id)
{
    if (text[0] == 'n') {
        text++;
    }
    char *end = NULL;
    if (text[0] < '0' || text[0] > '9') {
        return false;
    }
    *id = strtoul(text, &end, 10);
    return *end == '\0' && *id >= 1 && *id <= 64;
}

/* True once some node reports `to` as the leader and `to` itself says it leads. */
static bool transfer_done(const cli_t *cli, known_t *k, const char *to)
{
    for (uint32_t i = 0; i < k->count; i++) {
        cli_node_info_t v;
        cli_node_info(cli, k->addr[i], &v);
        if (!v.up) {
            continue;
        }
        if (strcmp(v.node_id, to) == 0 && strcmp(v.role, "leader") == 0) {
            return true;
        }
        char hint[CLI_ADDRESS_BYTES];
        if (strcmp(v.leader_id, to) == 0 && hinted_address(&v, hint, sizeof(hint))) {
            known_add(k, hint);
        }
    }
    return false;
}

int cli_transfer(cli_t *cli, int argc, char **argv)
{
    (void)argc;
    unsigned long id = 0;
    if (!parse_node_id(argv[1], &id)) {
        return cli_fail(cli, CLI_EXIT_USAGE, "'%s' is not a node id (want e.g. 2 or n2)", argv[1]);
    }
    char to[16];
    snprintf(to, sizeof(to), "%lu", id);
    known_t *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "out of memory");
    }
    for (uint32_t i = 0; i < cli->node_count; i++) {
        known_add(k, cli->nodes[i]);
    }
    char leader[CLI_ADDRESS_BYTES];
    char why[BALLOT_CLIENT_ERROR_BYTES + 64];
    uint64_t start = cli_now_ms();
    int status = CLI_EXIT_OK;
    if (!find_leader(cli, k, leader, sizeof(leader), why, sizeof(why))) {
        status = cli_fail(cli, CLI_EXIT_UNAVAILABLE, "no leader found: %s", why);
        goto done;
    }
    /* The leader may change between INFO and the request: follow a NOTLEADER hint. */
    for (uint32_t hop = 0;; hop++) {
        const char *args[] = {"BALLOT.TRANSFER", to};
        ballot_reply_t reply;
        bool sent = false;
        char err[BALLOT_CLIENT_ERROR_BYTES];
        if (cli_ask(cli, leader, 2, args, NULL, &reply, &sent, err, sizeof(err)) != 0) {
            status = cli_fail(cli, CLI_EXIT_UNAVAILABLE, "%s", err);
            goto done;
        }
        if (reply.type != BALLOT_REPLY_ERROR) {
            ballot_reply_free(&reply);
            break;
        }
        char target[CLI_ADDRESS_BYTES];
        if (cli_classify_error(reply.text, target, sizeof(target)) == CLI_ERR_REDIRECT &&
            hop < CLI_REDIRECTS_MAX) {
            snprintf(leader, sizeof(leader), "%s", target);
            known_add(k, target);
            ballot_reply_free(&reply);
            continue;
        }
        status = cli_fail(cli, CLI_EXIT_REFUSED, "%s refused: %s", leader, reply.text);
        ballot_reply_free(&reply);
        goto done;
    }
    /* Bounded by CLI_TRANSFER_WAIT_MS. */
    while (cli_now_ms() - start < CLI_TRANSFER_WAIT_MS) {
        if (transfer_done(cli, k, to)) {
            if (cli->format == CLI_FORMAT_JSON) {
                printf("{\"leader\": %s, \"took_ms\": %" PRIu64 "}\n", to, cli_now_ms() - start);
            } else {
                printf("n%s leads (handover took %" PRIu64 " ms)\n", to, cli_now_ms() - start);
            }
            goto done;
        }
        cli_sleep_ms(CLI_TRANSFER_POLL_MS);
    }
    status = cli_fail(cli, CLI_EXIT_UNAVAILABLE,
                      "n%s did not become leader within %u ms (see ballot status)", to,
                      CLI_TRANSFER_WAIT_MS);
done:
    free(k);
    return status;
}
