/* The PostgreSQL backend's stats and donor credit (cc_store_credit_ops of
 * cc_store_backend.h): fragments, the credit aggregate rows, boards, donor
 * settings and the stats export. The schema and the other rows are in
 * cc_store_pg.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_credit.h"
#include "cc/cc_pg.h"
#include "cc/cc_store_backend.h"
#include "util/base64.h"
#include "util/log.h"

/* The batch as one JSON array parameter: one statement inserts it all,
 * in order, so a duplicate id inside the batch keeps its first fragment. */
static char *stats_json(const cc_stats_fragment *v, const double *points, size_t n)
{
    json_t *arr = json_array();
    char *text = NULL;

    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:I,s:f}", "id", v[i].id, "target_id",
                              v[i].target_id, "stream_id", v[i].stream_id, "engine", v[i].engine, "user_name",
                              v[i].user, "start_time", v[i].start_time, "end_time", v[i].end_time, "frames",
                              (json_int_t)v[i].frames, "points", points[i]);
        if (json_array_append_new(arr, o) != 0)
            goto out;
    }
    text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
out:
    json_decref(arr);
    return text;
}

/* pg_try_advisory_xact_lock key a fold holds: "fold" in ASCII. */
#define FOLD_LOCK_KEY "1718578276"

static status_code pg_stats_insert(cc_store_tx *c, const cc_stats_fragment *v, const double *points, size_t n,
                                   double recorded, size_t *inserted)
{
    PGresult *res = NULL;
    char *batch = stats_json(v, points, n);
    char at[32];

    *inserted = 0;
    /* json_pack refuses text that is not UTF-8, as PostgreSQL would. */
    if (!batch)
        return STATUS_INVALID;
    cc_pg_fmt_double(at, recorded);
    const char *params[] = {batch, at};
    /* One statement records the batch and queues the credit of what is
     * new. */
    status_code rc = cc_pg_query(
        c, &res,
        "WITH fresh AS (INSERT INTO stats(id, target_id, stream_id, engine, user_name, start_time, end_time,"
        " frames, points)"
        " SELECT id, target_id, stream_id, engine, user_name, start_time, end_time, frames, points"
        " FROM json_to_recordset($1::json) AS x(id text, target_id text, stream_id text, engine text,"
        " user_name text, start_time double precision, end_time double precision, frames bigint,"
        " points double precision) ON CONFLICT (id) DO NOTHING"
        " RETURNING user_name, target_id, frames, points),"
        " queued AS (INSERT INTO credit_pending(user_name, target_id, frames, points, recorded)"
        " SELECT user_name, target_id, frames, points, $2 FROM fresh WHERE user_name <> '')"
        " SELECT count(*) FROM fresh",
        2, params);
    if (rc == STATUS_OK && PQntuples(res) == 1)
        *inserted = (size_t)strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    free(batch);
    return rc;
}

static status_code pg_fold_claim(cc_store_tx *c, int wait, int *claimed)
{
    PGresult *res = NULL;
    status_code rc = cc_pg_query(c, &res,
                                 wait ? "SELECT true, pg_advisory_xact_lock(" FOLD_LOCK_KEY ")"
                                      : "SELECT pg_try_advisory_xact_lock(" FOLD_LOCK_KEY ")",
                                 0, NULL);
    *claimed = rc == STATUS_OK && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return rc;
}

