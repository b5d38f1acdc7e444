/* Private to src/wire: what the RESP parser's files share. */
#ifndef BALLOT_WIRE_RESP_INTERNAL_H
#define BALLOT_WIRE_RESP_INTERNAL_H

#include "wire/resp.h"

/* Sets the parser's sticky error and returns code. */
int resp_parser_fail(resp_parser_t *p, int code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
/* Room for argument `index` (< args_max) in the argument arrays. */
int resp_parser_arg_room(resp_parser_t *p, uint32_t index);
/* Splits an inline line (no end of line) into words the way redis-cli quotes them,
 * unquoting in place; records each word's offset (from p->start) and length. */
int resp_inline_split(resp_parser_t *p, uint8_t *line, size_t size, uint32_t *argc);

#endif
