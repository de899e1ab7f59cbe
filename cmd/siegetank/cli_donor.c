/* cli_donor: the donor and leaderboard subcommands (PROTOCOL.md "Donors
 * and credit"). A donor logs in like a manager: the token goes to the same
 * credentials file, and is also printed so it can be given to
 * `siegetank core --donor`. */
#include "cli.h"
#include "util/number.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASSWORD_MAX 1024

enum {
    OPT_HELP = 'h',
    OPT_JSON = 'j',
    OPT_CC = 256,
    OPT_USERNAME,
    OPT_EMAIL,
    OPT_TEAM,
    OPT_NO_TEAM,
    OPT_PUBLIC,
    OPT_YES,
    OPT_TEAMS,
    OPT_PERIOD,
    OPT_LIMIT,
    OPT_OFFSET
};

static const char donor_usage[] =
    "usage: siegetank donor create --cc HOST:PORT --username NAME --email EMAIL [--json]\n"
    "       siegetank donor login --cc HOST:PORT --username NAME [--json]\n"
    "       siegetank donor info [USERNAME] [--json]\n"
    "       siegetank donor settings [--team NAME | --no-team] [--public yes|no]\n"
    "       siegetank donor delete --yes\n"
    "  create and login ask for the password (without echo, or one line of stdin),\n"
    "  save the donor's token like 'siegetank login' does and print it, for\n"
    "  'siegetank core --donor TOKEN'. info shows a public donor's credit (yours\n"
    "  without USERNAME); settings chooses a team and whether you appear in public\n"
    "  views; delete erases your login and email for good (your credit stays in the\n"
    "  totals, anonymously).\n";

static const char board_usage[] =
    "usage: siegetank leaderboard [--teams] [--period all|day|week] [--limit N] [--offset N] [--json]\n"
    "  The public donors (or the teams) ranked by points: all time, today or this\n"
    "  week (UTC, weeks from Monday).\n";

struct donor_args {
    const char *cc, *username, *email, *team, *public_;
    int no_team, yes, json;
};

static int parse_donor_args(int argc, char **argv, struct donor_args *a)
{
    static const struct option opts[] = {
        {"cc", required_argument, NULL, OPT_CC},       {"username", required_argument, NULL, OPT_USERNAME},
        {"email", required_argument, NULL, OPT_EMAIL}, {"team", required_argument, NULL, OPT_TEAM},
        {"no-team", no_argument, NULL, OPT_NO_TEAM},   {"public", required_argument, NULL, OPT_PUBLIC},
        {"yes", no_argument, NULL, OPT_YES},           {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, OPT_HELP},         {NULL, 0, NULL, 0}};
    int ch;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_CC:
            a->cc = optarg;
            break;
        case OPT_USERNAME:
            a->username = optarg;
            break;
        case OPT_EMAIL:
            a->email = optarg;
            break;
        case OPT_TEAM:
            a->team = optarg;
            break;
        case OPT_NO_TEAM:
            a->no_team = 1;
            break;
        case OPT_PUBLIC:
            a->public_ = optarg;
            break;
        case OPT_YES:
            a->yes = 1;
            break;
        case OPT_JSON:
            a->json = 1;
            break;
        case OPT_HELP:
            return cli_help(donor_usage) == CLI_OK ? 1 : -1;
        default:
            return cli_usage(donor_usage, "unknown or incomplete option '%s'", argv[optind - 1]), -1;
        }
    }
    return 0;
}

