/* fs: atomic and secret writes, bounded reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"

struct dir {
    char path[64];
};

static int setup(void **state)
{
    struct dir *d = malloc(sizeof *d);
    assert_non_null(d);
    snprintf(d->path, sizeof d->path, "/tmp/st_test_fs.XXXXXX");
    assert_non_null(mkdtemp(d->path));
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    struct dir *d = *state;
    fs_rm_rf(d->path);
    free(d);
    return 0;
}

static void in_dir(void **state, const char *name, char *out)
{
    snprintf(out, PATH_MAX, "%s/%s", ((struct dir *)*state)->path, name);
}

static void expect_content(const char *path, const char *want)
{
    size_t len = 0;
    char *got = fs_read_file(path, 1024, &len);
    assert_non_null(got);
    assert_int_equal(len, strlen(want));
    assert_string_equal(got, want);
    free(got);
}

static void test_atomic_replaces(void **state)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    in_dir(state, "f", path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(fs_write_atomic(path, "one", 3), 0);
    expect_content(path, "one");
    assert_int_equal(fs_write_atomic(path, "two!", 4), 0);
    expect_content(path, "two!");
    assert_false(fs_exists(tmp)); /* renamed away */
}

/* A write that cannot finish leaves the old content whole. */
static void test_atomic_failure_keeps_old(void **state)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    in_dir(state, "g", path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(fs_write_atomic(path, "old", 3), 0);
    assert_int_equal(mkdir(tmp, 0700), 0); /* the temporary cannot be opened */
    assert_int_equal(fs_write_atomic(path, "new", 3), -1);
    expect_content(path, "old");
    assert_int_equal(rmdir(tmp), 0);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 0777;
}

/* 0600 whatever the umask, even over a leftover world-readable temporary
 * and an existing world-readable file. */
static void test_secret_mode(void **state)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    in_dir(state, "secret", path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    mode_t old = umask(0);
    assert_int_equal(fs_write_atomic(path, "public", 6), 0);
    assert_int_equal(mode_of(path), 0644);
    assert_int_equal(fs_write_file(tmp, "stale", 5, 0), 0);
    assert_int_equal(chmod(tmp, 0666), 0);
    assert_int_equal(fs_write_secret(path, "s3cret", 6), 0);
    umask(old);
    assert_int_equal(mode_of(path), 0600);
    expect_content(path, "s3cret");
    assert_false(fs_exists(tmp));
}

static void test_read_limit(void **state)
{
    char path[PATH_MAX];
    size_t len = 0;
    in_dir(state, "r", path);
    assert_int_equal(fs_write_file(path, "12345", 5, 0), 0);
    char *text = fs_read_file(path, 5, &len);
    assert_non_null(text);
    assert_int_equal(len, 5);
    free(text);
    assert_null(fs_read_file(path, 4, &len));                            /* over the limit */
    assert_null(fs_read_file(((struct dir *)*state)->path, 1024, &len)); /* a folder */
    in_dir(state, "missing", path);
    assert_null(fs_read_file(path, 1024, &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_atomic_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_failure_keeps_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
