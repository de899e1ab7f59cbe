/* cc_targets: targets (PROTOCOL.md): create, list, info, update, delete,
 * and the ext listing of a target's streams gathered from its shards. */
#include <stdlib.h>
#include <string.h>

#include "cc/cc_fields.h"
#include "cc/cc_access.h"
#include "cc/cc_peer.h"
#include "util/log.h"

static json_t *string_array(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static void work_list(struct server_job *job)
{
    cc_service *svc = job->app;
    cc_user user;
    cc_strlist ids = {0};
    status_code rc;
    if (job->auth != NULL) {
        if (cc_access_manager(job, &user) != 0)
            return;
        rc = cc_store_target_list_owner(svc->store, user.name, &ids, &job->status);
    } else {
        rc = cc_store_target_list_public(svc->store, &ids, &job->status);
    }
    if (rc != STATUS_OK)
        return;
    job->reply = json_pack("{s:o}", "targets", string_array(ids.v, ids.n));
    cc_strlist_free(&ids);
}

static int parse_stage(struct server_job *job, int *set, cc_stage *stage)
{
    const char *name = NULL;
    if (cc_field_string(job->json, "stage", CC_FIELD_OPTIONAL, 32, &name, &job->status) != STATUS_OK)
        return -1;
    if (name == NULL)
        return 0;
    if (cc_stage_parse(name, stage) != 0) {
        status_fail(&job->status, STATUS_INVALID, "bad stage '%s': use disabled, private, beta or public",
                    name);
        return -1;
    }
    *set = 1;
    return 0;
}

static void work_create(struct server_job *job)
{
    cc_service *svc = job->app;
    cc_user user;
    cc_target_new t = {.stage = CC_STAGE_PRIVATE, .weight = 1, .points_per_frame = 1};
    const char **engines = NULL;
    int stage_set = 0;
    char id[CC_TARGET_ID_LEN + 1];
    if (cc_access_manager(job, &user) != 0 || parse_stage(job, &stage_set, &t.stage) != 0)
        return;
    if (cc_field_strings(job->json, "engines", CC_FIELD_REQUIRED, CC_ENGINES_MAX, CC_ENGINE_MAX, &engines,
                         &t.n_engines, &job->status) != STATUS_OK ||
        cc_field_object(job->json, "options", CC_FIELD_OPTIONAL, &t.options, &job->status) != STATUS_OK ||
        cc_field_number(job->json, "weight", CC_FIELD_OPTIONAL, &t.weight, &job->status) != STATUS_OK ||
        cc_field_number(job->json, "points_per_frame", CC_FIELD_OPTIONAL, &t.points_per_frame,
                        &job->status) != STATUS_OK)
        goto out;
    if (t.weight < 0) {
        status_fail(&job->status, STATUS_INVALID, "field 'weight' must be >= 0");
        goto out;
    }
    if (t.points_per_frame < 0) {
        status_fail(&job->status, STATUS_INVALID, "field 'points_per_frame' must be >= 0");
        goto out;
    }
    t.owner = user.name;
    t.engines = engines;
    if (cc_store_target_create(svc->store, &t, id, &job->status) != STATUS_OK)
        goto out;
    job->reply = json_pack("{s:s}", "target_id", id);
    cc_service_refresh(svc);
out:
    free(engines);
}

static void work_info(struct server_job *job)
{
    cc_service *svc = job->app;
    cc_target t;
    if (cc_store_target_get(svc->store, job->param[0], &t, &job->status) != STATUS_OK)
        return;
    job->reply =
        json_pack("{s:s, s:f, s:s, s:o, s:o, s:O, s:f, s:f}", "owner", t.owner, "creation_date",
                  t.creation_date, "stage", cc_stage_name(t.stage), "shards",
                  string_array(t.shards, t.n_shards), "engines", string_array(t.engines, t.n_engines),
                  "options", t.options, "weight", t.weight, "points_per_frame", t.points_per_frame);
    cc_target_free(&t);
}

/* Loads the job's target and checks the caller is its owner or an admin. */
static int owned_target(struct server_job *job, cc_target *t)
{
    cc_service *svc = job->app;
    cc_user user;
    if (cc_access_manager(job, &user) != 0)
        return -1;
    if (cc_store_target_get(svc->store, job->param[0], t, &job->status) != STATUS_OK)
        return -1;
    if (user.role != CC_ROLE_ADMIN && strcmp(t->owner, user.name) != 0) {
        cc_target_free(t);
        status_fail(&job->status, STATUS_DENIED, "target '%s' belongs to another manager", job->param[0]);
        return -1;
    }
    return 0;
}

static int parse_update(struct server_job *job, cc_target_update *u, const char ***engines)
{
    if (parse_stage(job, &u->set_stage, &u->stage) != 0)
        return -1;
    if (cc_field_strings(job->json, "engines", CC_FIELD_OPTIONAL, CC_ENGINES_MAX, CC_ENGINE_MAX, engines,
                         &u->n_engines, &job->status) != STATUS_OK ||
        cc_field_object(job->json, "options", CC_FIELD_OPTIONAL, &u->options, &job->status) != STATUS_OK ||
        cc_field_number(job->json, "weight", CC_FIELD_OPTIONAL, &u->weight, &job->status) != STATUS_OK ||
        cc_field_number(job->json, "points_per_frame", CC_FIELD_OPTIONAL, &u->points_per_frame,
                        &job->status) != STATUS_OK)
        return -1;
    u->set_points_per_frame = json_object_get(job->json, "points_per_frame") != NULL &&
                              !json_is_null(json_object_get(job->json, "points_per_frame"));
    if (u->set_points_per_frame && u->points_per_frame < 0) {
        status_fail(&job->status, STATUS_INVALID, "field 'points_per_frame' must be >= 0");
        return -1;
    }
    u->set_engines = *engines != NULL;
    u->engines = *engines;
    u->set_weight =
        json_object_get(job->json, "weight") != NULL && !json_is_null(json_object_get(job->json, "weight"));
    if (!u->set_stage && !u->set_engines && !u->set_weight && !u->set_points_per_frame &&
        u->options == NULL) {
        status_fail(&job->status, STATUS_INVALID, "Nothing to update");
        return -1;
    }
    return 0;
}

static void work_update(struct server_job *job)
{
    cc_service *svc = job->app;
    cc_target t;
    cc_target_update u = {0};
    const char **engines = NULL;
    if (owned_target(job, &t) != 0)
        return;
    cc_target_free(&t);
    if (parse_update(job, &u, &engines) != 0)
        goto out;
    if (cc_store_target_update(svc->store, job->param[0], &u, &job->status) != STATUS_OK)
        goto out;
    cc_service_refresh(svc);
out:
    free(engines);
}

static void work_delete(struct server_job *job)
{
    cc_service *svc = job->app;
    cc_target t;
    if (owned_target(job, &t) != 0)
        return;
    cc_target_free(&t);
    if (cc_store_target_delete(svc->store, job->param[0], &job->status) != STATUS_OK)
        return;
    cc_service_refresh(svc);
}

/* Appends one shard's streams; 0, or -1 when that SCV did not answer. */
static int gather_shard(struct server_job *job, const cc_view *view, const char *scv_name, const char *path,
                        json_t *streams)
{
    cc_service *svc = job->app;
    cc_health_rec *health = NULL;
    struct client_reply reply;
    struct client_error err;
    const cc_scv *scv = cc_view_scv(view, scv_name, &health);
    if (scv == NULL)
        return -1;
    struct cc_peer_call call = {.host = scv->host, .pool = svc->peers, .method = "GET", .path = path};
    if (cc_peer_request(health, &call, &reply, NULL, &err) != 0) {
        log_warn("listing streams of %s on SCV '%s': %s", job->param[0], scv_name, err.message);
        return -1;
    }
    int rc = reply.status == 200 || reply.status == 400 ? 0 : -1;
    json_t *list = reply.status == 200 ? json_object_get(reply.json, "streams") : NULL;
    size_t i;
    json_t *id;
    json_array_foreach(list, i, id)
    {
        if (json_is_string(id))
            json_array_append(streams, id);
    }
    client_reply_free(&reply);
    return rc;
}

static void work_streams(struct server_job *job)
{
    cc_service *svc = job->app;
    cc_target t;
    char path[64 + 3 * ROUTER_PARAM_BYTES];
    if (cc_store_target_get(svc->store, job->param[0], &t, &job->status) != STATUS_OK)
        return;
    /* Target ids in the store are uuid4 text: safe in a path as they are. */
    snprintf(path, sizeof path, "/targets/streams/%s", t.id);
    json_t *streams = json_array(), *unreachable = json_array();
    cc_view *view = cc_cache_get(svc->cache);
    for (size_t i = 0; i < t.n_shards; i++)
        if (gather_shard(job, view, t.shards[i], path, streams) != 0)
            json_array_append_new(unreachable, json_string(t.shards[i]));
    cc_view_unref(view);
    job->reply = json_pack("{s:o}", "streams", streams);
    if (json_array_size(unreachable) > 0)
        json_object_set(job->reply, "unreachable", unreachable);
    json_decref(unreachable);
    cc_target_free(&t);
}

int cc_targets_routes(struct server *s)
{
    return server_route_job(s, "GET", "/targets", work_list, SERVER_JOB_JSON) |
           server_route_job(s, "POST", "/targets", work_create, SERVER_JOB_JSON) |
           server_route_job(s, "GET", "/targets/info/:id", work_info, SERVER_JOB_JSON) |
           server_route_job(s, "PUT", "/targets/update/:id", work_update, SERVER_JOB_JSON) |
           server_route_job(s, "PUT", "/targets/delete/:id", work_delete, SERVER_JOB_JSON) |
           server_route_job(s, "GET", "/targets/streams/:id", work_streams, SERVER_JOB_JSON);
}
