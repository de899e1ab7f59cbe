/* sqldb: the SQLite helper layer's schema versioning and statement
 * helpers, on a scratch file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/log.h"
#include "util/sqldb.h"

typedef struct {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/st-sqldb.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    fs_rm_rf(f->dir);
    free(f);
    return 0;
}

static const sqldb_schema_step steps[] = {
    {NULL, "CREATE TABLE a(x INTEGER);"},
    {NULL, "CREATE TABLE b(y TEXT);"},
};

static int query_int(sqldb *db, const char *sql)
{
    sqlite3_stmt *st = sqldb_prepare(db, sql, NULL);
    assert_non_null(st);
    assert_int_equal(sqldb_row(db, st, "test"), STATUS_OK);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static sqldb *open_db(fixture *f, int n, status_code want, struct status *st)
{
    sqldb *db = sqldb_open(f->path, "test database", NULL, st);
    assert_non_null(db);
    assert_int_equal(sqldb_migrate(db, steps, n, st), want);
    return db;
}

/* Steps run once, in order; the version is recorded in schema_version and
 * mirrored in user_version; a later program's extra step runs alone. */
static void test_migrate(void **state)
{
    fixture *f = *state;
    struct status st;
    sqldb *db = open_db(f, 1, STATUS_OK, &st);
    assert_int_equal(query_int(db, "SELECT max(version) FROM schema_version"), 1);
    assert_int_equal(query_int(db, "PRAGMA user_version"), 1);
    sqldb_close(db);

    db = open_db(f, 1, STATUS_OK, &st); /* nothing to do: no second CREATE */
    sqldb_close(db);
    db = open_db(f, 2, STATUS_OK, &st);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'b'"), 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM schema_version"), 1);
    sqldb_close(db);

    db = open_db(f, 1, STATUS_CONFLICT, &st); /* a newer file is refused */
    assert_non_null(strstr(st.msg, "newer"));
    sqldb_close(db);
}

/* A file of the older scheme (only PRAGMA user_version) upgrades from the
 * version it records. */
static void test_legacy_user_version(void **state)
{
    fixture *f = *state;
    struct status st;
    sqldb *db = sqldb_open(f->path, "test database", NULL, &st);
    assert_int_equal(sqldb_exec(db, "CREATE TABLE a(x INTEGER); PRAGMA user_version = 1"), STATUS_OK);
    sqldb_close(db);
    db = open_db(f, 2, STATUS_OK, &st);
    assert_int_equal(query_int(db, "SELECT max(version) FROM schema_version"), 2);
    sqldb_close(db);
}

/* A failing step leaves the file as it was. */
static void test_failed_step_rolls_back(void **state)
{
    fixture *f = *state;
    struct status st;
    const sqldb_schema_step bad[] = {{NULL, "CREATE TABLE a(x INTEGER);"}, {NULL, "CREATE TABLE a(y);"}};
    sqldb *db = sqldb_open(f->path, "test database", NULL, &st);
    assert_int_equal(sqldb_migrate(db, bad, 2, &st), STATUS_IO);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master"), 0);
    sqldb_close(db);
}

static void test_statements(void **state)
{
    fixture *f = *state;
    struct status st;
    sqldb *db = open_db(f, 1, STATUS_OK, &st);
    assert_int_equal(sqldb_exec(db, "CREATE UNIQUE INDEX a_x ON a(x)"), STATUS_OK);
    assert_int_equal(sqldb_run(db, "insert", "INSERT INTO a(x) VALUES (?1)", "i", (int64_t)7), STATUS_OK);
    assert_int_equal(sqldb_run(db, "insert", "INSERT INTO a(x) VALUES (?1)", "i", (int64_t)7), STATUS_EXISTS);
    assert_int_equal(
        sqldb_changed_one(db, sqldb_run(db, "update", "UPDATE a SET x = 8 WHERE x = ?1", "i", (int64_t)9)),
        STATUS_NOT_FOUND);
    assert_int_equal(sqldb_add_column(db, "a", "z", "TEXT"), STATUS_OK);
    assert_int_equal(sqldb_add_column(db, "a", "z", "TEXT"), STATUS_OK); /* present: no change */
    assert_int_equal(sqldb_run(db, "update", "UPDATE a SET z = ?1", "t", "zed"), STATUS_OK);
    char **v = NULL;
    size_t n = 0;
    assert_int_equal(sqldb_collect(db, sqldb_prepare(db, "SELECT z FROM a", NULL), (void **)&v, &n, sizeof *v,
                                   sqldb_fill_strdup, "list"),
                     STATUS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0], "zed");
    free(v[0]);
    free(v);
    assert_int_equal(sqldb_begin(db, 1), STATUS_OK);
    assert_int_equal(sqldb_run(db, "insert", "INSERT INTO a(x) VALUES (?1)", "i", (int64_t)1), STATUS_OK);
    assert_int_equal(sqldb_end(db, STATUS_INVALID), STATUS_INVALID); /* rolled back */
    assert_int_equal(query_int(db, "SELECT count(*) FROM a"), 1);
    sqldb_close(db);
}

int main(void)
{
    log_set_quiet(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_user_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_step_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statements, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
