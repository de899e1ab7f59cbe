/* Solvated-protein-like coordinates; see solvated.h. */
#include "solvated.h"

#include <math.h>

#define OH_NM 0.09572
#define HOH_DEG 104.52
#define WATER_NM3 0.0299 /* volume per water molecule in liquid water */

double solvated_uniform(uint64_t *rng)
{
    uint64_t z = (*rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static void random_unit(uint64_t *rng, double u[3])
{
    double z = 2 * solvated_uniform(rng) - 1, phi = 2 * M_PI * solvated_uniform(rng);
    double r = sqrt(1 - z * z);
    u[0] = r * cos(phi);
    u[1] = r * sin(phi);
    u[2] = z;
}

static void normalize(double v[3])
{
    double n = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    for (int k = 0; k < 3; k++)
        v[k] /= n;
}

static void set(float *out, const double *v)
{
    for (int k = 0; k < 3; k++)
        out[k] = (float)v[k];
}

static void place(float *out, const double *from, const double *dir, double len)
{
    for (int k = 0; k < 3; k++)
        out[k] = (float)(from[k] + len * dir[k]);
}

int32_t solvated_protein_atoms(int32_t natoms)
{
    return natoms <= 22 ? natoms : (natoms / 8 > 22 ? natoms / 8 : 22);
}

/* A persistent random walk of heavy atoms; every third atom is a hydrogen on
 * the heavy atom before it. It turns back toward the centre when it strays
 * past radius. */
static void make_chain(int32_t n, uint64_t *rng, const double centre[3], double radius, float (*xyz)[3])
{
    double at[3] = {centre[0], centre[1], centre[2]}, dir[3], u[3];
    random_unit(rng, dir);
    for (int32_t i = 0; i < n; i++) {
        random_unit(rng, u);
        if (i % 3 == 2) {
            place(xyz[i], at, u, 0.1 + 0.01 * solvated_uniform(rng));
            continue;
        }
        double off = 0;
        for (int k = 0; k < 3; k++) {
            dir[k] += 1.2 * u[k];
            off += (at[k] - centre[k]) * (at[k] - centre[k]);
        }
        if (off > radius * radius)
            for (int k = 0; k < 3; k++)
                dir[k] += 0.5 * (centre[k] - at[k]) / sqrt(off);
        normalize(dir);
        double len = 0.13 + 0.02 * (solvated_uniform(rng) - 0.5) * 2;
        for (int k = 0; k < 3; k++)
            at[k] += len * dir[k];
        set(xyz[i], at);
    }
}

static void make_water(uint64_t *rng, const double o[3], float (*xyz)[3])
{
    double u[3], w[3], h2[3];
    random_unit(rng, u);
    random_unit(rng, w);
    double along = w[0] * u[0] + w[1] * u[1] + w[2] * u[2];
    for (int k = 0; k < 3; k++)
        w[k] -= along * u[k];
    normalize(w);
    double th = HOH_DEG * M_PI / 180;
    for (int k = 0; k < 3; k++)
        h2[k] = cos(th) * u[k] + sin(th) * w[k];
    set(xyz[0], o);
    place(xyz[1], o, u, OH_NM);
    place(xyz[2], o, h2, OH_NM);
}

void solvated_make(int32_t natoms, uint64_t seed, float (*xyz)[3], float *box)
{
    uint64_t rng = seed;
    int32_t chain = solvated_protein_atoms(natoms);
    int32_t waters = (natoms - chain) / 3, ions = natoms - chain - 3 * waters;
    double edge = cbrt((waters + ions + chain / 10.0) * WATER_NM3);
    if (edge < 2.0)
        edge = 2.0;
    int cells = (int)ceil(cbrt((double)(waters + ions)));
    double spacing = edge / (cells > 0 ? cells : 1);
    double centre[3] = {edge / 2, edge / 2, edge / 2};
    make_chain(chain, &rng, centre, edge / 3, xyz);
    /* Waters then ions fill grid cells in order, like a solvation tool's
     * output; each sits jittered inside its cell. */
    for (int32_t m = 0; m < waters + ions; m++) {
        int c[3] = {m % cells, m / cells % cells, m / cells / cells};
        double o[3];
        for (int k = 0; k < 3; k++)
            o[k] = (c[k] + 0.5 + 0.3 * (solvated_uniform(&rng) - 0.5)) * spacing;
        if (m < waters)
            make_water(&rng, o, xyz + chain + 3 * m);
        else
            set(xyz[chain + 3 * waters + (m - waters)], o);
    }
    *box = (float)edge;
}

void solvated_jiggle(int32_t natoms, uint64_t *rng, float amp, float (*xyz)[3])
{
    for (int32_t i = 0; i < natoms; i++)
        for (int k = 0; k < 3; k++)
            xyz[i][k] += (float)(amp * (2 * solvated_uniform(rng) - 1));
}
