/* The multi-host deployment of docs/deployment.md on loopback: two CCs on
 * one private PostgreSQL (role and database made by the page's check=postgres
 * block) behind HAProxy (the committed etc/haproxy.cfg,
 * terminating TLS), three SCVs registered through the balancer, one target
 * sharded over all three, and 30 reference cores. Mid-run one CC and one SCV
 * are SIGKILLed. At the end no committed frame may be lost, every stats
 * fragment must be in the database exactly once, each CC must have judged
 * SCV liveness by itself, and the killed SCV's streams must get work again
 * after its restart. */
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
#include "core/md_engine.h"
#include "core/xtc.h"
#include "harness.h"
#include "pg_harness.h"
#include "seed_files.h"

/* The two SCVs that survive hold more streams than there are cores, so every
 * core that loses its stream with the killed SCV can be given a new one. */
#define NSCV 3
#define STREAMS_PER_SCV 16
#define CORES 30
#define RUN_SECONDS 30
#define FRAMES_PER_CHECKPOINT 5
_Static_assert((NSCV - 1) * STREAMS_PER_SCV > CORES, "survivors must have a free stream for every core");

struct deployment {
    struct cluster c; /* c.cc stands for the balancer once the CCs run */
    pg_harness *pg;
    char db_url[256];
    struct daemon_proc cc[2];
    pid_t lb_pid;
    char lb_url[128];
    char lb_log[PATH_MAX + 16];
    char engine_key[128];
    char target_id[64];
    char streams[NSCV][STREAMS_PER_SCV][128];
    struct client *api; /* admin client through the balancer */
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void run_shell(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("'%s' failed with %d", cmd, rc);
}

/* The first executable named name on $PATH, /usr/sbin and /sbin. */
static int find_program(const char *name, char *out, size_t outlen)
{
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/sbin", getenv("PATH") ? getenv("PATH") : "/usr/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, outlen, "%s/%s", d, name);
        if (access(out, X_OK) == 0)
            return 0;
    }
    return -1;
}

/* ---- the database, as docs/deployment.md sets it up ---------------------- */

/* Runs the statements of the page's `sql check=postgres` block as the
 * superuser, one by one (CREATE DATABASE cannot share a transaction), and
 * points the CCs at the database as the role it creates. */
static void create_database_from_docs(struct deployment *d)
{
    FILE *f = fopen(ST_SOURCE_DIR "/docs/deployment.md", "r");
    assert_non_null(f);
    char line[1024], sql[4096] = "";
    int in_block = 0, found = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "```", 3) == 0) {
            found |= in_block;
            in_block = !in_block && strstr(line, "check=postgres") != NULL;
            continue;
        }
        if (!in_block || strncmp(line, "--", 2) == 0)
            continue;
        assert_true(strlen(sql) + strlen(line) < sizeof sql);
        strcat(sql, line);
    }
    fclose(f);
    assert_true(found);
    assert_non_null(strstr(sql, "CREATE ROLE siegetank LOGIN PASSWORD 'change-me-too'"));
    for (char *save = NULL, *stmt = strtok_r(sql, ";", &save); stmt != NULL;
         stmt = strtok_r(NULL, ";", &save)) {
        if (strspn(stmt, " \t\r\n") == strlen(stmt))
            continue;
        if (pg_harness_query(d->pg, "postgres", stmt, NULL, NULL, 0) != 0)
            fail_msg("docs/deployment.md: '%s' failed", stmt);
    }
    snprintf(d->db_url, sizeof d->db_url, "postgresql://siegetank:change-me-too@127.0.0.1:%d/siegetank",
             pg_harness_port(d->pg));
}

/* ---- the two CCs and the balancer ------------------------------------- */

static void start_first_cc(struct deployment *d)
{
    char extra[512];
    snprintf(extra, sizeof extra, "database = %s\nscv_check_interval = 1\n", d->db_url);
    assert_int_equal(cluster_start_cc(&d->c, extra), 0);
    d->cc[0] = d->c.cc;
}

/* A second CC on the same database: its own folder and port, configured
 * like the first (same cc_pass and database) and nothing copied from it. */
