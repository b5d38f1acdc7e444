/* `ballot get|set|del|exists|incr|cas`: key-value commands through any node (cli.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli.h"

/* Reads all of stdin into *out (bounded by CLI_STDIN_VALUE_BYTES_MAX). */
static int read_stdin(const cli_t *cli, char **out, size_t *size)
{
    size_t cap = 64u * 1024u;
    size_t used = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        return cli_fail(cli, CLI_EXIT_USAGE, "out of memory reading stdin");
    }
    /* Bounded: each round reads at least one byte, up to the size limit. */
    for (;;) {
        if (used == cap) {
            if (cap >= CLI_STDIN_VALUE_BYTES_MAX) {
                free(buf);
                return cli_fail(cli, CLI_EXIT_USAGE, "the value on stdin is over %zu bytes",
                                CLI_STDIN_VALUE_BYTES_MAX);
            }
            char *grown = realloc(buf, cap * 2u);
            if (grown == NULL) {
                free(buf);
                return cli_fail(cli, CLI_EXIT_USAGE, "out of memory reading stdin");
            }
            buf = grown;
            cap *= 2u;
        }
        size_t n = fread(buf + used, 1, cap - used, stdin);
        used += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(stdin)) {
        free(buf);
        return cli_fail(cli, CLI_EXIT_USAGE, "reading the value from stdin: %s", strerror(errno));
    }
    *out = buf;
    *size = used;
    return CLI_EXIT_OK;
}

/* An error reply the cluster refused the command with. */
static int refused(const cli_t *cli, ballot_reply_t *reply)
{
    int code = cli_fail(cli, CLI_EXIT_REFUSED, "%s", reply->text != NULL ? reply->text : "error");
    ballot_reply_free(reply);
    return code;
}

/* Prints a key's value: raw in simple format, a table row, or a JSON object. */
static void print_value(const cli_t *cli, const char *key, const char *value, size_t size)
{
    if (cli->format == CLI_FORMAT_SIMPLE) {
        fwrite(value, 1, size, stdout);
        fputc('\n', stdout);
    } else if (cli->format == CLI_FORMAT_JSON) {
        fputs("{\"key\": ", stdout);
        if (cli_is_utf8(key, strlen(key))) {
            cli_json_string(stdout, key, strlen(key));
        } else {
            cli_base64(stdout, key, strlen(key));
        }
        if (cli_is_utf8(value, size)) {
            fputs(", \"value\": ", stdout);
            cli_json_string(stdout, value, size);
        } else {
            fputs(", \"value_base64\": ", stdout);
            cli_base64(stdout, value, size);
        }
        fputs("}\n", stdout);
    } else {
        cli_table_t t;
        cli_table_init(&t, 2);
        t.headers[0] = "KEY";
        t.headers[1] = "VALUE";
        char *text = strndup(value, size); /* a table shows text up to a NUL */
        const char *cells[2] = {key, text != NULL ? text : ""};
        cli_table_add(&t, cells);
        cli_table_print(&t, cli->format, stdout);
        cli_table_free(&t);
        free(text);
    }
}

/* One number answer (del, exists, incr, cas) under the name json_key. */
static void print_number(const cli_t *cli, const char *header, const char *json_key,
                         const char *key, int64_t value)
{
    char number[32];
    snprintf(number, sizeof(number), "%" PRId64, value);
    if (cli->format == CLI_FORMAT_SIMPLE) {
        printf("%s\n", number);
        return;
    }
    cli_table_t t;
    cli_table_init(&t, key != NULL ? 2u : 1u);
    uint32_t c = 0;
    if (key != NULL) {
        t.headers[c] = "KEY";
        t.json_keys[c++] = "key";
    }
    t.headers[c] = header;
    t.json_keys[c] = json_key;
    t.json_raw[c] = true;
    const char *cells[2] = {key != NULL ? key : number, number};
    cli_table_add(&t, cells);
    if (cli->format == CLI_FORMAT_JSON) {
        /* One object, not an array of one. */
        fputs("{", stdout);
        if (key != NULL) {
            fputs("\"key\": ", stdout);
            cli_json_string(stdout, key, strlen(key));
            fputs(", ", stdout);
        }
        printf("\"%s\": %s}\n", json_key, number);
    } else {
        cli_table_print(&t, cli->format, stdout);
    }
    cli_table_free(&t);
}

int cli_get(cli_t *cli, int argc, char **argv)
{
    (void)argc;
    const char *args[] = {"GET", argv[1]};
    ballot_reply_t reply;
    int rc = cli_call(cli, false, 2, args, NULL, &reply);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (reply.type == BALLOT_REPLY_ERROR) {
        return refused(cli, &reply);
    }
    if (reply.type == BALLOT_REPLY_NIL) {
        ballot_reply_free(&reply);
        return CLI_EXIT_NOT_FOUND; /* nothing on stdout: a missing key is not a value */
    }
    if (reply.type != BALLOT_REPLY_BULK) {
        ballot_reply_free(&reply);
        return cli_fail(cli, CLI_EXIT_REFUSED, "unexpected reply to GET");
    }
    print_value(cli, argv[1], reply.text, reply.size);
    ballot_reply_free(&reply);
    return CLI_EXIT_OK;
}

