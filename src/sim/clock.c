#include "sim/clock.h"

#include "core/check.h"

#define PPM 1000000

void clock_init(sim_clock_t *c, uint64_t now_true_ms, uint64_t local_offset_ms, int64_t rate_ppm)
{
    assert(rate_ppm > -CLOCK_RATE_PPM_MAX - 1 && rate_ppm < CLOCK_RATE_PPM_MAX + 1);
    c->base_true_ms = now_true_ms;
    c->base_local_ms = now_true_ms + local_offset_ms;
    c->rate_ppm = rate_ppm;
}

uint64_t clock_local(const sim_clock_t *c, uint64_t true_ms)
{
    assert(true_ms >= c->base_true_ms);
    int64_t elapsed = (int64_t)(true_ms - c->base_true_ms);
    int64_t skew = elapsed * c->rate_ppm;
    /* Floor division, so that the clock is monotonic also for negative rates. */
    int64_t skew_ms = skew / PPM;
    if (skew % PPM != 0 && skew < 0) {
        skew_ms--;
    }
    int64_t local = (int64_t)c->base_local_ms + elapsed + skew_ms;
    assert(local >= 0);
    return (uint64_t)local;
}

void clock_set_rate(sim_clock_t *c, uint64_t now_true_ms, int64_t rate_ppm)
{
    assert(rate_ppm > -CLOCK_RATE_PPM_MAX - 1 && rate_ppm < CLOCK_RATE_PPM_MAX + 1);
    uint64_t local = clock_local(c, now_true_ms);
    c->base_true_ms = now_true_ms;
    c->base_local_ms = local;
    c->rate_ppm = rate_ppm;
}

uint64_t clock_true_at(const sim_clock_t *c, uint64_t now_true_ms, uint64_t local_ms)
{
    if (clock_local(c, now_true_ms) >= local_ms) {
        return now_true_ms;
    }
    uint64_t want = local_ms - c->base_local_ms;
    uint64_t guess =
        c->base_true_ms + (uint64_t)((double)want * (double)PPM / (double)(PPM + c->rate_ppm));
    if (guess < now_true_ms) {
        guess = now_true_ms;
    }
    /* The guess is within a millisecond or two of the answer; walk to it (bounded). */
    for (unsigned i = 0; i < 64 && clock_local(c, guess) < local_ms; i++) {
        guess++;
    }
    for (unsigned i = 0; i < 64 && guess > now_true_ms && clock_local(c, guess - 1) >= local_ms;
         i++) {
        guess--;
    }
    assert(clock_local(c, guess) >= local_ms);
    return guess;
}

int64_t clock_bound_ppm(uint32_t lease_ms, uint32_t drift_ms)
{
    assert(lease_ms > 0);
    if (drift_ms <= 4) {
        return 0;
    }
    /* Two clocks at +rate and -rate part by 2 * rate * lease / 1e6 over one lease. */
    return (int64_t)(drift_ms - 4) * PPM / (int64_t)lease_ms / 2;
}

int64_t clock_draw_rate(prng_t *rng, int64_t span_ppm, bool extremes_only)
{
    if (span_ppm <= 0) {
        return 0;
    }
    uint64_t roll = prng_below(rng, extremes_only ? 8 : 10);
    if (roll < 4) {
        return span_ppm;
    }
    if (roll < 8) {
        return -span_ppm;
    }
    return (int64_t)prng_below(rng, (uint64_t)(2 * span_ppm + 1)) - span_ppm;
}
