/* The `ballot` tool's connections: AUTH, TLS, leader hints, -MOVED and retries (cli.h). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/cli.h"

int cli_fail(const cli_t *cli, int code, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    fprintf(stderr, "%s: ", cli != NULL && cli->prog != NULL ? cli->prog : "ballot");
    vfprintf(stderr, format, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

uint64_t cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void cli_sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

int cli_ask(const cli_t *cli, const char *address, uint32_t argc, const char *const *argv,
            const size_t *argv_len, ballot_reply_t *reply, bool *sent, char *err, size_t err_bytes)
{
    ballot_client_t *client = NULL;
    *sent = false;
    if (ballot_client_connect_tls(address, cli->timeout_ms, &cli->tls, &client, err, err_bytes) !=
        0) {
        return -1;
    }
    if (cli->password != NULL) {
        const char *auth[] = {"AUTH", cli->user != NULL ? cli->user : "default", cli->password};
        int rc = ballot_client_command(client, 3, auth, NULL, reply, err, err_bytes);
        if (rc != 0) {
            ballot_client_close(client);
            return -1;
        }
        if (reply->type != BALLOT_REPLY_STATUS) {
            /* The AUTH refusal is the answer (WRONGPASS). */
            ballot_client_close(client);
            return 0;
        }
        ballot_reply_free(reply);
    }
    int rc = ballot_client_command(client, argc, argv, argv_len, reply, err, err_bytes);
    /* A failure after the connection was made may have come after the request left. */
    *sent = rc != 0;
    ballot_client_close(client);
    return rc;
}

/* Copies the HOST:PORT word that starts at text into address; false when there is none. */
static bool copy_address(const char *text, char *address, size_t address_bytes)
{
    size_t n = strcspn(text, " \t\r\n;,)");
    if (n == 0 || n >= address_bytes || memchr(text, ':', n) == NULL) {
        return false;
    }
    memcpy(address, text, n);
    address[n] = '\0';
    return true;
}

static bool has_prefix(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(text, prefix, n) == 0 && (text[n] == ' ' || text[n] == '\0');
}

cli_error_class_t cli_classify_error(const char *text, char *address, size_t address_bytes)
{
    address[0] = '\0';
    if (has_prefix(text, "MOVED") || has_prefix(text, "ASK")) {
        /* MOVED <slot> <host:port> (the Redis Cluster redirect). */
        const char *at = strchr(text, ' ');
        at = at != NULL ? strchr(at + 1, ' ') : NULL;
        if (at != NULL && copy_address(at + 1, address, address_bytes)) {
            return CLI_ERR_REDIRECT;
        }
        return CLI_ERR_REFUSED;
    }
    if (has_prefix(text, "NOTLEADER")) {
        /* "NOTLEADER this node does not lead; leader is n2 at 127.0.0.1:6382" */
        const char *at = strstr(text, " at ");
        if (at != NULL && copy_address(at + 4, address, address_bytes)) {
            return CLI_ERR_REDIRECT;
        }
        return CLI_ERR_RETRY;
    }
    if (has_prefix(text, "TRYAGAIN") || has_prefix(text, "CLUSTERDOWN") ||
        has_prefix(text, "LOADING")) {
        return CLI_ERR_RETRY;
    }
    if (has_prefix(text, "TIMEOUT")) {
        return CLI_ERR_INDETERMINATE;
    }
    return CLI_ERR_REFUSED;
}

typedef struct call_state {
    char redirect[CLI_ADDRESS_BYTES]; /* where the last hint pointed; "" when none */
    uint32_t redirects;
    char last_error[BALLOT_CLIENT_ERROR_BYTES];
} call_state_t;

/* One attempt at address. Returns -1 to go on (the reason kept in st), or an exit code. */
static int call_once(const cli_t *cli, call_state_t *st, const char *address, bool write,
                     uint32_t argc, const char *const *argv, const size_t *argv_len,
                     ballot_reply_t *reply)
{
    bool sent = false;
    char err[BALLOT_CLIENT_ERROR_BYTES];
    if (cli_ask(cli, address, argc, argv, argv_len, reply, &sent, err, sizeof(err)) != 0) {
        if (write && sent) {
            return cli_fail(cli, CLI_EXIT_UNKNOWN, "%s; the write may or may not have been applied",
                            err);
        }
        snprintf(st->last_error, sizeof(st->last_error), "%s", err);
        return -1;
    }
    if (reply->type != BALLOT_REPLY_ERROR) {
        return CLI_EXIT_OK;
    }
    char target[CLI_ADDRESS_BYTES];
    switch (cli_classify_error(reply->text, target, sizeof(target))) {
    case CLI_ERR_REDIRECT:
        if (st->redirects >= CLI_REDIRECTS_MAX) {
            cli_fail(cli, CLI_EXIT_UNAVAILABLE, "more than %u redirects; last: %s",
                     CLI_REDIRECTS_MAX, reply->text);
            ballot_reply_free(reply);
            return CLI_EXIT_UNAVAILABLE;
        }
        st->redirects++;
        snprintf(st->redirect, sizeof(st->redirect), "%s", target);
        snprintf(st->last_error, sizeof(st->last_error), "%s: %s", address, reply->text);
        ballot_reply_free(reply);
        return -1;
    case CLI_ERR_RETRY:
        snprintf(st->last_error, sizeof(st->last_error), "%s: %s", address, reply->text);
        ballot_reply_free(reply);
        return -1;
    case CLI_ERR_INDETERMINATE:
        if (write) {
            cli_fail(cli, CLI_EXIT_UNKNOWN, "%s: %s", address, reply->text);
            ballot_reply_free(reply);
            return CLI_EXIT_UNKNOWN;
        }
        snprintf(st->last_error, sizeof(st->last_error), "%s: %s", address, reply->text);
        ballot_reply_free(reply);
        return -1;
    case CLI_ERR_REFUSED:
        break;
    }
    return CLI_EXIT_OK; /* the caller reports the refusal */
}

