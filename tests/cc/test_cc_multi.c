/* Two CC daemons on one PostgreSQL database: a change made through one
 * (engine key, target, SCV registration, shard, stage, engines; deletions of
 * shards, targets and keys) reaches the other's assignment path within
 * VISIBLE_MS, through its change-counter poll, and a change through the
 * second reaches the first. The two share nothing but cc.conf's cc_pass and
 * database: the secrets sealed by one are opened by the other. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cc_pg_pair.h"
#include "harness.h"
#include "scv_proc.h"
#include "util/fs.h"

/* Issue 6: visible to every other CC within 2 seconds. */
#define VISIBLE_MS 2000
#define ASSIGN "/core/assign"

/* Polls GET /scvs/status until name is listed; 0 or -1 after deadline_ms. */
static int wait_listed(const struct daemon_proc *d, const char *name, int deadline_ms)
{
    for (int waited = 0;; waited += 50) {
        if (cc_pair_scv_online(d, name) != -1)
            return 0;
        if (waited >= deadline_ms)
            return -1;
        usleep(50000);
    }
}

static void test_changes_reach_the_other_cc(void **state)
{
    (void)state;
    struct cc_pg_pair p;
    char key[64], target[64], body[256], path[256];
    int port = 0;
    cc_pg_pair_start(&p);
    const struct daemon_proc *a = &p.cc[0], *b = &p.cc[1];

    /* An engine key made through A opens B's assign. */
    cc_daemon_get(a, "POST", "/engines/keys", p.admin, "{\"engine\":\"openmm\",\"description\":\"k\"}", "key",
                  key, sizeof key);
    assert_int_equal(
        cc_pair_wait(b, 400, "no public target with shards", VISIBLE_MS, "POST", ASSIGN, key, NULL), 0);

    /* A new (private) target: B knows it, without shards yet. */
    cc_daemon_get(a, "POST", "/targets", p.manager, "{\"engines\":[\"openmm\"],\"stage\":\"private\"}",
                  "target_id", target, sizeof target);
    snprintf(body, sizeof body, "{\"target_id\":\"%s\"}", target);
    assert_int_equal(cc_pair_wait(b, 400, "has no shards", VISIBLE_MS, "POST", ASSIGN, key, body), 0);

    /* An SCV registers through A; B lists it once A has stored it. */
    pid_t scv = cc_pair_scv_start(a, "s1", &port);
    assert_int_equal(wait_listed(a, "s1", 30000), 0);
    assert_int_equal(wait_listed(b, "s1", VISIBLE_MS), 0);

    /* Streams on the SCV add the shard through A: B assigns one by id. */
    scv_proc_add_stream(port, p.manager, target);
    scv_proc_add_stream(port, p.manager, target);
    assert_int_equal(cc_pair_wait(b, 200, NULL, VISIBLE_MS, "POST", ASSIGN, key, body), 0);

    /* Private targets are never drawn, until A makes it public. */
    cc_daemon_expect(b, 400, "POST", ASSIGN, key, NULL);
    snprintf(path, sizeof path, "/targets/update/%s", target);
    cc_daemon_expect(a, 200, "PUT", path, p.manager, "{\"stage\":\"public\"}");
    assert_int_equal(cc_pair_wait(b, 200, NULL, VISIBLE_MS, "POST", ASSIGN, key, NULL), 0);

    /* Removing the shard through A takes the target off B's draw. */
    snprintf(path, sizeof path, "/targets/shards/%s", target);
    cc_daemon_expect(a, 200, "PUT", path, CC_DAEMON_SECRET, "{\"scv\":\"s1\",\"op\":\"remove\"}");
    assert_int_equal(cc_pair_wait(b, 400, "has no shards", VISIBLE_MS, "POST", ASSIGN, key, body), 0);

    /* An engine list changed through A refuses the key's engine on B. */
    snprintf(path, sizeof path, "/targets/update/%s", target);
    cc_daemon_expect(a, 200, "PUT", path, p.manager, "{\"engines\":[\"gromacs\"]}");
    assert_int_equal(cc_pair_wait(b, 400, "is not allowed", VISIBLE_MS, "POST", ASSIGN, key, body), 0);

    /* A target deleted through A is unknown to B. */
    snprintf(path, sizeof path, "/targets/delete/%s", target);
    cc_daemon_expect(a, 200, "PUT", path, p.manager, NULL);
    assert_int_equal(cc_pair_wait(b, 400, "unknown target", VISIBLE_MS, "POST", ASSIGN, key, body), 0);

    /* The other way round: the key deleted through B stops working on A. */
    snprintf(path, sizeof path, "/engines/keys/delete/%s", key);
    cc_daemon_expect(b, 200, "PUT", path, p.admin, NULL);
    assert_int_equal(cc_pair_wait(a, 401, NULL, VISIBLE_MS, "POST", ASSIGN, key, NULL), 0);

    assert_int_equal(harness_stop(scv, SIGTERM, 20), 0);
    cc_pg_pair_stop(&p);
}

/* Writes through both CCs at once land once each, and both caches end on
 * the same state: every target made on either is known to both. */
