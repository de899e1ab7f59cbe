#include "pg_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "util/fs.h"

#define PG_DEFAULT_BINDIR "/usr/lib/postgresql/15/bin"

struct pg_harness {
    char dir[PATH_MAX];
    char data[PATH_MAX + 8];
    char log[PATH_MAX + 16];
    char bindir[PATH_MAX];
    int port;
    int running;
    pg_harness *next_live; /* the list of harnesses not yet freed */
};

/* Harnesses whose test ended without freeing them (a failed assertion skips
 * the rest of a test) are stopped at exit, so a failure leaves no server
 * behind. Tests start and free harnesses on one thread. */
static pg_harness *live_list;

static const char *bindir(void)
{
    const char *d = getenv("PG_BINDIR");
    return d && *d ? d : PG_DEFAULT_BINDIR;
}

/* Becomes the postgres user when running as root; 0 or -1. */
static int drop_root(void)
{
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam("postgres");
    if (!pw) {
        fprintf(stderr, "pg_harness: running as root but there is no 'postgres' user to run the server\n");
        return -1;
    }
    if (setgid(pw->pw_gid) != 0 || initgroups("postgres", pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        perror("pg_harness: switching to the postgres user");
        return -1;
    }
    return 0;
}

/* Runs bindir/prog with args as the server's user, output appended to the
 * harness log; the exit status, or -1. */
static int run(pg_harness *h, const char *prog, const char *const args[])
{
    char path[PATH_MAX + 32];
    const char *argv[16];
    int n = 0, status;

    snprintf(path, sizeof path, "%s/%s", h->bindir, prog);
    argv[n++] = path;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;

    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (drop_root() != 0)
            _exit(126);
        int fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        /* The server outlives this child: it must not hold the test's
         * pipes (CTest waits for them to close) or any other descriptor. */
        close_range(3, ~0U, 0);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void dump_log(const pg_harness *h)
{
    char line[512];
    FILE *f = fopen(h->log, "r");
    if (!f)
        return;
    fprintf(stderr, "---- %s ----\n", h->log);
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fclose(f);
}

/* Hands the folder to the postgres user when we are root; 0 or -1. */
static int give_dir(const pg_harness *h)
{
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam("postgres");
    if (!pw || chown(h->dir, pw->pw_uid, pw->pw_gid) != 0) {
        fprintf(stderr, "pg_harness: cannot give %s to the postgres user\n", h->dir);
        return -1;
    }
    return 0;
}

static int append(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");
    if (!f)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    return fclose(f) != 0 ? -1 : rc;
}

static int configure(pg_harness *h)
{
    char path[PATH_MAX + 32], conf[PATH_MAX + 512];

    snprintf(conf, sizeof conf,
             "listen_addresses = '127.0.0.1'\n"
             "port = %d\n"
             "unix_socket_directories = '%s'\n"
             "max_connections = 60\n"
             "fsync = off\n"
             "full_page_writes = off\n"
             "logging_collector = off\n",
             h->port, h->dir);
    snprintf(path, sizeof path, "%s/postgresql.conf", h->data);
    if (append(path, conf) != 0)
        return -1;
    /* Trust only the socket and loopback; everything else is rejected. */
    snprintf(path, sizeof path, "%s/pg_hba.conf", h->data);
    if (unlink(path) != 0)
        return -1;
    return append(path, "local all all trust\nhost all all 127.0.0.1/32 trust\n");
}

static void stop_forgotten_servers(void)
{
    const char *args[] = {"stop", "-w", "-t", "60", "-m", "immediate", "-D", NULL, NULL};
    for (pg_harness *h = live_list; h; h = h->next_live) {
        if (!h->running)
            continue;
        args[7] = h->data;
        fprintf(stderr, "pg_harness: stopping the server the test left running in %s\n", h->dir);
        run(h, "pg_ctl", args);
    }
}

static void track(pg_harness *h)
{
    static int registered;
    if (!registered && atexit(stop_forgotten_servers) == 0)
        registered = 1;
    h->next_live = live_list;
    live_list = h;
}

static void untrack(pg_harness *h)
{
    for (pg_harness **p = &live_list; *p; p = &(*p)->next_live)
        if (*p == h) {
            *p = h->next_live;
            return;
        }
}

pg_harness *pg_harness_start(void)
{
    pg_harness *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    harness_tmpdir(h->dir);
    snprintf(h->data, sizeof h->data, "%s/data", h->dir);
    snprintf(h->log, sizeof h->log, "%s/server.log", h->dir);
    snprintf(h->bindir, sizeof h->bindir, "%s", bindir());
    h->port = harness_free_port();
    if (give_dir(h) != 0)
        goto fail;
    const char *initdb[] = {"-D", h->data, "-U",          "postgres",  "-A", "trust",
                            "-E", "UTF8",  "--no-locale", "--no-sync", NULL};
    if (run(h, "initdb", initdb) != 0) {
        fprintf(stderr, "pg_harness: initdb failed (is PostgreSQL installed in %s?)\n", h->bindir);
        goto fail;
    }
    if (configure(h) != 0) {
        fprintf(stderr, "pg_harness: cannot write the server configuration in %s\n", h->data);
        goto fail;
    }
    if (pg_harness_resume(h) != 0)
        goto fail;
    track(h);
    return h;
fail:
    dump_log(h);
    pg_harness_free(h);
    return NULL;
}

int pg_harness_resume(pg_harness *h)
{
    const char *args[] = {"start", "-w", "-t", "60", "-D", h->data, "-l", h->log, NULL};
    if (run(h, "pg_ctl", args) != 0) {
        fprintf(stderr, "pg_harness: the server did not start\n");
        dump_log(h);
        return -1;
    }
    h->running = 1;
    return 0;
}

int pg_harness_stop(pg_harness *h)
{
    const char *args[] = {"stop", "-w", "-t", "60", "-m", "fast", "-D", h->data, NULL};
    if (!h->running)
        return 0;
    if (run(h, "pg_ctl", args) != 0) {
        fprintf(stderr, "pg_harness: the server did not stop\n");
        return -1;
    }
    h->running = 0;
    return 0;
}

void pg_harness_free(pg_harness *h)
{
    if (!h)
        return;
    untrack(h);
    pg_harness_stop(h);
    if (h->dir[0] && fs_rm_rf(h->dir) != 0)
        fprintf(stderr, "pg_harness: could not remove %s: %s\n", h->dir, strerror(errno));
    free(h);
}

/* Copies src to dst (mode 0600), owned by the server's user; 0 or -1. */
static int copy_private(const char *src, const char *dst)
{
    size_t len = 0;
    char *data = fs_read_file(src, 1 << 20, &len);
    int rc = -1;

    if (!data || fs_write_file(dst, data, len, 0) != 0 || chmod(dst, 0600) != 0)
        goto out;
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw || chown(dst, pw->pw_uid, pw->pw_gid) != 0)
            goto out;
    }
    rc = 0;
out:
    free(data);
    return rc;
}

