/* client: the handle and the HTTP exchange every call goes through. */
#include "client/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define URL_MAX 4096
#define HEADERS_MAX 32

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int client_global_init(struct client_error *err)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_result == CURLE_OK)
        return 0;
    client_error_set(err, 0, "libcurl initialization failed: %s", curl_easy_strerror(curl_init_result));
    return -1;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

struct client *client_new(const char *base_url, const struct client_options *opts, struct client_error *err)
{
    char url[URL_MAX];
    struct client *c = NULL;
    if (client_url_normalize(base_url, url, sizeof url) != 0) {
        client_error_set(err, 0, "bad server address '%s': expected host:port or http(s)://host:port",
                         base_url ? base_url : "");
        return NULL;
    }
    if (client_global_init(err) != 0)
        return NULL;
    c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    c->curl = curl_easy_init();
    c->base = strdup(url);
    if (opts && opts->ca_bundle)
        c->ca_bundle = strdup(opts->ca_bundle);
    if (!c->curl || !c->base || (opts && opts->ca_bundle && !c->ca_bundle))
        goto fail;
    c->connect_timeout_s = opts && opts->connect_timeout_s > 0 ? opts->connect_timeout_s : 10;
    c->timeout_s = opts && opts->timeout_s > 0 ? opts->timeout_s : 300;
    c->max_reply = opts && opts->max_reply > 0 ? opts->max_reply : CLIENT_DEFAULT_MAX_REPLY;
    enum client_scv_scheme scheme = opts ? opts->scv_scheme : CLIENT_SCV_AS_CC;
    if (scheme == CLIENT_SCV_AS_CC)
        scheme = strncasecmp(url, "http://", 7) == 0 ? CLIENT_SCV_HTTP : CLIENT_SCV_HTTPS;
    c->scv_plain_http = scheme == CLIENT_SCV_HTTP;
    if (opts && opts->share)
        curl_easy_setopt(c->curl, CURLOPT_SHARE, client_share_handle(opts->share));
    return c;
fail:
    client_error_set(err, 0, "out of memory creating a client handle");
    client_free(c);
    return NULL;
}

void client_free(struct client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->base);
    free(c->token);
    free(c->ca_bundle);
    json_decref(c->scv_hosts);
    free(c);
}

int client_set_token(struct client *c, const char *token)
{
    char *copy = dup_or_null(token);
    if (token && !copy)
        return -1;
    free(c->token);
    c->token = copy;
    return 0;
}

const char *client_base_url(const struct client *c)
{
    return c->base;
}

void client_reply_free(struct client_reply *r)
{
    if (!r)
        return;
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

struct sink_state {
    struct client *c;
    struct client_reply *reply;
    size_t cap;
    FILE *file;
    int too_big;
    int write_failed;
};

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
    struct client_reply *reply = ud;
    size_t len = size * n;
    static const char name[] = "content-md5:";
    if (len > sizeof name - 1 && strncasecmp(line, name, sizeof name - 1) == 0) {
        const char *v = line + sizeof name - 1;
        size_t vlen = len - (sizeof name - 1);
        while (vlen && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        if (vlen < sizeof reply->content_md5) {
            memcpy(reply->content_md5, v, vlen);
            reply->content_md5[vlen] = '\0';
        }
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct sink_state *s = ud;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(s->c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (s->file && status == 200) {
        if (fwrite(data, 1, len, s->file) != len) {
            s->write_failed = 1;
            return 0;
        }
        return len;
    }
    struct client_reply *r = s->reply;
    if (r->body_len + len > s->c->max_reply) {
        s->too_big = 1;
        return 0;
    }
    if (r->body_len + len + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        char *grown = realloc(r->body, cap);
        if (!grown)
            return 0;
        r->body = grown;
        s->cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return len;
}

static int resolve_url(const struct client *c, const char *url_or_path, char *out, size_t n)
{
    int w;
    if (strstr(url_or_path, "://"))
        w = snprintf(out, n, "%s", url_or_path);
    else
        w = snprintf(out, n, "%s%s%s", c->base, url_or_path[0] == '/' ? "" : "/", url_or_path);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

static struct curl_slist *build_headers(const char *auth, const char *const *extra, struct client_error *err)
{
    struct curl_slist *list = NULL, *next;
    char line[1024];
    /* curl would send "Expect: 100-continue" for big bodies and wait for it. */
    list = curl_slist_append(NULL, "Expect:");
    if (list && auth) {
        if (strpbrk(auth, "\r\n") ||
            snprintf(line, sizeof line, "Authorization: %s", auth) >= (int)sizeof line) {
            client_error_set(err, 0, "the credential is malformed (too long or contains a line break)");
            curl_slist_free_all(list);
            return NULL;
        }
        next = curl_slist_append(list, line);
        list = next ? next : (curl_slist_free_all(list), NULL);
    }
    for (size_t i = 0; list && extra && extra[i] && i < HEADERS_MAX; i++) {
        next = curl_slist_append(list, extra[i]);
        list = next ? next : (curl_slist_free_all(list), NULL);
    }
    if (!list)
        client_error_set(err, 0, "out of memory building request headers");
    return list;
}

static void set_options(struct client *c, const char *method, const char *url, const void *body,
                        size_t body_len, int streaming)
{
    CURL *h = c->curl;
    int verify = client_tls_verify(url);
    /* A reset clears the previous request's options but keeps live
     * connections and TLS sessions, which is the point of one handle. */
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_error);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->connect_timeout_s);
    if (streaming) {
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->timeout_s < 60 ? c->timeout_s : 60L);
    } else {
        curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s);
    }
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    if (c->ca_bundle)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_bundle);
    if (strcmp(method, "GET") == 0 && !body) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        return;
    }
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
}

