/* server_reply: the JSON, error and file replies, and the request helpers
 * (server.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/server_internal.h"
#include "util/log.h"
#include "util/utf8.h"

#define FILE_CHUNK (64 * 1024)

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

/* A reply's body goes out in the same write as its headers: h2o's HTTP/1
 * pull mode asks for the body once it has written the headers into its
 * buffer, so the reply is one write and, over TLS, one record (h2o_send
 * would make the headers and the body two SSL_writes, two records). body
 * lives as long as the request (its pool, or static). */
struct body_generator {
    h2o_generator_t super;
    const char *body;
    size_t left;
};

static h2o_send_state_t body_pull(h2o_generator_t *self, h2o_req_t *req, h2o_iovec_t *buf)
{
    (void)req;
    struct body_generator *g = (struct body_generator *)self;
    size_t n = g->left < buf->len ? g->left : buf->len;
    memcpy(buf->base, g->body, n);
    g->body += n;
    g->left -= n;
    buf->len = n;
    return g->left == 0 ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS;
}

/* Sends the response set up in req->res with len bytes of body (none for
 * HEAD); res.content_length must be len. */
static void send_body(h2o_req_t *req, const char *body, size_t len)
{
    struct body_generator *g = h2o_mem_alloc_pool(&req->pool, sizeof *g);
    *g = (struct body_generator){{NULL, NULL}, body, len};
    h2o_start_response(req, &g->super);
    if (h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD")) || len == 0) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    } else if (req->_ostr_top->start_pull != NULL) {
        req->_ostr_top->start_pull(req->_ostr_top, body_pull);
    } else { /* an output filter that cannot pull: headers and body apart */
        h2o_iovec_t buf = h2o_iovec_init(body, len);
        h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
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
    send_body(req, copy.base, copy.len);
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

void server_reply_status(h2o_req_t *req, const struct status *st)
{
    server_reply_error(req, status_http(st->code), "%s",
                       st->msg[0] != '\0' ? st->msg : status_name(st->code));
}

void server_reply_static(h2o_req_t *req, const char *content_type, const void *body, size_t len)
{
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = len;
    add_common_headers(req, content_type);
    send_body(req, body, len);
}

void server_reply_constant(h2o_req_t *req, const char *body, size_t len)
{
    server_reply_static(req, "application/json", body, len);
}

void server_reply_text(h2o_req_t *req, const char *content_type, const char *body, size_t len)
{
    h2o_iovec_t copy = h2o_strdup(&req->pool, body, len);
    server_reply_static(req, content_type, copy.base, copy.len);
}

static char *content_disposition(h2o_mem_pool_t *pool, const char *filename);

void server_reply_attachment(h2o_req_t *req, const char *content_type, const void *data, size_t len,
                             const char *filename)
{
    server_add_header(req, "content-disposition", content_disposition(&req->pool, filename));
    server_reply_text(req, content_type, data, len);
}

/* The most frequent reply (every heartbeat), so a constant. */
void server_reply_ok(h2o_req_t *req)
{
    server_reply_constant(req, "{}", 2);
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
