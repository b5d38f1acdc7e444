/* Inline requests ("SET k v\r\n"), split the way redis-cli and Redis quote words: blanks
 * separate words; "double quotes" take the escapes \n \r \t \b \a \\ \" \xHH; 'single
 * quotes' take \'; a closing quote must end the word. Unquoting happens in place: each
 * output byte consumes at least one input byte, so the writer never passes the reader. */
#include <string.h>

#include "core/check.h"
#include "wire/resp_internal.h"

typedef enum quote_state {
    QUOTE_NONE = 0,
    QUOTE_DOUBLE = 1,
    QUOTE_SINGLE = 2,
} quote_state_t;

static bool is_blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int hex_digit(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* The escape at line[*i] == '\\' inside double quotes: writes one byte, advances *i. */
static uint8_t double_quote_escape(const uint8_t *line, size_t size, size_t *i)
{
    if (*i + 3 < size && line[*i + 1] == 'x' && hex_digit(line[*i + 2]) >= 0 &&
        hex_digit(line[*i + 3]) >= 0) {
        uint8_t v = (uint8_t)(hex_digit(line[*i + 2]) * 16 + hex_digit(line[*i + 3]));
        *i += 4;
        return v;
    }
    uint8_t c = line[*i + 1];
    *i += 2;
    switch (c) {
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'b':
        return '\b';
    case 'a':
        return '\a';
    default:
        return c;
    }
}

/* Reads one word starting at line[*i] (not blank), writing it at line[*w]. */
static int read_word(resp_parser_t *p, uint8_t *line, size_t size, size_t *i, size_t *w)
{
    quote_state_t state = QUOTE_NONE;
    /* Each pass consumes at least one byte; size bounds the loop. */
    while (*i < size) {
        uint8_t c = line[*i];
        if (state == QUOTE_NONE) {
            if (is_blank(c)) {
                return BALLOT_OK;
            }
            state = c == '"' ? QUOTE_DOUBLE : c == '\'' ? QUOTE_SINGLE : QUOTE_NONE;
            if (state == QUOTE_NONE) {
                line[(*w)++] = c;
            }
            (*i)++;
            continue;
        }
        uint8_t quote = state == QUOTE_DOUBLE ? '"' : '\'';
        if (c == quote) {
            (*i)++;
            if (*i < size && !is_blank(line[*i])) {
                break;
            }
            return BALLOT_OK;
        }
        if (c == '\\' && *i + 1 < size && state == QUOTE_DOUBLE) {
            line[(*w)++] = double_quote_escape(line, size, i);
        } else if (c == '\\' && *i + 1 < size && line[*i + 1] == '\'') {
            line[(*w)++] = '\'';
            *i += 2;
        } else {
            line[(*w)++] = c;
            (*i)++;
        }
    }
    if (*i == size && state == QUOTE_NONE) {
        return BALLOT_OK;
    }
    return resp_parser_fail(p, BALLOT_EINVAL, "Protocol error: unbalanced quotes in request");
}

int resp_inline_split(resp_parser_t *p, uint8_t *line, size_t size, uint32_t *argc)
{
    assert(line == p->buf + p->start);
    *argc = 0;
    size_t i = 0;
    /* Each pass consumes one word and the blanks before it; size bounds the loop. */
    while (i < size) {
        while (i < size && is_blank(line[i])) {
            i++;
        }
        if (i == size) {
            break;
        }
        if (*argc >= p->limits.args_max) {
            return resp_parser_fail(p, BALLOT_ETOOLARGE,
                                    "Protocol error: too many arguments (limit %u)",
                                    p->limits.args_max);
        }
        int rc = resp_parser_arg_room(p, *argc);
        if (rc != BALLOT_OK) {
            return rc;
        }
        size_t w = i;
        size_t word_start = w;
        rc = read_word(p, line, size, &i, &w);
        if (rc != BALLOT_OK) {
            return rc;
        }
        p->arg_offset[*argc] = (uint32_t)word_start;
        p->arg_len[*argc] = (uint32_t)(w - word_start);
        (*argc)++;
    }
    return BALLOT_OK;
}
