/* The cc_store cases (cc_store_cases.c) against a private PostgreSQL
 * server (pg_harness), one fresh database per case, plus what only the
 * PostgreSQL backend has: URL handling and TLS policy, restarts of the
 * server under an open store, several stores (CCs) on one database. */
#include "cc_store_cases.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cc/cc_pg.h"
#include "harness.h"
#include "pg_harness.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/log.h"

static pg_harness *server;
static int db_seq;

static int pg_contains(store_fixture *f, const char *needle)
{
    char out[32] = "";
    if (pg_harness_query(
            server, f->dbname,
            "SELECT count(*) FROM (SELECT u::text AS t FROM users u"
            " UNION ALL SELECT k::text FROM engine_keys k UNION ALL SELECT t::text FROM targets t"
            " UNION ALL SELECT s::text FROM scvs s) x WHERE strpos(x.t, $1) > 0",
            needle, out, sizeof out) != 0)
        return -1;
    return atoi(out) > 0;
}

static long long pg_stats_rows(store_fixture *f)
{
    char out[32] = "";
    if (pg_harness_query(server, f->dbname, "SELECT count(*) * 1000000 + coalesce(sum(frames), 0) FROM stats",
                         NULL, out, sizeof out) != 0)
        return -1;
    return atoll(out);
}

static const store_backend pg_backend = {pg_contains, pg_stats_rows};

/* A fresh database and data folder in f, without opening a store. */
static int fresh(store_fixture *f)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/test_cc_store_pg.XXXXXX");
    snprintf(f->dbname, sizeof f->dbname, "case%d", ++db_seq);
    f->backend = &pg_backend;
    if (!mkdtemp(f->dir))
        return -1;
    return pg_harness_create_db(server, f->dbname, f->database, sizeof f->database);
}

static int setup(void **state)
{
    store_fixture *f = calloc(1, sizeof *f);
    *state = f;
    if (!f || fresh(f) != 0)
        return -1;
    f->st = store_cases_open(f);
    return f->st ? 0 : -1;
}

static int teardown(void **state)
{
    store_fixture *f = *state;
    cc_store_close(f->st);
    pg_harness_drop_db(server, f->dbname);
    fs_rm_rf(f->dir);
    free(f);
    return 0;
}

static void test_host_policy(void **state)
{
    (void)state;
    char out[256];

    assert_true(cc_pg_host_needs_tls("db.example.org"));
    assert_true(cc_pg_host_needs_tls("db"));
    assert_true(cc_pg_host_needs_tls("127.0.0.1.example.org"));
    assert_false(cc_pg_host_needs_tls("127.0.0.1"));
    assert_false(cc_pg_host_needs_tls("::1"));
    assert_false(cc_pg_host_needs_tls("[::1]"));
    assert_false(cc_pg_host_needs_tls("localhost"));
    assert_false(cc_pg_host_needs_tls("/var/run/postgresql"));
    assert_false(cc_pg_host_needs_tls(""));
    assert_false(cc_pg_host_needs_tls(NULL));

    assert_true(cc_pg_is_url("postgresql://h/db"));
    assert_true(cc_pg_is_url("postgres://h/db"));
    assert_false(cc_pg_is_url("sqlite"));
    assert_false(cc_pg_is_url("postgresql:/h"));

    cc_pg_redact("postgresql://cc:hunter2@db.example.org:5433/siege?sslmode=verify-full", out, sizeof out);
    assert_string_equal(out, "postgresql://cc@db.example.org:5433/siege");
    cc_pg_redact("postgresql://h/db?password=hunter2&user=u", out, sizeof out);
    assert_null(strstr(out, "hunter2"));
    assert_string_equal(out, "postgresql://u@h/db");
    cc_pg_redact("postgresql://u:hunter2@h:notaport:/x?%zz", out, sizeof out);
    assert_null(strstr(out, "hunter2"));
}

