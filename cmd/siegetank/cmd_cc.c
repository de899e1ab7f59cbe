/* `siegetank cc`: the Command Center daemon, and its bootstrap command
 * `add-manager`, which writes straight to the CC's database (PROTOCOL.md,
 * Bootstrap) and prints the new token alone on stdout. */
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_service.h"
#include "command.h"
#include "daemon.h"
#include "util/log.h"
#include "util/number.h"

#define ADD_MANAGER_SYNOPSIS                                                                                 \
    "siegetank cc -c cc.conf add-manager --email E --password P --role admin|manager [--weight W]\n"
#define ADD_MANAGER_USAGE "       " ADD_MANAGER_SYNOPSIS

static void *cc_create(const struct config *cfg, char *err, size_t errlen)
{
    return cc_service_create(cfg, err, errlen);
}

static int cc_attach(void *app, struct server *s, char *err, size_t errlen)
{
    return cc_service_attach(app, s, err, errlen);
}

static void cc_destroy(void *app)
{
    cc_service_destroy(app);
}

struct manager_args {
    const char *email, *password, *role;
    double weight;
};

static int usage_error(const char *msg)
{
    fprintf(stderr, "siegetank cc: %s\nusage: %s", msg, ADD_MANAGER_SYNOPSIS);
    return 2;
}

/* 0, or the exit status of a usage error. */
static int parse_manager_args(int argc, char **argv, struct manager_args *a)
{
    static const struct option opts[] = {{"email", required_argument, NULL, 'e'},
                                         {"password", required_argument, NULL, 'p'},
                                         {"role", required_argument, NULL, 'r'},
                                         {"weight", required_argument, NULL, 'w'},
                                         {NULL, 0, NULL, 0}};
    int c;
    *a = (struct manager_args){.weight = 1};
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'e')
            a->email = optarg;
        else if (c == 'p')
            a->password = optarg;
        else if (c == 'r')
            a->role = optarg;
        else if (c == 'w') {
            if (number_double(optarg, 0, DBL_MAX, &a->weight) != 0)
                return usage_error("--weight must be a number >= 0");
        } else
            return usage_error("unknown or incomplete option");
    }
    if (optind < argc)
        return usage_error("unexpected argument");
    if (a->email == NULL || a->password == NULL || a->role == NULL)
        return usage_error("--email, --password and --role are required");
    if (strcmp(a->role, "admin") != 0 && strcmp(a->role, "manager") != 0)
        return usage_error("--role must be 'admin' or 'manager'");
    return 0;
}

static int add_manager(const struct config *cfg, int argc, char **argv)
{
    struct manager_args a;
    char token[AUTH_TOKEN_HEX_LEN + 1];
    struct status err;
    int rc = parse_manager_args(argc, argv, &a);
    if (rc != 0)
        return rc;
    /* The command prints the token and nothing else (scripts capture it);
     * the store's informational line on open is for the daemon's log, and
     * a failure comes back in err. */
    log_set_quiet(1);
    cc_store *st = cc_store_open(cfg->database, cfg->data_folder, cfg->cc_pass, cfg->cc_pass_previous, &err);
    log_set_quiet(0);
    if (st == NULL) {
        fprintf(stderr, "siegetank cc: %s\n", err.msg);
        return 1;
    }
    cc_role role = strcmp(a.role, "admin") == 0 ? CC_ROLE_ADMIN : CC_ROLE_MANAGER;
    status_code created = cc_store_create_manager(st, a.email, a.password, role, a.weight, token, &err);
    cc_store_close(st);
    if (created != STATUS_OK) {
        fprintf(stderr, "siegetank cc: %s\n", err.msg);
        return 1;
    }
    printf("%s\n", token);
    return 0;
}

static int cc_command(const struct config *cfg, int argc, char **argv)
{
    if (strcmp(argv[0], "add-manager") == 0)
        return add_manager(cfg, argc, argv);
    fprintf(stderr, "siegetank cc: unknown command '%s'\nusage: %s", argv[0], ADD_MANAGER_SYNOPSIS);
    return 2;
}

int cmd_cc(int argc, char **argv)
{
    static const struct daemon_hooks hooks = {.create = cc_create,
                                              .attach = cc_attach,
                                              .destroy = cc_destroy,
                                              .command = cc_command,
                                              .command_usage = ADD_MANAGER_USAGE};
    return daemon_main(argc, argv, CONFIG_CC, "cc", &hooks);
}