/* create or login: a token from the CC, saved and printed. */
static int donor_token(const struct donor_args *a, int create)
{
    char password[PASSWORD_MAX];
    struct client_error err;
    json_t *reply = NULL;
    int rc = CLI_FAILED;
    if (!a->cc || !a->username || (create && !a->email))
        return cli_usage(donor_usage, create ? "--cc, --username and --email are required"
                                             : "--cc and --username are required");
    struct client *c = client_new(a->cc, NULL, &err);
    if (!c)
        return cli_fail(&err);
    if (cli_read_password("Password: ", password, sizeof password) != 0)
        goto out;
    reply = create ? client_donor_create(c, a->username, password, a->email, &err)
                   : client_donor_auth(c, a->username, password, &err);
    explicit_bzero(password, sizeof password);
    const char *token = json_string_value(json_object_get(reply, "token"));
    if (!token) {
        rc = reply ? (fprintf(stderr, "siegetank: the server sent no token\n"), CLI_FAILED) : cli_fail(&err);
        goto out;
    }
    rc = cli_save_login(client_base_url(c), token);
    if (rc != CLI_OK)
        goto out;
    if (a->json)
        cli_print_json(reply);
    else
        printf("%s\n", token);
    fprintf(stderr, "Logged in to %s as donor %s.\n", client_base_url(c), a->username);
out:
    json_decref(reply);
    client_free(c);
    return rc;
}

static void print_info(const json_t *info)
{
    const char *target;
    json_t *v;
    printf("username     %s\n", cli_text(json_object_get(info, "username")));
    printf("team         %s\n", cli_text(json_object_get(info, "team")));
    printf("points       %s\n", cli_text(json_object_get(info, "points")));
    printf("frames       %s\n", cli_text(json_object_get(info, "frames")));
    printf("fragments    %s\n", cli_text(json_object_get(info, "fragments")));
    printf("last credit  %s\n", cli_text(json_object_get(info, "last_credit")));
    if (json_object_size(json_object_get(info, "targets")) > 0)
        printf("\n%-36s %14s %12s\n", "TARGET", "POINTS", "FRAMES");
    json_object_foreach(json_object_get(info, "targets"), target, v)
    {
        printf("%-36s %14s ", target, cli_text(json_object_get(v, "points")));
        printf("%12s\n", cli_text(json_object_get(v, "frames")));
    }
}

static int donor_info(struct client *c, const char *username, int json)
{
    struct client_error err;
    json_t *who = NULL, *info;
    if (!username) {
        who = client_verify(c, &err);
        username = json_string_value(json_object_get(who, "user"));
        if (!username) {
            json_decref(who);
            return who ? cli_usage(donor_usage, "give a USERNAME, or log in as a donor") : cli_fail(&err);
        }
    }
    info = client_donor_info(c, username, &err);
    json_decref(who);
    if (!info)
        return cli_fail(&err);
    if (json)
        cli_print_json(info);
    else
        print_info(info);
    json_decref(info);
    return CLI_OK;
}

static int donor_settings(struct client *c, const struct donor_args *a)
{
    struct client_error err;
    if (a->team && a->no_team)
        return cli_usage(donor_usage, "give --team or --no-team, not both");
    if (a->public_ && strcmp(a->public_, "yes") != 0 && strcmp(a->public_, "no") != 0)
        return cli_usage(donor_usage, "--public takes yes or no");
    if (!a->team && !a->no_team && !a->public_)
        return cli_usage(donor_usage, "nothing to change: give --team, --no-team or --public");
    json_t *body = json_object();
    if (a->team)
        json_object_set_new(body, "team", json_string(a->team));
    if (a->no_team)
        json_object_set_new(body, "team", json_null());
    if (a->public_)
        json_object_set_new(body, "public", json_boolean(strcmp(a->public_, "yes") == 0));
    int rc = client_donor_settings(c, body, &err) == 0 ? CLI_OK : cli_fail(&err);
    json_decref(body);
    return rc;
}

