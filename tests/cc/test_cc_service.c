/* The Command Center, through the real `siegetank cc` binary on loopback:
 * every endpoint's happy and unhappy paths, the bootstrap, liveness,
 * stats idempotence and a restart.
 *
 * Built twice: test_cc_service runs each CC on its SQLite file, and
 * test_cc_service_pg (CC_TEST_PG=1) gives each CC a fresh database on one
 * private PostgreSQL server, with every assertion the same. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "cc_daemon.h"
#include "harness.h"
#include "util/fs.h"
#include "pg_harness.h"
#include "scv_proc.h"

#define SECRET CC_DAEMON_SECRET

#ifndef CC_TEST_PG
#define CC_TEST_PG 0
#endif

static pg_harness *pg;

/* The database line of a new CC's config: empty (SQLite) or a fresh
 * PostgreSQL database. */
static void database_line(char *out, size_t n)
{
    static int made;
    char name[32], url[256];
    out[0] = '\0';
    if (!CC_TEST_PG)
        return;
    snprintf(name, sizeof name, "cc_%d", ++made);
    assert_int_equal(pg_harness_create_db(pg, name, url, sizeof url), 0);
    snprintf(out, n, "database = '%s'\n", url);
}

static void cc_write_conf(struct daemon_proc *d, const char *extra)
{
    char conf[4096], database[512];
    database_line(database, sizeof database);
    snprintf(conf, sizeof conf, "%s%s", database, extra ? extra : "");
    cc_daemon_prepare(d, conf);
}

static void cc_start(struct daemon_proc *d, const char *extra)
{
    cc_write_conf(d, extra);
    cc_daemon_run(d);
}

static void cc_stop(struct daemon_proc *d)
{
    assert_int_equal(harness_stop(d->pid, SIGTERM, 20), 0);
}

/* A log the test reads whole (malloc'd; asserted present). */
static char *read_log(const char *path)
{
    size_t len = 0;
    char *text = fs_read_file(path, 64u << 20, &len);
    assert_non_null(text);
    return text;
}

/* Runs `siegetank cc -c conf add-manager args...`; returns the exit status
 * and the output (stdout and stderr) in out. */
static int add_manager_cli(const struct daemon_proc *d, const char *const *args, char *out, size_t n)
{
    char log[sizeof d->dir + 16];
    const char *argv[16] = {harness_bin(), "cc", "-c", d->conf, "add-manager"};
    int i = 5;
    for (; *args && i < 15; args++)
        argv[i++] = *args;
    argv[i] = NULL;
    snprintf(log, sizeof log, "%s/cli.log", d->dir);
    unlink(log);
    pid_t pid = harness_spawn(argv, log);
    int rc = harness_wait_exit(pid, 30);
    char *text = read_log(log);
    snprintf(out, n, "%s", text);
    free(text);
    return rc;
}

/* An admin via the loopback bootstrap, then a manager it creates. */
static void make_users(const struct daemon_proc *d, char *admin, char *manager, size_t n)
{
    cc_daemon_get(d, "POST", "/managers", NULL,
                  "{\"email\":\"root@x\",\"password\":\"pw\",\"role\":\"admin\"}", "token", admin, n);
    cc_daemon_get(d, "POST", "/managers", admin,
                  "{\"email\":\"m1@x\",\"password\":\"pw\",\"role\":\"manager\"}", "token", manager, n);
}

static void make_target(const struct daemon_proc *d, const char *token, const char *spec, char *id, size_t n)
{
    cc_daemon_get(d, "POST", "/targets", token, spec, "target_id", id, n);
}

static void test_cli_bootstrap(void **state)
{
    (void)state;
    struct daemon_proc d;
    char out[4096], token[64];
    cc_write_conf(&d, NULL);
    const char *ok[] = {"--email", "a@x", "--password", "pw", "--role", "admin", NULL};
    assert_int_equal(add_manager_cli(&d, ok, out, sizeof out), 0);
    assert_int_equal(strlen(out), 33); /* 32 hex chars and a newline, nothing else */
    assert_int_equal(strspn(out, "0123456789abcdef"), 32);
    snprintf(token, sizeof token, "%.32s", out);
    assert_int_equal(add_manager_cli(&d, ok, out, sizeof out), 1);
    assert_non_null(strstr(out, "already exists"));
    const char *missing[] = {"--email", "b@x", "--role", "admin", NULL};
    assert_int_equal(add_manager_cli(&d, missing, out, sizeof out), 2);
    const char *bad_role[] = {"--email", "b@x", "--password", "pw", "--role", "donor", NULL};
    assert_int_equal(add_manager_cli(&d, bad_role, out, sizeof out), 2);
    const char *bad_weight[] = {"--email", "b@x",      "--password", "pw", "--role",
                                "manager", "--weight", "x",          NULL};
    assert_int_equal(add_manager_cli(&d, bad_weight, out, sizeof out), 2);
    const char *manager[] = {"--email", "m@x",      "--password", "pw", "--role",
                             "manager", "--weight", "2",          NULL};
    assert_int_equal(add_manager_cli(&d, manager, out, sizeof out), 0);

    cc_daemon_run(&d);
    json_t *v = NULL;
    assert_int_equal(cc_daemon_call(&d, "GET", "/users/verify", token, NULL, &v), 200);
    assert_string_equal(json_string_value(json_object_get(v, "user")), "a@x");
    assert_string_equal(json_string_value(json_object_get(v, "role")), "admin");
    json_decref(v);
    /* An admin exists: a tokenless request cannot create managers, even from loopback. */
    cc_daemon_expect(&d, 401, "POST", "/managers", NULL,
                     "{\"email\":\"c@x\",\"password\":\"pw\",\"role\":\"admin\"}");
    cc_stop(&d);
}

