/* Donors and credit (PROTOCOL.md "Donors and credit") through the real
 * `siegetank cc`: points_per_frame, credit from POST /stats (retries
 * included), donor info, settings, deletion, both leaderboards and the
 * stats export.
 *
 * Built twice: test_cc_donors on SQLite, test_cc_donors_pg (CC_TEST_PG=1)
 * on a private PostgreSQL server, where a second CC on the same database
 * must answer the same from the shared aggregates and serve the same
 * export. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cc_daemon.h"
#include "harness.h"
#include "metrics_page.h"
#include "pg_harness.h"
#include "util/gz.h"

#ifndef CC_TEST_PG
#define CC_TEST_PG 0
#endif

#define SECRET CC_DAEMON_SECRET

static pg_harness *pg;
static char database[512];

struct world {
    struct daemon_proc cc, other; /* other: a second CC on the same PostgreSQL database */
    char admin[64], manager[64], alice[64], bob[64], carol[64];
    char target_a[64], target_b[64];
};

static void start(struct world *w)
{
    char url[256];
    database[0] = '\0';
    if (CC_TEST_PG) {
        assert_int_equal(pg_harness_create_db(pg, "donors", url, sizeof url), 0);
        snprintf(database, sizeof database, "database = '%s'\n", url);
    }
    cc_daemon_prepare(&w->cc, database);
    cc_daemon_run(&w->cc);
    if (CC_TEST_PG) {
        cc_daemon_prepare(&w->other, database);
        cc_daemon_run(&w->other);
    }
    cc_daemon_get(&w->cc, "POST", "/managers", NULL,
                  "{\"email\":\"root@x\",\"password\":\"pw\",\"role\":\"admin\"}", "token", w->admin,
                  sizeof w->admin);
    cc_daemon_get(&w->cc, "POST", "/managers", w->admin,
                  "{\"email\":\"m1@x\",\"password\":\"pw\",\"role\":\"manager\"}", "token", w->manager,
                  sizeof w->manager);
    cc_daemon_get(&w->cc, "POST", "/donors", NULL,
                  "{\"username\":\"alice\",\"password\":\"pw\",\"email\":\"alice@mail\"}", "token", w->alice,
                  sizeof w->alice);
    cc_daemon_get(&w->cc, "POST", "/donors", NULL,
                  "{\"username\":\"bob\",\"password\":\"pw\",\"email\":\"bob@mail\"}", "token", w->bob,
                  sizeof w->bob);
    cc_daemon_get(&w->cc, "POST", "/donors", NULL,
                  "{\"username\":\"carol\",\"password\":\"pw\",\"email\":\"carol@mail\"}", "token", w->carol,
                  sizeof w->carol);
    cc_daemon_get(&w->cc, "POST", "/targets", w->manager, "{\"engines\":[\"toy\"]}", "target_id", w->target_a,
                  sizeof w->target_a);
    cc_daemon_get(&w->cc, "POST", "/targets", w->manager, "{\"engines\":[\"toy\"],\"points_per_frame\":2.5}",
                  "target_id", w->target_b, sizeof w->target_b);
}

static void stop(struct world *w)
{
    assert_int_equal(harness_stop(w->cc.pid, SIGTERM, 20), 0);
    if (CC_TEST_PG) {
        assert_int_equal(harness_stop(w->other.pid, SIGTERM, 20), 0);
        assert_int_equal(pg_harness_drop_db(pg, "donors"), 0);
    }
}

static json_t *get(const struct daemon_proc *d, const char *path)
{
    json_t *v = NULL;
    long status = cc_daemon_call(d, "GET", path, NULL, NULL, &v);
    if (status != 200)
        fprintf(stderr, "GET %s: %ld\n", path, status);
    assert_int_equal(status, 200);
    return v;
}

/* Waits until the CC has credited every fragment recorded so far (the fold
 * trails POST /stats). */
