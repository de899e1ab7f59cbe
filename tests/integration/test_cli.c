/* The manager CLI against a real CC and SCV, on the unhappy paths: wrong or
 * missing credentials, unknown ids, another manager's target and streams,
 * malformed arguments. Each refusal must exit with the documented code (1
 * refused by the server, 2 usage), say why on stderr, print nothing on
 * stdout and change nothing on the servers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_runner.h"
#include "cluster.h"
#include "harness.h"
#include "util/fs.h"

#define UNKNOWN_UUID "5b9c2c0e-1111-4111-8111-111111111111"

struct world {
    struct cluster c;
    char config[PATH_MAX + 16]; /* XDG_CONFIG_HOME: the CLI's saved login */
    char seed[PATH_MAX + 16];   /* system.json and state.json of a toy stream */
    char system[PATH_MAX + 32], state[PATH_MAX + 32];
    char alice[256], bob[256]; /* two managers' tokens */
    char target[64];           /* alice's */
    char stream[128];          /* alice's */
    struct cli_call admin, as_alice, as_bob, anonymous;
};

static struct world w;

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Runs the command, checks the exit status and that stderr says needle;
 * a failure must also leave stdout empty. */
static void expect(const struct cli_call *who, const char *const argv[], int status, const char *needle)
{
    struct cli_result r;
    int got = cli_run(who, argv, &r);
    if (got != status || (needle && !strstr(r.err, needle)) || (status != 0 && r.out[0] != '\0'))
        fail_msg("siegetank %s %s: exit %d (want %d), stderr '%s' (want '%s'), stdout '%s'", argv[0],
                 argv[1] ? argv[1] : "", got, status, r.err, needle ? needle : "", r.out);
    cli_result_free(&r);
}

/* Runs a command that must succeed; its first stdout line into line. */
static void ok_line(const struct cli_call *who, const char *const argv[], char *line, size_t n)
{
    struct cli_result r;
    if (cli_run(who, argv, &r) != 0)
        fail_msg("siegetank %s %s failed: %s", argv[0], argv[1] ? argv[1] : "", r.err);
    if (line)
        assert_int_equal(cli_first_line(&r, line, n), 0);
    cli_result_free(&r);
}

static json_t *ok_json(const struct cli_call *who, const char *const argv[])
{
    struct cli_result r;
    if (cli_run(who, argv, &r) != 0)
        fail_msg("siegetank %s %s failed: %s", argv[0], argv[1] ? argv[1] : "", r.err);
    json_t *j = json_loads(r.out, 0, NULL);
    assert_non_null(j);
    cli_result_free(&r);
    return j;
}

static void add_manager(const char *email, const char *password, char *token, size_t n)
{
    struct cli_call who = w.admin;
    who.input = password;
    ok_line(&who, ARGS("manager", "add", "--email", email, "--role", "manager"), token, n);
}

static int setup(void **state)
{
    (void)state;
    memset(&w, 0, sizeof w);
    cluster_init(&w.c, 0);
    if (cluster_start_cc(&w.c, NULL) != 0 || cluster_add_scv(&w.c, "s1", NULL) < 0)
        return -1;
    snprintf(w.config, sizeof w.config, "%s/config", w.c.root);
    setenv("XDG_CONFIG_HOME", w.config, 1);
    w.admin = (struct cli_call){w.c.cc.url, w.c.admin_token, NULL};
    w.anonymous = (struct cli_call){w.c.cc.url, NULL, NULL};
    add_manager("alice@test", "alice password\n", w.alice, sizeof w.alice);
    add_manager("bob@test", "bob password\n", w.bob, sizeof w.bob);
    w.as_alice = (struct cli_call){w.c.cc.url, w.alice, NULL};
    w.as_bob = (struct cli_call){w.c.cc.url, w.bob, NULL};

    snprintf(w.seed, sizeof w.seed, "%s/seed", w.c.root);
    snprintf(w.system, sizeof w.system, "%s/system.json", w.seed);
    snprintf(w.state, sizeof w.state, "%s/state.json", w.seed);
    ok_line(&w.anonymous, ARGS("core", "seed", "--seed", "7", "--out", w.seed), NULL, 0);
    ok_line(&w.as_alice, ARGS("target", "add", "--engine", "toy", "--option", "steps_per_frame=10"), w.target,
            sizeof w.target);
    ok_line(&w.as_alice, ARGS("stream", "add", "--target", w.target, "--scv", "s1", w.system, w.state),
            w.stream, sizeof w.stream);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cluster_stop_all(&w.c);
    fs_rm_rf(w.c.root);
    return 0;
}