static void start_second_cc(struct deployment *d)
{
    struct daemon_proc *cc = &d->cc[1];
    char dir[PATH_MAX + 80];
    snprintf(dir, sizeof dir, "%s/cc2", d->c.root);
    daemon_proc_prepare(cc, "cc", "cc2", dir, 0);
    daemon_proc_write_conf(cc, "cc_pass = %s\ndatabase = %s\nscv_check_interval = 1", d->c.cc_pass,
                           d->db_url);
    assert_int_equal(cluster_start(&d->c, cc), 0);
}

/* HAProxy runs the committed config; only its environment is the test's. */
static void start_balancer(struct deployment *d)
{
    char haproxy[PATH_MAX], pki[PATH_MAX + 8], pem[PATH_MAX + 16], cmd[6 * PATH_MAX], addr[64];
    if (find_program("haproxy", haproxy, sizeof haproxy) != 0)
        fail_msg("haproxy is not installed (scripts/deps.sh installs it)");
    snprintf(pki, sizeof pki, "%s/pki", d->c.root);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", pki);
    run_shell(cmd);
    assert_int_equal(harness_make_pki(pki), 0);
    snprintf(pem, sizeof pem, "%s/lb.pem", pki);
    snprintf(cmd, sizeof cmd, "cat '%s/cert.pem' '%s/chain.pem' '%s/key.pem' > '%s'", pki, pki, pki, pem);
    run_shell(cmd);

    int port = harness_free_port();
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    setenv("ST_LB_BIND", addr, 1);
    setenv("ST_LB_PEM", pem, 1);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", d->cc[0].port);
    setenv("ST_CC1", addr, 1);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", d->cc[1].port);
    setenv("ST_CC2", addr, 1);
    snprintf(d->lb_log, sizeof d->lb_log, "%s/haproxy.log", d->c.root);
    const char *argv[] = {haproxy, "-db", "-f", ST_SOURCE_DIR "/etc/haproxy.cfg", NULL};
    d->lb_pid = harness_spawn(argv, d->lb_log);
    snprintf(d->lb_url, sizeof d->lb_url, "https://127.0.0.1:%d", port);
    assert_int_equal(harness_wait_up(d->lb_url, 20), 0);

    /* From here on the cluster helpers (SCV registration, online checks,
     * engine keys) talk to the balancer, as a real deployment's do. */
    snprintf(d->c.cc.url, sizeof d->c.cc.url, "%s", d->lb_url);
    d->c.cc.pid = 0;
}

/* ---- liveness as each CC sees it -------------------------------------- */

/* 1 online, 0 offline, -1 unknown or no answer, from GET /scvs/status. */
static int scv_online_at(const char *cc_url, const char *name)
{
    char url[256];
    struct harness_response r;
    snprintf(url, sizeof url, "%s/scvs/status", cc_url);
    harness_http("GET", url, NULL, NULL, 0, NULL, &r);
    json_t *body = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    json_t *scv = json_object_get(body, name);
    int state = scv == NULL ? -1 : json_is_true(json_object_get(scv, "online"));
    json_decref(body);
    harness_response_free(&r);
    return state;
}

static int wait_scv_at(const char *cc_url, const char *name, int want, int timeout_s)
{
    for (int i = 0; i < timeout_s * 10; i++) {
        if (scv_online_at(cc_url, name) == want)
            return 0;
        sleep_ms(100);
    }
    return -1;
}

/* ---- the target and its streams ---------------------------------------- */

static void create_target(struct deployment *d)
{
    struct client_error err;
    struct client_options opts = {.scv_scheme = CLIENT_SCV_HTTP};
    d->api = client_new(d->lb_url, &opts, &err);
    assert_non_null(d->api);
    client_set_token(d->api, d->c.admin_token);
    json_t *spec = json_pack("{s:[s], s:s, s:{s:i}}", "engines", MD_ENGINE_NAME, "stage", "public", "options",
                             "steps_per_frame", 20);
    json_t *target = client_target_create(d->api, spec, &err);
    assert_non_null(target);
    snprintf(d->target_id, sizeof d->target_id, "%s",
             json_string_value(json_object_get(target, "target_id")));
    for (int s = 0; s < NSCV; s++)
        for (int i = 0; i < STREAMS_PER_SCV; i++) {
            json_t *files = seed_files(s * STREAMS_PER_SCV + i + 1);
            json_t *r = client_stream_add(d->api, d->c.scv[s].name, d->target_id, files, NULL, &err);
            if (r == NULL)
                fail_msg("adding a stream to %s: %s", d->c.scv[s].name, err.message);
            snprintf(d->streams[s][i], sizeof d->streams[s][i], "%s",
                     json_string_value(json_object_get(r, "stream_id")));
            json_decref(r);
            json_decref(files);
        }
    json_t *info = client_target_info(d->api, d->target_id, &err);
    assert_non_null(info);
    assert_int_equal(json_array_size(json_object_get(info, "shards")), NSCV);
    json_decref(info);
    json_decref(spec);
    json_decref(target);
}

