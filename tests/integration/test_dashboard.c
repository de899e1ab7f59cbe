/* The CC's dashboard against a running system with cores at work: its JSON
 * (who sees what, nothing secret), the page in a headless Chromium (the
 * real SCV and targets, numbers equal to the API's, charts drawn, no
 * console errors, a screenshot in DASHBOARD_OUT), `siegetank status`, and
 * the history kept across a restart of the CC. */
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

#include "cdp.h"
#include "cli_runner.h"
#include "client/client.h"
#include "cluster.h"
#include "core/md_engine.h"
#include "harness.h"
#include "metrics_page.h"
#include "seed_target.h"

#define MANAGER "manager@test"
#define TRIES 20
#define SURVEY_STREAMS 40

struct world {
    struct cluster c;
    char key[128];
    char manager_token[256];
    char pub[SEED_TARGET_ID_MAX], priv[SEED_TARGET_ID_MAX]; /* the manager's public and private targets */
    pid_t cores;
};

static struct world W;

/* GET path on the daemon at base with token (NULL: none); the reply's JSON
 * when the status is want, else the test fails. */
static json_t *get_from(const char *base, const char *path, const char *token, long want)
{
    char url[512], auth[300];
    struct harness_response r;
    const char *headers[] = {auth, NULL};
    snprintf(url, sizeof url, "%s%s", base, path);
    snprintf(auth, sizeof auth, "Authorization: %s", token ? token : "");
    assert_int_equal(harness_http("GET", url, token ? headers : NULL, NULL, 0, NULL, &r), 0);
    if (r.status != want)
        fail_msg("GET %s: %ld %s", path, r.status, r.body);
    json_t *body = json_loads(r.body, 0, NULL);
    harness_response_free(&r);
    assert_non_null(body);
    return body;
}

/* GET path on the CC. */
static json_t *get(const char *path, const char *token, long want)
{
    return get_from(W.c.cc.url, path, token, want);
}

static json_int_t history_sum(const json_t *h, const char *field)
{
    json_int_t sum = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(h, field), i, v) sum += json_integer_value(v);
    return sum;
}

/* Waits until the survey has seen the public target's cores commit frames. */
static void wait_for_work(void)
{
    char path[128];
    snprintf(path, sizeof path, "/status/targets/%s", W.pub);
    for (int i = 0; i < 120; i++) {
        json_t *t = get(path, NULL, 200), *h = get("/status/history", NULL, 200);
        const json_t *row = json_object_get(t, "target");
        int ready = json_integer_value(json_object_get(row, "frames")) > 0 &&
                    json_integer_value(json_object_get(row, "active_cores")) > 0 &&
                    history_sum(h, "frames") > 0;
        json_decref(t);
        json_decref(h);
        if (ready)
            return;
        usleep(500 * 1000);
    }
    fail_msg("the dashboard never saw the cores' work");
}

static int setup(void **state)
{
    (void)state;
    struct client_error err;
    cluster_init(&W.c, 0);
    assert_int_equal(cluster_start_cc(&W.c, NULL), 0);
    assert_true(cluster_add_scv(&W.c, "s1", NULL) >= 0);
    assert_int_equal(cluster_engine_key(&W.c, MD_ENGINE_NAME, W.key, sizeof W.key), 0);
    struct client *admin = client_new(W.c.cc.url, NULL, &err), *m = client_new(W.c.cc.url, NULL, &err);
    assert_non_null(admin);
    assert_non_null(m);
    client_set_token(admin, W.c.admin_token);
    json_t *made = client_manager_create(admin, MANAGER, "a manager's password", "manager", 1, &err);
    assert_non_null(made);
    snprintf(W.manager_token, sizeof W.manager_token, "%s",
             json_string_value(json_object_get(made, "token")));
    json_decref(made);
    client_set_token(m, W.manager_token);
    seed_target(m, "s1", "public", 0, 2, W.pub, NULL);
    seed_target(m, "s1", "private", 0, 1, W.priv, NULL);
    client_free(admin);
    client_free(m);

    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/cores.log", W.c.root);
    const char *argv[] = {NULL,
                          "core",
                          "--cc",
                          W.c.cc.url,
                          "--key",
                          W.key,
                          "--cores",
                          "2",
                          "--duration",
                          "300",
                          "--frames-per-checkpoint",
                          "3",
                          NULL};
    W.cores = harness_spawn(argv, log);
    assert_true(W.cores > 0);
    wait_for_work();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    harness_stop(W.cores, SIGTERM, 30);
    cluster_stop_all(&W.c);
    return 0;
}

