/* End to end the way a new user meets the system: `siegetank up` with its
 * demo, whose streams must be OpenMM's and gain frames; then
 * `siegetank up --no-demo`, then only the CLI and reference cores. A core
 * is killed mid-stream, its stream must come back after the heartbeat
 * expires and resume exactly at
 * the last checkpoint; `sync --all` must bring back byte for byte what the
 * SCV holds, as one valid XTC trajectory per stream; Ctrl-C must stop
 * everything, and a second `up` must find the same data again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_runner.h"
#include "client/client.h"
#include "core/core_runner.h"
#include "core/xtc.h"
#include "harness.h"
#include "util/fs.h"
#include "util/wire_file.h"

#define NSTREAMS 5
#define STEPS_PER_FRAME 10
#define HEARTBEAT_INCREMENT "3"
#define FILE_MAX (64u << 20)
#define DEMO_STREAMS "2"
#define DEMO_SECONDS "8"

struct up_env {
    char root[PATH_MAX];
    char dir[PATH_MAX + 8]; /* up's data folder */
    char cc_host[64];       /* 127.0.0.1:port, as a user types it */
    char cc_port[8], scv_port[8];
    char scv_url[64];
    char admin_token[256];
    char engine_key[256];
    char target[64];
    char streams[NSTREAMS][128];
    pid_t up_pid;
    int starts; /* how many times up was started: each prints one ready line */
    int demo;   /* start up with its short demo, and its default heartbeat increment */
};

static const struct cli_call as_user = {NULL, NULL, NULL}; /* saved login only */

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *read_all(const char *path, size_t *len)
{
    char *data = fs_read_file(path, FILE_MAX, len);
    if (!data)
        fail_msg("cannot read %s", path);
    return data;
}

/* ---- up --------------------------------------------------------------- */

static pid_t start_up(struct up_env *e)
{
    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/up.log", e->root);
    const char *argv[] = {NULL,
                          "up",
                          "--dir",
                          e->dir,
                          "--cc-port",
                          e->cc_port,
                          "--scv-port",
                          e->scv_port,
                          "--no-demo",
                          "--heartbeat-increment",
                          HEARTBEAT_INCREMENT,
                          NULL};
    const char *demo_argv[] = {NULL,       "up",         "--dir",          e->dir,       "--cc-port",
                               e->cc_port, "--scv-port", e->scv_port,      "--streams",  DEMO_STREAMS,
                               "--cores",  DEMO_STREAMS, "--demo-seconds", DEMO_SECONDS, NULL};
    e->starts++;
    return harness_spawn(e->demo ? demo_argv : argv, log);
}

/* up prints this once everything is up: the CC may call a known SCV
 * online before it has even started, so only this line is a ready signal. */
static int ready_lines(const struct up_env *e)
{
    char log[PATH_MAX + 16];
    size_t len;
    int n = 0;
    snprintf(log, sizeof log, "%s/up.log", e->root);
    char *text = fs_read_file(log, 1 << 20, &len);
    for (const char *p = text; p != NULL && (p = strstr(p, "press Ctrl-C to stop")) != NULL; p++)
        n++;
    free(text);
    return n;
}

static int scv_online(struct client *cc)
{
    struct client_error err;
    json_t *status = client_scvs_status(cc, &err);
    int online = json_is_true(json_object_get(json_object_get(status, "local"), "online"));
    json_decref(status);
    return online;
}

/* Waits until up has written the engine key and the CC lists the SCV online;
 * then the deployment is what a user sees after up's "saved in" line. */
static void wait_until_ready(struct up_env *e)
{
    char creds_path[PATH_MAX + 32], url[80];
    struct client_error err;
    snprintf(creds_path, sizeof creds_path, "%s/credentials.json", e->dir);
    snprintf(url, sizeof url, "https://%s", e->cc_host);
    for (int i = 0; i < 1200; i++) {
        int status;
        assert_int_equal(waitpid(e->up_pid, &status, WNOHANG), 0); /* up must still run */
        json_t *creds = json_load_file(creds_path, 0, NULL);
        const char *key = json_string_value(json_object_get(creds, "engine_key"));
        const char *token = json_string_value(json_object_get(creds, "admin_token"));
        if (key && token) {
            snprintf(e->engine_key, sizeof e->engine_key, "%s", key);
            snprintf(e->admin_token, sizeof e->admin_token, "%s", token);
        }
        json_decref(creds);
        if (key && token && ready_lines(e) >= e->starts) {
            struct client *cc = client_new(url, NULL, &err);
            assert_non_null(cc);
            int online = scv_online(cc);
            client_free(cc);
            if (online)
                return;
        }
        nap_ms(100);
    }
    fail_msg("siegetank up did not get ready; see %s/up.log", e->root);
}

