/* gz: a round trip, concatenated members, and the output limit that keeps
 * a small hostile body from inflating into gigabytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "util/gz.h"

#define BOMB_BYTES (4u << 20)

static unsigned char *zeros_gz(size_t n, size_t *gz_len)
{
    unsigned char *zeros = calloc(1, n);
    assert_non_null(zeros);
    unsigned char *gz = gz_compress(zeros, n, gz_len);
    assert_non_null(gz);
    free(zeros);
    return gz;
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *text = "hello, hello, hello";
    size_t gz_len = 0, len = 0;
    unsigned char *gz = gz_compress(text, strlen(text), &gz_len);
    assert_non_null(gz);
    unsigned char *back = gz_decompress(gz, gz_len, 100, &len);
    assert_non_null(back);
    assert_int_equal(len, strlen(text));
    assert_string_equal((char *)back, text); /* NUL-terminated */
    free(back);
    free(gz);
}

static void test_concatenated_members(void **state)
{
    (void)state;
    size_t a_len, b_len, len;
    unsigned char *a = gz_compress("ab", 2, &a_len), *b = gz_compress("cd", 2, &b_len);
    unsigned char *both = malloc(a_len + b_len);
    assert_non_null(both);
    memcpy(both, a, a_len);
    memcpy(both + a_len, b, b_len);
    unsigned char *back = gz_decompress(both, a_len + b_len, 100, &len);
    assert_non_null(back);
    assert_string_equal((char *)back, "abcd");
    free(back);
    free(both);
    free(a);
    free(b);
}

static int count_sink(void *ctx, const void *chunk, size_t len)
{
    (void)chunk;
    *(size_t *)ctx += len;
    return 0;
}

/* 4 MiB of zeros gzip to a few KB; the limit stops them all the same, and
 * the sink never receives more than the limit. */
static void test_output_limit(void **state)
{
    (void)state;
    size_t gz_len, len = 0, sunk = 0, counted = 0;
    unsigned char *gz = zeros_gz(BOMB_BYTES, &gz_len);
    assert_true(gz_len < BOMB_BYTES / 100);
    assert_null(gz_decompress(gz, gz_len, BOMB_BYTES - 1, &len));
    assert_int_equal(gz_inflate(gz, gz_len, 1000, count_sink, &sunk, &counted), GZ_TOO_BIG);
    assert_true(sunk <= 1000);
    assert_int_equal(counted, sunk);
    unsigned char *back = gz_decompress(gz, gz_len, BOMB_BYTES, &len); /* exactly at the limit */
    assert_non_null(back);
    assert_int_equal(len, BOMB_BYTES);
    free(back);
    free(gz);
}

static void test_refuses_bad_input(void **state)
{
    (void)state;
    size_t gz_len, len;
    unsigned char *gz = gz_compress("some text", 9, &gz_len);
    assert_null(gz_decompress("not gzip", 8, 100, &len));
    assert_null(gz_decompress(gz, 0, 100, &len));
    assert_null(gz_decompress(gz, gz_len - 1, 100, &len)); /* truncated */
    gz[gz_len / 2] ^= 0xff;
    assert_null(gz_decompress(gz, gz_len, 100, &len)); /* corrupt */
    free(gz);
}

static int refusing_sink(void *ctx, const void *chunk, size_t len)
{
    (void)ctx, (void)chunk, (void)len;
    return 1;
}

static void test_sink_stops(void **state)
{
    (void)state;
    size_t gz_len;
    unsigned char *gz = gz_compress("abc", 3, &gz_len);
    assert_int_equal(gz_inflate(gz, gz_len, 100, refusing_sink, NULL, NULL), GZ_SINK);
    free(gz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_concatenated_members),
        cmocka_unit_test(test_output_limit), cmocka_unit_test(test_refuses_bad_input),
        cmocka_unit_test(test_sink_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