static void wait_credited(const struct world *w)
{
    metrics_page_wait(w->cc.url, "siegetank_cc_credit_pending", 0, 30);
}

/* A sample of a CC's /metrics. */
static double metric(const struct daemon_proc *d, const char *series)
{
    char *page = metrics_page_get(d->url);
    double v = metrics_page_value(page, series);
    free(page);
    return v;
}

/* The frames credited to alice, bob and carol together. */
static long credited_frames(const struct world *w)
{
    const char *names[] = {"alice", "bob", "carol"};
    long credited = 0;
    for (int i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof path, "/donors/info/%s", names[i]);
        json_t *v = get(&w->cc, path);
        credited += (long)json_integer_value(json_object_get(v, "frames"));
        json_decref(v);
    }
    return credited;
}

/* POST /stats with one fragment per "id user target frames" spec, then
 * waits for its credit; returns how many were new. */
static long post_stats(const struct world *w, const char *const *specs)
{
    json_t *list = json_array(), *v = NULL;
    char id[64], user[64], target[16];
    long long frames;
    for (; *specs; specs++) {
        assert_int_equal(sscanf(*specs, "%63s %63s %15s %lld", id, user, target, &frames), 4);
        const char *t = strcmp(target, "A") == 0 ? w->target_a : w->target_b;
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:I}", "id", id,
                                              "target_id", t, "stream_id", "s:scv", "engine", "toy", "user",
                                              strcmp(user, "-") == 0 ? "" : user, "start_time", 1.0,
                                              "end_time", 2.0, "frames", (json_int_t)frames));
    }
    json_t *body = json_pack("{s:o}", "fragments", list);
    char *text = json_dumps(body, JSON_COMPACT);
    assert_int_equal(cc_daemon_call(&w->cc, "POST", "/stats", SECRET, text, &v), 200);
    long inserted = (long)json_integer_value(json_object_get(v, "inserted"));
    json_decref(v);
    json_decref(body);
    free(text);
    wait_credited(w);
    return inserted;
}

/* "name:points:frames,..." of a leaderboard's entries, and its total. */
static void board(const struct daemon_proc *d, const char *path, char *out, size_t n, long long *total)
{
    json_t *v = get(d, path), *e;
    size_t i, used = 0;
    out[0] = '\0';
    *total = json_integer_value(json_object_get(v, "total"));
    json_array_foreach(json_object_get(v, "entries"), i, e)
    {
        const char *name = json_string_value(json_object_get(e, "username"));
        if (!name)
            name = json_string_value(json_object_get(e, "team"));
        assert_int_equal(json_integer_value(json_object_get(e, "rank")),
                         (json_int_t)i + 1 + (strstr(path, "offset=1") ? 1 : 0));
        used += (size_t)snprintf(out + used, n - used, "%s%s:%g:%lld", i ? "," : "", name,
                                 json_number_value(json_object_get(e, "points")),
                                 (long long)json_integer_value(json_object_get(e, "frames")));
    }
    json_decref(v);
}

static void expect_board(const struct world *w, const char *path, const char *want, long long want_total)
{
    char got[1024];
    long long total;
    board(&w->cc, path, got, sizeof got, &total);
    assert_string_equal(got, want);
    assert_int_equal(total, want_total);
    if (CC_TEST_PG) {
        /* The other CC reads the same aggregates. */
        board(&w->other, path, got, sizeof got, &total);
        assert_string_equal(got, want);
        assert_int_equal(total, want_total);
    }
}

