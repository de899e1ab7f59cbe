#include "scv/scv_db.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct scv_db {
    sqlite3 *conn;
    pthread_mutex_t lock;
};

static const char *const SCHEMA_SQL = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
                                      "CREATE TABLE IF NOT EXISTS streams ("
                                      " id TEXT PRIMARY KEY,"
                                      " target_id TEXT NOT NULL,"
                                      " status TEXT NOT NULL CHECK (status IN ('OK', 'STOPPED')),"
                                      " frames INTEGER NOT NULL DEFAULT 0,"
                                      " error_count INTEGER NOT NULL DEFAULT 0,"
                                      " creation_date REAL NOT NULL);"
                                      "CREATE TABLE IF NOT EXISTS stats_outbox ("
                                      " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                                      " id TEXT NOT NULL UNIQUE,"
                                      " body TEXT NOT NULL,"
                                      " created REAL NOT NULL);"
                                      "CREATE TABLE IF NOT EXISTS open_fragments ("
                                      " id TEXT PRIMARY KEY,"
                                      " body TEXT NOT NULL);"
                                      "CREATE TABLE IF NOT EXISTS commit_intents ("
                                      " stream_id TEXT PRIMARY KEY,"
                                      " partition INTEGER NOT NULL,"
                                      " fragment_id TEXT NOT NULL,"
                                      " body TEXT NOT NULL);";

static void log_sqlite(scv_db *db, const char *what)
{
    log_error("scv database: %s: %s", what, sqlite3_errmsg(db->conn));
}

static int exec_locked(scv_db *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db->conn, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    log_error("scv database: %s", msg ? msg : sqlite3_errmsg(db->conn));
    sqlite3_free(msg);
    return -1;
}

static int read_schema_version(scv_db *db, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db->conn, "SELECT MAX(version) FROM schema_version", -1, &st, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_step(st) != SQLITE_ROW)
        goto out;
    *version = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 : sqlite3_column_int(st, 0);
    rc = 0;
out:
    if (rc != 0)
        log_sqlite(db, "reading the schema version");
    sqlite3_finalize(st);
    return rc;
}

/* Ends the open transaction: commits when rc is 0, else (or when the
 * commit fails) rolls back. 0 or -1. */
static int tx_finish(scv_db *db, int rc)
{
    if (rc == 0 && exec_locked(db, "COMMIT") == 0)
        return 0;
    exec_locked(db, "ROLLBACK");
    return -1;
}

static int create_schema(scv_db *db)
{
    int version = 0;
    if (exec_locked(db, "BEGIN IMMEDIATE") != 0)
        return -1;
    if (exec_locked(db, SCHEMA_SQL) != 0 || read_schema_version(db, &version) != 0)
        goto fail;
    if (version > SCV_DB_SCHEMA_VERSION) {
        log_error("scv database: schema version %d is newer than this program's %d; upgrade siegetank",
                  version, SCV_DB_SCHEMA_VERSION);
        goto fail;
    }
    if (version == 0 && exec_locked(db, "INSERT INTO schema_version (version) VALUES (1)") != 0)
        goto fail;
    return exec_locked(db, "COMMIT");
fail:
    exec_locked(db, "ROLLBACK");
    return -1;
}

scv_db *scv_db_open(const char *path)
{
    scv_db *db = calloc(1, sizeof *db);
    if (!db)
        return NULL;
    pthread_mutex_init(&db->lock, NULL);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &db->conn, flags, NULL) != SQLITE_OK) {
        log_error("scv database: cannot open %s: %s", path,
                  db->conn ? sqlite3_errmsg(db->conn) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(db->conn, 5000);
    if (exec_locked(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL") != 0)
        goto fail;
    if (create_schema(db) != 0)
        goto fail;
    return db;
fail:
    scv_db_close(db);
    return NULL;
}

void scv_db_close(scv_db *db)
{
    if (!db)
        return;
    sqlite3_close(db->conn);
    pthread_mutex_destroy(&db->lock);
    free(db);
}

/* Steps a bound statement that returns no rows. Lock must be held. */
static int step_done(scv_db *db, sqlite3_stmt *st, const char *what)
{
    if (sqlite3_step(st) == SQLITE_DONE)
        return 0;
    log_sqlite(db, what);
    return -1;
}

static sqlite3_stmt *prepare(scv_db *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL) != SQLITE_OK) {
        log_sqlite(db, "preparing a statement");
        return NULL;
    }
    return st;
}

int scv_db_stream_insert(scv_db *db, const char *id, const char *target_id, double creation_date)
{
    int rc = -1;
    pthread_mutex_lock(&db->lock);
    sqlite3_stmt *st = prepare(db, "INSERT INTO streams (id, target_id, status, frames, error_count, "
                                   "creation_date) VALUES (?1, ?2, 'OK', 0, 0, ?3)");
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, target_id, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, creation_date);
    rc = step_done(db, st, "inserting a stream");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db->lock);
    return rc;
}