/* A process still running in up's folder (the daemons chdir there), or 0. */
static pid_t process_in(const char *dir)
{
    char want[PATH_MAX], link[300], cwd[PATH_MAX];
    pid_t found = 0;
    assert_non_null(realpath(dir, want));
    DIR *proc = opendir("/proc");
    assert_non_null(proc);
    struct dirent *d;
    while (found == 0 && (d = readdir(proc)) != NULL) {
        if (d->d_name[0] < '0' || d->d_name[0] > '9')
            continue;
        snprintf(link, sizeof link, "/proc/%s/cwd", d->d_name);
        ssize_t n = readlink(link, cwd, sizeof cwd - 1);
        if (n <= 0)
            continue;
        cwd[n] = '\0';
        if (strcmp(cwd, want) == 0)
            found = (pid_t)atol(d->d_name);
    }
    closedir(proc);
    return found;
}

/* Waits up to timeout_s for the daemons to be gone, then fails. */
static void assert_no_process_in(const char *dir, int timeout_s)
{
    pid_t pid = process_in(dir);
    for (int i = 0; pid != 0 && i < timeout_s * 10; i++) {
        nap_ms(100);
        pid = process_in(dir);
    }
    if (pid != 0)
        fail_msg("process %d still runs in %s after up stopped", (int)pid, dir);
}

/* Nobody answers on up's ports any more. */
static void assert_ports_free(const struct up_env *e)
{
    char url[80];
    struct harness_response r;
    snprintf(url, sizeof url, "https://%s/", e->cc_host);
    assert_int_equal(harness_http("GET", url, NULL, NULL, 0, NULL, &r), -1);
    harness_response_free(&r);
    assert_int_equal(harness_http("GET", e->scv_url, NULL, NULL, 0, NULL, &r), -1);
    harness_response_free(&r);
}

/* sig: SIGINT (Ctrl-C) or SIGHUP (terminal closed): up stops its daemons
 * and exits 0. SIGKILL: the daemons must die with up all the same. */
static void stop_up_with(struct up_env *e, int sig)
{
    int rc = harness_stop(e->up_pid, sig, 60);
    e->up_pid = 0;
    assert_int_equal(rc, sig == SIGKILL ? 128 + SIGKILL : 0);
    assert_no_process_in(e->dir, 30);
    assert_ports_free(e);
}

static void stop_up(struct up_env *e)
{
    stop_up_with(e, SIGINT);
}

/* ---- the manager's side, through the CLI ------------------------------- */

/* Runs a command that must succeed; r is the caller's to free. */
static void run_ok(const char *const argv[], struct cli_result *r)
{
    int status = cli_run(&as_user, argv, r);
    if (status != 0)
        fail_msg("siegetank %s %s exited %d: %s%s", argv[0], argv[1] ? argv[1] : "", status, r->out, r->err);
}

static void cli_ok(const char *const argv[], char *first_line, size_t n)
{
    struct cli_result r;
    run_ok(argv, &r);
    if (first_line)
        assert_int_equal(cli_first_line(&r, first_line, n), 0);
    cli_result_free(&r);
}

