/* cc_keys: engine keys (admin only): create, list, delete. A change reloads
 * the cache, since /core/assign looks keys up in memory. */
#include <stdlib.h>

#include "cc/cc_fields.h"
#include "cc/cc_job.h"

static void work_create(cc_job *job)
{
    cc_user admin;
    const char *engine = NULL, *description = NULL;
    char err[CC_FIELDS_ERR_MAX], key[AUTH_TOKEN_HEX_LEN + 1];
    if (cc_job_admin(job, &admin) != 0)
        return;
    if (cc_field_string(job->body, "engine", CC_FIELD_REQUIRED, CC_ENGINE_MAX, &engine, err, sizeof err) !=
            0 ||
        cc_field_string(job->body, "description", CC_FIELD_REQUIRED, CC_DESCRIPTION_MAX, &description, err,
                        sizeof err) != 0) {
        cc_job_fail(job, 400, "%s", err);
        return;
    }
    struct status st;
    if (cc_store_key_create(job->svc->store, engine, description, key, &st) != STATUS_OK) {
        cc_job_store_fail(job, &st);
        return;
    }
    job->reply = json_pack("{s:s}", "key", key);
    job->refresh = 1;
}

static void work_list(cc_job *job)
{
    cc_user admin;
    cc_engine_key *keys = NULL;
    size_t n = 0;
    if (cc_job_admin(job, &admin) != 0)
        return;
    struct status st;
    if (cc_store_key_list(job->svc->store, &keys, &n, &st) != STATUS_OK) {
        cc_job_store_fail(job, &st);
        return;
    }
    job->reply = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(job->reply, keys[i].key,
                            json_pack("{s:s, s:s, s:f}", "engine", keys[i].engine, "description",
                                      keys[i].description, "creation_date", keys[i].creation_date));
    free(keys);
}

static void work_delete(cc_job *job)
{
    cc_user admin;
    if (cc_job_admin(job, &admin) != 0)
        return;
    struct status st;
    if (cc_store_key_delete(job->svc->store, job->param, &st) != STATUS_OK) {
        cc_job_store_fail(job, &st);
        return;
    }
    job->refresh = 1;
}

static void handle_create(struct server_request *r)
{
    cc_job_start(r, work_create, 0);
}

static void handle_list(struct server_request *r)
{
    cc_job_start(r, work_list, 0);
}

static void handle_delete(struct server_request *r)
{
    cc_job_start(r, work_delete, 0);
}

int cc_keys_routes(struct server *s)
{
    return server_route(s, "POST", "/engines/keys", handle_create) |
           server_route(s, "GET", "/engines/keys", handle_list) |
           server_route_secret(s, "PUT", "/engines/keys/delete/:key", handle_delete);
}
