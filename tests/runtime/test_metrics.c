#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "runtime/metrics.h"

/* The whole page as a string (caller frees). */
static char *page(struct metrics *m)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    assert_int_equal(metrics_write(m, out), 0);
    fclose(out);
    return text;
}

static void assert_line(const char *text, const char *line)
{
    char *want = malloc(strlen(line) + 3);
    sprintf(want, "\n%s\n", line);
    int found = strstr(text, want) != NULL || strncmp(text, want + 1, strlen(want + 1)) == 0;
    if (!found)
        fail_msg("line '%s' not in page:\n%s", line, text);
    free(want);
}

/* promtool (Debian prometheus) accepts the page, lint checks included. */
static void assert_promtool_accepts(const char *text)
{
    FILE *p = popen("promtool check metrics", "w");
    assert_non_null(p);
    fputs(text, p);
    int status = pclose(p);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("promtool check metrics refused (status %d):\n%s", status, text);
}

static void test_counter_gauge_histogram(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metrics_family *req = metrics_family(m, &(struct metrics_spec){.type = METRICS_COUNTER,
                                                                          .name = "t_requests_total",
                                                                          .help = "Requests.",
                                                                          .labels = {"route", "code"}});
    struct metrics_family *open = metrics_family(
        m, &(struct metrics_spec){.type = METRICS_GAUGE, .name = "t_open", .help = "Open things."});
    struct metrics_family *age =
        metrics_family(m, &(struct metrics_spec){
                              .type = METRICS_GAUGE, .name = "t_age_seconds", .help = "Age.", .scale = 1000});
    static const uint64_t bounds[] = {1000000, 10000000};
    struct metrics_family *lat = metrics_family(m, &(struct metrics_spec){.type = METRICS_HISTOGRAM,
                                                                          .name = "t_latency_seconds",
                                                                          .help = "Latency.",
                                                                          .labels = {"route"},
                                                                          .scale = METRICS_NS,
                                                                          .bounds = bounds,
                                                                          .nbounds = 2});
    assert_non_null(req);
    assert_non_null(open);
    assert_non_null(age);
    assert_non_null(lat);
    assert_ptr_equal(
        metrics_family(m, &(struct metrics_spec){.type = METRICS_GAUGE, .name = "t_open", .help = "Again."}),
        open);

    struct metrics_series *ok = metrics_series(req, (const char *[]){"/a/:id", "200"});
    assert_ptr_equal(metrics_series(req, (const char *[]){"/a/:id", "200"}), ok);
    metrics_inc(ok);
    metrics_add(ok, 4);
    metrics_inc(metrics_series(req, (const char *[]){"/a/:id", "404"}));
    struct metrics_series *o = metrics_series(open, NULL);
    metrics_add(o, 3);
    metrics_sub(o, 5);
    metrics_set(metrics_series(age, NULL), 1500);
    struct metrics_series *l = metrics_series(lat, (const char *[]){"/a/:id"});
    metrics_observe(l, 500000);   /* 0.5 ms */
    metrics_observe(l, 1000000);  /* 1 ms: le is inclusive */
    metrics_observe(l, 5000000);  /* 5 ms */
    metrics_observe(l, 20000000); /* 20 ms */

    char *text = page(m);
    assert_line(text, "# HELP t_requests_total Requests.");
    assert_line(text, "# TYPE t_requests_total counter");
    assert_line(text, "t_requests_total{route=\"/a/:id\",code=\"200\"} 5");
    assert_line(text, "t_requests_total{route=\"/a/:id\",code=\"404\"} 1");
    assert_line(text, "# TYPE t_open gauge");
    assert_line(text, "t_open -2");
    assert_line(text, "t_age_seconds 1.5");
    assert_line(text, "# TYPE t_latency_seconds histogram");
    assert_line(text, "t_latency_seconds_bucket{route=\"/a/:id\",le=\"0.001\"} 2");
    assert_line(text, "t_latency_seconds_bucket{route=\"/a/:id\",le=\"0.01\"} 3");
    assert_line(text, "t_latency_seconds_bucket{route=\"/a/:id\",le=\"+Inf\"} 4");
    assert_line(text, "t_latency_seconds_sum{route=\"/a/:id\"} 0.0265");
    assert_line(text, "t_latency_seconds_count{route=\"/a/:id\"} 4");
    assert_promtool_accepts(text);
    free(text);
    metrics_free(m);
}

