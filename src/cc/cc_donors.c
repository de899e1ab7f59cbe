/* cc_donors: what donors see (PROTOCOL.md "Donors and credit"): donor
 * info, settings and deletion, the donor and team leaderboards and the
 * stats export. Everything is read from the credit aggregates (cc_credit.h);
 * nothing here scans fragments. */
#include <stdlib.h>
#include <string.h>

#include "cc/cc_access.h"
#include "util/clock.h"
#include "util/log.h"

/* The export is remade at most this often, by one CC at a time. */
#define EXPORT_MAX_AGE_S 3600.0

static json_t *name_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

static void work_info(struct server_job *job)
{
    cc_service *svc = job->app;
    cc_donor_info info;
    if (cc_store_donor_info(svc->store, job->param[0], &info, &job->status) != STATUS_OK)
        return;
    json_t *targets = json_object();
    for (size_t i = 0; i < info.n_targets; i++)
        json_object_set_new(targets, info.targets[i].target_id,
                            json_pack("{s:I, s:f}", "frames", (json_int_t)info.targets[i].frames, "points",
                                      info.targets[i].points));
    job->reply = json_pack(
        "{s:s, s:o, s:I, s:f, s:I, s:o, s:o}", "username", info.username, "team", name_or_null(info.team),
        "frames", (json_int_t)info.frames, "points", info.points, "fragments", (json_int_t)info.fragments,
        "last_credit", info.last_credit > 0 ? json_real(info.last_credit) : json_null(), "targets", targets);
    free(info.targets);
}

/* The donor of the job's token. */
static status_code job_donor(struct server_job *job, cc_user *out)
{
    status_code rc = cc_access_user(job, out);
    if (rc != STATUS_OK || out->role == CC_ROLE_DONOR)
        return rc;
    return status_fail(&job->status, STATUS_DENIED, "this needs a donor token; '%s' is a %s", out->name,
                       cc_role_name(out->role));
}

static status_code parse_settings(struct server_job *job, cc_donor_settings *s)
{
    json_t *team = json_object_get(job->json, "team"), *pub = json_object_get(job->json, "public");
    if (team && !json_is_null(team)) {
        if (!json_is_string(team) || !cc_team_ok(json_string_value(team)))
            return status_fail(&job->status, STATUS_INVALID,
                               "field 'team' must be 1 to %d printable characters, or null for no team",
                               CC_TEAM_CHARS);
        s->team = json_string_value(team);
    }
    s->set_team = team != NULL;
    if (pub && !json_is_boolean(pub))
        return status_fail(&job->status, STATUS_INVALID, "field 'public' must be true or false");
    s->set_public = pub != NULL;
    s->public_ = json_is_true(pub);
    if (!s->set_team && !s->set_public)
        return status_fail(&job->status, STATUS_INVALID, "Nothing to update: give 'team' and/or 'public'");
    return STATUS_OK;
}

static void work_settings(struct server_job *job)
{
    cc_service *svc = job->app;
    cc_user donor;
    cc_donor_settings s = {0};
    if (job_donor(job, &donor) == STATUS_OK && parse_settings(job, &s) == STATUS_OK)
        cc_store_donor_settings(svc->store, donor.name, &s, &job->status);
}

static void work_delete(struct server_job *job)
{
    cc_service *svc = job->app;
    cc_user donor;
    if (job_donor(job, &donor) == STATUS_OK &&
        cc_store_donor_delete(svc->store, donor.name, &job->status) == STATUS_OK)
        log_info("a donor account was deleted; its credit stays in the totals anonymously");
}

/* ---- leaderboards: the query string is read on the loop ---- */

/* A whole number 0..max from a query value; 0 or -1. */
static int query_number(const char *v, size_t len, long long max, long long *out)
{
    long long n = 0;
    if (len == 0 || len > 12)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n * 10 + (v[i] - '0');
    }
    if (n > max)
        return -1;
    *out = n;
    return 0;
}

#define QUERY_MAX 256

/* period, limit and offset from the query (other keys are ignored). */
static status_code parse_board_query(const char *raw, size_t len, cc_board_query *q, struct status *st)
{
    char period[8] = "all", query[QUERY_MAX];
    q->limit = CC_BOARD_LIMIT_DEFAULT;
    if (len >= sizeof query)
        return status_fail(st, STATUS_INVALID, "query string longer than %d bytes", QUERY_MAX - 1);
    memcpy(query, raw, len);
    query[len] = '\0';
    for (size_t at = 0; at < len;) {
        const char *p = query + at;
        size_t part = strcspn(p, "&"), key = strcspn(p, "=&");
        const char *v = p + key + 1;
        size_t vlen = key < part ? part - key - 1 : 0;
        if (key == 6 && strncmp(p, "period", 6) == 0) {
            if (vlen >= sizeof period)
                return status_fail(st, STATUS_INVALID, "bad period: use day, week or all");
            memcpy(period, v, vlen);
            period[vlen] = '\0';
        } else if (key == 5 && strncmp(p, "limit", 5) == 0) {
            if (query_number(v, vlen, CC_BOARD_LIMIT_MAX, &q->limit) != 0 || q->limit < 1)
                return status_fail(st, STATUS_INVALID, "bad limit: use a whole number from 1 to %d",
                                   CC_BOARD_LIMIT_MAX);
        } else if (key == 6 && strncmp(p, "offset", 6) == 0) {
            if (query_number(v, vlen, 999999999999LL, &q->offset) != 0)
                return status_fail(st, STATUS_INVALID, "bad offset: use a whole number >= 0");
        }
        at += part + 1;
    }
    if (cc_period_parse(period, &q->period) != 0)
        return status_fail(st, STATUS_INVALID, "bad period '%s': use day, week or all", period);
    return STATUS_OK;
}

