/* Helpers shared by the trace tests: temporary directories, per-node trace files, rendering
 * a view into memory. */
#ifndef BALLOT_TESTS_TRACE_TEST_UTIL_H
#define BALLOT_TESTS_TRACE_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "trace/trace.h"

#define TEST_PATH_BYTES 512u
#define TEST_DIR_BYTES  64u

/* A fresh directory under /tmp; removed (with its files) by test_dir_remove. */
void test_dir_make(char *dir, size_t dir_bytes);
void test_dir_remove(const char *dir);

/* Writes the events of `node` (in the order given) to dir/n<node>.trace with a header. */
void test_write_node_file(const char *dir, uint32_t node, uint32_t node_count,
                          const event_t *events, size_t count, char *path, size_t path_bytes);

/* Renders the view of a sorted set; the caller frees the text. */
char *test_render(const trace_set_t *set, const trace_view_options_t *opts);

/* Reads a whole file (NULL when missing); the caller frees it. */
char *test_read_text(const char *path);

#endif
