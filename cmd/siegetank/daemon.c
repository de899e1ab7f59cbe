/* The daemon subcommands: `siegetank cc -c cc.conf` and `siegetank scv -c scv.conf`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "command.h"
#include "config/config.h"
#include "runtime/server.h"
#include "util/log.h"

static int daemon_usage(const char *kind, int status)
{
    FILE *out = status == 0 ? stdout : stderr;
    fprintf(out, "usage: siegetank %s -c %s.conf\n\n", kind, kind);
    fprintf(out, "Runs the %s daemon. Every key of the config file is described in etc/%s.conf.\n", kind,
            kind);
    return status;
}

/* Parses `-c FILE`; returns the path, or NULL after printing usage. */
static const char *config_arg(int argc, char **argv, const char *kind, int *status)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *path = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        if (c == 'c') {
            path = optarg;
        } else {
            *status = daemon_usage(kind, c == 'h' ? 0 : 2);
            return NULL;
        }
    }
    if (path == NULL)
        *status = daemon_usage(kind, 2);
    return path;
}

static int run_daemon(int argc, char **argv, enum config_kind kind, const char *kind_name)
{
    struct config cfg;
    char err[1024];
    int status = 0;
    const char *path = config_arg(argc, argv, kind_name, &status);
    if (path == NULL)
        return status;
    if (config_load(&cfg, kind, path, err, sizeof err) != 0) {
        fprintf(stderr, "siegetank %s: %s\n", kind_name, err);
        return 1;
    }
    struct server *s = server_create(&cfg, kind_name, NULL, err, sizeof err);
    if (s == NULL) {
        fprintf(stderr, "siegetank %s: %s\n", kind_name, err);
        return 1;
    }
    int rc = server_run(s) == 0 ? 0 : 1;
    server_free(s);
    log_close();
    return rc;
}

int cmd_cc(int argc, char **argv)
{
    return run_daemon(argc, argv, CONFIG_CC, "cc");
}

int cmd_scv(int argc, char **argv)
{
    return run_daemon(argc, argv, CONFIG_SCV, "scv");
}
