/* scv_metrics: the SCV's own figures on GET /metrics (docs/operations.md),
 * beside the runtime's (http_metrics.h) and the index's (scv_index_metrics):
 *   siegetank_scv_frames_committed_total, siegetank_scv_bytes_committed_total
 *   siegetank_scv_checkpoint_duration_seconds (histogram of commits)
 *   siegetank_scv_expiries_total          core tokens that timed out
 *   siegetank_scv_store_errors_total      disk or database failures
 *   siegetank_scv_outbox_fragments, siegetank_scv_outbox_oldest_age_seconds
 *   siegetank_scv_disk_free_bytes         of the data folder's file system
 * Every call is a few relaxed atomic operations (metrics.h); a NULL
 * scv_metrics is accepted and counts nothing. */
#ifndef ST_SCV_METRICS_H
#define ST_SCV_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/metrics.h"

struct scv_metrics;

/* NULL when out of memory. data_folder is copied. */
struct scv_metrics *scv_metrics_new(struct metrics *m, const char *data_folder);
void scv_metrics_free(struct scv_metrics *sm);

/* A checkpoint committed frames (bytes of frame data) in elapsed_ns. */
void scv_metrics_checkpoint(struct scv_metrics *sm, int64_t frames, uint64_t bytes, uint64_t elapsed_ns);
void scv_metrics_expired(struct scv_metrics *sm, size_t n);
void scv_metrics_store_error(struct scv_metrics *sm);
/* The stats outbox as the shipping ticker last saw it: fragments waiting
 * and the age of the oldest (0 when empty). */
void scv_metrics_outbox(struct scv_metrics *sm, size_t fragments, double oldest_age_s);

#endif
