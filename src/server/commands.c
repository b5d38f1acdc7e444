/* The RESP commands: the key-value ones go through the log (writes) or a read barrier
 * (reads); the rest are answered here, enough for redis-cli, redis-benchmark and common
 * client libraries to connect (docs/commands.md lists them all). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "server/acl.h"
#include "server/log.h"
#include "server/server_internal.h"

#define COMMAND_NAME_BYTES_MAX 32u

typedef struct command_args {
    uint32_t argc;
    const uint8_t *const *argv;
    const uint32_t *len;
} command_args_t;

typedef void (*command_fn)(client_t *client, const command_args_t *args);

typedef struct command_entry {
    const char *name;
    int arity; /* as COMMAND reports it: N exact, -N at least N */
    const char *flags;
    int first_key;
    int last_key;
    command_fn fn; /* NULL: a key-value command */
    int step;      /* between keys (0 taken as 1) */
} command_entry_t;

static bool args_is(const command_args_t *args, uint32_t i, const char *word)
{
    size_t n = strlen(word);
    return i < args->argc && args->len[i] == n &&
           strncasecmp((const char *)args->argv[i], word, n) == 0;
}

static void reply_simple(client_t *client, const char *text)
{
    wire_buf_t *out = server_scratch(client->srv);
    resp_reply_simple(out, text);
    client_reply_now(client, out);
}

static void reply_integer(client_t *client, int64_t value)
{
    wire_buf_t *out = server_scratch(client->srv);
    resp_reply_integer(out, value);
    client_reply_now(client, out);
}

static void reply_bulk(client_t *client, const void *bytes, size_t size)
{
    wire_buf_t *out = server_scratch(client->srv);
    resp_reply_bulk(out, bytes, size);
    client_reply_now(client, out);
}

static void reply_arity(client_t *client, const command_args_t *args)
{
    client_reply_error(
        client, "ERR wrong number of arguments for '%.*s' command",
        (int)(args->len[0] < COMMAND_NAME_BYTES_MAX ? args->len[0] : COMMAND_NAME_BYTES_MAX),
        (const char *)args->argv[0]);
}

static void cmd_ping(client_t *client, const command_args_t *args)
{
    if (args->argc == 1) {
        static const char pong[] = "+PONG\r\n";
        if (client->count == 0) {
            net_conn_write(client->conn, pong, sizeof(pong) - 1);
        } else {
            reply_simple(client, "PONG");
        }
    } else if (args->argc == 2) {
        reply_bulk(client, args->argv[1], args->len[1]);
    } else {
        reply_arity(client, args);
    }
}

static void cmd_echo(client_t *client, const command_args_t *args)
{
    if (args->argc != 2) {
        reply_arity(client, args);
        return;
    }
    reply_bulk(client, args->argv[1], args->len[1]);
}

static void cmd_info(client_t *client, const command_args_t *args)
{
    (void)args;
    wire_buf_t text;
    wire_buf_init(&text);
    commands_info(client->srv, &text);
    reply_bulk(client, text.bytes, text.size);
    wire_buf_free(&text);
}

/* Only database 0 exists. SELECT of another one fails, and so does every later command of
 * the connection until SELECT 0 or RESET: a client configured for database 2 must not
 * write to database 0 unnoticed (docs/commands.md). */
static void cmd_select(client_t *client, const command_args_t *args)
{
    int64_t db = 0;
    if (args->argc != 2) {
        reply_arity(client, args);
    } else if (!kv_parse_i64(args->argv[1], args->len[1], &db)) {
        client_reply_error(client, "ERR value is not an integer or out of range");
    } else if (db == 0) {
        client->db_refused = 0;
        reply_simple(client, "OK");
    } else {
        client->db_refused = db > 0 && db < INT32_MAX ? (uint32_t)db : UINT32_MAX;
        client_reply_error(client, "ERR DB index is out of range");
    }
}

static void cmd_quit(client_t *client, const command_args_t *args)
{
    (void)args;
    reply_simple(client, "OK");
    client->quitting = true;
    client_drain(client);
}

static void cmd_readonly(client_t *client, const command_args_t *args)
{
    (void)args;
    client->stale_reads = true;
    reply_simple(client, "OK");
}

static void cmd_readwrite(client_t *client, const command_args_t *args)
{
    (void)args;
    client->stale_reads = false;
    reply_simple(client, "OK");
}

static void cmd_time(client_t *client, const command_args_t *args)
{
    (void)args;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char secs[24];
    char usecs[24];
    int ns = snprintf(secs, sizeof(secs), "%lld", (long long)tv.tv_sec);
    int nu = snprintf(usecs, sizeof(usecs), "%lld", (long long)tv.tv_usec);
    wire_buf_t *out = server_scratch(client->srv);
    resp_reply_array_header(out, 2);
    resp_reply_bulk(out, secs, (size_t)ns);
    resp_reply_bulk(out, usecs, (size_t)nu);
    client_reply_now(client, out);
}

/* The plaintext password a client sent: wiped in the parser's buffer once hashed. */
static uint8_t *args_mutable(const command_args_t *args, uint32_t i)
{
    return (uint8_t *)(uintptr_t)args->argv[i];
}

/* Authenticates as `name`; wipes the password argument either way. */
static bool commands_login(client_t *client, const command_args_t *args, const uint8_t *name,
                           uint32_t name_size, uint32_t password_arg)
{
    server_t *srv = client->srv;
    const acl_user_t *user = acl_find_user(srv->cfg->acl, name, name_size);
    if (!acl_authenticate(user, args_mutable(args, password_arg), args->len[password_arg])) {
        srv->stat_auth_failures++;
        log_debug("client %s: authentication as '%.*s' failed", net_conn_peer_text(client->conn),
                  (int)(name_size < ACL_NAME_BYTES_MAX ? name_size : ACL_NAME_BYTES_MAX),
                  (const char *)name);
        return false;
    }
    client->user = user;
    return true;
}

static void reply_wrongpass(client_t *client)
{
    client_reply_error(client, "WRONGPASS invalid username-password pair or user is disabled.");
}

static bool commands_default_nopass(const server_t *srv)
{
    const acl_user_t *d = acl_find_user(srv->cfg->acl, (const uint8_t *)"default", 7);
    return d != NULL && d->nopass;
}

/* AUTH password (the `default` user) or AUTH user password. */
static void cmd_auth(client_t *client, const command_args_t *args)
{
    if (args->argc > 3) {
        OPENSSL_cleanse(args_mutable(args, args->argc - 1), args->len[args->argc - 1]);
        client_reply_error(client, "ERR syntax error");
        return;
    }
    if (args->argc < 2) {
        reply_arity(client, args);
        return;
    }
    if (args->argc == 2 && commands_default_nopass(client->srv)) {
        OPENSSL_cleanse(args_mutable(args, 1), args->len[1]);
        client_reply_error(client, "ERR AUTH <password> called without any password configured "
                                   "for the default user. Are you sure your configuration is "
                                   "correct?");
        return;
    }
    bool ok = args->argc == 3 ? commands_login(client, args, args->argv[1], args->len[1], 2)
                              : commands_login(client, args, (const uint8_t *)"default", 7, 1);
    if (ok) {
        reply_simple(client, "OK");
    } else {
        reply_wrongpass(client);
    }
}

