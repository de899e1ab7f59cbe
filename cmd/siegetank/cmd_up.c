/* `siegetank up`: a whole local deployment in one command.
 *
 * Creates DIR (certificate, configs, an admin, an engine key, all reused on
 * the next run), starts a CC and an SCV as child processes with TLS, and by
 * default runs a short demo: a target, a few streams, a few reference cores,
 * printing the frames each stream has committed. The demo runs OpenMM on
 * alanine dipeptide (seed files compiled in, see up_demo_files.h), or with
 * --engine toy the toy engine. Ctrl-C (or SIGHUP, SIGTERM) stops the cores,
 * the SCV and the CC, in that order; the daemons also die with `up` when it
 * is killed outright.
 *
 * DIR/credentials.json exists only once the deployment it describes is
 * ready (the SCV registered and online at the CC): until then what `up`
 * makes is kept in DIR/credentials.pending.json, so a client that reads the
 * credentials as soon as they appear finds everything running. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "command.h"
#include "config/config.h"
#include "util/number.h"
#include "core/core_runner.h"
#include "core/md_engine.h"
#include "up_demo_files.h"
#include "runtime/tls.h"
#include "scv/scv_service.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/wire_file.h"

#define UP_ADMIN_EMAIL "admin@localhost"
#define UP_SCV_NAME "local"
#define UP_CREDENTIALS "credentials.json"
#define UP_CREDENTIALS_PENDING "credentials.pending.json"
/* Seconds a core may stay silent before its stream goes back to the queue:
 * three of the reference core's default 60 s heartbeats (at one, a core
 * that works longer than a minute loses its stream to the race between its
 * heartbeat and the expiry), yet short enough that a killed local core's
 * stream comes back within minutes. */
#define UP_HEARTBEAT_INCREMENT 180
#define UP_OPENMM_ENGINE "openmm"
/* Engine keys made for the local cores, one per engine. */
static const char *const up_engines[] = {MD_ENGINE_NAME, UP_OPENMM_ENGINE};

struct up_options {
    char dir[1024];
    int cc_port;
    int scv_port;
    int demo;
    int demo_seconds;
    int cores;
    int streams;
    int heartbeat_increment; /* 0: not given (UP_HEARTBEAT_INCREMENT) */
    const char *engine;      /* the demo's: MD_ENGINE_NAME or UP_OPENMM_ENGINE */
};

struct up_state {
    struct up_options opt;
    char self[PATH_MAX];
    char cc_url[128];
    pid_t cc_pid, scv_pid;
    off_t scv_log_start; /* size of scv.log before this run's SCV started */
    json_t *creds;       /* saved to UP_CREDENTIALS once ready, before in UP_CREDENTIALS_PENDING */
    int ready;
    struct client *cc;
};

static volatile sig_atomic_t up_stop;

static void on_signal(int sig)
{
    (void)sig;
    up_stop = 1;
}

