#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "server/log.h"

static log_level_t log_threshold = LOG_INFO;

static const char *const log_names[] = {"error", "warn", "info", "debug"};

void log_set_level(log_level_t level)
{
    log_threshold = level;
}

bool log_enabled(log_level_t level)
{
    return level <= log_threshold;
}

bool log_level_parse(const char *text, log_level_t *out)
{
    for (int i = LOG_ERROR; i <= LOG_DEBUG; i++) {
        if (strcmp(text, log_names[i]) == 0) {
            *out = (log_level_t)i;
            return true;
        }
    }
    return false;
}

const char *log_level_name(log_level_t level)
{
    return level <= LOG_DEBUG ? log_names[level] : "?";
}

void log_msg(log_level_t level, const char *format, ...)
{
    if (!log_enabled(level)) {
        return;
    }
    char line[LOG_LINE_BYTES_MAX];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    int head = snprintf(line + n, sizeof(line) - n, ".%03dZ %-5s ", (int)(tv.tv_usec / 1000),
                        log_level_name(level));
    if (head > 0) {
        n += (size_t)head;
    }
    va_list ap;
    va_start(ap, format);
    int body = vsnprintf(line + n, sizeof(line) - n - 1, format, ap);
    va_end(ap);
    if (body > 0) {
        n += (size_t)body < sizeof(line) - n - 1 ? (size_t)body : sizeof(line) - n - 2;
    }
    line[n++] = '\n';
    /* One write per line so that lines of interleaved nodes never mix. */
    fwrite(line, 1, n, stderr);
    fflush(stderr);
}
