#include "cc/draw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Managers and their candidates, each as running sums so a draw is two
 * binary searches. Candidates are grouped by manager: manager m owns
 * cand_cum/cand_index[first[m] .. first[m + 1]). */
struct draw_pool {
    size_t n_managers;
    double *manager_cum; /* running sum of manager weights */
    size_t *first;       /* n_managers + 1 offsets into the candidate arrays */
    double *cand_cum;    /* running sum of target weights within each manager */
    long *cand_index;    /* index into the caller's array */
};

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* splitmix64 spreads any seed (0 included) over the whole state. */
void draw_rng_seed(draw_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        rng->s[i] = z ^ (z >> 31);
    }
}

uint64_t draw_rng_next(draw_rng *rng)
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

double draw_rng_unit(draw_rng *rng)
{
    return (double)(draw_rng_next(rng) >> 11) * 0x1.0p-53;
}

static double usable(double w)
{
    if (!isfinite(w) || w <= 0)
        return 0;
    return w > DRAW_WEIGHT_MAX ? DRAW_WEIGHT_MAX : w;
}

typedef struct sort_item {
    const char *owner;
    long index;
} sort_item;

static int by_owner(const void *a, const void *b)
{
    const sort_item *x = a, *y = b;
    int c = strcmp(x->owner, y->owner);
    if (c)
        return c;
    return (x->index > y->index) - (x->index < y->index);
}

draw_pool *draw_pool_build(const draw_candidate *cands, size_t n)
{
    draw_pool *pool = calloc(1, sizeof *pool);
    sort_item *items = n ? malloc(n * sizeof *items) : NULL;
    size_t n_items = 0, n_cands = 0;

    if (!pool || (n && !items))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (usable(cands[i].owner_weight) > 0 && usable(cands[i].target_weight) > 0 && cands[i].owner)
            items[n_items++] = (sort_item){cands[i].owner, (long)i};
    }
    if (n_items > 1)
        qsort(items, n_items, sizeof *items, by_owner);
    pool->manager_cum = malloc((n_items + 1) * sizeof *pool->manager_cum);
    pool->first = malloc((n_items + 1) * sizeof *pool->first);
    pool->cand_cum = malloc((n_items + 1) * sizeof *pool->cand_cum);
    pool->cand_index = malloc((n_items + 1) * sizeof *pool->cand_index);
    if (!pool->manager_cum || !pool->first || !pool->cand_cum || !pool->cand_index)
        goto fail;

    double manager_sum = 0;
    for (size_t i = 0; i < n_items;) {
        /* A manager's weight is read from its first candidate; the cache
         * gives every candidate of one owner the same owner weight. */
        const char *owner = items[i].owner;
        double target_sum = 0;
        pool->first[pool->n_managers] = n_cands;
        for (; i < n_items && strcmp(items[i].owner, owner) == 0; i++) {
            target_sum += usable(cands[items[i].index].target_weight);
            pool->cand_cum[n_cands] = target_sum;
            pool->cand_index[n_cands++] = items[i].index;
        }
        manager_sum += usable(cands[pool->cand_index[pool->first[pool->n_managers]]].owner_weight);
        pool->manager_cum[pool->n_managers++] = manager_sum;
    }
    pool->first[pool->n_managers] = n_cands;
    free(items);
    return pool;
fail:
    free(items);
    draw_pool_free(pool);
    return NULL;
}

void draw_pool_free(draw_pool *pool)
{
    if (!pool)
        return;
    free(pool->manager_cum);
    free(pool->first);
    free(pool->cand_cum);
    free(pool->cand_index);
    free(pool);
}

/* First position in cum[lo, hi) whose running sum exceeds x; the last one
 * when rounding puts x at or past the end. Running sums strictly increase
 * (zero weights were dropped), so a zero-weight entry can never be hit. */
static size_t search(const double *cum, size_t lo, size_t hi, double x)
{
    size_t last = hi - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo > last ? last : lo;
}

long draw_pool_pick(const draw_pool *pool, draw_rng *rng)
{
    if (!pool || pool->n_managers == 0)
        return -1;
    double total = pool->manager_cum[pool->n_managers - 1];
    size_t m = search(pool->manager_cum, 0, pool->n_managers, draw_rng_unit(rng) * total);
    size_t lo = pool->first[m], hi = pool->first[m + 1];
    double sum = pool->cand_cum[hi - 1];
    return pool->cand_index[search(pool->cand_cum, lo, hi, draw_rng_unit(rng) * sum)];
}

size_t draw_pool_size(const draw_pool *pool)
{
    return pool ? pool->first[pool->n_managers] : 0;
}
