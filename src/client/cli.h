/* The `ballot` tool's shared state and helpers (docs/cli.md).
 *
 * main.c parses the global options and dispatches through one table of subcommands
 * (cli_commands in main.c). Adding a subcommand group, e.g. `ballot member list|add|...`, is
 * one file with a `int cli_member(cli_t *cli, int argc, char **argv)` declared below and one
 * entry in that table; the helpers here do the rest: connecting with TLS and AUTH, following
 * leader hints and -MOVED, the exit codes, and the three output formats of -w. */
#ifndef BALLOT_CLIENT_CLI_H
#define BALLOT_CLIENT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client/ballot_client.h"

/* Exit codes (docs/cli.md "Exit codes"). */
#define CLI_EXIT_OK          0 /* done; for get: the key exists */
#define CLI_EXIT_NOT_FOUND   1 /* get: no such key (nothing on stdout) */
#define CLI_EXIT_USAGE       2 /* bad command line: nothing was sent */
#define CLI_EXIT_UNAVAILABLE 3 /* no node answered, or no leader within --timeout */
#define CLI_EXIT_REFUSED     4 /* the cluster answered with an error: not applied */
#define CLI_EXIT_UNKNOWN     5 /* a write whose outcome is unknown (it may have applied) */

#define CLI_DEFAULT_CLUSTER    "127.0.0.1:6381,127.0.0.1:6382,127.0.0.1:6383"
#define CLI_NODES_MAX          16u
#define CLI_ADDRESS_BYTES      280u
#define CLI_TIMEOUT_MS_DEFAULT 5000u
#define CLI_INFO_VALUE_BYTES   128u
/* Redirects (-MOVED, leader hints) one command follows before giving up. */
#define CLI_REDIRECTS_MAX 8u
/* Pause between rounds over the node list while no leader is known. */
#define CLI_RETRY_PAUSE_MS 100u
/* A value read from stdin (`ballot set KEY -`); the server's own limit is usually lower. */
#define CLI_STDIN_VALUE_BYTES_MAX ((size_t)64u * 1024u * 1024u)

typedef enum cli_format {
    CLI_FORMAT_SIMPLE = 0, /* plain lines (the default) */
    CLI_FORMAT_TABLE = 1,  /* a bordered table */
    CLI_FORMAT_JSON = 2,   /* one JSON document */
} cli_format_t;

typedef struct cli {
    char nodes[CLI_NODES_MAX][CLI_ADDRESS_BYTES];
    uint32_t node_count;
    uint32_t timeout_ms;
    const char *user;     /* --user or $BALLOT_USER; NULL: `default` */
    const char *password; /* --pass or $BALLOT_PASSWORD; NULL: no AUTH */
    cli_format_t format;  /* -w */
    ballot_client_tls_t tls;
    const char *cluster_text; /* the --cluster list as given */
    const char *prog;         /* "ballot get" etc., for messages */
} cli_t;

/* One entry of the subcommand table. run gets argv[0] = the subcommand's name and its
 * arguments with the global options removed; it returns an exit code. */
typedef struct cli_command {
    const char *name;
    const char *synopsis; /* "get KEY" */
    const char *summary;  /* one line for `ballot --help` */
    const char *help;     /* `ballot NAME --help`: the rest of the text */
    int min_args;         /* arguments after the name */
    int max_args;         /* -1: any */
    bool own_options;     /* it parses its own options (trace, keygen, snapshot): argv as typed */
    int (*run)(cli_t *cli, int argc, char **argv);
} cli_command_t;

/* ---- messages ---- */

