/* cli_admin: login, scvs, keys and manager subcommands. */
#include "cli.h"
#include "client/credentials.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASSWORD_MAX 1024

enum {
    OPT_HELP = 'h',
    OPT_JSON = 'j',
    OPT_CC = 256,
    OPT_TOKEN,
    OPT_EMAIL,
    OPT_ENGINE,
    OPT_DESC,
    OPT_ROLE,
    OPT_WEIGHT
};

static const char login_usage[] =
    "usage: siegetank login --cc HOST:PORT (--token TOKEN | --email EMAIL)\n"
    "  Saves the command center address and a token in\n"
    "  $XDG_CONFIG_HOME/siegetank/credentials (mode 0600). With --email the password\n"
    "  is prompted for without echo, or read from stdin when it is not a terminal.\n"
    "  SIEGETANK_CC and SIEGETANK_TOKEN override the saved values.\n";

int cli_save_login(const char *cc, const char *token)
{
    char path[1024], msg[512];
    struct credentials cr = {0};
    if (strlen(cc) >= sizeof cr.cc || strlen(token) >= sizeof cr.token) {
        fprintf(stderr, "siegetank: the address or token is too long\n");
        return CLI_FAILED;
    }
    strcpy(cr.cc, cc);
    strcpy(cr.token, token);
    if (credentials_default_path(path, sizeof path, msg, sizeof msg) != 0 ||
        credentials_save(path, &cr, msg, sizeof msg) != 0) {
        fprintf(stderr, "siegetank: %s\n", msg);
        return CLI_FAILED;
    }
    return CLI_OK;
}

int cli_login(int argc, char **argv)
{
    static const struct option opts[] = {{"cc", required_argument, NULL, OPT_CC},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"email", required_argument, NULL, OPT_EMAIL},
                                         {"help", no_argument, NULL, OPT_HELP},
                                         {NULL, 0, NULL, 0}};
    const char *cc = NULL, *token = NULL, *email = NULL;
    char password[PASSWORD_MAX];
    struct client_error err;
    struct client *c = NULL;
    json_t *reply = NULL;
    int ch, rc = CLI_FAILED;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == OPT_CC)
            cc = optarg;
        else if (ch == OPT_TOKEN)
            token = optarg;
        else if (ch == OPT_EMAIL)
            email = optarg;
        else if (ch == OPT_HELP)
            return cli_help(login_usage);
        else
            return cli_usage(login_usage, "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (optind != argc)
        return cli_usage(login_usage, "unexpected argument '%s'", argv[optind]);
    if (!cc)
        return cli_usage(login_usage, "--cc is required");
    if (!token == !email)
        return cli_usage(login_usage, "give exactly one of --token and --email");
    c = client_new(cc, NULL, &err);
    if (!c)
        return cli_fail(&err);
    if (email) {
        if (cli_read_password("Password: ", password, sizeof password) != 0)
            goto out;
        reply = client_auth(c, email, password, &err);
        explicit_bzero(password, sizeof password);
        token = json_string_value(json_object_get(reply, "token"));
        if (!token) {
            rc = reply ? (fprintf(stderr, "siegetank: the server sent no token\n"), CLI_FAILED)
                       : cli_fail(&err);
            goto out;
        }
        client_set_token(c, token);
    } else if (client_set_token(c, token) != 0) {
        goto out;
    }
    json_t *who = client_verify(c, &err);
    if (!who) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = cli_save_login(client_base_url(c), token);
    if (rc == CLI_OK)
        fprintf(stderr, "Logged in to %s as %s (%s).\n", client_base_url(c),
                cli_text(json_object_get(who, "user")), cli_text(json_object_get(who, "role")));
    json_decref(who);
out:
    json_decref(reply);
    client_free(c);
    return rc;
}

static const char scvs_usage[] =
    "usage: siegetank scvs [--json]\n"
    "  Lists the stream workservers the command center knows, and whether they are "
    "online.\n";

int cli_scvs(int argc, char **argv)
{
    struct client_error err;
    int json, rc;
    if (!cli_json_only(argc, argv, scvs_usage, &json, &rc))
        return rc;
    struct client *c = cli_connect(0);
    if (!c)
        return CLI_FAILED;
    json_t *status = client_scvs_status(c, &err);
    if (!status) {
        rc = cli_fail(&err);
        goto out;
    }
    if (json) {
        cli_print_json(status);
    } else {
        const char *name;
        json_t *v;
        printf("%-20s %-32s %s\n", "NAME", "HOST", "ONLINE");
        json_object_foreach(status, name, v)
        {
            printf("%-20s %-32s %s\n", name, cli_text(json_object_get(v, "host")),
                   json_is_true(json_object_get(v, "online")) ? "yes" : "no");
        }
    }
    json_decref(status);
    rc = CLI_OK;
out:
    client_free(c);
    return rc;
}

static const char keys_usage[] = "usage: siegetank keys add --engine ENGINE --description TEXT [--json]\n"
                                 "       siegetank keys list [--json]\n"
                                 "       siegetank keys delete KEY\n"
                                 "  Manages the engine keys cores use to ask for work (admin only).\n";

