/* command: the subcommands of the `siegetank` binary.
 * Each takes argv with argv[0] = the subcommand name and returns the exit
 * status: 0 success, 1 refused or failed, 2 usage error. */
#ifndef ST_COMMAND_H
#define ST_COMMAND_H

typedef int (*command_fn)(int argc, char **argv);

struct command {
    const char *name;
    command_fn fn;
    const char *summary;
};

int cmd_cc(int argc, char **argv);
int cmd_scv(int argc, char **argv);
int cmd_core(int argc, char **argv);
int cmd_up(int argc, char **argv);

#endif