static void test_managers(void **state)
{
    (void)state;
    struct daemon_proc d;
    char admin[64], manager[64];
    cc_start(&d, NULL);
    /* Bootstrap from loopback while no admin exists. */
    make_users(&d, admin, manager, sizeof admin);
    cc_daemon_expect(&d, 401, "POST", "/managers", NULL,
                     "{\"email\":\"c@x\",\"password\":\"pw\",\"role\":\"admin\"}");
    cc_daemon_expect(&d, 401, "POST", "/managers", "not-a-token",
                     "{\"email\":\"c@x\",\"password\":\"pw\",\"role\":\"admin\"}");
    cc_daemon_expect(&d, 401, "POST", "/managers", manager,
                     "{\"email\":\"c@x\",\"password\":\"pw\",\"role\":\"manager\"}");
    cc_daemon_expect(&d, 400, "POST", "/managers", admin,
                     "{\"email\":\"m1@x\",\"password\":\"pw\",\"role\":\"manager\"}");
    cc_daemon_expect(&d, 400, "POST", "/managers", admin,
                     "{\"email\":\"c@x\",\"password\":\"pw\",\"role\":\"king\"}");
    cc_daemon_expect(&d, 400, "POST", "/managers", admin,
                     "{\"email\":\"c@x\",\"password\":\"pw\",\"role\":\"donor\"}");
    cc_daemon_expect(&d, 400, "POST", "/managers", admin, "{\"email\":\"c@x\",\"role\":\"manager\"}");
    cc_daemon_expect(&d, 400, "POST", "/managers", admin,
                     "{\"email\":7,\"password\":\"pw\",\"role\":\"manager\"}");
    cc_daemon_expect(&d, 400, "POST", "/managers", admin,
                     "{\"email\":\"c@x\",\"password\":\"pw\",\"role\":\"manager\","
                     "\"weight\":\"heavy\"}");
    cc_daemon_expect(&d, 400, "POST", "/managers", admin, "{\"email\":");
    cc_daemon_expect(&d, 400, "POST", "/managers", admin, "[1,2]");
    /* None of the refusals created c@x. */
    cc_daemon_expect(&d, 401, "POST", "/auth", NULL, "{\"email\":\"c@x\",\"password\":\"pw\"}");
    cc_daemon_expect(&d, 200, "POST", "/managers", admin,
                     "{\"email\":\"c@x\",\"password\":\"pw\",\"role\":\"manager\",\"weight\":3}");
    cc_stop(&d);
}

static void test_auth_and_donors(void **state)
{
    (void)state;
    struct daemon_proc d;
    char admin[64], manager[64], fresh[64], donor[64];
    json_t *v = NULL;
    cc_start(&d, NULL);
    make_users(&d, admin, manager, sizeof admin);
    cc_daemon_get(&d, "POST", "/auth", NULL, "{\"email\":\"m1@x\",\"password\":\"pw\"}", "token", fresh,
                  sizeof fresh);
    assert_string_not_equal(fresh, manager);
    cc_daemon_expect(&d, 200, "GET", "/users/verify", fresh, NULL);
    cc_daemon_expect(&d, 401, "POST", "/auth", NULL, "{\"email\":\"m1@x\",\"password\":\"wrong\"}");
    cc_daemon_expect(&d, 401, "POST", "/auth", NULL, "{\"email\":\"nobody@x\",\"password\":\"pw\"}");
    cc_daemon_expect(&d, 400, "POST", "/auth", NULL, "{\"email\":\"m1@x\"}");
    cc_daemon_expect(&d, 400, "POST", "/auth", NULL, "{\"email\":\"m1@x\",\"password\":5}");

    cc_daemon_get(&d, "POST", "/donors", NULL,
                  "{\"username\":\"joe\",\"password\":\"pw\",\"email\":\"joe@x\"}", "token", donor,
                  sizeof donor);
    cc_daemon_expect(&d, 400, "POST", "/donors", NULL,
                     "{\"username\":\"joe\",\"password\":\"pw\",\"email\":\"other@x\"}");
    cc_daemon_expect(&d, 400, "POST", "/donors", NULL,
                     "{\"username\":\"jim\",\"password\":\"pw\",\"email\":\"joe@x\"}");
    cc_daemon_expect(&d, 400, "POST", "/donors", NULL, "{\"username\":\"jim\",\"password\":\"pw\"}");
    cc_daemon_expect(&d, 400, "POST", "/donors", NULL,
                     "{\"username\":\"\",\"password\":\"pw\",\"email\":\"e@x\"}");
    /* A donor is not a manager: managers' login does not know joe. */
    cc_daemon_expect(&d, 401, "POST", "/auth", NULL, "{\"email\":\"joe\",\"password\":\"pw\"}");
    cc_daemon_expect(&d, 200, "POST", "/donors/auth", NULL, "{\"username\":\"joe\",\"password\":\"pw\"}");
    cc_daemon_expect(&d, 401, "POST", "/donors/auth", NULL, "{\"username\":\"joe\",\"password\":\"nope\"}");
    cc_daemon_expect(&d, 401, "POST", "/donors/auth", NULL, "{\"username\":\"m1@x\",\"password\":\"pw\"}");
    cc_daemon_expect(&d, 400, "POST", "/donors/auth", NULL, "{\"password\":\"pw\"}");

    /* donors/auth replaced the token that POST /donors returned. */
    cc_daemon_expect(&d, 401, "GET", "/users/verify", donor, NULL);
    cc_daemon_get(&d, "POST", "/donors/auth", NULL, "{\"username\":\"joe\",\"password\":\"pw\"}", "token",
                  donor, sizeof donor);
    assert_int_equal(cc_daemon_call(&d, "GET", "/users/verify", donor, NULL, &v), 200);
    assert_string_equal(json_string_value(json_object_get(v, "user")), "joe");
    assert_string_equal(json_string_value(json_object_get(v, "role")), "donor");
    json_decref(v);
    cc_daemon_expect(&d, 401, "GET", "/users/verify", NULL, NULL);
    cc_daemon_expect(&d, 401, "GET", "/users/verify", "0123456789abcdef0123456789abcdef", NULL);
    /* Wrong method, unknown route. */
    cc_daemon_expect(&d, 405, "GET", "/auth", NULL, NULL);
    cc_daemon_expect(&d, 404, "GET", "/no/such/thing", NULL, NULL);
    cc_stop(&d);
}

