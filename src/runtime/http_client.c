/* http_client: h2o's http1client over shared per-origin socket pools. */
#include "runtime/http_client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/tls.h"

/* h2o 2.2 does not enforce a pool's capacity; it only sizes nothing. */
#define POOL_CAPACITY 1024

struct pool {
    char *origin;
    int verify;
    char *authority; /* Host header */
    h2o_socketpool_t sockets;
};

struct http_client {
    SSL_CTX *tls[2]; /* [verify] */
    int io_timeout_ms;
    pthread_mutex_t lock; /* guards the pool list, not the pools */
    struct pool **pools;
    size_t npools, cap;
};

struct http_client_loop {
    struct http_client *client;
    h2o_loop_t *loop;
    h2o_timeout_t io_timeout;
    h2o_http1client_ctx_t ctx[2]; /* [verify] */
    size_t pending;
};

struct call {
    struct http_client_loop *loop;
    http_client_done_fn done;
    void *arg;
    size_t max_reply;
    int status;
    h2o_iovec_t bufs[2]; /* head, body */
    size_t nbufs;
};

struct http_client *http_client_new(const char *ca_bundle, int io_timeout_ms, char *err, size_t errlen)
{
    struct http_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->io_timeout_ms = io_timeout_ms;
    c->tls[0] = tls_client_context(0, NULL, err, errlen);
    c->tls[1] = c->tls[0] ? tls_client_context(1, ca_bundle, err, errlen) : NULL;
    if (c->tls[1] == NULL) {
        http_client_free(c);
        return NULL;
    }
    return c;
}

void http_client_free(struct http_client *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->npools; i++) {
        h2o_socketpool_dispose(&c->pools[i]->sockets);
        free(c->pools[i]->origin);
        free(c->pools[i]->authority);
        free(c->pools[i]);
    }
    free(c->pools);
    for (int v = 0; v < 2; v++)
        if (c->tls[v] != NULL)
            SSL_CTX_free(c->tls[v]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

struct http_client_loop *http_client_loop_new(struct http_client *c, h2o_context_t *ctx)
{
    struct http_client_loop *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    l->client = c;
    l->loop = ctx->loop;
    h2o_timeout_init(l->loop, &l->io_timeout, (uint64_t)c->io_timeout_ms);
    for (int v = 0; v < 2; v++)
        l->ctx[v] = (h2o_http1client_ctx_t){l->loop, &ctx->receivers.hostinfo_getaddr, &l->io_timeout, NULL,
                                            c->tls[v]};
    return l;
}

void http_client_loop_free(struct http_client_loop *l)
{
    /* Requests cut off by the stop deadline still hold timer entries. */
    if (l == NULL || l->pending > 0)
        return;
    h2o_timeout_dispose(l->loop, &l->io_timeout);
    free(l);
}

size_t http_client_loop_pending(const struct http_client_loop *l)
{
    return l == NULL ? 0 : l->pending;
}

/* A new pool for origin, its idle timer on loop. Under c->lock. */
static struct pool *pool_add(struct http_client *c, h2o_loop_t *loop, const char *origin, int verify)
{
    h2o_url_t url;
    if (h2o_url_parse(origin, strlen(origin), &url) != 0 || url.path.len != 1 ||
        (url.scheme != &H2O_URL_SCHEME_HTTP && url.scheme != &H2O_URL_SCHEME_HTTPS))
        return NULL;
    if (c->npools == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        struct pool **grown = realloc(c->pools, cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        c->pools = grown;
        c->cap = cap;
    }
    struct pool *p = calloc(1, sizeof *p);
    if (p == NULL || (p->origin = strdup(origin)) == NULL ||
        (p->authority = strndup(url.authority.base, url.authority.len)) == NULL) {
        if (p != NULL)
            free(p->origin);
        free(p);
        return NULL;
    }
    p->verify = verify;
    h2o_socketpool_init_by_hostport(&p->sockets, url.host, h2o_url_get_port(&url),
                                    url.scheme == &H2O_URL_SCHEME_HTTPS, POOL_CAPACITY);
    h2o_socketpool_set_timeout(&p->sockets, loop, HTTP_CLIENT_IDLE_MS);
    c->pools[c->npools++] = p;
    return p;
}

static struct pool *pool_get(struct http_client_loop *l, const char *origin, int verify)
{
    struct http_client *c = l->client;
    struct pool *p = NULL;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->npools && p == NULL; i++)
        if (c->pools[i]->verify == verify && strcmp(c->pools[i]->origin, origin) == 0)
            p = c->pools[i];
    if (p == NULL)
        p = pool_add(c, l->loop, origin, verify);
    pthread_mutex_unlock(&c->lock);
    return p;
}

static void call_end(struct call *c, const struct http_client_reply *r)
{
    c->loop->pending--;
    c->done(c->arg, r);
    free(c->bufs[0].base);
    free(c);
}

static void call_fail(struct call *c, const char *error, int resend_ok)
{
    struct http_client_reply r = {.error = error, .resend_ok = resend_ok};
    call_end(c, &r);
}

static int on_body(h2o_http1client_t *client, const char *errstr)
{
    struct call *c = client->data;
    h2o_buffer_t *in = client->sock->input;
    if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
        call_fail(c, errstr, 0);
        return -1;
    }
    if (in->size > c->max_reply) {
        call_fail(c, "reply over the size limit", 0);
        return -1;
    }
    if (errstr == NULL)
        return 0;
    char *body = malloc(in->size + 1);
    if (body == NULL) {
        call_fail(c, "out of memory", 0);
        return -1;
    }
    memcpy(body, in->bytes, in->size);
    body[in->size] = '\0';
    struct http_client_reply r = {.status = c->status, .body = body, .len = in->size};
    call_end(c, &r);
    free(body);
    return 0;
}

