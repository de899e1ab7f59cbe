#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

static void test_box_round_trip(void **state)
{
    char err[256], path[512];
    struct stat st;
    auth_box *box = auth_box_open(*state, err, sizeof err);
    assert_non_null(box);
    snprintf(path, sizeof path, "%s/secret.key", (char *)*state);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    char *s1 = auth_box_seal(box, "engine-key-123");
    char *s2 = auth_box_seal(box, "engine-key-123");
    assert_non_null(s1);
    assert_non_null(s2);
    assert_string_not_equal(s1, s2); /* fresh nonce each time */
    assert_null(strstr(s1, "engine-key-123"));
    char *p = auth_box_unseal(box, s1);
    assert_string_equal(p, "engine-key-123");
    free(p);
    char *e = auth_box_seal(box, "");
    p = auth_box_unseal(box, e);
    assert_string_equal(p, "");
    free(p);
    free(e);

    /* A second open reads the same key. */
    auth_box *again = auth_box_open(*state, err, sizeof err);
    assert_non_null(again);
    p = auth_box_unseal(again, s2);
    assert_string_equal(p, "engine-key-123");
    free(p);
    auth_box_close(again);

    /* Tampering, truncation and garbage are refused. */
    s1[strlen(s1) - 1] = s1[strlen(s1) - 1] == '0' ? '1' : '0';
    assert_null(auth_box_unseal(box, s1));
    s2[20] = '\0';
    assert_null(auth_box_unseal(box, s2));
    assert_null(auth_box_unseal(box, ""));
    assert_null(auth_box_unseal(box, "zz not hex"));
    free(s1);
    free(s2);
    auth_box_close(box);
}

static void test_box_limits_and_other_key(void **state)
{
    char err[256], other[512];
    auth_box *box = auth_box_open(*state, err, sizeof err);
    char *big = malloc(AUTH_SECRET_MAX + 2);
    memset(big, 'x', AUTH_SECRET_MAX + 1);
    big[AUTH_SECRET_MAX + 1] = '\0';
    assert_null(auth_box_seal(box, big));
    big[AUTH_SECRET_MAX] = '\0';
    char *sealed = auth_box_seal(box, big);
    assert_non_null(sealed);
    char *p = auth_box_unseal(box, sealed);
    assert_string_equal(p, big);
    free(p);

    snprintf(other, sizeof other, "%s/other/nested", (char *)*state);
    auth_box *box2 = auth_box_open(other, err, sizeof err);
    assert_non_null(box2);
    assert_null(auth_box_unseal(box2, sealed));
    auth_box_close(box2);
    auth_box_close(NULL);
    free(sealed);
    free(big);
    auth_box_close(box);
}

static void test_box_bad_key_files(void **state)
{
    char err[256] = "", dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/bad", (char *)*state);
    snprintf(path, sizeof path, "%s/secret.key", dir);
    assert_int_equal(fs_mkdir_p(dir, 0700), 0);

    assert_int_equal(fs_write_file(path, "abcd\n", 5, 0), 0);
    chmod(path, 0600);
    assert_null(auth_box_open(dir, err, sizeof err));
    assert_non_null(strstr(err, "corrupt"));

    char hex[65];
    memset(hex, 'a', 64);
    hex[64] = '\0';
    assert_int_equal(fs_write_file(path, hex, 64, 0), 0);
    chmod(path, 0644);
    assert_null(auth_box_open(dir, err, sizeof err));
    assert_non_null(strstr(err, "chmod 600"));
    chmod(path, 0600);
    auth_box *box = auth_box_open(dir, err, sizeof err);
    assert_non_null(box);
    auth_box_close(box);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_hash_verify),
        cmocka_unit_test(test_password_limits),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test_setup_teardown(test_box_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_box_limits_and_other_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_box_bad_key_files, setup, teardown),
    };
    if (auth_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
