/* The OpenMM engine end to end: a real CC and SCV, `siegetank core --engine
 * openmm` on alanine dipeptide (tests/core/data/openmm), and the synced
 * trajectory checked the way a scientist uses it (MDTraj). Hand-offs
 * between activations must be seamless; bad stream files must end in stream
 * errors while the core goes on working. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/client.h"
#include "cluster.h"
#include "core/core_engine.h"
#include "core/openmm_engine.h"
#include "core/xtc.h"
#include "harness.h"
#include "seed_files.h"
#include "stream_fetch.h"
#include "util/base64.h"
#include "util/gz.h"

#define SPF 20
#define DT_PS 0.002
#define NATOMS 22

struct text {
    char *data;
    size_t len;
};

struct fixture {
    struct cluster c;
    struct client *cc;
    char key[128];
    struct text system, state, verlet, langevin;
};

static struct text data(const char *name)
{
    struct text t;
    t.data = seed_files_openmm_data(name, &t.len);
    return t;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct client_error err;
    cluster_init(&f->c, 0);
    assert_int_equal(cluster_start_cc(&f->c, NULL), 0);
    assert_true(cluster_add_scv(&f->c, "s1", NULL) >= 0);
    assert_int_equal(cluster_engine_key(&f->c, OPENMM_ENGINE_NAME, f->key, sizeof f->key), 0);
    f->cc = client_new(f->c.cc.url, NULL, &err);
    assert_non_null(f->cc);
    client_set_token(f->cc, f->c.admin_token);
    f->system = data("system.xml.gz");
    f->state = data("state.xml.gz");
    f->verlet = data("verlet.xml.gz");
    f->langevin = data("langevin.xml.gz");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    client_free(f->cc);
    cluster_stop_all(&f->c);
    free(f->system.data);
    free(f->state.data);
    free(f->verlet.data);
    free(f->langevin.data);
    free(f);
    return 0;
}

/* A private target for the openmm engine; its id into id. */
static void make_target(struct fixture *f, char *id, size_t n)
{
    struct client_error err;
    json_t *spec = json_pack("{s:[s], s:s, s:{s:i}}", "engines", OPENMM_ENGINE_NAME, "stage", "private",
                             "options", "steps_per_frame", SPF);
    json_t *r = client_target_create(f->cc, spec, &err);
    assert_non_null(r);
    snprintf(id, n, "%s", json_string_value(json_object_get(r, "target_id")));
    json_decref(r);
    json_decref(spec);
}

static void add_stream(struct fixture *f, const char *target, const struct text *system,
                       const struct text *state, const struct text *integrator, char *id, size_t n)
{
    struct client_error err;
    json_t *files = seed_files_openmm(system->data, system->len, state->data, state->len, integrator->data,
                                      integrator->len);
    json_t *r = client_stream_add(f->cc, "s1", target, files, NULL, &err);
    assert_non_null(r);
    snprintf(id, n, "%s", json_string_value(json_object_get(r, "stream_id")));
    json_decref(r);
    json_decref(files);
}

/* One `siegetank core --engine openmm` run on target; returns the summary's
 * committed frames. */
static long run_core(struct fixture *f, const char *target, int cores, double seconds, long *errors)
{
    char args[512];
    snprintf(args, sizeof args,
             "--key %s --engine openmm --platform CPU --threads 1 --target %s --cores %d --duration %g "
             "--frames-per-checkpoint 4 --retries 2",
             f->key, target, cores, seconds);
    json_t *summary = cluster_run_core(&f->c, args);
    assert_non_null(summary);
    long committed = (long)json_integer_value(json_object_get(summary, "frames_committed"));
    if (errors)
        *errors = (long)json_integer_value(json_object_get(summary, "errors"));
    json_decref(summary);
    return committed;
}

static json_t *stream_info(struct fixture *f, const char *id)
{
    struct client_error err;
    json_t *info = client_stream_info(f->cc, id, &err);
    assert_non_null(info);
    return info;
}

/* Every frame of traj: NATOMS atoms, steps SPF, 2 SPF, ... (no gap, no
 * repeat across hand-offs), time = step * dt. Returns the frame count. */
