/* openmm_xml: the expat pass over OpenMM XML. See openmm_xml.h. */
#include "core/openmm_xml.h"
#include "core/openmm_engine.h"
#include "core/xtc.h"

#include <expat.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

int openmm_xml_check(const core_file *files, size_t nfiles, struct openmm_xml_files *c, char *err,
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
