/* cluster: a real CC and real SCVs on loopback for integration tests.
 *
 * Each daemon gets its own folder under one temp root, a free port and a log.
 * The CC's first admin is bootstrapped with `siegetank cc -c cc.conf
 * add-manager` before the CC starts (the way an operator does it). SCVs are
 * pointed at the CC with the shared cc_pass and waited for until the CC
 * lists them online. Plain HTTP unless tls is set (then a throw-away PKI). */
#ifndef ST_CLUSTER_H
#define ST_CLUSTER_H

#include <jansson.h>
#include <limits.h>
#include <sys/types.h>

#include "daemon_proc.h"

#define CLUSTER_MAX_SCVS 8

struct cluster {
    char root[PATH_MAX];
    int tls;
    char pki[PATH_MAX + 8];
    char cc_pass[65];
    struct daemon_proc cc;
    struct daemon_proc scv[CLUSTER_MAX_SCVS];
    int nscv;
    char admin_token[256];
};

/* Makes the temp root (and PKI when tls). Aborts the test on failure. */
void cluster_init(struct cluster *c, int tls);
/* Bootstraps admin@test with add-manager, then starts the CC with extra
 * config lines appended. 0 or -1. */
int cluster_start_cc(struct cluster *c, const char *extra_conf);
/* Adds an SCV named name (extra config lines appended), starts it and waits
 * until the CC reports it online. Returns its index, or -1. */
int cluster_add_scv(struct cluster *c, const char *name, const char *extra_conf);
/* (Re)starts a stopped daemon with its existing config; waits until it
 * answers (and, for an SCV, until it is online again). 0 or -1. */
int cluster_start(struct cluster *c, struct daemon_proc *d);
/* Sends sig (SIGKILL for a crash, SIGTERM for a clean stop) and reaps the
 * process; returns its exit status as harness_stop does. */
int cluster_stop(struct daemon_proc *d, int sig);
void cluster_stop_all(struct cluster *c);
/* Waits until GET /scvs/status on the CC reports name with online == want. */
int cluster_wait_scv(struct cluster *c, const char *name, int want_online, int timeout_s);
/* An SCV's activation secret as the CC presents it (read from its data
 * folder: <dir>/<name>_data/secret). 0 or -1. */
int cluster_scv_secret(const struct daemon_proc *d, char *out, size_t outlen);
/* Runs `siegetank core --cc <cc> ARGS --json` (stderr appended to
 * <root>/core.log) and returns its JSON summary, or NULL when it exited
 * nonzero or printed no JSON. */
json_t *cluster_run_core(const struct cluster *c, const char *args);
/* Creates an engine key for engine with the admin token; 0 or -1. */
int cluster_engine_key(struct cluster *c, const char *engine, char *key, size_t keylen);

#endif
