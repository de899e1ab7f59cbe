/* Stats exactly once (issue 4): every activation that commits frames ends as
 * exactly one row of the CC's stats table, with the right frames, also when
 * the CC is down (stopped or killed) while fragments pile up in the SCV's
 * outbox, and when the SCV dies after posting a batch but before deleting it
 * from its outbox (the CC ignores a fragment id it already holds).
 *
 * The test reads both databases directly: the SCV's scv.db (stats_outbox) to
 * know when the outbox is drained, the CC's cc.db (stats) for the verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "cluster.h"
#include "harness.h"
#include "metrics_page.h"
#include "stats_peek.h"

#define NTARGETS 3
#define ENGINE "stats_engine"
#define DONOR "donor-7"
#define MAX_EXPECTED 256
#define DRAIN_TIMEOUT_S 60

/* One target per stream, so activating a target names its stream. */
struct stats_test {
    struct cluster c;
    struct client *admin;
    char secret[256];
    char targets[NTARGETS][128];
    char streams[NTARGETS][256];
    char scv_db[PATH_MAX + 200];
    char cc_db[PATH_MAX + 200];
    struct {
        int target;
        long frames;
    } expected[MAX_EXPECTED];
    int nexpected;
};

static struct daemon_proc *scv(struct stats_test *t)
{
    return &t->c.scv[0];
}

/* One activation through the SCV's /streams/activate (what the CC does),
 * committing frames in checkpoints of at most 3 frames, then a core stop.
 * Works with the CC down: nothing here needs it. */
static void activation(struct stats_test *t, int target, long frames)
{
    struct client_error err;
    struct client_reply reply;
    struct client *cl = client_new(scv(t)->url, NULL, &err);
    assert_non_null(cl);
    json_t *body =
        json_pack("{s:s,s:s,s:s}", "target_id", t->targets[target], "engine", ENGINE, "user", DONOR);
    char *text = json_dumps(body, JSON_COMPACT);
    assert_int_equal(
        client_request(cl, "POST", "/streams/activate", t->secret, text, strlen(text), NULL, &reply, &err),
        0);
    assert_int_equal(reply.status, 200);
    char token[128];
    snprintf(token, sizeof token, "%s", json_string_value(json_object_get(reply.json, "token")));
    client_reply_free(&reply);
    free(text);
    json_decref(body);

    json_t *frame = json_pack("{s:s}", "frames.dat", "xtc-bytes");
    json_t *checkpoint = json_pack("{s:s}", "state.xml", "<state/>");
    for (long left = frames; left > 0;) {
        long k = left < 3 ? left : 3;
        assert_int_equal(client_core_frame(cl, scv(t)->url, token, frame, k, &err), 0);
        assert_int_equal(client_core_checkpoint(cl, scv(t)->url, token, checkpoint, &err), 0);
        left -= k;
    }
    /* Uncommitted frames are never credited. */
    assert_int_equal(client_core_frame(cl, scv(t)->url, token, frame, 2, &err), 0);
    assert_int_equal(client_core_stop(cl, scv(t)->url, token, NULL, &err), 0);
    json_decref(frame);
    json_decref(checkpoint);
    client_free(cl);
    assert_true(t->nexpected < MAX_EXPECTED);
    t->expected[t->nexpected].target = target;
    t->expected[t->nexpected].frames = frames;
    t->nexpected++;
}

/* A round of activations, one per target, with frame counts unique in the
 * whole test so a missing or doubled fragment cannot hide behind another. */
static void activations(struct stats_test *t)
{
    for (int i = 0; i < NTARGETS; i++)
        activation(t, i, t->nexpected + 1);
}

static long outbox_size(struct stats_test *t)
{
    return stats_peek_outbox(t->scv_db);
}

static void wait_drained(struct stats_test *t)
{
    stats_peek_wait_drained(t->scv_db, DRAIN_TIMEOUT_S);
}

