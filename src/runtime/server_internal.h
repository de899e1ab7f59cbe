/* server_internal: the state the runtime's files share (server.h is the
 * public API). One file per facility:
 *   server.c           create, run, stop: the lifecycle and its order
 *   server_dispatch.c  h2o set-up and the request entry: every request
 *                      passes on_req, which routes it; its end is counted in
 *                      one place (request_end)
 *   server_reply.c     replies and request helpers
 *   server_pool.c      worker pools and deferred work
 *   server_loop.c      event-loop threads, their listeners and accepting
 *   server_ticker.c    periodic background jobs
 *   server_metrics.c   the metrics registry and GET /metrics
 *   server_job.c       a request's blocking work with its copied inputs
 *                      (server_job.h), and routes that run as jobs
 * Nothing here is thread-local: a request finds its loop thread through its
 * h2o context (server_loop_of). */
#ifndef ST_SERVER_INTERNAL_H
#define ST_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "runtime/server.h"
#include "runtime/server_job.h"
#include "runtime/tls.h"

#define SERVER_VERSION "0.1.0"
#define SERVER_MAX_TICKERS 8
/* How long accepting pauses when no descriptor is left. */
#define SERVER_ACCEPT_PAUSE_MS 100

struct task {
    h2o_multithread_message_t message; /* completion, posted to the loop */
    struct task *next;                 /* worker queue */
    server_work_fn work;
    server_done_fn done;
    void *arg;
    struct loop_thread *thread; /* NULL: background work, no completion */
    struct server_req_ref ref;
};

struct loop_thread {
    struct server *server;
    int index;
    pthread_t tid;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    int listen_fd;
    h2o_socket_t *listener;
    h2o_multithread_receiver_t done_receiver;
    h2o_multithread_receiver_t stop_receiver;
    h2o_multithread_message_t stop_message;
    size_t inflight;               /* requests not yet disposed; loop thread only */
    size_t pending;                /* deferred tasks not yet completed; loop thread only */
    struct http_client_loop *http; /* NULL unless server_enable_http_client */
    int stopping;
    double deadline; /* clock_mono_s() when a stopping loop gives up */
    /* accepting paused at the open-files limit (loop thread only) */
    h2o_timeout_t accept_pause;
    h2o_timeout_entry_t accept_retry;
    int accept_starved; /* paused since the last successful accept */
};

struct ticker {
    struct server *server;
    pthread_t tid;
    int interval_ms;
    server_tick_fn fn;
    void *arg;
};

struct worker_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct task *head, *tail;
    int stopping;
    int count;
    int yields; /* hand the CPU to the woken loop after each job (server_pool.c) */
    pthread_t *tids;
};

/* What a matched route runs: handler on the loop, or else work as a job
 * (server_job_start). */
struct route_target {
    server_handler handler;
    server_job_fn work;
    unsigned flags;
    struct server_job_limit *limit;
};

struct server {
    struct config cfg;
    char kind_name[16];
    void *app;
    struct router router;
    struct route_target targets[ROUTER_MAX_ROUTES]; /* targets[i]: router.routes[i]'s */
    SSL_CTX *ssl_ctx;
    struct http_client *http_client; /* NULL unless enabled */
    h2o_globalconf_t globalconf;
    h2o_hostconf_t *hostconf;
    h2o_access_log_filehandle_t *access_log;
    int nthreads;
    struct loop_thread *threads;
    struct worker_pool pool;
    struct worker_pool bulk_pool;
    struct ticker tickers[SERVER_MAX_TICKERS];
    int nticker;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    atomic_int stop_requested;
    int stopping;
    int threads_ready; /* loop threads with their loop set up; under stop_lock */
    atomic_long connections;
    long max_connections;  /* cfg.max_connections, or derived from RLIMIT_NOFILE */
    h2o_iovec_t root_body; /* GET / is the liveness probe: answered from a prebuilt body */
    struct metrics *metrics;
    struct http_metrics *http_metrics;
};

/* The loop thread serving req (its context is the thread's). */
static inline struct loop_thread *server_loop_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(struct loop_thread, ctx, req->conn->ctx);
}

/* server.c: every route is added here, secret or not (router_add_secret). */
int server_route_add(struct server *s, const char *method, const char *pattern, int secret,
                     struct route_target target);

/* server_job.c: copies r for a job of t (t->work set) and queues it. */
void server_job_start(struct server_request *r, const struct route_target *t);

/* server_dispatch.c: h2o's configuration (limits, the handler, the error
 * filter, the access log) and the GET / route. */
void server_dispatch_init(struct server *s);

/* server_reply.c: 200 with a JSON body that outlives the request. */
void server_reply_constant(h2o_req_t *req, const char *body, size_t len);

/* server_metrics.c: the registry with the runtime's figures, and the
 * GET /metrics route. 0, or -1 when out of memory. */
int server_metrics_init(struct server *s);
void server_metrics_free(struct server *s);

/* server_pool.c */
int server_pool_start(struct worker_pool *pool, int count); /* 0 or -1 */
void server_pool_stop(struct worker_pool *pool);            /* finishes queued work, joins */
/* The loop's receiver of completed tasks: runs their done callbacks. */
void server_pool_on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

/* server_loop.c: opens every listener and starts the loop threads; the
 * number started, or -1 (message in err) when a listener cannot be opened.
 * stop asks each started thread to stop and joins it; dispose unhooks what
 * the threads registered. */
int server_loops_start(struct server *s, char *err, size_t errlen);
void server_loops_stop(struct server *s, int started);
void server_loops_dispose(struct server *s);

/* server_ticker.c: starts the tickers (the number started); join waits for
 * them once s->stopping is set. */
int server_tickers_start(struct server *s);
void server_tickers_join(struct server *s, int started);

#endif
