/* The SQLite backend of cc_store (cc_store_backend.h): one connection in
 * WAL mode behind a mutex (sqldb), file <data>/cc.db. A transaction holds
 * the mutex from begin to end. Writes use BEGIN IMMEDIATE so a second
 * process on the same file (the bootstrap CLI) waits instead of failing;
 * synchronous=FULL so an acknowledged write (stats credit above all)
 * survives a power cut. The stats and donor credit are in
 * cc_store_sqlite_credit.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_store_sqlite.h"
#include "util/log.h"

/* The connection and its one transaction slot, used under the lock. */
typedef struct sq {
    sqldb *db;
    cc_store_tx tx;
} sq;

/* The totals every credit aggregate row carries (cc_credit.h). */
#define CREDIT_COLUMNS                                                                                       \
    "frames INTEGER NOT NULL DEFAULT 0, points REAL NOT NULL DEFAULT 0,"                                     \
    " fragments INTEGER NOT NULL DEFAULT 0, last_credit REAL NOT NULL DEFAULT 0,"                            \
    " day INTEGER NOT NULL DEFAULT 0, day_frames INTEGER NOT NULL DEFAULT 0,"                                \
    " day_points REAL NOT NULL DEFAULT 0, day_fragments INTEGER NOT NULL DEFAULT 0,"                         \
    " week INTEGER NOT NULL DEFAULT 0, week_frames INTEGER NOT NULL DEFAULT 0,"                              \
    " week_points REAL NOT NULL DEFAULT 0, week_fragments INTEGER NOT NULL DEFAULT 0"

static const char *const schema_sql =
    "CREATE TABLE users(name TEXT PRIMARY KEY, email TEXT NOT NULL, role TEXT NOT NULL,"
    " password_hash TEXT NOT NULL, token_hash TEXT UNIQUE, weight REAL NOT NULL DEFAULT 1,"
    " creation_date REAL NOT NULL);"
    "CREATE UNIQUE INDEX users_donor_email ON users(email) WHERE role = 'donor';"
    "CREATE TABLE engine_keys(key_hash TEXT PRIMARY KEY, key_sealed TEXT NOT NULL, engine TEXT NOT NULL,"
    " description TEXT NOT NULL, creation_date REAL NOT NULL);"
    "CREATE TABLE targets(id TEXT PRIMARY KEY, owner TEXT NOT NULL, stage TEXT NOT NULL,"
    " engines TEXT NOT NULL, options TEXT NOT NULL, weight REAL NOT NULL, creation_date REAL NOT NULL);"
    "CREATE INDEX targets_owner ON targets(owner);"
    "CREATE INDEX targets_stage ON targets(stage);"
    "CREATE TABLE shards(target_id TEXT NOT NULL REFERENCES targets(id), scv TEXT NOT NULL,"
    " PRIMARY KEY(target_id, scv)) WITHOUT ROWID;"
    "CREATE TABLE scvs(name TEXT PRIMARY KEY, host TEXT NOT NULL, password_sealed TEXT NOT NULL);"
    "CREATE TABLE stats(id TEXT PRIMARY KEY, target_id TEXT NOT NULL, stream_id TEXT NOT NULL,"
    " engine TEXT NOT NULL, user TEXT NOT NULL, start_time REAL NOT NULL, end_time REAL NOT NULL,"
    " frames INTEGER NOT NULL);"
    "CREATE INDEX stats_target ON stats(target_id);";

/* Version 2: the change counter (cc_store_change_counter), bumped by
 * triggers in the writing transaction, whichever process writes. Stats,
 * donors and token updates leave it alone. */
