/* Linearizability of the client history, one key at a time (linearizability is local:
 * Herlihy and Wing 1990, §3.3, so per-key histories may be checked separately).
 *
 * The search is Wing and Gong's, with Lowe's memoization ("Testing for linearizability",
 * 2017): walk the history's invocations and completions in order, tentatively linearize a
 * pending operation when the model allows its result, backtrack at a completion whose
 * operation is not yet linearized, and never revisit a (set of linearized operations,
 * model state) pair. An indeterminate write completes "at infinity" with any result: it
 * may take effect at any point after its invocation, or not at all (which is the same as
 * taking effect after everything else). A GET without an answer is left out. */
#ifndef BALLOT_SIM_LINEARIZABILITY_H
#define BALLOT_SIM_LINEARIZABILITY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/clients.h"

/* Memoized states the search may keep per key before it gives up (result unknown). */
#define LIN_CACHE_BYTES_MAX ((size_t)64u * 1024u * 1024u)
#define LIN_OPS_MAX         (1u << 16)

typedef enum lin_result {
    LIN_OK = 0,
    LIN_VIOLATION = 1,
    LIN_UNKNOWN = 2, /* the search hit its bound */
} lin_result_t;

/* Checks the operations of `ops` on `key`. On a violation, writes an explanation to
 * `why` (the operations around the point where every order failed). */
lin_result_t lin_check_key(const history_op_t *ops, size_t op_count, uint8_t key, char *why,
                           size_t why_bytes);

#endif
