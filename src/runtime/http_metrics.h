/* http_metrics: the server runtime's own figures on GET /metrics, common to
 * the CC and the SCV:
 *   siegetank_info{service,name,version}           1
 *   process_start_time_seconds
 *   siegetank_http_requests_total{method,route,code}
 *   siegetank_http_request_duration_seconds{method,route} (histogram)
 *   siegetank_http_open_connections, siegetank_http_max_connections
 * Requests are labelled by route pattern (router.h), never by raw path, so
 * ids cannot grow the label space; a request that matched no route is
 * method="any", route="unmatched"; code="0" is a request the client left
 * before it was answered. Recording a request costs a few relaxed atomic
 * adds on the loop thread's shard (metrics.h). */
#ifndef ST_HTTP_METRICS_H
#define ST_HTTP_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "runtime/metrics.h"
#include "runtime/router.h"

struct http_metrics;

struct http_metrics_info {
    const char *service; /* "cc" or "scv" */
    const char *name;    /* the daemon's configured name */
    const char *version;
    const struct router *router;    /* read when a route is first counted */
    const atomic_long *connections; /* read on every scrape */
    const long *max_connections;
};

/* Registers the families in m. NULL when out of memory. */
struct http_metrics *http_metrics_new(struct metrics *m, const struct http_metrics_info *info);
void http_metrics_free(struct http_metrics *hm);

/* A request ended after elapsed_ns: route is router_params.route of its
 * match, or -1 when it matched none; status is what was answered (0: none). */
void http_metrics_request(struct http_metrics *hm, int route, int status, uint64_t elapsed_ns);

#endif