static int usage(int status)
{
    FILE *out = status == 0 ? stdout : stderr;
    fprintf(out,
            "usage: siegetank up [--dir DIR] [--cc-port N] [--scv-port N] [--no-demo]\n"
            "                    [--demo-seconds N] [--cores N] [--streams N]\n"
            "                    [--heartbeat-increment SECONDS] [--engine openmm|toy]\n\n"
            "Runs a local Command Center and stream workserver with TLS, data in DIR\n"
            "(default ./siegetank_local, reused on the next run), and a short demo unless\n"
            "--no-demo. Ports default to 8980 (CC) and 8960 (SCV). Ctrl-C (or closing the\n"
            "terminal) stops everything; the daemons also die if up is killed.\n"
            "DIR/credentials.json (admin token, engine key) appears once the SCV is\n"
            "registered and online at the CC.\n"
            "The ports and --heartbeat-increment (how long a silent core keeps its stream,\n"
            "default %d s) are written into DIR/cc.conf and DIR/scv.conf on the first run;\n"
            "later runs use those files (edit them to change the values).\n"
            "The demo runs OpenMM on alanine dipeptide in implicit water (--engine openmm,\n"
            "the default), or the toy Lennard-Jones engine (--engine toy).\n",
            UP_HEARTBEAT_INCREMENT);
    return status;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    long v;
    if (number_long(s, lo, hi, &v) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_options(int argc, char **argv, struct up_options *o)
{
    static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                         {"cc-port", required_argument, NULL, 'c'},
                                         {"scv-port", required_argument, NULL, 's'},
                                         {"no-demo", no_argument, NULL, 'n'},
                                         {"demo-seconds", required_argument, NULL, 'D'},
                                         {"cores", required_argument, NULL, 'k'},
                                         {"streams", required_argument, NULL, 'S'},
                                         {"heartbeat-increment", required_argument, NULL, 'H'},
                                         {"engine", required_argument, NULL, 'e'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *o = (struct up_options){"siegetank_local", 8980, 8960, 1, 30, 3, 3, 0, UP_OPENMM_ENGINE};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'd':
            bad = strlen(optarg) >= sizeof o->dir;
            snprintf(o->dir, sizeof o->dir, "%s", optarg);
            break;
        case 'c':
            bad = parse_int(optarg, 1, 65535, &o->cc_port);
            break;
        case 's':
            bad = parse_int(optarg, 1, 65535, &o->scv_port);
            break;
        case 'n':
            o->demo = 0;
            break;
        case 'D':
            bad = parse_int(optarg, 1, 86400, &o->demo_seconds);
            break;
        case 'k':
            bad = parse_int(optarg, 1, 64, &o->cores);
            break;
        case 'S':
            bad = parse_int(optarg, 1, 100, &o->streams);
            break;
        case 'H':
            bad = parse_int(optarg, 1, 86400, &o->heartbeat_increment);
            break;
        case 'e':
            bad = strcmp(optarg, MD_ENGINE_NAME) != 0 && strcmp(optarg, UP_OPENMM_ENGINE) != 0;
            o->engine = strcmp(optarg, MD_ENGINE_NAME) == 0 ? MD_ENGINE_NAME : UP_OPENMM_ENGINE;
            break;
        case 'h':
            return usage(0) - 1; /* -1: print nothing more, exit 0 */
        default:
            return usage(2);
        }
        if (bad) {
            fprintf(stderr, "siegetank up: bad value '%s' for %s\n", optarg, argv[optind - 1]);
            return usage(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "siegetank up: unexpected argument '%s'\n", argv[optind]);
        return usage(2);
    }
    return 0;
}

/* ---- files ------------------------------------------------------------ */

static void path_in(const struct up_state *st, const char *name, char *out)
{
    snprintf(out, PATH_MAX, "%s/%s", st->opt.dir, name);
}

static int ensure_certificate(struct up_state *st)
{
    char cert[PATH_MAX], key[PATH_MAX], err[256];
    path_in(st, "certs/cert.pem", cert);
    path_in(st, "certs/key.pem", key);
    if (fs_exists(cert) && fs_exists(key))
        return 0;
    char certs[PATH_MAX];
    path_in(st, "certs", certs);
    if (fs_mkdir_p(certs, 0700) != 0 || tls_make_self_signed(cert, key, err, sizeof err) != 0) {
        fprintf(stderr, "siegetank up: cannot make a certificate in %s: %s\n", certs, err);
        return -1;
    }
    printf("made a self-signed certificate: %s\n", cert);
    return 0;
}

/* The ports of existing configs win over the command line, since the
 * daemons will listen where their files say. */
static int adopt_port(const char *path, enum config_kind kind, int *port)
{
    struct config cfg;
    struct status st;
    size_t len;
    /* Parsed, not loaded: loading checks the certificate paths, which are
     * relative to DIR, where the daemons run. */
    char *text = fs_read_file(path, 1 << 20, &len);
    config_defaults(&cfg, kind);
    status_code rc = text != NULL ? config_parse(&cfg, text, path, &st)
                                  : status_fail(&st, STATUS_IO, "cannot read %s: %s", path, strerror(errno));
    free(text);
    if (rc != STATUS_OK) {
        fprintf(stderr, "siegetank up: %s\n", st.msg);
        return -1;
    }
    if (cfg.internal_http_port != *port)
        printf("note: using port %d from %s\n", cfg.internal_http_port, path);
    *port = cfg.internal_http_port;
    return 0;
}

/* Writes DIR/<kind>.conf once; later runs keep the operator's edits. */
static int ensure_configs(struct up_state *st)
{
    char cc_conf[PATH_MAX], scv_conf[PATH_MAX], pass[65], text[2048];
    path_in(st, "cc.conf", cc_conf);
    path_in(st, "scv.conf", scv_conf);
    if (fs_exists(cc_conf) && fs_exists(scv_conf)) {
        if (st->opt.heartbeat_increment != 0)
            printf("note: %s exists, so --heartbeat-increment is ignored; edit heartbeat_increment there\n",
                   scv_conf);
        if (adopt_port(cc_conf, CONFIG_CC, &st->opt.cc_port) != 0 ||
            adopt_port(scv_conf, CONFIG_SCV, &st->opt.scv_port) != 0)
            return -1;
        return 0;
    }
    if (crypto_random_hex(pass, 32) != 0)
        return -1;
    const char *tls =
        "ssl_certfile = certs/cert.pem\nssl_key = certs/key.pem\nssl_ca_certs = certs/cert.pem\n";
    snprintf(text, sizeof text,
             "# Written by `siegetank up`; every key is described in etc/cc.conf.\n"
             "name = cc\ninternal_http_port = %d\n%scc_pass = %s\ndatabase = sqlite\n",
             st->opt.cc_port, tls, pass);
    if (fs_write_secret(cc_conf, text, strlen(text)) != 0)
        return -1;
    snprintf(text, sizeof text,
             "# Written by `siegetank up`; every key is described in etc/scv.conf.\n"
             "name = %s\ninternal_http_port = %d\nexternal_host = 127.0.0.1:%d\n%s"
             "command_center = https://127.0.0.1:%d\ncc_pass = %s\nheartbeat_increment = %d\n",
             UP_SCV_NAME, st->opt.scv_port, st->opt.scv_port, tls, st->opt.cc_port, pass,
             st->opt.heartbeat_increment != 0 ? st->opt.heartbeat_increment : UP_HEARTBEAT_INCREMENT);
    if (fs_write_secret(scv_conf, text, strlen(text)) != 0)
        return -1;
    return 0;
}

static int save_credentials(struct up_state *st)
{
    char path[PATH_MAX];
    path_in(st, st->ready ? UP_CREDENTIALS : UP_CREDENTIALS_PENDING, path);
    char *text = json_dumps(st->creds, JSON_INDENT(2));
    int rc = text != NULL && fs_write_secret(path, text, strlen(text)) == 0 ? 0 : -1;
    free(text);
    return rc;
}

/* Called once everything runs: from now on the credentials live where
 * clients look for them. */
static int publish_credentials(struct up_state *st)
{
    char pending[PATH_MAX];
    st->ready = 1;
    if (save_credentials(st) != 0)
        return -1;
    path_in(st, UP_CREDENTIALS_PENDING, pending);
    unlink(pending);
    return 0;
}

/* A previous run's credentials.json is taken back into the pending file
 * before anything starts, so it never describes daemons not yet running. */
static json_t *load_credentials(struct up_state *st)
{
    char path[PATH_MAX], pending[PATH_MAX];
    path_in(st, UP_CREDENTIALS, path);
    path_in(st, UP_CREDENTIALS_PENDING, pending);
    if (fs_exists(path) && rename(path, pending) != 0) {
        fprintf(stderr, "siegetank up: cannot move %s to %s: %s\n", path, pending, strerror(errno));
        return NULL;
    }
    if (!fs_exists(pending))
        return json_object();
    json_t *creds = json_load_file(pending, 0, NULL);
    if (creds == NULL)
        fprintf(stderr, "siegetank up: %s is not valid JSON; move it away to start afresh\n", pending);
    return creds;
}

static const char *cred(const struct up_state *st, const char *key)
{
    return json_string_value(json_object_get(st->creds, key));
}

/* The name of an engine's credential: "engine_key", "demo_target" and
 * "demo_streams" are the toy engine's (named before there were others);
 * other engines' start with the engine, e.g. "openmm_engine_key". */
static const char *engine_cred_name(const char *engine, const char *base, char *out, size_t cap)
{
    if (strcmp(engine, MD_ENGINE_NAME) == 0)
        snprintf(out, cap, "%s", base);
    else
        snprintf(out, cap, "%s_%s", engine, base);
    return out;
}

/* A credential of the demo's engine. */
static json_t *demo_cred(const struct up_state *st, const char *base)
{
    char name[64];
    return json_object_get(st->creds, engine_cred_name(st->opt.engine, base, name, sizeof name));
}

/* ---- processes -------------------------------------------------------- */

static pid_t spawn_self(struct up_state *st, const char *const args[], const char *log_name, int out_fd)
{
    char log[PATH_MAX];
    path_in(st, log_name, log);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setpgid(0, 0); /* Ctrl-C reaches `up` only; it stops the children in order */
    /* Killed outright, `up` can stop nothing: its children get SIGTERM (and
     * stop cleanly) when it dies; if it died before this took effect, the
     * child is already orphaned and must not start. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        _exit(127);
    FILE *f = fopen(log, "a");
    if (f != NULL) {
        dup2(fileno(f), 2);
        dup2(out_fd >= 0 ? out_fd : fileno(f), 1);
    }
    if (chdir(st->opt.dir) != 0)
        _exit(127);
    char *argv[16] = {st->self};
    for (int i = 0; args[i] != NULL && i < 14; i++)
        argv[i + 1] = (char *)args[i];
    execv(st->self, argv);
    _exit(127);
}

static int wait_child(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void stop_child(pid_t *pid, const char *what)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    int rc = wait_child(*pid);
    printf("stopped the %s (exit status %d)\n", what, rc);
    *pid = 0;
}

/* 1 while the child runs. Once it has exited it is reaped here, so *pid
 * becomes 0 (stop_child then has nothing left to stop) and the status is
 * reported. */
static int child_alive(pid_t *pid, const char *what)
{
    int status;
    if (*pid <= 0)
        return 0;
    if (waitpid(*pid, &status, WNOHANG) == 0)
        return 1;
    fprintf(stderr, "siegetank up: the %s exited with status %d\n", what,
            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    *pid = 0;
    return 0;
}

/* The first admin is written straight into the CC's database before the CC
 * starts, so it is never reachable over the network without one. */
static int bootstrap_admin(struct up_state *st)
{
    if (cred(st, "admin_token") != NULL)
        return 0;
    char password[33], token[256] = "";
    int fds[2];
    if (crypto_random_hex(password, 16) != 0 || pipe(fds) != 0)
        return -1;
    const char *args[] = {"cc",         "-c",     "cc.conf", "add-manager", "--email", UP_ADMIN_EMAIL,
                          "--password", password, "--role",  "admin",       NULL};
    pid_t pid = spawn_self(st, args, "cc.log", fds[1]);
    close(fds[1]);
    ssize_t n = read(fds[0], token, sizeof token - 1);
    close(fds[0]);
    int rc = wait_child(pid);
    token[n > 0 ? n : 0] = '\0';
    token[strcspn(token, "\r\n")] = '\0';
    if (rc != 0 || token[0] == '\0') {
        fprintf(stderr, "siegetank up: creating the admin failed (see %s/cc.log)\n", st->opt.dir);
        return -1;
    }
    json_object_set_new(st->creds, "admin_email", json_string(UP_ADMIN_EMAIL));
    json_object_set_new(st->creds, "admin_token", json_string(token));
    return save_credentials(st);
}

static int wait_until_up(struct up_state *st, pid_t *pid, const char *url, const char *what)
{
    struct client_error err;
    struct client_reply reply;
    for (int i = 0; i < 200 && !up_stop; i++) {
        if (!child_alive(pid, what)) {
            fprintf(stderr, "siegetank up: the %s did not start; see its log in %s\n", what, st->opt.dir);
            return -1;
        }
        if (client_request(st->cc, "GET", url, NULL, NULL, 0, NULL, &reply, &err) == 0 &&
            reply.status == 200) {
            client_reply_free(&reply);
            return 0;
        }
        if (reply.body != NULL)
            client_reply_free(&reply);
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "siegetank up: the %s did not come up at %s\n", what, url);
    return -1;
}

static int ensure_engine_key(struct up_state *st, const char *engine)
{
    struct client_error err;
    char name[64];
    engine_cred_name(engine, "engine_key", name, sizeof name);
    if (cred(st, name) != NULL)
        return 0;
    json_t *r = client_engine_key_create(st->cc, engine, "siegetank up: local reference cores", &err);
    if (r == NULL) {
        fprintf(stderr, "siegetank up: cannot create an engine key for '%s': %s\n", engine, err.message);
        return -1;
    }
    json_object_set(st->creds, name, json_object_get(r, "key"));
    if (strcmp(engine, MD_ENGINE_NAME) == 0)
        json_object_set_new(st->creds, "engine", json_string(MD_ENGINE_NAME));
    json_decref(r);
    return save_credentials(st);
}

static int ensure_engine_keys(struct up_state *st)
{
    for (size_t i = 0; i < sizeof up_engines / sizeof up_engines[0]; i++)
        if (ensure_engine_key(st, up_engines[i]) != 0)
            return -1;
    return 0;
}

/* 1 once this run's SCV has logged its registration with the CC. */
static int scv_registered(const struct up_state *st)
{
    enum { CHUNK = 64 * 1024, KEEP = sizeof SCV_SERVICE_REGISTERED - 1 };
    char path[PATH_MAX], text[KEEP + CHUNK + 1];
    size_t kept = 0, n;
    int found = 0;
    path_in(st, "scv.log", path);
    FILE *f = fopen(path, "r");
    /* Only what this run's SCV wrote (the log keeps every earlier run), in
     * chunks that overlap by the marker's length. */
    if (f == NULL || fseeko(f, st->scv_log_start, SEEK_SET) != 0) {
        if (f != NULL)
            fclose(f);
        return 0;
    }
    while (!found && (n = fread(text + kept, 1, CHUNK, f)) > 0) {
        size_t total = kept + n;
        text[total] = '\0';
        found = strstr(text, SCV_SERVICE_REGISTERED) != NULL;
        kept = total < KEEP ? total : KEEP;
        memmove(text, text + total - kept, kept);
    }
    fclose(f);
    return found;
}

/* Registered in this run, and online at the CC: a CC that has just started
 * calls every SCV it knows from its database online before it has heard of
 * it, so the status alone would say yes too early on a second run. */
static int wait_scv_online(struct up_state *st)
{
    struct client_error err;
    for (int i = 0; i < 300 && !up_stop; i++) {
        json_t *status = scv_registered(st) ? client_scvs_status(st->cc, &err) : NULL;
        int online = json_is_true(json_object_get(json_object_get(status, UP_SCV_NAME), "online"));
        json_decref(status);
        if (online)
            return 0;
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "siegetank up: the SCV did not register with the CC (see %s/scv.log)\n", st->opt.dir);
    return -1;
}

/* The daemons listen with SO_REUSEPORT, so one started on a port another
 * siegetank already serves would share it instead of failing, and the old
 * one would answer the readiness check: a port must be free beforehand. */
static int port_free(const struct up_state *st, int port, const char *what, const char *option,
                     const char *conf)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
                     bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0
                 ? 0
                 : -1;
    if (rc != 0)
        fprintf(stderr,
                "siegetank up: the %s's port %d is not free (%s): is another siegetank up or server "
                "running? Stop it, or use another port: %s for a new --dir, internal_http_port in %s/%s "
                "for this one\n",
                what, port, strerror(errno), option, st->opt.dir, conf);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int start_daemons(struct up_state *st)
{
    char url[128];
    const char *cc_args[] = {"cc", "-c", "cc.conf", NULL};
    const char *scv_args[] = {"scv", "-c", "scv.conf", NULL};
    if (port_free(st, st->opt.cc_port, "CC", "--cc-port", "cc.conf") != 0 ||
        port_free(st, st->opt.scv_port, "SCV", "--scv-port", "scv.conf") != 0)
        return -1;
    st->cc_pid = spawn_self(st, cc_args, "cc.log", -1);
    if (wait_until_up(st, &st->cc_pid, st->cc_url, "CC") != 0)
        return -1;
    printf("CC  running at %s (log: %s/cc.log)\n", st->cc_url, st->opt.dir);
    char log[PATH_MAX];
    struct stat sb;
    path_in(st, "scv.log", log);
    st->scv_log_start = stat(log, &sb) == 0 ? sb.st_size : 0;
    st->scv_pid = spawn_self(st, scv_args, "scv.log", -1);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", st->opt.scv_port);
    if (wait_until_up(st, &st->scv_pid, url, "SCV") != 0)
        return -1;
    printf("SCV running at https://127.0.0.1:%d (log: %s/scv.log)\n", st->opt.scv_port, st->opt.dir);
    return 0;
}

/* ---- demo ------------------------------------------------------------- */

static int add_seed_file(json_t *files, const char *name, const char *data, size_t len)
{
    char *b64 = wire_file_encode(data, len, WIRE_FILE_GZ | WIRE_FILE_B64, NULL);
    char key[128];
    snprintf(key, sizeof key, "%s" WIRE_FILE_GZ_B64, name);
    int rc = b64 != NULL && json_object_set_new(files, key, json_string(b64)) == 0 ? 0 : -1;
    free(b64);
    return rc;
}

static int add_demo_stream(struct up_state *st, const char *target, int seed, json_t *ids)
{
    char *system = NULL, *state = NULL, err_text[256];
    size_t system_len, state_len;
    struct client_error err;
    int rc = -1;
    json_t *files = json_object();
    if (strcmp(st->opt.engine, UP_OPENMM_ENGINE) == 0) {
        if (add_seed_file(files, "system.xml", (const char *)up_demo_system_xml, up_demo_system_xml_len) !=
                0 ||
            add_seed_file(files, "state.xml", (const char *)up_demo_state_xml, up_demo_state_xml_len) != 0 ||
            add_seed_file(files, "integrator.xml", (const char *)up_demo_integrator_xml,
                          up_demo_integrator_xml_len) != 0)
            goto out;
    } else if (md_engine_make_seed_files((uint64_t)seed, 0, &system, &system_len, &state, &state_len,
                                         err_text, sizeof err_text) != 0 ||
               add_seed_file(files, MD_ENGINE_SYSTEM_FILE, system, system_len) != 0 ||
               add_seed_file(files, MD_ENGINE_STATE_FILE, state, state_len) != 0)
        goto out;
    json_t *r = client_stream_add(st->cc, UP_SCV_NAME, target, files, NULL, &err);
    if (r == NULL) {
        fprintf(stderr, "siegetank up: cannot add a stream: %s\n", err.message);
        goto out;
    }
    json_array_append(ids, json_object_get(r, "stream_id"));
    json_decref(r);
    rc = 0;
out:
    free(system);
    free(state);
    json_decref(files);
    return rc;
}

/* The demo target and its streams, made once and reused by later runs. */
static int ensure_demo_target(struct up_state *st)
{
    struct client_error err;
    char target_name[64], streams_name[64];
    if (demo_cred(st, "demo_target") != NULL)
        return 0;
    /* OpenMM: 500 steps of 2 fs, a frame per picosecond. */
    int openmm = strcmp(st->opt.engine, UP_OPENMM_ENGINE) == 0;
    json_t *spec = json_pack("{s:[s], s:s, s:{s:i}}", "engines", st->opt.engine, "stage", "public", "options",
                             "steps_per_frame", openmm ? 500 : 200);
    json_t *r = client_target_create(st->cc, spec, &err);
    json_decref(spec);
    if (r == NULL) {
        fprintf(stderr, "siegetank up: cannot create the demo target: %s\n", err.message);
        return -1;
    }
    const char *target = json_string_value(json_object_get(r, "target_id"));
    json_t *ids = json_array();
    for (int i = 0; i < st->opt.streams; i++)
        if (add_demo_stream(st, target, i + 1, ids) != 0)
            break;
    engine_cred_name(st->opt.engine, "demo_target", target_name, sizeof target_name);
    engine_cred_name(st->opt.engine, "demo_streams", streams_name, sizeof streams_name);
    json_object_set_new(st->creds, target_name, json_string(target));
    json_object_set_new(st->creds, streams_name, ids);
    json_decref(r);
    printf("demo target %s (%s) with %zu streams\n", cred(st, target_name), st->opt.engine,
           json_array_size(ids));
    return save_credentials(st);
}

struct demo_cores {
    struct core_runner_config cfg;
    atomic_int stop;
    struct core_runner_stats stats;
    char err[256];
    int rc;
};

static void *demo_cores_main(void *arg)
{
    struct demo_cores *d = arg;
    d->rc = core_runner_run(&d->cfg, &d->stop, &d->stats, d->err, sizeof d->err);
    return NULL;
}

static void print_progress(struct up_state *st)
{
    struct client_error err;
    json_t *ids = demo_cred(st, "demo_streams");
    size_t i;
    json_t *id;
    printf("frames committed:");
    json_array_foreach(ids, i, id)
    {
        json_t *info = client_stream_info(st->cc, json_string_value(id), &err);
        if (info == NULL) {
            printf("  %.8s… ?", json_string_value(id)); /* SCV busy or gone: say so, not 0 */
            continue;
        }
        printf("  %.8s…%s %lld", json_string_value(id),
               json_is_true(json_object_get(info, "active")) ? "*" : "",
               (long long)json_integer_value(json_object_get(info, "frames")));
        json_decref(info);
    }
    printf("   (* = a core holds it)\n");
    fflush(stdout);
}

static void run_demo(struct up_state *st)
{
    struct demo_cores d;
    memset(&d, 0, sizeof d);
    core_runner_config_init(&d.cfg);
    d.cfg.cc = st->cc_url;
    d.cfg.engine = st->opt.engine;
    d.cfg.engine_key = json_string_value(demo_cred(st, "engine_key"));
    d.cfg.engine_settings.threads = 1; /* one CPU each: the cores run side by side */
    d.cfg.cores = st->opt.cores;
    d.cfg.duration_s = st->opt.demo_seconds;
    d.cfg.frames_per_checkpoint = 5;
    /* The toy engine is so fast that its frames are paced to be watched. */
    d.cfg.frame_interval_s = strcmp(st->opt.engine, MD_ENGINE_NAME) == 0 ? 0.2 : 0;
    pthread_t tid;
    char log_path[PATH_MAX];
    path_in(st, "cores.log", log_path);
    printf("demo: %d reference cores (%s engine) for %d s (their log: %s)\n", st->opt.cores, st->opt.engine,
           st->opt.demo_seconds, log_path);
    /* The cores' lines go to their log so the terminal shows the progress. */
    if (log_open(log_path) == 0)
        log_set_quiet(1);
    if (pthread_create(&tid, NULL, demo_cores_main, &d) != 0) {
        log_close();
        log_set_quiet(0);
        return;
    }
    time_t end = time(NULL) + st->opt.demo_seconds;
    while (!up_stop && time(NULL) < end) {
        sleep(3);
        print_progress(st);
    }
    atomic_store(&d.stop, 1);
    pthread_join(tid, NULL);
    log_close();
    log_set_quiet(0);
    if (d.rc != 0)
        fprintf(stderr, "demo cores: %s\n", d.err);
    printf("demo: %ld frames sent, %ld committed in %ld checkpoints\n", d.stats.frames_sent,
           d.stats.frames_committed, d.stats.checkpoints);
    print_progress(st);
}

static void print_next_steps(const struct up_state *st)
{
    const char *first = json_string_value(json_array_get(demo_cred(st, "demo_streams"), 0));
    const char *target = json_string_value(demo_cred(st, "demo_target"));
    printf("\nTry next (credentials are in %s/credentials.json):\n", st->opt.dir);
    printf("  %s login --cc 127.0.0.1:%d --token %s\n", st->self, st->opt.cc_port, cred(st, "admin_token"));
    printf("  %s target list\n", st->self);
    printf("  %s status      (or open https://127.0.0.1:%d/dashboard; the certificate is up's own)\n",
           st->self, st->opt.cc_port);
    if (target != NULL)
        printf("  %s stream list %s\n", st->self, target);
    if (first != NULL)
        printf("  %s sync %s ./synced\n", st->self, first);
    printf("  %s core --engine %s --threads 1 --cc 127.0.0.1:%d --key %s --cores 2 --duration 30\n", st->self,
           st->opt.engine, st->opt.cc_port, json_string_value(demo_cred(st, "engine_key")));
    printf("\nRunning; press Ctrl-C to stop.\n");
    fflush(stdout);
}

/* ---- main ------------------------------------------------------------- */

static int prepare(struct up_state *st)
{
    if (fs_mkdir_p(st->opt.dir, 0700) != 0) {
        fprintf(stderr, "siegetank up: cannot create %s: %s\n", st->opt.dir, strerror(errno));
        return -1;
    }
    st->creds = load_credentials(st);
    if (st->creds == NULL)
        return -1;
    if (ensure_certificate(st) != 0 || ensure_configs(st) != 0) {
        fprintf(stderr, "siegetank up: cannot set up the configs in %s\n", st->opt.dir);
        return -1;
    }
    snprintf(st->cc_url, sizeof st->cc_url, "https://127.0.0.1:%d", st->opt.cc_port);
    json_object_set_new(st->creds, "cc", json_string(st->cc_url));
    struct client_error err;
    st->cc = client_new(st->cc_url, NULL, &err);
    return st->cc != NULL ? 0 : -1;
}

int cmd_up(int argc, char **argv)
{
    struct up_state st;
    memset(&st, 0, sizeof st);
    int rc = parse_options(argc, argv, &st.opt);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    ssize_t n = readlink("/proc/self/exe", st.self, sizeof st.self - 1);
    if (n <= 0)
        return 1;
    st.self[n] = '\0';
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal); /* its terminal closed: stop as on Ctrl-C */
    /* Progress lines must show up as they happen, also in a pipe or a log. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    rc = 1;
    if (prepare(&st) != 0 || bootstrap_admin(&st) != 0 || start_daemons(&st) != 0)
        goto out;
    client_set_token(st.cc, cred(&st, "admin_token"));
    if (ensure_engine_keys(&st) != 0 || wait_scv_online(&st) != 0 || publish_credentials(&st) != 0)
        goto out;
    printf("admin %s and engine keys for '%s' and '%s' saved in %s/credentials.json\n", UP_ADMIN_EMAIL,
           up_engines[0], up_engines[1], st.opt.dir);
    if (st.opt.demo && ensure_demo_target(&st) == 0)
        run_demo(&st);
    print_next_steps(&st);
    while (!up_stop && child_alive(&st.cc_pid, "CC") && child_alive(&st.scv_pid, "SCV"))
        sleep(1);
    rc = up_stop ? 0 : 1;
    if (!up_stop)
        fprintf(stderr, "siegetank up: a daemon exited unexpectedly; see the logs in %s\n", st.opt.dir);
out:
    stop_child(&st.scv_pid, "SCV");
    stop_child(&st.cc_pid, "CC");
    client_free(st.cc);
    json_decref(st.creds);
    return rc;
}
