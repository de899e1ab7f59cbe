/* GET /metrics on a real CC and SCV with cores at work: every page passes
 * `promtool check metrics`, the counters move with the work, and a real
 * Prometheus (private, on loopback, scraping every second, with the alert
 * rules of etc/prometheus/) scrapes both daemons and answers queries. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "client/client.h"
#include "cluster.h"
#include "core/md_engine.h"
#include "harness.h"
#include "metrics_page.h"
#include "seed_target.h"

#define PROMETHEUS "/usr/bin/prometheus"

static void make_streams(struct cluster *c, char target_id[SEED_TARGET_ID_MAX])
{
    struct client_error err;
    struct client *cc = client_new(c->cc.url, NULL, &err);
    assert_non_null(cc);
    client_set_token(cc, c->admin_token);
    seed_target(cc, "s1", "public", 0, 2, target_id, NULL);
    client_free(cc);
}

/* POST /core/assign with key; the reply's core token into token (may be
 * NULL) when want is 200. */
static void assign_with(const struct cluster *c, const char *key, long want, char *token, size_t toklen)
{
    char url[200], auth[200];
    snprintf(url, sizeof url, "%s/core/assign", c->cc.url);
    snprintf(auth, sizeof auth, "Authorization: %s", key);
    const char *headers[] = {auth, NULL};
    struct harness_response r;
    assert_int_equal(harness_http("POST", url, headers, "{}", 2, NULL, &r), 0);
    assert_int_equal(r.status, want);
    if (token != NULL) {
        json_t *reply = json_loads(r.body, 0, NULL);
        snprintf(token, toklen, "%s", json_string_value(json_object_get(reply, "token")));
        json_decref(reply);
    }
    harness_response_free(&r);
}

