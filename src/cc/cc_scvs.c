/* cc_scvs: the SCV registry and the endpoints SCVs call (register, shards,
 * stats; all authenticated with cc_pass), GET /scvs/status from memory, and
 * the liveness checks (GET / on every SCV, each on a worker). */
#include <stdlib.h>
#include <string.h>

#include "cc/cc_fields.h"
#include "cc/cc_access.h"
#include "cc/cc_fold.h"
#include "cc/cc_metrics.h"
#include "cc/cc_peer.h"
#include "config/config.h"
#include "util/log.h"

struct check {
    cc_service *svc;
    cc_health_rec *rec;
    char host[CC_HOST_MAX + 1];
};

static void check_work(void *arg)
{
    struct check *c = arg;
    struct client_reply reply;
    struct client_error err;
    struct cc_peer_call call = {
        .host = c->host, .pool = c->svc->peers, .method = "GET", .path = "/", .probe = 1};
    int answered = cc_peer_request(c->rec, &call, &reply, NULL, &err) == 0;
    int was_online = cc_health_online(c->rec);
    cc_health_record(c->rec, answered);
    if (was_online && !cc_health_online(c->rec))
        log_warn("SCV '%s' at %s is offline: %s", c->rec->name, c->host, err.message);
    else if (!was_online && answered)
        log_info("SCV '%s' at %s is back online", c->rec->name, c->host);
    client_reply_free(&reply);
    atomic_store(&c->rec->checking, 0);
    free(c);
}

/* Queues a check unless one of this SCV is already queued or running, so a
 * slow SCV never piles up work. */
static void check_one(cc_service *svc, cc_health_rec *rec, const char *host)
{
    if (atomic_exchange(&rec->checking, 1) != 0)
        return;
    struct check *c = calloc(1, sizeof *c);
    if (c == NULL) {
        atomic_store(&rec->checking, 0);
        return;
    }
    c->svc = svc;
    c->rec = rec;
    snprintf(c->host, sizeof c->host, "%s", host);
    server_run_background(svc->server, check_work, c);
}

void cc_scvs_check_all(void *arg)
{
    cc_service *svc = arg;
    cc_view *view = cc_cache_get(svc->cache);
    size_t online = 0, n = cc_view_scv_count(view);
    for (size_t i = 0; i < n; i++) {
        cc_health_rec *rec = NULL;
        const cc_scv *scv = cc_view_scv_at(view, i, &rec);
        online += cc_health_online(rec);
        check_one(svc, rec, scv->host);
    }
    cc_view_unref(view);
    cc_metrics_scvs(svc->metrics, online, n - online);
}

static void work_register(struct server_job *job)
{
    cc_service *svc = job->app;
    const char *name = NULL, *host = NULL, *password = NULL;
    if (cc_access_scv(job) != 0)
        return;
    if (cc_field_string(job->json, "name", CC_FIELD_REQUIRED, CC_SCV_NAME_MAX, &name, &job->status) !=
            STATUS_OK ||
        cc_field_string(job->json, "host", CC_FIELD_REQUIRED, CC_HOST_MAX, &host, &job->status) !=
            STATUS_OK ||
        cc_field_string(job->json, "password", CC_FIELD_REQUIRED, AUTH_SECRET_MAX, &password, &job->status) !=
            STATUS_OK)
        return;
    if (!config_name_ok(name)) {
        status_fail(&job->status, STATUS_INVALID, "bad SCV name '%s': it must be " CONFIG_NAME_RULE, name);
        return;
    }
    if (cc_store_scv_upsert(svc->store, name, host, password, &job->status) != STATUS_OK)
        return;
    cc_health_rec *rec = cc_health_get(svc->health, name);
    if (rec != NULL) {
        /* A (re)registered SCV starts with a clean slate and its scheme is
         * learnt again, since it may have moved. */
        atomic_store(&rec->fails, 0);
        atomic_store(&rec->scheme, CC_SCHEME_UNKNOWN);
        check_one(svc, rec, host);
    }
    log_info("SCV '%s' registered at %s", name, host);
    cc_service_refresh(svc);
}

static void work_shards(struct server_job *job)
{
    cc_service *svc = job->app;
    const char *scv = NULL, *op = NULL;
    if (cc_access_scv(job) != 0)
        return;
    if (cc_field_string(job->json, "scv", CC_FIELD_REQUIRED, CC_SCV_NAME_MAX, &scv, &job->status) !=
            STATUS_OK ||
        cc_field_string(job->json, "op", CC_FIELD_REQUIRED, 16, &op, &job->status) != STATUS_OK)
        return;
    int add = strcmp(op, "add") == 0;
    if (!add && strcmp(op, "remove") != 0) {
        status_fail(&job->status, STATUS_INVALID, "bad op '%s': use 'add' or 'remove'", op);
        return;
    }
    status_code rc = add ? cc_store_shard_add(svc->store, job->param[0], scv, &job->status)
                         : cc_store_shard_remove(svc->store, job->param[0], scv, &job->status);
    if (rc != STATUS_OK)
        return;
    cc_service_refresh(svc);
}

