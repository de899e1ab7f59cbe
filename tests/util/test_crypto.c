/* crypto: hex digests and identifiers, and the constant-time comparison
 * that checks every secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "util/crypto.h"

static void test_equal(void **state)
{
    (void)state;
    assert_true(crypto_equal("", ""));
    assert_true(crypto_equal("secret", "secret"));
    assert_false(crypto_equal("secret", "secreT"));
    assert_false(crypto_equal("Secret", "secret"));
    assert_false(crypto_equal("secret", "secre")); /* a prefix */
    assert_false(crypto_equal("secre", "secret"));
    assert_false(crypto_equal("secret", ""));
    assert_false(crypto_equal(NULL, "secret"));
    assert_false(crypto_equal("secret", NULL));
    assert_false(crypto_equal(NULL, NULL));
}

static void test_digests(void **state)
{
    (void)state;
    char md5[CRYPTO_MD5_HEX_LEN + 1], sha[CRYPTO_SHA256_HEX_LEN + 1];
    crypto_md5_hex("abc", 3, md5);
    assert_string_equal(md5, "900150983cd24fb0d6963f7d28e17f72");
    crypto_sha256_hex("abc", 3, sha);
    assert_string_equal(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static int is_lower_hex(const char *s)
{
    return strspn(s, "0123456789abcdef") == strlen(s);
}

static void test_random_hex(void **state)
{
    (void)state;
    char a[65], b[65];
    assert_int_equal(crypto_random_hex(a, 32), 0);
    assert_int_equal(crypto_random_hex(b, 32), 0);
    assert_int_equal(strlen(a), 64);
    assert_true(is_lower_hex(a));
    assert_string_not_equal(a, b);
}

static void test_uuid4(void **state)
{
    (void)state;
    char u[CRYPTO_UUID_LEN + 1];
    assert_int_equal(crypto_uuid4(u), 0);
    assert_int_equal(strlen(u), CRYPTO_UUID_LEN);
    assert_int_equal(u[8], '-');
    assert_int_equal(u[14], '4');
    assert_non_null(strchr("89ab", u[19]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_digests),
        cmocka_unit_test(test_random_hex),
        cmocka_unit_test(test_uuid4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
