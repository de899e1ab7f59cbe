/* The toy engine: determinism across checkpoints, sanity, and bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/md_engine.h"

typedef struct seeds {
    char *system;
    size_t system_len;
    char *state;
    size_t state_len;
} seeds;

static seeds make_seeds(uint64_t seed, int natoms)
{
    seeds s;
    char err[256] = "";
    assert_int_equal(md_engine_make_seed_files(seed, natoms, &s.system, &s.system_len, &s.state, &s.state_len,
                                               err, sizeof err),
                     0);
    return s;
}

static void free_seeds(seeds *s)
{
    free(s->system);
    free(s->state);
}

static md_engine *create(const char *system, const char *state, const json_t *options, char *err,
                         size_t errlen)
{
    core_file files[3] = {{"system.json", system, system ? strlen(system) : 0},
                          {"state.json", state, state ? strlen(state) : 0},
                          {"notes.txt", "ignored", 7}};
    return md_engine_create(files, 3, options, err, errlen);
}

static md_engine *create_ok(const char *system, const char *state, int steps_per_frame)
{
    char err[256] = "";
    json_t *opts = json_pack("{s:i}", "steps_per_frame", steps_per_frame);
    md_engine *e = create(system, state, opts, err, sizeof err);
    json_decref(opts);
    if (!e)
        fail_msg("create failed: %s", err);
    return e;
}

/* Runs n frames, appending them to *traj (realloc'd, length *len). */
static void run_frames(md_engine *e, int n, unsigned char **traj, size_t *len)
{
    for (int i = 0; i < n; i++) {
        unsigned char buf[MD_ENGINE_FRAME_MAX_BYTES];
        char err[256] = "";
        size_t got = md_engine_advance(e, buf, sizeof buf, err, sizeof err);
        if (got == 0)
            fail_msg("advance failed: %s", err);
        *traj = realloc(*traj, *len + got);
        assert_non_null(*traj);
        memcpy(*traj + *len, buf, got);
        *len += got;
    }
}

/* Sets root[key] (or root[outer][key]) in a JSON text; returns new text. */
static char *edit(const char *text, const char *outer, const char *key, json_t *value)
{
    json_t *root = json_loads(text, 0, NULL);
    assert_non_null(root);
    json_t *obj = outer ? json_object_get(root, outer) : root;
    assert_non_null(obj);
    json_object_set_new(obj, key, value);
    char *out = json_dumps(root, JSON_REAL_PRECISION(17));
    json_decref(root);
    return out;
}

static void test_checkpoint_restore_is_bit_exact(void **state)
{
    (void)state;
    seeds s = make_seeds(42, 0);
    unsigned char *full = NULL, *split = NULL;
    size_t full_len = 0, split_len = 0;

    md_engine *a = create_ok(s.system, s.state, 50);
    run_frames(a, 10, &full, &full_len);

    md_engine *b = create_ok(s.system, s.state, 50);
    run_frames(b, 5, &split, &split_len);
    size_t ck_len = 0;
    char *ck = md_engine_checkpoint(b, &ck_len);
    assert_non_null(ck);
    assert_int_equal(ck_len, strlen(ck));
    md_engine_free(b);

    /* What a resumed core gets: the checkpoint's state.json, the seed's system.json. */
    md_engine *c = create_ok(s.system, ck, 50);
    assert_int_equal(md_engine_step(c), 250);
    run_frames(c, 5, &split, &split_len);

    assert_int_equal(split_len, full_len);
    assert_memory_equal(split, full, full_len);
    size_t la, lc;
    char *cka = md_engine_checkpoint(a, &la), *ckc = md_engine_checkpoint(c, &lc);
    assert_string_equal(cka, ckc);
    assert_string_not_equal(cka, ck); /* the state did move on */

    free(cka);
    free(ckc);
    free(ck);
    free(full);
    free(split);
    md_engine_free(a);
    md_engine_free(c);
    free_seeds(&s);
}

static void test_seeds_are_deterministic(void **state)
{
    (void)state;
    seeds a = make_seeds(7, 5), b = make_seeds(7, 5), c = make_seeds(8, 5);
    assert_string_equal(a.state, b.state);
    assert_string_equal(a.system, b.system);
    assert_string_not_equal(a.state, c.state);
    md_engine *e = create_ok(a.system, a.state, 10);
    assert_int_equal(md_engine_natoms(e), 5);
    assert_int_equal(md_engine_step(e), 0);
    assert_int_equal(md_engine_steps_per_frame(e), 10);
    md_engine_free(e);
    free_seeds(&a);
    free_seeds(&b);
    free_seeds(&c);
}

