#include "cc/cc_metrics.h"

#include <stdlib.h>

#include "cc/cc_fold.h"
#include "cc/cc_service.h"

static const char *const outcome_names[CC_ASSIGN_OUTCOMES] = {
    "ok", "no_streams", "bad_key", "engine_not_allowed", "scv_unreachable", "bad_request", "unavailable",
};

struct cc_metrics {
    struct cc_service *svc;
    struct metrics_series *outcomes[CC_ASSIGN_OUTCOMES];
    struct metrics_series *duration, *online, *offline, *argon2;
    struct metrics_series *cache_age_ms, *cache_load_us, *db_errors;
    struct metrics_series *pending, *folded, *fold_us;
};

/* Reads atomics only: the cache's freshness, the store's error count, the
 * login slots and the credit folder's figures. */
static void collect(void *arg)
{
    struct cc_metrics *cm = arg;
    double age, load;
    metrics_set(cm->argon2, atomic_load_explicit(&cm->svc->logins.used, memory_order_relaxed));
    cc_cache_freshness(cm->svc->cache, &age, &load);
    metrics_set(cm->cache_age_ms, (int64_t)(age * 1e3));
    metrics_set(cm->cache_load_us, (int64_t)(load * 1e6));
    metrics_set(cm->db_errors, (int64_t)cc_store_errors(cm->svc->store));
    cc_fold_figures fold = cc_fold_read(cm->svc->fold);
    metrics_set(cm->pending, fold.pending);
    metrics_set(cm->folded, fold.folded);
    metrics_set(cm->fold_us, (int64_t)(fold.last_s * 1e6));
}

struct cc_metrics *cc_metrics_new(struct metrics *m, struct cc_service *svc)
{
    struct cc_metrics *cm = calloc(1, sizeof *cm);
    if (cm == NULL)
        return NULL;
    cm->svc = svc;
    struct metrics_family *f =
        metrics_family(m, &(struct metrics_spec){.type = METRICS_COUNTER,
                                                 .name = "siegetank_cc_assignments_total",
                                                 .help = "POST /core/assign answers by outcome.",
                                                 .labels = {"outcome"}});
    for (int i = 0; i < CC_ASSIGN_OUTCOMES; i++)
        cm->outcomes[i] = metrics_series(f, (const char *[]){outcome_names[i]});
    f = metrics_family(
        m, &(struct metrics_spec){.type = METRICS_HISTOGRAM,
                                  .name = "siegetank_cc_assignment_duration_seconds",
                                  .help = "Time to answer POST /core/assign, SCV activation included.",
                                  .scale = METRICS_NS,
                                  .bounds = metrics_latency_ns,
                                  .nbounds = METRICS_LATENCY_BOUNDS});
    cm->duration = metrics_series(f, NULL);
    f = metrics_family(
        m, &(struct metrics_spec){.type = METRICS_GAUGE,
                                  .name = "siegetank_cc_scvs",
                                  .help = "Registered SCVs online or offline, as of the last liveness round.",
                                  .labels = {"state"}});
    cm->online = metrics_series(f, (const char *[]){"online"});
    cm->offline = metrics_series(f, (const char *[]){"offline"});
    f = metrics_family(m, &(struct metrics_spec){
                              .type = METRICS_GAUGE,
                              .name = "siegetank_cc_argon2_in_flight",
                              .help = "Password hashes (Argon2id, logins and sign-ups) queued or running."});
    cm->argon2 = metrics_series(f, NULL);
    f = metrics_family(
        m, &(struct metrics_spec){.type = METRICS_GAUGE,
                                  .name = "siegetank_cc_cache_age_seconds",
                                  .help = "Since the assignment cache was last known to match the database.",
                                  .scale = 1e3});
    cm->cache_age_ms = metrics_series(f, NULL);
    f = metrics_family(
        m, &(struct metrics_spec){.type = METRICS_GAUGE,
                                  .name = "siegetank_cc_cache_refresh_duration_seconds",
                                  .help = "How long the cache's last load from the database took.",
                                  .scale = 1e6});
    cm->cache_load_us = metrics_series(f, NULL);
    f = metrics_family(
        m, &(struct metrics_spec){.type = METRICS_COUNTER,
                                  .name = "siegetank_cc_database_errors_total",
                                  .help = "Store calls the database failed (unreachable, or an error)."});
    cm->db_errors = metrics_series(f, NULL);
    f = metrics_family(m, &(struct metrics_spec){
                              .type = METRICS_GAUGE,
                              .name = "siegetank_cc_credit_pending",
                              .help = "Fragments recorded by POST /stats and not yet credited to donors."});
    cm->pending = metrics_series(f, NULL);
    f = metrics_family(m, &(struct metrics_spec){.type = METRICS_COUNTER,
                                                 .name = "siegetank_cc_credit_folded_total",
                                                 .help = "Fragments this CC's folds credited to donors."});
    cm->folded = metrics_series(f, NULL);
    f = metrics_family(
        m, &(struct metrics_spec){.type = METRICS_GAUGE,
                                  .name = "siegetank_cc_credit_fold_duration_seconds",
                                  .help = "How long this CC's last fold of fragments into the credit took.",
                                  .scale = 1e6});
    cm->fold_us = metrics_series(f, NULL);
    if (metrics_on_scrape(m, collect, cm) != 0) {
        free(cm);
        return NULL;
    }
    return cm;
}

void cc_metrics_free(struct cc_metrics *cm)
{
    free(cm);
}

void cc_metrics_assign(struct cc_metrics *cm, cc_assign_outcome outcome, uint64_t elapsed_ns)
{
    if (cm == NULL)
        return;
    metrics_inc(cm->outcomes[outcome]);
    metrics_observe(cm->duration, elapsed_ns);
}

void cc_metrics_scvs(struct cc_metrics *cm, size_t online, size_t offline)
{
    if (cm == NULL)
        return;
    metrics_set(cm->online, (int64_t)online);
    metrics_set(cm->offline, (int64_t)offline);
}
