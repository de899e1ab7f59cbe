/* sqldb: one SQLite connection shared by threads behind a mutex, and the
 * statement helpers both SQLite stores (the CC's cc_store_sqlite, the
 * SCV's scv_db) are written with.
 *
 * The caller holds the lock (sqldb_lock) around each statement or
 * transaction; every other call expects it held. A failing statement is
 * logged with SQLite's reason under the connection's name and returns
 * STATUS_IO; a constraint violation returns STATUS_EXISTS and a query
 * without a row STATUS_NOT_FOUND, for the caller to decide. The schema
 * version lives in a one-row table schema_version (sqldb_migrate), the
 * same scheme as the CC's PostgreSQL store. */
#ifndef ST_SQLDB_H
#define ST_SQLDB_H

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>

#include "util/status.h"

typedef struct sqldb {
    sqlite3 *conn;
    pthread_mutex_t lock;
    char name[32]; /* in log lines: "cc database", "scv database" */
} sqldb;

/* Opens (creating) the file path, waits up to 5 s for another process's
 * lock, and runs pragmas (may be NULL). NULL with the reason in st. */
sqldb *sqldb_open(const char *path, const char *name, const char *pragmas, struct status *st);
void sqldb_close(sqldb *db); /* NULL is fine */

void sqldb_lock(sqldb *db);
void sqldb_unlock(sqldb *db);

/* Runs a script of statements that return no rows. */
status_code sqldb_exec(sqldb *db, const char *sql);
/* BEGIN IMMEDIATE when write (a second process waits instead of failing
 * halfway), else BEGIN. */
status_code sqldb_begin(sqldb *db, int write);
/* Commits when rc is OK (a failed commit becomes IO), else rolls back;
 * returns the outcome. */
status_code sqldb_end(sqldb *db, status_code rc);

/* Prepares sql and binds ?1, ?2, … from the arguments, one letter of
 * types per parameter: 't' text (const char *, copied), 'i' int64_t,
 * 'd' double. NULL after logging. */
sqlite3_stmt *sqldb_prepare(sqldb *db, const char *sql, const char *types, ...);
/* Steps a statement that returns no rows and resets it for new bindings:
 * OK, EXISTS on a constraint violation, else IO. */
status_code sqldb_step(sqldb *db, sqlite3_stmt *stmt, const char *what);
/* Steps to the next row: OK with the row current, NOT_FOUND when there is
 * none, else IO. */
status_code sqldb_row(sqldb *db, sqlite3_stmt *stmt, const char *what);
/* Prepares, binds (as sqldb_prepare), steps and finalizes a statement that
 * returns no rows: OK, EXISTS or IO. sqlite3_changes(db->conn) then tells
 * how many rows it changed. */
status_code sqldb_run(sqldb *db, const char *what, const char *sql, const char *types, ...);
/* NOT_FOUND when rc is OK but the last statement changed no row, else rc. */
status_code sqldb_changed_one(sqldb *db, status_code rc);

/* Fills one zeroed array element from the current row. 0 or -1. */
typedef int (*sqldb_fill_fn)(sqlite3_stmt *stmt, void *elem);
/* Steps stmt to the end, appending one zeroed element of elem bytes to *v
 * per row through fill, and finalizes it (stmt NULL: IO). A row that fails
 * to fill is still counted in *n, so the caller's free releases what it
 * holds. OK or IO. */
status_code sqldb_collect(sqldb *db, sqlite3_stmt *stmt, void **v, size_t *n, size_t elem, sqldb_fill_fn fill,
                          const char *what);
/* A fill for lists of strings (char *, column 0). */
int sqldb_fill_strdup(sqlite3_stmt *stmt, void *elem);

/* Column text into dst (truncated; "" for NULL), or a malloc'd copy. */
void sqldb_text(sqlite3_stmt *stmt, int col, char *dst, size_t size);
char *sqldb_dup(sqlite3_stmt *stmt, int col);

/* One schema change: before (may be NULL) runs first, then the script. */
typedef struct sqldb_schema_step {
    status_code (*before)(sqldb *db);
    const char *sql;
} sqldb_schema_step;

/* Brings the schema to version n in one write transaction: reads the
 * version (schema_version; a file without that table falls back to
 * legacy, PRAGMA user_version, or 0), refuses a newer one, runs steps[v]
 * … steps[n-1] and records n. PRAGMA user_version is kept equal to it, so
 * that programs older than the schema_version table refuse a newer file
 * too. OK, or the reason in st. */
status_code sqldb_migrate(sqldb *db, const sqldb_schema_step *steps, int n, struct status *st);
/* Adds the column unless the table has it (for steps that must tolerate a
 * partly upgraded file). */
status_code sqldb_add_column(sqldb *db, const char *table, const char *column, const char *decl);

#endif
