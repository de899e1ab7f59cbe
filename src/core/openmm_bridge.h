/* openmm_bridge: the C face of OpenMM 7.7 (the tree's only C++).
 *
 * A bridge owns one OpenMM Context built from serialized XML: a System, a
 * State (positions, velocities, box, time, step count) and an Integrator.
 * Every function catches every exception and returns -1 (or NULL) with
 * OpenMM's message in err; nothing throws across this boundary.
 *
 * OpenMM's XML reader is not safe on malformed input, and its
 * deserializer trusts the root element's type: callers must pass XML that
 * is well formed and whose roots are a System, a State and an Integrator
 * (openmm_engine checks this with expat first). Each text is read as
 * exactly len bytes. Plugins are loaded once, from OpenMM's default
 * plugins directory, when the first bridge is made.
 *
 * Threads: one bridge belongs to one thread at a time; bridges in different
 * threads run side by side (what OpenMM cannot do concurrently, reading and
 * writing XML and making and destroying contexts, is serialized inside). */
#ifndef ST_OPENMM_BRIDGE_H
#define ST_OPENMM_BRIDGE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct openmm_bridge openmm_bridge;

struct openmm_bridge_text {
    const char *data;
    size_t len;
};

struct openmm_bridge_setup {
    struct openmm_bridge_text system, state, integrator;
    const char *platform; /* "CPU", "Reference", "OpenCL" */
    int threads;          /* CPU platform threads; 0: the platform's default */
    int seed;             /* > 0: the random seed of the integrator and of
                             stochastic forces (thermostats, barostats) */
};

/* A snapshot: positions and velocities (3 * natoms doubles each, nm and
 * nm/ps; the caller's arrays), box vectors (nm), energies (kJ/mol),
 * time (ps) and the integrator's step count. */
struct openmm_bridge_state {
    double *positions;
    double *velocities;
    double box[3][3];
    double potential, kinetic;
    double time;
    long long step;
};

openmm_bridge *openmm_bridge_create(const struct openmm_bridge_setup *setup, char *err, size_t errlen);
void openmm_bridge_free(openmm_bridge *b);

/* 0 when OpenMM has the platform called name here (plugins loaded);
 * -1 with the platforms it does have in err. */
int openmm_bridge_check_platform(const char *name, char *err, size_t errlen);

int openmm_bridge_natoms(const openmm_bridge *b);
/* 1 when the System uses periodic boundary conditions. */
int openmm_bridge_periodic(const openmm_bridge *b);
/* The platform actually in use, e.g. "CPU". */
const char *openmm_bridge_platform(const openmm_bridge *b);

/* Integrates steps steps. 0 or -1. */
int openmm_bridge_step(openmm_bridge *b, int steps, char *err, size_t errlen);

/* What a frame needs: positions (wrapped into the box, molecules kept
 * whole, when periodic), box, time and step; velocities and energies are
 * left alone. 0 or -1. */
int openmm_bridge_frame(openmm_bridge *b, struct openmm_bridge_state *s, char *err, size_t errlen);

/* The exact state: positions as integrated, velocities, energies, box,
 * time and step into s, and the State (positions, velocities, box, time,
 * step count, parameters, energies) as OpenMM XML into *xml (malloc'd,
 * NUL-terminated, *xml_len bytes). 0 or -1. */
int openmm_bridge_checkpoint(openmm_bridge *b, struct openmm_bridge_state *s, char **xml, size_t *xml_len,
                             char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
