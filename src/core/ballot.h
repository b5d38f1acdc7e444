/* Ballot numbers: (round, node), ordered by round then node (docs/design.md "Roles and words").
 *
 * The seeds' "timestamp" T=101 is a ballot: a local counter paired with the server id, so
 * that no two proposers ever hold the same number and a newer one always wins. */
#ifndef BALLOT_CORE_BALLOT_H
#define BALLOT_CORE_BALLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ballot {
    uint64_t round;
    uint32_t node;
} ballot_t;

/* The highest round any node uses or accepts from a message or the disk: far above what
 * elections ever reach (one per election), and low enough that ballot_next never wraps.
 * A round above it is refused as malformed (docs/security.md "Bounds on input and
 * memory"). */
#define BALLOT_ROUND_MAX ((uint64_t)1 << 62)

/* The ballot below every real one: nothing promised, nothing accepted. */
#define BALLOT_NONE ((ballot_t){.round = 0, .node = 0})

/* "r18446744073709551615.n4294967295" plus NUL fits. */
#define BALLOT_TEXT_BYTES 40

/* -1, 0 or 1 as a is below, equal to or above b. */
int ballot_compare(ballot_t a, ballot_t b);
bool ballot_equal(ballot_t a, ballot_t b);
bool ballot_less(ballot_t a, ballot_t b);
bool ballot_is_none(ballot_t b);

/* The next ballot of `node`: one round above the highest round it has seen. The caller
 * checks ballot_exhausted() first. */
ballot_t ballot_next(ballot_t highest_seen, uint32_t node);
/* True when no ballot of `node` above highest_seen stays within BALLOT_ROUND_MAX. */
bool ballot_exhausted(ballot_t highest_seen, uint32_t node);

/* Writes "r7.n2" into buf (at least BALLOT_TEXT_BYTES) and returns buf. */
char *ballot_format(ballot_t b, char *buf, size_t buf_bytes);

/* Parses "r7.n2"; returns false on anything else. */
bool ballot_parse(const char *text, ballot_t *out);

#endif
