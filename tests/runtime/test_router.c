#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "runtime/router.h"

static int h_root, h_info, h_download, h_assign;

static struct router table(void)
{
    struct router r;
    router_init(&r);
    assert_int_equal(router_add(&r, "GET", "/", &h_root), 0);
    assert_int_equal(router_add(&r, "GET", "/streams/info/:id", &h_info), 0);
    assert_int_equal(router_add(&r, "GET", "/streams/download/:id/:path...", &h_download), 0);
    assert_int_equal(router_add(&r, "POST", "/core/assign", &h_assign), 0);
    return r;
}

static enum router_result match(const struct router *r, const char *method, const char *path, void **h,
                                struct router_params *p)
{
    return router_match(r, method, strlen(method), path, strlen(path), h, p);
}

static void test_literal_and_root(void **state)
{
    (void)state;
    struct router r = table();
    struct router_params p;
    void *h = NULL;
    assert_int_equal(match(&r, "GET", "/", &h, &p), ROUTER_MATCH);
    assert_ptr_equal(h, &h_root);
    assert_int_equal(match(&r, "POST", "/core/assign", &h, &p), ROUTER_MATCH);
    assert_ptr_equal(h, &h_assign);
    assert_int_equal(p.count, 0);
    assert_int_equal(match(&r, "POST", "/core/assign?x=1", &h, &p), ROUTER_MATCH);
}

static void test_params(void **state)
{
    (void)state;
    struct router r = table();
    struct router_params p;
    void *h = NULL;
    assert_int_equal(match(&r, "GET", "/streams/info/abc:firebat", &h, &p), ROUTER_MATCH);
    assert_ptr_equal(h, &h_info);
    assert_int_equal(p.route, 1); /* the index of its pattern: what /metrics labels it by */
    assert_int_equal(p.count, 1);
    assert_string_equal(p.values[0], "abc:firebat");
    assert_int_equal(match(&r, "GET", "/streams/download/s1/38/checkpoint_files/state.xml", &h, &p),
                     ROUTER_MATCH);
    assert_ptr_equal(h, &h_download);
    assert_int_equal(p.count, 2);
    assert_string_equal(p.values[0], "s1");
    assert_string_equal(p.values[1], "38/checkpoint_files/state.xml");
}

static void test_percent_decoding(void **state)
{
    (void)state;
    struct router r = table();
    struct router_params p;
    void *h = NULL;
    assert_int_equal(match(&r, "GET", "/streams/info/abc%3Afirebat", &h, &p), ROUTER_MATCH);
    assert_string_equal(p.values[0], "abc:firebat");
    assert_int_equal(match(&r, "GET", "/streams/download/s/%2e%2e/x", &h, &p), ROUTER_MATCH);
    assert_string_equal(p.values[1], "../x"); /* confinement is the store's job; it must see the dots */
    assert_int_equal(match(&r, "GET", "/streams/info/a%00b", &h, &p), ROUTER_BAD_PARAM);
    assert_int_equal(match(&r, "GET", "/streams/info/a%4", &h, &p), ROUTER_BAD_PARAM);
    assert_int_equal(match(&r, "GET", "/streams/info/a%zz", &h, &p), ROUTER_BAD_PARAM);
    /* not UTF-8, escaped or raw: no handler could quote it in a JSON reply */
    assert_int_equal(match(&r, "GET", "/streams/info/%ff", &h, &p), ROUTER_BAD_PARAM);
    assert_int_equal(match(&r, "GET", "/streams/download/s/files/bad%ffname", &h, &p), ROUTER_BAD_PARAM);
    assert_int_equal(match(&r, "GET", "/streams/info/raw\xff", &h, &p), ROUTER_BAD_PARAM);
    assert_int_equal(match(&r, "GET", "/streams/info/caf%C3%A9", &h, &p), ROUTER_MATCH);
    assert_string_equal(p.values[0], "caf\xc3\xa9");
}

/* A raw NUL byte is refused like %00 (found by fuzz/fuzz_router.c): a handler
 * would otherwise see an empty or cut-short C string. */
static void test_raw_nul(void **state)
{
    (void)state;
    struct router r = table();
    struct router_params p;
    void *h = NULL;
    static const char info[] = "/streams/info/\0abc", download[] = "/streams/download/s1/files/a\0b";
    assert_int_equal(router_match(&r, "GET", 3, info, sizeof info - 1, &h, &p), ROUTER_BAD_PARAM);
    assert_int_equal(router_match(&r, "GET", 3, download, sizeof download - 1, &h, &p), ROUTER_BAD_PARAM);
}

static void test_not_found_and_bad_method(void **state)
{
    (void)state;
    struct router r = table();
    struct router_params p;
    void *h = NULL;
    assert_int_equal(match(&r, "GET", "/nope", &h, &p), ROUTER_NOT_FOUND);
    assert_int_equal(p.route, -1);
    assert_int_equal(match(&r, "GET", "/streams/info/", &h, &p), ROUTER_NOT_FOUND);
    assert_int_equal(match(&r, "GET", "/streams/info/a/b", &h, &p), ROUTER_NOT_FOUND);
    assert_int_equal(match(&r, "GET", "/streams/download/s1", &h, &p), ROUTER_NOT_FOUND);
    assert_int_equal(match(&r, "GET", "/streams/download/s1/", &h, &p), ROUTER_NOT_FOUND);
    assert_int_equal(match(&r, "GET", "/core/assignx", &h, &p), ROUTER_NOT_FOUND);
    assert_int_equal(match(&r, "PUT", "/core/assign", &h, &p), ROUTER_BAD_METHOD);
    assert_int_equal(p.route, -1);
    assert_int_equal(match(&r, "DELETE", "/", &h, &p), ROUTER_BAD_METHOD);
}

static void test_redact(void **state)
{
    (void)state;
    struct router r = table();
    char out[128];
    assert_int_equal(router_add_secret(&r, "PUT", "/engines/keys/delete/:key", &h_info), 0);
    assert_int_equal(router_add_secret(&r, "PUT", "/no/params", &h_info), -1);
    const char *secret[] = {"/engines/keys/delete/0123abcd", "/engines/keys/delete/0123abcd/more",
                            "/engines/keys/delete/0123abcd?x=1"};
    for (size_t i = 0; i < sizeof secret / sizeof *secret; i++) {
        assert_int_equal(router_redact(&r, secret[i], strlen(secret[i]), out, sizeof out), 1);
        assert_string_equal(out, "/engines/keys/delete/[redacted]");
    }
    const char *plain[] = {"/engines/keys/delete/", "/engines/keys", "/streams/info/abc", "/"};
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        assert_int_equal(router_redact(&r, plain[i], strlen(plain[i]), out, sizeof out), 0);
    assert_int_equal(router_redact(&r, secret[0], strlen(secret[0]), out, 20), 0); /* no room */
}

static void test_table_limits(void **state)
{
    (void)state;
    struct router r;
    router_init(&r);
    assert_int_equal(router_add(&r, "GET", "no-slash", &h_root), -1);
    assert_int_equal(router_add(&r, "GET", "/a/:rest.../b", &h_root), -1);
    for (int i = 0; i < ROUTER_MAX_ROUTES; i++)
        assert_int_equal(router_add(&r, "GET", "/x", &h_root), 0);
    assert_int_equal(router_add(&r, "GET", "/y", &h_root), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_and_root),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_percent_decoding),
        cmocka_unit_test(test_raw_nul),
        cmocka_unit_test(test_not_found_and_bad_method),
        cmocka_unit_test(test_table_limits),
        cmocka_unit_test(test_redact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
