/* cc_store_credit: the store's stats and donor credit, shared by its
 * backends: group commit of stats batches, the credit of each new fragment
 * (donors, targets, teams, board sizes; cc_credit.h), donor settings and
 * deletion, leaderboards and the stats export, over the credit operations
 * of cc_store_backend.h. See cc_store.h. */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_store_backend.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/gz.h"

/* ---- stats ---- */

/* A caller of cc_store_stats_insert waiting to share a transaction. */
struct stats_call {
    const cc_stats_fragment *v;
    size_t n;
    size_t inserted;
    status_code rc;
    int done;
    struct stats_call *next;
};

/* A NUL-terminated string inside a fixed buffer (possibly empty). */
static int field_ok(const char *buf, size_t size)
{
    return memchr(buf, '\0', size) != NULL;
}

/* The points_per_frame of each distinct target of a batch. */
struct rates {
    const char **ids; /* sorted, borrowed */
    double *rate;
    size_t n;
};

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static status_code read_rates(cc_store *s, cc_store_tx *tx, struct stats_call *calls, size_t total,
                              struct rates *r)
{
    r->ids = calloc(total + 1, sizeof *r->ids);
    r->rate = calloc(total + 1, sizeof *r->rate);
    r->n = 0;
    if (!r->ids || !r->rate)
        return STATUS_IO;
    for (struct stats_call *c = calls; c; c = c->next)
        for (size_t i = 0; i < c->n; i++)
            r->ids[r->n++] = c->v[i].target_id;
    qsort(r->ids, r->n, sizeof *r->ids, by_string);
    size_t unique = 0;
    for (size_t i = 0; i < r->n; i++)
        if (unique == 0 || strcmp(r->ids[unique - 1], r->ids[i]) != 0)
            r->ids[unique++] = r->ids[i];
    r->n = unique;
    status_code rc = STATUS_OK;
    for (size_t i = 0; rc == STATUS_OK && i < r->n; i++) {
        rc = s->ops->credit->points_per_frame(tx, r->ids[i], &r->rate[i]);
        if (rc == STATUS_NOT_FOUND) { /* a target deleted since: the default rate */
            r->rate[i] = 1;
            rc = STATUS_OK;
        }
    }
    return rc;
}

static double rate_of(const struct rates *r, const char *target_id)
{
    const char **at = bsearch(&target_id, r->ids, r->n, sizeof *r->ids, by_string);
    return at ? r->rate[at - r->ids] : 1;
}

