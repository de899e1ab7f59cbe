/* server_dispatch: how a request reaches its handler. h2o's configuration,
 * the request entry (framing check, CORS preflight, body limit, routing),
 * and the filter that turns h2o's own early errors into JSON. */
#include <stdint.h>
#include <string.h>

#include "runtime/http_framing.h"
#include "runtime/http_metrics.h"
#include "runtime/server_internal.h"
#include "util/clock.h"

/* What the runtime keeps of a request until h2o disposes of it. Every
 * request, answered by a handler, by on_req itself or never (the client
 * left), ends in request_end: the one place where its outcome
 * (req->res.status) and its whole duration are known. */
struct request_mark {
    struct loop_thread *thread;
    h2o_req_t *req;
    double start; /* clock_mono_s */
    int route;    /* router_params.route, -1 until matched */
};

static void request_end(void *p)
{
    struct request_mark *mark = p;
    mark->thread->inflight--;
    http_metrics_request(mark->thread->server->http_metrics, mark->route, mark->req->res.status,
                         metrics_ns(clock_mono_s() - mark->start));
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

static void run_route(const struct route_target *t, struct server_request *r)
{
    if (t->handler != NULL)
        t->handler(r);
    else
        server_job_start(r, t);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    struct loop_thread *th = server_loop_of(req);
    struct server *s = th->server;
    struct request_mark *mark = h2o_mem_alloc_shared(&req->pool, sizeof *mark, request_end);
    *mark = (struct request_mark){th, req, clock_mono_s(), -1};
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
        mark->route = r->params.route;
        run_route(handler, r);
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
    server_reply_constant(r->req, r->server->root_body.base, r->server->root_body.len);
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

void server_dispatch_init(struct server *s)
{
    server_route(s, "GET", "/", handle_root);
    h2o_config_init(&s->globalconf);
    /* No Server header: GET / names the service and its version, and the
     * header cost h2o a second sprintf per reply (~3 % of a kept-alive TLS
     * request's instructions). */
    s->globalconf.server_name = h2o_iovec_init(H2O_STRLIT(""));
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