/* "ballot get: <message>" on stderr; returns code. */
int cli_fail(const cli_t *cli, int code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t cli_now_ms(void);
void cli_sleep_ms(uint32_t ms);

/* ---- talking to nodes ---- */

/* One command to one node (AUTH first when a password is set). 0 with a reply; -1 when the
 * node could not be reached (*sent says whether the request may have left: the connection
 * broke after it was written), with the reason in err. */
int cli_ask(const cli_t *cli, const char *address, uint32_t argc, const char *const *argv,
            const size_t *argv_len, ballot_reply_t *reply, bool *sent, char *err, size_t err_bytes);

/* How an error reply is to be taken (docs/cli.md "Leader hints and errors"). */
typedef enum cli_error_class {
    CLI_ERR_REDIRECT,      /* -MOVED SLOT HOST:PORT, -NOTLEADER ... at HOST:PORT: go there */
    CLI_ERR_RETRY,         /* definite and transient: -NOTLEADER (no leader), -TRYAGAIN */
    CLI_ERR_INDETERMINATE, /* the write may have happened: -TIMEOUT */
    CLI_ERR_REFUSED,       /* anything else: the command was refused */
} cli_error_class_t;

/* Classifies an error text; for a redirect, copies the address it names into address. */
cli_error_class_t cli_classify_error(const char *text, char *address, size_t address_bytes);

/* A command sent the way a client of the cluster should: to the nodes of --cluster in
 * order, following -MOVED and leader hints, retrying while no leader is known, until
 * --timeout. `write` says whether the command changes state (a write whose outcome became
 * unknown is never resent). Returns CLI_EXIT_OK with the reply (which may be an error the
 * cluster refused with: the caller prints it), or an exit code with the reason printed. */
int cli_call(const cli_t *cli, bool write, uint32_t argc, const char *const *argv,
             const size_t *argv_len, ballot_reply_t *reply);

/* INFO of one node, as the fields the status commands show. */
typedef struct cli_node_info {
    bool up;
    bool refused; /* it answered INFO with an error (e.g. NOPERM) */
    char error[BALLOT_CLIENT_ERROR_BYTES];
    char node_id[CLI_INFO_VALUE_BYTES];
    char role[CLI_INFO_VALUE_BYTES];
    char ballot[CLI_INFO_VALUE_BYTES];
    char promised[CLI_INFO_VALUE_BYTES];
    char leader_id[CLI_INFO_VALUE_BYTES];
    char leader[CLI_INFO_VALUE_BYTES]; /* "n2 at 127.0.0.1:6382", "unknown" */
    char lease_held[CLI_INFO_VALUE_BYTES];
    char lease_ms[CLI_INFO_VALUE_BYTES];
    char rejoining[CLI_INFO_VALUE_BYTES];
    char version[CLI_INFO_VALUE_BYTES];
    char peers_up[CLI_INFO_VALUE_BYTES];
    char node_count[CLI_INFO_VALUE_BYTES];
    uint64_t commit;
    uint64_t applied;
    uint64_t took_ms;
} cli_node_info_t;

void cli_node_info(const cli_t *cli, const char *address, cli_node_info_t *v);

/* ---- output (cli_output.c) ---- */

/* A JSON string of size bytes, escaped; only for text that cli_is_utf8 accepts (binary
 * values go out as base64, like etcdctl's). */
void cli_json_string(FILE *out, const char *bytes, size_t size);
bool cli_is_utf8(const char *bytes, size_t size);
void cli_base64(FILE *out, const char *bytes, size_t size);

/* A table of rows of cells (all strings), printed in the chosen format: simple (aligned
 * columns under a header), table (borders) or json (an array of objects keyed by json_keys). */
#define CLI_TABLE_COLUMNS_MAX 16u
typedef struct cli_table {
    uint32_t columns;
    const char *headers[CLI_TABLE_COLUMNS_MAX];
    const char *json_keys[CLI_TABLE_COLUMNS_MAX];
    bool json_raw[CLI_TABLE_COLUMNS_MAX]; /* the cell is a JSON number/boolean, not a string */
    uint32_t rows;
    uint32_t rows_cap;
    char **cells; /* rows * columns owned strings */
} cli_table_t;

void cli_table_init(cli_table_t *t, uint32_t columns);
/* Appends a row of `columns` cells (copied). false when out of memory. */
bool cli_table_add(cli_table_t *t, const char *const *cells);
void cli_table_print(const cli_table_t *t, cli_format_t format, FILE *out);
void cli_table_free(cli_table_t *t);

/* ---- subcommands (one file each group) ---- */

int cli_get(cli_t *cli, int argc, char **argv);      /* cli_kv.c */
int cli_set(cli_t *cli, int argc, char **argv);      /* cli_kv.c */
int cli_del(cli_t *cli, int argc, char **argv);      /* cli_kv.c */
int cli_exists(cli_t *cli, int argc, char **argv);   /* cli_kv.c */
int cli_incr(cli_t *cli, int argc, char **argv);     /* cli_kv.c */
int cli_cas(cli_t *cli, int argc, char **argv);      /* cli_kv.c */
int cli_status(cli_t *cli, int argc, char **argv);   /* cli_endpoint.c */
int cli_endpoint(cli_t *cli, int argc, char **argv); /* cli_endpoint.c */
int cli_transfer(cli_t *cli, int argc, char **argv); /* cli_endpoint.c */

#endif
