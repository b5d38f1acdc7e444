/* `ballot trace [OPTIONS] FILES...` (also the standalone `ballot-trace`). */
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/msg.h"
#include "trace/trace.h"

#define CLI_MSG_BYTES 256u

static const char usage_text[] =
    "usage: ballot trace [OPTIONS] FILE...\n"
    "Merges the traces of all nodes (ballotd --trace, ballot-sim --trace; '-' reads stdin)\n"
    "and prints what happened generation by generation (ballot by ballot).\n"
    "\n"
    "  --summary         one line per generation\n"
    "  --slot N          only generations that touched slot N; their slot events on N\n"
    "  --key C[:S][,..]  follow client commands: C:S is one command (client id C, sequence S),\n"
    "                    C alone every command of client C; shows the slots they went into\n"
    "  --node N          only what node N recorded\n"
    "  --from MS         only events at t >= MS (each node's own clock, ms)\n"
    "  --to MS           only events at t <= MS\n"
    "  --ballot rR.nN    only that generation\n"
    "  --last N          only the last N generations\n"
    "  --nodes N         cluster size, for majorities (default: the trace header)\n"
    "  --html OUT.html   write the timeline page instead: a lane per node, generations as\n"
    "                    bands, promises and rejections as arrows, carried values linked;\n"
    "                    one self-contained file (the filters above apply)\n"
    "  -h, --help        this text\n"
    "\n"
    "Corrupt or truncated lines are reported on stderr as FILE:LINE and skipped.\n"
    "See docs/debugging.md.\n";

static bool parse_number_arg(const char *text, uint64_t max, uint64_t *out)
{
    if (text == NULL || *text < '0' || *text > '9') {
        return false;
    }
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == NULL || *end != '\0' || v > max) {
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

/* Splits "--opt=value" or takes the next argument; NULL when missing. */
static const char *option_value(int argc, char **argv, int *i, const char *arg, size_t name_len)
{
    if (arg[name_len] == '=') {
        return arg + name_len + 1;
    }
    if (*i + 1 < argc) {
        *i += 1;
        return argv[*i];
    }
    return NULL;
}

static int usage_error(const char *fmt, const char *arg)
{
    fputs("ballot trace: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(ballot trace --help for usage)\n", stderr);
    return 2;
}

static bool option_is(const char *arg, const char *name, size_t *name_len)
{
    size_t len = strlen(name);
    *name_len = len;
    return strncmp(arg, name, len) == 0 && (arg[len] == '\0' || arg[len] == '=');
}

/* Options that take a number. */
static int number_option(trace_view_options_t *o, const char *name, const char *value)
{
    trace_filter_t *f = &o->filter;
    uint64_t n = 0;
    bool small = strcmp(name, "--node") == 0 || strcmp(name, "--nodes") == 0;
    uint64_t max = small ? NODES_MAX : (strcmp(name, "--last") == 0 ? UINT32_MAX : UINT64_MAX);
    if (!parse_number_arg(value, max, &n) || (small && n == 0)) {
        return usage_error("bad number for %s", name);
    }
    if (strcmp(name, "--slot") == 0) {
        f->slot_set = true;
        f->slot = n;
    } else if (strcmp(name, "--node") == 0) {
        f->node_set = true;
        f->node = (uint32_t)n;
    } else if (strcmp(name, "--from") == 0) {
        f->from_set = true;
        f->from_ms = n;
    } else if (strcmp(name, "--to") == 0) {
        f->to_set = true;
        f->to_ms = n;
    } else if (strcmp(name, "--last") == 0) {
        o->last_generations = (uint32_t)n;
    } else {
        o->node_count = (uint32_t)n;
    }
    return 0;
}

static const char *const number_options[] = {"--slot", "--node", "--from",
                                             "--to",   "--last", "--nodes"};

static int value_option(trace_view_options_t *o, const char *name, const char *value)
{
    char msg[CLI_MSG_BYTES];
    if (value == NULL) {
        return usage_error("%s needs a value", name);
    }
    if (strcmp(name, "--ballot") == 0) {
        if (!ballot_parse(value, &o->filter.ballot) || ballot_is_none(o->filter.ballot)) {
            return usage_error("bad ballot \"%s\" (want e.g. r7.n2)", value);
        }
        o->filter.ballot_set = true;
        return 0;
    }
    if (strcmp(name, "--key") == 0) {
        if (trace_filter_parse_key(&o->filter, value, msg, sizeof msg) != BALLOT_OK) {
            return usage_error("%s", msg);
        }
        return 0;
    }
    return number_option(o, name, value);
}

/* One option at argv[*i]; 0, 2 on a usage error, or -1 for --help. */
static int parse_option(trace_view_options_t *o, const char **html, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    size_t len = 0;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        return -1;
    }
    if (option_is(arg, "--html", &len)) {
        *html = option_value(argc, argv, i, arg, len);
        if (*html == NULL || (*html)[0] == '\0') {
            return usage_error("%s needs a file name", "--html");
        }
        return 0;
    }
    if (strcmp(arg, "--summary") == 0) {
        o->summary = true;
        return 0;
    }
    static const char *const with_value[] = {"--ballot", "--key"};
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) {
        if (option_is(arg, with_value[k], &len)) {
            return value_option(o, with_value[k], option_value(argc, argv, i, arg, len));
        }
    }
    for (size_t k = 0; k < sizeof number_options / sizeof number_options[0]; k++) {
        if (option_is(arg, number_options[k], &len)) {
            return value_option(o, number_options[k], option_value(argc, argv, i, arg, len));
        }
    }
    return usage_error("unknown option %s", arg);
}

