/* cc_pg: see cc_pg.h. */
#include "cc/cc_pg.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"

#define POOL_SIZE 4
#define CONNECT_TIMEOUT_S "5"
/* While the server is down, at most one connection attempt runs at a time
 * and every other call fails at once; the next attempt waits as long as
 * the last failed one took, capped at RETRY_MAX_S. An unreachable host
 * would otherwise hold each worker for CONNECT_TIMEOUT_S per call and tie
 * up the whole pool, while a refused connection costs nothing and is
 * retried at once, so the first call after a restart succeeds. */
#define RETRY_MAX_S 1.0

struct cc_pg {
    const char **keys; /* libpq connection parameters, NULL-terminated */
    const char **values;
    PQconninfoOption *parsed; /* owns most of the strings above */
    char display[512];        /* the URL without its password */
    int down;                 /* the last connection attempt failed */
    int probing;              /* a connection attempt runs during an outage */
    double retry_at;          /* no attempt before this (clock_mono_s) */
    pthread_mutex_t lock;
    pthread_cond_t freed;
    cc_pg_conn pool[POOL_SIZE];
};

const char *cc_pg_display(const cc_pg *p)
{
    return p->display;
}

/* ---- URL handling ---- */

int cc_pg_is_url(const char *url)
{
    return url && (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0);
}

int cc_pg_host_needs_tls(const char *host)
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

void cc_pg_redact(const char *url, char *out, size_t outlen)
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
        if (cc_pg_host_needs_tls(one))
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
static int set_params(cc_pg *p, const char *url, struct status *st)
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

/* Server notices (such as "already exists, skipping") are not failures;
 * libpq would print them on stderr, which belongs to the commands. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *connect_db(cc_pg *p, struct status *st)
{
    char msg[512];
    PGconn *conn = PQconnectdbParams(p->keys, p->values, 0);

    if (conn && PQstatus(conn) == CONNECTION_OK) {
        PQsetNoticeProcessor(conn, ignore_notice, NULL);
        return conn;
    }
    message(conn ? PQerrorMessage(conn) : "out of memory", msg, sizeof msg);
    status_fail(st, STATUS_UNAVAILABLE, "cannot connect to PostgreSQL at %s: %s", p->display, msg);
    PQfinish(conn);
    return NULL;
}

/* Closes the connection; its prepared statements go with it. */
static void disconnect(cc_pg_conn *c)
{
    PQfinish(c->conn);
    c->conn = NULL;
    for (int i = 0; i < CC_PG_STATEMENTS; i++) {
        free(c->stmts[i].sql);
        c->stmts[i].sql = NULL;
    }
}

/* Under the lock: 1 when this caller may try to connect now (it then owns
 * the outage's single attempt). */
