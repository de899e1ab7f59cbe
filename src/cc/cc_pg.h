/* cc_pg: the CC's PostgreSQL connections, for the store's PostgreSQL
 * backend (cc_store_pg.c), chosen with database = postgresql://… (or
 * postgres://…) in cc.conf.
 *
 * A small pool of libpq connections behind a mutex serves the worker
 * threads. A connection that breaks (server restart) is dropped and opened
 * again on the next call: during the outage calls fail at once with
 * STATUS_UNAVAILABLE (at most one connection attempt runs at a time), and
 * the first call after the server is back succeeds. When the first
 * statement of a call is BEGIN or a plain SELECT and fails because a
 * pooled connection went stale, nothing can have happened yet, so it is
 * sent again on a fresh connection.
 *
 * Each connection prepares a statement the first time it runs its text
 * and runs it prepared from then on: PostgreSQL parses it once, and plans
 * it once too unless a plan made for the values at hand looks much
 * cheaper (its default plan_cache_mode; a generic plan for every
 * statement made a LIMIT $1 subquery scan its whole table). So values go
 * in parameters, and texts built at run time come from a small set (the
 * boards' six): a connection keeps at most CC_PG_STATEMENTS prepared, the
 * least recently used making way. Transaction control is never prepared;
 * a reopened connection starts with none.
 *
 * Connections to a host given by a domain name are always encrypted
 * (sslmode=require at least; verify-ca/verify-full when the URL asks).
 * Passwords in the URL are never logged nor put in error messages. */
#ifndef ST_CC_PG_H
#define ST_CC_PG_H

#include <libpq-fe.h>
#include <stddef.h>

#include "cc/cc_store_backend.h"
#include "util/status.h"

typedef struct cc_pg cc_pg;

/* Statements prepared per connection, at most. */
#define CC_PG_STATEMENTS 48

/* A statement prepared on a connection, as st<slot>. */
typedef struct cc_pg_stmt {
    char *sql; /* NULL: a free slot */
    size_t len;
    unsigned long used; /* the connection's run count when last run */
} cc_pg_stmt;

/* A pooled connection. While acquired it is the PostgreSQL backend's
 * transaction (cc_store_tx of cc_store_backend.h). */
struct cc_store_tx {
    cc_pg *pool;
    PGconn *conn;
    cc_tx_mode mode; /* the backend's, while acquired */
    int reused;      /* opened before the current call */
    int sent;        /* statements sent during the current call */
    int busy;
    char constraint[64]; /* of the last failed statement */
    unsigned long runs;  /* statements run on this connection */
    cc_pg_stmt stmts[CC_PG_STATEMENTS];
};
typedef struct cc_store_tx cc_pg_conn;

/* Parses url and opens the first connection. NULL with the reason
 * (without the password) in st. */
cc_pg *cc_pg_open(const char *url, struct status *st);
void cc_pg_close(cc_pg *p); /* NULL is fine */
/* The URL without its password, for messages. */
const char *cc_pg_display(const cc_pg *p);

/* A connection of the pool (waiting for a free one), NULL when none can
 * be opened. release leaves it idle (rolled back if a call stopped
 * mid-way) or closed when it broke. */
cc_pg_conn *cc_pg_acquire(cc_pg *p);
void cc_pg_release(cc_pg_conn *c);

/* Runs sql with text parameters: OK with the result in *out (when out is
 * not NULL; the caller PQclears it), EXISTS on a unique violation,
 * CONFLICT on a foreign key one, INVALID for bad text, UNAVAILABLE when
 * the connection broke, else IO (logged). */
status_code cc_pg_query(cc_pg_conn *c, PGresult **out, const char *sql, int n, const char *const *params);
/* One write statement; NOT_FOUND when it changed no row and must_change
 * is set. */
status_code cc_pg_write_one(cc_pg_conn *c, const char *sql, int n, const char *const *params,
                            int must_change);
/* Runs a script of several statements (the simple query protocol); IO
 * with the reason in st. */
status_code cc_pg_script(cc_pg_conn *c, const char *sql, struct status *st);

/* Fills one zeroed array element from row of r. 0 or -1. */
typedef int (*cc_pg_fill_fn)(const PGresult *r, int row, void *elem);
/* Runs a query and appends one zeroed element of elem bytes to *v per
 * row (one allocation, with a spare so an empty result still allocates),
 * filled through fill and counted in *n. A row that fails to fill is still
 * counted, so on IO the caller's free releases whatever *v holds. */
status_code cc_pg_collect(cc_pg_conn *c, const char *sql, int np, const char *const *params, void **v,
                          size_t *n, size_t elem, cc_pg_fill_fn fill);
/* The first row of a query through fill (NOT_FOUND without one). */
status_code cc_pg_one_row(cc_pg_conn *c, const char *sql, int np, const char *const *params,
                          cc_pg_fill_fn fill, void *out);

/* Values: text into dst (truncated), a double, the rows a command
 * changed, a double formatted to round-trip. */
void cc_pg_text(const PGresult *r, int row, int col, char *dst, size_t size);
double cc_pg_double(const PGresult *r, int row, int col);
long cc_pg_changed(PGresult *res);
void cc_pg_fmt_double(char buf[32], double v);

/* 1 when url starts with postgresql:// or postgres://. */
int cc_pg_is_url(const char *url);
/* 1 when a connection to host must be encrypted: a domain name, that is
 * not empty, not a unix socket folder (leading '/'), not "localhost" and
 * not an IPv4/IPv6 literal. */
int cc_pg_host_needs_tls(const char *host);
/* The URL reduced to postgresql://user@host:port/dbname, never with a
 * password; "(unparsable database URL)" when libpq cannot parse it. */
void cc_pg_redact(const char *url, char *out, size_t outlen);

#endif
