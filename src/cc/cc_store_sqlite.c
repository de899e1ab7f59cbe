/* The SQLite backend of cc_store: one connection in WAL mode behind a
 * mutex. Writes use BEGIN IMMEDIATE so a second process on the same file
 * (the bootstrap CLI) waits instead of failing; synchronous=FULL so an
 * acknowledged write (stats credit above all) survives a power cut. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_store.h"
#include "util/log.h"

#define SCHEMA_VERSION 4
#define BUSY_TIMEOUT_MS 5000

typedef struct sq {
    sqlite3 *db;
    pthread_mutex_t lock;
} sq;

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

static cc_store_status fail(sq *s, const char *what)
{
    log_error("cc database: %s failed: %s", what, sqlite3_errmsg(s->db));
    return CC_STORE_IO;
}

static int exec(sq *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    log_error("cc database: '%.40s' failed: %s", sql, msg ? msg : "unknown error");
    sqlite3_free(msg);
    return -1;
}

static sqlite3_stmt *prep(sq *s, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        log_error("cc database: preparing '%.40s' failed: %s", sql, sqlite3_errmsg(s->db));
        return NULL;
    }
    return stmt;
}

static void bind_text(sqlite3_stmt *stmt, int i, const char *v)
{
    sqlite3_bind_text(stmt, i, v, -1, SQLITE_TRANSIENT);
}

static void col_text(sqlite3_stmt *stmt, int i, char *dst, size_t size)
{
    const unsigned char *v = sqlite3_column_text(stmt, i);
    snprintf(dst, size, "%s", v ? (const char *)v : "");
}

static char *col_dup(sqlite3_stmt *stmt, int i)
{
    const unsigned char *v = sqlite3_column_text(stmt, i);
    return strdup(v ? (const char *)v : "");
}

static void lock(sq *s)
{
    pthread_mutex_lock(&s->lock);
}

static void unlock(sq *s)
{
    pthread_mutex_unlock(&s->lock);
}

static int begin_write(sq *s)
{
    return exec(s, "BEGIN IMMEDIATE");
}

/* Commits when rc is OK, else rolls back; a failed commit becomes IO. */
static cc_store_status finish(sq *s, cc_store_status rc)
{
    if (rc == CC_STORE_OK && exec(s, "COMMIT") == 0)
        return CC_STORE_OK;
    if (sqlite3_get_autocommit(s->db) == 0)
        exec(s, "ROLLBACK");
    return rc == CC_STORE_OK ? CC_STORE_IO : rc;
}

/* Runs a statement that returns no rows. */
static cc_store_status step_done(sq *s, sqlite3_stmt *stmt, const char *what)
{
    int r = sqlite3_step(stmt);
    if (r == SQLITE_DONE)
        return CC_STORE_OK;
    if ((r & 0xff) == SQLITE_CONSTRAINT)
        return CC_STORE_EXISTS;
    return fail(s, what);
}

/* 1 when the query (already bound) yields a row, 0 when not, -1 on error. */
static int step_exists(sq *s, sqlite3_stmt *stmt, const char *what)
{
    int r = sqlite3_step(stmt);
    if (r == SQLITE_ROW)
        return 1;
    if (r == SQLITE_DONE)
        return 0;
    fail(s, what);
    return -1;
}

/* 1 when targets has the column `changed`, 0 when not, -1 on error. */
static int has_changed_column(sq *s)
{
    sqlite3_stmt *stmt = prep(s, "SELECT 1 FROM pragma_table_info('targets') WHERE name = 'changed'");
    int found = stmt ? step_exists(s, stmt, "schema lookup") : -1;
    sqlite3_finalize(stmt);
    return found;
}

static int upgrade_v3(sq *s)
{
    int found = has_changed_column(s);
    if (found < 0 ||
        (found == 0 && exec(s, "ALTER TABLE targets ADD COLUMN changed INTEGER NOT NULL DEFAULT 0")))
        return -1;
    return exec(s, schema_v3_sql);
}