/* Runs a one-row UPDATE/DELETE keyed by id (?1); SCV_DB_NOT_FOUND when no
 * row matched. Lock must be held; st is finalized. */
static int step_one_row(scv_db *db, sqlite3_stmt *st, const char *id, const char *what)
{
    int rc = -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (step_done(db, st, what) != 0)
        goto out;
    rc = sqlite3_changes(db->conn) == 0 ? SCV_DB_NOT_FOUND : 0;
out:
    sqlite3_finalize(st);
    return rc;
}

int scv_db_stream_delete(scv_db *db, const char *id)
{
    int rc = -1;
    pthread_mutex_lock(&db->lock);
    sqlite3_stmt *st = prepare(db, "DELETE FROM streams WHERE id = ?1");
    if (st)
        rc = step_one_row(db, st, id, "deleting a stream");
    pthread_mutex_unlock(&db->lock);
    return rc;
}

int scv_db_stream_get_frames(scv_db *db, const char *id, int64_t *frames)
{
    int rc = -1;
    pthread_mutex_lock(&db->lock);
    sqlite3_stmt *st = prepare(db, "SELECT frames FROM streams WHERE id = ?1");
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *frames = sqlite3_column_int64(st, 0);
        rc = 0;
    } else if (step == SQLITE_DONE) {
        rc = SCV_DB_NOT_FOUND;
    } else {
        log_sqlite(db, "reading a stream's frames");
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db->lock);
    return rc;
}

int scv_db_stream_set_frames(scv_db *db, const char *id, int64_t frames)
{
    int rc = -1;
    pthread_mutex_lock(&db->lock);
    sqlite3_stmt *st = prepare(db, "UPDATE streams SET frames = ?2 WHERE id = ?1");
    if (st) {
        sqlite3_bind_int64(st, 2, frames);
        rc = step_one_row(db, st, id, "updating a stream's frames");
    }
    pthread_mutex_unlock(&db->lock);
    return rc;
}

int scv_db_stream_set_state(scv_db *db, const char *id, scv_stream_status status, int error_count)
{
    int rc = -1;
    pthread_mutex_lock(&db->lock);
    sqlite3_stmt *st = prepare(db, "UPDATE streams SET status = ?2, error_count = ?3 WHERE id = ?1");
    if (st) {
        sqlite3_bind_text(st, 2, status == SCV_STREAM_STOPPED ? "STOPPED" : "OK", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, error_count);
        rc = step_one_row(db, st, id, "updating a stream's state");
    }
    pthread_mutex_unlock(&db->lock);
    return rc;
}

int scv_db_stream_foreach(scv_db *db, scv_stream_fn fn, void *ctx)
{
    int rc = -1;
    pthread_mutex_lock(&db->lock);
    sqlite3_stmt *st = prepare(db, "SELECT id, target_id, status, frames, error_count, creation_date "
                                   "FROM streams");
    if (!st)
        goto out;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        scv_stream_record rec = {
            .id = (const char *)sqlite3_column_text(st, 0),
            .target_id = (const char *)sqlite3_column_text(st, 1),
            .status = strcmp((const char *)sqlite3_column_text(st, 2), "STOPPED") == 0 ? SCV_STREAM_STOPPED
                                                                                       : SCV_STREAM_OK,
            .frames = sqlite3_column_int64(st, 3),
            .error_count = sqlite3_column_int(st, 4),
            .creation_date = sqlite3_column_double(st, 5),
        };
        int stop = fn(&rec, ctx);
        if (stop) {
            rc = stop;
            goto out;
        }
    }
    if (step != SQLITE_DONE) {
        log_sqlite(db, "listing streams");
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db->lock);
    return rc;
}

/* Binds id to ?1, steps, and resets so the statement can be bound again. */
static int run_keyed(scv_db *db, sqlite3_stmt *st, const char *id, const char *what)
{
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = step_done(db, st, what);
    sqlite3_reset(st);
    return rc;
}