/* 1 when the file holds needle. */
static int file_has(const char *path, const char *needle)
{
    size_t len = 0;
    char *data = fs_read_file(path, 16 << 20, &len);
    int found = data && strstr(data, needle) != NULL;
    free(data);
    return found;
}

static status_code new_target(cc_store *st, char id[CC_TARGET_ID_LEN + 1])
{
    const char *engines[] = {"openmm"};
    cc_target_new t = {.owner = "m@x.org", .stage = CC_STAGE_PUBLIC, .engines = engines, .n_engines = 1};
    return cc_store_target_create(st, &t, id, NULL);
}

static void test_open_errors(void **state)
{
    store_fixture *f = *state;
    struct status err = {0};
    char url[512];
    int port = pg_harness_port(server);

    /* Nothing listens there; the reason names the server, never the password. */
    log_set_quiet(1);
    assert_null(cc_store_open("postgresql://cc:hunter2@127.0.0.1:1/x", f->dir, STORE_TEST_PASS, NULL, &err));
    assert_non_null(strstr(err.msg, "cannot connect"));
    assert_non_null(strstr(err.msg, "127.0.0.1:1"));
    assert_null(strstr(err.msg, "hunter2"));
    assert_null(cc_store_open("postgresql://cc:hunter2@127.0.0.1:1/x?connect_timeout=zz", f->dir,
                              STORE_TEST_PASS, NULL, &err));
    assert_null(strstr(err.msg, "hunter2"));
    assert_null(
        cc_store_open("postgresql://cc:hunter2@127.0.0.1:%zz/x", f->dir, STORE_TEST_PASS, NULL, &err));
    assert_null(strstr(err.msg, "hunter2"));

    /* A domain name demands TLS, which this server does not offer; an
     * explicit weaker sslmode is raised, not obeyed. */
    snprintf(url, sizeof url, "postgresql://postgres:hunter2@db.example.org:%d/%s?hostaddr=127.0.0.1", port,
             f->dbname);
    assert_null(cc_store_open(url, f->dir, STORE_TEST_PASS, NULL, &err));
    assert_non_null(strstr(err.msg, "SSL"));
    assert_null(strstr(err.msg, "hunter2"));
    snprintf(url, sizeof url, "postgresql://postgres@db.example.org:%d/%s?hostaddr=127.0.0.1&sslmode=disable",
             port, f->dbname);
    assert_null(cc_store_open(url, f->dir, STORE_TEST_PASS, NULL, &err));
    assert_non_null(strstr(err.msg, "SSL"));
    /* localhost and the socket folder are local: plain connections. */
    snprintf(url, sizeof url, "postgresql://postgres:hunter2@localhost:%d/%s", port, f->dbname);
    cc_store *st = cc_store_open(url, f->dir, STORE_TEST_PASS, NULL, &err);
    assert_non_null(st);
    cc_store_close(st);
    snprintf(url, sizeof url, "postgresql://postgres@/%s?host=%s&port=%d", f->dbname, pg_harness_dir(server),
             port);
    st = cc_store_open(url, f->dir, STORE_TEST_PASS, NULL, &err);
    assert_non_null(st);
    cc_store_close(st);
    log_set_quiet(0);

    /* A version 3 database (its version in meta) is upgraded in place and
     * keeps its rows. */
    char id[CC_TARGET_ID_LEN + 1];
    cc_target t;
    assert_int_equal(new_target(f->st, id), STATUS_OK);
    cc_store_close(f->st);
    f->st = NULL;
    assert_int_equal(pg_harness_query(server, f->dbname, "DROP TABLE schema_version", NULL, NULL, 0), 0);
    assert_int_equal(pg_harness_query(server, f->dbname,
                                      "ALTER TABLE meta ADD COLUMN schema_version integer NOT NULL DEFAULT 3",
                                      NULL, NULL, 0),
                     0);
    store_cases_reopen(f);
    assert_int_equal(cc_store_target_get(f->st, id, &t, NULL), STATUS_OK);
    cc_target_free(&t);

    /* A database from a newer schema is refused, not silently used. */
    cc_store_close(f->st);
    f->st = NULL;
    assert_int_equal(
        pg_harness_query(server, f->dbname, "UPDATE schema_version SET version = 99", NULL, NULL, 0), 0);
    assert_null(cc_store_open(f->database, f->dir, STORE_TEST_PASS, NULL, &err));
    assert_non_null(strstr(err.msg, "newer"));
}

