/* SCV requests from managers and from the CC (PROTOCOL.md, "Manager and CC
 * requests"). Memory-only requests answer on the loop; anything touching
 * the CC or the disk runs as a server_job. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "scv/scv_handlers.h"
#include "runtime/server_job.h"
#include "scv/scv_service.h"
#include "util/crypto.h"
#include "util/log.h"

/* ---- authorization ---------------------------------------------------- */

/* A refusal by the CC answers refused (a status code); no answer, 503. */
static void fail_cc(struct server_job *job, status_code rc, status_code refused, const char *what,
                    const struct status *st)
{
    status_fail(&job->status, rc == STATUS_UNAVAILABLE ? rc : refused, "%s: %s", what, st->msg);
}

/* 0 when the caller owns target_id (or is an admin); else the job has failed. */
static int authorize(struct server_job *job, const char *target_id)
{
    scv_service *svc = job->app;
    char user[256];
    struct status st;
    int admin = 0;
    json_t *info = NULL;
    if (job->auth == NULL || job->auth[0] == '\0') {
        status_fail(&job->status, STATUS_DENIED, "missing Authorization header (a manager token)");
        return -1;
    }
    status_code rc = scv_cc_verify(svc->cc, job->auth, user, sizeof user, &admin, &st);
    if (rc != STATUS_OK) {
        fail_cc(job, rc, STATUS_DENIED, "manager token refused by the command center", &st);
        return -1;
    }
    rc = scv_cc_target_info(svc->cc, target_id, &info, &st);
    if (rc != STATUS_OK) {
        fail_cc(job, rc, STATUS_INVALID, "unknown target", &st);
        return -1;
    }
    int owner = admin || strcmp(json_string_value(json_object_get(info, "owner")), user) == 0;
    json_decref(info);
    if (!owner) {
        status_fail(&job->status, STATUS_DENIED, "%s does not own target %s", user, target_id);
        return -1;
    }
    return 0;
}

/* 0 when the stream named by the first path parameter exists and the caller
 * may manage it, with its snapshot; else the job has failed. */
static int authorize_stream(struct server_job *job, struct scv_stream_info *info)
{
    scv_service *svc = job->app;
    if (scv_streams_info(svc->streams, job->param[0], info, &job->status) != STATUS_OK)
        return -1;
    return authorize(job, info->target_id);
}

/* ---- POST /streams ---------------------------------------------------- */

static void add_stream(struct server_job *job, const char *target_id, const json_t *files, const json_t *tags)
{
    scv_service *svc = job->app;
    char id[STREAM_STORE_ID_MAX + 1];
    struct status st;
    pthread_mutex_lock(&svc->shard_lock);
    int first = scv_streams_target_count(svc->streams, target_id) == 0;
    status_code rc = first ? scv_cc_shard(svc->cc, target_id, "add", &st) : STATUS_OK;
    if (rc != STATUS_OK) {
        fail_cc(job, rc, STATUS_INVALID, "cannot add this SCV to the target's shards", &st);
        goto out;
    }
    rc = scv_streams_create(svc->streams, target_id, files, tags, id, &st);
    if (rc == STATUS_OK) {
        job->reply = json_pack("{s:s}", "stream_id", id);
        goto out;
    }
    job->status = st;
    if (first && scv_cc_shard(svc->cc, target_id, "remove", &st) != STATUS_OK)
        log_warn("target %s keeps this SCV as a shard with no streams: %s", target_id, st.msg);
out:
    pthread_mutex_unlock(&svc->shard_lock);
}

static void work_add(struct server_job *job)
{
    json_error_t jerr;
    struct status st;
    json_t *body = json_loadb(job->body, job->body_len, 0, &jerr);
    if (!json_is_object(body)) {
        status_fail(&job->status, STATUS_INVALID, "the body must be a JSON object: %s",
                    body ? "" : jerr.text);
        goto out;
    }
    json_t *target = json_object_get(body, "target_id");
    json_t *files = json_object_get(body, "files");
    json_t *tags = json_object_get(body, "tags");
    if (json_is_null(tags))
        tags = NULL;
    if (!json_is_string(target) || json_string_length(target) == 0 ||
        json_string_length(target) > STREAM_STORE_TARGET_ID_MAX) {
        status_fail(&job->status, STATUS_INVALID, "\"target_id\" must be a target id string");
        goto out;
    }
    /* Refused before the CC is asked anything. */
    status_code rc = stream_store_check_files(files, "file", 0, &st);
    if (rc == STATUS_OK)
        rc = stream_store_check_files(tags, "tag", 1, &st);
    if (rc != STATUS_OK) {
        job->status = st;
        goto out;
    }
    if (authorize(job, json_string_value(target)) == 0)
        add_stream(job, json_string_value(target), files, tags);
out:
    json_decref(body);
}

