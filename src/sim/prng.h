/* The simulator's one random stream. Every choice a run makes (delays, losses, crashes,
 * client operations, the nodes' own seeds) is drawn from one prng_t seeded by --seed, in
 * the order the event loop makes them, so a seed replays a run exactly. */
#ifndef BALLOT_SIM_PRNG_H
#define BALLOT_SIM_PRNG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/rng.h"

/* The core's generator (xoshiro256** seeded by splitmix64), with the draws a simulator
 * needs on top. */
typedef struct prng {
    rng_t rng;
} prng_t;

void prng_seed(prng_t *rng, uint64_t seed);
uint64_t prng_next(prng_t *rng);
/* Uniform in [0, bound); bound > 0. */
uint64_t prng_below(prng_t *rng, uint64_t bound);
/* Uniform in [low, high]; low <= high. */
uint64_t prng_range(prng_t *rng, uint64_t low, uint64_t high);
/* Uniform in [0, 1). */
double prng_unit(prng_t *rng);
/* True with probability p (p <= 0: never, p >= 1: always). */
bool prng_chance(prng_t *rng, double p);

#endif
