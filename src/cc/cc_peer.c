/* cc_peer: calls to SCVs with a per-thread client and scheme learning. */
#include "cc/cc_peer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PEER_CONNECT_TIMEOUT_S 3
#define PEER_TIMEOUT_S 15
#define PEER_MAX_REPLY (64u << 20)

struct client_pool *cc_peer_pool_new(const char *ca_bundle, struct client_error *err)
{
    struct client_options opts = {.ca_bundle = ca_bundle && ca_bundle[0] ? ca_bundle : NULL,
                                  .connect_timeout_s = PEER_CONNECT_TIMEOUT_S,
                                  .timeout_s = PEER_TIMEOUT_S,
                                  .max_reply = PEER_MAX_REPLY};
    /* The base URL is never used: every call passes a full URL. */
    return client_pool_new("http://127.0.0.1", &opts, err);
}

static int explicit_scheme(const char *host)
{
    if (strncasecmp(host, "https://", 8) == 0)
        return CC_SCHEME_HTTPS;
    if (strncasecmp(host, "http://", 7) == 0)
        return CC_SCHEME_HTTP;
    return CC_SCHEME_UNKNOWN;
}

static int make_origin(int scheme, const char *host, char origin[CC_PEER_ORIGIN_MAX])
{
    int n = explicit_scheme(host) != CC_SCHEME_UNKNOWN
                ? snprintf(origin, CC_PEER_ORIGIN_MAX, "%s", host)
                : snprintf(origin, CC_PEER_ORIGIN_MAX, "%s://%s", scheme == CC_SCHEME_HTTP ? "http" : "https",
                           host);
    if (n < 0 || n >= CC_PEER_ORIGIN_MAX)
        return -1;
    /* Registered hosts may end with '/': paths bring their own. */
    while (n > 0 && origin[n - 1] == '/')
        origin[--n] = '\0';
    return 0;
}

int cc_peer_scheme(const cc_health_rec *rec, const char *host)
{
    int fixed = explicit_scheme(host);
    return fixed != CC_SCHEME_UNKNOWN ? fixed : atomic_load(&rec->scheme);
}

int cc_peer_origin(const cc_health_rec *rec, const char *host, char origin[CC_PEER_ORIGIN_MAX])
{
    return make_origin(atomic_load(&rec->scheme), host, origin);
}

static int send_once(struct client *c, int scheme, const struct cc_peer_call *call, const char *body,
                     struct client_reply *out, char origin[CC_PEER_ORIGIN_MAX], struct client_error *err)
{
    char url[CC_PEER_ORIGIN_MAX + 4096];
    static const char *const json_headers[] = {"Content-Type: application/json", NULL};
    if (make_origin(scheme, call->host, origin) != 0 ||
        snprintf(url, sizeof url, "%s%s", origin, call->path) >= (int)sizeof url) {
        client_error_set(err, 0, "SCV address too long");
        return -1;
    }
    return client_request(c, call->method, url, call->auth, body, body ? strlen(body) : 0,
                          body ? json_headers : NULL, out, err);
}

int cc_peer_request(cc_health_rec *rec, const struct cc_peer_call *call, struct client_reply *out,
                    char origin[CC_PEER_ORIGIN_MAX], struct client_error *err)
{
    char scratch[CC_PEER_ORIGIN_MAX];
    char *body = NULL;
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (origin == NULL)
        origin = scratch;
    struct client *c = client_pool_get(call->pool, err);
    if (c == NULL)
        return -1;
    if (call->body != NULL && (body = json_dumps(call->body, JSON_COMPACT)) == NULL) {
        client_error_set(err, 0, "out of memory encoding a request");
        return -1;
    }
    int fixed = explicit_scheme(call->host);
    int known = atomic_load(&rec->scheme);
    int first = known == CC_SCHEME_HTTP ? CC_SCHEME_HTTP : CC_SCHEME_HTTPS;
    rc = send_once(c, first, call, body, out, origin, err);
    if (rc != 0 && fixed == CC_SCHEME_UNKNOWN && (known == CC_SCHEME_UNKNOWN || call->probe)) {
        first = first == CC_SCHEME_HTTP ? CC_SCHEME_HTTPS : CC_SCHEME_HTTP;
        client_reply_free(out);
        memset(out, 0, sizeof *out);
        rc = send_once(c, first, call, body, out, origin, err);
    }
    if (rc == 0 && fixed == CC_SCHEME_UNKNOWN)
        atomic_store(&rec->scheme, first);
    free(body);
    return rc;
}
