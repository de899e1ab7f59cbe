/* server: the HTTP runtime shared by the CC and the SCV.
 *
 * N event-loop threads (h2o), each with its own SO_REUSEPORT listener; a
 * routing table; JSON reply helpers; two worker pools (general and bulk) for
 * blocking work whose completion is delivered back on the request's own loop
 * thread; tickers for periodic background jobs; optionally an HTTP client
 * for calls to peers from the loops themselves (http_client.h).
 * server_run() blocks until SIGTERM/SIGINT, then stops accepting, lets
 * in-flight requests finish (bounded by shutdown_timeout) and returns 0.
 * The files behind it are listed in server_internal.h.
 *
 * Connections: server_run raises the soft open-files limit to the hard one;
 * max_connections (0: the open-files limit less 1/8 of it, at least 256 or
 * half a smaller limit, kept for files and the database) caps the open
 * connections, and further ones are closed at once. Out of descriptors
 * anyway, a loop stops accepting for 100 ms at a time instead of spinning on
 * accept4.
 *
 * Threading rules for handlers: a handler runs on a loop thread and must not
 * block. A route whose whole work blocks is registered with server_route_job
 * (server_job.h); a handler that does part of its work on the loop sends
 * the rest through server_defer(). A done callback runs on the same loop
 * thread as the handler; its req is NULL when the client went away, and then
 * it must only free its own state. */
#ifndef ST_SERVER_H
#define ST_SERVER_H

#include <h2o.h>
#include <jansson.h>

#include "config/config.h"
#include "runtime/http_client.h"
#include "runtime/metrics.h"
#include "runtime/router.h"
#include "util/status.h"

struct server;

struct server_request {
    h2o_req_t *req;
    struct server *server;
    void *app;
    struct router_params params;
};

typedef void (*server_handler)(struct server_request *r);
typedef void (*server_work_fn)(void *arg);
typedef void (*server_done_fn)(void *arg, h2o_req_t *req);
typedef void (*server_tick_fn)(void *arg);

/* Validates TLS files and creates the listeners' configuration; nothing is
 * bound yet. kind_name ("cc" or "scv") appears in GET / and the logs.
 * NULL with a message in err. */
struct server *server_create(const struct config *cfg, const char *kind_name, void *app, char *err,
                             size_t errlen);
void server_free(struct server *s);

/* Register routes before server_run. 0, or -1 when the table is full. */
int server_route(struct server *s, const char *method, const char *pattern, server_handler handler);
/* A route whose path parameters are secrets: the access log shows the path
 * with them replaced by "[redacted]" (router_redact), whatever the method
 * and outcome. */
int server_route_secret(struct server *s, const char *method, const char *pattern, server_handler handler);

/* fn runs every interval_ms on a thread of its own (it may block), from
 * server_run until the stop begins. */
int server_add_ticker(struct server *s, int interval_ms, server_tick_fn fn, void *arg);

/* Bind, serve, and block until a stop signal or server_stop. 0 on a clean
 * stop, -1 (logged) when the port cannot be bound. */
int server_run(struct server *s);
void server_stop(struct server *s); /* from any thread */

/* A reference to r's request that h2o clears (ref->req = NULL) when it
 * disposes of the request, e.g. because the client went away: for replies
 * made later on the loop thread (server_defer uses one). ref must stay put
 * until server_req_ref_take, which detaches it and returns the request, or
 * NULL when it is gone. Loop thread only. */
struct server_req_ref {
    h2o_req_t *req;
    struct server_req_ref **slot; /* in the request's pool */
};
void server_req_ref_init(struct server_req_ref *ref, struct server_request *r);
h2o_req_t *server_req_ref_take(struct server_req_ref *ref);

/* Blocking work off the loop: work(arg) on a worker thread, then done(arg,
 * req) on r's loop thread. */
void server_defer(struct server_request *r, server_work_fn work, server_done_fn done, void *arg);
/* The same for CPU-heavy work (request bodies to decode, digest and write):
 * it runs on a pool of its own with CPUs - 1 threads (at least 1), so at
 * least one CPU stays free for the event loops and the other workers. */
void server_defer_bulk(struct server_request *r, server_work_fn work, server_done_fn done, void *arg);
/* Fire-and-forget work on a worker thread (no reply). */
void server_run_background(struct server *s, server_work_fn work, void *arg);

/* The registry GET /metrics shows (metrics.h): the runtime's own figures
 * (http_metrics.h) and whatever the daemon adds to it. */
struct metrics *server_metrics(struct server *s);

/* Calls to peers from the event loops (http_client.h): call before
 * server_run; each loop thread then gets its client when it starts, with TLS
 * verification per cfg's ca_bundle and io_timeout_ms per I/O step. 0, or -1
 * with a message in err. */
int server_enable_http_client(struct server *s, int io_timeout_ms, char *err, size_t errlen);
/* The client of r's loop thread; NULL when not enabled. */
struct http_client_loop *server_http_client(struct server_request *r);

/* Replies. Each sets Access-Control-Allow-Origin: * and a JSON content type. */
void server_reply_json(h2o_req_t *req, int status, json_t *body); /* steals body */
void server_reply_error(h2o_req_t *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void server_reply_ok(h2o_req_t *req); /* 200 {} */
/* 200 with body (copied) of the given content type, e.g. text or HTML. */
void server_reply_text(h2o_req_t *req, const char *content_type, const char *body, size_t len);
/* The same without the copy: body must outlive the request (static data,
 * or the request's pool). */
void server_reply_static(h2o_req_t *req, const char *content_type, const void *body, size_t len);
/* A failed status: status_http(st->code) with {"error": st->msg}, or the
 * code's generic reason when no message was recorded. */
void server_reply_status(h2o_req_t *req, const struct status *st);
/* Streams size bytes of fd (closed when done) as application/octet-stream
 * with a Content-Disposition naming filename, encoded per RFC 6266
 * (filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>). */
void server_reply_file(h2o_req_t *req, int fd, size_t size, const char *filename);
/* 200 with len bytes of data (copied) of the given content type, as an
 * attachment named filename (Content-Disposition as server_reply_file). */
void server_reply_attachment(h2o_req_t *req, const char *content_type, const void *data, size_t len,
                             const char *filename);
/* Adds a response header (value copied) before one of the replies above. */
void server_add_header(h2o_req_t *req, const char *name, const char *value);

/* Request helpers. A header value as a NUL-terminated copy in the request's
 * pool, or NULL when absent. */
const char *server_header(h2o_req_t *req, const char *name);
/* The body parsed as a JSON object; on failure replies 400 and returns NULL.
 * An empty body counts as {}. The caller owns the result. */
json_t *server_body_object(h2o_req_t *req);

#endif