static void test_trajectory_is_consistent(void **state)
{
    (void)state;
    seeds s = make_seeds(3, 9);
    md_engine *e = create_ok(s.system, s.state, 100);
    unsigned char *traj = NULL;
    size_t len = 0;
    run_frames(e, 20, &traj, &len);
    char err[256] = "";
    assert_int_equal(xtc_check_trajectory(traj, len, err, sizeof err), 20);
    xtc_reader r;
    xtc_frame f;
    xtc_reader_init(&r, traj, len);
    for (int i = 1; i <= 20; i++) {
        assert_int_equal(xtc_reader_next(&r, &f, err, sizeof err), 1);
        assert_int_equal(f.natoms, 9);
        assert_int_equal(f.step, 100 * i);
        assert_float_equal(f.time, 0.2 * i, 1e-5);
        for (int a = 0; a < 9; a++)
            for (int k = 0; k < 3; k++)
                assert_true(f.coords[a][k] >= 0 && f.coords[a][k] <= f.box[k][k]);
    }
    xtc_reader_free(&r);
    assert_int_equal(md_engine_step(e), 2000);
    assert_float_equal(md_engine_time(e), 4.0, 1e-9);
    free(traj);
    md_engine_free(e);
    free_seeds(&s);
}

static void test_energy_stays_bounded(void **state)
{
    (void)state;
    seeds s = make_seeds(11, 8);
    md_engine *e = create_ok(s.system, s.state, 100);
    unsigned char *traj = NULL;
    size_t len = 0;
    double ke_sum = 0;
    for (int i = 0; i < 100; i++) {
        run_frames(e, 1, &traj, &len);
        double ke = md_engine_kinetic_energy(e), pe = md_engine_potential_energy(e);
        assert_true(isfinite(ke) && isfinite(pe));
        assert_true(pe > -8 * 7 / 2 * 0.996); /* no deeper than every pair at the LJ minimum */
        assert_true(ke < 100.0);              /* 3/2 N kT at 120 K is about 12 kJ/mol */
        ke_sum += ke;
    }
    /* The thermostat holds the average near 3/2 N k T (generous bounds: 8 particles fluctuate). */
    double expected = 1.5 * 8 * 0.0083144626 * 120.0;
    assert_true(ke_sum / 100 > expected / 3 && ke_sum / 100 < expected * 3);
    free(traj);
    md_engine_free(e);
    free_seeds(&s);
}

static void test_verlet_conserves_energy(void **state)
{
    (void)state;
    seeds s = make_seeds(5, 8);
    char *nve = edit(s.system, "integrator", "friction", json_real(0));
    md_engine *e = create_ok(nve, s.state, 100);
    double e0 = md_engine_kinetic_energy(e) + md_engine_potential_energy(e);
    unsigned char *traj = NULL;
    size_t len = 0;
    run_frames(e, 20, &traj, &len);
    double e1 = md_engine_kinetic_energy(e) + md_engine_potential_energy(e);
    assert_true(fabs(e1 - e0) < 0.005 * fabs(e0));
    free(traj);
    free(nve);
    md_engine_free(e);
    free_seeds(&s);
}

/* Creating from these files must fail with a message containing want. */
static void expect_rejected(const char *system, const char *state, const char *want)
{
    char err[256] = "";
    md_engine *e = create(system, state, NULL, err, sizeof err);
    if (e)
        fail_msg("accepted files that should fail with \"%s\"", want);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not mention \"%s\"", err, want);
}

static void expect_system_edit_rejected(const seeds *s, const char *outer, const char *key, json_t *v,
                                        const char *want)
{
    char *sys = edit(s->system, outer, key, v);
    expect_rejected(sys, s->state, want);
    free(sys);
}

static void expect_state_edit_rejected(const seeds *s, const char *key, json_t *v, const char *want)
{
    char *st = edit(s->state, NULL, key, v);
    expect_rejected(s->system, st, want);
    free(st);
}

