/* status: one code per failure kind, one message, one HTTP mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "util/status.h"

static void test_fail_records_code_and_message(void **state)
{
    (void)state;
    struct status st;
    status_clear(&st);
    assert_int_equal(st.code, STATUS_OK);
    assert_string_equal(st.msg, "");
    assert_int_equal(status_fail(&st, STATUS_NOT_FOUND, "no stream %s", "abc"), STATUS_NOT_FOUND);
    assert_int_equal(st.code, STATUS_NOT_FOUND);
    assert_string_equal(st.msg, "no stream abc");
}

static void test_fail_without_status(void **state)
{
    (void)state;
    assert_int_equal(status_fail(NULL, STATUS_IO, "disk %d", 1), STATUS_IO);
}

static void test_long_message_truncated(void **state)
{
    (void)state;
    struct status st;
    char big[STATUS_MSG_LEN * 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    status_fail(&st, STATUS_INVALID, "%s", big);
    assert_int_equal(strlen(st.msg), STATUS_MSG_LEN - 1);
}

static void test_http_mapping(void **state)
{
    (void)state;
    assert_int_equal(status_http(STATUS_OK), 200);
    assert_int_equal(status_http(STATUS_INVALID), 400);
    assert_int_equal(status_http(STATUS_NOT_FOUND), 400);
    assert_int_equal(status_http(STATUS_EXISTS), 400);
    assert_int_equal(status_http(STATUS_CONFLICT), 400);
    assert_int_equal(status_http(STATUS_DENIED), 401);
    assert_int_equal(status_http(STATUS_TOO_LARGE), 413);
    assert_int_equal(status_http(STATUS_UNAVAILABLE), 503);
    assert_int_equal(status_http(STATUS_IO), 500);
    assert_string_equal(status_name(STATUS_DENIED), "missing or wrong credentials");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_records_code_and_message),
        cmocka_unit_test(test_fail_without_status),
        cmocka_unit_test(test_long_message_truncated),
        cmocka_unit_test(test_http_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
