#include "daemon_proc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "util/fs.h"

#define DAEMON_LOG_MAX (64u << 20)

void daemon_proc_prepare(struct daemon_proc *d, const char *kind, const char *name, const char *dir, int tls)
{
    memset(d, 0, sizeof *d);
    snprintf(d->kind, sizeof d->kind, "%s", kind);
    snprintf(d->name, sizeof d->name, "%s", name);
    if (dir == NULL) {
        harness_tmpdir(d->dir);
    } else {
        snprintf(d->dir, sizeof d->dir, "%s", dir);
        if (fs_mkdir_p(d->dir, 0755) != 0) {
            perror(d->dir);
            abort();
        }
    }
    snprintf(d->conf, sizeof d->conf, "%s/%s.conf", d->dir, kind);
    snprintf(d->log, sizeof d->log, "%s/daemon.log", d->dir);
    snprintf(d->data, sizeof d->data, "%s/%s_data", d->dir, name);
    d->port = harness_free_port();
    snprintf(d->url, sizeof d->url, "%s://127.0.0.1:%d", tls ? "https" : "http", d->port);
}

void daemon_proc_write_conf(const struct daemon_proc *d, const char *fmt, ...)
{
    char lines[16384], text[20000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lines, sizeof lines, fmt, ap);
    va_end(ap);
    int n =
        snprintf(text, sizeof text, "name = '%s'\ninternal_http_port = %d\nthreads = 2\n", d->name, d->port);
    if (strcmp(d->kind, "scv") == 0)
        n += snprintf(text + n, sizeof text - (size_t)n, "external_host = 127.0.0.1:%d\n", d->port);
    snprintf(text + n, sizeof text - (size_t)n, "%s\n", lines);
    harness_write(d->conf, text);
}

static void spawn(struct daemon_proc *d)
{
    const char *argv[] = {harness_bin(), d->kind, "-c", d->conf, NULL};
    d->pid = harness_spawn(argv, d->log);
}

int daemon_proc_start(struct daemon_proc *d, int timeout_s)
{
    spawn(d);
    return harness_wait_up(d->url, timeout_s);
}

int daemon_proc_run_to_exit(struct daemon_proc *d, int timeout_s)
{
    spawn(d);
    int rc = harness_wait_exit(d->pid, timeout_s);
    d->pid = 0;
    return rc;
}

int daemon_proc_stop(struct daemon_proc *d, int sig, int timeout_s)
{
    if (d->pid <= 0)
        return -1;
    int rc = harness_stop(d->pid, sig, timeout_s);
    d->pid = 0;
    return rc;
}

int daemon_proc_log_has(const struct daemon_proc *d, const char *text)
{
    size_t len = 0;
    char *log = fs_read_file(d->log, DAEMON_LOG_MAX, &len);
    int found = log != NULL && strstr(log, text) != NULL;
    free(log);
    return found;
}
