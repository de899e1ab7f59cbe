#include "runtime/server.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime/http_framing.h"
#include "runtime/tls.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/utf8.h"

#define SERVER_VERSION "0.1.0"
#define SERVER_MAX_TICKERS 8
#define FILE_CHUNK (64 * 1024)
/* Descriptors kept for all but client connections when max_connections is
 * derived (1/8 of the limit, at least 256 or half of a smaller limit):
 * listeners, loop wake-ups, logs, the database and its WAL, the files
 * requests open on the workers. */
static long fd_reserve(long limit)
{
    long floor = limit / 2 < 256 ? limit / 2 : 256;
    return limit / 8 > floor ? limit / 8 : floor;
}
/* How long accepting pauses when no descriptor is left. */
#define ACCEPT_PAUSE_MS 100

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
    uint64_t deadline_ms;
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
    pthread_t *tids;
};

struct server {
    struct config cfg;
    char kind_name[16];
    void *app;
    struct router router;
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
};

static __thread struct loop_thread *current_thread;

/* ---- replies ---------------------------------------------------------- */

static void add_common_headers(h2o_req_t *req, const char *content_type)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-origin"), 0, NULL,
                          H2O_STRLIT("*"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
}

static const char *status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return status >= 500 ? "Internal Server Error" : "Error";
    }
}

void server_add_header(h2o_req_t *req, const char *name, const char *value)
{
    size_t nlen = strlen(name), vlen = strlen(value);
    char *n = h2o_mem_alloc_pool(&req->pool, nlen + 1);
    for (size_t i = 0; i <= nlen; i++)
        n[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    h2o_iovec_t v = h2o_strdup(&req->pool, value, vlen);
    h2o_add_header_by_str(&req->pool, &req->res.headers, n, nlen, 1, NULL, v.base, v.len);
}

void server_reply_json(h2o_req_t *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL) {
        text = strdup("{\"error\":\"internal error: reply could not be encoded\"}");
        status = 500;
    }
    h2o_iovec_t copy = h2o_strdup(&req->pool, text, strlen(text));
    free(text);
    req->res.status = status;
    req->res.content_length = copy.len;
    req->res.reason = status_reason(status);
    add_common_headers(req, "application/json");
    h2o_send_inline(req, copy.base, copy.len);
}

void server_reply_error(h2o_req_t *req, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* The message may quote a client's bytes: keep it encodable. */
    server_reply_json(req, status, json_pack("{s:s}", "error", utf8_scrub(msg)));
}

/* 200 with a JSON body that outlives the request (no copy, no encoding). */
static void reply_constant(h2o_req_t *req, const char *body, size_t len)
{
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = len;
    add_common_headers(req, "application/json");
    h2o_send_inline(req, body, len);
}

/* The most frequent reply (every heartbeat), so a constant. */
void server_reply_ok(h2o_req_t *req)
{
    reply_constant(req, "{}", 2);
}

/* buf comes from the request's pool: HTTP/2 copies a chunk out of it only
 * when the stream is scheduled, which may be after the final h2o_send has
 * returned, so it must live as long as the request. */
struct file_generator {
    h2o_generator_t super;
    int fd;
    size_t left;
    char *buf;
};

static void file_generator_close(struct file_generator *g)
{
    if (g->fd >= 0)
        close(g->fd);
    g->fd = -1;
}

