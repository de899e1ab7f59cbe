#include "scv/scv_streams.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scv/scv_frame.h"
#include "scv/scv_metrics.h"
#include "scv/stream_store.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/log.h"

#define OUT_OF_MEMORY "server is out of memory; try again later"

struct scv_streams {
    struct scv_streams_config cfg;
    char *data_dir, *scv_name; /* cfg's strings, owned */
    stream_store *store;
    scv_index *index;
    struct scv_metrics *metrics; /* borrowed; NULL counts nothing */
};

/* Passes rc through, counting a disk or database failure. */
static status_code counted(scv_streams *s, status_code rc)
{
    if (rc == STATUS_IO)
        scv_metrics_store_error(s->metrics);
    return rc;
}

/* ---- open / close -------------------------------------------------------- */

static int load_stream(const scv_stream_record *rec, void *ctx)
{
    scv_index *ix = ctx;
    if (scv_index_add(ix, rec->id, rec->target_id, rec->status, rec->frames, rec->error_count) != 0) {
        log_error("cannot index stream %s (out of memory or a duplicate id)", rec->id);
        return 1;
    }
    return 0;
}

scv_streams *scv_streams_open(const struct scv_streams_config *cfg, struct status *st)
{
    struct status inner;
    scv_streams *s = calloc(1, sizeof *s);
    if (s == NULL || (s->data_dir = strdup(cfg->data_dir)) == NULL ||
        (s->scv_name = strdup(cfg->scv_name)) == NULL) {
        status_fail(st, STATUS_UNAVAILABLE, "out of memory");
        goto fail;
    }
    s->cfg = *cfg;
    s->cfg.data_dir = s->data_dir;
    s->cfg.scv_name = s->scv_name;
    if ((s->store = stream_store_open(cfg->data_dir, &inner)) == NULL) {
        status_fail(st, inner.code, "cannot open the stream store: %s", inner.msg);
        goto fail;
    }
    s->index = scv_index_new();
    if (s->index == NULL || stream_store_foreach(s->store, load_stream, s->index) != STATUS_OK) {
        status_fail(st, STATUS_IO, "cannot load the streams into memory (see the log)");
        goto fail;
    }
    return s;
fail:
    scv_streams_close(s);
    return NULL;
}

void scv_streams_close(scv_streams *s)
{
    struct status st;
    if (s == NULL)
        return;
    scv_index_free(s->index);
    /* The server has stopped and every worker has finished, so nothing can
     * touch the store any more: a clean stop spares the next start its walk. */
    if (s->store && stream_store_close_clean(s->store, &st) == STATUS_OK)
        log_info("stream store closed cleanly; the next start skips checking every stream folder");
    else if (s->store)
        log_warn("stream store closed without the clean-stop marker: %s", st.msg);
    free(s->data_dir);
    free(s->scv_name);
    free(s);
}

void scv_streams_metrics(scv_streams *s, struct metrics *m, struct scv_metrics *sm)
{
    scv_index_metrics(s->index, m);
    s->metrics = sm;
}

/* ---- the lock protocol --------------------------------------------------- */

/* Stream id, referenced and io-locked, with a snapshot taken under the lock;
 * NULL with st failed when there is none (any more). */
static scv_stream *acquire_id(scv_streams *s, const char *id, struct scv_stream_info *info, struct status *st)
{
    scv_stream *sp = scv_index_get(s->index, id);
    if (sp != NULL) {
        scv_stream_lock(sp);
        if (scv_index_info(s->index, sp, info) == 0)
            return sp;
        scv_stream_unlock(sp);
    }
    scv_index_put(s->index, sp);
    status_fail(st, STATUS_NOT_FOUND, "unknown stream %s", id);
    return NULL;
}

/* The stream bound to the core token, referenced and io-locked, with its
 * activation and a snapshot, still bound under the lock; NULL with st
 * failed otherwise. */