static h2o_http1client_body_cb on_head(h2o_http1client_t *client, const char *errstr, int minor_version,
                                       int status, h2o_iovec_t msg, struct st_h2o_header_t *headers,
                                       size_t num_headers, int rlen)
{
    (void)minor_version, (void)msg, (void)headers, (void)num_headers, (void)rlen;
    struct call *c = client->data;
    if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
        /* h2o's own wording: "I/O error (...)" is a broken connection, unlike
         * "I/O timeout" or an unparsable reply. */
        call_fail(c, errstr, strncmp(errstr, "I/O error", 9) == 0);
        return NULL;
    }
    c->status = status;
    if (errstr == NULL)
        return on_body;
    struct http_client_reply r = {.status = status, .body = "", .len = 0};
    call_end(c, &r);
    return NULL;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr,
                                          h2o_iovec_t **reqbufs, size_t *reqbufcnt, int *method_is_head)
{
    struct call *c = client->data;
    if (errstr != NULL) {
        call_fail(c, errstr, 0);
        return NULL;
    }
    *reqbufs = c->bufs;
    *reqbufcnt = c->nbufs;
    *method_is_head = 0;
    return on_head;
}

static int header_safe(const char *s)
{
    return s == NULL || strpbrk(s, "\r\n") == NULL;
}

/* The request head and body in one allocation (bufs[0], bufs[1]). */
static int call_build(struct call *c, const struct http_client_request *rq, const char *authority)
{
    static const char fmt[] = "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s%s%s\r\n";
    char length[64] = "";
    if (rq->body != NULL)
        snprintf(length, sizeof length, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                 rq->body_len);
    const char *auth = rq->authorization ? rq->authorization : "";
    const char *auth_name = rq->authorization ? "Authorization: " : "";
    const char *auth_end = rq->authorization ? "\r\n" : "";
    int n = snprintf(NULL, 0, fmt, rq->method, rq->path, authority, auth_name, auth, auth_end, length);
    size_t body_len = rq->body ? rq->body_len : 0;
    char *buf = n < 0 ? NULL : malloc((size_t)n + 1 + body_len);
    if (buf == NULL)
        return -1;
    snprintf(buf, (size_t)n + 1, fmt, rq->method, rq->path, authority, auth_name, auth, auth_end, length);
    if (body_len > 0)
        memcpy(buf + n, rq->body, body_len);
    c->bufs[0] = h2o_iovec_init(buf, (size_t)n);
    c->bufs[1] = h2o_iovec_init(buf + n, body_len);
    c->nbufs = body_len > 0 ? 2 : 1;
    return 0;
}

int http_client_send(struct http_client_loop *l, const struct http_client_request *rq,
                     http_client_done_fn done, void *arg)
{
    int verify = rq->verify ? 1 : 0;
    if (!header_safe(rq->method) || !header_safe(rq->path) || !header_safe(rq->authorization))
        return -1;
    struct pool *p = pool_get(l, rq->origin, verify);
    struct call *c = p ? calloc(1, sizeof *c) : NULL;
    if (c == NULL)
        return -1;
    *c = (struct call){.loop = l, .done = done, .arg = arg, .max_reply = rq->max_reply};
    if (call_build(c, rq, p->authority) != 0) {
        free(c);
        return -1;
    }
    l->pending++;
    h2o_http1client_connect_with_pool(NULL, c, &l->ctx[verify], &p->sockets, on_connect);
    return 0;
}
