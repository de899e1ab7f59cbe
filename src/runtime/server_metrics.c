/* server_metrics: the server's registry (server.h, server_metrics) with the
 * runtime's own figures (http_metrics.h), and GET /metrics. */
#include <stdio.h>
#include <stdlib.h>

#include "runtime/http_metrics.h"
#include "runtime/server_internal.h"

/* GET /metrics: the page is written on a worker, so collectors may make
 * system calls and a long page never holds up the loop. */
struct metrics_page {
    struct server *server;
    char *text;
    size_t len;
};

static void page_work(void *arg)
{
    struct metrics_page *p = arg;
    FILE *out = open_memstream(&p->text, &p->len);
    if (out == NULL)
        return;
    int rc = metrics_write(p->server->metrics, out);
    fclose(out);
    if (rc != 0) {
        free(p->text);
        p->text = NULL;
    }
}

static void page_done(void *arg, h2o_req_t *req)
{
    struct metrics_page *p = arg;
    if (req != NULL && p->text == NULL)
        server_reply_error(req, 503, "server is out of memory; try again later");
    else if (req != NULL)
        server_reply_text(req, "text/plain; version=0.0.4; charset=utf-8", p->text, p->len);
    free(p->text);
    free(p);
}

static void handle_metrics(struct server_request *r)
{
    struct metrics_page *p = calloc(1, sizeof *p);
    if (p == NULL) {
        server_reply_error(r->req, 503, "server is out of memory; try again later");
        return;
    }
    p->server = r->server;
    server_defer(r, page_work, page_done, p);
}

int server_metrics_init(struct server *s)
{
    struct http_metrics_info info = {s->kind_name, s->cfg.name,     SERVER_VERSION,
                                     &s->router,   &s->connections, &s->max_connections};
    s->metrics = metrics_new();
    if (s->metrics == NULL || (s->http_metrics = http_metrics_new(s->metrics, &info)) == NULL)
        return -1;
    return server_route(s, "GET", "/metrics", handle_metrics);
}

void server_metrics_free(struct server *s)
{
    http_metrics_free(s->http_metrics);
    metrics_free(s->metrics);
}

struct metrics *server_metrics(struct server *s)
{
    return s->metrics;
}