struct board_call {
    cc_service *svc;
    cc_board_query q;
    cc_board board;
    struct status st;
};

static void board_work(void *arg)
{
    struct board_call *c = arg;
    c->q.period_start = cc_period_start(c->q.period, clock_wall_s());
    cc_store_leaderboard(c->svc->store, &c->q, &c->board, &c->st);
}

static json_t *board_entry(const cc_board_query *q, const cc_board_entry *e, long long rank)
{
    if (q->teams)
        return json_pack("{s:I, s:s, s:I, s:f, s:I}", "rank", (json_int_t)rank, "team", e->name, "members",
                         (json_int_t)e->members, "points", e->points, "frames", (json_int_t)e->frames);
    return json_pack("{s:I, s:s, s:o, s:f, s:I}", "rank", (json_int_t)rank, "username", e->name, "team",
                     name_or_null(e->team), "points", e->points, "frames", (json_int_t)e->frames);
}

static void board_done(void *arg, h2o_req_t *req)
{
    struct board_call *c = arg;
    if (req != NULL && c->st.code != STATUS_OK) {
        server_reply_status(req, &c->st);
    } else if (req != NULL) {
        json_t *entries = json_array();
        for (size_t i = 0; i < c->board.n; i++)
            json_array_append_new(entries,
                                  board_entry(&c->q, &c->board.v[i], c->q.offset + (long long)i + 1));
        server_reply_json(req, 200,
                          json_pack("{s:s, s:I, s:o}", "period", cc_period_name(c->q.period), "total",
                                    (json_int_t)c->board.total, "entries", entries));
    }
    free(c->board.v);
    free(c);
}

static void handle_board(struct server_request *r, int teams)
{
    h2o_req_t *req = r->req;
    struct board_call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        server_reply_error(req, 503, "server is out of memory; try again later");
        return;
    }
    c->svc = r->app;
    c->q.teams = teams;
    size_t at = req->query_at == SIZE_MAX ? req->path.len : req->query_at + 1;
    if (parse_board_query(req->path.base + at, req->path.len - at, &c->q, &c->st) != STATUS_OK) {
        server_reply_status(req, &c->st);
        free(c);
        return;
    }
    server_defer(r, board_work, board_done, c);
}

static void handle_board_donors(struct server_request *r)
{
    handle_board(r, 0);
}

static void handle_board_teams(struct server_request *r)
{
    handle_board(r, 1);
}

/* ---- the export: bytes, not JSON ---- */

struct export_call {
    cc_service *svc;
    unsigned char *data;
    size_t len;
    struct status st;
};

static void export_work(void *arg)
{
    struct export_call *e = arg;
    cc_store_export(e->svc->store, EXPORT_MAX_AGE_S, &e->data, &e->len, &e->st);
}

static void export_done(void *arg, h2o_req_t *req)
{
    struct export_call *e = arg;
    /* The first export is still being made elsewhere: a retry will do. */
    if (req != NULL && e->st.code == STATUS_NOT_FOUND) {
        server_reply_error(req, 503, "%s", e->st.msg);
    } else if (req != NULL && e->st.code != STATUS_OK) {
        server_reply_status(req, &e->st);
    } else if (req != NULL) {
        server_add_header(req, "content-disposition", "attachment; filename=\"siegetank-stats.jsonl.gz\"");
        server_reply_text(req, "application/gzip", (const char *)e->data, e->len);
    }
    free(e->data);
    free(e);
}

static void handle_export(struct server_request *r)
{
    struct export_call *e = calloc(1, sizeof *e);
    if (e == NULL) {
        server_reply_error(r->req, 503, "server is out of memory; try again later");
        return;
    }
    e->svc = r->app;
    server_defer(r, export_work, export_done, e);
}

void cc_donors_export_tick(void *arg)
{
    cc_service *svc = arg;
    struct status st;
    if (cc_store_export(svc->store, EXPORT_MAX_AGE_S, NULL, NULL, &st) != STATUS_OK)
        log_warn("%s", st.msg);
}

int cc_donors_routes(struct server *s)
{
    return server_route_job(s, "GET", "/donors/info/:username", work_info, SERVER_JOB_JSON) |
           server_route_job(s, "PUT", "/donors/settings", work_settings, SERVER_JOB_JSON) |
           server_route_job(s, "PUT", "/donors/delete", work_delete, SERVER_JOB_JSON) |
           server_route(s, "GET", "/leaderboard/donors", handle_board_donors) |
           server_route(s, "GET", "/leaderboard/teams", handle_board_teams) |
           server_route(s, "GET", "/stats/export", handle_export);
}