/* Alice's target and stream exactly as setup left them. */
static void assert_untouched(void)
{
    json_t *info = ok_json(&w.as_alice, ARGS("target", "info", w.target, "--json"));
    assert_string_equal(json_string_value(json_object_get(info, "stage")), "private");
    assert_string_equal(json_string_value(json_object_get(info, "owner")), "alice@test");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(info, "options"), "steps_per_frame")),
                     10);
    json_decref(info);
    info = ok_json(&w.as_alice, ARGS("stream", "info", w.stream, "--json"));
    assert_string_equal(json_string_value(json_object_get(info, "status")), "OK");
    json_decref(info);
    json_t *list = ok_json(&w.as_alice, ARGS("stream", "list", w.target, "--json"));
    assert_int_equal(json_array_size(json_object_get(list, "streams")), 1);
    json_decref(list);
}

static void test_wrong_or_missing_token(void **state)
{
    (void)state;
    const struct cli_call forged = {w.c.cc.url, "00112233445566778899aabbccddeeff", NULL};
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/forged_sync", w.c.root);
    expect(&forged, ARGS("target", "add", "--engine", "toy"), 1, "invalid or expired user token (HTTP 401)");
    expect(&forged, ARGS("target", "list"), 1, "(HTTP 401)");
    expect(&forged, ARGS("target", "update", w.target, "--stage", "public"), 1, "(HTTP 401)");
    expect(&forged, ARGS("stream", "stop", w.stream), 1, "(HTTP 401)");
    expect(&forged, ARGS("stream", "add", "--target", w.target, "--scv", "s1", w.system), 1, "(HTTP 401)");
    expect(&forged, ARGS("keys", "list"), 1, "(HTTP 401)");
    struct cli_result r;
    assert_int_equal(cli_run(&forged, ARGS("sync", w.stream, dir), &r), 1);
    assert_non_null(strstr(r.err, "(HTTP 401)"));
    cli_result_free(&r);
    assert_false(fs_exists(dir)); /* a refused sync leaves nothing behind */

    /* A manager's token is not an admin's. */
    struct cli_call carol = w.as_alice;
    carol.input = "carol password\n";
    expect(&carol, ARGS("manager", "add", "--email", "carol@test", "--role", "manager"), 1,
           "needs an admin token");
    expect(&w.as_alice, ARGS("keys", "add", "--engine", "toy", "--description", "mine"), 1, "(HTTP 401)");

    /* No token at all: refused before anything is sent. */
    expect(&w.anonymous, ARGS("stream", "stop", w.stream), 1, "not logged in");
    expect(&w.anonymous, ARGS("target", "delete", w.target), 1, "not logged in");
    /* No command center known either. */
    const struct cli_call nowhere = {NULL, NULL, NULL};
    expect(&nowhere, ARGS("target", "list"), 1, "siegetank: ");
    assert_untouched();
}

static void test_login(void **state)
{
    (void)state;
    char path[PATH_MAX + 64];
    struct stat sb;
    snprintf(path, sizeof path, "%s/siegetank/credentials", w.config);
    const struct cli_call wrong = {NULL, NULL, "not her password\n"};
    expect(&wrong, ARGS("login", "--cc", w.c.cc.url, "--email", "alice@test"), 1, "wrong email or password");
    expect(&wrong, ARGS("login", "--cc", w.c.cc.url, "--token", "deadbeef"), 1, "(HTTP 401)");
    assert_false(fs_exists(path)); /* nothing saved from a refused login */
    expect(&wrong, ARGS("login", "--cc", w.c.cc.url), 2, "give exactly one of --token and --email");
    expect(&wrong, ARGS("login", "--token", w.alice), 2, "--cc is required");

    const struct cli_call right = {NULL, NULL, "alice password\n"};
    expect(&right, ARGS("login", "--cc", w.c.cc.url, "--email", "alice@test"), 0, "as alice@test (manager)");
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* Logging in with a password issues alice a new token; later tests use it. */
    json_t *saved_login = json_load_file(path, 0, NULL);
    const char *token = json_string_value(json_object_get(saved_login, "token"));
    assert_non_null(token);
    assert_string_not_equal(token, w.alice);
    snprintf(w.alice, sizeof w.alice, "%s", token);
    json_decref(saved_login);
    /* A later refused login keeps the saved one. */
    expect(&wrong, ARGS("login", "--cc", w.c.cc.url, "--token", "deadbeef"), 1, "(HTTP 401)");
    const struct cli_call saved = {NULL, NULL, NULL};
    json_t *list = ok_json(&saved, ARGS("target", "list", "--json"));
    assert_int_equal(json_array_size(json_object_get(list, "targets")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(list, "targets"), 0)), w.target);
    json_decref(list);
    /* The environment overrides the file: bob sees none of alice's targets. */
    list = ok_json(&(struct cli_call){NULL, w.bob, NULL}, ARGS("target", "list", "--json"));
    assert_int_equal(json_array_size(json_object_get(list, "targets")), 0);
    json_decref(list);
    assert_int_equal(fs_rm_rf(path), 0);
}