static void login_and_fill_target(struct up_env *e)
{
    char path[PATH_MAX + 64];
    struct stat sb;
    const char *login[] = {"login", "--cc", e->cc_host, "--token", e->admin_token, NULL};
    cli_ok(login, NULL, 0);
    snprintf(path, sizeof path, "%s/config/siegetank/credentials", e->root);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    const char *add[] = {"target",  "add",     "--engine", "toy", "--option", "steps_per_frame=10",
                         "--stage", "private", NULL};
    cli_ok(add, e->target, sizeof e->target);
    for (int i = 0; i < NSTREAMS; i++) {
        char seed[16], out[PATH_MAX + 16], system[PATH_MAX + 32], state[PATH_MAX + 32];
        snprintf(seed, sizeof seed, "%d", i + 1);
        snprintf(out, sizeof out, "%s/seed%d", e->root, i);
        snprintf(system, sizeof system, "%s/system.json", out);
        snprintf(state, sizeof state, "%s/state.json", out);
        const char *make[] = {"core", "seed", "--seed", seed, "--out", out, NULL};
        cli_ok(make, NULL, 0);
        const char *stream[] = {"stream", "add",  "--target", e->target, "--scv",
                                "local",  system, state,      NULL};
        cli_ok(stream, e->streams[i], sizeof e->streams[i]);
    }
    struct cli_result r;
    const char *list[] = {"stream", "list", e->target, NULL};
    run_ok(list, &r);
    for (int i = 0; i < NSTREAMS; i++)
        assert_non_null(strstr(r.out, e->streams[i]));
    cli_result_free(&r);
}

/* ---- stream state ------------------------------------------------------ */

static json_t *stream_info(const struct up_env *e, int i)
{
    struct cli_result r;
    const char *argv[] = {"stream", "info", e->streams[i], "--json", NULL};
    run_ok(argv, &r);
    json_t *info = json_loads(r.out, 0, NULL);
    assert_non_null(info);
    cli_result_free(&r);
    return info;
}

static long stream_frames(const struct up_env *e, int i)
{
    json_t *info = stream_info(e, i);
    long frames = (long)json_integer_value(json_object_get(info, "frames"));
    json_decref(info);
    return frames;
}

/* Index of the one active stream with at least min_frames committed, or -1. */
static int find_busy_stream(const struct up_env *e, long min_frames)
{
    for (int i = 0; i < NSTREAMS; i++) {
        json_t *info = stream_info(e, i);
        int busy = json_is_true(json_object_get(info, "active")) &&
                   json_integer_value(json_object_get(info, "frames")) >= min_frames;
        json_decref(info);
        if (busy)
            return i;
    }
    return -1;
}

/* A core that is SIGKILLed after it has committed two checkpoints and sent
 * some frames past them. Returns the stream it held. */
static int kill_core_mid_stream(struct up_env *e)
{
    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/victim.log", e->root);
    const char *argv[] = {NULL,
                          "core",
                          "--cc",
                          e->cc_host,
                          "--key",
                          e->engine_key,
                          "--target",
                          e->target,
                          "--cores",
                          "1",
                          "--frames-per-checkpoint",
                          "5",
                          "--frame-interval",
                          "0.1",
                          "--heartbeat",
                          "1",
                          NULL};
    pid_t core = harness_spawn(argv, log);
    assert_true(core > 0);
    int victim = -1;
    for (int i = 0; i < 600 && victim < 0; i++) {
        nap_ms(100);
        victim = find_busy_stream(e, 10);
    }
    assert_true(victim >= 0);
    nap_ms(200); /* a frame or two into the next checkpoint interval */
    assert_int_equal(harness_stop(core, SIGKILL, 10), 128 + SIGKILL);
    return victim;
}

/* After heartbeat_increment the SCV must take the stream back: inactive,
 * still OK, and the frames the dead core had not checkpointed discarded. */
static void wait_until_released(const struct up_env *e, int victim, long committed)
{
    for (int i = 0; i < 600; i++) {
        json_t *info = stream_info(e, victim);
        int released = !json_is_true(json_object_get(info, "active"));
        assert_string_equal(json_string_value(json_object_get(info, "status")), "OK");
        assert_int_equal(json_integer_value(json_object_get(info, "frames")), committed);
        json_decref(info);
        if (released)
            return;
        nap_ms(100);
    }
    fail_msg("the killed core's stream was never released");
}

static json_t *run_cores(const struct up_env *e)
{
    struct cli_result r;
    const char *argv[] = {"core",        "--cc",
                          e->cc_host,    "--key",
                          e->engine_key, "--target",
                          e->target,     "--cores",
                          "10",          "--duration",
                          "12",          "--frames-per-checkpoint",
                          "5",           "--frame-interval",
                          "0.05",        "--heartbeat",
                          "1",           "--quiet",
                          "--json",      NULL};
    int status = cli_run(&as_user, argv, &r);
    if (status != 0)
        fail_msg("siegetank core exited %d: %s", status, r.err);
    json_t *summary = json_loads(r.out, 0, NULL);
    assert_non_null(summary);
    cli_result_free(&r);
    return summary;
}

