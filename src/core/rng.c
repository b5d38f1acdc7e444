#include "core/rng.h"

#include "core/check.h"

/* splitmix64 (Steele, Lea, Flood 2014) spreads one seed over the four state words. */
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

void rng_seed(rng_t *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (unsigned i = 0; i < 4; i++) {
        rng->state[i] = splitmix64(&x);
    }
    /* xoshiro must not start from the all-zero state. */
    assert(rng->state[0] | rng->state[1] | rng->state[2] | rng->state[3]);
}

/* xoshiro256** (Blackman, Vigna 2018). */
uint64_t rng_next(rng_t *rng)
{
    uint64_t *s = rng->state;
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

uint64_t rng_range(rng_t *rng, uint64_t low, uint64_t high)
{
    if (high <= low) {
        return low;
    }
    uint64_t span = high - low;
    /* Rejection sampling keeps the draw uniform; the loop ends with probability >= 1/2 per
     * round, so the bound is never reached in practice. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % span;
    for (unsigned round = 0; round < 64; round++) {
        uint64_t r = rng_next(rng);
        if (r < limit) {
            return low + r % span;
        }
    }
    return low + rng_next(rng) % span;
}
