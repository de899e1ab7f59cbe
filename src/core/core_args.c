/* core_args: a small option scanner and the two commands' option tables. */
#include "core/core_args.h"
#include "core/md_engine.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Walks argv; one option per call. */
struct scan {
    int argc;
    char **argv;
    int i;
    const char *name;  /* the option, "--cores" */
    const char *value; /* its value, NULL for a flag or when missing */
    char buf[64];
};

/* Next option into s->name (and the text after '=' into s->value).
 * 1: an option; 0: the end; -1: a word that is not an option. */
static int scan_next(struct scan *s, char *err, size_t errlen)
{
    if (s->i >= s->argc)
        return 0;
    const char *arg = s->argv[s->i++];
    s->value = NULL;
    if (strncmp(arg, "-", 1) != 0) {
        snprintf(err, errlen, "unexpected argument '%s'", arg);
        return -1;
    }
    const char *eq = strchr(arg, '=');
    if (!eq) {
        s->name = arg;
        return 1;
    }
    size_t n = (size_t)(eq - arg);
    if (n >= sizeof s->buf) {
        snprintf(err, errlen, "unknown option '%s'", arg);
        return -1;
    }
    memcpy(s->buf, arg, n);
    s->buf[n] = '\0';
    s->name = s->buf;
    s->value = eq + 1;
    return 1;
}

/* The option's value: after '=' or the next word. NULL with err set. */
static const char *scan_value(struct scan *s, char *err, size_t errlen)
{
    if (s->value)
        return s->value;
    if (s->i >= s->argc) {
        snprintf(err, errlen, "option %s needs a value", s->name);
        return NULL;
    }
    s->value = s->argv[s->i++];
    return s->value;
}

static int scan_string(struct scan *s, const char **out, char *err, size_t errlen)
{
    const char *v = scan_value(s, err, errlen);
    if (!v)
        return -1;
    if (!v[0]) {
        snprintf(err, errlen, "option %s needs a non-empty value", s->name);
        return -1;
    }
    *out = v;
    return 0;
}

static int scan_int(struct scan *s, long min, long max, long *out, char *err, size_t errlen)
{
    char *end;
    const char *v = scan_value(s, err, errlen);
    if (!v)
        return -1;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!v[0] || *end || errno || n < min || n > max) {
        snprintf(err, errlen, "option %s must be an integer from %ld to %ld, not '%s'", s->name, min, max, v);
        return -1;
    }
    *out = n;
    return 0;
}

static int scan_seconds(struct scan *s, double min, double max, double *out, char *err, size_t errlen)
{
    char *end;
    const char *v = scan_value(s, err, errlen);
    if (!v)
        return -1;
    errno = 0;
    double x = strtod(v, &end);
    if (!v[0] || *end || errno || !isfinite(x) || x < min || x > max) {
        snprintf(err, errlen, "option %s must be a number of seconds from %g to %g, not '%s'", s->name, min,
                 max, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int is(const struct scan *s, const char *name)
{
    return strcmp(s->name, name) == 0;
}

static int is_help(const struct scan *s)
{
    return is(s, "--help") || is(s, "-h");
}

/* Flags take no value; "--json=1" is a mistake worth reporting. */
static int flag(struct scan *s, int *out, char *err, size_t errlen)
{
    if (s->value) {
        snprintf(err, errlen, "option %s takes no value", s->name);
        return -1;
    }
    *out = 1;
    return 0;
}

static int scan_choice(struct scan *s, const char *const *choices, size_t n, const char **out, char *err,
                       size_t errlen)
{
    const char *v = scan_value(s, err, errlen);
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v, choices[i]) == 0) {
            *out = choices[i];
            return 0;
        }
    }
    int used = snprintf(err, errlen, "option %s must be one of", s->name);
    for (size_t i = 0; i < n && used >= 0 && (size_t)used < errlen; i++)
        used += snprintf(err + used, errlen - (size_t)used, "%s%s", i ? "|" : " ", choices[i]);
    if (used >= 0 && (size_t)used < errlen)
        snprintf(err + used, errlen - (size_t)used, ", not '%s'", v);
    return -1;
}

/* The engine's name, checked against the registry. */
static int scan_engine(struct scan *s, const char **out, char *err, size_t errlen)
{
    const char *v = scan_value(s, err, errlen);
    if (!v)
        return -1;
    const struct core_engine_ops *ops = core_engine_find(v);
    if (!ops) {
        snprintf(err, errlen, "option %s must be one of %s, not '%s'", s->name, core_engine_names(), v);
        return -1;
    }
    *out = ops->name;
    return 0;
}

static const char *const platforms[] = {"CPU", "Reference", "OpenCL"};