static void test_points_per_frame(void **state)
{
    (void)state;
    struct world w;
    json_t *v;
    char path[128];
    start(&w);
    snprintf(path, sizeof path, "/targets/info/%s", w.target_a);
    v = get(&w.cc, path);
    assert_true(json_number_value(json_object_get(v, "points_per_frame")) == 1.0);
    json_decref(v);
    cc_daemon_expect(&w.cc, 400, "POST", "/targets", w.manager,
                     "{\"engines\":[\"toy\"],\"points_per_frame\":-1}");
    cc_daemon_expect(&w.cc, 400, "POST", "/targets", w.manager,
                     "{\"engines\":[\"toy\"],\"points_per_frame\":\"x\"}");
    snprintf(path, sizeof path, "/targets/update/%s", w.target_a);
    cc_daemon_expect(&w.cc, 400, "PUT", path, w.manager, "{\"points_per_frame\":-0.5}");
    cc_daemon_expect(&w.cc, 200, "PUT", path, w.manager, "{\"points_per_frame\":3}");
    snprintf(path, sizeof path, "/targets/info/%s", w.target_a);
    v = get(&w.cc, path);
    assert_true(json_number_value(json_object_get(v, "points_per_frame")) == 3.0);
    json_decref(v);
    stop(&w);
}

