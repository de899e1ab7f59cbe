/* core_runner against a fake CC + SCV (one h2o server on loopback that
 * plays both roles, with faults on demand). Checks what the SCV ends up
 * holding: the committed trajectory must equal, byte for byte, the engine run
 * straight from the seed, whatever retries, duplicates and lost tokens the
 * core went through. No timing assertions: runs end when the fake has seen
 * enough and raises the stop flag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_runner.h"
#include "core/core_wire.h"
#include "core/md_engine.h"
#include "core/xtc.h"
#include "harness.h"
#include "inproc_server.h"
#include "runtime/server.h"
#include "util/base64.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/wire_file.h"

#define KEY "engine-key-1"
#define MAX_STREAMS 4
#define STEPS_PER_FRAME 20

struct stream {
    uint64_t seed;
    char *system_wire, *state_wire; /* seed files as base64(gzip) */
    char *checkpoint_wire;          /* last checkpoint's state.json.gz.b64, or NULL */
    char token[64];                 /* "" when inactive */
    unsigned char *buffer, *committed;
    size_t buffer_len, committed_len;
    long buffer_frames, committed_frames, activation_frames;
    char last_md5[CRYPTO_MD5_HEX_LEN + 1];
};

struct fake {
    pthread_mutex_t lock;
    struct inproc_server srv;
    atomic_int *stop;
    struct stream streams[MAX_STREAMS];
    int nstreams, serial;
    /* counters */
    long assigns, starts, frames, duplicates, checkpoints, empty_checkpoints, heartbeats, stops, error_stops;
    char last_error[512];
    /* faults */
    int frame_500_after_append; /* reply 500 to this many frames after appending them */
    int frame_503_before;       /* reply 503 to this many frames without appending */
    int checkpoint_503;         /* reply 503 to this many checkpoints without committing */
    long kill_at_frame;         /* 400 (token dead) on this frame of the first activation */
    int bad_state;              /* start hands out a broken state.json */
    int expire_on_assign;       /* an assign takes over a bound stream, as after its expiry */
    /* when to raise the stop flag */
    long stop_at_committed; /* every stream has at least this many committed frames */
    long stop_at_errors;
};

static struct fake F;

static char *wrap(const char *text, size_t len)
{
    char *b = wire_file_encode(text, len, WIRE_FILE_GZ | WIRE_FILE_B64, NULL);
    assert_non_null(b);
    return b;
}

static struct stream *by_token(h2o_req_t *req)
{
    const char *auth = server_header(req, "authorization");
    for (int i = 0; auth && i < F.nstreams; i++)
        if (F.streams[i].token[0] && strcmp(F.streams[i].token, auth) == 0)
            return &F.streams[i];
    return NULL;
}

static void deactivate(struct stream *s)
{
    s->token[0] = '\0';
    free(s->buffer);
    s->buffer = NULL;
    s->buffer_len = 0;
    s->buffer_frames = 0;
    s->last_md5[0] = '\0';
}

static void maybe_stop(void)
{
    int done = F.stop_at_committed > 0;
    for (int i = 0; i < F.nstreams; i++)
        if (F.streams[i].committed_frames < F.stop_at_committed)
            done = 0;
    if (done || (F.stop_at_errors > 0 && F.error_stops >= F.stop_at_errors))
        atomic_store(F.stop, 1);
}

/* The body's MD5 must match its Content-MD5 header (as the SCV checks). */
static int md5_ok(h2o_req_t *req)
{
    char md5[CRYPTO_MD5_HEX_LEN + 1];
    const char *given = server_header(req, "content-md5");
    crypto_md5_hex(req->entity.base ? req->entity.base : "", req->entity.len, md5);
    return given && strcmp(given, md5) == 0;
}

static void on_assign(struct server_request *r)
{
    const char *auth = server_header(r->req, "authorization");
    if (!auth || strcmp(auth, KEY) != 0) {
        server_reply_error(r->req, 401, "bad engine key");
        return;
    }
    pthread_mutex_lock(&F.lock);
    struct stream *s = NULL;
    for (int i = 0; i < F.nstreams && !s; i++)
        if (!F.streams[i].token[0])
            s = &F.streams[i];
    if (!s && F.expire_on_assign) {
        s = &F.streams[0];
        deactivate(s);
    }
    if (!s) {
        pthread_mutex_unlock(&F.lock);
        server_reply_error(r->req, 400, "no streams available");
        return;
    }
    snprintf(s->token, sizeof s->token, "core-token-%d", ++F.serial);
    s->activation_frames = 0;
    F.assigns++;
    char start[128];
    snprintf(start, sizeof start, "%s/core/start", F.srv.url);
    json_t *reply = json_pack("{s:s, s:s}", "token", s->token, "url", start);
    pthread_mutex_unlock(&F.lock);
    server_reply_json(r->req, 200, reply);
}

