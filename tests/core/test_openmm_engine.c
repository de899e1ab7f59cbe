/* openmm_engine through core_engine, on alanine dipeptide (22 atoms, OBC2,
 * tests/core/data/openmm): frames, checkpoints that resume exactly, fresh
 * noise per activation, engines side by side in threads (as the cores of one
 * process run), and bad files that end in an error, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_engine.h"
#include "core/openmm_engine.h"
#include "core/xtc.h"
#include "seed_files.h"

#define NATOMS 22
#define SPF 10

struct text {
    char *data;
    size_t len;
};

static struct text sys_xml, state_xml, verlet_xml, langevin_xml;

static struct text load(const char *name)
{
    struct text t;
    t.data = seed_files_openmm_data(name, &t.len);
    return t;
}

static int setup(void **state)
{
    (void)state;
    sys_xml = load("system.xml.gz");
    state_xml = load("state.xml.gz");
    verlet_xml = load("verlet.xml.gz");
    langevin_xml = load("langevin.xml.gz");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(sys_xml.data);
    free(state_xml.data);
    free(verlet_xml.data);
    free(langevin_xml.data);
    return 0;
}

static const struct core_engine_settings cpu1 = {"CPU", 1};

static core_engine *open_engine(const char *system, size_t system_len, const char *state, size_t state_len,
                                const struct text *integrator, char *err, size_t errlen)
{
    core_file files[] = {{"system.xml", system, system_len},
                         {"state.xml", state, state_len},
                         {"integrator.xml", integrator->data, integrator->len},
                         {"notes.txt", "ignored", 7}};
    json_t *opts = json_pack("{s:i}", "steps_per_frame", SPF);
    core_engine *e = core_engine_create(&openmm_engine_ops, files, 4, opts, &cpu1, err, errlen);
    json_decref(opts);
    return e;
}

static core_engine *open_ok(const char *state, size_t state_len, const struct text *integrator)
{
    char err[512] = "";
    core_engine *e = open_engine(sys_xml.data, sys_xml.len, state, state_len, integrator, err, sizeof err);
    if (!e)
        fail_msg("create failed: %s", err);
    return e;
}

/* Appends n frames to *traj. */
static void frames(core_engine *e, int n, unsigned char **traj, size_t *len)
{
    char err[512];
    for (int i = 0; i < n; i++) {
        size_t flen = 0;
        const unsigned char *f = core_engine_advance(e, &flen, err, sizeof err);
        if (!f)
            fail_msg("advance failed: %s", err);
        *traj = realloc(*traj, *len + flen);
        memcpy(*traj + *len, f, flen);
        *len += flen;
    }
}

static char *checkpoint(core_engine *e, size_t *len)
{
    char err[512];
    char *xml = core_engine_checkpoint(e, len, err, sizeof err);
    if (!xml)
        fail_msg("checkpoint failed: %s", err);
    return xml;
}

static void test_frames_are_compressed_xtc_of_the_system(void **state)
{
    (void)state;
    core_engine *e = open_ok(state_xml.data, state_xml.len, &langevin_xml);
    assert_int_equal(core_engine_natoms(e), NATOMS);
    assert_int_equal(core_engine_step(e), 0);
    unsigned char *traj = NULL;
    size_t len = 0;
    frames(e, 3, &traj, &len);
    assert_int_equal(core_engine_step(e), 3 * SPF);

    xtc_reader r;
    xtc_frame f;
    char err[256];
    xtc_reader_init(&r, traj, len);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(xtc_reader_next(&r, &f, err, sizeof err), 1);
        assert_int_equal(f.natoms, NATOMS);
        assert_int_equal(f.step, i * SPF);
        assert_float_equal(f.time, i * SPF * 0.002, 1e-6);
        assert_float_equal(f.box[0][0], 0, 0); /* no periodic boundaries: no box */
        for (int a = 0; a < NATOMS; a++)
            for (int k = 0; k < 3; k++)
                assert_true(isfinite(f.coords[a][k]) && fabsf(f.coords[a][k]) < 5);
    }
    assert_int_equal(xtc_reader_next(&r, &f, err, sizeof err), 0);
    xtc_reader_free(&r);

    size_t xlen = 0;
    char *xml = checkpoint(e, &xlen);
    assert_int_equal(strlen(xml), xlen);
    assert_non_null(strstr(xml, "stepCount=\"30\""));
    assert_non_null(strstr(xml, "<Velocities>"));
    free(xml);
    free(traj);
    core_engine_free(e);
}

