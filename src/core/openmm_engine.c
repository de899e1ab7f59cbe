/* openmm_engine: OpenMM XML checked by openmm_xml, then run through
 * openmm_bridge; frames as XTC, checkpoints as a State. See openmm_engine.h. */
#include "core/openmm_engine.h"
#include "core/openmm_bridge.h"
#include "core/openmm_xml.h"
#include "core/xtc.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct openmm_engine {
    openmm_bridge *bridge;
    int natoms;
    int steps_per_frame;
    int64_t step;       /* the integrator's step count at the last frame */
    double last_energy; /* total energy (kJ/mol) at the last checkpoint or the start */
    double *positions;  /* 3 * natoms */
    double *velocities; /* 3 * natoms */
    float (*coords)[3]; /* the frame being encoded */
};

/* ---- state checks ---- */

static int all_finite(const double *v, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

int openmm_engine_check_state(const struct openmm_engine_sample *s, double previous, char *err, size_t errlen)
{
    int n = 3 * s->natoms;
    if (!all_finite(s->positions, n)) {
        snprintf(err, errlen, "the simulation blew up: a position is not finite");
        return -1;
    }
    if (!all_finite(s->velocities, n)) {
        snprintf(err, errlen, "the simulation blew up: a velocity is not finite");
        return -1;
    }
    if (!isfinite(s->potential) || !isfinite(s->kinetic)) {
        snprintf(err, errlen, "the simulation blew up: the energy is not finite");
        return -1;
    }
    double total = s->potential + s->kinetic;
    double limit = OPENMM_ENGINE_ENERGY_JUMP_PER_ATOM * s->natoms;
    if (isfinite(previous) && total - previous > limit) {
        snprintf(err, errlen,
                 "the simulation blew up: the total energy rose from %.6g to %.6g kJ/mol since the last "
                 "checkpoint (limit %.6g)",
                 previous, total, limit);
        return -1;
    }
    return 0;
}

/* ---- the engine ---- */

/* A fresh seed per activation, so Langevin noise never repeats on resume. */
static int fresh_seed(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec;
    }
    return (int)(r % (uint32_t)INT32_MAX) + 1;
}

/* The state now, checked; on success *xml is the checkpoint. */
static int sample(struct openmm_engine *e, char **xml, size_t *len, char *err, size_t errlen)
{
    struct openmm_bridge_state s = {.positions = e->positions, .velocities = e->velocities};
    if (openmm_bridge_checkpoint(e->bridge, &s, xml, len, err, errlen) != 0)
        return -1;
    struct openmm_engine_sample x = {e->natoms, e->positions, e->velocities, s.potential, s.kinetic};
    if (openmm_engine_check_state(&x, e->last_energy, err, errlen) != 0) {
        free(*xml);
        *xml = NULL;
        return -1;
    }
    e->last_energy = s.potential + s.kinetic;
    e->step = s.step;
    return 0;
}

static void omm_destroy(void *impl)
{
    struct openmm_engine *e = impl;
    if (!e)
        return;
    openmm_bridge_free(e->bridge);
    free(e->positions);
    free(e->velocities);
    free(e->coords);
    free(e);
}

static const char *platform_of(const struct core_engine_settings *settings)
{
    return settings && settings->platform ? settings->platform : CORE_ENGINE_DEFAULT_PLATFORM;
}

static int omm_check(const struct core_engine_settings *settings, char *err, size_t errlen)
{
    return openmm_bridge_check_platform(platform_of(settings), err, errlen);
}

