/* `siegetank scv`: the stream workserver daemon. */
#include "command.h"
#include "daemon.h"
#include "scv/scv_service.h"

static void *scv_create(const struct config *cfg, char *err, size_t errlen)
{
    return scv_service_create(cfg, err, errlen);
}

static int scv_attach(void *app, struct server *s, char *err, size_t errlen)
{
    return scv_service_attach(app, s, err, errlen);
}

static void scv_destroy(void *app)
{
    scv_service_destroy(app);
}

int cmd_scv(int argc, char **argv)
{
    static const struct daemon_hooks hooks = {
        .create = scv_create,
        .attach = scv_attach,
        .destroy = scv_destroy,
    };
    return daemon_main(argc, argv, CONFIG_SCV, "scv", &hooks);
}