static void test_body_limit(void **state)
{
    (void)state;
    struct daemon_proc d;
    char body[4096];
    cc_start(&d, "max_body_size = 1024");
    memset(body, ' ', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    body[0] = '{';
    body[sizeof body - 2] = '}';
    cc_daemon_expect(&d, 413, "POST", "/donors", NULL, body);
    cc_daemon_expect(&d, 413, "POST", "/core/assign", "k", body);
    cc_stop(&d);
}

static void test_engine_keys(void **state)
{
    (void)state;
    struct daemon_proc d;
    char admin[64], manager[64], key[64], path[256];
    json_t *v = NULL;
    char log[PATH_MAX + 200], shared[PATH_MAX];
    cc_write_conf(&d, NULL);
    const char *data = d.data;
    /* a data folder as an older version left it: open to others */
    assert_int_equal(mkdir(data, 0755), 0);
    assert_int_equal(chmod(data, 0755), 0);
    cc_daemon_run(&d);
    make_users(&d, admin, manager, sizeof admin);
    cc_daemon_get(&d, "POST", "/engines/keys", admin, "{\"engine\":\"openmm\",\"description\":\"main\"}",
                  "key", key, sizeof key);
    cc_daemon_expect(&d, 401, "POST", "/engines/keys", manager,
                     "{\"engine\":\"openmm\",\"description\":\"x\"}");
    cc_daemon_expect(&d, 401, "POST", "/engines/keys", NULL, "{\"engine\":\"openmm\",\"description\":\"x\"}");
    cc_daemon_expect(&d, 400, "POST", "/engines/keys", admin, "{\"engine\":\"openmm\"}");
    cc_daemon_expect(&d, 400, "POST", "/engines/keys", admin, "{\"description\":\"x\"}");
    cc_daemon_expect(&d, 400, "POST", "/engines/keys", admin, "{\"engine\":[],\"description\":\"x\"}");
    cc_daemon_expect(&d, 400, "POST", "/engines/keys", admin, "{\"engine\":\"openmm\",\"description\":\"\"}");
    cc_daemon_expect(&d, 401, "GET", "/engines/keys", manager, NULL);

    assert_int_equal(cc_daemon_call(&d, "GET", "/engines/keys", admin, NULL, &v), 200);
    assert_int_equal(json_object_size(v), 1);
    json_t *entry = json_object_get(v, key);
    assert_string_equal(json_string_value(json_object_get(entry, "engine")), "openmm");
    assert_string_equal(json_string_value(json_object_get(entry, "description")), "main");
    assert_true(json_is_number(json_object_get(entry, "creation_date")));
    json_decref(v);

    /* The key works for assign (refused for want of targets, but not 401). */
    cc_daemon_expect(&d, 400, "POST", "/core/assign", key, NULL);
    cc_daemon_expect(&d, 400, "PUT", "/engines/keys/delete/0123456789abcdef0123456789abcdef", admin, NULL);
    snprintf(path, sizeof path, "/engines/keys/delete/%s", key);
    cc_daemon_expect(&d, 401, "PUT", path, manager, NULL);
    cc_daemon_expect(&d, 200, "PUT", path, admin, NULL);
    cc_daemon_expect(&d, 400, "PUT", path, admin, NULL);
    cc_daemon_expect(&d, 401, "POST", "/core/assign", key, NULL);
    cc_daemon_expect(&d, 405, "GET", path, admin, NULL);
    assert_int_equal(cc_daemon_call(&d, "GET", "/engines/keys", admin, NULL, &v), 200);
    assert_int_equal(json_object_size(v), 0);
    json_decref(v);
    /* no data file (the database with its WAL and shared memory, logs,
     * secrets) is open to others, and the key never reaches the access log */
    if (harness_private_tree(data, shared) != 0)
        fail_msg("%s may be read by others", shared);
    cc_stop(&d);
    snprintf(log, sizeof log, "%s/access.log", data);
    char *text = read_log(log);
    assert_null(strstr(text, key));
    assert_non_null(strstr(text, "PUT /engines/keys/delete/[redacted] "));
    assert_non_null(strstr(text, "GET /engines/keys/delete/[redacted] "));
    free(text);
}

static int list_has(const struct daemon_proc *d, const char *auth, const char *id)
{
    json_t *v = NULL;
    assert_int_equal(cc_daemon_call(d, "GET", "/targets", auth, NULL, &v), 200);
    int found = 0;
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(v, "targets"), i, item) found |=
        strcmp(json_string_value(item), id) == 0;
    json_decref(v);
    return found;
}