static long check_spacing(const unsigned char *traj, size_t len)
{
    xtc_reader r;
    xtc_frame fr;
    char err[256];
    long n = 0;
    int rc;
    xtc_reader_init(&r, traj, len);
    while ((rc = xtc_reader_next(&r, &fr, err, sizeof err)) == 1) {
        n++;
        assert_int_equal(fr.natoms, NATOMS);
        assert_int_equal(fr.step, n * SPF);
        assert_float_equal(fr.time, n * SPF * DT_PS, 1e-4);
    }
    assert_int_equal(rc, 0);
    xtc_reader_free(&r);
    return n;
}

/* The coordinates of frame number index (1-based) of traj into out. */
static void frame_coords(const unsigned char *traj, size_t len, long index, float out[NATOMS][3])
{
    xtc_reader r;
    xtc_frame fr;
    char err[256];
    xtc_reader_init(&r, traj, len);
    for (long i = 0; i < index; i++)
        assert_int_equal(xtc_reader_next(&r, &fr, err, sizeof err), 1);
    memcpy(out, fr.coords, sizeof(float) * 3 * NATOMS);
    xtc_reader_free(&r);
}

/* The checkpoint committed at partition part, decoded. */
static char *fetch_checkpoint(struct fixture *f, const char *id, long part, size_t *len)
{
    char path[128];
    size_t b64_len = 0, gz_len = 0;
    snprintf(path, sizeof path, "%ld/checkpoint_files/state.xml.gz.b64", part);
    unsigned char *b64 = stream_fetch_file(f->cc, id, path, &b64_len);
    assert_non_null(b64);
    unsigned char *gz = base64_decode((char *)b64, b64_len, &gz_len);
    assert_non_null(gz);
    unsigned char *text = gz_decompress(gz, gz_len, 16u << 20, len); /* NUL-terminated */
    assert_non_null(text);
    free(b64);
    free(gz);
    return (char *)text;
}

/* The first <Position x= y= z=/> triples of an OpenMM State text. */
static void state_positions(const char *xml, double out[NATOMS][3])
{
    const char *p = strstr(xml, "<Positions>");
    assert_non_null(p);
    for (int i = 0; i < NATOMS; i++) {
        p = strstr(p, "<Position ");
        assert_non_null(p);
        assert_int_equal(
            sscanf(p, "<Position x=\"%lf\" y=\"%lf\" z=\"%lf\"", &out[i][0], &out[i][1], &out[i][2]), 3);
        p++;
    }
}

static void run_mdtraj(const struct fixture *f, const char *xtc, long frames)
{
    char cmd[4 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/integration/check_trajectory.py' '%s' '%s' %ld %g",
             ST_SOURCE_DIR, xtc, OPENMM_TEST_DATA "/ala2.pdb", frames, SPF * DT_PS);
    (void)f;
    assert_int_equal(system(cmd), 0);
}

/* OpenMM runs in a child process, never in this one: its threads and
 * plugins (it loads every platform's) have crashed LeakSanitizer's tracer
 * at this process's exit. The child writes the frames of an uninterrupted
 * run of `frames` frames to a pipe this process reads into out (cap bytes)
 * and leaves with _exit. 0 when exactly cap bytes came back. */