#define COPY(dst, src) snprintf((dst), sizeof(dst), "%s", (src))

static status_code parse_fragment(const json_t *o, cc_stats_fragment *f, struct status *st)
{
    const char *id = NULL, *target = NULL, *stream = NULL, *engine = NULL, *user = "";
    long long frames = 0;
    if (!json_is_object(o))
        return status_fail(st, STATUS_INVALID, "each fragment must be an object");
    if (cc_field_string(o, "id", CC_FIELD_REQUIRED, CC_ID_MAX, &id, st) != STATUS_OK ||
        cc_field_string(o, "target_id", CC_FIELD_REQUIRED, CC_TARGET_ID_LEN, &target, st) != STATUS_OK ||
        cc_field_string(o, "stream_id", CC_FIELD_REQUIRED, CC_ID_MAX, &stream, st) != STATUS_OK ||
        cc_field_string(o, "engine", CC_FIELD_REQUIRED, CC_ENGINE_MAX, &engine, st) != STATUS_OK ||
        cc_field_string(o, "user", CC_FIELD_ALLOW_EMPTY, CC_NAME_MAX, &user, st) != STATUS_OK ||
        cc_field_number(o, "start_time", CC_FIELD_REQUIRED, &f->start_time, st) != STATUS_OK ||
        cc_field_number(o, "end_time", CC_FIELD_REQUIRED, &f->end_time, st) != STATUS_OK ||
        cc_field_int(o, "frames", CC_FIELD_REQUIRED, 0, &frames, st) != STATUS_OK)
        return STATUS_INVALID;
    COPY(f->id, id);
    COPY(f->target_id, target);
    COPY(f->stream_id, stream);
    COPY(f->engine, engine);
    COPY(f->user, user);
    f->frames = frames;
    return STATUS_OK;
}

static void work_stats(struct server_job *job)
{
    cc_service *svc = job->app;
    struct status field;
    size_t inserted = 0, i;
    json_t *item, *list = json_object_get(job->json, "fragments");
    if (cc_access_scv(job) != 0)
        return;
    if (!json_is_array(list) || json_array_size(list) > CC_STATS_BATCH_MAX) {
        status_fail(&job->status, STATUS_INVALID,
                    "field 'fragments' must be an array of at most %d fragments", CC_STATS_BATCH_MAX);
        return;
    }
    cc_stats_fragment *v = calloc(json_array_size(list) + 1, sizeof *v);
    if (v == NULL) {
        status_fail(&job->status, STATUS_UNAVAILABLE, "out of memory");
        return;
    }
    json_array_foreach(list, i, item)
    {
        if (parse_fragment(item, &v[i], &field) != STATUS_OK) {
            status_fail(&job->status, field.code, "fragment %zu: %s", i, field.msg);
            goto out;
        }
    }
    if (cc_store_stats_insert(svc->store, v, json_array_size(list), &inserted, &job->status) != STATUS_OK)
        goto out;
    cc_fold_queued(svc->fold, inserted);
    job->reply = json_pack("{s:I}", "inserted", (json_int_t)inserted);
out:
    free(v);
}

/* Memory only: the cached registry and the live fail counts. */
static void handle_status(struct server_request *r)
{
    cc_service *svc = r->app;
    cc_view *view = cc_cache_get(svc->cache);
    json_t *out = json_object();
    for (size_t i = 0; i < cc_view_scv_count(view); i++) {
        cc_health_rec *rec = NULL;
        const cc_scv *scv = cc_view_scv_at(view, i, &rec);
        json_object_set_new(out, scv->name,
                            json_pack("{s:s, s:b}", "host", scv->host, "online", cc_health_online(rec)));
    }
    cc_view_unref(view);
    server_reply_json(r->req, 200, out);
}

int cc_scvs_routes(struct server *s)
{
    return server_route_job(s, "PUT", "/scvs/register", work_register, SERVER_JOB_JSON) |
           server_route_job(s, "PUT", "/targets/shards/:id", work_shards, SERVER_JOB_JSON) |
           server_route_job(s, "POST", "/stats", work_stats, SERVER_JOB_JSON) |
           server_route(s, "GET", "/scvs/status", handle_status);
}
