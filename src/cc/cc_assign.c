/* cc_assign: POST /core/assign (PROTOCOL.md, "Assignment").
 *
 * On the event loop, from the cached view only: engine key -> engine (401),
 * body fields, then the target: the named one (any stage) when target_id is
 * given, else the two-level weighted draw, and its online shards in random
 * order. The target's shards are then asked, one after the other, to
 * activate a stream; the first token wins (none: 400 "no streams
 * available"). The activation goes out from the loop itself through the
 * server's HTTP client (kept-alive, pooled connections per SCV; an SCV that
 * cannot be reached or does not answer in time is passed over, and a pooled
 * connection found broken before any reply gets the request once more).
 *
 * A worker is used only for what blocks: a donor token is checked against
 * the store there (400; the store's status when it fails: 503 when the
 * database is unreachable, 500 otherwise) before the loop sends the
 * activation; and when the scheme (https or http) of a shard's SCV is not
 * known yet (an SCV the liveness checks have not reached since the CC
 * started), the whole activation runs on the worker through cc_peer, which
 * probes both schemes. The view is held until the reply. */
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

#include "cc/cc_fields.h"
#include "cc/cc_metrics.h"
#include "cc/cc_peer.h"
#include "cc/cc_service.h"
#include "util/clock.h"
#include "util/log.h"

#define ACTIVATE_REPLY_MAX (64 * 1024)

struct shard {
    const cc_scv *scv;
    cc_health_rec *health;
};

struct assign {
    cc_service *svc;
    cc_view *view;
    const cc_target *target; /* inside view */
    const char *engine;      /* inside view */
    char *donor_token;
    struct server_req_ref ref;
    struct http_client_loop *http; /* NULL: the activation runs on a worker */
    struct shard *shards;          /* online ones, in the order they are asked */
    size_t n, next;
    int resent;      /* shards[next] got its one repeat on a fresh connection */
    int settled;     /* status is final (the worker decided) */
    int unreachable; /* a shard's SCV is offline or could not be reached */
    cc_assign_outcome outcome;
    double start; /* clock_mono_s */
    char *body;   /* the activation request */
    char origin[CC_PEER_ORIGIN_MAX];
    struct status status; /* the reply unless a token was won */
    char token[AUTH_SECRET_MAX + 1];
    char url[CC_PEER_ORIGIN_MAX + 16];
};

/* The draw's generator is per thread, not per request or service: draws
 * need only be independent, and a thread-local one needs no lock and no
 * context to carry. */
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
    free(a->shards);
    free(a->body);
    free(a);
}

static void set_error(struct assign *a, status_code code, cc_assign_outcome outcome, const char *msg)
{
    a->outcome = outcome;
    status_fail(&a->status, code, "%s", msg);
}

/* Counts the answer (also one that was never sent: the core left). */
static void count_outcome(struct assign *a)
{
    cc_assign_outcome o = a->outcome;
    if (o == CC_ASSIGN_NO_STREAMS && a->unreachable)
        o = CC_ASSIGN_SCV_UNREACHABLE;
    cc_metrics_assign(a->svc->metrics, o, metrics_ns(clock_mono_s() - a->start));
}

/* Replies when the core is still there, then frees everything. */
static void assign_finish(struct assign *a)
{
    count_outcome(a);
    h2o_req_t *req = server_req_ref_take(&a->ref);
    if (req != NULL && a->status.code == STATUS_OK)
        server_reply_json(req, 200, json_pack("{s:s, s:s}", "token", a->token, "url", a->url));
    else if (req != NULL)
        server_reply_status(req, &a->status);
    assign_free(a);
}

/* The donor's name into user (empty without a token); -1 on a bad token. */
static int donor_name(struct assign *a, char user[CC_NAME_MAX + 1])
{
    cc_user u;
    struct status st;
    user[0] = '\0';
    if (a->donor_token == NULL)
        return 0;
    status_code rc = cc_store_user_by_token(a->svc->store, a->donor_token, &u, &st);
    if (rc == STATUS_OK) {
        snprintf(user, CC_NAME_MAX + 1, "%s", u.name);
        return 0;
    }
    if (rc == STATUS_NOT_FOUND)
        set_error(a, STATUS_INVALID, CC_ASSIGN_BAD_REQUEST, "invalid donor token");
    else
        set_error(a, rc, CC_ASSIGN_UNAVAILABLE, st.msg);
    return -1;
}

/* The activation request's body; -1 (503 set) when out of memory. */
static int make_body(struct assign *a, const char *user)
{
    json_t *body = json_pack("{s:s, s:s}", "target_id", a->target->id, "engine", a->engine);
    if (body != NULL && user[0] != '\0')
        json_object_set_new(body, "user", json_string(user));
    a->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (a->body == NULL) {
        set_error(a, STATUS_UNAVAILABLE, CC_ASSIGN_UNAVAILABLE, "server is out of memory; try again later");
        return -1;
    }
    return 0;
}

