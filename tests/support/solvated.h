/* solvated: deterministic coordinates shaped like a solvated protein, for
 * XTC tests and benchmarks. The first atoms form a protein-like chain (bonds
 * of 0.10-0.15 nm, hydrogens branching off heavy atoms), the rest are water
 * molecules (O, H, H; O-H 0.09572 nm, H-O-H 104.52 degrees, random
 * orientations) on a jittered grid at liquid density (~33 per nm^3), and a
 * last atom or two are ions when the count does not divide by 3. */
#ifndef ST_TEST_SOLVATED_H
#define ST_TEST_SOLVATED_H

#include <stdint.h>

/* Atoms of the chain in a system of natoms (all of them up to 22). */
int32_t solvated_protein_atoms(int32_t natoms);

/* Fills xyz[natoms][3] (nm, inside [0, box) except where the chain wanders)
 * and the cubic box edge *box (nm) from seed. */
void solvated_make(int32_t natoms, uint64_t seed, float (*xyz)[3], float *box);

/* Moves every atom by up to +-amp nm per axis: the next frame of a
 * trajectory. */
void solvated_jiggle(int32_t natoms, uint64_t *rng, float amp, float (*xyz)[3]);

/* Uniform in [0, 1) from a splitmix64 state. */
double solvated_uniform(uint64_t *rng);

#endif
