/* daemon_proc: the one launcher of a real `siegetank cc` or `siegetank scv`
 * child for tests (cluster, cc_daemon and scv_proc build on it).
 *
 * daemon_proc_prepare gives the daemon a folder, a free loopback port and
 * the paths of its config and log; daemon_proc_write_conf writes the config:
 * its name, port and 2 threads (and, for an SCV, external_host on that
 * port), then the caller's lines. daemon_proc_start spawns it (output
 * appended to the log, killed if the test process dies) and waits until it
 * answers HTTP. Nothing here asserts: each call says how it went. */
#ifndef ST_DAEMON_PROC_H
#define ST_DAEMON_PROC_H

#include <limits.h>
#include <sys/types.h>

struct daemon_proc {
    char kind[8]; /* "cc" or "scv" */
    char name[64];
    char dir[PATH_MAX];
    char conf[PATH_MAX + 16]; /* <dir>/<kind>.conf */
    char log[PATH_MAX + 16];  /* <dir>/daemon.log */
    char data[PATH_MAX + 80]; /* <dir>/<name>_data, the default data folder */
    char url[128];            /* scheme://127.0.0.1:port */
    int port;
    pid_t pid; /* 0 when not running */
};

/* dir NULL: a fresh temp folder; else that folder, made if missing. tls
 * only picks the URL's scheme (the config's lines say where the keys are). */
void daemon_proc_prepare(struct daemon_proc *d, const char *kind, const char *name, const char *dir, int tls);
/* The config as described above, then the printf-style lines (a trailing
 * newline is added). */
void daemon_proc_write_conf(const struct daemon_proc *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Spawns the daemon; 0 once it answers, -1 when it did not within timeout_s
 * (it is then left running for daemon_proc_stop). */
int daemon_proc_start(struct daemon_proc *d, int timeout_s);
/* Spawns the daemon and waits for it to exit by itself (a refused config);
 * its exit status as harness_wait_exit gives it. */
int daemon_proc_run_to_exit(struct daemon_proc *d, int timeout_s);
/* Sends sig and reaps the process; its exit status as harness_stop gives
 * it, -1 when it was not running. */
int daemon_proc_stop(struct daemon_proc *d, int sig, int timeout_s);
/* 1 when the log so far contains text. */
int daemon_proc_log_has(const struct daemon_proc *d, const char *text);

#endif
