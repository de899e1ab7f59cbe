/* The server runtime, through the real `siegetank scv` binary on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "harness.h"

/* An SCV named firebat with extra config lines, its URL's scheme per tls. */
static void daemon_prepare(struct daemon_proc *d, const char *extra, int tls)
{
    daemon_proc_prepare(d, "scv", "firebat", NULL, tls);
    daemon_proc_write_conf(d, "%s", extra ? extra : "");
}

/* Starts the daemon and waits until up, unless expect_fail: then it returns
 * the exit status. */
static int daemon_start(struct daemon_proc *d, const char *extra, int tls, int expect_fail)
{
    daemon_prepare(d, extra, tls);
    if (expect_fail)
        return daemon_proc_run_to_exit(d, 10);
    assert_int_equal(daemon_proc_start(d, 10), 0);
    return 0;
}

static void get(const struct daemon_proc *d, const char *method, const char *path, struct harness_response *r)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", d->url, path);
    harness_http(method, url, NULL, NULL, 0, NULL, r);
}

static void assert_json_error(const struct harness_response *r, long status)
{
    char cors[16];
    assert_int_equal(r->status, status);
    json_t *body = json_loads(r->body, 0, NULL);
    assert_non_null(body);
    assert_true(json_is_string(json_object_get(body, "error")));
    json_decref(body);
    assert_int_equal(harness_header(r, "access-control-allow-origin", cors, sizeof cors), 0);
    assert_string_equal(cors, "*");
}

static void test_plain_http_answers(void **state)
{
    (void)state;
    struct daemon_proc d;
    struct harness_response r;
    char value[128];
    daemon_start(&d, NULL, 0, 0);

    get(&d, "GET", "/", &r);
    assert_int_equal(r.status, 200);
    json_t *body = json_loads(r.body, 0, NULL);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "name")), "firebat");
    json_decref(body);
    assert_int_equal(harness_header(&r, "access-control-allow-origin", value, sizeof value), 0);
    assert_string_equal(value, "*");
    assert_int_equal(harness_header(&r, "content-type", value, sizeof value), 0);
    assert_string_equal(value, "application/json");
    assert_int_equal(harness_header(&r, "server", value, sizeof value), -1); /* GET / says who answers */
    harness_response_free(&r);

    get(&d, "GET", "/no/such/route", &r);
    assert_json_error(&r, 404);
    harness_response_free(&r);

    get(&d, "DELETE", "/", &r);
    assert_json_error(&r, 405);
    harness_response_free(&r);

    assert_int_equal(harness_stop(d.pid, SIGTERM, 15), 0);
    assert_true(daemon_proc_log_has(&d, "open-files limit"));
}

static void test_body_limit(void **state)
{
    (void)state;
    struct daemon_proc d;
    struct harness_response r;
    char url[256];
    daemon_start(&d, "max_body_size = 4K", 0, 0);
    snprintf(url, sizeof url, "%s/anything", d.url);

    char *big = calloc(1, 5000);
    harness_http("POST", url, NULL, big, 5000, NULL, &r);
    assert_json_error(&r, 413);
    harness_response_free(&r);

    harness_http("POST", url, NULL, big, 4000, NULL, &r); /* under the limit: routed as usual */
    assert_json_error(&r, 404);
    harness_response_free(&r);
    free(big);
    assert_int_equal(harness_stop(d.pid, SIGTERM, 15), 0);
}

static void test_tls_with_chain(void **state)
{
    (void)state;
    char pki[PATH_MAX], extra[4 * PATH_MAX], root[PATH_MAX + 16];
    struct daemon_proc d;
    struct harness_response r;
    harness_tmpdir(pki);
    assert_int_equal(harness_make_pki(pki), 0);
    snprintf(extra, sizeof extra,
             "ssl_certfile = %s/cert.pem\nssl_key = %s/key.pem\nssl_ca_certs = %s/chain.pem", pki, pki, pki);
    daemon_start(&d, extra, 1, 0);

    /* The client trusts only the root: it verifies only if the server sends
     * the intermediate from ssl_ca_certs along with its certificate. */
    snprintf(root, sizeof root, "%s/root.pem", pki);
    char url[256];
    snprintf(url, sizeof url, "https://localhost:%d/", d.port);
    assert_int_equal(harness_http("GET", url, NULL, NULL, 0, root, &r), 0);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);

    snprintf(url, sizeof url, "http://127.0.0.1:%d/",
             d.port); /* plain HTTP to a TLS port gets nothing useful */
    harness_http("GET", url, NULL, NULL, 0, NULL, &r);
    assert_int_not_equal(r.status, 200);
    harness_response_free(&r);

    assert_int_equal(harness_stop(d.pid, SIGTERM, 15), 0);
}

