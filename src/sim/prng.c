#include "sim/prng.h"

#include "core/check.h"

void prng_seed(prng_t *rng, uint64_t seed)
{
    rng_seed(&rng->rng, seed);
}

uint64_t prng_next(prng_t *rng)
{
    return rng_next(&rng->rng);
}

uint64_t prng_below(prng_t *rng, uint64_t bound)
{
    assert(bound > 0);
    /* Rejection keeps the draw uniform; the loop ends with probability >= 1/2 a turn. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
    for (unsigned attempt = 0; attempt < 1000; attempt++) {
        uint64_t x = prng_next(rng);
        if (x < limit) {
            return x % bound;
        }
    }
    return prng_next(rng) % bound;
}

uint64_t prng_range(prng_t *rng, uint64_t low, uint64_t high)
{
    assert(low <= high);
    if (high - low == UINT64_MAX) {
        return prng_next(rng);
    }
    return low + prng_below(rng, high - low + 1);
}

double prng_unit(prng_t *rng)
{
    return (double)(prng_next(rng) >> 11) * 0x1.0p-53;
}

bool prng_chance(prng_t *rng, double p)
{
    if (p <= 0.0) {
        return false;
    }
    if (p >= 1.0) {
        return true;
    }
    return prng_unit(rng) < p;
}
