/* SCV requests from cores (PROTOCOL.md, "Core requests"). The core token in
 * Authorization names the stream; only its SHA-256 is kept. Heartbeats are
 * memory-only and answer on the loop; the rest runs as scv_jobs under the
 * stream's io lock, re-checking that the activation is still bound. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scv/json_slices.h"
#include "scv/scv_job.h"
#include "scv/scv_service.h"
#include "scv/stream_path.h"
#include "util/base64.h"
#include "util/crypto.h"
#include "util/gz.h"
#include "util/log.h"
#include "util/wire_file.h"

#define EXPIRED_MSG "unknown or expired core token"
/* Frame file strings this long are read in place, not copied by jansson. */
#define FRAME_SLICE_MIN 4096

static int token_hash(const char *auth, char *hash)
{
    if (auth == NULL || auth[0] == '\0' || strlen(auth) > 256)
        return -1;
    crypto_sha256_hex(auth, strlen(auth), hash);
    return 0;
}

/* The stream of the job's core token, io-locked, with its activation; NULL
 * when the job has failed. Release with core_release. */
static scv_stream *core_acquire(struct scv_job *job, uint64_t *activation)
{
    char hash[CRYPTO_SHA256_HEX_LEN + 1];
    scv_index *ix = job->svc->index;
    scv_stream *st = NULL;
    if (token_hash(job->auth, hash) != 0 ||
        (st = scv_index_by_token(ix, hash, scv_now(), activation)) == NULL) {
        scv_job_fail(job, 400, EXPIRED_MSG);
        return NULL;
    }
    scv_stream_lock(st);
    if (scv_index_buffered(ix, st, *activation) >= 0)
        return st;
    scv_stream_unlock(st);
    scv_index_put(ix, st);
    scv_job_fail(job, 400, EXPIRED_MSG);
    return NULL;
}

static void core_release(struct scv_job *job, scv_stream *st)
{
    scv_stream_unlock(st);
    scv_index_put(job->svc->index, st);
}

/* md5 (CRYPTO_MD5_HEX_LEN + 1 bytes) receives the body's digest. */
static int md5_ok(struct scv_job *job, char *md5)
{
    crypto_md5_hex(job->body, job->body_len, md5);
    if (job->content_md5 != NULL && strcasecmp(job->content_md5, md5) == 0)
        return 1;
    scv_job_fail(job, 400, "Content-MD5 %s does not match the body's MD5 %s",
                 job->content_md5 != NULL ? job->content_md5 : "(missing)", md5);
    return 0;
}

/* The body's "files" object of strings, or NULL when the job has failed.
 * *body is the parsed body to decref; strings of min_slice bytes or more
 * may be left in job->body (see json_slices.h; 0: never), so free slices
 * with json_slices_free after the last use of a file's bytes. */
static json_t *body_files(struct scv_job *job, size_t min_slice, json_slices *slices, json_t **body)
{
    json_error_t jerr;
    const char *name;
    json_t *v;
    *body = json_slices_load(job->body, job->body_len, min_slice, slices, &jerr);
    if (!json_is_object(*body)) {
        scv_job_fail(job, 400, "the body must be a JSON object%s%s", *body ? "" : ": ",
                     *body ? "" : jerr.text);
        return NULL;
    }
    json_t *files = json_object_get(*body, "files");
    if (!json_is_object(files)) {
        scv_job_fail(job, 400, "\"files\" must be an object of name: string");
        return NULL;
    }
    json_object_foreach(files, name, v)
    {
        if (!json_is_string(v)) {
            scv_job_fail(job, 400, "\"files\".\"%s\" must be a string", name);
            return NULL;
        }
    }
    return files;
}

/* ---- POST /core/heartbeat --------------------------------------------- */

static void handle_heartbeat(struct server_request *r)
{
    scv_service *svc = r->app;
    char hash[CRYPTO_SHA256_HEX_LEN + 1];
    if (token_hash(server_header(r->req, "authorization"), hash) != 0 ||
        scv_index_heartbeat(svc->index, hash, scv_now(), svc->cfg.heartbeat_increment) != 0) {
        server_reply_error(r->req, 400, EXPIRED_MSG);
        return;
    }
    server_reply_ok(r->req);
}

/* ---- GET /core/start -------------------------------------------------- */

static void work_start(struct scv_job *job)
{
    char err[SCV_CC_ERR_LEN];
    uint64_t activation;
    struct scv_stream_info info;
    json_t *files = NULL, *target = NULL;
    scv_stream *st = core_acquire(job, &activation);
    if (st == NULL)
        return;
    if (scv_index_info(job->svc->index, st, &info) != 0) {
        scv_job_fail(job, 400, EXPIRED_MSG);
        goto out;
    }
    int rc = stream_store_start_files(job->svc->store, info.id, 2 * job->svc->cfg.max_body_size, &files, err);
    if (rc != STREAM_STORE_OK) {
        scv_job_fail(job, 500, "cannot read the stream's files: %s", err);
        goto out;
    }
    scv_cc_rc crc = scv_cc_target_info(job->svc->cc, info.target_id, &target, err);
    if (crc != SCV_CC_OK) {
        scv_job_fail(job, crc == SCV_CC_REFUSED ? 400 : 503, "cannot fetch the target's options: %s", err);
        goto out;
    }
    json_t *options = json_object_get(target, "options");
    scv_job_ok(job, json_pack("{s:s,s:s,s:O,s:O}", "stream_id", info.id, "target_id", info.target_id, "files",
                              files, "options", json_is_object(options) ? options : json_object()));
    job->md5_header = 1;
out:
    json_decref(files);
    json_decref(target);
    core_release(job, st);
}