int scv_db_reconcile(scv_db *db, const char *const *drop, size_t ndrop, const scv_db_frames_fix *fix,
                     size_t nfix)
{
    int rc = -1;
    sqlite3_stmt *del = NULL, *upd = NULL;
    pthread_mutex_lock(&db->lock);
    if (exec_locked(db, "BEGIN IMMEDIATE") != 0)
        goto out;
    del = prepare(db, "DELETE FROM streams WHERE id = ?1");
    upd = prepare(db, "UPDATE streams SET frames = ?2 WHERE id = ?1");
    if (!del || !upd)
        goto finish;
    for (size_t i = 0; i < ndrop; i++) {
        if (run_keyed(db, del, drop[i], "dropping a stream record") != 0)
            goto finish;
    }
    for (size_t i = 0; i < nfix; i++) {
        sqlite3_bind_int64(upd, 2, fix[i].frames);
        if (run_keyed(db, upd, fix[i].id, "fixing a stream's frames") != 0)
            goto finish;
    }
    rc = 0;
finish:
    rc = tx_finish(db, rc);
out:
    sqlite3_finalize(del);
    sqlite3_finalize(upd);
    pthread_mutex_unlock(&db->lock);
    return rc;
}

int scv_db_outbox_add(scv_db *db, const char *id, const char *json_text, double created)
{
    int rc = -1;
    sqlite3_stmt *ins = NULL, *del = NULL;
    pthread_mutex_lock(&db->lock);
    if (exec_locked(db, "BEGIN IMMEDIATE") != 0)
        goto out;
    ins = prepare(db, "INSERT OR IGNORE INTO stats_outbox (id, body, created) VALUES (?1, ?2, ?3)");
    del = prepare(db, "DELETE FROM open_fragments WHERE id = ?1");
    if (!ins || !del)
        goto finish;
    sqlite3_bind_text(ins, 2, json_text, -1, SQLITE_STATIC);
    sqlite3_bind_double(ins, 3, created);
    /* One transaction: the final fragment replaces its running copy. */
    if (run_keyed(db, ins, id, "adding a stats fragment") != 0 ||
        run_keyed(db, del, id, "closing an open stats fragment") != 0)
        goto finish;
    rc = 0;
finish:
    rc = tx_finish(db, rc);
out:
    sqlite3_finalize(ins);
    sqlite3_finalize(del);
    pthread_mutex_unlock(&db->lock);
    return rc;
}

int scv_db_commit_intent(scv_db *db, const char *stream_id, int64_t partition, const char *fragment_id,
                         const char *json_text)
{
    int rc = -1;
    pthread_mutex_lock(&db->lock);
    sqlite3_stmt *st =
        prepare(db, "INSERT OR REPLACE INTO commit_intents (stream_id, partition, fragment_id, body)"
                    " VALUES (?1, ?2, ?3, ?4)");
    /* WAL with synchronous=NORMAL may lose the last transactions on power
     * loss; this one must be on disk before the rename it describes. */
    if (!st || exec_locked(db, "PRAGMA synchronous=FULL") != 0)
        goto out;
    sqlite3_bind_int64(st, 2, partition);
    sqlite3_bind_text(st, 3, fragment_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, json_text, -1, SQLITE_STATIC);
    rc = run_keyed(db, st, stream_id, "recording a commit's credit");
    if (exec_locked(db, "PRAGMA synchronous=NORMAL") != 0)
        rc = -1;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db->lock);
    return rc;
}

int scv_db_commit_done(scv_db *db, const char *stream_id, int64_t frames, const char *fragment_id,
                       const char *json_text)
{
    int rc = -1;
    sqlite3_stmt *upd = NULL, *save = NULL, *drop = NULL;
    pthread_mutex_lock(&db->lock);
    if (exec_locked(db, "BEGIN IMMEDIATE") != 0)
        goto out;
    upd = prepare(db, "UPDATE streams SET frames = ?2 WHERE id = ?1");
    save = prepare(db, "INSERT OR REPLACE INTO open_fragments (id, body) VALUES (?1, ?2)");
    drop = prepare(db, "DELETE FROM commit_intents WHERE stream_id = ?1");
    if (!upd || !save || !drop)
        goto finish;
    sqlite3_bind_int64(upd, 2, frames);
    sqlite3_bind_text(save, 2, json_text, -1, SQLITE_STATIC);
    if (run_keyed(db, upd, stream_id, "updating a stream's frames") != 0 ||
        (fragment_id != NULL && run_keyed(db, save, fragment_id, "saving an open stats fragment") != 0) ||
        run_keyed(db, drop, stream_id, "closing a commit's credit record") != 0)
        goto finish;
    rc = 0;
finish:
    rc = tx_finish(db, rc);
out:
    sqlite3_finalize(upd);
    sqlite3_finalize(save);
    sqlite3_finalize(drop);
    pthread_mutex_unlock(&db->lock);
    return rc;
}