/* ---- what sync brought back -------------------------------------------- */

static int is_partition(const char *name)
{
    return name[0] >= '1' && name[0] <= '9' && strspn(name, "0123456789") == strlen(name);
}

/* Every regular file under a (relative path rel) must equal the same file
 * under b. Returns how many files were compared. */
static int assert_tree_in(const char *a, const char *b, const char *rel)
{
    char pa[PATH_MAX * 2], pb[PATH_MAX * 2], sub[PATH_MAX];
    snprintf(pa, sizeof pa, "%s/%s", a, rel);
    DIR *dir = opendir(pa);
    if (!dir)
        fail_msg("cannot list %s", pa);
    struct dirent *d;
    int files = 0;
    while ((d = readdir(dir)) != NULL) {
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", rel, d->d_name);
        snprintf(pa, sizeof pa, "%s/%s", a, sub);
        snprintf(pb, sizeof pb, "%s/%s", b, sub);
        if (fs_is_dir(pa)) {
            files += assert_tree_in(a, b, sub);
            continue;
        }
        size_t la, lb;
        char *da = read_all(pa, &la), *db = read_all(pb, &lb);
        if (la != lb || memcmp(da, db, la) != 0)
            fail_msg("%s differs from %s", pa, pb);
        free(da);
        free(db);
        files++;
    }
    closedir(dir);
    return files;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* The partition folders of a stream folder, ascending. */
static size_t list_partitions(const char *dir, long *out, size_t max)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *ent;
    size_t n = 0;
    while ((ent = readdir(d)) != NULL)
        if (is_partition(ent->d_name)) {
            assert_true(n < max);
            out[n++] = atol(ent->d_name);
        }
    closedir(d);
    qsort(out, n, sizeof *out, cmp_long);
    return n;
}

/* The toy engine's step in a checkpoint file (base64 of gzip of JSON). */
static long checkpoint_step(const char *path)
{
    size_t len, json_len;
    unsigned char *raw;
    char *text = read_all(path, &len);
    assert_int_equal(
        wire_file_decode(path, text, len, WIRE_FILE_B64 | WIRE_FILE_GZ, 1 << 20, &raw, &json_len, NULL),
        STATUS_OK);
    json_t *state = json_loadb((const char *)raw, json_len, 0, NULL);
    assert_non_null(state);
    long step = (long)json_integer_value(json_object_get(state, "step"));
    json_decref(state);
    free(raw);
    free(text);
    return step;
}

/* Checks one synced stream against the SCV's folder and the stream's info;
 * returns its frame count. resume_at > 0: the partition a killed core left,
 * which the next core must continue from. */
