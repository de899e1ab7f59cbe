#include "scv/scv_metrics.h"

#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

struct scv_metrics {
    char *data_folder;
    struct metrics_series *frames, *bytes, *checkpoint, *expiries, *store_errors;
    struct metrics_series *outbox, *outbox_age_ms, *disk_free;
};

static struct metrics_series *plain(struct metrics *m, enum metrics_type type, const char *name,
                                    const char *help, double scale)
{
    struct metrics_spec spec = {.type = type, .name = name, .help = help, .scale = scale};
    if (type == METRICS_HISTOGRAM) {
        spec.bounds = metrics_latency_ns;
        spec.nbounds = METRICS_LATENCY_BOUNDS;
    }
    return metrics_series(metrics_family(m, &spec), NULL);
}

/* statvfs on each scrape: a scrape runs on a worker (server.h), and the
 * figure is then never stale. */
static void collect_disk(void *arg)
{
    struct scv_metrics *sm = arg;
    struct statvfs fs;
    if (statvfs(sm->data_folder, &fs) == 0)
        metrics_set(sm->disk_free, (int64_t)((uint64_t)fs.f_bavail * fs.f_frsize));
}

struct scv_metrics *scv_metrics_new(struct metrics *m, const char *data_folder)
{
    struct scv_metrics *sm = calloc(1, sizeof *sm);
    if (sm == NULL || (sm->data_folder = strdup(data_folder)) == NULL) {
        free(sm);
        return NULL;
    }
    sm->frames = plain(m, METRICS_COUNTER, "siegetank_scv_frames_committed_total",
                       "Frames committed to streams (made durable by a checkpoint).", 1);
    sm->bytes = plain(m, METRICS_COUNTER, "siegetank_scv_bytes_committed_total",
                      "Bytes of frame files committed to streams.", 1);
    sm->checkpoint =
        plain(m, METRICS_HISTOGRAM, "siegetank_scv_checkpoint_duration_seconds",
              "Time to commit a checkpoint (frames, checkpoint files and credit made durable).", METRICS_NS);
    sm->expiries =
        plain(m, METRICS_COUNTER, "siegetank_scv_expiries_total",
              "Activations ended because the core stopped sending heartbeats before its token expired.", 1);
    sm->store_errors = plain(m, METRICS_COUNTER, "siegetank_scv_store_errors_total",
                             "Requests or background jobs that failed on the disk or the SCV's database.", 1);
    sm->outbox = plain(m, METRICS_GAUGE, "siegetank_scv_outbox_fragments",
                       "Stats fragments waiting in the durable outbox to be sent to the CC.", 1);
    sm->outbox_age_ms = plain(m, METRICS_GAUGE, "siegetank_scv_outbox_oldest_age_seconds",
                              "Age of the oldest fragment waiting in the outbox (0 when it is empty).", 1000);
    sm->disk_free = plain(m, METRICS_GAUGE, "siegetank_scv_disk_free_bytes",
                          "Bytes available to the SCV on the file system of its data folder.", 1);
    if (metrics_on_scrape(m, collect_disk, sm) != 0) {
        scv_metrics_free(sm);
        return NULL;
    }
    return sm;
}

void scv_metrics_free(struct scv_metrics *sm)
{
    if (sm == NULL)
        return;
    free(sm->data_folder);
    free(sm);
}

void scv_metrics_checkpoint(struct scv_metrics *sm, int64_t frames, uint64_t bytes, uint64_t elapsed_ns)
{
    if (sm == NULL)
        return;
    metrics_add(sm->frames, frames > 0 ? (uint64_t)frames : 0);
    metrics_add(sm->bytes, bytes);
    metrics_observe(sm->checkpoint, elapsed_ns);
}

void scv_metrics_expired(struct scv_metrics *sm, size_t n)
{
    if (sm != NULL)
        metrics_add(sm->expiries, n);
}

void scv_metrics_store_error(struct scv_metrics *sm)
{
    if (sm != NULL)
        metrics_inc(sm->store_errors);
}

void scv_metrics_outbox(struct scv_metrics *sm, size_t fragments, double oldest_age_s)
{
    if (sm == NULL)
        return;
    metrics_set(sm->outbox, (int64_t)fragments);
    metrics_set(sm->outbox_age_ms, (int64_t)(oldest_age_s * 1000));
}
