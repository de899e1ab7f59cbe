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
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "scv_proc.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void cc_prepare(struct pair_cc *d, const char *db_url)
{
    char text[4096];
    harness_tmpdir(d->dir);
    d->port = harness_free_port();
    snprintf(d->conf, sizeof d->conf, "%s/cc.conf", d->dir);
    snprintf(d->log, sizeof d->log, "%s/out.log", d->dir);
    snprintf(text, sizeof text,
             "name = 'testcc'\ninternal_http_port = %d\nthreads = 2\ncc_pass = '" CC_PAIR_SECRET "'\n"
             "scv_check_interval = 1\ndatabase = '%s'\n",
             d->port, db_url);
    harness_write(d->conf, text);
    snprintf(d->url, sizeof d->url, "http://127.0.0.1:%d", d->port);
}

static void cc_run(struct pair_cc *d)
{
    const char *argv[] = {harness_bin(), "cc", "-c", d->conf, NULL};
    d->pid = harness_spawn(argv, d->log);
    assert_int_equal(harness_wait_up(d->url, 15), 0);
}

static void copy_secret(const struct pair_cc *from, const struct pair_cc *to)
{
    char cmd[4 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/testcc_data' && cp '%s/testcc_data/secret.key' '%s/testcc_data/'",
             to->dir, from->dir, to->dir);
    assert_int_equal(system(cmd), 0);
}

void cc_pg_pair_start(struct cc_pg_pair *p)
{
    char url[256];
    memset(p, 0, sizeof *p);
    p->pg = pg_harness_start();
    assert_non_null(p->pg);
    assert_int_equal(pg_harness_create_db(p->pg, "shared", url, sizeof url), 0);
    cc_prepare(&p->cc[0], url);
    cc_run(&p->cc[0]);
    cc_prepare(&p->cc[1], url);
    copy_secret(&p->cc[0], &p->cc[1]);
    cc_run(&p->cc[1]);
    cc_pair_get(&p->cc[0], "POST", "/managers", NULL,
                "{\"email\":\"root@x\",\"password\":\"pw\",\"role\":\"admin\"}", "token", p->admin,
                sizeof p->admin);
    cc_pair_get(&p->cc[0], "POST", "/managers", p->admin,
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

long cc_pair_call(const struct pair_cc *d, const char *method, const char *path, const char *auth,
                  const char *body, json_t **out)
{
    char url[1024], header[2048], cors[8];
    struct harness_response r;
    const char *headers[] = {header, NULL};
    snprintf(url, sizeof url, "%s%s", d->url, path);
    snprintf(header, sizeof header, "Authorization: %s", auth ? auth : "");
    harness_http(method, url, auth ? headers : NULL, body, body ? strlen(body) : 0, NULL, &r);
    long status = r.status;
    json_t *v = json_loads(r.body ? r.body : "", 0, NULL);
    if (status != 0)
        assert_int_equal(harness_header(&r, "access-control-allow-origin", cors, sizeof cors), 0);
    if (status != 0 && status != 200) {
        assert_non_null(v);
        assert_true(json_is_string(json_object_get(v, "error")));
    }
    harness_response_free(&r);
    if (out != NULL)
        *out = v;
    else
        json_decref(v);
    return status;
}

void cc_pair_expect(const struct pair_cc *d, long status, const char *method, const char *path,
                    const char *auth, const char *body)
{
    long got = cc_pair_call(d, method, path, auth, body, NULL);
    if (got != status)
        fprintf(stderr, "%s %s%s %s: expected %ld, got %ld\n", method, d->url, path, body ? body : "", status,
                got);
    assert_int_equal(got, status);
}

void cc_pair_get(const struct pair_cc *d, const char *method, const char *path, const char *auth,
                 const char *body, const char *key, char *out, size_t n)
{
    json_t *v = NULL;
    assert_int_equal(cc_pair_call(d, method, path, auth, body, &v), 200);
    const char *s = json_string_value(json_object_get(v, key));
    assert_non_null(s);
    snprintf(out, n, "%s", s);
    json_decref(v);
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

int cc_pair_wait(const struct pair_cc *d, long status, const char *error, int deadline_ms, const char *method,
                 const char *path, const char *auth, const char *body)
{
    double until = now_ms() + deadline_ms;
    for (;;) {
        json_t *v = NULL;
        long got = cc_pair_call(d, method, path, auth, body, &v);
        int ok = matches(got, v, status, error);
        if (!ok && now_ms() >= until) {
            char *text = v ? json_dumps(v, 0) : NULL;
            fprintf(stderr, "%s %s%s: still %ld %s after %d ms (want %ld %s)\n", method, d->url, path, got,
                    text ? text : "", deadline_ms, status, error ? error : "");
            free(text);
        }
        json_decref(v);
        if (ok)
            return 0;
        if (now_ms() >= until)
            return -1;
        usleep(50000);
    }
}

int cc_pair_scv_online(const struct pair_cc *d, const char *name)
{
    json_t *v = NULL;
    assert_int_equal(cc_pair_call(d, "GET", "/scvs/status", NULL, NULL, &v), 200);
    json_t *s = json_object_get(v, name);
    int online = s == NULL ? -1 : json_is_true(json_object_get(s, "online"));
    json_decref(v);
    return online;
}

pid_t cc_pair_scv_start(const struct pair_cc *cc, const char *name, int *port)
{
    return scv_proc_start(cc->url, CC_PAIR_SECRET, name, port);
}
