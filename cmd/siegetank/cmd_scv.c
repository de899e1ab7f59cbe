/* `siegetank scv`: the stream workserver daemon. */
#include "command.h"
#include "daemon.h"

int cmd_scv(int argc, char **argv)
{
    static const struct daemon_hooks hooks = {0};
    return daemon_main(argc, argv, CONFIG_SCV, "scv", &hooks);
}