static const char *const schema_v2_sql =
    "CREATE TABLE meta(id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL);"
    "INSERT INTO meta(id, generation) VALUES (1, 0);"
    "CREATE TRIGGER targets_ins AFTER INSERT ON targets"
    " BEGIN UPDATE meta SET generation = generation + 1; END;"
    "CREATE TRIGGER targets_upd AFTER UPDATE ON targets"
    " BEGIN UPDATE meta SET generation = generation + 1; END;"
    "CREATE TRIGGER targets_del AFTER DELETE ON targets"
    " BEGIN UPDATE meta SET generation = generation + 1; END;"
    "CREATE TRIGGER shards_ins AFTER INSERT ON shards"
    " BEGIN UPDATE meta SET generation = generation + 1; END;"
    "CREATE TRIGGER shards_del AFTER DELETE ON shards"
    " BEGIN UPDATE meta SET generation = generation + 1; END;"
    "CREATE TRIGGER engine_keys_ins AFTER INSERT ON engine_keys"
    " BEGIN UPDATE meta SET generation = generation + 1; END;"
    "CREATE TRIGGER engine_keys_del AFTER DELETE ON engine_keys"
    " BEGIN UPDATE meta SET generation = generation + 1; END;"
    "CREATE TRIGGER scvs_ins AFTER INSERT ON scvs"
    " BEGIN UPDATE meta SET generation = generation + 1; END;"
    "CREATE TRIGGER scvs_upd AFTER UPDATE ON scvs"
    " BEGIN UPDATE meta SET generation = generation + 1; END;"
    "CREATE TRIGGER managers_ins AFTER INSERT ON users WHEN NEW.role <> 'donor'"
    " BEGIN UPDATE meta SET generation = generation + 1; END;"
    "CREATE TRIGGER managers_upd AFTER UPDATE OF role, weight ON users"
    " BEGIN UPDATE meta SET generation = generation + 1; END;"
    "CREATE TRIGGER managers_del AFTER DELETE ON users"
    " BEGIN UPDATE meta SET generation = generation + 1; END;";

/* Version 3: change tracking per target, so a cache catches up by reading
 * only what moved (cc_store_load_changes). A target row's `changed` (added
 * by create_schema unless present) is the generation of its last write or
 * shard change; a deleted target leaves its id in target_deletions. The
 * inner UPDATE of `changed` does not fire targets_upd, which watches the
 * other columns only. The script tolerates parts already present, so an
 * upgrade interrupted by hand or a partly downgraded file still opens. */
static const char *const schema_v3_sql =
    "CREATE INDEX IF NOT EXISTS targets_changed ON targets(changed);"
    "CREATE TABLE IF NOT EXISTS target_deletions(id TEXT PRIMARY KEY, changed INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS target_deletions_changed ON target_deletions(changed);"
    "DROP TRIGGER IF EXISTS targets_ins; DROP TRIGGER IF EXISTS targets_upd;"
    "DROP TRIGGER IF EXISTS targets_del; DROP TRIGGER IF EXISTS shards_ins;"
    "DROP TRIGGER IF EXISTS shards_del;"
    "CREATE TRIGGER targets_ins AFTER INSERT ON targets"
    " BEGIN UPDATE meta SET generation = generation + 1;"
    " UPDATE targets SET changed = (SELECT generation FROM meta) WHERE id = NEW.id; END;"
    "CREATE TRIGGER targets_upd AFTER UPDATE OF id, owner, stage, engines, options, weight,"
    " creation_date ON targets"
    " BEGIN UPDATE meta SET generation = generation + 1;"
    " UPDATE targets SET changed = (SELECT generation FROM meta) WHERE id = NEW.id; END;"
    "CREATE TRIGGER shards_ins AFTER INSERT ON shards"
    " BEGIN UPDATE meta SET generation = generation + 1;"
    " UPDATE targets SET changed = (SELECT generation FROM meta) WHERE id = NEW.target_id; END;"
    "CREATE TRIGGER shards_del AFTER DELETE ON shards"
    " BEGIN UPDATE meta SET generation = generation + 1;"
    " UPDATE targets SET changed = (SELECT generation FROM meta) WHERE id = OLD.target_id; END;"
    "CREATE TRIGGER targets_del AFTER DELETE ON targets"
    " BEGIN UPDATE meta SET generation = generation + 1;"
    " INSERT OR REPLACE INTO target_deletions(id, changed) VALUES (OLD.id, (SELECT generation FROM meta));"
    " END;";

/* Version 4: the salt the sealing key is derived with (auth.h), one per
 * database, made by the first CC that opens it. */
static const char *const schema_v4_sql =
    "CREATE TABLE IF NOT EXISTS seal_salt(id INTEGER PRIMARY KEY CHECK (id = 1), salt TEXT NOT NULL);";

/* Version 5: the stats column `user` is named user_name, as on
 * PostgreSQL. */
static const char *const schema_v5_sql = "ALTER TABLE stats RENAME COLUMN user TO user_name;";

/* Version 6: donor credit (cc_credit.h). Fragments keep their points;
 * those recorded before earned one point a frame (add_credit_columns adds
 * the columns). The all-time aggregates start from the fragments already
 * there. Like version 3 it tolerates parts already present. */
