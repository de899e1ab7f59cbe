/* Name and path rules, and walking that refuses symlinks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scv/stream_path.h"
#include "util/fs.h"

#define S(lit) lit, sizeof(lit) - 1

static void test_names(void **state)
{
    (void)state;
    assert_true(stream_path_name_ok(S("system.xml.gz.b64")));
    assert_true(stream_path_name_ok(S("a..b")));
    assert_true(stream_path_name_ok(S("0b7c-uuid:scv1")));
    assert_false(stream_path_name_ok(S("")));
    assert_false(stream_path_name_ok(S(".")));
    assert_false(stream_path_name_ok(S("..")));
    assert_false(stream_path_name_ok(S(".hidden")));
    assert_false(stream_path_name_ok(S("a/b")));
    assert_false(stream_path_name_ok(S("a\0b")));
    /* control characters (header injection) and bytes that are not UTF-8 */
    assert_false(stream_path_name_ok(S("evil\r\nX-Injected: yes")));
    assert_false(stream_path_name_ok(S("tab\there")));
    assert_false(stream_path_name_ok(S("del\x7f")));
    assert_false(stream_path_name_ok(S("c1\xc2\x85")));
    assert_false(stream_path_name_ok(S("bad\xffname")));
    assert_false(stream_path_name_ok(S("cut\xc3")));
    assert_false(stream_path_name_ok(S("overlong\xc0\xaf")));
    assert_true(stream_path_name_ok(S("donn\xc3\xa9"
                                      "es.txt")));
    assert_true(stream_path_name_ok(S("space and \xe2\x82\xac")));
    assert_false(stream_path_name_ok(NULL, 3));
    char longname[257];
    memset(longname, 'x', sizeof longname);
    assert_true(stream_path_name_ok(longname, 255));
    assert_false(stream_path_name_ok(longname, 256));
}

static void test_paths(void **state)
{
    (void)state;
    assert_true(stream_path_ok(S("files/system.xml.gz.b64")));
    assert_true(stream_path_ok(S("38/checkpoint_files/state.xml.gz.b64")));
    assert_true(stream_path_ok(S("a")));
    assert_false(stream_path_ok(S("")));
    assert_false(stream_path_ok(S("/etc/passwd")));
    assert_false(stream_path_ok(S("files/../x")));
    assert_false(stream_path_ok(S("../x")));
    assert_false(stream_path_ok(S("files/..")));
    assert_false(stream_path_ok(S("files//a")));
    assert_false(stream_path_ok(S("files/")));
    assert_false(stream_path_ok(S("./files/a")));
    assert_false(stream_path_ok(S("files/a\0/../../x")));
    assert_false(stream_path_ok(S("files/evil\r\nX: y")));
    assert_false(stream_path_ok(S("files/bad\xffname")));
}

static void test_escape(void **state)
{
    (void)state;
    char out[64];
    stream_path_escape("bad\xffname", out, sizeof out);
    assert_string_equal(out, "bad\\xFFname");
    stream_path_escape("evil\r\nX", out, sizeof out);
    assert_string_equal(out, "evil\\x0D\\x0AX");
    stream_path_escape("donn\xc3\xa9"
                       "es",
                       out, sizeof out);
    assert_string_equal(out, "donn\xc3\xa9"
                             "es");
    stream_path_escape("\xff\xff\xff", out, 9); /* cut short, whole escapes only */
    assert_string_equal(out, "\\xFF\\xFF");
}

/* Plain text is cut only when it does not fit (found by
 * fuzz/fuzz_stream_path.c: room for an escape was kept even for plain
 * characters, so "op" came out as "o" in 5 bytes). */
static void test_escape_keeps_what_fits(void **state)
{
    (void)state;
    char out[STREAM_PATH_NAME_MAX + 1], name[STREAM_PATH_NAME_MAX + 1];
    stream_path_escape("op", out, 5);
    assert_string_equal(out, "op");
    stream_path_escape("abcd", out, 5);
    assert_string_equal(out, "abcd");
    stream_path_escape("abcde", out, 5);
    assert_string_equal(out, "abcd");
    memset(name, 'n', STREAM_PATH_NAME_MAX);
    name[STREAM_PATH_NAME_MAX] = '\0';
    stream_path_escape(name, out, sizeof out);
    assert_string_equal(out, name);
}

static void test_walk_refuses_symlinks(void **state)
{
    (void)state;
    char root[] = "/tmp/st_path_XXXXXX";
    char p[512];
    assert_non_null(mkdtemp(root));
    snprintf(p, sizeof p, "%s/in/sub", root);
    assert_int_equal(fs_mkdir_p(p, 0755), 0);
    snprintf(p, sizeof p, "%s/in/sub/f", root);
    assert_int_equal(fs_write_file(p, "hello", 5, 0), 0);
    snprintf(p, sizeof p, "%s/outside", root);
    assert_int_equal(fs_write_file(p, "secret", 6, 0), 0);
    snprintf(p, sizeof p, "%s/in/link", root);
    assert_int_equal(symlink("..", p), 0);
    snprintf(p, sizeof p, "%s/in/sub/flink", root);
    assert_int_equal(symlink("../../outside", p), 0);
    snprintf(p, sizeof p, "%s/in", root);
    int rootfd = open(p, O_RDONLY | O_DIRECTORY);
    assert_true(rootfd >= 0);

    int fd = -1;
    off_t size = 0;
    assert_int_equal(stream_path_open_file(rootfd, S("sub/f"), &fd, &size), 0);
    assert_int_equal(size, 5);
    close(fd);
    assert_int_equal(stream_path_open_file(rootfd, S("link/outside"), &fd, &size), -1);
    assert_true(errno == ELOOP || errno == ENOTDIR);
    assert_int_equal(stream_path_open_file(rootfd, S("sub/flink"), &fd, &size), -1);
    assert_int_equal(errno, ELOOP);
    assert_int_equal(stream_path_open_file(rootfd, S("sub"), &fd, &size), -1);
    assert_int_equal(errno, EISDIR);
    assert_int_equal(stream_path_open_file(rootfd, S("sub/missing"), &fd, &size), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(stream_path_open_file(rootfd, S("../outside"), &fd, &size), -1);
    assert_int_equal(errno, EINVAL);

    char last[STREAM_PATH_NAME_MAX + 1];
    int created = 0;
    int dir = stream_path_open_parent(rootfd, S("new/deeper/file"), 1, last, &created);
    assert_true(dir >= 0);
    assert_string_equal(last, "file");
    assert_int_equal(created, 2);
    close(dir);
    assert_int_equal(stream_path_open_parent(rootfd, S("nope/file"), 0, last, &created), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(stream_path_open_parent(rootfd, S("link/x/file"), 1, last, &created), -1);
    snprintf(p, sizeof p, "%s/x", root);
    assert_false(fs_exists(p)); /* nothing made through the symlink */

    close(rootfd);
    fs_rm_rf(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_escape_keeps_what_fits),
        cmocka_unit_test(test_walk_refuses_symlinks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
