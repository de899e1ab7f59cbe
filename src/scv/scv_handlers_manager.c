/* SCV requests from managers and from the CC (PROTOCOL.md, "Manager and CC
 * requests"). Memory-only requests answer on the loop; anything touching
 * the CC or the disk runs as an scv_job. */
#include <stdio.h>
#include <string.h>

#include "scv/scv_job.h"
#include "scv/scv_service.h"
#include "scv/stream_path.h"
#include "util/crypto.h"
#include "util/log.h"

#define ACTIVATE_TOKEN_BYTES 32

/* ---- authorization ---------------------------------------------------- */

static void fail_cc(struct scv_job *job, scv_cc_rc rc, int refused_status, const char *what, const char *err)
{
    if (rc == SCV_CC_REFUSED)
        scv_job_fail(job, refused_status, "%s: %s", what, err);
    else
        scv_job_fail(job, 503, "%s: %s", what, err);
}

/* 0 when the caller owns target_id (or is an admin); else the job has failed. */
static int authorize(struct scv_job *job, const char *target_id, int unknown_target_status)
{
    char err[SCV_CC_ERR_LEN], user[256];
    int admin = 0;
    json_t *info = NULL;
    if (job->auth == NULL || job->auth[0] == '\0') {
        scv_job_fail(job, 401, "missing Authorization header (a manager token)");
        return -1;
    }
    scv_cc_rc rc = scv_cc_verify(job->svc->cc, job->auth, user, sizeof user, &admin, err);
    if (rc != SCV_CC_OK) {
        fail_cc(job, rc, 401, "manager token refused by the command center", err);
        return -1;
    }
    rc = scv_cc_target_info(job->svc->cc, target_id, &info, err);
    if (rc != SCV_CC_OK) {
        fail_cc(job, rc, unknown_target_status, "unknown target", err);
        return -1;
    }
    int owner = admin || strcmp(json_string_value(json_object_get(info, "owner")), user) == 0;
    json_decref(info);
    if (!owner) {
        scv_job_fail(job, 401, "%s does not own target %s", user, target_id);
        return -1;
    }
    return 0;
}

/* The stream named by the first path parameter, authorized and io-locked,
 * with a fresh snapshot; NULL when the job has failed. Release with
 * stream_release. */
static scv_stream *stream_acquire(struct scv_job *job, struct scv_stream_info *info)
{
    scv_index *ix = job->svc->index;
    scv_stream *st = scv_index_get(ix, job->param[0]);
    if (st == NULL || scv_index_info(ix, st, info) != 0)
        goto unknown;
    if (authorize(job, info->target_id, 400) != 0) {
        scv_index_put(ix, st);
        return NULL;
    }
    scv_stream_lock(st);
    if (scv_index_info(ix, st, info) == 0)
        return st;
    scv_stream_unlock(st);
unknown:
    scv_index_put(ix, st);
    scv_job_fail(job, 400, "unknown stream %s", job->param[0]);
    return NULL;
}

static void stream_release(struct scv_job *job, scv_stream *st)
{
    scv_stream_unlock(st);
    scv_index_put(job->svc->index, st);
}

static int store_failed(struct scv_job *job, int rc, const char *err)
{
    if (rc == STREAM_STORE_OK)
        return 0;
    int status = rc == STREAM_STORE_IO ? 500 : 400;
    scv_job_fail(job, status, "%s", err);
    return -1;
}

/* ---- POST /streams ---------------------------------------------------- */

static int string_map_ok(struct scv_job *job, const json_t *map, const char *field)
{
    const char *name;
    json_t *v;
    if (!json_is_object(map)) {
        scv_job_fail(job, 400, "\"%s\" must be an object of name: string", field);
        return 0;
    }
    json_object_foreach((json_t *)map, name, v)
    {
        if (!json_is_string(v)) {
            scv_job_fail(job, 400, "\"%s\".\"%s\" must be a string", field, name);
            return 0;
        }
        if (!stream_path_name_ok(name, strlen(name))) {
            scv_job_fail(job, 400, "\"%s\": '%s' is not an acceptable file name", field, name);
            return 0;
        }
    }
    return 1;
}

