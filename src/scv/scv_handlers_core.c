/* SCV requests from cores (PROTOCOL.md, "Core requests"). The core token in
 * Authorization names the stream. Heartbeats are memory-only and answer on
 * the loop; the rest runs as server_jobs, one scv_streams call each. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scv/scv_handlers.h"
#include "runtime/server_job.h"
#include "scv/scv_service.h"
#include "util/base64.h"
#include "util/crypto.h"

/* ---- POST /core/heartbeat --------------------------------------------- */

static void handle_heartbeat(struct server_request *r)
{
    scv_service *svc = r->app;
    struct status st;
    if (scv_streams_heartbeat(svc->streams, server_header(r->req, "authorization"), &st) != STATUS_OK) {
        server_reply_status(r->req, &st);
        return;
    }
    server_reply_ok(r->req);
}

/* ---- GET /core/start -------------------------------------------------- */

static void work_start(struct server_job *job)
{
    scv_service *svc = job->app;
    struct status st;
    struct scv_stream_info info;
    json_t *files = NULL, *target = NULL;
    if (scv_streams_core_start(svc->streams, job->auth, &info, &files, &job->status) != STATUS_OK)
        return;
    status_code rc = scv_cc_target_info(svc->cc, info.target_id, &target, &st);
    if (rc != STATUS_OK) {
        status_fail(&job->status, rc == STATUS_UNAVAILABLE ? STATUS_UNAVAILABLE : STATUS_INVALID,
                    "cannot fetch the target's options: %s", st.msg);
        goto out;
    }
    json_t *options = json_object_get(target, "options");
    job->reply = json_pack("{s:s,s:s,s:O,s:O}", "stream_id", info.id, "target_id", info.target_id, "files",
                           files, "options", json_is_object(options) ? options : json_object());
    job->md5_header = 1;
out:
    json_decref(files);
    json_decref(target);
}

/* ---- PUT /core/frame -------------------------------------------------- */

static void work_frame(struct server_job *job)
{
    scv_service *svc = job->app;
    scv_streams_frame(svc->streams, job->auth, job->content_md5, job->body, job->body_len, &job->status);
}

/* ---- PUT /core/checkpoint --------------------------------------------- */

static void work_checkpoint(struct server_job *job)
{
    scv_service *svc = job->app;
    char md5[CRYPTO_MD5_HEX_LEN + 1];
    json_error_t jerr;
    /* Checked before the stream is locked: a commit holds it long enough. */
    crypto_md5_hex(job->body, job->body_len, md5);
    if (job->content_md5 == NULL || strcasecmp(job->content_md5, md5) != 0) {
        status_fail(&job->status, STATUS_INVALID, "Content-MD5 %s does not match the body's MD5 %s",
                    job->content_md5 != NULL ? job->content_md5 : "(missing)", md5);
        return;
    }
    json_t *body = json_loadb(job->body, job->body_len, 0, &jerr);
    json_t *files = json_object_get(body, "files");
    if (!json_is_object(body))
        status_fail(&job->status, STATUS_INVALID, "the body must be a JSON object%s%s", body ? "" : ": ",
                    body ? "" : jerr.text);
    else if (!json_is_object(files))
        status_fail(&job->status, STATUS_INVALID, "\"files\" must be an object of name: string");
    else
        scv_streams_checkpoint(svc->streams, job->auth, files, &job->status);
    json_decref(body);
}

/* ---- PUT /core/stop --------------------------------------------------- */

static void work_stop(struct server_job *job)
{
    scv_service *svc = job->app;
    json_error_t jerr;
    unsigned char *text = NULL;
    size_t len = 0;
    json_t *body = job->body_len > 0 ? json_loadb(job->body, job->body_len, 0, &jerr) : json_object();
    if (!json_is_object(body)) {
        status_fail(&job->status, STATUS_INVALID, "the body must be a JSON object");
        goto out;
    }
    json_t *error = json_object_get(body, "error");
    if (error != NULL && !json_is_null(error)) {
        if (!json_is_string(error) ||
            (text = base64_decode(json_string_value(error), json_string_length(error), &len)) == NULL) {
            status_fail(&job->status, STATUS_INVALID, "\"error\" must be base64 text");
            goto out;
        }
        if (len > STREAM_STORE_ERROR_TEXT_MAX)
            len = STREAM_STORE_ERROR_TEXT_MAX; /* keep the head: it names the failure */
    }
    scv_streams_core_stop(svc->streams, job->auth, (const char *)text, len, &job->status);
out:
    free(text);
    json_decref(body);
}

int scv_core_routes(struct server *s)
{
    int rc = 0;
    rc |= server_route_job(s, "GET", "/core/start", work_start, 0);
    rc |= server_route_job(s, "PUT", "/core/frame", work_frame, SERVER_JOB_BULK);
    rc |= server_route_job(s, "PUT", "/core/checkpoint", work_checkpoint, SERVER_JOB_BULK);
    rc |= server_route_job(s, "PUT", "/core/stop", work_stop, 0);
    rc |= server_route(s, "POST", "/core/heartbeat", handle_heartbeat);
    return rc;
}
