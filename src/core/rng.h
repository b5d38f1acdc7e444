/* The core's only source of randomness: xoshiro256** seeded through splitmix64 from
 * config.seed, so one seed reproduces one run (docs/design.md "sim"). */
#ifndef BALLOT_CORE_RNG_H
#define BALLOT_CORE_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t state[4];
} rng_t;

void rng_seed(rng_t *rng, uint64_t seed);
uint64_t rng_next(rng_t *rng);
/* Uniform in [low, high); low when high <= low. */
uint64_t rng_range(rng_t *rng, uint64_t low, uint64_t high);

#endif