static void test_bad_seed_files(void **state)
{
    (void)state;
    seeds s = make_seeds(1, 4);
    char err[256] = "";
    core_file only_system[1] = {{"system.json", s.system, s.system_len}};
    assert_null(md_engine_create(only_system, 1, NULL, err, sizeof err));
    assert_non_null(strstr(err, "state.json is missing"));
    core_file only_state[1] = {{"state.json", s.state, s.state_len}};
    assert_null(md_engine_create(only_state, 1, NULL, err, sizeof err));
    assert_non_null(strstr(err, "system.json is missing"));
    core_file twice[3] = {{"system.json", s.system, s.system_len},
                          {"state.json", s.state, s.state_len},
                          {"state.json", s.state, s.state_len}};
    assert_null(md_engine_create(twice, 3, NULL, err, sizeof err));
    assert_non_null(strstr(err, "twice"));
    char *big = malloc(MD_ENGINE_MAX_FILE_BYTES + 2);
    memset(big, ' ', MD_ENGINE_MAX_FILE_BYTES + 1);
    big[MD_ENGINE_MAX_FILE_BYTES + 1] = '\0';
    expect_rejected(big, s.state, "limit");
    free(big);

    expect_rejected("{\"engine\": \"toy\",", s.state, "system.json is not valid JSON");
    expect_rejected(s.system, "", "state.json is not valid JSON");
    expect_rejected("[1, 2]", s.state, "must hold a JSON object");
    expect_rejected("{\"engine\": \"openmm\"}", s.state, "\"engine\" must be \"toy\"");
    expect_rejected(s.system, "{\"engine\": \"toy\", \"engine\": \"toy\"}",
                    "not valid JSON"); /* duplicate key */

    expect_system_edit_rejected(&s, NULL, "masses",
                                json_pack("[i,i,i,i,i,i,i,i,i,i]", 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
                                "1 to 9 particle masses");
    expect_system_edit_rejected(&s, NULL, "masses", json_pack("[f,f,f,f]", 1.0, 1.0, -1.0, 1.0), "masses[2]");
    expect_system_edit_rejected(&s, NULL, "masses", json_pack("[f,f,f]", 1.0, 1.0, 1.0),
                                "array of 3 [x, y, z] triples");
    expect_system_edit_rejected(&s, NULL, "box", json_pack("[f,f]", 3.0, 3.0),
                                "\"box\" must be an array of 3");
    expect_system_edit_rejected(&s, NULL, "box", json_pack("[f,f,s]", 3.0, 3.0, "3"), "\"box\"[2]");
    expect_system_edit_rejected(&s, NULL, "box", json_pack("[f,f,f]", 3.0, 0.0, 3.0), "at least 0.1 nm");
    expect_system_edit_rejected(&s, NULL, "potential", json_string("lj"),
                                "\"potential\" must be a JSON object");
    expect_system_edit_rejected(&s, "potential", "type", json_string("coulomb"), "\"lennard-jones\"");
    expect_system_edit_rejected(&s, "potential", "cutoff", json_real(0.81),
                                "\"cutoff\" must be a number > 0 and <= 0.8");
    expect_system_edit_rejected(&s, "potential", "sigma", json_real(0.9), "\"sigma\"");
    expect_system_edit_rejected(&s, "potential", "epsilon", json_real(0), "\"epsilon\" must be a number > 0");
    expect_system_edit_rejected(&s, "integrator", "dt", json_real(-0.002), "\"dt\"");
    expect_system_edit_rejected(&s, "integrator", "dt", json_string("0.002"), "\"dt\"");
    expect_system_edit_rejected(&s, "integrator", "friction", json_integer(2000),
                                "\"friction\" must be a number >= 0 and <= 1000");
    expect_system_edit_rejected(&s, "integrator", "temperature", json_real(-1),
                                "\"temperature\" must be a number >= 0");

    expect_state_edit_rejected(&s, "version", json_integer(2), "\"version\" must be 1");
    expect_system_edit_rejected(&s, NULL, "version", json_string("1"), "\"version\" must be 1");
    expect_state_edit_rejected(&s, "step", json_integer(-1), "\"step\" must be an integer");
    expect_state_edit_rejected(&s, "step", json_real(5), "\"step\" must be an integer");
    expect_state_edit_rejected(&s, "step", json_integer(INT64_C(1) << 31), "\"step\" must be an integer");
    expect_state_edit_rejected(&s, "rng", json_string("xyz"), "\"rng\" must be 16");
    expect_state_edit_rejected(&s, "rng", json_integer(12), "\"rng\" must be 16");
    expect_state_edit_rejected(&s, "rng", json_string("0123456789ABCDEF"), "\"rng\" must be 16");
    expect_state_edit_rejected(&s, "positions", json_pack("[[f,f,f]]", 0.1, 0.2, 0.3),
                               "\"positions\" must be an array of 4");
    expect_state_edit_rejected(&s, "velocities", json_null(), "\"velocities\" must be an array of 4");
    expect_state_edit_rejected(
        &s, "positions",
        json_pack("[[f,f,f],[f,f,f],[f,f,f],[f,f]]", 0.1, 0.1, 0.1, 0.6, 0.6, 0.6, 1.2, 1.2, 1.2, 0.5, 0.5),
        "positions[3] must be an array of 3");
    expect_state_edit_rejected(&s, "positions",
                               json_pack("[[f,f,f],[f,f,f],[f,f,f],[f,f,f]]", 0.1, 0.1, 0.1, 0.6, 0.6, 0.6,
                                         1.2, 1.2, 1.2, 0.15, 0.1, 0.1),
                               "particles 0 and 3 are");
    /* Overlap across the periodic boundary counts too. */
    expect_state_edit_rejected(&s, "positions",
                               json_pack("[[f,f,f],[f,f,f],[f,f,f],[f,f,f]]", 0.05, 0.1, 0.1, 0.6, 0.6, 0.6,
                                         1.2, 1.2, 1.2, 1.58, 0.1, 0.1),
                               "particles 0 and 3 are");
    expect_state_edit_rejected(&s, "velocities",
                               json_pack("[[f,f,f],[f,f,f],[f,f,f],[f,f,f]]", 0.1, 0.1, 0.1, 0.6, 0.6, 0.6,
                                         1.2, 1.2, 1.2, 1e5, 0.1, 0.1),
                               "velocities[3][0] must be a number between");
    free_seeds(&s);
}

static void test_steps_per_frame_option(void **state)
{
    (void)state;
    int spf = 0;
    char err[256] = "";
    assert_int_equal(md_engine_parse_options(NULL, &spf, err, sizeof err), 0);
    assert_int_equal(spf, MD_ENGINE_DEFAULT_STEPS_PER_FRAME);
    json_t *ok[] = {json_object(), json_pack("{s:i}", "steps_per_frame", 1),
                    json_pack("{s:i}", "steps_per_frame", MD_ENGINE_MAX_STEPS_PER_FRAME),
                    json_pack("{s:i, s:s}", "steps_per_frame", 250, "other", "ignored")};
    int want[] = {MD_ENGINE_DEFAULT_STEPS_PER_FRAME, 1, MD_ENGINE_MAX_STEPS_PER_FRAME, 250};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(md_engine_parse_options(ok[i], &spf, err, sizeof err), 0);
        assert_int_equal(spf, want[i]);
        json_decref(ok[i]);
    }
    json_t *bad[] = {json_pack("{s:i}", "steps_per_frame", 0),
                     json_pack("{s:i}", "steps_per_frame", -5),
                     json_pack("{s:I}", "steps_per_frame", (json_int_t)MD_ENGINE_MAX_STEPS_PER_FRAME + 1),
                     json_pack("{s:I}", "steps_per_frame", (json_int_t)1 << 40),
                     json_pack("{s:s}", "steps_per_frame", "100"),
                     json_pack("{s:f}", "steps_per_frame", 100.0),
                     json_pack("{s:b}", "steps_per_frame", 1),
                     json_pack("{s:n}", "steps_per_frame")};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(md_engine_parse_options(bad[i], &spf, err, sizeof err), -1);
        assert_non_null(strstr(err, "steps_per_frame must be an integer from 1 to 1000000"));
        json_decref(bad[i]);
    }
    json_t *arr = json_array();
    assert_int_equal(md_engine_parse_options(arr, &spf, err, sizeof err), -1);
    assert_non_null(strstr(err, "JSON object"));
    json_decref(arr);

    /* And create refuses to start with a bad option. */
    seeds s = make_seeds(2, 3);
    json_t *opts = json_pack("{s:i}", "steps_per_frame", 0);
    assert_null(create(s.system, s.state, opts, err, sizeof err));
    assert_non_null(strstr(err, "steps_per_frame"));
    json_decref(opts);
    free_seeds(&s);
}

