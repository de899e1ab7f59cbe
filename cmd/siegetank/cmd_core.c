/* `siegetank core`: the reference core, and `siegetank core seed` to make a
 * toy-engine stream's seed files. */
#include "command.h"
#include "core/core_args.h"
#include "core/core_runner.h"
#include "core/md_engine.h"
#include "util/fs.h"
#include "util/log.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ERR_MAX 512

static const char core_usage[] =
    "usage: siegetank core --cc HOST:PORT --key ENGINE_KEY [options]\n"
    "       siegetank core seed --seed N --out DIR [--atoms K]\n"
    "\n"
    "Runs reference cores: each asks the command center for a stream, simulates it\n"
    "with the engine and sends frames and checkpoints until the duration ends or Ctrl-C.\n"
    "\n"
    "options:\n"
    "  --cc HOST:PORT              command center (https; or http://HOST:PORT for plain HTTP)\n"
    "  --key ENGINE_KEY            engine key for the engine\n"
    "  --engine NAME               the engine: toy (default) or openmm\n"
    "  --platform NAME             OpenMM platform: CPU (default), Reference or OpenCL\n"
    "  --threads N                 CPU platform threads, 0 to 1024 (default 0: all CPUs)\n"
    "  --donor TOKEN               credit the work to this donor\n"
    "  --target ID                 work on this target only (any stage)\n"
    "  --cores N                   cores to run at once, 1 to 1024 (default 1)\n"
    "  --duration SECONDS          stop after this long (default: until Ctrl-C)\n"
    "  --frames-per-checkpoint K   checkpoint every K frames (default 10)\n"
    "  --heartbeat SECONDS         heartbeat interval (default 60)\n"
    "  --frame-interval SECONDS    pause between frames (default 0)\n"
    "  --retries N                 retries of one request before dropping the stream (default 8)\n"
    "  --ca-bundle FILE            CA certificates for TLS verification\n"
    "  --json                      print the summary as JSON\n"
    "  --quiet, -q                 no log lines on stderr\n"
    "\n"
    "seed: writes system.json and state.json for a new toy stream into DIR\n"
    "(--atoms 1 to 9, default 8); 'siegetank stream add' uploads them.\n"
    "\n"
    "exit status: 0 stopped cleanly, 1 never got work or the key was refused, 2 usage error\n";

static atomic_int stop_requested;

/* First signal: stop cleanly. Second: the user insists, leave now. */
static void on_signal(int sig)
{
    (void)sig;
    if (atomic_exchange(&stop_requested, 1))
        _exit(1);
}

static int usage_error(const char *message)
{
    fprintf(stderr, "siegetank core: %s\n\n%s", message, core_usage);
    return 2;
}

static void write_seed_file(const char *dir, const char *name, const char *data, size_t len, int *rc)
{
    char path[PATH_MAX];
    if (*rc != 0)
        return;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        fprintf(stderr, "siegetank core seed: output folder path too long\n");
        *rc = 1;
        return;
    }
    if (fs_write_atomic(path, data, len) != 0) {
        fprintf(stderr, "siegetank core seed: cannot write %s: %s\n", path, strerror(errno));
        *rc = 1;
        return;
    }
    printf("%s\n", path);
}

static int cmd_core_seed(int argc, char **argv)
{
    struct core_seed_args a;
    char err[ERR_MAX];
    struct status st;
    char *system = NULL, *state = NULL;
    size_t system_len = 0, state_len = 0;
    int rc = 0;
    if (core_args_parse_seed(argc, argv, &a, &st) != STATUS_OK)
        return usage_error(st.msg);
    if (a.help) {
        fputs(core_usage, stdout);
        return 0;
    }
    if (md_engine_make_seed_files(a.seed, a.atoms, &system, &system_len, &state, &state_len, err,
                                  sizeof err) != 0) {
        fprintf(stderr, "siegetank core seed: %s\n", err);
        return 1;
    }
    if (fs_mkdir_p(a.out, 0755) != 0) {
        fprintf(stderr, "siegetank core seed: cannot create %s: %s\n", a.out, strerror(errno));
        rc = 1;
    }
    write_seed_file(a.out, MD_ENGINE_SYSTEM_FILE, system, system_len, &rc);
    write_seed_file(a.out, MD_ENGINE_STATE_FILE, state, state_len, &rc);
    free(system);
    free(state);
    return rc;
}

static void print_summary(const struct core_args *a, const struct core_runner_stats *s)
{
    if (!a->json) {
        printf("core: %d cores, %ld frames sent, %ld committed in %ld checkpoints, %ld streams (%ld lost), "
               "%ld errors\n",
               a->run.cores, s->frames_sent, s->frames_committed, s->checkpoints, s->assignments, s->lost,
               s->errors);
        return;
    }
    json_t *j =
        json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I}", "cores", a->run.cores, "assignments",
                  (json_int_t)s->assignments, "frames_sent", (json_int_t)s->frames_sent, "frames_committed",
                  (json_int_t)s->frames_committed, "checkpoints", (json_int_t)s->checkpoints, "lost",
                  (json_int_t)s->lost, "errors", (json_int_t)s->errors);
    if (j && s->fatal)
        json_object_set_new(j, "fatal", json_string(s->fatal_message));
    char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(j);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int cmd_core(int argc, char **argv)
{
    struct core_args a;
    struct core_runner_stats stats;
    char err[ERR_MAX];
    if (argc > 1 && strcmp(argv[1], "seed") == 0)
        return cmd_core_seed(argc - 1, argv + 1);
    struct status st;
    if (core_args_parse(argc, argv, &a, &st) != STATUS_OK)
        return usage_error(st.msg);
    if (a.help) {
        fputs(core_usage, stdout);
        return 0;
    }
    log_set_quiet(a.quiet);
    install_signals();
    if (core_runner_run(&a.run, &stop_requested, &stats, err, sizeof err) != 0) {
        fprintf(stderr, "siegetank core: %s\n", err);
        return 1;
    }
    print_summary(&a, &stats);
    if (stats.fatal) {
        fprintf(stderr, "siegetank core: %s\n", stats.fatal_message);
        return 1;
    }
    if (stats.assignments == 0) {
        fprintf(stderr, "siegetank core: never got work from %s\n", a.run.cc);
        return 1;
    }
    return 0;
}
