/* number_long and number_double: whole words only, in range, no overflow
 * or non-finite values, and *out untouched on refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <float.h>
#include <limits.h>

#include "util/number.h"

static void test_long(void **state)
{
    (void)state;
    long v = 7;
    assert_int_equal(number_long("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(number_long("-3", -5, 5, &v), 0);
    assert_int_equal(v, -3);
    const char *bad[] = {"", "4x", " ", " 5", "\t5", "101", "-1", "99999999999999999999999", "1.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        assert_int_equal(number_long(bad[i], 0, 100, &v), -1);
        assert_int_equal(v, 7);
    }
}

static void test_double(void **state)
{
    (void)state;
    double v = 7;
    assert_int_equal(number_double("0.25", 0, 1, &v), 0);
    assert_true(v == 0.25);
    assert_int_equal(number_double("1e3", 0, DBL_MAX, &v), 0);
    assert_true(v == 1000);
    const char *bad[] = {"", "0.5s", " 0.5", "-0.1", "2", "inf", "nan", "1e999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        assert_int_equal(number_double(bad[i], 0, 1, &v), -1);
        assert_true(v == 7);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long),
        cmocka_unit_test(test_double),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
