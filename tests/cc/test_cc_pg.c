/* cc_pg's prepared statements against a private PostgreSQL server
 * (pg_harness): a statement is prepared once per connection and still
 * planned for its values where that matters, texts built in one reused
 * buffer are told apart, the prepared ones stay within CC_PG_STATEMENTS
 * however many texts run, a board's first page is planned once, and a
 * connection reopened after the server restarts prepares them again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_credit.h"
#include "cc/cc_pg.h"
#include "cc/cc_store.h"
#include "pg_harness.h"
#include "util/fs.h"
#include "util/log.h"

static pg_harness *server;
static char url[256];

/* Runs sql (with one parameter, or none) and returns its first value as a
 * number; fails the test when the statement fails. */
static long one_value(cc_pg_conn *c, const char *sql, const char *param)
{
    PGresult *res = NULL;
    assert_int_equal(cc_pg_query(c, &res, sql, param ? 1 : 0, param ? &param : NULL), STATUS_OK);
    assert_int_equal(PQntuples(res), 1);
    long v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

/* This session's prepared statements whose text is sql. */
static long prepared_count(cc_pg_conn *c, const char *sql)
{
    return one_value(c, "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", sql);
}

static void test_prepared_once(void **state)
{
    cc_pg *p = *state;
    struct status st;
    cc_pg_conn *c = cc_pg_acquire(p);
    assert_non_null(c);

    for (long i = 0; i < 8; i++) {
        char arg[16];
        snprintf(arg, sizeof arg, "%ld", i);
        assert_int_equal(one_value(c, "SELECT $1::int + 1", arg), i + 1);
    }
    assert_int_equal(prepared_count(c, "SELECT $1::int + 1"), 1);
    /* A queue's first rows (as the credit fold takes them): planned for
     * the limit at hand, an index range, not once for any limit, a scan of
     * the whole table. */
    assert_int_equal(cc_pg_script(c,
                                  "CREATE TABLE q(id bigserial PRIMARY KEY);"
                                  " INSERT INTO q SELECT FROM generate_series(1, 20000); ANALYZE q",
                                  &st),
                     STATUS_OK);
    const char *take = "SELECT count(*) FROM q WHERE id IN (SELECT id FROM q ORDER BY id LIMIT $1)";
    for (int i = 0; i < 8; i++)
        assert_int_equal(one_value(c, take, "10"), 10);
    assert_int_equal(
        one_value(c, "SELECT generic_plans FROM pg_prepared_statements WHERE statement = $1", take), 0);
    /* Transaction control runs as it is. */
    assert_int_equal(cc_pg_query(c, NULL, "BEGIN", 0, NULL), STATUS_OK);
    assert_int_equal(cc_pg_query(c, NULL, "COMMIT", 0, NULL), STATUS_OK);
    assert_int_equal(
        one_value(c, "SELECT count(*) FROM pg_prepared_statements WHERE statement ~ '^(BEGIN|COMMIT)'", NULL),
        0);
    cc_pg_release(c);
}

/* Texts made at run time in the same buffer, more of them than the bound,
 * each run twice: every run answers its own text, and the session never
 * holds more than CC_PG_STATEMENTS of them. */
static void test_many_texts(void **state)
{
    cc_pg *p = *state;
    char sql[64];
    cc_pg_conn *c = cc_pg_acquire(p);
    assert_non_null(c);

    for (int round = 0; round < 2; round++) {
        for (long i = 0; i < 3 * CC_PG_STATEMENTS; i++) {
            snprintf(sql, sizeof sql, "SELECT %ld", i);
            assert_int_equal(one_value(c, sql, NULL), i);
        }
    }
    long held = one_value(c, "SELECT count(*) FROM pg_prepared_statements", NULL);
    assert_true(held <= CC_PG_STATEMENTS);
    assert_true(held >= CC_PG_STATEMENTS / 2);
    cc_pg_release(c);
}

/* The first page of the week board (cc_board_sql) on 50,000 rows: its
 * text carries the page's size, so PostgreSQL reuses one plan for it,
 * which it never does for a LIMIT $2 OFFSET $3 of unknown size. */
static void test_board_first_page(void **state)
{
    cc_pg *p = *state;
    struct status st;
    char dir[] = "/tmp/test_cc_pg.XXXXXX", rows[768], total[256];
    assert_non_null(mkdtemp(dir));
    cc_store *store = cc_store_open(url, dir, "pass", NULL, &st); /* the schema */
    assert_non_null(store);
    cc_store_close(store);
    fs_rm_rf(dir);
    cc_pg_conn *c = cc_pg_acquire(p);
    assert_non_null(c);
    assert_int_equal(cc_pg_script(c,
                                  "INSERT INTO donor_credit(name, week, week_points, week_fragments)"
                                  " SELECT 'd' || g, 7, g, 1 FROM generate_series(1, 50000) g;"
                                  " ANALYZE donor_credit",
                                  &st),
                     STATUS_OK);

    assert_int_equal(cc_board_sql(0, CC_PERIOD_WEEK, 1, '$', rows, sizeof rows, total, sizeof total), 1);
    for (int i = 0; i < 8; i++) {
        PGresult *res = NULL;
        assert_int_equal(cc_pg_query(c, &res, rows, 1, (const char *[]){"7"}), STATUS_OK);
        assert_int_equal(PQntuples(res), CC_BOARD_LIMIT_DEFAULT);
        PQclear(res);
    }
    assert_int_equal(
        one_value(c, "SELECT (generic_plans > 0)::int FROM pg_prepared_statements WHERE statement = $1",
                  rows),
        1);
    cc_pg_release(c);
}

/* The server restarts: a retried read and, on the connection opened for
 * the next call, a write run the statements they ran before. */
static void test_restart(void **state)
{
    cc_pg *p = *state;
    const char *insert = "INSERT INTO t(v) VALUES ($1::int)";
    cc_pg_conn *c = cc_pg_acquire(p);
    assert_non_null(c);
    assert_int_equal(cc_pg_query(c, NULL, "CREATE TABLE IF NOT EXISTS t(v int)", 0, NULL), STATUS_OK);
    assert_int_equal(cc_pg_write_one(c, insert, 1, (const char *[]){"1"}, 1), STATUS_OK);
    assert_int_equal(one_value(c, "SELECT count(*) FROM t", NULL), 1);
    cc_pg_release(c);

    log_set_quiet(1);
    assert_int_equal(pg_harness_stop(server), 0);
    assert_int_equal(pg_harness_resume(server), 0);

    /* A read first on a stale connection is sent again on a new one. */
    c = cc_pg_acquire(p);
    assert_non_null(c);
    assert_int_equal(one_value(c, "SELECT count(*) FROM t", NULL), 1);
    cc_pg_release(c);

    assert_int_equal(pg_harness_stop(server), 0);
    assert_int_equal(pg_harness_resume(server), 0);
    /* A write is not: it fails once, and the next call reconnects. */
    c = cc_pg_acquire(p);
    assert_non_null(c);
    assert_int_equal(cc_pg_write_one(c, insert, 1, (const char *[]){"2"}, 1), STATUS_UNAVAILABLE);
    cc_pg_release(c);
    c = cc_pg_acquire(p);
    assert_non_null(c);
    assert_int_equal(cc_pg_write_one(c, insert, 1, (const char *[]){"3"}, 1), STATUS_OK);
    assert_int_equal(one_value(c, "SELECT sum(v) FROM t", NULL), 4);
    cc_pg_release(c);
    log_set_quiet(0);
}

static int setup(void **state)
{
    struct status st;
    *state = cc_pg_open(url, &st);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    cc_pg_close(*state);
    return 0;
}

int main(void)
{
    server = pg_harness_start();
    if (!server || pg_harness_create_db(server, "prep", url, sizeof url) != 0) {
        fprintf(stderr, "cannot start a private PostgreSQL server for the tests\n");
        pg_harness_free(server);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_prepared_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_texts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_board_first_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
    };
    int rc = cmocka_run_group_tests_name("cc_pg", tests, NULL, NULL);
    pg_harness_free(server);
    return rc;
}
