/* cc_metrics: the Command Center's own figures on GET /metrics
 * (docs/operations.md), beside the runtime's (http_metrics.h):
 *   siegetank_cc_assignments_total{outcome}, siegetank_cc_assignment_duration_seconds
 *   siegetank_cc_scvs{state="online"|"offline"} as of the last liveness round
 *   siegetank_cc_argon2_in_flight        password hashes queued or running
 *   siegetank_cc_cache_age_seconds, siegetank_cc_cache_refresh_duration_seconds
 *   siegetank_cc_database_errors_total
 *   siegetank_cc_credit_pending, siegetank_cc_credit_folded_total,
 *   siegetank_cc_credit_fold_duration_seconds (the folder's, cc_fold.h)
 * Updates are relaxed atomic operations (metrics.h); the collector reads
 * atomics only, so a scrape waits for no lock an assignment takes. A NULL
 * cc_metrics is accepted and counts nothing. */
#ifndef ST_CC_METRICS_H
#define ST_CC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/metrics.h"

struct cc_service;

typedef enum cc_assign_outcome {
    CC_ASSIGN_OK,
    CC_ASSIGN_NO_STREAMS,         /* no target with shards, or no SCV had a free stream */
    CC_ASSIGN_BAD_KEY,            /* missing or unknown engine key */
    CC_ASSIGN_ENGINE_NOT_ALLOWED, /* the named target does not take the key's engine */
    CC_ASSIGN_SCV_UNREACHABLE,    /* no stream, and some shard's SCV could not be reached */
    CC_ASSIGN_BAD_REQUEST,        /* malformed body, unknown target, bad donor token */
    CC_ASSIGN_UNAVAILABLE,        /* out of memory or the database is down */
    CC_ASSIGN_OUTCOMES
} cc_assign_outcome;

struct cc_metrics;

/* NULL when out of memory. svc's figures are read on each scrape. */
struct cc_metrics *cc_metrics_new(struct metrics *m, struct cc_service *svc);
void cc_metrics_free(struct cc_metrics *cm);

/* An assignment was answered elapsed_ns after it arrived. */
void cc_metrics_assign(struct cc_metrics *cm, cc_assign_outcome outcome, uint64_t elapsed_ns);
/* The SCVs counted by a liveness round. */
void cc_metrics_scvs(struct cc_metrics *cm, size_t online, size_t offline);

#endif