static int has_target(const json_t *overview, const char *id)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(overview, "targets"), i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "id")), id) == 0)
            return 1;
    }
    return 0;
}

static void assert_no_secret(const char *text)
{
    char scv_secret[256];
    assert_int_equal(cluster_scv_secret(&W.c.scv[0], scv_secret, sizeof scv_secret), 0);
    const char *secrets[] = {W.key, W.manager_token, W.c.admin_token, W.c.cc_pass, scv_secret};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strstr(text, secrets[i]) != NULL)
            fail_msg("a secret appears in: %.300s", text);
}

static void test_who_sees_what(void **state)
{
    (void)state;
    char path[128];
    json_t *anon = get("/status/overview", NULL, 200), *mine = get("/status/overview", W.manager_token, 200);
    assert_true(has_target(anon, W.pub));
    assert_false(has_target(anon, W.priv));
    assert_true(has_target(mine, W.pub));
    assert_true(has_target(mine, W.priv));
    assert_true(json_is_null(json_object_get(anon, "viewer")));
    assert_string_equal(json_string_value(json_object_get(mine, "viewer")), MANAGER);
    /* The SCV and the totals count every stream, as numbers only. */
    const json_t *scv = json_array_get(json_object_get(anon, "scvs"), 0),
                 *totals = json_object_get(anon, "totals");
    assert_string_equal(json_string_value(json_object_get(scv, "name")), "s1");
    assert_true(json_is_true(json_object_get(scv, "online")));
    assert_int_equal(json_integer_value(json_object_get(scv, "streams")), 3);
    assert_int_equal(json_integer_value(json_object_get(totals, "scvs_online")), 1);
    assert_int_equal(json_integer_value(json_object_get(totals, "streams")), 3);

    snprintf(path, sizeof path, "/status/targets/%s", W.priv);
    json_decref(get(path, NULL, 400));
    json_t *priv = get(path, W.manager_token, 200);
    assert_int_equal(json_array_size(json_object_get(priv, "streams")), 1);
    snprintf(path, sizeof path, "/status/history/%s", W.priv);
    json_decref(get(path, NULL, 400));
    json_decref(get("/status/overview", "not-a-token", 401));
    json_decref(get("/status/targets/no-such-target", NULL, 400));

    snprintf(path, sizeof path, "/status/targets/%s", W.pub);
    json_t *pub = get(path, NULL, 200);
    json_int_t frames = 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(pub, "streams"), i, s) frames +=
        json_integer_value(json_object_get(s, "frames"));
    assert_int_equal(json_array_size(json_object_get(pub, "streams")), 2);
    assert_int_equal(frames, json_integer_value(json_object_get(json_object_get(pub, "target"), "frames")));

    json_t *h = get("/status/history", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(h, "frames")), 1440);
    assert_true(history_sum(h, "assignments") >= 1);
    assert_true(history_sum(h, "active_cores") >= 1);

    json_t *all[] = {anon, mine, priv, pub, h};
    for (i = 0; i < 5; i++) {
        char *text = json_dumps(all[i], 0);
        assert_no_secret(text);
        free(text);
        json_decref(all[i]);
    }
}

