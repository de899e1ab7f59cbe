/* cc_job: one request's blocking work, run through server_defer.
 *
 * cc_job_start (on the loop) parses the JSON body (replying 400 itself when
 * it is malformed), copies the Authorization header and the path parameter,
 * and queues work(job) on a worker. work fills status/reply or calls
 * cc_job_fail; when it set refresh and succeeded, the cache is reloaded
 * before the reply, so the change is visible to the next request. Then the
 * reply ({} when reply is NULL) or the error is sent from the loop. */
#ifndef ST_CC_JOB_H
#define ST_CC_JOB_H

#include <jansson.h>

#include "cc/cc_service.h"

typedef struct cc_job cc_job;
typedef void (*cc_job_fn)(cc_job *job);

struct cc_job {
    cc_service *svc;
    cc_job_fn work;
    char *auth;   /* Authorization value or NULL */
    char *param;  /* first path parameter or NULL */
    json_t *body; /* the request object ({} when empty) */
    int loopback; /* the peer is 127.0.0.0/8 or ::1 and not a forwarding proxy */
    int login;    /* holds one of the CC_LOGINS_MAX slots */
    int refresh;
    int status; /* 200 unless cc_job_fail */
    json_t *reply;
    char error[512];
};

enum { CC_JOB_LOGIN = 1 }; /* flags: takes a login slot or replies 503 */

void cc_job_start(struct server_request *r, cc_job_fn work, int flags);

void cc_job_fail(cc_job *job, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Fails the job with a store's failure: status_http(st->code) and its
 * message. */
void cc_job_store_fail(cc_job *job, const struct status *st);

/* The user of the job's token into out; 0, or -1 after failing the job
 * with 401 (the store's status when it failed). */
int cc_job_user(cc_job *job, cc_user *out);
int cc_job_manager(cc_job *job, cc_user *out); /* manager or admin */
int cc_job_admin(cc_job *job, cc_user *out);
/* The token is the CC's cc_pass (constant time); 0, or -1 with 401. */
int cc_job_scv_secret(cc_job *job);

#endif
