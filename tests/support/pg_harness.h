/* pg_harness: a private PostgreSQL server for tests.
 * pg_harness_start() runs initdb and pg_ctl (from $PG_BINDIR or
 * /usr/lib/postgresql/15/bin) into a fresh temp folder: TCP on 127.0.0.1 at
 * a free port, the unix socket in that folder, trust authentication for
 * loopback and the socket only, fsync off. When the test runs as root the
 * server runs as the `postgres` system user (initdb refuses root) and the
 * folder is handed to it. pg_harness_free() stops the server and removes
 * the folder; a server the test did not free (a failed assertion) is
 * stopped at exit and its folder kept for inspection. Failures print a
 * reason (and the server log) on stderr. */
#ifndef ST_PG_HARNESS_H
#define ST_PG_HARNESS_H

#include <stddef.h>

typedef struct pg_harness pg_harness;

pg_harness *pg_harness_start(void); /* NULL on failure */
void pg_harness_free(pg_harness *h);

/* Stops the server (fast shutdown), keeping its data; 0 or -1. */
int pg_harness_stop(pg_harness *h);
/* Starts it again on the same port and waits until it accepts; 0 or -1. */
int pg_harness_resume(pg_harness *h);

/* Creates database name (an identifier: [a-z0-9_]) and writes its URL
 * (postgresql://postgres@127.0.0.1:<port>/<name>) into url; 0 or -1. */
int pg_harness_create_db(pg_harness *h, const char *name, char *url, size_t urllen);
/* Drops database name, disconnecting its sessions first; 0 or -1. */
int pg_harness_drop_db(pg_harness *h, const char *name);
/* Runs sql on database name as the superuser, with param (may be NULL) as
 * $1; the first column of the first row, if any, goes to out (may be NULL).
 * 0 or -1. */
int pg_harness_query(pg_harness *h, const char *name, const char *sql, const char *param, char *out,
                     size_t outlen);

/* Turns TLS on with these PEM files (the certificate file may hold the
 * chain after the leaf) and restarts the server; 0 or -1. The files are
 * copied into the server's folder. */
int pg_harness_enable_tls(pg_harness *h, const char *cert_file, const char *key_file);

int pg_harness_port(const pg_harness *h);
const char *pg_harness_dir(const pg_harness *h); /* the temp folder (socket lives here) */

#endif
