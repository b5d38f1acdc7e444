/* Simulated clocks. The simulator keeps one true time (ms); each node reads its own
 * clock, local = base_local + elapsed + elapsed * rate_ppm / 1e6 since the last rate
 * change, which is monotonic for every rate above -1e6 ppm. Leases are only safe while
 * two clocks drift apart by less than clock_drift_ms over one lease (docs/design.md step 6),
 * i.e. while |rate_a - rate_b| * lease_ms / 1e6 < clock_drift_ms; clock_bound_ppm gives
 * the largest per-node rate that keeps every pair inside that bound. */
#ifndef BALLOT_SIM_CLOCK_H
#define BALLOT_SIM_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/prng.h"

typedef struct sim_clock {
    uint64_t base_true_ms;
    uint64_t base_local_ms;
    int64_t rate_ppm;
} sim_clock_t;

#define CLOCK_RATE_PPM_MAX 500000 /* +-50%: far beyond any bound, still monotonic */

void clock_init(sim_clock_t *c, uint64_t now_true_ms, uint64_t local_offset_ms, int64_t rate_ppm);
uint64_t clock_local(const sim_clock_t *c, uint64_t true_ms);
/* Changes the rate from now on; the clock stays continuous. */
void clock_set_rate(sim_clock_t *c, uint64_t now_true_ms, int64_t rate_ppm);
/* The first true time >= now_true_ms at which the clock reads >= local_ms. */
uint64_t clock_true_at(const sim_clock_t *c, uint64_t now_true_ms, uint64_t local_ms);
/* A rate within +-span_ppm: mostly one of the two extremes (the worst case the bound
 * allows, where a missing drift margin shows), otherwise uniform; extremes_only: always
 * an extreme. */
int64_t clock_draw_rate(prng_t *rng, int64_t span_ppm, bool extremes_only);
/* The largest |rate_ppm| per node that keeps every pair of clocks within drift_ms of each
 * other over lease_ms, with 2 ms left for whole-millisecond rounding at either end. */
int64_t clock_bound_ppm(uint32_t lease_ms, uint32_t drift_ms);

#endif
