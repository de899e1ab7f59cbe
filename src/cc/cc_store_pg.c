/* The PostgreSQL backend of cc_store (cc_store_backend.h): its schema,
 * SQL and row mapping over the connections of cc_pg.h.
 *
 * A transaction holds one pooled connection from begin to end; every
 * write runs in an explicit transaction (BEGIN … COMMIT), so a stale
 * connection is opened again safely (cc_pg.h). The schema is created or
 * upgraded on first connect under an advisory lock, so several CCs may
 * start at once. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_credit.h"
#include "cc/cc_pg.h"
#include "cc/cc_store_backend.h"
#include "util/base64.h"
#include "util/log.h"

/* pg_advisory_xact_lock key taken while the schema is checked or created:
 * "stnk" in ASCII. */
#define SCHEMA_LOCK_KEY "1937010283"

/* Everything that the CC caches changes only through these tables. Stats,
 * donors and token updates leave the generation alone, so routine traffic
 * does not make every CC reload its cache. */
static const char *const schema_sql =
    "CREATE TABLE meta(id boolean PRIMARY KEY DEFAULT true CHECK (id), schema_version integer NOT NULL,"
    " generation bigint NOT NULL);"
    "INSERT INTO meta(schema_version, generation) VALUES (1, 0);"
    "CREATE TABLE users(name text COLLATE \"C\" PRIMARY KEY, email text COLLATE \"C\" NOT NULL,"
    " role text NOT NULL, password_hash text NOT NULL, token_hash text UNIQUE,"
    " weight double precision NOT NULL DEFAULT 1, creation_date double precision NOT NULL);"
    "CREATE UNIQUE INDEX users_donor_email ON users(email) WHERE role = 'donor';"
    "CREATE TABLE engine_keys(key_hash text COLLATE \"C\" PRIMARY KEY, key_sealed text NOT NULL,"
    " engine text NOT NULL, description text NOT NULL, creation_date double precision NOT NULL);"
    "CREATE TABLE targets(id text COLLATE \"C\" PRIMARY KEY, owner text COLLATE \"C\" NOT NULL,"
    " stage text NOT NULL, engines text NOT NULL, options text NOT NULL, weight double precision NOT NULL,"
    " creation_date double precision NOT NULL);"
    "CREATE INDEX targets_owner ON targets(owner);"
    "CREATE INDEX targets_stage ON targets(stage);"
    "CREATE TABLE shards(target_id text COLLATE \"C\" NOT NULL REFERENCES targets(id),"
    " scv text COLLATE \"C\" NOT NULL, PRIMARY KEY(target_id, scv));"
    "CREATE TABLE scvs(name text COLLATE \"C\" PRIMARY KEY, host text NOT NULL, password_sealed text NOT "
    "NULL);"
    "CREATE TABLE stats(id text PRIMARY KEY, target_id text NOT NULL, stream_id text NOT NULL,"
    " engine text NOT NULL, user_name text NOT NULL, start_time double precision NOT NULL,"
    " end_time double precision NOT NULL, frames bigint NOT NULL);"
    "CREATE INDEX stats_target ON stats(target_id);"
    "CREATE FUNCTION siegetank_bump_generation() RETURNS trigger LANGUAGE plpgsql AS"
    " $$BEGIN UPDATE meta SET generation = generation + 1; RETURN NULL; END$$;"
    "CREATE TRIGGER targets_changed AFTER INSERT OR UPDATE OR DELETE ON targets"
    " FOR EACH STATEMENT EXECUTE FUNCTION siegetank_bump_generation();"
    "CREATE TRIGGER shards_changed AFTER INSERT OR UPDATE OR DELETE ON shards"
    " FOR EACH STATEMENT EXECUTE FUNCTION siegetank_bump_generation();"
    "CREATE TRIGGER engine_keys_changed AFTER INSERT OR UPDATE OR DELETE ON engine_keys"
    " FOR EACH STATEMENT EXECUTE FUNCTION siegetank_bump_generation();"
    "CREATE TRIGGER scvs_changed AFTER INSERT OR UPDATE OR DELETE ON scvs"
    " FOR EACH STATEMENT EXECUTE FUNCTION siegetank_bump_generation();"
    "CREATE TRIGGER managers_added AFTER INSERT ON users FOR EACH ROW WHEN (NEW.role <> 'donor')"
    " EXECUTE FUNCTION siegetank_bump_generation();"
    "CREATE TRIGGER managers_changed AFTER UPDATE OF role, weight OR DELETE ON users"
    " FOR EACH STATEMENT EXECUTE FUNCTION siegetank_bump_generation();";

/* Version 2: change tracking per target, so a cache catches up by reading
 * only what moved (cc_store_load_changes). Every write to a target row, and
 * every shard change (which touches its target row), stamps the row's
 * `changed` with a fresh generation; a deleted target leaves its id in
 * target_deletions. The meta row's lock, held to commit, orders the
 * generations as the commits. */
static const char *const schema_v2_sql =
    "ALTER TABLE targets ADD COLUMN changed bigint NOT NULL DEFAULT 0;"
    "CREATE INDEX targets_changed ON targets(changed);"
    "CREATE TABLE target_deletions(id text COLLATE \"C\" PRIMARY KEY, changed bigint NOT NULL);"
    "CREATE INDEX target_deletions_changed ON target_deletions(changed);"
    "DROP TRIGGER targets_changed ON targets; DROP TRIGGER shards_changed ON shards;"
    "CREATE FUNCTION siegetank_stamp_target() RETURNS trigger LANGUAGE plpgsql AS"
    " $$BEGIN UPDATE meta SET generation = generation + 1 RETURNING generation INTO NEW.changed;"
    " RETURN NEW; END$$;"
    "CREATE TRIGGER targets_stamped BEFORE INSERT OR UPDATE ON targets"
    " FOR EACH ROW EXECUTE FUNCTION siegetank_stamp_target();"
    "CREATE FUNCTION siegetank_target_deleted() RETURNS trigger LANGUAGE plpgsql AS"
    " $$BEGIN UPDATE meta SET generation = generation + 1;"
    " INSERT INTO target_deletions(id, changed) SELECT OLD.id, generation FROM meta"
    " ON CONFLICT (id) DO UPDATE SET changed = excluded.changed; RETURN NULL; END$$;"
    "CREATE TRIGGER targets_deleted AFTER DELETE ON targets"
    " FOR EACH ROW EXECUTE FUNCTION siegetank_target_deleted();"
    "CREATE FUNCTION siegetank_shard_changed() RETURNS trigger LANGUAGE plpgsql AS"
    " $$BEGIN UPDATE targets SET changed = 0"
    " WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.target_id ELSE NEW.target_id END;"
    " RETURN NULL; END$$;"
    "CREATE TRIGGER shards_changed AFTER INSERT OR UPDATE OR DELETE ON shards"
    " FOR EACH ROW EXECUTE FUNCTION siegetank_shard_changed();";

