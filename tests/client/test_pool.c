/* client_pool: one handle per thread, kept across calls, freed at thread
 * exit (LeakSanitizer checks that in the ASan build). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>

#include "client/client.h"

static void *get_twice(void *arg)
{
    struct client_error err;
    struct client *a = client_pool_get(arg, &err), *b = client_pool_get(arg, &err);
    return a != NULL && a == b ? a : NULL;
}

static void test_one_handle_per_thread(void **state)
{
    (void)state;
    struct client_error err;
    struct client_options opts = {.connect_timeout_s = 1};
    struct client_pool *p = client_pool_new("http://127.0.0.1:1", &opts, &err);
    assert_non_null(p);
    struct client *mine = get_twice(p);
    assert_non_null(mine);
    assert_string_equal(client_base_url(mine), "http://127.0.0.1:1");
    pthread_t t;
    void *theirs = NULL;
    assert_int_equal(pthread_create(&t, NULL, get_twice, p), 0);
    assert_int_equal(pthread_join(t, &theirs), 0);
    assert_non_null(theirs);
    assert_ptr_not_equal(theirs, mine);
    client_pool_free(p);
}

static void test_bad_base_url(void **state)
{
    (void)state;
    struct client_error err;
    struct client_options opts = {0};
    struct client_pool *p = client_pool_new("ftp://x", &opts, &err);
    assert_non_null(p);
    assert_null(client_pool_get(p, &err));
    assert_true(err.message[0] != '\0');
    client_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_handle_per_thread),
        cmocka_unit_test(test_bad_base_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
