/* The PostgreSQL backend of cc_store. See cc_store_pg.h.
 *
 * Every write runs in an explicit transaction (BEGIN … COMMIT). That makes
 * reconnection simple and safe: when the first statement of a call is
 * BEGIN or a plain SELECT and it fails because a pooled connection went
 * stale (the server restarted since it was last used), nothing can have
 * happened yet, so the call reconnects and sends it again. A failure later
 * in a call is reported as CC_STORE_IO and the connection is dropped. */
#include "cc/cc_store_pg.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

#define SCHEMA_VERSION 3
#define POOL_SIZE 4
#define CONNECT_TIMEOUT_S "5"
/* While the server is down, at most one connection attempt runs at a time
 * and every other call fails at once; the next attempt waits as long as
 * the last failed one took, capped at RETRY_MAX_MS. An unreachable host
 * would otherwise hold each worker for CONNECT_TIMEOUT_S per call and tie
 * up the whole pool, while a refused connection costs nothing and is
 * retried at once, so the first call after a restart succeeds. */
#define RETRY_MAX_MS 1000
#define MAX_PARAMS 64
/* pg_advisory_xact_lock key taken while the schema is checked or created:
 * "stnk" in ASCII. */
#define SCHEMA_LOCK_KEY "1937010283"

typedef struct pg_conn {
    PGconn *conn;
    int reused; /* opened before the current call */
    int sent;   /* statements sent during the current call */
    int busy;
    char sqlstate[6];
    char constraint[64];
} pg_conn;

typedef struct pg {
    const char **keys; /* libpq connection parameters, NULL-terminated */
    const char **values;
    PQconninfoOption *parsed; /* owns most of the strings above */
    char display[512];        /* the URL without its password */
    int down;                 /* the last connection attempt failed */
    int probing;              /* a connection attempt runs during an outage */
    long long retry_at_ms;    /* no attempt before this (CLOCK_MONOTONIC) */
    pthread_mutex_t lock;
    pthread_cond_t freed;
    pg_conn pool[POOL_SIZE];
} pg;

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
    " FOR EACH ROW EXECUTE FUNCTION siegetank_shard_changed();"
    "UPDATE meta SET schema_version = 2;";

/* Version 3: the salt the sealing key is derived with (auth.h), one per
 * database, made by the first CC that opens it. */
static const char *const schema_v3_sql =
    "CREATE TABLE seal_salt(id boolean PRIMARY KEY DEFAULT true CHECK (id), salt text NOT NULL);"
    "UPDATE meta SET schema_version = 3;";

/* ---- URL handling ---- */

int cc_store_pg_is_url(const char *url)
{
    return url && (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0);
}

int cc_store_pg_host_needs_tls(const char *host)
{
    unsigned char addr[16];
    char bare[64];
    size_t len;

    if (!host || !host[0] || host[0] == '/' || strcasecmp(host, "localhost") == 0)
        return 0;
    if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1)
        return 0;
    /* An IPv6 literal may come bracketed. */
    len = strlen(host);
    if (host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof bare) {
        memcpy(bare, host + 1, len - 2);
        bare[len - 2] = '\0';
        return inet_pton(AF_INET6, bare, addr) == 1 ? 0 : 1;
    }
    return 1;
}

static const char *option(const PQconninfoOption *opts, const char *key)
{
    for (const PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (strcmp(o->keyword, key) == 0)
            return o->val && o->val[0] ? o->val : NULL;
    }
    return NULL;
}

void cc_store_pg_redact(const char *url, char *out, size_t outlen)
{
    PQconninfoOption *opts = url ? PQconninfoParse(url, NULL) : NULL;
    if (!opts) {
        snprintf(out, outlen, "(unparsable database URL)");
        return;
    }
    const char *user = option(opts, "user"), *host = option(opts, "host"), *port = option(opts, "port");
    const char *db = option(opts, "dbname");
    if (!host)
        host = option(opts, "hostaddr");
    snprintf(out, outlen, "postgresql://%s%s%s%s%s/%s", user ? user : "", user ? "@" : "", host ? host : "",
             port ? ":" : "", port ? port : "", db ? db : "");
    PQconninfoFree(opts);
}

