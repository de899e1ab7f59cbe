/* The PostgreSQL backend of cc_store (cc_store_backend.h). See
 * cc_store_pg.h.
 *
 * A transaction holds one pooled connection from begin to end; every
 * write runs in an explicit transaction (BEGIN … COMMIT). That makes
 * reconnection simple and safe: when the first statement of a transaction
 * is BEGIN or a plain SELECT and it fails because a pooled connection went
 * stale (the server restarted since it was last used), nothing can have
 * happened yet, so it reconnects and sends it again. A connection that
 * cannot be opened, or breaks later, makes the call UNAVAILABLE and is
 * dropped; any other failure is IO. */
#include "cc/cc_store_pg.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_store_backend.h"
#include "util/clock.h"
#include "util/log.h"

#define SCHEMA_VERSION 3
#define POOL_SIZE 4
#define CONNECT_TIMEOUT_S "5"
/* While the server is down, at most one connection attempt runs at a time
 * and every other call fails at once; the next attempt waits as long as
 * the last failed one took, capped at RETRY_MAX_S. An unreachable host
 * would otherwise hold each worker for CONNECT_TIMEOUT_S per call and tie
 * up the whole pool, while a refused connection costs nothing and is
 * retried at once, so the first call after a restart succeeds. */
#define RETRY_MAX_S 1.0
/* pg_advisory_xact_lock key taken while the schema is checked or created:
 * "stnk" in ASCII. */
#define SCHEMA_LOCK_KEY "1937010283"

typedef struct pg pg;

/* A pool slot; while busy, it is the transaction of one call. */
typedef struct cc_store_tx {
    pg *p;
    PGconn *conn;
    cc_tx_mode mode;
    int reused; /* opened before the current call */
    int sent;   /* statements sent during the current call */
    int busy;
    char constraint[64]; /* of the last failed statement */
} pg_conn;