static void add_stream(struct scv_job *job, const char *target_id, const json_t *files, const json_t *tags)
{
    scv_service *svc = job->svc;
    char uuid[CRYPTO_UUID_LEN + 1], id[STREAM_STORE_ID_MAX + 2], err[SCV_CC_ERR_LEN];
    if (crypto_uuid4(uuid) != 0) {
        scv_job_fail(job, 500, "no randomness available for a stream id");
        return;
    }
    if (snprintf(id, sizeof id, "%s:%s", uuid, svc->cfg.name) > STREAM_STORE_ID_MAX) {
        scv_job_fail(job, 500, "the SCV name is too long for stream ids");
        return;
    }
    pthread_mutex_lock(&svc->shard_lock);
    int first = scv_index_target_count(svc->index, target_id) == 0;
    if (first) {
        scv_cc_rc rc = scv_cc_shard(svc->cc, target_id, "add", err);
        if (rc != SCV_CC_OK) {
            fail_cc(job, rc, 400, "cannot add this SCV to the target's shards", err);
            goto out;
        }
    }
    if (store_failed(job, stream_store_create(svc->store, id, target_id, files, tags, scv_now(), err), err) !=
        0)
        goto undo;
    if (scv_index_add(svc->index, id, target_id, SCV_STREAM_OK, 0, 0) != 0) {
        stream_store_delete(svc->store, id, err);
        scv_job_fail(job, 503, "server is out of memory; try again later");
        goto undo;
    }
    scv_job_ok(job, json_pack("{s:s}", "stream_id", id));
    goto out;
undo:
    if (first && scv_cc_shard(svc->cc, target_id, "remove", err) != SCV_CC_OK)
        log_warn("target %s keeps this SCV as a shard with no streams: %s", target_id, err);
out:
    pthread_mutex_unlock(&svc->shard_lock);
}

static void work_add(struct scv_job *job)
{
    json_error_t jerr;
    json_t *body = json_loadb(job->body, job->body_len, 0, &jerr);
    if (!json_is_object(body)) {
        scv_job_fail(job, 400, "the body must be a JSON object: %s", body ? "" : jerr.text);
        goto out;
    }
    json_t *target = json_object_get(body, "target_id");
    json_t *files = json_object_get(body, "files");
    json_t *tags = json_object_get(body, "tags");
    if (!json_is_string(target) || json_string_length(target) == 0 ||
        json_string_length(target) > STREAM_STORE_TARGET_ID_MAX) {
        scv_job_fail(job, 400, "\"target_id\" must be a target id string");
        goto out;
    }
    if (!string_map_ok(job, files, "files") ||
        (tags != NULL && !json_is_null(tags) && !string_map_ok(job, tags, "tags")))
        goto out;
    if (authorize(job, json_string_value(target), 400) != 0)
        goto out;
    add_stream(job, json_string_value(target), files, json_is_object(tags) ? tags : NULL);
out:
    json_decref(body);
}

static void handle_add(struct server_request *r)
{
    scv_job_run(r, work_add);
}

/* ---- info, start, stop, delete ---------------------------------------- */

static void handle_info(struct server_request *r)
{
    scv_service *svc = r->app;
    struct scv_stream_info info;
    scv_stream *st = scv_index_get(svc->index, r->params.values[0]);
    int found = st != NULL && scv_index_info(svc->index, st, &info) == 0;
    scv_index_put(svc->index, st);
    if (!found) {
        server_reply_error(r->req, 400, "unknown stream %s", r->params.values[0]);
        return;
    }
    server_reply_json(
        r->req, 200,
        json_pack("{s:s,s:I,s:i,s:b}", "status", info.status == SCV_STREAM_OK ? "OK" : "STOPPED", "frames",
                  (json_int_t)info.frames, "error_count", info.error_count, "active", info.active));
}

