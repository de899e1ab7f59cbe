/* cc_job: the deferred-request pattern every CC write and lookup follows. */
#include "cc/cc_job.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/crypto.h"
#include "util/log.h"

static int peer_is_loopback(h2o_req_t *req)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (req->conn->callbacks->get_peername == NULL ||
        req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0)
        return 0;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
    }
    return 0;
}

static void job_free(cc_job *job)
{
    free(job->auth);
    free(job->param);
    json_decref(job->body);
    json_decref(job->reply);
    free(job);
}

static void job_work(void *arg)
{
    cc_job *job = arg;
    job->work(job);
    if (job->status == 200 && job->refresh && cc_cache_refresh(job->svc->cache) != 0)
        log_warn("a change was saved but the cache reload failed; it will be retried");
}

static void job_done(void *arg, h2o_req_t *req)
{
    cc_job *job = arg;
    if (job->login)
        atomic_fetch_sub(&job->svc->logins, 1);
    if (req != NULL) {
        if (job->status != 200) {
            server_reply_error(req, job->status, "%s", job->error);
        } else {
            server_reply_json(req, 200, job->reply ? job->reply : json_object());
            job->reply = NULL;
        }
    }
    job_free(job);
}

static int take_login_slot(cc_service *svc)
{
    if (atomic_fetch_add(&svc->logins, 1) < CC_LOGINS_MAX)
        return 0;
    atomic_fetch_sub(&svc->logins, 1);
    return -1;
}

void cc_job_start(struct server_request *r, cc_job_fn work, int flags)
{
    cc_service *svc = r->app;
    json_t *body = server_body_object(r->req);
    if (body == NULL)
        return;
    cc_job *job = calloc(1, sizeof *job);
    const char *auth = server_header(r->req, "authorization");
    if (job == NULL)
        goto oom;
    job->svc = svc;
    job->work = work;
    job->body = body;
    job->status = 200;
    /* A proxy on the CC host connects from loopback for remote clients; a
     * forwarding header marks such a request as not local. */
    job->loopback = peer_is_loopback(r->req) && server_header(r->req, "x-forwarded-for") == NULL &&
                    server_header(r->req, "forwarded") == NULL;
    if ((auth != NULL && (job->auth = strdup(auth)) == NULL) ||
        (r->params.count > 0 && (job->param = strdup(r->params.values[0])) == NULL))
        goto oom;
    if ((flags & CC_JOB_LOGIN) != 0) {
        if (take_login_slot(svc) != 0) {
            server_reply_error(r->req, 503, "too many logins in progress; try again in a moment");
            job_free(job);
            return;
        }
        job->login = 1;
    }
    server_defer(r, job_work, job_done, job);
    return;
oom:
    if (job != NULL)
        job_free(job);
    else
        json_decref(body);
    server_reply_error(r->req, 503, "server is out of memory; try again later");
}

void cc_job_fail(cc_job *job, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(job->error, sizeof job->error, fmt, ap);
    va_end(ap);
    job->status = status;
    json_decref(job->reply);
    job->reply = NULL;
}

void cc_job_store_fail(cc_job *job, const struct status *st)
{
    cc_job_fail(job, status_http(st->code), "%s", st->msg);
}

int cc_job_user(cc_job *job, cc_user *out)
{
    if (job->auth == NULL || job->auth[0] == '\0') {
        cc_job_fail(job, 401, "missing user token in the Authorization header");
        return -1;
    }
    struct status st;
    status_code rc = cc_store_user_by_token(job->svc->store, job->auth, out, &st);
    if (rc == STATUS_OK)
        return 0;
    if (rc == STATUS_NOT_FOUND)
        cc_job_fail(job, 401, "invalid or expired user token");
    else
        cc_job_store_fail(job, &st);
    return -1;
}

int cc_job_manager(cc_job *job, cc_user *out)
{
    if (cc_job_user(job, out) != 0)
        return -1;
    if (out->role == CC_ROLE_ADMIN || out->role == CC_ROLE_MANAGER)
        return 0;
    cc_job_fail(job, 401, "this needs a manager token; '%s' is a %s", out->name, cc_role_name(out->role));
    return -1;
}

int cc_job_admin(cc_job *job, cc_user *out)
{
    if (cc_job_user(job, out) != 0)
        return -1;
    if (out->role == CC_ROLE_ADMIN)
        return 0;
    cc_job_fail(job, 401, "this needs an admin token; '%s' is a %s", out->name, cc_role_name(out->role));
    return -1;
}

/* 1 when auth is one of the space-separated words of list (each compared
 * in constant time). */
static int in_previous(const char *auth, const char *list)
{
    char word[sizeof((struct config *)0)->cc_pass_previous];
    int found = 0;
    for (const char *p = list; *p;) {
        size_t skip = strspn(p, " \t"), len = strcspn(p + skip, " \t");
        if (len == 0)
            break;
        snprintf(word, sizeof word, "%.*s", (int)len, p + skip);
        found |= crypto_equal(auth, word);
        p += skip + len;
    }
    return found;
}

int cc_job_scv_secret(cc_job *job)
{
    const char *pass = job->svc->cfg.cc_pass;
    /* An unset secret must not let anyone in. During a rotation SCVs may
     * still present a previous cc_pass (docs/deployment.md). */
    if (pass[0] != '\0' && job->auth != NULL &&
        (crypto_equal(job->auth, pass) || in_previous(job->auth, job->svc->cfg.cc_pass_previous)))
        return 0;
    cc_job_fail(job, 401, "wrong or missing server secret (cc_pass) in the Authorization header");
    return -1;
}