static void on_start(struct server_request *r)
{
    pthread_mutex_lock(&F.lock);
    struct stream *s = by_token(r->req);
    if (!s) {
        pthread_mutex_unlock(&F.lock);
        server_reply_error(r->req, 400, "unknown core token");
        return;
    }
    F.starts++;
    const char *state = s->checkpoint_wire ? s->checkpoint_wire : s->state_wire;
    char *broken = F.bad_state ? wrap("{\"engine\":\"toy\"", 15) : NULL;
    json_t *body = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:i}}", "stream_id", "stream-1:fake", "target_id",
                             "target-1", "files", "system.json.gz.b64", s->system_wire, "state.json.gz.b64",
                             broken ? broken : state, "options", "steps_per_frame", STEPS_PER_FRAME);
    free(broken);
    pthread_mutex_unlock(&F.lock);
    char md5[CRYPTO_MD5_HEX_LEN + 1];
    char *text = json_dumps(body, JSON_COMPACT); /* what server_reply_json sends */
    crypto_md5_hex(text, strlen(text), md5);
    free(text);
    server_add_header(r->req, "Content-MD5", md5);
    server_reply_json(r->req, 200, body);
}

/* Appends the frame's bytes; 0, or -1 when the body is malformed. */
static int append_frame(struct stream *s, json_t *body)
{
    const char *b64 =
        json_string_value(json_object_get(json_object_get(body, "files"), CORE_WIRE_FRAME_NAME));
    json_int_t frames = json_integer_value(json_object_get(body, "frames"));
    size_t len = 0;
    unsigned char *raw = b64 ? base64_decode(b64, strlen(b64), &len) : NULL;
    if (!raw || frames != 1) {
        free(raw);
        return -1;
    }
    s->buffer = realloc(s->buffer, s->buffer_len + len);
    memcpy(s->buffer + s->buffer_len, raw, len);
    s->buffer_len += len;
    s->buffer_frames++;
    free(raw);
    return 0;
}

static void on_frame(struct server_request *r)
{
    int status = 200;
    const char *msg = NULL;
    char md5[CRYPTO_MD5_HEX_LEN + 1];
    json_t *body = server_body_object(r->req);
    if (!body)
        return;
    pthread_mutex_lock(&F.lock);
    struct stream *s = by_token(r->req);
    if (!s || !md5_ok(r->req)) {
        status = 400;
        msg = s ? "Content-MD5 mismatch" : "unknown core token";
        goto out;
    }
    crypto_md5_hex(r->req->entity.base, r->req->entity.len, md5);
    if (strcmp(md5, s->last_md5) == 0) {
        F.duplicates++;
        goto out;
    }
    if (F.frame_503_before > 0) {
        F.frame_503_before--;
        status = 503;
        msg = "try later";
        goto out;
    }
    if (F.kill_at_frame > 0 && F.assigns == 1 && s->activation_frames + 1 == F.kill_at_frame) {
        deactivate(s);
        status = 400;
        msg = "token expired";
        goto out;
    }
    if (append_frame(s, body) != 0) {
        status = 400;
        msg = "bad frame body";
        goto out;
    }
    strcpy(s->last_md5, md5);
    s->activation_frames++;
    F.frames++;
    if (F.frame_500_after_append > 0) {
        F.frame_500_after_append--;
        status = 500; /* the frame landed but the reply is lost */
        msg = "reply lost";
    }
out:
    pthread_mutex_unlock(&F.lock);
    json_decref(body);
    if (status == 200)
        server_reply_ok(r->req);
    else
        server_reply_error(r->req, status, "%s", msg);
}

