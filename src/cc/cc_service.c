/* cc_service: creates the CC's state and wires it into the server. */
#include "cc/cc_service.h"

#include <stdio.h>
#include <stdlib.h>

#include "cc/cc_dashboard.h"
#include "cc/cc_fold.h"
#include "cc/cc_metrics.h"
#include "cc/cc_peer.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/log.h"

/* How often a CC checks whether the hourly stats export is due. */
#define CC_EXPORT_TICK_MS (5 * 60 * 1000)

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

#define HISTORY_PATH_MAX (sizeof((struct config *)0)->data_folder + sizeof CC_HISTORY_FILE + 1)

static void history_path(const cc_service *svc, char path[HISTORY_PATH_MAX])
{
    snprintf(path, HISTORY_PATH_MAX, "%s/%s", svc->cfg.data_folder, CC_HISTORY_FILE);
}

static void save_history(cc_service *svc)
{
    char path[HISTORY_PATH_MAX];
    history_path(svc, path);
    if (cc_history_save(svc->history, path) != 0)
        log_warn("cannot save the dashboard's history to %s", path);
}

/* The dashboard's survey; the history goes to disk once a minute, so a
 * restart loses at most that. */
static void survey_tick(void *arg)
{
    cc_service *svc = arg;
    cc_view *view = cc_cache_get(svc->cache);
    cc_survey_run(svc->survey, view, svc->peers, svc->history);
    cc_view_unref(view);
    double now = clock_wall_s();
    if ((long)(now / 60) != svc->history_saved) {
        svc->history_saved = (long)(now / 60);
        save_history(svc);
    }
}

cc_service *cc_service_create(const struct config *cfg, char *err, size_t errlen)
{
    cc_service *svc = calloc(1, sizeof *svc);
    if (svc == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    svc->cfg = *cfg;
    atomic_init(&svc->logins.used, 0);
    svc->logins.max = CC_LOGINS_MAX;
    svc->logins.busy = "too many logins in progress; try again in a moment";
    if (fs_mkdir_p(cfg->data_folder, 0750) != 0) {
        snprintf(err, errlen, "cannot create data folder '%s'", cfg->data_folder);
        goto fail;
    }
    struct status st;
    svc->store = cc_store_open(cfg->database, cfg->data_folder, cfg->cc_pass, cfg->cc_pass_previous, &st);
    if (svc->store == NULL) {
        snprintf(err, errlen, "%s", st.msg);
        goto fail;
    }
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
    svc->survey = cc_survey_new();
    svc->history = cc_history_new();
    if (svc->survey == NULL || svc->history == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    char path[HISTORY_PATH_MAX];
    history_path(svc, path);
    if (cc_history_load(svc->history, path) != 0)
        log_warn("the dashboard's history in %s is unreadable; it starts afresh", path);
    return svc;
fail:
    cc_service_destroy(svc);
    return NULL;
}

void cc_service_refresh(cc_service *svc)
{
    if (cc_cache_refresh(svc->cache) != 0)
        log_warn("a change was saved but the cache reload failed; it will be retried");
}

int cc_service_attach(cc_service *svc, struct server *s, char *err, size_t errlen)
{
    svc->server = s;
    if (cc_users_routes(s, svc) != 0 || cc_keys_routes(s) != 0 || cc_targets_routes(s) != 0 ||
        cc_scvs_routes(s) != 0 || cc_assign_routes(s) != 0 || cc_dashboard_routes(s) != 0 ||
        cc_donors_routes(s) != 0) {
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
    svc->fold = cc_fold_start(svc->store);
    if (svc->fold == NULL) {
        snprintf(err, errlen, "cannot start the credit folder");
        return -1;
    }
    if (server_add_ticker(s, CC_CACHE_POLL_MS, poll_tick, svc) != 0 ||
        server_add_ticker(s, CC_CACHE_SAFETY_MS, safety_tick, svc) != 0 ||
        server_add_ticker(s, svc->cfg.scv_check_interval * 1000, cc_scvs_check_all, svc) != 0 ||
        server_add_ticker(s, CC_SURVEY_MS, survey_tick, svc) != 0 ||
        server_add_ticker(s, CC_EXPORT_TICK_MS, cc_donors_export_tick, svc) != 0) {
        snprintf(err, errlen, "cannot add the CC's periodic jobs");
        return -1;
    }
    return 0;
}

void cc_service_destroy(cc_service *svc)
{
    if (svc == NULL)
        return;
    if (svc->server != NULL && svc->history != NULL)
        save_history(svc);
    cc_fold_stop(svc->fold);
    cc_history_free(svc->history);
    cc_survey_free(svc->survey);
    client_pool_free(svc->peers);
    cc_cache_free(svc->cache);
    cc_health_free(svc->health);
    cc_store_close(svc->store);
    cc_metrics_free(svc->metrics);
    free(svc);
}
