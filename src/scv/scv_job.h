/* scv_job: a request's blocking work on a worker thread, for the SCV
 * handlers. scv_job_new copies what the work needs out of the request (its
 * path parameters, the Authorization and Content-MD5 headers and the body),
 * because the request may be gone before the work ends. The work fills in a
 * reply: a JSON body (200, or an error status with {"error"}), optionally
 * with a Content-MD5 header of that body, or a file to stream. */
#ifndef ST_SCV_JOB_H
#define ST_SCV_JOB_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "runtime/server.h"
#include "scv/scv_service.h"
#include "util/status.h"

#define SCV_JOB_ERR_LEN 1024

struct scv_job;
typedef void (*scv_job_fn)(struct scv_job *job);

struct scv_job {
    scv_service *svc;
    scv_job_fn work;
    char *param[ROUTER_MAX_PARAMS]; /* NULL past the route's count */
    char *auth;                     /* Authorization, or NULL */
    char *content_md5;              /* Content-MD5, or NULL */
    char *body;                     /* NUL-terminated copy */
    size_t body_len;
    /* the reply */
    int status;
    json_t *reply;
    int md5_header; /* add Content-MD5 of the JSON body */
    int fd;         /* >= 0: stream this file instead */
    off_t fd_size;
    char filename[ROUTER_PARAM_BYTES];
};

/* Copies the request and runs work on a worker; the reply is sent when it
 * ends. On out of memory replies 503 itself. */
void scv_job_run(struct server_request *r, scv_job_fn work);
/* The same for work that moves a lot of bytes (frames, checkpoints): it runs
 * on the server's bulk workers (server_defer_bulk), below the event loops. */
void scv_job_run_bulk(struct server_request *r, scv_job_fn work);
void scv_job_fail(struct scv_job *job, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void scv_job_ok(struct scv_job *job, json_t *body); /* steals body; NULL = {} */
/* Replies {} when rc is STATUS_OK, else status_http(rc) with
 * {"error": st->msg}. */
void scv_job_status(struct scv_job *job, status_code rc, const struct status *st);

#endif
