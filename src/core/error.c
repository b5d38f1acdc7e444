#include "core/error.h"

const char *ballot_strerror(int err)
{
    switch (err) {
    case BALLOT_OK:
        return "ok";
    case BALLOT_EINVAL:
        return "invalid input";
    case BALLOT_ENOMEM:
        return "out of memory";
    case BALLOT_EBUSY:
        return "busy: a bounded queue is full";
    case BALLOT_ETOOLARGE:
        return "too large";
    case BALLOT_ENOTLEADER:
        return "not leader";
    case BALLOT_ECORRUPT:
        return "corrupt data";
    case BALLOT_EIO:
        return "i/o error";
    case BALLOT_ENOSPC:
        return "no space left on device";
    case BALLOT_ESTATE:
        return "not allowed in this state";
    case BALLOT_ECONFLICT:
        return "contradicts a value known chosen";
    case BALLOT_EAGAIN:
        return "not yet; try again later";
    default:
        return "unknown error";
    }
}
