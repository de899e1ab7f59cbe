/* utf8: well-formed UTF-8 only, and scrubbing makes any string valid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "util/utf8.h"

#define VALID(lit) utf8_valid(lit, sizeof(lit) - 1)

static void test_valid(void **state)
{
    (void)state;
    assert_true(VALID(""));
    assert_true(VALID("plain ascii"));
    assert_true(VALID("donn\xc3\xa9"
                      "es"));                    /* é */
    assert_true(VALID("\xe2\x82\xac"));          /* € */
    assert_true(VALID("\xf0\x9f\x98\x80"));      /* U+1F600 */
    assert_true(VALID("\xf4\x8f\xbf\xbf"));      /* U+10FFFF */
    assert_false(VALID("\xff"));                 /* never in UTF-8 */
    assert_false(VALID("bad\x80name"));          /* lone continuation byte */
    assert_false(VALID("\xc3"));                 /* truncated */
    assert_false(VALID("\xc0\xaf"));             /* overlong '/' */
    assert_false(VALID("\xe0\x80\xaf"));         /* overlong '/' */
    assert_false(VALID("\xed\xa0\x80"));         /* surrogate U+D800 */
    assert_false(VALID("\xf4\x90\x80\x80"));     /* U+110000 */
    assert_false(VALID("\xf8\x88\x80\x80\x80")); /* 5-byte form */
}

static void test_scrub(void **state)
{
    (void)state;
    char s[] = "a\xff"
               "b\xc3\xa9\xe2\x82"
               "c";
    assert_string_equal(utf8_scrub(s), "a?b\xc3\xa9??c");
    assert_true(utf8_valid(s, strlen(s)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_scrub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
