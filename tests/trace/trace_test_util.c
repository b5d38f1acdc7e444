#include "trace_test_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/check.h"

void test_dir_make(char *dir, size_t dir_bytes)
{
    assert(dir_bytes >= sizeof "/tmp/ballot-trace-test-XXXXXX");
    snprintf(dir, dir_bytes, "/tmp/ballot-trace-test-XXXXXX");
    char *made = mkdtemp(dir);
    assert(made != NULL);
}

void test_dir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) {
            continue;
        }
        char path[TEST_PATH_BYTES];
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void test_write_node_file(const char *dir, uint32_t node, uint32_t node_count,
                          const event_t *events, size_t count, char *path, size_t path_bytes)
{
    snprintf(path, path_bytes, "%s/n%u.trace", dir, node);
    trace_writer_t *w = NULL;
    char msg[256];
    int rc = trace_writer_open(&w, path, node_count, msg, sizeof msg);
    assert(rc == BALLOT_OK);
    for (size_t i = 0; i < count; i++) {
        if (events[i].node == node) {
            rc = trace_writer_write(w, &events[i]);
            assert(rc == BALLOT_OK);
        }
    }
    rc = trace_writer_close(w);
    assert(rc == BALLOT_OK);
}

char *test_render(const trace_set_t *set, const trace_view_options_t *opts)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert(out != NULL);
    int rc = trace_view_print(set, opts, out);
    assert(rc == BALLOT_OK);
    fclose(out);
    return text;
}

char *test_read_text(const char *path)
{
    FILE *in = fopen(path, "r");
    if (in == NULL) {
        return NULL;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert(out != NULL);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        fwrite(buf, 1, n, out);
    }
    fclose(in);
    fclose(out);
    return text;
}