static void test_refuses_bad_tls_config(void **state)
{
    (void)state;
    char pki[PATH_MAX], extra[4 * PATH_MAX];
    struct daemon_proc d;
    harness_tmpdir(pki);
    assert_int_equal(harness_make_pki(pki), 0);

    snprintf(extra, sizeof extra, "ssl_certfile = %s/cert.pem\nssl_key = %s/key.pem", pki, pki);
    assert_int_not_equal(daemon_start(&d, extra, 1, 1), 0);
    assert_true(daemon_proc_log_has(&d, "ssl_ca_certs"));

    snprintf(extra, sizeof extra,
             "ssl_certfile = %s/cert.pem\nssl_key = %s/missing.pem\nssl_ca_certs = %s/chain.pem", pki, pki,
             pki);
    assert_int_not_equal(daemon_start(&d, extra, 1, 1), 0);
    assert_true(daemon_proc_log_has(&d, "missing.pem"));

    snprintf(extra, sizeof extra,
             "ssl_certfile = %s/cert.pem\nssl_key = %s/other_key.pem\nssl_ca_certs = %s/chain.pem", pki, pki,
             pki);
    assert_int_not_equal(daemon_start(&d, extra, 1, 1), 0);
    assert_true(daemon_proc_log_has(&d, "does not match"));
    assert_true(daemon_proc_log_has(&d, "ssl_key"));

    snprintf(extra, sizeof extra,
             "ssl_certfile = %s/key.pem\nssl_key = %s/key.pem\nssl_ca_certs = %s/chain.pem", pki, pki, pki);
    assert_int_not_equal(daemon_start(&d, extra, 1, 1), 0);
    assert_true(daemon_proc_log_has(&d, "ssl_certfile"));
}

static void test_refuses_bad_config(void **state)
{
    (void)state;
    struct daemon_proc d;
    assert_int_not_equal(daemon_start(&d, "threads = many", 0, 1), 0);
    assert_true(daemon_proc_log_has(&d, "scv.conf:5"));
    assert_true(daemon_proc_log_has(&d, "threads"));

    assert_int_not_equal(daemon_start(&d, "colour = blue", 0, 1), 0);
    assert_true(daemon_proc_log_has(&d, "colour"));
}

static void test_port_in_use(void **state)
{
    (void)state;
    struct daemon_proc first, second;
    daemon_start(&first, NULL, 0, 0);
    daemon_proc_prepare(&second, "scv", "other", NULL, 0);
    second.port = first.port;
    daemon_proc_write_conf(&second, "%s", "");
    assert_int_not_equal(daemon_proc_run_to_exit(&second, 10), 0);
    assert_true(daemon_proc_log_has(&second, "in use"));
    assert_int_equal(harness_stop(first.pid, SIGTERM, 15), 0);
}

static int connect_loopback(int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    return fd;
}

/* 1 when a GET / on fd gets an HTTP answer, 0 when the server closed it. */
static int answers(int fd)
{
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[512];
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    return n > 0 && strncmp(buf, "HTTP/1.1 200", 12) == 0;
}

/* A connection that got an answer, retried while earlier ones drain. */
static int connect_answered(int port)
{
    for (int i = 0; i < 100; i++) {
        int fd = connect_loopback(port);
        if (answers(fd))
            return fd;
        close(fd);
        usleep(20000);
    }
    fail_msg("no connection slot became free on port %d", port);
    return -1;
}

/* Sends request on a new connection and reads what comes back into buf
 * (NUL-terminated) until the server closes the connection: 1, or 0 when it
 * is still open after 5 seconds. */
