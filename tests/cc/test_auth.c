#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cc/auth.h"
#include "util/fs.h"

static int setup(void **state)
{
    char *dir = strdup("/tmp/test_cc_auth.XXXXXX");
    if (!dir || !mkdtemp(dir) || auth_init() != 0)
        return -1;
    *state = dir;
    return 0;
}

static int teardown(void **state)
{
    fs_rm_rf(*state);
    free(*state);
    return 0;
}

static void test_password_hash_verify(void **state)
{
    (void)state;
    char h1[AUTH_PWHASH_LEN], h2[AUTH_PWHASH_LEN];
    assert_int_equal(auth_password_hash("correct horse", h1), 0);
    assert_int_equal(auth_password_hash("correct horse", h2), 0);
    assert_string_not_equal(h1, h2); /* salted */
    assert_non_null(strstr(h1, "argon2id"));
    assert_null(strstr(h1, "correct horse"));
    assert_true(auth_password_verify(h1, "correct horse"));
    assert_true(auth_password_verify(h2, "correct horse"));
    assert_false(auth_password_verify(h1, "correct horsf"));
    assert_false(auth_password_verify(h1, ""));
    assert_false(auth_password_verify(h1, NULL));
    assert_false(auth_password_verify("not a hash", "correct horse"));
    assert_false(auth_password_verify(NULL, "x"));
}

