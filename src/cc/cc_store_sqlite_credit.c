/* The SQLite backend's stats and donor credit (cc_store_credit_ops of
 * cc_store_backend.h): fragments, the credit aggregate rows, boards, donor
 * settings and the stats export. The schema and the other rows are in
 * cc_store_sqlite.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_store_sqlite.h"
#include "util/log.h"

static status_code sq_stats_insert(cc_store_tx *tx, const cc_stats_fragment *v, const double *points,
                                   size_t n, double recorded, size_t *inserted)
{
    sqlite3_stmt *stmt =
        sqldb_prepare(tx->db,
                      "INSERT INTO stats(id, target_id, stream_id, engine, user_name, start_time,"
                      " end_time, frames, points) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                      " ON CONFLICT(id) DO NOTHING",
                      NULL);
    sqlite3_stmt *queue = sqldb_prepare(tx->db,
                                        "INSERT INTO credit_pending(user_name, target_id, frames, points,"
                                        " recorded) VALUES (?1, ?2, ?3, ?4, ?5)",
                                        NULL);
    status_code rc = stmt && queue ? STATUS_OK : STATUS_IO;

    *inserted = 0;
    for (size_t i = 0; rc == STATUS_OK && i < n; i++) {
        sqlite3_bind_text(stmt, 1, v[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, v[i].target_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, v[i].stream_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 4, v[i].engine, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 5, v[i].user, -1, SQLITE_STATIC);
        sqlite3_bind_double(stmt, 6, v[i].start_time);
        sqlite3_bind_double(stmt, 7, v[i].end_time);
        sqlite3_bind_int64(stmt, 8, v[i].frames);
        sqlite3_bind_double(stmt, 9, points[i]);
        rc = sqldb_step(tx->db, stmt, "stats insert");
        if (rc != STATUS_OK || sqlite3_changes(tx->db->conn) == 0)
            continue;
        ++*inserted;
        if (!v[i].user[0]) /* credits nobody */
            continue;
        sqlite3_bind_text(queue, 1, v[i].user, -1, SQLITE_STATIC);
        sqlite3_bind_text(queue, 2, v[i].target_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(queue, 3, v[i].frames);
        sqlite3_bind_double(queue, 4, points[i]);
        sqlite3_bind_double(queue, 5, recorded);
        rc = sqldb_step(tx->db, queue, "credit queue");
    }
    sqlite3_finalize(stmt);
    sqlite3_finalize(queue);
    return rc;
}

/* SQLite runs one write transaction at a time: the fold is always this
 * CC's. */
static status_code sq_fold_claim(cc_store_tx *tx, int wait, int *claimed)
{
    (void)tx;
    (void)wait;
    *claimed = 1;
    return STATUS_OK;
}

static int fill_pending(sqlite3_stmt *stmt, void *elem)
{
    cc_credit_pending *p = elem;
    sqldb_text(stmt, 0, p->user, sizeof p->user);
    sqldb_text(stmt, 1, p->target_id, sizeof p->target_id);
    p->frames = sqlite3_column_int64(stmt, 2);
    p->points = sqlite3_column_double(stmt, 3);
    p->recorded = sqlite3_column_double(stmt, 4);
    return 0;
}

static status_code sq_pending_take(cc_store_tx *tx, size_t max, cc_credit_pending **out, size_t *n)
{
    return sqldb_collect(tx->db,
                         sqldb_prepare(tx->db,
                                       "DELETE FROM credit_pending WHERE id <= (SELECT max(id) FROM"
                                       " (SELECT id FROM credit_pending ORDER BY id LIMIT ?1))"
                                       " RETURNING user_name, target_id, frames, points, recorded",
                                       "i", (int64_t)max),
                         (void **)out, n, sizeof **out, fill_pending, "credit take");
}

static int read_int64(sqlite3_stmt *stmt, void *out)
{
    *(long long *)out = sqlite3_column_int64(stmt, 0);
    return 0;
}

static status_code sq_pending_count(cc_store_tx *tx, long long *n)
{
    return cc_store_sqlite_one_row(tx->db, sqldb_prepare(tx->db, "SELECT count(*) FROM credit_pending", NULL),
                                   "credit pending", read_int64, n);
}

static int read_double(sqlite3_stmt *stmt, void *out)
{
    *(double *)out = sqlite3_column_double(stmt, 0);
    return 0;
}

