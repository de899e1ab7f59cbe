/* cc_pg_pair: two real `siegetank cc` daemons on one private PostgreSQL
 * database, for the multi-CC and database-outage tests.
 *
 * cc_pg_pair_start starts the server (pg_harness), creates the database,
 * starts CC A and CC B, configured alike (same cc_pass and database) with
 * their own data folders, nothing copied between them (cc_store.h), then
 * bootstraps an admin through A and a manager with it. Failures abort the
 * test (cmocka asserts). Requests go through cc_daemon_call (cc_daemon.h),
 * which checks every reply against PROTOCOL.md. */
#ifndef ST_CC_PG_PAIR_H
#define ST_CC_PG_PAIR_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "cc_daemon.h"
#include "pg_harness.h"

struct cc_pg_pair {
    pg_harness *pg;
    struct daemon_proc cc[2];
    char admin[64];
    char manager[64];
};

void cc_pg_pair_start(struct cc_pg_pair *p);
void cc_pg_pair_stop(struct cc_pg_pair *p); /* stops the CCs (SIGTERM, clean exit) and the server */

/* Repeats a request until it answers status (and, when error is not NULL,
 * an error containing it) or deadline_ms passes; 0 or -1. */
int cc_pair_wait(const struct daemon_proc *d, long status, const char *error, int deadline_ms,
                 const char *method, const char *path, const char *auth, const char *body);
/* GET /scvs/status: 1/0 for the SCV's online flag, -1 when not listed. */
int cc_pair_scv_online(const struct daemon_proc *d, const char *name);

/* A real `siegetank scv` that registers through cc; its pid and port.
 * Add streams to it with scv_proc_add_stream (scv_proc.h). */
pid_t cc_pair_scv_start(const struct daemon_proc *cc, const char *name, int *port);

#endif
