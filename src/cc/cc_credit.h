/* cc_credit: the backend-independent half of donor credit (PROTOCOL.md,
 * "Donors and credit").
 *
 * Credit is kept in aggregates, updated by the fold that takes recorded
 * fragments off their queue (cc_store_credit_fold), so leaderboards and
 * donor info never scan the fragments:
 * - donor_credit: one row per credited name with the all-time totals, the
 *   donor's team and public flag, and the totals of the day and of the week
 *   the row was last credited in (day/week hold the period's start; a row
 *   credited in a later period restarts that period's totals);
 * - donor_target_credit: one row per (name, target);
 * - team_credit: the same totals per team, and its member count.
 * Days and weeks are UTC; weeks start on Monday. A fragment is credited at
 * the CC's clock when it was recorded.
 *
 * This module groups a fold's fragments into per-donor,
 * per-(donor, target) and per-team deltas, sorted by key so concurrent
 * writers (several CCs on one PostgreSQL) lock rows in the same order and
 * never deadlock. */
#ifndef ST_CC_CREDIT_H
#define ST_CC_CREDIT_H

#include <stddef.h>

#include "util/status.h"

#define CC_TEAM_CHARS 64                  /* a team name: 1..64 printable characters */
#define CC_TEAM_BYTES (4 * CC_TEAM_CHARS) /* the same in UTF-8 bytes, at most */
#define CC_BOARD_LIMIT_MAX 1000
#define CC_BOARD_LIMIT_DEFAULT 100
#define CC_BOARD_OFFSET_MAX 999999999999L /* past any board; bounds the SQL OFFSET */
#define CC_ANON_PREFIX "anonymous-"

typedef enum cc_period { CC_PERIOD_ALL, CC_PERIOD_DAY, CC_PERIOD_WEEK } cc_period;

const char *cc_period_name(cc_period p);
/* "all", "day" or "week"; 0, or -1 if unknown. */
int cc_period_parse(const char *name, cc_period *out);
/* The UTC start (epoch seconds) of the day or the week (Monday 00:00) that
 * holds now; 0 for CC_PERIOD_ALL. */
long long cc_period_start(cc_period p, double now);

/* 1 when team is 1..CC_TEAM_CHARS characters of valid UTF-8 with no
 * control characters, else 0. */
int cc_team_ok(const char *team);

/* One newly recorded fragment, as credit sees it (borrowed strings). */
typedef struct cc_credit_item {
    const char *user;
    const char *target_id;
    long long frames;
    double points;
} cc_credit_item;

typedef struct cc_credit_delta {
    const char *key;    /* donor name, or team (borrowed) */
    const char *target; /* per-(donor, target) deltas only */
    long long frames;
    double points;
    long long fragments;
} cc_credit_delta;

/* A batch's deltas at time now: by donor and by (donor, target), each
 * sorted by key. Fragments without a user credit nobody and are left out. */
typedef struct cc_credit_batch {
    double now;
    long long day;  /* cc_period_start(CC_PERIOD_DAY, now) */
    long long week; /* cc_period_start(CC_PERIOD_WEEK, now) */
    cc_credit_delta *donors;
    size_t n_donors;
    cc_credit_delta *targets;
    size_t n_targets;
} cc_credit_batch;

status_code cc_credit_group(const cc_credit_item *items, size_t n, double now, cc_credit_batch *out,
                            struct status *st);
void cc_credit_batch_free(cc_credit_batch *b);

/* The team deltas of a batch, given each donor delta's team (teams[i] for
 * b->donors[i], NULL when none): sorted by team, in *out (free() it). */
status_code cc_credit_team_deltas(const cc_credit_batch *b, const char *const *teams, cc_credit_delta **out,
                                  size_t *n, struct status *st);

/* Every board's size is kept in the table board_totals (board, period, n)
 * as rows enter and leave it, so no request counts rows. */
typedef enum cc_board_id {
    CC_BOARD_DONORS_ALL,
    CC_BOARD_DONORS_DAY,
    CC_BOARD_DONORS_WEEK,
    CC_BOARD_TEAMS_ALL,
    CC_BOARD_TEAMS_DAY,
    CC_BOARD_TEAMS_WEEK,
    CC_BOARDS
} cc_board_id;

const char *cc_board_name(cc_board_id id);
cc_board_id cc_board_of(int teams, cc_period period);

/* An aggregate row after an upsert, as CC_CREDIT_ROW_COLS report it. */
typedef struct cc_credit_row {
    int public_;
    long long fragments, day, day_fragments, week, week_fragments;
} cc_credit_row;

/* Changes to board sizes: n[board] at the period start period[board]. */
typedef struct cc_board_counts {
    long long n[CC_BOARDS];
    long long period[CC_BOARDS];
} cc_board_counts;

/* Counts the boards a row entered with this batch's delta d: its totals on
 * a board equal d's exactly. teams: d is a team's delta. */