static void test_password_limits(void **state)
{
    (void)state;
    char h[AUTH_PWHASH_LEN];
    char *big = malloc(AUTH_PASSWORD_MAX + 2);
    memset(big, 'p', AUTH_PASSWORD_MAX + 1);
    big[AUTH_PASSWORD_MAX + 1] = '\0';
    assert_int_equal(auth_password_hash("", h), -1);
    assert_int_equal(auth_password_hash(NULL, h), -1);
    assert_int_equal(auth_password_hash(big, h), -1);
    big[AUTH_PASSWORD_MAX] = '\0';
    assert_int_equal(auth_password_hash(big, h), 0);
    assert_true(auth_password_verify(h, big));
    free(big);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_tokens(void **state)
{
    (void)state;
    enum { N = 2000 };
    char(*t)[AUTH_TOKEN_HEX_LEN + 1] = malloc(N * sizeof *t);
    char h1[AUTH_TOKEN_HASH_LEN + 1], h2[AUTH_TOKEN_HASH_LEN + 1];
    for (int i = 0; i < N; i++) {
        assert_int_equal(auth_token_new(t[i]), 0);
        assert_int_equal(strlen(t[i]), AUTH_TOKEN_HEX_LEN);
        assert_int_equal(strspn(t[i], "0123456789abcdef"), AUTH_TOKEN_HEX_LEN);
    }
    qsort(t, N, sizeof *t, cmp_str);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(t[i - 1], t[i]);
    auth_token_hash(t[0], h1);
    auth_token_hash(t[0], h2);
    assert_string_equal(h1, h2);
    assert_int_equal(strlen(h1), AUTH_TOKEN_HASH_LEN);
    assert_string_not_equal(h1, t[0]);
    auth_token_hash(t[1], h2);
    assert_string_not_equal(h1, h2);
    /* SHA-256("abc"), a known vector. */
    auth_token_hash("abc", h1);
    assert_string_equal(h1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    free(t);
}

#define SALT "00112233445566778899aabbccddeeff"
#define OTHER_SALT "ffeeddccbbaa99887766554433221100"

static auth_box *box_of(const char *const *passes, size_t n, const char *salt, const char *legacy)
{
    char err[256] = "";
    auth_box *box = auth_box_open(passes, n, salt, legacy, err, sizeof err);
    if (!box)
        fail_msg("auth_box_open: %s", err);
    return box;
}

/* Two boxes made alike (two CCs with the same cc_pass and database) open
 * each other's sealed values; tampering, truncation and garbage are
 * refused. */
static void test_box_round_trip(void **state)
{
    (void)state;
    const char *pass[] = {"pass-a"};
    auth_box *box = box_of(pass, 1, SALT, NULL);
    int current = 0;

    char *s1 = auth_box_seal(box, "engine-key-123");
    char *s2 = auth_box_seal(box, "engine-key-123");
    assert_non_null(s1);
    assert_non_null(s2);
    assert_string_not_equal(s1, s2); /* fresh nonce each time */
    assert_null(strstr(s1, "engine-key-123"));
    assert_int_equal(strchr(s1, ':') - s1, 16); /* the key id */
    assert_int_equal(strncmp(s1, s2, 17), 0);
    char *p = auth_box_unseal(box, s1, &current);
    assert_string_equal(p, "engine-key-123");
    assert_int_equal(current, 1);
    free(p);
    char *e = auth_box_seal(box, "");
    p = auth_box_unseal(box, e, NULL);
    assert_string_equal(p, "");
    free(p);
    free(e);

    auth_box *twin = box_of(pass, 1, SALT, NULL);
    p = auth_box_unseal(twin, s2, NULL);
    assert_string_equal(p, "engine-key-123");
    free(p);
    auth_box_close(twin);

    s1[strlen(s1) - 1] = s1[strlen(s1) - 1] == '0' ? '1' : '0';
    assert_null(auth_box_unseal(box, s1, NULL));
    s1[3] = s1[3] == '0' ? '1' : '0'; /* another key id */
    assert_null(auth_box_unseal(box, s1, NULL));
    s2[30] = '\0';
    assert_null(auth_box_unseal(box, s2, NULL));
    assert_null(auth_box_unseal(box, "", NULL));
    assert_null(auth_box_unseal(box, "zz not hex", NULL));
    assert_null(auth_box_unseal(box, ":", NULL));
    free(s1);
    free(s2);
    auth_box_close(box);
}

/* Another cc_pass or salt opens nothing; a previous cc_pass opens what it
 * sealed (not current), and only the first pass seals. */
static void test_box_rotation_and_limits(void **state)
{
    (void)state;
    char err[256];
    const char *old[] = {"pass-old"}, *other[] = {"pass-other"}, *rotated[] = {"pass-new", "x", "pass-old"};
    auth_box *box = box_of(old, 1, SALT, NULL);
    char *big = malloc(AUTH_SECRET_MAX + 2);
    memset(big, 'x', AUTH_SECRET_MAX + 1);
    big[AUTH_SECRET_MAX + 1] = '\0';
    assert_null(auth_box_seal(box, big));
    big[AUTH_SECRET_MAX] = '\0';
    char *sealed = auth_box_seal(box, big);
    assert_non_null(sealed);

    auth_box *wrong = box_of(other, 1, SALT, NULL), *salted = box_of(old, 1, OTHER_SALT, NULL);
    assert_null(auth_box_unseal(wrong, sealed, NULL));
    assert_null(auth_box_unseal(salted, sealed, NULL));
    auth_box *now = box_of(rotated, 3, SALT, NULL);
    int current = 1;
    char *p = auth_box_unseal(now, sealed, &current);
    assert_string_equal(p, big);
    assert_int_equal(current, 0);
    char *again = auth_box_seal(now, p);
    free(p);
    p = auth_box_unseal(now, again, &current);
    assert_int_equal(current, 1);
    assert_null(auth_box_unseal(box, again, NULL));
    free(p);
    free(again);

    const char *empty[] = {""}, *many[AUTH_PASSES_MAX + 1];
    for (int i = 0; i <= AUTH_PASSES_MAX; i++)
        many[i] = "p";
    assert_null(auth_box_open(empty, 1, SALT, NULL, err, sizeof err));
    assert_null(auth_box_open(many, AUTH_PASSES_MAX + 1, SALT, NULL, err, sizeof err));
    assert_null(auth_box_open(old, 1, "abcd", NULL, err, sizeof err));
    assert_non_null(strstr(err, "salt"));
    char salt[AUTH_SALT_HEX_LEN + 1], salt2[AUTH_SALT_HEX_LEN + 1];
    assert_int_equal(auth_salt_new(salt), 0);
    assert_int_equal(auth_salt_new(salt2), 0);
    assert_int_equal(strlen(salt), AUTH_SALT_HEX_LEN);
    assert_string_not_equal(salt, salt2);

    auth_box_close(NULL);
    auth_box_close(now);
    auth_box_close(wrong);
    auth_box_close(salted);
    free(sealed);
    free(big);
    auth_box_close(box);
}

/* What older versions sealed with <data>/secret.key (plain hex, no key id)
 * opens with that file given, and not without it. */
static void test_box_legacy_key_file(void **state)
{
    char err[256] = "", path[600], hex[2 * crypto_secretbox_KEYBYTES + 2];
    unsigned char key[crypto_secretbox_KEYBYTES],
        bin[crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 5];
    char sealed[2 * sizeof bin + 1];
    const char *pass[] = {"pass-a"};
    snprintf(path, sizeof path, "%s/secret.key", (char *)*state);
    crypto_secretbox_keygen(key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    strcat(hex, "\n");
    assert_int_equal(fs_write_file(path, hex, strlen(hex), 0), 0);
    chmod(path, 0600);
    randombytes_buf(bin, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(bin + crypto_secretbox_NONCEBYTES, (const unsigned char *)"hello", 5, bin, key);
    sodium_bin2hex(sealed, sizeof sealed, bin, sizeof bin);

    auth_box *box = box_of(pass, 1, SALT, path), *without = box_of(pass, 1, SALT, NULL);
    int current = 1;
    char *p = auth_box_unseal(box, sealed, &current);
    assert_string_equal(p, "hello");
    assert_int_equal(current, 0);
    free(p);
    assert_null(auth_box_unseal(without, sealed, NULL));
    auth_box_close(box);
    auth_box_close(without);

    assert_int_equal(fs_write_file(path, "abcd\n", 5, 0), 0);
    chmod(path, 0600);
    assert_null(auth_box_open(pass, 1, SALT, path, err, sizeof err));
    assert_non_null(strstr(err, "corrupt"));
    assert_int_equal(fs_write_file(path, hex, strlen(hex), 0), 0);
    chmod(path, 0644);
    assert_null(auth_box_open(pass, 1, SALT, path, err, sizeof err));
    assert_non_null(strstr(err, "chmod 600"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_hash_verify),
        cmocka_unit_test(test_password_limits),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test_setup_teardown(test_box_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_box_rotation_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_box_legacy_key_file, setup, teardown),
    };
    if (auth_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
