/* Sync planning: which files a local folder still lacks, and unsafe replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "client/sync.h"
#include "util/fs.h"

static char root[256];

static int setup(void **state)
{
    (void)state;
    strcpy(root, "/tmp/st_sync_XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return fs_rm_rf(root);
}

static void touch(const char *rel)
{
    char path[512], dir[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(fs_mkdir_p(dir, 0755), 0);
    assert_int_equal(fs_write_file(path, "x", 1, 0), 0);
}

static json_t *reply(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &e);
    assert_non_null(j);
    return j;
}

static int plan_has(const struct sync_plan *p, const char *remote)
{
    char local[512];
    snprintf(local, sizeof local, "%s/%s", root, remote);
    for (size_t i = 0; i < p->count; i++)
        if (strcmp(p->items[i].remote, remote) == 0 && strcmp(p->items[i].local, local) == 0)
            return 1;
    return 0;
}

static const char *full =
    "{\"partitions\":[2,38,209],\"seed_files\":[\"state.xml.gz.b64\",\"system.xml.gz.b64\"],"
    "\"frame_files\":[\"frames.xtc\",\"log.txt\"],\"checkpoint_files\":[\"state.xml.gz.b64\"]}";

static void test_empty_dir(void **state)
{
    (void)state;
    char msg[256];
    struct sync_plan p;
    json_t *r = reply(full);
    assert_int_equal(sync_plan_build(r, root, &p, msg, sizeof msg), 0);
    assert_int_equal(p.count, 2 + 3 * 3);
    assert_int_equal(p.partitions_total, 3);
    assert_int_equal(p.partitions_missing, 3);
    assert_true(plan_has(&p, "files/system.xml.gz.b64"));
    assert_true(plan_has(&p, "2/frames.xtc"));
    assert_true(plan_has(&p, "209/checkpoint_files/state.xml.gz.b64"));
    /* Seeds come first, then partitions in ascending order. */
    assert_string_equal(p.items[0].remote, "files/state.xml.gz.b64");
    assert_string_equal(p.items[2].remote, "2/frames.xtc");
    assert_string_equal(p.items[p.count - 1].remote, "209/checkpoint_files/state.xml.gz.b64");
    sync_plan_free(&p);
    json_decref(r);
}

static void test_partial_dir(void **state)
{
    (void)state;
    char msg[256];
    struct sync_plan p;
    touch("files/state.xml.gz.b64");
    touch("files/system.xml.gz.b64");
    touch("2/frames.xtc");
    touch("2/log.txt");
    touch("2/checkpoint_files/state.xml.gz.b64");
    /* Partition 38 was interrupted after one file. */
    touch("38/frames.xtc");
    /* A leftover temp file is not a synced file. */
    touch(".sync-abc123");
    json_t *r = reply(full);
    assert_int_equal(sync_plan_build(r, root, &p, msg, sizeof msg), 0);
    assert_int_equal(p.partitions_total, 3);
    assert_int_equal(p.partitions_missing, 2);
    assert_int_equal(p.count, 2 + 3);
    assert_false(plan_has(&p, "files/state.xml.gz.b64"));
    assert_false(plan_has(&p, "2/frames.xtc"));
    assert_false(plan_has(&p, "38/frames.xtc"));
    assert_true(plan_has(&p, "38/log.txt"));
    assert_true(plan_has(&p, "38/checkpoint_files/state.xml.gz.b64"));
    assert_true(plan_has(&p, "209/frames.xtc"));
    sync_plan_free(&p);

    touch("38/log.txt");
    touch("38/checkpoint_files/state.xml.gz.b64");
    touch("209/frames.xtc");
    touch("209/log.txt");
    touch("209/checkpoint_files/state.xml.gz.b64");
    assert_int_equal(sync_plan_build(r, root, &p, msg, sizeof msg), 0);
    assert_int_equal(p.count, 0);
    assert_int_equal(p.partitions_missing, 0);
    sync_plan_free(&p);
    json_decref(r);
}

static void test_no_partitions(void **state)
{
    (void)state;
    char msg[256];
    struct sync_plan p;
    /* Without partitions the frame and checkpoint lists may be absent. */
    json_t *r = reply("{\"partitions\":[],\"seed_files\":[\"a\"]}");
    assert_int_equal(sync_plan_build(r, root, &p, msg, sizeof msg), 0);
    assert_int_equal(p.count, 1);
    assert_int_equal(p.partitions_total, 0);
    assert_null(p.skipped);
    sync_plan_free(&p);
    json_decref(r);
}