static scv_stream *acquire_token(scv_streams *s, const char *token, uint64_t *activation,
                                 struct scv_stream_info *info, struct status *st)
{
    char hash[CRYPTO_SHA256_HEX_LEN + 1];
    scv_stream *sp = NULL;
    if (token != NULL && token[0] != '\0' && strlen(token) <= 256) {
        crypto_sha256_hex(token, strlen(token), hash);
        sp = scv_index_by_token(s->index, hash, clock_wall_s(), activation);
    }
    if (sp != NULL) {
        scv_stream_lock(sp);
        if (scv_index_buffered(s->index, sp, *activation) >= 0 && scv_index_info(s->index, sp, info) == 0)
            return sp;
        scv_stream_unlock(sp);
        scv_index_put(s->index, sp);
    }
    status_fail(st, STATUS_INVALID, SCV_STREAMS_EXPIRED);
    return NULL;
}

static void release(scv_streams *s, scv_stream *sp)
{
    scv_stream_unlock(sp);
    scv_index_put(s->index, sp);
}

/* Completes a deactivation (io held) whose unbind returned 1: discards the
 * buffer, then queues the stats fragment in the durable outbox. */
static void finish(scv_streams *s, scv_stream *sp)
{
    struct status st;
    struct scv_stream_info info;
    if (scv_index_info(s->index, sp, &info) == 0 &&
        counted(s, stream_store_discard_buffer(s->store, info.id, &st)) != STATUS_OK)
        log_error("deactivating %s: cannot discard its buffer: %s", info.id, st.msg);
    json_t *fragment = scv_index_finish(s->index, sp);
    if (fragment == NULL)
        return;
    if (counted(s, stream_store_outbox_add(s->store, fragment, &st)) != STATUS_OK)
        log_error("stats fragment lost for %s: %s", json_string_value(json_object_get(fragment, "stream_id")),
                  st.msg);
    json_decref(fragment);
}

/* Ends activation (0: whichever is bound) of a stream (io held). */
static void end_activation(scv_streams *s, scv_stream *sp, uint64_t activation)
{
    if (scv_index_unbind(s->index, sp, activation, clock_wall_s()))
        finish(s, sp);
}

/* ---- manager and CC requests --------------------------------------------- */

status_code scv_streams_info(scv_streams *s, const char *id, struct scv_stream_info *info, struct status *st)
{
    scv_stream *sp = scv_index_get(s->index, id);
    int found = sp != NULL && scv_index_info(s->index, sp, info) == 0;
    scv_index_put(s->index, sp);
    return found ? STATUS_OK : status_fail(st, STATUS_NOT_FOUND, "unknown stream %s", id);
}

status_code scv_streams_create(scv_streams *s, const char *target_id, const json_t *files, const json_t *tags,
                               char *id, struct status *st)
{
    char uuid[CRYPTO_UUID_LEN + 1];
    if (crypto_uuid4(uuid) != 0)
        return status_fail(st, STATUS_IO, "no randomness available for a stream id");
    if (snprintf(id, STREAM_STORE_ID_MAX + 1, "%s:%s", uuid, s->cfg.scv_name) > STREAM_STORE_ID_MAX)
        return status_fail(st, STATUS_IO, "the SCV name is too long for stream ids");
    status_code rc = stream_store_create(s->store, id, target_id, files, tags, clock_wall_s(), st);
    if (rc != STATUS_OK)
        return counted(s, rc);
    if (scv_index_add(s->index, id, target_id, SCV_STREAM_OK, 0, 0) != 0) {
        stream_store_delete(s->store, id, NULL);
        return status_fail(st, STATUS_UNAVAILABLE, OUT_OF_MEMORY);
    }
    return STATUS_OK;
}

/* A manager's operation on a stream, run with its io lock held. */
typedef status_code (*stream_op)(scv_streams *s, scv_stream *sp, const struct scv_stream_info *info,
                                 void *arg, struct status *st);

static status_code with_stream(scv_streams *s, const char *id, stream_op op, void *arg, struct status *st)
{
    struct scv_stream_info info;
    scv_stream *sp = acquire_id(s, id, &info, st);
    if (sp == NULL)
        return STATUS_NOT_FOUND;
    status_code rc = op(s, sp, &info, arg, st);
    release(s, sp);
    return counted(s, rc);
}

