/* md_engine: the reference core's toy molecular dynamics engine ("toy").
 * Up to MD_ENGINE_MAX_ATOMS Lennard-Jones particles in a periodic orthorhombic box,
 * integrated with Langevin BAOAB (plain velocity Verlet when friction is 0)
 * and a seeded splitmix64 PRNG. Units: nm, ps, amu, kJ/mol, K.
 *
 * Stream files (plain bytes; on the wire clients wrap them as
 * base64(gzip(...)) under "<name>.gz.b64", so decode before calling):
 *   system.json  particles' masses, box, potential, integrator (seed only)
 *   state.json   step, positions, velocities, PRNG state (seed and checkpoint)
 * A checkpoint is the single file state.json; a core resumed from it is
 * given that state.json plus the seed's system.json, and continues
 * bit-for-bit as if it had never stopped. See docs/core-engine.md. */
#ifndef ST_MD_ENGINE_H
#define ST_MD_ENGINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core_engine.h"
#include "core/xtc.h"

#define MD_ENGINE_NAME "toy"
#define MD_ENGINE_SYSTEM_FILE "system.json"
#define MD_ENGINE_STATE_FILE "state.json"
#define MD_ENGINE_MAX_FILE_BYTES (64 * 1024)
#define MD_ENGINE_DEFAULT_STEPS_PER_FRAME 100
#define MD_ENGINE_MAX_STEPS_PER_FRAME CORE_ENGINE_MAX_STEPS_PER_FRAME
#define MD_ENGINE_DEFAULT_ATOMS 8
/* Few enough for XTC's uncompressed form and an O(N^2) force loop. */
#define MD_ENGINE_MAX_ATOMS XTC_RAW_MAX_ATOMS
/* Every frame md_engine_advance writes fits in this many bytes. */
#define MD_ENGINE_FRAME_MAX_BYTES XTC_RAW_FRAME_BYTES(MD_ENGINE_MAX_ATOMS)

typedef struct md_engine md_engine;

/* The engine behind core_engine (name MD_ENGINE_NAME, checkpoint
 * MD_ENGINE_STATE_FILE). */
extern const struct core_engine_ops md_engine_ops;

/* Reads the target's options (a JSON object or NULL). Only steps_per_frame
 * is used: an integer from 1 to MD_ENGINE_MAX_STEPS_PER_FRAME, default
 * MD_ENGINE_DEFAULT_STEPS_PER_FRAME. Returns 0, or -1 with the reason. */
int md_engine_parse_options(const json_t *options, int *steps_per_frame, char *err, size_t errlen);

/* Builds an engine from the stream's files (other names are ignored) and the
 * target's options. NULL with the reason in err when a file is missing,
 * too big, not valid JSON or out of range. */
md_engine *md_engine_create(const core_file *files, size_t nfiles, const json_t *options, char *err,
                            size_t errlen);
void md_engine_free(md_engine *e);

/* Runs steps_per_frame steps and writes the new frame as XTC into buf (cap
 * >= MD_ENGINE_FRAME_MAX_BYTES is always enough). Returns the frame's byte
 * count, or 0 with the reason in err (unstable simulation, step or time past
 * what XTC can hold); on failure the engine keeps its previous state. */
size_t md_engine_advance(md_engine *e, unsigned char *buf, size_t cap, char *err, size_t errlen);

/* The checkpoint: contents of MD_ENGINE_STATE_FILE for the current state,
 * malloc'd, NUL-terminated, *len bytes. NULL only when out of memory. */
char *md_engine_checkpoint(const md_engine *e, size_t *len);

int md_engine_natoms(const md_engine *e);
int md_engine_steps_per_frame(const md_engine *e);
int64_t md_engine_step(const md_engine *e);
double md_engine_time(const md_engine *e);             /* ps, step * dt */
double md_engine_kinetic_energy(const md_engine *e);   /* kJ/mol */
double md_engine_potential_energy(const md_engine *e); /* kJ/mol */

/* Seed files for a new stream: natoms particles (0 = MD_ENGINE_DEFAULT_ATOMS)
 * of argon-like LJ gas, positions and velocities drawn from seed. Both
 * outputs are malloc'd, NUL-terminated JSON. Returns 0, or -1 with the
 * reason in err. */
int md_engine_make_seed_files(uint64_t seed, int natoms, char **system_json, size_t *system_len,
                              char **state_json, size_t *state_len, char *err, size_t errlen);

#endif
