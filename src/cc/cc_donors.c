/* cc_donors: what donors see (PROTOCOL.md "Donors and credit"): donor
 * info, settings and deletion, the donor and team leaderboards and the
 * stats export. Everything is read from the credit aggregates (cc_credit.h);
 * nothing here scans fragments. */
#include <stdlib.h>
#include <string.h>

#include "cc/cc_access.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/query.h"

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

/* period, limit and offset from the query (other keys are ignored). */
static status_code parse_board_query(const char *query, cc_board_query *q, struct status *st)
{
    char period[8] = "all";
    long limit = CC_BOARD_LIMIT_DEFAULT, offset = 0;
    if (query_value(query, "period", period, sizeof period) < 0 || cc_period_parse(period, &q->period) != 0)
        return status_fail(st, STATUS_INVALID, "bad period: use day, week or all");
    if (query_long(query, "limit", 1, CC_BOARD_LIMIT_MAX, &limit) < 0)
        return status_fail(st, STATUS_INVALID, "bad limit: use a whole number from 1 to %d",
                           CC_BOARD_LIMIT_MAX);
    if (query_long(query, "offset", 0, CC_BOARD_OFFSET_MAX, &offset) < 0)
        return status_fail(st, STATUS_INVALID, "bad offset: use a whole number from 0 to %ld",
                           (long)CC_BOARD_OFFSET_MAX);
    q->limit = limit;
    q->offset = offset;
    return STATUS_OK;
}

static json_t *board_entry(const cc_board_query *q, const cc_board_entry *e, long long rank)
{
    if (q->teams)
        return json_pack("{s:I, s:s, s:I, s:f, s:I}", "rank", (json_int_t)rank, "team", e->name, "members",
                         (json_int_t)e->members, "points", e->points, "frames", (json_int_t)e->frames);
    return json_pack("{s:I, s:s, s:o, s:f, s:I}", "rank", (json_int_t)rank, "username", e->name, "team",
                     name_or_null(e->team), "points", e->points, "frames", (json_int_t)e->frames);
}

static void work_board(struct server_job *job, int teams)
{
    cc_service *svc = job->app;
    cc_board_query q = {.teams = teams};
    cc_board board = {0};
    if (parse_board_query(job->query, &q, &job->status) != STATUS_OK)
        return;
    q.period_start = cc_period_start(q.period, clock_wall_s());
    if (cc_store_leaderboard(svc->store, &q, &board, &job->status) != STATUS_OK)
        return;
    json_t *entries = json_array();
    for (size_t i = 0; i < board.n; i++)
        json_array_append_new(entries, board_entry(&q, &board.v[i], q.offset + (long long)i + 1));
    job->reply = json_pack("{s:s, s:I, s:o}", "period", cc_period_name(q.period), "total",
                           (json_int_t)board.total, "entries", entries);
    free(board.v);
}

static void work_board_donors(struct server_job *job)
{
    work_board(job, 0);
}

static void work_board_teams(struct server_job *job)
{
    work_board(job, 1);
}

/* ---- the export: bytes, not JSON ---- */

static void work_export(struct server_job *job)
{
    cc_service *svc = job->app;
    unsigned char *data = NULL;
    size_t len = 0;
    status_code rc = cc_store_export(svc->store, EXPORT_MAX_AGE_S, &data, &len, &job->status);
    /* The first export is still being made elsewhere: a retry will do. */
    if (rc == STATUS_NOT_FOUND)
        job->status.code = STATUS_UNAVAILABLE;
    if (rc != STATUS_OK)
        return;
    job->data = data;
    job->data_len = len;
    job->content_type = "application/gzip";
    snprintf(job->filename, sizeof job->filename, "siegetank-stats.jsonl.gz");
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
           server_route_job(s, "GET", "/leaderboard/donors", work_board_donors, 0) |
           server_route_job(s, "GET", "/leaderboard/teams", work_board_teams, 0) |
           server_route_job(s, "GET", "/stats/export", work_export, 0);
}