static void on_checkpoint(struct server_request *r)
{
    int status = 200;
    const char *msg = NULL;
    json_t *body = server_body_object(r->req);
    if (!body)
        return;
    pthread_mutex_lock(&F.lock);
    struct stream *s = by_token(r->req);
    const char *state =
        json_string_value(json_object_get(json_object_get(body, "files"), "state.json.gz.b64"));
    if (!s || !md5_ok(r->req) || !state) {
        status = 400;
        msg = "bad checkpoint";
        goto out;
    }
    if (F.checkpoint_503 > 0) {
        F.checkpoint_503--;
        status = 503;
        msg = "try later";
        goto out;
    }
    if (s->buffer_frames == 0) {
        F.empty_checkpoints++;
        goto out;
    }
    s->committed = realloc(s->committed, s->committed_len + s->buffer_len);
    memcpy(s->committed + s->committed_len, s->buffer, s->buffer_len);
    s->committed_len += s->buffer_len;
    s->committed_frames += s->buffer_frames;
    free(s->checkpoint_wire);
    s->checkpoint_wire = strdup(state);
    free(s->buffer);
    s->buffer = NULL;
    s->buffer_len = 0;
    s->buffer_frames = 0;
    F.checkpoints++;
    maybe_stop();
out:
    pthread_mutex_unlock(&F.lock);
    json_decref(body);
    if (status == 200)
        server_reply_ok(r->req);
    else
        server_reply_error(r->req, status, "%s", msg);
}

static void on_heartbeat(struct server_request *r)
{
    pthread_mutex_lock(&F.lock);
    struct stream *s = by_token(r->req);
    if (s)
        F.heartbeats++;
    pthread_mutex_unlock(&F.lock);
    if (s)
        server_reply_ok(r->req);
    else
        server_reply_error(r->req, 400, "unknown core token");
}

static void on_stop(struct server_request *r)
{
    json_t *body = server_body_object(r->req);
    if (!body)
        return;
    pthread_mutex_lock(&F.lock);
    struct stream *s = by_token(r->req);
    const char *error = json_string_value(json_object_get(body, "error"));
    if (s) {
        F.stops++;
        if (error) {
            size_t len = 0;
            unsigned char *text = base64_decode(error, strlen(error), &len);
            snprintf(F.last_error, sizeof F.last_error, "%s", text ? (char *)text : "(bad base64)");
            free(text);
            F.error_stops++;
        }
        deactivate(s);
        maybe_stop();
    }
    pthread_mutex_unlock(&F.lock);
    json_decref(body);
    if (s)
        server_reply_ok(r->req);
    else
        server_reply_error(r->req, 400, "unknown core token");
}

static void fake_start(int nstreams, atomic_int *stop)
{
    char err[256];
    pthread_mutex_init(&F.lock, NULL);
    F.stop = stop;
    F.nstreams = nstreams;
    for (int i = 0; i < nstreams; i++) {
        char *system, *state;
        size_t system_len, state_len;
        F.streams[i].seed = 1000 + (uint64_t)i;
        assert_int_equal(md_engine_make_seed_files(F.streams[i].seed, 4, &system, &system_len, &state,
                                                   &state_len, err, sizeof err),
                         0);
        F.streams[i].system_wire = wrap(system, system_len);
        F.streams[i].state_wire = wrap(state, state_len);
        free(system);
        free(state);
    }
    inproc_server_create(&F.srv, "fake");
    server_route(F.srv.server, "POST", "/core/assign", on_assign);
    server_route(F.srv.server, "GET", "/core/start", on_start);
    server_route(F.srv.server, "PUT", "/core/frame", on_frame);
    server_route(F.srv.server, "PUT", "/core/checkpoint", on_checkpoint);
    server_route(F.srv.server, "POST", "/core/heartbeat", on_heartbeat);
    server_route(F.srv.server, "PUT", "/core/stop", on_stop);
    inproc_server_start(&F.srv);
}

static void fake_stop(void)
{
    inproc_server_stop(&F.srv);
    for (int i = 0; i < F.nstreams; i++) {
        struct stream *s = &F.streams[i];
        free(s->system_wire);
        free(s->state_wire);
        free(s->checkpoint_wire);
        free(s->buffer);
        free(s->committed);
    }
    pthread_mutex_destroy(&F.lock);
    memset(&F, 0, sizeof F);
}

/* The committed trajectory is exactly the seed run straight for as many
 * frames: nothing duplicated, lost, or resumed from the wrong state. */