void cc_board_entered(const cc_credit_batch *b, const cc_credit_delta *d, const cc_credit_row *row, int teams,
                      cc_board_counts *c);
/* Counts a donor row leaving (sign -1) or joining (+1) the public boards
 * it has credit on, when its public flag changes. */
void cc_board_visibility(const cc_credit_row *row, int sign, cc_board_counts *c);

/* A leaderboard's two statements for a backend whose numbered parameters
 * start with mark ('?' for SQLite, '$' for PostgreSQL): rows (columns name,
 * team, members, points, frames, and the board's size, so one statement
 * answers a page) and total (the size alone, for a page past the end).
 * Their parameters: the period's start unless period is CC_PERIOD_ALL, then
 * (rows only) the limit and the offset, unless first_page: then rows reads
 * the first CC_BOARD_LIMIT_DEFAULT entries, written in its text, which is
 * one of six, so PostgreSQL reuses one plan for the page most asked for
 * (it plans a page of unknown size for each call). Returns how many
 * parameters come before the limit (0 or 1). */
int cc_board_sql(int teams, cc_period period, int first_page, char mark, char *rows, size_t rows_len,
                 char *total, size_t total_len);

/* ---- SQL both backends share (standard upsert syntax) ----------------- */

/* The columns every aggregate row carries besides its key. */
#define CC_CREDIT_COLS                                                                                       \
    "frames, points, fragments, last_credit, day, day_frames, day_points, day_fragments, week, week_frames," \
    " week_points, week_fragments"

/* One of a period's totals in an upsert of table t: a later period
 * restarts it, an earlier one (another CC's clock) leaves it alone. */
#define CC_CREDIT_PERIOD_FIELD(t, p, f)                                                                      \
    p "_" f " = CASE WHEN excluded." p " > " t "." p " THEN excluded." p "_" f " WHEN excluded." p " = " t   \
      "." p " THEN " t "." p "_" f " + excluded." p "_" f " ELSE " t "." p "_" f " END, "

#define CC_CREDIT_PERIOD_SET(t, p)                                                                           \
    CC_CREDIT_PERIOD_FIELD(t, p, "frames")                                                                   \
    CC_CREDIT_PERIOD_FIELD(t, p, "points")                                                                   \
    CC_CREDIT_PERIOD_FIELD(t, p, "fragments")                                                                \
    p " = CASE WHEN excluded." p " > " t "." p " THEN excluded." p " ELSE " t "." p " END"

/* The ON CONFLICT ... DO UPDATE SET list adding a delta to table t. */
#define CC_CREDIT_ADD_SET(t)                                                                                 \
    "frames = " t ".frames + excluded.frames, points = " t ".points + excluded.points, fragments = " t       \
    ".fragments + excluded.fragments, last_credit = CASE WHEN excluded.last_credit > " t                     \
    ".last_credit THEN excluded.last_credit ELSE " t                                                         \
    ".last_credit END, " CC_CREDIT_PERIOD_SET(t, "day") ", " CC_CREDIT_PERIOD_SET(t, "week")

/* What an upsert left in an aggregate row (its RETURNING columns
 * CC_CREDIT_ROW_COLS, in order). */
#define CC_CREDIT_ROW_FRAGMENTS "fragments, day, day_fragments, week, week_fragments"
#define CC_CREDIT_ROW_COLS "public, " CC_CREDIT_ROW_FRAGMENTS

/* The stats export's two scans (columns as a board's rows, then fragments
 * and last_credit): public donors with credit, then teams, by points. */
#define CC_EXPORT_DONORS_SQL                                                                                 \
    "SELECT name, coalesce(team, ''), 0, points, frames, fragments, last_credit FROM donor_credit"           \
    " WHERE public = 1 AND fragments > 0 ORDER BY points DESC, name"
#define CC_EXPORT_TEAMS_SQL                                                                                  \
    "SELECT team, '', members, points, frames, fragments, last_credit FROM team_credit"                      \
    " ORDER BY points DESC, team"

/* A donor's info (CC_DONOR_INFO_TARGET columns after it) in one statement,
 * so one snapshot without a transaction: a row per target credited, in
 * target order, or one row with NULL target columns. p is the backend's
 * first parameter ("$1", "?1"). */
#define CC_DONOR_INFO_SQL(p)                                                                                 \
    "SELECT u.name, coalesce(c.team, ''), coalesce(c.public, 1), coalesce(c.frames, 0),"                     \
    " coalesce(c.points, 0), coalesce(c.fragments, 0), coalesce(c.last_credit, 0),"                          \
    " t.target_id, t.frames, t.points FROM users u LEFT JOIN donor_credit c ON c.name = u.name"              \
    " LEFT JOIN donor_target_credit t ON t.name = u.name WHERE u.name = " p " AND u.role = 'donor'"          \
    " ORDER BY t.target_id"
#define CC_DONOR_INFO_TARGET 7

#define CC_BOARD_TOTAL_ADD " ON CONFLICT (board, period) DO UPDATE SET n = board_totals.n + excluded.n"

#endif