static int exchange(int port, const char *request, size_t len, char *buf, size_t n)
{
    struct timeval tv = {5, 0};
    int fd = connect_loopback(port);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    assert_int_equal(write(fd, request, len), (ssize_t)len);
    size_t got = 0;
    ssize_t r = 0;
    while (got + 1 < n && (r = read(fd, buf + got, n - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = '\0';
    close(fd);
    return r == 0;
}

/* The JSON body of a whole HTTP/1.1 reply, which must be {"error": ...}. */
static void assert_raw_error(const char *reply, const char *status_line)
{
    assert_memory_equal(reply, status_line, strlen(status_line));
    const char *body = strstr(reply, "\r\n\r\n");
    assert_non_null(body);
    json_t *j = json_loads(body + 4, 0, NULL);
    assert_true(json_is_string(json_object_get(j, "error")));
    json_decref(j);
}

/* Request lines with bytes that are not UTF-8 get a JSON 400 or 404, never a
 * 500 that could not encode its reply. */
static void test_raw_bytes_in_path(void **state)
{
    (void)state;
    struct daemon_proc d;
    char reply[4096];
    daemon_start(&d, NULL, 0, 0);
    const char *param = "GET /streams/info/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_true(exchange(d.port, param, strlen(param), reply, sizeof reply));
    assert_raw_error(reply, "HTTP/1.1 400");
    const char *unknown = "GET /no\xff/such HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_true(exchange(d.port, unknown, strlen(unknown), reply, sizeof reply));
    assert_raw_error(reply, "HTTP/1.1 404");
    const char *method = "DELETE /\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_true(exchange(d.port, method, strlen(method), reply, sizeof reply));
    assert_raw_error(reply, "HTTP/1.1 404");
    assert_int_equal(harness_stop(d.pid, SIGTERM, 15), 0);
}

static int count(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = haystack; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* RFC 9112 §6.1/§6.3: a message framed two ways gets 400 and the connection
 * is closed, so nothing after it is read as another request; and HTTP/2 is
 * off in cleartext too (no prior knowledge, no h2c upgrade). */
static void test_ambiguous_framing(void **state)
{
    (void)state;
    struct daemon_proc d;
    char reply[4096];
    daemon_start(&d, NULL, 0, 0);
    const char *both = "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_true(exchange(d.port, both, strlen(both), reply, sizeof reply));
    assert_raw_error(reply, "HTTP/1.1 400");
    const char *two = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 35\r\n\r\n"
                      "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(exchange(d.port, two, strlen(two), reply, sizeof reply));
    assert_raw_error(reply, "HTTP/1.1 400");
    assert_int_equal(count(reply, "HTTP/1.1 "), 1);
    /* the same length twice is fine */
    const char *same = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n"
                       "Connection: close\r\n\r\n{}";
    assert_true(exchange(d.port, same, strlen(same), reply, sizeof reply));
    assert_raw_error(reply, "HTTP/1.1 404");
    /* HTTP/2 prior knowledge is a bad HTTP/1.1 request; h2c is not upgraded */
    const char *preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    assert_true(exchange(d.port, preface, strlen(preface), reply, sizeof reply));
    assert_memory_equal(reply, "HTTP/1.1 400", 12);
    const char *h2c = "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\n"
                      "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";
    assert_true(exchange(d.port, h2c, strlen(h2c), reply, sizeof reply));
    assert_memory_equal(reply, "HTTP/1.1 200", 12);
    assert_int_equal(harness_stop(d.pid, SIGTERM, 15), 0);
}

static void test_connection_limit(void **state)
{
    (void)state;
    struct daemon_proc d;
    daemon_start(&d, "max_connections = 2", 0, 0);
    /* The readiness probe's connection may still be counted for a moment. */
    int a = connect_answered(d.port), b = connect_answered(d.port);
    int c = connect_loopback(d.port); /* the kernel accepts it; the server closes it at once */
    assert_false(answers(c));
    close(c);
    close(a); /* a slot frees up */
    int ok = 0;
    for (int i = 0; i < 50 && !ok; i++) {
        int e = connect_loopback(d.port);
        ok = answers(e);
        close(e);
        if (!ok)
            usleep(20000);
    }
    assert_true(ok);
    close(b);
    assert_int_equal(harness_stop(d.pid, SIGTERM, 15), 0);
}

/* Out of descriptors, the server neither spins on accept4 nor stays deaf:
 * it pauses accepting and serves again once connections close. */
static void test_fd_limit(void **state)
{
    (void)state;
    struct daemon_proc d;
    enum { N = 150 };
    int fds[N];
    daemon_prepare(&d, "max_connections = 100000", 0);
    const char *argv[] = {"/usr/bin/prlimit", "--nofile=128:128", harness_bin(), "scv", "-c", d.conf, NULL};
    d.pid = harness_spawn(argv, d.log);
    assert_int_equal(harness_wait_up(d.url, 10), 0);
    for (int i = 0; i < N; i++)
        fds[i] = connect_loopback(d.port); /* the backlog takes what the server cannot */
    usleep(300 * 1000);
    /* A loop spinning on accept4 costs up to a CPU (0.3 s a second was seen
     * on a loaded 2-CPU machine); paused, the server is idle. */
    double before = harness_proc_cpu_seconds(d.pid);
    sleep(2);
    double spent = harness_proc_cpu_seconds(d.pid) - before;
    assert_true(before >= 0);
    if (spent >= 0.2)
        fail_msg("the server used %.2f s of CPU in 2 s at the open-files limit", spent);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    close(connect_answered(d.port));
    assert_int_equal(harness_stop(d.pid, SIGTERM, 15), 0);
    assert_true(daemon_proc_log_has(&d, "cannot accept connections"));
}

static void test_usage(void **state)
{
    (void)state;
    char dir[PATH_MAX], log[PATH_MAX + 16];
    harness_tmpdir(dir);
    snprintf(log, sizeof log, "%s/out.log", dir);
    const char *help[] = {harness_bin(), "--help", NULL};
    assert_int_equal(harness_wait_exit(harness_spawn(help, log), 10), 0);
    const char *unknown[] = {harness_bin(), "frobnicate", NULL};
    assert_int_equal(harness_wait_exit(harness_spawn(unknown, log), 10), 2);
    const char *noconf[] = {harness_bin(), "cc", NULL};
    assert_int_equal(harness_wait_exit(harness_spawn(noconf, log), 10), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_http_answers), cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_tls_with_chain),     cmocka_unit_test(test_refuses_bad_tls_config),
        cmocka_unit_test(test_refuses_bad_config), cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_connection_limit),   cmocka_unit_test(test_usage),
        cmocka_unit_test(test_raw_bytes_in_path),  cmocka_unit_test(test_ambiguous_framing),
        cmocka_unit_test(test_fd_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
