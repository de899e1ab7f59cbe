/* cli_target: target add | list | info | update | delete. */
#include "cli.h"
#include "client/option.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_HELP = 'h', OPT_JSON = 'j', OPT_ENGINE = 256, OPT_OPTION, OPT_STAGE, OPT_WEIGHT, OPT_POINTS };

static const char target_usage[] =
    "usage: siegetank target add --engine E [--engine E2]... [--option KEY=VALUE]... [--stage S] [--weight "
    "W]\n"
    "                             [--points-per-frame P]\n"
    "       siegetank target list\n"
    "       siegetank target info ID\n"
    "       siegetank target update ID [--engine E]... [--option KEY=VALUE]... [--stage S] [--weight W]\n"
    "                                  [--points-per-frame P]\n"
    "       siegetank target delete ID\n"
    "  Every form takes --json. Stages: disabled, private, beta (update only), public.\n"
    "  An option VALUE is JSON when it parses as JSON (50, 0.5, true) and a string otherwise.\n"
    "  update replaces the engines when --engine is given and merges the options.\n"
    "  --points-per-frame (default 1) is the credit donors get per committed frame;\n"
    "  a change applies from then on.\n";

/* The parsed flags of add/update, as the JSON body the CC expects. */
struct target_args {
    json_t *spec;
    int json;
};

/* Returns CLI_OK, or the exit code of a usage error already printed. */
static int parse_flags(int argc, char **argv, struct target_args *a)
{
    static const struct option opts[] = {{"engine", required_argument, NULL, OPT_ENGINE},
                                         {"option", required_argument, NULL, OPT_OPTION},
                                         {"stage", required_argument, NULL, OPT_STAGE},
                                         {"weight", required_argument, NULL, OPT_WEIGHT},
                                         {"points-per-frame", required_argument, NULL, OPT_POINTS},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"help", no_argument, NULL, OPT_HELP},
                                         {NULL, 0, NULL, 0}};
    char msg[256];
    double weight;
    int ch;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        json_t *list = json_object_get(a->spec, "engines");
        json_t *options = json_object_get(a->spec, "options");
        switch (ch) {
        case OPT_ENGINE:
            if (!list)
                json_object_set_new(a->spec, "engines", list = json_array());
            json_array_append_new(list, json_string(optarg));
            break;
        case OPT_OPTION:
            if (!options)
                json_object_set_new(a->spec, "options", options = json_object());
            if (option_add(options, optarg, msg, sizeof msg) != 0)
                return cli_usage(target_usage, "bad --option: %s", msg);
            break;
        case OPT_STAGE:
            json_object_set_new(a->spec, "stage", json_string(optarg));
            break;
        case OPT_WEIGHT:
            if (cli_parse_weight(optarg, &weight) != 0)
                return cli_usage(target_usage, "--weight must be a number >= 0, not '%s'", optarg);
            json_object_set_new(a->spec, "weight", json_real(weight));
            break;
        case OPT_POINTS:
            if (cli_parse_weight(optarg, &weight) != 0)
                return cli_usage(target_usage, "--points-per-frame must be a number >= 0, not '%s'", optarg);
            json_object_set_new(a->spec, "points_per_frame", json_real(weight));
            break;
        case OPT_JSON:
            a->json = 1;
            break;
        case OPT_HELP:
            return -1;
        default:
            return cli_usage(target_usage, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    return CLI_OK;
}

static void print_info(const char *id, const json_t *info)
{
    static const char *const fields[] = {"owner",   "stage",  "weight",  "points_per_frame",
                                         "engines", "shards", "options", "creation_date"};
    printf("%-14s %s\n", "target", id);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        printf("%-14s %s\n", fields[i], cli_text(json_object_get(info, fields[i])));
}

static int target_list(struct client *c, int json)
{
    struct client_error err;
    json_t *reply = client_targets_list(c, &err), *id;
    size_t i;
    if (!reply)
        return cli_fail(&err);
    if (json) {
        cli_print_json(reply);
        json_decref(reply);
        return CLI_OK;
    }
    printf("%-36s %-9s %-7s %s\n", "TARGET", "STAGE", "WEIGHT", "ENGINES");
    json_array_foreach(json_object_get(reply, "targets"), i, id)
    {
        json_t *info = client_target_info(c, json_string_value(id), &err);
        printf("%-36s ", cli_text(id));
        printf("%-9s ", cli_text(json_object_get(info, "stage")));
        printf("%-7s ", cli_text(json_object_get(info, "weight")));
        printf("%s\n", cli_text(json_object_get(info, "engines")));
        json_decref(info);
    }
    json_decref(reply);
    return CLI_OK;
}

static int run(struct client *c, const char *action, const char *id, struct target_args *a)
{
    struct client_error err;
    json_t *reply;
    if (strcmp(action, "list") == 0)
        return target_list(c, a->json);
    if (strcmp(action, "update") == 0)
        return client_target_update(c, id, a->spec, &err) == 0 ? CLI_OK : cli_fail(&err);
    if (strcmp(action, "delete") == 0)
        return client_target_delete(c, id, &err) == 0 ? CLI_OK : cli_fail(&err);
    if (strcmp(action, "add") == 0)
        reply = client_target_create(c, a->spec, &err);
    else
        reply = client_target_info(c, id, &err);
    if (!reply)
        return cli_fail(&err);
    if (a->json)
        cli_print_json(reply);
    else if (strcmp(action, "add") == 0)
        printf("%s\n", cli_text(json_object_get(reply, "target_id")));
    else
        print_info(id, reply);
    json_decref(reply);
    return CLI_OK;
}

int cli_target(int argc, char **argv)
{
    struct target_args a = {.spec = json_object()};
    struct client *c = NULL;
    int rc = parse_flags(argc, argv, &a);
    if (rc == -1) {
        rc = cli_help(target_usage);
        goto out;
    }
    if (rc != CLI_OK)
        goto out;
    const char *action = optind < argc ? argv[optind] : "";
    int nargs = argc - optind - 1;
    int flags = json_object_size(a.spec) > 0;
    rc = CLI_USAGE;
    if (strcmp(action, "add") == 0 && nargs == 0) {
        if (!json_object_get(a.spec, "engines")) {
            rc = cli_usage(target_usage, "target add needs at least one --engine");
            goto out;
        }
    } else if (strcmp(action, "update") == 0 && nargs == 1) {
        if (!flags) {
            rc = cli_usage(target_usage, "target update needs something to change");
            goto out;
        }
    } else if ((strcmp(action, "list") == 0 && nargs == 0) ||
               ((strcmp(action, "info") == 0 || strcmp(action, "delete") == 0) && nargs == 1)) {
        if (flags) {
            rc = cli_usage(target_usage,
                           "target %s takes no --engine, --option, --stage, --weight or --points-per-frame",
                           action);
            goto out;
        }
    } else {
        rc =
            cli_usage(target_usage, *action ? "wrong arguments for 'target %s'" : "missing action%s", action);
        goto out;
    }
    c = cli_connect(strcmp(action, "list") != 0 && strcmp(action, "info") != 0);
    if (!c) {
        rc = CLI_FAILED;
        goto out;
    }
    rc = run(c, action, nargs == 1 ? argv[optind + 1] : NULL, &a);
out:
    client_free(c);
    json_decref(a.spec);
    return rc;
}