int pg_harness_enable_tls(pg_harness *h, const char *cert_file, const char *key_file)
{
    char cert[PATH_MAX + 32], key[PATH_MAX + 32], conf[PATH_MAX + 32], text[3 * PATH_MAX + 128];

    snprintf(cert, sizeof cert, "%s/server.crt", h->data);
    snprintf(key, sizeof key, "%s/server.key", h->data);
    snprintf(conf, sizeof conf, "%s/postgresql.conf", h->data);
    snprintf(text, sizeof text, "ssl = on\nssl_cert_file = '%s'\nssl_key_file = '%s'\n", cert, key);
    if (copy_private(cert_file, cert) != 0 || copy_private(key_file, key) != 0 || append(conf, text) != 0) {
        fprintf(stderr, "pg_harness: cannot install the TLS files in %s\n", h->data);
        return -1;
    }
    if (pg_harness_stop(h) != 0)
        return -1;
    return pg_harness_resume(h);
}

int pg_harness_port(const pg_harness *h)
{
    return h->port;
}

const char *pg_harness_dir(const pg_harness *h)
{
    return h->dir;
}

static int identifier_ok(const char *name)
{
    if (!name || !*name || strlen(name) > 63)
        return 0;
    return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(name);
}

int pg_harness_query(pg_harness *h, const char *name, const char *sql, const char *param, char *out,
                     size_t outlen)
{
    char conninfo[PATH_MAX + 128];
    PGresult *res = NULL;
    int rc = -1;

    if (!identifier_ok(name))
        return -1;
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d user=postgres dbname=%s", h->port, name);
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "pg_harness: connect: %s", PQerrorMessage(conn));
        goto out;
    }
    res = PQexecParams(conn, sql, param ? 1 : 0, NULL, param ? &param : NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "pg_harness: '%s': %s", sql, PQerrorMessage(conn));
        goto out;
    }
    if (out && outlen) {
        out[0] = '\0';
        if (PQntuples(res) > 0 && PQnfields(res) > 0)
            snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
    }
    rc = 0;
out:
    PQclear(res);
    PQfinish(conn);
    return rc;
}

int pg_harness_create_db(pg_harness *h, const char *name, char *url, size_t urllen)
{
    char sql[128];
    if (!identifier_ok(name))
        return -1;
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (pg_harness_query(h, "postgres", sql, NULL, NULL, 0) != 0)
        return -1;
    snprintf(url, urllen, "postgresql://postgres@127.0.0.1:%d/%s", h->port, name);
    return 0;
}

int pg_harness_drop_db(pg_harness *h, const char *name)
{
    char sql[128];
    if (!identifier_ok(name))
        return -1;
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    return pg_harness_query(h, "postgres", sql, NULL, NULL, 0);
}
