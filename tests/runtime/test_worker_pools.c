/* The server's two worker pools, in process: bulk work (server_defer_bulk)
 * runs at most CPUs - 1 jobs at once (at least 1), and while every bulk
 * thread is busy, ordinary deferred work is still served. Bulk jobs wait on
 * a gate the test opens, so nothing here depends on timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "inproc_server.h"
#include "runtime/server.h"

#define BULK_REQUESTS 6

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int gate_open;
    int running, max_running, finished;
    struct inproc_server srv;
} F = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void bulk_work(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&F.lock);
    if (++F.running > F.max_running)
        F.max_running = F.running;
    pthread_cond_broadcast(&F.cond);
    while (!F.gate_open)
        pthread_cond_wait(&F.cond, &F.lock);
    F.running--;
    F.finished++;
    pthread_mutex_unlock(&F.lock);
}

static void plain_work(void *arg)
{
    (void)arg;
}

static void reply_done(void *arg, h2o_req_t *req)
{
    (void)arg;
    if (req != NULL)
        server_reply_ok(req);
}

static void on_bulk(struct server_request *r)
{
    server_defer_bulk(r, bulk_work, reply_done, NULL);
}

static void on_plain(struct server_request *r)
{
    server_defer(r, plain_work, reply_done, NULL);
}

static void *bulk_client(void *arg)
{
    struct harness_response *r = arg;
    char url[160];
    snprintf(url, sizeof url, "%s/bulk", F.srv.url);
    harness_http("POST", url, NULL, NULL, 0, NULL, r);
    return NULL;
}

static int bulk_limit(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int limit = cpus > 2 ? (int)cpus - 1 : 1;
    return limit < BULK_REQUESTS ? limit : BULK_REQUESTS;
}

/* Waits until want bulk jobs are running; 0, or -1 after 20 s. */
static int wait_running(int want)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    int rc = 0;
    pthread_mutex_lock(&F.lock);
    while (F.running < want && rc == 0)
        rc = pthread_cond_timedwait(&F.cond, &F.lock, &until);
    int ok = F.running >= want;
    pthread_mutex_unlock(&F.lock);
    return ok ? 0 : -1;
}

static void server_start(void)
{
    inproc_server_create(&F.srv, "pools");
    assert_int_equal(server_route(F.srv.server, "POST", "/bulk", on_bulk), 0);
    assert_int_equal(server_route(F.srv.server, "GET", "/plain", on_plain), 0);
    inproc_server_start(&F.srv);
}

static void test_bulk_limit_leaves_workers_free(void **state)
{
    (void)state;
    pthread_t clients[BULK_REQUESTS];
    struct harness_response replies[BULK_REQUESTS];
    struct harness_response plain;
    char url[160];
    server_start();
    for (int i = 0; i < BULK_REQUESTS; i++)
        assert_int_equal(pthread_create(&clients[i], NULL, bulk_client, &replies[i]), 0);
    assert_int_equal(wait_running(bulk_limit()), 0);

    /* Every bulk thread is held at the gate: ordinary work still answers. */
    snprintf(url, sizeof url, "%s/plain", F.srv.url);
    harness_http("GET", url, NULL, NULL, 0, NULL, &plain);
    assert_int_equal(plain.status, 200);
    harness_response_free(&plain);
    usleep(200 * 1000); /* time for any job past the limit to start and be counted */
    pthread_mutex_lock(&F.lock);
    assert_int_equal(F.running, bulk_limit());
    assert_int_equal(F.finished, 0);
    F.gate_open = 1;
    pthread_cond_broadcast(&F.cond);
    pthread_mutex_unlock(&F.lock);

    for (int i = 0; i < BULK_REQUESTS; i++) {
        pthread_join(clients[i], NULL);
        assert_int_equal(replies[i].status, 200);
        harness_response_free(&replies[i]);
    }
    assert_int_equal(F.finished, BULK_REQUESTS);
    assert_int_equal(F.max_running, bulk_limit());
    inproc_server_stop(&F.srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bulk_limit_leaves_workers_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