/* Stores, then indexes, a stream's status and error count (io held). */
static status_code set_state(scv_streams *s, scv_stream *sp, const char *id, scv_stream_status status,
                             int error_count, struct status *st)
{
    status_code rc = stream_store_set_state(s->store, id, status, error_count, st);
    if (rc == STATUS_OK)
        scv_index_set_state(s->index, sp, status, error_count);
    return rc;
}

static status_code op_delete(scv_streams *s, scv_stream *sp, const struct scv_stream_info *info, void *arg,
                             struct status *st)
{
    (void)arg;
    end_activation(s, sp, 0);
    status_code rc = stream_store_delete(s->store, info->id, st);
    if (rc == STATUS_OK)
        scv_index_remove(s->index, sp);
    return rc;
}

static status_code op_start(scv_streams *s, scv_stream *sp, const struct scv_stream_info *info, void *arg,
                            struct status *st)
{
    (void)arg;
    return set_state(s, sp, info->id, SCV_STREAM_OK, 0, st);
}

static status_code op_stop(scv_streams *s, scv_stream *sp, const struct scv_stream_info *info, void *arg,
                           struct status *st)
{
    (void)arg;
    status_code rc = set_state(s, sp, info->id, SCV_STREAM_STOPPED, info->error_count, st);
    if (rc == STATUS_OK)
        end_activation(s, sp, 0);
    return rc;
}

static status_code op_sync(scv_streams *s, scv_stream *sp, const struct scv_stream_info *info, void *arg,
                           struct status *st)
{
    (void)sp;
    return stream_store_sync(s->store, info->id, arg, st);
}

struct file_args {
    const char *path;
    int *fd;
    off_t *size;
    const void *data;
    size_t len;
};

static status_code op_open_file(scv_streams *s, scv_stream *sp, const struct scv_stream_info *info, void *arg,
                                struct status *st)
{
    const struct file_args *a = arg;
    (void)sp;
    return stream_store_open_file(s->store, info->id, a->path, strlen(a->path), a->fd, a->size, st);
}

static status_code op_upload(scv_streams *s, scv_stream *sp, const struct scv_stream_info *info, void *arg,
                             struct status *st)
{
    const struct file_args *a = arg;
    (void)sp;
    if (info->active)
        return status_fail(st, STATUS_CONFLICT, "stream %s is held by a core; stop it before uploading",
                           info->id);
    return stream_store_upload(s->store, info->id, a->path, strlen(a->path), a->data, a->len, st);
}

status_code scv_streams_delete(scv_streams *s, const char *id, struct status *st)
{
    return with_stream(s, id, op_delete, NULL, st);
}

status_code scv_streams_start(scv_streams *s, const char *id, struct status *st)
{
    return with_stream(s, id, op_start, NULL, st);
}

status_code scv_streams_stop(scv_streams *s, const char *id, struct status *st)
{
    return with_stream(s, id, op_stop, NULL, st);
}

status_code scv_streams_sync(scv_streams *s, const char *id, json_t **out, struct status *st)
{
    *out = NULL;
    return with_stream(s, id, op_sync, out, st);
}

status_code scv_streams_open_file(scv_streams *s, const char *id, const char *path, int *fd, off_t *size,
                                  struct status *st)
{
    struct file_args a = {.path = path, .fd = fd, .size = size};
    return with_stream(s, id, op_open_file, &a, st);
}

status_code scv_streams_upload(scv_streams *s, const char *id, const char *path, const void *data, size_t len,
                               struct status *st)
{
    struct file_args a = {.path = path, .data = data, .len = len};
    return with_stream(s, id, op_upload, &a, st);
}

size_t scv_streams_target_count(scv_streams *s, const char *target_id)
{
    return scv_index_target_count(s->index, target_id);
}

json_t *scv_streams_target_list(scv_streams *s, const char *target_id)
{
    return scv_index_target_streams(s->index, target_id);
}

