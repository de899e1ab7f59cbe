/* cc_service: creates the CC's state and wires it into the server. */
#include "cc/cc_service.h"

#include <stdio.h>
#include <stdlib.h>

#include "cc/cc_metrics.h"
#include "cc/cc_peer.h"
#include "util/fs.h"

/* Both run on ticker threads of their own, never on an event loop: a slow
 * reload or a database that does not answer delays only the next tick. */
static void poll_tick(void *arg)
{
    cc_service *svc = arg;
    cc_cache_poll(svc->cache);
}

/* The backstop for writes that bypass the store's change triggers. */
static void safety_tick(void *arg)
{
    cc_service *svc = arg;
    cc_cache_rebuild(svc->cache);
}

cc_service *cc_service_create(const struct config *cfg, char *err, size_t errlen)
{
    cc_service *svc = calloc(1, sizeof *svc);
    if (svc == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    svc->cfg = *cfg;
    atomic_init(&svc->logins, 0);
    if (fs_mkdir_p(cfg->data_folder, 0750) != 0) {
        snprintf(err, errlen, "cannot create data folder '%s'", cfg->data_folder);
        goto fail;
    }
    svc->store =
        cc_store_open(cfg->database, cfg->data_folder, cfg->cc_pass, cfg->cc_pass_previous, err, errlen);
    if (svc->store == NULL)
        goto fail;
    svc->health = cc_health_new();
    if (svc->health == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    svc->cache = cc_cache_new(svc->store, svc->health, err, errlen);
    if (svc->cache == NULL)
        goto fail;
    struct client_error cerr;
    svc->peers = cc_peer_pool_new(cfg->ca_bundle, &cerr);
    if (svc->peers == NULL) {
        snprintf(err, errlen, "%s", cerr.message);
        goto fail;
    }
    return svc;
fail:
    cc_service_destroy(svc);
    return NULL;
}

int cc_service_attach(cc_service *svc, struct server *s, char *err, size_t errlen)
{
    svc->server = s;
    if (cc_users_routes(s) != 0 || cc_keys_routes(s) != 0 || cc_targets_routes(s) != 0 ||
        cc_scvs_routes(s) != 0 || cc_assign_routes(s) != 0) {
        snprintf(err, errlen, "cannot register the CC routes (route table full)");
        return -1;
    }
    if (server_enable_http_client(s, CC_PEER_LOOP_TIMEOUT_MS, err, errlen) != 0)
        return -1;
    svc->metrics = cc_metrics_new(server_metrics(s), svc);
    if (svc->metrics == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (server_add_ticker(s, CC_CACHE_POLL_MS, poll_tick, svc) != 0 ||
        server_add_ticker(s, CC_CACHE_SAFETY_MS, safety_tick, svc) != 0 ||
        server_add_ticker(s, svc->cfg.scv_check_interval * 1000, cc_scvs_check_all, svc) != 0) {
        snprintf(err, errlen, "cannot add the CC's periodic jobs");
        return -1;
    }
    return 0;
}

void cc_service_destroy(cc_service *svc)
{
    if (svc == NULL)
        return;
    client_pool_free(svc->peers);
    cc_cache_free(svc->cache);
    cc_health_free(svc->health);
    cc_store_close(svc->store);
    cc_metrics_free(svc->metrics);
    free(svc);
}
