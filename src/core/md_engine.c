/* The toy engine: LJ particles, Langevin BAOAB, splitmix64. See md_engine.h. */
#include "core/md_engine.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOLTZMANN 0.0083144626 /* kJ/(mol K) */
#define MAX_ABS_VELOCITY 1e4   /* nm/ps; beyond this the run has blown up */
#define MIN_DISTANCE_SIGMAS 0.5
#define FORMAT_VERSION 1

struct md_engine {
    int natoms;
    int steps_per_frame;
    double box[3];
    double mass[MD_ENGINE_MAX_ATOMS];
    double epsilon, sigma, cutoff;
    double dt, temperature, friction;
    /* State: all of it is in the checkpoint except the forces, which are a
     * pure function of the positions. */
    int64_t step;
    uint64_t rng;
    double x[MD_ENGINE_MAX_ATOMS][3];
    double v[MD_ENGINE_MAX_ATOMS][3];
    double f[MD_ENGINE_MAX_ATOMS][3];
    double potential;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* splitmix64: one 64-bit word of state, which makes the checkpoint trivial. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform in (0, 1]: never 0, so log() below stays finite. */
static double rng_uniform(uint64_t *s)
{
    return (double)((rng_next(s) >> 11) + 1) * 0x1.0p-53;
}

/* Box-Muller, one value per call so the PRNG word is the whole state. */
static double rng_gauss(uint64_t *s)
{
    double u1 = rng_uniform(s);
    double u2 = rng_uniform(s);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static double wrap(double x, double len)
{
    double w = x - len * floor(x / len);
    return w >= len ? w - len : w;
}

static double min_image(double d, double len)
{
    return d - len * nearbyint(d / len);
}

static void compute_forces(md_engine *e)
{
    double rc2 = e->cutoff * e->cutoff;
    double s2 = e->sigma * e->sigma;
    double sr6c = (s2 / rc2) * (s2 / rc2) * (s2 / rc2);
    double shift = 4.0 * e->epsilon * (sr6c * sr6c - sr6c);
    memset(e->f, 0, sizeof e->f);
    e->potential = 0;
    for (int i = 0; i < e->natoms; i++) {
        for (int j = i + 1; j < e->natoms; j++) {
            double d[3], r2 = 0;
            for (int k = 0; k < 3; k++) {
                d[k] = min_image(e->x[i][k] - e->x[j][k], e->box[k]);
                r2 += d[k] * d[k];
            }
            if (r2 >= rc2)
                continue;
            double sr2 = s2 / r2, sr6 = sr2 * sr2 * sr2;
            e->potential += 4.0 * e->epsilon * (sr6 * sr6 - sr6) - shift;
            double fr = 24.0 * e->epsilon * (2.0 * sr6 * sr6 - sr6) / r2;
            for (int k = 0; k < 3; k++) {
                e->f[i][k] += fr * d[k];
                e->f[j][k] -= fr * d[k];
            }
        }
    }
}

static void half_kick(md_engine *e)
{
    for (int i = 0; i < e->natoms; i++)
        for (int k = 0; k < 3; k++)
            e->v[i][k] += 0.5 * e->dt * e->f[i][k] / e->mass[i];
}

static void half_drift(md_engine *e)
{
    for (int i = 0; i < e->natoms; i++)
        for (int k = 0; k < 3; k++)
            e->x[i][k] = wrap(e->x[i][k] + 0.5 * e->dt * e->v[i][k], e->box[k]);
}

/* The Ornstein-Uhlenbeck part: exact friction plus matching noise. Skipped
 * entirely (no PRNG draws) without friction, leaving velocity Verlet. */
static void thermostat(md_engine *e)
{
    if (e->friction == 0)
        return;
    double c1 = exp(-e->friction * e->dt);
    double c2 = sqrt(1.0 - c1 * c1);
    for (int i = 0; i < e->natoms; i++) {
        double sd = sqrt(BOLTZMANN * e->temperature / e->mass[i]);
        for (int k = 0; k < 3; k++)
            e->v[i][k] = c1 * e->v[i][k] + c2 * sd * rng_gauss(&e->rng);
    }
}

static void integrate_step(md_engine *e)
{
    half_kick(e);
    half_drift(e);
    thermostat(e);
    half_drift(e);
    compute_forces(e);
    half_kick(e);
    e->step++;
}

static int state_is_sane(const md_engine *e)
{
    if (!isfinite(e->potential))
        return 0;
    for (int i = 0; i < e->natoms; i++)
        for (int k = 0; k < 3; k++)
            if (!isfinite(e->x[i][k]) || !(fabs(e->v[i][k]) <= MAX_ABS_VELOCITY))
                return 0;
    return 1;
}

/* ---- options ---- */

int md_engine_parse_options(const json_t *options, int *steps_per_frame, char *err, size_t errlen)
{
    return core_engine_parse_steps_per_frame(options, MD_ENGINE_DEFAULT_STEPS_PER_FRAME, steps_per_frame, err,
                                             errlen);
}

/* ---- reading the stream files ---- */

static json_t *load_json(const core_file *file, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(file->data, file->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        set_err(err, errlen, "%s is not valid JSON: %s (line %d)", file->name, jerr.text, jerr.line);
        return NULL;
    }
    if (!json_is_object(root)) {
        set_err(err, errlen, "%s must hold a JSON object", file->name);
        json_decref(root);
        return NULL;
    }
    const char *engine = json_string_value(json_object_get(root, "engine"));
    if (!engine || strcmp(engine, MD_ENGINE_NAME) != 0) {
        set_err(err, errlen, "%s: \"engine\" must be \"%s\"", file->name, MD_ENGINE_NAME);
        json_decref(root);
        return NULL;
    }
    const json_t *version = json_object_get(root, "version");
    if (version && !(json_is_integer(version) && json_integer_value(version) == FORMAT_VERSION)) {
        set_err(err, errlen,
                "%s: \"version\" must be %d; this file was written for another version of the engine",
                file->name, FORMAT_VERSION);
        json_decref(root);
        return NULL;
    }
    return root;
}

/* A number in [lo, hi]; with positive set, lo itself is excluded. */
static int get_number(const json_t *obj, const char *file, const char *key, double lo, double hi,
                      int positive, double *out, char *err, size_t errlen)
{
    const json_t *val = json_object_get(obj, key);
    double d = json_is_number(val) ? json_number_value(val) : NAN;
    if (!(d >= lo && d <= hi) || (positive && d == lo)) {
        set_err(err, errlen, "%s: \"%s\" must be a number %s %g and <= %g", file, key,
                positive ? ">" : ">=", lo, hi);
        return -1;
    }
    *out = d;
    return 0;
}

static const json_t *get_object(const json_t *obj, const char *file, const char *key, char *err,
                                size_t errlen)
{
    const json_t *val = json_object_get(obj, key);
    if (json_is_object(val))
        return val;
    set_err(err, errlen, "%s: \"%s\" must be a JSON object", file, key);
    return NULL;
}

/* An array of n numbers, each with |value| <= limit. */
static int get_vector(const json_t *arr, const char *file, const char *what, size_t n, double limit,
                      double *out, char *err, size_t errlen)
{
    if (!json_is_array(arr) || json_array_size(arr) != n) {
        set_err(err, errlen, "%s: %s must be an array of %zu numbers", file, what, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *val = json_array_get(arr, i);
        double d = json_is_number(val) ? json_number_value(val) : NAN;
        if (!(fabs(d) <= limit)) {
            set_err(err, errlen, "%s: %s[%zu] must be a number between %g and %g", file, what, i, -limit,
                    limit);
            return -1;
        }
        out[i] = d;
    }
    return 0;
}

static int parse_system(md_engine *e, const json_t *root, char *err, size_t errlen)
{
    const char *file = MD_ENGINE_SYSTEM_FILE;
    const json_t *masses = json_object_get(root, "masses");
    size_t n = json_array_size(masses);
    if (!json_is_array(masses) || n < 1 || n > MD_ENGINE_MAX_ATOMS) {
        set_err(err, errlen, "%s: \"masses\" must be an array of 1 to %d particle masses", file,
                MD_ENGINE_MAX_ATOMS);
        return -1;
    }
    e->natoms = (int)n;
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(masses, i);
        double d = json_is_number(m) ? json_number_value(m) : NAN;
        if (!(d > 0 && d <= 1e4)) {
            set_err(err, errlen, "%s: masses[%zu] must be a number > 0 and <= 10000 (amu)", file, i);
            return -1;
        }
        e->mass[i] = d;
    }
    if (get_vector(json_object_get(root, "box"), file, "\"box\"", 3, 1e3, e->box, err, errlen) < 0)
        return -1;
    double shortest = 1e3;
    for (int k = 0; k < 3; k++) {
        if (!(e->box[k] >= 0.1)) {
            set_err(err, errlen, "%s: every box length must be at least 0.1 nm", file);
            return -1;
        }
        shortest = fmin(shortest, e->box[k]);
    }
    const json_t *pot = get_object(root, file, "potential", err, errlen);
    if (!pot)
        return -1;
    const char *type = json_string_value(json_object_get(pot, "type"));
    if (!type || strcmp(type, "lennard-jones") != 0) {
        set_err(err, errlen, "%s: potential \"type\" must be \"lennard-jones\"", file);
        return -1;
    }
    if (get_number(pot, file, "epsilon", 0, 1e3, 1, &e->epsilon, err, errlen) < 0 ||
        get_number(pot, file, "cutoff", 0, shortest / 2, 1, &e->cutoff, err, errlen) < 0 ||
        get_number(pot, file, "sigma", 0, e->cutoff, 1, &e->sigma, err, errlen) < 0)
        return -1;
    const json_t *integ = get_object(root, file, "integrator", err, errlen);
    if (!integ)
        return -1;
    if (get_number(integ, file, "dt", 0, 0.01, 1, &e->dt, err, errlen) < 0 ||
        get_number(integ, file, "temperature", 0, 1e4, 0, &e->temperature, err, errlen) < 0 ||
        get_number(integ, file, "friction", 0, 1e3, 0, &e->friction, err, errlen) < 0)
        return -1;
    return 0;
}

static int parse_rng(const json_t *val, uint64_t *out)
{
    const char *s = json_string_value(val);
    if (!s || strlen(s) != 16 || strspn(s, "0123456789abcdef") != 16)
        return -1;
    *out = strtoull(s, NULL, 16);
    return 0;
}

/* Rejects states whose forces would be absurd, with the pair to look at. */
static int check_overlaps(const md_engine *e, char *err, size_t errlen)
{
    double min_d = MIN_DISTANCE_SIGMAS * e->sigma;
    for (int i = 0; i < e->natoms; i++) {
        for (int j = i + 1; j < e->natoms; j++) {
            double r2 = 0;
            for (int k = 0; k < 3; k++) {
                double d = min_image(e->x[i][k] - e->x[j][k], e->box[k]);
                r2 += d * d;
            }
            if (r2 < min_d * min_d) {
                set_err(err, errlen, "%s: particles %d and %d are %g nm apart, closer than %g sigma",
                        MD_ENGINE_STATE_FILE, i, j, sqrt(r2), MIN_DISTANCE_SIGMAS);
                return -1;
            }
        }
    }
    return 0;
}

static int parse_state(md_engine *e, const json_t *root, char *err, size_t errlen)
{
    const char *file = MD_ENGINE_STATE_FILE;
    const json_t *step = json_object_get(root, "step");
    if (!json_is_integer(step) || json_integer_value(step) < 0 || json_integer_value(step) > INT32_MAX) {
        set_err(err, errlen, "%s: \"step\" must be an integer from 0 to %d", file, INT32_MAX);
        return -1;
    }
    e->step = json_integer_value(step);
    if (parse_rng(json_object_get(root, "rng"), &e->rng) < 0) {
        set_err(err, errlen, "%s: \"rng\" must be 16 lowercase hex digits", file);
        return -1;
    }
    const char *names[2] = {"positions", "velocities"};
    double(*dest[2])[3] = {e->x, e->v};
    double limits[2] = {1e6, MAX_ABS_VELOCITY};
    for (int w = 0; w < 2; w++) {
        const json_t *arr = json_object_get(root, names[w]);
        if (!json_is_array(arr) || json_array_size(arr) != (size_t)e->natoms) {
            set_err(err, errlen,
                    "%s: \"%s\" must be an array of %d [x, y, z] triples, one per particle in %s", file,
                    names[w], e->natoms, MD_ENGINE_SYSTEM_FILE);
            return -1;
        }
        for (int i = 0; i < e->natoms; i++) {
            char what[32];
            snprintf(what, sizeof what, "%s[%d]", names[w], i);
            if (get_vector(json_array_get(arr, i), file, what, 3, limits[w], dest[w][i], err, errlen) < 0)
                return -1;
        }
    }
    for (int i = 0; i < e->natoms; i++)
        for (int k = 0; k < 3; k++)
            e->x[i][k] = wrap(e->x[i][k], e->box[k]);
    return check_overlaps(e, err, errlen);
}

static int load_file(md_engine *e, const core_file *files, size_t nfiles, const char *name,
                     int (*parse)(md_engine *, const json_t *, char *, size_t), char *err, size_t errlen)
{
    const core_file *file = core_engine_find_file(files, nfiles, name, MD_ENGINE_MAX_FILE_BYTES, err, errlen);
    if (!file)
        return -1;
    json_t *root = load_json(file, err, errlen);
    if (!root)
        return -1;
    int rc = parse(e, root, err, errlen);
    json_decref(root);
    return rc;
}

md_engine *md_engine_create(const core_file *files, size_t nfiles, const json_t *options, char *err,
                            size_t errlen)
{
    md_engine *e = calloc(1, sizeof *e);
    if (!e) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    if (md_engine_parse_options(options, &e->steps_per_frame, err, errlen) < 0 ||
        load_file(e, files, nfiles, MD_ENGINE_SYSTEM_FILE, parse_system, err, errlen) < 0 ||
        load_file(e, files, nfiles, MD_ENGINE_STATE_FILE, parse_state, err, errlen) < 0)
        goto fail;
    compute_forces(e);
    if (!state_is_sane(e)) {
        set_err(err, errlen, "%s: the initial potential energy is not finite", MD_ENGINE_STATE_FILE);
        goto fail;
    }
    return e;
fail:
    free(e);
    return NULL;
}

void md_engine_free(md_engine *e)
{
    free(e);
}

/* ---- running ---- */

static void fill_frame(const md_engine *e, xtc_frame *fr, float (*coords)[3])
{
    memset(fr, 0, sizeof *fr);
    fr->coords = coords;
    fr->natoms = e->natoms;
    fr->step = (int32_t)e->step;
    fr->time = (float)md_engine_time(e);
    for (int k = 0; k < 3; k++)
        fr->box[k][k] = (float)e->box[k];
    for (int i = 0; i < e->natoms; i++)
        for (int k = 0; k < 3; k++)
            fr->coords[i][k] = (float)e->x[i][k];
}

size_t md_engine_advance(md_engine *e, unsigned char *buf, size_t cap, char *err, size_t errlen)
{
    if (e->step > INT32_MAX - e->steps_per_frame) {
        set_err(err, errlen, "step %" PRId64 " + %d would pass the XTC step limit %d", e->step,
                e->steps_per_frame, INT32_MAX);
        return 0;
    }
    /* Work on a copy so a failure leaves the engine at its last good frame. */
    md_engine next = *e;
    float before = (float)md_engine_time(e);
    for (int s = 0; s < next.steps_per_frame; s++)
        integrate_step(&next);
    if (!state_is_sane(&next)) {
        set_err(err, errlen,
                "the simulation became unstable before step %" PRId64 " (non-finite or runaway "
                "values); lower dt or fix the system",
                next.step);
        return 0;
    }
    xtc_frame fr;
    float coords[MD_ENGINE_MAX_ATOMS][3];
    fill_frame(&next, &fr, coords);
    if (!(fr.time > before)) {
        set_err(err, errlen, "time %g ps no longer increases in XTC's float precision; start a new stream",
                (double)fr.time);
        return 0;
    }
    size_t n = xtc_encode(&fr, buf, cap);
    if (n == 0) {
        set_err(err, errlen, "frame buffer of %zu bytes is too small; %zu needed", cap,
                xtc_frame_bytes_max(e->natoms));
        return 0;
    }
    *e = next;
    return n;
}

/* ---- serialization ---- */

static json_t *vec_json(const double *v, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_real(v[i]));
    return arr;
}

static json_t *triples_json(const double (*v)[3], int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, vec_json(v[i], 3));
    return arr;
}