static int may_connect(cc_pg *p)
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
static int reconnect(cc_pg *p, cc_pg_conn *c)
{
    struct status err;
    disconnect(c);
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
cc_pg_conn *cc_pg_acquire(cc_pg *p)
{
    cc_pg_conn *c = NULL;

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
void cc_pg_release(cc_pg_conn *c)
{
    cc_pg *p = c->pool;
    if (c->conn && PQstatus(c->conn) == CONNECTION_OK && PQtransactionStatus(c->conn) != PQTRANS_IDLE)
        PQclear(PQexec(c->conn, "ROLLBACK"));
    if (c->conn && PQstatus(c->conn) != CONNECTION_OK)
        disconnect(c);
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

/* ---- prepared statements ---- */

static void stmt_name(int slot, char name[16])
{
    snprintf(name, 16, "st%d", slot);
}

/* The slot holding sql on c, or -1. */
static int stmt_find(const cc_pg_conn *c, const char *sql, size_t len)
{
    for (int i = 0; i < CC_PG_STATEMENTS; i++) {
        const cc_pg_stmt *s = &c->stmts[i];
        if (s->sql && s->len == len && memcmp(s->sql, sql, len) == 0)
            return i;
    }
    return -1;
}

/* A free slot, else the least recently used one, deallocated on the
 * server; -1 when that fails (the connection broke). */
static int stmt_free_slot(cc_pg_conn *c)
{
    char cmd[32], name[16];
    int lru = 0;

    for (int i = 0; i < CC_PG_STATEMENTS; i++) {
        if (!c->stmts[i].sql)
            return i;
        if (c->stmts[i].used < c->stmts[lru].used)
            lru = i;
    }
    stmt_name(lru, name);
    snprintf(cmd, sizeof cmd, "DEALLOCATE %s", name);
    PGresult *res = PQexec(c->conn, cmd);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok)
        return -1;
    free(c->stmts[lru].sql);
    c->stmts[lru].sql = NULL;
    return lru;
}

/* Sets *slot to sql's prepared statement on c, preparing it if new, or to
 * -1 to run sql unprepared (transaction control, out of memory, a slot
 * that could not be freed). NULL, or the failed PREPARE's result (the
 * caller's result: bad SQL, a broken connection). */
static PGresult *stmt_prepare(cc_pg_conn *c, const char *sql, int *slot)
{
    size_t len = strlen(sql);
    char name[16];

    *slot = -1;
    if (starts_with(sql, "BEGIN") || starts_with(sql, "COMMIT") || starts_with(sql, "ROLLBACK"))
        return NULL;
    int at = stmt_find(c, sql, len);
    if (at < 0) {
        char *copy = malloc(len + 1);
        at = copy ? stmt_free_slot(c) : -1;
        if (at < 0) {
            free(copy);
            return NULL;
        }
        memcpy(copy, sql, len + 1);
        stmt_name(at, name);
        PGresult *res = PQprepare(c->conn, name, sql, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            free(copy);
            return res;
        }
        PQclear(res);
        c->stmts[at] = (cc_pg_stmt){copy, len, 0};
    }
    c->stmts[at].used = ++c->runs;
    *slot = at;
    return NULL;
}

/* One run of sql on c: prepared when it can be. */
static PGresult *run(cc_pg_conn *c, const char *sql, int n, const char *const *params)
{
    char name[16];
    int slot;
    PGresult *failed = stmt_prepare(c, sql, &slot);

    if (failed)
        return failed;
    if (slot < 0)
        return PQexecParams(c->conn, sql, n, NULL, params, NULL, NULL, 0);
    stmt_name(slot, name);
    return PQexecPrepared(c->conn, name, n, params, NULL, NULL, 0);
}

/* Maps a failed statement to a status: a broken connection is UNAVAILABLE;
 * constraint violations and bad text (invalid UTF-8) are the caller's
 * business; the rest is logged. */
static status_code failure(cc_pg_conn *c, PGresult *res, const char *sql)
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
status_code cc_pg_query(cc_pg_conn *c, PGresult **out, const char *sql, int n, const char *const *params)
{
    int retry_safe = c->reused && c->sent == 0 && (starts_with(sql, "BEGIN") || starts_with(sql, "SELECT"));
    PGresult *res;

    if (out)
        *out = NULL;
    c->sent++;
    res = run(c, sql, n, params);
    if (retry_safe && PQstatus(c->conn) != CONNECTION_OK) {
        PQclear(res);
        res = NULL;
        if (reconnect(c->pool, c) != 0)
            return STATUS_UNAVAILABLE;
        res = run(c, sql, n, params);
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

long cc_pg_changed(PGresult *res)
{
    return strtol(PQcmdTuples(res), NULL, 10);
}

void cc_pg_text(const PGresult *r, int row, int col, char *dst, size_t size)
{
    snprintf(dst, size, "%s", PQgetvalue(r, row, col));
}

double cc_pg_double(const PGresult *r, int row, int col)
{
    return strtod(PQgetvalue(r, row, col), NULL);
}

void cc_pg_fmt_double(char buf[32], double v)
{
    snprintf(buf, 32, "%.17g", v);
}

status_code cc_pg_collect(cc_pg_conn *c, const char *sql, int np, const char *const *params, void **v,
                          size_t *n, size_t elem, cc_pg_fill_fn fill)
{
    PGresult *res = NULL;
    status_code rc = cc_pg_query(c, &res, sql, np, params);
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

status_code cc_pg_one_row(cc_pg_conn *c, const char *sql, int np, const char *const *params,
                          cc_pg_fill_fn fill, void *out)
{
    PGresult *res = NULL;
    status_code rc = cc_pg_query(c, &res, sql, np, params);
    if (rc == STATUS_OK && PQntuples(res) == 0)
        rc = STATUS_NOT_FOUND;
    if (rc == STATUS_OK && fill(res, 0, out) != 0)
        rc = STATUS_IO;
    PQclear(res);
    return rc;
}

status_code cc_pg_write_one(cc_pg_conn *c, const char *sql, int n, const char *const *params, int must_change)
{
    PGresult *res = NULL;
    status_code rc = cc_pg_query(c, &res, sql, n, params);
    if (rc == STATUS_OK && must_change && cc_pg_changed(res) == 0)
        rc = STATUS_NOT_FOUND;
    PQclear(res);
    return rc;
}

status_code cc_pg_script(cc_pg_conn *c, const char *sql, struct status *st)
{
    cc_pg *p = c->pool;
    PGresult *made = PQexec(c->conn, sql);
    int ok = PQresultStatus(made) == PGRES_COMMAND_OK;
    if (!ok) {
        char msg[512];
        message(PQerrorMessage(c->conn), msg, sizeof msg);
        status_fail(st, STATUS_IO, "cannot create or upgrade the schema in %s: %s", p->display, msg);
    }
    PQclear(made);
    return ok ? STATUS_OK : STATUS_IO;
}

void cc_pg_close(cc_pg *p)
{
    if (!p)
        return;
    for (int i = 0; i < POOL_SIZE; i++)
        disconnect(&p->pool[i]);
    PQconninfoFree(p->parsed);
    free(p->keys);
    free(p->values);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p);
}

cc_pg *cc_pg_open(const char *url, struct status *st)
{
    cc_pg *p = calloc(1, sizeof *p);
    if (!p) {
        status_fail(st, STATUS_IO, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    for (int i = 0; i < POOL_SIZE; i++)
        p->pool[i].pool = p;
    cc_pg_redact(url, p->display, sizeof p->display);
    if (set_params(p, url, st) != 0)
        goto fail;
    cc_pg_conn *c = &p->pool[0];
    c->conn = connect_db(p, st);
    if (!c->conn)
        goto fail;
    log_info("cc database: PostgreSQL at %s%s", p->display,
             PQsslInUse(c->conn) ? " (TLS)" : " (not encrypted: local address)");
    return p;
fail:
    cc_pg_close(p);
    return NULL;
}
