/* openmm_engine: OpenMM XML checked with expat, then run through
 * openmm_bridge; frames as XTC, checkpoints as a State. See openmm_engine.h. */
#include "core/openmm_engine.h"
#include "core/openmm_bridge.h"
#include "core/xtc.h"

#include <expat.h>
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

/* ---- checking the XML before OpenMM sees it ---- */

/* XmlSerializer casts whatever type an object's node names to the class
 * its reader expects (reinterpret_cast, no check), so a node of the wrong
 * type makes OpenMM read memory as the wrong object. Objects sit at known
 * places (kind_of_children); each must name a type of its kind. */
enum object_kind { OBJ_NONE, OBJ_FORCE, OBJ_FUNCTION };

/* Integrators OpenMM 7.7 deserializes without extra plugins. */
static const char *const integrator_types[] = {
    "VerletIntegrator",   "LangevinIntegrator",       "LangevinMiddleIntegrator",
    "BrownianIntegrator", "VariableVerletIntegrator", "VariableLangevinIntegrator",
    "CustomIntegrator",   "NoseHooverIntegrator",
};

/* Forces whose type name does not end in "Force". */
static const char *const other_force_types[] = {
    "CMMotionRemover",
    "AndersenThermostat",
    "MonteCarloBarostat",
    "MonteCarloAnisotropicBarostat",
    "MonteCarloMembraneBarostat",
    "MonteCarloFlexibleBarostat",
    "RPMDMonteCarloBarostat",
};

static const char *const function_types[] = {
    "Continuous1DFunction", "Continuous2DFunction", "Continuous3DFunction",
    "Discrete1DFunction",   "Discrete2DFunction",   "Discrete3DFunction",
};

#define COUNT(a) (sizeof(a) / sizeof(a)[0])
#define XML_MAX_DEPTH 256

static int listed(const char *type, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(type, names[i]) == 0)
            return 1;
    return 0;
}

static int is_force_type(const char *type)
{
    size_t n = strlen(type), suffix = strlen("Force");
    return (n > suffix && strcmp(type + n - suffix, "Force") == 0) ||
           listed(type, other_force_types, COUNT(other_force_types));
}

/* What the expat pass learns about one file. */
struct xml_scan {
    XML_Parser parser;
    int system; /* scanning system.xml */
    int depth;
    char root_type[64];                    /* the root element's "type" attribute */
    char section[32];                      /* the depth-1 element being read */
    long particles;                        /* System: Particles/Particle */
    long positions;                        /* State: Positions/Position */
    long velocities;                       /* State: Velocities/Velocity */
    char problem[256];                     /* why the scan stopped the parser, if it did */
    unsigned char children[XML_MAX_DEPTH]; /* enum object_kind of each open element's children */
};

static void stop(struct xml_scan *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first problem and ends the parse. */
static void stop(struct xml_scan *x, const char *fmt, ...)
{
    if (!x->problem[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->problem, sizeof x->problem, fmt, ap);
        va_end(ap);
    }
    XML_StopParser(x->parser, XML_FALSE);
}

static const char *type_of(const XML_Char **attrs)
{
    for (int i = 0; attrs[i]; i += 2)
        if (strcmp(attrs[i], "type") == 0)
            return attrs[i + 1];
    return "";
}

static void count(struct xml_scan *x, const XML_Char *name)
{
    if (x->depth == 1)
        snprintf(x->section, sizeof x->section, "%s", name);
    if (x->depth != 2)
        return;
    if (strcmp(x->section, "Particles") == 0 && strcmp(name, "Particle") == 0)
        x->particles++;
    else if (strcmp(x->section, "Positions") == 0 && strcmp(name, "Position") == 0)
        x->positions++;
    else if (strcmp(x->section, "Velocities") == 0 && strcmp(name, "Velocity") == 0)
        x->velocities++;
}

/* What the children of a new element name must be. In system.xml: those of
 * <Forces> and of a CustomCVForce's <CollectiveVariable> are forces, those
 * of <Functions> tabulated functions. In an integrator only the root's
 * <Functions> holds objects: a CustomIntegrator names its per-DOF variables'
 * elements after the variables. */
static enum object_kind kind_of_children(const struct xml_scan *x, const char *name)
{
    if (x->system &&
        ((x->depth == 1 && strcmp(name, "Forces") == 0) || strcmp(name, "CollectiveVariable") == 0))
        return OBJ_FORCE;
    if (strcmp(name, "Functions") == 0 && (x->system || x->depth == 1))
        return OBJ_FUNCTION;
    return OBJ_NONE;
}

static void XMLCALL on_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
    struct xml_scan *x = data;
    if (x->depth >= XML_MAX_DEPTH) {
        stop(x, "elements nest deeper than %d levels", XML_MAX_DEPTH);
        return;
    }
    const char *type = type_of(attrs);
    enum object_kind want = x->depth > 0 ? x->children[x->depth - 1] : OBJ_NONE;
    if (x->depth == 0)
        snprintf(x->root_type, sizeof x->root_type, "%s", type);
    else if (want == OBJ_FORCE && !is_force_type(type))
        stop(x, "a <%.40s> where a force belongs has type '%.60s'", name, type);
    else if (want == OBJ_FUNCTION && !listed(type, function_types, COUNT(function_types)))
        stop(x, "a <%.40s> where a tabulated function belongs has type '%.60s'", name, type);
    count(x, name);
    x->children[x->depth] = kind_of_children(x, name);
    x->depth++;
}

