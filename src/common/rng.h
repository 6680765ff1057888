/* rng.h - the project's one seeded pseudo-random generator (xoshiro256**).
 *
 * Every random choice in raftkv and whirl comes from one of these, seeded
 * explicitly, so a run is reproducible from its printed seed. Never use rand().
 */
#ifndef RAFTKV_RNG_H
#define RAFTKV_RNG_H

#include <stdint.h>

struct rng {
    uint64_t s[4];
};

void rng_seed(struct rng *g, uint64_t seed);
uint64_t rng_next(struct rng *g);
/* Uniform in [0, bound); bound > 0. */
uint64_t rng_below(struct rng *g, uint64_t bound);
/* Uniform in [0, 1). */
double rng_double(struct rng *g);
/* Exponentially distributed with the given mean. */
double rng_exponential(struct rng *g, double mean);

#endif
