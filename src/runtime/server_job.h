/* server_job: a request's blocking work on a worker thread, for the
 * daemons' handlers (the one deferred-request mechanism; server_defer
 * underneath). A route registered with server_route_job runs each of its
 * requests as a job.
 *
 * The job copies, on the loop, what the work may read: the path
 * parameters, the query string, the Authorization and Content-MD5 headers, whether the peer
 * is local, and the body (its bytes; with SERVER_JOB_JSON the body parsed as
 * a JSON object instead, a malformed one answered 400 at once), because the
 * request may be gone before the work ends. work(job) runs on a worker (the
 * bulk pool with SERVER_JOB_BULK) and leaves the outcome in the job:
 *   - a failed status (status_fail(&job->status, ...), by the work or a
 *     callee): answered with server_reply_status;
 *   - else fd >= 0: that file streamed (server_reply_file);
 *   - else data != NULL: those bytes of content_type, as an attachment named
 *     filename (server_reply_attachment);
 *   - else 200 with reply ({} when NULL), plus a Content-MD5 header of the
 *     reply's bytes when md5_header is set.
 * The reply is sent from the request's loop thread, or dropped with the job
 * when the client went away. Out of memory before the work starts: 503. */
#ifndef ST_SERVER_JOB_H
#define ST_SERVER_JOB_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

#include "runtime/server.h"
#include "util/status.h"

struct server_job;
typedef void (*server_job_fn)(struct server_job *job);

enum {
    SERVER_JOB_BULK = 1,   /* run on the bulk pool (server_defer_bulk): bodies to decode, digest, write */
    SERVER_JOB_JSON = 2,   /* the body as a JSON object in json, parsed on the loop (400 when malformed) */
    SERVER_JOB_SECRET = 4, /* server_route_job: the path parameters are secrets (server_route_secret) */
};

/* At most max jobs holding this limit at once, counted from the request's
 * arrival until just before the reply; one more is answered 503 with busy as
 * its error. */
struct server_job_limit {
    atomic_int used;
    int max;
    const char *busy;
};

struct server_job {
    void *app;                      /* the server's application (server_request.app) */
    char *param[ROUTER_MAX_PARAMS]; /* path parameters; NULL past the route's count */
    char *query;                    /* the raw query string after '?', or NULL */
    char *auth;                     /* Authorization, or NULL */
    char *content_md5;              /* Content-MD5, or NULL */
    char *body;                     /* the body's bytes, NUL-terminated (NULL with SERVER_JOB_JSON) */
    size_t body_len;
    json_t *json; /* SERVER_JOB_JSON: the body object ({} when empty) */
    int local;    /* the peer is 127.0.0.0/8 or ::1 and no proxy forwarded the request */
    /* the outcome, set by the work */
    struct status status;
    json_t *reply;  /* 200's body, owned by the job; NULL: {} */
    int md5_header; /* add Content-MD5 of the JSON reply */
    int fd;         /* >= 0: stream this file instead (closed by the job) */
    off_t fd_size;
    void *data; /* != NULL: reply these bytes (freed by the job) */
    size_t data_len;
    const char *content_type;          /* of data: a constant */
    char filename[ROUTER_PARAM_BYTES]; /* of the file or data */
    /* private */
    server_job_fn work;
    struct server_job_limit *limit;
};

/* A route whose requests run as jobs of work with flags; the limited one
 * holds one of limit's slots per job (503 at once when none is free). 0, or
 * -1 (server_route). */
int server_route_job(struct server *s, const char *method, const char *pattern, server_job_fn work,
                     unsigned flags);
int server_route_job_limited(struct server *s, const char *method, const char *pattern, server_job_fn work,
                             unsigned flags, struct server_job_limit *limit);

#endif
