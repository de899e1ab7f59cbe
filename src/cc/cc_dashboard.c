/* cc_dashboard: the status routes, built from the survey and the history. */
#include "cc/cc_dashboard.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_access.h"
#include "cc/cc_service.h"
#include "util/clock.h"
#include "util/query.h"

/* The page's files, compiled in by cmake/st_embed.cmake (src/cc/dashboard/
 * and the Debian package libjs-dygraphs). Each array ends in a NUL its _len
 * does not count. */
extern const unsigned char cc_dashboard_index_html[], cc_dashboard_dashboard_js[],
    cc_dashboard_dashboard_css[], cc_dashboard_dygraph_min_js[], cc_dashboard_dygraph_min_css[];
extern const size_t cc_dashboard_index_html_len, cc_dashboard_dashboard_js_len,
    cc_dashboard_dashboard_css_len, cc_dashboard_dygraph_min_js_len, cc_dashboard_dygraph_min_css_len;

struct asset {
    const char *name;
    const char *type;
    const unsigned char *data;
    const size_t *len;
};

static const struct asset assets[] = {
    {"dashboard.js", "text/javascript; charset=utf-8", cc_dashboard_dashboard_js,
     &cc_dashboard_dashboard_js_len},
    {"dashboard.css", "text/css; charset=utf-8", cc_dashboard_dashboard_css, &cc_dashboard_dashboard_css_len},
    {"dygraph.min.js", "text/javascript; charset=utf-8", cc_dashboard_dygraph_min_js,
     &cc_dashboard_dygraph_min_js_len},
    {"dygraph.min.css", "text/css; charset=utf-8", cc_dashboard_dygraph_min_css,
     &cc_dashboard_dygraph_min_css_len},
};

/* The page may load only what this CC serves and talk only to it. */
#define CSP                                                                                                  \
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "        \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static void reply_static(h2o_req_t *req, const char *type, const unsigned char *data, size_t len)
{
    server_add_header(req, "Content-Security-Policy", CSP);
    server_add_header(req, "X-Content-Type-Options", "nosniff");
    server_add_header(req, "Referrer-Policy", "no-referrer");
    server_add_header(req, "Cache-Control", "no-cache");
    server_reply_static(req, type, data, len);
}

static void handle_page(struct server_request *r)
{
    reply_static(r->req, "text/html; charset=utf-8", cc_dashboard_index_html, cc_dashboard_index_html_len);
}

static void handle_asset(struct server_request *r)
{
    const char *name = r->params.values[0];
    for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++)
        if (strcmp(assets[i].name, name) == 0) {
            reply_static(r->req, assets[i].type, assets[i].data, *assets[i].len);
            return;
        }
    server_reply_error(r->req, 404, "no such dashboard file '%s'", name);
}

/* Who is looking: *signed_in = 0 without a token; -1 after failing the job
 * (a token that is not a manager's). */
static int viewer(struct server_job *job, cc_user *user, int *signed_in)
{
    *signed_in = job->auth != NULL;
    return *signed_in ? cc_access_manager(job, user) : 0;
}

static int visible(const cc_target *t, const cc_user *user, int signed_in)
{
    if (t->stage == CC_STAGE_PUBLIC)
        return 1;
    return signed_in && (user->role == CC_ROLE_ADMIN || strcmp(t->owner, user->name) == 0);
}

static json_t *strings(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* One target's row: its settings and what was seen of it (seen: the
 * survey's "streams", "frames" and "active_cores" of the target). */
static json_t *target_row(cc_service *svc, const cc_target *t, const json_t *seen, double now)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I}", "id", t->id, "owner", t->owner, "stage",
                     cc_stage_name(t->stage), "engines", strings(t->engines, t->n_engines), "streams",
                     json_integer_value(json_object_get(seen, "streams")), "frames",
                     json_integer_value(json_object_get(seen, "frames")), "active_cores",
                     json_integer_value(json_object_get(seen, "active_cores")), "frames_per_hour",
                     (json_int_t)cc_history_frames_last_hour(svc->history, t->id, now));
}

