/* cli: the manager, admin and donor subcommands of `siegetank` (login,
 * target, stream, sync, scvs, keys, manager, status, donor, leaderboard),
 * all going through the client library.
 * main.c lists cli_commands; the rest of this header is what the cli*.c files
 * share. Exit codes: 0 success, 1 refused by the server or network error
 * (the server's error text is printed), 2 usage error (the subcommand's usage
 * is printed). Every command takes --json for machine-readable output. */
#ifndef ST_CLI_H
#define ST_CLI_H

#include <stddef.h>
#include <jansson.h>

#include "client/client.h"
#include "command.h"

extern const struct command cli_commands[]; /* ends with {NULL, NULL, NULL} */

enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

int cli_login(int argc, char **argv);
int cli_target(int argc, char **argv);
int cli_stream(int argc, char **argv);
int cli_sync(int argc, char **argv);
int cli_scvs(int argc, char **argv);
int cli_keys(int argc, char **argv);
int cli_manager(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_donor(int argc, char **argv);
int cli_leaderboard(int argc, char **argv);

/* A handle for the saved (or SIEGETANK_CC/SIEGETANK_TOKEN) credentials.
 * need_token: fail when no token is known. NULL after printing why. */
struct client *cli_connect(int need_token);
/* Saves the CC address and token as the CLI's credentials; CLI_OK or
 * CLI_FAILED after printing why. */
int cli_save_login(const char *cc, const char *token);
/* Prints the error and returns CLI_FAILED. */
int cli_fail(const struct client_error *err);
/* Prints "siegetank: <message>" (when fmt) and usage to stderr; CLI_USAGE. */
int cli_usage(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* --help: usage to stdout; CLI_OK. */
int cli_help(const char *usage);
/* The options of a command taking only --json and --help: 1 when it should
 * go on (*json set), else 0 and *rc is its exit status (help or usage). */
int cli_json_only(int argc, char **argv, const char *usage, int *json, int *rc);
void cli_print_json(const json_t *value);
/* A password from the terminal without echo, or one line of stdin when it is
 * not a terminal. 0, or -1 after printing why. */
int cli_read_password(const char *prompt, char *out, size_t n);
/* Parses a weight (a finite number >= 0). 0 or -1. */
int cli_parse_weight(const char *text, double *out);
/* A JSON value as display text ("-" for missing, a string as is, anything
 * else compact JSON cut to fit buf). */
#define CLI_TEXT_MAX 512
const char *cli_text_in(const json_t *value, char *buf, size_t n);
/* cli_text_in with a fresh buffer per use (a compound literal, living to the
 * end of the enclosing block), so several may share one printf. */
#define cli_text(value) cli_text_in((value), (char[CLI_TEXT_MAX]){0}, CLI_TEXT_MAX)

/* {"streams":[ids]} of a target: the CC's gathered list, or (when the CC
 * lacks that route) each shard's list. NULL with err filled. */
json_t *cli_target_streams(struct client *c, const char *target_id, struct client_error *err);
/* Tells on stderr which SCVs (the CC's "unreachable" list) did not answer a
 * target's stream listing; returns how many. A partial list is a failure. */
int cli_warn_unreachable(const json_t *all);

#endif
