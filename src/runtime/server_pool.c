/* server_pool: the worker pools, deferred work and its completion on the
 * request's loop thread (server.h). */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "runtime/server_internal.h"
#include "util/log.h"

/* Niceness of worker threads: when deferred work fills the cores, the
 * event loops still get the CPU first, so memory-only requests such as
 * heartbeats keep their latency instead of queueing behind the workers.
 * Measured for the bulk pool and not taken (docs/PERFORMANCE.md, p99):
 * SCHED_IDLE cut frame ingest by a fifth to a half whenever other processes
 * shared the machine, and a loop woken onto its CPU still waited for the
 * tick at times; pinning it to the last CPUs did not cut the loops' waits
 * and left it stuck behind whatever else ran on those CPUs. */
#define WORKER_NICE 10

static void *worker_main(void *arg)
{
    struct worker_pool *pool = arg;
    /* Linux applies a thread id's niceness to that thread alone; raising it
     * needs no privilege, and failing to only costs latency. */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), WORKER_NICE) != 0)
        log_warn("cannot lower the priority of a worker thread: %s", strerror(errno));
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        while (pool->head == NULL && !pool->stopping)
            pthread_cond_wait(&pool->cond, &pool->lock);
        struct task *t = pool->head;
        if (t == NULL) {
            pthread_mutex_unlock(&pool->lock);
            return NULL;
        }
        pool->head = t->next;
        if (pool->head == NULL)
            pool->tail = NULL;
        pthread_mutex_unlock(&pool->lock);

        t->work(t->arg);
        if (t->thread == NULL) {
            free(t);
            continue;
        }
        h2o_multithread_send_message(&t->thread->done_receiver, &t->message);
        /* The message wakes the job's loop, which the kernel often places on
         * this worker's own CPU (the waker's). A nice-10 bulk worker that went
         * straight on to its next frame (base64, MD5, XTC count in user
         * mode) kept that CPU until the next scheduler tick, up to 4 ms,
         * while the loop and every request on it, heartbeats included,
         * waited: the largest share of the heartbeat tail the SCV caused
         * itself in perf sched traces. Yielding lets the loop run first, at
         * the cost of one system call per frame or checkpoint and, on a
         * shared machine, of letting other processes on this CPU go first
         * too. The general pool does not yield: its jobs are short. */
        if (pool->yields)
            sched_yield();
    }
}

static void pool_push(struct worker_pool *pool, struct task *t)
{
    pthread_mutex_lock(&pool->lock);
    t->next = NULL;
    if (pool->tail != NULL)
        pool->tail->next = t;
    else
        pool->head = t;
    pool->tail = t;
    pthread_cond_signal(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
}

int server_pool_start(struct worker_pool *pool, int count)
{
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pool->tids = calloc((size_t)count, sizeof *pool->tids);
    if (pool->tids == NULL)
        return -1;
    for (; pool->count < count; pool->count++)
        if (pthread_create(&pool->tids[pool->count], NULL, worker_main, pool) != 0)
            return -1;
    return 0;
}

void server_pool_stop(struct worker_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->count; i++)
        pthread_join(pool->tids[i], NULL);
    free(pool->tids);
    pool->tids = NULL;
    pool->count = 0;
}

static void on_req_ref_dispose(void *p)
{
    struct server_req_ref **slot = p;
    if (*slot != NULL)
        (*slot)->req = NULL;
}

void server_req_ref_init(struct server_req_ref *ref, struct server_request *r)
{
    ref->req = r->req;
    ref->slot = h2o_mem_alloc_shared(&r->req->pool, sizeof *ref->slot, on_req_ref_dispose);
    *ref->slot = ref;
}

h2o_req_t *server_req_ref_take(struct server_req_ref *ref)
{
    h2o_req_t *req = ref->req;
    if (req != NULL)
        *ref->slot = NULL;
    ref->req = NULL;
    return req;
}

static void defer_on(struct worker_pool *pool, struct server_request *r, server_work_fn work,
                     server_done_fn done, void *arg)
{
    struct task *t = calloc(1, sizeof *t);
    if (t == NULL) {
        server_reply_error(r->req, 503, "server is out of memory; try again later");
        done(arg, NULL);
        return;
    }
    t->work = work;
    t->done = done;
    t->arg = arg;
    t->thread = server_loop_of(r->req);
    server_req_ref_init(&t->ref, r);
    t->thread->pending++;
    pool_push(pool, t);
}

void server_defer(struct server_request *r, server_work_fn work, server_done_fn done, void *arg)
{
    defer_on(&r->server->pool, r, work, done, arg);
}

void server_defer_bulk(struct server_request *r, server_work_fn work, server_done_fn done, void *arg)
{
    defer_on(&r->server->bulk_pool, r, work, done, arg);
}

void server_run_background(struct server *s, server_work_fn work, void *arg)
{
    struct task *t = calloc(1, sizeof *t);
    if (t == NULL) {
        log_error("out of memory: background work dropped");
        return;
    }
    t->work = work;
    t->arg = arg;
    pool_push(&s->pool, t);
}

void server_pool_on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct loop_thread *th = H2O_STRUCT_FROM_MEMBER(struct loop_thread, done_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        struct task *t = H2O_STRUCT_FROM_MEMBER(struct task, message.link, messages->next);
        h2o_linklist_unlink(&t->message.link);
        th->pending--;
        t->done(t->arg, server_req_ref_take(&t->ref));
        free(t);
    }
}