static char *dump(json_t *root, size_t *len)
{
    char *text = NULL;
    if (root)
        text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(root);
    if (text)
        *len = strlen(text);
    return text;
}

static char *state_json(const md_engine *e, size_t *len)
{
    char rng[17];
    snprintf(rng, sizeof rng, "%016" PRIx64, e->rng);
    json_t *root = json_pack("{s:s, s:i, s:I, s:s, s:o, s:o}", "engine", MD_ENGINE_NAME, "version",
                             FORMAT_VERSION, "step", (json_int_t)e->step, "rng", rng, "positions",
                             triples_json(e->x, e->natoms), "velocities", triples_json(e->v, e->natoms));
    return dump(root, len);
}

static char *system_json(const md_engine *e, size_t *len)
{
    json_t *root = json_pack("{s:s, s:i, s:o, s:o, s:{s:s, s:f, s:f, s:f}, s:{s:f, s:f, s:f}}", "engine",
                             MD_ENGINE_NAME, "version", FORMAT_VERSION, "box", vec_json(e->box, 3), "masses",
                             vec_json(e->mass, e->natoms), "potential", "type", "lennard-jones", "epsilon",
                             e->epsilon, "sigma", e->sigma, "cutoff", e->cutoff, "integrator", "dt", e->dt,
                             "temperature", e->temperature, "friction", e->friction);
    return dump(root, len);
}

