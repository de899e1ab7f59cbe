/* cc_pg_pair: see cc_pg_pair.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cc_pg_pair.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "scv_proc.h"
#include "util/clock.h"

void cc_pg_pair_start(struct cc_pg_pair *p)
{
    char url[256], database[300];
    memset(p, 0, sizeof *p);
    p->pg = pg_harness_start();
    assert_non_null(p->pg);
    assert_int_equal(pg_harness_create_db(p->pg, "shared", url, sizeof url), 0);
    snprintf(database, sizeof database, "database = '%s'", url);
    cc_daemon_prepare(&p->cc[0], database);
    cc_daemon_run(&p->cc[0]);
    cc_daemon_prepare(&p->cc[1], database);
    cc_daemon_run(&p->cc[1]);
    cc_daemon_get(&p->cc[0], "POST", "/managers", NULL,
                  "{\"email\":\"root@x\",\"password\":\"pw\",\"role\":\"admin\"}", "token", p->admin,
                  sizeof p->admin);
    cc_daemon_get(&p->cc[0], "POST", "/managers", p->admin,
                  "{\"email\":\"m1@x\",\"password\":\"pw\",\"role\":\"manager\"}", "token", p->manager,
                  sizeof p->manager);
}

void cc_pg_pair_stop(struct cc_pg_pair *p)
{
    for (int i = 0; i < 2; i++) {
        if (p->cc[i].pid != 0)
            assert_int_equal(harness_stop(p->cc[i].pid, SIGTERM, 20), 0);
        p->cc[i].pid = 0;
    }
    pg_harness_free(p->pg);
    p->pg = NULL;
}

static int matches(long got, json_t *v, long status, const char *error)
{
    if (got != status)
        return 0;
    if (error == NULL)
        return 1;
    const char *text = json_string_value(json_object_get(v, "error"));
    return text != NULL && strstr(text, error) != NULL;
}

int cc_pair_wait(const struct daemon_proc *d, long status, const char *error, int deadline_ms,
                 const char *method, const char *path, const char *auth, const char *body)
{
    double until = clock_mono_s() + deadline_ms / 1e3;
    for (;;) {
        json_t *v = NULL;
        long got = cc_daemon_call(d, method, path, auth, body, &v);
        int ok = matches(got, v, status, error);
        if (!ok && clock_mono_s() >= until) {
            char *text = v ? json_dumps(v, 0) : NULL;
            fprintf(stderr, "%s %s%s: still %ld %s after %d ms (want %ld %s)\n", method, d->url, path, got,
                    text ? text : "", deadline_ms, status, error ? error : "");
            free(text);
        }
        json_decref(v);
        if (ok)
            return 0;
        if (clock_mono_s() >= until)
            return -1;
        usleep(50000);
    }
}

int cc_pair_scv_online(const struct daemon_proc *d, const char *name)
{
    json_t *v = NULL;
    assert_int_equal(cc_daemon_call(d, "GET", "/scvs/status", NULL, NULL, &v), 200);
    json_t *s = json_object_get(v, name);
    int online = s == NULL ? -1 : json_is_true(json_object_get(s, "online"));
    json_decref(v);
    return online;
}

pid_t cc_pair_scv_start(const struct daemon_proc *cc, const char *name, int *port)
{
    return scv_proc_start(cc->url, CC_DAEMON_SECRET, name, port);
}