static json_t *scv_rows(cc_service *svc, const json_t *snap, double now, json_t *totals)
{
    json_t *rows = json_array(), *scv;
    const char *name;
    char key[sizeof CC_HISTORY_SCV_PREFIX + CC_SCV_NAME_MAX];
    json_int_t online = 0, streams = 0, cores = 0;
    json_object_foreach(json_object_get(snap, "scvs"), name, scv)
    {
        snprintf(key, sizeof key, "%s%s", CC_HISTORY_SCV_PREFIX, name);
        json_t *row = json_pack("{s:s, s:O, s:O, s:O, s:O, s:I}", "name", name, "online",
                                json_object_get(scv, "online"), "reachable",
                                json_object_get(scv, "reachable"), "streams", json_object_get(scv, "streams"),
                                "active_cores", json_object_get(scv, "active_cores"), "frames_per_hour",
                                (json_int_t)cc_history_frames_last_hour(svc->history, key, now));
        json_array_append_new(rows, row);
        online += json_is_true(json_object_get(scv, "online"));
        streams += json_integer_value(json_object_get(scv, "streams"));
        cores += json_integer_value(json_object_get(scv, "active_cores"));
    }
    json_object_set_new(totals, "scvs", json_integer((json_int_t)json_array_size(rows)));
    json_object_set_new(totals, "scvs_online", json_integer(online));
    json_object_set_new(totals, "streams", json_integer(streams));
    json_object_set_new(totals, "active_cores", json_integer(cores));
    json_object_set_new(totals, "frames_per_hour",
                        json_integer(cc_history_frames_last_hour(svc->history, "", now)));
    return rows;
}

/* by's entry for engine, made when new. */
static json_t *engine_entry(json_t *by, const char *engine)
{
    json_t *e = json_object_get(by, engine);
    if (e == NULL) {
        e = json_pack("{s:s, s:i, s:i}", "engine", engine, "targets", 0, "active_cores", 0);
        json_object_set_new(by, engine, e);
    }
    return e;
}

static void add_int(json_t *obj, const char *key, json_int_t n)
{
    json_object_set_new(obj, key, json_integer(json_integer_value(json_object_get(obj, key)) + n));
}

/* Engines: every one a shown target lists or any core runs, with the shown
 * targets listing it and the active cores running it (all targets). */
static json_t *engine_rows(const json_t *snap, const json_t *targets)
{
    json_t *by = json_object(), *t, *n, *rows = json_array(), *e;
    const char *id, *name;
    size_t i, j;
    json_object_foreach(json_object_get(snap, "targets"), id, t)
    {
        json_object_foreach(json_object_get(t, "engines"), name, n)
            add_int(engine_entry(by, name), "active_cores", json_integer_value(n));
    }
    json_array_foreach(targets, i, t)
    {
        json_array_foreach(json_object_get(t, "engines"), j, n)
            add_int(engine_entry(by, json_string_value(n)), "targets", 1);
    }
    json_object_foreach(by, name, e) json_array_append(rows, e);
    json_decref(by);
    return rows;
}

static void work_overview(struct server_job *job)
{
    cc_service *svc = job->app;
    cc_user user;
    int signed_in;
    if (viewer(job, &user, &signed_in) != 0)
        return;
    double now = clock_wall_s();
    json_t *snap = cc_survey_get(svc->survey), *totals = json_object(), *targets = json_array();
    cc_view *view = cc_cache_get(svc->cache);
    for (size_t i = 0; i < cc_view_target_count(view); i++) {
        const cc_target *t = cc_view_target_at(view, i);
        if (visible(t, &user, signed_in))
            json_array_append_new(
                targets, target_row(svc, t, json_object_get(json_object_get(snap, "targets"), t->id), now));
    }
    cc_view_unref(view);
    json_t *scvs = scv_rows(svc, snap, now, totals);
    job->reply = json_pack("{s:f, s:O, s:s?, s:o, s:o, s:o, s:o}", "time", now, "survey_time",
                           json_object_get(snap, "time"), "viewer", signed_in ? user.name : NULL, "totals",
                           totals, "scvs", scvs, "targets", targets, "engines", engine_rows(snap, targets));
    json_decref(snap);
}

/* The job's target if the viewer may see it; else fails the job (400, as
 * for an unknown id, so a private target's existence does not show). */
static const cc_target *shown_target(struct server_job *job, const cc_view *view)
{
    cc_user user;
    int signed_in;
    if (viewer(job, &user, &signed_in) != 0)
        return NULL;
    const cc_target *t = cc_view_target(view, job->param[0]);
    if (t == NULL || !visible(t, &user, signed_in)) {
        status_fail(&job->status, STATUS_INVALID, "unknown target '%s'", job->param[0]);
        return NULL;
    }
    return t;
}

/* The target's figures summed from its stream rows, so that the page's
 * target and streams agree. */
static json_t *seen_in_rows(const json_t *rows)
{
    json_int_t frames = 0, cores = 0;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        frames += json_integer_value(json_object_get(row, "frames"));
        cores += json_is_true(json_object_get(row, "active"));
    }
    return json_pack("{s:I, s:I, s:I}", "streams", (json_int_t)json_array_size(rows), "frames", frames,
                     "active_cores", cores);
}

#define STREAM_PAGE_DEFAULT 100
#define STREAM_PAGE_MAX 1000

/* Streams that need a look come first: stopped ones, then the most errors,
 * then by id. */
