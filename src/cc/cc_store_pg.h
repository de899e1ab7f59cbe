/* cc_store_pg: the PostgreSQL backend of cc_store (cc_store_backend.h,
 * cc_store_pg_ops), chosen with database = postgresql://… (or postgres://…)
 * in cc.conf; here, the helpers for its URL.
 *
 * A small pool of libpq connections behind a mutex serves the worker
 * threads. A connection that breaks (server restart) is dropped and opened
 * again on the next call: during the outage calls return STATUS_UNAVAILABLE, and
 * the first call after the server is back succeeds. The schema is created
 * on first connect under an advisory lock, so several CCs may start at once.
 * Connections to a host given by a domain name are always encrypted
 * (sslmode=require at least; verify-ca/verify-full when the URL asks).
 * Passwords in the URL are never logged nor put in error messages. */
#ifndef ST_CC_STORE_PG_H
#define ST_CC_STORE_PG_H

#include <stddef.h>

/* 1 when url starts with postgresql:// or postgres://. */
int cc_store_pg_is_url(const char *url);
/* 1 when a connection to host must be encrypted: a domain name, that is
 * not empty, not a unix socket folder (leading '/'), not "localhost" and
 * not an IPv4/IPv6 literal. */
int cc_store_pg_host_needs_tls(const char *host);
/* The URL reduced to postgresql://user@host:port/dbname, never with a
 * password; "(unparsable database URL)" when libpq cannot parse it. */
void cc_store_pg_redact(const char *url, char *out, size_t outlen);

#endif