static status_code sq_points_per_frame(cc_store_tx *tx, const char *target_id, double *out)
{
    return cc_store_sqlite_one_row(
        tx->db, sqldb_prepare(tx->db, "SELECT points_per_frame FROM targets WHERE id = ?1", "t", target_id),
        "points per frame", read_double, out);
}

/* The CC_CREDIT_ROW_COLS of a row, from column first on. */
static void read_credit_row(sqlite3_stmt *stmt, int first, cc_credit_row *r)
{
    r->public_ = sqlite3_column_int(stmt, first);
    r->fragments = sqlite3_column_int64(stmt, first + 1);
    r->day = sqlite3_column_int64(stmt, first + 2);
    r->day_fragments = sqlite3_column_int64(stmt, first + 3);
    r->week = sqlite3_column_int64(stmt, first + 4);
    r->week_fragments = sqlite3_column_int64(stmt, first + 5);
}

/* Binds a delta and the batch's times as ?2..?7 of an aggregate upsert. */
static void bind_delta(sqlite3_stmt *stmt, const cc_credit_batch *b, const cc_credit_delta *d)
{
    sqlite3_reset(stmt);
    sqlite3_bind_text(stmt, 1, d->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, d->frames);
    sqlite3_bind_double(stmt, 3, d->points);
    sqlite3_bind_int64(stmt, 4, d->fragments);
    sqlite3_bind_double(stmt, 5, b->now);
    sqlite3_bind_int64(stmt, 6, b->day);
    sqlite3_bind_int64(stmt, 7, b->week);
}

#define DELTA_VALUES "?2, ?3, ?4, ?5, ?6, ?2, ?3, ?4, ?7, ?2, ?3, ?4"

static status_code sq_credit_donors(cc_store_tx *tx, const cc_credit_batch *b, cc_credit_row *rows,
                                    char **teams)
{
    sqlite3_stmt *stmt = sqldb_prepare(
        tx->db,
        "INSERT INTO donor_credit(name, public, " CC_CREDIT_COLS ")"
        " VALUES (?1, EXISTS(SELECT 1 FROM users WHERE name = ?1 AND role = 'donor'), " DELTA_VALUES ")"
        " ON CONFLICT(name) DO UPDATE SET " CC_CREDIT_ADD_SET("donor_credit") " RETURNING " CC_CREDIT_ROW_COLS
                                                                              ", team",
        NULL);
    status_code rc = stmt ? STATUS_OK : STATUS_IO;
    for (size_t i = 0; rc == STATUS_OK && i < b->n_donors; i++) {
        bind_delta(stmt, b, &b->donors[i]);
        rc = sqldb_row(tx->db, stmt, "donor credit");
        if (rc != STATUS_OK)
            break;
        read_credit_row(stmt, 0, &rows[i]);
        if (sqlite3_column_type(stmt, 6) != SQLITE_NULL && (teams[i] = sqldb_dup(stmt, 6)) == NULL)
            rc = STATUS_IO;
    }
    sqlite3_finalize(stmt);
    return rc == STATUS_NOT_FOUND ? STATUS_IO : rc;
}

static status_code sq_credit_targets(cc_store_tx *tx, const cc_credit_batch *b)
{
    sqlite3_stmt *stmt =
        sqldb_prepare(tx->db,
                      "INSERT INTO donor_target_credit(name, target_id, frames, points)"
                      " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(name, target_id) DO UPDATE SET"
                      " frames = frames + excluded.frames, points = points + excluded.points",
                      NULL);
    status_code rc = stmt ? STATUS_OK : STATUS_IO;
    for (size_t i = 0; rc == STATUS_OK && i < b->n_targets; i++) {
        sqlite3_bind_text(stmt, 1, b->targets[i].key, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, b->targets[i].target, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 3, b->targets[i].frames);
        sqlite3_bind_double(stmt, 4, b->targets[i].points);
        rc = sqldb_step(tx->db, stmt, "donor target credit");
    }
    sqlite3_finalize(stmt);
    return rc;
}

static status_code sq_credit_teams(cc_store_tx *tx, const cc_credit_batch *b, const cc_credit_delta *v,
                                   size_t n, cc_credit_row *rows)
{
    sqlite3_stmt *stmt =
        sqldb_prepare(tx->db,
                      "INSERT INTO team_credit(team, " CC_CREDIT_COLS ") VALUES (?1, " DELTA_VALUES
                      ") ON CONFLICT(team) DO UPDATE SET " CC_CREDIT_ADD_SET(
                          "team_credit") " RETURNING 1, " CC_CREDIT_ROW_FRAGMENTS,
                      NULL);
    status_code rc = stmt ? STATUS_OK : STATUS_IO;
    for (size_t i = 0; rc == STATUS_OK && i < n; i++) {
        bind_delta(stmt, b, &v[i]);
        rc = sqldb_row(tx->db, stmt, "team credit");
        if (rc == STATUS_OK)
            read_credit_row(stmt, 0, &rows[i]);
    }
    sqlite3_finalize(stmt);
    return rc == STATUS_NOT_FOUND ? STATUS_IO : rc;
}