/* The CC's stats table must hold exactly the expected fragments. */
static void check_cc_stats(struct stats_test *t)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int found[MAX_EXPECTED] = {0};
    int rows = 0;
    assert_int_equal(sqlite3_open_v2(t->cc_db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT target_id, stream_id, engine, user_name, start_time, end_time, frames"
                           " FROM stats",
                           -1, &st, NULL),
        SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *target = (const char *)sqlite3_column_text(st, 0);
        const char *stream = (const char *)sqlite3_column_text(st, 1);
        long frames = (long)sqlite3_column_int64(st, 6);
        int match = -1;
        for (int i = 0; i < t->nexpected && match < 0; i++) {
            if (!found[i] && t->expected[i].frames == frames &&
                strcmp(t->targets[t->expected[i].target], target) == 0)
                match = i;
        }
        if (match < 0)
            fail_msg("unexpected or duplicated stats row: target %s, stream %s, %ld frames", target, stream,
                     frames);
        found[match] = 1;
        assert_string_equal(stream, t->streams[t->expected[match].target]);
        assert_string_equal((const char *)sqlite3_column_text(st, 2), ENGINE);
        assert_string_equal((const char *)sqlite3_column_text(st, 3), DONOR);
        assert_true(sqlite3_column_double(st, 5) >= sqlite3_column_double(st, 4));
        rows++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    for (int i = 0; i < t->nexpected; i++) {
        if (!found[i])
            fail_msg("no stats row for %ld frames of stream %s", t->expected[i].frames,
                     t->streams[t->expected[i].target]);
    }
    assert_int_equal(rows, t->nexpected);
}

static void setup(struct stats_test *t)
{
    struct client_error err;
    memset(t, 0, sizeof *t);
    cluster_init(&t->c, 0);
    assert_int_equal(cluster_start_cc(&t->c, NULL), 0);
    assert_int_equal(cluster_add_scv(&t->c, "s1", NULL), 0);
    assert_int_equal(cluster_scv_secret(scv(t), t->secret, sizeof t->secret), 0);
    snprintf(t->scv_db, sizeof t->scv_db, "%s/s1_data/scv.db", scv(t)->dir);
    snprintf(t->cc_db, sizeof t->cc_db, "%s/cc_data/cc.db", t->c.cc.dir);
    t->admin = client_new(t->c.cc.url, NULL, &err);
    assert_non_null(t->admin);
    client_set_token(t->admin, t->c.admin_token);
    for (int i = 0; i < NTARGETS; i++) {
        json_t *spec = json_pack("{s:[s]}", "engines", ENGINE);
        json_t *target = client_target_create(t->admin, spec, &err);
        assert_non_null(target);
        snprintf(t->targets[i], sizeof t->targets[i], "%s",
                 json_string_value(json_object_get(target, "target_id")));
        json_t *files = json_pack("{s:s}", "state.xml", "<seed/>");
        json_t *r = client_stream_add(t->admin, "s1", t->targets[i], files, NULL, &err);
        assert_non_null(r);
        snprintf(t->streams[i], sizeof t->streams[i], "%s",
                 json_string_value(json_object_get(r, "stream_id")));
        json_decref(r);
        json_decref(files);
        json_decref(target);
        json_decref(spec);
    }
}

static void teardown(struct stats_test *t)
{
    client_free(t->admin);
    cluster_stop_all(&t->c);
}

/* Fragments wait in the outbox while the CC is away, however it went. */
static void cc_outage(struct stats_test *t, int sig)
{
    cluster_stop(&t->c.cc, sig);
    int before = t->nexpected;
    activations(t);
    activations(t);
    assert_int_equal(outbox_size(t), t->nexpected - before);
    sleep(3); /* at least one failed shipping attempt (retries every 2 s) */
    assert_int_equal(outbox_size(t), t->nexpected - before);
    /* The SCV's /metrics shows the backlog (its ticker counts every second). */
    char *page = metrics_page_get(scv(t)->url);
    assert_true(metrics_page_value(page, "siegetank_scv_outbox_fragments") == t->nexpected - before);
    assert_true(metrics_page_value(page, "siegetank_scv_outbox_oldest_age_seconds") > 0);
    free(page);
    assert_int_equal(cluster_start(&t->c, &t->c.cc), 0);
    wait_drained(t);
    check_cc_stats(t);
}

static void test_cc_outages(void **state)
{
    (void)state;
    static struct stats_test t;
    setup(&t);
    activations(&t);
    wait_drained(&t);
    check_cc_stats(&t);
    cc_outage(&t, SIGTERM);
    cc_outage(&t, SIGKILL);
    teardown(&t);
}