/* 0 when scv's answer carries a stream's token (kept in a with origin). */
static int take_token(struct assign *a, const cc_scv *scv, long status, const json_t *reply,
                      const char *origin)
{
    const char *token = json_string_value(json_object_get(reply, "token"));
    if (status == 200 && token != NULL && strlen(token) <= AUTH_SECRET_MAX) {
        snprintf(a->token, sizeof a->token, "%s", token);
        snprintf(a->url, sizeof a->url, "%s/core/start", origin);
        status_clear(&a->status);
        a->outcome = CC_ASSIGN_OK;
        cc_history_assigned(a->svc->history, a->target->id, clock_wall_s());
        return 0;
    }
    if (status != 400)
        log_warn("assign: SCV '%s' answered %ld to activate", scv->name, status);
    return -1;
}

/* Worker path: 0 when this SCV handed out a stream. */
static int try_shard(struct assign *a, const cc_scv *scv, cc_health_rec *rec, const json_t *body)
{
    char origin[CC_PEER_ORIGIN_MAX];
    struct client_reply reply;
    struct client_error err;
    struct cc_peer_call call = {.host = scv->host,
                                .pool = a->svc->peers,
                                .method = "POST",
                                .path = "/streams/activate",
                                .auth = scv->password,
                                .body = body};
    if (cc_peer_request(rec, &call, &reply, origin, &err) != 0) {
        a->unreachable = 1;
        log_warn("assign: SCV '%s' unreachable: %s", scv->name, err.message);
        return -1;
    }
    int rc = take_token(a, scv, reply.status, reply.json, origin);
    client_reply_free(&reply);
    return rc;
}

/* The target's online shards in random order (Fisher-Yates); -1 (503 set)
 * when out of memory. */
static int online_shards(struct assign *a)
{
    const cc_target *t = a->target;
    a->shards = calloc(t->n_shards ? t->n_shards : 1, sizeof *a->shards);
    if (a->shards == NULL) {
        set_error(a, STATUS_UNAVAILABLE, CC_ASSIGN_UNAVAILABLE, "server is out of memory; try again later");
        return -1;
    }
    for (size_t i = 0; i < t->n_shards; i++) {
        struct shard s;
        s.scv = cc_view_scv(a->view, t->shards[i], &s.health);
        if (s.scv != NULL && cc_health_online(s.health))
            a->shards[a->n++] = s;
        else
            a->unreachable = 1;
    }
    draw_rng *rng = thread_rng();
    for (size_t i = a->n; i > 1; i--) {
        size_t j = (size_t)(draw_rng_next(rng) % i);
        struct shard tmp = a->shards[i - 1];
        a->shards[i - 1] = a->shards[j];
        a->shards[j] = tmp;
    }
    return 0;
}

/* 1 when every shard's SCV is called in a known scheme. */
static int schemes_known(const struct assign *a)
{
    for (size_t i = 0; i < a->n; i++)
        if (cc_peer_scheme(a->shards[i].health, a->shards[i].scv->host) == CC_SCHEME_UNKNOWN)
            return 0;
    return 1;
}

/* On a worker: the donor token, then (when the loop cannot) the activation. */
static void assign_work(void *arg)
{
    struct assign *a = arg;
    char user[CC_NAME_MAX + 1];
    json_t *body = NULL;
    if (donor_name(a, user) != 0 || make_body(a, user) != 0) {
        a->settled = 1;
        return;
    }
    if (a->http != NULL)
        return;
    a->settled = 1;
    body = json_loads(a->body, 0, NULL);
    if (body == NULL) {
        set_error(a, STATUS_UNAVAILABLE, CC_ASSIGN_UNAVAILABLE, "server is out of memory; try again later");
        return;
    }
    for (size_t i = 0; i < a->n && try_shard(a, a->shards[i].scv, a->shards[i].health, body) != 0; i++)
        ;
    json_decref(body);
}

static void activate_next(struct assign *a);

static void on_activated(void *arg, const struct http_client_reply *r)
{
    struct assign *a = arg;
    const cc_scv *scv = a->shards[a->next].scv;
    if (r->status == 0 && r->resend_ok && !a->resent) {
        a->resent = 1;
        activate_next(a);
        return;
    }
    if (r->status == 0) {
        a->unreachable = 1;
        log_warn("assign: SCV '%s' unreachable: %s", scv->name, r->error);
    } else {
        json_t *reply = json_loadb(r->body, r->len, 0, NULL);
        int rc = take_token(a, scv, r->status, reply, a->origin);
        json_decref(reply);
        if (rc == 0) {
            assign_finish(a);
            return;
        }
    }
    a->next++;
    a->resent = 0;
    activate_next(a);
}