static status_code sq_board_add(cc_store_tx *tx, cc_board_id board, long long period, long long n)
{
    return sqldb_run(tx->db, "board totals",
                     "INSERT INTO board_totals(board, period, n) VALUES (?1, ?2, ?3)" CC_BOARD_TOTAL_ADD,
                     "tii", cc_board_name(board), (int64_t)period, (int64_t)n);
}

static int fill_board_entry(sqlite3_stmt *stmt, void *elem)
{
    cc_board_entry *e = elem;
    sqldb_text(stmt, 0, e->name, sizeof e->name);
    sqldb_text(stmt, 1, e->team, sizeof e->team);
    e->members = sqlite3_column_int64(stmt, 2);
    e->points = sqlite3_column_double(stmt, 3);
    e->frames = sqlite3_column_int64(stmt, 4);
    e->total = sqlite3_column_count(stmt) > 5 ? sqlite3_column_int64(stmt, 5) : 0;
    return 0;
}

static status_code sq_board_read(cc_store_tx *tx, const cc_board_query *q, cc_board *out)
{
    char rows[768], total[256];
    int k = cc_board_sql(q->teams, q->period, 0, '?', rows, sizeof rows, total, sizeof total);
    sqlite3_stmt *stmt = k ? sqldb_prepare(tx->db, rows, "iii", (int64_t)q->period_start, (int64_t)q->limit,
                                           (int64_t)q->offset)
                           : sqldb_prepare(tx->db, rows, "ii", (int64_t)q->limit, (int64_t)q->offset);
    status_code rc = sqldb_collect(tx->db, stmt, (void **)&out->v, &out->n, sizeof *out->v, fill_board_entry,
                                   "board rows");
    if (rc != STATUS_OK || out->n > 0) {
        out->total = out->n > 0 ? out->v[0].total : 0;
        return rc;
    }
    stmt =
        k ? sqldb_prepare(tx->db, total, "i", (int64_t)q->period_start) : sqldb_prepare(tx->db, total, NULL);
    return cc_store_sqlite_one_row(tx->db, stmt, "board total", read_int64, &out->total);
}

struct donor_state {
    cc_credit_row *row;
    char **team;
};

static int read_donor_state(sqlite3_stmt *stmt, void *out)
{
    struct donor_state *d = out;
    read_credit_row(stmt, 0, d->row);
    if (sqlite3_column_type(stmt, 6) != SQLITE_NULL && (*d->team = sqldb_dup(stmt, 6)) == NULL)
        return -1;
    return 0;
}

static status_code sq_donor_row(cc_store_tx *tx, const char *name, cc_credit_row *row, char **team)
{
    struct donor_state d = {row, team};
    status_code rc = sqldb_run(
        tx->db, "donor row", "INSERT INTO donor_credit(name) VALUES (?1) ON CONFLICT DO NOTHING", "t", name);
    if (rc == STATUS_OK)
        rc = cc_store_sqlite_one_row(
            tx->db,
            sqldb_prepare(tx->db, "SELECT " CC_CREDIT_ROW_COLS ", team FROM donor_credit WHERE name = ?1",
                          "t", name),
            "donor row", read_donor_state, &d);
    return rc;
}

static status_code sq_donor_set_public(cc_store_tx *tx, const char *name, int public_)
{
    return sqldb_run(tx->db, "donor public", "UPDATE donor_credit SET public = ?2 WHERE name = ?1", "ti",
                     name, (int64_t)(public_ != 0));
}

static status_code sq_donor_set_team(cc_store_tx *tx, const char *name, const char *team)
{
    sqlite3_stmt *stmt =
        sqldb_prepare(tx->db, "UPDATE donor_credit SET team = ?2 WHERE name = ?1", "t", name);
    if (stmt && team)
        sqlite3_bind_text(stmt, 2, team, -1, SQLITE_STATIC);
    status_code rc = stmt ? sqldb_step(tx->db, stmt, "donor team") : STATUS_IO;
    sqlite3_finalize(stmt);
    return rc;
}