static void test_targets(void **state)
{
    (void)state;
    struct daemon_proc d;
    char admin[64], manager[64], other[64], donor[64], pub[64], priv[64], path[256];
    json_t *v = NULL;
    cc_start(&d, NULL);
    make_users(&d, admin, manager, sizeof admin);
    cc_daemon_get(&d, "POST", "/managers", admin,
                  "{\"email\":\"m2@x\",\"password\":\"pw\",\"role\":\"manager\"}", "token", other,
                  sizeof other);
    cc_daemon_get(&d, "POST", "/donors", NULL,
                  "{\"username\":\"joe\",\"password\":\"pw\",\"email\":\"joe@x\"}", "token", donor,
                  sizeof donor);

    make_target(&d, manager,
                "{\"engines\":[\"openmm\"],\"stage\":\"public\",\"options\":{\"steps\":50},"
                "\"weight\":2}",
                pub, sizeof pub);
    make_target(&d, manager, "{\"engines\":[\"openmm\",\"gromacs\"]}", priv, sizeof priv);
    assert_int_equal(strlen(pub), 36);

    cc_daemon_expect(&d, 401, "POST", "/targets", NULL, "{\"engines\":[\"openmm\"]}");
    cc_daemon_expect(&d, 401, "POST", "/targets", donor, "{\"engines\":[\"openmm\"]}");
    cc_daemon_expect(&d, 400, "POST", "/targets", manager, "{}");
    cc_daemon_expect(&d, 400, "POST", "/targets", manager, "{\"engines\":[]}");
    cc_daemon_expect(&d, 400, "POST", "/targets", manager, "{\"engines\":\"openmm\"}");
    cc_daemon_expect(&d, 400, "POST", "/targets", manager, "{\"engines\":[3]}");
    cc_daemon_expect(&d, 400, "POST", "/targets", manager, "{\"engines\":[\"openmm\"],\"stage\":\"secret\"}");
    cc_daemon_expect(&d, 400, "POST", "/targets", manager, "{\"engines\":[\"openmm\"],\"weight\":-1}");
    cc_daemon_expect(&d, 400, "POST", "/targets", manager, "{\"engines\":[\"openmm\"],\"options\":[1]}");

    /* Lists: own with a token, public without. */
    assert_true(list_has(&d, manager, pub) && list_has(&d, manager, priv));
    assert_true(list_has(&d, NULL, pub) && !list_has(&d, NULL, priv));
    assert_false(list_has(&d, other, pub));
    cc_daemon_expect(&d, 401, "GET", "/targets", "bogus", NULL);

    snprintf(path, sizeof path, "/targets/info/%s", pub);
    assert_int_equal(cc_daemon_call(&d, "GET", path, NULL, NULL, &v), 200);
    assert_string_equal(json_string_value(json_object_get(v, "owner")), "m1@x");
    assert_string_equal(json_string_value(json_object_get(v, "stage")), "public");
    assert_int_equal(json_array_size(json_object_get(v, "shards")), 0);
    assert_int_equal(json_array_size(json_object_get(v, "engines")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "options"), "steps")), 50);
    assert_true(json_number_value(json_object_get(v, "weight")) == 2.0);
    assert_true(json_is_number(json_object_get(v, "creation_date")));
    json_decref(v);
    cc_daemon_expect(&d, 400, "GET", "/targets/info/00000000-0000-4000-8000-000000000000", NULL, NULL);
    cc_daemon_expect(&d, 400, "GET", "/targets/info/..%2F..%2Fetc", NULL, NULL);

    /* Updates: owner or admin only; options merge; weight clamps. */
    snprintf(path, sizeof path, "/targets/update/%s", priv);
    cc_daemon_expect(&d, 401, "PUT", path, other, "{\"stage\":\"public\"}");
    cc_daemon_expect(&d, 401, "PUT", path, NULL, "{\"stage\":\"public\"}");
    cc_daemon_expect(&d, 400, "PUT", path, manager, "{}");
    cc_daemon_expect(&d, 400, "PUT", path, manager, "{\"unknown\":1}");
    cc_daemon_expect(&d, 400, "PUT", path, manager, "{\"stage\":\"secret\"}");
    cc_daemon_expect(&d, 400, "PUT", path, manager, "{\"engines\":[]}");
    cc_daemon_expect(&d, 400, "PUT", path, manager, "{\"weight\":\"x\"}");
    cc_daemon_expect(&d, 400, "PUT", "/targets/update/00000000-0000-4000-8000-000000000000", manager,
                     "{\"weight\":1}");
    cc_daemon_expect(&d, 200, "PUT", path, manager,
                     "{\"stage\":\"beta\",\"options\":{\"a\":1},\"weight\":-5}");
    cc_daemon_expect(&d, 200, "PUT", path, admin, "{\"options\":{\"b\":2},\"engines\":[\"x\"]}");
    snprintf(path, sizeof path, "/targets/info/%s", priv);
    assert_int_equal(cc_daemon_call(&d, "GET", path, NULL, NULL, &v), 200);
    assert_string_equal(json_string_value(json_object_get(v, "stage")), "beta");
    assert_true(json_number_value(json_object_get(v, "weight")) == 0.0);
    assert_int_equal(json_object_size(json_object_get(v, "options")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(v, "engines"), 0)), "x");
    json_decref(v);

    /* Delete: owner or admin; shards block it. */
    char shard_path[256];
    snprintf(shard_path, sizeof shard_path, "/targets/shards/%s", pub);
    cc_daemon_expect(&d, 200, "PUT", shard_path, SECRET, "{\"scv\":\"s1\",\"op\":\"add\"}");
    snprintf(path, sizeof path, "/targets/delete/%s", pub);
    cc_daemon_expect(&d, 401, "PUT", path, other, NULL);
    cc_daemon_expect(&d, 400, "PUT", path, manager, NULL);
    cc_daemon_expect(&d, 200, "PUT", shard_path, SECRET, "{\"scv\":\"s1\",\"op\":\"remove\"}");
    cc_daemon_expect(&d, 200, "PUT", path, admin, NULL);
    cc_daemon_expect(&d, 400, "PUT", path, manager, NULL);
    snprintf(path, sizeof path, "/targets/info/%s", pub);
    cc_daemon_expect(&d, 400, "GET", path, NULL, NULL);
    cc_stop(&d);
}

