/* core_args: the command line of `siegetank core` and `siegetank core seed`.
 * Options take "--name VALUE" or "--name=VALUE"; numbers are checked whole
 * and against their ranges. Strings in the results point into argv.
 * Each parser returns 0, 1 when --help was asked for, or -1 with a message
 * in err that names the offending option (a usage error). */
#ifndef ST_CORE_ARGS_H
#define ST_CORE_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core_runner.h"

#define CORE_ARGS_MAX_DURATION_S 1e9
#define CORE_ARGS_MAX_INTERVAL_S 86400.0

struct core_args {
    struct core_runner_config run;
    int json;  /* --json: print the summary as a JSON object */
    int quiet; /* --quiet: no log lines on stderr */
};

struct core_seed_args {
    uint64_t seed;   /* --seed N (required) */
    int atoms;       /* --atoms K, 1..MD_ENGINE_MAX_ATOMS; 0 = the engine's default */
    const char *out; /* --out DIR (required) */
};

/* argv[0] is the command name ("core"). */
int core_args_parse(int argc, char **argv, struct core_args *out, char *err, size_t errlen);
/* argv[0] is "seed". */
int core_args_parse_seed(int argc, char **argv, struct core_seed_args *out, char *err, size_t errlen);

#endif