static void test_credit_info_and_boards(void **state)
{
    (void)state;
    struct world w;
    json_t *v;
    start(&w);
    const char *batch[] = {"f1 alice A 10", "f2 alice B 4", "f3 bob A 7", "f4 m1@x A 5", "f5 - A 3", NULL};
    assert_int_equal(post_stats(&w, batch), 5);
    assert_int_equal(post_stats(&w, batch), 0); /* a retried batch credits nothing again */
    /* A later points_per_frame applies from then on only. */
    char path[128];
    snprintf(path, sizeof path, "/targets/update/%s", w.target_b);
    cc_daemon_expect(&w.cc, 200, "PUT", path, w.manager, "{\"points_per_frame\":10}");
    const char *later[] = {"f6 alice B 1", "f1 alice A 99", NULL};
    assert_int_equal(post_stats(&w, later), 1);

    v = get(&w.cc, "/donors/info/alice");
    assert_string_equal(json_string_value(json_object_get(v, "username")), "alice");
    assert_true(json_is_null(json_object_get(v, "team")));
    assert_int_equal(json_integer_value(json_object_get(v, "frames")), 15);
    assert_true(json_number_value(json_object_get(v, "points")) == 10 + 4 * 2.5 + 10);
    assert_int_equal(json_integer_value(json_object_get(v, "fragments")), 3);
    assert_true(json_number_value(json_object_get(v, "last_credit")) > 0);
    json_t *targets = json_object_get(v, "targets");
    assert_int_equal(json_object_size(targets), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(targets, w.target_b), "frames")), 5);
    assert_true(json_number_value(json_object_get(json_object_get(targets, w.target_b), "points")) == 20.0);
    /* Exactly these keys: never an email, password or token. */
    assert_int_equal(json_object_size(v), 7);
    char *text = json_dumps(v, 0);
    assert_null(strstr(text, "alice@mail"));
    free(text);
    json_decref(v);
    v = get(&w.cc, "/donors/info/carol"); /* a donor without credit */
    assert_int_equal(json_integer_value(json_object_get(v, "frames")), 0);
    assert_true(json_is_null(json_object_get(v, "last_credit")));
    json_decref(v);
    cc_daemon_expect(&w.cc, 400, "GET", "/donors/info/nobody", NULL, NULL);
    cc_daemon_expect(&w.cc, 400, "GET", "/donors/info/m1@x", NULL, NULL); /* a manager is no donor */

    /* Public donors with credit, by points; a manager's credit never shows. */
    expect_board(&w, "/leaderboard/donors", "alice:30:15,bob:7:7", 2);
    expect_board(&w, "/leaderboard/donors?period=week", "alice:30:15,bob:7:7", 2);
    expect_board(&w, "/leaderboard/donors?period=day&limit=1", "alice:30:15", 2);
    expect_board(&w, "/leaderboard/donors?limit=5&offset=1", "bob:7:7", 2);
    expect_board(&w, "/leaderboard/donors?offset=50", "", 2); /* past the end: still the size */
    cc_daemon_expect(&w.cc, 400, "GET", "/leaderboard/donors?period=month", NULL, NULL);
    cc_daemon_expect(&w.cc, 400, "GET", "/leaderboard/donors?limit=0", NULL, NULL);
    cc_daemon_expect(&w.cc, 400, "GET", "/leaderboard/donors?limit=1001", NULL, NULL);
    cc_daemon_expect(&w.cc, 400, "GET", "/leaderboard/teams?offset=-1", NULL, NULL);
    cc_daemon_expect(&w.cc, 400, "GET", "/leaderboard/teams?limit=x", NULL, NULL);

    /* Teams: credit earned while a member counts for the team. */
    cc_daemon_expect(&w.cc, 200, "PUT", "/donors/settings", w.alice, "{\"team\":\"Red Team \xc3\xa9\"}");
    cc_daemon_expect(&w.cc, 200, "PUT", "/donors/settings", w.bob, "{\"team\":\"Red Team \xc3\xa9\"}");
    cc_daemon_expect(&w.cc, 200, "PUT", "/donors/settings", w.carol, "{\"team\":\"Blue\"}");
    const char *team_batch[] = {"f7 alice A 2", "f8 bob A 1", NULL};
    assert_int_equal(post_stats(&w, team_batch), 2);
    expect_board(&w, "/leaderboard/teams", "Red Team \xc3\xa9:3:3,Blue:0:0", 2);
    expect_board(&w, "/leaderboard/teams?period=week", "Red Team \xc3\xa9:3:3", 1);
    v = get(&w.cc, "/leaderboard/teams");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(json_object_get(v, "entries"), 0), "members")), 2);
    json_decref(v);
    v = get(&w.cc, "/donors/info/alice");
    assert_string_equal(json_string_value(json_object_get(v, "team")), "Red Team \xc3\xa9");
    json_decref(v);

    /* A hidden donor leaves every public view; its team keeps the credit. */
    cc_daemon_expect(&w.cc, 200, "PUT", "/donors/settings", w.bob, "{\"public\":false}");
    expect_board(&w, "/leaderboard/donors", "alice:32:17", 1);
    cc_daemon_expect(&w.cc, 400, "GET", "/donors/info/bob", NULL, NULL);
    expect_board(&w, "/leaderboard/teams?period=week", "Red Team \xc3\xa9:3:3", 1);
    cc_daemon_expect(&w.cc, 200, "PUT", "/donors/settings", w.bob, "{\"public\":true,\"team\":null}");
    expect_board(&w, "/leaderboard/donors", "alice:32:17,bob:8:8", 2);

    /* Bad settings change nothing. */
    cc_daemon_expect(&w.cc, 401, "PUT", "/donors/settings", NULL, "{\"public\":false}");
    cc_daemon_expect(&w.cc, 401, "PUT", "/donors/settings", w.manager, "{\"public\":false}");
    cc_daemon_expect(&w.cc, 400, "PUT", "/donors/settings", w.bob, "{}");
    cc_daemon_expect(&w.cc, 400, "PUT", "/donors/settings", w.bob, "{\"team\":\"\"}");
    cc_daemon_expect(&w.cc, 400, "PUT", "/donors/settings", w.bob, "{\"team\":\"a\\u0007b\"}");
    cc_daemon_expect(&w.cc, 400, "PUT", "/donors/settings", w.bob,
                     "{\"team\":\"01234567890123456789012345678901234567890123456789012345678901234\"}");
    cc_daemon_expect(&w.cc, 400, "PUT", "/donors/settings", w.bob, "{\"public\":\"no\",\"team\":\"Blue\"}");
    expect_board(&w, "/leaderboard/donors", "alice:32:17,bob:8:8", 2);
    expect_board(&w, "/leaderboard/teams", "Red Team \xc3\xa9:3:3,Blue:0:0", 2);

    /* Deletion: the login goes, the credit stays in the team's totals. */
    cc_daemon_expect(&w.cc, 401, "PUT", "/donors/delete", w.manager, "{}");
    cc_daemon_expect(&w.cc, 200, "PUT", "/donors/delete", w.alice, "{}");
    cc_daemon_expect(&w.cc, 401, "PUT", "/donors/delete", w.alice, "{}");
    cc_daemon_expect(&w.cc, 401, "POST", "/donors/auth", NULL,
                     "{\"username\":\"alice\",\"password\":\"pw\"}");
    cc_daemon_expect(&w.cc, 400, "GET", "/donors/info/alice", NULL, NULL);
    expect_board(&w, "/leaderboard/donors", "bob:8:8", 1);
    expect_board(&w, "/leaderboard/teams", "Red Team \xc3\xa9:3:3,Blue:0:0", 2);
    v = get(&w.cc, "/leaderboard/teams");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(json_object_get(v, "entries"), 0), "members")), 0);
    json_decref(v);
    /* A team without members and credit disappears. */
    cc_daemon_expect(&w.cc, 200, "PUT", "/donors/settings", w.carol, "{\"team\":null}");
    expect_board(&w, "/leaderboard/teams", "Red Team \xc3\xa9:3:3", 1);
    /* The name and the email are free again, with nothing of the old credit. */
    cc_daemon_get(&w.cc, "POST", "/donors", NULL,
                  "{\"username\":\"alice\",\"password\":\"pw2\",\"email\":\"alice@mail\"}", "token", w.alice,
                  sizeof w.alice);
    v = get(&w.cc, "/donors/info/alice");
    assert_int_equal(json_integer_value(json_object_get(v, "frames")), 0);
    json_decref(v);
    stop(&w);
}

