/* Graceful stop: a download in flight when SIGTERM arrives still completes
 * in full, and the daemon then exits 0. Uses a real CC + SCV because a large
 * download is the natural long-running request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client.h"
#include "cluster.h"
#include "harness.h"

#define BIG_FILE_BYTES (24u << 20)
#define RATE_BYTES_PER_S (8u << 20) /* ~3 s of transfer */

struct download {
    char url[512];
    char auth[300];
    size_t received;
    long status;
    CURLcode rc;
};

static size_t count_bytes(char *ptr, size_t size, size_t n, void *userdata)
{
    (void)ptr;
    ((struct download *)userdata)->received += size * n;
    return size * n;
}

static void *slow_download(void *arg)
{
    struct download *d = arg;
    CURL *c = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, d->auth);
    curl_easy_setopt(c, CURLOPT_URL, d->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, count_bytes);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)RATE_BYTES_PER_S);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    d->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &d->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return NULL;
}

static void test_inflight_download_finishes(void **state)
{
    (void)state;
    struct cluster c;
    struct client_error err;
    cluster_init(&c, 0);
    assert_int_equal(cluster_start_cc(&c, NULL), 0);
    int scv = cluster_add_scv(&c, "s1", "max_body_size = 64M\nshutdown_timeout = 30");
    assert_true(scv >= 0);

    struct client *cc = client_new(c.cc.url, NULL, &err);
    client_set_token(cc, c.admin_token);
    json_t *spec = json_pack("{s:[s]}", "engines", "toy");
    json_t *target = client_target_create(cc, spec, &err);
    assert_non_null(target);
    json_t *files = json_pack("{s:s}", "seed.txt", "seed");
    json_t *stream = client_stream_add(cc, "s1", json_string_value(json_object_get(target, "target_id")),
                                       files, NULL, &err);
    assert_non_null(stream);
    const char *id = json_string_value(json_object_get(stream, "stream_id"));
    char *big = malloc(BIG_FILE_BYTES);
    for (size_t i = 0; i < BIG_FILE_BYTES; i++)
        big[i] = (char)(i * 31);
    assert_int_equal(client_stream_upload(cc, id, "files/big.bin", big, BIG_FILE_BYTES, &err), 0);
    free(big);

    struct download d = {0};
    char *escaped = client_path_escape(id, 0);
    snprintf(d.url, sizeof d.url, "%s/streams/download/%s/files/big.bin", c.scv[scv].url, escaped);
    free(escaped);
    snprintf(d.auth, sizeof d.auth, "Authorization: %s", c.admin_token);
    pthread_t tid;
    pthread_create(&tid, NULL, slow_download, &d);
    sleep(1); /* the download is now well under way */
    assert_int_equal(cluster_stop(&c.scv[scv], SIGTERM), 0);
    pthread_join(tid, NULL);

    assert_int_equal(d.rc, CURLE_OK);
    assert_int_equal(d.status, 200);
    assert_int_equal(d.received, BIG_FILE_BYTES);
    struct harness_response r; /* and it no longer accepts anything */
    harness_http("GET", c.scv[scv].url, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 0);
    harness_response_free(&r);

    json_decref(spec);
    json_decref(target);
    json_decref(files);
    json_decref(stream);
    client_free(cc);
    cluster_stop_all(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inflight_download_finishes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
