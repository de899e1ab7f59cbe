#include "scv/scv_cc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "util/clock.h"
#include "util/crypto.h"

#define CACHE_MAX_ENTRIES 10000
#define CC_CONNECT_TIMEOUT_S 5
#define CC_TIMEOUT_S 20

struct scv_cc {
    struct config cfg;
    char secret[128];
    struct client_pool *clients; /* one handle per calling thread */
    pthread_mutex_t cache_lock;
    json_t *verified; /* sha256(token) -> {"user","admin","until"} */
    json_t *targets;  /* target id -> {"info","until"} */
};

scv_cc *scv_cc_new(const struct config *cfg, const char *secret)
{
    scv_cc *cc = calloc(1, sizeof *cc);
    if (cc == NULL)
        return NULL;
    cc->cfg = *cfg;
    snprintf(cc->secret, sizeof cc->secret, "%s", secret);
    pthread_mutex_init(&cc->cache_lock, NULL);
    cc->verified = json_object();
    cc->targets = json_object();
    struct client_options opts = {
        .ca_bundle = cfg->ca_bundle[0] ? cfg->ca_bundle : NULL,
        .connect_timeout_s = CC_CONNECT_TIMEOUT_S,
        .timeout_s = CC_TIMEOUT_S,
    };
    struct client_error cerr;
    cc->clients = client_pool_new(cfg->command_center, &opts, &cerr);
    if (cc->clients == NULL || cc->verified == NULL || cc->targets == NULL) {
        client_pool_free(cc->clients);
        json_decref(cc->verified);
        json_decref(cc->targets);
        free(cc);
        return NULL;
    }
    return cc;
}

void scv_cc_free(scv_cc *cc)
{
    if (cc == NULL)
        return;
    /* Worker and ticker threads freed their handles on exit. */
    client_pool_free(cc->clients);
    json_decref(cc->verified);
    json_decref(cc->targets);
    pthread_mutex_destroy(&cc->cache_lock);
    free(cc);
}

static struct client *thread_client(scv_cc *cc, struct status *st)
{
    struct client_error cerr;
    if (cc->cfg.command_center[0] == '\0') {
        status_fail(st, STATUS_UNAVAILABLE, "command_center is not set in scv.conf");
        return NULL;
    }
    struct client *c = client_pool_get(cc->clients, &cerr);
    if (c == NULL)
        status_fail(st, STATUS_UNAVAILABLE, "cannot use command_center '%s': %s", cc->cfg.command_center,
                    cerr.message);
    return c;
}

/* One call; on OK *reply_json is the parsed 200 body (new reference, {} when
 * empty) if reply_json is not NULL. */
static status_code call(scv_cc *cc, const char *method, const char *path, const char *auth,
                        const json_t *body, json_t **reply_json, struct status *st)
{
    static const char *const json_headers[] = {"Content-Type: application/json", NULL};
    struct client_reply reply;
    struct client_error cerr;
    status_code rc = STATUS_UNAVAILABLE;
    char *text = NULL;
    struct client *c = thread_client(cc, st);
    if (c == NULL)
        return STATUS_UNAVAILABLE;
    if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL) {
        return status_fail(st, STATUS_UNAVAILABLE, "out of memory encoding a request to the command center");
    }
    if (client_request(c, method, path, auth, text, text ? strlen(text) : 0, text ? json_headers : NULL,
                       &reply, &cerr) != 0) {
        status_fail(st, STATUS_UNAVAILABLE, "command center %s is unreachable: %s", cc->cfg.command_center,
                    cerr.message);
        goto out;
    }
    if (reply.status == 200) {
        rc = STATUS_OK;
        if (reply_json != NULL)
            *reply_json = reply.json != NULL ? json_incref(reply.json) : json_object();
    } else if (reply.status == 400 || reply.status == 401) {
        rc = status_fail(st, STATUS_CONFLICT, "%s", cerr.message);
    } else {
        status_fail(st, STATUS_UNAVAILABLE, "command center answered %s %s with %ld: %s", method, path,
                    reply.status, cerr.message);
    }
    client_reply_free(&reply);
out:
    free(text);
    return rc;
}

/* A cached value still fresh at now (new reference), or NULL. */
static json_t *cache_get(scv_cc *cc, json_t *cache, const char *key, double now)
{
    pthread_mutex_lock(&cc->cache_lock);
    json_t *entry = json_object_get(cache, key);
    json_t *v = NULL;
    if (entry != NULL && json_real_value(json_object_get(entry, "until")) > now)
        v = json_incref(json_object_get(entry, "value"));
    pthread_mutex_unlock(&cc->cache_lock);
    return v;
}

