/* cc_survey: one request per SCV a round, then a frozen snapshot swapped in;
 * a target's stream rows asked on demand and kept briefly. */
#include "cc/cc_survey.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_peer.h"
#include "util/clock.h"
#include "util/log.h"

#define PATH_MAX_LEN (16 + CC_TARGET_ID_LEN)

struct cc_survey {
    pthread_mutex_t lock;
    json_t *snap; /* frozen; replaced whole */
    /* the stream rows of viewed targets: id -> {"mono", "reply"}; and the
     * targets whose rows are being asked for (id -> true), waited on with
     * rows_done */
    json_t *rows, *asking;
    pthread_cond_t rows_done;
    /* the ticker's thread only */
    double next_start; /* monotonic s: no round before this */
};

/* One round in progress. */
struct round {
    const cc_view *view;
    struct client_pool *peers;
    json_t *prev; /* the last published snapshot */
    json_t *scvs, *targets;
};

static json_t *empty_snapshot(void)
{
    return json_pack("{s:i, s:{}, s:{}}", "time", 0, "scvs", "targets");
}

cc_survey *cc_survey_new(void)
{
    cc_survey *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->snap = empty_snapshot();
    s->rows = json_object();
    s->asking = json_object();
    if (s->snap == NULL || s->rows == NULL || s->asking == NULL) {
        json_decref(s->snap);
        json_decref(s->rows);
        json_decref(s->asking);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->rows_done, NULL);
    return s;
}