static long long ival(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static int read_int64(const PGresult *r, int row, void *out)
{
    *(long long *)out = ival(r, row, 0);
    return 0;
}

static int fill_pending(const PGresult *r, int row, void *elem)
{
    cc_credit_pending *p = elem;
    cc_pg_text(r, row, 0, p->user, sizeof p->user);
    cc_pg_text(r, row, 1, p->target_id, sizeof p->target_id);
    p->frames = ival(r, row, 2);
    p->points = cc_pg_double(r, row, 3);
    p->recorded = cc_pg_double(r, row, 4);
    return 0;
}

/* Rows of transactions not committed yet are invisible here (even below
 * the range's end): the next fold takes them. A range, not IN (...), so
 * the plan stays one scan whatever the queue's statistics say (IN with a
 * queue analysed empty made a nested loop of scans: minutes at 100,000
 * rows). */
static status_code pg_pending_take(cc_store_tx *c, size_t max, cc_credit_pending **out, size_t *n)
{
    char limit[32];
    snprintf(limit, sizeof limit, "%zu", max);
    const char *param = limit;
    return cc_pg_collect(c,
                         "DELETE FROM credit_pending WHERE id <= (SELECT max(id) FROM (SELECT id FROM"
                         " credit_pending ORDER BY id LIMIT $1) AS oldest)"
                         " RETURNING user_name, target_id, frames, points, recorded",
                         1, &param, (void **)out, n, sizeof **out, fill_pending);
}

static status_code pg_pending_count(cc_store_tx *c, long long *n)
{
    return cc_pg_one_row(c, "SELECT count(*) FROM credit_pending", 0, NULL, read_int64, n);
}

static int read_double(const PGresult *r, int row, void *out)
{
    *(double *)out = cc_pg_double(r, row, 0);
    return 0;
}

static status_code pg_points_per_frame(cc_store_tx *c, const char *target_id, double *out)
{
    return cc_pg_one_row(c, "SELECT points_per_frame FROM targets WHERE id = $1", 1, &target_id, read_double,
                         out);
}

/* The CC_CREDIT_ROW_COLS of a row, from column first on. */
static void read_credit_row(const PGresult *r, int row, int first, cc_credit_row *out)
{
    out->public_ = (int)ival(r, row, first);
    out->fragments = ival(r, row, first + 1);
    out->day = ival(r, row, first + 2);
    out->day_fragments = ival(r, row, first + 3);
    out->week = ival(r, row, first + 4);
    out->week_fragments = ival(r, row, first + 5);
}

/* Deltas as one JSON array parameter: [{"key","target","frames","points","fragments"}]. */
static char *deltas_json(const cc_credit_delta *v, size_t n)
{
    json_t *arr = json_array();
    char *text = NULL;
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = json_pack("{s:s, s:s?, s:I, s:f, s:I}", "key", v[i].key, "target", v[i].target, "frames",
                              (json_int_t)v[i].frames, "points", v[i].points, "fragments",
                              (json_int_t)v[i].fragments);
        if (json_array_append_new(arr, o) != 0)
            goto out;
    }
    text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
out:
    json_decref(arr);
    return text;
}

#define DELTAS_FROM                                                                                          \
    " FROM json_to_recordset($1::json) AS x(key text, target text, frames bigint, points double precision,"  \
    " fragments bigint)"
#define DELTA_VALUES                                                                                         \
    "x.frames, x.points, x.fragments, $2, $3, x.frames, x.points, x.fragments, $4, x.frames, x.points,"      \
    " x.fragments"

/* Upserts deltas v with sql, rows in key order so CCs lock alike
 * (parameters: the deltas, then with_times: now, day and week). */
static status_code upsert_deltas(cc_pg_conn *c, const char *sql, const cc_credit_batch *b,
                                 const cc_credit_delta *v, size_t n, int with_times, PGresult **res)
{
    char now[32], day[32], week[32];
    char *json = deltas_json(v, n);
    if (!json)
        return STATUS_IO;
    cc_pg_fmt_double(now, b->now);
    snprintf(day, sizeof day, "%lld", b->day);
    snprintf(week, sizeof week, "%lld", b->week);
    const char *params[] = {json, now, day, week};
    status_code rc = cc_pg_query(c, res, sql, with_times ? 4 : 1, params);
    free(json);
    return rc;
}

static int by_key(const void *key, const void *elem)
{
    return strcmp(key, ((const cc_credit_delta *)elem)->key);
}

/* The delta a returned row (key in column 0) belongs to, or -1. */
static long delta_of(const PGresult *res, int row, const cc_credit_delta *v, size_t n)
{
    const cc_credit_delta *d = bsearch(PQgetvalue(res, row, 0), v, n, sizeof *v, by_key);
    return d ? (long)(d - v) : -1;
}

static status_code pg_credit_donors(cc_store_tx *c, const cc_credit_batch *b, cc_credit_row *rows,
                                    char **teams)
{
    PGresult *res = NULL;
    status_code rc = upsert_deltas(c,
                                   "INSERT INTO donor_credit(name, public, " CC_CREDIT_COLS ")"
                                   " SELECT x.key, EXISTS(SELECT 1 FROM users u WHERE u.name = x.key AND "
                                   "u.role = 'donor')::int, " DELTA_VALUES DELTAS_FROM
                                   " ORDER BY x.key ON CONFLICT (name) DO UPDATE SET " CC_CREDIT_ADD_SET(
                                       "donor_credit") " RETURNING name, " CC_CREDIT_ROW_COLS ", team",
                                   b, b->donors, b->n_donors, 1, &res);
    for (int r = 0; rc == STATUS_OK && r < PQntuples(res); r++) {
        long i = delta_of(res, r, b->donors, b->n_donors);
        if (i < 0)
            continue;
        read_credit_row(res, r, 1, &rows[i]);
        if (!PQgetisnull(res, r, 7) && (teams[i] = strdup(PQgetvalue(res, r, 7))) == NULL)
            rc = STATUS_IO;
    }
    PQclear(res);
    return rc;
}