static void test_unknown_ids(void **state)
{
    (void)state;
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/unknown_sync", w.c.root);
    const char *stream = UNKNOWN_UUID ":s1";
    expect(&w.as_alice, ARGS("target", "info", UNKNOWN_UUID), 1, "unknown target");
    expect(&w.as_alice, ARGS("target", "update", UNKNOWN_UUID, "--weight", "2"), 1, "unknown target");
    expect(&w.as_alice, ARGS("target", "delete", UNKNOWN_UUID), 1, "unknown target");
    expect(&w.as_alice, ARGS("stream", "list", UNKNOWN_UUID), 1, "unknown target");
    expect(&w.as_alice, ARGS("stream", "add", "--target", UNKNOWN_UUID, "--scv", "s1", w.system), 1,
           "(HTTP 400)");
    expect(&w.as_alice, ARGS("stream", "info", stream), 1, "unknown stream");
    expect(&w.as_alice, ARGS("stream", "start", stream), 1, "unknown stream");
    expect(&w.as_alice, ARGS("stream", "delete", stream), 1, "unknown stream");
    expect(&w.as_alice, ARGS("stream", "info", UNKNOWN_UUID ":nosuchscv"), 1, "unknown SCV 'nosuchscv'");
    expect(&w.as_alice, ARGS("stream", "add", "--target", w.target, "--scv", "nosuchscv", w.system), 1,
           "unknown SCV 'nosuchscv'");
    expect(&w.admin, ARGS("keys", "delete", "nosuchkey"), 1, "unknown engine key");
    struct cli_result r;
    assert_int_equal(cli_run(&w.as_alice, ARGS("sync", stream, dir), &r), 1);
    assert_non_null(strstr(r.err, "unknown stream"));
    cli_result_free(&r);
    assert_false(fs_exists(dir));
    /* A path that leaves the stream is refused by the SCV, not followed. */
    char out[PATH_MAX + 16];
    snprintf(out, sizeof out, "%s/escaped", w.c.root);
    expect(&w.as_alice, ARGS("stream", "download", w.stream, "../../secret", "-o", out), 1,
           "not a path inside the stream");
    expect(&w.as_alice, ARGS("stream", "upload", w.stream, "files/../../x", w.state), 1,
           "not a path inside the stream");
    expect(&w.as_alice, ARGS("stream", "download", w.stream, "files/nosuchfile", "-o", out), 1, "(HTTP 400)");
    assert_false(fs_exists(out));
    assert_untouched();
}