static int keys_list(struct client *c, int json)
{
    struct client_error err;
    json_t *keys = client_engine_keys_list(c, &err);
    const char *key;
    json_t *v;
    if (!keys)
        return cli_fail(&err);
    if (json) {
        cli_print_json(keys);
    } else {
        printf("%-36s %-16s %-14s %s\n", "KEY", "ENGINE", "CREATED", "DESCRIPTION");
        json_object_foreach(keys, key, v)
        {
            printf("%-36s %-16s ", key, cli_text(json_object_get(v, "engine")));
            printf("%-14s ", cli_text(json_object_get(v, "creation_date")));
            printf("%s\n", cli_text(json_object_get(v, "description")));
        }
    }
    json_decref(keys);
    return CLI_OK;
}

int cli_keys(int argc, char **argv)
{
    static const struct option opts[] = {{"engine", required_argument, NULL, OPT_ENGINE},
                                         {"description", required_argument, NULL, OPT_DESC},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"help", no_argument, NULL, OPT_HELP},
                                         {NULL, 0, NULL, 0}};
    const char *engine = NULL, *desc = NULL;
    struct client_error err;
    int ch, json = 0, rc = CLI_FAILED;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == OPT_ENGINE)
            engine = optarg;
        else if (ch == OPT_DESC)
            desc = optarg;
        else if (ch == OPT_JSON)
            json = 1;
        else if (ch == OPT_HELP)
            return cli_help(keys_usage);
        else
            return cli_usage(keys_usage, "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    const char *action = optind < argc ? argv[optind] : NULL;
    int nargs = argc - optind - 1;
    if (!action)
        return cli_usage(keys_usage, "missing action (add, list or delete)");
    if (strcmp(action, "add") == 0 && (!engine || !desc || nargs != 0))
        return cli_usage(keys_usage, "keys add needs --engine and --description and nothing else");
    if (strcmp(action, "list") == 0 && nargs != 0)
        return cli_usage(keys_usage, "keys list takes no arguments");
    if (strcmp(action, "delete") == 0 && nargs != 1)
        return cli_usage(keys_usage, "keys delete needs exactly one KEY");
    if (strcmp(action, "add") != 0 && strcmp(action, "list") != 0 && strcmp(action, "delete") != 0)
        return cli_usage(keys_usage, "unknown action '%s'", action);
    struct client *c = cli_connect(1);
    if (!c)
        return CLI_FAILED;
    if (strcmp(action, "list") == 0) {
        rc = keys_list(c, json);
    } else if (strcmp(action, "delete") == 0) {
        rc = client_engine_key_delete(c, argv[optind + 1], &err) == 0 ? CLI_OK : cli_fail(&err);
    } else {
        json_t *reply = client_engine_key_create(c, engine, desc, &err);
        if (!reply) {
            rc = cli_fail(&err);
        } else {
            if (json)
                cli_print_json(reply);
            else
                printf("%s\n", cli_text(json_object_get(reply, "key")));
            json_decref(reply);
            rc = CLI_OK;
        }
    }
    client_free(c);
    return rc;
}

static const char manager_usage[] =
    "usage: siegetank manager add --email EMAIL --role admin|manager [--weight W] [--json]\n"
    "  Creates a manager (admin only). The password is prompted for without echo, or\n"
    "  read from stdin when it is not a terminal. Prints the new manager's token.\n";

int cli_manager(int argc, char **argv)
{
    static const struct option opts[] = {
        {"email", required_argument, NULL, OPT_EMAIL},   {"role", required_argument, NULL, OPT_ROLE},
        {"weight", required_argument, NULL, OPT_WEIGHT}, {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, OPT_HELP},           {NULL, 0, NULL, 0}};
    const char *email = NULL, *role = NULL;
    char password[PASSWORD_MAX];
    double weight = 1;
    struct client_error err;
    int ch, json = 0, rc = CLI_FAILED;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == OPT_EMAIL)
            email = optarg;
        else if (ch == OPT_ROLE)
            role = optarg;
        else if (ch == OPT_WEIGHT && cli_parse_weight(optarg, &weight) != 0)
            return cli_usage(manager_usage, "--weight must be a number >= 0, not '%s'", optarg);
        else if (ch == OPT_JSON)
            json = 1;
        else if (ch == OPT_HELP)
            return cli_help(manager_usage);
        else if (ch != OPT_WEIGHT)
            return cli_usage(manager_usage, "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (optind >= argc || strcmp(argv[optind], "add") != 0 || optind + 1 != argc)
        return cli_usage(manager_usage, "the only action is 'add'");
    if (!email || !role)
        return cli_usage(manager_usage, "--email and --role are required");
    if (strcmp(role, "admin") != 0 && strcmp(role, "manager") != 0)
        return cli_usage(manager_usage, "--role must be admin or manager, not '%s'", role);
    struct client *c = cli_connect(1);
    if (!c)
        return CLI_FAILED;
    if (cli_read_password("Password for the new manager: ", password, sizeof password) != 0)
        goto out;
    json_t *reply = client_manager_create(c, email, password, role, weight, &err);
    explicit_bzero(password, sizeof password);
    if (!reply) {
        rc = cli_fail(&err);
        goto out;
    }
    if (json)
        cli_print_json(reply);
    else
        printf("%s\n", cli_text(json_object_get(reply, "token")));
    json_decref(reply);
    rc = CLI_OK;
out:
    client_free(c);
    return rc;
}
