/* cc_credit: periods, team names and the grouping of a batch's credit. */
#include "cc/cc_credit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

#define DAY_S 86400LL
#define WEEK_S (7 * DAY_S)
/* 1970-01-05, the first Monday after the epoch (a Thursday). */
#define FIRST_MONDAY_S (4 * DAY_S)

static const char *const period_names[] = {"all", "day", "week"};

const char *cc_period_name(cc_period p)
{
    return (unsigned)p < 3 ? period_names[p] : "all";
}

int cc_period_parse(const char *name, cc_period *out)
{
    for (int i = 0; name && i < 3; i++) {
        if (strcmp(name, period_names[i]) == 0) {
            *out = (cc_period)i;
            return 0;
        }
    }
    return -1;
}

static long long floor_div(long long a, long long b)
{
    long long q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

long long cc_period_start(cc_period p, double now)
{
    long long t = (long long)floor(now);
    if (p == CC_PERIOD_DAY)
        return floor_div(t, DAY_S) * DAY_S;
    if (p == CC_PERIOD_WEEK)
        return floor_div(t - FIRST_MONDAY_S, WEEK_S) * WEEK_S + FIRST_MONDAY_S;
    return 0;
}

int cc_team_ok(const char *team)
{
    size_t len = team ? strnlen(team, CC_TEAM_BYTES + 1) : 0, chars = 0;
    const unsigned char *s = (const unsigned char *)team;
    if (len == 0 || len > CC_TEAM_BYTES)
        return 0;
    for (size_t i = 0; i < len; chars++) {
        unsigned cp;
        size_t n = utf8_char(s + i, len - i, &cp);
        if (n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
            return 0;
        i += n;
    }
    return chars <= CC_TEAM_CHARS;
}

static int by_key(const void *a, const void *b)
{
    const cc_credit_delta *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c == 0 && x->target && y->target)
        c = strcmp(x->target, y->target);
    return c;
}

/* Sorts v and merges neighbours with equal keys; returns the new count. */
static size_t merge_sorted(cc_credit_delta *v, size_t n)
{
    size_t out = 0;
    qsort(v, n, sizeof *v, by_key);
    for (size_t i = 0; i < n; i++) {
        if (out > 0 && by_key(&v[out - 1], &v[i]) == 0) {
            v[out - 1].frames += v[i].frames;
            v[out - 1].points += v[i].points;
            v[out - 1].fragments += v[i].fragments;
        } else {
            v[out++] = v[i];
        }
    }
    return out;
}

status_code cc_credit_group(const cc_credit_item *items, size_t n, double now, cc_credit_batch *out,
                            struct status *st)
{
    memset(out, 0, sizeof *out);
    out->now = now;
    out->day = cc_period_start(CC_PERIOD_DAY, now);
    out->week = cc_period_start(CC_PERIOD_WEEK, now);
    out->donors = calloc(n + 1, sizeof *out->donors);
    out->targets = calloc(n + 1, sizeof *out->targets);
    if (!out->donors || !out->targets) {
        cc_credit_batch_free(out);
        return status_fail(st, STATUS_IO, "out of memory grouping credit");
    }
    for (size_t i = 0; i < n; i++) {
        if (!items[i].user || !items[i].user[0])
            continue;
        cc_credit_delta d = {
            .key = items[i].user, .frames = items[i].frames, .points = items[i].points, .fragments = 1};
        out->donors[out->n_donors++] = d;
        d.target = items[i].target_id;
        out->targets[out->n_targets++] = d;
    }
    out->n_donors = merge_sorted(out->donors, out->n_donors);
    out->n_targets = merge_sorted(out->targets, out->n_targets);
    return STATUS_OK;
}

void cc_credit_batch_free(cc_credit_batch *b)
{
    free(b->donors);
    free(b->targets);
    b->donors = b->targets = NULL;
    b->n_donors = b->n_targets = 0;
}

status_code cc_credit_team_deltas(const cc_credit_batch *b, const char *const *teams, cc_credit_delta **out,
                                  size_t *n, struct status *st)
{
    *n = 0;
    *out = calloc(b->n_donors + 1, sizeof **out);
    if (!*out)
        return status_fail(st, STATUS_IO, "out of memory grouping team credit");
    for (size_t i = 0; i < b->n_donors; i++) {
        if (!teams[i])
            continue;
        cc_credit_delta d = b->donors[i];
        d.key = teams[i];
        (*out)[(*n)++] = d;
    }
    *n = merge_sorted(*out, *n);
    return STATUS_OK;
}

int cc_board_sql(int teams, cc_period period, int first_page, char mark, char *rows, size_t rows_len,
                 char *total, size_t total_len)
{
    const char *p = period == CC_PERIOD_DAY ? "day" : period == CC_PERIOD_WEEK ? "week" : NULL;
    char cols[128], where[128], page[64];
    int first = p ? 2 : 1;
    const char *table = teams ? "team_credit" : "donor_credit", *key = teams ? "team" : "name";
    /* Hidden donors never show; a donor row made by settings alone has no
     * credit to rank. */
    const char *visible = teams ? "1 = 1" : p ? "public = 1" : "public = 1 AND fragments > 0";
    snprintf(cols, sizeof cols, "%s, %s, %s, %s%spoints, %s%sframes", key,
             teams ? "''" : "coalesce(team, '')", teams ? "members" : "0", p ? p : "", p ? "_" : "",
             p ? p : "", p ? "_" : "");
    if (p)
        snprintf(where, sizeof where, "%s AND %s = %c1", visible, p, mark);
    else
        snprintf(where, sizeof where, "%s", visible);
    snprintf(total, total_len,
             "SELECT coalesce(sum(n), 0) FROM board_totals WHERE board = '%s' AND period = %s",
             cc_board_name(cc_board_of(teams, period)), p ? (mark == '?' ? "?1" : "$1") : "0");
    if (first_page)
        snprintf(page, sizeof page, "LIMIT %d OFFSET 0", CC_BOARD_LIMIT_DEFAULT);
    else
        snprintf(page, sizeof page, "LIMIT %c%d OFFSET %c%d", mark, first, mark, first + 1);
    snprintf(rows, rows_len, "SELECT %s, (%s) FROM %s WHERE %s ORDER BY %s%spoints DESC, %s %s", cols, total,
             table, where, p ? p : "", p ? "_" : "", key, page);
    return p ? 1 : 0;
}

static const char *const board_names[CC_BOARDS] = {"donors_all", "donors_day", "donors_week",
                                                   "teams_all",  "teams_day",  "teams_week"};

const char *cc_board_name(cc_board_id id)
{
    return (unsigned)id < CC_BOARDS ? board_names[id] : "donors_all";
}

cc_board_id cc_board_of(int teams, cc_period period)
{
    return (cc_board_id)((teams ? CC_BOARD_TEAMS_ALL : CC_BOARD_DONORS_ALL) + (int)period);
}

static void count(cc_board_counts *c, cc_board_id id, long long period, long long n)
{
    c->n[id] += n;
    c->period[id] = period;
}

void cc_board_entered(const cc_credit_batch *b, const cc_credit_delta *d, const cc_credit_row *row, int teams,
                      cc_board_counts *c)
{
    if (!teams && !row->public_)
        return;
    if (!teams && row->fragments == d->fragments)
        count(c, CC_BOARD_DONORS_ALL, 0, 1);
    if (row->day == b->day && row->day_fragments == d->fragments)
        count(c, cc_board_of(teams, CC_PERIOD_DAY), b->day, 1);
    if (row->week == b->week && row->week_fragments == d->fragments)
        count(c, cc_board_of(teams, CC_PERIOD_WEEK), b->week, 1);
}

void cc_board_visibility(const cc_credit_row *row, int sign, cc_board_counts *c)
{
    if (row->fragments > 0)
        count(c, CC_BOARD_DONORS_ALL, 0, sign);
    if (row->day_fragments > 0)
        count(c, CC_BOARD_DONORS_DAY, row->day, sign);
    if (row->week_fragments > 0)
        count(c, CC_BOARD_DONORS_WEEK, row->week, sign);
}