static int create_schema(sq *s, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = NULL;
    int version = -1, rc = -1;

    if (begin_write(s) != 0) {
        snprintf(err, errlen, "cannot lock the database: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    stmt = prep(s, "PRAGMA user_version");
    if (stmt && sqlite3_step(stmt) == SQLITE_ROW)
        version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    if (version < 0) {
        snprintf(err, errlen, "cannot read the schema version: %s", sqlite3_errmsg(s->db));
        goto out;
    }
    if (version > SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "database schema version %d is newer than this program's (%d); upgrade siegetank", version,
                 SCHEMA_VERSION);
        goto out;
    }
    if (version < SCHEMA_VERSION &&
        ((version < 1 && exec(s, schema_sql) != 0) || (version < 2 && exec(s, schema_v2_sql) != 0) ||
         upgrade_v3(s) != 0 || exec(s, schema_v4_sql) != 0 || exec(s, "PRAGMA user_version = 4") != 0)) {
        snprintf(err, errlen, "cannot create the schema: %s", sqlite3_errmsg(s->db));
        goto out;
    }
    rc = 0;
out:
    if (finish(s, rc == 0 ? CC_STORE_OK : CC_STORE_IO) != CC_STORE_OK && rc == 0) {
        snprintf(err, errlen, "cannot commit the schema: %s", sqlite3_errmsg(s->db));
        rc = -1;
    }
    return rc;
}

static void sq_close(void *impl)
{
    sq *s = impl;
    if (!s)
        return;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void *cc_store_sqlite_open(const char *db_path, char *err, size_t errlen)
{
    sq *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    if (sqlite3_open_v2(db_path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", db_path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    if (exec(s, "PRAGMA journal_mode = WAL") != 0 || exec(s, "PRAGMA synchronous = FULL") != 0 ||
        exec(s, "PRAGMA foreign_keys = ON") != 0) {
        snprintf(err, errlen, "cannot configure database %s: %s", db_path, sqlite3_errmsg(s->db));
        goto fail;
    }
    if (create_schema(s, err, errlen) != 0)
        goto fail;
    return s;
fail:
    sq_close(s);
    return NULL;
}

/* ---- users ---- */

static void read_user(sqlite3_stmt *stmt, int first, cc_user *u)
{
    cc_role role = CC_ROLE_DONOR;
    char role_name[16];

    col_text(stmt, first, u->name, sizeof u->name);
    col_text(stmt, first + 1, u->email, sizeof u->email);
    col_text(stmt, first + 2, role_name, sizeof role_name);
    cc_role_parse(role_name, &role);
    u->role = role;
    u->weight = sqlite3_column_double(stmt, first + 3);
    u->creation_date = sqlite3_column_double(stmt, first + 4);
}

#define USER_COLS "name, email, role, weight, creation_date"

static cc_store_status sq_user_insert(void *impl, const cc_user *user, const char *password_hash,
                                      const char *token_hash)
{
    sq *s = impl;
    sqlite3_stmt *stmt = NULL;
    cc_store_status rc = CC_STORE_IO;
    int found;

    lock(s);
    if (begin_write(s) != 0)
        goto out;
    stmt = prep(s, "SELECT 1 FROM users WHERE name = ?");
    if (!stmt)
        goto out;
    bind_text(stmt, 1, user->name);
    found = step_exists(s, stmt, "user lookup");
    if (found != 0) {
        rc = found > 0 ? CC_STORE_EXISTS : CC_STORE_IO;
        goto out;
    }
    sqlite3_finalize(stmt);
    stmt = NULL;
    if (user->role == CC_ROLE_DONOR) {
        stmt = prep(s, "SELECT 1 FROM users WHERE email = ? AND role = 'donor'");
        if (!stmt)
            goto out;
        bind_text(stmt, 1, user->email);
        found = step_exists(s, stmt, "donor email lookup");
        if (found != 0) {
            rc = found > 0 ? CC_STORE_EMAIL_EXISTS : CC_STORE_IO;
            goto out;
        }
        sqlite3_finalize(stmt);
    }
    stmt = prep(s, "INSERT INTO users(name, email, role, password_hash, token_hash, weight, creation_date)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!stmt)
        goto out;
    bind_text(stmt, 1, user->name);
    bind_text(stmt, 2, user->email);
    bind_text(stmt, 3, cc_role_name(user->role));
    bind_text(stmt, 4, password_hash);
    bind_text(stmt, 5, token_hash);
    sqlite3_bind_double(stmt, 6, user->weight);
    sqlite3_bind_double(stmt, 7, user->creation_date);
    rc = step_done(s, stmt, "user insert");
out:
    sqlite3_finalize(stmt);
    rc = finish(s, rc);
    unlock(s);
    return rc;
}

static cc_store_status sq_user_get(void *impl, int donors, const char *name, cc_user_row *out)
{
    sq *s = impl;
    sqlite3_stmt *stmt = NULL;
    cc_store_status rc = CC_STORE_IO;
    int found;

    lock(s);
    stmt =
        prep(s, donors ? "SELECT " USER_COLS ", password_hash FROM users WHERE name = ? AND role = 'donor'"
                       : "SELECT " USER_COLS ", password_hash FROM users WHERE name = ? AND role <> 'donor'");
    if (!stmt)
        goto out;
    bind_text(stmt, 1, name);
    found = step_exists(s, stmt, "user lookup");
    if (found <= 0) {
        rc = found == 0 ? CC_STORE_NOT_FOUND : CC_STORE_IO;
        goto out;
    }
    read_user(stmt, 0, &out->user);
    col_text(stmt, 5, out->password_hash, sizeof out->password_hash);
    rc = CC_STORE_OK;
out:
    sqlite3_finalize(stmt);
    unlock(s);
    return rc;
}

static cc_store_status sq_user_set_token(void *impl, const char *name, const char *password_hash,
                                         const char *token_hash)
{
    sq *s = impl;
    sqlite3_stmt *stmt = NULL;
    cc_store_status rc = CC_STORE_IO;

    lock(s);
    stmt = prep(s, "UPDATE users SET token_hash = ? WHERE name = ? AND password_hash = ?");
    if (!stmt)
        goto out;
    bind_text(stmt, 1, token_hash);
    bind_text(stmt, 2, name);
    bind_text(stmt, 3, password_hash);
    rc = step_done(s, stmt, "token update");
    if (rc == CC_STORE_OK && sqlite3_changes(s->db) == 0)
        rc = CC_STORE_NOT_FOUND;
out:
    sqlite3_finalize(stmt);
    unlock(s);
    return rc;
}

static cc_store_status sq_user_by_token(void *impl, const char *token_hash, cc_user *out)
{
    sq *s = impl;
    sqlite3_stmt *stmt = NULL;
    cc_store_status rc = CC_STORE_IO;
    int found;

    lock(s);
    stmt = prep(s, "SELECT " USER_COLS " FROM users WHERE token_hash = ?");
    if (!stmt)
        goto out;
    bind_text(stmt, 1, token_hash);
    found = step_exists(s, stmt, "token lookup");
    if (found > 0)
        read_user(stmt, 0, out);
    rc = found > 0 ? CC_STORE_OK : found == 0 ? CC_STORE_NOT_FOUND : CC_STORE_IO;
out:
    sqlite3_finalize(stmt);
    unlock(s);
    return rc;
}

static cc_store_status sq_admin_exists(void *impl, int *out)
{
    sq *s = impl;
    sqlite3_stmt *stmt = NULL;
    cc_store_status rc = CC_STORE_IO;
    int found;

    lock(s);
    stmt = prep(s, "SELECT 1 FROM users WHERE role = 'admin' LIMIT 1");
    if (!stmt)
        goto out;
    found = step_exists(s, stmt, "admin lookup");
    if (found >= 0) {
        *out = found;
        rc = CC_STORE_OK;
    }
out:
    sqlite3_finalize(stmt);
    unlock(s);
    return rc;
}

/* ---- engine keys ---- */

static cc_store_status sq_key_insert(void *impl, const cc_engine_key_row *row)
{
    sq *s = impl;
    sqlite3_stmt *stmt = NULL;
    cc_store_status rc = CC_STORE_IO;

    lock(s);
    stmt = prep(s, "INSERT INTO engine_keys(key_hash, key_sealed, engine, description, creation_date)"
                   " VALUES (?, ?, ?, ?, ?)");
    if (!stmt)
        goto out;
    bind_text(stmt, 1, row->key_hash);
    bind_text(stmt, 2, row->key_sealed);
    bind_text(stmt, 3, row->engine);
    bind_text(stmt, 4, row->description);
    sqlite3_bind_double(stmt, 5, row->creation_date);
    rc = step_done(s, stmt, "engine key insert");
out:
    sqlite3_finalize(stmt);
    unlock(s);
    return rc;
}

/* Grows *v (of elem bytes each) so index n fits. 0 or -1. */
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

/* Fills one zeroed array element from the current result row. 0 or -1. */
typedef int (*row_fill)(sqlite3_stmt *stmt, void *elem);

/* Steps stmt to the end, appending one element of elem bytes to *v per
 * row (counted in *n) through fill, then finalizes stmt. A row that fails
 * to fill is still counted, so on error the caller's free releases
 * whatever it holds. */
static cc_store_status collect_rows(sq *s, sqlite3_stmt *stmt, void **v, size_t *n, size_t elem,
                                    row_fill fill, const char *what)
{
    size_t cap = 0;
    int r;

    if (!stmt)
        return CC_STORE_IO;
    while ((r = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (grow(v, &cap, *n, elem) != 0)
            break;
        void *row = (char *)*v + *n * elem;
        ++*n;
        if (fill(stmt, row) != 0)
            break;
    }
    sqlite3_finalize(stmt);
    if (r == SQLITE_DONE)
        return CC_STORE_OK;
    return r == SQLITE_ROW ? CC_STORE_IO : fail(s, what);
}

static int fill_key(sqlite3_stmt *stmt, void *elem)
{
    cc_engine_key_row *row = elem;
    col_text(stmt, 0, row->key_hash, sizeof row->key_hash);
    row->key_sealed = col_dup(stmt, 1);
    col_text(stmt, 2, row->engine, sizeof row->engine);
    col_text(stmt, 3, row->description, sizeof row->description);
    row->creation_date = sqlite3_column_double(stmt, 4);
    return row->key_sealed ? 0 : -1;
}

static cc_store_status key_rows(sq *s, cc_engine_key_row **out, size_t *n)
{
    sqlite3_stmt *stmt = prep(s, "SELECT key_hash, key_sealed, engine, description, creation_date"
                                 " FROM engine_keys ORDER BY creation_date, key_hash");

    *out = NULL;
    *n = 0;
    if (collect_rows(s, stmt, (void **)out, n, sizeof **out, fill_key, "engine key list") == CC_STORE_OK)
        return CC_STORE_OK;
    cc_engine_key_rows_free(*out, *n);
    *out = NULL;
    *n = 0;
    return CC_STORE_IO;
}

static cc_store_status sq_key_list(void *impl, cc_engine_key_row **out, size_t *n)
{
    sq *s = impl;
    lock(s);
    cc_store_status rc = key_rows(s, out, n);
    unlock(s);
    return rc;
}

static cc_store_status sq_key_delete(void *impl, const char *key_hash)
{
    sq *s = impl;
    sqlite3_stmt *stmt = NULL;
    cc_store_status rc = CC_STORE_IO;

    lock(s);
    stmt = prep(s, "DELETE FROM engine_keys WHERE key_hash = ?");
    if (!stmt)
        goto out;
    bind_text(stmt, 1, key_hash);
    rc = step_done(s, stmt, "engine key delete");
    if (rc == CC_STORE_OK && sqlite3_changes(s->db) == 0)
        rc = CC_STORE_NOT_FOUND;
out:
    sqlite3_finalize(stmt);
    unlock(s);
    return rc;
}

static cc_store_status sq_key_lookup(void *impl, const char *key_hash, char engine[CC_ENGINE_MAX + 1])
{
    sq *s = impl;
    sqlite3_stmt *stmt = NULL;
    cc_store_status rc = CC_STORE_IO;
    int found;

    lock(s);
    stmt = prep(s, "SELECT engine FROM engine_keys WHERE key_hash = ?");
    if (!stmt)
        goto out;
    bind_text(stmt, 1, key_hash);
    found = step_exists(s, stmt, "engine key lookup");
    if (found > 0)
        col_text(stmt, 0, engine, CC_ENGINE_MAX + 1);
    rc = found > 0 ? CC_STORE_OK : found == 0 ? CC_STORE_NOT_FOUND : CC_STORE_IO;
out:
    sqlite3_finalize(stmt);
    unlock(s);
    return rc;
}

/* ---- targets ---- */

#define TARGET_COLS "id, owner, stage, engines, options, weight, creation_date"

/* Fills t from a row of TARGET_COLS (shards are left empty). 0 or -1. */
static int read_target(sqlite3_stmt *stmt, cc_target *t)
{
    char stage[16];
    cc_stage parsed = CC_STAGE_DISABLED;

    memset(t, 0, sizeof *t);
    col_text(stmt, 0, t->id, sizeof t->id);
    col_text(stmt, 1, t->owner, sizeof t->owner);
    col_text(stmt, 2, stage, sizeof stage);
    cc_stage_parse(stage, &parsed);
    t->stage = parsed;
    t->weight = sqlite3_column_double(stmt, 5);
    t->creation_date = sqlite3_column_double(stmt, 6);
    if (cc_engines_parse((const char *)sqlite3_column_text(stmt, 3), t) != 0)
        return -1;
    t->options = json_loads((const char *)sqlite3_column_text(stmt, 4), 0, NULL);
    if (!json_is_object(t->options)) {
        json_decref(t->options);
        t->options = json_object();
    }
    return t->options ? 0 : -1;
}

static int add_shard(cc_target *t, const char *scv)
{
    char **v = realloc(t->shards, (t->n_shards + 1) * sizeof *v);
    if (!v)
        return -1;
    t->shards = v;
    v[t->n_shards] = strdup(scv);
    if (!v[t->n_shards])
        return -1;
    t->n_shards++;
    return 0;
}

static cc_store_status sq_target_insert(void *impl, const cc_target *t)
{
    sq *s = impl;
    sqlite3_stmt *stmt = NULL;
    cc_store_status rc = CC_STORE_IO;
    char *engines = cc_engines_json((const char *const *)t->engines, t->n_engines);
    char *options = t->options ? json_dumps(t->options, JSON_COMPACT) : strdup("{}");

    lock(s);
    if (!engines || !options)
        goto out;
    stmt = prep(s, "INSERT INTO targets(" TARGET_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!stmt)
        goto out;
    bind_text(stmt, 1, t->id);
    bind_text(stmt, 2, t->owner);
    bind_text(stmt, 3, cc_stage_name(t->stage));
    bind_text(stmt, 4, engines);
    bind_text(stmt, 5, options);
    sqlite3_bind_double(stmt, 6, t->weight);
    sqlite3_bind_double(stmt, 7, t->creation_date);
    rc = step_done(s, stmt, "target insert");
out:
    sqlite3_finalize(stmt);
    unlock(s);
    free(engines);
    free(options);
    return rc;
}

/* The target row alone, under the caller's lock. */
static cc_store_status target_row(sq *s, const char *id, cc_target *out)
{
    sqlite3_stmt *stmt = prep(s, "SELECT " TARGET_COLS " FROM targets WHERE id = ?");
    cc_store_status rc = CC_STORE_IO;
    int found;

    if (!stmt)
        return CC_STORE_IO;
    bind_text(stmt, 1, id);
    found = step_exists(s, stmt, "target lookup");
    if (found == 0)
        rc = CC_STORE_NOT_FOUND;
    else if (found > 0)
        rc = read_target(stmt, out) == 0 ? CC_STORE_OK : CC_STORE_IO;
    sqlite3_finalize(stmt);
    return rc;
}

static cc_store_status sq_target_get(void *impl, const char *id, cc_target *out)
{
    sq *s = impl;
    sqlite3_stmt *stmt = NULL;
    cc_store_status rc;
    int r;

    lock(s);
    rc = target_row(s, id, out);
    if (rc != CC_STORE_OK)
        goto out;
    rc = CC_STORE_IO;
    stmt = prep(s, "SELECT scv FROM shards WHERE target_id = ? ORDER BY scv");
    if (!stmt)
        goto out;
    bind_text(stmt, 1, id);
    while ((r = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (add_shard(out, (const char *)sqlite3_column_text(stmt, 0)) != 0)
            goto out;
    }
    if (r != SQLITE_DONE) {
        fail(s, "shard list");
        goto out;
    }
    rc = CC_STORE_OK;
out:
    sqlite3_finalize(stmt);
    unlock(s);
    if (rc != CC_STORE_OK)
        cc_target_free(out);
    return rc;
}

static cc_store_status sq_target_update(void *impl, const char *id, const cc_target_update *u)
{
    sq *s = impl;
    sqlite3_stmt *stmt = NULL;
    cc_target t = {0};
    cc_store_status rc = CC_STORE_IO;
    char *engines = NULL, *options = NULL;

    lock(s);
    if (begin_write(s) != 0)
        goto out;
    rc = target_row(s, id, &t);
    if (rc != CC_STORE_OK)
        goto out;
    rc = CC_STORE_IO;
    if (u->options && json_object_update(t.options, (json_t *)u->options) != 0)
        goto out;
    options = json_dumps(t.options, JSON_COMPACT);
    engines = u->set_engines ? cc_engines_json(u->engines, u->n_engines)
                             : cc_engines_json((const char *const *)t.engines, t.n_engines);
    if (!options || !engines)
        goto out;
    if (strlen(options) > CC_OPTIONS_MAX) {
        rc = CC_STORE_INVALID;
        goto out;
    }
    stmt = prep(s, "UPDATE targets SET stage = ?, engines = ?, options = ?, weight = ? WHERE id = ?");
    if (!stmt)
        goto out;
    bind_text(stmt, 1, cc_stage_name(u->set_stage ? u->stage : t.stage));
    bind_text(stmt, 2, engines);
    bind_text(stmt, 3, options);
    sqlite3_bind_double(stmt, 4, u->set_weight ? u->weight : t.weight);
    bind_text(stmt, 5, id);
    rc = step_done(s, stmt, "target update");
out:
    sqlite3_finalize(stmt);
    rc = finish(s, rc);
    unlock(s);
    cc_target_free(&t);
    free(engines);
    free(options);
    return rc;
}

static cc_store_status sq_target_delete(void *impl, const char *id)
{
    sq *s = impl;
    sqlite3_stmt *stmt = NULL;
    cc_store_status rc = CC_STORE_IO;
    int found;

    lock(s);
    if (begin_write(s) != 0)
        goto out;
    stmt = prep(s, "SELECT 1 FROM shards WHERE target_id = ? LIMIT 1");
    if (!stmt)
        goto out;
    bind_text(stmt, 1, id);
    found = step_exists(s, stmt, "shard lookup");
    if (found != 0) {
        rc = found > 0 ? CC_STORE_CONFLICT : CC_STORE_IO;
        goto out;
    }
    sqlite3_finalize(stmt);
    stmt = prep(s, "DELETE FROM targets WHERE id = ?");
    if (!stmt)
        goto out;
    bind_text(stmt, 1, id);
    rc = step_done(s, stmt, "target delete");
    if (rc == CC_STORE_OK && sqlite3_changes(s->db) == 0)
        rc = CC_STORE_NOT_FOUND;
out:
    sqlite3_finalize(stmt);
    rc = finish(s, rc);
    unlock(s);
    return rc;
}

static int fill_strdup(sqlite3_stmt *stmt, void *elem)
{
    char **v = elem;
    *v = col_dup(stmt, 0);
    return *v ? 0 : -1;
}

static cc_store_status sq_target_list(void *impl, const char *owner, cc_strlist *out)
{
    sq *s = impl;
    sqlite3_stmt *stmt;
    cc_store_status rc;

    lock(s);
    stmt = prep(s, owner ? "SELECT id FROM targets WHERE owner = ? ORDER BY creation_date, id"
                         : "SELECT id FROM targets WHERE stage = 'public' ORDER BY creation_date, id");
    if (stmt && owner)
        bind_text(stmt, 1, owner);
    rc = collect_rows(s, stmt, (void **)&out->v, &out->n, sizeof *out->v, fill_strdup, "target list");
    unlock(s);
    if (rc != CC_STORE_OK)
        cc_strlist_free(out);
    return rc;
}

/* Adds or removes a shard inside one transaction that first checks the
 * target exists, so an unknown target is NOT_FOUND either way. */
static cc_store_status shard_change(sq *s, const char *target_id, const char *scv, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    cc_store_status rc = CC_STORE_IO;
    int found;

    lock(s);
    if (begin_write(s) != 0)
        goto out;
    stmt = prep(s, "SELECT 1 FROM targets WHERE id = ?");
    if (!stmt)
        goto out;
    bind_text(stmt, 1, target_id);
    found = step_exists(s, stmt, "target lookup");
    if (found <= 0) {
        rc = found == 0 ? CC_STORE_NOT_FOUND : CC_STORE_IO;
        goto out;
    }
    sqlite3_finalize(stmt);
    stmt = prep(s, sql);
    if (!stmt)
        goto out;
    bind_text(stmt, 1, target_id);
    bind_text(stmt, 2, scv);
    rc = step_done(s, stmt, "shard change");
out:
    sqlite3_finalize(stmt);
    rc = finish(s, rc);
    unlock(s);
    return rc;
}

static cc_store_status sq_shard_add(void *impl, const char *target_id, const char *scv)
{
    return shard_change(impl, target_id, scv,
                        "INSERT INTO shards(target_id, scv) VALUES (?, ?) ON CONFLICT DO NOTHING");
}

static cc_store_status sq_shard_remove(void *impl, const char *target_id, const char *scv)
{
    return shard_change(impl, target_id, scv, "DELETE FROM shards WHERE target_id = ? AND scv = ?");
}

/* ---- SCVs ---- */

static cc_store_status sq_scv_upsert(void *impl, const cc_scv_row *row)
{
    sq *s = impl;
    sqlite3_stmt *stmt = NULL;
    cc_store_status rc = CC_STORE_IO;

    lock(s);
    stmt = prep(s, "INSERT INTO scvs(name, host, password_sealed) VALUES (?, ?, ?)"
                   " ON CONFLICT(name) DO UPDATE SET host = excluded.host,"
                   " password_sealed = excluded.password_sealed");
    if (!stmt)
        goto out;
    bind_text(stmt, 1, row->name);
    bind_text(stmt, 2, row->host);
    bind_text(stmt, 3, row->password_sealed);
    rc = step_done(s, stmt, "scv upsert");
out:
    sqlite3_finalize(stmt);
    unlock(s);
    return rc;
}

static int fill_scv(sqlite3_stmt *stmt, void *elem)
{
    cc_scv_row *row = elem;
    col_text(stmt, 0, row->name, sizeof row->name);
    col_text(stmt, 1, row->host, sizeof row->host);
    row->password_sealed = col_dup(stmt, 2);
    return row->password_sealed ? 0 : -1;
}

static cc_store_status scv_rows(sq *s, cc_scv_row **out, size_t *n)
{
    sqlite3_stmt *stmt = prep(s, "SELECT name, host, password_sealed FROM scvs ORDER BY name");

    *out = NULL;
    *n = 0;
    if (collect_rows(s, stmt, (void **)out, n, sizeof **out, fill_scv, "scv list") == CC_STORE_OK)
        return CC_STORE_OK;
    cc_scv_rows_free(*out, *n);
    *out = NULL;
    *n = 0;
    return CC_STORE_IO;
}

static cc_store_status sq_scv_list(void *impl, cc_scv_row **out, size_t *n)
{
    sq *s = impl;
    lock(s);
    cc_store_status rc = scv_rows(s, out, n);
    unlock(s);
    return rc;
}

/* ---- sealing ---- */

static cc_store_status sq_seal_salt(void *impl, const char *candidate, char out[AUTH_SALT_HEX_LEN + 1])
{
    sq *s = impl;
    sqlite3_stmt *ins = NULL, *get = NULL;
    cc_store_status rc = CC_STORE_IO;

    lock(s);
    if (begin_write(s) != 0)
        goto out;
    ins = prep(s, "INSERT OR IGNORE INTO seal_salt(id, salt) VALUES (1, ?)");
    get = prep(s, "SELECT salt FROM seal_salt WHERE id = 1");
    if (!ins || !get)
        goto done;
    bind_text(ins, 1, candidate);
    if (step_done(s, ins, "sealing salt") != CC_STORE_OK || step_exists(s, get, "sealing salt") != 1)
        goto done;
    col_text(get, 0, out, AUTH_SALT_HEX_LEN + 1);
    rc = CC_STORE_OK;
done:
    rc = finish(s, rc);
out:
    sqlite3_finalize(ins);
    sqlite3_finalize(get);
    unlock(s);
    return rc;
}

static cc_store_status sq_reseal(void *impl, int scv, const char *id, const char *old_sealed,
                                 const char *new_sealed)
{
    sq *s = impl;
    cc_store_status rc = CC_STORE_IO;

    lock(s);
    sqlite3_stmt *stmt =
        prep(s, scv ? "UPDATE scvs SET password_sealed = ? WHERE name = ? AND password_sealed = ?"
                    : "UPDATE engine_keys SET key_sealed = ? WHERE key_hash = ? AND key_sealed = ?");
    if (stmt) {
        bind_text(stmt, 1, new_sealed);
        bind_text(stmt, 2, id);
        bind_text(stmt, 3, old_sealed);
        rc = step_done(s, stmt, "sealing again");
        if (rc == CC_STORE_OK && sqlite3_changes(s->db) == 0)
            rc = CC_STORE_NOT_FOUND;
    }
    sqlite3_finalize(stmt);
    unlock(s);
    return rc;
}

/* ---- stats ---- */

static cc_store_status sq_stats_insert(void *impl, const cc_stats_fragment *v, size_t n, size_t *inserted)
{
    sq *s = impl;
    sqlite3_stmt *stmt = NULL;
    cc_store_status rc = CC_STORE_IO;
    size_t count = 0;

    lock(s);
    if (begin_write(s) != 0)
        goto out;
    stmt = prep(s, "INSERT INTO stats(id, target_id, stream_id, engine, user, start_time, end_time, frames)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING");
    if (!stmt)
        goto out;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(stmt);
        bind_text(stmt, 1, v[i].id);
        bind_text(stmt, 2, v[i].target_id);
        bind_text(stmt, 3, v[i].stream_id);
        bind_text(stmt, 4, v[i].engine);
        bind_text(stmt, 5, v[i].user);
        sqlite3_bind_double(stmt, 6, v[i].start_time);
        sqlite3_bind_double(stmt, 7, v[i].end_time);
        sqlite3_bind_int64(stmt, 8, v[i].frames);
        rc = step_done(s, stmt, "stats insert");
        if (rc != CC_STORE_OK)
            goto out;
        count += (size_t)sqlite3_changes(s->db);
    }
    rc = CC_STORE_OK;
out:
    sqlite3_finalize(stmt);
    rc = finish(s, rc);
    unlock(s);
    *inserted = rc == CC_STORE_OK ? count : 0;
    return rc;
}

/* ---- the whole cache ---- */

static int fill_target(sqlite3_stmt *stmt, void *elem)
{
    return read_target(stmt, elem);
}

/* Binds *since to the statement's first parameter, when there is one. */
static sqlite3_stmt *prep_since(sq *s, const char *sql, const uint64_t *since)
{
    sqlite3_stmt *stmt = prep(s, sql);
    if (stmt && since)
        sqlite3_bind_int64(stmt, 1, (sqlite3_int64)*since);
    return stmt;
}

/* The delta queries name their index: without statistics the planner would
 * rather walk the primary key in id order than sort the few rows found
 * through `changed`, which reads every target. */
static cc_store_status load_targets(sq *s, const uint64_t *since, cc_snapshot *out)
{
    sqlite3_stmt *stmt = prep_since(
        s,
        since ? "SELECT " TARGET_COLS " FROM targets INDEXED BY targets_changed WHERE changed > ? ORDER BY id"
              : "SELECT " TARGET_COLS " FROM targets ORDER BY id",
        since);
    size_t t = 0;
    int r;
    cc_store_status rc = collect_rows(s, stmt, (void **)&out->targets, &out->n_targets, sizeof *out->targets,
                                      fill_target, "target load");

    if (rc != CC_STORE_OK)
        return rc;

    /* Both lists are sorted by id (BINARY collation, the same order as
     * strcmp), so one merge pass attaches every shard. */
    stmt = prep_since(s,
                      since ? "SELECT target_id, scv FROM shards WHERE target_id IN"
                              " (SELECT id FROM targets WHERE changed > ?) ORDER BY target_id, scv"
                            : "SELECT target_id, scv FROM shards ORDER BY target_id, scv",
                      since);
    if (!stmt)
        return CC_STORE_IO;
    while ((r = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(stmt, 0);
        while (t < out->n_targets && strcmp(out->targets[t].id, id) < 0)
            t++;
        if (t < out->n_targets && strcmp(out->targets[t].id, id) == 0 &&
            add_shard(&out->targets[t], (const char *)sqlite3_column_text(stmt, 1)) != 0)
            break;
    }
    sqlite3_finalize(stmt);
    if (r != SQLITE_DONE)
        return r == SQLITE_ROW ? CC_STORE_IO : fail(s, "shard load");
    return CC_STORE_OK;
}

static cc_store_status load_deleted(sq *s, const uint64_t *since, cc_strlist *deleted)
{
    if (!since)
        return CC_STORE_OK;
    sqlite3_stmt *stmt = prep_since(s,
                                    "SELECT id FROM target_deletions INDEXED BY target_deletions_changed"
                                    " WHERE changed > ? ORDER BY id",
                                    since);
    return collect_rows(s, stmt, (void **)&deleted->v, &deleted->n, sizeof *deleted->v, fill_strdup,
                        "target deletion load");
}

static cc_store_status load_generation(sq *s, uint64_t *out)
{
    sqlite3_stmt *stmt = prep(s, "SELECT generation FROM meta");
    cc_store_status rc = CC_STORE_IO;
    if (stmt && step_exists(s, stmt, "change counter") > 0) {
        *out = (uint64_t)sqlite3_column_int64(stmt, 0);
        rc = CC_STORE_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

static int fill_manager(sqlite3_stmt *stmt, void *elem)
{
    cc_manager_weight *m = elem;
    char role[16];
    cc_role parsed = CC_ROLE_MANAGER;

    col_text(stmt, 0, m->name, sizeof m->name);
    col_text(stmt, 1, role, sizeof role);
    cc_role_parse(role, &parsed);
    m->role = parsed;
    m->weight = sqlite3_column_double(stmt, 2);
    return 0;
}

static cc_store_status load_managers(sq *s, cc_snapshot *out)
{
    sqlite3_stmt *stmt = prep(s, "SELECT name, role, weight FROM users WHERE role <> 'donor' ORDER BY name");
    return collect_rows(s, stmt, (void **)&out->managers, &out->n_managers, sizeof *out->managers,
                        fill_manager, "manager load");
}

static int fill_key_ref(sqlite3_stmt *stmt, void *elem)
{
    cc_engine_key_ref *k = elem;
    col_text(stmt, 0, k->key_hash, sizeof k->key_hash);
    col_text(stmt, 1, k->engine, sizeof k->engine);
    return 0;
}

static cc_store_status load_keys(sq *s, cc_snapshot *out)
{
    sqlite3_stmt *stmt = prep(s, "SELECT key_hash, engine FROM engine_keys ORDER BY key_hash");
    return collect_rows(s, stmt, (void **)&out->keys, &out->n_keys, sizeof *out->keys, fill_key_ref,
                        "engine key load");
}

static cc_store_status sq_load_since(void *impl, const uint64_t *since, cc_snapshot *out, cc_strlist *deleted,
                                     uint64_t *generation, cc_scv_row **scvs, size_t *n_scvs)
{
    sq *s = impl;
    cc_store_status rc = CC_STORE_IO;

    *scvs = NULL;
    *n_scvs = 0;
    lock(s);
    /* One read transaction: every table is seen at the same instant as the
     * generation. */
    if (exec(s, "BEGIN") != 0)
        goto out;
    rc = load_generation(s, generation);
    if (rc == CC_STORE_OK)
        rc = load_targets(s, since, out);
    if (rc == CC_STORE_OK)
        rc = load_deleted(s, since, deleted);
    if (rc == CC_STORE_OK)
        rc = load_managers(s, out);
    if (rc == CC_STORE_OK)
        rc = load_keys(s, out);
    if (rc == CC_STORE_OK)
        rc = scv_rows(s, scvs, n_scvs);
    exec(s, "COMMIT");
out:
    unlock(s);
    return rc;
}

static cc_store_status sq_change_counter(void *impl, uint64_t *out)
{
    sq *s = impl;
    lock(s);
    cc_store_status rc = load_generation(s, out);
    unlock(s);
    return rc;
}

const cc_store_ops cc_store_sqlite_ops = {
    .close = sq_close,
    .user_insert = sq_user_insert,
    .user_get = sq_user_get,
    .user_set_token = sq_user_set_token,
    .user_by_token = sq_user_by_token,
    .admin_exists = sq_admin_exists,
    .key_insert = sq_key_insert,
    .key_list = sq_key_list,
    .key_delete = sq_key_delete,
    .key_lookup = sq_key_lookup,
    .target_insert = sq_target_insert,
    .target_get = sq_target_get,
    .target_update = sq_target_update,
    .target_delete = sq_target_delete,
    .target_list = sq_target_list,
    .shard_add = sq_shard_add,
    .shard_remove = sq_shard_remove,
    .scv_upsert = sq_scv_upsert,
    .scv_list = sq_scv_list,
    .seal_salt = sq_seal_salt,
    .reseal = sq_reseal,
    .stats_insert = sq_stats_insert,
    .load_since = sq_load_since,
    .change_counter = sq_change_counter,
};