static void stats_one(cc_stats_fragment *fr, const char *id)
{
    memset(fr, 0, sizeof *fr);
    snprintf(fr->id, sizeof fr->id, "%s", id);
    snprintf(fr->target_id, sizeof fr->target_id, "t");
    snprintf(fr->stream_id, sizeof fr->stream_id, "s:scv1");
    fr->frames = 1;
}

/* The server restarts under an open store: calls during the outage fail
 * with IO (never crash or hang), and the first calls after it is back
 * succeed on every pooled connection. */
static void test_restart(void **state)
{
    store_fixture *f = *state;
    char id[CC_TARGET_ID_LEN + 1], id2[CC_TARGET_ID_LEN + 1], engine[CC_ENGINE_MAX + 1];
    char tok[AUTH_TOKEN_HEX_LEN + 1], key[AUTH_TOKEN_HEX_LEN + 1];
    cc_stats_fragment fr;
    cc_snapshot s;
    cc_target t;
    char logpath[128];
    uint64_t v = 0;
    size_t ins = 9;

    /* With a password in the URL (the server trusts loopback and ignores
     * it), which the outage's log lines must not show. */
    cc_store_close(f->st);
    snprintf(f->database, sizeof f->database, "postgresql://postgres:hunter2@127.0.0.1:%d/%s",
             pg_harness_port(server), f->dbname);
    f->st = store_cases_open(f);
    assert_non_null(f->st);
    snprintf(logpath, sizeof logpath, "%s/log.txt", f->dir);
    assert_int_equal(log_open(logpath), 0);

    assert_int_equal(new_target(f->st, id), STATUS_OK);
    assert_int_equal(cc_store_key_create(f->st, "openmm", "d", key, NULL), STATUS_OK);
    log_set_quiet(1);
    assert_int_equal(pg_harness_stop(server), 0);
    assert_int_equal(cc_store_target_get(f->st, id, &t, NULL), STATUS_UNAVAILABLE);
    assert_int_equal(new_target(f->st, id2), STATUS_UNAVAILABLE);
    stats_one(&fr, "during");
    assert_int_equal(cc_store_stats_insert(f->st, &fr, 1, &ins, NULL), STATUS_UNAVAILABLE);
    assert_int_equal(ins, 0);
    assert_int_equal(store_load_all(f->st, &s), STATUS_UNAVAILABLE);
    assert_int_equal(s.n_targets, 0);
    assert_int_equal(cc_store_change_counter(f->st, &v, NULL), STATUS_UNAVAILABLE);
    assert_int_equal(cc_store_create_manager(f->st, "m@x.org", "pw", CC_ROLE_MANAGER, 1, tok, NULL),
                     STATUS_UNAVAILABLE);
    assert_int_equal(pg_harness_resume(server), 0);
    log_set_quiet(0);
    log_close();
    assert_true(file_has(logpath, "cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1:"));
    assert_false(file_has(logpath, "hunter2"));

    /* More calls than pooled connections, so every stale one is met. */
    for (int i = 0; i < 6; i++) {
        assert_int_equal(cc_store_target_get(f->st, id, &t, NULL), STATUS_OK);
        cc_target_free(&t);
    }
    assert_int_equal(store_key_lookup(f->st, key, engine), STATUS_OK);
    assert_int_equal(cc_store_stats_insert(f->st, &fr, 1, &ins, NULL), STATUS_OK);
    assert_int_equal(ins, 1);
    assert_int_equal(store_load_all(f->st, &s), STATUS_OK);
    assert_int_equal(s.n_targets, 1);
    cc_snapshot_free(&s);
    assert_int_equal(new_target(f->st, id2), STATUS_OK);

    /* A second restart with idle connections in the pool. */
    assert_int_equal(pg_harness_stop(server), 0);
    assert_int_equal(pg_harness_resume(server), 0);
    assert_int_equal(cc_store_create_manager(f->st, "m@x.org", "pw", CC_ROLE_MANAGER, 1, tok, NULL),
                     STATUS_OK);
    assert_int_equal(cc_store_change_counter(f->st, &v, NULL), STATUS_OK);
    assert_int_equal(cc_store_target_delete(f->st, id2, NULL), STATUS_OK);
}

