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

/* The totals of a donor_credit or team_credit row: all time, today, this
 * week. */
#define CREDIT_COLUMNS                                                                                       \
    "frames bigint NOT NULL DEFAULT 0, points double precision NOT NULL DEFAULT 0,"                          \
    " fragments bigint NOT NULL DEFAULT 0, last_credit double precision NOT NULL DEFAULT 0,"                 \
    " day bigint NOT NULL DEFAULT 0, day_frames bigint NOT NULL DEFAULT 0,"                                  \
    " day_points double precision NOT NULL DEFAULT 0, day_fragments bigint NOT NULL DEFAULT 0,"              \
    " week bigint NOT NULL DEFAULT 0, week_frames bigint NOT NULL DEFAULT 0,"                                \
    " week_points double precision NOT NULL DEFAULT 0, week_fragments bigint NOT NULL DEFAULT 0"

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
    " " CREDIT_COLUMNS ");"
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
    " " CREDIT_COLUMNS ");"
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

/* Version 6: credit folded after the commit (cc_store_credit_fold). POST
 * /stats appends each new fragment with a user to credit_pending; one CC
 * at a time folds them into the aggregates and deletes them in one
 * transaction. */
static const char *const schema_v6_sql =
    "CREATE TABLE IF NOT EXISTS credit_pending(id bigserial PRIMARY KEY, user_name text COLLATE \"C\" NOT "
    "NULL,"
    " target_id text COLLATE \"C\" NOT NULL, frames bigint NOT NULL, points double precision NOT NULL,"
    " recorded double precision NOT NULL);";

/* Version 7: the stats table keeps only its primary key. Nothing reads
 * fragments by target, and only a donor's deletion by user (a scan), while
 * each index cost every recorded fragment a write to a random page
 * (docs/PERFORMANCE.md, "Donor credit"). */
static const char *const schema_v7_sql =
    "DROP INDEX IF EXISTS stats_user; DROP INDEX IF EXISTS stats_target;";

static const char *const schema_steps[] = {schema_sql,    schema_v2_sql, schema_v3_sql, schema_v4_sql,
                                           schema_v5_sql, schema_v6_sql, schema_v7_sql};
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
    .credit = &cc_store_pg_credit_ops,
};