char *md_engine_checkpoint(const md_engine *e, size_t *len)
{
    return state_json(e, len);
}

/* ---- seeds ---- */

static void seed_state(md_engine *e, uint64_t seed)
{
    e->rng = seed;
    int side = 1;
    while (side * side * side < e->natoms)
        side++;
    for (int i = 0; i < e->natoms; i++) {
        int cell[3] = {i % side, (i / side) % side, i / (side * side)};
        for (int k = 0; k < 3; k++) {
            double spacing = e->box[k] / side;
            double jitter = (rng_uniform(&e->rng) - 0.5) * 0.2 * spacing;
            e->x[i][k] = (cell[k] + 0.5) * spacing + jitter;
        }
    }
    double momentum[3] = {0, 0, 0}, total_mass = 0;
    for (int i = 0; i < e->natoms; i++) {
        double sd = sqrt(BOLTZMANN * e->temperature / e->mass[i]);
        for (int k = 0; k < 3; k++) {
            e->v[i][k] = sd * rng_gauss(&e->rng);
            momentum[k] += e->mass[i] * e->v[i][k];
        }
        total_mass += e->mass[i];
    }
    /* No drift of the whole system: remove the centre-of-mass velocity. */
    if (e->natoms > 1)
        for (int i = 0; i < e->natoms; i++)
            for (int k = 0; k < 3; k++)
                e->v[i][k] -= momentum[k] / total_mass;
}