static int scv_online(const struct daemon_proc *d, const char *name, char *host, size_t n)
{
    json_t *v = NULL;
    assert_int_equal(cc_daemon_call(d, "GET", "/scvs/status", NULL, NULL, &v), 200);
    json_t *s = json_object_get(v, name);
    int online = s == NULL ? -1 : json_is_true(json_object_get(s, "online"));
    if (s != NULL && host != NULL)
        snprintf(host, n, "%s", json_string_value(json_object_get(s, "host")));
    json_decref(v);
    return online;
}

static void test_scv_endpoints(void **state)
{
    (void)state;
    struct daemon_proc d;
    char admin[64], manager[64], target[64], path[256], host[256], body[1024];
    json_t *v = NULL;
    cc_start(&d, "cc_pass_previous = 'rotated-1 rotated-2'\n");
    make_users(&d, admin, manager, sizeof admin);
    make_target(&d, manager, "{\"engines\":[\"openmm\"]}", target, sizeof target);

    const char *reg = "{\"name\":\"s1\",\"host\":\"127.0.0.1:1\",\"password\":\"pw\"}";
    cc_daemon_expect(&d, 401, "PUT", "/scvs/register", NULL, reg);
    cc_daemon_expect(&d, 401, "PUT", "/scvs/register", "wrong", reg);
    cc_daemon_expect(&d, 401, "PUT", "/scvs/register", admin, reg);
    cc_daemon_expect(&d, 400, "PUT", "/scvs/register", SECRET, "{\"name\":\"s1\",\"host\":\"127.0.0.1:1\"}");
    /* the name rule of the SCV's own config (config_name_ok) */
    const char *bad_names[] = {"a:b", ".", "..", ".hidden", "a b", ""};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        snprintf(body, sizeof body, "{\"name\":\"%s\",\"host\":\"h:1\",\"password\":\"pw\"}", bad_names[i]);
        cc_daemon_expect(&d, 400, "PUT", "/scvs/register", SECRET, body);
    }
    cc_daemon_expect(&d, 400, "PUT", "/scvs/register", SECRET,
                     "{\"name\":\"s1\",\"host\":1,\"password\":\"pw\"}");
    assert_int_equal(scv_online(&d, "s1", NULL, 0), -1);
    cc_daemon_expect(&d, 200, "PUT", "/scvs/register", SECRET, reg);
    /* During a cc_pass rotation SCVs may still present a previous one. */
    cc_daemon_expect(&d, 200, "PUT", "/scvs/register", "rotated-2", reg);
    cc_daemon_expect(&d, 401, "PUT", "/scvs/register", "rotated", reg);
    /* Upsert: a second registration moves the SCV. */
    cc_daemon_expect(&d, 200, "PUT", "/scvs/register", SECRET,
                     "{\"name\":\"s1\",\"host\":\"127.0.0.1:2\",\"password\":\"pw\"}");
    assert_int_not_equal(scv_online(&d, "s1", host, sizeof host), -1);
    assert_string_equal(host, "127.0.0.1:2");

    snprintf(path, sizeof path, "/targets/shards/%s", target);
    cc_daemon_expect(&d, 401, "PUT", path, NULL, "{\"scv\":\"s1\",\"op\":\"add\"}");
    cc_daemon_expect(&d, 400, "PUT", path, SECRET, "{\"scv\":\"s1\",\"op\":\"grow\"}");
    cc_daemon_expect(&d, 400, "PUT", path, SECRET, "{\"op\":\"add\"}");
    cc_daemon_expect(&d, 400, "PUT", "/targets/shards/00000000-0000-4000-8000-000000000000", SECRET,
                     "{\"scv\":\"s1\",\"op\":\"add\"}");
    cc_daemon_expect(&d, 200, "PUT", path, SECRET, "{\"scv\":\"s1\",\"op\":\"add\"}");
    cc_daemon_expect(&d, 200, "PUT", path, SECRET, "{\"scv\":\"s1\",\"op\":\"add\"}");
    snprintf(path, sizeof path, "/targets/info/%s", target);
    assert_int_equal(cc_daemon_call(&d, "GET", path, NULL, NULL, &v), 200);
    assert_int_equal(json_array_size(json_object_get(v, "shards")), 1);
    json_decref(v);

    /* (ext) streams of a target: the shard cannot be reached, so it is named. */
    snprintf(path, sizeof path, "/targets/streams/%s", target);
    assert_int_equal(cc_daemon_call(&d, "GET", path, NULL, NULL, &v), 200);
    assert_int_equal(json_array_size(json_object_get(v, "streams")), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(v, "unreachable"), 0)), "s1");
    json_decref(v);
    cc_daemon_expect(&d, 400, "GET", "/targets/streams/00000000-0000-4000-8000-000000000000", NULL, NULL);

    /* Stats: idempotent by fragment id; a bad batch changes nothing. */
    const char *frag = "{\"id\":\"f1\",\"target_id\":\"%s\",\"stream_id\":\"u:s1\",\"engine\":\"openmm\","
                       "\"user\":\"joe\",\"start_time\":1.5,\"end_time\":9,\"frames\":%s}";
    char good[512], bad[512];
    snprintf(good, sizeof good, frag, target, "3");
    snprintf(bad, sizeof bad, frag, target, "-1");
    snprintf(body, sizeof body, "{\"fragments\":[%s]}", good);
    cc_daemon_expect(&d, 401, "POST", "/stats", NULL, body);
    char mixed[2048];
    snprintf(mixed, sizeof mixed, "{\"fragments\":[%s,%s]}", good, bad);
    cc_daemon_expect(&d, 400, "POST", "/stats", SECRET, mixed);
    cc_daemon_expect(&d, 400, "POST", "/stats", SECRET, "{\"fragments\":{}}");
    cc_daemon_expect(&d, 400, "POST", "/stats", SECRET, "{\"fragments\":[{\"id\":\"f2\"}]}");
    assert_int_equal(cc_daemon_call(&d, "POST", "/stats", SECRET, body, &v), 200);
    assert_int_equal(json_integer_value(json_object_get(v, "inserted")), 1);
    json_decref(v);
    assert_int_equal(cc_daemon_call(&d, "POST", "/stats", SECRET, body, &v), 200);
    assert_int_equal(json_integer_value(json_object_get(v, "inserted")), 0);
    json_decref(v);
    cc_daemon_expect(&d, 200, "POST", "/stats", SECRET, "{\"fragments\":[]}");
    cc_stop(&d);
}