/* The SCV's skipped_files reach the plan untouched; the files it could
 * list are planned as usual. */
static void test_skipped_files(void **state)
{
    (void)state;
    char msg[256];
    struct sync_plan p;
    json_t *r = reply("{\"partitions\":[1],\"seed_files\":[\"a\"],\"frame_files\":[\"frames.xtc\"],"
                      "\"checkpoint_files\":[],\"skipped_files\":[\"files/bad\\\\xFFname\",\"1/x\\u001b\"]}");
    assert_int_equal(sync_plan_build(r, root, &p, msg, sizeof msg), 0);
    assert_int_equal(p.count, 2);
    assert_int_equal(json_array_size(p.skipped), 2);
    assert_string_equal(json_string_value(json_array_get(p.skipped, 0)), "files/bad\\xFFname");
    assert_string_equal(json_string_value(json_array_get(p.skipped, 1)), "1/x\x1b");
    sync_plan_free(&p);
    json_decref(r);
}

static void expect_refused(const char *text, const char *fragment)
{
    char msg[256] = "";
    struct sync_plan p;
    json_t *r = reply(text);
    assert_int_equal(sync_plan_build(r, root, &p, msg, sizeof msg), -1);
    assert_int_equal(p.count, 0);
    assert_null(p.items);
    assert_non_null(strstr(msg, fragment));
    json_decref(r);
}

static void test_refused(void **state)
{
    (void)state;
    expect_refused("[]", "not a JSON object");
    expect_refused("{\"seed_files\":[]}", "partitions");
    expect_refused("{\"partitions\":[5,3],\"seed_files\":[]}", "ascending");
    expect_refused("{\"partitions\":[0],\"seed_files\":[]}", "ascending");
    expect_refused("{\"partitions\":[\"2\"],\"seed_files\":[]}", "ascending");
    expect_refused("{\"partitions\":[],\"seed_files\":\"a\"}", "seed_files");
    expect_refused("{\"partitions\":[],\"seed_files\":[\"../../etc/passwd\"]}", "unsafe");
    expect_refused("{\"partitions\":[],\"seed_files\":[\"..\"]}", "unsafe");
    expect_refused("{\"partitions\":[],\"seed_files\":[\"\"]}", "unsafe");
    expect_refused("{\"partitions\":[],\"seed_files\":[\"a\\u0000b\"]}", "unsafe");
    expect_refused("{\"partitions\":[],\"seed_files\":[7]}", "unsafe");
    expect_refused("{\"partitions\":[],\"seed_files\":[],\"skipped_files\":\"a\"}", "skipped_files");
    expect_refused("{\"partitions\":[],\"seed_files\":[],\"skipped_files\":[1]}", "skipped_files");
    expect_refused("{\"partitions\":[1],\"seed_files\":[],\"checkpoint_files\":[]}", "frame_files");
    expect_refused("{\"partitions\":[1],\"seed_files\":[],\"frame_files\":[\"a/b\"],\"checkpoint_files\":[]}",
                   "unsafe");
    expect_refused("{\"partitions\":[1],\"seed_files\":[],\"frame_files\":[],\"checkpoint_files\":[\".\"]}",
                   "unsafe");
    char big[600];
    int n = snprintf(big, sizeof big, "{\"partitions\":[],\"seed_files\":[\"");
    memset(big + n, 'a', SYNC_NAME_MAX + 1);
    strcpy(big + n + SYNC_NAME_MAX + 1, "\"]}");
    expect_refused(big, "unsafe");
}

static void test_fetch_unreachable(void **state)
{
    (void)state;
    struct client_error err;
    struct client_options opts = {.connect_timeout_s = 5, .timeout_s = 5};
    char local[512];
    struct sync_outcome done = {.fetched = 7};
    /* Port 1 on loopback is closed: nothing may appear locally. */
    struct client *c = client_new("http://127.0.0.1:1", &opts, &err);
    assert_non_null(c);
    snprintf(local, sizeof local, "%s/out/file", root);
    assert_int_equal(sync_fetch_file(c, "u:s1", "files/a", local, &err), -1);
    assert_int_equal(err.status, 0);
    assert_false(fs_exists(local));
    snprintf(local, sizeof local, "%s/dir", root);
    assert_int_equal(sync_stream(c, "u:s1", local, NULL, NULL, &done, &err), -1);
    assert_int_equal(done.fetched, 0);
    assert_null(done.skipped);
    client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_partitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skipped_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_unreachable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
