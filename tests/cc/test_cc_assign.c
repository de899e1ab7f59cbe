/* POST /core/assign's activation sent from the CC's event loop (cc_assign.c
 * through runtime/http_client.c), against real SCVs on loopback: over TLS,
 * past an SCV that accepts connections but never answers, past one that died
 * after its connection was pooled (and to it again once it is back), and
 * never to an SCV addressed by a domain name whose certificate does not
 * verify.
 *
 * SCVs are also registered under second names with an explicit scheme
 * ("https://127.0.0.1:port"): a known scheme is what sends the activation
 * from the loop rather than from a worker, so those shards take the new path
 * from the first request on. Each CC must stop cleanly (exit status 0, so
 * the sanitizer build also checks for leaks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/client.h"
#include "cluster.h"
#include "harness.h"

/* The CC's assign timeout (CC_PEER_LOOP_TIMEOUT_MS) bounds the silent SCV. */
#define ENGINE "e1"

struct fixture {
    struct cluster c;
    struct client *cc;
    char key[128];
};

static void start(struct fixture *f, int tls, int nscv)
{
    struct client_error err;
    char name[16];
    cluster_init(&f->c, tls);
    assert_int_equal(cluster_start_cc(&f->c, "scv_check_interval = 1\n"), 0);
    for (int i = 0; i < nscv; i++) {
        snprintf(name, sizeof name, "s%d", i + 1);
        assert_true(cluster_add_scv(&f->c, name, NULL) >= 0);
    }
    assert_int_equal(cluster_engine_key(&f->c, ENGINE, f->key, sizeof f->key), 0);
    f->cc = client_new(f->c.cc.url, NULL, &err);
    assert_non_null(f->cc);
    client_set_token(f->cc, f->c.admin_token);
}

static void stop(struct fixture *f)
{
    client_free(f->cc);
    for (int i = 0; i < f->c.nscv; i++)
        if (f->c.scv[i].pid > 0)
            assert_int_equal(cluster_stop(&f->c.scv[i], SIGTERM), 0);
    assert_int_equal(cluster_stop(&f->c.cc, SIGTERM), 0);
}

/* One request to the CC; the status, and the parsed body in *out (may be
 * NULL; NULL when not JSON). */
static long cc_call(struct fixture *f, const char *method, const char *path, const char *auth,
                    const char *body, json_t **out)
{
    char url[256], header[320];
    const char *headers[] = {header, NULL};
    struct harness_response r;
    snprintf(url, sizeof url, "%s%s", f->c.cc.url, path);
    snprintf(header, sizeof header, "Authorization: %s", auth);
    harness_http(method, url, headers, body, body ? strlen(body) : 0, NULL, &r);
    if (out != NULL)
        *out = r.body ? json_loads(r.body, 0, NULL) : NULL;
    long status = r.status;
    harness_response_free(&r);
    return status;
}

static void make_target(struct fixture *f, char *id, size_t n)
{
    struct client_error err;
    json_t *spec = json_pack("{s:[s], s:s}", "engines", ENGINE, "stage", "private");
    json_t *t = client_target_create(f->cc, spec, &err);
    assert_non_null(t);
    snprintf(id, n, "%s", json_string_value(json_object_get(t, "target_id")));
    json_decref(t);
    json_decref(spec);
}

/* count streams of target on the SCV named scv (which makes it a shard). */
static void add_streams(struct fixture *f, const char *scv, const char *target, int count)
{
    struct client_error err;
    json_t *files = json_pack("{s:s}", "state.xml.gz.b64", "AAAA");
    for (int i = 0; i < count; i++) {
        json_t *r = client_stream_add(f->cc, scv, target, files, NULL, &err);
        assert_non_null(r);
        json_decref(r);
    }
    json_decref(files);
}

static void shard(struct fixture *f, const char *target, const char *scv, const char *op)
{
    char path[256], body[128];
    snprintf(path, sizeof path, "/targets/shards/%s", target);
    snprintf(body, sizeof body, "{\"scv\":\"%s\",\"op\":\"%s\"}", scv, op);
    assert_int_equal(cc_call(f, "PUT", path, f->c.cc_pass, body, NULL), 200);
}

/* Registers name at host with the activation secret of the cluster's SCV
 * number i (so it reaches that SCV under another name and address). */
static void alias(struct fixture *f, const char *name, const char *host, int i)
{
    char secret[256], body[1024];
    assert_int_equal(cluster_scv_secret(&f->c.scv[i], secret, sizeof secret), 0);
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"host\":\"%s\",\"password\":\"%s\"}", name, host, secret);
    assert_int_equal(cc_call(f, "PUT", "/scvs/register", f->c.cc_pass, body, NULL), 200);
}

/* POST /core/assign for target; the status, and the start URL or error. */
static long assign(struct fixture *f, const char *target, char *out, size_t n)
{
    char body[256];
    json_t *v = NULL;
    snprintf(body, sizeof body, "{\"target_id\":\"%s\"}", target);
    long status = cc_call(f, "POST", "/core/assign", f->key, body, &v);
    const char *text = json_string_value(json_object_get(v, status == 200 ? "url" : "error"));
    snprintf(out, n, "%s", text ? text : "");
    json_decref(v);
    return status;
}

static void expect_assigned_to(struct fixture *f, const char *target, int scv)
{
    char url[256], want[256];
    snprintf(want, sizeof want, "%s/core/start", f->c.scv[scv].url);
    assert_int_equal(assign(f, target, url, sizeof url), 200);
    assert_string_equal(url, want);
}