static int uninterrupted_run(struct fixture *f, long frames, unsigned char *out, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        char err[512];
        core_file files[] = {{"system.xml", f->system.data, f->system.len},
                             {"state.xml", f->state.data, f->state.len},
                             {"integrator.xml", f->verlet.data, f->verlet.len}};
        json_t *opts = json_pack("{s:i}", "steps_per_frame", SPF);
        struct core_engine_settings cpu1 = {"CPU", 1};
        core_engine *e = core_engine_create(&openmm_engine_ops, files, 3, opts, &cpu1, err, sizeof err);
        for (long n = 0; e != NULL && n < frames; n++) {
            size_t flen = 0;
            const unsigned char *fr = core_engine_advance(e, &flen, err, sizeof err);
            if (fr == NULL || write(fds[1], fr, flen) != (ssize_t)flen)
                _exit(1);
        }
        _exit(e != NULL ? 0 : 1);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t n;
    unsigned char extra;
    while (got < cap && (n = read(fds[0], out + got, cap - got)) > 0)
        got += (size_t)n;
    int more = read(fds[0], &extra, 1) > 0;
    close(fds[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return got == cap && !more ? 0 : -1;
}

/* 1 when this machine has the platform, checked in a child process for the
 * reason uninterrupted_run gives. */
static int has_platform(const char *name)
{
    pid_t pid = fork();
    if (pid == 0) {
        char err[512];
        struct core_engine_settings settings = {name, 0};
        _exit(openmm_engine_ops.check(&settings, err, sizeof err) == 0 ? 0 : 1);
    }
    int status = 0;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Langevin, three activations with fresh seeds: frames evenly spaced across
 * the hand-offs; each checkpoint is exactly the state of the frame it
 * closes (step, time, positions, with velocities); MDTraj loads the whole
 * trajectory. (That a resumed engine starts from exactly those numbers is
 * test_openmm_engine's.) */
static void test_langevin_stream_hands_off_seamlessly(void **state)
{
    struct fixture *f = *state;
    char target[64], id[256], path[PATH_MAX + 32];
    make_target(f, target, sizeof target);
    add_stream(f, target, &f->system, &f->state, &f->langevin, id, sizeof id);
    long committed = 0;
    for (int i = 0; i < 3; i++)
        committed += run_core(f, target, 1, 1.5, NULL);
    assert_true(committed > 0);

    json_t *info = stream_info(f, id);
    long frames = (long)json_integer_value(json_object_get(info, "frames"));
    assert_int_equal(frames, committed);
    assert_int_equal(json_integer_value(json_object_get(info, "error_count")), 0);
    json_decref(info);

    snprintf(path, sizeof path, "%s/langevin.xtc", f->c.root);
    json_t *parts = NULL;
    size_t len = 0;
    unsigned char *traj = stream_fetch_frames(f->cc, id, path, &len, &parts);
    assert_non_null(traj);
    assert_int_equal(check_spacing(traj, len), frames);
    assert_true(json_array_size(parts) >= 3);

    size_t i;
    json_t *part;
    json_array_foreach(parts, i, part)
    {
        long n = (long)json_integer_value(part);
        size_t xlen = 0;
        char *xml = fetch_checkpoint(f, id, n, &xlen);
        char want[64];
        snprintf(want, sizeof want, "stepCount=\"%ld\"", n * SPF);
        assert_non_null(strstr(xml, want));
        const char *time_at = strstr(xml, " time=\"");
        assert_non_null(time_at);
        assert_float_equal(strtod(time_at + strlen(" time=\""), NULL), n * SPF * DT_PS, 1e-9);
        double pos[NATOMS][3];
        float fc[NATOMS][3];
        state_positions(xml, pos);
        frame_coords(traj, len, n, fc);
        for (int a = 0; a < NATOMS; a++)
            for (int k = 0; k < 3; k++)
                assert_float_equal(fc[a][k], pos[a][k], 0.0006);
        assert_non_null(strstr(xml, "<Velocities>"));
        free(xml);
    }
    run_mdtraj(f, path, frames);
    json_decref(parts);
    free(traj);
}

/* Verlet on one CPU thread: a stream worked by three successive cores is
 * byte for byte the trajectory of one uninterrupted run. */
static void test_verlet_stream_equals_an_uninterrupted_run(void **state)
{
    struct fixture *f = *state;
    char target[64], id[256], path[PATH_MAX + 32];
    make_target(f, target, sizeof target);
    add_stream(f, target, &f->system, &f->state, &f->verlet, id, sizeof id);
    for (int i = 0; i < 3; i++)
        run_core(f, target, 1, 1.0, NULL);

    snprintf(path, sizeof path, "%s/verlet.xtc", f->c.root);
    json_t *parts = NULL;
    size_t len = 0;
    unsigned char *traj = stream_fetch_frames(f->cc, id, path, &len, &parts);
    assert_non_null(traj);
    long frames = check_spacing(traj, len);
    assert_true(json_array_size(parts) >= 3);

    unsigned char *ref = malloc(len);
    assert_non_null(ref);
    assert_int_equal(uninterrupted_run(f, frames, ref, len), 0);
    if (memcmp(traj, ref, len) != 0)
        fail_msg("the handed-off stream differs from the uninterrupted run");
    free(ref);
    run_mdtraj(f, path, frames);
    json_decref(parts);
    free(traj);
}

/* Truncated, empty and mismatched files, a run that blows up (a 50 fs
 * step) and one whose energy jumps (a 20,000 K thermostat): each stream's
 * error_count rises through PUT /core/stop and no bad state is committed;
 * the core survives and the good stream runs. */
static void test_bad_streams_are_errors_and_the_core_goes_on(void **state)
{
    struct fixture *f = *state;
    char target[64], ids[6][256];
    make_target(f, target, sizeof target);
    struct text cut = {f->system.data, f->system.len / 2};
    struct text empty = {"", 0};
    struct text mismatched;
    mismatched.data = seed_files_drop_first(f->state.data, "<Position ", &mismatched.len);
    const char *boom_xml = "<Integrator type=\"VerletIntegrator\" version=\"1\" stepSize=\".05\" "
                           "constraintTolerance=\"1e-05\"/>";
    struct text boom = {(char *)boom_xml, strlen(boom_xml)};
    const char *hot_xml = "<Integrator type=\"LangevinMiddleIntegrator\" version=\"1\" stepSize=\".0005\" "
                          "temperature=\"20000\" friction=\"1000\" constraintTolerance=\"1e-05\" "
                          "randomSeed=\"0\"/>";
    struct text hot = {(char *)hot_xml, strlen(hot_xml)};
    add_stream(f, target, &cut, &f->state, &f->langevin, ids[0], sizeof ids[0]);
    add_stream(f, target, &f->system, &empty, &f->langevin, ids[1], sizeof ids[1]);
    add_stream(f, target, &f->system, &mismatched, &f->langevin, ids[2], sizeof ids[2]);
    add_stream(f, target, &f->system, &f->state, &boom, ids[3], sizeof ids[3]);
    add_stream(f, target, &f->system, &f->state, &hot, ids[4], sizeof ids[4]);
    add_stream(f, target, &f->system, &f->state, &f->langevin, ids[5], sizeof ids[5]);
    long errors = 0;
    long committed = run_core(f, target, 6, 4, &errors);
    assert_true(errors >= 5);
    long good = 0;
    for (int i = 0; i < 6; i++) {
        json_t *info = stream_info(f, ids[i]);
        long error_count = (long)json_integer_value(json_object_get(info, "error_count"));
        long frames = (long)json_integer_value(json_object_get(info, "frames"));
        if (i < 5) {
            assert_true(error_count >= 1);
        } else {
            assert_int_equal(error_count, 0);
            assert_true(frames > 0);
        }
        if (i != 3 && i != 5)
            assert_int_equal(frames, 0);
        good += frames;
        json_decref(info);
    }
    assert_int_equal(good, committed);
    free(mismatched.data);
}

/* A platform this machine lacks is the core's problem, not the stream's:
 * the core stops before asking for work and no stream counts an error. */
static void test_a_missing_platform_ends_the_core_not_the_stream(void **state)
{
    struct fixture *f = *state;
    char target[64], id[256], args[512];
    if (has_platform("OpenCL"))
        skip(); /* this machine has OpenCL */
    make_target(f, target, sizeof target);
    add_stream(f, target, &f->system, &f->state, &f->langevin, id, sizeof id);
    snprintf(args, sizeof args, "--key %s --engine openmm --platform OpenCL --target %s --duration 2", f->key,
             target);
    assert_null(cluster_run_core(&f->c, args));
    json_t *info = stream_info(f, id);
    assert_int_equal(json_integer_value(json_object_get(info, "error_count")), 0);
    assert_false(json_is_true(json_object_get(info, "active")));
    json_decref(info);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_langevin_stream_hands_off_seamlessly),
        cmocka_unit_test(test_verlet_stream_equals_an_uninterrupted_run),
        cmocka_unit_test(test_bad_streams_are_errors_and_the_core_goes_on),
        cmocka_unit_test(test_a_missing_platform_ends_the_core_not_the_stream),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