json_t *scv_streams_active_streams(scv_streams *s)
{
    return scv_index_active_streams(s->index);
}

json_t *scv_streams_active_cores(scv_streams *s)
{
    return scv_index_active_cores(s->index);
}

json_t *scv_streams_survey(scv_streams *s)
{
    return scv_index_survey(s->index);
}

json_t *scv_streams_target_rows(scv_streams *s, const char *target_id)
{
    return scv_index_target_rows(s->index, target_id);
}

status_code scv_streams_activate(scv_streams *s, const char *target_id, const char *engine, const char *user,
                                 char *token, struct status *st)
{
    char hash[CRYPTO_SHA256_HEX_LEN + 1], stream_id[STREAM_STORE_ID_MAX + 1];
    if (crypto_random_hex(token, SCV_STREAMS_TOKEN_BYTES) != 0)
        return status_fail(st, STATUS_UNAVAILABLE, "no randomness available for a core token; try again");
    crypto_sha256_hex(token, strlen(token), hash);
    if (scv_index_activate(s->index, target_id, engine, user, hash, clock_wall_s(), s->cfg.token_ttl,
                           stream_id) != 0)
        return status_fail(st, STATUS_CONFLICT, "No streams available");
    return STATUS_OK;
}

/* ---- core requests ------------------------------------------------------- */

status_code scv_streams_heartbeat(scv_streams *s, const char *token, struct status *st)
{
    char hash[CRYPTO_SHA256_HEX_LEN + 1];
    if (token == NULL || token[0] == '\0' || strlen(token) > 256)
        return status_fail(st, STATUS_INVALID, SCV_STREAMS_EXPIRED);
    crypto_sha256_hex(token, strlen(token), hash);
    if (scv_index_heartbeat(s->index, hash, clock_wall_s(), s->cfg.token_ttl) != 0)
        return status_fail(st, STATUS_INVALID, SCV_STREAMS_EXPIRED);
    return STATUS_OK;
}

status_code scv_streams_core_start(scv_streams *s, const char *token, struct scv_stream_info *info,
                                   json_t **files, struct status *st)
{
    struct status inner;
    uint64_t activation;
    *files = NULL;
    scv_stream *sp = acquire_token(s, token, &activation, info, st);
    if (sp == NULL)
        return st->code;
    status_code rc = stream_store_start_files(s->store, info->id, s->cfg.max_start_files, files, &inner);
    if (rc != STATUS_OK)
        status_fail(st, rc, "cannot read the stream's files: %s", inner.msg);
    release(s, sp);
    return counted(s, rc);
}

status_code scv_streams_frame(scv_streams *s, const char *token, const char *content_md5, const char *body,
                              size_t len, struct status *st)
{
    char md5[CRYPTO_MD5_HEX_LEN + 1];
    struct scv_stream_info info;
    uint64_t activation;
    int duplicate = 0, broken = 0;
    int64_t frames = 0;
    uint64_t bytes = 0;
    /* The token first: nothing of a stranger's body is parsed or inflated. */
    scv_stream *sp = acquire_token(s, token, &activation, &info, st);
    if (sp == NULL)
        return st->code;
    status_code rc = STATUS_OK;
    crypto_md5_hex(body, len, md5);
    if (content_md5 == NULL || strcasecmp(content_md5, md5) != 0) {
        rc = status_fail(st, STATUS_INVALID, "Content-MD5 %s does not match the body's MD5 %s",
                         content_md5 != NULL ? content_md5 : "(missing)", md5);
    } else if (scv_index_frame_check(s->index, sp, activation, md5, &duplicate) != 0) {
        rc = status_fail(st, STATUS_INVALID, SCV_STREAMS_EXPIRED);
    } else if (!duplicate) {
        rc = scv_frame_append(s->store, info.id, body, len, s->cfg.max_inflate, &frames, &bytes, &broken, st);
        if (rc == STATUS_OK)
            scv_index_frame_accepted(s->index, sp, activation, md5, frames, bytes);
        /* A partly appended frame that cannot be taken back: the core starts
         * over on a discarded buffer. */
        if (broken)
            end_activation(s, sp, activation);
    }
    release(s, sp);
    return counted(s, rc);
}

