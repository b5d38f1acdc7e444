#include "core/ballot.h"

#include <stdio.h>

#include "core/check.h"

int ballot_compare(ballot_t a, ballot_t b)
{
    if (a.round != b.round) {
        return a.round < b.round ? -1 : 1;
    }
    if (a.node != b.node) {
        return a.node < b.node ? -1 : 1;
    }
    return 0;
}

bool ballot_equal(ballot_t a, ballot_t b)
{
    return a.round == b.round && a.node == b.node;
}

bool ballot_less(ballot_t a, ballot_t b)
{
    return ballot_compare(a, b) < 0;
}

bool ballot_is_none(ballot_t b)
{
    return b.round == 0 && b.node == 0;
}

ballot_t ballot_next(ballot_t highest_seen, uint32_t node)
{
    assert(node != 0);
    assert(!ballot_exhausted(highest_seen, node));
    ballot_t next = {.round = highest_seen.round + 1, .node = node};
    assert(ballot_less(highest_seen, next));
    return next;
}

bool ballot_exhausted(ballot_t highest_seen, uint32_t node)
{
    (void)node;
    return highest_seen.round >= BALLOT_ROUND_MAX;
}

char *ballot_format(ballot_t b, char *buf, size_t buf_bytes)
{
    assert(buf != NULL);
    assert(buf_bytes > 0);
    snprintf(buf, buf_bytes, "r%llu.n%lu", (unsigned long long)b.round, (unsigned long)b.node);
    return buf;
}

/* Reads decimal digits into *out; false on no digits or overflow of max. */
static bool parse_decimal(const char **text, uint64_t max, uint64_t *out)
{
    const char *p = *text;
    uint64_t v = 0;
    unsigned digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 21) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (max - d) / 10) {
            return false;
        }
        v = v * 10 + d;
        p++;
        digits++;
    }
    if (digits == 0 || digits > 20) {
        return false;
    }
    *text = p;
    *out = v;
    return true;
}

bool ballot_parse(const char *text, ballot_t *out)
{
    if (text == NULL || out == NULL || *text != 'r') {
        return false;
    }
    text++;
    uint64_t round = 0;
    uint64_t node = 0;
    if (!parse_decimal(&text, UINT64_MAX, &round)) {
        return false;
    }
    if (text[0] != '.' || text[1] != 'n') {
        return false;
    }
    text += 2;
    if (!parse_decimal(&text, UINT32_MAX, &node) || *text != '\0') {
        return false;
    }
    out->round = round;
    out->node = (uint32_t)node;
    return true;
}