/* Two CCs on one database (same cc_pass): each sees the other's
 * writes at once, the change counter tells, and stats count once. */
static void test_two_stores(void **state)
{
    store_fixture *f = *state;
    cc_store *b = store_cases_open(f);
    char id[CC_TARGET_ID_LEN + 1], key[AUTH_TOKEN_HEX_LEN + 1], engine[CC_ENGINE_MAX + 1];
    cc_stats_fragment fr[3];
    uint64_t va = 0, vb = 0, wa = 0, wb = 0;
    size_t ins = 0;
    cc_snapshot s;
    cc_scv *scvs = NULL;
    size_t n = 0;

    assert_non_null(b);
    assert_int_equal(cc_store_change_counter(f->st, &va, NULL), STATUS_OK);
    assert_int_equal(cc_store_change_counter(b, &vb, NULL), STATUS_OK);
    assert_true(va == vb);
    assert_int_equal(new_target(f->st, id), STATUS_OK);
    assert_int_equal(cc_store_shard_add(b, id, "scv1", NULL), STATUS_OK);
    assert_int_equal(cc_store_key_create(b, "openmm", "d", key, NULL), STATUS_OK);
    assert_int_equal(cc_store_scv_upsert(f->st, "scv1", "h:1", "sekrit", NULL), STATUS_OK);
    assert_int_equal(cc_store_change_counter(f->st, &wa, NULL), STATUS_OK);
    assert_int_equal(cc_store_change_counter(b, &wb, NULL), STATUS_OK);
    assert_true(wa > va);
    assert_true(wa == wb);

    assert_int_equal(store_key_lookup(f->st, key, engine), STATUS_OK);
    assert_int_equal(store_scv_list(b, &scvs, &n), STATUS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(scvs[0].password, "sekrit");
    free(scvs);
    assert_int_equal(store_load_all(b, &s), STATUS_OK);
    assert_int_equal(s.n_targets, 1);
    assert_int_equal(s.targets[0].n_shards, 1);
    assert_int_equal(s.n_keys, 1);
    cc_snapshot_free(&s);
    assert_int_equal(cc_store_target_delete(b, id, NULL), STATUS_CONFLICT);

    stats_one(&fr[0], "a");
    stats_one(&fr[1], "b");
    stats_one(&fr[2], "c");
    assert_int_equal(cc_store_stats_insert(f->st, fr, 2, &ins, NULL), STATUS_OK);
    assert_int_equal(ins, 2);
    assert_int_equal(cc_store_stats_insert(b, fr, 3, &ins, NULL),
                     STATUS_OK); /* a retry through the other CC */
    assert_int_equal(ins, 1);
    assert_int_equal(pg_stats_rows(f), 3 * 1000000 + 3);
    cc_store_close(b);
}

/* Text PostgreSQL cannot store (not UTF-8) is refused as input, and the
 * connection stays usable. */
static void test_bad_text(void **state)
{
    store_fixture *f = *state;
    char tok[AUTH_TOKEN_HEX_LEN + 1];
    cc_stats_fragment fr;
    size_t ins = 7;
    int admin = -1;

    for (int i = 0; i < 6; i++)
        assert_int_equal(cc_store_create_manager(f->st, "\xff\xfe@x.org", "pw", CC_ROLE_ADMIN, 1, tok, NULL),
                         STATUS_INVALID);
    stats_one(&fr, "s\xff");
    assert_int_equal(cc_store_stats_insert(f->st, &fr, 1, &ins, NULL), STATUS_INVALID);
    assert_int_equal(ins, 0);
    assert_int_equal(cc_store_admin_exists(f->st, &admin, NULL), STATUS_OK);
    assert_int_equal(admin, 0);
    assert_int_equal(pg_stats_rows(f), 0);
}

typedef struct opener {
    store_fixture *f;
    cc_store *st;
} opener;

static void *open_thread(void *p)
{
    opener *o = p;
    o->st = store_cases_open(o->f);
    return NULL;
}

/* Several CCs starting at once on an empty database: the schema and the
 * sealing salt are made once, every one of them opens, and what one seals
 * the others open. */
static void test_concurrent_create(void **state)
{
    store_fixture *f = *state;
    store_fixture g = {0};
    pthread_t th[4];
    opener o[4];
    char out[16] = "";

    assert_int_equal(fresh(&g), 0);
    fs_rm_rf(g.dir);
    snprintf(g.dir, sizeof g.dir, "%s", f->dir);
    for (int i = 0; i < 4; i++) {
        o[i] = (opener){&g, NULL};
        pthread_create(&th[i], NULL, open_thread, &o[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        assert_non_null(o[i].st);
    char key[AUTH_TOKEN_HEX_LEN + 1];
    assert_int_equal(cc_store_key_create(o[0].st, "openmm", "k", key, NULL), STATUS_OK);
    for (int i = 1; i < 4; i++) {
        cc_engine_key *keys = NULL;
        size_t n = 0;
        assert_int_equal(cc_store_key_list(o[i].st, &keys, &n, NULL), STATUS_OK);
        assert_int_equal(n, 1);
        assert_string_equal(keys[0].key, key);
        free(keys);
    }
    for (int i = 0; i < 4; i++)
        cc_store_close(o[i].st);
    assert_int_equal(pg_harness_query(server, g.dbname, "SELECT count(*) FROM meta", NULL, out, sizeof out),
                     0);
    assert_string_equal(out, "1");
    assert_int_equal(
        pg_harness_query(server, g.dbname, "SELECT count(*) FROM seal_salt", NULL, out, sizeof out), 0);
    assert_string_equal(out, "1");
    pg_harness_drop_db(server, g.dbname);
}

/* 100,000 targets (a third with a shard) load in one call. The time is
 * printed for the record, not asserted. */
static void test_load_100k(void **state)
{
    store_fixture *f = *state;
    cc_snapshot s;

    assert_int_equal(pg_harness_query(server, f->dbname,
                                      "INSERT INTO targets(id, owner, stage, engines, options, weight,"
                                      " creation_date) SELECT gen_random_uuid()::text, 'm@x.org', 'public',"
                                      " '[\"openmm\"]', '{\"steps_per_frame\":' || i || '}', i, 1e9 + i"
                                      " FROM generate_series(1, 100000) i",
                                      NULL, NULL, 0),
                     0);
    assert_int_equal(pg_harness_query(server, f->dbname,
                                      "INSERT INTO shards(target_id, scv) SELECT id, 'scv1' FROM targets"
                                      " WHERE weight::bigint % 3 = 0",
                                      NULL, NULL, 0),
                     0);
    double t0 = clock_mono_s();
    assert_int_equal(store_load_all(f->st, &s), STATUS_OK);
    printf("load_all of 100000 targets: %.0f ms\n", (clock_mono_s() - t0) * 1000);
    assert_int_equal(s.n_targets, 100000);
    size_t sharded = 0;
    for (size_t i = 0; i < s.n_targets; i++) {
        const cc_target *t = &s.targets[i];
        if (i > 0)
            assert_true(strcmp(s.targets[i - 1].id, t->id) < 0);
        assert_int_equal(t->n_shards, (long long)t->weight % 3 == 0);
        assert_int_equal(json_integer_value(json_object_get(t->options, "steps_per_frame")),
                         (long long)t->weight);
        sharded += t->n_shards;
    }
    assert_int_equal(sharded, 33333);
    cc_snapshot_free(&s);
}

/* Opens url with the log captured; 1 when the store opened and its log
 * line says TLS, 0 when it opened without, -1 when it did not open (the
 * reason in err). */
static int open_tls(store_fixture *f, const char *url, struct status *err)
{
    char logpath[128];
    snprintf(logpath, sizeof logpath, "%s/tls.log", f->dir);
    unlink(logpath);
    log_set_quiet(1);
    assert_int_equal(log_open(logpath), 0);
    cc_store *st = cc_store_open(url, f->dir, STORE_TEST_PASS, NULL, err);
    log_close();
    log_set_quiet(0);
    if (!st)
        return -1;
    cc_store_close(st);
    return file_has(logpath, "(TLS)");
}

/* With TLS on the server: a domain name gets an encrypted connection even
 * when the URL asks for less, IP literals may stay plain, and verify-full
 * checks the certificate's name against the host. Runs last: it leaves
 * TLS on. */
static void test_tls(void **state)
{
    store_fixture *f = *state;
    char pki[128], cert[160], chain[160], both[160], key[160], root[160], url[1024];
    struct status err = {0};
    size_t n1 = 0, n2 = 0;
    int port = pg_harness_port(server);

    snprintf(pki, sizeof pki, "%s/pki", f->dir);
    assert_int_equal(fs_mkdir_p(pki, 0700), 0);
    assert_int_equal(harness_make_pki(pki), 0);
    snprintf(cert, sizeof cert, "%s/cert.pem", pki);
    snprintf(chain, sizeof chain, "%s/chain.pem", pki);
    snprintf(both, sizeof both, "%s/server.pem", pki);
    snprintf(key, sizeof key, "%s/key.pem", pki);
    snprintf(root, sizeof root, "%s/root.pem", pki);
    char *leaf = fs_read_file(cert, 1 << 20, &n1), *inter = fs_read_file(chain, 1 << 20, &n2);
    assert_non_null(leaf);
    assert_non_null(inter);
    assert_int_equal(fs_write_file(both, leaf, n1, 0), 0);
    assert_int_equal(fs_append_file(both, inter, n2, 0), 0);
    free(leaf);
    free(inter);
    assert_int_equal(pg_harness_enable_tls(server, both, key), 0);

    snprintf(url, sizeof url, "postgresql://postgres@db.example.org:%d/%s?hostaddr=127.0.0.1&sslmode=disable",
             port, f->dbname);
    assert_int_equal(open_tls(f, url, &err), 1);
    snprintf(url, sizeof url, "postgresql://postgres@127.0.0.1:%d/%s?sslmode=disable", port, f->dbname);
    assert_int_equal(open_tls(f, url, &err), 0);
    /* verify-full is obeyed: the certificate names localhost, not db.example.org. */
    snprintf(url, sizeof url, "postgresql://postgres@localhost:%d/%s?sslmode=verify-full&sslrootcert=%s",
             port, f->dbname, root);
    assert_int_equal(open_tls(f, url, &err), 1);
    snprintf(
        url, sizeof url,
        "postgresql://postgres@db.example.org:%d/%s?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert=%s",
        port, f->dbname, root);
    assert_int_equal(open_tls(f, url, &err), -1);
    assert_non_null(strstr(err.msg, "db.example.org"));
}

int main(void)
{
    server = pg_harness_start();
    if (!server) {
        fprintf(stderr, "cannot start a private PostgreSQL server for the tests\n");
        return 1;
    }
    const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_host_policy),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_stores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_100k, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls, setup, teardown),
    };
    int rc = store_cases_run("cc_store (postgresql)", setup, teardown, extra, sizeof extra / sizeof extra[0]);
    pg_harness_free(server);
    return rc;
}