static status_code pg_credit_targets(cc_store_tx *c, const cc_credit_batch *b)
{
    return upsert_deltas(c,
                         "INSERT INTO donor_target_credit(name, target_id, frames, points)"
                         " SELECT x.key, x.target, x.frames, x.points" DELTAS_FROM
                         " ORDER BY x.key, x.target ON CONFLICT (name, target_id) DO UPDATE SET"
                         " frames = donor_target_credit.frames + excluded.frames,"
                         " points = donor_target_credit.points + excluded.points",
                         b, b->targets, b->n_targets, 0, NULL);
}

static status_code pg_credit_teams(cc_store_tx *c, const cc_credit_batch *b, const cc_credit_delta *v,
                                   size_t n, cc_credit_row *rows)
{
    PGresult *res = NULL;
    status_code rc = upsert_deltas(c,
                                   "INSERT INTO team_credit(team, " CC_CREDIT_COLS
                                   ") SELECT x.key, " DELTA_VALUES DELTAS_FROM
                                   " ORDER BY x.key ON CONFLICT (team) DO UPDATE SET " CC_CREDIT_ADD_SET(
                                       "team_credit") " RETURNING team, 1, " CC_CREDIT_ROW_FRAGMENTS,
                                   b, v, n, 1, &res);
    for (int r = 0; rc == STATUS_OK && r < PQntuples(res); r++) {
        long i = delta_of(res, r, v, n);
        if (i >= 0)
            read_credit_row(res, r, 1, &rows[i]);
    }
    PQclear(res);
    return rc;
}

static status_code pg_board_add(cc_store_tx *c, cc_board_id board, long long period, long long n)
{
    char p[32], count[32];
    snprintf(p, sizeof p, "%lld", period);
    snprintf(count, sizeof count, "%lld", n);
    const char *params[] = {cc_board_name(board), p, count};
    return cc_pg_write_one(
        c, "INSERT INTO board_totals(board, period, n) VALUES ($1, $2, $3)" CC_BOARD_TOTAL_ADD, 3, params, 0);
}

static int fill_board_entry(const PGresult *r, int row, void *elem)
{
    cc_board_entry *e = elem;
    cc_pg_text(r, row, 0, e->name, sizeof e->name);
    cc_pg_text(r, row, 1, e->team, sizeof e->team);
    e->members = ival(r, row, 2);
    e->points = cc_pg_double(r, row, 3);
    e->frames = ival(r, row, 4);
    e->total = PQnfields(r) > 5 ? ival(r, row, 5) : 0;
    return 0;
}

static status_code pg_board_read(cc_store_tx *c, const cc_board_query *q_, cc_board *out)
{
    char rows[768], total[256], start[32], limit[32], offset[32];
    int first = q_->limit == CC_BOARD_LIMIT_DEFAULT && q_->offset == 0;
    int k = cc_board_sql(q_->teams, q_->period, first, '$', rows, sizeof rows, total, sizeof total);
    snprintf(start, sizeof start, "%lld", q_->period_start);
    snprintf(limit, sizeof limit, "%lld", q_->limit);
    snprintf(offset, sizeof offset, "%lld", q_->offset);
    const char *params[] = {start, limit, offset};
    status_code rc = cc_pg_collect(c, rows, k + (first ? 0 : 2), params + (1 - k), (void **)&out->v, &out->n,
                                   sizeof *out->v, fill_board_entry);
    if (rc != STATUS_OK || out->n > 0) {
        out->total = out->n > 0 ? out->v[0].total : 0;
        return rc;
    }
    return cc_pg_one_row(c, total, k, k ? params : NULL, read_int64, &out->total);
}

struct donor_state {
    cc_credit_row *row;
    char **team;
};

static int read_donor_state(const PGresult *r, int row, void *out)
{
    struct donor_state *d = out;
    read_credit_row(r, row, 0, d->row);
    if (!PQgetisnull(r, row, 6) && (*d->team = strdup(PQgetvalue(r, row, 6))) == NULL)
        return -1;
    return 0;
}