struct joined {
    long long members, fragments;
};

static int read_joined(sqlite3_stmt *stmt, void *out)
{
    struct joined *j = out;
    j->members = sqlite3_column_int64(stmt, 0);
    j->fragments = sqlite3_column_int64(stmt, 1);
    return 0;
}

static status_code sq_team_join(cc_store_tx *tx, const char *team, int *made)
{
    struct joined j = {0};
    status_code rc =
        cc_store_sqlite_one_row(tx->db,
                                sqldb_prepare(tx->db,
                                              "INSERT INTO team_credit(team, members) VALUES (?1, 1)"
                                              " ON CONFLICT(team) DO UPDATE SET members = members + 1"
                                              " RETURNING members, fragments",
                                              "t", team),
                                "team join", read_joined, &j);
    /* A team without members and credit has no row: one member and no
     * credit is a row just made. */
    *made = rc == STATUS_OK && j.members == 1 && j.fragments == 0;
    return rc == STATUS_NOT_FOUND ? STATUS_IO : rc;
}

static status_code sq_team_leave(cc_store_tx *tx, const char *team, int *removed)
{
    status_code rc = sqldb_run(tx->db, "team leave",
                               "UPDATE team_credit SET members = members - 1 WHERE team = ?1", "t", team);
    if (rc == STATUS_OK)
        rc = sqldb_run(tx->db, "team cleanup",
                       "DELETE FROM team_credit WHERE team = ?1 AND members <= 0 AND fragments = 0", "t",
                       team);
    *removed = rc == STATUS_OK && sqlite3_changes(tx->db->conn) == 1;
    return rc;
}

static status_code sq_donor_erase(cc_store_tx *tx, const char *name, const char *anon)
{
    static const char *const renames[] = {
        "UPDATE donor_credit SET name = ?2 WHERE name = ?1",
        "UPDATE donor_target_credit SET name = ?2 WHERE name = ?1",
        "UPDATE stats SET user_name = ?2 WHERE user_name = ?1",
        "UPDATE credit_pending SET user_name = ?2 WHERE user_name = ?1",
    };
    status_code rc =
        sqldb_run(tx->db, "donor delete", "DELETE FROM users WHERE name = ?1 AND role = 'donor'", "t", name);
    for (size_t i = 0; rc == STATUS_OK && i < sizeof renames / sizeof *renames; i++)
        rc = sqldb_run(tx->db, "donor anonymise", renames[i], "tt", name, anon);
    return rc;
}

static void read_info(sqlite3_stmt *stmt, cc_donor_info *info, int *public_)
{
    sqldb_text(stmt, 0, info->username, sizeof info->username);
    sqldb_text(stmt, 1, info->team, sizeof info->team);
    *public_ = sqlite3_column_int(stmt, 2);
    info->frames = sqlite3_column_int64(stmt, 3);
    info->points = sqlite3_column_double(stmt, 4);
    info->fragments = sqlite3_column_int64(stmt, 5);
    info->last_credit = sqlite3_column_double(stmt, 6);
}

/* Appends the current row's target credit to out->targets. 0 or -1. */
static int add_target(sqlite3_stmt *stmt, cc_donor_info *out, size_t *cap)
{
    const int t = CC_DONOR_INFO_TARGET;
    if (out->n_targets == *cap) {
        size_t cap2 = *cap ? *cap * 2 : 16;
        cc_credit_total *v = realloc(out->targets, cap2 * sizeof *v);
        if (!v)
            return -1;
        out->targets = v;
        *cap = cap2;
    }
    cc_credit_total *e = &out->targets[out->n_targets++];
    sqldb_text(stmt, t, e->target_id, sizeof e->target_id);
    e->frames = sqlite3_column_int64(stmt, t + 1);
    e->points = sqlite3_column_double(stmt, t + 2);
    return 0;
}

static status_code sq_donor_info(cc_store_tx *tx, const char *name, cc_donor_info *out, int *public_)
{
    sqlite3_stmt *stmt = sqldb_prepare(tx->db, CC_DONOR_INFO_SQL("?1"), "t", name);
    status_code rc = stmt ? STATUS_OK : STATUS_IO;
    size_t cap = 0;
    int rows = 0;
    while (rc == STATUS_OK && (rc = sqldb_row(tx->db, stmt, "donor info")) == STATUS_OK) {
        if (rows++ == 0)
            read_info(stmt, out, public_);
        if (sqlite3_column_type(stmt, CC_DONOR_INFO_TARGET) != SQLITE_NULL &&
            add_target(stmt, out, &cap) != 0)
            rc = STATUS_IO;
    }
    sqlite3_finalize(stmt);
    /* NOT_FOUND ends the rows: of a donor when there were some. */
    return rc == STATUS_NOT_FOUND && rows > 0 ? STATUS_OK : rc;
}