/* Version 3: the salt the sealing key is derived with (auth.h), one per
 * database, made by the first CC that opens it. */
static const char *const schema_v3_sql =
    "CREATE TABLE seal_salt(id boolean PRIMARY KEY DEFAULT true CHECK (id), salt text NOT NULL);";

/* Version 4: the version moves from meta.schema_version (versions 1 to 3)
 * to the table schema_version, the one scheme of every Siegetank
 * database (util/sqldb.h); programs that read the old column refuse the
 * database from now on. */
static const char *const schema_v4_sql = "ALTER TABLE meta DROP COLUMN schema_version;";

/* Version 5: donor credit (cc_credit.h). Fragments keep their points;
 * those recorded before earned one point a frame. The all-time aggregates
 * start from the fragments already there. The export is kept as base64.
 * Parts already present are kept, as a partly upgraded database has them. */
static const char *const schema_v5_sql =
    "ALTER TABLE targets ADD COLUMN IF NOT EXISTS points_per_frame double precision NOT NULL DEFAULT 1;"
    "DO $$BEGIN IF to_regclass('donor_credit') IS NULL THEN"
    " ALTER TABLE stats ADD COLUMN points double precision NOT NULL DEFAULT 0;"
    " UPDATE stats SET points = frames; END IF; END$$;"
    "CREATE INDEX IF NOT EXISTS stats_user ON stats(user_name);"
    "CREATE TABLE IF NOT EXISTS donor_credit(name text COLLATE \"C\" PRIMARY KEY, team text COLLATE \"C\","
    " public integer NOT NULL DEFAULT 1,"
    " frames bigint NOT NULL DEFAULT 0, points double precision NOT NULL DEFAULT 0,"
    " fragments bigint NOT NULL DEFAULT 0, last_credit double precision NOT NULL DEFAULT 0,"
    " day bigint NOT NULL DEFAULT 0, day_frames bigint NOT NULL DEFAULT 0,"
    " day_points double precision NOT NULL DEFAULT 0, day_fragments bigint NOT NULL DEFAULT 0,"
    " week bigint NOT NULL DEFAULT 0, week_frames bigint NOT NULL DEFAULT 0,"
    " week_points double precision NOT NULL DEFAULT 0, week_fragments bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS donor_credit_all ON donor_credit(points DESC, name) WHERE public = 1 AND "
    "fragments > 0;"
    "CREATE INDEX IF NOT EXISTS donor_credit_day ON donor_credit(day, day_points DESC, name) WHERE public = "
    "1;"
    "CREATE INDEX IF NOT EXISTS donor_credit_week ON donor_credit(week, week_points DESC, name) WHERE public "
    "= 1;"
    "CREATE TABLE IF NOT EXISTS donor_target_credit(name text COLLATE \"C\" NOT NULL, target_id text COLLATE "
    "\"C\" NOT "
    "NULL,"
    " frames bigint NOT NULL, points double precision NOT NULL, PRIMARY KEY(name, target_id));"
    "CREATE TABLE IF NOT EXISTS team_credit(team text COLLATE \"C\" PRIMARY KEY, members bigint NOT NULL "
    "DEFAULT 0,"
    " frames bigint NOT NULL DEFAULT 0, points double precision NOT NULL DEFAULT 0,"
    " fragments bigint NOT NULL DEFAULT 0, last_credit double precision NOT NULL DEFAULT 0,"
    " day bigint NOT NULL DEFAULT 0, day_frames bigint NOT NULL DEFAULT 0,"
    " day_points double precision NOT NULL DEFAULT 0, day_fragments bigint NOT NULL DEFAULT 0,"
    " week bigint NOT NULL DEFAULT 0, week_frames bigint NOT NULL DEFAULT 0,"
    " week_points double precision NOT NULL DEFAULT 0, week_fragments bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS team_credit_all ON team_credit(points DESC, team);"
    "CREATE INDEX IF NOT EXISTS team_credit_day ON team_credit(day, day_points DESC, team);"
    "CREATE INDEX IF NOT EXISTS team_credit_week ON team_credit(week, week_points DESC, team);"
    "CREATE TABLE IF NOT EXISTS board_totals(board text COLLATE \"C\" NOT NULL, period bigint NOT NULL, n "
    "bigint NOT NULL,"
    " PRIMARY KEY(board, period));"
    "CREATE TABLE IF NOT EXISTS stats_export(id boolean PRIMARY KEY DEFAULT true CHECK (id),"
    " created double precision NOT NULL, claimed double precision NOT NULL, data text);"
    "INSERT INTO stats_export(created, claimed) VALUES (0, 0) ON CONFLICT DO NOTHING;"
    "INSERT INTO donor_credit(name, public, frames, points, fragments, last_credit)"
    " SELECT user_name, EXISTS(SELECT 1 FROM users WHERE users.name = stats.user_name AND role = "
    "'donor')::int,"
    " sum(frames), sum(points), count(*), max(end_time) FROM stats WHERE user_name <> '' GROUP BY user_name"
    " ON CONFLICT DO NOTHING;"
    "INSERT INTO donor_target_credit(name, target_id, frames, points)"
    " SELECT user_name, target_id, sum(frames), sum(points) FROM stats WHERE user_name <> ''"
    " GROUP BY user_name, target_id ON CONFLICT DO NOTHING;"
    "INSERT INTO board_totals(board, period, n)"
    " SELECT 'donors_all', 0, count(*) FROM donor_credit WHERE public = 1 AND fragments > 0"
    " ON CONFLICT DO NOTHING;";

static const char *const schema_steps[] = {schema_sql, schema_v2_sql, schema_v3_sql, schema_v4_sql,
                                           schema_v5_sql};
#define SCHEMA_VERSION ((int)(sizeof schema_steps / sizeof *schema_steps))