static void cache_put(scv_cc *cc, json_t *cache, const char *key, json_t *value, double now)
{
    pthread_mutex_lock(&cc->cache_lock);
    /* Bounded: dropping everything at the cap costs a few refetches only. */
    if (json_object_size(cache) >= CACHE_MAX_ENTRIES)
        json_object_clear(cache);
    json_object_set_new(cache, key,
                        json_pack("{s:O,s:f}", "value", value, "until", now + SCV_CC_CACHE_SECONDS));
    pthread_mutex_unlock(&cc->cache_lock);
}

status_code scv_cc_verify(scv_cc *cc, const char *user_token, char *user, size_t user_len, int *admin,
                          struct status *st)
{
    char key[CRYPTO_SHA256_HEX_LEN + 1];
    double now = clock_wall_s();
    json_t *who = NULL;
    status_code rc = STATUS_OK;
    crypto_sha256_hex(user_token, strlen(user_token), key);
    who = cache_get(cc, cc->verified, key, now);
    if (who == NULL) {
        rc = call(cc, "GET", "/users/verify", user_token, NULL, &who, st);
        if (rc != STATUS_OK)
            return rc;
        if (!json_is_string(json_object_get(who, "user"))) {
            json_decref(who);
            return status_fail(
                st, STATUS_UNAVAILABLE,
                "the command center's /users/verify reply lacks \"user\"; is it a Siegetank CC?");
        }
        cache_put(cc, cc->verified, key, who, now);
    }
    snprintf(user, user_len, "%s", json_string_value(json_object_get(who, "user")));
    const char *role = json_string_value(json_object_get(who, "role"));
    *admin = role != NULL && strcmp(role, "admin") == 0;
    json_decref(who);
    return STATUS_OK;
}

status_code scv_cc_target_info(scv_cc *cc, const char *target_id, json_t **info, struct status *st)
{
    double now = clock_wall_s();
    *info = cache_get(cc, cc->targets, target_id, now);
    if (*info != NULL)
        return STATUS_OK;
    char *escaped = client_path_escape(target_id, 0);
    char path[1024];
    if (escaped == NULL || snprintf(path, sizeof path, "/targets/info/%s", escaped) >= (int)sizeof path) {
        free(escaped);
        return status_fail(st, STATUS_INVALID, "target id is too long");
    }
    free(escaped);
    status_code rc = call(cc, "GET", path, NULL, NULL, info, st);
    if (rc != STATUS_OK)
        return rc;
    if (!json_is_object(*info) || !json_is_string(json_object_get(*info, "owner"))) {
        json_decref(*info);
        *info = NULL;
        return status_fail(st, STATUS_UNAVAILABLE, "the command center's target info lacks \"owner\"");
    }
    cache_put(cc, cc->targets, target_id, *info, now);
    return STATUS_OK;
}

status_code scv_cc_register(scv_cc *cc, struct status *st)
{
    json_t *body = json_pack("{s:s,s:s,s:s}", "name", cc->cfg.name, "host", cc->cfg.external_host, "password",
                             cc->secret);
    status_code rc = call(cc, "PUT", "/scvs/register", cc->cfg.cc_pass, body, NULL, st);
    json_decref(body);
    return rc;
}

status_code scv_cc_shard(scv_cc *cc, const char *target_id, const char *op, struct status *st)
{
    char path[1024];
    char *escaped = client_path_escape(target_id, 0);
    if (escaped == NULL || snprintf(path, sizeof path, "/targets/shards/%s", escaped) >= (int)sizeof path) {
        free(escaped);
        return status_fail(st, STATUS_INVALID, "target id is too long");
    }
    free(escaped);
    json_t *body = json_pack("{s:s,s:s}", "scv", cc->cfg.name, "op", op);
    status_code rc = call(cc, "PUT", path, cc->cfg.cc_pass, body, NULL, st);
    json_decref(body);
    return rc;
}

status_code scv_cc_post_stats(scv_cc *cc, json_t *fragments, struct status *st)
{
    json_t *body = json_pack("{s:O}", "fragments", fragments);
    status_code rc = call(cc, "POST", "/stats", cc->cfg.cc_pass, body, NULL, st);
    json_decref(body);
    return rc;
}
