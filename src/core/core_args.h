/* core_args: the command line of `siegetank core` and `siegetank core seed`,
 * read with getopt_long: "--name VALUE", "--name=VALUE" or a unique prefix
 * of the name; numbers are checked whole and against their ranges. Strings
 * in the results point into argv. Each parser returns STATUS_OK (with help
 * set when --help was asked for: nothing else is then checked) or
 * STATUS_INVALID with a message naming the offending option (a usage error).
 * getopt_long's state is process-wide, so one parser runs at a time. */
#ifndef ST_CORE_ARGS_H
#define ST_CORE_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core_runner.h"
#include "util/status.h"

#define CORE_ARGS_MAX_DURATION_S 1e9
#define CORE_ARGS_MAX_INTERVAL_S 86400.0

struct core_args {
    struct core_runner_config run;
    int json;  /* --json: print the summary as a JSON object */
    int quiet; /* --quiet: no log lines on stderr */
    int help;  /* --help or -h */
};

struct core_seed_args {
    uint64_t seed;   /* --seed N (required) */
    int atoms;       /* --atoms K, 1..MD_ENGINE_MAX_ATOMS; 0 = the engine's default */
    const char *out; /* --out DIR (required) */
    int help;        /* --help or -h */
};

/* argv[0] is the command name ("core"). */
status_code core_args_parse(int argc, char **argv, struct core_args *out, struct status *st);
/* argv[0] is "seed". */
status_code core_args_parse_seed(int argc, char **argv, struct core_seed_args *out, struct status *st);

#endif