/* Concurrent batches share transactions (cc_store_stats_insert's group
 * commit) and, on PostgreSQL, go to both CCs, whose folders both run: with
 * retries and overlapping ids, each fragment still counts once, and the
 * CCs' folds together credited each once. */
#define POSTERS 6
#define BATCHES 12
#define PER_BATCH 40

struct poster {
    const struct world *w;
    const struct daemon_proc *cc;
    int index, batches, per_batch;
    int unshared; /* no batch shared with the other posters */
    int sent;     /* batches tried, the last one maybe unanswered */
    const char *prefix;
    long inserted;
    int failures, stop_at_failure;
    atomic_int *posted; /* batches answered 200, all posters together */
};

/* Batch b of poster p: ids unique to the poster in odd batches, shared by
 * all posters in even ones (as a retried batch is). */
static char *batch_text(const struct poster *p, int b)
{
    json_t *list = json_array();
    const char *users[] = {"alice", "bob", "carol"};
    for (int k = 0; k < p->per_batch; k++) {
        char id[64];
        snprintf(id, sizeof id, "%s-%d-%d-%d", p->prefix, b % 2 || p->unshared ? p->index : -1, b, k);
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:i}", "id", id,
                                              "target_id", p->w->target_a, "stream_id", "s:scv", "engine",
                                              "toy", "user", users[k % 3], "start_time", 1.0, "end_time", 2.0,
                                              "frames", 1 + k % 3));
    }
    json_t *body = json_pack("{s:o}", "fragments", list);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

/* The frames of one batch. */
static long batch_frames(int per_batch)
{
    long frames = 0;
    for (int k = 0; k < per_batch; k++)
        frames += 1 + k % 3;
    return frames;
}

