/* "key=value" parsing for --option. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "client/option.h"

static void expect_bad(const char *arg, const char *fragment)
{
    char msg[256] = "";
    char *key = (char *)1;
    json_t *value = (json_t *)1;
    assert_int_equal(option_parse(arg, &key, &value, msg, sizeof msg), -1);
    assert_null(key);
    assert_null(value);
    if (!strstr(msg, fragment))
        fail_msg("'%s' gave '%s', expected '%s'", arg ? arg : "(null)", msg, fragment);
}

static void test_values(void **state)
{
    (void)state;
    char msg[256];
    json_t *o = json_object();
    assert_int_equal(option_add(o, "steps_per_frame=50000", msg, sizeof msg), 0);
    assert_int_equal(option_add(o, "ratio=0.5", msg, sizeof msg), 0);
    assert_int_equal(option_add(o, "flag=true", msg, sizeof msg), 0);
    assert_int_equal(option_add(o, "title=villin headpiece", msg, sizeof msg), 0);
    assert_int_equal(option_add(o, "quoted=\"42\"", msg, sizeof msg), 0);
    assert_int_equal(option_add(o, "eq=a=b", msg, sizeof msg), 0);
    assert_int_equal(option_add(o, "list=[1,2]", msg, sizeof msg), 0);
    assert_int_equal(option_add(o, "empty=\"\"", msg, sizeof msg), 0);
    assert_int_equal(option_add(o, "zeros=007", msg, sizeof msg), 0);
    assert_int_equal(json_integer_value(json_object_get(o, "steps_per_frame")), 50000);
    assert_true(json_real_value(json_object_get(o, "ratio")) == 0.5);
    assert_true(json_is_true(json_object_get(o, "flag")));
    assert_string_equal(json_string_value(json_object_get(o, "title")), "villin headpiece");
    assert_string_equal(json_string_value(json_object_get(o, "quoted")), "42");
    assert_string_equal(json_string_value(json_object_get(o, "eq")), "a=b");
    assert_int_equal(json_array_size(json_object_get(o, "list")), 2);
    assert_string_equal(json_string_value(json_object_get(o, "empty")), "");
    assert_string_equal(json_string_value(json_object_get(o, "zeros")), "007");
    /* A later value for the same key wins. */
    assert_int_equal(option_add(o, "flag=false", msg, sizeof msg), 0);
    assert_true(json_is_false(json_object_get(o, "flag")));
    json_decref(o);
}

static void test_bad(void **state)
{
    (void)state;
    expect_bad("novalue", "not key=value");
    expect_bad("", "not key=value");
    expect_bad(NULL, "not key=value");
    expect_bad("=5", "key must have");
    expect_bad("key=", "empty");
    expect_bad("bad key=1", "spaces");
    expect_bad("tab\tkey=1", "spaces");
    expect_bad("k=\xff\xfe", "UTF-8");
    char longkey[OPTION_KEY_MAX + 10];
    memset(longkey, 'k', OPTION_KEY_MAX + 1);
    strcpy(longkey + OPTION_KEY_MAX + 1, "=1");
    expect_bad(longkey, "key must have");
    char *longval = malloc(OPTION_VALUE_MAX + 10);
    strcpy(longval, "k=");
    memset(longval + 2, 'v', OPTION_VALUE_MAX + 1);
    longval[OPTION_VALUE_MAX + 3] = '\0';
    expect_bad(longval, "too long");
    free(longval);

    char msg[256];
    json_t *o = json_object();
    assert_int_equal(option_add(o, "oops", msg, sizeof msg), -1);
    assert_int_equal(json_object_size(o), 0);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_values), cmocka_unit_test(test_bad)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