static const char *const schema_v6_sql =
    "CREATE INDEX IF NOT EXISTS stats_user ON stats(user_name);"
    "CREATE TABLE IF NOT EXISTS donor_credit(name TEXT PRIMARY KEY, team TEXT, public INTEGER NOT NULL "
    "DEFAULT 1,"
    " " CREDIT_COLUMNS ");"
    "CREATE INDEX IF NOT EXISTS donor_credit_all ON donor_credit(points DESC, name) WHERE public = 1 AND "
    "fragments > 0;"
    "CREATE INDEX IF NOT EXISTS donor_credit_day ON donor_credit(day, day_points DESC, name) WHERE public = "
    "1;"
    "CREATE INDEX IF NOT EXISTS donor_credit_week ON donor_credit(week, week_points DESC, name) WHERE public "
    "= 1;"
    "CREATE TABLE IF NOT EXISTS donor_target_credit(name TEXT NOT NULL, target_id TEXT NOT NULL,"
    " frames INTEGER NOT NULL, points REAL NOT NULL, PRIMARY KEY(name, target_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS team_credit(team TEXT PRIMARY KEY, members INTEGER NOT NULL DEFAULT "
    "0, " CREDIT_COLUMNS ");"
    "CREATE INDEX IF NOT EXISTS team_credit_all ON team_credit(points DESC, team);"
    "CREATE INDEX IF NOT EXISTS team_credit_day ON team_credit(day, day_points DESC, team);"
    "CREATE INDEX IF NOT EXISTS team_credit_week ON team_credit(week, week_points DESC, team);"
    "CREATE TABLE IF NOT EXISTS board_totals(board TEXT NOT NULL, period INTEGER NOT NULL, n INTEGER NOT "
    "NULL,"
    " PRIMARY KEY(board, period)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS stats_export(id INTEGER PRIMARY KEY CHECK (id = 1), created REAL NOT NULL,"
    " claimed REAL NOT NULL, data BLOB);"
    "INSERT OR IGNORE INTO stats_export(id, created, claimed) VALUES (1, 0, 0);"
    "INSERT OR IGNORE INTO donor_credit(name, public, frames, points, fragments, last_credit)"
    " SELECT user_name, EXISTS(SELECT 1 FROM users WHERE users.name = stats.user_name AND role = 'donor'),"
    " sum(frames), sum(points), count(*), max(end_time) FROM stats WHERE user_name <> '' GROUP BY user_name;"
    "INSERT OR IGNORE INTO donor_target_credit(name, target_id, frames, points)"
    " SELECT user_name, target_id, sum(frames), sum(points) FROM stats WHERE user_name <> ''"
    " GROUP BY user_name, target_id;"
    "INSERT OR IGNORE INTO board_totals(board, period, n)"
    " SELECT 'donors_all', 0, count(*) FROM donor_credit WHERE public = 1 AND fragments > 0;";

/* Version 7: credit folded after the commit (cc_store_credit_fold). POST
 * /stats appends each new fragment with a user to credit_pending (its key
 * grows, so the inserts fill pages in order); the fold credits and deletes
 * them in one transaction. */
static const char *const schema_v7_sql =
    "CREATE TABLE IF NOT EXISTS credit_pending(id INTEGER PRIMARY KEY, user_name TEXT NOT NULL,"
    " target_id TEXT NOT NULL, frames INTEGER NOT NULL, points REAL NOT NULL, recorded REAL NOT NULL);";

/* Version 8: the stats table keeps only its primary key. Nothing reads
 * fragments by target, and only a donor's deletion by user (a scan, about
 * 0.2 s per million fragments), while each index cost every recorded
 * fragment a write to a random page (docs/PERFORMANCE.md, "Donor
 * credit"). */
static const char *const schema_v8_sql =
    "DROP INDEX IF EXISTS stats_user; DROP INDEX IF EXISTS stats_target;";