/* The first column of a one-row query as an integer. */
static status_code query_int(cc_pg_conn *c, const char *sql, int *out)
{
    PGresult *res = NULL;
    status_code rc = cc_pg_query(c, &res, sql, 0, NULL);
    if (rc == STATUS_OK && PQntuples(res) != 1)
        rc = STATUS_IO;
    if (rc == STATUS_OK)
        *out = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

/* The schema version: the table schema_version, else the column
 * meta.schema_version of versions 1 to 3, else 0 (an empty database). */
static status_code read_version(cc_pg_conn *c, int *version)
{
    int table = 0, meta = 0;
    status_code rc = query_int(c, "SELECT (to_regclass('schema_version') IS NOT NULL)::int", &table);
    if (rc == STATUS_OK && !table)
        rc = query_int(c, "SELECT (to_regclass('meta') IS NOT NULL)::int", &meta);
    *version = 0;
    if (rc == STATUS_OK && (table || meta))
        rc = query_int(c,
                       table ? "SELECT coalesce(max(version), 0) FROM schema_version"
                             : "SELECT schema_version FROM meta",
                       version);
    return rc;
}

/* Creates or upgrades the schema in one transaction, under an advisory
 * lock so several CCs may start at once: steps after the stored version
 * run in order, then the version is recorded. */
static int create_schema(cc_pg_conn *c, struct status *st)
{
    const char *display = cc_pg_display(c->pool);
    char record[160];
    int version = 0;

    if (cc_pg_query(c, NULL, "BEGIN", 0, NULL) != STATUS_OK ||
        cc_pg_query(c, NULL, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ")", 0, NULL) != STATUS_OK ||
        read_version(c, &version) != STATUS_OK) {
        status_fail(st, STATUS_IO, "cannot read the schema version of %s (see the log)", display);
        return -1;
    }
    if (version > SCHEMA_VERSION) {
        status_fail(st, STATUS_CONFLICT,
                    "database schema version %d is newer than this program's (%d); upgrade siegetank",
                    version, SCHEMA_VERSION);
        return -1;
    }
    snprintf(record, sizeof record,
             "CREATE TABLE IF NOT EXISTS schema_version(version integer NOT NULL);"
             "DELETE FROM schema_version; INSERT INTO schema_version(version) VALUES (%d);",
             SCHEMA_VERSION);
    for (int i = version; i < SCHEMA_VERSION; i++) {
        if (cc_pg_script(c, schema_steps[i], st) != 0)
            return -1;
    }
    if ((version < SCHEMA_VERSION && cc_pg_script(c, record, st) != 0))
        return -1;
    if (cc_pg_query(c, NULL, "COMMIT", 0, NULL) != STATUS_OK) {
        status_fail(st, STATUS_IO, "cannot commit the schema in %s", display);
        return -1;
    }
    return 0;
}

static void pg_close(void *impl)
{
    cc_pg_close(impl);
}

static void *pg_open(const char *url, struct status *st)
{
    cc_pg *p = cc_pg_open(url, st);
    cc_pg_conn *c = p ? cc_pg_acquire(p) : NULL;
    if (!c) {
        if (p)
            status_fail(st, STATUS_UNAVAILABLE, "cannot connect to PostgreSQL at %s", cc_pg_display(p));
        cc_pg_close(p);
        return NULL;
    }
    int rc = create_schema(c, st);
    cc_pg_release(c);
    if (rc != 0) {
        cc_pg_close(p);
        return NULL;
    }
    return p;
}

/* ---- transactions ---- */

static status_code pg_begin(void *impl, cc_tx_mode mode, cc_store_tx **tx)
{
    cc_pg_conn *c = cc_pg_acquire(impl);
    if (!c)
        return STATUS_UNAVAILABLE;
    c->mode = mode;
    status_code rc = mode == CC_TX_ONE ? STATUS_OK
                     : mode == CC_TX_SNAPSHOT
                         ? cc_pg_query(c, NULL, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL)
                         : cc_pg_query(c, NULL, "BEGIN", 0, NULL);
    if (rc != STATUS_OK) {
        cc_pg_release(c);
        return rc;
    }
    *tx = c;
    return STATUS_OK;
}

/* The rollback of a failed call happens in cc_pg_release(). */
static status_code pg_end(cc_store_tx *c, status_code rc)
{
    if (rc == STATUS_OK && c->mode != CC_TX_ONE) {
        rc = cc_pg_query(c, NULL, "COMMIT", 0, NULL);
        if (rc != STATUS_OK && rc != STATUS_UNAVAILABLE)
            rc = STATUS_IO;
    }
    cc_pg_release(c);
    return rc;
}

static int flag_row(const PGresult *r, int row, void *out)
{
    (void)r;
    (void)row;
    *(int *)out = 1;
    return 0;
}

/* In a write transaction a probed target row stays locked (FOR UPDATE),
 * so no shard is added between a delete's check and the delete. */
static status_code pg_exists(cc_store_tx *c, cc_probe what, const char *key, int *found)
{
    static const char *const sql[] = {
        [CC_PROBE_USER] = "SELECT 1 FROM users WHERE name = $1",
        [CC_PROBE_DONOR_EMAIL] = "SELECT 1 FROM users WHERE email = $1 AND role = 'donor'",
        [CC_PROBE_ADMIN] = "SELECT 1 FROM users WHERE role = 'admin' LIMIT 1",
        [CC_PROBE_TARGET] = "SELECT 1 FROM targets WHERE id = $1",
        [CC_PROBE_TARGET_SHARDS] = "SELECT 1 FROM shards WHERE target_id = $1 LIMIT 1",
        [CC_PROBE_DONOR] = "SELECT 1 FROM users WHERE name = $1 AND role = 'donor'",
    };
    const char *text = what == CC_PROBE_TARGET && c->mode == CC_TX_WRITE
                           ? "SELECT 1 FROM targets WHERE id = $1 FOR UPDATE"
                           : sql[what];
    *found = 0;
    status_code rc = cc_pg_one_row(c, text, what == CC_PROBE_ADMIN ? 0 : 1, &key, flag_row, found);
    return rc == STATUS_NOT_FOUND ? STATUS_OK : rc;
}

/* ---- users ---- */

#define USER_COLS "name, email, role, weight, creation_date"

static int read_user(const PGresult *r, int row, void *out)
{
    cc_user *u = out;
    char role_name[16];
    cc_role role = CC_ROLE_DONOR;

    cc_pg_text(r, row, 0, u->name, sizeof u->name);
    cc_pg_text(r, row, 1, u->email, sizeof u->email);
    cc_pg_text(r, row, 2, role_name, sizeof role_name);
    cc_role_parse(role_name, &role);
    u->role = role;
    u->weight = cc_pg_double(r, row, 3);
    u->creation_date = cc_pg_double(r, row, 4);
    return 0;
}

static int read_user_row(const PGresult *r, int row, void *out)
{
    cc_user_row *u = out;
    cc_pg_text(r, row, 5, u->password_hash, sizeof u->password_hash);
    return read_user(r, row, &u->user);
}

static status_code pg_user_insert(cc_store_tx *c, const cc_user *user, const char *password_hash,
                                  const char *token_hash)
{
    char weight[32], created[32];

    cc_pg_fmt_double(weight, user->weight);
    cc_pg_fmt_double(created, user->creation_date);
    const char *params[] = {user->name, user->email, cc_role_name(user->role), password_hash, token_hash,
                            weight,     created};
    status_code rc =
        cc_pg_query(c, NULL,
                    "INSERT INTO users(name, email, role, password_hash, token_hash, weight, creation_date)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    7, params);
    /* A concurrent insert from another CC can still win the race. */
    if (rc == STATUS_EXISTS && strcmp(c->constraint, "users_donor_email") == 0)
        rc = STATUS_CONFLICT;
    return rc;
}

static status_code pg_user_get(cc_store_tx *c, int donors, const char *name, cc_user_row *out)
{
    return cc_pg_one_row(
        c,
        donors ? "SELECT " USER_COLS ", password_hash FROM users WHERE name = $1 AND role = 'donor'"
               : "SELECT " USER_COLS ", password_hash FROM users WHERE name = $1 AND role <> 'donor'",
        1, &name, read_user_row, out);
}

static status_code pg_user_set_token(cc_store_tx *c, const char *name, const char *password_hash,
                                     const char *token_hash)
{
    const char *params[] = {token_hash, name, password_hash};
    return cc_pg_write_one(c, "UPDATE users SET token_hash = $1 WHERE name = $2 AND password_hash = $3", 3,
                           params, 1);
}

static status_code pg_user_by_token(cc_store_tx *c, const char *token_hash, cc_user *out)
{
    return cc_pg_one_row(c, "SELECT " USER_COLS " FROM users WHERE token_hash = $1", 1, &token_hash,
                         read_user, out);
}

/* ---- engine keys ---- */

static status_code pg_key_insert(cc_store_tx *c, const cc_engine_key_row *row)
{
    char created[32];
    cc_pg_fmt_double(created, row->creation_date);
    const char *params[] = {row->key_hash, row->key_sealed, row->engine, row->description, created};
    return cc_pg_write_one(c,
                           "INSERT INTO engine_keys(key_hash, key_sealed, engine, description, creation_date)"
                           " VALUES ($1, $2, $3, $4, $5)",
                           5, params, 0);
}

static int fill_key(const PGresult *r, int row, void *elem)
{
    cc_engine_key_row *k = elem;
    cc_pg_text(r, row, 0, k->key_hash, sizeof k->key_hash);
    k->key_sealed = strdup(PQgetvalue(r, row, 1));
    cc_pg_text(r, row, 2, k->engine, sizeof k->engine);
    cc_pg_text(r, row, 3, k->description, sizeof k->description);
    k->creation_date = cc_pg_double(r, row, 4);
    return k->key_sealed ? 0 : -1;
}

static status_code pg_key_list(cc_store_tx *c, cc_engine_key_row **out, size_t *n)
{
    status_code rc =
        cc_pg_collect(c,
                      "SELECT key_hash, key_sealed, engine, description, creation_date FROM engine_keys"
                      " ORDER BY creation_date, key_hash",
                      0, NULL, (void **)out, n, sizeof **out, fill_key);
    if (rc != STATUS_OK) {
        cc_engine_key_rows_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static status_code pg_key_delete(cc_store_tx *c, const char *key_hash)
{
    return cc_pg_write_one(c, "DELETE FROM engine_keys WHERE key_hash = $1", 1, &key_hash, 1);
}

static int fill_key_ref(const PGresult *r, int row, void *elem)
{
    cc_engine_key_ref *k = elem;
    cc_pg_text(r, row, 0, k->key_hash, sizeof k->key_hash);
    cc_pg_text(r, row, 1, k->engine, sizeof k->engine);
    return 0;
}

static status_code pg_key_refs(cc_store_tx *c, cc_engine_key_ref **out, size_t *n)
{
    return cc_pg_collect(c, "SELECT key_hash, engine FROM engine_keys ORDER BY key_hash", 0, NULL,
                         (void **)out, n, sizeof **out, fill_key_ref);
}

/* ---- targets ---- */

#define TARGET_COLS "id, owner, stage, engines, options, weight, creation_date, points_per_frame"

/* Fills a zeroed target from a row of TARGET_COLS. 0 or -1. */
static int read_target(const PGresult *r, int row, void *out)
{
    cc_target *t = out;
    cc_pg_text(r, row, 0, t->id, sizeof t->id);
    cc_pg_text(r, row, 1, t->owner, sizeof t->owner);
    t->weight = cc_pg_double(r, row, 5);
    t->creation_date = cc_pg_double(r, row, 6);
    t->points_per_frame = cc_pg_double(r, row, 7);
    return cc_target_from_row(t, PQgetvalue(r, row, 2), PQgetvalue(r, row, 3), PQgetvalue(r, row, 4));
}

/* Inserts the row t, or (update) writes its stage, engines, options,
 * weight and points_per_frame: the first six parameters. */
static status_code write_target(cc_store_tx *c, const cc_target *t, int update)
{
    char *engines = cc_engines_json((const char *const *)t->engines, t->n_engines);
    char *options = t->options ? json_dumps(t->options, JSON_COMPACT) : strdup("{}");
    char weight[32], ppf[32], created[32];
    status_code rc = STATUS_IO;

    if (engines && options) {
        cc_pg_fmt_double(weight, t->weight);
        cc_pg_fmt_double(ppf, t->points_per_frame);
        cc_pg_fmt_double(created, t->creation_date);
        const char *params[] = {t->id,  cc_stage_name(t->stage), engines, options, weight, ppf, t->owner,
                                created};
        if (update)
            rc = cc_pg_write_one(c,
                                 "UPDATE targets SET stage = $2, engines = $3, options = $4, weight = $5,"
                                 " points_per_frame = $6 WHERE id = $1",
                                 6, params, 0);
        else
            rc = cc_pg_write_one(
                c,
                "INSERT INTO targets(id, stage, engines, options, weight, points_per_frame, owner,"
                " creation_date) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                8, params, 0);
    }
    free(engines);
    free(options);
    return rc;
}

static status_code pg_target_insert(cc_store_tx *c, const cc_target *t)
{
    return write_target(c, t, 0);
}

static status_code pg_target_write(cc_store_tx *c, const cc_target *t)
{
    return write_target(c, t, 1);
}

/* In a write transaction the row stays locked until end. */
static status_code pg_target_read(cc_store_tx *c, const char *id, cc_target *out)
{
    return cc_pg_one_row(c,
                         c->mode == CC_TX_WRITE ? "SELECT " TARGET_COLS
                                                  " FROM targets WHERE id = $1 FOR UPDATE"
                                                : "SELECT " TARGET_COLS " FROM targets WHERE id = $1",
                         1, &id, read_target, out);
}

/* The row lock taken by the probe keeps shards from being added between
 * check and delete. */
static status_code pg_target_delete(cc_store_tx *c, const char *id)
{
    return cc_pg_write_one(c, "DELETE FROM targets WHERE id = $1", 1, &id, 1);
}

static int fill_id(const PGresult *r, int row, void *elem)
{
    char **id = elem;
    *id = strdup(PQgetvalue(r, row, 0));
    return *id ? 0 : -1;
}

static status_code pg_target_list(cc_store_tx *c, const char *owner, cc_strlist *out)
{
    return cc_pg_collect(c,
                         owner ? "SELECT id FROM targets WHERE owner = $1 ORDER BY creation_date, id"
                               : "SELECT id FROM targets WHERE stage = 'public' ORDER BY creation_date, id",
                         owner ? 1 : 0, owner ? &owner : NULL, (void **)&out->v, &out->n, sizeof *out->v,
                         fill_id);
}

/* *since as the text of a bigint parameter. */
static const char *since_param(const uint64_t *since, char buf[32])
{
    if (!since)
        return NULL;
    snprintf(buf, 32, "%llu", (unsigned long long)*since);
    return buf;
}

static status_code pg_targets_since(cc_store_tx *c, const uint64_t *since, cc_target **out, size_t *n)
{
    char buf[32];
    const char *param = since_param(since, buf);
    return cc_pg_collect(c,
                         since ? "SELECT " TARGET_COLS " FROM targets WHERE changed > $1 ORDER BY id"
                               : "SELECT " TARGET_COLS " FROM targets ORDER BY id",
                         since ? 1 : 0, &param, (void **)out, n, sizeof **out, read_target);
}

static status_code pg_deleted_since(cc_store_tx *c, uint64_t since, cc_strlist *out)
{
    char buf[32];
    const char *param = since_param(&since, buf);
    return cc_pg_collect(c, "SELECT id FROM target_deletions WHERE changed > $1 ORDER BY id", 1, &param,
                         (void **)&out->v, &out->n, sizeof *out->v, fill_id);
}

/* ---- shards ---- */

/* Ids sort in the "C" collation, the same order as strcmp. */
static status_code pg_shard_rows(cc_store_tx *c, const char *target_id, const uint64_t *since, cc_shard_fn fn,
                                 void *arg)
{
    char buf[32];
    const char *param = target_id ? target_id : since_param(since, buf);
    PGresult *res = NULL;
    status_code rc =
        cc_pg_query(c, &res,
                    target_id ? "SELECT target_id, scv FROM shards WHERE target_id = $1 ORDER BY scv"
                    : since   ? "SELECT target_id, scv FROM shards WHERE target_id IN"
                                " (SELECT id FROM targets WHERE changed > $1) ORDER BY target_id, scv"
                              : "SELECT target_id, scv FROM shards ORDER BY target_id, scv",
                    param ? 1 : 0, &param);

    for (int i = 0; rc == STATUS_OK && i < PQntuples(res); i++) {
        if (fn(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), arg) != 0)
            rc = STATUS_IO;
    }
    PQclear(res);
    return rc;
}

static status_code pg_shard_change(cc_store_tx *c, int add, const char *target_id, const char *scv)
{
    const char *params[] = {target_id, scv};
    status_code rc =
        cc_pg_query(c, NULL,
                    add ? "INSERT INTO shards(target_id, scv) VALUES ($1, $2) ON CONFLICT DO NOTHING"
                        : "DELETE FROM shards WHERE target_id = $1 AND scv = $2",
                    2, params);
    /* The target was deleted by another CC since the check. */
    return rc == STATUS_CONFLICT ? STATUS_NOT_FOUND : rc;
}

/* ---- SCVs and managers ---- */

static status_code pg_scv_upsert(cc_store_tx *c, const cc_scv_row *row)
{
    const char *params[] = {row->name, row->host, row->password_sealed};
    return cc_pg_write_one(c,
                           "INSERT INTO scvs(name, host, password_sealed) VALUES ($1, $2, $3)"
                           " ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host,"
                           " password_sealed = EXCLUDED.password_sealed",
                           3, params, 0);
}

static int fill_scv(const PGresult *r, int row, void *elem)
{
    cc_scv_row *s = elem;
    cc_pg_text(r, row, 0, s->name, sizeof s->name);
    cc_pg_text(r, row, 1, s->host, sizeof s->host);
    s->password_sealed = strdup(PQgetvalue(r, row, 2));
    return s->password_sealed ? 0 : -1;
}

static status_code pg_scv_list(cc_store_tx *c, cc_scv_row **out, size_t *n)
{
    status_code rc = cc_pg_collect(c, "SELECT name, host, password_sealed FROM scvs ORDER BY name", 0, NULL,
                                   (void **)out, n, sizeof **out, fill_scv);
    if (rc != STATUS_OK) {
        cc_scv_rows_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static int fill_manager(const PGresult *r, int row, void *elem)
{
    cc_manager_weight *m = elem;
    char role[16];
    cc_role parsed = CC_ROLE_MANAGER;

    cc_pg_text(r, row, 0, m->name, sizeof m->name);
    cc_pg_text(r, row, 1, role, sizeof role);
    cc_role_parse(role, &parsed);
    m->role = parsed;
    m->weight = cc_pg_double(r, row, 2);
    return 0;
}

static status_code pg_managers(cc_store_tx *c, cc_manager_weight **out, size_t *n)
{
    return cc_pg_collect(c, "SELECT name, role, weight FROM users WHERE role <> 'donor' ORDER BY name", 0,
                         NULL, (void **)out, n, sizeof **out, fill_manager);
}

static int read_generation(const PGresult *r, int row, void *out)
{
    *(uint64_t *)out = strtoull(PQgetvalue(r, row, 0), NULL, 10);
    return 0;
}

static status_code pg_generation(cc_store_tx *c, uint64_t *out)
{
    status_code rc = cc_pg_one_row(c, "SELECT generation FROM meta", 0, NULL, read_generation, out);
    return rc == STATUS_NOT_FOUND ? STATUS_IO : rc;
}

/* ---- sealing ---- */

/* When several CCs start at once, the later inserts wait for the first
 * and do nothing, and all read its salt. */
static status_code pg_salt_offer(cc_store_tx *c, const char *candidate)
{
    return cc_pg_write_one(c, "INSERT INTO seal_salt(salt) VALUES ($1) ON CONFLICT DO NOTHING", 1, &candidate,
                           0);
}

static int read_salt(const PGresult *r, int row, void *out)
{
    cc_pg_text(r, row, 0, out, AUTH_SALT_HEX_LEN + 1);
    return 0;
}

static status_code pg_salt_get(cc_store_tx *c, char out[AUTH_SALT_HEX_LEN + 1])
{
    status_code rc = cc_pg_one_row(c, "SELECT salt FROM seal_salt", 0, NULL, read_salt, out);
    return rc == STATUS_NOT_FOUND ? STATUS_IO : rc;
}

static status_code pg_reseal(cc_store_tx *c, int scv, const char *id, const char *old_sealed,
                             const char *new_sealed)
{
    const char *params[] = {new_sealed, id, old_sealed};
    return cc_pg_write_one(
        c,
        scv ? "UPDATE scvs SET password_sealed = $1 WHERE name = $2 AND password_sealed = $3"
            : "UPDATE engine_keys SET key_sealed = $1 WHERE key_hash = $2 AND key_sealed = $3",
        3, params, 1);
}

/* ---- stats and credit ---- */

/* The batch as one JSON array parameter: one statement inserts it all,
 * in order, so a duplicate id inside the batch keeps its first fragment. */
static char *stats_json(const cc_stats_fragment *v, const double *points, size_t n)
{
    json_t *arr = json_array();
    char *text = NULL;

    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:I,s:f}", "id", v[i].id, "target_id",
                              v[i].target_id, "stream_id", v[i].stream_id, "engine", v[i].engine, "user_name",
                              v[i].user, "start_time", v[i].start_time, "end_time", v[i].end_time, "frames",
                              (json_int_t)v[i].frames, "points", points[i]);
        if (json_array_append_new(arr, o) != 0)
            goto out;
    }
    text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
out:
    json_decref(arr);
    return text;
}

/* A fragment's id and position, to find the batch entries a RETURNING
 * list names. */
struct id_at {
    const char *id;
    size_t at;
};

static int by_id_at(const void *a, const void *b)
{
    const struct id_at *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->at > y->at) - (x->at < y->at);
}

static int by_id(const void *key, const void *elem)
{
    return strcmp(key, ((const struct id_at *)elem)->id);
}

/* Marks fresh[] for the ids res returned (column 0): the first fragment
 * of the batch with each id. */
static status_code mark_fresh(const PGresult *res, const cc_stats_fragment *v, size_t n, unsigned char *fresh)
{
    struct id_at *ids = calloc(n + 1, sizeof *ids);
    if (!ids)
        return STATUS_IO;
    for (size_t i = 0; i < n; i++)
        ids[i] = (struct id_at){v[i].id, i};
    qsort(ids, n, sizeof *ids, by_id_at);
    for (int r = 0; r < PQntuples(res); r++) {
        const struct id_at *hit = bsearch(PQgetvalue(res, r, 0), ids, n, sizeof *ids, by_id);
        while (hit && hit > ids && strcmp(hit[-1].id, hit->id) == 0)
            hit--;
        if (hit)
            fresh[hit->at] = 1;
    }
    free(ids);
    return STATUS_OK;
}

static status_code pg_stats_insert(cc_store_tx *c, const cc_stats_fragment *v, const double *points, size_t n,
                                   unsigned char *fresh, size_t *inserted)
{
    PGresult *res = NULL;
    char *batch = stats_json(v, points, n);

    *inserted = 0;
    memset(fresh, 0, n);
    /* json_pack refuses text that is not UTF-8, as PostgreSQL would. */
    if (!batch)
        return STATUS_INVALID;
    const char *param = batch;
    status_code rc = cc_pg_query(
        c, &res,
        "INSERT INTO stats(id, target_id, stream_id, engine, user_name, start_time, end_time, frames, points)"
        " SELECT id, target_id, stream_id, engine, user_name, start_time, end_time, frames, points"
        " FROM json_to_recordset($1::json) AS x(id text, target_id text, stream_id text, engine text,"
        " user_name text, start_time double precision, end_time double precision, frames bigint,"
        " points double precision) ON CONFLICT (id) DO NOTHING RETURNING id",
        1, &param);
    if (rc == STATUS_OK) {
        *inserted = (size_t)PQntuples(res);
        rc = mark_fresh(res, v, n, fresh);
    }
    PQclear(res);
    free(batch);
    return rc;
}

static int read_double(const PGresult *r, int row, void *out)
{
    *(double *)out = cc_pg_double(r, row, 0);
    return 0;
}

static status_code pg_points_per_frame(cc_store_tx *c, const char *target_id, double *out)
{
    return cc_pg_one_row(c, "SELECT points_per_frame FROM targets WHERE id = $1", 1, &target_id, read_double,
                         out);
}

static long long ival(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* The CC_CREDIT_ROW_COLS of a row, from column first on. */
static void read_credit_row(const PGresult *r, int row, int first, cc_credit_row *out)
{
    out->public_ = (int)ival(r, row, first);
    out->fragments = ival(r, row, first + 1);
    out->day = ival(r, row, first + 2);
    out->day_fragments = ival(r, row, first + 3);
    out->week = ival(r, row, first + 4);
    out->week_fragments = ival(r, row, first + 5);
}

/* Deltas as one JSON array parameter: [{"key","target","frames","points","fragments"}]. */
static char *deltas_json(const cc_credit_delta *v, size_t n)
{
    json_t *arr = json_array();
    char *text = NULL;
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = json_pack("{s:s, s:s?, s:I, s:f, s:I}", "key", v[i].key, "target", v[i].target, "frames",
                              (json_int_t)v[i].frames, "points", v[i].points, "fragments",
                              (json_int_t)v[i].fragments);
        if (json_array_append_new(arr, o) != 0)
            goto out;
    }
    text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
out:
    json_decref(arr);
    return text;
}

#define DELTAS_FROM                                                                                          \
    " FROM json_to_recordset($1::json) AS x(key text, target text, frames bigint, points double precision,"  \
    " fragments bigint)"
#define DELTA_VALUES                                                                                         \
    "x.frames, x.points, x.fragments, $2, $3, x.frames, x.points, x.fragments, $4, x.frames, x.points,"      \
    " x.fragments"

/* Upserts deltas v with sql, rows in key order so CCs lock alike
 * (parameters: the deltas, then with_times: now, day and week). */
static status_code upsert_deltas(cc_pg_conn *c, const char *sql, const cc_credit_batch *b,
                                 const cc_credit_delta *v, size_t n, int with_times, PGresult **res)
{
    char now[32], day[32], week[32];
    char *json = deltas_json(v, n);
    if (!json)
        return STATUS_IO;
    cc_pg_fmt_double(now, b->now);
    snprintf(day, sizeof day, "%lld", b->day);
    snprintf(week, sizeof week, "%lld", b->week);
    const char *params[] = {json, now, day, week};
    status_code rc = cc_pg_query(c, res, sql, with_times ? 4 : 1, params);
    free(json);
    return rc;
}

static int by_key(const void *key, const void *elem)
{
    return strcmp(key, ((const cc_credit_delta *)elem)->key);
}

/* The delta a returned row (key in column 0) belongs to, or -1. */
static long delta_of(const PGresult *res, int row, const cc_credit_delta *v, size_t n)
{
    const cc_credit_delta *d = bsearch(PQgetvalue(res, row, 0), v, n, sizeof *v, by_key);
    return d ? (long)(d - v) : -1;
}

static status_code pg_credit_donors(cc_store_tx *c, const cc_credit_batch *b, cc_credit_row *rows,
                                    char **teams)
{
    PGresult *res = NULL;
    status_code rc = upsert_deltas(c,
                                   "INSERT INTO donor_credit(name, public, " CC_CREDIT_COLS ")"
                                   " SELECT x.key, EXISTS(SELECT 1 FROM users u WHERE u.name = x.key AND "
                                   "u.role = 'donor')::int, " DELTA_VALUES DELTAS_FROM
                                   " ORDER BY x.key ON CONFLICT (name) DO UPDATE SET " CC_CREDIT_ADD_SET(
                                       "donor_credit") " RETURNING name, " CC_CREDIT_ROW_COLS ", team",
                                   b, b->donors, b->n_donors, 1, &res);
    for (int r = 0; rc == STATUS_OK && r < PQntuples(res); r++) {
        long i = delta_of(res, r, b->donors, b->n_donors);
        if (i < 0)
            continue;
        read_credit_row(res, r, 1, &rows[i]);
        if (!PQgetisnull(res, r, 7) && (teams[i] = strdup(PQgetvalue(res, r, 7))) == NULL)
            rc = STATUS_IO;
    }
    PQclear(res);
    return rc;
}

static status_code pg_credit_targets(cc_store_tx *c, const cc_credit_batch *b)
{
    return upsert_deltas(c,
                         "INSERT INTO donor_target_credit(name, target_id, frames, points)"
                         " SELECT x.key, x.target, x.frames, x.points" DELTAS_FROM
                         " ORDER BY x.key, x.target ON CONFLICT (name, target_id) DO UPDATE SET"
                         " frames = donor_target_credit.frames + excluded.frames,"
                         " points = donor_target_credit.points + excluded.points",
                         b, b->targets, b->n_targets, 0, NULL);
}

static status_code pg_credit_teams(cc_store_tx *c, const cc_credit_batch *b, const cc_credit_delta *v,
                                   size_t n, cc_credit_row *rows)
{
    PGresult *res = NULL;
    status_code rc = upsert_deltas(c,
                                   "INSERT INTO team_credit(team, " CC_CREDIT_COLS
                                   ") SELECT x.key, " DELTA_VALUES DELTAS_FROM
                                   " ORDER BY x.key ON CONFLICT (team) DO UPDATE SET " CC_CREDIT_ADD_SET(
                                       "team_credit") " RETURNING team, 1, " CC_CREDIT_ROW_FRAGMENTS,
                                   b, v, n, 1, &res);
    for (int r = 0; rc == STATUS_OK && r < PQntuples(res); r++) {
        long i = delta_of(res, r, v, n);
        if (i >= 0)
            read_credit_row(res, r, 1, &rows[i]);
    }
    PQclear(res);
    return rc;
}

static status_code pg_board_add(cc_store_tx *c, cc_board_id board, long long period, long long n)
{
    char p[32], count[32];
    snprintf(p, sizeof p, "%lld", period);
    snprintf(count, sizeof count, "%lld", n);
    const char *params[] = {cc_board_name(board), p, count};
    return cc_pg_write_one(
        c, "INSERT INTO board_totals(board, period, n) VALUES ($1, $2, $3)" CC_BOARD_TOTAL_ADD, 3, params, 0);
}

static int fill_board_entry(const PGresult *r, int row, void *elem)
{
    cc_board_entry *e = elem;
    cc_pg_text(r, row, 0, e->name, sizeof e->name);
    cc_pg_text(r, row, 1, e->team, sizeof e->team);
    e->members = ival(r, row, 2);
    e->points = cc_pg_double(r, row, 3);
    e->frames = ival(r, row, 4);
    e->total = PQnfields(r) > 5 ? ival(r, row, 5) : 0;
    return 0;
}

static int read_int64(const PGresult *r, int row, void *out)
{
    *(long long *)out = ival(r, row, 0);
    return 0;
}

static status_code pg_board_read(cc_store_tx *c, const cc_board_query *q_, cc_board *out)
{
    char rows[768], total[256], start[32], limit[32], offset[32];
    int k = cc_board_sql(q_->teams, q_->period, '$', rows, sizeof rows, total, sizeof total);
    snprintf(start, sizeof start, "%lld", q_->period_start);
    snprintf(limit, sizeof limit, "%lld", q_->limit);
    snprintf(offset, sizeof offset, "%lld", q_->offset);
    const char *params[] = {start, limit, offset};
    status_code rc = cc_pg_collect(c, rows, k + 2, params + (1 - k), (void **)&out->v, &out->n,
                                   sizeof *out->v, fill_board_entry);
    if (rc != STATUS_OK || out->n > 0) {
        out->total = out->n > 0 ? out->v[0].total : 0;
        return rc;
    }
    return cc_pg_one_row(c, total, k, k ? params : NULL, read_int64, &out->total);
}

struct donor_state {
    cc_credit_row *row;
    char **team;
};

static int read_donor_state(const PGresult *r, int row, void *out)
{
    struct donor_state *d = out;
    read_credit_row(r, row, 0, d->row);
    if (!PQgetisnull(r, row, 6) && (*d->team = strdup(PQgetvalue(r, row, 6))) == NULL)
        return -1;
    return 0;
}

static status_code pg_donor_row(cc_store_tx *c, const char *name, cc_credit_row *row, char **team)
{
    struct donor_state d = {row, team};
    status_code rc = cc_pg_write_one(
        c, "INSERT INTO donor_credit(name) VALUES ($1) ON CONFLICT (name) DO NOTHING", 1, &name, 0);
    if (rc == STATUS_OK)
        rc = cc_pg_one_row(c,
                           "SELECT " CC_CREDIT_ROW_COLS ", team FROM donor_credit WHERE name = $1 FOR UPDATE",
                           1, &name, read_donor_state, &d);
    return rc;
}

static status_code pg_donor_set_public(cc_store_tx *c, const char *name, int public_)
{
    const char *params[] = {name, public_ ? "1" : "0"};
    return cc_pg_write_one(c, "UPDATE donor_credit SET public = $2 WHERE name = $1", 2, params, 0);
}

static status_code pg_donor_set_team(cc_store_tx *c, const char *name, const char *team)
{
    const char *params[] = {name, team};
    return cc_pg_write_one(c, "UPDATE donor_credit SET team = $2 WHERE name = $1", 2, params, 0);
}

struct joined {
    long long members, fragments;
};

static int read_joined(const PGresult *r, int row, void *out)
{
    struct joined *j = out;
    j->members = ival(r, row, 0);
    j->fragments = ival(r, row, 1);
    return 0;
}

static status_code pg_team_join(cc_store_tx *c, const char *team, int *made)
{
    struct joined j = {0};
    status_code rc = cc_pg_one_row(c,
                                   "INSERT INTO team_credit(team, members) VALUES ($1, 1)"
                                   " ON CONFLICT (team) DO UPDATE SET members = team_credit.members + 1"
                                   " RETURNING members, fragments",
                                   1, &team, read_joined, &j);
    /* A team without members and credit has no row: one member and no
     * credit is a row just made. */
    *made = rc == STATUS_OK && j.members == 1 && j.fragments == 0;
    return rc == STATUS_NOT_FOUND ? STATUS_IO : rc;
}

static status_code pg_team_leave(cc_store_tx *c, const char *team, int *removed)
{
    PGresult *res = NULL;
    status_code rc =
        cc_pg_write_one(c, "UPDATE team_credit SET members = members - 1 WHERE team = $1", 1, &team, 0);
    if (rc == STATUS_OK)
        rc = cc_pg_query(
            c, &res, "DELETE FROM team_credit WHERE team = $1 AND members <= 0 AND fragments = 0", 1, &team);
    *removed = rc == STATUS_OK && cc_pg_changed(res) == 1;
    PQclear(res);
    return rc;
}

static status_code pg_donor_erase(cc_store_tx *c, const char *name, const char *anon)
{
    static const char *const renames[] = {
        "UPDATE donor_credit SET name = $2 WHERE name = $1",
        "UPDATE donor_target_credit SET name = $2 WHERE name = $1",
        "UPDATE stats SET user_name = $2 WHERE user_name = $1",
    };
    const char *params[] = {name, anon};
    status_code rc = cc_pg_write_one(c, "DELETE FROM users WHERE name = $1 AND role = 'donor'", 1, &name, 0);
    for (size_t i = 0; rc == STATUS_OK && i < sizeof renames / sizeof *renames; i++)
        rc = cc_pg_write_one(c, renames[i], 2, params, 0);
    return rc;
}

struct info_read {
    cc_donor_info *info;
    int *public_;
};

static int read_info(const PGresult *r, int row, void *out)
{
    struct info_read *d = out;
    cc_pg_text(r, row, 0, d->info->username, sizeof d->info->username);
    cc_pg_text(r, row, 1, d->info->team, sizeof d->info->team);
    *d->public_ = (int)ival(r, row, 2);
    d->info->frames = ival(r, row, 3);
    d->info->points = cc_pg_double(r, row, 4);
    d->info->fragments = ival(r, row, 5);
    d->info->last_credit = cc_pg_double(r, row, 6);
    return 0;
}

static int fill_credit_total(const PGresult *r, int row, void *elem)
{
    cc_credit_total *t = elem;
    cc_pg_text(r, row, 0, t->target_id, sizeof t->target_id);
    t->frames = ival(r, row, 1);
    t->points = cc_pg_double(r, row, 2);
    return 0;
}

static status_code pg_donor_info(cc_store_tx *c, const char *name, cc_donor_info *out, int *public_)
{
    struct info_read r = {out, public_};
    status_code rc = cc_pg_one_row(
        c,
        "SELECT u.name, coalesce(c.team, ''), coalesce(c.public, 1), coalesce(c.frames, 0),"
        " coalesce(c.points, 0), coalesce(c.fragments, 0), coalesce(c.last_credit, 0)"
        " FROM users u LEFT JOIN donor_credit c ON c.name = u.name WHERE u.name = $1 AND u.role = 'donor'",
        1, &name, read_info, &r);
    if (rc == STATUS_OK)
        rc = cc_pg_collect(
            c, "SELECT target_id, frames, points FROM donor_target_credit WHERE name = $1 ORDER BY target_id",
            1, &name, (void **)&out->targets, &out->n_targets, sizeof *out->targets, fill_credit_total);
    return rc;
}

static status_code pg_export_scan(cc_store_tx *c, cc_export_fn fn, void *arg)
{
    static const char *const sql[] = {CC_EXPORT_DONORS_SQL, CC_EXPORT_TEAMS_SQL};
    status_code rc = STATUS_OK;
    for (int team = 0; rc == STATUS_OK && team < 2; team++) {
        PGresult *res = NULL;
        rc = cc_pg_query(c, &res, sql[team], 0, NULL);
        for (int i = 0; rc == STATUS_OK && i < PQntuples(res); i++) {
            cc_board_entry e;
            fill_board_entry(res, i, &e);
            if (fn(arg, &e, team, ival(res, i, 5), cc_pg_double(res, i, 6)) != 0)
                rc = STATUS_IO;
        }
        PQclear(res);
    }
    return rc;
}

struct export_read {
    double *created;
    unsigned char **data;
    size_t *len;
};

static int read_export(const PGresult *r, int row, void *out)
{
    struct export_read *e = out;
    *e->created = cc_pg_double(r, row, 0);
    if (PQgetisnull(r, row, 1))
        return 0;
    *e->data = base64_decode(PQgetvalue(r, row, 1), (size_t)PQgetlength(r, row, 1), e->len);
    return *e->data ? 0 : -1;
}

static status_code pg_export_load(cc_store_tx *c, double *created, unsigned char **data, size_t *len)
{
    struct export_read e = {created, data, len};
    *created = 0;
    *data = NULL;
    *len = 0;
    return cc_pg_one_row(c, "SELECT created, data FROM stats_export", 0, NULL, read_export, &e);
}

/* The row lock serialises competing CCs: one changes the row, the other
 * then sees the new claim and changes nothing. */
static status_code pg_export_claim(cc_store_tx *c, double now, double max_age, double lease, int *claimed)
{
    char t[32], old[32], lapsed[32];
    PGresult *res = NULL;
    cc_pg_fmt_double(t, now);
    cc_pg_fmt_double(old, now - max_age);
    cc_pg_fmt_double(lapsed, now - lease);
    const char *params[] = {t, old, lapsed};
    status_code rc = cc_pg_query(
        c, &res, "UPDATE stats_export SET claimed = $1 WHERE created <= $2 AND claimed <= $3", 3, params);
    *claimed = rc == STATUS_OK && cc_pg_changed(res) == 1;
    PQclear(res);
    return rc;
}

static status_code pg_export_save(cc_store_tx *c, double created, const unsigned char *data, size_t len)
{
    char t[32];
    size_t n = 0;
    char *text = base64_encode(data, len, &n);
    if (!text)
        return STATUS_IO;
    cc_pg_fmt_double(t, created);
    const char *params[] = {t, text};
    status_code rc = cc_pg_write_one(c, "UPDATE stats_export SET created = $1, data = $2", 2, params, 0);
    free(text);
    return rc;
}

const cc_store_ops cc_store_pg_ops = {
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .end = pg_end,
    .exists = pg_exists,
    .user_insert = pg_user_insert,
    .user_get = pg_user_get,
    .user_set_token = pg_user_set_token,
    .user_by_token = pg_user_by_token,
    .key_insert = pg_key_insert,
    .key_list = pg_key_list,
    .key_delete = pg_key_delete,
    .target_insert = pg_target_insert,
    .target_read = pg_target_read,
    .target_write = pg_target_write,
    .target_delete = pg_target_delete,
    .target_list = pg_target_list,
    .targets_since = pg_targets_since,
    .deleted_since = pg_deleted_since,
    .shard_rows = pg_shard_rows,
    .shard_change = pg_shard_change,
    .scv_upsert = pg_scv_upsert,
    .scv_list = pg_scv_list,
    .managers = pg_managers,
    .key_refs = pg_key_refs,
    .generation = pg_generation,
    .salt_offer = pg_salt_offer,
    .salt_get = pg_salt_get,
    .reseal = pg_reseal,
    .stats_insert = pg_stats_insert,
    .points_per_frame = pg_points_per_frame,
    .credit_donors = pg_credit_donors,
    .credit_targets = pg_credit_targets,
    .credit_teams = pg_credit_teams,
    .board_add = pg_board_add,
    .board_read = pg_board_read,
    .donor_row = pg_donor_row,
    .donor_set_public = pg_donor_set_public,
    .donor_set_team = pg_donor_set_team,
    .team_join = pg_team_join,
    .team_leave = pg_team_leave,
    .donor_erase = pg_donor_erase,
    .donor_info = pg_donor_info,
    .export_scan = pg_export_scan,
    .export_load = pg_export_load,
    .export_claim = pg_export_claim,
    .export_save = pg_export_save,
};