/* Adds a batch's board entries (cc_credit.h) in board order. */
static status_code count_boards(cc_store *s, cc_store_tx *tx, const cc_board_counts *c)
{
    status_code rc = STATUS_OK;
    for (int i = 0; rc == STATUS_OK && i < CC_BOARDS; i++)
        if (c->n[i] != 0)
            rc = s->ops->credit->board_add(tx, (cc_board_id)i, c->period[i], c->n[i]);
    return rc;
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* Credits the new fragments items: donors, their targets, their teams,
 * then the board sizes (cc_credit.h). */
static status_code credit(cc_store *s, cc_store_tx *tx, const cc_credit_item *items, size_t n, double now)
{
    cc_credit_batch b;
    cc_board_counts counts = {0};
    cc_credit_delta *teams = NULL;
    size_t n_teams = 0;
    if (cc_credit_group(items, n, now, &b, NULL) != STATUS_OK)
        return STATUS_IO;
    cc_credit_row *rows = calloc(b.n_donors + 1, sizeof *rows);
    char **team_of = calloc(b.n_donors + 1, sizeof *team_of);
    status_code rc = rows && team_of ? s->ops->credit->credit_donors(tx, &b, rows, team_of) : STATUS_IO;
    for (size_t i = 0; rc == STATUS_OK && i < b.n_donors; i++)
        cc_board_entered(&b, &b.donors[i], &rows[i], 0, &counts);
    if (rc == STATUS_OK)
        rc = s->ops->credit->credit_targets(tx, &b);
    if (rc == STATUS_OK)
        rc = cc_credit_team_deltas(&b, (const char *const *)team_of, &teams, &n_teams, NULL);
    cc_credit_row *team_rows = rc == STATUS_OK ? calloc(n_teams + 1, sizeof *team_rows) : NULL;
    if (rc == STATUS_OK && !team_rows)
        rc = STATUS_IO;
    if (rc == STATUS_OK && n_teams > 0)
        rc = s->ops->credit->credit_teams(tx, &b, teams, n_teams, team_rows);
    for (size_t i = 0; rc == STATUS_OK && i < n_teams; i++)
        cc_board_entered(&b, &teams[i], &team_rows[i], 1, &counts);
    if (rc == STATUS_OK)
        rc = count_boards(s, tx, &counts);
    free(team_rows);
    free(teams);
    free(rows);
    free_names(team_of, b.n_donors);
    cc_credit_batch_free(&b);
    return rc;
}

/* Records the batches of calls in one transaction: each new fragment with
 * its points, queued for the fold. */
static status_code record(cc_store *s, struct stats_call *calls)
{
    size_t total = 0;
    struct rates r = {0};
    cc_store_tx *tx;
    double now = clock_wall_s();
    for (struct stats_call *c = calls; c; c = c->next)
        total += c->n;
    double *points = calloc(total + 1, sizeof *points);
    status_code rc = points ? s->ops->begin(s->impl, CC_TX_WRITE, &tx) : STATUS_IO;
    if (rc != STATUS_OK)
        goto out;
    rc = read_rates(s, tx, calls, total, &r);
    size_t at = 0;
    for (struct stats_call *c = calls; rc == STATUS_OK && c; at += c->n, c = c->next) {
        for (size_t i = 0; i < c->n; i++)
            points[at + i] = (double)c->v[i].frames * rate_of(&r, c->v[i].target_id);
        rc = s->ops->credit->stats_insert(tx, c->v, points + at, c->n, now, &c->inserted);
    }
    rc = s->ops->end(tx, rc);
out:
    free(r.ids);
    free(r.rate);
    free(points);
    return rc;
}

/* Records a group of queued calls together; when that fails and there is
 * more than one, each again on its own, so a bad batch fails alone. */
static void record_group(cc_store *s, struct stats_call *group)
{
    status_code rc = record(s, group);
    for (struct stats_call *c = group; c; c = c->next)
        c->rc = rc;
    if (rc == STATUS_OK || !group->next)
        return;
    for (struct stats_call *c = group; c; c = c->next) {
        struct stats_call *next = c->next;
        c->next = NULL;
        c->rc = record(s, c);
        c->next = next;
    }
}

/* Queues me; the first caller to find no leader records everything
 * queued (itself included) in one transaction, while later callers wait
 * for their turn or their result. */
static void record_shared(cc_store *s, struct stats_call *me)
{
    pthread_mutex_lock(&s->stats_lock);
    struct stats_call **tail = &s->stats_queue;
    while (*tail)
        tail = &(*tail)->next;
    *tail = me;
    while (!me->done && s->stats_leader)
        pthread_cond_wait(&s->stats_cond, &s->stats_lock);
    if (!me->done) {
        struct stats_call *group = s->stats_queue;
        s->stats_queue = NULL;
        s->stats_leader = 1;
        pthread_mutex_unlock(&s->stats_lock);
        record_group(s, group);
        pthread_mutex_lock(&s->stats_lock);
        for (struct stats_call *c = group; c; c = c->next)
            c->done = 1;
        s->stats_leader = 0;
        pthread_cond_broadcast(&s->stats_cond);
    }
    pthread_mutex_unlock(&s->stats_lock);
}

status_code cc_store_stats_insert(cc_store *s, const cc_stats_fragment *v, size_t n, size_t *inserted,
                                  struct status *st)
{
    size_t dummy;
    struct stats_call me = {.v = v, .n = n};

    if (!inserted)
        inserted = &dummy;
    *inserted = 0;
    if (n > CC_STATS_BATCH_MAX || (n && !v))
        return cc_store_invalid(st, "record the stats");
    for (size_t i = 0; i < n; i++) {
        const cc_stats_fragment *f = &v[i];
        if (!field_ok(f->id, sizeof f->id) || !f->id[0] || !field_ok(f->target_id, sizeof f->target_id) ||
            !field_ok(f->stream_id, sizeof f->stream_id) || !field_ok(f->engine, sizeof f->engine) ||
            !field_ok(f->user, sizeof f->user) || f->frames < 0 || !isfinite(f->start_time) ||
            !isfinite(f->end_time))
            return cc_store_invalid(st, "record the stats");
    }
    if (n == 0)
        return STATUS_OK;
    if (!s->ops->serial_writes) /* concurrent transactions: each batch its own */
        me.rc = record(s, &me);
    else
        record_shared(s, &me);
    if (me.rc == STATUS_OK) {
        *inserted = me.inserted;
        return STATUS_OK;
    }
    return me.rc == STATUS_INVALID ? cc_store_invalid(st, "record the stats")
                                   : cc_store_fail(s, st, me.rc, "record the stats");
}

/* ---- the fold ---- */

/* Credits the rows recorded on the UTC day that starts at day, at the
 * latest of their times (credit is dated when a fragment is recorded). */
static status_code credit_day(cc_store *s, cc_store_tx *tx, const cc_credit_pending *rows, size_t n,
                              long long day, cc_credit_item *items)
{
    size_t k = 0;
    double now = 0;
    for (size_t i = 0; i < n; i++) {
        if (cc_period_start(CC_PERIOD_DAY, rows[i].recorded) != day)
            continue;
        items[k++] = (cc_credit_item){rows[i].user, rows[i].target_id, rows[i].frames, rows[i].points};
        if (rows[i].recorded > now)
            now = rows[i].recorded;
    }
    return credit(s, tx, items, k, now);
}

/* Credits rows day by day, the earliest first (a batch rarely spans
 * midnight). */
static status_code credit_rows(cc_store *s, cc_store_tx *tx, const cc_credit_pending *rows, size_t n)
{
    cc_credit_item *items = calloc(n + 1, sizeof *items);
    status_code rc = items ? STATUS_OK : STATUS_IO;
    for (long long done = LLONG_MIN; rc == STATUS_OK;) {
        long long day = LLONG_MAX;
        for (size_t i = 0; i < n; i++) {
            long long d = cc_period_start(CC_PERIOD_DAY, rows[i].recorded);
            if (d > done && d < day)
                day = d;
        }
        if (day == LLONG_MAX)
            break;
        rc = credit_day(s, tx, rows, n, day, items);
        done = day;
    }
    free(items);
    return rc;
}

status_code cc_store_credit_fold(cc_store *s, size_t max, size_t *folded, long long *pending,
                                 struct status *st)
{
    cc_credit_pending *rows = NULL;
    size_t n = 0;
    int claimed = 0;
    cc_store_tx *tx;
    *folded = 0;
    *pending = 0;
    status_code rc = s->ops->begin(s->impl, CC_TX_WRITE, &tx);
    if (rc != STATUS_OK)
        return cc_store_fail(s, st, rc, "credit the recorded stats");
    rc = s->ops->credit->fold_claim(tx, 0, &claimed);
    if (rc == STATUS_OK && claimed)
        rc = s->ops->credit->pending_take(tx, max, &rows, &n);
    if (rc == STATUS_OK && n > 0)
        rc = credit_rows(s, tx, rows, n);
    if (rc == STATUS_OK)
        rc = s->ops->credit->pending_count(tx, pending);
    /* The crash tests' fault injection: the process dies with a fold
     * credited but not committed, the moment exactly-once must survive. */
    if (rc == STATUS_OK && n > 0 && getenv("SIEGETANK_CRASH_IN_FOLD"))
        raise(SIGKILL);
    rc = s->ops->end(tx, rc);
    free(rows);
    if (rc != STATUS_OK)
        return cc_store_fail(s, st, rc, "credit the recorded stats");
    *folded = n;
    return STATUS_OK;
}

/* ---- donors and credit ---- */

static status_code unknown_donor(struct status *st, const char *name)
{
    return status_fail(st, STATUS_NOT_FOUND, "unknown donor '%s' (or the donor is not public)", name);
}

status_code cc_store_donor_info(cc_store *s, const char *name, cc_donor_info *out, struct status *st)
{
    cc_store_tx *tx;
    int public_ = 0;
    memset(out, 0, sizeof *out);
    if (!cc_store_text_ok(name, CC_NAME_MAX))
        return unknown_donor(st, name ? name : "");
    /* One statement (CC_DONOR_INFO_SQL) reads the donor and its targets. */
    status_code rc = s->ops->begin(s->impl, CC_TX_ONE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->credit->donor_info(tx, name, out, &public_));
    if (rc == STATUS_OK && public_)
        return STATUS_OK;
    free(out->targets);
    memset(out, 0, sizeof *out);
    return rc == STATUS_OK || rc == STATUS_NOT_FOUND ? unknown_donor(st, name)
                                                     : cc_store_fail(s, st, rc, "read the donor");
}

/* Moves a donor from team old to team (either NULL: none), joining and
 * leaving in name order, as credit locks teams. */
static status_code move_team(cc_store *s, cc_store_tx *tx, const char *name, const char *old,
                             const char *team, cc_board_counts *c)
{
    if ((!old && !team) || (old && team && strcmp(old, team) == 0))
        return STATUS_OK;
    status_code rc = s->ops->credit->donor_set_team(tx, name, team);
    int join_first = !old || (team && strcmp(team, old) < 0);
    for (int i = 0; rc == STATUS_OK && i < 2; i++) {
        int join = (i == 0) == join_first, changed = 0;
        if (join && team)
            rc = s->ops->credit->team_join(tx, team, &changed);
        else if (!join && old)
            rc = s->ops->credit->team_leave(tx, old, &changed);
        if (changed)
            c->n[CC_BOARD_TEAMS_ALL] += join ? 1 : -1;
    }
    return rc;
}

/* Shows or hides a donor whose row is row, counting the boards it joins or
 * leaves. */
static status_code set_public(cc_store *s, cc_store_tx *tx, const char *name, const cc_credit_row *row,
                              int public_, cc_board_counts *c)
{
    if (!row->public_ == !public_)
        return STATUS_OK;
    cc_board_visibility(row, public_ ? 1 : -1, c);
    return s->ops->credit->donor_set_public(tx, name, public_);
}

/* Begins a write transaction holding the donor's credit row (and first,
 * with fold, the fold's claim: a deletion renames queued rows); NOT_FOUND
 * unless name is a donor. */
static status_code begin_donor(cc_store *s, const char *name, int fold, cc_store_tx **tx, cc_credit_row *row,
                               char **team)
{
    int found = 0;
    *team = NULL;
    status_code rc = s->ops->begin(s->impl, CC_TX_WRITE, tx);
    if (rc != STATUS_OK)
        return rc;
    if (fold)
        rc = s->ops->credit->fold_claim(*tx, 1, &found);
    if (rc == STATUS_OK)
        rc = s->ops->exists(*tx, CC_PROBE_DONOR, name, &found);
    if (rc == STATUS_OK && !found)
        rc = STATUS_NOT_FOUND;
    if (rc == STATUS_OK)
        rc = s->ops->credit->donor_row(*tx, name, row, team);
    return rc;
}

/* Counts the boards, ends the transaction begin_donor began (if it did)
 * and frees team; the outcome with its message. */
static status_code end_donor(cc_store *s, cc_store_tx *tx, status_code rc, const cc_board_counts *counts,
                             char *team, const char *name, const char *what, struct status *st)
{
    if (rc == STATUS_OK)
        rc = count_boards(s, tx, counts);
    if (tx)
        rc = s->ops->end(tx, rc);
    free(team);
    if (rc == STATUS_NOT_FOUND)
        return status_fail(st, rc, "unknown donor '%s'", name);
    return rc == STATUS_OK ? STATUS_OK : cc_store_fail(s, st, rc, what);
}

status_code cc_store_donor_settings(cc_store *s, const char *name, const cc_donor_settings *set,
                                    struct status *st)
{
    cc_store_tx *tx = NULL;
    cc_credit_row row;
    cc_board_counts counts = {0};
    char *team = NULL;
    if (!cc_store_text_ok(name, CC_NAME_MAX))
        return unknown_donor(st, name ? name : "");
    if (!set->set_team && !set->set_public)
        return status_fail(st, STATUS_INVALID, "Nothing to update");
    if (set->set_team && set->team && !cc_team_ok(set->team))
        return status_fail(st, STATUS_INVALID, "a team is 1 to %d printable characters", CC_TEAM_CHARS);
    status_code rc = begin_donor(s, name, 0, &tx, &row, &team);
    if (rc == STATUS_OK && set->set_public)
        rc = set_public(s, tx, name, &row, set->public_, &counts);
    if (rc == STATUS_OK && set->set_team)
        rc = move_team(s, tx, name, team, set->team, &counts);
    return end_donor(s, tx, rc, &counts, team, name, "change the donor's settings", st);
}

status_code cc_store_donor_delete(cc_store *s, const char *name, struct status *st)
{
    cc_store_tx *tx = NULL;
    cc_credit_row row;
    cc_board_counts counts = {0};
    char *team = NULL, anon[sizeof CC_ANON_PREFIX + 32];
    if (!cc_store_text_ok(name, CC_NAME_MAX))
        return status_fail(st, STATUS_NOT_FOUND, "unknown donor");
    memcpy(anon, CC_ANON_PREFIX, sizeof CC_ANON_PREFIX);
    if (crypto_random_hex(anon + sizeof CC_ANON_PREFIX - 1, 16) != 0)
        return status_fail(st, STATUS_IO, "cannot delete the donor: no randomness");
    status_code rc = begin_donor(s, name, 1, &tx, &row, &team);
    if (rc == STATUS_OK)
        rc = move_team(s, tx, name, team, NULL, &counts);
    if (rc == STATUS_OK)
        rc = set_public(s, tx, name, &row, 0, &counts);
    if (rc == STATUS_OK)
        rc = s->ops->credit->donor_erase(tx, name, anon);
    return end_donor(s, tx, rc, &counts, team, name, "delete the donor", st);
}

status_code cc_store_leaderboard(cc_store *s, const cc_board_query *q, cc_board *out, struct status *st)
{
    cc_store_tx *tx;
    memset(out, 0, sizeof *out);
    if (q->limit < 1 || q->limit > CC_BOARD_LIMIT_MAX || q->offset < 0 ||
        (unsigned)q->period > CC_PERIOD_WEEK)
        return cc_store_invalid(st, "read the leaderboard");
    /* One statement reads a page with the board's size (cc_board_sql). */
    status_code rc = s->ops->begin(s->impl, CC_TX_ONE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->credit->board_read(tx, q, out));
    if (rc == STATUS_OK)
        return STATUS_OK;
    free(out->v);
    memset(out, 0, sizeof *out);
    return cc_store_fail(s, st, rc, "read the leaderboard");
}

/* The export's JSON lines, collected in memory before one gzip. */
struct export_buf {
    char *data;
    size_t len, cap;
};

static int export_line(void *arg, const cc_board_entry *e, int team, long long fragments, double last_credit)
{
    struct export_buf *b = arg;
    json_t *o =
        team ? json_pack("{s:s, s:s, s:I, s:f, s:I, s:I}", "type", "team", "team", e->name, "members",
                         (json_int_t)e->members, "points", e->points, "frames", (json_int_t)e->frames,
                         "fragments", (json_int_t)fragments)
             : json_pack("{s:s, s:s, s:s?, s:f, s:I, s:I, s:f}", "type", "donor", "username", e->name, "team",
                         e->team[0] ? e->team : NULL, "points", e->points, "frames", (json_int_t)e->frames,
                         "fragments", (json_int_t)fragments, "last_credit", last_credit);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!line)
        return -1;
    size_t n = strlen(line);
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 65536) + n + 1;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            free(line);
            return -1;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, line, n);
    b->data[b->len + n] = '\n';
    b->len += n + 1;
    free(line);
    return 0;
}

