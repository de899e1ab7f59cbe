/* cc_pg_pair: two real `siegetank cc` daemons on one private PostgreSQL
 * database, for the multi-CC and database-outage tests.
 *
 * cc_pg_pair_start starts the server (pg_harness), creates the database,
 * starts CC A, copies A's secret.key into B's data folder (CCs sharing a
 * database must seal with the same key, cc_store.h), starts B, then
 * bootstraps an admin through A and a manager with it. Failures abort the
 * test (cmocka asserts). Replies are checked as PROTOCOL.md says: every one
 * carries the CORS header and every non-200 is {"error": "..."}. */
#ifndef ST_CC_PG_PAIR_H
#define ST_CC_PG_PAIR_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "pg_harness.h"

#define CC_PAIR_SECRET "scv-shared-secret"

struct pair_cc {
    char dir[PATH_MAX];
    char conf[PATH_MAX + 16];
    char log[PATH_MAX + 16];
    char url[128];
    int port;
    pid_t pid; /* 0 when stopped */
};

struct cc_pg_pair {
    pg_harness *pg;
    struct pair_cc cc[2];
    char admin[64];
    char manager[64];
};

void cc_pg_pair_start(struct cc_pg_pair *p);
void cc_pg_pair_stop(struct cc_pg_pair *p); /* stops the CCs (SIGTERM, clean exit) and the server */

/* One request: the status (0 when nothing answered) and the parsed body in
 * *out (may be NULL; *out is NULL when the body is not JSON). */
long cc_pair_call(const struct pair_cc *d, const char *method, const char *path, const char *auth,
                  const char *body, json_t **out);
/* Asserts the status of one request. */
void cc_pair_expect(const struct pair_cc *d, long status, const char *method, const char *path,
                    const char *auth, const char *body);
/* A string field of a 200 reply into out. */
void cc_pair_get(const struct pair_cc *d, const char *method, const char *path, const char *auth,
                 const char *body, const char *key, char *out, size_t n);
/* Repeats a request until it answers status (and, when error is not NULL,
 * an error containing it) or deadline_ms passes; 0 or -1. */
int cc_pair_wait(const struct pair_cc *d, long status, const char *error, int deadline_ms, const char *method,
                 const char *path, const char *auth, const char *body);
/* GET /scvs/status: 1/0 for the SCV's online flag, -1 when not listed. */
int cc_pair_scv_online(const struct pair_cc *d, const char *name);

/* A real `siegetank scv` that registers through cc; its pid and port.
 * Add streams to it with scv_proc_add_stream (scv_proc.h). */
pid_t cc_pair_scv_start(const struct pair_cc *cc, const char *name, int *port);

#endif