static void test_assign_over_tls(void **state)
{
    (void)state;
    struct fixture f;
    char target[64], host[128], out[256];
    start(&f, 1, 1);
    make_target(&f, target, sizeof target);
    add_streams(&f, "s1", target, 3);
    /* The self-registered name (scheme learnt by probing) and an alias with
     * the scheme given: every stream goes out, over TLS, whichever is asked. */
    snprintf(host, sizeof host, "https://127.0.0.1:%d", f.c.scv[0].port);
    alias(&f, "tls", host, 0);
    shard(&f, target, "tls", "add");
    for (int i = 0; i < 3; i++)
        expect_assigned_to(&f, target, 0);
    assert_int_equal(assign(&f, target, out, sizeof out), 400);
    assert_string_equal(out, "no streams available");
    stop(&f);
}

/* A TCP listener that never accepts: connections complete in the kernel's
 * backlog and requests are never read. */
static int silent_listener(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 64), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_assign_past_silent_scv(void **state)
{
    (void)state;
    struct fixture f;
    char lone[64], target[64], host[128], out[256];
    int port;
    start(&f, 0, 1);
    int fd = silent_listener(&port);
    snprintf(host, sizeof host, "http://127.0.0.1:%d", port);
    alias(&f, "mute", host, 0);
    /* Alone, it costs one timeout and then the usual refusal. */
    make_target(&f, lone, sizeof lone);
    shard(&f, lone, "mute", "add");
    assert_int_equal(assign(&f, lone, out, sizeof out), 400);
    assert_string_equal(out, "no streams available");
    /* Beside a live shard, whichever is asked first, the live one serves. */
    make_target(&f, target, sizeof target);
    add_streams(&f, "s1", target, 2);
    shard(&f, target, "mute", "add");
    for (int i = 0; i < 2; i++)
        expect_assigned_to(&f, target, 0);
    /* Closing resets the queued connections, so the CC's own checks of
     * "mute" end at once and it stops without waiting for them. */
    close(fd);
    stop(&f);
}

static void test_assign_after_scv_died(void **state)
{
    (void)state;
    struct fixture f;
    char first[64], both[64], host[128];
    start(&f, 0, 2);
    for (int i = 0; i < 2; i++) {
        snprintf(host, sizeof host, "http://127.0.0.1:%d", f.c.scv[i].port);
        alias(&f, i == 0 ? "a1" : "a2", host, i);
    }
    make_target(&f, first, sizeof first);
    add_streams(&f, "s1", first, 2);
    shard(&f, first, "s1", "remove");
    shard(&f, first, "a1", "add");
    make_target(&f, both, sizeof both);
    add_streams(&f, "s1", both, 2);
    add_streams(&f, "s2", both, 2);
    shard(&f, both, "s1", "remove");
    shard(&f, both, "s2", "remove");
    shard(&f, both, "a1", "add");
    shard(&f, both, "a2", "add");
    /* A connection to the first SCV is now in the pool. */
    expect_assigned_to(&f, first, 0);
    /* It dies; it stays online at the CC for a while, so it is still asked
     * (in random order), and the other one serves. */
    assert_int_equal(cluster_stop(&f.c.scv[0], SIGKILL), 128 + SIGKILL);
    for (int i = 0; i < 2; i++)
        expect_assigned_to(&f, both, 1);
    /* Back at the same address: the pool's dead connections are not used. */
    assert_int_equal(cluster_start(&f.c, &f.c.scv[0]), 0);
    expect_assigned_to(&f, first, 0);
    stop(&f);
}

/* This machine's name when it resolves (to an address the SCVs listen on:
 * they bind every interface) and is a domain name by the protocol's rule. */
static int domain_name(char *out, size_t n)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (gethostname(out, n) != 0 || out[0] == '\0' || !client_tls_verify(out))
        return -1;
    int rc = getaddrinfo(out, NULL, &hints, &res);
    if (res != NULL)
        freeaddrinfo(res);
    return rc == 0 ? 0 : -1;
}

static void test_assign_skips_unverified_domain(void **state)
{
    (void)state;
    struct fixture f;
    char name[256], target[64], host[512], out[256];
    if (domain_name(name, sizeof name) != 0) {
        print_message("skipped: this machine's name does not resolve\n");
        skip();
    }
    start(&f, 1, 1);
    /* The same SCV by domain name: its certificate (a test CA's, for
     * localhost) must be verified there, and fails. */
    snprintf(host, sizeof host, "https://%s:%d", name, f.c.scv[0].port);
    alias(&f, "dom", host, 0);
    make_target(&f, target, sizeof target);
    add_streams(&f, "s1", target, 2);
    shard(&f, target, "s1", "remove");
    shard(&f, target, "dom", "add");
    assert_int_equal(assign(&f, target, out, sizeof out), 400);
    assert_string_equal(out, "no streams available");
    /* By IP literal, not verified, the same SCV serves. */
    snprintf(host, sizeof host, "https://127.0.0.1:%d", f.c.scv[0].port);
    alias(&f, "ip", host, 0);
    shard(&f, target, "ip", "add");
    expect_assigned_to(&f, target, 0);
    stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assign_over_tls),
        cmocka_unit_test(test_assign_past_silent_scv),
        cmocka_unit_test(test_assign_after_scv_died),
        cmocka_unit_test(test_assign_skips_unverified_domain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