static long check_synced_stream(const struct up_env *e, int i, const char *synced_root, long resume_at)
{
    char synced[PATH_MAX * 2], held[PATH_MAX * 2], path[PATH_MAX * 3], why[256];
    long frames = stream_frames(e, i);
    long parts[4096], held_parts[4096];
    snprintf(synced, sizeof synced, "%s/%s", synced_root, e->streams[i]);
    snprintf(held, sizeof held, "%s/local_data/streams/%s", e->dir, e->streams[i]);

    size_t n = list_partitions(synced, parts, 4096);
    assert_int_equal(list_partitions(held, held_parts, 4096), n);
    assert_memory_equal(parts, held_parts, n * sizeof *parts);
    assert_true(n > 0);
    assert_int_equal(parts[n - 1], frames); /* partitions end at the committed count */

    /* Byte for byte both ways: nothing missing, nothing extra, nothing changed. */
    int seeds = assert_tree_in(synced, held, "files");
    assert_int_equal(seeds, 2);
    int synced_files = seeds, held_files = assert_tree_in(held, synced, "files");
    for (size_t p = 0; p < n; p++) {
        char rel[32];
        snprintf(rel, sizeof rel, "%ld", parts[p]);
        synced_files += assert_tree_in(synced, held, rel);
        held_files += assert_tree_in(held, synced, rel);
    }
    assert_int_equal(synced_files, held_files);

    /* The partitions concatenated: one trajectory, every step in order. */
    size_t total = 0;
    char *trajectory = NULL;
    for (size_t p = 0; p < n; p++) {
        size_t len;
        snprintf(path, sizeof path, "%s/%ld/frames.xtc", synced, parts[p]);
        char *data = read_all(path, &len);
        long in_part = xtc_check_trajectory(data, len, why, sizeof why);
        if (in_part != parts[p] - (p ? parts[p - 1] : 0))
            fail_msg("%s: %ld frames for partition %ld (%s)", path, in_part, parts[p], why);
        trajectory = realloc(trajectory, total + len);
        memcpy(trajectory + total, data, len);
        total += len;
        free(data);
    }
    long count = xtc_check_trajectory(trajectory, total, why, sizeof why);
    if (count != frames)
        fail_msg("stream %s: trajectory check gave %ld of %ld frames: %s", e->streams[i], count, frames, why);
    xtc_reader reader;
    xtc_frame f;
    xtc_reader_init(&reader, trajectory, total);
    for (long k = 1; xtc_reader_next(&reader, &f, why, sizeof why) == 1; k++)
        if (f.step != k * STEPS_PER_FRAME)
            fail_msg("stream %s frame %ld has step %d, not %ld", e->streams[i], k, f.step,
                     k * STEPS_PER_FRAME);
    xtc_reader_free(&reader);
    free(trajectory);

    if (resume_at > 0) {
        /* The killed core's last checkpoint is a partition, and another core
         * committed past it starting from exactly that state. */
        assert_non_null(bsearch(&resume_at, parts, n, sizeof *parts, cmp_long));
        assert_true(frames > resume_at);
        snprintf(path, sizeof path, "%s/%ld/checkpoint_files/state.json.gz.b64", synced, resume_at);
        assert_int_equal(checkpoint_step(path), resume_at * STEPS_PER_FRAME);
    }
    return frames;
}

static void sync_and_check(const struct up_env *e, int victim, long victim_frames, long committed_later)
{
    char synced[PATH_MAX + 16];
    snprintf(synced, sizeof synced, "%s/synced", e->root);
    struct cli_result r;
    const char *argv[] = {"sync", "--all", e->target, synced, NULL};
    run_ok(argv, &r);
    for (int i = 0; i < NSTREAMS; i++)
        assert_non_null(strstr(r.out, e->streams[i]));
    assert_null(strstr(r.out, "incomplete"));
    cli_result_free(&r);

    /* A second sync has nothing left to fetch. */
    run_ok(argv, &r);
    int unchanged = 0;
    for (const char *p = r.out; (p = strstr(p, ": 0 file(s) fetched")) != NULL; p++)
        unchanged++;
    assert_int_equal(unchanged, NSTREAMS);
    cli_result_free(&r);

    long total = 0;
    for (int i = 0; i < NSTREAMS; i++)
        total += check_synced_stream(e, i, synced, i == victim ? victim_frames : 0);
    assert_int_equal(total, victim_frames + committed_later);
}

/* ---- the second run ----------------------------------------------------- */

static void check_data_reused(struct up_env *e, const long *frames)
{
    struct cli_result r;
    const char *targets[] = {"target", "list", "--json", NULL};
    run_ok(targets, &r); /* the saved admin token still works */
    assert_non_null(strstr(r.out, e->target));
    cli_result_free(&r);
    const char *list[] = {"stream", "list", e->target, NULL};
    run_ok(list, &r);
    for (int i = 0; i < NSTREAMS; i++) {
        assert_non_null(strstr(r.out, e->streams[i]));
        assert_int_equal(stream_frames(e, i), frames[i]);
    }
    cli_result_free(&r);
}

static void up_env_init(struct up_env *e)
{
    char config[PATH_MAX + 16];
    memset(e, 0, sizeof *e);
    harness_tmpdir(e->root);
    snprintf(e->dir, sizeof e->dir, "%s/up", e->root);
    snprintf(config, sizeof config, "%s/config", e->root);
    setenv("XDG_CONFIG_HOME", config, 1); /* the CLI's saved login lives here */
    int p1 = harness_free_port(), p2 = harness_free_port();
    while (p2 == p1)
        p2 = harness_free_port();
    snprintf(e->cc_port, sizeof e->cc_port, "%d", p1);
    snprintf(e->scv_port, sizeof e->scv_port, "%d", p2);
    snprintf(e->cc_host, sizeof e->cc_host, "127.0.0.1:%d", p1);
    snprintf(e->scv_url, sizeof e->scv_url, "https://127.0.0.1:%d/", p2);
}