int cli_call(const cli_t *cli, bool write, uint32_t argc, const char *const *argv,
             const size_t *argv_len, ballot_reply_t *reply)
{
    call_state_t st;
    memset(&st, 0, sizeof(st));
    uint64_t deadline = cli_now_ms() + cli->timeout_ms;
    /* Bounded by the deadline, and each round by the node list and CLI_REDIRECTS_MAX. */
    for (;;) {
        for (uint32_t i = 0; i < cli->node_count; i++) {
            int rc = call_once(cli, &st, cli->nodes[i], write, argc, argv, argv_len, reply);
            /* A hint is followed at once, and the hinted node again if it hints further. */
            while (rc == -1 && st.redirect[0] != '\0') {
                char target[CLI_ADDRESS_BYTES];
                snprintf(target, sizeof(target), "%s", st.redirect);
                st.redirect[0] = '\0';
                rc = call_once(cli, &st, target, write, argc, argv, argv_len, reply);
            }
            if (rc != -1) {
                return rc;
            }
        }
        if (cli_now_ms() + CLI_RETRY_PAUSE_MS >= deadline) {
            break;
        }
        cli_sleep_ms(CLI_RETRY_PAUSE_MS);
    }
    return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "no node could serve it within %u ms (last: %s)",
                    cli->timeout_ms, st.last_error[0] != '\0' ? st.last_error : "no answer");
}

void cli_node_info(const cli_t *cli, const char *address, cli_node_info_t *v)
{
    static const char *const argv[] = {"INFO"};
    memset(v, 0, sizeof(*v));
    ballot_reply_t reply;
    bool sent = false;
    uint64_t start = cli_now_ms();
    if (cli_ask(cli, address, 1, argv, NULL, &reply, &sent, v->error, sizeof(v->error)) != 0) {
        return;
    }
    v->took_ms = cli_now_ms() - start;
    if (reply.type != BALLOT_REPLY_BULK) {
        v->refused = reply.type == BALLOT_REPLY_ERROR;
        snprintf(v->error, sizeof(v->error), "INFO refused: %s",
                 reply.text != NULL ? reply.text : "unexpected reply");
        ballot_reply_free(&reply);
        return;
    }
    char number[CLI_INFO_VALUE_BYTES];
    const char *info = reply.text;
    v->up = ballot_info_field(info, "role", v->role, sizeof(v->role));
    ballot_info_field(info, "node_id", v->node_id, sizeof(v->node_id));
    ballot_info_field(info, "ballot", v->ballot, sizeof(v->ballot));
    ballot_info_field(info, "promised", v->promised, sizeof(v->promised));
    ballot_info_field(info, "leader_id", v->leader_id, sizeof(v->leader_id));
    ballot_info_field(info, "leader", v->leader, sizeof(v->leader));
    ballot_info_field(info, "lease_held", v->lease_held, sizeof(v->lease_held));
    ballot_info_field(info, "lease_remaining_ms", v->lease_ms, sizeof(v->lease_ms));
    ballot_info_field(info, "rejoining", v->rejoining, sizeof(v->rejoining));
    ballot_info_field(info, "ballot_version", v->version, sizeof(v->version));
    ballot_info_field(info, "peers_up", v->peers_up, sizeof(v->peers_up));
    ballot_info_field(info, "node_count", v->node_count, sizeof(v->node_count));
    if (ballot_info_field(info, "commit_index", number, sizeof(number))) {
        v->commit = strtoull(number, NULL, 10);
    }
    if (ballot_info_field(info, "applied_index", number, sizeof(number))) {
        v->applied = strtoull(number, NULL, 10);
    }
    if (!v->up) {
        snprintf(v->error, sizeof(v->error), "not a ballotd (no role in INFO)");
    }
    ballot_reply_free(&reply);
}
