/* st-bench-openmm-loop: the bare OpenMM reference for bench/openmm.sh.
 * Builds a Context from DIR/{system,state,integrator}.xml on PLATFORM with
 * THREADS, runs one CHUNK of steps untimed, then calls
 * Integrator::step(CHUNK) back to back for SECONDS (no state reads, no
 * output) and prints one JSON line: steps and seconds of the timed part,
 * steps_per_s, ns_per_day (DT_PS is the time step) and all_steps (the
 * untimed chunk included, for rates per CPU second of the whole process).
 *   st-bench-openmm-loop DIR PLATFORM THREADS SECONDS CHUNK DT_PS */
#include "core/openmm_bridge.h"
#include "util/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE (256u * 1024 * 1024)

static struct openmm_bridge_text slurp(const char *dir, const char *name)
{
    char path[4096];
    struct openmm_bridge_text t = {NULL, 0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    char *buf = malloc(MAX_FILE);
    size_t n = buf ? fread(buf, 1, MAX_FILE, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n == MAX_FILE) {
        fprintf(stderr, "cannot read %s (empty or over %u bytes)\n", path, MAX_FILE);
        exit(1);
    }
    t.data = buf;
    t.len = n;
    return t;
}

int main(int argc, char **argv)
{
    char err[1024];
    if (argc != 7) {
        fprintf(stderr, "usage: st-bench-openmm-loop DIR PLATFORM THREADS SECONDS CHUNK DT_PS\n");
        return 2;
    }
    struct openmm_bridge_setup setup = {
        .system = slurp(argv[1], "system.xml"),
        .state = slurp(argv[1], "state.xml"),
        .integrator = slurp(argv[1], "integrator.xml"),
        .platform = argv[2],
        .threads = atoi(argv[3]),
        .seed = 1,
    };
    double seconds = atof(argv[4]), dt_ps = atof(argv[6]);
    int chunk = atoi(argv[5]);
    openmm_bridge *b = openmm_bridge_create(&setup, err, sizeof err);
    if (!b) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* One chunk first, so lazy set-up inside OpenMM is not timed. */
    if (openmm_bridge_step(b, chunk, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    long long steps = 0;
    double t0 = clock_mono_s(), t = t0;
    while (t - t0 < seconds) {
        if (openmm_bridge_step(b, chunk, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        steps += chunk;
        t = clock_mono_s();
    }
    double rate = (double)steps / (t - t0);
    printf("{\"steps\": %lld, \"seconds\": %.3f, \"steps_per_s\": %.1f, \"ns_per_day\": %.3f, "
           "\"all_steps\": %lld}\n",
           steps, t - t0, rate, rate * dt_ps * 86400.0 / 1000.0, steps + chunk);
    openmm_bridge_free(b);
    free((void *)setup.system.data);
    free((void *)setup.state.data);
    free((void *)setup.integrator.data);
    return 0;
}