static void test_advance_failures_keep_state(void **state)
{
    (void)state;
    seeds s = make_seeds(9, 6);
    md_engine *e = create_ok(s.system, s.state, 10);
    unsigned char small[XTC_RAW_FRAME_BYTES(6) - 1];
    char err[256] = "";
    size_t before_len, after_len;
    char *before = md_engine_checkpoint(e, &before_len);
    assert_int_equal(md_engine_advance(e, small, sizeof small, err, sizeof err), 0);
    assert_non_null(strstr(err, "too small"));
    char *after = md_engine_checkpoint(e, &after_len);
    assert_string_equal(before, after);
    free(before);
    free(after);
    md_engine_free(e);

    /* Near the XTC step limit the engine stops instead of wrapping. */
    char *late = edit(s.state, NULL, "step", json_integer(INT32_MAX - 1500));
    e = create_ok(s.system, late, 1000);
    unsigned char buf[MD_ENGINE_FRAME_MAX_BYTES];
    assert_int_equal(md_engine_advance(e, buf, sizeof buf, err, sizeof err), XTC_RAW_FRAME_BYTES(6));
    assert_int_equal(md_engine_advance(e, buf, sizeof buf, err, sizeof err), 0);
    assert_non_null(strstr(err, "XTC step limit"));
    assert_int_equal(md_engine_step(e), INT32_MAX - 500);
    md_engine_free(e);

    /* With a tiny step per frame, float time stops increasing long before that. */
    e = create_ok(s.system, late, 1);
    assert_int_equal(md_engine_advance(e, buf, sizeof buf, err, sizeof err), 0);
    assert_non_null(strstr(err, "no longer increases"));
    free(late);
    md_engine_free(e);
    free_seeds(&s);
}