static void file_generator_proceed(h2o_generator_t *self, h2o_req_t *req)
{
    struct file_generator *g = (struct file_generator *)self;
    size_t want = g->left < FILE_CHUNK ? g->left : FILE_CHUNK;
    ssize_t n = want == 0 ? 0 : read(g->fd, g->buf, want);
    if (n < 0 || (n == 0 && g->left > 0)) {
        log_error("download: read failed with %zu bytes left: %s", g->left, n < 0 ? strerror(errno) : "EOF");
        file_generator_close(g);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    g->left -= (size_t)n;
    h2o_iovec_t chunk = h2o_iovec_init(g->buf, (size_t)n);
    if (g->left == 0) {
        h2o_send(req, &chunk, 1, H2O_SEND_STATE_FINAL);
        file_generator_close(g);
        return;
    }
    h2o_send(req, &chunk, 1, H2O_SEND_STATE_IN_PROGRESS);
}

static void file_generator_stop(h2o_generator_t *self, h2o_req_t *req)
{
    (void)req;
    file_generator_close((struct file_generator *)self);
}

static void file_generator_dispose(void *p)
{
    file_generator_close(p);
}

/* RFC 5987's attr-char: what filename* may carry unescaped. */
static int attr_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$&+-.^_`|~", c) != NULL);
}

/* Content-Disposition per RFC 6266: filename= is a quoted ASCII fallback
 * (any byte outside printable ASCII, '"' and '\\' become '_'), filename*= the
 * exact UTF-8 bytes percent-encoded. Nothing of the name can end the header. */
static char *content_disposition(h2o_mem_pool_t *pool, const char *filename)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(filename);
    char *out = h2o_mem_alloc_pool(pool, 4 * len + 64), *o = out;
    o += sprintf(o, "attachment; filename=\"");
    for (const unsigned char *p = (const unsigned char *)filename; *p; p++)
        *o++ = *p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\' ? '_' : (char)*p;
    o += sprintf(o, "\"; filename*=UTF-8''");
    for (const unsigned char *p = (const unsigned char *)filename; *p; p++) {
        if (attr_char(*p)) {
            *o++ = (char)*p;
            continue;
        }
        *o++ = '%';
        *o++ = hex[*p >> 4];
        *o++ = hex[*p & 15];
    }
    *o = '\0';
    return out;
}

void server_reply_file(h2o_req_t *req, int fd, size_t size, const char *filename)
{
    struct file_generator *g = h2o_mem_alloc_shared(&req->pool, sizeof *g, file_generator_dispose);
    g->super = (h2o_generator_t){file_generator_proceed, file_generator_stop};
    g->fd = fd;
    g->left = size;
    g->buf = h2o_mem_alloc_pool(&req->pool, FILE_CHUNK);
    char *disposition = content_disposition(&req->pool, filename);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = size;
    add_common_headers(req, "application/octet-stream");
    server_add_header(req, "content-disposition", disposition);
    h2o_start_response(req, &g->super);
    file_generator_proceed(&g->super, req);
}

const char *server_header(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0)
        return NULL;
    h2o_iovec_t v = req->headers.entries[i].value;
    return h2o_strdup(&req->pool, v.base, v.len).base;
}

json_t *server_body_object(h2o_req_t *req)
{
    json_error_t jerr;
    if (req->entity.base == NULL || req->entity.len == 0)
        return json_object();
    json_t *v = json_loadb(req->entity.base, req->entity.len, 0, &jerr);
    if (v == NULL) {
        server_reply_error(req, 400, "malformed JSON body: %s (at byte %d)", jerr.text, jerr.position);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        server_reply_error(req, 400, "the body must be a JSON object");
        return NULL;
    }
    return v;
}

/* ---- worker pool and deferred work ------------------------------------ */

/* Niceness of worker threads: when deferred work fills the cores, the
 * event loops still get the CPU first, so memory-only requests such as
 * heartbeats keep their latency instead of queueing behind the workers.
 * (SCHED_IDLE for the bulk pool was measured too: it cut frame ingest by a
 * fifth whenever other processes shared the machine, for no p99 gain that
 * stood out of the noise; see docs/PERFORMANCE.md.) */
#define WORKER_NICE 10

static void *worker_main(void *arg)
{
    struct worker_pool *pool = arg;
    /* Linux applies a thread id's niceness to that thread alone; raising it
     * needs no privilege, and failing to only costs latency. */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), WORKER_NICE) != 0)
        log_warn("cannot lower the priority of a worker thread: %s", strerror(errno));
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        while (pool->head == NULL && !pool->stopping)
            pthread_cond_wait(&pool->cond, &pool->lock);
        struct task *t = pool->head;
        if (t == NULL) {
            pthread_mutex_unlock(&pool->lock);
            return NULL;
        }
        pool->head = t->next;
        if (pool->head == NULL)
            pool->tail = NULL;
        pthread_mutex_unlock(&pool->lock);

        t->work(t->arg);
        if (t->thread != NULL)
            h2o_multithread_send_message(&t->thread->done_receiver, &t->message);
        else
            free(t);
    }
}

static void pool_push(struct worker_pool *pool, struct task *t)
{
    pthread_mutex_lock(&pool->lock);
    t->next = NULL;
    if (pool->tail != NULL)
        pool->tail->next = t;
    else
        pool->head = t;
    pool->tail = t;
    pthread_cond_signal(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
}

static int pool_start(struct worker_pool *pool, int count)
{
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pool->tids = calloc((size_t)count, sizeof *pool->tids);
    if (pool->tids == NULL)
        return -1;
    for (; pool->count < count; pool->count++)
        if (pthread_create(&pool->tids[pool->count], NULL, worker_main, pool) != 0)
            return -1;
    return 0;
}

/* Finishes queued work, then joins the workers. */
static void pool_stop(struct worker_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->count; i++)
        pthread_join(pool->tids[i], NULL);
    free(pool->tids);
    pool->tids = NULL;
    pool->count = 0;
}

static void on_req_ref_dispose(void *p)
{
    struct server_req_ref **slot = p;
    if (*slot != NULL)
        (*slot)->req = NULL;
}

void server_req_ref_init(struct server_req_ref *ref, struct server_request *r)
{
    ref->req = r->req;
    ref->slot = h2o_mem_alloc_shared(&r->req->pool, sizeof *ref->slot, on_req_ref_dispose);
    *ref->slot = ref;
}

h2o_req_t *server_req_ref_take(struct server_req_ref *ref)
{
    h2o_req_t *req = ref->req;
    if (req != NULL)
        *ref->slot = NULL;
    ref->req = NULL;
    return req;
}

static void defer_on(struct worker_pool *pool, struct server_request *r, server_work_fn work,
                     server_done_fn done, void *arg)
{
    struct task *t = calloc(1, sizeof *t);
    if (t == NULL) {
        server_reply_error(r->req, 503, "server is out of memory; try again later");
        done(arg, NULL);
        return;
    }
    t->work = work;
    t->done = done;
    t->arg = arg;
    t->thread = current_thread;
    server_req_ref_init(&t->ref, r);
    current_thread->pending++;
    pool_push(pool, t);
}

void server_defer(struct server_request *r, server_work_fn work, server_done_fn done, void *arg)
{
    defer_on(&r->server->pool, r, work, done, arg);
}

void server_defer_bulk(struct server_request *r, server_work_fn work, server_done_fn done, void *arg)
{
    defer_on(&r->server->bulk_pool, r, work, done, arg);
}

void server_run_background(struct server *s, server_work_fn work, void *arg)
{
    struct task *t = calloc(1, sizeof *t);
    if (t == NULL) {
        log_error("out of memory: background work dropped");
        return;
    }
    t->work = work;
    t->arg = arg;
    pool_push(&s->pool, t);
}

static void on_tasks_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct loop_thread *th = H2O_STRUCT_FROM_MEMBER(struct loop_thread, done_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        struct task *t = H2O_STRUCT_FROM_MEMBER(struct task, message.link, messages->next);
        h2o_linklist_unlink(&t->message.link);
        th->pending--;
        t->done(t->arg, server_req_ref_take(&t->ref));
        free(t);
    }
}

/* ---- request entry ---------------------------------------------------- */

static void on_inflight_dispose(void *p)
{
    struct loop_thread *th = *(struct loop_thread **)p;
    th->inflight--;
}

/* The access log writes req->input.path (routing uses req->path): a path
 * that carries a secret is logged with the secret replaced. */
static void redact_logged_path(struct server *s, h2o_req_t *req)
{
    size_t room = req->input.path.len + sizeof ROUTER_REDACTED;
    char *out = h2o_mem_alloc_pool(&req->pool, room);
    if (router_redact(&s->router, req->input.path.base, req->input.path.len, out, room)) {
        req->input.path = h2o_iovec_init(out, strlen(out));
        req->input.query_at = SIZE_MAX;
    }
}

/* RFC 9112 §6.1/§6.3 on the raw request head, which h2o leaves at the start
 * of the connection's input until the response is sent (see
 * http_framing.h). NULL when fine. */
static const char *framing_error(h2o_req_t *req)
{
    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return NULL;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->input == NULL)
        return NULL;
    return http_framing_check(sock->input->bytes, sock->input->size);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    struct loop_thread *th = current_thread;
    struct server *s = th->server;
    struct loop_thread **mark = h2o_mem_alloc_shared(&req->pool, sizeof *mark, on_inflight_dispose);
    *mark = th;
    th->inflight++;
    redact_logged_path(s, req);

    const char *framing = framing_error(req);
    if (framing != NULL) {
        /* What follows this message on the connection cannot be trusted. */
        req->http1_is_persistent = 0;
        server_reply_error(req, 400, "ambiguous message framing: %s", framing);
        return 0;
    }

    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS"))) {
        server_add_header(req, "access-control-allow-methods", "GET, POST, PUT, OPTIONS");
        server_add_header(req, "access-control-allow-headers", "Authorization, Content-Type, Content-MD5");
        server_reply_ok(req);
        return 0;
    }
    if (req->entity.base != NULL && req->entity.len > s->cfg.max_body_size) {
        server_reply_error(req, 413, "request body of %zu bytes is over the limit of %zu bytes",
                           req->entity.len, s->cfg.max_body_size);
        return 0;
    }
    struct server_request *r = h2o_mem_alloc_pool(&req->pool, sizeof *r);
    r->req = req;
    r->server = s;
    r->app = s->app;
    void *handler = NULL;
    switch (router_match(&s->router, req->method.base, req->method.len, req->path.base, req->path.len,
                         &handler, &r->params)) {
    case ROUTER_MATCH:
        ((server_handler)handler)(r);
        return 0;
    case ROUTER_BAD_METHOD:
        server_reply_error(req, 405, "method %.*s is not allowed on %.*s", (int)req->method.len,
                           req->method.base, (int)req->path.len, req->path.base);
        return 0;
    case ROUTER_BAD_PARAM:
        server_reply_error(req, 400,
                           "malformed path parameter (bad %%-escape, NUL byte, not UTF-8, or too long)");
        return 0;
    case ROUTER_NOT_FOUND:
        break;
    }
    server_reply_error(req, 404, "no such endpoint: %.*s", (int)req->path.len, req->path.base);
    return 0;
}

static void handle_root(struct server_request *r)
{
    reply_constant(r->req, r->server->root_body.base, r->server->root_body.len);
}

/* ---- body-limit errors raised inside h2o ------------------------------ */

/* h2o answers an over-limit body itself, before any handler runs, with a
 * plain-text 413. This filter (on the path h2o falls back to for such
 * early errors) swaps that body for our JSON error and adds the CORS header,
 * so clients see one error format everywhere, and redacts the logged path. */
struct json_error_filter {
    h2o_filter_t super;
    struct server *server;
};

struct json_error_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
    int sent;
};

static void json_error_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t n,
                               h2o_send_state_t state)
{
    (void)bufs;
    (void)n;
    struct json_error_ostream *o = (struct json_error_ostream *)self;
    h2o_iovec_t out = o->body;
    size_t count = o->sent ? 0 : 1;
    o->sent = 1;
    h2o_ostream_send_next(&o->super, req, &out, count, state);
}

static void json_error_on_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    redact_logged_path(((struct json_error_filter *)self)->server, req);
    if (req->res.status >= 400) {
        const char *body = req->res.status == 413 ? "{\"error\":\"request body is over the size limit\"}"
                                                  : "{\"error\":\"malformed request\"}";
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json"),
                       1);
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-origin"), 0,
                              NULL, H2O_STRLIT("*"));
        struct json_error_ostream *o = (void *)h2o_add_ostream(req, sizeof *o, slot);
        o->super.do_send = json_error_do_send;
        o->body = h2o_iovec_init(body, strlen(body));
        o->sent = 0;
        req->res.content_length = o->body.len;
        slot = &o->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

/* ---- loop threads ----------------------------------------------------- */

static void on_connection_close(void *data)
{
    struct server *s = data;
    atomic_fetch_sub(&s->connections, 1);
}

static void on_accept(h2o_socket_t *listener, const char *err);

static void on_accept_retry(h2o_timeout_entry_t *entry)
{
    struct loop_thread *th = H2O_STRUCT_FROM_MEMBER(struct loop_thread, accept_retry, entry);
    if (th->listener != NULL)
        h2o_socket_read_start(th->listener, on_accept);
}

/* Out of descriptors: the connection waiting in the backlog keeps the
 * listener readable, so watching it would fail accept4 in a busy loop. Stop
 * watching and try again in ACCEPT_PAUSE_MS, when a connection, file or
 * database handle may have been closed. */
static void pause_accepting(struct loop_thread *th, int err)
{
    if (!th->accept_starved)
        log_warn("thread %d: cannot accept connections: %s; trying again every %d ms", th->index,
                 strerror(err), ACCEPT_PAUSE_MS);
    th->accept_starved = 1;
    h2o_socket_read_stop(th->listener);
    if (!h2o_timeout_is_linked(&th->accept_retry))
        h2o_timeout_link(th->loop, &th->accept_pause, &th->accept_retry);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct loop_thread *th = listener->data;
    struct server *s = th->server;
    if (err != NULL)
        return;
    for (int i = 0; i < 64; i++) { /* drain a burst, bounded so other sockets get a turn */
        errno = 0;
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_accepting(th, errno);
            return;
        }
        th->accept_starved = 0;
        if (atomic_fetch_add(&s->connections, 1) >= s->max_connections) {
            atomic_fetch_sub(&s->connections, 1);
            h2o_socket_close(sock);
            continue;
        }
        sock->on_close.cb = on_connection_close;
        sock->on_close.data = s;
        h2o_accept(&th->accept_ctx, sock);
    }
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_stop_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct loop_thread *th = H2O_STRUCT_FROM_MEMBER(struct loop_thread, stop_receiver, receiver);
    while (!h2o_linklist_is_empty(messages))
        h2o_linklist_unlink(messages->next);
    if (th->listener != NULL) {
        h2o_socket_read_stop(th->listener);
        h2o_socket_close(th->listener);
        th->listener = NULL;
    }
    if (h2o_timeout_is_linked(&th->accept_retry))
        h2o_timeout_unlink(&th->accept_retry);
    h2o_context_request_shutdown(&th->ctx);
    th->stopping = 1;
    th->deadline_ms = now_ms() + (uint64_t)th->server->cfg.shutdown_timeout * 1000;
}

/* Everything h2o-owned is made on the thread that will run it: h2o keeps
 * per-thread buffer recyclers, and a socket created on one thread but read
 * on another would share the creator's recycler without locks. */
static void loop_init(struct loop_thread *th)
{
    struct server *s = th->server;
    th->loop = h2o_evloop_create();
    h2o_context_init(&th->ctx, th->loop, &s->globalconf);
    th->accept_ctx.ctx = &th->ctx;
    th->accept_ctx.hosts = s->globalconf.hosts;
    th->accept_ctx.ssl_ctx = s->ssl_ctx;
    h2o_multithread_register_receiver(th->ctx.queue, &th->done_receiver, on_tasks_done);
    h2o_multithread_register_receiver(th->ctx.queue, &th->stop_receiver, on_stop_message);
    h2o_timeout_init(th->loop, &th->accept_pause, ACCEPT_PAUSE_MS);
    th->accept_retry.cb = on_accept_retry;
    th->listener = h2o_evloop_socket_create(th->loop, th->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    th->listener->data = th;
    h2o_socket_read_start(th->listener, on_accept);
    if (s->http_client != NULL && (th->http = http_client_loop_new(s->http_client, &th->ctx)) == NULL)
        log_error("thread %d: out of memory for its HTTP client; its calls to peers use workers", th->index);
}

/* Scheduler slice of loop threads. A loop runs for microseconds per request
 * and then sleeps; with the default slice (~3 ms) a woken loop may wait for
 * the running thread's slice to end before it gets the CPU. Linux's EEVDF
 * scheduler (6.6+) lets a normal thread ask for a shorter slice without
 * privilege, which gives it an earlier deadline and so the CPU at once on
 * wake-up; older kernels ignore the request for normal threads. */
#define LOOP_SLICE_NS (100 * 1000)

/* The kernel's struct sched_attr (its header clashes with <sched.h>). */
struct loop_sched_attr {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
};

static void loop_prioritize(int index)
{
    struct loop_sched_attr attr = {.size = sizeof attr, .sched_policy = SCHED_OTHER};
    errno = 0;
    attr.sched_nice = getpriority(PRIO_PROCESS, (id_t)gettid());
    attr.sched_runtime = LOOP_SLICE_NS;
    if (errno != 0 || syscall(SYS_sched_setattr, 0, &attr, 0) != 0)
        log_warn("thread %d: cannot shorten the event loop's scheduler slice: %s", index, strerror(errno));
}

static void *loop_main(void *arg)
{
    struct loop_thread *th = arg;
    struct server *s = th->server;
    current_thread = th;
    loop_prioritize(th->index);
    loop_init(th);
    pthread_mutex_lock(&s->stop_lock);
    s->threads_ready++;
    pthread_cond_broadcast(&s->stop_cond);
    pthread_mutex_unlock(&s->stop_lock);
    while (!th->stopping ||
           ((th->inflight > 0 || th->pending > 0 || http_client_loop_pending(th->http) > 0) &&
            now_ms() < th->deadline_ms))
        h2o_evloop_run(th->loop, 100);
    if (th->inflight > 0 || th->pending > 0)
        log_warn("thread %d: stopped with %zu requests still in flight after %d s", th->index, th->inflight,
                 th->server->cfg.shutdown_timeout);
    return NULL;
}

/* A listener joined to the port's SO_REUSEPORT group. */
static int open_listener(int port, char *err, size_t errlen)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 4096) != 0) {
        snprintf(err, errlen, "internal_http_port: cannot listen on port %d: %s", port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* SO_REUSEPORT would let a second daemon silently share the port; a plain
 * bind first proves the port is ours alone. */
static int check_port_free(int port, char *err, size_t errlen)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
                     bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0
                 ? 0
                 : -1;
    if (rc != 0)
        snprintf(err, errlen, "internal_http_port: port %d is in use or not available: %s", port,
                 strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Opens every listener, then starts the loop threads and waits until each
 * has its loop and receivers (a stop message needs them). Returns the number
 * of threads started, or -1 when a listener cannot be opened. */
static int threads_start(struct server *s, char *err, size_t errlen)
{
    if (check_port_free(s->cfg.internal_http_port, err, errlen) != 0)
        return -1;
    for (int i = 0; i < s->nthreads; i++) {
        struct loop_thread *th = &s->threads[i];
        th->server = s;
        th->index = i;
        th->listen_fd = open_listener(s->cfg.internal_http_port, err, errlen);
        if (th->listen_fd < 0)
            return -1;
    }
    int started = 0;
    for (; started < s->nthreads; started++)
        if (pthread_create(&s->threads[started].tid, NULL, loop_main, &s->threads[started]) != 0) {
            log_error("cannot start event-loop thread %d; serving with %d", started, started);
            break;
        }
    pthread_mutex_lock(&s->stop_lock);
    while (s->threads_ready < started)
        pthread_cond_wait(&s->stop_cond, &s->stop_lock);
    pthread_mutex_unlock(&s->stop_lock);
    return started;
}

/* h2o 2.2 cannot dispose a context while keep-alive connections or its own
 * timers are still registered (it asserts), and the process exits right
 * after a stop, so contexts are only unhooked from our receivers. */
static void threads_dispose(struct server *s)
{
    for (int i = 0; s->threads != NULL && i < s->nthreads; i++) {
        struct loop_thread *th = &s->threads[i];
        if (th->loop == NULL)
            continue;
        h2o_multithread_unregister_receiver(th->ctx.queue, &th->done_receiver);
        h2o_multithread_unregister_receiver(th->ctx.queue, &th->stop_receiver);
        http_client_loop_free(th->http);
        th->http = NULL;
        th->loop = NULL;
    }
}

/* ---- tickers ---------------------------------------------------------- */

static void *ticker_main(void *arg)
{
    struct ticker *t = arg;
    struct server *s = t->server;
    pthread_mutex_lock(&s->stop_lock);
    while (!s->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += t->interval_ms / 1000;
        until.tv_nsec += (long)(t->interval_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        while (!s->stopping && pthread_cond_timedwait(&s->stop_cond, &s->stop_lock, &until) != ETIMEDOUT)
            ;
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->stop_lock);
        t->fn(t->arg);
        pthread_mutex_lock(&s->stop_lock);
    }
    pthread_mutex_unlock(&s->stop_lock);
    return NULL;
}

int server_add_ticker(struct server *s, int interval_ms, server_tick_fn fn, void *arg)
{
    if (s->nticker == SERVER_MAX_TICKERS || interval_ms <= 0)
        return -1;
    s->tickers[s->nticker++] = (struct ticker){s, 0, interval_ms, fn, arg};
    return 0;
}

/* ---- lifecycle -------------------------------------------------------- */

static int setup_data_folder(struct server *s, char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    if (fs_mkdir_p(s->cfg.data_folder, 0750) != 0) {
        snprintf(err, errlen, "cannot create data folder '%s': %s", s->cfg.data_folder, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/error.log", s->cfg.data_folder);
    if (log_open(path) != 0) {
        snprintf(err, errlen, "cannot open error log '%s': %s", path, strerror(errno));
        return -1;
    }
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

static void setup_h2o(struct server *s)
{
    h2o_config_init(&s->globalconf);
    s->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("siegetank"));
    s->globalconf.max_request_entity_size = s->cfg.max_body_size;
    s->globalconf.http1.req_timeout = (uint64_t)s->cfg.idle_timeout * 1000;
    /* HTTP/1.1 only: no h2c upgrade and no prior-knowledge "PRI * HTTP/2"
     * (with TLS, ALPN offers only http/1.1: see tls.c). h2o 2.2.5 predates
     * the HTTP/2 rapid-reset fix (CVE-2023-44487) and no client of ours
     * speaks HTTP/2 (docs/deployment.md). */
    s->globalconf.http1.upgrade_to_http2 = 0;
    s->globalconf.handshake_timeout = (uint64_t)s->cfg.header_timeout * 1000;
    s->hostconf = h2o_config_register_host(&s->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(s->hostconf, "/", 0);
    h2o_handler_t *h = h2o_create_handler(path, sizeof *h);
    h->on_req = on_req;
    struct json_error_filter *f = (void *)h2o_create_filter(&s->hostconf->fallback_path, sizeof *f);
    f->super.on_setup_ostream = json_error_on_setup;
    f->server = s;
    if (s->access_log != NULL) {
        h2o_access_log_register(path, s->access_log);
        h2o_access_log_register(&s->hostconf->fallback_path, s->access_log);
    }
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
    router_add(&s->router, "GET", "/", (void *)handle_root);
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
    if (setup_data_folder(s, err, errlen) != 0)
        goto fail;
    setup_h2o(s);
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
    threads_dispose(s);
    http_client_free(s->http_client);
    free(s->threads);
    free(s->root_body.base);
    if (s->ssl_ctx != NULL)
        SSL_CTX_free(s->ssl_ctx);
    pthread_mutex_destroy(&s->stop_lock);
    pthread_cond_destroy(&s->stop_cond);
    free(s);
}

int server_route(struct server *s, const char *method, const char *pattern, server_handler handler)
{
    return router_add(&s->router, method, pattern, (void *)handler);
}

int server_route_secret(struct server *s, const char *method, const char *pattern, server_handler handler)
{
    return router_add_secret(&s->router, method, pattern, (void *)handler);
}

const struct config *server_config(const struct server *s)
{
    return &s->cfg;
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
    (void)r;
    return current_thread != NULL ? current_thread->http : NULL;
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
    for (int i = 0; i < tickers_started; i++)
        pthread_join(s->tickers[i].tid, NULL);
    for (int i = 0; i < threads_started; i++)
        h2o_multithread_send_message(&s->threads[i].stop_receiver, &s->threads[i].stop_message);
    for (int i = 0; i < threads_started; i++)
        pthread_join(s->threads[i].tid, NULL);
    pool_stop(&s->pool);
    pool_stop(&s->bulk_pool);
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
    if (pool_start(&s->pool, workers) != 0 || pool_start(&s->bulk_pool, bulk) != 0) {
        log_error("cannot start %d worker and %d bulk worker threads", workers, bulk);
        stop_everything(s, 0, 0);
        return -1;
    }
    int started = threads_start(s, err, sizeof err);
    if (started <= 0) {
        log_error("%s", started < 0 ? err : "cannot start any event-loop thread");
        for (int i = 0; i < s->nthreads; i++)
            if (s->threads[i].listen_fd > 0)
                close(s->threads[i].listen_fd);
        stop_everything(s, 0, 0);
        return -1;
    }
    int tickers = 0;
    for (; tickers < s->nticker; tickers++)
        pthread_create(&s->tickers[tickers].tid, NULL, ticker_main, &s->tickers[tickers]);
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