static status_code add_credit_columns(sqldb *db)
{
    sqlite3_stmt *stmt =
        sqldb_prepare(db, "SELECT 1 FROM pragma_table_info('stats') WHERE name = 'points'", NULL);
    status_code rc = stmt ? sqldb_row(db, stmt, "schema lookup") : STATUS_IO;
    sqlite3_finalize(stmt);
    if (rc == STATUS_NOT_FOUND)
        rc = sqldb_exec(db, "ALTER TABLE stats ADD COLUMN points REAL NOT NULL DEFAULT 0;"
                            "UPDATE stats SET points = frames");
    return rc == STATUS_OK ? sqldb_add_column(db, "targets", "points_per_frame", "REAL NOT NULL DEFAULT 1")
                           : rc;
}

/* Version 3 adds targets.changed unless a partly upgraded file has it. */
static status_code add_changed_column(sqldb *db)
{
    return sqldb_add_column(db, "targets", "changed", "INTEGER NOT NULL DEFAULT 0");
}

static const sqldb_schema_step schema_steps[] = {
    {NULL, schema_sql},    {NULL, schema_v2_sql}, {add_changed_column, schema_v3_sql},
    {NULL, schema_v4_sql}, {NULL, schema_v5_sql}, {add_credit_columns, schema_v6_sql},
    {NULL, schema_v7_sql}, {NULL, schema_v8_sql},
};

static void sq_close(void *impl)
{
    sq *s = impl;
    if (!s)
        return;
    sqldb_close(s->db);
    free(s);
}

static void *sq_open(const char *path, struct status *st)
{
    sq *s = calloc(1, sizeof *s);
    if (!s) {
        status_fail(st, STATUS_IO, "out of memory");
        return NULL;
    }
    /* A 128 MiB page cache: crediting touches donor, target and team rows
     * all over their tables, and SQLite's default 2 MiB halves the rate at
     * 100,000 donors. A checkpoint every 10,000 WAL pages rather than 1,000:
     * a batch of credit dirties about a thousand, so the default copied
     * the WAL back after almost every commit (docs/PERFORMANCE.md, "Donor
     * credit"). */
    s->db = sqldb_open(path, "cc database",
                       "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                       " PRAGMA cache_size = -131072; PRAGMA wal_autocheckpoint = 10000",
                       st);
    if (!s->db || sqldb_migrate(s->db, schema_steps, (int)(sizeof schema_steps / sizeof *schema_steps), st) !=
                      STATUS_OK) {
        sq_close(s);
        return NULL;
    }
    s->tx.db = s->db;
    return s;
}

static status_code sq_begin(void *impl, cc_tx_mode mode, cc_store_tx **tx)
{
    sq *s = impl;
    sqldb_lock(s->db);
    s->tx.mode = mode;
    status_code rc = mode == CC_TX_ONE ? STATUS_OK : sqldb_begin(s->db, mode == CC_TX_WRITE);
    if (rc != STATUS_OK) {
        sqldb_unlock(s->db);
        return rc;
    }
    *tx = &s->tx;
    return STATUS_OK;
}

static status_code sq_end(cc_store_tx *tx, status_code rc)
{
    if (tx->mode != CC_TX_ONE)
        rc = sqldb_end(tx->db, rc);
    sqldb_unlock(tx->db);
    return rc;
}

status_code cc_store_sqlite_one_row(sqldb *db, sqlite3_stmt *stmt, const char *what,
                                    int (*read)(sqlite3_stmt *stmt, void *out), void *out)
{
    status_code rc = stmt ? sqldb_row(db, stmt, what) : STATUS_IO;
    if (rc == STATUS_OK && read(stmt, out) != 0)
        rc = STATUS_IO;
    sqlite3_finalize(stmt);
    return rc;
}

static int read_flag(sqlite3_stmt *stmt, void *out)
{
    (void)stmt;
    *(int *)out = 1;
    return 0;
}

static status_code sq_exists(cc_store_tx *tx, cc_probe what, const char *key, int *found)
{
    static const char *const sql[] = {
        [CC_PROBE_USER] = "SELECT 1 FROM users WHERE name = ?1",
        [CC_PROBE_DONOR_EMAIL] = "SELECT 1 FROM users WHERE email = ?1 AND role = 'donor'",
        [CC_PROBE_ADMIN] = "SELECT 1 FROM users WHERE role = 'admin' LIMIT 1",
        [CC_PROBE_TARGET] = "SELECT 1 FROM targets WHERE id = ?1",
        [CC_PROBE_TARGET_SHARDS] = "SELECT 1 FROM shards WHERE target_id = ?1 LIMIT 1",
        [CC_PROBE_DONOR] = "SELECT 1 FROM users WHERE name = ?1 AND role = 'donor'",
    };
    *found = 0;
    status_code rc = cc_store_sqlite_one_row(tx->db, sqldb_prepare(tx->db, sql[what], "t", key), "lookup",
                                             read_flag, found);
    return rc == STATUS_NOT_FOUND ? STATUS_OK : rc;
}

