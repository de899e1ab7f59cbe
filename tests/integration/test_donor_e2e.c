/* Credit exactly once, end to end: two donors made with the CLI run real
 * `siegetank core` processes (--donor) at the same time on one target; once
 * the SCV's stats outbox is drained and the CC has folded it, the frames
 * credited to the donors add up exactly to the frames the streams
 * committed, at the target's points_per_frame, and `siegetank leaderboard` and `siegetank donor info`
 * show it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_runner.h"
#include "client/client.h"
#include "cluster.h"
#include "core/md_engine.h"
#include "harness.h"
#include "metrics_page.h"
#include "seed_target.h"
#include "stats_peek.h"

#define STREAMS 3
#define POINTS_PER_FRAME 2

struct core_run {
    const struct cluster *c;
    char args[512];
    json_t *summary;
};

static void *run_core(void *arg)
{
    struct core_run *r = arg;
    r->summary = cluster_run_core(r->c, r->args);
    return NULL;
}

/* `siegetank donor create` with the password on stdin; the token it prints. */
static void donor_create(const struct cluster *c, const char *name, char *token, size_t n)
{
    char email[64];
    struct cli_result r;
    struct cli_call call = {.input = "secret-pw\n"};
    snprintf(email, sizeof email, "%s@example.org", name);
    const char *argv[] = {"donor", "create", "--cc", c->cc.url, "--username", name, "--email", email, NULL};
    assert_int_equal(cli_run(&call, argv, &r), 0);
    assert_int_equal(cli_first_line(&r, token, n), 0);
    assert_int_equal(strlen(token), 32);
    cli_result_free(&r);
}

static json_t *cli_json(const struct cluster *c, const char *token, const char *const argv[])
{
    struct cli_result r;
    struct cli_call call = {.cc = c->cc.url, .token = token};
    assert_int_equal(cli_run(&call, argv, &r), 0);
    json_t *v = json_loads(r.out, 0, NULL);
    assert_non_null(v);
    cli_result_free(&r);
    return v;
}

static void test_two_donors_credited_exactly_once(void **state)
{
    (void)state;
    struct cluster c;
    struct client_error err;
    char key[128], tokens[2][64], config[PATH_MAX + 16], scv_db[PATH_MAX + 128], cc_db[PATH_MAX + 128];
    const char *names[] = {"ann", "ben"};
    cluster_init(&c, 0);
    snprintf(config, sizeof config, "%s/config", c.root);
    setenv("XDG_CONFIG_HOME", config, 1); /* the CLI saves its logins here */
    assert_int_equal(cluster_start_cc(&c, NULL), 0);
    assert_true(cluster_add_scv(&c, "s1", NULL) >= 0);
    assert_int_equal(cluster_engine_key(&c, MD_ENGINE_NAME, key, sizeof key), 0);

    struct client *cc = client_new(c.cc.url, NULL, &err);
    assert_non_null(cc);
    client_set_token(cc, c.admin_token);
    char target_id[SEED_TARGET_ID_MAX], ids[STREAMS][SEED_TARGET_STREAM_ID_MAX];
    seed_target(cc, "s1", "public", POINTS_PER_FRAME, STREAMS, target_id, ids);
    for (int i = 0; i < 2; i++)
        donor_create(&c, names[i], tokens[i], sizeof tokens[i]);

    /* Both donors' cores at once, on the same target. */
    struct core_run runs[2];
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
        runs[i] = (struct core_run){.c = &c};
        snprintf(runs[i].args, sizeof runs[i].args,
                 "--key %s --donor %s --target %s --cores 1 --duration 4 --frames-per-checkpoint 3", key,
                 tokens[i], target_id);
        assert_int_equal(pthread_create(&threads[i], NULL, run_core, &runs[i]), 0);
    }
    long summary_frames = 0;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_non_null(runs[i].summary);
        summary_frames += (long)json_integer_value(json_object_get(runs[i].summary, "frames_committed"));
        json_decref(runs[i].summary);
    }

    /* The streams' committed frames, and every fragment delivered. */
    long committed = 0, credited = 0;
    for (int i = 0; i < STREAMS; i++) {
        json_t *info = client_stream_info(cc, ids[i], &err);
        assert_non_null(info);
        committed += (long)json_integer_value(json_object_get(info, "frames"));
        json_decref(info);
    }
    assert_true(committed > 0);
    assert_int_equal(committed, summary_frames);
    snprintf(scv_db, sizeof scv_db, "%s/s1_data/scv.db", c.scv[0].dir);
    stats_peek_wait_drained(scv_db, 30);
    /* The CC credits what it recorded in its next fold. */
    metrics_page_wait(c.cc.url, "siegetank_cc_credit_pending", 0, 30);
    snprintf(cc_db, sizeof cc_db, "%s/cc_data/cc.db", c.cc.dir);

    for (int i = 0; i < 2; i++) {
        const char *info_argv[] = {"donor", "info", names[i], "--json", NULL};
        json_t *info = cli_json(&c, NULL, info_argv);
        long frames = (long)json_integer_value(json_object_get(info, "frames"));
        assert_true(frames > 0); /* each donor's core did work */
        assert_true(json_number_value(json_object_get(info, "points")) == (double)frames * POINTS_PER_FRAME);
        json_t *per_target = json_object_get(json_object_get(info, "targets"), target_id);
        assert_int_equal(json_integer_value(json_object_get(per_target, "frames")), frames);
        credited += frames;
        json_decref(info);
    }
    assert_int_equal(credited, committed);
    long by_stream = 0;
    for (int i = 0; i < STREAMS; i++)
        by_stream += stats_peek_credited(cc_db, ids[i]);
    assert_int_equal(by_stream, committed);

    /* The leaderboard (CLI, --json): both donors, their frames summing up. */
    const char *board_argv[] = {"leaderboard", "--period", "day", "--json", NULL};
    json_t *board = cli_json(&c, NULL, board_argv);
    assert_int_equal(json_integer_value(json_object_get(board, "total")), 2);
    long board_frames = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(board, "entries"), i, e) board_frames +=
        (long)json_integer_value(json_object_get(e, "frames"));
    assert_int_equal(board_frames, committed);
    json_decref(board);

    /* A donor's own commands with its saved login. */
    const char *team_argv[] = {"donor", "settings", "--team", "Folding Friends", NULL};
    struct cli_result r;
    struct cli_call call = {.cc = c.cc.url, .token = tokens[0]};
    assert_int_equal(cli_run(&call, team_argv, &r), 0);
    cli_result_free(&r);
    const char *teams_argv[] = {"leaderboard", "--teams", NULL};
    assert_int_equal(cli_run(&call, teams_argv, &r), 0);
    assert_non_null(strstr(r.out, "Folding Friends"));
    cli_result_free(&r);
    const char *delete_argv[] = {"donor", "delete", NULL};
    assert_int_equal(cli_run(&call, delete_argv, &r), 2); /* needs --yes */
    cli_result_free(&r);

    client_free(cc);
    cluster_stop_all(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_donors_credited_exactly_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