/* ---- info, start, stop, delete ---------------------------------------- */

static void handle_info(struct server_request *r)
{
    scv_service *svc = r->app;
    struct scv_stream_info info;
    struct status st;
    if (scv_streams_info(svc->streams, r->params.values[0], &info, &st) != STATUS_OK) {
        server_reply_status(r->req, &st);
        return;
    }
    server_reply_json(
        r->req, 200,
        json_pack("{s:s,s:I,s:i,s:b}", "status", info.status == SCV_STREAM_OK ? "OK" : "STOPPED", "frames",
                  (json_int_t)info.frames, "error_count", info.error_count, "active", info.active));
}

static void work_start(struct server_job *job)
{
    scv_service *svc = job->app;
    struct scv_stream_info info;
    if (authorize_stream(job, &info) != 0)
        return;
    scv_streams_start(svc->streams, info.id, &job->status);
}

static void work_stop(struct server_job *job)
{
    scv_service *svc = job->app;
    struct scv_stream_info info;
    if (authorize_stream(job, &info) != 0)
        return;
    scv_streams_stop(svc->streams, info.id, &job->status);
}

static void work_delete(struct server_job *job)
{
    scv_service *svc = job->app;
    struct scv_stream_info info;
    struct status st;
    pthread_mutex_lock(&svc->shard_lock);
    if (authorize_stream(job, &info) != 0)
        goto out;
    if (scv_streams_target_count(svc->streams, info.target_id) == 1) {
        status_code rc = scv_cc_shard(svc->cc, info.target_id, "remove", &st);
        if (rc != STATUS_OK) {
            fail_cc(job, rc, STATUS_UNAVAILABLE, "cannot remove this SCV from the target's shards", &st);
            goto out;
        }
    }
    scv_streams_delete(svc->streams, info.id, &job->status);
out:
    pthread_mutex_unlock(&svc->shard_lock);
}

/* ---- sync, download, upload ------------------------------------------- */

static void work_sync(struct server_job *job)
{
    scv_service *svc = job->app;
    struct scv_stream_info info;
    struct status st;
    json_t *out = NULL;
    if (authorize_stream(job, &info) != 0)
        return;
    status_code rc = scv_streams_sync(svc->streams, info.id, &out, &st);
    if (rc == STATUS_OK)
        job->reply = out;
    else
        job->status = st;
}

static void work_download(struct server_job *job)
{
    scv_service *svc = job->app;
    struct scv_stream_info info;
    struct status st;
    const char *path = job->param[1];
    if (authorize_stream(job, &info) != 0)
        return;
    status_code rc = scv_streams_open_file(svc->streams, info.id, path, &job->fd, &job->fd_size, &st);
    if (rc == STATUS_OK)
        snprintf(job->filename, sizeof job->filename, "%s", path); /* the protocol's filename=<path> */
    else
        job->status = st;
}

static void work_upload(struct server_job *job)
{
    scv_service *svc = job->app;
    char md5[CRYPTO_MD5_HEX_LEN + 1];
    struct scv_stream_info info;
    if (authorize_stream(job, &info) != 0)
        return;
    crypto_md5_hex(job->body, job->body_len, md5);
    if (job->content_md5 == NULL || strcasecmp(job->content_md5, md5) != 0) {
        status_fail(&job->status, STATUS_INVALID, "Content-MD5 %s does not match the body's MD5 %s",
                    job->content_md5 ? job->content_md5 : "(missing)", md5);
        return;
    }
    scv_streams_upload(svc->streams, info.id, job->param[1], job->body, job->body_len, &job->status);
}

/* ---- listings --------------------------------------------------------- */

static void handle_target_streams(struct server_request *r)
{
    scv_service *svc = r->app;
    json_t *out = scv_streams_target_list(svc->streams, r->params.values[0]);
    if (out == NULL) {
        server_reply_error(r->req, 400, "target %s has no streams on this SCV", r->params.values[0]);
        return;
    }
    server_reply_json(r->req, 200, out);
}

static void handle_active_streams(struct server_request *r)
{
    scv_service *svc = r->app;
    server_reply_json(r->req, 200, scv_streams_active_streams(svc->streams));
}

static void handle_active_cores(struct server_request *r)
{
    scv_service *svc = r->app;
    server_reply_json(r->req, 200, scv_streams_active_cores(svc->streams));
}

