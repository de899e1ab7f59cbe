/* cc_assign: POST /core/assign (PROTOCOL.md, "Assignment").
 *
 * On the event loop, from the cached view only: engine key -> engine (401),
 * body fields, then the target: the named one (any stage) when target_id is
 * given, else the two-level weighted draw. A worker then checks the donor
 * token (400; a store lookup, kept off the loop) and asks the target's
 * online shards, in random order, to activate a stream; the first token
 * wins. The view is held until the worker is done and released there. */
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

#include "cc/cc_fields.h"
#include "cc/cc_peer.h"
#include "cc/cc_service.h"
#include "util/log.h"

struct assign {
    cc_service *svc;
    cc_view *view;
    const cc_target *target; /* inside view */
    const char *engine;      /* inside view */
    char *donor_token;
    int status;
    char error[512];
    char token[AUTH_SECRET_MAX + 1];
    char url[CC_PEER_ORIGIN_MAX + 16];
};

struct shard {
    const cc_scv *scv;
    cc_health_rec *health;
};

static draw_rng *thread_rng(void)
{
    static __thread draw_rng rng;
    static __thread int seeded;
    if (!seeded) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
            seed = (uint64_t)(uintptr_t)&rng ^ (uint64_t)time(NULL);
        draw_rng_seed(&rng, seed);
        seeded = 1;
    }
    return &rng;
}

static void assign_free(struct assign *a)
{
    cc_view_unref(a->view);
    free(a->donor_token);
    free(a);
}

/* The donor's name into user (empty without a token); -1 on a bad token. */
static int donor_name(struct assign *a, char user[CC_NAME_MAX + 1])
{
    cc_user u;
    user[0] = '\0';
    if (a->donor_token == NULL)
        return 0;
    cc_store_status st = cc_store_user_by_token(a->svc->store, a->donor_token, &u);
    if (st == CC_STORE_OK) {
        snprintf(user, CC_NAME_MAX + 1, "%s", u.name);
        return 0;
    }
    a->status = st == CC_STORE_IO ? 503 : 400;
    snprintf(a->error, sizeof a->error, "%s",
             st == CC_STORE_IO ? "database unavailable; try again later" : "invalid donor token");
    return -1;
}

/* 0 when this SCV handed out a stream. */
static int try_shard(struct assign *a, const cc_scv *scv, cc_health_rec *rec, const json_t *body)
{
    char origin[CC_PEER_ORIGIN_MAX];
    struct client_reply reply;
    struct client_error err;
    struct cc_peer_call call = {.host = scv->host,
                                .ca_bundle = a->svc->cfg.ca_bundle,
                                .method = "POST",
                                .path = "/streams/activate",
                                .auth = scv->password,
                                .body = body};
    if (cc_peer_request(rec, &call, &reply, origin, &err) != 0) {
        log_warn("assign: SCV '%s' unreachable: %s", scv->name, err.message);
        return -1;
    }
    const char *token = json_string_value(json_object_get(reply.json, "token"));
    int rc = -1;
    if (reply.status == 200 && token != NULL && strlen(token) <= AUTH_SECRET_MAX) {
        snprintf(a->token, sizeof a->token, "%s", token);
        snprintf(a->url, sizeof a->url, "%s/core/start", origin);
        rc = 0;
    } else if (reply.status != 400) {
        log_warn("assign: SCV '%s' answered %ld to activate: %s", scv->name, reply.status, err.message);
    }
    client_reply_free(&reply);
    return rc;
}

/* The target's online shards in random order (Fisher-Yates); *n of them. */
static struct shard *online_shards(struct assign *a, size_t *n)
{
    const cc_target *t = a->target;
    struct shard *v = calloc(t->n_shards ? t->n_shards : 1, sizeof *v);
    *n = 0;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < t->n_shards; i++) {
        struct shard s;
        s.scv = cc_view_scv(a->view, t->shards[i], &s.health);
        if (s.scv != NULL && cc_health_online(s.health))
            v[(*n)++] = s;
    }
    draw_rng *rng = thread_rng();
    for (size_t i = *n; i > 1; i--) {
        size_t j = (size_t)(draw_rng_next(rng) % i);
        struct shard tmp = v[i - 1];
        v[i - 1] = v[j];
        v[j] = tmp;
    }
    return v;
}