/* Polls the status until the SCV's online flag is want (bounded). */
static int wait_online(const struct daemon_proc *d, const char *name, int want, int timeout_s)
{
    for (int i = 0; i < timeout_s * 4; i++) {
        if (scv_online(d, name, NULL, 0) == want)
            return 0;
        usleep(250000);
    }
    return -1;
}

static void test_liveness(void **state)
{
    (void)state;
    struct daemon_proc d;
    char body[512];
    cc_start(&d, NULL);
    int closed = harness_free_port();
    snprintf(body, sizeof body, "{\"name\":\"dead\",\"host\":\"127.0.0.1:%d\",\"password\":\"pw\"}", closed);
    cc_daemon_expect(&d, 200, "PUT", "/scvs/register", SECRET, body);
    /* Any HTTP server answers GET /: the CC itself stands in for a live SCV. */
    snprintf(body, sizeof body, "{\"name\":\"alive\",\"host\":\"127.0.0.1:%d\",\"password\":\"pw\"}", d.port);
    cc_daemon_expect(&d, 200, "PUT", "/scvs/register", SECRET, body);
    assert_int_equal(scv_online(&d, "dead", NULL, 0), 1);
    /* 10 failed checks at 1 s (scv_check_interval) make it offline. */
    assert_int_equal(wait_online(&d, "dead", 0, 60), 0);
    assert_int_equal(scv_online(&d, "alive", NULL, 0), 1);
    /* Re-registering starts a fresh count. */
    snprintf(body, sizeof body, "{\"name\":\"dead\",\"host\":\"127.0.0.1:%d\",\"password\":\"pw\"}", closed);
    cc_daemon_expect(&d, 200, "PUT", "/scvs/register", SECRET, body);
    assert_int_equal(scv_online(&d, "dead", NULL, 0), 1);
    cc_stop(&d);
}

