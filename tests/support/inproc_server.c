/* inproc_server: see inproc_server.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>

#include "config/config.h"
#include "harness.h"
#include "inproc_server.h"

static void *run(void *arg)
{
    server_run(arg);
    return NULL;
}

void inproc_server_create(struct inproc_server *s, const char *name)
{
    char dir[PATH_MAX], err[256];
    struct config cfg;
    harness_tmpdir(dir);
    config_defaults(&cfg, CONFIG_SCV);
    snprintf(cfg.name, sizeof cfg.name, "%s", name);
    snprintf(cfg.data_folder, sizeof cfg.data_folder, "%s", dir);
    cfg.internal_http_port = harness_free_port();
    cfg.threads = 1;
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", cfg.internal_http_port);
    s->server = server_create(&cfg, "scv", NULL, err, sizeof err);
    if (s->server == NULL)
        fail_msg("cannot create the in-process server: %s", err);
}

void inproc_server_start(struct inproc_server *s)
{
    assert_int_equal(pthread_create(&s->thread, NULL, run, s->server), 0);
    /* Also initialises curl before the test starts its client threads. */
    assert_int_equal(harness_wait_up(s->url, 10), 0);
}

void inproc_server_stop(struct inproc_server *s)
{
    server_stop(s->server);
    pthread_join(s->thread, NULL);
    server_free(s->server);
    s->server = NULL;
}