/* ---- users ---- */

#define USER_COLS "name, email, role, weight, creation_date"

static int read_user(sqlite3_stmt *stmt, void *out)
{
    cc_user *u = out;
    cc_role role = CC_ROLE_DONOR;
    char role_name[16];

    sqldb_text(stmt, 0, u->name, sizeof u->name);
    sqldb_text(stmt, 1, u->email, sizeof u->email);
    sqldb_text(stmt, 2, role_name, sizeof role_name);
    cc_role_parse(role_name, &role);
    u->role = role;
    u->weight = sqlite3_column_double(stmt, 3);
    u->creation_date = sqlite3_column_double(stmt, 4);
    return 0;
}

static int read_user_row(sqlite3_stmt *stmt, void *out)
{
    cc_user_row *row = out;
    sqldb_text(stmt, 5, row->password_hash, sizeof row->password_hash);
    return read_user(stmt, &row->user);
}

static status_code sq_user_insert(cc_store_tx *tx, const cc_user *user, const char *password_hash,
                                  const char *token_hash)
{
    return sqldb_run(tx->db, "user insert",
                     "INSERT INTO users(name, email, role, password_hash, token_hash, weight, creation_date)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                     "tttttdd", user->name, user->email, cc_role_name(user->role), password_hash, token_hash,
                     user->weight, user->creation_date);
}

static status_code sq_user_get(cc_store_tx *tx, int donors, const char *name, cc_user_row *out)
{
    sqlite3_stmt *stmt = sqldb_prepare(
        tx->db,
        donors ? "SELECT " USER_COLS ", password_hash FROM users WHERE name = ?1 AND role = 'donor'"
               : "SELECT " USER_COLS ", password_hash FROM users WHERE name = ?1 AND role <> 'donor'",
        "t", name);
    return cc_store_sqlite_one_row(tx->db, stmt, "user lookup", read_user_row, out);
}

static status_code sq_user_set_token(cc_store_tx *tx, const char *name, const char *password_hash,
                                     const char *token_hash)
{
    return sqldb_changed_one(
        tx->db, sqldb_run(tx->db, "token update",
                          "UPDATE users SET token_hash = ?1 WHERE name = ?2 AND password_hash = ?3", "ttt",
                          token_hash, name, password_hash));
}

static status_code sq_user_by_token(cc_store_tx *tx, const char *token_hash, cc_user *out)
{
    sqlite3_stmt *stmt =
        sqldb_prepare(tx->db, "SELECT " USER_COLS " FROM users WHERE token_hash = ?1", "t", token_hash);
    return cc_store_sqlite_one_row(tx->db, stmt, "token lookup", read_user, out);
}

/* ---- engine keys ---- */

static status_code sq_key_insert(cc_store_tx *tx, const cc_engine_key_row *row)
{
    return sqldb_run(tx->db, "engine key insert",
                     "INSERT INTO engine_keys(key_hash, key_sealed, engine, description, creation_date)"
                     " VALUES (?1, ?2, ?3, ?4, ?5)",
                     "ttttd", row->key_hash, row->key_sealed, row->engine, row->description,
                     row->creation_date);
}

static int fill_key(sqlite3_stmt *stmt, void *elem)
{
    cc_engine_key_row *row = elem;
    sqldb_text(stmt, 0, row->key_hash, sizeof row->key_hash);
    row->key_sealed = sqldb_dup(stmt, 1);
    sqldb_text(stmt, 2, row->engine, sizeof row->engine);
    sqldb_text(stmt, 3, row->description, sizeof row->description);
    row->creation_date = sqlite3_column_double(stmt, 4);
    return row->key_sealed ? 0 : -1;
}