static void *post_batches(void *arg)
{
    struct poster *p = arg;
    char url[256], header[128];
    const char *headers[] = {header, "Content-Type: application/json", NULL};
    snprintf(url, sizeof url, "%s/stats", p->cc->url);
    snprintf(header, sizeof header, "Authorization: %s", SECRET);
    for (int b = 0; b < p->batches; b++) {
        char *text = batch_text(p, b);
        p->sent = b + 1;
        struct harness_response r = {0};
        if (harness_http("POST", url, headers, text, strlen(text), NULL, &r) != 0 || r.status != 200) {
            p->failures++;
        } else {
            json_t *v = json_loads(r.body, 0, NULL);
            p->inserted += (long)json_integer_value(json_object_get(v, "inserted"));
            json_decref(v);
            if (p->posted)
                atomic_fetch_add(p->posted, 1);
        }
        harness_response_free(&r);
        free(text);
        if (p->failures && p->stop_at_failure)
            break;
    }
    return NULL;
}

static void test_concurrent_batches(void **state)
{
    (void)state;
    struct world w;
    struct poster posters[POSTERS];
    pthread_t threads[POSTERS];
    long inserted = 0;
    start(&w);
    for (int i = 0; i < POSTERS; i++) {
        posters[i] = (struct poster){.w = &w,
                                     .cc = CC_TEST_PG && i % 2 ? &w.other : &w.cc,
                                     .index = i,
                                     .batches = BATCHES,
                                     .per_batch = PER_BATCH,
                                     .prefix = "c"};
        assert_int_equal(pthread_create(&threads[i], NULL, post_batches, &posters[i]), 0);
    }
    for (int i = 0; i < POSTERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(posters[i].failures, 0);
        inserted += posters[i].inserted;
    }
    /* Shared even batches count once, each poster's odd ones once each. */
    long batches = BATCHES / 2 + (long)POSTERS * (BATCHES / 2);
    assert_int_equal(inserted, batches * PER_BATCH);
    wait_credited(&w);
    double folded = metric(&w.cc, "siegetank_cc_credit_folded_total");
    if (CC_TEST_PG) {
        metrics_page_wait(w.other.url, "siegetank_cc_credit_pending", 0, 30);
        folded += metric(&w.other, "siegetank_cc_credit_folded_total");
    }
    assert_int_equal(credited_frames(&w), batches * batch_frames(PER_BATCH));
    assert_true(folded == (double)inserted);
    stop(&w);
}

/* A CC killed twice, then restarted each time: once by its own fault
 * injection (SIEGETANK_CRASH_IN_FOLD) with a fold credited but not
 * committed, once by SIGKILL from outside while batches keep arriving.
 * What it had recorded is still queued or already credited, never both,
 * and the SCVs' retries of every batch (the same ids) record only what it
 * had not, so each fragment is credited once. */
#define KILL_POSTERS 2
#define KILL_PER_BATCH 200

/* Posts batches through w->cc from KILL_POSTERS threads until the CC dies:
 * by itself (crash), or by SIGKILL after the first answer and one second
 * more (a fold under load has begun by then, CC_FOLD_GAP_MS). */
static void post_until_killed(struct world *w, struct poster *posters, const char *prefix, int crash)
{
    pthread_t threads[KILL_POSTERS];
    atomic_int posted;
    atomic_init(&posted, 0);
    for (int i = 0; i < KILL_POSTERS; i++) {
        posters[i] = (struct poster){.w = w,
                                     .cc = &w->cc,
                                     .index = i,
                                     .batches = 100000,
                                     .per_batch = KILL_PER_BATCH,
                                     .unshared = 1,
                                     .prefix = prefix,
                                     .stop_at_failure = 1,
                                     .posted = &posted};
        assert_int_equal(pthread_create(&threads[i], NULL, post_batches, &posters[i]), 0);
    }
    if (crash) {
        assert_int_equal(harness_wait_exit(w->cc.pid, 30), 128 + SIGKILL);
    } else {
        for (int i = 0; i < 600 && atomic_load(&posted) < 1; i++)
            usleep(10 * 1000);
        usleep(1200 * 1000);
        assert_int_equal(harness_stop(w->cc.pid, SIGKILL, 20), 128 + SIGKILL);
    }
    w->cc.pid = 0;
    for (int i = 0; i < KILL_POSTERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        posters[i].posted = NULL;
    }
}

