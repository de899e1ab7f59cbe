/* server_reply in process, over loopback: a reply's body is written in the
 * same buffer as its headers, so a body larger than that buffer (64 KiB) is
 * written in several turns; every byte must arrive, in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "inproc_server.h"

#define BIG (300 * 1000 + 7)

static char big[BIG];

static void on_big(struct server_request *r)
{
    server_reply_text(r->req, "text/plain", big, sizeof big);
}

static void test_large_reply_arrives_whole(void **state)
{
    (void)state;
    struct inproc_server srv;
    struct harness_response r;
    char url[160], length[32];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 23);
    inproc_server_create(&srv, "reply");
    assert_int_equal(server_route(srv.server, "GET", "/big", on_big), 0);
    inproc_server_start(&srv);

    snprintf(url, sizeof url, "%s/big", srv.url);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(harness_http("GET", url, NULL, NULL, 0, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(harness_header(&r, "content-length", length, sizeof length), 0);
        assert_int_equal(strtoul(length, NULL, 10), sizeof big);
        assert_int_equal(r.len, sizeof big);
        assert_memory_equal(r.body, big, sizeof big);
        harness_response_free(&r);
    }
    inproc_server_stop(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_reply_arrives_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
