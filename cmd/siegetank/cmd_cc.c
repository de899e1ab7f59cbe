/* `siegetank cc`: the Command Center daemon. */
#include "command.h"
#include "daemon.h"

int cmd_cc(int argc, char **argv)
{
    static const struct daemon_hooks hooks = {0};
    return daemon_main(argc, argv, CONFIG_CC, "cc", &hooks);
}
