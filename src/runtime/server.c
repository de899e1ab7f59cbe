/* server: the runtime's lifecycle: create (TLS, the access log, h2o's
 * configuration), run (limits, pools, loop threads, tickers, then wait for
 * a stop signal) and the orderly stop. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "runtime/server_internal.h"
#include "util/log.h"

/* Descriptors kept for all but client connections when max_connections is
 * derived (1/8 of the limit, at least 256 or half of a smaller limit):
 * listeners, loop wake-ups, logs, the database and its WAL, the files
 * requests open on the workers. */
static long fd_reserve(long limit)
{
    long floor = limit / 2 < 256 ? limit / 2 : 256;
    return limit / 8 > floor ? limit / 8 : floor;
}

/* The access log lives in the data folder, which the daemon has made. */
static int open_access_log(struct server *s, char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    if (!s->cfg.access_log)
        return 0;
    snprintf(path, sizeof path, "%s/access.log", s->cfg.data_folder);
    s->access_log = h2o_access_log_open_handle(path, NULL, H2O_LOGCONF_ESCAPE_APACHE);
    if (s->access_log == NULL) {
        snprintf(err, errlen, "cannot open access log '%s'", path);
        return -1;
    }
    return 0;
}

struct server *server_create(const struct config *cfg, const char *kind_name, void *app, char *err,
                             size_t errlen)
{
    struct server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    snprintf(s->kind_name, sizeof s->kind_name, "%s", kind_name);
    s->app = app;
    s->nthreads = cfg->threads > 0 ? cfg->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (s->nthreads < 1)
        s->nthreads = 1;
    pthread_mutex_init(&s->stop_lock, NULL);
    pthread_cond_init(&s->stop_cond, NULL);
    json_t *root =
        json_pack("{s:s, s:s, s:s}", "service", kind_name, "name", cfg->name, "version", SERVER_VERSION);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    s->root_body = h2o_iovec_init(text, text ? strlen(text) : 0);
    router_init(&s->router);
    if (server_metrics_init(s) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (config_tls_enabled(cfg)) {
        struct tls_server_options tls = {.certfile = cfg->ssl_certfile,
                                         .keyfile = cfg->ssl_key,
                                         .ca_certs = cfg->ssl_ca_certs,
                                         .min_version = cfg->ssl_min_version,
                                         .max_version = cfg->ssl_max_version};
        s->ssl_ctx = tls_server_context(&tls, err, errlen);
        if (s->ssl_ctx == NULL)
            goto fail;
    }
    if (open_access_log(s, err, errlen) != 0)
        goto fail;
    server_dispatch_init(s);
    s->threads = calloc((size_t)s->nthreads, sizeof *s->threads);
    if (s->threads == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return s;
fail:
    server_free(s);
    return NULL;
}

void server_free(struct server *s)
{
    if (s == NULL)
        return;
    server_loops_dispose(s);
    http_client_free(s->http_client);
    free(s->threads);
    free(s->root_body.base);
    server_metrics_free(s);
    if (s->ssl_ctx != NULL)
        SSL_CTX_free(s->ssl_ctx);
    pthread_mutex_destroy(&s->stop_lock);
    pthread_cond_destroy(&s->stop_cond);
    free(s);
}

int server_route_add(struct server *s, const char *method, const char *pattern, int secret,
                     struct route_target target)
{
    if (s->router.count == ROUTER_MAX_ROUTES)
        return -1;
    struct route_target *t = &s->targets[s->router.count];
    *t = target;
    return secret ? router_add_secret(&s->router, method, pattern, t)
                  : router_add(&s->router, method, pattern, t);
}

int server_route(struct server *s, const char *method, const char *pattern, server_handler handler)
{
    return server_route_add(s, method, pattern, 0, (struct route_target){.handler = handler});
}

int server_route_secret(struct server *s, const char *method, const char *pattern, server_handler handler)
{
    return server_route_add(s, method, pattern, 1, (struct route_target){.handler = handler});
}

int server_enable_http_client(struct server *s, int io_timeout_ms, char *err, size_t errlen)
{
    if (s->http_client != NULL)
        return 0;
    s->http_client = http_client_new(s->cfg.ca_bundle, io_timeout_ms, err, errlen);
    return s->http_client != NULL ? 0 : -1;
}

struct http_client_loop *server_http_client(struct server_request *r)
{
    return server_loop_of(r->req)->http;
}

void server_stop(struct server *s)
{
    atomic_store(&s->stop_requested, 1);
}

/* Raises the soft open-files limit to the hard one and sets the connection
 * limit: max_connections, or when unset the open-files limit less what is
 * kept for everything else (fd_reserve). */
static void size_for_nofile_limit(struct server *s)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        rl.rlim_cur = rl.rlim_max = 1024;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_warn("cannot raise the open-files limit: %s", strerror(errno));
    getrlimit(RLIMIT_NOFILE, &rl);
    long limit = rl.rlim_cur > LONG_MAX / 2 ? LONG_MAX / 2 : (long)rl.rlim_cur;
    long reserve = fd_reserve(limit);
    long derived = limit > reserve ? limit - reserve : 1;
    s->max_connections = s->cfg.max_connections > 0 ? s->cfg.max_connections : derived;
    log_info("open-files limit (RLIMIT_NOFILE) is %ld; max_connections is %ld%s", limit, s->max_connections,
             s->cfg.max_connections > 0 ? "" : " (the limit less what files and the database need)");
    if (s->cfg.max_connections > derived)
        log_warn(
            "max_connections %d leaves fewer than %ld open files for anything else: raise the open-files "
            "limit (docs/deployment.md)",
            s->cfg.max_connections, reserve);
}

static void wait_for_stop_signal(struct server *s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    struct timespec tick = {0, 100 * 1000000};
    while (!atomic_load(&s->stop_requested)) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info("received %s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
            return;
        }
    }
}

