/* core_args: both command lines, their defaults, ranges and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "core/core_args.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof(a)[0]))

static void test_defaults_and_all_options(void **state)
{
    (void)state;
    struct status st;
    struct core_args a;
    char *min[] = {"core", "--cc", "127.0.0.1:8980", "--key", "K"};
    assert_int_equal(core_args_parse(ARGC(min), min, &a, &st), STATUS_OK);
    assert_string_equal(a.run.cc, "127.0.0.1:8980");
    assert_string_equal(a.run.engine_key, "K");
    assert_null(a.run.donor_token);
    assert_null(a.run.target_id);
    assert_int_equal(a.run.cores, 1);
    assert_float_equal(a.run.duration_s, 0, 0);
    assert_int_equal(a.run.frames_per_checkpoint, CORE_RUNNER_DEFAULT_FRAMES_PER_CHECKPOINT);
    assert_float_equal(a.run.heartbeat_s, CORE_RUNNER_DEFAULT_HEARTBEAT_S, 0);
    assert_int_equal(a.run.max_retries, CORE_RUNNER_DEFAULT_MAX_RETRIES);
    assert_false(a.json);
    assert_string_equal(a.run.engine, "toy");
    assert_string_equal(a.run.engine_settings.platform, "CPU");
    assert_int_equal(a.run.engine_settings.threads, 0);

    char *all[] = {"core",
                   "--cc=http://h:1",
                   "--key",
                   "K",
                   "--donor",
                   "D",
                   "--target",
                   "T",
                   "--cores",
                   "4",
                   "--duration=2.5",
                   "--frames-per-checkpoint",
                   "7",
                   "--heartbeat",
                   "0.5",
                   "--frame-interval",
                   "0.01",
                   "--retries",
                   "0",
                   "--ca-bundle",
                   "/ca.pem",
                   "--engine=toy",
                   "--platform",
                   "Reference",
                   "--threads",
                   "3",
                   "--json",
                   "-q"};
    assert_int_equal(core_args_parse(ARGC(all), all, &a, &st), STATUS_OK);
    assert_string_equal(a.run.cc, "http://h:1");
    assert_string_equal(a.run.donor_token, "D");
    assert_string_equal(a.run.target_id, "T");
    assert_string_equal(a.run.ca_bundle, "/ca.pem");
    assert_int_equal(a.run.cores, 4);
    assert_float_equal(a.run.duration_s, 2.5, 1e-12);
    assert_int_equal(a.run.frames_per_checkpoint, 7);
    assert_float_equal(a.run.heartbeat_s, 0.5, 1e-12);
    assert_float_equal(a.run.frame_interval_s, 0.01, 1e-12);
    assert_int_equal(a.run.max_retries, 0);
    assert_true(a.json);
    assert_true(a.quiet);
    assert_string_equal(a.run.engine, "toy");
    assert_string_equal(a.run.engine_settings.platform, "Reference");
    assert_int_equal(a.run.engine_settings.threads, 3);
}

static void expect_usage_error(int argc, char **argv, const char *needle)
{
    struct status st;
    struct core_args a;
    assert_int_equal(core_args_parse(argc, argv, &a, &st), STATUS_INVALID);
    if (!strstr(st.msg, needle))
        fail_msg("error '%s' lacks '%s'", st.msg, needle);
}

static void test_refusals(void **state)
{
    (void)state;
    char *none[] = {"core"};
    expect_usage_error(ARGC(none), none, "--cc HOST:PORT and --key ENGINE_KEY are required");
    char *nokey[] = {"core", "--cc", "h:1"};
    expect_usage_error(ARGC(nokey), nokey, "required");
    char *missing[] = {"core", "--cc", "h:1", "--key"};
    expect_usage_error(ARGC(missing), missing, "option --key needs a value");
    char *empty[] = {"core", "--cc=", "--key", "K"};
    expect_usage_error(ARGC(empty), empty, "--cc needs a non-empty value");
    char *unknown[] = {"core", "--cc", "h:1", "--key", "K", "--turbo"};
    expect_usage_error(ARGC(unknown), unknown, "unknown option '--turbo'");
    char *stray[] = {"core", "--cc", "h:1", "--key", "K", "extra"};
    expect_usage_error(ARGC(stray), stray, "unexpected argument 'extra'");
    char *zero[] = {"core", "--cc", "h:1", "--key", "K", "--cores", "0"};
    expect_usage_error(ARGC(zero), zero, "--cores must be an integer from 1 to 1024, not '0'");
    char *huge[] = {"core", "--cc", "h:1", "--key", "K", "--cores", "1025"};
    expect_usage_error(ARGC(huge), huge, "--cores must be");
    char *junk[] = {"core", "--cc", "h:1", "--key", "K", "--cores", "2x"};
    expect_usage_error(ARGC(junk), junk, "not '2x'");
    char *fpc[] = {"core", "--cc", "h:1", "--key", "K", "--frames-per-checkpoint", "0"};
    expect_usage_error(ARGC(fpc), fpc, "--frames-per-checkpoint must be");
    char *neg[] = {"core", "--cc", "h:1", "--key", "K", "--duration", "-1"};
    expect_usage_error(ARGC(neg), neg, "--duration must be a number of seconds");
    char *nan[] = {"core", "--cc", "h:1", "--key", "K", "--duration", "nan"};
    expect_usage_error(ARGC(nan), nan, "--duration must be");
    char *inf[] = {"core", "--cc", "h:1", "--key", "K", "--frame-interval", "inf"};
    expect_usage_error(ARGC(inf), inf, "--frame-interval must be");
    char *hb[] = {"core", "--cc", "h:1", "--key", "K", "--heartbeat", "0"};
    expect_usage_error(ARGC(hb), hb, "--heartbeat must be");
    char *engine[] = {"core", "--cc", "h:1", "--key", "K", "--engine", "gromacs"};
    expect_usage_error(ARGC(engine), engine, "--engine must be one of toy");
    char *platform[] = {"core", "--cc", "h:1", "--key", "K", "--platform", "cpu"};
    expect_usage_error(ARGC(platform), platform, "--platform must be one of CPU|Reference|OpenCL, not 'cpu'");
    char *threads[] = {"core", "--cc", "h:1", "--key", "K", "--threads", "-1"};
    expect_usage_error(ARGC(threads), threads, "--threads must be an integer from 0 to 1024");
    char *flagval[] = {"core", "--cc", "h:1", "--key", "K", "--json=yes"};
    expect_usage_error(ARGC(flagval), flagval, "--json takes no value");
    char *unknown_value[] = {"core", "--cc", "h:1", "--key", "K", "--turbo=5"};
    expect_usage_error(ARGC(unknown_value), unknown_value, "unknown option '--turbo'");
    char *quiet_value[] = {"core", "--cc", "h:1", "--key", "K", "--quiet=1"};
    expect_usage_error(ARGC(quiet_value), quiet_value, "option --quiet takes no value");
    char *short_unknown[] = {"core", "--cc", "h:1", "--key", "K", "-x"};
    expect_usage_error(ARGC(short_unknown), short_unknown, "unknown option '-x'");
    char *stray_first[] = {"core", "extra", "--cc", "h:1", "--key", "K"};
    expect_usage_error(ARGC(stray_first), stray_first, "unexpected argument 'extra'");
}

static void test_help(void **state)
{
    (void)state;
    struct status st;
    struct core_args a;
    struct core_seed_args s;
    char *help[] = {"core", "--cc", "h:1", "--help"};
    assert_int_equal(core_args_parse(ARGC(help), help, &a, &st), STATUS_OK);
    assert_true(a.help);
    char *h[] = {"seed", "-h"};
    assert_int_equal(core_args_parse_seed(ARGC(h), h, &s, &st), STATUS_OK);
    assert_true(s.help);
}

static void test_seed_args(void **state)
{
    (void)state;
    struct status st;
    struct core_seed_args s;
    char *ok[] = {"seed", "--seed", "18446744073709551615", "--out", "/tmp/x", "--atoms=9"};
    assert_int_equal(core_args_parse_seed(ARGC(ok), ok, &s, &st), STATUS_OK);
    assert_true(s.seed == UINT64_MAX);
    assert_string_equal(s.out, "/tmp/x");
    assert_int_equal(s.atoms, 9);
    char *dflt[] = {"seed", "--out", "d", "--seed", "0"};
    assert_int_equal(core_args_parse_seed(ARGC(dflt), dflt, &s, &st), STATUS_OK);
    assert_true(s.seed == 0);
    assert_int_equal(s.atoms, 0);

    char *neg[] = {"seed", "--seed", "-1", "--out", "d"};
    assert_int_equal(core_args_parse_seed(ARGC(neg), neg, &s, &st), STATUS_INVALID);
    assert_non_null(strstr(st.msg, "--seed must be an integer"));
    char *over[] = {"seed", "--seed", "18446744073709551616", "--out", "d"};
    assert_int_equal(core_args_parse_seed(ARGC(over), over, &s, &st), STATUS_INVALID);
    char *atoms[] = {"seed", "--seed", "1", "--out", "d", "--atoms", "10"};
    assert_int_equal(core_args_parse_seed(ARGC(atoms), atoms, &s, &st), STATUS_INVALID);
    assert_non_null(strstr(st.msg, "--atoms must be an integer from 1 to 9"));
    char *noout[] = {"seed", "--seed", "1"};
    assert_int_equal(core_args_parse_seed(ARGC(noout), noout, &s, &st), STATUS_INVALID);
    assert_non_null(strstr(st.msg, "--seed N and --out DIR are required"));
    char *noseed[] = {"seed", "--out", "d"};
    assert_int_equal(core_args_parse_seed(ARGC(noseed), noseed, &s, &st), STATUS_INVALID);
    char *other[] = {"seed", "--seed", "1", "--out", "d", "--cores", "2"};
    assert_int_equal(core_args_parse_seed(ARGC(other), other, &s, &st), STATUS_INVALID);
    assert_non_null(strstr(st.msg, "unknown option '--cores'"));
    char *quiet[] = {"seed", "--seed", "1", "--out", "d", "-q"};
    assert_int_equal(core_args_parse_seed(ARGC(quiet), quiet, &s, &st), STATUS_INVALID);
    assert_string_equal(st.msg, "unknown option '-q'");
    char *novalue[] = {"seed", "--out", "d", "--seed"};
    assert_int_equal(core_args_parse_seed(ARGC(novalue), novalue, &s, &st), STATUS_INVALID);
    assert_string_equal(st.msg, "option --seed needs a value");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_all_options),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_seed_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
