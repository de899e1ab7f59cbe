/* Pure helpers of the client: host classification, URLs, error extraction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "client/client.h"

static void test_host_kind(void **state)
{
    (void)state;
    assert_int_equal(client_host_kind("127.0.0.1:8980"), CLIENT_HOST_IP);
    assert_int_equal(client_host_kind("https://10.1.2.3:443/x"), CLIENT_HOST_IP);
    assert_int_equal(client_host_kind("https://[::1]:8980/core/start"), CLIENT_HOST_IP);
    assert_int_equal(client_host_kind("[fe80::1]"), CLIENT_HOST_IP);
    assert_int_equal(client_host_kind("::1"), CLIENT_HOST_IP);
    assert_int_equal(client_host_kind("localhost:8980"), CLIENT_HOST_LOCALHOST);
    assert_int_equal(client_host_kind("http://LocalHost"), CLIENT_HOST_LOCALHOST);
    assert_int_equal(client_host_kind("cc.example.org:8980"), CLIENT_HOST_DOMAIN);
    assert_int_equal(client_host_kind("https://localhost.example.org"), CLIENT_HOST_DOMAIN);
    assert_int_equal(client_host_kind("https://127.0.0.1.nip.io"), CLIENT_HOST_DOMAIN);
    assert_int_equal(client_host_kind("https://user@10.0.0.1:80"), CLIENT_HOST_IP);
    /* Unparseable hosts fall to the safe side: verify. */
    assert_int_equal(client_host_kind(""), CLIENT_HOST_DOMAIN);
    assert_int_equal(client_host_kind("https://[::1"), CLIENT_HOST_DOMAIN);
    assert_int_equal(client_host_kind(NULL), CLIENT_HOST_DOMAIN);
}

static void test_tls_verify(void **state)
{
    (void)state;
    assert_true(client_tls_verify("https://scv.example.org:443"));
    assert_true(client_tls_verify("example.org"));
    assert_false(client_tls_verify("https://127.0.0.1:8980"));
    assert_false(client_tls_verify("localhost"));
    assert_false(client_tls_verify("[::1]:80"));
}

/* One input of a URL function and what it must write (NULL: refused). */
struct url_case {
    const char *in;
    const char *want;
};

static void check_url_cases(int (*fn)(const char *, char *, size_t), const struct url_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char out[64];
        int rc = fn(cases[i].in, out, sizeof out);
        if (cases[i].want == NULL) {
            assert_int_equal(rc, -1);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_string_equal(out, cases[i].want);
    }
}

static void test_normalize(void **state)
{
    (void)state;
    static const struct url_case cases[] = {
        {"127.0.0.1:8980", "https://127.0.0.1:8980"},
        {"http://cc.example.org:80//", "http://cc.example.org:80"},
        {"HTTPS://x", "HTTPS://x"},
        {"ftp://x", NULL},
        {"", NULL},
        {NULL, NULL},
        {"https://", NULL},
        {"https:///", NULL},
    };
    check_url_cases(client_url_normalize, cases, sizeof cases / sizeof cases[0]);
    char tiny[10];
    assert_int_equal(client_url_normalize("host:1234", tiny, sizeof tiny), -1);
}

static void test_origin(void **state)
{
    (void)state;
    static const struct url_case cases[] = {
        {"https://1.2.3.4:8000/core/start", "https://1.2.3.4:8000"},
        {"http://h", "http://h"},
        {"h:80/core/start", NULL},
        {"https://", NULL},
    };
    check_url_cases(client_url_origin, cases, sizeof cases / sizeof cases[0]);
    char tiny[8];
    assert_int_equal(client_url_origin("https://long.example.org/x", tiny, sizeof tiny), -1);
}

static void test_path_escape(void **state)
{
    (void)state;
    char *s = client_path_escape("ab-c_1.~:x", 0);
    assert_string_equal(s, "ab-c_1.~:x");
    free(s);
    s = client_path_escape("a b/c?d#%", 0);
    assert_string_equal(s, "a%20b%2Fc%3Fd%23%25");
    free(s);
    s = client_path_escape("12/checkpoint_files/state.xml", 1);
    assert_string_equal(s, "12/checkpoint_files/state.xml");
    free(s);
}

static void test_stream_scv(void **state)
{
    (void)state;
    assert_string_equal(client_stream_scv("0b5c-11:firebat"), "firebat");
    assert_string_equal(client_stream_scv("a:b:vspg11"), "vspg11");
    assert_null(client_stream_scv("no-colon"));
    assert_null(client_stream_scv("trailing:"));
    assert_null(client_stream_scv(":leading"));
    assert_null(client_stream_scv(NULL));
}

static void test_error_from_body(void **state)
{
    (void)state;
    struct client_error err;
    const char *body = "{\"error\": \"Nothing to update\"}";
    client_error_from_body(&err, 400, body, strlen(body));
    assert_int_equal(err.status, 400);
    assert_string_equal(err.message, "Nothing to update");

    body = "{\"error\": 5}";
    client_error_from_body(&err, 401, body, strlen(body));
    assert_int_equal(err.status, 401);
    assert_string_equal(err.message, "HTTP 401");

    body = "<html>Bad Gateway</html>\nmore";
    client_error_from_body(&err, 502, body, strlen(body));
    assert_string_equal(err.message, "HTTP 502: <html>Bad Gateway</html>");

    client_error_from_body(&err, 404, NULL, 0);
    assert_string_equal(err.message, "HTTP 404");

    /* Control bytes from a hostile body never reach the terminal. */
    body = "bad\x1b[2Jthing";
    client_error_from_body(&err, 500, body, strlen(body));
    assert_string_equal(err.message, "HTTP 500: bad?[2Jthing");

    char big[2000];
    memset(big, 'x', sizeof big);
    client_error_from_body(&err, 500, big, sizeof big);
    assert_true(strlen(err.message) < CLIENT_ERROR_MAX);
}

static void test_network_error(void **state)
{
    (void)state;
    struct client_error err;
    struct client_reply reply;
    struct client_options opts = {.connect_timeout_s = 5, .timeout_s = 5};
    /* Port 1 on loopback is closed: a refused connection, status 0. */
    struct client *c = client_new("http://127.0.0.1:1", &opts, &err);
    assert_non_null(c);
    assert_int_equal(client_request(c, "GET", "/", NULL, NULL, 0, NULL, &reply, &err), -1);
    assert_int_equal(err.status, 0);
    assert_non_null(strstr(err.message, "127.0.0.1:1"));
    assert_null(client_target_info(c, "some-id", &err));
    assert_int_equal(err.status, 0);
    assert_int_equal(client_stream_start(c, "not-a-stream-id", &err), -1);
    assert_non_null(strstr(err.message, "not a stream id"));
    client_free(c);

    assert_null(client_new("ftp://x", NULL, &err));
    assert_non_null(strstr(err.message, "bad server address"));
    assert_null(client_new("", NULL, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_kind),       cmocka_unit_test(test_tls_verify),
        cmocka_unit_test(test_normalize),       cmocka_unit_test(test_origin),
        cmocka_unit_test(test_path_escape),     cmocka_unit_test(test_stream_scv),
        cmocka_unit_test(test_error_from_body), cmocka_unit_test(test_network_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
