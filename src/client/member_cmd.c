/* `ballot member list|add|promote|remove`: BALLOT.MEMBER from the command line, in
 * etcdctl's style (`-w table|json`). A change goes to the leader: the nodes of --cluster are
 * asked in turn until one does not answer NOTLEADER; it answers once the change is chosen
 * and applied, or with the reason it is refused. `list` prefers the leader's answer, which
 * has every member's lag. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ballot_client.h"
#include "client/member_cmd.h"

#define MEMBER_CLI_NODES_MAX     16u
#define MEMBER_CLI_ADDRESS_BYTES 280u
#define MEMBER_CLI_ROWS_MAX      32u
#define MEMBER_CLI_FIELD_BYTES   272u
#define MEMBER_CLI_EXIT_OK       0
#define MEMBER_CLI_EXIT_ERROR    1
#define MEMBER_CLI_EXIT_USAGE    2

typedef struct member_cli {
    char nodes[MEMBER_CLI_NODES_MAX][MEMBER_CLI_ADDRESS_BYTES];
    uint32_t node_count;
    uint32_t timeout_ms;
    const char *user;
    const char *password;
    bool json;
} member_cli_t;

typedef struct member_row {
    char id[8];
    char role[16];
    char addr[MEMBER_CLI_FIELD_BYTES];
    char link[8];
    char chosen[24];
    char lag[24];
    char epoch[24];
    char effective[8];
    char leader[8];
} member_row_t;

static int member_cli_usage(FILE *out, int status)
{
    fprintf(out, "usage: ballot [--cluster HOST:PORT,...] member COMMAND [-w table|json]\n"
                 "  list                  every member: id, role, peer address, link, lag\n"
                 "  add ID HOST:PORT      add node ID as a learner; peers dial it at HOST:PORT\n"
                 "  promote ID            make a caught-up learner a voter\n"
                 "  remove ID             remove a member (the leader too: it steps down)\n"
                 "A change is answered once it is chosen and applied (docs/operations.md\n"
                 "\"Membership\").\n");
    return status;
}

static int member_cli_nodes(member_cli_t *cli, const char *list)
{
    cli->node_count = 0;
    const char *at = list;
    while (*at != '\0') {
        size_t n = strcspn(at, ",");
        if (n == 0 || n >= MEMBER_CLI_ADDRESS_BYTES || cli->node_count >= MEMBER_CLI_NODES_MAX) {
            fprintf(stderr, "ballot member: bad --cluster list '%s'\n", list);
            return -1;
        }
        memcpy(cli->nodes[cli->node_count], at, n);
        cli->nodes[cli->node_count][n] = '\0';
        cli->node_count++;
        at += n;
        at += *at == ',' ? 1 : 0;
    }
    if (cli->node_count == 0) {
        fprintf(stderr, "ballot member: --cluster names no node\n");
        return -1;
    }
    return 0;
}

/* One command to one node: 0 with a reply, -1 (reason in err) when unreachable. */
static int member_cli_ask(const member_cli_t *cli, const char *address, uint32_t argc,
                          const char *const *argv, ballot_reply_t *reply, char *err,
                          size_t err_bytes)
{
    ballot_client_t *client = NULL;
    if (ballot_client_connect(address, cli->timeout_ms, &client, err, err_bytes) != 0) {
        return -1;
    }
    if (cli->password != NULL) {
        const char *auth[] = {"AUTH", cli->user != NULL ? cli->user : "default", cli->password};
        int rc = ballot_client_command(client, 3, auth, NULL, reply, err, err_bytes);
        if (rc != 0 || reply->type != BALLOT_REPLY_STATUS) {
            ballot_client_close(client);
            return rc; /* the AUTH refusal is the answer */
        }
        ballot_reply_free(reply);
    }
    int rc = ballot_client_command(client, argc, argv, NULL, reply, err, err_bytes);
    ballot_client_close(client);
    return rc;
}

static void member_cli_field(const char *line, const char *key, char *out, size_t out_bytes)
{
    size_t klen = strlen(key);
    out[0] = '\0';
    for (const char *at = line; at != NULL && *at != '\0';) {
        if (strncmp(at, key, klen) == 0 && at[klen] == '=') {
            const char *v = at + klen + 1;
            size_t n = strcspn(v, " ");
            snprintf(out, out_bytes, "%.*s", (int)(n < out_bytes ? n : out_bytes - 1), v);
            return;
        }
        at = strchr(at, ' ');
        at = at != NULL ? at + 1 : NULL;
    }
}