status_code scv_streams_checkpoint(scv_streams *s, const char *token, const json_t *files, struct status *st)
{
    struct status inner;
    struct scv_stream_info info;
    uint64_t activation;
    int64_t new_frames = 0;
    scv_stream *sp = acquire_token(s, token, &activation, &info, st);
    if (sp == NULL)
        return st->code;
    status_code rc = STATUS_OK;
    json_t *credit = NULL;
    int64_t k = scv_index_buffered(s->index, sp, activation);
    if (k == 0)
        goto out;
    /* The credit is committed with the frames, so a crash cannot part them. */
    if ((credit = scv_index_progress(s->index, sp, k, clock_wall_s())) == NULL) {
        rc = status_fail(st, STATUS_UNAVAILABLE, OUT_OF_MEMORY);
        goto out;
    }
    double start = clock_mono_s();
    rc = stream_store_commit(s->store, info.id, files, k, credit, &new_frames, &inner);
    if (rc != STATUS_OK) {
        status_fail(st, rc, "checkpoint not committed: %s", inner.msg);
        goto out;
    }
    uint64_t bytes = scv_index_committed(s->index, sp, new_frames, k);
    scv_metrics_checkpoint(s->metrics, k, bytes, (uint64_t)((clock_mono_s() - start) * 1e9));
out:
    json_decref(credit);
    release(s, sp);
    return counted(s, rc);
}

/* Logs a core's error and counts it, stopping the stream at the limit (io
 * held). Failures are logged: the core's stop goes ahead regardless. */
static void record_error(scv_streams *s, scv_stream *sp, const struct scv_stream_info *info, const char *text,
                         size_t len)
{
    struct status st;
    if (counted(s, stream_store_log_error(s->store, info->id, text, len, clock_wall_s(), &st)) != STATUS_OK)
        log_error("stream %s: cannot log a core error: %s", info->id, st.msg);
    int count = info->error_count + 1;
    scv_stream_status status = count >= s->cfg.max_stream_errors ? SCV_STREAM_STOPPED : info->status;
    if (counted(s, set_state(s, sp, info->id, status, count, &st)) != STATUS_OK) {
        log_error("stream %s: cannot record its error count: %s", info->id, st.msg);
        return;
    }
    if (status == SCV_STREAM_STOPPED && info->status != SCV_STREAM_STOPPED)
        log_warn("stream %s stopped after %d core errors", info->id, count);
}

status_code scv_streams_core_stop(scv_streams *s, const char *token, const char *error, size_t len,
                                  struct status *st)
{
    struct scv_stream_info info;
    uint64_t activation;
    scv_stream *sp = acquire_token(s, token, &activation, &info, st);
    if (sp == NULL)
        return st->code;
    if (error != NULL)
        record_error(s, sp, &info, error, len);
    end_activation(s, sp, activation);
    release(s, sp);
    return STATUS_OK;
}

/* ---- the daemon's tickers ------------------------------------------------ */

size_t scv_streams_expire(scv_streams *s)
{
    scv_stream **expired = NULL;
    size_t n = scv_index_expire(s->index, clock_wall_s(), &expired);
    for (size_t i = 0; i < n; i++) {
        scv_stream_lock(expired[i]);
        finish(s, expired[i]);
        release(s, expired[i]);
    }
    free(expired);
    return n;
}

status_code scv_streams_outbox_list(scv_streams *s, size_t max, json_t **out, struct status *st)
{
    return stream_store_outbox_list(s->store, max, out, st);
}

status_code scv_streams_outbox_delete(scv_streams *s, const char *const *ids, size_t n, struct status *st)
{
    return stream_store_outbox_delete(s->store, ids, n, st);
}

status_code scv_streams_outbox_stats(scv_streams *s, size_t *n, double *oldest, struct status *st)
{
    return stream_store_outbox_stats(s->store, n, oldest, st);
}