static void work_start(struct scv_job *job)
{
    char err[STREAM_STORE_ERR_LEN];
    struct scv_stream_info info;
    scv_stream *st = stream_acquire(job, &info);
    if (st == NULL)
        return;
    if (store_failed(job, stream_store_set_state(job->svc->store, info.id, SCV_STREAM_OK, 0, err), err) ==
        0) {
        scv_index_set_state(job->svc->index, st, SCV_STREAM_OK, 0);
        scv_job_ok(job, NULL);
    }
    stream_release(job, st);
}

static void work_stop(struct scv_job *job)
{
    char err[STREAM_STORE_ERR_LEN];
    struct scv_stream_info info;
    scv_stream *st = stream_acquire(job, &info);
    if (st == NULL)
        return;
    if (store_failed(
            job, stream_store_set_state(job->svc->store, info.id, SCV_STREAM_STOPPED, info.error_count, err),
            err) == 0) {
        scv_index_set_state(job->svc->index, st, SCV_STREAM_STOPPED, info.error_count);
        if (scv_index_unbind(job->svc->index, st, 0, scv_now()))
            scv_service_finish(job->svc, st);
        scv_job_ok(job, NULL);
    }
    stream_release(job, st);
}

static void work_delete(struct scv_job *job)
{
    scv_service *svc = job->svc;
    char err[SCV_CC_ERR_LEN];
    struct scv_stream_info info;
    pthread_mutex_lock(&svc->shard_lock);
    scv_stream *st = stream_acquire(job, &info);
    if (st == NULL)
        goto out;
    if (scv_index_target_count(svc->index, info.target_id) == 1) {
        scv_cc_rc rc = scv_cc_shard(svc->cc, info.target_id, "remove", err);
        if (rc != SCV_CC_OK) {
            fail_cc(job, rc, 503, "cannot remove this SCV from the target's shards", err);
            goto release;
        }
    }
    if (scv_index_unbind(svc->index, st, 0, scv_now()))
        scv_service_finish(svc, st);
    if (store_failed(job, stream_store_delete(svc->store, info.id, err), err) != 0)
        goto release;
    scv_index_remove(svc->index, st);
    scv_job_ok(job, NULL);
release:
    stream_release(job, st);
out:
    pthread_mutex_unlock(&svc->shard_lock);
}

static void handle_start(struct server_request *r)
{
    scv_job_run(r, work_start);
}

static void handle_stop(struct server_request *r)
{
    scv_job_run(r, work_stop);
}

static void handle_delete(struct server_request *r)
{
    scv_job_run(r, work_delete);
}

/* ---- sync, download, upload ------------------------------------------- */

static void work_sync(struct scv_job *job)
{
    char err[STREAM_STORE_ERR_LEN];
    struct scv_stream_info info;
    json_t *out = NULL;
    scv_stream *st = stream_acquire(job, &info);
    if (st == NULL)
        return;
    if (store_failed(job, stream_store_sync(job->svc->store, info.id, &out, err), err) == 0)
        scv_job_ok(job, out);
    stream_release(job, st);
}

static void work_download(struct scv_job *job)
{
    char err[STREAM_STORE_ERR_LEN];
    struct scv_stream_info info;
    scv_stream *st = stream_acquire(job, &info);
    if (st == NULL)
        return;
    const char *path = job->param[1];
    int rc =
        stream_store_open_file(job->svc->store, info.id, path, strlen(path), &job->fd, &job->fd_size, err);
    if (rc == STREAM_STORE_NOT_FOUND)
        rc = STREAM_STORE_INVALID; /* the protocol's 400 for a missing file */
    if (store_failed(job, rc, err) == 0)
        snprintf(job->filename, sizeof job->filename, "%s", path); /* the protocol's filename=<path> */
    stream_release(job, st);
}

