#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cc/draw.h"

#define DRAWS 100000

/* |observed - expected| within 5 binomial standard deviations. */
static void assert_share(long observed, double p)
{
    double expected = DRAWS * p, sd = sqrt(DRAWS * p * (1 - p));
    assert_true(fabs((double)observed - expected) <= 5 * sd);
}

static void test_two_level_shares(void **state)
{
    (void)state;
    /* Owners interleaved on purpose: the pool must group them itself. */
    const draw_candidate c[] = {
        {"alice", 1, 1}, /* 0 */
        {"bob", 3, 1},   /* 1 */
        {"carol", 0, 5}, /* 2: manager weight 0 */
        {"alice", 1, 2}, /* 3 */
        {"bob", 3, 0},   /* 4: target weight 0 */
        {"dave", 2, 0},  /* 5: all of dave's targets weigh 0 */
        {"bob", 3, 3},   /* 6 */
    };
    long counts[7] = {0}, alice = 0;
    draw_rng rng;
    draw_rng_seed(&rng, 42);
    draw_pool *pool = draw_pool_build(c, 7);
    assert_non_null(pool);
    assert_int_equal(draw_pool_size(pool), 4);
    for (int i = 0; i < DRAWS; i++) {
        long k = draw_pool_pick(pool, &rng);
        assert_true(k >= 0 && k < 7);
        counts[k]++;
    }
    alice = counts[0] + counts[3];
    assert_share(alice, 1.0 / 4);
    assert_share(counts[1] + counts[6], 3.0 / 4);
    assert_share(counts[0], 1.0 / 4 * 1.0 / 3);
    assert_share(counts[3], 1.0 / 4 * 2.0 / 3);
    assert_share(counts[1], 3.0 / 4 * 1.0 / 4);
    assert_share(counts[6], 3.0 / 4 * 3.0 / 4);
    assert_int_equal(counts[2], 0);
    assert_int_equal(counts[4], 0);
    assert_int_equal(counts[5], 0);
    draw_pool_free(pool);
}

/* The manager level must not favour a manager for owning more targets. */
static void test_manager_share_ignores_target_count(void **state)
{
    (void)state;
    draw_candidate c[101];
    long many = 0;
    draw_rng rng;
    draw_rng_seed(&rng, 7);
    c[0] = (draw_candidate){"solo", 1, 1};
    for (int i = 1; i < 101; i++)
        c[i] = (draw_candidate){"crowd", 1, 1};
    draw_pool *pool = draw_pool_build(c, 101);
    assert_non_null(pool);
    for (int i = 0; i < DRAWS; i++)
        many += draw_pool_pick(pool, &rng) != 0;
    assert_share(many, 0.5);
    draw_pool_free(pool);
}

static void test_empty_and_all_zero(void **state)
{
    (void)state;
    draw_rng rng;
    draw_rng_seed(&rng, 1);
    draw_pool *pool = draw_pool_build(NULL, 0);
    assert_non_null(pool);
    assert_int_equal(draw_pool_size(pool), 0);
    assert_int_equal(draw_pool_pick(pool, &rng), -1);
    draw_pool_free(pool);

    const draw_candidate zero[] = {{"a", 0, 1}, {"b", 1, 0}, {"c", -1, 5}, {"d", 2, -3}, {NULL, 1, 1}};
    pool = draw_pool_build(zero, 5);
    assert_non_null(pool);
    assert_int_equal(draw_pool_size(pool), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(draw_pool_pick(pool, &rng), -1);
    draw_pool_free(pool);
    assert_int_equal(draw_pool_pick(NULL, &rng), -1);
}

static void test_non_finite_and_huge_weights(void **state)
{
    (void)state;
    const draw_candidate c[] = {
        {"a", NAN, 1}, {"b", 1, INFINITY}, {"c", 1, NAN}, {"d", 1e300, 1}, {"e", 1, 1}};
    long counts[5] = {0};
    draw_rng rng;
    draw_rng_seed(&rng, 3);
    draw_pool *pool = draw_pool_build(c, 5);
    assert_non_null(pool);
    assert_int_equal(draw_pool_size(pool), 2);
    for (int i = 0; i < 1000; i++)
        counts[draw_pool_pick(pool, &rng)]++;
    assert_int_equal(counts[0] + counts[1] + counts[2], 0);
    assert_true(counts[3] > 0); /* capped, still drawable */
    draw_pool_free(pool);
}

static void test_single_and_deterministic(void **state)
{
    (void)state;
    const draw_candidate c[] = {{"a", 0.5, 0.001}};
    draw_rng r1, r2;
    draw_rng_seed(&r1, 99);
    draw_rng_seed(&r2, 99);
    draw_pool *pool = draw_pool_build(c, 1);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(draw_pool_pick(pool, &r1), 0);
    draw_pool_free(pool);
    draw_rng_seed(&r1, 99);
    for (int i = 0; i < 100; i++)
        assert_true(draw_rng_next(&r1) == draw_rng_next(&r2));
    draw_rng_seed(&r2, 100);
    assert_true(draw_rng_next(&r1) != draw_rng_next(&r2));
    for (int i = 0; i < 10000; i++) {
        double u = draw_rng_unit(&r1);
        assert_true(u >= 0 && u < 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_level_shares),
        cmocka_unit_test(test_manager_share_ignores_target_count),
        cmocka_unit_test(test_empty_and_all_zero),
        cmocka_unit_test(test_non_finite_and_huge_weights),
        cmocka_unit_test(test_single_and_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