static void test_assign_refusals(void **state)
{
    (void)state;
    struct daemon_proc d;
    char admin[64], manager[64], key[64], other_key[64], donor[64], target[64], bare[64], path[256];
    char body[512];
    json_t *v = NULL;
    cc_start(&d, NULL);
    make_users(&d, admin, manager, sizeof admin);
    cc_daemon_get(&d, "POST", "/engines/keys", admin, "{\"engine\":\"openmm\",\"description\":\"o\"}", "key",
                  key, sizeof key);
    cc_daemon_get(&d, "POST", "/engines/keys", admin, "{\"engine\":\"gromacs\",\"description\":\"g\"}", "key",
                  other_key, sizeof other_key);
    cc_daemon_get(&d, "POST", "/donors", NULL,
                  "{\"username\":\"joe\",\"password\":\"pw\",\"email\":\"joe@x\"}", "token", donor,
                  sizeof donor);
    make_target(&d, manager, "{\"engines\":[\"openmm\"],\"stage\":\"private\"}", target, sizeof target);
    make_target(&d, manager, "{\"engines\":[\"openmm\"],\"stage\":\"public\"}", bare, sizeof bare);

    cc_daemon_expect(&d, 401, "POST", "/core/assign", NULL, NULL);
    cc_daemon_expect(&d, 401, "POST", "/core/assign", "0123456789abcdef0123456789abcdef", NULL);
    cc_daemon_expect(&d, 401, "POST", "/core/assign", manager, NULL);
    /* No public target has shards yet. */
    cc_daemon_expect(&d, 400, "POST", "/core/assign", key, NULL);
    snprintf(body, sizeof body, "{\"target_id\":\"%s\"}", bare);
    cc_daemon_expect(&d, 400, "POST", "/core/assign", key, body);
    cc_daemon_expect(&d, 400, "POST", "/core/assign", key,
                     "{\"target_id\":\"00000000-0000-4000-8000-000000000000\"}");
    cc_daemon_expect(&d, 400, "POST", "/core/assign", key, "{\"target_id\":7}");
    cc_daemon_expect(&d, 400, "POST", "/core/assign", key, "{\"donor_token\":[]}");
    cc_daemon_expect(&d, 400, "POST", "/core/assign", key, "not json");

    /* A shard on an SCV nobody listens on. */
    int closed = harness_free_port();
    snprintf(body, sizeof body, "{\"name\":\"s1\",\"host\":\"127.0.0.1:%d\",\"password\":\"pw\"}", closed);
    cc_daemon_expect(&d, 200, "PUT", "/scvs/register", SECRET, body);
    snprintf(path, sizeof path, "/targets/shards/%s", target);
    cc_daemon_expect(&d, 200, "PUT", path, SECRET, "{\"scv\":\"s1\",\"op\":\"add\"}");
    snprintf(body, sizeof body, "{\"target_id\":\"%s\"}", target);
    cc_daemon_expect(&d, 400, "POST", "/core/assign", other_key, body); /* engine not allowed */
    assert_int_equal(cc_daemon_call(&d, "POST", "/core/assign", key, body, &v), 400);
    assert_string_equal(json_string_value(json_object_get(v, "error")), "no streams available");
    json_decref(v);
    snprintf(body, sizeof body, "{\"target_id\":\"%s\",\"donor_token\":\"bad\"}", target);
    assert_int_equal(cc_daemon_call(&d, "POST", "/core/assign", key, body, &v), 400);
    assert_string_equal(json_string_value(json_object_get(v, "error")), "invalid donor token");
    json_decref(v);
    snprintf(body, sizeof body, "{\"target_id\":\"%s\",\"donor_token\":\"%s\"}", target, donor);
    assert_int_equal(cc_daemon_call(&d, "POST", "/core/assign", key, body, &v), 400);
    assert_string_equal(json_string_value(json_object_get(v, "error")), "no streams available");
    json_decref(v);
    /* A private target is never drawn: without target_id nothing is public with shards. */
    cc_daemon_expect(&d, 400, "POST", "/core/assign", key, NULL);
    cc_stop(&d);
}

static void test_restart_persists(void **state)
{
    (void)state;
    struct daemon_proc d;
    char admin[64], manager[64], key[64], target[64], path[256];
    json_t *v = NULL;
    cc_start(&d, NULL);
    make_users(&d, admin, manager, sizeof admin);
    cc_daemon_get(&d, "POST", "/engines/keys", admin, "{\"engine\":\"openmm\",\"description\":\"d\"}", "key",
                  key, sizeof key);
    make_target(&d, manager, "{\"engines\":[\"openmm\"],\"stage\":\"public\",\"options\":{\"k\":\"v\"}}",
                target, sizeof target);
    cc_daemon_expect(&d, 200, "PUT", "/scvs/register", SECRET,
                     "{\"name\":\"s1\",\"host\":\"127.0.0.1:1\",\"password\":\"pw\"}");
    snprintf(path, sizeof path, "/targets/shards/%s", target);
    cc_daemon_expect(&d, 200, "PUT", path, SECRET, "{\"scv\":\"s1\",\"op\":\"add\"}");
    cc_stop(&d);

    cc_daemon_run(&d);
    cc_daemon_expect(&d, 200, "GET", "/users/verify", admin, NULL);
    cc_daemon_expect(&d, 200, "GET", "/users/verify", manager, NULL);
    cc_daemon_expect(&d, 200, "POST", "/auth", NULL, "{\"email\":\"m1@x\",\"password\":\"pw\"}");
    assert_int_equal(cc_daemon_call(&d, "GET", "/engines/keys", admin, NULL, &v), 200);
    assert_non_null(json_object_get(v, key));
    json_decref(v);
    snprintf(path, sizeof path, "/targets/info/%s", target);
    assert_int_equal(cc_daemon_call(&d, "GET", path, NULL, NULL, &v), 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "options"), "k")), "v");
    assert_string_equal(json_string_value(json_array_get(json_object_get(v, "shards"), 0)), "s1");
    json_decref(v);
    assert_int_not_equal(scv_online(&d, "s1", NULL, 0), -1);
    /* The cache was loaded at start: the key and the public target with a
     * shard reach the SCV stage of assign. */
    assert_int_equal(cc_daemon_call(&d, "POST", "/core/assign", key, NULL, &v), 400);
    assert_string_equal(json_string_value(json_object_get(v, "error")), "no streams available");
    json_decref(v);
    /* The bootstrap is closed for good once an admin exists. */
    cc_daemon_expect(&d, 401, "POST", "/managers", NULL,
                     "{\"email\":\"z@x\",\"password\":\"pw\",\"role\":\"admin\"}");
    cc_stop(&d);
}