static int by_attention(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *sx = json_string_value(json_object_get(x, "status")),
               *sy = json_string_value(json_object_get(y, "status"));
    int ok_x = sx != NULL && strcmp(sx, "OK") == 0, ok_y = sy != NULL && strcmp(sy, "OK") == 0;
    if (ok_x != ok_y)
        return ok_x - ok_y;
    json_int_t ex = json_integer_value(json_object_get(x, "error_count")),
               ey = json_integer_value(json_object_get(y, "error_count"));
    if (ex != ey)
        return ex < ey ? 1 : -1;
    const char *ix = json_string_value(json_object_get(x, "id")),
               *iy = json_string_value(json_object_get(y, "id"));
    return strcmp(ix ? ix : "", iy ? iy : "");
}

/* rows[offset, offset + limit) in attention order, and how many streams
 * have each status. NULL when out of memory. */
static json_t *stream_page(const json_t *rows, long offset, long limit, json_t **counts)
{
    size_t n = json_array_size(rows), i;
    const json_t **order = malloc((n + 1) * sizeof *order);
    json_t *page = json_array(), *row;
    *counts = json_object();
    if (order == NULL || page == NULL || *counts == NULL) {
        free(order);
        json_decref(page);
        json_decref(*counts);
        return NULL;
    }
    json_array_foreach(rows, i, row)
    {
        order[i] = row;
        const char *status = json_string_value(json_object_get(row, "status"));
        json_t *seen = json_object_get(*counts, status ? status : "unknown");
        json_object_set_new(*counts, status ? status : "unknown", json_integer(json_integer_value(seen) + 1));
    }
    qsort(order, n, sizeof *order, by_attention);
    for (i = (size_t)offset; i < n && i < (size_t)(offset + limit); i++)
        json_array_append(page, (json_t *)order[i]);
    free(order);
    return page;
}

/* The target and one page of its streams, as its shards listed them
 * (cc_survey_streams: asked when viewed, kept briefly); survey_time is when
 * they were asked. The target's figures count all its streams. */
static void work_target(struct server_job *job)
{
    cc_service *svc = job->app;
    long offset = 0, limit = STREAM_PAGE_DEFAULT;
    if (query_long(job->query, "offset", 0, LONG_MAX / 2, &offset) < 0 ||
        query_long(job->query, "limit", 1, STREAM_PAGE_MAX, &limit) < 0) {
        status_fail(&job->status, STATUS_INVALID, "bad offset or limit: offset >= 0, limit from 1 to %d",
                    STREAM_PAGE_MAX);
        return;
    }
    cc_view *view = cc_cache_get(svc->cache);
    const cc_target *t = shown_target(job, view);
    json_t *got = t != NULL ? cc_survey_streams(svc->survey, view, svc->peers, t) : NULL, *counts = NULL;
    const json_t *rows = json_object_get(got, "streams");
    json_t *page = got != NULL ? stream_page(rows, offset, limit, &counts) : NULL;
    if (page != NULL) {
        double now = clock_wall_s();
        json_t *seen = seen_in_rows(rows);
        job->reply = json_pack("{s:f, s:O, s:o, s:o, s:I, s:I, s:I, s:o}", "time", now, "survey_time",
                               json_object_get(got, "time"), "target", target_row(svc, t, seen, now),
                               "streams", page, "stream_count", (json_int_t)json_array_size(rows), "offset",
                               (json_int_t)offset, "limit", (json_int_t)limit, "status_counts", counts);
        json_decref(seen);
    } else if (t != NULL) {
        status_fail(&job->status, STATUS_UNAVAILABLE, "out of memory");
    }
    json_decref(got);
    cc_view_unref(view);
}

static void work_history(struct server_job *job)
{
    cc_service *svc = job->app;
    cc_user user;
    int signed_in;
    if (viewer(job, &user, &signed_in) == 0)
        job->reply = cc_history_series(svc->history, "", clock_wall_s());
}

static void work_target_history(struct server_job *job)
{
    cc_service *svc = job->app;
    cc_view *view = cc_cache_get(svc->cache);
    const cc_target *t = shown_target(job, view);
    if (t != NULL)
        job->reply = cc_history_series(svc->history, t->id, clock_wall_s());
    cc_view_unref(view);
}

int cc_dashboard_routes(struct server *s)
{
    return server_route(s, "GET", "/dashboard", handle_page) |
           server_route(s, "GET", "/dashboard/targets/:id", handle_page) |
           server_route(s, "GET", "/dashboard/leaderboard", handle_page) |
           server_route(s, "GET", "/dashboard/assets/:name", handle_asset) |
           server_route_job(s, "GET", "/status/overview", work_overview, SERVER_JOB_JSON) |
           server_route_job(s, "GET", "/status/targets/:id", work_target, SERVER_JOB_JSON) |
           server_route_job(s, "GET", "/status/history", work_history, SERVER_JOB_JSON) |
           server_route_job(s, "GET", "/status/history/:id", work_target_history, SERVER_JOB_JSON);
}
