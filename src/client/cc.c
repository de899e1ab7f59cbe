/* cc: the Command Center calls of client.h. */
#include "client/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *oom(struct client_error *err)
{
    client_error_set(err, 0, "out of memory");
    return NULL;
}

/* Builds {"k1": v1, "k2": v2, ...} from string pairs; NULL values are left out. */
static json_t *string_object(const char *const *pairs, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i + 1 < n; i += 2) {
        if (pairs[i + 1] && json_object_set_new(o, pairs[i], json_string(pairs[i + 1])) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *post_strings(struct client *c, const char *path, const char *const *pairs, size_t n,
                            struct client_error *err)
{
    json_t *body = string_object(pairs, n);
    if (!body)
        return oom(err);
    json_t *reply = client_call_json(c, "POST", path, c->token, body, err);
    json_decref(body);
    return reply;
}

/* The call on prefix + escaped id, relative to the CC. */
static json_t *on_id(struct client *c, const char *method, const char *prefix, const char *id,
                     const json_t *body, struct client_error *err)
{
    char *url = client_build_url("", prefix, id, NULL);
    if (!url)
        return oom(err);
    json_t *reply = client_call_json(c, method, url, c->token, body, err);
    free(url);
    return reply;
}

static int on_id_ok(struct client *c, const char *method, const char *prefix, const char *id,
                    const json_t *body, struct client_error *err)
{
    char *url = client_build_url("", prefix, id, NULL);
    if (!url) {
        oom(err);
        return -1;
    }
    int rc = client_call_ok(c, method, url, c->token, body, err);
    free(url);
    return rc;
}

json_t *client_manager_create(struct client *c, const char *email, const char *password, const char *role,
                              double weight, struct client_error *err)
{
    const char *pairs[] = {"email", email, "password", password, "role", role};
    json_t *body = string_object(pairs, 6);
    if (!body || json_object_set_new(body, "weight", json_real(weight)) != 0) {
        json_decref(body);
        return oom(err);
    }
    json_t *reply = client_call_json(c, "POST", "/managers", c->token, body, err);
    json_decref(body);
    return reply;
}

json_t *client_auth(struct client *c, const char *email, const char *password, struct client_error *err)
{
    const char *pairs[] = {"email", email, "password", password};
    return post_strings(c, "/auth", pairs, 4, err);
}

json_t *client_donor_create(struct client *c, const char *username, const char *password, const char *email,
                            struct client_error *err)
{
    const char *pairs[] = {"username", username, "password", password, "email", email};
    return post_strings(c, "/donors", pairs, 6, err);
}

json_t *client_donor_auth(struct client *c, const char *username, const char *password,
                          struct client_error *err)
{
    const char *pairs[] = {"username", username, "password", password};
    return post_strings(c, "/donors/auth", pairs, 4, err);
}

json_t *client_verify(struct client *c, struct client_error *err)
{
    return client_call_json(c, "GET", "/users/verify", c->token, NULL, err);
}

json_t *client_donor_info(struct client *c, const char *username, struct client_error *err)
{
    return on_id(c, "GET", "/donors/info/", username, NULL, err);
}

int client_donor_settings(struct client *c, const json_t *settings, struct client_error *err)
{
    return client_call_ok(c, "PUT", "/donors/settings", c->token, settings, err);
}

int client_donor_delete(struct client *c, struct client_error *err)
{
    json_t *body = json_object();
    int rc = body ? client_call_ok(c, "PUT", "/donors/delete", c->token, body, err) : -1;
    if (!body)
        oom(err);
    json_decref(body);
    return rc;
}

json_t *client_leaderboard(struct client *c, int teams, const char *period, long limit, long offset,
                           struct client_error *err)
{
    char path[256], *p = path, *end = path + sizeof path;
    char *escaped = client_path_escape(period ? period : "all", 0);
    if (!escaped)
        return oom(err);
    p += snprintf(p, (size_t)(end - p), "/leaderboard/%s?period=%s", teams ? "teams" : "donors", escaped);
    free(escaped);
    if (limit >= 0 && p < end)
        p += snprintf(p, (size_t)(end - p), "&limit=%ld", limit);
    if (offset >= 0 && p < end)
        snprintf(p, (size_t)(end - p), "&offset=%ld", offset);
    return client_call_json(c, "GET", path, NULL, NULL, err);
}

json_t *client_engine_key_create(struct client *c, const char *engine, const char *description,
                                 struct client_error *err)
{
    const char *pairs[] = {"engine", engine, "description", description};
    return post_strings(c, "/engines/keys", pairs, 4, err);
}

json_t *client_engine_keys_list(struct client *c, struct client_error *err)
{
    return client_call_json(c, "GET", "/engines/keys", c->token, NULL, err);
}

int client_engine_key_delete(struct client *c, const char *key, struct client_error *err)
{
    return on_id_ok(c, "PUT", "/engines/keys/delete/", key, NULL, err);
}

json_t *client_target_create(struct client *c, const json_t *spec, struct client_error *err)
{
    return client_call_json(c, "POST", "/targets", c->token, spec, err);
}

json_t *client_targets_list(struct client *c, struct client_error *err)
{
    return client_call_json(c, "GET", "/targets", c->token, NULL, err);
}

json_t *client_status_overview(struct client *c, struct client_error *err)
{
    return client_call_json(c, "GET", "/status/overview", c->token, NULL, err);
}

json_t *client_target_info(struct client *c, const char *target_id, struct client_error *err)
{
    return on_id(c, "GET", "/targets/info/", target_id, NULL, err);
}

int client_target_update(struct client *c, const char *target_id, const json_t *changes,
                         struct client_error *err)
{
    return on_id_ok(c, "PUT", "/targets/update/", target_id, changes, err);
}

int client_target_delete(struct client *c, const char *target_id, struct client_error *err)
{
    return on_id_ok(c, "PUT", "/targets/delete/", target_id, NULL, err);
}

json_t *client_target_streams(struct client *c, const char *target_id, struct client_error *err)
{
    return on_id(c, "GET", "/targets/streams/", target_id, NULL, err);
}

json_t *client_scvs_status(struct client *c, struct client_error *err)
{
    json_t *status = client_call_json(c, "GET", "/scvs/status", NULL, NULL, err);
    if (!json_is_object(status)) {
        if (status)
            client_error_set(err, 200, "GET /scvs/status: the reply is not a JSON object");
        json_decref(status);
        return NULL;
    }
    json_decref(c->scv_hosts);
    c->scv_hosts = json_incref(status);
    return status;
}

static const char *cached_host(const struct client *c, const char *scv_name)
{
    json_t *entry = c->scv_hosts ? json_object_get(c->scv_hosts, scv_name) : NULL;
    return json_string_value(json_object_get(entry, "host"));
}

int client_scv_url(struct client *c, const char *scv_name, char *out, size_t n, struct client_error *err)
{
    const char *host = cached_host(c, scv_name);
    if (!host) {
        /* Unknown name: the SCV may have registered since the cache was filled. */
        json_decref(client_scvs_status(c, err));
        if (!c->scv_hosts)
            return -1;
        host = cached_host(c, scv_name);
    }
    if (!host) {
        client_error_set(err, 0, "unknown SCV '%s' (not listed by the command center's /scvs/status)",
                         scv_name);
        return -1;
    }
    int w = snprintf(out, n, "%s://%s", c->scv_plain_http ? "http" : "https", host);
    /* The host comes from the network: accept "host[:port]" and nothing more. */
    if (w < 0 || (size_t)w >= n || !*host || strpbrk(host, "/?#@ \t\r\n")) {
        client_error_set(err, 0, "SCV '%s' has an unusable host '%s'", scv_name, host);
        return -1;
    }
    return 0;
}
