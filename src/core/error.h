/* Error codes shared by every layer. Functions that can fail return one of these (0 is
 * success) and, where a caller can show more, fill a message buffer. */
#ifndef BALLOT_CORE_ERROR_H
#define BALLOT_CORE_ERROR_H

typedef enum ballot_err {
    BALLOT_OK = 0,
    BALLOT_EINVAL = 1,    /* malformed or out-of-bounds input; nothing changed */
    BALLOT_ENOMEM = 2,    /* out of memory; nothing changed */
    BALLOT_EBUSY = 3,     /* a bounded queue is full; try again later */
    BALLOT_ETOOLARGE = 4, /* over a size bound */
    BALLOT_ENOTLEADER = 5,
    BALLOT_ECORRUPT = 6,   /* stored data failed its checksum or format check */
    BALLOT_EIO = 7,        /* the disk failed; the node must stop */
    BALLOT_ENOSPC = 8,     /* the disk is full; new work refused */
    BALLOT_ESTATE = 9,     /* the call is not allowed in this state */
    BALLOT_ECONFLICT = 10, /* contradicts a value known chosen: the sender is broken */
    BALLOT_EAGAIN = 11, /* not yet: a precondition will hold later (e.g. a learner catching up) */
} ballot_err_t;

const char *ballot_strerror(int err);

#endif