/* Makes and stores a fresh export (this CC holds the claim). */
static status_code export_remake(cc_store *s, double created)
{
    struct export_buf b = {0};
    size_t zlen = 0;
    unsigned char *z = NULL;
    cc_store_tx *tx;
    status_code rc = s->ops->begin(s->impl, CC_TX_SNAPSHOT, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->credit->export_scan(tx, export_line, &b));
    if (rc == STATUS_OK) {
        z = gz_compress(b.data ? b.data : "", b.len, &zlen);
        rc = z ? s->ops->begin(s->impl, CC_TX_WRITE, &tx) : STATUS_IO;
    }
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->credit->export_save(tx, created, z, zlen));
    free(b.data);
    free(z);
    return rc;
}

/* A CC that claimed the remake and died leaves the claim; after this long
 * another CC may claim it. */
#define EXPORT_LEASE_S 600.0

status_code cc_store_export(cc_store *s, double max_age, unsigned char **data, size_t *len, struct status *st)
{
    int claimed = 0;
    double now = clock_wall_s(), created = 0;
    cc_store_tx *tx;
    status_code rc = s->ops->begin(s->impl, CC_TX_WRITE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->credit->export_claim(tx, now, max_age, EXPORT_LEASE_S, &claimed));
    if (rc == STATUS_OK && claimed)
        rc = export_remake(s, now);
    if (rc == STATUS_OK && data) {
        *data = NULL;
        *len = 0;
        rc = s->ops->begin(s->impl, CC_TX_ONE, &tx);
        if (rc == STATUS_OK)
            rc = s->ops->end(tx, s->ops->credit->export_load(tx, &created, data, len));
        if (rc == STATUS_OK && !*data)
            return status_fail(st, STATUS_NOT_FOUND,
                               "the first stats export is being made; try again in a minute");
    }
    return rc == STATUS_OK ? STATUS_OK : cc_store_fail(s, st, rc, "make the stats export");
}