/* Applies one intent row of st (stream_id, partition, fragment_id, body)
 * when its partition exists. 0, or -1 on failure. */
static int resolve_intent(scv_db *db, sqlite3_stmt *st, sqlite3_stmt *save, scv_db_partition_fn exists,
                          void *ctx, int64_t *applied)
{
    const char *stream_id = (const char *)sqlite3_column_text(st, 0);
    int found = exists(stream_id, sqlite3_column_int64(st, 1), ctx);
    if (found <= 0)
        return found;
    sqlite3_bind_text(save, 2, (const char *)sqlite3_column_text(st, 3), -1, SQLITE_TRANSIENT);
    if (run_keyed(db, save, (const char *)sqlite3_column_text(st, 2), "applying a commit's credit") != 0)
        return -1;
    (*applied)++;
    return 0;
}

int scv_db_commit_intents_resolve(scv_db *db, scv_db_partition_fn exists, void *ctx, int64_t *applied)
{
    int rc = -1, step;
    sqlite3_stmt *st = NULL, *save = NULL;
    *applied = 0;
    pthread_mutex_lock(&db->lock);
    if (exec_locked(db, "BEGIN IMMEDIATE") != 0)
        goto out;
    st = prepare(db, "SELECT stream_id, partition, fragment_id, body FROM commit_intents");
    save = prepare(db, "INSERT OR REPLACE INTO open_fragments (id, body) VALUES (?1, ?2)");
    if (!st || !save)
        goto finish;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (resolve_intent(db, st, save, exists, ctx, applied) != 0)
            goto finish;
    }
    if (step != SQLITE_DONE) {
        log_sqlite(db, "listing the commits' credit records");
        goto finish;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (exec_locked(db, "DELETE FROM commit_intents") != 0)
        goto finish;
    rc = 0;
finish:
    rc = tx_finish(db, rc);
out:
    sqlite3_finalize(st);
    sqlite3_finalize(save);
    pthread_mutex_unlock(&db->lock);
    return rc;
}

int scv_db_open_fragments_close(scv_db *db, double created, int64_t *moved)
{
    int rc = -1;
    sqlite3_stmt *st = NULL;
    *moved = 0;
    pthread_mutex_lock(&db->lock);
    if (exec_locked(db, "BEGIN IMMEDIATE") != 0)
        goto out;
    st = prepare(db, "INSERT OR IGNORE INTO stats_outbox (id, body, created)"
                     " SELECT id, body, ?1 FROM open_fragments");
    if (!st)
        goto finish;
    sqlite3_bind_double(st, 1, created);
    if (step_done(db, st, "closing the open stats fragments") != 0)
        goto finish;
    *moved = sqlite3_changes(db->conn);
    if (exec_locked(db, "DELETE FROM open_fragments") != 0)
        goto finish;
    rc = 0;
finish:
    rc = tx_finish(db, rc);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db->lock);
    return rc;
}

int scv_db_outbox_list(scv_db *db, size_t max, json_t **out)
{
    int rc = -1;
    json_t *list = json_array();
    *out = NULL;
    pthread_mutex_lock(&db->lock);
    sqlite3_stmt *st = prepare(db, "SELECT id, body FROM stats_outbox ORDER BY seq LIMIT ?1");
    if (!st || !list)
        goto out;
    sqlite3_bind_int64(st, 1, max > INT64_MAX ? INT64_MAX : (sqlite3_int64)max);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        json_error_t jerr;
        json_t *frag = json_loads((const char *)sqlite3_column_text(st, 1), 0, &jerr);
        if (!frag) {
            /* Skipping keeps one damaged row from blocking every later credit. */
            log_error("scv database: stats fragment %s is not JSON (%s); skipped",
                      (const char *)sqlite3_column_text(st, 0), jerr.text);
            continue;
        }
        json_array_append_new(list, frag);
    }
    if (step != SQLITE_DONE) {
        log_sqlite(db, "listing stats fragments");
        goto out;
    }
    *out = list;
    list = NULL;
    rc = 0;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db->lock);
    json_decref(list);
    return rc;
}

int scv_db_outbox_delete(scv_db *db, const char *const *ids, size_t n)
{
    int rc = -1;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&db->lock);
    if (exec_locked(db, "BEGIN IMMEDIATE") != 0)
        goto out;
    st = prepare(db, "DELETE FROM stats_outbox WHERE id = ?1");
    if (!st)
        goto finish;
    for (size_t i = 0; i < n; i++) {
        if (run_keyed(db, st, ids[i], "deleting a stats fragment") != 0)
            goto finish;
    }
    rc = 0;
finish:
    rc = tx_finish(db, rc);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db->lock);
    return rc;
}