static uint32_t member_cli_rows(const ballot_reply_t *reply, member_row_t *rows)
{
    uint32_t count = 0;
    for (size_t i = 0; i < reply->element_count && count < MEMBER_CLI_ROWS_MAX; i++) {
        const ballot_reply_t *e = &reply->elements[i];
        if (e->type != BALLOT_REPLY_BULK || e->text == NULL) {
            continue;
        }
        member_row_t *r = &rows[count++];
        member_cli_field(e->text, "id", r->id, sizeof(r->id));
        member_cli_field(e->text, "role", r->role, sizeof(r->role));
        member_cli_field(e->text, "addr", r->addr, sizeof(r->addr));
        member_cli_field(e->text, "link", r->link, sizeof(r->link));
        member_cli_field(e->text, "chosen", r->chosen, sizeof(r->chosen));
        member_cli_field(e->text, "lag", r->lag, sizeof(r->lag));
        member_cli_field(e->text, "epoch", r->epoch, sizeof(r->epoch));
        member_cli_field(e->text, "effective", r->effective, sizeof(r->effective));
        member_cli_field(e->text, "leader", r->leader, sizeof(r->leader));
    }
    return count;
}

/* The reply came from the leader when the leader's own row says self. */
static bool member_cli_from_leader(const member_row_t *rows, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        if (strcmp(rows[i].link, "self") == 0 && strcmp(rows[i].id, rows[i].leader) == 0) {
            return true;
        }
    }
    return false;
}

static void member_cli_json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            printf("\\%c", *p);
        } else if (*p < 0x20) {
            printf("\\u%04x", *p);
        } else {
            putchar(*p);
        }
    }
    putchar('"');
}

static void member_cli_print(const member_cli_t *cli, const member_row_t *rows, uint32_t count)
{
    if (cli->json) {
        printf("{\"epoch\":%s,\"leader\":%s,\"members\":[", count > 0 ? rows[0].epoch : "0",
               count > 0 && rows[0].leader[0] != '\0' ? rows[0].leader : "0");
        for (uint32_t i = 0; i < count; i++) {
            const member_row_t *r = &rows[i];
            printf("%s{\"id\":%s,\"role\":", i > 0 ? "," : "", r->id);
            member_cli_json_string(r->role);
            printf(",\"addr\":");
            member_cli_json_string(strcmp(r->addr, "-") == 0 ? "" : r->addr);
            printf(",\"link\":");
            member_cli_json_string(r->link);
            printf(",\"chosen\":%s,\"lag\":%s,\"effective\":%s}", r->chosen, r->lag,
                   strcmp(r->effective, "yes") == 0 ? "true" : "false");
        }
        printf("]}\n");
        return;
    }
    printf("%-4s %-8s %-24s %-5s %-10s %-8s %s\n", "ID", "ROLE", "PEER ADDRESS", "LINK", "CHOSEN",
           "LAG", "IN EFFECT");
    for (uint32_t i = 0; i < count; i++) {
        const member_row_t *r = &rows[i];
        printf("%-4s %-8s %-24s %-5s %-10s %-8s %s\n", r->id, r->role, r->addr, r->link,
               strcmp(r->chosen, "-1") == 0 ? "?" : r->chosen,
               strcmp(r->lag, "-1") == 0 ? "?" : r->lag, r->effective);
    }
    if (count > 0) {
        printf("epoch %s, leader n%s\n", rows[0].epoch, rows[0].leader);
    }
}

static int member_cli_list(const member_cli_t *cli)
{
    static member_row_t rows[MEMBER_CLI_ROWS_MAX];
    static member_row_t best[MEMBER_CLI_ROWS_MAX];
    uint32_t best_count = 0;
    bool have = false;
    char err[BALLOT_CLIENT_ERROR_BYTES + MEMBER_CLI_ADDRESS_BYTES + 8] = "";
    const char *argv[] = {"BALLOT.MEMBER", "LIST"};
    for (uint32_t i = 0; i < cli->node_count; i++) {
        ballot_reply_t reply;
        if (member_cli_ask(cli, cli->nodes[i], 2, argv, &reply, err, sizeof(err)) != 0) {
            continue;
        }
        if (reply.type == BALLOT_REPLY_ERROR) {
            snprintf(err, sizeof(err), "%s: %s", cli->nodes[i], reply.text);
            ballot_reply_free(&reply);
            continue;
        }
        if (reply.type != BALLOT_REPLY_ARRAY) {
            ballot_reply_free(&reply);
            continue;
        }
        uint32_t count = member_cli_rows(&reply, rows);
        ballot_reply_free(&reply);
        bool leader = member_cli_from_leader(rows, count);
        if (!have || leader) {
            memcpy(best, rows, sizeof(rows[0]) * count);
            best_count = count;
            have = true;
        }
        if (leader) {
            break;
        }
    }
    if (!have) {
        fprintf(stderr, "ballot member list: no node answered%s%s\n", err[0] ? ": " : "", err);
        return MEMBER_CLI_EXIT_ERROR;
    }
    member_cli_print(cli, best, best_count);
    return MEMBER_CLI_EXIT_OK;
}