static void test_up_cli_cores_sync_restart(void **state)
{
    (void)state;
    struct up_env e;
    char conf[PATH_MAX + 32];
    up_env_init(&e);

    e.up_pid = start_up(&e);
    assert_true(e.up_pid > 0);
    wait_until_ready(&e);
    snprintf(conf, sizeof conf, "%s/scv.conf", e.dir);
    size_t len;
    char *text = read_all(conf, &len);
    assert_non_null(strstr(text, "heartbeat_increment = " HEARTBEAT_INCREMENT "\n"));
    free(text);

    login_and_fill_target(&e);
    int victim = kill_core_mid_stream(&e);
    long victim_frames = stream_frames(&e, victim);
    assert_true(victim_frames >= 10);
    assert_int_equal(victim_frames % 5, 0); /* only whole checkpoints count */
    wait_until_released(&e, victim, victim_frames);

    json_t *summary = run_cores(&e);
    assert_true(json_integer_value(json_object_get(summary, "assignments")) >= NSTREAMS);
    assert_int_equal(json_integer_value(json_object_get(summary, "errors")), 0);
    long later = (long)json_integer_value(json_object_get(summary, "frames_committed"));
    assert_true(later > 0);
    json_decref(summary);
    long frames[NSTREAMS];
    for (int i = 0; i < NSTREAMS; i++) {
        frames[i] = stream_frames(&e, i);
        assert_true(frames[i] > (i == victim ? victim_frames : 0)); /* every stream was worked on */
    }
    sync_and_check(&e, victim, victim_frames, later);

    stop_up(&e);
    e.up_pid = start_up(&e);
    assert_true(e.up_pid > 0);
    wait_until_ready(&e);
    check_data_reused(&e, frames);
    stop_up(&e);
    fs_rm_rf(e.root);
}

/* What a client does the moment credentials.json appears: read it and ask
 * the CC for its SCVs (the 2014 client's login() caches that list). */
static void check_credentials_mean_ready(struct up_env *e)
{
    char creds_path[PATH_MAX + 32], url[80];
    struct client_error err;
    snprintf(creds_path, sizeof creds_path, "%s/credentials.json", e->dir);
    json_t *creds = NULL;
    for (int i = 0; i < 12000 && creds == NULL; i++) {
        int status;
        assert_int_equal(waitpid(e->up_pid, &status, WNOHANG), 0);
        creds = json_load_file(creds_path, 0, NULL);
        if (creds == NULL)
            nap_ms(5);
    }
    assert_non_null(creds);
    snprintf(url, sizeof url, "https://%s", e->cc_host);
    struct client *cc = client_new(url, NULL, &err);
    assert_non_null(cc);
    client_set_token(cc, json_string_value(json_object_get(creds, "admin_token")));
    if (!scv_online(cc))
        fail_msg("credentials.json was there before the SCV was online at the CC");
    assert_non_null(json_object_get(creds, "engine_key"));
    client_free(cc);
    json_decref(creds);
}

static void test_up_credentials_only_when_ready(void **state)
{
    (void)state;
    struct up_env e;
    up_env_init(&e);
    e.up_pid = start_up(&e);
    assert_true(e.up_pid > 0);
    check_credentials_mean_ready(&e);
    wait_until_ready(&e); /* and the ready line followed */
    stop_up(&e);
    fs_rm_rf(e.root);
}

/* ---- the demo ------------------------------------------------------------ */

/* A whole number after "key = " in a config file's text; -1 if absent. */
static long config_number(const char *text, const char *key)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\n%s = ", key);
    const char *p = strstr(text, pattern);
    return p != NULL ? strtol(p + strlen(pattern), NULL, 10) : -1;
}

/* Plain `siegetank up` runs OpenMM: its demo target's engines are
 * ["openmm"] and every demo stream has committed frames when the ready line
 * appears (the demo runs before it). Its default heartbeat increment leaves
 * a core with the default heartbeat time for more than one beat. */