static void assert_trajectory_exact(const struct stream *s)
{
    char err[256] = "", *system, *state;
    size_t system_len, state_len;
    assert_true(s->committed_frames > 0);
    assert_int_equal(xtc_check_trajectory(s->committed, s->committed_len, err, sizeof err),
                     s->committed_frames);
    assert_int_equal(
        md_engine_make_seed_files(s->seed, 4, &system, &system_len, &state, &state_len, err, sizeof err), 0);
    core_file files[] = {{MD_ENGINE_SYSTEM_FILE, system, system_len},
                         {MD_ENGINE_STATE_FILE, state, state_len}};
    json_t *opts = json_pack("{s:i}", "steps_per_frame", STEPS_PER_FRAME);
    md_engine *e = md_engine_create(files, 2, opts, err, sizeof err);
    assert_non_null(e);
    unsigned char *want = malloc(s->committed_len + MD_ENGINE_FRAME_MAX_BYTES);
    size_t len = 0;
    for (long i = 0; i < s->committed_frames; i++)
        len += md_engine_advance(e, want + len, MD_ENGINE_FRAME_MAX_BYTES, err, sizeof err);
    assert_int_equal(len, s->committed_len);
    assert_memory_equal(want, s->committed, len);
    free(want);
    md_engine_free(e);
    json_decref(opts);
    free(system);
    free(state);
}

/* One run of the runner against the fake: its stop flag, configuration and
 * counters. */
struct run_case {
    atomic_int stop;
    struct core_runner_config cfg;
    struct core_runner_stats st;
};

/* Starts the fake with nstreams streams and gives the case the default
 * configuration with a long duration, which is only a safety net: the fake
 * raises the stop flag when the test's condition is met. */
static void case_start(struct run_case *c, int nstreams)
{
    atomic_init(&c->stop, 0);
    fake_start(nstreams, &c->stop);
    core_runner_config_init(&c->cfg);
    c->cfg.duration_s = 300;
}

static void run(struct run_case *c)
{
    char err[256] = "";
    c->cfg.cc = F.srv.url;
    if (!c->cfg.engine_key)
        c->cfg.engine_key = KEY;
    assert_int_equal(core_runner_run(&c->cfg, &c->stop, &c->st, err, sizeof err), 0);
}

/* What every single-stream run must end with: the runner's count of committed
 * frames is the SCV's, the trajectory is exactly the reference one, and the
 * fake is shut down. */
static void finish_single_stream(struct run_case *c)
{
    assert_int_equal(c->st.frames_committed, F.streams[0].committed_frames);
    assert_trajectory_exact(&F.streams[0]);
    fake_stop();
}

static void test_happy_path(void **state)
{
    (void)state;
    struct run_case c;
    case_start(&c, 1);
    F.stop_at_committed = 30;
    c.cfg.frames_per_checkpoint = 5;
    c.cfg.heartbeat_s = 0.1;
    c.cfg.frame_interval_s = 0.02; /* >= 0.6 s in all, so heartbeats are due */
    run(&c);
    assert_false(c.st.fatal);
    assert_int_equal(c.st.assignments, 1);
    assert_int_equal(c.st.frames_sent, F.frames);
    assert_int_equal(c.st.frames_committed, 30);
    assert_int_equal(c.st.checkpoints, F.checkpoints);
    assert_int_equal(c.st.checkpoints, 6);
    assert_int_equal(F.duplicates, 0);
    assert_int_equal(F.empty_checkpoints, 0);
    assert_int_equal(c.st.lost + c.st.errors, 0);
    assert_true(F.heartbeats >= 1);
    assert_int_equal(F.stops, 1);
    assert_int_equal(F.error_stops, 0);
    finish_single_stream(&c);
}

static void test_retries_resend_the_same_frame(void **state)
{
    (void)state;
    struct run_case c;
    case_start(&c, 1);
    F.stop_at_committed = 20;
    F.frame_500_after_append = 3;
    F.frame_503_before = 2;
    F.checkpoint_503 = 2;
    c.cfg.frames_per_checkpoint = 4;
    run(&c);
    assert_int_equal(c.st.assignments, 1);
    assert_int_equal(F.duplicates, 3); /* each lost reply resent, recognised, not appended */
    assert_int_equal(c.st.frames_sent, F.frames);
    assert_int_equal(c.st.lost, 0);
    finish_single_stream(&c);
}

