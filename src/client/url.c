/* url: the pure URL and error helpers of client.h (no network). */
#include "client/internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HOST_MAX 256

/* Copies the host part of a URL or "host:port" into out (brackets removed). */
static int url_host(const char *in, char *out, size_t n)
{
    const char *p = strstr(in, "://");
    p = p ? p + 3 : in;
    size_t len = strcspn(p, "/?#");
    const char *at = memchr(p, '@', len);
    if (at) {
        len -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (len > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', len);
        if (!close)
            return -1;
        p++;
        len = (size_t)(close - p);
    } else {
        const char *colon = memchr(p, ':', len);
        /* Two colons without brackets can only be a bare IPv6 literal. */
        if (colon && !memchr(colon + 1, ':', len - (size_t)(colon + 1 - p)))
            len = (size_t)(colon - p);
    }
    if (len == 0 || len >= n)
        return -1;
    memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

enum client_host_kind client_host_kind(const char *url_or_hostport)
{
    char host[HOST_MAX];
    unsigned char addr[sizeof(struct in6_addr)];
    if (!url_or_hostport || url_host(url_or_hostport, host, sizeof host) != 0)
        return CLIENT_HOST_DOMAIN;
    if (strcasecmp(host, "localhost") == 0)
        return CLIENT_HOST_LOCALHOST;
    if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1)
        return CLIENT_HOST_IP;
    return CLIENT_HOST_DOMAIN;
}

int client_tls_verify(const char *url_or_hostport)
{
    return client_host_kind(url_or_hostport) == CLIENT_HOST_DOMAIN;
}

int client_url_normalize(const char *in, char *out, size_t n)
{
    if (!in || !*in)
        return -1;
    const char *sep = strstr(in, "://");
    const char *prefix = "";
    if (!sep)
        prefix = "https://";
    else if (!(sep - in == 5 && strncasecmp(in, "https", 5) == 0) &&
             !(sep - in == 4 && strncasecmp(in, "http", 4) == 0))
        return -1;
    int w = snprintf(out, n, "%s%s", prefix, in);
    if (w < 0 || (size_t)w >= n)
        return -1;
    size_t len = (size_t)w;
    while (len > 0 && out[len - 1] == '/')
        out[--len] = '\0';
    sep = strstr(out, "://");
    if (!sep || sep[3] == '\0')
        return -1;
    return 0;
}

int client_url_origin(const char *url, char *out, size_t n)
{
    const char *sep = url ? strstr(url, "://") : NULL;
    if (!sep || sep[3] == '\0')
        return -1;
    size_t len = (size_t)(sep + 3 - url) + strcspn(sep + 3, "/?#");
    if (len >= n)
        return -1;
    memcpy(out, url, len);
    out[len] = '\0';
    return 0;
}

char *client_path_escape(const char *s, int keep_slash)
{
    size_t len = strlen(s);
    char *out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    char *w = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        /* ':' stays literal: stream ids carry it and it is legal in a path. */
        if (isalnum(*p) || strchr("-._~:", *p) || (keep_slash && *p == '/')) {
            *w++ = (char)*p;
        } else {
            sprintf(w, "%%%02X", *p);
            w += 3;
        }
    }
    *w = '\0';
    return out;
}

const char *client_stream_scv(const char *stream_id)
{
    const char *colon = stream_id ? strrchr(stream_id, ':') : NULL;
    if (!colon || colon == stream_id || colon[1] == '\0')
        return NULL;
    return colon + 1;
}

void client_error_set(struct client_error *err, long status, const char *fmt, ...)
{
    if (!err)
        return;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

/* Copies at most the first line of a non-JSON body, printable bytes only. */
static void error_excerpt(struct client_error *err, long status, const char *body, size_t len)
{
    char buf[200];
    size_t w = 0;
    for (size_t i = 0; i < len && w < sizeof buf - 1 && body[i] != '\n'; i++)
        buf[w++] = isprint((unsigned char)body[i]) ? body[i] : '?';
    buf[w] = '\0';
    client_error_set(err, status, "HTTP %ld: %s", status, buf);
}

void client_error_from_body(struct client_error *err, long status, const char *body, size_t len)
{
    if (!err)
        return;
    json_t *doc = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *text = json_is_object(doc) ? json_object_get(doc, "error") : NULL;
    if (json_is_string(text) && json_string_length(text) > 0)
        client_error_set(err, status, "%s", json_string_value(text));
    else if (body && len && !doc)
        error_excerpt(err, status, body, len);
    else
        client_error_set(err, status, "HTTP %ld", status);
    json_decref(doc);
}

char *client_build_url(const char *origin, const char *prefix, const char *id, const char *path)
{
    char *eid = client_path_escape(id, 0);
    char *epath = path ? client_path_escape(path, 1) : NULL;
    char *url = NULL;
    if (!eid || (path && !epath))
        goto out;
    if (asprintf(&url, "%s%s%s%s%s", origin, prefix, eid, path ? "/" : "", path ? epath : "") < 0)
        url = NULL;
out:
    free(eid);
    free(epath);
    return url;
}