/* One option of `siegetank core`; 1 for --help. */
static int parse_run_option(struct scan *s, struct core_args *a, char *err, size_t errlen)
{
    struct core_runner_config *r = &a->run;
    long n = 0;
    int rc;
    if (is_help(s))
        return 1;
    if (is(s, "--cc"))
        return scan_string(s, &r->cc, err, errlen);
    if (is(s, "--key"))
        return scan_string(s, &r->engine_key, err, errlen);
    if (is(s, "--donor"))
        return scan_string(s, &r->donor_token, err, errlen);
    if (is(s, "--target"))
        return scan_string(s, &r->target_id, err, errlen);
    if (is(s, "--ca-bundle"))
        return scan_string(s, &r->ca_bundle, err, errlen);
    if (is(s, "--duration"))
        return scan_seconds(s, 0, CORE_ARGS_MAX_DURATION_S, &r->duration_s, err, errlen);
    if (is(s, "--heartbeat"))
        return scan_seconds(s, 0.1, CORE_ARGS_MAX_INTERVAL_S, &r->heartbeat_s, err, errlen);
    if (is(s, "--frame-interval"))
        return scan_seconds(s, 0, CORE_ARGS_MAX_INTERVAL_S, &r->frame_interval_s, err, errlen);
    if (is(s, "--json"))
        return flag(s, &a->json, err, errlen);
    if (is(s, "--quiet") || is(s, "-q"))
        return flag(s, &a->quiet, err, errlen);
    if (is(s, "--cores")) {
        rc = scan_int(s, 1, CORE_RUNNER_MAX_CORES, &n, err, errlen);
        r->cores = (int)n;
        return rc;
    }
    if (is(s, "--frames-per-checkpoint")) {
        rc = scan_int(s, 1, 1000000, &n, err, errlen);
        r->frames_per_checkpoint = (int)n;
        return rc;
    }
    if (is(s, "--engine"))
        return scan_engine(s, &r->engine, err, errlen);
    if (is(s, "--platform"))
        return scan_choice(s, platforms, sizeof platforms / sizeof platforms[0], &r->engine_settings.platform,
                           err, errlen);
    if (is(s, "--threads")) {
        rc = scan_int(s, 0, CORE_ENGINE_MAX_THREADS, &n, err, errlen);
        r->engine_settings.threads = (int)n;
        return rc;
    }
    if (is(s, "--retries")) {
        rc = scan_int(s, 0, 1000, &n, err, errlen);
        r->max_retries = (int)n;
        return rc;
    }
    snprintf(err, errlen, "unknown option '%s'", s->name);
    return -1;
}

int core_args_parse(int argc, char **argv, struct core_args *out, char *err, size_t errlen)
{
    struct scan s = {.argc = argc, .argv = argv, .i = 1};
    int rc;
    memset(out, 0, sizeof *out);
    core_runner_config_init(&out->run);
    while ((rc = scan_next(&s, err, errlen)) == 1) {
        int r = parse_run_option(&s, out, err, errlen);
        if (r != 0)
            return r;
    }
    if (rc < 0)
        return -1;
    if (!out->run.cc || !out->run.engine_key) {
        snprintf(err, errlen, "--cc HOST:PORT and --key ENGINE_KEY are required");
        return -1;
    }
    return 0;
}

static int parse_seed_option(struct scan *s, struct core_seed_args *a, int *have_seed, char *err,
                             size_t errlen)
{
    char *end;
    long n = 0;
    if (is_help(s))
        return 1;
    if (is(s, "--out"))
        return scan_string(s, &a->out, err, errlen);
    if (is(s, "--atoms")) {
        int rc = scan_int(s, 1, MD_ENGINE_MAX_ATOMS, &n, err, errlen);
        a->atoms = (int)n;
        return rc;
    }
    if (!is(s, "--seed")) {
        snprintf(err, errlen, "unknown option '%s'", s->name);
        return -1;
    }
    const char *v = scan_value(s, err, errlen);
    if (!v)
        return -1;
    errno = 0;
    unsigned long long seed = strtoull(v, &end, 10);
    /* strtoull accepts "-1" as a huge number; a seed is written as digits. */
    if (v[0] < '0' || v[0] > '9' || *end || errno) {
        snprintf(err, errlen, "option --seed must be an integer from 0 to %llu, not '%s'", ULLONG_MAX, v);
        return -1;
    }
    a->seed = (uint64_t)seed;
    *have_seed = 1;
    return 0;
}

int core_args_parse_seed(int argc, char **argv, struct core_seed_args *out, char *err, size_t errlen)
{
    struct scan s = {.argc = argc, .argv = argv, .i = 1};
    int rc, have_seed = 0;
    memset(out, 0, sizeof *out);
    while ((rc = scan_next(&s, err, errlen)) == 1) {
        int r = parse_seed_option(&s, out, &have_seed, err, errlen);
        if (r != 0)
            return r;
    }
    if (rc < 0)
        return -1;
    if (!have_seed || !out->out) {
        snprintf(err, errlen, "--seed N and --out DIR are required");
        return -1;
    }
    return 0;
}