static long stream_frames(struct deployment *d, const char *stream_id)
{
    struct client_error err;
    json_t *info = client_stream_info(d->api, stream_id, &err);
    if (info == NULL)
        fail_msg("info of %s: %s", stream_id, err.message);
    long frames = (long)json_integer_value(json_object_get(info, "frames"));
    json_decref(info);
    return frames;
}

static long scv_frames(struct deployment *d, int s)
{
    long total = 0;
    for (int i = 0; i < STREAMS_PER_SCV; i++)
        total += stream_frames(d, d->streams[s][i]);
    return total;
}

/* ---- cores -------------------------------------------------------------- */

/* Starts `siegetank core` in the background; its JSON summary goes to out. */
static pid_t start_cores(struct deployment *d, int cores, int seconds, const char *out)
{
    char cmd[4 * PATH_MAX];
    snprintf(cmd, sizeof cmd,
             "exec '%s' core --cc %s --key %s --cores %d --duration %d --frames-per-checkpoint %d "
             "--frame-interval 0.1 --retries 2 --json > '%s' 2>> '%s/core.log'",
             harness_bin(), d->lb_url, d->engine_key, cores, seconds, FRAMES_PER_CHECKPOINT, out, d->c.root);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/core.log", d->c.root);
    return harness_spawn(argv, log);
}

static json_t *finish_cores(pid_t pid, const char *out, int timeout_s)
{
    assert_int_equal(harness_wait_exit(pid, timeout_s), 0);
    json_t *summary = json_load_file(out, 0, NULL);
    assert_non_null(summary);
    return summary;
}

/* ---- end-of-run checks -------------------------------------------------- */

/* Every partition's frames.xtc, concatenated, is one valid trajectory with
 * exactly as many frames as the stream reports and its last partition says. */
static long check_trajectory(struct deployment *d, const char *stream_id)
{
    struct client_error err;
    long frames = stream_frames(d, stream_id);
    json_t *sync = client_stream_sync(d->api, stream_id, &err);
    assert_non_null(sync);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/trajectory.xtc", d->c.root);
    FILE *out = fopen(path, "w+");
    assert_non_null(out);
    size_t i;
    json_t *part;
    long last = 0;
    json_array_foreach(json_object_get(sync, "partitions"), i, part)
    {
        long n = (long)json_integer_value(part);
        assert_true(n > last);
        last = n;
        char remote[64];
        snprintf(remote, sizeof remote, "%ld/frames.xtc", n);
        if (client_stream_download(d->api, stream_id, remote, out, &err) != 0)
            fail_msg("download %s of %s: %s", remote, stream_id, err.message);
    }
    assert_int_equal(last, frames);
    long size = ftell(out);
    char *data = malloc((size_t)size + 1);
    assert_non_null(data);
    rewind(out);
    assert_int_equal(fread(data, 1, (size_t)size, out), (size_t)size);
    fclose(out);
    char why[256] = "";
    long parsed = xtc_check_trajectory(data, (size_t)size, why, sizeof why);
    if (parsed != frames)
        fail_msg("stream %s: %ld frames, its trajectory parses as %ld (%s)", stream_id, frames, parsed, why);
    free(data);
    json_decref(sync);
    return frames;
}

/* Rows in the SCV's durable stats outbox (shipped ones are deleted) plus its
 * open fragments (activations not yet closed). */