static void XMLCALL on_end(void *data, const XML_Char *name)
{
    struct xml_scan *x = data;
    (void)name;
    x->depth--;
    if (x->depth == 1)
        x->section[0] = '\0';
}

/* A DOCTYPE could declare entities; OpenMM's files never have one. */
static void XMLCALL on_doctype(void *data, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                               int internal)
{
    (void)name, (void)sysid, (void)pubid, (void)internal;
    stop(data, "a DOCTYPE is not allowed in OpenMM XML");
}

static int root_allowed(const char *file, const char *type)
{
    if (strcmp(file, OPENMM_ENGINE_SYSTEM_FILE) == 0)
        return strcmp(type, "System") == 0;
    if (strcmp(file, OPENMM_ENGINE_STATE_FILE) == 0)
        return strcmp(type, "State") == 0;
    return listed(type, integrator_types, COUNT(integrator_types));
}

/* Well formed, no DOCTYPE, objects of the right types; fills x. 0 or -1. */
static int check_xml(const core_file *f, const char *want, struct xml_scan *x, char *err, size_t errlen)
{
    int rc = -1;
    memset(x, 0, sizeof *x);
    if (f->len == 0) {
        snprintf(err, errlen, "%s is empty", f->name);
        return -1;
    }
    if (f->len > INT32_MAX) {
        snprintf(err, errlen, "%s is too large", f->name);
        return -1;
    }
    x->parser = XML_ParserCreate("UTF-8");
    if (!x->parser) {
        snprintf(err, errlen, "out of memory checking %s", f->name);
        return -1;
    }
    x->system = strcmp(f->name, OPENMM_ENGINE_SYSTEM_FILE) == 0;
    XML_SetUserData(x->parser, x);
    XML_SetElementHandler(x->parser, on_start, on_end);
    XML_SetStartDoctypeDeclHandler(x->parser, on_doctype);
    if (XML_Parse(x->parser, f->data, (int)f->len, XML_TRUE) != XML_STATUS_OK) {
        if (x->problem[0])
            snprintf(err, errlen, "%s: %s (line %lu)", f->name, x->problem,
                     (unsigned long)XML_GetCurrentLineNumber(x->parser));
        else
            snprintf(err, errlen, "%s is not well-formed XML: %s at line %lu", f->name,
                     XML_ErrorString(XML_GetErrorCode(x->parser)),
                     (unsigned long)XML_GetCurrentLineNumber(x->parser));
        goto out;
    }
    if (!root_allowed(f->name, x->root_type)) {
        snprintf(err, errlen, "%s: the root element's type is '%.60s'; it must be %s", f->name, x->root_type,
                 want);
        goto out;
    }
    rc = 0;
out:
    XML_ParserFree(x->parser);
    x->parser = NULL;
    return rc;
}

struct checked_files {
    const core_file *system, *state, *integrator;
};

static int check_files(const core_file *files, size_t nfiles, struct checked_files *c, char *err,
                       size_t errlen)
{
    struct xml_scan sys, st, integ;
    c->system = core_engine_find_file(files, nfiles, OPENMM_ENGINE_SYSTEM_FILE, OPENMM_ENGINE_MAX_FILE_BYTES,
                                      err, errlen);
    c->state = c->system ? core_engine_find_file(files, nfiles, OPENMM_ENGINE_STATE_FILE,
                                                 OPENMM_ENGINE_MAX_FILE_BYTES, err, errlen)
                         : NULL;
    c->integrator = c->state ? core_engine_find_file(files, nfiles, OPENMM_ENGINE_INTEGRATOR_FILE,
                                                     OPENMM_ENGINE_MAX_FILE_BYTES, err, errlen)
                             : NULL;
    if (!c->integrator)
        return -1;
    if (check_xml(c->system, "System", &sys, err, errlen) != 0 ||
        check_xml(c->state, "State", &st, err, errlen) != 0 ||
        check_xml(c->integrator, "an integrator (VerletIntegrator, LangevinIntegrator, ...)", &integ, err,
                  errlen) != 0)
        return -1;
    if (sys.particles < 1 || sys.particles > XTC_MAX_ATOMS) {
        snprintf(err, errlen, "system.xml has %ld particles; from 1 to %d are supported", sys.particles,
                 XTC_MAX_ATOMS);
        return -1;
    }
    if (st.positions != sys.particles) {
        snprintf(err, errlen, "state.xml has %ld positions; system.xml has %ld particles", st.positions,
                 sys.particles);
        return -1;
    }
    if (st.velocities != 0 && st.velocities != sys.particles) {
        snprintf(err, errlen, "state.xml has %ld velocities; system.xml has %ld particles", st.velocities,
                 sys.particles);
        return -1;
    }
    return 0;
}

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
    struct checked_files c;
    struct openmm_engine *e = calloc(1, sizeof *e);
    char *xml = NULL;
    size_t len = 0;
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (core_engine_parse_steps_per_frame(options, OPENMM_ENGINE_DEFAULT_STEPS_PER_FRAME, &e->steps_per_frame,
                                          err, errlen) != 0 ||
        check_files(files, nfiles, &c, err, errlen) != 0)
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