/* ---- PUT /core/frame -------------------------------------------------- */

static int frame_sink(void *ctx, const void *chunk, size_t len)
{
    return stream_store_frame_write(ctx, chunk, len, NULL);
}

/* Appends one frame file: ".b64" then ".gz" suffixes are undone, the gzip
 * streamed straight into the buffer within *budget inflated bytes. 0, or a
 * stream_store_rc (INVALID: the core's mistake) with the job failed. */
static int frame_file(struct scv_job *job, stream_store_frame *fr, const json_slices *slices,
                      const char *name, json_t *value, size_t *budget)
{
    char err[STREAM_STORE_ERR_LEN], plain[STREAM_PATH_NAME_MAX + 1];
    size_t len = strlen(name), bytes_len;
    unsigned char *decoded = NULL;
    if (len > STREAM_PATH_NAME_MAX) {
        scv_job_fail(job, 400, "frame file name '%.40s...' is too long", name);
        return STREAM_STORE_INVALID;
    }
    unsigned enc;
    len = wire_file_base(name, len, &enc);
    memcpy(plain, name, len);
    plain[len] = '\0';
    int b64 = (enc & WIRE_FILE_B64) != 0, gz = (enc & WIRE_FILE_GZ) != 0;
    if (strcmp(plain, "checkpoint_files") == 0 || !stream_path_name_ok(plain, len)) {
        scv_job_fail(job, 400, "'%s' is not an acceptable frame file name", name);
        return STREAM_STORE_INVALID;
    }
    const void *bytes = json_slices_string(slices, value, &bytes_len);
    if (b64 && (bytes = decoded = base64_decode(bytes, bytes_len, &bytes_len)) == NULL) {
        scv_job_fail(job, 400, "frame file '%s' is not valid base64", name);
        return STREAM_STORE_INVALID;
    }
    int rc = stream_store_frame_file(fr, plain, err);
    if (rc != STREAM_STORE_OK) {
        scv_job_fail(job, rc == STREAM_STORE_INVALID ? 400 : 500, "cannot buffer the frame: %s", err);
    } else if (!gz) {
        rc = stream_store_frame_write(fr, bytes, bytes_len, err);
        if (rc != STREAM_STORE_OK)
            scv_job_fail(job, 500, "cannot buffer the frame: %s", err);
    } else {
        size_t inflated;
        int zrc = gz_inflate(bytes, bytes_len, *budget, frame_sink, fr, &inflated);
        *budget -= inflated;
        rc = zrc == GZ_SINK ? STREAM_STORE_IO : zrc == GZ_OK ? STREAM_STORE_OK : STREAM_STORE_INVALID;
        if (zrc == GZ_BAD)
            scv_job_fail(job, 400, "frame file '%s' is not valid gzip", name);
        else if (zrc == GZ_TOO_BIG)
            scv_job_fail(job, 413, "the frame's .gz files inflate past %zu bytes in all",
                         job->svc->cfg.max_inflate_size);
        else if (zrc == GZ_SINK)
            scv_job_fail(job, 500, "cannot buffer the frame: a disk write failed");
    }
    free(decoded);
    return rc;
}

/* Appends every file of the frame, or none. 0, or -1 with the job failed. */
static int frame_store(struct scv_job *job, scv_stream *st, uint64_t activation, json_t *files,
                       const json_slices *slices)
{
    char err[STREAM_STORE_ERR_LEN];
    struct scv_stream_info info;
    stream_store_frame *fr;
    const char *name;
    json_t *v;
    scv_index_info(job->svc->index, st, &info);
    if (stream_store_frame_begin(job->svc->store, info.id, &fr, err) != STREAM_STORE_OK) {
        scv_job_fail(job, 500, "cannot buffer the frame: %s", err);
        return -1;
    }
    size_t budget = job->svc->cfg.max_inflate_size;
    int rc = STREAM_STORE_OK;
    json_object_foreach(files, name, v)
    {
        if ((rc = frame_file(job, fr, slices, name, v, &budget)) != STREAM_STORE_OK)
            break;
    }
    if (stream_store_frame_end(fr, rc == STREAM_STORE_OK, err) == STREAM_STORE_OK)
        return rc == STREAM_STORE_OK ? 0 : -1;
    /* A partly appended frame that cannot be taken back: end the activation
     * so the buffer is discarded and the core starts over. */
    scv_job_fail(job, 500, "cannot buffer the frame: %s; the stream was released", err);
    if (scv_index_unbind(job->svc->index, st, activation, scv_now()))
        scv_service_finish(job->svc, st);
    return -1;
}