static void test_unstable_run_reported(void **state)
{
    (void)state;
    seeds s = make_seeds(4, 2);
    char *sys1 = edit(s.system, NULL, "masses", json_pack("[f,f]", 1e-6, 1e-6));
    char *sys2 = edit(sys1, "potential", "epsilon", json_real(1000));
    char *sys = edit(sys2, "integrator", "dt", json_real(0.01));
    char *st =
        edit(s.state, NULL, "positions", json_pack("[[f,f,f],[f,f,f]]", 1.0, 1.0, 1.0, 1.0, 1.0, 1.18));
    md_engine *e = create_ok(sys, st, 10);
    unsigned char buf[MD_ENGINE_FRAME_MAX_BYTES];
    char err[256] = "";
    assert_int_equal(md_engine_advance(e, buf, sizeof buf, err, sizeof err), 0);
    assert_non_null(strstr(err, "unstable"));
    assert_int_equal(md_engine_step(e), 0);
    md_engine_free(e);
    free(sys1);
    free(sys2);
    free(sys);
    free(st);
    free_seeds(&s);
}

static void test_seed_file_arguments(void **state)
{
    (void)state;
    char *sys = NULL, *st = NULL;
    size_t a, b;
    char err[256] = "";
    assert_int_equal(
        md_engine_make_seed_files(1, MD_ENGINE_MAX_ATOMS + 1, &sys, &a, &st, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "1 to 9 particles"));
    assert_int_equal(md_engine_make_seed_files(1, -1, &sys, &a, &st, &b, err, sizeof err), -1);
    assert_null(sys);
    assert_int_equal(md_engine_make_seed_files(UINT64_MAX, 1, &sys, &a, &st, &b, err, sizeof err), 0);
    assert_int_equal(a, strlen(sys));
    assert_int_equal(b, strlen(st));
    md_engine *e = create_ok(sys, st, 5);
    assert_int_equal(md_engine_natoms(e), 1);
    md_engine_free(e);
    free(sys);
    free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_restore_is_bit_exact),
        cmocka_unit_test(test_seeds_are_deterministic),
        cmocka_unit_test(test_trajectory_is_consistent),
        cmocka_unit_test(test_energy_stays_bounded),
        cmocka_unit_test(test_verlet_conserves_energy),
        cmocka_unit_test(test_bad_seed_files),
        cmocka_unit_test(test_steps_per_frame_option),
        cmocka_unit_test(test_advance_failures_keep_state),
        cmocka_unit_test(test_unstable_run_reported),
        cmocka_unit_test(test_seed_file_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