/* Verlet on one CPU thread is deterministic: 4 frames in one run equal
 * 2 frames, a checkpoint, and 2 frames in a second engine, byte for byte. */
static void test_verlet_resume_is_bit_identical(void **state)
{
    (void)state;
    unsigned char *whole = NULL, *split = NULL;
    size_t whole_len = 0, split_len = 0, clen = 0, clen2 = 0;
    core_engine *a = open_ok(state_xml.data, state_xml.len, &verlet_xml);
    frames(a, 4, &whole, &whole_len);
    char *end_whole = checkpoint(a, &clen);
    core_engine_free(a);

    core_engine *b = open_ok(state_xml.data, state_xml.len, &verlet_xml);
    frames(b, 2, &split, &split_len);
    char *mid = checkpoint(b, &clen);
    core_engine_free(b);
    core_engine *c = open_ok(mid, clen, &verlet_xml);
    assert_int_equal(core_engine_step(c), 2 * SPF);
    frames(c, 2, &split, &split_len);
    char *end_split = checkpoint(c, &clen2);
    core_engine_free(c);

    assert_int_equal(split_len, whole_len);
    assert_memory_equal(split, whole, whole_len);
    assert_string_equal(end_split, end_whole);
    free(whole);
    free(split);
    free(mid);
    free(end_whole);
    free(end_split);
}

/* A resumed Langevin run starts exactly at the checkpoint (its own
 * checkpoint before stepping is the same text) and draws fresh noise. */
static void test_langevin_resume_is_exact_and_noise_is_fresh(void **state)
{
    (void)state;
    unsigned char *t1 = NULL, *t2 = NULL;
    size_t len = 0, len2 = 0, l1 = 0, l2 = 0;
    core_engine *a = open_ok(state_xml.data, state_xml.len, &langevin_xml);
    frames(a, 2, &t1, &l1);
    char *ckpt = checkpoint(a, &len);
    core_engine_free(a);
    free(t1);
    t1 = NULL;
    l1 = 0;

    core_engine *b = open_ok(ckpt, len, &langevin_xml);
    char *again = checkpoint(b, &len2);
    assert_string_equal(again, ckpt);
    core_engine *c = open_ok(ckpt, len, &langevin_xml);
    frames(b, 1, &t1, &l1);
    frames(c, 1, &t2, &l2);
    assert_int_equal(core_engine_step(b), 3 * SPF);
    assert_int_equal(core_engine_step(c), 3 * SPF);
    assert_true(l1 != l2 || memcmp(t1, t2, l1) != 0);
    core_engine_free(b);
    core_engine_free(c);
    free(t1);
    free(t2);
    free(ckpt);
    free(again);
}

static void expect_refused(const char *system, size_t system_len, const char *state, size_t state_len,
                           const struct text *integrator, const char *needle)
{
    char err[512] = "";
    core_engine *e = open_engine(system, system_len, state, state_len, integrator, err, sizeof err);
    if (e)
        fail_msg("accepted a bad stream (expected '%s')", needle);
    if (!strstr(err, needle))
        fail_msg("error '%s' lacks '%s'", err, needle);
}

/* OpenMM's own reader runs past the end of a truncated file; these must be
 * caught before it sees them. */
/* A cut point from the first byte (fraction 0) to just before the last
 * non-blank one (fraction 1). */
static size_t cut_at(double fraction, const char *data, size_t len)
{
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == ' '))
        len--;
    return 1 + (size_t)(fraction * (double)(len - 2));
}

