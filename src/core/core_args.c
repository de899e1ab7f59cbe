/* core_args: the two commands' option tables, read with getopt_long like
 * every other command, and their value checks. */
#include "core/core_args.h"
#include "core/md_engine.h"
#include "util/number.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_CC = 256,
    OPT_KEY,
    OPT_DONOR,
    OPT_TARGET,
    OPT_CA_BUNDLE,
    OPT_DURATION,
    OPT_HEARTBEAT,
    OPT_FRAME_INTERVAL,
    OPT_JSON,
    OPT_CORES,
    OPT_FRAMES_PER_CHECKPOINT,
    OPT_ENGINE,
    OPT_PLATFORM,
    OPT_THREADS,
    OPT_RETRIES,
    OPT_SEED,
    OPT_ATOMS,
    OPT_OUT,
};

static const struct option run_options[] = {
    {"cc", required_argument, NULL, OPT_CC},
    {"key", required_argument, NULL, OPT_KEY},
    {"donor", required_argument, NULL, OPT_DONOR},
    {"target", required_argument, NULL, OPT_TARGET},
    {"ca-bundle", required_argument, NULL, OPT_CA_BUNDLE},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
    {"frame-interval", required_argument, NULL, OPT_FRAME_INTERVAL},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"cores", required_argument, NULL, OPT_CORES},
    {"frames-per-checkpoint", required_argument, NULL, OPT_FRAMES_PER_CHECKPOINT},
    {"engine", required_argument, NULL, OPT_ENGINE},
    {"platform", required_argument, NULL, OPT_PLATFORM},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct option seed_options[] = {
    {"seed", required_argument, NULL, OPT_SEED},
    {"atoms", required_argument, NULL, OPT_ATOMS},
    {"out", required_argument, NULL, OPT_OUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* '+': stop at the first word that is not an option (it is refused);
 * ':': report a missing value apart from an unknown option. */
#define RUN_SHORT "+:hq"
#define SEED_SHORT "+:h"

/* The refused option as typed, without any "=value": "--cores" or "-x". */
static const char *typed(char **argv, char *buf, size_t n)
{
    const char *arg = argv[optind - 1];
    if (strncmp(arg, "--", 2) == 0)
        snprintf(buf, n, "%.*s", (int)strcspn(arg, "="), arg);
    else
        snprintf(buf, n, "-%c", optopt);
    return buf;
}

/* getopt_long's refusals ('?' and ':') in this project's words. */
static status_code refused(int ch, char **argv, const struct option *options, struct status *st)
{
    char name[64];
    typed(argv, name, sizeof name);
    if (ch == ':')
        return status_fail(st, STATUS_INVALID, "option %s needs a value", name);
    for (const struct option *o = options; o->name; o++)
        if (optopt != 0 && optopt == o->val && o->has_arg == no_argument)
            return status_fail(st, STATUS_INVALID, "option %s takes no value", name);
    return status_fail(st, STATUS_INVALID, "unknown option '%s'", name);
}

static status_code check_string(const char *name, const char *v, const char **out, struct status *st)
{
    if (!v[0])
        return status_fail(st, STATUS_INVALID, "option %s needs a non-empty value", name);
    *out = v;
    return STATUS_OK;
}

static status_code check_int(const char *name, const char *v, long min, long max, int *out, struct status *st)
{
    long n;
    if (number_long(v, min, max, &n) != 0)
        return status_fail(st, STATUS_INVALID, "option %s must be an integer from %ld to %ld, not '%s'", name,
                           min, max, v);
    *out = (int)n;
    return STATUS_OK;
}

static status_code check_seconds(const char *name, const char *v, double min, double max, double *out,
                                 struct status *st)
{
    double x;
    if (number_double(v, min, max, &x) != 0)
        return status_fail(st, STATUS_INVALID,
                           "option %s must be a number of seconds from %g to %g, not '%s'", name, min, max,
                           v);
    *out = x;
    return STATUS_OK;
}

static const char *const platforms[] = {"CPU", "Reference", "OpenCL"};
#define N_PLATFORMS (sizeof platforms / sizeof platforms[0])

static status_code check_platform(const char *name, const char *v, const char **out, struct status *st)
{
    for (size_t i = 0; i < N_PLATFORMS; i++) {
        if (strcmp(v, platforms[i]) == 0) {
            *out = platforms[i];
            return STATUS_OK;
        }
    }
    return status_fail(st, STATUS_INVALID, "option %s must be one of %s|%s|%s, not '%s'", name, platforms[0],
                       platforms[1], platforms[2], v);
}

/* The engine's name, checked against the registry. */
static status_code check_engine(const char *name, const char *v, const char **out, struct status *st)
{
    const struct core_engine_ops *ops = core_engine_find(v);
    if (!ops)
        return status_fail(st, STATUS_INVALID, "option %s must be one of %s, not '%s'", name,
                           core_engine_names(), v);
    *out = ops->name;
    return STATUS_OK;
}

/* "--cores" for the option getopt_long just matched (even if abbreviated). */
static const char *long_name(const struct option *options, int index, char *buf, size_t n)
{
    snprintf(buf, n, "--%s", options[index].name);
    return buf;
}

/* One option of `siegetank core` with a value (name is "--cores"). */
static status_code run_option(int ch, const char *name, const char *v, struct core_runner_config *r,
                              struct status *st)
{
    switch (ch) {
    case OPT_CC:
        return check_string(name, v, &r->cc, st);
    case OPT_KEY:
        return check_string(name, v, &r->engine_key, st);
    case OPT_DONOR:
        return check_string(name, v, &r->donor_token, st);
    case OPT_TARGET:
        return check_string(name, v, &r->target_id, st);
    case OPT_CA_BUNDLE:
        return check_string(name, v, &r->ca_bundle, st);
    case OPT_DURATION:
        return check_seconds(name, v, 0, CORE_ARGS_MAX_DURATION_S, &r->duration_s, st);
    case OPT_HEARTBEAT:
        return check_seconds(name, v, 0.1, CORE_ARGS_MAX_INTERVAL_S, &r->heartbeat_s, st);
    case OPT_FRAME_INTERVAL:
        return check_seconds(name, v, 0, CORE_ARGS_MAX_INTERVAL_S, &r->frame_interval_s, st);
    case OPT_CORES:
        return check_int(name, v, 1, CORE_RUNNER_MAX_CORES, &r->cores, st);
    case OPT_FRAMES_PER_CHECKPOINT:
        return check_int(name, v, 1, 1000000, &r->frames_per_checkpoint, st);
    case OPT_ENGINE:
        return check_engine(name, v, &r->engine, st);
    case OPT_PLATFORM:
        return check_platform(name, v, &r->engine_settings.platform, st);
    case OPT_THREADS:
        return check_int(name, v, 0, CORE_ENGINE_MAX_THREADS, &r->engine_settings.threads, st);
    case OPT_RETRIES:
        return check_int(name, v, 0, 1000, &r->max_retries, st);
    }
    return status_fail(st, STATUS_INVALID, "unknown option '%s'", name);
}

/* Starts a fresh getopt_long pass (parsers may run more than once). */
static void getopt_reset(void)
{
    optind = 0;
    opterr = 0;
}

status_code core_args_parse(int argc, char **argv, struct core_args *out, struct status *st)
{
    char name[64];
    int ch, index = 0;
    memset(out, 0, sizeof *out);
    core_runner_config_init(&out->run);
    getopt_reset();
    while ((ch = getopt_long(argc, argv, RUN_SHORT, run_options, &index)) != -1) {
        status_code rc = STATUS_OK;
        if (ch == 'h') {
            out->help = 1;
            return STATUS_OK;
        }
        if (ch == '?' || ch == ':')
            return refused(ch, argv, run_options, st);
        if (ch == 'q')
            out->quiet = 1;
        else if (ch == OPT_JSON)
            out->json = 1;
        else
            rc = run_option(ch, long_name(run_options, index, name, sizeof name), optarg, &out->run, st);
        if (rc != STATUS_OK)
            return rc;
    }
    if (optind < argc)
        return status_fail(st, STATUS_INVALID, "unexpected argument '%s'", argv[optind]);
    if (!out->run.cc || !out->run.engine_key)
        return status_fail(st, STATUS_INVALID, "--cc HOST:PORT and --key ENGINE_KEY are required");
    return STATUS_OK;
}

/* --seed: digits only (strtoull would take "-1" as a huge number). */
static status_code check_seed(const char *v, uint64_t *out, struct status *st)
{
    char *end;
    errno = 0;
    unsigned long long seed = strtoull(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end || errno)
        return status_fail(st, STATUS_INVALID, "option --seed must be an integer from 0 to %llu, not '%s'",
                           ULLONG_MAX, v);
    *out = (uint64_t)seed;
    return STATUS_OK;
}

status_code core_args_parse_seed(int argc, char **argv, struct core_seed_args *out, struct status *st)
{
    char name[64];
    int ch, index = 0, have_seed = 0;
    memset(out, 0, sizeof *out);
    getopt_reset();
    while ((ch = getopt_long(argc, argv, SEED_SHORT, seed_options, &index)) != -1) {
        status_code rc;
        if (ch == 'h') {
            out->help = 1;
            return STATUS_OK;
        }
        if (ch == '?' || ch == ':')
            return refused(ch, argv, seed_options, st);
        have_seed |= ch == OPT_SEED;
        if (ch == OPT_SEED)
            rc = check_seed(optarg, &out->seed, st);
        else if (ch == OPT_ATOMS)
            rc = check_int(long_name(seed_options, index, name, sizeof name), optarg, 1, MD_ENGINE_MAX_ATOMS,
                           &out->atoms, st);
        else
            rc = check_string(long_name(seed_options, index, name, sizeof name), optarg, &out->out, st);
        if (rc != STATUS_OK)
            return rc;
    }
    if (optind < argc)
        return status_fail(st, STATUS_INVALID, "unexpected argument '%s'", argv[optind]);
    if (!have_seed || !out->out)
        return status_fail(st, STATUS_INVALID, "--seed N and --out DIR are required");
    return STATUS_OK;
}