struct pg {
    const char **keys; /* libpq connection parameters, NULL-terminated */
    const char **values;
    PQconninfoOption *parsed; /* owns most of the strings above */
    char display[512];        /* the URL without its password */
    int down;                 /* the last connection attempt failed */
    int probing;              /* a connection attempt runs during an outage */
    double retry_at;          /* no attempt before this (clock_mono_s) */
    pthread_mutex_t lock;
    pthread_cond_t freed;
    pg_conn pool[POOL_SIZE];
};

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
static int set_params(pg *p, const char *url, struct status *st)
{
    char *msg = NULL;
    size_t n = 0, i = 0;

    p->parsed = PQconninfoParse(url, &msg);
    if (!p->parsed) {
        status_fail(st, STATUS_INVALID, "database URL %s cannot be parsed: %s", p->display,
                    msg ? msg : "out of memory");
        PQfreemem(msg);
        return -1;
    }
    for (PQconninfoOption *o = p->parsed; o->keyword; o++)
        n++;
    p->keys = calloc(n + 4, sizeof *p->keys);
    p->values = calloc(n + 4, sizeof *p->values);
    if (!p->keys || !p->values) {
        status_fail(st, STATUS_IO, "out of memory");
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

static PGconn *connect_db(pg *p, struct status *st)
{
    char msg[512];
    PGconn *conn = PQconnectdbParams(p->keys, p->values, 0);

    if (conn && PQstatus(conn) == CONNECTION_OK)
        return conn;
    message(conn ? PQerrorMessage(conn) : "out of memory", msg, sizeof msg);
    status_fail(st, STATUS_UNAVAILABLE, "cannot connect to PostgreSQL at %s: %s", p->display, msg);
    PQfinish(conn);
    return NULL;
}

/* Under the lock: 1 when this caller may try to connect now (it then owns
 * the outage's single attempt). */
static int may_connect(pg *p)
{
    if (!p->down)
        return 1;
    if (p->probing || clock_mono_s() < p->retry_at)
        return 0;
    p->probing = 1;
    return 1;
}

/* Logs an outage once, when it starts, and once when it ends, not at
 * every call in between. */
static int reconnect(pg *p, pg_conn *c)
{
    struct status err;
    PQfinish(c->conn);
    c->conn = NULL;
    pthread_mutex_lock(&p->lock);
    int allowed = may_connect(p);
    pthread_mutex_unlock(&p->lock);
    if (!allowed)
        return -1;
    double start = clock_mono_s();
    c->conn = connect_db(p, &err);
    double end = clock_mono_s();
    pthread_mutex_lock(&p->lock);
    int was_down = p->down;
    p->down = c->conn == NULL;
    p->probing = 0;
    p->retry_at = end + (end - start < RETRY_MAX_S ? end - start : RETRY_MAX_S);
    pthread_mutex_unlock(&p->lock);
    if (!c->conn && !was_down)
        log_error("cc database: %s; calls fail until it is back", err.msg);
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

/* Maps a failed statement to a status: a broken connection is UNAVAILABLE;
 * constraint violations and bad text (invalid UTF-8) are the caller's
 * business; the rest is logged. */
static status_code failure(pg_conn *c, PGresult *res, const char *sql)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *cons = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    char msg[512];

    snprintf(c->constraint, sizeof c->constraint, "%s", cons ? cons : "");
    if (state && strcmp(state, "23505") == 0)
        return STATUS_EXISTS;
    if (state && strcmp(state, "23503") == 0)
        return STATUS_CONFLICT;
    if (state && strncmp(state, "22", 2) == 0)
        return STATUS_INVALID;
    message(c->conn ? PQerrorMessage(c->conn) : "no connection", msg, sizeof msg);
    log_error("cc database: '%.40s' failed: %s", sql, msg);
    return !c->conn || PQstatus(c->conn) != CONNECTION_OK ? STATUS_UNAVAILABLE : STATUS_IO;
}

/* Runs sql with text parameters. OK with the result in *out (when out is
 * not NULL; the caller PQclears it), or a status from failure(). */
static status_code q(pg_conn *c, PGresult **out, const char *sql, int n, const char *const *params)
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
        if (reconnect(c->p, c) != 0)
            return STATUS_UNAVAILABLE;
        res = PQexecParams(c->conn, sql, n, NULL, params, NULL, NULL, 0);
    }
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        status_code rc = failure(c, res, sql);
        PQclear(res);
        return rc;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return STATUS_OK;
}