static void test_truncated_and_empty_files_are_errors(void **state)
{
    (void)state;
    /* Fractions of each file kept: from its first byte to all but its last. */
    const double cuts[] = {0, 0.1, 0.25, 0.5, 0.75, 0.9, 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        size_t sn = cut_at(cuts[i], sys_xml.data, sys_xml.len);
        expect_refused(sys_xml.data, sn, state_xml.data, state_xml.len, &langevin_xml,
                       "system.xml is not well-formed XML");
        size_t tn = cut_at(cuts[i], state_xml.data, state_xml.len);
        expect_refused(sys_xml.data, sys_xml.len, state_xml.data, tn, &langevin_xml,
                       "state.xml is not well-formed XML");
        struct text cut = {langevin_xml.data, cut_at(cuts[i], langevin_xml.data, langevin_xml.len)};
        expect_refused(sys_xml.data, sys_xml.len, state_xml.data, state_xml.len, &cut,
                       "integrator.xml is not well-formed XML");
    }
    expect_refused("", 0, state_xml.data, state_xml.len, &langevin_xml, "system.xml is empty");
    expect_refused(sys_xml.data, sys_xml.len, "", 0, &langevin_xml, "state.xml is empty");
    struct text empty = {"", 0};
    expect_refused(sys_xml.data, sys_xml.len, state_xml.data, state_xml.len, &empty,
                   "integrator.xml is empty");
}

static void test_mismatched_and_foreign_files_are_errors(void **state)
{
    (void)state;
    size_t len = 0;
    char *short_pos = seed_files_drop_first(state_xml.data, "<Position ", &len);
    expect_refused(sys_xml.data, sys_xml.len, short_pos, len, &langevin_xml,
                   "state.xml has 21 positions; system.xml has 22 particles");
    free(short_pos);
    char *short_vel = seed_files_drop_first(state_xml.data, "<Velocity ", &len);
    expect_refused(sys_xml.data, sys_xml.len, short_vel, len, &langevin_xml, "state.xml has 21 velocities");
    free(short_vel);
    /* XmlSerializer casts to whatever the caller asked for: a State given as
     * the system must be refused by its type. */
    expect_refused(state_xml.data, state_xml.len, state_xml.data, state_xml.len, &langevin_xml,
                   "system.xml: the root element's type is 'State'");
    struct text sys_as_integrator = {sys_xml.data, sys_xml.len};
    expect_refused(sys_xml.data, sys_xml.len, state_xml.data, state_xml.len, &sys_as_integrator,
                   "integrator.xml: the root element's type is 'System'");
    /* ... and so must every object inside: a force, a tabulated function. */
    char *sys_copy = strdup(sys_xml.data);
    char *bond = strstr(sys_copy, "type=\"HarmonicBondForce\"");
    assert_non_null(bond);
    memcpy(bond, "type=\"State\"            ", strlen("type=\"HarmonicBondForce\""));
    expect_refused(sys_copy, strlen(sys_copy), state_xml.data, state_xml.len, &langevin_xml,
                   "system.xml: a <Force> where a force belongs has type 'State'");
    free(sys_copy);
    const char *fn = "<Integrator type=\"CustomIntegrator\" version=\"2\" stepSize=\".001\"><Functions>"
                     "<Function name=\"t\" type=\"HarmonicBondForce\"/></Functions></Integrator>";
    struct text fn_t = {(char *)fn, strlen(fn)};
    expect_refused(
        sys_xml.data, sys_xml.len, state_xml.data, state_xml.len, &fn_t,
        "integrator.xml: a <Function> where a tabulated function belongs has type 'HarmonicBondForce'");
    const char *doctype = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><State type=\"State\"/>";
    expect_refused(sys_xml.data, sys_xml.len, doctype, strlen(doctype), &langevin_xml, "DOCTYPE");
    const char *unknown = "<State type=\"State\" version=\"1\"><Positions><Position/></Positions></State>";
    expect_refused(sys_xml.data, sys_xml.len, unknown, strlen(unknown), &langevin_xml, "state.xml has 1");

    char err[512] = "";
    core_file only_two[] = {{"system.xml", sys_xml.data, sys_xml.len},
                            {"state.xml", state_xml.data, state_xml.len}};
    assert_null(core_engine_create(&openmm_engine_ops, only_two, 2, NULL, &cpu1, err, sizeof err));
    assert_non_null(strstr(err, "stream file integrator.xml is missing"));
    core_file files[] = {{"system.xml", sys_xml.data, sys_xml.len},
                         {"state.xml", state_xml.data, state_xml.len},
                         {"integrator.xml", langevin_xml.data, langevin_xml.len}};
    struct core_engine_settings nowhere = {"Nowhere", 0};
    assert_int_equal(openmm_engine_ops.check(&cpu1, err, sizeof err), 0);
    assert_int_equal(openmm_engine_ops.check(&nowhere, err, sizeof err), -1);
    assert_non_null(strstr(err, "OpenMM has no platform Nowhere on this machine (it has "));
    assert_null(core_engine_create(&openmm_engine_ops, files, 3, NULL, &nowhere, err, sizeof err));
    assert_non_null(strstr(err, "Nowhere"));
}

