#include "cluster.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "util/fs.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

void cluster_init(struct cluster *c, int tls)
{
    memset(c, 0, sizeof *c);
    harness_tmpdir(c->root);
    c->tls = tls;
    snprintf(c->cc_pass, sizeof c->cc_pass, "pass-%d-%ld", (int)getpid(), (long)time(NULL));
    if (tls) {
        snprintf(c->pki, sizeof c->pki, "%s/pki", c->root);
        char cmd[PATH_MAX + 32];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", c->pki);
        if (system(cmd) != 0 || harness_make_pki(c->pki) != 0)
            abort();
    }
}

static void tls_lines(const struct cluster *c, char *out, size_t n)
{
    if (!c->tls) {
        out[0] = '\0';
        return;
    }
    snprintf(out, n, "ssl_certfile = %s/cert.pem\nssl_key = %s/key.pem\nssl_ca_certs = %s/chain.pem\n",
             c->pki, c->pki, c->pki);
}

static void daemon_prepare(struct cluster *c, struct daemon_proc *d, const char *kind, const char *name)
{
    char dir[PATH_MAX + 80];
    snprintf(dir, sizeof dir, "%s/%s", c->root, name);
    daemon_proc_prepare(d, kind, name, dir, c->tls);
}

static int bootstrap_admin(struct cluster *c)
{
    char cmd[4 * PATH_MAX];
    snprintf(cmd, sizeof cmd,
             "'%s' cc -c '%s' add-manager --email admin@test --password admin-password --role admin 2>>'%s'",
             harness_bin(), c->cc.conf, c->cc.log);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    char line[256] = "";
    if (fgets(line, sizeof line, p) == NULL)
        line[0] = '\0';
    int rc = pclose(p);
    line[strcspn(line, "\r\n")] = '\0';
    if (rc != 0 || line[0] == '\0')
        return -1;
    snprintf(c->admin_token, sizeof c->admin_token, "%s", line);
    return 0;
}

int cluster_start_cc(struct cluster *c, const char *extra_conf)
{
    char tls[4 * PATH_MAX];
    daemon_prepare(c, &c->cc, "cc", "cc");
    tls_lines(c, tls, sizeof tls);
    daemon_proc_write_conf(&c->cc, "cc_pass = %s\n%s%s", c->cc_pass, tls, extra_conf ? extra_conf : "");
    if (bootstrap_admin(c) != 0)
        return -1;
    return cluster_start(c, &c->cc);
}

int cluster_add_scv(struct cluster *c, const char *name, const char *extra_conf)
{
    if (c->nscv == CLUSTER_MAX_SCVS)
        return -1;
    struct daemon_proc *d = &c->scv[c->nscv];
    char tls[4 * PATH_MAX];
    daemon_prepare(c, d, "scv", name);
    tls_lines(c, tls, sizeof tls);
    daemon_proc_write_conf(d, "command_center = %s\ncc_pass = %s\n%s%s", c->cc.url, c->cc_pass, tls,
                           extra_conf ? extra_conf : "");
    if (cluster_start(c, d) != 0)
        return -1;
    return c->nscv++;
}

int cluster_start(struct cluster *c, struct daemon_proc *d)
{
    if (daemon_proc_start(d, 20) != 0)
        return -1;
    if (strcmp(d->kind, "scv") == 0)
        return cluster_wait_scv(c, d->name, 1, 30);
    return 0;
}

int cluster_stop(struct daemon_proc *d, int sig)
{
    return daemon_proc_stop(d, sig, 30);
}

void cluster_stop_all(struct cluster *c)
{
    for (int i = 0; i < c->nscv; i++)
        if (c->scv[i].pid > 0)
            cluster_stop(&c->scv[i], SIGTERM);
    if (c->cc.pid > 0)
        cluster_stop(&c->cc, SIGTERM);
}

int cluster_wait_scv(struct cluster *c, const char *name, int want_online, int timeout_s)
{
    char url[256];
    snprintf(url, sizeof url, "%s/scvs/status", c->cc.url);
    for (int i = 0; i < timeout_s * 10; i++) {
        struct harness_response r;
        harness_http("GET", url, NULL, NULL, 0, NULL, &r);
        json_t *body = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
        json_t *scv = json_object_get(body, name);
        int found = scv != NULL && json_is_true(json_object_get(scv, "online")) == (want_online != 0);
        json_decref(body);
        harness_response_free(&r);
        if (found)
            return 0;
        sleep_ms(100);
    }
    return -1;
}

int cluster_scv_secret(const struct daemon_proc *d, char *out, size_t outlen)
{
    char path[PATH_MAX + 256];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/secret", d->data);
    char *text = fs_read_file(path, 4096, &len);
    if (text == NULL)
        return -1;
    text[strcspn(text, "\r\n")] = '\0';
    int rc = text[0] != '\0' && strlen(text) < outlen ? 0 : -1;
    if (rc == 0)
        snprintf(out, outlen, "%s", text);
    free(text);
    return rc;
}

int cluster_engine_key(struct cluster *c, const char *engine, char *key, size_t keylen)
{
    char url[256], auth[300], body[256];
    snprintf(url, sizeof url, "%s/engines/keys", c->cc.url);
    snprintf(auth, sizeof auth, "Authorization: %s", c->admin_token);
    snprintf(body, sizeof body, "{\"engine\":\"%s\",\"description\":\"test\"}", engine);
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    struct harness_response r;
    harness_http("POST", url, headers, body, strlen(body), NULL, &r);
    json_t *reply = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    const char *k = json_string_value(json_object_get(reply, "key"));
    int rc = k != NULL && strlen(k) < keylen ? 0 : -1;
    if (rc == 0)
        snprintf(key, keylen, "%s", k);
    json_decref(reply);
    harness_response_free(&r);
    return rc;
}

json_t *cluster_run_core(const struct cluster *c, const char *args)
{
    char cmd[4 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "'%s' core --cc %s %s --json 2>>'%s/core.log'", harness_bin(), c->cc.url, args,
             c->root);
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    if (pclose(p) != 0)
        return NULL;
    return json_loads(out, 0, NULL);
}