static bool client_name_valid(const uint8_t *name, uint32_t size);

/* RESP3 is not spoken: HELLO 3 is refused (clients fall back to RESP2), HELLO or HELLO 2
 * answers with the server's description as Redis does, after its AUTH and SETNAME
 * options. */
static void cmd_hello(client_t *client, const command_args_t *args)
{
    uint32_t auth_at = 0;
    uint32_t name_at = 0;
    uint32_t bad_at = 0;
    for (uint32_t i = 2; i < args->argc && bad_at == 0; i++) {
        if (args_is(args, i, "AUTH") && i + 2 < args->argc) {
            auth_at = i;
            i += 2;
        } else if (args_is(args, i, "SETNAME") && i + 1 < args->argc) {
            name_at = i + 1;
            i++;
        } else {
            bad_at = i;
        }
    }
    if (args->argc >= 2 && !args_is(args, 1, "2")) {
        bad_at = 1;
    }
    if (bad_at != 0) {
        if (auth_at != 0) {
            OPENSSL_cleanse(args_mutable(args, auth_at + 2), args->len[auth_at + 2]);
        }
        if (bad_at == 1) {
            client_reply_error(client, "NOPROTO sorry, this protocol version is not supported.");
        } else {
            client_reply_error(client, "ERR Syntax error in HELLO option '%.*s'",
                               (int)(args->len[bad_at] < COMMAND_NAME_BYTES_MAX
                                         ? args->len[bad_at]
                                         : COMMAND_NAME_BYTES_MAX),
                               (const char *)args->argv[bad_at]);
        }
        return;
    }
    if (auth_at != 0 && !commands_login(client, args, args->argv[auth_at + 1],
                                        args->len[auth_at + 1], auth_at + 2)) {
        reply_wrongpass(client);
        return;
    }
    if (client->user == NULL) {
        client_reply_error(client, "NOAUTH HELLO must be called with the client already "
                                   "authenticated, otherwise the HELLO <proto> AUTH <user> "
                                   "<pass> option can be used to authenticate the client and "
                                   "select the RESP protocol version at the same time");
        return;
    }
    if (name_at != 0) {
        if (!client_name_valid(args->argv[name_at], args->len[name_at])) {
            client_reply_error(client, "ERR Client names cannot contain spaces, newlines or "
                                       "special characters.");
            return;
        }
        memcpy(client->name, args->argv[name_at], args->len[name_at]);
        client->name[args->len[name_at]] = '\0';
    }
    wire_buf_t *out = server_scratch(client->srv);
    resp_reply_array_header(out, 14);
    resp_reply_bulk(out, "server", 6);
    resp_reply_bulk(out, "redis", 5);
    resp_reply_bulk(out, "version", 7);
    resp_reply_bulk(out, "7.0.0", 5);
    resp_reply_bulk(out, "proto", 5);
    resp_reply_integer(out, 2);
    resp_reply_bulk(out, "id", 2);
    resp_reply_integer(out, (int64_t)(client->client_id & CLIENT_ID_COUNTER_MASK));
    resp_reply_bulk(out, "mode", 4);
    resp_reply_bulk(out, "standalone", 10);
    resp_reply_bulk(out, "role", 4);
    resp_reply_bulk(out, "master", 6);
    resp_reply_bulk(out, "modules", 7);
    resp_reply_array_header(out, 0);
    client_reply_now(client, out);
}

/* ACL WHOAMI, USERS, LIST, CAT: the users are read from --users-file at start and never
 * change while ballotd runs. */
static void cmd_acl(client_t *client, const command_args_t *args)
{
    const acl_t *acl = client->srv->cfg->acl;
    wire_buf_t *out = server_scratch(client->srv);
    if (args_is(args, 1, "WHOAMI") && args->argc == 2) {
        reply_bulk(client, client->user->name, strlen(client->user->name));
    } else if (args_is(args, 1, "USERS") && args->argc == 2) {
        resp_reply_array_header(out, acl_user_count(acl));
        for (uint32_t i = 0; i < acl_user_count(acl); i++) {
            const char *name = acl_user_at(acl, i)->name;
            resp_reply_bulk(out, name, strlen(name));
        }
        client_reply_now(client, out);
    } else if (args_is(args, 1, "LIST") && args->argc == 2) {
        resp_reply_array_header(out, acl_user_count(acl));
        for (uint32_t i = 0; i < acl_user_count(acl); i++) {
            char line[ACL_RULES_BYTES_MAX * 2 + ACL_PATTERNS_MAX * ACL_PATTERN_BYTES_MAX];
            acl_user_describe(acl_user_at(acl, i), line, sizeof(line));
            resp_reply_bulk(out, line, strlen(line));
        }
        client_reply_now(client, out);
    } else if (args_is(args, 1, "CAT") && args->argc == 2) {
        resp_reply_array_header(out, acl_category_count());
        for (uint32_t i = 0; i < acl_category_count(); i++) {
            resp_reply_bulk(out, acl_category_name(i), strlen(acl_category_name(i)));
        }
        client_reply_now(client, out);
    } else if (args_is(args, 1, "CAT") && args->argc == 3) {
        uint32_t bit = acl_category_find(args->argv[2], args->len[2]);
        if (bit == 0) {
            client_reply_error(client, "ERR Unknown category '%.*s'",
                               (int)(args->len[2] < 128u ? args->len[2] : 128u),
                               (const char *)args->argv[2]);
            return;
        }
        int64_t count = 0;
        char name[ACL_COMMAND_NAME_BYTES];
        for (uint32_t i = 0; i < acl_command_count(); i++) {
            bool listed = (acl_command_categories(i) & bit) != 0 &&
                          strchr(acl_command_name(i, name, sizeof(name)), '*') == NULL;
            count += listed ? 1 : 0;
        }
        resp_reply_array_header(out, count);
        for (uint32_t i = 0; i < acl_command_count(); i++) {
            if ((acl_command_categories(i) & bit) != 0 &&
                strchr(acl_command_name(i, name, sizeof(name)), '*') == NULL) {
                resp_reply_bulk(out, name, strlen(name));
            }
        }
        client_reply_now(client, out);
    } else if (args_is(args, 1, "SETUSER") || args_is(args, 1, "DELUSER") ||
               args_is(args, 1, "LOAD") || args_is(args, 1, "SAVE") ||
               args_is(args, 1, "GETUSER") || args_is(args, 1, "GENPASS") ||
               args_is(args, 1, "LOG") || args_is(args, 1, "DRYRUN")) {
        client_reply_error(client,
                           "ERR ACL %.*s is not supported by ballotd: users come from "
                           "--users-file, read at start (docs/security.md)",
                           (int)args->len[1], (const char *)args->argv[1]);
    } else if (args->argc >= 2 && (args_is(args, 1, "WHOAMI") || args_is(args, 1, "USERS") ||
                                   args_is(args, 1, "LIST") || args_is(args, 1, "CAT"))) {
        client_reply_error(client, "ERR wrong number of arguments for 'acl|%.*s' command",
                           (int)args->len[1], (const char *)args->argv[1]);
    } else if (args->argc < 2) {
        reply_arity(client, args);
    } else {
        client_reply_error(
            client, "ERR unknown subcommand '%.*s'. Try ACL HELP.",
            (int)(args->len[1] < COMMAND_NAME_BYTES_MAX ? args->len[1] : COMMAND_NAME_BYTES_MAX),
            (const char *)args->argv[1]);
    }
}