static long scv_unshipped(const struct daemon_proc *scv)
{
    char path[PATH_MAX + 256];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long n = -1;
    snprintf(path, sizeof path, "%s/%s_data/scv.db", scv->dir, scv->name);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto out;
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(
            db, "SELECT (SELECT count(*) FROM stats_outbox) + (SELECT count(*) FROM open_fragments)", -1, &st,
            NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static long credited_frames(struct deployment *d, const char *stream_id)
{
    char out[64] = "";
    assert_int_equal(pg_harness_query(d->pg, "siegetank",
                                      "SELECT coalesce(sum(frames), 0) FROM stats WHERE stream_id = $1",
                                      stream_id, out, sizeof out),
                     0);
    return atol(out);
}

static void wait_outboxes_drained(struct deployment *d)
{
    for (int s = 0; s < NSCV; s++) {
        int i = 0;
        while (scv_unshipped(&d->c.scv[s]) != 0 && i++ < 300)
            sleep_ms(100);
        assert_int_equal(scv_unshipped(&d->c.scv[s]), 0);
    }
}

/* ---- the scenario ------------------------------------------------------- */

static void setup_deployment(struct deployment *d)
{
    cluster_init(&d->c, 0);
    d->pg = pg_harness_start();
    assert_non_null(d->pg);
    create_database_from_docs(d);
    start_first_cc(d);
    start_second_cc(d);
    start_balancer(d);
    static const char *const names[NSCV] = {"s1", "s2", "s3"};
    for (int s = 0; s < NSCV; s++)
        assert_int_equal(cluster_add_scv(&d->c, names[s], NULL), s);
    /* Registered once through the balancer, known to both CCs. */
    for (int s = 0; s < NSCV; s++)
        for (int k = 0; k < 2; k++)
            assert_int_equal(wait_scv_at(d->cc[k].url, names[s], 1, 10), 0);
    assert_int_equal(cluster_engine_key(&d->c, MD_ENGINE_NAME, d->engine_key, sizeof d->engine_key), 0);
    create_target(d);
}

static void teardown_deployment(struct deployment *d)
{
    client_free(d->api);
    cluster_stop_all(&d->c);
    for (int k = 0; k < 2; k++)
        if (d->cc[k].pid > 0)
            cluster_stop(&d->cc[k], SIGTERM);
    if (d->lb_pid > 0)
        harness_stop(d->lb_pid, SIGTERM, 10);
    if (d->pg != NULL)
        pg_harness_free(d->pg);
}

/* Waits until every SCV has committed frames: the work is spread over all
 * three shards before anything is killed. */
static void wait_every_scv_working(struct deployment *d)
{
    for (int s = 0; s < NSCV; s++) {
        int i = 0;
        while (scv_frames(d, s) == 0 && i++ < 200)
            sleep_ms(100);
        if (scv_frames(d, s) == 0)
            fail_msg("SCV %s got no work", d->c.scv[s].name);
    }
}

static void test_failover_behind_balancer(void **state)
{
    struct deployment *d = *state;
    setup_deployment(d);
    struct daemon_proc *lost_scv = &d->c.scv[NSCV - 1];
    char summary_path[PATH_MAX + 32];
    snprintf(summary_path, sizeof summary_path, "%s/cores.json", d->c.root);

    pid_t cores = start_cores(d, CORES, RUN_SECONDS, summary_path);
    wait_every_scv_working(d);

    /* The crash: a CC, then an SCV. The SCV's cores lose their streams and
     * must get new ones, which only the surviving CC can hand out. */
    assert_int_equal(cluster_stop(&d->cc[0], SIGKILL), 128 + SIGKILL);
    assert_int_equal(cluster_stop(lost_scv, SIGKILL), 128 + SIGKILL);
    assert_int_equal(wait_scv_at(d->cc[1].url, lost_scv->name, 0, 30), 0);

    json_t *summary = finish_cores(cores, summary_path, RUN_SECONDS + 90);
    long assignments = (long)json_integer_value(json_object_get(summary, "assignments"));
    long committed = (long)json_integer_value(json_object_get(summary, "frames_committed"));
    if (assignments <= CORES || committed <= 0)
        fail_msg("after the crash: %ld assignments for %d cores, %ld frames committed (see %s/core.log)",
                 assignments, CORES, committed, d->c.root);
    json_decref(summary);

    /* The restarted CC judges liveness itself: once its checks have found
     * the live SCVs, the dead one is offline there too. */
    assert_int_equal(cluster_start(&d->c, &d->cc[0]), 0);
    for (int s = 0; s < NSCV - 1; s++)
        assert_int_equal(wait_scv_at(d->cc[0].url, d->c.scv[s].name, 1, 30), 0);
    assert_int_equal(wait_scv_at(d->cc[0].url, lost_scv->name, 0, 30), 0);

    /* The SCV comes back; with the other shards' streams stopped, new work
     * can only land on its streams. */
    assert_int_equal(cluster_start(&d->c, lost_scv), 0);
    long before = scv_frames(d, NSCV - 1);
    for (int k = 0; k < 2; k++)
        assert_int_equal(wait_scv_at(d->cc[k].url, lost_scv->name, 1, 30), 0);
    struct client_error err;
    for (int s = 0; s < NSCV - 1; s++)
        for (int i = 0; i < STREAMS_PER_SCV; i++)
            assert_int_equal(client_stream_stop(d->api, d->streams[s][i], &err), 0);
    summary = finish_cores(start_cores(d, 6, 6, summary_path), summary_path, 90);
    assert_true(json_integer_value(json_object_get(summary, "frames_committed")) > 0);
    json_decref(summary);
    assert_true(scv_frames(d, NSCV - 1) > before);

    /* No committed frame lost; every fragment in the database exactly once.
     * The killed SCV may have died between a commit and saving its credit,
     * which loses at most that one checkpoint's frames. */
    wait_outboxes_drained(d);
    long total = 0;
    for (int s = 0; s < NSCV; s++)
        for (int i = 0; i < STREAMS_PER_SCV; i++) {
            const char *id = d->streams[s][i];
            long frames = check_trajectory(d, id);
            long credited = credited_frames(d, id);
            total += frames;
            if (s < NSCV - 1 && credited != frames)
                fail_msg("stream %s: %ld frames committed, %ld credited", id, frames, credited);
            if (s == NSCV - 1 && (credited > frames || credited < frames - FRAMES_PER_CHECKPOINT))
                fail_msg("stream %s (killed SCV): %ld frames committed, %ld credited", id, frames, credited);
        }
    assert_true(total >= committed);
}

/* Behind a balancer on the CC host every request comes from loopback; the
 * forwarding header HAProxy adds must keep a remote client from taking the
 * first-admin bootstrap. A CC without any admin yet: */
static void test_forwarded_request_is_not_local(void **state)
{
    (void)state;
    struct daemon_proc cc;
    char url[256];
    daemon_proc_prepare(&cc, "cc", "cc", NULL, 0);
    daemon_proc_write_conf(&cc, "cc_pass = p");
    assert_int_equal(daemon_proc_start(&cc, 20), 0);
    snprintf(url, sizeof url, "%s/managers", cc.url);

    const char *body = "{\"email\":\"a@b.c\",\"password\":\"long enough pw\",\"role\":\"admin\"}";
    const char *forwarded[] = {"Content-Type: application/json", "X-Forwarded-For: 203.0.113.9", NULL};
    const char *rfc7239[] = {"Content-Type: application/json", "Forwarded: for=203.0.113.9", NULL};
    const char *local[] = {"Content-Type: application/json", NULL};
    struct harness_response r;
    harness_http("POST", url, forwarded, body, strlen(body), NULL, &r);
    assert_int_equal(r.status, 401);
    harness_response_free(&r);
    harness_http("POST", url, rfc7239, body, strlen(body), NULL, &r);
    assert_int_equal(r.status, 401);
    harness_response_free(&r);
    harness_http("POST", url, local, body, strlen(body), NULL, &r);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
    assert_int_equal(daemon_proc_stop(&cc, SIGTERM, 20), 0);
}

static int setup(void **state)
{
    struct deployment *d = calloc(1, sizeof *d);
    if (d == NULL)
        return -1;
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    struct deployment *d = *state;
    teardown_deployment(d);
    free(d);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forwarded_request_is_not_local),
        cmocka_unit_test_setup_teardown(test_failover_behind_balancer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
