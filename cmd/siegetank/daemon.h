/* daemon: the shared front end of `siegetank cc` and `siegetank scv`.
 *
 * Parses `-c FILE`, loads the config, and either runs an extra command given
 * after it (the CC's `add-manager ...`) or creates the service, opens the
 * error log (error.log in the data folder), creates the HTTP server,
 * attaches the service's routes and tickers, and serves until a stop
 * signal. Each daemon supplies its hooks; a NULL hook is skipped. The
 * process runs with umask 077: its files are 0600, its folders 0700; a data
 * folder left open to others by an older version is closed (0700) at start. */
#ifndef ST_DAEMON_H
#define ST_DAEMON_H

#include <stddef.h>

#include "config/config.h"
#include "runtime/server.h"

struct daemon_hooks {
    void *(*create)(const struct config *cfg, char *err, size_t errlen);  /* NULL on failure */
    int (*attach)(void *app, struct server *s, char *err, size_t errlen); /* routes, tickers */
    void (*destroy)(void *app);
    /* Runs `siegetank <kind> -c FILE <argv...>` without serving; exit status. */
    int (*command)(const struct config *cfg, int argc, char **argv);
    const char *command_usage; /* appended to the usage text */
};

int daemon_main(int argc, char **argv, enum config_kind kind, const char *kind_name,
                const struct daemon_hooks *hooks);

#endif