static status_code pg_donor_row(cc_store_tx *c, const char *name, cc_credit_row *row, char **team)
{
    struct donor_state d = {row, team};
    status_code rc = cc_pg_write_one(
        c, "INSERT INTO donor_credit(name) VALUES ($1) ON CONFLICT (name) DO NOTHING", 1, &name, 0);
    if (rc == STATUS_OK)
        rc = cc_pg_one_row(c,
                           "SELECT " CC_CREDIT_ROW_COLS ", team FROM donor_credit WHERE name = $1 FOR UPDATE",
                           1, &name, read_donor_state, &d);
    return rc;
}

static status_code pg_donor_set_public(cc_store_tx *c, const char *name, int public_)
{
    const char *params[] = {name, public_ ? "1" : "0"};
    return cc_pg_write_one(c, "UPDATE donor_credit SET public = $2 WHERE name = $1", 2, params, 0);
}

static status_code pg_donor_set_team(cc_store_tx *c, const char *name, const char *team)
{
    const char *params[] = {name, team};
    return cc_pg_write_one(c, "UPDATE donor_credit SET team = $2 WHERE name = $1", 2, params, 0);
}

struct joined {
    long long members, fragments;
};

static int read_joined(const PGresult *r, int row, void *out)
{
    struct joined *j = out;
    j->members = ival(r, row, 0);
    j->fragments = ival(r, row, 1);
    return 0;
}

static status_code pg_team_join(cc_store_tx *c, const char *team, int *made)
{
    struct joined j = {0};
    status_code rc = cc_pg_one_row(c,
                                   "INSERT INTO team_credit(team, members) VALUES ($1, 1)"
                                   " ON CONFLICT (team) DO UPDATE SET members = team_credit.members + 1"
                                   " RETURNING members, fragments",
                                   1, &team, read_joined, &j);
    /* A team without members and credit has no row: one member and no
     * credit is a row just made. */
    *made = rc == STATUS_OK && j.members == 1 && j.fragments == 0;
    return rc == STATUS_NOT_FOUND ? STATUS_IO : rc;
}

static status_code pg_team_leave(cc_store_tx *c, const char *team, int *removed)
{
    PGresult *res = NULL;
    status_code rc =
        cc_pg_write_one(c, "UPDATE team_credit SET members = members - 1 WHERE team = $1", 1, &team, 0);
    if (rc == STATUS_OK)
        rc = cc_pg_query(
            c, &res, "DELETE FROM team_credit WHERE team = $1 AND members <= 0 AND fragments = 0", 1, &team);
    *removed = rc == STATUS_OK && cc_pg_changed(res) == 1;
    PQclear(res);
    return rc;
}

static status_code pg_donor_erase(cc_store_tx *c, const char *name, const char *anon)
{
    static const char *const renames[] = {
        "UPDATE donor_credit SET name = $2 WHERE name = $1",
        "UPDATE donor_target_credit SET name = $2 WHERE name = $1",
        "UPDATE stats SET user_name = $2 WHERE user_name = $1",
        "UPDATE credit_pending SET user_name = $2 WHERE user_name = $1",
    };
    const char *params[] = {name, anon};
    status_code rc = cc_pg_write_one(c, "DELETE FROM users WHERE name = $1 AND role = 'donor'", 1, &name, 0);
    for (size_t i = 0; rc == STATUS_OK && i < sizeof renames / sizeof *renames; i++)
        rc = cc_pg_write_one(c, renames[i], 2, params, 0);
    return rc;
}

static void read_info(const PGresult *r, cc_donor_info *info, int *public_)
{
    cc_pg_text(r, 0, 0, info->username, sizeof info->username);
    cc_pg_text(r, 0, 1, info->team, sizeof info->team);
    *public_ = (int)ival(r, 0, 2);
    info->frames = ival(r, 0, 3);
    info->points = cc_pg_double(r, 0, 4);
    info->fragments = ival(r, 0, 5);
    info->last_credit = cc_pg_double(r, 0, 6);
}

