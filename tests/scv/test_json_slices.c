/* json_slices: long plain strings read in place, everything else exactly as
 * jansson would parse or refuse it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "scv/json_slices.h"

#define MIN 8

static const char *value_of(const json_slices *s, json_t *root, const char *key, size_t *len)
{
    return json_slices_string(s, json_object_get(root, key), len);
}

static void test_long_plain_value_is_a_slice(void **state)
{
    (void)state;
    const char *text = "{\"files\": {\"a.b64\": \"QUJDREVGR0hJSktM\"}, \"frames\": 3}";
    json_slices s;
    json_error_t err;
    json_t *root = json_slices_load(text, strlen(text), MIN, &s, &err);
    assert_non_null(root);
    size_t len;
    const char *v = value_of(&s, json_object_get(root, "files"), "a.b64", &len);
    assert_int_equal(len, 16);
    assert_memory_equal(v, "QUJDREVGR0hJSktM", 16);
    assert_true(v > text && v < text + strlen(text)); /* in place, not copied */
    assert_int_equal(json_integer_value(json_object_get(root, "frames")), 3);
    json_decref(root);
    json_slices_free(&s);
}

static void test_short_escaped_and_unicode_values_are_copied(void **state)
{
    (void)state;
    const char *text =
        "{\"short\": \"abc\", \"esc\": \"line\\none two three\", \"utf\": \"caf\xc3\xa9 au lait\"}";
    json_slices s;
    json_error_t err;
    json_t *root = json_slices_load(text, strlen(text), MIN, &s, &err);
    assert_non_null(root);
    assert_int_equal(s.n, 0);
    size_t len;
    assert_string_equal(value_of(&s, root, "short", &len), "abc");
    assert_string_equal(value_of(&s, root, "esc", &len), "line\none two three");
    assert_string_equal(value_of(&s, root, "utf", &len), "caf\xc3\xa9 au lait");
    json_decref(root);
    json_slices_free(&s);
}

static void test_long_keys_stay_keys(void **state)
{
    (void)state;
    const char *text = "{\"a-rather-long-key-name\" : \"and-a-long-value\"}";
    json_slices s;
    json_error_t err;
    json_t *root = json_slices_load(text, strlen(text), MIN, &s, &err);
    assert_non_null(root);
    size_t len;
    const char *v = value_of(&s, root, "a-rather-long-key-name", &len);
    assert_non_null(v);
    assert_int_equal(len, 16);
    assert_memory_equal(v, "and-a-long-value", len);
    json_decref(root);
    json_slices_free(&s);
}

/* Every text here must be accepted or refused exactly as json_loadb does. */
static void test_same_verdict_as_jansson(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{\"f\": \"AAAAAAAAAAAA\"}",
        "{\"f\": \"AAAAAAAAAAAA\"", /* unterminated object */
        "{\"f\": \"AAAAAAAAAAAA}",  /* unterminated string */
        "{\"f\": \"AAAA\x01"
        "AAAAAAA\"}", /* control character */
        "{\"f\": \"AAAAAAAA\xff\xfe"
        "AAAA\"}",                                        /* not UTF-8 */
        "{\"f\": \"AAAAAAAAAAAA\" \"g\"}",                /* missing colon */
        "{\"f\": \"\\u0000AAAAAAAAAAA\"}",                /* NUL: refused without JSON_ALLOW_NUL */
        "{\"f\": \"\\u00000\", \"g\": \"AAAAAAAAAAAA\"}", /* a would-be placeholder */
        "[\"AAAAAAAAAAAA\", \"AAAAAAAAAAAB\"]",
        "\"AAAAAAAAAAAA\"", /* not an object or array */
        "{\"f\": \"AAAAAAAAAAAA\\\"still inside\"}",
        "",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        json_slices s;
        json_error_t err;
        json_t *want = json_loadb(texts[i], strlen(texts[i]), 0, &err);
        json_t *got = json_slices_load(texts[i], strlen(texts[i]), MIN, &s, &err);
        if ((want == NULL) != (got == NULL))
            fail_msg("text %zu: jansson %s it, json_slices %s it", i, want ? "accepts" : "refuses",
                     got ? "accepts" : "refuses");
        json_decref(want);
        json_decref(got);
        json_slices_free(&s);
    }
}

static void test_would_be_placeholder_is_not_a_slice(void **state)
{
    (void)state;
    /* With JSON_ALLOW_NUL off, jansson refuses the text, so no client
     * string can ever be mistaken for slice 0. */
    const char *text = "{\"f\": \"\\u00000\", \"g\": \"AAAAAAAAAAAA\"}";
    json_slices s;
    json_error_t err;
    assert_null(json_slices_load(text, strlen(text), MIN, &s, &err));
    assert_int_equal(s.n, 0);
    json_slices_free(&s);
}

static void test_min_len_zero_never_slices(void **state)
{
    (void)state;
    const char *text = "{\"f\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}";
    json_slices s;
    json_error_t err;
    json_t *root = json_slices_load(text, strlen(text), 0, &s, &err);
    assert_non_null(root);
    assert_int_equal(s.n, 0);
    size_t len;
    const char *v = value_of(&s, root, "f", &len);
    assert_true(v < text || v >= text + strlen(text));
    assert_null(json_slices_string(&s, json_object_get(root, "missing"), &len));
    json_decref(root);
    json_slices_free(&s);
}

static void test_many_slices(void **state)
{
    (void)state;
    char text[8192];
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof text - n, "{");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s\"k%d\": \"value-number-%04d\"", i ? ", " : "", i,
                              i);
    snprintf(text + n, sizeof text - n, "}");
    json_slices s;
    json_error_t err;
    json_t *root = json_slices_load(text, strlen(text), MIN, &s, &err);
    assert_non_null(root);
    assert_int_equal(s.n, 100);
    for (int i = 0; i < 100; i++) {
        char key[16], want[32];
        snprintf(key, sizeof key, "k%d", i);
        snprintf(want, sizeof want, "value-number-%04d", i);
        size_t len;
        const char *v = value_of(&s, root, key, &len);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(v, want, len);
    }
    json_decref(root);
    json_slices_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_plain_value_is_a_slice),
        cmocka_unit_test(test_short_escaped_and_unicode_values_are_copied),
        cmocka_unit_test(test_long_keys_stay_keys),
        cmocka_unit_test(test_same_verdict_as_jansson),
        cmocka_unit_test(test_would_be_placeholder_is_not_a_slice),
        cmocka_unit_test(test_min_len_zero_never_slices),
        cmocka_unit_test(test_many_slices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
