#include "sim/prng.h"

#include <assert.h>

/* splitmix64 expands the seed into the generator's state; xoshiro256** is the stream
 * (Blackman and Vigna, "Scrambled linear pseudorandom number generators", 2018). */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void prng_seed(prng_t *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (unsigned i = 0; i < 4; i++) {
        rng->s[i] = splitmix64(&x);
    }
}

uint64_t prng_next(prng_t *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
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
