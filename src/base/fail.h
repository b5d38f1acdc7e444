/* The one way a function that can fail reports why: it writes a message for the caller to
 * show (when the caller gave a buffer) and returns the error code, so a failure path is
 * `return ballot_fail(BALLOT_EINVAL, msg, msg_bytes, "...", ...);`. */
#ifndef BALLOT_BASE_FAIL_H
#define BALLOT_BASE_FAIL_H

#include <stddef.h>

__attribute__((format(printf, 4, 5))) int ballot_fail(int code, char *msg, size_t msg_bytes,
                                                      const char *format, ...);

#endif
