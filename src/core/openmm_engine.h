/* openmm_engine: the "openmm" engine of the reference core (OpenMM 7.7).
 *
 * Stream files as the 2014 OpenMM core used them, all OpenMM XML
 * (XmlSerializer): system.xml (a System) and integrator.xml (an Integrator)
 * from the seed, state.xml (a State) from the seed and then from each
 * checkpoint. Frames are compressed XTC, nm and ps. Target option
 * steps_per_frame (default OPENMM_ENGINE_DEFAULT_STEPS_PER_FRAME).
 *
 * Every file is checked by openmm_xml before OpenMM reads it. Each
 * activation gives the integrator and the stochastic forces a fresh random
 * seed. A checkpoint is refused, with the
 * reason, when a position, velocity or energy is not finite or the total
 * energy rose by more than OPENMM_ENGINE_ENERGY_JUMP_PER_ATOM per atom since
 * the previous checkpoint (or the start). See docs/core-engine.md. */
#ifndef ST_OPENMM_ENGINE_H
#define ST_OPENMM_ENGINE_H

#include "core/core_engine.h"

#define OPENMM_ENGINE_NAME "openmm"
#define OPENMM_ENGINE_SYSTEM_FILE "system.xml"
#define OPENMM_ENGINE_STATE_FILE "state.xml"
#define OPENMM_ENGINE_INTEGRATOR_FILE "integrator.xml"
#define OPENMM_ENGINE_MAX_FILE_BYTES (256u * 1024 * 1024)
#define OPENMM_ENGINE_DEFAULT_STEPS_PER_FRAME 5000
#define OPENMM_ENGINE_ENERGY_JUMP_PER_ATOM 50.0 /* kJ/mol */

extern const struct core_engine_ops openmm_engine_ops;

/* The state a checkpoint would hold, for openmm_engine_check_state. */
struct openmm_engine_sample {
    int natoms;
    const double *positions;   /* 3 * natoms, nm */
    const double *velocities;  /* 3 * natoms, nm/ps */
    double potential, kinetic; /* kJ/mol */
};

/* 0 when the sample may be committed after a checkpoint whose total
 * energy was previous (kJ/mol); -1 with the reason otherwise. */
int openmm_engine_check_state(const struct openmm_engine_sample *s, double previous, char *err,
                              size_t errlen);

#endif