/* Asks shards[next], or replies when none is left (or the core is gone).
 * on_activated may run before http_client_send returns. */
static void activate_next(struct assign *a)
{
    for (; a->next < a->n && a->ref.req != NULL; a->next++, a->resent = 0) {
        const struct shard *s = &a->shards[a->next];
        struct http_client_request rq = {.origin = a->origin,
                                         .verify = client_tls_verify(s->scv->host),
                                         .method = "POST",
                                         .path = "/streams/activate",
                                         .authorization = s->scv->password,
                                         .body = a->body,
                                         .body_len = strlen(a->body),
                                         .max_reply = ACTIVATE_REPLY_MAX};
        if (cc_peer_origin(s->health, s->scv->host, a->origin) == 0 &&
            http_client_send(a->http, &rq, on_activated, a) == 0)
            return;
        log_warn("assign: cannot send an activation to SCV '%s' (bad address or out of memory)",
                 s->scv->name);
    }
    assign_finish(a);
}

static void assign_resume(void *arg, h2o_req_t *req)
{
    struct assign *a = arg;
    if (req == NULL || a->settled)
        assign_finish(a);
    else
        activate_next(a);
}

/* Picks the target on the loop; replies and returns -1 on a refusal. */
static int choose_target(struct server_request *r, struct assign *a, const char *target_id)
{
    if (target_id == NULL) {
        a->target = cc_view_draw(a->view, a->engine, thread_rng());
        if (a->target == NULL) {
            a->outcome = CC_ASSIGN_NO_STREAMS;
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
        a->outcome = CC_ASSIGN_ENGINE_NOT_ALLOWED;
        server_reply_error(r->req, 400, "engine '%s' is not allowed for target '%s'", a->engine, target_id);
        return -1;
    }
    if (a->target->n_shards == 0) {
        a->outcome = CC_ASSIGN_NO_STREAMS;
        server_reply_error(r->req, 400, "target '%s' has no shards (no streams on any SCV)", target_id);
        return -1;
    }
    return 0;
}

static void handle_assign(struct server_request *r)
{
    cc_service *svc = r->app;
    const char *donor = NULL, *target_id = NULL;
    struct status field;
    json_t *body = NULL;
    struct assign *a = calloc(1, sizeof *a);
    if (a == NULL) {
        server_reply_error(r->req, 503, "server is out of memory; try again later");
        return;
    }
    a->svc = svc;
    a->start = clock_mono_s();
    a->outcome = CC_ASSIGN_BAD_REQUEST; /* what the refusals below are, unless they say otherwise */
    a->view = cc_cache_get(svc->cache);
    a->engine = cc_view_key_engine(a->view, server_header(r->req, "authorization"));
    if (a->engine == NULL) {
        a->outcome = CC_ASSIGN_BAD_KEY;
        server_reply_error(r->req, 401, "missing or unknown engine key in the Authorization header");
        goto fail;
    }
    if ((body = server_body_object(r->req)) == NULL)
        goto fail;
    if (cc_field_string(body, "donor_token", CC_FIELD_OPTIONAL, AUTH_SECRET_MAX, &donor, &field) !=
            STATUS_OK ||
        cc_field_string(body, "target_id", CC_FIELD_OPTIONAL, ROUTER_PARAM_BYTES, &target_id, &field) !=
            STATUS_OK) {
        server_reply_error(r->req, status_http(field.code), "%s", field.msg);
        goto fail;
    }
    if (choose_target(r, a, target_id) != 0)
        goto fail;
    if ((donor != NULL && (a->donor_token = strdup(donor)) == NULL) || online_shards(a) != 0) {
        a->outcome = CC_ASSIGN_UNAVAILABLE;
        server_reply_error(r->req, 503, "server is out of memory; try again later");
        goto fail;
    }
    json_decref(body);
    set_error(a, STATUS_INVALID, CC_ASSIGN_NO_STREAMS, "no streams available");
    a->http = schemes_known(a) ? server_http_client(r) : NULL;
    server_req_ref_init(&a->ref, r);
    if (a->donor_token != NULL || a->http == NULL)
        server_defer(r, assign_work, assign_resume, a);
    else if (make_body(a, "") == 0)
        activate_next(a);
    else
        assign_finish(a);
    return;
fail:
    count_outcome(a);
    json_decref(body);
    assign_free(a);
}

int cc_assign_routes(struct server *s)
{
    return server_route(s, "POST", "/core/assign", handle_assign);
}