static void test_interleaved_writes(void **state)
{
    (void)state;
    struct cc_pg_pair p;
    char key[64], ids[8][64], body[1024];
    cc_pg_pair_start(&p);
    cc_daemon_get(&p.cc[0], "POST", "/engines/keys", p.admin, "{\"engine\":\"openmm\",\"description\":\"k\"}",
                  "key", key, sizeof key);
    for (int i = 0; i < 8; i++)
        cc_daemon_get(&p.cc[i % 2], "POST", "/targets", p.manager, "{\"engines\":[\"openmm\"]}", "target_id",
                      ids[i], sizeof ids[i]);
    for (int i = 0; i < 8; i++) {
        snprintf(body, sizeof body, "{\"target_id\":\"%s\"}", ids[i]);
        for (int c = 0; c < 2; c++)
            assert_int_equal(
                cc_pair_wait(&p.cc[c], 400, "has no shards", VISIBLE_MS, "POST", ASSIGN, key, body), 0);
    }
    json_t *v = NULL;
    assert_int_equal(cc_daemon_call(&p.cc[1], "GET", "/targets", p.manager, NULL, &v), 200);
    assert_int_equal(json_array_size(json_object_get(v, "targets")), 8);
    json_decref(v);
    cc_pg_pair_stop(&p);
}

/* Times text occurs in the file at path. */
static int count_in_file(const char *path, const char *text)
{
    size_t len;
    char *data = fs_read_file(path, 64 << 20, &len);
    int n = 0;
    for (const char *at = data; at != NULL && (at = strstr(at, text)) != NULL; at++)
        n++;
    free(data);
    return n;
}

/* Assigns a stream of target through d (as a core with key would). */
static void assign_via(const struct daemon_proc *d, const char *key, const char *target)
{
    char body[256];
    snprintf(body, sizeof body, "{\"target_id\":\"%s\"}", target);
    assert_int_equal(cc_pair_wait(d, 200, NULL, VISIBLE_MS, "POST", ASSIGN, key, body), 0);
}

static void public_target(struct cc_pg_pair *p, char *id, size_t n)
{
    cc_daemon_get(&p->cc[0], "POST", "/targets", p->manager,
                  "{\"engines\":[\"openmm\"],\"stage\":\"public\"}", "target_id", id, n);
}

/* Two CCs configured alike (same cc_pass and database, each with its own
 * data folder, no file copied) each assign through the SCVs registered via
 * the other, which needs the SCV's sealed password. A sealed value no key
 * opens costs only its own row: it is logged once, skipped, and both CCs
 * keep following changes and assigning, also after a restart. */
static void test_alike_ccs_share_sealed_secrets(void **state)
{
    (void)state;
    struct cc_pg_pair p;
    char key[64], t1[64], t2[64], t3[64];
    int port1 = 0, port2 = 0;
    cc_pg_pair_start(&p);
    struct daemon_proc *a = &p.cc[0], *b = &p.cc[1];
    cc_daemon_get(a, "POST", "/engines/keys", p.admin, "{\"engine\":\"openmm\",\"description\":\"k\"}", "key",
                  key, sizeof key);
    public_target(&p, t1, sizeof t1);
    public_target(&p, t2, sizeof t2);
    pid_t s1 = cc_pair_scv_start(a, "s1", &port1);
    pid_t s2 = cc_pair_scv_start(b, "s2", &port2);
    for (int c = 0; c < 2; c++) {
        assert_int_equal(wait_listed(&p.cc[c], "s1", 30000), 0);
        assert_int_equal(wait_listed(&p.cc[c], "s2", 30000), 0);
    }
    for (int i = 0; i < 3; i++)
        scv_proc_add_stream(port1, p.manager, t1);
    for (int i = 0; i < 2; i++)
        scv_proc_add_stream(port2, p.manager, t2);
    for (int c = 0; c < 2; c++) {
        assign_via(&p.cc[c], key, t1);
        assign_via(&p.cc[c], key, t2);
    }

    /* A row sealed under no key any CC holds. */
    assert_int_equal(pg_harness_query(p.pg, "shared",
                                      "INSERT INTO scvs(name, host, password_sealed)"
                                      " VALUES ('bad', '127.0.0.1:1', 'ffff:00ff')",
                                      NULL, NULL, 0),
                     0);
    /* A change after it still reaches both, and both assign from it. */
    public_target(&p, t3, sizeof t3);
    for (int i = 0; i < 2; i++)
        scv_proc_add_stream(port2, p.manager, t3);
    for (int c = 0; c < 2; c++)
        assign_via(&p.cc[c], key, t3);
    for (int c = 0; c < 2; c++) {
        assert_int_equal(cc_pair_scv_online(&p.cc[c], "bad"), -1);
        assert_int_equal(count_in_file(p.cc[c].log, "SCV 'bad'"), 1);
    }

    /* A restarted CC loads everything but that row. */
    assert_int_equal(harness_stop(b->pid, SIGTERM, 20), 0);
    cc_daemon_run(b);
    assign_via(b, key, t1);

    assert_int_equal(harness_stop(s1, SIGTERM, 20), 0);
    assert_int_equal(harness_stop(s2, SIGTERM, 20), 0);
    cc_pg_pair_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changes_reach_the_other_cc),
        cmocka_unit_test(test_interleaved_writes),
        cmocka_unit_test(test_alike_ccs_share_sealed_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
