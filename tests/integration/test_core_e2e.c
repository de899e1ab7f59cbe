/* End to end through the real binaries: a CC, an SCV, and `siegetank core`
 * doing real work; every committed frame must come back through sync and
 * download as one valid XTC trajectory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "cluster.h"
#include "core/md_engine.h"
#include "core/xtc.h"
#include "harness.h"
#include "seed_target.h"
#include "stream_fetch.h"

/* Runs `siegetank core ... --json` and returns its JSON summary. */
static json_t *run_cores(const struct cluster *c, const char *key, int cores, int seconds)
{
    char args[512];
    snprintf(args, sizeof args, "--key %s --cores %d --duration %d --frames-per-checkpoint 5", key, cores,
             seconds);
    json_t *summary = cluster_run_core(c, args);
    assert_non_null(summary);
    return summary;
}

/* Downloads and concatenates every partition's frames.xtc; checks the frame
 * count against the stream's info and returns it. */
static long check_stream(struct client *cc, const char *stream_id, const char *root)
{
    struct client_error err;
    json_t *info = client_stream_info(cc, stream_id, &err);
    assert_non_null(info);
    long frames = (long)json_integer_value(json_object_get(info, "frames"));
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/trajectory.xtc", root);
    json_t *parts = NULL;
    size_t size = 0;
    unsigned char *data = stream_fetch_frames(cc, stream_id, path, &size, &parts);
    assert_non_null(data);
    size_t i;
    json_t *part;
    long last = 0;
    json_array_foreach(parts, i, part)
    {
        long n = (long)json_integer_value(part);
        assert_true(n > last);
        last = n;
    }
    assert_int_equal(last, frames);
    char why[256];
    assert_int_equal(xtc_check_trajectory(data, size, why, sizeof why), frames);
    free(data);
    json_decref(info);
    json_decref(parts);
    return frames;
}

static void test_cores_commit_real_trajectories(void **state)
{
    (void)state;
    struct cluster c;
    struct client_error err;
    char key[128];
    cluster_init(&c, 0);
    assert_int_equal(cluster_start_cc(&c, NULL), 0);
    assert_true(cluster_add_scv(&c, "s1", NULL) >= 0);
    assert_int_equal(cluster_engine_key(&c, MD_ENGINE_NAME, key, sizeof key), 0);

    struct client *cc = client_new(c.cc.url, NULL, &err);
    assert_non_null(cc);
    client_set_token(cc, c.admin_token);
    char target_id[SEED_TARGET_ID_MAX], ids[2][SEED_TARGET_STREAM_ID_MAX];
    seed_target(cc, "s1", "public", 0, 2, target_id, ids);

    json_t *summary = run_cores(&c, key, 2, 5);
    long committed = (long)json_integer_value(json_object_get(summary, "frames_committed"));
    assert_true(committed > 0);

    long total = 0;
    for (int i = 0; i < 2; i++)
        total += check_stream(cc, ids[i], c.root);
    assert_int_equal(total, committed);

    json_decref(summary);
    client_free(cc);
    cluster_stop_all(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cores_commit_real_trajectories),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
