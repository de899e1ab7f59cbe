/* query_value and query_long: exact keys, first pair wins, empty and
 * missing values, values that do not fit, numbers in range only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "util/query.h"

static void test_value(void **state)
{
    (void)state;
    char v[8] = "x";
    assert_int_equal(query_value("a=1&period=week&b", "period", v, sizeof v), 1);
    assert_string_equal(v, "week");
    assert_int_equal(query_value("period=day&period=week", "period", v, sizeof v), 1);
    assert_string_equal(v, "day");
    assert_int_equal(query_value("b", "b", v, sizeof v), 1);
    assert_string_equal(v, "");
    assert_int_equal(query_value("a=1&b=&c=3", "b", v, sizeof v), 1);
    assert_string_equal(v, "");
    assert_int_equal(query_value("a=x=y", "a", v, sizeof v), 1);
    assert_string_equal(v, "x=y");
    strcpy(v, "kept");
    /* prefixes, suffixes and values are not keys */
    const char *absent[] = {"", "&&", "periods=1", "xperiod=1", "a=period", "=period", NULL};
    for (size_t i = 0; i < sizeof absent / sizeof *absent; i++)
        assert_int_equal(query_value(absent[i], "period", v, sizeof v), 0);
    assert_string_equal(v, "kept");
    assert_int_equal(query_value("period=1234567", "period", v, sizeof v), 1);
    assert_int_equal(query_value("period=12345678", "period", v, sizeof v), -1);
}

static void test_long(void **state)
{
    (void)state;
    long n = 7;
    assert_int_equal(query_long("limit=25&offset=50", "offset", 0, 100, &n), 1);
    assert_int_equal(n, 50);
    n = 7;
    assert_int_equal(query_long("limit=25", "offset", 0, 100, &n), 0);
    assert_int_equal(n, 7);
    const char *bad[] = {"offset=",
                         "offset",
                         "offset=-1",
                         "offset=101",
                         "offset=1x",
                         "offset=%201",
                         "offset=99999999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(query_long(bad[i], "offset", 0, 100, &n), -1);
        assert_int_equal(n, 7);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value),
        cmocka_unit_test(test_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
