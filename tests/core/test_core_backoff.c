/* core_backoff: the schedule doubles, caps, exhausts and resets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/core_backoff.h"

static void test_doubling_to_cap(void **state)
{
    (void)state;
    struct core_backoff b;
    core_backoff_init(&b, 0.5, 30, 0);
    const double want[] = {0.5, 1, 2, 4, 8, 16, 30, 30, 30};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_float_equal(core_backoff_next(&b), want[i], 1e-12);
    /* Unlimited: a long outage keeps giving the cap, never overflows. */
    for (int i = 0; i < 5000; i++)
        assert_float_equal(core_backoff_next(&b), 30, 1e-12);
}

static void test_bounded_and_reset(void **state)
{
    (void)state;
    struct core_backoff b;
    core_backoff_init(&b, 0.5, 30, 3);
    assert_float_equal(core_backoff_next(&b), 0.5, 1e-12);
    assert_float_equal(core_backoff_next(&b), 1, 1e-12);
    assert_float_equal(core_backoff_next(&b), 2, 1e-12);
    assert_true(core_backoff_next(&b) < 0);
    assert_true(core_backoff_next(&b) < 0);
    core_backoff_reset(&b);
    assert_float_equal(core_backoff_next(&b), 0.5, 1e-12);
}

static void test_bad_parameters_fall_back(void **state)
{
    (void)state;
    struct core_backoff b;
    core_backoff_init(&b, 0, 0.1, -4);
    assert_float_equal(core_backoff_next(&b), CORE_BACKOFF_INITIAL, 1e-12);
    assert_float_equal(core_backoff_next(&b), CORE_BACKOFF_INITIAL, 1e-12); /* cap raised to initial */
    core_backoff_init(&b, 3, 5, 0);
    assert_float_equal(core_backoff_next(&b), 3, 1e-12);
    assert_float_equal(core_backoff_next(&b), 5, 1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubling_to_cap),
        cmocka_unit_test(test_bounded_and_reset),
        cmocka_unit_test(test_bad_parameters_fall_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
