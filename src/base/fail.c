#include "base/fail.h"

#include <stdarg.h>
#include <stdio.h>

int ballot_fail(int code, char *msg, size_t msg_bytes, const char *format, ...)
{
    if (msg != NULL && msg_bytes > 0) {
        va_list ap;
        va_start(ap, format);
        vsnprintf(msg, msg_bytes, format, ap);
        va_end(ap);
    }
    return code;
}
