/* scv: the stream calls of client.h, sent to the SCV named in the stream id. */
#include "client/internal.h"
#include "util/crypto.h"

#include <stdlib.h>
#include <string.h>

#define ORIGIN_MAX 1024

/* 1 when path names something inside a stream: relative, no empty, "." or
 * ".." segment. URL libraries squash dot segments, so "../x" would silently
 * ask for another resource; refuse it here with a reason instead. */
static int path_inside_stream(const char *path)
{
    const char *seg = path;
    for (;;) {
        size_t len = strcspn(seg, "/");
        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
        if (seg[len] == '\0')
            return 1;
        seg += len + 1;
    }
}

/* The URL of prefix + stream id [+ path] on the stream's SCV; NULL on error. */
static char *stream_url(struct client *c, const char *prefix, const char *stream_id, const char *path,
                        struct client_error *err)
{
    char origin[ORIGIN_MAX];
    const char *scv = client_stream_scv(stream_id);
    if (!scv) {
        client_error_set(err, 0, "'%s' is not a stream id (expected <uuid>:<scv name>)", stream_id);
        return NULL;
    }
    if (path && !path_inside_stream(path)) {
        client_error_set(err, 0, "'%s' is not a path inside the stream (like 38/frames.xtc)", path);
        return NULL;
    }
    if (client_scv_url(c, scv, origin, sizeof origin, err) != 0)
        return NULL;
    char *url = client_build_url(origin, prefix, stream_id, path);
    if (!url)
        client_error_set(err, 0, "out of memory");
    return url;
}

static json_t *stream_json(struct client *c, const char *method, const char *prefix, const char *stream_id,
                           struct client_error *err)
{
    char *url = stream_url(c, prefix, stream_id, NULL, err);
    if (!url)
        return NULL;
    json_t *reply = client_call_json(c, method, url, c->token, NULL, err);
    free(url);
    return reply;
}

/* PUT prefix/id with the body {} the protocol asks for. */
static int stream_put(struct client *c, const char *prefix, const char *stream_id, struct client_error *err)
{
    char *url = stream_url(c, prefix, stream_id, NULL, err);
    json_t *empty = json_object();
    int rc = -1;
    if (url && empty)
        rc = client_call_ok(c, "PUT", url, c->token, empty, err);
    else if (url)
        client_error_set(err, 0, "out of memory");
    json_decref(empty);
    free(url);
    return rc;
}

json_t *client_stream_add(struct client *c, const char *scv_name, const char *target_id, const json_t *files,
                          const json_t *tags, struct client_error *err)
{
    char origin[ORIGIN_MAX], url[ORIGIN_MAX + 16];
    json_t *body = NULL, *reply = NULL;
    if (client_scv_url(c, scv_name, origin, sizeof origin, err) != 0)
        return NULL;
    snprintf(url, sizeof url, "%s/streams", origin);
    body = json_pack("{s:s, s:O}", "target_id", target_id, "files", files);
    if (!body || (tags && json_object_set(body, "tags", (json_t *)tags) != 0)) {
        client_error_set(err, 0, "cannot build the stream request (bad target id or files)");
        goto out;
    }
    reply = client_call_json(c, "POST", url, c->token, body, err);
out:
    json_decref(body);
    return reply;
}

json_t *client_stream_info(struct client *c, const char *stream_id, struct client_error *err)
{
    return stream_json(c, "GET", "/streams/info/", stream_id, err);
}

int client_stream_start(struct client *c, const char *stream_id, struct client_error *err)
{
    return stream_put(c, "/streams/start/", stream_id, err);
}

int client_stream_stop(struct client *c, const char *stream_id, struct client_error *err)
{
    return stream_put(c, "/streams/stop/", stream_id, err);
}

int client_stream_delete(struct client *c, const char *stream_id, struct client_error *err)
{
    return stream_put(c, "/streams/delete/", stream_id, err);
}

json_t *client_stream_sync(struct client *c, const char *stream_id, struct client_error *err)
{
    return stream_json(c, "GET", "/streams/sync/", stream_id, err);
}

/* method on prefix + stream id + path on the stream's SCV, with body and
 * headers (both may be NULL), the reply's body written to sink when sink is
 * not NULL: 0 when the SCV answered 200. */
static int stream_exchange(struct client *c, const char *method, const char *prefix, const char *stream_id,
                           const char *path, const void *body, size_t len, const char *const *headers,
                           FILE *sink, struct client_error *err)
{
    struct client_reply reply;
    char *url = stream_url(c, prefix, stream_id, path, err);
    int rc = -1;
    if (!url)
        return -1;
    if (client_exchange(c, method, url, c->token, body, len, headers, sink, &reply, err) == 0) {
        rc = reply.status == 200 ? 0 : -1;
        client_reply_free(&reply);
    }
    free(url);
    return rc;
}

int client_stream_download(struct client *c, const char *stream_id, const char *path, FILE *out,
                           struct client_error *err)
{
    return stream_exchange(c, "GET", "/streams/download/", stream_id, path, NULL, 0, NULL, out, err);
}

int client_stream_upload(struct client *c, const char *stream_id, const char *path, const void *data,
                         size_t len, struct client_error *err)
{
    char md5[CRYPTO_MD5_HEX_LEN + 1], md5_header[64];
    const char *headers[] = {"Content-Type: application/octet-stream", md5_header, NULL};
    crypto_md5_hex(data, len, md5);
    snprintf(md5_header, sizeof md5_header, "Content-MD5: %s", md5);
    return stream_exchange(c, "PUT", "/streams/upload/", stream_id, path, data ? data : "", len, headers,
                           NULL, err);
}

json_t *client_scv_target_streams(struct client *c, const char *scv_name, const char *target_id,
                                  struct client_error *err)
{
    char origin[ORIGIN_MAX];
    if (client_scv_url(c, scv_name, origin, sizeof origin, err) != 0)
        return NULL;
    char *url = client_build_url(origin, "/targets/streams/", target_id, NULL);
    if (!url) {
        client_error_set(err, 0, "out of memory");
        return NULL;
    }
    json_t *reply = client_call_json(c, "GET", url, c->token, NULL, err);
    free(url);
    return reply;
}