static int member_cli_change(const member_cli_t *cli, uint32_t argc, const char *const *argv)
{
    char err[BALLOT_CLIENT_ERROR_BYTES + MEMBER_CLI_ADDRESS_BYTES + 8] = "no node answered";
    for (uint32_t i = 0; i < cli->node_count; i++) {
        ballot_reply_t reply;
        char why[BALLOT_CLIENT_ERROR_BYTES];
        if (member_cli_ask(cli, cli->nodes[i], argc, argv, &reply, why, sizeof(why)) != 0) {
            snprintf(err, sizeof(err), "%s: %s", cli->nodes[i], why);
            continue;
        }
        if (reply.type == BALLOT_REPLY_ERROR && strncmp(reply.text, "NOTLEADER", 9) == 0) {
            snprintf(err, sizeof(err), "%s", reply.text);
            ballot_reply_free(&reply);
            continue;
        }
        int status = MEMBER_CLI_EXIT_OK;
        if (reply.type == BALLOT_REPLY_ERROR) {
            if (cli->json) {
                printf("{\"ok\":false,\"error\":");
                member_cli_json_string(reply.text);
                printf("}\n");
            }
            fprintf(stderr, "ballot member %s: %s\n", argv[1], reply.text);
            status = MEMBER_CLI_EXIT_ERROR;
        } else if (cli->json) {
            printf("{\"ok\":true,\"node\":%s}\n", argv[2]);
        } else {
            printf("%s n%s: done (chosen and applied)\n", argv[1], argv[2]);
        }
        ballot_reply_free(&reply);
        return status;
    }
    fprintf(stderr, "ballot member %s: %s\n", argv[1], err);
    return MEMBER_CLI_EXIT_ERROR;
}

int member_cli_main(const char *cluster, uint32_t timeout_ms, const char *user,
                    const char *password, int argc, char **argv)
{
    static member_cli_t cli;
    memset(&cli, 0, sizeof(cli));
    cli.timeout_ms = timeout_ms;
    cli.user = user;
    cli.password = password;
    const char *words[4] = {"BALLOT.MEMBER", NULL, NULL, NULL};
    uint32_t count = 1;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return member_cli_usage(stdout, MEMBER_CLI_EXIT_OK);
        } else if ((strcmp(argv[i], "-w") == 0 || strcmp(argv[i], "--write-out") == 0) &&
                   i + 1 < argc) {
            const char *w = argv[++i];
            if (strcmp(w, "json") != 0 && strcmp(w, "table") != 0) {
                fprintf(stderr, "ballot member: -w is table or json, not '%s'\n", w);
                return MEMBER_CLI_EXIT_USAGE;
            }
            cli.json = strcmp(w, "json") == 0;
        } else if (strcmp(argv[i], "--cluster") == 0 && i + 1 < argc) {
            cluster = argv[++i];
        } else if (count < 4) {
            words[count++] = argv[i];
        } else {
            fprintf(stderr, "ballot member: unexpected argument '%s'\n", argv[i]);
            return member_cli_usage(stderr, MEMBER_CLI_EXIT_USAGE);
        }
    }
    const char *sub = count > 1 ? words[1] : "";
    uint32_t want = strcmp(sub, "list") == 0      ? 2u
                    : strcmp(sub, "add") == 0     ? 4u
                    : strcmp(sub, "promote") == 0 ? 3u
                    : strcmp(sub, "remove") == 0  ? 3u
                                                  : 0u;
    if (want == 0 || count != want) {
        return member_cli_usage(stderr, MEMBER_CLI_EXIT_USAGE);
    }
    if (member_cli_nodes(&cli, cluster) != 0) {
        return MEMBER_CLI_EXIT_USAGE;
    }
    if (want == 2) {
        return member_cli_list(&cli);
    }
    return member_cli_change(&cli, count, words);
}
