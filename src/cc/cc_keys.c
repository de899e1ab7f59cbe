/* cc_keys: engine keys (admin only): create, list, delete. A change reloads
 * the cache, since /core/assign looks keys up in memory. */
#include <stdlib.h>

#include "cc/cc_fields.h"
#include "cc/cc_access.h"

static void work_create(struct server_job *job)
{
    cc_service *svc = job->app;
    cc_user admin;
    const char *engine = NULL, *description = NULL;
    char key[AUTH_TOKEN_HEX_LEN + 1];
    if (cc_access_admin(job, &admin) != 0)
        return;
    if (cc_field_string(job->json, "engine", CC_FIELD_REQUIRED, CC_ENGINE_MAX, &engine, &job->status) !=
            STATUS_OK ||
        cc_field_string(job->json, "description", CC_FIELD_REQUIRED, CC_DESCRIPTION_MAX, &description,
                        &job->status) != STATUS_OK)
        return;
    if (cc_store_key_create(svc->store, engine, description, key, &job->status) != STATUS_OK)
        return;
    job->reply = json_pack("{s:s}", "key", key);
    cc_service_refresh(svc);
}

static void work_list(struct server_job *job)
{
    cc_service *svc = job->app;
    cc_user admin;
    cc_engine_key *keys = NULL;
    size_t n = 0;
    if (cc_access_admin(job, &admin) != 0)
        return;
    if (cc_store_key_list(svc->store, &keys, &n, &job->status) != STATUS_OK)
        return;
    job->reply = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(job->reply, keys[i].key,
                            json_pack("{s:s, s:s, s:f}", "engine", keys[i].engine, "description",
                                      keys[i].description, "creation_date", keys[i].creation_date));
    free(keys);
}

static void work_delete(struct server_job *job)
{
    cc_service *svc = job->app;
    cc_user admin;
    if (cc_access_admin(job, &admin) != 0)
        return;
    if (cc_store_key_delete(svc->store, job->param[0], &job->status) != STATUS_OK)
        return;
    cc_service_refresh(svc);
}

int cc_keys_routes(struct server *s)
{
    return server_route_job(s, "POST", "/engines/keys", work_create, SERVER_JOB_JSON) |
           server_route_job(s, "GET", "/engines/keys", work_list, SERVER_JOB_JSON) |
           server_route_job(s, "PUT", "/engines/keys/delete/:key", work_delete,
                            SERVER_JOB_JSON | SERVER_JOB_SECRET);
}