/* The page's text for a JSON value (dashboard.js's show()). */
static json_t *shown(const json_t *v)
{
    char buf[64];
    if (json_is_true(v))
        return json_string("yes");
    if (json_is_false(v))
        return json_string("no");
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        return json_string(buf);
    }
    if (json_is_string(v))
        return json_string(json_string_value(v));
    if (json_is_array(v)) {
        char out[1024] = "";
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s",
                                             i ? ", " : "", json_string_value(e));
        return json_string(out);
    }
    return json_string("-");
}

static void expect_fields(json_t *map, const char *prefix, const json_t *obj, const char *skip)
{
    const char *field;
    json_t *v;
    char key[512];
    json_object_foreach((json_t *)obj, field, v)
    {
        if (skip != NULL && strcmp(field, skip) == 0)
            continue;
        snprintf(key, sizeof key, "%s.%s", prefix, field);
        json_object_set_new(map, key, shown(v));
    }
}

static void expect_rows(json_t *map, const char *section, const json_t *rows, const char *id_field)
{
    size_t i;
    json_t *row;
    char prefix[256];
    json_array_foreach(rows, i, row)
    {
        snprintf(prefix, sizeof prefix, "%s.%s", section, json_string_value(json_object_get(row, id_field)));
        expect_fields(map, prefix, row, NULL);
    }
}

/* What the page should show for an API reply. */
/* A target page's pager: the range shown, the stream count, the count of
 * each status. */
static void expect_page(json_t *map, const json_t *api)
{
    json_int_t offset = json_integer_value(json_object_get(api, "offset")),
               count = json_integer_value(json_object_get(api, "stream_count")),
               shown = (json_int_t)json_array_size(json_object_get(api, "streams"));
    char key[128], text[32];
    const char *status;
    json_t *n;
    snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, count == 0 ? 0 : offset + 1);
    json_object_set_new(map, "page.from", json_string(text));
    snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, offset + shown);
    json_object_set_new(map, "page.to", json_string(text));
    snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, count);
    json_object_set_new(map, "page.stream_count", json_string(text));
    json_object_foreach((json_t *)json_object_get(api, "status_counts"), status, n)
    {
        snprintf(key, sizeof key, "status_counts.%s", status);
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(n));
        json_object_set_new(map, key, json_string(text));
    }
}

static json_t *expected(const json_t *api, int target_page)
{
    json_t *map = json_object();
    if (target_page) {
        const json_t *t = json_object_get(api, "target");
        char prefix[128];
        snprintf(prefix, sizeof prefix, "target.%s", json_string_value(json_object_get(t, "id")));
        expect_fields(map, prefix, t, "id");
        expect_rows(map, "stream", json_object_get(api, "streams"), "id");
        expect_page(map, api);
    } else {
        expect_fields(map, "totals", json_object_get(api, "totals"), NULL);
        expect_rows(map, "scv", json_object_get(api, "scvs"), "name");
        expect_rows(map, "target", json_object_get(api, "targets"), "id");
        expect_rows(map, "engine", json_object_get(api, "engines"), "engine");
    }
    return map;
}

static const char PAGE_FIGURES[] = "Object.fromEntries(Array.from(document.querySelectorAll('[data-k]')).map("
                                   "e => [e.dataset.k, e.textContent]))";

/* Loads page until the survey it shows is the one api_path answers with
 * (the survey moves on every few seconds), then checks every figure. */
