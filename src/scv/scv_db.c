#include "scv/scv_db.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/sqldb.h"

struct scv_db {
    sqldb *db;
    /* Rows of stats_outbox: counted at open, then moved by what each
     * committed transaction added or removed, so reading it costs no query
     * (the additions commute, so a reader may only see a moment's lag). */
    atomic_long outbox_rows;
};

/* Passes rc through; when the transaction committed, the outbox gained
 * delta rows (negative: lost). */
static status_code outbox_moved(scv_db *db, status_code rc, long delta)
{
    if (rc == STATUS_OK)
        atomic_fetch_add(&db->outbox_rows, delta);
    return rc;
}

static const char *const schema_sql = "CREATE TABLE IF NOT EXISTS streams ("
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

static const sqldb_schema_step schema_steps[] = {{NULL, schema_sql}};

static status_code count_outbox(scv_db *db)
{
    sqlite3_stmt *st = sqldb_prepare(db->db, "SELECT COUNT(*) FROM stats_outbox", NULL);
    status_code rc = st ? sqldb_row(db->db, st, "counting the stats outbox") : STATUS_IO;
    if (rc == STATUS_OK)
        atomic_store(&db->outbox_rows, sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    return rc;
}

scv_db *scv_db_open(const char *path)
{
    struct status st;
    scv_db *db = calloc(1, sizeof *db);
    if (!db) {
        log_error("scv database: out of memory");
        return NULL;
    }
    db->db = sqldb_open(path, "scv database", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", &st);
    if (!db->db || sqldb_migrate(db->db, schema_steps, 1, &st) != STATUS_OK) {
        log_error("scv database: %s", st.msg);
        scv_db_close(db);
        return NULL;
    }
    if (count_outbox(db) != STATUS_OK) {
        scv_db_close(db);
        return NULL;
    }
    return db;
}

void scv_db_close(scv_db *db)
{
    if (!db)
        return;
    sqldb_close(db->db);
    free(db);
}

status_code scv_db_stream_insert(scv_db *db, const char *id, const char *target_id, double creation_date)
{
    sqldb_lock(db->db);
    status_code rc =
        sqldb_run(db->db, "inserting a stream",
                  "INSERT INTO streams (id, target_id, status, frames, error_count, creation_date)"
                  " VALUES (?1, ?2, 'OK', 0, 0, ?3)",
                  "ttd", id, target_id, creation_date);
    sqldb_unlock(db->db);
    return rc;
}

status_code scv_db_stream_delete(scv_db *db, const char *id)
{
    sqldb_lock(db->db);
    status_code rc = sqldb_changed_one(
        db->db, sqldb_run(db->db, "deleting a stream", "DELETE FROM streams WHERE id = ?1", "t", id));
    sqldb_unlock(db->db);
    return rc;
}

status_code scv_db_stream_get_frames(scv_db *db, const char *id, int64_t *frames)
{
    sqldb_lock(db->db);
    sqlite3_stmt *st = sqldb_prepare(db->db, "SELECT frames FROM streams WHERE id = ?1", "t", id);
    status_code rc = st ? sqldb_row(db->db, st, "reading a stream's frames") : STATUS_IO;
    if (rc == STATUS_OK)
        *frames = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqldb_unlock(db->db);
    return rc;
}

status_code scv_db_stream_set_frames(scv_db *db, const char *id, int64_t frames)
{
    sqldb_lock(db->db);
    status_code rc = sqldb_changed_one(db->db, sqldb_run(db->db, "updating a stream's frames",
                                                         "UPDATE streams SET frames = ?2 WHERE id = ?1", "ti",
                                                         id, frames));
    sqldb_unlock(db->db);
    return rc;
}

status_code scv_db_stream_set_state(scv_db *db, const char *id, scv_stream_status status, int error_count)
{
    sqldb_lock(db->db);
    status_code rc = sqldb_changed_one(
        db->db, sqldb_run(db->db, "updating a stream's state",
                          "UPDATE streams SET status = ?2, error_count = ?3 WHERE id = ?1", "tti", id,
                          status == SCV_STREAM_STOPPED ? "STOPPED" : "OK", (int64_t)error_count));
    sqldb_unlock(db->db);
    return rc;
}

status_code scv_db_stream_foreach(scv_db *db, scv_stream_fn fn, void *ctx)
{
    sqldb_lock(db->db);
    sqlite3_stmt *st = sqldb_prepare(
        db->db, "SELECT id, target_id, status, frames, error_count, creation_date FROM streams", NULL);
    status_code rc = st ? STATUS_OK : STATUS_IO;
    while (rc == STATUS_OK && (rc = sqldb_row(db->db, st, "listing streams")) == STATUS_OK) {
        scv_stream_record rec = {
            .id = (const char *)sqlite3_column_text(st, 0),
            .target_id = (const char *)sqlite3_column_text(st, 1),
            .status = strcmp((const char *)sqlite3_column_text(st, 2), "STOPPED") == 0 ? SCV_STREAM_STOPPED
                                                                                       : SCV_STREAM_OK,
            .frames = sqlite3_column_int64(st, 3),
            .error_count = sqlite3_column_int(st, 4),
            .creation_date = sqlite3_column_double(st, 5),
        };
        if (fn(&rec, ctx) != 0)
            rc = STATUS_IO;
    }
    sqlite3_finalize(st);
    sqldb_unlock(db->db);
    return rc == STATUS_NOT_FOUND ? STATUS_OK : rc;
}

/* Binds id to ?1 and steps (the statement is reset for new bindings). */
static status_code run_keyed(scv_db *db, sqlite3_stmt *st, const char *id, const char *what)
{
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    return sqldb_step(db->db, st, what);
}

/* Opens a write transaction under the lock; scv_db_end closes both. */
static status_code begin(scv_db *db)
{
    sqldb_lock(db->db);
    status_code rc = sqldb_begin(db->db, 1);
    if (rc != STATUS_OK)
        sqldb_unlock(db->db);
    return rc;
}

static status_code end(scv_db *db, status_code rc)
{
    rc = sqldb_end(db->db, rc);
    sqldb_unlock(db->db);
    return rc;
}

status_code scv_db_reconcile(scv_db *db, const char *const *drop, size_t ndrop, const scv_db_frames_fix *fix,
                             size_t nfix)
{
    if (begin(db) != STATUS_OK)
        return STATUS_IO;
    sqlite3_stmt *del = sqldb_prepare(db->db, "DELETE FROM streams WHERE id = ?1", NULL);
    sqlite3_stmt *upd = sqldb_prepare(db->db, "UPDATE streams SET frames = ?2 WHERE id = ?1", NULL);
    status_code rc = del && upd ? STATUS_OK : STATUS_IO;
    for (size_t i = 0; rc == STATUS_OK && i < ndrop; i++)
        rc = run_keyed(db, del, drop[i], "dropping a stream record");
    for (size_t i = 0; rc == STATUS_OK && i < nfix; i++) {
        sqlite3_bind_int64(upd, 2, fix[i].frames);
        rc = run_keyed(db, upd, fix[i].id, "fixing a stream's frames");
    }
    sqlite3_finalize(del);
    sqlite3_finalize(upd);
    return end(db, rc);
}

status_code scv_db_outbox_add(scv_db *db, const char *id, const char *json_text, double created)
{
    if (begin(db) != STATUS_OK)
        return STATUS_IO;
    /* One transaction: the final fragment replaces its running copy. */
    status_code rc = sqldb_run(db->db, "adding a stats fragment",
                               "INSERT OR IGNORE INTO stats_outbox (id, body, created) VALUES (?1, ?2, ?3)",
                               "ttd", id, json_text, created);
    long added = rc == STATUS_OK ? sqlite3_changes(db->db->conn) : 0; /* 0: the id was there */
    if (rc == STATUS_OK)
        rc = sqldb_run(db->db, "closing an open stats fragment", "DELETE FROM open_fragments WHERE id = ?1",
                       "t", id);
    return outbox_moved(db, end(db, rc), added);
}

status_code scv_db_commit_intent(scv_db *db, const char *stream_id, int64_t partition,
                                 const char *fragment_id, const char *json_text)
{
    sqldb_lock(db->db);
    /* WAL with synchronous=NORMAL may lose the last transactions on power
     * loss; this one must be on disk before the rename it describes. */
    status_code rc = sqldb_exec(db->db, "PRAGMA synchronous=FULL");
    if (rc == STATUS_OK)
        rc = sqldb_run(db->db, "recording a commit's credit",
                       "INSERT OR REPLACE INTO commit_intents (stream_id, partition, fragment_id, body)"
                       " VALUES (?1, ?2, ?3, ?4)",
                       "titt", stream_id, partition, fragment_id, json_text);
    if (sqldb_exec(db->db, "PRAGMA synchronous=NORMAL") != STATUS_OK)
        rc = STATUS_IO;
    sqldb_unlock(db->db);
    return rc;
}

status_code scv_db_commit_done(scv_db *db, const char *stream_id, int64_t frames, const char *fragment_id,
                               const char *json_text)
{
    if (begin(db) != STATUS_OK)
        return STATUS_IO;
    status_code rc = sqldb_run(db->db, "updating a stream's frames",
                               "UPDATE streams SET frames = ?2 WHERE id = ?1", "ti", stream_id, frames);
    if (rc == STATUS_OK && fragment_id != NULL)
        rc = sqldb_run(db->db, "saving an open stats fragment",
                       "INSERT OR REPLACE INTO open_fragments (id, body) VALUES (?1, ?2)", "tt", fragment_id,
                       json_text);
    if (rc == STATUS_OK)
        rc = sqldb_run(db->db, "closing a commit's credit record",
                       "DELETE FROM commit_intents WHERE stream_id = ?1", "t", stream_id);
    return end(db, rc);
}

/* Applies one intent row of st (stream_id, partition, fragment_id, body)
 * when its partition exists. */
static status_code resolve_intent(scv_db *db, sqlite3_stmt *st, sqlite3_stmt *save,
                                  scv_db_partition_fn exists, void *ctx, int64_t *applied)
{
    int found = exists((const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1), ctx);
    if (found <= 0)
        return found == 0 ? STATUS_OK : STATUS_IO;
    sqlite3_bind_text(save, 2, (const char *)sqlite3_column_text(st, 3), -1, SQLITE_TRANSIENT);
    status_code rc =
        run_keyed(db, save, (const char *)sqlite3_column_text(st, 2), "applying a commit's credit");
    if (rc == STATUS_OK)
        (*applied)++;
    return rc;
}

status_code scv_db_commit_intents_resolve(scv_db *db, scv_db_partition_fn exists, void *ctx, int64_t *applied)
{
    *applied = 0;
    if (begin(db) != STATUS_OK)
        return STATUS_IO;
    sqlite3_stmt *st =
        sqldb_prepare(db->db, "SELECT stream_id, partition, fragment_id, body FROM commit_intents", NULL);
    sqlite3_stmt *save =
        sqldb_prepare(db->db, "INSERT OR REPLACE INTO open_fragments (id, body) VALUES (?1, ?2)", NULL);
    status_code rc = st && save ? STATUS_OK : STATUS_IO;
    while (rc == STATUS_OK &&
           (rc = sqldb_row(db->db, st, "listing the commits' credit records")) == STATUS_OK)
        rc = resolve_intent(db, st, save, exists, ctx, applied);
    sqlite3_finalize(st);
    sqlite3_finalize(save);
    if (rc == STATUS_NOT_FOUND)
        rc = sqldb_exec(db->db, "DELETE FROM commit_intents");
    return end(db, rc);
}

status_code scv_db_open_fragments_close(scv_db *db, double created, int64_t *moved)
{
    *moved = 0;
    if (begin(db) != STATUS_OK)
        return STATUS_IO;
    status_code rc = sqldb_run(db->db, "closing the open stats fragments",
                               "INSERT OR IGNORE INTO stats_outbox (id, body, created)"
                               " SELECT id, body, ?1 FROM open_fragments",
                               "d", created);
    if (rc == STATUS_OK) {
        *moved = sqlite3_changes(db->db->conn);
        rc = sqldb_exec(db->db, "DELETE FROM open_fragments");
    }
    rc = outbox_moved(db, end(db, rc), (long)*moved);
    if (rc != STATUS_OK)
        *moved = 0;
    return rc;
}

status_code scv_db_outbox_list(scv_db *db, size_t max, json_t **out)
{
    json_t *list = json_array();
    *out = NULL;
    sqldb_lock(db->db);
    sqlite3_stmt *st = sqldb_prepare(db->db, "SELECT id, body FROM stats_outbox ORDER BY seq LIMIT ?1", "i",
                                     max > INT64_MAX ? INT64_MAX : (int64_t)max);
    status_code rc = st && list ? STATUS_OK : STATUS_IO;
    while (rc == STATUS_OK && (rc = sqldb_row(db->db, st, "listing stats fragments")) == STATUS_OK) {
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
    sqlite3_finalize(st);
    sqldb_unlock(db->db);
    if (rc != STATUS_NOT_FOUND) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return STATUS_OK;
}

status_code scv_db_outbox_delete(scv_db *db, const char *const *ids, size_t n)
{
    if (begin(db) != STATUS_OK)
        return STATUS_IO;
    sqlite3_stmt *st = sqldb_prepare(db->db, "DELETE FROM stats_outbox WHERE id = ?1", NULL);
    status_code rc = st ? STATUS_OK : STATUS_IO;
    long deleted = 0;
    for (size_t i = 0; rc == STATUS_OK && i < n; i++) {
        rc = run_keyed(db, st, ids[i], "deleting a stats fragment");
        deleted += sqlite3_changes(db->db->conn);
    }
    sqlite3_finalize(st);
    return outbox_moved(db, end(db, rc), -deleted);
}

size_t scv_db_outbox_count(scv_db *db)
{
    long n = atomic_load(&db->outbox_rows);
    return n > 0 ? (size_t)n : 0;
}

status_code scv_db_outbox_oldest(scv_db *db, double *created)
{
    *created = 0;
    sqldb_lock(db->db);
    sqlite3_stmt *st = sqldb_prepare(db->db, "SELECT created FROM stats_outbox ORDER BY seq LIMIT 1", NULL);
    status_code rc = st ? sqldb_row(db->db, st, "reading the oldest stats fragment") : STATUS_IO;
    if (rc == STATUS_OK)
        *created = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqldb_unlock(db->db);
    return rc == STATUS_NOT_FOUND ? STATUS_OK : rc;
}
