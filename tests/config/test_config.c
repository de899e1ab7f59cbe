#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>
#include <stdlib.h>

#include "config/config.h"

static status_code parse(struct config *c, enum config_kind kind, const char *text, struct status *st)
{
    config_defaults(c, kind);
    return config_parse(c, text, "/etc/siegetank/test.conf", st);
}

static void test_seed_format(void **state)
{
    (void)state;
    struct config c;
    struct status st;
    const char *text = "# the seeds' form\n"
                       "name = 'firebat'\n"
                       "internal_http_port = 8960\n"
                       "external_host=\"firebat.stanford.edu:443\"  # quoted, then a comment\n"
                       "  cc_pass = 6f14e0d5  \n"
                       "\n"
                       "heartbeat_increment = 30\n"
                       "max_body_size = 16M\n"
                       "access_log = off\n";
    assert_int_equal(parse(&c, CONFIG_SCV, text, &st), STATUS_OK);
    assert_string_equal(c.name, "firebat");
    assert_int_equal(c.internal_http_port, 8960);
    assert_string_equal(c.external_host, "firebat.stanford.edu:443");
    assert_string_equal(c.cc_pass, "6f14e0d5");
    assert_int_equal(c.heartbeat_increment, 30);
    assert_int_equal(c.max_body_size, 16u << 20);
    assert_int_equal(c.access_log, 0);
    assert_int_equal(c.max_stream_errors, 10); /* default kept */
}

static void test_errors_name_key_and_line(void **state)
{
    (void)state;
    struct config c;
    struct status st;
    assert_int_equal(parse(&c, CONFIG_CC, "name = a\nbogus = 1\n", &st), STATUS_INVALID);
    assert_non_null(strstr(st.msg, "test.conf:2"));
    assert_non_null(strstr(st.msg, "bogus"));

    assert_int_equal(parse(&c, CONFIG_CC, "internal_http_port = 70000\n", &st), STATUS_INVALID);
    assert_non_null(strstr(st.msg, ":1"));
    assert_non_null(strstr(st.msg, "internal_http_port"));

    assert_int_equal(parse(&c, CONFIG_CC, "threads = two\n", &st), STATUS_INVALID);
    assert_non_null(strstr(st.msg, "threads"));

    assert_int_equal(parse(&c, CONFIG_CC, "name = 'open\n", &st), STATUS_INVALID);
    assert_non_null(strstr(st.msg, "quotes"));

    assert_int_equal(parse(&c, CONFIG_CC, "just words\n", &st), STATUS_INVALID);
    assert_non_null(strstr(st.msg, "key = value"));

    assert_int_equal(parse(&c, CONFIG_CC, "name = a\nname = b\n", &st), STATUS_INVALID);
    assert_non_null(strstr(st.msg, "twice"));

    assert_int_equal(parse(&c, CONFIG_CC, "max_body_size = 12Q\n", &st), STATUS_INVALID);
    assert_non_null(strstr(st.msg, "max_body_size"));
}

static void test_keys_per_kind(void **state)
{
    (void)state;
    struct config c;
    struct status st;
    assert_int_equal(parse(&c, CONFIG_CC, "command_center = https://x\n", &st), STATUS_INVALID);
    assert_non_null(strstr(st.msg, "command_center"));
    assert_int_equal(parse(&c, CONFIG_SCV, "database = sqlite\n", &st), STATUS_INVALID);
    assert_int_equal(parse(&c, CONFIG_CC, "database = postgresql://u@h/db\n", &st), STATUS_OK);
    assert_string_equal(c.database, "postgresql://u@h/db");
}

static void test_hash_inside_value(void **state)
{
    (void)state;
    struct config c;
    struct status st;
    assert_int_equal(parse(&c, CONFIG_CC, "cc_pass = 'abc#def'\n", &st), STATUS_OK);
    assert_string_equal(c.cc_pass, "abc#def");
    assert_int_equal(parse(&c, CONFIG_CC, "cc_pass = abc#def\n", &st), STATUS_OK);
    assert_string_equal(c.cc_pass, "abc#def");
}

/* config_load of text from a temporary file. */
static status_code load(struct config *c, enum config_kind kind, const char *text, struct status *st)
{
    char path[] = "/tmp/siegetank-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    status_code rc = config_load(c, kind, path, st);
    unlink(path);
    return rc;
}

static void test_tls_all_or_nothing(void **state)
{
    (void)state;
    struct config c;
    struct status st;
    const char *text = "name = x\nssl_certfile = /nonexistent/cert.pem\nssl_key = ''\nssl_ca_certs =\n";
    assert_int_equal(load(&c, CONFIG_CC, text, &st), STATUS_INVALID);
    assert_non_null(strstr(st.msg, "ssl_key"));
}

/* The name rule the CC applies to registering SCVs, applied at start too. */
static void test_name_rule(void **state)
{
    (void)state;
    struct config c;
    struct status st;
    assert_true(config_name_ok("firebat"));
    assert_true(config_name_ok("scv-1_a.b"));
    assert_true(config_name_ok("a.."));
    const char *bad[] = {
        "",         ".",           "..",
        ".hidden",  "a:b",         "a/b",
        "fire bat", "caf\xc3\xa9", "0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(config_name_ok(bad[i]));
    assert_int_equal(load(&c, CONFIG_SCV, "name = '..'\n", &st), STATUS_INVALID);
    assert_non_null(strstr(st.msg, "'name' must be"));
}

static void test_ssl_protocols(void **state)
{
    (void)state;
    struct config c;
    struct status st;
    assert_int_equal(parse(&c, CONFIG_CC, "name = a\n", &st), STATUS_OK);
    assert_int_equal(c.ssl_min_version, 2);
    assert_int_equal(c.ssl_max_version, 3);
    assert_int_equal(parse(&c, CONFIG_SCV, "ssl_protocols = TLSv1.3\n", &st), STATUS_OK);
    assert_int_equal(c.ssl_min_version, 3);
    assert_int_equal(c.ssl_max_version, 3);
    assert_int_equal(parse(&c, CONFIG_SCV, "ssl_protocols = 'TLSv1.3, TLSv1.2'\n", &st), STATUS_OK);
    assert_int_equal(c.ssl_min_version, 2);
    assert_int_equal(c.ssl_max_version, 3);
    assert_int_equal(parse(&c, CONFIG_SCV, "ssl_protocols = TLSv1.2\n", &st), STATUS_OK);
    assert_int_equal(c.ssl_max_version, 2);
    const char *bad[] = {"ssl_protocols = TLSv1.1\n", "ssl_protocols = ''\n", "ssl_protocols = ' , '\n",
                         "ssl_protocols = TLSv1.2 SSLv3\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(&c, CONFIG_SCV, bad[i], &st), STATUS_INVALID);
        assert_non_null(strstr(st.msg, "test.conf:1: 'ssl_protocols'"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_format),        cmocka_unit_test(test_errors_name_key_and_line),
        cmocka_unit_test(test_keys_per_kind),      cmocka_unit_test(test_hash_inside_value),
        cmocka_unit_test(test_tls_all_or_nothing), cmocka_unit_test(test_ssl_protocols),
        cmocka_unit_test(test_name_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
