/* cc_daemon: one real `siegetank cc` (a daemon_proc) for the CC's
 * integration tests, and the checks every reply must pass (PROTOCOL.md):
 * each carries the CORS header and each non-200 is {"error": "..."}.
 *
 * cc_daemon_prepare makes a temp folder and writes cc.conf (name testcc, a
 * free port, 2 threads, cc_pass CC_DAEMON_SECRET, liveness checks every
 * second, then extra_conf verbatim); cc_daemon_run starts the binary and
 * waits until it answers. Failures fail the calling cmocka test. */
#ifndef ST_CC_DAEMON_H
#define ST_CC_DAEMON_H

#include <jansson.h>
#include <stddef.h>

#include "daemon_proc.h"

#define CC_DAEMON_SECRET "scv-shared-secret"

/* extra_conf: config lines appended as given (may be NULL). */
void cc_daemon_prepare(struct daemon_proc *d, const char *extra_conf);
void cc_daemon_run(struct daemon_proc *d);

/* One request: the status (0 when nothing answered) and the parsed body in
 * *out (may be NULL; *out is NULL when the body is not JSON). */
long cc_daemon_call(const struct daemon_proc *d, const char *method, const char *path, const char *auth,
                    const char *body, json_t **out);
/* Asserts the status of one request. */
void cc_daemon_expect(const struct daemon_proc *d, long status, const char *method, const char *path,
                      const char *auth, const char *body);
/* A string field of a 200 reply into out. */
void cc_daemon_get(const struct daemon_proc *d, const char *method, const char *path, const char *auth,
                   const char *body, const char *key, char *out, size_t n);

#endif