/* Copies a consistent snapshot of the SCV's database (the daemon is down). */
static void snapshot(const char *from, const char *to)
{
    sqlite3 *src = NULL, *dst = NULL;
    assert_int_equal(sqlite3_open_v2(from, &src, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_open(to, &dst), SQLITE_OK);
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    assert_non_null(b);
    assert_int_equal(sqlite3_backup_step(b, -1), SQLITE_DONE);
    assert_int_equal(sqlite3_backup_finish(b), SQLITE_OK);
    sqlite3_close(dst);
    sqlite3_close(src);
}

/* The SCV posted a batch and died before deleting it from its outbox: on
 * restart it posts the same fragment ids again, and the CC keeps one each.
 * The state "posted, not deleted" is made exactly by putting back a copy of
 * scv.db taken before the batch was shipped. */
static void test_scv_dies_after_posting(void **state)
{
    (void)state;
    static struct stats_test t;
    char copy[PATH_MAX + 220], cmd[5 * PATH_MAX];
    setup(&t);
    cluster_stop(&t.c.cc, SIGKILL);
    activations(&t);
    assert_int_equal(outbox_size(&t), NTARGETS);
    assert_int_equal(cluster_stop(scv(&t), SIGKILL), 128 + SIGKILL);
    snprintf(copy, sizeof copy, "%s.copy", t.scv_db);
    snapshot(t.scv_db, copy);

    assert_int_equal(cluster_start(&t.c, &t.c.cc), 0);
    assert_int_equal(cluster_start(&t.c, scv(&t)), 0);
    wait_drained(&t);
    check_cc_stats(&t);

    assert_int_equal(cluster_stop(scv(&t), SIGKILL), 128 + SIGKILL);
    snprintf(cmd, sizeof cmd, "rm -f '%s-wal' '%s-shm' && mv '%s' '%s'", t.scv_db, t.scv_db, copy, t.scv_db);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(outbox_size(&t), NTARGETS);
    assert_int_equal(cluster_start(&t.c, scv(&t)), 0);
    wait_drained(&t);
    check_cc_stats(&t);

    /* And kills at random moments while batches are being shipped. */
    uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
    print_message("stats test: kill delays from seed %llu\n", (unsigned long long)seed);
    for (int round = 0; round < 5; round++) {
        activations(&t);
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        usleep((useconds_t)((seed >> 33) % 1500) * 1000);
        assert_int_equal(cluster_stop(scv(&t), SIGKILL), 128 + SIGKILL);
        assert_int_equal(cluster_start(&t.c, scv(&t)), 0);
    }
    wait_drained(&t);
    check_cc_stats(&t);
    teardown(&t);
}

/* An activation that committed frames and then lost its SCV (crash or
 * clean stop) is still credited once: the SCV saves the running fragment at
 * each commit and ships it after the restart. */
static void interrupted_activation(struct stats_test *t, int sig)
{
    struct client_error err;
    struct client_reply reply;
    struct client *cl = client_new(scv(t)->url, NULL, &err);
    assert_non_null(cl);
    char body[256];
    snprintf(body, sizeof body, "{\"target_id\":\"%s\",\"engine\":\"" ENGINE "\",\"user\":\"" DONOR "\"}",
             t->targets[0]);
    assert_int_equal(
        client_request(cl, "POST", "/streams/activate", t->secret, body, strlen(body), NULL, &reply, &err),
        0);
    assert_int_equal(reply.status, 200);
    json_t *token = json_incref(json_object_get(reply.json, "token"));
    client_reply_free(&reply);
    json_t *frame = json_pack("{s:s}", "frames.dat", "xtc-bytes");
    json_t *checkpoint = json_pack("{s:s}", "state.xml", "<state/>");
    long frames = 100 + t->nexpected;
    assert_int_equal(client_core_frame(cl, scv(t)->url, json_string_value(token), frame, frames - 1, &err),
                     0);
    assert_int_equal(client_core_checkpoint(cl, scv(t)->url, json_string_value(token), checkpoint, &err), 0);
    assert_int_equal(client_core_frame(cl, scv(t)->url, json_string_value(token), frame, 1, &err), 0);
    assert_int_equal(client_core_checkpoint(cl, scv(t)->url, json_string_value(token), checkpoint, &err), 0);
    assert_int_equal(client_core_frame(cl, scv(t)->url, json_string_value(token), frame, 5, &err), 0);
    cluster_stop(scv(t), sig);
    assert_int_equal(cluster_start(&t->c, scv(t)), 0);
    t->expected[t->nexpected].target = 0;
    t->expected[t->nexpected].frames = frames;
    t->nexpected++;
    json_decref(token);
    json_decref(frame);
    json_decref(checkpoint);
    client_free(cl);
}

static void test_scv_restart_during_activation(void **state)
{
    (void)state;
    static struct stats_test t;
    setup(&t);
    interrupted_activation(&t, SIGKILL);
    interrupted_activation(&t, SIGTERM);
    activations(&t);
    wait_drained(&t);
    check_cc_stats(&t);
    teardown(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cc_outages),
        cmocka_unit_test(test_scv_dies_after_posting),
        cmocka_unit_test(test_scv_restart_during_activation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