static status_code sq_key_list(cc_store_tx *tx, cc_engine_key_row **out, size_t *n)
{
    sqlite3_stmt *stmt = sqldb_prepare(tx->db,
                                       "SELECT key_hash, key_sealed, engine, description, creation_date"
                                       " FROM engine_keys ORDER BY creation_date, key_hash",
                                       NULL);
    status_code rc = sqldb_collect(tx->db, stmt, (void **)out, n, sizeof **out, fill_key, "engine key list");
    if (rc != STATUS_OK) {
        cc_engine_key_rows_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static status_code sq_key_delete(cc_store_tx *tx, const char *key_hash)
{
    return sqldb_changed_one(tx->db, sqldb_run(tx->db, "engine key delete",
                                               "DELETE FROM engine_keys WHERE key_hash = ?1", "t", key_hash));
}

static int fill_key_ref(sqlite3_stmt *stmt, void *elem)
{
    cc_engine_key_ref *k = elem;
    sqldb_text(stmt, 0, k->key_hash, sizeof k->key_hash);
    sqldb_text(stmt, 1, k->engine, sizeof k->engine);
    return 0;
}

static status_code sq_key_refs(cc_store_tx *tx, cc_engine_key_ref **out, size_t *n)
{
    sqlite3_stmt *stmt =
        sqldb_prepare(tx->db, "SELECT key_hash, engine FROM engine_keys ORDER BY key_hash", NULL);
    return sqldb_collect(tx->db, stmt, (void **)out, n, sizeof **out, fill_key_ref, "engine key load");
}

/* ---- targets ---- */

#define TARGET_COLS "id, owner, stage, engines, options, weight, creation_date, points_per_frame"

/* Fills a zeroed target from a row of TARGET_COLS (shards are left
 * empty). 0 or -1. */
static int read_target(sqlite3_stmt *stmt, void *out)
{
    cc_target *t = out;
    sqldb_text(stmt, 0, t->id, sizeof t->id);
    sqldb_text(stmt, 1, t->owner, sizeof t->owner);
    t->weight = sqlite3_column_double(stmt, 5);
    t->creation_date = sqlite3_column_double(stmt, 6);
    t->points_per_frame = sqlite3_column_double(stmt, 7);
    return cc_target_from_row(t, (const char *)sqlite3_column_text(stmt, 2),
                              (const char *)sqlite3_column_text(stmt, 3),
                              (const char *)sqlite3_column_text(stmt, 4));
}

/* Inserts the row t, or (update) writes its stage, engines, options,
 * weight and points_per_frame: the first six parameters. */
static status_code write_target(cc_store_tx *tx, const cc_target *t, int update)
{
    char *engines = cc_engines_json((const char *const *)t->engines, t->n_engines);
    char *options = t->options ? json_dumps(t->options, JSON_COMPACT) : strdup("{}");
    status_code rc = STATUS_IO;

    if (engines && options)
        rc = sqldb_run(
            tx->db, update ? "target update" : "target insert",
            update ? "UPDATE targets SET stage = ?2, engines = ?3, options = ?4, weight = ?5,"
                     " points_per_frame = ?6 WHERE id = ?1"
                   : "INSERT INTO targets(id, stage, engines, options, weight, points_per_frame, owner,"
                     " creation_date) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            update ? "ttttdd" : "ttttddtd", t->id, cc_stage_name(t->stage), engines, options, t->weight,
            t->points_per_frame, t->owner, t->creation_date);
    free(engines);
    free(options);
    return rc;
}

static status_code sq_target_insert(cc_store_tx *tx, const cc_target *t)
{
    return write_target(tx, t, 0);
}

static status_code sq_target_write(cc_store_tx *tx, const cc_target *t)
{
    return write_target(tx, t, 1);
}

static status_code sq_target_read(cc_store_tx *tx, const char *id, cc_target *out)
{
    sqlite3_stmt *stmt = sqldb_prepare(tx->db, "SELECT " TARGET_COLS " FROM targets WHERE id = ?1", "t", id);
    return cc_store_sqlite_one_row(tx->db, stmt, "target lookup", read_target, out);
}

static status_code sq_target_delete(cc_store_tx *tx, const char *id)
{
    return sqldb_changed_one(
        tx->db, sqldb_run(tx->db, "target delete", "DELETE FROM targets WHERE id = ?1", "t", id));
}

static status_code sq_target_list(cc_store_tx *tx, const char *owner, cc_strlist *out)
{
    sqlite3_stmt *stmt =
        owner ? sqldb_prepare(tx->db, "SELECT id FROM targets WHERE owner = ?1 ORDER BY creation_date, id",
                              "t", owner)
              : sqldb_prepare(
                    tx->db, "SELECT id FROM targets WHERE stage = 'public' ORDER BY creation_date, id", NULL);
    return sqldb_collect(tx->db, stmt, (void **)&out->v, &out->n, sizeof *out->v, sqldb_fill_strdup,
                         "target list");
}

/* The delta queries name their index: without statistics the planner would
 * rather walk the primary key in id order than sort the few rows found
 * through `changed`, which reads every target. */
static status_code sq_targets_since(cc_store_tx *tx, const uint64_t *since, cc_target **out, size_t *n)
{
    sqlite3_stmt *stmt = since
                             ? sqldb_prepare(tx->db,
                                             "SELECT " TARGET_COLS " FROM targets INDEXED BY targets_changed"
                                             " WHERE changed > ?1 ORDER BY id",
                                             "i", (int64_t)*since)
                             : sqldb_prepare(tx->db, "SELECT " TARGET_COLS " FROM targets ORDER BY id", NULL);
    return sqldb_collect(tx->db, stmt, (void **)out, n, sizeof **out, read_target, "target load");
}

static status_code sq_deleted_since(cc_store_tx *tx, uint64_t since, cc_strlist *out)
{
    sqlite3_stmt *stmt = sqldb_prepare(tx->db,
                                       "SELECT id FROM target_deletions INDEXED BY target_deletions_changed"
                                       " WHERE changed > ?1 ORDER BY id",
                                       "i", (int64_t)since);
    return sqldb_collect(tx->db, stmt, (void **)&out->v, &out->n, sizeof *out->v, sqldb_fill_strdup,
                         "target deletion load");
}

/* ---- shards ---- */

/* Ids sort in the BINARY collation, the same order as strcmp. */
static status_code sq_shard_rows(cc_store_tx *tx, const char *target_id, const uint64_t *since,
                                 cc_shard_fn fn, void *arg)
{
    sqlite3_stmt *stmt =
        target_id
            ? sqldb_prepare(tx->db, "SELECT target_id, scv FROM shards WHERE target_id = ?1 ORDER BY scv",
                            "t", target_id)
        : since ? sqldb_prepare(tx->db,
                                "SELECT target_id, scv FROM shards WHERE target_id IN"
                                " (SELECT id FROM targets WHERE changed > ?1) ORDER BY target_id, scv",
                                "i", (int64_t)*since)
                : sqldb_prepare(tx->db, "SELECT target_id, scv FROM shards ORDER BY target_id, scv", NULL);
    status_code rc = stmt ? STATUS_OK : STATUS_IO;

    while (rc == STATUS_OK && (rc = sqldb_row(tx->db, stmt, "shard load")) == STATUS_OK) {
        if (fn((const char *)sqlite3_column_text(stmt, 0), (const char *)sqlite3_column_text(stmt, 1), arg) !=
            0)
            rc = STATUS_IO;
    }
    sqlite3_finalize(stmt);
    return rc == STATUS_NOT_FOUND ? STATUS_OK : rc;
}

static status_code sq_shard_change(cc_store_tx *tx, int add, const char *target_id, const char *scv)
{
    return sqldb_run(tx->db, "shard change",
                     add ? "INSERT INTO shards(target_id, scv) VALUES (?1, ?2) ON CONFLICT DO NOTHING"
                         : "DELETE FROM shards WHERE target_id = ?1 AND scv = ?2",
                     "tt", target_id, scv);
}

/* ---- SCVs and managers ---- */

static status_code sq_scv_upsert(cc_store_tx *tx, const cc_scv_row *row)
{
    return sqldb_run(tx->db, "scv upsert",
                     "INSERT INTO scvs(name, host, password_sealed) VALUES (?1, ?2, ?3)"
                     " ON CONFLICT(name) DO UPDATE SET host = excluded.host,"
                     " password_sealed = excluded.password_sealed",
                     "ttt", row->name, row->host, row->password_sealed);
}

static int fill_scv(sqlite3_stmt *stmt, void *elem)
{
    cc_scv_row *row = elem;
    sqldb_text(stmt, 0, row->name, sizeof row->name);
    sqldb_text(stmt, 1, row->host, sizeof row->host);
    row->password_sealed = sqldb_dup(stmt, 2);
    return row->password_sealed ? 0 : -1;
}

static status_code sq_scv_list(cc_store_tx *tx, cc_scv_row **out, size_t *n)
{
    sqlite3_stmt *stmt =
        sqldb_prepare(tx->db, "SELECT name, host, password_sealed FROM scvs ORDER BY name", NULL);
    status_code rc = sqldb_collect(tx->db, stmt, (void **)out, n, sizeof **out, fill_scv, "scv list");
    if (rc != STATUS_OK) {
        cc_scv_rows_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static int fill_manager(sqlite3_stmt *stmt, void *elem)
{
    cc_manager_weight *m = elem;
    char role[16];
    cc_role parsed = CC_ROLE_MANAGER;

    sqldb_text(stmt, 0, m->name, sizeof m->name);
    sqldb_text(stmt, 1, role, sizeof role);
    cc_role_parse(role, &parsed);
    m->role = parsed;
    m->weight = sqlite3_column_double(stmt, 2);
    return 0;
}

static status_code sq_managers(cc_store_tx *tx, cc_manager_weight **out, size_t *n)
{
    sqlite3_stmt *stmt = sqldb_prepare(
        tx->db, "SELECT name, role, weight FROM users WHERE role <> 'donor' ORDER BY name", NULL);
    return sqldb_collect(tx->db, stmt, (void **)out, n, sizeof **out, fill_manager, "manager load");
}

static int read_generation(sqlite3_stmt *stmt, void *out)
{
    *(uint64_t *)out = (uint64_t)sqlite3_column_int64(stmt, 0);
    return 0;
}

static status_code sq_generation(cc_store_tx *tx, uint64_t *out)
{
    status_code rc =
        cc_store_sqlite_one_row(tx->db, sqldb_prepare(tx->db, "SELECT generation FROM meta", NULL),
                                "change counter", read_generation, out);
    return rc == STATUS_NOT_FOUND ? STATUS_IO : rc;
}

/* ---- sealing ---- */

static status_code sq_salt_offer(cc_store_tx *tx, const char *candidate)
{
    return sqldb_run(tx->db, "sealing salt", "INSERT OR IGNORE INTO seal_salt(id, salt) VALUES (1, ?1)", "t",
                     candidate);
}

static int read_salt(sqlite3_stmt *stmt, void *out)
{
    sqldb_text(stmt, 0, out, AUTH_SALT_HEX_LEN + 1);
    return 0;
}

static status_code sq_salt_get(cc_store_tx *tx, char out[AUTH_SALT_HEX_LEN + 1])
{
    status_code rc = cc_store_sqlite_one_row(
        tx->db, sqldb_prepare(tx->db, "SELECT salt FROM seal_salt WHERE id = 1", NULL), "sealing salt",
        read_salt, out);
    return rc == STATUS_NOT_FOUND ? STATUS_IO : rc;
}

static status_code sq_reseal(cc_store_tx *tx, int scv, const char *id, const char *old_sealed,
                             const char *new_sealed)
{
    return sqldb_changed_one(
        tx->db,
        sqldb_run(tx->db, "sealing again",
                  scv ? "UPDATE scvs SET password_sealed = ?1 WHERE name = ?2 AND password_sealed = ?3"
                      : "UPDATE engine_keys SET key_sealed = ?1 WHERE key_hash = ?2 AND key_sealed = ?3",
                  "ttt", new_sealed, id, old_sealed));
}

const cc_store_ops cc_store_sqlite_ops = {
    .serial_writes = 1,
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .end = sq_end,
    .exists = sq_exists,
    .user_insert = sq_user_insert,
    .user_get = sq_user_get,
    .user_set_token = sq_user_set_token,
    .user_by_token = sq_user_by_token,
    .key_insert = sq_key_insert,
    .key_list = sq_key_list,
    .key_delete = sq_key_delete,
    .target_insert = sq_target_insert,
    .target_read = sq_target_read,
    .target_write = sq_target_write,
    .target_delete = sq_target_delete,
    .target_list = sq_target_list,
    .targets_since = sq_targets_since,
    .deleted_since = sq_deleted_since,
    .shard_rows = sq_shard_rows,
    .shard_change = sq_shard_change,
    .scv_upsert = sq_scv_upsert,
    .scv_list = sq_scv_list,
    .managers = sq_managers,
    .key_refs = sq_key_refs,
    .generation = sq_generation,
    .salt_offer = sq_salt_offer,
    .salt_get = sq_salt_get,
    .reseal = sq_reseal,
    .credit = &cc_store_sqlite_credit_ops,
};
