/* scv_index_survey: the figures the index keeps for its metrics and for
 * GET /survey (streams by status, frames, errors, active cores by target
 * and engine), updated under the index's lock, and their reports
 * (scv_index_metrics, scv_index_survey; scv_index.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/metrics.h"
#include "scv/scv_index_int.h"

/* ---- metrics (under the lock) ------------------------------------------ */

void scv_index_count_stream(scv_index *ix, const scv_stream *st, int sign)
{
    struct target_figures *f = &st->target->fig;
    f->by_status[st->status] += sign;
    f->frames += sign * st->frames;
    f->with_errors += sign * (st->error_count > 0);
    ix->by_status[st->status] += (size_t)sign;
    if (sign > 0)
        metrics_inc(ix->status_gauges[st->status]);
    else
        metrics_sub(ix->status_gauges[st->status], 1);
}

int scv_index_engine_slot(scv_index *ix, struct scv_target *t, const char *engine)
{
    for (size_t i = 0; i < t->ncores; i++)
        if (strcmp(t->cores[i].engine, engine) == 0)
            return (int)i;
    struct engine_cores *grown = realloc(t->cores, (t->ncores + 1) * sizeof *grown);
    if (grown == NULL)
        return -1;
    t->cores = grown;
    struct engine_cores *c = &t->cores[t->ncores];
    snprintf(c->engine, sizeof c->engine, "%s", engine);
    c->active = 0;
    c->series =
        ix->active_family != NULL ? metrics_series(ix->active_family, (const char *[]){t->id, engine}) : NULL;
    return (int)t->ncores++;
}

void scv_index_count_core(scv_stream *st, int delta)
{
    if (st->engine_slot < 0)
        return;
    struct engine_cores *c = &st->target->cores[st->engine_slot];
    c->active += delta;
    if (delta > 0)
        metrics_inc(c->series);
    else
        metrics_sub(c->series, 1);
}

void scv_index_metrics(scv_index *ix, struct metrics *m)
{
    static const char *const status_names[] = {"ok", "stopped"};
    struct metrics_family *streams = metrics_family(
        m, &(struct metrics_spec){.type = METRICS_GAUGE,
                                  .name = "siegetank_scv_streams",
                                  .help = "Streams on this SCV by status (ok: may be assigned; stopped).",
                                  .labels = {"status"}});
    struct metrics_family *active = metrics_family(
        m, &(struct metrics_spec){.type = METRICS_GAUGE,
                                  .name = "siegetank_scv_active_cores",
                                  .help = "Cores holding a stream of this SCV now, by target and engine.",
                                  .labels = {"target", "engine"}});
    pthread_mutex_lock(&ix->lock);
    for (int i = 0; i < 2; i++) {
        ix->status_gauges[i] = metrics_series(streams, (const char *[]){status_names[i]});
        metrics_add(ix->status_gauges[i], ix->by_status[i]);
    }
    ix->active_family = active;
    pthread_mutex_unlock(&ix->lock);
}

/* ---- GET /survey ------------------------------------------------------ */

/* A target's figures as copied under the lock; the JSON is built after. */
struct target_copy {
    char id[STREAM_STORE_TARGET_ID_MAX + 1];
    struct target_figures fig;
    size_t first_core, ncores; /* its entries in the copied cores */
};

static json_t *status_counts(const int64_t by_status[2])
{
    return json_pack("{s:I, s:I}", "ok", (json_int_t)by_status[SCV_STREAM_OK], "stopped",
                     (json_int_t)by_status[SCV_STREAM_STOPPED]);
}

/* The figures of f and the cores as a JSON object; cores into engines too
 * (the SCV's totals) when not NULL. */
static json_t *figures_json(const struct target_figures *f, const struct engine_cores *cores, size_t n,
                            json_t *engines)
{
    json_t *by_engine = json_object();
    for (size_t i = 0; i < n; i++) {
        if (cores[i].active == 0)
            continue;
        json_object_set_new(by_engine, cores[i].engine, json_integer(cores[i].active));
        if (engines != NULL) {
            json_int_t had = json_integer_value(json_object_get(engines, cores[i].engine));
            json_object_set_new(engines, cores[i].engine, json_integer(had + cores[i].active));
        }
    }
    return json_pack("{s:o, s:I, s:I, s:I, s:o}", "streams", status_counts(f->by_status), "frames",
                     (json_int_t)f->frames, "frames_committed", (json_int_t)f->committed, "with_errors",
                     (json_int_t)f->with_errors, "active_cores", by_engine);
}

static size_t copy_targets(scv_index *ix, struct target_copy **tc, struct engine_cores **cores)
{
    size_t ncores = 0, n = 0, k = 0;
    for (const struct scv_target *t = ix->first; t != NULL; t = t->next)
        ncores += t->ncores;
    *tc = malloc((ix->ntargets + 1) * sizeof **tc);
    *cores = malloc((ncores + 1) * sizeof **cores);
    if (*tc == NULL || *cores == NULL)
        return 0;
    for (const struct scv_target *t = ix->first; t != NULL; t = t->next, n++) {
        struct target_copy *c = &(*tc)[n];
        memcpy(c->id, t->id, sizeof c->id);
        c->fig = t->fig;
        c->first_core = k;
        c->ncores = t->ncores;
        if (t->ncores > 0) /* else cores is NULL */
            memcpy(*cores + k, t->cores, t->ncores * sizeof *t->cores);
        k += t->ncores;
    }
    return n;
}

json_t *scv_index_survey(scv_index *ix)
{
    struct target_copy *tc = NULL;
    struct engine_cores *cores = NULL;
    struct target_figures all = {{0, 0}, 0, 0, 0};
    pthread_mutex_lock(&ix->lock);
    size_t n = copy_targets(ix, &tc, &cores);
    int copied = tc != NULL && cores != NULL;
    double started = ix->started;
    all.committed = ix->committed;
    pthread_mutex_unlock(&ix->lock);
    json_t *targets = json_object(), *engines = json_object(), *out = NULL;
    if (!copied || targets == NULL || engines == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct target_figures *f = &tc[i].fig;
        for (int s = 0; s < 2; s++)
            all.by_status[s] += f->by_status[s];
        all.frames += f->frames;
        all.with_errors += f->with_errors;
        json_object_set_new(targets, tc[i].id,
                            figures_json(f, cores + tc[i].first_core, tc[i].ncores, engines));
    }
    out = figures_json(&all, NULL, 0, NULL);
    json_object_set(out, "active_cores", engines);
    json_object_set(out, "targets", targets);
    json_object_set_new(out, "started", json_real(started));
out:
    json_decref(targets);
    json_decref(engines);
    free(tc);
    free(cores);
    return out;
}