static void assign_work(void *arg)
{
    struct assign *a = arg;
    char user[CC_NAME_MAX + 1];
    size_t n = 0;
    struct shard *shards = NULL;
    json_t *body = NULL;
    a->status = 400;
    snprintf(a->error, sizeof a->error, "no streams available");
    if (donor_name(a, user) != 0)
        goto out;
    shards = online_shards(a, &n);
    body = json_pack("{s:s, s:s}", "target_id", a->target->id, "engine", a->engine);
    if (shards == NULL || body == NULL) {
        a->status = 503;
        snprintf(a->error, sizeof a->error, "server is out of memory; try again later");
        goto out;
    }
    if (user[0] != '\0')
        json_object_set_new(body, "user", json_string(user));
    for (size_t i = 0; i < n; i++) {
        if (try_shard(a, shards[i].scv, shards[i].health, body) == 0) {
            a->status = 200;
            break;
        }
    }
out:
    json_decref(body);
    free(shards);
    cc_view_unref(a->view);
    a->view = NULL;
}

static void assign_done(void *arg, h2o_req_t *req)
{
    struct assign *a = arg;
    if (req != NULL) {
        if (a->status == 200)
            server_reply_json(req, 200, json_pack("{s:s, s:s}", "token", a->token, "url", a->url));
        else
            server_reply_error(req, a->status, "%s", a->error);
    }
    assign_free(a);
}

/* Picks the target on the loop; replies and returns -1 on a refusal. */
static int choose_target(struct server_request *r, struct assign *a, const char *target_id)
{
    if (target_id == NULL) {
        a->target = cc_view_draw(a->view, a->engine, thread_rng());
        if (a->target == NULL) {
            server_reply_error(r->req, 400, "no public target with shards accepts engine '%s'", a->engine);
            return -1;
        }
        return 0;
    }
    a->target = cc_view_target(a->view, target_id);
    if (a->target == NULL) {
        server_reply_error(r->req, 400, "unknown target '%s'", target_id);
        return -1;
    }
    if (!cc_target_has_engine(a->target, a->engine)) {
        server_reply_error(r->req, 400, "engine '%s' is not allowed for target '%s'", a->engine, target_id);
        return -1;
    }
    if (a->target->n_shards == 0) {
        server_reply_error(r->req, 400, "target '%s' has no shards (no streams on any SCV)", target_id);
        return -1;
    }
    return 0;
}

static void handle_assign(struct server_request *r)
{
    cc_service *svc = r->app;
    const char *donor = NULL, *target_id = NULL;
    char err[CC_FIELDS_ERR_MAX];
    json_t *body = NULL;
    struct assign *a = calloc(1, sizeof *a);
    if (a == NULL) {
        server_reply_error(r->req, 503, "server is out of memory; try again later");
        return;
    }
    a->svc = svc;
    a->view = cc_cache_get(svc->cache);
    a->engine = cc_view_key_engine(a->view, server_header(r->req, "authorization"));
    if (a->engine == NULL) {
        server_reply_error(r->req, 401, "missing or unknown engine key in the Authorization header");
        goto fail;
    }
    if ((body = server_body_object(r->req)) == NULL)
        goto fail;
    if (cc_field_string(body, "donor_token", CC_FIELD_OPTIONAL, AUTH_SECRET_MAX, &donor, err, sizeof err) !=
            0 ||
        cc_field_string(body, "target_id", CC_FIELD_OPTIONAL, ROUTER_PARAM_BYTES, &target_id, err,
                        sizeof err) != 0) {
        server_reply_error(r->req, 400, "%s", err);
        goto fail;
    }
    if (choose_target(r, a, target_id) != 0)
        goto fail;
    if (donor != NULL && (a->donor_token = strdup(donor)) == NULL) {
        server_reply_error(r->req, 503, "server is out of memory; try again later");
        goto fail;
    }
    json_decref(body);
    server_defer(r, assign_work, assign_done, a);
    return;
fail:
    json_decref(body);
    assign_free(a);
}

int cc_assign_routes(struct server *s)
{
    return server_route(s, "POST", "/core/assign", handle_assign);
}