static void check_figures(struct cdp *b, const char *page, const char *api_path, const char *token,
                          int target_page)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", W.c.cc.url, page);
    for (int i = 0; i < TRIES; i++) {
        cdp_navigate(b, url);
        assert_int_equal(cdp_wait_true(b, "document.body.dataset.state === 'ready'", 30), 0);
        json_t *api = get(api_path, token, 200);
        json_t *survey = cdp_eval(b, "Number(document.body.dataset.survey)");
        json_t *figures = cdp_eval(b, PAGE_FIGURES);
        int same = json_number_value(survey) == json_number_value(json_object_get(api, "survey_time"));
        json_t *want = expected(api, target_page);
        if (same && !json_equal(want, figures)) {
            char *a = json_dumps(want, JSON_SORT_KEYS), *p = json_dumps(figures, JSON_SORT_KEYS);
            fail_msg("%s shows\n%s\nwhere the API says\n%s", page, p, a);
        }
        json_decref(want);
        json_decref(api);
        json_decref(survey);
        json_decref(figures);
        if (same)
            return;
    }
    fail_msg("%s never showed the API's latest survey", page);
}

/* Per chart: the rows, the values that are not gaps, their sum, and the
 * pixels of the series' colour on its canvases (the line was drawn). */
static const char CHARTS[] =
    "Object.fromEntries(Object.entries(window.siegetankCharts).map(([k, g]) => {"
    "  let values = 0, sum = 0, ink = 0;"
    "  for (let i = 0; i < g.numRows(); i++) { const v = g.getValue(i, 1); if (v !== null) { values++; sum "
    "+= v; } }"
    "  document.querySelectorAll('[data-chart=\"' + k + '\"] canvas').forEach(c => {"
    "    if (c.width === 0 || c.height === 0) return;"
    "    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
    "    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i + 2] > d[i] + 80) ink++;"
    "  });"
    "  return [k, {rows: g.numRows(), values: values, sum: sum, ink: ink}];"
    "}))";

static void check_charts(struct cdp *b, const char *scope, const json_t *before, const json_t *after)
{
    json_t *charts = cdp_eval(b, CHARTS);
    const char *series[] = {"assignments", "frames", "active_cores"};
    for (size_t i = 0; i < 3; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s.%s", scope, series[i]);
        const json_t *c = json_object_get(charts, key);
        char *dump = json_dumps(charts, 0);
        if (c == NULL || json_integer_value(json_object_get(c, "ink")) == 0)
            fail_msg("chart %s not drawn: %s", key, dump);
        free(dump);
        assert_int_equal(json_integer_value(json_object_get(c, "rows")), 1440);
        assert_true(json_integer_value(json_object_get(c, "values")) > 0);
        assert_true(json_integer_value(json_object_get(c, "ink")) > 0);
        /* Within the first day, each sum only grows: the page's lies between
         * the API's before and after it loaded. */
        json_int_t sum = (json_int_t)json_number_value(json_object_get(c, "sum"));
        if (strcmp(series[i], "active_cores") != 0) {
            assert_true(sum >= history_sum(before, series[i]));
            assert_true(sum <= history_sum(after, series[i]));
        }
    }
    json_t *frames = json_object_get(charts, "all.frames");
    assert_true(frames == NULL || json_number_value(json_object_get(frames, "sum")) > 0);
    json_decref(charts);
}

static void assert_no_errors(struct cdp *b)
{
    const json_t *errors = cdp_errors(b);
    if (json_array_size(errors) > 0) {
        char *text = json_dumps(errors, JSON_INDENT(2));
        fail_msg("the page logged errors: %s", text);
    }
}

static void out_path(char *path, size_t n, const char *name)
{
    mkdir(DASHBOARD_OUT, 0755);
    snprintf(path, n, "%s/%s", DASHBOARD_OUT, name);
}

