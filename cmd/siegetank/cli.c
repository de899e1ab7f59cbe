/* cli: the command table and the helpers every cli*.c file shares. */
#include "cli.h"
#include "client/credentials.h"
#include "util/number.h"

#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

const struct command cli_commands[] = {
    {"login", cli_login, "save the credentials for a command center"},
    {"target", cli_target, "add, list, inspect, update or delete targets"},
    {"stream", cli_stream, "add, inspect, start, stop, delete, download or upload streams"},
    {"sync", cli_sync, "copy a stream's (or a target's) data into a folder, incrementally"},
    {"scvs", cli_scvs, "show the stream workservers and whether they are online"},
    {"keys", cli_keys, "add, list or delete engine keys (admin)"},
    {"manager", cli_manager, "add a manager or an admin (admin)"},
    {"status", cli_status, "show the SCVs, targets, engines and work, as the dashboard does"},
    {"donor", cli_donor, "create or log in a donor; show credit, choose a team, delete"},
    {"leaderboard", cli_leaderboard, "the donors or teams ranked by points"},
    {NULL, NULL, NULL},
};

struct client *cli_connect(int need_token)
{
    char path[1024], msg[512];
    struct credentials cr;
    struct client_error err;
    const char *file = path;
    /* No usable HOME is fine when the environment carries everything. */
    if (credentials_default_path(path, sizeof path, msg, sizeof msg) != 0)
        file = NULL;
    if (credentials_resolve(file, &cr, msg, sizeof msg) != 0) {
        fprintf(stderr, "siegetank: %s\n", msg);
        return NULL;
    }
    if (need_token && !cr.token[0]) {
        fprintf(stderr, "siegetank: not logged in: run 'siegetank login' or set SIEGETANK_TOKEN\n");
        return NULL;
    }
    struct client *c = client_new(cr.cc, NULL, &err);
    if (!c) {
        cli_fail(&err);
        return NULL;
    }
    if (cr.token[0] && client_set_token(c, cr.token) != 0) {
        fprintf(stderr, "siegetank: out of memory\n");
        client_free(c);
        return NULL;
    }
    return c;
}

int cli_fail(const struct client_error *err)
{
    if (err->status)
        fprintf(stderr, "siegetank: %s (HTTP %ld)\n", err->message, err->status);
    else
        fprintf(stderr, "siegetank: %s\n", err->message);
    return CLI_FAILED;
}

int cli_usage(const char *usage, const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        fputs("siegetank: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputs("\n", stderr);
        va_end(ap);
    }
    fputs(usage, stderr);
    return CLI_USAGE;
}

int cli_help(const char *usage)
{
    fputs(usage, stdout);
    return CLI_OK;
}

int cli_json_only(int argc, char **argv, const char *usage, int *json, int *rc)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int ch;
    *json = 0;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'j') {
            *json = 1;
            continue;
        }
        *rc = ch == 'h' ? cli_help(usage) : cli_usage(usage, "unknown option '%s'", argv[optind - 1]);
        return 0;
    }
    if (optind != argc) {
        *rc = cli_usage(usage, "unexpected argument '%s'", argv[optind]);
        return 0;
    }
    return 1;
}

void cli_print_json(const json_t *value)
{
    json_dumpf(value, stdout, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    fputc('\n', stdout);
}

static int read_line(FILE *in, char *out, size_t n)
{
    if (!fgets(out, (int)n, in))
        return -1;
    size_t len = strlen(out);
    if (len == n - 1 && out[len - 1] != '\n')
        return -1; /* longer than the buffer: refuse rather than truncate */
    while (len && (out[len - 1] == '\n' || out[len - 1] == '\r'))
        out[--len] = '\0';
    return 0;
}

int cli_read_password(const char *prompt, char *out, size_t n)
{
    struct termios old, quiet;
    int rc;
    if (!isatty(STDIN_FILENO)) {
        rc = read_line(stdin, out, n);
    } else {
        fputs(prompt, stderr);
        fflush(stderr);
        if (tcgetattr(STDIN_FILENO, &old) != 0)
            return -1;
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        rc = read_line(stdin, out, n);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (rc != 0 || !out[0]) {
        fprintf(stderr, "siegetank: no password given (or longer than %zu bytes)\n", n - 1);
        return -1;
    }
    return 0;
}

int cli_parse_weight(const char *text, double *out)
{
    return number_double(text, 0, DBL_MAX, out);
}

const char *cli_text_in(const json_t *value, char *buf, size_t n)
{
    char *dump;
    if (!value || json_is_null(value))
        return "-";
    if (json_is_string(value))
        return json_string_value(value);
    dump = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(buf, n, "%s", dump ? dump : "?");
    free(dump);
    return buf;
}