int client_exchange(struct client *c, const char *method, const char *url_or_path, const char *auth,
                    const void *body, size_t body_len, const char *const *headers, FILE *sink,
                    struct client_reply *out, struct client_error *err)
{
    char url[URL_MAX];
    struct sink_state state = {.c = c, .reply = out, .file = sink};
    struct curl_slist *list = NULL;
    int rc = -1;
    memset(out, 0, sizeof *out);
    c->curl_error[0] = '\0';
    if (resolve_url(c, url_or_path, url, sizeof url) != 0) {
        client_error_set(err, 0, "request URL too long");
        return -1;
    }
    list = build_headers(auth, headers, err);
    if (!list)
        return -1;
    set_options(c, method, url, body, body_len, sink != NULL);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &state);
    curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, out);
    CURLcode res = curl_easy_perform(c->curl);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &out->status);
    if (res != CURLE_OK) {
        if (state.too_big)
            client_error_set(err, 0, "%s %s: reply larger than %zu bytes", method, url, c->max_reply);
        else if (state.write_failed)
            client_error_set(err, 0, "%s %s: writing the downloaded data failed", method, url);
        else
            client_error_set(err, 0, "%s %s: %s", method, url,
                             c->curl_error[0] ? c->curl_error : curl_easy_strerror(res));
        out->status = 0;
        goto out;
    }
    if (!out->body) {
        out->body = calloc(1, 1);
        if (!out->body) {
            client_error_set(err, 0, "out of memory");
            goto out;
        }
    }
    out->json = out->body_len ? json_loadb(out->body, out->body_len, JSON_DECODE_ANY, NULL) : NULL;
    if (out->status != 200)
        client_error_from_body(err, out->status, out->body, out->body_len);
    rc = 0;
out:
    curl_slist_free_all(list);
    /* The list dies here; drop the handle's pointer to it as well. */
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    if (rc != 0)
        client_reply_free(out);
    return rc;
}

int client_request(struct client *c, const char *method, const char *url_or_path, const char *auth,
                   const void *body, size_t body_len, const char *const *headers, struct client_reply *out,
                   struct client_error *err)
{
    return client_exchange(c, method, url_or_path, auth, body, body_len, headers, NULL, out, err);
}

/* The common JSON call; need_json: a 200 whose body is not JSON is an error. */
static json_t *call(struct client *c, const char *method, const char *url, const char *auth,
                    const json_t *body, int need_json, struct client_error *err)
{
    static const char *const json_headers[] = {"Content-Type: application/json", NULL};
    struct client_reply reply;
    json_t *result = NULL;
    char *text = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text) {
            client_error_set(err, 0, "cannot serialize the request body");
            return NULL;
        }
    }
    if (client_exchange(c, method, url, auth, text, text ? strlen(text) : 0, text ? json_headers : NULL, NULL,
                        &reply, err) != 0)
        goto out;
    if (reply.status != 200)
        goto out_reply;
    if (reply.json)
        result = json_incref(reply.json);
    else if (reply.body_len == 0 || !need_json)
        result = json_object();
    else
        client_error_set(err, 200, "%s %s: the server's reply is not JSON", method, url);
out_reply:
    client_reply_free(&reply);
out:
    free(text);
    return result;
}

json_t *client_call_json(struct client *c, const char *method, const char *url, const char *auth,
                         const json_t *body, struct client_error *err)
{
    return call(c, method, url, auth, body, 1, err);
}

int client_call_ok(struct client *c, const char *method, const char *url, const char *auth,
                   const json_t *body, struct client_error *err)
{
    json_t *reply = call(c, method, url, auth, body, 0, err);
    if (!reply)
        return -1;
    json_decref(reply);
    return 0;
}