static void core_stop(const struct daemon_proc *scv, const char *token)
{
    char url[200], auth[300];
    snprintf(url, sizeof url, "%s/core/stop", scv->url);
    snprintf(auth, sizeof auth, "Authorization: %s", token);
    const char *headers[] = {auth, NULL};
    struct harness_response r;
    assert_int_equal(harness_http("PUT", url, headers, "{}", 2, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
}

static void test_counters_move_with_the_work(void **state)
{
    struct cluster *c = *state;
    char key[128], target_id[SEED_TARGET_ID_MAX], series[256];
    assert_int_equal(cluster_engine_key(c, MD_ENGINE_NAME, key, sizeof key), 0);
    make_streams(c, target_id);

    char *cc0 = metrics_page_get(c->cc.url), *scv0 = metrics_page_get(c->scv[0].url);
    assert_true(metrics_page_value(cc0, "siegetank_cc_assignments_total{outcome=\"ok\"}") == 0);
    assert_true(metrics_page_value(scv0, "siegetank_scv_frames_committed_total") == 0);
    assert_true(metrics_page_value(scv0, "siegetank_scv_streams{status=\"ok\"}") == 2);
    assert_true(metrics_page_value(scv0, "siegetank_scv_disk_free_bytes") > 0);
    assert_true(metrics_page_value(cc0, "siegetank_info{service=\"cc\",name=\"cc\",version=\"0.1.0\"}") == 1);

    assign_with(c, "not-a-key", 401, NULL, 0);
    char args[300];
    snprintf(args, sizeof args, "--key %s --cores 2 --duration 3 --frames-per-checkpoint 5", key);
    json_t *summary = cluster_run_core(c, args);
    assert_non_null(summary);
    double committed = (double)json_integer_value(json_object_get(summary, "frames_committed"));
    assert_true(committed > 0);

    char *cc1 = metrics_page_get(c->cc.url), *scv1 = metrics_page_get(c->scv[0].url);
    assert_true(metrics_page_value(cc1, "siegetank_cc_assignments_total{outcome=\"ok\"}") >= 2);
    assert_true(metrics_page_value(cc1, "siegetank_cc_assignments_total{outcome=\"bad_key\"}") == 1);
    assert_true(metrics_page_value(cc1, "siegetank_cc_assignment_duration_seconds_count") >=
                metrics_page_value(cc1, "siegetank_cc_assignments_total{outcome=\"ok\"}") + 1);
    assert_true(
        metrics_page_value(
            cc1, "siegetank_http_requests_total{method=\"POST\",route=\"/core/assign\",code=\"401\"}") == 1);
    assert_true(metrics_page_value(cc1, "siegetank_cc_scvs{state=\"online\"}") == 1);
    assert_true(metrics_page_value(cc1, "siegetank_cc_cache_age_seconds") >= 0);
    assert_true(metrics_page_value(cc1, "siegetank_cc_cache_refresh_duration_seconds") > 0);
    assert_true(metrics_page_value(cc1, "siegetank_cc_database_errors_total") == 0);
    assert_true(
        metrics_page_value(
            scv1, "siegetank_http_requests_total{method=\"PUT\",route=\"/core/checkpoint\",code=\"200\"}") >=
        1);
    /* Every committed frame, its bytes (XTC frames of the toy engine are
     * over 100 bytes each) and each commit's time. */
    assert_true(metrics_page_value(scv1, "siegetank_scv_frames_committed_total") == committed);
    assert_true(metrics_page_value(scv1, "siegetank_scv_bytes_committed_total") > 100 * committed);
    assert_true(metrics_page_value(scv1, "siegetank_scv_checkpoint_duration_seconds_count") >= committed / 5);
    assert_true(metrics_page_value(scv1, "siegetank_scv_store_errors_total") == 0);
    assert_true(metrics_page_value(scv1, "siegetank_scv_outbox_fragments") >= 0);
    assert_true(
        metrics_page_value(
            scv1, "siegetank_http_request_duration_seconds_count{method=\"PUT\",route=\"/core/frame\"}") >=
        committed / 5);
    /* The cores ended their streams as they left; one more assignment
     * holds a stream until its core stops. */
    snprintf(series, sizeof series, "siegetank_scv_active_cores{target=\"%s\",engine=\"%s\"}", target_id,
             MD_ENGINE_NAME);
    assert_true(metrics_page_value(scv1, series) == 0);
    char token[256];
    assign_with(c, key, 200, token, sizeof token);
    char *scv2 = metrics_page_get(c->scv[0].url);
    assert_true(metrics_page_value(scv2, series) == 1);
    core_stop(&c->scv[0], token);
    char *scv3 = metrics_page_get(c->scv[0].url);
    assert_true(metrics_page_value(scv3, series) == 0);
    free(scv2);
    free(scv3);
    json_decref(summary);
    free(cc0);
    free(scv0);
    free(cc1);
    free(scv1);
}

/* GET path on the private Prometheus, parsed. */
static json_t *prometheus_get(int port, const char *path)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct harness_response r;
    if (harness_http("GET", url, NULL, NULL, 0, NULL, &r) != 0 || r.status != 200) {
        harness_response_free(&r);
        return NULL;
    }
    json_t *v = json_loads(r.body, 0, NULL);
    harness_response_free(&r);
    return v;
}

/* The query's result vector once it has want elements (or NULL after
 * about 20 s). query is URL-encoded. */
static json_t *query_until(int port, const char *query, size_t want)
{
    char path[400];
    snprintf(path, sizeof path, "/api/v1/query?query=%s", query);
    for (int i = 0; i < 100; i++) {
        json_t *v = prometheus_get(port, path);
        json_t *result = json_object_get(json_object_get(v, "data"), "result");
        if (json_array_size(result) == want) {
            json_incref(result);
            json_decref(v);
            return result;
        }
        json_decref(v);
        usleep(200 * 1000);
    }
    return NULL;
}

static const char *sample_value(json_t *result, size_t i)
{
    return json_string_value(json_array_get(json_object_get(json_array_get(result, i), "value"), 1));
}

static void test_prometheus_scrapes_both(void **state)
{
    struct cluster *c = *state;
    char dir[PATH_MAX + 16], conf[PATH_MAX + 48], data[PATH_MAX + 64], log[PATH_MAX + 48], listen[64],
        text[2048];
    snprintf(dir, sizeof dir, "%s/prometheus", c->root);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(conf, sizeof conf, "%s/prometheus.yml", dir);
    snprintf(data, sizeof data, "--storage.tsdb.path=%s/data", dir);
    snprintf(log, sizeof log, "%s/prometheus.log", dir);
    int port = harness_free_port();
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", port);
    snprintf(text, sizeof text,
             "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
             "rule_files: ['%s/etc/prometheus/siegetank-alerts.yml']\n"
             "scrape_configs:\n"
             "  - job_name: siegetank-cc\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "  - job_name: siegetank-scv\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             ST_SOURCE_DIR, c->cc.port, c->scv[0].port);
    harness_write(conf, text);
    char config_flag[PATH_MAX + 80];
    snprintf(config_flag, sizeof config_flag, "--config.file=%s", conf);
    const char *argv[] = {PROMETHEUS, config_flag, data, listen, NULL};
    pid_t pid = harness_spawn(argv, log);

    /* Both targets up, then figures from each. */
    json_t *up = query_until(port, "up%7Bjob%3D~%22siegetank-.*%22%7D%3D%3D1", 2);
    if (up == NULL)
        fail_msg("Prometheus never saw both daemons up; see %s", log);
    json_t *info = query_until(port, "siegetank_info", 2);
    assert_non_null(info);
    json_t *scvs = query_until(port, "siegetank_cc_scvs%7Bstate%3D%22online%22%7D", 1);
    assert_non_null(scvs);
    assert_string_equal(sample_value(scvs, 0), "1");
    json_t *disk = query_until(port, "siegetank_scv_disk_free_bytes%3E0", 1);
    assert_non_null(disk);

    /* The shipped alert rules load and evaluate. */
    json_t *rules = NULL;
    for (int i = 0; i < 100 && rules == NULL; i++, usleep(200 * 1000)) {
        json_t *v = prometheus_get(port, "/api/v1/rules");
        json_t *group = json_array_get(json_object_get(json_object_get(v, "data"), "groups"), 0);
        json_t *first = json_array_get(json_object_get(group, "rules"), 0);
        const char *health = json_string_value(json_object_get(first, "health"));
        if (health != NULL && strcmp(health, "ok") == 0)
            rules = json_incref(json_object_get(group, "rules"));
        json_decref(v);
    }
    assert_non_null(rules);
    size_t i;
    json_t *rule;
    json_array_foreach(rules, i, rule)
    {
        const char *health = json_string_value(json_object_get(rule, "health"));
        if (health == NULL || strcmp(health, "err") == 0)
            fail_msg("rule %s: %s", json_string_value(json_object_get(rule, "name")),
                     json_string_value(json_object_get(rule, "lastError")));
    }
    json_decref(rules);
    json_decref(disk);
    json_decref(scvs);
    json_decref(info);
    json_decref(up);
    harness_stop(pid, SIGTERM, 10);
}

/* The scrape configuration docs/operations.md shows is one Prometheus
 * takes (its files are the reader's, so only its syntax is checked). */
static void test_documented_config(void **state)
{
    struct cluster *c = *state;
    char cmd[6 * PATH_MAX];
    snprintf(cmd, sizeof cmd,
             "awk '/^```yaml/ {f = 1; next} /^```/ {f = 0} f' %s/docs/operations.md > %s/documented.yml && "
             "grep -q scrape_configs %s/documented.yml && "
             "promtool check config --syntax-only %s/documented.yml > %s/promtool.log 2>&1",
             ST_SOURCE_DIR, c->root, c->root, c->root, c->root);
    if (system(cmd) != 0)
        fail_msg("the documented prometheus.yml is refused; see %s/promtool.log", c->root);
}

static int setup(void **state)
{
    struct cluster *c = calloc(1, sizeof *c);
    cluster_init(c, 0);
    /* Liveness rounds every second, so siegetank_cc_scvs is soon counted. */
    if (cluster_start_cc(c, "scv_check_interval = 1\n") != 0 || cluster_add_scv(c, "s1", NULL) < 0)
        return -1;
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    cluster_stop_all(*state);
    free(*state);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_move_with_the_work),
        cmocka_unit_test(test_prometheus_scrapes_both),
        cmocka_unit_test(test_documented_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