/* A seed state with a non-finite velocity is refused; a run that blows up
 * never yields a checkpoint. */
static void test_non_finite_states_never_checkpoint(void **state)
{
    (void)state;
    char *bad = strdup(state_xml.data);
    char *v = strstr(bad, "<Velocity x=\"");
    assert_non_null(v);
    v += strlen("<Velocity x=\"");
    char *q = strchr(v, '"');
    memset(v, ' ', (size_t)(q - v));
    memcpy(v, "nan", 3);
    expect_refused(sys_xml.data, sys_xml.len, bad, strlen(bad), &langevin_xml, "a velocity is not finite");
    free(bad);

    /* A 50 fs step tears the molecule apart. */
    const char *boom = "<Integrator type=\"VerletIntegrator\" version=\"1\" stepSize=\".05\" "
                       "constraintTolerance=\"1e-05\"/>";
    struct text boom_t = {(char *)boom, strlen(boom)};
    core_engine *e = open_ok(state_xml.data, state_xml.len, &boom_t);
    char err[512] = "";
    int failed = 0;
    for (int i = 0; i < 20 && !failed; i++) {
        size_t len = 0;
        if (!core_engine_advance(e, &len, err, sizeof err)) {
            failed = 1;
            break;
        }
        char *xml = core_engine_checkpoint(e, &len, err, sizeof err);
        failed = xml == NULL;
        free(xml);
    }
    assert_true(failed);
    assert_true(err[0] != '\0');
    core_engine_free(e);
}

/* A thermostat at 20,000 K heats the molecule past the energy-jump limit
 * within one frame while everything stays finite: the checkpoint is
 * refused, and so is every later one (the baseline stays the last good
 * state). */
static void test_energy_jump_refuses_the_checkpoint(void **state)
{
    (void)state;
    const char *hot =
        "<Integrator type=\"LangevinMiddleIntegrator\" version=\"1\" stepSize=\".0005\" "
        "temperature=\"20000\" friction=\"1000\" constraintTolerance=\"1e-05\" randomSeed=\"0\"/>";
    struct text hot_t = {(char *)hot, strlen(hot)};
    core_engine *e = open_ok(state_xml.data, state_xml.len, &hot_t);
    char err[512] = "";
    size_t len = 0;
    for (int i = 0; i < 2; i++) {
        if (!core_engine_advance(e, &len, err, sizeof err))
            fail_msg("advance failed: %s", err);
        assert_null(core_engine_checkpoint(e, &len, err, sizeof err));
        if (!strstr(err, "total energy rose"))
            fail_msg("error '%s' lacks 'total energy rose'", err);
    }
    core_engine_free(e);
}

