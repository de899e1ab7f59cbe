#include "daemon.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fs.h"
#include "util/log.h"
#include "util/status.h"

static int daemon_usage(const char *kind, const struct daemon_hooks *hooks, int status)
{
    FILE *out = status == 0 ? stdout : stderr;
    fprintf(out, "usage: siegetank %s -c %s.conf\n", kind, kind);
    fprintf(out, "       siegetank %s -c %s.conf check   (validate the file and exit)\n", kind, kind);
    if (hooks->command_usage != NULL)
        fprintf(out, "%s", hooks->command_usage);
    fprintf(out, "\nRuns the %s daemon. Every key of the config file is described in etc/%s.conf.\n", kind,
            kind);
    return status;
}

/* Parses `-c FILE`; returns the path, or NULL after printing usage. */
static const char *config_arg(int argc, char **argv, const char *kind, const struct daemon_hooks *hooks,
                              int *status)
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
            *status = daemon_usage(kind, hooks, c == 'h' ? 0 : 2);
            return NULL;
        }
    }
    if (path == NULL)
        *status = daemon_usage(kind, hooks, 2);
    return path;
}

/* Files made before the daemons ran with umask 077 are 0644: closing their
 * folder to others covers every one of them. */
static void close_data_folder(const struct config *cfg)
{
    struct stat sb;
    if (stat(cfg->data_folder, &sb) != 0 || (sb.st_mode & 077) == 0)
        return;
    if (chmod(cfg->data_folder, sb.st_mode & 0700) != 0)
        log_warn("data folder %s is open to others (mode %03o) and cannot be closed: %s", cfg->data_folder,
                 (unsigned)(sb.st_mode & 0777), strerror(errno));
    else
        log_info("data folder %s was open to others (mode %03o); it is now for its owner alone",
                 cfg->data_folder, (unsigned)(sb.st_mode & 0777));
}

/* The data folder (made by the service, or here when it has not) and the
 * error log in it, which every later line goes to as well. */
static status_code open_data_folder(const struct config *cfg, struct status *st)
{
    char path[PATH_MAX + 32];
    if (fs_mkdir_p(cfg->data_folder, 0750) != 0)
        return status_fail(st, STATUS_IO, "cannot create data folder '%s': %s", cfg->data_folder,
                           strerror(errno));
    snprintf(path, sizeof path, "%s/error.log", cfg->data_folder);
    if (log_open(path) != 0)
        return status_fail(st, STATUS_IO, "cannot open error log '%s': %s", path, strerror(errno));
    return STATUS_OK;
}

static int serve(const struct config *cfg, const char *kind_name, const struct daemon_hooks *hooks)
{
    char err[1024];
    struct status st;
    int rc = 1;
    struct server *s = NULL;
    void *app = NULL;
    if (hooks->create != NULL && (app = hooks->create(cfg, err, sizeof err)) == NULL)
        goto out;
    close_data_folder(cfg);
    if (open_data_folder(cfg, &st) != STATUS_OK) {
        snprintf(err, sizeof err, "%s", st.msg);
        goto out;
    }
    s = server_create(cfg, kind_name, app, err, sizeof err);
    if (s == NULL)
        goto out;
    if (hooks->attach != NULL && hooks->attach(app, s, err, sizeof err) != 0)
        goto out;
    rc = server_run(s) == 0 ? 0 : 1;
    err[0] = '\0';
out:
    if (rc != 0 && err[0] != '\0')
        fprintf(stderr, "siegetank %s: %s\n", kind_name, err);
    server_free(s);
    if (app != NULL && hooks->destroy != NULL)
        hooks->destroy(app);
    log_close();
    return rc;
}

int daemon_main(int argc, char **argv, enum config_kind kind, const char *kind_name,
                const struct daemon_hooks *hooks)
{
    struct config cfg;
    struct status st;
    int status = 0;
    /* Everything a daemon writes (databases and their WAL, logs, secrets,
     * stream files) is for its own user alone. */
    umask(077);
    const char *path = config_arg(argc, argv, kind_name, hooks, &status);
    if (path == NULL)
        return status;
    if (config_load(&cfg, kind, path, &st) != STATUS_OK) {
        fprintf(stderr, "siegetank %s: %s\n", kind_name, st.msg);
        return 1;
    }
    /* Lets operators and scripts validate a file without starting a server. */
    if (optind < argc && strcmp(argv[optind], "check") == 0 && optind + 1 == argc) {
        printf("%s: valid %s configuration\n", path, kind_name);
        return 0;
    }
    if (optind < argc) {
        if (hooks->command == NULL) {
            fprintf(stderr, "siegetank %s: unexpected argument '%s'\n", kind_name, argv[optind]);
            return daemon_usage(kind_name, hooks, 2);
        }
        return hooks->command(&cfg, argc - optind, argv + optind);
    }
    return serve(&cfg, kind_name, hooks);
}
