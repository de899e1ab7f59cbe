/* draw: the two-level weighted draw of /core/assign (PROTOCOL.md).
 * A manager is picked with probability proportional to its weight among the
 * managers owning a drawable candidate, then one of that manager's
 * candidates in proportion to the target weight. A weight that is 0,
 * negative or not finite is never drawn (a manager whose candidates all
 * weigh 0 is not drawable either); weights are capped at DRAW_WEIGHT_MAX so
 * sums stay finite.
 * Build a pool once per candidate set (O(n log n)), then draw from it as
 * often as needed: a draw is O(log n), allocation free, and a pool is
 * read-only after building, so threads may share it (each with its own rng).
 * The random source is a small explicit PRNG (xoshiro256**) so tests can
 * seed it; seed it from crypto randomness in production. */
#ifndef ST_CC_DRAW_H
#define ST_CC_DRAW_H

#include <stddef.h>
#include <stdint.h>

#define DRAW_WEIGHT_MAX 1e12

typedef struct draw_rng {
    uint64_t s[4];
} draw_rng;

void draw_rng_seed(draw_rng *rng, uint64_t seed);
uint64_t draw_rng_next(draw_rng *rng);
double draw_rng_unit(draw_rng *rng); /* uniform in [0, 1) */

typedef struct draw_candidate {
    const char *owner; /* manager name; compared by content */
    double owner_weight;
    double target_weight;
} draw_candidate;

typedef struct draw_pool draw_pool;

/* Copies what it needs from cands (owner strings are compared while building
 * and not kept). NULL only when out of memory; an empty pool is valid. */
draw_pool *draw_pool_build(const draw_candidate *cands, size_t n);
void draw_pool_free(draw_pool *pool);
/* Index into the cands array the pool was built from, or -1 when nothing is
 * drawable. */
long draw_pool_pick(const draw_pool *pool, draw_rng *rng);
size_t draw_pool_size(const draw_pool *pool); /* drawable candidates */

#endif