static void test_someone_elses_target(void **state)
{
    (void)state;
    char dir[PATH_MAX + 16], out[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/bob_sync", w.c.root);
    snprintf(out, sizeof out, "%s/bob_download", w.c.root);
    const char *not_owner = "bob@test does not own target";
    expect(&w.as_bob, ARGS("stream", "stop", w.stream), 1, not_owner);
    expect(&w.as_bob, ARGS("stream", "start", w.stream), 1, not_owner);
    expect(&w.as_bob, ARGS("stream", "delete", w.stream), 1, not_owner);
    expect(&w.as_bob, ARGS("stream", "download", w.stream, "files/state.json.gz.b64", "-o", out), 1,
           not_owner);
    assert_false(fs_exists(out));
    expect(&w.as_bob, ARGS("stream", "upload", w.stream, "files/state.json.gz.b64", w.state), 1, not_owner);
    expect(&w.as_bob, ARGS("stream", "add", "--target", w.target, "--scv", "s1", w.system, w.state), 1,
           not_owner);
    expect(&w.as_bob, ARGS("target", "update", w.target, "--stage", "public"), 1,
           "belongs to another manager");
    expect(&w.as_bob, ARGS("target", "update", w.target, "--option", "steps_per_frame=1"), 1,
           "belongs to another manager");
    expect(&w.as_bob, ARGS("target", "delete", w.target), 1, "belongs to another manager");
    struct cli_result r;
    assert_int_equal(cli_run(&w.as_bob, ARGS("sync", w.stream, dir), &r), 1);
    assert_non_null(strstr(r.err, not_owner));
    cli_result_free(&r);
    assert_int_equal(cli_run(&w.as_bob, ARGS("sync", "--all", w.target, dir), &r), 1);
    assert_non_null(strstr(r.err, not_owner));
    cli_result_free(&r);
    assert_false(fs_exists(dir));
    assert_untouched();

    /* Anyone may look (the protocol makes info public); an admin may act. */
    expect(&w.as_bob, ARGS("stream", "info", w.stream), 0, NULL);
    expect(&w.admin, ARGS("stream", "stop", w.stream), 0, NULL);
    json_t *info = ok_json(&w.as_alice, ARGS("stream", "info", w.stream, "--json"));
    assert_string_equal(json_string_value(json_object_get(info, "status")), "STOPPED");
    json_decref(info);
    expect(&w.as_alice, ARGS("stream", "start", w.stream), 0, NULL);
    assert_untouched();
}

static void test_usage_errors(void **state)
{
    (void)state;
    /* Usage errors are caught before any request: they exit 2 even with
     * no command center configured at all. */
    const struct cli_call nowhere = {NULL, NULL, NULL};
    const struct cli_call *callers[] = {&w.as_alice, &nowhere};
    for (size_t i = 0; i < 2; i++) {
        const struct cli_call *who = callers[i];
        expect(who, ARGS("target", "add", "--engine", "toy", "--option", "novalue"), 2,
               "bad --option: 'novalue' is not key=value");
        expect(who, ARGS("target", "add", "--engine", "toy", "--option", "=5"), 2, "bad --option");
        expect(who, ARGS("target", "add", "--engine", "toy", "--option", "a b=1"), 2, "bad --option");
        expect(who, ARGS("target", "add", "--engine", "toy", "--option", "steps_per_frame="), 2,
               "bad --option");
        expect(who, ARGS("target", "update", w.target, "--option", "novalue"), 2, "bad --option");
        expect(who, ARGS("target", "add", "--engine", "toy", "--weight", "-1"), 2,
               "--weight must be a number >= 0");
        expect(who, ARGS("target", "add", "--engine", "toy", "--weight", "lots"), 2, "--weight must be");
        expect(who, ARGS("target", "add"), 2, "needs at least one --engine");
        expect(who, ARGS("target", "update", w.target), 2, "needs something to change");
        expect(who, ARGS("target", "info"), 2, "wrong arguments for 'target info'");
        expect(who, ARGS("target", "info", w.target, "--stage", "public"), 2, "takes no --engine");
        expect(who, ARGS("target"), 2, "missing action");
        expect(who, ARGS("target", "frobnicate"), 2, "usage: siegetank target");
        expect(who, ARGS("target", "list", "--bogus"), 2, "unknown or incomplete option '--bogus'");
        expect(who, ARGS("stream", "add", "--target", w.target, w.system), 2, "needs --target and --scv");
        expect(who, ARGS("stream", "add", "--target", w.target, "--scv", "s1"), 2,
               "wrong number of arguments");
        expect(who, ARGS("stream", "add", "--target", w.target, "--scv", "s1", "--tag", "=x", w.system), 2,
               "--tag wants NAME=FILE");
        expect(who, ARGS("stream", "stop", w.stream, "--target", w.target), 2, "option not valid");
        expect(who, ARGS("stream", "frobnicate", w.stream), 2, "unknown action 'frobnicate'");
        expect(who, ARGS("stream", "upload", w.stream, "files/x"), 2, "wrong number of arguments");
        expect(who, ARGS("sync", "not-a-stream", "dir"), 2, "is not a stream id");
        expect(who, ARGS("sync", w.stream), 2, "expected STREAM_ID and DIR");
        expect(who, ARGS("keys", "add", "--engine", "toy"), 2, "needs --engine and --description");
        expect(who, ARGS("manager", "add", "--email", "x@test", "--role", "king"), 2,
               "usage: siegetank manager");
        expect(who, ARGS("frobnicate"), 2, "unknown command 'frobnicate'");
    }
    /* Well formed, but refused by the server: 1, with the server's reason. */
    expect(&w.as_alice, ARGS("target", "add", "--engine", "toy", "--stage", "bogus"), 1, "bad stage 'bogus'");
    expect(&w.as_alice, ARGS("target", "update", w.target, "--stage", "bogus"), 1, "bad stage 'bogus'");
    expect(&w.admin, ARGS("manager", "add", "--email", "alice@test", "--role", "manager"), 1,
           "no password given");
    struct cli_call again = w.admin;
    again.input = "another password\n";
    expect(&again, ARGS("manager", "add", "--email", "alice@test", "--role", "manager"), 1, "already exists");
    /* A file that cannot be read is named. */
    expect(&w.as_alice, ARGS("stream", "add", "--target", w.target, "--scv", "s1", "/nonexistent/state.json"),
           1, "cannot read /nonexistent/state.json");
    /* Help is not an error. */
    expect(&nowhere, ARGS("target", "--help"), 0, NULL);
    assert_untouched();
}

/* A file on the SCV whose name no request can carry is left out of the
 * copy; sync still copies the rest, exits 0 and names the file (escaped)
 * on stderr and in --json. */
static void test_sync_names_skipped_files(void **state)
{
    (void)state;
    struct cli_result r;
    char planted[PATH_MAX * 2], dir[PATH_MAX + 16], seed[PATH_MAX + 64];
    snprintf(planted, sizeof planted, "%s/streams/%s/files/bad\x1b[2Jname", w.c.scv[0].data, w.stream);
    harness_write(planted, "planted");
    snprintf(dir, sizeof dir, "%s/skipped_sync", w.c.root);
    assert_int_equal(cli_run(&w.as_alice, ARGS("sync", w.stream, dir, "--json"), &r), 0);
    assert_non_null(strstr(r.err, "1 file(s) on the SCV were not copied"));
    assert_non_null(strstr(r.err, "files/bad\\\\x1B[2Jname"));
    assert_null(strchr(r.err, '\x1b'));
    json_t *report = json_loads(r.out, 0, NULL);
    json_t *skipped = json_object_get(json_array_get(report, 0), "skipped_files");
    assert_int_equal(json_array_size(skipped), 1);
    assert_string_equal(json_string_value(json_array_get(skipped, 0)), "files/bad\\x1B[2Jname");
    assert_true(json_integer_value(json_object_get(json_array_get(report, 0), "fetched")) >= 2);
    json_decref(report);
    cli_result_free(&r);
    snprintf(seed, sizeof seed, "%s/files/state.json.gz.b64", dir);
    assert_true(fs_exists(seed));
    assert_int_equal(unlink(planted), 0);
}

/* Runs last: it stops the SCV. A listing that misses a shard must say so
 * and fail, never pass off a partial list as the whole. */
static void test_scv_down_partial_list(void **state)
{
    (void)state;
    struct cli_result r;
    char dir[PATH_MAX + 16];
    assert_int_equal(cluster_stop(&w.c.scv[0], SIGTERM), 0);
    assert_int_equal(cli_run(&w.as_alice, ARGS("stream", "list", w.target), &r), 1);
    assert_non_null(strstr(r.err, "SCV 's1' did not answer"));
    assert_null(strstr(r.out, w.stream));
    cli_result_free(&r);
    snprintf(dir, sizeof dir, "%s/partial", w.c.root);
    assert_int_equal(cli_run(&w.as_alice, ARGS("sync", "--all", w.target, dir), &r), 1);
    assert_non_null(strstr(r.err, "did not answer"));
    cli_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_or_missing_token),
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_unknown_ids),
        cmocka_unit_test(test_someone_elses_target),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_sync_names_skipped_files),
        cmocka_unit_test(test_scv_down_partial_list),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
