/* cli_runner: runs one `siegetank` command (the binary from $SIEGETANK_BIN)
 * the way a user would, and captures what it printed and its exit status.
 * SIEGETANK_CC and SIEGETANK_TOKEN are set (or unset, when NULL) for the
 * child only, so a test can play several users in turn. */
#ifndef ST_CLI_RUNNER_H
#define ST_CLI_RUNNER_H

#include <stddef.h>

struct cli_call {
    const char *cc;    /* SIEGETANK_CC, or NULL to unset it */
    const char *token; /* SIEGETANK_TOKEN, or NULL to unset it */
    const char *input; /* written to the child's stdin; NULL: empty stdin */
};

struct cli_result {
    int status; /* exit status; 128 + signal when killed; -1 when not run */
    char *out;  /* stdout, NUL-terminated */
    char *err;  /* stderr, NUL-terminated */
};

/* Runs `siegetank argv...` (argv NULL-terminated, without the binary) and
 * returns its exit status; r must be released with cli_result_free. */
int cli_run(const struct cli_call *call, const char *const argv[], struct cli_result *r);
void cli_result_free(struct cli_result *r);
/* The first line of r->out (without the newline) into out; 0, or -1 when
 * stdout was empty or the line does not fit. */
int cli_first_line(const struct cli_result *r, char *out, size_t n);

#endif