static void test_unused_families_show_zero_or_nothing(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    metrics_family(m, &(struct metrics_spec){.type = METRICS_COUNTER, .name = "t_plain_total", .help = "P."});
    metrics_family(m,
                   &(struct metrics_spec){
                       .type = METRICS_COUNTER, .name = "t_labelled_total", .help = "L.", .labels = {"x"}});
    metrics_family(m, &(struct metrics_spec){.type = METRICS_HISTOGRAM,
                                             .name = "t_wait_seconds",
                                             .help = "W.",
                                             .scale = METRICS_NS,
                                             .bounds = metrics_latency_ns,
                                             .nbounds = METRICS_LATENCY_BOUNDS});
    char *text = page(m);
    assert_line(text, "t_plain_total 0");
    assert_null(strstr(text, "t_labelled_total{"));
    assert_line(text, "t_wait_seconds_bucket{le=\"0.0001\"} 0");
    assert_line(text, "t_wait_seconds_bucket{le=\"10\"} 0");
    assert_line(text, "t_wait_seconds_count 0");
    assert_promtool_accepts(text);
    free(text);
    metrics_free(m);
}

static void test_escaping(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metrics_family *f = metrics_family(m, &(struct metrics_spec){.type = METRICS_GAUGE,
                                                                        .name = "t_named",
                                                                        .help = "Back\\slash and\nline.",
                                                                        .labels = {"name"}});
    metrics_set(metrics_series(f, (const char *[]){"a\"b\\c\nd"}), 1);
    metrics_set(metrics_series(f, (const char *[]){"caf\xc3\xa9 \xff!"}), 2);
    char *text = page(m);
    assert_line(text, "# HELP t_named Back\\\\slash and\\nline.");
    assert_line(text, "t_named{name=\"a\\\"b\\\\c\\nd\"} 1");
    assert_line(text, "t_named{name=\"caf\xc3\xa9 ?!\"} 2");
    assert_promtool_accepts(text);
    free(text);
    metrics_free(m);
}

static void test_bad_specs(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    static const uint64_t down[] = {10, 5};
    assert_null(metrics_family(m, &(struct metrics_spec){.type = METRICS_GAUGE, .name = "9x", .help = "."}));
    assert_null(metrics_family(m, &(struct metrics_spec){.type = METRICS_GAUGE, .name = "a-b", .help = "."}));
    assert_null(metrics_family(m, &(struct metrics_spec){.type = METRICS_GAUGE, .name = "x"}));
    assert_null(metrics_family(
        m, &(struct metrics_spec){.type = METRICS_GAUGE, .name = "x", .help = ".", .labels = {"__x"}}));
    assert_null(metrics_family(
        m, &(struct metrics_spec){.type = METRICS_GAUGE, .name = "x", .help = ".", .labels = {"a:b"}}));
    assert_null(metrics_family(m, &(struct metrics_spec){.type = METRICS_HISTOGRAM,
                                                         .name = "h",
                                                         .help = ".",
                                                         .labels = {"le"},
                                                         .bounds = metrics_latency_ns,
                                                         .nbounds = 1}));
    assert_null(metrics_family(
        m, &(struct metrics_spec){
               .type = METRICS_HISTOGRAM, .name = "h", .help = ".", .bounds = down, .nbounds = 2}));
    assert_null(
        metrics_family(m, &(struct metrics_spec){.type = METRICS_HISTOGRAM, .name = "h", .help = "."}));
    /* NULL series and families are inert. */
    assert_null(metrics_series(NULL, NULL));
    metrics_inc(NULL);
    metrics_sub(NULL, 1);
    metrics_set(NULL, 1);
    metrics_observe(NULL, 1);
    metrics_free(m);
}

