/* SCV requests from cores (PROTOCOL.md, "Core requests"). The core token in
 * Authorization names the stream. Heartbeats are memory-only and answer on
 * the loop; the rest runs as scv_jobs, one scv_streams call each. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scv/scv_handlers.h"
#include "scv/scv_job.h"
#include "scv/scv_service.h"
#include "util/base64.h"
#include "util/crypto.h"

/* ---- POST /core/heartbeat --------------------------------------------- */

static void handle_heartbeat(struct server_request *r)
{
    scv_service *svc = r->app;
    struct status st;
    if (scv_streams_heartbeat(svc->streams, server_header(r->req, "authorization"), &st) != STATUS_OK) {
        server_reply_error(r->req, status_http(st.code), "%s", st.msg);
        return;
    }
    server_reply_ok(r->req);
}

/* ---- GET /core/start -------------------------------------------------- */

static void work_start(struct scv_job *job)
{
    struct status st;
    struct scv_stream_info info;
    json_t *files = NULL, *target = NULL;
    status_code rc = scv_streams_core_start(job->svc->streams, job->auth, &info, &files, &st);
    if (rc != STATUS_OK) {
        scv_job_status(job, rc, &st);
        return;
    }
    rc = scv_cc_target_info(job->svc->cc, info.target_id, &target, &st);
    if (rc != STATUS_OK) {
        scv_job_fail(job, rc == STATUS_UNAVAILABLE ? 503 : 400, "cannot fetch the target's options: %s",
                     st.msg);
        goto out;
    }
    json_t *options = json_object_get(target, "options");
    scv_job_ok(job, json_pack("{s:s,s:s,s:O,s:O}", "stream_id", info.id, "target_id", info.target_id, "files",
                              files, "options", json_is_object(options) ? options : json_object()));
    job->md5_header = 1;
out:
    json_decref(files);
    json_decref(target);
}

/* ---- PUT /core/frame -------------------------------------------------- */

static void work_frame(struct scv_job *job)
{
    struct status st;
    scv_job_status(
        job, scv_streams_frame(job->svc->streams, job->auth, job->content_md5, job->body, job->body_len, &st),
        &st);
}

/* ---- PUT /core/checkpoint --------------------------------------------- */

static void work_checkpoint(struct scv_job *job)
{
    char md5[CRYPTO_MD5_HEX_LEN + 1];
    json_error_t jerr;
    struct status st;
    /* Checked before the stream is locked: a commit holds it long enough. */
    crypto_md5_hex(job->body, job->body_len, md5);
    if (job->content_md5 == NULL || strcasecmp(job->content_md5, md5) != 0) {
        scv_job_fail(job, 400, "Content-MD5 %s does not match the body's MD5 %s",
                     job->content_md5 != NULL ? job->content_md5 : "(missing)", md5);
        return;
    }
    json_t *body = json_loadb(job->body, job->body_len, 0, &jerr);
    json_t *files = json_object_get(body, "files");
    if (!json_is_object(body))
        scv_job_fail(job, 400, "the body must be a JSON object%s%s", body ? "" : ": ", body ? "" : jerr.text);
    else if (!json_is_object(files))
        scv_job_fail(job, 400, "\"files\" must be an object of name: string");
    else
        scv_job_status(job, scv_streams_checkpoint(job->svc->streams, job->auth, files, &st), &st);
    json_decref(body);
}

/* ---- PUT /core/stop --------------------------------------------------- */

static void work_stop(struct scv_job *job)
{
    json_error_t jerr;
    struct status st;
    unsigned char *text = NULL;
    size_t len = 0;
    json_t *body = job->body_len > 0 ? json_loadb(job->body, job->body_len, 0, &jerr) : json_object();
    if (!json_is_object(body)) {
        scv_job_fail(job, 400, "the body must be a JSON object");
        goto out;
    }
    json_t *error = json_object_get(body, "error");
    if (error != NULL && !json_is_null(error)) {
        if (!json_is_string(error) ||
            (text = base64_decode(json_string_value(error), json_string_length(error), &len)) == NULL) {
            scv_job_fail(job, 400, "\"error\" must be base64 text");
            goto out;
        }
        if (len > STREAM_STORE_ERROR_TEXT_MAX)
            len = STREAM_STORE_ERROR_TEXT_MAX; /* keep the head: it names the failure */
    }
    scv_job_status(job, scv_streams_core_stop(job->svc->streams, job->auth, (const char *)text, len, &st),
                   &st);
out:
    free(text);
    json_decref(body);
}

static void handle_start(struct server_request *r)
{
    scv_job_run(r, work_start);
}

static void handle_frame(struct server_request *r)
{
    scv_job_run_bulk(r, work_frame);
}

static void handle_checkpoint(struct server_request *r)
{
    scv_job_run_bulk(r, work_checkpoint);
}

static void handle_stop(struct server_request *r)
{
    scv_job_run(r, work_stop);
}

int scv_core_routes(struct server *s)
{
    int rc = 0;
    rc |= server_route(s, "GET", "/core/start", handle_start);
    rc |= server_route(s, "PUT", "/core/frame", handle_frame);
    rc |= server_route(s, "PUT", "/core/checkpoint", handle_checkpoint);
    rc |= server_route(s, "PUT", "/core/stop", handle_stop);
    rc |= server_route(s, "POST", "/core/heartbeat", handle_heartbeat);
    return rc;
}