/* SET or CAS with its last argument possibly "-" (stdin). */
static int write_with_value(cli_t *cli, uint32_t argc, const char **args, ballot_reply_t *reply)
{
    size_t lens[4];
    char *value = NULL;
    for (uint32_t i = 0; i < argc; i++) {
        lens[i] = strlen(args[i]);
    }
    if (strcmp(args[argc - 1u], "-") == 0) {
        size_t size = 0;
        int rc = read_stdin(cli, &value, &size);
        if (rc != CLI_EXIT_OK) {
            return rc;
        }
        args[argc - 1u] = value;
        lens[argc - 1u] = size;
    }
    int rc = cli_call(cli, true, argc, args, lens, reply);
    free(value);
    return rc;
}

int cli_set(cli_t *cli, int argc, char **argv)
{
    (void)argc;
    const char *args[] = {"SET", argv[1], argv[2]};
    ballot_reply_t reply;
    int rc = write_with_value(cli, 3, args, &reply);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (reply.type == BALLOT_REPLY_ERROR) {
        return refused(cli, &reply);
    }
    if (cli->format == CLI_FORMAT_JSON) {
        fputs("{\"key\": ", stdout);
        cli_json_string(stdout, argv[1], strlen(argv[1]));
        fputs(", \"ok\": true}\n", stdout);
    } else if (cli->format == CLI_FORMAT_TABLE) {
        cli_table_t t;
        cli_table_init(&t, 2);
        t.headers[0] = "KEY";
        t.headers[1] = "RESULT";
        const char *cells[2] = {argv[1], "OK"};
        cli_table_add(&t, cells);
        cli_table_print(&t, cli->format, stdout);
        cli_table_free(&t);
    } else {
        printf("OK\n");
    }
    ballot_reply_free(&reply);
    return CLI_EXIT_OK;
}

/* A command answered with one integer. */
static int integer_command(cli_t *cli, bool write, int argc, char **argv, const char *redis,
                           const char *header, const char *json_key, const char *key)
{
    const char *args[BALLOT_CLIENT_ARGS_MAX];
    if (argc > (int)BALLOT_CLIENT_ARGS_MAX) {
        return cli_fail(cli, CLI_EXIT_USAGE, "more than %u keys", BALLOT_CLIENT_ARGS_MAX - 1u);
    }
    args[0] = redis;
    for (int i = 1; i < argc; i++) {
        args[i] = argv[i];
    }
    ballot_reply_t reply;
    int rc = cli_call(cli, write, (uint32_t)argc, args, NULL, &reply);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (reply.type == BALLOT_REPLY_ERROR) {
        return refused(cli, &reply);
    }
    if (reply.type != BALLOT_REPLY_INTEGER) {
        ballot_reply_free(&reply);
        return cli_fail(cli, CLI_EXIT_REFUSED, "unexpected reply to %s", redis);
    }
    print_number(cli, header, json_key, key, reply.integer);
    ballot_reply_free(&reply);
    return CLI_EXIT_OK;
}

int cli_del(cli_t *cli, int argc, char **argv)
{
    return integer_command(cli, true, argc, argv, "DEL", "DELETED", "deleted", NULL);
}

int cli_exists(cli_t *cli, int argc, char **argv)
{
    return integer_command(cli, false, argc, argv, "EXISTS", "EXISTING", "exists", NULL);
}

int cli_incr(cli_t *cli, int argc, char **argv)
{
    return integer_command(cli, true, argc, argv, "INCR", "VALUE", "value", argv[1]);
}

int cli_cas(cli_t *cli, int argc, char **argv)
{
    (void)argc;
    const char *args[] = {"CAS", argv[1], argv[2], argv[3]};
    ballot_reply_t reply;
    int rc = write_with_value(cli, 4, args, &reply);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (reply.type == BALLOT_REPLY_ERROR) {
        return refused(cli, &reply);
    }
    if (reply.type != BALLOT_REPLY_INTEGER) {
        ballot_reply_free(&reply);
        return cli_fail(cli, CLI_EXIT_REFUSED, "unexpected reply to CAS");
    }
    if (cli->format == CLI_FORMAT_JSON) {
        fputs("{\"key\": ", stdout);
        cli_json_string(stdout, argv[1], strlen(argv[1]));
        printf(", \"swapped\": %s}\n", reply.integer == 1 ? "true" : "false");
    } else {
        print_number(cli, "SWAPPED", "swapped", cli->format == CLI_FORMAT_TABLE ? argv[1] : NULL,
                     reply.integer);
    }
    ballot_reply_free(&reply);
    return CLI_EXIT_OK;
}
