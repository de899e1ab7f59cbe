/* base64: RFC 4648 with padding out; in, whitespace ignored, padding
 * optional, a last group's unused low bits tolerated, anything else refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "util/base64.h"

static void expect_encode(const char *raw, const char *want)
{
    size_t n = 0;
    char *text = base64_encode(raw, strlen(raw), &n);
    assert_non_null(text);
    assert_string_equal(text, want);
    assert_int_equal(n, strlen(want));
    free(text);
}

static void expect_decode(const char *text, const char *want)
{
    size_t n = 99;
    unsigned char *raw = base64_decode(text, strlen(text), &n);
    assert_non_null(raw);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(raw, want, n);
    assert_int_equal(raw[n], '\0');
    free(raw);
}

static void expect_refused(const char *text)
{
    size_t n = 0;
    unsigned char *raw = base64_decode(text, strlen(text), &n);
    if (raw != NULL)
        fail_msg("'%s' was accepted", text);
}

static void test_encode_rfc4648_vectors(void **state)
{
    (void)state;
    expect_encode("", "");
    expect_encode("f", "Zg==");
    expect_encode("fo", "Zm8=");
    expect_encode("foo", "Zm9v");
    expect_encode("foob", "Zm9vYg==");
    expect_encode("fooba", "Zm9vYmE=");
    expect_encode("foobar", "Zm9vYmFy");
    expect_encode("\xff\xfe\xfd", "//79");
}

static void test_decode_rfc4648_vectors(void **state)
{
    (void)state;
    expect_decode("", "");
    expect_decode("Zg==", "f");
    expect_decode("Zm8=", "fo");
    expect_decode("Zm9vYmFy", "foobar");
    expect_decode("//79", "\xff\xfe\xfd");
}

static void test_decode_tolerates(void **state)
{
    (void)state;
    expect_decode("Zm9v\nYmFy\r\n", "foobar"); /* wrapped lines, as Python writes them */
    expect_decode(" Z m 9 v\t", "foo");
    expect_decode("Zm9vYg", "foob");      /* padding left out */
    expect_decode("Zm9vYmE", "fooba");    /* padding left out */
    expect_decode("Zm9vYg= =\n", "foob"); /* whitespace around the padding */
    expect_decode("Zh==", "f");           /* unused low bits set */
    expect_decode("Zm9=", "fo");          /* unused low bits set */
    expect_decode("Zm9vYh", "foob");      /* both */
}

static void test_decode_refuses(void **state)
{
    (void)state;
    expect_refused("Zm9v!");    /* outside the alphabet */
    expect_refused("Zm9v-_");   /* the URL-safe alphabet */
    expect_refused("Z");        /* a lone character cannot make a byte */
    expect_refused("Zm9vY");    /* nor can a lone last character */
    expect_refused("Zg=");      /* too little padding */
    expect_refused("Zg===");    /* too much */
    expect_refused("Zm8==");    /* too much */
    expect_refused("Zm9v=");    /* padding after a whole group */
    expect_refused("Zg==Zg=="); /* data after padding */
    expect_refused("=");
    size_t n = 0;
    assert_null(base64_decode("Zm9v\0Zm9v", 9, &n)); /* a NUL is not whitespace */
    assert_null(base64_decode("Zm9v\0", 5, &n));
}

static void test_round_trip_every_length(void **state)
{
    (void)state;
    unsigned char data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof data; len++) {
        size_t text_len = 0, back_len = 0;
        char *text = base64_encode(data, len, &text_len);
        assert_non_null(text);
        assert_int_equal(text_len, (len + 2) / 3 * 4);
        unsigned char *back = base64_decode(text, text_len, &back_len);
        assert_non_null(back);
        assert_int_equal(back_len, len);
        assert_memory_equal(back, data, len);
        free(back);
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_rfc4648_vectors),  cmocka_unit_test(test_decode_rfc4648_vectors),
        cmocka_unit_test(test_decode_tolerates),        cmocka_unit_test(test_decode_refuses),
        cmocka_unit_test(test_round_trip_every_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