static bool client_name_valid(const uint8_t *name, uint32_t size)
{
    if (size >= CLIENT_NAME_BYTES_MAX) {
        return false;
    }
    for (uint32_t i = 0; i < size; i++) {
        if (name[i] <= ' ' || name[i] > '~') {
            return false;
        }
    }
    return true;
}

static void client_describe(client_t *client, wire_buf_t *out)
{
    char line[CLIENT_NAME_BYTES_MAX + 256];
    uint64_t age_s = (server_now_ms() - client->connected_ms) / 1000u;
    int n = snprintf(line, sizeof(line),
                     "id=%llu addr=%s name=%s age=%llu cmd-pipeline=%u readonly=%d user=%s\n",
                     (unsigned long long)client->client_id, net_conn_peer_text(client->conn),
                     client->name, (unsigned long long)age_s, client->count,
                     client->stale_reads ? 1 : 0, client->user != NULL ? client->user->name : "");
    if (n > 0) {
        wire_buf_append(out, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    }
}

static bool args_text_is(const command_args_t *args, uint32_t i, const char *text)
{
    size_t n = strlen(text);
    return args->len[i] == n && memcmp(args->argv[i], text, n) == 0;
}

/* Closes a client: at once, or after this reply when it is the one asking. */
static void client_kill_one(client_t *client, client_t *victim)
{
    log_info("client %s killed by %s (CLIENT KILL)", net_conn_peer_text(victim->conn),
             net_conn_peer_text(client->conn));
    if (victim == client) {
        client->quitting = true;
    } else {
        net_conn_close(victim->conn);
    }
}

/* CLIENT KILL addr, or CLIENT KILL [ID id] [ADDR addr] [USER name] [SKIPME yes|no]. */
static void client_kill(client_t *client, const command_args_t *args)
{
    if (args->argc == 3) {
        for (client_t *c = client->srv->clients; c != NULL; c = c->next) {
            if (!net_conn_closing(c->conn) && args_text_is(args, 2, net_conn_peer_text(c->conn))) {
                client_kill_one(client, c);
                reply_simple(client, "OK");
                client_drain(client);
                return;
            }
        }
        client_reply_error(client, "ERR No such client");
        return;
    }
    uint32_t id_at = 0;
    uint32_t addr_at = 0;
    uint32_t user_at = 0;
    bool skipme = true;
    for (uint32_t i = 2; i < args->argc; i += 2) {
        if (i + 1 >= args->argc) {
            client_reply_error(client, "ERR syntax error");
            return;
        }
        if (args_is(args, i, "ID")) {
            id_at = i + 1;
        } else if (args_is(args, i, "ADDR")) {
            addr_at = i + 1;
        } else if (args_is(args, i, "USER")) {
            user_at = i + 1;
        } else if (args_is(args, i, "SKIPME") &&
                   (args_is(args, i + 1, "yes") || args_is(args, i + 1, "no"))) {
            skipme = args_is(args, i + 1, "yes");
        } else {
            client_reply_error(client, "ERR syntax error");
            return;
        }
    }
    int64_t killed = 0;
    for (client_t *c = client->srv->clients; c != NULL; c = c->next) {
        char id[24];
        snprintf(id, sizeof(id), "%llu", (unsigned long long)c->client_id);
        if (net_conn_closing(c->conn) || (skipme && c == client) ||
            (id_at != 0 && !args_text_is(args, id_at, id)) ||
            (addr_at != 0 && !args_text_is(args, addr_at, net_conn_peer_text(c->conn))) ||
            (user_at != 0 && (c->user == NULL || !args_text_is(args, user_at, c->user->name)))) {
            continue;
        }
        client_kill_one(client, c);
        killed++;
    }
    reply_integer(client, killed);
    client_drain(client);
}

static void cmd_client(client_t *client, const command_args_t *args)
{
    if (args->argc < 2) {
        reply_arity(client, args);
    } else if (args_is(args, 1, "SETNAME") && args->argc == 3) {
        if (!client_name_valid(args->argv[2], args->len[2])) {
            client_reply_error(client, "ERR Client names cannot contain spaces, newlines or "
                                       "special characters.");
            return;
        }
        memcpy(client->name, args->argv[2], args->len[2]);
        client->name[args->len[2]] = '\0';
        reply_simple(client, "OK");
    } else if (args_is(args, 1, "GETNAME")) {
        if (client->name[0] == '\0') {
            wire_buf_t *out = server_scratch(client->srv);
            resp_reply_null_bulk(out);
            client_reply_now(client, out);
        } else {
            reply_bulk(client, client->name, strlen(client->name));
        }
    } else if (args_is(args, 1, "ID")) {
        reply_integer(client, (int64_t)client->client_id);
    } else if (args_is(args, 1, "SETINFO") || args_is(args, 1, "NO-EVICT") ||
               args_is(args, 1, "NO-TOUCH") ||
               (args_is(args, 1, "REPLY") && args_is(args, 2, "ON"))) {
        reply_simple(client, "OK");
    } else if (args_is(args, 1, "INFO") || args_is(args, 1, "LIST")) {
        wire_buf_t text;
        wire_buf_init(&text);
        if (args_is(args, 1, "INFO")) {
            client_describe(client, &text);
        } else {
            for (client_t *c = client->srv->clients; c != NULL; c = c->next) {
                client_describe(c, &text);
            }
        }
        reply_bulk(client, text.bytes, text.size);
        wire_buf_free(&text);
    } else if (args_is(args, 1, "KILL") && args->argc >= 3) {
        client_kill(client, args);
    } else {
        client_reply_error(
            client, "ERR unknown subcommand '%.*s'. Try CLIENT HELP.",
            (int)(args->len[1] < COMMAND_NAME_BYTES_MAX ? args->len[1] : COMMAND_NAME_BYTES_MAX),
            (const char *)args->argv[1]);
    }
}

/* What CONFIG GET reports: fixed answers that tell tools how Ballot persists. */
static const char *const config_answers[][2] = {
    {"save", ""},       {"appendonly", "yes"}, {"appendfsync", "always"},
    {"databases", "1"}, {"maxmemory", "0"},    {"timeout", "0"},
};
#define CONFIG_ANSWER_COUNT (sizeof(config_answers) / sizeof(config_answers[0]))

static bool glob_match_nocase(const uint8_t *pattern, uint32_t plen, const char *text)
{
    /* '*' and '?' only; iterative with one backtrack point. */
    uint32_t p = 0;
    size_t t = 0;
    size_t tlen = strlen(text);
    uint32_t star_p = UINT32_MAX;
    size_t star_t = 0;
    while (t < tlen) {
        if (p < plen &&
            (pattern[p] == '?' || ((pattern[p] | 0x20) == (text[t] | 0x20) && pattern[p] != '*'))) {
            p++;
            t++;
        } else if (p < plen && pattern[p] == '*') {
            star_p = p++;
            star_t = t;
        } else if (star_p != UINT32_MAX) {
            p = star_p + 1;
            t = ++star_t;
        } else {
            return false;
        }
    }
    while (p < plen && pattern[p] == '*') {
        p++;
    }
    return p == plen;
}

static void cmd_config(client_t *client, const command_args_t *args)
{
    if (args_is(args, 1, "GET") && args->argc >= 3) {
        bool hit[CONFIG_ANSWER_COUNT];
        int64_t hit_count = 0;
        for (size_t i = 0; i < CONFIG_ANSWER_COUNT; i++) {
            hit[i] = false;
            for (uint32_t a = 2; a < args->argc && !hit[i]; a++) {
                hit[i] = glob_match_nocase(args->argv[a], args->len[a], config_answers[i][0]);
            }
            hit_count += hit[i] ? 1 : 0;
        }
        wire_buf_t *out = server_scratch(client->srv);
        resp_reply_array_header(out, hit_count * 2);
        for (size_t i = 0; i < CONFIG_ANSWER_COUNT; i++) {
            if (hit[i]) {
                resp_reply_bulk(out, config_answers[i][0], strlen(config_answers[i][0]));
                resp_reply_bulk(out, config_answers[i][1], strlen(config_answers[i][1]));
            }
        }
        client_reply_now(client, out);
    } else if (args_is(args, 1, "RESETSTAT")) {
        reply_simple(client, "OK");
    } else if (args_is(args, 1, "SET")) {
        client_reply_error(client, "ERR CONFIG SET is not supported by ballotd; restart it "
                                   "with other flags");
    } else {
        reply_arity(client, args);
    }
}

static void cmd_transfer(client_t *client, const command_args_t *args)
{
    server_t *srv = client->srv;
    char text[16];
    if (args->argc != 2 || args->len[1] == 0 || args->len[1] >= sizeof(text)) {
        reply_arity(client, args);
        return;
    }
    memcpy(text, args->argv[1], args->len[1]);
    text[args->len[1]] = '\0';
    char *end = NULL;
    unsigned long to = strtoul(text, &end, 10);
    if (*end != '\0' || to < 1 || to > NODES_MAX || !members_is_voter(srv, (uint32_t)to) ||
        to == srv->cfg->id) {
        client_reply_error(client, "ERR node id must be another voter (BALLOT.MEMBER LIST)");
        return;
    }
    int rc = node_transfer_leadership(srv->node, (uint32_t)to, server_now_ms());
    if (rc == BALLOT_OK) {
        log_info("leadership transfer to n%lu requested by client %s", to,
                 net_conn_peer_text(client->conn));
        reply_simple(client, "OK");
    } else if (rc == BALLOT_ENOTLEADER) {
        char hint[NET_HOST_BYTES_MAX + 32];
        client_reply_error(client, "NOTLEADER this node does not lead; leader is %s",
                           server_leader_hint(srv, hint, sizeof(hint)));
    } else {
        client_reply_error(client, "ERR transfer refused: %s", ballot_strerror(rc));
    }
}

static void cmd_snapshot(client_t *client, const command_args_t *args)
{
    backup_command(client, args->argc, args->argv, args->len);
}

static void cmd_cluster(client_t *client, const command_args_t *args)
{
    cluster_command(client, args->argc, args->argv, args->len);
}

static void cmd_slowlog(client_t *client, const command_args_t *args)
{
    metrics_slowlog_command(client, args->argc, args->argv, args->len);
}

static void cmd_member(client_t *client, const command_args_t *args)
{
    member_command(client, args->argc, args->argv, args->len);
}

static void cmd_data(client_t *client, const command_args_t *args);
static void cmd_command(client_t *client, const command_args_t *args);
static void cmd_multi(client_t *client, const command_args_t *args);
static void cmd_exec(client_t *client, const command_args_t *args);
static void cmd_discard(client_t *client, const command_args_t *args);
static void cmd_watch(client_t *client, const command_args_t *args);
static void cmd_unwatch(client_t *client, const command_args_t *args);
static void cmd_reset(client_t *client, const command_args_t *args);
static void cmd_eval(client_t *client, const command_args_t *args);
static void cmd_evalsha(client_t *client, const command_args_t *args);
static void cmd_script(client_t *client, const command_args_t *args);

/* The commands answered here; the key-value ones come from the state machine
 * (kv_op_describe) and are listed after these by COMMAND. */
static const command_entry_t command_table[] = {
    {"ping", -1, "fast", 0, 0, cmd_ping, 0},
    {"echo", 2, "fast", 0, 0, cmd_echo, 0},
    {"info", -1, "loading", 0, 0, cmd_info, 0},
    {"command", -1, "loading", 0, 0, cmd_command, 0},
    {"config", -2, "admin", 0, 0, cmd_config, 0},
    {"client", -2, "admin", 0, 0, cmd_client, 0},
    {"select", 2, "fast", 0, 0, cmd_select, 0},
    {"quit", -1, "fast", 0, 0, cmd_quit, 0},
    {"readonly", 1, "fast", 0, 0, cmd_readonly, 0},
    {"readwrite", 1, "fast", 0, 0, cmd_readwrite, 0},
    {"time", 1, "fast", 0, 0, cmd_time, 0},
    {"auth", -2, "fast", 0, 0, cmd_auth, 0},
    {"hello", -1, "fast", 0, 0, cmd_hello, 0},
    {"ballot.transfer", 2, "admin", 0, 0, cmd_transfer, 0},
    {"acl", -2, "admin", 0, 0, cmd_acl, 0},
    {"ballot.snapshot", -2, "admin", 0, 0, cmd_snapshot, 0},
    {"multi", 1, "fast", 0, 0, cmd_multi, 0},
    {"exec", 1, "slow", 0, 0, cmd_exec, 0},
    {"discard", 1, "fast", 0, 0, cmd_discard, 0},
    {"watch", -2, "fast", 1, -1, cmd_watch, 1},
    {"unwatch", 1, "fast", 0, 0, cmd_unwatch, 0},
    {"reset", 1, "fast", 0, 0, cmd_reset, 0},
    {"eval", -3, "noscript", 0, 0, cmd_eval, 0},
    {"evalsha", -3, "noscript", 0, 0, cmd_evalsha, 0},
    {"script", -2, "noscript", 0, 0, cmd_script, 0},
    {"slowlog", -2, "admin", 0, 0, cmd_slowlog, 0},
    {"cluster", -2, "admin", 0, 0, cmd_cluster, 0},
    {"ballot.member", -2, "admin", 0, 0, cmd_member, 0},
};
#define COMMAND_TABLE_COUNT (sizeof(command_table) / sizeof(command_table[0]))

/* The key-value commands, one entry per op clients may name (filled on first use). */
static command_entry_t kv_entries[KV_OP_MAX + 1];
static uint32_t kv_entry_count;

static void kv_entries_init(void)
{
    if (kv_entry_count != 0) {
        return;
    }
    for (int op = 1; op <= (int)KV_OP_MAX; op++) {
        const char *name = kv_op_name((kv_op_t)op);
        static char lower[KV_OP_MAX + 1][16];
        size_t n = strlen(name);
        for (size_t i = 0; i < n && i + 1 < sizeof(lower[op]); i++) {
            lower[op][i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
        }
        if (kv_op_from_name((const uint8_t *)lower[op], (uint32_t)n) != (kv_op_t)op) {
            continue; /* EXEC, WATCH, EXPIRED: made by ballotd, not named by clients */
        }
        command_entry_t *e = &kv_entries[kv_entry_count++];
        kv_op_describe((kv_op_t)op, &e->arity, &e->first_key, &e->last_key, &e->step);
        e->name = lower[op];
        e->flags = kv_op_is_read((kv_op_t)op) ? "readonly" : "write";
        e->fn = NULL;
    }
}

static uint32_t command_total(void)
{
    kv_entries_init();
    return (uint32_t)COMMAND_TABLE_COUNT + kv_entry_count;
}

static const command_entry_t *command_at(uint32_t i)
{
    kv_entries_init();
    return i < COMMAND_TABLE_COUNT ? &command_table[i] : &kv_entries[i - COMMAND_TABLE_COUNT];
}

static void command_describe(wire_buf_t *out, const command_entry_t *e)
{
    resp_reply_array_header(out, 6);
    resp_reply_bulk(out, e->name, strlen(e->name));
    resp_reply_integer(out, e->arity);
    resp_reply_array_header(out, 1);
    resp_reply_simple(out, e->flags);
    resp_reply_integer(out, e->first_key);
    resp_reply_integer(out, e->last_key);
    resp_reply_integer(out, e->first_key != 0 ? (e->step != 0 ? e->step : 1) : 0);
}

static const command_entry_t *command_find(const uint8_t *name, uint32_t size)
{
    for (uint32_t i = 0; i < command_total(); i++) {
        const command_entry_t *e = command_at(i);
        if (strlen(e->name) == size && strncasecmp(e->name, (const char *)name, size) == 0) {
            return e;
        }
    }
    return NULL;
}

/* The group COMMAND DOCS reports. */
static const char *command_group(const command_entry_t *e)
{
    static const char *const keyspace[] = {
        "del",       "unlink", "exists",    "type",       "rename",      "renamenx", "copy",
        "keys",      "scan",   "randomkey", "touch",      "expire",      "pexpire",  "expireat",
        "pexpireat", "ttl",    "pttl",      "expiretime", "pexpiretime", "persist"};
    static const char *const server[] = {"info", "command", "config",  "time",
                                         "acl",  "dbsize",  "flushdb", "flushall"};
    static const char *const transactions[] = {"multi", "exec", "discard", "watch", "unwatch"};
    for (size_t i = 0; i < sizeof(keyspace) / sizeof(keyspace[0]); i++) {
        if (strcmp(e->name, keyspace[i]) == 0) {
            return "generic";
        }
    }
    for (size_t i = 0; i < sizeof(server) / sizeof(server[0]); i++) {
        if (strcmp(e->name, server[i]) == 0) {
            return "server";
        }
    }
    for (size_t i = 0; i < sizeof(transactions) / sizeof(transactions[0]); i++) {
        if (strcmp(e->name, transactions[i]) == 0) {
            return "transactions";
        }
    }
    if (e->fn != NULL) {
        return strncmp(e->name, "ballot.", 7) == 0 ? "server" : "connection";
    }
    return "string";
}

/* COMMAND DOCS: what is true of every command here, the group, and where to read more. */
static void command_docs_one(wire_buf_t *out, const command_entry_t *e)
{
    static const char summary[] = "see docs/commands.md";
    const char *group = command_group(e);
    resp_reply_bulk(out, e->name, strlen(e->name));
    resp_reply_array_header(out, 4);
    resp_reply_bulk(out, "summary", 7);
    resp_reply_bulk(out, summary, sizeof(summary) - 1);
    resp_reply_bulk(out, "group", 5);
    resp_reply_bulk(out, group, strlen(group));
}

static void cmd_command(client_t *client, const command_args_t *args)
{
    wire_buf_t *out = server_scratch(client->srv);
    uint32_t total = command_total();
    if (args->argc == 1 || (args_is(args, 1, "LIST") && args->argc == 2)) {
        bool list = args->argc > 1;
        resp_reply_array_header(out, (int64_t)total);
        for (uint32_t i = 0; i < total; i++) {
            const command_entry_t *e = command_at(i);
            if (list) {
                resp_reply_bulk(out, e->name, strlen(e->name));
            } else {
                command_describe(out, e);
            }
        }
    } else if (args_is(args, 1, "COUNT") && args->argc == 2) {
        resp_reply_integer(out, (int64_t)total);
    } else if (args_is(args, 1, "DOCS")) {
        int64_t found = 0;
        for (uint32_t a = 2; a < args->argc; a++) {
            found += command_find(args->argv[a], args->len[a]) != NULL ? 1 : 0;
        }
        resp_reply_array_header(out, 2 * (args->argc == 2 ? (int64_t)total : found));
        for (uint32_t i = 0; args->argc == 2 && i < total; i++) {
            command_docs_one(out, command_at(i));
        }
        for (uint32_t a = 2; a < args->argc; a++) {
            const command_entry_t *e = command_find(args->argv[a], args->len[a]);
            if (e != NULL) {
                command_docs_one(out, e);
            }
        }
    } else if (args_is(args, 1, "INFO")) {
        resp_reply_array_header(out, (int64_t)args->argc - 2);
        for (uint32_t a = 2; a < args->argc; a++) {
            const command_entry_t *e = command_find(args->argv[a], args->len[a]);
            if (e != NULL) {
                command_describe(out, e);
            } else {
                resp_reply_array_header(out, -1);
            }
        }
    } else {
        client_reply_error(
            client,
            "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try COMMAND HELP.",
            (int)(args->len[1] < COMMAND_NAME_BYTES_MAX ? args->len[1] : COMMAND_NAME_BYTES_MAX),
            (const char *)args->argv[1]);
        return;
    }
    client_reply_now(client, out);
}

/* ---- transactions (docs/design.md "Transactions") ---- */

static void multi_reset(client_t *client)
{
    client->multi = false;
    client->multi_failed = false;
    client->multi_size = 0;
    client->multi_count = 0;
    if (client->multi_cap > REQUEST_BUFFER_KEEP_BYTES) {
        free(client->multi_buf);
        client->multi_buf = NULL;
        client->multi_cap = 0;
    }
}

static void watch_reset(client_t *client)
{
    client->watching = false;
    client->watch_size = 0;
    client->watch_count = 0;
    if (client->watch_cap > REQUEST_BUFFER_KEEP_BYTES) {
        free(client->watch_buf);
        client->watch_buf = NULL;
        client->watch_cap = 0;
    }
}

/* Makes room for an item of n bytes (u32 length + bytes) at the end of a client buffer,
 * within COMMAND_BYTES_MAX; returns where its bytes go, or NULL. */
static uint8_t *buf_item(uint8_t **buf, uint32_t *size, uint32_t *cap, uint32_t n)
{
    uint64_t need = (uint64_t)*size + 4u + n;
    if (need > COMMAND_BYTES_MAX) {
        return NULL;
    }
    if (need > *cap) {
        uint64_t grown = *cap < 256u ? 256u : *cap;
        while (grown < need) {
            grown *= 2u;
        }
        uint8_t *p = realloc(*buf, (size_t)grown);
        if (p == NULL) {
            return NULL;
        }
        *buf = p;
        *cap = (uint32_t)grown;
    }
    uint8_t *at = *buf + *size;
    at[0] = (uint8_t)n;
    at[1] = (uint8_t)(n >> 8);
    at[2] = (uint8_t)(n >> 16);
    at[3] = (uint8_t)(n >> 24);
    *size = (uint32_t)need;
    return at + 4;
}

/* Splits a buffer of u32 length + bytes items into args, from args[at]. */
static uint32_t buf_split(const uint8_t *buf, uint32_t size, kv_slice_t *args, uint32_t at)
{
    uint32_t offset = 0;
    while (offset + 4u <= size) {
        uint32_t n = (uint32_t)buf[offset] | (uint32_t)buf[offset + 1] << 8 |
                     (uint32_t)buf[offset + 2] << 16 | (uint32_t)buf[offset + 3] << 24;
        args[at++] = (kv_slice_t){.bytes = buf + offset + 4, .size = n};
        offset += 4u + n;
    }
    return at;
}

static void cmd_multi(client_t *client, const command_args_t *args)
{
    (void)args;
    if (client->multi) {
        client_reply_error(client, "ERR MULTI calls can not be nested");
        return;
    }
    multi_reset(client);
    client->multi = true;
    reply_simple(client, "OK");
}

static void cmd_discard(client_t *client, const command_args_t *args)
{
    (void)args;
    if (!client->multi) {
        client_reply_error(client, "ERR DISCARD without MULTI");
        return;
    }
    multi_reset(client);
    watch_reset(client);
    reply_simple(client, "OK");
}

/* A command after MULTI: checked as Redis checks it (known, arity, ACL), then kept. */
static void multi_queue(client_t *client, const command_args_t *args)
{
    server_t *srv = client->srv;
    char err[KV_ERROR_BYTES];
    kv_command_t *cmd = &srv->scratch_cmd;
    int rc = kv_command_from_argv_ex(args->argc, args->argv, args->len, &srv->kv_config, false, cmd,
                                     err, sizeof(err));
    if (rc != BALLOT_OK) {
        client->multi_failed = true;
        client_reply_error(client, "%s", err);
        return;
    }
    size_t size = kv_command_encoded_bytes(cmd);
    uint32_t before = client->multi_size;
    uint8_t *dest = NULL;
    size_t written = 0;
    if (client->multi_count + client->watch_count < CLIENT_MULTI_ARGS_MAX &&
        size <= COMMAND_BYTES_MAX) {
        dest =
            buf_item(&client->multi_buf, &client->multi_size, &client->multi_cap, (uint32_t)size);
    }
    if (dest == NULL ||
        kv_command_encode_queued(cmd, &srv->kv_config, dest, size, &written) != BALLOT_OK) {
        client->multi_size = before;
        client->multi_failed = true;
        client_reply_error(client,
                           "ERR a transaction holds at most %u commands and watched keys and "
                           "%u bytes",
                           CLIENT_MULTI_ARGS_MAX, (unsigned)COMMAND_BYTES_MAX);
        return;
    }
    client->multi_count++;
    reply_simple(client, "QUEUED");
}

/* Submits a command this server made (EXEC, WATCH) as a write of the connection. */
static void submit_made(client_t *client, const kv_command_t *cmd)
{
    server_t *srv = client->srv;
    if (srv->disk_full) {
        client_reply_error(client, "ERR disk full: writes are refused until space is freed");
        return;
    }
    request_t *r = client_push_request(client, REQUEST_WRITE);
    if (r == NULL) {
        net_conn_close(client->conn);
        return;
    }
    uint64_t now = server_now_ms();
    r->deadline_ms = now + srv->cfg->request_timeout_ms;
    size_t written = 0;
    size_t size = kv_command_encoded_bytes(cmd);
    if (!client_reserve_cmd(r, size) ||
        kv_command_encode(cmd, &srv->kv_config, r->cmd, r->cmd_cap, &written) != BALLOT_OK) {
        client_finish_error(client, r, "TOOLARGE transaction exceeds %u bytes",
                            (unsigned)COMMAND_BYTES_MAX);
        return;
    }
    r->cmd_size = (uint32_t)written;
    r->sequence = ++client->next_sequence;
    if (client_write_retry_pending(client)) {
        r->submitted_ms = now;
        r->retry_at_ms = now;
    } else {
        client_submit_write(client, r, now);
    }
}

static void cmd_exec(client_t *client, const command_args_t *args)
{
    (void)args;
    if (!client->multi) {
        client_reply_error(client, "ERR EXEC without MULTI");
        return;
    }
    if (client->multi_failed) {
        multi_reset(client);
        watch_reset(client);
        client_reply_error(client, "EXECABORT Transaction discarded because of previous errors.");
        return;
    }
    server_t *srv = client->srv;
    kv_command_t *cmd = &srv->scratch_exec;
    uint8_t watched[4];
    uint32_t w = client->watching ? client->watch_count : 0;
    watched[0] = (uint8_t)w;
    watched[1] = (uint8_t)(w >> 8);
    watched[2] = (uint8_t)(w >> 16);
    watched[3] = (uint8_t)(w >> 24);
    cmd->op = KV_EXEC;
    cmd->args[0] = (kv_slice_t){.bytes = watched, .size = 4};
    uint32_t n = 1;
    if (w > 0) {
        n = buf_split(client->watch_buf, client->watch_size, cmd->args, n);
    }
    n = buf_split(client->multi_buf, client->multi_size, cmd->args, n);
    cmd->arg_count = n;
    submit_made(client, cmd);
    /* The request holds its own copy of the encoding. */
    multi_reset(client);
    watch_reset(client);
}

static void cmd_watch(client_t *client, const command_args_t *args)
{
    if (client->multi) {
        client_reply_error(client, "ERR WATCH inside MULTI is not allowed");
        return;
    }
    uint32_t size = client->watch_size;
    uint32_t count = client->watch_count;
    for (uint32_t i = 1; i < args->argc; i++) {
        uint8_t *dest = NULL;
        if (args->len[i] <= client->srv->kv_config.key_bytes_max &&
            count + 1 <= CLIENT_MULTI_ARGS_MAX / 2u) {
            dest = buf_item(&client->watch_buf, &size, &client->watch_cap, args->len[i]);
        }
        if (dest == NULL) {
            client_reply_error(client, "ERR WATCH holds at most %u keys and %u bytes",
                               CLIENT_MULTI_ARGS_MAX / 2u, (unsigned)COMMAND_BYTES_MAX);
            return;
        }
        if (args->len[i] > 0) {
            memcpy(dest, args->argv[i], args->len[i]);
        }
        count++;
    }
    client->watch_size = size;
    client->watch_count = count;
    if (client->watching) {
        /* Watched since the first WATCH: a later key is checked from that point too
         * (docs/design.md "Transactions"). */
        reply_simple(client, "OK");
        return;
    }
    client->watching = true;
    kv_command_t *cmd = &client->srv->scratch_exec;
    cmd->op = KV_WATCH;
    cmd->arg_count = 0;
    submit_made(client, cmd);
}

static void cmd_unwatch(client_t *client, const command_args_t *args)
{
    (void)args;
    watch_reset(client);
    reply_simple(client, "OK");
}

static void cmd_reset(client_t *client, const command_args_t *args)
{
    (void)args;
    multi_reset(client);
    watch_reset(client);
    client->db_refused = 0;
    client->stale_reads = false;
    reply_simple(client, "RESET");
}

/* ---- scripts (docs/commands.md "Scripts"): no Lua runs here. The lock recipes of
 * client libraries are recognised by the SHA-1 of their text with whitespace runs made one
 * space, and run as the state machine's own atomic commands. ---- */

typedef struct script_recipe {
    const char *normalized_sha1; /* hex */
    kv_op_t op;
    uint32_t args; /* ARGV count; KEYS is always one key */
    const char *name;
} script_recipe_t;

static const script_recipe_t script_recipes[] = {
    /* redis-py 4.x Lock: release, extend, reacquire. */
    {"2aef8d7ce63503709a01cbf6ad6bb4b93d5c3909", KV_DELIFEQ, 1, "redis-py Lock release"},
    {"829408cc83d4524666232bd8beebe3bcf873ac70", KV_PEXTENDIFEQ, 3, "redis-py Lock extend"},
    {"042112cf75a3fdabb4e02600ce494eff4b2d2906", KV_PEXPIREIFEQ, 2, "redis-py Lock reacquire"},
};
#define SCRIPT_RECIPE_COUNT (sizeof(script_recipes) / sizeof(script_recipes[0]))
/* SHA-1 of scripts loaded as sent (what EVALSHA names) -> recipe; oldest replaced first. */
#define SCRIPT_LOADED_MAX 64u
static struct {
    char sha1[41];
    uint32_t recipe;
} script_loaded[SCRIPT_LOADED_MAX];
static uint32_t script_loaded_next;

static void sha1_hex(const uint8_t *bytes, size_t size, char hex[41])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    hex[0] = '\0';
    if (EVP_Digest(bytes, size, digest, &n, EVP_sha1(), NULL) != 1 || n != 20) {
        return;
    }
    for (unsigned int i = 0; i < n; i++) {
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    }
}

/* The recipe of a script's text, or -1. */
static int script_recognise(const uint8_t *text, uint32_t size)
{
    uint8_t *norm = malloc(size > 0 ? size : 1u);
    if (norm == NULL) {
        return -1;
    }
    size_t n = 0;
    bool space = false;
    for (uint32_t i = 0; i < size; i++) {
        bool ws = text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r' ||
                  text[i] == '\v' || text[i] == '\f';
        if (ws) {
            space = n > 0;
            continue;
        }
        if (space) {
            norm[n++] = ' ';
            space = false;
        }
        norm[n++] = text[i];
    }
    char hex[41];
    sha1_hex(norm, n, hex);
    free(norm);
    for (uint32_t i = 0; i < SCRIPT_RECIPE_COUNT; i++) {
        if (strcmp(hex, script_recipes[i].normalized_sha1) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int script_find_loaded(const uint8_t *sha, uint32_t size)
{
    for (uint32_t i = 0; i < SCRIPT_LOADED_MAX; i++) {
        if (size == 40 && script_loaded[i].sha1[0] != '\0' &&
            strncasecmp(script_loaded[i].sha1, (const char *)sha, 40) == 0) {
            return (int)script_loaded[i].recipe;
        }
    }
    return -1;
}

static void script_remember(const uint8_t *text, uint32_t size, int recipe, char hex[41])
{
    sha1_hex(text, size, hex);
    if (script_find_loaded((const uint8_t *)hex, 40) < 0) {
        uint32_t at = script_loaded_next++ % SCRIPT_LOADED_MAX;
        memcpy(script_loaded[at].sha1, hex, 41);
        script_loaded[at].recipe = (uint32_t)recipe;
    }
}

static void submit_made(client_t *client, const kv_command_t *cmd);

/* EVAL/EVALSHA with a recognised recipe: numkeys 1, the recipe's argument count. */
static void script_run(client_t *client, const command_args_t *args, int recipe)
{
    const script_recipe_t *r = &script_recipes[recipe];
    int64_t numkeys = 0;
    if (!kv_parse_i64(args->argv[2], args->len[2], &numkeys) || numkeys < 0) {
        client_reply_error(client, "ERR value is not an integer or out of range");
        return;
    }
    if (numkeys > (int64_t)args->argc - 3) {
        client_reply_error(client, "ERR Number of keys can't be greater than number of args");
        return;
    }
    if (numkeys != 1 || args->argc != 4u + r->args) {
        client_reply_error(client, "ERR %s takes one key and %u arguments", r->name, r->args);
        return;
    }
    if (!acl_user_unrestricted(client->user) &&
        !acl_user_may_access(client->user, args->argv[3], args->len[3])) {
        client->srv->stat_denied_commands++;
        client_reply_error(client, "NOPERM No permissions to access a key");
        return;
    }
    kv_command_t *cmd = &client->srv->scratch_exec;
    cmd->op = r->op;
    cmd->arg_count = 1u + r->args;
    for (uint32_t i = 0; i < cmd->arg_count; i++) {
        cmd->args[i] = (kv_slice_t){.bytes = args->argv[3 + i], .size = args->len[3 + i]};
    }
    char err[KV_ERROR_BYTES];
    if (kv_command_check(cmd, &client->srv->kv_config, err, sizeof(err)) != BALLOT_OK) {
        client_reply_error(client, "%s", err);
        return;
    }
    submit_made(client, cmd);
}

static void cmd_eval(client_t *client, const command_args_t *args)
{
    int recipe = script_recognise(args->argv[1], args->len[1]);
    if (recipe < 0) {
        client_reply_error(client, "ERR ballotd runs no Lua scripts; it recognises only the lock "
                                   "recipes listed in docs/commands.md");
        return;
    }
    char hex[41];
    script_remember(args->argv[1], args->len[1], recipe, hex);
    script_run(client, args, recipe);
}

static void cmd_evalsha(client_t *client, const command_args_t *args)
{
    int recipe = script_find_loaded(args->argv[1], args->len[1]);
    if (recipe < 0) {
        client_reply_error(client, "NOSCRIPT No matching script. Please use EVAL.");
        return;
    }
    script_run(client, args, recipe);
}

static void cmd_script(client_t *client, const command_args_t *args)
{
    if (args_is(args, 1, "LOAD") && args->argc == 3) {
        int recipe = script_recognise(args->argv[2], args->len[2]);
        if (recipe < 0) {
            client_reply_error(client, "ERR ballotd runs no Lua scripts; it recognises only the "
                                       "lock recipes listed in docs/commands.md");
            return;
        }
        char hex[41];
        script_remember(args->argv[2], args->len[2], recipe, hex);
        reply_bulk(client, hex, 40);
    } else if (args_is(args, 1, "EXISTS") && args->argc >= 3) {
        wire_buf_t *out = server_scratch(client->srv);
        resp_reply_array_header(out, (int64_t)args->argc - 2);
        for (uint32_t i = 2; i < args->argc; i++) {
            resp_reply_integer(out, script_find_loaded(args->argv[i], args->len[i]) >= 0 ? 1 : 0);
        }
        client_reply_now(client, out);
    } else if (args_is(args, 1, "FLUSH")) {
        memset(script_loaded, 0, sizeof(script_loaded));
        reply_simple(client, "OK");
    } else {
        client_reply_error(
            client,
            "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try SCRIPT HELP.",
            (int)(args->len[1] < COMMAND_NAME_BYTES_MAX ? args->len[1] : COMMAND_NAME_BYTES_MAX),
            (const char *)args->argv[1]);
    }
}

static void cmd_data(client_t *client, const command_args_t *args)
{
    server_t *srv = client->srv;
    char err[KV_ERROR_BYTES];
    kv_command_t *cmd = &srv->scratch_cmd;
    int rc = kv_command_from_argv(args->argc, args->argv, args->len, &srv->kv_config, cmd, err,
                                  sizeof(err));
    if (rc != BALLOT_OK) {
        client_reply_error(client, "%s", err);
        return;
    }
    bool read = kv_op_is_read(cmd->op);
    if (args->argc >= 2 && cluster_redirect(client, read, args->argv[1], args->len[1])) {
        return;
    }
    if (!read && srv->disk_full) {
        client_reply_error(client, "ERR disk full: writes are refused until space is freed");
        return;
    }
    request_t *r = client_push_request(client, read ? REQUEST_READ : REQUEST_WRITE);
    if (r == NULL) {
        net_conn_close(client->conn);
        return;
    }
    uint64_t now = server_now_ms();
    r->deadline_ms = now + srv->cfg->request_timeout_ms;
    size_t written = 0;
    size_t size = kv_command_encoded_bytes(cmd);
    if (!client_reserve_cmd(r, size) ||
        kv_command_encode(cmd, &srv->kv_config, r->cmd, r->cmd_cap, &written) != BALLOT_OK) {
        client_finish_error(client, r, "TOOLARGE command exceeds %u bytes",
                            (unsigned)COMMAND_BYTES_MAX);
        return;
    }
    r->cmd_size = (uint32_t)written;
    if (!read) {
        r->sequence = ++client->next_sequence;
        if (client_write_retry_pending(client)) {
            /* An earlier write of this connection waits to be sent again: keep the order
             * (the kv client table refuses a sequence below one already applied). */
            r->submitted_ms = now;
            r->retry_at_ms = now;
        } else {
            client_submit_write(client, r, now);
        }
    } else if (client->stale_reads) {
        r->stale = true;
        srv->stat_reads++;
        client_mark_ready(client, r);
    } else {
        client_submit_read(client, r, now);
    }
}

/* The command's name for NOPERM: "set", or "client|list" with the subcommand as sent
 * (printable characters only, bounded). */
static const char *commands_acl_name(const command_entry_t *e, int id, const command_args_t *args,
                                     char *buf, size_t buf_bytes)
{
    acl_command_name((uint32_t)id, buf, buf_bytes);
    char *bar = strchr(buf, '|');
    if (bar == NULL || args->argc < 2) {
        snprintf(buf, buf_bytes, "%s", e->name);
        return buf;
    }
    size_t at = (size_t)(bar - buf) + 1;
    for (uint32_t i = 0; i < args->len[1] && at + 1 < buf_bytes; i++) {
        uint8_t c = args->argv[1][i];
        c = (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
        buf[at++] = (c > ' ' && c <= '~' && c != '\'') ? (char)c : '?';
    }
    buf[at] = '\0';
    return buf;
}

/* The client's user may run this command on these keys; otherwise answers NOPERM. Keys are
 * the arguments COMMAND reports as keys (first_key..last_key, every step). */
static bool commands_permitted(client_t *client, const command_entry_t *e,
                               const command_args_t *args)
{
    const acl_user_t *user = client->user;
    bool sub = args->argc >= 2;
    int id = acl_command_lookup(args->argv[0], args->len[0], sub ? args->argv[1] : NULL,
                                sub ? args->len[1] : 0);
    if (!acl_user_may_run(user, id)) {
        char name[ACL_COMMAND_NAME_BYTES];
        client->srv->stat_denied_commands++;
        if (id < 0) {
            snprintf(name, sizeof(name), "%s", e->name);
        } else {
            commands_acl_name(e, id, args, name, sizeof(name));
        }
        client_reply_error(client, "NOPERM User %s has no permissions to run the '%s' command",
                           user->name, name);
        return false;
    }
    if (e->first_key <= 0 || args->argc < 2) {
        return true;
    }
    uint32_t last = e->last_key < 0 ? args->argc - 1 : (uint32_t)e->last_key;
    uint32_t step = e->step > 0 ? (uint32_t)e->step : 1u;
    for (uint32_t i = (uint32_t)e->first_key; i <= last && i < args->argc; i += step) {
        if (!acl_user_may_access(user, args->argv[i], args->len[i])) {
            client->srv->stat_denied_commands++;
            client_reply_error(client, "NOPERM No permissions to access a key");
            return false;
        }
    }
    return true;
}

/* Commands that run at once even inside MULTI, as in Redis. */
static bool runs_in_multi(const command_entry_t *e)
{
    return e->fn == cmd_exec || e->fn == cmd_discard || e->fn == cmd_multi || e->fn == cmd_watch ||
           e->fn == cmd_quit || e->fn == cmd_reset;
}

void commands_dispatch(client_t *client, uint32_t argc, const uint8_t *const *argv,
                       const uint32_t *argv_len)
{
    command_args_t args = {.argc = argc, .argv = argv, .len = argv_len};
    client->srv->stat_commands++;
    const command_entry_t *e = command_find(argv[0], argv_len[0]);
    /* Before AUTH only AUTH, HELLO and QUIT, as in Redis; these three are not subject to
     * the user's command rules either (a client can always switch user or leave). */
    bool no_auth = e != NULL && (e->fn == cmd_auth || e->fn == cmd_hello || e->fn == cmd_quit);
    if (!no_auth) {
        if (client->user == NULL) {
            client->multi_failed = client->multi;
            client_reply_error(client, "NOAUTH Authentication required.");
            return;
        }
        if (e != NULL && !acl_user_unrestricted(client->user) &&
            !commands_permitted(client, e, &args)) {
            client->multi_failed = client->multi;
            return;
        }
    }
    bool db_ok = e != NULL && (e->fn == cmd_select || e->fn == cmd_reset || e->fn == cmd_quit ||
                               e->fn == cmd_auth || e->fn == cmd_hello);
    if (client->db_refused != 0 && !db_ok) {
        client->multi_failed = client->multi;
        client_reply_error(client,
                           "ERR SELECT %u failed: ballotd has only database 0; this connection "
                           "refuses commands until SELECT 0 or RESET",
                           client->db_refused);
        return;
    }
    if (client->multi && (e == NULL || !runs_in_multi(e))) {
        if (e != NULL && e->fn != NULL) {
            client->multi_failed = true;
            client_reply_error(client, "ERR '%s' cannot be queued in a transaction by ballotd",
                               e->name);
            return;
        }
        multi_queue(client, &args);
        return;
    }
    if (e != NULL && e->fn != NULL) {
        if (e->arity > 0 ? argc != (uint32_t)e->arity : argc < (uint32_t)-e->arity) {
            reply_arity(client, &args);
            return;
        }
        e->fn(client, &args);
        return;
    }
    cmd_data(client, &args);
}

const char *commands_canonical_name(const uint8_t *name, uint32_t size)
{
    const command_entry_t *e = command_find(name, size);
    return e != NULL ? e->name : NULL;
}