static void test_full_registry(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metrics_family *f = metrics_family(
        m, &(struct metrics_spec){
               .type = METRICS_COUNTER, .name = "t_many_total", .help = "M.", .labels = {"i"}});
    int made = 0;
    for (int i = 0; i < METRICS_MAX_CELLS + 10; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        struct metrics_series *s = metrics_series(f, (const char *[]){v});
        made += s != NULL;
        metrics_inc(s);
    }
    assert_int_equal(made, METRICS_MAX_CELLS);
    char *text = page(m);
    assert_line(text, "t_many_total{i=\"0\"} 1");
    free(text);
    metrics_free(m);
}

/* ---- concurrency ------------------------------------------------------ */

#define THREADS (METRICS_SHARDS + 8) /* some threads share the common shard */
#define ROUNDS 20000

struct shared {
    struct metrics *m;
    struct metrics_family *count, *level, *lat;
};

static void *updater(void *arg)
{
    struct shared *sh = arg;
    for (int i = 0; i < ROUNDS; i++) {
        /* Every thread makes the same few series at once, so pushes race. */
        char who[8];
        snprintf(who, sizeof who, "%d", i % 5);
        metrics_inc(metrics_series(sh->count, (const char *[]){who}));
        struct metrics_series *level = metrics_series(sh->level, NULL);
        metrics_add(level, 2);
        metrics_sub(level, 1);
        metrics_observe(metrics_series(sh->lat, NULL), (uint64_t)(i % 3) * 1000000);
    }
    return NULL;
}

static void *scraper(void *arg)
{
    struct shared *sh = arg;
    for (int i = 0; i < 20; i++)
        free(page(sh->m));
    return NULL;
}

static void test_threads_sum_exactly(void **state)
{
    (void)state;
    struct shared sh;
    sh.m = metrics_new();
    sh.count = metrics_family(
        sh.m,
        &(struct metrics_spec){.type = METRICS_COUNTER, .name = "t_n_total", .help = "N.", .labels = {"w"}});
    sh.level =
        metrics_family(sh.m, &(struct metrics_spec){.type = METRICS_GAUGE, .name = "t_level", .help = "L."});
    sh.lat = metrics_family(sh.m, &(struct metrics_spec){.type = METRICS_HISTOGRAM,
                                                         .name = "t_lat_seconds",
                                                         .help = "T.",
                                                         .scale = METRICS_NS,
                                                         .bounds = metrics_latency_ns,
                                                         .nbounds = METRICS_LATENCY_BOUNDS});
    pthread_t tids[THREADS + 1];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&tids[i], NULL, updater, &sh), 0);
    assert_int_equal(pthread_create(&tids[THREADS], NULL, scraper, &sh), 0);
    for (int i = 0; i <= THREADS; i++)
        pthread_join(tids[i], NULL);

    char *text = page(sh.m);
    char line[128];
    for (int w = 0; w < 5; w++) {
        snprintf(line, sizeof line, "t_n_total{w=\"%d\"} %d", w, THREADS * ROUNDS / 5);
        assert_line(text, line);
    }
    snprintf(line, sizeof line, "t_level %d", THREADS * ROUNDS);
    assert_line(text, line);
    snprintf(line, sizeof line, "t_lat_seconds_count %d", THREADS * ROUNDS);
    assert_line(text, line);
    /* Duplicate series would show as repeated lines, which promtool refuses. */
    assert_promtool_accepts(text);
    free(text);
    metrics_free(sh.m);
}

static int collected;
static void collect(void *arg)
{
    collected++;
    metrics_set(arg, 42);
}

static void test_collectors_run_on_scrape(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metrics_family *f = metrics_family(
        m, &(struct metrics_spec){.type = METRICS_GAUGE, .name = "t_free_bytes", .help = "F."});
    assert_int_equal(metrics_on_scrape(m, collect, metrics_series(f, NULL)), 0);
    char *text = page(m);
    assert_int_equal(collected, 1);
    assert_line(text, "t_free_bytes 42");
    free(text);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_gauge_histogram),
        cmocka_unit_test(test_unused_families_show_zero_or_nothing),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_full_registry),
        cmocka_unit_test(test_threads_sum_exactly),
        cmocka_unit_test(test_collectors_run_on_scrape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