static void *omm_create(const core_file *files, size_t nfiles, const json_t *options,
                        const struct core_engine_settings *settings, char *err, size_t errlen)
{
    struct openmm_xml_files c;
    struct openmm_engine *e = calloc(1, sizeof *e);
    char *xml = NULL;
    size_t len = 0;
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (core_engine_parse_steps_per_frame(options, OPENMM_ENGINE_DEFAULT_STEPS_PER_FRAME, &e->steps_per_frame,
                                          err, errlen) != 0 ||
        openmm_xml_check(files, nfiles, &c, err, errlen) != 0)
        goto fail;
    struct openmm_bridge_setup setup = {
        .system = {c.system->data, c.system->len},
        .state = {c.state->data, c.state->len},
        .integrator = {c.integrator->data, c.integrator->len},
        .platform = platform_of(settings),
        .threads = settings ? settings->threads : 0,
        .seed = fresh_seed(),
    };
    e->bridge = openmm_bridge_create(&setup, err, errlen);
    if (!e->bridge)
        goto fail;
    e->natoms = openmm_bridge_natoms(e->bridge);
    e->positions = malloc(sizeof(double) * 3 * (size_t)e->natoms);
    e->velocities = malloc(sizeof(double) * 3 * (size_t)e->natoms);
    e->coords = malloc(sizeof *e->coords * (size_t)e->natoms);
    if (!e->positions || !e->velocities || !e->coords) {
        snprintf(err, errlen, "out of memory for %d atoms", e->natoms);
        goto fail;
    }
    /* The starting state must itself be sound; it sets the energy baseline. */
    e->last_energy = NAN;
    if (sample(e, &xml, &len, err, errlen) != 0)
        goto fail;
    free(xml);
    return e;
fail:
    omm_destroy(e);
    return NULL;
}

static size_t omm_frame_bytes_max(const void *impl)
{
    const struct openmm_engine *e = impl;
    return xtc_frame_bytes_max(e->natoms);
}

static size_t omm_advance(void *impl, unsigned char *buf, size_t cap, char *err, size_t errlen)
{
    struct openmm_engine *e = impl;
    struct openmm_bridge_state s = {.positions = e->positions};
    char msg[CORE_ENGINE_ERROR_MAX];
    if (e->step > INT32_MAX - e->steps_per_frame) {
        snprintf(err, errlen, "step %" PRId64 " + %d would pass the XTC step limit %d", e->step,
                 e->steps_per_frame, INT32_MAX);
        return 0;
    }
    if (openmm_bridge_step(e->bridge, e->steps_per_frame, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "the simulation failed between steps %" PRId64 " and %" PRId64 ": %s", e->step,
                 e->step + e->steps_per_frame, msg);
        return 0;
    }
    if (openmm_bridge_frame(e->bridge, &s, err, errlen) != 0)
        return 0;
    if (!all_finite(e->positions, 3 * e->natoms)) {
        snprintf(err, errlen, "the simulation blew up before step %lld: a position is not finite", s.step);
        return 0;
    }
    xtc_frame f = {.natoms = e->natoms, .step = (int32_t)s.step, .time = (float)s.time, .coords = e->coords};
    /* A box only where there are periodic boundaries: readers take any
     * nonzero box as the unit cell. */
    for (int i = 0; i < 3 && openmm_bridge_periodic(e->bridge); i++)
        for (int k = 0; k < 3; k++)
            f.box[i][k] = (float)s.box[i][k];
    for (int i = 0; i < e->natoms; i++)
        for (int k = 0; k < 3; k++)
            e->coords[i][k] = (float)e->positions[3 * i + k];
    size_t n = xtc_encode(&f, buf, cap);
    if (n == 0) {
        snprintf(err, errlen, "step %lld: the frame cannot be written as XTC (coordinates beyond %g nm?)",
                 s.step, (double)XTC_MAX_COORD_NM);
        return 0;
    }
    e->step = s.step;
    return n;
}

static char *omm_checkpoint(void *impl, size_t *len, char *err, size_t errlen)
{
    char *xml = NULL;
    if (sample(impl, &xml, len, err, errlen) != 0)
        return NULL;
    return xml;
}

static int omm_natoms(const void *impl)
{
    const struct openmm_engine *e = impl;
    return e->natoms;
}

static int omm_steps_per_frame(const void *impl)
{
    const struct openmm_engine *e = impl;
    return e->steps_per_frame;
}

static int64_t omm_step(const void *impl)
{
    const struct openmm_engine *e = impl;
    return e->step;
}

const struct core_engine_ops openmm_engine_ops = {
    .name = OPENMM_ENGINE_NAME,
    .state_file = OPENMM_ENGINE_STATE_FILE,
    .max_file_bytes = OPENMM_ENGINE_MAX_FILE_BYTES,
    .check = omm_check,
    .create = omm_create,
    .destroy = omm_destroy,
    .frame_bytes_max = omm_frame_bytes_max,
    .advance = omm_advance,
    .checkpoint = omm_checkpoint,
    .natoms = omm_natoms,
    .steps_per_frame = omm_steps_per_frame,
    .step = omm_step,
};