static void test_fold_survives_kill(void **state)
{
    (void)state;
    struct world w;
    struct poster posters[2][KILL_POSTERS];
    start(&w);
    assert_int_equal(harness_stop(w.cc.pid, SIGTERM, 20), 0);
    /* The crash needs the crashing CC to fold: the other CC on the same
     * PostgreSQL could take the queue first, so it waits out that phase. */
    if (CC_TEST_PG)
        assert_int_equal(harness_stop(w.other.pid, SIGTERM, 20), 0);
    setenv("SIEGETANK_CRASH_IN_FOLD", "1", 1);
    cc_daemon_run(&w.cc);
    unsetenv("SIEGETANK_CRASH_IN_FOLD");
    post_until_killed(&w, posters[0], "crash", 1);
    cc_daemon_run(&w.cc);
    if (CC_TEST_PG)
        cc_daemon_run(&w.other);
    post_until_killed(&w, posters[1], "kill", 0);
    cc_daemon_run(&w.cc);
    long sent = 0;
    for (int r = 0; r < 2; r++) {
        for (int i = 0; i < KILL_POSTERS; i++) {
            struct poster *p = &posters[r][i];
            p->batches = p->sent;
            p->failures = 0;
            post_batches(p);
            assert_int_equal(p->failures, 0);
            sent += p->batches;
        }
    }
    wait_credited(&w);
    assert_int_equal(credited_frames(&w), sent * batch_frames(KILL_PER_BATCH));
    stop(&w);
}

/* The export's lines (gunzipped), or NULL. */
static char *export_text(const struct daemon_proc *d)
{
    char url[256], type[64];
    struct harness_response r;
    size_t n = 0;
    snprintf(url, sizeof url, "%s/stats/export", d->url);
    assert_int_equal(harness_http("GET", url, NULL, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(harness_header(&r, "content-type", type, sizeof type), 0);
    assert_string_equal(type, "application/gzip");
    char *text = (char *)gz_decompress(r.body, r.len, 1 << 20, &n);
    harness_response_free(&r);
    return text;
}

static void test_export(void **state)
{
    (void)state;
    struct world w;
    start(&w);
    cc_daemon_expect(&w.cc, 200, "PUT", "/donors/settings", w.bob, "{\"team\":\"Blue\",\"public\":false}");
    const char *batch[] = {"f1 alice A 10", "f2 bob B 4", "f3 m1@x A 5", NULL};
    assert_int_equal(post_stats(&w, batch), 3);
    char *first = export_text(&w.cc);
    assert_non_null(first);
    assert_non_null(strstr(first, "\"type\":\"donor\",\"username\":\"alice\""));
    assert_non_null(strstr(first, "\"type\":\"team\",\"team\":\"Blue\""));
    assert_null(strstr(first, "\"bob\"")); /* hidden */
    assert_null(strstr(first, "m1@x"));    /* not a donor */
    assert_null(strstr(first, "@mail"));   /* no email */
    /* Remade at most hourly: new credit shows in the next one, not now, and
     * every CC on the database serves the same dump. */
    const char *more[] = {"f4 carol A 1", NULL};
    assert_int_equal(post_stats(&w, more), 1);
    char *again = export_text(CC_TEST_PG ? &w.other : &w.cc);
    assert_non_null(again);
    assert_string_equal(first, again);
    free(first);
    free(again);
    stop(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_points_per_frame),
        cmocka_unit_test(test_credit_info_and_boards),
        cmocka_unit_test(test_export),
        cmocka_unit_test(test_concurrent_batches),
        cmocka_unit_test(test_fold_survives_kill),
    };
    if (CC_TEST_PG && (pg = pg_harness_start()) == NULL)
        return 1;
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    pg_harness_free(pg);
    return failed;
}