void cc_survey_free(cc_survey *s)
{
    if (s == NULL)
        return;
    json_decref(s->snap);
    json_decref(s->rows);
    json_decref(s->asking);
    pthread_cond_destroy(&s->rows_done);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

json_t *cc_survey_get(cc_survey *s)
{
    pthread_mutex_lock(&s->lock);
    json_t *snap = json_incref(s->snap);
    pthread_mutex_unlock(&s->lock);
    return snap;
}

/* The JSON object GET path answered with 200 (asked with the SCV's secret),
 * else NULL, logged when loud (an SCV that keeps refusing, an older one
 * without the route, is said once, not every round). */
static json_t *peer_get(struct client_pool *peers, const cc_scv *scv, cc_health_rec *health, const char *path,
                        int loud)
{
    struct client_reply reply;
    struct client_error err;
    struct cc_peer_call call = {
        .pool = peers, .host = scv->host, .method = "GET", .path = path, .auth = scv->password};
    if (cc_peer_request(health, &call, &reply, NULL, &err) != 0) {
        if (loud)
            log_warn("dashboard survey: SCV '%s' unreachable: %s", scv->name, err.message);
        return NULL;
    }
    json_t *out = reply.status == 200 && json_is_object(reply.json) ? json_incref(reply.json) : NULL;
    if (out == NULL && loud)
        log_warn("dashboard survey: SCV '%s' answered %ld to GET %s", scv->name, reply.status, path);
    client_reply_free(&reply);
    return out;
}

static void add_int(json_t *obj, const char *key, json_int_t n)
{
    json_object_set_new(obj, key, json_integer(json_integer_value(json_object_get(obj, key)) + n));
}

static json_int_t int_of(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

/* The sum of an object's numbers ({"ok": 2, "stopped": 1}, {engine: n}). */
static json_int_t sum_of(const json_t *obj)
{
    const char *key;
    json_t *n;
    json_int_t sum = 0;
    json_object_foreach((json_t *)obj, key, n) sum += json_integer_value(n);
    return sum;
}

/* What one SCV holds of a target, from GET /survey's entry for it. */
static json_t *scv_target(const json_t *fig)
{
    json_t *engines = json_object_get(fig, "active_cores");
    return json_pack("{s:I, s:I, s:I, s:I, s:o}", "streams", sum_of(json_object_get(fig, "streams")),
                     "frames", int_of(fig, "frames"), "frames_committed", int_of(fig, "frames_committed"),
                     "active_cores", sum_of(engines), "engines",
                     json_is_object(engines) ? json_copy(engines) : json_object());
}

/* Adds what an SCV holds of a target to the round's target (made when
 * new), with its active cores unless carried (the SCV did not answer). */
static void add_to_target(struct round *r, const char *id, const json_t *seen, int carried)
{
    json_t *t = json_object_get(r->targets, id), *n;
    const char *engine;
    if (t == NULL) {
        t = json_pack("{s:i, s:i, s:i, s:{}}", "streams", 0, "frames", 0, "active_cores", 0, "engines");
        json_object_set_new(r->targets, id, t);
    }
    add_int(t, "streams", int_of(seen, "streams"));
    add_int(t, "frames", int_of(seen, "frames"));
    if (carried)
        return;
    add_int(t, "active_cores", int_of(seen, "active_cores"));
    json_object_foreach(json_object_get(seen, "engines"), engine, n)
        add_int(json_object_get(t, "engines"), engine, json_integer_value(n));
}

/* The SCV's figures from its GET /survey reply. */
static void take(struct round *r, const cc_scv *scv, const json_t *reply)
{
    json_t *targets = json_object(), *fig;
    const char *id;
    json_object_foreach(json_object_get(reply, "targets"), id, fig)
    {
        json_t *seen = scv_target(fig);
        if (cc_view_target(r->view, id) != NULL)
            add_to_target(r, id, seen, 0);
        json_object_set_new(targets, id, seen);
    }
    json_object_set_new(r->scvs, scv->name,
                        json_pack("{s:b, s:b, s:I, s:I, s:O?, s:I, s:o}", "online", 1, "reachable", 1,
                                  "streams", sum_of(json_object_get(reply, "streams")), "active_cores",
                                  sum_of(json_object_get(reply, "active_cores")), "started",
                                  json_object_get(reply, "started"), "frames_committed",
                                  int_of(reply, "frames_committed"), "targets", targets));
}

/* An SCV that did not answer: its streams and frames as the last round saw
 * them, no active cores. */
static void carry(struct round *r, const cc_scv *scv, int online)
{
    const json_t *old = json_object_get(json_object_get(r->prev, "scvs"), scv->name);
    json_t *targets = json_object_get(old, "targets"), *seen;
    const char *id;
    json_object_foreach(targets, id, seen)
    {
        if (cc_view_target(r->view, id) != NULL)
            add_to_target(r, id, seen, 1);
    }
    json_object_set_new(r->scvs, scv->name,
                        json_pack("{s:b, s:b, s:I, s:i, s:O?, s:I, s:o}", "online", online, "reachable", 0,
                                  "streams", int_of(old, "streams"), "active_cores", 0, "started",
                                  json_object_get(old, "started"), "frames_committed",
                                  int_of(old, "frames_committed"), "targets",
                                  targets != NULL ? json_incref(targets) : json_object()));
}

static void survey_scv(struct round *r, const cc_scv *scv, cc_health_rec *health)
{
    if (!cc_health_online(health)) {
        carry(r, scv, 0);
        return;
    }
    const json_t *last = json_object_get(json_object_get(r->prev, "scvs"), scv->name);
    int loud = last == NULL || json_is_true(json_object_get(last, "reachable"));
    json_t *reply = peer_get(r->peers, scv, health, "/survey", loud);
    if (reply == NULL)
        carry(r, scv, 1);
    else
        take(r, scv, reply);
    json_decref(reply);
}

/* How much a frames_committed counter grew since the last round: all of it
 * when the SCV restarted since (its counters began again at 0), nothing
 * when the last round did not reach it (a first sighting), never less than
 * nothing (a target whose streams there were all deleted starts again). */
static json_int_t grown(const json_t *old_scv, const json_t *scv, const json_t *old, const json_t *now)
{
    if (!json_is_true(json_object_get(old_scv, "reachable")) ||
        !json_is_true(json_object_get(scv, "reachable")))
        return 0;
    json_int_t after = int_of(now, "frames_committed");
    if (!json_equal(json_object_get(old_scv, "started"), json_object_get(scv, "started")))
        return after;
    json_int_t before = int_of(old, "frames_committed");
    return after > before ? after - before : 0;
}

struct points {
    struct cc_history_point *v;
    char (*keys)[sizeof CC_HISTORY_SCV_PREFIX + CC_SCV_NAME_MAX];
    size_t n;
};

/* Frames committed per target of the view since the last round, into
 * frames ({id: n}); returns the SCV's, all targets'. */
static json_int_t scv_frames(const struct round *r, const char *name, const json_t *scv, json_t *frames)
{
    const json_t *old_scv = json_object_get(json_object_get(r->prev, "scvs"), name);
    const json_t *old_targets = json_object_get(old_scv, "targets");
    const char *id;
    json_t *now;
    json_object_foreach(json_object_get(scv, "targets"), id, now)
    {
        if (cc_view_target(r->view, id) != NULL)
            add_int(frames, id, grown(old_scv, scv, json_object_get(old_targets, id), now));
    }
    return grown(old_scv, scv, old_scv, scv);
}

/* The history's points: the system, each target, each SCV. */
static void feed_history(const struct round *r, cc_history *history, double now)
{
    size_t cap = json_object_size(r->targets) + json_object_size(r->scvs) + 1;
    struct points p = {calloc(cap, sizeof *p.v), calloc(cap, sizeof *p.keys), 0};
    json_t *frames = json_object(), *t, *scv;
    const char *id, *name;
    int64_t all_frames = 0, all_cores = 0;
    if (p.v == NULL || p.keys == NULL || frames == NULL)
        goto out;
    json_object_foreach(r->scvs, name, scv)
    {
        int64_t gained = scv_frames(r, name, scv, frames), cores = int_of(scv, "active_cores");
        snprintf(p.keys[p.n], sizeof p.keys[p.n], "%s%s", CC_HISTORY_SCV_PREFIX, name);
        p.v[p.n] = (struct cc_history_point){p.keys[p.n], gained, cores};
        p.n++;
        all_frames += gained;
        all_cores += cores;
    }
    json_object_foreach(r->targets, id, t) p.v[p.n++] =
        (struct cc_history_point){id, int_of(frames, id), int_of(t, "active_cores")};
    p.v[p.n++] = (struct cc_history_point){"", all_frames, all_cores};
    cc_history_sample(history, now, p.v, p.n);
out:
    json_decref(frames);
    free(p.v);
    free(p.keys);
}

/* Forgets rows older than CC_SURVEY_ROWS_MS (lock held). */
static void drop_stale(cc_survey *s, double mono)
{
    const char *id;
    json_t *e, *tmp;
    json_object_foreach_safe(s->rows, tmp, id, e)
    {
        if (mono - json_real_value(json_object_get(e, "mono")) >= CC_SURVEY_ROWS_MS / 1000.0)
            json_object_del(s->rows, id);
    }
}

void cc_survey_run(cc_survey *s, const cc_view *view, struct client_pool *peers, cc_history *history)
{
    double start = clock_mono_s();
    if (start < s->next_start)
        return;
    struct round r = {view, peers, cc_survey_get(s), json_object(), json_object()};
    json_t *snap = json_pack("{s:O, s:O}", "scvs", r.scvs, "targets", r.targets);
    if (snap == NULL) {
        log_warn("dashboard survey: out of memory");
        goto out;
    }
    for (size_t i = 0; i < cc_view_scv_count(view); i++) {
        cc_health_rec *health = NULL;
        const cc_scv *scv = cc_view_scv_at(view, i, &health);
        survey_scv(&r, scv, health);
    }
    double took = clock_mono_s() - start;
    if (took * 1000 > CC_SURVEY_MS)
        log_warn("dashboard survey: a round over %zu SCVs took %.1f s; the next waits %.0f s",
                 cc_view_scv_count(view), took, CC_SURVEY_DUTY * took);
    /* The survey never takes more than a tenth of the time. */
    s->next_start = start + CC_SURVEY_DUTY * took;
    /* Stamped when it ends: any assignment that came before is in an
     * earlier or the same minute. */
    double now = clock_wall_s();
    json_object_set_new(snap, "time", json_real(now));
    feed_history(&r, history, now);
    pthread_mutex_lock(&s->lock);
    json_t *old = s->snap;
    s->snap = snap;
    snap = old;
    drop_stale(s, clock_mono_s()); /* a viewed target's rows go when no longer fresh */
    pthread_mutex_unlock(&s->lock);
out:
    json_decref(snap);
    json_decref(r.prev);
    json_decref(r.scvs);
    json_decref(r.targets);
}

/* ---- a target's streams, on demand ------------------------------------ */

/* Asks each online shard of t for its rows of t. */
static json_t *ask_rows(const cc_view *view, struct client_pool *peers, const cc_target *t)
{
    char path[PATH_MAX_LEN];
    json_t *rows = json_array(), *row;
    size_t j;
    if (rows == NULL)
        return NULL;
    snprintf(path, sizeof path, "/survey/%s", t->id);
    for (size_t i = 0; i < t->n_shards; i++) {
        cc_health_rec *health = NULL;
        const cc_scv *scv = cc_view_scv(view, t->shards[i], &health);
        if (scv == NULL || !cc_health_online(health))
            continue;
        json_t *reply = peer_get(peers, scv, health, path, 1);
        json_array_foreach(json_object_get(reply, "streams"), j, row)
        {
            if (json_is_string(json_object_get(row, "id")))
                json_array_append_new(rows, json_pack("{s:O, s:s, s:O?, s:O?, s:O?, s:O?}", "id",
                                                      json_object_get(row, "id"), "scv", scv->name, "frames",
                                                      json_object_get(row, "frames"), "status",
                                                      json_object_get(row, "status"), "error_count",
                                                      json_object_get(row, "error_count"), "active",
                                                      json_object_get(row, "active")));
        }
        json_decref(reply);
    }
    return json_pack("{s:f, s:o}", "time", clock_wall_s(), "streams", rows);
}

json_t *cc_survey_streams(cc_survey *s, const cc_view *view, struct client_pool *peers, const cc_target *t)
{
    json_t *out = NULL;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        drop_stale(s, clock_mono_s());
        json_t *e = json_object_get(s->rows, t->id);
        if (e != NULL) {
            out = json_incref(json_object_get(e, "reply"));
            break;
        }
        if (json_object_get(s->asking, t->id) == NULL) {
            json_object_set_new(s->asking, t->id, json_true());
            pthread_mutex_unlock(&s->lock);
            out = ask_rows(view, peers, t);
            pthread_mutex_lock(&s->lock);
            json_object_del(s->asking, t->id);
            if (out != NULL)
                json_object_set_new(s->rows, t->id,
                                    json_pack("{s:f, s:O}", "mono", clock_mono_s(), "reply", out));
            pthread_cond_broadcast(&s->rows_done);
            break;
        }
        pthread_cond_wait(&s->rows_done, &s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return out;
}