int cli_donor(int argc, char **argv)
{
    struct donor_args a = {0};
    struct client_error err;
    int parsed = parse_donor_args(argc, argv, &a);
    if (parsed != 0)
        return parsed > 0 ? CLI_OK : CLI_USAGE;
    const char *action = optind < argc ? argv[optind] : NULL;
    const char *extra = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (!action)
        return cli_usage(donor_usage, "which action: create, login, info, settings or delete?");
    if (strcmp(action, "create") == 0 || strcmp(action, "login") == 0)
        return extra ? cli_usage(donor_usage, "unexpected argument '%s'", extra)
                     : donor_token(&a, strcmp(action, "create") == 0);
    int is_info = strcmp(action, "info") == 0;
    if (!is_info && strcmp(action, "settings") != 0 && strcmp(action, "delete") != 0)
        return cli_usage(donor_usage, "unknown action '%s'", action);
    if ((extra && !is_info) || (is_info && optind + 2 < argc))
        return cli_usage(donor_usage, "unexpected argument '%s'",
                         extra && !is_info ? extra : argv[optind + 2]);
    if (strcmp(action, "delete") == 0 && !a.yes)
        return cli_usage(donor_usage, "deleting a donor cannot be undone: add --yes");
    struct client *c = cli_connect(!is_info || !extra);
    if (!c)
        return CLI_FAILED;
    int rc;
    if (is_info)
        rc = donor_info(c, extra, a.json);
    else if (strcmp(action, "settings") == 0)
        rc = donor_settings(c, &a);
    else
        rc = client_donor_delete(c, &err) == 0 ? CLI_OK : cli_fail(&err);
    client_free(c);
    return rc;
}

static void print_board(const json_t *board, int teams)
{
    size_t i;
    json_t *e;
    printf("%s board (%s), %s entries\n", teams ? "team" : "donor",
           cli_text(json_object_get(board, "period")), cli_text(json_object_get(board, "total")));
    if (teams)
        printf("%6s  %-32s %8s %14s %12s\n", "RANK", "TEAM", "MEMBERS", "POINTS", "FRAMES");
    else
        printf("%6s  %-32s %-20s %14s %12s\n", "RANK", "DONOR", "TEAM", "POINTS", "FRAMES");
    json_array_foreach(json_object_get(board, "entries"), i, e)
    {
        printf("%6s  ", cli_text(json_object_get(e, "rank")));
        printf("%-32s ", cli_text(json_object_get(e, teams ? "team" : "username")));
        printf(teams ? "%8s " : "%-20s ", cli_text(json_object_get(e, teams ? "members" : "team")));
        printf("%14s ", cli_text(json_object_get(e, "points")));
        printf("%12s\n", cli_text(json_object_get(e, "frames")));
    }
}

int cli_leaderboard(int argc, char **argv)
{
    static const struct option opts[] = {{"teams", no_argument, NULL, OPT_TEAMS},
                                         {"period", required_argument, NULL, OPT_PERIOD},
                                         {"limit", required_argument, NULL, OPT_LIMIT},
                                         {"offset", required_argument, NULL, OPT_OFFSET},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"help", no_argument, NULL, OPT_HELP},
                                         {NULL, 0, NULL, 0}};
    const char *period = "all";
    long limit = -1, offset = -1;
    int ch, teams = 0, json = 0;
    struct client_error err;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == OPT_TEAMS)
            teams = 1;
        else if (ch == OPT_PERIOD)
            period = optarg;
        else if (ch == OPT_LIMIT && number_long(optarg, 0, LONG_MAX, &limit) == 0)
            continue;
        else if (ch == OPT_OFFSET && number_long(optarg, 0, LONG_MAX, &offset) == 0)
            continue;
        else if (ch == OPT_JSON)
            json = 1;
        else if (ch == OPT_HELP)
            return cli_help(board_usage);
        else
            return cli_usage(board_usage, "bad or incomplete option '%s'", argv[optind - 1]);
    }
    if (optind != argc)
        return cli_usage(board_usage, "unexpected argument '%s'", argv[optind]);
    struct client *c = cli_connect(0);
    if (!c)
        return CLI_FAILED;
    json_t *board = client_leaderboard(c, teams, period, limit, offset, &err);
    int rc = board ? CLI_OK : cli_fail(&err);
    if (board && json)
        cli_print_json(board);
    else if (board)
        print_board(board, teams);
    json_decref(board);
    client_free(c);
    return rc;
}
