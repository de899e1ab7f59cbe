/* siegetank: one binary, many subcommands (see usage()). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "command.h"

static const struct command daemon_commands[] = {
    {"cc", cmd_cc, "run a Command Center: siegetank cc -c cc.conf"},
    {"scv", cmd_scv, "run a stream workserver: siegetank scv -c scv.conf"},
    {"up", cmd_up, "run a local CC + SCV with TLS and a short demo: siegetank up [--no-demo]"},
    {"core", cmd_core, "run reference cores: siegetank core --cc HOST:PORT --key KEY"},
    {NULL, NULL, NULL},
};

static const struct command *const command_tables[] = {daemon_commands, cli_commands};

static void usage(FILE *out)
{
    fprintf(out, "usage: siegetank <command> [options]\n\ncommands:\n");
    for (size_t t = 0; t < sizeof command_tables / sizeof command_tables[0]; t++)
        for (const struct command *c = command_tables[t]; c->name != NULL; c++)
            fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\n'siegetank <command> --help' describes one command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t t = 0; t < sizeof command_tables / sizeof command_tables[0]; t++)
        for (const struct command *c = command_tables[t]; c->name != NULL; c++)
            if (strcmp(c->name, argv[1]) == 0)
                return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "siegetank: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