/* ---- POST /streams/activate (the CC) ---------------------------------- */

/* 1 when the request carries the secret the CC presents (the SCV's), else
 * 401 sent with refusal: only the CC may do this. */
static int from_cc(struct server_request *r, const char *refusal)
{
    scv_service *svc = r->app;
    if (crypto_equal(server_header(r->req, "authorization"), svc->secret))
        return 1;
    server_reply_error(r->req, 401, "%s", refusal);
    return 0;
}

static const char *string_field(json_t *body, const char *key, size_t max, int required, char *why,
                                size_t whylen)
{
    json_t *v = json_object_get(body, key);
    if (v == NULL || json_is_null(v)) {
        if (required)
            snprintf(why, whylen, "\"%s\" is required", key);
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(why, whylen, "\"%s\" must be a string of at most %zu bytes", key, max);
        return NULL;
    }
    return json_string_value(v);
}

static void handle_activate(struct server_request *r)
{
    scv_service *svc = r->app;
    char why[128] = "", token[SCV_STREAMS_TOKEN_LEN + 1];
    struct status st;
    if (!from_cc(r, "only the command center may activate streams (wrong or missing secret)"))
        return;
    json_t *body = server_body_object(r->req);
    if (body == NULL)
        return;
    const char *target = string_field(body, "target_id", STREAM_STORE_TARGET_ID_MAX, 1, why, sizeof why);
    const char *engine = string_field(body, "engine", SCV_ENGINE_MAX, 1, why, sizeof why);
    const char *user = string_field(body, "user", SCV_USER_MAX, 0, why, sizeof why);
    if (why[0] != '\0') {
        server_reply_error(r->req, 400, "%s", why);
        goto out;
    }
    if (scv_streams_activate(svc->streams, target, engine, user, token, &st) != STATUS_OK) {
        server_reply_status(r->req, &st);
        goto out;
    }
    server_reply_json(r->req, 200, json_pack("{s:s}", "token", token));
out:
    json_decref(body);
}

/* ---- GET /survey (the CC's dashboard) --------------------------------- */

/* The figures include private targets: only the CC may read them. The
 * SCV's sums answer on the loop (a copy of counters); a target's rows, one
 * per stream, are built on a worker. */
#define NOT_CC_SURVEY "only the command center may survey this SCV (wrong or missing secret)"

static void handle_survey(struct server_request *r)
{
    scv_service *svc = r->app;
    if (!from_cc(r, NOT_CC_SURVEY))
        return;
    json_t *body = scv_streams_survey(svc->streams);
    if (body == NULL) {
        server_reply_error(r->req, 503, "out of memory");
        return;
    }
    server_reply_json(r->req, 200, body);
}

static void work_survey_target(struct server_job *job)
{
    scv_service *svc = job->app;
    if (!crypto_equal(job->auth, svc->secret)) {
        status_fail(&job->status, STATUS_DENIED, "%s", NOT_CC_SURVEY);
        return;
    }
    job->reply = scv_streams_target_rows(svc->streams, job->param[0]);
    if (job->reply == NULL)
        status_fail(&job->status, STATUS_UNAVAILABLE, "out of memory");
}

int scv_manager_routes(struct server *s)
{
    int rc = 0;
    rc |= server_route_job(s, "POST", "/streams", work_add, 0);
    rc |= server_route(s, "GET", "/streams/info/:id", handle_info);
    rc |= server_route_job(s, "PUT", "/streams/start/:id", work_start, 0);
    rc |= server_route_job(s, "PUT", "/streams/stop/:id", work_stop, 0);
    rc |= server_route_job(s, "PUT", "/streams/delete/:id", work_delete, 0);
    rc |= server_route_job(s, "GET", "/streams/sync/:id", work_sync, 0);
    rc |= server_route_job(s, "GET", "/streams/download/:id/:path...", work_download, 0);
    rc |= server_route_job(s, "PUT", "/streams/upload/:id/:path...", work_upload, 0);
    rc |= server_route(s, "GET", "/targets/streams/:target_id", handle_target_streams);
    rc |= server_route(s, "POST", "/streams/activate", handle_activate);
    rc |= server_route(s, "GET", "/active_streams", handle_active_streams);
    rc |= server_route(s, "GET", "/active_cores", handle_active_cores);
    rc |= server_route(s, "GET", "/survey", handle_survey);
    rc |= server_route_job(s, "GET", "/survey/:target_id", work_survey_target, 0);
    return rc;
}
