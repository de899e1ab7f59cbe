/* cc_survey: one round asks every SCV, then swaps in a frozen snapshot. */
#include "cc/cc_survey.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_peer.h"
#include "util/clock.h"
#include "util/log.h"

#define PATH_MAX_LEN (64 + CC_ID_MAX)

struct cc_survey {
    pthread_mutex_t lock;
    json_t *snap; /* frozen; replaced whole */
    /* the ticker's thread only */
    double next_start; /* monotonic s: no round before this */
    double last_full;  /* monotonic s of the last full round; 0: none yet */
};

/* One round in progress. */
struct round {
    const cc_view *view;
    struct client_pool *peers;
    json_t *prev; /* the last published snapshot */
    json_t *scvs, *targets;
    int full; /* list every target's streams and ask after each one */
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
    if (s->snap == NULL) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

void cc_survey_free(cc_survey *s)
{
    if (s == NULL)
        return;
    json_decref(s->snap);
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

/* Ids that came from an SCV go into a path as they are: allow only what
 * stream ids are made of (a uuid4, ':' and an SCV name). */
static int id_ok(const char *id)
{
    size_t n = strlen(id);
    return n > 0 && n <= CC_ID_MAX &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789:._-") == n;
}

/* The JSON object GET path answered with 200, else NULL; *reached = 0 when
 * the SCV could not be reached at all. */
static json_t *peer_get(const struct round *r, const cc_scv *scv, cc_health_rec *health, const char *path,
                        int *reached)
{
    struct client_reply reply;
    struct client_error err;
    struct cc_peer_call call = {.pool = r->peers, .host = scv->host, .method = "GET", .path = path};
    if (cc_peer_request(health, &call, &reply, NULL, &err) != 0) {
        *reached = 0;
        return NULL;
    }
    json_t *out = reply.status == 200 && json_is_object(reply.json) ? json_incref(reply.json) : NULL;
    client_reply_free(&reply);
    return out;
}

/* The round's entry of target id, made when new. */
static json_t *target_entry(struct round *r, const char *id)
{
    json_t *t = json_object_get(r->targets, id);
    if (t == NULL) {
        t = json_pack("{s:{}, s:i, s:{}}", "streams", "active_cores", 0, "engines");
        json_object_set_new(r->targets, id, t);
    }
    return t;
}

static void add_int(json_t *obj, const char *key, json_int_t n)
{
    json_object_set_new(obj, key, json_integer(json_integer_value(json_object_get(obj, key)) + n));
}

/* Active cores from GET /active_streams: per target and engine; returns the
 * SCV's total. */
static json_int_t count_active(struct round *r, const json_t *active)
{
    const char *target_id, *stream_id;
    json_t *streams, *info;
    json_int_t total = 0;
    json_object_foreach((json_t *)active, target_id, streams)
    {
        if (cc_view_target(r->view, target_id) == NULL || !json_is_object(streams))
            continue;
        json_t *t = target_entry(r, target_id);
        json_object_foreach(streams, stream_id, info)
        {
            const char *engine = json_string_value(json_object_get(info, "engine"));
            add_int(t, "active_cores", 1);
            add_int(json_object_get(t, "engines"), engine != NULL ? engine : "", 1);
            total++;
        }
    }
    return total;
}

/* Asks the SCV after stream id and keeps its info in the round (or drops
 * the stream when the SCV no longer has it). */
static void refresh_stream(struct round *r, const cc_scv *scv, cc_health_rec *health, json_t *mine,
                           const char *id, int *reached)
{
    char path[PATH_MAX_LEN];
    if (!*reached || !id_ok(id))
        return;
    snprintf(path, sizeof path, "/streams/info/%s", id);
    json_t *info = peer_get(r, scv, health, path, reached);
    if (info == NULL) {
        if (*reached)
            json_object_del(mine, id); /* deleted since it was listed */
        return;
    }
    json_object_set_new(mine, id,
                        json_pack("{s:O?, s:O?, s:O?, s:O?}", "frames", json_object_get(info, "frames"),
                                  "status", json_object_get(info, "status"), "error_count",
                                  json_object_get(info, "error_count"), "active",
                                  json_object_get(info, "active")));
    json_decref(info);
}

/* Whether stream id lives on the SCV named scv ("<uuid>:<scv>"). */
static int on_scv(const char *id, const char *scv)
{
    const char *colon = strchr(id, ':');
    return colon != NULL && strcmp(colon + 1, scv) == 0;
}

/* The last round's streams of target id on the SCV named scv into mine;
 * returns how many. */
static size_t keep_last(const struct round *r, const char *id, const char *scv, json_t *mine)
{
    const char *stream_id;
    json_t *info;
    size_t n = 0;
    json_object_foreach(json_object_get(json_object_get(json_object_get(r->prev, "targets"), id), "streams"),
                        stream_id, info)
    {
        if (on_scv(stream_id, scv)) {
            json_object_set(mine, stream_id, info);
            n++;
        }
    }
    return n;
}

/* The target's streams on this SCV with their info. A full round lists
 * them and asks after each; a quick one keeps the last round's and asks
 * only after those a core holds now (active_here, from /active_streams) or
 * held then, since only they gain frames (a target new here is listed).
 * Returns how many streams the target has here. */
static json_int_t survey_target(struct round *r, const cc_scv *scv, cc_health_rec *health, const cc_target *t,
                                const json_t *active_here, int full, int *reached)
{
    char path[PATH_MAX_LEN];
    json_t *mine = json_object_get(target_entry(r, t->id), "streams"), *id, *info;
    const char *sid;
    size_t i;
    if (!full && keep_last(r, t->id, scv->name, mine) > 0) {
        json_t *ask = json_object();
        json_object_foreach(mine, sid, info)
        {
            if (on_scv(sid, scv->name) && json_is_true(json_object_get(info, "active")))
                json_object_set_new(ask, sid, json_true());
        }
        json_object_foreach((json_t *)active_here, sid, info) json_object_set_new(ask, sid, json_true());
        json_object_foreach(ask, sid, info) refresh_stream(r, scv, health, mine, sid, reached);
        json_decref(ask);
    } else {
        snprintf(path, sizeof path, "/targets/streams/%s", t->id);
        json_t *list = peer_get(r, scv, health, path, reached);
        json_array_foreach(json_object_get(list, "streams"), i, id)
        {
            if (json_is_string(id))
                refresh_stream(r, scv, health, mine, json_string_value(id), reached);
        }
        json_decref(list);
    }
    json_int_t n = 0;
    json_object_foreach(mine, sid, info) n += on_scv(sid, scv->name);
    return n;
}

static int has_shard(const cc_target *t, const char *scv)
{
    for (size_t i = 0; i < t->n_shards; i++)
        if (strcmp(t->shards[i], scv) == 0)
            return 1;
    return 0;
}

/* An SCV that did not answer: what the last round saw of it stays. */
static void carry(struct round *r, const cc_scv *scv, int online)
{
    const json_t *old = json_object_get(json_object_get(r->prev, "scvs"), scv->name);
    const char *target_id;
    json_t *t;
    json_object_foreach(json_object_get(r->prev, "targets"), target_id, t)
    {
        if (cc_view_target(r->view, target_id) != NULL)
            keep_last(r, target_id, scv->name, json_object_get(target_entry(r, target_id), "streams"));
    }
    json_object_set_new(r->scvs, scv->name,
                        json_pack("{s:b, s:b, s:I, s:i}", "online", online, "reachable", 0, "streams",
                                  json_integer_value(json_object_get(old, "streams")), "active_cores", 0));
}

static void survey_scv(struct round *r, const cc_scv *scv, cc_health_rec *health)
{
    int reached = 1;
    if (!cc_health_online(health)) {
        carry(r, scv, 0);
        return;
    }
    /* An SCV back from being unreachable is listed afresh. */
    const json_t *last = json_object_get(json_object_get(r->prev, "scvs"), scv->name);
    int full = r->full || !json_is_true(json_object_get(last, "reachable"));
    json_t *active = peer_get(r, scv, health, "/active_streams", &reached);
    json_int_t streams = 0;
    for (size_t i = 0; reached && i < cc_view_target_count(r->view); i++) {
        const cc_target *t = cc_view_target_at(r->view, i);
        if (has_shard(t, scv->name))
            streams += survey_target(r, scv, health, t, json_object_get(active, t->id), full, &reached);
    }
    if (!reached) {
        /* Drop what this round half-gathered, then keep the last round's. */
        const char *target_id;
        json_t *t;
        json_object_foreach(r->targets, target_id, t)
        {
            const char *stream_id;
            json_t *info, *tmp;
            json_object_foreach_safe(json_object_get(t, "streams"), tmp, stream_id, info)
            {
                if (on_scv(stream_id, scv->name))
                    json_object_del(json_object_get(t, "streams"), stream_id);
            }
        }
        json_decref(active);
        carry(r, scv, 1);
        return;
    }
    json_int_t cores = count_active(r, active);
    json_decref(active);
    json_object_set_new(r->scvs, scv->name,
                        json_pack("{s:b, s:b, s:I, s:I}", "online", 1, "reachable", 1, "streams",
                                  (json_int_t)streams, "active_cores", cores));
}

/* Frames committed since the last round: what each stream gained, counted
 * only where the last round saw its SCV answer (else it is a first sight). */
static json_int_t gained(const struct round *r, const char *target_id, const char *stream_id,
                         const json_t *info)
{
    const char *colon = strchr(stream_id, ':');
    const json_t *old_scv = colon ? json_object_get(json_object_get(r->prev, "scvs"), colon + 1) : NULL;
    if (!json_is_true(json_object_get(old_scv, "reachable")))
        return 0;
    const json_t *old = json_object_get(
        json_object_get(json_object_get(json_object_get(r->prev, "targets"), target_id), "streams"),
        stream_id);
    json_int_t before = json_integer_value(json_object_get(old, "frames"));
    json_int_t now = json_integer_value(json_object_get(info, "frames"));
    return now > before ? now - before : 0;
}

struct points {
    struct cc_history_point *v;
    char (*keys)[sizeof CC_HISTORY_SCV_PREFIX + CC_SCV_NAME_MAX];
    size_t n;
};

/* The history's points: the system, each target, each SCV. */
static void feed_history(const struct round *r, cc_history *history, double now)
{
    size_t cap = json_object_size(r->targets) + json_object_size(r->scvs) + 1;
    struct points p = {calloc(cap, sizeof *p.v), calloc(cap, sizeof *p.keys), 0};
    json_t *per_scv = json_object(), *t, *info, *scv;
    const char *target_id, *stream_id, *name;
    int64_t all_frames = 0, all_cores = 0;
    if (p.v == NULL || p.keys == NULL || per_scv == NULL)
        goto out;
    json_object_foreach(r->targets, target_id, t)
    {
        int64_t frames = 0;
        json_object_foreach(json_object_get(t, "streams"), stream_id, info)
        {
            const char *colon = strchr(stream_id, ':');
            json_int_t g = gained(r, target_id, stream_id, info);
            frames += g;
            if (colon != NULL)
                add_int(per_scv, colon + 1, g);
        }
        int64_t cores = json_integer_value(json_object_get(t, "active_cores"));
        p.v[p.n++] = (struct cc_history_point){target_id, frames, cores};
        all_frames += frames;
        all_cores += cores;
    }
    json_object_foreach(r->scvs, name, scv)
    {
        snprintf(p.keys[p.n], sizeof p.keys[p.n], "%s%s", CC_HISTORY_SCV_PREFIX, name);
        p.v[p.n] = (struct cc_history_point){p.keys[p.n], json_integer_value(json_object_get(per_scv, name)),
                                             json_integer_value(json_object_get(scv, "active_cores"))};
        p.n++;
    }
    p.v[p.n++] = (struct cc_history_point){"", all_frames, all_cores};
    cc_history_sample(history, now, p.v, p.n);
out:
    json_decref(per_scv);
    free(p.v);
    free(p.keys);
}

/* A round slower than its interval delays the dashboard's figures and the
 * history by as much: say so, with the number that drives its cost. */
static void warn_if_slow(const struct round *r, double seconds)
{
    const char *id;
    json_t *t;
    size_t streams = 0;
    if (seconds * 1000 <= CC_SURVEY_MS)
        return;
    json_object_foreach(r->targets, id, t) streams += json_object_size(json_object_get(t, "streams"));
    log_warn("dashboard survey: a %s round over %zu streams took %.1f s; the next waits %.0f s",
             r->full ? "full" : "quick", streams, seconds, CC_SURVEY_DUTY * seconds);
}

void cc_survey_run(cc_survey *s, const cc_view *view, struct client_pool *peers, cc_history *history)
{
    double start = clock_mono_s();
    if (start < s->next_start)
        return;
    int full = s->last_full == 0 || start - s->last_full >= CC_SURVEY_FULL_MS / 1000.0;
    struct round r = {view, peers, cc_survey_get(s), json_object(), json_object(), full};
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
    warn_if_slow(&r, took);
    /* The survey never takes more than a tenth of the time. */
    s->next_start = start + CC_SURVEY_DUTY * took;
    if (full)
        s->last_full = start;
    /* Stamped when it ends: any assignment that came before is in an
     * earlier or the same minute. */
    double now = clock_wall_s();
    json_object_set_new(snap, "time", json_real(now));
    feed_history(&r, history, now);
    pthread_mutex_lock(&s->lock);
    json_t *old = s->snap;
    s->snap = snap;
    snap = old;
    pthread_mutex_unlock(&s->lock);
out:
    json_decref(snap);
    json_decref(r.prev);
    json_decref(r.scvs);
    json_decref(r.targets);
}