static int read_files(trace_set_t *set, char **argv, const int *file_args, int file_count)
{
    int status = 0;
    for (int k = 0; k < file_count; k++) {
        const char *path = argv[file_args[k]];
        /* The reader names the file and the OS error itself (trace_set_read_file). */
        int rc = trace_set_read_file(set, path, stderr);
        if (rc != BALLOT_OK && rc != BALLOT_EIO) {
            fprintf(stderr, "ballot trace: %s: %s\n", path, ballot_strerror(rc));
            status = 1;
        } else if (rc == BALLOT_EIO) {
            status = 1;
        }
    }
    return status;
}

/* --html: the page, titled with the files it shows. */
static int write_html(const trace_set_t *set, const trace_view_options_t *opts, char **argv,
                      const int *file_args, int file_count, const char *path)
{
    char title[512];
    size_t used = (size_t)snprintf(title, sizeof title, "ballot trace:");
    for (int k = 0; k < file_count && used < sizeof title; k++) {
        used += (size_t)snprintf(title + used, sizeof title - used, " %s", argv[file_args[k]]);
    }
    char msg[CLI_MSG_BYTES + 4096];
    int rc = trace_html_write_file(set, opts, NULL, 0, title, path, msg, sizeof msg);
    if (rc != BALLOT_OK) {
        fprintf(stderr, "ballot trace: --html %s\n", msg);
        return 1;
    }
    printf("wrote %s (%zu events)\n", path, set->count);
    return 0;
}

/* argv[0] is the command's name ("ballot-trace", or "trace" under `ballot`). */
int trace_cli_main(int argc, char **argv)
{
    trace_view_options_t opts;
    trace_view_options_init(&opts);
    int file_args[TRACE_FILES_MAX];
    int file_count = 0;
    const char *html = NULL;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] != '-' || argv[i][1] == '\0') {
            if (file_count >= (int)TRACE_FILES_MAX) {
                char limit[32];
                snprintf(limit, sizeof limit, "%u", TRACE_FILES_MAX);
                return usage_error("more than %s trace files", limit);
            }
            file_args[file_count++] = i;
            continue;
        }
        int rc = parse_option(&opts, &html, argc, argv, &i);
        if (rc == -1) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (file_count == 0) {
        return usage_error("%s", "no trace files given");
    }
    trace_set_t set;
    trace_set_init(&set);
    int status = read_files(&set, argv, file_args, file_count);
    trace_set_sort(&set);
    if (status != 0 && set.count == 0) {
        trace_set_free(&set); /* nothing could be read: no empty view */
        return status;
    }
    if (html != NULL) {
        status = write_html(&set, &opts, argv, file_args, file_count, html) != 0 ? 1 : status;
        trace_set_free(&set);
        return status;
    }
    int rc = trace_view_print(&set, &opts, stdout);
    if (rc != BALLOT_OK) {
        fprintf(stderr, "ballot trace: %s\n", ballot_strerror(rc));
        status = 1;
    }
    trace_set_free(&set);
    return status;
}
