#include "scv/scv_job.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/crypto.h"
#include "util/utf8.h"

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void job_free(struct scv_job *job)
{
    for (int i = 0; i < ROUTER_MAX_PARAMS; i++)
        free(job->param[i]);
    free(job->auth);
    free(job->content_md5);
    free(job->body);
    json_decref(job->reply);
    if (job->fd >= 0)
        close(job->fd);
    free(job);
}

static void job_work(void *arg)
{
    struct scv_job *job = arg;
    job->work(job);
}

static void reply_json_with_md5(h2o_req_t *req, json_t *body)
{
    char md5[CRYPTO_MD5_HEX_LEN + 1];
    /* server_reply_json encodes with the same flags, so the digest matches. */
    char *text = json_dumps(body, JSON_COMPACT);
    if (text != NULL) {
        crypto_md5_hex(text, strlen(text), md5);
        server_add_header(req, "Content-MD5", md5);
        free(text);
    }
    server_reply_json(req, 200, body);
}

static void job_done(void *arg, h2o_req_t *req)
{
    struct scv_job *job = arg;
    if (req == NULL)
        goto out;
    if (job->fd >= 0) {
        server_reply_file(req, job->fd, (size_t)job->fd_size, job->filename);
        job->fd = -1;
    } else if (job->reply == NULL) {
        server_reply_error(req, 500, "internal error: the request produced no reply");
    } else if (job->status == 200 && job->md5_header) {
        reply_json_with_md5(req, job->reply);
        job->reply = NULL;
    } else {
        server_reply_json(req, job->status, job->reply);
        job->reply = NULL;
    }
out:
    job_free(job);
}

static void job_start(struct server_request *r, scv_job_fn work, int bulk)
{
    h2o_req_t *req = r->req;
    struct scv_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        goto oom;
    job->svc = r->app;
    job->work = work;
    job->fd = -1;
    job->status = 500;
    for (int i = 0; i < r->params.count && i < ROUTER_MAX_PARAMS; i++)
        if ((job->param[i] = strdup(r->params.values[i])) == NULL)
            goto oom;
    job->auth = dup_or_null(server_header(req, "authorization"));
    job->content_md5 = dup_or_null(server_header(req, "content-md5"));
    job->body_len = req->entity.base != NULL ? req->entity.len : 0;
    job->body = malloc(job->body_len + 1);
    if (job->body == NULL)
        goto oom;
    if (job->body_len > 0)
        memcpy(job->body, req->entity.base, job->body_len);
    job->body[job->body_len] = '\0';
    if (bulk)
        server_defer_bulk(r, job_work, job_done, job);
    else
        server_defer(r, job_work, job_done, job);
    return;
oom:
    if (job != NULL)
        job_free(job);
    server_reply_error(req, 503, "server is out of memory; try again later");
}

void scv_job_run(struct server_request *r, scv_job_fn work)
{
    job_start(r, work, 0);
}

void scv_job_run_bulk(struct server_request *r, scv_job_fn work)
{
    job_start(r, work, 1);
}

void scv_job_fail(struct scv_job *job, int status, const char *fmt, ...)
{
    char msg[SCV_JOB_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_decref(job->reply);
    job->status = status;
    /* The message may quote a client's bytes: keep it encodable. */
    job->reply = json_pack("{s:s}", "error", utf8_scrub(msg));
}

void scv_job_ok(struct scv_job *job, json_t *body)
{
    json_decref(job->reply);
    job->status = 200;
    job->reply = body != NULL ? body : json_object();
}

void scv_job_status(struct scv_job *job, status_code rc, const struct status *st)
{
    if (rc == STATUS_OK)
        scv_job_ok(job, NULL);
    else
        scv_job_fail(job, status_http(rc), "%s", st->msg);
}
