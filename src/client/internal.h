/* internal: what the client's .c files share and nobody else may use. */
#ifndef ST_CLIENT_INTERNAL_H
#define ST_CLIENT_INTERNAL_H

#include "client/client.h"

#include <curl/curl.h>

struct client {
    CURL *curl;
    char *base;  /* normalized CC URL, no trailing slash */
    char *token; /* Authorization for the typed calls, or NULL */
    char *ca_bundle;
    long connect_timeout_s;
    long timeout_s;
    size_t max_reply;
    int scv_plain_http;
    json_t *scv_hosts; /* cached GET /scvs/status, or NULL */
    char curl_error[CURL_ERROR_SIZE];
};

/* curl_global_init once per process; 0, or -1 with err filled. */
int client_global_init(struct client_error *err);
/* The libcurl share behind s (NULL for NULL). */
CURLSH *client_share_handle(const struct client_share *s);

/* client_request's engine: when sink is given, a 200 reply's body goes there
 * instead of into out->body, and the request may run past timeout_s as long
 * as bytes keep arriving. */
int client_exchange(struct client *c, const char *method, const char *url_or_path, const char *auth,
                    const void *body, size_t body_len, const char *const *headers, FILE *sink,
                    struct client_reply *out, struct client_error *err);

/* A JSON call with the given auth: body (may be NULL) is serialized compactly.
 * Returns the parsed reply of a 200 ({} when the body is empty), else NULL. */
json_t *client_call_json(struct client *c, const char *method, const char *url, const char *auth,
                         const json_t *body, struct client_error *err);
/* As client_call_json for calls whose 200 carries nothing of interest. */
int client_call_ok(struct client *c, const char *method, const char *url, const char *auth,
                   const json_t *body, struct client_error *err);

/* "scheme://host:port" of an SCV by name (from the cached /scvs/status)
 * into out. 0 or -1. */
int client_scv_url(struct client *c, const char *scv_name, char *out, size_t n, struct client_error *err);

/* origin (may be "") + prefix + escaped id [+ "/" + escaped path, slashes
 * kept], malloc'd; NULL when out of memory. */
char *client_build_url(const char *origin, const char *prefix, const char *id, const char *path);

#endif