static status_code sq_export_scan(cc_store_tx *tx, cc_export_fn fn, void *arg)
{
    static const char *const sql[] = {CC_EXPORT_DONORS_SQL, CC_EXPORT_TEAMS_SQL};
    status_code rc = STATUS_OK;
    for (int team = 0; rc == STATUS_OK && team < 2; team++) {
        sqlite3_stmt *stmt = sqldb_prepare(tx->db, sql[team], NULL);
        rc = stmt ? STATUS_OK : STATUS_IO;
        while (rc == STATUS_OK && (rc = sqldb_row(tx->db, stmt, "export scan")) == STATUS_OK) {
            cc_board_entry e;
            fill_board_entry(stmt, &e);
            if (fn(arg, &e, team, sqlite3_column_int64(stmt, 5), sqlite3_column_double(stmt, 6)) != 0)
                rc = STATUS_IO;
        }
        if (rc == STATUS_NOT_FOUND)
            rc = STATUS_OK;
        sqlite3_finalize(stmt);
    }
    return rc;
}

struct export_read {
    double *created;
    unsigned char **data;
    size_t *len;
};

static int read_export(sqlite3_stmt *stmt, void *out)
{
    struct export_read *r = out;
    const void *blob = sqlite3_column_blob(stmt, 1);
    size_t n = (size_t)sqlite3_column_bytes(stmt, 1);
    *r->created = sqlite3_column_double(stmt, 0);
    if (!blob)
        return 0;
    *r->data = malloc(n ? n : 1);
    if (!*r->data)
        return -1;
    memcpy(*r->data, blob, n);
    *r->len = n;
    return 0;
}

static status_code sq_export_load(cc_store_tx *tx, double *created, unsigned char **data, size_t *len)
{
    struct export_read r = {created, data, len};
    *created = 0;
    *data = NULL;
    *len = 0;
    return cc_store_sqlite_one_row(
        tx->db, sqldb_prepare(tx->db, "SELECT created, data FROM stats_export WHERE id = 1", NULL),
        "export load", read_export, &r);
}

static status_code sq_export_claim(cc_store_tx *tx, double now, double max_age, double lease, int *claimed)
{
    status_code rc =
        sqldb_run(tx->db, "export claim",
                  "UPDATE stats_export SET claimed = ?1 WHERE id = 1 AND created <= ?2 AND claimed <= ?3",
                  "ddd", now, now - max_age, now - lease);
    *claimed = rc == STATUS_OK && sqlite3_changes(tx->db->conn) == 1;
    return rc;
}

static status_code sq_export_save(cc_store_tx *tx, double created, const unsigned char *data, size_t len)
{
    sqlite3_stmt *stmt =
        sqldb_prepare(tx->db, "UPDATE stats_export SET created = ?1, data = ?2 WHERE id = 1", "d", created);
    if (stmt)
        sqlite3_bind_blob64(stmt, 2, data, len, SQLITE_STATIC);
    status_code rc = stmt ? sqldb_step(tx->db, stmt, "export save") : STATUS_IO;
    sqlite3_finalize(stmt);
    return rc;
}

const cc_store_credit_ops cc_store_sqlite_credit_ops = {
    .stats_insert = sq_stats_insert,
    .fold_claim = sq_fold_claim,
    .pending_take = sq_pending_take,
    .pending_count = sq_pending_count,
    .points_per_frame = sq_points_per_frame,
    .credit_donors = sq_credit_donors,
    .credit_targets = sq_credit_targets,
    .credit_teams = sq_credit_teams,
    .board_add = sq_board_add,
    .board_read = sq_board_read,
    .donor_row = sq_donor_row,
    .donor_set_public = sq_donor_set_public,
    .donor_set_team = sq_donor_set_team,
    .team_join = sq_team_join,
    .team_leave = sq_team_leave,
    .donor_erase = sq_donor_erase,
    .donor_info = sq_donor_info,
    .export_scan = sq_export_scan,
    .export_load = sq_export_load,
    .export_claim = sq_export_claim,
    .export_save = sq_export_save,
};
