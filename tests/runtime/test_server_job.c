/* server_job in process, over loopback: what a job copies out of the
 * request, how its outcome is answered (a failed status, the JSON reply with
 * its Content-MD5, bytes as an attachment), the JSON-body flag, and the slot
 * limit. The limited job
 * waits on a gate the test opens, so nothing here depends on timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "inproc_server.h"
#include "runtime/server_job.h"
#include "util/crypto.h"

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int gate_open, holding;
    struct server_job_limit limit;
    struct inproc_server srv;
} F = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .cond = PTHREAD_COND_INITIALIZER,
       .limit = {.max = 1, .busy = "one at a time"}};

static void work_echo(struct server_job *job)
{
    job->reply = json_pack("{s:[s,s], s:s?, s:s?, s:s?, s:s, s:b}", "params", job->param[0], job->param[1],
                           "query", job->query, "auth", job->auth, "md5", job->content_md5, "body", job->body,
                           "local", job->local);
}

static void work_json(struct server_job *job)
{
    job->reply = json_incref(job->json);
}

static void work_fail(struct server_job *job)
{
    if (strcmp(job->param[0], "denied") == 0)
        status_fail(&job->status, STATUS_DENIED, "not yours: %s", job->param[0]);
    else if (strcmp(job->param[0], "large") == 0)
        status_fail(&job->status, STATUS_TOO_LARGE, "too big");
    else
        job->status.code = STATUS_UNAVAILABLE; /* no message: the code's reason */
    job->reply = json_object();                /* a failed status wins over a reply */
}

static void work_md5(struct server_job *job)
{
    job->reply = json_pack("{s:i}", "a", 1);
    job->md5_header = 1;
}

static void work_bytes(struct server_job *job)
{
    static const char bytes[] = {'\x1f', '\x8b', '\0', 'z'};
    job->data = malloc(sizeof bytes);
    if (job->data == NULL) {
        status_fail(&job->status, STATUS_UNAVAILABLE, "out of memory");
        return;
    }
    memcpy(job->data, bytes, sizeof bytes);
    job->data_len = sizeof bytes;
    job->content_type = "application/gzip";
    snprintf(job->filename, sizeof job->filename, "stats \"1\".gz");
}

static void work_held(struct server_job *job)
{
    (void)job;
    pthread_mutex_lock(&F.lock);
    F.holding = 1;
    pthread_cond_broadcast(&F.cond);
    while (!F.gate_open)
        pthread_cond_wait(&F.cond, &F.lock);
    pthread_mutex_unlock(&F.lock);
}

static int setup(void **state)
{
    (void)state;
    inproc_server_create(&F.srv, "jobs");
    struct server *s = F.srv.server;
    assert_int_equal(server_route_job(s, "PUT", "/echo/:a/:b", work_echo, 0), 0);
    assert_int_equal(server_route_job(s, "POST", "/json", work_json, SERVER_JOB_JSON), 0);
    assert_int_equal(server_route_job(s, "GET", "/fail/:how", work_fail, SERVER_JOB_BULK), 0);
    assert_int_equal(server_route_job(s, "GET", "/md5", work_md5, 0), 0);
    assert_int_equal(server_route_job(s, "GET", "/bytes", work_bytes, 0), 0);
    assert_int_equal(server_route_job_limited(s, "GET", "/held", work_held, 0, &F.limit), 0);
    inproc_server_start(&F.srv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    inproc_server_stop(&F.srv);
    return 0;
}

/* method path on the test server; the reply's JSON (NULL when not JSON). */
static json_t *call(const char *method, const char *path, const char *const headers[], const char *body,
                    struct harness_response *out)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", F.srv.url, path);
    harness_http(method, url, headers, body, body ? strlen(body) : 0, NULL, out);
    return json_loads(out->body ? out->body : "", 0, NULL);
}

static const char *error_of(const json_t *reply)
{
    return json_string_value(json_object_get(reply, "error"));
}