static void stop_everything(struct server *s, int threads_started, int tickers_started)
{
    pthread_mutex_lock(&s->stop_lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->stop_cond);
    pthread_mutex_unlock(&s->stop_lock);
    server_tickers_join(s, tickers_started);
    server_loops_stop(s, threads_started);
    server_pool_stop(&s->pool);
    server_pool_stop(&s->bulk_pool);
}

int server_run(struct server *s)
{
    char err[512];
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit this; only the waiter takes the signals */
    signal(SIGPIPE, SIG_IGN);
    size_for_nofile_limit(s);

    int workers = s->nthreads * 16;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int bulk = cpus > 2 ? (int)cpus - 1 : 1;
    s->bulk_pool.yields = 1;
    if (server_pool_start(&s->pool, workers) != 0 || server_pool_start(&s->bulk_pool, bulk) != 0) {
        log_error("cannot start %d worker and %d bulk worker threads", workers, bulk);
        stop_everything(s, 0, 0);
        return -1;
    }
    int started = server_loops_start(s, err, sizeof err);
    if (started <= 0) {
        log_error("%s", started < 0 ? err : "cannot start any event-loop thread");
        for (int i = 0; i < s->nthreads; i++)
            if (s->threads[i].listen_fd > 0)
                close(s->threads[i].listen_fd);
        stop_everything(s, 0, 0);
        return -1;
    }
    int tickers = server_tickers_start(s);
    log_info("%s '%s' listening on port %d (%s, %d threads, %d + %d bulk workers), data in %s", s->kind_name,
             s->cfg.name, s->cfg.internal_http_port, s->ssl_ctx ? "https" : "http", started, workers, bulk,
             s->cfg.data_folder);
    wait_for_stop_signal(s);
    stop_everything(s, started, tickers);
    if (s->ssl_ctx != NULL)
        log_info("TLS: %ld handshakes completed, %ld of them resumed sessions",
                 SSL_CTX_sess_accept_good(s->ssl_ctx), SSL_CTX_sess_hits(s->ssl_ctx));
    log_info("%s '%s' stopped", s->kind_name, s->cfg.name);
    return 0;
}
