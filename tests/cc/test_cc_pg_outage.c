/* PostgreSQL stops while two CCs run on it: requests that need the
 * database get 503 {"error"} at once, memory-only paths (assign without a
 * donor, /scvs/status) keep serving, nothing crashes; once the server is
 * back, both CCs write again and see each other's changes, with no
 * restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cc_pg_pair.h"
#include "harness.h"
#include "metrics_page.h"
#include "scv_proc.h"

#define VISIBLE_MS 2000
/* How long after the server is back a CC may take to reconnect. */
#define RECOVER_MS 10000
#define ASSIGN "/core/assign"

static int running(pid_t pid)
{
    int status;
    return waitpid(pid, &status, WNOHANG) == 0;
}

/* Every request below needs the database. */
static void expect_outage(const struct cc_pg_pair *p, const struct daemon_proc *d, const char *key,
                          const char *donor_body, const char *target)
{
    char path[256], stats[512];
    cc_daemon_expect(d, 503, "POST", "/targets", p->manager, "{\"engines\":[\"openmm\"]}");
    cc_daemon_expect(d, 503, "GET", "/targets", p->manager, NULL);
    cc_daemon_expect(d, 503, "GET", "/users/verify", p->manager, NULL);
    cc_daemon_expect(d, 503, "POST", "/engines/keys", p->admin, "{\"engine\":\"x\",\"description\":\"d\"}");
    cc_daemon_expect(d, 503, "GET", "/engines/keys", p->admin, NULL);
    cc_daemon_expect(d, 503, "POST", "/donors", NULL,
                     "{\"username\":\"new\",\"password\":\"pw\",\"email\":\"n@x\"}");
    cc_daemon_expect(d, 503, "PUT", "/scvs/register", CC_DAEMON_SECRET,
                     "{\"name\":\"s9\",\"host\":\"127.0.0.1:1\",\"password\":\"pw\"}");
    snprintf(path, sizeof path, "/targets/info/%s", target);
    cc_daemon_expect(d, 503, "GET", path, NULL, NULL);
    snprintf(
        stats, sizeof stats,
        "{\"fragments\":[{\"id\":\"f-out\",\"target_id\":\"%s\",\"stream_id\":\"u:s1\",\"engine\":\"openmm\","
        "\"user\":\"joe\",\"start_time\":1,\"end_time\":2,\"frames\":1}]}",
        target);
    cc_daemon_expect(d, 503, "POST", "/stats", CC_DAEMON_SECRET, stats);
    /* A donor token is checked in the database; the core may retry. */
    cc_daemon_expect(d, 503, "POST", ASSIGN, key, donor_body);
    /* Memory only: the cached key, target and SCV, and the live SCV itself. */
    cc_daemon_expect(d, 200, "POST", ASSIGN, key, NULL);
    assert_int_equal(cc_pair_scv_online(d, "s1"), 1);
}

static void test_database_restart(void **state)
{
    (void)state;
    struct cc_pg_pair p;
    char key[64], key2[64], donor[64], target[64], body[256];
    int port = 0;
    cc_pg_pair_start(&p);
    struct daemon_proc *a = &p.cc[0], *b = &p.cc[1];

    cc_daemon_get(a, "POST", "/engines/keys", p.admin, "{\"engine\":\"openmm\",\"description\":\"k\"}", "key",
                  key, sizeof key);
    cc_daemon_get(a, "POST", "/donors", NULL,
                  "{\"username\":\"joe\",\"password\":\"pw\",\"email\":\"joe@x\"}", "token", donor,
                  sizeof donor);
    cc_daemon_get(a, "POST", "/targets", p.manager, "{\"engines\":[\"openmm\"],\"stage\":\"public\"}",
                  "target_id", target, sizeof target);
    pid_t scv = cc_pair_scv_start(a, "s1", &port);
    /* One stream per assignment below. */
    for (int i = 0; i < 8; i++)
        scv_proc_add_stream(port, p.manager, target);
    /* Both CCs have the key, the target and its shard cached before the
     * database goes away. */
    snprintf(body, sizeof body, "{\"target_id\":\"%s\"}", target);
    assert_int_equal(cc_pair_wait(b, 200, NULL, VISIBLE_MS, "POST", ASSIGN, key, body), 0);
    assert_int_equal(cc_pair_scv_online(a, "s1"), 1);
    assert_int_equal(cc_pair_scv_online(b, "s1"), 1);
    snprintf(body, sizeof body, "{\"donor_token\":\"%s\"}", donor);

    assert_int_equal(pg_harness_stop(p.pg), 0);
    expect_outage(&p, a, key, body, target);
    expect_outage(&p, b, key, body, target);
    /* Still so a few polls later, and nobody crashed. */
    usleep(1200000);
    expect_outage(&p, b, key, body, target);
    assert_true(running(a->pid) && running(b->pid));
    /* Its metrics say so. */
    char *page = metrics_page_get(b->url);
    assert_true(metrics_page_value(page, "siegetank_cc_database_errors_total") >= 10);
    assert_true(metrics_page_value(page, "siegetank_cc_assignments_total{outcome=\"unavailable\"}") == 2);
    free(page);

    assert_int_equal(pg_harness_resume(p.pg), 0);
    /* Writes work again on both, without a restart. */
    assert_int_equal(cc_pair_wait(a, 200, NULL, RECOVER_MS, "POST", ASSIGN, key, body), 0);
    assert_int_equal(cc_pair_wait(b, 200, NULL, RECOVER_MS, "GET", "/users/verify", p.manager, NULL), 0);
    cc_daemon_get(b, "POST", "/engines/keys", p.admin, "{\"engine\":\"openmm\",\"description\":\"after\"}",
                  "key", key2, sizeof key2);
    /* And the change polls resumed: A sees B's new key. */
    assert_int_equal(cc_pair_wait(a, 200, NULL, VISIBLE_MS, "POST", ASSIGN, key2, NULL), 0);
    /* The stats refused during the outage were not half-stored. */
    json_t *v = NULL;
    char stats[512];
    snprintf(
        stats, sizeof stats,
        "{\"fragments\":[{\"id\":\"f-out\",\"target_id\":\"%s\",\"stream_id\":\"u:s1\",\"engine\":\"openmm\","
        "\"user\":\"joe\",\"start_time\":1,\"end_time\":2,\"frames\":1}]}",
        target);
    assert_int_equal(cc_daemon_call(a, "POST", "/stats", CC_DAEMON_SECRET, stats, &v), 200);
    assert_int_equal(json_integer_value(json_object_get(v, "inserted")), 1);
    json_decref(v);

    assert_int_equal(harness_stop(scv, SIGTERM, 20), 0);
    cc_pg_pair_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_database_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