static void work_upload(struct scv_job *job)
{
    char err[STREAM_STORE_ERR_LEN], md5[CRYPTO_MD5_HEX_LEN + 1];
    struct scv_stream_info info;
    scv_stream *st = stream_acquire(job, &info);
    if (st == NULL)
        return;
    crypto_md5_hex(job->body, job->body_len, md5);
    if (job->content_md5 == NULL || strcasecmp(job->content_md5, md5) != 0) {
        scv_job_fail(job, 400, "Content-MD5 %s does not match the body's MD5 %s",
                     job->content_md5 ? job->content_md5 : "(missing)", md5);
        goto out;
    }
    if (info.active) {
        scv_job_fail(job, 400, "stream %s is held by a core; stop it before uploading", info.id);
        goto out;
    }
    const char *path = job->param[1];
    if (store_failed(
            job,
            stream_store_upload(job->svc->store, info.id, path, strlen(path), job->body, job->body_len, err),
            err) == 0)
        scv_job_ok(job, NULL);
out:
    stream_release(job, st);
}

static void handle_sync(struct server_request *r)
{
    scv_job_run(r, work_sync);
}

static void handle_download(struct server_request *r)
{
    scv_job_run(r, work_download);
}

static void handle_upload(struct server_request *r)
{
    scv_job_run(r, work_upload);
}

/* ---- listings --------------------------------------------------------- */

static void handle_target_streams(struct server_request *r)
{
    scv_service *svc = r->app;
    json_t *out = scv_index_target_streams(svc->index, r->params.values[0]);
    if (out == NULL) {
        server_reply_error(r->req, 400, "target %s has no streams on this SCV", r->params.values[0]);
        return;
    }
    server_reply_json(r->req, 200, out);
}

static void handle_active_streams(struct server_request *r)
{
    scv_service *svc = r->app;
    server_reply_json(r->req, 200, scv_index_active_streams(svc->index));
}

static void handle_active_cores(struct server_request *r)
{
    scv_service *svc = r->app;
    server_reply_json(r->req, 200, scv_index_active_cores(svc->index));
}

/* ---- POST /streams/activate (the CC) ---------------------------------- */

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
    char why[128] = "", token[2 * ACTIVATE_TOKEN_BYTES + 1], hash[CRYPTO_SHA256_HEX_LEN + 1];
    char stream_id[STREAM_STORE_ID_MAX + 1];
    if (!crypto_equal(server_header(r->req, "authorization"), svc->secret)) {
        server_reply_error(r->req, 401,
                           "only the command center may activate streams (wrong or missing secret)");
        return;
    }
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
    if (crypto_random_hex(token, ACTIVATE_TOKEN_BYTES) != 0) {
        server_reply_error(r->req, 503, "no randomness available for a core token; try again");
        goto out;
    }
    crypto_sha256_hex(token, strlen(token), hash);
    if (scv_index_activate(svc->index, target, engine, user, hash, scv_now(), svc->cfg.heartbeat_increment,
                           stream_id) != 0) {
        server_reply_error(r->req, 400, "No streams available");
        goto out;
    }
    server_reply_json(r->req, 200, json_pack("{s:s}", "token", token));
out:
    json_decref(body);
}

int scv_manager_routes(struct server *s)
{
    int rc = 0;
    rc |= server_route(s, "POST", "/streams", handle_add);
    rc |= server_route(s, "GET", "/streams/info/:id", handle_info);
    rc |= server_route(s, "PUT", "/streams/start/:id", handle_start);
    rc |= server_route(s, "PUT", "/streams/stop/:id", handle_stop);
    rc |= server_route(s, "PUT", "/streams/delete/:id", handle_delete);
    rc |= server_route(s, "GET", "/streams/sync/:id", handle_sync);
    rc |= server_route(s, "GET", "/streams/download/:id/:path...", handle_download);
    rc |= server_route(s, "PUT", "/streams/upload/:id/:path...", handle_upload);
    rc |= server_route(s, "GET", "/targets/streams/:target_id", handle_target_streams);
    rc |= server_route(s, "POST", "/streams/activate", handle_activate);
    rc |= server_route(s, "GET", "/active_streams", handle_active_streams);
    rc |= server_route(s, "GET", "/active_cores", handle_active_cores);
    return rc;
}