/* A real `siegetank scv` registered with this CC; returns its pid. */
static pid_t scv_start(const struct daemon_proc *d, const char *name, int *port)
{
    pid_t pid = scv_proc_start(d->url, SECRET, name, port);
    for (int i = 0; i < 60 && scv_online(d, name, NULL, 0) != 1; i++)
        usleep(250000);
    assert_int_equal(scv_online(d, name, NULL, 0), 1);
    return pid;
}

/* The body of a 200 reply (malloc'd). */
static char *scv_get(int port, const char *path)
{
    char url[256];
    struct harness_response r;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    harness_http("GET", url, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    char *body = r.body;
    r.body = NULL;
    harness_response_free(&r);
    return body;
}

static void test_assign_end_to_end(void **state)
{
    (void)state;
    struct daemon_proc d;
    char admin[64], manager[64], key[64], donor[64], target[64], body[512], expect_url[128];
    json_t *v = NULL;
    int port = 0;
    cc_start(&d, NULL);
    make_users(&d, admin, manager, sizeof admin);
    cc_daemon_get(&d, "POST", "/engines/keys", admin, "{\"engine\":\"openmm\",\"description\":\"o\"}", "key",
                  key, sizeof key);
    cc_daemon_get(&d, "POST", "/donors", NULL,
                  "{\"username\":\"joe\",\"password\":\"pw\",\"email\":\"joe@x\"}", "token", donor,
                  sizeof donor);
    make_target(&d, manager, "{\"engines\":[\"openmm\"],\"stage\":\"private\"}", target, sizeof target);
    /* An offline SCV also holds a shard of the target: it must be skipped. */
    snprintf(body, sizeof body, "{\"name\":\"gone\",\"host\":\"127.0.0.1:%d\",\"password\":\"pw\"}",
             harness_free_port());
    cc_daemon_expect(&d, 200, "PUT", "/scvs/register", SECRET, body);
    char shard_path[256];
    snprintf(shard_path, sizeof shard_path, "/targets/shards/%s", target);
    cc_daemon_expect(&d, 200, "PUT", shard_path, SECRET, "{\"scv\":\"gone\",\"op\":\"add\"}");
    assert_int_equal(wait_online(&d, "gone", 0, 60), 0);

    pid_t scv = scv_start(&d, "live", &port);
    scv_proc_add_stream(port, manager, target);

    /* Private: never drawn, only reachable by target_id. */
    cc_daemon_expect(&d, 400, "POST", "/core/assign", key, NULL);
    snprintf(body, sizeof body, "{\"target_id\":\"%s\",\"donor_token\":\"%s\"}", target, donor);
    assert_int_equal(cc_daemon_call(&d, "POST", "/core/assign", key, body, &v), 200);
    assert_true(json_is_string(json_object_get(v, "token")));
    snprintf(expect_url, sizeof expect_url, "http://127.0.0.1:%d/core/start", port);
    assert_string_equal(json_string_value(json_object_get(v, "url")), expect_url);
    json_decref(v);
    /* The donor is the stream's user on the SCV. */
    char *active = scv_get(port, "/active_streams");
    assert_non_null(strstr(active, "\"joe\""));
    assert_non_null(strstr(active, target));
    free(active);
    /* Its only stream is taken now. */
    assert_int_equal(cc_daemon_call(&d, "POST", "/core/assign", key, body, &v), 400);
    assert_string_equal(json_string_value(json_object_get(v, "error")), "no streams available");
    json_decref(v);

    assert_int_equal(harness_stop(scv, SIGTERM, 20), 0);
    cc_stop(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_bootstrap),     cmocka_unit_test(test_managers),
        cmocka_unit_test(test_auth_and_donors),   cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_engine_keys),       cmocka_unit_test(test_targets),
        cmocka_unit_test(test_scv_endpoints),     cmocka_unit_test(test_liveness),
        cmocka_unit_test(test_assign_refusals),   cmocka_unit_test(test_restart_persists),
        cmocka_unit_test(test_assign_end_to_end),
    };
    if (CC_TEST_PG && (pg = pg_harness_start()) == NULL)
        return 1;
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    pg_harness_free(pg);
    return failed;
}