static void test_copies_the_request(void **state)
{
    (void)state;
    struct harness_response res;
    const char *headers[] = {"Authorization: tok", "Content-MD5: abc", NULL};
    json_t *reply = call("PUT", "/echo/one/two%20x", headers, "raw bytes", &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(json_string_value(json_array_get(json_object_get(reply, "params"), 0)), "one");
    assert_string_equal(json_string_value(json_array_get(json_object_get(reply, "params"), 1)), "two x");
    assert_string_equal(json_string_value(json_object_get(reply, "auth")), "tok");
    assert_string_equal(json_string_value(json_object_get(reply, "md5")), "abc");
    assert_string_equal(json_string_value(json_object_get(reply, "body")), "raw bytes");
    assert_true(json_is_null(json_object_get(reply, "query")));
    assert_true(json_is_true(json_object_get(reply, "local")));
    json_decref(reply);
    harness_response_free(&res);

    /* A proxy on the host forwards remote clients from loopback. */
    const char *forwarded[] = {"X-Forwarded-For: 192.0.2.1", NULL};
    reply = call("PUT", "/echo/a/b?period=week&limit=%32", forwarded, "", &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(json_string_value(json_object_get(reply, "query")), "period=week&limit=%32");
    assert_true(json_is_false(json_object_get(reply, "local")));
    assert_true(json_is_null(json_object_get(reply, "auth")));
    json_decref(reply);
    harness_response_free(&res);
}

static void test_json_body(void **state)
{
    (void)state;
    struct harness_response res;
    json_t *reply = call("POST", "/json", NULL, "{\"x\": [1, 2]}", &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(reply, "x"), 1)), 2);
    json_decref(reply);
    harness_response_free(&res);

    reply = call("POST", "/json", NULL, "{\"x\": ", &res);
    assert_int_equal(res.status, 400);
    assert_non_null(strstr(error_of(reply), "malformed JSON body"));
    json_decref(reply);
    harness_response_free(&res);

    reply = call("POST", "/json", NULL, "[1]", &res);
    assert_int_equal(res.status, 400);
    assert_string_equal(error_of(reply), "the body must be a JSON object");
    json_decref(reply);
    harness_response_free(&res);
}

static void test_failed_status(void **state)
{
    (void)state;
    struct harness_response res;
    json_t *reply = call("GET", "/fail/denied", NULL, NULL, &res);
    assert_int_equal(res.status, 401);
    assert_string_equal(error_of(reply), "not yours: denied");
    json_decref(reply);
    harness_response_free(&res);

    reply = call("GET", "/fail/large", NULL, NULL, &res);
    assert_int_equal(res.status, 413);
    assert_string_equal(error_of(reply), "too big");
    json_decref(reply);
    harness_response_free(&res);

    reply = call("GET", "/fail/silent", NULL, NULL, &res);
    assert_int_equal(res.status, 503);
    assert_string_equal(error_of(reply), status_name(STATUS_UNAVAILABLE));
    json_decref(reply);
    harness_response_free(&res);
}

static void test_content_md5(void **state)
{
    (void)state;
    struct harness_response res;
    char header[64], md5[CRYPTO_MD5_HEX_LEN + 1];
    json_t *reply = call("GET", "/md5", NULL, NULL, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(harness_header(&res, "content-md5", header, sizeof header), 0);
    crypto_md5_hex(res.body, res.len, md5);
    assert_string_equal(header, md5);
    json_decref(reply);
    harness_response_free(&res);
}

/* Bytes as an attachment: exactly those bytes (a NUL inside), their type,
 * and the name in an RFC 6266 Content-Disposition. */
static void test_bytes_reply(void **state)
{
    (void)state;
    struct harness_response res;
    char header[128];
    json_decref(call("GET", "/bytes", NULL, NULL, &res));
    assert_int_equal(res.status, 200);
    assert_int_equal(res.len, 4);
    assert_memory_equal(res.body, "\x1f\x8b\0z", 4);
    assert_int_equal(harness_header(&res, "content-type", header, sizeof header), 0);
    assert_string_equal(header, "application/gzip");
    assert_int_equal(harness_header(&res, "content-disposition", header, sizeof header), 0);
    assert_non_null(strstr(header, "attachment; filename=\"stats "));
    assert_non_null(strstr(header, "filename*=UTF-8''stats%20%221%22.gz"));
    harness_response_free(&res);
}

static void *held_client(void *arg)
{
    json_decref(call("GET", "/held", NULL, NULL, arg));
    return NULL;
}

static void test_limit(void **state)
{
    (void)state;
    pthread_t first;
    struct harness_response held, res;
    assert_int_equal(pthread_create(&first, NULL, held_client, &held), 0);
    pthread_mutex_lock(&F.lock);
    while (!F.holding)
        pthread_cond_wait(&F.cond, &F.lock);
    pthread_mutex_unlock(&F.lock);

    /* The one slot is held: the next job is refused at once. */
    json_t *reply = call("GET", "/held", NULL, NULL, &res);
    assert_int_equal(res.status, 503);
    assert_string_equal(error_of(reply), "one at a time");
    json_decref(reply);
    harness_response_free(&res);

    pthread_mutex_lock(&F.lock);
    F.gate_open = 1;
    pthread_cond_broadcast(&F.cond);
    pthread_mutex_unlock(&F.lock);
    pthread_join(first, NULL);
    assert_int_equal(held.status, 200);
    harness_response_free(&held);

    /* The slot is given back before the reply. */
    assert_int_equal(atomic_load(&F.limit.used), 0);
    json_decref(call("GET", "/held", NULL, NULL, &res));
    assert_int_equal(res.status, 200);
    harness_response_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copies_the_request), cmocka_unit_test(test_json_body),
        cmocka_unit_test(test_failed_status),      cmocka_unit_test(test_content_md5),
        cmocka_unit_test(test_bytes_reply),        cmocka_unit_test(test_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
