/* The CLI's credentials file: location, mode, atomic rewrite, env override. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "client/credentials.h"
#include "util/fs.h"

static char root[256];

static int setup(void **state)
{
    (void)state;
    strcpy(root, "/tmp/st_cred_XXXXXX");
    if (!mkdtemp(root))
        return -1;
    unsetenv("SIEGETANK_CC");
    unsetenv("SIEGETANK_TOKEN");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unsetenv("SIEGETANK_CC");
    unsetenv("SIEGETANK_TOKEN");
    return fs_rm_rf(root);
}

static void test_default_path(void **state)
{
    (void)state;
    char path[512], msg[256];
    setenv("XDG_CONFIG_HOME", "/x/cfg", 1);
    assert_int_equal(credentials_default_path(path, sizeof path, msg, sizeof msg), 0);
    assert_string_equal(path, "/x/cfg/siegetank/credentials");
    /* A relative XDG_CONFIG_HOME is invalid per the spec: fall back to HOME. */
    setenv("XDG_CONFIG_HOME", "relative", 1);
    setenv("HOME", "/home/u", 1);
    assert_int_equal(credentials_default_path(path, sizeof path, msg, sizeof msg), 0);
    assert_string_equal(path, "/home/u/.config/siegetank/credentials");
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("HOME");
    assert_int_equal(credentials_default_path(path, sizeof path, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "HOME"));
}

static void test_save_load_mode(void **state)
{
    (void)state;
    char path[512], msg[256];
    struct stat st;
    struct credentials in = {0}, out;
    snprintf(path, sizeof path, "%s/cfg/siegetank/credentials", root);
    strcpy(in.cc, "https://cc.example.org:8980");
    strcpy(in.token, "tok-123");
    mode_t old = umask(0);
    int rc = credentials_save(path, &in, msg, sizeof msg);
    umask(old);
    assert_int_equal(rc, 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/cfg/siegetank", root);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(credentials_load(path, &out, msg, sizeof msg), 0);
    assert_string_equal(out.cc, in.cc);
    assert_string_equal(out.token, in.token);

    /* Rewriting replaces the content, tightens a loose folder, leaves no temp. */
    assert_int_equal(chmod(dir, 0755), 0);
    strcpy(in.token, "tok-456");
    assert_int_equal(credentials_save(path, &in, msg, sizeof msg), 0);
    assert_int_equal(credentials_load(path, &out, msg, sizeof msg), 0);
    assert_string_equal(out.token, "tok-456");
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_false(fs_exists(tmp));
}

static void test_load_bad(void **state)
{
    (void)state;
    char path[512], msg[256];
    struct credentials out;
    snprintf(path, sizeof path, "%s/missing", root);
    assert_int_equal(credentials_load(path, &out, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "cannot read"));

    snprintf(path, sizeof path, "%s/corrupt", root);
    const char *cases[] = {"not json", "[1]", "{\"cc\": 5}", "{\"token\": null}"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(fs_write_file(path, cases[i], strlen(cases[i]), 0), 0);
        assert_int_equal(credentials_load(path, &out, msg, sizeof msg), -1);
        assert_non_null(strstr(msg, "corrupt"));
        assert_int_equal(credentials_resolve(path, &out, msg, sizeof msg), -1);
    }
    char big[CREDENTIALS_FIELD_MAX + 40];
    int n = snprintf(big, sizeof big, "{\"cc\": \"");
    memset(big + n, 'a', CREDENTIALS_FIELD_MAX);
    strcpy(big + n + CREDENTIALS_FIELD_MAX, "\"}");
    assert_int_equal(fs_write_file(path, big, strlen(big), 0), 0);
    assert_int_equal(credentials_load(path, &out, msg, sizeof msg), -1);
}

static void test_resolve_env(void **state)
{
    (void)state;
    char path[512], msg[256];
    struct credentials in = {0}, out;
    snprintf(path, sizeof path, "%s/credentials", root);

    /* Nothing saved and no env: no CC known. */
    assert_int_equal(credentials_resolve(path, &out, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "siegetank login"));

    strcpy(in.cc, "file-cc:1");
    strcpy(in.token, "file-token");
    assert_int_equal(credentials_save(path, &in, msg, sizeof msg), 0);
    assert_int_equal(credentials_resolve(path, &out, msg, sizeof msg), 0);
    assert_string_equal(out.cc, "file-cc:1");
    assert_string_equal(out.token, "file-token");

    setenv("SIEGETANK_TOKEN", "env-token", 1);
    assert_int_equal(credentials_resolve(path, &out, msg, sizeof msg), 0);
    assert_string_equal(out.cc, "file-cc:1");
    assert_string_equal(out.token, "env-token");

    setenv("SIEGETANK_CC", "env-cc:2", 1);
    assert_int_equal(credentials_resolve(NULL, &out, msg, sizeof msg), 0);
    assert_string_equal(out.cc, "env-cc:2");
    assert_string_equal(out.token, "env-token");

    /* An empty variable does not override. */
    setenv("SIEGETANK_TOKEN", "", 1);
    assert_int_equal(credentials_resolve(path, &out, msg, sizeof msg), 0);
    assert_string_equal(out.token, "file-token");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_load_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_env, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
