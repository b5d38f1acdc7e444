/* ballotd's log: one line per important event on standard error,
 * "2025-01-31T12:00:00.123Z info  leader is n2 at r7.n2 (was n1 at r6.n1)". */
#ifndef BALLOT_SERVER_LOG_H
#define BALLOT_SERVER_LOG_H

#include <stdbool.h>

typedef enum log_level {
    LOG_ERROR = 0,
    LOG_WARN = 1,
    LOG_INFO = 2,
    LOG_DEBUG = 3,
} log_level_t;

#define LOG_LINE_BYTES_MAX 1024u

void log_set_level(log_level_t level);
bool log_enabled(log_level_t level);
/* "error", "warn", "info", "debug"; false on anything else. */
bool log_level_parse(const char *text, log_level_t *out);
const char *log_level_name(log_level_t level);
void log_msg(log_level_t level, const char *format, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG)) {                                                              \
            log_msg(LOG_DEBUG, __VA_ARGS__);                                                       \
        }                                                                                          \
    } while (0)

#endif