static void test_page_in_chromium(void **state)
{
    (void)state;
    char dir[PATH_MAX + 16], page[256], api[256], png[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/browser", W.c.root);
    mkdir(dir, 0700);
    struct cdp *b = cdp_start(dir, 1280, 900);

    json_t *before = get("/status/history", NULL, 200);
    check_figures(b, "/dashboard", "/status/overview", NULL, 0);
    json_t *after = get("/status/history", NULL, 200);
    out_path(png, sizeof png, "dashboard-overview.png");
    cdp_screenshot(b, png);
    check_charts(b, "all", before, after);
    json_t *text = cdp_eval(b, "document.body.innerText");
    assert_non_null(strstr(json_string_value(text), W.pub));
    assert_null(strstr(json_string_value(text), W.priv));
    json_decref(text);
    json_decref(before);
    json_decref(after);

    snprintf(page, sizeof page, "/dashboard/targets/%s", W.pub);
    snprintf(api, sizeof api, "/status/history/%s", W.pub);
    before = get(api, NULL, 200);
    snprintf(api, sizeof api, "/status/targets/%s", W.pub);
    check_figures(b, page, api, NULL, 1);
    snprintf(api, sizeof api, "/status/history/%s", W.pub);
    after = get(api, NULL, 200);
    out_path(png, sizeof png, "dashboard-target.png");
    cdp_screenshot(b, png);
    check_charts(b, "target", before, after);
    json_decref(before);
    json_decref(after);

    /* The page's ?offset= and ?limit= reach the API: the second of two
     * streams alone, with a way back to the first. */
    snprintf(page, sizeof page, "/dashboard/targets/%s?offset=1&limit=1", W.pub);
    snprintf(api, sizeof api, "/status/targets/%s?offset=1&limit=1", W.pub);
    check_figures(b, page, api, NULL, 1);
    json_t *pager = cdp_eval(b, "document.querySelector('.pager').textContent");
    assert_non_null(strstr(json_string_value(pager), "previous"));
    assert_null(strstr(json_string_value(pager), "next"));
    json_decref(pager);

    /* Signing in with the manager's token shows its private target too; the
     * token stays out of the address. */
    char js[512];
    snprintf(page, sizeof page, "%s/dashboard", W.c.cc.url);
    cdp_navigate(b, page);
    assert_int_equal(cdp_wait_true(b, "document.body.dataset.state === 'ready'", 30), 0);
    snprintf(js, sizeof js,
             "document.getElementById('token').value = '%s';"
             "document.getElementById('signin').requestSubmit(); true",
             W.manager_token);
    json_decref(cdp_eval(b, js));
    snprintf(js, sizeof js, "document.querySelector('[data-k=\"target.%s.stage\"]') !== null", W.priv);
    assert_int_equal(cdp_wait_true(b, js, 30), 0);
    json_t *href = cdp_eval(b, "location.href");
    assert_null(strstr(json_string_value(href), W.manager_token));
    json_decref(href);
    check_figures(b, "/dashboard", "/status/overview", W.manager_token, 0);
    json_decref(cdp_eval(b, "sessionStorage.clear(); true"));

    /* The leaderboard page shows the public boards' sizes and entries. */
    snprintf(page, sizeof page, "%s/dashboard/leaderboard", W.c.cc.url);
    cdp_navigate(b, page);
    assert_int_equal(cdp_wait_true(b, "document.body.dataset.state === 'ready'", 30), 0);
    json_t *board = get("/leaderboard/donors?period=week&limit=25", NULL, 200);
    json_t *shown = cdp_eval(b, "document.body.innerText");
    snprintf(js, sizeof js, "Donors, this week (%lld)",
             (long long)json_integer_value(json_object_get(board, "total")));
    assert_non_null(strstr(json_string_value(shown), js));
    assert_non_null(strstr(json_string_value(shown), "Teams, all time"));
    json_decref(shown);
    json_decref(board);
    out_path(png, sizeof png, "dashboard-leaderboard.png");
    cdp_screenshot(b, png);
    snprintf(page, sizeof page, "%s/dashboard", W.c.cc.url);
    cdp_navigate(b, page);
    assert_int_equal(cdp_wait_true(b, "document.body.dataset.state === 'ready'", 30), 0);
    assert_no_errors(b);

    /* A refused token is said so and forgotten: the public view comes back.
     * (The browser logs the 401 itself, so this comes after the check.) */
    json_decref(cdp_eval(b, "document.getElementById('token').value = 'not-a-token';"
                            "document.getElementById('signin').requestSubmit(); true"));
    assert_int_equal(
        cdp_wait_true(b,
                      "document.getElementById('error').textContent.startsWith('sign-in refused') &&"
                      " document.body.dataset.state === 'ready' && !sessionStorage.length",
                      30),
        0);
    snprintf(js, sizeof js, "document.querySelector('[data-k=\"target.%s.stage\"]') === null", W.priv);
    json_t *gone = cdp_eval(b, js);
    assert_true(json_is_true(gone));
    json_decref(gone);
    cdp_stop(b);
}

static void test_cli_status(void **state)
{
    (void)state;
    struct cli_call call = {.cc = W.c.cc.url};
    for (int i = 0; i < TRIES; i++) {
        struct cli_result r;
        const char *argv[] = {"status", "--json", NULL};
        assert_int_equal(cli_run(&call, argv, &r), 0);
        json_t *cli = json_loads(r.out, 0, NULL), *api = get("/status/overview", NULL, 200);
        cli_result_free(&r);
        assert_non_null(cli);
        int same = json_equal(json_object_get(cli, "survey_time"), json_object_get(api, "survey_time"));
        if (same) {
            const char *parts[] = {"totals", "scvs", "targets", "engines"};
            for (size_t k = 0; k < 4; k++)
                assert_true(json_equal(json_object_get(cli, parts[k]), json_object_get(api, parts[k])));
        }
        json_decref(cli);
        json_decref(api);
        if (same)
            break;
        assert_true(i < TRIES - 1);
    }
    struct cli_result r;
    const char *argv[] = {"status", NULL};
    assert_int_equal(cli_run(&call, argv, &r), 0);
    assert_non_null(strstr(r.out, "SCVs online 1 of 1, streams 3, "));
    assert_non_null(strstr(r.out, "s1 "));
    assert_non_null(strstr(r.out, W.pub));
    assert_null(strstr(r.out, W.priv));
    cli_result_free(&r);
    call.token = W.manager_token;
    assert_int_equal(cli_run(&call, argv, &r), 0);
    assert_non_null(strstr(r.out, W.priv));
    cli_result_free(&r);
}

/* A restarted CC shows the day it had before (docs/operations.md). */
static void test_history_survives_restart(void **state)
{
    (void)state;
    json_t *before = get("/status/history", NULL, 200);
    assert_int_equal(cluster_stop(&W.c.cc, SIGTERM), 0);
    assert_int_equal(cluster_start(&W.c, &W.c.cc), 0);
    json_t *after = get("/status/history", NULL, 200);
    assert_true(history_sum(after, "frames") >= history_sum(before, "frames"));
    assert_true(history_sum(after, "assignments") >= history_sum(before, "assignments"));
    json_decref(before);
    json_decref(after);
}

/* The SCV's survey routes answer the CC's secret only: they count private
 * targets too. */
static void test_scv_survey_routes(void **state)
{
    (void)state;
    char secret[256], path[128];
    const char *scv = W.c.scv[0].url;
    assert_int_equal(cluster_scv_secret(&W.c.scv[0], secret, sizeof secret), 0);
    snprintf(path, sizeof path, "/survey/%s", W.priv);
    const char *paths[] = {"/survey", path};
    for (size_t i = 0; i < 2; i++) {
        json_t *refused[] = {get_from(scv, paths[i], NULL, 401), get_from(scv, paths[i], "wrong", 401),
                             get_from(scv, paths[i], W.manager_token, 401)};
        for (size_t k = 0; k < 3; k++) {
            char *text = json_dumps(refused[k], 0);
            assert_null(strstr(text, W.priv));
            free(text);
            json_decref(refused[k]);
        }
    }
    json_t *all = get_from(scv, "/survey", secret, 200);
    const json_t *targets = json_object_get(all, "targets");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(all, "streams"), "ok")), 3);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(json_object_get(targets, W.pub), "streams"), "ok")),
                     2);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(json_object_get(targets, W.priv), "streams"), "ok")),
                     1);
    assert_true(json_integer_value(json_object_get(all, "frames_committed")) > 0);
    json_t *rows = get_from(scv, path, secret, 200);
    assert_int_equal(json_array_size(json_object_get(rows, "streams")), 1);
    json_decref(rows);
    json_decref(all);
}

