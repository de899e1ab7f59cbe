/* core: the core-side calls of client.h (assign on the CC, the rest on the
 * SCV the assignment named). */
#include "client/internal.h"
#include "util/base64.h"
#include "util/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URL_MAX 2048

json_t *client_core_assign(struct client *c, const char *donor_token, const char *target_id,
                           struct client_error *err)
{
    json_t *body = json_object();
    json_t *reply = NULL;
    if (!body || (donor_token && json_object_set_new(body, "donor_token", json_string(donor_token)) != 0) ||
        (target_id && json_object_set_new(body, "target_id", json_string(target_id)) != 0)) {
        client_error_set(err, 0, "cannot build the assign request (bad donor token or target id)");
        goto out;
    }
    reply = client_call_json(c, "POST", "/core/assign", c->token, body, err);
out:
    json_decref(body);
    return reply;
}

json_t *client_core_start(struct client *c, const char *start_url, const char *core_token,
                          struct client_error *err)
{
    struct client_reply reply;
    char md5[CRYPTO_MD5_HEX_LEN + 1];
    json_t *result = NULL;
    if (client_exchange(c, "GET", start_url, core_token, NULL, 0, NULL, NULL, &reply, err) != 0)
        return NULL;
    if (reply.status != 200)
        goto out;
    crypto_md5_hex(reply.body, reply.body_len, md5);
    if (!crypto_equal(md5, reply.content_md5)) {
        client_error_set(err, 200, "GET %s: the reply's Content-MD5 '%s' does not match its body (%s)",
                         start_url, reply.content_md5, md5);
        goto out;
    }
    if (!json_is_object(reply.json)) {
        client_error_set(err, 200, "GET %s: the reply is not a JSON object", start_url);
        goto out;
    }
    result = json_incref(reply.json);
out:
    client_reply_free(&reply);
    return result;
}

/* PUT/POST a JSON body to origin + path with its hex MD5 in Content-MD5. */
static int send_signed(struct client *c, const char *method, const char *origin, const char *path,
                       const char *core_token, const json_t *body, struct client_error *err)
{
    char url[URL_MAX], md5[CRYPTO_MD5_HEX_LEN + 1], md5_header[64];
    const char *headers[] = {"Content-Type: application/json", md5_header, NULL};
    struct client_reply reply;
    int rc = -1;
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text) {
        client_error_set(err, 0, "cannot serialize the request body");
        return -1;
    }
    if (snprintf(url, sizeof url, "%s%s", origin, path) >= (int)sizeof url) {
        client_error_set(err, 0, "SCV URL too long");
        goto out;
    }
    crypto_md5_hex(text, strlen(text), md5);
    snprintf(md5_header, sizeof md5_header, "Content-MD5: %s", md5);
    if (client_exchange(c, method, url, core_token, text, strlen(text), headers, NULL, &reply, err) != 0)
        goto out;
    rc = reply.status == 200 ? 0 : -1;
    client_reply_free(&reply);
out:
    free(text);
    return rc;
}

int client_core_frame(struct client *c, const char *scv_origin, const char *core_token, const json_t *files,
                      long frames, struct client_error *err)
{
    json_t *body = json_pack("{s:O, s:I}", "files", files, "frames", (json_int_t)frames);
    if (!body) {
        client_error_set(err, 0, "cannot build the frame request");
        return -1;
    }
    int rc = send_signed(c, "PUT", scv_origin, "/core/frame", core_token, body, err);
    json_decref(body);
    return rc;
}

int client_core_checkpoint(struct client *c, const char *scv_origin, const char *core_token,
                           const json_t *files, struct client_error *err)
{
    json_t *body = json_pack("{s:O}", "files", files);
    if (!body) {
        client_error_set(err, 0, "cannot build the checkpoint request");
        return -1;
    }
    int rc = send_signed(c, "PUT", scv_origin, "/core/checkpoint", core_token, body, err);
    json_decref(body);
    return rc;
}

int client_core_heartbeat(struct client *c, const char *scv_origin, const char *core_token,
                          struct client_error *err)
{
    char url[URL_MAX];
    if (snprintf(url, sizeof url, "%s/core/heartbeat", scv_origin) >= (int)sizeof url) {
        client_error_set(err, 0, "SCV URL too long");
        return -1;
    }
    json_t *empty = json_object();
    int rc = client_call_ok(c, "POST", url, core_token, empty, err);
    json_decref(empty);
    return rc;
}

int client_core_stop(struct client *c, const char *scv_origin, const char *core_token, const char *error_text,
                     struct client_error *err)
{
    char url[URL_MAX];
    char *encoded = NULL;
    json_t *body = json_object();
    int rc = -1;
    if (snprintf(url, sizeof url, "%s/core/stop", scv_origin) >= (int)sizeof url) {
        client_error_set(err, 0, "SCV URL too long");
        goto out;
    }
    if (error_text) {
        encoded = base64_encode(error_text, strlen(error_text), NULL);
        if (!encoded || !body || json_object_set_new(body, "error", json_string(encoded)) != 0) {
            client_error_set(err, 0, "out of memory");
            goto out;
        }
    }
    rc = client_call_ok(c, "PUT", url, core_token, body, err);
out:
    free(encoded);
    json_decref(body);
    return rc;
}
