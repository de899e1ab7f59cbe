#include "runtime/http_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Statuses whose series are kept at hand per route; any other is looked up
 * in its family on each use (rare by construction). */
static const int cached_codes[] = {0,   200, 204, 206, 304, 400, 401, 403,
                                   404, 405, 408, 409, 413, 500, 502, 503};
#define NCODES ((int)(sizeof cached_codes / sizeof cached_codes[0]))
#define UNMATCHED ROUTER_MAX_ROUTES /* the slot of requests that matched no route */

struct http_metrics {
    struct http_metrics_info info;
    struct metrics_family *requests, *duration;
    struct metrics_series *open, *max;
    /* Made on first use from any loop thread; metrics_series returns the
     * same series to racing threads, so a lost store costs a lookup only. */
    _Atomic(struct metrics_series *) counts[ROUTER_MAX_ROUTES + 1][NCODES];
    _Atomic(struct metrics_series *) durations[ROUTER_MAX_ROUTES + 1];
};

static void collect_connections(void *arg)
{
    struct http_metrics *hm = arg;
    metrics_set(hm->open, atomic_load_explicit(hm->info.connections, memory_order_relaxed));
    metrics_set(hm->max, *hm->info.max_connections);
}

static void add_info(struct metrics *m, const struct http_metrics_info *info)
{
    struct metrics_family *f =
        metrics_family(m, &(struct metrics_spec){.type = METRICS_GAUGE,
                                                 .name = "siegetank_info",
                                                 .help = "Always 1; its labels say which daemon this is.",
                                                 .labels = {"service", "name", "version"}});
    metrics_set(metrics_series(f, (const char *[]){info->service, info->name, info->version}), 1);
    f = metrics_family(
        m, &(struct metrics_spec){.type = METRICS_GAUGE,
                                  .name = "process_start_time_seconds",
                                  .help = "When the daemon started, in seconds since the Unix epoch."});
    metrics_set(metrics_series(f, NULL), (int64_t)time(NULL));
}

struct http_metrics *http_metrics_new(struct metrics *m, const struct http_metrics_info *info)
{
    struct http_metrics *hm = calloc(1, sizeof *hm);
    if (hm == NULL)
        return NULL;
    hm->info = *info;
    add_info(m, info);
    hm->requests = metrics_family(
        m, &(struct metrics_spec){
               .type = METRICS_COUNTER,
               .name = "siegetank_http_requests_total",
               .help = "HTTP requests answered, by route pattern and status (0: the client left).",
               .labels = {"method", "route", "code"}});
    hm->duration = metrics_family(
        m,
        &(struct metrics_spec){.type = METRICS_HISTOGRAM,
                               .name = "siegetank_http_request_duration_seconds",
                               .help = "Time from a request's arrival to the end of its response, by route.",
                               .labels = {"method", "route"},
                               .scale = METRICS_NS,
                               .bounds = metrics_latency_ns,
                               .nbounds = METRICS_LATENCY_BOUNDS});
    struct metrics_family *open =
        metrics_family(m, &(struct metrics_spec){.type = METRICS_GAUGE,
                                                 .name = "siegetank_http_open_connections",
                                                 .help = "Client connections open now."});
    struct metrics_family *max = metrics_family(
        m, &(struct metrics_spec){.type = METRICS_GAUGE,
                                  .name = "siegetank_http_max_connections",
                                  .help = "Open connections past which new ones are closed at once."});
    hm->open = metrics_series(open, NULL);
    hm->max = metrics_series(max, NULL);
    if (metrics_on_scrape(m, collect_connections, hm) != 0) {
        free(hm);
        return NULL;
    }
    return hm;
}

void http_metrics_free(struct http_metrics *hm)
{
    free(hm);
}

static int code_slot(int status)
{
    for (int i = 0; i < NCODES; i++)
        if (cached_codes[i] == status)
            return i;
    return -1;
}

/* method and route labels of a route slot. */
static void route_labels(const struct http_metrics *hm, int slot, const char **method, const char **route)
{
    *method = "any";
    *route = "unmatched";
    if (slot != UNMATCHED) {
        *method = hm->info.router->routes[slot].method;
        *route = hm->info.router->routes[slot].pattern;
    }
}

static struct metrics_series *count_series(struct http_metrics *hm, int slot, int status)
{
    int c = code_slot(status);
    struct metrics_series *s =
        c >= 0 ? atomic_load_explicit(&hm->counts[slot][c], memory_order_acquire) : NULL;
    if (s != NULL)
        return s;
    const char *method, *route;
    char code[16];
    route_labels(hm, slot, &method, &route);
    snprintf(code, sizeof code, "%d", status);
    s = metrics_series(hm->requests, (const char *[]){method, route, code});
    if (c >= 0)
        atomic_store_explicit(&hm->counts[slot][c], s, memory_order_release);
    return s;
}

static struct metrics_series *duration_series(struct http_metrics *hm, int slot)
{
    struct metrics_series *s = atomic_load_explicit(&hm->durations[slot], memory_order_acquire);
    if (s != NULL)
        return s;
    const char *method, *route;
    route_labels(hm, slot, &method, &route);
    s = metrics_series(hm->duration, (const char *[]){method, route});
    atomic_store_explicit(&hm->durations[slot], s, memory_order_release);
    return s;
}

void http_metrics_request(struct http_metrics *hm, int route, int status, uint64_t elapsed_ns)
{
    if (hm == NULL)
        return;
    int slot = route >= 0 && route < hm->info.router->count ? route : UNMATCHED;
    metrics_inc(count_series(hm, slot, status));
    metrics_observe(duration_series(hm, slot), elapsed_ns);
}