/* Requests the SCV has answered on route (any method and status). */
static long route_requests(const char *route)
{
    static const char family[] = "siegetank_http_requests_total{";
    char *page = metrics_page_get(W.c.scv[0].url), needle[128];
    long sum = 0;
    snprintf(needle, sizeof needle, "route=\"%s\"", route);
    for (char *line = strtok(page, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char *value = strrchr(line, ' ');
        if (strncmp(line, family, sizeof family - 1) == 0 && strstr(line, needle) && value)
            sum += strtol(value + 1, NULL, 10);
    }
    free(page);
    return sum;
}

/* A round costs one request per SCV, however many streams it holds; a
 * target's page asks its shard for the streams once however often it is
 * loaded (within CC_SURVEY_ROWS_MS). */
static void test_survey_cost(void **state)
{
    (void)state;
    char many[SEED_TARGET_ID_MAX], path[128];
    struct client_error err;
    struct client *m = client_new(W.c.cc.url, NULL, &err);
    assert_non_null(m);
    client_set_token(m, W.manager_token);
    seed_target(m, "s1", "public", 0, SURVEY_STREAMS, many, NULL);
    client_free(m);
    const char *routes[] = {"/survey", "/streams/info/:id", "/targets/streams/:target_id", "/active_streams",
                            "/survey/:target_id"};
    long before[5], after[5];
    for (size_t i = 0; i < 5; i++)
        before[i] = route_requests(routes[i]);
    json_t *first = get("/status/overview", NULL, 200);
    int rounds = 0;
    for (int i = 0; i < 120 && rounds < 2; i++) {
        usleep(250 * 1000);
        json_t *now = get("/status/overview", NULL, 200);
        if (!json_equal(json_object_get(now, "survey_time"), json_object_get(first, "survey_time"))) {
            rounds++;
            json_decref(first);
            first = json_incref(now);
        }
        json_decref(now);
    }
    json_decref(first);
    assert_int_equal(rounds, 2);
    snprintf(path, sizeof path, "/status/targets/%s", many);
    for (int i = 0; i < 10; i++) {
        json_t *page = get(path, NULL, 200);
        assert_int_equal(json_array_size(json_object_get(page, "streams")), SURVEY_STREAMS);
        json_decref(page);
    }
    for (size_t i = 0; i < 5; i++)
        after[i] = route_requests(routes[i]);
    /* two rounds seen, perhaps one more begun: never a request per stream */
    if (after[0] - before[0] < 2 || after[0] - before[0] > 3)
        fail_msg("%ld GET /survey in 2 rounds", after[0] - before[0]);
    for (size_t i = 1; i < 4; i++)
        assert_int_equal(after[i], before[i]);
    if (after[4] - before[4] < 1 || after[4] - before[4] > 2)
        fail_msg("%ld GET /survey/:target_id for 10 loads of a target's page", after[4] - before[4]);
}

/* The page and its files come with their type, the content security
 * policy and no sniffing; an unknown file is a 404 with an error. */
static void test_page_headers(void **state)
{
    (void)state;
    const char *paths[][2] = {{"/dashboard", "text/html; charset=utf-8"},
                              {"/dashboard/assets/dashboard.js", "text/javascript; charset=utf-8"},
                              {"/dashboard/assets/dygraph.min.css", "text/css; charset=utf-8"}};
    char url[512], value[512];
    struct harness_response r;
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        snprintf(url, sizeof url, "%s%s", W.c.cc.url, paths[i][0]);
        assert_int_equal(harness_http("GET", url, NULL, NULL, 0, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        assert_true(r.len > 100);
        assert_int_equal(harness_header(&r, "content-type", value, sizeof value), 0);
        assert_string_equal(value, paths[i][1]);
        assert_int_equal(harness_header(&r, "content-security-policy", value, sizeof value), 0);
        assert_non_null(strstr(value, "default-src 'none'"));
        assert_int_equal(harness_header(&r, "x-content-type-options", value, sizeof value), 0);
        assert_string_equal(value, "nosniff");
        harness_response_free(&r);
    }
    json_decref(get("/dashboard/assets/nosuch.js", NULL, 404));
}

/* A target's streams come a page at a time, stopped ones first, then by
 * id; the pages add up to every stream once; bad paging is a 400. */
static void test_stream_pages(void **state)
{
    (void)state;
    enum { N = 12, LIMIT = 5 };
    char target[SEED_TARGET_ID_MAX], ids[N][SEED_TARGET_STREAM_ID_MAX], path[256];
    struct client_error err;
    struct client *m = client_new(W.c.cc.url, NULL, &err);
    assert_non_null(m);
    client_set_token(m, W.manager_token);
    seed_target(m, "s1", "public", 0, N, target, ids);
    assert_int_equal(client_stream_stop(m, ids[7], &err), 0);
    assert_int_equal(client_stream_stop(m, ids[3], &err), 0);
    client_free(m);
    json_t *seen = json_array();
    for (int offset = 0; offset < N; offset += LIMIT) {
        snprintf(path, sizeof path, "/status/targets/%s?offset=%d&limit=%d", target, offset, LIMIT);
        json_t *page = get(path, NULL, 200), *row;
        size_t i;
        assert_int_equal(json_integer_value(json_object_get(page, "stream_count")), N);
        assert_int_equal(json_integer_value(json_object_get(page, "offset")), offset);
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(page, "status_counts"), "STOPPED")), 2);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(page, "status_counts"), "OK")),
                         N - 2);
        assert_int_equal(json_array_size(json_object_get(page, "streams")),
                         offset + LIMIT <= N ? LIMIT : N - offset);
        json_array_foreach(json_object_get(page, "streams"), i, row) json_array_append(seen, row);
        json_decref(page);
    }
    assert_int_equal(json_array_size(seen), N);
    const char *stopped[2] = {strcmp(ids[3], ids[7]) < 0 ? ids[3] : ids[7],
                              strcmp(ids[3], ids[7]) < 0 ? ids[7] : ids[3]};
    for (size_t i = 0; i < N; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(seen, i), "id"));
        const char *status = json_string_value(json_object_get(json_array_get(seen, i), "status"));
        if (i < 2) {
            assert_string_equal(id, stopped[i]);
            assert_string_equal(status, "STOPPED");
        } else {
            assert_string_equal(status, "OK");
            if (i > 2)
                assert_true(
                    strcmp(json_string_value(json_object_get(json_array_get(seen, i - 1), "id")), id) < 0);
        }
    }
    json_decref(seen);
    const char *bad[] = {"limit=0", "limit=1001", "offset=-1", "offset=x", "limit=", "offset=1e3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(path, sizeof path, "/status/targets/%s?%s", target, bad[i]);
        json_t *refused = get(path, NULL, 400);
        assert_non_null(strstr(json_string_value(json_object_get(refused, "error")), "offset or limit"));
        json_decref(refused);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_who_sees_what),     cmocka_unit_test(test_page_in_chromium),
        cmocka_unit_test(test_cli_status),        cmocka_unit_test(test_history_survives_restart),
        cmocka_unit_test(test_scv_survey_routes), cmocka_unit_test(test_survey_cost),
        cmocka_unit_test(test_stream_pages),      cmocka_unit_test(test_page_headers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