int md_engine_make_seed_files(uint64_t seed, int natoms, char **system_out, size_t *system_len,
                              char **state_out, size_t *state_len, char *err, size_t errlen)
{
    if (natoms == 0)
        natoms = MD_ENGINE_DEFAULT_ATOMS;
    if (natoms < 1 || natoms > MD_ENGINE_MAX_ATOMS) {
        set_err(err, errlen, "a %s stream holds 1 to %d particles, not %d", MD_ENGINE_NAME,
                MD_ENGINE_MAX_ATOMS, natoms);
        return -1;
    }
    /* Argon-like particles as a dense gas (they meet often enough for the
     * potential to matter), thermostatted at 120 K. */
    md_engine e = {.natoms = natoms,
                   .box = {1.6, 1.6, 1.6},
                   .epsilon = 0.996,
                   .sigma = 0.3405,
                   .cutoff = 0.8,
                   .dt = 0.002,
                   .temperature = 120.0,
                   .friction = 1.0};
    for (int i = 0; i < natoms; i++)
        e.mass[i] = 39.948;
    seed_state(&e, seed);
    *system_out = system_json(&e, system_len);
    *state_out = state_json(&e, state_len);
    if (!*system_out || !*state_out) {
        free(*system_out);
        free(*state_out);
        *system_out = *state_out = NULL;
        set_err(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- accessors ---- */

int md_engine_natoms(const md_engine *e)
{
    return e->natoms;
}

int md_engine_steps_per_frame(const md_engine *e)
{
    return e->steps_per_frame;
}

int64_t md_engine_step(const md_engine *e)
{
    return e->step;
}

double md_engine_time(const md_engine *e)
{
    return (double)e->step * e->dt;
}

double md_engine_kinetic_energy(const md_engine *e)
{
    double ke = 0;
    for (int i = 0; i < e->natoms; i++)
        for (int k = 0; k < 3; k++)
            ke += 0.5 * e->mass[i] * e->v[i][k] * e->v[i][k];
    return ke;
}

double md_engine_potential_energy(const md_engine *e)
{
    return e->potential;
}

/* ---- the core_engine backend ---- */

static void *toy_create(const core_file *files, size_t nfiles, const json_t *options,
                        const struct core_engine_settings *settings, char *err, size_t errlen)
{
    (void)settings;
    return md_engine_create(files, nfiles, options, err, errlen);
}

static void toy_destroy(void *impl)
{
    md_engine_free(impl);
}

static size_t toy_frame_bytes_max(const void *impl)
{
    (void)impl;
    return MD_ENGINE_FRAME_MAX_BYTES;
}

static size_t toy_advance(void *impl, unsigned char *buf, size_t cap, char *err, size_t errlen)
{
    return md_engine_advance(impl, buf, cap, err, errlen);
}

static char *toy_checkpoint(void *impl, size_t *len, char *err, size_t errlen)
{
    char *state = md_engine_checkpoint(impl, len);
    if (!state)
        set_err(err, errlen, "out of memory writing a checkpoint");
    return state;
}

static int toy_natoms(const void *impl)
{
    return md_engine_natoms(impl);
}

static int toy_steps_per_frame(const void *impl)
{
    return md_engine_steps_per_frame(impl);
}

static int64_t toy_step(const void *impl)
{
    return md_engine_step(impl);
}

const struct core_engine_ops md_engine_ops = {
    .name = MD_ENGINE_NAME,
    .state_file = MD_ENGINE_STATE_FILE,
    .max_file_bytes = MD_ENGINE_MAX_FILE_BYTES,
    .create = toy_create,
    .destroy = toy_destroy,
    .frame_bytes_max = toy_frame_bytes_max,
    .advance = toy_advance,
    .checkpoint = toy_checkpoint,
    .natoms = toy_natoms,
    .steps_per_frame = toy_steps_per_frame,
    .step = toy_step,
};
