/* server_job: the copy of a request, its work on a worker and the reply
 * (server_job.h). */
#include "runtime/server_job.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/server_internal.h"
#include "util/crypto.h"

#define OOM_MSG "server is out of memory; try again later"

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

/* A proxy on the host connects from loopback for remote clients; a
 * forwarding header marks such a request as not local. */
static int peer_is_local(h2o_req_t *req)
{
    return peer_is_loopback(req) && server_header(req, "x-forwarded-for") == NULL &&
           server_header(req, "forwarded") == NULL;
}

static void release_slot(struct server_job *job)
{
    if (job->limit != NULL)
        atomic_fetch_sub(&job->limit->used, 1);
    job->limit = NULL;
}

static void job_free(struct server_job *job)
{
    release_slot(job);
    for (int i = 0; i < ROUTER_MAX_PARAMS; i++)
        free(job->param[i]);
    free(job->query);
    free(job->auth);
    free(job->content_md5);
    free(job->data);
    free(job->body);
    json_decref(job->json);
    json_decref(job->reply);
    if (job->fd >= 0)
        close(job->fd);
    free(job);
}

static void job_work(void *arg)
{
    struct server_job *job = arg;
    job->work(job);
}

static void reply_json_with_md5(h2o_req_t *req, json_t *body)
{
    char md5[CRYPTO_MD5_HEX_LEN + 1];
    /* server_reply_json encodes with the same flags, so the digest matches. */
    char *text = json_dumps(body, JSON_COMPACT);
    if (text != NULL) {
        crypto_md5_hex(text, strlen(text), md5);
        server_add_header(req, "Content-MD5", md5);
        free(text);
    }
    server_reply_json(req, 200, body);
}

static void job_done(void *arg, h2o_req_t *req)
{
    struct server_job *job = arg;
    /* Before the reply: a client that goes on at once finds the slot free. */
    release_slot(job);
    if (req == NULL)
        goto out;
    if (job->status.code != STATUS_OK) {
        server_reply_status(req, &job->status);
    } else if (job->fd >= 0) {
        server_reply_file(req, job->fd, (size_t)job->fd_size, job->filename);
        job->fd = -1;
    } else if (job->data != NULL) {
        server_reply_attachment(req, job->content_type, job->data, job->data_len, job->filename);
    } else {
        json_t *reply = job->reply != NULL ? job->reply : json_object();
        job->reply = NULL;
        if (job->md5_header)
            reply_json_with_md5(req, reply);
        else
            server_reply_json(req, 200, reply);
    }
out:
    job_free(job);
}

/* The request's inputs into job; 0, or -1 when out of memory. */
static int copy_request(struct server_job *job, struct server_request *r, unsigned flags)
{
    h2o_req_t *req = r->req;
    for (int i = 0; i < r->params.count && i < ROUTER_MAX_PARAMS; i++)
        if ((job->param[i] = strdup(r->params.values[i])) == NULL)
            return -1;
    if (req->query_at != SIZE_MAX &&
        (job->query = strndup(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1)) == NULL)
        return -1;
    const char *auth = server_header(req, "authorization");
    const char *md5 = server_header(req, "content-md5");
    if ((auth != NULL && (job->auth = strdup(auth)) == NULL) ||
        (md5 != NULL && (job->content_md5 = strdup(md5)) == NULL))
        return -1;
    job->local = peer_is_local(req);
    if ((flags & SERVER_JOB_JSON) != 0)
        return 0;
    job->body_len = req->entity.base != NULL ? req->entity.len : 0;
    job->body = malloc(job->body_len + 1);
    if (job->body == NULL)
        return -1;
    if (job->body_len > 0)
        memcpy(job->body, req->entity.base, job->body_len);
    job->body[job->body_len] = '\0';
    return 0;
}

static int take_slot(struct server_job_limit *limit)
{
    if (atomic_fetch_add(&limit->used, 1) < limit->max)
        return 0;
    atomic_fetch_sub(&limit->used, 1);
    return -1;
}

void server_job_start(struct server_request *r, const struct route_target *t)
{
    json_t *json = NULL;
    if ((t->flags & SERVER_JOB_JSON) != 0 && (json = server_body_object(r->req)) == NULL)
        return;
    struct server_job *job = calloc(1, sizeof *job);
    if (job == NULL) {
        json_decref(json);
        server_reply_error(r->req, 503, OOM_MSG);
        return;
    }
    job->app = r->app;
    job->work = t->work;
    job->json = json;
    job->fd = -1;
    if (copy_request(job, r, t->flags) != 0) {
        job_free(job);
        server_reply_error(r->req, 503, OOM_MSG);
        return;
    }
    if (t->limit != NULL) {
        if (take_slot(t->limit) != 0) {
            job_free(job);
            server_reply_error(r->req, 503, "%s", t->limit->busy);
            return;
        }
        job->limit = t->limit;
    }
    if ((t->flags & SERVER_JOB_BULK) != 0)
        server_defer_bulk(r, job_work, job_done, job);
    else
        server_defer(r, job_work, job_done, job);
}

int server_route_job_limited(struct server *s, const char *method, const char *pattern, server_job_fn work,
                             unsigned flags, struct server_job_limit *limit)
{
    struct route_target t = {.work = work, .flags = flags, .limit = limit};
    return server_route_add(s, method, pattern, (flags & SERVER_JOB_SECRET) != 0, t);
}

int server_route_job(struct server *s, const char *method, const char *pattern, server_job_fn work,
                     unsigned flags)
{
    return server_route_job_limited(s, method, pattern, work, flags, NULL);
}