/* 1 when any host of a (comma separated) host list needs TLS. */
static int hosts_need_tls(const char *hosts)
{
    char one[256];
    const char *p = hosts;

    while (p && *p) {
        size_t n = strcspn(p, ",");
        if (n >= sizeof one)
            return 1;
        memcpy(one, p, n);
        one[n] = '\0';
        if (cc_store_pg_host_needs_tls(one))
            return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

/* Sets keys/values from the URL. The seeds require encrypted database
 * traffic: a domain-named host gets sslmode=require unless the URL already
 * asks for require, verify-ca or verify-full (weaker modes are raised, not
 * obeyed). IP literals, localhost and socket folders are local or
 * deliberately addressed, as for every other peer in PROTOCOL.md. */
static int set_params(pg *p, const char *url, char *err, size_t errlen)
{
    char *msg = NULL;
    size_t n = 0, i = 0;

    p->parsed = PQconninfoParse(url, &msg);
    if (!p->parsed) {
        snprintf(err, errlen, "database URL %s cannot be parsed: %s", p->display,
                 msg ? msg : "out of memory");
        PQfreemem(msg);
        return -1;
    }
    for (PQconninfoOption *o = p->parsed; o->keyword; o++)
        n++;
    p->keys = calloc(n + 4, sizeof *p->keys);
    p->values = calloc(n + 4, sizeof *p->values);
    if (!p->keys || !p->values) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *sslmode = option(p->parsed, "sslmode");
    int tls = hosts_need_tls(option(p->parsed, "host"));
    int strong = sslmode && (strcmp(sslmode, "require") == 0 || strcmp(sslmode, "verify-ca") == 0 ||
                             strcmp(sslmode, "verify-full") == 0);
    for (PQconninfoOption *o = p->parsed; o->keyword; o++) {
        if (!o->val || !o->val[0] || (tls && !strong && strcmp(o->keyword, "sslmode") == 0))
            continue;
        p->keys[i] = o->keyword;
        p->values[i++] = o->val;
    }
    if (tls && !strong) {
        p->keys[i] = "sslmode";
        p->values[i++] = "require";
    }
    if (!option(p->parsed, "connect_timeout")) {
        p->keys[i] = "connect_timeout";
        p->values[i++] = CONNECT_TIMEOUT_S;
    }
    if (!option(p->parsed, "application_name")) {
        p->keys[i] = "application_name";
        p->values[i++] = "siegetank-cc";
    }
    return 0;
}

/* ---- connections ---- */

/* The last line of a libpq message, without its newline. */
static void message(const char *msg, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", msg && *msg ? msg : "unknown error");
    size_t len = strlen(out);
    while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
        out[--len] = '\0';
}

static PGconn *connect_db(pg *p, char *err, size_t errlen)
{
    char msg[512];
    PGconn *conn = PQconnectdbParams(p->keys, p->values, 0);

    if (conn && PQstatus(conn) == CONNECTION_OK)
        return conn;
    message(conn ? PQerrorMessage(conn) : "out of memory", msg, sizeof msg);
    snprintf(err, errlen, "cannot connect to PostgreSQL at %s: %s", p->display, msg);
    PQfinish(conn);
    return NULL;
}

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Under the lock: 1 when this caller may try to connect now (it then owns
 * the outage's single attempt). */
static int may_connect(pg *p)
{
    if (!p->down)
        return 1;
    if (p->probing || monotonic_ms() < p->retry_at_ms)
        return 0;
    p->probing = 1;
    return 1;
}

/* Logs an outage once, when it starts, and once when it ends, not at
 * every call in between. */
static int reconnect(pg *p, pg_conn *c)
{
    char err[768];
    PQfinish(c->conn);
    c->conn = NULL;
    pthread_mutex_lock(&p->lock);
    int allowed = may_connect(p);
    pthread_mutex_unlock(&p->lock);
    if (!allowed)
        return -1;
    long long start = monotonic_ms();
    c->conn = connect_db(p, err, sizeof err);
    long long end = monotonic_ms();
    pthread_mutex_lock(&p->lock);
    int was_down = p->down;
    p->down = c->conn == NULL;
    p->probing = 0;
    p->retry_at_ms = end + (end - start < RETRY_MAX_MS ? end - start : RETRY_MAX_MS);
    pthread_mutex_unlock(&p->lock);
    if (!c->conn && !was_down)
        log_error("cc database: %s; calls fail until it is back", err);
    if (c->conn && was_down)
        log_info("cc database: reconnected to %s", p->display);
    return c->conn ? 0 : -1;
}

/* A pool slot with an open connection, or NULL when none can be opened. */
static pg_conn *acquire(pg *p)
{
    pg_conn *c = NULL;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        for (int i = 0; i < POOL_SIZE && !c; i++) {
            if (!p->pool[i].busy)
                c = &p->pool[i];
        }
        if (c)
            break;
        pthread_cond_wait(&p->freed, &p->lock);
    }
    c->busy = 1;
    pthread_mutex_unlock(&p->lock);

    c->sent = 0;
    c->reused = c->conn && PQstatus(c->conn) == CONNECTION_OK;
    if (!c->reused && reconnect(p, c) != 0) {
        pthread_mutex_lock(&p->lock);
        c->busy = 0;
        pthread_cond_signal(&p->freed);
        pthread_mutex_unlock(&p->lock);
        return NULL;
    }
    return c;
}

/* Leaves the connection idle (rolled back if a call stopped mid-way) or
 * closed when it broke, and returns the slot. */
static void release(pg *p, pg_conn *c)
{
    if (c->conn && PQstatus(c->conn) == CONNECTION_OK && PQtransactionStatus(c->conn) != PQTRANS_IDLE)
        PQclear(PQexec(c->conn, "ROLLBACK"));
    if (c->conn && PQstatus(c->conn) != CONNECTION_OK) {
        PQfinish(c->conn);
        c->conn = NULL;
    }
    pthread_mutex_lock(&p->lock);
    c->busy = 0;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

/* ---- statements ---- */

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Maps a failed result to a status; constraint violations and bad text
 * (invalid UTF-8) are the caller's business, the rest is logged. */
static cc_store_status failure(pg_conn *c, PGresult *res, const char *sql)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *cons = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    char msg[512];

    snprintf(c->sqlstate, sizeof c->sqlstate, "%s", state ? state : "");
    snprintf(c->constraint, sizeof c->constraint, "%s", cons ? cons : "");
    if (state && strcmp(state, "23505") == 0)
        return CC_STORE_EXISTS;
    if (state && strcmp(state, "23503") == 0)
        return CC_STORE_CONFLICT;
    if (state && strncmp(state, "22", 2) == 0)
        return CC_STORE_INVALID;
    message(PQerrorMessage(c->conn), msg, sizeof msg);
    log_error("cc database: '%.40s' failed: %s", sql, msg);
    return CC_STORE_IO;
}

/* Runs sql with text parameters. OK with the result in *out (when out is
 * not NULL; the caller PQclears it), or a status from failure(). */
static cc_store_status q(pg *p, pg_conn *c, PGresult **out, const char *sql, int n, const char *const *params)
{
    int retry_safe = c->reused && c->sent == 0 && (starts_with(sql, "BEGIN") || starts_with(sql, "SELECT"));
    PGresult *res;

    if (out)
        *out = NULL;
    c->sent++;
    res = PQexecParams(c->conn, sql, n, NULL, params, NULL, NULL, 0);
    if (retry_safe && PQstatus(c->conn) != CONNECTION_OK) {
        PQclear(res);
        res = NULL;
        if (reconnect(p, c) == 0)
            res = PQexecParams(c->conn, sql, n, NULL, params, NULL, NULL, 0);
    }
    if (!c->conn || !res) {
        PQclear(res);
        return CC_STORE_IO;
    }
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        cc_store_status rc = failure(c, res, sql);
        PQclear(res);
        return rc;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return CC_STORE_OK;
}

/* Number of rows a command changed. */
static long changed(PGresult *res)
{
    return strtol(PQcmdTuples(res), NULL, 10);
}

/* Commits when rc is OK; a failed commit becomes IO. The rollback of any
 * other outcome happens in release(). */
static cc_store_status finish(pg *p, pg_conn *c, cc_store_status rc)
{
    if (rc != CC_STORE_OK)
        return rc;
    rc = q(p, c, NULL, "COMMIT", 0, NULL);
    return rc == CC_STORE_OK ? CC_STORE_OK : CC_STORE_IO;
}

static void val(const PGresult *r, int row, int col, char *dst, size_t size)
{
    snprintf(dst, size, "%s", PQgetvalue(r, row, col));
}

static double dval(const PGresult *r, int row, int col)
{
    return strtod(PQgetvalue(r, row, col), NULL);
}

static void fmt_double(char buf[32], double v)
{
    snprintf(buf, 32, "%.17g", v);
}

/* ---- schema ---- */

/* Runs a script of several statements (only the simple query protocol
 * takes them). 0, or -1 with a reason in err. */
static int run_script(pg *p, pg_conn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *made = PQexec(c->conn, sql);
    int ok = PQresultStatus(made) == PGRES_COMMAND_OK;
    if (!ok) {
        char msg[512];
        message(PQerrorMessage(c->conn), msg, sizeof msg);
        snprintf(err, errlen, "cannot create or upgrade the schema in %s: %s", p->display, msg);
    }
    PQclear(made);
    return ok ? 0 : -1;
}

static int create_schema(pg *p, pg_conn *c, char *err, size_t errlen)
{
    PGresult *res = NULL;
    int rc = -1, version = 0;

    if (q(p, c, NULL, "BEGIN", 0, NULL) != CC_STORE_OK ||
        q(p, c, NULL, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ")", 0, NULL) != CC_STORE_OK ||
        q(p, c, &res, "SELECT to_regclass('meta') IS NOT NULL", 0, NULL) != CC_STORE_OK) {
        snprintf(err, errlen, "cannot read the schema of %s (see the log)", p->display);
        goto out;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        PQclear(res);
        if (q(p, c, &res, "SELECT schema_version FROM meta", 0, NULL) != CC_STORE_OK || PQntuples(res) != 1) {
            snprintf(err, errlen, "cannot read the schema version of %s", p->display);
            goto out;
        }
        version = atoi(PQgetvalue(res, 0, 0));
        if (version > SCHEMA_VERSION) {
            snprintf(err, errlen,
                     "database schema version %d is newer than this program's (%d); upgrade siegetank",
                     version, SCHEMA_VERSION);
            goto out;
        }
    }
    if ((version < 1 && run_script(p, c, schema_sql, err, errlen) != 0) ||
        (version < 2 && run_script(p, c, schema_v2_sql, err, errlen) != 0) ||
        (version < 3 && run_script(p, c, schema_v3_sql, err, errlen) != 0))
        goto out;
    if (finish(p, c, CC_STORE_OK) != CC_STORE_OK) {
        snprintf(err, errlen, "cannot commit the schema in %s", p->display);
        goto out;
    }
    rc = 0;
out:
    PQclear(res);
    return rc;
}

static void pg_close(void *impl)
{
    pg *p = impl;
    if (!p)
        return;
    for (int i = 0; i < POOL_SIZE; i++)
        PQfinish(p->pool[i].conn);
    PQconninfoFree(p->parsed);
    free(p->keys);
    free(p->values);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p);
}

void *cc_store_pg_open(const char *url, char *err, size_t errlen)
{
    pg *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    cc_store_pg_redact(url, p->display, sizeof p->display);
    if (set_params(p, url, err, errlen) != 0)
        goto fail;
    pg_conn *c = &p->pool[0];
    c->conn = connect_db(p, err, errlen);
    if (!c->conn || create_schema(p, c, err, errlen) != 0)
        goto fail;
    log_info("cc database: PostgreSQL at %s%s", p->display,
             PQsslInUse(c->conn) ? " (TLS)" : " (not encrypted: local address)");
    release(p, c);
    return p;
fail:
    pg_close(p);
    return NULL;
}

/* ---- users ---- */

#define USER_COLS "name, email, role, weight, creation_date"

static void read_user(const PGresult *r, int row, cc_user *u)
{
    char role_name[16];
    cc_role role = CC_ROLE_DONOR;

    val(r, row, 0, u->name, sizeof u->name);
    val(r, row, 1, u->email, sizeof u->email);
    val(r, row, 2, role_name, sizeof role_name);
    cc_role_parse(role_name, &role);
    u->role = role;
    u->weight = dval(r, row, 3);
    u->creation_date = dval(r, row, 4);
}

/* 1 when the query yields a row, 0 when not; rc is set on error. */
static int exists(pg *p, pg_conn *c, cc_store_status *rc, const char *sql, const char *param)
{
    PGresult *res;
    *rc = q(p, c, &res, sql, 1, &param);
    if (*rc != CC_STORE_OK)
        return 0;
    int found = PQntuples(res) > 0;
    PQclear(res);
    return found;
}

static cc_store_status pg_user_insert(void *impl, const cc_user *user, const char *password_hash,
                                      const char *token_hash)
{
    pg *p = impl;
    pg_conn *c = acquire(p);
    cc_store_status rc = CC_STORE_IO;
    char weight[32], created[32];

    if (!c)
        return CC_STORE_IO;
    rc = q(p, c, NULL, "BEGIN", 0, NULL);
    if (rc != CC_STORE_OK)
        goto out;
    if (exists(p, c, &rc, "SELECT 1 FROM users WHERE name = $1", user->name)) {
        rc = CC_STORE_EXISTS;
        goto out;
    }
    if (rc != CC_STORE_OK)
        goto out;
    if (user->role == CC_ROLE_DONOR &&
        exists(p, c, &rc, "SELECT 1 FROM users WHERE email = $1 AND role = 'donor'", user->email)) {
        rc = CC_STORE_EMAIL_EXISTS;
        goto out;
    }
    if (rc != CC_STORE_OK)
        goto out;
    fmt_double(weight, user->weight);
    fmt_double(created, user->creation_date);
    const char *params[] = {user->name, user->email, cc_role_name(user->role), password_hash, token_hash,
                            weight,     created};
    rc = q(p, c, NULL,
           "INSERT INTO users(name, email, role, password_hash, token_hash, weight, creation_date)"
           " VALUES ($1, $2, $3, $4, $5, $6, $7)",
           7, params);
    /* A concurrent insert from another CC can still win the race. */
    if (rc == CC_STORE_EXISTS && strcmp(c->constraint, "users_donor_email") == 0)
        rc = CC_STORE_EMAIL_EXISTS;
    rc = finish(p, c, rc);
out:
    release(p, c);
    return rc;
}

static cc_store_status pg_user_get(void *impl, int donors, const char *name, cc_user_row *out)
{
    pg *p = impl;
    pg_conn *c = acquire(p);
    PGresult *res = NULL;
    cc_store_status rc;

    if (!c)
        return CC_STORE_IO;
    rc = q(p, c, &res,
           donors ? "SELECT " USER_COLS ", password_hash FROM users WHERE name = $1 AND role = 'donor'"
                  : "SELECT " USER_COLS ", password_hash FROM users WHERE name = $1 AND role <> 'donor'",
           1, &name);
    if (rc == CC_STORE_OK && PQntuples(res) == 0)
        rc = CC_STORE_NOT_FOUND;
    if (rc == CC_STORE_OK) {
        read_user(res, 0, &out->user);
        val(res, 0, 5, out->password_hash, sizeof out->password_hash);
    }
    PQclear(res);
    release(p, c);
    return rc;
}

/* One write statement in its own transaction; NOT_FOUND when it changed
 * no row and must_change is set. */
static cc_store_status write_one(pg *p, const char *sql, int n, const char *const *params, int must_change)
{
    pg_conn *c = acquire(p);
    PGresult *res = NULL;
    cc_store_status rc;

    if (!c)
        return CC_STORE_IO;
    rc = q(p, c, NULL, "BEGIN", 0, NULL);
    if (rc == CC_STORE_OK)
        rc = q(p, c, &res, sql, n, params);
    if (rc == CC_STORE_OK && must_change && changed(res) == 0)
        rc = CC_STORE_NOT_FOUND;
    PQclear(res);
    rc = finish(p, c, rc);
    release(p, c);
    return rc;
}

static cc_store_status pg_user_set_token(void *impl, const char *name, const char *password_hash,
                                         const char *token_hash)
{
    const char *params[] = {token_hash, name, password_hash};
    return write_one(impl, "UPDATE users SET token_hash = $1 WHERE name = $2 AND password_hash = $3", 3,
                     params, 1);
}

/* One read statement; NOT_FOUND when it yields no row, else each row goes
 * to fn. */
static cc_store_status read_rows(pg *p, const char *sql, int n, const char *const *params,
                                 int (*fn)(const PGresult *r, int row, void *arg), void *arg, int need_row)
{
    pg_conn *c = acquire(p);
    PGresult *res = NULL;
    cc_store_status rc;

    if (!c)
        return CC_STORE_IO;
    rc = q(p, c, &res, sql, n, params);
    if (rc == CC_STORE_OK && need_row && PQntuples(res) == 0)
        rc = CC_STORE_NOT_FOUND;
    for (int i = 0; rc == CC_STORE_OK && i < PQntuples(res); i++) {
        if (fn(res, i, arg) != 0)
            rc = CC_STORE_IO;
    }
    PQclear(res);
    release(p, c);
    return rc;
}

static int user_row(const PGresult *r, int row, void *arg)
{
    read_user(r, row, arg);
    return 0;
}

static cc_store_status pg_user_by_token(void *impl, const char *token_hash, cc_user *out)
{
    return read_rows(impl, "SELECT " USER_COLS " FROM users WHERE token_hash = $1", 1, &token_hash, user_row,
                     out, 1);
}

static int flag_row(const PGresult *r, int row, void *arg)
{
    (void)r;
    (void)row;
    *(int *)arg = 1;
    return 0;
}

static cc_store_status pg_admin_exists(void *impl, int *out)
{
    *out = 0;
    return read_rows(impl, "SELECT 1 FROM users WHERE role = 'admin' LIMIT 1", 0, NULL, flag_row, out, 0);
}

/* ---- engine keys ---- */

static cc_store_status pg_key_insert(void *impl, const cc_engine_key_row *row)
{
    char created[32];
    fmt_double(created, row->creation_date);
    const char *params[] = {row->key_hash, row->key_sealed, row->engine, row->description, created};
    return write_one(impl,
                     "INSERT INTO engine_keys(key_hash, key_sealed, engine, description, creation_date)"
                     " VALUES ($1, $2, $3, $4, $5)",
                     5, params, 0);
}

/* Fills one zeroed array element from row of r. 0 or -1. */
typedef int (*row_fill)(const PGresult *r, int row, void *elem);

/* Allocates *v with one zeroed element of elem bytes per row of res (and a
 * spare, so an empty result is still an allocation) and fills each through
 * fill, counting in *n. A row that fails to fill is still counted, so on
 * IO the caller's free releases whatever *v holds. */
static cc_store_status collect_rows(const PGresult *res, void **v, size_t *n, size_t elem, row_fill fill)
{
    *v = calloc((size_t)PQntuples(res) + 1, elem);
    if (!*v)
        return CC_STORE_IO;
    for (int i = 0; i < PQntuples(res); i++) {
        ++*n;
        if (fill(res, i, (char *)*v + (size_t)i * elem) != 0)
            return CC_STORE_IO;
    }
    return CC_STORE_OK;
}

static int fill_key(const PGresult *r, int row, void *elem)
{
    cc_engine_key_row *k = elem;
    val(r, row, 0, k->key_hash, sizeof k->key_hash);
    k->key_sealed = strdup(PQgetvalue(r, row, 1));
    val(r, row, 2, k->engine, sizeof k->engine);
    val(r, row, 3, k->description, sizeof k->description);
    k->creation_date = dval(r, row, 4);
    return k->key_sealed ? 0 : -1;
}

/* Rows of a whole-table read are counted first so one allocation fits. */
static cc_store_status pg_key_list(void *impl, cc_engine_key_row **out, size_t *n)
{
    pg *p = impl;
    pg_conn *c = acquire(p);
    PGresult *res = NULL;
    cc_store_status rc;

    *out = NULL;
    *n = 0;
    if (!c)
        return CC_STORE_IO;
    rc = q(p, c, &res,
           "SELECT key_hash, key_sealed, engine, description, creation_date FROM engine_keys"
           " ORDER BY creation_date, key_hash",
           0, NULL);
    if (rc == CC_STORE_OK)
        rc = collect_rows(res, (void **)out, n, sizeof **out, fill_key);
    PQclear(res);
    release(p, c);
    if (rc != CC_STORE_OK) {
        cc_engine_key_rows_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static cc_store_status pg_key_delete(void *impl, const char *key_hash)
{
    return write_one(impl, "DELETE FROM engine_keys WHERE key_hash = $1", 1, &key_hash, 1);
}

static int engine_row(const PGresult *r, int row, void *arg)
{
    val(r, row, 0, arg, CC_ENGINE_MAX + 1);
    return 0;
}

static cc_store_status pg_key_lookup(void *impl, const char *key_hash, char engine[CC_ENGINE_MAX + 1])
{
    return read_rows(impl, "SELECT engine FROM engine_keys WHERE key_hash = $1", 1, &key_hash, engine_row,
                     engine, 1);
}

/* ---- targets ---- */

#define TARGET_COLS "id, owner, stage, engines, options, weight, creation_date"

/* Fills t from a row whose first columns are TARGET_COLS. 0 or -1. */
static int read_target(const PGresult *r, int row, cc_target *t)
{
    char stage[16];
    cc_stage parsed = CC_STAGE_DISABLED;

    memset(t, 0, sizeof *t);
    val(r, row, 0, t->id, sizeof t->id);
    val(r, row, 1, t->owner, sizeof t->owner);
    val(r, row, 2, stage, sizeof stage);
    cc_stage_parse(stage, &parsed);
    t->stage = parsed;
    t->weight = dval(r, row, 5);
    t->creation_date = dval(r, row, 6);
    if (cc_engines_parse(PQgetvalue(r, row, 3), t) != 0)
        return -1;
    t->options = json_loads(PQgetvalue(r, row, 4), 0, NULL);
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

static cc_store_status pg_target_insert(void *impl, const cc_target *t)
{
    char *engines = cc_engines_json((const char *const *)t->engines, t->n_engines);
    char *options = t->options ? json_dumps(t->options, JSON_COMPACT) : strdup("{}");
    char weight[32], created[32];
    cc_store_status rc = CC_STORE_IO;

    if (engines && options) {
        fmt_double(weight, t->weight);
        fmt_double(created, t->creation_date);
        const char *params[] = {t->id, t->owner, cc_stage_name(t->stage), engines, options, weight, created};
        rc = write_one(impl, "INSERT INTO targets(" TARGET_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7)", 7,
                       params, 0);
    }
    free(engines);
    free(options);
    return rc;
}

static cc_store_status pg_target_get(void *impl, const char *id, cc_target *out)
{
    pg *p = impl;
    pg_conn *c = acquire(p);
    PGresult *res = NULL;
    cc_store_status rc;

    if (!c)
        return CC_STORE_IO;
    /* One statement, so the row and its shards are read at one instant. */
    rc = q(p, c, &res,
           "SELECT t.id, t.owner, t.stage, t.engines, t.options, t.weight, t.creation_date, s.scv"
           " FROM targets t LEFT JOIN shards s ON s.target_id = t.id WHERE t.id = $1 ORDER BY s.scv",
           1, &id);
    if (rc == CC_STORE_OK && PQntuples(res) == 0)
        rc = CC_STORE_NOT_FOUND;
    if (rc == CC_STORE_OK && read_target(res, 0, out) != 0)
        rc = CC_STORE_IO;
    for (int i = 0; rc == CC_STORE_OK && i < PQntuples(res); i++) {
        if (!PQgetisnull(res, i, 7) && add_shard(out, PQgetvalue(res, i, 7)) != 0)
            rc = CC_STORE_IO;
    }
    PQclear(res);
    release(p, c);
    if (rc != CC_STORE_OK)
        cc_target_free(out);
    return rc;
}

static cc_store_status pg_target_update(void *impl, const char *id, const cc_target_update *u)
{
    pg *p = impl;
    pg_conn *c = acquire(p);
    PGresult *res = NULL;
    cc_target t = {0};
    char *engines = NULL, *options = NULL;
    char weight[32];
    cc_store_status rc;

    if (!c)
        return CC_STORE_IO;
    rc = q(p, c, NULL, "BEGIN", 0, NULL);
    if (rc == CC_STORE_OK)
        rc = q(p, c, &res, "SELECT " TARGET_COLS " FROM targets WHERE id = $1 FOR UPDATE", 1, &id);
    if (rc == CC_STORE_OK && PQntuples(res) == 0)
        rc = CC_STORE_NOT_FOUND;
    if (rc != CC_STORE_OK)
        goto out;
    rc = CC_STORE_IO;
    if (read_target(res, 0, &t) != 0)
        goto out;
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
    fmt_double(weight, u->set_weight ? u->weight : t.weight);
    const char *params[] = {cc_stage_name(u->set_stage ? u->stage : t.stage), engines, options, weight, id};
    rc = q(p, c, NULL, "UPDATE targets SET stage = $1, engines = $2, options = $3, weight = $4 WHERE id = $5",
           5, params);
    rc = finish(p, c, rc);
out:
    PQclear(res);
    release(p, c);
    cc_target_free(&t);
    free(engines);
    free(options);
    return rc;
}

static cc_store_status pg_target_delete(void *impl, const char *id)
{
    pg *p = impl;
    pg_conn *c = acquire(p);
    cc_store_status rc;

    if (!c)
        return CC_STORE_IO;
    /* The row lock keeps shards from being added between check and delete. */
    rc = q(p, c, NULL, "BEGIN", 0, NULL);
    if (rc != CC_STORE_OK)
        goto out;
    if (!exists(p, c, &rc, "SELECT 1 FROM targets WHERE id = $1 FOR UPDATE", id)) {
        rc = rc == CC_STORE_OK ? CC_STORE_NOT_FOUND : rc;
        goto out;
    }
    if (exists(p, c, &rc, "SELECT 1 FROM shards WHERE target_id = $1 LIMIT 1", id)) {
        rc = CC_STORE_CONFLICT;
        goto out;
    }
    if (rc == CC_STORE_OK)
        rc = q(p, c, NULL, "DELETE FROM targets WHERE id = $1", 1, &id);
    rc = finish(p, c, rc);
out:
    release(p, c);
    return rc;
}

static int fill_id(const PGresult *r, int row, void *elem)
{
    char **id = elem;
    *id = strdup(PQgetvalue(r, row, 0));
    return *id ? 0 : -1;
}

static cc_store_status pg_target_list(void *impl, const char *owner, cc_strlist *out)
{
    pg *p = impl;
    pg_conn *c = acquire(p);
    PGresult *res = NULL;
    cc_store_status rc;

    if (!c)
        return CC_STORE_IO;
    rc = q(p, c, &res,
           owner ? "SELECT id FROM targets WHERE owner = $1 ORDER BY creation_date, id"
                 : "SELECT id FROM targets WHERE stage = 'public' ORDER BY creation_date, id",
           owner ? 1 : 0, owner ? &owner : NULL);
    if (rc == CC_STORE_OK)
        rc = collect_rows(res, (void **)&out->v, &out->n, sizeof *out->v, fill_id);
    PQclear(res);
    release(p, c);
    if (rc != CC_STORE_OK)
        cc_strlist_free(out);
    return rc;
}

/* Adds or removes a shard in a transaction that first checks the target,
 * so an unknown target is NOT_FOUND either way. */
static cc_store_status shard_change(pg *p, const char *target_id, const char *scv, const char *sql)
{
    pg_conn *c = acquire(p);
    const char *params[] = {target_id, scv};
    cc_store_status rc;

    if (!c)
        return CC_STORE_IO;
    rc = q(p, c, NULL, "BEGIN", 0, NULL);
    if (rc != CC_STORE_OK)
        goto out;
    if (!exists(p, c, &rc, "SELECT 1 FROM targets WHERE id = $1", target_id)) {
        rc = rc == CC_STORE_OK ? CC_STORE_NOT_FOUND : rc;
        goto out;
    }
    rc = q(p, c, NULL, sql, 2, params);
    /* The target was deleted by another CC since the check. */
    if (rc == CC_STORE_CONFLICT)
        rc = CC_STORE_NOT_FOUND;
    rc = finish(p, c, rc);
out:
    release(p, c);
    return rc;
}

static cc_store_status pg_shard_add(void *impl, const char *target_id, const char *scv)
{
    return shard_change(impl, target_id, scv,
                        "INSERT INTO shards(target_id, scv) VALUES ($1, $2) ON CONFLICT DO NOTHING");
}

static cc_store_status pg_shard_remove(void *impl, const char *target_id, const char *scv)
{
    return shard_change(impl, target_id, scv, "DELETE FROM shards WHERE target_id = $1 AND scv = $2");
}

/* ---- sealing ---- */

/* Insert if absent, then read back: when several CCs start at once, the
 * later inserts wait for the first and do nothing, and all read its salt. */
static cc_store_status pg_seal_salt(void *impl, const char *candidate, char out[AUTH_SALT_HEX_LEN + 1])
{
    pg *p = impl;
    const char *params[] = {candidate};
    PGresult *res = NULL;
    pg_conn *c = acquire(p);
    if (!c)
        return CC_STORE_IO;
    cc_store_status rc = q(p, c, NULL, "BEGIN", 0, NULL);
    if (rc == CC_STORE_OK)
        rc = q(p, c, NULL, "INSERT INTO seal_salt(salt) VALUES ($1) ON CONFLICT DO NOTHING", 1, params);
    if (rc == CC_STORE_OK)
        rc = q(p, c, &res, "SELECT salt FROM seal_salt", 0, NULL);
    if (rc == CC_STORE_OK && PQntuples(res) != 1)
        rc = CC_STORE_IO;
    if (rc == CC_STORE_OK)
        val(res, 0, 0, out, AUTH_SALT_HEX_LEN + 1);
    PQclear(res);
    rc = finish(p, c, rc);
    release(p, c);
    return rc;
}

static cc_store_status pg_reseal(void *impl, int scv, const char *id, const char *old_sealed,
                                 const char *new_sealed)
{
    const char *params[] = {new_sealed, id, old_sealed};
    return write_one(impl,
                     scv ? "UPDATE scvs SET password_sealed = $1 WHERE name = $2 AND password_sealed = $3"
                         : "UPDATE engine_keys SET key_sealed = $1 WHERE key_hash = $2 AND key_sealed = $3",
                     3, params, 1);
}

/* ---- SCVs ---- */

static cc_store_status pg_scv_upsert(void *impl, const cc_scv_row *row)
{
    const char *params[] = {row->name, row->host, row->password_sealed};
    return write_one(impl,
                     "INSERT INTO scvs(name, host, password_sealed) VALUES ($1, $2, $3)"
                     " ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host,"
                     " password_sealed = EXCLUDED.password_sealed",
                     3, params, 0);
}

static int fill_scv(const PGresult *r, int row, void *elem)
{
    cc_scv_row *s = elem;
    val(r, row, 0, s->name, sizeof s->name);
    val(r, row, 1, s->host, sizeof s->host);
    s->password_sealed = strdup(PQgetvalue(r, row, 2));
    return s->password_sealed ? 0 : -1;
}

static cc_store_status scv_rows(pg *p, pg_conn *c, cc_scv_row **out, size_t *n)
{
    PGresult *res = NULL;
    cc_store_status rc = q(p, c, &res, "SELECT name, host, password_sealed FROM scvs ORDER BY name", 0, NULL);

    *out = NULL;
    *n = 0;
    if (rc != CC_STORE_OK)
        return rc;
    rc = collect_rows(res, (void **)out, n, sizeof **out, fill_scv);
    PQclear(res);
    if (rc != CC_STORE_OK) {
        cc_scv_rows_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static cc_store_status pg_scv_list(void *impl, cc_scv_row **out, size_t *n)
{
    pg *p = impl;
    pg_conn *c = acquire(p);
    *out = NULL;
    *n = 0;
    if (!c)
        return CC_STORE_IO;
    cc_store_status rc = scv_rows(p, c, out, n);
    release(p, c);
    return rc;
}

/* ---- stats ---- */

/* The batch as one JSON array parameter: one statement inserts it all,
 * in order, so a duplicate id inside the batch keeps its first fragment. */
static char *stats_json(const cc_stats_fragment *v, size_t n)
{
    json_t *arr = json_array();
    char *text = NULL;

    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:I}", "id", v[i].id, "target_id", v[i].target_id,
                              "stream_id", v[i].stream_id, "engine", v[i].engine, "user_name", v[i].user,
                              "start_time", v[i].start_time, "end_time", v[i].end_time, "frames",
                              (json_int_t)v[i].frames);
        if (json_array_append_new(arr, o) != 0)
            goto out;
    }
    text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
out:
    json_decref(arr);
    return text;
}

static cc_store_status pg_stats_insert(void *impl, const cc_stats_fragment *v, size_t n, size_t *inserted)
{
    pg *p = impl;
    pg_conn *c = NULL;
    PGresult *res = NULL;
    cc_store_status rc;
    char *batch = stats_json(v, n);

    *inserted = 0;
    /* json_pack refuses text that is not UTF-8, as PostgreSQL would. */
    if (!batch)
        return CC_STORE_INVALID;
    c = acquire(p);
    if (!c) {
        free(batch);
        return CC_STORE_IO;
    }
    const char *param = batch;
    rc = q(p, c, NULL, "BEGIN", 0, NULL);
    if (rc == CC_STORE_OK)
        rc = q(p, c, &res,
               "INSERT INTO stats(id, target_id, stream_id, engine, user_name, start_time, end_time, frames)"
               " SELECT id, target_id, stream_id, engine, user_name, start_time, end_time, frames"
               " FROM json_to_recordset($1::json) AS x(id text, target_id text, stream_id text, engine text,"
               " user_name text, start_time double precision, end_time double precision, frames bigint)"
               " ON CONFLICT (id) DO NOTHING",
               1, &param);
    long count = rc == CC_STORE_OK ? changed(res) : 0;
    PQclear(res);
    rc = finish(p, c, rc);
    release(p, c);
    free(batch);
    if (rc == CC_STORE_OK)
        *inserted = (size_t)count;
    return rc;
}

/* ---- the whole cache ---- */

static int fill_target(const PGresult *r, int row, void *elem)
{
    return read_target(r, row, elem);
}

static cc_store_status load_targets(pg *p, pg_conn *c, const char *since, cc_snapshot *out)
{
    PGresult *res = NULL;
    size_t t = 0;
    cc_store_status rc = q(p, c, &res,
                           since ? "SELECT " TARGET_COLS " FROM targets WHERE changed > $1 ORDER BY id"
                                 : "SELECT " TARGET_COLS " FROM targets ORDER BY id",
                           since ? 1 : 0, &since);

    if (rc != CC_STORE_OK)
        return rc;
    rc = collect_rows(res, (void **)&out->targets, &out->n_targets, sizeof *out->targets, fill_target);
    PQclear(res);
    res = NULL;
    if (rc == CC_STORE_OK)
        rc = q(p, c, &res,
               since ? "SELECT target_id, scv FROM shards WHERE target_id IN"
                       " (SELECT id FROM targets WHERE changed > $1) ORDER BY target_id, scv"
                     : "SELECT target_id, scv FROM shards ORDER BY target_id, scv",
               since ? 1 : 0, &since);
    /* Both lists are sorted by id in the "C" collation (strcmp order), so
     * one merge pass attaches every shard. */
    for (int i = 0; rc == CC_STORE_OK && i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 0);
        while (t < out->n_targets && strcmp(out->targets[t].id, id) < 0)
            t++;
        if (t < out->n_targets && strcmp(out->targets[t].id, id) == 0 &&
            add_shard(&out->targets[t], PQgetvalue(res, i, 1)) != 0)
            rc = CC_STORE_IO;
    }
    PQclear(res);
    return rc;
}

static cc_store_status load_deleted(pg *p, pg_conn *c, const char *since, cc_strlist *deleted)
{
    PGresult *res = NULL;
    if (!since)
        return CC_STORE_OK;
    cc_store_status rc =
        q(p, c, &res, "SELECT id FROM target_deletions WHERE changed > $1 ORDER BY id", 1, &since);
    if (rc == CC_STORE_OK)
        rc = collect_rows(res, (void **)&deleted->v, &deleted->n, sizeof *deleted->v, fill_id);
    PQclear(res);
    return rc;
}

static cc_store_status load_generation(pg *p, pg_conn *c, uint64_t *out)
{
    PGresult *res = NULL;
    cc_store_status rc = q(p, c, &res, "SELECT generation FROM meta", 0, NULL);
    if (rc == CC_STORE_OK && PQntuples(res) != 1)
        rc = CC_STORE_IO;
    if (rc == CC_STORE_OK)
        *out = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return rc;
}

static int fill_manager(const PGresult *r, int row, void *elem)
{
    cc_manager_weight *m = elem;
    char role[16];
    cc_role parsed = CC_ROLE_MANAGER;

    val(r, row, 0, m->name, sizeof m->name);
    val(r, row, 1, role, sizeof role);
    cc_role_parse(role, &parsed);
    m->role = parsed;
    m->weight = dval(r, row, 2);
    return 0;
}

static cc_store_status load_managers(pg *p, pg_conn *c, cc_snapshot *out)
{
    PGresult *res = NULL;
    cc_store_status rc =
        q(p, c, &res, "SELECT name, role, weight FROM users WHERE role <> 'donor' ORDER BY name", 0, NULL);

    if (rc != CC_STORE_OK)
        return rc;
    rc = collect_rows(res, (void **)&out->managers, &out->n_managers, sizeof *out->managers, fill_manager);
    PQclear(res);
    return rc;
}

static int fill_key_ref(const PGresult *r, int row, void *elem)
{
    cc_engine_key_ref *k = elem;
    val(r, row, 0, k->key_hash, sizeof k->key_hash);
    val(r, row, 1, k->engine, sizeof k->engine);
    return 0;
}

static cc_store_status load_keys(pg *p, pg_conn *c, cc_snapshot *out)
{
    PGresult *res = NULL;
    cc_store_status rc = q(p, c, &res, "SELECT key_hash, engine FROM engine_keys ORDER BY key_hash", 0, NULL);

    if (rc != CC_STORE_OK)
        return rc;
    rc = collect_rows(res, (void **)&out->keys, &out->n_keys, sizeof *out->keys, fill_key_ref);
    PQclear(res);
    return rc;
}

static cc_store_status pg_load_since(void *impl, const uint64_t *since, cc_snapshot *out, cc_strlist *deleted,
                                     uint64_t *generation, cc_scv_row **scvs, size_t *n_scvs)
{
    pg *p = impl;
    pg_conn *c = acquire(p);
    char since_text[32];
    const char *since_param = NULL;
    cc_store_status rc;

    *scvs = NULL;
    *n_scvs = 0;
    if (!c)
        return CC_STORE_IO;
    if (since) {
        snprintf(since_text, sizeof since_text, "%llu", (unsigned long long)*since);
        since_param = since_text;
    }
    /* One snapshot for every table and the generation: a shard never points
     * at a target the same load missed, and no change is read twice or
     * skipped by the next load. */
    rc = q(p, c, NULL, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
    if (rc == CC_STORE_OK)
        rc = load_generation(p, c, generation);
    if (rc == CC_STORE_OK)
        rc = load_targets(p, c, since_param, out);
    if (rc == CC_STORE_OK)
        rc = load_deleted(p, c, since_param, deleted);
    if (rc == CC_STORE_OK)
        rc = load_managers(p, c, out);
    if (rc == CC_STORE_OK)
        rc = load_keys(p, c, out);
    if (rc == CC_STORE_OK)
        rc = scv_rows(p, c, scvs, n_scvs);
    rc = finish(p, c, rc);
    release(p, c);
    if (rc != CC_STORE_OK) {
        cc_scv_rows_free(*scvs, *n_scvs);
        *scvs = NULL;
        *n_scvs = 0;
    }
    return rc;
}

static int generation_row(const PGresult *r, int row, void *arg)
{
    *(uint64_t *)arg = strtoull(PQgetvalue(r, row, 0), NULL, 10);
    return 0;
}

static cc_store_status pg_change_counter(void *impl, uint64_t *out)
{
    return read_rows(impl, "SELECT generation FROM meta", 0, NULL, generation_row, out, 1);
}

const cc_store_ops cc_store_pg_ops = {
    .close = pg_close,
    .user_insert = pg_user_insert,
    .user_get = pg_user_get,
    .user_set_token = pg_user_set_token,
    .user_by_token = pg_user_by_token,
    .admin_exists = pg_admin_exists,
    .key_insert = pg_key_insert,
    .key_list = pg_key_list,
    .key_delete = pg_key_delete,
    .key_lookup = pg_key_lookup,
    .target_insert = pg_target_insert,
    .target_get = pg_target_get,
    .target_update = pg_target_update,
    .target_delete = pg_target_delete,
    .target_list = pg_target_list,
    .shard_add = pg_shard_add,
    .shard_remove = pg_shard_remove,
    .scv_upsert = pg_scv_upsert,
    .scv_list = pg_scv_list,
    .seal_salt = pg_seal_salt,
    .reseal = pg_reseal,
    .stats_insert = pg_stats_insert,
    .load_since = pg_load_since,
    .change_counter = pg_change_counter,
};
