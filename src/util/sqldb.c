#include "util/sqldb.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define BUSY_TIMEOUT_MS 5000

static status_code logged(sqldb *db, const char *what)
{
    log_error("%s: %s failed: %s", db->name, what, sqlite3_errmsg(db->conn));
    return STATUS_IO;
}

sqldb *sqldb_open(const char *path, const char *name, const char *pragmas, struct status *st)
{
    sqldb *db = calloc(1, sizeof *db);
    if (!db) {
        status_fail(st, STATUS_IO, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&db->lock, NULL);
    snprintf(db->name, sizeof db->name, "%s", name);
    if (sqlite3_open_v2(path, &db->conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        status_fail(st, STATUS_IO, "cannot open database %s: %s", path,
                    db->conn ? sqlite3_errmsg(db->conn) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(db->conn, BUSY_TIMEOUT_MS);
    if (pragmas && sqldb_exec(db, pragmas) != STATUS_OK) {
        status_fail(st, STATUS_IO, "cannot configure database %s: %s", path, sqlite3_errmsg(db->conn));
        goto fail;
    }
    return db;
fail:
    sqldb_close(db);
    return NULL;
}

void sqldb_close(sqldb *db)
{
    if (!db)
        return;
    sqlite3_close(db->conn);
    pthread_mutex_destroy(&db->lock);
    free(db);
}

void sqldb_lock(sqldb *db)
{
    pthread_mutex_lock(&db->lock);
}

void sqldb_unlock(sqldb *db)
{
    pthread_mutex_unlock(&db->lock);
}

status_code sqldb_exec(sqldb *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db->conn, sql, NULL, NULL, &msg) == SQLITE_OK)
        return STATUS_OK;
    log_error("%s: '%.40s' failed: %s", db->name, sql, msg ? msg : sqlite3_errmsg(db->conn));
    sqlite3_free(msg);
    return STATUS_IO;
}

status_code sqldb_begin(sqldb *db, int write)
{
    return sqldb_exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN");
}

status_code sqldb_end(sqldb *db, status_code rc)
{
    if (rc == STATUS_OK && sqldb_exec(db, "COMMIT") == STATUS_OK)
        return STATUS_OK;
    if (sqlite3_get_autocommit(db->conn) == 0)
        sqldb_exec(db, "ROLLBACK");
    return rc == STATUS_OK ? STATUS_IO : rc;
}

static sqlite3_stmt *vprepare(sqldb *db, const char *sql, const char *types, va_list ap)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db->conn, sql, -1, &stmt, NULL) != SQLITE_OK) {
        log_error("%s: preparing '%.40s' failed: %s", db->name, sql, sqlite3_errmsg(db->conn));
        return NULL;
    }
    for (int i = 0; types && types[i]; i++) {
        if (types[i] == 't')
            sqlite3_bind_text(stmt, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        else if (types[i] == 'i')
            sqlite3_bind_int64(stmt, i + 1, va_arg(ap, int64_t));
        else
            sqlite3_bind_double(stmt, i + 1, va_arg(ap, double));
    }
    return stmt;
}

sqlite3_stmt *sqldb_prepare(sqldb *db, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *stmt = vprepare(db, sql, types, ap);
    va_end(ap);
    return stmt;
}

status_code sqldb_step(sqldb *db, sqlite3_stmt *stmt, const char *what)
{
    int r = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (r == SQLITE_DONE)
        return STATUS_OK;
    if ((r & 0xff) == SQLITE_CONSTRAINT)
        return STATUS_EXISTS;
    return logged(db, what);
}

status_code sqldb_row(sqldb *db, sqlite3_stmt *stmt, const char *what)
{
    int r = sqlite3_step(stmt);
    if (r == SQLITE_ROW)
        return STATUS_OK;
    if (r == SQLITE_DONE)
        return STATUS_NOT_FOUND;
    return logged(db, what);
}

status_code sqldb_run(sqldb *db, const char *what, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *stmt = vprepare(db, sql, types, ap);
    va_end(ap);
    if (!stmt)
        return STATUS_IO;
    status_code rc = sqldb_step(db, stmt, what);
    sqlite3_finalize(stmt);
    return rc;
}

status_code sqldb_changed_one(sqldb *db, status_code rc)
{
    return rc == STATUS_OK && sqlite3_changes(db->conn) == 0 ? STATUS_NOT_FOUND : rc;
}