static int64_t frames_field(struct scv_job *job, json_t *body)
{
    json_t *v = json_object_get(body, "frames");
    if (v == NULL)
        return 1;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000000) {
        scv_job_fail(job, 400, "\"frames\" must be an integer from 1 to 1000000000");
        return -1;
    }
    return json_integer_value(v);
}

static void work_frame(struct scv_job *job)
{
    char md5[CRYPTO_MD5_HEX_LEN + 1];
    uint64_t activation;
    int duplicate = 0;
    json_slices slices = {0};
    json_t *body = NULL;
    scv_index *ix = job->svc->index;
    /* The token first: nothing of a stranger's body is parsed or inflated. */
    scv_stream *st = core_acquire(job, &activation);
    if (st == NULL)
        return;
    if (!md5_ok(job, md5))
        goto out;
    if (scv_index_frame_check(ix, st, activation, md5, &duplicate) != 0) {
        scv_job_fail(job, 400, EXPIRED_MSG);
        goto out;
    }
    if (duplicate) {
        scv_job_ok(job, NULL);
        goto out;
    }
    json_t *files = body_files(job, FRAME_SLICE_MIN, &slices, &body);
    if (files == NULL)
        goto out;
    int64_t frames = frames_field(job, body);
    if (frames < 0 || frame_store(job, st, activation, files, &slices) != 0)
        goto out;
    scv_index_frame_accepted(ix, st, activation, md5, frames);
    scv_job_ok(job, NULL);
out:
    core_release(job, st);
    json_decref(body);
    json_slices_free(&slices);
}

/* ---- PUT /core/checkpoint --------------------------------------------- */

static void work_checkpoint(struct scv_job *job)
{
    char err[STREAM_STORE_ERR_LEN];
    uint64_t activation;
    int64_t new_frames = 0;
    char md5[CRYPTO_MD5_HEX_LEN + 1];
    json_slices slices = {0};
    json_t *body = NULL, *credit = NULL;
    scv_stream *st = NULL;
    if (!md5_ok(job, md5))
        return;
    /* Checkpoint files go to the store as JSON strings: never sliced. */
    json_t *files = body_files(job, 0, &slices, &body);
    if (files == NULL || (st = core_acquire(job, &activation)) == NULL)
        goto out;
    int64_t k = scv_index_buffered(job->svc->index, st, activation);
    if (k == 0) {
        scv_job_ok(job, NULL);
        goto out;
    }
    struct scv_stream_info info;
    scv_index_info(job->svc->index, st, &info);
    /* The credit is committed with the frames, so a crash cannot part them. */
    credit = scv_index_progress(job->svc->index, st, k, scv_now());
    if (credit == NULL) {
        scv_job_fail(job, 503, "server is out of memory; try again later");
        goto out;
    }
    int rc = stream_store_commit(job->svc->store, info.id, files, k, credit, &new_frames, err);
    if (rc != STREAM_STORE_OK) {
        scv_job_fail(job, rc == STREAM_STORE_INVALID ? 400 : 500, "checkpoint not committed: %s", err);
        goto out;
    }
    scv_index_committed(job->svc->index, st, new_frames, k);
    scv_job_ok(job, NULL);
out:
    if (st != NULL)
        core_release(job, st);
    json_decref(credit);
    json_decref(body);
}

/* ---- PUT /core/stop --------------------------------------------------- */

static void record_error(struct scv_job *job, scv_stream *st, const char *text, size_t len)
{
    char err[STREAM_STORE_ERR_LEN];
    struct scv_stream_info info;
    scv_service *svc = job->svc;
    if (scv_index_info(svc->index, st, &info) != 0)
        return;
    if (stream_store_log_error(svc->store, info.id, text, len, scv_now(), err) != STREAM_STORE_OK)
        log_error("stream %s: cannot log a core error: %s", info.id, err);
    int count = info.error_count + 1;
    scv_stream_status status = count >= svc->cfg.max_stream_errors ? SCV_STREAM_STOPPED : info.status;
    if (stream_store_set_state(svc->store, info.id, status, count, err) != STREAM_STORE_OK) {
        log_error("stream %s: cannot record its error count: %s", info.id, err);
        return;
    }
    if (status == SCV_STREAM_STOPPED && info.status != SCV_STREAM_STOPPED)
        log_warn("stream %s stopped after %d core errors", info.id, count);
    scv_index_set_state(svc->index, st, status, count);
}

static void work_stop(struct scv_job *job)
{
    json_error_t jerr;
    uint64_t activation;
    unsigned char *text = NULL;
    size_t len = 0;
    scv_stream *st = NULL;
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
    if ((st = core_acquire(job, &activation)) == NULL)
        goto out;
    if (text != NULL)
        record_error(job, st, (const char *)text, len);
    if (scv_index_unbind(job->svc->index, st, activation, scv_now()))
        scv_service_finish(job->svc, st);
    scv_job_ok(job, NULL);
out:
    if (st != NULL)
        core_release(job, st);
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