/* Number of rows a command changed. */
static long changed(PGresult *res)
{
    return strtol(PQcmdTuples(res), NULL, 10);
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

/* Fills one zeroed array element from row of r. 0 or -1. */
typedef int (*row_fill)(const PGresult *r, int row, void *elem);

/* Runs a query and appends one zeroed element of elem bytes to *v per
 * row (one allocation, with a spare so an empty result still allocates),
 * filled through fill and counted in *n. A row that fails to fill is still
 * counted, so on IO the caller's free releases whatever *v holds. */
static status_code collect(pg_conn *c, const char *sql, int np, const char *const *params, void **v,
                           size_t *n, size_t elem, row_fill fill)
{
    PGresult *res = NULL;
    status_code rc = q(c, &res, sql, np, params);
    if (rc == STATUS_OK && !(*v = calloc((size_t)PQntuples(res) + 1, elem)))
        rc = STATUS_IO;
    for (int i = 0; rc == STATUS_OK && i < PQntuples(res); i++) {
        ++*n;
        if (fill(res, i, (char *)*v + (size_t)i * elem) != 0)
            rc = STATUS_IO;
    }
    PQclear(res);
    return rc;
}

/* The first row of a query through fill (NOT_FOUND without one). */
static status_code one_row(pg_conn *c, const char *sql, int np, const char *const *params, row_fill fill,
                           void *out)
{
    PGresult *res = NULL;
    status_code rc = q(c, &res, sql, np, params);
    if (rc == STATUS_OK && PQntuples(res) == 0)
        rc = STATUS_NOT_FOUND;
    if (rc == STATUS_OK && fill(res, 0, out) != 0)
        rc = STATUS_IO;
    PQclear(res);
    return rc;
}

/* One write statement; NOT_FOUND when it changed no row and must_change
 * is set. */
static status_code write_one(pg_conn *c, const char *sql, int n, const char *const *params, int must_change)
{
    PGresult *res = NULL;
    status_code rc = q(c, &res, sql, n, params);
    if (rc == STATUS_OK && must_change && changed(res) == 0)
        rc = STATUS_NOT_FOUND;
    PQclear(res);
    return rc;
}

/* ---- schema ---- */

/* Runs a script of several statements (only the simple query protocol
 * takes them). 0, or -1 with a reason in st. */
static int run_script(pg *p, pg_conn *c, const char *sql, struct status *st)
{
    PGresult *made = PQexec(c->conn, sql);
    int ok = PQresultStatus(made) == PGRES_COMMAND_OK;
    if (!ok) {
        char msg[512];
        message(PQerrorMessage(c->conn), msg, sizeof msg);
        status_fail(st, STATUS_IO, "cannot create or upgrade the schema in %s: %s", p->display, msg);
    }
    PQclear(made);
    return ok ? 0 : -1;
}

static int create_schema(pg *p, pg_conn *c, struct status *st)
{
    PGresult *res = NULL;
    int rc = -1, version = 0;

    if (q(c, NULL, "BEGIN", 0, NULL) != STATUS_OK ||
        q(c, NULL, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ")", 0, NULL) != STATUS_OK ||
        q(c, &res, "SELECT to_regclass('meta') IS NOT NULL", 0, NULL) != STATUS_OK) {
        status_fail(st, STATUS_IO, "cannot read the schema of %s (see the log)", p->display);
        goto out;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        PQclear(res);
        if (q(c, &res, "SELECT schema_version FROM meta", 0, NULL) != STATUS_OK || PQntuples(res) != 1) {
            status_fail(st, STATUS_IO, "cannot read the schema version of %s", p->display);
            goto out;
        }
        version = atoi(PQgetvalue(res, 0, 0));
        if (version > SCHEMA_VERSION) {
            status_fail(st, STATUS_CONFLICT,
                        "database schema version %d is newer than this program's (%d); upgrade siegetank",
                        version, SCHEMA_VERSION);
            goto out;
        }
    }
    if ((version < 1 && run_script(p, c, schema_sql, st) != 0) ||
        (version < 2 && run_script(p, c, schema_v2_sql, st) != 0) ||
        (version < 3 && run_script(p, c, schema_v3_sql, st) != 0))
        goto out;
    if (q(c, NULL, "COMMIT", 0, NULL) != STATUS_OK) {
        status_fail(st, STATUS_IO, "cannot commit the schema in %s", p->display);
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

static void *pg_open(const char *url, struct status *st)
{
    pg *p = calloc(1, sizeof *p);
    if (!p) {
        status_fail(st, STATUS_IO, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    for (int i = 0; i < POOL_SIZE; i++)
        p->pool[i].p = p;
    cc_store_pg_redact(url, p->display, sizeof p->display);
    if (set_params(p, url, st) != 0)
        goto fail;
    pg_conn *c = &p->pool[0];
    c->conn = connect_db(p, st);
    if (!c->conn || create_schema(p, c, st) != 0)
        goto fail;
    log_info("cc database: PostgreSQL at %s%s", p->display,
             PQsslInUse(c->conn) ? " (TLS)" : " (not encrypted: local address)");
    release(p, c);
    return p;
fail:
    pg_close(p);
    return NULL;
}

/* ---- transactions ---- */

static status_code pg_begin(void *impl, cc_tx_mode mode, cc_store_tx **tx)
{
    pg_conn *c = acquire(impl);
    if (!c)
        return STATUS_UNAVAILABLE;
    c->mode = mode;
    status_code rc = mode == CC_TX_ONE ? STATUS_OK
                     : mode == CC_TX_SNAPSHOT
                         ? q(c, NULL, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL)
                         : q(c, NULL, "BEGIN", 0, NULL);
    if (rc != STATUS_OK) {
        release(impl, c);
        return rc;
    }
    *tx = c;
    return STATUS_OK;
}

/* The rollback of a failed call happens in release(). */
static status_code pg_end(cc_store_tx *c, status_code rc)
{
    if (rc == STATUS_OK && c->mode != CC_TX_ONE) {
        rc = q(c, NULL, "COMMIT", 0, NULL);
        if (rc != STATUS_OK && rc != STATUS_UNAVAILABLE)
            rc = STATUS_IO;
    }
    release(c->p, c);
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
    };
    const char *text = what == CC_PROBE_TARGET && c->mode == CC_TX_WRITE
                           ? "SELECT 1 FROM targets WHERE id = $1 FOR UPDATE"
                           : sql[what];
    *found = 0;
    status_code rc = one_row(c, text, what == CC_PROBE_ADMIN ? 0 : 1, &key, flag_row, found);
    return rc == STATUS_NOT_FOUND ? STATUS_OK : rc;
}

/* ---- users ---- */

#define USER_COLS "name, email, role, weight, creation_date"

static int read_user(const PGresult *r, int row, void *out)
{
    cc_user *u = out;
    char role_name[16];
    cc_role role = CC_ROLE_DONOR;

    val(r, row, 0, u->name, sizeof u->name);
    val(r, row, 1, u->email, sizeof u->email);
    val(r, row, 2, role_name, sizeof role_name);
    cc_role_parse(role_name, &role);
    u->role = role;
    u->weight = dval(r, row, 3);
    u->creation_date = dval(r, row, 4);
    return 0;
}

static int read_user_row(const PGresult *r, int row, void *out)
{
    cc_user_row *u = out;
    val(r, row, 5, u->password_hash, sizeof u->password_hash);
    return read_user(r, row, &u->user);
}

static status_code pg_user_insert(cc_store_tx *c, const cc_user *user, const char *password_hash,
                                  const char *token_hash)
{
    char weight[32], created[32];

    fmt_double(weight, user->weight);
    fmt_double(created, user->creation_date);
    const char *params[] = {user->name, user->email, cc_role_name(user->role), password_hash, token_hash,
                            weight,     created};
    status_code rc =
        q(c, NULL,
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
    return one_row(c,
                   donors
                       ? "SELECT " USER_COLS ", password_hash FROM users WHERE name = $1 AND role = 'donor'"
                       : "SELECT " USER_COLS ", password_hash FROM users WHERE name = $1 AND role <> 'donor'",
                   1, &name, read_user_row, out);
}

static status_code pg_user_set_token(cc_store_tx *c, const char *name, const char *password_hash,
                                     const char *token_hash)
{
    const char *params[] = {token_hash, name, password_hash};
    return write_one(c, "UPDATE users SET token_hash = $1 WHERE name = $2 AND password_hash = $3", 3, params,
                     1);
}

static status_code pg_user_by_token(cc_store_tx *c, const char *token_hash, cc_user *out)
{
    return one_row(c, "SELECT " USER_COLS " FROM users WHERE token_hash = $1", 1, &token_hash, read_user,
                   out);
}

/* ---- engine keys ---- */

static status_code pg_key_insert(cc_store_tx *c, const cc_engine_key_row *row)
{
    char created[32];
    fmt_double(created, row->creation_date);
    const char *params[] = {row->key_hash, row->key_sealed, row->engine, row->description, created};
    return write_one(c,
                     "INSERT INTO engine_keys(key_hash, key_sealed, engine, description, creation_date)"
                     " VALUES ($1, $2, $3, $4, $5)",
                     5, params, 0);
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

static status_code pg_key_list(cc_store_tx *c, cc_engine_key_row **out, size_t *n)
{
    status_code rc =
        collect(c,
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
    return write_one(c, "DELETE FROM engine_keys WHERE key_hash = $1", 1, &key_hash, 1);
}

static int fill_key_ref(const PGresult *r, int row, void *elem)
{
    cc_engine_key_ref *k = elem;
    val(r, row, 0, k->key_hash, sizeof k->key_hash);
    val(r, row, 1, k->engine, sizeof k->engine);
    return 0;
}

static status_code pg_key_refs(cc_store_tx *c, cc_engine_key_ref **out, size_t *n)
{
    return collect(c, "SELECT key_hash, engine FROM engine_keys ORDER BY key_hash", 0, NULL, (void **)out, n,
                   sizeof **out, fill_key_ref);
}

/* ---- targets ---- */

#define TARGET_COLS "id, owner, stage, engines, options, weight, creation_date"

/* Fills a zeroed target from a row of TARGET_COLS. 0 or -1. */
static int read_target(const PGresult *r, int row, void *out)
{
    cc_target *t = out;
    val(r, row, 0, t->id, sizeof t->id);
    val(r, row, 1, t->owner, sizeof t->owner);
    t->weight = dval(r, row, 5);
    t->creation_date = dval(r, row, 6);
    return cc_target_from_row(t, PQgetvalue(r, row, 2), PQgetvalue(r, row, 3), PQgetvalue(r, row, 4));
}

/* Inserts the row t, or (update) writes its stage, engines, options and
 * weight: the first five parameters. */
static status_code write_target(cc_store_tx *c, const cc_target *t, int update)
{
    char *engines = cc_engines_json((const char *const *)t->engines, t->n_engines);
    char *options = t->options ? json_dumps(t->options, JSON_COMPACT) : strdup("{}");
    char weight[32], created[32];
    status_code rc = STATUS_IO;

    if (engines && options) {
        fmt_double(weight, t->weight);
        fmt_double(created, t->creation_date);
        const char *params[] = {t->id, cc_stage_name(t->stage), engines, options, weight, t->owner, created};
        rc = update
                 ? write_one(
                       c,
                       "UPDATE targets SET stage = $2, engines = $3, options = $4, weight = $5 WHERE id = $1",
                       5, params, 0)
                 : write_one(c,
                             "INSERT INTO targets(id, stage, engines, options, weight, owner, creation_date)"
                             " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                             7, params, 0);
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
    return one_row(c,
                   c->mode == CC_TX_WRITE ? "SELECT " TARGET_COLS " FROM targets WHERE id = $1 FOR UPDATE"
                                          : "SELECT " TARGET_COLS " FROM targets WHERE id = $1",
                   1, &id, read_target, out);
}

/* The row lock taken by the probe keeps shards from being added between
 * check and delete. */
static status_code pg_target_delete(cc_store_tx *c, const char *id)
{
    return write_one(c, "DELETE FROM targets WHERE id = $1", 1, &id, 1);
}

static int fill_id(const PGresult *r, int row, void *elem)
{
    char **id = elem;
    *id = strdup(PQgetvalue(r, row, 0));
    return *id ? 0 : -1;
}

static status_code pg_target_list(cc_store_tx *c, const char *owner, cc_strlist *out)
{
    return collect(c,
                   owner ? "SELECT id FROM targets WHERE owner = $1 ORDER BY creation_date, id"
                         : "SELECT id FROM targets WHERE stage = 'public' ORDER BY creation_date, id",
                   owner ? 1 : 0, owner ? &owner : NULL, (void **)&out->v, &out->n, sizeof *out->v, fill_id);
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
    return collect(c,
                   since ? "SELECT " TARGET_COLS " FROM targets WHERE changed > $1 ORDER BY id"
                         : "SELECT " TARGET_COLS " FROM targets ORDER BY id",
                   since ? 1 : 0, &param, (void **)out, n, sizeof **out, read_target);
}

static status_code pg_deleted_since(cc_store_tx *c, uint64_t since, cc_strlist *out)
{
    char buf[32];
    const char *param = since_param(&since, buf);
    return collect(c, "SELECT id FROM target_deletions WHERE changed > $1 ORDER BY id", 1, &param,
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
    status_code rc = q(c, &res,
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
    status_code rc = q(c, NULL,
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
    return write_one(c,
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

static status_code pg_scv_list(cc_store_tx *c, cc_scv_row **out, size_t *n)
{
    status_code rc = collect(c, "SELECT name, host, password_sealed FROM scvs ORDER BY name", 0, NULL,
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

    val(r, row, 0, m->name, sizeof m->name);
    val(r, row, 1, role, sizeof role);
    cc_role_parse(role, &parsed);
    m->role = parsed;
    m->weight = dval(r, row, 2);
    return 0;
}

static status_code pg_managers(cc_store_tx *c, cc_manager_weight **out, size_t *n)
{
    return collect(c, "SELECT name, role, weight FROM users WHERE role <> 'donor' ORDER BY name", 0, NULL,
                   (void **)out, n, sizeof **out, fill_manager);
}

static int read_generation(const PGresult *r, int row, void *out)
{
    *(uint64_t *)out = strtoull(PQgetvalue(r, row, 0), NULL, 10);
    return 0;
}

static status_code pg_generation(cc_store_tx *c, uint64_t *out)
{
    status_code rc = one_row(c, "SELECT generation FROM meta", 0, NULL, read_generation, out);
    return rc == STATUS_NOT_FOUND ? STATUS_IO : rc;
}

/* ---- sealing ---- */

/* When several CCs start at once, the later inserts wait for the first
 * and do nothing, and all read its salt. */
static status_code pg_salt_offer(cc_store_tx *c, const char *candidate)
{
    return write_one(c, "INSERT INTO seal_salt(salt) VALUES ($1) ON CONFLICT DO NOTHING", 1, &candidate, 0);
}

static int read_salt(const PGresult *r, int row, void *out)
{
    val(r, row, 0, out, AUTH_SALT_HEX_LEN + 1);
    return 0;
}

static status_code pg_salt_get(cc_store_tx *c, char out[AUTH_SALT_HEX_LEN + 1])
{
    status_code rc = one_row(c, "SELECT salt FROM seal_salt", 0, NULL, read_salt, out);
    return rc == STATUS_NOT_FOUND ? STATUS_IO : rc;
}

static status_code pg_reseal(cc_store_tx *c, int scv, const char *id, const char *old_sealed,
                             const char *new_sealed)
{
    const char *params[] = {new_sealed, id, old_sealed};
    return write_one(c,
                     scv ? "UPDATE scvs SET password_sealed = $1 WHERE name = $2 AND password_sealed = $3"
                         : "UPDATE engine_keys SET key_sealed = $1 WHERE key_hash = $2 AND key_sealed = $3",
                     3, params, 1);
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

static status_code pg_stats_insert(cc_store_tx *c, const cc_stats_fragment *v, size_t n, size_t *inserted)
{
    PGresult *res = NULL;
    char *batch = stats_json(v, n);

    *inserted = 0;
    /* json_pack refuses text that is not UTF-8, as PostgreSQL would. */
    if (!batch)
        return STATUS_INVALID;
    const char *param = batch;
    status_code rc =
        q(c, &res,
          "INSERT INTO stats(id, target_id, stream_id, engine, user_name, start_time, end_time, frames)"
          " SELECT id, target_id, stream_id, engine, user_name, start_time, end_time, frames"
          " FROM json_to_recordset($1::json) AS x(id text, target_id text, stream_id text, engine text,"
          " user_name text, start_time double precision, end_time double precision, frames bigint)"
          " ON CONFLICT (id) DO NOTHING",
          1, &param);
    if (rc == STATUS_OK)
        *inserted = (size_t)changed(res);
    PQclear(res);
    free(batch);
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
};