/* Grows *v (of elem bytes each) so index n fits, zeroing the new part. */
static int grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t cap2 = *cap ? *cap * 2 : 16;
    void *v2 = realloc(*v, cap2 * elem);
    if (!v2)
        return -1;
    memset((char *)v2 + *cap * elem, 0, (cap2 - *cap) * elem);
    *v = v2;
    *cap = cap2;
    return 0;
}

status_code sqldb_collect(sqldb *db, sqlite3_stmt *stmt, void **v, size_t *n, size_t elem, sqldb_fill_fn fill,
                          const char *what)
{
    size_t cap = *n;
    int r;

    if (!stmt)
        return STATUS_IO;
    while ((r = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (grow(v, &cap, *n, elem) != 0)
            break;
        void *row = (char *)*v + *n * elem;
        ++*n;
        if (fill(stmt, row) != 0)
            break;
    }
    status_code rc = r == SQLITE_DONE ? STATUS_OK : r == SQLITE_ROW ? STATUS_IO : logged(db, what);
    sqlite3_finalize(stmt);
    return rc;
}

int sqldb_fill_strdup(sqlite3_stmt *stmt, void *elem)
{
    char **v = elem;
    *v = sqldb_dup(stmt, 0);
    return *v ? 0 : -1;
}

void sqldb_text(sqlite3_stmt *stmt, int col, char *dst, size_t size)
{
    const unsigned char *v = sqlite3_column_text(stmt, col);
    snprintf(dst, size, "%s", v ? (const char *)v : "");
}

char *sqldb_dup(sqlite3_stmt *stmt, int col)
{
    const unsigned char *v = sqlite3_column_text(stmt, col);
    return strdup(v ? (const char *)v : "");
}

/* One integer from a query that returns one row. */
static status_code query_int(sqldb *db, const char *sql, int *out)
{
    sqlite3_stmt *stmt = sqldb_prepare(db, sql, NULL);
    status_code rc = stmt ? sqldb_row(db, stmt, "reading the schema version") : STATUS_IO;
    if (rc == STATUS_OK)
        *out = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return rc;
}

static status_code read_version(sqldb *db, int *version)
{
    int has_table = 0;
    status_code rc =
        query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
                  &has_table);
    if (rc != STATUS_OK)
        return rc;
    return query_int(
        db, has_table ? "SELECT coalesce(max(version), 0) FROM schema_version" : "PRAGMA user_version",
        version);
}

static status_code write_version(sqldb *db, int n)
{
    char sql[192];
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);"
             "DELETE FROM schema_version; INSERT INTO schema_version(version) VALUES (%d);"
             "PRAGMA user_version = %d",
             n, n);
    return sqldb_exec(db, sql);
}

static status_code run_steps(sqldb *db, const sqldb_schema_step *steps, int from, int n)
{
    for (int i = from; i < n; i++) {
        if ((steps[i].before && steps[i].before(db) != STATUS_OK) ||
            sqldb_exec(db, steps[i].sql) != STATUS_OK)
            return STATUS_IO;
    }
    return from < n ? write_version(db, n) : STATUS_OK;
}

status_code sqldb_migrate(sqldb *db, const sqldb_schema_step *steps, int n, struct status *st)
{
    int version = 0;

    if (sqldb_begin(db, 1) != STATUS_OK)
        return status_fail(st, STATUS_IO, "cannot lock the database: %s", sqlite3_errmsg(db->conn));
    status_code rc = read_version(db, &version);
    if (rc != STATUS_OK) {
        sqldb_end(db, rc);
        return status_fail(st, rc, "cannot read the schema version: %s", sqlite3_errmsg(db->conn));
    }
    if (version > n) {
        sqldb_end(db, STATUS_CONFLICT);
        return status_fail(st, STATUS_CONFLICT,
                           "database schema version %d is newer than this program's (%d); upgrade siegetank",
                           version, n);
    }
    rc = sqldb_end(db, run_steps(db, steps, version, n));
    if (rc != STATUS_OK)
        return status_fail(st, rc, "cannot create or upgrade the schema: %s", sqlite3_errmsg(db->conn));
    return STATUS_OK;
}

status_code sqldb_add_column(sqldb *db, const char *table, const char *column, const char *decl)
{
    char sql[256];
    sqlite3_stmt *stmt =
        sqldb_prepare(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", "tt", table, column);
    status_code rc = stmt ? sqldb_row(db, stmt, "schema lookup") : STATUS_IO;
    sqlite3_finalize(stmt);
    if (rc != STATUS_NOT_FOUND)
        return rc;
    snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", table, column, decl);
    return sqldb_exec(db, sql);
}