static void test_dead_token_resumes_from_checkpoint(void **state)
{
    (void)state;
    struct run_case c;
    case_start(&c, 1);
    F.stop_at_committed = 15;
    F.kill_at_frame = 8; /* frames 6 and 7 are buffered, then the token dies */
    c.cfg.frames_per_checkpoint = 5;
    run(&c);
    assert_int_equal(c.st.assignments, 2);
    assert_int_equal(c.st.lost, 1);
    assert_int_equal(F.starts, 2);
    /* The 2 uncommitted frames were redone from the checkpoint at frame 5. */
    assert_int_equal(c.st.frames_sent, F.frames);
    assert_int_equal(c.st.frames_sent, c.st.frames_committed + 2);
    finish_single_stream(&c);
}

static void test_retries_exhausted_drop_the_stream(void **state)
{
    (void)state;
    struct run_case c;
    case_start(&c, 1);
    F.stop_at_committed = 3;
    F.frame_503_before = 2; /* more than --retries 1 allows for one frame */
    F.expire_on_assign = 1;
    c.cfg.frames_per_checkpoint = 3;
    c.cfg.max_retries = 1;
    run(&c);
    /* The core gave up on the first activation without a stop (the SCV
     * expires the token) and asked again. */
    assert_int_equal(c.st.lost, 1);
    assert_int_equal(c.st.assignments, 2);
    assert_int_equal(F.stops, 1);
    finish_single_stream(&c);
}

static void test_engine_error_is_reported(void **state)
{
    (void)state;
    struct run_case c;
    case_start(&c, 1);
    F.bad_state = 1;
    F.stop_at_errors = 2;
    run(&c);
    assert_int_equal(c.st.errors, 2);
    assert_int_equal(F.error_stops, 2);
    assert_int_equal(c.st.frames_sent, 0);
    assert_non_null(strstr(F.last_error, "state.json"));
    assert_false(c.st.fatal);
    fake_stop();
}

static void test_refused_key_is_fatal(void **state)
{
    (void)state;
    struct run_case c;
    case_start(&c, 1);
    c.cfg.engine_key = "wrong-key";
    c.cfg.cores = 3;
    c.cfg.duration_s = 0;
    run(&c); /* no duration: returns because every core gave up */
    assert_true(c.st.fatal);
    assert_non_null(strstr(c.st.fatal_message, "refused the engine key"));
    assert_non_null(strstr(c.st.fatal_message, "bad engine key"));
    assert_int_equal(c.st.assignments, 0);
    assert_int_equal(F.assigns, 0);
    fake_stop();
}

static void test_many_cores_many_streams(void **state)
{
    (void)state;
    struct run_case c;
    case_start(&c, 3);
    F.stop_at_committed = 12;
    c.cfg.cores = 3;
    c.cfg.frames_per_checkpoint = 3;
    run(&c);
    assert_int_equal(c.st.assignments, 3);
    long committed = 0;
    for (int i = 0; i < 3; i++) {
        assert_trajectory_exact(&F.streams[i]);
        committed += F.streams[i].committed_frames;
    }
    assert_int_equal(c.st.frames_committed, committed);
    assert_int_equal(F.stops, 3);
    fake_stop();
}

static void test_unreachable_cc(void **state)
{
    (void)state;
    atomic_int stop = 0;
    char err[256] = "", url[64];
    struct core_runner_config cfg;
    struct core_runner_stats st;
    core_runner_config_init(&cfg);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", harness_free_port());
    cfg.cc = url;
    cfg.engine_key = KEY;
    cfg.duration_s = 0.3;
    assert_int_equal(core_runner_run(&cfg, &stop, &st, err, sizeof err), 0);
    assert_int_equal(st.assignments, 0);
    assert_false(st.fatal);

    cfg.cores = 0;
    assert_int_equal(core_runner_run(&cfg, &stop, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "cores must be"));
    cfg.cores = 1;
    cfg.cc = "ftp://nowhere";
    assert_int_equal(core_runner_run(&cfg, &stop, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "bad server address"));
}

int main(void)
{
    log_set_quiet(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_happy_path),
        cmocka_unit_test(test_retries_resend_the_same_frame),
        cmocka_unit_test(test_dead_token_resumes_from_checkpoint),
        cmocka_unit_test(test_retries_exhausted_drop_the_stream),
        cmocka_unit_test(test_engine_error_is_reported),
        cmocka_unit_test(test_refused_key_is_fatal),
        cmocka_unit_test(test_many_cores_many_streams),
        cmocka_unit_test(test_unreachable_cc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