static status_code pg_donor_info(cc_store_tx *c, const char *name, cc_donor_info *out, int *public_)
{
    const int t = CC_DONOR_INFO_TARGET;
    PGresult *res = NULL;
    status_code rc = cc_pg_query(c, &res, CC_DONOR_INFO_SQL("$1"), 1, &name);
    int rows = rc == STATUS_OK ? PQntuples(res) : 0;
    if (rc == STATUS_OK && rows == 0)
        rc = STATUS_NOT_FOUND;
    if (rc == STATUS_OK && !(out->targets = calloc((size_t)rows, sizeof *out->targets)))
        rc = STATUS_IO;
    if (rc == STATUS_OK)
        read_info(res, out, public_);
    for (int i = 0; rc == STATUS_OK && i < rows && !PQgetisnull(res, i, t); i++) {
        cc_credit_total *e = &out->targets[out->n_targets++];
        cc_pg_text(res, i, t, e->target_id, sizeof e->target_id);
        e->frames = ival(res, i, t + 1);
        e->points = cc_pg_double(res, i, t + 2);
    }
    PQclear(res);
    return rc;
}

static status_code pg_export_scan(cc_store_tx *c, cc_export_fn fn, void *arg)
{
    static const char *const sql[] = {CC_EXPORT_DONORS_SQL, CC_EXPORT_TEAMS_SQL};
    status_code rc = STATUS_OK;
    for (int team = 0; rc == STATUS_OK && team < 2; team++) {
        PGresult *res = NULL;
        rc = cc_pg_query(c, &res, sql[team], 0, NULL);
        for (int i = 0; rc == STATUS_OK && i < PQntuples(res); i++) {
            cc_board_entry e;
            fill_board_entry(res, i, &e);
            if (fn(arg, &e, team, ival(res, i, 5), cc_pg_double(res, i, 6)) != 0)
                rc = STATUS_IO;
        }
        PQclear(res);
    }
    return rc;
}

struct export_read {
    double *created;
    unsigned char **data;
    size_t *len;
};

static int read_export(const PGresult *r, int row, void *out)
{
    struct export_read *e = out;
    *e->created = cc_pg_double(r, row, 0);
    if (PQgetisnull(r, row, 1))
        return 0;
    *e->data = base64_decode(PQgetvalue(r, row, 1), (size_t)PQgetlength(r, row, 1), e->len);
    return *e->data ? 0 : -1;
}

static status_code pg_export_load(cc_store_tx *c, double *created, unsigned char **data, size_t *len)
{
    struct export_read e = {created, data, len};
    *created = 0;
    *data = NULL;
    *len = 0;
    return cc_pg_one_row(c, "SELECT created, data FROM stats_export", 0, NULL, read_export, &e);
}

/* The row lock serialises competing CCs: one changes the row, the other
 * then sees the new claim and changes nothing. */
static status_code pg_export_claim(cc_store_tx *c, double now, double max_age, double lease, int *claimed)
{
    char t[32], old[32], lapsed[32];
    PGresult *res = NULL;
    cc_pg_fmt_double(t, now);
    cc_pg_fmt_double(old, now - max_age);
    cc_pg_fmt_double(lapsed, now - lease);
    const char *params[] = {t, old, lapsed};
    status_code rc = cc_pg_query(
        c, &res, "UPDATE stats_export SET claimed = $1 WHERE created <= $2 AND claimed <= $3", 3, params);
    *claimed = rc == STATUS_OK && cc_pg_changed(res) == 1;
    PQclear(res);
    return rc;
}

static status_code pg_export_save(cc_store_tx *c, double created, const unsigned char *data, size_t len)
{
    char t[32];
    size_t n = 0;
    char *text = base64_encode(data, len, &n);
    if (!text)
        return STATUS_IO;
    cc_pg_fmt_double(t, created);
    const char *params[] = {t, text};
    status_code rc = cc_pg_write_one(c, "UPDATE stats_export SET created = $1, data = $2", 2, params, 0);
    free(text);
    return rc;
}

const cc_store_credit_ops cc_store_pg_credit_ops = {
    .stats_insert = pg_stats_insert,
    .fold_claim = pg_fold_claim,
    .pending_take = pg_pending_take,
    .pending_count = pg_pending_count,
    .points_per_frame = pg_points_per_frame,
    .credit_donors = pg_credit_donors,
    .credit_targets = pg_credit_targets,
    .credit_teams = pg_credit_teams,
    .board_add = pg_board_add,
    .board_read = pg_board_read,
    .donor_row = pg_donor_row,
    .donor_set_public = pg_donor_set_public,
    .donor_set_team = pg_donor_set_team,
    .team_join = pg_team_join,
    .team_leave = pg_team_leave,
    .donor_erase = pg_donor_erase,
    .donor_info = pg_donor_info,
    .export_scan = pg_export_scan,
    .export_load = pg_export_load,
    .export_claim = pg_export_claim,
    .export_save = pg_export_save,
};
