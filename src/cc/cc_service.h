/* cc_service: the Command Center daemon's state and its wiring into the
 * server runtime (PROTOCOL.md, "Command Center").
 *
 * create opens the store and loads the cache; attach registers every CC
 * route and four tickers (a change-counter poll every CC_CACHE_POLL_MS and
 * a full reload every CC_CACHE_SAFETY_MS, so CCs sharing a database
 * converge; SCV liveness every scv_check_interval s; the dashboard's survey
 * every CC_SURVEY_MS, which also saves the history once a minute) and the
 * credit folder (cc_fold.h);
 * destroy releases everything after the server has stopped. The handlers
 * live in cc_users.c, cc_keys.c, cc_targets.c, cc_scvs.c, cc_assign.c and
 * cc_dashboard.c and
 * cc_donors.c. */
#ifndef ST_CC_SERVICE_H
#define ST_CC_SERVICE_H

#include <stdatomic.h>
#include <stddef.h>

#include "cc/cc_cache.h"
#include "cc/cc_health.h"
#include "cc/cc_history.h"
#include "cc/cc_store.h"
#include "cc/cc_survey.h"
#include "config/config.h"
#include "runtime/server.h"
#include "runtime/server_job.h"

/* Concurrent Argon2 hashes (each ~64 MB); more logins get 503. */
#define CC_LOGINS_MAX 8

typedef struct cc_service {
    struct config cfg;
    cc_store *store;
    cc_health *health;
    cc_cache *cache;
    struct server *server;
    struct cc_metrics *metrics;     /* GET /metrics figures (cc_metrics.h); from attach on */
    struct cc_fold *fold;           /* credits what POST /stats queued (cc_fold.h); from attach on */
    struct client_pool *peers;      /* calls to SCVs (cc_peer) */
    struct server_job_limit logins; /* Argon2 jobs queued or running */
    cc_survey *survey;              /* the dashboard's figures (cc_dashboard.h) */
    cc_history *history;            /* kept in <data folder>/CC_HISTORY_FILE */
    long history_saved;             /* the minute of the last save (survey ticker only) */
} cc_service;

#define CC_HISTORY_FILE "dashboard-history.json.gz"

cc_service *cc_service_create(const struct config *cfg, char *err, size_t errlen);
int cc_service_attach(cc_service *svc, struct server *s, char *err, size_t errlen);
void cc_service_destroy(cc_service *svc);
/* Reloads the cache after a write, so the next request sees the change (a
 * failure is logged; the change-counter poll catches up). Worker threads. */
void cc_service_refresh(cc_service *svc);

/* Route tables of the handler modules; 0 or -1. */
int cc_users_routes(struct server *s, cc_service *svc);
int cc_keys_routes(struct server *s);
int cc_targets_routes(struct server *s);
int cc_scvs_routes(struct server *s);
int cc_assign_routes(struct server *s);
int cc_donors_routes(struct server *s);

/* Remakes the stats export when it is due (ticker body). */
void cc_donors_export_tick(void *svc);

/* One liveness round: queues a check of every known SCV and counts those
 * online and offline after the previous round for /metrics (ticker body). */
void cc_scvs_check_all(void *svc);

#endif