static void test_up_demo_runs_openmm(void **state)
{
    (void)state;
    struct up_env e;
    char path[PATH_MAX + 32], url[80];
    struct client_error err;
    size_t len;
    up_env_init(&e);
    e.demo = 1;
    e.up_pid = start_up(&e);
    assert_true(e.up_pid > 0);
    wait_until_ready(&e);

    snprintf(path, sizeof path, "%s/scv.conf", e.dir);
    char *text = read_all(path, &len);
    assert_true(config_number(text, "heartbeat_increment") >= 2 * CORE_RUNNER_DEFAULT_HEARTBEAT_S);
    free(text);

    snprintf(path, sizeof path, "%s/credentials.json", e.dir);
    json_t *creds = json_load_file(path, 0, NULL);
    assert_non_null(creds);
    const char *target = json_string_value(json_object_get(creds, "openmm_demo_target"));
    json_t *streams = json_object_get(creds, "openmm_demo_streams");
    assert_non_null(target);
    assert_int_equal(json_array_size(streams), atoi(DEMO_STREAMS));
    snprintf(url, sizeof url, "https://%s", e.cc_host);
    struct client *cc = client_new(url, NULL, &err);
    assert_non_null(cc);
    client_set_token(cc, e.admin_token);
    json_t *info = client_target_info(cc, target, &err);
    assert_non_null(info);
    json_t *engines = json_object_get(info, "engines");
    assert_int_equal(json_array_size(engines), 1);
    assert_string_equal(json_string_value(json_array_get(engines, 0)), "openmm");
    json_decref(info);
    size_t i;
    json_t *id;
    json_array_foreach(streams, i, id)
    {
        json_t *stream = client_stream_info(cc, json_string_value(id), &err);
        assert_non_null(stream);
        if (json_integer_value(json_object_get(stream, "frames")) <= 0)
            fail_msg("demo stream %s has no frames; see %s/cores.log", json_string_value(id), e.dir);
        json_decref(stream);
    }
    client_free(cc);
    json_decref(creds);
    stop_up(&e);
    fs_rm_rf(e.root);
}

/* Starts up, waits until it is ready and stops it with sig (see stop_up_with). */
static void up_stopped_by(int sig)
{
    struct up_env e;
    up_env_init(&e);
    e.up_pid = start_up(&e);
    assert_true(e.up_pid > 0);
    wait_until_ready(&e);
    stop_up_with(&e, sig);
    fs_rm_rf(e.root);
}

/* A closed terminal or a dropped SSH session sends SIGHUP: up must stop its
 * daemons as on Ctrl-C, so the next up finds its ports free. */
static void test_up_sighup_stops_daemons(void **state)
{
    (void)state;
    up_stopped_by(SIGHUP);
}

/* up killed outright can stop nothing itself: its daemons must die with it. */
static void test_up_sigkill_takes_daemons(void **state)
{
    (void)state;
    up_stopped_by(SIGKILL);
}

/* A port another server holds (an earlier up, say) must stop up before it
 * starts anything: its daemons listen with SO_REUSEPORT and would share the
 * port with the old one, which would then answer the readiness check. */
static void test_up_refuses_taken_port(void **state)
{
    (void)state;
    struct up_env e;
    char log[PATH_MAX + 16];
    up_env_init(&e);
    int one = 1, holder = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(e.scv_port))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(setsockopt(holder, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
    assert_int_equal(bind(holder, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(holder, 8), 0);
    e.up_pid = start_up(&e);
    assert_true(e.up_pid > 0);
    assert_int_equal(harness_wait_exit(e.up_pid, 60), 1);
    snprintf(log, sizeof log, "%s/up.log", e.root);
    size_t len;
    char *text = read_all(log, &len);
    assert_non_null(strstr(text, "port"));
    assert_non_null(strstr(text, e.scv_port));
    assert_non_null(strstr(text, "is not free"));
    assert_null(strstr(text, "running at"));
    free(text);
    assert_no_process_in(e.dir, 10);
    close(holder);
    fs_rm_rf(e.root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_up_credentials_only_when_ready), cmocka_unit_test(test_up_sighup_stops_daemons),
        cmocka_unit_test(test_up_sigkill_takes_daemons),       cmocka_unit_test(test_up_demo_runs_openmm),
        cmocka_unit_test(test_up_cli_cores_sync_restart),      cmocka_unit_test(test_up_refuses_taken_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