static void test_check_state(void **state)
{
    (void)state;
    double x[6] = {0, 0, 0, 1, 1, 1}, v[6] = {0};
    char err[256];
    struct openmm_engine_sample s = {2, x, v, -10, 5};
    assert_int_equal(openmm_engine_check_state(&s, NAN, err, sizeof err), 0);
    assert_int_equal(
        openmm_engine_check_state(&s, -5 - 2 * OPENMM_ENGINE_ENERGY_JUMP_PER_ATOM + 1, err, sizeof err), 0);
    assert_int_equal(
        openmm_engine_check_state(&s, -5 - 2 * OPENMM_ENGINE_ENERGY_JUMP_PER_ATOM - 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "total energy rose"));
    s.potential = INFINITY;
    assert_int_equal(openmm_engine_check_state(&s, NAN, err, sizeof err), -1);
    assert_non_null(strstr(err, "energy is not finite"));
    s.potential = 0;
    x[4] = NAN;
    assert_int_equal(openmm_engine_check_state(&s, NAN, err, sizeof err), -1);
    assert_non_null(strstr(err, "position is not finite"));
    x[4] = 0;
    v[5] = -INFINITY;
    assert_int_equal(openmm_engine_check_state(&s, NAN, err, sizeof err), -1);
    assert_non_null(strstr(err, "velocity is not finite"));
}

/* ---- engines in threads ----------------------------------------------- */

#define THREADS 4
#define ROUNDS 12

static atomic_int thread_failures;
static char thread_failure[600];

/* What one core thread does to its engines: build, run, checkpoint, resume
 * from the checkpoint. Failures are counted, not asserted: cmocka's checks
 * belong to the main thread. */
static void *engine_rounds(void *arg)
{
    (void)arg;
    char err[512] = "";
    for (int i = 0; i < ROUNDS; i++) {
        core_engine *e = open_engine(sys_xml.data, sys_xml.len, state_xml.data, state_xml.len, &langevin_xml,
                                     err, sizeof err);
        size_t len = 0, flen = 0;
        char *xml = NULL;
        core_engine *resumed = NULL;
        for (int f = 0; e && f < 3 && core_engine_advance(e, &flen, err, sizeof err) != NULL; f++)
            len++;
        if (e && len == 3 && (xml = core_engine_checkpoint(e, &flen, err, sizeof err)) != NULL)
            resumed = open_engine(sys_xml.data, sys_xml.len, xml, flen, &langevin_xml, err, sizeof err);
        if (resumed == NULL || core_engine_step(resumed) != 3 * SPF) {
            if (atomic_fetch_add(&thread_failures, 1) == 0)
                snprintf(thread_failure, sizeof thread_failure, "round %d: %s", i, err);
        }
        core_engine_free(resumed);
        free(xml);
        core_engine_free(e);
    }
    return NULL;
}

/* OpenMM 7.7 garbles systems parsed by two threads at once (NaN positions,
 * "angle must be between 0 and pi", measured), and its CPU platform keeps
 * its contexts in one unlocked map: engines must still run side by side. */
static void test_engines_in_threads_side_by_side(void **state)
{
    (void)state;
    pthread_t threads[THREADS];
    atomic_store(&thread_failures, 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, engine_rounds, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    if (atomic_load(&thread_failures) != 0)
        fail_msg("%d of %d rounds failed; first: %s", atomic_load(&thread_failures), THREADS * ROUNDS,
                 thread_failure);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_are_compressed_xtc_of_the_system),
        cmocka_unit_test(test_verlet_resume_is_bit_identical),
        cmocka_unit_test(test_langevin_resume_is_exact_and_noise_is_fresh),
        cmocka_unit_test(test_truncated_and_empty_files_are_errors),
        cmocka_unit_test(test_mismatched_and_foreign_files_are_errors),
        cmocka_unit_test(test_non_finite_states_never_checkpoint),
        cmocka_unit_test(test_energy_jump_refuses_the_checkpoint),
        cmocka_unit_test(test_check_state),
        cmocka_unit_test(test_engines_in_threads_side_by_side),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
