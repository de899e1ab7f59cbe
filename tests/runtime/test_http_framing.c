/* http_framing: RFC 9112 §6.1/§6.3 checks on raw request heads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "runtime/http_framing.h"

static const char *check(const char *head)
{
    return http_framing_check(head, strlen(head));
}

static void test_unambiguous(void **state)
{
    (void)state;
    assert_null(check("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_null(check("PUT /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"));
    assert_null(check("PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
    /* the same length twice is one length (RFC 9110 §8.6) */
    assert_null(check("PUT /a HTTP/1.1\r\nContent-Length: 5\r\ncontent-length:  5 \r\n\r\nhello"));
    /* what follows the head is body, not headers */
    assert_null(check("PUT /a HTTP/1.1\r\nContent-Length: 40\r\n\r\nTransfer-Encoding: chunked\r\n\r\n"));
    /* bare LF line ends, and names that only start alike */
    assert_null(check("PUT /a HTTP/1.1\nContent-Length: 1\nContent-Lengthy: 2\nX-Transfer-Encoding: c\n\nx"));
    assert_null(check("GET / HTTP/1.1")); /* no headers at all */
}

static void test_ambiguous(void **state)
{
    (void)state;
    assert_non_null(check("PUT /a HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"));
    assert_non_null(check("PUT /a HTTP/1.1\r\nTRANSFER-ENCODING: chunked\r\ncontent-length: 5\r\n\r\n"));
    assert_non_null(check("PUT /a HTTP/1.1\nContent-Length: 5\nTransfer-Encoding: chunked\n\n"));
    assert_non_null(check("PUT /a HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n"));
    assert_non_null(check("PUT /a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n"));
    assert_non_null(
        check("PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unambiguous),
        cmocka_unit_test(test_ambiguous),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
